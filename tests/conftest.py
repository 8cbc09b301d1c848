"""Shared fixtures: one ONNX export per session, a real index of the seeds per session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONNX export of the bundled model, made once for the whole test session."""
    from rag.embedding import ensure_onnx_model

    d = tmp_path_factory.mktemp("models")
    ensure_onnx_model(d)
    return d


@pytest.fixture(scope="session")
def seeds_engine(tmp_path_factory: pytest.TempPathFactory, model_dir: Path):  # type: ignore[no-untyped-def]
    """A real engine over a copy of the seeds, ingested once (read-only for tests)."""
    import rag

    corpus = tmp_path_factory.mktemp("seeds-corpus")
    for f in SEEDS.iterdir():
        shutil.copy(f, corpus / f.name)
    engine = rag.open(corpus=corpus, index_dir=tmp_path_factory.mktemp("seeds-index"), model_dir=model_dir)
    engine.ingest(progress=False)
    return engine


@pytest.fixture
def make_engine(tmp_path: Path, model_dir: Path):  # type: ignore[no-untyped-def]
    """Build an engine over a corpus folder of the test's own, with its index in tmp_path."""
    import rag

    def _make(corpus: Path, **settings):  # type: ignore[no-untyped-def]
        return rag.open(corpus=corpus, index_dir=tmp_path / "index", model_dir=model_dir, **settings)

    return _make


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright; never a downloaded browser."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; install it with `apt-get install -y chromium` (make test does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()
