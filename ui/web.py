"""The page's web surface, hardened: allowed host names, no uploads, no framing, one line per bad request."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from rag.errors import ConfigError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = {"", "0.0.0.0", "::", "[::]"}
# Sent with every response: the page may not be framed by another site (clickjacking), types are
# not sniffed, and links to articles do not tell the article's site where the reader came from.
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


def allowed_host_names(server_host: str, extra: str | Iterable[str] = "") -> frozenset[str]:
    """The host names the page answers to: loopback, the interface it binds, and `extra`.

    Args:
        server_host: The interface `rag serve` binds (RAG_SERVER_HOST); a wildcard (0.0.0.0)
            names no host, so the names clients use must then be listed in `extra`.
        extra: More names, comma-separated or as a list (RAG_ALLOWED_HOSTS); "*" allows any.
    """
    names = [server_host, *LOOPBACK_NAMES]
    names += extra.split(",") if isinstance(extra, str) else list(extra)
    return frozenset(n for n in (_normal(x) for x in names) if n not in WILDCARDS)


def host_name(host_header: str) -> str:
    """The name in a Host header, lower-cased, without port or brackets ("[::1]:7860" -> "::1")."""
    host = host_header.strip()
    if host.startswith("["):
        return _normal(host[1:].split("]", 1)[0])
    name, _, port = host.rpartition(":")
    if name and port.isdigit() and ":" not in name:
        host = name
    return _normal(host)


def _normal(name: str) -> str:
    return name.strip().lower().rstrip(".").strip("[]")


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) is this machine's loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """("user", "password") from "user:password"; None when no login is wanted."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ConfigError("RAG_AUTH must look like user:password (both non-empty); unset it for no login")
    return user, password


def _is_upload(path: str) -> bool:
    # The page has no upload field; Gradio still mounts /gradio_api/upload (and /upload).
    tail = path.rstrip("/").rsplit("/", 1)[-1]
    return tail in {"upload", "upload_progress"}


def log_line(message: str) -> None:
    """One line on stderr, whatever `message` holds (a client may put newlines in what it sends)."""
    print(f"rag serve: {' '.join(message.split())[:300]}", file=sys.stderr, flush=True)


class WebGuard:
    """ASGI middleware in front of the page's routes.

    Refuses requests for a host name not in `allowed` (a DNS rebinding page cannot reach the
    server through its own name), refuses uploads, adds `SECURITY_HEADERS` to every response,
    and turns an exception escaping a route into a one-line log and a 500 (never a traceback).
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = LOOPBACK_NAMES) -> None:
        self.app = app
        self.allowed = frozenset(_normal(a) for a in allowed)
        self.any_host = "*" in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = ""
        for name, value in scope.get("headers") or ():
            if name == b"host":
                host = value.decode("latin-1")
                break
        if not self.any_host and host_name(host) not in self.allowed:
            await _refuse(scope, send, 400, f"host {host_name(host) or '(none)'!r} is not allowed here")
            return
        if kind == "http" and _is_upload(str(scope.get("path", ""))):
            await _refuse(scope, send, 403, "uploads are not accepted: this page has no upload field")
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                message["headers"] = [*headers, *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as e:  # a route's bug or a malformed request: one line, not a traceback
            log_line(f"{scope.get('method', '')} {scope.get('path', '')} failed: {type(e).__name__}: {e}")
            if kind == "http" and not started:
                await _refuse(scope, send, 500, "the server could not handle this request")


_OURS = {name for name, _ in SECURITY_HEADERS}


async def _refuse(scope: Scope, send: Send, status: int, reason: str) -> None:
    if scope.get("type") == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = (reason + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
