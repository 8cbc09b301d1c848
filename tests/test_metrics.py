"""The eval metrics: SQuAD normalisation, answers, evidence, citations, the gate."""

from __future__ import annotations

import pytest

from eval import metrics as m
from eval.run import aggregate, check_gate, load_gold, score_item


def test_normalize_folds_case_punctuation_articles_quotes_and_dashes() -> None:
    assert m.normalize("The  \u201cRussian\u201d Direct-Investment Fund!") == "russian direct investment fund"
    assert m.normalize("Trump\u2019s son\u2013in\u2013law") == m.normalize("Trump's son-in-law")


def test_answer_metrics() -> None:
    assert m.exact_match("the Kremlin.", ["Kremlin"]) == 1.0
    assert m.exact_match("at the Kremlin", ["Kremlin"]) == 0.0
    assert m.containment("They met at the Kremlin for hours.", ["Kremlin"]) == 1.0
    assert m.containment("Kremlinology is a field.", ["Kremlin"]) == 0.0  # whole words only
    assert m.token_f1("Len Blavatnik", ["Blavatnik"]) == pytest.approx(2 / 3)
    assert m.token_f1("", ["x"]) == 0.0


def test_evidence_metrics() -> None:
    retrieved = [
        ("a", "Nothing here."),
        ("b", "He said \u201cno compromise\u201d today."),
        ("c", "Other text."),
    ]
    evidence = [("b", 'He said "no compromise" today.')]  # straight quotes still match curly ones
    assert m.evidence_hits(retrieved, evidence) == [False, True, False]
    assert m.reciprocal_rank(retrieved, evidence) == 0.5
    assert m.evidence_recall(retrieved, evidence, 1) == 0.0
    assert m.evidence_recall(retrieved, evidence, 2) == 1.0
    two = evidence + [("c", "Other text.")]
    assert m.evidence_recall(retrieved, two, 2) == 0.5
    # A paragraph judged to state the whole answer by itself finds it, whatever the labelled quotes.
    assert m.evidence_recall(retrieved, two, 1, also=[("a", "Nothing here.")]) == 1.0
    assert m.evidence_recall(retrieved, two, 2, also=[("c", "Other text.")]) == 0.5  # not in the top 2
    assert m.evidence_recall(retrieved, evidence, 1, also=[("z", "Nothing here.")]) == 0.0
    # the right quote in the wrong article does not count
    assert m.evidence_hits([("z", "Other text.")], [("c", "Other text.")]) == [False]


def test_citation_metrics() -> None:
    assert m.citation_validity(["p1", "p2"], ["p1", "p2", "p3"]) == 1.0
    assert m.citation_validity(["p9"], ["p1"]) == 0.0
    cited = [("a", "gold sentence here"), ("b", "unrelated")]
    assert m.citation_precision(cited, [("a", "gold sentence")]) == 0.5
    assert m.citation_recall(cited, [("a", "gold sentence")]) == 1.0
    assert m.citation_recall([("b", "unrelated")], [("a", "gold sentence")]) == 0.0


def test_lenient_metrics_count_any_paragraph_giving_an_answer_string() -> None:
    texts = ["The House passed the bill 352-65 on Wednesday.", "TikTok said it would sue."]
    assert m.answer_in(texts, ["352"]) == 1.0
    assert m.answer_in(texts[1:], ["352"]) == 0.0
    assert m.answer_in(["It cost 3520 dollars."], ["352"]) == 0.0  # a whole word, not a digit run
    assert m.citations_with_answer(texts, ["352"]) == 0.5
    assert m.citations_with_answer([], ["352"]) == 0.0


def test_gate_reports_floors_and_ceilings() -> None:
    totals = {"containment": 0.80, "false_abstention_rate": 0.10, "mrr": None}
    failures = check_gate(totals, {"containment": 0.85, "false_abstention_rate_max": 0.05, "mrr": 0.5})
    assert len(failures) == 3
    assert check_gate({"containment": 0.9}, {"containment": 0.85}) == []


def test_gold_set_shape() -> None:
    items = load_gold()
    assert len(items) >= 80
    types = {i.type for i in items}
    assert {"fact", "number", "date", "multi", "variant", "paraphrase", "unanswerable", "followup"} <= types
    assert sum(not i.answerable for i in items) >= 15
    assert sum(bool(i.history) for i in items) >= 5
    assert {a for i in items for a, _ in i.evidence} == {
        "000_c11a9383216b6f5a",
        "001_15444799d16b97f2",
        "002_33a30cdbeddf286c",
        "003_b83f3884dc9034e7",
        "004_1f2595c2addab089",
    }


def test_score_and_aggregate_an_answer() -> None:
    item = next(i for i in load_gold() if i.id == "g001")
    passage = {
        "paragraph_id": "000_c11a9383216b6f5a#p3",
        "text": item.evidence[0][1] + " more.",
        "score": 1.0,
    }
    answer = {
        "abstained": False,
        "text": "Kirill Dmitriev held the talks. [1]",
        "citations": [
            {
                "paragraph_id": passage["paragraph_id"],
                "article_id": "000_c11a9383216b6f5a",
                "text": passage["text"],
            }
        ],
        "passages": [passage],
    }
    s = score_item(item, answer)
    assert s["containment"] == 1.0 and s["citation_precision"] == 1.0 and s["evidence_recall@1"] == 1.0
    unanswerable = next(i for i in load_gold() if not i.answerable)
    totals = aggregate([item, unanswerable], [s, {"abstained": 1.0, "citation_validity": 1.0}])
    assert totals["abstention_accuracy"] == 1.0 and totals["false_abstention_rate"] == 0.0


def test_a_citation_of_a_paragraph_judged_to_state_the_answer_is_precise() -> None:
    from dataclasses import replace

    item = replace(
        next(i for i in load_gold() if i.id == "g001"), also=(("art9", "Dmitriev held the talks."),)
    )
    other = {
        "paragraph_id": "art9#p4",
        "article_id": "art9",
        "text": "Dmitriev held the talks. Then he left.",
    }
    answer = {
        "abstained": False,
        "text": "Dmitriev held the talks. [1]",
        "citations": [other],
        "passages": [{**other, "score": 1.0}],
    }
    s = score_item(item, answer)
    assert s["citation_precision"] == 1.0 and s["evidence_recall@1"] == 1.0 and s["mrr"] == 1.0
    assert s["citation_precision_labelled"] == 0.0 and s["evidence_recall@5_labelled"] == 0.0


def test_news_gold_set_shape_and_its_audit() -> None:
    """#23's set: >= 150 questions of every type, >= 20 unanswerable, each dated; every paragraph
    added as `also_evidence` is one the audit file judged to state the answer, quoted as judged."""
    import json
    from pathlib import Path

    from eval.run import HERE

    items = load_gold(HERE / "gold-news.jsonl")
    assert len(items) >= 150 and all(i.as_of for i in items)
    assert {"entity", "number", "date", "relative", "changed", "syndicated", "unanswerable"} <= {
        i.type for i in items
    }
    assert sum(not i.answerable for i in items) >= 20
    judged = [json.loads(line) for line in Path(HERE / "gold-news-audit.jsonl").read_text().splitlines()]
    supported = {(j["id"], j["paragraph_id"].split("#")[0], j["quote"]) for j in judged if j["supports"]}
    added = {(i.id, article, quote) for i in items for article, quote in i.also}
    assert added == supported and len(added) == sum(j["supports"] for j in judged)
    assert all(i.answerable for i in items if i.also)


@pytest.mark.parametrize("name", ["probe-news.jsonl", "probe-news-2.jsonl", "probe-news-3.jsonl"])
def test_the_news_probes_quote_their_articles_verbatim(name: str) -> None:
    """eval/probe-news*.jsonl (fresh 50-question probes, not gated): every answer and quote is the
    named article's own text, so `rag eval --gold eval/<probe>` scores what it says."""
    import json

    from eval.run import HERE, NEWS_CORPUS

    items = load_gold(HERE / name)
    assert len(items) == 50 and len({i.id for i in items}) == 50 and all(i.as_of for i in items)
    assert sum(not i.answerable for i in items) == 10
    if not NEWS_CORPUS.exists():
        pytest.skip(f"{NEWS_CORPUS} is absent (CI has it)")
    texts = {}
    for line in NEWS_CORPUS.read_text(encoding="utf-8").splitlines():
        article = json.loads(line)
        texts[article["id"]] = article["text"]
    for item in items:
        for article, quote in item.evidence:
            assert quote in texts[article], (item.id, quote)
            assert any(a in texts[article] for a in item.answers), item.id
