"""`atlas-mapper eval`: registered into the mapper CLI through an entry point.

Kept light: nothing heavy is imported until the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from mapper.cli import EXTRAS, choices, live_progress

EvalFormat = choices("EvalFormat", ("table", "json", "markdown"))
# What only the harness needs: the [eval] extra, never a dependency of the mapper itself.
EVAL_MODULES = EXTRAS["eval"][1]


def require_eval_extra() -> None:
    """Before any work: a module of the [eval] extra that is missing is raised as such, and the command line's
    one place for it (mapper.cli.main) names the extra to install."""
    from importlib.util import find_spec

    for name in EVAL_MODULES:
        if find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


Subset = choices("Subset", ("dev", "test"))


def register(app) -> None:
    @app.command("eval")
    def eval_command(
        task: Annotated[List[str], typer.Option("--task", help="steps, summary, narrative, or a labelled YAML/JSONL file; repeat to share folds.")] = ["narrative"],
        protocol: Annotated[str, typer.Option("--protocol", help="loco, temporal, temporal-studies or zero-shot.")] = "loco",
        train_release: Annotated[Optional[str], typer.Option("--train-release", help="temporal: train on this older release as it was; temporal-studies: on its case studies only.")] = None,
        methods: Annotated[Optional[List[str]], typer.Option("--methods", "-m", help="Methods to compare (default: all baselines and the pipeline); 'name:key=value,...' sets options.")] = None,
        fmt: Annotated[EvalFormat, typer.Option("--format", "-f", help="Output format.")] = EvalFormat.table,
        output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder for JSON, Markdown and PNG results.")] = None,
        max_folds: Annotated[Optional[int], typer.Option("--max-folds", min=1, help="Only the first N loco folds (a quick check).")] = None,
        atlas: Annotated[Optional[Path], typer.Option("--atlas", help="Path to the ATLAS.yaml to evaluate on.")] = None,
        release: Annotated[Optional[str], typer.Option("--release")] = None,
        model: Annotated[Optional[str], typer.Option("--model", help="Encoder for every dense method.")] = None,
        subset: Annotated[Optional[Subset], typer.Option("--subset", help="Labelled files with a frozen split (split.json beside them): score only the dev or the test half.")] = None,
        train_corpus: Annotated[Optional[str], typer.Option("--train-corpus", help="Ablation: train on these scopes of the labelled corpus (data/labelling) instead of the shipped 'attack+not_ai+ai_no_adversary': 'none', 'attack' or 'attack+not_ai'.")] = None,
        doc_fields: Annotated[Optional[str], typer.Option("--doc-fields", help="Technique document fields, comma-separated (default: name,description,tactics,parent; also: mitigations).")] = None,
    ):
        """Benchmark mapping methods on ATLAS case studies, side by side with baselines."""
        import json
        import shlex
        import sys

        require_eval_extra()
        from atlas_eval.harness import parse_doc_fields, run_eval

        reports = run_eval(task, protocol, train_release, methods, max_folds, atlas, release, model,
                           progress=live_progress(), doc_fields=parse_doc_fields(doc_fields),
                           subset=subset.value if subset else None, corpus=train_corpus)
        command = "atlas-mapper eval " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        from atlas_eval.report import render_markdown, render_table, write_outputs

        for name, report in reports.items():
            if output is not None:
                external = name not in ("steps", "summary", "narrative")
                stem = f"{name}-external" if external else f"{name}-{protocol}" + (f"-{train_release}" if train_release else "")
                for path in write_outputs(report, output, stem, command):
                    typer.echo(f"wrote {path}", err=True)
            if fmt is EvalFormat.json:
                typer.echo(json.dumps(report, indent=1))
            elif fmt is EvalFormat.markdown:
                typer.echo(render_markdown(report, command))
            else:
                typer.echo(render_table(report))
