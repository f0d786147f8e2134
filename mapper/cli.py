"""The ``atlas-mapper`` command line.

Commands only parse arguments and print; the library does the work and raises
``MapperError`` subclasses, which :func:`main` turns into a one-line message
and an exit code. Nothing here imports torch: the encoder loads only when a
command needs embeddings.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from enum import Enum
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Optional

import typer

from mapper.errors import InputError, MapperError, OutputError, UsageError

app = typer.Typer(
    name="atlas-mapper",
    help="Map incident write-ups about attacks on AI systems to MITRE ATLAS techniques.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="ATLAS data: where it comes from, fetching releases, comparing them.", no_args_is_help=True)
techniques_app = typer.Typer(help="Look up ATLAS techniques.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(techniques_app, name="techniques")

_state = {"debug": False}


def choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """An Enum for an option with fixed values: typer rejects anything else as a usage error naming them."""
    return Enum(name, {v: v for v in values}, type=str)


# mapper.io.outputs.FORMATS, spelled out so that parsing and --help never import the renderers (a test
# checks that the two agree).
MapFormat = choices("MapFormat", ("table", "json", "yaml", "markdown", "navigator"))
DiffFormat = choices("DiffFormat", ("text", "json"))

AtlasOpt = Annotated[Optional[Path], typer.Option("--atlas", help="Path to an ATLAS.yaml (else $ATLAS_MAPPER_DATA, the cache, or a download).")]
ReleaseOpt = Annotated[Optional[str], typer.Option("--release", help="ATLAS release tag to use when no path is given, e.g. v2026.05 or v5.6.1; wins over $ATLAS_MAPPER_DATA.")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", help="sentence-transformers model name or folder (default: packaged all-MiniLM-L6-v2).")]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of standard output.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")]
MinSuggestionsOpt = Annotated[int, typer.Option("--min-suggestions", min=0, help="For a write-up about AI, list at least this many techniques, those below the threshold marked low confidence (0: only those above it).")]  # mapper.pipeline.MIN_SUGGESTIONS
PlatformOpt = Annotated[Optional[str], typer.Option("--platform", help="Only techniques ATLAS lists for this platform, e.g. 'Agentic AI' (v6 releases).")]


def _version(value: bool) -> None:
    if value:
        from mapper import about

        info = about()
        typer.echo(f"atlas-mapper {info['version']} (default ATLAS release {info['atlas_release']}, "
                   f"default encoder {info['encoder']})")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress messages on standard error (first-run index build and training, batch and eval progress); errors and warnings still show. Also: ATLAS_MAPPER_QUIET=1.")] = False,
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version,
                                          help="Print the version, the default ATLAS release and encoder, and exit.")] = False,
):
    from mapper.progress import silence

    _state["debug"] = debug
    silence(quiet)


def live_progress() -> bool:
    """Whether to draw a live progress counter: only at a terminal (it redraws one line), and not when quiet."""
    from mapper.progress import quiet

    return sys.stderr.isatty() and not quiet()


def _emit(text: str, output: Path | None, force: bool) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    from mapper.files import atomic_write_text

    if output.exists() and not force:
        raise OutputError(f"{output} exists; pass --force to overwrite it or choose another --output")
    if output.is_dir():
        raise OutputError(f"{output} is a folder; give a file path to --output")
    atomic_write_text(output, text)
    typer.echo(f"wrote {output}", err=True)


def _mapper(atlas, release, model):
    from mapper.pipeline import Mapper

    return Mapper.load(atlas=atlas, model=model, release=release)


@app.command("map")
def map_command(
    file: Annotated[Optional[str], typer.Argument(help="Write-up file, or '-' for standard input.")] = None,
    text: Annotated[Optional[str], typer.Option("--text", help="The write-up itself, instead of a file.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Report at most this many techniques.")] = 10,
    threshold: Annotated[Optional[float], typer.Option("--threshold", min=0.0, max=1.0, help="Minimum probability (default: the model's tuned threshold).")] = None,
    min_suggestions: MinSuggestionsOpt = 3,
    fmt: Annotated[MapFormat, typer.Option("--format", "-f", help="Output format.")] = MapFormat.table,
    output: OutputOpt = None,
    force: ForceOpt = False,
    max_chars: Annotated[int, typer.Option("--max-chars", min=1, help="Refuse longer write-ups.")] = 2_000_000,  # mapper.text.MAX_TEXT_CHARS
    platform: PlatformOpt = None,
    as_release: Annotated[Optional[str], typer.Option("--as-release", help="Report in another release's IDs (a tag such as v2026.09, or a path), through the crosswalk between the two.")] = None,
    atlas: AtlasOpt = None,
    release: ReleaseOpt = None,
    model: ModelOpt = None,
):
    """Map one write-up to ranked ATLAS techniques with evidence."""
    from mapper.io.inputs import read_text
    from mapper.io.outputs import render

    content, _ = read_text(file, text, max_chars)
    other = _load_release(as_release) if as_release else None  # a bad release fails before the model loads
    mapper = _mapper(atlas, release, model)
    result = mapper.map(content, top_k=top_k, threshold=threshold, max_chars=max_chars, platform=platform,
                        min_suggestions=min_suggestions)
    if other is not None:
        from mapper.kb.crosswalk import Crosswalk
        from mapper.kb.relabel import in_release

        result = in_release(result, Crosswalk.between(mapper.kb, other))
    _emit(render(result, fmt.value, other or mapper.kb), output, force)


def _load_release(ref: str):
    """A release named by tag (v2026.09, 2026.09) or by the path of its file."""
    from mapper.kb import load_kb

    path = Path(ref).expanduser()
    if path.exists():
        return load_kb(path)
    if path.suffix in (".yaml", ".yml") or "/" in ref or "\\" in ref:  # meant as a path, not a tag
        raise InputError(f"{ref} does not exist; give the path of an ATLAS release file or a release tag such as v2026.05")
    return load_kb(release=ref)


@app.command("batch")
def batch_command(
    source: Annotated[Path, typer.Argument(help="JSONL file ({'id': ..., 'text': ...} per line), a Parquet file with 'id' and 'text' columns, or a folder of .txt/.md files.")],
    out: Annotated[Path, typer.Argument(help="JSONL output (one line per input, in input order), or .parquet.")],
    top_k: Annotated[int, typer.Option("--top-k", min=1)] = 10,
    threshold: Annotated[Optional[float], typer.Option("--threshold", min=0.0, max=1.0)] = None,
    min_suggestions: MinSuggestionsOpt = 3,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run, keeping the lines already written.")] = False,
    force: ForceOpt = False,
    max_chars: Annotated[int, typer.Option("--max-chars", min=1)] = 2_000_000,
    platform: PlatformOpt = None,
    cluster: Annotated[Optional[str], typer.Option("--cluster", help="Run on Dask: local:N starts N worker processes here; tcp://host:8786 uses a running scheduler (the [dask] extra).")] = None,
    partition_size: Annotated[int, typer.Option("--partition-size", min=64, help="Records per cluster task (a multiple of 64).")] = 1024,  # mapper.io.cluster
    ship: Annotated[Optional[bool], typer.Option("--ship/--shared-files", help="Send workers the ATLAS file and model as verified bytes, or let them read the same paths (default: shared for local:N, shipped for a scheduler).")] = None,
    atlas: AtlasOpt = None,
    release: ReleaseOpt = None,
    model: ModelOpt = None,
):
    """Map many write-ups; each output line holds a result or that record's error."""
    from mapper.io.batch import batch_output

    options = {"top_k": top_k, "threshold": threshold, "max_chars": max_chars, "platform": platform,
               "min_suggestions": min_suggestions}
    with batch_output(source, out, resume, force) as work:  # the output appears only once the run has finished
        if cluster:
            import distributed  # noqa: F401  (the [dask] extra: named now if missing, before the model loads)

            from mapper.io.cluster import connect

            client, local = connect(cluster)  # an unreachable scheduler fails before the model loads
            try:
                stats = _cluster_batch(client, local, _mapper(atlas, release, model), model, source, work, resume,
                                       partition_size, ship, options)
            finally:
                _close(client, local)
        else:
            from mapper.io.batch import run_batch

            stats = run_batch(_mapper(atlas, release, model), source, work, resume=resume, progress=live_progress(),
                              **options)
    typer.echo(f"{stats['written']} written ({stats['errors']} errors, {stats['skipped']} already done) -> {out}", err=True)


def _cluster_batch(client, local: bool, mapper, model, source: Path, out: Path, resume: bool, partition_size: int,
                   ship: Optional[bool], options: dict) -> dict:
    from mapper.files import cache_dir
    from mapper.io.cluster import run_cluster_batch, worker_spec

    if options["platform"]:
        mapper.kb.platform_name(options["platform"])  # a bad platform fails before any worker starts
    worker = worker_spec(mapper, cache_dir(), ship=not local if ship is None else ship, model=model)
    return run_cluster_batch(client, worker, source, out, resume=resume, partition_size=partition_size,
                             progress=live_progress(), **options)


def _close(client, local: bool) -> None:
    cluster = client.cluster
    client.close()
    if local and cluster is not None:
        cluster.close()


@app.command("train")
def train_command(
    reviews: Annotated[Optional[Path], typer.Option("--reviews", help="A workbench database (atlas-mapper serve --db): add its write-ups marked done, and record the result as a new model version there.")] = None,
    atlas: AtlasOpt = None, release: ReleaseOpt = None, model: ModelOpt = None,
):
    """Train the production ranker on every case study of the loaded release (and reviewed write-ups), and save it."""
    from mapper.pipeline import Mapper

    if reviews is not None:
        from mapper.files import cache_dir
        from mapper.serve.db import Database
        from mapper.serve.training import train_from_reviews

        if not reviews.is_file():
            raise InputError(f"{reviews} does not exist; give the --db file of 'atlas-mapper serve'")
        db = Database(reviews)
        version, trained = train_from_reviews(db, Mapper.load(atlas=atlas, model=model, release=release), cache_dir())
        db.set_active(version)
        typer.echo(f"model version {version} is now active in {reviews} (a running server switches to it on its next request)")
        typer.echo(json.dumps(trained.card["ranker"], indent=2))
        return
    mapper = Mapper.load(atlas=atlas, model=model, release=release, retrain=True)
    typer.echo(json.dumps(mapper.card, indent=2))


def _default_db() -> Path:
    """The workbench database in the user's data folder ($XDG_DATA_HOME or ~/.local/share)."""
    import os

    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "atlas-mapper" / "workbench.sqlite3"


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to bind. Anything but loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    db: Annotated[Optional[Path], typer.Option("--db", help="The workbench database (default: workbench.sqlite3 in the user data folder).")] = None,
    token: Annotated[Optional[str], typer.Option("--token", envvar="ATLAS_MAPPER_TOKEN", help="Access token for every page and API call (or $ATLAS_MAPPER_TOKEN); required off loopback.")] = None,
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", min=0.001, help="Largest request body, uploads included.")] = 20.0,
    atlas: AtlasOpt = None, release: ReleaseOpt = None, model: ModelOpt = None,
):
    """The triage workbench: a local web app and REST API to review suggestions, export them and retrain."""
    # without the [serve] extra these imports fail, and main() names the extra to install
    from mapper.serve.security import LOOPBACK_NAMES, is_loopback

    if not is_loopback(host) and not token:
        raise UsageError(f"binding {host} exposes the workbench to the network; give an access token with --token "
                         "or $ATLAS_MAPPER_TOKEN (or bind 127.0.0.1)")
    if token is not None and (len(token) < 16 or not re.fullmatch(r"[A-Za-z0-9._~-]+", token)):
        raise UsageError("the access token must be at least 16 characters of letters, digits and . _ ~ -; generate one "
                         "with python -c 'import secrets; print(secrets.token_urlsafe(24))'")
    import uvicorn

    from mapper.serve.app import create_app
    from mapper.serve.workbench import Workbench
    import socket

    db = db or _default_db()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:  # bound before the model loads: a taken port fails at once, with one line
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port or --host") from None
    bench = Workbench.open(db, atlas=atlas, release=release, model=model)
    hosts = (*LOOPBACK_NAMES, host, f"[{host}]") if is_loopback(host) else None  # off loopback the token guards
    application = create_app(bench, token=token, hosts=hosts, max_upload_mb=max_upload_mb)
    server = uvicorn.Server(uvicorn.Config(application, log_level="warning"))
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"atlas-mapper workbench on http://{shown}:{sock.getsockname()[1]}/ (database {db}; Ctrl+C stops it)",
               err=True)
    try:
        server.run(sockets=[sock])
    finally:
        bench.close()


@data_app.command("info")
def data_info(atlas: AtlasOpt = None, release: ReleaseOpt = None,
              offline: Annotated[bool, typer.Option("--offline", help="Never download.")] = False):
    """Which ATLAS release is in use, where it came from, and what it holds."""
    from mapper.kb import load_kb

    kb = load_kb(atlas, release=release, download=not offline)
    typer.echo(json.dumps(kb.describe(), indent=2))


@data_app.command("fetch")
def data_fetch(
    release: ReleaseOpt = None,
    latest: Annotated[bool, typer.Option("--latest", help="The newest release upstream (from dist/manifest.yaml, else the ATLAS-latest pointers).")] = False,
    trust_unpinned: Annotated[bool, typer.Option("--trust-unpinned", help="Accept a release this version has no sha256 for: record the sha256 of this download and check it from then on.")] = False,
):
    """Download a release from the official ATLAS repository and verify its sha256."""
    from mapper.kb.releases import fetch, fetch_latest

    if release and latest:
        raise UsageError("--release and --latest exclude each other; pass one of them")
    source = fetch_latest(trust_unpinned=trust_unpinned) if latest else fetch(release, trust_unpinned=trust_unpinned)
    info = source.describe()
    typer.echo(f"saved {source.path}")
    typer.echo(f"release {info['release']} (version {info['version']})")
    typer.echo(f"sha256 {source.sha256}")
    if info["pinned"]:
        typer.echo(f"pinned: yes ({'verified by our tests' if info['checked'] else 'sha256 from third-party records'})")
    else:
        typer.echo("pinned: no (sha256 recorded at this first download; compare it with MITRE's release notes)")


@data_app.command("diff")
def data_diff(
    old: Annotated[str, typer.Argument(help="Old release: a tag (v4.4.0) or a path to ATLAS.yaml.")],
    new: Annotated[str, typer.Argument(help="New release: a tag or a path.")],
    fmt: Annotated[DiffFormat, typer.Option("--format", "-f", help="Output format.")] = DiffFormat.text,
):
    """What changed between two releases (any format): techniques and tactics added, removed, merged,
    renamed or moved, case studies added, descriptions and platforms edited."""
    from mapper.kb import diff_kb

    diff = diff_kb(_load_release(old), _load_release(new))
    if fmt is DiffFormat.json:
        typer.echo(json.dumps(diff, indent=2))
        return
    typer.echo(_diff_text(diff))


def _diff_text(diff: dict) -> str:
    def release(info: dict) -> str:
        return f"{info['release'] or 'unknown release'} (content {info['version']}, format {info['format_version']})"

    lines = [f"{release(diff['old'])} -> {release(diff['new'])}"]
    sections = (
        ("techniques added", "added", lambda r: f"{r['id']} {r['name']}"),
        ("techniques removed", "removed", lambda r: f"{r['id']} {r['name']}"
         + (f" -> {', '.join(r['replaced_by'])}" if r["replaced_by"] else " (no successor found)")),
        ("merged", "merged", lambda r: f"{', '.join(r['from'])} -> {', '.join(r['as'])} under {r['into']} {r['name']}"),
        ("techniques renamed", "renamed", lambda r: f"{r['id']}: {r['old']} -> {r['new']}"),
        ("maturity changed", "maturity_changed", lambda r: f"{r['id']}: {r['old']} -> {r['new']}"),
        ("moved between tactics", "moved", lambda r: f"{r['id']} {r['name']}: {', '.join(r['old'])} -> {', '.join(r['new'])}"),
        ("tactics added", "tactics_added", lambda r: f"{r['id']} {r['name']}"),
        ("tactics removed", "tactics_removed", lambda r: f"{r['id']} {r['name']}"),
        ("tactics renamed", "tactics_renamed", lambda r: f"{r['id']}: {r['old']} -> {r['new']}"),
        ("case studies added", "case_studies_added", lambda r: f"{r['id']} {r['name']}"),
        ("case studies removed", "case_studies_removed", lambda r: f"{r['id']} {r['name']}"),
    )
    for label, key, line in sections:
        lines.append(f"\n{label} ({len(diff[key])}):")
        lines += [f"  {line(row)}" for row in diff[key]]
    lines.append(f"\ndescriptions edited: {len(diff['descriptions_edited'])} techniques")
    changed = diff["platforms_changed"]
    added = sorted({p for row in changed for p in row["added"]})
    lines.append(f"platforms changed: {len(changed)} techniques" + (f" (added: {', '.join(added)})" if added else ""))
    return "\n".join(lines)


@techniques_app.command("show")
def techniques_show(technique_id: Annotated[str, typer.Argument(help="e.g. AML.T0051")], atlas: AtlasOpt = None, release: ReleaseOpt = None):
    """Print one technique: tactics, description, sub-techniques, mitigations."""
    from mapper.io.outputs import technique_text
    from mapper.kb import load_kb

    kb = load_kb(atlas, release=release)
    asked = technique_id.strip().upper()
    tid = kb.resolve_id(asked)
    if tid is None:
        raise UsageError(f"{technique_id} is not a technique of ATLAS {kb.release_tag or kb.version}; try 'atlas-mapper techniques search'")
    if tid != asked:
        typer.echo(f"({asked} is {tid} in ATLAS {kb.release_tag or kb.version})")
    typer.echo(technique_text(kb, tid))


@techniques_app.command("search")
def techniques_search(
    words: Annotated[str, typer.Argument(help="Words to look for.")],
    limit: Annotated[int, typer.Option("--limit", min=1)] = 10,
    platform: PlatformOpt = None,
    atlas: AtlasOpt = None,
    release: ReleaseOpt = None,
):
    """Find techniques by words (TF-IDF over names and descriptions; no model needed)."""
    from mapper.encode.search import TechniqueSearch
    from mapper.kb import load_kb

    kb = load_kb(atlas, release=release)
    hits = TechniqueSearch(kb, platform).by_words(words, limit)
    if not hits:
        typer.echo(f"no technique matches {words!r}")
        return
    for tid, score in hits:
        tech = kb.techniques[tid]
        typer.echo(f"{tech.id:<15} {score:.2f}  {tech.name}" + (f"  [{', '.join(tech.platforms)}]" if platform else ""))


def _load_plugins() -> None:
    """Commands contributed by other packages (the evaluation harness registers `eval`)."""
    for ep in entry_points(group="atlas_mapper.commands"):
        try:
            ep.load()(app)
        except Exception as exc:  # a broken plugin must not break the core commands
            print(f"atlas-mapper: warning: plugin {ep.name!r} failed to load: {exc}", file=sys.stderr)


# pyproject.toml's optional extras: what each one is for, and the modules its packages provide (import names,
# with the packages they bring that we import directly: starlette and pydantic come with fastapi). A command that
# meets one of these missing says which extra to install (tests/test_cli.py checks this table against pyproject).
EXTRAS = {
    "serve": ("the workbench (atlas-mapper serve)",
              ("fastapi", "starlette", "pydantic", "uvicorn", "jinja2", "multipart", "python_multipart", "stix2",
               "pypdf", "docx", "inscriptis")),
    "dask": ("a batch on a Dask cluster (--cluster) or in Parquet", ("dask", "distributed", "pyarrow")),
    "eval": ("the evaluation harness (atlas-mapper eval)", ("ir_measures", "matplotlib")),
}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The one-line message for a module of an optional extra that is not installed; None for any other module."""
    module = (exc.name or "").split(".")[0]
    for extra, (purpose, modules) in EXTRAS.items():
        if module in modules:
            return (f"{purpose} needs the [{extra}] extra ({module} is missing): "
                    f"pip install 'atlas-mapper[{extra}]'")
    return None


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"atlas-mapper: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app and turns the project's exceptions into exit codes."""
    warnings.showwarning = _one_line_warning
    _load_plugins()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = app(args=argv, standalone_mode=False)
    except MapperError as exc:
        if debug:
            raise
        print(f"atlas-mapper: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("atlas-mapper: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        message = missing_extra(exc)
        if debug or message is None:  # a module of no extra missing is a broken install: an internal error below
            return _internal_error(exc, debug)
        print(f"atlas-mapper: error: {message}", file=sys.stderr)
        return UsageError.exit_code
    except Exception as exc:  # click usage errors (typer vendors its own click) and anything unexpected
        exit_code = getattr(exc, "exit_code", None)
        if callable(getattr(exc, "show", None)) and isinstance(exit_code, int):
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            if message.strip():  # empty when the help text itself was the answer
                print(f"atlas-mapper: error: {message} (see 'atlas-mapper --help')", file=sys.stderr)
            return exit_code
        if type(exc).__name__ == "Exit" and isinstance(exit_code, int):
            return exit_code
        return _internal_error(exc, debug)
    return code if isinstance(code, int) else 0


def _internal_error(exc: BaseException, debug: bool) -> int:
    if debug:
        raise exc
    print(f"atlas-mapper: internal error: {type(exc).__name__}: {exc} (rerun with --debug and report it)", file=sys.stderr)
    return 70


def entry() -> None:
    sys.exit(main())
