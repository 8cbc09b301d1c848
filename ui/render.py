"""Pure rendering of answers, sources and articles to HTML; all text from articles and models is escaped."""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import PurePath
from textwrap import shorten
from urllib.parse import urlsplit

from rag.citations import MARKER
from rag.schema import Answer, ArticleInfo, Citation, IndexStatus, Passage

EMPTY_SOURCES = "Cited paragraphs appear here. Click a marker such as [1] in an answer to show its paragraph."
NEAREST = 3  # paragraphs shown under an abstention
ELLIPSIS = " \u2026"
EMPTY_ARTICLE = "Open an article from a source card to read it whole, with the cited paragraph marked."
UNDATED = "undated"
ARTICLES_SHOWN = 200  # rows of the articles view; a search narrows the rest down
# A sentence ends at . ! ? (a closing quote or bracket may follow) or at a citation marker, and the
# next one starts with a capital, a digit or an opening quote (never with a marker: it belongs before).
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026\]])([\"\u201d\u2019)]?)\s+(?=[A-Z0-9\"\u201c\u2018(])")


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


_NOT_IN_URL = re.compile(r"[\s\x00-\x1f]")  # whitespace (any script's) or a control character


def safe_url(url: str) -> str | None:
    """`url` if it is a plain http(s) link with a host, else None (no javascript:, data:, relative)."""
    url = (url or "").strip()
    if not url or _NOT_IN_URL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    return url


def outlet(url: str, source: str = "") -> str:
    """Where an article comes from: its site ("cnn.com"), else the name of the file it was read from."""
    href = safe_url(url)
    if href:
        host = (urlsplit(href).hostname or "").lower()
        return host.removeprefix("www.")
    head, sep, tail = source.rpartition(":")
    path = head if sep and tail.isdigit() else source  # "news.jsonl:12": the line of a .jsonl file
    return PurePath(path).name if path else ""


def marker_html(key: int, citation: Citation | None = None) -> str:
    """A clickable citation marker; a click shows paragraph `key` in the sources panel."""
    if citation:
        label = f"{citation.title}, paragraph {citation.n} ({citation.publish_date or UNDATED})"
    else:
        label = f"source {key}"
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


def sentences(text: str) -> list[str]:
    """`text` cut into sentences, each with the citation markers that follow it."""
    parts: list[str] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        parts.append(text[pos : m.start()] + m.group(1))
        pos = m.end()
    parts.append(text[pos:])
    return [p.strip() for p in parts if p.strip()]


def question_html(question: str) -> str:
    """The user's question as a chat message (escaped like everything else)."""
    return f'<div class="rag-question">{text_html(question)}</div>'


def streaming_html(text: str) -> str:
    """The answer so far, while it streams in."""
    body = cited_text_html(text) if text.strip() else '<span class="rag-wait">Searching the articles…</span>'
    return f'<div class="rag-message rag-streaming">{body}<span class="rag-cursor">▍</span></div>'


def answer_html(answer: Answer, turn: int | None = None) -> str:
    """A finished answer as a chat message: cited text, or an abstention; notices always shown.

    Args:
        answer: The answer.
        turn: Which question of the session it answers (0-based); with it, the answer gets its
            action buttons (copy, retry, feedback) and its closest paragraphs can be opened.
    """
    parts: list[str] = []
    if answer.abstained:
        reason = answer.abstain_reason or "The articles do not answer this question."
        parts.append(
            '<div class="rag-abstain" role="status"><div class="rag-abstain-head">'
            "No answer in the articles</div>"
            f'<div class="rag-abstain-reason">{text_html(reason)}</div></div>'
        )
        parts.extend(nearest_html(answer.nearest(NEAREST), turn))
    else:
        by_key = {c.key: c for c in answer.citations}
        said = "".join(
            f'<span class="rag-sent">{cited_text_html(s, by_key)}</span> ' for s in sentences(answer.text)
        )
        parts.append(f'<div class="rag-answer-text">{said.strip()}</div>')
    parts.extend(notices_html(answer.notices, answer.unsupported))
    filters = filters_line(answer)
    if filters:
        parts.append(f'<div class="rag-filters">{escape(filters)}</div>')
    parts.append(f'<div class="rag-meta">{escape(meta_line(answer))}</div>')
    if turn is not None:
        parts.append(actions_html(turn))
        parts.append(copy_block_html(copy_text(answer)))
    kind = "rag-abstained" if answer.abstained else "rag-answered"
    # Offline answers arrive whole: the page reveals their sentences one by one (CSS only).
    reveal = " rag-reveal" if answer.mode != "llm" and not answer.abstained else ""
    return f'<div class="rag-message {kind}{reveal}" data-rag-mode="{escape(answer.mode)}">{"".join(parts)}</div>'


def settled(message: str) -> str:
    """A chat message as it stays once shown: the sentence-by-sentence reveal is not replayed."""
    return message.replace(" rag-reveal", "", 1) if 'class="rag-message ' in message[:60] else message


def actions_html(turn: int) -> str:
    """The buttons under an answer: copy it with its sources, ask again, and say how good it was."""
    buttons = [
        ("copy", "Copy", "Copy the answer with its numbered sources"),
        ("retry", "Retry", "Ask this question again"),
        ("up", "Helpful", "Thumbs up: a good answer"),
        ("down", "Not helpful", "Thumbs down: a poor answer"),
        ("wrong", "This answer is wrong", "Say what is wrong, and give the correct answer if you know it"),
    ]
    return (
        '<div class="rag-actions">'
        + "".join(_action_button(n, turn, label, t) for n, label, t in buttons)
        + "</div>"
    )


def _action_button(name: str, value: int | str, label: str, title: str) -> str:
    # The chat keeps name, value and title on a button (it drops data-* attributes).
    return (
        f'<button type="button" class="rag-act rag-act-{name}" name="{name}" value="{escape(str(value))}" '
        f'title="{escape(title)}">{escape(label)}</button>'
    )


def copy_text(answer: Answer) -> str:
    """The answer as plain text with its numbered sources, as the Copy button puts it on the clipboard."""
    lines = [f"Q: {answer.question}", ""]
    if answer.abstained:
        lines.append(f"No answer in the articles: {answer.abstain_reason or 'they do not say.'}")
    else:
        lines.append(answer.text.strip())
    when = f"As of {answer.as_of}" if answer.as_of else ""
    if answer.time_scope:
        when += f" (about {answer.time_scope})"
    filters = filters_line(answer)
    if when or filters:
        lines += ["", " · ".join(x for x in (when.strip(), filters) if x)]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in sorted(answer.citations, key=lambda c: c.key):
            quote = (c.quote or c.text).strip()
            url = safe_url(c.url)
            lines.append(
                f"[{c.key}] {c.title or c.article_id}, paragraph {c.n} ({c.publish_date or UNDATED}): "
                f"\u201c{quote}\u201d" + (f" {url}" if url else "")
            )
    return "\n".join(lines)


def copy_block_html(text: str) -> str:
    """`text` hidden in the message for the Copy button, one span per line (no newline in the HTML)."""
    rows = "".join(f'<span class="rag-copy-line">{escape(line)}</span>' for line in text.splitlines())
    return f'<div class="rag-copy-text" hidden>{rows}</div>'


def nearest_html(passages: Sequence[Passage], turn: int | None = None) -> list[str]:
    """The paragraphs an abstention searched closest, folded away, so a reader can check it; with
    `turn`, each opens in its article like a cited paragraph does."""
    if not passages:
        return []
    items = []
    for i, p in enumerate(passages):
        where = f"paragraph {p.n}"
        if turn is not None:
            where = _action_button(
                "near", f"{turn}.{i}", f"¶ {p.n}: open the article", "Open the article here"
            )
        items.append(
            f'<li><span class="rag-nearest-title">{escape(p.title)}</span>{_date_html(p.publish_date)}, '
            f"paragraph {p.n}: {text_html(shorten(p.text, 320, placeholder=ELLIPSIS))}"
            + (f" {where}" if turn is not None else "")
            + "</li>"
        )
    return [
        '<details class="rag-nearest"><summary>Closest paragraphs searched (not an answer)</summary>'
        f"<ol>{''.join(items)}</ol></details>"
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


def filters_line(answer: Answer) -> str:
    """The filters that were on when the answer was made ("" when none)."""
    filters = [f for f in getattr(answer, "filters", ()) or () if str(f).strip()]
    return ("Filters: " + "; ".join(str(f) for f in filters)) if filters else ""


def meta_line(answer: Answer) -> str:
    """One quiet line under an answer: how it was made, as of when, and how long it took."""
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


def error_html(message: str, turn: int | None = None) -> str:
    """A refused question (too long, empty) or an index problem, as a chat message; with `turn`, a
    Retry button (the index may be ready by then)."""
    retry = (
        f'<div class="rag-actions">{_action_button("retry", turn, "Retry", "Ask this question again")}</div>'
        if turn is not None
        else ""
    )
    return (
        '<div class="rag-message rag-error" role="alert"><div class="rag-error-head">'
        f"Cannot answer that</div><div>{text_html(message)}</div>{retry}</div>"
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
    """One cited paragraph: key, article title, paragraph number, date, text with the quote marked."""
    classes = ["rag-source"] + (["rag-current"] if current else []) + (["rag-selected"] if selected else [])
    pid = escape(citation.paragraph_id)
    link = _link_html(citation.url, "original ↗")
    return (
        f'<div class="{" ".join(classes)}" id="rag-src-{citation.key}" data-rag-key="{citation.key}" '
        f'data-rag-paragraph="{pid}">'
        f'<div class="rag-source-head"><span class="rag-key">[{citation.key}]</span> '
        f'<span class="rag-title">{escape(citation.title or citation.article_id)}</span> '
        f'<span class="rag-pn">¶ {citation.n}</span>{_date_html(citation.publish_date, always=True)}'
        f"{_also_html(citation.also_in)}</div>"
        f'<div class="rag-source-text">{highlight_html(citation.text, citation.quote)}</div>'
        f'<div class="rag-source-actions"><button type="button" class="rag-open" '
        f'data-rag-open="{pid}" data-rag-key="{citation.key}">Open the article at ¶ {citation.n}</button>'
        f"{link}</div></div>"
    )


def _date_html(iso: str, always: bool = False) -> str:
    if not iso:
        return f' <span class="rag-date rag-undated">{UNDATED}</span>' if always else ""
    return f' <time class="rag-date" datetime="{escape(iso)}">{escape(iso)}</time>'


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
    publish_date: str = "",
) -> str:
    """A whole article, paragraph `target` marked (its `quote` highlighted) for scrolling into view.

    Args:
        title: The article's title.
        url: The article's own URL; the only link shown (and only if it is http/https).
        paragraphs: (paragraph number, text) in reading order.
        target: The paragraph number to mark.
        quote: The cited sentence inside the target paragraph.
        key: The citation key, shown beside the marked paragraph.
        publish_date: The article's date (ISO), "" when unknown.
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
        f'<div class="rag-article-head"><span><span class="rag-title">{escape(title)}</span>'
        f"{_date_html(publish_date, always=True)}</span>{link}</div>"
        f'<div class="rag-article-body">{"".join(rows)}</div></div>'
    )


def empty_article_html() -> str:
    """The article view before any article is opened."""
    return f'<div class="rag-article rag-empty">{escape(EMPTY_ARTICLE)}</div>'


def article_label(info: ArticleInfo, width: int = 90) -> str:
    """How the article filter lists an article: title, date and where it comes from."""
    title = shorten(info.title or info.article_id, width, placeholder="…")
    return " · ".join(x for x in (title, info.publish_date or UNDATED, outlet(info.url, info.source)) if x)


def article_order(articles: Iterable[ArticleInfo]) -> list[ArticleInfo]:
    """Newest first (titles A-Z within a day), undated last: the order the filter and the view use."""
    dated = sorted((a for a in articles if a.publish_date), key=lambda a: (a.title.lower(), a.article_id))
    dated.sort(key=lambda a: a.publish_date, reverse=True)  # stable: a day's titles stay A-Z
    undated = sorted(
        (a for a in articles if not a.publish_date), key=lambda a: (a.title.lower(), a.article_id)
    )
    return dated + undated


def matches(info: ArticleInfo, query: str) -> bool:
    """Whether every word of `query` occurs in the article's title, date, site or id (any case)."""
    hay = " ".join((info.title, info.publish_date, outlet(info.url, info.source), info.article_id)).lower()
    return all(word in hay for word in query.lower().split())


def articles_html(articles: Sequence[ArticleInfo], query: str = "", limit: int = ARTICLES_SHOWN) -> str:
    """The articles view: what is indexed (title, date, site, paragraphs), filtered by `query`."""
    total = len(articles)
    found = (
        [a for a in article_order(articles) if matches(a, query)]
        if query.strip()
        else article_order(articles)
    )
    if not total:
        return '<div class="rag-articles rag-empty">No articles are indexed yet.</div>'
    shown = found[:limit]
    what = (
        f"{len(found):,} of {total:,} articles match “{query.strip()}”"
        if query.strip()
        else f"{total:,} articles"
    )
    if len(found) > len(shown):
        what += f"; the first {len(shown):,} are listed, search to narrow them down"
    rows = "".join(
        f'<tr data-rag-article="{escape(a.article_id)}">'
        f'<td class="rag-col-title"><span class="rag-title">{escape(a.title or a.article_id)}</span>'
        f"{_link_html(a.url, '↗')}</td>"
        f'<td class="rag-col-date">{escape(a.publish_date or UNDATED)}</td>'
        f'<td class="rag-col-site">{escape(outlet(a.url, a.source))}</td>'
        f'<td class="rag-col-n">{a.paragraphs:,}</td>'
        f'<td class="rag-col-act"><button type="button" class="rag-only" data-rag-only="{escape(a.article_id)}">'
        "Ask about this one</button></td></tr>"
        for a in shown
    )
    empty = '<p class="rag-empty">No article matches; try fewer words.</p>' if not found else ""
    return (
        f'<div class="rag-articles"><p class="rag-articles-count">{escape(what)}</p>{empty}'
        '<table class="rag-articles-table"><thead><tr><th>Title</th><th>Date</th><th>Source</th>'
        f"<th>¶</th><th></th></tr></thead><tbody>{rows}</tbody></table></div>"
    )


def counter_html(limit: int) -> str:
    """The question's character count against the limit; the page's script keeps it current."""
    return (
        f'<div class="rag-counter" data-rag-limit="{limit}"><span class="rag-count">0 / {limit:,}</span>'
        '<span class="rag-count-note" role="alert"></span></div>'
    )


def status_line(status: IndexStatus | None, mode: str = "extractive", activity: str = "") -> str:
    """Corpus size and index state in one line of plain text, e.g. for the page header.

    `activity` says what the server is doing in the background (a sync), if anything.
    """
    if status is None:
        if activity:
            return f"No index yet · {activity}"
        return "No index yet: it is built when the server starts (or run `rag ingest`)."
    if status.writer_active:
        state = "an ingest is running"
    elif status.complete:
        state = "index complete"
    else:
        state = "index INCOMPLETE (run `rag ingest`)"
    updated = f", updated {status.updated_at.replace('T', ' ')[:16]}" if status.updated_at else ""
    answers = "LLM (falls back to extractive)" if mode == "llm" else "extractive, offline"
    doing = f" · {activity}" if activity else ""
    return (
        f"{status.articles:,} articles · {status.paragraphs:,} paragraphs · {state}{updated}{doing} · "
        f"answers: {answers}"
    )


def status_html(status: IndexStatus | None, mode: str = "extractive", activity: str = "") -> str:
    """`status_line` as the page's status element."""
    ok = status is not None and status.complete and not status.writer_active
    busy = " rag-status-busy" if activity else ""
    return (
        f'<div class="rag-status{"" if ok else " rag-status-warn"}{busy}">'
        f"{escape(status_line(status, mode, activity))}</div>"
    )
