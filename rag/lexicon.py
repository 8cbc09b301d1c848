"""Word rules of English news text: spelling variants, number words, nationalities, months and weekdays."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping

from rapidfuzz import process
from rapidfuzz.distance import OSA  # a swapped pair of letters is one edit (Sybiha/Sybhia)

_ROMAN = re.compile(r"m{0,4}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})")


def edit_budget(term: str) -> int:
    """How many edits a spelling variant of `term` may be away from it.

    Args:
        term: A lower-case word or stem.

    Returns:
        0 for a term under five letters, or one with a digit or a Roman numeral (numbers and
        codes are facts, not spellings: "10000" is no "10001"), 1 up to six letters, 2 above.
    """
    # Short words have too many one-edit neighbours ("talk"/"walk") to be told apart; a Roman
    # numeral is a number ("Super Bowl LVIII" is no "LVII").
    if len(term) < 5 or not term.isalpha() or _ROMAN.fullmatch(term):
        return 0
    return 1 if len(term) <= 6 else 2


def spelled_alike(word: str, term: str) -> bool:
    """Whether `word` is `term` spelled slightly differently ("dimitriev" for "dmitriev").

    Both start with the same letter, their lengths differ by at most `edit_budget(term)`, and so
    does their optimal-string-alignment distance (a swapped pair of letters is one edit).

    Args:
        word: A word or stem from the text.
        term: The word or stem looked for.

    Returns:
        True when `word` passes for `term`; never for a term with no edit budget.
    """
    budget = edit_budget(term)
    return budget > 0 and _within(word, term, budget)


def _within(word: str, term: str, budget: int) -> bool:
    # The cheap tests first: OSA is computed for few of a text's words.
    return (
        word[:1] == term[:1] and abs(len(word) - len(term)) <= budget and OSA.distance(word, term) <= budget
    )


def matches_spelling(term: str, bag: Collection[str]) -> bool:
    """Whether `term` is in `bag`, as written or as a spelling variant (Dmitriev/Dimitriev).

    Args:
        term: The word or stem looked for.
        bag: The words or stems of a text.

    Returns:
        True when `bag` holds `term` or a word `spelled_alike` it.
    """
    if term in bag:
        return True
    budget = edit_budget(term)
    return budget > 0 and any(_within(t, term, budget) for t in bag)


class SpellingVariants:
    """Finds the words of a vocabulary spelled nearly like a term ("dmitriev" -> "dimitriev")."""

    # How many variants a term expands to: a name has few spellings, a common word many neighbours.
    LIMIT = 6

    def __init__(self, vocabulary: Iterable[str]) -> None:
        """Group the vocabulary's words of four letters or more by first letter.

        Args:
            vocabulary: The words or stems to look in.
        """
        self._by_initial: dict[str, list[str]] = defaultdict(list)
        for term in vocabulary:
            if len(term) >= 4 and term.isalpha():
                self._by_initial[term[0]].append(term)

    def variants(self, term: str) -> list[str]:
        """The vocabulary's spelling variants of `term`, nearest first, `term` itself left out.

        Args:
            term: A lower-case word or stem.

        Returns:
            Up to `LIMIT` words `spelled_alike` the term.
        """
        budget = edit_budget(term)
        if not budget:
            return []
        # rapidfuzz ranks the candidates in C; `spelled_alike` then applies the length rule.
        found = process.extract(
            term,
            self._by_initial.get(term[0], []),
            scorer=OSA.distance,
            score_cutoff=budget,
            limit=self.LIMIT,
        )
        return [t for t, _, _ in found if t != term and spelled_alike(t, term)]


_SMALL_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split()
)
# Number words and the digits they stand for; "dozen" is twelve of anything.
NUMBER_WORDS: Mapping[str, str] = {
    **{w: str(i) for i, w in enumerate(_SMALL_NUMBERS)},
    **{w: str(10 * i) for i, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), 3)},
    "hundred": "100",
    "thousand": "1000",
    "dozen": "12",
}
# Words that state an amount: the number words, scales without a fixed digit form, their plurals.
AMOUNT_WORDS = frozenset(NUMBER_WORDS) | frozenset(
    "million billion hundreds thousands millions billions dozens half percent".split()
)
# "zero" and "one" stay as written: "one" is mostly a pronoun ("one of the talks").
_DIGITS_OF = {w: NUMBER_WORDS[w] for w in _SMALL_NUMBERS[2:]}
_WORD_OF = {d: w for w, d in _DIGITS_OF.items()}


def number_alias(word: str) -> str | None:
    """The other way to write a small number.

    Args:
        word: A lower-case word or a string of digits.

    Returns:
        "3" for "three" and "three" for "3", from two to twenty; None otherwise.
    """
    return _DIGITS_OF.get(word) or _WORD_OF.get(word)


# The endings of a nationality: Russian, Korean, Chinese, British, American.
_DEMONYM_ENDINGS = ("ian", "ean", "ese", "ish", "can")
# Also Israeli, Saudi (-i) and Baltic, Islamic (-ic): these endings end many surnames too.
_DESCRIPTIVE_ENDINGS = (*_DEMONYM_ENDINGS, "ic", "i")


def is_demonym(word: str) -> bool:
    """Whether a lower-case word has a nationality's ending ("russian", "chinese", "british").

    Args:
        word: A lower-case word.

    Returns:
        True for the endings -ian, -ean, -ese, -ish and -can; -i and -ic are left out: they end
        surnames too ("did Khamenei say"), and a surname taken for a nationality hides the verb.
    """
    return word.endswith(_DEMONYM_ENDINGS)


def is_descriptive(word: str) -> bool:
    """Whether a lower-case word of five letters or more reads as a nationality or an adjective
    of a place ("russian", "israeli", "baltic") rather than a person's name.

    Args:
        word: A lower-case word.

    Returns:
        True for a nationality's ending, -i or -ic on a word longer than four letters.
    """
    # Four letters or fewer are names as often as not ("Modi", "Eric", "Ivan").
    return len(word) > 4 and word.endswith(_DESCRIPTIVE_ENDINGS)


MONTHS = tuple(
    "january february march april may june july august september october november december".split()
)
# Abbreviations of months in news datelines; "may" has none, "september" two.
MONTH_ABBREVIATIONS = tuple("jan feb mar apr jun jul aug sep sept oct nov dec".split())
WEEKDAYS = tuple("monday tuesday wednesday thursday friday saturday sunday".split())
# A time of day: "11 a.m.", "12:01", "noon", "midnight".
TIME_OF_DAY_PATTERN = r"\b\d{1,2}(?::\d\d)?\s?[ap]\.?m\b|\b\d{1,2}:\d\d\b|\bnoon\b|\bmidnight\b"


# Irregular past forms news questions ask with ("Who won...", "Which team beat..."); -ed forms are regular.
IRREGULAR_PAST: dict[str, str] = {  # past form -> base form
    "won": "win",
    "beat": "beat",
    "was": "be",
    "were": "be",
    "did": "do",
    "took": "take",
    "made": "make",
    "said": "say",
    "became": "become",
    "chose": "choose",
    "gave": "give",
    "found": "find",
    "led": "lead",
    "got": "get",
    "lost": "lose",
    "ran": "run",
    "held": "hold",
    "left": "leave",
    "came": "come",
    "went": "go",
    "saw": "see",
    "told": "tell",
    "sold": "sell",
    "set": "set",
    "met": "meet",
    "paid": "pay",
    "fell": "fall",
    "hit": "hit",
    "shot": "shoot",
    "struck": "strike",
    "stood": "stand",
    "wrote": "write",
    "broke": "break",
    "drew": "draw",
    "threw": "throw",
    "sank": "sink",
    "spent": "spend",
    "built": "build",
    "sent": "send",
    "brought": "bring",
    "bought": "buy",
    "caught": "catch",
    "fought": "fight",
    "taught": "teach",
    "began": "begin",
    "rose": "rise",
    "grew": "grow",
    "flew": "fly",
    "drove": "drive",
    "swore": "swear",
    "stole": "steal",
    "withdrew": "withdraw",
    "overtook": "overtake",
}
# Words that put a sentence in the future: it cannot say what already happened.
FUTURE_MARKERS = (
    "will",
    "won't",
    "is set to",
    "are set to",
    "is scheduled to",
    "are scheduled to",
    "is expected to",
    "are expected to",
    "plans to",
    "plan to",
    "is due to",
    "are due to",
    "is slated to",
    "are slated to",
    # "The Super Bowl is less than a month away", "two days away"
    "hours away",
    "day away",
    "days away",
    "week away",
    "weeks away",
    "month away",
    "months away",
)


def is_past_tense(word: str) -> bool:
    """A verb form that tells of the past: "won", "announced" (not "need", "speed")."""
    w = word.lower()
    return w in IRREGULAR_PAST or (w.endswith("ed") and len(w) > 4 and not w.endswith("eed"))
