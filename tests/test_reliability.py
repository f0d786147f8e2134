"""Reliability: the bad-input matrix through the real command line, and faults injected into
real processes (killed batches, killed index builds, concurrent training, read-only places).

The count of bad-input cases quoted in the README is ``len(BAD_INPUTS) + len(BAD_RECORDS)``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mapper.cli import main

from conftest import FIXTURE_ATLAS, run_in_processes

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-c", "from mapper.cli import entry; entry()"]

EMAIL = (
    "From: soc@example.org\nTo: ir-team@example.org\nSubject: RE: chatbot incident\n"
    "Date: Tue, 3 Nov 2026 10:00:00 +0000\n\nHi all,\n\nUsers flooded the chatbot with abusive messages and it "
    "learned from them, so its training data was poisoned.\n\n> On Mon, Bob wrote:\n> Can you check the model?\n"
    "> Thanks\n\n-- \nSOC\n"
)

# (name, file bytes, expected exit code, a fragment the one-line error must contain)
BAD_INPUTS = [
    ("empty file", b"", 0, None),
    ("only whitespace", b" \n\t \r\n  ", 0, None),
    ("only punctuation", b"...!!! ??? --- ;;;", 0, None),
    ("a single word", b"poisoning", 0, None),
    ("10 MB write-up", b"The model was poisoned. " * 440_000, 3, "--max-chars"),
    ("50,000-character sentence without punctuation", b"poison the training data of the model " * 1_350, 0, None),
    ("not UTF-8", "caf\xe9 mod\xe8le empoisonn\xe9".encode("latin-1"), 3, "not UTF-8"),
    ("UTF-8 byte-order mark", "\ufeffThe chatbot's training data was poisoned.".encode(), 0, None),
    ("NUL bytes", b"The training\x00 data was\x00\x00 poisoned.", 0, None),
    ("control characters", b"The \x07training\x1b[31m data\x08 was poisoned.\x0c", 0, None),
    ("right-to-left text", "\u05d4\u05de\u05d5\u05d3\u05dc \u05d4\u05d5\u05e8\u05e2\u05dc. \u0627\u0644\u0646\u0645\u0648\u0630\u062c \u062a\u0633\u0645\u0645.".encode(), 0, None),
    ("emoji", "🤖 The chatbot 🧪 learned 💬 abuse from users 😡 and its data was poisoned 🔥.".encode(), 0, None),
    ("another language", "Des attaquants ont empoisonné les données d'entraînement du modèle.".encode(), 0, None),
    ("HTML", b"<html><body><h1>Incident</h1><p>Attackers <b>poisoned</b> the training data.</p>"
             b"<script>alert(1)</script></body></html>", 0, None),
    ("markdown", b"# Incident\n\n* **Poisoned** the [training data](http://x)\n* `model` drifted\n\n| a | b |\n|---|---|\n", 0, None),
    ("a pasted e-mail with headers and quoted replies", EMAIL.encode(), 0, None),
]

# JSONL batch records: every bad one gets its own error line with its input line number
BAD_RECORDS = [
    ("good", json.dumps({"id": "a", "text": "The training data was poisoned."}).encode(), None),
    ("malformed JSON", b'{"id": "b", "text": ', "not valid JSON"),
    ("missing text", json.dumps({"id": "c"}).encode(), "missing 'text'"),
    ("text not a string", json.dumps({"id": "d", "text": 42}).encode(), "missing 'text'"),
    ("duplicate id", json.dumps({"id": "a", "text": "again"}).encode(), "duplicate id"),
    ("not an object", b"[1, 2, 3]", "not a JSON object"),
    ("empty line", b"", "empty line"),
    ("not UTF-8", b'{"id": "e", "text": "caf\xe9"}', "not UTF-8"),
    ("a 50 MB line", b'{"id": "f", "text": "' + b"x" * 50_000_000 + b'"}', "over the limit"),
    ("good after all that", json.dumps({"id": "g", "text": "A chatbot learned abuse."}).encode(), None),
]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One cache for the module: the fixture release's index and ranker are built once."""
    return tmp_path_factory.mktemp("reliability-cache")


def _decoded(raw: bytes) -> str:
    return raw.decode("utf-8-sig").replace("\x00", " ")


@pytest.mark.parametrize("name,raw,code,fragment", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_a_result_or_a_one_line_error(name, raw, code, fragment, tmp_path, shared_cache,
                                                      monkeypatch, capsys):
    monkeypatch.setenv("ATLAS_MAPPER_CACHE", str(shared_cache))
    path = tmp_path / "input.txt"
    path.write_bytes(raw)
    got = main(["map", str(path), "--format", "json", "--atlas", str(FIXTURE_ATLAS), "--threshold", "0.0"])
    out, err = capsys.readouterr()
    assert got == code, err
    assert "Traceback" not in err
    if code != 0:
        assert out == "" and err.count("\n") == 1 and err.startswith("atlas-mapper: error:") and fragment in err
        return
    result = json.loads(out)
    scores = [t["score"] for t in result["techniques"]]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    text = _decoded(raw)
    for technique in result["techniques"]:
        for evidence in technique["evidence"]:
            assert text[evidence["start"]:evidence["end"]] == evidence["text"]
    if not text.strip(" \n\t\r.!?-;"):
        assert result["techniques"] == []  # nothing to map is not an error, and not a guess


def test_batch_reports_each_bad_record_on_its_own_line(tmp_path, shared_cache, monkeypatch, capsys):
    monkeypatch.setenv("ATLAS_MAPPER_CACHE", str(shared_cache))
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(raw for _, raw, _ in BAD_RECORDS) + b"\n")
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(source), str(out), "--atlas", str(FIXTURE_ATLAS)]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in rows] == list(range(1, len(BAD_RECORDS) + 1))
    for (name, _, fragment), row in zip(BAD_RECORDS, rows):
        if fragment is None:
            assert "error" not in row and "techniques" in row, name
        else:
            assert fragment in row["error"], (name, row["error"])


def test_same_input_same_output_across_processes(tmp_path, shared_cache):
    env = dict(os.environ, ATLAS_MAPPER_CACHE=str(shared_cache))
    args = ["map", "--text", "Users poisoned the chatbot's training data with abuse.", "--format", "json",
            "--atlas", str(FIXTURE_ATLAS), "--threshold", "0"]
    outs = {subprocess.run(CLI + args, capture_output=True, env=env, check=True).stdout for _ in range(2)}
    assert len(outs) == 1 and json.loads(outs.pop())["techniques"]


# -- faults injected into real processes -------------------------------------------------
def test_killed_batch_resumes_without_duplicates_or_gaps(tmp_path, shared_cache):
    env = dict(os.environ, ATLAS_MAPPER_CACHE=str(shared_cache))
    subprocess.run(CLI + ["map", "--text", "warm the cache", "--atlas", str(FIXTURE_ATLAS)], env=env, check=True,
                   capture_output=True)
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial.jsonl"  # a run's lines until it finishes and renames them to out
    n = 3000
    with open(source, "w", encoding="utf-8") as handle:
        for i in range(n):
            handle.write(json.dumps({"id": f"r{i}", "text": f"Record {i}: the model's training data was poisoned."}) + "\n")
    args = ["batch", str(source), str(out), "--atlas", str(FIXTURE_ATLAS)]
    proc = subprocess.Popen(CLI + args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not partial.exists() or partial.read_bytes().count(b"\n") < 100):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = partial.read_bytes().count(b"\n")
    assert 100 <= done_before < n, "the batch should have been killed part-way"
    assert not out.exists()  # a killed run never leaves a half-written output
    subprocess.run(CLI + args + ["--resume"], env=env, check=True, capture_output=True)
    ids = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert ids == [f"r{i}" for i in range(n)] and not partial.exists()


class _SlowEncoder:
    name = "slow-tiny"
    fingerprint = "slow-tiny-v1"

    def encode(self, texts):
        sys.path.insert(0, str(HERE))
        from conftest import TinyEncoder

        time.sleep(30)  # long enough to be killed in the middle of a build
        return TinyEncoder().encode(texts)


def _build_slowly(target: str, fixture: str) -> None:
    from mapper.encode.index import TechniqueIndex
    from mapper.kb import load_kb

    TechniqueIndex.load_or_build(Path(target), load_kb(fixture), _SlowEncoder())


def test_index_build_killed_midway_is_rebuilt_not_trusted(tmp_path, fixture_atlas, mini_kb):
    from mapper.encode.index import TechniqueIndex

    sys.path.insert(0, str(HERE))
    from conftest import TinyEncoder

    target = tmp_path / "idx"
    proc = mp.get_context("spawn").Process(target=_build_slowly, args=(str(target), str(fixture_atlas)))
    proc.start()
    deadline = time.time() + 60
    while time.time() < deadline and not target.with_suffix(".lock").exists():
        time.sleep(0.05)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    encoder = TinyEncoder()
    index = TechniqueIndex.load_or_build(target, mini_kb, encoder)  # the dead process's lock is released
    assert encoder.calls == 1  # rebuilt: nothing half-built was trusted
    assert TechniqueIndex.load(target).ids == index.ids


def _train(root: str, fixture: str, queue) -> None:
    sys.path.insert(0, str(HERE))
    from conftest import TinyEncoder

    from mapper.encode.encoders import CachedEncoder
    from mapper.encode.index import TechniqueIndex
    from mapper.kb import load_kb
    from mapper.model.ranker import TechniqueRanker
    from mapper.pipeline import Mapper

    fits = []
    original = TechniqueRanker.fit

    def counting_fit(self, *args, **kwargs):
        fits.append(1)
        return original(self, *args, **kwargs)

    TechniqueRanker.fit = counting_fit
    kb = load_kb(fixture)
    encoder = CachedEncoder(TinyEncoder())
    index = TechniqueIndex.load_or_build(Path(root) / "index", kb, encoder)
    from mapper.model.writeups import benchmark_writeups
    mapper = Mapper.from_parts(kb, encoder, index, Path(root), {"C_grid": (1.0,)}, writeups=benchmark_writeups())
    queue.put((len(fits), mapper.map("poison the training data", threshold=0.0).to_json()))


def test_two_processes_training_one_model_train_it_once(tmp_path, fixture_atlas):
    results = run_in_processes(_train, (str(tmp_path), str(fixture_atlas)))
    assert sorted(n for n, _ in results) == [0, 1]  # one trained; the other waited and loaded it
    assert results[0][1] == results[1][1]


def test_install_folder_is_never_written_and_an_unwritable_cache_still_maps(tmp_path):
    """A copy of the package outside any checkout, with its cache location blocked by a file."""
    import shutil

    install = tmp_path / "site"
    shutil.copytree(HERE.parent / "mapper", install / "mapper", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(HERE.parent / "data", install / "data")
    before = {p: p.stat().st_mtime_ns for p in install.rglob("*")}
    blocker = tmp_path / "home-is-a-file"
    blocker.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_MAPPER")}
    env.update(PYTHONPATH=str(install), HOME=str(blocker), XDG_CACHE_HOME=str(blocker / "cache"),
               PYTHONDONTWRITEBYTECODE="1", ATLAS_MAPPER_CORPUS="off")  # minutes less, and nothing else it tests
    code = ("import sys; sys.argv=['atlas-mapper','map','--text','the training data was poisoned',"
            f"'--format','json','--threshold','0','--atlas',{str(FIXTURE_ATLAS)!r}]; "
            "import mapper.cli as c; assert c.__file__.startswith(" + repr(str(install)) + "); c.entry()")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["techniques"]
    assert "ATLAS_MAPPER_CACHE" in run.stderr  # the warning says where it needs to write
    after = {p: p.stat().st_mtime_ns for p in install.rglob("*")}
    assert after == before
    assert blocker.read_text() == ""
