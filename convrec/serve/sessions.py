"""Many conversations at once: a session store with idle expiry, and a fair line for the model.

- `SessionStore` keeps each conversation (`Session`) under an unguessable id. Memory is bounded
  twice: a session idle for `ttl_s` is dropped, and when `max_sessions` are live a new one is
  refused (503) rather than evicting someone who is still talking. Nothing is shared between
  sessions; each has its own lock, so one conversation runs one turn at a time.
- `FairGate` is the line in front of the one shared model: first come, first served, with a
  bounded number of waiters. Because a session holds at most one place in the line, serving
  the line in order is round-robin across conversations: a busy user cannot starve the others.
- Per client (`client_key`: the remote address, an IPv6 one by its /64), so that one client
  cannot take what all share: at most `max_per_client` live sessions in the store (beyond,
  429 instead of filling the store and locking everyone out), and `RateWindow` for events a
  minute (feedback).

Left out on purpose: persistence. A conversation lives in memory; what a person tells us that
must survive a crash (their feedback) goes to `feedback.FeedbackStore` before it is acknowledged.
"""

from __future__ import annotations

import ipaddress
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from convrec.chat.session import Session
from convrec.core.errors import ConvrecError, InputError, RateLimited

SESSION_ID_CHARS = 22  # secrets.token_urlsafe(16)


class SessionNotFound(ConvrecError):
    """The session id is unknown, expired or deleted (HTTP 404)."""


class SessionBusy(ConvrecError):
    """The session is already running a turn (HTTP 409)."""


class ServiceBusy(ConvrecError):
    """Too many sessions or too long a line for the model (HTTP 503); `retry_after_s` says when to retry."""

    def __init__(self, message: str, retry_after_s: int = 10) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BadFeedback(InputError):
    """Feedback that names an item the session cannot rate (HTTP 422)."""


@dataclass
class Live:
    """One conversation in the store: the session, its lock, and feedback not yet applied to it."""

    session: Session
    last_used: float
    client: str | None = None  # who opened it (`client_key`), for the per-client limit
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: list[tuple[int, bool]] = field(default_factory=list)  # (item_id, liked), applied before the next turn

    def apply_pending(self) -> None:
        """Fold queued 👍/👎 into the session; call with `lock` held."""
        while self.pending:
            item_id, liked = self.pending.pop(0)
            self.session.feedback(item_id, liked)


class SessionStore:
    """Thread-safe map of session id -> `Live`, with idle expiry, a size bound and a bound per
    client (`max_per_client`; None: none).

    `clock` is injectable so tests can expire sessions without sleeping.
    """

    def __init__(
        self,
        ttl_s: float = 1800.0,
        max_sessions: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        max_per_client: int | None = None,
    ) -> None:
        if ttl_s <= 0 or max_sessions <= 0:
            raise ValueError("ttl_s and max_sessions must be positive")
        self.ttl_s, self.max_sessions, self.clock = ttl_s, max_sessions, clock
        self.max_per_client = max_per_client
        self._lock = threading.Lock()
        self._live: OrderedDict[str, Live] = OrderedDict()  # least recently used first
        self.expired = 0

    def __len__(self) -> int:
        with self._lock:
            self._sweep()
            return len(self._live)

    def __contains__(self, sid: object) -> bool:
        with self._lock:
            return sid in self._live

    def create(self, client: str | None = None) -> str:
        """A new session for `client` (None: not counted against anyone)."""
        with self._lock:
            self._sweep()
            if client is not None and self.max_per_client is not None:
                self._check_client(client)
            if len(self._live) >= self.max_sessions:
                raise ServiceBusy(
                    f"{self.max_sessions:,} conversations are open, the most this server keeps; "
                    f"try again in a few minutes (idle ones close after {self.ttl_s / 60:.0f} minutes).",
                    retry_after_s=60,
                )
            sid = secrets.token_urlsafe(16)
            self._live[sid] = Live(Session(), self.clock(), client)
            return sid

    def _check_client(self, client: str) -> None:
        """RateLimited when `client` already holds `max_per_client` live sessions."""
        theirs = [live for live in self._live.values() if live.client == client]  # least recently used first
        if self.max_per_client is not None and len(theirs) >= self.max_per_client:
            wait = max(1, math.ceil(theirs[0].last_used + self.ttl_s - self.clock()))
            raise RateLimited(
                f"this address has {len(theirs)} conversations open, the most one client may keep; delete one "
                f"(DELETE /v1/sessions/{{id}}) or try again in {wait} s, when the longest idle one closes.",
                retry_after_s=wait,
            )

    def get(self, sid: str) -> Live:
        """The live session, marked as used now; SessionNotFound if unknown or idle too long."""
        with self._lock:
            self._sweep()
            live = self._live.get(sid)
            if live is None:
                raise SessionNotFound(
                    f"no conversation with id {sid[:40]!r}: it expired after {self.ttl_s / 60:.0f} idle minutes, "
                    "was deleted, or never existed; create one with POST /v1/sessions."
                )
            live.last_used = self.clock()
            self._live.move_to_end(sid)
            return live

    def drop(self, sid: str) -> bool:
        with self._lock:
            return self._live.pop(sid, None) is not None

    def sweep(self) -> int:
        with self._lock:
            return self._sweep()

    def _sweep(self) -> int:
        """Drop sessions idle longer than ttl_s (the oldest are first in the OrderedDict)."""
        now, stale = self.clock(), []
        for sid, live in self._live.items():
            if now - live.last_used < self.ttl_s:
                break
            if not live.lock.locked():  # a turn still running keeps its session
                stale.append(sid)
        for sid in stale:
            del self._live[sid]
        dropped = len(stale)
        self.expired += dropped
        return dropped


class FairGate:
    """A first-come-first-served lock with a bounded line and a wait timeout.

    `release` hands the lock straight to the oldest waiter, so nobody can jump the line.

    >>> gate = FairGate(max_waiting=1)
    >>> with gate.turn() as waited_s:
    ...     gate.stats()["busy"], waited_s
    (True, 0.0)
    """

    def __init__(self, max_waiting: int = 32, timeout_s: float = 600.0) -> None:
        self.max_waiting, self.timeout_s = max_waiting, timeout_s
        self._lock = threading.Lock()
        self._busy = False
        self._waiters: deque[threading.Event] = deque()
        self.served = 0
        self.max_line = 0

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiters)

    def stats(self) -> dict[str, int | bool]:
        with self._lock:
            return {"busy": self._busy, "waiting": len(self._waiters), "served": self.served, "max_line": self.max_line}

    def acquire(self) -> float:
        """Wait for our turn; returns the seconds waited. ServiceBusy if the line is full or too slow."""
        start = time.perf_counter()
        with self._lock:
            if not self._busy and not self._waiters:
                self._busy = True
                self.served += 1
                return 0.0
            if len(self._waiters) >= self.max_waiting:
                raise ServiceBusy(
                    f"{len(self._waiters)} requests are already waiting for the model; try again shortly."
                )
            ticket = threading.Event()
            self._waiters.append(ticket)
            self.max_line = max(self.max_line, len(self._waiters))
        if not ticket.wait(self.timeout_s):
            with self._lock:
                if not ticket.is_set():  # not handed over at the last moment: leave the line
                    self._waiters.remove(ticket)
                    raise ServiceBusy(f"waited {self.timeout_s:.0f} s for the model without getting a turn; try again.")
        with self._lock:
            self.served += 1
        return time.perf_counter() - start

    def release(self) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().set()  # stays busy: the next in line owns it now
            else:
                self._busy = False

    @contextmanager
    def turn(self) -> Iterator[float]:
        waited = self.acquire()
        try:
            yield waited
        finally:
            self.release()


class RateWindow:
    """At most `limit` events per `per_s` seconds for each client (a sliding window).

    >>> window = RateWindow(2, clock=lambda: 0.0)
    >>> window.hit("a"), window.hit("a"), window.hit("b")
    (None, None, None)
    >>> window.hit("a")
    Traceback (most recent call last):
    ...
    convrec.core.errors.RateLimited: at most 2 feedback events a minute are taken from one address; try again in 60 s.
    """

    SWEEP_AT = 10_000  # clients remembered before those with no recent event are forgotten

    def __init__(self, limit: int, per_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if limit <= 0 or per_s <= 0:
            raise ValueError("limit and per_s must be positive")
        self.limit, self.per_s, self.clock = limit, per_s, clock
        self._lock = threading.Lock()
        self._times: dict[str, deque[float]] = {}

    def hit(self, client: str) -> None:
        """Count one event of `client`; RateLimited (and not counted) when it has had its share."""
        now = self.clock()
        with self._lock:
            times = self._times.setdefault(client, deque())
            while times and now - times[0] >= self.per_s:
                times.popleft()
            if len(times) >= self.limit:
                wait = max(1, math.ceil(times[0] + self.per_s - now))
                raise RateLimited(
                    f"at most {self.limit} feedback events a minute are taken from one address; try again in {wait} s.",
                    retry_after_s=wait,
                )
            times.append(now)
            if len(self._times) > self.SWEEP_AT:
                self._times = {c: t for c, t in self._times.items() if t and now - t[-1] < self.per_s}


def client_key(host: str | None) -> str | None:
    """Who a request counts against: its address, or for IPv6 its /64 network (one machine is
    commonly given a whole /64, so its addresses are one client).

    >>> client_key("203.0.113.7"), client_key("2001:db8:1:2::10"), client_key("::ffff:10.0.0.1")
    ('203.0.113.7', '2001:db8:1:2::/64', '10.0.0.1')
    """
    if host is None:
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an address (a test client's name)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def check_session_id(sid: str) -> str:
    """Reject ids that cannot be ours before looking them up (they come from URLs).

    >>> check_session_id("abc")
    Traceback (most recent call last):
    ...
    convrec.serve.sessions.SessionNotFound: 'abc' is not a session id (ids are 22 characters of A-Z, a-z, 0-9, - and _).
    """
    if len(sid) != SESSION_ID_CHARS or not all(c.isascii() and (c.isalnum() or c in "-_") for c in sid):
        raise SessionNotFound(f"{sid[:40]!r} is not a session id (ids are 22 characters of A-Z, a-z, 0-9, - and _).")
    return sid
