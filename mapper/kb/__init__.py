"""Knowledge base: the parsed ATLAS release."""

from mapper.kb.clean import clean_text
from mapper.kb.diff import diff_kb
from mapper.kb.model import (
    REPLACED_IDS,
    CaseStudy,
    KnowledgeBase,
    Mitigation,
    Step,
    Tactic,
    Technique,
    load_kb,
    parse,
    tactic_shortname,
)

__all__ = [
    "REPLACED_IDS", "CaseStudy", "KnowledgeBase", "Mitigation", "Step", "Tactic", "Technique",
    "clean_text", "diff_kb", "load_kb", "parse", "tactic_shortname",
]
