"""The engine inside LlamaIndex apps: a retriever of cited paragraphs and a query engine of verified answers.

Install the extra (`pip install 'rag-news[llamaindex]'`) and import this module yourself: `rag`,
the CLI and the page never do, so importing llama-index (over a second) stays off their path.
Nothing here reads llama-index's global `Settings` (whose defaults call OpenAI); pass an `llm`
to any LlamaIndex part that needs one.

    from rag.llamaindex import EngineQueryEngine, EngineRetriever
    retriever = EngineRetriever(engine, k=5, as_of="2024-01-12")      # paragraphs as NodeWithScore
    query_engine = EngineQueryEngine(engine=engine)                    # our cited, verified answer
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.response.schema import Response
from llama_index.core.callbacks import CallbackManager
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode

from rag.engine import Engine
from rag.schema import Answer, Citation, Passage

# What neither an LLM nor an embedder should read as text: ids, ranks and bookkeeping.
HIDDEN_FROM_LLM = ["article_id", "paragraph_id", "rank", "dense_rank", "bm25_rank", "also_in", "citation_key"]
# An embedder reads what a paragraph is about: its words, its article's title and date.
HIDDEN_FROM_EMBEDDER = [*HIDDEN_FROM_LLM, "url", "paragraph", "quote"]


def _node(
    paragraph_id: str,
    article_id: str,
    text: str,
    title: str,
    n: int,
    url: str,
    publish_date: str,
    also_in: Sequence[str],
    extra: dict[str, Any],
) -> TextNode:
    fields: dict[str, Any] = {
        "title": title,
        "publish_date": publish_date,
        "url": url,
        "paragraph": n,
        "article_id": article_id,
        "paragraph_id": paragraph_id,
        "also_in": ", ".join(also_in),  # flat, as vector stores want metadata
        **extra,
    }
    # An unknown date or url is left out, not shown to an LLM as an empty field.
    metadata = {key: value for key, value in fields.items() if value is not None and value != ""}
    return TextNode(
        id_=paragraph_id,
        text=text,
        metadata=metadata,
        relationships={
            NodeRelationship.SOURCE: RelatedNodeInfo(node_id=article_id, metadata={"title": title})
        },
        excluded_llm_metadata_keys=list(HIDDEN_FROM_LLM),
        excluded_embed_metadata_keys=list(HIDDEN_FROM_EMBEDDER),
    )


def passage_node(passage: Passage) -> NodeWithScore:
    """A retrieved paragraph as LlamaIndex's node: its id the paragraph id, its source the article."""
    node = _node(
        passage.paragraph_id,
        passage.article_id,
        passage.text,
        passage.title,
        passage.n,
        passage.url,
        passage.publish_date,
        passage.also_in,
        {"rank": passage.rank, "dense_rank": passage.dense_rank, "bm25_rank": passage.bm25_rank},
    )
    return NodeWithScore(node=node, score=passage.score)


def citation_node(citation: Citation, passage: Passage | None = None) -> NodeWithScore:
    """A cited paragraph as a node, with its citation key and the sentence quoted; scored as retrieved."""
    node = _node(
        citation.paragraph_id,
        citation.article_id,
        citation.text,
        citation.title,
        citation.n,
        citation.url,
        citation.publish_date,
        citation.also_in,
        {"citation_key": citation.key, "quote": citation.quote, "rank": passage.rank if passage else None},
    )
    return NodeWithScore(node=node, score=passage.score if passage else None)


def answer_response(answer: Answer) -> Response:
    """Our answer as LlamaIndex's `Response`: the cited text (an abstention's reason, "The articles
    do not mention ..."), the cited paragraphs as source nodes (in citation order), the citations
    and the rest of the answer in `metadata`."""
    retrieved = {p.paragraph_id: p for p in answer.passages}
    return Response(
        response=answer.text or answer.abstain_reason,
        source_nodes=[citation_node(c, retrieved.get(c.paragraph_id)) for c in answer.citations],
        metadata={
            "citations": [c.to_dict() for c in answer.citations],
            "abstained": answer.abstained,
            "abstain_reason": answer.abstain_reason,
            "as_of": answer.as_of,
            "time_scope": answer.time_scope,
            "mode": answer.mode,
            "notices": list(answer.notices),
            "unsupported": list(answer.unsupported),
            "answer": answer,
        },
    )


class EngineRetriever(BaseRetriever):
    """The engine's hybrid retrieval as a LlamaIndex retriever: one `NodeWithScore(TextNode)` per
    paragraph, best first. A `QueryBundle` carries no filters, so they are set here, once.

    Args:
        engine: An engine over an ingested index (`rag.open(...)`).
        k: Paragraphs per query (default: the engine's RAG_TOP_K).
        articles: Only these article ids.
        date_from: Only articles published on or after this date (YYYY-MM-DD).
        date_to: Only articles published on or before this date.
        as_of: The queries' "now": nothing published after it (default: the newest article's date).
    """

    def __init__(
        self,
        engine: Engine,
        k: int | None = None,
        articles: Sequence[str] | None = None,
        date_from: str = "",
        date_to: str = "",
        as_of: str | dt.date | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if k is not None and k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        super().__init__(callback_manager=callback_manager, verbose=verbose)
        self.engine = engine
        self.k = k
        self.articles = tuple(articles) if articles else None
        self.date_from = date_from
        self.date_to = date_to
        self.as_of = as_of

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        passages = self.engine.retrieve(
            query_bundle.query_str, self.k, self.articles, self.date_from, self.date_to, self.as_of
        )
        return [passage_node(p) for p in passages]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)


class EngineQueryEngine(CustomQueryEngine):
    """The engine's cited, verified answer as a LlamaIndex query engine (sync `query`, async
    `aquery`). The `Response` holds the answer text with its `[n]` markers, the cited paragraphs
    as `source_nodes`, and `metadata["citations"]` (and the whole `rag.Answer` as
    `metadata["answer"]`). `use_llm`: True / False / None as `Engine.ask`'s `llm`."""

    engine: Engine
    k: int | None = None
    articles: tuple[str, ...] | None = None
    date_from: str = ""
    date_to: str = ""
    as_of: str | None = None
    use_llm: bool | None = None

    def ask(self, question: str) -> Answer:
        """Our own `Answer` for `question`, under this query engine's filters."""
        return self.engine.ask(
            question,
            k=self.k,
            articles=self.articles,
            date_from=self.date_from,
            date_to=self.date_to,
            llm=self.use_llm,
            as_of=self.as_of,
        )

    def custom_query(self, query_str: str) -> Response:
        return answer_response(self.ask(query_str))

    async def acustom_query(self, query_str: str) -> Response:
        return await asyncio.to_thread(self.custom_query, query_str)
