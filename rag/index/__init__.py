"""The paragraph index: `ParagraphIndex` over Chroma, the paragraph file and the BM25 snapshot."""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

from rag.embedding import DIMENSION, Encoder
from rag.errors import IndexIncompleteError
from rag.index import snapshot
from rag.index.keywords import VECTORS, KeywordSnapshot, date_iso
from rag.index.plan import plan_sync
from rag.index.prune import delete_other_indexes, other_fingerprints
from rag.index.readers import Readers
from rag.index.records import RecordCache
from rag.index.rowstore import RowStore
from rag.index.state import now, read_state, write_state, writer_active, writer_lock
from rag.index.store import COLLECTION_PREFIX, ChromaStore
from rag.schema import Article, ArticleInfo, IndexStatus, Paragraph, Record, SyncReport

if TYPE_CHECKING:
    from rag.index.writing import Rows

_M = TypeVar("_M", bound=Callable[..., Any])

__all__ = ["ParagraphIndex"]

# How a filtered dense search is answered: the cheaper, by the costs measured on the whole corpus
# (eval/PERFORMANCE.md, "Filtered dense search"), of reading the kept rows' vectors (exact) and
# filtering HNSW's unfiltered candidates. Costs are in rows read in one run: HNSW costs HNSW_ROWS,
# plus ROWS_PER_CANDIDATE per candidate asked; a row gathered from many runs costs GATHER_COST.
HNSW_ROWS = 15_000
STATUS_TTL = 1.0  # seconds the status line may be reused while the state file stays as it was
ROWS_PER_CANDIDATE = 130
GATHER_COST = 4
HNSW_MARGIN = 3.0  # candidates asked of HNSW: k / (the share of rows the filter keeps) x this


def _reading(method: _M) -> _M:
    """Run an index read beside other reads (the chat page's threads share one index); a snapshot
    committed since, by an ingest in any process, is swapped in first, while no read runs."""

    @functools.wraps(method)
    def shared(self: ParagraphIndex, *args: Any, **kwargs: Any) -> Any:
        with self.reading():
            return method(self, *args, **kwargs)

    return cast(_M, shared)


class ParagraphIndex:
    """The paragraphs of one corpus fingerprint: Chroma for vectors, SQLite for what a paragraph
    says, a bm25s snapshot for words.

    Chroma holds each row's vector and the fields filters need (article, date): no text, so it builds
    no full-text index, and its writes stay small. A row's text, display fields, sentence spans and
    sentence vectors live in `rows-<fingerprint>.sqlite` beside it (also with a Chroma server), written
    before the Chroma row, so a row Chroma has is always readable. Rows are keyed
    `<paragraph_id>:<content hash>`, so an unchanged paragraph is never embedded twice and a changed
    one is a new row. The BM25 snapshot (its id list) is the committed set: readers only see rows in
    it, so a running or crashed ingest never shows a half-written corpus. The snapshot also holds
    each row's article, date and vector: a filtered dense search reads the vectors of the rows
    within the filter (exact), or filters HNSW's candidates when the filter keeps most rows.

    `sync` decides what an ingest writes (rag.index.plan); rag.index.writing runs the pipeline
    that writes it.
    """

    def __init__(self, index_dir: Path, fingerprint: str, chroma_url: str | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.fingerprint = fingerprint
        self.chroma_url = chroma_url
        self.collection_name = f"{COLLECTION_PREFIX}{fingerprint}"
        self._state_path = self.index_dir / f"state-{fingerprint}.json"
        self._bm25_dir = self.index_dir / f"bm25-{fingerprint}"
        self._lock_path = self.index_dir / "ingest.lock"
        self._readers = Readers()
        self._status: tuple[tuple[int, ...] | None, float, IndexStatus | None] | None = None
        self.rows = RowStore(self.index_dir / f"rows-{fingerprint}.sqlite")
        self._chroma = ChromaStore(self.index_dir, self.collection_name, chroma_url)
        self._keywords = KeywordSnapshot(self._bm25_dir)
        self._committed: dict[str, int] = {}  # committed row id -> its row in the snapshot
        self._by_paragraph: tuple[dict[str, int], dict[str, str]] | None = None  # of which _committed
        self._snapshot: snapshot.Stamp | None = None  # the stamp of the loaded snapshot
        self._dim = 0
        self._records = RecordCache(self.rows)

    # -- stores, state, lock --------------------------------------------------------------

    def _client(self) -> Any:
        return self._chroma.client()

    def _store(self) -> Any:
        return self._chroma.collection()

    def _read_state(self) -> dict[str, Any] | None:
        return read_state(self._state_path)

    def _write_state(self, **state: Any) -> None:
        write_state(self._state_path, **state)

    def _writer_lock(self) -> AbstractContextManager[None]:
        return writer_lock(self._lock_path)

    def writer_active(self) -> bool:
        """True while another process holds the ingest lock."""
        return writer_active(self._lock_path)

    def record_corpus(self, signature: str, roots: list[str]) -> None:
        """Remember which corpus files the committed index reflects."""
        state = self._read_state() or {}
        self._write_state(**{**state, "corpus_signature": signature, "corpus": roots})

    def corpus_record(self) -> str:
        """The corpus signature recorded by the last complete ingest ("" if none)."""
        return str((self._read_state() or {}).get("corpus_signature", ""))

    def status(self) -> IndexStatus | None:
        """The committed state, or None when this index was never built.

        The page shows it with every answer: it is read again when the state file changes (every
        ingest writes it as it starts and ends), and at least every STATUS_TTL seconds."""
        try:
            st = self._state_path.stat()
            key: tuple[int, ...] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        cached = self._status
        if cached is not None and cached[0] == key and time.monotonic() - cached[1] < STATUS_TTL:
            return cached[2]
        state = self._read_state()
        status = None if state is None else IndexStatus.of(state, self.writer_active())
        self._status = (key, time.monotonic(), status)
        return status

    # -- indexes built under other settings -------------------------------------------------

    def other_fingerprints(self) -> list[str]:
        """Indexes in this directory built under other settings (format version, model, paragraph
        length): a settings change makes a new one beside the old, which stays until pruned."""
        return other_fingerprints(self.index_dir, self.fingerprint, self._chroma)

    def prune(self) -> tuple[list[str], int]:
        """Delete the indexes of other settings (their Chroma collections and files); returns their
        fingerprints and the bytes freed in the index directory."""
        with self._writer_lock():
            return delete_other_indexes(self.index_dir, self.fingerprint, self._chroma)

    # -- writing ----------------------------------------------------------------------------

    def sync(
        self,
        corpus: Sequence[tuple[Article, Sequence[Paragraph]]],
        encoder: Encoder,
        progress: Callable[[int, int], None] | None = None,
    ) -> SyncReport:
        """Make the store hold exactly `corpus`: embed new texts, reuse known ones, drop the rest."""
        # Imported here: `python -m rag.index.encoding_process` must not find itself imported by this package.
        from rag.index import writing

        started = time.perf_counter()
        with self._writer_lock():
            existing, side = self._stored_rows()
            previous = self._read_state() or {}
            self._write_state(**{**previous, "complete": False, "started_at": now()})
            plan = plan_sync(corpus, existing, side)
            if progress:
                progress(0, len(plan.todo))
            leftovers = [rid for rid in side if rid not in plan.wanted]
            if not (plan.todo or plan.stale or leftovers) and self._snapshot_holds(plan.wanted):
                # Nothing to write: the committed snapshot already is this corpus (a restart).
                self._write_state(**{**previous, "complete": True, "updated_at": now()})
                plan.report.seconds = time.perf_counter() - started
                return plan.report
            plan.report.embedded = writing.write(
                plan.todo,
                plan.wanted,
                plan.known_text,
                plan.fresh,
                encoder,
                self.rows,
                self._store_rows,
                self._bm25_dir,
                progress,
            )
            self._chroma.delete(plan.stale)
            # Side rows of dropped paragraphs, and any written just before a crash and no longer wanted.
            self.rows.delete(leftovers)
            self._write_state(
                fingerprint=self.fingerprint,
                complete=True,
                articles=len(corpus),
                paragraphs=len(plan.wanted),
                dim=encoder.dim,
                embedder=encoder.model_id,
                updated_at=now(),
            )
        with self._readers.swapping():
            self._keywords.unload()  # reload the new snapshot on next query
        plan.report.seconds = time.perf_counter() - started
        return plan.report

    def _snapshot_holds(self, wanted: Collection[str]) -> bool:
        """The committed snapshot holds exactly these rows, with its vector matrix."""
        try:
            ids = json.loads((self._bm25_dir / "ids.json").read_text())["ids"]
        except (OSError, ValueError, KeyError):
            return False
        return (self._bm25_dir / VECTORS).exists() and len(ids) == len(wanted) and set(ids) == set(wanted)

    def _stored_rows(self) -> tuple[set[str], set[str]]:
        """The rows both Chroma and the paragraph file hold, and the paragraph file's row ids."""
        # Asked before the index is marked incomplete: an unreachable server must not spoil a good index.
        in_chroma = self._chroma.ids()
        side = self.rows.ids()
        # A Chroma row whose text is gone (its side file was deleted) is written again.
        self._chroma.delete(sorted(in_chroma - side))
        return in_chroma & side, side

    def _store_rows(self, batch: list[str], rows: Rows) -> None:
        self.rows.put(rows.side)  # first: a row Chroma has is always readable
        self._chroma.add(batch, rows.embeddings, rows.metadatas)

    # -- reading ----------------------------------------------------------------------------

    def _snapshot_stamp(self) -> snapshot.Stamp | None:
        return self._keywords.stamp()

    def open_for_reading(self) -> None:
        """Load the committed BM25 snapshot; raise a clear error if there is none usable.

        A snapshot committed since (by an ingest in another process) is picked up on the next call.
        """
        if not self._readers.inside():
            self._refresh()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold one snapshot for a block of reads (a question's searches and lookups): it is
        checked once, and no swap happens until the block ends. A read within a read holds the
        outer one's."""
        if self._readers.inside():
            yield
            return
        self._refresh()
        with self._readers.reading():
            yield

    def _fresh(self) -> bool:
        """The loaded snapshot is the committed one (or a writer is swapping it in right now)."""
        if not self._keywords.loaded:
            return False
        stamp = self._snapshot_stamp()
        return stamp is None or stamp == self._snapshot

    def _refresh(self) -> None:
        """Swap in the committed snapshot if it is not the one loaded, while no read runs."""
        if self._fresh():
            return
        with self._readers.swapping():
            self._swap()

    def _swap(self) -> None:
        if self._fresh():  # another thread swapped it in while this one waited
            return
        if self._keywords.loaded:
            self._keywords.unload()
            self._chroma.reopen()  # a new client, that sees the rows of the new snapshot
        self._snapshot, state = snapshot.take(
            self._keywords, self._load_snapshot, self._read_state, self.writer_active, self.index_dir
        )
        self._dim = int(state.get("dim", DIMENSION))
        self._check_rows_file()
        self._check_vectors()

    def _load_snapshot(self) -> None:
        self._keywords.load()
        self._committed = {rid: i for i, rid in enumerate(self._keywords.ids)}

    def _check_rows_file(self) -> None:
        """The paragraph file must be there, unless a writer is about to restore it."""
        if not self.rows.path.exists() and not self.writer_active():
            self._keywords.unload()
            raise IndexIncompleteError(
                f"the paragraph file {self.rows.path.name} of {self.index_dir} is missing; "
                "run `rag ingest` to restore it"
            )

    def _check_vectors(self) -> None:
        """Open the vector store; a server must still hold every committed row."""
        self._store()
        if self.chroma_url:
            # The snapshot is here, the vectors there: a reset server must not pass for one finding nothing.
            rows = self._chroma.count()
            if rows < len(self._committed):
                self._keywords.unload()
                if self._snapshot_stamp() != self._snapshot:
                    # Not a reset: an ingest committed a smaller corpus and deleted its stale rows
                    # while this snapshot was read; read the new one.
                    self._swap()
                    return
                raise IndexIncompleteError(
                    f"the Chroma server at {self.chroma_url} holds {rows} of this index's "
                    f"{len(self._committed)} paragraphs (was it reset?); run `rag ingest` to restore them"
                )

    @property
    @_reading
    def vocabulary(self) -> dict[str, int]:
        """BM25 term -> id, for fuzzy expansion of query terms."""
        return self._keywords.vocabulary

    @_reading
    def idf(self, term: str) -> float:
        """Inverse document frequency of a stemmed term; unknown terms get the rarest value."""
        return self._keywords.idf(term)

    @_reading
    def articles_with(self, terms: Sequence[str], article_ids: Sequence[str]) -> set[str]:
        """Those of `article_ids` with a committed paragraph holding one of the stemmed `terms`."""
        return self._keywords.articles_with(terms, article_ids)

    @_reading
    def bm25_search(
        self,
        terms: Sequence[str],
        k: int,
        article_ids: Sequence[str] | None = None,
        date_from: str = "",
        date_to: str = "",
        as_of: str = "",
    ) -> list[tuple[str, float]]:
        """Top-k (row id, BM25 score) for stemmed `terms`, within the filters (see `dense_search`)."""
        return self._keywords.search(terms, k, article_ids, date_from, date_to, as_of)

    @_reading
    def title_search(
        self,
        terms: Sequence[str],
        k: int,
        article_ids: Sequence[str] | None = None,
        date_from: str = "",
        date_to: str = "",
        as_of: str = "",
    ) -> list[str]:
        """The k articles whose titles best hold the stemmed `terms`, within the filters."""
        return self._keywords.title_search(terms, k, article_ids, date_from, date_to, as_of)

    @_reading
    def newest_date(self) -> str:
        """The newest publish date in the committed snapshot (ISO; "" if no row is dated)."""
        return date_iso(self._keywords.newest)

    @_reading
    def article(self, article_id: str) -> ArticleInfo | None:
        """One article of the committed index, with its paragraph count; None if it holds no such id
        (a question's filter asks this, not the whole list: listing 2,443 articles took 3.4 ms)."""
        entry = self._keywords.article_entry(article_id)
        if entry is None:
            return None
        (title, date, url, source), count = entry
        return ArticleInfo(article_id, title or article_id, date, url, source, count)

    @_reading
    def undated_articles(self) -> int:
        """How many articles of the committed index have no publish date."""
        return self._keywords.undated

    @_reading
    def articles(self) -> list[ArticleInfo]:
        """Every article of the committed index, in id order, with its paragraph count."""
        kw = self._keywords
        counts = kw.paragraphs_per_article()
        return [
            ArticleInfo(aid, title or aid, date, url, source, counts[i])
            for i, (aid, (title, date, url, source)) in enumerate(
                zip(kw.articles, kw.article_info, strict=True)
            )
        ]

    @_reading
    def article_ids(self) -> list[str]:
        """Ids of the articles in the committed index, sorted."""
        return list(self._keywords.articles)

    @_reading
    def dense_search(
        self,
        vector: np.ndarray,
        k: int,
        article_ids: Sequence[str] | None = None,
        date_from: str = "",
        date_to: str = "",
        as_of: str = "",
    ) -> list[tuple[str, float]]:
        """Top-k (row id, cosine similarity) of the committed rows within the filters, best first.

        Filters: these articles; dated rows from `date_from` to `date_to` (ISO, inclusive); rows
        published on or before `as_of`, and undated rows (an article without a date is never
        hidden by it). Unfiltered, Chroma's HNSW answers. Filtered, the cheaper of two: the
        exact search over the snapshot's vectors of the rows kept, or HNSW's unfiltered
        candidates filtered (a filter keeping most rows), falling back to the exact search if
        too few pass. A snapshot made before it held vectors is searched with Chroma's filter.
        """
        kw = self._keywords
        n = min(k, len(self._committed))
        if n == 0:
            return []
        kept = kw.select(article_ids, date_from, date_to, as_of)
        if kept is None and kw.vectors is not None and len(kw.ids) <= HNSW_ROWS and not self.chroma_url:
            kept = kw.everything()  # reading every row costs less than HNSW's fixed cost (a server's
            # own search stays the one asked: the page must not answer on while the server is down)
        if kept is None:
            return self._hnsw(vector, n)
        if kw.vectors is None:  # an older snapshot: Chroma's filter, as before the vectors
            hits = self._chroma.query(vector, n, article_ids, date_from, date_to, as_of)
            return [(rid, similarity) for rid, similarity in hits if rid in self._committed]
        rows, total = len(kept.rows), len(kept.mask)
        n = min(n, rows)
        if n == 0:
            return []
        share = rows / total
        ask = min(total, math.ceil(n * HNSW_MARGIN / share))
        exact = rows * (GATHER_COST if kept.gathered else 1)
        # Too few of HNSW's candidates pass about as often as the filter drops rows (a question's
        # neighbours share its time, which a date filter keeps or drops together), and the exact
        # search follows: on the whole corpus, a filter keeping up to 57 % of the rows is exact.
        if exact > HNSW_ROWS + ROWS_PER_CANDIDATE * ask + (1 - share) * exact:
            hits = [
                (rid, similarity)
                for rid, similarity in self._chroma.query(vector, ask, None, "", "")
                if (i := self._committed.get(rid)) is not None and kept.mask[i]
            ]
            if len(hits) >= n:
                return hits[:n]
        return kw.nearest(vector, n, kept)

    def _hnsw(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Chroma's nearest `n` rows, committed ones only: while an ingest (in any process) writes
        rows its snapshot does not hold yet, more are asked for until `n` are committed."""
        ask = n
        while True:
            found = self._chroma.query(vector, ask, None, "", "")
            hits = [(rid, similarity) for rid, similarity in found if rid in self._committed]
            if len(hits) >= n or len(found) < ask:
                return hits[:n]
            ask *= 4

    @_reading
    def fetch(self, row_ids: Sequence[str]) -> dict[str, Record]:
        """The stored paragraphs for `row_ids` (missing ones are left out)."""
        return self._records.fetch(row_ids, self._dim)

    @_reading
    def following(self, paragraph_ids: Sequence[str]) -> dict[str, Record]:
        """The paragraph after each of `paragraph_ids` in its article, by the id it follows; one the
        index does not hold (the article's last, a boilerplate line left out) is left out."""
        cached = self._by_paragraph
        if cached is None or cached[0] is not self._committed:  # built once per snapshot
            cached = self._by_paragraph = (self._committed, {r.rsplit(":", 1)[0]: r for r in self._committed})
        wanted: dict[str, str] = {}
        for pid in paragraph_ids:
            article, _, n = pid.rpartition("#p")
            rid = cached[1].get(f"{article}#p{int(n) + 1}") if n.isdigit() else None
            if rid is not None:
                wanted[rid] = pid
        return {wanted[rid]: rec for rid, rec in self.fetch(list(wanted)).items()}

    @_reading
    def article_rows(self, article_id: str) -> list[Record]:
        """Every committed paragraph of one article, in order (for opening the whole article)."""
        rows = self.fetch([r for r in self._chroma.ids_of_article(article_id) if r in self._committed])
        return sorted(rows.values(), key=lambda r: r.n)

    def count(self) -> int:
        """Rows in the Chroma collection (committed or not)."""
        return self._chroma.count()

    @_reading
    def bm25_count(self) -> int:
        """Documents in the committed BM25 snapshot."""
        return len(self._keywords.ids)
