"""Rendering answers, sources and articles: markers, highlights, abstentions, and nothing unsafe."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from rag.schema import Answer, ArticleInfo, Citation, Passage, Timings
from ui import render

HOSTILE = (
    'He said <img src="http://evil.example/x.png" onerror="alert(1)"> and <script>alert(2)</script> '
    "then ![pic](http://evil.example/md.png) and [click](javascript:alert(3)) and "
    "https://evil.example/auto and $$x^2$$ &amp; done."
)
ALLOWED_TAGS = {
    "div",
    "span",
    "a",
    "mark",
    "br",
    "q",
    "p",
    "button",
    "details",
    "summary",
    "ol",
    "li",
    "time",
}
TABLE_TAGS = {"table", "thead", "tbody", "tr", "th", "td"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    p.close()
    return p


def visible_text(html: str) -> str:
    return " ".join("".join(parse(html).text).split())


def assert_safe(html: str, allowed_hrefs: set[str] = frozenset(), tables: bool = False) -> None:  # type: ignore[assignment]
    """Only our own tags, no event handlers or styles, links only to citations or allowed URLs."""
    for tag, attrs in parse(html).tags:
        assert tag in ALLOWED_TAGS | (TABLE_TAGS if tables else set()), (tag, attrs)
        for name in attrs:
            assert not name.startswith("on") and name not in {"style", "src", "srcset"}, (tag, name)
        if tag == "a":
            href = attrs.get("href") or ""
            assert href.startswith("#rag-src-") or href in allowed_hrefs, href


def one_html_block(html: str) -> bool:
    """True when Markdown passes `html` through as one raw HTML block (no links, images, LaTeX)."""
    tokens = MarkdownIt("commonmark").parse(html)
    return [t.type for t in tokens] == ["html_block"]


def cite(key: int, text: str, quote: str, url: str = "https://news.example/a", n: int = 3) -> Citation:
    return Citation(
        key=key,
        paragraph_id=f"art{key}#p{n}",
        article_id=f"art{key}",
        title=f"Title {key} <b>",
        text=text,
        n=n,
        url=url,
        quote=quote,
    )


def passage(pid: str) -> Passage:
    return Passage(
        paragraph_id=pid, article_id=pid.split("#")[0], n=1, title="t", text="x", score=1.0, rank=1
    )


def test_markers_become_links_to_their_source_card() -> None:
    c1 = cite(1, "Kushner came along. Other text.", "Kushner came along.")
    c2 = cite(2, "They met in Miami.", "They met in Miami.")
    answer = Answer("q", "Kushner came along. [1] They met in Miami. [2]", False, citations=(c1, c2))
    html = render.answer_html(answer)
    links = [a for t, a in parse(html).tags if t == "a"]
    assert [a["href"] for a in links] == ["#rag-src-1", "#rag-src-2"]
    assert all(a["class"] == "rag-cite" for a in links)
    assert links[0]["title"] == "Title 1 <b>, paragraph 3 (undated)"  # escaped in the attribute, decoded here
    assert "Kushner came along. [1] They met in Miami. [2]" in visible_text(html)
    assert_safe(html)


def test_a_marker_without_a_citation_stays_text() -> None:
    c1 = cite(1, "p", "p")
    html = render.answer_html(Answer("q", "Footnote [7] quoted. [1]", False, citations=(c1,)))
    assert [a["href"] for t, a in parse(html).tags if t == "a"] == ["#rag-src-1"]
    assert "Footnote [7] quoted." in visible_text(html)


def test_streaming_text_gets_markers_and_a_cursor() -> None:
    html = render.streaming_html("First. [1] Second")
    assert 'href="#rag-src-1"' in html and "rag-streaming" in html and "rag-cursor" in html
    assert "Searching" in render.streaming_html("")


def test_hostile_text_is_inert_everywhere() -> None:
    c = cite(1, HOSTILE, "then ![pic](http://evil.example/md.png)", url="javascript:alert(4)")
    answer = Answer(
        HOSTILE, HOSTILE + " [1]", False, citations=(c,), notices=(HOSTILE,), unsupported=(HOSTILE,)
    )
    hostile_passage = Passage(
        paragraph_id="a#p1", article_id="a", n=1, title=HOSTILE, text=HOSTILE, score=1.0, rank=1
    )
    abstained = Answer("q", "", True, HOSTILE, passages=(hostile_passage,))
    outputs = [
        render.answer_html(answer),
        render.question_html(HOSTILE),
        render.answer_html(abstained),
        render.streaming_html(HOSTILE),
        render.error_html(HOSTILE),
        render.sources_html([c], {1}),
        render.article_html(HOSTILE, "javascript:alert(5)", [(1, HOSTILE), (3, HOSTILE)], 3, c.quote, 1),
        render.answer_html(answer, turn=0),
        render.answer_html(abstained, turn=1),
        render.error_html(HOSTILE, turn=2),
    ]
    for html in outputs:
        assert_safe(html)
        assert "<img" not in html and "<script" not in html
        assert "&lt;img" in html  # shown as text, not dropped
    for chat_message in outputs[:5] + outputs[7:]:
        assert one_html_block(chat_message), chat_message
    listing = render.articles_html(
        [ArticleInfo("a<b>", HOSTILE, "2024-01-02", "javascript:alert(6)", HOSTILE, 3)]
    )
    assert_safe(listing, tables=True)
    assert "<img" not in listing and "&lt;img" in listing


def test_chat_messages_never_contain_a_blank_line() -> None:
    text = "Line one.\n\n\n[evil](http://x.example)\n\n    indented code [1]"
    c = cite(1, "p", "p")
    for html in (
        render.answer_html(Answer("q", text, False, citations=(c,))),
        render.streaming_html(text),
        render.question_html(text),
    ):
        assert "\n" not in html
        assert one_html_block(html)
        assert "[evil](http://x.example)" in visible_text(html)


def test_abstention_looks_different_and_says_what_is_missing() -> None:
    answer = Answer(
        "What did Xi say?", "", True, "The articles do not mention Xi Jinping.", passages=(passage("a#p1"),)
    )
    html = render.answer_html(answer)
    assert "rag-abstained" in html and "rag-abstain" in html and "rag-answered" not in html
    assert "No answer in the articles" in visible_text(html)
    assert "The articles do not mention Xi Jinping." in visible_text(html)
    assert "rag-cite" not in html


def test_an_abstention_shows_the_closest_paragraphs_folded_and_marked_as_no_answer() -> None:
    long_text = "Witkoff met Putin in Moscow. " * 30
    near = tuple(
        Passage(
            paragraph_id=f"a#p{i}", article_id="a", n=i, title=f"Title {i}", text=long_text, score=1.0, rank=i
        )
        for i in range(1, 6)
    )
    heading = Passage(
        paragraph_id="a#p9", article_id="a", n=9, title="H", text="The Moscow Talks", score=2.0, rank=1
    )
    near = (heading, *near)  # a section heading is no paragraph to read: skipped
    html = render.answer_html(
        Answer("Who chatted with Putin?", "", True, "The articles do not mention it.", passages=near)
    )
    assert html.count('<details class="rag-nearest">') == 1 and "<details open" not in html
    assert "Closest paragraphs searched (not an answer)" in visible_text(html)
    assert html.count("<li>") == render.NEAREST == 3  # the best three, in retrieval order
    assert "Title 1</span>, paragraph 1:" in html and "Title 4" not in html and "Moscow Talks" not in html
    shown = visible_text(html)
    assert "Witkoff met Putin in Moscow." in shown and shown.count("Witkoff") <= 3 * 12  # cut, not whole
    assert "\u2026" in shown
    assert one_html_block(html)
    # An answer that is not an abstention lists no such paragraphs (its citations say where).
    assert "rag-nearest" not in render.answer_html(
        Answer("q", "Yes. [1]", False, citations=(cite(1, "Yes.", "Yes."),), passages=near)
    )


def test_notices_and_removed_sentences_are_shown() -> None:
    c = cite(1, "p", "p")
    answer = Answer(
        "q",
        "Kept. [1]",
        False,
        citations=(c,),
        mode="extractive",
        notices=("The LLM did not answer (timeout); this is the extractive answer.",),
        unsupported=("Witkoff met Xi in Miami. [1]",),
    )
    html = render.answer_html(answer)
    text = visible_text(html)
    assert "The LLM did not answer (timeout); this is the extractive answer." in text
    assert "Removed, not supported by the cited paragraphs:" in text
    assert "Witkoff met Xi in Miami." in text
    assert html.count("rag-notice") == 2


def test_meta_line_counts_sources_and_time() -> None:
    c = cite(1, "p", "p")
    answer = Answer(
        "q",
        "x [1]",
        False,
        citations=(c,),
        passages=(passage("a#p1"), passage("a#p2")),
        mode="llm",
        timings_ms=Timings(total=1234.4),
    )
    assert render.meta_line(answer) == "LLM answer · 1 source · 2 passages searched · 1,234 ms"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://news.example/a?b=1&c=2", True),
        ("http://news.example/a", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<b>x</b>", False),
        ("/relative/path", False),
        ("//news.example/a", False),
        ("http://", False),
        ("https://news.example/a b", False),
        ("", False),
    ],
)
def test_safe_url(url: str, ok: bool) -> None:
    assert (render.safe_url(url) == url) is ok


def test_source_card_links_only_to_the_articles_own_url() -> None:
    c = cite(1, "Text.", "Text.", url="https://news.example/a?b=1&c=2")
    html = render.sources_html([c], {1})
    hrefs = [a["href"] for t, a in parse(html).tags if t == "a"]
    assert hrefs == ["https://news.example/a?b=1&c=2"]
    assert 'rel="noopener noreferrer nofollow"' in html
    assert_safe(html, {"https://news.example/a?b=1&c=2"})
    no_link = render.sources_html([cite(1, "Text.", "Text.", url="ftp://news.example/a")], {1})
    assert not [t for t, _ in parse(no_link).tags if t == "a"]


def test_highlight_marks_the_quote_exactly_or_despite_spacing() -> None:
    text = "First sentence. The cited   sentence is here. Last one."
    html = render.highlight_html(text, "The cited sentence is here.")
    assert '<mark class="rag-quote">The cited   sentence is here.</mark>' in html
    assert visible_text(html) == "First sentence. The cited sentence is here. Last one."
    assert "<mark" not in render.highlight_html(text, "Not in the paragraph.")
    assert "<mark" not in render.highlight_html(text, "")
    assert render.highlight_html("a <b> c", "<b>") == 'a <mark class="rag-quote">&lt;b&gt;</mark> c'


def test_sources_panel_lists_this_answer_first_then_earlier_turns() -> None:
    old = cite(1, "Old paragraph.", "Old paragraph.")
    new = cite(2, "New paragraph with the quote.", "the quote")
    html = render.sources_html([old, new], current={2}, selected=1)
    cards = [a for t, a in parse(html).tags if t == "div" and "rag-source" in (a.get("class") or "").split()]
    assert [c["id"] for c in cards] == ["rag-src-2", "rag-src-1"]
    assert "rag-current" in cards[0]["class"] and "rag-current" not in cards[1]["class"]
    assert "rag-selected" in cards[1]["class"]
    assert cards[0]["data-rag-paragraph"] == "art2#p3"
    assert "Cited earlier in this conversation" in visible_text(html)
    assert "Title 2 <b> ¶ 3 undated" in visible_text(html)
    assert '<mark class="rag-quote">the quote</mark>' in html
    buttons = [a for t, a in parse(html).tags if t == "button"]
    assert [b["data-rag-open"] for b in buttons] == ["art2#p3", "art1#p3"]
    assert render.EMPTY_SOURCES in visible_text(render.sources_html([]))


def test_article_marks_the_target_paragraph_and_its_quote() -> None:
    paragraphs = [(1, "Opening."), (2, "Middle <i>part</i>. The quote."), (3, "End.")]
    html = render.article_html("A title", "https://news.example/a", paragraphs, 2, "The quote.", 4)
    paras = [a for t, a in parse(html).tags if t == "p"]
    assert [p["id"] for p in paras] == ["rag-para-1", "rag-para-2", "rag-para-3"]
    assert [p["class"] for p in paras] == ["rag-para", "rag-para rag-para-target", "rag-para"]
    assert '<mark class="rag-quote">The quote.</mark>' in html
    assert "Middle <i>part</i>." in visible_text(html) and "[4]" in visible_text(html)
    assert_safe(html, {"https://news.example/a"})
    assert html.count("<mark") == 1


class _Status:
    def __init__(self, complete: bool = True, writer_active: bool = False) -> None:
        self.articles, self.paragraphs = 1200, 34567
        self.complete, self.writer_active = complete, writer_active
        self.updated_at = "2026-11-23T09:11:44+0000"


def test_status_line() -> None:
    assert render.status_line(_Status()) == (
        "1,200 articles · 34,567 paragraphs · index complete, updated 2026-11-23 09:11 · "
        "answers: extractive, offline"
    )
    assert "INCOMPLETE" in render.status_line(_Status(complete=False))
    assert "an ingest is running" in render.status_line(_Status(writer_active=True))
    assert "No index yet" in render.status_line(None)
    assert "answers: LLM" in render.status_line(_Status(), "llm")
    assert "rag-status-warn" in render.status_html(_Status(complete=False))
    assert "rag-status-warn" not in render.status_html(_Status())


def test_sentences_keep_their_markers_and_split_only_between_sentences() -> None:
    text = "U.S. envoy Witkoff met Putin. [1] They talked for five hours. Kushner came too. [2][3] “Good,” he said."
    assert render.sentences(text) == [
        "U.S. envoy Witkoff met Putin. [1]",
        "They talked for five hours.",
        "Kushner came too. [2][3]",
        "“Good,” he said.",
    ]
    assert render.sentences("") == []


def test_an_offline_answer_is_revealed_sentence_by_sentence_once() -> None:
    c = cite(1, "p", "p")
    offline = render.answer_html(Answer("q", "One. Two. [1]", False, citations=(c,), mode="extractive"))
    assert "rag-reveal" in offline and offline.count('class="rag-sent"') == 2
    assert "rag-reveal" not in render.settled(offline) and render.settled(
        render.question_html("x rag-reveal")
    ) == (render.question_html("x rag-reveal"))
    llm = render.answer_html(Answer("q", "One. Two. [1]", False, citations=(c,), mode="llm"))
    assert "rag-reveal" not in llm  # its words were already shown as they streamed


def test_answer_actions_and_the_copied_text_with_numbered_sources() -> None:
    c1 = Citation(
        1,
        "a#p3",
        "a",
        "Kremlin talks",
        "Long text. The quote.",
        3,
        "https://news.example/a",
        "The quote.",
        "2024-01-12",
    )
    c2 = Citation(2, "b#p1", "b", "Miami meeting", "Met in Miami.", 1, "javascript:x", "Met in Miami.")
    answer = Answer(
        "Who met?",
        "The quote. [1] Met in Miami. [2]",
        False,
        citations=(c1, c2),
        as_of="2024-01-15",
        time_scope="this week (8 January 2024 to 15 January 2024)",
        filters=("only the article “Kremlin talks”",),
    )
    html = render.answer_html(answer, turn=4)
    buttons = [a for t, a in parse(html).tags if t == "button"]
    assert [(b["name"], b["value"]) for b in buttons] == [
        (n, "4") for n in ("copy", "retry", "up", "down", "wrong")
    ]
    assert "Filters: only the article “Kremlin talks”" in visible_text(html)
    assert "as of 2024-01-15, about this week" in visible_text(html)
    assert "\n" not in html and one_html_block(html)
    assert render.copy_text(answer) == "\n".join(
        [
            "Q: Who met?",
            "",
            "The quote. [1] Met in Miami. [2]",
            "",
            "As of 2024-01-15 (about this week (8 January 2024 to 15 January 2024)) · Filters: only the article “Kremlin talks”",
            "",
            "Sources:",
            "[1] Kremlin talks, paragraph 3 (2024-01-12): “The quote.” https://news.example/a",
            "[2] Miami meeting, paragraph 1 (undated): “Met in Miami.”",  # no link: not http(s)
        ]
    )
    block = [a for t, a in parse(html).tags if t == "div" and a.get("class") == "rag-copy-text"]
    assert block and "hidden" in block[0]
    assert html.count('class="rag-copy-line"') == len(render.copy_text(answer).splitlines())
    assert "rag-actions" not in render.answer_html(answer)  # without a turn: no buttons (e.g. the CLI)
    assert 'name="retry" value="7"' in render.error_html("index busy", turn=7)


def test_the_closest_paragraphs_of_an_abstention_open_by_turn_and_rank() -> None:
    near = tuple(
        Passage(
            f"a#p{i}",
            "a",
            i,
            f"Title {i}",
            f"Witkoff met Putin, take {i}.",
            1.0,
            i,
            publish_date=f"2024-01-0{i}",
        )
        for i in range(1, 5)
    )
    html = render.answer_html(Answer("q", "", True, "The articles do not say.", passages=near), turn=2)
    opens = [a["value"] for t, a in parse(html).tags if t == "button" and a.get("name") == "near"]
    assert opens == ["2.0", "2.1", "2.2"]
    assert '<time class="rag-date" datetime="2024-01-01">' in html and one_html_block(html)


def test_dates_are_shown_or_said_to_be_unknown() -> None:
    dated = Citation(1, "a#p1", "a", "T", "x", 1, "", "x", "2024-01-12")
    assert '<time class="rag-date" datetime="2024-01-12">2024-01-12</time>' in render.source_card_html(dated)
    undated = Citation(2, "b#p1", "b", "T", "x", 1, "", "x")
    assert "undated" in visible_text(render.source_card_html(undated))
    view = render.article_html("T", "", [(1, "x")], 1, "", 1, "2023-05-16")
    assert "2023-05-16" in visible_text(view)


def test_articles_view_lists_title_date_site_and_paragraphs_newest_first_and_searches() -> None:
    infos = [
        ArticleInfo("a1", "Old story", "2019-03-01", "https://www.cnn.com/x", "news.jsonl:4", 12),
        ArticleInfo("a2", "Brand new story", "2024-01-12", "", "/data/news.jsonl:9", 3),
        ArticleInfo("a3", "Undated notes", "", "", "/corpus/003_notes.txt", 7),
        ArticleInfo("a4", "Another new one", "2024-01-12", "https://apnews.com/y", "", 1),
    ]
    assert [a.article_id for a in render.article_order(infos)] == ["a4", "a2", "a1", "a3"]
    assert render.article_label(infos[0]) == "Old story · 2019-03-01 · cnn.com"
    assert render.article_label(infos[1]) == "Brand new story · 2024-01-12 · news.jsonl"
    assert render.article_label(infos[2]) == "Undated notes · undated · 003_notes.txt"
    html = render.articles_html(infos)
    assert_safe(html, {"https://www.cnn.com/x", "https://apnews.com/y"}, tables=True)
    rows = [a["data-rag-article"] for t, a in parse(html).tags if t == "tr" and "data-rag-article" in a]
    assert rows == ["a4", "a2", "a1", "a3"]
    assert "4 articles" in visible_text(html) and "2019-03-01cnn.com12" in visible_text(html)
    found = render.articles_html(infos, "new 2024")
    assert "2 of 4 articles match “new 2024”" in visible_text(found)
    assert [a["data-rag-only"] for t, a in parse(found).tags if t == "button"] == ["a4", "a2"]
    assert "No article matches" in visible_text(render.articles_html(infos, "zebra"))
    many = [ArticleInfo(f"x{i:04d}", f"Story {i}", "2024-01-01", "", "", 1) for i in range(450)]
    listing = render.articles_html(many, limit=200)
    assert listing.count("<tr data-rag-article=") == 200 and "search to narrow them down" in listing
    assert render.articles_html(many, "Story 449").count("<tr data-rag-article=") == 1
    assert "No articles are indexed yet" in visible_text(render.articles_html([]))


def test_status_line_says_what_a_background_sync_is_doing() -> None:
    line = render.status_line(_Status(), activity="syncing: embedding paragraphs 1,200 / 4,000…")
    assert "index complete" in line and "syncing: embedding paragraphs 1,200 / 4,000…" in line
    assert render.status_line(None, activity="syncing: reading the articles…") == (
        "No index yet · syncing: reading the articles…"
    )
    assert "rag-status-busy" in render.status_html(_Status(), activity="syncing…")


def test_the_counter_starts_at_zero_against_the_limit() -> None:
    html = render.counter_html(2000)
    assert 'data-rag-limit="2000"' in html and "0 / 2,000" in visible_text(html)
