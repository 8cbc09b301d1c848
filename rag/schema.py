"""Our own frozen records that cross module boundaries; third-party types never do."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Article:
    """One news article as read from the corpus."""

    article_id: str
    title: str
    text: str
    source: str
    url: str = ""
    authors: tuple[str, ...] = ()
    publish_date: str = ""  # ISO YYYY-MM-DD, or "" when unknown

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["authors"] = list(self.authors)
        return d


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of an article; `char_start:char_end` locate it in the article text."""

    paragraph_id: str  # "<article_id>#p<n>"
    article_id: str
    n: int  # 1-based position among the article's kept paragraphs
    text: str
    char_start: int
    char_end: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Passage:
    """A retrieved paragraph with its fused score and rank."""

    paragraph_id: str
    article_id: str
    n: int
    title: str
    text: str
    score: float
    rank: int
    url: str = ""
    publish_date: str = ""
    source: str = ""
    dense_rank: int | None = None
    bm25_rank: int | None = None

    @property
    def is_heading(self) -> bool:
        """The paragraph is a section heading, not prose."""
        return is_heading(self.text)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Citation:
    """What an answer's `[key]` marker points to: one paragraph, and the sentence quoted."""

    key: int
    paragraph_id: str
    article_id: str
    title: str
    text: str
    n: int = 0
    url: str = ""
    quote: str = ""  # the sentence of `text` the answer relies on

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """A cited answer, or an abstention with its reason."""

    question: str
    text: str
    abstained: bool
    abstain_reason: str = ""
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    mode: str = "extractive"  # "extractive" | "llm" | "retrieval"
    notices: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "text": self.text,
            "abstained": self.abstained,
            "abstain_reason": self.abstain_reason,
            "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "notices": list(self.notices),
            "unsupported": list(self.unsupported),
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }

    def nearest(self, n: int = 3) -> list[Passage]:
        """The best `n` retrieved paragraphs that are prose, not headings: what an abstention shows."""
        return [p for p in self.passages if not p.is_heading][:n]


def is_heading(text: str) -> bool:
    """A paragraph that is a section heading: a few words with no closing punctuation."""
    stripped = text.rstrip()
    return len(stripped.split()) <= 10 and not stripped.endswith(
        (".", "?", "!", "\u201d", '"', ":", "\u2019")
    )
