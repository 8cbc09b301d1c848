"""Splitting a paragraph into sentences, as character spans, without a model."""

from __future__ import annotations

import re

# A boundary: end punctuation, optional closing quotes/brackets, white space, then a likely start.
_BOUNDARY = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]?[A-Z0-9\u0400-\u04FF])")
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof st jr sr gen gens col lt sgt capt maj brig adm cmdr cpl pvt spc det supt
    sen sens rep reps gov govs pres amb rev fr msgr hon atty vs etc inc ltd co corp bros no nos
    jan feb mar apr jun jul aug sep sept oct nov dec fig approx est dept univ ave mt ft""".split()
)


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at `dot` ends an abbreviation or an initial, not a sentence."""
    start = dot
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    token = text[start:dot]
    if not token:
        return False
    if "." in token:  # U.S. / J.D. / e.g.
        return all(len(part) <= 2 for part in token.split("."))
    if len(token) == 1 and token.isupper():  # an initial: "J. Smith"
        return True
    return token.lower() in _ABBREVIATIONS


def _inside_quote(span: str) -> bool:
    """True when `span` opens a quotation it does not close."""
    return span.count("\u201c") > span.count("\u201d") or span.count('"') % 2 == 1


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans `(start, end)` of the sentences of `text`, stripped of outer space."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.end()
        punctuation = m.group(0).rstrip("\"'\u201d\u2019)]")
        if punctuation == "." and _is_abbreviation(text, m.start()):
            continue
        if _inside_quote(text[start:end]):  # keep a quotation and its attribution together
            continue
        spans.append((start, end))
        start = end
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out
