"""Benchmarks: cold start, warm query latency, ingest rate, memory and index size, beside the LlamaIndex peer.

Every heavy step runs in a child process of its own (eval/bench_workers.py), so
peak RSS is the child's alone and imports are paid where a user pays them. Figures are medians
over repeated runs; the machine's load average is recorded beside them, because on a shared
2-core machine other processes move every wall-clock figure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.bench_ray import bench_ray, render_ray
from eval.bench_report import check_targets, plot_latency, render
from eval.bench_serve import bench_clients, bench_restart, check_serve_targets, percentile, render_serve
from eval.bench_workers import FILTERS, RESULT_TAG

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEEDS = ROOT / "seeds"
BIG_CORPUS = ROOT.parent / "shared" / "corpora" / "news-2024q1.jsonl"
SLICE_PARAGRAPHS = 10_000

# -- pure helpers ---------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    """The median; NaN for no values."""
    return percentile(values, 50)


def ratio(ours: float | None, peer: float | None) -> float | None:
    """ours / peer, or None when either is missing or the peer is zero."""
    if ours is None or peer is None or peer == 0 or ours != ours or peer != peer:
        return None
    return ours / peer


def dir_size_mib(path: Path) -> float:
    """Bytes under `path` in MiB (0 if it does not exist)."""
    if not path.exists():
        return 0.0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


# -- child processes ------------------------------------------------------------------------


def run_child(cmd: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `cmd`; wall seconds, the child's peak RSS (MiB), exit code and its result (if any)."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=None, env=env, cwd=ROOT, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    result: dict[str, Any] = {}
    for line in out.splitlines():
        if line.startswith(RESULT_TAG):
            result = json.loads(line[len(RESULT_TAG) :])
    # ru_maxrss carries the parent's peak across exec (a big parent, e.g. pytest, would show
    # through): a worker's own VmHWM is used when it reports one.
    return {
        "wall_s": wall,
        "rss_mib": result.get("peak_rss_mib") or usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "code": proc.returncode,
        "stdout": out,
        "result": result,
    }


def _worker(kind: str, params: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    run = run_child([sys.executable, "-m", "eval.bench_workers", kind, json.dumps(params)], env)
    if run["code"] != 0:
        raise RuntimeError(f"bench worker '{kind}' failed with exit code {run['code']}")
    return run


# -- the run ---------------------------------------------------------------------------------


def write_slice(src: Path, dest: Path, paragraphs: int, min_words: int) -> tuple[int, int]:
    """Copy the first articles of `src` (.jsonl) holding `paragraphs` paragraphs into `dest`."""
    from rag.corpus import load_articles, split_paragraphs

    lines = src.read_text(encoding="utf-8").splitlines()
    keep: list[str] = []
    count = 0
    for article in load_articles([src]).articles:
        if count >= paragraphs:
            break
        lineno = int(article.source.rsplit(":", 1)[1])
        keep.append(lines[lineno - 1])
        count += len(split_paragraphs(article, min_words))
    dest.write_text("\n".join(keep) + "\n", encoding="utf-8")
    return len(keep), count


def _latency(passes: list[dict[str, list[float]]], key: str) -> dict[str, float]:
    """p50/p95 per pass, then the median over passes."""
    return {
        "p50_ms": median([percentile(p[key], 50) for p in passes]),
        "p95_ms": median([percentile(p[key], 95) for p in passes]),
        "passes": len(passes),
    }


def filter_latency(result: dict[str, Any]) -> dict[str, Any]:
    """Per filter: the share of rows it keeps, warm dense-search and retrieve() p50/p95, and each
    p50 over the unfiltered one's."""
    out: dict[str, Any] = {}
    for name, share in result["share"].items():
        passes = [p[name] for p in result["passes"]]
        out[name] = {"share": share, "dense": _latency(passes, "dense")}
        if all("retrieve" in p for p in passes):
            out[name]["retrieve"] = _latency(passes, "retrieve")
    base = out.get("unfiltered", {})
    for figures in out.values():
        for key in ("dense", "retrieve"):
            if key in figures and key in base:
                figures[f"{key}_ratio"] = ratio(figures[key]["p50_ms"], base[key]["p50_ms"])
    return {"k": result["k"], "article": result["article"], "by_filter": out}


def _log(msg: str) -> None:
    print(f"bench [{time.strftime('%H:%M:%S')}]: {msg}", file=sys.stderr, flush=True)


def _rag_command() -> list[str]:
    script = Path(sys.executable).parent / "rag"
    return [str(script)] if script.exists() else [sys.executable, "-m", "rag.cli"]


def bench_corpus(
    name: str,
    corpus: str,
    work: Path,
    env: dict[str, str],
    questions: list[str],
    plan: dict[str, int],
    matmul: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Every figure for one corpus: ours, the peer's, and the ratios."""
    ours_dir, peer_dir = work / f"ours-{name}", work / f"peer-{name}"
    base = {"corpus": corpus, "model_dir": env["RAG_MODEL_DIR"]}
    res: dict[str, Any] = {"corpus": name}

    # Ingest and the encoder alone alternate, and the ratio is the median of each pair's: on a
    # shared host the same ingest has taken 216-300 s within an hour, so runs far apart in time
    # would compare the host's moods, not the pipeline with its model.
    ingests, encodes = [], []
    for i in range(plan["pairs"]):
        shutil.rmtree(ours_dir, ignore_errors=True)
        _log(f"{name}: ingest {i + 1}/{plan['pairs']}")
        run = _worker("ingest", {**base, "index": str(ours_dir)}, env)
        ingests.append({**run["result"], "rss_mib": run["rss_mib"]})
        _log(f"{name}: encoder alone {i + 1}/{plan['pairs']}")
        encodes.append(_worker("encode", {**base, "index": str(work / "scratch")}, env)["result"])
    paragraphs = ingests[0]["paragraphs"]
    res["paragraphs"], res["articles"] = paragraphs, ingests[0]["articles"]
    ingest_s = median([r["seconds"] for r in ingests])
    res["ingest"] = {
        "runs": len(ingests),
        "seconds": ingest_s,
        "para_per_s": paragraphs / ingest_s,
        "cpu_s": median([r["cpu_s"] for r in ingests]),
        "rss_mib": median([r["rss_mib"] for r in ingests]),
        "encoder_process_rss_mib": ingests[0].get("encoder_process_rss_mib"),
        "all_seconds": [round(r["seconds"], 2) for r in ingests],
    }
    res["index_mib"] = dir_size_mib(ours_dir)
    enc_s = median([r["seconds"] for r in encodes])
    res["encoder"] = {
        "runs": len(encodes),
        "seconds": enc_s,
        "para_per_s": encodes[0]["paragraphs"] / enc_s,
        "cpu_s": median([r["cpu_s"] for r in encodes]),
        "batch_size": encodes[0]["batch_size"],
        "int8": encodes[0].get("int8"),
        "tokens": encodes[0].get("tokens"),
        "gflop": encodes[0].get("gflop"),
        "all_seconds": [round(r["seconds"], 2) for r in encodes],
    }
    pairs = [
        (i["paragraphs"] / i["seconds"]) / (e["paragraphs"] / e["seconds"])
        for i, e in zip(ingests, encodes, strict=True)
    ]
    res["ingest_vs_raw"] = median(pairs)
    res["ingest_vs_raw_pairs"] = [round(r, 3) for r in pairs]
    # The physical limit: the encoder's matmul work at the machine's best matmul rate.
    rate = (matmul or {}).get("int8_gflops" if res["encoder"]["int8"] else "fp32_gflops")
    gflop = res["encoder"]["gflop"]
    res["matmul_floor_s"] = gflop / rate if rate and gflop else None

    _log(f"{name}: peer ingest")
    shutil.rmtree(peer_dir, ignore_errors=True)
    run = _worker("peer-ingest", {"corpus": corpus, "index": str(peer_dir)}, env)
    res["peer_ingest"] = {**run["result"], "rss_mib": run["rss_mib"]}
    res["peer_index_mib"] = dir_size_mib(peer_dir)

    # Cold starts alternate ours / peer, so a burst of load hits both alike.
    ask_cmd = [*_rag_command(), "ask", questions[0], "--json", "--corpus", corpus, "--index", str(ours_dir)]
    peer_cmd = [
        sys.executable,
        "-m",
        "eval.bench_workers",
        "peer-ask",
        json.dumps({"index": str(peer_dir), "k": 5, "questions": questions[:1]}),
    ]
    cold: list[dict[str, Any]] = []
    peer_cold: list[dict[str, Any]] = []
    run_child(ask_cmd, env)  # page cache warm-up, not counted
    for i in range(plan["cold"]):
        _log(f"{name}: cold start {i + 1}/{plan['cold']}")
        cold.append(run_child(ask_cmd, env))
        peer_cold.append(run_child(peer_cmd, env))
    if any(c["code"] for c in cold + peer_cold):
        raise RuntimeError(
            f"a cold-start run on {name} failed: exit codes {[c['code'] for c in cold + peer_cold]}"
        )
    res["cold_ask"] = {
        "runs": len(cold),
        "seconds": median([c["wall_s"] for c in cold]),
        "rss_mib": median([c["rss_mib"] for c in cold]),
    }
    res["peer_cold"] = {
        "runs": len(peer_cold),
        "seconds": median([c["wall_s"] for c in peer_cold]),
        "rss_mib": median([c["rss_mib"] for c in peer_cold]),
    }

    _log(f"{name}: warm queries ({len(questions)} questions x {plan['passes']} passes)")
    run = _worker(
        "query", {**base, "index": str(ours_dir), "questions": questions, "passes": plan["passes"]}, env
    )
    passes = run["result"]["passes"]
    res["retrieve"] = _latency(passes, "retrieve")
    res["ask"] = _latency(passes, "ask")
    res["query_rss_mib"] = run["rss_mib"]
    _log(f"{name}: peer warm queries")
    run = _worker(
        "peer-query", {"index": str(peer_dir), "k": 5, "questions": questions, "passes": plan["passes"]}, env
    )
    res["peer_retrieve"] = _latency(run["result"]["passes"], "retrieve")
    res["samples_ms"] = {  # every warm query, for the latency plot
        "ask": [round(x, 3) for p in passes for x in p["ask"]],
        "retrieve": [round(x, 3) for p in passes for x in p["retrieve"]],
        "peer retrieve": [round(x, 3) for p in run["result"]["passes"] for x in p["retrieve"]],
    }
    res["peer_query_rss_mib"] = run["rss_mib"]

    _log(f"{name}: warm filtered retrieval ({len(FILTERS)} filters x {plan['passes']} passes)")
    run = _worker(
        "filters", {**base, "index": str(ours_dir), "questions": questions, "passes": plan["passes"]}, env
    )
    res["filters"] = filter_latency(run["result"])

    res["ratios"] = {
        "cold_start": ratio(res["cold_ask"]["seconds"], res["peer_cold"]["seconds"]),
        "retrieve_p50": ratio(res["retrieve"]["p50_ms"], res["peer_retrieve"]["p50_ms"]),
        "ingest_time": ratio(res["ingest"]["seconds"], res["peer_ingest"]["seconds"]),
        "query_rss": ratio(res["query_rss_mib"], res["peer_query_rss_mib"]),
    }
    return res


def serve_corpus(folder: Path, files: Sequence[Path]) -> Path:
    """`folder` holding copies of `files` (times kept): the restarts touch these, not the originals."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        dest = folder / f.name
        if not dest.exists() or dest.stat().st_size != f.stat().st_size:
            dest.unlink(missing_ok=True)
            shutil.copy2(f, dest)
    return folder


def bench_page(
    work: Path, env: dict[str, str], gold: list[dict[str, Any]], big: Path | None, runs: int
) -> dict[str, Any]:
    """The page from outside: 8 clients over HTTP on the seeds, then restarts on an existing index
    of `big` and the seeds (of the seeds alone when `big` is None)."""
    res: dict[str, Any] = {}
    seeds_index = work / "serve-seeds"
    base = {"corpus": str(SEEDS), "index": str(seeds_index), "model_dir": env["RAG_MODEL_DIR"]}
    _log("page: ingesting the seeds (nothing to do on a kept index)")
    _worker("ingest", base, env)
    expected = _worker("answers", {**base, "items": gold}, env)["result"]["answers"]
    res["clients"] = bench_clients(str(SEEDS), seeds_index, env, gold, expected, _log)

    files = sorted(SEEDS.iterdir()) + ([big] if big else [])
    name = "full" if big else "seeds-copy"
    corpus = serve_corpus(work / f"serve-corpus-{name}", files)
    index = work / f"serve-{name}"
    res["restart_corpus"] = "whole corpus" if big else "seeds"
    # Incremental: on a kept index (--index) only what changed, and the corpus files' record is
    # brought up to date, so the first restart finds the index current.
    _log(f"page: ingesting {corpus} for the restarts")
    _worker("ingest", {**base, "corpus": str(corpus), "index": str(index)}, env)
    res["restart"] = bench_restart(
        str(corpus), index, env, _log, runs, touch=[corpus / f.name for f in files]
    )
    res["load_avg_after"] = os.getloadavg()
    return res


def _environment(env: dict[str, str]) -> dict[str, Any]:
    import platform
    from importlib.metadata import version

    def v(pkg: str) -> str:
        try:
            return version(pkg)
        except Exception:
            return "-"

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "packages": {
            p: v(p)
            for p in (
                "onnxruntime",
                "chromadb",
                "bm25s",
                "llama-index-core",
                "sentence-transformers",
                "torch",
            )
        },
        "rag_env": {k: val for k, val in env.items() if k.startswith("RAG_") and "KEY" not in k},
    }


def build_parser() -> argparse.ArgumentParser:
    """`rag bench`'s options."""
    p = argparse.ArgumentParser(
        prog="rag bench", description="Measure cold start, query latency, ingest and memory."
    )
    p.add_argument("--corpus", help=f"the big corpus (default {BIG_CORPUS})")
    p.add_argument("--index", help="keep the bench's indexes in this folder (default: a temporary one)")
    p.add_argument("--out", default=None, help="results folder (default eval/bench-results)")
    p.add_argument("--quick", action="store_true", help="seeds only, fewer repeats")
    p.add_argument(
        "--ray",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="compare `rag ingest --ray` on a local cluster with the local ingest, on the slice (the "
        "seeds with --quick); default: in a full run, when the cluster extra is installed",
    )
    p.add_argument(
        "--serve-only",
        action="store_true",
        help="only the page: 8 clients asking over HTTP (seeds), and restarts of `rag serve` on an "
        "existing index of the whole corpus (the seeds with --quick)",
    )
    return p


# What the peer imports (the `bench` extra).
PEER_MODULES = ("llama_index.core", "llama_index.vector_stores.chroma", "sentence_transformers")


def main(argv: Sequence[str] | None = None) -> int:
    """`rag bench`: run every benchmark, print the tables, write JSON to the results folder."""
    from eval.run import installed, load_gold

    args = build_parser().parse_args(argv)
    missing = [m for m in PEER_MODULES if not installed(m)]
    if missing and not args.serve_only:  # said before any minute is spent, not by a worker's traceback
        print(
            f"bench: the peer (LlamaIndex's default pipeline) needs {', '.join(missing)}: "
            "run `make install-test`, or pip install 'rag-news[bench]'",
            file=sys.stderr,
        )
        return 2
    quick = bool(args.quick)
    big = Path(args.corpus) if args.corpus else BIG_CORPUS
    out = Path(args.out) if args.out else HERE / "bench-results"
    keep = bool(args.index)
    work = Path(args.index) if keep else Path(tempfile.mkdtemp(prefix="rag-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RAG_PROGRESS": "0", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.setdefault("RAG_MODEL_DIR", str(Path(tempfile.gettempdir()) / "rag-bench-models"))
    env.pop("RAG_CORPUS", None)
    env.pop("RAG_INDEX_DIR", None)
    questions = [g.question for g in load_gold()]
    plan = {"pairs": 2, "cold": 3, "passes": 1} if quick else {"pairs": 3, "cold": 5, "passes": 3}
    load_before = os.getloadavg()
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    ray_results: dict[str, dict[str, Any]] = {}
    ray_corpus = ("seeds", str(SEEDS))
    matmul: dict[str, float] = {}
    page: dict[str, Any] = {}
    gold = [{"question": g.question, "history": list(g.history), "as_of": g.as_of} for g in load_gold()]
    try:
        if args.serve_only:
            page = bench_page(work, env, gold, None if quick or not big.exists() else big, 1 if quick else 3)
            return _report_page(page, out, quick, load_before, started, env)
        prep = _worker(
            "prepare",
            {"corpus": str(SEEDS), "index": str(work / "scratch"), "model_dir": env["RAG_MODEL_DIR"]},
            env,
        )
        _log(f"model ready in {prep['result']['seconds']:.1f} s ({env['RAG_MODEL_DIR']})")
        matmul = _worker("matmul", {}, env)["result"]
        _log(
            f"matmul rate: {matmul['fp32_gflops']:.0f} GFLOP/s float32, "
            f"{matmul['int8_gflops']:.0f} GFLOP/s int8 (equivalent)"
        )
        corpora: list[tuple[str, str, dict[str, int]]] = [("seeds", str(SEEDS), plan)]
        if quick:
            pass
        elif not big.exists():
            _log(f"{big} is absent: the slice and the whole corpus are skipped")
        else:
            slice_path = work / "news-slice.jsonl"
            arts, paras = write_slice(big, slice_path, SLICE_PARAGRAPHS, 3)
            _log(f"slice: {arts} articles, {paras} paragraphs -> {slice_path}")
            corpora.append(("slice", f"{SEEDS},{slice_path}", plan))
            ray_corpus = ("slice", f"{SEEDS},{slice_path}")
            corpora.append(("full", f"{SEEDS},{big}", plan))  # 3 pairs: 6 x ~3 min
        for name, corpus, p in corpora:
            results[name] = bench_corpus(name, corpus, work, env, questions, p, matmul)
            _log(f"{name} done ({time.perf_counter() - started:.0f} s so far)")
        if args.ray or (args.ray is None and not quick and importlib.util.find_spec("ray")):
            name, corpus = ray_corpus
            ray_results[name] = bench_ray(corpus, work, env, plan["pairs"], _worker, _log)
        page = bench_page(work, env, gold, None if quick or not big.exists() else big, 1 if quick else 3)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    table = render(results) + "".join(f"\n\n{render_ray(n, r)}" for n, r in ray_results.items())
    table += f"\n\n{render_serve(page)}"
    print(table)
    report = {
        "timestamp": time.strftime("%Y%m%d-%H%M%S"),
        "quick": quick,
        "seconds": time.perf_counter() - started,
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "environment": _environment(env),
        "plan": plan,
        "matmul": matmul,
        "results": results,
        "ray": ray_results,
        "page": page,
        "targets": [
            {"target": t, "measured": m, "met": ok}
            for t, m, ok in check_targets(results) + check_serve_targets(page)
        ],
        "table": table,
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{report['timestamp']}{'-quick' if quick else ''}.json"
    path.write_text(json.dumps(report, indent=1))
    plot_latency(results, path.with_suffix(".png"))
    print(f"\nload average before/after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f}; results: {path}")
    return 0


def _report_page(
    page: dict[str, Any],
    out: Path,
    quick: bool,
    load_before: tuple[float, float, float],
    started: float,
    env: dict[str, str],
) -> int:
    """`rag bench --serve-only`: print the page's table and write its JSON."""
    table = render_serve(page)
    print(table)
    report = {
        "timestamp": time.strftime("%Y%m%d-%H%M%S"),
        "quick": quick,
        "serve_only": True,
        "seconds": time.perf_counter() - started,
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "environment": _environment(env),
        "page": page,
        "targets": [{"target": t, "measured": m, "met": ok} for t, m, ok in check_serve_targets(page)],
        "table": table,
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{report['timestamp']}-serve{'-quick' if quick else ''}.json"
    path.write_text(json.dumps(report, indent=1))
    print(f"\nload average before/after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f}; results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
