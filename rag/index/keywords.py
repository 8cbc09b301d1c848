"""The committed snapshot of an index: BM25 over the committed rows, their article and date, and
their vectors; written whole beside the old one and swapped in by renaming."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.terms import content_terms

VECTORS = "vectors.npy"  # the paragraph vectors, float32, one row per id (snapshots since 2026-12)
_SELECTIONS = 16  # the last filters' selections kept per loaded snapshot (dense and BM25 ask alike)

_PRODUCT_ROWS = 1024  # OpenBLAS (numpy's wheels) runs a product of about 1,200 rows or more on two threads
_SPLIT_ROWS = 8192  # a scan of fewer rows (0.6 ms) stays on one thread: handing a part over costs ~0.05 ms
_SCAN_THREADS = 4  # parts of one scan at most: more cores than this add little to a memory-bound read
_GATHER_RUNS = 512  # a selection of more runs than this is gathered whole, not read run by run

Filters = tuple[tuple[str, ...], str, str, str]  # articles, date_from, date_to, as_of


@dataclass(frozen=True)
class Selection:
    """The rows a filter keeps (some, not all): a bool per row, their indexes in order, and the
    runs of consecutive rows they form as (start, end) pairs."""

    mask: np.ndarray
    rows: np.ndarray
    runs: np.ndarray

    @staticmethod
    def of(mask: np.ndarray) -> Selection:
        mask.flags.writeable = False  # shared by every search under these filters
        edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.view(np.int8), [0]))))
        return Selection(mask, np.flatnonzero(mask), edges.reshape(-1, 2))

    @property
    def gathered(self) -> bool:
        """Whether its rows form too many runs to be read run by run: they are gathered."""
        return len(self.runs) > _GATHER_RUNS


def date_int(iso: str) -> int:
    """ "2024-03-05" -> 20240305, the form Chroma and the snapshot filter on; 0 when there is no date."""
    return int(iso.replace("-", "")) if iso else 0


def date_iso(value: int) -> str:
    """20240305 -> "2024-03-05"; "" for 0 (no date)."""
    return f"{value // 10000:04d}-{value // 100 % 100:02d}-{value % 100:02d}" if value else ""


class KeywordSnapshot:
    """One directory holding a BM25 index, the row id of each document, its article and date for
    filtering, and its paragraph vector (`vectors.npy`, memory-mapped: exact dense search within a
    filter); written whole beside the old one and swapped in by renaming, so ids, filter fields and
    vectors always change together. A snapshot written before the vectors were added loads with
    `vectors` None."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ids: list[str] = []  # row id of each BM25 document
        self.articles: list[str] = []  # article ids, sorted; rows point into this list
        self.article_info: list[tuple[str, ...]] = []  # (title, date, url, source) of each article
        self.vocabulary: dict[str, int] = {}  # stemmed term -> BM25 term id
        self.vectors: np.ndarray | None = None  # (rows, dim) float32, aligned with ids
        self.newest = 0  # the newest date of a row, as date_int (0: no row is dated)
        self.undated = 0  # articles without a publish date
        self._bm25: Any = None
        self._meta: dict[str, np.ndarray] = {}
        self._df: np.ndarray = np.zeros(0, dtype=np.int64)
        self._article_at: dict[str, int] = {}
        self._selections: dict[Filters, Selection | None] = {}
        self._selections_lock = threading.Lock()  # the chat page's worker threads share one snapshot
        self._everything: Selection | None = None
        self._counts: tuple[int, ...] | None = None  # committed paragraphs per article, once asked
        self._titles: tuple[dict[str, np.ndarray], np.ndarray] | None = None

    @property
    def loaded(self) -> bool:
        return self._bm25 is not None

    def unload(self) -> None:
        self._bm25 = None

    def stamp(self) -> tuple[int, int] | None:
        """(inode, mtime) of the snapshot on disk, None while there is none; a new one changes it."""
        try:
            st = (self.directory / "ids.json").stat()
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns

    def load(self) -> None:
        """Read the snapshot on disk (memory-mapped); raises OSError/ValueError/KeyError if damaged."""
        import bm25s

        self._bm25 = None
        bm25 = bm25s.BM25.load(str(self.directory), mmap=True)
        meta = json.loads((self.directory / "ids.json").read_text())
        with np.load(self.directory / "meta.npz") as npz:
            self._meta = {k: npz[k] for k in npz.files}
        self.ids = meta["ids"]
        self.articles = meta["articles"]
        self.article_info = [
            tuple(x) for x in meta.get("article_info") or [("", "", "", "")] * len(self.articles)
        ]
        self.vocabulary = bm25.vocab_dict
        self._df = np.diff(np.asarray(bm25.scores["indptr"]))
        self._article_at = {a: i for i, a in enumerate(self.articles)}
        self.undated = sum(1 for info in self.article_info if not info[1])
        with self._selections_lock:
            self._selections = {}
        self._everything = None
        self._titles = None
        self._counts = None
        dates = self._meta["date"]
        self.newest = int(dates.max()) if len(dates) else 0
        self.vectors = read_vectors(self.directory, len(self.ids))
        self._bm25 = bm25

    @staticmethod
    def build(
        directory: Path,
        ids: Sequence[str],
        tokens: Sequence[list[str]],
        article_ids: Sequence[str],
        dates: Sequence[str],
        article_info: dict[str, tuple[str, str, str, str]] | None = None,
    ) -> Path:
        """Build the snapshot of these documents beside `directory`; `install` puts it in place.
        The caller is the index's one writer: any other build found there was left by a crash."""
        import bm25s

        KeywordSnapshot.discard_builds(directory)
        tmp = directory.with_name(f".{directory.name}.{os.getpid()}.tmp")
        retriever = bm25s.BM25()
        retriever.index(list(tokens), show_progress=False)
        retriever.save(str(tmp))
        articles = sorted(set(article_ids))
        at = {a: i for i, a in enumerate(articles)}
        info = article_info or {}
        (tmp / "ids.json").write_text(
            json.dumps(
                {
                    "ids": list(ids),
                    "articles": articles,
                    # (title, date, url, source) per article, for the article list without a row read
                    "article_info": [list(info.get(a, ("", "", "", ""))) for a in articles],
                }
            )
        )
        np.savez(
            tmp / "meta.npz",
            article=np.array([at[a] for a in article_ids], dtype=np.int32),
            date=np.array([date_int(d) for d in dates], dtype=np.int32),
        )
        return tmp

    @staticmethod
    def open_vectors(built: Path, rows: int, dim: int) -> np.memmap[Any, np.dtype[np.float32]]:
        """A new, zeroed vector matrix in the build `built`, memory-mapped for writing: the caller
        fills row i with the vector of id i (and flushes it) before `install`."""
        return np.lib.format.open_memmap(built / VECTORS, mode="w+", dtype=np.float32, shape=(rows, dim))

    @staticmethod
    def install(built: Path, directory: Path) -> None:
        """Swap a snapshot from `build` in for the one at `directory` (renames)."""
        old = directory.with_name(f".{directory.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            os.replace(directory, old)
        os.replace(built, directory)
        shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def discard_builds(directory: Path) -> None:
        """Remove builds of `directory`'s snapshot that were never put in place."""
        for tmp in directory.parent.glob(f".{directory.name}.*.tmp"):
            shutil.rmtree(tmp, ignore_errors=True)

    def paragraphs_per_article(self) -> tuple[int, ...]:
        """How many committed paragraphs each article of `articles` has (counted once per snapshot)."""
        if self._counts is None:
            counts = np.bincount(self._meta["article"], minlength=len(self.articles)) if self.ids else None
            self._counts = (
                tuple(0 for _ in self.articles) if counts is None else tuple(int(c) for c in counts)
            )
        return self._counts

    def article_entry(self, article_id: str) -> tuple[tuple[str, ...], int] | None:
        """One article's (title, date, url, source) and its committed paragraph count; None if the
        snapshot does not hold it."""
        i = self._article_at.get(article_id)
        return None if i is None else (self.article_info[i], self.paragraphs_per_article()[i])

    def idf(self, term: str) -> float:
        """Inverse document frequency of a stemmed term; unknown terms get the rarest value."""
        n = len(self.ids)
        tid = self.vocabulary.get(term)
        df = 0 if tid is None else int(self._df[tid])
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def articles_with(self, terms: Sequence[str], article_ids: Sequence[str]) -> set[str]:
        """Those of `article_ids` with a committed paragraph holding one of the stemmed `terms`."""
        wanted = [self._article_at[a] for a in article_ids if a in self._article_at]
        if not wanted or not self.loaded:
            return set()
        indptr, indices = self._bm25.scores["indptr"], self._bm25.scores["indices"]
        found: set[int] = set()
        for t in terms:
            tid = self.vocabulary.get(t)
            if tid is not None:
                docs = indices[indptr[tid] : indptr[tid + 1]]
                found.update(int(a) for a in np.intersect1d(self._meta["article"][docs], wanted))
        return {self.articles[a] for a in found}

    def title_search(
        self,
        terms: Sequence[str],
        k: int,
        article_ids: Sequence[str] | None = None,
        date_from: str = "",
        date_to: str = "",
        as_of: str = "",
    ) -> list[str]:
        """The k articles whose titles hold most of the stemmed `terms` (IDF-weighted over the
        titles), within the filters; best first, none without a term in common."""
        postings, dates = self._title_postings()
        scores = np.zeros(len(self.articles), dtype=np.float32)
        n = len(self.articles)
        for t in dict.fromkeys(terms):
            docs = postings.get(t)
            if docs is not None:
                scores[docs] += np.log(1 + (n - len(docs) + 0.5) / (len(docs) + 0.5))
        if article_ids:
            keep = np.zeros(n, dtype=bool)
            keep[[self._article_at[a] for a in article_ids if a in self._article_at]] = True
            scores[~keep] = 0
        if date_from:
            scores[dates < date_int(date_from)] = 0
        if date_to:
            scores[(dates > date_int(date_to)) | (dates == 0)] = 0
        if as_of:
            scores[dates > date_int(as_of)] = 0
        k = min(k, n)
        if k < 1:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        return [self.articles[i] for i in top if scores[i] > 0]

    def _title_postings(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Article indices by stemmed title term, and each article's date (date_int; 0 undated)."""
        if self._titles is None:
            found: dict[str, list[int]] = {}
            for i, info in enumerate(self.article_info):
                for t in set(content_terms(info[0])):
                    found.setdefault(t, []).append(i)
            dates = np.array([date_int(info[1]) for info in self.article_info], dtype=np.int64)
            self._titles = ({t: np.array(ix, dtype=np.int64) for t, ix in found.items()}, dates)
        return self._titles

    def search(
        self,
        terms: Sequence[str],
        k: int,
        article_ids: Sequence[str] | None = None,
        date_from: str = "",
        date_to: str = "",
        as_of: str = "",
    ) -> list[tuple[str, float]]:
        """Top-k (row id, BM25 score) for stemmed `terms`, within the filters."""
        term_ids = [self.vocabulary[t] for t in terms if t in self.vocabulary]
        if not term_ids or not self.ids:
            return []
        kept = self.select(article_ids, date_from, date_to, as_of)
        if kept is not None and not len(kept.rows):
            return []
        scores = self._bm25.get_scores_from_ids(term_ids, weight_mask=None if kept is None else kept.mask)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def everything(self) -> Selection:
        """Every row, as a selection (an exact search over the whole snapshot)."""
        if self._everything is None or len(self._everything.mask) != len(self.ids):
            self._everything = Selection.of(np.ones(len(self.ids), dtype=bool))
        return self._everything

    def select(
        self, article_ids: Sequence[str] | None, date_from: str, date_to: str, as_of: str = ""
    ) -> Selection | None:
        """The rows within the filters, or None when they keep every row.

        `date_from`/`date_to` keep dated rows in the window only; `as_of` keeps the rows published
        on or before it and the undated ones (an article without a date is never "after" a date).
        """
        key = (tuple(sorted(set(article_ids or ()))), date_from, date_to, as_of)
        with self._selections_lock:
            if key in self._selections:
                return self._selections[key]
        mask = self._mask(*key)
        kept = None if mask is None or mask.all() else Selection.of(mask)
        with self._selections_lock:
            if len(self._selections) >= _SELECTIONS:
                self._selections.pop(next(iter(self._selections)))
            self._selections[key] = kept
        return kept

    def _mask(
        self, article_ids: tuple[str, ...], date_from: str, date_to: str, as_of: str
    ) -> np.ndarray | None:
        if not article_ids and not date_from and not date_to and not as_of:
            return None
        mask = np.ones(len(self.ids), dtype=bool)
        if article_ids:
            wanted = [self._article_at[a] for a in article_ids if a in self._article_at]
            mask &= np.isin(self._meta["article"], wanted)
        dates = self._meta["date"]
        if date_from:
            mask &= dates >= date_int(date_from)
        if date_to:
            mask &= (dates <= date_int(date_to)) & (dates > 0)
        if as_of and date_int(as_of) < self.newest:  # as of the newest date or later: every row
            mask &= (dates <= date_int(as_of)) | (dates == 0)
        return mask

    def nearest(self, vector: np.ndarray, k: int, kept: Selection) -> list[tuple[str, float]]:
        """Exact top-k (row id, cosine similarity) among the `kept` rows by the snapshot's unit
        vectors; ties go to the earlier row.

        Rows are read run by run where they are consecutive (the snapshot is ordered by date and
        article, so a date range or an article is one run), else gathered."""
        assert self.vectors is not None
        rows = kept.rows
        if len(rows) == 0 or k < 1:
            return []
        v = np.asarray(vector, dtype=np.float32)
        if kept.gathered:
            sims = similarities(self.vectors[rows], v)
        else:
            sims = np.concatenate([similarities(self.vectors[a:b], v) for a, b in kept.runs])
        k = min(k, len(sims))
        top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
        top = top[np.lexsort((rows[top], -sims[top]))]
        return [(self.ids[rows[i]], float(sims[i])) for i in top]


def similarities(vectors: np.ndarray, v: np.ndarray) -> np.ndarray:
    """`vectors @ v`: many rows split between this thread and the scan pool's, each part in products
    of at most _PRODUCT_ROWS rows (BLAS's one-thread kernel reads 45,000 rows in 3.0 ms where
    numpy's einsum takes 4.5; two parts 1.75 ms, 3.8 with the other core busy, where OpenBLAS's own
    second thread stalled a busy 2-core host for 8 ms: eval/PERFORMANCE.md)."""
    out = np.empty(len(vectors), dtype=np.float32)
    scan = _scan_pool() if len(vectors) >= _SPLIT_ROWS else None
    if scan is None:
        _products(vectors, v, out)
        return out
    pool, parts = scan
    edges = [len(vectors) * i // parts for i in range(parts + 1)]
    futures = [
        pool.submit(_products, vectors[a:b], v, out[a:b]) for a, b in zip(edges[1:-1], edges[2:], strict=True)
    ]
    _products(vectors[: edges[1]], v, out[: edges[1]])
    for future in futures:
        future.result()
    return out


def _products(vectors: np.ndarray, v: np.ndarray, out: np.ndarray) -> None:
    for a in range(0, len(vectors), _PRODUCT_ROWS):
        np.matmul(vectors[a : a + _PRODUCT_ROWS], v, out=out[a : a + _PRODUCT_ROWS])


@lru_cache(maxsize=1)
def _scan_pool() -> tuple[ThreadPoolExecutor, int] | None:
    """Threads for the other cores' parts of a long scan, and the parts a scan is cut into (None on
    one core); numpy frees the GIL while it multiplies."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(cores, _SCAN_THREADS) - 1
    return (ThreadPoolExecutor(workers, thread_name_prefix="rag-scan"), workers + 1) if workers > 0 else None


if hasattr(os, "register_at_fork"):  # a forked child has none of the pool's threads: it makes its own
    os.register_at_fork(after_in_child=_scan_pool.cache_clear)


def committed_vectors(directory: Path) -> tuple[list[str], np.ndarray] | None:
    """The ids and vector matrix of the snapshot in place at `directory` (for a writer, that holds
    the lock: nothing swaps it meanwhile); None if it has no matrix or cannot be read."""
    try:
        ids = json.loads((directory / "ids.json").read_text())["ids"]
        vectors = read_vectors(directory, len(ids))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None if vectors is None else (ids, vectors)


def read_vectors(directory: Path, rows: int) -> np.ndarray | None:
    """The snapshot's vector matrix, memory-mapped (None in a snapshot made before it); raises
    ValueError if it does not have one row per id."""
    path = directory / VECTORS
    if not path.exists():
        return None
    vectors = np.load(path, mmap_mode="r")
    if vectors.ndim != 2 or vectors.shape[0] != rows or vectors.dtype != np.float32:
        raise ValueError(f"{VECTORS} holds {vectors.shape} {vectors.dtype} vectors for {rows} rows")
    return vectors
