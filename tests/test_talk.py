"""The reply and question reach every surface: REST, the chat service's stream, the LangChain tool."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from convrec.serve.api import create_api
from convrec.serve.langchain import recommend_tool
from convrec.serve.service import make_service
from convrec.testing import StreamingFakeLLM

from .test_pipeline import make_recommender


def test_rest_responses_carry_the_reply_and_the_question():
    client = TestClient(create_api(make_service(make_recommender())))
    body = client.post("/v1/recommend", json={"text": "a funny 90s movie, nothing with horror"}).json()
    assert body["reply"].startswith("Understood: Comedy movies") and body["question"] is None
    sid = client.post("/v1/sessions").json()["session_id"]
    body = client.post(f"/v1/sessions/{sid}/messages", json={"text": "随便推荐一部"}).json()
    assert body["reply"].startswith("你还没说想看什么") and body["question"].startswith("你想看什么样的")
    again = client.post(f"/v1/sessions/{sid}/messages", json={"text": "随便推荐一部"}).json()
    assert again["question"] is None and len(again["items"]) == 5  # never two questions in a row
    schema = client.get("/openapi.json").json()["components"]["schemas"]["TurnOut"]["properties"]
    assert {"reply", "question"} <= set(schema)


def test_the_service_streams_the_model_words_and_then_frees_the_model():
    llm = StreamingFakeLLM("Five 90s comedies without horror.")
    rec = make_recommender(llm=llm, parse_with_llm=False, rerank_with_llm=False, propose_with_llm=False)
    service = make_service(rec)
    sid = service.create()
    turns = list(service.message_stream(sid, "a funny 90s movie, nothing with horror"))
    assert [t.reply.split(".")[0] for t in turns] == ["Understood: Comedy movies from the 1990s, no Horror"] * 2 + [
        "Five 90s comedies without horror"
    ]
    assert all("queue" in t.timings_ms for t in turns[1:]) and not service.gate.stats()["busy"]
    assert service.message(sid, "older").reply  # the conversation is free for the next turn


def test_the_langchain_tool_answers_with_the_reply_and_question():
    tool = recommend_tool(make_recommender())
    first = json.loads(tool.invoke({"request": "recommend me something"}))
    assert first["reply"] and first["question"].startswith("What are you in the mood for")
    second = json.loads(tool.invoke({"request": "a funny 90s movie, nothing with horror"}))
    assert second["reply"].startswith("Understood: Comedy movies") and second["question"] is None


def test_the_terminal_prints_the_reply_then_the_items_then_the_question(capsys):
    from convrec.chat.commands import _print_turn
    from convrec.chat.session import Session

    _print_turn(make_recommender().recommend(Session(), "recommend me something"))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("You didn't say what you like") and lines[1].startswith("1. ")
    assert lines[-1] == "What are you in the mood for: a genre, a decade, or a movie you liked?"
