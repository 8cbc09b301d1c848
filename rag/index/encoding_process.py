"""The ingest's encoder in a process of its own, working ahead of the writes (both ends of its protocol)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from rag.embedding import Spans
from rag.errors import EmbeddingError


class EncodingProcess:
    """Encodes the steps given to `add` in a child process built from `spec` (an OnnxEncoder's),
    ahead of the caller.

    Chroma's `add` keeps the GIL for the whole call (its Rust binding does not release it), so an
    encoder in the writing process stalls whenever a write is in flight (eval/PERFORMANCE.md). Here
    the encoder runs as `python -m rag.index.encoding_process` (a plain child, so a caller's script
    is never re-imported). It starts before the caller has planned its steps (its start-up overlaps
    the planning); the caller hands each step's texts over with `add()` as it plans them, the child
    encodes them in order, at most `ahead` steps before the caller has taken them, and leaves each
    step's vectors in a file; the caller reads them in order with `result(i)`.

    Protocol: steps are files in the child's folder (`<i>.pickle` in, `<i>.npz` out); the child
    reads "allowed" step counts from stdin (one integer per line) and writes "done <i>" or
    "error <message>" lines to stdout. End of input stops it: the caller closes it when it has taken
    every result, kills the child when it stops early, and a caller killed outright is noticed at
    the child's next read or report (end of input, broken pipe). Either way the child removes its
    files and exits. The child must not be imported by the rag.index package itself: `python -m`
    would then run a second copy of it.
    """

    def __init__(self, spec: dict[str, Any], ahead: int = 2) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="rag-encode-"))
        self._ahead = ahead
        self._added = 0  # steps handed over with add()
        self._granted = 0  # steps the child may encode
        self._next = 0  # the step result() gives next
        try:
            # Started before the caller has its steps: its imports and model load overlap the planning.
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "rag.index.encoding_process", json.dumps(spec), str(self._dir)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        except OSError:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise

    def add(self, texts: Sequence[str], spans: Sequence[Spans]) -> None:
        """Hand over the next step's texts (the child reads them when it may encode them)."""
        path = self._dir / f"{self._added}.pickle"
        path.write_bytes(pickle.dumps((texts, spans), protocol=pickle.HIGHEST_PROTOCOL))
        self._added += 1
        self._grant()

    def _grant(self) -> None:
        allowed = min(self._next + self._ahead, self._added)
        if allowed > self._granted:
            self._granted = allowed
            self._send(allowed)

    def _send(self, allowed: int) -> None:
        assert self._proc.stdin is not None
        with contextlib.suppress(OSError):  # the child is gone; result() says why
            self._proc.stdin.write(f"{allowed}\n".encode())
            self._proc.stdin.flush()

    def result(self, i: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Step `i`'s paragraph vectors and sentence vectors, as `encode_paragraphs` returns them."""
        if i != self._next or i >= self._added:
            raise ValueError(f"results are read in order, of added steps: expected {self._next}, got {i}")
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().decode().strip()
        if line != f"done {i}":
            if line:
                reason = line.removeprefix("error ")
            else:  # killed (out of memory?) before it could say why
                try:
                    reason = f"it stopped (exit code {self._proc.wait(timeout=5)})"
                except subprocess.TimeoutExpired:
                    reason = "it closed its output"
            raise EmbeddingError(f"the encoder process failed at step {i}: {reason}")
        path = self._dir / f"{i}.npz"
        with np.load(path) as z:
            vecs, counts, sentences = z["vecs"], z["counts"], z["sentences"]
        path.unlink()
        self._next += 1
        self._grant()
        return vecs, np.split(sentences, np.cumsum(counts)[:-1]) if len(counts) else []

    def close(self) -> None:
        """Stop the child and remove its files: at once when results are left (the caller failed or
        was interrupted, and the rest is wasted work); else closing its input ends it."""
        if self._next < self._added:
            self._proc.kill()
        for pipe in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError):
                if pipe:
                    pipe.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> EncodingProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _CallerGone(Exception):
    """End of input, or a closed report pipe: the caller is done, or was killed without stopping us."""


def _serve(spec: dict[str, Any], out: Path, control: IO[str], report: IO[str]) -> None:
    from rag.embedding import OnnxEncoder

    encoder = OnnxEncoder(Path(spec.pop("onnx_path")), **spec)
    allowed = 0
    for i in itertools.count():
        while i >= allowed:
            line = control.readline()
            if not line:  # the caller is done, or gone
                raise _CallerGone
            allowed = int(line)
        step = out / f"{i}.pickle"
        texts, spans = pickle.loads(step.read_bytes())
        step.unlink()
        vecs, sentence_vecs = encoder.encode_paragraphs(texts, spans)
        sentences = np.concatenate(sentence_vecs) if sentence_vecs else np.zeros((0, encoder.dim), np.float32)
        counts = np.array([len(s) for s in sentence_vecs], dtype=np.int64)
        tmp = out / f"{i}.tmp.npz"
        np.savez(tmp, vecs=vecs, counts=counts, sentences=sentences)
        tmp.rename(out / f"{i}.npz")
        try:
            report.write(f"done {i}\n")
            report.flush()
        except BrokenPipeError:
            raise _CallerGone from None


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group: the caller handles it, and stops this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Reports go to the real stdout; anything else printing there (a library's notice) goes to stderr.
    reports = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    out = Path(sys.argv[2])
    try:
        _serve(json.loads(sys.argv[1]), out, sys.stdin, reports)
    except _CallerGone:  # a killed caller will not remove the files
        shutil.rmtree(out, ignore_errors=True)
    except Exception as e:  # reported to the caller, which raises it as an EmbeddingError
        print(f"error {type(e).__name__}: {' '.join(str(e).split())}", file=reports, flush=True)
        sys.exit(1)
