"""Sentence spans: abbreviations, initials, decimals and quotations do not split sentences."""

from __future__ import annotations

import pytest

from rag.sentences import split_sentences


def _split(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "He met Mr. Smith in the U.S. on Monday. Then he left.",
            ["He met Mr. Smith in the U.S. on Monday.", "Then he left."],
        ),
        (
            "Vice President J.D. Vance spoke. Others did not.",
            ["Vice President J.D. Vance spoke.", "Others did not."],
        ),
        (
            "Russia now controls 19.3% of the land. Ushakov agreed.",
            ["Russia now controls 19.3% of the land.", "Ushakov agreed."],
        ),
        (
            "\u201cThank you, Miami. Next time: Moscow,\u201d Dmitriev wrote. He left.",
            ["\u201cThank you, Miami. Next time: Moscow,\u201d Dmitriev wrote.", "He left."],
        ),
        ("Is it over? Yes! It is.", ["Is it over?", "Yes!", "It is."]),
        ("No end punctuation here", ["No end punctuation here"]),
        (
            "President Joe Biden has nominated Adm. Linda Fagan. Rev. Al Sharpton and Sens. Bob Casey spoke.",
            [
                "President Joe Biden has nominated Adm. Linda Fagan.",
                "Rev. Al Sharpton and Sens. Bob Casey spoke.",
            ],
        ),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert _split(text) == expected


def test_spans_cover_text_without_outer_space() -> None:
    text = "  First one.   Second one.  "
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["First one.", "Second one."]
