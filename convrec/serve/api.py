"""The REST API (FastAPI), a thin adapter over `ChatService`; `create_server` mounts the Gradio
chat beside it, so `convrec serve` answers both on one port.

    POST   /v1/recommend                 stateless turn: the object `convrec recommend --json` prints
    POST   /v1/sessions                  open a conversation -> {"session_id": ...}
    GET    /v1/sessions/{id}             what the conversation has gathered so far
    POST   /v1/sessions/{id}/messages    one turn in the conversation
    POST   /v1/sessions/{id}/feedback    like / dislike / more_like / not_interested one shown item
    DELETE /v1/sessions/{id}             forget the conversation and its feedback (privacy)
    POST   /v1/chat/completions          OpenAI-compatible chat, stateless (see `openai_api`)
    GET    /v1/models                    the one model, for OpenAI clients and chat front-ends
    GET    /healthz                      liveness, the store up or down, sessions open, the model's line
    GET    /docs, /openapi.json          the schema

Every refusal is a 4xx with {"error": "<what to fix>"} (OpenAI's shape under its paths): 404 unknown session, 409 session busy,
413 body too large, 422 invalid input, 429 (with Retry-After) when one client (its address,
see `sessions.Clients`) holds too many sessions, runs too many chat completions at once or sends
too much feedback a minute, 503 (with Retry-After) when the model's line is full or the database
cannot be reached.
A refused request changes nothing. Model turns are served first come, first served
(`sessions.FairGate`); each answer's `timings_ms.queue` says how long it waited in line.
Requests that may wait for the model (a turn, "more like this") wait on threads of their own
(`ModelThreads`), so a long line never takes the threads that the other endpoints answer on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.requests import Request  # at module level: FastAPI reads the handlers' annotations here

from convrec.core.errors import ConvrecError, InputError, RateLimited, StoreUnavailable
from convrec.retrieve.images import MAX_PICTURE_BYTES
from convrec.serve import openai_api
from convrec.serve.db import db_target, open_store
from convrec.serve.feedback import ACTIONS, STEERING
from convrec.serve.service import MAX_K, ChatService, make_service
from convrec.serve.sessions import ServiceBusy, SessionBusy, SessionNotFound

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_UPLOAD_BYTES = MAX_PICTURE_BYTES + 64 * 1024  # any other request (the chat's): a picture and its form
INT64 = 2**63 - 1
SPARE_MODEL_THREADS = 8  # beside the model's holder and its line: requests building their preview
T = TypeVar("T")


# -- schemas -------------------------------------------------------------------------------


class TextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(
        description="What the person says, in English or Chinese (at most 2,000 characters).",
        examples=["a funny 90s movie, nothing with horror"],
    )
    k: StrictInt | None = Field(None, ge=1, le=MAX_K, description="How many items to return (default 5).")


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: StrictInt = Field(ge=-INT64, le=INT64, description="An item shown in this conversation.")
    action: Literal[ACTIONS] = Field(  # type: ignore[valid-type]  # pydantic reads the tuple as the allowed values
        description="like and dislike are stored quietly; more_like and "
        "not_interested also return the next answer in `next`."
    )
    k: StrictInt | None = Field(None, ge=1, le=MAX_K)


class ItemOut(BaseModel):
    item_id: int
    title: str
    year: int | None
    genres: list[str]
    score: float
    why: str


class TurnOut(BaseModel):
    needs: dict[str, Any]
    reply: str = Field("", description="What was understood and how the items relate to it, in the person's language.")
    question: str | None = Field(None, description="One short question when the request was too vague or too narrow.")
    items: list[ItemOut]
    timings_ms: dict[str, float]
    degraded: str | None = None
    relaxed: dict[str, Any] | None = Field(
        None,
        description="When too few items met every constraint: the first `exact` do, the rest not all of `dropped`.",
    )
    session_id: str | None = None


class FeedbackOut(BaseModel):
    session_id: str
    item_id: int
    action: str
    event_id: int | None = Field(
        description="Id of the stored event; null when the server runs without a feedback store."
    )
    next: TurnOut | None = None


class ModelThreads:
    """The threads that requests which may wait for the model run on, apart from the server's pool.

    A turn can wait minutes in the model's line (`FairGate`); on the pool that sync endpoints
    share, a long line would leave no thread to answer a cheap request (a session's state, a 👍).
    There is one thread for each place the line can hold, plus a few for requests building their
    preview; when all are taken the line is full anyway, so the request is refused at once (503)
    instead of queueing unseen.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="convrec-model")
        self._lock = threading.Lock()
        self._running = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on one of these threads; ServiceBusy when every one is taken."""
        with self._lock:
            if self._running >= self.size:
                raise ServiceBusy(f"{self.size} requests are already waiting for the model; try again shortly.")
            self._running += 1
        future = self._executor.submit(partial(fn, *args))
        future.add_done_callback(self._done)  # the thread is free when the call ends, even if the client left
        return await asyncio.wrap_future(future)

    def _done(self, _: Any) -> None:
        with self._lock:
            self._running -= 1


def create_api(
    service: ChatService, *, max_body_bytes: int = MAX_BODY_BYTES, max_upload_bytes: int = MAX_UPLOAD_BYTES
) -> Any:
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    api = FastAPI(
        title="convrec",
        version="1",
        description="Conversational recommendations over one catalogue. Errors are {'error': message}.",
    )
    api.add_middleware(BodyLimit, max_bytes=max_body_bytes, max_other_bytes=max_upload_bytes)
    model = ModelThreads(service.gate.max_waiting + 1 + SPARE_MODEL_THREADS)

    def error(request: Request, status: int, message: str, **extra: Any) -> JSONResponse:
        headers = {"Retry-After": str(extra.pop("retry_after"))} if "retry_after" in extra else None
        if request.url.path.startswith(openai_api.PATHS):  # OpenAI's clients read OpenAI's error shape
            return openai_api.error_response(status, message, headers, param=_param(extra.get("detail")))
        return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        if any(d["type"] == "json_invalid" for d in detail):
            example = openai_api.EXAMPLE if request.url.path.startswith(openai_api.PATHS) else '{"text": "a comedy"}'
            return error(
                request, 422, f"the request body is not valid JSON; send an object such as {example}.", detail=detail
            )
        message = (
            "; ".join(
                f"{'.'.join(d['loc'][1:]) or 'body'}: {str(d['msg']).removeprefix('Value error, ')}" for d in detail
            )
            or "invalid request"
        )
        return error(request, 422, message, detail=detail)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code in (404, 405):
            message = f"{message}: {request.method} {request.url.path[:100]}; the endpoints are listed at /docs."
        return error(request, exc.status_code, message)

    @api.exception_handler(ConvrecError)
    async def refused(request: Request, exc: ConvrecError) -> JSONResponse:
        status, message, retry_after = refusal(exc)
        if isinstance(exc, StoreUnavailable):
            log.error("database unavailable: %s", exc)
        elif status == 500:
            log.exception("request failed")
        return error(request, status, message, **({"retry_after": retry_after} if retry_after else {}))

    @api.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error(request, 500, "internal error; the request was not applied. It is logged on the server.")

    def turn_out(turn, **extra: Any) -> dict[str, Any]:
        return {**turn.to_dict(), **extra}

    @api.post("/v1/recommend", response_model=TurnOut, response_model_exclude_unset=True, tags=["recommend"])
    async def recommend(body: TextIn) -> dict[str, Any]:
        """One stateless turn: the same JSON object as `convrec recommend --json`."""
        return turn_out(await model.run(service.recommend, body.text, body.k))

    @api.post("/v1/sessions", status_code=201, tags=["sessions"])
    def create_session(request: Request) -> dict[str, Any]:
        """Open a conversation; it closes after `idle_expiry_s` without a request."""
        return {"session_id": service.create(client_of(request)), "idle_expiry_s": service.sessions.ttl_s}

    @api.get("/v1/sessions/{session_id}", tags=["sessions"])
    def session_state(session_id: str) -> dict[str, Any]:
        return service.state(session_id)

    @api.post(
        "/v1/sessions/{session_id}/messages",
        response_model=TurnOut,
        response_model_exclude_unset=True,
        tags=["sessions"],
    )
    async def message(session_id: str, body: TextIn) -> dict[str, Any]:
        """One turn in the conversation; it remembers earlier turns, shown items and feedback."""
        return turn_out(await model.run(service.message, session_id, body.text, body.k), session_id=session_id)

    @api.post(
        "/v1/sessions/{session_id}/feedback",
        response_model=FeedbackOut,
        response_model_exclude_unset=True,
        tags=["sessions"],
    )
    async def feedback(session_id: str, body: FeedbackIn, request: Request) -> dict[str, Any]:
        """Rate one shown item. The event is committed to the database before this answers."""
        run = model.run if body.action in STEERING else run_in_threadpool  # only steering waits for the model
        event, nxt = await run(service.feedback, session_id, body.item_id, body.action, body.k, client_of(request))
        out = {
            "session_id": session_id,
            "item_id": body.item_id,
            "action": body.action,
            "event_id": event.id if event else None,
        }
        if nxt is not None:
            out["next"] = turn_out(nxt, session_id=session_id)
        return out

    @api.delete("/v1/sessions/{session_id}", tags=["sessions"])
    def forget(session_id: str) -> dict[str, Any]:
        """Delete the conversation and all its stored feedback (also after it expired)."""
        return service.forget(session_id)

    checks = ThreadPoolExecutor(2, thread_name_prefix="convrec-healthz")  # not the shared pool: it may be all
    # taken by requests waiting for a database that is down

    @api.get("/healthz", tags=["health"], response_model=None)
    async def healthz() -> Any:
        """200 when the store answers, else 503 with "store": "down" (after at most
        `health_timeout_s`, at once while an earlier check is still waiting for it)."""
        health = await asyncio.wrap_future(checks.submit(service.health))
        return JSONResponse(health, status_code=200 if health["store"] == "up" else 503)

    def client_of(request: Request) -> str | None:
        """Who the request counts against (see `sessions.Clients`)."""
        peer = request.client.host if request.client else None
        return service.clients.of(peer, request.headers.get("x-forwarded-for"))

    openai_api.add_routes(api, service, model.run, refusal, client_of)
    return api


def refusal(exc: BaseException) -> tuple[int, str, int | None]:
    """The status, message and Retry-After seconds (None: no header) an error is answered with."""
    if isinstance(exc, SessionNotFound):
        return 404, str(exc), None
    if isinstance(exc, SessionBusy):
        return 409, str(exc), None
    if isinstance(exc, ServiceBusy):
        return 503, str(exc), exc.retry_after_s
    if isinstance(exc, RateLimited):
        return 429, str(exc), exc.retry_after_s
    if isinstance(exc, StoreUnavailable):
        return 503, "the conversation store is unavailable; try again shortly.", 5
    if isinstance(exc, InputError):
        return 422, str(exc), None
    if isinstance(exc, ConvrecError):
        return 500, f"the server could not answer: {exc}", None
    return 500, "internal error; the request was not applied. It is logged on the server.", None


def _param(detail: list[dict[str, Any]] | None) -> str | None:
    """The field a validation error names, as OpenAI's `param` ("messages.0.role"), or None."""
    if not detail or detail[0]["type"] == "json_invalid":  # its loc is a character offset
        return None
    return ".".join(detail[0]["loc"][1:]) or None


class BodyLimit:
    """Pure ASGI middleware: a request body over its limit gets 413 before any handler runs:
    `max_bytes` for the API (/v1), `max_other_bytes` for the rest (the chat, whose largest
    request is the upload of one picture)."""

    def __init__(self, app: Any, max_bytes: int, max_other_bytes: int) -> None:
        self.app, self.max_bytes, self.max_other_bytes = app, max_bytes, max_other_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_bytes if scope["path"].startswith("/v1") else self.max_other_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared and (not declared.isdigit() or int(declared) > limit):
            return await self._too_large(send, limit, scope["path"])
        chunks, size, more = [], 0, True
        while more:
            msg = await receive()
            if msg["type"] != "http.request":
                return
            chunks.append(msg.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return await self._too_large(send, limit, scope["path"])
            more = msg.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any, limit: int, path: str) -> None:
        message = f"the request body is over {limit:,} bytes; send less."
        body = openai_api.error_body(413, message) if path.startswith(openai_api.PATHS) else {"error": message}
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def create_server(service: ChatService, *, ui: bool = True) -> Any:
    """The API, with the Gradio chat mounted at / when `ui`."""
    api = create_api(service)
    if ui:
        import gradio as gr

        from convrec.serve.ui import CSS, HEAD, build_app

        blocks = build_app(service)
        api = gr.mount_gradio_app(
            api,
            blocks,
            path="/",
            css=CSS,
            head=HEAD,
            footer_links=[],
            run_history=False,
            max_file_size=MAX_PICTURE_BYTES,  # the page refuses a bigger picture before sending it
        )
    return api


class Running:
    """A uvicorn server on a background thread (tests, the load test, the screenshot)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket

        import uvicorn

        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.host, self.port = host, port
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5, proxy_headers=False
            )
        )
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Running:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def serve(
    recommender: Any,
    settings: Any,
    *,
    host: str | None = None,
    port: int | None = None,
    feedback_db: Path | None = None,
    ui: bool = True,
) -> None:
    """Run the chat and the API until interrupted (what `convrec serve` and `python app.py` do).
    Conversations and feedback are kept in `settings.db_url` when set (PostgreSQL, shared by
    replicas), else in the SQLite file `feedback_db`."""
    import uvicorn

    host, port = host or settings.host, port or settings.port
    store = open_store(
        db_target(settings, feedback_db), pool_size=settings.db_pool_size, timeout_s=settings.store_timeout_s
    )
    service = make_service(recommender, store=store)
    app = create_server(service, ui=ui)
    where = f"http://{host}:{port}"
    print(f"convrec: chat on {where}/  API on {where}/docs  conversations and feedback in {store.where}", flush=True)
    # X-Forwarded-For is read by `sessions.Clients`, from the configured proxies only (uvicorn's
    # own reading would believe any process on this machine)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5, proxy_headers=False)


# -- CLI ------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from convrec.chat.load import load_recommender
    from convrec.core.config import settings_from_args

    settings = settings_from_args(args)
    given = {"db_url": args.db_url, "session_ttl_s": args.session_ttl, "max_sessions": args.max_sessions}
    settings = settings.model_copy(update={k: v for k, v in given.items() if v is not None})
    serve(
        load_recommender(settings),
        settings,
        host=args.host,
        port=args.port,
        feedback_db=args.feedback_db,
        ui=not args.no_ui,
    )
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    s = subparsers.add_parser("serve", help="the browser chat and the REST API on one port (default 127.0.0.1:7860)")
    s.add_argument("--host", help="address to listen on (default: CONVREC_HOST or 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default: CONVREC_PORT or 7860)")
    s.add_argument(
        "--feedback-db",
        type=Path,
        help="SQLite file for conversations and feedback (default: $CONVREC_FEEDBACK_DB or feedback/feedback.sqlite3)",
    )
    s.add_argument(
        "--db-url",
        help="a PostgreSQL database shared by several servers, postgresql://USER:PASSWORD@HOST:5432/DB "
        "(default: $CONVREC_DB_URL; used instead of --feedback-db)",
    )
    s.add_argument("--no-ui", action="store_true", help="serve only the REST API, without the browser chat")
    s.add_argument(
        "--session-ttl",
        type=float,
        help="seconds before an idle conversation is closed (default: CONVREC_SESSION_TTL_S)",
    )
    s.add_argument(
        "--max-sessions", type=int, help="most conversations kept open at once (default: CONVREC_MAX_SESSIONS)"
    )
    s.set_defaults(func=cmd_serve)
