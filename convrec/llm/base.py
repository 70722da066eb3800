"""The LLM protocol every backend implements (`complete`, optionally `stream`), the values it returns,
and the JSON helpers the backends share: a schema as an instruction, the first JSON object of a reply.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
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
    cached_tokens: int = 0  # prompt tokens whose KV cache was reused, not evaluated (where a backend says)


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


class Metered:
    """Counts the tokens of the calls made through it (for a stage that does not report them)."""

    def __init__(self, llm: LLM) -> None:
        self.llm, self.name = llm, llm.name
        self.prompt_tokens = self.completion_tokens = self.cached_tokens = 0

    def complete(self, messages: list[Message], **kwargs: Any) -> Completion:
        out = self.llm.complete(messages, **kwargs)
        self.prompt_tokens += out.prompt_tokens
        self.completion_tokens += out.completion_tokens
        self.cached_tokens += out.cached_tokens
        return out


def stream_text(llm: LLM, messages: list[Message], *, max_tokens: int = 256) -> Iterator[str]:
    """The model's free-text answer piece by piece where its backend streams, else whole."""
    stream = getattr(llm, "stream", None)
    if stream is not None:
        yield from stream(messages, max_tokens=max_tokens)
    else:
        yield llm.complete(messages, max_tokens=max_tokens).text


def schema_instruction(schema: dict[str, Any]) -> str:
    """The sentence that asks a model without constrained decoding for JSON matching `schema`."""
    return "Reply with one JSON object and nothing else. It must match this JSON schema:\n" + json.dumps(
        schema, ensure_ascii=False
    )


def with_schema_instruction(messages: list[Message], schema: dict[str, Any]) -> list[Message]:
    """`messages` with `schema_instruction` appended to the system message (added if absent)."""
    note = schema_instruction(schema)
    if messages and messages[0]["role"] == "system":
        first: Message = {"role": "system", "content": messages[0]["content"] + "\n\n" + note}
        return [first, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


def extract_first_json(text: str) -> str | None:
    """The first complete JSON object in `text`, as text; None if there is none.

    >>> extract_first_json('Sure! {"a": [1, {"b": 2}]} and {"c": 3}')
    '{"a": [1, {"b": 2}]}'
    """
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            obj, end = decoder.raw_decode(text, start)
        except ValueError:
            pass
        else:
            if isinstance(obj, dict):
                return text[start:end]
        start = text.find("{", start + 1)
    return None


def compact_json_constraint(schema: dict[str, Any]) -> dict[str, Any]:
    """Request fields that constrain llama.cpp to `schema`, written on one line.

    llama.cpp's own `response_format` grammar lets the model pretty-print, and a 1.5B model
    does: the rerank answer `{"order": [1, 2, 4, 5, 6]}` took 19 decoded tokens on one line
    against 34 indented (measured), at ~15 tokens/s on 2 cores. llguidance's JSON grammar can
    fix the separators. They stay `", "` and `": "` (json.dumps style): with no spaces at all
    the model drifted out of distribution and looped inside an open string array.
    """
    import xllamacpp as xlc

    style = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
    grammar = xlc.json_schema_to_grammar(json.dumps({**schema, "x-guidance": style}))
    if grammar.lstrip().startswith("%llguidance"):
        return {"grammar": grammar}
    return {"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}}
