"""Our own frozen records that cross module boundaries; third-party types never do."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

Mode = Literal["extractive", "llm", "retrieval"]  # who wrote an answer
# What a question asks for.
QuestionKind = Literal[
    "person",
    "number",
    "date",
    "organization",
    "company",
    "country",
    "place",
    "name",
    "cause",
    "type",
    "other",
]


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
class ArticleInfo:
    """An indexed article as a list of articles shows it."""

    article_id: str
    title: str
    publish_date: str = ""  # ISO YYYY-MM-DD, or "" when unknown
    url: str = ""
    source: str = ""
    paragraphs: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    also_in: tuple[str, ...] = ()  # articles holding a near-identical copy (syndicated), collapsed here

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
    publish_date: str = ""  # the article's date (ISO), "" when unknown
    also_in: tuple[str, ...] = ()  # articles holding a near-identical copy of the paragraph

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Timings:
    """Where one answer's time went, in milliseconds."""

    retrieve: float = 0.0
    answer: float = 0.0
    total: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Answer:
    """A cited answer, or an abstention with its reason."""

    question: str
    text: str
    abstained: bool
    abstain_reason: str = ""
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    mode: Mode = "extractive"
    notices: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    timings_ms: Timings = Timings()
    as_of: str = ""  # the question's "now" (ISO): nothing published after it was used
    time_scope: str = ""  # the time the question is about, as resolved ("this week (8-14 January 2024)")
    filters: tuple[str, ...] = ()  # the filters that were on, in words ("only the article ...")

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "as_of": self.as_of,
            "time_scope": self.time_scope,
            "filters": list(self.filters),
            "text": self.text,
            "abstained": self.abstained,
            "abstain_reason": self.abstain_reason,
            "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "notices": list(self.notices),
            "unsupported": list(self.unsupported),
            "timings_ms": self.timings_ms.to_dict(),
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


# A link to another story set as a paragraph: "MORE: Delaware trooper killed at Bear Wawa",
# "WHAT HAPPENED: Standoff ends in Middletown; suspect ... killed" (a label, then a headline).
LINK_LABELS = "read more|more|related|watch|see also|also read|listen"  # what leads into a link
_LINK_LINE = re.compile(rf"^\s*(?:[A-Z][A-Z\s'\u2019&-]{{1,30}}|(?i:{LINK_LABELS})):\s*\S")


def is_link_line(text: str) -> bool:
    """A paragraph that only points to another story: a label and a headline, no sentence."""
    return bool(_LINK_LINE.match(text)) and not text.rstrip().endswith((".", "?", "!", "\u201d", '"'))


Strength = Literal["none", "soft", "window"]


@dataclass(frozen=True)
class TimeScope:
    """The time a question is about: a window of dates ("this week"), the latest state ("the
    current CEO": soft), or none (timeless). Dates are ISO strings, "" when open."""

    strength: Strength = "none"
    start: str = ""
    end: str = ""
    phrase: str = ""  # the words that gave it ("this week", "current")
    ahead: bool = False  # the time named is all after as-of ("on Memorial Day 2024" asked in 2023)


@dataclass(frozen=True)
class Record:
    """One stored paragraph with what the answerers need about it."""

    row_id: str
    paragraph_id: str
    article_id: str
    n: int
    title: str
    text: str
    source: str
    url: str
    publish_date: str
    sentence_spans: tuple[tuple[int, int], ...]
    sentence_vectors: np.ndarray  # (len(sentence_spans), dim), float32, unit rows
    vector: np.ndarray  # the paragraph's own unit vector
    terms: frozenset[str]  # stemmed content terms, for lexical scoring
    # `terms` and the article title's: a paragraph is about its article's topic even when it does
    # not repeat it ("Of the 300-seat Parliament, 176 voted in favor" under "Greece legalizes ...").
    topic_terms: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.topic_terms:  # a record built without its title's terms still has its own
            object.__setattr__(self, "topic_terms", self.terms)


@dataclass
class Retrieved:
    """Passages in fused order, plus what the answerers need about them."""

    passages: list[Passage]
    records: dict[str, Record]  # by paragraph_id
    query_vector: np.ndarray
    dense_similarity: dict[str, float] = field(default_factory=dict)  # by paragraph_id
    expansions: dict[str, list[str]] = field(default_factory=dict)  # query term -> variants used
    as_of: str = ""  # the question's "now" (ISO); nothing published after it was searched
    scope: TimeScope = TimeScope()  # the time the question is about


@dataclass
class SyncReport:
    """What one ingest changed."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    embedded: int = 0  # distinct paragraph texts run through the encoder
    articles: int = 0
    paragraphs: int = 0
    skipped_files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    boilerplate: int = 0  # paragraphs not indexed: text repeated across unrelated articles

    def summary(self) -> str:
        return (
            f"{self.articles} articles, {self.paragraphs} paragraphs: {self.added} added, "
            f"{self.updated} updated, {self.unchanged} unchanged, {self.removed} removed, "
            f"{len(self.skipped_files)} files skipped; {self.embedded} embedded ({self.seconds:.1f} s); "
            f"{self.boilerplate} boilerplate paragraphs not indexed"
        )


@dataclass(frozen=True)
class IndexStatus:
    """The committed state of an index, as the UI's status line shows it."""

    articles: int
    paragraphs: int
    complete: bool
    updated_at: str
    writer_active: bool

    @staticmethod
    def of(state: dict[str, Any], writer_active: bool) -> IndexStatus:
        return IndexStatus(
            articles=int(state.get("articles", 0)),
            paragraphs=int(state.get("paragraphs", 0)),
            complete=bool(state.get("complete")),
            updated_at=str(state.get("updated_at", "")),
            writer_active=writer_active,
        )
