"""The chat page in Debian's chromium, driven by Playwright, at a desktop width (1280 px) and a phone's
(390 px): ask, cite, open, follow up, abstain; the bugs a new user found; the features people expect."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply, free_port

import rag
from rag.engine import Engine
from rag.schema import Answer, ArticleInfo, Citation, IndexStatus, Passage
from ui.app import EXAMPLES, build_app, launch, main

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
MIAMI_ARTICLES = ("001_15444799d16b97f2", "004_1f2595c2addab089")
WAIT_MS = 60_000
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "mobile": {"width": 390, "height": 844}}
FINAL = "#rag-chat .rag-answered, #rag-chat .rag-abstained, #rag-chat .rag-error"
# The seed articles with dates and sites, as a news corpus gives them (one undated).
DATED = {
    "000_c11a9383216b6f5a": ("2024-01-05", "https://www.apnews.example/florida-talks"),
    "001_15444799d16b97f2": ("2024-01-09", "https://cbc.example/ukraine-negotiators"),
    "002_33a30cdbeddf286c": ("2023-12-20", "https://www.reuters.example/us-russia-dialogue"),
    "003_b83f3884dc9034e7": ("2024-01-12", "https://kyivpost.example/kremlin-midnight"),
    "004_1f2595c2addab089": ("", ""),
}


# -- servers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def served(engine: Engine, **build: Any) -> Iterator[str]:
    app = build_app(engine, **build)
    url = launch(app, "127.0.0.1", free_port(), block=False, quiet=True)
    try:
        yield url.rstrip("/")
    finally:
        app.close()


@pytest.fixture(scope="module")
def seeds_site(seeds_engine: Engine) -> Iterator[str]:
    with served(seeds_engine, examples=EXAMPLES) as url:
        yield url


@pytest.fixture(scope="module")
def dated_engine(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Engine:
    corpus = tmp_path_factory.mktemp("dated-corpus")
    rows = []
    for f in sorted(SEEDS.glob("*.txt")):
        title, _, text = f.read_text(encoding="utf-8").partition("\n")
        date, url = DATED[f.stem]
        rows.append({"id": f.stem, "title": title.strip(), "url": url, "publish_date": date, "text": text})
    (corpus / "news.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    engine = rag.open(corpus=corpus, index_dir=tmp_path_factory.mktemp("dated-index"), model_dir=model_dir)
    engine.ingest(progress=False)
    return engine


@pytest.fixture(scope="module")
def dated_site(dated_engine: Engine) -> Iterator[str]:
    with served(dated_engine) as url:
        yield url


@pytest.fixture(params=list(WIDTHS))
def width(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- pages ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def opened(
    browser: Any, url: str, width: str, clipboard: bool = False, wait_status: str = "articles"
) -> Iterator[Any]:
    """A fresh session of the page at `width`; fails on any script error or off-machine request."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=WIDTHS[width])
    if clipboard:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(url, timeout=WAIT_MS)
        page.wait_for_selector("#rag-question textarea", timeout=WAIT_MS)
        expect(page.locator("#rag-status")).to_contain_text(wait_status, timeout=WAIT_MS)
        yield page
        off_machine = [r for r in requests if not r.startswith(url) and not r.startswith("data:")]
        assert not off_machine, f"the page fetched from elsewhere: {off_machine[:5]}"
        assert not errors, errors
    finally:
        context.close()


def ask(page: Any, question: str, answers_before: int) -> Any:
    """Type `question`, send it, wait until its answer is final; returns that message."""
    page.fill("#rag-question textarea", question)
    page.keyboard.press("Enter")
    done = page.locator(FINAL)
    done.nth(answers_before).wait_for(timeout=WAIT_MS)
    return done.nth(answers_before)


def questions_shown(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#rag-chat .rag-question").all_inner_texts()]


def close_drawer(page: Any) -> None:
    """On a phone, close the sources drawer (it covers the lower part of the screen)."""
    if page.evaluate(
        "(document.getElementById('rag-side') || {classList: {contains: () => false}}).classList.contains('rag-drawer-open')"
    ):
        page.locator("#rag-side .rag-drawer-close").click()
        page.wait_for_function("!document.getElementById('rag-side').classList.contains('rag-drawer-open')")


def current_dates(page: Any) -> list[str]:
    """The dates on the latest answer's source cards (also while a phone's drawer is closed)."""
    return page.locator("#rag-sources .rag-source.rag-current .rag-date").evaluate_all(
        "els => els.map(e => e.textContent.trim())"
    )


def shot(page: Any, name: str, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(400)  # let the drawer and the reveal settle
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def in_viewport(page: Any, selector_or_locator: Any) -> bool:
    loc = page.locator(selector_or_locator) if isinstance(selector_or_locator, str) else selector_or_locator
    box = loc.bounding_box()
    vp = page.viewport_size
    return bool(box) and box["y"] >= 0 and box["y"] + box["height"] <= vp["height"] + 1


def pick_article(page: Any, words: str) -> None:
    """Choose an article in the article filter by typing words of its label."""
    box = page.locator("#rag-articles input")
    box.click()
    box.fill(words)
    option = page.locator("#rag-articles li[role=option]").filter(has_text=words).first
    option.click()
    page.keyboard.press("Escape")


# -- the flow that works, at both widths ---------------------------------------------------------


def test_chat_page_in_a_real_browser(seeds_engine: Engine, seeds_site: str, browser: Any, width: str) -> None:
    from playwright.sync_api import expect

    expected = seeds_engine.ask("Who is Steve Witkoff?")  # what the page should cite first
    with opened(browser, seeds_site, width, wait_status="5 articles · 79 paragraphs") as page:
        # 1. A seed question: the answer carries a citation marker.
        first = ask(page, "Who is Steve Witkoff?", 0)
        expect(first).to_contain_text("Witkoff")
        marker = first.locator("a.rag-cite").first
        expect(marker).to_have_text("[1]")

        # 2. Clicking the marker shows the cited paragraph, its sentence highlighted, next to the
        #    answer: beside it on a desktop, in a drawer over the lower screen on a phone, where
        #    the page does not jump away (it moves at most so that the marker stays above the drawer).
        before = page.evaluate("window.scrollY")
        marker.click()
        card = page.locator("#rag-sources .rag-source.rag-selected")
        expect(card).to_have_count(1)
        expect(card).to_have_attribute("id", "rag-src-1")
        cited = expected.citations[0]
        expect(card.locator(".rag-source-text")).to_have_text(cited.text)
        expect(card.locator("mark.rag-quote")).to_have_text(cited.quote)
        expect(card).to_be_in_viewport()
        expect(card.locator(".rag-date")).to_have_text("undated")
        moved = page.evaluate("window.scrollY") - before
        if width == "mobile":
            expect(page.locator("#rag-side")).to_have_class(re.compile(r"\brag-drawer-open\b"))
            drawer_top = page.locator("#rag-side").bounding_box()["y"]
            mark = marker.bounding_box()
            assert mark["y"] >= 0 and mark["y"] + mark["height"] <= drawer_top + 1, (mark, drawer_top)
            assert abs(moved) < 400, f"the page jumped {moved} px"
            shot(page, "mobile-answer-drawer")
            close_drawer(page)
        else:
            assert moved == 0
            expect(first).to_be_in_viewport()

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
        shot(page, f"{width}-answer-and-article")
        close_drawer(page)

        # 5. An unanswerable question: an abstention that names what is missing, no marker.
        third = ask(page, "What did Xi Jinping say about the talks?", 2)
        expect(third).to_have_class(re.compile(r"\brag-abstained\b"))
        expect(third).to_contain_text("No answer in the articles")
        expect(third).to_contain_text("Xi Jinping")
        expect(third.locator("a.rag-cite")).to_have_count(0)
        # The closest paragraphs it searched are folded under it, and open like citations do.
        nearest = third.locator("details.rag-nearest")
        expect(nearest).to_have_count(1)
        expect(nearest.locator("li").first).not_to_be_visible()
        nearest.locator("summary").click()
        expect(nearest.locator("li")).to_have_count(3)
        expect(nearest.locator("li").first).to_be_visible()
        near = nearest.locator("button.rag-act[name=near]").first
        label = near.inner_text()
        near.click()
        n = re.search(r"¶ (\d+)", label).group(1)  # type: ignore[union-attr]
        target = page.locator("#rag-article .rag-para-target")
        expect(target).to_have_attribute("id", f"rag-para-{n}", timeout=WAIT_MS)
        expect(target).to_be_in_viewport()
        shot(page, f"{width}-abstention-nearest-opened")


# -- the bugs --------------------------------------------------------------------------------------


def test_first_load_is_compact_and_no_label_covers_the_messages(
    seeds_site: str, browser: Any, width: str
) -> None:
    with opened(browser, seeds_site, width) as page:
        chat = page.locator("#rag-chat").bounding_box()
        assert chat["height"] <= 160, f"a {chat['height']:.0f} px blank chat box on first load"
        box = page.locator("#rag-question textarea").bounding_box()
        assert box["y"] + box["height"] <= WIDTHS[width]["height"], "the question box is below the fold"
        shot(page, f"{width}-first-load")
        for i, q in enumerate(
            [
                "Who is Steve Witkoff?",
                "Where did NATO foreign ministers meet?",
                "Who co-owns the Faena hotel?",
                "Who accompanied Steve Witkoff to the talks with Putin in Moscow?",
            ]
        ):
            ask(page, q, i)
        # Scroll the conversation to its middle: no label may sit over the messages.
        page.evaluate(
            """() => {
            const all = [...document.querySelectorAll('#rag-chat *')];
            const box = all.find((el) => el.scrollHeight > el.clientHeight + 20 &&
                                         ['auto', 'scroll'].includes(getComputedStyle(el).overflowY));
            if (box) box.scrollTop = box.scrollHeight / 2;
        }"""
        )
        page.wait_for_timeout(300)
        overlaps = page.evaluate(
            """() => {
            const labels = [...document.querySelectorAll('#rag-chat label, #rag-chat [data-testid="block-label"]')]
              .filter((el) => el.offsetParent !== null && el.getBoundingClientRect().height > 0);
            const texts = [...document.querySelectorAll('#rag-chat .rag-question, #rag-chat .rag-message')];
            const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
            return labels.flatMap((l) => texts.filter((t) => hit(l.getBoundingClientRect(), t.getBoundingClientRect()))
              .map((t) => l.innerText + ' over ' + t.innerText.slice(0, 40)));
        }"""
        )
        assert overlaps == [], overlaps


def test_clicking_an_example_asks_it(seeds_site: str, browser: Any, width: str) -> None:
    from playwright.sync_api import expect

    with opened(browser, seeds_site, width) as page:
        example = page.locator(".rag-example").filter(has_text=EXAMPLES[0])
        example.click()
        answer = page.locator(FINAL).first
        answer.wait_for(timeout=WAIT_MS)
        assert questions_shown(page) == [EXAMPLES[0]]
        expect(answer).to_have_class(re.compile(r"\brag-answered\b"))
        expect(answer).to_contain_text("Blavatnik")
        assert page.input_value("#rag-question textarea") == ""


def test_examples_are_hidden_over_another_corpus(dated_site: str, browser: Any) -> None:
    with opened(browser, dated_site, "desktop") as page:
        assert page.locator(".rag-example").count() == 0


def test_ask_on_an_empty_box_sends_nothing(seeds_site: str, browser: Any, width: str) -> None:
    from playwright.sync_api import expect

    with opened(browser, seeds_site, width) as page:
        page.locator("#rag-send").click()
        page.fill("#rag-question textarea", "   ")
        page.keyboard.press("Enter")
        page.wait_for_timeout(1500)
        assert page.locator("#rag-chat .rag-question, #rag-chat .rag-message").count() == 0
        expect(page.locator("#rag-counter .rag-count-note")).to_have_text("Type a question first.")


def test_a_long_paste_is_counted_and_refused_whole_before_sending(
    seeds_site: str, browser: Any, width: str
) -> None:
    from playwright.sync_api import expect

    paste = ("Who co-owns the Faena hotel in Miami Beach? " * 2300)[:100_000]
    with opened(browser, seeds_site, width) as page:
        expect(page.locator("#rag-counter .rag-count")).to_have_text("0 / 2,000")
        page.locator("#rag-question textarea").focus()
        page.keyboard.insert_text(paste)  # as a paste arrives: nothing may cut it silently
        expect(page.locator("#rag-counter .rag-count")).to_have_text("100,000 / 2,000")
        expect(page.locator("#rag-counter .rag-counter")).to_have_class(re.compile(r"\brag-over\b"))
        note = page.locator("#rag-counter .rag-count-note")
        expect(note).to_have_text(
            "Too long to ask: 100,000 characters; the limit is 2,000. Shorten it first."
        )
        page.keyboard.press("Enter")
        page.locator("#rag-send").click()
        page.wait_for_timeout(1500)
        assert page.locator("#rag-chat .rag-question, #rag-chat .rag-message").count() == 0
        assert len(page.input_value("#rag-question textarea")) == 100_000  # kept whole, to shorten
        shot(page, f"{width}-long-paste-refused")
        page.fill("#rag-question textarea", "Who co-owns the Faena hotel?")
        expect(page.locator("#rag-counter .rag-count")).to_have_text("28 / 2,000")
        expect(note).to_have_text("")
        answer = ask(page, "Who co-owns the Faena hotel?", 0)
        expect(answer).to_contain_text("Blavatnik")
        expect(page.locator("#rag-counter .rag-count")).to_have_text("0 / 2,000")


class SlowEngine(Engine):
    """The seeds engine (sharing its index and model), taking a second per answer."""

    @classmethod
    def beside(cls, engine: Engine) -> SlowEngine:
        slow = cls.__new__(cls)
        slow.__dict__.update(engine.__dict__)
        return slow

    def ask_stream(self, question: str, **kwargs: Any) -> Iterator[str | Answer]:
        time.sleep(1.0)
        yield from super().ask_stream(question, **kwargs)


def test_a_second_question_typed_quickly_is_sent_as_typed(
    seeds_engine: Engine, browser: Any, width: str
) -> None:
    from playwright.sync_api import expect

    with served(SlowEngine.beside(seeds_engine)) as url, opened(browser, url, width) as page:
        page.fill("#rag-question textarea", "Who is Steve Witkoff?")
        page.keyboard.press("Enter")
        # Once the first question is on its way (shown in the chat; its answer takes a second), the
        # second is typed while the first is answered. (Playwright could otherwise replace the
        # box's text within the millisecond the first Enter is handled: no hand types that fast.)
        expect(page.locator("#rag-chat .rag-question").first).to_have_text("Who is Steve Witkoff?")
        page.fill("#rag-question textarea", "Who co-owns the Faena hotel?")
        page.wait_for_timeout(500)
        assert page.input_value("#rag-question textarea") == "Who co-owns the Faena hotel?"
        page.keyboard.press("Enter")
        page.locator(FINAL).nth(1).wait_for(timeout=WAIT_MS)
        assert questions_shown(page) == ["Who is Steve Witkoff?", "Who co-owns the Faena hotel?"]
        expect(page.locator("#rag-chat .rag-error")).to_have_count(0)
        expect(page.locator(FINAL).nth(1)).to_contain_text("Blavatnik")


def test_new_conversation_clears_the_filters(dated_site: str, browser: Any, width: str) -> None:
    from playwright.sync_api import expect

    with opened(browser, dated_site, width) as page:
        pick_article(page, "Kremlin Negotiations")
        page.fill("#rag-date-from textarea, #rag-date-from input", "2024-01-01")
        page.fill("#rag-as-of textarea, #rag-as-of input", "2024-01-31")
        answer = ask(page, "Who co-owns the Faena hotel?", 0)
        expect(answer.locator(".rag-filters")).to_contain_text("Kremlin Negotiations")
        page.locator("#rag-clear").click()
        expect(page.locator("#rag-chat .rag-message")).to_have_count(0)
        expect(page.locator("#rag-articles .token, #rag-articles [class*=token]")).to_have_count(0)
        for field in ("#rag-date-from", "#rag-as-of"):
            assert page.locator(f"{field} textarea, {field} input").first.input_value() == ""
        expect(page.locator("#rag-sources .rag-source")).to_have_count(0)


# -- the features ----------------------------------------------------------------------------------


def test_dates_on_answers_and_sources_and_the_date_filters(
    dated_engine: Engine, dated_site: str, browser: Any, width: str
) -> None:
    from playwright.sync_api import expect

    with opened(browser, dated_site, width) as page:
        first = ask(page, "Who co-owns the Faena hotel?", 0)
        expect(first.locator(".rag-meta")).to_contain_text("as of 2024-01-12")  # the newest article's date
        expect(first.locator("a.rag-cite").first).to_have_attribute("title", re.compile(r"\(2024-01-12\)$"))
        expect(page.locator("#rag-sources .rag-source .rag-date").first).to_have_text("2024-01-12")
        # A date range: only articles published in it are searched, and the answer says so.
        page.fill("#rag-date-from textarea, #rag-date-from input", "2024-01-01")
        page.fill("#rag-date-to textarea, #rag-date-to input", "2024-01-10")
        second = ask(page, "Who is Steve Witkoff?", 1)
        expect(second.locator(".rag-filters")).to_be_visible()
        dates = current_dates(page)
        assert dates and all("2024-01-01" <= d <= "2024-01-10" for d in dates), dates
        # A date that is not a date: one line, in the chat.
        page.fill("#rag-date-from textarea, #rag-date-from input", "2024-13-45")
        error = ask(page, "Who is Steve Witkoff?", 2)
        expect(error).to_have_class(re.compile(r"\brag-error\b"))
        expect(error).to_contain_text("2024-13-45")
        assert len(error.inner_text().strip().splitlines()) <= 3  # head, the line, the Retry button
        # The as-of date: nothing published later is used.
        page.fill("#rag-date-from textarea, #rag-date-from input", "")
        page.fill("#rag-date-to textarea, #rag-date-to input", "")
        page.fill("#rag-as-of textarea, #rag-as-of input", "2024-01-06")
        fourth = ask(page, "Who is Steve Witkoff?", 3)
        expect(fourth.locator(".rag-meta")).to_contain_text("as of 2024-01-06")
        dates = current_dates(page)
        assert dates and all(d == "undated" or d <= "2024-01-06" for d in dates), dates


def test_copy_retry_and_feedback(dated_engine: Engine, dated_site: str, browser: Any, width: str) -> None:
    from playwright.sync_api import expect

    feedback = dated_engine.settings.index_dir / "feedback.jsonl"
    with opened(browser, dated_site, width, clipboard=True) as page:
        answer = ask(page, "Who co-owns the Faena hotel?", 0)
        # Copy: the answer as text, with its numbered sources.
        answer.locator("button.rag-act[name=copy]").click()
        expect(answer.locator("button.rag-act[name=copy]")).to_have_text("Copied")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.startswith("Q: Who co-owns the Faena hotel?\n\n")
        assert "co-owned by Blavatnik" in copied and "[1]" in copied
        assert re.search(
            r"\n\[1\] Kremlin Negotiations .*, paragraph \d+ \(2024-01-12\): “.*” https://kyivpost\.example/",
            copied,
        ), copied
        # Retry: the same question answered again, in place.
        answer.locator("button.rag-act[name=retry]").click()
        page.wait_for_timeout(300)
        page.locator(FINAL).first.wait_for(timeout=WAIT_MS)
        expect(page.locator("#rag-chat .rag-question")).to_have_count(1)
        expect(page.locator(FINAL)).to_have_count(1)
        answer = page.locator(FINAL).first
        expect(answer).to_contain_text("Blavatnik")
        # Thumbs up, then "this answer is wrong" with a correct answer: both kept beside the index.
        answer.locator("button.rag-act[name=up]").click()
        expect(
            page.locator(".toast-body, [data-testid=toast-body]").filter(has_text="feedback is saved").first
        ).to_be_visible()
        answer.locator("button.rag-act[name=wrong]").click()
        form = page.locator("#rag-feedback").first
        expect(form).to_be_visible()
        expect(form).to_contain_text("Who co-owns the Faena hotel?")
        comment = f"names only one owner ({width})"
        form.locator("#rag-feedback-comment textarea").fill(comment)
        form.locator("#rag-feedback-correct textarea, #rag-feedback-correct input").first.fill(
            "Len Blavatnik and Alan Faena"
        )
        shot(page, f"{width}-feedback-form")
        form.locator("#rag-feedback-send").click()
        expect(form).to_be_hidden()
        deadline = time.monotonic() + 10
        mine: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            lines = [json.loads(x) for x in feedback.read_text().splitlines()] if feedback.exists() else []
            mine = [x for x in lines if x["comment"] == comment]
            if mine:
                break
            time.sleep(0.2)
        assert (
            mine
            and mine[0]["rating"] == "down"
            and mine[0]["correct_answer"] == "Len Blavatnik and Alan Faena"
        )
        assert mine[0]["question"] == "Who co-owns the Faena hotel?" and mine[0]["as_of"] == "2024-01-12"
        assert any(x["rating"] == "up" and "Blavatnik" in x["answer"] for x in lines)


def test_the_articles_view_lists_and_searches_what_is_indexed(
    dated_site: str, browser: Any, width: str
) -> None:
    from playwright.sync_api import expect

    with opened(browser, dated_site, width) as page:
        page.locator("#rag-tabs button[role=tab]").filter(has_text="Articles").click()
        table = page.locator("#rag-articles-list")
        expect(table).to_contain_text("5 articles")
        rows = table.locator("tbody tr")
        expect(rows).to_have_count(5)
        expect(rows.first).to_contain_text("Kremlin Negotiations")  # newest first
        expect(rows.first).to_contain_text("2024-01-12")
        expect(rows.first).to_contain_text("kyivpost.example")
        expect(rows.last).to_contain_text("undated")
        page.fill("#rag-article-search textarea, #rag-article-search input", "2024-01")
        expect(table).to_contain_text("3 of 5 articles match")
        expect(rows).to_have_count(3)
        page.fill("#rag-article-search textarea, #rag-article-search input", "reuters")
        expect(rows).to_have_count(1)
        shot(page, f"{width}-articles-view")
        # Every part of a row is on the screen, a phone's included: nothing to scroll sideways to.
        button = rows.first.locator("button.rag-only")
        for part in (rows.first.locator("td.rag-col-n"), button):
            box = part.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= WIDTHS[width]["width"], box
        button.click()  # ask about this one
        expect(page.locator("#rag-question textarea")).to_be_visible()
        answer = ask(page, "Who is Dmitriev?", 0)
        expect(answer.locator(".rag-filters")).to_contain_text("US and Russia Engage in Dialogue")
        ids = page.locator("#rag-sources .rag-source.rag-current").evaluate_all(
            "els => els.map(e => e.dataset.ragParagraph.split('#')[0])"
        )
        assert ids and set(ids) == {"002_33a30cdbeddf286c"}, ids


class ManyArticles(Engine):
    """An engine over the news corpus's size: 2,443 articles to list (no questions asked)."""

    def open_index(self) -> None:
        pass

    def status(self) -> IndexStatus:
        return IndexStatus(
            articles=2443, paragraphs=104_635, complete=True, updated_at="", writer_active=False
        )

    def articles(self) -> list[ArticleInfo]:
        sites = ("cnn.com", "apnews.com", "bbc.co.uk", "reuters.com")
        return [
            ArticleInfo(
                f"a{i:05d}",
                f"Story number {i} about {('tariffs', 'elections', 'storms', 'markets')[i % 4]}",
                f"20{17 + i % 8:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                f"https://www.{sites[i % 4]}/story/{i}",
                f"news.jsonl:{i + 1}",
                1 + i % 40,
            )
            for i in range(2443)
        ]


def test_every_article_of_a_news_sized_index_is_listed_and_searchable(
    seeds_engine: Engine, browser: Any, width: str
) -> None:
    from playwright.sync_api import expect

    with served(ManyArticles(seeds_engine.settings)) as url, opened(browser, url, width) as page:
        box = page.locator("#rag-articles input")
        box.click()
        box.fill("number 2442")  # the last article, far past the first hundred
        option = page.locator("#rag-articles li[role=option]").filter(has_text="Story number 2442 about")
        expect(option).to_have_count(1)
        expect(option).to_contain_text("2019-07-07")
        expect(option).to_contain_text("bbc.co.uk")
        option.click()
        page.keyboard.press("Escape")
        page.locator("#rag-tabs button[role=tab]").filter(has_text="Articles").click()
        expect(page.locator("#rag-articles-list")).to_contain_text("2,443 articles")
        page.fill("#rag-article-search textarea, #rag-article-search input", "number 1999 elections")
        expect(page.locator("#rag-articles-list tbody tr")).to_have_count(0)
        page.fill("#rag-article-search textarea, #rag-article-search input", "number 1999")
        expect(page.locator("#rag-articles-list tbody tr")).to_have_count(1)
        expect(page.locator("#rag-articles-list tbody tr")).to_contain_text("markets")


def test_answers_appear_sentence_by_sentence_offline(seeds_site: str, browser: Any, width: str) -> None:
    with opened(browser, seeds_site, width) as page:
        page.evaluate(
            """() => {
            window.__ragSeen = {};
            const t0 = performance.now();
            const tick = () => {
              document.querySelectorAll('#rag-chat .rag-answered .rag-sent').forEach((el, i) => {
                if (!(i in window.__ragSeen) && parseFloat(getComputedStyle(el).opacity) > 0.95)
                  window.__ragSeen[i] = performance.now() - t0;
              });
              requestAnimationFrame(tick);
            };
            requestAnimationFrame(tick);
        }"""
        )
        answer = ask(page, "Who co-owns the Faena hotel?", 0)
        assert answer.locator(".rag-sent").count() >= 2
        page.wait_for_timeout(1500)
        seen = page.evaluate("window.__ragSeen")
        times = [seen[str(i)] for i in range(answer.locator(".rag-sent").count())]
        assert times == sorted(times) and times[-1] - times[0] >= 150, times  # one after another, visibly


def blavatnik_reply(request: dict[str, Any]) -> Reply:
    """A model that answers the Faena question from the paragraph it was shown, word by word."""
    user = request["messages"][-1]["content"]
    key = "P1"
    for block in re.split(r"\n(?=\[P\d+\] )", user):
        m = re.match(r"\[(P\d+)\]", block)
        if m and "Blavatnik" in block and "co-owned" in block:
            key = m.group(1)
            break
    text = f"The Faena Miami Beach hotel is co-owned by Blavatnik, a businessman with financial interests [{key}]."
    return Reply(text, chunk_delay_s=0.12)


def test_llm_words_flow_as_they_arrive(seeds_engine: Engine, browser: Any, width: str) -> None:
    from playwright.sync_api import expect

    fake = FakeOpenAI().start()
    try:
        fake.respond_with(blavatnik_reply)
        s = seeds_engine.settings.model_copy(
            update={"llm_base_url": fake.url, "llm_model": "fake", "llm_backoff_s": 0.01}
        )
        with served(Engine(s)) as url, opened(browser, url, width) as page:
            page.evaluate(
                """() => {
                window.__ragPartial = [];
                new MutationObserver(() => {
                  const el = document.querySelector('#rag-chat .rag-streaming');
                  const t = el ? el.innerText.replace('▍', '').trim() : '';
                  if (t && !t.startsWith('Searching') && window.__ragPartial.at(-1) !== t) window.__ragPartial.push(t);
                }).observe(document.body, {subtree: true, childList: true, characterData: true});
            }"""
            )
            answer = ask(page, "Who co-owns the Faena hotel?", 0)
            expect(answer.locator(".rag-meta")).to_contain_text("LLM answer")
            expect(answer).to_contain_text("co-owned by Blavatnik")
            partial = page.evaluate("window.__ragPartial")
            assert len(partial) >= 4, partial  # the words flowed in, several updates apart
            assert all(b.startswith(a) for a, b in zip(partial, partial[1:], strict=False)), partial
    finally:
        fake.stop()


class GatedSync(Engine):
    """The seeds engine, whose background sync reports progress and waits for a gate."""

    gate: threading.Event

    @classmethod
    def beside(cls, engine: Engine, gate: threading.Event) -> GatedSync:
        gated = cls.__new__(cls)
        gated.__dict__.update(engine.__dict__)
        gated.gate = gate
        return gated

    def ensure_index(self, progress: Any = True) -> None:
        progress("reading", 0, 0)
        progress("embedding", 1200, 4000)
        self.gate.wait(60)
        return None


def test_the_page_is_up_during_a_sync_and_says_what_it_is_doing(
    seeds_engine: Engine, browser: Any, width: str
) -> None:
    from playwright.sync_api import expect

    gate = threading.Event()
    port = free_port()
    app = main(host="127.0.0.1", port=port, engine=GatedSync.beside(seeds_engine, gate), block=False)
    try:
        with opened(browser, f"http://127.0.0.1:{port}", width) as page:
            status = page.locator("#rag-status")
            expect(status).to_contain_text("syncing: embedding paragraphs 1,200 / 4,000…")
            answer = ask(page, "Who co-owns the Faena hotel?", 0)  # the existing index answers meanwhile
            expect(answer).to_contain_text("Blavatnik")
            shot(page, f"{width}-syncing-status")
            gate.set()
            expect(status).not_to_contain_text("syncing", timeout=WAIT_MS)
            expect(status).to_contain_text("5 articles · 79 paragraphs · index complete")
    finally:
        gate.set()
        app.close()


# -- markup from articles and models stays text ----------------------------------------------------


class HostileEngine(Engine):
    """The real Engine, answering with article and model text that tries to inject markup."""

    def __init__(self, settings: Any, evil: str) -> None:
        super().__init__(settings)
        self.evil = evil

    def open_index(self) -> None:
        pass

    def articles(self) -> list[ArticleInfo]:
        return [ArticleInfo("bad", self.evil, "2024-01-01", "javascript:window.__pwned=6", self.evil, 2)]

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
        yield Answer(question, self.evil + " [1]", False, citations=(c,), notices=(self.evil,), mode="llm")


def test_article_and_model_text_cannot_inject_markup(seeds_engine: Engine, browser: Any, width: str) -> None:
    from playwright.sync_api import expect

    port = free_port()
    evil = (
        f'<img src="http://127.0.0.1:{port}/raw.png" onerror="window.__pwned=1"> '
        f"![md](http://127.0.0.1:{port}/md.png) [click](javascript:window.__pwned=2) "
        f'<a href="javascript:window.__pwned=3">link</a> https://evil.example/auto'
    )
    app = build_app(HostileEngine(seeds_engine.settings, evil))
    url = launch(app, "127.0.0.1", port, block=False, quiet=True)
    context = browser.new_context(viewport=WIDTHS[width])
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(url, timeout=WAIT_MS)
        page.wait_for_selector("#rag-question textarea", timeout=WAIT_MS)
        answer = ask(page, evil, 0)
        expect(answer).to_contain_text("![md](")  # shown as text
        if width == "mobile":
            page.evaluate("window.__ragOpenDrawer()")
        page.locator("#rag-sources button.rag-open").click()
        expect(page.locator("#rag-article .rag-para-target")).to_be_visible(timeout=WAIT_MS)
        page.locator("#rag-tabs button[role=tab]").filter(has_text="Articles").click()
        expect(page.locator("#rag-articles-list")).to_contain_text("![md](")
        page.locator("#rag-tabs button[role=tab]").filter(has_text="Ask").click()
        for area in ("#rag-chat", "#rag-sources", "#rag-article", "#rag-articles-list"):
            assert (
                page.locator(
                    f"{area} [class*=message-content] img, {area} .rag-message img, {area} img"
                ).count()
                == 0
            )
            hrefs = page.eval_on_selector_all(f"{area} a", "els => els.map(a => a.getAttribute('href'))")
            assert not [h for h in hrefs if h and h.lower().startswith(("javascript", "https://evil"))], hrefs
        assert page.locator("img[src*='raw.png'], img[src*='md.png']").count() == 0
        close_drawer(page)
        page.locator("#rag-chat a.rag-cite").first.click()
        assert page.evaluate("window.__pwned") is None
        assert not [r for r in requests if r.endswith(("raw.png", "md.png"))]
    finally:
        context.close()
        app.close()
