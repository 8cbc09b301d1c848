"""Chroma server mode (RAG_CHROMA_URL): a real `chroma run` subprocess, restarted and stopped under us."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai import free_port

import rag
from eval.run import load_gold
from rag.engine import Engine
from rag.errors import RagError, StoreUnavailableError

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
CHROMA = Path(sys.executable).parent / "chroma"
START_DEADLINE = 60.0  # seconds for `chroma run` to answer its heartbeat
CLI_TIMEOUT = 300


class ChromaServer:
    """`chroma run` on 127.0.0.1:<port> over <path>; start/stop as often as a test likes."""

    def __init__(self, path: Path, port: int, log: Path) -> None:
        self.path, self.port, self.log = path, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.proc is None
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(CHROMA),
                    "run",
                    "--path",
                    str(self.path),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
            )
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"`chroma run` exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"`chroma run` did not answer within {START_DEADLINE:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    if not CHROMA.exists():
        pytest.fail(f"no `chroma` next to {sys.executable}")
    server = ChromaServer(tmp_path / "chroma-data", free_port(), tmp_path / "chroma.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    for f in SEEDS.iterdir():
        shutil.copy(f, d / f.name)
    return d


def questions() -> list[str]:
    return [g.question for g in load_gold() if not g.history and g.type != "followup"]


def signature(answer: rag.Answer) -> tuple[str, bool, tuple[str, ...]]:
    return answer.text, answer.abstained, tuple(c.paragraph_id for c in answer.citations)


def answers(engine: Engine, qs: list[str]) -> dict[str, tuple[str, bool, tuple[str, ...]]]:
    return {q: signature(engine.ask(q, llm=False)) for q in qs}


def diff(got: dict[str, object], want: dict[str, object]) -> list[str]:
    return [f"{q!r}: server {got[q]!r} != embedded {want[q]!r}" for q in want if got[q] != want[q]]


def test_server_mode_answers_like_embedded_and_survives_a_restart(
    chroma_server: ChromaServer, corpus: Path, tmp_path: Path, model_dir: Path, seeds_engine: Engine
) -> None:
    qs = questions()
    assert len(qs) > 80
    expected = answers(seeds_engine, qs)

    engine = rag.open(
        corpus=corpus, index_dir=tmp_path / "index", model_dir=model_dir, chroma_url=chroma_server.url
    )
    first = engine.ingest(progress=False)
    assert (first.articles, first.added) == (5, first.paragraphs)
    assert 0 < first.embedded <= first.paragraphs
    assert not (tmp_path / "index" / "chroma").exists()  # vectors went to the server, not index_dir
    assert engine._index.count() == first.paragraphs
    assert (chroma_server.path / "chroma.sqlite3").exists()

    assert diff(answers(engine, qs), expected) == []

    chroma_server.stop()
    chroma_server.start()

    # The same engine object keeps answering after the restart, identically.
    assert diff(answers(engine, qs), expected) == []
    # A fresh engine too; and ingesting again on the restarted server embeds nothing.
    fresh = rag.open(
        corpus=corpus, index_dir=tmp_path / "index", model_dir=model_dir, chroma_url=chroma_server.url
    )
    again = fresh.ingest(progress=False)
    assert (again.embedded, again.added, again.updated, again.removed) == (0, 0, 0, 0)
    assert again.unchanged == again.paragraphs == first.paragraphs
    assert diff(answers(fresh, qs[:20]), {q: expected[q] for q in qs[:20]}) == []


def test_server_down_is_one_clear_error(
    chroma_server: ChromaServer, corpus: Path, tmp_path: Path, model_dir: Path
) -> None:
    index_dir = tmp_path / "index"
    engine = rag.open(corpus=corpus, index_dir=index_dir, model_dir=model_dir, chroma_url=chroma_server.url)
    engine.ingest(progress=False)
    question = questions()[0]
    assert not engine.ask(question, llm=False).abstained

    chroma_server.stop()

    # The engine that was talking to the server, and a new one that never reached it.
    for e in (
        engine,
        rag.open(corpus=corpus, index_dir=index_dir, model_dir=model_dir, chroma_url=chroma_server.url),
    ):
        with pytest.raises(StoreUnavailableError) as caught:
            e.ask(question, llm=False)
        message = str(caught.value)
        assert isinstance(caught.value, RagError)
        assert chroma_server.url in message and "\n" not in message

    def rag_ask() -> None:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "rag.cli", "ask", question],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=CLI_TIMEOUT,
        )
        elapsed = time.perf_counter() - started
        assert proc.returncode != 0, proc.stdout
        err = proc.stderr.strip()
        assert "Traceback" not in proc.stderr, proc.stderr
        assert len(err.splitlines()) == 1, err
        assert err.startswith("rag: error:") and chroma_server.url in err, err
        assert proc.stdout == ""
        assert elapsed < 60, f"`rag ask` took {elapsed:.1f} s to report a stopped server"

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(
        RAG_CHROMA_URL=chroma_server.url,
        RAG_MODEL_DIR=str(model_dir),
        RAG_INDEX_DIR=str(index_dir),
        RAG_CORPUS=str(corpus),
        RAG_PROGRESS="0",
    )
    rag_ask()

    # An ingest attempted while the server is down fails the same way, and leaves the committed
    # index as it was: asking still names the server, not an "interrupted" ingest.
    with pytest.raises(StoreUnavailableError, match=re.escape(chroma_server.url)):
        engine.ingest(progress=False)
    status = engine.status()
    assert status is not None and status.complete
    rag_ask()

    # And it comes back: restart the server, the same engine answers again.
    chroma_server.start()
    assert not engine.ask(question, llm=False).abstained


def test_a_reset_server_is_reported_and_restored_by_ingest(
    chroma_server: ChromaServer, corpus: Path, tmp_path: Path, model_dir: Path
) -> None:
    """The BM25 snapshot lives in index_dir, the vectors on the server: a wiped server is noticed."""
    from rag.errors import IndexIncompleteError

    settings = {"corpus": corpus, "index_dir": tmp_path / "index", "model_dir": model_dir}
    engine = rag.open(**settings, chroma_url=chroma_server.url)
    first = engine.ingest(progress=False)
    chroma_server.stop()
    shutil.rmtree(chroma_server.path)  # the server comes back empty
    chroma_server.start()

    fresh = rag.open(**settings, chroma_url=chroma_server.url)
    with pytest.raises(IndexIncompleteError, match=r"holds 0 of this index's \d+ paragraphs"):
        fresh.ask("Who co-owns the Faena hotel?", llm=False)
    report = fresh.ensure_index(progress=False)  # what `rag serve` and `rag eval` do first
    assert report is not None and report.added == first.paragraphs
    restored = rag.open(**settings, chroma_url=chroma_server.url)
    assert "Blavatnik" in restored.ask("Who co-owns the Faena hotel?", llm=False).text


def test_prune_on_a_server_deletes_only_this_folder_s_other_settings_index(
    chroma_server: ChromaServer, corpus: Path, tmp_path: Path, model_dir: Path
) -> None:
    import chromadb

    index_dir = tmp_path / "index"
    common = {
        "corpus": corpus,
        "index_dir": index_dir,
        "model_dir": model_dir,
        "chroma_url": chroma_server.url,
    }
    old = rag.open(min_paragraph_words=5, **common)
    old.ingest(progress=False)
    current = rag.open(**common)
    current.ingest(progress=False)
    client = chromadb.HttpClient(host="127.0.0.1", port=chroma_server.port)
    # Another folder's index on the same server, and a collection that is not ours at all.
    client.create_collection("paragraphs-0123456789", embedding_function=None)
    client.create_collection("someone-elses", embedding_function=None)

    assert current.other_indexes() == [old._index.fingerprint]  # the server is never scanned
    pruned, _ = current.prune_other_indexes()

    assert pruned == [old._index.fingerprint]
    names = {c.name for c in client.list_collections()}
    assert names == {current._index.collection_name, "paragraphs-0123456789", "someone-elses"}
    assert not any(old._index.fingerprint in p.name for p in index_dir.iterdir())
    assert not current.ask("Who is Steve Witkoff?", llm=False).abstained
