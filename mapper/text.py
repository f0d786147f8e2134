"""Plain text and sentences: ATLAS markup removed, and a write-up split into sentences that keep their offsets.

Offsets always index the text the caller gave us, so evidence can be
highlighted in the original. Block structure (blank lines, bullet lists,
headings, HTML blocks) ends a sentence; very long run-on text is cut into
windows so that no single unit swamps the encoder.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache

# -- markdown and HTML to plain text (ATLAS's fields and pasted write-ups alike) --

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


# -- sentences --
MAX_SENTENCE_CHARS = 400

_BLOCK_BREAK = re.compile(
    r"\n[ \t]*\n"
    r"|\n(?=[ \t]*(?:[-*+\u2022\u25aa\u2023\u25e6>]|\d{1,3}[.)]|#{1,6})[ \t])"
    r"|<br\s*/?>"
    r"|</?(?:p|div|li|ul|ol|h[1-6]|tr|td|th|table|blockquote)\b[^<>]*>",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?;]+[\"')\]]*(?=\s+[\"'(\[]?[A-Z0-9])|[.!?]+[\"')\]]*(?=\s*$)|\n(?=[ \t]*[A-Z])")
_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "vs", "dr", "mr", "mrs", "ms", "inc", "ltd", "co", "corp", "al", "fig",
    "no", "u.s", "u.k", "approx", "ca", "cf", "jr", "sr", "st", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
}
_LEADING_MARKER = re.compile(r"[ \t]*(?:[-*+\u2022\u25aa\u2023\u25e6>#]+|\d{1,3}[.)])[ \t]+")
# The longest write-up mapped unless the caller raises it (about 300,000 words).
MAX_TEXT_CHARS = 2_000_000
_WORDLIKE = re.compile(r"[^\W_]", re.UNICODE)


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    text: str  # exactly source[start:end]

    @property
    def clean(self) -> str:
        """What the encoders see: markup removed, whitespace folded."""
        return clean_text(self.text)


def _blocks(text: str):
    pos = 0
    for match in _BLOCK_BREAK.finditer(text):
        yield pos, match.start()
        pos = match.end()
    yield pos, len(text)


def _is_abbreviation(text: str, end: int) -> bool:
    """True when the full stop ending at ``end`` closes an abbreviation or an initial."""
    if text[end - 1] != ".":
        return False
    word = re.search(r"([\w.]+)\.$", text[max(0, end - 12):end])
    if not word:
        return False
    token = word.group(1).lower()
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha() and token.isupper() is False)


def _sentences_in_block(text: str, start: int, end: int):
    pos = start
    for match in _SENTENCE_END.finditer(text, start, end):
        stop = match.end()
        if _is_abbreviation(text, stop):
            continue
        yield pos, stop
        pos = stop
    yield pos, end


def _windows(text: str, start: int, end: int, limit: int):
    """Cut an over-long span at whitespace (preferring after , ; :) into pieces of at most ``limit``."""
    while end - start > limit:
        cut_zone = text[start:start + limit]
        cut = max(cut_zone.rfind(", "), cut_zone.rfind("; "), cut_zone.rfind(": "))
        if cut < limit // 2:
            cut = cut_zone.rfind(" ")
        if cut < limit // 4:
            cut = limit - 1  # no whitespace at all: hard cut
        yield start, start + cut + 1
        start += cut + 1
    yield start, end


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[Sentence]:
    """Sentences of ``text`` with offsets; units with no letters or digits are dropped."""
    out: list[Sentence] = []
    for b_start, b_end in _blocks(text):
        marker = _LEADING_MARKER.match(text, b_start, b_end)
        if marker:  # a bullet or list number is not a sentence of its own
            b_start = marker.end()
        for s_start, s_end in _sentences_in_block(text, b_start, b_end):
            for w_start, w_end in _windows(text, s_start, s_end, max_chars):
                a, b = _trim(text, w_start, w_end)
                if b > a and _WORDLIKE.search(text, a, b):
                    out.append(Sentence(a, b, text[a:b]))
    return out


# Texts up to this long keep their split for a while: batch splits each write-up to encode a chunk's
# sentences together, then again to map it. Longer ones are split again (cheap beside encoding them), so the
# cache never holds more than a few MB.
CACHED_SPLIT_CHARS = 20_000


def text_units(text: str) -> tuple[list[str], list[Sentence]]:
    """The cleaned sentence texts a write-up is scored by, and their spans (offsets into ``text``)."""
    units, spans = _split(text) if len(text) <= CACHED_SPLIT_CHARS else _split.__wrapped__(text)
    return list(units), list(spans)


@lru_cache(maxsize=256)
def _split(text: str) -> tuple[tuple[str, ...], tuple[Sentence, ...]]:
    spans = tuple(s for s in split_sentences(text) if s.clean)
    return tuple(s.clean for s in spans), spans
