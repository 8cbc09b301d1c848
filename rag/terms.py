"""Words of a text for lexical matching: folding, tokenizing, stop words and stemming."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from rag.lexicon import number_alias as number_alias  # re-exported: tests import it from here

# Curly quotes, dashes and odd spaces, and their ASCII.
_FOLD = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
}
_WORD = re.compile(r"[^\W_]+(?:[.'][^\W_]+)*", re.UNICODE)

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can could couldn't did didn't do does doesn't doing
    don't down during each few for from further had has have having he her here hers herself him
    himself his how i if in into is isn't it it's its itself just let me more most my myself no nor
    not now of off on once only or other ought our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through
    to too under until up very was wasn't we were weren't what when where which while who whom whose
    why will with won't would you your yours yourself yourselves s t says said say according
    one ones many much tell told give gave given get got make made mentioned mention article
    articles did does do done whom kind sort else ever per via""".split()
)
QUESTION_WORDS = frozenset("what when where which who whom whose why how".split())


# A substitution touches only the characters it changes; `str.translate` with a dict would look
# up every character of a non-ASCII text (5x slower over the news corpus).
_FOLD_RE = re.compile("[" + "".join(_FOLD) + "]")


def fold(text: str) -> str:
    """Unicode-normalise and fold curly quotes, dashes and odd spaces to ASCII."""
    if text.isascii():  # two thirds of news lines: nothing to fold or normalise
        return text
    return unicodedata.normalize("NFKC", _FOLD_RE.sub(lambda m: _FOLD[m.group()], text))


# Units written both ways in news text: "701 sq km" must meet "square kilometres".
_ALIASES = {
    "sq": "square",
    "km": "kilometres",
    "kms": "kilometres",
    "mi": "miles",
    "pct": "percent",
    "percentage": "percent",
    "bn": "billion",
    "mln": "million",
    "m2": "square",
}


def words(text: str) -> list[str]:
    """Lower-cased word tokens; possessive 's dropped ("Putin's" -> "putin"), unit aliases unified."""
    folded = fold(text).lower()
    if "%" in folded:
        folded = folded.replace("%", " percent ")
    found = _WORD.findall(folded)
    if "'" not in folded and "." not in folded:  # most lines: no possessives or dotted words
        return [_ALIASES.get(w, w) for w in found]
    out = []
    for w in found:
        if "'" in w or "." in w:
            if w.endswith("'s"):
                w = w[:-2]
            w = w.replace("'", "").replace(".", "")
            if not w:
                continue
        out.append(_ALIASES.get(w, w))
    return out


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer  # PyStemmer: C snowball, fast and tiny

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball English stem of one lower-case word."""
    return str(_stemmer().stemWord(word))


def content_terms(text: str) -> list[str]:
    """Stemmed words without stop words: what BM25 indexes and what overlap is measured on."""
    return terms_of(words(text))


def terms_of(tokens: list[str]) -> list[str]:
    """`content_terms` of text already split by `words`."""
    return [stem(w) for w in tokens if w not in STOPWORDS]
