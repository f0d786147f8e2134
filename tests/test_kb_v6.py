"""The v6 format (ATLAS-<YYYY.MM>.yaml): a fixture of our own, and the real 2026.05 file against v5.6.1."""

import json
from pathlib import Path

import pytest
import yaml

from mapper.errors import AtlasDataError
from mapper.kb import load_kb
from mapper.kb.v6 import _step_order

from conftest import RELEASES, needs_shared

V6 = Path(__file__).parent / "fixtures" / "v6"
REAL_V6 = RELEASES / "v2026.05" / "ATLAS-2026.05.yaml"


@pytest.fixture(scope="module")
def v6_kb():
    return load_kb(V6 / "ATLAS-2026.05.yaml")


def test_objects_and_relationships_become_the_usual_knowledge_base(v6_kb):
    assert v6_kb.format_version == "6.0.0" and v6_kb.version == "2026.05"
    # tactics in the matrix's column order (sequences.position), not the map's order
    assert [t.id for t in v6_kb.tactics] == ["AML.TA0003", "AML.TA0001"]
    poison = v6_kb.techniques["AML.T0020"]
    assert poison.tactics == ("AML.TA0003", "AML.TA0001") and poison.parent is None
    assert poison.platforms == ("Predictive AI",) and poison.maturity == "Realized"
    assert poison.attack_id == "T1565"
    sub = v6_kb.techniques["AML.T0020.000"]
    assert sub.parent == "AML.T0020" and sub.tactics == ("AML.TA0001",)  # its own achieves, not the parent's
    assert [(m.id, use) for m, use in v6_kb.mitigations_for("AML.T0020")] == [
        ("AML.M0007", "Inspect samples and labels before training.")]


def test_case_study_steps_follow_leads_to_not_the_list_order(v6_kb):
    study = v6_kb.case_studies[0]
    assert study.summary.startswith("Researchers published")  # v6 'description' is the old summary
    assert [s.technique for s in study.steps] == ["AML.T0020", "AML.T0019", "AML.T0020.000"]
    assert [s.tactic for s in study.steps] == ["AML.TA0003", "AML.TA0003", "AML.TA0001"]
    assert (study.type, study.date, study.actor) == ("Exercise", "2024-02-01", "Test researchers")


def test_describe_reports_content_release_format_and_platforms(v6_kb):
    info = v6_kb.describe()
    assert info["version"] == "2026.05" and info["format_version"] == "6.0.0"
    assert info["platforms"] == {"Agentic AI": 1, "Generative AI": 2, "Predictive AI": 4}
    assert v6_kb.atlas_info()["format_version"] == "6.0.0"
    json.dumps(info)


@pytest.mark.parametrize(
    "steps, order",
    [
        # branching: S00 leads to S01 and S02; S02 leads to S03
        ([("S03", []), ("S02", ["S03"]), ("S00", ["S01", "S02"]), ("S01", [])], ["S00", "S01", "S02", "S03"]),
        # no leads-to at all: step-id order
        ([("S01", []), ("S00", [])], ["S00", "S01"]),
        # a cycle (a damaged file) keeps every step
        ([("S01", ["S00"]), ("S00", ["S01"])], ["S00", "S01"]),
        # a leads-to naming a step that does not exist is ignored
        ([("S01", []), ("S00", ["S07"])], ["S00", "S01"]),
    ],
)
def test_step_order(steps, order):
    rows = [{"step-id": sid, "leads-to": nxt} for sid, nxt in steps]
    assert [r["step-id"] for r in _step_order(rows)] == order


def _write(tmp_path, doc) -> Path:
    path = tmp_path / "ATLAS-2099.01.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_unsupported_format_version_is_refused(tmp_path):
    doc = yaml.safe_load((V6 / "ATLAS-2026.05.yaml").read_text())
    doc["format-version"] = "7.0.0"
    with pytest.raises(AtlasDataError, match="format-version 7.0.0.*upgrade atlas-mapper"):
        load_kb(_write(tmp_path, doc))


def test_newer_minor_format_loads_with_a_warning(tmp_path):
    doc = yaml.safe_load((V6 / "ATLAS-2026.05.yaml").read_text())
    doc["format-version"] = "6.1.0"
    kb = load_kb(_write(tmp_path, doc))
    assert any("6.1.0" in w for w in kb.warnings) and len(kb.techniques) == 5


@pytest.mark.parametrize("section", ["techniques", "tactics", "case-studies"])
def test_a_section_that_is_not_a_map_is_a_clear_error(tmp_path, section):
    doc = yaml.safe_load((V6 / "ATLAS-2026.05.yaml").read_text())
    doc[section] = list(doc[section].values())
    with pytest.raises(AtlasDataError, match=f"'{section}' is not a map"):
        load_kb(_write(tmp_path, doc))


def test_a_step_without_a_target_is_a_clear_error(tmp_path):
    doc = yaml.safe_load((V6 / "ATLAS-2026.05.yaml").read_text())
    del doc["relationships"]["AML.CS0001"]["employs"][0]["target"]
    with pytest.raises(AtlasDataError, match="employs relationship lacks 'target'"):
        load_kb(_write(tmp_path, doc))


@pytest.mark.integration
@needs_shared()
def test_2026_05_equals_v5_6_1_in_ids_tactics_parents_and_step_order():
    old, new = load_kb(RELEASES / "v5.6.1" / "ATLAS.yaml"), load_kb(REAL_V6)
    assert new.source.sha256 == "defd9014c6d5f5954460ef438faea583fcb1830ff81e85709628efb43037cc3a"
    assert (new.version, new.format_version) == ("2026.05", "6.0.0")
    assert [(t.id, t.name) for t in new.tactics] == [(t.id, t.name) for t in old.tactics]
    assert set(new.techniques) == set(old.techniques)
    for tid, tech in old.techniques.items():
        twin = new.techniques[tid]
        assert (twin.name, twin.tactics, twin.parent) == (tech.name, tech.tactics, tech.parent), tid
        assert twin.platforms and not tech.platforms  # platforms are new in v6
    assert [c.id for c in new.case_studies] == [c.id for c in old.case_studies]
    for a, b in zip(old.case_studies, new.case_studies):
        assert [(s.technique, s.tactic) for s in b.steps] == [(s.technique, s.tactic) for s in a.steps], a.id
    assert sum(len(c.steps) for c in new.case_studies) == 449
    # mitigations: same IDs; v6 drops two duplicate links of v5.6.1 and adds one technique to two mitigations
    old_links = {m.id: {t for t, _ in m.techniques} for m in old.mitigations}
    new_links = {m.id: {t for t, _ in m.techniques} for m in new.mitigations}
    assert set(new_links) == set(old_links)
    added = {mid: new_links[mid] - old_links[mid] for mid in old_links if new_links[mid] != old_links[mid]}
    assert added == {"AML.M0018": {"AML.T0052.001"}, "AML.M0034": {"AML.T0052.001"}}
