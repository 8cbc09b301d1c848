"""The error hierarchy: every message names the bad value and says what to do."""

from __future__ import annotations


class RagError(Exception):
    """Base class for errors a user can act on; the CLI prints the message as one line."""


class ConfigError(RagError):
    """A setting has a value we cannot use."""


class CorpusError(RagError):
    """The corpus path does not exist or holds no readable article."""


class IndexMissingError(RagError):
    """No index has been built for this corpus and these settings."""


class IndexIncompleteError(RagError):
    """An ingest was interrupted; the index must be repaired by running ingest again."""


class IndexBusyError(RagError):
    """Another process is writing the index."""


class StoreUnavailableError(RagError):
    """The Chroma server (or embeddings endpoint) cannot be reached."""


class QuestionError(RagError):
    """The question is empty, too long or otherwise unusable."""


class EmbeddingError(RagError):
    """The encoder could not be loaded or the embeddings endpoint failed."""


class LLMError(RagError):
    """The language model failed; callers fall back to the extractive answer."""


class LLMServerError(RagError):
    """The local llama.cpp server could not start or failed its one-token check."""
