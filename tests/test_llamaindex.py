"""The LlamaIndex adapter inside LlamaIndex's own parts, never through its global Settings."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Settings as LlamaSettings
from llama_index.core.llms import CompletionResponse, CompletionResponseGen, CustomLLM, LLMMetadata, MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine, RouterQueryEngine
from llama_index.core.schema import MetadataMode
from llama_index.core.selectors import LLMSingleSelector
from llama_index.core.tools import QueryEngineTool

from eval import llamaindex_check
from eval.run import load_gold
from eval.run import main as eval_main
from rag.llamaindex import EngineQueryEngine, EngineRetriever

ROOT = Path(__file__).resolve().parents[1]
FAENA = "Who co-owns the Faena hotel?"
FAENA_PARAGRAPH = "003_b83f3884dc9034e7#p13"

# A small news slice of our own: dated local stories, nothing about Ukraine.
NEWS = [
    {
        "id": "ferry-fares",
        "title": "Harbour ferry fares to rise in April",
        "url": "https://harbourgazette.example/ferry-fares",
        "publish_date": "2024-01-08",
        "text": "Ferry fares between Northport and the island of Skarv will rise by 12 percent on 1 April, "
        "the harbour authority announced on Monday.\n\nA single adult ticket will cost 7.40 dollars "
        "instead of 6.60. Children under twelve will continue to travel free.",
    },
    {
        "id": "stroke-unit",
        "title": "Valley hospital opens first rural stroke unit",
        "publish_date": "2024-01-15",
        "text": "The upper valley's hospital in Castleford opened the region's first rural stroke unit on "
        "Tuesday, with eight beds and eleven specialist nurses.\n\nThe unit cost 6.8 million pounds, "
        "most of it raised by a local appeal.",
    },
    {
        "id": "rail-reopens",
        "title": "Mountain rail line reopens after landslide",
        "publish_date": "2024-02-14",
        "text": "The narrow-gauge railway to the village of Roccia reopened on Tuesday, five weeks after a "
        "landslide buried 60 metres of track.\n\nThe repairs cost 3.2 million francs, the railway "
        "company said.",
    },
]


@pytest.fixture(scope="module")
def news_engine(tmp_path_factory: pytest.TempPathFactory, model_dir: Path):  # type: ignore[no-untyped-def]
    import rag

    corpus = tmp_path_factory.mktemp("news-slice")
    (corpus / "slice.jsonl").write_text("\n".join(json.dumps(a) for a in NEWS) + "\n")
    engine = rag.open(corpus=corpus, index_dir=tmp_path_factory.mktemp("news-index"), model_dir=model_dir)
    engine.ingest(progress=False)
    return engine


@pytest.fixture
def no_global_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading llama-index's global LLM or embedding model (OpenAI by default) fails the test."""
    settings_type = type(LlamaSettings)

    def forbidden(name: str) -> property:
        def read(self: Any) -> Any:
            raise AssertionError(f"llama-index's global Settings.{name} was read")

        return property(read, getattr(settings_type, name).fset)

    monkeypatch.setattr(settings_type, "llm", forbidden("llm"))
    monkeypatch.setattr(settings_type, "embed_model", forbidden("embed_model"))


class OverlapSelectorLLM(CustomLLM):
    """A stand-in LLM for LLMSingleSelector that keeps the signal: it picks the choice whose
    description shares the most words with the question, and answers in the selector's JSON."""

    prompts: list[str] = []

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="overlap-selector")

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.prompts.append(prompt)
        question = set(_words(re.search(r"question: '(.*)'", prompt).group(1)))  # type: ignore[union-attr]
        choices = re.findall(r"\((\d+)\) (.+)", prompt)
        best = max(choices, key=lambda c: len(question & set(_words(c[1]))))
        return CompletionResponse(text=json.dumps([{"choice": int(best[0]), "reason": "shared words"}]))

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        yield self.complete(prompt)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


# -- the retriever ---------------------------------------------------------------------------


def test_retriever_gives_one_node_per_paragraph_with_its_article_as_source(seeds_engine) -> None:  # type: ignore[no-untyped-def]
    passages = seeds_engine.retrieve(FAENA, k=3)
    nodes = EngineRetriever(seeds_engine, k=3).retrieve(FAENA)
    assert [n.node.node_id for n in nodes] == [p.paragraph_id for p in passages]
    assert [n.score for n in nodes] == [p.score for p in passages]
    top = nodes[0].node
    assert top.node_id == FAENA_PARAGRAPH and top.ref_doc_id == "003_b83f3884dc9034e7"
    assert top.metadata["title"] == "Kremlin Negotiations Drag On Past Midnight Without Resolution"
    assert (top.metadata["paragraph"], top.metadata["rank"]) == (13, 1)
    for mode in (MetadataMode.LLM, MetadataMode.EMBED):
        seen = top.get_content(mode)
        assert "Faena Miami Beach hotel" in seen and "title: Kremlin Negotiations" in seen
        assert FAENA_PARAGRAPH not in seen and "rank" not in seen and "article_id" not in seen
    assert "paragraph: 13" in top.get_content(MetadataMode.LLM)
    assert "paragraph: 13" not in top.get_content(MetadataMode.EMBED)


def test_retriever_filters_are_set_once_on_the_retriever(news_engine) -> None:  # type: ignore[no-untyped-def]
    question = "How much did it cost?"
    everything = {n.node.ref_doc_id for n in EngineRetriever(news_engine, k=5).retrieve(question)}
    assert everything == {"ferry-fares", "stroke-unit", "rail-reopens"}
    as_of = EngineRetriever(news_engine, k=5, as_of="2024-01-20").retrieve(question)
    assert {n.node.ref_doc_id for n in as_of} == {"ferry-fares", "stroke-unit"}
    window = EngineRetriever(news_engine, k=5, date_from="2024-01-10", date_to="2024-01-31").retrieve(
        question
    )
    assert {n.node.ref_doc_id for n in window} == {"stroke-unit"}
    only = EngineRetriever(news_engine, k=5, articles=["rail-reopens"]).retrieve(question)
    assert {n.node.ref_doc_id for n in only} == {"rail-reopens"}
    assert only[0].node.metadata["publish_date"] == "2024-02-14"
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        EngineRetriever(news_engine, k=0)


def test_retriever_async(seeds_engine) -> None:  # type: ignore[no-untyped-def]
    nodes = asyncio.run(EngineRetriever(seeds_engine, k=3).aretrieve(FAENA))
    assert nodes[0].node.node_id == FAENA_PARAGRAPH


def test_retriever_query_engine_from_args_with_a_mock_llm(seeds_engine, no_global_settings) -> None:  # type: ignore[no-untyped-def]
    engine = RetrieverQueryEngine.from_args(EngineRetriever(seeds_engine, k=3), llm=MockLLM())
    response = engine.query(FAENA)
    assert response.source_nodes[0].node.node_id == FAENA_PARAGRAPH
    # MockLLM answers with the prompt it was given: our paragraphs, titles, no ids or ranks.
    prompt = str(response)
    assert "co-owned by Blavatnik" in prompt and "title: Kremlin Negotiations" in prompt
    assert FAENA_PARAGRAPH not in prompt and "rank:" not in prompt


# -- the query engine ------------------------------------------------------------------------


def test_query_engine_carries_our_verified_answer_and_cites_as_source_nodes(seeds_engine) -> None:  # type: ignore[no-untyped-def]
    answer = seeds_engine.ask(FAENA, llm=False)
    query_engine = EngineQueryEngine(engine=seeds_engine, use_llm=False)
    for response in (query_engine.query(FAENA), asyncio.run(query_engine.aquery(FAENA))):
        assert response.response == answer.text and "[1]" in answer.text
        assert [n.node.node_id for n in response.source_nodes] == [c.paragraph_id for c in answer.citations]
        assert response.source_nodes[0].node.metadata["citation_key"] == 1
        assert response.source_nodes[0].node.metadata["quote"] == answer.citations[0].quote
        assert response.metadata["citations"] == [c.to_dict() for c in answer.citations]
        assert response.metadata["answer"].citations == answer.citations  # the whole rag.Answer
        assert response.metadata["abstained"] is False


def test_query_engine_abstains_with_no_source_nodes(seeds_engine) -> None:  # type: ignore[no-untyped-def]
    response = EngineQueryEngine(engine=seeds_engine).query("Who is Xi Jinping?")
    assert response.metadata["abstained"] is True and response.source_nodes == []
    assert "Xi Jinping" in str(response) and response.metadata["abstain_reason"]


def test_query_engine_tool_returns_our_answer(seeds_engine) -> None:  # type: ignore[no-untyped-def]
    tool = QueryEngineTool.from_defaults(
        query_engine=EngineQueryEngine(engine=seeds_engine),
        name="ukraine_talks",
        description="News about the US-Russia talks on Ukraine, with paragraph citations",
    )
    output = tool.call(FAENA)
    assert output.content == seeds_engine.ask(FAENA).text
    assert output.raw_output.metadata["citations"][0]["paragraph_id"] == FAENA_PARAGRAPH
    assert asyncio.run(tool.acall(FAENA)).content == output.content


def test_router_picks_between_our_engines_on_two_corpora(
    seeds_engine, news_engine, no_global_settings
) -> None:  # type: ignore[no-untyped-def]
    seeds_tool = QueryEngineTool.from_defaults(
        query_engine=EngineQueryEngine(engine=seeds_engine),
        description="US Russia Ukraine peace talks: Witkoff, Dmitriev, the Kremlin, Miami and the Faena hotel",
    )
    news_tool = QueryEngineTool.from_defaults(
        query_engine=EngineQueryEngine(engine=news_engine),
        description="Local news: ferry fares, a hospital stroke unit, a mountain rail line",
    )
    selector_llm = OverlapSelectorLLM()
    router = RouterQueryEngine(
        selector=LLMSingleSelector.from_defaults(llm=selector_llm),
        query_engine_tools=[seeds_tool, news_tool],
        llm=selector_llm,
    )
    talks = router.query(FAENA)
    assert talks.metadata["citations"][0]["paragraph_id"] == FAENA_PARAGRAPH
    ferry = router.query("How much will a single adult ferry ticket cost?")
    assert ferry.metadata["citations"][0]["article_id"] == "ferry-fares" and "7.40" in str(ferry)
    assert len(selector_llm.prompts) == 2


# -- LlamaIndex's RetrieverEvaluator against eval/metrics.py ----------------------------------


def test_retriever_evaluator_agrees_with_our_metrics_on_the_gold_set(seeds_engine) -> None:  # type: ignore[no-untyped-def]
    result = llamaindex_check.check(seeds_engine, load_gold())
    assert result["agree"] and not result["unscorable"] and result["items"] >= 90
    assert result["metrics_py"] == pytest.approx(result["llamaindex"], abs=llamaindex_check.TOLERANCE)
    assert 0.9 <= result["llamaindex"]["hit_rate"] <= 1.0 and 0.8 <= result["llamaindex"]["mrr"] <= 1.0


@pytest.mark.slow
def test_rag_eval_runs_the_check_and_fails_when_they_disagree(
    seeds_engine, monkeypatch, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    real = llamaindex_check.check

    def off_by_one_item(*args: Any, **kwargs: Any) -> dict[str, Any]:
        result = real(*args, **kwargs)
        result["llamaindex"] = {
            **result["llamaindex"],
            "mrr": result["llamaindex"]["mrr"] - 1 / result["items"],
        }
        result["agree"] = False
        return result

    monkeypatch.setattr(llamaindex_check, "check", off_by_one_item)
    monkeypatch.setenv("RAG_MODEL_DIR", str(seeds_engine.settings.model_dir))
    argv = ["--corpus", seeds_engine.settings.corpus, "--index", str(seeds_engine.settings.index_dir)]
    assert eval_main([*argv, "--out", str(tmp_path), "--llamaindex-check"]) == 1
    captured = capsys.readouterr()
    assert "llamaindex check (" in captured.out and "DISAGREE" in captured.out
    assert "disagree on hit rate or MRR" in captured.err
    saved = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert saved["llamaindex_check"]["agree"] is False


# -- never on the default path ---------------------------------------------------------------


def test_rag_open_ask_and_reading_html_never_import_llama_index(seeds_engine) -> None:  # type: ignore[no-untyped-def]
    # A fresh interpreter: this test process has imported llama_index already.
    settings = seeds_engine.settings
    script = f"""
import sys
from pathlib import Path
import rag
engine = rag.open(corpus={settings.corpus!r}, index_dir={str(settings.index_dir)!r}, model_dir={str(settings.model_dir)!r})
assert engine.ensure_index(progress=False) is None
answer = engine.ask({FAENA!r})
assert answer.citations, answer
from rag.corpus import load_articles
assert len(load_articles([Path({str(ROOT / "tests" / "fixtures" / "html")!r})]).articles) == 3
loaded = sorted(m for m in sys.modules if m == "llama_index" or m.startswith("llama_index."))
print(len(loaded), loaded[:3])
"""
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "0 []"
