"""The technique index: one document per technique, embedded and TF-IDF weighted.

A technique document is its name, cleaned description and tactic names; a
sub-technique also carries its parent's name. Optional extra fields
(mitigation text) are a configuration choice recorded in the manifest.
"""

from __future__ import annotations

import hashlib
import json
import warnings as _warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mapper import __version__
from mapper.encode.tfidf import SparseText
from mapper.errors import ModelError
from mapper.files import build_lock, code_fingerprint
from mapper.kb import KnowledgeBase, Technique
from mapper.progress import announce
from mapper.store import artifact_key, load_artifact, save_artifact

DEFAULT_DOC_FIELDS = ("name", "description", "tactics", "parent")
DOC_FIELDS = (*DEFAULT_DOC_FIELDS, "mitigations")  # every field a technique document can have


def technique_document(kb: KnowledgeBase, tech: Technique, fields=DEFAULT_DOC_FIELDS) -> str:
    tactic_names = [kb.tactic_by_id[t].name for t in tech.tactics if t in kb.tactic_by_id]
    parts = []
    if "name" in fields:
        name = tech.name
        if "parent" in fields and tech.parent and tech.parent in kb.techniques:
            name = f"{kb.techniques[tech.parent].name}: {tech.name}"
        parts.append(name + ".")
    if "description" in fields:
        parts.append(tech.description)
    if "tactics" in fields and tactic_names:
        parts.append("Tactics: " + ", ".join(tactic_names) + ".")
    if "mitigations" in fields:
        uses = [use for _, use in kb.mitigations_for(tech.id) if use]
        if uses:
            parts.append(" ".join(uses[:5]))
    return "\n".join(p for p in parts if p)


def library_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:  # read from metadata: importing scikit-learn just for its version costs 0.7 s
        sklearn_version = version("scikit-learn")
    except PackageNotFoundError:
        sklearn_version = "missing"
    return {"atlas-mapper": __version__, "numpy": np.__version__, "scikit-learn": sklearn_version}


def index_key(kb: KnowledgeBase, encoder_fingerprint: str, fields) -> str:
    payload = {
        "atlas_sha256": kb.source.sha256 if kb.source else kb.version,
        "encoder": encoder_fingerprint,
        "fields": list(fields),
        "versions": library_versions(),
        # the parsers too: a parsing fix changes documents and training data without changing the file's sha256
        "code": code_fingerprint("encode/index.py", "encode/tfidf.py", "encode/encoders.py", "encode/bert.py", "text.py",
                                 "kb/legacy.py", "kb/v6.py", "kb/load.py", "kb/fields.py", "kb/links.py"),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass
class TechniqueIndex:
    ids: list[str]
    documents: list[str]
    dense: np.ndarray  # (n_techniques, dim), L2-normalised
    sparse: SparseText
    encoder_name: str
    key: str

    def __post_init__(self):
        # the documents' TF-IDF as dense (terms, techniques) columns: a sentence's few terms pick rows of it
        self.doc_terms = self.sparse.rows(self.documents).dense_columns()

    @classmethod
    def build(cls, kb: KnowledgeBase, encoder, fields=DEFAULT_DOC_FIELDS) -> "TechniqueIndex":
        ids = sorted(kb.techniques)
        docs = [technique_document(kb, kb.techniques[t], fields) for t in ids]
        dense = encoder.encode(docs)
        sparse = SparseText().fit(docs)
        return cls(ids, docs, dense, sparse, encoder.name, index_key(kb, encoder.fingerprint, fields))

    def save(self, directory: Path) -> None:
        sparse_meta, sparse_arrays = self.sparse.state()
        meta = {
            "key": self.key, "ids": self.ids, "documents": self.documents,
            "encoder": self.encoder_name, "sparse": sparse_meta, "versions": library_versions(),
        }
        save_artifact(directory, {"dense": self.dense, **{f"sparse_{k}": v for k, v in sparse_arrays.items()}}, meta)

    @classmethod
    def load(cls, directory: Path) -> "TechniqueIndex":
        arrays, meta = load_artifact(directory)
        sparse = SparseText.from_state(meta["sparse"], {"idf": arrays["sparse_idf"]})
        return cls(meta["ids"], meta["documents"], arrays["dense"], sparse, meta["encoder"], meta["key"])

    @classmethod
    def load_or_build(cls, directory: Path, kb: KnowledgeBase, encoder, fields=DEFAULT_DOC_FIELDS) -> "TechniqueIndex":
        """Reuse the cached index when its key matches; rebuild (and say why) otherwise."""
        key = index_key(kb, encoder.fingerprint, fields)
        with build_lock(directory):  # a second process waits, then reuses what the first built
            if artifact_key(directory) == key:
                try:
                    return cls.load(directory)
                except (ModelError, ValueError, KeyError) as exc:
                    _warnings.warn(f"rebuilding the technique index: {exc}", stacklevel=2)
            announce(f"building the technique index for ATLAS {kb.release_tag or kb.version} (first run only)")
            index = cls.build(kb, encoder, fields)
            try:
                index.save(directory)
            except Exception as exc:  # a read-only cache still lets the user map
                _warnings.warn(f"could not save the technique index ({exc}); it will be rebuilt next time", stacklevel=2)
            return index
