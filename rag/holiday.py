"""Holidays a question names ("on New Year's Day 2024", "over Christmas") and their dates."""

from __future__ import annotations

import datetime as dt
import re
import threading

from rag.lexicon import MONTHS
from rag.schema import TimeScope

# A holiday named in a question is a date ("on New Year's Day 2024", "over Christmas"), found by the
# holidays package (US public and unofficial days, then UK bank holidays, as an English-language
# archive names them). This cheap gate keeps its import (~0.1 s) off questions that name none.
_HOLIDAY_GATE = re.compile(
    r"\b[A-Z][\w'\u2019.]*\s+(?:Day|Eve|Sunday|Monday|Friday)\b"
    r"|\b(?i:christmas|thanksgiving|halloween|new year)"
)
# A holiday's one-word short form ("Labor" for Labor Day) is read as one only capitalised after a
# word of time and before no other name: "in Columbus" is a city, "at Memorial Hospital" a place.
_TIME_PREPOSITION = r"(?i:on|over|at|by|before|after|since|until|till|during|this|last|next|past)\s+"
_SINCE_HOLIDAY = re.compile(r"\bsince\s+(?:the\s+)?$", re.IGNORECASE)
_YEAR_AFTER = re.compile(r"^,?\s*(?:in\s+)?((?:19|20)\d\d)\b")
_SPACES = re.compile(r"\s+")


class _Holidays:
    """Holiday names and their dates per year, built on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._years: dict[int, dict[str, dt.date]] = {}
        self._patterns: tuple[re.Pattern[str], re.Pattern[str]] | None = None

    def dates(self, year: int) -> dict[str, dt.date]:
        """Lower-cased name form -> that year's date ("christmas day", "st. patrick's day")."""
        with self._lock:
            if year not in self._years:
                import holidays

                table: dict[str, dt.date] = {}
                calendars = (
                    holidays.country_holidays("US", years=year, categories=("public", "unofficial")),
                    holidays.country_holidays("GB", years=year),
                )
                for days in calendars:
                    for day, names in sorted(days.items()):
                        for name in names.split("; "):
                            if "(" not in name:  # "(observed)": the day off, not the holiday
                                for form in _forms(name):
                                    table.setdefault(form, day)
                self._years[year] = table
            return self._years[year]

    def patterns(self) -> tuple[re.Pattern[str], re.Pattern[str]]:
        """(full names anywhere, one-word short forms after a word of time), longest first."""
        if self._patterns is None:
            forms = sorted(self.dates(2024), key=len, reverse=True)
            full = [re.escape(f).replace("\\ ", r"\s+") for f in forms if " " in f or f in _ONE_WORD]
            short = [re.escape(f.capitalize()) for f in forms if " " not in f and f not in _ONE_WORD]
            self._patterns = (
                re.compile(rf"\b({'|'.join(full)})(?![\w'\u2019])", re.IGNORECASE),
                re.compile(rf"\b{_TIME_PREPOSITION}(?:the\s+)?({'|'.join(short)})\b(?!\s+[A-Z])"),
            )
        return self._patterns

    def find(self, text: str) -> re.Match[str] | None:
        """The first holiday named in `text` (group 1), or None."""
        if not _HOLIDAY_GATE.search(text):
            return None
        text = text.replace("\u2019", "'")
        full, short = self.patterns()
        found = [m for m in (full.search(text), short.search(text)) if m]
        return min(found, key=lambda m: m.start(1)) if found else None

    def date(self, name: str, year: int) -> dt.date | None:
        return self.dates(year).get(_SPACES.sub(" ", name.lower().replace("\u2019", "'")))


# Holidays named in one word whatever precedes them ("Halloween"): a name of nothing else.
_ONE_WORD = frozenset({"halloween", "christmas", "thanksgiving"})


def _forms(name: str) -> list[str]:
    """How a news question may write a holiday: "Saint Patrick's Day", "St. Patrick's Day",
    "Christmas" for Christmas Day, "Easter" for Easter Sunday."""
    low = name.lower()
    forms = [low]
    if low.startswith("saint "):
        forms += ["st. " + low[6:], "st " + low[6:]]
    head, _, last = low.rpartition(" ")
    if (
        head
        and " " not in head
        and "'" not in head
        and last in ("day", "sunday")
        and head not in _MONTH_NAMES
    ):
        forms.append(head)
    return forms


_MONTH_NAMES = frozenset(m.lower() for m in MONTHS)
_HOLIDAYS = _Holidays()


def holiday_in(text: str) -> str:
    """The holiday `text` names ("New Year's Day" in "...on New Year's Day 2024?"), or ""."""
    m = _HOLIDAYS.find(text)
    return m.group(1) if m else ""


def holiday_scope(question: str, as_of: dt.date) -> TimeScope | None:
    """The day of a holiday the question names: in the year written after it, else its latest
    occurrence up to as-of (one in the next weeks is still to come: the latest news is wanted)."""
    m = _HOLIDAYS.find(question)
    if m is None:
        return None
    name = m.group(1)
    year = _YEAR_AFTER.match(question[m.end(1) :])
    phrase = question[m.start(1) : m.end(1) + (year.end() if year else 0)].strip()
    if year:
        day = _HOLIDAYS.date(name, int(year.group(1)))
    else:
        day = _HOLIDAYS.date(name, as_of.year)
        if day is not None and day > as_of:
            if (day - as_of).days <= 31:
                return TimeScope("soft", "", as_of.isoformat(), phrase, ahead=True)
            day = _HOLIDAYS.date(name, as_of.year - 1)
    if day is not None and day > as_of:  # "on Memorial Day 2024" asked in 2023
        return TimeScope("soft", "", as_of.isoformat(), phrase, ahead=True)
    if day is None:
        return None
    if _SINCE_HOLIDAY.search(question[: m.start(1)]):
        return TimeScope("window", day.isoformat(), as_of.isoformat(), phrase)
    return TimeScope("window", day.isoformat(), day.isoformat(), phrase)
