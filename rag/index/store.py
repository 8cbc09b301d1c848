"""The vectors of an index: its Chroma collection, local or on a server; the only chromadb user."""

from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from rag.errors import StoreUnavailableError
from rag.index.keywords import date_int

COLLECTION_PREFIX = "paragraphs-"  # + the corpus fingerprint
# A new collection's HNSW graph, cheaper to build and as accurate (eval/PERFORMANCE.md); old ones keep theirs.
HNSW = {"space": "cosine", "ef_construction": 50, "ef_search": 200}
_STALE_TRIES = 10  # filtered vector searches meeting rows a running ingest is writing
_DROPPED = {"ConnectError", "ConnectionError", "ReadError", "RemoteProtocolError", "ReadTimeout"}
_DELETE_BATCH = 5000


class ChromaStore:
    """One index's Chroma collection: row id -> vector and the fields filters need (article, date).

    Args:
        index_dir: The index directory; a local store lives in its `chroma` folder.
        name: The collection's name.
        url: A Chroma server's URL, or None for the local store.
    """

    def __init__(self, index_dir: Path, name: str, url: str | None) -> None:
        self.index_dir = index_dir
        self.name = name
        self.url = url
        self._collection: Any = None

    def client(self) -> Any:
        """A new client of the server, or of the local store."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if self.url:
            url = urlparse(self.url)
            try:
                client = chromadb.HttpClient(
                    host=url.hostname or "127.0.0.1",
                    port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https",
                    settings=chroma_settings,
                )
                client.heartbeat()
            except Exception as e:
                raise StoreUnavailableError(
                    f"cannot reach the Chroma server at {self.url} ({type(e).__name__}); "
                    "start it with `chroma run` or unset RAG_CHROMA_URL"
                ) from None
            return client
        self.index_dir.mkdir(parents=True, exist_ok=True)
        # A client of our own: Chroma's shared one per path never sees rows written after it loaded.
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
        return chromadb.PersistentClient(path=str(self.index_dir / "chroma"), settings=chroma_settings)

    def collection(self) -> Any:
        """The collection, created on first use; the same handle until `reopen`."""
        if self._collection is None:
            # No embedding function: we pass our own vectors, so Chroma never downloads its model.
            self._collection = self.client().get_or_create_collection(
                self.name,
                embedding_function=None,
                configuration={"hnsw": HNSW},
            )
        return self._collection

    def reopen(self) -> None:
        """Open a new client at the next call: it sees the rows other processes wrote since."""
        self._collection = None

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a Chroma call, turning a dropped server connection into a clear error."""
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            if self.url and type(e).__name__ in _DROPPED:
                raise StoreUnavailableError(
                    f"lost the Chroma server at {self.url} ({type(e).__name__}); is it running?"
                ) from None
            raise

    # -- rows -----------------------------------------------------------------------------

    def ids(self) -> set[str]:
        """Every row id in the collection."""
        return set(self._call(self.collection().get, include=[])["ids"])

    def ids_of_article(self, article_id: str) -> list[str]:
        """The row ids of one article's paragraphs."""
        got = self._call(self.collection().get, where={"article_id": article_id}, include=[])
        return list(got["ids"])

    def add(self, ids: list[str], embeddings: list[np.ndarray], metadatas: list[dict[str, Any]]) -> None:
        """Add rows the collection lacks."""
        # `add`, not `upsert`: sync() only writes ids the store lacks, and add skips the lookup.
        self._call(self.collection().add, ids=ids, embeddings=embeddings, metadatas=metadatas)

    def delete(self, ids: Sequence[str]) -> None:
        """Delete these rows, in batches."""
        for b in range(0, len(ids), _DELETE_BATCH):
            self._call(self.collection().delete, ids=ids[b : b + _DELETE_BATCH])

    def count(self) -> int:
        """Rows in the collection."""
        return int(self._call(self.collection().count))

    def query(
        self,
        vector: np.ndarray,
        n: int,
        article_ids: Sequence[str] | None,
        date_from: str,
        date_to: str,
        as_of: str = "",
    ) -> list[tuple[str, float]]:
        """The `n` rows nearest `vector` within the filters, as (row id, cosine similarity)."""
        query: dict[str, Any] = {
            "query_embeddings": [vector.tolist()],
            "n_results": n,
            "where": _where(article_ids, date_from, date_to, as_of),
            "include": ["distances"],
        }
        store = self.collection()
        for attempt in range(_STALE_TRIES):
            try:
                result = self._call(store.query, **query)
                break
            except Exception as e:
                if self.url or type(e).__name__ != "InternalError" or attempt == _STALE_TRIES - 1:
                    raise
                # A filter met rows a running ingest is writing that our HNSW lacks: a new handle catches up.
                self._collection = None
                store = self.collection()
                time.sleep(0.02 * (attempt + 1))
        hits = zip(result["ids"][0], result["distances"][0], strict=True)
        return [(rid, 1.0 - float(d)) for rid, d in hits]

    # -- other collections ----------------------------------------------------------------

    def local_names(self) -> list[str]:
        """The names of the local store's collections; none for a server (it is never scanned)."""
        if self.url or not (self.index_dir / "chroma" / "chroma.sqlite3").exists():
            return []
        return [c.name for c in self.client().list_collections()]

    def drop(self, names: set[str]) -> None:
        """Delete the collections of these names."""
        client = self.client()
        for collection in client.list_collections():
            if collection.name in names:
                self._call(client.delete_collection, collection.name)

    def compact(self) -> None:
        """Give back the disk of deleted local collections: Chroma leaves their HNSW directories and
        the free pages of its SQLite file behind."""
        root = self.index_dir / "chroma"
        db = root / "chroma.sqlite3"
        if self.url or not db.exists():
            return
        con = sqlite3.connect(db, timeout=30)
        try:
            live = {row[0] for row in con.execute("SELECT id FROM segments")}
            # Chroma's full-text index keeps deleted rows as tombstones until merged.
            with contextlib.suppress(sqlite3.Error):
                con.execute(
                    "INSERT INTO embedding_fulltext_search(embedding_fulltext_search) VALUES('optimize')"
                )
                con.commit()
            con.execute("VACUUM")
        except sqlite3.Error:  # another Chroma schema: leave its files alone
            return
        finally:
            con.close()
        for path in root.iterdir():
            if path.is_dir() and _looks_like_uuid(path.name) and path.name not in live:
                shutil.rmtree(path)


def _where(
    article_ids: Sequence[str] | None, date_from: str, date_to: str, as_of: str = ""
) -> dict[str, Any] | None:
    """The Chroma filter for these articles and dates (None: no filter); `as_of` keeps undated rows."""
    clauses: list[dict[str, Any]] = []
    if article_ids:
        clauses.append({"article_id": {"$in": list(article_ids)}})
    if date_from:
        clauses.append({"date": {"$gte": date_int(date_from)}})
    if date_to:
        clauses.append({"date": {"$lte": date_int(date_to)}})
        clauses.append({"date": {"$gt": 0}})
    if as_of:
        clauses.append({"$or": [{"date": {"$lte": date_int(as_of)}}, {"date": {"$eq": 0}}]})
    return None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _looks_like_uuid(name: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", name))
