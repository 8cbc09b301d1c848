"""The offline answerer: picks the sentences that answer the question, cites them, or abstains."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rapidfuzz.distance import OSA

from rag.citations import CitationKeys, marker
from rag.index import Record
from rag.places import place_aliases
from rag.retrieve import Retrieved
from rag.schema import Answer, Citation
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
    max_sentences: int = 2


TUNING = Tuning()

_QUESTION_LEAD = frozenset(
    "who what when where which why how whose whom did does do is are was were can could will would "
    "has have had should tell according name list give and but or in on at for the a an".split()
)
_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty "
    "hundred hundreds thousand thousands million millions billion billions dozen dozens half "
    "percent".split()
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
_CAPITALISED = re.compile(r"\b[A-Z][\w\u2019'.-]*")
_PERSON_NOUNS = (
    "person|official|minister|envoy|leader|president|negotiator|expert|analyst|politician|teacher|"
    "billionaire|adviser|advisor|aide|secretary|diplomat|representative|figure|man|woman|prince|"
    "journalist|editor|author|head|chief|spokesman|spokesperson"
)
_ORGANIZATION_NOUNS = (
    "organi[sz]ations?|fund|agency|institution|body|company|firm|bank|council|ministry|committee|"
    "institute|party|union|foundation|association"
)
# The last word of an organisation's name: "Russian Direct Investment Fund", "Institute for...".
_ORGANIZATION_END = re.compile(
    r"(Fund|Agency|Bank|Council|Ministry|Committee|Institute|Party|Union|Foundation|Association|"
    r"Organi[sz]ation|Company|Corporation|Group|Office|Service|Department|Commission)\b"
)
_KINDS = [
    ("person", re.compile(rf"^(who|whom|whose)\b|\b(which|what) ([\w-]+ )?({_PERSON_NOUNS})\b|\bname of\b")),
    (
        "number",
        re.compile(
            r"\bhow (many|much|long|far|large|big|old)\b"
            r"|\bwhat (percentage|percent|share|number|amount|proportion|sum)\b"
        ),
    ),
    (
        "date",
        re.compile(r"^when\b|^(what|which|on what|in what)\b.*\b(year|date|day|month)\b|\bhow long ago\b"),
    ),
    ("organization", re.compile(rf"\b(which|what) ([\w-]+ )?({_ORGANIZATION_NOUNS})\b")),
]
# Words a question uses to ask, not to name what it is about: never a reason to abstain.
_ASKING_WORDS = frozenset(
    "name names exact exactly kind type sort role part top main full specific particular "
    "number amount many much often long percent day date time year month week man woman person "
    "people official thing place hold holds organization organisation".split()
)
_KIND_NAMES = {
    "person": "a name",
    "number": "a number",
    "date": "a date or time",
    "organization": "an organisation's name",
}


_NESTED = re.compile(
    r"\b\w+\s+(who|whom|whose|which|that|where)\s+\w+|\b(appointed|described|known|named|called)\s+(by|as)\b",
    re.IGNORECASE,
)


def is_multi_hop(question: str) -> bool:
    """Whether the question describes what it asks about ("the man who estimated..."): two hops."""
    rest = question.strip().split(maxsplit=1)
    return len(rest) == 2 and bool(_NESTED.search(rest[1]))


def bridge_names(text: str, question: str) -> list[str]:
    """Name-like words of `text` that the question does not contain: the link to the second hop."""
    asked = {stem(w) for w in words(question)}
    out = []
    for run in _capitalised_runs(text):
        if any(stem(w) in asked for m in run for w in words(m.group(0))):  # the question's own name
            continue
        for m in run:
            if _name_like(m.group(0)):
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


@dataclass(frozen=True)
class QuestionShape:
    """What a question asks for and which of its words matter."""

    question: str
    kind: str  # "person" | "number" | "date" | "organization" | "other"
    terms: tuple[str, ...]  # stemmed content terms
    entities: tuple[str, ...]  # names as written in the question ("Xi Jinping")


def analyse_question(question: str) -> QuestionShape:
    """Classify the question and pick out its terms and named entities."""
    q = question.strip().lower()
    kind = next((name for name, pattern in _KINDS if pattern.search(q)), "other")
    terms = tuple(dict.fromkeys(stem(w) for w in words(question) if w not in STOPWORDS))
    entities: list[str] = []
    run: list[str] = []
    for i, tok in enumerate(question.split()):
        word = tok.strip("?!,.;:()\"'\u201c\u201d\u2018\u2019")
        capitalised = bool(word) and word[0].isupper() and not (i == 0 and word.lower() in _QUESTION_LEAD)
        if capitalised and word.lower() not in STOPWORDS:
            run.append(word)
            continue
        if run:
            entities.append(" ".join(run))
            run = []
    if run:
        entities.append(" ".join(run))
    return QuestionShape(question, kind, terms, tuple(dict.fromkeys(entities)))


def _matches(term: str, bag: frozenset[str] | set[str]) -> bool:
    """`term` is in `bag`, or a spelling variant of it is (Dmitriev/Dimitriev)."""
    if term in bag:
        return True
    if len(term) < 5:
        return False
    budget = 1 if len(term) <= 6 else 2
    return any(
        t[:1] == term[:1] and abs(len(t) - len(term)) <= budget and OSA.distance(t, term) <= budget
        for t in bag
    )


def _has_kind(kind: str, sentence: str, question_terms: set[str]) -> bool:
    if kind == "number":
        return bool(re.search(r"\d", sentence)) or any(w in _NUMBER_WORDS for w in words(sentence))
    if kind == "date":
        return bool(_DATE.search(sentence))
    if kind == "person":  # a name-like word outside the names the question already contains
        return any(
            stem(w) not in question_terms and _name_like(m.group(0))
            for run in _capitalised_runs(sentence)
            if not any(stem(w) in question_terms for r in run for w in words(r.group(0)))
            for m in run
            for w in words(m.group(0))
        )
    if kind == "organization":  # a name of two or more words ending in "Fund", "Agency"...
        return any(
            len(run) > 1
            and _ORGANIZATION_END.match(run[-1].group(0))
            and not all(stem(w) in question_terms for r in run for w in words(r.group(0)))
            for run in _capitalised_runs(sentence)
        )
    return False


_HEAD = re.compile(r"^(?:which|what)\s+([a-z][\w-]*)\b")
_NOT_HEADS = frozenset(
    "is are was were did does do has have had can could will would should kind type sort".split()
)


def head_noun(question: str) -> str | None:
    """The stemmed noun a "which X" / "what X" question asks for an instance of ("newspaper")."""
    m = _HEAD.match(question.strip().lower())
    if m is None or m.group(1) in _NOT_HEADS or m.group(1) in STOPWORDS:
        return None
    return stem(m.group(1))


def _names_a(head: str, sentence: str, question_terms: set[str]) -> bool:
    """The sentence puts the head noun beside a name the question does not already give:
    "the newspaper Kommersant", "Len Blavatnik, a billionaire"."""
    tokens = [t.strip(".\u2019'") for t in re.findall(r"[\w\u2019'.-]+", sentence)]
    for i, tok in enumerate(tokens):
        if stem(tok.lower()) != head:
            continue
        for j in range(max(1, i - 3), min(len(tokens), i + 4)):
            w = tokens[j]
            if j != i and w[:1].isupper() and _name_like(w) and not _matches(stem(w.lower()), question_terms):
                return True
    return False


def _capitalised_runs(sentence: str) -> list[list[re.Match[str]]]:
    """Capitalised words after the first, grouped when adjacent ("Faena Miami Beach")."""
    runs: list[list[re.Match[str]]] = []
    for m in _CAPITALISED.finditer(sentence, 1):
        if runs and sentence[runs[-1][-1].end() : m.start()] == " ":
            runs[-1].append(m)
        else:
            runs.append([m])
    return runs


_NOT_NAMES = frozenset(
    "president minister secretary vice prince king queen general foreign national security council "
    "state states united white house kremlin embassy government republic union eu nato us uk usa "
    "sunday monday tuesday wednesday thursday friday saturday january february march april may june "
    "july august september october november december".split()
)


def _name_like(word: str) -> bool:
    """A capitalised word that may name a person: not an acronym, title, weekday, nationality or
    a place we know ("Moscow")."""
    w = word.strip(".,\u2019'").lower()
    if not w or word.isupper() or w in _NOT_NAMES or w in STOPWORDS or place_aliases(stem(w)):
        return False
    return not re.search(r"(ian|ean|ish|ese|can|ic|i)$", w) or len(w) <= 4


def unknown_entities(shape: QuestionShape, known: Callable[[str], bool]) -> list[str]:
    """Names in the question whose head word (a surname, "Cup" of "World Cup") the corpus never uses.

    Spelling variants count as known; a modifier alone ("South" of "South Florida") does not decide.
    """
    missing = []
    for entity in shape.entities:
        parts = [stem(w) for w in words(entity) if w not in STOPWORDS and not w.isdigit()]
        if parts and not known(parts[-1]):
            missing.append(entity)
    return missing


@dataclass
class _Candidate:
    record: Record
    index: int  # sentence index in the paragraph
    text: str
    similarity: float
    covered: set[str] = field(default_factory=set)
    share: float = 0.0  # IDF-weighted share of the question's terms the sentence holds
    has_kind: bool = False
    score: float = 0.0


def _abstain(question: str, reason: str, retrieved: Retrieved) -> Answer:
    return Answer(question, "", True, reason, passages=tuple(retrieved.passages))


def _select(
    question: str,
    retrieved: Retrieved,
    idf: Callable[[str], float],
    known: Callable[[str], bool],
    tuning: Tuning,
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
        unknown = [
            w
            for w in words(question)
            if w not in STOPWORDS and w not in _ASKING_WORDS and not w.isdigit() and not known(stem(w))
        ]
        if unknown:
            return f"The articles do not mention \u201c{unknown[0]}\u201d."
    if max(retrieved.dense_similarity.values(), default=0.0) < tuning.min_paragraph_similarity:
        return "The articles do not say: none of them is about this."

    weights = {t: idf(t) for t in shape.terms}
    total = sum(weights.values()) or 1.0
    qterms = set(shape.terms)
    # Terms the corpus never uses count as covered by what retrieval searched instead ("beijing"
    # by "china"); spelling variants are matched by `_matches` itself.
    instead = {t: frozenset(retrieved.expansions.get(t, ())) for t in shape.terms}

    def covers(t: str, bag: frozenset[str] | set[str]) -> bool:
        return _matches(t, bag) or not instead[t].isdisjoint(bag)

    head = head_noun(question)
    rank_of = {p.paragraph_id: p.rank for p in retrieved.passages}
    candidates: list[_Candidate] = []
    for rec in records:
        sims = rec.sentence_vectors @ retrieved.query_vector
        paragraph_cover = sum(w for t, w in weights.items() if covers(t, rec.terms)) / total
        heading = _is_heading(rec.text)
        for i, (s, e) in enumerate(rec.sentence_spans):
            text = rec.text[s:e]
            if heading:  # a section heading names a topic; it never answers a question
                continue
            bag = {stem(w) for w in words(text)}
            c = _Candidate(rec, i, text, float(sims[i]) if i < len(sims) else 0.0)
            c.covered = {t for t in shape.terms if covers(t, bag)}
            c.share = sum(weights[t] for t in c.covered) / total
            c.has_kind = _has_kind(shape.kind, text, qterms)
            c.score = (
                tuning.w_similarity * c.similarity
                + tuning.w_lexical * c.share
                + tuning.w_paragraph * paragraph_cover
                + tuning.w_type * c.has_kind
                + tuning.w_rank / rank_of[rec.paragraph_id] ** 0.5
                + (tuning.w_head * _names_a(head, text, qterms) if head else 0.0)
            )
            candidates.append(c)
    if not candidates:
        return "The articles do not say: no sentence in them answers this."
    candidates.sort(key=lambda c: -c.score)
    best = candidates[0]
    if shape.kind != "other" and not any(c.has_kind for c in candidates[:3]):
        return f"The articles do not say: no passage gives {_KIND_NAMES[shape.kind]} for this."
    if best.score < tuning.min_score:
        return "The articles do not say: no sentence in them answers this."
    chosen = _choose(candidates, shape, tuning)
    # A nested question needs no hop when its first sentence already gives the name, number or
    # date it asks for ("Who is the envoy that held talks in Florida?" -- "Putin's envoy Kirill
    # Dmitriev ... in Florida"). Other questions ("What fund does the man who...") always hop:
    # nothing tells whether the first sentence holds the fund rather than the man.
    answered = shape.kind != "other" and _complete(chosen[0], shape, tuning)
    return _Selection(chosen, candidates, weights, answered)


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
) -> Answer:
    """Answer from the retrieved paragraphs' own sentences, or abstain saying what is missing.

    Args:
        question: the user's question.
        retrieved: passages with their records (sentence spans and vectors) and the query vector.
        idf: inverse document frequency of a stemmed term in the corpus.
        known: whether a stemmed term (or a spelling variant) occurs anywhere in the corpus.
        keys: citation numbering to continue (a conversation keeps its numbers).
        tuning: weights and thresholds.
    """
    sel = _select(question, retrieved, idf, known, tuning)
    if isinstance(sel, str):
        return _abstain(question, sel, retrieved)
    chosen = sel.chosen
    if is_multi_hop(question) and not sel.answered:
        second = _second_hop(chosen[0], sel.candidates, question, sel.weights)
        if second is not None:
            chosen = [chosen[0], second]
    return _cited_answer(question, chosen, retrieved, keys or CitationKeys())


def hop_lead(
    question: str,
    retrieved: Retrieved,
    idf: Callable[[str], float],
    known: Callable[[str], bool],
    tuning: Tuning = TUNING,
) -> str:
    """The sentence a nested question's second retrieval starts from ("the main Russian
    negotiator" -> the sentence naming him); "" when the question is not nested, the articles do
    not answer it, or its first sentence already gives what it asks for (no second retrieval)."""
    if not is_multi_hop(question):
        return ""
    sel = _select(question, retrieved, idf, known, tuning)
    if isinstance(sel, str) or sel.answered:
        return ""
    return _with_context(sel.chosen[0])


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
            return any(_matches(n, c.record.terms) for n in names)
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
    covered = set(best.covered)
    for c in candidates:
        if len(chosen) >= tuning.max_sentences or c.score < tuning.join_ratio * candidates[0].score:
            break
        if c.record.paragraph_id in {x.record.paragraph_id for x in chosen}:
            continue
        if complete and c.share < best.share:
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


def _is_heading(text: str) -> bool:
    """A paragraph that is a section heading: a few words with no closing punctuation."""
    stripped = text.rstrip()
    return len(stripped.split()) <= 10 and not stripped.endswith(
        (".", "?", "!", "\u201d", '"', ":", "\u2019")
    )


def _with_context(c: _Candidate) -> str:
    """The sentence, joined with its predecessor when it cannot stand alone."""
    s, e = c.record.sentence_spans[c.index]
    if c.index > 0 and (len(c.text.split()) < 7 or _PRONOUN_START.match(c.text)):
        s = c.record.sentence_spans[c.index - 1][0]
    kicker = _KICKER.match(c.record.text, s, e)
    return c.record.text[kicker.end() if kicker else s : e]


# A page's all-caps label run into the first sentence: "ANALYSIS FROM The closed-door talks...".
# Two or three all-caps words, or one with a colon ("EXCLUSIVE:"); never "NATO Secretary...".
_KICKER = re.compile(r"(?:(?:[A-Z]{3,}\s+){2,3}|[A-Z]{2,}[:|]\s+)(?=[A-Z][a-z])")
