"""Turn harness results into a terminal table, Markdown, JSON and a PNG chart."""

from __future__ import annotations

import json
from pathlib import Path

from mapper.files import atomic_write_bytes, atomic_write_text

TABLE_COLUMNS = {
    "steps": ["Success@1", "Success@5", "Success@10", "RR", "MAP", "F1-micro"],
    "default": ["MAP", "nDCG@10", "R@5", "R@10", "P@5", "Success@1", "F1-micro", "F1-macro", "covered"],
}
LOWER_IS_BETTER = {"s/query"}


def columns_for(report: dict) -> list[str]:
    cols = list(TABLE_COLUMNS["steps" if report["dataset"]["name"] == "steps" else "default"])
    if any("abstention" in m["metrics"] for m in report["methods"].values()):
        cols.append("abstention")
    return cols


def _rows(report: dict):
    cols = columns_for(report)
    rows = []
    for name, m in report["methods"].items():
        rows.append([name] + [m["metrics"].get(c) for c in cols] + [m["seconds_per_query"]])
    return cols + ["s/query"], rows


def _best(rows, j, col):
    values = [r[j] for r in rows if r[j] is not None]
    if not values:
        return None
    return min(values) if col in LOWER_IS_BETTER else max(values)


CASE_STUDY_TASKS = ("steps", "summary", "narrative")  # atlas_eval.datasets.TASKS: every other task is a labelled file


def count(n: int, noun: str) -> str:
    """'1 fold', '5 folds'."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def is_labelled_file(report: dict) -> bool:
    return report["dataset"]["name"] not in CASE_STUDY_TASKS


def protocol_text(report: dict) -> str:
    """How the dataset was scored: the protocol and its folds, in words that are true for a labelled file too.
    A labelled file is not split by case study or by time: its items are scored by methods trained on every case
    study (none under zero-shot); only the items that are also training write-ups are cross-validated."""
    protocol, folds = report["protocol"], report["folds"]
    if not is_labelled_file(report):
        return f"protocol {protocol} ({count(folds, 'fold')})"
    if protocol == "zero-shot":
        return "protocol zero-shot (nothing learned from case studies or write-ups)"
    if folds == 1:
        return (f"protocol {protocol} (1 fold: a labelled file is not split by case study, so every item was scored "
                "by methods trained on all case studies)")
    return (f"protocol {protocol} ({count(folds, 'fold')} in the run: a labelled file is scored by methods trained on "
            "all case studies, its items that are also training write-ups in cross-validation folds without them)")


def _title(report: dict) -> str:
    d = report["dataset"]
    evaluated = max((m["queries"] for m in report["methods"].values()), default=0)
    return (f"task {d['name']} ({evaluated} of {d['queries']} {'query' if d['queries'] == 1 else 'queries'}), "
            f"{protocol_text(report)}, ATLAS {report['atlas']['release']}, encoder {report['encoder']}")


def render_table(report: dict) -> str:
    cols, rows = _rows(report)
    best = [_best(rows, j + 1, c) for j, c in enumerate(cols)]
    width = max([len("method")] + [len(r[0]) for r in rows])
    lines = [_title(report), "", "method".ljust(width) + "".join(c.rjust(12) for c in cols)]
    for r in rows:
        cells = []
        for j, c in enumerate(cols):
            v = r[j + 1]
            text = "-" if v is None else (f"{v:.4f}" if c == "s/query" else f"{v:.3f}")
            if v is not None and v == best[j] and len(rows) > 1:
                text += "*"
            cells.append(text.rjust(12))
        lines.append(r[0].ljust(width) + "".join(cells))
    lines.append("* best in column")
    if report.get("skipped"):
        lines += [f"not run: {k} ({v})" for k, v in report["skipped"].items()]
    return "\n".join(lines) + "\n"


def with_interval(value, ci) -> str:
    """'0.580 [0.521, 0.640]'; '-' for a metric that could not be computed."""
    if value is None:
        return "-"
    if isinstance(value, int):  # a count
        return str(value)
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


PARENT_COLUMNS = ["MAP", "R@10", "Success@1", "F1-micro", "sub-technique", "sub-technique pairs"]
# describe() keys rendered elsewhere (title) or by name below; any other key is listed as it comes
_DESCRIBED = {"name", "queries", "labelled", "out_of_scope", "labels", "unknown_labels", "mapped_labels"}


def _listing(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} -> {v}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def _dataset_notes(ds: dict) -> list[str]:
    lines = []
    if ds.get("unknown_labels") or ds.get("mapped_labels"):
        lines.append(f"Labels unknown to this release: {_listing(ds.get('unknown_labels', []))}; "
                     f"labels from other releases mapped through the crosswalk: {_listing(ds.get('mapped_labels', {}))}.")
    lines += [f"{key.replace('_', ' ').capitalize()}: {_listing(value)}." for key, value in ds.items()
              if key not in _DESCRIBED and value not in (None, [], {}, "")]
    return lines


def _num(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def render_markdown(report: dict, command: str | None = None) -> str:
    cols, rows = _rows(report)
    best = [_best(rows, j + 1, c) for j, c in enumerate(cols)]
    intervals = [m.get("ci", {}) for m in report["methods"].values()]
    lines = [f"# Evaluation: {report['dataset']['name']} / {report['protocol']}", "", _title(report) + ".", ""]
    if command:
        lines += ["Reproduce with:", "", f"    {command}", ""]
    lines += ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r, ci in zip(rows, intervals):
        cells = []
        for j, c in enumerate(cols):
            v = r[j + 1]
            text = ("-" if v is None else f"{v:.4f}") if c == "s/query" else with_interval(v, ci.get(c))
            cells.append(f"**{text}**" if v is not None and v == best[j] and len(rows) > 1 else text)
        lines.append(f"| {r[0]} | " + " | ".join(cells) + " |")
    lines += ["", "Bold: best in column. Brackets: 95% bootstrap interval (1000 resamples of whole case studies; "
              "an external write-up is its own unit). covered: share of write-ups with at least one correct "
              "technique above the method's threshold. s/query: wall seconds per query for ranking (fitting "
              "excluded).", ""]
    if report.get("corpus_left_out"):
        lines += [f"Left out of every fold's training: {len(report['corpus_left_out'])} corpus records about the same "
                  "events as evaluation items (data/labelling/real/overlaps.json, with their event groups); the JSON "
                  "lists them (`corpus_left_out`).", ""]
    lines += ["## Parent level (a sub-technique counted as its parent)", "",
              "sub-technique: for each gold family with a sub-technique that the method ranks among its ten best "
              "families (a correct parent), the share where its first-ranked sub-technique is a gold one; pairs: how "
              "many such choices.", "",
              "| method | " + " | ".join(PARENT_COLUMNS) + " |", "|---" * (len(PARENT_COLUMNS) + 1) + "|"]
    for name, m in report["methods"].items():
        pm, pci = m["parent_metrics"], m.get("parent_ci", {})
        lines.append(f"| {name} | " + " | ".join(with_interval(pm.get(c), pci.get(c)) for c in PARENT_COLUMNS) + " |")
    calibrated = {name: m["calibration"] for name, m in report["methods"].items() if m.get("calibration")}
    if calibrated:
        lines += ["", "## Calibration of technique scores", "",
                  "Every (write-up, technique) score is a prediction; ECE is the pair-weighted mean gap between "
                  "the mean score and the hit rate in ten equal-width bins (0 = calibrated); ECE@10 uses only each "
                  "write-up's ten best-scored techniques, the ones an analyst reads. Only scores meant as "
                  "probabilities (default, dense) should be read as such. Reliability diagram (all pairs): the "
                  "`-calibration.png` file.", "", "| method | ECE | ECE@10 | pairs |", "|---|---|---|---|"]
        lines += [f"| {name} | {_num(c['ECE'])} | {_num(c.get('ECE@10'))} | {c['pairs']} |"
                  for name, c in calibrated.items()]
    notes = _dataset_notes(report["dataset"])
    if notes:
        lines += [""] + notes
    if report.get("skipped"):
        lines += [""] + [f"- not run: {k} ({v})" for k, v in report["skipped"].items()]
    if report["methods"]:
        lines += ["", "## Per tactic", "",
                  "For each method: gold, the gold labels whose technique belongs to the tactic; R@10, the share of "
                  "them in the method's ten best; P, R, F1, the method's predictions at its threshold, counted for "
                  "the tactic's techniques."]
        for name, m in report["methods"].items():
            lines += ["", f"### {name}", "", "| tactic | gold | R@10 | P | R | F1 |", "|---|---|---|---|---|---|"]
            for s in m["per_tactic"].values():
                lines.append(f"| {s['name']} | {s['gold']} | {s['R@10']:.3f} | {s['P']:.3f} | {s['R']:.3f} | {s['F1']:.3f} |")
    return "\n".join(lines) + "\n"


def _error_bars(values: list, cols: list, ci: dict) -> list[list[float]]:
    """Distances below and above each bar to its interval's ends (none where there is no interval)."""
    below = [max(v - ci[c][0], 0.0) if c in ci else 0.0 for v, c in zip(values, cols)]
    above = [max(ci[c][1] - v, 0.0) if c in ci else 0.0 for v, c in zip(values, cols)]
    return [below, above]


def render_chart(report: dict, path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols, rows = _rows(report)
    cols = [c for c in cols if c != "s/query"]
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(cols)), 4), dpi=110)
    width = 0.8 / max(len(rows), 1)
    for i, (r, m) in enumerate(zip(rows, report["methods"].values())):
        xs = [j + i * width for j in range(len(cols))]
        values = [v or 0 for v in r[1:len(cols) + 1]]
        ax.bar(xs, values, width, label=r[0], yerr=_error_bars(values, cols, m.get("ci", {})),
               error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "0.25"})
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cols))], cols, rotation=20)
    ax.set_ylim(0, 1)
    ax.set_title(f"{report['dataset']['name']} / {report['protocol']}")
    ax.legend(fontsize=8, ncol=min(len(rows), 3))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def render_reliability(report: dict, path: Path) -> None:
    """Reliability diagram: hit rate against mean score per bin, one line per method."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=0.8, label="calibrated")
    for name, m in report["methods"].items():
        rows = (m.get("calibration") or {}).get("bins") or []
        if rows:
            ece = m["calibration"]["ECE"]
            ax.plot([r[3] for r in rows], [r[4] for r in rows], marker="o", markersize=3, label=f"{name} (ECE {ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean score in bin")
    ax.set_ylabel("share that are gold techniques")
    ax.set_title(f"{report['dataset']['name']} / {report['protocol']}: reliability")
    ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def write_outputs(report: dict, directory: Path, stem: str, command: str | None = None, items: bool = True) -> list[Path]:
    directory = Path(directory)
    payload = report if items else {**report, "methods": {k: {kk: vv for kk, vv in v.items() if kk != "items"}
                                                           for k, v in report["methods"].items()}}
    paths = [directory / f"{stem}.json", directory / f"{stem}.md", directory / f"{stem}.png"]
    # allow_nan=False: a bare NaN is not JSON; a metric that cannot be computed is left out instead
    atomic_write_text(paths[0], json.dumps({**payload, "command": command}, indent=1, allow_nan=False) + "\n")
    atomic_write_text(paths[1], render_markdown(report, command))
    render_chart(report, paths[2])
    if any(m.get("calibration", {}).get("bins") for m in report["methods"].values()):
        paths.append(directory / f"{stem}-calibration.png")
        render_reliability(report, paths[3])
    return paths
