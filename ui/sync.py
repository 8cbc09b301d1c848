"""The page's background sync: `rag serve` is up at once, brings the index up to date on a thread,
and says what it is doing in the page's status line."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rag.engine import Engine
from rag.errors import RagError
from rag.schema import SyncReport

STAGE_WORDS = {  # Engine.ensure_index's stages, as the status line says them (others verbatim)
    "check": "checking the articles for changes",
    "reading": "reading the articles",
    "embedding": "embedding paragraphs",
    "cluster": "starting the Ray cluster",
}


class IndexSync:
    """Runs `engine.ensure_index` on a thread and keeps what it is doing, for the status line.

    `on_done` callbacks run on the sync thread once it ends (whether or not anything changed),
    e.g. to refresh the article filter's choices.
    """

    def __init__(self, engine: Engine, log: Callable[[str], None] | None = None) -> None:
        self.engine = engine
        self._log = log
        self._lock = threading.Lock()
        self._stage = ""
        self._done = 0
        self._total = 0
        self._started = 0.0
        self.running = False
        self.finished = threading.Event()
        self.report: SyncReport | None = None
        self.error = ""
        self.seconds = 0.0
        self.generation = 0  # bumped when a sync ends: pages then refresh their article lists
        self.on_done: list[Callable[[], None]] = []
        self._thread: threading.Thread | None = None

    def start(self) -> threading.Thread:
        """Start the sync on a daemon thread (once); returns the thread."""
        with self._lock:
            if self._thread is None:
                self.running = True
                self._stage = "check"
                self._started = time.monotonic()
                self._thread = threading.Thread(target=self.run, name="rag-index-sync", daemon=True)
                self._thread.start()
            return self._thread

    def run(self) -> None:
        """The sync itself (the thread's body; call `start` instead)."""
        with self._lock:
            self.running = True
            self._started = self._started or time.monotonic()
        try:
            self.report = self.engine.ensure_index(progress=self.progress)
            self.engine.warm()  # off the first users' clock
        except RagError as e:
            self.error = str(e)
        except Exception as e:  # a bug must not take the page down with it
            self.error = f"the index sync failed ({type(e).__name__}: {e})"
        finally:
            with self._lock:
                self.running = False
                self.seconds = time.monotonic() - self._started
                self.generation += 1
            self._say(self.summary())
            for callback in list(self.on_done):
                try:
                    callback()
                except Exception as e:  # noqa: BLE001 - reported, the sync itself is done
                    self._say(f"after the sync: {type(e).__name__}: {e}")
            self.finished.set()

    def progress(self, stage: str, done: int = 0, total: int = 0) -> None:
        """Engine.ensure_index's progress callback: the stage and how far it is."""
        with self._lock:
            self._stage, self._done, self._total = stage, done, total

    def activity(self) -> str:
        """What the sync is doing now, for the status line ("" once it is done without news)."""
        with self._lock:
            running, stage, done, total = self.running, self._stage, self._done, self._total
        if running:
            words = STAGE_WORDS.get(stage, stage.replace("_", " "))
            if total:
                return f"syncing: {words} {done:,} / {total:,}…"
            return f"syncing: {words}…"
        if self.error:
            return f"sync failed: {self.error}"
        return ""

    def summary(self) -> str:
        """One line on how the sync ended."""
        if self.error:
            return f"index sync failed after {self.seconds:.1f} s: {self.error}"
        if self.report is None:
            return f"index up to date (checked in {self.seconds:.1f} s)"
        return f"index synced in {self.seconds:.1f} s: {self.report.summary()}"

    def _say(self, line: str) -> None:
        if self._log is not None:
            self._log(line)
