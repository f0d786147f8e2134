import json

import pytest

from mapper.errors import AtlasDataError
from mapper.kb import diff_kb, load_kb, tactic_shortname
from mapper.text import clean_text

from conftest import RELEASES, needs_shared


def test_fixture_loads_all_object_kinds(mini_kb):
    assert [t.id for t in mini_kb.tactics] == ["AML.TA0002", "AML.TA0000", "AML.TA0006", "AML.TA0011"]
    assert len(mini_kb.techniques) == 7
    assert len(mini_kb.mitigations) == 2
    assert [c.id for c in mini_kb.case_studies] == ["AML.CS0000", "AML.CS0001", "AML.CS0002"]
    assert mini_kb.case_studies[0].date == "2016-03-23"  # a date object became a string
    json.dumps(mini_kb.describe())  # JSON-safe


def test_subtechnique_inherits_parent_tactics(mini_kb):
    sub = mini_kb.techniques["AML.T0051.000"]
    assert sub.parent == "AML.T0051"
    assert sub.tactics == ("AML.TA0011",)
    assert [c.id for c in mini_kb.children("AML.T0051")] == ["AML.T0051.000"]


def test_descriptions_are_cleaned_but_payload_tags_stay(mini_kb):
    parent = mini_kb.techniques["AML.T0000"].description
    assert "technical blogs" in parent and "/techniques/" not in parent
    assert "[1]" not in parent and "example.org" not in parent
    assert "<span" not in mini_kb.techniques["AML.T0000.002"].description
    assert "model architecture" in mini_kb.techniques["AML.T0000.002"].description
    assert "<think>ignore previous</think>" in mini_kb.techniques["AML.T0051"].description


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("see [Proxy](/techniques/AML.T0005) now", "see Proxy now"),
        ("a [paper](https://x.org/a_(b)) b", "a paper b"),
        ("cited [\\[1\\]][1].\n\n[1]: https://x.org \"T\"", "cited."),
        ('<div style="a">in <span>side</span><br/>x</div>', "in side x"),
        ("keep <<<start_user_message>>> and <PROMPT>", "keep <<<start_user_message>>> and <PROMPT>"),
        ("x<sup>2</sup> &amp; y", "x 2 & y"),
        (None, ""),
    ],
)
def test_clean_text(raw, expected):
    assert clean_text(raw) == expected


def test_mitigations_link_techniques(mini_kb):
    assert [m.id for m, _ in mini_kb.mitigations_for("AML.T0020")] == ["AML.M0007"]


def test_retired_id_resolution(mini_kb):
    assert mini_kb.resolve_id("AML.T0020") == "AML.T0020"
    assert mini_kb.resolve_id("AML.T9999") is None
    assert mini_kb.resolve_id("AML.T0045") is None  # replacement absent from the fixture


def test_unknown_release_warns_but_loads(mini_kb):
    assert any("not a known ATLAS release" in w for w in mini_kb.warnings)


def test_tactic_shortname():
    assert tactic_shortname("AI Model Access") == "ai-model-access"
    assert tactic_shortname("Command and Control") == "command-and-control"


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"a: [unclosed\n", "not valid YAML"),
        (b"- just\n- a list\n", "not an ATLAS data file"),
        (b"name: x\nmatrices: []\n", "empty or malformed"),
        (b"matrices:\n- tactics: []\n  techniques:\n  - name: no id\n", "lacks 'id'"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path, content, fragment):
    path = tmp_path / "ATLAS.yaml"
    path.write_bytes(content)
    with pytest.raises(AtlasDataError) as err:
        load_kb(path)
    assert fragment in str(err.value) and str(path) in str(err.value)


def test_truncated_real_file_is_an_error(tmp_path, fixture_atlas):
    path = tmp_path / "cut.yaml"
    path.write_bytes(fixture_atlas.read_bytes()[:700])
    with pytest.raises(AtlasDataError):
        load_kb(path)


@pytest.mark.integration
@needs_shared()
# every file under ../shared/atlas/releases: the legacy dist/ATLAS.yaml of v3.0.0-v5.6.1 and the v6 files
@pytest.mark.parametrize(
    "relpath", sorted(str(p.relative_to(RELEASES)) for p in RELEASES.glob("*/*.yaml")) if RELEASES.is_dir() else []
)
def test_every_release_loads(relpath):
    kb = load_kb(RELEASES / relpath)
    info = kb.describe()
    assert info["known"] and kb.warnings == []
    assert info["counts"]["techniques"] > 30 and info["counts"]["case_studies"] >= 15
    for tech in kb.techniques.values():
        assert tech.tactics, f"{tech.id} has no tactics"
        assert "](/techniques" not in tech.description
    json.dumps(info)


@pytest.mark.integration
@needs_shared()
def test_version_field_lag_is_reported():
    kb = load_kb(RELEASES / "v4.5.2" / "ATLAS.yaml")
    assert kb.atlas_info()["release"] == "v4.5.2" and kb.version == "4.5.1"
    latest = load_kb(RELEASES / "v5.6.1" / "ATLAS.yaml")
    assert latest.atlas_info()["release"] == "v5.6.1" and latest.version == "5.6.0"
    assert latest.source.describe()["also_published_as"] == ["v5.6.0"]
    assert len(latest.case_studies) == 57 and sum(len(c.steps) for c in latest.case_studies) == 449


@pytest.mark.integration
@needs_shared()
def test_diff_reports_t0045_replacement():
    diff = diff_kb(load_kb(RELEASES / "v4.4.0" / "ATLAS.yaml"), load_kb(RELEASES / "v4.5.0" / "ATLAS.yaml"))
    assert {"id": "AML.T0045", "name": "ML Intellectual Property Theft", "replaced_by": ["AML.T0048.004"]} in diff["removed"]
    evidence = diff["crosswalk"]["AML.T0045"][0]["evidence"]
    assert evidence == ["recorded", "case studies", "same name"]
    assert "AML.T0048.004" in [row["id"] for row in diff["added"]]


@pytest.mark.integration
@needs_shared()
def test_v3_top_level_layout():
    kb = load_kb(RELEASES / "v3.0.0" / "ATLAS.yaml")
    assert len(kb.tactics) == 12 and kb.version == "3.0.0"


def test_parsed_file_is_cached_and_a_tampered_copy_is_not_trusted(fixture_atlas, tmp_path, monkeypatch):
    from mapper.files import cache_dir, sha256_file
    from mapper.kb import load_kb

    first = load_kb(fixture_atlas)
    folder = cache_dir() / "kb" / sha256_file(fixture_atlas)[:16]
    assert (folder / "manifest.json").is_file()
    meta = folder / "meta.json"
    meta.write_text(meta.read_text().replace(first.techniques["AML.T0020"].name, "Tampered Name"))
    again = load_kb(fixture_atlas)
    assert again.techniques["AML.T0020"].name == first.techniques["AML.T0020"].name
    assert [t.id for t in again.techniques.values()] == [t.id for t in first.techniques.values()]
    assert again.case_studies == first.case_studies


def test_a_subtechnique_is_named_with_its_parent(mini_kb):
    parent, sub = mini_kb.techniques["AML.T0051"], mini_kb.techniques["AML.T0051.000"]
    assert mini_kb.full_name("AML.T0051.000") == f"{parent.name}: {sub.name}"
    assert mini_kb.full_name("AML.T0051") == parent.name
