"""The snapshot-read protocol: a reader takes the committed BM25 snapshot whole, never half a swap."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.errors import IndexBusyError, IndexIncompleteError, IndexMissingError
from rag.index.keywords import KeywordSnapshot

SNAPSHOT_TRIES = 5  # reads of a BM25 snapshot a writer is swapping in, before giving up

Stamp = tuple[int, int]  # (inode, mtime) of a snapshot on disk
State = dict[str, Any]


def settled_state(
    read_state: Callable[[], State | None], writer_active: Callable[[], bool]
) -> tuple[State | None, bool]:
    """The state and whether a writer holds the lock, never a finished writer's stale state.

    A writer marks the state complete before it lets go of the lock, so a state read as
    incomplete while the lock is already free is read again: the writer may have finished in
    between, and only a state still incomplete then is an interrupted ingest.
    """
    state = read_state()
    writing = writer_active()
    if not writing and state is not None and not state.get("complete"):
        state = read_state()
    return state, writing


def take(
    keywords: KeywordSnapshot,
    load: Callable[[], None],
    read_state: Callable[[], State | None],
    writer_active: Callable[[], bool],
    index_dir: Path,
) -> tuple[Stamp, State]:
    """Load the committed snapshot with `load`; returns its stamp and the state committed with it.

    A writer swaps a new snapshot in by renaming directories; one read while that happens may mix
    files of both, so a snapshot is taken only if its stamp held while it was read.

    Raises:
        IndexMissingError: No index was ever built here.
        IndexIncompleteError: The last ingest was interrupted, or the snapshot is damaged.
        IndexBusyError: The snapshot changed on every read.
    """
    for attempt in range(SNAPSHOT_TRIES):
        stamp = keywords.stamp()
        state, writing = settled_state(read_state, writer_active)
        if state is None or stamp is None:
            if writing and attempt + 1 < SNAPSHOT_TRIES:  # mid-swap: the new one is a moment away
                time.sleep(0.05)
                continue
            raise _absent(state, writing, index_dir)
        if not state.get("complete") and not writing:
            raise IndexIncompleteError(
                f"ingestion of {index_dir} was interrupted; run `rag ingest` to finish it"
            )
        if _loaded_whole(keywords, load, stamp, index_dir):
            return stamp, state
    keywords.unload()
    raise IndexBusyError(
        f"the index in {index_dir} changed {SNAPSHOT_TRIES} times while it was read; ask again"
    )


def _absent(state: State | None, writing: bool, index_dir: Path) -> Exception:
    """The error for a snapshot or state that is not there."""
    if state is not None and not writing:
        return IndexIncompleteError(f"ingestion of {index_dir} is incomplete; run `rag ingest` to finish it")
    return IndexMissingError(f"no index in {index_dir} for these settings; run `rag ingest` first")


def _loaded_whole(keywords: KeywordSnapshot, load: Callable[[], None], stamp: Stamp, index_dir: Path) -> bool:
    """Load the snapshot; False if a writer swapped it in meanwhile (read it again)."""
    try:
        load()
    except (OSError, ValueError, KeyError) as e:
        keywords.unload()
        if keywords.stamp() == stamp:  # not a swap: a damaged snapshot
            raise IndexIncompleteError(
                f"the search snapshot of {index_dir} is damaged ({e}); run `rag ingest` to rebuild it"
            ) from e
        return False
    return keywords.stamp() == stamp
