"""The paragraph store: Chroma for vectors, SQLite for what a paragraph says, a bm25s snapshot for
words; the only chromadb user.

Chroma holds each row's vector and the fields filters need (article, date): no text, so it builds
no full-text index, and its writes stay small. A row's text, display fields, sentence spans and
sentence vectors live in `rows-<fingerprint>.sqlite` beside it (also with a Chroma server), written
before the Chroma row, so a row Chroma has is always readable. Rows are keyed
`<paragraph_id>:<content hash>`, so an unchanged paragraph is never embedded twice and a changed
one is a new row. The BM25 snapshot (its id list) is the committed set: readers only
see rows in it, so a running or crashed ingest never shows a half-written corpus.

`ParagraphIndex.sync` decides what an ingest writes (new rows, reused vectors, stale rows); the
pipeline that writes them (steps encoded ahead, the writer thread, the BM25 build) is rag.writing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from rag import writing
from rag.embedding import Encoder
from rag.errors import (
    IndexBusyError,
    IndexIncompleteError,
    IndexMissingError,
    StoreUnavailableError,
)
from rag.keywords import KeywordSnapshot, date_int
from rag.rowstore import RowStore
from rag.schema import Article, Paragraph
from rag.terms import content_terms
from rag.writing import Wanted, row_id, split_row_id

RECORD_CACHE = 20_000  # fetched paragraphs kept in memory (about 10 KB each)
_SNAPSHOT_TRIES = 5  # reads of a BM25 snapshot a writer is swapping in, before giving up
# A new collection's HNSW graph: half Chroma's default construction effort (ingest's writes: 76 ->
# 55 CPU-s on the whole corpus) and a wider search beam, which together find as many of the exact
# top 40 as the defaults (0.958 vs 0.954 over 200 queries). An existing collection keeps its own.
HNSW = {"space": "cosine", "ef_construction": 50, "ef_search": 200}
_STALE_TRIES = 10  # filtered vector searches meeting rows a running ingest is writing


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

    def summary(self) -> str:
        return (
            f"{self.articles} articles, {self.paragraphs} paragraphs: {self.added} added, "
            f"{self.updated} updated, {self.unchanged} unchanged, {self.removed} removed, "
            f"{len(self.skipped_files)} files skipped; {self.embedded} embedded ({self.seconds:.1f} s)"
        )


@dataclass(frozen=True)
class IndexStatus:
    """The committed state of an index, as the UI's status line shows it."""

    articles: int
    paragraphs: int
    complete: bool
    updated_at: str
    writer_active: bool


class ParagraphIndex:
    """Chroma collection + BM25 snapshot for one corpus fingerprint."""

    def __init__(self, index_dir: Path, fingerprint: str, chroma_url: str | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.fingerprint = fingerprint
        self.chroma_url = chroma_url
        self.collection_name = f"paragraphs-{fingerprint}"
        self._state_path = self.index_dir / f"state-{fingerprint}.json"
        self._bm25_dir = self.index_dir / f"bm25-{fingerprint}"
        self._lock_path = self.index_dir / "ingest.lock"
        self.rows = RowStore(self.index_dir / f"rows-{fingerprint}.sqlite")
        self._collection: Any = None
        self._keywords = KeywordSnapshot(self._bm25_dir)
        self._committed: set[str] = set()
        self._snapshot: tuple[int, int] | None = None  # (inode, mtime) of the loaded snapshot
        self._dim = 0
        self._records: dict[str, Record] = {}

    # -- Chroma -------------------------------------------------------------------------

    def _client(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if self.chroma_url:
            url = urlparse(self.chroma_url)
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
                    f"cannot reach the Chroma server at {self.chroma_url} ({type(e).__name__}); "
                    "start it with `chroma run` or unset RAG_CHROMA_URL"
                ) from None
            return client
        self.index_dir.mkdir(parents=True, exist_ok=True)
        # Chroma shares one client per path in a process, and a client never sees the vectors another
        # client writes after it loaded them (stale hits; "Error finding id" on filtered queries). So
        # each index opens its own, and a new one whenever another writer has committed.
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
        return chromadb.PersistentClient(path=str(self.index_dir / "chroma"), settings=chroma_settings)

    def _store(self) -> Any:
        if self._collection is None:
            # embedding_function=None: we always pass our own vectors, so Chroma's default
            # model (which it would download) is never loaded.
            self._collection = self._client().get_or_create_collection(
                self.collection_name,
                embedding_function=None,
                configuration={"hnsw": HNSW},
            )
        return self._collection

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a Chroma call, turning a dropped server connection into a clear error."""
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            if self.chroma_url and type(e).__name__ in {
                "ConnectError",
                "ConnectionError",
                "ReadError",
                "RemoteProtocolError",
                "ReadTimeout",
            }:
                raise StoreUnavailableError(
                    f"lost the Chroma server at {self.chroma_url} ({type(e).__name__}); is it running?"
                ) from None
            raise

    # -- state, lock --------------------------------------------------------------------

    def _read_state(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self._state_path.read_text()))
        except (OSError, ValueError):
            return None

    def _write_state(self, **state: Any) -> None:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._state_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, self._state_path)

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise IndexBusyError(
                    f"another `rag ingest` ({holder}) is writing {self.index_dir}; "
                    "wait for it to finish, then run it again"
                ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            try:
                yield
            finally:
                fh.seek(0)
                fh.truncate()
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- indexes built under other settings ------------------------------------------------

    def _local_collections(self) -> list[str]:
        if self.chroma_url or not (self.index_dir / "chroma" / "chroma.sqlite3").exists():
            return []
        return [c.name for c in self._client().list_collections()]

    def other_fingerprints(self) -> list[str]:
        """Indexes in this directory built under other settings (format version, model, paragraph
        length): a settings change makes a new one beside the old, which stays until pruned."""
        found = {m.group(1) for p in self.index_dir.glob("*-*") if (m := _FILE_OF_INDEX.fullmatch(p.name))}
        found |= {
            n.removeprefix("paragraphs-") for n in self._local_collections() if n.startswith("paragraphs-")
        }
        return sorted(found - {self.fingerprint})

    def prune(self) -> tuple[list[str], int]:
        """Delete the indexes of other settings (their Chroma collections and files); returns their
        fingerprints and the bytes freed in the index directory."""
        with self._writer_lock():
            before = _disk_bytes(self.index_dir)
            others = self.other_fingerprints()
            doomed = {f"paragraphs-{fp}" for fp in others}
            client = self._client()
            for collection in client.list_collections():
                if collection.name in doomed:
                    self._call(client.delete_collection, collection.name)
            for path in list(self.index_dir.glob("*-*")):
                m = _FILE_OF_INDEX.fullmatch(path.name)
                if m and m.group(1) in others:
                    if path.is_dir():
                        shutil.rmtree(path)
                    else:
                        path.unlink(missing_ok=True)
            if not self.chroma_url:
                self._compact_chroma()
            return others, max(0, before - _disk_bytes(self.index_dir))

    def _compact_chroma(self) -> None:
        """Give back the disk of deleted collections: Chroma leaves their HNSW directories and the
        free pages of its SQLite file behind."""
        root = self.index_dir / "chroma"
        db = root / "chroma.sqlite3"
        if not db.exists():
            return
        con = sqlite3.connect(db, timeout=30)
        try:
            live = {row[0] for row in con.execute("SELECT id FROM segments")}
            # Chroma's full-text index keeps deleted rows as tombstones until merged (107 MB left
            # by the whole corpus in index format 3, which stored the text in Chroma).
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

    def writer_active(self) -> bool:
        """True while another process holds the ingest lock."""
        if not self._lock_path.exists():
            return False
        with open(self._lock_path) as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False

    def record_corpus(self, signature: str, roots: list[str]) -> None:
        """Remember which corpus files the committed index reflects."""
        state = self._read_state() or {}
        self._write_state(**{**state, "corpus_signature": signature, "corpus": roots})

    def corpus_record(self) -> str:
        """The corpus signature recorded by the last complete ingest ("" if none)."""
        return str((self._read_state() or {}).get("corpus_signature", ""))

    def status(self) -> IndexStatus | None:
        """The committed state, or None when this index was never built."""
        state = self._read_state()
        if state is None:
            return None
        return IndexStatus(
            articles=int(state.get("articles", 0)),
            paragraphs=int(state.get("paragraphs", 0)),
            complete=bool(state.get("complete")),
            updated_at=str(state.get("updated_at", "")),
            writer_active=self.writer_active(),
        )

    # -- writing ------------------------------------------------------------------------

    def sync(
        self,
        corpus: Sequence[tuple[Article, Sequence[Paragraph]]],
        encoder: Encoder,
        progress: Callable[[int, int], None] | None = None,
    ) -> SyncReport:
        """Make the store hold exactly `corpus`: embed new texts, reuse known ones, drop the rest."""
        started = time.perf_counter()
        report = SyncReport(articles=len(corpus))
        with self._writer_lock():
            # Reach the store before marking the index incomplete: an unreachable Chroma server
            # must not turn a good committed index into an "interrupted" one.
            store = self._store()
            in_chroma = set(self._call(store.get, include=[])["ids"])
            side = self.rows.ids()
            # A Chroma row whose text is gone (its side file was deleted) is written again.
            orphans = sorted(in_chroma - side)
            for b in range(0, len(orphans), 5000):
                self._call(store.delete, ids=orphans[b : b + 5000])
            existing = in_chroma & side
            previous = self._read_state() or {}
            self._write_state(**{**previous, "complete": False, "started_at": _now()})
            wanted: Wanted = {}
            for article, paragraphs in corpus:
                for p in paragraphs:
                    wanted[row_id(article, p)] = (article, p)
            report.paragraphs = len(wanted)
            old_text = dict(split_row_id(r) for r in existing)
            known_text = {split_row_id(r)[1]: r for r in existing}
            todo = [rid for rid in wanted if rid not in existing]
            fresh: set[str] = set()  # hashes of the texts no stored row has: what is embedded
            for rid in wanted:
                pid, text_hash = split_row_id(rid)
                if text_hash not in known_text:
                    fresh.add(text_hash)
                if pid not in old_text:
                    report.added += 1
                elif old_text[pid] != text_hash:
                    report.updated += 1
                else:
                    report.unchanged += 1
            # Longest first, so steps hold similar lengths and the rate only improves.
            todo.sort(key=lambda r: -len(wanted[r][1].text))
            if progress:
                progress(0, len(todo))
            report.embedded = writing.write(
                todo,
                wanted,
                known_text,
                len(fresh),
                encoder,
                self.rows,
                lambda batch, rows: self._store_rows(store, batch, rows),
                self._bm25_dir,
                progress,
            )
            stale = [rid for rid in existing if rid not in wanted]
            for b in range(0, len(stale), 5000):
                self._call(store.delete, ids=stale[b : b + 5000])
            # Side rows of dropped paragraphs, and any written just before a crash and no longer wanted.
            self.rows.delete([rid for rid in side if rid not in wanted])
            live = {p.paragraph_id for _, p in wanted.values()}
            report.removed = len({split_row_id(r)[0] for r in stale} - live)
            self._write_state(
                fingerprint=self.fingerprint,
                complete=True,
                articles=len(corpus),
                paragraphs=len(wanted),
                dim=encoder.dim,
                embedder=encoder.model_id,
                updated_at=_now(),
            )
        self._keywords.unload()  # reload the new snapshot on next query
        report.seconds = time.perf_counter() - started
        return report

    def _store_rows(self, store: Any, batch: list[str], rows: writing.Rows) -> None:
        self.rows.put(rows.side)  # first: a row Chroma has is always readable
        # `add`, not `upsert`: sync() only writes ids the store lacks, and add skips the lookup.
        self._call(store.add, ids=batch, embeddings=rows.embeddings, metadatas=rows.metadatas)

    # -- reading ------------------------------------------------------------------------

    def _snapshot_stamp(self) -> tuple[int, int] | None:
        return self._keywords.stamp()

    def _settled_state(self) -> tuple[dict[str, Any] | None, bool]:
        """The state and whether a writer holds the lock, never a finished writer's stale state.

        A writer marks the state complete before it lets go of the lock, so a state read as
        incomplete while the lock is already free is read again: the writer may have finished in
        between, and only a state still incomplete then is an interrupted ingest.
        """
        state = self._read_state()
        writing = self.writer_active()
        if not writing and state is not None and not state.get("complete"):
            state = self._read_state()
        return state, writing

    def open_for_reading(self) -> None:
        """Load the committed BM25 snapshot; raise a clear error if there is none usable.

        A snapshot committed since (by an ingest in another process) is picked up on the next call.
        """
        if self._keywords.loaded:
            stamp = self._snapshot_stamp()
            if stamp is None or stamp == self._snapshot:  # None: a writer is swapping it in right now
                return
            self._keywords.unload()
            self._collection = None  # a new client, that sees the rows of the new snapshot
        # A writer swaps a new snapshot in by renaming directories; one read while that happens
        # may mix files of both, so a snapshot is taken only if its stamp held while it was read.
        for attempt in range(_SNAPSHOT_TRIES):
            stamp = self._snapshot_stamp()
            state, writing = self._settled_state()
            if state is None or stamp is None:
                if writing and attempt + 1 < _SNAPSHOT_TRIES:  # mid-swap: the new one is a moment away
                    time.sleep(0.05)
                    continue
                if state is not None and not writing:
                    raise IndexIncompleteError(
                        f"ingestion of {self.index_dir} is incomplete; run `rag ingest` to finish it"
                    )
                raise IndexMissingError(
                    f"no index in {self.index_dir} for these settings; run `rag ingest` first"
                )
            if not state.get("complete") and not writing:
                raise IndexIncompleteError(
                    f"ingestion of {self.index_dir} was interrupted; run `rag ingest` to finish it"
                )
            try:
                self._load_snapshot()
            except (OSError, ValueError, KeyError) as e:
                self._keywords.unload()
                if self._snapshot_stamp() == stamp:  # not a swap: a damaged snapshot
                    raise IndexIncompleteError(
                        f"the search snapshot of {self.index_dir} is damaged ({e}); run `rag ingest` to rebuild it"
                    ) from e
                continue
            if self._snapshot_stamp() == stamp:
                break
        else:
            self._keywords.unload()
            raise IndexBusyError(
                f"the index in {self.index_dir} changed {_SNAPSHOT_TRIES} times while it was read; ask again"
            )
        self._snapshot = stamp
        self._dim = int(state.get("dim", 384))
        if not self.rows.path.exists() and not self.writer_active():
            self._keywords.unload()
            raise IndexIncompleteError(
                f"the paragraph file {self.rows.path.name} of {self.index_dir} is missing; "
                "run `rag ingest` to restore it"
            )
        store = self._store()
        if self.chroma_url:
            # The BM25 snapshot and state live here, the vectors on the server: a server that was
            # reset or swapped must not pass for an index that simply finds nothing.
            rows = int(self._call(store.count))
            if rows < len(self._committed):
                self._keywords.unload()
                raise IndexIncompleteError(
                    f"the Chroma server at {self.chroma_url} holds {rows} of this index's "
                    f"{len(self._committed)} paragraphs (was it reset?); run `rag ingest` to restore them"
                )

    def _load_snapshot(self) -> None:
        self._keywords.load()
        self._committed = set(self._keywords.ids)

    @property
    def vocabulary(self) -> dict[str, int]:
        """BM25 term -> id, for fuzzy expansion of query terms."""
        self.open_for_reading()
        return self._keywords.vocabulary

    def idf(self, term: str) -> float:
        """Inverse document frequency of a stemmed term; unknown terms get the rarest value."""
        self.open_for_reading()
        return self._keywords.idf(term)

    def bm25_search(
        self,
        terms: Sequence[str],
        k: int,
        article_ids: Sequence[str] | None = None,
        date_from: str = "",
        date_to: str = "",
    ) -> list[tuple[str, float]]:
        """Top-k (row id, BM25 score) for stemmed `terms`, within the filters."""
        self.open_for_reading()
        return self._keywords.search(terms, k, article_ids, date_from, date_to)

    def article_ids(self) -> list[str]:
        """Ids of the articles in the committed index, sorted."""
        self.open_for_reading()
        return list(self._keywords.articles)

    def dense_search(
        self,
        vector: np.ndarray,
        k: int,
        article_ids: Sequence[str] | None = None,
        date_from: str = "",
        date_to: str = "",
    ) -> list[tuple[str, float]]:
        """Top-k (row id, cosine similarity) from Chroma, within the filters, committed rows only."""
        self.open_for_reading()
        clauses: list[dict[str, Any]] = []
        if article_ids:
            clauses.append({"article_id": {"$in": list(article_ids)}})
        if date_from:
            clauses.append({"date": {"$gte": date_int(date_from)}})
        if date_to:
            clauses.append({"date": {"$lte": date_int(date_to)}})
            clauses.append({"date": {"$gt": 0}})
        where = None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
        store = self._store()
        n = min(k, len(self._committed))
        if n == 0:
            return []
        query: dict[str, Any] = {
            "query_embeddings": [vector.tolist()],
            "n_results": n,
            "where": where,
            "include": ["distances"],
        }
        for attempt in range(_STALE_TRIES):
            try:
                result = self._call(store.query, **query)
                break
            except Exception as e:
                if self.chroma_url or type(e).__name__ != "InternalError" or attempt == _STALE_TRIES - 1:
                    raise
                # A filter matched rows another process (a running ingest) is writing that our
                # client's vector index does not hold yet; a fresh handle catches up, unless the
                # writer has added more meanwhile.
                self._collection = None
                store = self._store()
                time.sleep(0.02 * (attempt + 1))
        hits = zip(result["ids"][0], result["distances"][0], strict=True)
        return [(rid, 1.0 - float(d)) for rid, d in hits if rid in self._committed]

    def fetch(self, row_ids: Sequence[str]) -> dict[str, Record]:
        """The stored paragraphs for `row_ids` (missing ones are left out)."""
        self.open_for_reading()
        out = {rid: self._records[rid] for rid in row_ids if rid in self._records}
        missing = [rid for rid in row_ids if rid not in out]
        if not missing:
            return out
        for rid, (meta_json, text, vec, svec) in self.rows.get(missing).items():
            meta = json.loads(meta_json)
            spans = tuple((int(s), int(e)) for s, e in meta["spans"])
            out[rid] = Record(
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
                sentence_vectors=np.frombuffer(svec, dtype=np.float16)
                .reshape(-1, self._dim)
                .astype(np.float32),
                vector=np.frombuffer(vec, dtype=np.float32),
                terms=frozenset(content_terms(text)),
            )
            # Row ids are content hashes, so a cached record can never be stale.
            if len(self._records) >= RECORD_CACHE:
                self._records.pop(next(iter(self._records)))
            self._records[rid] = out[rid]
        return out

    def article_rows(self, article_id: str) -> list[Record]:
        """Every committed paragraph of one article, in order (for opening the whole article)."""
        self.open_for_reading()
        got = self._call(self._store().get, where={"article_id": article_id}, include=[])
        rows = self.fetch([r for r in got["ids"] if r in self._committed])
        return sorted(rows.values(), key=lambda r: r.n)

    def count(self) -> int:
        """Rows in the Chroma collection (committed or not)."""
        return int(self._call(self._store().count))

    def bm25_count(self) -> int:
        """Documents in the committed BM25 snapshot."""
        self.open_for_reading()
        return len(self._keywords.ids)


_FILE_OF_INDEX = re.compile(r"(?:state-|bm25-|rows-)([0-9a-f]{10})(?:\.json|\.sqlite(?:-wal|-shm)?)?")


def _disk_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _looks_like_uuid(name: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", name))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
