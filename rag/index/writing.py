"""How an ingest writes what it planned: in steps encoded ahead of the writes, the BM25 snapshot beside."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedding import Encoder, movable_spec
from rag.index.encoding_process import EncodingProcess
from rag.index.keywords import KeywordSnapshot, committed_vectors, date_int
from rag.index.plan import Wanted, split_row_id
from rag.index.rowstore import RowStore
from rag.sentences import split_sentences
from rag.terms import content_terms

# Paragraphs per step: more is fewer fixed-cost calls, more memory and more lost to a crash (PERFORMANCE.md).
WRITE_BATCH = 1024
_VECTOR_CHUNK = 8192  # rows of the snapshot's vector matrix copied or read at a time

Encoded = tuple[np.ndarray, list[np.ndarray]]  # a step's paragraph vectors and sentence vectors


@dataclass
class Rows:
    """One step's rows as they are written: side rows, then Chroma's vectors and filter fields."""

    side: list[tuple[str, str, str, bytes, bytes]] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    metadatas: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One write step: its row ids, and the texts it embeds (hash -> text) with their sentence spans."""

    batch: list[str]
    new: dict[str, str]
    spans: list[list[tuple[int, int]]]


def write(
    todo: list[str],
    wanted: Wanted,
    known_text: dict[str, str],
    texts: int,
    encoder: Encoder,
    side: RowStore,
    store_rows: Callable[[list[str], Rows], None],
    bm25_dir: Path,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the rows `todo` (ids in `wanted`) and put the snapshot of all of `wanted` (BM25,
    filter fields, vectors) in place; returns how many texts were embedded.

    A step's rows are written (side rows, then Chroma, whose HNSW inserts are most of the cost) on a
    writer thread while the next step is encoded, in a process of its own when there is much to
    embed (rag.index.encoding_process); one write is in flight at a time, so a failed write surfaces
    at the next step, in order. The BM25 snapshot needs the texts only: it is built on a thread of
    its own during the encoding; once every row is written, the snapshot's vector matrix is added to
    it and it is put in place. The caller decides what to write and owns the stores: this never
    touches Chroma itself (`store_rows` does).

    Args:
        todo: Row ids to write, in the order to write them (longest text first).
        wanted: Every row the index is to hold, by id: the BM25 snapshot covers them all.
        known_text: Text hash -> a stored row with that text, whose vectors are reused (read
            back from `side`); extended with each step's rows.
        texts: How many distinct texts `todo` embeds: with more than two steps' worth, the
            encoder moves to a process of its own.
        encoder: The paragraph encoder.
        side: The side row store, read for reused vectors and the snapshot's vector matrix.
        store_rows: Writes one step's rows (side rows first, then Chroma); runs on the writer thread.
        bm25_dir: Where the BM25 snapshot is put in place.
        progress: Called with (rows written, rows to write).
    """
    planned = _plan_steps(todo, wanted, set(known_text))
    embedded = written = 0
    with (
        _bm25_ahead(bm25_dir, wanted) as snapshot,
        _encode_ahead(encoder, planned, texts) as (steps, encoded),
        ThreadPoolExecutor(1, thread_name_prefix="rag-writer") as writer,
    ):
        pending: Future[None] | None = None

        def settle() -> None:
            if pending is not None:
                pending.result()  # a failed write surfaces here, in order

        for i, step in enumerate(steps):
            rows = build_rows(step, wanted, known_text, encoded(i), side, settle)
            embedded += len(step.new)
            settle()
            if progress and i:
                progress(written, len(todo))  # what is written, not what is encoded
            pending = writer.submit(store_rows, step.batch, rows)
            written += len(step.batch)
        settle()
        if progress and todo:
            progress(len(todo), len(todo))
        built = snapshot.result()
        write_vectors(built, snapshot_order(wanted), set(todo), side, bm25_dir, encoder.dim)
        KeywordSnapshot.install(built, bm25_dir)
    return embedded


def write_vectors(
    built: Path, ids: list[str], written: set[str], side: RowStore, bm25_dir: Path, dim: int
) -> None:
    """Add the vector matrix of `ids` (the snapshot's id order) to the snapshot build `built`.

    A row the committed snapshot at `bm25_dir` already holds, and that this ingest did not write
    again (`written`), keeps its vector from there: a row id names its text and the fingerprint its
    model, so the vector is the same, and a re-ingest that changes nothing reads no row back. The
    others are read from the paragraph file, which holds every row by now.
    """
    matrix = KeywordSnapshot.open_vectors(built, len(ids), dim)
    at = {rid: i for i, rid in enumerate(ids)}
    todo = set(at)
    old = committed_vectors(bm25_dir)
    if old is not None and old[1].shape[1] == dim:
        old_ids, old_vectors = old
        pairs = [(at[rid], j) for j, rid in enumerate(old_ids) if rid in at and rid not in written]
        for b in range(0, len(pairs), _VECTOR_CHUNK):
            dst, src = np.asarray(pairs[b : b + _VECTOR_CHUNK]).T
            matrix[dst] = old_vectors[src]
        todo -= {ids[i] for i, _ in pairs}
    wanted = sorted(todo, key=at.__getitem__)
    for b in range(0, len(wanted), _VECTOR_CHUNK):
        chunk = wanted[b : b + _VECTOR_CHUNK]
        found = side.vectors(chunk)
        if len(found) < len(chunk):
            lost = next(r for r in chunk if r not in found)
            raise RuntimeError(f"the paragraph file lacks row {lost} of the new snapshot")
        rows = [at[r] for r in chunk]
        matrix[rows] = np.frombuffer(b"".join(found[r] for r in chunk), dtype=np.float32).reshape(-1, dim)
    matrix.flush()
    del matrix


def _plan_steps(todo: list[str], wanted: Wanted, known: set[str]) -> Iterator[Step]:
    """Cut `todo` into write steps, each embedding only the texts no earlier step and no stored
    row has (`known`: their hashes); known ahead, so the encoder can run ahead of the writes."""
    seen = set(known)
    for b in range(0, len(todo), WRITE_BATCH):
        batch = todo[b : b + WRITE_BATCH]
        new: dict[str, str] = {}
        for rid in batch:
            h = split_row_id(rid)[1]
            if h not in seen:
                new[h] = wanted[rid][1].text
                seen.add(h)
        yield Step(batch, new, [split_sentences(t) for t in new.values()])


@contextmanager
def _encode_ahead(
    encoder: Encoder, planned: Iterator[Step], texts: int
) -> Iterator[tuple[list[Step], Callable[[int], Encoded]]]:
    """The steps `planned`, and `encoded(i)`: step i's vectors. A local ONNX encoder with more than
    two steps' worth of `texts` to embed runs in a process of its own, ahead of the writes (see
    rag.index.encoding_process), started first and given each step as it is planned; otherwise in line.
    An encoder with `encode_ahead` (rag.cluster's: a Ray actor pool) is given every step the same way."""
    ahead = getattr(encoder, "encode_ahead", None)
    spec = movable_spec(encoder)
    if ahead is None and (spec is None or texts <= 2 * WRITE_BATCH):
        steps = list(planned)
        empty: Encoded = (np.zeros((0, encoder.dim), dtype=np.float32), [])

        def in_line(i: int) -> Encoded:
            new = steps[i].new
            return encoder.encode_paragraphs(list(new.values()), steps[i].spans) if new else empty

        yield steps, in_line
        return
    with ahead() if ahead is not None else EncodingProcess(spec or {}) as process:
        steps = []
        for step in planned:
            process.add(list(step.new.values()), step.spans)
            steps.append(step)
        yield steps, process.result


def build_rows(
    step: Step,
    wanted: Wanted,
    known_text: dict[str, str],
    encoded: Encoded,
    side: RowStore,
    settle: Callable[[], None],
) -> Rows:
    """The rows of `step`: its new texts' vectors are `encoded`; texts embedded before are read
    back from `side`. `settle` waits for the write in flight, before reading rows it may hold."""
    batch = step.batch
    # text hash -> (paragraph vector, sentence spans, float16 sentence vectors)
    vectors: dict[str, tuple[np.ndarray, list[Any], bytes]] = {}
    for h, v, sp, sv in zip(step.new, encoded[0], step.spans, encoded[1], strict=True):
        vectors[h] = (np.asarray(v, dtype=np.float32), sp, sv.astype(np.float16).tobytes())
    hashes = [split_row_id(r)[1] for r in batch]
    reuse = {known_text[h] for h in hashes if h in known_text and h not in vectors}
    if reuse:
        settle()
        for rid, (meta, _, vec, svec) in side.get(sorted(reuse)).items():
            vector = np.frombuffer(vec, dtype=np.float32)
            vectors[split_row_id(rid)[1]] = (vector, json.loads(meta)["spans"], svec)
    rows = Rows()
    for rid, h in zip(batch, hashes, strict=True):
        article, p = wanted[rid]
        vector, spans, packed = vectors[h]
        row_meta = {
            "paragraph_id": p.paragraph_id,
            "article_id": p.article_id,
            "n": p.n,
            "title": article.title,
            "source": article.source,
            "url": article.url,
            "publish_date": article.publish_date,
            "char_start": p.char_start,
            "char_end": p.char_end,
            "spans": [list(x) for x in spans],
        }
        rows.side.append((rid, json.dumps(row_meta), p.text, vector.tobytes(), packed))
        rows.embeddings.append(vector)
        rows.metadatas.append({"article_id": p.article_id, "date": date_int(article.publish_date)})
    for rid, h in zip(batch, hashes, strict=True):  # later steps reuse what this one embedded
        known_text.setdefault(h, rid)
    return rows


@contextmanager
def _bm25_ahead(bm25_dir: Path, wanted: Wanted) -> Iterator[Future[Path]]:
    """The BM25 snapshot of `wanted`, built in a thread of its own while the caller works; a
    build the caller did not put in place (it failed, or was interrupted) is stopped and removed."""
    stop = threading.Event()
    pool = ThreadPoolExecutor(1, thread_name_prefix="rag-bm25")
    try:
        yield pool.submit(_build_bm25, bm25_dir, wanted, stop)
    finally:
        stop.set()  # an ingest stopped early waits for the indexing at most, not the term splitting
        pool.shutdown(wait=True)
        KeywordSnapshot.discard_builds(bm25_dir)


def snapshot_order(wanted: Wanted) -> list[str]:
    """The snapshot's rows in order: by date (undated first), then article, then as `wanted` has
    them (each article's paragraphs in order). A date range, an as-of date and an article then
    each keep one run of consecutive rows, whose vectors a filtered search reads without
    gathering them."""
    return sorted(wanted, key=lambda r: (date_int(wanted[r][0].publish_date), wanted[r][1].article_id))


def _build_bm25(bm25_dir: Path, wanted: Wanted, stop: threading.Event) -> Path:
    """Build the BM25 snapshot of `wanted` (it needs the texts only, not their vectors), its rows
    in `snapshot_order`; raises CancelledError, having written nothing, if `stop` is set while
    the texts are split into terms (most of the build's time)."""
    ids = snapshot_order(wanted)
    terms: list[list[str]] = []
    for b in range(0, len(ids), 2048):
        if stop.is_set():
            raise CancelledError("the ingest stopped before the BM25 snapshot was built")
        terms += [content_terms(wanted[r][1].text) or ["\u2205"] for r in ids[b : b + 2048]]
    articles = {a.article_id: a for a, _ in wanted.values()}
    return KeywordSnapshot.build(
        bm25_dir,
        ids,
        terms,
        [wanted[r][1].article_id for r in ids],
        [wanted[r][0].publish_date for r in ids],
        {aid: (a.title, a.publish_date, a.url, a.source) for aid, a in articles.items()},
    )
