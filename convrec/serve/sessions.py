"""Many conversations at once: a session store with idle expiry, and a fair line for the model.

- `SessionStore` keeps each conversation (`Session`) under an unguessable id in a `store.Store`
  (SQLite, or PostgreSQL shared by several replicas): every request loads it from there and
  every turn saves it there before answering, so any replica can continue any conversation and
  a restart loses none. A session idle for `ttl_s` (by the last use stored with it, so every
  replica agrees) is gone, and when `max_sessions` are live a new one is refused (503) rather
  than evicting someone who is still talking. Each session has a lock in this process, so one
  conversation runs one turn at a time here; across replicas, a save that finds that another
  request saved first is refused (409) instead of overwriting it.
- `FairGate` is the line in front of this process's model: first come, first served, with a
  bounded number of waiters. Because a session holds at most one place in the line, serving
  the line in order is round-robin across conversations: a busy user cannot starve the others.
- Per client (`Clients`: a keyed hash of the peer address, or of the address a configured proxy
  forwarded, an IPv6 one by its /48), so that one client cannot take what all share: at most
  `max_per_client` live sessions (counted in the store, so across replicas; beyond, 429 instead
  of filling the store and locking everyone out), and `RateWindow` for events a minute
  (feedback; counted in each process). The same key marks the feedback events, so that
  `convrec learn` counts votes per client, not per conversation.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from convrec.chat.session import Session
from convrec.core.config import Settings
from convrec.core.errors import ConvrecError, InputError, RateLimited
from convrec.serve.sqlite_store import SQLiteStore
from convrec.serve.store import Pending, Store

LIMITS = Settings.model_fields  # the bounds' defaults are the settings' (`session_ttl_s`, `max_sessions`)

SESSION_ID_CHARS = 22  # secrets.token_urlsafe(16)


class SessionNotFound(ConvrecError):
    """The session id is unknown, expired or deleted (HTTP 404)."""


class SessionBusy(ConvrecError):
    """The session is already running a turn, or was changed by another request meanwhile (HTTP 409)."""


class ServiceBusy(ConvrecError):
    """Too many sessions or too long a line for the model (HTTP 503); `retry_after_s` says when to retry."""

    def __init__(self, message: str, retry_after_s: int = 10) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BadFeedback(InputError):
    """Feedback that names an item the session cannot rate (HTTP 422)."""


@dataclass
class Live:
    """One conversation as loaded: its session with the pending ratings folded in, the version a
    save must name, and this process's lock for it (held while a turn runs)."""

    sid: str
    session: Session
    version: int
    client: str | None  # who opened it (`client_key`), for the per-client limit
    last_used: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: list[Pending] = field(default_factory=list)  # folded into `session`; the next save clears them


class SessionStore:
    """Conversations in a `Store` (default: SQLite in memory), with idle expiry, a size bound and a
    bound per client (`max_per_client`; None: none).

    `clock` (wall-clock seconds, as replicas must agree on it) is injectable so tests can expire
    sessions without sleeping.
    """

    def __init__(
        self,
        ttl_s: float = LIMITS["session_ttl_s"].default,
        max_sessions: int = LIMITS["max_sessions"].default,
        clock: Callable[[], float] = time.time,
        max_per_client: int | None = None,
        store: Store | None = None,
    ) -> None:
        if ttl_s <= 0 or max_sessions <= 0:
            raise ValueError("ttl_s and max_sessions must be positive")
        self.ttl_s, self.max_sessions, self.clock = ttl_s, max_sessions, clock
        self.max_per_client = max_per_client
        self.store = store if store is not None else SQLiteStore()
        self.sweep_every_s = min(60.0, ttl_s / 10)  # how often expired rows are deleted (expiry itself is exact)
        self.touch_after_s = ttl_s / 100  # a read marks the session used when its mark is older than this
        self._lock = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, float]] = {}  # sid -> (its lock here, last used here)
        self._swept_at = -math.inf
        self.expired = 0

    def __len__(self) -> int:
        """Live conversations in the store (all replicas')."""
        now = self.clock()
        self._maybe_sweep(now)
        return self.store.count_sessions(now - self.ttl_s)[0]

    def __contains__(self, sid: object) -> bool:
        if not isinstance(sid, str):
            return False
        stored = self.store.load_session(sid)
        return stored is not None and self.clock() - stored.last_used < self.ttl_s

    def create(self, client: str | None = None) -> str:
        """A new session for `client` (None: not counted against anyone), stored before it is returned."""
        now = self.clock()
        self._maybe_sweep(now)
        if client is not None and self.max_per_client is not None:
            n, oldest = self.store.count_sessions(now - self.ttl_s, client)
            if n >= self.max_per_client:
                wait = max(1, math.ceil((oldest or now) + self.ttl_s - now))
                raise RateLimited(
                    f"this address has {n} conversations open, the most one client may keep; delete one "
                    f"(DELETE /v1/sessions/{{id}}) or try again in {wait} s, when the longest idle one closes.",
                    retry_after_s=wait,
                )
        if self.store.count_sessions(now - self.ttl_s)[0] >= self.max_sessions:
            raise ServiceBusy(
                f"{self.max_sessions:,} conversations are open, the most kept at once; "
                f"try again in a few minutes (idle ones close after {self.ttl_s / 60:.0f} minutes).",
                retry_after_s=60,
            )
        sid = secrets.token_urlsafe(16)
        self.store.create_session(sid, client, Session().to_dict(), now)
        return sid

    def get(self, sid: str) -> Live:
        """The conversation as stored now (pending ratings folded in), marked as used; SessionNotFound
        if unknown, deleted or idle too long."""
        now = self.clock()
        self._maybe_sweep(now)
        stored = self.store.load_session(sid)
        if stored is None:
            raise self.not_found(sid)
        lock = self._lock_of(sid, now)
        if now - stored.last_used >= self.ttl_s and not lock.locked():  # a turn running here keeps it
            if self.store.delete_session(sid):
                self.expired += 1
            raise self.not_found(sid)
        if now - stored.last_used >= self.touch_after_s:
            self.store.touch_session(sid, now)
            stored.last_used = now
        session = Session.from_dict(stored.data)
        for p in stored.pending:
            session.feedback(p.item_id, p.liked)
        return Live(sid, session, stored.version, stored.client, stored.last_used, lock, stored.pending)

    def save(self, live: Live) -> None:
        """Store the conversation after a turn (and clear the pending ratings it folded in).
        SessionNotFound if it was deleted or expired meanwhile; SessionBusy if another request
        saved it first (this one's answer would overwrite what that one did)."""
        now = self.clock()
        applied = [p.event_id for p in live.pending]
        if self.store.save_session(live.sid, live.session.to_dict(), live.version, now, applied):
            live.version, live.last_used, live.pending = live.version + 1, now, []
            return
        if self.store.load_session(live.sid) is None:
            raise self.not_found(live.sid)
        raise SessionBusy(
            "this conversation changed while this message was answered (another tab or request sent one too); "
            "send the message again."
        )

    def drop(self, sid: str) -> bool:
        """Delete the conversation (its feedback events stay); False if there was none."""
        with self._lock:
            self._locks.pop(sid, None)
        return self.store.delete_session(sid)

    def sweep(self) -> int:
        """Delete the expired conversations from the store now; returns how many."""
        now = self.clock()
        with self._lock:
            self._swept_at = now
            keep = [sid for sid, (lock, _) in self._locks.items() if lock.locked()]
            self._locks = {
                sid: (lock, used)
                for sid, (lock, used) in self._locks.items()
                if lock.locked() or now - used < self.ttl_s
            }
        dropped = self.store.expire_sessions(now - self.ttl_s, keep)
        self.expired += dropped
        return dropped

    def _maybe_sweep(self, now: float) -> None:
        if now - self._swept_at >= self.sweep_every_s:
            self.sweep()

    def _lock_of(self, sid: str, now: float) -> threading.Lock:
        with self._lock:
            lock = self._locks[sid][0] if sid in self._locks else threading.Lock()
            self._locks[sid] = (lock, now)
            return lock

    def not_found(self, sid: str) -> SessionNotFound:
        return SessionNotFound(
            f"no conversation with id {sid[:40]!r}: it expired after {self.ttl_s / 60:.0f} idle minutes, "
            "was deleted, or never existed; create one with POST /v1/sessions."
        )


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


def client_network(host: str | None) -> str | None:
    """The network a request's address stands for: the address itself, or for IPv6 its /48. An
    ISP gives one customer a /48 or a /56 (RFC 6177), so keyed by its /64 one customer would be
    65,536 clients; by its /48 it is one, like an IPv4 address (an organisation behind one /48
    shares its limits, as people behind one NAT address do).

    >>> client_network("203.0.113.7"), client_network("2001:db8:1:2::10"), client_network("::ffff:10.0.0.1")
    ('203.0.113.7', '2001:db8:1::/48', '10.0.0.1')
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
        return str(ipaddress.ip_network(f"{ip}/48", strict=False))
    return str(ip)


def client_key(host: str | None, secret: str = "") -> str | None:
    """Who a request counts against, as stored: a hash of its network (`client_network`), keyed
    with `secret` so that a stored key cannot be matched to an address without it.

    >>> client_key("2001:db8:1:2::10") == client_key("2001:db8:1:ffff::1") != client_key("2001:db8:2::1")
    True
    >>> client_key("203.0.113.7", "s") != client_key("203.0.113.7", "t"), len(client_key("203.0.113.7"))
    (True, 18)
    """
    network = client_network(host)
    if network is None:
        return None
    return "c-" + hashlib.blake2b(network.encode(), key=secret.encode()[:64], digest_size=8).hexdigest()


class Clients:
    """Who a request comes from: its peer address, unless the peer is one of the `trusted`
    proxies (comma-separated addresses or networks), whose X-Forwarded-For then names it (the
    right-most address in it that is not itself a trusted proxy). Anyone else's X-Forwarded-For
    is ignored: a client cannot choose its own key.

    >>> Clients().of("127.0.0.1", "198.51.100.1") == client_key("127.0.0.1")
    True
    >>> proxied = Clients("127.0.0.1, 10.0.0.0/8")
    >>> proxied.of("127.0.0.1", "198.51.100.1, 203.0.113.9, 10.1.2.3") == client_key("203.0.113.9")
    True
    """

    def __init__(self, trusted: str = "", secret: str = "") -> None:
        self.trusted = [ipaddress.ip_network(t.strip(), strict=False) for t in trusted.split(",") if t.strip()]
        self.secret = secret

    def is_trusted(self, host: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in self.trusted)

    def address(self, peer: str | None, forwarded_for: str | None = None) -> str | None:
        """The client's address (see the class docstring)."""
        if not forwarded_for or not self.is_trusted(peer):
            return peer
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            if not self.is_trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer  # a hop that is no address: the proxy's own word cannot be read
            peer = hop
        return peer

    def of(self, peer: str | None, forwarded_for: str | None = None) -> str | None:
        """The stored key of the client (`client_key` of `address`)."""
        return client_key(self.address(peer, forwarded_for), self.secret)


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
