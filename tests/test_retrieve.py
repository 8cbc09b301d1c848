"""Hybrid retrieval on the real seed index: right paragraphs, spelling variants, filters, fusion."""

from __future__ import annotations

import numpy as np
import pytest

from rag.places import place_aliases
from rag.retrieve import SpellingVariants, merge, rrf
from rag.schema import Passage, Retrieved
from rag.terms import stem


def test_rrf_rewards_agreement() -> None:
    fused = rrf([["a", "b", "c"], ["c", "a", "d"]], k=60)
    assert [rid for rid, _ in fused][:2] == ["a", "c"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert {rid for rid, _ in fused} == {"a", "b", "c", "d"}


def test_spelling_variants_find_near_names() -> None:
    vocab = {t: i for i, t in enumerate(["dimitriev", "dmitriev", "kiril", "kirill", "witkoff", "moscow"])}
    v = SpellingVariants(vocab)
    assert "dimitriev" in v.variants("dmitriev")
    assert "witkoff" in v.variants("witkof")
    assert v.variants("moscow") == []


def test_place_aliases_go_from_capital_and_region_to_country_not_back() -> None:
    assert {"china", stem("chinese")} <= place_aliases(stem("beijing"))
    assert {stem("russia"), stem("russian")} <= place_aliases(stem("kremlin"))
    assert {stem("finland"), stem("finnish"), stem("sweden")} <= place_aliases(stem("nordic"))
    assert stem("nordic") not in place_aliases(stem("finland"))  # a member is not the region
    assert place_aliases("us") == frozenset()  # the pronoun names no place
    assert place_aliases(stem("talks")) == frozenset()


def test_a_place_named_another_way_is_searched_as_the_corpus_names_it(seeds_engine) -> None:
    retriever = seeds_engine.retriever
    terms, expansions = retriever.query_terms("What has Moscow come to rely on Beijing for?")
    assert "china" in expansions[stem("beijing")] and "china" in terms
    assert stem("moscow") not in expansions  # the corpus writes "Moscow": searched as written
    assert retriever.known_term(stem("beijing")) and not retriever.known_term(stem("canberra"))


def test_small_numbers_are_searched_in_words_and_digits(seeds_engine) -> None:
    from rag.terms import number_alias

    assert (number_alias("three"), number_alias("3"), number_alias("300"), number_alias("one")) == (
        "3",
        "three",
        None,
        None,
    )
    # The seeds write "nearly five hours": a question with "5" also searches "five".
    terms, expansions = seeds_engine.retriever.query_terms("Which talks lasted nearly 5 hours?")
    assert expansions["5"] == ["five"] and "five" in terms
    top = seeds_engine.retrieve("Which talks lasted nearly 5 hours?", k=1)
    assert "nearly five hours" in top[0].text


def test_a_misspelt_name_is_encoded_as_the_corpus_spells_it(seeds_engine) -> None:
    retriever = seeds_engine.retriever
    question = "Which billionaire is Steve Witkof reported to have connections to?"
    spelled = retriever.corpus_spelling(question, retriever.query_terms(question)[1])
    assert spelled == "Which billionaire is Steve witkoff reported to have connections to?"
    # Names the corpus spells this way, and lower-case words, stay as they are.
    same = "Which billionaire is Steve Witkoff reported to have connections to?"
    assert retriever.corpus_spelling(same, retriever.query_terms(same)[1]) == same
    # The dense side now meets the name it knows: the answer is the one of the right spelling.
    answer = seeds_engine.ask(question, llm=False)
    assert "Len Blavatnik, a billionaire" in answer.text.split("[1]")[0]


@pytest.mark.parametrize(
    "question, paragraph_id",
    [
        ("Who co-owns the Faena Miami Beach hotel?", "003_b83f3884dc9034e7#p13"),
        ("How much Ukrainian territory does Russia control?", "001_15444799d16b97f2#p12"),
        ("What did Dmitriev post on X after the Miami talks?", "000_c11a9383216b6f5a#p4"),
        ("Who did Zelensky meet in Ankara?", "002_33a30cdbeddf286c#p17"),
        ("How many supplementary documents did Moscow receive?", "003_b83f3884dc9034e7#p8"),
    ],
)
def test_seed_questions_find_their_paragraph(seeds_engine, question: str, paragraph_id: str) -> None:
    top = seeds_engine.retrieve(question, k=3)
    assert paragraph_id in [p.paragraph_id for p in top]


def test_dmitriev_reaches_dimitriev_spellings(seeds_engine) -> None:
    top = seeds_engine.retrieve("What is Dmitriev's background and education?", k=5)
    ids = [p.paragraph_id for p in top]
    assert "002_33a30cdbeddf286c#p12" in ids  # "Kiril Dimitriev heads the Russian negotiating team"
    terms, expansions = seeds_engine.retriever.query_terms("Dmitriev Kirill")
    assert "dimitriev" in expansions["dmitriev"]
    assert {"dmitriev", "dimitriev", "kiril"} <= set(terms)  # Kirill/Kiril share a stem


def test_passages_are_ranked_and_carry_metadata(seeds_engine) -> None:
    top = seeds_engine.retrieve("Who is Steve Witkoff?", k=5)
    assert [p.rank for p in top] == [1, 2, 3, 4, 5]
    assert all(a.score >= b.score for a, b in zip(top, top[1:], strict=False))
    assert len({p.paragraph_id for p in top}) == 5
    for p in top:
        assert p.title and p.text and p.paragraph_id == f"{p.article_id}#p{p.n}"


def test_article_filter(seeds_engine) -> None:
    only = ["004_1f2595c2addab089"]
    top = seeds_engine.retrieve("Who is Dmitriev?", k=5, articles=only)
    assert top and all(p.article_id == only[0] for p in top)


def _retrieved(ids: list[str]) -> Retrieved:
    passages = [Passage(i, "a", 1, "t", f"text {i}", 1.0, r) for r, i in enumerate(ids, start=1)]
    return Retrieved(passages, {i: object() for i in ids}, np.zeros(3), {i: 0.5 for i in ids})  # type: ignore[misc]


def test_a_second_hop_s_new_paragraphs_rank_inside_the_first_hop_s_top_k() -> None:
    # The hop searched for the name the first answer gave: what it finds outranks the first
    # hop's weakest passages, which move down rather than out.
    merged = merge(_retrieved(["p1", "p2", "p3", "p4", "p5"]), _retrieved(["p2", "h1", "h2", "h3"]), extra=2)
    assert [p.paragraph_id for p in merged.passages] == ["p1", "p2", "p3", "h1", "h2", "p4", "p5"]
    assert [p.rank for p in merged.passages] == [1, 2, 3, 4, 5, 6, 7]
    assert set(merged.records) == {"p1", "p2", "p3", "p4", "p5", "h1", "h2"}


def test_a_nested_question_s_answer_paragraph_is_among_the_top_five(seeds_engine) -> None:
    answer = seeds_engine.ask(
        "What kind of specialist is the main Russian negotiator who has been discussing business schemes "
        "with Witkoff?",
        llm=False,
    )
    assert any("investment specialist" in p.text for p in answer.passages[:5])


def test_a_paragraph_is_about_its_article_s_title(make_engine, tmp_path) -> None:
    """The paragraph giving the vote does not repeat what the vote was on; its title does."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "marriage.txt").write_text(
        "Greece legalizes same-sex marriage\n\n"
        "Lawmakers in Greece debated same-sex marriage late into the night.\n\n"
        "Of the 300-seat Parliament, 176 voted in favor of the bill and 76 against.\n",
        encoding="utf-8",
    )
    (corpus / "budget.txt").write_text(
        "Parliament passes the annual budget\n\n"
        "Of the 300 lawmakers in Parliament, 158 voted in favor of the bill and 141 against.\n\n"
        "The finance minister said the budget would cut the deficit.\n",
        encoding="utf-8",
    )
    engine = make_engine(corpus)
    engine.ingest(progress=False)
    question = "How many lawmakers of Greece's parliament voted for the same-sex marriage bill?"
    texts = [p.text for p in engine.retrieve(question, k=3)]
    vote = next(i for i, t in enumerate(texts) if "176 voted" in t)
    assert all("158 voted" not in t for t in texts[:vote])
    answer = engine.ask(question, llm=False)
    assert "176" in answer.text and "158" not in answer.text, answer.abstain_reason
    # The articles whose titles hold the question's words, best first: their paragraphs are searched.
    terms, _ = engine.retriever.query_terms(question)
    index = engine.retriever.index
    assert index.title_search(terms, 2) == ["marriage", "budget"]  # "parliament" is in both
    assert index.title_search(terms, 2, article_ids=["budget"]) == ["budget"]
    assert index.title_search(engine.retriever.query_terms("Who won the Super Bowl?")[0], 2) == []


def _scores_under(engine, knob: str, weight: float, question: str, k: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Each retrieved paragraph's score (by its first five characters) with one rerank weight set."""
    from dataclasses import replace

    from rag.retrieve import RERANK

    engine.retriever.rerank = replace(RERANK, **{knob: weight})
    try:
        return {p.text[:5]: p.score for p in engine.retrieve(question, k=k)}
    finally:
        engine.retriever.rerank = RERANK


def test_a_paragraph_holding_what_the_answer_looks_like_scores_higher(make_engine, tmp_path) -> None:
    """ "What share..." is answered by a percentage: the paragraph giving one gains `answer_form`;
    one that only repeats the question's words gains nothing, nor does any paragraph for a
    question that does not say what its answer looks like."""

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "iowa.txt").write_text(
        "Trump wins the Iowa caucuses\n\n"
        "The share of the vote Donald Trump would win in the Iowa caucuses was the night's question.\n\n"
        "He finished with 51% of the vote in Iowa, crushing his rivals.\n",
        encoding="utf-8",
    )
    engine = make_engine(corpus)
    engine.ingest(progress=False)

    def scores(question: str, weight: float) -> dict[str, float]:
        return _scores_under(engine, "answer_form", weight, question, k=2)

    share = "What share of the vote did Donald Trump win in the Iowa caucuses?"
    off, on = scores(share, 0.0), scores(share, 0.5)
    assert on["He fi"] == pytest.approx(off["He fi"] + 0.5, abs=1e-5)
    assert on["The s"] == pytest.approx(off["The s"], abs=1e-5)
    who = "Who won the Iowa caucuses?"
    assert scores(who, 0.5) == pytest.approx(scores(who, 0.0), abs=1e-5)


def test_a_paragraph_naming_the_role_s_holder_scores_higher(make_engine, tmp_path) -> None:
    """ "Who is the prime minister of the United Kingdom?": the paragraph putting a name beside the
    role ("UK Prime Minister Liz Truss") gains `role_holder`; one naming another country's holder,
    or none, gains nothing, nor does any paragraph for a question after no role's holder."""

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "summit.txt").write_text(
        "Leaders gather in London\n\n"
        "UK Prime Minister Liz Truss greeted the guests at the summit in London.\n\n"
        "Prime Minister Lee Hsien Loong of Singapore arrived at the summit on Monday.\n\n"
        "The prime minister of the United Kingdom hosts the summit every year.\n",
        encoding="utf-8",
    )
    engine = make_engine(corpus)
    engine.ingest(progress=False)

    def scores(question: str, weight: float) -> dict[str, float]:
        return _scores_under(engine, "role_holder", weight, question, k=3)

    who = "Who is the prime minister of the United Kingdom?"
    off, on = scores(who, 0.0), scores(who, 0.5)
    assert on["UK Pr"] == pytest.approx(off["UK Pr"] + 0.5, abs=1e-5)
    assert on["Prime"] == pytest.approx(off["Prime"], abs=1e-5)  # Singapore's
    assert on["The p"] == pytest.approx(off["The p"], abs=1e-5)  # no name
    where = "Where is the summit held every year?"
    assert scores(where, 0.5) == pytest.approx(scores(where, 0.0), abs=1e-5)


def test_a_paragraph_of_an_article_s_lede_scores_higher(make_engine, tmp_path) -> None:
    """News states its facts in its first paragraphs: those up to `LEDE` gain `lede`, later ones nothing."""
    from dataclasses import replace

    from rag.retrieve import LEDE, RERANK

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    body = [f"Paragraph {i} of the harbour story tells the ferry schedule for line {i}." for i in range(1, 9)]
    (corpus / "harbour.txt").write_text("Harbour news\n\n" + "\n\n".join(body) + "\n", encoding="utf-8")
    engine = make_engine(corpus)
    engine.ingest(progress=False)

    def scores(weight: float) -> dict[int, float]:
        engine.retriever.rerank = replace(RERANK, lede=weight)
        found = engine.retrieve("What is the ferry schedule of the harbour?", k=8)
        return {int(p.paragraph_id.rsplit("#p", 1)[1]): p.score for p in found}

    off, on = scores(0.0), scores(0.5)
    assert set(on) == set(range(1, 9))
    assert all(on[n] == pytest.approx(off[n] + (0.5 if n <= LEDE else 0.0), abs=1e-5) for n in on)
    engine.retriever.rerank = RERANK


def test_a_follow_up_s_context_does_not_match_titles(seeds_engine) -> None:
    """ "What office does he hold?" after "Who said the thorniest issues...": the earlier turn's
    words steer toward its paragraph; matched in other articles' titles, they would bring in
    paragraphs that answer for someone else (John Bolton, "a former National Security Advisor")."""
    from rag.engine import Conversation

    conversation = Conversation()
    first = "Who said the thorniest issues have never been resolved, including who will control the Donbas region?"
    seeds_engine.ask(first, conversation=conversation, llm=False)
    answer = seeds_engine.ask("What office does he hold?", conversation=conversation, llm=False)
    assert "Vice President" in answer.text and "Bolton" not in answer.text, answer.text


@pytest.mark.parametrize(
    ("text", "link"),
    [
        ("MORE: Delaware trooper killed at Bear Wawa", True),
        ("WHAT HAPPENED: Standoff ends in Middletown; suspect in Delaware trooper death killed", True),
        ("Read more: Everything you need to know about the caucuses", True),
        ("BREAKING: The trooper was shot at a gas station, police said.", False),  # a sentence
        ("The trooper, police said: he was shot at a gas station", False),
    ],
)
def test_a_link_to_another_story_is_told_from_a_paragraph(text: str, link: bool) -> None:
    from rag.schema import is_link_line

    assert is_link_line(text) is link


def test_a_heading_or_link_line_ranks_below_the_prose_it_names(make_engine, tmp_path) -> None:
    """A link line holds a question's words but answers nothing: it loses `not_prose`."""
    from dataclasses import replace

    from rag.retrieve import RERANK

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "trooper.txt").write_text(
        "Trooper killed in Middletown standoff\n\n"
        "WHAT HAPPENED: Standoff ends in Middletown; suspect in trooper death killed\n\n"
        "The suspect who shot the trooper in Middletown was killed after a standoff on Thursday, police said.\n",
        encoding="utf-8",
    )
    engine = make_engine(corpus)
    engine.ingest(progress=False)

    def scores(weight: float) -> dict[str, float]:
        engine.retriever.rerank = replace(RERANK, not_prose=weight)
        return {p.text[:5]: p.score for p in engine.retrieve("How did the Middletown standoff end?", k=2)}

    off, on = scores(0.0), scores(0.3)
    assert on["WHAT "] == pytest.approx(off["WHAT "] - 0.3, abs=1e-5)
    assert on["The s"] == pytest.approx(off["The s"], abs=1e-5)
    engine.retriever.rerank = RERANK


def test_the_paragraph_after_an_explainer_s_question_ranks_as_the_question_would(
    make_engine, tmp_path
) -> None:
    """An explainer asks its own subheadings ("Who will Littler face in the final?"); the paragraph
    after one answers it, though it shares few words with the reader's question."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "darts.txt").write_text(
        "What to know about the teenager in the darts world championship\n\n"
        "A teenager is making waves at the darts world championship in London this week.\n\n"
        "When did Littler start playing darts?\n\n"
        "He threw his first darts as a toddler, his parents say.\n\n"
        "Who will Littler face in the final?\n\n"
        "Wednesday's decider pits him against 2023 Grand Prix champion Luke Humphries.\n",
        encoding="utf-8",
    )
    engine = make_engine(corpus)
    engine.ingest(progress=False)
    ranked = [
        p.text for p in engine.retrieve("Whom will Littler face in the darts world championship final?", k=6)
    ]
    assert ranked[0].startswith("Wednesday's decider")
    assert ranked.index("Who will Littler face in the final?") > 0  # the question itself states nothing
    answer = engine.ask("Whom will Luke Littler face in the darts world championship final?")
    assert "Humphries" in answer.text and answer.citations[0].text.startswith("Wednesday's decider")
