"""The command line: thin commands, one-line errors, exit codes, no torch for light commands."""

import json
import subprocess
import sys

import pytest

from mapper.cli import main

from conftest import FIXTURE_ATLAS, LATEST, ROOT, needs_shared


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_and_light_commands_do_not_import_torch():
    code = (
        "import sys\n"
        "from mapper.cli import main\n"
        f"main(['data', 'info', '--atlas', r'{FIXTURE_ATLAS}'])\n"
        f"main(['techniques', 'search', 'poison', '--atlas', r'{FIXTURE_ATLAS}'])\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules or 'sentence_transformers' in sys.modules else 'LIGHT')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "LIGHT"


def test_map_with_built_caches_imports_neither_torch_nor_scikit_learn(tmp_path):
    """The one-shot path stays light: the exported encoder, TF-IDF and ranker from plain state; no scipy (a third
    of a cold start) and no ONNX exporter."""
    import os

    env = dict(os.environ, ATLAS_MAPPER_CACHE=str(tmp_path / "cache"))
    code = (
        "import sys\n"
        "from mapper.cli import main\n"
        f"main(['map', '--text', 'the training data was poisoned', '--atlas', r'{FIXTURE_ATLAS}'])\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'sklearn', 'scipy', 'onnx')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)  # builds
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip().splitlines()[-1] == "HEAVY []"


def test_data_info(capsys):
    code, out, _ = run(capsys, "data", "info", "--atlas", str(FIXTURE_ATLAS))
    info = json.loads(out)
    assert code == 0 and info["counts"]["techniques"] == 5 and info["origin"] == "argument"


def test_missing_atlas_file_is_one_line_and_exit_4(capsys, tmp_path):
    code, out, err = run(capsys, "data", "info", "--atlas", str(tmp_path / "none.yaml"))
    assert code == 4 and out == ""
    assert err.count("\n") == 1 and err.startswith("atlas-mapper: error: ATLAS file not found")


def test_not_atlas_yaml(capsys, tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("hello: world\n")
    code, _, err = run(capsys, "techniques", "show", "AML.T0020", "--atlas", str(bad))
    assert code == 4 and "not an ATLAS data file" in err and "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception):
        main(["--debug", "data", "info", "--atlas", str(tmp_path / "none.yaml")])


def test_techniques_show_and_search(capsys):
    code, out, _ = run(capsys, "techniques", "show", "AML.T0051", "--atlas", str(FIXTURE_ATLAS))
    assert code == 0 and "LLM Prompt Injection" in out and "AML.T0051.000 Direct" in out
    code, out, _ = run(capsys, "techniques", "show", "AML.T0051.000", "--atlas", str(FIXTURE_ATLAS))
    assert code == 0 and out.startswith("AML.T0051.000  LLM Prompt Injection: Direct")
    code, _, err = run(capsys, "techniques", "show", "AML.T9999", "--atlas", str(FIXTURE_ATLAS))
    assert code == 2 and "not a technique" in err
    code, out, _ = run(capsys, "techniques", "search", "poison training", "--atlas", str(FIXTURE_ATLAS))
    assert code == 0 and out.splitlines()[0].startswith("AML.T0020")


def test_bad_option_value_is_a_usage_error(capsys):
    code, _, err = run(capsys, "map", "--text", "x", "--top-k", "0", "--atlas", str(FIXTURE_ATLAS))
    assert code == 2 and "top-k" in err


@pytest.mark.parametrize("args, choices", [
    (["map", "--text", "x", "--atlas", str(FIXTURE_ATLAS)], "'table', 'json', 'yaml', 'markdown', 'navigator'"),
    (["eval", "--task", "narrative", "--atlas", str(FIXTURE_ATLAS)], "'table', 'json', 'markdown'"),
    (["data", "diff", "v4.4.0", "v4.5.0"], "'text', 'json'"),
])
def test_unknown_format_is_a_one_line_usage_error_naming_the_choices(capsys, args, choices):
    code, out, err = run(capsys, *args, "--format", "pdf")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--format" in err and "'pdf'" in err and choices in err


def test_map_format_choices_are_the_renderers_formats():
    from mapper.cli import MapFormat
    from mapper.io.outputs import FORMATS

    assert tuple(f.value for f in MapFormat) == FORMATS


def test_version_and_help_are_light(tmp_path):
    """--version names the package version and the defaults, without loading numpy (or anything heavier)."""
    import mapper

    code = (
        "import sys\n"
        "from mapper.cli import main\n"
        "print(main(['--version']))\n"
        "try:\n    main(['map', '--help'])\nexcept SystemExit:\n    pass\n"
        "print([m for m in ('numpy', 'torch', 'yaml', 'mapper.io.outputs') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    lines = done.stdout.strip().splitlines()
    release, encoder = (json.loads((ROOT / "data" / name).read_text())["default"] for name in ("releases.json", "encoders.json"))
    assert lines[0] == f"atlas-mapper {mapper.__version__} (default ATLAS release {release}, default encoder {encoder})"
    assert lines[1] == "0" and lines[-1] == "[]"


def test_no_input_given(capsys, monkeypatch):
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    code, _, err = run(capsys, "map", "--atlas", str(FIXTURE_ATLAS))
    assert code == 3 and "no write-up given" in err


def test_non_utf8_file(capsys, tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 attack".encode("latin-1"))
    code, _, err = run(capsys, "map", str(bad), "--atlas", str(FIXTURE_ATLAS))
    assert code == 3 and "not UTF-8" in err and "iconv" in err


def test_too_long_input(capsys, tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("word " * 100)
    code, _, err = run(capsys, "map", str(big), "--max-chars", "50", "--atlas", str(FIXTURE_ATLAS))
    assert code == 3 and "--max-chars" in err


@pytest.mark.encoder
def test_map_formats_and_output_file(capsys, tmp_path):
    text = "The attacker typed a prompt telling the assistant to ignore its instructions."
    common = ["--text", text, "--atlas", str(FIXTURE_ATLAS), "--threshold", "0"]
    code, out, _ = run(capsys, "map", *common, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["recognised"] and data["techniques"][0]["evidence"][0]["start"] == 0
    for fmt, marker in (("table", "Technique"), ("yaml", "techniques:"), ("markdown", "| # | ID |")):
        code, out, _ = run(capsys, "map", *common, "--format", fmt)
        assert code == 0 and marker in out
    layer_path = tmp_path / "layer.json"
    code, _, _ = run(capsys, "map", *common, "--format", "navigator", "--output", str(layer_path))
    layer = json.loads(layer_path.read_text())
    assert code == 0 and layer["domain"] == "atlas-atlas" and layer["versions"]["layer"] == "4.3"
    assert all({"techniqueID", "score", "comment"} <= set(t) for t in layer["techniques"])
    code, _, err = run(capsys, "map", *common, "--output", str(layer_path))
    assert code == 6 and "--force" in err  # never overwritten silently
    code, _, _ = run(capsys, "map", *common, "--output", str(layer_path), "--force")
    assert code == 0


@pytest.mark.encoder
def test_nothing_above_threshold_says_so(capsys):
    code, out, _ = run(capsys, "map", "--text", "Quarterly revenue grew.", "--atlas", str(FIXTURE_ATLAS), "--threshold", "1")
    assert code == 0 and "no ATLAS technique recognised" in out


@pytest.mark.integration
@needs_shared()
def test_data_diff_cli(capsys):
    old = str(LATEST.parent.parent / "v4.4.0" / "ATLAS.yaml")
    new = str(LATEST.parent.parent / "v4.5.0" / "ATLAS.yaml")
    code, out, _ = run(capsys, "data", "diff", old, new)
    assert code == 0 and "AML.T0045 ML Intellectual Property Theft -> AML.T0048.004" in out
    code, out, _ = run(capsys, "data", "diff", old, new, "--format", "json")
    assert "AML.T0048.004" in [r["id"] for r in json.loads(out)["added"]]


def test_eval_without_the_eval_extra_names_the_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ir_measures", None)  # as if the [eval] extra were not installed
    code, _, err = run(capsys, "eval", "--task", "narrative", "--atlas", str(FIXTURE_ATLAS))
    assert code == 2 and err.strip().count("\n") == 0
    assert "needs the [eval] extra (ir_measures is missing)" in err and "pip install 'atlas-mapper[eval]'" in err


# -- a command that needs an optional extra that is not installed says which one, in one line ----------------------
def _without(monkeypatch, module: str, *loaded_prefixes: str) -> None:
    """Simulate ``module`` not installed: None in sys.modules makes every import of it fail, and modules that
    imported it already are dropped (monkeypatch puts everything back afterwards)."""
    for name in list(sys.modules):
        if name.startswith(loaded_prefixes):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)


def test_serve_without_the_serve_extra_names_the_install(capsys, monkeypatch):
    _without(monkeypatch, "starlette", "mapper.serve", "fastapi", "starlette")
    code, out, err = run(capsys, "serve")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err == ("atlas-mapper: error: the workbench (atlas-mapper serve) needs the [serve] extra (starlette is "
                   "missing): pip install 'atlas-mapper[serve]'\n")


def test_parquet_output_without_pyarrow_names_the_dask_extra_before_anything_runs(capsys, monkeypatch, folder):
    _without(monkeypatch, "pyarrow", "pyarrow")
    monkeypatch.setattr("mapper.cli._mapper", lambda *a: pytest.fail("the model must not load"))
    source = folder / "in.jsonl"
    source.write_text('{"id": "a", "text": "x"}\n')
    code, _, err = run(capsys, "batch", str(source), str(folder / "out.parquet"))
    assert code == 2 and err.count("\n") == 1 and "pip install 'atlas-mapper[dask]'" in err and "pyarrow" in err
    assert sorted(p.name for p in folder.iterdir()) == ["in.jsonl"]


def test_a_missing_module_of_no_extra_is_still_an_internal_error(capsys, monkeypatch):
    def broken(*args):
        import not_a_module_of_any_extra  # noqa: F401

    monkeypatch.setattr("mapper.cli._mapper", broken)
    code, _, err = run(capsys, "map", "--text", "x", "--atlas", str(FIXTURE_ATLAS))
    assert code == 70 and "internal error: ModuleNotFoundError" in err


def _extra_modules(requirement: str) -> set[str]:
    """The import names of a requirement in pyproject.toml ('python-docx>=1.1' -> docx)."""
    import re

    name, _, extras = re.match(r"([A-Za-z0-9_.-]+)(\[([^]]*)\])?", requirement).groups()
    renamed = {"python-docx": "docx", "python-multipart": "multipart"}
    names = {renamed.get(name, name.replace("-", "_"))}
    return names | {e.strip() for e in (extras or "").split(",") if e.strip()}  # dask[distributed]: distributed


def test_the_extras_table_covers_every_optional_dependency():
    import tomllib

    from mapper.cli import EXTRAS

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra, requirements in extras.items():
        if extra == "test":
            continue
        assert extra in EXTRAS, extra
        for requirement in requirements:
            assert _extra_modules(requirement) <= set(EXTRAS[extra][1]), (extra, requirement)


# -- batch: nothing is created or half-written when a run fails ----------------------------------------------------
@pytest.fixture
def cli_mapper(mini_mapper, monkeypatch, capsys):
    """The CLI's commands get the fixture's mapper (tiny encoder, already trained): no model build in these tests.
    What building it said on stderr is drained, so each test sees only its command's output."""
    monkeypatch.setattr("mapper.cli._mapper", lambda *a: mini_mapper)
    capsys.readouterr()
    return mini_mapper


@pytest.fixture
def folder(tmp_path):
    """A folder of its own for a batch's files (tmp_path also holds the test's cache and models)."""
    path = tmp_path / "batch"
    path.mkdir()
    return path


def _records(path, n=5):
    path.write_text("".join(json.dumps({"id": f"r{i}", "text": f"prompt injection number {i}"}) + "\n"
                            for i in range(n)))
    return path


def test_batch_of_a_missing_input_creates_nothing_and_the_corrected_rerun_works(capsys, folder, cli_mapper):
    out = folder / "out.jsonl"
    code, _, err = run(capsys, "batch", str(folder / "missing.jsonl"), str(out))
    assert code == 3 and "missing.jsonl does not exist" in err and err.count("\n") == 1
    assert list(folder.iterdir()) == []  # no output, no unfinished file
    code, _, err = run(capsys, "batch", str(_records(folder / "in.jsonl")), str(out))
    assert code == 0, err
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [f"r{i}" for i in range(5)]
    assert sorted(p.name for p in folder.iterdir()) == ["in.jsonl", "out.jsonl"]


@pytest.mark.parametrize("content, problem", [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "a PDF document, not JSON Lines"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary (it holds NUL bytes), not JSON Lines"),
    (b"\n\nThe attackers poisoned the training data.\n{\"id\": \"a\", \"text\": \"x\"}\n",
     "its first non-blank line (line 3) is not a JSON object"),
])
def test_batch_refuses_an_input_that_is_not_json_lines_before_writing_anything(capsys, monkeypatch, folder,
                                                                              content, problem):
    monkeypatch.setattr("mapper.cli._mapper", lambda *a: pytest.fail("the model must not load"))
    source = folder / "in.jsonl"
    source.write_bytes(content)
    code, out, err = run(capsys, "batch", str(source), str(folder / "out.jsonl"))
    assert code == 3 and out == "" and err.count("\n") == 1 and problem in err, err
    assert "JSON Lines" in err and ("atlas-mapper map" in err or "extract its text" in err or "{\"id\"" in err)
    assert sorted(p.name for p in folder.iterdir()) == ["in.jsonl"]


def test_batch_failing_mid_run_leaves_no_output_and_resume_finishes_it(capsys, monkeypatch, folder, cli_mapper):
    mini_mapper = cli_mapper
    source, out = _records(folder / "in.jsonl", 6), folder / "out.jsonl"
    expected = folder / "expected" / "out.jsonl"
    expected.parent.mkdir()
    assert run(capsys, "batch", str(source), str(expected))[0] == 0
    real_map, calls = mini_mapper.map, []

    def failing_map(text, **options):
        calls.append(text)
        if len(calls) == 4:
            raise RuntimeError("the machine fell over")
        return real_map(text, **options)

    monkeypatch.setattr(mini_mapper, "map", failing_map)
    code, _, err = run(capsys, "batch", str(source), str(out))
    assert code == 70 and "the machine fell over" in err
    partial = folder / "out.jsonl.partial.jsonl"
    assert not out.exists() and partial.read_text().count("\n") == 3  # the output was never half-written
    assert f"kept in {partial}" in err and "--resume" in err
    monkeypatch.setattr(mini_mapper, "map", real_map)
    code, _, err = run(capsys, "batch", str(source), str(out))  # neither --resume nor --force: the work is kept
    assert code == 6 and "unfinished run" in err and "--resume" in err and not out.exists()
    code, _, err = run(capsys, "batch", str(source), str(out), "--resume")
    assert code == 0 and "3 already done" in err
    assert out.read_bytes() == expected.read_bytes() and not partial.exists()


def test_batch_failing_before_its_first_line_leaves_nothing(capsys, monkeypatch, folder, cli_mapper):
    monkeypatch.setattr(cli_mapper, "map", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no")))
    source = _records(folder / "in.jsonl")
    assert run(capsys, "batch", str(source), str(folder / "out.jsonl"))[0] == 70
    assert sorted(p.name for p in folder.iterdir()) == ["in.jsonl"]


def test_batch_force_keeps_the_old_output_until_the_new_one_is_complete(capsys, monkeypatch, folder, cli_mapper):
    source, out = _records(folder / "in.jsonl"), folder / "out.jsonl"
    out.write_text("an earlier run\n")
    code, _, err = run(capsys, "batch", str(source), str(out))
    assert code == 6 and "--force" in err and out.read_text() == "an earlier run\n"
    monkeypatch.setattr(cli_mapper, "map", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no")))
    assert run(capsys, "batch", str(source), str(out), "--force")[0] == 70
    assert out.read_text() == "an earlier run\n"


def test_batch_resume_continues_a_finished_output_without_touching_it_until_done(capsys, folder, cli_mapper):
    source, out = _records(folder / "in.jsonl", 3), folder / "out.jsonl"
    assert run(capsys, "batch", str(source), str(out))[0] == 0
    _records(source, 5)  # two more records since
    code, _, err = run(capsys, "batch", str(source), str(out), "--resume")
    assert code == 0 and "2 written" in err and "3 already done" in err
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [f"r{i}" for i in range(5)]
    assert sorted(p.name for p in folder.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_batch_to_parquet_leaves_only_the_parquet_file(capsys, folder, cli_mapper):
    pq = pytest.importorskip("pyarrow.parquet")
    source, out = _records(folder / "in.jsonl"), folder / "out.parquet"
    assert run(capsys, "batch", str(source), str(out))[0] == 0
    assert pq.read_table(out).column("id").to_pylist() == [f"r{i}" for i in range(5)]
    assert sorted(p.name for p in folder.iterdir()) == ["in.jsonl", "out.parquet"]


# -- progress: on stderr in a pipe too, never on stdout; --quiet silences it -----------------------------------------
def _announcing(mini_mapper):
    def load(*args):
        from mapper.progress import announce

        announce("training the ranker (first run only)")
        return mini_mapper
    return load


def test_first_run_progress_goes_to_stderr_in_a_pipe_and_json_stays_clean(capsys, monkeypatch, cli_mapper):
    monkeypatch.setattr("mapper.cli._mapper", _announcing(cli_mapper))
    code, out, err = run(capsys, "map", "--text", "prompt injection", "--format", "json")
    assert code == 0 and json.loads(out)["techniques"]  # stdout: the JSON alone
    assert err == "atlas-mapper: training the ranker (first run only)\n"  # capsys' stderr is not a terminal
    code, out, err = run(capsys, "--quiet", "map", "--text", "prompt injection", "--format", "json")
    assert code == 0 and json.loads(out) and err == ""
    monkeypatch.setenv("ATLAS_MAPPER_QUIET", "1")
    code, out, err = run(capsys, "map", "--text", "prompt injection", "--format", "json")
    assert code == 0 and err == ""
