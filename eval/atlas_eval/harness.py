"""Glue between the command line and the runner: load data, build the shared context, evaluate."""

from __future__ import annotations

from pathlib import Path

from atlas_eval.datasets import TASKS, case_study_task, corpus_task, load_labelled_file
from atlas_eval.methods import DEFAULT_METHODS, Context
from atlas_eval.runner import PROTOCOLS, evaluate
from mapper.encode.encoders import CachedEncoder, get_encoder
from mapper.encode.index import DEFAULT_DOC_FIELDS, DOC_FIELDS
from mapper.errors import UsageError
from mapper.kb import load_kb
from mapper.kb.releases import release_for_tag
from mapper.model.corpus import excluded_records, overlap_items
from mapper.model.writeups import benchmark_writeups, bundled_writeups
from mapper.pipeline import open_index


def parse_doc_fields(spec: str | None) -> tuple[str, ...]:
    """'name,description,...' -> the technique document fields to use (default: DEFAULT_DOC_FIELDS)."""
    if not spec:
        return DEFAULT_DOC_FIELDS
    fields = tuple(f.strip() for f in spec.split(",") if f.strip())
    unknown = [f for f in fields if f not in DOC_FIELDS]
    if unknown or not fields:
        raise UsageError(f"unknown document field(s) {unknown or spec!r}; choose from {', '.join(DOC_FIELDS)}")
    return fields


def build_context(atlas=None, release=None, model=None, doc_fields=DEFAULT_DOC_FIELDS, backend=None) -> Context:
    """``backend``: the encoder's (:data:`mapper.encode.encoders.BACKENDS`; default as the product picks it)."""
    kb = load_kb(atlas, release=release)
    encoder = CachedEncoder(get_encoder(model, backend=backend))
    return Context(kb, encoder, open_index(kb, encoder, doc_fields=doc_fields))


def _older_release(ref: str, ctx: Context):
    """A path, or a tag looked up beside the evaluated file (releases/<tag>/ATLAS.yaml), the cache, or a download."""
    path = Path(ref)
    if path.exists():
        return load_kb(path)
    tag = release_for_tag(ref).tag
    if ctx.kb.source is not None:
        sibling = ctx.kb.source.path.parent.parent / tag / "ATLAS.yaml"
        if sibling.is_file():
            return load_kb(sibling)
    return load_kb(release=tag)


def run_eval(tasks, protocol="loco", train_release=None, methods=None, max_folds=None, atlas=None, release=None,
             model=None, progress=False, ctx: Context | None = None, doc_fields=DEFAULT_DOC_FIELDS,
             older: Context | None = None, subset: str | None = None, writeups: list | None = None,
             corpus: str | None = None) -> dict:
    """``older``: the training release's context for temporal protocols (else built from ``train_release``);
    ``writeups``: training write-ups (default: those the shipped model learns from); ``corpus``: instead of the
    shipped corpus, the labelled corpus's training texts of the scopes named (:func:`atlas_eval.corpus.training_writeups`;
    "none" for none). Items scored that are also training write-ups are cross-validated by the runner."""
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; choose {', '.join(PROTOCOLS)}")
    ctx = ctx or build_context(atlas, release, model, doc_fields)
    datasets = []
    for task in tasks:
        if task in TASKS:
            datasets.append(case_study_task(ctx.kb, task))
        elif task.startswith("corpus:"):
            datasets.append(corpus_task(ctx.kb, task.split(":", 1)[1]))
        else:
            datasets.append(load_labelled_file(Path(task), ctx.kb, subset))
    if protocol.startswith("temporal") and older is None:
        if not train_release:
            raise UsageError(f"--protocol {protocol} needs --train-release TAG (for example v5.0.0)")
        old_kb = _older_release(train_release, ctx)
        older = Context(old_kb, ctx.encoder, open_index(old_kb, ctx.encoder, doc_fields=doc_fields))
    if corpus:  # an ablation of the corpus: the benchmark write-ups, and the corpus's scopes named
        from atlas_eval.corpus import training_writeups

        writeups = (benchmark_writeups() if writeups is None else list(writeups)) + training_writeups(corpus)
    writeups = bundled_writeups() if writeups is None else writeups
    reports = evaluate(ctx, datasets, protocol, list(methods or DEFAULT_METHODS), older, max_folds, progress, writeups)
    left_out = sorted(excluded_records(list(overlap_items())))
    for report in reports.values():  # what the corpus held back from training, so that no fold learns an item's event
        report["corpus_left_out"] = left_out
    return reports
