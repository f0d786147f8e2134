"""From a write-up to ranked techniques with evidence: the ``Mapper`` facade.

``Mapper.load`` finds ATLAS data, loads the verified encoder, reuses or builds
the technique index and the learned ranker (trained on every case study of
the loaded release and the shipped labelled texts, cached under the cache folder with a model card), and
``Mapper.map`` turns text into a :class:`MappingResult`.
"""

from __future__ import annotations

import hashlib
import warnings as _warnings
from pathlib import Path

import numpy as np

from mapper.encode.encoders import CachedEncoder, get_encoder
from mapper.encode.index import DEFAULT_DOC_FIELDS, TechniqueIndex
from mapper.encode.threads import one_blas_thread
from mapper.errors import InputError, ModelError, UsageError
from mapper.files import atomic_write_text, build_lock, cache_dir
from mapper.kb import KnowledgeBase, load_kb
from mapper.model.card import card_markdown, model_card, model_key
from mapper.model.operating_point import band
from mapper.model.ranker import TechniqueRanker
from mapper.model.writeups import WriteUp, bundled_key, bundled_writeups, writeups_key
from mapper.progress import announce
from mapper.result import Evidence, MappingResult, TechniqueHit, technique_hit
from mapper.store import artifact_key, load_artifact, save_artifact
from mapper.text import MAX_TEXT_CHARS, text_units

DEFAULT_TOP_K = 10
MAX_EVIDENCE = 3  # at most this many sentences back a technique, the strongest first
NEAR_MISSES = 3  # shown when nothing passes, so an analyst sees how close it came
MIN_SUGGESTIONS = 3  # a write-up about AI always gets this many, the weakest flagged as low confidence


def open_index(kb: KnowledgeBase, encoder: CachedEncoder, root: Path | None = None,
               doc_fields=DEFAULT_DOC_FIELDS) -> TechniqueIndex:
    """The cached technique index for this release and encoder (built if needed).

    The encoder's cache is seeded with the index's document vectors, so results never depend on
    whether the index was just built or loaded: an embedding's last float bits depend on its batch.
    """
    root = Path(root) if root else cache_dir()
    name = kb.source.sha256[:16] if kb.source else "unknown"
    if tuple(doc_fields) != DEFAULT_DOC_FIELDS:  # an experiment's index never replaces the production one
        name += "-" + hashlib.sha256(",".join(doc_fields).encode()).hexdigest()[:8]
    index_dir = root / "index" / name
    index = TechniqueIndex.load_or_build(index_dir, kb, encoder, doc_fields)
    encoder.prime(index.documents, index.dense)
    return index


class Mapper:
    """Maps write-ups to ATLAS techniques. Build with :meth:`load` or :meth:`from_parts`."""

    def __init__(self, kb: KnowledgeBase, encoder, index: TechniqueIndex, ranker: TechniqueRanker, card: dict | None = None,
                 key: str | None = None):
        self.kb = kb
        self.encoder = encoder
        self.index = index
        self.ranker = ranker
        self.card = card or {}
        self.key = key  # the trained model's cache key (mapper.model.card.model_key)

    # -- construction -----------------------------------------------------------
    @classmethod
    def load(cls, atlas: str | Path | None = None, model: str | None = None, release: str | None = None,
             cache: str | Path | None = None, download: bool = True, ranker_params: dict | None = None,
             doc_fields=DEFAULT_DOC_FIELDS, retrain: bool = False, writeups: list[WriteUp] | None = None) -> "Mapper":
        root = Path(cache) if cache else cache_dir()
        encoder = CachedEncoder(get_encoder(model, cache=root))
        encoder.preload()  # overlaps with loading ATLAS, the index and the model below
        kb = load_kb(atlas, release=release, download=download)
        for message in kb.warnings:
            _warnings.warn(message, stacklevel=2)
        index = open_index(kb, encoder, root, doc_fields)
        return cls.from_parts(kb, encoder, index, root, ranker_params, retrain, writeups)

    @classmethod
    def from_parts(cls, kb, encoder, index, root: Path, ranker_params: dict | None = None, retrain: bool = False,
                   writeups: list[WriteUp] | None = None, train: bool = True) -> "Mapper":
        """``writeups``: labelled write-ups to learn from beside the case studies (default: those that ship
        with the package, :func:`mapper.model.writeups.bundled_writeups`). ``train=False`` only loads a model
        already in the cache, without waiting for anyone building it: a :class:`ModelError` if there is none."""
        shipped = writeups is None
        writeups = None if shipped else list(writeups)
        params = TechniqueRanker(**(ranker_params or {})).params()
        digest = bundled_key() if writeups is None else writeups_key(writeups)
        key = model_key(index, kb, params, digest)
        model_dir = Path(root) / "ranker" / key[:16]
        if not train:  # the manifest is written last, so a model being built is never read half-written
            if artifact_key(model_dir) != key:
                raise ModelError(f"no trained model {key[:16]} in the cache {root}")
            return cls._saved(kb, encoder, index, model_dir, key)
        with build_lock(model_dir):  # concurrent first runs train once
            if not retrain and artifact_key(model_dir) == key:
                try:
                    return cls._saved(kb, encoder, index, model_dir, key)
                except (ModelError, ValueError, KeyError) as exc:
                    _warnings.warn(f"retraining the ranker: {exc}", stacklevel=2)
            writeups = bundled_writeups() if writeups is None else writeups  # parsed only to train
            announce(f"training the ranker on {len(kb.case_studies)} case studies and {len(writeups)} write-ups "
                     "(first run only; a few minutes on 2 cores)")
            from mapper.model import estimators  # scikit-learn: only when training

            ranker = estimators.TechniqueRanker(**(ranker_params or {})).fit(kb.case_studies, kb, index, encoder,
                                                                              writeups)
            card = model_card(kb, encoder, index, ranker, digest, shipped=shipped)
            state_meta, arrays = ranker.state()
            try:
                save_artifact(model_dir, arrays, {"key": key, "ranker": state_meta, "card": card})
                atomic_write_text(model_dir / "MODEL_CARD.md", card_markdown(card))
            except Exception as exc:
                _warnings.warn(f"could not save the trained ranker ({exc}); it will be retrained next time", stacklevel=2)
            return cls(kb, encoder, index, ranker, card, key)

    @classmethod
    def _saved(cls, kb, encoder, index, model_dir: Path, key: str) -> "Mapper":
        """The model saved in ``model_dir`` (verified by its manifest)."""
        arrays, meta = load_artifact(model_dir)
        return cls(kb, encoder, index, TechniqueRanker.from_state(meta["ranker"], arrays, index), meta["card"], key)

    # -- mapping -----------------------------------------------------------------
    @property
    def model_info(self) -> dict:
        return {
            "encoder": self.encoder.name,
            "ranker": "learned" if self.ranker.learned else "zero-shot",
            "threshold": self.threshold,
            "ai_relevance": self.ranker.relevance_kind,
        }

    @property
    def threshold(self) -> float:
        """The model's operating threshold as it is printed and applied: its tuned value to 4 decimals."""
        return round(float(self.ranker.threshold_), 4)

    def score_text(self, text: str):
        """(probabilities per technique in index order, unit texts, unit spans, unit vectors, per-unit scores)."""
        units, spans = text_units(text)
        if not units:
            return np.zeros(len(self.index.ids)), [], [], None, None
        vectors = self.encoder.encode(units)
        # small products on one BLAS thread: OpenBLAS's idle threads would otherwise keep spinning into the next
        # encode (a warm 350-word map measured 66 ms with this, 80-103 ms without)
        with one_blas_thread():
            proba, per_unit = self.ranker.score(vectors, units)
        return proba, units, spans, vectors, per_unit

    def map(self, text: str, top_k: int = DEFAULT_TOP_K, threshold: float | None = None,
            max_chars: int = MAX_TEXT_CHARS, platform: str | None = None,
            min_suggestions: int = MIN_SUGGESTIONS) -> MappingResult:
        """Ranked techniques with evidence and confidence bands.

        A write-up judged not about AI gets none, with the reason. One about AI gets every technique
        at or above the threshold (up to ``top_k``), topped up with the best ones below it (band
        ``low``) to ``min_suggestions``. ``platform`` keeps only techniques ATLAS lists for it.
        """
        if not isinstance(text, str):
            raise InputError("text must be a string")
        if len(text) > max_chars:
            raise InputError(f"text has {len(text):,} characters, over the limit of {max_chars:,}; "
                             "split the write-up or raise the limit with --max-chars")
        if top_k < 1:
            raise UsageError("--top-k must be at least 1")
        if min_suggestions < 0:
            raise UsageError("--min-suggestions must be 0 or more")
        cut = self.threshold if threshold is None else float(threshold)
        if not 0.0 <= cut <= 1.0:
            raise UsageError("--threshold must be between 0 and 1")
        allowed = set(self.kb.on_platform(platform)) if platform else None
        platform = self.kb.platform_name(platform) if platform else None
        proba, units, spans, vectors, per_unit = self.score_text(text)
        ai_related = self.ranker.ai_related(units, proba, cut)
        # stable order: score descending, then technique ID
        order = sorted(range(len(proba)), key=lambda i: (-round(float(proba[i]), 6), self.index.ids[i]))
        shown = [i for i in order if allowed is None or self.index.ids[i] in allowed]
        chosen = []
        if ai_related["decision"]:
            chosen = [i for i in shown if proba[i] >= cut][:top_k]
            chosen += [i for i in shown if i not in chosen][:max(min(top_k, min_suggestions) - len(chosen), 0)]
        hits = []
        if chosen:
            with one_blas_thread():
                unit_scores = (self.ranker.unit_scores(per_unit, vectors, chosen) if units
                               else np.zeros((0, len(chosen)), dtype=np.float32))
            for j, col in enumerate(chosen):
                hits.append(self._hit(col, float(proba[col]), spans, unit_scores[:, j], band(float(proba[col]), cut)))
        result = MappingResult(self.kb.atlas_info(), self.model_info, hits, cut, top_k, platform=platform,
                               ai_related=ai_related)
        if not result.recognised:
            result.reason = self._why_nothing(bool(units), ai_related, platform, len(hits))
            if not hits and units:
                result.near_misses = [self._hit(i, float(proba[i]), [], np.zeros(0)) for i in shown[:NEAR_MISSES]]
        return result

    @staticmethod
    def _why_nothing(has_text: bool, ai_related: dict, platform: str | None, suggestions: int) -> str:
        if not has_text:
            return "no text to map"
        if not ai_related["decision"]:
            return f"not about an AI system ({ai_related['why']})"
        where = f"no {platform} technique" if platform else "no technique"
        if suggestions:
            return f"{where} above the threshold; the best {suggestions} are listed as low-confidence suggestions"
        return f"{where} above the threshold"

    def prefetch(self, texts: list[str], max_chars: int = MAX_TEXT_CHARS) -> None:
        """Encode the sentences of several write-ups in one pass, ahead of mapping them one by one:
        several times faster for short texts (bigger matrix products, each distinct sentence once)."""
        self.encoder.encode([u for text in texts if len(text) <= max_chars for u in text_units(text)[0]])

    def _hit(self, col: int, score: float, spans, unit_scores: np.ndarray, band_name: str | None = None) -> TechniqueHit:
        cited = cited_units(unit_scores, self.threshold)
        evidence = [Evidence(spans[i].text, spans[i].start, spans[i].end, round(float(unit_scores[i]), 4)) for i in cited]
        return technique_hit(self.kb, self.index.ids[col], round(score, 4), evidence, band_name)


def cited_units(unit_scores: np.ndarray, cut: float, limit: int = MAX_EVIDENCE) -> list[int]:
    """The sentences that back a technique: those that would list it on their own.

    ``unit_scores``: the technique's probability given each sentence alone (calibrated like the whole text's);
    ``cut``: the model's operating threshold, the probability at which the model lists a technique. Sentences at
    or above it are cited, strongest first (at most ``limit``); when none is, the single strongest sentence is,
    since a listed technique always needs a place in the text to look at.
    """
    order = strongest_first(unit_scores)
    return [i for i in order if unit_scores[i] >= cut][:limit] or order[:1]


def strongest_first(unit_scores: np.ndarray) -> list[int]:
    """Sentence indices by score, highest first (ties: the earlier sentence)."""
    return sorted(range(len(unit_scores)), key=lambda i: (-float(unit_scores[i]), i))
