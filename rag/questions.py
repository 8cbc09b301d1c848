"""What a question asks for: its kind (a person, number, date, organisation), its key terms and
named entities, whether it is nested ("the man who..."), and whether a sentence gives that kind."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rag.hops import is_multi_hop
from rag.initials import known_by_initials
from rag.lexicon import (
    IRREGULAR_PAST,
    TIME_OF_DAY_PATTERN,
    is_demonym,
    matches_spelling,
)
from rag.schema import QuestionKind
from rag.terms import STOPWORDS, stem, words
from rag.values import (
    MONTH_PATTERN,
    POSSESSIVE,
    lone_names,
    name_like,
    quantities,
)

_QUESTION_LEAD = frozenset(
    "who what when where which why how whose whom did does do is are was were can could will would "
    "has have had should tell according name list give and but or in on at for the a an "
    # what fronts a question ("Apart from Aaron Rodgers, which...", "Roughly how many...")
    "apart aside besides beside except excluding including other than roughly approximately about "
    "around nearly almost exactly precisely just only also so then now today currently recently since "
    "during after before following among between despite under over by from with without of to as "
    "if once while".split()
)
PRONOUN_START = re.compile(
    r"^(he|she|they|it|this|these|that|those|his|her|their|its|according to (him|her|them))\b",
    re.IGNORECASE,
)
_PERSON_NOUNS = (
    "person|official|minister|envoy|leader|president|negotiator|expert|analyst|politician|teacher|"
    "billionaire|adviser|advisor|aide|secretary|diplomat|representative|figure|man|woman|prince|"
    "journalist|editor|author|head|chief|spokesman|spokesperson|"
    # Roles news names people by: general English, not any corpus's words.
    "trooper|officer|judge|mayor|governor|senator|lawmaker|candidate|nominee|player|coach|actor|"
    "actress|singer|star|ceo|executive|founder|pilot|student|activist|athlete|soldier|scientist|"
    "researcher|doctor|lawyer|attorney|colleague|suspect|victim|winner|driver|rapper|musician|"
    "director|commander|ambassador|chairman|chairwoman|chair|captain|owner|"
    "co-star|host|anchor|reporter|correspondent|economist|historian|boss|manager|pope|bishop|"
    "priest|monarch|heir|successor|predecessor|queen|king|princess|daughter|son|wife|husband|"
    # People named by age or by what they do ("Which 13-year-old...", "Which gymnast...").
    r"\d+-year-old|teenager|teen|boy|girl|mother|father|brother|worker|employee|"
    "resident|passenger|survivor|witness|whistleblower|comedian|filmmaker|producer|artist|"
    "designer|chef|novelist|poet|quarterback|pitcher|goalkeeper|striker|gymnast|golfer|swimmer|"
    "skater|runner|skier|boxer|wrestler|jockey|rider|climber|astronaut|inventor|entrepreneur|"
    "investor|banker|trader|donor|philanthropist|prosecutor|detective|sheriff|firefighter|nurse|"
    "surgeon|physician|professor|rabbi|imam|admiral|lieutenant|sergeant"
)
# A person noun before one of these names a group ("Which activist collective...").
_GROUPS = r"(?:collective|group|groups|network|movement|coalition|alliance|organi[sz]ation|union|association)"
_ORGANIZATION_NOUNS = (
    "organi[sz]ations?|fund|agency|institution|body|council|ministry|committee|"
    "institute|party|union|foundation|association"
)
# Businesses go by one word as often as by several ("Boeing", "Amazon Pharmacy").
_COMPANY_NOUNS = (
    "company|companies|firm|firms|bank|airline|carrier|manufacturer|maker|automaker|carmaker|"
    "brand|retailer|chain|conglomerate|insurer|broadcaster|publisher|startup"
)
# Words between "which" and the noun it asks for ("Which University of Central Florida student"):
# any but a verb, which ends the noun phrase ("Which team did the player...").
_VERB = r"(?:did|does|do|is|was|were|are|has|have|had|will|would|can|could|should|may|might)\b"
_MODIFIERS = rf"(?:(?!{_VERB})[\w'\u2019.-]+ ){{0,5}}"
_TYPE = re.compile(r"^(?:(?:in|of|for|with) )?what (?:kind|type|sort|form)s? of (?:an? )?([a-z][\w-]*)")
_KINDS: list[tuple[QuestionKind, re.Pattern[str]]] = [
    (
        "person",
        re.compile(
            rf"^(?:(?:to|with|for|from|by|against|in favou?r of)\s+)?(who|whom|whose)\b|\bwhom\b"
            rf"|\b(which|what) {_MODIFIERS}({_PERSON_NOUNS})\b(?! {_GROUPS}\b)"
            # "the name of the pilot", "the full name of Fesenko"; not "the name of the wildfire".
            rf"|\bname of (?:(?:the|a|an) {_MODIFIERS}(?:{_PERSON_NOUNS})\b|(?!the\b|a\b|an\b))"
        ),
    ),
    (
        "number",
        re.compile(
            r"\bhow (many|much|long|far|large|big|old)\b"
            r"|\bwhat (percentage|percent|share|number|amount|proportion|sum)\b"
            # "By what vote...", "What was the magnitude of...", "What is the going rate...": a quantity.
            rf"|\bwhat (?:(?:is|was|are|were) )?{_MODIFIERS}"
            r"(vote|margin|tally|score|magnitude|rate|price|cost|salary|population|temperature)\b"
        ),
    ),
    (
        "date",
        # The date word asked for follows "what" ("On what date...", "In which year..."): "What was
        # the magnitude of the earthquake on New Year's Day?" asks for a number, not a day.
        re.compile(
            r"^when\b|^(?:on |in |by |from |since |until )?(?:what|which)\s+(?:(?:is|was|are|were)\s+the\s+)?"
            r"(?:[\w-]+\s+){0,2}(?:year|date|day|month)\b"
            r"|\bhow long ago\b|^(?:at |by |until )?what time\b(?! (?:period|frame|zone)\b)"
        ),
    ),
    ("company", re.compile(rf"\b(which|what) {_MODIFIERS}({_COMPANY_NOUNS})\b")),
    ("organization", re.compile(rf"\b(which|what) {_MODIFIERS}({_ORGANIZATION_NOUNS})\b")),
    ("country", re.compile(rf"\b(which|what) {_MODIFIERS}(country|countries|nation|nations)\b(?!['\u2019])")),
    # "What caused the outage?", "What do investigators say ignited the fire?": a cause, not a topic.
    (
        "cause",
        re.compile(
            r"^what\b(?:\s+\S+){0,6}?\s+(?:caused|sparked|ignited|triggered|started|set off)\b"
            r"|\bwhat (?:was|is|were) the (?:cause|causes)\b"
        ),
    ),
    # "What type of cancer...?": the noun with what sorts it ("prostate cancer"), not the noun alone.
    ("type", _TYPE),
    # "Where did Haley win...?": a place ("in Washington, D.C."), not the event's other words.
    ("place", re.compile(r"^(?:and |so |then )?where\b")),
    # "Which bridge...", "What names...": a thing named ("the Francis Scott Key Bridge"); not "What
    # kind of surgery", whose answer is a common noun, nor "What did she say".
    (
        "name",
        re.compile(
            r"\bnames?\b(?! after\b)"  # "What is the name of the wildfire?", "What names did they give..."
            r"|^(?:(?:in|on|at|from|to|by|for|with|of|about) )?which (?!(?:kind|type|sort|form)s?\b)"
            rf"(?!{_VERB})\w"
        ),
    ),
]
# Words a question uses to ask, not to name what it is about: never a reason to abstain.
ASKING_WORDS = frozenset(
    "name names exact exactly kind type sort role part top main full specific particular "
    "number amount many much often long percent day date time year month week man woman person "
    "people official thing place hold holds organization organisation".split()
)
# Nouns that only make up a preposition ("on behalf of", "for the sake of"): never a reason to abstain.
PHRASE_NOUNS = frozenset("behalf sake spite lieu".split())
_AUXILIARIES = frozenset("did does do will would can could should might may has have had".split())
_DETERMINERS = frozenset("the a an this that these those his her their its".split())
_TOKEN = re.compile(r"[\w\u2019'.-]+")


def predicate_words(question: str) -> list[str]:
    """Lower-cased words in the question's verb position: right after "who" ("Who spoke with...")
    or after an auxiliary and a named subject ("When will the EU stop...", "did Putin phone").

    An article may say it with another verb ("end", "met"): what the question is about is in its
    other words. A subject that is neither a name nor a nationality and its noun ("did the troops
    grab") is not recognised.
    """
    tokens = [t.strip(".\u2019'") for t in _TOKEN.findall(question)]
    low = [t.lower() for t in tokens]
    out: list[str] = []
    if low[:1] in (["who"], ["whom"]):
        j = 1 + int(len(low) > 1 and low[1] in _AUXILIARIES)  # "Who has visited..."
        if j < len(low) and low[j] not in STOPWORDS and not tokens[j][:1].isupper():
            out.append(low[j])
    for i, word in enumerate(low):
        if word not in _AUXILIARIES or (i == 1 and out):
            continue
        j = i + 1 + int(i + 1 < len(low) and low[i + 1] in _DETERMINERS)
        start = j
        while j < len(tokens) and tokens[j][:1].isupper():
            j += 1
        if j > start and is_demonym(low[j - 1]) and j + 1 < len(low):
            j += 1  # "did Russian troops grab": a nationality and its noun make the subject
        while j > start and j + 1 < len(low) and low[j] in _ADVERBS:
            j += 1  # "When did Apple first pass...": the verb follows the adverb
        if j > start and j < len(low) and not tokens[j][:1].isupper() and low[j] not in STOPWORDS:
            out.append(low[j])
    return list(dict.fromkeys(out))


_ADVERBS = frozenset(
    "first last ever never finally just still also already recently officially eventually initially "
    "originally reportedly actually really once again formally publicly".split()
)


_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_SEASON = re.compile(r"\b((?:19|20)\d\d)[-\u2013/](\d\d)\b")


def years_in(text: str) -> set[str]:
    """The years a text names ("the Golden Globes 2024" -> {"2024"}; "the 2023-24 season" -> both)."""
    years = set(_YEAR.findall(text))
    for first, second in _SEASON.findall(text):
        years.add(first[:2] + second)
    return years


KIND_NAMES: dict[QuestionKind, str] = {
    "person": "a name",
    "number": "a number",
    "date": "a date or time",
    "organization": "an organisation's name",
    "company": "a company's name",
    "country": "a country",
    "place": "a place",
    "name": "a name",
    "cause": "a cause",
    "type": "what kind it was",
}


def type_noun(question: str) -> str | None:
    """The stemmed noun a "What type of X" question sorts ("cancer"); None for other questions."""
    m = _TYPE.match(question.strip().lower())
    return stem(m.group(1)) if m else None


@dataclass(frozen=True)
class QuestionShape:
    """What a question asks for and which of its words matter."""

    question: str
    kind: QuestionKind
    terms: tuple[str, ...]  # stemmed content terms
    entities: tuple[str, ...]  # names as written in the question ("Xi Jinping")


def _leads(word: str, following: list[str]) -> bool:
    """The question's first word is capitalised as its first, not as a name: a question word, what
    fronts one, or an adverb before a lower-case word ("Roughly how many...")."""
    low = word.lower()
    alone = not following or not following[0][:1].isupper()
    return low in _QUESTION_LEAD or (alone and len(low) > 5 and low.endswith("ly"))


def analyse_question(question: str) -> QuestionShape:
    """Classify the question and pick out its terms and named entities."""
    q = question.strip().lower()
    kind: QuestionKind = next((name for name, pattern in _KINDS if pattern.search(q)), "other")
    if kind == "place" and is_multi_hop(question):
        kind = "other"  # "Where was the man who... educated?": the first hop finds the man, not a place
    terms = tuple(dict.fromkeys(stem(w) for w in words(question) if w not in STOPWORDS))
    entities: list[str] = []
    run: list[str] = []
    tokens = question.split()
    for i, tok in enumerate(tokens):
        word = tok.strip("?!,.;:()\"'\u201c\u201d\u2018\u2019")
        capitalised = bool(word) and word[0].isupper() and not (i == 0 and _leads(word, tokens[1:2]))
        if capitalised and word.lower() not in STOPWORDS:
            run.append(word)
            if not tok.endswith(","):  # "Winterset, Iowa": a comma parts two names
                continue
        if run:
            entities.append(" ".join(run))
            run = []
    if run:
        entities.append(" ".join(run))
    return QuestionShape(question, kind, terms, tuple(dict.fromkeys(entities)))


def term_matches(term: str, bag: frozenset[str] | set[str]) -> bool:
    """`term` is in `bag`, or a spelling variant of it is (Dmitriev/Dimitriev)."""
    return matches_spelling(term, bag)


_AMOUNT = r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|a few|several)"
# What a number question asks for, when it says: a share is a percentage, a vote a tally, a
# weight has its unit. A sentence holding only some other number ("Flight 1282") gives none.
_UNITS: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (
        # A share is a percentage, and so is a rate of the economy ("the annual inflation rate").
        re.compile(
            r"\bwhat (?:share|percentage|percent|proportion)\b|\bhow many percent\b"
            r"|\b(?:inflation|interest|unemployment|jobless|mortgage|tax|growth|poverty|approval) rates?\b"
        ),
        re.compile(r"\d\s?(?:%|percent\b|per cent\b)", re.IGNORECASE),
    ),
    (
        # "By what vote...", "What was the vote split...", "What was the final score...": a tally.
        re.compile(
            r"\b(?:by )?what (?:vote|margin|tally)\b"
            r"|\bwhat (?:was|is|were) the (?:[\w-]+ ){0,2}?(?:vote|tally|score)(?: split| count| breakdown)?\b"
        ),
        re.compile(r"\b\d+\s?(?:-|–|to)\s?\d+\b"),
    ),
    (
        re.compile(r"\bhow long\b(?! ago)"),
        re.compile(
            rf"\b{_AMOUNT}(?: to \d+)?[- ](?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?)\b",
            re.IGNORECASE,
        ),
    ),
    (
        re.compile(r"\bweigh"),
        re.compile(
            r"\d[\d,.]*[- ]?(?:pounds?|lbs?|kilograms?|kilos?|kg|tons?|tonnes?|ounces?|grams?)\b",
            re.IGNORECASE,
        ),
    ),
    (
        re.compile(r"\bhow (?:large|big)\b|\bwhat (?:size|area)\b"),
        re.compile(
            r"\d[\d,.]*\s?(?:square|sq\b|acres?|hectares?|miles?|kilometers?|kilometres?|km\b|feet|foot|meters?|metres?)"
            r"|\btimes (?:the size|as (?:large|big))"
            # "How large was the grant?": an amount of money is its size.
            r"|[$\u20ac\u00a3]\s?\d|\d[\d,.]*\s?(?:million|billion|trillion)\b",
            re.IGNORECASE,
        ),
    ),
    (
        re.compile(
            r"\bhow much (?:[\w-]+ ){0,3}?(?:money|cash|funding|funds|revenue|revenues|profit|profits|"
            r"damages|subsidy|subsidies|aid|compensation|financing)\b"
            r"|\bhow much (?:[\w-]+ ){0,5}?(?:cost|costs|pay|paid|fined|worth|raised|spent|earn|earned|charged)\b"
            # a price asked for ("What is the going rate for a 30-second ad?")
            r"|\bwhat (?:is|was|are|were) the (?:[\w-]+ ){0,3}?(?:price|cost|fee|salary|fine|wage|going rate)\b"
        ),
        re.compile(
            r"[$\u20ac\u00a3]\s?\d|\d[\d,.]*(?:\s?(?:million|billion|trillion))?\s?(?:dollars|euros|pounds|yen|yuan)\b",
            re.IGNORECASE,
        ),
    ),
    (  # an earthquake's magnitude is written with a decimal ("a 7.6 earthquake", "magnitude 7.5")
        re.compile(r"\bmagnitude\b(?!-)"),
        re.compile(r"\b[1-9]\.\d\b"),
    ),
    (
        re.compile(r"\bhow old\b"),
        re.compile(r"\b\d+[- ]years?[- ]old\b|\baged? \d+|, \d{1,3},", re.IGNORECASE),
    ),
]


# What a date question asks for, when it says: "On what date" a day of a month, "In what year" a year.
DAY_OF_MONTH = re.compile(
    rf"\b(?:{MONTH_PATTERN})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{MONTH_PATTERN})\b|\b\d{{1,2}}/\d{{1,2}}\b",
    re.IGNORECASE,
)
# "What time...": a time of day ("11 a.m. ET", "12:01 a.m.", "noon").
_TIME_OF_DAY = re.compile(TIME_OF_DAY_PATTERN, re.IGNORECASE)
_DATE_UNITS: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (re.compile(r"\b(?:what|which) (?:date|day of the month)\b"), DAY_OF_MONTH),
    (re.compile(r"^(?:at |by |until )?what time\b"), _TIME_OF_DAY),
    (
        re.compile(
            r"\b(?:what|which) (?:[\w-]+ )?year\b|^when (?:was|were) .+ born\b"
        ),  # "Which birth year..."
        re.compile(r"\b(?:19|20)\d\d\b"),
    ),
]


_PART_OF = re.compile(
    r"\bhow (?:much|many) (?:[\w-]+ ){0,3}?of (?:the |[\w.-]+['\u2019]s )?([$\u20ac\u00a3]?\s?\d[\d,.]*(?:\s?(?:thousand|million|billion|trillion))?)",
    re.IGNORECASE,
)


def part_of(question: str) -> tuple[float, bool] | None:
    """The whole a "How much of X's $8.5 billion award..." question asks a part of, as an amount
    and whether it is money; None if it names no such whole."""
    m = _PART_OF.search(question)
    found = quantities(m.group(1)) if m else []
    return found[0] if found else None


_RANK = re.compile(r"\b(first|second|third|fourth|fifth|last|runner-up)\b")


def asked_rank(question: str) -> re.Pattern[str] | None:
    """The rank a "Who finished second...?" question asks the holder of (right after its verb), as
    the pattern a sentence answering must match; None when it asks none."""
    low = question.lower()
    for verb in predicate_words(question):
        m = re.search(rf"\b{re.escape(verb)}\s+{_RANK.pattern}", low)
        if m:
            return re.compile(rf"\b{m.group(1)}\b", re.IGNORECASE)
    return None


def asked_unit(question: str) -> re.Pattern[str] | None:
    """The form a number or date question's answer takes when the question says ("What share..."
    -> a percentage, "On what date..." -> a day of a month), as a pattern a sentence must match;
    None when any number or date will do."""
    low = question.lower()
    return next((unit for asks, unit in (*_UNITS, *_DATE_UNITS) if asks.search(low)), None)


_HEAD = re.compile(r"^(?:which|what)\s+([a-z][\w-]*)\b")
_NOT_HEADS = frozenset(
    "is are was were did does do has have had can could will would should kind type sort".split()
)


_SOURCE = re.compile(r"\baccording to\b([^,?;]*)", re.IGNORECASE)


def source_terms(question: str) -> set[str]:
    """Stemmed words of the question's "according to ..." clause: they say where the answer is
    told ("according to the article on the Kremlin talks"), not what it is."""
    return {stem(w) for m in _SOURCE.finditer(question) for w in words(m.group(1)) if w not in STOPWORDS}


_COUNTED = re.compile(r"\bhow (?:many|much)\s+((?:[\w$.-]+\s+){0,5})")


def count_verb(question: str) -> str | None:
    """The stemmed verb right after what a "How many X <verb>..." question counts: "How many House
    members voted for the bill?" -> "vote" (the answer reads "352 voted"); None when an auxiliary
    comes first ("How many points did he score?") or no past form follows."""
    m = re.search(r"\bhow (?:many|much)\s+(.*)", question.lower())
    after = re.findall(r"[a-z]+(?:['\u2019][a-z]+)?", m.group(1)) if m else []
    for w in after[1:8]:  # the first word is the counted noun's
        if w in _AUXILIARIES or w in ("is", "are", "was", "were"):
            return None
        if w in IRREGULAR_PAST or (w.endswith("ed") and len(w) > 4):
            return stem(w)
    return None


def counted_noun(question: str) -> tuple[str, ...]:
    """The stemmed words of what a "how many X" question counts, up to its verb: "How many Boeing
    737 Max 9 jets did the FAA ground?" -> ("boe", "max", "jet")."""
    m = _COUNTED.search(question.lower() + " ")
    out: list[str] = []
    for w in m.group(1).split() if m else []:
        if w in _AUXILIARIES or (w in STOPWORDS and out):
            break
        if w not in STOPWORDS and not re.search(r"\d", w):
            out.append(stem(w))
    return tuple(out)


def head_noun(question: str) -> str | None:
    """The stemmed noun a "which X" / "what X" question asks for an instance of ("newspaper")."""
    m = _HEAD.match(question.strip().lower())
    if m is None or m.group(1) in _NOT_HEADS or m.group(1) in STOPWORDS:
        return None
    return stem(m.group(1))


_LEADING_PREPOSITION = re.compile(
    rf"^(to|with|in favou?r of|against|from|by|for) (?:whom|(?:which|what) {_MODIFIERS}(?:{_PERSON_NOUNS}))\b"
)


_ASKS_NAME = re.compile(
    r"^(?:what|which) names?\b|\bthe (?:full |official )?names? of\b|\bwhat is \w+(?: \w+)? called\b"
)
NAMING_WORDS = ("named", "called", "dubbed", "nicknamed", "known as")


def name_cues(question: str) -> tuple[str, ...]:
    """The words a sentence answering puts the name asked for after: the preposition a question
    after a person opens with ("To whom...", "In favor of whom...", "With which colleague..."), or
    "named", "called"... for a question after a name ("What names did they give the monkeys?")."""
    low = question.strip().lower()
    m = _LEADING_PREPOSITION.match(low)
    if m:
        return (m.group(1),)
    return NAMING_WORDS if _ASKS_NAME.search(low) else ()


# "Who is the prime minister of...", "Who is Denmark's reigning monarch?": the role whose holder is asked.
_ROLE = re.compile(
    r"^who (?:is|was|are|were) (?:(?:the |[\w.-]+['\u2019]s )+(?:[\w-]+ ){0,3}?([a-z][\w-]*)"
    # "Who was mayor of Mexico City when...": a role without "the" is one of the person nouns.
    rf"|({_PERSON_NOUNS}))(?: of\b| in\b| at\b| for\b|\?|$)"
)
# One role, two names: "Intel CEO Pat Gelsinger" answers "Who is the chief executive of Intel?".
# A monarch is named by the title of the one reigning ("Queen Margrethe", "King Charles").
_ROLE_FORMS: dict[str, tuple[str, ...]] = {
    "execut": ("ceo",),
    "ceo": ("execut",),
    "monarch": ("king", "queen"),
}


# "Who will succeed Borne as France's prime minister...?": the role the successor is to hold.
_SUCCESSION = re.compile(
    r"^who (?:[\w-]+ ){0,3}?(?:succeed|succeeded|replace|replaced|take over from|took over from)\b(.*?)"
    r"\bas (?:the )?(?:[\w.-]+['\u2019]s )?(?:[\w-]+ ){0,2}?([a-z][\w-]*)(?: of\b| in\b| at\b| for\b|,|\?|$| following\b| after\b)",
    re.IGNORECASE,
)


def predecessor(question: str) -> set[str]:
    """The stemmed name of whom a "Who will succeed Borne as..." question asks the successor of;
    empty for any other question."""
    m = _SUCCESSION.match(question.strip())
    return {stem(w) for w in words(m.group(1)) if w not in STOPWORDS} if m else set()


def role_noun(question: str) -> str | None:
    """The stemmed role a "Who is the <role> of ..." question asks the holder of ("minister"), or
    the one a "Who will succeed X as <role>" question asks the next holder of."""
    low = question.strip().lower()
    m = _ROLE.match(low)
    if m:
        return stem(m.group(1) or m.group(2))
    m = _SUCCESSION.match(low)
    return stem(m.group(2)) if m else None


def role_forms(role: str) -> tuple[str, ...]:
    """The stemmed role and its other names, if it has any ("execut" -> "execut", "ceo")."""
    return (role, *_ROLE_FORMS.get(role, ()))


_FULL_NAME = re.compile(r"\b(?:full|first|given|whole|complete)\s+name\b", re.IGNORECASE)


def asks_full_name(question: str) -> bool:
    """The question asks for someone's full (or first) name, not just who it is."""
    return bool(_FULL_NAME.search(question))


def names_to_complete(question: str, sentence: str) -> list[str]:
    """For a full-name question: the people named by one word only, in the question ("the first
    name of Fesenko") or in the sentence that answers it."""
    shape = analyse_question(question)
    own = [POSSESSIVE.sub("", e) for e in shape.entities if " " not in e and name_like(e)]
    return own + [n for n in lone_names(sentence, set(shape.terms)) if n not in own]


def unknown_entities(shape: QuestionShape, known: Callable[[str], bool]) -> list[str]:
    """Names in the question whose head word (a surname, "Cup" of "World Cup") the corpus never uses.

    Spelling variants count as known, and so do initials ("EU" for "European Union"); a modifier
    alone ("South" of "South Florida") does not decide.
    """
    missing = []
    for entity in shape.entities:
        parts = [stem(w) for w in words(entity) if w not in STOPWORDS and not w.isdigit()]
        if parts and not known(parts[-1]) and not known_by_initials(entity, known):
            missing.append(entity)
    return missing


_IDENTITY = re.compile(r"^\s*who\s+(?:is|was)\s+(.+?)\s*\??\s*$", re.IGNORECASE)


def identity_name(question: str) -> str | None:
    """The name a "Who is Kirill Dmitriev?" question asks about; None for any other question."""
    m = _IDENTITY.match(question)
    if not m:
        return None
    name = m.group(1).strip()
    tokens = name.split()
    if not tokens or len(tokens) > 4 or not all(t[:1].isupper() for t in tokens):
        return None
    return name
