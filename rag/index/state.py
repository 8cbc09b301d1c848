"""The index's state file (what the last ingest committed) and the lock that lets one ingest write."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.errors import IndexBusyError


def read_state(path: Path) -> dict[str, Any] | None:
    """The state file at `path`, or None when there is none (or it cannot be read)."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def write_state(path: Path, **state: Any) -> None:
    """Replace the state file at `path` whole (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, path)


@contextmanager
def writer_lock(path: Path) -> Iterator[None]:
    """Hold the ingest lock at `path` (its file names the holder); IndexBusyError if another has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise IndexBusyError(
                f"another `rag ingest` ({holder}) is writing {path.parent}; "
                "wait for it to finish, then run it again"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def writer_active(path: Path) -> bool:
    """True while another process holds the ingest lock at `path`."""
    if not path.exists():
        return False
    with open(path) as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def now() -> str:
    """The local time, as the state file records it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
