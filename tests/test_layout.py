"""The package's layers: each imports only from those before it (imports inside functions included)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "mapper"
# In flow order. Base helpers sit below everything; the CLI is the outermost edge.
LAYERS = [
    {"mapper.errors", "mapper.files", "mapper.progress", "mapper.store", "mapper.text", "mapper.result"},
    {"mapper.kb"},
    {"mapper.encode"},
    {"mapper.model"},
    {"mapper.pipeline"},
    {"mapper.io"},
    {"mapper.serve"},
    {"mapper.cli", "mapper.__main__"},
]


def layer_of(module: str) -> int | None:
    for rank, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return rank
    return None


def modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imported(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mapper"):
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "mapper" else [node.module]
            yield from names
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("mapper"))


def test_every_module_has_a_layer():
    unplaced = [name for name, _ in modules() if name != "mapper" and layer_of(name) is None]
    assert not unplaced, f"modules outside every layer: {unplaced}"


@pytest.mark.parametrize("name,path", [(n, p) for n, p in modules() if n != "mapper"], ids=lambda v: str(v))
def test_no_module_imports_a_later_layer(name, path):
    own = layer_of(name)
    upward = [m for m in imported(path) if m not in ("mapper.__version__", "mapper.about")
              and (layer_of(m) or 0) > own]
    assert not upward, f"{name} (layer {own}) imports later layers: {upward}"


def test_the_package_root_holds_a_handful_of_modules():
    top = sorted(p.name for p in ROOT.glob("*.py"))
    assert len(top) <= 10, top


def test_the_product_never_reads_evaluation_results_or_imports_the_harness():
    for name, path in modules():
        source = path.read_text(encoding="utf-8")
        assert '"results"' not in source and "eval/results" not in source, name
        assert "atlas_eval" not in [m.split(".")[0] for m in imported(path)], name
        assert "import atlas_eval" not in source and "from atlas_eval" not in source, name
