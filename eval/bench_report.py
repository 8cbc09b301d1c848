"""What a bench run reports: the targets of issue 6 judged against the figures, the Markdown
tables, and the latency plot. `eval/bench.py` measures; this module only reads its results."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

# Targets from issue 6, checked against the measured figures at the end of a run.
TARGETS = {
    "cold_ask_s": 3.0,
    "ask_p50_ms_seeds": 20.0,
    "ask_p50_ms_full": 60.0,
    "ingest_vs_raw": 0.80,
    "ingest_full_s": 330.0,
    "query_rss_mib_full": 1024.0,
    "filtered_ratio_full": 2.0,  # any filter's warm p50 over the unfiltered one's
}


def check_targets(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for every target the run measured."""
    checks: list[tuple[str, str, bool | None]] = []
    t = TARGETS
    for name, r in results.items():
        cold = r["cold_ask"]["seconds"]
        checks.append(
            (f"cold `rag ask` <= {t['cold_ask_s']} s ({name})", f"{cold:.2f} s", cold <= t["cold_ask_s"])
        )
    if "seeds" in results:
        v = results["seeds"]["ask"]["p50_ms"]
        checks.append(
            (
                f"warm ask() p50 <= {t['ask_p50_ms_seeds']:.0f} ms (seeds)",
                f"{v:.1f} ms",
                v <= t["ask_p50_ms_seeds"],
            )
        )
    for name, r in results.items():
        if name == "seeds":
            continue
        v = r["ingest_vs_raw"]
        checks.append(
            (
                f"ingest >= {t['ingest_vs_raw']:.0%} of raw encoder ({name})",
                f"{v:.0%}",
                v >= t["ingest_vs_raw"],
            )
        )
    if "full" in results:
        r = results["full"]
        checks.append(
            (
                f"warm ask() p50 <= {t['ask_p50_ms_full']:.0f} ms (full)",
                f"{r['ask']['p50_ms']:.1f} ms",
                r["ask"]["p50_ms"] <= t["ask_p50_ms_full"],
            )
        )
        s = r["ingest"]["seconds"]
        checks.append(
            (
                f"whole corpus ingest <= {t['ingest_full_s']:.0f} s",
                f"{s:.0f} s ({r['ingest']['para_per_s']:.0f} para/s; matmul floor "
                f"{_f(r.get('matmul_floor_s'), '.0f')} s)",
                s <= t["ingest_full_s"],
            )
        )
        m = r["query_rss_mib"]
        checks.append(
            (
                f"query RSS <= {t['query_rss_mib_full']:.0f} MiB (full)",
                f"{m:.0f} MiB",
                m <= t["query_rss_mib_full"],
            )
        )
        for key, label in (("dense", "dense search"), ("retrieve", "retrieve()")):
            ratios = {
                name: f[f"{key}_ratio"]
                for name, f in r.get("filters", {}).get("by_filter", {}).items()
                if name != "unfiltered" and f.get(f"{key}_ratio") is not None
            }
            if ratios:
                worst = max(ratios, key=lambda n: ratios[n])
                limit = t["filtered_ratio_full"]
                checks.append(
                    (
                        f"filtered {label} p50 <= {limit:.0f}x unfiltered (full)",
                        f"{ratios[worst]:.2f}x at worst ({worst})",
                        ratios[worst] <= limit,
                    )
                )
    return checks


def _f(v: float | None, fmt: str = ".1f") -> str:
    return "-" if v is None or v != v else format(v, fmt)


def _pair_ratio(r: dict[str, Any]) -> str:
    """Ingest over the encoder alone: the median of the back-to-back pairs, and their range."""
    pairs = r.get("ingest_vs_raw_pairs") or []
    spread = f" ({min(pairs):.0%}-{max(pairs):.0%})" if len(pairs) > 1 else ""
    return _f(r["ingest_vs_raw"], ".0%") + spread


def _ingest_rss(r: dict[str, Any]) -> str:
    ingest = r.get("ingest", {})
    child = ingest.get("encoder_process_rss_mib")
    return _f(ingest.get("rss_mib"), ".0f") + (f" + {child:,.0f}" if child else "")


def render(results: dict[str, dict[str, Any]]) -> str:
    """Markdown tables: ours, the peer's, the ratios, and the targets."""
    names = list(results)
    head = "| | " + " | ".join(f"{n} ({results[n]['paragraphs']:,} paragraphs)" for n in names) + " |"
    sep = "|---|" + "---|" * len(names)

    def row(label: str, cell: Callable[[dict[str, Any]], str]) -> str:
        return f"| {label} | " + " | ".join(cell(results[n]) for n in names) + " |"

    lines = [
        "**Ours** (rag)",
        "",
        head,
        sep,
        row("cold `rag ask --json` (s)", lambda r: _f(r["cold_ask"]["seconds"], ".2f")),
        row(
            "warm retrieve() p50 / p95 (ms)",
            lambda r: f"{_f(r['retrieve']['p50_ms'])} / {_f(r['retrieve']['p95_ms'])}",
        ),
        row("warm ask() p50 / p95 (ms)", lambda r: f"{_f(r['ask']['p50_ms'])} / {_f(r['ask']['p95_ms'])}"),
        row("ingest (s)", lambda r: _f(r["ingest"]["seconds"])),
        row("ingest (paragraphs/s)", lambda r: _f(r["ingest"]["para_per_s"], ".0f")),
        row("encoder alone (paragraphs/s)", lambda r: _f(r["encoder"]["para_per_s"], ".0f")),
        row("ingest / encoder alone, median of pairs (range)", _pair_ratio),
        row("encoder work (GFLOP, matmuls)", lambda r: _f(r["encoder"].get("gflop"), ",.0f")),
        row("floor: that work at the measured matmul rate (s)", lambda r: _f(r.get("matmul_floor_s"))),
        row("peak RSS, query process (MiB)", lambda r: _f(r["query_rss_mib"], ".0f")),
        row("peak RSS, cold ask (MiB)", lambda r: _f(r["cold_ask"]["rss_mib"], ".0f")),
        row("peak RSS, ingest (MiB; + its encoder process)", _ingest_rss),
        row("index on disk (MiB)", lambda r: _f(r["index_mib"])),
        "",
        "**Peer** (LlamaIndex default: VectorStoreIndex + Chroma + SentenceSplitter, same MiniLM via sentence-transformers)",
        "",
        head,
        sep,
        row("chunks", lambda r: f"{r['peer_ingest']['chunks']:,}"),
        row("cold start: load + one retrieval (s)", lambda r: _f(r["peer_cold"]["seconds"], ".2f")),
        row(
            "warm retrieve p50 / p95 (ms)",
            lambda r: f"{_f(r['peer_retrieve']['p50_ms'])} / {_f(r['peer_retrieve']['p95_ms'])}",
        ),
        row("ingest (s)", lambda r: _f(r["peer_ingest"]["seconds"])),
        row("peak RSS, query process (MiB)", lambda r: _f(r["peer_query_rss_mib"], ".0f")),
        row("index on disk (MiB)", lambda r: _f(r["peer_index_mib"])),
        "",
        "**Ours / peer**",
        "",
        head,
        sep,
        row("cold start", lambda r: _f(r["ratios"]["cold_start"], ".2f")),
        row("warm retrieval p50", lambda r: _f(r["ratios"]["retrieve_p50"], ".2f")),
        row("ingest time", lambda r: _f(r["ratios"]["ingest_time"], ".2f")),
        row("query RSS", lambda r: _f(r["ratios"]["query_rss"], ".2f")),
        "",
    ]
    lines += _filter_rows(results, head, sep)
    lines += [
        "**Targets**",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for target, measured, met in check_targets(results):
        lines.append(f"| {target} | {measured} | {'yes' if met else 'no'} |")
    return "\n".join(lines)


def _filter_rows(results: dict[str, dict[str, Any]], head: str, sep: str) -> list[str]:
    """The filtered-retrieval table: per filter, warm p50 / p95 and p50 over the unfiltered p50."""
    names = [n for n in results if results[n].get("filters")]
    if not names:
        return []
    filters = list(results[names[0]]["filters"]["by_filter"])

    def cell(r: dict[str, Any] | None, name: str, key: str) -> str:
        f = (r or {}).get("filters", {}).get("by_filter", {}).get(name, {})
        if key not in f:
            return "-"
        lat, share = f[key], f["share"]
        return f"{_f(lat['p50_ms'], '.2f')} / {_f(lat['p95_ms'], '.2f')} (x{_f(f.get(f'{key}_ratio'), '.2f')}; {share:.1%})"

    lines = [
        "**Filtered retrieval** (warm p50 / p95 ms; x: p50 over the unfiltered p50; the share of "
        "rows the filter keeps)",
        "",
        head,
        sep,
    ]
    for name in filters:
        for key, label in (("dense", "dense search"), ("retrieve", "retrieve()")):
            cells = " | ".join(cell(results.get(n), name, key) for n in results)
            lines.append(f"| {name}: {label} | {cells} |")
    return [*lines, ""]


def plot_latency(results: dict[str, dict[str, Any]], path: Path) -> None:
    """Warm-query latency distributions (ours: retrieve, ask; peer: retrieve), one panel per corpus."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in results if results[n].get("samples_ms")]
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        samples = results[name]["samples_ms"]
        labels = list(samples)
        ax.boxplot([samples[k] for k in labels], whis=(5, 95), showfliers=True, flierprops={"markersize": 2})
        ax.set_xticks(range(1, len(labels) + 1), labels)
        ax.set_yscale("log")
        ax.set_ylabel("ms (log)")
        ax.set_title(f"{name}: {results[name]['paragraphs']:,} paragraphs")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("warm query latency (box: p25-p75, whiskers: p5-p95)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
