"""What a sentence gives: the names, numbers and dates of the kind a question asks for, names
beside a noun ("the newspaper Kommersant"), a person's full name, who someone is."""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag.lexicon import (
    AMOUNT_WORDS,
    MONTH_ABBREVIATIONS,
    MONTHS,
    TIME_OF_DAY_PATTERN,
    WEEKDAYS,
    is_descriptive,
    is_past_tense,
    matches_spelling,
)
from rag.places import is_country_name, is_place_name, place_aliases
from rag.terms import STOPWORDS, stem, words

MONTH_PATTERN = "|".join((*MONTHS, *MONTH_ABBREVIATIONS))
_DATE = re.compile(
    rf"\b(({MONTH_PATTERN})\b|({'|'.join(WEEKDAYS)})|(19|20)\d\d\b|"
    r"(last|next|this|earlier this|later this) (week|month|year|spring|summer|autumn|fall|winter)|"
    rf"yesterday|today|tomorrow|{TIME_OF_DAY_PATTERN}|hours?\b|days?\b|weeks?\b|months?\b|years?\b|"
    r"decades?\b|spring|summer|winter|autumn)",
    re.IGNORECASE,
)

_CAPITALISED = re.compile(r"\b[A-Z][\w\u2019'.-]*")
_CAUSE = re.compile(
    r"\b(?:caused|sparked|ignited|triggered|started|set off|brought on) by\b|\bbecause\b|\bdue to\b"
    r"|\bblamed (?:on|for)\b|\bthe result of\b|\bstemm(?:ed|ing|s) from\b|\battributed to\b"
    r"|\btraced to\b|\bowing to\b|\bcause (?:of [^.,;]{1,60} )?(?:was|is|were|has been)\b",
    re.IGNORECASE,
)
_TIME_WORDS = frozenset((*MONTHS, *MONTH_ABBREVIATIONS, *WEEKDAYS))

# The last word of an organisation's name: "Russian Direct Investment Fund", "Institute for...".
ORGANIZATION_END = re.compile(
    r"(Fund|Agency|Bank|Council|Ministry|Committee|Institute|Party|Union|Foundation|Association|"
    r"Organi[sz]ation|Company|Corporation|Group|Office|Service|Department|Commission)\b"
)


def has_kind(kind: str, sentence: str, question_terms: set[str]) -> bool:
    """Whether the sentence gives what the question asks for (a name, number, date...)."""
    return bool(kind_values(kind, sentence, question_terms))


def kind_values(kind: str, sentence: str, question_terms: set[str]) -> set[str]:
    """The names, numbers or dates of the asked-for kind that the sentence gives (lower-cased,
    names stemmed), leaving out those the question itself contains; empty for "other"."""
    if kind == "number":  # "Flight 1282" in the question is no answer to "How much does it weigh?"
        numbers = {re.sub(r"[,.]", "", n) for n in _NUMBER.findall(sentence)} - {
            m.group(1) for m in _YEAR_IN.finditer(sentence)
        }
        return {n for n in numbers if n not in question_terms} | {
            w for w in words(sentence) if w in AMOUNT_WORDS and w not in question_terms
        }
    if kind == "date":
        return {
            m.group(0).lower() for m in _DATE.finditer(sentence) if m.group(0).lower() not in question_terms
        }
    if kind == "company":  # a business's one-word name ("Boeing") or an organisation's
        return kind_values("person", sentence, question_terms) | kind_values(
            "organization", sentence, question_terms
        )
    if kind == "person":  # name-like words outside the names the question already contains
        return {
            stem(w)
            for run in _person_runs(sentence)
            if not _questions_own(run, question_terms)
            and not after_the(sentence, run[0].start())
            and not is_place_name(" ".join(m.group(0) for m in run))  # "California", "South Carolina"
            for m in run
            if name_like(m.group(0))
            for w in words(m.group(0))
            if stem(w) not in question_terms
        }
    if kind == "cause":  # "caused by a software update", "because of", "blamed on"
        return {m.group(0).lower() for m in _CAUSE.finditer(sentence)}
    if kind == "name":  # any proper name the question does not hold: "Japan", "Key Bridge", "NASA"
        return {
            stem(w)
            for run in capitalised_runs(sentence)
            for m in run
            for w in words(m.group(0))
            if w not in STOPWORDS and w not in _TIME_WORDS and stem(w) not in question_terms
        }
    if kind == "country":  # "Japan", "the United States"
        return _countries(sentence, question_terms)
    if kind == "place":  # "in Washington, D.C.", "at Point Nemo", "Texas"
        return _places(sentence, question_terms)
    if kind == "organization":  # a name of two or more words ending in "Fund", "Agency"...
        return {
            " ".join(r.group(0).lower() for r in run)
            for run in capitalised_runs(sentence)
            if len(run) > 1
            and ORGANIZATION_END.match(run[-1].group(0))
            and not all(stem(w) in question_terms for r in run for w in words(r.group(0)))
        }
    return set()


# A year where it dates something ("In 2001, the Netherlands..."): a date, no count or amount.
_YEAR_IN = re.compile(
    rf"\b(?:in|since|by|from|until|through|during|before|after|early|late|mid|{MONTH_PATTERN})\.?,?[\s-]+"
    rf"(?:\d{{1,2}},?\s+)?((?:19|20)\d\d)\b",
    re.IGNORECASE,
)
# An edition of a recurring event: "Super Bowl LVIII", "the 94th Academy Awards".
_EDITION = re.compile(
    r"\b((?:[A-Z][\w'\u2019-]*\s+){1,3})([IVXLCDM]{2,}|[IVXLCDM](?=['\u2019]s\b))(?:['\u2019]s)?\b"
    r"|\b(\d+(?:st|nd|rd|th))\s+((?:[A-Z][\w'\u2019-]*\s*){1,3})"
)


def editions(text: str) -> dict[str, str]:
    """The recurring events a text names with their edition: {"super bowl": "lviii"}."""
    out = {}
    for m in _EDITION.finditer(text):
        name, number = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        out[" ".join(name.lower().split())] = number.lower()
    return out


def other_edition(asked: dict[str, str], sentence: str) -> bool:
    """The sentence names another edition of an event the question names ("Super Bowl LVI's
    teams" for "Who won Super Bowl LVIII?"): it tells of another year's event."""
    return any(
        number != asked_number and (name == asked_name or name.endswith(" " + asked_name))
        for name, number in editions(sentence).items()
        for asked_name, asked_number in asked.items()
    )


def sibling_event(entities: tuple[str, ...], sentence: str) -> bool:
    """The sentence names a sibling of a name the question asks about, and not that name: "the
    Screen Actors Guild Awards" for "the Producers Guild Awards", "the French Open" for "the
    Australian Open"."""
    low = sentence.lower()
    own = {stem(w) for e in entities for w in words(e)}  # "U.S. Olympic" is no sibling of "Tokyo Olympic"
    if _other_chamber(entities, sentence):
        return True
    for entity in entities:
        parts = [w for w in words(entity) if not _ROMAN_OR_YEAR.fullmatch(w)]
        if len(parts) < 2 or all(re.search(rf"\b{re.escape(w)}\b", low) for w in parts):
            continue
        for run in capitalised_runs(sentence):
            # "The House" (a sentence's first words) is the House, no sibling of "the U.S. House".
            names = [
                w
                for w in words(" ".join(m.group(0) for m in run))
                if w not in _TIME_WORDS and w not in STOPWORDS
            ]
            # Another qualifier, not a shorter or differently spelt name ("PDC World Championship"
            # for "PDC World Darts Championship", "Emanuel Macron" for "Emmanuel Macron").
            if (
                len(names) >= 2
                and names[-1] == parts[-1]
                and any(not matches_spelling(stem(w), own) for w in names[:-1])
            ):
                return True
    return False


# A legislature's two chambers: "the Florida House voted" tells nothing of the Florida Senate's vote.
_CHAMBERS = {"senate": ("house", "assembly"), "house": ("senate",), "assembly": ("senate",)}


def _other_chamber(entities: tuple[str, ...], sentence: str) -> bool:
    asked = {w for e in entities for w in words(e) if w in _CHAMBERS}
    if len(asked) != 1:
        return False
    (chamber,) = asked
    said = {m.group(1).lower() for m in re.finditer(r"(?<!White )\b(Senate|House|Assembly)\b", sentence)}
    return chamber not in said and any(other in said for other in _CHAMBERS[chamber])


_ROMAN_OR_YEAR = re.compile(r"[ivxlcdm]+|(?:19|20)\d\d|\d+(?:st|nd|rd|th)")


# An ordinal ("the 16th country") ranks; it counts nothing.
_NUMBER = re.compile(r"(?<![\d,.])(?:\d[\d,.]*\d|\d)(?![\d,.]*\d|st\b|nd\b|rd\b|th\b)")
_TOKENS = re.compile(r"[\w\u2019'.-]+|[\"\u201c\u201d]")


_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_QUANTITY = re.compile(
    r"([$\u20ac\u00a3])?\s?(\d[\d,]*(?:\.\d+)?)(?:\s?(thousand|million|billion|trillion)\b)?(\s?%|\s?percent\b)?",
    re.IGNORECASE,
)


def quantities(text: str) -> list[tuple[float, bool]]:
    """Each amount the text gives, scaled ("$8.5 billion" -> 8.5e9), and whether it is money;
    a percentage is a share, no amount, and is left out."""
    out = []
    for m in _QUANTITY.finditer(text):
        if m.group(4):
            continue
        value = float(m.group(2).replace(",", "")) * _SCALES.get((m.group(3) or "").lower(), 1.0)
        out.append((value, bool(m.group(1))))
    return out


def within(whole: tuple[float, bool], sentence: str) -> bool:
    """The sentence gives an amount that can be part of `whole` ("$28 billion" is no part of an
    "$8.5 billion" award): smaller, and money if the whole is money."""
    total, money = whole
    return any(v < total for v, m in quantities(sentence) if m or not money)


def sorts(noun: str, sentence: str, question_terms: set[str]) -> bool:
    """Whether the sentence may say what kind of `noun` is asked: it gives a word sorting it beyond
    the question's ("prostate cancer"), or does not name the noun at all ("drones" for "What kind
    of hardware"); "Charles' cancer diagnosis" names it and says no kind."""
    tokens = _TOKENS.findall(sentence)
    if all(stem(t.lower().strip(".,")) != noun for t in tokens):
        return True
    return bool(_sorting(noun, tokens, question_terms))


def _sorting(noun: str, tokens: list[str], question_terms: set[str]) -> set[str]:
    return {
        stem(before.lower())
        for before, tok in zip(tokens, tokens[1:], strict=False)
        if stem(tok.lower().strip(".,")) == noun
        and before.isalpha()
        and before.lower() not in STOPWORDS
        and stem(before.lower()) not in question_terms
    }


def counts(counted: tuple[str, ...], sentence: str) -> bool:
    """The sentence puts a number just before what the question counts: "22 people", "grounded
    171 of the Boeing 737 Max 9 planes", "$150 million in revenue"."""
    tokens = [t.lower().strip(".,") for t in re.findall(r"[\w$.,%-]+", sentence)]
    money = bool({"money", "revenu", "cost"} & set(counted))
    return any(
        (stem(tok) in counted or (money and tok.startswith("$")))
        and any(re.search(r"\d", t) or t in AMOUNT_WORDS for t in tokens[max(0, i - 4) : i + 1])
        for i, tok in enumerate(tokens)
    )


def role_scopes(
    head: str, sentence: str, singular: bool = False, actual: bool = False
) -> list[tuple[list[str], list[str]]]:
    """For each use of the head noun: the name-like words within three words of it, and the
    capitalised words telling where the role is held ("Prime Minister Lee Hsien Loong of Singapore");
    `singular`: leave out plural uses ("her prime ministers, beginning with Churchill" names no holder);
    `actual`: leave out uses after a condition or a modal ("If all goes as planned he becomes King",
    "...would accept Camilla as Queen"): a holder supposed."""
    found = list(re.finditer(r"[\w\u2019'.-]+", sentence))
    tokens = [m.group(0).strip(".\u2019'") for m in found]
    titles = _quoted_titles(sentence)
    out = []
    for i, tok in enumerate(tokens):
        if stem(tok.lower()) != head or any(a <= found[i].start() < b for a, b in titles):
            continue  # a role inside a work's title ("...15 Years as CEO of the Walt Disney Company")
        if singular and tok.lower().endswith("s") and stem(tok.lower()[:-1]) == head:
            continue
        if actual and _SUPPOSED.search(sentence, 0, found[i].start()):
            continue
        near = [
            tokens[j]
            for j in range(max(1, i - 3), min(len(tokens), i + 4))
            if j != i and tokens[j][:1].isupper() and name_like(tokens[j])
        ]
        # Where they serve: the word before the role's own words ("Singapore's Prime Minister", not
        # "Vladimir" of "Vladimir Putin's envoy"), or after "of" in its phrase ("Prime Minister Lee
        # Hsien Loong of Singapore"), not anywhere near.
        where = [
            tokens[j]
            for j in range(i + 2, min(len(tokens), i + 8))
            if tokens[j - 1] == "of" and tokens[j][:1].isupper()
        ]
        j = i - 1
        while j > 0 and tokens[j].lower() in _ROLE_WORDS:
            j -= 1
        if j >= 0 and j < i and tokens[j][:1].isupper() and tokens[j].lower() not in _ROLE_WORDS:
            where.append(tokens[j])
        out.append((near, where))
    return out


# A condition opening the sentence (after any label: "What to know: If..."), or a modal.
_SUPPOSED = re.compile(r"(?:^\W*|:\s+)(?:if|unless|should)\b|\b(?:would|could|might)\b", re.IGNORECASE)
_QUOTED = re.compile(r"[\u201c\"]([^\u201d\"]{3,200})[\u201d\"]")


def _quoted_titles(sentence: str) -> list[tuple[int, int]]:
    """Spans of quoted titles of works: quotes whose longer words are mostly capitalised
    (\u201cThe Ride of a Lifetime: Lessons Learned from 15 Years as CEO...\u201d), not quoted speech."""
    out = []
    for m in _QUOTED.finditer(sentence):
        found = re.findall(r"[A-Za-z][\w'-]*", m.group(1))
        long = [w for w in found if len(w) > 3]
        # A short one in title case: \u201cShe Came to Me\u201d, \u201cWhat Was I Made For?\u201d.
        short = 2 <= len(found) <= 8 and all(w[0].isupper() or w in _TITLE_SMALL for w in found)
        if short or (len(long) >= 2 and sum(w[0].isupper() for w in long) >= 0.75 * len(long)):
            out.append(m.span(1))
    return out


# The words a title leaves in lower case.
_TITLE_SMALL = frozenset("a an the of to in on at by for from with and or but nor as".split())


def holder_named(
    role: str, sentence: str, question_terms: set[str], initials: set[str], actual: bool = False
) -> bool:
    """The sentence names someone the question does not beside the role, and not as another
    country's or body's ("Prime Minister Lee Hsien Loong of Singapore" for the United Kingdom's,
    "Facebook CEO Mark Zuckerberg" for TikTok's); `initials`: those of the question's names ("uk"
    for "United Kingdom"); `actual`: not a holder supposed (see `role_scopes`)."""

    def foreign(word: str) -> bool:
        w = POSSESSIVE.sub("", word).lower()
        term = stem(w)
        if w in initials or place_aliases(term) & initials:
            return False  # "UK" or "Britain" for "United Kingdom"
        if is_place_name(w) or place_aliases(term):
            return not matches_spelling(term, question_terms) and place_aliases(term).isdisjoint(
                question_terms
            )
        # Another body's ("Facebook CEO Mark Zuckerberg" for TikTok's), not a word of the role's own.
        return name_like(word) and w not in _ROLE_WORDS and not matches_spelling(term, question_terms)

    return any(
        any(not matches_spelling(stem(POSSESSIVE.sub("", w).lower()), question_terms) for w in near)
        and not any(foreign(w) for w in where)
        for near, where in role_scopes(role, sentence, singular=True, actual=actual)
    )


# Words of a role's own name, not where it is held: "Former Prime Minister", "Acting CEO".
_ROLE_WORDS = frozenset(
    "former acting interim deputy vice new then outgoing incoming current chief senior executive "
    "prime first general assistant associate co-founder founder the a".split()
)


def names_beside(head: str, sentence: str) -> list[list[str]]:
    """For each use of the head noun in the sentence, the name-like words within three words of it."""
    return [near for near, _ in role_scopes(head, sentence)]


def names_a(head: str, sentence: str, question_terms: set[str]) -> bool:
    """The sentence puts the head noun beside a name the question does not already give:
    "the newspaper Kommersant", "Len Blavatnik, a billionaire"."""
    return any(
        not matches_spelling(stem(w.lower()), question_terms)
        for near in names_beside(head, sentence)
        for w in near
    )


def names_after(cues: tuple[str, ...], sentence: str, question_terms: set[str]) -> bool:
    """A name the question does not give follows one of the cue words within four words: "stepped
    down in favor of his son Crown Prince Felipe", "the monkeys are named Zhong Zhong"."""
    cue = "|".join(re.escape(c) for c in cues)
    for m in re.finditer(rf"\b(?:{cue})\b((?:\W+[\w\u2019'.-]+){{1,4}})", sentence, re.IGNORECASE):
        for w in (t.strip(".\u2019'") for t in re.findall(r"[\w\u2019'.-]+", m.group(1))):
            if w[:1].isupper() and name_like(w) and not matches_spelling(stem(w.lower()), question_terms):
                return True
    return False


def describes_given(head: str, sentence: str, question_terms: set[str]) -> bool:
    """Every use of the head noun in the sentence describes someone the question already names:
    "billionaire property mogul Steve Witkoff" gives no billionaire for "Which billionaire is
    Steve Witkoff reported to have connections to?"."""
    uses = names_beside(head, sentence)
    return bool(uses) and all(
        near and all(matches_spelling(stem(POSSESSIVE.sub("", w).lower()), question_terms) for w in near)
        for near in uses
    )


# A name after a preposition of place: "in Washington, D.C.", "to the U.S. Embassy", "at Harvard".
_LOCATIVE = re.compile(
    r"\b(?:in|at|to|from|near|outside|inside|across|toward|towards|into|off|between)\s+(?:the\s+)?$"
)
_LOWER_WORD = re.compile(r"\s+([a-z][a-z'\u2019-]*)")


def _places(sentence: str, question_terms: set[str]) -> set[str]:
    """The places a sentence names (stemmed words joined), but the question's own: a state or
    country anywhere, or a name after "in", "at", "to"... that no lower-case word follows (so "in
    U.S. history" and "at Republican events" name no place); never a month or weekday."""
    out: set[str] = set()
    for run in _adjacent(_CAPITALISED.finditer(sentence), sentence):
        text = " ".join(m.group(0) for m in run).rstrip(".,")
        stems = [stem(w) for m in run for w in words(m.group(0))]
        if not stems or all(t in question_terms for t in stems) or words(text)[0] in _TIME_WORDS:
            continue
        before = sentence[max(0, run[0].start() - 16) : run[0].start()]
        after = _LOWER_WORD.match(sentence, run[-1].end())
        located = _LOCATIVE.search(before) and (after is None or after.group(1) in STOPWORDS)
        if is_place_name(text) or located:
            out.add(" ".join(stems))
    return out


def _countries(sentence: str, question_terms: set[str]) -> set[str]:
    """The countries a sentence names (stemmed words joined), but the question's; its first word counts."""
    out: set[str] = set()
    for run in _adjacent(_CAPITALISED.finditer(sentence), sentence):
        for i in range(len(run)):
            for j in range(i + 1, min(i + 4, len(run) + 1)):
                span = [m.group(0) for m in run[i:j]]
                stems = [stem(w) for m in span for w in words(m)]
                if is_country_name(" ".join(span)) and not all(t in question_terms for t in stems):
                    out.add(" ".join(stems))
    return out


def capitalised_runs(sentence: str) -> list[list[re.Match[str]]]:
    """Capitalised words after the first, grouped when adjacent ("Faena Miami Beach")."""
    first = re.match(r"[\W_]*\w+", sentence)  # the first word, after any opening quote or dash
    return _adjacent(_CAPITALISED.finditer(sentence, first.end() if first else 1), sentence)


def _adjacent(found: Iterator[re.Match[str]], sentence: str) -> list[list[re.Match[str]]]:
    """The capitalised words `found`, grouped when one space apart."""
    runs: list[list[re.Match[str]]] = []
    for m in found:
        if runs and sentence[runs[-1][-1].end() : m.start()] == " ":
            runs[-1].append(m)
        else:
            runs.append([m])
    return runs


# A title a question asks after ("Who is the mayor of...", "the CEO of..."): in a run of capitals
# the name follows it, and what precedes it is where they serve ("Kansas City Mayor Quinton Lucas").
_TITLES = frozenset(
    "president minister secretary secretary-general mayor governor senator judge justice ceo "
    "chairman chairwoman chair director chief general spokesman spokeswoman spokesperson ambassador "
    "commissioner attorney deputy prince princess king queen pope coach".split()
)


NAME_SUFFIXES = frozenset("jr sr ii iii iv".split())  # "Robert F. Kennedy Jr."


def _questions_own(run: list[re.Match[str]], question_terms: set[str]) -> bool:
    """The run holds a word of the question's names ("Joe Biden", "World Darts Federation"), unless
    it is a first name and a surname sharing only the first ("Luke Humphries" beside Luke Littler)."""
    tokens = [ws for m in run if (ws := [w for w in words(m.group(0)) if w not in NAME_SUFFIXES])]
    shared = [[stem(w) in question_terms for w in ws] for ws in tokens]
    first_name_only = len(shared) == 2 and all(shared[0]) and not any(shared[1])
    return any(any(s) for s in shared) and not first_name_only


def _person_runs(sentence: str) -> list[list[re.Match[str]]]:
    """`capitalised_runs`, each cut after a title: only the name after it is kept ("NATO
    Secretary-General Jens Stoltenberg" gives "Jens Stoltenberg" though the question names NATO)."""
    out: list[list[re.Match[str]]] = []
    titles = _quoted_titles(sentence)
    for run in capitalised_runs(sentence):
        if run[0].group(0) == "The":
            continue  # a named thing ("According to The Independent"), as after "the"
        if any(a <= run[0].start() < b for a, b in titles):
            continue  # a work's title ("\u201cShe Came to Me\u201d"), no one's name
        part: list[re.Match[str]] = []
        for m in run:
            if m.group(0).strip(".,\u2019'").lower() in _TITLES:
                part = []  # where they serve, not who
            else:
                part.append(m)
        if part:
            out.append(part)
    return out


# General English, not any corpus's words: titles and the nouns that name institutions. Acronyms
# ("NATO", "EU") and a name after "the" ("the Kremlin", "the White House") are told by rule.
_NOT_NAMES = frozenset(
    "president minister secretary vice prince king queen general foreign national security council "
    "state states united house government republic union kingdom embassy ministry parliament "
    "congress senate court committee agency department office party representatives democrat "
    "democrats republican republicans".split()
) | frozenset((*WEEKDAYS, *MONTHS))


def after_the(text: str, start: int) -> bool:
    """The name at `start` follows "the": a place or institution ("the Kremlin"), not a person."""
    return text[max(0, start - 4) : start].lower() == "the "


_CONTRACTION = re.compile(r"[\u2019'](?:ll|re|ve|d|m|t)$")


def name_like(word: str) -> bool:
    """A capitalised word that may name a person: not an acronym, title, weekday, nationality or
    a place we know ("Moscow")."""
    w = word.strip(".,\u2019'").lower()
    if (
        not w
        or word.isupper()
        or _CONTRACTION.search(w)
        or w in _NOT_NAMES
        or w in STOPWORDS
        or place_aliases(stem(w))
    ):
        return False
    return not is_descriptive(w)


_HONORIFICS = frozenset("mr mrs ms miss dr sir lord lady prof".split())
POSSESSIVE = re.compile(r"[\u2019']s$")


def lone_names(sentence: str, question_terms: set[str]) -> list[str]:
    """Person names the sentence gives by one word only ("Separately, Fesenko warned..."), as
    written, leaving out the question's own; the sentence's first word is not looked at."""
    out = []
    for run in capitalised_runs(sentence):
        word = POSSESSIVE.sub("", run[0].group(0).strip(".,"))
        if (
            len(run) == 1
            and name_like(word)
            and stem(word.lower()) not in question_terms
            and not after_the(sentence, run[0].start())
        ):
            out.append(word)
    return out


def full_name(surname: str, text: str) -> str | None:
    """The name `text` gives `surname` with its given names ("Volodymyr Fesenko"), or None when
    it uses the surname alone or after a title only ("President Putin", "Mr. Fesenko")."""
    pattern = re.compile(r"(?<![\w.])((?:[A-Z][\w\u2019'-]*\.?\s+){1,3})" + re.escape(surname) + r"\b")
    for m in pattern.finditer(text):
        given: list[str] = []
        for g in reversed(m.group(1).split()):
            if g.rstrip(".").lower() in _HONORIFICS or not name_like(g):
                break
            given.insert(0, g)
        if given:
            return " ".join([*given, surname])
    return None


_NOT_ROLE = frozenset(
    "said says told tells wrote writes added adds noted notes asked asks and or by with to from of for".split()
)


def identifies(name: str, sentence: str) -> bool:
    """The sentence says who `name` is: "Kirill Dmitriev, the head of the Russian Direct Investment
    Fund", "Putin's envoy Kirill Dmitriev", "Dmitriev is a former banker" (the surname is enough)."""
    last = re.escape(POSSESSIVE.sub("", name.split()[-1]))
    full = rf"(?:[A-Z][\w\u2019'.-]*\s+){{0,2}}{last}\b"
    if re.search(rf"{full}\s*,\s+(?:the|a|an|who|[A-Z][\w-]*[\u2019']s)\b", sentence):
        return True
    if re.search(rf"{full}\s+(?:is|was)\s+(?:the|a|an)\b", sentence):
        return True
    for m in re.finditer(rf"\b([a-z][\w-]+)\s+{full}", sentence):
        word = m.group(1)
        if word not in STOPWORDS and word not in _NOT_ROLE and not is_past_tense(word):
            return True  # a role right before the name: "envoy Kirill Dmitriev"
    return False
