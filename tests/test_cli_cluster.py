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
