"""The support checker: is each answer sentence backed by the retrieved paragraphs it cites?"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rag.lexicon import MONTHS, NUMBER_WORDS, matches_spelling
from rag.schema import Passage
from rag.terms import QUESTION_WORDS, STOPWORDS, fold, stem, words

# How many of a sentence's content terms may be missing from its cited paragraphs: one in four,
# counted so that a sentence of four terms or fewer must match fully ("Dmitriev cancelled the
# talks in Florida" is 3 of 4 and false). Tuned on true and false sentences about the seed
# articles (tests/test_verify.py): copied or lightly reworded sentences miss at most one term
# in five, sentences with a swapped verb or fact miss more.
MISSING_SHARE = 0.25
# A cited paragraph must share at least this share of the sentence's terms to stay a citation.
MIN_CITATION_SHARE = 0.3

# Short forms whose long form a paragraph may use instead ("U.S." for "United States").
_ALIASES = {
    "us": ("united", "america", "american", "washington"),
    "usa": ("united", "america", "american"),
    "uk": ("britain", "british", "united", "kingdom"),
    "eu": ("european", "europe"),
}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NEGATIONS = frozenset(
    "not no never nor neither none nobody nothing cannot n't".split()  # noqa: SIM905
)
_CAPITALISED = re.compile(r"(?<![\w'])[A-Z][\w'.-]*")

# Links and images an injected instruction might make the model emit.
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]*)>?[^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\(\s*<?([^)\s>]*)>?[^)]*\)")
_HTML_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_HTML_LINK = re.compile(
    r"<a\b[^>]*href\s*=\s*[\"']?([^\"'\s>]*)[^>]*>(.*?)</a\s*>", re.IGNORECASE | re.DOTALL
)
_REF_DEF = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)
_BARE_URL = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)
_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    """Whether one answer sentence is supported, by which paragraphs, and if not, why."""

    sentence: str
    supported: bool
    reason: str = ""  # empty when supported
    overlap: float = 0.0
    supporting: tuple[str, ...] = ()  # paragraph ids that back the sentence


def numbers_in(text: str) -> set[str]:
    """Numbers a text states, normalised ("1,000" -> "1000", "five" -> "5")."""
    out = set()
    for m in _NUMBER.finditer(fold(text)):
        n = m.group(0)
        # "1,000" and "1.000" are thousands separators; "2.5" is a decimal.
        if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", n):
            n = re.sub(r"[.,]", "", n)
        out.add(n.replace(",", "."))
    out.update(NUMBER_WORDS[w] for w in words(text) if w in NUMBER_WORDS)
    return out


def names_in(sentence: str) -> list[str]:
    """Capitalised words of a sentence that are not stop words: names, places, months, acronyms."""
    out = []
    for m in _CAPITALISED.finditer(fold(sentence)):
        for w in words(m.group(0)):
            if w not in STOPWORDS and w not in QUESTION_WORDS and w not in NUMBER_WORDS:
                out.append(w)
    return list(dict.fromkeys(out))


def _bag(texts: Iterable[str]) -> set[str]:
    bag: set[str] = set()
    for t in texts:
        for w in words(t):
            bag.add(w)
            bag.add(stem(w))
    return bag


def _terms(sentence: str) -> set[str]:
    """Content terms that overlap is measured on; numbers are checked on their own."""
    return {
        stem(w) for w in words(sentence) if w not in STOPWORDS and w not in NUMBER_WORDS and not w.isdigit()
    }


def _term_in(term: str, bag: set[str]) -> bool:
    return matches_spelling(term, bag) or any(a in bag for a in _ALIASES.get(term, ()))


def _has_negation(text: str) -> bool:
    folded = fold(text).lower()
    return "n't" in folded or any(w in _NEGATIONS for w in words(text))


def check_sentence(sentence: str, sources: Sequence[str], context: Sequence[str] = ()) -> Verdict:
    """Check one sentence against the text of the paragraphs it cites.

    A sentence is supported when every number and name it states occurs in the sources or
    their `context` (names allowing small spelling differences), it adds no negation the
    sources lack, and nearly all its content terms occur in the sources themselves (see
    `MISSING_SHARE`): repeating an article's title is not support.

    Args:
        sentence: One answer sentence, without citation markers.
        sources: Texts of the cited paragraphs.
        context: Texts that may supply names and numbers only (the articles' titles).

    Returns:
        A `Verdict`; `supporting` is left empty (see `verify_sentence`).
    """
    if not sources:
        return Verdict(sentence, False, "cites no paragraph")
    terms = _terms(sentence)
    if not terms:
        return Verdict(sentence, False, "states nothing that can be checked")
    bag = _bag(sources)
    names_bag = bag | _bag(context)
    stated = set().union(*(numbers_in(s) for s in [*sources, *context]))
    missing_numbers = sorted(numbers_in(sentence) - stated)
    if missing_numbers:
        return Verdict(sentence, False, f"number {missing_numbers[0]} is not in the cited paragraphs")
    for name in names_in(sentence):
        if not (_term_in(name, names_bag) or matches_spelling(stem(name), names_bag)):
            return Verdict(sentence, False, f"name {name!r} is not in the cited paragraphs")
    if _has_negation(sentence) and not any(_has_negation(s) for s in sources):
        return Verdict(sentence, False, "negates what the cited paragraphs say")
    found = sum(_term_in(t, bag) for t in terms)
    overlap = found / len(terms)
    if len(terms) - found > int((len(terms) - 1) * MISSING_SHARE):
        return Verdict(
            sentence,
            False,
            f"only {found} of its {len(terms)} words are in the cited paragraphs",
            overlap,
        )
    return Verdict(sentence, True, "", overlap)


def _context(cited: Sequence[Passage]) -> list[str]:
    """What may supply names, numbers and dates besides the text: each cited article's title and
    its publication date, written the ways a sentence may write it ("10 January 2024", "Jan. 10")."""
    out = [p.title for p in cited]
    for p in cited:
        m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", p.publish_date[:10])
        if m:
            year, month, day = m.group(1), int(m.group(2)), int(m.group(3))
            name = MONTHS[month - 1].capitalize()
            out.append(f"{p.publish_date[:10]} {day} {name} {year} {name[:3]}. {m.group(2)} {m.group(3)}")
    return out


def verify_sentence(sentence: str, cited_ids: Sequence[str], retrieved: Mapping[str, Passage]) -> Verdict:
    """Check a sentence against its citations; a citation outside `retrieved` is invalid.

    Cited paragraphs that share too little with the sentence are dropped from `supporting`,
    so a correct sentence with one stray citation keeps only the paragraph that backs it.
    """
    invalid = [pid for pid in cited_ids if pid not in retrieved]
    if invalid:
        return Verdict(sentence, False, f"cites {invalid[0]}, which was not retrieved for this question")
    cited = [retrieved[pid] for pid in dict.fromkeys(cited_ids)]
    verdict = check_sentence(sentence, [p.text for p in cited], _context(cited))
    if not verdict.supported:
        return verdict
    terms = _terms(sentence)
    keep = []
    for p in cited:
        bag = _bag([p.text])
        if sum(_term_in(t, bag) for t in terms) / len(terms) >= MIN_CITATION_SHARE:
            keep.append(p)
    if len(keep) < len(cited):
        # Re-check on the paragraphs that stay: the dropped ones may have held a needed name.
        narrowed = check_sentence(sentence, [p.text for p in keep], _context(keep)) if keep else None
        if narrowed is None or not narrowed.supported:
            keep = cited
    return Verdict(sentence, True, "", verdict.overlap, tuple(p.paragraph_id for p in keep))


def strip_foreign_links(text: str, allowed_urls: Iterable[str] = ()) -> tuple[str, int]:
    """Remove links and images to any address but the cited articles' own URLs.

    Markdown images go entirely, links keep their visible words, and bare URLs, HTML tags and
    data URIs are removed; an article's own URL (from `allowed_urls`) is left alone.

    Returns:
        The cleaned text and how many links or images were removed.
    """
    allowed = {u.strip().rstrip("/") for u in allowed_urls if u and u.strip()}
    removed = 0

    def ok(url: str) -> bool:
        return url.strip().rstrip("/") in allowed

    def image(m: re.Match[str]) -> str:
        nonlocal removed
        if ok(m.group(2)):
            return m.group(0)
        removed += 1
        return ""

    def link(m: re.Match[str]) -> str:
        nonlocal removed
        if ok(m.group(2)):
            return m.group(0)
        removed += 1
        return m.group(1)

    def html_link(m: re.Match[str]) -> str:
        nonlocal removed
        removed += 1
        return re.sub(r"<[^>]*>", "", m.group(2))

    def drop(m: re.Match[str]) -> str:
        nonlocal removed
        removed += 1
        return ""

    def bare(m: re.Match[str]) -> str:
        nonlocal removed
        url = m.group(0).rstrip(".,;:!?")
        if ok(url):
            return m.group(0)
        removed += 1
        return m.group(0)[len(url) :]

    text = _MD_IMAGE.sub(image, text)
    text = _MD_LINK.sub(link, text)
    text = _HTML_IMG.sub(drop, text)
    text = _HTML_LINK.sub(html_link, text)
    text = _REF_DEF.sub(drop, text)
    text = _DATA_URI.sub(drop, text)
    text = _BARE_URL.sub(bare, text)
    text = re.sub(r"\(\s*\)|\[\s*\]", "", text)
    return " ".join(text.split()), removed
