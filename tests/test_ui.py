import socket

import httpx

from convrec.types import Item, Rec
from convrec.ui import launch, render_cards, respond

from .test_pipeline import make_recommender


def test_cards_show_title_year_genres_reason_and_escape_html():
    recs = [Rec(Item(1, "<b>Heat</b>", 1995, ("Action", "Crime"), image="https://x/p.jpg"), 0.9, "Tense & long.")]
    html = render_cards(recs)
    assert "&lt;b&gt;Heat&lt;/b&gt;" in html and "<b>Heat" not in html
    assert "1995" in html and "Action, Crime" in html and "Tense &amp; long." in html
    assert 'src="https://x/p.jpg"' in html
    assert 'aria-label="No poster"' in render_cards([Rec(Item(2, "Up", 2009), 0.5, "why")])


def test_respond_keeps_the_conversation_and_reports_bad_input():
    rec = make_recommender()
    box, history, session, cards = respond(rec, "a funny 90s movie, nothing with horror", [], None)
    assert box == "" and len(history) == 2 and cards.count('class="card"') == 5
    assert session.needs.include_genres == ("Comedy",)
    _, history, session2, cards = respond(rec, "", history, session)
    assert cards is None and "empty" in history[-1]["content"] and session2 is session


def test_app_serves_http():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = launch(make_recommender(), port=port, prevent_thread_lock=True, quiet=True)
    try:
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200 and "convrec" in page.text
    finally:
        app.close()
