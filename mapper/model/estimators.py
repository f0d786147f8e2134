"""The learned parts as scikit-learn estimators: ``get_params``, ``set_params``, ``clone``, search, Pipeline.

Each class here is the plain class of its module with scikit-learn's ``BaseEstimator`` (and
``ClassifierMixin`` where the part is a classifier) in front: same parameters, same ``fit``, same
learned attributes. The plain classes exist because mapping loads a trained model and must not
import scikit-learn (about 0.7 s of start-up); everything that trains uses the classes here.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator, ClassifierMixin

from mapper.encode import tfidf
from mapper.model import attack_text, base_scorers, cooccurrence, families, head, operating_point, ranker, relevance, stacker


class SparseText(BaseEstimator, tfidf.SparseText):
    __doc__ = tfidf.SparseText.__doc__


class LinearHead(BaseEstimator, head.LinearHead):
    __doc__ = head.LinearHead.__doc__


class CaseStudyScorers(BaseEstimator, base_scorers.CaseStudyScorers):
    __doc__ = base_scorers.CaseStudyScorers.__doc__


class CooccurrenceStage(BaseEstimator, cooccurrence.CooccurrenceStage):
    __doc__ = cooccurrence.CooccurrenceStage.__doc__


class Stacker(BaseEstimator, stacker.Stacker):
    __doc__ = stacker.Stacker.__doc__


class OperatingPoint(BaseEstimator, operating_point.OperatingPoint):
    __doc__ = operating_point.OperatingPoint.__doc__


class AIRelevance(ClassifierMixin, BaseEstimator, relevance.AIRelevance):
    __doc__ = relevance.AIRelevance.__doc__


class AttackText(BaseEstimator, attack_text.AttackText):
    __doc__ = attack_text.AttackText.__doc__


class SubtechniqueChain(BaseEstimator, families.SubtechniqueChain):
    __doc__ = families.SubtechniqueChain.__doc__


class TechniqueRanker(BaseEstimator, ranker.TechniqueRanker):
    __doc__ = ranker.TechniqueRanker.__doc__


PARTS = (SparseText, LinearHead, CaseStudyScorers, CooccurrenceStage, Stacker, OperatingPoint, AIRelevance,
         AttackText, SubtechniqueChain, TechniqueRanker)
