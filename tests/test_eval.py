"""The evaluation harness: metrics by hand, datasets, protocols, and the no-leakage rule."""

import json

import pytest

from atlas_eval import methods as methods_mod
from atlas_eval.datasets import case_study_task, load_labelled_file
from atlas_eval.harness import run_eval
from atlas_eval.methods import Context
from atlas_eval.metrics import parent_level_run, ranking_metrics, set_metrics
from atlas_eval.report import render_markdown, render_table, write_outputs
from atlas_eval.runner import make_folds
from mapper.encoders import CachedEncoder
from mapper.errors import InputError, UsageError
from mapper.index import TechniqueIndex


@pytest.fixture
def ctx(mini_kb, tiny_encoder):
    encoder = CachedEncoder(tiny_encoder)
    return Context(mini_kb, encoder, TechniqueIndex.build(mini_kb, encoder))


def test_ranking_metrics_match_a_hand_computed_example():
    qrels = {"q1": {"a": 1, "c": 1}, "q2": {"b": 1}}
    run = {"q1": {"a": 0.9, "b": 0.8, "c": 0.7}, "q2": {"a": 0.9, "b": 0.8, "c": 0.1}}
    agg, per_query = ranking_metrics(qrels, run)
    # q1: hits at ranks 1 and 3 -> AP = (1/1 + 2/3) / 2 = 0.8333; RR = 1; Success@1 = 1; R@5 = 1
    # q2: hit at rank 2 -> AP = 1/2; RR = 0.5; Success@1 = 0; P@5 = 1/5
    assert per_query["q1"]["AP"] == pytest.approx(5 / 6)
    assert per_query["q2"]["RR"] == pytest.approx(0.5)
    assert agg["MAP"] == pytest.approx((5 / 6 + 0.5) / 2)
    assert agg["Success@1"] == pytest.approx(0.5)
    assert agg["P@5"] == pytest.approx((2 / 5 + 1 / 5) / 2)
    assert agg["R@10"] == pytest.approx(1.0)


def test_a_query_that_retrieves_nothing_scores_zero():
    agg, _ = ranking_metrics({"q1": {"a": 1}, "q2": {"b": 1}}, {"q1": {"a": 1.0}, "q2": {}})
    assert agg["MAP"] == pytest.approx(0.5)


def test_set_metrics_micro_and_macro():
    qrels = {"q1": {"a": 1, "b": 1}, "q2": {"c": 1}}
    pred = {"q1": {"a"}, "q2": {"c", "d"}}
    m = set_metrics(qrels, pred)
    # micro: tp=2, fp=1, fn=1 -> P=R=F1=2/3
    assert m["P-micro"] == pytest.approx(2 / 3) and m["R-micro"] == pytest.approx(2 / 3)
    # macro over a,b,c,d: F1 = (1 + 0 + 1 + 0) / 4
    assert m["F1-macro"] == pytest.approx(0.5)
    assert m["covered"] == 1.0  # both queries have one correct prediction
    assert set_metrics(qrels, {"q1": {"b"}, "q2": set()})["covered"] == 0.5


def test_parent_level_keeps_best_family_score():
    run = {"q": {"AML.T0051": 0.2, "AML.T0051.000": 0.9, "AML.T0020": 0.5}}
    assert parent_level_run(run) == {"q": {"AML.T0051": 0.9, "AML.T0020": 0.5}}


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


def test_loco_folds_never_train_on_the_held_out_study(mini_kb):
    datasets = [case_study_task(mini_kb, t) for t in ("steps", "narrative")]
    folds = make_folds(mini_kb, datasets, "loco")
    assert [f.name for f in folds] == ["AML.CS0000", "AML.CS0001", "AML.CS0002"]
    for fold in folds:
        assert fold.name not in {s.id for s in fold.train}
        for ds in datasets:
            assert all(ds.groups[q] == fold.name for q in fold.test_ids[ds.name])


def test_temporal_folds(mini_kb):
    ds = case_study_task(mini_kb, "narrative")
    (fold,) = make_folds(mini_kb, [ds], "temporal", train_ids={"AML.CS0000", "AML.CS0001"})
    assert [s.id for s in fold.train] == ["AML.CS0000", "AML.CS0001"]
    assert fold.test_ids["narrative"] == ["AML.CS0002"]
    with pytest.raises(UsageError):
        make_folds(mini_kb, [ds], "temporal")


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


def test_all_methods_run_and_report(ctx, tmp_path):
    reports = run_eval(["narrative", "steps"], "loco", ctx=ctx)
    for report in reports.values():
        assert set(report["methods"]) == {"popularity", "tfidf", "rcatt", "dense", "default"}
        for m in report["methods"].values():
            assert 0.0 <= m["metrics"]["MAP"] <= 1.0 and m["seconds_per_query"] >= 0
            assert len(m["items"]) == report["dataset"]["queries"]
    again = run_eval(["narrative", "steps"], "loco", ctx=ctx)
    assert json.dumps(again, sort_keys=True, default=str) != "" and _without_time(again) == _without_time(reports)
    table = render_table(reports["steps"])
    assert "Success@1" in table and "*" in table
    paths = write_outputs(reports["narrative"], tmp_path, "narrative-loco", "atlas-mapper eval ...")
    assert [p.suffix for p in paths] == [".json", ".md", ".png"]
    assert paths[2].read_bytes()[:4] == b"\x89PNG"
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
    assert method["queries"] == 1 and 0.0 <= method["metrics"]["MAP"] <= 1.0


def test_doc_fields_option_is_validated_and_keeps_its_own_index(mini_kb, tiny_encoder, tmp_path):
    from atlas_eval.harness import parse_doc_fields

    from mapper.encoders import CachedEncoder
    from mapper.index import DEFAULT_DOC_FIELDS
    from mapper.rank import open_index

    assert parse_doc_fields(None) == DEFAULT_DOC_FIELDS
    assert parse_doc_fields("name, description") == ("name", "description")
    with pytest.raises(UsageError, match="unknown document field"):
        parse_doc_fields("name,colour")
    encoder = CachedEncoder(tiny_encoder)
    default = open_index(mini_kb, encoder, tmp_path)
    other = open_index(mini_kb, encoder, tmp_path, doc_fields=("name",))
    assert default.documents != other.documents
    assert len(list((tmp_path / "index").glob("*/manifest.json"))) == 2  # neither replaced the other
