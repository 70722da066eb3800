"""What the browser chat and the REST API both do, in one place: turns, feedback, forgetting.

    ChatService(recommender, sessions, gate, feedback_rate)
      .create(client)                    -> session id   (at most so many live per client)
      .message(sid, text, k)             -> Turn         (queued fairly for the model)
      .message_stream(sid, text, k)      -> Turns        (a rules-only preview at once, then that Turn, then the model's checked words)
      .feedback(sid, item_id, action, k, client) -> (Event, Turn | None)   (so many a minute per client)
      .forget(sid)                       -> what was deleted
      .recommend(text, k)                -> Turn         (stateless)
      .conversation_stream(earlier, text, k) -> Turns    (stateless: a conversation the client keeps, replayed)

Conversations and feedback live in one `store.Store` (`sessions.store`): each request loads
its conversation from there and each turn saves it there before it is answered, so any replica
sharing the database can continue it. A feedback event is committed, with the conversation's
pending rating, before it is acknowledged.

Feedback semantics, the same in the UI and the API:
  - 👍 `like` / 👎 `dislike` rate an item quietly: stored at once, shown in the session's state
    and folded into it before its next turn (liked items pull their neighbours in; disliked ones
    push theirs away and never come back);
  - `more_like` / `not_interested` steer now: the same rating, then a new turn, "more like #n" or
    "not interested in #n" against the latest list, whose answer is returned.

The catalogue answers every turn: the text only sets filters and preferences over catalogue
items, so nothing a person types (a prompt injection included) can add an item that is not in
the index.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as Waited
from pathlib import Path
from typing import Any, NamedTuple

from convrec.chat.session import Session
from convrec.chat.talk import Turn
from convrec.core.config import Settings
from convrec.core.errors import InputError, StoreUnavailable
from convrec.lang import language
from convrec.retrieve.images import Picture
from convrec.serve.db import open_store
from convrec.serve.sessions import (
    BadFeedback,
    Clients,
    FairGate,
    Live,
    RateWindow,
    SessionBusy,
    SessionStore,
    check_session_id,
)
from convrec.serve.store import ACTIONS, POSITIVE, STEERING, Event, Pending, Store

MAX_TURNS = 200  # per conversation; bounds a session's memory
MAX_K = 20  # the most items one answer may hold


class Said(NamedTuple):
    """An earlier turn of a conversation that the client keeps: what the person said, the items
    the answer showed (catalogue ids, in display order) and whether it asked a question."""

    text: str
    shown: tuple[int, ...] = ()
    asked: bool = False


class ChatService:
    def __init__(
        self,
        recommender: Any,
        sessions: SessionStore | None = None,
        gate: FairGate | None = None,
        feedback_rate: RateWindow | None = None,
        clients: Clients | None = None,
        health_timeout_s: float = 2.0,
    ) -> None:
        self.recommender = recommender
        self.sessions = sessions if sessions is not None else SessionStore()  # an empty store is falsy
        self.gate = gate if gate is not None else FairGate()
        self.feedback_rate = feedback_rate  # None: no limit per client
        self.clients = clients if clients is not None else Clients()  # who a request comes from
        self.health_timeout_s = health_timeout_s
        self._probe: tuple[Future[tuple[int, float | None]], float] | None = None  # the latest check, and its start
        self._probing = ThreadPoolExecutor(1, thread_name_prefix="convrec-health")

    @property
    def store(self) -> Store:
        """Where the conversations and the feedback are kept."""
        return self.sessions.store

    # -- conversations -------------------------------------------------------------------------
    def create(self, client: str | None = None) -> str:
        """A new conversation; `client` (see `sessions.Clients`) counts it against that client."""
        return self.sessions.create(client)

    def state(self, sid: str) -> dict[str, Any]:
        live = self.sessions.get(check_session_id(sid))
        s = live.session
        return {
            "session_id": sid,
            "turns": len(s.turns),
            "needs": s.needs.to_dict(),
            "last_shown": list(s.last_shown),
            "pending_feedback": len(live.pending),
            "feedback_events": self.store.count(sid),
        }

    def message(self, sid: str, text: str, k: int | None = None, image: Picture | None = None) -> Turn:
        for turn in self.message_stream(sid, text, k, image):
            pass
        return turn

    def message_stream(self, sid: str, text: str, k: int | None = None, image: Picture | None = None) -> Iterator[Turn]:
        """The preview (rules and blend only: it needs no place in the model's queue), then the
        final turn. The conversation is held from the first value to the last. `image`: an
        uploaded picture, "more like this picture" (see `Recommender.stream`). The final turn
        is saved before it is yielded; a caller that stops after the preview changes nothing."""
        live = self._hold(sid, "this conversation is still answering its previous message; wait for that answer first.")
        try:
            if len(live.session.turns) >= MAX_TURNS:
                raise InputError(f"this conversation has reached {MAX_TURNS} turns; start a new one.")
            turns = self._turns(live.session, text, k, image)
            yield next(turns)
            final = next(turns)
            self.sessions.save(live)
            yield final
            yield from turns  # the model's checked words, where it writes the reply or reasons
        finally:
            live.lock.release()

    def _hold(self, sid: str, busy: str) -> Live:
        """The conversation, loaded again once this process's lock for it is held (so that it is
        the latest version); SessionBusy with `busy` when a turn of it is running here."""
        lock = self.sessions.get(check_session_id(sid)).lock
        if not lock.acquire(blocking=False):
            raise SessionBusy(busy)
        try:
            return self.sessions.get(sid)
        except BaseException:
            lock.release()
            raise

    def recommend(self, text: str, k: int | None = None) -> Turn:
        """One stateless turn (POST /v1/recommend): the same object as `convrec recommend --json`."""
        for turn in self._turns(Session(), text, k):
            pass
        return turn

    def conversation(self, earlier: Sequence[Said], text: str, k: int | None = None) -> Turn:
        """The last value of `conversation_stream`: the turn with the model's final words."""
        for turn in self.conversation_stream(earlier, text, k):
            pass
        return turn

    def conversation_stream(
        self, earlier: Sequence[Said], text: str, k: int | None = None
    ) -> Generator[Turn, None, None]:
        """A conversation that the client keeps (the OpenAI-style API is stateless): the
        `earlier` turns folded into a fresh session by `Recommender.replay` (rules only: no model
        call and no ranking for turns already answered), then `text` answered as `message_stream`
        answers it (preview, final turn, the model's words). Nothing is stored."""
        if len(earlier) >= MAX_TURNS:
            raise InputError(
                f"the conversation has {len(earlier) + 1} turns; the limit is {MAX_TURNS}. Start a new one."
            )
        session = Session()
        for said in earlier:
            self.recommender.replay(session, said.text, said.shown, said.asked)
        yield from self._turns(session, text, k)

    def _turns(self, session: Session, text: str, k: int | None, image: Picture | None = None) -> Iterator[Turn]:
        turns = self.recommender.stream(session, text, k, image=image)
        yield next(turns)
        with self.gate.turn() as waited_s:
            for turn in turns:  # the final turn, then each addition the model writes to it
                turn.timings_ms["queue"] = waited_s * 1000
                yield turn

    # -- feedback ------------------------------------------------------------------------------
    def feedback(
        self, sid: str, item_id: int, action: str, k: int | None = None, client: str | None = None
    ) -> tuple[Event | None, Turn | None]:
        """Store one rating (acknowledged only once committed), to be folded into the conversation
        by its next load; steering actions also return the next answer. Errors name what to fix:
        unknown item, not shown, busy, or too many from this `client` this minute (the stored
        events become training data)."""
        live = self.sessions.get(check_session_id(sid))
        if client is not None and self.feedback_rate is not None:
            self.feedback_rate.hit(client)
        if action not in ACTIONS:
            raise BadFeedback(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}.")
        if item_id not in self.recommender.catalog:
            raise BadFeedback(f"item {item_id} is not in the catalogue.")
        session = live.session
        if item_id not in session.shown:
            raise BadFeedback(f"item {item_id} was not shown in this conversation; only shown items can be rated.")
        steer = action in STEERING
        liked = action in POSITIVE
        if not steer:
            return self._record(sid, item_id, action, _position(session.last_shown, item_id), client), None

        live = self._hold(
            sid, "this conversation is still answering; try 'more like this' again when the answer is in."
        )
        try:
            position = _position(live.session.last_shown, item_id)
            if position is None:
                raise BadFeedback(
                    f"item {item_id} is not in the latest answer; 'more like this' and 'not interested' work on "
                    "the latest list (use like or dislike for older items)."
                )
            with self.gate.turn() as waited_s:  # a full line refuses before anything is stored
                event = self._record(sid, item_id, action, position, client)  # the session may be gone by now
                live.pending.append(Pending(event.id, item_id, liked))  # stored pending, folded in here
                live.session.feedback(item_id, liked)
                language = live.session.needs.language
                turn = self.recommender.recommend(live.session, steer_text(action, position, language), k)
            self.sessions.save(live)
            turn.timings_ms["queue"] = waited_s * 1000
            return event, turn
        finally:
            live.lock.release()

    def _record(self, sid: str, item_id: int, action: str, position: int | None, client: str | None) -> Event:
        """Store one event of `client`, and queue it for the conversation, unless the conversation
        is gone: a deletion that comes before the write, or while it happens, wins (SessionNotFound)."""
        event = self.store.record_in_session(sid, item_id, action, position, self.sessions.clock(), client)
        if event is None:
            raise self.sessions.not_found(sid)
        return event

    # -- privacy -------------------------------------------------------------------------------
    def forget(self, sid: str) -> dict[str, Any]:
        """Delete the conversation and every feedback event it left; works after expiry too."""
        check_session_id(sid)
        dropped = self.sessions.drop(sid)
        deleted = self.store.forget(sid)
        if not dropped and not deleted:
            raise self.sessions.not_found(sid)
        return {"session_id": sid, "deleted": True, "feedback_events_deleted": deleted}

    def health(self) -> dict[str, Any]:
        """What /healthz says. The store is "down" when it does not answer within
        `health_timeout_s`, and at once while an earlier check has been waiting longer than that;
        "sessions" is then None. Blocks for at most `health_timeout_s`: call it off the event loop."""
        rec = self.recommender
        sessions = self._live_sessions()
        return {
            "status": "ok" if sessions is not None else "degraded",
            "store": "up" if sessions is not None else "down",
            "store_at": self.store.where,
            "items": len(rec.items),
            "llm": getattr(rec.llm, "name", None) if rec.llm is not None else None,
            "sessions": sessions,
            "model_queue": self.gate.stats(),
        }

    def _live_sessions(self) -> int | None:
        """The live conversations, counted by one check of the store at a time (a check stuck on
        a dead database holds one thread, not one per request); None when it does not answer."""
        now = time.monotonic()
        probe = self._probe
        if probe is None or probe[0].done():
            idle_since = self.sessions.clock() - self.sessions.ttl_s
            future = self._probing.submit(self.store.count_sessions, idle_since, None, self.health_timeout_s)
            probe = self._probe = (future, now)
        wait = probe[1] + self.health_timeout_s - now
        try:
            return probe[0].result(timeout=max(wait, 0.0))[0]
        except (Waited, StoreUnavailable):
            return None


def steer_text(action: str, position: int, code: str) -> str:
    """The turn a steering click stands for, in the conversation's language.

    >>> steer_text("more_like", 2, "en"), steer_text("not_interested", 3, "zh")
    ('more like #2', '不要第3个那种')
    """
    return language(code).steer(action, position)


def _position(last_shown: list[int], item_id: int) -> int | None:
    return last_shown.index(item_id) + 1 if item_id in last_shown else None


def make_service(
    recommender: Any,
    *,
    feedback_db: str | Path | None = None,
    store: Store | None = None,
    max_waiting: int = 32,
) -> ChatService:
    """The service over `recommender`, keeping its data in `store`, else in the database
    `feedback_db` names (a SQLite path or a PostgreSQL URL), else in memory; with the per-client
    limits of its settings (0 turns one off) and their bounds on conversations (idle expiry, how many)."""
    settings = getattr(recommender, "settings", None) or Settings()
    if store is None:
        store = open_store(feedback_db, pool_size=settings.db_pool_size, timeout_s=settings.store_timeout_s)
    per_client = settings.max_sessions_per_client or None
    sessions = SessionStore(settings.session_ttl_s, settings.max_sessions, max_per_client=per_client, store=store)
    rate = settings.feedback_per_minute_per_client
    return ChatService(
        recommender,
        sessions,
        FairGate(max_waiting),
        RateWindow(rate) if rate else None,
        Clients(settings.trusted_proxies, settings.client_key_secret),
        settings.health_timeout_s,
    )
