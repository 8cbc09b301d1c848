"""Evaluation metrics as pure functions: retrieval, answers, citations and abstention."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

_FOLD = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u00a0": " "}
)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize(text: str) -> str:
    """SQuAD normalisation (lower case, no punctuation or a/an/the, single spaces), quotes folded."""
    text = text.translate(_FOLD).lower()
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals one of the answers."""
    p = normalize(prediction)
    return float(any(p == normalize(a) for a in answers))


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """Best SQuAD token F1 of the prediction against the answers."""
    pred = normalize(prediction).split()
    best = 0.0
    for a in answers:
        gold = normalize(a).split()
        common = Counter(pred) & Counter(gold)
        overlap = sum(common.values())
        if not pred or not gold or overlap == 0:
            continue
        precision, recall = overlap / len(pred), overlap / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def containment(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when one normalised answer occurs, on word boundaries, in the normalised prediction."""
    p = f" {normalize(prediction)} "
    return float(any(normalize(a) and f" {normalize(a)} " in p for a in answers))


def quote_in(quote: str, paragraph_text: str) -> bool:
    """Whether a gold evidence quote lies in a paragraph (quotes, dashes and spaces folded)."""
    q = " ".join(quote.translate(_FOLD).split())
    t = " ".join(paragraph_text.translate(_FOLD).split())
    return bool(q) and q in t


Articles = str | Collection[str]  # a paragraph's article id, or ids: its own and its copies


def _of(article: str, articles: Articles) -> bool:
    """`article` is the paragraph's article, or one of its syndicated copies folded into it."""
    return article == articles if isinstance(articles, str) else article in articles


def evidence_hits(
    paragraphs: Sequence[tuple[Articles, str]], evidence: Sequence[tuple[str, str]]
) -> list[bool]:
    """For each retrieved (article_id, text), whether it holds one of the gold (article_id, quote)."""
    return [any(_of(ea, a) and quote_in(q, t) for ea, q in evidence) for a, t in paragraphs]


def evidence_recall(
    paragraphs: Sequence[tuple[Articles, str]],
    evidence: Sequence[tuple[str, str]],
    k: int,
    also: Sequence[tuple[str, str]] = (),
) -> float:
    """Share of gold quotes found in the top-k retrieved paragraphs; 1.0 when one of `also` is
    there (a paragraph judged to state the whole answer by itself)."""
    if not evidence:
        return 0.0
    top = paragraphs[:k]
    if also and any(evidence_hits(top, also)):
        return 1.0
    found = sum(any(_of(ea, a) and quote_in(q, t) for a, t in top) for ea, q in evidence)
    return found / len(evidence)


def reciprocal_rank(paragraphs: Sequence[tuple[Articles, str]], evidence: Sequence[tuple[str, str]]) -> float:
    """1/rank of the first retrieved paragraph holding gold evidence (0 if none)."""
    for rank, hit in enumerate(evidence_hits(paragraphs, evidence), start=1):
        if hit:
            return 1.0 / rank
    return 0.0


def citation_validity(cited_ids: Iterable[str], retrieved_ids: Iterable[str]) -> float:
    """1.0 when every cited paragraph was retrieved for this question (vacuously true if none)."""
    allowed = set(retrieved_ids)
    return float(all(c in allowed for c in cited_ids))


def citation_precision(cited: Sequence[tuple[Articles, str]], evidence: Sequence[tuple[str, str]]) -> float:
    """Share of cited (article_id, text) paragraphs that hold gold evidence."""
    if not cited:
        return 0.0
    return sum(evidence_hits(cited, evidence)) / len(cited)


def answer_in(texts: Sequence[str], answers: Sequence[str]) -> float:
    """1.0 when one of the texts holds an answer string: the lenient reading of recall that counts
    a paragraph the gold set does not list (another article giving the same vote count)."""
    return float(any(containment(t, answers) for t in texts))


def citations_with_answer(cited_texts: Sequence[str], answers: Sequence[str]) -> float:
    """Share of cited paragraphs holding an answer string (the lenient reading of precision)."""
    if not cited_texts:
        return 0.0
    return sum(containment(t, answers) for t in cited_texts) / len(cited_texts)


def citation_recall(cited: Sequence[tuple[Articles, str]], evidence: Sequence[tuple[str, str]]) -> float:
    """1.0 when the citations include at least one paragraph holding gold evidence."""
    return float(any(evidence_hits(cited, evidence)))


def mean(values: Iterable[float]) -> float | None:
    """Arithmetic mean, or None for no values (so 'not measured' is not shown as 0)."""
    vals = list(values)
    return sum(vals) / len(vals) if vals else None
