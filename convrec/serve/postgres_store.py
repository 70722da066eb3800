"""The shared store: PostgreSQL, for several `convrec serve` replicas (`CONVREC_DB_URL=postgresql://...`).

psycopg 3 with its connection pool: each method takes a connection, runs one transaction and
commits it before returning (PostgreSQL's default `synchronous_commit=on` makes a commit
durable), so a replica killed right after acknowledging a write loses nothing. A pooled
connection is checked before use, so a database restart costs the next request a reconnect,
not an error, and a database that is down costs a request at most `timeout_s` (for a connection
from the pool), then StoreUnavailable. The tables are created at start, under an advisory lock so
that replicas starting together do not race; they are the SQLite store's, in PostgreSQL's types
(an older database gets the columns added since: `store.MIGRATION`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from convrec.core.errors import StoreUnavailable
from convrec.serve.store import MIGRATION, TABLES, Cursor, Store

SCHEMA_LOCK = 0x636F6E7672656301  # pg_advisory_xact_lock key: "convrec" + 1
SCHEMA = TABLES.format(id="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", int="BIGINT", real="DOUBLE PRECISION")
SCHEMA += (
    MIGRATION.replace("ADD COLUMN", "ADD COLUMN IF NOT EXISTS")
    + """;
CREATE OR REPLACE FUNCTION convrec_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'feedback events are append-only'; END $$;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'events_append_only' AND tgrelid = 'events'::regclass) THEN
    CREATE TRIGGER events_append_only BEFORE UPDATE ON events
      FOR EACH ROW EXECUTE FUNCTION convrec_events_append_only();
  END IF;
END $$;
"""
)


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL without its password, for logs and messages.

    >>> redact("postgresql://convrec:secret@db.example:5432/convrec")
    'postgresql://convrec:***@db.example:5432/convrec'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class _Cursor:
    """psycopg's cursor, taking the `?` placeholders the shared SQL is written with."""

    def __init__(self, cur: Any) -> None:
        self.cur = cur

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> Any:
        return self.cur.execute(sql.replace("?", "%s"), args)


class PostgresStore(Store):
    """Thread-safe: a pool of up to `pool_size` connections; each method one committed transaction."""

    def __init__(self, url: str, pool_size: int = 10, timeout_s: float = 30.0) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self.where = redact(url)
        self.timeout_s = timeout_s
        self._errors: tuple[type[Exception], ...] = (psycopg.OperationalError,)
        try:  # at once, so that a wrong URL or a server that is down is reported now and plainly
            with psycopg.connect(url, connect_timeout=max(1, round(timeout_s))) as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                conn.execute(SCHEMA.encode())  # bytes: several statements, no parameters
        except psycopg.Error as e:
            raise StoreUnavailable(
                f"{self.where}: cannot use the PostgreSQL database ({str(e).strip()}); check CONVREC_DB_URL, "
                "that the server is running and that the user may create tables there."
            ) from e
        from psycopg_pool import PoolTimeout

        self._errors += (PoolTimeout,)
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            timeout=timeout_s,
            kwargs={"connect_timeout": max(1, round(timeout_s))},
            # the pool retries a lost database with a doubling delay, without bound: after a minute's
            # outage its next try could come a minute after the database is back. Giving up after
            # `timeout_s` makes the next request that waits try again at once.
            reconnect_timeout=timeout_s,
            check=ConnectionPool.check_connection,
            name="convrec",
            open=True,
        )

    @contextmanager
    def _tx(self, write: bool = True, timeout_s: float | None = None) -> Iterator[Cursor]:
        try:
            with self.pool.connection(timeout=timeout_s) as conn, conn.cursor() as cur:
                yield _Cursor(cur)
        except self._errors as e:
            raise StoreUnavailable(
                f"{self.where}: the PostgreSQL database did not answer ({str(e).strip()}); check that it is running."
            ) from e

    def close(self) -> None:
        self.pool.close()
