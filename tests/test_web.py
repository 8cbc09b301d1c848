"""The page's web surface against a real `rag serve` process: uploads refused, only the allowed host
names answered, no framing by other sites, one log line per malformed request."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fake_openai import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
ALLOWED = "news.example.org, Intranet.Example"
UP_TIMEOUT_S = 120


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def new_lines(self, before: int, settle_s: float = 1.0, timeout_s: float = 30.0) -> list[str]:
        """The log lines written after the first `before` characters, once they stop coming."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(self.log()) <= before:
            time.sleep(0.05)
        time.sleep(settle_s)  # a traceback would follow its first line within this
        return self.log()[before:].splitlines()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    """`rag serve` over a copy of the seeds on 127.0.0.1, its stderr in a file; stopped at the end."""
    work = tmp_path_factory.mktemp("web")
    corpus = work / "corpus"
    shutil.copytree(SEEDS, corpus)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        RAG_MODEL_DIR=str(model_dir),
        RAG_INDEX_DIR=str(work / "index"),
        RAG_CORPUS=str(corpus),
        RAG_ALLOWED_HOSTS=ALLOWED,
        RAG_PROGRESS="0",
    )
    script = Path(sys.executable).parent / "rag"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "rag.cli"]
    log_path = work / "serve.log"
    with log_path.open("w") as stderr:
        proc = subprocess.Popen(
            [*cmd, "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            cwd=work,
        )
    srv = Server(f"http://127.0.0.1:{port}", port, proc, log_path)
    try:
        deadline = time.monotonic() + UP_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"rag serve exited with {proc.returncode}:\n{srv.log()}"
            assert time.monotonic() < deadline, f"rag serve not up in {UP_TIMEOUT_S} s:\n{srv.log()}"
            try:
                if httpx.get(srv.url + "/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        # The background sync ends with one line; later lines are the requests' own.
        while "index synced" not in srv.log() and "index up to date" not in srv.log():
            assert proc.poll() is None and time.monotonic() < deadline + UP_TIMEOUT_S, srv.log()
            time.sleep(0.1)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def get(server: Server, path: str = "/", host: str | None = None, **kw: object) -> httpx.Response:
    headers = {"Host": host} if host is not None else {}
    return httpx.get(server.url + path, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]


# -- uploads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [None, "https://evil.example"])
@pytest.mark.parametrize("path", ["/gradio_api/upload", "/upload"])
def test_uploads_are_refused_from_any_origin(server: Server, path: str, origin: str | None) -> None:
    headers = {"Origin": origin} if origin else {}
    r = httpx.post(
        server.url + path,
        files={"files": ("big.bin", b"x" * 200_000, "application/octet-stream")},
        headers=headers,
        timeout=30,
    )
    assert r.status_code == 403, (r.status_code, r.text[:200])
    assert "uploads are not accepted" in r.text
    assert r.headers.get("access-control-allow-origin") is None
    # Nor is anything kept: an upload lands in Gradio's temp folder as a path in the reply.
    assert "big.bin" not in r.text


# -- host names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example", "news.example.com"]
)
def test_a_foreign_host_header_is_refused(server: Server, host: str) -> None:
    r = get(server, "/", host=host.format(port=server.port))
    assert r.status_code == 400
    assert "is not allowed here" in r.text
    assert "gradio" not in r.text.lower()  # not the page
    api = get(server, "/gradio_api/info", host=host.format(port=server.port))
    assert api.status_code == 400


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "news.example.org", "intranet.example:{port}"],
)
def test_loopback_and_the_allowed_names_are_answered(server: Server, host: str) -> None:
    r = get(server, "/", host=host.format(port=server.port))
    assert r.status_code == 200
    assert "<html" in r.text.lower()
    info = get(server, "/gradio_api/info", host=host.format(port=server.port))
    assert info.status_code == 200 and "/respond" in info.json()["named_endpoints"]


# -- framing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/gradio_api/info", "/config"])
def test_no_other_site_may_frame_the_page(server: Server, path: str) -> None:
    r = get(server, path)
    assert r.status_code == 200
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    # Set once, not beside a laxer value of Gradio's own.
    assert len(r.headers.get_list("x-frame-options")) == 1


# -- malformed requests ----------------------------------------------------------------------------

# Requests Gradio's routes fail on (each printed a traceback of ~40 lines before).
MALFORMED = {
    "an unknown event joins the queue": (
        "/gradio_api/queue/join",
        {"data": [1], "fn_index": 9999, "session_hash": "a"},
    ),
    "an unknown event is run": (
        "/gradio_api/run/predict",
        {"data": [], "fn_index": 9999, "session_hash": "a"},
    ),
    "an unknown API name is called": ("/gradio_api/call/nosuch", {"data": []}),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_request_is_one_log_line(server: Server, case: str) -> None:
    path, body = MALFORMED[case]
    before = len(server.log())
    r = httpx.post(server.url + path, json=body, timeout=30)
    assert r.status_code == 500
    assert "Traceback" not in r.text
    lines = server.new_lines(before)
    assert len(lines) == 1, lines
    assert "Traceback" not in server.log()[before:]
    assert lines[0].startswith("rag serve: ") and path in lines[0]


def test_a_request_the_api_refuses_by_its_shape_logs_nothing(server: Server) -> None:
    before = len(server.log())
    r = httpx.post(server.url + "/gradio_api/queue/join", json={"data": "x", "fn_index": "zz"}, timeout=30)
    assert r.status_code == 422
    assert server.new_lines(before, timeout_s=2) == []


def test_a_wrong_api_call_is_one_log_line_and_one_error_event(server: Server) -> None:
    before = len(server.log())
    r = httpx.post(server.url + "/gradio_api/call/respond", json={"data": [5]}, timeout=30)
    assert r.status_code == 200
    event_id = r.json()["event_id"]
    stream = httpx.get(f"{server.url}/gradio_api/call/respond/{event_id}", timeout=30).text
    assert "event: error" in stream
    lines = server.new_lines(before)
    assert len(lines) == 1, lines
    assert "Traceback" not in server.log()[before:]
    assert "refused a request to respond" in lines[0]


def test_many_malformed_requests_are_as_many_lines(server: Server) -> None:
    before = len(server.log())
    for _ in range(20):
        httpx.post(server.url + "/gradio_api/call/nosuch", json={"data": ["\n" * 50]}, timeout=30)
    lines = server.new_lines(before)
    assert len(lines) == 20, lines
    assert all(line.startswith("rag serve: ") and len(line) < 400 for line in lines)


def test_a_good_question_still_answers_over_http(server: Server) -> None:
    # The guard lets the page's own API through: the same server answers a real question.
    r = httpx.post(
        server.url + "/gradio_api/call/respond",
        json={"data": ["Who co-owns the Faena hotel?", [], "extractive", 5, [], "", "", ""]},
        timeout=30,
    )
    event_id = r.json()["event_id"]
    stream = httpx.get(f"{server.url}/gradio_api/call/respond/{event_id}", timeout=60).text
    assert "event: complete" in stream
    assert "Blavatnik" in stream
