"""The bench's Ray ingest: `rag ingest --ray` on a local cluster of this machine's cores against the
local ingest, in interleaved runs, each with where its time went (eval/bench.py runs it)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Where an ingest's time goes, from the stages its progress callback reports (bench_workers).
STAGES = {
    "start": "start: imports, engine, and for Ray the local cluster (ray.init)",
    "read": "read, split and plan (Ray: Ray Data tasks)",
    "write": "embed and write, overlapped (Ray: the actor pool)",
    "finish": "snapshot put in place, and for Ray the cluster stopped",
}


def stage_seconds(marks: dict[str, float], total: float) -> dict[str, float]:
    """Seconds per stage (`STAGES`) from the moments an ingest first reported each progress stage
    ("cluster" for Ray, "reading", "embedding"), the moment its last row was written ("written")
    and its end (`total`); a stage it never reported takes no time."""
    read = marks.get("reading", 0.0)
    first = marks.get("embedding", read)
    written = marks.get("written", first)
    return {"start": read, "read": first - read, "write": written - first, "finish": total - written}


def bench_ray(
    corpus: str,
    work: Path,
    env: dict[str, str],
    pairs: int,
    worker: Callable[[str, dict[str, Any], dict[str, str]], dict[str, Any]],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """`pairs` local ingests and Ray ingests of `corpus` into empty indexes, alternating (a busy
    host slows both alike); their medians, stages, and the Ray / local rate of each pair."""
    from eval.bench import median

    runs: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
    for i in range(pairs):
        for kind in ("local", "ray"):
            index = work / f"ray-bench-{kind}"
            shutil.rmtree(index, ignore_errors=True)
            log(f"ray bench: {kind} ingest {i + 1}/{pairs}")
            params = {"corpus": corpus, "index": str(index), "model_dir": env["RAG_MODEL_DIR"]}
            run = worker("ingest-stages", {**params, "ray": kind == "ray"}, env)
            runs[kind].append({**run["result"], "rss_mib": run["rss_mib"]})
            shutil.rmtree(index, ignore_errors=True)
    out: dict[str, Any] = {"pairs": pairs, "paragraphs": runs["local"][0]["paragraphs"]}
    for kind, done in runs.items():
        seconds = median([r["seconds"] for r in done])
        out[kind] = {
            "seconds": seconds,
            "para_per_s": out["paragraphs"] / seconds,
            "all_seconds": [round(r["seconds"], 2) for r in done],
            "stages": {s: median([r["stages"][s] for r in done]) for s in STAGES},
            "rss_mib": median([r["rss_mib"] for r in done]),
        }
    ratios = [r["seconds"] / lo["seconds"] for lo, r in zip(runs["local"], runs["ray"], strict=True)]
    out["ray_over_local"] = median(ratios)
    out["ray_over_local_pairs"] = [round(x, 3) for x in ratios]
    return out


def render_ray(name: str, r: dict[str, Any]) -> str:
    """The Markdown table of a `bench_ray` result on corpus `name`."""
    lo, ray = r["local"], r["ray"]
    pairs = r["ray_over_local_pairs"]
    lines = [
        f"**Ray ingest** (`rag ingest --ray`, a local cluster of this machine's cores) against the local "
        f"ingest, {name} ({r['paragraphs']:,} paragraphs), {r['pairs']} interleaved pairs",
        "",
        "| | local | Ray | Ray - local |",
        "|---|---|---|---|",
        f"| ingest (s, median) | {lo['seconds']:.1f} | {ray['seconds']:.1f} | {ray['seconds'] - lo['seconds']:+.1f} |",
        f"| paragraphs per s | {lo['para_per_s']:.0f} | {ray['para_per_s']:.0f} | |",
    ]
    for stage, label in STAGES.items():
        a, b = lo["stages"][stage], ray["stages"][stage]
        lines.append(f"| {label} (s) | {a:.1f} | {b:.1f} | {b - a:+.1f} |")
    lines += [
        f"| peak RSS of the ingest process (MiB) | {lo['rss_mib']:.0f} | {ray['rss_mib']:.0f} | |",
        f"| Ray time / local time, median of pairs (range) | | {r['ray_over_local']:.2f} "
        f"({min(pairs):.2f}-{max(pairs):.2f}) | |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # render a saved bench result's Ray table: python -m eval.bench_ray <result.json>
    report = json.loads(Path(sys.argv[1]).read_text())
    for corpus_name, result in report.get("ray", {}).items():
        print(render_ray(corpus_name, result))
