"""The real-report corpus: the harness's tools (event groups, the frozen split rule, the stratified sample) and
the product's reader (the text check, gold labels as training write-ups, the overlap canary)."""

import hashlib

import pytest

from atlas_eval import corpus
from mapper.model import corpus as reading
from mapper.errors import InputError


def rec(rid, title, description="", source=None, vector="other", tier="reviewed", cves=()):
    return {"id": rid, "title": title, "description": description, "primary_reference": source or f"https://oecd.ai/{rid}",
            "attack_vector": vector, "quality_tier": tier, "cve_ids": list(cves)}


def test_one_event_told_twice_is_one_group_and_distinct_events_are_not():
    records = [
        rec("INC-1", "Deepfake video of the mayor used to solicit donations", "A cloned voice asked for money."),
        rec("INC-2", "Deepfake video of the mayor used to solicit donations", "AIID entry: a cloned voice.",
            source="https://incidentdatabase.ai/cite/1/"),
        rec("INC-3", "Gradio path traversal", "CVE text", source="https://nvd.nist.gov/a", cves=["CVE-1"]),
        rec("INC-4", "Another advisory", "different words", source="https://github.com/b", cves=["CVE-1"]),
        rec("INC-5", "Chatbot gives wrong refund policy", "The airline's assistant invented a rule."),
    ]
    groups = corpus.event_groups(records)
    assert groups["INC-1"] == groups["INC-2"] == "INC-1"  # same title: one story, two sources
    assert groups["INC-3"] == groups["INC-4"] == "INC-3"  # a shared CVE
    assert len({groups["INC-1"], groups["INC-3"], groups["INC-5"]}) == 3


def test_split_is_a_rule_of_the_group_alone():
    splits = [corpus.split_of(f"INC-{i:05d}") for i in range(2000)]
    assert set(splits) == {"train", "test"} and 0.2 < splits.count("test") / 2000 < 0.3
    assert corpus.split_of("INC-00042") == corpus.split_of("INC-00042")


def words(i: int) -> str:
    """A title no other shares: three made-up words of its own."""
    return " ".join(f"w{i}x{k}" for k in range(3))


def test_sample_caps_nvd_drops_curated_and_atlas_and_keeps_one_record_per_event():
    records = [rec(f"INC-N{i}", words(i), source=f"https://nvd.nist.gov/{i}", vector="rce") for i in range(60)]
    records += [rec(f"INC-O{i}", words(100 + i), vector=v) for i, v in zip(range(40), ["deepfake", "other"] * 20)]
    records += [rec("INC-C", "Curated landmark case", "x", tier="curated"),
                rec("INC-C2", "Curated landmark case", "x told again"),  # shares the curated record's event
                rec("INC-A", "An ATLAS case study", "y", source="https://atlas.mitre.org/studies/AML.CS0001")]
    drawn = corpus.sample(records, 30)
    ids = {e["id"] for e in drawn}
    assert len(drawn) == 30 and sum(e["source"] == "nvd" for e in drawn) == 10
    assert not ids & {"INC-C", "INC-C2", "INC-A"}
    assert len({e["group"] for e in drawn}) == 30
    assert all(e["sha256"] == hashlib.sha256(reading.text_of(next(r for r in records if r["id"] == e["id"]))
                                             .encode()).hexdigest() for e in drawn)
    assert {e["attack_vector"] for e in drawn if e["source"] == "oecd"} == {"deepfake", "other"}


def test_texts_refuse_a_changed_record(monkeypatch):
    records = [rec("INC-1", "A title", "a description")]
    monkeypatch.setattr(reading, "load_records", lambda: records)
    entry = {"id": "INC-1", "sha256": reading.text_sha256(records[0])}
    assert reading.texts([entry]) == {"INC-1": "A title.\na description"}
    records[0]["description"] = "edited upstream"
    with pytest.raises(InputError, match="INC-1.*changed"):
        reading.texts([entry])


def test_a_missing_package_names_the_install(monkeypatch):
    from importlib import metadata

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(reading.metadata, "version", missing)
    with pytest.raises(InputError, match="pip install genai-incidents==2.13.0"):
        reading.load_records()


def test_an_extension_adds_only_new_events_of_the_split_asked_for():
    records = [rec(f"INC-{i}", words(i)) for i in range(200)]
    first = corpus.sample(records, 50)
    more = corpus.sample(records, 30, exclude_groups={e["group"] for e in first}, split="test")
    assert len(more) == 30 and all(e["split"] == "test" for e in more)
    assert not {e["group"] for e in more} & {e["group"] for e in first}


def test_the_frozen_test_split_is_unchanged():
    """Fails if a gold label of the corpus's frozen test split is edited, dropped or added after the freeze."""
    import json

    from conftest import ROOT

    folder = ROOT / "data" / "labelling" / "real"
    frozen = json.loads((folder / "test-frozen.json").read_text())
    split = {e["id"]: e["split"] for e in reading.read_sample(folder / "sample.jsonl")}
    rows = [line + "\n" for line in (folder / "gold.jsonl").read_text().splitlines() if split[json.loads(line)["id"]] == "test"]
    assert len(rows) == frozen["texts"]
    assert hashlib.sha256("".join(sorted(rows)).encode()).hexdigest() == frozen["gold_sha256"]
    assert all(corpus.split_of(e["group"]) == e["split"] for e in reading.read_sample(folder / "sample.jsonl"))


def test_gold_writeups_never_hold_the_test_split(tmp_path, monkeypatch):
    import json

    records = {"INC-1": rec("INC-1", "An agent was hijacked", "It read a poisoned page."),
               "INC-2": rec("INC-2", "A test record", "held out"), "INC-3": rec("INC-3", "An outage", "no AI")}
    monkeypatch.setattr(reading, "load_records", lambda: list(records.values()))
    (tmp_path / "real").mkdir()
    (tmp_path / "own").mkdir()
    sample = [{"id": i, "sha256": reading.text_sha256(r), "split": "test" if i == "INC-2" else "train", "group": i,
               "source": "oecd", "attack_vector": "other"} for i, r in records.items()]
    (tmp_path / "real" / "sample.jsonl").write_text("".join(json.dumps(e) + "\n" for e in sample))
    text1 = reading.text_of(records["INC-1"])
    start = text1.index("poisoned")
    gold = [{"id": "INC-1", "sha256": sample[0]["sha256"], "scope": "attack", "techniques": ["T1"], "evidence": [[start, start + 8]]},
            {"id": "INC-2", "sha256": sample[1]["sha256"], "scope": "attack", "techniques": ["T1"], "evidence": [None]},
            {"id": "INC-3", "sha256": sample[2]["sha256"], "scope": "not_ai", "techniques": [], "evidence": []}]
    (tmp_path / "real" / "gold.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gold))
    (tmp_path / "own" / "texts-1.jsonl").write_text(json.dumps({"id": "own1-001", "form": "news", "scope": "not_ai",
                                                               "intended": [], "text": "A plain outage."}) + "\n")
    (tmp_path / "own" / "gold.jsonl").write_text(json.dumps({"id": "own1-001", "sha256": "x", "scope": "ai_no_adversary",
                                                            "techniques": [], "evidence": []}) + "\n")
    got = {w.id: w for w in reading.gold_writeups(folder=tmp_path)}
    assert set(got) == {"INC-1", "INC-3"}  # INC-2 is in the test split; own1-001's scope is not taught by default
    assert got["INC-1"].techniques == ("T1",) and got["INC-1"].rationale == {"T1": "poisoned"}
    assert not got["INC-3"].ai
    assert "own1-001" in {w.id for w in reading.gold_writeups(("not_ai", "ai_no_adversary"), folder=tmp_path)}
    with pytest.raises(ValueError, match="negatives"):
        reading.gold_writeups(("attack",), folder=tmp_path)


def test_canary_a_record_about_an_evaluated_item_never_trains(tmp_path, monkeypatch):
    """The leakage canary of the corpus: a record about the same event as an item under evaluation (listed in
    overlaps.json), and any record of its event group, is left out of the training write-ups."""
    import json

    records = {f"INC-{i}": rec(f"INC-{i}", f"story {i}", f"the chatbot was tricked {i}") for i in range(1, 4)}
    monkeypatch.setattr(reading, "load_records", lambda: list(records.values()))
    (tmp_path / "real").mkdir()
    groups = {"INC-1": "INC-1", "INC-2": "INC-1", "INC-3": "INC-3"}  # INC-2 retells INC-1's event
    sample = [{"id": i, "sha256": reading.text_sha256(r), "split": "train", "group": groups[i], "source": "oecd",
               "attack_vector": "other"} for i, r in records.items()]
    (tmp_path / "real" / "sample.jsonl").write_text("".join(json.dumps(e) + "\n" for e in sample))
    gold = [{"id": e["id"], "sha256": e["sha256"], "scope": "attack", "techniques": ["T1"], "evidence": [None]} for e in sample]
    (tmp_path / "real" / "gold.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gold))
    (tmp_path / "real" / "overlaps.json").write_text(json.dumps({"items": {"wild-ai-canary": ["INC-1"]}}))
    assert {w.id for w in reading.gold_writeups(folder=tmp_path)} == {"INC-1", "INC-2", "INC-3"}
    kept = {w.id for w in reading.gold_writeups(folder=tmp_path, exclude_items=["wild-ai-canary"])}
    assert kept == {"INC-3"}


def test_overlaps_name_sampled_records_and_the_frozen_split_leaves_them_unscored():
    import json

    from conftest import ROOT

    folder = ROOT / "data" / "labelling" / "real"
    sample = {e["id"]: e for e in reading.read_sample(folder / "sample.jsonl")}
    listed = {r for ids in json.loads((folder / "overlaps.json").read_text())["items"].values() for r in ids}
    assert listed <= set(sample)
    frozen = json.loads((folder / "test-frozen.json").read_text())
    assert set(frozen["not_scored"]) == {r for r in listed if sample[r]["split"] == "test"}


@pytest.mark.integration
def test_corpus_task_scores_one_split_without_overlaps_or_empty_attacks():
    import json

    from conftest import RELEASES, ROOT
    from mapper.kb import load_kb

    pytest.importorskip("genai_incidents")
    if not (RELEASES / "v2026.05").is_dir():
        pytest.skip("../shared/atlas not present")
    from atlas_eval.datasets import corpus_task

    folder = ROOT / "data" / "labelling" / "real"
    split = {e["id"]: e["split"] for e in reading.read_sample(folder / "sample.jsonl")}
    overlaps = {r for ids in json.loads((folder / "overlaps.json").read_text())["items"].values() for r in ids}
    data = corpus_task(load_kb(RELEASES / "v2026.05" / "ATLAS-2026.05.yaml"), "train")
    assert data.queries and all(split[q] == "train" for q in data.queries) and not set(data.queries) & overlaps
    assert all(data.qrels[q] for q in data.queries if q not in data.out_of_scope)
    with pytest.raises(InputError, match="attack"):
        corpus.training_writeups("not_ai")
