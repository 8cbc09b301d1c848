"""Settings from RAG_* environment variables and `.env`; the fingerprint names the index."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Bump when paragraph splitting or what we store per paragraph changes (history: git log -S INDEX_FORMAT).
INDEX_FORMAT_VERSION = 5
LOCAL_EMBED_MODEL = "all-MiniLM-L6-v2"


# How the local model is exported to ONNX (rag/embedding.py). Bump when the recipe changes: the
# cached export is then made anew, and, as the vectors change, the index too (it is in the id).
EXPORT_RECIPE = 3


class Settings(BaseSettings):
    """Every knob of the engine. Read once, by `rag.engine`; everything else gets values passed in."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_file=".env", extra="ignore", populate_by_name=True
    )

    corpus: str = Field("seeds", description="Folder(s) or file(s) of articles, comma-separated.")
    index_dir: Path = Field(Path(".rag"), description="Where the Chroma store and BM25 index live.")
    model_dir: Path | None = Field(
        None, description="Cache for the ONNX export of the local model (default: <index_dir>/models)."
    )
    chroma_url: str | None = Field(
        None, description="Use a Chroma server (e.g. http://127.0.0.1:8000) instead of index_dir."
    )

    embed_model: str = Field(
        LOCAL_EMBED_MODEL,
        description="Embedding model: the bundled local model, or a model name at embed_base_url.",
    )
    embed_base_url: str | None = Field(
        None, description="OpenAI-compatible embeddings endpoint (e.g. http://127.0.0.1:11434/v1)."
    )
    embed_api_key: str | None = Field(None, description="API key for embed_base_url, if it needs one.")
    embed_quantize: bool = Field(
        True,
        description="Run the local encoder as dynamic int8 ONNX: encoder 1.5x and whole ingest 1.15x "
        "faster, vectors within cos 0.99 of float32, seeds eval within one item; false for float32.",
    )
    embed_batch_size: int = Field(32, ge=1, le=1024, description="Paragraphs per encoder batch.")
    embed_threads: int = Field(0, ge=0, description="onnxruntime threads; 0 = all cores.")
    min_paragraph_words: int = Field(
        3, ge=1, description="Shorter lines (headings, captions) are not indexed as paragraphs."
    )

    top_k: int = Field(5, ge=1, le=50, description="Passages given to the answerer.")
    candidates: int = Field(30, ge=1, le=500, description="Candidates per retriever before fusion.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant.")
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are refused.")

    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible server (Ollama, vLLM, llama.cpp), e.g. http://127.0.0.1:8080/v1."
    )
    llm_model: str = Field("gpt-4o-mini", description="Model name sent to the LLM server.")
    llm_timeout_s: float = Field(30.0, gt=0, description="Overall deadline for one LLM answer.")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")
    llm_max_tokens: int = Field(400, ge=16, le=8192, description="Longest LLM reply, in tokens.")
    llm_max_retries: int = Field(
        2, ge=0, le=10, description="Extra LLM attempts after a 429, a 5xx or a dropped connection."
    )
    llm_backoff_s: float = Field(
        0.5, ge=0, description="First back-off between LLM attempts; doubles per retry."
    )
    llm_response_format: str = Field(
        "auto",
        pattern="^(auto|json_schema|json_object|text)$",
        description="LLM reply format: auto tries json_schema, then json_object, then text.",
    )
    llm_breaker_failures: int = Field(
        3, ge=1, description="Consecutive LLM failures that open the circuit breaker."
    )
    llm_breaker_cooldown_s: float = Field(
        60.0, ge=0, description="How long the LLM is skipped once the breaker opens."
    )
    openai_api_key: str | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "RAG_OPENAI_API_KEY"),
        description="Key for OpenAI itself (or a server that wants one).",
    )

    server_host: str = Field("127.0.0.1", description="Interface `rag serve` binds (0.0.0.0 exposes it).")
    server_port: int = Field(7860, ge=1, le=65535, description="Port `rag serve` listens on.")
    auth: str | None = Field(
        None, description='Login for `rag serve` as "user:password"; unset means no login.'
    )
    allowed_hosts: str = Field(
        "",
        description="Host names `rag serve` answers to besides 127.0.0.1, localhost and server_host "
        "(comma-separated; * for any): a request naming another host is refused (DNS rebinding).",
    )

    @field_validator("corpus")
    @classmethod
    def _corpus_not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("RAG_CORPUS is empty; set it to a folder of articles, e.g. RAG_CORPUS=seeds")
        return v

    @property
    def corpus_paths(self) -> list[Path]:
        return [Path(p.strip()) for p in self.corpus.split(",") if p.strip()]

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url or self.openai_api_key)

    def embedder_id(self) -> str:
        """What produces the vectors: changing it means a different index."""
        if self.embed_base_url:
            return f"remote:{self.embed_base_url}:{self.embed_model}"
        return f"local:{self.embed_model}:r{EXPORT_RECIPE}:{'int8' if self.embed_quantize else 'fp32'}"

    def fingerprint(self) -> str:
        """Hash of every setting that changes vectors or paragraphs; names the collection."""
        keys = {
            "format": INDEX_FORMAT_VERSION,
            "embedder": self.embedder_id(),
            "min_paragraph_words": self.min_paragraph_words,
        }
        return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:10]
