"""Pure rendering of answers, sources and articles to HTML; all text from articles and models is escaped."""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from textwrap import shorten
from urllib.parse import urlsplit

from rag.citations import MARKER
from rag.schema import Answer, Citation, IndexStatus, Passage

EMPTY_SOURCES = "Cited paragraphs appear here. Click a marker such as [1] in an answer to show its paragraph."
NEAREST = 3  # paragraphs shown under an abstention
ELLIPSIS = " \u2026"
EMPTY_ARTICLE = "Open an article from a source card to read it whole, with the cited paragraph marked."


def escape(text: str) -> str:
    """`text` as inert HTML: no tag, attribute or entity of its own survives."""
    return html.escape(text, quote=True)


def text_html(text: str) -> str:
    """Escaped `text` with line breaks as `<br>`, never a blank line.

    Chat messages are one raw HTML block for the Markdown renderer; a blank line would end
    the block and let Markdown (links, images, autolinks) loose on article or model text.
    """
    lines = [escape(line.strip()) for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line:
            out.append(line)
        elif out and out[-1] != "":
            out.append("")  # one paragraph break for any run of empty lines
    return "<br>".join(out)


def inline_html(text: str) -> str:
    """`text_html` for a piece of a line: a leading or trailing space is kept as one space."""
    if not text:
        return ""
    body = text_html(text)
    if not body:
        return " "
    lead = " " if text[:1].isspace() else ""
    trail = " " if text[-1:].isspace() else ""
    return f"{lead}{body}{trail}"


def safe_url(url: str) -> str | None:
    """`url` if it is a plain http(s) link with a host, else None (no javascript:, data:, relative)."""
    url = (url or "").strip()
    if not url or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    return url


def marker_html(key: int, citation: Citation | None = None) -> str:
    """A clickable citation marker; a click shows paragraph `key` in the sources panel."""
    label = f"{citation.title}, paragraph {citation.n}" if citation else f"source {key}"
    # The chat's sanitizer drops data-* attributes, so the key travels in the href.
    return f'<a class="rag-cite" href="#rag-src-{key}" title="{escape(label)}">[{key}]</a>'


def cited_text_html(text: str, citations: Mapping[int, Citation] | None = None) -> str:
    """Answer text with its `[n]` markers made clickable.

    With `citations`, only markers of known keys become links (a literal "[3]" quoted from an
    article stays text); without (while streaming), every marker does.
    """
    out: list[str] = []
    pos = 0
    for m in MARKER.finditer(text):
        out.append(inline_html(text[pos : m.start()]))
        key = int(m.group(1))
        if citations is None or key in citations:
            out.append(marker_html(key, citations.get(key) if citations else None))
        else:
            out.append(escape(m.group(0)))
        pos = m.end()
    out.append(inline_html(text[pos:]))
    return "".join(out).strip()


def question_html(question: str) -> str:
    """The user's question as a chat message (escaped like everything else)."""
    return f'<div class="rag-question">{text_html(question)}</div>'


def streaming_html(text: str) -> str:
    """The answer so far, while it streams in."""
    body = cited_text_html(text) if text.strip() else '<span class="rag-wait">Searching the articles…</span>'
    return f'<div class="rag-message rag-streaming">{body}<span class="rag-cursor">▍</span></div>'


def answer_html(answer: Answer) -> str:
    """A finished answer as a chat message: cited text, or an abstention; notices always shown."""
    parts: list[str] = []
    if answer.abstained:
        reason = answer.abstain_reason or "The articles do not answer this question."
        parts.append(
            '<div class="rag-abstain" role="status"><div class="rag-abstain-head">'
            "No answer in the articles</div>"
            f'<div class="rag-abstain-reason">{text_html(reason)}</div></div>'
        )
        parts.extend(nearest_html(answer.nearest(NEAREST)))
    else:
        by_key = {c.key: c for c in answer.citations}
        parts.append(f'<div class="rag-answer-text">{cited_text_html(answer.text, by_key)}</div>')
    parts.extend(notices_html(answer.notices, answer.unsupported))
    parts.append(f'<div class="rag-meta">{escape(meta_line(answer))}</div>')
    kind = "rag-abstained" if answer.abstained else "rag-answered"
    return f'<div class="rag-message {kind}" data-rag-mode="{escape(answer.mode)}">{"".join(parts)}</div>'


def nearest_html(passages: Sequence[Passage]) -> list[str]:
    """The paragraphs an abstention searched closest, folded away, so a reader can check it."""
    if not passages:
        return []
    items = "".join(
        f'<li><span class="rag-nearest-title">{escape(p.title)}</span>{_date_html(p.publish_date)}, '
        f"paragraph {p.n}: "
        f"{text_html(shorten(p.text, 320, placeholder=ELLIPSIS))}</li>"
        for p in passages
    )
    return [
        '<details class="rag-nearest"><summary>Closest paragraphs searched (not an answer)</summary>'
        f"<ol>{items}</ol></details>"
    ]


def notices_html(notices: Iterable[str], unsupported: Iterable[str] = ()) -> list[str]:
    """Notices (e.g. an LLM fallback) and sentences the verifier removed, each as a visible note."""
    out = [f'<div class="rag-notice" role="note">{text_html(n)}</div>' for n in notices if n.strip()]
    out += [
        '<div class="rag-notice rag-removed" role="note">Removed, not supported by the cited '
        f"paragraphs: <q>{text_html(s)}</q></div>"
        for s in unsupported
        if s.strip()
    ]
    return out


def meta_line(answer: Answer) -> str:
    """One quiet line under an answer: how it was made and how long it took."""
    mode = {"llm": "LLM answer", "extractive": "extractive answer", "retrieval": "retrieval only"}.get(
        answer.mode, f"{answer.mode} answer"
    )
    bits = [mode]
    if answer.citations:
        n = len(answer.citations)
        bits.append(f"{n} source{'s' if n != 1 else ''}")
    bits.append(f"{len(answer.passages)} passages searched")
    if answer.as_of:
        bits.append(f"as of {answer.as_of}" + (f", about {answer.time_scope}" if answer.time_scope else ""))
    if answer.timings_ms.total:
        bits.append(f"{answer.timings_ms.total:,.0f} ms")
    return " · ".join(bits)


def error_html(message: str) -> str:
    """A refused question (too long, empty) or an index problem, as a chat message."""
    return (
        '<div class="rag-message rag-error" role="alert"><div class="rag-error-head">'
        f"Cannot answer that</div><div>{text_html(message)}</div></div>"
    )


def _quote_span(text: str, quote: str) -> tuple[int, int] | None:
    """Where `quote` sits in `text`: exactly, or allowing different whitespace and case."""
    quote = quote.strip()
    if not quote:
        return None
    i = text.find(quote)
    if i >= 0:
        return i, i + len(quote)
    words = quote.split()
    if not words:
        return None
    m = re.search(r"\s+".join(re.escape(w) for w in words), text, re.IGNORECASE)
    return (m.start(), m.end()) if m else None


def highlight_html(text: str, quote: str) -> str:
    """Escaped paragraph `text` with the cited `quote` wrapped in `<mark>` (if it is found)."""
    span = _quote_span(text, quote)
    if span is None:
        return text_html(text)
    s, e = span
    marked = f'<mark class="rag-quote">{text_html(text[s:e])}</mark>'
    return f"{inline_html(text[:s])}{marked}{inline_html(text[e:])}".strip()


def _link_html(url: str, label: str) -> str:
    href = safe_url(url)
    if href is None:
        return ""
    return (
        f'<a class="rag-link" href="{escape(href)}" target="_blank" '
        f'rel="noopener noreferrer nofollow">{escape(label)}</a>'
    )


def source_card_html(citation: Citation, current: bool = True, selected: bool = False) -> str:
    """One cited paragraph: key, article title, paragraph number, text with the quote marked."""
    classes = ["rag-source"] + (["rag-current"] if current else []) + (["rag-selected"] if selected else [])
    pid = escape(citation.paragraph_id)
    link = _link_html(citation.url, "original ↗")
    return (
        f'<div class="{" ".join(classes)}" id="rag-src-{citation.key}" data-rag-key="{citation.key}" '
        f'data-rag-paragraph="{pid}">'
        f'<div class="rag-source-head"><span class="rag-key">[{citation.key}]</span> '
        f'<span class="rag-title">{escape(citation.title or citation.article_id)}</span> '
        f'<span class="rag-pn">¶ {citation.n}</span>{_date_html(citation.publish_date)}'
        f"{_also_html(citation.also_in)}</div>"
        f'<div class="rag-source-text">{highlight_html(citation.text, citation.quote)}</div>'
        f'<div class="rag-source-actions"><button type="button" class="rag-open" '
        f'data-rag-open="{pid}" data-rag-key="{citation.key}">Open the article at ¶ {citation.n}</button>'
        f"{link}</div></div>"
    )


def _date_html(iso: str) -> str:
    return f' <time class="rag-date" datetime="{escape(iso)}">{escape(iso)}</time>' if iso else ""


def _also_html(also_in: Sequence[str]) -> str:
    if not also_in:
        return ""
    n = len(also_in)
    return f' <span class="rag-also">also in {n} other article{"s" if n != 1 else ""}</span>'


def sources_html(
    citations: Sequence[Citation], current: Collection[int] = (), selected: int | None = None
) -> str:
    """The sources panel: this answer's cited paragraphs first, then earlier turns' ones.

    `citations` holds every paragraph cited in the conversation (one per key); `current` the
    keys the latest answer cites; `selected` a card to mark as chosen.
    """
    if not citations:
        return f'<div class="rag-sources rag-empty">{escape(EMPTY_SOURCES)}</div>'
    now = sorted((c for c in citations if c.key in current), key=lambda c: c.key)
    before = sorted((c for c in citations if c.key not in current), key=lambda c: c.key)
    parts = ['<div class="rag-sources">']
    parts += [source_card_html(c, True, c.key == selected) for c in now]
    if before:
        parts.append('<div class="rag-earlier">Cited earlier in this conversation</div>')
        parts += [source_card_html(c, False, c.key == selected) for c in before]
    parts.append("</div>")
    return "".join(parts)


def article_html(
    title: str,
    url: str,
    paragraphs: Sequence[tuple[int, str]],
    target: int,
    quote: str = "",
    key: int | None = None,
) -> str:
    """A whole article, paragraph `target` marked (its `quote` highlighted) for scrolling into view.

    Args:
        title: The article's title.
        url: The article's own URL; the only link shown (and only if it is http/https).
        paragraphs: (paragraph number, text) in reading order.
        target: The paragraph number to mark.
        quote: The cited sentence inside the target paragraph.
        key: The citation key, shown beside the marked paragraph.
    """
    rows = []
    for n, text in paragraphs:
        is_target = n == target
        body = highlight_html(text, quote) if is_target else text_html(text)
        badge = f'<span class="rag-key">[{key}]</span> ' if is_target and key is not None else ""
        cls = "rag-para rag-para-target" if is_target else "rag-para"
        rows.append(
            f'<p class="{cls}" id="rag-para-{n}" data-n="{n}">'
            f'<span class="rag-pn">¶ {n}</span> {badge}{body}</p>'
        )
    link = _link_html(url, "Read the original ↗")
    return (
        f'<div class="rag-article" data-rag-target="{target}">'
        f'<div class="rag-article-head"><span class="rag-title">{escape(title)}</span>{link}</div>'
        f'<div class="rag-article-body">{"".join(rows)}</div></div>'
    )


def empty_article_html() -> str:
    """The article view before any article is opened."""
    return f'<div class="rag-article rag-empty">{escape(EMPTY_ARTICLE)}</div>'


def status_line(status: IndexStatus | None, mode: str = "extractive") -> str:
    """Corpus size and index state in one line of plain text, e.g. for the page header."""
    if status is None:
        return "No index yet: it is built when the server starts (or run `rag ingest`)."
    if status.writer_active:
        state = "an ingest is running"
    elif status.complete:
        state = "index complete"
    else:
        state = "index INCOMPLETE (run `rag ingest`)"
    updated = f", updated {status.updated_at.replace('T', ' ')[:16]}" if status.updated_at else ""
    answers = "LLM (falls back to extractive)" if mode == "llm" else "extractive, offline"
    return (
        f"{status.articles:,} articles · {status.paragraphs:,} paragraphs · {state}{updated} · "
        f"answers: {answers}"
    )


def status_html(status: IndexStatus | None, mode: str = "extractive") -> str:
    """`status_line` as the page's status element."""
    ok = status is not None and status.complete and not status.writer_active
    return (
        f'<div class="rag-status{"" if ok else " rag-status-warn"}">{escape(status_line(status, mode))}</div>'
    )
