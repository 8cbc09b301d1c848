"""The offline answerer: picks the sentences that answer the question, cites them, or abstains."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rag.citations import CitationKeys, marker
from rag.index import Record
from rag.questions import (
    ASKING_WORDS,
    KIND_NAMES,
    PHRASE_NOUNS,
    PRONOUN_START,
    QuestionShape,
    analyse_question,
    asks_full_name,
    bridge_names,
    describes_given,
    full_name,
    has_kind,
    head_noun,
    hop_query,
    is_multi_hop,
    kind_values,
    known_by_initials,
    names_a,
    names_to_complete,
    predicate_words,
    source_terms,
    term_matches,
    unknown_entities,
    years_in,
)
from rag.retrieve import Retrieved
from rag.schema import Answer, Citation, is_heading
from rag.terms import STOPWORDS, stem, words


@dataclass(frozen=True)
class Tuning:
    """Weights and thresholds of the answerer, tuned on eval/gold.jsonl by eval/tune.py."""

    w_similarity: float = 1.0  # question vs sentence (in-context sentence vector)
    w_lexical: float = 0.6  # IDF-weighted share of question terms in the sentence
    w_paragraph: float = 0.3  # the same share over the whole paragraph
    w_type: float = 0.25  # the sentence holds what the question asks for (name, number, date)
    w_rank: float = 0.0  # prior for better-ranked passages (the reranker already orders them)
    w_head: float = 0.1  # "which newspaper...": the sentence names one ("the newspaper Kommersant")
    min_paragraph_similarity: float = 0.35  # below: the articles are not about this at all
    min_score: float = 0.45  # below: no sentence is a good enough answer
    join_ratio: float = 0.85  # a sentence of another paragraph joins if this close to the best
    complete_share: float = 0.6  # a sentence holding this share of the question answers alone
    min_verb_similarity: float = 0.62  # a question with a verb the articles never use needs this
    max_sentences: int = 2
    w_year: float = 0.3  # the question names a year and the paragraph is of that year


TUNING = Tuning()


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
    score: float = 0.0


def _abstain(question: str, reason: str, retrieved: Retrieved) -> Answer:
    return Answer(question, "", True, reason, passages=tuple(retrieved.passages))


def _select(
    question: str,
    retrieved: Retrieved,
    idf: Callable[[str], float],
    known: Callable[[str], bool],
    tuning: Tuning,
    context: str = "",
) -> _Selection | str:
    """The sentences that answer, best first, or why none does (the reason to abstain with)."""
    shape = analyse_question(question)
    records = [
        retrieved.records[p.paragraph_id] for p in retrieved.passages if p.paragraph_id in retrieved.records
    ]
    if not records:
        return "The articles do not say: nothing relevant was found."
    missing = unknown_entities(shape, known)
    if missing:
        return f"The articles do not mention {' or '.join(missing[:2])}."
    if shape.kind in ("person", "number", "date"):
        # A question after a name, number or date whose subject the corpus never mentions
        # ("How old...", "Who is the ambassador...") has no answer here, however close the topic.
        initialled = {w for e in shape.entities if known_by_initials(e, known) for w in words(e)}
        unknown = [
            w
            for w in words(question)
            if w not in STOPWORDS
            and w not in initialled
            and w not in ASKING_WORDS
            and w not in PHRASE_NOUNS
            and not w.isdigit()
            and not known(stem(w))
        ]
        # A verb the articles do not use may still be answered in other words ("When will the EU
        # stop importing..." -- "a deal to end Russian imports"), but only by a close sentence.
        verbs = set(predicate_words(question))
        if any(w not in verbs for w in unknown):
            return f"The articles do not mention \u201c{next(w for w in unknown if w not in verbs)}\u201d."
        if unknown and _closest_sentence(records, retrieved) < tuning.min_verb_similarity:
            return f"The articles do not mention \u201c{unknown[0]}\u201d."
    if max(retrieved.dense_similarity.values(), default=0.0) < tuning.min_paragraph_similarity:
        return "The articles do not say: none of them is about this."

    weights = {t: idf(t) for t in shape.terms}
    total = sum(weights.values()) or 1.0
    qterms = set(shape.terms)
    # Terms the corpus never uses count as covered by what retrieval searched instead ("beijing"
    # by "china"); spelling variants are matched by `term_matches` itself.
    instead = {t: frozenset(retrieved.expansions.get(t, ())) for t in shape.terms}

    def covers(t: str, bag: frozenset[str] | set[str]) -> bool:
        return term_matches(t, bag) or not instead[t].isdisjoint(bag)

    head = head_noun(question)
    # "the Golden Globes 2024": that year's, not 2021's; a follow-up keeps the year asked before.
    years = years_in(question) or years_in(context)
    rank_of = {p.paragraph_id: p.rank for p in retrieved.passages}
    candidates: list[_Candidate] = []
    for rec in records:
        sims = rec.sentence_vectors @ retrieved.query_vector
        paragraph_cover = sum(w for t, w in weights.items() if covers(t, rec.terms)) / total
        in_year = bool(years) and _of_year(rec, years)
        heading = is_heading(rec.text)
        for i, (s, e) in enumerate(rec.sentence_spans):
            text = rec.text[s:e]
            if heading:  # a section heading names a topic; it never answers a question
                continue
            if text.rstrip().rstrip("\u201d\"'\u2019)").endswith("?"):
                continue  # nor does a question ("What is an aircraft door plug?")
            bag = {stem(w) for w in words(text)}
            c = _Candidate(rec, i, text, float(sims[i]) if i < len(sims) else 0.0)
            c.covered = {t for t in shape.terms if covers(t, bag)}
            if head in c.covered and describes_given(head, text, qterms):
                c.covered.discard(head)  # the sentence's "billionaire" is the question's own man
            c.share = sum(weights[t] for t in c.covered) / total
            c.has_kind = has_kind(shape.kind, text, qterms)
            c.in_year = in_year
            c.score = (
                tuning.w_similarity * c.similarity
                + tuning.w_lexical * c.share
                + tuning.w_paragraph * paragraph_cover
                + tuning.w_type * c.has_kind
                + tuning.w_rank / rank_of[rec.paragraph_id] ** 0.5
                + (tuning.w_head * names_a(head, text, qterms) if head else 0.0)
                + tuning.w_year * c.in_year
            )
            candidates.append(c)
    if not candidates:
        return "The articles do not say: no sentence in them answers this."
    candidates.sort(key=lambda c: -c.score)
    best = candidates[0]
    if shape.kind != "other" and not any(c.has_kind for c in candidates[:3]):
        return f"The articles do not say: no passage gives {KIND_NAMES[shape.kind]} for this."
    if best.score < tuning.min_score:
        return "The articles do not say: no sentence in them answers this."
    chosen = _choose(candidates, shape, tuning)
    # A nested question needs no hop when its first sentence already gives the name, number or
    # date it asks for ("Who is the envoy that held talks in Florida?" -- "Putin's envoy Kirill
    # Dmitriev ... in Florida"). Other questions ("What fund does the man who...") always hop:
    # nothing tells whether the first sentence holds the fund rather than the man.
    answered = shape.kind != "other" and _complete(chosen[0], shape, tuning)
    return _Selection(chosen, candidates, weights, answered)


def _of_year(rec: Record, years: set[str]) -> bool:
    """The paragraph is about one of `years`: its article is dated then, or it or its title names it."""
    return rec.publish_date[:4] in years or any(y in rec.text or y in rec.title for y in years)


def _closest_sentence(records: list[Record], retrieved: Retrieved) -> float:
    """The highest question-to-sentence similarity among the retrieved paragraphs."""
    return max(
        (
            float((r.sentence_vectors @ retrieved.query_vector).max())
            for r in records
            if r.sentence_vectors.size
        ),
        default=0.0,
    )


@dataclass
class _Selection:
    chosen: list[_Candidate]  # best first
    candidates: list[_Candidate]  # every scored sentence, best first
    weights: dict[str, float]  # IDF of the question's terms
    answered: bool  # the first sentence alone answers: a nested question takes no second hop


def answer_extractive(
    question: str,
    retrieved: Retrieved,
    idf: Callable[[str], float],
    known: Callable[[str], bool],
    keys: CitationKeys | None = None,
    tuning: Tuning = TUNING,
    context: str = "",
) -> Answer:
    """Answer from the retrieved paragraphs' own sentences, or abstain saying what is missing.

    Args:
        question: the user's question.
        retrieved: passages with their records (sentence spans and vectors) and the query vector.
        idf: inverse document frequency of a stemmed term in the corpus.
        known: whether a stemmed term (or a spelling variant) occurs anywhere in the corpus.
        keys: citation numbering to continue (a conversation keeps its numbers).
        tuning: weights and thresholds.
        context: the earlier question a follow-up leans on (its year still applies).
    """
    sel = _select(question, retrieved, idf, known, tuning, context)
    if isinstance(sel, str):
        return _abstain(question, sel, retrieved)
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
    return _cited_answer(question, chosen, retrieved, keys or CitationKeys())


def full_name_lookups(
    question: str,
    retrieved: Retrieved,
    idf: Callable[[str], float],
    known: Callable[[str], bool],
    tuning: Tuning = TUNING,
) -> list[tuple[str, str]]:
    """For a question after someone's full name whose answering sentence gives a surname only
    ("Separately, Fesenko warned..."): (surname, article id) pairs to look up where the article
    gives the whole name; [] when none is needed or a retrieved paragraph already gives it."""
    if not asks_full_name(question):
        return []
    sel = _select(question, retrieved, idf, known, tuning)
    if isinstance(sel, str):
        return []
    first = sel.chosen[0]
    names = names_to_complete(question, first.text)
    return [
        (n, first.record.article_id)
        for n in names
        if not any(full_name(n, r.text) for r in retrieved.records.values())
    ]


def _introduction(first: _Candidate, candidates: list[_Candidate], names: list[str]) -> _Candidate | None:
    """The best other sentence, of any retrieved paragraph (its own included), giving the full name
    of someone `first` names by surname only ("...noted Volodymyr Fesenko." for "Separately,
    Fesenko warned..."); None when `first` gives it itself."""
    if not names or any(full_name(n, first.text) for n in names):
        return None
    return next((c for c in candidates if c is not first and any(full_name(n, c.text) for n in names)), None)


def hop_query_for(
    question: str,
    retrieved: Retrieved,
    idf: Callable[[str], float],
    known: Callable[[str], bool],
    tuning: Tuning = TUNING,
) -> str:
    """The query of a nested question's second retrieval: the names its first sentence gives ("the
    main Russian negotiator" -> Kirill Dmitriev) and the words that sentence leaves unanswered; ""
    when the question is not nested, the articles do not answer it, the first sentence already
    gives what it asks for, or names no one new."""
    if not is_multi_hop(question):
        return ""
    sel = _select(question, retrieved, idf, known, tuning)
    if isinstance(sel, str) or sel.answered:
        return ""
    return hop_query(_with_context(sel.chosen[0]), question)


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


def _choose(candidates: list[_Candidate], shape: QuestionShape, tuning: Tuning) -> list[_Candidate]:
    """The best sentence, plus sentences of other paragraphs that add what it lacks."""
    best = candidates[0]
    if shape.kind != "other" and not best.has_kind:
        typed = next((c for c in candidates[1:3] if c.has_kind), None)
        if typed is not None:
            best = typed
    chosen = [best]
    # A sentence that answers alone is joined only by a close rival that holds as much of the
    # question (two paragraphs that both seem to answer: show both), not by one that adds a word.
    complete = _complete(best, shape, tuning)
    # No gap to fill: the noun a "which X" question asks for an instance of (a sentence that only
    # adds the word, "...to fuel the green energy transition" for "Which fuel...?", says nothing
    # about the answer), nor the words that name its source ("according to the article on the
    # Kremlin talks").
    head = head_noun(shape.question)
    covered = set(best.covered) | ({head} if head else set()) | source_terms(shape.question)
    asked = set(shape.terms)

    def values(c: _Candidate) -> set[str]:
        return kind_values(shape.kind, c.text, asked)

    answer = values(best) if complete else set()
    # "Which billionaire...?" answered by "...Len Blavatnik, a billionaire...": another sentence
    # joins only as a rival answer naming another billionaire, not to add the question's words.
    names_one = bool(head and names_a(head, best.text, asked))
    for c in candidates:
        if len(chosen) >= tuning.max_sentences or c.score < tuning.join_ratio * candidates[0].score:
            break
        if c.record.paragraph_id in {x.record.paragraph_id for x in chosen}:
            continue
        if best.in_year and not c.in_year:
            continue  # the year asked about is answered: another year's rival adds nothing
        if complete and c.share < best.share:
            continue
        if complete and shape.kind != "other" and all(term_matches(v, answer) for v in values(c)):
            continue  # it gives the same name, number or date: nothing to add
        if names_one and head and not names_a(head, c.text, asked):
            continue
        if c.covered - covered:
            chosen.append(c)
            covered |= c.covered
    return chosen


def _complete(c: _Candidate, shape: QuestionShape, tuning: Tuning) -> bool:
    """The sentence answers alone: it holds most of the question's weight and what it asks for."""
    return c.share >= tuning.complete_share and (shape.kind == "other" or c.has_kind)


def _cited_answer(
    question: str, chosen: list[_Candidate], retrieved: Retrieved, keys: CitationKeys
) -> Answer:
    parts: list[str] = []
    citations: dict[str, Citation] = {}
    for c in chosen:
        quote = _with_context(c)
        key = keys.key(c.record.paragraph_id)
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
            )
    return Answer(
        question=question,
        text=" ".join(parts),
        abstained=False,
        citations=tuple(sorted(citations.values(), key=lambda c: c.key)),
        passages=tuple(retrieved.passages),
        mode="extractive",
    )


def _with_context(c: _Candidate) -> str:
    """The sentence, joined with its predecessor when it cannot stand alone."""
    s, e = c.record.sentence_spans[c.index]
    if c.index > 0 and (len(c.text.split()) < 7 or PRONOUN_START.match(c.text)):
        s = c.record.sentence_spans[c.index - 1][0]
    kicker = _KICKER.match(c.record.text, s, e)
    return c.record.text[kicker.end() if kicker else s : e]


# A page's all-caps label run into the first sentence: "ANALYSIS FROM The closed-door talks...".
# Two or three all-caps words, or one with a colon ("EXCLUSIVE:"); never "NATO Secretary...".
_KICKER = re.compile(r"(?:(?:[A-Z]{3,}\s+){2,3}|[A-Z]{2,}[:|]\s+)(?=[A-Z][a-z])")
