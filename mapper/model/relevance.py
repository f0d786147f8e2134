"""Is a write-up about an attack on or through an AI system? Decided apart from which techniques.

Five features per text, and a sixth where the ranker learned one:

- ``cue_share``: the share of its sentences that name an AI artefact (a model, chatbot, agent,
  prompt, training data, plugin, MCP server, RAG, deepfake... see ``AI_CUES``), so a passing
  mention ("the phishing e-mail was probably written with a chatbot") weighs less than a text
  about one;
- ``cue_terms``: how many different cues it uses (log);
- ``own_max`` and ``shared_max``: the ranker's best probability among ATLAS's own techniques, and
  among those it shares with ATT&CK (phishing, valid accounts...);
- ``log_units``: its length in sentences;
- ``attack_text``: the log-odds of :class:`mapper.model.attack_text.AttackText`, a classifier over the
  text's words (out of fold for the training texts).

A logistic regression (balanced classes, its strength chosen by inner cross-validation) learns their
weights from case studies and AI write-ups (positives) and non-AI write-ups and AI incidents without an
adversary (negatives); the cut is the one with the best balanced accuracy on out-of-fold scores. The
cue list is fixed in advance, not learned, so it generalises beyond the words of the training texts.
Without negatives to learn from, the decision falls back to a rule: one of ATLAS's own techniques
reaches the ranker's threshold.
"""

from __future__ import annotations

import re

import numpy as np

from mapper.model.logistic import Logistic, logit
from mapper.model.threshold import best_cut, midpoints

FEATURES = ("cue_share", "cue_terms", "own_max", "shared_max", "log_units", "attack_text")

# Named AI artefacts and AI-specific attack words. The most generic words (model, agent, plugin,
# assistant) count only in AI phrasings, since "business model" and "insurance agent" are not about
# AI. Others can still turn up in ordinary incidents ("DNS cache poisoning", "a dataset of stolen
# cards"): that is why the decision also weighs how many sentences use cues, and the ranker's scores.
AI_CUES = {
    "AI": r"\b(?-i:A\.?I)\b|\bartificial intelligence\b|\bgen(?:erative)?[ -]?AI\b",
    "machine learning": r"\bmachine[- ]learning\b|\b(?-i:ML)\b|\bdeep[- ]learning\b|\bneural (?:net|network)s?\b",
    "language model": r"\bLLMs?\b|\b(?:large )?language models?\b|\bfoundation models?\b|\bSLMs?\b",
    "named model or product": r"\b(?:Chat)?GPT[-\w.]*|\bClaude\b|\bGemini\b|\bCopilot\b|\bLlama\b|\bMistral\b"
                              r"|\bBard\b|\bDALL-?E\b|\bMidjourney\b|\bStable Diffusion\b|\bOpenAI\b|\bAnthropic\b"
                              r"|\bHugging ?Face\b|\bCursor\b|\bDeepSeek\b|\bGrok\b|\bPerplexity\b",
    "model": r"\b(?:AI|ML|the|a|an|trained|open|hosted|vision|image|speech|detection|classification|base|"
             r"fine-tuned|pretrained|pre-trained|proprietary|its|their|our)\s+models?\b|\bmodel (?:weights|file|hub|card|"
             r"registry|output|outputs|endpoint|API|inference|serving|artifacts?)\b",
    "chatbot": r"\bchat ?bots?\b|\b(?:virtual|AI|digital|voice|coding|support|chat) assistants?\b",
    "agent": r"\b(?:AI|coding|autonomous|browser|LLM|software) agents?\b|\bagentic\b",
    "prompt": r"\bprompts?\b|\bprompt(?:ed|ing)\b|\bsystem prompt\b",
    "jailbreak": r"\bjailbr(?:eak|oke|eaking|oken)s?\b",
    "training data": r"\btraining (?:data|set|sets|corpus|pipeline|run)\b|\bdatasets?\b|\bfine[- ]?tun(?:e|ed|ing)\b"
                     r"|\bpre-?train(?:ed|ing)\b|\btrained on\b",
    "classifier": r"\bclassifiers?\b|\bdetection models?\b|\bspam filters?\b|\brecognition (?:model|system)s?\b"
                  r"|\b(?:person|object|face|pedestrian|sign|malware|deepfake|fraud) detectors?\b|\bobject detection\b"
                  r"|\bYOLO\w*|\bResNet\w*|\bBERT\b|\btransformer models?\b",
    "ML tooling": r"\bJupyter\w*|\bMLflow\b|\bTorchServe\b|\bKubeflow\b|\bPyTorch\b|\bTensorFlow\b|\bKeras\b"
                  r"|\bsafetensors\b|\bONNX\b|\bRay (?:cluster|dashboard|Jobs?)\b|\bGPUs?\b|\bmodel weights\b"
                  r"|\bweights\b|\bvibe[- ]cod\w*",
    "retrieval": r"\b(?-i:RAG)\b|\bretrieval[- ]augmented\b|\bvector (?:store|database|db)s?\b|\bembeddings?\b",
    "MCP or plugin": r"\b(?-i:MCP)\b|\bmodel context protocol\b|\b(?:ChatGPT|GPT|AI|LLM|browser) (?:plugins?|extensions?)\b"
                     r"|\btool[- ]call(?:s|ing)?\b|\bfunction calling\b",
    "deepfake": r"\bdeep ?fakes?\b|\bvoice[- ]?clon(?:e|ed|ing)\b|\bcloned voice\b|\bsynthetic (?:voice|media|video|audio|"
                r"identity|identities)\b|\bface[- ]?swap\w*\b|\bAI-generated\b",
    "biometric recognition": r"\bfac(?:e|ial) recognition\b|\bvoice ?print\b|\bvoice (?:authentication|verification|ID)\b"
                             r"|\bliveness\b",
    "adversarial ML": r"\badversarial (?:examples?|inputs?|patch(?:es)?|attacks?|perturbations?|images?|noise|stickers?)\b|\bperturbations?\b"
                      r"|\bmodel (?:inversion|extraction|stealing|poisoning)\b|\bmembership inference\b|\bbackdoor(?:ed)? model",
    "poisoning": r"\bpoison(?:ed|ing|s)?\b",
    "hallucination": r"\bhallucinat\w*\b",
    "autonomy": r"\bautopilot\b|\bself-driving\b|\bautonomous (?:vehicle|car|driving)s?\b|\bcomputer vision\b",
    "inference API": r"\binference (?:API|endpoint|server)s?\b|\bmodel API\b|\bAPI for (?:the )?model\b",
}
# Case matters only for the acronyms, marked (?-i:...) in their patterns.
_CUES = [(name, re.compile(pattern, re.IGNORECASE)) for name, pattern in AI_CUES.items()]


def cues_in(text: str) -> set[str]:
    """The names of the AI cues a piece of text uses."""
    return {name for name, pattern in _CUES if pattern.search(text)}


def relevance_features(unit_cues: list[set[str]], proba: np.ndarray, own: np.ndarray,
                       attack_text: float | None = None) -> np.ndarray:
    """The feature vector (``FEATURES`` order) of a text from the cues of each of its units (:func:`cues_in`),
    its technique probabilities and, where given, the probability its words give (``attack_text``)."""
    distinct = set().union(*unit_cues) if unit_cues else set()
    share = sum(1 for c in unit_cues if c) / max(len(unit_cues), 1)
    own_max = float(proba[own].max()) if own.any() else 0.0
    shared_max = float(proba[~own].max()) if (~own).any() else 0.0
    features = [share, np.log1p(len(distinct)), own_max, shared_max, np.log1p(len(unit_cues))]
    if attack_text is not None:
        features.append(float(logit(float(attack_text))))
    return np.array(features)


def balanced_accuracy(scores: np.ndarray, y: np.ndarray, cut: float) -> float:
    return ((scores >= cut)[y == 1].mean() + (scores < cut)[y == 0].mean()) / 2


class AIRelevance:
    """A binary classifier over text features (:func:`relevance_features`): 1 for a text about an attack on
    or through AI.

    ``Cs``: the regularisation strengths tried; the one with the best out-of-fold log-loss is kept
    (one value: no choice). Learned: ``C_``, ``logistic_``, ``cut_`` (the best balanced accuracy on
    out-of-fold scores, ties: the middle cut), ``oof_score_``, ``classes_``.
    """

    def __init__(self, Cs=(0.01, 0.1, 1.0), inner_folds: int = 5, random_state: int = 0):
        self.Cs = Cs
        self.inner_folds = inner_folds
        self.random_state = random_state

    def _model(self, C: float):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=5000,
                                                                  random_state=self.random_state))

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> "AIRelevance":
        """``X`` (texts, features), ``y`` 1 for AI texts, ``groups`` keep one study's texts in one fold."""
        from sklearn.metrics import log_loss
        from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict

        if not self.Cs or min(self.Cs) <= 0:
            raise ValueError("Cs must hold at least one positive number")
        y = np.asarray(y, dtype=int)
        groups = np.arange(len(y)) if groups is None else groups
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        n_splits = min(self.inner_folds, int(np.bincount(y, minlength=2).min()))
        if n_splits >= 2:
            cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
            oof = {C: cross_val_predict(self._model(C), X, y, groups=groups, cv=cv, method="predict_proba")[:, 1]
                   for C in self.Cs}
            self.C_ = min(self.Cs, key=lambda C: (log_loss(y, oof[C], labels=[0, 1]), C))  # ties: the stronger prior
            model = self._model(self.C_).fit(X, y)
            self.oof_score_ = oof[self.C_]
        else:
            self.C_ = max(self.Cs)
            model = self._model(self.C_).fit(X, y)
            self.oof_score_ = model.predict_proba(X)[:, 1]
        self.logistic_ = Logistic.from_fitted(model)
        self.cut_ = best_cut(midpoints(self.oof_score_), lambda c: balanced_accuracy(self.oof_score_, y, c), ties="middle")
        return self

    def probability(self, x: np.ndarray) -> float:
        """The probability that one text (its feature vector) is about AI."""
        return float(self.logistic_.predict_proba(np.asarray(x, dtype=np.float64)))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = self.logistic_.predict_proba(np.asarray(X, dtype=np.float64))
        return np.column_stack([1 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= self.cut_).astype(int)

    # -- plain-data state ------------------------------------------------------
    def state(self) -> dict:
        return {"Cs": list(self.Cs), "C": self.C_, "inner_folds": self.inner_folds, "random_state": self.random_state,
                "logistic": self.logistic_.state(), "cut": self.cut_}

    @classmethod
    def from_state(cls, meta: dict) -> "AIRelevance":
        obj = cls(tuple(meta["Cs"]), meta["inner_folds"], meta["random_state"])
        obj.C_, obj.logistic_, obj.cut_ = float(meta["C"]), Logistic.from_state(meta["logistic"]), float(meta["cut"])
        obj.classes_, obj.n_features_in_ = np.array([0, 1]), len(obj.logistic_.coef)
        return obj
