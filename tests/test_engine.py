"""The engine's façade: settings it accepts, what it hands out, and how the answerer asks for more."""

from __future__ import annotations

from typing import Any

import pytest

import rag
from rag.errors import ConfigError
from rag.extractive import Evidence, ExtractiveAnswerer, Lookup
from rag.schema import ArticleInfo, IndexStatus, Passage, Retrieved, Timings


@pytest.mark.parametrize(
    "setting, suggestion", [("top_kk", "'top_k'"), ("index", "'index_dir'"), ("llm_modle", "'llm_model'")]
)
def test_a_misspelt_setting_is_refused_naming_the_closest(setting: str, suggestion: str) -> None:
    with pytest.raises(ConfigError, match=f"no setting '{setting}'; did you mean {suggestion}"):
        rag.open(**{setting: 3})


def test_a_setting_with_nothing_close_lists_the_settings() -> None:
    with pytest.raises(ConfigError, match="the settings are: .*top_k"):
        rag.open(zzzzzz=1)


@pytest.mark.slow
def test_the_page_gets_articles_and_their_paragraphs_from_the_engine(seeds_engine: rag.Engine) -> None:
    seeds_engine.open_index()
    articles = seeds_engine.articles()
    assert len(articles) == 5 and all(isinstance(a, ArticleInfo) for a in articles)
    assert [a.article_id for a in articles] == sorted(a.article_id for a in articles)
    assert sum(a.paragraphs for a in articles) == 79
    first = articles[0]
    assert first.title and first.title != first.article_id  # the title, not the id again
    paragraphs = seeds_engine.article(first.article_id)
    assert len(paragraphs) == first.paragraphs
    assert all(isinstance(p, Passage) and p.article_id == first.article_id for p in paragraphs)
    assert [p.n for p in paragraphs] == sorted(p.n for p in paragraphs)
    assert seeds_engine.article("no-such-article") == []
    status = seeds_engine.status()
    assert isinstance(status, IndexStatus) and status.complete and status.paragraphs == 79


@pytest.mark.slow
def test_an_answer_carries_its_timings_as_a_frozen_record(seeds_engine: rag.Engine) -> None:
    answer = seeds_engine.ask("Who co-owns the Faena hotel?")
    assert isinstance(answer.timings_ms, Timings)
    t = answer.timings_ms
    assert 0 < t.retrieve <= t.total and 0 <= t.answer <= t.total
    assert answer.to_dict()["timings_ms"] == {
        "retrieve": round(t.retrieve, 2),
        "answer": round(t.answer, 2),
        "total": round(t.total, 2),
    }


class _Recording(ExtractiveAnswerer):
    """The shipped answerer, recording what it asks the retriever for."""

    def __init__(self) -> None:
        super().__init__()
        self.searches: list[tuple[str, int, str | None]] = []

    def gather(self, question: str, retrieved: Retrieved, lookup: Lookup, context: str = "") -> Evidence:
        answerer = self

        class Spy:
            def search(self, query: str, k: int, article: str | None = None) -> Retrieved:
                answerer.searches.append((query, k, article))
                return lookup.search(query, k, article)

            def idf(self, term: str) -> float:
                return lookup.idf(term)

            def known(self, term: str) -> bool:
                return lookup.known(term)

        return super().gather(question, retrieved, Spy(), context)


@pytest.mark.slow
def test_the_answerer_asks_for_a_second_hop_and_a_full_name_through_its_lookup(
    seeds_engine: rag.Engine, monkeypatch: Any
) -> None:
    spy = _Recording()
    monkeypatch.setattr(seeds_engine, "extractive", spy)
    seeds_engine.ask("What fund does the man who estimated the losses oversee?", llm=False)
    # The nested question: one more search under the question's own filters, for three passages.
    assert [(k, article) for _, k, article in spy.searches] == [(3, None)]
    spy.searches.clear()
    answer = seeds_engine.ask(
        "What is the full name of the expert who warned against treating individual American "
        "politicians' statements as the White House's official position?",
        llm=False,
    )
    # The answering sentence says "Fesenko": his article is searched for the paragraph naming him.
    ((query, k, article),) = spy.searches
    assert (query, k) == ("Fesenko", 10) and article == answer.citations[0].article_id
    assert "Volodymyr Fesenko" in " ".join(c.text for c in answer.citations)
    spy.searches.clear()
    seeds_engine.ask("Who co-owns the Faena hotel?", llm=False)
    assert spy.searches == []  # a plain question takes no second search


@pytest.mark.slow
def test_tuning_runs_the_shipped_pipeline(seeds_engine: rag.Engine) -> None:
    from eval.run import evaluate, load_gold
    from eval.tune import GRID, trial
    from rag.extractive import TUNING, Tuning
    from rag.retrieve import RERANK

    items = load_gold()
    try:
        tuned = trial(seeds_engine, items, {})
    finally:
        seeds_engine.extractive = ExtractiveAnswerer(TUNING)
        seeds_engine.retriever.rerank = RERANK
    shipped = evaluate(seeds_engine, progress=False)["overall"]
    assert tuned == shipped  # hops, lookups and follow-ups included: the same run as `rag eval`
    assert {f for f in Tuning.__dataclass_fields__} | {"rerank.lexical", "rerank.sentence"} <= set(GRID)
