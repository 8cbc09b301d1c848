"""Bad input, crashes and concurrent writers (issue 7): real encoder, real Chroma, real `rag` processes."""

from __future__ import annotations

import json
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import rag
from eval.run import load_gold
from rag.corpus import load_articles, split_paragraphs
from rag.errors import IndexIncompleteError, QuestionError
from rag.index.writing import WRITE_BATCH
from rag.sentences import split_sentences

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
PROGRESS = re.compile(r"embedding: (\d+)/(\d+) paragraphs")
SUMMARY = re.compile(
    r"(\d+) articles, (\d+) paragraphs: (\d+) added, (\d+) updated, (\d+) unchanged, "
    r"(\d+) removed, (\d+) files skipped; (\d+) embedded"
)
CLI_TIMEOUT = 900  # seconds; a bound on every `rag` subprocess, far above what any of them needs


# -- helpers ----------------------------------------------------------------------------------


def cli_env(corpus: Path, index_dir: Path, model_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return {
        **env,
        "RAG_CORPUS": str(corpus),
        "RAG_INDEX_DIR": str(index_dir),
        "RAG_MODEL_DIR": str(model_dir),
        "RAG_PROGRESS": "0",
    }


def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    """Running, not a zombie nobody reaped (an orphan's new parent may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False


def run_cli(args: list[str | bytes], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=CLI_TIMEOUT,
    )


def run_cli_measured(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str, float, float]:
    """Run `rag`; (exit code, stdout, stderr, seconds, peak RSS in MiB) of that process alone."""
    out_path, err_path = cwd / "measured.stdout", cwd / "measured.stderr"
    started = time.perf_counter()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", *args], stdout=out, stderr=err, env=env, cwd=cwd
        )
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    break
                if time.perf_counter() - started > CLI_TIMEOUT:
                    proc.kill()
                time.sleep(0.05)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    seconds = time.perf_counter() - started
    return proc.returncode, out_path.read_text(), err_path.read_text(), seconds, usage.ru_maxrss / 1024


def assert_one_line_error(out: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """`rag` failed the way a user mistake should: exit 2, one line on stderr, no traceback."""
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rag: error: "), out.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def summary_numbers(stdout: str) -> dict[str, int]:
    m = SUMMARY.search(stdout)
    assert m, stdout
    names = ("articles", "paragraphs", "added", "updated", "unchanged", "removed", "skipped", "embedded")
    return dict(zip(names, map(int, m.groups()), strict=True))


class CliProcess:
    """A running `rag` command whose stderr lines arrive on a queue (progress is read live)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, name: str) -> None:
        self._stdout = open(cwd / f"{name}.stdout", "w+")  # noqa: SIM115 - closed in finish()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", *args],
            stdout=self._stdout,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.stderr: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def next_progress(self, timeout: float) -> tuple[int, int] | None:
        """The next "embedding: N/M" line within `timeout` seconds (None if none came yet)."""
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                self._lines.put(None)
                raise AssertionError(
                    f"ingest exited (code {self.proc.wait()}) before the expected progress:\n"
                    + "".join(self.stderr)
                )
            if m := PROGRESS.search(line):
                return int(m.group(1)), int(m.group(2))
        return None

    def finish(self, timeout: float = CLI_TIMEOUT) -> tuple[int, str, str]:
        code = self.proc.wait(timeout=timeout)
        self._pump_thread.join(timeout=30)  # the last stderr lines
        self._stdout.seek(0)
        out = self._stdout.read()
        self._stdout.close()
        return code, out, "".join(self.stderr)

    def stop(self) -> None:
        """Make sure the process is gone (also when it was paused with SIGSTOP)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=30)
        if not self._stdout.closed:
            self._stdout.close()


@pytest.fixture
def processes() -> Iterator[list[CliProcess]]:
    """Subprocesses a test starts; any still running at the end are killed."""
    started: list[CliProcess] = []
    yield started
    for p in started:
        p.stop()


def write_seed_variants(path: Path, paragraphs: int, seed: int = 7) -> int:
    """A .jsonl of synthetic articles, one seed sentence (re-dated, re-numbered) per paragraph.

    Near-copies of the seeds on purpose: their vectors sit right next to the committed seed
    paragraphs, so a reader that let uncommitted rows through (or crowd out committed ones)
    would answer differently. Returns the number of paragraphs written.
    """
    rng = random.Random(seed)
    sentences = []
    for art in load_articles([SEEDS]).articles:
        for p in split_paragraphs(art):
            sentences += [p.text[s:e] for s, e in split_sentences(p.text) if len(p.text[s:e].split()) >= 6]
    per_article = 7
    lines = []
    n = 0
    a = 0
    while n < paragraphs:
        a += 1
        picked = rng.sample(sentences, min(per_article, paragraphs - n))
        body = "\n\n".join(f"Dispatch {a}.{i}: {s}" for i, s in enumerate(picked, start=1))
        n += len(picked)
        lines.append(
            json.dumps(
                {
                    "id": f"dispatch-{a:04d}",
                    "title": f"Wire dispatch number {a}",
                    "url": f"https://example.invalid/dispatch/{a}",
                    "publish_date": f"2024/02/{1 + a % 28:02d}",
                    "text": body,
                },
                ensure_ascii=False,
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return n


def expected_paragraphs(corpus: Path, min_words: int = 3) -> int:
    """Paragraphs ingest must store for `corpus`, counted independently of the index."""
    return sum(len(split_paragraphs(a, min_words)) for a in load_articles([corpus]).articles)


def answer_key(answer: rag.Answer) -> tuple[bool, str, tuple[str, ...]]:
    return answer.abstained, answer.text, tuple(c.paragraph_id for c in answer.citations)


GOLD_QUESTIONS = [item.question for item in load_gold()[:8]]
LONG_QUESTION = ("Who is Dmitriev? " * 1200)[:19_999] + "?"  # 20,000 characters


@pytest.fixture
def seeded(tmp_path: Path, model_dir: Path) -> tuple[Path, Path, rag.Engine]:
    """A corpus folder holding the seeds, its committed index, and a reader engine on it."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus / "seeds")
    index_dir = tmp_path / "index"
    reader = rag.open(corpus=corpus, index_dir=index_dir, model_dir=model_dir)
    report = reader.ingest(progress=False)
    assert report.paragraphs == 79
    return corpus, index_dir, reader


# -- corpus and ingestion ---------------------------------------------------------------------


def _long_paragraph(tail: str, chars: int = 100_000) -> str:
    """One line of `chars` characters: varied filler sentences, ending with `tail`."""
    rng = random.Random(3)
    places = ["Tromso", "Valparaiso", "Mombasa", "Hobart", "Reykjavik", "Cusco", "Tbilisi", "Harbin"]
    things = ["ferry crossings", "grain silos", "wind turbines", "school buses", "fishing permits"]
    moods = ["steady", "uneven", "record", "modest", "disputed"]
    out: list[str] = []
    size = 0
    i = 0
    while size < chars - len(tail) - 120:
        i += 1
        s = (
            f"Ledger entry {i} notes a {rng.choice(moods)} count of {rng.randint(3, 9000)} "
            f"{rng.choice(things)} near {rng.choice(places)} in week {rng.randint(1, 52)}."
        )
        out.append(s)
        size += len(s) + 1
    body = " ".join(out)
    pad = chars - len(body) - len(tail) - 1
    body += " Ledger close" + "s" * (pad - 14) + "."
    text = f"{body} {tail}"
    assert len(text) == chars
    return text


@pytest.mark.slow
def test_bad_files_are_reported_by_name_and_the_rest_ingested(tmp_path: Path, model_dir: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    harbour = (
        "Harbour master resigns\n\n"
        "The harbour master of Port Ellery, Ines Varga, resigned on Tuesday after twelve years.\n\n"
        "Varga said the new container terminal had doubled the port's traffic since 2019.\n"
    )
    (corpus / "harbour.txt").write_text(harbour, encoding="utf-8")
    (corpus / "harbour-copy.txt").write_text(harbour, encoding="utf-8")  # same article, second name
    (corpus / "picture.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    (corpus / "cafe.txt").write_bytes(
        "Caf\xe9 closes\n\nThe caf\xe9 on the corner served its last cr\xe8me br\xfbl\xe9e.\n".encode(
            "latin-1"
        )
    )
    (corpus / "broken.md").write_bytes(
        b"Broken bytes\n\nThis sentence is fine until here \xff\xfe and then \xe2\x80 breaks off.\n"
    )
    (corpus / "empty.txt").write_bytes(b"")
    tail = "The keeper of the Skerryvore lighthouse is Morag Quill, who has tended its lamp since 1998."
    long_text = _long_paragraph(tail)
    (corpus / "ledger.txt").write_text(f"Harbour ledger\n\n{long_text}\n", encoding="utf-8")
    feed = [
        {
            "id": "feed-1",
            "title": "Bridge reopens",
            "text": "The Alder Street bridge reopened after a 14-month repair.",
        },
        None,  # line 2: malformed
        {
            "id": "feed-3",
            "title": "Orchard prize",
            "text": "Farmer Tobiah Renn won the orchard prize for his pears.",
        },
    ]
    lines = [json.dumps(d) if d else '{"id": "feed-2", "title": "Cut off", "text": "no closing' for d in feed]
    (corpus / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    env = cli_env(corpus, tmp_path / "index", model_dir)
    code, out, err, seconds, peak_mib = run_cli_measured(["ingest"], env, tmp_path)
    assert code == 0, err
    assert "Traceback" not in err
    skipped = {line for line in err.splitlines() if line.startswith("skipped ")}
    expect = {
        "picture.txt": "binary file",
        "cafe.txt": "not valid UTF-8 (byte 0xe9",
        "broken.md": "not valid UTF-8 (byte 0xff",
        "empty.txt": "empty file",
        "feed.jsonl:2": "malformed line",
    }
    for name, reason in expect.items():
        hits = [s for s in skipped if f"{corpus / name}:" in s and reason in s]
        assert len(hits) == 1, (name, skipped)
    dup = [s for s in skipped if "duplicate of" in s]
    assert len(dup) == 1 and "harbour" in dup[0], skipped
    assert len(skipped) == 6, skipped
    numbers = summary_numbers(out)
    # harbour (2), ledger (1), feed-1 and feed-3 (1 each)
    assert numbers["articles"] == 4 and numbers["paragraphs"] == 5 == expected_paragraphs(corpus)
    print(
        f"\ningest with a {len(long_text):,}-character paragraph: {seconds:.1f} s wall, "
        f"peak RSS {peak_mib:,.0f} MiB; {out.strip()}"
    )
    # Windows keep attention memory linear in the length: one 25,000-token sequence would need
    # tens of GiB for its attention matrices alone.
    assert peak_mib < 4096

    engine = rag.open(corpus=corpus, index_dir=tmp_path / "index", model_dir=model_dir)
    assert engine._index.count() == 5 and engine._index.bm25_count() == 5

    answer = engine.ask("Who resigned as harbour master of Port Ellery?")
    assert not answer.abstained and "Ines Varga" in answer.text
    assert len({c.article_id for c in answer.citations}) == 1
    assert len({p.article_id for p in answer.passages if "Port Ellery" in p.text}) == 1

    answer = engine.ask("Who won the orchard prize?")
    assert not answer.abstained and "Tobiah Renn" in answer.text
    assert [c.article_id for c in answer.citations] == ["feed-3"]

    # The long paragraph is stored whole and embedded in windows, not cut at the model's 256 tokens.
    (record,) = engine._index.article_rows("ledger")
    assert record.text == long_text
    assert record.sentence_spans[-1][1] == len(long_text)
    first_window = engine.encoder.encode_queries([long_text])[0]  # truncated to the first window
    assert float(record.vector @ first_window) < 0.99
    last = record.sentence_vectors[-1]
    assert not np.allclose(last, record.vector, atol=1e-3)  # the tail sentence has its own tokens
    question = "Who is the keeper of the Skerryvore lighthouse?"
    query = engine.encoder.encode_queries([question])[0]
    print(
        f"similarity to the question: paragraph {float(record.vector @ query):.3f}, "
        f"first window {float(first_window @ query):.3f}, tail sentence {float(last @ query):.3f}"
    )
    assert float(last @ query) > 0.5 > float(record.vector @ query)
    (top,) = engine.retrieve(question, k=1)
    assert top.paragraph_id == "ledger#p1"


# -- crash mid-ingest -------------------------------------------------------------------------


@pytest.mark.slow
def test_killed_ingest_leaves_old_state_then_resumes(
    seeded: tuple[Path, Path, rag.Engine], tmp_path: Path, model_dir: Path, processes: list[CliProcess]
) -> None:
    corpus, index_dir, reader = seeded
    before = {q: answer_key(reader.ask(q)) for q in GOLD_QUESTIONS}
    old_rows = reader._index.count()
    # Enough paragraphs for three write batches, so a kill after the first lands mid-ingest.
    added = write_seed_variants(corpus / "dispatches.jsonl", int(WRITE_BATCH * 2.5))
    total = expected_paragraphs(corpus)
    assert total == 79 + added
    tmpdir = tmp_path / "tmp"  # where the encoder process keeps its files (TMPDIR)
    tmpdir.mkdir()
    env = {**cli_env(corpus, index_dir, model_dir), "TMPDIR": str(tmpdir)}

    started = time.perf_counter()
    first = CliProcess(["ingest"], env, tmp_path, "first")
    processes.append(first)
    asked_during = 0
    while True:
        progress = first.next_progress(timeout=0.1)
        if progress and progress[0] > 0:
            break
        assert time.perf_counter() - started < CLI_TIMEOUT, "no write batch finished in time"
        q = GOLD_QUESTIONS[asked_during % len(GOLD_QUESTIONS)]
        assert answer_key(reader.ask(q)) == before[q]  # readers see the committed seeds only
        asked_during += 1
    encoders = [pid for pid in _children(first.proc.pid) if b"rag.index.encoding_process" in _cmdline(pid)]
    assert len(encoders) == 1, "three write steps to embed: the encoder runs in a process of its own"
    os.kill(first.proc.pid, signal.SIGKILL)
    code, _, _ = first.finish()
    killed_at = time.perf_counter() - started
    assert code == -signal.SIGKILL
    # The orphaned encoder stops within two steps of the kill, and takes its files with it.
    deadline = time.perf_counter() + CLI_TIMEOUT
    while _alive(encoders[0]) and time.perf_counter() < deadline:
        time.sleep(0.1)
    assert not _alive(encoders[0]) and not list(tmpdir.glob("rag-encode-*"))
    written = reader._index.count()
    assert old_rows < written < total, (old_rows, written, total)  # part-way, really
    # A step writes the paragraph file before Chroma: a kill between the two leaves rows whose
    # vectors the file already holds, which the resumed ingest reuses instead of embedding again.
    held = len(reader._index.rows.ids())
    assert written <= held < total, (written, held, total)
    print(
        f"\nkilled the ingest at {progress[0]}/{progress[1]} after {killed_at:.1f} s "
        f"({written - old_rows} new rows in Chroma; {asked_during} answers meanwhile)"
    )

    status = reader._index.status()
    assert status is not None and not status.complete and not status.writer_active
    # Its BM25 snapshot, built beside the encoder, was never put in place: the next ingest removes it.
    assert list(index_dir.glob(".bm25-*.tmp"))
    # A reader that was open keeps the old, consistent state: the uncommitted rows stay invisible,
    # also to a filter that matches only them (the seeds carry no dates; the dispatches do).
    assert reader.retrieve(GOLD_QUESTIONS[0], date_from="2024-01-01") == []
    for q in GOLD_QUESTIONS:
        assert answer_key(reader.ask(q)) == before[q]
    # A new reader either gets that same state or is told to finish the ingest.
    fresh = rag.open(corpus=corpus, index_dir=index_dir, model_dir=model_dir)
    try:
        got = fresh.ask(GOLD_QUESTIONS[0])
    except IndexIncompleteError as e:
        assert "rag ingest" in str(e)
    else:
        assert answer_key(got) == before[GOLD_QUESTIONS[0]]
    out = run_cli(["ask", GOLD_QUESTIONS[0]], env, tmp_path)
    if out.returncode:
        assert_one_line_error(out, "rag ingest")

    resume_started = time.perf_counter()
    code, stdout, stderr = CliProcess(["ingest"], env, tmp_path, "second").finish()
    assert code == 0, stderr
    numbers = summary_numbers(stdout)
    print(f"resumed ingest: {time.perf_counter() - resume_started:.1f} s; {stdout.strip()}")
    assert numbers["paragraphs"] == total
    assert numbers["unchanged"] == written  # rows written before the kill are kept ...
    assert numbers["embedded"] == total - held  # ... and only what no file holds is embedded
    assert numbers["added"] == total - written and numbers["removed"] == 0
    assert not list(index_dir.glob(".bm25-*"))

    after = rag.open(corpus=corpus, index_dir=index_dir, model_dir=model_dir)
    assert after._index.count() == after._index.bm25_count() == total
    assert after.status().complete  # type: ignore[union-attr]
    # New and long-lived readers alike now read the finished index, filters included.
    for engine in (after, reader):
        hits = engine.retrieve(GOLD_QUESTIONS[0], k=5, articles=["dispatch-0003"])
        assert hits and {p.article_id for p in hits} == {"dispatch-0003"}
        dated = engine.retrieve(GOLD_QUESTIONS[0], k=5, date_from="2024-01-01")
        assert dated and all(p.article_id.startswith("dispatch-") for p in dated)
        # Dispatches repeat seed sentences: copies of one sentence are folded into one passage.
        sentences = [p.text.split(": ", 1)[1] for p in dated]
        assert len(set(sentences)) == len(dated) <= 5
    assert reader._index.bm25_count() == total


# -- two writers ------------------------------------------------------------------------------


@pytest.mark.slow
def test_second_writer_exits_with_one_line_while_readers_answer(
    seeded: tuple[Path, Path, rag.Engine], tmp_path: Path, model_dir: Path, processes: list[CliProcess]
) -> None:
    corpus, index_dir, reader = seeded
    before = {q: answer_key(reader.ask(q)) for q in GOLD_QUESTIONS}
    added = write_seed_variants(corpus / "dispatches.jsonl", WRITE_BATCH + 40, seed=11)
    total = 79 + added
    env = cli_env(corpus, index_dir, model_dir)

    writer = CliProcess(["ingest"], env, tmp_path, "writer")
    processes.append(writer)
    assert writer.next_progress(timeout=CLI_TIMEOUT) == (0, added)  # it holds the lock now
    # Pause it while it holds the lock, so the second writer surely meets a running ingest.
    os.kill(writer.proc.pid, signal.SIGSTOP)
    try:
        assert reader._index.writer_active()
        started = time.perf_counter()
        second = run_cli(["ingest"], env, tmp_path)
        line = assert_one_line_error(second, "another `rag ingest`", f"pid {writer.proc.pid}", "wait for it")
        print(f"\nsecond writer refused after {time.perf_counter() - started:.1f} s: {line}")
        # Readers, old and new, answer from the committed state while the writer is mid-ingest.
        for q in GOLD_QUESTIONS:
            assert answer_key(reader.ask(q)) == before[q]
        fresh = rag.open(corpus=corpus, index_dir=index_dir, model_dir=model_dir)
        assert answer_key(fresh.ask(GOLD_QUESTIONS[1])) == before[GOLD_QUESTIONS[1]]
    finally:
        os.kill(writer.proc.pid, signal.SIGCONT)

    answered = 0
    while writer.proc.poll() is None:
        q = GOLD_QUESTIONS[answered % len(GOLD_QUESTIONS)]
        answer = reader.ask(q)
        if reader._index.bm25_count() == 79:  # still the old snapshot: exactly the old answers
            assert answer_key(answer) == before[q]
        else:  # the writer committed; answers come from the new snapshot, and only from it
            assert {c.paragraph_id for c in answer.citations} <= {p.paragraph_id for p in answer.passages}
        # A filter that matches only rows being written sees none of them until they are committed.
        dated = reader.retrieve(q, k=3, date_from="2024-01-01")
        assert all(p.article_id.startswith("dispatch-") for p in dated)
        assert not dated or reader._index.bm25_count() == total
        answered += 1
    code, stdout, stderr = writer.finish()
    assert code == 0, stderr
    numbers = summary_numbers(stdout)
    assert numbers["paragraphs"] == total and numbers["unchanged"] == 79 and numbers["added"] == added
    print(f"reader answered {answered} questions while the writer ran; writer: {stdout.strip()}")

    after = rag.open(corpus=corpus, index_dir=index_dir, model_dir=model_dir)
    assert after._index.count() == after._index.bm25_count() == total
    # The reader that was open throughout now answers from the new index.
    assert reader._index.bm25_count() == total
    assert len(reader.retrieve(GOLD_QUESTIONS[0], k=3, date_from="2024-01-01")) == 3
    again = run_cli(["ingest"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    numbers = summary_numbers(again.stdout)
    assert (numbers["added"], numbers["unchanged"], numbers["embedded"]) == (0, total, 0)


# -- questions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, message",
    [
        ("", "the question is empty"),
        ("   \t\n  ", "the question is empty"),
        ("\x00\x07\x1b\x7f", "the question is empty"),
        (LONG_QUESTION, "20,000 characters long; the limit is 2,000"),
    ],
    ids=["empty", "whitespace", "control-only", "20k-chars"],
)
def test_unusable_questions_raise_question_error(
    seeds_engine: rag.Engine, question: str, message: str
) -> None:
    with pytest.raises(QuestionError, match=re.escape(message)) as info:
        seeds_engine.ask(question)
    assert "\n" not in str(info.value)


def test_control_characters_inside_a_question_are_ignored(seeds_engine: rag.Engine) -> None:
    clean = seeds_engine.ask("Who is Vladimir Putin's envoy that held talks in Florida?")
    dirty = seeds_engine.ask("Who is\x00 Vladimir Putin's\x1b envoy that\u200b held talks in Florida?\x07")
    assert not clean.abstained and "Dmitriev" in clean.text
    assert dirty.citations == clean.citations and "Dmitriev" in dirty.text


@pytest.mark.parametrize(
    "question",
    ["Кто такой Дмитриев?", "谁是德米特里耶夫？", "من هو ديميترييف؟"],
    ids=["cyrillic", "chinese", "arabic"],
)
def test_a_question_in_a_script_the_articles_do_not_use_abstains_with_a_reason(
    seeds_engine: rag.Engine, question: str
) -> None:
    # The seeds are English: no word of these questions is in them, so nothing can be cited.
    answer = seeds_engine.ask(question)
    assert answer.question == question
    assert answer.abstained and answer.abstain_reason.startswith("The articles do not")
    assert not answer.citations
    json.dumps(answer.to_dict(), ensure_ascii=False)


def test_an_emoji_between_names_does_not_stop_the_answer(seeds_engine: rag.Engine) -> None:
    answer = seeds_engine.ask("Dmitriev 🤝 Witkoff?")
    assert not answer.abstained
    retrieved = {p.paragraph_id for p in answer.passages}
    assert answer.citations and {c.paragraph_id for c in answer.citations} <= retrieved
    assert "Dmitriev" in answer.text


@pytest.fixture
def seeds_env(seeds_engine: rag.Engine, model_dir: Path) -> dict[str, str]:
    s = seeds_engine.settings
    return cli_env(Path(s.corpus), s.index_dir, model_dir)


@pytest.mark.parametrize(
    "question, message",
    [
        ("", "the question is empty"),
        ("  \t  ", "the question is empty"),
        ("\x07\x1b\x7f", "the question is empty"),
        (LONG_QUESTION, "20,000 characters long; the limit is 2,000"),
    ],
    ids=["empty", "whitespace", "control-only", "20k-chars"],
)
def test_cli_unusable_questions_are_one_line_errors(
    seeds_env: dict[str, str], tmp_path: Path, question: str, message: str
) -> None:
    assert_one_line_error(run_cli(["ask", question], seeds_env, tmp_path), message)


@pytest.mark.parametrize(
    "question", ["Кто такой Дмитриев?", "谁是德米特里耶夫？"], ids=["cyrillic", "chinese"]
)
def test_cli_non_latin_question_prints_an_answer_or_reason(
    seeds_env: dict[str, str], tmp_path: Path, question: str
) -> None:
    out = run_cli(["ask", question, "--json"], seeds_env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    data = json.loads(out.stdout)
    assert data["question"] == question
    assert data["abstained"] and data["abstain_reason"].startswith("The articles do not")
    assert data["citations"] == []


def test_cli_question_with_undecodable_bytes_is_answered(seeds_env: dict[str, str], tmp_path: Path) -> None:
    out = run_cli([b"ask", b"Who is Putin's envoy \xff\xfe in Florida?"], seeds_env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Dmitriev" in out.stdout


def test_progress_off_a_terminal_prints_every_tenth_and_every_half_minute(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    # Longest paragraphs go first, so the first 10 % of a big ingest can take minutes: a log
    # must still show it is alive, with the rate so far.
    from rag import engine as engine_mod

    clock = [1000.0]
    monkeypatch.setattr(engine_mod.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(engine_mod.sys.stderr, "isatty", lambda: False)
    bar = engine_mod._ProgressBar("embedding")
    for done, at in [(0, 0), (100, 10), (200, 20), (300, 31), (400, 40), (1000, 50), (1050, 51)]:
        clock[0] = 1000.0 + at
        bar.update(done, 10_000)
    lines = capsys.readouterr().err.splitlines()
    seen = [tuple(map(int, PROGRESS.search(line).groups())) for line in lines]  # type: ignore[union-attr]
    assert seen == [(0, 10_000), (300, 10_000), (1000, 10_000)], lines
    assert lines[1].endswith("(31 s, 10/s)"), lines[1]


# -- boilerplate across articles ------------------------------------------------------------------

_PROMO = "Prep for the polls: see who is running for mayor and compare where they stand in our Voter Guide."
_BEATS = [
    ("Harbour dredging", "The port authority will dredge the north channel to 14 metres", "Barges arrive"),
    ("Lunch prices", "School lunches in Alder County will cost 40 cents more", "Parents objected"),
    ("Bridge repairs", "The Kessel Street bridge closes for welding", "Detours run via Mill Road"),
    ("Library hours", "The central library opens on Sundays from March", "Volunteers staff the desk"),
    ("Orchard prize", "Farmer Tobiah Renn won the orchard prize for his pears", "Judges tasted 60 pears"),
    ("Bus routes", "Route 9 buses will run every ten minutes at rush hour", "The depot hires eight drivers"),
]


def _promo_article(corpus: Path, i: int) -> None:
    title, first, second = _BEATS[i]
    (corpus / f"beat{i}.txt").write_text(
        f"{title}\n\n{first}, officials said on Monday.\n\n{_PROMO}\n\n{second}, the report added.\n",
        encoding="utf-8",
    )


def test_boilerplate_is_not_indexed_and_follows_the_corpus(tmp_path: Path, make_engine) -> None:  # type: ignore[no-untyped-def]
    """A promo in 4 unrelated articles is content; in 6 (at least 5 stories) it is boilerplate,
    removed by the next ingest; when 2 articles go, it comes back. Other ids never move."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(4):
        _promo_article(corpus, i)
    engine = make_engine(corpus)

    def promo_found() -> bool:
        return any(p.text == _PROMO for p in engine.retrieve(_PROMO, k=10))

    first = engine.ingest(progress=False)
    assert (first.paragraphs, first.boilerplate) == (12, 0)
    assert "0 boilerplate paragraphs not indexed" in first.summary()
    assert [p.paragraph_id for p in engine.article("beat0")] == ["beat0#p1", "beat0#p2", "beat0#p3"]
    assert promo_found()

    for i in (4, 5):
        _promo_article(corpus, i)
    grown = engine.ingest(progress=False)
    assert (grown.paragraphs, grown.boilerplate, grown.added, grown.removed) == (12, 6, 4, 4)
    assert [p.paragraph_id for p in engine.article("beat0")] == ["beat0#p1", "beat0#p3"]
    assert engine._index.count() == engine._index.bm25_count() == 12
    assert not promo_found()

    for i in (4, 5):
        (corpus / f"beat{i}.txt").unlink()
    shrunk = engine.ingest(progress=False)
    assert (shrunk.paragraphs, shrunk.boilerplate, shrunk.added, shrunk.removed) == (12, 0, 4, 4)
    assert [p.paragraph_id for p in engine.article("beat0")] == ["beat0#p1", "beat0#p2", "beat0#p3"]
    assert engine._index.count() == engine._index.bm25_count() == 12
    assert promo_found()
