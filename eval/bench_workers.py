"""The bench's workers: each heavy step of `rag bench` runs as `python -m eval.bench_workers <kind>
<json params>` in a process of its own, and prints one result line (`RESULT_TAG` + JSON) with its
own peak RSS. eval/bench.py starts them and makes the tables."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

RESULT_TAG = "BENCH-RESULT "

# The filters whose warm dense retrieval is timed against the unfiltered one (worker_filters);
# "one article" is filled in with the corpus's longest article. "up to 2021" keeps 44 % of the
# whole corpus's rows, older than most questions' neighbours: the dearest share for either way of
# searching (eval/PERFORMANCE.md, "Filtered dense search").
FILTERS: dict[str, dict[str, Any]] = {
    "unfiltered": {},
    "month 2024-01": {"date_from": "2024-01-01", "date_to": "2024-01-31"},
    "year 2019": {"date_from": "2019-01-01", "date_to": "2019-12-31"},
    "one article": {"articles": []},
    "as of 2024-01-15": {"as_of": "2024-01-15"},
    "up to 2021": {"date_to": "2021-12-31"},
}


def encoder_flops(lengths: Sequence[int], hidden: int = 384, layers: int = 6, ffn: int = 1536) -> float:
    """Floating-point operations of a BERT-style encoder over sequences of these token lengths.

    Per token and layer: the Q, K, V and output projections (4 h^2 multiply-adds) and the
    feed-forward pair (2 h f); per sequence and layer, attention's two L x L x h products.
    Embedding lookup, LayerNorm, GELU and softmax are left out: this is the matmul work, the
    part no implementation can skip.
    """
    per_token = 2 * layers * (4 * hidden * hidden + 2 * hidden * ffn)
    return float(sum(n * per_token + 4 * layers * n * n * hidden for n in lengths))


def _peak_rss_mib() -> float | None:
    """This process's own peak RSS (VmHWM): unlike ru_maxrss, not inherited from the parent at exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # not Linux
        pass
    return None


def _emit(result: dict[str, Any]) -> None:
    print(RESULT_TAG + json.dumps({**result, "peak_rss_mib": _peak_rss_mib()}), flush=True)


def _cpu_s() -> float:
    """CPU seconds of this process and of the children it has waited for (ingest's encoder process)."""
    import resource

    u, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime + c.ru_utime + c.ru_stime


def _children_peak_rss_mib() -> float | None:
    """Peak RSS of the largest child waited for (ingest's encoder process), if there was one."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / 1024 if peak else None


def worker_prepare(p: dict[str, Any]) -> None:
    """Export the ONNX model into the shared model folder (a one-time cost, timed apart)."""
    import rag

    started = time.perf_counter()
    engine = rag.open(corpus=p["corpus"], index_dir=p["index"], model_dir=p["model_dir"])
    _ = engine.encoder
    _emit({"seconds": time.perf_counter() - started})


def worker_ingest(p: dict[str, Any]) -> None:
    """A full ingest into an empty index, as `rag ingest` does it."""
    import rag

    started = time.perf_counter()
    engine = rag.open(corpus=p["corpus"], index_dir=p["index"], model_dir=p["model_dir"])
    report = engine.ingest(progress=True)
    _emit(
        {
            "seconds": time.perf_counter() - started,
            "sync_seconds": report.seconds,
            "paragraphs": report.paragraphs,
            "articles": report.articles,
            "cpu_s": _cpu_s(),
            "encoder_process_rss_mib": _children_peak_rss_mib(),
        }
    )


def worker_ingest_stages(p: dict[str, Any]) -> None:
    """A full ingest into an empty index, local or on a local Ray cluster (`ray`), and when it
    reached each stage (eval/bench_ray.py)."""
    import rag
    from eval.bench_ray import stage_seconds

    started = time.perf_counter()
    marks: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter() - started
        marks.setdefault(stage, now)
        if stage == "embedding" and done == total:
            marks["written"] = now

    engine = rag.open(corpus=p["corpus"], index_dir=p["index"], model_dir=p["model_dir"])
    report = engine.ingest(progress=progress, ray=p["ray"])
    seconds = time.perf_counter() - started
    _emit({"seconds": seconds, "paragraphs": report.paragraphs, "stages": stage_seconds(marks, seconds)})


def worker_answers(p: dict[str, Any]) -> None:
    """`engine.ask` of each question alone (with its as-of date), what the page must answer each
    client with (eval/bench_serve.py)."""
    import rag

    engine = rag.open(corpus=p["corpus"], index_dir=p["index"], model_dir=p["model_dir"])
    answers: dict[str, dict[str, Any]] = {}
    for item in p["items"]:
        if item["question"] not in answers:
            a = engine.ask(item["question"], as_of=item.get("as_of") or None)
            answers[item["question"]] = {
                "question": a.question,
                "text": a.text,
                "abstained": a.abstained,
                "abstain_reason": a.abstain_reason,
            }
    _emit({"answers": answers})


def worker_encode(p: dict[str, Any]) -> None:
    """The encoder alone on the paragraphs ingest would embed, in the same chunks and batch size."""
    import rag
    from rag.corpus import load_articles, split_paragraphs
    from rag.index.writing import WRITE_BATCH
    from rag.sentences import split_sentences

    engine = rag.open(corpus=p["corpus"], index_dir=p["index"], model_dir=p["model_dir"])
    loaded = load_articles(engine.settings.corpus_paths)
    texts = [
        para.text
        for a in loaded.articles
        for para in split_paragraphs(a, engine.settings.min_paragraph_words)
    ]
    texts.sort(key=len, reverse=True)  # the order sync() embeds in
    spans = [split_sentences(t) for t in texts]
    encoder = engine.encoder
    encoder.encode_queries(["warm up"])
    cpu0, started = _cpu_s(), time.perf_counter()
    for b in range(0, len(texts), WRITE_BATCH):
        encoder.encode_paragraphs(texts[b : b + WRITE_BATCH], spans[b : b + WRITE_BATCH])
        if b // WRITE_BATCH % 40 == 0:
            print(f"encode: {b}/{len(texts)} paragraphs", file=sys.stderr, flush=True)
    seconds, cpu = time.perf_counter() - started, _cpu_s() - cpu0
    lengths = encoder.sequence_lengths(texts) if hasattr(encoder, "sequence_lengths") else []
    _emit(
        {
            "seconds": seconds,
            "cpu_s": cpu,
            "paragraphs": len(texts),
            "batch_size": engine.settings.embed_batch_size,
            "int8": engine.settings.embed_quantize,
            "tokens": sum(lengths),
            "gflop": encoder_flops(lengths) / 1e9,
        }
    )


def worker_matmul(p: dict[str, Any]) -> None:
    """The machine's matmul rate at the encoder's feed-forward shape, float32 and dynamic int8.

    One onnxruntime MatMul of (32 x 48 tokens) x 384 by 384 x 1536 -- the biggest product in
    MiniLM, at the batch shape ingest runs -- timed alone, with the encoder's thread count.
    """
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from rag.config import Settings
    from rag.embedding import quantize_model, usable_cores

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32 * 48, 384), dtype=np.float32)
    w = rng.standard_normal((384, 1536), dtype=np.float32) * 0.05
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "ffn",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 384])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1536])],
        [numpy_helper.from_array(w, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    work = Path(tempfile.mkdtemp(prefix="rag-matmul-"))
    fp32, int8 = work / "ffn.onnx", work / "ffn.int8.onnx"
    onnx.save(model, str(fp32))
    quantize_model(fp32, int8)
    flop = 2 * x.shape[0] * 384 * 1536
    threads = Settings().embed_threads or usable_cores()  # what OnnxEncoder runs with
    rates = {}
    for name, path in (("fp32", fp32), ("int8", int8)):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(20):
                session.run(None, {"X": x})
            best = min(best, (time.perf_counter() - t) / 20)
        rates[f"{name}_gflops"] = flop / best / 1e9
    shutil.rmtree(work, ignore_errors=True)
    _emit(rates)


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def worker_query(p: dict[str, Any]) -> None:
    """Warm latency of Engine.retrieve() and Engine.ask() over the questions, `passes` times."""
    import rag

    engine = rag.open(corpus=p["corpus"], index_dir=p["index"], model_dir=p["model_dir"])
    questions: list[str] = p["questions"]
    engine.ask(questions[0])  # loads the model, the BM25 snapshot and the HNSW index
    passes = []
    for _ in range(p["passes"]):
        retrieve_ms = [_timed(partial(engine.retrieve, q)) for q in questions]
        ask_ms = [_timed(partial(engine.ask, q)) for q in questions]
        passes.append({"retrieve": retrieve_ms, "ask": ask_ms})
    _emit({"passes": passes})


def _kept(article: Any, f: dict[str, Any]) -> bool:
    """Whether a filter keeps this article's rows (as the index reads the filters)."""
    date = article.publish_date
    if f.get("articles") and article.article_id not in f["articles"]:
        return False
    if (f.get("date_from") or f.get("date_to")) and not date:
        return False
    if date and not f.get("date_from", "") <= date <= (f.get("date_to") or "9999"):
        return False
    return not (date and f.get("as_of") and date > f["as_of"])


def worker_filters(p: dict[str, Any]) -> None:
    """Warm latency of filtered retrieval per filter (`FILTERS`), `passes` times: the dense
    search alone (the index's, with the retriever's candidate count, on the questions' vectors)
    and Engine.retrieve(). Each pass times every filter over every question in turn."""
    import inspect

    import rag

    engine = rag.open(corpus=p["corpus"], index_dir=p["index"], model_dir=p["model_dir"])
    questions: list[str] = p["questions"]
    engine.retrieve(questions[0])  # loads the model, the snapshot and the HNSW index
    index, k = engine.retriever.index, engine.retriever.candidates
    vectors = engine.encoder.encode_queries(questions)
    articles = engine.articles()
    longest = max(articles, key=lambda a: a.paragraphs)
    filters = {name: dict(f) for name, f in FILTERS.items()}
    filters["one article"]["articles"] = [longest.article_id]
    # Engine.retrieve takes an as-of date once the engine passes it on; until then it is timed alone.
    takes_as_of = "as_of" in inspect.signature(engine.retrieve).parameters
    total = sum(a.paragraphs for a in articles)
    share = {n: sum(a.paragraphs for a in articles if _kept(a, f)) / total for n, f in filters.items()}

    def dense(f: dict[str, Any], vector: Any) -> None:
        index.dense_search(
            vector, k, f.get("articles"), f.get("date_from", ""), f.get("date_to", ""), f.get("as_of", "")
        )

    for f in filters.values():  # warm-up: a filter's first search pages its rows' vectors in
        dense(f, vectors[0])
    passes = []
    for _ in range(p["passes"]):
        one: dict[str, dict[str, list[float]]] = {}
        for name, f in filters.items():
            one[name] = {"dense": [_timed(partial(dense, f, v)) for v in vectors]}
            if "as_of" not in f or takes_as_of:
                one[name]["retrieve"] = [_timed(partial(engine.retrieve, q, **f)) for q in questions]
        passes.append(one)
    _emit({"passes": passes, "share": share, "article": longest.article_id, "k": k})


def worker_peer_ingest(p: dict[str, Any]) -> None:
    """The peer's ingest: load the articles, then VectorStoreIndex.from_documents over Chroma."""
    started = time.perf_counter()
    from eval import peer
    from rag.corpus import load_articles

    articles = load_articles([Path(c) for c in p["corpus"].split(",")]).articles
    chunks = peer.build_index(articles, Path(p["index"]))
    _emit({"seconds": time.perf_counter() - started, "chunks": chunks, "cpu_s": _cpu_s()})


def worker_peer_ask(p: dict[str, Any]) -> None:
    """The peer's cold start: imports, model and collection load, one retrieval."""
    from eval import peer

    hits = peer.retrieve(peer.open_retriever(Path(p["index"]), p["k"]), p["questions"][0])
    _emit({"hits": len(hits)})


def worker_peer_query(p: dict[str, Any]) -> None:
    """The peer's warm retrieval latency over the questions, `passes` times."""
    from eval import peer

    retriever = peer.open_retriever(Path(p["index"]), p["k"])
    questions: list[str] = p["questions"]
    peer.retrieve(retriever, questions[0])
    passes = []
    for _ in range(p["passes"]):
        passes.append({"retrieve": [_timed(partial(peer.retrieve, retriever, q)) for q in questions]})
    _emit({"passes": passes})


WORKERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "prepare": worker_prepare,
    "ingest": worker_ingest,
    "ingest-stages": worker_ingest_stages,
    "answers": worker_answers,
    "encode": worker_encode,
    "matmul": worker_matmul,
    "query": worker_query,
    "filters": worker_filters,
    "peer-ingest": worker_peer_ingest,
    "peer-ask": worker_peer_ask,
    "peer-query": worker_peer_query,
}


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in WORKERS:
        sys.exit(f"usage: python -m eval.bench_workers {{{','.join(WORKERS)}}} '<json params>'")
    WORKERS[sys.argv[1]](json.loads(sys.argv[2]))
