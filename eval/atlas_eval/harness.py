"""Glue between the command line and the runner: load data, build the shared context, evaluate."""

from __future__ import annotations

from pathlib import Path

from mapper.data import release_for_tag
from mapper.encoders import CachedEncoder, get_encoder
from mapper.errors import UsageError
from mapper.kb import load_kb
from mapper.rank import open_index

from atlas_eval.datasets import TASKS, case_study_task, load_labelled_file
from atlas_eval.methods import DEFAULT_METHODS, Context
from atlas_eval.runner import PROTOCOLS, evaluate


def build_context(atlas=None, release=None, model=None) -> Context:
    kb = load_kb(atlas, release=release)
    encoder = CachedEncoder(get_encoder(model))
    return Context(kb, encoder, open_index(kb, encoder))


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
             model=None, progress=False, ctx: Context | None = None) -> dict:
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; choose {', '.join(PROTOCOLS)}")
    ctx = ctx or build_context(atlas, release, model)
    datasets = []
    for task in tasks:
        if task in TASKS:
            datasets.append(case_study_task(ctx.kb, task))
        else:
            datasets.append(load_labelled_file(Path(task), ctx.kb))
    train_ids = None
    if protocol == "temporal":
        if not train_release:
            raise UsageError("--protocol temporal needs --train-release TAG (for example v5.0.0)")
        train_ids = {c.id for c in _older_release(train_release, ctx).case_studies}
    return evaluate(ctx, datasets, protocol, list(methods or DEFAULT_METHODS), train_ids, max_folds, progress)
