"""Messages for people: a request that failed validation, a model version's figures and its error, each as
plain words (no validation dump, exception class, path or SQL). The web edge (:mod:`mapper.serve.app`) sends them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from types import UnionType
from typing import Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

PLACES = ("body", "query", "path", "header", "cookie", "form")


def _either(values) -> str:
    quoted = [json.dumps(v) for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _number(value) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _bare(kind):
    """X of Optional[X]."""
    if get_origin(kind) in (Union, UnionType):
        args = [a for a in get_args(kind) if a is not type(None)]
        return args[0] if len(args) == 1 else kind
    return kind


def _inner(kind):
    """The type a nested field is looked up in: X of X, Optional[X] or list[X]."""
    kind = _bare(kind)
    return _bare(get_args(kind)[0]) if get_origin(kind) is list and get_args(kind) else kind


def is_model(kind) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


def _object_like(fields: Mapping[str, FieldInfo]) -> str:
    """``{"text": ...}``: the required fields of a JSON object."""
    return "{" + ", ".join(f'"{name}": ...' for name, info in fields.items() if info.is_required()) + "}"


def _expects(info: FieldInfo) -> str:
    """What a field takes, in words, from its type and its constraints."""
    kind = _bare(info.annotation)
    limit = {k: getattr(m, k) for m in info.metadata for k in ("ge", "le", "gt", "lt", "max_length")
             if getattr(m, k, None) is not None}
    low = limit.get("ge", limit.get("gt"))
    high = limit.get("le", limit.get("lt"))
    span = ""
    if low is not None:
        span = f" from {_number(low)} to {_number(high)}" if high is not None else f" of at least {_number(low)}"
    elif high is not None:
        span = f" of at most {_number(high)}"
    if get_origin(kind) is Literal:
        return "one of " + _either(get_args(kind))
    if kind is bool:
        return "true or false"
    if kind is int:
        return "a whole number" + span
    if kind is float:
        return "a number" + span
    if kind is str:
        return "a string" + (f" of at most {limit['max_length']:,} characters" if "max_length" in limit else "")
    if get_origin(kind) is list:
        item = _inner(kind)
        return f"a list of objects like {_object_like(item.model_fields)}" if is_model(item) else "a list"
    if is_model(kind):
        return f"an object like {_object_like(kind.model_fields)}"
    return "a valid value"


def invalid_message(errors: Sequence[dict], body: Mapping[str, FieldInfo] | None = None,
                    params: Mapping[str, FieldInfo] | None = None) -> str:
    """One plain sentence for a request that failed validation: its first problem, naming the field and what it
    expects (never pydantic's own report).

    ``errors``: pydantic's error dicts, from FastAPI's RequestValidationError (locations start with "body",
    "query", ...) or a model's own ValidationError (locations start at the field); ``body`` and ``params``: the
    fields of the body and of the query and path, where each one's type and limits are read."""
    body, params = body or {}, params or {}
    first = errors[0] if errors else {}
    kind, loc = first.get("type", ""), list(first.get("loc", ()))
    place = loc.pop(0) if loc and loc[0] in PLACES else "body"
    send = f"send {_object_like(body)}" if any(i.is_required() for i in body.values()) else "send a JSON object"
    if kind == "json_invalid":
        return f"the body is not valid JSON: {send}"
    names = [p for p in loc if isinstance(p, str)]
    if not names:  # the body as a whole
        if kind == "missing":
            return f"the request needs a JSON body: {send}"
        return f"the body must be a JSON object: {send}"
    info = (body if place in ("body", "form") else params).get(names[0])
    for name in names[1:]:  # into a nested object (evidence[0].start)
        inner = _inner(info.annotation) if info is not None else None
        info = inner.model_fields.get(name) if is_model(inner) else None
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    if info is None:
        return f"{field} is not valid here"
    if kind == "missing":
        if info.description and not info.description.endswith("."):
            return f'the request needs a "{field}" field holding {info.description}'
        return f'the request needs a "{field}" field: {_expects(info)}'
    return f"{field} must be {_expects(info)}"


# -- model versions as people read them ---------------------------------------------------
RATES = ("AP@10", "R@10", "Success@1")


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def figures_text(figures) -> str:
    """A version's figures (:mod:`mapper.serve.training`) as a line of text, e.g. "AP@10 0.71 · R@10 0.85 ·
    Success@1 0.60 on 12 new reviews; trained on 57 case studies and 3 reviewed write-ups, threshold 0.09"."""
    if not isinstance(figures, dict):
        return ""
    parts = [str(figures["note"])] if figures.get("note") else []
    scored = figures.get("earlier_models_on_new_reviews")
    if isinstance(scored, dict):
        kept, empty = int(scored.get("with_techniques", 0)), int(scored.get("without", 0))
        if kept:
            rates = " · ".join(f"{k} {float(scored[k]):.2f}" for k in RATES if scored.get(k) is not None)
            parts.append(f"{rates} on {_count(kept, 'new review')}")
        if empty and scored.get("nothing_listed_when_nothing_kept") is not None:
            parts.append(f"listed nothing for {float(scored['nothing_listed_when_nothing_kept']):.0%} of "
                         f"{_count(empty, 'new review')} that kept nothing")
        if not kept and not empty:
            parts.append("no new reviews to score")
    trained = figures.get("trained_on")
    if isinstance(trained, dict):
        line = (f"trained on {_count(int(trained.get('case_studies', 0)), 'case study', 'case studies')} "
                f"and {_count(int(trained.get('reviewed_writeups', 0)), 'reviewed write-up')}")
        if trained.get("threshold") is not None:
            line += f", threshold {float(trained['threshold']):.2g}"
        parts.append(line)
    return "; ".join(parts)


# a stored error an exception wrote (its class name, a path) is shown as this; its text is in the server's log
TRAINING_FAILED = "training failed; see the server's log"
RAW_ERROR = re.compile(r"[/\\]|\b[A-Z]\w*(Error|Exception|Exit|Interrupt)\b")


def _shown_error(error: str | None) -> str | None:
    """A failed version's error as the API and the queue show it: the workbench's own plain sentences (they
    start lower-case and name no exception or path) as they are, anything else as TRAINING_FAILED."""
    if not error:
        return error
    return error if error[:1].islower() and not RAW_ERROR.search(error) else TRAINING_FAILED


def shown_models(models: dict) -> dict:
    return {**models, "versions": [{**m, "error": _shown_error(m.get("error"))} for m in models["versions"]]}
