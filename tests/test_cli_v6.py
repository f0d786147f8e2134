"""The command line on v6 releases: platforms, results in another release's IDs, diffs that show merges."""

import json
from pathlib import Path

import pytest

from mapper.cli import main

V6 = Path(__file__).parent / "fixtures" / "v6"
OLD, NEW = str(V6 / "ATLAS-2026.05.yaml"), str(V6 / "ATLAS-2026.07.yaml")
TEXT = "The crew uploaded a tampered dataset to a public hub, and listed a malicious tool for AI agents."


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_data_diff_shows_merges_renames_and_new_case_studies(capsys):
    code, out, _ = run(capsys, "data", "diff", OLD, NEW)
    assert code == 0
    assert "AML.T0019, AML.T0058, AML.T0104 -> AML.T0115.000, AML.T0115.001, AML.T0115.002 under AML.T0115" in out
    assert "AML.T0019 Publish Poisoned Datasets -> AML.T0115.000" in out
    assert "AML.TA0001: AI Attack Staging -> AI Attack Adaptation" in out
    assert "AML.CS0002 Tampered agent memory" in out
    assert "(content 2026.05, format 6.0.0) -> " in out


def test_techniques_show_and_search_by_platform(capsys):
    code, out, _ = run(capsys, "techniques", "show", "AML.T0020", "--atlas", OLD)
    assert code == 0 and "Platforms: Predictive AI" in out and "Maturity: Realized" in out
    code, out, _ = run(capsys, "techniques", "show", "aml.t0115.000", "--atlas", OLD)  # a newer ID
    assert code == 0 and out.startswith("(AML.T0115.000 is AML.T0019 in ATLAS 2026.05)\nAML.T0019  Publish Poisoned")
    code, out, _ = run(capsys, "techniques", "search", "malicious tool", "--platform", "Agentic AI", "--atlas", OLD)
    assert code == 0 and out.splitlines()[0].startswith("AML.T0104") and len(out.splitlines()) == 1
    code, _, err = run(capsys, "techniques", "search", "tool", "--platform", "Quantum", "--atlas", OLD)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Agentic AI" in err


@pytest.mark.encoder
def test_map_with_platform_and_in_a_newer_releases_ids(capsys):
    common = ["--text", TEXT, "--atlas", OLD, "--threshold", "0", "--format", "json"]
    code, out, _ = run(capsys, "map", *common)
    plain = json.loads(out)
    assert code == 0 and {"AML.T0019", "AML.T0104"} <= {t["id"] for t in plain["techniques"]}
    code, out, _ = run(capsys, "map", *common, "--platform", "agentic ai")
    agentic = json.loads(out)
    assert code == 0 and agentic["platform"] == "Agentic AI"
    assert [t["id"] for t in agentic["techniques"]] == ["AML.T0104"]
    code, out, _ = run(capsys, "map", *common, "--as-release", NEW)
    moved = json.loads(out)
    ids = {t["id"] for t in moved["techniques"]}
    assert code == 0 and {"AML.T0115.000", "AML.T0115.002"} <= ids and not ids & {"AML.T0019", "AML.T0104"}
    assert moved["atlas"]["version"] == "2026.07" and moved["translated_from"]["atlas"]["version"] == "2026.05"
    code, out, _ = run(capsys, "map", *common[:-2], "--as-release", NEW, "--format", "navigator")
    layer = json.loads(out)
    assert {"name": "atlas_data_version", "value": "2026.07"} in layer["metadata"]
    assert "AML.T0115.000" in {t["techniqueID"] for t in layer["techniques"]}
