"""The report page's plain data: cards strongest first (or by tactic), full names, near misses, cited sentences."""

from __future__ import annotations

from mapper.serve.pages import report_view

TEXT = "The bot was tricked.\n\nIt leaked its prompt.\n\nThe weather was fine."


def _hit(kb, tid, score, spans=()):
    tech = kb.techniques[tid]
    tactics = [{"id": t, "name": kb.tactic_by_id[t].name} for t in (tech.tactics or kb.techniques[tech.parent].tactics)]
    return {"id": tid, "name": tech.name, "tactics": tactics, "score": score, "band": "high",
            "evidence": [{"text": TEXT[s:e], "start": s, "end": e, "score": score} for s, e in spans]}


def _report(hits, near=()):
    return {"text": TEXT, "result": {"techniques": hits, "near_misses": list(near)}, "reviews": [], "explain": {}}


def test_cards_come_strongest_first_whatever_their_tactic(mini_kb):
    # the weakest card's tactic comes first in matrix order: grouping by tactic would open on it
    hits = [_hit(mini_kb, "AML.T0051.000", 0.9, [(0, 20)]), _hit(mini_kb, "AML.T0000", 0.1, [(22, 43)]),
            _hit(mini_kb, "AML.T0029", 0.5, [(22, 43)])]
    view = report_view(_report(hits), [], {}, mini_kb)
    cards = [c for g in view["groups"] for c in g["cards"]]
    assert [c["id"] for c in cards] == ["AML.T0051.000", "AML.T0029", "AML.T0000"]
    assert cards[0]["name"] == mini_kb.full_name("AML.T0051.000") and ":" in cards[0]["name"]
    assert all(c["tactics"] for c in cards)


def test_grouping_by_tactic_is_the_matrix_order_strongest_first_within(mini_kb):
    hits = [_hit(mini_kb, "AML.T0051.000", 0.9), _hit(mini_kb, "AML.T0000", 0.1), _hit(mini_kb, "AML.T0029", 0.5)]
    view = report_view(_report(hits), [], {}, mini_kb, group_by="tactic")
    order = {t.id: i for i, t in enumerate(mini_kb.tactics)}
    firsts = [order[g["id"]] for g in view["groups"]]
    assert firsts == sorted(firsts) and len(view["groups"]) >= 2


def test_only_cited_sentences_are_marked(mini_kb):
    view = report_view(_report([_hit(mini_kb, "AML.T0029", 0.5, [(22, 43)])]), [], {}, mini_kb)
    marked = [s for s in view["segments"] if s["sentence"] and s["techniques"]]
    assert [s["text"] for s in marked] == ["It leaked its prompt."]
    assert "".join(s["text"] for s in view["segments"]) == TEXT


def test_near_misses_are_shown_when_nothing_is_listed(mini_kb):
    near = [{"id": "AML.T0051.000", "name": "Direct", "score": 0.04}]
    view = report_view(_report([], near), [], {}, mini_kb)
    assert view["n_cards"] == 0 and view["near_misses"][0]["name"] == mini_kb.full_name("AML.T0051.000")


def test_an_unknown_ordering_is_refused(mini_mapper, tmp_path):
    import pytest

    from mapper.errors import UsageError
    from mapper.serve.workbench import Workbench

    bench = Workbench(tmp_path / "w.sqlite3", mini_mapper, tmp_path / "models")
    report = bench.create_report("The attackers evaded the malware classifier model.")
    with pytest.raises(UsageError, match="tactic"):
        bench.page(report["id"], "alphabet")
    bench.close()
