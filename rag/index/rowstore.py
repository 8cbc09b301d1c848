"""The paragraph file beside the Chroma collection: what each stored row says, by row id."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path


class RowStore:
    """Row id -> (display fields and sentence spans as JSON, text, paragraph vector, sentence
    vectors), in SQLite (WAL: readers in other processes see committed rows while an ingest writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one connection, shared by the chat page's worker threads

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS rows (rid TEXT PRIMARY KEY, meta TEXT NOT NULL, "
                "text TEXT NOT NULL, vector BLOB NOT NULL, sentence_vectors BLOB NOT NULL)"
            )
            db.commit()
            self._db = db
        return self._db

    def ids(self) -> set[str]:
        with self._lock:
            return {r for (r,) in self._conn().execute("SELECT rid FROM rows")}

    def put(self, rows: list[tuple[str, str, str, bytes, bytes]]) -> None:
        with self._lock:
            db = self._conn()
            db.executemany("INSERT OR REPLACE INTO rows VALUES (?, ?, ?, ?, ?)", rows)
            db.commit()

    def get(self, rids: Sequence[str]) -> dict[str, tuple[str, str, bytes, bytes]]:
        out: dict[str, tuple[str, str, bytes, bytes]] = {}
        with self._lock:
            db = self._conn()
            for b in range(0, len(rids), 500):
                chunk = list(rids[b : b + 500])
                marks = ",".join("?" * len(chunk))
                for rid, meta, text, vec, svec in db.execute(
                    f"SELECT rid, meta, text, vector, sentence_vectors FROM rows WHERE rid IN ({marks})",
                    chunk,
                ):
                    out[rid] = (meta, text, vec, svec)
        return out

    def vectors(self, rids: Sequence[str]) -> dict[str, bytes]:
        """The paragraph vectors (float32 bytes) of `rids` (missing rows are left out)."""
        out: dict[str, bytes] = {}
        with self._lock:
            db = self._conn()
            for b in range(0, len(rids), 500):
                chunk = list(rids[b : b + 500])
                marks = ",".join("?" * len(chunk))
                out.update(db.execute(f"SELECT rid, vector FROM rows WHERE rid IN ({marks})", chunk))
        return out

    def delete(self, rids: Sequence[str]) -> None:
        with self._lock:
            db = self._conn()
            db.executemany("DELETE FROM rows WHERE rid = ?", [(r,) for r in rids])
            db.commit()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
