"""A scripted OpenAI-compatible chat server on 127.0.0.1 for tests: replays canned replies."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_SLEEP_S = 10.0  # no scripted pause outlives this, whatever a test asks


@dataclass
class Reply:
    """What the server does with one chat completion request.

    By default a 200 chat completion holding `content`; as server-sent events when the
    request asked to stream. The other fields script faults.
    """

    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # raw response body (garbage, error JSON), sent as is
    chunks: list[str] | None = None  # streamed deltas; default: `content` cut into words
    sse_lines: list[str] | None = None  # raw SSE `data:` payloads, for malformed streams
    delay_s: float = 0.0  # pause before the response starts
    chunk_delay_s: float = 0.0  # pause between streamed chunks (or dripped bytes)
    drop_after: int | None = None  # close the socket after this many chunks (0: before any reply)
    drip: bool = False  # send a non-streamed body one byte at a time, `chunk_delay_s` apart


def completion(content: str, model: str = "fake") -> dict[str, Any]:
    """A chat completion body as OpenAI sends it."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def chunk(delta: str | None, finish: str | None = None) -> dict[str, Any]:
    """One streamed chat completion chunk."""
    d: dict[str, Any] = {"content": delta} if delta is not None else {}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "fake",
        "choices": [{"index": 0, "delta": d, "finish_reason": finish}],
    }


def words_of(text: str) -> list[str]:
    """`text` cut into word-sized deltas that join back to `text`."""
    out: list[str] = []
    for i, w in enumerate(text.split(" ")):
        out.append(w if i == 0 else " " + w)
    return [w for w in out if w]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _pause(self, seconds: float) -> None:
        self.server.stopping.wait(min(seconds, MAX_SLEEP_S))

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            request = {}
        fmt = (request.get("response_format") or {}).get("type")
        if fmt and fmt in self.server.reject_formats:  # like a server without that feature
            self.server.fake._record(request)
            self._send_json(400, {"error": {"message": f"response_format {fmt} is not supported"}})
            return
        reply = self.server.next_reply(request)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer(request, reply)  # a client past its deadline may hang up mid-way

    def _answer(self, request: dict[str, Any], reply: Reply) -> None:
        self._pause(reply.delay_s)
        if reply.drop_after == 0:
            self._drop()
            return
        if reply.status != 200 or reply.body is not None:
            body = (
                reply.body
                if reply.body is not None
                else json.dumps(
                    {"error": {"message": f"scripted {reply.status}", "type": "server_error"}}
                ).encode()
            )
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            return
        if request.get("stream"):
            self._stream(reply)
            return
        body = json.dumps(completion(reply.content)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if reply.drip:
            for i in range(len(body)):
                if self.server.stopping.is_set():
                    return
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                self._pause(reply.chunk_delay_s)
        else:
            self.wfile.write(body)

    def _stream(self, reply: Reply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if reply.sse_lines is not None:
            payloads = list(reply.sse_lines)
        else:
            deltas = reply.chunks if reply.chunks is not None else words_of(reply.content)
            payloads = [json.dumps(chunk(d)) for d in deltas]
            payloads += [json.dumps(chunk(None, "stop")), "[DONE]"]
        for n, payload in enumerate(payloads):
            if reply.drop_after is not None and n >= reply.drop_after:
                self._drop()
                return
            if self.server.stopping.is_set():
                return
            self.wfile.write(f"data: {payload}\n\n".encode())
            self.wfile.flush()
            if reply.chunk_delay_s:
                self._pause(reply.chunk_delay_s)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: FakeOpenAI) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
        self.stopping = threading.Event()
        self.reject_formats: set[str] = set()

    def next_reply(self, request: dict[str, Any]) -> Reply:
        return self.fake._next(request)


class FakeOpenAI:
    """Start with `with FakeOpenAI() as fake:`; `fake.script(Reply(...), ...)` queues replies.

    Every chat request (its JSON body) is kept in `fake.requests`. When the script runs out,
    the server answers 500 "script exhausted", so a test that calls more often than it
    planned sees it.
    """

    def __init__(self, reject_formats: tuple[str, ...] = ()) -> None:
        self._server = _Server(self)
        self._server.reject_formats = set(reject_formats)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._script: list[Reply] = []
        self._responder: Callable[[dict[str, Any]], Reply] | None = None
        self.requests: list[dict[str, Any]] = []

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL to give the openai client (ends in /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def reject_formats(self, *formats: str) -> None:
        """Answer 400 to requests whose response_format type is one of `formats`."""
        self._server.reject_formats = set(formats)

    def script(self, *replies: Reply) -> None:
        """Replace the queue of replies; one is used per chat request."""
        with self._lock:
            self._script = list(replies)
            self._responder = None

    def respond_with(self, responder: Callable[[dict[str, Any]], Reply]) -> None:
        """Answer every request with `responder(request_body)` instead of a fixed script."""
        with self._lock:
            self._responder = responder

    def _record(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(request)

    def _next(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._responder is not None:
                return self._responder(request)
            if self._script:
                return self._script.pop(0)
        return Reply(status=500, body=b'{"error": {"message": "script exhausted"}}')

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
