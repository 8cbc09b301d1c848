"""The chat page's handlers with a real engine: streaming, follow-ups, sources, articles, errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest
from fake_openai import free_port

from rag.engine import Engine
from rag.errors import ConfigError, IndexMissingError
from rag.schema import Answer, Citation
from ui.app import ChatPage, ChatState, build_app, launch, main, parse_auth

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
MIAMI_ARTICLES = ("001_15444799d16b97f2", "004_1f2595c2addab089")


def turn(
    page: ChatPage,
    question: str,
    state: ChatState | None = None,
    history: list | None = None,
    **settings: Any,
) -> tuple[list[tuple[Any, ...]], ChatState, list[dict[str, Any]]]:
    """Run one turn to the end: (every streamed step, the state, the final chat history)."""
    steps = list(page.respond(question, history or [], state, **settings))
    final = steps[-1]
    return steps, final[2], final[1]


def last_message(history: list[dict[str, Any]]) -> str:
    assert history[-1]["role"] == "assistant"
    return history[-1]["content"]


def test_build_app_has_the_page_parts(seeds_engine: Engine) -> None:
    app = build_app(seeds_engine)
    assert isinstance(app, gr.Blocks)
    parts = {b.elem_id: b for b in app.blocks.values() if getattr(b, "elem_id", None)}
    assert isinstance(parts["rag-chat"], gr.Chatbot)
    assert isinstance(parts["rag-sources"], gr.HTML) and isinstance(parts["rag-article"], gr.HTML)
    assert "rag-cite" in parts["rag-sources"].js_on_load  # markers are handled on the page
    assert parts["rag-k"].value == seeds_engine.settings.top_k
    assert parts["rag-articles"].multiselect and parts["rag-articles"].value == []
    assert parts["rag-question"].max_length == seeds_engine.settings.max_question_chars
    modes = [value for _, value in parts["rag-mode"].choices]
    assert modes == (["extractive", "llm"] if seeds_engine.settings.llm_configured else ["extractive"])
    assert "5 articles" in parts["rag-status"].value and "index complete" in parts["rag-status"].value


def test_answer_streams_in_then_cites(seeds_engine: Engine) -> None:
    page = ChatPage(seeds_engine)
    steps, state, history = turn(page, "Who is Steve Witkoff?")
    assert steps[0][0] == ""  # the question box is cleared at once
    assert "Searching the articles" in last_message(steps[0][1])
    assert any("rag-streaming" in last_message(s[1]) and "Witkoff" in last_message(s[1]) for s in steps[1:-1])
    final = last_message(history)
    assert "rag-answered" in final and 'href="#rag-src-1"' in final
    assert history[-2] == {"role": "user", "content": '<div class="rag-question">Who is Steve Witkoff?</div>'}
    cited = state.cited[1]
    assert "Witkoff" in cited.quote and cited.quote in cited.text
    sources = steps[-1][3]
    assert 'id="rag-src-1"' in sources and '<mark class="rag-quote">' in sources
    assert "5 articles" in steps[-1][4]


def test_follow_up_uses_the_conversation_and_keeps_numbers(seeds_engine: Engine) -> None:
    page = ChatPage(seeds_engine)
    _, state, history = turn(page, "Who is Steve Witkoff?")
    first = dict(state.cited)
    steps, state, history = turn(page, "And who did he meet in Miami?", state, history)
    assert len(history) == 4
    new_keys = [k for k in state.current if k not in first]
    assert new_keys, "the follow-up should cite a paragraph the first answer did not"
    followed = state.cited[new_keys[0]]
    assert followed.article_id in MIAMI_ARTICLES and "Miami" in followed.text
    assert "Umerov" in last_message(history)
    assert all(state.cited[k] == c for k, c in first.items())  # earlier numbers kept
    assert "Cited earlier in this conversation" in steps[-1][3]
    # Citing the same paragraph again, a later turn uses the same number, not a new one.
    _, state, history = turn(page, "And who did Witkoff meet in Miami?", state, history)
    assert followed.key in state.current and max(state.cited) == max(new_keys)
    assert state.cited[followed.key].paragraph_id == followed.paragraph_id


def test_unanswerable_question_abstains_visibly(seeds_engine: Engine) -> None:
    page = ChatPage(seeds_engine)
    steps, state, history = turn(page, "What did Xi Jinping say about the talks?")
    final = last_message(history)
    assert "rag-abstained" in final and "No answer in the articles" in final and "Xi Jinping" in final
    assert "rag-cite" not in final
    assert state.current == [] and "rag-empty" in steps[-1][3]


@pytest.mark.parametrize("question", ["", "   ", "x" * 2001])
def test_unusable_questions_are_refused_in_the_chat(seeds_engine: Engine, question: str) -> None:
    assert seeds_engine.settings.max_question_chars == 2000
    page = ChatPage(seeds_engine)
    steps, state, history = turn(page, question)
    final = last_message(history)
    assert "rag-error" in final and "Cannot answer that" in final
    assert ("limit is 2,000" in final) if question.strip() else ("empty" in final)
    assert state.conversation.turns == []
    assert len(final) < 1000  # the refused question is not echoed back in full


def test_open_article_scrolls_to_the_cited_paragraph(seeds_engine: Engine) -> None:
    page = ChatPage(seeds_engine)
    _, state, _ = turn(page, "And who did Steve Witkoff meet in Miami?")
    c = state.cited[state.current[0]]
    article, sources = page.open_article(state, c.paragraph_id, c.key)
    rows = seeds_engine._index.article_rows(c.article_id)
    assert article.count('<p class="rag-para') == len(rows) > c.n
    assert f'<p class="rag-para rag-para-target" id="rag-para-{c.n}"' in article
    assert article.count("rag-para-target") == 1 and '<mark class="rag-quote">' in article
    assert f'id="rag-src-{c.key}"' in sources and "rag-selected" in sources
    # Only paragraphs this conversation cited can be opened.
    uncited = next(r.paragraph_id for r in rows if r.paragraph_id != c.paragraph_id)
    assert "rag-para" not in page.open_article(state, uncited)[0]
    assert "rag-para" not in page.open_article(None, c.paragraph_id)[0]


def test_settings_filter_articles_and_passages(seeds_engine: Engine) -> None:
    page = ChatPage(seeds_engine)
    only = "002_33a30cdbeddf286c"
    _, state, _ = turn(page, "Who is Dmitriev?", articles=[only], k=2)
    answer = state.conversation.turns[-1].answer
    assert 0 < len(answer.passages) <= 2
    assert {p.article_id for p in answer.passages} == {only}
    assert all(c.article_id == only for c in answer.citations)


def test_article_choices_are_the_indexed_articles(seeds_engine: Engine) -> None:
    choices = ChatPage(seeds_engine).article_choices()
    assert [aid for _, aid in choices] == sorted(f.stem for f in SEEDS.glob("*.txt"))
    titles = {aid: label for label, aid in choices}
    assert titles["003_b83f3884dc9034e7"] == "Kremlin Negotiations Drag On Past Midnight Without Resolution"


class ScriptedEngine(Engine):
    """The real Engine with `ask_stream` scripted; records what the page asked for."""

    def __init__(self, settings: Any, answer: Answer | Exception, chunks: tuple[str, ...] = ()) -> None:
        super().__init__(settings)
        self.answer, self.chunks = answer, chunks
        self.calls: list[dict[str, Any]] = []

    def ask_stream(self, question: str, **kwargs: Any) -> Iterator[str | Answer]:
        self.calls.append({"question": question, **kwargs})
        if isinstance(self.answer, Exception):
            raise self.answer
        yield from self.chunks
        yield self.answer


def scripted(seeds_engine: Engine, answer: Answer | Exception, **settings: Any) -> ScriptedEngine:
    return ScriptedEngine(seeds_engine.settings.model_copy(update=settings), answer, ("Kept ", "[1] "))


def test_llm_mode_is_offered_and_passed_only_when_configured(seeds_engine: Engine) -> None:
    c = Citation(1, "003_b83f3884dc9034e7#p2", "003_b83f3884dc9034e7", "T", "Kept.", 2, "", "Kept.")
    answer = Answer(
        "q",
        "Kept. [1]",
        False,
        citations=(c,),
        mode="extractive",
        notices=("The LLM timed out; showing the extractive answer.",),
        unsupported=("Witkoff met Xi. [1]",),
    )
    with_llm = scripted(seeds_engine, answer, llm_base_url="http://127.0.0.1:9/v1", openai_api_key=None)
    page = ChatPage(with_llm)
    assert [v for _, v in page.mode_choices()] == ["extractive", "llm"] and page.default_mode() == "llm"
    _, _, history = turn(page, "q", mode="llm", k=3, articles=["a"])
    assert with_llm.calls[-1]["llm"] is True and with_llm.calls[-1]["k"] == 3
    assert with_llm.calls[-1]["articles"] == ["a"] and with_llm.calls[-1]["conversation"] is not None
    final = last_message(history)
    assert "The LLM timed out; showing the extractive answer." in final and "Witkoff met Xi." in final
    turn(page, "q", mode="extractive")
    assert with_llm.calls[-1]["llm"] is False

    offline = scripted(seeds_engine, answer, llm_base_url=None, openai_api_key=None)
    page = ChatPage(offline)
    assert [v for _, v in page.mode_choices()] == ["extractive"]
    turn(page, "q", mode="llm")  # a forged request cannot switch the LLM on
    assert offline.calls[-1]["llm"] is False


def test_index_errors_become_chat_messages(seeds_engine: Engine) -> None:
    broken = scripted(seeds_engine, IndexMissingError("no index in /x; run `rag ingest` first"))
    _, _, history = turn(ChatPage(broken), "Who is Steve Witkoff?")
    assert "rag-error" in last_message(history) and "run `rag ingest` first" in last_message(history)
    bug = scripted(seeds_engine, RuntimeError("boom"))
    _, _, history = turn(ChatPage(bug), "Who is Steve Witkoff?")
    assert "internal error (RuntimeError)" in last_message(history)
    assert "rag-streaming" not in last_message(history)


def test_clear_starts_a_new_conversation(seeds_engine: Engine) -> None:
    chat, state, sources, article = ChatPage(seeds_engine).clear()
    assert chat == [] and state.conversation.turns == [] and "rag-empty" in sources and "rag-empty" in article


def test_parse_auth() -> None:
    assert parse_auth(None) is None and parse_auth("") is None
    assert parse_auth("ann:s3:cret") == ("ann", "s3:cret")
    for bad in ("ann", "ann:", ":pw"):
        with pytest.raises(ConfigError, match="user:password"):
            parse_auth(bad)


@pytest.mark.slow
def test_main_ingests_a_missing_index_then_serves(make_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    engine = make_engine(corpus)
    assert engine.status() is None
    port = free_port()
    app = main(host="127.0.0.1", port=port, auth="ann:pw", engine=engine, block=False)
    try:
        status = engine.status()
        assert status is not None and status.complete and status.articles == 5
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/config", timeout=10).status_code == 401  # login required
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.post("/login", data={"username": "ann", "password": "pw"}).status_code == 200
            assert client.get("/config").status_code == 200
        with pytest.raises(ConfigError, match="--port"):
            launch(build_app(engine), "127.0.0.1", port, block=False, quiet=True)
    finally:
        app.close()
