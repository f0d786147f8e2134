import json

import pytest
import yaml

from mapper.kb import load_kb, tactic_shortname
from mapper.io.outputs import NO_TECHNIQUE, navigator_layer, render, render_table, technique_text
from mapper.result import Evidence, MappingResult, TacticRef, TechniqueHit

from conftest import LATEST, SHARED_ATLAS, needs_shared


def _result(hits=True):
    techniques = [
        TechniqueHit("AML.T0051.000", "Direct", [TacticRef("AML.TA0011", "Impact")], 0.81,
                     [Evidence("She typed | a prompt.", 0, 20, 0.7)], parent="AML.T0051", band="high"),
        TechniqueHit("AML.T0020", "Poison Training Data", [TacticRef("AML.TA0006", "Persistence")], 0.42,
                     [Evidence("They poisoned it.", 21, 38, 0.4)], band="medium"),
    ] if hits else []
    return MappingResult({"release": None, "version": "9.9.9", "sha256": "x"}, {"encoder": "e"}, techniques, 0.3, 10,
                         ai_related={"decision": bool(hits), "score": 0.9 if hits else 0.1, "why": "AI terms: prompt"})


def test_json_yaml_roundtrip_and_shape():
    data = json.loads(render(_result(), "json"))
    assert data["techniques"][0]["parent"] == "AML.T0051" and "parent" not in data["techniques"][1]
    assert yaml.safe_load(render(_result(), "yaml")) == data


def test_table_shows_rank_id_tactic_score_and_evidence():
    table = render_table(_result(), width=100)
    first = table.splitlines()[2]
    assert first.split()[:3] == ["1", "AML.T0051.000", "Direct"] and first.split()[-2:] == ["0.81", "high"]
    assert '"She typed | a prompt."' in table
    assert "about an AI system: yes (score 0.90; AI terms: prompt)" in table


def test_empty_result_says_so_in_every_human_format():
    assert NO_TECHNIQUE in render(_result(False), "table")
    assert NO_TECHNIQUE in render(_result(False), "markdown")
    assert json.loads(render(_result(False), "json"))["recognised"] is False


def test_markdown_escapes_pipes():
    md = render(_result(), "markdown")
    assert "| 1 | AML.T0051.000 | Direct | Impact | 0.81 | high |" in md and "She typed \\| a prompt." in md


def test_navigator_layer_fields(mini_kb):
    layer = navigator_layer(_result(), mini_kb)
    assert layer["domain"] == "atlas-atlas" and layer["versions"] == {"layer": "4.3", "navigator": "4.6.4"}
    entries = {t["techniqueID"]: t for t in layer["techniques"]}
    assert entries["AML.T0051.000"]["tactic"] == "impact" and entries["AML.T0051.000"]["score"] == 81.0
    assert entries["AML.T0051.000"]["comment"].startswith("confidence high | 0.70: She typed")
    assert entries["AML.T0020"]["tactic"] == "persistence" and entries["AML.T0020"]["showSubtechniques"]
    assert layer["gradient"]["minValue"] == 0 and layer["gradient"]["maxValue"] == 100


def test_technique_text(mini_kb):
    text = technique_text(mini_kb, "AML.T0020")
    assert "Poison Training Data" in text and "AML.M0007 Sanitize Training Data" in text and "AML.CS0000" in text


@pytest.mark.integration
@needs_shared()
def test_navigator_tactic_keys_match_atlas_published_layers():
    kb = load_kb(LATEST)
    ours = {tactic_shortname(t.name) for t in kb.tactics}
    published = set()
    for path in (SHARED_ATLAS / "navigator-layers").glob("*.json"):
        layer = json.loads(path.read_text())
        assert layer["domain"] == "atlas-atlas"
        published |= {t["tactic"] for t in layer["techniques"] if "tactic" in t}
    assert published and published <= ours
