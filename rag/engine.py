"""The engine: one object that ingests, retrieves and answers; the only reader of Settings."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from rag.abstain import Abstention
from rag.citations import CitationKeys
from rag.config import Settings
from rag.corpus import SkippedFile, find_boilerplate, iter_files, load_articles, split_paragraphs
from rag.dates import TIMELESS, describe, parse_date, time_scope
from rag.dates import warm as warm_dates
from rag.embedding import Encoder, OnnxEncoder, RemoteEncoder, ensure_onnx_model
from rag.errors import ConfigError, QuestionError
from rag.extractive import ExtractiveAnswerer
from rag.index import ParagraphIndex
from rag.llm import CircuitBreaker, LLMAnswerer, LLMClient, LLMConfig
from rag.questions import analyse_question
from rag.retrieve import HybridRetriever
from rag.schema import Answer, ArticleInfo, IndexStatus, Passage, Retrieved, SyncReport, TimeScope, Timings

FEEDBACK_FILE = "feedback.jsonl"
Progress = bool | Callable[[str, int, int], None]  # a bar on stderr, silence, or (stage, done, total)


@dataclass
class Turn:
    """One question and answer of a conversation."""

    question: str
    answer: Answer


@dataclass
class Conversation:
    """Turns so far, and the citation numbers they used (kept stable across turns)."""

    turns: list[Turn] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)


class Engine:
    """Ingest a corpus into a paragraph index and answer questions about it, with citations."""

    def __init__(self, settings: Settings | None = None, encoder: Encoder | None = None) -> None:
        self.settings = settings or Settings()
        self._encoder = encoder
        self._index = ParagraphIndex(
            self.settings.index_dir, self.settings.fingerprint(), self.settings.chroma_url
        )
        self._retriever: HybridRetriever | None = None
        self._llm_answerer: LLMAnswerer | None = None
        self.extractive = ExtractiveAnswerer()
        self._feedback_lock = threading.Lock()
        self._parts_lock = threading.RLock()  # the encoder, retriever and LLM client are built once

    # -- parts, built on first use so `import rag` and `rag --help` stay fast -------------

    @property
    def encoder(self) -> Encoder:
        if self._encoder is not None:
            return self._encoder
        with self._parts_lock:  # page threads: one encoder, built once
            if self._encoder is not None:
                return self._encoder
            s = self.settings
            if s.embed_base_url:
                self._encoder = RemoteEncoder(s.embed_base_url, s.embed_model, s.embed_api_key)
            else:
                model_dir = s.model_dir or s.index_dir / "models"
                path = ensure_onnx_model(model_dir, quantize=s.embed_quantize)
                self._encoder = OnnxEncoder(
                    path, s.embedder_id(), batch_size=s.embed_batch_size, threads=s.embed_threads
                )
        return self._encoder

    @property
    def retriever(self) -> HybridRetriever:
        retriever = self._retriever
        if retriever is None:
            with self._parts_lock:
                if self._retriever is None:
                    self._retriever = HybridRetriever(
                        self._index, self.encoder, self.settings.candidates, self.settings.rrf_k
                    )
                retriever = self._retriever
        return retriever

    @property
    def llm_answerer(self) -> LLMAnswerer:
        """The LLM answerer (one per engine, so its circuit breaker spans questions)."""
        if self._llm_answerer is not None:
            return self._llm_answerer
        with self._parts_lock:
            if self._llm_answerer is not None:
                return self._llm_answerer
            s = self.settings
            config = LLMConfig(
                model=s.llm_model,
                base_url=s.llm_base_url,
                api_key=s.openai_api_key,
                timeout_s=s.llm_timeout_s,
                temperature=s.llm_temperature,
                max_tokens=s.llm_max_tokens,
                max_retries=s.llm_max_retries,
                backoff_s=s.llm_backoff_s,
                response_format=s.llm_response_format,
            )
            breaker = CircuitBreaker(s.llm_breaker_failures, s.llm_breaker_cooldown_s)
            self._llm_answerer = LLMAnswerer(LLMClient(config), breaker)
        return self._llm_answerer

    def _use_llm(self, llm: bool | None) -> bool:
        if llm is None:
            return self.settings.llm_configured
        if llm and not self.settings.llm_configured:
            raise ConfigError(
                "no LLM is configured: set RAG_LLM_BASE_URL (any OpenAI-compatible server, "
                "e.g. http://127.0.0.1:8080/v1) or OPENAI_API_KEY, or ask without --llm"
            )
        return llm

    # -- ingest ---------------------------------------------------------------------------

    def corpus_signature(self, paths: Sequence[Path] | None = None) -> str:
        """Cheap fingerprint of the corpus files (names, sizes, mtimes): tells if ingest is due."""
        h = hashlib.sha1()
        # Resolved and sorted: the same files named another way ("corpora/x.jsonl", "./corpora/x.jsonl")
        # must not look like a changed corpus and trigger an ingest.
        for f in sorted({f.resolve() for f in iter_files(paths or self.settings.corpus_paths)}):
            st = f.stat()
            h.update(f"{f}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode())
        return h.hexdigest()

    def ingest(
        self, paths: Sequence[Path | str] | None = None, progress: Progress = True, ray: bool = False
    ) -> SyncReport:
        """Make the index hold exactly the articles under `paths` (default: the corpus setting).

        `progress`: True shows a bar (or log lines) on stderr; a callable gets `(stage, done,
        total)` as it goes ("reading", then "embedding" with paragraph counts); False is silent.
        `ray`: read, split and embed on the Ray cluster at RAY_ADDRESS, else on a local one (the
        `cluster` extra; rag.cluster), and commit here exactly as a local ingest does.
        """
        if not ray:
            return self._ingest(paths, progress, None)
        from rag.cluster import RayCluster  # `ray` is imported by `--ray` alone

        if callable(progress):
            progress("cluster", 0, 0)
        with RayCluster() as cluster:
            return self._ingest(paths, progress, cluster)

    def _ingest(self, paths: Sequence[Path | str] | None, progress: Progress, cluster: Any) -> SyncReport:
        """`ingest`, reading and embedding here, or on `cluster` (a rag.cluster.RayCluster)."""
        report_to = progress if callable(progress) else None
        if report_to:
            report_to("reading", 0, 0)
        roots = [Path(p) for p in paths] if paths else self.settings.corpus_paths
        if cluster:  # its actors load the model while it reads and splits
            encoder = cluster.encoder(self.encoder)
            loaded, corpus = cluster.read(roots, self.settings.min_paragraph_words)
        else:
            encoder = self.encoder
            loaded = load_articles(roots)
            corpus = [(a, split_paragraphs(a, self.settings.min_paragraph_words)) for a in loaded.articles]
        boilerplate = find_boilerplate(corpus)  # repeated across articles; the rest keep their ids
        corpus = [(a, [p for p in ps if p.paragraph_id not in boilerplate]) for a, ps in corpus]
        bar = _ProgressBar("embedding") if progress is True else None
        update = (
            bar.update
            if bar
            else (lambda done, total: report_to("embedding", done, total))
            if report_to
            else None
        )
        try:
            report = self._index.sync(corpus, encoder, update)
        finally:
            if bar:
                bar.close()
        report.skipped_files = [str(s) for s in loaded.skipped]
        report.boilerplate = len(boilerplate)
        self._index.record_corpus(self.corpus_signature(roots), [str(r) for r in roots])
        self._retriever = None
        return report

    def skipped_files(self, paths: Sequence[Path] | None = None) -> list[SkippedFile]:
        """What ingest would skip, and why (without touching the index)."""
        return load_articles(paths or self.settings.corpus_paths).skipped

    def ensure_index(self, progress: Progress = True) -> SyncReport | None:
        """Ingest when the index is missing, incomplete or older than the corpus files (`progress`
        as for `ingest`); None when it is current."""
        status = self._index.status()
        if (
            status is None
            or not status.complete
            or self._index.corpus_record() != self.corpus_signature()
            or (self.settings.chroma_url and self._index.count() < status.paragraphs)
        ):
            return self.ingest(progress=progress)
        return None

    def status(self) -> IndexStatus | None:
        """The committed index's state (articles, paragraphs, complete, last update), None if none."""
        return self._index.status()

    def record_feedback(
        self,
        question: str,
        answer_text: str,
        rating: Literal["up", "down"],
        comment: str = "",
        correct_answer: str = "",
        citations: Sequence[str] = (),
        as_of: str = "",
    ) -> Path:
        """Keep a reader's verdict on an answer: one JSON line in `<index_dir>/feedback.jsonl`.

        `rag eval --feedback` lists the "down" ones with a correct answer as candidate gold items.

        Raises:
            QuestionError: `rating` is not "up" or "down".
        """
        if rating not in ("up", "down"):
            raise QuestionError(f"feedback rating must be 'up' or 'down', got {rating!r}")
        record = {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "question": question[: self.settings.max_question_chars],
            "answer": answer_text[:4000],
            "rating": rating,
            "comment": comment[:2000],
            "correct_answer": correct_answer[:500],
            "citations": list(citations)[:20],
            "as_of": as_of,
            "corpus": self.settings.corpus,
        }
        path = self.settings.index_dir / FEEDBACK_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._feedback_lock, path.open("a", encoding="utf-8") as f:
            f.write(line)  # one write per line: concurrent page threads never interleave a record
        return path

    def open_index(self) -> None:
        """Open the committed index for reading now (the first question would otherwise).

        Raises:
            IndexMissingError: No index for these settings; run `rag ingest`.
        """
        self._index.open_for_reading()

    def warm(self) -> None:
        """Load now what a first question would: the encoder's model and the date-expression
        parser (~0.5 s together). A server calls it at start, so its first users do not wait."""
        warm_dates()
        self.encoder.encode_queries(["warm up"])

    def articles(self) -> list[ArticleInfo]:
        """Every indexed article (id, title, date, url, source, paragraphs), in id order."""
        return self._index.articles()

    def article(self, article_id: str) -> list[Passage]:
        """The indexed paragraphs of one article, in order ([] for an id not in the index)."""
        return [
            Passage(
                r.paragraph_id, r.article_id, r.n, r.title, r.text, 0.0, r.n, r.url, r.publish_date, r.source
            )
            for r in self._index.article_rows(article_id)
        ]

    def other_indexes(self) -> list[str]:
        """Fingerprints of indexes in the index folder built under other settings (an older index
        format, another model): left on disk by a settings change until `prune_other_indexes`."""
        return self._index.other_fingerprints()

    def prune_other_indexes(self) -> tuple[list[str], int]:
        """Delete the indexes of other settings; returns their fingerprints and the bytes freed."""
        return self._index.prune()

    # -- questions ------------------------------------------------------------------------

    def _check_question(self, question: str) -> str:
        if not isinstance(question, str):
            raise QuestionError(f"the question must be text, got {type(question).__name__}")
        cleaned = "".join(ch for ch in question if ch in "\n\t" or unicodedata.category(ch)[0] != "C").strip()
        if not cleaned:
            raise QuestionError("the question is empty; type a question about the articles")
        limit = self.settings.max_question_chars
        if len(cleaned) > limit:
            raise QuestionError(
                f"the question is {len(cleaned):,} characters long; the limit is {limit:,} "
                "(RAG_MAX_QUESTION_CHARS); shorten it"
            )
        return " ".join(cleaned.split())

    def default_as_of(self) -> str:
        """The as-of date a question gets when none is given: the newest article's date in the
        index (an archive's "now"), or today when no article is dated."""
        self._index.open_for_reading()
        return self._index.newest_date() or dt.date.today().isoformat()

    def _filters(
        self, articles: Sequence[str] | None, date_from: str, date_to: str, as_of: str | dt.date | None
    ) -> _Filters:
        """Checked filters: real dates (a one-line error otherwise), as-of defaulted."""
        start = parse_date(date_from, "--from date")
        end = parse_date(date_to, "--to date")
        if start and end and start > end:
            raise QuestionError(f"the date range {start} to {end} is empty; the first date must come first")
        when = parse_date(as_of, "the as-of date") or parse_date(self.default_as_of())
        described: list[str] = []
        notes: list[str] = []
        if articles:
            described.append(self._check_articles(articles))
        if start or end:
            if start and end:
                described.append(f"published {start.isoformat()} to {end.isoformat()}")
            else:
                described.append(
                    f"published on or {'after ' + str(start) if start else 'before ' + str(end)}"
                )
            undated = self._index.undated_articles()
            if undated:
                notes.append(
                    f"{undated} undated article{'s' if undated != 1 else ''} "
                    f"{'are' if undated != 1 else 'is'} outside any date range and {'were' if undated != 1 else 'was'} not searched."
                )
        return _Filters(
            tuple(articles) if articles else None,
            start.isoformat() if start else "",
            end.isoformat() if end else "",
            when.isoformat() if when else "",
            tuple(described),
            tuple(notes),
        )

    def _check_articles(self, articles: Sequence[str]) -> str:
        """The filter in words; an id the index does not hold is a one-line error naming the closest."""
        self._index.open_for_reading()
        known = {aid: self._index.article(aid) for aid in articles}
        for aid, info in known.items():
            if info is None:
                import difflib

                close = difflib.get_close_matches(aid, self._index.article_ids(), n=3)
                hint = f"; the closest: {', '.join(close)}" if close else ""
                raise QuestionError(f"no article {aid!r} in the index{hint} (`rag articles` lists them)")
        if len(articles) == 1 and (info := known[articles[0]]) is not None:
            return f"only the article \u201c{info.title}\u201d" + (
                f" ({info.publish_date})" if info.publish_date else ""
            )
        return f"only {len(articles)} articles"

    def _retrieve(
        self,
        question: str,
        k: int | None,
        filters: _Filters,
        context: str = "",
        scope: TimeScope = TIMELESS,
    ) -> Retrieved:
        self._index.open_for_reading()  # a missing index is reported before any model loads
        return self.retriever.retrieve(
            question,
            k or self.settings.top_k,
            article_ids=filters.articles,
            date_from=filters.date_from,
            date_to=filters.date_to,
            context=context,
            as_of=filters.as_of,
            scope=scope,
        )

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        articles: Sequence[str] | None = None,
        date_from: str = "",
        date_to: str = "",
        as_of: str | dt.date | None = None,
    ) -> list[Passage]:
        """The top-k paragraphs for `question` (hybrid dense + BM25), best first; nothing
        published after `as_of` (default: the newest article's date), and that time weighed."""
        q = self._check_question(question)
        filters = self._filters(articles, date_from, date_to, as_of)
        scope = time_scope(q, dt.date.fromisoformat(filters.as_of))
        return self._retrieve(q, k, filters, scope=scope).passages

    def ask(
        self,
        question: str,
        k: int | None = None,
        articles: Sequence[str] | None = None,
        date_from: str = "",
        date_to: str = "",
        conversation: Conversation | None = None,
        llm: bool | None = None,
        as_of: str | dt.date | None = None,
    ) -> Answer:
        """Answer `question` from the articles, every sentence cited, or abstain saying why.

        `as_of` (YYYY-MM-DD): the question's "now". Articles published after it are never used;
        "this week", "yesterday", "in January", "the current ..." are read against it. Default:
        the newest article's date in the index (today, if no article is dated); the answer says
        which (`Answer.as_of`).

        `llm`: True answers through the configured LLM (verified, with the extractive answer as
        fallback), False uses the extractive answerer; None (default) uses the LLM when one is
        configured (RAG_LLM_BASE_URL or OPENAI_API_KEY).
        """
        answer: Answer | None = None
        for item in self._answer(
            question, k, articles, date_from, date_to, conversation=conversation, llm=llm, as_of=as_of
        ):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def _answer(
        self,
        question: str,
        k: int | None = None,
        articles: Sequence[str] | None = None,
        date_from: str = "",
        date_to: str = "",
        conversation: Conversation | None = None,
        llm: bool | None = None,
        stream: bool = False,
        as_of: str | dt.date | None = None,
    ) -> Iterator[str | Answer]:
        """`ask`, as events: LLM text as it streams in (when `stream`), then the `Answer`."""
        t0 = time.perf_counter()
        q = self._check_question(question)
        use_llm = self._use_llm(llm)
        filters = self._filters(articles, date_from, date_to, as_of)
        context = follow_up_context(q, conversation)
        scope = time_scope(f"{context} {q}" if context else q, dt.date.fromisoformat(filters.as_of))
        with self._index.reading():  # one snapshot for the question's searches and lookups
            retrieved = self._retrieve(q, k, filters, context, scope)
            evidence = self.extractive.gather(q, retrieved, _Lookup(self, filters), context)
        t1 = time.perf_counter()
        keys = CitationKeys(conversation.keys if conversation else None)

        def extractive() -> Answer:
            return self.extractive.compose(evidence, keys)

        answer: Answer | None = None
        outcome = evidence.outcome
        if use_llm and isinstance(outcome, Abstention) and outcome.final:
            # The articles never mention what the question is about: a model can only guess.
            answer = replace(extractive(), notices=("The language model was not asked: " + outcome.reason,))
        elif use_llm:
            passages = evidence.retrieved.passages
            for item in self.llm_answerer.run(q, passages, keys, extractive, stream, filters.as_of):
                if isinstance(item, Answer):
                    answer = item
                else:
                    yield item
        else:
            answer = extractive()
        assert answer is not None
        t2 = time.perf_counter()
        answer = replace(
            answer,
            timings_ms=Timings((t1 - t0) * 1000, (t2 - t1) * 1000, (t2 - t0) * 1000),
            as_of=filters.as_of,
            time_scope=describe(scope),
            filters=filters.described,
            notices=(*answer.notices, *filters.notes),
        )
        if conversation is not None:
            conversation.turns.append(Turn(q, answer))
            conversation.keys = keys.as_dict()
        yield answer

    def ask_stream(self, question: str, **kwargs: Any) -> Iterator[str | Answer]:
        """Yield the answer's text as it becomes available, then the final `Answer`.

        Takes the same arguments as `ask`. With an LLM, its words arrive as the server streams
        them (without citation keys or links; a preview only: the final `Answer` is verified and
        may drop sentences or fall back to the extractive answer). Offline, the extractive answer
        arrives sentence by sentence; the last item is always the complete, cited `Answer`.
        """
        if self._use_llm(kwargs.pop("llm", None)):
            yield from self._answer(question, llm=True, stream=True, **kwargs)
            return
        answer = self.ask(question, llm=False, **kwargs)
        if not answer.abstained:
            for sentence in re.split(r"(?<=\])\s+", answer.text):
                yield sentence + " "
        yield answer

    def chat(self, question: str, conversation: Conversation, **kwargs: Any) -> Answer:
        """Answer a turn of `conversation`, reading follow-ups in the light of earlier turns."""
        return self.ask(question, conversation=conversation, **kwargs)


@dataclass(frozen=True)
class _Filters:
    """One question's checked filters: articles, a date range, and its as-of date (ISO)."""

    articles: tuple[str, ...] | None
    date_from: str
    date_to: str
    as_of: str
    described: tuple[str, ...] = ()  # the filters in words, for the answer
    notes: tuple[str, ...] = ()  # what the filters leave out that a reader may not expect


class _Lookup:
    """The retriever as the extractive answerer sees it: searches under one question's filters."""

    def __init__(self, engine: Engine, filters: _Filters) -> None:
        self._engine = engine
        self._filters = filters

    def search(self, query: str, k: int, article: str | None = None) -> Retrieved:
        if article is not None:  # the article's own paragraphs, up to the question's now
            return self._engine._retrieve(
                query, k, replace(self._filters, articles=(article,), date_from="", date_to="")
            )
        return self._engine._retrieve(query, k, self._filters)

    def idf(self, term: str) -> float:
        return self._engine._index.idf(term)

    def known(self, term: str) -> bool:
        return self._engine.retriever.known_term(term)

    def articles_with(self, terms: Sequence[str], article_ids: Sequence[str]) -> set[str]:
        return self._engine._index.articles_with(terms, article_ids)


_FOLLOW_UP = (
    "he",
    "she",
    "him",
    "her",
    "his",
    "they",
    "them",
    "their",
    "it",
    "its",
    "this",
    "that",
    "there",
    "these",
    "those",
    "and",
    "also",
    "what about",
    "how about",
    "same",
)


def follow_up_context(question: str, conversation: Conversation | None) -> str:
    """Words of the previous turn to carry into retrieval when `question` leans on it."""
    if not conversation or not conversation.turns:
        return ""
    low = question.lower()
    tokens = set(low.replace("?", " ").replace(",", " ").split())
    leans = any(w in tokens for w in _FOLLOW_UP if " " not in w) or any(
        low.startswith(w) for w in _FOLLOW_UP if " " in w
    )
    if not leans and (len(tokens) > 6 or analyse_question(question).entities):
        return ""  # long, or naming its own subject ("Who co-owns the Faena hotel?"): it stands alone
    return conversation.turns[-1].question


class _ProgressBar:
    """tqdm on stderr when it is a terminal; otherwise a line every 10 % or every 30 s, with the rate."""

    EVERY_S = 30.0

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar: Any = None
        self._last = -1
        self._start = self._printed = time.monotonic()

    def update(self, done: int, total: int) -> None:
        if total == 0:
            return
        if sys.stderr.isatty() and os.environ.get("RAG_PROGRESS", "1") != "0":
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(total=total, desc=self.label, unit="para", file=sys.stderr)
            self._bar.update(done - self._bar.n)
            return
        step = done * 10 // total
        now = time.monotonic()
        if step != self._last or now - self._printed >= self.EVERY_S:
            self._last, self._printed = step, now
            elapsed = now - self._start
            rate = f", {done / elapsed:.0f}/s" if done and elapsed >= 1 else ""
            print(
                f"{self.label}: {done}/{total} paragraphs ({elapsed:.0f} s{rate})",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
