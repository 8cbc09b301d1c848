"""Places news text names in more than one way: a capital for its country ("Beijing" for China),
a seat of power for its government ("the Kremlin"), a demonym ("Finnish"), a region for its members
("Nordic" for Finland, Sweden...). A question may use one form and the article another; these
aliases let retrieval, coverage and the unknown-name check see them as the same place.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rag.terms import stem, words

# One line per country: its names and demonyms, then after "|" its capital and seats of power.
# A name on the left matches every word of the line; a capital matches the left side only
# (Moscow means Russia, Russia does not mean Moscow). Single words only: "new delhi" -> "delhi".
_COUNTRIES = """
russia russian russians | moscow kremlin
ukraine ukrainian ukrainians | kyiv kiev
us usa america american americans | washington pentagon
china chinese | beijing
britain british uk england english | london westminster whitehall
france french | paris elysee
germany german germans | berlin
japan japanese | tokyo
iran iranian iranians | tehran
israel israeli israelis | jerusalem
india indian indians | delhi
turkey turkish turkiye | ankara
finland finnish finns | helsinki
sweden swedish swedes | stockholm
norway norwegian norwegians | oslo
denmark danish danes | copenhagen
iceland icelandic | reykjavik
estonia estonian estonians | tallinn
latvia latvian latvians | riga
lithuania lithuanian lithuanians | vilnius
poland polish poles | warsaw
belarus belarusian belarusians | minsk
hungary hungarian hungarians | budapest
moldova moldovan moldovans | chisinau
romania romanian romanians | bucharest
italy italian italians | rome
spain spanish | madrid
netherlands dutch | amsterdam hague
belgium belgian belgians | brussels
austria austrian austrians | vienna
switzerland swiss | bern geneva
greece greek greeks | athens
canada canadian canadians | ottawa
mexico mexican mexicans
brazil brazilian brazilians | brasilia
venezuela venezuelan venezuelans | caracas
cuba cuban cubans | havana
australia australian australians | canberra
taiwan taiwanese | taipei
korea korean koreans | seoul pyongyang
syria syrian syrians | damascus
iraq iraqi iraqis | baghdad
afghanistan afghan afghans | kabul
pakistan pakistani pakistanis | islamabad
egypt egyptian egyptians | cairo
qatar qatari qataris | doha
saudi saudis arabia | riyadh
emirates emirati uae | dhabi
georgia georgian georgians | tbilisi
armenia armenian armenians | yerevan
azerbaijan azerbaijani | baku
kazakhstan kazakh | astana
serbia serbian serbs | belgrade
"""

# Words that are also common English ("us" the pronoun): aliases of others, never a key.
_NOT_KEYS = frozenset({"us"})

# Groups named as one: the name matches its members' names and demonyms, not the reverse.
_REGIONS = {
    "nordic": "finland sweden norway denmark iceland",
    "scandinavian": "sweden norway denmark",
    "scandinavia": "sweden norway denmark",
    "baltic": "estonia latvia lithuania",
    "baltics": "estonia latvia lithuania",
    "gulf": "qatar saudi emirates kuwait bahrain oman",
    "european": "eu",
    "brussels": "eu",
}


@lru_cache(maxsize=1)
def _table() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    names_of: dict[str, list[str]] = {}  # a country's first name -> all its names and demonyms

    def add(key: str, targets: list[str]) -> None:
        if key not in _NOT_KEYS:
            table.setdefault(stem(key), set()).update(stem(t) for t in targets if t != key)

    for line in _COUNTRIES.strip().splitlines():
        names, _, seats = (part.split() for part in line.partition("|"))
        names_of[names[0]] = names
        for w in names:
            add(w, names + seats)
        for w in seats:
            add(w, names)
    for region, members in _REGIONS.items():
        add(region, [w for m in members.split() for w in names_of.get(m, [m])])
    return {k: frozenset(v) for k, v in table.items()}


def place_aliases(term: str) -> frozenset[str]:
    """Stemmed terms naming the same place as the stemmed `term` (empty if it names none)."""
    return _table().get(term, frozenset())


# States and provinces, named in news as often as countries; babel holds the countries only.
_STATES = """
alabama, alaska, arizona, arkansas, california, colorado, connecticut, delaware, florida, georgia,
hawaii, idaho, illinois, indiana, iowa, kansas, kentucky, louisiana, maine, maryland, massachusetts,
michigan, minnesota, mississippi, missouri, montana, nebraska, nevada, new hampshire, new jersey,
new mexico, new york, north carolina, north dakota, ohio, oklahoma, oregon, pennsylvania,
rhode island, south carolina, south dakota, tennessee, texas, utah, vermont, virginia, washington,
west virginia, wisconsin, wyoming, alberta, british columbia, manitoba, new brunswick, nova scotia,
ontario, quebec, saskatchewan, yukon
"""


@lru_cache(maxsize=1)
def _place_names() -> frozenset[str]:
    from babel import Locale  # country names in English, from the CLDR; loaded on first use

    names = {n.lower() for n in Locale("en").territories.values()}
    return frozenset(names | {n.strip() for n in _STATES.split(",")})


# Countries news names by a short form the CLDR does not list as a name.
_SHORT_COUNTRIES = frozenset("u.s. us usa u.k. uk britain america".split())


@lru_cache(maxsize=1)
def _country_names() -> frozenset[str]:
    from babel import Locale

    # Two-letter codes are countries and territories; three digits are regions ("Africa", "world").
    countries = {n.lower() for code, n in Locale("en").territories.items() if code.isalpha()}
    return frozenset(
        (countries - {"european union", "united nations", "eurozone", "unknown region"}) | _SHORT_COUNTRIES
    )


def is_country_name(name: str) -> bool:
    """`name` ("Japan", "the U.S.", "Greece's") names a country."""
    bare = re.sub(r"['\u2019]s$", "", name.strip(" ,")).lower()
    return bare in _country_names() or bare.rstrip(".") in _country_names()


def is_place_name(name: str) -> bool:
    """`name` ("Kenya", "South Carolina", "Texas's") names a country, state or province as a whole."""
    return re.sub(r"['\u2019]s$", "", name.strip(" .,")).lower() in _place_names()


def place_words(text: str) -> list[str]:
    """Stemmed alias terms of every place named in `text` (for tests and debugging)."""
    return sorted({a for w in words(text) for a in place_aliases(stem(w))})
