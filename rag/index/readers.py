"""Many reads of the index at once, or one snapshot swap (the chat page's threads share one index)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Readers:
    """Many reads at once, or one snapshot swap: a swap waits for the reads running and holds new
    ones back until it is done, so a read never sees half of one snapshot and half of the next."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._reads = 0
        self._swapping = False
        self._waiting = 0  # swaps waiting: new reads let them go first
        self._local = threading.local()

    def inside(self) -> bool:
        """This thread is within a read."""
        return bool(getattr(self._local, "inside", False))

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._swapping or self._waiting:
                self._cond.wait()
            self._reads += 1
        self._local.inside = True
        try:
            yield
        finally:
            self._local.inside = False
            with self._cond:
                self._reads -= 1
                if not self._reads:
                    self._cond.notify_all()

    @contextmanager
    def swapping(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._swapping or self._reads:
                self._cond.wait()
            self._waiting -= 1
            self._swapping = True
        try:
            yield
        finally:
            with self._cond:
                self._swapping = False
                self._cond.notify_all()
