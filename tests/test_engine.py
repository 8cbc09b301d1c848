"""The engine's façade: settings it accepts, what it hands out, and how the answerer asks for more."""

from __future__ import annotations

from collections.abc import Sequence
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

            def articles_with(self, terms: Sequence[str], article_ids: Sequence[str]) -> set[str]:
                return lookup.articles_with(terms, article_ids)

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


# -- time: the as-of date, the question's time scope, reports that change -------------------


def _write_news(path, articles) -> None:  # type: ignore[no-untyped-def]
    import json

    lines = [
        json.dumps(
            {
                "id": aid,
                "title": title,
                "publish_date": date,
                "url": f"https://example.invalid/{aid}",
                "text": text,
            }
        )
        for aid, date, title, text in articles
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


NEWS = [
    (
        "pm-2017",
        "2017/05/16",
        "Veldoria names a new prime minister",
        "President Lorne of Veldoria named Anna Kestrel as the new prime minister on Tuesday.\n\n"
        "Kestrel, a former finance minister, takes over a coalition government of four parties.\n\n"
        "The opposition said the appointment would not end the budget dispute.",
    ),
    (
        "pm-2024",
        "2024/01/09",
        "Veldoria gets its youngest prime minister",
        "President Lorne of Veldoria named Tomas Brandt as the new prime minister on Tuesday.\n\n"
        "Brandt, 34, replaces Anna Kestrel, who resigned last week after seven years in office.\n\n"
        "The opposition called the choice a campaign move ahead of the European elections.",
    ),
    (
        "pm-2024-copy",
        "2024/01/10",
        "Veldoria's president picks Brandt as premier",
        "President Lorne of Veldoria named Tomas Brandt as the new prime minister on Tuesday.\n\n"
        "Brandt, 34, replaces Anna Kestrel, who resigned last week after seven years in office.\n\n"
        "Markets in the capital rose slightly on the news of the appointment.",
    ),
    (
        "budget-2023",
        "2023/03/02",
        "Veldoria passes its budget",
        "The parliament of Veldoria passed the budget by 81 votes to 70 after a night of debate.\n\n"
        "Prime Minister Anna Kestrel said the budget would cut the deficit by a third.",
    ),
]


@pytest.fixture(scope="module")
def news_engine(tmp_path_factory: pytest.TempPathFactory, model_dir: Any) -> rag.Engine:
    folder = tmp_path_factory.mktemp("news")
    _write_news(folder / "news.jsonl", NEWS)
    (folder / "undated.txt").write_text(
        "Veldoria at a glance\n\nVeldoria is a small parliamentary republic whose president names the prime minister.\n",
        encoding="utf-8",
    )
    engine = rag.open(corpus=folder, index_dir=tmp_path_factory.mktemp("news-index"), model_dir=model_dir)
    engine.ingest(progress=False)
    return engine


@pytest.mark.slow
def test_the_default_as_of_is_the_newest_article_and_the_answer_says_so(news_engine: rag.Engine) -> None:
    answer = news_engine.ask("Who did President Lorne name as prime minister?")
    assert answer.as_of == "2024-01-10"
    assert answer.to_dict()["as_of"] == "2024-01-10"


@pytest.mark.slow
def test_nothing_published_after_as_of_is_retrieved_or_cited(news_engine: rag.Engine) -> None:
    answer = news_engine.ask("Who did President Lorne name as the new prime minister?", as_of="2020-01-01")
    assert answer.as_of == "2020-01-01"
    assert all(p.publish_date <= "2020-01-01" for p in answer.passages)  # undated ones included
    assert all(c.publish_date <= "2020-01-01" for c in answer.citations)
    assert "Kestrel" in answer.text and "Brandt" not in answer.text
    assert any(
        p.article_id == "undated"
        for p in news_engine.retrieve("Veldoria president names", as_of="2020-01-01")
    )


@pytest.mark.slow
def test_the_same_question_at_two_dates_gets_two_answers(news_engine: rag.Engine) -> None:
    question = "Who is the prime minister of Veldoria?"
    then = news_engine.ask(question, as_of="2023-06-01")
    now = news_engine.ask(question, as_of="2024-01-12")
    assert "Kestrel" in then.text and "Brandt" not in then.text
    # The latest report of her in office (the 2023 budget) comes first; nothing after as-of is cited.
    assert then.citations[0].publish_date == "2023-03-02"
    assert all(c.publish_date <= "2023-06-01" for c in then.citations)
    # Two reports name two prime ministers: the latest first, the earlier one said and cited.
    assert now.text.startswith("As of 12 January 2024, the latest report (")
    latest, earlier = now.text.split(" Earlier (16 May 2017): ")
    assert "Brandt" in latest and latest.endswith("[1]") and "Kestrel" in earlier and earlier.endswith("[2]")
    assert [c.publish_date[:7] for c in now.citations] == ["2024-01", "2017-05"]


@pytest.mark.slow
def test_this_week_is_read_against_as_of(news_engine: rag.Engine) -> None:
    answer = news_engine.ask("Who was named prime minister of Veldoria this week?", as_of="2024-01-12")
    assert answer.time_scope == "this week (8 January 2024 to 12 January 2024)"
    assert "Brandt" in answer.text and answer.citations[0].publish_date >= "2024-01-08"
    before = news_engine.ask("Who was named prime minister of Veldoria this week?", as_of="2017-05-19")
    assert "Kestrel" in before.text and all(c.publish_date <= "2017-05-19" for c in before.citations)


@pytest.mark.slow
def test_syndicated_copies_are_one_passage_that_names_the_others(news_engine: rag.Engine) -> None:
    passages = news_engine.retrieve("Who replaces Anna Kestrel, who resigned last week?", k=5)
    copies = [p for p in passages if "replaces Anna Kestrel" in p.text]
    assert len(copies) == 1
    other = {"pm-2024", "pm-2024-copy"} - {copies[0].article_id}
    assert copies[0].also_in == tuple(other)


@pytest.mark.slow
def test_bad_dates_are_one_line_errors(news_engine: rag.Engine) -> None:
    from rag.errors import QuestionError

    with pytest.raises(QuestionError, match="'2024-13-45' is not a date"):
        news_engine.ask("Who is the prime minister?", date_from="2024-13-45")
    with pytest.raises(QuestionError, match="as-of date 'yesterday' is not a date"):
        news_engine.ask("Who is the prime minister?", as_of="yesterday")
    with pytest.raises(QuestionError, match="is empty"):
        news_engine.ask("Who is the prime minister?", date_from="2024-02-01", date_to="2024-01-01")


# -- daily use: filters said on the answer, follow-ups, feedback, threads -----------------------


@pytest.mark.slow
def test_a_filter_with_a_follow_up_stays_on_its_own_question(seeds_engine: rag.Engine) -> None:
    from rag.engine import Conversation

    only = ["004_1f2595c2addab089"]  # an article about the talks that never names the Faena hotel
    alone = seeds_engine.ask("Who co-owns the Faena hotel?", articles=only)
    conversation = Conversation()
    seeds_engine.ask("What did NATO say about the talks?", articles=only, conversation=conversation)
    after = seeds_engine.ask("Who co-owns the Faena hotel?", articles=only, conversation=conversation)
    # The earlier turn about NATO must not pull in an answer about something else.
    assert alone.abstained and after.abstained
    assert after.filters == (
        "only the article \u201cZelensky Inflexibility Supports US-Russia Reconciliation\u201d",
    )


@pytest.mark.slow
def test_an_unknown_article_and_a_date_range_that_hides_undated_articles_are_said(
    seeds_engine: rag.Engine,
) -> None:
    from rag.errors import QuestionError

    with pytest.raises(QuestionError, match=r"no article 'nosuch' in the index .*rag articles"):
        seeds_engine.ask("Who co-owns the Faena hotel?", articles=["nosuch"])
    dated = seeds_engine.ask("Who co-owns the Faena hotel?", date_from="2020-01-01")
    assert dated.filters == ("published on or after 2020-01-01",)
    assert "5 undated articles are outside any date range and were not searched." in dated.notices


@pytest.mark.slow
def test_a_who_is_question_gets_the_sentence_that_says_who(seeds_engine: rag.Engine) -> None:
    answer = seeds_engine.ask("Who is Dmitriev?", llm=False)
    assert "head of the Russian Direct Investment Fund" in answer.text


@pytest.mark.slow
def test_a_pasted_page_is_never_quoted_back_whole(seeds_engine: rag.Engine) -> None:
    pasted = "Zqxv " * 390  # 1,950 characters: under the limit, and no word of it in the seeds
    answer = seeds_engine.ask(pasted)
    assert answer.abstained and len(answer.abstain_reason) < 120


def test_feedback_is_kept_as_json_lines_and_listed_as_candidate_gold_items(tmp_path: Any) -> None:
    import json

    from eval.run import feedback_candidates

    engine = rag.open(corpus="seeds", index_dir=tmp_path / "index")
    engine.record_feedback(
        "Who co-owns the Faena hotel?",
        "Alan Faena [1]",
        "down",
        "wrong person",
        "Len Blavatnik",
        ["x#p1"],
        "2025-12-01",
    )
    engine.record_feedback("Who is Witkoff?", "An envoy [1]", "up")
    with pytest.raises(rag.RagError, match="rating must be 'up' or 'down'"):
        engine.record_feedback("q", "a", "meh")  # type: ignore[arg-type]
    lines = [json.loads(line) for line in (tmp_path / "index" / "feedback.jsonl").read_text().splitlines()]
    assert [f["rating"] for f in lines] == ["down", "up"] and lines[0]["citations"] == ["x#p1"]
    (item,) = feedback_candidates(tmp_path / "index" / "feedback.jsonl")
    assert item["question"] == "Who co-owns the Faena hotel?" and item["answers"] == ["Len Blavatnik"]
    assert item["as_of"] == "2025-12-01" and item["type"] == "feedback" and "wrong person" in item["note"]


@pytest.mark.slow
def test_the_engine_answers_from_many_threads_each_its_own_question(seeds_engine: rag.Engine) -> None:
    import json
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    questions = [
        json.loads(line)["question"] for line in (Path(__file__).parents[1] / "eval" / "gold.jsonl").open()
    ][:40]
    alone = {q: seeds_engine.ask(q) for q in questions}
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(seeds_engine.ask, questions * 3))
    for answer in together:
        solo = alone[answer.question]
        assert (answer.text, answer.citations, answer.abstain_reason) == (
            solo.text,
            solo.citations,
            solo.abstain_reason,
        )


@pytest.mark.slow
def test_warm_loads_the_date_parser_and_the_model_before_any_question(seeds_engine: rag.Engine) -> None:
    # In a fresh interpreter: `rag serve` calls warm() at start so its first users do not pay for it.
    import subprocess
    import sys

    s = seeds_engine.settings
    script = (
        "import sys, rag\n"
        f"e = rag.open(corpus={str(s.corpus)!r}, index_dir={str(s.index_dir)!r}, model_dir={str(s.model_dir)!r})\n"
        "assert 'dateparser' not in sys.modules and 'onnxruntime' not in sys.modules\n"
        "e.warm()\n"
        "print(sorted(m for m in ('dateparser', 'onnxruntime') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['dateparser', 'onnxruntime']"
