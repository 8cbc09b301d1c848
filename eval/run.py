"""The gold-set evaluation: runs every item through the engine, scores it, writes results, gates."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval import metrics as m

HERE = Path(__file__).resolve().parent
GOLD = HERE / "gold.jsonl"
NEWS_CORPUS = HERE.parent.parent / "shared" / "corpora" / "news-2024q1.jsonl"
# The gold sets `rag eval --set` names: the questions, the corpus they are about, the gate's section.
SETS = {
    "seeds": (GOLD, None, ""),
    "news": (HERE / "gold-news.jsonl", NEWS_CORPUS, "news"),
}
THRESHOLDS = HERE / "thresholds.toml"
KS = (1, 3, 5)


@dataclass(frozen=True)
class GoldItem:
    """One gold question (with earlier turns for follow-ups)."""

    id: str
    question: str
    answers: tuple[str, ...]
    evidence: tuple[tuple[str, str], ...]  # (article_id, quote)
    type: str
    history: tuple[str, ...] = ()
    as_of: str | None = None  # the date the question is asked (news sets); None: the engine's default
    # Other paragraphs that state the same answer, found by pooling and judged blind (gold-news.jsonl's
    # "also_evidence"): a citation of one is precise, finding one in the top k finds the evidence.
    also: tuple[tuple[str, str], ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_gold(path: Path = GOLD) -> list[GoldItem]:
    """Read the gold set; the evidence file name's stem is the article id."""
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        items.append(
            GoldItem(
                id=d["id"],
                question=d["question"],
                answers=tuple(d.get("answers", [])),
                evidence=tuple((Path(e["file"]).stem, e["quote"]) for e in d.get("evidence", [])),
                type=d["type"],
                history=tuple(h["question"] for h in d.get("history", [])),
                as_of=d.get("as_of"),
                also=tuple((e["file"], e["quote"]) for e in d.get("also_evidence", [])),
            )
        )
    return items


def _strip_markers(text: str) -> str:
    import re

    return re.sub(r"\s*\[\d+\]", "", text)


def score_item(item: GoldItem, answer: dict[str, Any]) -> dict[str, float | None]:
    """Metrics of one answer (`Answer.to_dict()`) against its gold item."""
    # A passage stands for its syndicated copies too (`also_in`): the same paragraph, folded.
    retrieved = [
        ((p["paragraph_id"].split("#")[0], *p.get("also_in", ())), p["text"]) for p in answer["passages"]
    ]
    cited = [((c["article_id"], *c.get("also_in", ())), c["text"]) for c in answer["citations"]]
    text = "" if answer["abstained"] else _strip_markers(answer["text"])
    out: dict[str, float | None] = {
        "citation_validity": m.citation_validity(
            [c["paragraph_id"] for c in answer["citations"]], [p["paragraph_id"] for p in answer["passages"]]
        ),
        "abstained": float(answer["abstained"]),
    }
    if item.answerable:
        either = item.evidence + item.also
        for k in KS:
            out[f"evidence_recall@{k}"] = m.evidence_recall(retrieved, item.evidence, k, item.also)
        out["mrr"] = m.reciprocal_rank(retrieved, either)
        out["exact_match"] = m.exact_match(text, item.answers)
        out["f1"] = m.token_f1(text, item.answers)
        out["containment"] = m.containment(text, item.answers)
        out["citation_precision"] = None if answer["abstained"] else m.citation_precision(cited, either)
        out["citation_recall"] = m.citation_recall(cited, either)
        # The first labels alone (the quotes written with the question), for comparison.
        out["evidence_recall@5_labelled"] = m.evidence_recall(retrieved, item.evidence, 5)
        out["citation_precision_labelled"] = (
            None if answer["abstained"] else m.citation_precision(cited, item.evidence)
        )
        # Lenient readings (an answer string, not the gold quote): a diagnostic, never gated.
        out["answer_in_top5"] = m.answer_in([p["text"] for p in answer["passages"][:5]], item.answers)
        out["citations_with_answer"] = (
            None if answer["abstained"] else m.citations_with_answer([t for _, t in cited], item.answers)
        )
    return out


def aggregate(
    items: Sequence[GoldItem], scores: Sequence[dict[str, float | None]]
) -> dict[str, float | None]:
    """Totals over a set of items: means of per-item metrics plus abstention rates."""

    def avg(key: str, pick: Callable[[GoldItem], bool] = lambda i: True) -> float | None:
        picked = [v for i, s in zip(items, scores, strict=True) if pick(i) and (v := s.get(key)) is not None]
        return m.mean(picked)

    answerable = [i.answerable for i in items]
    total: dict[str, float | None] = {"items": float(len(items))}
    for k in KS:
        total[f"evidence_recall@{k}"] = avg(f"evidence_recall@{k}", lambda i: i.answerable)
    for key in (
        "mrr",
        "exact_match",
        "f1",
        "containment",
        "citation_precision",
        "citation_recall",
        "answer_in_top5",
        "citations_with_answer",
        "evidence_recall@5_labelled",
        "citation_precision_labelled",
    ):
        total[key] = avg(key, lambda i: i.answerable)
    total["citation_validity"] = avg("citation_validity")
    total["abstention_accuracy"] = avg("abstained", lambda i: not i.answerable)
    total["false_abstention_rate"] = avg("abstained", lambda i: i.answerable) if any(answerable) else None
    return total


def run_items(
    engine: Any, items: Sequence[GoldItem], k: int | None, progress: bool = True, llm: bool = False
) -> list[dict[str, Any]]:
    """Ask every item (follow-ups inside a conversation); a failure is recorded, not raised."""
    from rag.engine import Conversation

    results = []
    started = time.perf_counter()
    for n, item in enumerate(items, start=1):
        record: dict[str, Any] = {"id": item.id, "type": item.type, "question": item.question}
        try:
            conversation = Conversation()
            for earlier in item.history:
                engine.ask(earlier, k=k, conversation=conversation, llm=llm, as_of=item.as_of)
            answer = engine.ask(
                item.question, k=k, conversation=conversation, llm=llm, as_of=item.as_of
            ).to_dict()
            record["answer"] = answer
            record["scores"] = score_item(item, answer)
        except Exception as e:  # one broken item must not hide the others' results
            record["error"] = f"{type(e).__name__}: {e}"
            record["scores"] = {"citation_validity": 0.0, "abstained": 0.0}
        results.append(record)
        if progress and (n % 10 == 0 or n == len(items)):
            print(f"eval: {n}/{len(items)} items ({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return results


def check_gate(totals: dict[str, float | None], thresholds: dict[str, float]) -> list[str]:
    """Failures as lines; `<metric>_max` keys are ceilings, the rest floors."""
    failures = []
    for key, limit in thresholds.items():
        metric = key.removesuffix("_max")
        value = totals.get(metric)
        if value is None:
            failures.append(f"{metric}: not measured (threshold {limit})")
        elif key.endswith("_max") and value > limit:
            failures.append(f"{metric} = {value:.3f} is above the ceiling {limit}")
        elif not key.endswith("_max") and value < limit:
            failures.append(f"{metric} = {value:.3f} is below the floor {limit}")
    return failures


TABLE_KEYS = [
    "evidence_recall@1",
    "evidence_recall@3",
    "evidence_recall@5",
    "mrr",
    "exact_match",
    "f1",
    "containment",
    "citation_validity",
    "citation_precision",
    "citation_recall",
    "abstention_accuracy",
    "false_abstention_rate",
    "answer_in_top5",
    "citations_with_answer",
    "evidence_recall@5_labelled",
    "citation_precision_labelled",
]


def render_table(overall: dict[str, float | None], by_type: dict[str, dict[str, float | None]]) -> str:
    """A Markdown table: metrics as rows, overall and each question type as columns."""
    types = sorted(by_type)
    head = (
        "| metric | overall | " + " | ".join(f"{t} ({int(by_type[t]['items'] or 0)})" for t in types) + " |"
    )
    lines = [head, "|" + "---|" * (len(types) + 2)]
    for key in TABLE_KEYS:
        cells = [overall.get(key)] + [by_type[t].get(key) for t in types]
        lines.append(f"| {key} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in cells) + " |")
    return "\n".join(lines)


def plot(by_type: dict[str, dict[str, float | None]], path: Path, title: str) -> None:
    """Grouped bars of the main metrics per question type."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["evidence_recall@5", "containment", "citation_precision", "abstention_accuracy"]
    types = sorted(by_type)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        vals = [by_type[t].get(key) or 0.0 for t in types]
        ax.bar([x + i * width for x in range(len(types))], vals, width, label=key)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(types))], types)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def llm_stats(results: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How the LLM fared: answers it gave, fallbacks to the extractive answerer, removed sentences."""
    answers = [r["answer"] for r in results if "answer" in r]
    return {
        "answers": len(answers),
        "llm_answers": sum(1 for a in answers if a.get("mode") == "llm"),
        "extractive_fallbacks": sum(1 for a in answers if a.get("mode") != "llm"),
        "llm_failures": sum(1 for a in answers if any("language model failed" in n for n in a["notices"])),
        "sentences_removed": sum(len(a.get("unsupported") or []) for a in answers),
        "answers_with_removals": sum(1 for a in answers if a.get("unsupported")),
    }


def evaluate(
    engine: Any, gold: Path = GOLD, k: int | None = None, progress: bool = True, llm: bool = False
) -> dict[str, Any]:
    """Run the whole gold set; returns per-item results, totals and totals by type.

    `llm=True` answers through the engine's configured LLM (and adds `llm_stats`).
    """
    items = load_gold(gold)
    started = time.perf_counter()
    results = run_items(engine, items, k, progress, llm)
    seconds = time.perf_counter() - started
    scores = [r["scores"] for r in results]
    overall = aggregate(items, scores)
    by_type = {}
    for t in sorted({i.type for i in items}):
        pairs = [(i, s) for i, s in zip(items, scores, strict=True) if i.type == t]
        by_type[t] = aggregate([p[0] for p in pairs], [p[1] for p in pairs])
    out = {"overall": overall, "by_type": by_type, "items": results, "seconds": seconds}
    if llm:
        out["llm_stats"] = llm_stats(results)
    return out


def feedback_candidates(path: Path) -> list[dict[str, Any]]:
    """Gold-set items drafted from readers' "this answer is wrong" feedback that gave the right
    answer: the question, its as-of date and that answer; evidence is for the reviewer to add."""
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            f = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash: the rest still counts
        if f.get("rating") != "down" or not str(f.get("correct_answer", "")).strip():
            continue
        item = {
            "id": f"fb{len(out) + 1:03d}",
            "question": f["question"],
            "answers": [f["correct_answer"].strip()],
            "evidence": [],
            "type": "feedback",
            "note": f"answered: {f.get('answer', '')[:200]}"
            + (f"; reader: {f['comment']}" if f.get("comment") else ""),
        }
        if f.get("as_of"):
            item["as_of"] = f["as_of"]
        out.append(item)
    return out


def print_feedback(path: Path) -> int:
    items = feedback_candidates(path)
    for item in items:
        print(json.dumps(item, ensure_ascii=False))
    print(f"eval: {len(items)} candidate gold item(s) from {path}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """`rag eval`'s options."""
    p = argparse.ArgumentParser(
        prog="rag eval", description="Run the gold-set evaluation and gate on thresholds."
    )
    p.add_argument("--corpus", help="folder(s) or file(s) of articles (default: RAG_CORPUS or seeds)")
    p.add_argument("--index", help="index folder (default: RAG_INDEX_DIR or .rag)")
    p.add_argument(
        "--set",
        dest="gold_set",
        choices=sorted(SETS),
        default="seeds",
        help="which gold set: seeds (eval/gold.jsonl over seeds/) or news (eval/gold-news.jsonl over "
        "../shared/corpora/news-2024q1.jsonl, each question at its own as-of date)",
    )
    p.add_argument("--gold", default=None, help="a gold set file instead (default: the set's)")
    p.add_argument(
        "--feedback",
        action="store_true",
        help="print the page's 'wrong answer' feedback (<index>/feedback.jsonl) as candidate gold items, "
        "one JSON line each, to review and add to a gold set; nothing is evaluated",
    )
    p.add_argument("--out", default=None, help="results folder (default eval/results)")
    p.add_argument("-k", type=int, default=None, help="passages per question")
    p.add_argument("--no-gate", action="store_true", help="report only; exit 0 whatever the metrics")
    p.add_argument(
        "--llm",
        action="store_true",
        help="answer through the configured LLM and gate on the [llm] thresholds",
    )
    p.add_argument(
        "--llamaindex-check",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="score retrieval (hit rate, MRR) by LlamaIndex's RetrieverEvaluator too and fail when it "
        "disagrees with eval/metrics.py (default: when llama-index is installed, the llamaindex extra)",
    )
    return p


def installed(module: str) -> bool:
    """Whether `module` ("llama_index.core") can be imported, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is absent
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """`rag eval [options]`: evaluate, write results, exit 1 when a metric misses its floor."""
    import rag

    args = build_parser().parse_args(argv)
    gold, default_corpus, section = SETS[args.gold_set]
    if args.corpus is None and default_corpus is not None:
        if not default_corpus.exists():
            print(f"eval: the {args.gold_set} set needs {default_corpus}; pass --corpus", file=sys.stderr)
            return 2
        args.corpus = str(default_corpus)

    overrides: dict[str, Any] = {}
    if args.corpus:
        overrides["corpus"] = args.corpus
    if args.index:
        overrides["index_dir"] = Path(args.index)
    engine = rag.open(**overrides)
    if args.feedback:
        return print_feedback(engine.settings.index_dir / "feedback.jsonl")
    report = engine.ensure_index(progress=bool(default_corpus))
    if report:
        print(f"eval: ingested {report.summary()}", file=sys.stderr)
    llm = bool(args.llm)
    mode = "llm" if llm else "extractive"
    if llm and not engine.settings.llm_configured:
        print(
            "eval: --llm needs a model: set RAG_LLM_BASE_URL (e.g. http://127.0.0.1:8080/v1) or OPENAI_API_KEY",
            file=sys.stderr,
        )
        return 2
    check_llamaindex = (
        installed("llama_index.core") if args.llamaindex_check is None else args.llamaindex_check
    )
    if check_llamaindex and not installed("llama_index.core"):
        print(
            "eval: --llamaindex-check needs llama-index: pip install 'rag-news[llamaindex]'", file=sys.stderr
        )
        return 2
    result = evaluate(engine, Path(args.gold) if args.gold else gold, args.k, llm=llm)
    if check_llamaindex:
        from eval import llamaindex_check

        result["llamaindex_check"] = llamaindex_check.check(
            engine, load_gold(Path(args.gold) if args.gold else gold), args.k
        )
    out = Path(args.out) if args.out else HERE / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    settings = engine.settings.model_dump(mode="json", exclude={"openai_api_key", "embed_api_key"})
    result.update(
        {
            "set": args.gold_set,
            "mode": mode,
            "settings": settings,
            "commit": _git_commit(),
            "timestamp": stamp,
        }
    )
    (out / f"{stamp}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    table = render_table(result["overall"], result["by_type"])
    errors = [r for r in result["items"] if "error" in r]
    md = [
        f"# Eval {stamp} ({args.gold_set}, {mode}, commit {result['commit'] or '?'})",
        "",
        table,
        "",
        f"{len(result['items'])} items in {result['seconds']:.1f} s; {len(errors)} errors.",
    ]
    if llm:
        md.append(f"LLM: {result['llm_stats']}")
    li_line = ""
    if "llamaindex_check" in result:
        from eval.llamaindex_check import summary

        li_line = summary(result["llamaindex_check"])
        md.append(li_line)
    for r in errors:
        md.append(f"- {r['id']}: {r['error']}")
    (out / f"{stamp}.md").write_text("\n".join(md) + "\n")
    plot(result["by_type"], out / f"{stamp}.png", f"rag eval ({mode}) by question type")
    print(table)
    if llm:
        print(f"\nllm: {result['llm_stats']}")
    if li_line:
        print(f"\n{li_line}")
    print(
        f"\n{len(result['items'])} items in {result['seconds']:.1f} s, {len(errors)} errors; "
        f"results in {out}/{stamp}.{{json,md,png}}"
    )
    thresholds = tomllib.loads(THRESHOLDS.read_text())[f"{section}-{mode}" if section else mode]
    failures = check_gate(result["overall"], thresholds) + [
        f"item {r['id']} failed: {r['error']}" for r in errors
    ]
    if "llamaindex_check" in result and not result["llamaindex_check"]["agree"]:
        failures.append("eval/metrics.py and LlamaIndex's RetrieverEvaluator disagree on hit rate or MRR")
    if failures and not args.no_gate:
        print("eval: GATE FAILED", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    print("eval: gate passed" if not failures else "eval: gate not applied (--no-gate)")
    return 0
