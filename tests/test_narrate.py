"""What the model writes in a turn: the reply streamed sentence by sentence and each reason from one
record, every word checked, the template standing until then and whenever the model fails."""

from __future__ import annotations

import pytest

from convrec.chat.session import Session
from convrec.core.errors import LLMError
from convrec.rank.reply import reply_claims
from convrec.testing import FakeLLM, StreamingFakeLLM

from .test_pipeline import make_recommender

REQUEST = "a funny 90s movie, nothing with horror"


def writer(llm, **settings):
    return make_recommender(llm=llm, parse_with_llm=False, rerank_with_llm=False, propose_with_llm=False, **settings)


def test_the_model_reply_streams_in_checked_sentences_after_the_template():
    llm = StreamingFakeLLM("These five are 90s comedies with no horror. Laugh Riot is the oldest!")
    turns = list(writer(llm).stream(Session(), REQUEST))
    preview, final, *written = turns
    assert preview.reply.startswith("Understood:") and final.reply == preview.reply  # the template, at once
    assert [t.reply for t in written] == [
        "These five are 90s comedies with no horror.",
        "These five are 90s comedies with no horror. Laugh Riot is the oldest!",
    ]
    assert written[-1].info["reply_source"] == "llm" and "write" in written[-1].timings_ms
    system, user = (m["content"] for m in llm.history[0]["messages"])
    assert "Answer in English" in system and "Understood: Comedy movies from the 1990s, no Horror" in user
    assert [r.item.title for r in final.recs] == [r.item.title for r in written[-1].recs]


def test_a_reply_sentence_with_an_unsupported_claim_brings_the_template_back():
    for bad in ("A fun list. Ghostbusters is also great.", "Five comedies, like Dusty Trail.", "Comedies from 1984."):
        turns = list(writer(StreamingFakeLLM(bad)).stream(Session(), REQUEST))
        final = turns[-1]
        assert final.reply == turns[1].reply and final.info["reply_source"] == "template", bad
        assert final.info["rejected_reply"]


def test_a_dead_or_silent_model_leaves_the_template_reply():
    for llm in (FakeLLM(LLMError("down", reason="timeout")), FakeLLM()):
        turn = writer(llm).recommend(Session(), REQUEST)
        assert turn.reply.startswith("Understood:") and turn.info["reply_source"] == "template"


def test_the_embedded_model_does_not_write_the_reply_unless_asked():
    llm = FakeLLM()
    llm.name = "embedded"
    assert not writer(llm).llm_replies and writer(llm, llm_reply=True).llm_replies
    assert writer(FakeLLM()).llm_replies and not writer(None).llm_replies


def test_each_reason_comes_from_one_record_and_is_checked():
    replies = [
        "A 1996 comedy with nothing scary in it.",  # wrong year for whichever item comes first? checked below
        "A gentle 1990s comedy.",
        "A gentle 1990s comedy.",  # the same as the previous one once masked: refused
        "Like Night Terror, it is a comedy.",  # another catalogue title
        "A funny one.",
    ]
    llm = FakeLLM(*replies)
    rec = writer(llm, llm_reply=False, llm_reasons=True)
    turn = rec.recommend(Session(), REQUEST)
    assert len(llm.history) == 5
    for call, r in zip(llm.history, turn.recs):
        user = call["messages"][1]["content"]
        assert r.item.title in user and not any(o.item.title in user for o in turn.recs if o is not r)
    whys = {r.item.title: (r.why, r.why_source) for r in turn.recs}
    sources = [r.why_source for r in turn.recs]
    assert sources[1] == "llm" and sources[2] == "template" and sources[3] == "template" and sources[4] == "llm"
    first = turn.recs[0]
    assert (sources[0] == "llm") == (first.item.year == 1996), whys
    assert turn.info["llm_reasons"] + turn.info["rejected_reasons"] == 5


def test_reasons_stream_into_the_turn_one_at_a_time():
    llm = FakeLLM("A gentle comedy.", "A short comedy.", "Another comedy.", "Still a comedy.", "Last comedy.")
    turns = list(writer(llm, llm_reply=False, llm_reasons=True).stream(Session(), REQUEST))
    written = turns[2:]
    assert [sum(r.why_source == "llm" for r in t.recs) for t in written] == [1, 2, 3, 4, 5]


def test_a_timeout_stops_the_writing_and_the_templates_stand():
    llm = FakeLLM("A gentle comedy.", LLMError("slow", reason="timeout"), "never asked")
    turn = writer(llm, llm_reply=False, llm_reasons=True).recommend(Session(), REQUEST)
    assert [r.why_source for r in turn.recs] == ["llm", "template", "template", "template", "template"]
    assert turn.info["degraded_text"] == "timeout" and len(llm.history) == 2


@pytest.mark.slow
def test_the_embedded_model_streams_its_reply_and_only_checked_words_are_shown(real_llm):
    pieces = list(real_llm.stream([{"role": "user", "content": "Say hello in five words."}], max_tokens=12))
    assert len(pieces) > 1 and "".join(pieces).strip()
    rec = make_recommender(llm=real_llm, parse_with_llm=False, llm_reply=True)
    turns = list(rec.stream(Session(), REQUEST))
    final = turns[-1]
    named = [rec.catalog.get(i).title for i in final.needs.liked]
    assert final.info["reply_source"] in ("llm", "template") and final.reply
    for turn in turns[2:]:
        assert not reply_claims(turn.reply, turn.recs, turn.needs, rec.write.spotter, rec.genres, named), turn.reply
