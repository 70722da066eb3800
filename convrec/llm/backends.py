"""The backends behind the small LLM protocol of `convrec.llm.base`.

A backend implements one method, `complete(messages, schema=..., max_tokens=...)`, returning a
`Completion`. When `schema` is given the backend constrains decoding to that JSON schema where
it can (llama.cpp grammars, OpenAI `response_format`), and the caller still validates the text.

Backends: `EmbeddedLLM` (a GGUF in this process via xllamacpp, the offline default),
`OpenAILLM` (any OpenAI-compatible server over HTTP) and `TransformersLLM` (a Hugging Face
model, for a GPU). `make_llm(settings)` picks one. A caller that shows free text as it is
written (the chat's reply) uses `stream_text`: the embedded backend streams it piece by piece,
the others answer whole; JSON answers are never streamed, as no caller can use half of one.
"""

from __future__ import annotations

import concurrent.futures
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convrec.core.errors import LLMError
from convrec.llm.base import (
    LLM,
    Completion,
    Message,
    compact_json_constraint,
    extract_first_json,
    with_schema_instruction,
)

if TYPE_CHECKING:
    from convrec.core.config import Settings


# --- backends -------------------------------------------------------------------------------------
# Each backend loads lazily (nothing heavy happens at construction or import) and one instance can be
# shared by the UI's worker threads: the embedded one hands concurrent calls to llama.cpp's slots,
# transformers serialises them with a lock.

# The model the transformers backend loads when CONVREC_LLM_PATH is not set (the same model as
# the embedded GGUF, unquantised).
TRANSFORMERS_DEFAULT = "Qwen/Qwen2.5-Coder-1.5B-Instruct"


class EmbeddedLLM:
    """A GGUF model run in this process by llama.cpp (through the `xllamacpp` package).

    With a schema, decoding is constrained to it (llama.cpp turns `response_format` into a
    grammar), so the text is valid JSON unless `max_tokens` cuts it short.

    Prefix reuse: every prompt starts with its stage's fixed system prompt and ends with the
    turn's text, and llama.cpp keeps each slot's KV cache (`cache_prompt`), so a call whose
    prompt starts like the slot's last one evaluates only the new tail (the parse prompt's 160
    tokens cost ~4 s here, its tail ~10 tokens). There are `slots` slots (default 2), each with
    `n_ctx` tokens of context: llama.cpp gives a call the slot whose cached prompt is most alike,
    so the parse and the reply prompts each keep a slot instead of evicting each other, and two
    calls at once (two people, or two stages) decode together in one batch instead of queueing.
    A prefix evicted anyway is usually restored from llama.cpp's host-memory prompt cache.
    `cache_prompt=False` evaluates every prompt in full (for measuring what reuse buys).

    xllamacpp also starts llama.cpp's HTTP server on a random 127.0.0.1 port; it is given a
    random API key so that nothing else on the machine can use it.

    `timeout_s` bounds the wall-clock time of a call, waiting for the model included: past it
    the caller gets an LLMError (and answers without the model) while llama.cpp finishes that
    request in its slot, so later calls wait for it only when every slot is busy.
    """

    name = "embedded"

    def __init__(
        self,
        path: str | Path,
        n_ctx: int = 4096,
        n_threads: int = 2,
        timeout_s: float | None = None,
        *,
        slots: int = 2,
        cache_prompt: bool = True,
    ) -> None:
        self.path = Path(path)
        self.n_ctx = n_ctx  # per slot
        self.n_threads = n_threads
        self.timeout_s = timeout_s
        self.slots = max(1, slots)
        self.cache_prompt = cache_prompt
        self.load_s: float | None = None  # seconds the model took to load, once loaded
        self.last_timings: dict[str, Any] = {}  # llama.cpp's timings of the call that ended last
        self._server: Any = None
        self._lock = threading.Lock()  # guards loading; calls run concurrently, one per slot

    def server_params(self) -> Any:
        """The llama.cpp server parameters for this model (an `xllamacpp.CommonParams`)."""
        import xllamacpp as xlc

        params = xlc.CommonParams()
        params.model.path = str(self.path)
        params.n_parallel = self.slots
        params.kv_unified = False  # each slot its own n_ctx cells: one long prompt cannot starve the other
        params.n_ctx = self.n_ctx * self.slots
        params.cpuparams.n_threads = self.n_threads
        params.cpuparams_batch.n_threads = self.n_threads
        params.cache_prompt = self.cache_prompt
        params.warmup = False
        params.verbosity = 0  # keep llama.cpp's own log quiet; failures surface as LLMError
        params.api_keys = [secrets.token_urlsafe(24)]
        return params

    def _load(self) -> Any:
        """Start the llama.cpp server for `self.path` (LLMError if it cannot)."""
        import xllamacpp as xlc

        if not self.path.is_file():
            raise LLMError(f"GGUF model {self.path} does not exist: run `convrec models`")
        try:
            return xlc.Server(self.server_params())
        except RuntimeError as e:
            raise LLMError(
                f"llama.cpp could not load {self.path} ({e}): is it a GGUF file? "
                "Delete it and run `convrec models` to assemble it again"
            ) from e

    def complete(
        self,
        messages: list[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> Completion:
        request: dict[str, Any] = {
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "cache_prompt": self.cache_prompt,
        }
        if schema is not None:
            request.update(compact_json_constraint(schema))
        if self.timeout_s is None:
            reply = self._handle(request)
        else:
            call = _worker().submit(self._handle, request)
            try:
                reply = call.result(timeout=self.timeout_s)
            except concurrent.futures.TimeoutError:
                raise LLMError(
                    f"embedded LLM gave no answer within {self.timeout_s:g} s (CONVREC_LLM_TIMEOUT_S)",
                    reason="timeout",
                ) from None
        if not isinstance(reply, dict) or "error" in reply:
            err = reply.get("error", reply) if isinstance(reply, dict) else reply
            msg = err.get("message", err) if isinstance(err, dict) else err
            hint = f": raise CONVREC_LLM_CTX (now {self.n_ctx})" if "context" in str(msg) else ""
            raise LLMError(f"embedded LLM rejected the request: {msg}{hint}", reason="server error")
        self.last_timings = dict(reply.get("timings") or {})
        return completion_from_openai(reply, "embedded LLM")

    def stream(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        """Free text as llama.cpp decodes it, piece by piece. It is decoded on a worker thread.
        A reader that stops early (the reply stops after two sentences) or a piece that takes
        longer than `timeout_s` (LLMError) ends the request at llama.cpp's next piece, so the
        slot and the cores are free for the next call instead of decoding up to `max_tokens`."""
        request = {"messages": list(messages), "max_tokens": max_tokens, "temperature": temperature}
        # timings with every piece: a reader that stops early still learns the prompt's tokens
        request.update(cache_prompt=self.cache_prompt, stream=True, timings_per_token=True)
        pieces: queue.Queue[str | LLMError | None] = queue.Queue()
        done = threading.Event()

        def on_chunk(chunk: Any) -> bool:
            """Take one streamed chunk; True tells llama.cpp to stop (the reader has gone)."""
            if not isinstance(chunk, dict):
                return done.is_set()
            if "error" in chunk:
                pieces.put(LLMError(f"embedded LLM rejected the request: {chunk['error']}", reason="server error"))
            for choice in chunk.get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    pieces.put(text)
            if chunk.get("timings"):
                self.last_timings = dict(chunk["timings"])
            return done.is_set()

        def run() -> None:
            try:
                self._handle(request, on_chunk)
            except LLMError as e:
                pieces.put(e)
            finally:
                pieces.put(None)

        _worker().submit(run)
        try:
            while True:
                try:
                    piece = pieces.get(timeout=self.timeout_s)
                except queue.Empty:
                    raise LLMError(
                        f"embedded LLM wrote nothing for {self.timeout_s:g} s (CONVREC_LLM_TIMEOUT_S)",
                        reason="timeout",
                    ) from None
                if piece is None:
                    return
                if isinstance(piece, LLMError):
                    raise piece
                yield piece
        finally:
            done.set()

    def _handle(self, request: dict[str, Any], on_chunk: Callable[[Any], bool] | None = None) -> Any:
        with self._lock:
            if self._server is None:
                t0 = time.perf_counter()
                self._server = self._load()
                self.load_s = time.perf_counter() - t0
            server = self._server
        try:  # llama.cpp queues a call until a slot is free
            if on_chunk is not None:
                return server.handle_chat_completions(request, on_chunk)
            return server.handle_chat_completions(request)
        except (ValueError, RuntimeError) as e:  # e.g. a schema llama.cpp cannot compile
            raise LLMError(f"embedded LLM rejected the request: {e}", reason="server error") from e

    def close(self) -> None:
        """Free the model (the next call loads it again)."""
        with self._lock:
            self._server = None


_WORKER: concurrent.futures.ThreadPoolExecutor | None = None


def _worker() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that run embedded calls under a timeout (calls queue on the model's lock)."""
    global _WORKER
    if _WORKER is None:
        _WORKER = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="convrec-llm")
    return _WORKER


def completion_from_openai(reply: Any, who: str) -> Completion:
    """A Completion from an OpenAI-style chat completion dict (LLMError if it is not one)."""
    try:
        text = reply["choices"][0]["message"]["content"]
        usage = reply.get("usage") or {}
        if not isinstance(text, str):
            raise TypeError(f"content is {type(text).__name__}, not text")
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
        if cached is None:  # llama.cpp's own timings say it too
            cached = (reply.get("timings") or {}).get("cache_n")
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=int(cached or 0),
        )
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
        raise LLMError(
            f"{who} returned something that is not a chat completion ({type(e).__name__}: {e}): {str(reply)[:200]}",
            reason="bad answer",
        ) from e


class OpenAILLM:
    """Any OpenAI-compatible `/chat/completions` server (llama.cpp, vLLM, Ollama, OpenAI ...).

    Connection errors and 5xx/429 answers are retried `retries` times with exponential backoff
    (0.5 s, 1 s, ...); a timeout is not retried, since the same request would likely time out
    again. Every failure ends as an LLMError that names the server (for the log; its `reason`
    is what a person may be shown).
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout_s: float = 60.0,
        retries: int = 1,
        *,
        backoff_s: float = 0.5,
    ) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.model = model
        self.timeout_s = timeout_s
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout_s)

    def complete(
        self,
        messages: list[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> Completion:
        import httpx

        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": schema, "strict": False},
            }
        where = f"LLM server at {self.base_url}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                r = self._client.post(self.url, json=body)
            except httpx.TimeoutException as e:
                if isinstance(e, httpx.ConnectTimeout) and not last:
                    time.sleep(self.backoff_s * 2**attempt)
                    continue
                raise LLMError(
                    f"{where} did not answer within {self.timeout_s:g} s ({type(e).__name__}): "
                    "raise CONVREC_LLM_TIMEOUT_S or use a smaller model",
                    reason="timeout",
                ) from e
            except httpx.TransportError as e:
                if not last:
                    time.sleep(self.backoff_s * 2**attempt)
                    continue
                raise LLMError(
                    f"{where} is not reachable: {type(e).__name__}: {e}. Start the server, "
                    "fix CONVREC_LLM_URL, or set CONVREC_LLM=embedded",
                    reason="unreachable",
                ) from e
            if (r.status_code >= 500 or r.status_code == 429) and not last:
                time.sleep(self.backoff_s * 2**attempt)
                continue
            if r.status_code >= 400:
                raise LLMError(
                    f"{where} answered HTTP {r.status_code} after {attempt + 1} attempt(s): {r.text[:300]}",
                    reason="server error",
                )
            try:
                reply = r.json()
            except ValueError as e:
                raise LLMError(
                    f"{where} returned a body that is not JSON: {r.text[:200]!r}", reason="bad answer"
                ) from e
            return completion_from_openai(reply, where)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._client.close()


class TransformersLLM:
    """A Hugging Face causal LM run with `transformers`, on CUDA when available.

    There is no constrained decoding here: with a schema, the schema is added to the system
    message and the first JSON object in the output is returned (the raw text if there is
    none; the caller validates either way).
    """

    name = "transformers"

    def __init__(self, model_name_or_path: str | Path, device: str | None = None) -> None:
        self.model_name_or_path = str(model_name_or_path)
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        # `torch_dtype` was renamed `dtype` in transformers 4.56.
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
        dtype_kw = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_name_or_path)
            model: Any = AutoModelForCausalLM.from_pretrained(self.model_name_or_path, **{dtype_kw: "auto"})
        except OSError as e:
            raise LLMError(
                f"transformers could not load {self.model_name_or_path!r} ({e}): set "
                "CONVREC_LLM_PATH to a local model directory, or go online once"
            ) from e
        self._model = model.to(device).eval()
        self.device = device

    def complete(
        self,
        messages: list[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> Completion:
        import torch

        if schema is not None:
            messages = with_schema_instruction(messages, schema)
        with self._lock:
            if self._model is None:
                self._load()
            tok = self._tokenizer
            inputs = tok.apply_chat_template(
                list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
            ).to(self._model.device)
            sampling: dict[str, Any] = (
                {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
            )
            pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
            with torch.inference_mode():
                out = self._model.generate(**inputs, max_new_tokens=max_tokens, pad_token_id=pad, **sampling)
        n_prompt = int(inputs["input_ids"].shape[1])
        new = out[0, n_prompt:]
        text = tok.decode(new, skip_special_tokens=True)
        if schema is not None:
            text = extract_first_json(text) or text.strip()
        return Completion(text=text, prompt_tokens=n_prompt, completion_tokens=int(new.shape[0]))


def make_llm(settings: Settings) -> LLM | None:
    """The backend `settings.llm` names, unloaded ("none" gives None: rules only).

    "embedded" finds (or assembles) the GGUF now, so a missing model fails here with
    ModelNotFound rather than at the first chat turn.
    """
    if settings.llm == "none":
        return None
    if settings.llm == "embedded":
        from convrec.data.models import resolve_llm_path

        return EmbeddedLLM(
            resolve_llm_path(settings),
            n_ctx=settings.llm_ctx,
            n_threads=settings.llm_threads,
            timeout_s=settings.llm_timeout_s,
            slots=settings.llm_slots,
            cache_prompt=settings.llm_cache_prompt,
        )
    if settings.llm == "openai":
        return OpenAILLM(
            settings.llm_url,
            settings.llm_model,
            api_key=settings.llm_api_key,
            timeout_s=settings.llm_timeout_s,
            retries=settings.llm_retries,
        )
    if settings.llm == "transformers":
        return TransformersLLM(settings.llm_path or TRANSFORMERS_DEFAULT)
    raise LLMError(f"unknown LLM backend {settings.llm!r}: use embedded, openai, transformers or none")
