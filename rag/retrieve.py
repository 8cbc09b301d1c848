"""Hybrid retrieval: dense (Chroma) + BM25 with spelling-variant expansion, fused by reciprocal rank."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from rag.dates import TIMELESS, parse_date, search_window, time_fit, without_time
from rag.embedding import Encoder
from rag.index import ParagraphIndex
from rag.initials import acronym, name_initials
from rag.lexicon import SpellingVariants, number_alias
from rag.places import place_aliases
from rag.questions import analyse_question, asked_unit, count_verb, predecessor, role_forms, role_noun
from rag.schema import Passage, Record, Retrieved, TimeScope, is_heading, is_link_line
from rag.terms import STOPWORDS, fold, stem, words
from rag.values import holder_named


@dataclass(frozen=True)
class Rerank:
    """How the fused pool is reranked: its size and the weights of the paragraph's and its best
    sentence's similarity and of the question terms' IDF-weighted coverage (eval/tune.py tunes them
    for evidence recall@5; RRF order alone gave 0.87 on the seeds)."""

    pool: int = 40
    paragraph: float = 1.0
    sentence: float = 0.15
    lexical: float = 1.35
    time_window: float = 0.3  # the article is of the time the question names ("this week")
    time_soft: float = 0.5  # the article is recent and the question asks for the latest state
    answer_form: float = 0.2  # the paragraph holds what the answer looks like ("51%" for "What share...")
    role_holder: float = 0.3  # it names someone beside the role asked ("UK Prime Minister Liz Truss")
    lede: float = 0.05  # it is among its article's first LEDE paragraphs, where news states its facts
    not_prose: float = 0.3  # a heading or a link to another story: no answer, whatever its words
    titles: int = 3  # the articles whose titles best match the question: their paragraphs are candidates


RERANK = Rerank()
# A news story gives its facts first (the lede and the paragraphs after it), background later.
LEDE = 5


def rrf(rankings: Sequence[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of several rankings of ids; best first."""
    scores: dict[str, float] = defaultdict(float)
    for ranking in rankings:
        for rank, rid in enumerate(ranking, start=1):
            scores[rid] += 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def merge(first: Retrieved, second: Retrieved, extra: int) -> Retrieved:
    """`first`'s passages plus up to `extra` new ones from `second` (a follow-up hop), re-ranked:
    the new ones take the places of `first`'s last ones, which follow them (the hop searched for
    the name the first answer gave, so what it finds is likelier the answer's paragraph)."""
    passages = list(first.passages)
    new: list[Passage] = []
    records = dict(first.records)
    sims = dict(first.dense_similarity)
    for p in second.passages:
        if extra <= 0:
            break
        if p.paragraph_id in records:
            continue
        new.append(p)
        records[p.paragraph_id] = second.records[p.paragraph_id]
        sims[p.paragraph_id] = second.dense_similarity.get(p.paragraph_id, 0.0)
        extra -= 1
    at = max(1, len(passages) - len(new))
    passages = passages[:at] + new + passages[at:]
    passages = [replace(p, rank=i) for i, p in enumerate(passages, start=1)]
    return replace(first, passages=passages, records=records, dense_similarity=sims)


_WORD = re.compile(r"[A-Za-z][\w'-]*")


class HybridRetriever:
    """Dense + BM25 candidates fused by RRF, returning our own `Passage`s."""

    def __init__(
        self,
        index: ParagraphIndex,
        encoder: Encoder,
        candidates: int = 30,
        rrf_k: int = 60,
        rerank: Rerank = RERANK,
    ) -> None:
        if candidates < 1:
            raise ValueError(f"candidates must be at least 1, got {candidates}")
        self.index = index
        self.encoder = encoder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.rerank = rerank
        self._variants: SpellingVariants | None = None
        self._variants_of: dict[str, int] | None = None  # the vocabulary they were built for

    def _vocabulary(self) -> tuple[dict[str, int], SpellingVariants]:
        """The committed snapshot's vocabulary, and its spelling variants, built again when a
        snapshot committed since (by an ingest in any process) brings new words."""
        vocab = self.index.vocabulary
        variants = self._variants
        if variants is None or self._variants_of is not vocab:
            variants = self._variants = SpellingVariants(vocab)
            self._variants_of = vocab
        return vocab, variants

    def known_term(self, term: str) -> bool:
        """Whether a stemmed term, a spelling variant or another name of the same place ("beijing"
        for "china") occurs anywhere in the corpus."""
        vocab, variants = self._vocabulary()
        return term in vocab or bool(variants.variants(term)) or any(a in vocab for a in place_aliases(term))

    def query_terms(self, question: str) -> tuple[list[str], dict[str, list[str]]]:
        """Stemmed BM25 terms of the question, with spelling variants of names and unknown words."""
        vocab, variants = self._vocabulary()
        # Names are where spellings vary; a capitalised first word counts unless it is a stop word.
        capitalised = {
            w for tok in question.split() if tok[:1].isupper() for w in words(tok) if w not in STOPWORDS
        }
        terms: list[str] = []
        expansions: dict[str, list[str]] = {}
        # A name the corpus writes as its initials: "European Union" -> "eu".
        for entity in analyse_question(question).entities:
            short = acronym(entity)
            last = stem(words(entity)[-1])
            if short and short in vocab and last not in vocab:
                expansions[last] = [short]
                terms.append(short)
        for w in words(question):
            if w in STOPWORDS:
                continue
            t = stem(w)
            terms.append(t)
            if (w in capitalised or t not in vocab) and t not in expansions:
                extra = variants.variants(t)
                if t not in vocab:  # a place the corpus names another way: "Beijing" -> "china"
                    extra += [a for a in sorted(place_aliases(t)) if a in vocab and a not in extra]
                if extra:
                    expansions[t] = extra
                    terms.extend(extra)
            alias = number_alias(w)  # "three officers" finds "3 officers" and the reverse
            if alias and stem(alias) in vocab and stem(alias) not in expansions.get(t, []):
                expansions.setdefault(t, []).append(stem(alias))
                terms.append(stem(alias))
        return terms, expansions

    def corpus_spelling(self, question: str, expansions: dict[str, list[str]]) -> str:
        """The question with each name the corpus never spells that way written as the corpus does
        ("Witkof" -> "witkoff"), when exactly one spelling is near: the encoder sees the name it knows."""
        vocab = self.index.vocabulary

        def respell(m: re.Match[str]) -> str:
            word = m.group(0)
            t = stem(word.lower())
            found = expansions.get(t, [])
            if word[:1].isupper() and t not in vocab and len(found) == 1 and found[0].isalpha():
                return found[0]
            return word

        return _WORD.sub(respell, question)

    def retrieve(
        self,
        question: str,
        k: int = 5,
        article_ids: Sequence[str] | None = None,
        date_from: str = "",
        date_to: str = "",
        context: str = "",
        as_of: str = "",
        scope: TimeScope = TIMELESS,
    ) -> Retrieved:
        """Top-k passages for `question`; `context` (earlier turns) joins the query on both sides.

        Dense and BM25 candidates are fused by RRF into a pool, which is then reranked by the
        paragraph's and its best sentence's similarity, IDF-weighted coverage of the query terms,
        and how well the article's date fits the question's time `scope`. Nothing published after
        `as_of` is searched (undated articles are); for a question about a time ("this week", "the
        current ..."), that time's articles are searched too, so a fresh report competes with
        older ones on the same topic. Near-identical paragraphs of syndicated copies are collapsed
        into the best-ranked one, which lists the others' articles in `also_in`.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        terms, expansions = self.query_terms(without_time(question, scope))
        spelled = self.corpus_spelling(question, expansions)
        vector = self.encoder.encode_queries([f"{context} {spelled}".strip() if context else spelled])[0]
        own = set(terms)
        if context:
            terms += self.query_terms(context)[0]
        filters = (article_ids, date_from, date_to)
        rankings = self._rankings(vector, terms, filters, as_of, scope)
        pool = self._pool(rankings, max(k, self.rerank.pool))
        records = self.index.fetch(pool)
        answers = self._answers_to_questions(records)
        weights = {t: self.index.idf(t) for t in dict.fromkeys(terms)}
        scored = self._rerank(
            pool + [r for r in answers if r not in records],
            {**records, **{rid: rec for rid, (rec, _) in answers.items() if rid not in records}},
            vector,
            weights,
            as_of,
            scope,
            _answer_form(question),
            own,
            _holder(question),
            {rid: q for rid, (_, q) in answers.items()},
        )
        kept, copies = _collapse(scored, k)
        ranks = [{rid: i for i, rid in enumerate(r, start=1)} for r in rankings[:2]]
        passages: list[Passage] = []
        by_pid: dict[str, Record] = {}
        sims: dict[str, float] = {}
        for score, paragraph, rid, rec in kept:
            by_pid[rec.paragraph_id] = rec
            sims[rec.paragraph_id] = paragraph
            passages.append(_passage(rec, score, len(passages) + 1, ranks, rid, copies.get(rid, ())))
        return Retrieved(passages, by_pid, vector, sims, expansions, as_of, scope)

    def _rankings(
        self,
        vector: np.ndarray,
        terms: list[str],
        filters: tuple[Sequence[str] | None, str, str],
        as_of: str,
        scope: TimeScope,
    ) -> list[list[str]]:
        """Row ids best first: dense and BM25 under the filters, then both within the scope's dates."""
        articles, date_from, date_to = filters
        n = self.candidates
        rankings = [
            [r for r, _ in self.index.dense_search(vector, n, articles, date_from, date_to, as_of)],
            [r for r, _ in self.index.bm25_search(terms, n, articles, date_from, date_to, as_of)],
        ]
        # The paragraphs of the articles whose titles match best: an answer's paragraph often does
        # not repeat its article's topic ("Of the 300-seat Parliament, 176 voted in favor").
        if self.rerank.titles:
            titled = self.index.title_search(terms, self.rerank.titles, articles, date_from, date_to, as_of)
            if titled:
                rankings.append(
                    [r for r, _ in self.index.dense_search(vector, n, titled, date_from, date_to, as_of)]
                )
        window = search_window(scope, as_of)
        if window is not None:
            start, end = (
                max(window[0], date_from) if date_from else window[0],
                min(window[1], date_to or window[1]),
            )
            if start <= end:
                rankings.append([r for r, _ in self.index.dense_search(vector, n, articles, start, end)])
                rankings.append([r for r, _ in self.index.bm25_search(terms, n, articles, start, end)])
        return rankings

    def _answers_to_questions(self, records: dict[str, Record]) -> dict[str, tuple[Record, str]]:
        """For each pooled paragraph that only asks a question ("Who will Littler face in the
        final?", an explainer's subheading), the paragraph after it, which answers it: by its row
        id, with the asking paragraph's row id."""
        asking = {rec.paragraph_id: rid for rid, rec in records.items() if _only_asks(rec)}
        if not asking:
            return {}
        return {rec.row_id: (rec, asking[pid]) for pid, rec in self.index.following(list(asking)).items()}

    def _pool(self, rankings: list[list[str]], size: int) -> list[str]:
        """The fused candidates, one row per paragraph (two rows share an id only mid-ingest)."""
        pool: list[str] = []
        seen: set[str] = set()
        for rid, _ in rrf(rankings, self.rrf_k):
            pid = rid.rsplit(":", 1)[0]  # row ids are "<paragraph_id>:<hashes>"
            if pid not in seen:
                seen.add(pid)
                pool.append(rid)
            if len(pool) == size:
                break
        return pool

    def _rerank(
        self,
        pool: list[str],
        records: dict[str, Record],
        vector: np.ndarray,
        weights: dict[str, float],
        as_of: str,
        scope: TimeScope,
        form: re.Pattern[str] | None = None,
        own: set[str] | None = None,
        holder: Callable[[str], bool] | None = None,
        answering: dict[str, str] | None = None,
    ) -> list[tuple[float, float, str, Record]]:
        """(score, paragraph similarity, row id, record), best first; `form`: what the answer's
        text looks like when the question says (a percentage, a date), which the paragraph holds;
        `own`: the question's terms, apart from a follow-up's context (default: all of `weights`);
        `holder`: whether a text names the holder of the role a "Who is the <role> of..." asks;
        `answering`: paragraphs that answer a pooled one asking a question, by row id, with its row
        id: the answer ranks as the question would, the question as what states nothing."""
        w = self.rerank
        total = sum(weights.values()) or 1.0
        # A title counts for the question's own terms; an earlier turn's only steer toward its topic.
        titled = set(weights) if own is None else own
        now = parse_date(as_of)
        time_weight = {"window": w.time_window, "soft": w.time_soft}.get(scope.strength, 0.0)
        scored = []
        for rid in pool:
            rec = records.get(rid)
            if rec is None:
                continue
            lexical = sum(
                wt for t, wt in weights.items() if t in (rec.topic_terms if t in titled else rec.terms)
            )
            lexical /= total
            best_sentence = float((rec.sentence_vectors @ vector).max()) if rec.sentence_vectors.size else 0.0
            paragraph = float(rec.vector @ vector)
            score = w.paragraph * paragraph + w.sentence * best_sentence + w.lexical * lexical
            if time_weight and now is not None:
                score += time_weight * time_fit(scope, rec.publish_date, now)
            if form is not None and form.search(rec.text):
                score += w.answer_form
            if holder is not None and holder(rec.text):
                score += w.role_holder
            if rec.n <= LEDE:
                score += w.lede
            if is_heading(rec.text) or is_link_line(rec.text):
                score -= w.not_prose  # it names a topic or another story; it answers nothing
            scored.append((score, paragraph, rid, rec))
        if answering:
            by_rid = {x[2]: x[0] for x in scored}
            asking = set(answering.values())
            scored = [
                (
                    max(score, by_rid.get(answering[rid], score))
                    if rid in answering
                    else score - w.not_prose * (rid in asking),
                    paragraph,
                    rid,
                    rec,
                )
                for score, paragraph, rid, rec in scored
            ]
        scored.sort(key=lambda x: (-x[0], x[2]))
        return scored


def _only_asks(rec: Record) -> bool:
    """A paragraph of one short question: an explainer's subheading, answered by what follows."""
    text = rec.text.rstrip()
    return text.endswith("?") and len(rec.sentence_spans) == 1 and len(text.split()) <= 20


def _answer_form(question: str) -> re.Pattern[str] | None:
    """What a number or date question's answer looks like, when it says ("What share..." -> "51%",
    "How many members voted...?" -> "176 voted")."""
    kind = analyse_question(question).kind
    if kind not in ("number", "date"):
        return None
    unit = asked_unit(question)
    verb = count_verb(question) if unit is None and kind == "number" else None
    return re.compile(rf"\b\d[\d,]*\s+(?:\w+\s+)?{re.escape(verb)}\w*", re.IGNORECASE) if verb else unit


def _holder(question: str) -> Callable[[str], bool] | None:
    """For "Who is the prime minister of the United Kingdom?": whether a text names someone beside
    the role, not as another country's or body's (the answerer's own test of a holder)."""
    role = role_noun(question)
    if role is None or predecessor(question):
        return None
    shape = analyse_question(question)
    terms, initials, roles = set(shape.terms), name_initials(shape), role_forms(role)
    return lambda text: any(holder_named(r, text, terms, initials) for r in roles)


def _passage(
    rec: Record, score: float, rank: int, ranks: list[dict[str, int]], rid: str, also_in: tuple[str, ...]
) -> Passage:
    return Passage(
        paragraph_id=rec.paragraph_id,
        article_id=rec.article_id,
        n=rec.n,
        title=rec.title,
        text=rec.text,
        score=round(score, 6),
        rank=rank,
        url=rec.url,
        publish_date=rec.publish_date,
        source=rec.source,
        dense_rank=ranks[0].get(rid),
        bm25_rank=ranks[1].get(rid),
        also_in=also_in,
    )


_SHINGLE = 3


_PUNCTUATION = re.compile(r"[^\w\s]+")


@lru_cache(maxsize=4096)  # the same paragraphs come back across the questions of one topic
def _shingles(text: str) -> frozenset[tuple[str, ...]]:
    # Whitespace-separated words with their punctuation removed ("don't" -> "dont").
    tokens = _PUNCTUATION.sub("", fold(text).lower()).split()
    if len(tokens) < _SHINGLE:
        return frozenset({tuple(tokens)})
    return frozenset(tuple(tokens[i : i + _SHINGLE]) for i in range(len(tokens) - _SHINGLE + 1))


NEAR_COPY = 0.8  # share of word triples two paragraphs hold in common to be copies of one another


def _collapse(
    scored: list[tuple[float, float, str, Record]], k: int
) -> tuple[list[tuple[float, float, str, Record]], dict[str, tuple[str, ...]]]:
    """The top k after folding each near-identical copy (another article's syndicated paragraph)
    into the best-ranked one; returns them and, by kept row id, the articles of its copies."""
    kept: list[tuple[float, float, str, Record, frozenset[tuple[str, ...]]]] = []
    copies: dict[str, list[str]] = {}
    for score, paragraph, rid, rec in scored:
        mine = _shingles(rec.text)
        twin = next(
            (
                x
                for x in kept
                if x[3].article_id != rec.article_id
                and len(mine & x[4]) >= NEAR_COPY * max(len(mine), len(x[4]))
            ),
            None,
        )
        if twin is not None:
            if rec.article_id not in copies.setdefault(twin[2], []):
                copies[twin[2]].append(rec.article_id)
            continue
        if len(kept) < k:
            kept.append((score, paragraph, rid, rec, mine))
    return [x[:4] for x in kept], {rid: tuple(a) for rid, a in copies.items()}
