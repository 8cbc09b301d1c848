"""The chat page in Debian's chromium, driven by Playwright: ask, stream, cite, open, follow up, abstain."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai import free_port

from rag.engine import Engine
from rag.schema import Answer, Citation, IndexStatus, Passage
from ui.app import build_app, launch

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
MIAMI_ARTICLES = ("001_15444799d16b97f2", "004_1f2595c2addab089")
WAIT_MS = 60_000


def serve(engine: Engine) -> tuple[Any, str]:
    app = build_app(engine)
    url = launch(app, "127.0.0.1", free_port(), block=False, quiet=True)
    return app, url


def ask(page: Any, question: str, answers_before: int) -> Any:
    """Type `question`, send it, wait until its answer is final; returns that message."""
    page.fill("#rag-question textarea", question)
    page.keyboard.press("Enter")
    done = page.locator("#rag-chat .rag-answered, #rag-chat .rag-abstained, #rag-chat .rag-error")
    done.nth(answers_before).wait_for(timeout=WAIT_MS)
    return done.nth(answers_before)


def watch_streaming(page: Any) -> None:
    """Record whether a partial (streaming) answer is ever on the page."""
    page.evaluate(
        """() => {
        window.__ragSawStreaming = false;
        new MutationObserver(() => {
          if (document.querySelector('#rag-chat .rag-streaming')) window.__ragSawStreaming = true;
        }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }"""
    )


def test_chat_page_in_a_real_browser(seeds_engine: Engine, browser: Any) -> None:
    from playwright.sync_api import expect

    expected = seeds_engine.ask("Who is Steve Witkoff?")  # what the page should cite first
    app, url = serve(seeds_engine)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(url, timeout=WAIT_MS)
        page.wait_for_selector("#rag-question textarea", timeout=WAIT_MS)
        expect(page.locator("#rag-status")).to_contain_text("5 articles · 79 paragraphs", timeout=WAIT_MS)

        # 1. A seed question: the answer streams in and carries a citation marker.
        watch_streaming(page)
        first = ask(page, "Who is Steve Witkoff?", 0)
        assert page.evaluate("window.__ragSawStreaming"), "no partial answer was ever shown"
        expect(first).to_contain_text("Witkoff")
        marker = first.locator("a.rag-cite").first
        expect(marker).to_have_text("[1]")

        # 2. Clicking the marker shows the cited paragraph, its sentence highlighted.
        marker.click()
        card = page.locator("#rag-sources .rag-source.rag-selected")
        expect(card).to_have_count(1)
        expect(card).to_have_attribute("id", "rag-src-1")
        cited = expected.citations[0]
        expect(card.locator(".rag-source-text")).to_have_text(cited.text)
        expect(card.locator("mark.rag-quote")).to_have_text(cited.quote)
        expect(card).to_be_in_viewport()

        # 3. A follow-up leans on the first turn and cites an article about the Miami meeting.
        second = ask(page, "And who did he meet in Miami?", 1)
        expect(second).to_contain_text("Miami")
        follow_marker = second.locator("a.rag-cite").first
        key = re.fullmatch(r"\[(\d+)\]", follow_marker.inner_text().strip())
        assert key and int(key.group(1)) == 2, "a new paragraph gets the next number"
        follow_marker.click()
        follow_card = page.locator(f"#rag-sources #rag-src-{key.group(1)}")
        expect(follow_card).to_have_class(re.compile(r"\brag-selected\b"))
        paragraph_id = follow_card.get_attribute("data-rag-paragraph") or ""
        assert paragraph_id.split("#")[0] in MIAMI_ARTICLES, paragraph_id
        expect(page.locator("#rag-sources #rag-src-1")).to_be_attached()  # earlier source kept

        # 4. Open the whole article: the cited paragraph is marked and scrolled into view.
        follow_card.locator("button.rag-open").click()
        n = paragraph_id.split("#p")[1]
        target = page.locator("#rag-article .rag-para-target")
        expect(target).to_have_attribute("id", f"rag-para-{n}", timeout=WAIT_MS)
        expect(target.locator("mark.rag-quote")).to_be_visible()
        expect(target).to_be_in_viewport()
        scrolled = page.evaluate("document.querySelector('#rag-article .rag-article-body').scrollTop")
        assert scrolled > 0, "the article box should scroll down to a later paragraph"
        assert page.locator("#rag-article .rag-para").count() > int(n)

        # 5. An unanswerable question: an abstention that names what is missing, no marker.
        third = ask(page, "What did Xi Jinping say about the talks?", 2)
        expect(third).to_have_class(re.compile(r"\brag-abstained\b"))
        expect(third).to_contain_text("No answer in the articles")
        expect(third).to_contain_text("Xi Jinping")
        expect(third.locator("a.rag-cite")).to_have_count(0)
        # The closest paragraphs it searched are folded under it, to check the abstention by.
        nearest = third.locator("details.rag-nearest")
        expect(nearest).to_have_count(1)
        expect(nearest.locator("li").first).not_to_be_visible()
        nearest.locator("summary").click()
        expect(nearest.locator("li")).to_have_count(3)
        expect(nearest.locator("li").first).to_be_visible()
        expect(nearest).to_contain_text("paragraph")

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)
        off_machine = [r for r in requests if not r.startswith(url.rstrip("/")) and not r.startswith("data:")]
        assert not off_machine, f"the page fetched from elsewhere: {off_machine[:5]}"
        assert not errors, errors
    finally:
        page.close()
        app.close()


class HostileEngine(Engine):
    """The real Engine, answering with article and model text that tries to inject markup."""

    def __init__(self, settings: Any, evil: str) -> None:
        super().__init__(settings)
        self.evil = evil

    def open_index(self) -> None:
        pass

    def article(self, article_id: str) -> list[Passage]:
        return [
            Passage("bad#p1", "bad", 1, self.evil, self.evil, 0.0, 1, "javascript:window.__pwned=5"),
            Passage("bad#p2", "bad", 2, "", "The quote. " + self.evil, 0.0, 2, ""),
        ]

    def status(self) -> Any:
        return IndexStatus(articles=1, paragraphs=2, complete=True, updated_at="", writer_active=False)

    def ask_stream(self, question: str, **kwargs: Any) -> Iterator[str | Answer]:
        c = Citation(
            1,
            "bad#p2",
            "bad",
            self.evil,
            "The quote. " + self.evil,
            2,
            "javascript:window.__pwned=4",
            "The quote.",
        )
        yield self.evil
        yield Answer(question, self.evil + " [1]", False, citations=(c,), notices=(self.evil,))


def test_article_and_model_text_cannot_inject_markup(seeds_engine: Engine, browser: Any) -> None:
    from playwright.sync_api import expect

    port = free_port()
    evil = (
        f'<img src="http://127.0.0.1:{port}/raw.png" onerror="window.__pwned=1"> '
        f"![md](http://127.0.0.1:{port}/md.png) [click](javascript:window.__pwned=2) "
        f'<a href="javascript:window.__pwned=3">link</a> https://evil.example/auto'
    )
    app = build_app(HostileEngine(seeds_engine.settings, evil))
    url = launch(app, "127.0.0.1", port, block=False, quiet=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(url, timeout=WAIT_MS)
        page.wait_for_selector("#rag-question textarea", timeout=WAIT_MS)
        answer = ask(page, evil, 0)
        expect(answer).to_contain_text("![md](")  # shown as text
        page.locator("#rag-sources button.rag-open").click()
        expect(page.locator("#rag-article .rag-para-target")).to_be_visible(timeout=WAIT_MS)
        for area in ("#rag-chat", "#rag-sources", "#rag-article"):
            assert page.locator(f"{area} [class*=message-content] img, {area} .rag-message img").count() == 0
            hrefs = page.eval_on_selector_all(f"{area} a", "els => els.map(a => a.getAttribute('href'))")
            assert not [h for h in hrefs if h and h.lower().startswith(("javascript", "https://evil"))], hrefs
        assert page.locator("img[src*='raw.png'], img[src*='md.png']").count() == 0
        page.locator("#rag-chat a.rag-cite").first.click()
        assert page.evaluate("window.__pwned") is None
        assert not [r for r in requests if r.endswith(("raw.png", "md.png"))]
    finally:
        page.close()
        app.close()
