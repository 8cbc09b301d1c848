"""The chat page's handlers with a real engine: streaming, follow-ups, sources, articles, errors,
retry and feedback, the seed examples, and the background sync that `rag serve` starts."""

from __future__ import annotations

import json
import shutil
import threading
import time
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
from ui import render
from ui.app import (
    EXAMPLES,
    QUICK_ANSWER_S,
    ChatPage,
    ChatState,
    build_app,
    launch,
    main,
    parse_auth,
    seed_examples,
)
from ui.sync import IndexSync

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
MIAMI_ARTICLES = ("001_15444799d16b97f2", "004_1f2595c2addab089")


def turn(
    page: ChatPage,
    question: str,
    state: ChatState | None = None,
    **settings: Any,
) -> tuple[list[tuple[Any, ...]], ChatState, list[dict[str, Any]]]:
    """Run one turn to the end: (every streamed step, the state, the final chat history)."""
    steps = list(page.respond(question, [], state, **settings))
    final = steps[-1]
    return steps, final[1], final[0]


def last_message(history: list[dict[str, Any]]) -> str:
    assert history[-1]["role"] == "assistant"
    return history[-1]["content"]


def parts_of(app: gr.Blocks) -> dict[str, Any]:
    return {b.elem_id: b for b in app.blocks.values() if getattr(b, "elem_id", None)}


def test_build_app_has_the_page_parts(seeds_engine: Engine) -> None:
    app = build_app(seeds_engine)
    assert isinstance(app, gr.Blocks)
    parts = parts_of(app)
    assert isinstance(parts["rag-chat"], gr.Chatbot)
    assert isinstance(parts["rag-sources"], gr.HTML) and isinstance(parts["rag-article"], gr.HTML)
    assert "rag-cite" in parts["rag-counter"].js_on_load  # markers are handled on the page
    assert parts["rag-k"].value == seeds_engine.settings.top_k
    assert parts["rag-articles"].multiselect and parts["rag-articles"].value == []
    # No silent cut at the limit: the counter says it, and a longer question is refused whole.
    assert parts["rag-question"].max_length is None
    assert 'data-rag-limit="2000"' in parts["rag-counter"].value
    assert not parts["rag-chat"].show_label  # no "Conversation" label floating over the messages
    modes = [value for _, value in parts["rag-mode"].choices]
    assert modes == (["extractive", "llm"] if seeds_engine.settings.llm_configured else ["extractive"])
    assert "5 articles" in parts["rag-status"].value and "index complete" in parts["rag-status"].value
    for part in ("rag-date-from", "rag-date-to", "rag-as-of", "rag-articles-list", "rag-feedback"):
        assert part in parts, part


def test_the_article_filter_is_filled_when_the_page_is_built(seeds_engine: Engine) -> None:
    # Not only when a browser loads the page: an API call with a real id must be accepted.
    parts = parts_of(build_app(seeds_engine))
    ids = [aid for _, aid in parts["rag-articles"].choices]
    assert sorted(ids) == sorted(f.stem for f in SEEDS.glob("*.txt"))
    labels = dict((aid, label) for label, aid in parts["rag-articles"].choices)
    assert labels["003_b83f3884dc9034e7"].startswith("Kremlin Negotiations Drag On Past Midnight")
    assert (
        "undated" in labels["003_b83f3884dc9034e7"]
        and "003_b83f3884dc9034e7.txt" in labels["003_b83f3884dc9034e7"]
    )
    assert parts["rag-articles"].filterable  # typing searches every article, not only those shown first


def test_examples_are_the_seed_questions_only_over_the_seeds(seeds_engine: Engine, tmp_path: Path) -> None:
    s = seeds_engine.settings
    assert seed_examples(s.model_copy(update={"corpus": str(SEEDS)})) == EXAMPLES
    assert seed_examples(s.model_copy(update={"corpus": str(ROOT / "seeds" / ".." / "seeds")})) == EXAMPLES
    assert seed_examples(s) == []  # a copy of the seeds elsewhere is another corpus
    assert seed_examples(s.model_copy(update={"corpus": f"{SEEDS},{tmp_path}"})) == []
    shown = [
        b.value for b in build_app(seeds_engine).blocks.values() if "rag-example" in (b.elem_classes or [])
    ]
    assert shown == []
    over_seeds = Engine(s.model_copy(update={"corpus": str(SEEDS)}))
    shown = [
        b.value for b in build_app(over_seeds).blocks.values() if "rag-example" in (b.elem_classes or [])
    ]
    assert shown == EXAMPLES


def test_an_offline_answer_arrives_whole_then_cites(seeds_engine: Engine) -> None:
    page = ChatPage(seeds_engine)
    steps, state, history = turn(page, "Who is Steve Witkoff?")
    # A quick answer comes in one update with its question; no per-sentence relays: the page
    # reveals the sentences itself.
    assert len(steps) == 1
    final = last_message(history)
    assert "rag-answered" in final and "rag-reveal" in final and 'href="#rag-src-1"' in final
    assert history[-2] == {"role": "user", "content": '<div class="rag-question">Who is Steve Witkoff?</div>'}
    cited = state.cited[1]
    assert "Witkoff" in cited.quote and cited.quote in cited.text
    sources = steps[-1][2]
    assert 'id="rag-src-1"' in sources and '<mark class="rag-quote">' in sources
    assert "5 articles" in steps[-1][3]
    assert 'name="copy" value="0"' in final and 'name="wrong" value="0"' in final


def test_a_slow_offline_answer_shows_its_question_first(
    seeds_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = ChatPage(seeds_engine)
    ask_stream = seeds_engine.ask_stream

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(QUICK_ANSWER_S + 0.3)  # a big corpus, a cold cache
        return ask_stream(*args, **kwargs)

    monkeypatch.setattr(seeds_engine, "ask_stream", slow)
    steps, _, history = turn(page, "Who is Steve Witkoff?")
    assert len(steps) == 2
    assert "Searching the articles" in last_message(steps[0][0])  # the question shows at once
    assert "Who is Steve Witkoff?" in steps[0][0][-2]["content"]
    assert "rag-answered" in last_message(history)


def test_follow_up_uses_the_conversation_and_keeps_numbers(seeds_engine: Engine) -> None:
    page = ChatPage(seeds_engine)
    _, state, history = turn(page, "Who is Steve Witkoff?")
    first = dict(state.cited)
    steps, state, history = turn(page, "And who did he meet in Miami?", state)
    assert len(history) == 4
    assert "rag-reveal" not in history[1]["content"]  # an earlier answer is not revealed again
    new_keys = [k for k in state.current if k not in first]
    assert new_keys, "the follow-up should cite a paragraph the first answer did not"
    followed = state.cited[new_keys[0]]
    assert followed.article_id in MIAMI_ARTICLES and "Miami" in followed.text
    assert "Umerov" in last_message(history)
    assert all(state.cited[k] == c for k, c in first.items())  # earlier numbers kept
    assert "Cited earlier in this conversation" in steps[-1][2]
    # Citing the same paragraph again, a later turn uses the same number, not a new one.
    _, state, history = turn(page, "And who did Witkoff meet in Miami?", state)
    assert followed.key in state.current and max(state.cited) == max(new_keys)
    assert state.cited[followed.key].paragraph_id == followed.paragraph_id


def test_unanswerable_question_abstains_visibly(seeds_engine: Engine) -> None:
    page = ChatPage(seeds_engine)
    steps, state, history = turn(page, "What did Xi Jinping say about the talks?")
    final = last_message(history)
    assert "rag-abstained" in final and "No answer in the articles" in final and "Xi Jinping" in final
    assert "rag-cite" not in final
    assert state.current == [] and "rag-empty" in steps[-1][2]
    # The closest paragraphs it searched open in their article, like a cited one.
    near = page.nearest(state, "0.0")
    assert near is not None and 'value="0.0"' in final
    view = page.open_nearest(state, "0.0")
    assert f'<p class="rag-para rag-para-target" id="rag-para-{near.n}"' in view
    assert page.open_nearest(state, "0.9") == render.empty_article_html()
    assert page.open_nearest(state, "5.0") == render.empty_article_html()
    assert page.open_nearest(None, "0.0") == render.empty_article_html()


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


def test_a_bad_date_is_one_line_in_the_chat(seeds_engine: Engine) -> None:
    page = ChatPage(seeds_engine)
    _, state, history = turn(page, "Who is Steve Witkoff?", date_from="2024-13-45")
    final = last_message(history)
    assert "rag-error" in final and "2024-13-45" in final and "YYYY-MM-DD" in final
    assert 'name="retry" value="0"' in final  # fix the date, then retry


def test_open_article_scrolls_to_the_cited_paragraph(seeds_engine: Engine) -> None:
    page = ChatPage(seeds_engine)
    _, state, _ = turn(page, "And who did Steve Witkoff meet in Miami?")
    c = state.cited[state.current[0]]
    article, sources = page.open_article(state, c.paragraph_id, c.key)
    rows = seeds_engine.article(c.article_id)
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
    _, state, history = turn(page, "Who is Dmitriev?", articles=[only], k=2)
    answer = state.conversation.turns[-1].answer
    assert 0 < len(answer.passages) <= 2
    assert {p.article_id for p in answer.passages} == {only}
    assert all(c.article_id == only for c in answer.citations)
    assert "Filters:" in last_message(history)  # the answer says a filter was on


def test_retry_answers_the_last_question_again_in_place(seeds_engine: Engine) -> None:
    page = ChatPage(seeds_engine)
    _, state, _ = turn(page, "Who is Steve Witkoff?")
    _, state, history = turn(page, "And who did he meet in Miami?", state)
    keys_before = dict(state.conversation.keys)
    steps = list(page.retry(state, 1, "extractive", page.ask_kwargs("extractive", None, None)))
    history = steps[-1][0]
    assert len(history) == 4 and len(state.conversation.turns) == 2 and len(state.asked) == 2
    assert state.conversation.keys == keys_before  # the retried turn gave its numbers back first
    assert "rag-answered" in last_message(history) and "Umerov" in last_message(history)
    # An earlier question asked again goes to the end of the conversation.
    steps = list(page.retry(state, 0, "extractive", page.ask_kwargs("extractive", None, None)))
    assert len(steps[-1][0]) == 6 and len(state.asked) == 3
    assert state.asked[2].question == "Who is Steve Witkoff?"
    assert (
        list(page.retry(state, 9, "extractive", {})) == []
        and list(page.retry(None, 0, "extractive", {})) == []
    )


class ScriptedEngine(Engine):
    """The real Engine with `ask_stream` scripted; records what the page asked for."""

    def __init__(self, settings: Any, answer: Answer | Exception, chunks: tuple[str, ...] = ()) -> None:
        super().__init__(settings)
        self.answer, self.chunks = answer, chunks
        self.calls: list[dict[str, Any]] = []

    def open_index(self) -> None:
        pass

    def ask_stream(self, question: str, **kwargs: Any) -> Iterator[str | Answer]:
        self.calls.append({"question": question, **kwargs})
        if isinstance(self.answer, Exception):
            raise self.answer
        yield from self.chunks
        yield self.answer


def scripted(seeds_engine: Engine, answer: Answer | Exception, **settings: Any) -> ScriptedEngine:
    return ScriptedEngine(seeds_engine.settings.model_copy(update=settings), answer, ("Kept ", "[1] "))


def kept_answer(**fields: Any) -> Answer:
    c = Citation(1, "003_b83f3884dc9034e7#p2", "003_b83f3884dc9034e7", "T", "Kept.", 2, "", "Kept.")
    return Answer("q", "Kept. [1]", False, citations=(c,), **fields)


def test_llm_mode_is_offered_and_passed_only_when_configured(seeds_engine: Engine) -> None:
    answer = kept_answer(
        mode="extractive",
        notices=("The LLM timed out; showing the extractive answer.",),
        unsupported=("Witkoff met Xi. [1]",),
    )
    with_llm = scripted(seeds_engine, answer, llm_base_url="http://127.0.0.1:9/v1", openai_api_key=None)
    page = ChatPage(with_llm)
    assert [v for _, v in page.mode_choices()] == ["extractive", "llm"] and page.default_mode() == "llm"
    steps, _, history = turn(
        page, "q", mode="llm", k=3, articles=["a"], date_from="2024-01-01", as_of="2024-02-01"
    )
    call = with_llm.calls[-1]
    assert call["llm"] is True and call["k"] == 3 and call["articles"] == ["a"]
    assert call["date_from"] == "2024-01-01" and call["date_to"] == "" and call["as_of"] == "2024-02-01"
    assert call["conversation"] is not None
    # An LLM's words are relayed as they arrive.
    assert [last_message(s[0]) for s in steps[1:3]] == [
        render.streaming_html("Kept "),
        render.streaming_html("Kept [1] "),
    ]
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


def test_feedback_is_kept_beside_the_index(seeds_engine: Engine, tmp_path: Path) -> None:
    engine = scripted(seeds_engine, kept_answer(as_of="2024-01-12"), index_dir=tmp_path / "index")
    page = ChatPage(engine)
    _, state, _ = turn(page, "Who co-owns the Faena hotel?")
    assert "saved" in page.feedback(state, 0, "up")
    assert "saved" in page.feedback(state, 0, "down", "It names the wrong owner.", "Len Blavatnik")
    assert "nothing was saved" in page.feedback(state, 3, "up")
    assert "nothing was saved" in page.feedback(state, 0, "sideways")
    lines = [json.loads(x) for x in (tmp_path / "index" / "feedback.jsonl").read_text().splitlines()]
    assert [(x["rating"], x["comment"], x["correct_answer"]) for x in lines] == [
        ("up", "", ""),
        ("down", "It names the wrong owner.", "Len Blavatnik"),
    ]
    assert lines[0]["answer"] == "Kept. [1]" and lines[0]["as_of"] == "2024-01-12"
    assert lines[0]["citations"] == ["003_b83f3884dc9034e7#p2"]


def test_questions_of_one_conversation_are_answered_in_turn(seeds_engine: Engine) -> None:
    class Slow(ScriptedEngine):
        def ask_stream(self, question: str, **kwargs: Any) -> Iterator[str | Answer]:
            started.append(question)
            release.wait(10)
            yield from super().ask_stream(question, **kwargs)

    started: list[str] = []
    release = threading.Event()
    page = ChatPage(Slow(seeds_engine.settings, kept_answer()))
    state = ChatState()
    first = threading.Thread(target=lambda: list(page.respond("first", [], state)))
    first.start()
    while not started:
        threading.Event().wait(0.01)
    second: list[Any] = []
    t2 = threading.Thread(target=lambda: second.extend(page.respond("second", [], state)))
    t2.start()
    threading.Event().wait(0.2)
    assert started == ["first"]  # the second waits for the first
    release.set()
    first.join(10)
    t2.join(10)
    chat = second[-1][0]
    assert [m["content"] for m in chat if m["role"] == "user"] == [
        render.question_html("first"),
        render.question_html("second"),
    ]
    assert len(chat) == 4 and all("rag-answered" in m["content"] for m in chat[1::2])


def test_clear_starts_a_new_conversation(seeds_engine: Engine) -> None:
    chat, state, sources, article = ChatPage(seeds_engine).clear()
    assert chat == [] and state.conversation.turns == [] and "rag-empty" in sources and "rag-empty" in article


def test_parse_auth() -> None:
    assert parse_auth(None) is None and parse_auth("") is None
    assert parse_auth("ann:s3:cret") == ("ann", "s3:cret")
    for bad in ("ann", "ann:", ":pw"):
        with pytest.raises(ConfigError, match="user:password"):
            parse_auth(bad)


class GatedSync(Engine):
    """The real engine over an index, whose sync reports progress and waits for a gate; its
    article list grows by one article once the sync is done."""

    def __init__(self, settings: Any, gate: threading.Event) -> None:
        super().__init__(settings)
        self.gate = gate
        self.synced = False

    def ensure_index(self, progress: Any = True) -> None:
        progress("reading", 0, 0)
        progress("embedding", 3, 10)
        self.gate.wait(30)
        progress("embedding", 10, 10)
        self.synced = True
        return None

    def articles(self) -> list[Any]:
        found = super().articles()
        return found if self.synced else found[:-1]


def test_a_sync_reports_progress_then_refreshes_the_article_filter(seeds_engine: Engine) -> None:
    gate = threading.Event()
    engine = GatedSync(seeds_engine.settings, gate)
    sync = IndexSync(engine)
    app = build_app(engine, sync=sync)
    dropdown = parts_of(app)["rag-articles"]
    assert len(dropdown.choices) == 4
    page_status = ChatPage(engine, sync)
    assert sync.activity() == ""
    sync.start()
    for _ in range(100):
        if "embedding" in sync.activity():
            break
        threading.Event().wait(0.05)
    assert sync.activity() == "syncing: embedding paragraphs 3 / 10…"
    assert "syncing: embedding paragraphs 3 / 10…" in page_status.status()
    gate.set()
    assert sync.finished.wait(30)
    assert sync.activity() == "" and sync.summary().startswith("index up to date")
    assert len(dropdown.choices) == 5  # what the API accepts now (and new pages show)


def test_a_failed_sync_is_said_on_the_status_line(seeds_engine: Engine) -> None:
    class Failing(Engine):
        def ensure_index(self, progress: Any = True) -> None:
            raise IndexMissingError("the corpus folder /nope does not exist")

    sync = IndexSync(Failing(seeds_engine.settings))
    sync.start().join(10)
    assert sync.activity() == "sync failed: the corpus folder /nope does not exist"
    assert "index sync failed" in sync.summary()


@pytest.mark.slow
def test_main_serves_at_once_and_ingests_a_missing_index_in_the_background(
    make_engine, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    engine = make_engine(corpus)
    assert engine.status() is None
    port = free_port()
    app = main(host="127.0.0.1", port=port, auth="ann:pw", engine=engine, block=False)
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/config", timeout=10).status_code == 401  # up, and a login required
        assert app.rag_sync.finished.wait(120)
        status = engine.status()
        assert status is not None and status.complete and status.articles == 5
        assert app.rag_sync.report is not None and app.rag_sync.report.added == 79
        assert len(parts_of(app)["rag-articles"].choices) == 5  # filled after the sync
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.post("/login", data={"username": "ann", "password": "pw"}).status_code == 200
            assert client.get("/config").status_code == 200
        with pytest.raises(ConfigError, match="--port"):
            launch(build_app(engine), "127.0.0.1", port, block=False, quiet=True)
    finally:
        app.close()
