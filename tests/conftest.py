"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The development data kept next to the repository (../shared/data); tests using it skip without it."""
    path = REPO_ROOT.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip("../shared/data not present")
    return path


@pytest.fixture(scope="session")
def real_encoder():
    """The default sentence-transformers model, from its PyPI package (never downloaded in tests)."""
    from convrec.core.config import Settings
    from convrec.core.errors import ModelNotFound
    from convrec.data.models import resolve_embedder
    from convrec.retrieve.embed import SentenceEncoder

    settings = Settings()
    try:
        return SentenceEncoder(resolve_embedder(settings), settings.embed_model)
    except (ModelNotFound, OSError) as e:
        pytest.skip(f"embedding model not available: {e}")


@pytest.fixture(scope="session")
def real_llm():
    """The embedded GGUF model through llama.cpp, shared by every test that needs it."""
    from convrec.core.config import Settings
    from convrec.core.errors import ModelNotFound
    from convrec.data.models import resolve_llm_path
    from convrec.llm.backends import EmbeddedLLM

    try:
        path = resolve_llm_path(Settings(), url="")  # never download in a test
    except ModelNotFound as e:
        pytest.skip(f"embedded model not available: {e}")
    llm = EmbeddedLLM(path, n_ctx=4096, n_threads=2)
    yield llm
    llm.close()


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for this test run (tests/pg.py), stopped and removed at the end;
    the tests using it skip, saying why, where no server binaries are installed."""
    from tests.pg import PgServer, why_not

    reason = why_not()
    if reason:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    server = PgServer.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server, request) -> str:
    """The URL of a new, empty database on `pg_server`, one per test."""
    import re

    name = "t_" + re.sub(r"\W+", "_", request.node.name.lower())[:40] + "_" + secrets.token_hex(3)
    return pg_server.create_database(name)
