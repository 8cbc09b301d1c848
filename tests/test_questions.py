"""The pure question rules (rag.questions: what a question asks for, its names, its verbs) and
what a sentence gives of it (rag.values)."""

from __future__ import annotations

import pytest

from rag.hops import bridge_names, is_multi_hop
from rag.initials import acronym
from rag.questions import (
    NAMING_WORDS,
    analyse_question,
    asked_unit,
    count_verb,
    head_noun,
    name_cues,
    names_to_complete,
    predecessor,
    predicate_words,
    role_forms,
    role_noun,
)
from rag.terms import stem
from rag.values import describes_given, full_name, has_kind, kind_values, names_a, sorts


def test_question_shapes() -> None:
    assert analyse_question("Who co-owns the Faena hotel?").kind == "person"
    assert analyse_question("How many people were killed?").kind == "number"
    assert analyse_question("When did the talks start?").kind == "date"
    assert analyse_question("At what time did the shutdown start?").kind == "date"
    assert analyse_question("What time period does the study cover?").kind == "other"
    assert analyse_question("Why did the talks move to Miami?").kind == "other"
    assert analyse_question("Which organization does Dmitriev head?").kind == "organization"
    assert not has_kind("person", "Talks held in Moscow between U.S. envoys and Putin.", {"putin"})
    assert has_kind("person", "Talks held in Moscow between Witkoff and Putin.", {"putin"})
    assert analyse_question("What fund does the man oversee?").kind == "organization"
    assert analyse_question("Which company makes the 737 MAX 9?").kind == "company"
    # A business often goes by one word; an organisation's name is "...Fund", "...Agency".
    assert kind_values("company", "The FAA grounded 171 Boeing 737 MAX 9 jets.", {"737"}) == {stem("boeing")}
    # Another man sharing the asked one's first name is an answer; the asked one and his body are not.
    luke = {"luke", stem("littler"), "world", "dart"}
    assert kind_values("person", "The final is between Littler and Luke Humphries.", luke) == {
        stem("humphries")
    }
    assert kind_values("person", "Luke Littler joined the World Darts Federation.", luke) == set()
    assert not has_kind("organization", "The FAA grounded 171 Boeing 737 MAX 9 jets.", {"737"})
    assert analyse_question("What did Xi Jinping say?").entities == ("Xi Jinping",)
    assert is_multi_hop("What fund does the man who estimated the losses oversee?")
    assert not is_multi_hop("Who is Witkoff?")
    # Asking who the described one is takes one hop; asking something of them takes two.
    assert not is_multi_hop("Who is the CEO of TikTok who visited Capitol Hill to lobby against the bill?")
    assert is_multi_hop("What is the full name of the expert who warned against it?")
    # Asking what the described one is (its name, its size) is one hop.
    assert not is_multi_hop("What was the name of the spacecraft that landed on the far side?")
    assert not is_multi_hop("Who is Vladimir Putin's envoy that held talks in Florida?")
    assert not is_multi_hop("On what date was the concert that prompted a fan lawsuit?")
    assert is_multi_hop("What kind of specialist is the negotiator who met Witkoff?")


@pytest.mark.parametrize(
    "question, verbs",
    [
        ("Who spoke on behalf of Russia in Miami?", ["spoke"]),
        ("Who has visited Kyiv?", ["visited"]),
        ("Who did Putin meet?", ["meet"]),
        ("When will the EU stop importing Russian gas?", ["stop"]),
        ("How much land did Russian troops grab in November?", ["grab"]),
        ("Which European leader did Putin phone after the talks?", ["phone"]),
        ("When did Apple first pass the $3 trillion mark?", ["pass"]),  # the verb after the adverb
        # Nouns are what a question is about: never taken for its verb.
        ("How much does a night at the Faena hotel cost?", []),
        ("Who is the U.S. ambassador to Russia?", []),
        ("How many people attended the Kremlin dinner?", []),
    ],
)
def test_the_verb_of_a_question_is_told_from_its_nouns(question: str, verbs: list[str]) -> None:
    assert predicate_words(question) == verbs


def test_initials_of_a_name() -> None:
    assert acronym("European Union") == "eu"
    assert acronym("Institute for the Study of War") == "isw"
    assert acronym("Putin") == ""
    assert acronym("Steve Witkoff") == ""  # two initials stand only for a body ("EU", "UN")


def test_which_x_questions_know_the_noun_they_ask_for() -> None:
    assert head_noun("Which newspaper reported on the session?") == stem("newspaper")
    assert head_noun("What organization does he head?") == stem("organization")
    assert head_noun("What is the capital of Australia?") is None
    assert head_noun("Which of them spoke first?") is None
    assert head_noun("Who reported it?") is None
    terms = {stem("newspaper"), stem("report")}
    assert names_a(
        stem("newspaper"), "The session, as reported by the newspaper Kommersant, ran late.", terms
    )
    assert names_a(stem("billionaire"), "He has ties to Len Blavatnik, a billionaire.", set())
    # the noun alone, or beside a name the question already gives, is no answer
    assert not names_a(stem("newspaper"), "A newspaper said the talks ran late.", terms)
    assert not names_a(stem("billionaire"), "Witkoff is a billionaire.", {stem("witkoff")})
    assert not names_a(stem("billionaire"), "Witkoff is a billionaire.", {stem("witkof")})  # misspelt
    # ...and such a sentence's noun describes the question's own man: it covers nothing asked
    given = {stem("steve"), stem("witkof")}
    mogul = "Dialogue with stakeholders, including billionaire property mogul Steve Witkoff."
    assert describes_given(stem("billionaire"), mogul, given)
    assert not describes_given(stem("billionaire"), "He has ties to Len Blavatnik, a billionaire.", given)
    assert not describes_given(stem("billionaire"), "A billionaire said the talks ran late.", given)


def test_a_second_hop_follows_the_new_name_not_the_question_s_own() -> None:
    lead = "The main Russian negotiator, Kirill Dmitriev, has been discussing schemes with Steve Witkoff."
    # "Steve" belongs to the name the question already gives; Kirill Dmitriev is the link.
    assert bridge_names(lead, "Who is the negotiator who talks with Witkoff?") == ["kirill", "dmitriev"]


@pytest.mark.parametrize(
    ("surname", "text", "full"),
    [
        (
            "Fesenko",
            "which will be used by the Americans,\u201d noted Volodymyr Fesenko.",
            "Volodymyr Fesenko",
        ),
        ("Dmitriev", "Putin\u2019s envoy Kirill Dmitriev has completed a round", "Kirill Dmitriev"),
        ("Witkoff", "special envoy U.S. Steve Witkoff met", "Steve Witkoff"),
        ("Putin", "President Putin said; Mr. Putin added", None),  # titles are no given names
        ("Fesenko", "Separately, Fesenko warned against", None),
    ],
)
def test_the_full_name_is_the_given_names_before_the_surname(
    surname: str, text: str, full: str | None
) -> None:
    assert full_name(surname, text) == full


def test_a_full_name_question_completes_the_one_word_names() -> None:
    q = "What is the full name of the expert who warned against it?"
    assert names_to_complete(q, "Separately, Fesenko warned against it, Kirill Dmitriev said.") == ["Fesenko"]
    assert names_to_complete("What is Fesenko\u2019s first name?", "It was so, Fesenko said.") == ["Fesenko"]


def test_kind_values_are_what_the_sentence_gives_beyond_the_question() -> None:
    sentence = "Putin's envoy Kirill Dmitriev met Steve Witkoff in Miami on 30 November, after 5 hours."
    assert kind_values("person", sentence, {"putin", "witkoff", "steve"}) == {
        stem("kirill"),
        stem("dmitriev"),
    }
    assert kind_values("number", sentence, set()) == {"30", "5"}
    assert "november" in kind_values("date", sentence, set())
    assert kind_values("other", sentence, set()) == set()
    # A work's title in quotes names no one; quoted speech may ("Step down, Xi Jinping!").
    song = '"Addicted to Romance" from "She Came to Me" (music and lyrics by Bruce Springsteen)'
    assert kind_values("person", song, {"bruce", stem("springsteen")}) == set()
    assert stem("jinping") in kind_values("person", '"Step down, Xi Jinping!" they yelled.', set())
    # "Where...?": a place after "in", "at", "to" (or a state, a country), never a name used as a
    # modifier ("in U.S. history") nor a month; the question's own place is no answer.
    assert analyse_question("Where did Haley win her first primary?").kind == "place"
    assert analyse_question("Where was the negotiator who met Witkoff educated?").kind == "other"
    assert kind_values("place", "Haley won the primary in Washington, D.C., on Sunday.", set()) == {
        stem("washington")
    }
    assert kind_values("place", "She is the first woman to win a primary in U.S. history.", set()) == set()
    assert kind_values("place", "The vote was held in January in Texas.", set()) == {stem("texas")}
    assert kind_values("place", "He studied at Harvard and in Nevada.", {stem("nevada")}) == {stem("harvard")}
    # A number or date the question itself holds is no answer: "Flight 1282", "the 2024 caucuses".
    q = analyse_question("How much does the plug of Alaska Airlines Flight 1282 weigh, as of 2024?")
    assert kind_values("number", "Flight 1282 landed safely in 2024.", set(q.terms)) == set()
    assert kind_values("number", "The 63-pound plug of Flight 1282", set(q.terms)) == {"63"}
    assert kind_values("date", "The 2024 caucuses", set(q.terms)) == set()
    # An ordinal ranks; it counts nothing: no answer to "How many members voted for it?".
    assert kind_values("number", "Greece became the 16th country to legalize it.", set()) == set()
    # Nor does a year where it dates something; a number beside it still counts.
    assert kind_values("number", "In 2001, the Netherlands was the first country.", set()) == set()
    assert kind_values("number", "The company sold 2000 cars in 2019.", set()) == {"2000"}
    # A name after a title is a name though the title's organisation is the question's.
    nato = analyse_question("Who heads NATO and said there are no plans for combat troops?")
    assert kind_values("person", "NATO Secretary-General Jens Stoltenberg said so.", set(nato.terms)) == {
        stem("jens"),
        stem("stoltenberg"),
    }
    # "Which country...": any proper name beyond the question's, a place included.
    country = analyse_question("Which country landed a spacecraft on the moon on Friday?")
    assert kind_values("name", "On Friday, Japan became the fifth nation to land.", set(country.terms)) == {
        stem("japan")
    }
    assert not has_kind("name", "On Friday, the lander touched down on the moon.", set(country.terms))
    assert has_kind("cause", "The outage was caused by a faulty update.", set())
    assert not has_kind("cause", "Customers were left without service during the outage.", set())
    # "What type of cancer": the noun sorted by a word beyond the question's, or not named at all
    # (a kind may be named without its noun: "drones" for "What kind of hardware").
    assert sorts(stem("cancer"), "He was diagnosed with prostate cancer.", {stem("king")})
    assert not sorts(
        stem("cancer"), "The king's cancer diagnosis put pressure on the family.", {stem("king")}
    )
    assert not sorts(stem("cancer"), "He has a form of cancer.", set())
    assert sorts(stem("hardware"), "It shows AI capabilities in drones and other weapons.", set())


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Which University of Central Florida student received legal threats?", "person"),
        ("Which original 'Happy Gilmore' co-star revealed the sequel?", "person"),
        ("Which 13-year-old from Oklahoma beat Tetris?", "person"),  # named by age
        ("Which gymnast withdrew from the final?", "person"),
        ("Which activist collective threw the soup?", "name"),  # a group, not an activist
        ("Which general election did Labour win?", "name"),  # "general" is no person here
        ("Which Baltimore bridge was knocked into the harbor?", "name"),
        ("In which city did Zelensky meet Erdogan?", "name"),
        ("Which team did the Detroit Lions beat on Sunday?", "name"),  # the verb ends the noun phrase
        ("Which kind of surgery did she undergo?", "other"),  # a common noun answers
        ("From what date does the suspension run?", "date"),
        ("What caused the nationwide outage?", "cause"),
        ("What is the name of the largest wildfire burning in Texas?", "name"),
        ("What was the name of the Blue Angels pilot killed in the crash?", "person"),
        ("What is the full name of Fesenko?", "person"),
        ("By what vote did the Supreme Court allow agents to cut the wire?", "number"),
        ("What was the magnitude of the earthquake that hit Japan?", "number"),
        ("On what date did the magnitude-7.8 earthquake strike Nepal?", "date"),
        ("What did AT&T's initial review find caused the outage?", "cause"),
        ("What type of cancer was the king diagnosed with?", "type"),
    ],
)
def test_which_questions_ask_for_the_noun_after_their_modifiers(question: str, kind: str) -> None:
    assert analyse_question(question).kind == kind


@pytest.mark.parametrize(
    ("question", "gives", "does_not"),
    [
        ("What share of the vote did Trump win?", "Trump took 51% of the vote.", "Trump won at 7:31 pm."),
        (
            "By what vote did the court allow it?",
            "The justices, by a 5-4 vote, allowed it.",
            "The court allowed it on 22 January.",
        ),
        ("How long is she expected to stay in hospital?", "She will stay 10 to 14 days.", "She is 42."),
        ("How much does the door plug weigh?", "It is a 63-pound plug.", "Flight 1282 lost a plug."),
        ("How large is the iceberg?", "It measures about 1,500 square miles.", "The 1,000-ton iceberg spun."),
        ("How old is the pope?", "The 87-year-old pope met him.", "The pope met 3 leaders."),
        (
            "What is the going rate for a 30-second ad?",
            "Spots sold for more than $4 million each.",
            "CBS covers the Feb. 3 game.",
        ),
        ("What is the annual inflation rate?", "Prices rose 3.1% in a year.", "The Fed met on Jan. 31."),
        (
            "What was the magnitude of the earthquake?",
            "The 7.6 earthquake hit Ishikawa.",
            "Waves reached three feet.",
        ),
        (
            "How much money in damages are the fans seeking?",
            "They seek $5 million in damages.",
            "Two fans sued on Jan. 19.",
        ),
        (
            "How much first-quarter revenue will it lose?",
            "It will lose 150 million dollars.",
            "It grounded 46 planes.",
        ),
        (
            "On what date will the World Cup kick off?",
            "It opens on June 11 in Mexico City.",
            "It was revealed on Sunday in 2024.",
        ),
        ("In what year did he win his first title?", "He won it in 2022.", "He won it on Monday."),
        # A day written as an ordinal is a day of the month.
        (
            "On what date does Barbie celebrate its 65th anniversary?",
            "Barbie's 65th anniversary is March 9th.",
            "It turns 65 in March 2024.",
        ),
        ("What date is the parade?", "The parade is on the 4th of July.", "The parade is in July."),
        (
            "What was the vote split when the court ruled?",
            "After the court's 5-4 ruling, he spoke.",
            "The 5th Circuit.",
        ),
        # "What time...": a time of day, not the day.
        (
            "What time tomorrow does early access open?",
            "Early access opens at 11 a.m. ET.",
            "It opens on Jan. 24.",
        ),
        # A size asked of money is an amount; one asked of an iceberg, an area.
        (
            "How large was the grant to Intel?",
            "Biden announced an $8.5 billion grant.",
            "It is Intel's 4th plant.",
        ),
        ("How large is the A23a iceberg?", "It spans 1,500 square miles.", "It broke off in 1986."),
        ("Which birth year did he predict?", "He may have been born in 1982.", "This year, no one knows."),
        (
            "When was Elizabeth Francis born?",
            "Francis was born on July 25, 1909.",
            "Francis, 114, lives in Houston.",
        ),
    ],
)
def test_a_question_that_says_what_form_its_answer_takes_needs_that_form(
    question: str, gives: str, does_not: str
) -> None:
    unit = asked_unit(question)
    assert unit is not None and unit.search(gives) and not unit.search(does_not)


def test_a_question_that_does_not_say_takes_any_number_or_date() -> None:
    assert asked_unit("How many people were injured?") is None
    assert asked_unit("How much snow fell?") is None
    assert asked_unit("When did the talks start?") is None
    assert asked_unit("Who won the election?") is None


def test_a_season_names_both_its_years() -> None:
    from rag.questions import years_in

    assert years_in("How many games did she attend during the 2023-24 NFL season?") == {"2023", "2024"}
    assert years_in("the Golden Globes 2024") == {"2024"}


def test_a_how_many_question_counts_the_noun_before_its_verb() -> None:
    from rag.questions import counted_noun
    from rag.values import counts

    counted = counted_noun("About how many Boeing 737 Max 9 jets did the FAA ground?")
    assert counted == ("boe", "max", "jet")
    assert counts(counted, "The FAA has grounded 171 of the Boeing 737 Max 9 planes worldwide.")
    people = counted_noun("How many people suffered gunshot wounds at the parade?")
    assert counts(people, "In total 22 people suffered gunshot wounds, including one fatality.")
    assert not counts(people, "And now, 11 children were shot in the moments after the parade.")
    assert counts(counted_noun("How much revenue did it lose?"), "It will lose $150 million in revenue.")


@pytest.mark.parametrize(
    "question",
    [
        "To whom did Lloyd Austin transfer his authority?",
        "In favor of whom did the king abdicate?",
        "Which state trooper was charged?",
        "With which CNN colleague did he have a relationship?",
    ],
)
def test_questions_after_a_person_are_asked_for_a_name(question: str) -> None:
    from rag.questions import analyse_question

    assert analyse_question(question).kind == "person"


@pytest.mark.parametrize(
    "question, names",
    [
        # What fronts a question is capitalised as its first word, not as a name.
        (
            "Apart from Aaron Rodgers, whom has Kennedy discussed as a running mate?",
            ("Aaron Rodgers", "Kennedy"),
        ),
        ("Besides Taylor Swift, who won a Grammy?", ("Taylor Swift", "Grammy")),
        ("Roughly how many migrants crossed in 2023?", ()),
        ("Reportedly, who resigned?", ()),
        # A first word before another capitalised one may start a name.
        ("Kelly Clarkson said what?", ("Kelly Clarkson",)),
        # A comma parts two names: the town and the state that locates it.
        ("On what date did the tornado hit Winterset, Iowa?", ("Winterset", "Iowa")),
        ("Did Biden, Trump and Haley meet?", ("Biden", "Trump", "Haley")),
    ],
)
def test_a_question_s_names(question: str, names: tuple[str, ...]) -> None:
    assert analyse_question(question).entities == names


def test_a_state_after_a_town_is_no_name_an_article_must_give() -> None:
    from rag.abstain import name_parts

    shape = analyse_question("On what date did the tornado hit Winterset, Iowa?")
    assert [name for name, _ in name_parts(shape)] == ["Winterset"]
    shape = analyse_question("Which Iowa town did the tornado hit?")
    assert [name for name, _ in name_parts(shape)] == ["Iowa"]


def test_a_contraction_or_the_first_word_after_a_quote_is_no_name() -> None:
    from rag.values import kind_values

    assert (
        kind_values("person", "\u201cThere\u2019ll be no troops on the ground,\u201d he said.", set())
        == set()
    )


def test_a_country_state_or_party_is_no_person() -> None:
    from rag.places import is_place_name
    from rag.values import kind_values

    assert is_place_name("Kenya") and is_place_name("South Carolina") and is_place_name("Texas's")
    assert not is_place_name("Trump")
    said = "The flight was bound for Ontario, California, and Democrats in Kenya said nothing."
    assert kind_values("person", said, set()) == set()
    assert kind_values("person", "Voters backed Joe Biden in South Carolina.", set()) == {"joe", "biden"}
    assert kind_values("person", "According to The Independent, heirs take titles.", set()) == set()


def test_the_verb_a_count_question_counts_with() -> None:
    from rag.retrieve import _answer_form
    from rag.values import counts

    question = "How many members of Greece's parliament voted for the bill?"
    assert count_verb(question) == "vote"
    assert count_verb("How many people suffered gunshot wounds?") == stem("suffered")
    assert count_verb("How many abducted migrants did the police rescue?") is None  # "abducted" is the noun's
    assert count_verb("How many people were killed?") is None  # "killed" may come as "killing 12"
    form = _answer_form(question)
    assert form is not None and form.search("Of the 300-seat Parliament, 176 voted in favor")
    assert not form.search("The parliament voted in a majority to legalize it.")
    assert counts(("member", "vote"), "Of the 300-seat Parliament, 176 voted in favor.")


def test_which_country_asks_for_a_country() -> None:
    from rag.places import is_country_name
    from rag.values import kind_values

    assert analyse_question("Which country landed a spacecraft on the moon?").kind == "country"
    assert analyse_question("In which European nation was the lab?").kind == "country"
    assert analyse_question("Which nation's team won?").kind == "name"  # the team is asked, not the nation
    assert is_country_name("Japan's") and is_country_name("U.S.") and not is_country_name("Africa")
    assert not is_country_name("Texas")  # a state: a place, no country
    said = "Greece joined the United States, Texas and Africa's leaders."
    assert kind_values("country", said, set()) == {"greec", "unit state"}  # the first word counts
    assert kind_values("country", said, {"greec"}) == {"unit state"}  # the question's own is no answer
    # Given a country, a sentence of the same article naming none adds only background.
    from rag.joining import adds_no_value
    from rag.questions import analyse_question as shape_of

    assert adds_no_value(
        _sentence("A landing will make it the first spacecraft to touch down.", False),
        _joined(_sentence("On Friday, Japan landed a craft on the moon.", True)),
        shape_of("Which country landed a spacecraft on the moon?"),
    )


def _sentence(text: str, has_kind: bool):  # type: ignore[no-untyped-def]
    from rag.extractive import _Candidate

    return _Candidate(record=None, index=0, text=text, similarity=0.7, has_kind=has_kind)  # type: ignore[arg-type]


def _joined(best):  # type: ignore[no-untyped-def]
    from rag.joining import Joining

    return Joining(best=best, complete=False, answer=set(), names_one=False, covered=set(), paragraphs=set())


def test_a_date_word_elsewhere_does_not_make_a_question_ask_for_a_date() -> None:
    from rag.questions import analyse_question

    assert (
        analyse_question("What was the magnitude of the earthquake on New Year's Day?").kind == "number"
    )  # a magnitude, not a day
    assert analyse_question("What was the exact calendar date of the meeting?").kind == "date"
    assert analyse_question("In which year did the war begin?").kind == "date"


def test_a_person_s_title_cuts_the_run_of_capitals_before_their_name() -> None:
    from rag.questions import analyse_question
    from rag.values import kind_values

    shape = analyse_question("Who is the mayor of Kansas City?")
    said = "\u201cWe are safe,\u201d said Kansas City Mayor Quinton Lucas on Wednesday."
    assert kind_values("person", said, set(shape.terms)) == {"quinton", "luca"}
    shape = analyse_question("To whom did Lloyd Austin transfer his authority?")
    rushed = "WASHINGTON \u2013 Defense Secretary Lloyd Austin was rushed to the hospital on Sunday."
    assert kind_values("person", rushed, set(shape.terms)) == set()  # "Defense" is where he serves


@pytest.mark.parametrize(
    ("question", "role"),
    [
        ("Who is the prime minister of the United Kingdom?", "minister"),
        ("Who is the NBA's all-time leading scorer?", "scorer"),
        ("Who is Denmark's reigning monarch?", "monarch"),
        ("Who is the CEO of the Walt Disney Company?", "ceo"),
        ("Who was mayor of Mexico City when the overpass collapsed?", "mayor"),  # no "the"
        ("Who was arrested in Paris?", None),  # a verb, not a role
        (
            "Who will succeed Elisabeth Borne as France's prime minister following her resignation?",
            "minister",
        ),
        ("Who replaced Bob Chapek as CEO of Disney?", "ceo"),
        ("Who is Steve Witkoff?", None),  # who someone is, not who holds a role
        ("Who won the election?", None),
    ],
)
def test_a_who_is_the_role_question_names_the_role(question: str, role: str | None) -> None:
    assert predecessor("Who replaced Bob Chapek as CEO of Disney?") == {"bob", "chapek"}
    assert predecessor("Who is the CEO of Disney?") == set()
    assert role_forms(stem("executive")) == (stem("executive"), "ceo")  # "Intel CEO Pat Gelsinger"
    assert role_forms(stem("monarch")) == (stem("monarch"), "king", "queen")  # "Queen Margrethe"
    assert role_noun(question) == (stem(role) if role else None)


@pytest.mark.parametrize(
    ("question", "cues"),
    [
        ("In favor of whom did the king abdicate?", ("in favor of",)),
        ("To whom did Austin transfer his authority?", ("to",)),
        ("With which CNN colleague did Zucker have a relationship?", ("with",)),
        ("What names did the scientists give the two monkeys?", NAMING_WORDS),
        ("What was the name of the spacecraft?", NAMING_WORDS),
        ("Whom did Djokovic beat in the final?", ()),  # no word to find the name after
        ("On which social network did he post it?", ()),  # not a person
    ],
)
def test_a_question_may_say_what_word_the_name_asked_for_follows(
    question: str, cues: tuple[str, ...]
) -> None:
    assert name_cues(question) == cues


def test_a_name_after_the_question_s_preposition_is_found() -> None:
    from rag.values import names_after

    king = {stem("juan"), stem("carlos"), stem("king")}
    assert names_after(("in favor of",), "He stepped down in favor of his son Crown Prince Felipe.", king)
    assert not names_after(("in favor of",), "Juan Carlos ruled in favor of reform for years.", king)
    assert not names_after(("to",), "He gave it to King Juan Carlos.", king)  # the question's own man
    assert names_after(NAMING_WORDS, "The monkeys are named Zhong Zhong and Hua Hua.", set())


def test_a_part_asked_of_a_whole_is_smaller_than_it() -> None:
    from rag.questions import part_of
    from rag.values import within

    award = part_of("How much of Intel's $8.5 billion award is earmarked for its Ohio project?")
    assert award == (8.5e9, True)
    assert part_of("How many of the 300 lawmakers voted for the bill?") == (300.0, False)
    assert part_of("How much money did Intel get?") is None
    # "$28 billion" and "$20 billion" are no part of $8.5 billion; a share is no amount at all.
    assert not within(award, "A 25% tax credit helps its $28 billion project, up from $20 billion.")
    assert within(award, "About $1.5 billion of it goes to Ohio.")


def test_a_rank_after_the_verb_is_what_the_answer_must_give() -> None:
    from rag.questions import asked_rank

    rank = asked_rank("Who finished second in the 2024 Iowa Republican caucuses?")
    assert rank is not None and rank.search("DeSantis came in second with 21.2%.")
    assert not rank.search("Donald Trump won the Iowa caucuses.")
    assert asked_rank("When did Apple first pass the $3 trillion mark?") is None  # an adverb, no rank
    assert asked_rank("Who won the Iowa caucuses?") is None


def test_a_name_of_three_words_may_be_written_as_its_initials() -> None:
    from rag.initials import initialisms, written_initials

    shape = analyse_question("On what date did Robert F. Kennedy Jr. say he would announce his pick?")
    named = written_initials(
        "RFK Jr., who is running for president, said he will announce it", initialisms(shape)
    )
    assert {"robert", "kennedi"} <= named
    assert written_initials("The FBI said he will announce it", initialisms(shape)) == set()


def test_an_acronym_of_the_question_is_found_spelled_out() -> None:
    from rag.initials import acronyms_in, spelled_out

    faa = acronyms_in("How many jets did the FAA ground after the Alaska Airlines blowout?")
    assert faa == {"faa"}
    assert spelled_out("The Federal Aviation Administration has grounded 171 jets.", faa) == {"faa"}
    assert spelled_out("Alaska Airlines grounded its fleet.", faa) == set()
    assert spelled_out("the National Transportation Safety Board said", frozenset({"ntsb"})) == {"ntsb"}
