"""Crosswalks between releases: recorded links, relabelled case-study steps, same names."""

import pytest

from mapper.kb import diff_kb, load_kb
from mapper.kb import links
from mapper.kb.crosswalk import Crosswalk

from conftest import RELEASES, needs_shared


def test_three_ids_merged_into_sub_techniques_of_a_new_one(v6_old, v6_new):
    walk = Crosswalk.between(v6_old, v6_new)
    assert {tid: walk.translate(tid) for tid in ("AML.T0019", "AML.T0058", "AML.T0104", "AML.T0020")} == {
        "AML.T0019": ["AML.T0115.000"], "AML.T0058": ["AML.T0115.001"],
        "AML.T0104": ["AML.T0115.002"], "AML.T0020": ["AML.T0020"]}
    assert walk.merges() == [{"into": "AML.T0115", "name": "Publish Poisoned AI Artifacts",
                              "from": ["AML.T0019", "AML.T0058", "AML.T0104"],
                              "as": ["AML.T0115.000", "AML.T0115.001", "AML.T0115.002"]}]
    row = walk.links["AML.T0019"][0]
    assert row["evidence"] == ["recorded", "case studies"] and row["case_studies"] == ["AML.CS0001"]
    assert "2026.07" in row["source"]


def test_the_data_alone_shows_a_relabelled_step(v6_old, v6_new, monkeypatch):
    import mapper.kb.crosswalk as crosswalk

    monkeypatch.setattr(crosswalk, "recorded_links", lambda: ())
    monkeypatch.setattr(links, "_edges", lambda: ({}, {}))
    walk = Crosswalk.between(v6_old, v6_new)
    assert walk.links == {"AML.T0019": [{"id": "AML.T0115.000", "evidence": ["case studies"],
                                         "case_studies": ["AML.CS0001"]}]}
    assert walk.translate("AML.T0058") == []  # nothing in the files links it


def test_backwards_a_newer_id_reads_as_the_older_release_names_it(v6_old, v6_new):
    back = Crosswalk.between(v6_new, v6_old)
    assert back.translate("AML.T0115.000") == ["AML.T0019"]
    assert back.translate("AML.T0116") == []  # new in 2026.07: the older release cannot name it
    assert v6_old.resolve_id("AML.T0115.001") == "AML.T0058"
    assert v6_new.resolve_id("AML.T0058") == "AML.T0115.001"


def test_diff_shows_every_documented_kind_of_change(v6_old, v6_new):
    diff = diff_kb(v6_old, v6_new)
    assert [r["id"] for r in diff["added"]] == ["AML.T0115", "AML.T0115.000", "AML.T0115.001", "AML.T0115.002", "AML.T0116"]
    assert diff["renamed"] == [{"id": "AML.T0020", "old": "Poison Training Data", "new": "Training Data Poisoning"}]
    assert diff["tactics_renamed"] == [{"id": "AML.TA0001", "old": "AI Attack Staging", "new": "AI Attack Adaptation"}]
    assert diff["case_studies_added"] == [{"id": "AML.CS0002", "name": "Tampered agent memory"}]
    assert diff["platforms_changed"] == [{"id": "AML.T0020", "added": ["Generative AI"], "removed": []}]
    assert len(diff["merged"]) == 1


@pytest.mark.integration
@needs_shared()
def test_v5_6_1_to_2026_05_changes_no_id():
    diff = diff_kb(load_kb(RELEASES / "v5.6.1" / "ATLAS.yaml"), load_kb(RELEASES / "v2026.05" / "ATLAS-2026.05.yaml"))
    for key in ("added", "removed", "merged", "renamed", "moved", "tactics_added", "tactics_removed",
                "tactics_renamed", "case_studies_added", "case_studies_removed"):
        assert diff[key] == [], key
    assert diff["descriptions_edited"] and len(diff["platforms_changed"]) == 170
