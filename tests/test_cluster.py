"""`rag ingest --ray` on real Ray clusters, into the embedded store and a real `chroma run` server, and
replicas (`rag serve --replica`) answering from one Chroma server and one index folder while it commits.

One `ray start --head` cluster of 2 CPUs serves the module (RAY_ADDRESS); the seeds test into the embedded
store lets the ingest start a local cluster of its own. Every Ray process advertises 127.0.0.1 and needs the
module's token. Ingests run as `rag ingest --ray` processes, each in a session of its own that the
test ends, so nothing Ray starts outlives the test that started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_openai import free_port
from test_chroma_server import ChromaServer

import rag
from eval.bench import BIG_CORPUS, write_slice
from eval.run import evaluate
from rag.corpus import find_boilerplate, load_articles, split_paragraphs
from rag.engine import Engine
from rag.errors import IndexIncompleteError
from rag.index.plan import row_id, split_row_id

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
BIN = Path(sys.executable).parent
RAG = BIN / "rag"
SLICE_PARAGRAPHS = 10_000
CLI_TIMEOUT = 600  # one `rag ingest --ray` of the slice on a busy 2-core host
START_TIMEOUT = 90.0  # `ray start`, `chroma run`, `rag serve` answering
STOP_TIMEOUT = 45.0  # `ray start --block` stops its processes one by one on SIGTERM
REPORT = re.compile(
    r"ingested (\d+) articles, (\d+) paragraphs: (\d+) added, (\d+) updated, (\d+) unchanged, "
    r"(\d+) removed, (\d+) files skipped; (\d+) embedded"
)


# -- processes of our own ---------------------------------------------------------------------


def _session_pids(sid: int) -> list[int]:
    """Processes left in session `sid` (the sessions this module starts)."""
    out = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True, check=True).stdout
    return [int(p) for p, s in (line.split() for line in out.splitlines()) if int(s) == sid and int(p) != sid]


def _end_session(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """Stop `proc` (SIGTERM, then SIGKILL) and every process left in its session."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    for pid in _session_pids(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def ray_env(model_dir: Path) -> Iterator[dict[str, str]]:
    """The environment of every Ray process here: loopback addresses, token auth, our model folder,
    and a temporary folder of a short name (Ray's socket paths must fit in 107 bytes)."""
    temp = tempfile.mkdtemp(prefix="rag-ray-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "RAY_", "OPENAI_"))}
    env.update(
        RAG_MODEL_DIR=str(model_dir),
        RAG_PROGRESS="0",
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=secrets.token_hex(16),
        # Ray's single-machine mode: its processes advertise 127.0.0.1, not this host's address.
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_TMPDIR=temp,
    )
    yield env
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_head(ray_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A 2-CPU cluster from `ray start --head --block`; its address."""
    port = free_port()
    log = tmp_path_factory.mktemp("ray-head") / "ray-start.log"
    cmd = [str(BIN / "ray"), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2"]
    cmd += ["--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", ray_env["RAY_TMPDIR"]]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, env=ray_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while b"Ray runtime started" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`ray start` did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.3)
        yield f"127.0.0.1:{port}"
    finally:
        _end_session(proc, STOP_TIMEOUT)


@pytest.fixture(scope="module")
def slice_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the first articles of the news corpus with 10,000 paragraphs."""
    if not BIG_CORPUS.exists():
        pytest.fail(f"{BIG_CORPUS} is missing: the cluster tests ingest a slice of it")
    folder = tmp_path_factory.mktemp("slice")
    write_slice(BIG_CORPUS, folder / "news-slice.jsonl", SLICE_PARAGRAPHS, 3)
    return folder


@pytest.fixture(scope="module")
def local_slice(slice_corpus: Path, model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The slice ingested on this machine alone: what every Ray ingest must match."""
    engine = rag.open(corpus=slice_corpus, index_dir=tmp_path_factory.mktemp("local"), model_dir=model_dir)
    engine.ingest(progress=False)
    return engine


def ingest_cli(
    env: dict[str, str], index: Path, corpus: Path, cwd: Path | None = None, **extra: str
) -> tuple[tuple[int, ...], list[int]]:
    """`rag ingest --ray` in a session of its own: its report's numbers (articles, paragraphs,
    added, updated, unchanged, removed, skipped, embedded), and the processes its session still
    held once it had exited (ended then, so nothing it started outlives it)."""
    run_env = {**env, "RAG_INDEX_DIR": str(index), "RAG_CORPUS": str(corpus), **extra}
    proc = subprocess.Popen(
        [str(RAG), "ingest", "--ray"],
        env=run_env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    left: list[int] = []
    try:
        out, err = proc.communicate(timeout=CLI_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while (left := _session_pids(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        _end_session(proc)
    assert proc.returncode == 0, f"rag ingest --ray failed:\n{err[-4000:]}"
    assert "Traceback" not in err, err[-4000:]
    m = REPORT.search(out)
    assert m, out
    return tuple(int(x) for x in m.groups()), left


def expected_rows(corpus: Path, min_words: int = 3) -> set[str]:
    """The row ids a local ingest of `corpus` commits (read and split here; nothing is embedded)."""
    loaded = load_articles([corpus])
    pairs = [(a, split_paragraphs(a, min_words)) for a in loaded.articles]
    boilerplate = find_boilerplate(pairs)
    return {row_id(a, p) for a, ps in pairs for p in ps if p.paragraph_id not in boilerplate}


def edit_and_delete(path: Path) -> None:
    """Edit one paragraph of the 4th article of the .jsonl `path` and delete its 8th article."""
    lines = path.read_text(encoding="utf-8").splitlines()
    articles = load_articles([path]).articles
    edited, deleted = articles[3], articles[7]
    paragraph = next(p for p in split_paragraphs(edited) if len(p.text.split()) > 12)
    line = int(edited.source.rsplit(":", 1)[1]) - 1
    record = json.loads(lines[line])
    record["text"] = record["text"].replace(paragraph.text, paragraph.text + " It was edited later.", 1)
    lines[line] = json.dumps(record)
    del lines[int(deleted.source.rsplit(":", 1)[1]) - 1]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def assert_only_the_edit_embedded(report: tuple[int, ...]) -> None:
    """The ingest after `edit_and_delete` embedded the edited paragraph alone, updated its row and
    removed the deleted article's rows."""
    embedded, updated, removed = report[-1], report[3], report[5]
    assert embedded == 1 and updated == 1 and removed > 0, report


def open_index(corpus: Path, index: Path, model_dir: Path, chroma_url: str | None = None) -> Engine:
    return rag.open(corpus=corpus, index_dir=index, model_dir=model_dir, chroma_url=chroma_url)


def assert_same_rows(engine: Engine, want: set[str], reference: Engine) -> None:
    """The committed rows are `want` (a local ingest's row ids), each with the text and, within
    the int8 encoder's batch noise, the vector that `reference` (a local ingest) has for that text
    (the actors embed the same steps in the same batches: bit-equal here)."""
    rows = engine._index.rows.ids()
    assert rows == want, f"{len(rows ^ want)} row ids differ"
    assert engine._index.bm25_count() == len(want)
    got = engine._index.rows.get(sorted(want))
    ref = {
        split_row_id(r)[1]: v
        for r, v in reference._index.rows.get(sorted(reference._index.rows.ids())).items()
    }
    hashes = [split_row_id(r)[1] for r in sorted(want)]
    assert all(h in ref for h in hashes)
    assert [got[r][1] for r in sorted(want)] == [ref[h][1] for h in hashes]  # texts
    a = np.stack([np.frombuffer(got[r][2], np.float32) for r in sorted(want)])
    b = np.stack([np.frombuffer(ref[h][2], np.float32) for h in hashes])
    cosine = np.einsum("ij,ij->i", a, b)
    assert cosine.min() > 0.99 and float(np.abs(a - b).max()) < 0.05, (cosine.min(), np.abs(a - b).max())


# -- the read/merge step, without a cluster ---------------------------------------------------


def test_the_actor_pool_always_leaves_room_for_the_read_tasks() -> None:
    from rag.cluster import READ_CPUS, pool_shape

    for cpus in (1, 2, 3, 4, 8, 16, 64, 96):
        actors, share = pool_shape(cpus)
        assert actors >= 1 and 0 < share < 1  # fractional: one onnxruntime thread each
        assert actors * share + READ_CPUS <= cpus, cpus


def test_files_read_apart_merge_into_what_the_whole_corpus_reader_keeps(tmp_path: Path) -> None:
    import pyarrow as pa

    from rag.cluster import merge_files, read_files
    from rag.corpus import iter_files

    body = "A first paragraph with enough words in it.\n\nA second paragraph, also long enough here."
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "story.txt").write_text(f"Title one\n\n{body}")
    (tmp_path / "b" / "story.txt").write_text("Title two\n\nAnother text, a different article entirely.")
    (tmp_path / "copy.md").write_text(f"Title one\n\n{body}")  # the same text under another name
    (tmp_path / "news.jsonl").write_text(
        json.dumps(
            {"title": "Dated", "text": "Dated story text with a few words.", "publish_date": "2024-01-05"}
        )
        + "\nnot json\n"
    )

    def apart(root: Path) -> Any:
        files = [str(f) for f in iter_files([root])]
        table = pa.table({"file": list(range(len(files))), "path": files})
        rows = read_files(table, os.getcwd(), 3).to_pylist()
        from rag.cluster import _file_result

        return merge_files([_file_result(r) for r in rows])

    load, corpus = apart(tmp_path)
    whole = load_articles([tmp_path])
    assert load.articles == whole.articles and load.skipped == whole.skipped
    assert corpus == [(a, split_paragraphs(a, 3)) for a in whole.articles]
    dated = next(a for a in load.articles if a.title == "Dated")
    assert dated.publish_date == "2024-01-05" and isinstance(dated.publish_date, str)

    # A file whose own copy was skipped, and whose kept one is a copy of an earlier file's: only
    # the whole-corpus reader can tell which to keep, and the merge says so.
    (tmp_path / "z.jsonl").write_text(
        json.dumps({"id": "story", "title": "Title one", "text": "A wholly new text of this article here."})
        + "\n"
        + json.dumps({"id": "fresh", "title": "T", "text": "A wholly new text of this article here."})
        + "\n"
    )
    assert apart(tmp_path) is None


# -- real clusters ----------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["embedded", "chroma-server"])
def test_seeds_on_a_cluster_give_the_local_index_and_the_same_gold_eval(
    store: str, ray_env: dict[str, str], model_dir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    corpus = tmp_path / "seeds"
    shutil.copytree(SEEDS, corpus)
    local = open_index(corpus, tmp_path / "local", model_dir)
    local.ingest(progress=False)
    server = None
    if store == "embedded":  # no RAY_ADDRESS: a local cluster of its own
        report, left = ingest_cli(ray_env, tmp_path / "index", corpus)
        assert left == []  # the local cluster it started was stopped with it
    else:  # the module's `ray start` cluster, into a `chroma run` server
        server = ChromaServer(tmp_path / "chroma-data", free_port(), tmp_path / "chroma.log")
        server.start()
        request.addfinalizer(server.stop)
        env = {**ray_env, "RAY_ADDRESS": request.getfixturevalue("ray_head"), "RAG_CHROMA_URL": server.url}
        report, _ = ingest_cli(env, tmp_path / "index", corpus)
    assert report[:3] == (5, 79, 79) and report[-1] == 79, report
    engine = open_index(corpus, tmp_path / "index", model_dir, server.url if server else None)
    assert_same_rows(engine, local._index.rows.ids(), local)
    assert engine._index.count() == 79  # the store holds exactly the committed rows

    def answers(result: dict[str, Any]) -> list[Any]:
        return [
            (
                r["id"],
                r.get("error"),
                r["answer"]["text"],
                [c["paragraph_id"] for c in r["answer"]["citations"]],
                r["scores"],
            )
            for r in result["items"]
        ]

    ours, theirs = evaluate(engine, progress=False), evaluate(local, progress=False)
    assert ours["overall"] == theirs["overall"]
    assert answers(ours) == answers(theirs)


@pytest.mark.timeout(1200)
def test_slice_on_a_cluster_into_the_embedded_store_matches_a_local_ingest(
    ray_env: dict[str, str], ray_head: str, slice_corpus: Path, local_slice: Engine, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    report, _ = ingest_cli(ray_env, index, slice_corpus, RAY_ADDRESS=ray_head)
    paragraphs = report[1]
    assert paragraphs >= SLICE_PARAGRAPHS * 0.98 and report[2] == paragraphs, report
    engine = open_index(slice_corpus, index, Path(ray_env["RAG_MODEL_DIR"]))
    want = local_slice._index.rows.ids()
    assert want == expected_rows(slice_corpus)
    assert_same_rows(engine, want, local_slice)
    order = sorted(want)  # the same paragraph file, display fields and all
    assert [r[:2] for r in engine._index.rows.get(order).values()] == [
        r[:2] for r in local_slice._index.rows.get(order).values()
    ]
    assert engine._index.count() == paragraphs  # Chroma holds exactly the committed rows

    again, _ = ingest_cli(ray_env, index, slice_corpus, RAY_ADDRESS=ray_head)
    assert again[2:6] == (0, 0, paragraphs, 0) and again[-1] == 0, again  # nothing embedded

    corpus = tmp_path / "edited"  # the module's slice stays as it is
    shutil.copytree(slice_corpus, corpus)
    edit_and_delete(corpus / "news-slice.jsonl")
    changed, _ = ingest_cli(ray_env, index, corpus, RAY_ADDRESS=ray_head)
    assert_only_the_edit_embedded(changed)
    engine = open_index(corpus, index, Path(ray_env["RAG_MODEL_DIR"]))
    assert engine._index.rows.ids() == expected_rows(corpus)
    assert engine._index.count() == changed[1]


@pytest.mark.timeout(1200)
def test_slice_on_a_cluster_into_a_chroma_server_resumes_after_a_kill_and_re_embeds_only_edits(
    ray_env: dict[str, str],
    ray_head: str,
    slice_corpus: Path,
    local_slice: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A corpus path relative to the driver's working directory, which no Ray worker shares: the
    # workers read it from there, and every article's source (part of its row ids) reads the same.
    shutil.copytree(slice_corpus, tmp_path / "corpus")
    corpus, index = Path("corpus"), tmp_path / "index"
    monkeypatch.chdir(tmp_path)
    model_dir = Path(ray_env["RAG_MODEL_DIR"])
    server = ChromaServer(tmp_path / "chroma-data", free_port(), tmp_path / "chroma.log")
    server.start()
    try:
        env = {**ray_env, "RAY_ADDRESS": ray_head, "RAG_CHROMA_URL": server.url}

        # Killed once its first steps are written: the index is left as a killed local ingest leaves it.
        proc = subprocess.Popen(
            [str(RAG), "ingest", "--ray"],
            env={**env, "RAG_INDEX_DIR": str(index), "RAG_CORPUS": str(corpus)},
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                if re.match(r"embedding: [1-9]\d*/", line):
                    break
            else:
                pytest.fail(f"the ingest ended before writing anything ({proc.wait()})")
            proc.kill()
            proc.wait(timeout=30)
        finally:
            _end_session(proc)
        killed = open_index(corpus, index, model_dir, server.url)
        status = killed.status()
        assert status is not None and not status.complete
        with pytest.raises(IndexIncompleteError, match="incomplete|interrupted"):
            killed.ask("Who won the election?", llm=False)  # nothing of it is visible
        written = len(killed._index.rows.ids())
        assert 0 < written < len(local_slice._index.rows.ids())

        resumed, _ = ingest_cli(env, index, corpus, cwd=tmp_path)
        assert resumed[-1] <= resumed[1] - written, (resumed, written)  # nothing written is embedded again
        engine = open_index(corpus, index, model_dir, server.url)
        assert_same_rows(engine, expected_rows(corpus), local_slice)
        assert engine._index.count() == resumed[1]
        # The filter fields are what Chroma takes and the snapshot filters on: dates as integers.
        import chromadb

        store = chromadb.HttpClient(host="127.0.0.1", port=server.port).get_collection(
            engine._index.collection_name
        )
        dates = {m["date"] for m in store.get(limit=500, include=["metadatas"])["metadatas"]}
        assert len(dates) > 1 and all(type(d) is int and 19_000_101 < d < 21_000_101 for d in dates)

        again, _ = ingest_cli(env, index, corpus, cwd=tmp_path)
        assert again[-1] == 0 and again[2:6] == (0, 0, resumed[1], 0), again

        # One paragraph of one article edited, another article deleted.
        edit_and_delete(corpus / "news-slice.jsonl")
        changed, _ = ingest_cli(env, index, corpus, cwd=tmp_path)
        assert_only_the_edit_embedded(changed)
        engine = open_index(corpus, index, model_dir, server.url)
        assert engine._index.rows.ids() == expected_rows(corpus)
        assert engine._index.count() == changed[1]
    finally:
        server.stop()


# -- replicas ---------------------------------------------------------------------------------


class PageReplica:
    """`rag serve --replica` on 127.0.0.1, asked through its page's API."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(log, "wb")  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen(
            [str(RAG), "serve", "--replica", "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.log = log

    def client(self) -> Any:
        from gradio_client import Client

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(self.url + "/", timeout=5):
                    return Client(self.url + "/", verbose=False, download_files=False)
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"`rag serve --replica` did not start:\n{self.log.read_text(errors='replace')}"
                    )
                time.sleep(0.5)

    def stop(self) -> None:
        _end_session(self.proc)
        self._log.close()


def ask_page(client: Any, question: str) -> tuple[str, list[str]]:
    """One question, in a conversation of its own, through the page's `respond` endpoint (every other
    input left empty or at its default): the last chat message's HTML and the cited paragraph ids."""
    client.reset_session()  # a new conversation: no earlier turn's citations, no follow-up rewriting
    params = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/respond"]
    kwargs = {
        p["parameter_name"]: question if p["parameter_name"] == "question" else ""
        for p in params["parameters"]
        if not p["parameter_has_default"]
    }
    chat, sources, *_ = client.submit(**kwargs, api_name="/respond").result(timeout=120)
    content = chat[-1]["content"]
    html = content if isinstance(content, str) else json.dumps(content)
    return html, re.findall(r'data-rag-paragraph="([^"]+)"', sources or "")


@pytest.mark.timeout(1200)
def test_two_replicas_answer_throughout_a_ray_ingest_then_serve_its_articles_without_restart(
    ray_env: dict[str, str], ray_head: str, model_dir: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    index = tmp_path / "index"
    server = ChromaServer(tmp_path / "chroma-data", free_port(), tmp_path / "chroma.log")
    server.start()
    replicas: list[PageReplica] = []
    try:
        env = {
            **ray_env,
            "RAG_INDEX_DIR": str(index),
            "RAG_CORPUS": str(corpus),
            "RAG_CHROMA_URL": server.url,
        }
        open_index(corpus, index, model_dir, server.url).ingest(progress=False)
        replicas = [PageReplica(env, tmp_path / f"replica-{i}.log") for i in range(2)]
        clients = [r.client() for r in replicas]
        seeds_questions = ["Who co-owns the Faena hotel?", "Who is Steve Witkoff?", "Who is Kirill Dmitriev?"]
        for c in clients:
            html, cited = ask_page(c, seeds_questions[0])
            assert "rag-answered" in html and cited and all(p.split("#")[0] in _seed_ids() for p in cited)

        # New articles arrive: 2,000 paragraphs of the news corpus, ingested on the cluster.
        write_slice(BIG_CORPUS, corpus / "news.jsonl", 2000, 3)
        new_articles = {a.article_id for a in load_articles([corpus / "news.jsonl"]).articles}
        stop = threading.Event()
        log: list[list[tuple[float, float, str, list[str]]]] = [[], []]
        errors: list[str] = []

        def keep_asking(i: int) -> None:
            n = 0
            while not stop.is_set():
                q = seeds_questions[n % len(seeds_questions)]
                n += 1
                started = time.time()
                try:
                    html, cited = ask_page(clients[i], q)
                except Exception as e:  # a replica that fails a question fails the test
                    errors.append(f"replica {i}: {q!r}: {type(e).__name__}: {e}")
                    continue
                if "rag-answered" not in html and "rag-abstained" not in html:
                    errors.append(f"replica {i}: {q!r}: {html[:300]}")
                log[i].append((started, time.time(), q, cited))

        askers = [threading.Thread(target=keep_asking, args=(i,), daemon=True) for i in range(2)]
        ingest_started = time.time()
        for t in askers:
            t.start()
        try:
            report, _ = ingest_cli({**env, "RAY_ADDRESS": ray_head}, index, corpus)
        finally:
            stop.set()
            for t in askers:
                t.join(timeout=180)
        ingest_ended = time.time()
        assert errors == []
        assert report[2] > 1500, report
        committed = index / f"bm25-{open_index(corpus, index, model_dir, server.url)._index.fingerprint}"
        committed_at = (committed / "ids.json").stat().st_mtime
        for i in range(2):
            during = [e for e in log[i] if ingest_started <= e[0] and e[1] <= ingest_ended]
            assert len(during) >= 2, f"replica {i} answered {len(during)} questions during the ingest"
            # Nothing of the new articles before the snapshot that holds them was committed.
            early = [
                e
                for e in log[i]
                if e[1] < committed_at and any(p.split("#")[0] in new_articles for p in e[3])
            ]
            assert early == [], early

        # A fresh reader of the committed index, and both replicas, running since before: the same answer.
        reader = open_index(corpus, index, model_dir, server.url)
        question, want = _a_question_about(reader, new_articles)
        for c in clients:
            html, cited = ask_page(c, question)
            assert "rag-answered" in html and cited == want, (question, cited, want)
    finally:
        for r in replicas:
            r.stop()
        server.stop()


def _seed_ids() -> set[str]:
    return {a.article_id for a in load_articles([SEEDS]).articles}


def _a_question_about(engine: Engine, articles: set[str]) -> tuple[str, list[str]]:
    """A question whose answer cites one of `articles`, and its cited paragraph ids."""
    for info in engine.articles():
        if info.article_id not in articles or len(info.title.split()) < 5:
            continue
        question = f"What happened: {info.title}?"
        answer = engine.ask(question, llm=False)
        cited = [c.paragraph_id for c in answer.citations]
        if not answer.abstained and any(p.split("#")[0] in articles for p in cited):
            return question, cited
    pytest.fail("no new article's title gave an answer citing it")
