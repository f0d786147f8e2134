"""The technique ranker: the learned parts composed, fitted on training case studies only.

1. :class:`~mapper.model.base_scorers.CaseStudyScorers`: exemplars, popularity prior and linear heads;
2. :func:`~mapper.model.rows.build_rows`: ``X, y, groups`` from the training studies and AI write-ups,
   each one's own evidence masked;
3. :class:`~mapper.model.stacker.Stacker`: first stage and co-occurrence stage, the second fitted on
   out-of-fold first-stage outputs;
4. :class:`~mapper.model.families.SubtechniqueChain`: a sub-technique's probability as its family's times
   that of this sub-technique given the family, learned on the stacker's out-of-fold output;
   :class:`~mapper.model.operating_point.OperatingPoint`: the threshold, chosen on out-of-fold scores;
5. :class:`~mapper.model.relevance.AIRelevance`: is a text about AI at all, learned from the studies and
   AI write-ups (their out-of-fold scores) against the non-AI write-ups, with the score of
   :class:`~mapper.model.attack_text.AttackText` (what the text's words say) among its features.

Training write-ups (:mod:`mapper.model.writeups`) are optional; nothing is tuned on held-out text.
``__init__`` stores parameters, ``fit`` returns self, learned attributes end in ``_``, ``classes_`` is
the column order. The class is plain, since what ``map`` loads must not import scikit-learn;
:mod:`mapper.model.estimators` gives it scikit-learn's ``BaseEstimator``, and training uses that one.
"""

from __future__ import annotations

import inspect

import numpy as np

from mapper.encode.index import TechniqueIndex
from mapper.kb import CaseStudy, KnowledgeBase
from mapper.model.base_scorers import CaseStudyScorers
from mapper.model.features import FEATURE_NAMES
from mapper.model.labels import LabelColumns
from mapper.model.operating_point import OperatingPoint
from mapper.model.attack_text import AttackText
from mapper.model.families import SubtechniqueChain
from mapper.model.relevance import AIRelevance, cues_in, relevance_features
from mapper.model.rows import KINDS, build_rows, training_queries
from mapper.model.stacker import Stacker
from mapper.model.writeups import WriteUp
from mapper.text import text_units

# Kinds of training query that look like what users paste (steps alone are too short).
WRITTEN = ("narrative", "summary", "writeup")

# Values a parameter may take, where not every value of its type makes sense.
PARAM_CHOICES = {"training_kinds": KINDS, "drop_features": FEATURE_NAMES}


class TechniqueRanker:
    """Scores every technique of the index for a text; probabilities in [0, 1]."""

    def __init__(self, C_grid=(0.3, 3.0), inner_folds: int = 3, head_C: float = 0.5, training_kinds=KINDS,
                 drop_features=(), coverage: float = 0.9, ai_gate: bool = True, cooccurrence: bool = True,
                 writeup_weight: float = 1.0, rejected_weight: float = 3.0, relevance_text: bool = True,
                 subtechnique_chain: bool = True, random_state: int = 0):
        self.C_grid = C_grid
        self.inner_folds = inner_folds
        self.head_C = head_C
        self.training_kinds = training_kinds
        self.drop_features = drop_features
        self.coverage = coverage
        self.ai_gate = ai_gate
        self.cooccurrence = cooccurrence
        self.writeup_weight = writeup_weight
        self.rejected_weight = rejected_weight
        self.relevance_text = relevance_text  # the AI-relevance decision also reads the text's words (AttackText)
        self.subtechnique_chain = subtechnique_chain  # sub-techniques scored by the chain rule (SubtechniqueChain)
        self.random_state = random_state

    def check_params(self) -> "TechniqueRanker":
        """Raise ValueError naming the first parameter that cannot work (called by ``fit``)."""
        for name, allowed in PARAM_CHOICES.items():
            bad = [v for v in getattr(self, name) if v not in allowed]
            if bad:
                raise ValueError(f"{name} has unknown value(s) {bad}; choose from {', '.join(allowed)}")
        problems = {
            "C_grid must hold at least one positive number": not self.C_grid or min(self.C_grid) <= 0,
            "training_kinds must name at least one kind": not self.training_kinds,
            "inner_folds must be at least 2": self.inner_folds < 2,
            "head_C must be positive": self.head_C <= 0,
            "coverage must be in (0, 1]": not 0.0 < self.coverage <= 1.0,
            "writeup_weight must be positive": self.writeup_weight <= 0,
            "rejected_weight must be positive": self.rejected_weight <= 0,
        }
        for message, broken in problems.items():
            if broken:
                raise ValueError(message)
        return self

    def fit(self, studies: list[CaseStudy], kb: KnowledgeBase, index: TechniqueIndex, encoder,
            writeups: list[WriteUp] = ()) -> "TechniqueRanker":
        self.check_params()
        self.classes_ = list(index.ids)
        self.n_features_in_ = len(FEATURE_NAMES)
        self.feature_names_in_ = np.array(FEATURE_NAMES)
        self.n_studies_ = len(studies)
        # an AI write-up none of whose labels this release can name would only teach "nothing here"
        labels = LabelColumns(self.classes_, kb.resolve_id)
        ai_writeups = [w for w in writeups if labels.columns(w.techniques)]
        self.n_writeups_ = len(writeups)
        self.own_ = np.array([kb.ai_specific(t) for t in self.classes_], dtype=bool)
        self.scorers_ = CaseStudyScorers(self.head_C, self.inner_folds).fit(studies, kb, index, encoder, ai_writeups)
        queries = training_queries(studies, self.training_kinds, ai_writeups)
        rows = build_rows(queries, self.scorers_, encoder, kb)
        self.relevance_ = self.attack_text_ = self.chain_ = None
        if rows.y.size == 0 or rows.y.min() == rows.y.max():
            self.stacker_ = Stacker.zero_shot()
            self.operating_point_ = OperatingPoint.fixed(0.5)
            return self
        self.stacker_ = Stacker(self.C_grid, self.inner_folds, self.cooccurrence, self.drop_features,
                                self.random_state).fit(rows, self.scorers_.study_counts_,
                                                       self._row_weights(rows))
        oof_proba = self.stacker_.oof_proba_
        if self.subtechnique_chain:
            self.chain_ = SubtechniqueChain(random_state=self.random_state).fit(oof_proba, rows.y,
                                                                              self.scorers_.hierarchy_)
            oof_proba = self.chain_.transform(oof_proba)
        written = np.isin(rows.kinds, WRITTEN)
        self.operating_point_ = OperatingPoint(self.coverage).fit(oof_proba[written], rows.y[written].astype(bool))
        others = [w for w in writeups if not w.ai]
        if self.ai_gate and others and written.any():  # both sides are needed to learn the decision
            self.relevance_ = self._fit_relevance([q for q, keep in zip(queries, written) if keep],
                                                  oof_proba[written], others, encoder)
        return self

    def _row_weights(self, rows) -> np.ndarray:
        """Per query and technique: write-up rows weigh ``writeup_weight``, and a technique a reviewer
        rejected on that write-up (a confirmed negative, not just an unlabelled one) ``rejected_weight`` times more."""
        weight = np.where(rows.kinds == "writeup", self.writeup_weight, 1.0)[:, None] * np.ones(rows.y.shape)
        return np.where(rows.rejected, weight * self.rejected_weight, weight)

    def _fit_relevance(self, queries, oof_proba: np.ndarray, others: list[WriteUp], encoder) -> AIRelevance:
        """AI texts scored out of fold (as unseen text would be) against the non-AI write-ups."""
        units = [q.units for q in queries] + [text_units(w.text)[0] or ["-"] for w in others]
        proba = list(oof_proba) + [self.score(encoder.encode(u), u)[0] for u in units[len(queries):]]
        groups = np.r_[[q.group for q in queries], -1 - np.arange(len(others))]
        y = np.r_[np.ones(len(queries)), np.zeros(len(others))]
        words = [None] * len(units)
        if self.relevance_text:
            self.attack_text_ = AttackText(random_state=self.random_state).fit([" ".join(u) for u in units], y, groups)
            words = self.attack_text_.oof_score_
        X = [relevance_features([cues_in(t) for t in u], p, self.own_, w) for u, p, w in zip(units, proba, words)]
        return AIRelevance(random_state=self.random_state).fit(np.array(X), y, groups)

    # -- what the rest of the package reads ------------------------------------
    @property
    def threshold_(self) -> float:
        return self.operating_point_.threshold_

    @property
    def learned(self) -> bool:
        """False for the zero-shot fallback (nothing to learn from)."""
        return self.stacker_.C_ is not None

    @property
    def relevance_kind(self) -> str:
        if not self.ai_gate:
            return "off"
        return "learned" if self.relevance_ is not None else "rule"

    def ai_related(self, units: list[str], proba: np.ndarray, threshold: float | None = None) -> dict:
        """``{"decision", "score", "why"}``: is this text about an attack on or through an AI system?

        Learned (:mod:`mapper.model.relevance`) when the ranker had non-AI write-ups to learn from; else the
        rule that one of ATLAS's own techniques reaches the threshold; always true with ``ai_gate`` off.
        """
        if not units:
            return {"decision": False, "score": 0.0, "why": "no text to map"}
        if not self.ai_gate:
            return {"decision": True, "score": 1.0, "why": "the AI-relevance decision is off"}
        cut = self.threshold_ if threshold is None else threshold
        own_max = float(proba[self.own_].max()) if self.own_.any() else 0.0
        unit_cues = [cues_in(u) for u in units]  # once: they feed both the decision and its explanation
        if self.relevance_ is None:
            score, decision = own_max, own_max >= cut
        else:
            words = self.attack_text_.score([" ".join(units)])[0] if self.attack_text_ is not None else None
            score = self.relevance_.probability(relevance_features(unit_cues, proba, self.own_, words))
            decision = score >= self.relevance_.cut_
        cues = sorted(set().union(*unit_cues))
        named = f"AI terms: {', '.join(cues)}" if cues else "no AI terms"
        why = f"{named}; best ATLAS-specific technique score {own_max:.2f}"
        return {"decision": bool(decision), "score": round(float(score), 4), "why": why}

    # -- scoring -------------------------------------------------------------
    def score(self, unit_vectors: np.ndarray, unit_texts: list[str]):
        """(probability per class, per-unit score matrices)."""
        feats, per_unit = self.scorers_.features(unit_vectors, unit_texts)
        return self._proba(feats), per_unit

    def _proba(self, feats: np.ndarray) -> np.ndarray:
        proba = self.stacker_.predict_proba(feats)
        return self.chain_.transform(proba) if self.chain_ is not None else proba

    def unit_scores(self, per_unit: dict[str, np.ndarray], unit_vectors: np.ndarray, columns: list[int]) -> np.ndarray:
        """Probability of each chosen technique if each unit stood alone: (n_units, len(columns)).

        Reuses the per-unit scores of :meth:`score`, so evidence costs one more pooling pass, not
        one more scoring pass per sentence.
        """
        feats = self.scorers_.unit_features(per_unit, unit_vectors)
        return self._proba(feats)[:, columns].astype(np.float32)

    # -- plain-data state ------------------------------------------------------
    def params(self) -> dict:
        """The parameters ``__init__`` took (scikit-learn's ``get_params(deep=False)``, without importing it)."""
        return {name: getattr(self, name) for name in inspect.signature(type(self).__init__).parameters if name != "self"}

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        scorers_meta, scorer_arrays = self.scorers_.state()
        stacker_meta, stacker_arrays = self.stacker_.state()
        op = self.operating_point_
        meta = {
            "params": self.params(), "classes": self.classes_, "n_studies": self.n_studies_,
            "n_writeups": self.n_writeups_, "feature_names": list(FEATURE_NAMES), "scorers": scorers_meta,
            "stacker": stacker_meta, "operating_point": {"threshold": op.threshold_, "coverage": op.coverage},
            "ai_specific": [t for t, a in zip(self.classes_, self.own_) if a],
            "relevance": None if self.relevance_ is None else self.relevance_.state(),
            "attack_text": None, "chain": None if self.chain_ is None else self.chain_.state(),
        }
        arrays = {**scorer_arrays, **{f"stack_{k}": v for k, v in stacker_arrays.items()}}
        if self.attack_text_ is not None:
            meta["attack_text"], text_arrays = self.attack_text_.state()
            arrays.update({f"attack_text_{k}": v for k, v in text_arrays.items()})
        return meta, arrays

    @staticmethod
    def params_from_json(params: dict) -> dict:
        """Parameters as :meth:`params` gave them, back from JSON (which turned their tuples into lists)."""
        return {k: tuple(v) if k in ("C_grid", "training_kinds", "drop_features") else v for k, v in params.items()}

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray], index: TechniqueIndex) -> "TechniqueRanker":
        params = cls.params_from_json(meta["params"])
        obj = cls(**params)
        if list(meta["feature_names"]) != list(FEATURE_NAMES):
            raise ValueError("model was trained with different features; retrain it")
        obj.classes_ = list(meta["classes"])
        if obj.classes_ != list(index.ids):
            raise ValueError("model and technique index disagree on techniques; retrain it")
        obj.n_features_in_ = len(FEATURE_NAMES)
        obj.feature_names_in_ = np.array(FEATURE_NAMES)
        obj.n_studies_, obj.n_writeups_ = meta["n_studies"], meta["n_writeups"]
        obj.own_ = np.isin(obj.classes_, meta["ai_specific"])
        obj.relevance_ = AIRelevance.from_state(meta["relevance"]) if meta["relevance"] else None
        text_arrays = {k[len("attack_text_"):]: v for k, v in arrays.items() if k.startswith("attack_text_")}
        obj.chain_ = SubtechniqueChain.from_state(meta["chain"]) if meta.get("chain") else None
        obj.attack_text_ = AttackText.from_state(meta["attack_text"], text_arrays) if meta.get("attack_text") else None
        obj.scorers_ = CaseStudyScorers.from_state(meta["scorers"], arrays, index)
        stacker_arrays = {k[len("stack_"):]: v for k, v in arrays.items() if k.startswith("stack_")}
        obj.stacker_ = Stacker(params["C_grid"], params["inner_folds"], params["cooccurrence"],
                               params["drop_features"]).restore(meta["stacker"], stacker_arrays)
        obj.operating_point_ = OperatingPoint(meta["operating_point"]["coverage"])
        obj.operating_point_.threshold_ = float(meta["operating_point"]["threshold"])
        return obj
