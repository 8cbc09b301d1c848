"""Why the articles do not answer: the offline answerer's abstention rules, each a rule of news
reading that holds for any corpus (a name the articles never mention, an event they report only
as still to come, an answer they say is not known)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.dates import RECENCY_WORDS, format_date, holiday_in
from rag.hops import is_multi_hop
from rag.initials import known_by_initials
from rag.lexicon import FUTURE_MARKERS, IRREGULAR_PAST, MONTH_ABBREVIATIONS, MONTHS, WEEKDAYS, is_past_tense
from rag.places import is_place_name
from rag.questions import (
    ASKING_WORDS,
    KIND_NAMES,
    PHRASE_NOUNS,
    QuestionShape,
    predicate_words,
    unknown_entities,
)
from rag.schema import Record, Retrieved, TimeScope
from rag.terms import STOPWORDS, stem, words


class Thresholds(Protocol):
    """The answerer's thresholds the rules read (`rag.extractive.Tuning` has them)."""

    @property
    def min_paragraph_similarity(self) -> float: ...

    @property
    def min_score(self) -> float: ...

    @property
    def min_verb_similarity(self) -> float: ...


class Scored(Protocol):
    """A scored candidate sentence, as far as the rules read it."""

    score: float
    has_kind: bool


TIME_NAMES = frozenset((*MONTHS, *MONTH_ABBREVIATIONS, *WEEKDAYS))


@dataclass(frozen=True)
class Abstention:
    """Why the articles do not answer the question (shown to the user as is). `final`: no reader
    could answer from them either (they never mention what the question is about)."""

    reason: str
    final: bool = False


def name_parts(shape: QuestionShape) -> list[tuple[str, tuple[str, ...]]]:
    """Each name the question is about with the stemmed words an answer's article must hold
    ("Australian Open" -> ("australian", "open")), its initials as an alternative ("uk").

    Left out: months and weekdays (the time scope weighs those), a place the question only locates
    things in ("...in South Florida": an article may say Miami), and every name of a nested
    question (the described part names the bridge, not the answer's article).
    """
    if is_multi_hop(shape.question):
        return []
    out = []
    for name in shape.entities:
        where = rf"\b(?:in|near|from|outside)\s+(?:the\s+)?{re.escape(name)}"
        clause = rf"\b(?:the|a|an)\s+[a-z]+\s+{re.escape(name)}\s+[a-z]+(?:s|ed)\b"
        if re.search(where, shape.question) or re.search(clause, shape.question):
            continue  # a place things are in, or a reduced clause ("the man Fesenko calls...")
        if is_place_name(name) and re.search(rf"\w,\s+{re.escape(name)}\b", shape.question):
            continue  # the state or country that locates a town ("Winterset, Iowa"): its paper may not say it
        if holiday_in(name).lower() == name.lower().replace("\u2019", "'"):
            continue  # "New Year's Day" is the time scope's day, not what an article must name
        parts = tuple(
            stem(w) for w in words(name) if w not in STOPWORDS and not w.isdigit() and w not in TIME_NAMES
        )
        if parts:
            shown = " ".join(w for w in name.split() if w.lower().strip(".") not in TIME_NAMES)
            out.append((re.sub(r"['\u2019]s$", "", shown), parts))
    return out


def asks_about_the_past(question: str) -> set[str]:
    """The past-tense verbs of a question about what happened ("Who won...?"); empty otherwise."""
    low = question.lower()
    if any(re.search(rf"\b{re.escape(m)}\b", low) for m in (*FUTURE_MARKERS, "do", "does")):
        return set()  # "When does Coca-Cola Spiced hit shelves?" asks of now or later, not the past
    verbs = predicate_words(question)
    # "What verdict did the jury return...?": the verb after "did" asks about the past in its base form.
    did = set(verbs) if re.search(r"\bdid\b", low) else set()
    return (
        {w for w in verbs if is_past_tense(w)}
        | did
        | {
            w
            for w in re.findall(r"[a-z]+", low)[:3]
            if w in IRREGULAR_PAST and w not in ("was", "were", "did")
        }
    )


# The sentence that would answer says the answer is not known (yet): "a man identified only as
# Bob", "whose name has not been released", "the cause is under investigation".
_NOT_KNOWN = re.compile(
    r"\b(?:has|have|had|was|were) not (?:yet )?(?:been )?(?:officially |publicly )?"
    r"(?:released|identified|disclosed|named|made public|determined|announced)\b"
    r"|\bidentified only (?:as|by)\b|\bdeclined to (?:say|name|identify|disclose|specify)\b"
    r"|\b(?:did|does|would) not (?:say|disclose|specify|name|identify|reveal)\b"
    r"|\b(?:is|was|are|were|remains|remained) (?:still )?(?:unclear|unknown|not known|under investigation)\b"
    r"|\bnot (?:immediately|yet) (?:clear|known)\b",
    re.IGNORECASE,
)
_NOT_KNOWN_BUT = re.compile(r"\b(?:but|however)\b", re.IGNORECASE)  # "...did not name her, but it is X"


def still_to_come(past: set[str], sentence: str, as_of: str) -> Abstention | None:
    """ "Who won the Daytona 500?" and the answer's sentence says it "will take place": as of this
    date the articles report the event as still to come."""
    if not past or not only_future(sentence, past):
        return None
    return _to_come(sentence, as_of)


# What was planned for then ("At what time was the government set to shut down?") is reported before.
_PLANNED = re.compile(
    r"\b(?:set|scheduled|expected|due|planned|supposed|slated|poised|going)\s+to\b|\bplan(?:s|ned)?\b"
    r"|\b(?:predict|forecast|project|expect)(?:s|ed|ion|ions)?\b",
    re.IGNORECASE,
)


def after_as_of(question: str, scope: TimeScope, as_of: str) -> Abstention | None:
    """ "What was the price of gas on Memorial Day 2024?" asked in December 2023: what happened
    then, as of this date no article can report (a question of what is expected then may be)."""
    if not scope.ahead or _PLANNED.search(question):
        return None
    if not (re.search(r"\b(?:was|were|did|had)\b", question, re.I) or asks_about_the_past(question)):
        return None
    return Abstention(
        f"{_as_of(as_of)}, \u201c{scope.phrase}\u201d is still to come: no article can report it yet.",
        final=True,
    )


def _to_come(sentence: str, as_of: str) -> Abstention:
    return Abstention(
        f"{_as_of(as_of)}, the articles report this only as still to come: \u201c{sentence.strip()}\u201d"
    )


def _as_of(as_of: str) -> str:
    return f"As of {format_date(dt.date.fromisoformat(as_of[:10]))}" if as_of else "So far"


# What is reported ahead of the event the question asks about ("Putin's approval rating has
# reached 80% ahead of the vote" for "What share of the vote did Putin receive?").
_AHEAD_OF = re.compile(
    r"\b(?:ahead of|on the eve of|in the (?:run|lead)-up to|leading up to) (?:the |this |next |[\w.-]+['\u2019]s )?"
    r"((?:[\w-]+ ){0,2}[\w-]+)",
    re.IGNORECASE,
)


def ahead_of_the_event(question: str, sentence: str, as_of: str) -> Abstention | None:
    """A question about how an event went ("did ... receive", "won"), and the sentence that would
    answer tells what stood ahead of that event: as of this date it is still to come."""
    if not (re.search(r"\bdid\b", question, re.IGNORECASE) or asks_about_the_past(question)):
        return None
    asked = {stem(w) for w in words(question) if w not in STOPWORDS}
    said = {stem(w) for w in words(sentence)}
    verbs = {stem(w) for w in predicate_words(question)}
    for m in _AHEAD_OF.finditer(sentence):
        event = {stem(w) for w in words(m.group(1)) if w not in STOPWORDS}
        if event & asked and not verbs & said:
            return _to_come(sentence, as_of)
    return None


def only_future(sentence: str, verbs: set[str]) -> bool:
    """The sentence tells what will happen and not what the question asks happened ("The Daytona
    500 will take place on Sunday" for "Who won the Daytona 500?")."""
    low = sentence.lower()
    found = [m.start() for f in FUTURE_MARKERS for m in re.finditer(rf"\b{re.escape(f)}\b", low)]
    if not found:
        return False
    # "Lai Ching-te emerged victorious ..., a result that will chart ...": it reports what happened first.
    # A participle before "by" ("Hosted by comedian Jo Koy, ... will begin") tells nothing happened.
    before = re.findall(r"[a-z]+", low[: min(found)])
    if any(
        is_past_tense(w) and (i + 1 == len(before) or before[i + 1] != "by") for i, w in enumerate(before)
    ):
        return False
    tokens = words(sentence)
    said = {stem(w) for w in tokens}  # "announced" tells the "announce" asked about
    # "will soon return ... after winning the seat" tells the "won" asked about; "will win" does not.
    done = {stem(w) for w in tokens if w.endswith("ing")}
    return not any(
        re.search(rf"\b{re.escape(v)}\b", low) or stem(v) in said or stem(IRREGULAR_PAST.get(v, v)) in done
        for v in verbs
    )


def short(text: str, limit: int = 60) -> str:
    """A name quoted in a reason, cut to a readable length (a pasted page is no name)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def unanswerable(
    shape: QuestionShape,
    records: list[Record],
    retrieved: Retrieved,
    known: Callable[[str], bool],
    tuning: Thresholds,
) -> str | None:
    """Why the corpus cannot answer the question, whatever its sentences say; None if it may."""
    if not records:
        return "The articles do not say: nothing relevant was found."
    if shape.kind in ("person", "number", "date"):
        reason = unknown_word(shape, records, retrieved, known, tuning)
        if reason:
            return reason
    if max(retrieved.dense_similarity.values(), default=0.0) < tuning.min_paragraph_similarity:
        return "The articles do not say: none of them is about this."
    return None


def absent_subject(shape: QuestionShape, known: Callable[[str], bool]) -> Abstention | None:
    """The question is about a name the corpus never mentions ("What is the capital of
    Australia?"): no passage can answer it, so no reader, model or not, need be asked."""
    missing = unknown_entities(shape, known)
    if missing:
        return Abstention(
            f"The articles do not mention {' or '.join(short(m) for m in missing[:2])}.", final=True
        )
    return None


def unknown_word(
    shape: QuestionShape,
    records: list[Record],
    retrieved: Retrieved,
    known: Callable[[str], bool],
    tuning: Thresholds,
) -> str | None:
    """A question after a name, number or date whose subject the corpus never mentions ("How
    old...", "Who is the ambassador...") has no answer here, however close the topic."""
    question = shape.question
    initialled = {w for e in shape.entities if known_by_initials(e, known) for w in words(e)}
    unknown = [
        w
        for w in words(question)
        if w not in STOPWORDS
        and w not in initialled
        and w not in ASKING_WORDS
        and w not in PHRASE_NOUNS
        and w not in RECENCY_WORDS  # "the current CEO": a time, not a word the articles must use
        and not w.isdigit()
        and not known(stem(w))
    ]
    # A verb the articles do not use may still be answered in other words ("When will the EU
    # stop importing..." -- "a deal to end Russian imports"), but only by a close sentence.
    verbs = set(predicate_words(question))
    if any(w not in verbs for w in unknown):
        return f"The articles do not mention \u201c{short(next(w for w in unknown if w not in verbs))}\u201d."
    if unknown and closest_sentence(records, retrieved) < tuning.min_verb_similarity:
        return f"The articles do not mention \u201c{short(unknown[0])}\u201d."
    return None


def no_good_sentence(candidates: Sequence[Scored], shape: QuestionShape, tuning: Thresholds) -> str | None:
    """Why none of the scored sentences (best first) is an answer; None when the best one is."""
    if not candidates:
        return "The articles do not say: no sentence in them answers this."
    # "Which fuel...?" may be answered by a common noun ("oil"): only a name's absence is no reason.
    # Nor is a place's: "Where...?" may be answered by "abroad" or "on the ship".
    if shape.kind not in ("other", "name", "place") and not any(c.has_kind for c in candidates[:3]):
        return f"The articles do not say: no passage gives {KIND_NAMES[shape.kind]} for this."
    if candidates[0].score < tuning.min_score:
        return "The articles do not say: no sentence in them answers this."
    return None


def closest_sentence(records: list[Record], retrieved: Retrieved) -> float:
    """The highest question-to-sentence similarity among the retrieved paragraphs."""
    return max(
        (
            float((r.sentence_vectors @ retrieved.query_vector).max())
            for r in records
            if r.sentence_vectors.size
        ),
        default=0.0,
    )


def not_known(sentence: str) -> Abstention | None:
    """The sentence that would answer says the answer is not known (yet)."""
    if _NOT_KNOWN.search(sentence) and not _NOT_KNOWN_BUT.search(sentence):
        return Abstention(f"The articles say it is not known: \u201c{sentence.strip()}\u201d")
    return None


# The sentence only weighs who or what it may be: "has discussed with Rodgers about being his running
# mate", "a host with a particular edge at nabbing the final", "is considering", "a top candidate to
# be". Not a description ("Valieva, the favorite to win gold", "front-runner Trump won Iowa"): that
# may well answer.
_SPECULATION = re.compile(
    r"\b(?:has|have|had) (?:reportedly )?discussed\b|\b(?:is|are|was|were) (?:reportedly )?considering\b"
    r"|\bin the running\b|\b(?:an|the|a \w+) edge (?:at|in|for|to)\b|\bshort-?list(?:ed)?\b"
    r"|\b(?:top|possible|potential|likely) (?:candidate|contender|pick|choice)s? (?:to|for)\b",
    re.IGNORECASE,
)


def speculation(sentence: str) -> Abstention | None:
    """The sentence that would answer only weighs the candidates: nothing is decided yet."""
    if _SPECULATION.search(sentence):
        return Abstention(f"The articles only speculate: \u201c{sentence.strip()}\u201d")
    return None
