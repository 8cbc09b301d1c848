"""Coordinate search of the shipped pipeline's weights and thresholds on a gold set.

    python -m eval.tune --corpus seeds --index .rag-eval [--rounds 2]

Every trial answers the whole gold set through `engine.ask` (second hops, full-name lookups and
follow-ups included), with one field of the answerer's `Tuning` or the retriever's `Rerank`
changed at a time, keeping a change when it raises the objective (containment + citation
precision + evidence recall@5 + half the abstention accuracy) without more than 5 % false
abstentions. Prints the best settings found; copy them into rag.extractive.TUNING and
rag.retrieve.RERANK on purpose, then check them on the held-out sets.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from eval.run import GOLD, GoldItem, aggregate, load_gold, run_items

# Values tried for each field; the current value is always tried too.
GRID: dict[str, Sequence[Any]] = {
    "w_similarity": [0.8, 1.0, 1.2],
    "w_lexical": [0.3, 0.6, 0.9],
    "w_paragraph": [0.0, 0.3, 0.6],
    "w_type": [0.1, 0.25, 0.4],
    "w_rank": [0.0, 0.15, 0.3],
    "w_head": [0.0, 0.1, 0.2],
    "min_paragraph_similarity": [0.3, 0.35, 0.4],
    "min_score": [0.4, 0.45, 0.55],
    "join_ratio": [0.85, 0.9, 0.95],
    "complete_share": [0.5, 0.6, 0.7],
    "min_verb_similarity": [0.55, 0.62, 0.7],
    "max_sentences": [1, 2, 3],
    "w_year": [0.0, 0.3, 0.5],
    "w_time_window": [0.0, 0.3, 0.6],
    "w_time_soft": [0.1, 0.3, 0.5],
    "rival_ratio": [0.85, 0.9, 0.95],
    "w_identity": [0.0, 0.3, 0.6],
    "w_count": [0.0, 0.2, 0.4],
    "w_stale": [0.0, 0.2, 0.4],
    "w_role": [0.0, 0.5, 1.0],
    "w_verb": [0.0, 0.1, 0.2, 0.3],
    "w_day": [0.0, 0.15, 0.3, 0.45],
    "w_prep": [0.0, 0.25, 0.5, 0.75],
    "rerank.pool": [30, 40, 60],
    "rerank.paragraph": [0.8, 1.0, 1.2],
    "rerank.sentence": [0.0, 0.15, 0.35],
    "rerank.lexical": [1.0, 1.35, 2.0],
    "rerank.time_window": [0.0, 0.3, 0.6],
    "rerank.time_soft": [0.15, 0.5, 0.8],
    "rerank.titles": [0, 3, 5],
    "rerank.answer_form": [0.0, 0.2, 0.4],
    "rerank.not_prose": [0.0, 0.3, 0.6],
    "rerank.role_holder": [0.0, 0.3, 0.5],
    "rerank.lede": [0.0, 0.05, 0.1],
}
MAX_FALSE_ABSTENTIONS = 0.05


def objective(totals: dict[str, float | None]) -> float:
    """What the search maximises; -1 when too many answerable questions were refused."""
    if (totals.get("false_abstention_rate") or 0.0) > MAX_FALSE_ABSTENTIONS:
        return -1.0
    return (
        (totals.get("containment") or 0.0)
        + (totals.get("citation_precision") or 0.0)
        + (totals.get("evidence_recall@5") or 0.0)
        + 0.5 * (totals.get("abstention_accuracy") or 0.0)
    )


def _apply(engine: Any, settings: dict[str, Any]) -> None:
    from rag.extractive import TUNING, ExtractiveAnswerer
    from rag.retrieve import RERANK

    tuning = replace(TUNING, **{k: v for k, v in settings.items() if not k.startswith("rerank.")})
    rerank = replace(RERANK, **{k[7:]: v for k, v in settings.items() if k.startswith("rerank.")})
    engine.extractive = ExtractiveAnswerer(tuning)
    engine.retriever.rerank = rerank


def trial(engine: Any, items: Sequence[GoldItem], settings: dict[str, Any]) -> dict[str, float | None]:
    """The gold set's totals with `settings` (field -> value) on top of the shipped ones."""
    _apply(engine, settings)
    results = run_items(engine, items, k=None, progress=False)
    return aggregate(items, [r["scores"] for r in results])


def search(engine: Any, items: Sequence[GoldItem], rounds: int = 2) -> tuple[dict[str, Any], float]:
    """Coordinate ascent over GRID from the shipped settings; returns the changes and their objective."""
    best: dict[str, Any] = {}
    best_score = objective(trial(engine, items, best))
    print(f"shipped: {best_score:.4f}", file=sys.stderr)
    for n in range(rounds):
        improved = False
        for name, values in GRID.items():
            for value in values:
                settings = {**best, name: value}
                score = objective(trial(engine, items, settings))
                if score > best_score + 1e-9:
                    best, best_score, improved = settings, score, True
                    print(f"round {n + 1}: {name}={value} -> {score:.4f}", file=sys.stderr)
        if not improved:
            break
    return best, best_score


def main(argv: Sequence[str] | None = None) -> int:
    import rag
    from rag.extractive import Tuning

    parser = argparse.ArgumentParser(prog="python -m eval.tune", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="seeds")
    parser.add_argument("--index", default=".rag-eval")
    parser.add_argument("--gold", default=str(GOLD))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    tunable = {f.name for f in fields(Tuning)}
    assert tunable <= set(GRID), f"GRID misses {tunable - set(GRID)}"
    engine = rag.open(corpus=args.corpus, index_dir=Path(args.index))
    engine.ensure_index(progress=False)
    items = load_gold(Path(args.gold))
    best, score = search(engine, items, args.rounds)
    totals = trial(engine, items, best)
    print(f"best: {best or 'the shipped settings'} (objective {score:.4f})")
    print({k: round(v, 3) for k, v in totals.items() if v is not None})
    return 0


if __name__ == "__main__":
    sys.exit(main())
