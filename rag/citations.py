"""Citation keys: one number per paragraph, stable across the turns of a conversation."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag.schema import Citation

MARKER = re.compile(r"\[(\d{1,3})\]")


class CitationKeys:
    """Hands out `[1]`, `[2]`... by paragraph id; a paragraph seen before keeps its number."""

    def __init__(self, existing: dict[str, int] | None = None) -> None:
        self._keys: dict[str, int] = dict(existing or {})

    def key(self, paragraph_id: str) -> int:
        if paragraph_id not in self._keys:
            self._keys[paragraph_id] = max(self._keys.values(), default=0) + 1
        return self._keys[paragraph_id]

    def as_dict(self) -> dict[str, int]:
        return dict(self._keys)


def marker(key: int) -> str:
    """How a citation appears in answer text."""
    return f"[{key}]"


def cited_keys(text: str) -> list[int]:
    """The citation keys a text uses, in order of first use."""
    seen: list[int] = []
    for m in MARKER.finditer(text):
        k = int(m.group(1))
        if k not in seen:
            seen.append(k)
    return seen


def invalid_citations(citations: Iterable[Citation], retrieved_ids: Iterable[str]) -> list[Citation]:
    """Citations to paragraphs that were not retrieved for this question (never valid)."""
    allowed = set(retrieved_ids)
    return [c for c in citations if c.paragraph_id not in allowed]
