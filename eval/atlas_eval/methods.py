"""Mapping methods the harness can score, all with the same small interface.

``fit(studies)`` learns from the training case studies only (and returns
self; a method with ``learns_writeups`` gets ``fit(studies, writeups)``); ``rank(queries)`` returns a BEIR run ``{id: {technique: score}}`` with
scores in [0, 1]; ``threshold_`` is the operating point for set metrics, also
chosen on training data only.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mapper.kb import CaseStudy, KnowledgeBase
from mapper.model.estimators import SparseText, TechniqueRanker
from mapper.model.labels import LabelColumns
from mapper.model.ranker import PARAM_CHOICES
from mapper.model.threshold import best_cut
from mapper.pipeline import MIN_SUGGESTIONS
from mapper.text import text_units


@dataclass
class Context:
    """What every method may share: nothing here is learned from case studies."""

    kb: KnowledgeBase
    encoder: object  # CachedEncoder
    index: object  # TechniqueIndex


def _run_from_matrix(ids: list[str], classes: list[str], scores: np.ndarray) -> dict:
    return {qid: {t: float(s) for t, s in zip(classes, row)} for qid, row in zip(ids, scores)}


def _f1_best_cut(run: dict, studies: list[CaseStudy], kb: KnowledgeBase) -> float:
    """The cut with the best micro-F1 of ``run`` on these studies' narratives (ties: the lowest)."""
    gold = {s.id: {kb.resolve_id(t) for t in s.techniques} - {None} for s in studies}

    def micro_f1(cut: float) -> float:
        tp = fp = fn = 0
        for sid, labels in gold.items():
            pred = {t for t, score in run[sid].items() if score >= cut}
            tp += len(labels & pred)
            fp += len(pred - labels)
            fn += len(labels - pred)
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0

    return best_cut(np.linspace(0.02, 0.98, 49), micro_f1)


def _tune_threshold(method, studies: list[CaseStudy], kb: KnowledgeBase) -> float:
    """F1-best cut on training narratives, for methods that learn nothing from them."""
    if not studies:
        return 0.5
    return _f1_best_cut(method.rank({s.id: s.narrative() for s in studies}), studies, kb)


def _tune_threshold_out_of_fold(learn, studies: list[CaseStudy], kb: KnowledgeBase, n_splits: int = 3) -> float:
    """F1-best cut on training narratives, each scored by a model ``learn(other studies)`` that did
    not see it: a cut chosen on the training studies' own in-sample scores would sit too high."""
    if len(studies) < 2:
        return 0.5
    run = {}
    for held in np.array_split(np.arange(len(studies)), min(n_splits, len(studies))):
        held_ids = {studies[i].id for i in held}
        model = learn([s for s in studies if s.id not in held_ids])
        run.update(model.rank({studies[i].id: studies[i].narrative() for i in held}))
    return _f1_best_cut(run, studies, kb)


class Popularity:
    """Techniques ranked by how many training case studies use them; the same for every query."""

    name = "popularity"
    learns = True

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def _learn(self, studies) -> "Popularity":
        counts = {t: 0 for t in self.ctx.index.ids}
        for study in studies:
            for t in {self.ctx.kb.resolve_id(x) for x in study.techniques} - {None}:
                counts[t] += 1
        n = max(len(studies), 1)
        self.scores_ = {t: c / n for t, c in counts.items()}
        return self

    def fit(self, studies):
        self._learn(studies)
        self.threshold_ = _tune_threshold_out_of_fold(lambda train: Popularity(self.ctx)._learn(train), studies,
                                                      self.ctx.kb)
        return self

    def rank(self, queries):
        return {qid: dict(self.scores_) for qid in queries}


class _ZeroShot:
    """Retrieval against technique documents: only the threshold is learned (from training studies)."""

    learns = False

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def fit(self, studies):
        self.threshold_ = _tune_threshold(self, studies, self.ctx.kb)
        return self


class TfidfRetrieval(_ZeroShot):
    """Zero-shot: TF-IDF cosine between the whole query and each technique document."""

    name = "tfidf"

    def rank(self, queries):
        ids = list(queries)
        index = self.ctx.index
        sims = index.sparse.rows([queries[i] for i in ids]).dot(index.doc_terms)
        return _run_from_matrix(ids, index.ids, np.clip(sims, 0, 1))


class DenseRetrieval(_ZeroShot):
    """Zero-shot: best sentence-to-technique-document cosine with the default encoder."""

    name = "dense"

    def rank(self, queries):
        index, out = self.ctx.index, {}
        for qid, text in queries.items():
            units = text_units(text)[0] or [text or "-"]
            sims = self.ctx.encoder.encode(units) @ index.dense.T
            out[qid] = {t: float(max(s, 0.0)) for t, s in zip(index.ids, sims.max(axis=0))}
        return out


class RcattStyle:
    """rcATT-style: TF-IDF features, one linear SVM per technique, trained on the training folds."""

    name = "rcatt"
    learns = True

    def __init__(self, ctx: Context, C: float = 1.0):
        self.ctx = ctx
        self.C = C

    @staticmethod
    def check_params(params: dict) -> None:
        if params.get("C", 1.0) <= 0:
            raise ValueError("C must be positive")

    def _learn(self, studies) -> "RcattStyle":
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.svm import LinearSVC

        kb = self.ctx.kb
        texts, labels = [], []
        for study in studies:
            gold = {kb.resolve_id(t) for t in study.techniques} - {None}
            texts.append(study.narrative())
            labels.append(gold)
            for step in study.steps:
                tid = kb.resolve_id(step.technique)
                if tid:
                    texts.append(step.description)
                    labels.append({tid})
        self.classes_ = sorted({t for ls in labels for t in ls})
        Y = LabelColumns(self.classes_, kb.resolve_id).matrix(labels, dtype=int)
        self.vectorizer_ = SparseText().fit(texts)
        X = self.vectorizer_.transform(texts)
        self.model_ = OneVsRestClassifier(LinearSVC(C=self.C, random_state=0)).fit(X, Y)
        return self

    def fit(self, studies):
        self._learn(studies)
        # tuned like every other method's, on training narratives scored out of fold
        self.threshold_ = _tune_threshold_out_of_fold(lambda train: RcattStyle(self.ctx, self.C)._learn(train),
                                                      studies, self.ctx.kb)
        return self

    def rank(self, queries):
        ids = list(queries)
        margins = self.model_.decision_function(self.vectorizer_.transform([queries[i] for i in ids]))
        margins = np.atleast_2d(margins)
        proba = 1.0 / (1.0 + np.exp(-2.0 * margins))  # monotone squashing; 0 margin -> 0.5
        out = {}
        for qid, row in zip(ids, proba):
            scores = {t: 0.0 for t in self.ctx.index.ids}
            scores.update({t: float(s) for t, s in zip(self.classes_, row)})
            out[qid] = scores
        return out


ABSTAIN = 1.01  # a threshold no probability reaches


class Pipeline:
    """The project's default pipeline (``mapper.model.ranker.TechniqueRanker``), optionally reconfigured.

    Besides the training studies it learns from the training write-ups the runner gives it, unless
    ``writeups=false``; its per-query operating point is the product's: nothing for a write-up judged
    not about AI, else every technique above the threshold topped up to ``MIN_SUGGESTIONS``.
    """

    name = "default"
    learns = True
    learns_writeups = True  # the runner passes fit() the fold's training write-ups

    def __init__(self, ctx: Context, **params):
        self.ctx = ctx
        self.params = params

    @staticmethod
    def check_params(params: dict) -> None:
        TechniqueRanker(**{k: v for k, v in params.items() if k not in OWN_OPTIONS}).check_params()

    def fit(self, studies, writeups=()):
        params = {k: v for k, v in self.params.items() if k not in OWN_OPTIONS}
        saved = self.params.get("model_dir")
        if saved is not None:
            # A model saved by `atlas-mapper train` (models/ranker/<key>): used as it is, nothing is fitted.
            from mapper.errors import ModelError
            from mapper.store import load_artifact

            arrays, meta = load_artifact(Path(saved))
            try:
                self.ranker_ = TechniqueRanker.from_state(meta["ranker"], arrays, self.ctx.index)
            except (KeyError, ValueError) as exc:
                raise ModelError(f"{saved} is not a model for this ATLAS release and encoder ({exc}); "
                                 "train one with 'atlas-mapper train'") from None
        else:
            writeups = list(writeups) if self.params.get("writeups", True) else []
            self.ranker_ = TechniqueRanker(**params).fit(studies, self.ctx.kb, self.ctx.index, self.ctx.encoder, writeups)
        self.threshold_ = self.ranker_.threshold_
        self.ai_related_ = {}
        return self

    def query_thresholds(self, run: dict) -> dict:
        """Per query, the cut that reproduces what ``Mapper.map`` reports by default."""
        out = {}
        for qid, scores in run.items():
            if not self.ai_related_[qid]:
                out[qid] = ABSTAIN
                continue
            ranked = sorted(scores.values(), reverse=True)
            out[qid] = min(self.threshold_, ranked[min(MIN_SUGGESTIONS, len(ranked)) - 1]) if MIN_SUGGESTIONS else self.threshold_
        return out

    def rank(self, queries):
        classes, out = self.ranker_.classes_, {}
        for qid, text in queries.items():
            units = text_units(text)[0] or [text or "-"]
            proba, _ = self.ranker_.score(self.ctx.encoder.encode(units), units)
            out[qid] = {t: float(p) for t, p in zip(classes, proba)}
            self.ai_related_[qid] = self.ranker_.ai_related(units, proba)["decision"]
        return out


# Options of the default method that are not the ranker's: a saved model, and whether to learn from write-ups.
OWN_OPTIONS = {"model_dir": None, "writeups": True}


BUILTIN = {
    "popularity": Popularity,
    "tfidf": TfidfRetrieval,
    "rcatt": RcattStyle,
    "dense": DenseRetrieval,
    "default": Pipeline,
}
DEFAULT_METHODS = ("popularity", "tfidf", "rcatt", "dense", "default")


def method_options(cls) -> dict:
    """Option name -> default value, read from the method's own signature."""
    target = TechniqueRanker.__init__ if cls is Pipeline else cls.__init__
    options = {name: p.default for name, p in inspect.signature(target).parameters.items()
               if name not in ("self", "ctx") and p.kind is p.POSITIONAL_OR_KEYWORD}
    if cls is Pipeline:
        options.update(OWN_OPTIONS)
    return options


_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def _typed(key: str, raw: str, default):
    """``raw`` as the type of ``default``; a tuple option takes values joined by '+'."""
    if isinstance(default, bool):
        if raw.lower() not in _TRUE + _FALSE:
            raise ValueError("expected true or false")
        return raw.lower() in _TRUE
    if isinstance(default, tuple):
        element = default[0] if default else ""
        values = tuple(_typed(key, part, element) for part in raw.split("+") if part)
        allowed = PARAM_CHOICES.get(key)
        bad = [v for v in values if allowed is not None and v not in allowed]
        if bad:
            raise ValueError(f"unknown value(s) {', '.join(map(str, bad))}; choose from {', '.join(allowed)}")
        return values
    try:
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ValueError(f"expected {'an integer' if isinstance(default, int) else 'a number'}") from None
    return raw


def parse_method(spec: str):
    """'default' or 'name:key=value,key=value' (e.g. 'default:ai_gate=false,drop_features=prior+head_vote').

    Options are typed from the method's own signature; unknown keys and bad values are refused.
    """
    from mapper.errors import UsageError

    name, _, rest = spec.partition(":")
    if name not in BUILTIN:
        raise UsageError(f"unknown method {name!r}; choose from {', '.join(BUILTIN)} (optionally name:key=value,...)")
    options = method_options(BUILTIN[name])
    params = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise UsageError(f"method option {item!r} must look like key=value")
        if key not in options:
            known = ", ".join(options) or "none"
            raise UsageError(f"method {name!r} has no option {key!r}; its options: {known}")
        try:
            params[key] = _typed(key, value, options[key])
        except ValueError as exc:
            raise UsageError(f"method option {key}={value!r}: {exc}") from None
    check = getattr(BUILTIN[name], "check_params", None)  # values that type-check but cannot work
    try:
        if check is not None:
            check(params)
    except ValueError as exc:
        raise UsageError(f"method {spec!r}: {exc}") from None
    return spec, BUILTIN[name], params
