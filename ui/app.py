"""The Gradio chat page: `build_app(engine)` builds it, `main()` serves it at once and syncs the index
in the background."""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
import unicodedata
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.state_holder import SessionState, StateHolder
from starlette.middleware import Middleware

import rag
from rag.config import Settings
from rag.engine import Conversation, Engine
from rag.errors import ConfigError, QuestionError, RagError
from rag.schema import Answer, Citation, Passage
from ui import render
from ui.assets import ARTICLE_JS, ARTICLES_JS, CSS, PAGE_JS, SEND_JS, SOURCES_JS
from ui.sync import IndexSync
from ui.web import WebGuard, allowed_host_names, is_loopback, log_line, parse_auth

__all__ = ["ChatPage", "ChatState", "build_app", "launch", "main", "parse_auth", "seed_examples"]

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
EXAMPLES = [
    "Who co-owns the Faena hotel?",
    "Who accompanied Steve Witkoff to the talks with Putin in Moscow?",
    "Where did NATO foreign ministers meet?",
]
# Questions answered at once: the engine is thread-safe and a question is mostly numpy and ONNX
# work that releases the GIL; twice the cores keeps both busy while others wait on the network.
PAGE_WORKERS = max(2, 2 * (os.cpu_count() or 1))
# An offline answer ready this soon is shown in one update (half the page's work per question:
# eval/PERFORMANCE.md); a slower one shows the question and "Searching..." first.
QUICK_ANSWER_S = 0.15
_ANSWERING = ThreadPoolExecutor(max_workers=PAGE_WORKERS, thread_name_prefix="rag-answer")
SESSION_WAIT_S = 120.0  # a question waits this long for the previous one of its conversation
RATINGS = {"up": "up", "down": "down"}


@dataclass(eq=False)
class Asked:
    """One question a session sent, what it got, and the conversation as it was before it."""

    question: str
    answer: Answer | None = None
    turns_before: int = 0
    keys_before: dict[str, int] = field(default_factory=dict)
    cited_before: dict[int, Citation] = field(default_factory=dict)


@dataclass(eq=False)
class ChatState:
    """One browser session: the conversation, every paragraph it has cited by key, and the chat."""

    conversation: Conversation = field(default_factory=Conversation)
    cited: dict[int, Citation] = field(default_factory=dict)
    current: list[int] = field(default_factory=list)
    asked: list[Asked] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    offset: int = 0  # chat messages before the first question (an API client's own history)


class ChatPage:
    """What the page does, without the layout: the handlers `build_app` wires to components."""

    def __init__(self, engine: Engine, sync: IndexSync | None = None) -> None:
        self.engine = engine
        self.sync = sync
        self.llm_available = bool(engine.settings.llm_configured)
        self._open_lock = threading.Lock()
        self._opened = False
        self._locks_lock = threading.Lock()
        self._session_locks: weakref.WeakKeyDictionary[ChatState, threading.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def open_index(self) -> None:
        """Open the index once, under a lock: Gradio calls handlers from several threads, and
        opening (Chroma client, BM25 snapshot) must not race; reads afterwards may overlap."""
        if self._opened:
            return
        with self._open_lock:
            if not self._opened:
                self.engine.open_index()
                self._opened = True

    def mode_choices(self) -> list[tuple[str, str]]:
        """Answer modes the user may pick: LLM only when one is configured."""
        choices = [("Extractive (offline)", "extractive")]
        if self.llm_available:
            choices.append(("LLM", "llm"))
        return choices

    def default_mode(self) -> str:
        return "llm" if self.llm_available else "extractive"

    def ask_kwargs(
        self,
        mode: str,
        k: float | None,
        articles: Sequence[str] | None,
        as_of: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments for `Engine.ask_stream` from the settings area."""
        return {
            "k": int(k) if k else None,
            "articles": list(articles) if articles else None,
            "llm": mode == "llm" and self.llm_available,
            "as_of": (as_of or "").strip() or None,
            "date_from": (date_from or "").strip(),
            "date_to": (date_to or "").strip(),
        }

    # -- asking ---------------------------------------------------------------------------

    def respond(
        self,
        question: str,
        history: list[dict[str, Any]] | None,
        state: ChatState | None,
        mode: str = "extractive",
        k: float | None = None,
        articles: Sequence[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        as_of: str | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream one turn: yields (chat, state, sources, status) as the answer grows. The filters
        default to None, which keeps them optional in the page's API (clients written before them work).

        Questions of one session are answered in turn: a second one sent while the first is
        being answered waits for it, and follows it in the chat.
        """
        state = state if isinstance(state, ChatState) else ChatState()
        settings = self.ask_kwargs(mode, k, articles, as_of, date_from, date_to)
        with self._session(state) as ready:
            if not ready:
                yield self._busy(state, history, question)
                return
            if not state.asked and not state.messages and history:
                state.messages = [_message(m.get("role", "user"), _text(m)) for m in history]
                state.offset = len(state.messages)
            yield from self._turn(state, question or "", settings, None, mode)

    def retry(
        self, state: ChatState | None, turn: int, mode: str, settings: dict[str, Any]
    ) -> Iterator[tuple[Any, ...]]:
        """Ask question `turn` of the session again: the last one is answered anew in place (its
        citation numbers given back first); an earlier one is asked again at the end."""
        if not isinstance(state, ChatState) or not 0 <= turn < len(state.asked):
            return
        with self._session(state) as ready:
            if not ready:
                return
            asked = state.asked[turn]
            if turn == len(state.asked) - 1:
                state.conversation.turns[asked.turns_before :] = []
                state.conversation.keys = dict(asked.keys_before)
                state.cited = dict(asked.cited_before)
                yield from self._turn(state, asked.question, settings, turn, mode)
            else:
                yield from self._turn(state, asked.question, settings, None, mode)

    def _turn(
        self, state: ChatState, question: str, settings: dict[str, Any], slot: int | None, mode: str
    ) -> Iterator[tuple[Any, ...]]:
        shown = printable(question)  # what the engine answers: no NUL, ESC, bidi overrides
        limit = self.engine.settings.max_question_chars
        if len(shown) > limit:  # the engine refuses it; do not echo megabytes back either
            shown = shown[:limit] + "…"
        asked = Asked(
            question,
            None,
            len(state.conversation.turns),
            dict(state.conversation.keys),
            dict(state.cited),
        )
        state.messages = [_message(m["role"], render.settled(m["content"])) for m in state.messages]
        pair = [
            _message("user", render.question_html(shown)),
            _message("assistant", render.streaming_html("")),
        ]
        if slot is None:
            state.asked.append(asked)
            turn = len(state.asked) - 1
            state.messages.extend(pair)
        else:
            turn = slot
            state.asked[turn] = asked
            at = state.offset + 2 * turn
            state.messages[at : at + 2] = pair
        at = state.offset + 2 * turn + 1
        asking = list(state.messages), state, gr.skip(), gr.skip()  # the question, "Searching..."

        def show(html: str) -> list[dict[str, Any]]:
            state.messages[at] = _message("assistant", html)
            return list(state.messages)

        answer: Answer | None = None
        text = ""
        try:
            if settings.get("llm"):  # an LLM's words as they come, after the question at once
                yield asking
                self.open_index()
                for item in self.engine.ask_stream(question, conversation=state.conversation, **settings):
                    if isinstance(item, Answer):
                        answer = item
                    else:
                        text += item
                        yield show(render.streaming_html(text)), state, gr.skip(), gr.skip()
            else:  # offline answers arrive whole: one update when quick, the question first when not
                pending = _ANSWERING.submit(self._offline, question, state.conversation, settings)
                try:
                    answer = pending.result(timeout=QUICK_ANSWER_S)
                except FutureTimeout:
                    yield asking
                    answer = pending.result()
        except QuestionError as e:
            yield show(render.error_html(str(e), turn)), state, gr.skip(), gr.skip()
            return
        except RagError as e:  # index missing or busy, store unreachable: say what to do
            message = str(e)
            activity = self.sync.activity() if self.sync else ""
            if activity:
                message = f"{message}\nThe server is {activity.removeprefix('syncing: ')} right now; retry in a moment."
            yield show(render.error_html(message, turn)), state, gr.skip(), self.status(mode)
            return
        except Exception as e:  # a bug: say so in the chat instead of leaving "Searching…" up
            traceback.print_exc(file=sys.stderr)
            message = f"internal error ({type(e).__name__}); the server log has the details"
            yield show(render.error_html(message, turn)), state, gr.skip(), gr.skip()
            return
        if answer is None:  # the stream must end with the Answer; never show a half answer as done
            yield (
                show(render.error_html("the answer stream ended early; ask again", turn)),
                state,
                gr.skip(),
                gr.skip(),
            )
            return
        state.asked[turn].answer = answer
        state.current = [c.key for c in answer.citations]
        for c in answer.citations:
            state.cited[c.key] = c
        yield show(render.answer_html(answer, turn)), state, self.sources(state), self.status(mode)

    def _offline(self, question: str, conversation: Conversation, settings: dict[str, Any]) -> Answer | None:
        """The extractive answer (None if the stream ended without one)."""
        self.open_index()
        items = self.engine.ask_stream(question, conversation=conversation, **settings)
        return next((item for item in items if isinstance(item, Answer)), None)

    def _session(self, state: ChatState) -> _SessionTurn:
        with self._locks_lock:
            lock = self._session_locks.setdefault(state, threading.Lock())
        return _SessionTurn(lock)

    def _busy(self, state: ChatState, history: Any, question: str) -> tuple[Any, ...]:
        chat = list(state.messages) or list(history or [])
        chat.append(
            _message(
                "assistant", render.error_html("the previous question is still being answered; ask again")
            )
        )
        return chat, state, gr.skip(), gr.skip()

    # -- sources, articles, feedback ------------------------------------------------------

    def sources(self, state: ChatState | None, selected: int | None = None) -> str:
        """The sources panel for this session."""
        if not isinstance(state, ChatState):
            return render.sources_html([])
        return render.sources_html(list(state.cited.values()), state.current, selected)

    def open_article(
        self, state: ChatState | None, paragraph_id: str, key: int | None = None
    ) -> tuple[str, str]:
        """(article view, sources panel) with cited paragraph `paragraph_id` opened in its article.

        Only paragraphs this session has cited can be opened; anything else leaves the view empty.
        """
        if not isinstance(state, ChatState):
            return render.empty_article_html(), self.sources(None)
        citation = next((c for c in state.cited.values() if c.paragraph_id == paragraph_id), None)
        if citation is None:
            return render.empty_article_html(), self.sources(state)
        view = self._article_view(citation.article_id, citation.n, citation.quote, citation.key, citation)
        return view, self.sources(state, citation.key)

    def open_nearest(self, state: ChatState | None, ref: str) -> str:
        """The article view at one of the closest paragraphs an abstention showed (`ref`: "turn.i")."""
        passage = self.nearest(state, ref)
        if passage is None:
            return render.empty_article_html()
        return self._article_view(passage.article_id, passage.n, "", None, passage)

    @staticmethod
    def nearest(state: ChatState | None, ref: str) -> Passage | None:
        """Closest paragraph `i` of question `turn` of this session ("turn.i"), if it was shown."""
        turn, _, i = str(ref).partition(".")
        if not isinstance(state, ChatState) or not turn.isdigit() or not i.isdigit():
            return None
        if int(turn) >= len(state.asked):
            return None
        answer = state.asked[int(turn)].answer
        if answer is None or not answer.abstained:
            return None
        shown = answer.nearest(render.NEAREST)
        return shown[int(i)] if int(i) < len(shown) else None

    def _article_view(
        self, article_id: str, n: int, quote: str, key: int | None, fallback: Citation | Passage
    ) -> str:
        try:
            self.open_index()
            rows = self.engine.article(article_id)
        except RagError as e:
            return render.error_html(str(e))
        if not rows:
            return render.empty_article_html()
        return render.article_html(
            rows[0].title or fallback.title,
            rows[0].url or fallback.url,
            [(r.n, r.text) for r in rows],
            n,
            quote,
            key,
            rows[0].publish_date or fallback.publish_date,
        )

    def feedback(
        self, state: ChatState | None, turn: int, rating: str, comment: str = "", correct_answer: str = ""
    ) -> str:
        """Keep a verdict on answer `turn` (`Engine.record_feedback`); returns what to tell the reader."""
        answer = self.answer_of(state, turn)
        if answer is None:
            return "That answer is no longer in this conversation; nothing was saved."
        if rating not in RATINGS:
            return f"Unknown rating {rating!r}; nothing was saved."
        try:
            self.engine.record_feedback(
                answer.question,
                answer.abstain_reason if answer.abstained else answer.text,
                RATINGS[rating],  # type: ignore[arg-type]
                comment=(comment or "").strip(),
                correct_answer=(correct_answer or "").strip(),
                citations=tuple(c.paragraph_id for c in answer.citations),
                as_of=answer.as_of,
            )
        except (RagError, OSError) as e:
            return f"Could not save the feedback: {e}"
        return "Thanks: your feedback is saved beside the index (feedback.jsonl)."

    @staticmethod
    def answer_of(state: ChatState | None, turn: int) -> Answer | None:
        if not isinstance(state, ChatState) or not 0 <= turn < len(state.asked):
            return None
        return state.asked[turn].answer

    # -- the index ------------------------------------------------------------------------

    def status(self, mode: str = "extractive") -> str:
        """The status line: corpus size, index state, and what a background sync is doing."""
        activity = self.sync.activity() if self.sync else ""
        try:
            status = self.engine.status()
        except RagError as e:
            return (
                render.status_html(None, mode, activity)
                + f'<div class="rag-status-warn">{render.escape(str(e))}</div>'
            )
        return render.status_html(status, mode, activity)

    def articles(self) -> list[Any]:
        """Every indexed article (`ArticleInfo`), newest first; [] while there is no index."""
        try:
            return render.article_order(self.engine.articles())
        except RagError:
            return []

    def article_choices(self) -> list[tuple[str, str]]:
        """(label, article_id) of every indexed article, for the article filter (newest first)."""
        return [(render.article_label(a), a.article_id) for a in self.articles()]

    def articles_view(self, query: str = "") -> str:
        """The articles view, filtered by `query`."""
        return render.articles_html(self.articles(), query or "")

    def syncing(self) -> bool:
        return bool(self.sync and self.sync.running)

    def clear(self) -> tuple[Any, ...]:
        """A fresh conversation: (chat, state, sources, article view)."""
        return [], ChatState(), render.sources_html([]), render.empty_article_html()


class _SessionTurn:
    """Holds a session's lock for one turn (a generator may resume on another thread: a plain Lock)."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.held = False

    def __enter__(self) -> bool:
        self.held = self.lock.acquire(timeout=SESSION_WAIT_S)
        return self.held

    def __exit__(self, *exc: object) -> None:
        if self.held:
            self.lock.release()
            self.held = False


def seed_examples(settings: Settings) -> list[str]:
    """The "Try" questions: they are about the bundled seed articles, so only when those are the corpus."""
    try:
        paths = [p.resolve() for p in settings.corpus_paths]
    except OSError:
        return []
    return list(EXAMPLES) if paths == [SEEDS.resolve()] else []


def printable(text: str) -> str:
    """`text` without control and format characters (as `Engine` cleans a question), but newlines and tabs."""
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")


def _message(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "content": content}


def _text(message: dict[str, Any]) -> str:
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def _event_data(evt: gr.EventData) -> dict[str, Any]:
    data = getattr(evt, "_data", None)
    return data if isinstance(data, dict) else {}


def _int(value: Any) -> int | None:
    text = str(value)
    return int(text) if text.isdigit() else None


class _Page(gr.Blocks):
    """Blocks whose refused requests (malformed input, a value not among the choices) are one
    line in the log and one message to the client, never a traceback per request."""

    async def process_api(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return await super().process_api(*args, **kwargs)
        except Exception as e:
            fn = args[0] if args else kwargs.get("block_fn")
            name = getattr(fn, "api_name", None) or getattr(fn, "name", None) or "an event"
            message = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            log_line(f"refused a request to {name}: {message}")
            if isinstance(e, gr.Error):
                e.print_exception = False
                raise
            raise gr.Error(f"bad request: {message}", print_exception=False) from None


class _LazySession(SessionState):
    """Gradio's per-session state, without the component configs kept for deep links.

    Gradio builds every component's config when a session starts, and again for each value an
    event changes, only for `/gradio_api/deep_link` (which this page does not offer); each call of
    the page's API is a new session, and on this page that cost about as much of the server's
    interpreter lock as the answer itself, then 6 % of it per answer (eval/PERFORMANCE.md).
    """

    def __init__(self, blocks: gr.Blocks) -> None:
        shown_none = type("NoBlocks", (), {"default_config": blocks.default_config, "blocks": {}})()
        super().__init__(shown_none)

    def _update_config(self, key: int) -> None:
        pass

    def _update_value_in_config(self, key: int, value: Any) -> None:
        pass


class _SessionStates(StateHolder):
    """Gradio's session store, making `_LazySession`s."""

    def __getitem__(self, session_id: str) -> SessionState:
        if session_id not in self.session_data:
            self.session_data[session_id] = _LazySession(self.blocks)
        return super().__getitem__(session_id)


def build_app(
    engine: Engine, examples: Sequence[str] | None = None, sync: IndexSync | None = None
) -> gr.Blocks:
    """The chat page over `engine`; launch it with `launch()` (tests pass any engine).

    Args:
        engine: The engine that answers.
        examples: The "Try" questions; default: the seed questions when the corpus is the
            bundled seeds folder, else none.
        sync: A background index sync whose progress the status line shows (`main` starts one).
    """
    page = ChatPage(engine, sync)
    settings = engine.settings
    limit = settings.max_question_chars
    examples = seed_examples(settings) if examples is None else list(examples)
    with _Page(title="News Q&A with citations", analytics_enabled=False) as app:
        state = gr.State(ChatState())
        feedback_turn = gr.State(-1)
        timer = gr.Timer(1.0, active=False)
        with gr.Row(equal_height=False, elem_id="rag-header"):
            gr.Markdown(
                "## Ask the news articles\nEvery sentence of an answer cites the paragraph it comes from."
            )
            status = gr.HTML(page.status(page.default_mode()), elem_id="rag-status", js_on_load=None)
        with gr.Tabs(elem_id="rag-tabs") as tabs:
            with gr.Tab("Ask", id="ask", elem_id="rag-tab-ask"), gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=320, elem_id="rag-main"):
                    chat = gr.Chatbot(
                        elem_id="rag-chat",
                        show_label=False,
                        height="auto",
                        min_height=80,
                        max_height="65vh",
                        buttons=[],
                        feedback_options=None,
                        latex_delimiters=[],
                        allow_tags=False,
                        sanitize_html=True,
                        layout="bubble",
                        placeholder="Ask a question about the articles. Follow-ups like "
                        "“And who did he meet in Miami?” use the conversation so far.",
                    )
                    with gr.Group(visible=False, elem_id="rag-feedback") as feedback_box:
                        feedback_about = gr.HTML("", elem_id="rag-feedback-about", js_on_load=None)
                        comment = gr.Textbox(
                            label="What is wrong? (optional)",
                            lines=2,
                            max_length=2000,
                            elem_id="rag-feedback-comment",
                        )
                        correct = gr.Textbox(
                            label="The correct answer, if you know it (optional)",
                            max_length=500,
                            elem_id="rag-feedback-correct",
                        )
                        with gr.Row():
                            feedback_send = gr.Button(
                                "Send feedback", variant="primary", size="sm", elem_id="rag-feedback-send"
                            )
                            feedback_cancel = gr.Button("Cancel", size="sm", elem_id="rag-feedback-cancel")
                    with gr.Row(equal_height=True):
                        question = gr.Textbox(
                            elem_id="rag-question",
                            show_label=False,
                            placeholder="Ask about the articles…",
                            lines=1,
                            max_lines=6,
                            scale=5,
                            autofocus=True,
                        )
                        send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="rag-send")
                    bridge = gr.HTML(
                        render.counter_html(limit).replace(
                            "</div>",
                            '<button type="button" class="rag-sources-toggle">Sources</button></div>',
                            1,
                        ),
                        elem_id="rag-counter",
                        js_on_load=PAGE_JS,
                    )
                    pending = gr.Textbox(visible=False, label="question", elem_id="rag-pending")
                    example_buttons = []
                    if examples:
                        with gr.Row(elem_id="rag-examples"):
                            gr.HTML(
                                '<span class="rag-try">Try:</span>',
                                js_on_load=None,
                                elem_classes="rag-try",
                            )
                            for q in examples:
                                example_buttons.append(
                                    (
                                        q,
                                        gr.Button(
                                            q,
                                            size="sm",
                                            variant="secondary",
                                            scale=0,
                                            min_width=0,
                                            elem_classes="rag-example",
                                        ),
                                    )
                                )
                    clear = gr.Button("New conversation", size="sm", scale=0, elem_id="rag-clear")
                    with gr.Accordion("Filters and settings", open=True, elem_id="rag-settings"):
                        articles = gr.Dropdown(
                            choices=page.article_choices(),
                            value=[],
                            multiselect=True,
                            filterable=True,
                            num_choices_shown=50,
                            label="Search only these articles (empty: all)",
                            info="Type to search titles, dates and sites.",
                            elem_id="rag-articles",
                        )
                        with gr.Row():
                            date_from = gr.Textbox(
                                label="Published from",
                                placeholder="YYYY-MM-DD",
                                max_length=10,
                                elem_id="rag-date-from",
                            )
                            date_to = gr.Textbox(
                                label="Published to",
                                placeholder="YYYY-MM-DD",
                                max_length=10,
                                elem_id="rag-date-to",
                            )
                            as_of = gr.Textbox(
                                label="As of (YYYY-MM-DD)",
                                placeholder="empty: the newest article's date",
                                max_length=10,
                                elem_id="rag-as-of",
                            )
                        gr.Markdown(
                            "A date range keeps only articles published in it (undated ones are left out). "
                            "*As of* is the question's “now”: nothing published later is used, and "
                            "“this week” or “current” are read against it.",
                            elem_classes="rag-help",
                        )
                        mode = gr.Radio(
                            page.mode_choices(),
                            value=page.default_mode(),
                            label="Answer mode",
                            info=None
                            if page.llm_available
                            else "LLM answers need RAG_LLM_BASE_URL or OPENAI_API_KEY; none is set.",
                            interactive=page.llm_available,
                            elem_id="rag-mode",
                        )
                        k = gr.Slider(
                            1,
                            20,
                            value=settings.top_k,
                            step=1,
                            label="Passages to retrieve",
                            elem_id="rag-k",
                        )
                with gr.Column(scale=2, min_width=300, elem_id="rag-side"):
                    gr.HTML(
                        '<div class="rag-drawer-bar"><strong>Sources</strong>'
                        '<button type="button" class="rag-drawer-close">Close ✕</button></div>',
                        js_on_load=None,
                    )
                    gr.Markdown("### Sources", elem_classes=["rag-side-head", "rag-sources-head"])
                    sources = gr.HTML(render.sources_html([]), elem_id="rag-sources", js_on_load=SOURCES_JS)
                    gr.Markdown("### Article", elem_classes="rag-side-head")
                    article = gr.HTML(
                        render.empty_article_html(), elem_id="rag-article", js_on_load=ARTICLE_JS
                    )
            with gr.Tab("Articles", id="articles", elem_id="rag-tab-articles"):
                article_search = gr.Textbox(
                    show_label=False,
                    placeholder="Search the indexed articles: words of a title, a date (2024-01), a site…",
                    elem_id="rag-article-search",
                )
                articles_list = gr.HTML(
                    page.articles_view(), elem_id="rag-articles-list", js_on_load=ARTICLES_JS
                )

        filters = [mode, k, articles, date_from, date_to, as_of]
        ask_outputs = [chat, state, sources, status]

        def ask_chain(trigger: Any, js: str, inputs: list[Any], public: bool) -> None:
            trigger(None, inputs, [question, pending], js=js, queue=False, show_progress="hidden").then(
                page.respond,
                [pending, chat, state, *filters],
                ask_outputs,
                api_name="respond" if public else None,
                api_visibility="public" if public else "private",
                concurrency_id="ask",
                concurrency_limit=PAGE_WORKERS,
                trigger_mode="multiple",
                show_progress="hidden",
            )

        ask_chain(question.submit, SEND_JS, [question], True)
        ask_chain(send.click, SEND_JS, [question], False)
        for q, button in example_buttons:
            ask_chain(
                button.click,
                f"() => {{ setTimeout(() => window.__ragCount && window.__ragCount(), 0); return ['', {json.dumps(q)}]; }}",
                [],
                False,
            )

        def on_sources_click(st: ChatState | None, evt: gr.EventData) -> tuple[Any, Any]:
            data = _event_data(evt)
            pid = data.get("open")
            if not isinstance(pid, str):
                return gr.skip(), gr.skip()
            key = data.get("key")
            return page.open_article(st, pid, key if isinstance(key, int) else None)

        sources.click(on_sources_click, [state], [article, sources], api_visibility="private")

        def on_action(
            st: ChatState | None,
            mode_: str,
            k_: float | None,
            articles_: list[str] | None,
            from_: str,
            to_: str,
            as_of_: str,
            evt: gr.EventData,
        ) -> Iterator[tuple[Any, ...]]:
            """A button under an answer: retry, rate, "this answer is wrong", or open a closest paragraph."""
            data = _event_data(evt)
            action, value = data.get("action"), data.get("turn")
            if action == "retry" and (turn := _int(value)) is not None:
                options = page.ask_kwargs(mode_, k_, articles_, as_of_, from_, to_)
                for out in page.retry(st, turn, mode_, options):
                    yield (*out, gr.skip(), gr.skip(), gr.skip(), gr.skip())
            elif action in RATINGS and (turn := _int(value)) is not None:
                gr.Info(page.feedback(st, turn, action))
                yield (gr.skip(),) * 4 + (gr.skip(),) * 4
            elif action == "wrong" and (turn := _int(value)) is not None and page.answer_of(st, turn):
                answer = page.answer_of(st, turn)
                about = f'<div class="rag-feedback-q">What is wrong with the answer to “{render.escape(answer.question if answer else "")}”?</div>'
                yield (gr.skip(),) * 4 + (gr.skip(), gr.Group(visible=True), turn, about)
            elif action == "near":
                yield (gr.skip(),) * 4 + (page.open_nearest(st, str(value)), gr.skip(), gr.skip(), gr.skip())
            else:
                yield (gr.skip(),) * 4 + (gr.skip(),) * 4

        bridge.click(
            on_action,
            [state, *filters],
            [*ask_outputs, article, feedback_box, feedback_turn, feedback_about],
            api_visibility="private",
            concurrency_id="ask",
            concurrency_limit=PAGE_WORKERS,
            trigger_mode="multiple",
            show_progress="hidden",
        )

        def on_feedback_send(
            st: ChatState | None, turn: int, comment_: str, correct_: str
        ) -> tuple[Any, ...]:
            gr.Info(page.feedback(st, int(turn), "down", comment_, correct_))
            return gr.Group(visible=False), "", "", -1

        feedback_send.click(
            on_feedback_send,
            [state, feedback_turn, comment, correct],
            [feedback_box, comment, correct, feedback_turn],
            api_visibility="private",
        )
        feedback_cancel.click(
            lambda: (gr.Group(visible=False), "", "", -1),
            None,
            [feedback_box, comment, correct, feedback_turn],
            api_visibility="private",
        )

        def on_clear() -> tuple[Any, ...]:
            return (*page.clear(), [], "", "", "", gr.Group(visible=False))

        clear_outputs = [chat, state, sources, article, articles, date_from, date_to, as_of, feedback_box]
        clear.click(on_clear, None, clear_outputs, api_visibility="private")
        chat.clear(on_clear, None, clear_outputs, api_visibility="private")  # the chat's own trash button
        mode.change(page.status, [mode], [status], api_visibility="private")

        article_search.change(
            page.articles_view,
            [article_search],
            [articles_list],
            api_visibility="private",
            show_progress="hidden",
        )

        def on_articles_click(chosen: list[str] | None, evt: gr.EventData) -> tuple[Any, ...]:
            only = _event_data(evt).get("only")
            if not isinstance(only, str) or only not in {aid for _, aid in page.article_choices()}:
                return gr.skip(), gr.skip()
            gr.Info("Questions now search only that article; clear the filter to search them all.")
            return [only], gr.Tabs(selected="ask")

        articles_list.click(on_articles_click, [articles], [articles, tabs], api_visibility="private")

        def on_load(mode_: str) -> tuple[Any, ...]:
            return (
                page.status(mode_),
                gr.Dropdown(choices=page.article_choices()),
                gr.Timer(active=page.syncing()),
            )

        app.load(on_load, [mode], [status, articles, timer], api_visibility="private")

        def on_tick(mode_: str, query: str) -> tuple[Any, ...]:
            if page.syncing():
                return page.status(mode_), gr.skip(), gr.skip(), gr.skip()
            return (
                page.status(mode_),
                gr.Dropdown(choices=page.article_choices()),
                page.articles_view(query),
                gr.Timer(active=False),
            )

        timer.tick(
            on_tick,
            [mode, article_search],
            [status, articles, articles_list, timer],
            api_visibility="private",
            show_progress="hidden",
        )

        def refresh_choices() -> None:  # after a sync: what the API and new pages accept
            fresh: list[Any] = page.article_choices()  # Gradio's choices type is wider than ours
            articles.choices = fresh

        if sync is not None:
            sync.on_done.append(refresh_choices)
    app.rag_settings = settings  # launch() reads the allowed hosts here
    return app


THEME_FONTS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"]


def launch(
    app: gr.Blocks,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: str | None = None,
    block: bool = True,
    quiet: bool = False,
    allowed_hosts: str | Sequence[str] | None = None,
) -> str:
    """Serve `app` on `host:port` (never a public share link); returns the local URL.

    Args:
        app: The page from `build_app`.
        host: Interface to bind; 127.0.0.1 keeps the page on this machine.
        port: TCP port.
        auth: Optional "user:password" login.
        block: Serve until interrupted (the CLI); False returns at once (tests; `app.close()` stops).
        quiet: Do not print the URL banner.
        allowed_hosts: Host names to answer to besides loopback and `host` (default: the
            engine's RAG_ALLOWED_HOSTS); any other Host header is refused.
    """
    credentials = parse_auth(auth)
    if credentials is None and not is_loopback(host):
        print(
            f"warning: serving on {host} without a login; set RAG_AUTH=user:password to require one",
            file=sys.stderr,
        )
    settings = getattr(app, "rag_settings", None)
    if allowed_hosts is None:
        allowed_hosts = settings.allowed_hosts if settings is not None else ""
    names = allowed_host_names(host, allowed_hosts)
    if host in ("0.0.0.0", "::") and names == allowed_host_names("127.0.0.1"):
        print(
            f"warning: serving on {host}, but only requests for 127.0.0.1 or localhost are answered; "
            "set RAG_ALLOWED_HOSTS to the names clients use (e.g. news.example.org,192.168.1.20)",
            file=sys.stderr,
        )
    theme = gr.themes.Soft(font=THEME_FONTS, font_mono=["ui-monospace", "monospace"])
    # Gradio summarises its last 10,000 events (a pandas table, grouped, percentiles) after every
    # event, for a monitoring page this server never enables: on a busy page, more of the
    # interpreter lock than the answer itself. Once per million events is never in practice.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000000")
    app.queue(default_concurrency_limit=PAGE_WORKERS, max_size=256)
    try:
        _, url, _ = app.launch(
            server_name=host,
            server_port=port,
            share=False,
            auth=credentials,
            prevent_thread_lock=True,
            ssr_mode=False,
            quiet=True,
            show_error=False,
            footer_links=["settings"],
            theme=theme,
            css=CSS,
            app_kwargs={"middleware": [Middleware(WebGuard, allowed=names)]},
        )
    except OSError:
        raise ConfigError(
            f"cannot serve on {host}:{port}: the port is in use or {host} is not an address of this "
            "machine; pass another --port / --host (or set RAG_SERVER_PORT / RAG_SERVER_HOST)"
        ) from None
    sessions = _SessionStates()
    sessions.set_blocks(app)  # before the first page or API call: no session exists yet
    app.server_app.state_holder = sessions
    if not quiet:
        print(f"serving the chat page on {url} (Ctrl-C stops)", file=sys.stderr, flush=True)
    if block:
        app.block_thread()
    return str(url)


def main(
    host: str | None = None,
    port: int | None = None,
    auth: str | None = None,
    engine: Engine | None = None,
    block: bool = True,
) -> gr.Blocks:
    """Serve the page at once on the index as it is, and bring the index up to date in the
    background (the status line says what the sync is doing).

    Args:
        host: Interface to bind (default: RAG_SERVER_HOST, 127.0.0.1).
        port: TCP port (default: RAG_SERVER_PORT, 7860).
        auth: "user:password" login (default: RAG_AUTH, none).
        engine: The engine to serve (default: `rag.open()` from RAG_* settings).
        block: Serve until interrupted; False returns once the server is up (the sync may still run).
    """
    engine = engine or rag.open()
    settings = engine.settings
    sync = IndexSync(engine, log=log_line)
    app = build_app(engine, sync=sync)
    app.rag_sync = sync  # type: ignore[attr-defined]
    launch(
        app,
        host or settings.server_host,
        port or settings.server_port,
        auth=auth if auth is not None else settings.auth,
        block=False,
    )
    log_line("checking the index against the corpus in the background")
    sync.start()
    if block:
        app.block_thread()
    return app
