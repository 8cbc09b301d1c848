"""Grid search of the extractive answerer's weights and thresholds on the gold set (retrieval cached).

    python -m eval.tune --corpus seeds --index .rag-eval

Prints the best settings by an objective that weighs answer containment, citation precision and
abstention, subject to at most 5 % false abstentions. Copy the winner into rag.extractive.Tuning.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any

from eval import metrics as m
from eval.run import GOLD, load_gold

GRID: dict[str, list[Any]] = {
    "w_lexical": [0.3, 0.6, 0.9],
    "w_paragraph": [0.0, 0.3, 0.6],
    "w_type": [0.1, 0.25, 0.4],
    "w_rank": [0.0, 0.15],
    "join_ratio": [0.8, 0.85, 0.9, 0.95],
    "min_score": [0.45, 0.55],
}


def main() -> None:
    import rag
    from rag.citations import CitationKeys
    from rag.extractive import TUNING, answer_extractive

    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="seeds")
    parser.add_argument("--index", default=".rag-eval")
    args = parser.parse_args()
    engine = rag.open(corpus=args.corpus, index_dir=Path(args.index))
    engine.ensure_index(progress=False)
    items = load_gold(GOLD)
    cached = []
    for item in items:
        context = item.history[-1] if item.history else ""
        cached.append(
            (item, engine.retriever.retrieve(item.question, engine.settings.top_k, context=context))
        )

    def evaluate(tuning: Any) -> dict[str, float]:
        contain, precision, abstain_ok, false_abstain = [], [], [], []
        for item, retrieved in cached:
            a = answer_extractive(
                item.question,
                retrieved,
                engine.index.idf,
                engine.retriever.known_term,
                CitationKeys(),
                tuning,
            )
            if not item.answerable:
                abstain_ok.append(float(a.abstained))
                continue
            false_abstain.append(float(a.abstained))
            contain.append(0.0 if a.abstained else m.containment(a.text, item.answers))
            if not a.abstained:
                precision.append(
                    m.citation_precision([(c.article_id, c.text) for c in a.citations], item.evidence)
                )
        return {
            "containment": sum(contain) / len(contain),
            "citation_precision": sum(precision) / max(1, len(precision)),
            "abstention_accuracy": sum(abstain_ok) / max(1, len(abstain_ok)),
            "false_abstention_rate": sum(false_abstain) / len(false_abstain),
        }

    results = []
    keys = list(GRID)
    for values in itertools.product(*(GRID[k] for k in keys)):
        tuning = replace(TUNING, **dict(zip(keys, values, strict=True)))
        r = evaluate(tuning)
        if r["false_abstention_rate"] <= 0.05:
            objective = r["containment"] + r["citation_precision"] + 0.5 * r["abstention_accuracy"]
            results.append((objective, values, r))
    results.sort(key=lambda x: -x[0])
    print("current:", evaluate(TUNING))
    for objective, values, r in results[:10]:
        print(
            f"{objective:.3f}", dict(zip(keys, values, strict=True)), {k: round(v, 3) for k, v in r.items()}
        )


if __name__ == "__main__":
    main()
