"""A real PostgreSQL server for the tests: initdb + pg_ctl in a temporary directory, on a loopback port.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user that
Debian's package creates (`runuser -u postgres --`); otherwise as the current user. Without the
server binaries (`make test` installs Debian's `postgresql` when it runs as root) the tests that
need it skip and say why. Password authentication over TCP, as a deployment would use.

    server = PgServer.start()     # or the `pg_server` fixture (one per test run)
    url = server.create_database("t1")   # postgresql://convrec:...@127.0.0.1:PORT/t1
    server.halt(); server.resume()  # an outage: stopped, then started again with its data
    server.stop()                 # stops it and removes the directory
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_USER = "convrec"


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin (Debian), else the directory of `initdb` on PATH."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if found:
        newest = max(found, key=lambda p: int(re.sub(r"\D", "", Path(p).parts[-3]) or 0))
        return Path(newest).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def why_not() -> str | None:
    """Why no server can be started here, or None when one can."""
    bindir = find_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        return "no PostgreSQL server binaries (initdb, pg_ctl); `make test` installs Debian's postgresql as root"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no 'postgres' user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root, and no runuser to start PostgreSQL as the 'postgres' user"
    return None


def _reachable_tmp() -> str:
    """The temporary directory, if the `postgres` user can reach into it (as root, the server
    runs as that user), else /tmp."""
    tmp = Path(tempfile.gettempdir()).resolve()
    if os.geteuid() != 0 or all(p.stat().st_mode & 0o001 for p in (tmp, *tmp.parents)):
        return str(tmp)
    return "/tmp"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One PostgreSQL cluster in its own directory, listening on 127.0.0.1 only."""

    def __init__(self, bindir: Path, base: Path, port: int, password: str) -> None:
        self.bindir, self.base, self.port, self.password = bindir, base, port, password
        self.data = base / "data"

    @classmethod
    def start(cls, timeout_s: float = 60.0) -> PgServer:
        reason = why_not()
        if reason:
            raise RuntimeError(reason)
        bindir = find_bindir()
        assert bindir is not None
        base = Path(tempfile.mkdtemp(prefix="convrec-pg-", dir=_reachable_tmp()))
        server = cls(bindir, base, free_port(), secrets.token_urlsafe(12))
        try:
            server._init_and_start(timeout_s)
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, *argv: str, timeout_s: float = 120.0) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=self.base)
        if done.returncode != 0:
            log = self.base / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(argv[:2])} failed ({done.returncode}): {done.stderr[-2000:]}\n{tail}")

    def _init_and_start(self, timeout_s: float) -> None:
        pwfile = self.base / "pw"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            for path in (self.base, pwfile):
                os.chown(path, pg.pw_uid, pg.pw_gid)
        os.chmod(pwfile, 0o600)
        self._run(
            "initdb", "-D", str(self.data), "-U", PG_USER, f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
            "--auth-local=peer", "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        self.resume(timeout_s)

    def resume(self, timeout_s: float = 60.0) -> None:
        """Start the server (again, after `halt`), on the same port with the same data."""
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.base}"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-o", options,
            "-w", "-t", str(int(timeout_s)), "start",
        )  # fmt: skip

    def halt(self) -> None:
        """Stop the server as an outage would (immediately), keeping its data for `resume`."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout_s=60)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{PG_USER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is kept) and remove its directory."""
        if (self.data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout_s=60)
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        for _ in range(3):
            shutil.rmtree(self.base, ignore_errors=True)
            if not self.base.exists():
                break
            time.sleep(0.5)
