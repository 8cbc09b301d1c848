"""The word rules every module shares: spelling variants, number words, nationalities, calendar."""

from __future__ import annotations

import pytest

from rag.lexicon import (
    AMOUNT_WORDS,
    MONTH_ABBREVIATIONS,
    MONTHS,
    NUMBER_WORDS,
    WEEKDAYS,
    SpellingVariants,
    edit_budget,
    is_demonym,
    is_descriptive,
    matches_spelling,
    number_alias,
    spelled_alike,
)
from rag.questions import predicate_words, term_matches
from rag.values import kind_values
from rag.verify import check_sentence


@pytest.mark.parametrize(
    ("term", "budget"),
    [
        ("putin", 1),
        ("sybiha", 1),
        ("dmitriev", 2),
        ("talk", 0),
        ("10000", 0),
        ("covid19", 0),
        ("lviii", 0),  # a Roman numeral: Super Bowl LVIII is not LVII
        ("civil", 1),
    ],
)
def test_edit_budget_grows_with_length_and_spares_numbers(term: str, budget: int) -> None:
    assert edit_budget(term) == budget


def test_a_swapped_pair_of_letters_is_one_edit() -> None:
    assert spelled_alike("sybhia", "sybiha")  # one edit under OSA; Levenshtein counted two
    assert spelled_alike("dimitriev", "dmitriev")
    assert not spelled_alike("tybiha", "sybiha")  # the first letter must agree
    assert not spelled_alike("sybihaaa", "sybiha")  # lengths too far apart
    assert not spelled_alike("10001", "10000")  # a different number, not a spelling
    assert not matches_spelling("lviii", ["lvii"])  # nor is a different Roman numeral


def test_one_rule_for_retrieval_questions_and_verification() -> None:
    # Retrieval expands a query term to the index's variants.
    assert SpellingVariants({"sybiha": 3, "dimitriev": 2, "moscow": 9}).variants("sybhia") == ["sybiha"]
    # The extractive answerer matches a question term in a paragraph's terms.
    assert term_matches("sybhia", {"sybiha"})
    assert matches_spelling("sybhia", ["sybiha"])
    # The verifier accepts the swapped spelling of a name as it does a one-letter slip.
    source = ["Ukrainian Foreign Minister Andrii Sybiha met his counterparts in Geneva."]
    assert check_sentence("Andrii Sybhia met his counterparts in Geneva.", source).supported
    assert check_sentence("Andrii Sibiha met his counterparts in Geneva.", source).supported


def test_spelling_variants_leave_out_the_term_and_short_words() -> None:
    variants = SpellingVariants({"dmitriev": 1, "dimitriev": 1, "walk": 1})
    assert variants.variants("dmitriev") == ["dimitriev"]
    assert variants.variants("talk") == []


def test_number_words_map_to_their_digits() -> None:
    assert (NUMBER_WORDS["zero"], NUMBER_WORDS["seven"], NUMBER_WORDS["twenty"]) == ("0", "7", "20")
    assert (NUMBER_WORDS["ninety"], NUMBER_WORDS["thousand"], NUMBER_WORDS["dozen"]) == ("90", "1000", "12")
    assert "million" not in NUMBER_WORDS  # no digit form a paragraph would also give


def test_number_alias_covers_two_to_twenty_both_ways() -> None:
    assert [number_alias(w) for w in ("two", "three", "twenty", "2", "12", "20")] == [
        "2",
        "3",
        "20",
        "two",
        "twelve",
        "twenty",
    ]
    assert [number_alias(w) for w in ("one", "1", "zero", "thirty", "dozen", "300")] == [None] * 6


def test_amount_words_are_the_number_words_and_scales() -> None:
    assert set(NUMBER_WORDS) <= AMOUNT_WORDS
    assert {"million", "billions", "dozens", "half", "percent"} <= AMOUNT_WORDS
    assert kind_values("number", "Talks lasted nearly five hours, with millions watching.", set()) == {
        "five",
        "millions",
    }


@pytest.mark.parametrize("word", ["russian", "korean", "chinese", "british", "american"])
def test_nationalities(word: str) -> None:
    assert is_demonym(word) and is_descriptive(word)


@pytest.mark.parametrize("word", ["israeli", "saudi", "baltic", "islamic", "khamenei"])
def test_other_descriptive_endings_are_no_demonym(word: str) -> None:
    # -i and -ic end surnames too: a question's subject "Khamenei" must not swallow its verb.
    assert is_descriptive(word) and not is_demonym(word)


@pytest.mark.parametrize("word", ["modi", "eric", "ivan", "putin", "witkoff"])
def test_short_words_and_names_are_not_descriptive(word: str) -> None:
    assert not is_descriptive(word)


def test_demonym_and_its_noun_make_a_questions_subject() -> None:
    assert predicate_words("Did Russian troops grab Pokrovsk?") == ["grab"]
    assert predicate_words("Did Khamenei phone Putin?") == ["phone"]


def test_calendar_names() -> None:
    assert len(MONTHS) == 12 and len(WEEKDAYS) == 7
    assert "may" in MONTHS and "may" not in MONTH_ABBREVIATIONS
    assert {"sep", "sept"} <= set(MONTH_ABBREVIATIONS)
    assert kind_values("date", "They met on Tuesday, 4 Dec, in Moscow.", set()) == {"tuesday", "dec"}
