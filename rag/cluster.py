"""Ingest on a Ray cluster: Ray Data reads and splits the corpus, a pool of Ray actors embeds what the index plans.

Only `rag ingest --ray` (`Engine.ingest(ray=True)`) imports this module, and it is the only user of
`ray` (the `cluster` extra). The index commits what the cluster computes exactly as it commits a
local ingest: the cluster replaces the two steps that scale with the corpus, reading and splitting
files (`RayCluster.read`) and the encoder of rag.index.writing (`RayEncoder`, whose write steps
are embedded by the actor pool); planning, the row ids, the paragraph file, the Chroma writes and
the BM25 snapshot stay one code path.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np

try:
    import pyarrow as pa
    import ray
except ImportError:  # pragma: no cover - the message is the test
    from rag.errors import ConfigError

    raise ConfigError(
        "`rag ingest --ray` needs the cluster extra; install it with `pip install 'rag-news[cluster]'`"
    ) from None

from rag.corpus import CorpusLoad, SkippedFile, _normalise, iter_files, load_articles, split_paragraphs
from rag.embedding import Encoder, OnnxEncoder, Spans, movable_spec, usable_cores
from rag.errors import ConfigError, CorpusError, EmbeddingError, RagError, StoreUnavailableError
from rag.schema import Article, Paragraph

Corpus = list[tuple[Article, list[Paragraph]]]

# CPUs Ray reserves per embedding actor and per read task. An actor's share stays below one core so
# that reads always find room: two actors at num_cpus=1 on a 2-CPU cluster left none for Ray Data's
# read task, which waited forever. An actor runs ceil(share) onnxruntime threads (one here).
ACTOR_CPUS = 0.75
READ_CPUS = 0.25
AHEAD_PER_ACTOR = 2  # write steps queued on each actor beyond the one the committer waits for

_ARTICLE = pa.struct(
    [
        ("article_id", pa.string()),
        ("title", pa.string()),
        ("text", pa.large_string()),
        ("source", pa.string()),
        ("url", pa.string()),
        ("authors", pa.list_(pa.string())),
        # Text, never inferred: Arrow would make "2024-01-05" a datetime64, which Chroma's metadata rejects.
        ("publish_date", pa.string()),
        (
            "paragraphs",
            pa.list_(
                pa.struct(
                    [
                        ("n", pa.int32()),
                        ("text", pa.large_string()),
                        ("char_start", pa.int64()),
                        ("char_end", pa.int64()),
                    ]
                )
            ),
        ),
    ]
)
_SKIPPED = pa.struct([("path", pa.string()), ("reason", pa.string()), ("line", pa.int64())])
FILE_SCHEMA = pa.schema(
    [("file", pa.int64()), ("articles", pa.large_list(_ARTICLE)), ("skipped", pa.list_(_SKIPPED))]
)


def pool_shape(cluster_cpus: float) -> tuple[int, float]:
    """(actors, CPUs each) for a cluster of `cluster_cpus`: one actor per whole CPU, each reserving
    `ACTOR_CPUS`, which leaves at least `READ_CPUS` for Ray Data's reads."""
    return max(1, int(cluster_cpus)), ACTOR_CPUS


# -- reading, on the cluster --------------------------------------------------------------------


def read_files(batch: pa.Table, cwd: str, min_words: int) -> pa.Table:
    """Ray Data task: read the files of `batch` (columns file, path) with our own reader and
    splitter, one row per file. Paths are read from `cwd`, the driver's working directory, so a
    relative path names the same file and gives the same `source` (part of every row id)."""
    rows = []
    here = os.getcwd()
    try:
        os.chdir(cwd)
        for file, path in zip(
            batch.column("file").to_pylist(), batch.column("path").to_pylist(), strict=True
        ):
            try:
                loaded = load_articles([Path(path)])
            except CorpusError as e:
                raise CorpusError(f"{e} (on Ray node {ray.util.get_node_ip_address()})") from None
            rows.append(
                {
                    "file": file,
                    "articles": [
                        {
                            **a.to_dict(),
                            "paragraphs": [
                                {"n": p.n, "text": p.text, "char_start": p.char_start, "char_end": p.char_end}
                                for p in split_paragraphs(a, min_words)
                            ],
                        }
                        for a in loaded.articles
                    ],
                    "skipped": [{"path": s.path, "reason": s.reason, "line": s.line} for s in loaded.skipped],
                }
            )
    finally:
        os.chdir(here)
    return pa.Table.from_pylist(rows, schema=FILE_SCHEMA)


def _file_result(row: dict[str, Any]) -> tuple[Corpus, list[SkippedFile]]:
    """A file's articles with their paragraphs, and its skipped entries, from its row."""
    corpus: Corpus = []
    for a in row["articles"]:
        article = Article(
            article_id=a["article_id"],
            title=a["title"],
            text=a["text"],
            source=a["source"],
            url=a["url"],
            authors=tuple(a["authors"]),
            publish_date=str(a["publish_date"]),
        )
        aid = article.article_id
        paragraphs = [
            Paragraph(f"{aid}#p{p['n']}", aid, p["n"], p["text"], p["char_start"], p["char_end"])
            for p in a["paragraphs"]
        ]
        corpus.append((article, paragraphs))
    skipped = [SkippedFile(s["path"], s["reason"], s["line"]) for s in row["skipped"]]
    return corpus, skipped


def merge_files(files: Sequence[tuple[Corpus, list[SkippedFile]]]) -> tuple[CorpusLoad, Corpus] | None:
    """The files' articles as `load_articles` over all of them keeps them: an article whose id or
    text an earlier file's kept article has is skipped. None when that cannot be told from the
    files apart: a file that skipped articles of its own lost one that it kept instead (its
    first copy is then a copy of an earlier file's, and the whole-corpus reader keeps the second)."""
    load = CorpusLoad()
    corpus: Corpus = []
    seen_ids: dict[str, str] = {}
    seen_text: dict[str, str] = {}
    for articles, skipped in files:
        load.files += 1
        load.skipped.extend(skipped)
        for article, paragraphs in articles:
            digest = hashlib.sha1(_normalise(article.text).encode()).hexdigest()
            if article.article_id in seen_ids:
                reason = f"article id '{article.article_id}' also used by {seen_ids[article.article_id]}; rename one"
            elif digest in seen_text:
                reason = f"duplicate of {seen_text[digest]}; stored once"
            else:
                seen_ids[article.article_id] = article.source
                seen_text[digest] = article.source
                load.articles.append(article)
                corpus.append((article, paragraphs))
                continue
            if skipped:
                return None
            load.skipped.append(SkippedFile(article.source, reason))
    return load, corpus


# -- embedding, on the cluster ------------------------------------------------------------------


@ray.remote
class Embedder:
    """One onnxruntime session of the model file the driver shipped, with as many threads as the
    CPUs Ray gave this actor (onnxruntime ignores OMP_NUM_THREADS, which Ray sets)."""

    def __init__(self, model: bytes, model_id: str, batch_size: int) -> None:
        share = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
        self.threads = max(1, math.ceil(share))
        folder = Path(tempfile.mkdtemp(prefix="rag-model-"))
        try:
            path = folder / "model.onnx"
            path.write_bytes(model)
            # The session holds the model in memory; the file is not needed once it is built.
            self._encoder = OnnxEncoder(path, model_id, batch_size=batch_size, threads=self.threads)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def encode(
        self, texts: list[str], spans: list[Spans]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """A step's paragraph vectors, its sentence vectors stacked with their count per paragraph,
        and the seconds it took."""
        started = time.perf_counter()
        vecs, sentence_vecs = self._encoder.encode_paragraphs(texts, spans)
        dim = self._encoder.dim
        sentences = np.concatenate(sentence_vecs) if sentence_vecs else np.zeros((0, dim), np.float32)
        counts = np.array([len(s) for s in sentence_vecs], dtype=np.int64)
        return vecs, counts, sentences, time.perf_counter() - started


class RayEncoder:
    """The encoder a Ray ingest hands the index: queries are encoded here by the local encoder,
    write steps by a pool of `Embedder` actors (`encode_ahead`), which start at once so that their
    model load overlaps the reading and the planning.

    Args:
        local: The local ONNX encoder; its model file is shipped to every actor.
        actors: How many actors embed.
        cpus: CPUs Ray reserves for each.
    """

    def __init__(self, local: Encoder, actors: int, cpus: float) -> None:
        spec = movable_spec(local)
        if spec is None:
            raise ConfigError(
                "`rag ingest --ray` embeds with the bundled model on the cluster; unset "
                "RAG_EMBED_BASE_URL (an embeddings endpoint scales on its own) or ingest without --ray"
            )
        self.model_id, self.dim = local.model_id, local.dim
        self._local = local
        # Shipped once through the object store; a dead actor is not restarted: its step fails the
        # ingest, which (as a killed local one) leaves the index resumable.
        model = ray.put(Path(spec["onnx_path"]).read_bytes())
        self.actors = [
            Embedder.options(num_cpus=cpus).remote(model, spec["model_id"], spec["batch_size"])  # type: ignore[attr-defined]
            for _ in range(actors)
        ]
        self.busy_s = 0.0  # seconds the actors spent encoding, over every step

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._local.encode_queries(texts)

    def encode_paragraphs(
        self, texts: Sequence[str], sentence_spans: Sequence[Spans]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        with self.encode_ahead() as steps:
            steps.add(texts, sentence_spans)
            return steps.result(0)

    def encode_ahead(self) -> ActorSteps:
        """Write steps embedded by the actors ahead of the writes (rag.index.writing's protocol)."""
        return ActorSteps(self)

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []


class ActorSteps:
    """Write steps embedded by the actor pool, in order: step i goes to actor i mod n, at most
    `AHEAD_PER_ACTOR` steps per actor beyond the one the caller waits for (so a fast cluster does
    not fill the driver's memory ahead of a slow committer); the same `add` / `result` protocol as
    rag.index.encoding_process's child process."""

    def __init__(self, encoder: RayEncoder) -> None:
        self._encoder = encoder
        self._waiting: deque[tuple[list[str], list[Spans]]] = deque()
        self._refs: dict[int, Any] = {}
        self._added = self._sent = self._next = 0

    def add(self, texts: Sequence[str], spans: Sequence[Spans]) -> None:
        self._waiting.append((list(texts), [list(s) for s in spans]))
        self._added += 1
        self._send()

    def _send(self) -> None:
        actors = self._encoder.actors
        limit = min(self._added, self._next + 1 + AHEAD_PER_ACTOR * len(actors))
        while self._sent < limit:
            texts, spans = self._waiting.popleft()
            self._refs[self._sent] = actors[self._sent % len(actors)].encode.remote(texts, spans)
            self._sent += 1

    def result(self, i: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Step `i`'s paragraph vectors and sentence vectors, as `encode_paragraphs` returns them."""
        if i != self._next or i >= self._added:
            raise ValueError(f"results are read in order, of added steps: expected {self._next}, got {i}")
        try:
            vecs, counts, sentences, busy = ray.get(self._refs.pop(i))
        except ray.exceptions.RayError as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[-1]
            raise EmbeddingError(f"the Ray actor embedding write step {i} failed: {first}") from None
        self._encoder.busy_s += busy
        self._next += 1
        self._send()
        return vecs, list(np.split(sentences, np.cumsum(counts)[:-1])) if len(counts) else []

    def close(self) -> None:
        for ref in self._refs.values():  # steps no one will read: stop them
            ray.cancel(ref)
        self._refs.clear()
        self._waiting.clear()

    def __enter__(self) -> ActorSteps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the cluster ---------------------------------------------------------------------------------


class RayCluster:
    """A connection to the Ray cluster at `address` (default: RAY_ADDRESS), or to a local cluster
    of this machine's cores that this process starts and, on `close`, stops.

    On an existing cluster the driver's `rag` package is shipped to the workers (a runtime
    environment), so every node splits paragraphs with the same code as the driver; the nodes need
    the dependencies (`pip install 'rag-news[cluster]'`) and the same Ray and Python versions.
    """

    def __init__(self, address: str | None = None) -> None:
        import rag

        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self._owned = not ray.is_initialized()
        settings: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.WARNING,
        }
        if self._owned:
            try:
                if self.address:
                    package = str(Path(rag.__file__).parent)
                    env = {"py_modules": [package], "excludes": ["__pycache__", "*.pyc"]}
                    ray.init(address=self.address, runtime_env=env, **settings)
                else:  # a new cluster of this machine alone ("local": never one `ray start` left running)
                    # Ray turns its token auth on for a local cluster and says so on every start.
                    logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
                    ray.init(address="local", num_cpus=usable_cores(), **settings)
            except (ConnectionError, RuntimeError, ValueError) as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise StoreUnavailableError(
                    f"cannot connect to the Ray cluster at {self.address or 'a new local cluster'} "
                    f"({first}); start it with `ray start --head` or unset RAY_ADDRESS"
                ) from None
        from ray.data import DataContext

        context = DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        context.enable_auto_log_stats = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # not "progress bars disabled"
        self.cpus = float(ray.cluster_resources().get("CPU", 1.0))
        self._encoders: list[RayEncoder] = []

    def encoder(self, local: Encoder) -> RayEncoder:
        """An encoder whose write steps this cluster's actor pool embeds (its actors start now)."""
        actors, cpus = pool_shape(self.cpus)
        encoder = RayEncoder(local, actors, cpus)
        self._encoders.append(encoder)
        return encoder

    def read(self, roots: Sequence[Path], min_words: int) -> tuple[CorpusLoad, Corpus]:
        """The articles under `roots` and their paragraphs, read and split by Ray Data tasks, one per
        file; the same articles, paragraphs and skipped files as `load_articles` and
        `split_paragraphs` on this machine (the files must be at the same paths on every node)."""
        files = [str(f) for f in iter_files(roots)]
        if not files:
            return CorpusLoad(), []
        dataset = ray.data.from_items(
            [{"file": i, "path": f} for i, f in enumerate(files)], override_num_blocks=len(files)
        ).map_batches(
            partial(read_files, cwd=os.getcwd(), min_words=min_words),
            batch_size=1,
            batch_format="pyarrow",
            num_cpus=READ_CPUS,
        )
        rows: list[dict[str, Any]] = []
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
                rows.extend(cast(pa.Table, batch).to_pylist())
        except Exception as e:
            raise _user_error(e) from None
        rows.sort(key=lambda r: r["file"])
        merged = merge_files([_file_result(r) for r in rows])
        if merged is not None:
            return merged
        loaded = load_articles(roots)  # rare: see merge_files; this machine reads it as a local ingest does
        return loaded, [(a, split_paragraphs(a, min_words)) for a in loaded.articles]

    def close(self) -> None:
        """Stop the actors; stop the local cluster this process started, or disconnect."""
        for encoder in self._encoders:
            encoder.close()
        self._encoders = []
        if self._owned and ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> RayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _user_error(e: BaseException) -> Exception:
    """A read task's failure as the user's error: the RagError it raised, or one line of Ray's."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, RagError):
            return type(seen)(str(seen))
        seen = getattr(seen, "cause", None) or seen.__cause__
    first = (str(e).strip().splitlines() or [type(e).__name__])[-1]
    return CorpusError(f"reading the corpus on the Ray cluster failed: {first}")
