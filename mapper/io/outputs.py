"""Render a mapping result: terminal table, JSON, YAML, Markdown, ATLAS Navigator layer."""

from __future__ import annotations

import json
import shutil
import textwrap

import yaml

from mapper.errors import UsageError
from mapper.kb import KnowledgeBase, tactic_shortname
from mapper.result import MappingResult

FORMATS = ("table", "json", "yaml", "markdown", "navigator")
NO_TECHNIQUE = "no ATLAS technique recognised"
NAVIGATOR_VERSIONS = {"layer": "4.3", "navigator": "4.6.4"}  # as ATLAS's own published layers
NAVIGATOR_DOMAIN = "atlas-atlas"


def _shorten(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 3, 1)].rstrip() + "..."


def _release(result: MappingResult) -> str:
    """Which ATLAS the IDs belong to, and any filter or translation applied."""
    atlas = result.atlas
    rel = atlas.get("release") or "unknown release"
    text = f"ATLAS {rel} (version {atlas.get('version')})"
    if result.platform:
        text += f", platform {result.platform} only"
    origin = result.translated_from
    if origin:
        text += f", translated from {origin['atlas'].get('release') or origin['atlas'].get('version')}"
        if origin["not_in_release"]:
            text += f" ({len(origin['not_in_release'])} not in this release: {', '.join(origin['not_in_release'])})"
    return text


def _ai_line(result: MappingResult) -> str:
    ai = result.ai_related
    if ai is None:
        return ""
    return f"about an AI system: {'yes' if ai['decision'] else 'no'} (score {ai['score']:.2f}; {ai['why']})"


def render_table(result: MappingResult, width: int | None = None) -> str:
    """One row per technique with its confidence band, its best evidence sentence on the line beneath."""
    width = width or shutil.get_terminal_size((120, 24)).columns
    ai_line = [_ai_line(result)] if result.ai_related else []
    if not result.techniques:
        why = f": {result.reason}" if result.reason else ""
        return "\n".join([f"{NO_TECHNIQUE}{why} (threshold {result.threshold:.2f}; {_release(result)})",
                          *_near_miss_lines(result)]) + "\n"
    rows = []
    for rank, hit in enumerate(result.techniques, 1):
        tactic = ", ".join(t.name for t in hit.tactics) or "-"
        rows.append([str(rank), hit.id, hit.name, tactic, f"{hit.score:.2f}", hit.band or "-"])
    headers = ["#", "ID", "Technique", "Tactic", "Score", "Confidence"]
    widths = [max(len(r[i]) for r in rows + [headers]) for i in range(6)]
    widths[2] = min(widths[2], 44)
    widths[3] = min(widths[3], max(width - sum(widths[:3]) - widths[4] - widths[5] - 10, 12))

    def fmt(cells):
        cut = [_shorten(c, w) for c, w in zip(cells, widths)]
        return "  ".join(c.rjust(w) if i in (0, 4) else c.ljust(w) for i, (c, w) in enumerate(zip(cut, widths))).rstrip()

    indent = " " * (widths[0] + 2)
    lines = [fmt(headers), "  ".join("-" * w for w in widths)]
    for row, hit in zip(rows, result.techniques):
        lines.append(fmt(row))
        if hit.evidence:
            lines.append(indent + _shorten(f'"{hit.evidence[0].text}"', max(width - len(indent), 20)))
    lines.append("")
    if result.reason:
        lines.append(f"note: {result.reason}")
    lines += ai_line
    lines.append(f"{_release(result)}; threshold {result.threshold:.2f}; scores are probabilities "
                 "(confidence: high from 0.50, medium from the threshold, low below it)")
    return "\n".join(lines) + "\n"


def _near_miss_lines(result: MappingResult) -> list[str]:
    if not result.near_misses:
        return []
    return ["nearest below the threshold:"] + [f"  {h.id:<15} {h.score:.2f}  {h.name}" for h in result.near_misses]


def render_json(result: MappingResult) -> str:
    return result.to_json() + "\n"


def render_yaml(result: MappingResult) -> str:
    return yaml.safe_dump(result.to_dict(), sort_keys=False, allow_unicode=True, width=100)


def _md_escape(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_markdown(result: MappingResult) -> str:
    lines = ["# ATLAS techniques", "", f"{_release(result)}, threshold {result.threshold:.2f}.", ""]
    if result.ai_related:
        lines += [_md_escape(_ai_line(result)[0].upper() + _ai_line(result)[1:]) + ".", ""]
    if not result.techniques:
        misses = [f"- {h.id} {_md_escape(h.name)}: {h.score:.2f}" for h in result.near_misses]
        why = f": {result.reason}" if result.reason else ""
        return "\n".join(lines + [f"_{NO_TECHNIQUE}{why}._", ""]
                          + (["Nearest below the threshold:", "", *misses, ""] if misses else []))
    if result.reason:
        lines += [f"_{_md_escape(result.reason)}._", ""]
    lines += ["| # | ID | Technique | Tactics | Score | Confidence |", "|---|---|---|---|---|---|"]
    for rank, hit in enumerate(result.techniques, 1):
        tactics = ", ".join(t.name for t in hit.tactics)
        lines.append(f"| {rank} | {hit.id} | {_md_escape(hit.name)} | {_md_escape(tactics)} | {hit.score:.2f} "
                     f"| {hit.band or '-'} |")
    lines += ["", "## Evidence", ""]
    for hit in result.techniques:
        lines.append(f"### {hit.id} {hit.name}")
        lines.append("")
        for ev in hit.evidence:
            lines.append(f"- ({ev.score:.2f}, chars {ev.start}-{ev.end}) {_md_escape(ev.text)}")
        lines.append("")
    return "\n".join(lines)


def navigator_layer(result: MappingResult, kb: KnowledgeBase, name: str = "atlas-mapper result") -> dict:
    """A layer the ATLAS Navigator loads: same domain, versions and tactic keys as ATLAS's own layers."""
    techniques = []
    for hit in result.techniques:
        comment = " | ".join([*([f"confidence {hit.band}"] if hit.band else []),
                              *(f"{e.score:.2f}: {' '.join(e.text.split())}" for e in hit.evidence)])
        tactic_ids = kb.techniques[hit.id].tactics or (kb.techniques[hit.parent].tactics if hit.parent else ())
        for tactic_id in tactic_ids or [None]:
            entry = {"techniqueID": hit.id, "score": round(hit.score * 100, 1), "comment": comment, "enabled": True}
            if tactic_id in kb.tactic_by_id:
                entry["tactic"] = tactic_shortname(kb.tactic_by_id[tactic_id].name)
            if not hit.parent:
                entry["showSubtechniques"] = True
            techniques.append(entry)
    metadata = [{"name": "generated_by", "value": "atlas-mapper"}]
    for key, label in (("release", "atlas_release"), ("version", "atlas_data_version"),
                       ("format_version", "atlas_format_version")):
        if result.atlas.get(key):
            metadata.append({"name": label, "value": str(result.atlas[key])})
    if result.platform:
        metadata.append({"name": "platform", "value": result.platform})
    return {
        "name": name,
        "versions": dict(NAVIGATOR_VERSIONS),
        "domain": NAVIGATOR_DOMAIN,
        "description": f"Techniques recognised by atlas-mapper ({_release(result)}); score = probability x 100.",
        "metadata": metadata,
        "sorting": 3,
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {"colors": ["#ffffffff", "#66b1ffff", "#ff6666ff"], "minValue": 0, "maxValue": 100},
        "legendItems": [],
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
    }


def render(result: MappingResult, fmt: str, kb: KnowledgeBase | None = None) -> str:
    if fmt == "table":
        return render_table(result)
    if fmt == "json":
        return render_json(result)
    if fmt == "yaml":
        return render_yaml(result)
    if fmt == "markdown":
        return render_markdown(result)
    if fmt == "navigator":
        if kb is None:
            raise UsageError("the navigator format needs the knowledge base")
        return json.dumps(navigator_layer(result, kb), indent=2) + "\n"
    raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")


def technique_text(kb: KnowledgeBase, technique_id: str, width: int = 100) -> str:
    """A technique, readable in a terminal, for `techniques show`."""
    tech = kb.techniques[technique_id]
    tactics = ", ".join(f"{kb.tactic_by_id[t].name} ({t})" for t in tech.tactics if t in kb.tactic_by_id)
    lines = [f"{tech.id}  {kb.full_name(tech.id)}", f"Tactics: {tactics or '-'}"]
    if tech.parent:
        lines.append(f"Sub-technique of {tech.parent} {kb.techniques[tech.parent].name}")
    children = kb.children(tech.id)
    if children:
        lines.append("Sub-techniques: " + "; ".join(f"{c.id} {c.name}" for c in children))
    if tech.maturity:
        lines.append(f"Maturity: {tech.maturity}")
    if tech.platforms:
        lines.append(f"Platforms: {', '.join(tech.platforms)}")
    lines.append("")
    for para in tech.description.split("\n\n"):
        lines += textwrap.wrap(" ".join(para.split()), width) + [""]
    mitigations = kb.mitigations_for(tech.id)
    if mitigations:
        lines.append("Mitigations:")
        lines += [f"  {m.id} {m.name}" for m, _ in mitigations]
    used = [c for c in kb.case_studies if tech.id in c.techniques]
    if used:
        lines.append(f"Case studies ({len(used)}): " + ", ".join(c.id for c in used))
    return "\n".join(lines).rstrip() + "\n"
