"""A name and its initials: "EU" for "European Union", "RFK Jr." for Robert F. Kennedy Jr., "the
Federal Aviation Administration" for a question's "FAA"."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from rag.terms import STOPWORDS, stem, words
from rag.values import NAME_SUFFIXES, ORGANIZATION_END

if TYPE_CHECKING:
    from rag.questions import QuestionShape

_BODIES = frozenset("union nations kingdom states emirates".split())


def known_by_initials(name: str, known: Callable[[str], bool]) -> bool:
    """The corpus writes this name as its initials ("EU" for "European Union")."""
    short = acronym(name)
    return bool(short) and known(short)


def name_initials(shape: QuestionShape) -> set[str]:
    """The initials of the question's names of several words ("uk" for "United Kingdom"): how a
    role held there may be written ("UK Prime Minister Liz Truss")."""
    return {"".join(w[0] for w in words(e)) for e in shape.entities if " " in e}


_ACRONYM = re.compile(r"\b[A-Z]{2,5}\b")


def initialisms(shape: QuestionShape) -> dict[str, frozenset[str]]:
    """The question's names of three or more words by their initials ("rfk" for Robert F. Kennedy
    Jr., with or without the suffix), each to the stemmed words it stands for."""
    out: dict[str, frozenset[str]] = {}
    for e in shape.entities:
        ws = words(e)
        core = ws[:-1] if ws and ws[-1] in NAME_SUFFIXES else ws
        for part in {tuple(ws), tuple(core)}:
            if len(part) >= 3:
                out["".join(w[0] for w in part)] = frozenset(stem(w) for w in ws)
    return out


def written_initials(text: str, initials: dict[str, frozenset[str]]) -> set[str]:
    """The words of the names `text` writes by their initials ("RFK Jr. said" -> robert, kennedi...)."""
    out: set[str] = set()
    for m in _ACRONYM.finditer(text):
        out |= initials.get(m.group(0).lower(), frozenset())
    return out


_SPELLED = re.compile(r"\b[A-Z][a-z]+(?:\s+(?:(?:of|for|and|on|the)\s+)?[A-Z][a-z]+)+")


def acronyms_in(question: str) -> frozenset[str]:
    """The question's acronyms, lower-cased ("faa" for "Which jets did the FAA ground?")."""
    return frozenset(m.group(0).lower() for m in _ACRONYM.finditer(question))


def spelled_out(text: str, acronyms: frozenset[str]) -> set[str]:
    """Those of `acronyms` that `text` spells out ("The Federal Aviation Administration has
    grounded..." for "faa"), by the initials of its capitalised words."""
    out: set[str] = set()
    for m in _SPELLED.finditer(text):
        caps = [w[0].lower() for w in m.group(0).split() if w[0].isupper()]
        for i in range(len(caps) - 1):
            for j in range(i + 2, min(len(caps), i + 5) + 1):
                if (short := "".join(caps[i:j])) in acronyms:
                    out.add(short)
    return out


def acronym(name: str) -> str:
    """The initials of a name of two or more words, stop words left out: "European Union" -> "eu",
    "Institute for the Study of War" -> "isw"; "" for a person's name, a single word or one with
    initials ("U.S.")."""
    parts = [w for w in words(name) if w not in STOPWORDS]
    if len(parts) < 2 or any(len(w) < 3 for w in parts):
        return ""
    # Two letters are initials only for a body ("EU", "UN"): "Steve Witkoff" is no "SW".
    if len(parts) == 2 and parts[-1] not in _BODIES and not ORGANIZATION_END.match(parts[-1].title()):
        return ""
    return "".join(w[0] for w in parts)
