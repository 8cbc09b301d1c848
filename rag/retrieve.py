"""Hybrid retrieval: dense (Chroma) + BM25 with spelling-variant expansion, fused by reciprocal rank."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rag.embedding import Encoder
from rag.index import ParagraphIndex
from rag.lexicon import SpellingVariants, number_alias
from rag.places import place_aliases
from rag.questions import acronym, analyse_question
from rag.schema import Passage, Record, Retrieved
from rag.terms import STOPWORDS, stem, words


@dataclass(frozen=True)
class Rerank:
    """How the fused pool is reranked: its size and the weights of the paragraph's and its best
    sentence's similarity and of the question terms' IDF-weighted coverage (eval/tune.py tunes them
    for evidence recall@5; RRF order alone gave 0.87 on the seeds)."""

    pool: int = 40
    paragraph: float = 1.0
    sentence: float = 0.15
    lexical: float = 1.35


RERANK = Rerank()


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
    return Retrieved(passages, records, first.query_vector, sims, first.expansions)


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

    def known_term(self, term: str) -> bool:
        """Whether a stemmed term, a spelling variant or another name of the same place ("beijing"
        for "china") occurs anywhere in the corpus."""
        if self._variants is None:
            self._variants = SpellingVariants(self.index.vocabulary)
        vocab = self.index.vocabulary
        return (
            term in vocab
            or bool(self._variants.variants(term))
            or any(a in vocab for a in place_aliases(term))
        )

    def query_terms(self, question: str) -> tuple[list[str], dict[str, list[str]]]:
        """Stemmed BM25 terms of the question, with spelling variants of names and unknown words."""
        if self._variants is None:
            self._variants = SpellingVariants(self.index.vocabulary)
        vocab = self.index.vocabulary
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
                extra = self._variants.variants(t)
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
    ) -> Retrieved:
        """Top-k passages for `question`; `context` (earlier turns) joins the query on both sides.

        Dense and BM25 candidates are fused by RRF into a pool, which is then reranked by the
        paragraph's and its best sentence's similarity plus IDF-weighted coverage of the query terms.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        terms, expansions = self.query_terms(question)
        spelled = self.corpus_spelling(question, expansions)
        vector = self.encoder.encode_queries([f"{context} {spelled}".strip() if context else spelled])[0]
        if context:
            terms += self.query_terms(context)[0]
        dense = self.index.dense_search(vector, self.candidates, article_ids, date_from, date_to)
        sparse = self.index.bm25_search(terms, self.candidates, article_ids, date_from, date_to)
        fused = rrf([[r for r, _ in dense], [r for r, _ in sparse]], self.rrf_k)
        pool: list[str] = []
        seen: set[str] = set()
        for rid, _ in fused:
            pid = rid.rsplit(":", 1)[0]  # row ids are "<paragraph_id>:<hashes>"
            if pid not in seen:  # two rows share a paragraph id only mid-ingest
                seen.add(pid)
                pool.append(rid)
            if len(pool) == max(k, self.rerank.pool):
                break
        records = self.index.fetch(pool)
        weights = {t: self.index.idf(t) for t in dict.fromkeys(terms)}
        total = sum(weights.values()) or 1.0
        scored = []
        for rid in pool:
            rec = records.get(rid)
            if rec is None:
                continue
            lexical = sum(w for t, w in weights.items() if t in rec.terms) / total
            best_sentence = float((rec.sentence_vectors @ vector).max()) if rec.sentence_vectors.size else 0.0
            paragraph = float(rec.vector @ vector)
            w = self.rerank
            score = w.paragraph * paragraph + w.sentence * best_sentence + w.lexical * lexical
            scored.append((score, paragraph, rid, rec))
        scored.sort(key=lambda x: (-x[0], x[2]))
        dense_rank = {rid: i for i, (rid, _) in enumerate(dense, start=1)}
        bm25_rank = {rid: i for i, (rid, _) in enumerate(sparse, start=1)}
        passages: list[Passage] = []
        by_pid: dict[str, Record] = {}
        sims: dict[str, float] = {}
        for score, paragraph, rid, rec in scored[:k]:
            by_pid[rec.paragraph_id] = rec
            sims[rec.paragraph_id] = paragraph
            passages.append(
                Passage(
                    paragraph_id=rec.paragraph_id,
                    article_id=rec.article_id,
                    n=rec.n,
                    title=rec.title,
                    text=rec.text,
                    score=round(score, 6),
                    rank=len(passages) + 1,
                    url=rec.url,
                    publish_date=rec.publish_date,
                    source=rec.source,
                    dense_rank=dense_rank.get(rid),
                    bm25_rank=bm25_rank.get(rid),
                )
            )
        return Retrieved(passages, by_pid, vector, sims, expansions)
