"""`rag serve` measured from outside: many clients asking at once over HTTP, and a restart on an
existing index (how soon the page is up, how long the no-change sync takes)."""

from __future__ import annotations

import html
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 8
REQUESTS = 200
API = "/respond"  # the page's public question endpoint (ui/app.py)
# IndexSync's last line (ui/sync.py): "index up to date (checked in 0.4 s)" when the corpus files
# are as the index last saw them, "index synced in 9.1 s: ..." after a sync.
SYNC_LINE = re.compile(
    r"rag serve: index (?:up to date \(checked in ([\d.]+) s\)|synced in ([\d.]+) s: (.*))"
)
# What the page's filter boxes hold on a fresh page: no date range, no as-of date.
EMPTY_FILTERS = {"date_from": "", "date_to": "", "as_of": ""}
COPY_LINE = re.compile(r'<span class="rag-copy-line">(.*?)</span>', re.S)

Log = Callable[[str], None]


# -- pure helpers -----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def plan_questions(items: Sequence[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """`n` requests cycling through the gold items that stand alone (a follow-up needs its history)."""
    alone = [i for i in items if not i.get("history")]
    if not alone:
        raise ValueError("no stand-alone gold question to ask")
    return [alone[j % len(alone)] for j in range(n)]


def request_data(parameters: Sequence[dict[str, Any]], values: dict[str, Any]) -> list[Any]:
    """The positional `data` of an API call: `values` by parameter name, else the endpoint's default.

    Raises:
        ValueError: a parameter without a default is missing from `values`.
    """
    data = []
    for p in parameters:
        name = p["parameter_name"]
        if name in values:
            data.append(values[name])
        elif p.get("parameter_has_default"):
            data.append(p.get("parameter_default"))
        else:
            raise ValueError(f"no value for the API parameter {name!r}")
    return data


def copied_lines(message_html: str) -> list[str]:
    """The plain-text copy an answer message carries for its Copy button, line by line."""
    return [html.unescape(x) for x in COPY_LINE.findall(message_html)]


def expected_lines(answer: dict[str, Any]) -> list[str]:
    """The first lines of that copy for an answer (`Answer.to_dict()`): the question, a blank, the answer."""
    if answer["abstained"]:
        said = f"No answer in the articles: {answer.get('abstain_reason') or 'they do not say.'}"
    else:
        said = answer["text"].strip()
    return [f"Q: {answer['question']}", "", said]


def last_answer_html(outputs: Sequence[Any]) -> str:
    """The last assistant message of the chat (the respond endpoint's first output), as HTML."""
    chat = outputs[0] if outputs else []
    for message in reversed(chat or []):
        if message.get("role") == "assistant":
            content = message.get("content", "")
            if isinstance(content, list):
                return "".join(part.get("text", "") for part in content if isinstance(part, dict))
            return str(content)
    return ""


def read_sse(lines: Iterator[str]) -> list[Any]:
    """The `complete` event's data of a Gradio call stream.

    Raises:
        RuntimeError: the stream ended in an error or without a result.
    """
    event = ""
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:") and event == "complete":
            return list(json.loads(line[5:]))
        elif line.startswith("data:") and event == "error":
            raise RuntimeError(f"the server answered with an error: {line[5:].strip()[:300]}")
    raise RuntimeError("the call stream ended without a result")


def sync_seconds(log: str) -> tuple[float, str] | None:
    """(seconds, what the sync did: "" when the files were as the index saw them) from the sync's
    line in a `rag serve` log; None before that line."""
    found = SYNC_LINE.findall(log)
    if not found:
        return None
    checked, synced, summary = found[-1]
    return float(checked or synced), summary.strip()


# -- a served page ------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rag_command() -> list[str]:
    """`rag` of this interpreter's environment."""
    script = Path(sys.executable).parent / "rag"
    return [str(script)] if script.exists() else [sys.executable, "-m", "rag.cli"]


class Served:
    """A `rag serve` process on 127.0.0.1 and a free port, its stderr kept in `log_path`."""

    def __init__(self, corpus: str, index: Path, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        cmd = [*rag_command(), "serve", "--corpus", corpus, "--index", str(index), "--port", str(self.port)]
        self._stderr = log_path.open("w")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env, cwd=ROOT, start_new_session=True
        )

    def log(self) -> str:
        """What the server has written to stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_up(self, timeout: float) -> float:
        """Seconds from the start until the page answers GET / with 200.

        Raises:
            RuntimeError: the server exited or did not come up within `timeout`.
        """
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rag serve exited with {self.proc.returncode}: {self.log()[-600:]}")
            try:
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"rag serve was not up after {timeout:.0f} s: {self.log()[-600:]}")

    def wait_synced(self, timeout: float) -> tuple[float, float, str]:
        """(seconds from the start, the sync's own seconds, its summary) once the sync's line is logged.

        Raises:
            RuntimeError: the server exited or the sync did not end within `timeout`.
        """
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            found = sync_seconds(self.log())
            if found:
                return time.perf_counter() - self.started, *found
            if self.proc.poll() is not None:
                raise RuntimeError(f"rag serve exited with {self.proc.returncode}: {self.log()[-600:]}")
            time.sleep(0.05)
        raise RuntimeError(f"the index sync did not end within {timeout:.0f} s: {self.log()[-600:]}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 20 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self._stderr.close()


@contextmanager
def served(corpus: str, index: Path, env: dict[str, str], log_path: Path) -> Iterator[Served]:
    """`Served`, stopped on the way out whatever happened."""
    server = Served(corpus, index, env, log_path)
    try:
        yield server
    finally:
        server.stop()


# -- clients ------------------------------------------------------------------------------------


def endpoint_parameters(client: httpx.Client, url: str) -> list[dict[str, Any]]:
    """The respond endpoint's parameters, as the server describes them (/gradio_api/info)."""
    info = client.get(f"{url}/gradio_api/info").raise_for_status().json()
    return list(info["named_endpoints"][API]["parameters"])


def ask_over_http(client: httpx.Client, url: str, data: list[Any]) -> tuple[float, str]:
    """Ask one question through the page's API; (milliseconds, the answer message's HTML)."""
    started = time.perf_counter()
    call = client.post(f"{url}/gradio_api/call{API}", json={"data": data}).raise_for_status()
    event_id = call.json()["event_id"]
    with client.stream("GET", f"{url}/gradio_api/call{API}/{event_id}") as stream:
        outputs = read_sse(stream.iter_lines())
    return (time.perf_counter() - started) * 1000, last_answer_html(outputs)


def run_clients(
    url: str, asks: Sequence[dict[str, Any]], expected: dict[str, list[str]], clients: int = CLIENTS
) -> dict[str, Any]:
    """`clients` threads, each with its own connection, share `asks` and send them one after another.

    Every answer's copy must begin with its own question and the answer the engine gives it alone
    (`expected`, by question): a mix-up between concurrent requests counts as a mismatch.
    """
    with httpx.Client(timeout=120) as probe:
        parameters = endpoint_parameters(probe, url)
    latencies: list[float] = []
    mismatches: list[dict[str, Any]] = []
    errors: list[str] = []
    lock = threading.Lock()
    queue = list(enumerate(asks))

    def client_loop() -> None:
        with httpx.Client(timeout=120) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    _, item = queue.pop(0)
                values = {**EMPTY_FILTERS, "question": item["question"], "as_of": item.get("as_of") or ""}
                try:
                    ms, message = ask_over_http(client, url, request_data(parameters, values))
                except (httpx.HTTPError, RuntimeError, ValueError) as e:
                    with lock:
                        errors.append(f"{item['question'][:60]}: {e}")
                    continue
                got = copied_lines(message)[:3]
                with lock:
                    latencies.append(ms)
                    if got != expected[item["question"]]:
                        mismatches.append({"question": item["question"], "got": got[:3]})

    threads = [threading.Thread(target=client_loop, name=f"bench-client-{i}") for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": len(asks),
        "answered": len(latencies),
        "matched": len(latencies) - len(mismatches),
        "mismatches": mismatches[:5],
        "errors": errors[:5],
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "max_ms": max(latencies) if latencies else float("nan"),
        "per_s": len(latencies) / wall if wall else float("nan"),
        "wall_s": wall,
    }


# -- the benchmarks ------------------------------------------------------------------------------


def bench_clients(
    corpus: str,
    index: Path,
    env: dict[str, str],
    gold: Sequence[dict[str, Any]],
    expected: dict[str, dict[str, Any]],
    log: Log,
    clients: int = CLIENTS,
    requests: int = REQUESTS,
) -> dict[str, Any]:
    """`clients` concurrent HTTP clients asking `requests` gold questions of a `rag serve` on `index`.

    Args:
        corpus: The corpus the index holds (the sync finds nothing to do).
        index: An ingested index folder.
        env: The server's environment (RAG_MODEL_DIR...).
        gold: Gold items as dicts (question, history, as_of).
        expected: `Answer.to_dict()` of each question as `engine.ask` answers it alone.
        log: Progress lines.
    """
    asks = plan_questions(gold, requests)
    want = {q: expected_lines(a) for q, a in expected.items()}
    with served(corpus, index, env, index.parent / "serve-clients.log") as server:
        server.wait_up(180)
        server.wait_synced(600)
        log(f"page up at {server.url}; warming up with {clients} requests")
        run_clients(server.url, asks[:clients], want, clients)  # imports and caches, not counted
        log(f"{clients} clients x {requests} questions over HTTP")
        result = run_clients(server.url, asks, want, clients)
    result["load_avg"] = os.getloadavg()[0]
    return result


def bench_restart(
    corpus: str, index: Path, env: dict[str, str], log: Log, runs: int = 3, touch: Sequence[Path] = ()
) -> dict[str, Any]:
    """Restarts of `rag serve` on an up-to-date index: seconds until the page is up, until it answers
    a question, and until its background sync is done.

    Two kinds, `runs` each: "unchanged" (the corpus files as the index saw them: the sync only
    compares their sizes and times) and, when `touch` names the corpus files, "touched" (their
    modification times moved, contents the same: every article is read, split and hashed, and
    nothing is embedded).
    """
    kinds = ["unchanged", "touched"] if touch else ["unchanged"]
    out: dict[str, Any] = {}
    for kind in kinds:
        rows: list[dict[str, Any]] = []
        for i in range(runs):
            if kind == "touched":
                now = time.time()
                for f in touch:
                    os.utime(f, (now, now))
            with served(corpus, index, env, index.parent / f"serve-restart-{kind}-{i}.log") as server:
                up = server.wait_up(300)
                with httpx.Client(timeout=120) as client:
                    data = request_data(
                        endpoint_parameters(client, server.url),
                        {**EMPTY_FILTERS, "question": "Who is Dmitriev?"},
                    )
                    ask_over_http(client, server.url, data)
                answered = time.perf_counter() - server.started
                wall, seconds, summary = server.wait_synced(1200)
            rows.append(
                {
                    "up_s": up,
                    "first_answer_s": answered,
                    "sync_done_s": wall,
                    "sync_s": seconds,
                    "summary": summary,
                    "load_avg": os.getloadavg()[0],
                }
            )
            log(f"restart ({kind}) {i + 1}/{runs}: up in {up:.1f} s, synced in {seconds:.1f} s {summary}")
        out[kind] = {
            "runs": rows,
            "up_s": percentile([r["up_s"] for r in rows], 50),
            "first_answer_s": percentile([r["first_answer_s"] for r in rows], 50),
            "sync_s": percentile([r["sync_s"] for r in rows], 50),
            "sync_done_s": percentile([r["sync_done_s"] for r in rows], 50),
        }
    return out


def check_serve_targets(page: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for the page's figures present in `page`."""
    out: list[tuple[str, str, bool]] = []
    clients = page.get("clients")
    if clients:
        n = clients["clients"]
        p50, p95 = clients["p50_ms"], clients["p95_ms"]
        out.append((f"page p50 <= 150 ms ({n} clients, seeds)", f"{p50:.0f} ms", p50 <= 150))
        out.append((f"page p95 <= 400 ms ({n} clients, seeds)", f"{p95:.0f} ms", p95 <= 400))
        ok = clients["matched"] == clients["requests"]
        out.append(("every answer matches its question", f"{clients['matched']}/{clients['requests']}", ok))
    restart = page.get("restart", {})
    name = page.get("restart_corpus", "")
    for kind, figures in restart.items():
        up, sync = figures["up_s"], figures["sync_s"]
        out.append((f"page up <= 5 s on an existing index ({name}, {kind})", f"{up:.1f} s", up <= 5))
        out.append((f"no-change sync <= 15 s ({name}, {kind})", f"{sync:.1f} s", sync <= 15))
    return out


def render_serve(page: dict[str, Any]) -> str:
    """The page's figures as a Markdown table, with the targets."""
    rows = ["| `rag serve` | figure |", "|---|---|"]
    clients = page.get("clients")
    if clients:
        n = clients["clients"]
        rows += [
            f"| {n} clients over HTTP, {clients['requests']} seed questions: p50 / p95 / max (ms) | "
            f"{clients['p50_ms']:.0f} / {clients['p95_ms']:.0f} / {clients['max_ms']:.0f} |",
            f"| answers per second | {clients['per_s']:.1f} |",
            f"| answers matching their own question | {clients['matched']}/{clients['requests']} |",
        ]
    name = page.get("restart_corpus", "")
    for kind, figures in page.get("restart", {}).items():
        rows += [
            f"| restart on the {name} index ({kind}): page up (s) | {figures['up_s']:.1f} |",
            f"| ... first answer (s) | {figures['first_answer_s']:.1f} |",
            f"| ... no-change sync (s) | {figures['sync_s']:.1f} |",
        ]
    targets = check_serve_targets(page)
    if targets:
        rows += ["", "| target | measured | met |", "|---|---|---|"]
        rows += [f"| {t} | {m} | {'yes' if ok else 'no'} |" for t, m, ok in targets]
    return "\n".join(rows)
