"""The identity of a trained ranker: its cache key and its model card.

The key covers everything the trained model depends on (index, parameters, training studies,
our own code), so a cached model built by anything else is never reused.
"""

from __future__ import annotations

import hashlib
import json

from mapper.files import code_fingerprint
from mapper.model import corpus

TRAINING_CODE = ("model/ranker.py", "model/base_scorers.py", "model/rows.py", "model/stacker.py",
                 "model/operating_point.py", "model/cooccurrence.py", "model/features.py", "model/head.py",
                 "model/logistic.py", "model/threshold.py", "model/labels.py", "model/relevance.py",
                 "model/card.py", "model/writeups.py", "model/corpus.py", "model/attack_text.py",
                 "model/families.py", "text.py", "encode/encoders.py", "encode/bert.py", "encode/tfidf.py")


def model_key(index, kb, params: dict, writeups: str = "") -> str:
    """``writeups``: the digest of the training write-ups (:func:`mapper.model.writeups.writeups_key`)."""
    payload = {"index": index.key, "params": params, "studies": [c.id for c in kb.case_studies],
               "writeups": writeups, "code": code_fingerprint(*TRAINING_CODE)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def model_card(kb, encoder, index, ranker, writeups: str = "", shipped: bool = False) -> dict:
    """What this model is and what it learned from (``shipped``: the write-ups that ship with the package, the
    labelled corpus among them). It carries no accuracy figures: nothing measures this exact model (its key); the
    harness's cross-validated figures describe the method, each fold a different model."""
    card = {
        "atlas": kb.atlas_info(),
        "encoder": {"name": encoder.name, "weights_sha256": encoder.fingerprint},
        "index_key": index.key,
        "ranker": {
            "params": ranker.params(), "C": ranker.stacker_.C_, "threshold": ranker.threshold_,
            "ai_relevance": ranker.relevance_kind, "exemplars": int(len(ranker.scorers_.exemplars_.labels)),
        },
        "trained_on": {
            "case_studies": ranker.n_studies_, "case_study_ids": [c.id for c in kb.case_studies],
            "writeups": ranker.n_writeups_, "writeups_sha256": writeups,
        },
    }
    if shipped:
        card["trained_on"]["writeups_are"] = (
            "our write-ups (data/eval, data/labelling/own) and the training split of real reports from "
            f"{corpus.PACKAGE} {corpus.VERSION} (CC BY 4.0; AIAAIC-derived rows CC BY-SA 4.0), labelled by us "
            "(data/labelling)")
    return card


def card_markdown(card: dict) -> str:
    return "\n".join(["# atlas-mapper ranker", "", "No accuracy figures are recorded for this exact model; see the",
                      "project's evaluation harness for cross-validated figures of the method.", "", "```json",
                      json.dumps(card, indent=2), "```", ""])
