"""The identity of a trained ranker: its cache key and its model card.

The key covers everything the trained model depends on (index, parameters, training studies,
our own code), so a cached model built by anything else is never reused.
"""

from __future__ import annotations

import hashlib
import json

from mapper.files import PROJECT_ROOT, code_fingerprint

TRAINING_CODE = ("learn.py", "scorers.py", "rows.py", "stacker.py", "operating.py", "cooccurrence.py", "features.py",
                 "head.py", "text.py", "encoders.py", "bert.py", "sparse.py", "card.py", "relevance.py", "writeups.py")


def model_key(index, kb, params: dict, writeups: str = "") -> str:
    """``writeups``: the digest of the training write-ups (:func:`mapper.writeups.writeups_key`)."""
    payload = {"index": index.key, "params": params, "studies": [c.id for c in kb.case_studies],
               "writeups": writeups, "code": code_fingerprint(*TRAINING_CODE)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def model_card(kb, encoder, index, ranker) -> dict:
    return {
        "atlas": kb.atlas_info(),
        "encoder": {"name": encoder.name, "weights_sha256": encoder.fingerprint},
        "index_key": index.key,
        "ranker": {
            "params": ranker.get_params(), "C": ranker.stacker_.C_, "threshold": ranker.threshold_,
            "ai_relevance": ranker.relevance_kind, "trained_on_case_studies": ranker.n_studies_,
            "trained_on_writeups": ranker.n_writeups_,
            "exemplars": int(len(ranker.scorers_.exemplars_.labels)),
        },
        "cross_validated_metrics": committed_metrics(),
    }


def committed_metrics() -> dict:
    """Cross-validated figures from the last committed evaluation run (a source checkout only), with the
    ATLAS release they were measured on under "atlas", which need not be the release this model uses."""
    path = PROJECT_ROOT / "eval" / "results" / "summary.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def card_markdown(card: dict) -> str:
    return "\n".join(["# atlas-mapper ranker", "", "```json", json.dumps(card, indent=2), "```", ""])
