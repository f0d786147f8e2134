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
    """The one-shot path stays light: numpy encoder, TF-IDF and ranker from plain state."""
    import os

    env = dict(os.environ, ATLAS_MAPPER_CACHE=str(tmp_path / "cache"))
    code = (
        "import sys\n"
        "from mapper.cli import main\n"
        f"main(['map', '--text', 'the training data was poisoned', '--atlas', r'{FIXTURE_ATLAS}'])\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'sklearn') if m in sys.modules]\n"
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
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ir_measures" else real(name, *a))
    code, _, err = run(capsys, "eval", "--task", "narrative", "--atlas", str(FIXTURE_ATLAS))
    assert code == 2 and err.strip().count("\n") == 0
    assert "ir_measures missing" in err and "pip install 'atlas-mapper[eval]'" in err
