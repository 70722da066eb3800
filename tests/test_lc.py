import json

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from convrec.data.titles import TitleMatcher
from convrec.parse.model import parse_llm
from convrec.parse.rules import parse_rules
from convrec.serve.langchain import ChatModelLLM, ConvrecRetriever, recommend_tool
from convrec.testing import tiny_catalog

from .test_pipeline import make_recommender


class ToolCallingFake(GenericFakeChatModel):
    """A scripted chat model that accepts tools, as an agent needs."""

    def bind_tools(self, tools, **kwargs):
        return self


def test_retriever_returns_catalogue_documents():
    docs = ConvrecRetriever(recommender=make_recommender(), k=3).invoke("a funny 90s movie, nothing with horror")
    assert len(docs) == 3
    for d in docs:
        assert "Comedy" in d.metadata["genres"] and 1990 <= d.metadata["year"] <= 1999
        assert d.metadata["title"] in d.page_content


def test_convrec_drops_into_a_langchain_agent():
    from langchain.agents import create_agent

    calls = [
        AIMessage(
            "",
            tool_calls=[
                {"name": "recommend_items", "args": {"request": "a funny 90s movie, nothing with horror"}, "id": "1"}
            ],
        ),
        AIMessage("", tool_calls=[{"name": "recommend_items", "args": {"request": "older, from the 80s"}, "id": "2"}]),
        AIMessage("Here you go."),
    ]
    agent = create_agent(ToolCallingFake(messages=iter(calls)), tools=[recommend_tool(make_recommender())])
    result = agent.invoke({"messages": [("user", "I want a funny 90s movie, then something older")]})
    tool_replies = [json.loads(m.content) for m in result["messages"] if m.type == "tool"]
    assert len(tool_replies) == 2
    assert all(1990 <= i["year"] <= 1999 for i in tool_replies[0]["items"])
    # the tool keeps one conversation: the follow-up is read against the first turn
    assert tool_replies[1]["needs"]["exclude_genres"] == ["Horror"]
    exact = tool_replies[1]["items"][: tool_replies[1]["relaxed"]["exact"]]  # four 80s comedies, then the nearest
    assert len(exact) == 4 and all(1980 <= i["year"] <= 1989 and "Comedy" in i["genres"] for i in exact)
    assert tool_replies[1]["reply"].startswith("Understood: Comedy movies from the 1980s")
    assert result["messages"][-1].content == "Here you go."


def test_tool_reports_bad_input_instead_of_raising():
    tool = recommend_tool(make_recommender())
    assert "empty" in json.loads(tool.invoke({"request": "   "}))["error"]


def test_langchain_chat_model_as_convrec_llm():
    catalog = tiny_catalog()
    model = GenericFakeChatModel(
        messages=iter([AIMessage('Sure: {"include_genres": ["Western"], "keywords": ["ranch"]} hope it helps')])
    )
    llm = ChatModelLLM(model)
    genres = catalog.genres()
    text = "something about a ranch"
    rules = parse_rules(text, genres)
    update = parse_llm(text, llm, genres, TitleMatcher(catalog.items.values()), rules, prompt="Read the request.")
    assert update.source == "llm+rules" and "ranch" in update.keywords


def test_failing_chat_model_becomes_llm_error():
    from convrec.core.errors import LLMError

    llm = ChatModelLLM(GenericFakeChatModel(messages=iter([])))
    try:
        llm.complete([{"role": "user", "content": "hi"}])
    except LLMError as e:
        assert "GenericFakeChatModel" in str(e)
    else:
        raise AssertionError("expected LLMError")
