"""The same inputs give byte-identical outputs: the shipped example in every format and with options, a text
that is not about AI, and a batch of the wild benchmark's dev half (50 write-ups), against outputs recorded with
the real model (``tests/fixtures/before_layout/record.sh`` says how): first before issue 20 moved the modules, then
again when issue 21 taught the shipped model the labelled corpus, and when issue 23 moved the encoder to ONNX
Runtime in int8 (and again when int8 activations became per token), each on purpose."""

from __future__ import annotations

import pytest

from mapper.cli import main

from conftest import HERE, RELEASES, ROOT

RECORDED = HERE / "fixtures" / "before_layout"
V6 = RELEASES / "v2026.05" / "ATLAS-2026.05.yaml"
EXAMPLE = ROOT / "data" / "examples" / "tay-chatbot.md"
MAPS = {
    "tay.json": [str(EXAMPLE), "--format", "json"],
    "tay.markdown": [str(EXAMPLE), "--format", "markdown"],
    "tay.yaml": [str(EXAMPLE), "--format", "yaml"],
    "tay.navigator": [str(EXAMPLE), "--format", "navigator"],
    "tay.table": [str(EXAMPLE), "--format", "table"],
    "tay-k3.json": [str(EXAMPLE), "--format", "json", "--top-k", "3", "--threshold", "0.5", "--min-suggestions", "0"],
    "tay-genai.json": [str(EXAMPLE), "--format", "json", "--platform", "Generative AI"],
    "plain.json": ["--text", "The quarterly sales meeting was moved to Thursday.", "--format", "json"],
}


@pytest.mark.integration
@pytest.mark.encoder
@pytest.mark.skipif(not V6.is_file(), reason="../shared/atlas not present")
def test_outputs_are_byte_identical_to_those_recorded(tmp_path, capsys, monkeypatch, v6_cache):
    monkeypatch.setenv("COLUMNS", "120")  # the table's width, as recorded
    monkeypatch.setenv("ATLAS_MAPPER_CACHE", str(v6_cache))  # the shipped model, trained once per session
    monkeypatch.setenv("ATLAS_MAPPER_CORPUS", "on")
    for name, args in MAPS.items():
        assert main(["map", *args, "--atlas", str(V6)]) == 0
        assert capsys.readouterr().out == (RECORDED / name).read_text(encoding="utf-8"), name
    out = tmp_path / "wild-dev.out.jsonl"
    assert main(["batch", str(RECORDED / "wild-dev.jsonl"), str(out), "--atlas", str(V6)]) == 0
    assert out.read_bytes() == (RECORDED / "wild-dev.out.jsonl").read_bytes()


@pytest.mark.integration
@pytest.mark.encoder
@pytest.mark.slow
@pytest.mark.skipif(not V6.is_file(), reason="../shared/atlas not present")
def test_a_dask_cluster_of_two_writes_the_recorded_bytes(tmp_path, monkeypatch, v6_cache):
    """The shipped model with the int8 encoder, on two worker processes, writes what one process recorded."""
    pytest.importorskip("distributed")
    monkeypatch.setenv("ATLAS_MAPPER_CACHE", str(v6_cache))
    monkeypatch.setenv("ATLAS_MAPPER_CORPUS", "on")
    out = tmp_path / "wild-dev.out.jsonl"
    argv = ["batch", str(RECORDED / "wild-dev.jsonl"), str(out), "--atlas", str(V6), "--cluster", "local:2"]
    assert main(argv) == 0
    assert out.read_bytes() == (RECORDED / "wild-dev.out.jsonl").read_bytes()
