"""Knowledge base: an ATLAS release found, verified or downloaded (``releases``), parsed whichever file
format it came in (``legacy``, ``v6``, ``load``), and the IDs that changed between releases (``links``,
``crosswalk``, ``diff``, ``relabel``)."""

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
    "diff_kb", "load_kb", "parse", "tactic_shortname",
]


def __getattr__(name: str):
    # diff_kb (and the crosswalk it builds on) only when asked for: `map` never needs them
    if name == "diff_kb":
        from mapper.kb.diff import diff_kb

        return diff_kb
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
