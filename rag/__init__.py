"""Question answering over news articles, every answer sentence cited to a paragraph.

import rag
engine = rag.open(corpus="seeds", index_dir=".rag")
engine.ingest()
answer = engine.ask("Who co-owns the Faena hotel?")
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.schema import Answer, Article, Citation, Paragraph, Passage

if TYPE_CHECKING:
    from rag.engine import Conversation, Engine

__all__ = [
    "Answer",
    "Article",
    "Citation",
    "Conversation",
    "Engine",
    "Paragraph",
    "Passage",
    "RagError",
    "ask",
    "open",
]

_default: Engine | None = None
_default_lock = threading.Lock()


def open(  # noqa: A001 - mirrors the builtin on purpose: rag.open(...) opens an index
    corpus: str | Path | None = None, index_dir: str | Path | None = None, **settings: Any
) -> Engine:
    """An `Engine` over `corpus` with its index in `index_dir`; other RAG_* settings as keywords."""
    from rag.config import Settings
    from rag.engine import Engine

    known = set(Settings.model_fields)
    unknown = [name for name in settings if name not in known]
    if unknown:
        import difflib

        from rag.errors import ConfigError

        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; the settings are: {', '.join(sorted(known))}"
        raise ConfigError(f"rag.open() has no setting {unknown[0]!r}{hint}")
    overrides = dict(settings)
    if corpus is not None:
        overrides["corpus"] = str(corpus)
    if index_dir is not None:
        overrides["index_dir"] = Path(index_dir)
    return Engine(Settings(**overrides))


def ask(question: str, **kwargs: Any) -> Answer:
    """Answer on the default engine (RAG_CORPUS, default `seeds/`), ingesting on first use."""
    global _default
    with _default_lock:
        if _default is None:
            engine = open()
            engine.ensure_index(progress=False)
            _default = engine
    return _default.ask(question, **kwargs)


def __getattr__(name: str) -> Any:
    if name in {"Engine", "Conversation"}:
        from rag import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
