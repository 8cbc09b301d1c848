"""The paragraphs the answerers read: records built from the paragraph file, kept in a bounded cache."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from rag.index.rowstore import RowStore
from rag.schema import Record
from rag.terms import content_terms

RECORD_CACHE = 20_000  # fetched paragraphs kept in memory (about 10 KB each)


class RecordCache:
    """Records by row id, read from `rows` when not cached; the first cached go first when full."""

    def __init__(self, rows: RowStore, size: int = RECORD_CACHE) -> None:
        self._rows = rows
        self._size = size
        self._records: dict[str, Record] = {}
        self._lock = threading.Lock()  # the chat page's reads fill it from many threads

    def fetch(self, row_ids: Sequence[str], dim: int) -> dict[str, Record]:
        """The records of `row_ids` (missing rows are left out); `dim` is the vectors' size."""
        cached = ((rid, self._records.get(rid)) for rid in row_ids)  # .get: another thread may evict
        out = {rid: rec for rid, rec in cached if rec is not None}
        missing = [rid for rid in row_ids if rid not in out]
        if not missing:
            return out
        for rid, (meta_json, text, vec, svec) in self._rows.get(missing).items():
            out[rid] = _record(rid, meta_json, text, vec, svec, dim)
        with self._lock:
            for rid in missing:
                if rid not in out:
                    continue
                # Row ids are content hashes, so a cached record can never be stale.
                while len(self._records) >= self._size:
                    self._records.pop(next(iter(self._records)))
                self._records[rid] = out[rid]
        return out


def _record(rid: str, meta_json: str, text: str, vec: bytes, svec: bytes, dim: int) -> Record:
    """A record from one row of the paragraph file."""
    meta = json.loads(meta_json)
    terms = frozenset(content_terms(text))
    spans = tuple((int(s), int(e)) for s, e in meta["spans"])
    return Record(
        row_id=rid,
        paragraph_id=str(meta["paragraph_id"]),
        article_id=str(meta["article_id"]),
        n=int(meta["n"]),
        title=str(meta["title"]),
        text=text,
        source=str(meta.get("source", "")),
        url=str(meta.get("url", "")),
        publish_date=str(meta.get("publish_date", "")),
        sentence_spans=spans,
        sentence_vectors=np.frombuffer(svec, dtype=np.float16).reshape(-1, dim).astype(np.float32),
        vector=np.frombuffer(vec, dtype=np.float32),
        terms=terms,
        topic_terms=terms | _title_terms(str(meta["title"])),
    )


@lru_cache(maxsize=4096)  # an article's paragraphs share one title
def _title_terms(title: str) -> frozenset[str]:
    return frozenset(content_terms(title))
