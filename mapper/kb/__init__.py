"""Knowledge base: the parsed ATLAS release, whichever file format it came in."""

from mapper.text import clean_text
from mapper.kb.diff import diff_kb
from mapper.kb.load import load_kb, parse
from mapper.kb.model import (
    CaseStudy,
    KnowledgeBase,
    Mitigation,
    Step,
    Tactic,
    Technique,
    tactic_shortname,
)

__all__ = [
    "CaseStudy", "KnowledgeBase", "Mitigation", "Step", "Tactic", "Technique",
    "clean_text", "diff_kb", "load_kb", "parse", "tactic_shortname",
]
