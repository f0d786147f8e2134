"""Exports of a reviewed mapping: what an analyst kept, as files other tools read.

Each exporter takes the report (``id``, ``title``, ``text``, ``created`` ISO 8601, optional
``reviewer``; optional ``incident_date``, when the incident happened: "2024", "2024-03" or "2024-03-15"), the kept
techniques (:func:`mapper.model.reviews.reviewed_techniques`, rejected ones are
never in it) and the knowledge base they were reviewed against, and returns the file's text:

- ``navigator``: an ATLAS Navigator layer (:func:`mapper.io.outputs.navigator_layer`);
- ``stix``: a STIX 2.1 bundle whose attack patterns carry ATLAS's own STIX ids where known;
- ``case-study``: a draft ATLAS case study, valid against ATLAS's website case-study schema;
- ``csv``: one row per technique, safe to open in a spreadsheet;
- ``json``: the reviewed result with the release it names techniques in.

Every export is a function of its inputs only (no clock, no random ids), so exporting a
review again gives the same bytes. A technique is named as an analyst reads it, "Parent: Sub" for a
sub-technique (:meth:`KnowledgeBase.full_name`), and its evidence is listed in the order of the text.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import date, datetime, timezone

import yaml

from mapper import __version__
from mapper.errors import InputError, UsageError
from mapper.io.outputs import navigator_layer
from mapper.kb import KnowledgeBase, tactic_shortname
from mapper.model.reviews import ReviewedTechnique
from mapper.result import Evidence, MappingResult, TacticRef, TechniqueHit

EXPORT_FORMATS = ("navigator", "stix", "case-study", "csv", "json")
MEDIA_TYPES = {
    "navigator": ("application/json", "json"),
    "stix": ("application/stix+json;version=2.1", "json"),
    "case-study": ("application/yaml", "yaml"),
    "csv": ("text/csv", "csv"),
    "json": ("application/json", "json"),
}
CSV_HEADER = ("technique_id", "technique_name", "tactics", "decision", "score", "band", "evidence", "notes")
# a spreadsheet runs a cell starting with one of these as a formula (CSV injection)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ATLAS_URL = "https://atlas.mitre.org/techniques/"
KILL_CHAIN = "mitre-atlas"  # the kill_chain_name of ATLAS's own STIX bundle
# Fixed namespace for the uuid5 ids of everything this project puts in STIX: the same input
# gives the same id on every machine and every export.
STIX_NAMESPACE = uuid.UUID("6d27fe64-ea1c-495b-a975-66ee1ffc0072")
# the identity is one version wherever it is exported, so its timestamps are fixed
IDENTITY_CREATED = "2026-01-01T00:00:00Z"
MAX_DESCRIPTION_CHARS = 1000  # STIX report description: the start of the write-up
MAX_SUMMARY_CHARS = 8000  # case-study summary: a draft the analyst edits, not the whole write-up


# -- shared helpers ------------------------------------------------------------

def _flat(text: str) -> str:
    return " ".join(text.split())


def _shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, paragraphs kept."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    return (cut.rsplit(None, 1)[0] if " " in cut else cut).rstrip() + "..."


def _created(report: dict) -> datetime:
    """The report's ``created`` as an aware datetime (a naive one is taken as UTC)."""
    try:
        when = datetime.fromisoformat(str(report["created"]))
    except ValueError:
        raise InputError(f"report created {report['created']!r} is not an ISO 8601 date-time, "
                         "e.g. 2026-05-30T09:15:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _tactics(item: ReviewedTechnique, kb: KnowledgeBase) -> list[TacticRef]:
    """The technique's tactics; a sub-technique without its own is placed under its parent's."""
    if item.tactics or not item.parent or item.parent not in kb.techniques:
        return item.tactics
    return [TacticRef(t, kb.tactic_by_id[t].name) for t in kb.techniques[item.parent].tactics if t in kb.tactic_by_id]


def _in_text_order(evidence: list[Evidence]) -> list[Evidence]:
    """Evidence as the write-up tells it (by offset), not strongest first: it reads as the text does."""
    return sorted(evidence, key=lambda e: (e.start, e.end))


def _evidence_lines(item: ReviewedTechnique) -> list[str]:
    return [_flat(e.text) for e in _in_text_order(item.evidence) if e.text.strip()]


def _decision(item: ReviewedTechnique) -> str:
    if item.decision == "add":
        return "added by the analyst"
    details = [f"model score {item.score:.2f}"] if item.score is not None else []
    details += [f"confidence {item.band}"] if item.band else []
    return f"accepted ({', '.join(details)})" if details else "accepted"


# -- navigator -----------------------------------------------------------------

def _hit(item: ReviewedTechnique, kb: KnowledgeBase) -> TechniqueHit:
    # an added technique has no model score; it is shown at full strength, as certain as the analyst
    score = item.score if item.score is not None else 1.0
    return TechniqueHit(item.id, kb.full_name(item.id, item.name), item.tactics, score, _in_text_order(item.evidence), item.parent,
                        item.band)


def export_navigator(report: dict, kept: list[ReviewedTechnique], kb: KnowledgeBase) -> str:
    # the Navigator cannot place a technique its release lacks (kept from a result of another release)
    placeable = [item for item in kept if item.id in kb.techniques]
    result = MappingResult(kb.atlas_info(), {}, [_hit(item, kb) for item in placeable], 0.0, len(placeable))
    layer = navigator_layer(result, kb, name=report["title"])
    comments = {item.id: " | ".join([_decision(item), *(f"note: {_flat(n)}" for n in item.notes),
                                     *_evidence_lines(item)]) for item in placeable}
    for entry in layer["techniques"]:
        entry["comment"] = comments[entry["techniqueID"]]
    left_out = [item.id for item in kept if item.id not in kb.techniques]
    layer["description"] = (
        f"ATLAS techniques kept in review of report {report['id']} (ATLAS {kb.release_tag or kb.version}); "
        "score = model probability x 100, 100 for a technique the analyst added."
        + (f" Not in this release, left out: {', '.join(left_out)}." if left_out else "")
    )
    layer["metadata"].append({"name": "report_id", "value": str(report["id"])})
    if report.get("reviewer"):
        layer["metadata"].append({"name": "reviewer", "value": str(report["reviewer"])})
    return json.dumps(layer, indent=2, ensure_ascii=False) + "\n"


# -- STIX 2.1 ------------------------------------------------------------------

def _stix_id(kind: str, *names: str) -> str:
    return f"{kind}--{uuid.uuid5(STIX_NAMESPACE, '|'.join((kind, *names)))}"


def attack_pattern_id(technique_id: str, kb: KnowledgeBase) -> str:
    """The STIX id of a technique: ATLAS's own where the release gives its uuid (v6 files do, and
    those uuids are the ids in ATLAS's STIX bundle), so our objects merge with ATLAS's; otherwise
    (legacy 3.x-5.x files carry no uuid) a uuid5 of the ATLAS ID in this project's namespace."""
    tech = kb.techniques.get(technique_id)
    if tech is not None and tech.uuid:
        try:
            return f"attack-pattern--{uuid.UUID(tech.uuid)}"
        except ValueError:
            pass  # a damaged uuid would make an invalid id: fall back to ours
    return _stix_id("attack-pattern", technique_id)


def _atlas_date(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc) if value else None
    except ValueError:
        return None


def _attack_pattern(item: ReviewedTechnique, kb: KnowledgeBase, when: datetime):
    from stix2.v21 import AttackPattern

    phases = [{"kill_chain_name": KILL_CHAIN, "phase_name": tactic_shortname(t.name)} for t in _tactics(item, kb)]
    tech = kb.techniques.get(item.id)
    # ATLAS's object restated under its own id and, where the release gives them (v6), its own dates, so a
    # platform holding ATLAS's bundle sees the same version of the object, not a newer one of ours
    created = _atlas_date(tech.created if tech else None) or when
    modified = max(_atlas_date(tech.modified if tech else None) or created, created)
    return AttackPattern(
        id=attack_pattern_id(item.id, kb), created=created, modified=modified, name=kb.full_name(item.id, item.name),
        description=tech.description if tech and tech.description else None,
        external_references=[{"source_name": KILL_CHAIN, "external_id": item.id, "url": ATLAS_URL + item.id}],
        kill_chain_phases=phases,  # stix2 leaves out an empty list, which STIX forbids
    )


def _note_content(item: ReviewedTechnique, kb: KnowledgeBase) -> str:
    lines = [f"{item.id} {kb.full_name(item.id, item.name)}: {_decision(item)}."]
    if item.evidence:
        lines += ["", "Evidence:"] + [f'- "{_flat(e.text)}" (characters {e.start}-{e.end})'
                                      for e in _in_text_order(item.evidence)]
    if item.notes:
        lines += ["", "Analyst notes:"] + [f"- {note.strip()}" for note in item.notes]
    return "\n".join(lines)


def export_stix(report: dict, kept: list[ReviewedTechnique], kb: KnowledgeBase) -> str:
    from stix2.v21 import Bundle, Identity, Note, Report

    when = _created(report).astimezone(timezone.utc)
    rid = str(report["id"])
    identity = Identity(id=_stix_id("identity", "atlas-mapper"), created=IDENTITY_CREATED,
                        modified=IDENTITY_CREATED, name="atlas-mapper", identity_class="system",
                        description="Maps incident write-ups to MITRE ATLAS techniques; an analyst reviews the result.")
    patterns = [_attack_pattern(item, kb, when) for item in kept]
    stix_report = Report(
        id=_stix_id("report", rid), created=when, modified=when, created_by_ref=identity.id,
        name=report["title"], published=when, report_types=["threat-report"],
        description=_shorten(report["text"], MAX_DESCRIPTION_CHARS) or None,
        # STIX requires at least one ref: a review that keeps nothing points at who made the report
        object_refs=[p.id for p in patterns] or [identity.id],
        external_references=[{"source_name": "atlas-mapper", "external_id": rid}],
    )
    notes = [
        Note(id=_stix_id("note", rid, item.id), created=when, modified=when, created_by_ref=identity.id,
             abstract=f"{item.id} {kb.full_name(item.id, item.name)}: {item.decision}", content=_note_content(item, kb),
             authors=[str(report["reviewer"])] if report.get("reviewer") else None,
             object_refs=[stix_report.id, pattern.id])
        for item, pattern in zip(kept, patterns)
    ]
    bundle = Bundle(identity, *patterns, stix_report, *notes, id=_stix_id("bundle", rid))
    # serialize(pretty=True) sorts properties in time quadratic in the bundle (8 s for all of ATLAS)
    return json.dumps(json.loads(bundle.serialize()), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# -- ATLAS case study ----------------------------------------------------------

def _placed(kept: list[ReviewedTechnique], kb: KnowledgeBase) -> list[tuple[str, ReviewedTechnique]]:
    """(tactic ID, technique) per kept technique that has a tactic, in matrix order of the tactics,
    ties in kept order; a technique of several tactics goes under the first in matrix order."""
    column = {t.id: n for n, t in enumerate(kb.tactics)}
    placed = []
    for n, item in enumerate(kept):
        tactic_ids = [t.id for t in _tactics(item, kb)]
        if tactic_ids:
            first = min(tactic_ids, key=lambda t: column.get(t, len(column)))  # unknown tactics last
            placed.append((column.get(first, len(column)), n, first, item))
    return [(tactic, item) for _, _, tactic, item in sorted(placed, key=lambda p: p[:2])]


def _in_story_order(placed: list[tuple[str, ReviewedTechnique]],
                    kb: KnowledgeBase) -> list[tuple[str, ReviewedTechnique]]:
    """Procedure steps in the order the write-up tells them: by where each technique's first evidence starts
    (ties in matrix order). A step without evidence has no place in the text; it goes before the first step
    whose tactic comes later in the matrix (so reconnaissance opens the procedure), or at the end."""
    column = {t.id: n for n, t in enumerate(kb.tactics)}
    col = lambda step: column.get(step[0], len(column))  # noqa: E731
    # ``placed`` is in matrix order, and sorting is stable: steps starting at the same character keep it
    ordered = sorted((step for step in placed if step[1].evidence),
                     key=lambda step: min((e.start, e.end) for e in step[1].evidence))
    for step in (step for step in placed if not step[1].evidence):
        ordered.insert(next((i for i, other in enumerate(ordered) if col(other) > col(step)), len(ordered)), step)
    return ordered


def _incident_date(report: dict) -> tuple[str, str] | None:
    """(incident-date, incident-date-granularity) from the report's ``incident_date``, None when it has none.
    "2024" and "2024-03" are written as their first day with granularity YEAR or MONTH, as ATLAS's own case
    studies are; a date-time counts by its date as written (not shifted to UTC)."""
    value = str(report.get("incident_date") or "").strip()
    if not value:
        return None
    partial = re.fullmatch(r"(\d{4})(?:-(0[1-9]|1[0-2]))?", value)
    if partial:
        year, month = partial.groups()
        return f"{year}-{month or '01'}-01", "MONTH" if month else "YEAR"
    try:
        day = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value).date()
    except ValueError:
        raise InputError(f"report incident_date {value!r} is not a date; give YYYY, YYYY-MM or YYYY-MM-DD") from None
    return day.isoformat(), "DATE"


def export_case_study(report: dict, kept: list[ReviewedTechnique], kb: KnowledgeBase) -> str:
    procedure = [{"tactic": tactic, "technique": item.id,
                  "description": " ".join(_evidence_lines(item)) or kb.full_name(item.id, item.name)}
                 for tactic, item in _in_story_order(_placed(kept, kb), kb)]
    meta = {
        "generated-by": f"atlas-mapper {__version__}",
        "draft": True,
        "report-id": str(report["id"]),
        "atlas-release": kb.release_tag or kb.version,
        "atlas-version": kb.version,
        "atlas-format-version": kb.format_version,
    }
    unplaced = [item.id for item in kept if not _tactics(item, kb)]
    if unplaced:  # the schema needs a tactic per step: say which techniques had none
        meta["not-placed"] = unplaced
    study = {"name": report["title"], "summary": _shorten(report["text"], MAX_SUMMARY_CHARS)}
    # ATLAS's case-study schema requires incident-date (a date or date-time) with its granularity (YEAR, MONTH or
    # DATE) and has no way to say "unknown". The day a write-up was added to the workbench is not the day of the
    # incident, so unless the report gives its incident_date both fields are left out and meta says the date is
    # unknown: the draft then fails the schema on exactly those two required fields until the analyst fills them
    # in, rather than passing with a wrong date nobody noticed.
    when = _incident_date(report)
    if when:
        study["incident-date"], study["incident-date-granularity"] = when
    else:
        meta["incident-date"] = "unknown: add study.incident-date and study.incident-date-granularity"
    study["procedure"] = procedure
    if report.get("reviewer"):
        study["reporter"] = str(report["reviewer"])
    # a draft has no id: ATLAS assigns AML.CSxxxx when it publishes a case study
    return yaml.safe_dump({"meta": meta, "study": study}, sort_keys=False, allow_unicode=True, width=100)


# -- CSV -----------------------------------------------------------------------

def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def export_csv(report: dict, kept: list[ReviewedTechnique], kb: KnowledgeBase) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for item in kept:
        row = (item.id, kb.full_name(item.id, item.name), "; ".join(t.name for t in _tactics(item, kb)), item.decision,
               f"{item.score:.4f}" if item.score is not None else None, item.band,
               " | ".join(_evidence_lines(item)), " | ".join(_flat(n) for n in item.notes))
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


# -- JSON ----------------------------------------------------------------------

def export_json(report: dict, kept: list[ReviewedTechnique], kb: KnowledgeBase) -> str:
    data = {
        "report": {key: report.get(key) for key in ("id", "title", "created", "reviewer")},
        "atlas": kb.atlas_info(),
        "techniques": [
            {"id": item.id, "name": kb.full_name(item.id, item.name),
             "tactics": [{"id": t.id, "name": t.name} for t in _tactics(item, kb)],
             "decision": item.decision, "score": item.score, "band": item.band,
             "evidence": [{"text": e.text, "start": e.start, "end": e.end} for e in item.evidence],
             "notes": list(item.notes)}
            for item in kept
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


EXPORTERS = {
    "navigator": export_navigator,
    "stix": export_stix,
    "case-study": export_case_study,
    "csv": export_csv,
    "json": export_json,
}


def export(fmt: str, report: dict, kept: list[ReviewedTechnique], kb: KnowledgeBase) -> str:
    """The reviewed result as a file of format ``fmt`` (one of :data:`EXPORT_FORMATS`)."""
    if fmt not in EXPORTERS:
        raise UsageError(f"unknown export format {fmt!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    return EXPORTERS[fmt](report, kept, kb)
