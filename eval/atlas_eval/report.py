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


def _title(report: dict) -> str:
    d = report["dataset"]
    evaluated = max((m["queries"] for m in report["methods"].values()), default=0)
    return (f"task {d['name']} ({evaluated} of {d['queries']} queries), protocol {report['protocol']} ({report['folds']} folds), "
            f"ATLAS {report['atlas']['release']}, encoder {report['encoder']}")


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


def render_markdown(report: dict, command: str | None = None) -> str:
    cols, rows = _rows(report)
    best = [_best(rows, j + 1, c) for j, c in enumerate(cols)]
    lines = [f"# Evaluation: {report['dataset']['name']} / {report['protocol']}", "", _title(report) + ".", ""]
    if command:
        lines += ["Reproduce with:", "", f"    {command}", ""]
    lines += ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in rows:
        cells = []
        for j, c in enumerate(cols):
            v = r[j + 1]
            text = "-" if v is None else (f"{v:.4f}" if c == "s/query" else f"{v:.3f}")
            cells.append(f"**{text}**" if v is not None and v == best[j] and len(rows) > 1 else text)
        lines.append(f"| {r[0]} | " + " | ".join(cells) + " |")
    lines += ["", "Bold: best in column. covered: share of write-ups with at least one correct technique above the "
              "method's threshold. s/query: wall seconds per query for ranking (fitting excluded).", ""]
    lines += ["## Parent level (a sub-technique counted as its parent)", "",
              "| method | MAP | R@10 | Success@1 | F1-micro |", "|---|---|---|---|---|"]
    for name, m in report["methods"].items():
        pm = m["parent_metrics"]
        lines.append(f"| {name} | {pm.get('MAP', 0):.3f} | {pm.get('R@10', 0):.3f} | {pm.get('Success@1', 0):.3f} | {pm.get('F1-micro', 0):.3f} |")
    ds = report["dataset"]
    if ds.get("unknown_labels") or ds.get("mapped_labels"):
        lines += ["", f"Labels unknown to this release: {', '.join(ds['unknown_labels']) or 'none'}; "
                  f"retired labels mapped: {ds['mapped_labels'] or 'none'}."]
    if report.get("skipped"):
        lines += [""] + [f"- not run: {k} ({v})" for k, v in report["skipped"].items()]
    last = list(report["methods"])[-1] if report["methods"] else None
    if last:
        lines += ["", f"## Per tactic ({last})", "", "| tactic | gold | R@10 | P | R | F1 |", "|---|---|---|---|---|---|"]
        for ta, s in report["methods"][last]["per_tactic"].items():
            lines.append(f"| {s['name']} | {s['gold']} | {s['R@10']:.3f} | {s['P']:.3f} | {s['R']:.3f} | {s['F1']:.3f} |")
    return "\n".join(lines) + "\n"


def render_chart(report: dict, path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols, rows = _rows(report)
    cols = [c for c in cols if c != "s/query"]
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(cols)), 4), dpi=110)
    width = 0.8 / max(len(rows), 1)
    for i, r in enumerate(rows):
        xs = [j + i * width for j in range(len(cols))]
        ax.bar(xs, [v or 0 for v in r[1:len(cols) + 1]], width, label=r[0])
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cols))], cols, rotation=20)
    ax.set_ylim(0, 1)
    ax.set_title(f"{report['dataset']['name']} / {report['protocol']}")
    ax.legend(fontsize=8, ncol=min(len(rows), 3))
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
    atomic_write_text(paths[0], json.dumps({**payload, "command": command}, indent=1, sort_keys=False) + "\n")
    atomic_write_text(paths[1], render_markdown(report, command))
    render_chart(report, paths[2])
    return paths
