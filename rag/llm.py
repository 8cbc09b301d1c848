"""LLM answers through the openai client: prompt, guarded call, parsed reply, verified citations."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rag.citations import CitationKeys, marker
from rag.errors import LLMError
from rag.prompts import answer_schema, render_messages
from rag.schema import Answer, Citation, Passage
from rag.sentences import split_sentences
from rag.terms import content_terms, fold
from rag.verify import Verdict, strip_foreign_links, verify_sentence

FORMATS = ("json_schema", "json_object", "text")  # what "auto" tries, in this order
NO_ANSWER = "The articles do not answer this question (the language model found no answer in them)."


@dataclass(frozen=True)
class LLMConfig:
    """How to reach one OpenAI-compatible server and how hard to try."""

    model: str
    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = 30.0  # overall deadline of one answer, retries and streaming included
    temperature: float = 0.0
    max_tokens: int = 400
    max_retries: int = 2  # extra attempts after a 429, a 5xx or a dropped connection
    backoff_s: float = 0.5  # first back-off; doubles per retry
    response_format: str = "auto"  # "auto" | "json_schema" | "json_object" | "text"

    def __post_init__(self) -> None:
        if self.response_format not in ("auto", *FORMATS):
            raise ValueError(
                f"response_format must be one of auto, {', '.join(FORMATS)}; got {self.response_format!r}"
            )
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be greater than 0, got {self.timeout_s}")


class CircuitBreaker:
    """After `failures` consecutive failures, refuse calls for `cooldown_s` seconds."""

    def __init__(
        self,
        failures: int = 3,
        cooldown_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1:
            raise ValueError(f"failures must be at least 1, got {failures}")
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._count = 0
        self._open_until = 0.0
        self._lock = threading.Lock()

    def open_for(self) -> float:
        """Seconds until calls are allowed again; 0 when the breaker is closed."""
        with self._lock:
            return max(0.0, self._open_until - self._clock())

    def record_success(self) -> None:
        with self._lock:
            self._count = 0

    def record_failure(self) -> None:
        with self._lock:
            self._count += 1
            if self._count >= self.failures:
                self._open_until = self._clock() + self.cooldown_s
                self._count = 0


# -- the call: deadline, retries, format negotiation ---------------------------------------


class _CutOff(Exception):
    """A stream that broke after `chars` characters had been shown."""

    def __init__(self, chars: int) -> None:
        super().__init__(chars)
        self.chars = chars


def _status_message(e: Any, tries: str = "") -> str:
    """`the LLM server returned HTTP 500[ after 3 attempts]: <first line of what it said>`."""
    status = getattr(e, "status_code", "?")
    detail = _first_line(getattr(e, "body", None))
    if not detail:
        with contextlib.suppress(Exception):  # a streamed error response may be unread
            detail = _first_line(e.response.text)
    return f"the LLM server returned HTTP {status}{tries}" + (f": {detail}" if detail else "")


def _first_line(body: Any, limit: int = 160) -> str:
    """The server's own words about an error: its JSON `message`, else the first line of the body."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        body = inner.get("message") if isinstance(inner, dict) else inner
    if body is None:
        return ""
    line = next((ln.strip() for ln in str(body).splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _refused_request(e: BaseException) -> bool:
    """The server refused the request itself (400, 404, 422): retrying it unchanged cannot help."""
    import openai

    return isinstance(e, (openai.BadRequestError, openai.UnprocessableEntityError, openai.NotFoundError))


def _retryable(e: BaseException) -> bool:
    """A 429, a 5xx, a timeout or a dropped connection: worth another attempt."""
    import openai

    return isinstance(e, (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError))


def _transport_message(e: BaseException) -> str:
    """Why no reply came: never connected, or connected and then closed without an answer.

    Read by class name along the cause chain: openai wraps httpx's errors, and its releases
    moved from `httpx` to `httpx2`, whose classes share the names but not the types.
    """
    refused = {"ConnectError", "ConnectTimeout", "ConnectionRefusedError", "gaierror"}
    closed = {"RemoteProtocolError", "ReadError", "WriteError", "ConnectionResetError", "BrokenPipeError"}
    seen: list[str] = []
    cause: BaseException | None = e
    while cause is not None and len(seen) < 10:
        seen.append(type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    if refused & set(seen):
        return "could not reach the LLM server"
    if closed & set(seen):
        return "the LLM server closed the connection without replying"
    return f"the connection to the LLM server failed ({seen[-1]})"


class LLMClient:
    """Calls one OpenAI-compatible server with an overall deadline and bounded retries.

    The request runs on a worker thread; the caller waits on a queue with the deadline, so a
    server that drips its reply a byte at a time cannot hold the answer past `timeout_s`.
    """

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self._format = FORMATS[0] if config.response_format == "auto" else config.response_format
        self._lock = threading.Lock()
        self._openai: Any = None

    @property
    def response_format(self) -> str:
        """The reply format in use (after any downgrade by a server that refused a richer one)."""
        return self._format

    def _client(self) -> Any:
        """The openai client, built once; importing openai takes seconds, so not on the clock."""
        with self._lock:
            if self._openai is None:
                import openai

                client = openai.OpenAI(
                    api_key=self.config.api_key or "no-key",  # local servers want none
                    base_url=self.config.base_url,
                    max_retries=0,  # we retry ourselves, within the deadline
                    timeout=self.config.timeout_s,
                )
                _ = client.chat.completions  # imports the resource modules now
                self._openai = client
            return self._openai

    def _request(self, messages: list[dict[str, str]], n_keys: int, fmt: str, stream: bool) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            "stream": stream,
        }
        schema = answer_schema(n_keys)
        if fmt == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "cited_answer", "strict": True, "schema": schema},
            }
        elif fmt == "json_object":  # llama.cpp's server: JSON mode constrained by a schema
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        return kwargs

    def call(
        self,
        messages_for: Callable[[bool], list[dict[str, str]]],
        n_keys: int,
        stream: bool = False,
    ) -> Iterator[tuple[str, str]]:
        """Run one chat completion: `("delta", text)` items when streaming, then `("done", reply)`.

        Args:
            messages_for: Builds the messages; its argument says whether JSON output is requested.
            n_keys: How many paragraph keys the prompt shows (constrains structured replies).
            stream: Ask the server to stream tokens.

        Raises:
            LLMError: Deadline passed, retries exhausted, connection refused, or an empty reply.
        """
        client = self._client()
        deadline = time.monotonic() + self.config.timeout_s
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        cancel = threading.Event()
        holder: dict[str, Any] = {}
        worker = threading.Thread(
            target=self._produce,
            args=(client, messages_for, n_keys, stream, deadline, events, cancel, holder),
            name="rag-llm-call",
            daemon=True,
        )
        worker.start()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LLMError(
                        f"no complete reply within {self.config.timeout_s:g} s (RAG_LLM_TIMEOUT_S)"
                    )
                try:
                    kind, value = events.get(timeout=remaining)
                except queue.Empty:
                    continue
                if kind == "error":
                    raise value
                yield kind, value
                if kind == "done":
                    return
        finally:
            cancel.set()
            response = holder.get("stream")
            if response is not None and worker.is_alive():
                # Closing the response aborts a stream that is still dripping in.
                with contextlib.suppress(Exception):
                    response.close()

    def _produce(
        self,
        client: Any,
        messages_for: Callable[[bool], list[dict[str, str]]],
        n_keys: int,
        stream: bool,
        deadline: float,
        events: queue.Queue[tuple[str, Any]],
        cancel: threading.Event,
        holder: dict[str, Any],
    ) -> None:
        """Worker thread: the request, retried on 429, 5xx and dropped connections."""
        import httpx

        attempt = 0
        while not cancel.is_set():
            fmt = self._format
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return  # the caller reports the deadline
            timed = client.with_options(timeout=httpx.Timeout(remaining, connect=min(5.0, remaining)))
            try:
                kwargs = self._request(messages_for(fmt != "text"), n_keys, fmt, stream)
                reply = (
                    self._read_stream(timed, kwargs, events, cancel, holder)
                    if stream
                    else self._read_whole(timed, kwargs)
                )
                if reply is None:
                    return  # cancelled
                if not reply.strip():
                    raise LLMError("the LLM server sent an empty reply")
                events.put(("done", reply))
                return
            except Exception as e:  # noqa: BLE001 - every failure becomes a retry or a notice
                if cancel.is_set():
                    return
                refused = _refused_request(e)
                if (refused or _retryable(e)) and self._downgrade(fmt, e, any_error=refused):
                    continue  # llama.cpp's server answers 400 or 500 to a format it lacks
                attempt += 1
                outcome = self._after_failure(e, attempt, deadline)
                if isinstance(outcome, LLMError):
                    events.put(("error", outcome))
                    return
                cancel.wait(outcome)

    def _after_failure(self, e: Exception, attempt: int, deadline: float) -> float | LLMError:
        """The delay before retrying `e`, or the error to report when it is not worth retrying."""
        import openai

        if _refused_request(e):
            return LLMError(f"{_status_message(e)}; check RAG_LLM_MODEL and RAG_LLM_BASE_URL")
        if isinstance(e, _CutOff):
            return LLMError(f"the LLM stream was cut off after {e.chars} characters")
        if isinstance(e, LLMError):
            return e
        retryable = _retryable(e)
        if not retryable and isinstance(e, openai.APIStatusError):
            hint = "; check OPENAI_API_KEY" if getattr(e, "status_code", 0) in (401, 403) else ""
            return LLMError(f"{_status_message(e)}{hint}")
        if not retryable:
            return LLMError(f"the LLM server sent a malformed reply ({type(e).__name__})")
        delay = self._backoff(attempt, e)
        if attempt <= self.config.max_retries and time.monotonic() + delay < deadline:
            return delay
        tries = f" after {attempt} attempts" if attempt > 1 else ""
        if isinstance(e, openai.APITimeoutError):
            return LLMError(f"the LLM server timed out{tries}")
        if isinstance(e, openai.APIConnectionError):
            return LLMError(f"{_transport_message(e)}{tries}")
        return LLMError(_status_message(e, tries))

    @staticmethod
    def _read_whole(client: Any, kwargs: dict[str, Any]) -> str:
        response = client.chat.completions.create(**kwargs)
        choices = getattr(response, "choices", None)
        if not choices:
            raise LLMError("the LLM server sent a reply that is not a chat completion")
        return str(choices[0].message.content or "")

    @staticmethod
    def _read_stream(
        client: Any,
        kwargs: dict[str, Any],
        events: queue.Queue[tuple[str, Any]],
        cancel: threading.Event,
        holder: dict[str, Any],
    ) -> str | None:
        """Forward streamed deltas; the whole reply, or None when cancelled.

        Raises:
            _CutOff: The stream ended (or broke) after some text but before a finish reason.
        """
        parts: list[str] = []
        finished = False
        response = client.chat.completions.create(**kwargs)
        holder["stream"] = response
        try:
            for chunk in response:
                if cancel.is_set():
                    return None
                choices = getattr(chunk, "choices", None) or []
                if not choices:
                    continue
                delta = getattr(getattr(choices[0], "delta", None), "content", None)
                if delta:
                    parts.append(delta)
                    events.put(("delta", delta))
                finished = finished or bool(getattr(choices[0], "finish_reason", None))
        except Exception:
            if parts and not cancel.is_set():
                raise _CutOff(sum(map(len, parts))) from None
            raise
        if cancel.is_set():
            return None
        if not finished and parts:  # a server always ends a complete stream with a reason
            raise _CutOff(sum(map(len, parts)))
        return "".join(parts)

    def _downgrade(self, fmt: str, error: Any, any_error: bool = False) -> bool:
        """Step down to the next reply format when the server refused this one (auto mode only)."""
        if fmt == "text" or self.config.response_format != "auto":
            return False
        if not any_error and "response_format" not in str(getattr(error, "body", "") or error):
            return False
        with self._lock:
            if self._format == fmt:
                self._format = FORMATS[FORMATS.index(fmt) + 1]
        return True

    def _backoff(self, attempt: int, error: Any) -> float:
        delay = self.config.backoff_s * 2 ** (attempt - 1)
        response = getattr(error, "response", None)
        header = response.headers.get("retry-after") if response is not None else None
        if header:
            with contextlib.suppress(ValueError):
                delay = max(delay, min(float(header), 10.0))
        return delay


# -- the reply: JSON or text, keys mapped back ----------------------------------------------


@dataclass(frozen=True)
class ReplySentence:
    """One sentence of the model's reply and the paragraph numbers (1-based) it cites."""

    text: str
    keys: tuple[int, ...]


@dataclass(frozen=True)
class Reply:
    """A parsed reply: its sentences, how many cited keys were not in the prompt, the sentinel."""

    sentences: tuple[ReplySentence, ...]
    dropped_keys: int = 0
    sentinel: bool = False
    structured: bool = False
    links_removed: int = 0  # links and images to foreign addresses, taken out before parsing


_KEY_NUMBER = re.compile(r"(?:P(?:aragraph)?\s*)?(\d{1,3})", re.IGNORECASE)
_GROUP = re.compile(
    r"[\[(\u3010\u3014\u300c\"'\u201c\u2018\u00ab]\s*"
    r"P(?:aragraphs?)?\s*\d{1,3}(?:\s*(?:,|;|&|/|and|\s)\s*(?:P(?:aragraph)?\s*)?\d{1,3})*\s*"
    r"[\])\u3011\u3015\u300d\"'\u201d\u2019\u00bb]",
    re.IGNORECASE,
)
_BARE_KEY = re.compile(r"\bP(\d{1,3})\b")
_SENTINEL = re.compile(r"NOT[\s_-]*IN[\s_-]*(?:THE[\s_-]*)?ARTICLES", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])\s+")


def _numbers(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        return [int(n) for n in _KEY_NUMBER.findall(value)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


def _json_items(raw: str) -> list[Any] | None:
    """Sentence objects of a JSON reply, repairing a reply cut off mid-way; None if not JSON."""
    text = raw.strip()
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", text)
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0 or text[:start].strip() != "":
        return None
    try:
        data = json.loads(text[start:], strict=False)  # a raw newline inside a string is common
    except json.JSONDecodeError:
        # Cut off (max tokens, dropped stream): keep the sentence objects that did complete.
        objects = re.findall(r"\{[^{}]*\"sentence\"[^{}]*\}", text)
        items = []
        for o in objects:
            try:
                items.append(json.loads(o, strict=False))
            except json.JSONDecodeError:
                continue
        return items if items else ([] if '"sentence' in text else None)
    if isinstance(data, dict):
        for name in ("sentences", "answer", "answers", "items"):
            if isinstance(data.get(name), list):
                return list(data[name])
        if "sentence" in data:
            return [data]
        return []
    return list(data) if isinstance(data, list) else None


def _clean(text: str) -> str:
    text = _GROUP.sub(" ", text)
    text = _BARE_KEY.sub(" ", text)
    text = " ".join(text.split())
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return text.strip(" ,;")


def _keys_in(text: str) -> list[int]:
    found = [n for g in _GROUP.finditer(text) for n in _numbers(g.group(0))]
    found += [int(n) for n in _BARE_KEY.findall(_GROUP.sub(" ", text))]
    return found


def parse_reply(raw: str, n_keys: int, allowed_urls: Iterable[str] = ()) -> Reply:
    """Parse a model reply into cited sentences; keys outside P1..P<n_keys> are dropped and counted.

    Takes JSON (`{"sentences": [{"sentence", "keys"}]}`, also cut off mid-way) or text with
    markers like `[P3]`, `[P3, P5]`, `(P3)`, `【P3】` or `"P3"`. A sentence without markers
    takes the keys of the next sentence that has some (a citation at the end of a passage).
    """
    sentinel = bool(_SENTINEL.search(raw))
    pairs: list[tuple[str, list[int]]] = []
    links_removed = 0
    items = _json_items(raw)
    structured = items is not None
    if items is not None:
        for item in items:
            if isinstance(item, dict):
                text = str(item.get("sentence") or item.get("text") or "")
                nums = _numbers(item.get("keys", item.get("citations", [])))
            elif isinstance(item, str):
                text, nums = item, []
            else:
                continue
            nums += _keys_in(text)
            pairs.append((_BULLET.sub("", text), nums))
    else:
        # Links first, so an injected image cannot glue two sentences together.
        lines = [strip_foreign_links(line, allowed_urls) for line in raw.splitlines()]
        links_removed = sum(n for _, n in lines)
        for line, _ in lines:
            line = _BULLET.sub("", line)
            for s, e in split_sentences(line):
                piece = line[s:e]
                lead = re.match(rf"^(?:\s*(?:{_GROUP.pattern}))+", piece, re.IGNORECASE)
                if lead and pairs:  # "... talks. [P1] Next sentence": the marker closes the last one
                    pairs[-1][1].extend(_keys_in(lead.group(0)))
                    piece = piece[lead.end() :]
                pairs.append((piece, _keys_in(piece)))
    sentences: list[ReplySentence] = []
    dropped = 0
    pending: list[str] = []
    for text, nums in pairs:
        if _SENTINEL.search(text):
            continue
        valid = tuple(dict.fromkeys(n for n in nums if 1 <= n <= n_keys))
        dropped += sum(1 for n in nums if not 1 <= n <= n_keys)
        cleaned = _clean(text)
        if not re.search(r"\w", cleaned):
            continue
        if not valid:
            pending.append(cleaned)
            continue
        sentences.extend(ReplySentence(p, valid) for p in pending)
        pending = []
        sentences.append(ReplySentence(cleaned, valid))
    sentences.extend(ReplySentence(p, ()) for p in pending)
    return Reply(tuple(sentences), dropped, sentinel, structured, links_removed)


# -- the answer: verified, cited, or the extractive answer with a notice --------------------


def _best_quote(sentence: str, paragraph: str) -> str:
    """The run of one or two sentences of `paragraph` that covers most of `sentence`'s words."""
    want = set(content_terms(sentence))
    spans = split_sentences(paragraph) or [(0, len(paragraph))]
    best, score = paragraph, -1.0
    for i in range(len(spans)):
        for j in range(i, min(i + 2, len(spans))):
            piece = paragraph[spans[i][0] : spans[j][1]]
            got = len(want & set(content_terms(piece))) - 0.5 * (j - i)
            if got > score:
                best, score = piece, got
    return best


def _fallback(fallback: Callable[[], Answer], notice: str, unsupported: Sequence[str] = ()) -> Answer:
    answer = fallback()
    return replace(
        answer,
        notices=(*answer.notices, notice),
        unsupported=(*answer.unsupported, *unsupported),
    )


@dataclass
class _Checked:
    """The reply's sentences after verification: kept (with their support) and removed."""

    kept: list[tuple[str, Verdict]] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    links_removed: int = 0
    recited: int = 0  # supported only by another retrieved paragraph than the one cited


def _check_sentences(reply: Reply, passages: tuple[Passage, ...], by_id: dict[str, Passage]) -> _Checked:
    """Verify each sentence against what it cites; a true one under the wrong key is re-cited."""
    checked = _Checked(links_removed=reply.links_removed)
    for s in reply.sentences:
        cited = [passages[n - 1] for n in s.keys]
        text, removed = strip_foreign_links(s.text, [p.url for p in cited])
        checked.links_removed += removed
        if not re.search(r"\w", text) or any(text == t for t, _ in checked.kept):
            continue  # nothing left, or a repeat of a sentence already kept
        verdict = verify_sentence(text, [p.paragraph_id for p in cited], by_id)
        if not verdict.supported:
            for p in passages:
                if p not in cited and (v := verify_sentence(text, [p.paragraph_id], by_id)).supported:
                    verdict = v
                    checked.recited += 1
                    break
        if verdict.supported:
            checked.kept.append((text, verdict))
        elif text not in checked.unsupported:
            checked.unsupported.append(text)
    return checked


def _notices(reply: Reply, checked: _Checked) -> list[str]:
    """What the reader should know about how the model's reply was changed."""
    notices: list[str] = []
    if reply.dropped_keys:
        notices.append(
            f"The model cited {reply.dropped_keys} paragraph key(s) it was not shown; they were ignored."
        )
    if checked.links_removed:
        notices.append(
            f"Removed {checked.links_removed} link(s) or image(s) that pointed outside the cited articles."
        )
    if not checked.kept:
        return notices
    if checked.recited:
        notices.append(
            f"{checked.recited} sentence(s) cited a paragraph that does not support them; "
            "they now cite the retrieved paragraph that does."
        )
    if checked.unsupported:
        notices.append(
            f"Removed {len(checked.unsupported)} sentence(s) of the model's answer that the cited "
            "paragraphs do not support."
        )
    return notices


def _cited_text(
    kept: list[tuple[str, Verdict]], by_id: dict[str, Passage], keys: CitationKeys
) -> tuple[str, tuple[Citation, ...]]:
    """The kept sentences with their citation markers, and the citations, by key."""
    parts: list[str] = []
    citations: dict[str, Citation] = {}
    for text, verdict in kept:
        numbers = []
        for pid in verdict.supporting:
            key = keys.key(pid)
            numbers.append(key)
            if pid not in citations:
                p = by_id[pid]
                citations[pid] = Citation(
                    key=key,
                    paragraph_id=pid,
                    article_id=p.article_id,
                    title=p.title,
                    text=p.text,
                    n=p.n,
                    url=p.url,
                    quote=_best_quote(text, p.text),
                    publish_date=p.publish_date,
                    also_in=p.also_in,
                )
        parts.append(f"{text} {''.join(marker(k) for k in numbers)}")
    return " ".join(parts), tuple(sorted(citations.values(), key=lambda c: c.key))


def build_answer(
    question: str,
    passages: Sequence[Passage],
    reply: Reply,
    keys: CitationKeys,
    fallback: Callable[[], Answer],
) -> Answer:
    """Verify a parsed reply and turn it into a cited `Answer` (or the fallback, with a notice).

    Every sentence is checked against the paragraphs it cites. One they do not support, but
    another retrieved paragraph does, is cited to that paragraph instead (with a notice); the
    rest are removed and listed. Links and images to addresses other than the cited articles'
    own are stripped.
    """
    passages = tuple(passages)
    by_id = {p.paragraph_id: p for p in passages}
    checked = _check_sentences(reply, passages, by_id)
    notices = tuple(_notices(reply, checked))
    unsupported = tuple(checked.unsupported)
    if not checked.kept and reply.sentinel:
        return Answer(
            question,
            "",
            True,
            NO_ANSWER,
            passages=passages,
            mode="llm",
            notices=notices,
            unsupported=unsupported,
        )
    if not checked.kept:
        what = (
            "none of its sentences is supported by the paragraphs it cites"
            if unsupported
            else "its reply held no cited sentence"
        )
        return _fallback(
            fallback,
            f"The language model's answer was not used: {what}. Showing the extractive answer.",
            unsupported,
        )
    text, citations = _cited_text(checked.kept, by_id, keys)
    return Answer(
        question=question,
        text=text,
        abstained=False,
        citations=citations,
        passages=passages,
        mode="llm",
        notices=notices,
        unsupported=unsupported,
    )


class _Preview:
    """Readable text of a reply still streaming in: whole words only, no keys, no URLs.

    A JSON reply shows its sentence values; a text reply shows its words without key markers.
    Any word holding a URL is dropped, so an injected image never reaches a page, even briefly.
    The last word is held back until it is complete, so what was shown never changes.
    """

    _JSON_SENTENCE = re.compile(r'"sentence"\s*:\s*"((?:[^"\\]|\\.)*)(")?')
    _URL = re.compile(r"://|^www\.|^data:|\bhref\b|\bsrc\b", re.IGNORECASE)

    def __init__(self) -> None:
        self.raw = ""
        self.shown = ""

    def feed(self, delta: str) -> str:
        """Add a delta; return the text that can now be shown (may be empty)."""
        self.raw += delta
        view = self._view()
        if not view.startswith(self.shown):
            return ""  # cannot happen with whole words; the final answer replaces the preview
        new, self.shown = view[len(self.shown) :], view
        return new

    def _text(self) -> str:
        if not self.raw.lstrip().startswith(("{", "[", "```")):
            return self.raw
        parts = []
        for m in self._JSON_SENTENCE.finditer(self.raw):
            body = m.group(1)
            if not m.group(2):  # still arriving: hold back a half-written escape
                body = re.sub(r"\\(u[0-9a-fA-F]{0,3})?$", "", body)
            try:
                parts.append(json.loads(f'"{body}"') + (" " if m.group(2) else ""))
            except json.JSONDecodeError:
                break
        return "".join(parts)

    def _view(self) -> str:
        text = fold(self._text())
        complete = text[: max(text.rfind(" "), text.rfind("\n")) + 1]
        out = ""
        for word in complete.split():
            if self._URL.search(word) or _SENTINEL.search(word):
                continue
            word = _BARE_KEY.sub("", _GROUP.sub("", word)).strip("[]()\u3010\u3011")
            if not word:
                continue
            glue = not re.search(r"\w", word) or not out  # "Florida [P1]." -> "Florida."
            out += word if glue else " " + word
        return out


class LLMAnswerer:
    """Answers from retrieved paragraphs through an `LLMClient`, guarded by a circuit breaker."""

    def __init__(self, client: LLMClient, breaker: CircuitBreaker | None = None) -> None:
        self.client = client
        self.breaker = breaker or CircuitBreaker()

    def run(
        self,
        question: str,
        passages: Sequence[Passage],
        keys: CitationKeys,
        fallback: Callable[[], Answer],
        stream: bool = False,
        as_of: str = "",
    ) -> Iterator[str | Answer]:
        """Yield the reply's text as it arrives (when `stream`), then the verified `Answer`.

        `as_of` (ISO) is the question's "now", shown to the model with each paragraph's date.

        Any failure (deadline, retries exhausted, refused connection, garbage) yields the
        `fallback()` answer with a one-line notice of what failed; this never raises `LLMError`.
        """
        passages = tuple(passages)
        if not passages:  # nothing to answer from: no need to ask the model
            yield fallback()
            return
        wait = self.breaker.open_for()
        if wait > 0:
            yield _fallback(
                fallback,
                "The language model was skipped after repeated failures "
                f"(retrying in {wait:.0f} s); showing the extractive answer.",
            )
            return
        preview = _Preview()
        raw = ""
        try:
            for kind, value in self.client.call(
                lambda structured: render_messages(question, passages, structured, as_of),
                len(passages),
                stream,
            ):
                if kind == "delta":
                    text = preview.feed(value)
                    if text:
                        yield text
                else:
                    raw = value
            reply = parse_reply(raw, len(passages), [p.url for p in passages])
            if not reply.sentences and not reply.sentinel:
                raise LLMError("the LLM reply held no sentence that could be read")
        except LLMError as e:
            self.breaker.record_failure()
            yield _fallback(fallback, f"The language model failed ({e}); showing the extractive answer.")
            return
        self.breaker.record_success()
        yield build_answer(question, passages, reply, keys, fallback)
