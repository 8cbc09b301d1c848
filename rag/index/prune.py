"""Indexes of other settings in an index directory: finding them, and deleting them with their disk."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from rag.index.store import COLLECTION_PREFIX, ChromaStore

_FILE_OF_INDEX = re.compile(r"(?:state-|bm25-|rows-)([0-9a-f]{10})(?:\.json|\.sqlite(?:-wal|-shm)?)?")


def other_fingerprints(index_dir: Path, fingerprint: str, chroma: ChromaStore) -> list[str]:
    """The fingerprints of the indexes in `index_dir` (files, local collections) other than `fingerprint`."""
    found = {m.group(1) for p in index_dir.glob("*-*") if (m := _FILE_OF_INDEX.fullmatch(p.name))}
    found |= {
        n.removeprefix(COLLECTION_PREFIX) for n in chroma.local_names() if n.startswith(COLLECTION_PREFIX)
    }
    return sorted(found - {fingerprint})


def delete_other_indexes(index_dir: Path, fingerprint: str, chroma: ChromaStore) -> tuple[list[str], int]:
    """Delete the indexes `other_fingerprints` finds (collections and files) while the caller holds
    the writer lock; returns their fingerprints and the bytes freed in `index_dir`."""
    before = _disk_bytes(index_dir)
    others = other_fingerprints(index_dir, fingerprint, chroma)
    chroma.drop({f"{COLLECTION_PREFIX}{fp}" for fp in others})
    for path in list(index_dir.glob("*-*")):
        m = _FILE_OF_INDEX.fullmatch(path.name)
        if m and m.group(1) in others:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    chroma.compact()
    return others, max(0, before - _disk_bytes(index_dir))


def _disk_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
