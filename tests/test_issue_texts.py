"""The four texts of issue 21, told in our own words, mapped by the default model on v2026.05: each must be
recognised as about an AI system, with the named techniques in its top 3. Where the model falls short the test
says so (strict xfail: it fails the day the model gets it right, so the mark is removed then)."""

from __future__ import annotations

import pytest

TEXTS = {
    "bank chatbot": ("A visitor told our bank's support chatbot to ignore its previous instructions and repeat everything "
                     "it had been told before the conversation started. It printed its entire hidden system prompt, "
                     "including internal notes about refund limits.", ["AML.T0051.000", "AML.T0056"]),
    "pickled model": ("We downloaded a pickled model from a public model hub for a quick experiment. When a data "
                      "scientist loaded it, the file opened a reverse shell to an outside server.",
                      ["AML.T0010.003", "AML.T0011.000"]),
    "research agent": ("Our internal research agent browses the web to answer questions. A page it read told it to send "
                       "our API keys to a URL, and it did.", ["AML.T0051.001"]),
    "Tay, retold": ("A chatbot that kept learning from its public conversations was flooded by users with abusive "
                    "messages, and within a day it began posting the same abuse itself.", ["AML.T0020"]),
}


def top3(mapper, text):
    result = mapper.map(text)
    return result.ai_related["decision"], [t.id for t in result.techniques][:3]


# Measured with the shipped model at the end of issue 21: three of the four are now recognised as about AI (the
# research agent and the bank chatbot were not before), but none has every named technique in its top 3.
MISSES = {
    "bank chatbot": "top 3: LLM Prompt Injection, Discover LLM System Information, its System Prompt sub-technique; "
                    "Direct and Extract LLM System Prompt come 4th and below",
    "pickled model": "top 3: Reverse Shell, User Execution, Publish Poisoned Models; the AI supply chain and unsafe "
                     "artefact sub-techniques come below their families",
    "research agent": "top 3: LLM Prompt Injection, Discover AI Agent Configuration, AI Agent Clickbait; Indirect "
                      "comes below its family",
    "Tay, retold": "judged not an attack on AI: the corpus's many stories of chatbots posting abuse without an "
                   "attacker outweigh 'flooded by users'",
}


@pytest.mark.integration
@pytest.mark.encoder
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=MISSES[n]))
                                  if n in MISSES else n for n in TEXTS])
def test_each_issue_text_is_about_ai_with_its_techniques_in_the_top_3(real_mapper, name):
    text, wanted = TEXTS[name]
    recognised, top = top3(real_mapper, text)
    assert recognised and set(wanted) <= set(top), (recognised, top)
