"""The `rag` command as a user runs it: JSON output, summaries, one-line errors and exit codes."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def env(tmp_path: Path, model_dir: Path) -> dict[str, str]:
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    return {
        **os.environ,
        "RAG_CORPUS": str(tmp_path / "seeds"),
        "RAG_INDEX_DIR": str(tmp_path / "index"),
        "RAG_MODEL_DIR": str(model_dir),
        "RAG_PROGRESS": "0",
    }


def test_ingest_twice_then_ask_json(env: dict[str, str], tmp_path: Path) -> None:
    first = run(["ingest"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "79 added" in first.stdout and "5 articles" in first.stdout
    second = run(["ingest"], env, tmp_path)
    assert "0 added" in second.stdout and "79 unchanged" in second.stdout and "0 embedded" in second.stdout

    out = run(["ask", "Who co-owns the Faena Miami Beach hotel?", "--json"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"question", "text", "abstained", "abstain_reason", "citations", "passages", "timings_ms"} <= set(
        data
    )
    assert not data["abstained"] and "Blavatnik" in data["text"]
    cite = data["citations"][0]
    assert {"key", "paragraph_id", "article_id", "title", "text"} <= set(cite)
    assert f"[{cite['key']}]" in data["text"]
    assert cite["paragraph_id"] in [p["paragraph_id"] for p in data["passages"]]
    assert all({"paragraph_id", "score", "text"} <= set(p) for p in data["passages"])

    # An abstention in plain text says what is missing, then where it looked closest.
    out = run(["ask", "Who chatted with Putin in Moscow?"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "The articles do not mention \u201cchatted\u201d."
    assert lines[2] == "closest paragraphs searched (not an answer):"
    assert len(lines) == 8 and all(line.startswith("- ") and "#p" in line for line in lines[3:6])
    assert any("accompanied by Jared Kushner" in line for line in lines[3:6])
    # The seeds carry no dates: the question's as-of date is today, and the answer says so.
    assert lines[7] == f"as of {datetime.date.today().isoformat()}"


@pytest.mark.parametrize(
    "args, message",
    [
        (["ask", "   "], "the question is empty"),
        (["ask", "Who is Witkoff?"], "run `rag ingest` first"),
        (["ingest", "no/such/folder"], "does not exist"),
    ],
)
def test_user_mistakes_are_one_line_errors(
    env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    out = run(args, env, tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rag: error:") and message in lines[0]
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["ask", "Who co-owns the Faena hotel?", "--from", "2024-13-45"],
            "--from date '2024-13-45' is not a date",
        ),
        (
            ["ask", "Who co-owns the Faena hotel?", "--as-of", "yesterday"],
            "as-of date 'yesterday' is not a date",
        ),
        (["ask", "Who co-owns the Faena hotel?", "--article", "nosuch"], "no article 'nosuch' in the index"),
        (
            ["ask", "Who co-owns the Faena hotel?", "--corpus", "/nonexistent/folder"],
            "no such file or folder",
        ),
    ],
)
def test_mistakes_that_used_to_pass_silently_exit_2(
    env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    assert run(["ingest"], env, tmp_path).returncode == 0
    out = run(args, env, tmp_path)
    assert out.returncode == 2, out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in out.stderr


def test_a_corpus_named_on_ask_is_the_one_answered_from(env: dict[str, str], tmp_path: Path) -> None:
    assert run(["ingest"], env, tmp_path).returncode == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "ledger.txt").write_text(
        "City ledger\n\nThe city of Brakton approved a budget of 12 million crowns for its harbour.\n",
        encoding="utf-8",
    )
    out = run(
        ["ask", "What budget did Brakton approve for its harbour?", "--corpus", str(other)], env, tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "12 million crowns" in out.stdout and "ledger" in out.stdout
    listed = run(["articles", "--corpus", str(other)], env, tmp_path)
    assert listed.stdout.startswith("ledger\t-\t1\tCity ledger")
