"""The keyword side of an index: a BM25 snapshot of the committed rows, swapped in whole by renaming."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def date_int(iso: str) -> int:
    """ "2024-03-05" -> 20240305, the form Chroma and the snapshot filter on; 0 when there is no date."""
    return int(iso.replace("-", "")) if iso else 0


class KeywordSnapshot:
    """One directory holding a BM25 index, the row id of each document, and its article and date
    for filtering; written whole beside the old one and swapped in by renaming."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ids: list[str] = []  # row id of each BM25 document
        self.articles: list[str] = []  # article ids, sorted; rows point into this list
        self.article_info: list[tuple[str, ...]] = []  # (title, date, url, source) of each article
        self.vocabulary: dict[str, int] = {}  # stemmed term -> BM25 term id
        self._bm25: Any = None
        self._meta: dict[str, np.ndarray] = {}
        self._df: np.ndarray = np.zeros(0, dtype=np.int64)

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

    def paragraphs_per_article(self) -> list[int]:
        """How many committed paragraphs each article of `articles` has."""
        if not self.ids:
            return [0] * len(self.articles)
        return [int(c) for c in np.bincount(self._meta["article"], minlength=len(self.articles))]

    def idf(self, term: str) -> float:
        """Inverse document frequency of a stemmed term; unknown terms get the rarest value."""
        n = len(self.ids)
        tid = self.vocabulary.get(term)
        df = 0 if tid is None else int(self._df[tid])
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def search(
        self,
        terms: Sequence[str],
        k: int,
        article_ids: Sequence[str] | None = None,
        date_from: str = "",
        date_to: str = "",
    ) -> list[tuple[str, float]]:
        """Top-k (row id, BM25 score) for stemmed `terms`, within the filters."""
        term_ids = [self.vocabulary[t] for t in terms if t in self.vocabulary]
        if not term_ids or not self.ids:
            return []
        mask = self._mask(article_ids, date_from, date_to)
        scores = self._bm25.get_scores_from_ids(term_ids, weight_mask=mask)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def _mask(self, article_ids: Sequence[str] | None, date_from: str, date_to: str) -> np.ndarray | None:
        if not article_ids and not date_from and not date_to:
            return None
        mask = np.ones(len(self.ids), dtype=np.float32)
        if article_ids:
            wanted = [i for i, a in enumerate(self.articles) if a in set(article_ids)]
            mask *= np.isin(self._meta["article"], wanted)
        dates = self._meta["date"]
        if date_from:
            mask *= dates >= date_int(date_from)
        if date_to:
            mask *= (dates <= date_int(date_to)) & (dates > 0)
        return mask
