"""Which sentences join the best one in an answer (the vetoes of `choose`), and when an earlier
report of another value is shown beside the latest (`over_time`): rules of the offline answerer
that read scored sentences, whatever scored them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

from rag.abstain import not_known
from rag.questions import QuestionShape, head_noun, source_terms, term_matches, type_noun
from rag.schema import Record
from rag.terms import stem, words
from rag.values import kind_values, names_a


class Sentence(Protocol):
    """A scored candidate sentence, as far as these rules read it (`rag.extractive` scores them)."""

    record: Record
    text: str
    covered: set[str]  # the question's terms it holds
    share: float  # their IDF-weighted share of the question
    has_kind: bool  # it gives what the question asks for (a name, a number, a date)
    in_year: bool  # the question names a year and the paragraph is of it
    score: float
    timely: float  # the part of `score` the article's date earns
    fit: float  # the part of `score` its shape earns (a name beside the role asked...)
    stale: bool  # the current state is asked and it tells one gone by ("In 1958, ... became")


class JoinTuning(Protocol):
    """The answerer's settings these rules read (`rag.extractive.Tuning` has them)."""

    @property
    def join_ratio(self) -> float: ...

    @property
    def complete_share(self) -> float: ...

    @property
    def max_sentences(self) -> int: ...

    @property
    def rival_ratio(self) -> float: ...


S = TypeVar("S", bound=Sentence)


@dataclass
class Joining:
    """What a sentence must add to join the best one (the state of `choose`)."""

    best: Sentence
    complete: bool  # the best sentence answers alone
    answer: set[str]  # the names, numbers or dates it gives
    names_one: bool  # "Which billionaire...?" and it names one
    covered: set[str]  # question terms covered so far, plus what is never a gap
    paragraphs: set[str]
    since: str = ""  # the first day of the time the question names: an older article tells an earlier event


def choose(candidates: list[S], shape: QuestionShape, tuning: JoinTuning, since: str = "") -> list[S]:
    """The best sentence, plus sentences of other paragraphs that add what it lacks; `since`: the
    first day of the time the question names ("on Thursday"), before which no article reports it."""
    best = candidates[0]
    if shape.kind != "other" and not best.has_kind:
        typed = next((c for c in candidates[1:3] if c.has_kind), None)
        if typed is not None and shape.kind != "name":  # most sentences hold some name
            best = typed
    alone = complete(best, shape, tuning)
    # No gap to fill: the noun a "which X" question asks for an instance of ("...to fuel the
    # green energy transition" says nothing about "Which fuel...?"), nor its source's words.
    head = head_noun(shape.question)
    state = Joining(
        best=best,
        complete=alone,
        answer=kind_values(shape.kind, best.text, set(shape.terms)) if best.has_kind else set(),
        names_one=bool(head and names_a(head, best.text, set(shape.terms))),
        covered=set(best.covered) | ({head} if head else set()) | source_terms(shape.question),
        paragraphs={best.record.paragraph_id},
        since=since,
    )
    chosen = [best]
    for c in candidates:
        if len(chosen) >= tuning.max_sentences or c.score < tuning.join_ratio * candidates[0].score:
            break
        if joins(c, state, shape):
            chosen.append(c)
            state.covered |= c.covered
            state.paragraphs.add(c.record.paragraph_id)
    return chosen


def joins(c: Sentence, state: Joining, shape: QuestionShape) -> bool:
    """Whether `c` joins the answer: no veto applies and it covers a term not yet covered."""
    return not (
        c.record.paragraph_id in state.paragraphs
        or older_than(c, state.since)
        or (c.stale and not state.best.stale)  # the present answered: a past state adds nothing
        or other_year(c, state)
        or holds_less(c, state, shape)
        or same_value(c, state, shape)
        or no_rival(c, state, shape)
        or adds_no_value(c, state, shape)
    ) and bool(c.covered - state.covered)


def older_than(c: Sentence, since: str) -> bool:
    """The sentence's article was published before `since` (an undated one is not: no evidence)."""
    return bool(c.record.publish_date) and c.record.publish_date[:10] < since


# The kinds whose values tell one answer from another ("name" holds nearly any capitalised word).
TYPED = frozenset(("person", "number", "date", "organization", "company", "country"))


def adds_no_value(c: Sentence, state: Joining, shape: QuestionShape) -> bool:
    """The best sentence gives a name, number, date, cause or kind asked for: a sentence giving none adds
    only background ("After the earthquake, officials issued a tsunami warning"), unless it says the
    answer is not known."""
    return (
        (shape.kind in (*TYPED, "cause") or type_noun(shape.question) is not None)  # "What kind of..."
        and state.best.has_kind
        and not c.has_kind
        and not_known(c.text) is None
    )


def other_year(c: Sentence, state: Joining) -> bool:
    """The year asked about is answered: another year's sentence adds nothing."""
    return state.best.in_year and not c.in_year


def holds_less(c: Sentence, state: Joining, shape: QuestionShape) -> bool:
    """A complete answer, or one giving the name, number or date asked, is joined only by a rival
    holding as much of the question and shaped as well to answer it, not by one that adds a word."""
    gives = shape.kind in TYPED and state.best.has_kind
    return (state.complete or gives) and (
        c.share < state.best.share or c.fit < state.best.fit or told(c, shape) < told(state.best, shape)
    )


def told(c: Sentence, shape: QuestionShape) -> set[str]:
    """The question's terms the sentence holds beyond its names: the act it tells ("win", "reelect")."""
    return c.covered - {stem(w) for e in shape.entities for w in words(e)}


def same_value(c: Sentence, state: Joining, shape: QuestionShape) -> bool:
    """It gives only names, numbers or dates the best sentence gives: nothing to add ("If confirmed,
    Fagan would be..." after "Biden has nominated Adm. Linda Fagan...")."""
    if not state.answer or shape.kind == "other":
        return False
    values = kind_values(shape.kind, c.text, set(shape.terms))
    if not values:  # nothing of the kind: vetoed only by a complete answer (else see adds_no_value)
        return state.complete
    return all(term_matches(v, state.answer) for v in values)


def no_rival(c: Sentence, state: Joining, shape: QuestionShape) -> bool:
    """ "Which billionaire...?" answered by "...Len Blavatnik, a billionaire...": another sentence
    joins only as a rival answer naming another billionaire."""
    head = head_noun(shape.question)
    return state.names_one and bool(head) and not names_a(head or "", c.text, set(shape.terms))


def complete(c: Sentence, shape: QuestionShape, tuning: JoinTuning) -> bool:
    """The sentence answers alone: it holds most of the question's weight and what it asks for."""
    return c.share >= tuning.complete_share and (shape.kind == "other" or c.has_kind)


def over_time(
    chosen: list[S], candidates: list[S], shape: QuestionShape, tuning: JoinTuning, since: str = ""
) -> list[S] | None:
    """The latest report and an earlier one, newest first, when sentences of differently dated
    articles give different values for what is asked (a name, a number, a date) and score
    within `rival_ratio` of each other (dates aside: being older is what makes a report earlier);
    None when the reports agree or are not dated apart. `since`: the first day of the time the
    question names ("on Thursday", "this year's"): an article before it reports an earlier event."""
    if shape.kind not in TYPED or not chosen[0].has_kind:
        return None  # two names (causes, kinds) tell no change as two numbers do: most sentences hold some
    lead = chosen[0]
    asked = set(shape.terms)
    lead_values = kind_values(shape.kind, lead.text, asked)
    bar = tuning.rival_ratio * (lead.score - lead.timely)
    for c in sorted(candidates, key=lambda c: c.timely - c.score)[:12]:
        if c.score - c.timely < bar:
            break
        if c.record.article_id == lead.record.article_id or not c.has_kind:
            continue
        if (
            not (c.record.publish_date and lead.record.publish_date)
            or c.record.publish_date == lead.record.publish_date
            or older_than(c, since)
        ):
            continue
        ours, theirs = told(lead, shape), told(c, shape)
        if (not ours <= theirs and len(theirs) <= len(ours)) or c.fit < lead.fit:
            continue  # it tells less of the act asked about ("reelect" beside "runoff"), or no holder of the role
        values = kind_values(shape.kind, c.text, asked)
        theirs = {v for v in values if not term_matches(v, lead_values)}
        ours = {v for v in lead_values if not term_matches(v, values)}
        if theirs and ours:  # each gives a name (number, date) the other does not
            return sorted([lead, c], key=lambda x: x.record.publish_date, reverse=True)
    return None
