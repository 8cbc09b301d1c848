"""The Gradio chat page: `build_app(engine)` builds it, `main()` ingests if needed and serves it."""

from __future__ import annotations

import ipaddress
import sys
import threading
import traceback
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

import rag
from rag.engine import Conversation, Engine
from rag.errors import ConfigError, QuestionError, RagError
from rag.schema import Answer, Citation
from ui import render

EXAMPLES = [
    "Who co-owns the Faena hotel?",
    "Who accompanied Steve Witkoff to the talks with Putin in Moscow?",
    "Where did NATO foreign ministers meet?",
]

CSS = """
.rag-question { white-space: normal; }
.rag-cite { display: inline-block; margin: 0 .15em; padding: 0 .35em; border-radius: .6em;
  font-size: .8em; line-height: 1.5; font-weight: 600; text-decoration: none !important;
  color: var(--color-accent) !important; background: var(--color-accent-soft);
  border: 1px solid var(--color-accent); cursor: pointer; vertical-align: .1em; }
.rag-cite:hover, .rag-cite:focus { background: var(--color-accent); color: white !important; }
.rag-meta { margin-top: .5em; font-size: .8em; opacity: .65; }
.rag-abstain { border-left: 4px solid #d97706; background: rgba(217, 119, 6, .10);
  padding: .5em .75em; border-radius: .3em; }
.rag-abstain-head { font-weight: 700; color: #b45309; }
.rag-nearest { margin-top: .5em; font-size: .9em; }
.rag-nearest summary { cursor: pointer; opacity: .8; }
.rag-nearest-title { font-weight: 600; }
.rag-error { border-left: 4px solid #dc2626; background: rgba(220, 38, 38, .08);
  padding: .5em .75em; border-radius: .3em; }
.rag-error-head { font-weight: 700; color: #b91c1c; }
.rag-notice { margin-top: .5em; padding: .35em .6em; font-size: .9em; border-radius: .3em;
  border: 1px dashed #ca8a04; background: rgba(234, 179, 8, .10); }
.rag-notice::before { content: "Note: "; font-weight: 600; }
.rag-cursor { opacity: .6; animation: rag-blink 1s steps(2) infinite; }
@keyframes rag-blink { 50% { opacity: 0; } }
.rag-wait { opacity: .7; font-style: italic; }
.rag-status { font-size: .9em; opacity: .85; }
.rag-status-warn { color: #b45309; opacity: 1; font-weight: 600; }
#rag-sources .rag-sources { max-height: 60vh; overflow-y: auto; padding-right: .25em; }
.rag-empty { opacity: .7; font-style: italic; padding: .5em; }
.rag-source { border: 1px solid var(--border-color-primary); border-radius: .4em;
  padding: .5em .7em; margin-bottom: .6em; transition: box-shadow .2s, border-color .2s; }
.rag-source:not(.rag-current) { opacity: .75; }
.rag-source.rag-selected { border-color: var(--color-accent); box-shadow: 0 0 0 3px var(--color-accent-soft);
  opacity: 1; }
.rag-source-head { font-size: .9em; margin-bottom: .3em; }
.rag-key { font-weight: 700; color: var(--color-accent); }
.rag-title { font-weight: 600; }
.rag-pn { opacity: .7; font-size: .85em; white-space: nowrap; }
.rag-date, .rag-also { opacity: .75; font-size: .85em; white-space: nowrap; margin-left: .3em; }
.rag-source-text { font-size: .92em; line-height: 1.45; }
mark.rag-quote { background: rgba(250, 204, 21, .45); color: inherit; padding: 0 .1em; border-radius: .15em; }
.rag-source-actions { margin-top: .4em; display: flex; gap: 1em; align-items: center; font-size: .85em; }
.rag-sources button.rag-open { border: 1px solid var(--color-accent); color: var(--color-accent);
  background: transparent; border-radius: .3em; padding: .1em .6em; cursor: pointer;
  font-size: .85rem; font-weight: 500; line-height: 1.4; }
.rag-sources button.rag-open:hover { background: var(--color-accent-soft); }
.rag-earlier { font-size: .8em; text-transform: uppercase; letter-spacing: .05em; opacity: .6;
  margin: .8em 0 .4em; }
.rag-article-head { display: flex; justify-content: space-between; gap: 1em; margin-bottom: .4em; }
.rag-article-body { position: relative; max-height: 45vh; overflow-y: auto; padding-right: .4em;
  border-top: 1px solid var(--border-color-primary); }
.rag-para { margin: .5em 0; padding: .3em .5em; border-radius: .3em; line-height: 1.45; font-size: .92em; }
.rag-para-target { background: var(--color-accent-soft); border-left: 4px solid var(--color-accent); }
"""

# Markers live inside chat messages, outside this component, so the listener is on the
# document (installed once); the "open article" buttons are inside it and call the server.
SOURCES_JS = """
element.addEventListener('click', (ev) => {
  const btn = ev.target.closest('[data-rag-open]');
  if (!btn) return;
  ev.preventDefault();
  trigger('click', {open: btn.dataset.ragOpen, key: Number(btn.dataset.ragKey)});
});
if (!window.__ragCiteListener) {
  window.__ragCiteListener = true;
  document.addEventListener('click', (ev) => {
    const marker = ev.target.closest ? ev.target.closest('a.rag-cite') : null;
    if (!marker) return;
    ev.preventDefault();
    ev.stopPropagation();
    const m = /#rag-src-(\\d+)$/.exec(marker.getAttribute('href') || '');
    const root = document.getElementById('rag-sources');
    if (!m || !root) return;
    root.querySelectorAll('.rag-selected').forEach((el) => el.classList.remove('rag-selected'));
    const card = root.querySelector('#rag-src-' + m[1]);
    if (!card) return;
    card.classList.add('rag-selected');
    card.scrollIntoView({block: 'nearest'});
  }, true);
}
"""

# Scroll the opened article so the cited paragraph sits near the top of its box.
ARTICLE_JS = """
const show = () => {
  const body = element.querySelector('.rag-article-body');
  const target = element.querySelector('.rag-para-target');
  if (!body || !target) return;
  body.scrollTop = Math.max(0, target.offsetTop - body.clientHeight / 5);
  element.scrollIntoView({block: 'nearest'});
};
watch('value', show);
show();
"""


@dataclass
class ChatState:
    """One browser session: the conversation and every paragraph it has cited, by key."""

    conversation: Conversation = field(default_factory=Conversation)
    cited: dict[int, Citation] = field(default_factory=dict)
    current: list[int] = field(default_factory=list)


class ChatPage:
    """What the page does, without Gradio: the handlers `build_app` wires to components."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.llm_available = bool(engine.settings.llm_configured)
        self._open_lock = threading.Lock()
        self._opened = False

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
        self, mode: str, k: float | None, articles: Sequence[str] | None, as_of: str | None = None
    ) -> dict[str, Any]:
        """Keyword arguments for `Engine.ask_stream` from the settings area."""
        return {
            "k": int(k) if k else None,
            "articles": list(articles) if articles else None,
            "llm": mode == "llm" and self.llm_available,
            "as_of": (as_of or "").strip() or None,
        }

    def respond(
        self,
        question: str,
        history: list[dict[str, Any]] | None,
        state: ChatState | None,
        mode: str = "extractive",
        k: float | None = None,
        articles: Sequence[str] | None = None,
        as_of: str | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream one turn: yields (textbox, chat, state, sources, status) as the answer grows."""
        state = state or ChatState()
        shown = printable(question or "")  # what the engine answers: no NUL, ESC, bidi overrides
        limit = self.engine.settings.max_question_chars
        if len(shown) > limit:  # the engine refuses it; do not echo megabytes back either
            shown = shown[:limit] + "…"
        history = [*(history or []), _message("user", render.question_html(shown))]
        history.append(_message("assistant", render.streaming_html("")))
        yield "", list(history), state, gr.skip(), gr.skip()
        answer: Answer | None = None
        text = ""
        try:
            self.open_index()
            stream = self.engine.ask_stream(
                question or "",
                conversation=state.conversation,
                **self.ask_kwargs(mode, k, articles, as_of),
            )
            for item in stream:
                if isinstance(item, Answer):
                    answer = item
                else:
                    text += item
                    history[-1] = _message("assistant", render.streaming_html(text))
                    yield gr.skip(), list(history), state, gr.skip(), gr.skip()
        except QuestionError as e:
            history[-1] = _message("assistant", render.error_html(str(e)))
            yield gr.skip(), list(history), state, gr.skip(), gr.skip()
            return
        except RagError as e:  # index missing or busy, store unreachable: say what to do
            history[-1] = _message("assistant", render.error_html(str(e)))
            yield gr.skip(), list(history), state, gr.skip(), self.status()
            return
        except Exception as e:  # a bug: say so in the chat instead of leaving "Searching…" up
            traceback.print_exc(file=sys.stderr)
            message = f"internal error ({type(e).__name__}); the server log has the details"
            history[-1] = _message("assistant", render.error_html(message))
            yield gr.skip(), list(history), state, gr.skip(), gr.skip()
            return
        if answer is None:  # the stream must end with the Answer; never show a half answer as done
            history[-1] = _message("assistant", render.error_html("the answer stream ended early; ask again"))
            yield gr.skip(), list(history), state, gr.skip(), gr.skip()
            return
        history[-1] = _message("assistant", render.answer_html(answer))
        state.current = [c.key for c in answer.citations]
        for c in answer.citations:
            state.cited[c.key] = c
        yield gr.skip(), list(history), state, self.sources(state), self.status(mode)

    def sources(self, state: ChatState | None, selected: int | None = None) -> str:
        """The sources panel for this session."""
        if state is None:
            return render.sources_html([])
        return render.sources_html(list(state.cited.values()), state.current, selected)

    def open_article(
        self, state: ChatState | None, paragraph_id: str, key: int | None = None
    ) -> tuple[str, str]:
        """(article view, sources panel) with cited paragraph `paragraph_id` opened in its article.

        Only paragraphs this session has cited can be opened; anything else leaves the view empty.
        """
        if state is None:
            return render.empty_article_html(), self.sources(None)
        citation = next((c for c in state.cited.values() if c.paragraph_id == paragraph_id), None)
        if citation is None:
            return render.empty_article_html(), self.sources(state)
        try:
            self.open_index()
            rows = self.engine.article(citation.article_id)
        except RagError as e:
            return render.error_html(str(e)), self.sources(state, citation.key)
        if not rows:
            return render.empty_article_html(), self.sources(state, citation.key)
        view = render.article_html(
            rows[0].title or citation.title,
            rows[0].url or citation.url,
            [(r.n, r.text) for r in rows],
            citation.n,
            citation.quote,
            citation.key,
        )
        return view, self.sources(state, citation.key)

    def status(self, mode: str = "extractive") -> str:
        """The status line: corpus size and index state."""
        try:
            status = self.engine.status()
        except RagError as e:
            return render.status_html(None) + f'<div class="rag-status-warn">{render.escape(str(e))}</div>'
        return render.status_html(status, mode)

    def article_choices(self) -> list[tuple[str, str]]:
        """(label, article_id) of every indexed article, for the search filter."""
        try:
            self.open_index()
            return [(title, aid) for aid, title in list_articles(self.engine)]
        except RagError:
            return []

    def clear(self) -> tuple[Any, ...]:
        """A fresh conversation: (chat, state, sources, article view)."""
        return [], ChatState(), render.sources_html([]), render.empty_article_html()


def list_articles(engine: Engine) -> list[tuple[str, str]]:
    """(article_id, title) of every article in the committed index, in id order."""
    return [(a.article_id, a.title) for a in engine.articles()]


def printable(text: str) -> str:
    """`text` without control and format characters (as `Engine` cleans a question), but newlines and tabs."""
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")


def _message(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "content": content}


def build_app(engine: Engine) -> gr.Blocks:
    """The chat page over `engine`; launch it with `launch()` (tests pass any engine)."""
    page = ChatPage(engine)
    top_k = engine.settings.top_k
    with gr.Blocks(title="News Q&A with citations", analytics_enabled=False) as app:
        state = gr.State(None)
        with gr.Row(equal_height=False):
            gr.Markdown(
                "## Ask the news articles\nEvery sentence of an answer cites the paragraph it comes from."
            )
            status = gr.HTML(page.status(page.default_mode()), elem_id="rag-status", js_on_load=None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=380):
                chat = gr.Chatbot(
                    elem_id="rag-chat",
                    label="Conversation",
                    height=560,
                    buttons=[],
                    feedback_options=None,
                    latex_delimiters=[],
                    allow_tags=False,
                    sanitize_html=True,
                    layout="bubble",
                    placeholder="Ask a question about the articles. Follow-ups like "
                    "“And who did he meet in Miami?” use the conversation so far.",
                )
                with gr.Row():
                    question = gr.Textbox(
                        elem_id="rag-question",
                        show_label=False,
                        placeholder="Ask about the articles…",
                        max_length=engine.settings.max_question_chars,
                        lines=1,
                        scale=5,
                        autofocus=True,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="rag-send")
                with gr.Row():
                    gr.Examples(EXAMPLES, inputs=[question], label="Try")
                    clear = gr.Button("New conversation", size="sm", scale=0, elem_id="rag-clear")
                with gr.Accordion("Settings", open=True, elem_id="rag-settings"):
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
                    k = gr.Slider(1, 20, value=top_k, step=1, label="Passages to retrieve", elem_id="rag-k")
                    articles = gr.Dropdown(
                        choices=[],
                        value=[],
                        multiselect=True,
                        label="Search only these articles (empty: all)",
                        elem_id="rag-articles",
                    )
                    as_of = gr.Textbox(
                        label="As of (YYYY-MM-DD)",
                        placeholder="empty: the newest article's date",
                        info="Nothing published later is used; “this week” and “current” are read against it.",
                        max_length=10,
                        elem_id="rag-as-of",
                    )
            with gr.Column(scale=2, min_width=320):
                gr.Markdown("### Sources")
                sources = gr.HTML(render.sources_html([]), elem_id="rag-sources", js_on_load=SOURCES_JS)
                gr.Markdown("### Article")
                article = gr.HTML(render.empty_article_html(), elem_id="rag-article", js_on_load=ARTICLE_JS)

        ask_inputs = [question, chat, state, mode, k, articles, as_of]
        ask_outputs = [question, chat, state, sources, status]
        question.submit(page.respond, ask_inputs, ask_outputs, concurrency_id="ask")
        send.click(page.respond, ask_inputs, ask_outputs, concurrency_id="ask")

        def on_sources_click(st: ChatState | None, evt: gr.EventData) -> tuple[str, str]:
            data = getattr(evt, "_data", None) or {}
            pid = data.get("open") if isinstance(data, dict) else None
            if not isinstance(pid, str):
                return gr.skip(), gr.skip()
            key = data.get("key")
            return page.open_article(st, pid, key if isinstance(key, int) else None)

        sources.click(on_sources_click, [state], [article, sources])
        clear.click(page.clear, None, [chat, state, sources, article])
        chat.clear(page.clear, None, [chat, state, sources, article])  # the chat's own trash button
        mode.change(page.status, [mode], [status])

        def on_load() -> tuple[Any, Any]:
            return page.status(page.default_mode()), gr.update(choices=page.article_choices())

        app.load(on_load, None, [status, articles])
    return app


THEME_FONTS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"]


def launch(
    app: gr.Blocks,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: str | None = None,
    block: bool = True,
    quiet: bool = False,
) -> str:
    """Serve `app` on `host:port` (never a public share link); returns the local URL.

    Args:
        app: The page from `build_app`.
        host: Interface to bind; 127.0.0.1 keeps the page on this machine.
        port: TCP port.
        auth: Optional "user:password" login.
        block: Serve until interrupted (the CLI); False returns at once (tests; `app.close()` stops).
        quiet: Do not print the URL banner.
    """
    credentials = parse_auth(auth)
    if credentials is None and not _is_loopback(host):
        print(
            f"warning: serving on {host} without a login; set RAG_AUTH=user:password to require one",
            file=sys.stderr,
        )
    theme = gr.themes.Soft(font=THEME_FONTS, font_mono=["ui-monospace", "monospace"])
    app.queue(default_concurrency_limit=1, max_size=64)
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
        )
    except OSError:
        raise ConfigError(
            f"cannot serve on {host}:{port}: the port is in use or {host} is not an address of this "
            "machine; pass another --port / --host (or set RAG_SERVER_PORT / RAG_SERVER_HOST)"
        ) from None
    if not quiet:
        print(f"serving the chat page on {url} (Ctrl-C stops)", file=sys.stderr, flush=True)
    if block:
        app.block_thread()
    return str(url)


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """("user", "password") from "user:password"; None when no login is wanted."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ConfigError("RAG_AUTH must look like user:password (both non-empty); unset it for no login")
    return user, password


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(
    host: str | None = None,
    port: int | None = None,
    auth: str | None = None,
    engine: Engine | None = None,
    block: bool = True,
) -> gr.Blocks:
    """Ingest the corpus if the index is missing or stale, then serve the page.

    Args:
        host: Interface to bind (default: RAG_SERVER_HOST, 127.0.0.1).
        port: TCP port (default: RAG_SERVER_PORT, 7860).
        auth: "user:password" login (default: RAG_AUTH, none).
        engine: The engine to serve (default: `rag.open()` from RAG_* settings).
        block: Serve until interrupted; False returns once the server is up.
    """
    engine = engine or rag.open()
    settings = engine.settings
    report = engine.ensure_index()
    if report is not None:
        print(f"ingested {report.summary()}", file=sys.stderr)
    app = build_app(engine)
    launch(
        app,
        host or settings.server_host,
        port or settings.server_port,
        auth=auth if auth is not None else settings.auth,
        block=block,
    )
    return app
