"""`atlas-mapper batch --cluster`: the refusals that happen before any model loads."""

from __future__ import annotations

import pytest

from mapper.cli import main


def test_batch_names_an_unreachable_scheduler_before_loading_anything(capsys, tmp_path):
    pytest.importorskip("distributed")
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "text": "x"}\n')
    assert main(["batch", str(source), str(tmp_path / "out.jsonl"), "--cluster", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err and len(err.strip().splitlines()) == 1
    assert main(["batch", str(source), str(tmp_path / "out.jsonl"), "--cluster", "local:x"]) == 2


def test_batch_on_a_cluster_without_the_dask_extra_names_the_install(capsys, monkeypatch, tmp_path):
    import sys

    for name in list(sys.modules):  # as if the [dask] extra were not installed (monkeypatch restores them)
        if name.startswith(("distributed", "mapper.io.cluster")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.setattr("mapper.cli._mapper", lambda *a: pytest.fail("the model must not load"))
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "text": "x"}\n')
    assert main(["batch", str(source), str(tmp_path / "out.jsonl"), "--cluster", "local:2"]) == 2
    err = capsys.readouterr().err
    assert err == ("atlas-mapper: error: a batch on a Dask cluster (--cluster) or in Parquet needs the [dask] extra "
                   "(distributed is missing): pip install 'atlas-mapper[dask]'\n")
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "out.jsonl.partial.jsonl").exists()
