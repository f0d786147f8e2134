"""Turn ATLAS markdown/HTML into plain text for embedding and display.

Only known presentational markup is removed. Tag-like payload text found in
case studies (``<think>``, ``<PROMPT>``, ``<<<start_user_message>>>``) is kept,
because it is part of what the attack looked like.
"""

from __future__ import annotations

import html
import re

# [text](/techniques/AML.T0005) and [text](https://...) -> text
_INLINE_LINK = re.compile(r"\[([^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*)\]\((?:[^()\s]|\([^()]*\))*\)")
# reference-style citations such as [\[1\]][1] or [1][1] or [^1^]
_REF_CITATION = re.compile(r"[ \t]*(?:\[\\?\[\d+\\?\]\]\[\d+\]|\[\d+\]\[\d+\])")
# definitions: "[1]: https://... "title"" on their own line
_REF_DEFINITION = re.compile(r"^[ \t]*\[\d+\]:[ \t]*\S+.*$", re.MULTILINE)
# presentational tags only; anything else that looks like a tag is payload text
_MARKUP_TAG = re.compile(r"</?(?:div|span|sup|sub|br|p|b|i|em|strong|img|a|code|pre)\b[^<>]*?/?>", re.IGNORECASE)
_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_SPACES = re.compile(r"[ \t\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def clean_text(text: object) -> str:
    """Plain text from an ATLAS description, summary or procedure step."""
    if text is None:
        return ""
    out = str(text)
    out = _REF_DEFINITION.sub("", out)
    out = _REF_CITATION.sub("", out)
    out = _INLINE_LINK.sub(r"\1", out)
    out = _MARKUP_TAG.sub(" ", out)
    out = _EMPHASIS.sub(r"\2", out)
    out = html.unescape(out)
    out = _SPACES.sub(" ", out)
    out = "\n".join(line.strip() for line in out.split("\n"))
    out = _BLANK_LINES.sub("\n\n", out)
    return out.strip()
