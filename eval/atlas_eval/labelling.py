"""The labelling procedure's tools (``data/labelling/guideline.md``): the technique catalogue an annotator
reads, the batches of texts an annotator labels, the check of what comes back, and the agreement of two
independent annotations.

Run: ``python -m atlas_eval.labelling catalogue --atlas PATH -o data/labelling/catalogue-v2026.05.md``;
``... batches --out DIR --size 100``; ``... check FILE``; ``... agreement FIRST SECOND``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from mapper.errors import InputError
from mapper.files import atomic_write_text
from mapper.kb import KnowledgeBase, load_kb

SCOPES = ("attack", "ai_no_adversary", "not_ai")


def display_name(kb: KnowledgeBase, tid: str) -> str:
    tech = kb.techniques[tid]
    parent = kb.techniques.get(tech.parent) if tech.parent else None
    return f"{parent.name}: {tech.name}" if parent else tech.name


def catalogue(kb: KnowledgeBase) -> str:
    """Every technique of the release: ID, name (a sub-technique with its parent's), tactics, definition."""
    lines = [f"# ATLAS techniques ({kb.release_tag or kb.version})", "",
             "Each entry: ID, name, tactics, and ATLAS's definition. A sub-technique's ID extends its parent's.", ""]
    for tid in sorted(kb.techniques, key=lambda t: [int(p) if p.isdigit() else p for p in t.replace("T", ".").split(".")]):
        tech = kb.techniques[tid]
        tactics = ", ".join(kb.tactic_by_id[t].name for t in tech.tactics if t in kb.tactic_by_id)
        parent = f" (sub-technique of {tech.parent})" if tech.parent else ""
        lines += [f"## {tid} {display_name(kb, tid)}{parent}", f"Tactics: {tactics or '-'}", "",
                  " ".join(tech.description.split()), ""]
    return "\n".join(lines)


def write_batches(texts: dict[str, str], out: Path, size: int) -> list[Path]:
    """``texts`` in batches of ``size`` as ``batch-NNN.jsonl`` lines ``{"id", "text"}``, in the order given."""
    out.mkdir(parents=True, exist_ok=True)
    ids = list(texts)
    paths = []
    for n, start in enumerate(range(0, len(ids), size), start=1):
        path = out / f"batch-{n:03d}.jsonl"
        atomic_write_text(path, "".join(json.dumps({"id": i, "text": texts[i]}, ensure_ascii=False) + "\n"
                                        for i in ids[start:start + size]))
        paths.append(path)
    return paths


def read_annotation(path: Path, kb: KnowledgeBase, texts: dict[str, str] | None = None) -> dict[str, dict]:
    """``{id: {"scope", "techniques": [ids, most certain first], "evidence": {id: span}}}``, checked: known
    scope and technique IDs, no technique outside ``attack``, evidence copied from the text when it is given."""
    out = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read annotation file {path} ({exc.__class__.__name__}); give a JSONL file of "
                         "annotations") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            rid, scope, items = rec["id"], rec["scope"], rec.get("techniques") or []
            ids = [t["id"] for t in items]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path} line {n}: not an annotation ({exc}); see data/labelling/guideline.md") from None
        problems = [f"scope {scope!r}" for _ in [0] if scope not in SCOPES]
        problems += [f"unknown technique {t}" for t in ids if t not in kb.techniques]
        problems += ["techniques outside an attack"] if items and scope != "attack" else []
        if problems:
            raise InputError(f"{path} line {n} ({rid}): {'; '.join(problems)}")
        evidence = {t["id"]: t.get("evidence", "") for t in items}
        out[rid] = {"scope": scope, "techniques": list(dict.fromkeys(ids)), "evidence": evidence}
    return out


def disputed(first: dict[str, dict], second: dict[str, dict]) -> list[str]:
    """Texts whose two annotations differ in scope or in the set of techniques."""
    return [i for i in sorted(set(first) & set(second))
            if (first[i]["scope"], set(first[i]["techniques"])) != (second[i]["scope"], set(second[i]["techniques"]))]


def gold(first: dict[str, dict], second: dict[str, dict], adjudicated: dict[str, dict]) -> dict[str, dict]:
    """The gold: the shared reading where the two annotations agree (the first's order and evidence), the
    adjudicator's where they do not. A disputed text without an adjudication is left out."""
    out = {}
    for rid in sorted(set(first) & set(second)):
        if rid not in adjudicated and rid in disputed({rid: first[rid]}, {rid: second[rid]}):
            continue
        out[rid] = dict(adjudicated.get(rid) or first[rid], adjudicated=rid in adjudicated)
    return out


def read_annotations(paths, kb: KnowledgeBase) -> dict[str, dict]:
    """Several annotation files (batches of one annotator) as one ``{id: annotation}``."""
    out = {}
    for path in paths:
        out.update(read_annotation(path, kb))
    return out


def stored(annotations: dict[str, dict], texts: dict[str, str]) -> list[dict]:
    """Annotations as committed: no third-party text, so each evidence span becomes its character offsets in
    the text (whose sha256 is stored with it), or null where the annotator's span is not found verbatim."""
    import hashlib

    rows = []
    for rid, ann in sorted(annotations.items()):
        text = texts[rid]
        spans = []
        for tid in ann["techniques"]:
            quote = (ann["evidence"].get(tid) or "").strip()
            start = text.find(quote) if quote else -1
            spans.append([start, start + len(quote)] if start >= 0 else None)
        row = {"id": rid, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "scope": ann["scope"],
               "techniques": ann["techniques"], "evidence": spans}
        if "adjudicated" in ann:
            row["adjudicated"] = ann["adjudicated"]
        rows.append(row)
    return rows


def read_stored(path: Path) -> dict[str, dict]:
    """Committed annotations (:func:`stored`) in the shape :func:`agreement` takes."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return {r["id"]: {"scope": r["scope"], "techniques": r["techniques"]} for r in rows}


def agreement(first: dict[str, dict], second: dict[str, dict], strata: dict[str, str] | None = None) -> dict:
    """The second annotation scored against the first: scope agreement and Cohen's kappa over the texts both
    labelled; MAP, R@10, Success@1 (ir-measures) and set F1 on the texts both call ``attack``; per stratum too."""
    strata = strata or {}
    groups = defaultdict(list)
    for rid in sorted(set(first) & set(second)):
        groups["all"].append(rid)
        if rid in strata:
            groups[strata[rid]].append(rid)
    return {name: _agreement(first, second, ids) for name, ids in groups.items()}


def _agreement(first, second, ids: list[str]) -> dict:
    import ir_measures
    from ir_measures import AP, R, Success

    pairs = [(first[i]["scope"], second[i]["scope"]) for i in ids]
    observed = sum(a == b for a, b in pairs) / len(pairs)
    expected = sum((sum(a == s for a, _ in pairs) / len(pairs)) * (sum(b == s for _, b in pairs) / len(pairs))
                   for s in SCOPES)
    both = [i for i in ids if first[i]["scope"] == second[i]["scope"] == "attack" and first[i]["techniques"]]
    out = {"texts": len(ids), "scope_agreement": round(observed, 4),
           "scope_kappa": round((observed - expected) / (1 - expected), 4) if expected < 1 else None,
           "both_attack": len(both)}
    if both:
        qrels = {i: {t: 1 for t in first[i]["techniques"]} for i in both}
        run = {i: {t: 1.0 / (1 + r) for r, t in enumerate(second[i]["techniques"])} for i in both}
        scores = ir_measures.calc_aggregate([AP, R @ 10, Success @ 1], qrels, run)
        tp = sum(len(set(first[i]["techniques"]) & set(second[i]["techniques"])) for i in both)
        n1 = sum(len(set(first[i]["techniques"])) for i in both)
        n2 = sum(len(set(second[i]["techniques"])) for i in both)
        out.update({"MAP": round(scores[AP], 4), "R@10": round(scores[R @ 10], 4),
                    "Success@1": round(scores[Success @ 1], 4), "set_F1": round(2 * tp / (n1 + n2), 4)})
    return out


def compare(first: dict, second: dict, gold_labels: dict, strata: dict[str, str]) -> dict:
    """The second annotation against the first, and each against the gold (the ceiling a model is measured
    beside), per stratum (source or form)."""
    return {"second_vs_first": agreement(first, second, strata),
            "first_vs_gold": agreement(gold_labels, first, strata) if gold_labels else None,
            "second_vs_gold": agreement(gold_labels, second, strata) if gold_labels else None,
            "disputed": len(disputed(first, second)), "gold": len(gold_labels)}


def report_markdown(figures: dict) -> str:
    lines = ["# Annotator agreement", "", "Each row scores one annotation against another: scope agreement and Cohen's "
             "kappa over all texts; MAP, R@10, Success@1 and set F1 over the texts both call an attack.", ""]
    for part, fig in figures.items():
        lines += [f"## {part}", "", f"{fig['disputed']} texts disputed; {fig['gold']} gold labels.", "",
                  "| comparison | stratum | texts | scope agreement | kappa | both attack | MAP | R@10 | Success@1 | set F1 |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for comparison in ("second_vs_first", "first_vs_gold", "second_vs_gold"):
            for stratum, row in sorted((fig[comparison] or {}).items(), key=lambda kv: (kv[0] != "all", kv[0])):
                cells = [row.get(k) for k in ("texts", "scope_agreement", "scope_kappa", "both_attack", "MAP", "R@10",
                                              "Success@1", "set_F1")]
                lines.append(f"| {comparison.replace('_', ' ')} | {stratum} | " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atlas_eval.labelling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--atlas", type=Path, help="the ATLAS release the labels name (default: the package's)")
    sub = parser.add_subparsers(dest="command", required=True)
    cat = sub.add_parser("catalogue", help="write the technique catalogue annotators read")
    cat.add_argument("-o", "--output", type=Path, required=True)
    bat = sub.add_parser("batches", help="write the sample's texts (read from the installed package) in batches")
    bat.add_argument("--out", type=Path, required=True)
    bat.add_argument("--size", type=int, default=100)
    bat.add_argument("--split", choices=("train", "test"))
    bat.add_argument("--own", nargs="+", type=Path, help="our own write-ups (texts-*.jsonl) instead of the real reports")
    chk = sub.add_parser("check", help="check an annotation file")
    chk.add_argument("files", type=Path, nargs="+")
    imp = sub.add_parser("store", help="check raw annotation files and write them as committed (offsets, no text)")
    imp.add_argument("files", type=Path, nargs="+")
    imp.add_argument("-o", "--output", type=Path, required=True)
    gld = sub.add_parser("gold", help="agreed labels plus adjudicated ones, written as committed")
    gld.add_argument("--first", type=Path, nargs="+", required=True)
    gld.add_argument("--second", type=Path, nargs="+", required=True)
    gld.add_argument("--adjudicated", type=Path, nargs="*", default=[])
    gld.add_argument("-o", "--output", type=Path, required=True)
    agr = sub.add_parser("agreement", help="the second annotation scored against the first (stored files)")
    agr.add_argument("first", type=Path)
    agr.add_argument("second", type=Path)
    rep = sub.add_parser("report", help="agreement of every labelled part, to data/labelling/agreement.{json,md}")
    rep.add_argument("--folder", type=Path, default=Path("data") / "labelling")
    args = parser.parse_args(argv)
    if args.command == "report":
        return _report(args.folder)
    kb = load_kb(args.atlas)
    if args.command == "catalogue":
        atomic_write_text(args.output, catalogue(kb))
    elif args.command == "batches":
        from mapper.model.corpus import read_sample, texts

        if args.own:  # annotators see the text only: never the writer's scope or intended techniques
            chosen = {r["id"]: r["text"] for path in args.own for r in map(json.loads, path.read_text().splitlines())}
        else:
            chosen = texts([e for e in read_sample() if args.split in (None, e["split"])])
        paths = write_batches(chosen, args.out, args.size)
        print(f"wrote {len(paths)} batches of up to {args.size} to {args.out}")
    elif args.command == "store":
        raw = read_annotations(args.files, kb)
        rows = stored(raw, _texts_of(raw))
        atomic_write_text(args.output, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        print(f"{args.output}: {len(rows)} annotations")
    elif args.command == "gold":
        labels = gold(*(read_annotations(paths, kb) for paths in (args.first, args.second, args.adjudicated)))
        rows = stored(labels, _texts_of(labels))
        atomic_write_text(args.output, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        print(f"{args.output}: {len(rows)} gold labels, {sum(r['adjudicated'] for r in rows)} adjudicated")
    elif args.command == "check":
        for path in args.files:
            print(f"{path}: {len(read_annotation(path, kb))} annotations, all valid")
    else:
        from mapper.model.corpus import read_sample

        strata = {e["id"]: e["source"] for e in read_sample()}
        print(json.dumps(agreement(read_stored(args.first), read_stored(args.second), strata), indent=1))
    return 0


def _texts_of(ids) -> dict[str, str]:
    """The texts of these ids: real reports from the installed package, our own write-ups from their files."""
    from mapper.model.corpus import own_records, read_sample, texts

    own = own_records()
    real = [e for e in read_sample() if e["id"] in ids and e["id"] not in own]
    return {**texts(real), **{i: own[i]["text"] for i in ids if i in own}}


def _report(folder: Path) -> int:
    """Parts are the folders under ``folder`` holding ``annotations-a.jsonl`` and ``annotations-b.jsonl``; the
    real reports are reported per split, since the test split's figures are the ceiling beside its scores."""
    from mapper.model.corpus import own_records, read_sample

    strata, split = {}, {}
    if (folder / "real" / "sample.jsonl").is_file():
        for e in read_sample(folder / "real" / "sample.jsonl"):
            strata[e["id"]], split[e["id"]] = e["source"], e["split"]
    strata.update({i: r["form"] for i, r in own_records(folder).items()})
    figures = {}
    for part in sorted(p for p in folder.iterdir() if (p / "annotations-a.jsonl").is_file()):
        gold_path = part / "gold.jsonl"
        a, b = read_stored(part / "annotations-a.jsonl"), read_stored(part / "annotations-b.jsonl")
        g = read_stored(gold_path) if gold_path.is_file() else {}
        halves = ("test", "train") if part.name == "real" else (None,)
        for half in halves:
            keep = (lambda i: split.get(i) == half) if half else (lambda i: True)
            name = f"{part.name}, {half} split" if half else part.name
            figures[name] = compare(*({i: x for i, x in d.items() if keep(i)} for d in (a, b, g)), strata)
    atomic_write_text(folder / "agreement.json", json.dumps(figures, indent=1, sort_keys=True) + "\n")
    atomic_write_text(folder / "agreement.md", report_markdown(figures))
    print(f"wrote {folder / 'agreement.json'} and {folder / 'agreement.md'}")
    return 0


if __name__ == "__main__":
    from atlas_eval import run_module

    run_module(main)
