"""Our own write-ups (data/labelling/own): well formed, and their writers' intended labels name real techniques."""

import json
from pathlib import Path

import pytest

from conftest import RELEASES, ROOT

FOLDER = ROOT / "data" / "labelling" / "own"
FORMS = {"news", "ticket", "advisory", "redteam", "social", "markup", "long"}
SCOPES = {"attack", "ai_no_adversary", "not_ai"}


def rows():
    return [json.loads(line) for path in sorted(FOLDER.glob("texts-*.jsonl")) for line in path.read_text().splitlines()]


def test_own_writeups_are_well_formed():
    texts = rows()
    assert len(texts) >= 300
    assert len({r["id"] for r in texts}) == len(texts)
    for r in texts:
        assert r["form"] in FORMS and r["scope"] in SCOPES and r["text"].strip(), r["id"]
        assert bool(r["intended"]) == (r["scope"] == "attack") or r["scope"] == "attack", r["id"]
        assert "AML." not in r["text"], r["id"]  # no ATLAS ID in a text


@pytest.mark.integration
@pytest.mark.skipif(not (RELEASES / "v2026.05").is_dir(), reason="../shared/atlas not present")
def test_intended_labels_name_techniques_of_the_release_with_parents():
    from mapper.kb import load_kb

    kb = load_kb(RELEASES / "v2026.05" / "ATLAS-2026.05.yaml")
    for r in rows():
        unknown = [t for t in r["intended"] if t not in kb.techniques]
        assert not unknown, (r["id"], unknown)
        parents = {kb.techniques[t].parent for t in r["intended"] if kb.techniques[t].parent}
        assert parents <= set(r["intended"]), (r["id"], parents - set(r["intended"]))
