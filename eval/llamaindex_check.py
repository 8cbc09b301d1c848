"""LlamaIndex's RetrieverEvaluator (hit rate, MRR) over the gold evidence: an independent check of eval/metrics.py.

Both sides score the same retrieval (the engine's top k for each answerable gold question, at its
as-of date): eval/metrics.py by finding the gold quotes in the retrieved paragraphs' text,
LlamaIndex's evaluator by node ids through `rag.llamaindex.EngineRetriever`, against the ids of
the paragraphs that hold the quotes. They must agree to the rounding of the printed figures.
Here a hit is the labelled paragraph itself in the top k; `rag eval`'s recall also credits a
syndicated copy of it folded into a retrieved passage, so on the news set it can be higher.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.evaluation import RetrieverEvaluator
from llama_index.core.evaluation.retrieval.base import BaseRetrievalEvaluator

from eval import metrics as m
from eval.run import GoldItem
from rag.llamaindex import EngineRetriever

TOLERANCE = 0.0005  # the figures are printed to three decimals


def gold_paragraph_ids(engine: Any, item: GoldItem) -> list[str]:
    """The ids of the indexed paragraphs holding one of the item's evidence quotes."""
    ids: list[str] = []
    for article_id, quote in item.evidence:
        ids += [p.paragraph_id for p in engine.article(article_id) if m.quote_in(quote, p.text)]
    return list(dict.fromkeys(ids))


def check(engine: Any, items: Sequence[GoldItem], k: int | None = None) -> dict[str, Any]:
    """Hit rate and MRR of the engine's top k, by eval/metrics.py and by LlamaIndex's evaluator.

    Returns the item count, both sides' figures, whether they agree, and the ids of items whose
    gold quotes are in no indexed paragraph (left out: neither side can score them).
    """
    k = k or engine.settings.top_k
    ours: dict[str, list[float]] = {"hit_rate": [], "mrr": []}
    theirs: dict[str, list[float]] = {"hit_rate": [], "mrr": []}
    evaluators: dict[str | None, BaseRetrievalEvaluator] = {}
    unscorable = []
    for item in items:
        if not item.answerable:
            continue
        expected = gold_paragraph_ids(engine, item)
        if not expected:
            unscorable.append(item.id)
            continue
        passages = engine.retrieve(item.question, k=k, as_of=item.as_of)
        # Each passage as its own article only: the evaluator sees node ids, not the syndicated
        # copies folded into a passage (`also_in`), which `rag eval`'s own recall also credits.
        retrieved = [((p.article_id,), p.text) for p in passages]
        ours["hit_rate"].append(float(any(m.evidence_hits(retrieved, item.evidence))))
        ours["mrr"].append(m.reciprocal_rank(retrieved, item.evidence))
        if item.as_of not in evaluators:
            retriever = EngineRetriever(engine, k=k, as_of=item.as_of)
            evaluators[item.as_of] = RetrieverEvaluator.from_metric_names(
                ["hit_rate", "mrr"], retriever=retriever
            )
        result = evaluators[item.as_of].evaluate(query=item.question, expected_ids=expected)
        for name in theirs:
            theirs[name].append(float(result.metric_vals_dict[name]))
    ours_mean = {name: m.mean(values) or 0.0 for name, values in ours.items()}
    theirs_mean = {name: m.mean(values) or 0.0 for name, values in theirs.items()}
    return {
        "items": len(ours["mrr"]),
        "k": k,
        "metrics_py": ours_mean,
        "llamaindex": theirs_mean,
        "agree": all(abs(ours_mean[n] - theirs_mean[n]) <= TOLERANCE for n in ours_mean),
        "unscorable": unscorable,
    }


def summary(result: dict[str, Any]) -> str:
    """One line: both sides' hit rate and MRR."""
    ours, theirs = result["metrics_py"], result["llamaindex"]
    verdict = "agree" if result["agree"] else "DISAGREE"
    return (
        f"llamaindex check ({result['items']} items, top {result['k']}): hit rate {ours['hit_rate']:.3f} "
        f"(eval/metrics.py) / {theirs['hit_rate']:.3f} (LlamaIndex RetrieverEvaluator), "
        f"MRR {ours['mrr']:.3f} / {theirs['mrr']:.3f}: {verdict}"
    )
