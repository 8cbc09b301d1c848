"""The offline answerer: picks the sentences that answer the question, cites them, or abstains."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from rag.abstain import (
    Abstention,
    absent_subject,
    after_as_of,
    ahead_of_the_event,
    asks_about_the_past,
    name_parts,
    no_good_sentence,
    not_known,
    short,
    speculation,
    still_to_come,
    unanswerable,
)
from rag.citations import CitationKeys, marker
from rag.dates import format_date, parse_date, time_fit, window_start, without_time
from rag.hops import bridge_names, hop_query, is_multi_hop
from rag.initials import acronym, acronyms_in, initialisms, name_initials, spelled_out, written_initials
from rag.joining import TYPED, choose, complete, over_time
from rag.lexicon import MONTHS
from rag.places import place_aliases
from rag.questions import (
    DAY_OF_MONTH,
    PRONOUN_START,
    analyse_question,
    asked_rank,
    asked_unit,
    asks_full_name,
    count_verb,
    counted_noun,
    head_noun,
    identity_name,
    name_cues,
    names_to_complete,
    part_of,
    predecessor,
    predicate_words,
    role_forms,
    role_noun,
    term_matches,
    type_noun,
    years_in,
)
from rag.retrieve import merge
from rag.schema import LINK_LABELS, Answer, Citation, Record, Retrieved, TimeScope, is_heading, is_link_line
from rag.terms import stem, words
from rag.values import (
    counts,
    describes_given,
    editions,
    full_name,
    has_kind,
    holder_named,
    identifies,
    names_a,
    names_after,
    names_beside,
    other_edition,
    sibling_event,
    sorts,
    within,
)


@dataclass(frozen=True)
class Tuning:
    """Weights and thresholds of the answerer, tuned on eval/gold.jsonl by eval/tune.py."""

    w_similarity: float = 1.0  # question vs sentence (in-context sentence vector)
    w_lexical: float = 0.6  # IDF-weighted share of question terms in the sentence
    w_paragraph: float = 0.3  # the same share over the whole paragraph
    w_type: float = 0.25  # the sentence holds what the question asks for (name, number, date)
    w_rank: float = 0.15  # prior for better-ranked passages (the reranker weighs titles and dates)
    w_head: float = 0.1  # "which newspaper...": the sentence names one ("the newspaper Kommersant")
    w_role: float = 0.5  # "Who is the CEO of...": the sentence names one ("Disney CEO Bob Chapek")
    min_paragraph_similarity: float = 0.35  # below: the articles are not about this at all
    min_score: float = 0.45  # below: no sentence is a good enough answer
    join_ratio: float = 0.9  # a sentence of another paragraph joins if this close to the best
    complete_share: float = 0.6  # a sentence holding this share of the question answers alone
    min_verb_similarity: float = 0.62  # a question with a verb the articles never use needs this
    max_sentences: int = 2
    w_year: float = 0.3  # the question names a year and the paragraph is of that year
    w_time_window: float = 0.3  # the article is of the time the question names ("this week")
    w_time_soft: float = 0.3  # the article is recent and the question asks for the latest state
    rival_ratio: float = 0.85  # an earlier or later report giving another value, this close, is shown too
    w_identity: float = 0.3  # "Who is X?": the sentence says who X is ("X, the head of ...")
    w_count: float = 0.2  # "How many people...": the sentence puts a number before "people"
    w_verb: float = 0.2  # the sentence uses the question's own verb ("transferred his authority to")
    w_day: float = 0.3  # "When will...?": a day of a month ("on Feb. 25"), not "earlier this week"
    w_prep: float = 0.5  # a name after the question's cue ("in favor of his son Felipe", "named Hua Hua")
    w_stale: float = 0.2  # the current state asked, and the sentence tells a former one ("the then-CEO")


TUNING = Tuning()


class Lookup(Protocol):
    """What the answerer asks the retriever: more passages, and what the corpus knows of a term."""

    def search(self, query: str, k: int, article: str | None = None) -> Retrieved:
        """Passages for `query` under the question's filters, or inside `article` only."""
        ...

    def idf(self, term: str) -> float:
        """Inverse document frequency of a stemmed term in the corpus."""
        ...

    def known(self, term: str) -> bool:
        """Whether a stemmed term (or a spelling variant) occurs anywhere in the corpus."""
        ...

    def articles_with(self, terms: Sequence[str], article_ids: Sequence[str]) -> set[str]:
        """Those of `article_ids` with a paragraph holding one of the stemmed `terms`."""
        ...


@dataclass
class _Candidate:
    record: Record
    index: int  # sentence index in the paragraph
    text: str
    similarity: float
    covered: set[str] = field(default_factory=set)
    share: float = 0.0  # IDF-weighted share of the question's terms the sentence holds
    has_kind: bool = False
    in_year: bool = False  # the question names a year and the paragraph is of it
    base: float = 0.0  # the score without the rank prior (a hop re-ranks the passages)
    score: float = 0.0
    timely: float = 0.0  # the part of `base` the article's date earns (its fit to the question's time)
    fit: float = 0.0  # the part of `base` the sentence's shape earns (a name beside the role asked...)
    stale: bool = False  # the current state is asked and the sentence tells one gone by


@dataclass
class Selection:
    """The sentences that answer, best first, among every scored sentence."""

    chosen: list[_Candidate]
    candidates: list[_Candidate]  # best first
    weights: dict[str, float]  # IDF of the question's terms
    answered: bool  # the first sentence alone answers: a nested question takes no second hop
    past: set[str] = field(default_factory=set)  # the question's past-tense verbs ("won")


@dataclass
class Evidence:
    """The passages an answer draws on (after any lookups) and the extractive selection over them."""

    question: str
    retrieved: Retrieved
    outcome: Selection | Abstention


class _Scorer:
    """Scores a question's candidate sentences, each paragraph once however often it is selected."""

    def __init__(
        self, question: str, retrieved: Retrieved, lookup: Lookup, tuning: Tuning, context: str
    ) -> None:
        self.shape = analyse_question(without_time(question, retrieved.scope))
        self.lookup = lookup
        self.tuning = tuning
        self.query_vector = retrieved.query_vector
        self.weights = {t: lookup.idf(t) for t in self.shape.terms}
        self.total = sum(self.weights.values()) or 1.0
        self.qterms = set(self.shape.terms)
        # Terms the corpus never uses count as covered by what retrieval searched instead ("beijing"
        # by "china"); spelling variants are matched by `term_matches` itself.
        self.instead = {t: frozenset(retrieved.expansions.get(t, ())) for t in self.shape.terms}
        self.head = head_noun(question)
        # "Who is the prime minister of...": the sentence putting a name beside the role answers.
        self.role = role_noun(question)
        self.roles = role_forms(self.role) if self.role else ()
        self.initials = name_initials(self.shape)
        self.by_initials = initialisms(self.shape)  # "RFK" in a sentence names Robert F. Kennedy
        # "the FAA" of the question is "the Federal Aviation Administration" of a sentence.
        self.acronyms = acronyms_in(question) & set(self.shape.terms)
        self.successor = predecessor(question)
        self.cues = name_cues(question)
        # "How many people...", "How many members ... voted": a number before the noun or the verb.
        self.counted: tuple[str, ...] = ()
        if self.shape.kind == "number":
            verb = count_verb(question)
            self.counted = counted_noun(question) + ((verb,) if verb else ())
        self.unit = asked_unit(question) if self.shape.kind in ("number", "date") else None
        # "How much of the $8.5 billion award...": a part, smaller than the whole.
        self.whole = part_of(question) if self.shape.kind == "number" else None
        # "When will the winners be announced?": "on Feb. 25" tells more than "earlier this week".
        self.day = DAY_OF_MONTH if self.shape.kind == "date" and self.unit is None else None
        self.sorted = type_noun(question)
        self.editions = editions(question)
        # "the Golden Globes 2024": that year's, not 2021's; a follow-up keeps the year asked before.
        self.years = years_in(question) or years_in(context)
        self.past = asks_about_the_past(question)
        self.identity = identity_name(question)
        self.names = name_parts(self.shape)
        # "To whom did Austin transfer his authority?": the sentence telling that act, not his day
        # (for the kinds whose value the act gives; "Which fuel has the EU agreed..." is no act).
        acts = predicate_words(question)
        self.verbs = {stem(w) for w in acts} & self.qterms if self.shape.kind in TYPED else set()
        # "Who finished second...?": a sentence without the rank names whoever finished otherwise.
        self.rank = asked_rank(question)
        self._titles: dict[str, frozenset[str]] = {}
        self._mentioned: dict[tuple[str, str], bool] = {}
        self.scope = retrieved.scope
        self.as_of = parse_date(retrieved.as_of)
        self.now = self.scope.strength == "soft"  # the present holder is asked, not one supposed
        # "What was the gas price on Memorial Day 2024?" asked in 2023: nothing can answer yet.
        self.ahead = after_as_of(self.shape.question, self.scope, retrieved.as_of)
        self.w_time = {"window": tuning.w_time_window, "soft": tuning.w_time_soft}.get(
            self.scope.strength, 0.0
        )
        self._scored: dict[str, list[_Candidate]] = {}

    def covers(self, t: str, bag: frozenset[str] | set[str]) -> bool:
        return term_matches(t, bag) or not self.instead[t].isdisjoint(bag)

    def unnamed(self, rec: Record) -> str | None:
        """The first of the question's names that the paragraph's article never gives (a passage on
        the U.S. Open does not answer for the Australian Open); None if it gives them all."""
        if not self.names:
            return None
        if rec.article_id not in self._titles:
            self._titles[rec.article_id] = frozenset(stem(w) for w in words(rec.title))
        bag = rec.terms | self._titles[rec.article_id]
        for name, parts in self.names:
            short = acronym(name)
            if short and self._in_article(short, rec, bag):
                continue
            if not all(self._in_article(p, rec, bag) for p in parts):
                return name
        return None

    def _in_article(self, part: str, rec: Record, bag: frozenset[str]) -> bool:
        forms = {part} | self.instead.get(part, frozenset()) | place_aliases(part)
        if term_matches(part, bag) or not forms.isdisjoint(bag):
            return True
        key = (part, rec.article_id)
        if key not in self._mentioned:
            self._mentioned[key] = bool(self.lookup.articles_with(sorted(forms), [rec.article_id]))
        return self._mentioned[key]

    def candidates(self, rec: Record) -> list[_Candidate]:
        """The paragraph's sentences that could answer, scored without the rank prior."""
        if rec.paragraph_id not in self._scored:
            self._scored[rec.paragraph_id] = list(self._score(rec))
        return self._scored[rec.paragraph_id]

    def _score(self, rec: Record) -> Iterator[_Candidate]:
        if is_heading(rec.text) or is_link_line(rec.text) or self.unnamed(rec):
            return  # a heading names a topic, a link line another story: neither answers
        t, shape = self.tuning, self.shape
        sims = rec.sentence_vectors @ self.query_vector
        paragraph_cover = (
            sum(w for term, w in self.weights.items() if self.covers(term, rec.topic_terms)) / self.total
        )
        in_year = bool(self.years) and _of_year(rec, self.years)
        timely = self.w_time * time_fit(self.scope, rec.publish_date, self.as_of) if self.as_of else 0.0
        for i, (s, e) in enumerate(rec.sentence_spans):
            text = rec.text[s:e]
            if (
                _asks(text)
                or text.rstrip().endswith(":")
                or _LINK.match(text)
                or _FACT_BOX.match(text)
                or _NOT_PROSE.search(text)
            ):
                continue  # a question, a list's lead-in, a link to another story, a fact box, a table row
            if (self.editions and other_edition(self.editions, text)) or sibling_event(shape.entities, text):
                continue  # "Super Bowl LVI's teams", "the French Open": not the event asked about
            bag = {stem(w) for w in words(text)}
            if self.by_initials:
                bag |= written_initials(text, self.by_initials)
            if self.acronyms:
                bag |= spelled_out(text, self.acronyms)
            c = _Candidate(rec, i, text, float(sims[i]) if i < len(sims) else 0.0)
            c.covered = {term for term in shape.terms if self.covers(term, bag)}
            if self.head in c.covered and describes_given(self.head, text, self.qterms):
                c.covered.discard(self.head)  # the sentence's "billionaire" is the question's own man
            c.share = sum(self.weights[term] for term in c.covered) / self.total
            c.has_kind = (
                sorts(self.sorted, text, self.qterms)
                if self.sorted
                else has_kind(shape.kind, text, self.qterms)
            ) and (self.unit is None or bool(self.unit.search(text)))
            c.has_kind = (
                c.has_kind
                and (self.whole is None or within(self.whole, text))
                and (self.rank is None or bool(self.rank.search(text)))
            )
            # "France's new Prime Minister Elisabeth Borne" names no successor to Borne.
            uses = [near for r in self.roles for near in names_beside(r, text)] if self.successor else []
            if uses and all(any(stem(w.lower()) in self.successor for w in near) for near in uses):
                c.has_kind = False
            c.in_year = in_year
            # A question about the current state: a sentence telling an older one ("the then-CEO",
            # "when he became Prime Minister in July 2020") is no report of it now.
            stale = (
                self.scope.strength == "soft"
                and self.as_of is not None
                and _stale(text, self.as_of.year, self.qterms)
            )
            c.stale = stale
            c.timely = timely - t.w_stale * stale - self.w_time * _months_before(text, self.scope)
            # "Ebrard was mayor from 2006 to 2012" holds no role in the 2021 the question names.
            named = years_in(text) if self.years and self.roles else set()
            held = not stale and not (named and named.isdisjoint(self.years))
            # How the sentence is shaped to give what is asked: the role beside a name, the act with
            # the question's own verb, a day of a month, a name after the question's preposition.
            c.fit = (
                (t.w_head * names_a(self.head, text, self.qterms) if self.head else 0.0)
                # a name beside a role held before ("former Prime Minister David Cameron") is no holder now
                + (
                    t.w_role
                    * any(holder_named(r, text, self.qterms, self.initials, self.now) for r in self.roles)
                    if held
                    else 0.0
                )
                + (t.w_count * counts(self.counted, text) if self.counted else 0.0)
                + (t.w_identity * identifies(self.identity, text) if self.identity else 0.0)
                + (t.w_verb * len(self.verbs & c.covered) / len(self.verbs) if self.verbs else 0.0)
                + (t.w_day * bool(self.day.search(text)) if self.day else 0.0)
                + (t.w_prep * names_after(self.cues, text, self.qterms) if self.cues else 0.0)
            )
            c.base = (
                t.w_similarity * c.similarity
                + t.w_lexical * c.share
                + t.w_paragraph * paragraph_cover
                + t.w_type * c.has_kind
                + t.w_year * c.in_year
                + c.timely
                + c.fit
            )
            yield c

    def select(self, retrieved: Retrieved) -> Selection | Abstention:
        """The sentences that answer among `retrieved`'s paragraphs, or why none does."""
        records = [
            retrieved.records[p.paragraph_id]
            for p in retrieved.passages
            if p.paragraph_id in retrieved.records
        ]
        absent = absent_subject(self.shape, self.lookup.known) if records else None
        if absent:
            return absent
        if self.ahead:
            return self.ahead
        reason = unanswerable(self.shape, records, retrieved, self.lookup.known, self.tuning)
        if reason:
            return Abstention(reason)
        rank_of = {p.paragraph_id: p.rank for p in retrieved.passages}
        candidates: list[_Candidate] = []
        other_years = False
        for rec in records:
            for c in self.candidates(rec):
                if self.years and not c.in_year:  # "the 2024 Australian Open": not 2022's
                    other_years = True
                    continue
                c.score = c.base + self.tuning.w_rank / rank_of[rec.paragraph_id] ** 0.5
                candidates.append(c)
        candidates.sort(key=lambda c: -c.score)
        missing = [self.unnamed(r) for r in records] if not candidates and self.names else []
        if missing and all(missing):
            return Abstention(f"The articles do not say: no passage found is about {short(str(missing[0]))}.")
        if not candidates and other_years:
            return Abstention(
                f"The articles do not say: no passage found is about {' or '.join(sorted(self.years))}."
            )
        reason = no_good_sentence(candidates, self.shape, self.tuning)
        if reason:
            return Abstention(reason)
        chosen = choose(candidates, self.shape, self.tuning, window_start(self.scope))
        refusal = (
            still_to_come(self.past, chosen[0].text, retrieved.as_of)
            or not_known(chosen[0].text)
            or speculation(chosen[0].text)
            or ahead_of_the_event(self.shape.question, chosen[0].text, retrieved.as_of)
        )
        if not refusal and not complete(chosen[0], self.shape, self.tuning):
            # The best sentence does not answer alone and the one filling its gap says the answer
            # is not known ("A Blue Angels pilot, whose name has not been released, ...").
            refusal = next((r for c in chosen[1:] if (r := not_known(c.text))), None)
        if refusal:
            return refusal
        # A nested question needs no hop when its first sentence already gives the name, number or
        # date it asks for; other nested questions ("What fund does the man who...") always hop, and
        # so does "What kind of specialist is the man who...", whose kind no sentence shows for sure.
        answered = self.shape.kind not in ("other", "type") and complete(chosen[0], self.shape, self.tuning)
        return Selection(chosen, candidates, self.weights, answered, self.past)


def _abstain(question: str, reason: str, retrieved: Retrieved) -> Answer:
    return Answer(question, "", True, reason, passages=tuple(retrieved.passages))


def _asks(sentence: str) -> bool:
    """A question in the text ("What is an aircraft door plug?") is never an answer."""
    return sentence.rstrip().rstrip("\u201d\"'\u2019)").endswith("?")


_SINCE = re.compile(r"\bsince\b(?:\s+[\w'\u2019-]+){0,6}?\s+(?:19|20)\d\d\b", re.IGNORECASE)
_FORMER = re.compile(r"\b(?:former|then-|ex-|outgoing|predecessor|late)\b", re.IGNORECASE)


_WORD = re.compile(r"[A-Za-z][\w'\u2019]*")


def _stale(sentence: str, year: int, terms: set[str]) -> bool:
    """The sentence tells of a state gone by: only years before `year`, or a "former" or "then-"
    holder of a role the question names and no present one ("UK Prime Minister Liz Truss, former
    Prime Minister Gordon Brown" reports the present)."""
    named = years_in(_SINCE.sub(" ", sentence))  # "the highest since June of 1982" dates no state
    if named and max(int(y) for y in named) < year:
        return True
    marked: set[str] = set()
    unmarked: set[str] = set()
    for m in _WORD.finditer(sentence):
        term = stem(m.group().lower())
        if term in terms:
            (marked if _FORMER.search(sentence[max(0, m.start() - 25) : m.end()]) else unmarked).add(term)
    return bool(marked - unmarked)


_MONTH_NAMED = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\b"
)
_MONTH_NUMBER = {m[:3].lower(): i for i, m in enumerate(MONTHS, start=1)}


def _months_before(sentence: str, scope: TimeScope) -> bool:
    """The question names a time ("on Thursday", "this week") and the sentence only months before it
    ("In January, Astrobotic sent its lander..." for a landing in February): a story's backstory."""
    if scope.strength != "window" or not scope.start:
        return False
    named = [_MONTH_NUMBER[m.group(1)[:3].lower()] for m in _MONTH_NAMED.finditer(sentence)]
    start = int(scope.start[5:7])
    return bool(named) and all(1 <= (start - m) % 12 <= 6 for m in named)


def _of_year(rec: Record, years: set[str]) -> bool:
    """The paragraph is about one of `years`: its article is dated then, or it or its title names it."""
    return rec.publish_date[:4] in years or any(y in rec.text or y in rec.title for y in years)


class ExtractiveAnswerer:
    """Answers from the retrieved paragraphs' own sentences, or abstains saying what is missing.

    `gather` makes the one selection of a question, asking `lookup` for what the first passages
    lack (a nested question's second hop, a full name); `compose` turns it into a cited answer.
    """

    def __init__(self, tuning: Tuning = TUNING) -> None:
        self.tuning = tuning

    def answer(
        self,
        question: str,
        retrieved: Retrieved,
        lookup: Lookup,
        keys: CitationKeys | None = None,
        context: str = "",
    ) -> Answer:
        """`compose(gather(...))`: the cited answer, or an abstention with its reason."""
        return self.compose(self.gather(question, retrieved, lookup, context), keys or CitationKeys())

    def gather(self, question: str, retrieved: Retrieved, lookup: Lookup, context: str = "") -> Evidence:
        """Select the answering sentences, fetching a nested question's second hop and a full name.

        Args:
            question: the user's question.
            retrieved: passages with their records (sentence spans and vectors) and the query vector.
            lookup: more passages under the question's filters, and the corpus's terms.
            context: the earlier question a follow-up leans on (its year still applies).
        """
        scorer = _Scorer(question, retrieved, lookup, self.tuning, context)
        outcome = scorer.select(retrieved)
        if isinstance(outcome, Selection) and is_multi_hop(question) and not outcome.answered:
            # The sentence that answers the described part ("the main Russian negotiator") names
            # who it is; searching for that name finds the answer's paragraph.
            query = hop_query(_with_context(outcome.chosen[0]), question)
            if query:
                retrieved = merge(retrieved, lookup.search(query, 3), extra=2)
                outcome = scorer.select(retrieved)
        if isinstance(outcome, Selection) and asks_full_name(question):
            # "What is the full name of...": the answering sentence says "Fesenko"; the paragraph
            # of the same article that gives "Volodymyr Fesenko" joins the passages.
            first = outcome.chosen[0]
            for surname in names_to_complete(question, first.text):
                if any(full_name(surname, r.text) for r in retrieved.records.values()):
                    continue
                found = lookup.search(surname, 10, article=first.record.article_id)
                intro = [p for p in found.passages if full_name(surname, p.text)]
                if intro:
                    retrieved = merge(retrieved, replace(found, passages=intro[:1]), extra=1)
            outcome = scorer.select(retrieved)
        return Evidence(question, retrieved, outcome)

    def compose(self, evidence: Evidence, keys: CitationKeys) -> Answer:
        """The cited answer of a selection, or the abstention with its reason."""
        question, retrieved, sel = evidence.question, evidence.retrieved, evidence.outcome
        if isinstance(sel, Abstention):
            return _abstain(question, sel.reason, retrieved)
        chosen = sel.chosen
        if is_multi_hop(question) and not sel.answered:
            second = _second_hop(chosen[0], sel.candidates, question, sel.weights)
            if second is not None:
                chosen = [chosen[0], second]
        if asks_full_name(question):
            names = names_to_complete(question, chosen[0].text)
            intro = _introduction(chosen[0], sel.candidates, names)
            if intro is not None:
                # "What is Fesenko's first name?": the sentence naming him in full is the answer;
                # "...the full name of the expert who warned...": the warning, then his full name.
                chosen = [intro] if any(n in question for n in names) else [chosen[0], intro]
                return _cited_answer(question, chosen, retrieved, keys)
        shape, since = analyse_question(question), window_start(retrieved.scope)
        dated = over_time(chosen, sel.candidates, shape, self.tuning, since)
        coming = dated and still_to_come(sel.past, dated[0].text, retrieved.as_of)
        if coming:  # the latest report says the event is still to come
            return _abstain(question, coming.reason, retrieved)
        if dated is not None:
            return _cited_answer(question, dated, retrieved, keys, as_of=retrieved.as_of)
        return _cited_answer(question, chosen, retrieved, keys)


def _introduction(first: _Candidate, candidates: list[_Candidate], names: list[str]) -> _Candidate | None:
    """The best other sentence, of any retrieved paragraph (its own included), giving the full name
    of someone `first` names by surname only ("...noted Volodymyr Fesenko." for "Separately,
    Fesenko warned..."); None when `first` gives it itself."""
    if not names or any(full_name(n, first.text) for n in names):
        return None
    return next((c for c in candidates if c is not first and any(full_name(n, c.text) for n in names)), None)


def _second_hop(
    first: _Candidate, candidates: list[_Candidate], question: str, weights: dict[str, float]
) -> _Candidate | None:
    """For a nested question: the best sentence about what the first sentence names.

    "What fund does the man who estimated the losses oversee?" -- the first sentence names the
    man (Dimitriev); the answer is the best sentence of another paragraph that mentions him and
    covers the question's remaining terms.
    """
    names = {stem(w) for w in bridge_names(_with_context(first), question)}
    total = sum(weights.values()) or 1.0

    def linked(c: _Candidate) -> bool:
        if c.record.paragraph_id == first.record.paragraph_id:
            return False
        if names:
            return any(term_matches(n, c.record.terms) for n in names)
        return c.record.article_id == first.record.article_id and abs(c.record.n - first.record.n) == 1

    best: tuple[float, _Candidate] | None = None
    for c in candidates:
        if not linked(c):
            continue
        fresh = sum(weights[t] for t in c.covered - first.covered) / total
        score = c.similarity + fresh + 0.25 * c.has_kind
        if best is None or score > best[0]:
            best = (score, c)
    return best[1] if best else None


def _cited_answer(
    question: str, chosen: list[_Candidate], retrieved: Retrieved, keys: CitationKeys, as_of: str = ""
) -> Answer:
    """The chosen sentences, each cited; with `as_of`, framed as the latest report and an earlier one."""
    parts: list[str] = []
    citations: dict[str, Citation] = {}
    also = {p.paragraph_id: p.also_in for p in retrieved.passages}
    for i, c in enumerate(chosen):
        quote = _with_context(c)
        key = keys.key(c.record.paragraph_id)
        if as_of:
            when = _day(c.record.publish_date)
            lead = f"As of {_day(as_of)}, the latest report ({when}): " if i == 0 else f"Earlier ({when}): "
            parts.append(f"{lead}{quote} {marker(key)}")
        else:
            parts.append(f"{quote} {marker(key)}")
        if c.record.paragraph_id not in citations:
            citations[c.record.paragraph_id] = Citation(
                key=key,
                paragraph_id=c.record.paragraph_id,
                article_id=c.record.article_id,
                title=c.record.title,
                text=c.record.text,
                n=c.record.n,
                url=c.record.url,
                quote=quote,
                publish_date=c.record.publish_date,
                also_in=also.get(c.record.paragraph_id, ()),
            )
    return Answer(
        question=question,
        text=" ".join(parts),
        abstained=False,
        citations=tuple(sorted(citations.values(), key=lambda c: c.key)),
        passages=tuple(retrieved.passages),
        mode="extractive",
    )


def _day(iso: str) -> str:
    return format_date(dt.date.fromisoformat(iso[:10]))


def _with_context(c: _Candidate) -> str:
    """The sentence, joined with its predecessor when it cannot stand alone."""
    s, e = c.record.sentence_spans[c.index]
    if c.index > 0 and (len(c.text.split()) < 7 or PRONOUN_START.match(c.text)):
        s = c.record.sentence_spans[c.index - 1][0]
    kicker = _KICKER.match(c.record.text, s, e)
    return c.record.text[kicker.end() if kicker else s : e]


# A link to another story run into the text: "More: Everything you need to know about...".
# Also a headline run into its label without a space: "King Charles III's health:British monarch...".
_LINK = re.compile(rf"\s*(?:(?i:{LINK_LABELS})\s*:|[^:.!?]{{3,80}}[a-z\u2019')]:[A-Z\u201c\"])")

# A fact box's line: a short label, a colon and a list with no sentence end ("NFL accolades: Super
# Bowl champion (2023), All-Pro second team (2022)"): whose accolades it does not say.
_FACT_BOX = re.compile(r"^[A-Z][\w'\u2019-]*(?: [\w'\u2019-]+){0,3}:\s.*[^.!?\"\u201d'\u2019]\s*$")

# A web address ("...has been replaced. https://www.usatoday.com/story/...") or a table's row of
# cells ("Desiree Zapata — SR, F | Smyrna High School | Smyrna, Delaware"): a page's furniture.
_NOT_PROSE = re.compile(r"https?://|\bwww\.|\S \| \S.* \| \S")

# A page's all-caps label run into the first sentence: "ANALYSIS FROM The closed-door talks...".
# Two or three all-caps words, or one with a colon ("EXCLUSIVE:"); never "NATO Secretary...".
_KICKER = re.compile(r"(?:(?:[A-Z]{3,}\s+){2,3}|[A-Z]{2,}[:|]\s+)(?=[A-Z][a-z])")
