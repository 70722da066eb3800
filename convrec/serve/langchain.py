"""LangChain adapters, where LangChain earns its place:

- `ConvrecRetriever`: convrec as a LangChain retriever (query -> catalogue Documents), so it
  drops into RAG chains;
- `recommend_tool`: convrec as a tool a LangChain agent can call, keeping one conversation
  (critiques such as "older" or "more like #2" work across calls);
- `ChatModelLLM`: any LangChain chat model (hosted APIs, local servers) as a convrec `LLM`.

Whatever an agent or model says, answers come from the catalogue: the tool returns only
items the recommender ranked.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import ConfigDict

from convrec.chat.session import Session
from convrec.core.errors import InputError, LLMError
from convrec.core.types import Rec
from convrec.llm.base import Completion, Message, extract_first_json, with_schema_instruction


def rec_document(rec: Rec) -> Document:
    """A recommendation as a LangChain Document: readable text plus the record as metadata."""
    it = rec.item
    text = f"{it.label()} — {', '.join(it.genres)}. {rec.why}"
    return Document(page_content=text, metadata={**rec.to_dict(), "tags": list(it.tags)})


class ConvrecRetriever(BaseRetriever):
    """Each query is a fresh one-turn conversation; returns the top `k` items as Documents."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    recommender: Any
    k: int = 5

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        turn = self.recommender.recommend(Session(), query, k=self.k)
        return [rec_document(r) for r in turn.recs]


def recommend_tool(recommender, session: Session | None = None, k: int = 5) -> BaseTool:
    """A tool that continues one conversation; the agent passes the person's words through."""
    state = {"session": session or Session()}

    def recommend_items(request: str) -> str:
        """Recommend catalogue items for what the person asked, e.g. 'a funny 90s movie,
        nothing scary' or a follow-up such as 'older' or 'more like #2'. Answers JSON: `reply`
        (what was understood, to pass on), `question` (one to ask the person, or null), `items`."""
        try:
            turn = recommender.recommend(state["session"], request, k=k)
        except InputError as e:
            return json.dumps({"error": str(e)})
        return json.dumps(turn.to_dict(), ensure_ascii=False)

    return StructuredTool.from_function(recommend_items, name="recommend_items")


class ChatModelLLM:
    """Adapts a LangChain chat model to convrec's one-method LLM protocol.

    With a schema, the model gets the schema in its system message and the first JSON object
    of its answer is returned (callers validate it either way).
    """

    def __init__(self, model: BaseChatModel, name: str | None = None) -> None:
        self.model = model
        self.name = name or f"langchain:{type(model).__name__}"

    def complete(
        self,
        messages: list[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> Completion:
        if schema is not None:
            messages = with_schema_instruction(messages, schema)
        pairs = [(m["role"] if m["role"] != "assistant" else "ai", m["content"]) for m in messages]
        try:
            reply = self.model.invoke(pairs)
        except Exception as e:  # any provider error becomes the one error the pipeline handles
            raise LLMError(f"{self.name} failed: {e}") from e
        text = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
        if schema is not None:
            text = extract_first_json(text) or text
        usage = getattr(reply, "usage_metadata", None) or {}
        return Completion(text, usage.get("input_tokens", 0), usage.get("output_tokens", 0))
