"""Questions asked in two hops ("Where was the man who estimated the losses educated?"): whether
a question is one, and the second hop's query from what the first found."""

from __future__ import annotations

import re

from rag.terms import STOPWORDS, stem, words
from rag.values import after_the, capitalised_runs, name_like

_NESTED = re.compile(
    r"\b\w+\s+(who|whom|whose|which|that|where)\s+\w+|\b(appointed|described|known|named|called)\s+(by|as)\b",
    re.IGNORECASE,
)


# "Who is the CEO of TikTok who visited...?", "What was the name of the craft that...?", "On what
# date was the concert that...?": the described one, or its date or place, is asked, in one hop.
_DESCRIBED = re.compile(
    r"^\s*(?:who\s+(?:is|was|are|were)\b|what\s+(?:is|was|are|were)\s+(?:the|a|an)\s+(?!full name\b)"
    r"|(?:in|on|at|for|from|by)\s+(?:what|which)\s+[a-z]+\s+(?:is|was|are|were|will)\s+(?:the|a|an)\s+)",
    re.IGNORECASE,
)


def is_multi_hop(question: str) -> bool:
    """Whether the question describes what it asks about ("the man who estimated...") to ask
    something of it: two hops. Asking who or what the described one is takes one."""
    rest = question.strip().split(maxsplit=1)
    return len(rest) == 2 and bool(_NESTED.search(rest[1])) and not _DESCRIBED.match(question)


def bridge_names(text: str, question: str) -> list[str]:
    """Name-like words of `text` that the question does not contain: the link to the second hop."""
    asked = {stem(w) for w in words(question)}
    out = []
    for run in capitalised_runs(text):
        if any(stem(w) in asked for m in run for w in words(m.group(0))):  # the question's own name
            continue
        if after_the(text, run[0].start()):
            continue
        for m in run:
            if name_like(m.group(0)):
                out += [w for w in words(m.group(0)) if w not in out]
    return out


def hop_query(lead: str, question: str) -> str:
    """The second hop's query: the names `lead` gives (as names, so spelling variants apply) and
    the question words it does not answer; "" when it names no one new."""
    names = bridge_names(lead, question)
    if not names:
        return ""
    said = {stem(w) for w in words(lead)}
    rest = [w for w in words(question) if w not in STOPWORDS and stem(w) not in said]
    return " ".join([n.capitalize() for n in names[:4]] + rest)
