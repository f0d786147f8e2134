"""Packaging: the wheel holds everything the package reads at run time, and an installed wheel maps.

The slow test builds the wheel, installs it (not editable) into a fresh virtual environment and runs
the CLI from a folder outside the checkout, as a user would after ``pip install atlas-mapper``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mapper.files
from mapper import __version__
from mapper.errors import MapperError

from conftest import LATEST, ROOT

WRITE_UP = (
    "A user typed a message into the company's support chatbot telling it to ignore its previous instructions. "
    "The chatbot then revealed its hidden system prompt and the internal discount codes it had been given."
)
LABELLED = """\
- id: injection
  techniques: [AML.T0051]
  text: >-
    A user told the customer-service chatbot to ignore its instructions and pretend it had no rules, and the
    bot then produced the content it was designed to refuse.
- id: poisoning
  techniques: [AML.T0020, AML.T0115.000]
  text: >-
    An attacker submitted thousands of deliberately wrong labels to a crowdsourced labelling platform, and the
    next version of the model trained on that data misread stop signs.
- id: payroll-phishing
  techniques: []
  text: >-
    An employee answered an e-mail pretending to come from payroll and typed their password into a fake page.
"""


def _fake_install(tmp_path: Path, monkeypatch, packaged: tuple[str, ...], checkout: tuple[str, ...]):
    """mapper/files.py under tmp_path, with these files in mapper/_data and in the checkout's data/."""
    for folder, names in ((tmp_path / "mapper" / "_data", packaged), (tmp_path / "data", checkout)):
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text('{"default": "x"}')
    monkeypatch.setattr(mapper.files, "__file__", str(tmp_path / "mapper" / "files.py"))
    monkeypatch.setattr(mapper.files, "PROJECT_ROOT", tmp_path)


def test_data_dir_skips_a_partial_packaged_copy(tmp_path, monkeypatch):
    # the layout of the broken wheel of issue 10: releases.json packaged, encoders.json not
    _fake_install(tmp_path, monkeypatch, packaged=("releases.json",), checkout=mapper.files.DATA_FILES)
    assert mapper.files.data_dir() == tmp_path / "data"


def test_data_dir_prefers_the_packaged_copy(tmp_path, monkeypatch):
    _fake_install(tmp_path, monkeypatch, packaged=mapper.files.DATA_FILES, checkout=mapper.files.DATA_FILES)
    assert mapper.files.data_dir() == tmp_path / "mapper" / "_data"


def test_data_dir_missing_everywhere_names_the_fix(tmp_path, monkeypatch):
    _fake_install(tmp_path, monkeypatch, packaged=(), checkout=("releases.json",))
    with pytest.raises(MapperError, match="encoders.json.*reinstall atlas-mapper"):
        mapper.files.data_dir()


def _run(args: list, cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
@pytest.mark.integration
def test_installed_wheel_maps_from_outside_the_checkout(tmp_path):
    if not LATEST.is_file():
        pytest.skip("../shared/atlas not present")
    # Built without build isolation (hatchling comes with the test extras), so no index is needed.
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "--no-build-isolation", "-q", "-w", dist],
         tmp_path, dict(os.environ))
    wheel = next(dist.glob("atlas_mapper-*.whl"))
    import zipfile

    with zipfile.ZipFile(wheel) as whl:  # the workbench's pages and assets travel with the code
        names = set(whl.namelist())
    assert {"mapper/serve/templates/report.html", "mapper/serve/templates/queue.html", "mapper/serve/static/app.js",
            "mapper/serve/static/app.css"} <= names

    # A fresh environment that sees nothing of this checkout or of the development environment.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, dict(os.environ))
    python, script = venv / "bin" / "python", venv / "bin" / "atlas-mapper"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "ATLAS_MAPPER_DATA")}
    env["ATLAS_MAPPER_CACHE"] = str(tmp_path / "cache")
    # The CPU build of torch is pinned in the same resolve (anything else pulls a multi-GB CUDA build);
    # --no-compile skips byte-compiling torch's ~10,000 modules, which is most of an install's time.
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-compile",
          "torch==2.13.0", wheel], tmp_path, env)

    work = tmp_path / "work"  # outside the checkout: nothing can be imported from it by accident
    work.mkdir()
    where = _run([python, "-c", "import mapper, atlas_eval, sysconfig; "
                  "print(mapper.__file__); print(atlas_eval.__file__); print(sysconfig.get_paths()['purelib'])"],
                 work, env).stdout.split()
    site = Path(where[2])
    assert site.is_relative_to(venv)
    for module in where[:2]:
        assert Path(module).is_relative_to(site) and not Path(module).is_relative_to(ROOT)

    version = _run([script, "--version"], work, env).stdout
    assert version.startswith(f"atlas-mapper {__version__} ") and "v2026.05" in version and "all-MiniLM-L6-v2" in version

    # the labelled corpus ships too, and reads its real reports from the pinned genai-incidents the wheel pulled in
    # (the default model below trains without it, ATLAS_MAPPER_CORPUS=off, as every test but the quality ones does)
    count = _run([python, "-c", "from mapper.model.corpus import shipped_writeups; print(len(shipped_writeups()))"],
                 work, env).stdout
    assert int(count) > 2900

    # the default release, in the v6 format (its crosswalk data ships in the wheel too)
    atlas = ["--atlas", LATEST.parent.parent / "v2026.05" / "ATLAS-2026.05.yaml"]
    (work / "report.md").write_text(WRITE_UP)
    mapped = json.loads(_run([script, "map", "report.md", "--format", "json", *atlas], work, env).stdout)
    assert mapped["atlas"]["release"] == "v2026.05" and mapped["recognised"]
    assert any(t["id"].startswith("AML.T0051") for t in mapped["techniques"])

    records = [{"id": "a", "text": WRITE_UP}, {"id": "b", "text": "Quarterly revenue grew by four percent."}]
    (work / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    _run([script, "batch", "in.jsonl", "out.jsonl", *atlas], work, env)
    lines = [json.loads(line) for line in (work / "out.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == ["a", "b"]
    assert lines[0]["techniques"][0]["id"].startswith("AML.T") and not lines[1]["recognised"]

    shown = _run([script, "techniques", "show", "AML.T0051", *atlas], work, env).stdout
    assert "AML.T0051" in shown and "LLM Prompt Injection" in shown and "Platforms:" in shown

    (work / "labelled.yaml").write_text(LABELLED)
    # the pipeline as `map` trained it (retraining it inside eval would take a minute more)
    [trained] = [d for d in (tmp_path / "cache" / "ranker").iterdir() if d.is_dir()]
    eval_args = [script, "eval", "--task", "labelled.yaml", "-m", "tfidf", "-m", f"default:model_dir={trained}",
                 "--format", "json", *atlas]
    # without the [eval] extra: the harness's own dependencies are absent, and eval says how to get them
    absent = subprocess.run([str(a) for a in eval_args], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert absent.returncode == 2 and absent.stderr.strip().count("\n") == 0, absent.stderr
    assert "pip install 'atlas-mapper[eval]'" in absent.stderr
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-compile", f"{wheel}[eval]"], tmp_path, env)
    report = json.loads(_run(eval_args, work, env).stdout)
    assert report["dataset"]["queries"] == 3 and report["dataset"]["out_of_scope"] == 1
    assert report["dataset"]["mapped_labels"] == {"AML.T0115.000": "AML.T0019"}  # the crosswalk data shipped
    assert len(report["methods"]) == 2
    assert all(0 <= method["metrics"]["MAP"] <= 1 for method in report["methods"].values())
