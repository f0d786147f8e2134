"""The evaluation harness: metrics by hand, datasets, protocols, and the no-leakage rule."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from atlas_eval import methods as methods_mod
from atlas_eval.datasets import case_study_task, load_labelled_file
from atlas_eval.harness import run_eval
from atlas_eval.methods import Context, parse_method
from atlas_eval.report import render_markdown, render_table, write_outputs
from atlas_eval.runner import make_folds
from mapper.encode.encoders import CachedEncoder
from mapper.errors import InputError, UsageError
from mapper.model.features import FEATURE_NAMES
from mapper.encode.index import TechniqueIndex

from conftest import LATEST


@pytest.fixture
def ctx(mini_kb, tiny_encoder):
    encoder = CachedEncoder(tiny_encoder)
    return Context(mini_kb, encoder, TechniqueIndex.build(mini_kb, encoder))


def test_case_study_tasks(mini_kb):
    steps = case_study_task(mini_kb, "steps")
    assert len(steps.queries) == 7 and steps.qrels["AML.CS0000#2"] == {"AML.T0020": 1}
    assert steps.unknown_labels == {"AML.CS0002#3": ["AML.T0045"]}  # reported, not silently dropped
    narrative = case_study_task(mini_kb, "narrative")
    assert narrative.qrels["AML.CS0002"] == {"AML.T0040": 1, "AML.T0029": 1}
    assert narrative.queries["AML.CS0000"].startswith("Users flooded")


def test_labelled_file_formats(tmp_path, mini_kb):
    yml = tmp_path / "items.yaml"
    yml.write_text("incidents:\n- id: a\n  text: poisoned data\n  techniques: [AML.T0020, AML.T9999]\n"
                   "- id: b\n  text: ransomware\n  techniques: []\n- id: c\n  text: phishing\n  scope: non-ai\n  extra: ignored\n")
    ds = load_labelled_file(yml, mini_kb)
    assert ds.qrels["a"] == {"AML.T0020": 1} and ds.unknown_labels == {"a": ["AML.T9999"]}
    assert ds.out_of_scope == {"b", "c"}
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text(json.dumps({"id": "x", "text": "t", "techniques": ["AML.T0029"]}) + "\n")
    assert load_labelled_file(jsonl, mini_kb).qrels == {"x": {"AML.T0029": 1}}
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "x", "text": "a", "techniques": []}\n{"id": "x", "text": "b", "techniques": []}\n')
    with pytest.raises(InputError, match="duplicate id"):
        load_labelled_file(dup, mini_kb)


@pytest.mark.parametrize("atlas", [Path(__file__).parent / "fixtures" / "v6" / "ATLAS-2026.05.yaml", LATEST])
def test_labels_in_newer_ids_are_mapped_onto_the_loaded_release(tmp_path, atlas):
    """genai-incidents labels with 2026.07+ IDs (AML.T0115.000/.001) read as the loaded release names them."""
    if not atlas.is_file():
        pytest.skip("../shared/atlas not present")
    from mapper.kb import load_kb

    path = tmp_path / "newer.jsonl"
    path.write_text(json.dumps({"id": "g1", "text": "a poisoned model on a hub",
                                "techniques": ["AML.T0115.000", "AML.T0115.001", "AML.T0116"]}) + "\n")
    ds = load_labelled_file(path, load_kb(atlas))
    assert ds.qrels["g1"] == {"AML.T0019": 1, "AML.T0058": 1}
    assert ds.mapped_labels == {"AML.T0115.000": "AML.T0019", "AML.T0115.001": "AML.T0058"}
    assert ds.unknown_labels == {"g1": ["AML.T0116"]}  # new in 2026.08: no older ID carries it


def test_loco_folds_never_train_on_the_held_out_study(mini_kb):
    datasets = [case_study_task(mini_kb, t) for t in ("steps", "narrative")]
    folds = make_folds(mini_kb, datasets, "loco")
    assert [f.name for f in folds] == ["AML.CS0000", "AML.CS0001", "AML.CS0002"]
    for fold in folds:
        assert fold.name not in {s.id for s in fold.train}
        for ds in datasets:
            assert all(ds.groups[q] == fold.name for q in fold.test_ids[ds.name])


def test_write_ups_being_scored_are_held_out_of_training_by_cross_validation(mini_kb, tmp_path):
    from mapper.model.writeups import WriteUp

    train = [WriteUp(f"w{n}", f"text {n}", ("AML.T0051",) if n % 2 else ()) for n in range(12)]
    path = tmp_path / "items.jsonl"
    rows = [{"id": f"w{n}", "text": f"text {n}", "techniques": ["AML.T0051"] if n % 2 else []} for n in range(12)]
    rows.append({"id": "other", "text": "not a training write-up", "techniques": ["AML.T0020"]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_labelled_file(path, mini_kb)
    folds = make_folds(mini_kb, [ds], "loco", writeups=train)
    external = [f for f in folds if f.name.startswith("external")]
    assert [f.name for f in external] == [f"external-cv{k}" for k in range(1, 6)]
    scored = [q for f in external for q in f.test_ids["items"]]
    assert sorted(scored) == sorted(ds.queries)  # every item scored exactly once
    for fold in external:
        assert not {w.id for w in fold.writeups} & set(fold.test_ids["items"])
        assert len(fold.writeups) + len([q for q in fold.test_ids["items"] if q != "other"]) == len(train)
    # loco folds train on every write-up; with none to learn from, one external fold as before
    assert all(len(f.writeups) == 12 for f in folds if not f.name.startswith("external"))
    assert [f.name for f in make_folds(mini_kb, [ds], "loco") if f.name.startswith("external")] == ["external"]


@pytest.fixture
def older(mini_kb, ctx):
    """An 'older release' of the fixture: without AML.CS0002 and without technique AML.T0029."""
    kb = dataclasses.replace(mini_kb, case_studies=mini_kb.case_studies[:2],
                             techniques={t: v for t, v in mini_kb.techniques.items() if t != "AML.T0029"})
    return Context(kb, ctx.encoder, TechniqueIndex.build(kb, ctx.encoder))


def test_temporal_folds_train_on_the_older_release_as_it_was(mini_kb, older):
    ds = case_study_task(mini_kb, "narrative")
    (fold,) = make_folds(mini_kb, [ds], "temporal", older)
    assert [s.id for s in fold.train] == ["AML.CS0000", "AML.CS0001"]
    assert fold.test_ids["narrative"] == ["AML.CS0002"]
    assert fold.ctx is older  # the old knowledge base and index, not the evaluated release's
    (variant,) = make_folds(mini_kb, [ds], "temporal-studies", older)
    assert variant.ctx is None and [s.id for s in variant.train] == ["AML.CS0000", "AML.CS0001"]
    with pytest.raises(UsageError):
        make_folds(mini_kb, [ds], "temporal")


def test_temporal_scores_what_the_old_release_can_name_and_counts_the_rest(ctx, older):
    report = run_eval(["narrative"], "temporal", ctx=ctx, older=older, methods=["popularity", "default"])["narrative"]
    # AML.CS0002 is labelled AML.T0040 and AML.T0029 (AML.T0045 is unknown to both releases);
    # the old release lacks AML.T0029, so only AML.T0040 is scored, and the miss is reported.
    assert report["dataset"]["test_labels"] == 2
    assert report["dataset"]["test_labels_unnameable_by_training_release"] == 1
    assert report["dataset"]["unnameable_labels"] == ["AML.T0029"]
    for method in report["methods"].values():
        (item,) = method["items"]
        assert list(item["gold"]) == ["AML.T0040"]
    # the old model ranks only what the old release knew
    popularity = report["methods"]["popularity"]["items"][0]
    assert "AML.T0029" not in popularity["predicted"] + [t for t, _ in popularity["top_wrong"]]
    # popularity trained on CS0000 and CS0001: T0040 (1 of 2 studies) ties with T0000.002, T0020 and T0051.000
    # and is third in ID order, so AP = 1/3
    assert report["methods"]["popularity"]["metrics"]["MAP"] == pytest.approx(1 / 3, abs=1e-4)


class Memorise:
    """A cheating 'method': it can only answer texts it saw in training, word for word."""

    name, learns = "memorise", True

    def __init__(self, ctx):
        self.ctx = ctx

    def fit(self, studies):
        self.memory_ = {}
        for s in studies:
            self.memory_[s.narrative()] = set(s.techniques)
            for step in s.steps:
                self.memory_[step.description] = {step.technique}
        self.threshold_ = 0.5
        return self

    def rank(self, queries):
        known = self.ctx.kb.techniques
        return {q: {t: 1.0 for t in self.memory_.get(text, ()) if t in known} for q, text in queries.items()}


def test_no_leakage_memoriser_is_perfect_only_when_test_text_was_trained_on(ctx, tmp_path, monkeypatch):
    monkeypatch.setitem(methods_mod.BUILTIN, "memorise", Memorise)
    # Used correctly (leave one case study out), memorising training text is worth nothing.
    honest = run_eval(["narrative", "steps"], "loco", methods=["memorise"], ctx=ctx)
    assert honest["narrative"]["methods"]["memorise"]["metrics"]["MAP"] == 0.0
    assert honest["steps"]["methods"]["memorise"]["metrics"]["Success@1"] == 0.0
    # The same texts scored as an external file, with a model trained on every case study: the text was in
    # training, so the memoriser is perfect. This is exactly the leak the loco protocol prevents.
    leaky = tmp_path / "leak.yaml"
    import yaml

    leaky.write_text(yaml.safe_dump([{"id": s.id, "text": s.narrative(), "techniques": [t for t in s.techniques if t in ctx.kb.techniques]}
                                     for s in ctx.kb.case_studies]))
    cheat = run_eval([str(leaky)], "loco", methods=["memorise"], ctx=ctx)
    assert cheat["leak"]["methods"]["memorise"]["metrics"]["MAP"] == 1.0


class MemoriseWriteups:
    """A cheating 'method' that learns write-ups: it can only answer texts it was trained on, word for word."""

    name, learns, learns_writeups = "memorise-writeups", True, True

    def __init__(self, ctx):
        self.ctx = ctx

    def fit(self, studies, writeups=()):
        self.memory_ = {w.text: set(w.techniques) for w in writeups}
        self.threshold_ = 0.5
        return self

    def rank(self, queries):
        return {q: {t: 1.0 for t in self.memory_.get(text, ())} for q, text in queries.items()}


def test_no_leakage_write_ups_scored_are_never_trained_on(ctx, tmp_path, monkeypatch):
    from mapper.model.writeups import WriteUp

    monkeypatch.setitem(methods_mod.BUILTIN, "memorise", MemoriseWriteups)
    train = [WriteUp(f"w{n}", f"write-up number {n}", ("AML.T0051",)) for n in range(10)]
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps({"id": w.id, "text": w.text, "techniques": ["AML.T0051"]}) + "\n" for w in train))
    honest = run_eval([str(path)], "loco", methods=["memorise"], ctx=ctx, writeups=train)["items"]
    assert honest["methods"]["memorise"]["metrics"]["MAP"] == 0.0  # each item was held out of its fold's training
    # the same texts under other ids are not training write-ups: the memoriser is then perfect, so it can tell
    path.write_text(path.read_text().replace('"id": "w', '"id": "copy-w'))
    cheat = run_eval([str(path)], "loco", methods=["memorise"], ctx=ctx, writeups=train)["items"]
    assert cheat["methods"]["memorise"]["metrics"]["MAP"] == 1.0


def test_a_saved_model_is_refused_on_the_write_ups_it_learned_from(ctx, tmp_path):
    from mapper.model.writeups import WriteUp

    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"id": "w1", "text": "a chatbot", "techniques": ["AML.T0051"]}) + "\n")
    with pytest.raises(UsageError, match="learned from the shipped write-ups"):
        run_eval([str(path)], "loco", methods=[f"default:model_dir={tmp_path}"], ctx=ctx,
                 writeups=[WriteUp("w1", "a chatbot", ("AML.T0051",))])


def test_popularity_loco_matches_a_hand_worked_example(ctx):
    # Each fold counts the techniques of the two training studies; ties are broken by technique ID.
    # held CS0000: 0.5 for T0000.002, T0029, T0040, T0051.000 -> T0040 3rd, T0020 6th: AP = (1/3 + 2/6) / 2
    # held CS0001: T0040 1.0, T0020 and T0029 0.5 -> T0000.002 5th, T0051.000 7th: AP = (1/5 + 2/7) / 2
    # held CS0002: 0.5 for T0000.002, T0020, T0040, T0051.000 -> T0040 3rd, T0029 6th: AP = (1/3 + 2/6) / 2
    report = run_eval(["narrative"], "loco", methods=["popularity"], ctx=ctx)["narrative"]
    items = {i["id"]: i["gold"] for i in report["methods"]["popularity"]["items"]}
    assert items == {"AML.CS0000": {"AML.T0020": 6, "AML.T0040": 3}, "AML.CS0001": {"AML.T0000.002": 5, "AML.T0051.000": 7},
                     "AML.CS0002": {"AML.T0029": 6, "AML.T0040": 3}}
    expected = [(1 / 3 + 2 / 6) / 2, (1 / 5 + 2 / 7) / 2, (1 / 3 + 2 / 6) / 2]
    assert report["methods"]["popularity"]["metrics"]["MAP"] == pytest.approx(sum(expected) / 3, abs=1e-4)


def test_all_methods_run_and_report(ctx, tmp_path):
    reports = run_eval(["narrative", "steps"], "loco", ctx=ctx)
    for report in reports.values():
        assert set(report["methods"]) == {"popularity", "tfidf", "rcatt", "dense", "default"}
        for m in report["methods"].values():
            assert len(m["items"]) == report["dataset"]["queries"]
            # ir-measures' reciprocal rank agrees with the ranks the per-item view gives the gold techniques
            for item in m["items"]:
                if item["gold"]:
                    assert item["metrics"]["RR"] == pytest.approx(1 / min(item["gold"].values()), abs=1e-4)
    again = run_eval(["narrative", "steps"], "loco", ctx=ctx)
    assert _without_time(again) == _without_time(reports)
    table = render_table(reports["steps"])
    assert "Success@1" in table and "*" in table
    paths = write_outputs(reports["narrative"], tmp_path, "narrative-loco", "atlas-mapper eval ...")
    assert [p.name for p in paths] == ["narrative-loco.json", "narrative-loco.md", "narrative-loco.png",
                                       "narrative-loco-calibration.png"]  # the reliability diagram
    assert paths[2].read_bytes()[:4] == b"\x89PNG" and paths[3].read_bytes()[:4] == b"\x89PNG"
    assert "| default |" in render_markdown(reports["narrative"]).split("## Calibration")[1]
    assert "| default |" in render_markdown(reports["narrative"])


def test_zero_shot_protocol_skips_learning_baselines(ctx):
    report = run_eval(["narrative"], "zero-shot", ctx=ctx)["narrative"]
    assert set(report["methods"]) == {"tfidf", "dense", "default"}
    assert "popularity" in report["skipped"] and "rcatt" in report["skipped"]


def test_unknown_method_and_protocol(ctx):
    with pytest.raises(UsageError):
        run_eval(["narrative"], "loco", methods=["nope"], ctx=ctx)
    with pytest.raises(UsageError):
        run_eval(["narrative"], "kfold", ctx=ctx)


def _without_time(reports):
    out = {}
    for name, report in reports.items():
        out[name] = {k: {kk: vv for kk, vv in v.items() if kk not in ("seconds_per_query", "fit_seconds_per_fold")}
                     for k, v in report["methods"].items()}
    return out


def test_saved_model_can_be_scored_on_a_labelled_file(ctx, mini_mapper, tmp_path):
    import yaml

    saved = next(p for p in (tmp_path / "models" / "ranker").iterdir() if p.is_dir())
    items = tmp_path / "items.yaml"
    items.write_text(yaml.safe_dump([{"id": "x", "text": "poison the training data", "techniques": ["AML.T0020"]}]))
    report = run_eval([str(items)], "loco", methods=[f"default:model_dir={saved}"], ctx=ctx)["items"]
    (method,) = report["methods"].values()
    (item,) = method["items"]
    # the saved model is used as it is: its ranking is the mapper's own
    mapped = [h.id for h in mini_mapper.map("poison the training data", threshold=0.0).techniques]
    assert method["queries"] == 1 and item["gold"] == {"AML.T0020": mapped.index("AML.T0020") + 1}


def test_a_saved_model_is_refused_on_held_out_case_studies(ctx, older, mini_mapper, tmp_path):
    saved = next(p for p in (tmp_path / "models" / "ranker").iterdir() if p.is_dir())
    for protocol in ("loco", "temporal", "temporal-studies"):
        with pytest.raises(UsageError, match="saw every case study"):
            run_eval(["narrative"], protocol, methods=[f"default:model_dir={saved}"], ctx=ctx, older=older)


def test_method_options_are_typed_from_the_signature():
    from mapper.model.stacker import Stacker

    _, _, params = parse_method("default:ai_gate=false,drop_features=head_vote_max,head_C=0.25,inner_folds=2")
    assert params == {"ai_gate": False, "drop_features": ("head_vote_max",), "head_C": 0.25, "inner_folds": 2}
    assert parse_method("default:writeups=false,writeup_weight=5")[2] == {"writeups": False, "writeup_weight": 5.0}
    assert parse_method("default:C_grid=0.1+1+10")[2] == {"C_grid": (0.1, 1.0, 10.0)}
    assert parse_method("rcatt:C=2")[2] == {"C": 2.0}
    # an exact feature name drops that feature alone, not every name containing it
    keep = Stacker(drop_features=("head_vote_max",))._keep()
    assert [n for n, k in zip(FEATURE_NAMES, keep) if not k] == ["head_vote_max"]
    for bad, message in [("default:ai_gate=maybe", "true or false"), ("default:colour=red", "no option 'colour'"),
                         ("default:drop_features=head_vote_maximum", "unknown value"),
                         ("default:inner_folds=two", "integer"), ("popularity:C=1", "no option"),
                         ("default:head_C", "key=value"), ("default:inner_folds=1", "at least 2"),
                         ("default:coverage=2", r"coverage must be in \(0, 1\]"), ("default:training_kinds=", "at least one kind"),
                         ("rcatt:C=0", "C must be positive")]:
        with pytest.raises(UsageError, match=message):
            parse_method(bad)


CANARY = "zqxvlorbcanary"


def _marked(kb, study_id: str):
    """The knowledge base with one study's every text carrying a made-up token."""
    def mark(study):
        if study.id != study_id:
            return study
        steps = tuple(dataclasses.replace(s, description=f"{s.description} {CANARY}") for s in study.steps)
        return dataclasses.replace(study, summary=f"{study.summary} {CANARY}", steps=steps)
    return dataclasses.replace(kb, case_studies=[mark(s) for s in kb.case_studies])


def _fitted_per_fold(kb, ctx, monkeypatch):
    """Run a loco evaluation of the default pipeline and rcatt; return what each fold fitted."""
    fitted = {}

    def spy(base):
        class Spy(base):
            def fit(self, studies, *writeups):
                super().fit(studies, *writeups)
                held = ({s.id for s in kb.case_studies} - {s.id for s in studies}).pop()
                fitted[(base.name, held)] = self
                return self
        return Spy

    monkeypatch.setitem(methods_mod.BUILTIN, "default", spy(methods_mod.Pipeline))
    monkeypatch.setitem(methods_mod.BUILTIN, "rcatt", spy(methods_mod.RcattStyle))
    run_eval(["narrative", "steps", "summary"], "loco", methods=["default", "rcatt"],
             ctx=Context(kb, ctx.encoder, ctx.index))
    return fitted


def _everything_fitted(method) -> tuple[str, dict]:
    if hasattr(method, "ranker_"):
        meta, arrays = method.ranker_.state()
        return json.dumps(meta, sort_keys=True, default=str) + str(method.threshold_), arrays
    meta, arrays = method.vectorizer_.state()
    return json.dumps(meta, sort_keys=True) + str(method.threshold_), {
        **arrays, "coef": np.vstack([e.coef_ for e in method.model_.estimators_])}


def test_a_held_out_studys_canary_reaches_nothing_fitted_in_its_fold(ctx, monkeypatch):
    plain = _fitted_per_fold(ctx.kb, ctx, monkeypatch)
    marked = _fitted_per_fold(_marked(ctx.kb, "AML.CS0001"), ctx, monkeypatch)
    others = {s.id: s.narrative() for s in ctx.kb.case_studies if s.id != "AML.CS0001"}
    for name in ("default", "rcatt"):
        text, arrays = _everything_fitted(marked[(name, "AML.CS0001")])
        assert CANARY not in text  # vocabularies, exemplars' sources, thresholds, co-occurrence, parameters
        same_text, same_arrays = _everything_fitted(plain[(name, "AML.CS0001")])
        assert text == same_text and arrays.keys() == same_arrays.keys()
        for key in arrays:
            np.testing.assert_array_equal(arrays[key], same_arrays[key])
        # and the fold's model scores every other study exactly as without the token
        assert marked[(name, "AML.CS0001")].rank(others) == plain[(name, "AML.CS0001")].rank(others)
    # where the marked study is in training, the token does reach what is fitted: the check can fail
    for name in ("default", "rcatt"):
        assert CANARY in _everything_fitted(marked[(name, "AML.CS0000")])[0]


def test_doc_fields_option_is_validated_and_keeps_its_own_index(mini_kb, tiny_encoder, tmp_path):
    from atlas_eval.harness import parse_doc_fields

    from mapper.encode.encoders import CachedEncoder
    from mapper.encode.index import DEFAULT_DOC_FIELDS
    from mapper.pipeline import open_index

    assert parse_doc_fields(None) == DEFAULT_DOC_FIELDS
    assert parse_doc_fields("name, description") == ("name", "description")
    with pytest.raises(UsageError, match="unknown document field"):
        parse_doc_fields("name,colour")
    encoder = CachedEncoder(tiny_encoder)
    default = open_index(mini_kb, encoder, tmp_path)
    other = open_index(mini_kb, encoder, tmp_path, doc_fields=("name",))
    assert default.documents != other.documents
    assert len(list((tmp_path / "index").glob("*/manifest.json"))) == 2  # neither replaced the other


# -- how the report words its folds, and the per-tactic section of every method ----------------------------------
def _synthetic_report(task: str, protocol: str, folds: int, methods=("popularity", "default")) -> dict:
    def method(i: int) -> dict:
        tactic = {"name": f"Tactic of {i}", "gold": 2, "R@10": 0.5, "P": 0.25, "R": 0.5, "F1": 1 / 3}
        return {"metrics": {"MAP": 0.1 * (i + 1)}, "ci": {}, "parent_metrics": {}, "parent_ci": {},
                "per_tactic": {f"AML.TA000{i}": tactic}, "calibration": None, "seconds_per_query": 0.01, "queries": 3}

    return {"dataset": {"name": task, "queries": 3, "labelled": 3, "out_of_scope": 0, "labels": 4,
                        "unknown_labels": [], "mapped_labels": {}},
            "protocol": protocol, "folds": folds, "atlas": {"release": "v2026.05"}, "encoder": "tiny", "skipped": {},
            "methods": {name: method(i) for i, name in enumerate(methods)}}


@pytest.mark.parametrize("task, protocol, folds, words", [
    ("narrative", "loco", 57, "protocol loco (57 folds)"),
    ("narrative", "temporal", 1, "protocol temporal (1 fold)"),
    ("ai-test", "loco", 1, "protocol loco (1 fold: a labelled file is not split by case study, so every item was "
                           "scored by methods trained on all case studies)"),
    ("ai-dev", "loco", 5, "protocol loco (5 folds in the run: a labelled file is scored by methods trained on all "
                          "case studies, its items that are also training write-ups in cross-validation folds"),
    ("ai-test", "zero-shot", 2, "protocol zero-shot (nothing learned from case studies or write-ups)"),
])
def test_the_folds_are_worded_for_what_they_are(task, protocol, folds, words):
    report = _synthetic_report(task, protocol, folds)
    for text in (render_table(report), render_markdown(report)):
        assert words in text and "1 folds" not in text


def test_the_markdown_report_has_a_per_tactic_table_for_every_method():
    text = render_markdown(_synthetic_report("narrative", "loco", 3, ("popularity", "tfidf", "default")))
    section = text.split("## Per tactic")[1]
    for i, name in enumerate(("popularity", "tfidf", "default")):
        table = section.split(f"### {name}\n")[1].split("###")[0]
        assert f"| Tactic of {i} | 2 | 0.500 | 0.250 | 0.500 | 0.333 |" in table


def test_a_labelled_file_is_scored_in_one_fold_and_says_so(ctx, tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"id": "x", "text": "the training data was poisoned", "techniques": ["AML.T0020"]}) + "\n")
    report = run_eval([str(path)], "loco", methods=["popularity", "tfidf"], ctx=ctx)["items"]
    assert report["folds"] == 1
    assert "protocol loco (1 fold: a labelled file is not split by case study" in render_table(report)
    assert "### popularity" in render_markdown(report) and "### tfidf" in render_markdown(report)
