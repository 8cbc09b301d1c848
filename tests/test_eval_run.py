"""The whole offline eval on the seeds, and proof that the gate catches a broken answerer."""

from __future__ import annotations

import tomllib

import pytest

from eval.run import THRESHOLDS, check_gate, evaluate, main
from rag.citations import CitationKeys
from rag.extractive import Evidence, ExtractiveAnswerer
from rag.schema import Answer, Citation


@pytest.mark.slow
def test_eval_passes_the_gate(seeds_engine) -> None:  # type: ignore[no-untyped-def]
    result = evaluate(seeds_engine, progress=False)
    thresholds = tomllib.loads(THRESHOLDS.read_text())["extractive"]
    assert check_gate(result["overall"], thresholds) == []
    assert not [r for r in result["items"] if "error" in r]
    assert set(result["by_type"]) >= {"fact", "multi", "paraphrase", "unanswerable", "followup"}


@pytest.mark.slow
def test_gate_fails_when_answerer_always_cites_the_first_paragraph(
    seeds_engine, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    def first_paragraph(self: ExtractiveAnswerer, evidence: Evidence, keys: CitationKeys) -> Answer:
        passages = tuple(evidence.retrieved.passages)
        p = passages[0]
        cite = Citation(1, p.paragraph_id, p.article_id, p.title, p.text, p.n)
        return Answer(evidence.question, p.text + " [1]", False, citations=(cite,), passages=passages)

    monkeypatch.setattr(ExtractiveAnswerer, "compose", first_paragraph)
    result = evaluate(seeds_engine, progress=False)
    failures = check_gate(result["overall"], tomllib.loads(THRESHOLDS.read_text())["extractive"])
    assert any("abstention_accuracy" in f for f in failures)
    # The same through the command's entry point: exit code 1, results still written.
    monkeypatch.setenv("RAG_MODEL_DIR", str(seeds_engine.settings.model_dir))
    argv = ["--corpus", seeds_engine.settings.corpus, "--index", str(seeds_engine.settings.index_dir)]
    assert main([*argv, "--out", str(tmp_path)]) == 1
    assert len(list(tmp_path.glob("*.json"))) == 1 and len(list(tmp_path.glob("*.png"))) == 1
