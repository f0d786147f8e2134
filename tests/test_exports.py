"""Exports of a reviewed result: Navigator layer, STIX 2.1, ATLAS case study, CSV, JSON."""

import csv
import io
import json
import uuid

import jsonschema
import pytest
import yaml

from mapper.errors import InputError, UsageError
from mapper.io.exports import (
    EXPORT_FORMATS,
    MEDIA_TYPES,
    STIX_NAMESPACE,
    attack_pattern_id,
    export,
)
from mapper.kb import load_kb, tactic_shortname
from mapper.result import Evidence, TacticRef
from mapper.model.reviews import Review, ReviewedTechnique, reviewed_techniques

from conftest import RELEASES, SHARED_ATLAS, needs_shared

REAL_V6 = RELEASES / "v2026.05" / "ATLAS-2026.05.yaml"
CASE_STUDY_SCHEMA = SHARED_ATLAS / "atlas_website_case_study_schema.json"
ATLAS_STIX = SHARED_ATLAS / "stix" / "stix-atlas.json"

TEXT = ("The attacker typed a hidden instruction into the support chatbot. "
        "=HYPERLINK(\"http://evil\") was pasted in a ticket. "
        "They then flooded the prediction API until it went down.")
REPORT = {"id": "rep-42", "title": "Chatbot abuse at ACME", "text": TEXT,
          "created": "2026-05-30T23:30:00-05:00", "reviewer": "ana"}


def _span(sentence: str) -> tuple[int, int]:
    start = TEXT.index(sentence)
    return start, start + len(sentence)


def _kept(kb):
    """A review of a stored result: accept two suggestions, reject one, add one the model missed."""
    injection = "The attacker typed a hidden instruction into the support chatbot."
    result = {"techniques": [
        {"id": "AML.T0051.000", "name": "Direct", "tactics": [], "score": 0.81, "band": "high",
         "evidence": [{"text": injection, "start": 0, "end": len(injection), "score": 0.7}], "parent": "AML.T0051"},
        {"id": "AML.T0020", "name": "Poison Training Data", "tactics": [], "score": 0.35, "band": "medium",
         "evidence": []},
        {"id": "AML.T0029", "name": "Denial of AI Service", "tactics": [], "score": 0.4, "band": "medium",
         "evidence": []},
    ]}
    reviews = [
        Review("AML.T0051.000", "accept", note="+confirmed by the SOC"),
        Review("AML.T0020", "reject", note="no training involved"),
        Review("AML.T0029", "accept", (_span('=HYPERLINK("http://evil") was pasted in a ticket.'),)),
        Review("AML.T0040", "add", (_span("They then flooded the prediction API until it went down."),),
               note="-via the public API"),
    ]
    return reviewed_techniques(result, reviews, kb, TEXT)


@pytest.fixture(scope="module")
def real_kb():
    if not REAL_V6.is_file():
        pytest.skip("../shared/atlas not present")
    return load_kb(REAL_V6)


def _schema_errors(yaml_text: str) -> list[str]:
    schema = json.loads(CASE_STUDY_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    return [e.message for e in validator.iter_errors(yaml.safe_load(yaml_text))]


def _stix_objects(text: str, kind: str) -> list[dict]:
    return [o for o in json.loads(text)["objects"] if o["type"] == kind]


# -- dispatch ------------------------------------------------------------------

def test_formats_have_media_types_and_unknown_format_names_the_choices(mini_kb):
    assert set(MEDIA_TYPES) == set(EXPORT_FORMATS)
    assert MEDIA_TYPES["stix"] == ("application/stix+json;version=2.1", "json")
    with pytest.raises(UsageError, match="navigator, stix, case-study, csv, json"):
        export("pdf", REPORT, _kept(mini_kb), mini_kb)


def test_created_must_be_iso_8601(mini_kb):
    with pytest.raises(InputError, match="not an ISO 8601"):
        export("stix", {**REPORT, "created": "last Tuesday"}, _kept(mini_kb), mini_kb)


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_rejected_technique_never_exported(mini_kb, fmt):
    kept = _kept(mini_kb)
    assert [k.id for k in kept] == ["AML.T0051.000", "AML.T0029", "AML.T0040"]
    out = export(fmt, REPORT, kept, mini_kb)
    assert "AML.T0020" not in out and "Poison Training Data" not in out
    assert all(tid in out for tid in ("AML.T0051.000", "AML.T0029", "AML.T0040"))


def test_exports_are_deterministic(mini_kb):
    for fmt in EXPORT_FORMATS:
        assert export(fmt, REPORT, _kept(mini_kb), mini_kb) == export(fmt, REPORT, _kept(mini_kb), mini_kb), fmt


# -- navigator -----------------------------------------------------------------

def test_navigator_layer_of_a_review(mini_kb):
    kept = _kept(mini_kb) + [ReviewedTechnique("AML.T0115", "Publish Poisoned AI Artifacts",
                                               [TacticRef("AML.TA0003", "Resource Development")], "add")]
    layer = json.loads(export("navigator", REPORT, kept, mini_kb))
    assert layer["name"] == "Chatbot abuse at ACME" and layer["domain"] == "atlas-atlas"
    entries = {e["techniqueID"]: e for e in layer["techniques"]}
    assert set(entries) == {"AML.T0051.000", "AML.T0029", "AML.T0040"}  # a technique of another release can't be placed
    assert "AML.T0115" in layer["description"]
    assert entries["AML.T0051.000"]["score"] == 81.0 and entries["AML.T0040"]["score"] == 100.0
    assert entries["AML.T0051.000"]["comment"].startswith("accepted (model score 0.81, confidence high)")
    assert "note: +confirmed by the SOC" in entries["AML.T0051.000"]["comment"]
    assert entries["AML.T0040"]["comment"] == ("added by the analyst | note: -via the public API | "
                                               "They then flooded the prediction API until it went down.")
    assert {"name": "reviewer", "value": "ana"} in layer["metadata"]


# -- STIX ----------------------------------------------------------------------

def test_stix_bundle_from_a_legacy_release_validates_with_project_ids(mini_kb):
    from stix2validator import validate_string

    kept = _kept(mini_kb)
    out = export("stix", REPORT, kept, mini_kb)
    assert validate_string(out).is_valid
    patterns = _stix_objects(out, "attack-pattern")
    # legacy files carry no uuid: ids are uuid5 of the ATLAS ID in the project's namespace
    assert [p["id"] for p in patterns] == [
        f"attack-pattern--{uuid.uuid5(STIX_NAMESPACE, 'attack-pattern|' + k.id)}" for k in kept]
    assert patterns[0]["external_references"] == [{"source_name": "mitre-atlas", "external_id": "AML.T0051.000",
                                                   "url": "https://atlas.mitre.org/techniques/AML.T0051.000"}]
    [report] = _stix_objects(out, "report")
    assert report["name"] == REPORT["title"] and report["published"] == "2026-05-31T04:30:00Z"
    assert report["object_refs"] == [p["id"] for p in patterns]
    notes = _stix_objects(out, "note")
    assert [n["object_refs"] for n in notes] == [[report["id"], p["id"]] for p in patterns]
    assert "=HYPERLINK" in notes[1]["content"] and "-via the public API" in notes[2]["content"]
    assert notes[0]["authors"] == ["ana"]
    # the report's id follows the report's, so re-exporting replaces rather than duplicates
    other = export("stix", {**REPORT, "id": "rep-43"}, kept, mini_kb)
    assert _stix_objects(other, "report")[0]["id"] != report["id"]
    assert json.loads(other)["id"] != json.loads(out)["id"]


def test_stix_sub_technique_without_tactics_takes_its_parents(mini_kb):
    from stix2validator import validate_string

    sub = ReviewedTechnique("AML.T0000.002", "Technical Blogs", [], "add", parent="AML.T0000")
    out = export("stix", REPORT, [sub], mini_kb)
    assert validate_string(out).is_valid
    assert _stix_objects(out, "attack-pattern")[0]["kill_chain_phases"] == [
        {"kill_chain_name": "mitre-atlas", "phase_name": "reconnaissance"}]


def test_stix_review_that_keeps_nothing_still_validates(mini_kb):
    from stix2validator import validate_string

    out = export("stix", REPORT, [], mini_kb)
    assert validate_string(out).is_valid
    [identity] = _stix_objects(out, "identity")
    assert _stix_objects(out, "report")[0]["object_refs"] == [identity["id"]]


def test_every_export_names_a_sub_technique_parent_colon_sub(mini_kb):
    # one kept from a stored result through reviewed_techniques, one built with the short name
    kept = _kept(mini_kb) + [ReviewedTechnique("AML.T0000.002", "Technical Blogs", [], "add", parent="AML.T0000")]
    direct, blogs = "LLM Prompt Injection: Direct", "Search Open Technical Databases: Technical Blogs"
    stix = export("stix", REPORT, kept, mini_kb)
    names = {p["external_references"][0]["external_id"]: p["name"] for p in _stix_objects(stix, "attack-pattern")}
    assert (names["AML.T0051.000"], names["AML.T0000.002"]) == (direct, blogs)
    assert _stix_objects(stix, "note")[0]["abstract"] == f"AML.T0051.000 {direct}: accept"
    assert _stix_objects(stix, "note")[3]["content"].startswith(f"AML.T0000.002 {blogs}: added")
    rows = {r["technique_id"]: r for r in csv.DictReader(io.StringIO(export("csv", REPORT, kept, mini_kb)))}
    assert (rows["AML.T0051.000"]["technique_name"], rows["AML.T0000.002"]["technique_name"]) == (direct, blogs)
    data = {t["id"]: t["name"] for t in json.loads(export("json", REPORT, kept, mini_kb))["techniques"]}
    assert (data["AML.T0051.000"], data["AML.T0000.002"]) == (direct, blogs)
    study = yaml.safe_load(export("case-study", REPORT, kept, mini_kb))["study"]
    steps = {s["technique"]: s for s in study["procedure"]}
    assert steps["AML.T0000.002"]["description"] == blogs


# -- case study ----------------------------------------------------------------

def _sentence(text: str) -> Evidence:
    start = TEXT.index(text)
    return Evidence(text, start, start + len(text), 0.5)


INJECTION = "The attacker typed a hidden instruction into the support chatbot."
PASTED = '=HYPERLINK("http://evil") was pasted in a ticket.'
FLOODED = "They then flooded the prediction API until it went down."


def test_case_study_steps_follow_the_text_and_evidence_reads_in_text_order(mini_kb):
    kept = [
        # no evidence, Impact: after every step the text tells (Impact is the matrix's last tactic)
        ReviewedTechnique("AML.T0029", "Denial of AI Service", [TacticRef("AML.TA0011", "Impact")], "accept", 0.4),
        # told last in the text, though its tactic comes second in the matrix; several tactics: the first in
        # matrix order (AI Model Access) is its step's tactic
        ReviewedTechnique("AML.T0040", "AI Model Inference API Access",
                          [TacticRef("AML.TA0011", "Impact"), TacticRef("AML.TA0000", "AI Model Access")], "add",
                          evidence=[_sentence(FLOODED)]),
        # evidence strongest first, as the model lists it: the step reads it in the text's order and starts
        # where its first sentence does (the text's start)
        ReviewedTechnique("AML.T0051", "LLM Prompt Injection", [TacticRef("AML.TA0011", "Impact")], "add",
                          evidence=[_sentence(PASTED), _sentence(INJECTION)]),
        # no tactics of its own (its parent's, Reconnaissance) and no evidence: it opens the procedure
        ReviewedTechnique("AML.T0000.002", "Technical Blogs", [], "add", parent="AML.T0000"),
    ]
    doc = yaml.safe_load(export("case-study", {**REPORT, "incident_date": "2026-05-30"}, kept, mini_kb))
    steps = doc["study"]["procedure"]
    assert [(s["tactic"], s["technique"]) for s in steps] == [
        ("AML.TA0002", "AML.T0000.002"), ("AML.TA0011", "AML.T0051"),
        ("AML.TA0000", "AML.T0040"), ("AML.TA0011", "AML.T0029")]
    assert steps[1]["description"] == f"{INJECTION} {PASTED}"
    assert steps[0]["description"] == "Search Open Technical Databases: Technical Blogs"  # no evidence: its name
    # the other exports list evidence in the text's order too
    note = _stix_objects(export("stix", REPORT, kept, mini_kb), "note")[2]["content"]
    assert note.index(INJECTION) < note.index("HYPERLINK")
    row = list(csv.DictReader(io.StringIO(export("csv", REPORT, kept, mini_kb))))[2]
    assert row["evidence"] == f"{INJECTION} | {PASTED}"


def test_case_study_with_a_known_incident_date_validates(mini_kb):
    ev = [Evidence("  They flooded\n the API. ", 0, 10, 1.0), Evidence("It went down.", 11, 20, 1.0)]
    kept = [ReviewedTechnique("AML.T0051", "LLM Prompt Injection", [TacticRef("AML.TA0011", "Impact")], "add",
                              evidence=ev)]
    out = export("case-study", {**REPORT, "incident_date": "2026-05-30T23:30:00-05:00"}, kept, mini_kb)
    assert _schema_errors(out) == []
    doc = yaml.safe_load(out)
    study = doc["study"]
    assert (study["name"], study["summary"], study["reporter"]) == (REPORT["title"], TEXT, "ana")
    assert study["procedure"][0]["description"] == "They flooded the API. It went down."
    # the date as written, not shifted to UTC (where it is already 31 May)
    assert (study["incident-date"], study["incident-date-granularity"]) == ("2026-05-30", "DATE")
    assert "id" not in study and doc["meta"]["atlas-version"] == "9.9.9" and "incident-date" not in doc["meta"]


@pytest.mark.parametrize("given, date, granularity", [
    ("2024", "2024-01-01", "YEAR"), ("2024-03", "2024-03-01", "MONTH"), ("2024-03-15", "2024-03-15", "DATE")])
def test_case_study_incident_date_granularity(mini_kb, given, date, granularity):
    study = yaml.safe_load(export("case-study", {**REPORT, "incident_date": given}, _kept(mini_kb), mini_kb))["study"]
    assert (study["incident-date"], study["incident-date-granularity"]) == (date, granularity)


def test_case_study_never_takes_the_day_a_report_was_added_for_the_incident_date(mini_kb):
    out = export("case-study", REPORT, _kept(mini_kb), mini_kb)
    doc = yaml.safe_load(out)
    assert "incident-date" not in doc["study"] and "incident-date-granularity" not in doc["study"]
    assert doc["meta"]["incident-date"].startswith("unknown")
    assert "2026-05-30" not in out and "2026-05-31" not in out
    # ATLAS's schema has no "unknown": the draft misses exactly the two date fields until the analyst adds them
    assert sorted(_schema_errors(out)) == ["'incident-date' is a required property",
                                           "'incident-date-granularity' is a required property"]
    with pytest.raises(InputError, match="not a date"):
        export("case-study", {**REPORT, "incident_date": "last spring"}, _kept(mini_kb), mini_kb)


def test_case_study_schema_check_catches_a_bad_step():
    bad = yaml.safe_dump({"study": {"name": "x", "summary": "y", "incident-date": "2026-13-40",
                                    "incident-date-granularity": "DATE",
                                    "procedure": [{"tactic": "AML.TA0002", "technique": "AML.T0000",
                                                   "description": "d", "score": 1}]}})
    assert len(_schema_errors(bad)) == 2  # the extra step key and the impossible date


# -- CSV -----------------------------------------------------------------------

def test_csv_rows_and_formula_injection_neutralised(mini_kb):
    kept = _kept(mini_kb) + [ReviewedTechnique("AML.T0051", "LLM Prompt Injection", [], "add",
                                               notes=["@SUM(1)", "\tx"])]
    rows = list(csv.reader(io.StringIO(export("csv", REPORT, kept, mini_kb))))
    assert rows[0] == ["technique_id", "technique_name", "tactics", "decision", "score", "band", "evidence", "notes"]
    by_id = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert by_id["AML.T0051.000"]["notes"] == "'+confirmed by the SOC"
    assert by_id["AML.T0051.000"]["tactics"] == "Impact" and by_id["AML.T0051.000"]["score"] == "0.8100"
    assert by_id["AML.T0029"]["evidence"] == "'=HYPERLINK(\"http://evil\") was pasted in a ticket."
    assert by_id["AML.T0040"]["notes"] == "'-via the public API" and by_id["AML.T0040"]["score"] == ""
    assert by_id["AML.T0051"]["notes"] == "'@SUM(1) | x"
    for cell in (c for r in rows for c in r):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_csv_guards_a_leading_tab_and_carriage_return(mini_kb):
    # a technique of another release keeps its stored name, which could be anything
    kept = [ReviewedTechnique("AML.T9999", "\tDenial", [], "add", notes=["\r=1"])]
    rows = list(csv.reader(io.StringIO(export("csv", REPORT, kept, mini_kb))))
    assert rows[1][1] == "'\tDenial" and rows[1][7] == "'=1"  # notes are whitespace-normalised first


# -- JSON ----------------------------------------------------------------------

def test_json_export_round_trips(mini_kb):
    kept = _kept(mini_kb)
    data = json.loads(export("json", {k: v for k, v in REPORT.items() if k != "reviewer"}, kept, mini_kb))
    assert data["report"] == {"id": "rep-42", "title": REPORT["title"], "created": REPORT["created"],
                              "reviewer": None}
    assert data["atlas"] == mini_kb.atlas_info()
    back = [ReviewedTechnique(t["id"], t["name"], [TacticRef(**x) for x in t["tactics"]], t["decision"], t["score"],
                              t["band"], [Evidence(e["text"], e["start"], e["end"], 1.0) for e in t["evidence"]],
                              t["notes"]) for t in data["techniques"]]
    assert [(b.id, b.name, b.tactics, b.decision, b.score, b.band, b.notes) for b in back] == [
        (k.id, k.name, k.tactics, k.decision, k.score, k.band, k.notes) for k in kept]
    assert [[(e.text, e.start, e.end) for e in b.evidence] for b in back] == [
        [(e.text, e.start, e.end) for e in k.evidence] for k in kept]


# -- the real release ----------------------------------------------------------

@pytest.mark.integration
@needs_shared()
def test_v6_parser_keeps_atlas_uuids(real_kb):
    assert real_kb.techniques["AML.T0000"].uuid == "c02f812d-59cc-5366-b1aa-7eb05154b772"
    assert all(t.uuid for t in real_kb.techniques.values())
    assert load_kb(RELEASES / "v5.6.1" / "ATLAS.yaml").techniques["AML.T0000"].uuid is None


@pytest.mark.integration
@needs_shared()
def test_stix_ids_and_phases_equal_atlas_own_bundle(real_kb):
    from stix2validator import validate_string

    atlas = {}
    for obj in json.loads(ATLAS_STIX.read_text())["objects"]:
        if obj["type"] == "attack-pattern":
            ref = next(r for r in obj["external_references"] if r["source_name"] == "mitre-atlas")
            atlas[ref["external_id"]] = obj
    everything = [ReviewedTechnique(t.id, t.name, [TacticRef(x, real_kb.tactic_by_id[x].name) for x in t.tactics],
                                    "add", parent=t.parent) for t in real_kb.techniques.values()]
    out = export("stix", REPORT, everything, real_kb)
    result = validate_string(out)
    assert result.is_valid, [str(e) for e in result.errors]
    patterns = _stix_objects(out, "attack-pattern")
    assert len(patterns) == len(real_kb.techniques) == len(atlas)
    for pattern in patterns:
        twin = atlas[pattern["external_references"][0]["external_id"]]
        assert pattern["id"] == twin["id"]
        assert pattern["kill_chain_phases"] == twin["kill_chain_phases"]
    assert attack_pattern_id("AML.T0000", real_kb) == "attack-pattern--c02f812d-59cc-5366-b1aa-7eb05154b772"


@pytest.mark.integration
@needs_shared()
def test_case_study_of_a_real_review_validates_in_story_order(real_kb):
    kept = _kept(real_kb) + [
        ReviewedTechnique(t.id, t.name, [TacticRef(x, real_kb.tactic_by_id[x].name) for x in t.tactics], "add")
        for t in (real_kb.techniques[i] for i in ("AML.T0048", "AML.T0000", "AML.T0012", "AML.T0018"))]
    out = export("case-study", {**REPORT, "incident_date": "2026-05"}, kept, real_kb)
    assert _schema_errors(out) == []
    steps = yaml.safe_load(out)["study"]["procedure"]
    column = {t.id: n for n, t in enumerate(real_kb.tactics)}
    assert len(steps) == len(kept) and "AML.T0020" not in {s["technique"] for s in steps}
    # the steps with evidence as the text tells them; one without goes where the matrix puts its tactic among them
    told = [s["technique"] for s in steps if s["technique"] in ("AML.T0051.000", "AML.T0029", "AML.T0040")]
    assert told == ["AML.T0051.000", "AML.T0029", "AML.T0040"]
    for n, step in enumerate(steps):
        if step["technique"] not in told:
            assert all(column[s["tactic"]] <= column[step["tactic"]] for s in steps[:n]), step
    for step in steps:
        tech = real_kb.techniques[step["technique"]]
        assert step["tactic"] == min(tech.tactics or real_kb.techniques[tech.parent].tactics, key=column.get)


@pytest.mark.integration
@needs_shared()
@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_rejected_technique_never_exported_real(real_kb, fmt):
    out = export(fmt, REPORT, _kept(real_kb), real_kb)
    assert "AML.T0020" not in out and "AML.T0040" in out


@pytest.mark.integration
@needs_shared()
def test_navigator_layer_names_the_release(real_kb):
    layer = json.loads(export("navigator", REPORT, _kept(real_kb), real_kb))
    assert (layer["domain"], layer["versions"]) == ("atlas-atlas", {"layer": "4.3", "navigator": "4.6.4"})
    meta = {m["name"]: m["value"] for m in layer["metadata"]}
    assert (meta["atlas_release"], meta["atlas_data_version"], meta["atlas_format_version"]) == (
        "v2026.05", "2026.05", "6.0.0")
    tactics = {tactic_shortname(t.name) for t in real_kb.tactics}
    assert {e["tactic"] for e in layer["techniques"]} <= tactics
    assert {e["techniqueID"] for e in layer["techniques"]} == {"AML.T0051.000", "AML.T0029", "AML.T0040"}
