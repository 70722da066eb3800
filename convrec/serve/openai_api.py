"""OpenAI-compatible chat over `ChatService`, so chat front-ends and OpenAI clients (the `openai`
package, LangChain's `ChatOpenAI`) talk to convrec unchanged:

    POST /v1/chat/completions    messages in; the reply and the list as the assistant's message out
    GET  /v1/models              the one model, "convrec" (front-ends list it to choose from)

The API is stateless, as OpenAI's is: each request carries the whole conversation. Its earlier
user turns are replayed into a fresh session (`Recommender.replay`: no model call and no ranking
for turns already answered, so a long history costs about a millisecond a turn, not a model call
a turn): each as the model read it when this process answered it (its readings of recent
messages are kept), else as the rules read it (another replica, a restart), with the items its
assistant answer listed (read back from the numbered list of `content_of`), so constraints carry
("a comedy" -> "from the 90s" -> "nothing with horror") and nothing shown is shown again. Only
the last user turn gets the full pipeline, model included.
System and developer messages are not read: the catalogue answers every turn, and no instruction
(a prompt injection included) changes which items come back. Tool messages are skipped too.

The answer is a `chat.completion` whose message is `content_of(turn)`, plus a top-level "convrec"
field: the turn as the REST API returns it (`needs`, `reply`, `question`, `items`, `relaxed`, ...).
`usage` is approximate: about four characters a token, no tokenizer is run. With `stream: true`
the chunks are server-sent events: the role at once (once the quick preview shows the request is
valid), then, when the turn's words are final, the content in pieces (the reply, each listed item,
the question), then a chunk with `finish_reason` "stop" and the "convrec" field, then
`data: [DONE]`. The reply is not sent word by word as the model writes it: until the writing
ends a model sentence can still be refused and the template reply brought back, and a sent delta
cannot be taken back. An error after the stream began comes as `data: {"error": {...}}`; either
way the stream ends with `data: [DONE]`. The conversation is read (its listed titles matched,
at most `MAX_K` an assistant message) on a model thread, never on the event loop, and one client
runs at most `max_sessions_per_client` completions at once (429 beyond, as the REST API bounds
a client to that many conversations, each answering one turn at a time).

Errors are OpenAI's shape, {"error": {"message", "type", "param", "code"}}, with 400 for invalid
input (where the REST API answers 422). Sampling parameters (temperature, max_tokens, ...),
tools and response_format are accepted and ignored; `n` must be 1; the extension `k` (1-20) sets
how many items the answer lists. Left out on purpose: tool calls, pictures in messages, logprobs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator
from starlette.requests import Request  # at module level: FastAPI reads the handlers' annotations here

from convrec.chat.talk import Turn
from convrec.core.errors import InputError, RateLimited
from convrec.core.text import clean_message
from convrec.core.types import Item
from convrec.data.titles import TitleMatcher
from convrec.serve.service import MAX_K, ChatService, Said

log = logging.getLogger(__name__)

MODEL_ID = "convrec"
PATHS = ("/v1/chat/completions", "/v1/models")
EXAMPLE = '{"model": "convrec", "messages": [{"role": "user", "content": "a comedy"}]}'
CHARS_PER_TOKEN = 4  # OpenAI's rule of thumb for English; `usage` is an estimate
SKIPPED_ROLES = ("system", "developer", "tool", "function")
LISTED = re.compile(r"^\d+\. \*\*(.+)\*\* — ", re.MULTILINE)  # a line of `content_of`'s list
NOTHING = "I found nothing that fits; try saying it another way."

RunOnModelThread = Callable[..., Awaitable[Any]]  # `api.ModelThreads.run`


# -- schemas -------------------------------------------------------------------------------


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, refusal, ...: accepted, not read
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI's chat request; parameters not listed here are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(MODEL_ID, description="Any name: one model answers (see GET /v1/models).")
    messages: list[ChatMessage] = Field(
        min_length=1,
        description="The conversation so far, the person's last message last. System messages are not read.",
        examples=[[{"role": "user", "content": "a funny 90s movie, nothing with horror"}]],
    )
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    n: StrictInt | None = Field(None, description="Only 1: one answer per request.")
    k: StrictInt | None = Field(None, ge=1, le=MAX_K, description="convrec's extension: how many items (default 5).")

    @field_validator("n")
    @classmethod
    def _one(cls, v: int | None) -> int | None:
        if v not in (None, 1):
            raise ValueError("only n=1 is supported: one answer per request")
        return v


# -- the assistant's message and what it listed ---------------------------------------------------


def pieces(turn: Turn) -> list[str]:
    """The assistant's message in the pieces a stream sends: the reply, each listed item (bold
    label, genres, then its reason on an indented line), a note when the model was not used, the
    question last. `content_of` is their concatenation."""
    out = [turn.reply or NOTHING]
    for n, rec in enumerate(turn.recs, 1):
        gap = "\n\n" if n == 1 else "\n"
        out.append(f"{gap}{n}. **{rec.item.label()}** — {', '.join(rec.item.genres)}\n   {rec.why}")
    if turn.info.get("degraded"):
        out.append(f"\n\n_(ranked without the language model: {turn.info['degraded']})_")
    if turn.question:
        out.append(f"\n\n**{turn.question}**")
    return out


def content_of(turn: Turn) -> str:
    """The assistant's message for `turn` (Markdown, which chat front-ends render)."""
    return "".join(pieces(turn))


def finder(items: Iterable[Item], titles: TitleMatcher) -> Callable[[str], int | None]:
    """The item a listed label names: the one `content_of` wrote it for, else the nearest title
    (a message edited by hand); with two items of one label and year, the first.

    >>> find = finder([Item(7, "Russian Ark (Russkiy Kovcheg)", 2002)], TitleMatcher([]))
    >>> find("Russian Ark (Russkiy Kovcheg) (2002)"), find("Heat (1995)")
    (7, None)
    """
    exact: dict[str, int] = {}
    for item in items:
        exact.setdefault(item.label(), item.item_id)
    return lambda label: exact[label] if label in exact else titles.match(label)


def said_back(content: str, find: Callable[[str], int | None]) -> tuple[tuple[int, ...], bool]:
    """What an assistant message of `content_of`'s shape listed (catalogue ids, in order, as
    `find` resolves each label; the first MAX_K labels, the most an answer lists) and whether it
    asked a question; other messages list nothing.

    >>> said_back("Comedies.\\n\\n1. **Heat (1995)** — Crime\\n   Why.\\n\\n**Which decade?**", {"Heat (1995)": 7}.get)
    ((7,), True)
    """
    found = (find(m.group(1)) for m in itertools.islice(LISTED.finditer(content), MAX_K))
    shown = tuple(dict.fromkeys(i for i in found if i is not None))
    return shown, content.rstrip().endswith(("?**", "？**"))


def conversation_of(
    messages: list[ChatMessage], find: Callable[[str], int | None], max_chars: int
) -> tuple[list[Said], str]:
    """The earlier turns and the last user message; InputError naming the message to fix.
    `find`: the item a listed label names (see `finder`)."""
    turns: list[Said] = []
    for n, m in enumerate(messages):
        if m.role in SKIPPED_ROLES:
            continue
        text = _text(m, n)
        if m.role == "user":
            try:
                turns.append(Said(clean_message(text, max_chars)))
            except InputError as e:
                raise InputError(f"messages[{n}] (user): {e}") from None
        elif turns:  # an assistant answer: what the turn before it showed
            shown, asked = said_back(text, find)
            turns[-1] = turns[-1]._replace(shown=shown, asked=asked)
    if not turns:
        raise InputError('messages holds no user message; send at least {"role": "user", "content": "a comedy"}.')
    last = next(m for m in reversed(messages) if m.role not in SKIPPED_ROLES)
    if last.role != "user":
        raise InputError("the last message must be the person's (role user): there is nothing to answer.")
    return turns[:-1], turns[-1].text


def _text(m: ChatMessage, n: int) -> str:
    """A message's text: a string, or the text parts of a list (pictures are refused, not dropped)."""
    if isinstance(m.content, str) or m.content is None:
        return m.content or ""
    texts = []
    for part in m.content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise InputError(
                f"messages[{n}].content: only text parts are read here, not {str(part.get('type'))[:40]!r}."
            )
        texts.append(part["text"])
    return "\n".join(texts)


# -- responses -----------------------------------------------------------------------------


def prompt_tokens(messages: list[ChatMessage]) -> int:
    """The estimated tokens of the messages that are read (system and tool messages are not)."""
    return tokens(_text(m, n) for n, m in enumerate(messages) if m.role not in SKIPPED_ROLES)


def tokens(texts: Iterable[str]) -> int:
    """An estimate of the tokens in `texts` (see CHARS_PER_TOKEN).

    >>> tokens(["a comedy", "from the 90s"])
    5
    """
    return math.ceil(sum(len(t) for t in texts) / CHARS_PER_TOKEN)


def usage(prompt: int, content: str) -> dict[str, int]:
    completion = tokens([content])
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def error_response(status: int, message: str, headers: dict[str, str] | None = None, param: str | None = None) -> Any:
    """An error in OpenAI's shape; 422 (the REST API's invalid input) becomes OpenAI's 400."""
    from fastapi.responses import JSONResponse

    status = 400 if status == 422 else status
    return JSONResponse(error_body(status, message, param), status_code=status, headers=headers)


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """{"error": {...}}: `type` and `code` as OpenAI's clients read them."""
    codes = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large", 429: "rate_limit_exceeded"}
    if status == 429:
        kind = "requests"
    elif status < 500:
        kind = "invalid_request_error"
    else:
        kind = "server_error"
    code = codes.get(status, "invalid_request" if status < 500 else "overloaded" if status == 503 else "internal_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class Reply:
    """One answer's id, time and model, shared by its chunks."""

    def __init__(self) -> None:
        self.id = f"chatcmpl-{secrets.token_hex(12)}"
        self.created = int(time.time())

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": MODEL_ID}

    def completion(self, turn: Turn, prompt_tokens: int) -> dict[str, Any]:
        content = content_of(turn)
        return {
            **self._head("chat.completion"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": usage(prompt_tokens, content),
            "convrec": turn.to_dict(),
        }

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        """One server-sent event of a `chat.completion.chunk`."""
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return sse({**self._head("chat.completion.chunk"), "choices": [choice], **extra})

    def usage_chunk(self, prompt_tokens: int, content: str) -> str:
        """The last chunk when `stream_options.include_usage` asks for it: no choices, the usage."""
        return sse({**self._head("chat.completion.chunk"), "choices": [], "usage": usage(prompt_tokens, content)})


def sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


# -- the routes ----------------------------------------------------------------------------


class PerClient:
    """At most `limit` requests of one client (`sessions.Clients`) running at once: the REST
    API's bound, where a client keeps at most that many conversations, each answering one turn
    at a time. None: no bound.

    >>> running = PerClient(1)
    >>> running.take("a").release(), running.take("a").release()
    (None, None)
    >>> held = running.take("a")
    >>> running.take("a")
    Traceback (most recent call last):
    ...
    convrec.core.errors.RateLimited: this address has 1 requests running, the most one client may have at once; try again when one is answered.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}

    def take(self, client: str | None) -> Slot:
        """A place for one request of `client`; RateLimited (and nothing taken) when it has its share."""
        if client is None or self.limit is None:
            return Slot(lambda: None)
        with self._lock:
            n = self._running.get(client, 0)
            if n >= self.limit:
                raise RateLimited(
                    f"this address has {n} requests running, the most one client may have at once; "
                    "try again when one is answered.",
                    retry_after_s=5,
                )
            self._running[client] = n + 1
        return Slot(lambda: self._leave(client))

    def _leave(self, client: str) -> None:
        with self._lock:
            n = self._running.pop(client) - 1
            if n:
                self._running[client] = n


class Slot:
    """A place taken in `PerClient`; `release` gives it back, once however often it is called."""

    def __init__(self, leave: Callable[[], None]) -> None:
        self._leave: Callable[[], None] | None = leave

    def release(self) -> None:
        leave, self._leave = self._leave, None
        if leave is not None:
            leave()


def add_routes(
    api: Any,
    service: ChatService,
    run: RunOnModelThread,
    refusal: Callable[[BaseException], tuple[int, str, Any]],
    client_of: Callable[[Request], str | None],
) -> None:
    """Add the OpenAI-compatible routes to `api`. `run` runs a call on a model thread (refusing
    when all are taken); `refusal` is the status and message the REST API answers an error with;
    `client_of` is who a request counts against (its share: `sessions.max_per_client` at once)."""
    from fastapi.responses import StreamingResponse

    recommender = service.recommender
    find = finder(recommender.items, recommender.titles)
    max_chars = recommender.settings.max_message_chars
    running = PerClient(service.sessions.max_per_client)
    started = int(time.time())
    model = {"id": MODEL_ID, "object": "model", "created": started, "owned_by": "convrec"}

    @api.get("/v1/models", tags=["openai"])
    async def models() -> dict[str, Any]:  # on the event loop: it reads nothing, so needs no thread
        """The one model, as OpenAI's model list."""
        return {"object": "list", "data": [model]}

    @api.get("/v1/models/{model_id}", tags=["openai"])
    def model_info(model_id: str) -> Any:
        if model_id != MODEL_ID:
            return error_response(
                404, f"no model {model_id[:100]!r}; this server has one, {MODEL_ID!r}.", param="model"
            )
        return model

    def read(body: ChatRequest) -> tuple[list[Said], str, int]:
        """The earlier turns, the last message and the prompt's tokens (InputError naming what to
        fix). It matches listed titles, so it runs on a model thread, never on the event loop."""
        earlier, text = conversation_of(body.messages, find, max_chars)
        return earlier, text, prompt_tokens(body.messages)

    def answer(body: ChatRequest) -> dict[str, Any]:
        earlier, text, used = read(body)
        return Reply().completion(service.conversation(earlier, text, body.k), used)

    @api.post("/v1/chat/completions", tags=["openai"], response_model=None)
    async def chat_completions(body: ChatRequest, request: Request) -> Any:
        """OpenAI's chat completion: the person's last message answered in the light of the
        earlier ones, the items in the extra field "convrec" (see the module docstring)."""
        slot = running.take(client_of(request))
        try:
            return await (streamed(body, slot) if body.stream else run(answer, body))
        finally:
            if not body.stream:
                slot.release()

    async def streamed(body: ChatRequest, slot: Slot) -> Any:
        """The answer as server-sent events; `slot` is given back when the stream ends."""
        reply = Reply()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()
        loop = asyncio.get_running_loop()

        def pump() -> None:
            """The conversation read, then the service's turns, into `queue`, on a model thread;
            stops early when the client left."""
            put = lambda kind, value: loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            try:
                earlier, text, used = read(body)
                put("read", used)
                turns = service.conversation_stream(earlier, text, body.k)
                try:
                    for turn in turns:
                        if stop.is_set():
                            break
                        put("turn", turn)
                    put("end", None)
                finally:
                    turns.close()  # leaves the model's line at once when stopped early
            except Exception as e:  # handed to the request, which answers it
                put("error", e)

        try:
            pumping = asyncio.ensure_future(run(pump))
            first = asyncio.ensure_future(queue.get())
            await asyncio.wait({pumping, first}, return_when=asyncio.FIRST_COMPLETED)
            if pumping.done() and pumping.exception() is not None:  # refused before it ran: every model thread taken
                first.cancel()
                raise pumping.exception()  # type: ignore[misc]
            kind, value = await first  # the pump queues a value before it ends
            if kind == "read":  # then the preview, or why there is none
                used, (kind, value) = value, await queue.get()
            if kind == "error":  # invalid input or a full line: a plain error response, not a stream
                raise value
        except BaseException:
            stop.set()
            slot.release()
            raise

        async def chunks(turn: Turn) -> AsyncIterator[str]:
            yield reply.chunk({"role": "assistant", "content": ""})
            while (item := await queue.get())[0] == "turn":
                turn = item[1]
            if item[0] == "error":
                raise item[1]
            content = pieces(turn)
            for piece in content:
                yield reply.chunk({"content": piece})
            yield reply.chunk({}, "stop", convrec=turn.to_dict())
            if body.stream_options and body.stream_options.include_usage:
                yield reply.usage_chunk(used, "".join(content))

        async def events() -> AsyncIterator[bytes]:
            """Every chunk, encoded here so that nothing can fail after it; then `[DONE]`, after
            the finish chunk or after an error event, whatever failed on the way."""
            try:
                async for chunk in chunks(value):
                    yield chunk.encode()
            except Exception as e:
                status, message, _ = refusal(e)
                if status >= 500:
                    log.error("chat completion failed mid-stream", exc_info=e)
                yield sse(error_body(status, message)).encode()
            finally:
                stop.set()
                slot.release()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
