from datetime import date

import httpx

from convrec.core.types import Item, Needs, Rec
from convrec.serve.api import Running, create_server
from convrec.serve.service import make_service
from convrec.serve.ui import (
    card_html,
    cards_of,
    chat_stream,
    chat_turn,
    feedback_click,
    looking_for,
    poster_src,
    status_html,
)
from convrec.testing import FakeLLM, StreamingFakeLLM

from .test_pipeline import make_recommender


def test_cards_show_title_year_genres_reason_and_escape_html(tmp_path):
    recs = [Rec(Item(1, "<b>Heat</b>", 1995, ("Action", "Crime"), image="https://x/p.jpg"), 0.9, "Tense & long.")]
    html = card_html(cards_of(recs)[0])
    assert "&lt;b&gt;Heat&lt;/b&gt;" in html and "<b>Heat" not in html
    assert "1995" in html and "Action, Crime" in html and "Tense &amp; long." in html
    assert 'src="https://x/p.jpg"' in html and 'alt="Poster of &lt;b&gt;Heat&lt;/b&gt;"' in html
    assert 'aria-label="Recommendation 1: &lt;b&gt;Heat&lt;/b&gt; (1995)"' in html
    assert 'aria-label="No poster"' in card_html(cards_of([Rec(Item(2, "Up", 2009), 0.5, "why")])[0])
    poster = tmp_path / "p.png"
    poster.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert poster_src(str(poster)).startswith("data:image/png;base64,")
    assert poster_src("javascript:alert(1)") is None and poster_src(str(tmp_path / "missing.jpg")) is None


def test_chat_turn_keeps_the_conversation_and_reports_bad_input():
    service = make_service(make_recommender())
    sid, history, cards, status, ok = chat_turn(service, None, "a funny 90s movie, nothing with horror", [], [])
    assert ok and len(history) == 2 and len(cards) == 5 and "5 recommendations" in status
    assert service.sessions.get(sid).session.needs.include_genres == ("Comedy",)
    sid2, history, cards2, status, ok = chat_turn(service, sid, "", history, cards)
    assert not ok and sid2 == sid and cards2 is cards and "empty" in history[-1]["content"] and "empty" in status
    assert len(history) == 3  # the empty message itself is not echoed
    assert len(service.sessions.get(sid).session.turns) == 1


def test_an_expired_session_starts_a_new_one_with_a_note():
    service = make_service(make_recommender())
    sid, history, cards, _, _ = chat_turn(service, "x" * 22, "a comedy", [], [])
    assert sid != "x" * 22 and "expired" in history[-1]["content"] and cards


def test_card_buttons_rate_and_steer():
    service = make_service(make_recommender())
    sid, history, cards, _, _ = chat_turn(service, None, "a comedy", [], [])
    first, second, third = (c["item_id"] for c in cards[:3])
    history, cards, status = feedback_click(service, sid, first, "like", history, cards)
    assert cards[0]["liked"] and "you like" in status
    history, cards, status = feedback_click(service, sid, second, "dislike", history, cards)
    assert second not in [c["item_id"] for c in cards] and len(cards) == 4
    history, new_cards, status = feedback_click(service, sid, third, "more_like", history, cards)
    needs = service.sessions.get(sid).session.needs
    assert needs.liked == (first, third) and needs.disliked == (second,)
    assert history[-2]["content"].startswith("More like this:") and len(new_cards) == 5
    assert not {c["item_id"] for c in new_cards} & {first, second, third}


def test_the_status_says_what_the_turn_looks_for_read_once_with_the_catalogues_year():
    rec = make_recommender()
    service = make_service(rec)
    for text, said in [
        ("推荐几部九十年代的喜剧，不要恐怖片", "Looking for Comedy, 1990–1999, without Horror…"),
        ("a western before 1970", "Looking for Western, up to 1969…"),
        ("hello", "Looking…"),
        # "recent" is relative to the catalogue's latest year, as the turn reads it (not to today)
        ("a recent comedy", f"Looking for Comedy, from {rec.understand.now_year - 5}…"),
    ]:
        _, _, _, status, answered = next(chat_stream(service, None, text, [], []))
        assert answered is None and status == status_html(said)
    assert rec.understand.now_year - 5 != date.today().year - 5
    assert looking_for(Needs(year_min=1990, year_max=1999)) == "Looking for 1990–1999…"


def test_app_serves_chat_and_api_on_one_port():
    service = make_service(make_recommender(llm=FakeLLM()))  # an empty fake: every turn degrades, and says so
    with Running(create_server(service)) as server:
        page = httpx.get(f"{server.url}/", timeout=30)
        assert page.status_code == 200 and "convrec" in page.text
        body = httpx.post(f"{server.url}/v1/recommend", json={"text": "a comedy"}, timeout=30).json()
        assert len(body["items"]) == 5 and "degraded" in body
        assert httpx.get(f"{server.url}/healthz", timeout=30).json()["llm"] == "fake"


def test_chat_stream_shows_preview_cards_while_the_model_is_busy():
    service = make_service(make_recommender())
    steps = chat_stream(service, None, "a funny 90s movie, nothing with horror", [], [])
    with service.gate.turn():  # another conversation holds the model
        sid, history, cards, status, answered = next(steps)
    assert answered is None and len(cards) == 5 and "Looking for Comedy, 1990–1999, without Horror" in status
    assert history[-1]["content"].startswith("Understood: Comedy movies from the 1990s, no Horror.")
    assert "⏳" in history[-1]["content"] and service.sessions.get(sid).session.turns == []
    *_, (sid, history, final_cards, status, answered) = steps
    assert answered is True and len(final_cards) == 5 and "5 recommendations" in status
    assert len(service.sessions.get(sid).session.turns) == 1 and "⏳" not in history[-1]["content"]


def test_the_reply_is_the_assistants_message_with_its_question_and_streams_as_written():
    service = make_service(make_recommender())
    _, history, *_ = chat_turn(service, None, "recommend me something", [], [])
    assert history[-1]["content"] == (
        "You didn't say what you like, so here are five popular movies to start.\n\n"
        "**What are you in the mood for: a genre, a decade, or a movie you liked?**"
    )
    llm = StreamingFakeLLM("Five 90s comedies, none of them horror. Laugh Riot is one.")
    rec = make_recommender(llm=llm, parse_with_llm=False, rerank_with_llm=False, propose_with_llm=False)
    steps = list(chat_stream(make_service(rec), None, "a funny 90s movie, nothing with horror", [], []))
    said = [h[-1]["content"] for _, h, _, _, _ in steps]
    assert said[1].startswith("Understood:")  # the template reply with the final cards
    assert said[2] == "Five 90s comedies, none of them horror."
    assert said[3] == said[-1] == "Five 90s comedies, none of them horror. Laugh Riot is one."
    assert [answered for *_, answered in steps] == [None, None, None, None, True]
