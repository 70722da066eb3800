"""One small LLM protocol; backends live behind it.

A backend implements one method, `complete(messages, schema=..., max_tokens=...)`, returning a
`Completion`. When `schema` is given the backend constrains decoding to that JSON schema where
it can (llama.cpp grammars, OpenAI `response_format`), and the caller still validates the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, TypedDict


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LLM(Protocol):
    name: str

    def complete(
        self,
        messages: list[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> Completion: ...
