"""When a question is about: its as-of date, and the time scope its words give, resolved by dateparser."""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
import threading
from typing import Any

from rag.errors import QuestionError
from rag.holiday import holiday_in, holiday_scope
from rag.lexicon import MONTH_ABBREVIATIONS, MONTHS, WEEKDAYS
from rag.schema import TimeScope

RECENCY_WORDS = frozenset(
    "new newly current currently now latest recent recently incumbent still next upcoming".split()
)
# Words that ask for the latest state of things without naming a time ("the new prime minister",
# "the current CEO", "who recently resigned", "the next election").
_RECENT = re.compile(
    r"\b(new|newly|current|currently|now|latest|recent|recently|incumbent|still|next|upcoming|"
    r"so far|to date|at present|presently|nowadays|these days)\b",
    re.IGNORECASE,
)
# A question after who or what holds a role now ("Who is the prime minister of...", "Which club is
# top of...", "What is the going rate..."): its answer changes over time, so the latest counts most.
_STATE = re.compile(
    r"^\s*(who|which|what)\b(\s+[\w'-]+){0,3}?\s+(is|are)\s+(the|top|in charge|leading|[\w.-]+['\u2019]s)\b"
    r"|^\s*who (heads|leads|runs|chairs|owns|coaches|governs)\b",
    re.IGNORECASE,
)
# Cheap gate before dateparser (its search costs milliseconds and its first call ~0.2 s).
_DATE_WORDS = re.compile(
    r"\b(today|tonight|yesterday|tomorrow|ago|week|weekend|month|year|decade|century|"
    rf"{'|'.join(MONTHS)}|{'|'.join(MONTH_ABBREVIATIONS)}|{'|'.join(WEEKDAYS)}|(?:19|20)\d\d)\b",
    re.IGNORECASE,
)
_POSSESSIVE = re.compile(
    rf"\b({'|'.join(WEEKDAYS)}|today|tonight|yesterday|tomorrow|week|weekend|month|year)['\u2019]s\b",
    re.IGNORECASE,
)
_ABBREVIATED = re.compile(rf"\b({'|'.join(MONTH_ABBREVIATIONS)})\.", re.IGNORECASE)
_NAMED_TIME = re.compile(
    rf"\d|\b({'|'.join(MONTHS)}|{'|'.join(MONTH_ABBREVIATIONS)}|{'|'.join(WEEKDAYS)})\b", re.IGNORECASE
)
# What dateparser finds that is no time expression: a bare number ("in 3 games") or a word.
_NOT_A_DATE = re.compile(r"^\W*(?:in|on|at|the|of)?\s*\d{1,2}\W*$", re.IGNORECASE)
# "in an April 2022 swap": dateparser reads the article as a day of the month ("1 April").
_ARTICLE = re.compile(r"^(\W*(?:in|on|at|during|of)\s+)?(?:an?|the)\s+", re.IGNORECASE)
_SINCE = re.compile(r"\bsince\s*$", re.IGNORECASE)
# Reports of an event come out on its day and in the days after it.
REPORTING_DAYS = 7
# "The current ...", "recently": the half year before as-of is searched besides the whole archive.
RECENT_DAYS = 183


TIMELESS = TimeScope()


def describe(scope: TimeScope) -> str:
    """A short human phrase: "this week (8 to 14 January 2024)", "current", or ""."""
    if scope.strength == "window" and scope.start and scope.end:
        start, end = dt.date.fromisoformat(scope.start), dt.date.fromisoformat(scope.end)
        span = format_date(start) if start == end else f"{format_date(start)} to {format_date(end)}"
        return f"{scope.phrase} ({span})"
    return scope.phrase


def parse_date(value: str | dt.date | None, what: str = "date") -> dt.date | None:
    """An ISO date (YYYY-MM-DD) or None for "".

    Raises:
        QuestionError: The value is not a real calendar date.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise QuestionError(
            f"{what} {value!r} is not a date; give it as YYYY-MM-DD, e.g. 2024-01-12"
        ) from None


def format_date(d: dt.date) -> str:
    """'12 January 2024'."""
    return f"{d.day} {calendar.month_name[d.month]} {d.year}"


class _Parser:
    """dateparser, loaded and warmed on first use (importing it costs ~0.2 s, its first parse more)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._modules: tuple[Any, Any] | None = None

    def modules(self) -> tuple[Any, Any]:
        with self._lock:
            if self._modules is None:
                from dateparser import DateDataParser
                from dateparser.search import search_dates

                self._modules = (DateDataParser, search_dates)
            return self._modules

    def scope(self, question: str, as_of: dt.date) -> TimeScope | None:
        """The window of the first time expression in `question`, or None when it has none."""
        date_data_parser, search_dates = self.modules()
        base = dt.datetime(as_of.year, as_of.month, as_of.day, 12)
        settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "RETURN_TIME_AS_PERIOD": True}
        text = _ABBREVIATED.sub(r"\1", question)  # "Jan. 5": dateparser's search splits at the stop
        text = _POSSESSIVE.sub(r"\1", text)  # "Monday's game", "last week's vote"
        found = search_dates(text, languages=["en"], settings=settings) or []
        parser = date_data_parser(languages=["en"], settings=settings)
        since: TimeScope | None = None
        at = 0
        for phrase, _ in found:
            where = text.find(phrase, at)
            at = where + len(phrase) if where >= 0 else at
            if _NOT_A_DATE.match(phrase) or _in_a_name(text, where, phrase):
                continue
            data = parser.get_date_data(_ARTICLE.sub(r"\1", phrase))
            if data.date_obj is None:
                continue
            start, end = _period(data.date_obj.date(), data.period)
            if start > as_of:  # "tomorrow's final": what is expected is in the latest news
                # A day, week or month still to come; a year names an edition ("the 2026 World Cup").
                ahead = data.period != "year"
                return TimeScope("soft", "", as_of.isoformat(), phrase.strip(), ahead=ahead)
            if where > 0 and _SINCE.search(text[:where]):
                # "held since 2019, freed in April 2022": a state's start; another time is the asked one.
                since = since or TimeScope("window", start.isoformat(), as_of.isoformat(), phrase.strip())
                continue
            return TimeScope("window", start.isoformat(), min(end, as_of).isoformat(), phrase.strip())
        return since


_MONTHS_TITLED = frozenset(m.capitalize() for m in MONTHS)


def _in_a_name(text: str, where: int, phrase: str) -> bool:
    """A month name that ends a person's name ("Theresa May said on Monday"): a capitalised word
    before it that does not open the question."""
    before = text[:where].split()
    return (
        phrase.strip() in _MONTHS_TITLED
        and len(before) >= 2
        and before[-1][:1].isupper()
        and before[-1].isalpha()
    )


def _period(day: dt.date, period: str | None) -> tuple[dt.date, dt.date]:
    if period == "year":
        return dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)
    if period == "month":
        last = calendar.monthrange(day.year, day.month)[1]
        return dt.date(day.year, day.month, 1), dt.date(day.year, day.month, last)
    if period == "week":
        monday = day - dt.timedelta(days=day.weekday())
        return monday, monday + dt.timedelta(days=6)
    return day, day


_PARSER = _Parser()


def time_scope(question: str, as_of: dt.date) -> TimeScope:
    """What time `question` is about, as of `as_of`.

    An expression of time ("this week", "yesterday", "in January", "on Tuesday", "in 2017") gives
    a window of dates, resolved against `as_of` by dateparser; a word asking for the latest state
    ("new", "current", "recently", "next") gives a soft preference for the newest articles; any
    other question is timeless.
    """
    holiday = holiday_scope(question, as_of)
    if holiday is not None:
        return holiday
    if _DATE_WORDS.search(question):
        scope = _PARSER.scope(question, as_of)
        if scope is not None:
            return scope
    m = next((m for m in _RECENT.finditer(question) if not _in_name(question, m)), None)
    if m:
        return TimeScope("soft", "", as_of.isoformat(), m.group(0).lower())
    if _STATE.search(question):
        return TimeScope("soft", "", as_of.isoformat(), "")
    return TIMELESS


def _in_name(question: str, m: re.Match[str]) -> bool:
    """The word is part of a name ("Lunar New Year", "New Jersey"), not a word of time: capitalised
    where no question starts, or before another capitalised word."""
    if not m.group(0)[0].isupper():
        return False
    after = question[m.end() :].split()
    return bool(question[: m.start()].strip()) or bool(after and after[0][:1].isupper())


def search_window(scope: TimeScope, as_of: str) -> tuple[str, str] | None:
    """The dates to search besides the whole archive: the scope's window and the reporting days
    after it, or the half year before as-of for the latest state; None for a timeless question."""
    if scope.strength == "window":
        end = dt.date.fromisoformat(scope.end) + dt.timedelta(days=REPORTING_DAYS)
        if as_of:
            end = min(end, dt.date.fromisoformat(as_of))
        return scope.start, end.isoformat()
    if scope.strength == "soft" and as_of:
        return (dt.date.fromisoformat(as_of) - dt.timedelta(days=RECENT_DAYS)).isoformat(), as_of
    return None


def window_start(scope: TimeScope) -> str:
    """The first day of the time a question names ("on Thursday", "this year's"), "" for none:
    an article published before it reports an earlier event."""
    return scope.start if scope.strength == "window" else ""


def without_time(question: str, scope: TimeScope) -> str:
    """The question without a relative time expression ("this week", "yesterday"): it is read as
    the time scope, not as words an answer must contain. A date, month, weekday or year stays (an
    article writes them too), and so do words like "new" or "next", which are often not about time."""
    if scope.strength != "window" or not scope.phrase or _NAMED_TIME.search(scope.phrase):
        return question
    if holiday_in(scope.phrase):  # a holiday's name is written in its reports, like a month's
        return question
    pattern = re.compile(rf"\b{re.escape(scope.phrase)}\b", re.IGNORECASE)
    return " ".join(pattern.sub(" ", _POSSESSIVE.sub(r"\1", question), count=1).split())


def warm() -> None:
    """Load dateparser and its English data now (a server calls this at start, off the clock)."""
    _PARSER.scope("this week", dt.date(2024, 1, 12))
    holiday_in("on Christmas Day")


def time_fit(scope: TimeScope, published: str, as_of: dt.date) -> float:
    """How well an article published on `published` (ISO, or "" if unknown) fits the scope, 0..1.

    A window scope: 1 inside the window or in the reporting days after it, falling off over about
    a month outside. A soft scope: 1 for an article of as-of day, halving every ~120 days before.
    Undated articles and timeless questions score 0 (no evidence either way).
    """
    if scope.strength == "none" or not published:
        return 0.0
    try:
        day = dt.date.fromisoformat(published[:10])
    except ValueError:
        return 0.0
    if day > as_of:
        return 0.0
    if scope.strength == "soft":
        return math.exp(-(as_of - day).days / 170.0)
    start = dt.date.fromisoformat(scope.start)
    end = min(as_of, dt.date.fromisoformat(scope.end) + dt.timedelta(days=REPORTING_DAYS))
    if start <= day <= end:
        return 1.0
    gap = (start - day).days if day < start else (day - end).days
    return math.exp(-gap / 30.0)
