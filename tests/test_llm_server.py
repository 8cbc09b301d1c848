"""The local llama.cpp server's start-up check, against stand-in servers that crash or fail."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rag import cli
from rag.errors import LLMServerError
from rag.llm_server import LocalLLMServer, free_port

FAKE = Path(__file__).with_name("fake_model_server.py")


def stand_in(mode: str, tmp_path: Path) -> LocalLLMServer:
    port = free_port()
    return LocalLLMServer(
        port=port, log=tmp_path / "server.log", command=[sys.executable, str(FAKE), str(port), mode]
    )


def test_a_server_that_answers_a_token_passes_the_check(tmp_path: Path) -> None:
    server = stand_in("ok", tmp_path)
    with server:
        assert server.proc is not None and server.proc.poll() is None
    assert server.proc.poll() is not None  # stopped on leaving


def test_a_server_that_dies_on_its_first_token_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    server = stand_in("segv", tmp_path)
    with pytest.raises(LLMServerError) as caught:
        server.start(timeout_s=30)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the llama.cpp server died with SIGSEGV on its first token")
    assert "does not run on this CPU" in message and "make llm" in message
    assert server.proc is not None and server.proc.returncode == -11


def test_a_server_that_answers_500_names_the_status_and_its_first_line(tmp_path: Path) -> None:
    server = stand_in("http500", tmp_path)
    with pytest.raises(
        LLMServerError,
        match=r"^the llama.cpp server answered its first token with HTTP 500: "
        r"ggml_compute_forward: unsupported op$",
    ):
        server.start(timeout_s=30)
    assert server.proc is not None and server.proc.poll() is not None  # stopped, not left running


def test_the_cli_check_prints_one_line_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import rag.llm_server

    monkeypatch.setattr(rag.llm_server, "LocalLLMServer", lambda **kw: stand_in("segv", tmp_path))
    assert cli.main(["llm-server", "--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rag: error: the llama.cpp server died with SIGSEGV")
    assert "Traceback" not in err
