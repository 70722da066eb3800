"""LLM backends: the OpenAI client against stub and real servers, a tiny transformers model,
and (slow) the embedded GGUF through llama.cpp."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from convrec.core.config import Settings
from convrec.core.errors import LLMError, ModelNotFound
from convrec.llm.backends import EmbeddedLLM, OpenAILLM, TransformersLLM, make_llm
from convrec.llm.base import Message, extract_first_json, with_schema_instruction

HELLO: list[Message] = [{"role": "user", "content": "Recommend a comedy."}]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "genres": {"type": "array", "items": {"type": "string"}},
        "year_min": {"type": "integer"},
    },
    "required": ["genres", "year_min"],
}


def chat_reply(text: str) -> bytes:
    return json.dumps(
        {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3},
        }
    ).encode()


# --- pure helpers ---------------------------------------------------------------------------------


def test_extract_first_json() -> None:
    assert extract_first_json('Sure: {"a": {"b": "}"}} then {"c": 1}') == '{"a": {"b": "}"}}'
    assert extract_first_json('[1, 2] {oops} {"ok": true}') == '{"ok": true}'
    assert extract_first_json("no json here") is None


def test_schema_instruction_goes_into_the_system_message() -> None:
    with_sys = with_schema_instruction([{"role": "system", "content": "Be brief."}, *HELLO], SCHEMA)
    assert len(with_sys) == 2 and with_sys[0]["content"].startswith("Be brief.")
    assert '"year_min"' in with_sys[0]["content"]
    without = with_schema_instruction(HELLO, SCHEMA)
    assert [m["role"] for m in without] == ["system", "user"]


# --- OpenAILLM against a stub server --------------------------------------------------------------


class Stub:
    """An HTTP server on 127.0.0.1 that plays back scripted answers: (status, body, delay_s)."""

    def __init__(self) -> None:
        self.script: list[tuple[int, bytes, float]] = []
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stub.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
                status, answer, delay = stub.script.pop(0) if stub.script else (500, b"no script", 0)
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub()
    yield s
    s.close()


def test_openai_sends_schema_and_key_and_reads_usage(stub: Stub) -> None:
    stub.script.append((200, chat_reply('{"genres": ["Comedy"], "year_min": 1990}'), 0))
    llm = OpenAILLM(stub.url + "/", "local", api_key="k-123")
    c = llm.complete(HELLO, schema=SCHEMA, max_tokens=50)
    assert json.loads(c.text)["genres"] == ["Comedy"]
    assert (c.prompt_tokens, c.completion_tokens) == (7, 3)
    req = stub.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == "Bearer k-123"
    assert req["json"]["max_tokens"] == 50 and req["json"]["model"] == "local"
    assert req["json"]["response_format"]["json_schema"]["schema"] == SCHEMA


def test_openai_retries_a_5xx(stub: Stub) -> None:
    stub.script += [(500, b'{"error": "busy"}', 0), (200, chat_reply("hello"), 0)]
    llm = OpenAILLM(stub.url, "local", retries=1, backoff_s=0.01)
    assert llm.complete(HELLO).text == "hello"
    assert len(stub.requests) == 2


def test_openai_gives_up_after_the_retries(stub: Stub) -> None:
    stub.script += [(503, b"down", 0)] * 3
    llm = OpenAILLM(stub.url, "local", retries=2, backoff_s=0.01)
    with pytest.raises(LLMError, match="HTTP 503 after 3 attempt") as failed:
        llm.complete(HELLO)
    assert failed.value.reason == "server error"


def test_openai_does_not_retry_a_4xx(stub: Stub) -> None:
    stub.script += [(400, b'{"error": {"message": "bad schema"}}', 0), (200, chat_reply("x"), 0)]
    with pytest.raises(LLMError, match="HTTP 400 .*bad schema"):
        OpenAILLM(stub.url, "local", retries=3, backoff_s=0.01).complete(HELLO)
    assert len(stub.requests) == 1


@pytest.mark.parametrize(
    "body", [b"<html>oops</html>", b'{"choices": []}', b'{"choices": [{"message": {"content": null}}]}']
)
def test_openai_malformed_body_is_an_llm_error(stub: Stub, body: bytes) -> None:
    stub.script.append((200, body, 0))
    with pytest.raises(LLMError, match=f"LLM server at {stub.url}") as failed:
        OpenAILLM(stub.url, "local", retries=0).complete(HELLO)
    assert failed.value.reason == "bad answer"


def test_openai_connection_refused_fails_fast() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    t0 = time.perf_counter()
    with pytest.raises(LLMError, match=f"LLM server at {url} is not reachable") as failed:
        OpenAILLM(url, "local", retries=1, backoff_s=0.01).complete(HELLO)
    assert failed.value.reason == "unreachable"
    assert time.perf_counter() - t0 < 3


def test_openai_timeout_is_an_llm_error(stub: Stub) -> None:
    stub.script.append((200, chat_reply("late"), 1.5))
    t0 = time.perf_counter()
    with pytest.raises(LLMError, match="did not answer within 0.3 s") as failed:
        OpenAILLM(stub.url, "local", timeout_s=0.3, retries=2, backoff_s=0.01).complete(HELLO)
    assert failed.value.reason == "timeout"
    assert time.perf_counter() - t0 < 1.4  # not retried
    assert len(stub.requests) == 1


# --- make_llm ---------------------------------------------------------------------------------------


def test_make_llm_picks_the_backend(tmp_path: Path) -> None:
    assert make_llm(Settings(llm="none")) is None
    llm = make_llm(Settings(llm="openai", llm_url="http://x:1/v1", llm_model="m", llm_retries=3))
    assert isinstance(llm, OpenAILLM) and llm.url == "http://x:1/v1/chat/completions" and llm.retries == 3
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"not loaded until first use")
    emb = make_llm(Settings(llm="embedded", llm_path=gguf, llm_ctx=1024, llm_threads=1))
    assert isinstance(emb, EmbeddedLLM) and emb.path == gguf and emb.n_ctx == 1024
    tf = make_llm(Settings(llm="transformers", llm_path=tmp_path))
    assert isinstance(tf, TransformersLLM) and tf.model_name_or_path == str(tmp_path)
    with pytest.raises(ModelNotFound):
        make_llm(Settings(llm="embedded", llm_path=tmp_path / "missing.gguf"))


def test_embedded_loads_once_under_concurrency(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    loads: list[int] = []

    class FakeServer:
        def handle_chat_completions(self, request: dict[str, Any]) -> dict[str, Any]:
            return json.loads(chat_reply("ok"))

    def slow_load(self: EmbeddedLLM) -> FakeServer:
        loads.append(1)
        time.sleep(0.2)
        return FakeServer()

    monkeypatch.setattr(EmbeddedLLM, "_load", slow_load)
    llm = EmbeddedLLM(tmp_path / "m.gguf")
    threads = [threading.Thread(target=llm.complete, args=(HELLO,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [1] and llm.load_s is not None


def test_embedded_server_params_give_each_slot_its_context(tmp_path: Path) -> None:
    llm = EmbeddedLLM(tmp_path / "m.gguf", n_ctx=1024, n_threads=1, slots=3, cache_prompt=False)
    params = llm.server_params()
    assert params.n_parallel == 3 and params.n_ctx == 3 * 1024 and not params.kv_unified
    assert not params.cache_prompt and params.cpuparams.n_threads == 1
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"not loaded until first use")
    emb = make_llm(Settings(llm="embedded", llm_path=gguf, llm_slots=2, llm_cache_prompt=False))
    assert isinstance(emb, EmbeddedLLM) and emb.slots == 2 and not emb.cache_prompt
    assert EmbeddedLLM(gguf).server_params().n_parallel == 2  # the default: parse and reply keep a slot each


def test_embedded_calls_run_together_and_report_the_reused_prefix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    both_in = threading.Barrier(2, timeout=5)  # each call waits for the other: a lock would deadlock here
    sent: list[dict[str, Any]] = []

    class Slots:
        def handle_chat_completions(self, request: dict[str, Any]) -> dict[str, Any]:
            sent.append(request)
            both_in.wait()
            reply = json.loads(chat_reply("ok"))
            return {**reply, "timings": {"cache_n": 5, "prompt_n": 2}}

    monkeypatch.setattr(EmbeddedLLM, "_load", lambda self: Slots())
    llm = EmbeddedLLM(tmp_path / "m.gguf", timeout_s=10, cache_prompt=False)
    out: list[Any] = []
    threads = [threading.Thread(target=lambda: out.append(llm.complete(HELLO))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [c.cached_tokens for c in out] == [5, 5] and all(c.prompt_tokens == 7 for c in out)
    assert [r["cache_prompt"] for r in sent] == [False, False]


def test_embedded_stream_stops_llama_cpp_when_the_reader_stops(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sent: list[int] = []
    finished = threading.Event()

    class Streaming:
        def handle_chat_completions(self, request: dict[str, Any], on_chunk: Any) -> None:
            assert request["stream"] and request["timings_per_token"]
            for n in range(50):  # llama.cpp stops reading when the callback answers True
                sent.append(n)
                time.sleep(0.01)
                chunk = {"choices": [{"delta": {"content": f"w{n} "}}], "timings": {"prompt_n": 3, "cache_n": 9}}
                if on_chunk(chunk):
                    break
            finished.set()

    monkeypatch.setattr(EmbeddedLLM, "_load", lambda self: Streaming())
    llm = EmbeddedLLM(tmp_path / "m.gguf", timeout_s=5)
    stream = llm.stream(HELLO)
    assert [next(stream), next(stream)] == ["w0 ", "w1 "]
    stream.close()
    assert finished.wait(5) and len(sent) < 10
    assert llm.last_timings == {"prompt_n": 3, "cache_n": 9}


def test_embedded_errors_are_llm_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Refusing:
        def handle_chat_completions(self, request: dict[str, Any]) -> dict[str, Any]:
            return {"error": {"code": 400, "message": "the request exceeds the available context size"}}

    class Raising:
        def handle_chat_completions(self, request: dict[str, Any]) -> dict[str, Any]:
            raise ValueError("JSON schema error at #: unrecognized type foo")

    monkeypatch.setattr(EmbeddedLLM, "_load", lambda self: Refusing())
    with pytest.raises(LLMError, match="exceeds the available context.*raise CONVREC_LLM_CTX"):
        EmbeddedLLM(tmp_path / "m.gguf").complete(HELLO)
    monkeypatch.setattr(EmbeddedLLM, "_load", lambda self: Raising())
    with pytest.raises(LLMError, match="unrecognized type foo"):
        EmbeddedLLM(tmp_path / "m.gguf").complete(HELLO, schema={"type": "foo"})


def test_embedded_bad_file_is_an_llm_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a GGUF file" * 10)
    with pytest.raises(LLMError, match="could not load"):
        EmbeddedLLM(bad).complete(HELLO)
    with pytest.raises(LLMError, match="does not exist"):
        EmbeddedLLM(tmp_path / "missing.gguf").complete(HELLO)


# --- TransformersLLM with a tiny random model --------------------------------------------------------

WORDS = [
    "comedy",
    "drama",
    "horror",
    "movie",
    "film",
    "a",
    "the",
    "funny",
    "scary",
    "good",
    "bad",
    "i",
    "you",
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer Llama with random weights and a word-level tokenizer, saved to disk."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<unk>", "<pad>", "<eos>", "<|user|>", "<|system|>", "<|assistant|>"]
    vocab = {w: i for i, w in enumerate(specials + WORDS + list("{}[]:,\"'.!?"))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>")
    tok.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <eos> {% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=vocab["<pad>"],
        bos_token_id=None,
        eos_token_id=None,  # never stop early: the test checks the length limit
    )
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_transformers_generates_up_to_max_tokens(tiny_model: Path) -> None:
    llm = TransformersLLM(tiny_model, device="cpu")
    c = llm.complete(HELLO, max_tokens=5)
    assert isinstance(c.text, str) and c.text.strip()
    assert c.completion_tokens == 5 and c.prompt_tokens > 3
    with_schema = llm.complete(HELLO, schema=SCHEMA, max_tokens=3)
    assert with_schema.completion_tokens == 3
    assert with_schema.prompt_tokens > c.prompt_tokens  # the schema went into the prompt


def test_transformers_missing_model_is_an_llm_error(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match="could not load"):
        TransformersLLM(tmp_path / "nothing-here").complete(HELLO)


# --- the real embedded model (slow) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def gguf() -> Path:
    from convrec.data.models import resolve_llm_path

    try:
        return resolve_llm_path(Settings(), url="")  # never download in a test
    except ModelNotFound as e:
        pytest.skip(f"embedded model not available: {e}")


@pytest.fixture(scope="module")
def embedded(gguf: Path) -> Iterator[EmbeddedLLM]:
    llm = EmbeddedLLM(gguf, n_ctx=2048, n_threads=2)
    yield llm
    llm.close()


def check_schema(text: str) -> dict[str, Any]:
    obj = json.loads(text)
    assert isinstance(obj, dict) and set(SCHEMA["required"]) <= set(obj)
    assert isinstance(obj["year_min"], int)
    assert all(isinstance(g, str) for g in obj["genres"])
    return obj


@pytest.mark.slow
def test_embedded_schema_call_returns_matching_json(embedded: EmbeddedLLM) -> None:
    messages: list[Message] = [
        {"role": "system", "content": "Extract the user's movie preferences as JSON."},
        {"role": "user", "content": "I'd love a funny romantic movie, nothing older than 1990."},
    ]
    c = embedded.complete(messages, schema=SCHEMA, max_tokens=80)
    obj = check_schema(c.text)
    assert obj["year_min"] >= 1900
    assert c.prompt_tokens > 10 and 0 < c.completion_tokens <= 80


@pytest.mark.slow
def test_embedded_reuses_the_cached_prompt_prefix(embedded: EmbeddedLLM) -> None:
    system = "You recommend movies. " + " ".join(f"Film {i} is a classic of genre {i % 7}." for i in range(25))
    for ending in ("Something funny.", "Something scary."):
        c = embedded.complete(
            [{"role": "system", "content": system}, {"role": "user", "content": ending}], max_tokens=1
        )
    assert embedded.last_timings["cache_n"] > 0.8 * c.prompt_tokens
    assert embedded.last_timings["prompt_n"] < 0.2 * c.prompt_tokens


@pytest.mark.slow
def test_embedded_prefix_reuse_gives_the_same_answer_and_keeps_both_prompts(gguf: Path) -> None:
    parse = "Read a request for a movie. " + " ".join(f"Genre {i} means films of kind {i}." for i in range(20))
    reply = "You recommend movies in one short sentence. " + " ".join(f"Rule {i}: be brief." for i in range(20))

    def ask(llm: EmbeddedLLM, system: str, user: str) -> Any:
        return llm.complete([{"role": "system", "content": system}, {"role": "user", "content": user}], max_tokens=8)

    cold = EmbeddedLLM(gguf, n_ctx=1024, slots=1, cache_prompt=False)
    expected = [ask(cold, parse, "a comedy").text, ask(cold, reply, "a western").text]
    cold.close()
    warm = EmbeddedLLM(gguf, n_ctx=1024, slots=2)
    ask(warm, parse, "a drama"), ask(warm, reply, "a thriller")  # each prompt takes a slot
    again = [ask(warm, parse, "a comedy"), ask(warm, reply, "a western")]
    warm.close()
    assert [c.text for c in again] == expected
    assert all(c.cached_tokens > 0.8 * c.prompt_tokens for c in again)


@pytest.mark.slow
def test_openai_against_llama_cpp_http_server(gguf: Path) -> None:
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = str(gguf)
    params.n_ctx = 1024
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 2
    params.warmup = False
    params.verbosity = 0
    params.api_keys = ["test-key"]
    server = xlc.Server(params)  # serves HTTP on a random 127.0.0.1 port while it lives
    base = server.listening_address + "/v1"
    c = OpenAILLM(base, "local", api_key="test-key").complete(
        [{"role": "user", "content": "A 1995 comedy, as JSON."}], schema=SCHEMA, max_tokens=60
    )
    check_schema(c.text)
    assert c.prompt_tokens > 0 and c.completion_tokens > 0
    with pytest.raises(LLMError, match="HTTP 401"):
        OpenAILLM(base, "local", api_key="wrong").complete(HELLO, max_tokens=1)
    del server


def test_compact_constraint_fixes_separators_for_llama_cpp() -> None:
    from convrec.llm.base import compact_json_constraint

    fields = compact_json_constraint(SCHEMA)
    assert set(fields) <= {"grammar", "response_format"}
    if "grammar" in fields:
        assert '"whitespace_flexible":false' in fields["grammar"] and '"item_separator":", "' in fields["grammar"]


def test_embedded_call_past_its_timeout_is_an_llm_error_and_its_request_still_ends(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    release = threading.Event()
    served: list[str] = []

    class Stuck:
        def handle_chat_completions(self, request: dict[str, Any]) -> dict[str, Any]:
            release.wait(10)
            served.append(request["messages"][0]["content"])
            return json.loads(chat_reply("late"))

    monkeypatch.setattr(EmbeddedLLM, "_load", lambda self: Stuck())
    llm = EmbeddedLLM(tmp_path / "m.gguf", timeout_s=0.2)
    with pytest.raises(LLMError, match="no answer within 0.2 s") as failed:
        llm.complete(HELLO)
    assert failed.value.reason == "timeout"
    release.set()  # the model finishes the abandoned request in its slot and serves the next one
    llm.timeout_s = 10
    assert llm.complete(HELLO).text == "late"
    for _ in range(100):  # the two requests end in either order (llama.cpp runs them in two slots)
        if len(served) == 2:
            break
        time.sleep(0.05)
    assert len(served) == 2
