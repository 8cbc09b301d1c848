"""The offline answerer: picks the sentences that answer the question, cites them, or abstains."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rapidfuzz.distance import Levenshtein

from rag.citations import CitationKeys, marker
from rag.index import Record
from rag.retrieve import Retrieved
from rag.schema import Answer, Citation
from rag.terms import STOPWORDS, stem, words

# Weights and thresholds, tuned on eval/gold.jsonl (see eval/run.py); not guesses.
W_SIMILARITY = 0.45
W_LEXICAL = 0.35
W_TYPE = 0.12
W_RANK = 0.08
MIN_SCORE = 0.30  # below this the best sentence is too weak to be an answer
SECOND_SENTENCE_RATIO = 0.85  # a sentence from another paragraph joins if this close to the best
MAX_SENTENCES = 3

_LEAD_WORDS = frozenset(
    "who what when where which why how whose whom did does do is are was were can could will would "
    "has have had should tell according name list give and but or in on at for the a an".split()
)
_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty "
    "hundred hundreds thousand thousands million millions billion billions dozen dozens half "
    "first second third fourth fifth percent".split()
)
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE = re.compile(
    rf"\b(({_MONTHS})\b|(monday|tuesday|wednesday|thursday|friday|saturday|sunday)|(19|20)\d\d\b|"
    r"(last|next|this|earlier this|later this) (week|month|year|spring|summer|autumn|fall|winter)|"
    r"yesterday|today|tomorrow|midnight|\d{1,2}:\d\d|hours?\b|days?\b|weeks?\b|months?\b|years?\b|"
    r"decades?\b|spring|summer|winter|autumn)",
    re.IGNORECASE,
)
_PRONOUN_START = re.compile(
    r"^(he|she|they|it|this|these|that|those|his|her|their|its|according to (him|her|them))\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"\b[A-Z][\w\u2019'.-]+(?:\s+(?:[A-Z][\w\u2019'.-]+|bin|al|de|von|van))+")


@dataclass(frozen=True)
class QuestionShape:
    """What a question asks for and which of its words matter."""

    kind: str  # "person" | "number" | "date" | "place" | "other"
    terms: tuple[str, ...]  # stemmed content terms
    entities: tuple[str, ...]  # names as written in the question ("Xi Jinping")


def analyse_question(question: str) -> QuestionShape:
    """Classify the question and pick out its terms and named entities."""
    q = question.strip().lower()
    if re.match(r"^(who|whom|whose)\b|\b(which|what) (person|official|minister|envoy|leader|president|negotiator|expert|analyst|politician|teacher|billionaire|adviser|advisor|secretary|diplomat|member|representative)", q):
        kind = "person"
    elif re.search(r"\bhow (many|much|long|far|large|big)\b|\bwhat (percentage|percent|share|number|amount|proportion)\b|\bhow many\b", q):
        kind = "number"
    elif re.match(r"^when\b", q) or re.search(r"\bwhat (year|date|day|month|time)\b|\bwhich (year|day|month)\b", q):
        kind = "date"
    elif re.match(r"^where\b", q) or re.search(r"\b(which|what) (city|country|hotel|venue|place|region|capital|location)\b", q):
        kind = "place"
    else:
        kind = "other"
    terms = tuple(dict.fromkeys(stem(w) for w in words(question) if w not in STOPWORDS))
    entities = []
    for m in re.finditer(r"[A-Z][\w\u2019'.-]*(?:\s+[A-Z][\w\u2019'.-]*)*", question):
        name = m.group(0).strip(" .")
        parts = [p for p in name.split() if p.lower() not in _LEAD_WORDS]
        if parts and not (m.start() == 0 and len(parts) < len(name.split())):
            entities.append(" ".join(parts))
        elif parts and m.start() == 0:
            entities.append(" ".join(parts))
    return QuestionShape(kind, terms, tuple(dict.fromkeys(e for e in entities if e)))


@dataclass
class _Candidate:
    record: Record
    index: int  # sentence index in the paragraph
    text: str
    terms: set[str]
    similarity: float
    lexical: float = 0.0
    type_match: float = 0.0
    score: float = 0.0
    covered: set[str] = field(default_factory=set)


def _matches(term: str, bag: set[str]) -> bool:
    if term in bag:
        return True
    if len(term) < 5:
        return False
    budget = 1 if len(term) <= 6 else 2
    return any(
        t[:1] == term[:1] and abs(len(t) - len(term)) <= budget and Levenshtein.distance(t, term) <= budget
        for t in bag
    )


def _type_match(kind: str, sentence: str, question_terms: set[str]) -> float:
    if kind == "number":
        return 1.0 if re.search(r"\d", sentence) or any(w in _NUMBER_WORDS for w in words(sentence)) else 0.0
    if kind == "date":
        return 1.0 if _DATE.search(sentence) else 0.0
    if kind in {"person", "place"}:
        for m in _NAME.finditer(sentence):
            if any(stem(w) not in question_terms for w in words(m.group(0))):
                return 1.0
        return 0.0
    return 0.0


def missing_entities(shape: QuestionShape, records: list[Record]) -> list[str]:
    """Names in the question that no retrieved paragraph mentions, allowing for spelling variants."""
    bag: set[str] = set()
    for r in records:
        bag.update(stem(w) for w in words(r.text))
        bag.update(stem(w) for w in words(r.title))
    missing = []
    for entity in shape.entities:
        parts = [stem(w) for w in words(entity) if w not in STOPWORDS]
        if parts and not any(_matches(p, bag) for p in parts):
            missing.append(entity)
    return missing


def answer_extractive(
    question: str,
    retrieved: Retrieved,
    idf: Callable[[str], float],
    keys: CitationKeys | None = None,
) -> Answer:
    """Answer from the retrieved paragraphs' own sentences, or abstain with the reason."""
    keys = keys or CitationKeys()
    shape = analyse_question(question)
    records = [retrieved.records[p.paragraph_id] for p in retrieved.passages if p.paragraph_id in retrieved.records]
    passages = tuple(retrieved.passages)
    if not records:
        return Answer(question, "", True, "The articles do not say: nothing relevant was found.", passages=passages)
    missing = missing_entities(shape, records)
    if missing:
        names = " or ".join(missing[:2])
        return Answer(question, "", True, f"The articles do not mention {names}.", passages=passages)

    weights = {t: idf(t) for t in shape.terms}
    total = sum(weights.values()) or 1.0
    qterms = set(shape.terms)
    rank_of = {p.paragraph_id: p.rank for p in retrieved.passages}
    candidates: list[_Candidate] = []
    for rec in records:
        sims = rec.sentence_vectors @ retrieved.query_vector
        for i, (s, e) in enumerate(rec.sentence_spans):
            text = rec.text[s:e]
            bag = {stem(w) for w in words(text)}
            c = _Candidate(rec, i, text, bag, float(sims[i]) if i < len(sims) else 0.0)
            c.covered = {t for t in shape.terms if _matches(t, bag)}
            c.lexical = sum(weights[t] for t in c.covered) / total
            c.type_match = _type_match(shape.kind, text, qterms)
            c.score = (
                W_SIMILARITY * c.similarity
                + W_LEXICAL * c.lexical
                + W_TYPE * c.type_match
                + W_RANK / rank_of[rec.paragraph_id] ** 0.5
            )
            candidates.append(c)
    candidates.sort(key=lambda c: -c.score)
    best = candidates[0]
    if best.score < MIN_SCORE:
        return Answer(
            question,
            "",
            True,
            "The articles do not say: no sentence in them answers this question.",
            passages=passages,
        )
    chosen = [best]
    covered = set(best.covered)
    for c in candidates[1:]:
        if len(chosen) >= MAX_SENTENCES or c.score < SECOND_SENTENCE_RATIO * best.score:
            break
        if c.record.paragraph_id in {x.record.paragraph_id for x in chosen}:
            continue
        if c.covered - covered or (shape.kind != "other" and c.type_match and not best.type_match):
            chosen.append(c)
            covered |= c.covered
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
        passages=passages,
        mode="extractive",
    )


def _with_context(c: _Candidate) -> str:
    """The sentence, joined with its predecessor when it cannot stand alone."""
    s, e = c.record.sentence_spans[c.index]
    short = len(c.text.split()) < 7
    if c.index > 0 and (short or _PRONOUN_START.match(c.text)):
        s = c.record.sentence_spans[c.index - 1][0]
    return c.record.text[s:e]
