"""A question's time scope, resolved against its as-of date; how an article's date fits it."""

from __future__ import annotations

import datetime as dt

import pytest

from rag.dates import describe, parse_date, search_window, time_fit, time_scope
from rag.errors import QuestionError
from rag.schema import TimeScope

FRIDAY = dt.date(2024, 1, 12)


@pytest.mark.parametrize(
    "question, start, end",
    [
        ("Who was named France's new prime minister this week?", "2024-01-08", "2024-01-12"),
        ("What happened in Gaza yesterday?", "2024-01-11", "2024-01-11"),
        ("What did the Fed decide last month?", "2023-12-01", "2023-12-31"),
        ("Who won the Golden Globe in January?", "2024-01-01", "2024-01-12"),
        ("What did Apple announce at its event in March?", "2023-03-01", "2023-03-31"),
        ("What did Biden say on Tuesday?", "2024-01-09", "2024-01-09"),
        ("Who won the Super Bowl on Sunday night?", "2024-01-07", "2024-01-07"),
        ("Who won the Golden Globes 2017 best drama award?", "2017-01-01", "2017-12-31"),
        ("How many jobs were added last year?", "2023-01-01", "2023-12-31"),
        ("What was announced on Jan. 5?", "2024-01-05", "2024-01-05"),
        # "since" starts a state; the other time is the one asked ("in an" is no day of the month).
        ("Which Marine held since 2019 was freed in an April 2023 swap?", "2023-04-01", "2023-04-30"),
        ("How many people have died since November?", "2023-11-01", "2024-01-12"),
    ],
)
def test_an_expression_of_time_is_a_window_read_against_as_of(question: str, start: str, end: str) -> None:
    scope = time_scope(question, FRIDAY)
    assert (scope.strength, scope.start, scope.end) == ("window", start, end)


@pytest.mark.parametrize(
    "question, as_of, start, end",
    [
        ("What hit Japan on New Year's Day 2024?", "2024-01-03", "2024-01-01", "2024-01-01"),
        (
            "What did the drivers do during the Valentine\u2019s Day strike?",
            "2024-02-20",
            "2024-02-14",
            "2024-02-14",
        ),
        ("What did the king say over Christmas?", "2024-01-12", "2023-12-25", "2023-12-25"),
        ("What happened on Labor Day?", "2024-01-12", "2023-09-04", "2023-09-04"),  # the latest one
        ("Who has died since Thanksgiving?", "2024-01-12", "2023-11-23", "2024-01-12"),
        ("Who won on Election Day 2020?", "2024-01-12", "2020-11-03", "2020-11-03"),
    ],
)
def test_a_holiday_is_its_day_in_the_year_named_or_the_latest_up_to_as_of(
    question: str, as_of: str, start: str, end: str
) -> None:
    scope = time_scope(question, dt.date.fromisoformat(as_of))
    assert (scope.strength, scope.start, scope.end) == ("window", start, end)


def test_a_holiday_still_to_come_asks_for_the_latest_news_and_a_place_is_no_holiday() -> None:
    assert time_scope("What is planned for Thanksgiving?", dt.date(2024, 11, 10)).strength == "soft"
    assert time_scope("Who was treated at Memorial Hospital?", FRIDAY).strength != "window"
    assert time_scope("Who was elected in Columbus?", FRIDAY).strength == "none"


def test_a_time_named_after_as_of_is_ahead_but_a_year_naming_an_edition_is_not() -> None:
    december = dt.date(2023, 12, 17)
    assert time_scope("What was the gas price on Memorial Day 2024?", december).ahead
    assert time_scope("What happened on Christmas?", december).ahead  # a week away
    assert time_scope("What will happen on January 5, 2024?", december).ahead
    assert not time_scope("Which venue will host the 2026 World Cup final?", december).ahead
    assert not time_scope("What happened on Labor Day?", december).ahead


def test_a_month_that_ends_a_name_is_no_month() -> None:
    scope = time_scope("What did Theresa May say on Monday?", FRIDAY)
    assert (scope.start, scope.phrase) == ("2024-01-08", "on Monday")
    assert time_scope("What happened in May?", FRIDAY).start == "2023-05-01"


def test_a_window_s_first_day_is_what_an_older_article_cannot_report() -> None:
    from rag.dates import window_start

    assert window_start(time_scope("Who landed on the moon on Thursday?", FRIDAY)) == "2024-01-11"
    assert window_start(time_scope("Who is the current CEO?", FRIDAY)) == ""  # soft: no first day
    assert window_start(time_scope("Who co-owns the hotel?", FRIDAY)) == ""


def test_the_same_words_mean_another_week_at_another_as_of() -> None:
    earlier = time_scope("Who resigned this week?", dt.date(2017, 5, 3))
    assert (earlier.start, earlier.end) == ("2017-05-01", "2017-05-03")


@pytest.mark.parametrize(
    "question, phrase",
    [
        ("Who is the new prime minister of France?", "new"),
        ("Who is the current CEO of Boeing?", "current"),
        ("Who recently resigned from the cabinet?", "recently"),
        ("When is the next Republican debate?", "next"),
        ("Who is the latest candidate to drop out?", "latest"),
    ],
)
def test_words_asking_for_the_latest_state_are_a_soft_scope(question: str, phrase: str) -> None:
    scope = time_scope(question, FRIDAY)
    assert scope == TimeScope("soft", "", "2024-01-12", phrase)


@pytest.mark.parametrize(
    "question",
    [
        "Who co-owns the Faena hotel?",
        "How many points did he score in 3 games?",
        "What did the 28-point plan say?",
        "Which team did he play for?",
    ],
)
def test_a_question_without_time_words_is_timeless(question: str) -> None:
    assert time_scope(question, FRIDAY).strength == "none"


@pytest.mark.parametrize(
    "question",
    [
        "Which New Jersey town flooded?",
        "How do people celebrate Lunar New Year in Seoul?",
        "New Jersey's governor said what?",
    ],
)
def test_new_in_a_name_is_no_word_of_time(question: str) -> None:
    assert time_scope(question, FRIDAY).strength == "none"
    assert time_scope(question.replace("New", "new"), FRIDAY).phrase == "new"  # the word alone is


@pytest.mark.parametrize(
    "question",
    ["Who is the prime minister of France?", "Who is France's prime minister?", "Who heads NATO?"],
)
def test_a_question_after_who_holds_a_role_now_prefers_the_latest(question: str) -> None:
    assert time_scope(question, FRIDAY) == TimeScope("soft", "", "2024-01-12", "")


def test_a_window_fits_its_reporting_days_and_falls_off_outside() -> None:
    week = time_scope("What happened this week?", FRIDAY)
    assert time_fit(week, "2024-01-09", FRIDAY) == 1.0
    assert time_fit(week, "2024-01-12", FRIDAY) == 1.0
    assert 0.7 < time_fit(week, "2024-01-01", FRIDAY) < 0.8  # a week before: a little less
    assert time_fit(week, "2017-05-01", FRIDAY) < 0.001  # years before: nothing
    assert time_fit(week, "", FRIDAY) == 0.0  # undated: no evidence either way
    assert time_fit(week, "2024-01-13", FRIDAY) == 0.0  # after as-of: never used


def test_a_soft_scope_prefers_the_newest_article() -> None:
    soft = time_scope("Who is the current prime minister?", FRIDAY)
    fits = [time_fit(soft, d, FRIDAY) for d in ("2024-01-10", "2023-07-01", "2019-01-01")]
    assert fits == sorted(fits, reverse=True) and fits[0] > 0.95 and fits[2] < 0.01
    assert time_fit(time_scope("Who co-owns the hotel?", FRIDAY), "2024-01-10", FRIDAY) == 0.0


def test_the_search_window_adds_the_reporting_days_and_stops_at_as_of() -> None:
    yesterday = time_scope("What happened yesterday?", FRIDAY)
    assert search_window(yesterday, "2024-01-12") == ("2024-01-11", "2024-01-12")
    month = time_scope("What did the Fed decide last month?", FRIDAY)
    assert search_window(month, "2024-01-12") == ("2023-12-01", "2024-01-07")
    assert search_window(time_scope("Who is the current CEO?", FRIDAY), "2024-01-12") == (
        "2023-07-13",
        "2024-01-12",
    )
    assert search_window(time_scope("Who co-owns the hotel?", FRIDAY), "2024-01-12") is None


def test_dates_are_checked_and_described() -> None:
    assert parse_date("2024-01-12") == FRIDAY and parse_date("") is None
    with pytest.raises(QuestionError, match="'2024-13-45' is not a date; give it as YYYY-MM-DD"):
        parse_date("2024-13-45", "--from date")
    assert (
        describe(time_scope("What happened this week?", FRIDAY))
        == "this week (8 January 2024 to 12 January 2024)"
    )
    assert describe(time_scope("Who is the current CEO?", FRIDAY)) == "current"
