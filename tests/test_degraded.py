"""A failing language model: the person is told it was unavailable, the log gets the details.

The LLM server's address and whatever its error body holds (here a secret) are for operators:
they must not reach `recommend --json`, the REST API or the chat.
"""

import json
import logging
import socket

import pytest
from fastapi.testclient import TestClient

from convrec.chat.session import Session
from convrec.llm.backends import OpenAILLM
from convrec.serve.api import create_api
from convrec.serve.service import make_service
from convrec.serve.ui import chat_turn

from .test_llm import Stub, stub  # noqa: F401  (the fixture)
from .test_pipeline import make_recommender

SECRET = "sk-internal-7f3a9c"


def failing_server(server: Stub) -> str:
    """Every call answers HTTP 500 with a body naming the secret and the server's own address."""
    body = json.dumps({"error": {"message": f"backend crashed: key={SECRET} upstream={server.url}"}}).encode()
    server.script += [(500, body, 0)] * 20
    return server.url


def dead_server(server: Stub) -> str:
    """An address where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def assert_private(shown: str, url: str) -> None:
    assert url not in shown and "127.0.0.1" not in shown and SECRET not in shown, shown


@pytest.mark.parametrize(
    "start, told",
    [
        (failing_server, "the language model reported an error"),
        (dead_server, "the language model could not be reached"),
    ],
)
def test_llm_failure_details_go_to_the_log_not_to_the_client(stub, start, told, caplog):  # noqa: F811
    url = start(stub)
    rec = make_recommender(llm=OpenAILLM(url, "local", retries=0))
    with caplog.at_level(logging.WARNING):
        turn = rec.recommend(Session(), "a funny 90s movie, nothing with horror")
        body = TestClient(create_api(make_service(rec))).post("/v1/recommend", json={"text": "a comedy"})
        _, history, _, status, _ = chat_turn(make_service(rec), None, "a comedy", [], [])
    assert_private(json.dumps(turn.to_dict()), url)
    assert_private(body.text, url)
    assert_private(json.dumps(history) + status, url)
    assert turn.info["llm"] is False and turn.to_dict()["degraded"] == told
    assert body.status_code == 200 and body.json()["degraded"] == told
    assert "ranked without the language model" in history[-1]["content"]
    logged = [r.getMessage() for r in caplog.records if r.name == "convrec.rank.rerank"]
    assert logged and url in logged[0] and (start is dead_server or SECRET in logged[0])
