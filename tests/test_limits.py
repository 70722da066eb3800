"""Per-client abuse limits through the REST API (a client is the request's remote address), and
the cap on what one session can add to the collaborative-filtering training data."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from convrec.core.config import Settings
from convrec.serve.api import create_api
from convrec.serve.feedback import FeedbackStore, export_feedback, feedback_interactions
from convrec.serve.service import make_service
from convrec.serve.sessions import RateWindow, SessionStore, client_key

from .test_feedback import write_snapshot
from .test_pipeline import make_recommender


def clients(service, *addresses):
    app = create_api(service)
    return [TestClient(app, client=(address, 40000)) for address in addresses]


def test_one_address_can_hold_only_so_many_live_sessions():
    service = make_service(make_recommender(max_sessions_per_client=3))
    greedy, other = clients(service, "203.0.113.7", "198.51.100.2")
    sids = [greedy.post("/v1/sessions").json()["session_id"] for _ in range(3)]
    refused = greedy.post("/v1/sessions")
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) > 0 and "3 conversations open" in refused.json()["error"]
    assert other.post("/v1/sessions").status_code == 201  # the others are not locked out
    assert greedy.delete(f"/v1/sessions/{sids[0]}").status_code == 200  # closing one makes room
    assert greedy.post("/v1/sessions").status_code == 201
    assert len(service.sessions) == 4


def test_addresses_of_one_ipv6_network_share_a_limit():
    # one customer's /48 (65,536 /64 networks) is one client, as one IPv4 address is
    service = make_service(make_recommender(max_sessions_per_client=2))
    a, b, elsewhere = clients(service, "2001:db8:1:2::10", "2001:db8:1:ffff::1", "2001:db8:2:1::10")
    assert a.post("/v1/sessions").status_code == 201 and b.post("/v1/sessions").status_code == 201
    assert a.post("/v1/sessions").status_code == 429 and b.post("/v1/sessions").status_code == 429
    assert elsewhere.post("/v1/sessions").status_code == 201


def test_x_forwarded_for_names_the_client_only_when_a_configured_proxy_sends_it():
    direct = make_service(make_recommender(max_sessions_per_client=1))
    (local,) = clients(direct, "127.0.0.1")
    assert local.post("/v1/sessions").status_code == 201
    spoofed = local.post("/v1/sessions", headers={"X-Forwarded-For": "198.51.100.9"})
    assert spoofed.status_code == 429, spoofed.text  # not a fresh client: no proxy is configured

    proxied = make_service(make_recommender(max_sessions_per_client=1, trusted_proxies="127.0.0.1"))
    proxy, stranger = clients(proxied, "127.0.0.1", "203.0.113.7")
    for person in ("198.51.100.1", "198.51.100.2"):
        assert proxy.post("/v1/sessions", headers={"X-Forwarded-For": person}).status_code == 201
    assert proxy.post("/v1/sessions", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 429
    assert stranger.post("/v1/sessions", headers={"X-Forwarded-For": "198.51.100.3"}).status_code == 201
    assert stranger.post("/v1/sessions", headers={"X-Forwarded-For": "198.51.100.4"}).status_code == 429


def test_sessions_and_feedback_events_name_their_client_by_a_keyed_hash(tmp_path):
    service = make_service(make_recommender(client_key_secret="s3cret"), feedback_db=tmp_path / "fb.sqlite3")
    (person,) = clients(service, "203.0.113.7")
    sid = person.post("/v1/sessions").json()["session_id"]
    item = person.post(f"/v1/sessions/{sid}/messages", json={"text": "a film"}).json()["items"][0]["item_id"]
    assert person.post(f"/v1/sessions/{sid}/feedback", json={"item_id": item, "action": "like"}).status_code == 200
    key = client_key("203.0.113.7", "s3cret")
    assert service.store.load_session(sid).client == service.store.events(sid)[0].client == key
    assert key != client_key("203.0.113.7") and "203.0.113" not in key


def test_feedback_is_rate_limited_per_address_per_minute(tmp_path):
    now = [1000.0]
    service = make_service(make_recommender(feedback_per_minute_per_client=4), feedback_db=tmp_path / "fb.sqlite3")
    assert service.feedback_rate.limit == 4
    service.feedback_rate = RateWindow(4, clock=lambda: now[0])
    busy, calm = clients(service, "203.0.113.7", "198.51.100.2")
    sid = busy.post("/v1/sessions").json()["session_id"]
    shown = [
        i["item_id"] for i in busy.post(f"/v1/sessions/{sid}/messages", json={"text": "a film", "k": 8}).json()["items"]
    ]
    for item in shown[:4]:
        now[0] += 1
        assert busy.post(f"/v1/sessions/{sid}/feedback", json={"item_id": item, "action": "like"}).status_code == 200
    refused = busy.post(f"/v1/sessions/{sid}/feedback", json={"item_id": shown[4], "action": "like"})
    assert refused.status_code == 429 and "4 feedback events a minute" in refused.json()["error"]
    assert refused.headers["Retry-After"] == "57"  # when the first of the four leaves the minute
    assert service.store.count(sid) == 4  # a refused event is not stored

    other = calm.post("/v1/sessions").json()["session_id"]
    item = calm.post(f"/v1/sessions/{other}/messages", json={"text": "a film"}).json()["items"][0]["item_id"]
    assert calm.post(f"/v1/sessions/{other}/feedback", json={"item_id": item, "action": "like"}).status_code == 200

    now[0] += 57
    assert busy.post(f"/v1/sessions/{sid}/feedback", json={"item_id": shown[4], "action": "like"}).status_code == 200


def test_the_limits_are_settings():
    settings = Settings(max_sessions_per_client=7, feedback_per_minute_per_client=30, feedback_export_per_session=9)
    service = make_service(
        make_recommender(**settings.model_dump(include={"max_sessions_per_client", "feedback_per_minute_per_client"}))
    )
    assert service.sessions.max_per_client == 7 and service.feedback_rate.limit == 30
    defaults = Settings()
    assert (defaults.max_sessions_per_client, defaults.feedback_per_minute_per_client) == (20, 120)
    assert defaults.feedback_export_per_session == 50


def test_one_session_adds_at_most_so_many_interactions_to_training(tmp_path):
    events = pd.DataFrame(
        {
            "id": range(1, 13),
            "session_id": ["spam"] * 10 + ["a", "a"],
            "item_id": [*range(1, 11), 1, 2],
            "action": ["like"] * 12,
            "position": [1] * 12,
            "created_at": [float(n) for n in range(12)],
        }
    )
    rows = feedback_interactions(events, 100, max_per_session=3)
    assert rows[rows.user_id == 100]["item_id"].tolist() == [8, 9, 10]  # the latest three
    assert rows[rows.user_id == 101]["item_id"].tolist() == [1, 2]

    index_dir = write_snapshot(tmp_path)
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    for item in range(1, 25):
        store.record("spam", item, "like")
    store.record("a", 12, "like")
    summary = export_feedback(
        tmp_path / "fb.sqlite3", index_dir, tmp_path / "ratings.csv", ratings_only=True, max_per_session=5
    )
    assert summary["interactions"] == 6 and summary["over_session_cap_dropped"] == 19
    assert len(pd.read_csv(tmp_path / "ratings.csv")) == 6


@pytest.mark.parametrize("cap, kept", [(None, 24), (50, 24), (10, 10)])
def test_the_export_cap_defaults_to_the_setting(tmp_path, monkeypatch, cap, kept):
    if cap is not None:
        monkeypatch.setenv("CONVREC_FEEDBACK_EXPORT_PER_SESSION", str(cap))
    index_dir = write_snapshot(tmp_path)
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    for item in range(1, 25):
        store.record("spam", item, "like")
    summary = export_feedback(tmp_path / "fb.sqlite3", index_dir, tmp_path / "ratings.csv", ratings_only=True)
    assert summary["interactions"] == kept


def test_the_conversation_bounds_are_settings(monkeypatch):
    """Idle expiry and the most conversations at once come from Settings (env `CONVREC_SESSION_TTL_S`,
    `CONVREC_MAX_SESSIONS`), and an empty session store (falsy) still keeps them."""
    service = make_service(make_recommender(session_ttl_s=60, max_sessions=2))
    assert (service.sessions.ttl_s, service.sessions.max_sessions) == (60, 2)
    monkeypatch.setenv("CONVREC_SESSION_TTL_S", "90")
    monkeypatch.setenv("CONVREC_MAX_SESSIONS", "3")
    assert (Settings().session_ttl_s, Settings().max_sessions) == (90, 3)
    defaults = SessionStore()
    assert (defaults.ttl_s, defaults.max_sessions) == (Settings.model_fields["session_ttl_s"].default, 1000)
    with pytest.raises(ValidationError):
        Settings(max_sessions=0)


def test_the_browser_chat_counts_against_the_same_limits():
    from convrec.serve.ui import chat_turn, feedback_click

    service = make_service(make_recommender(max_sessions_per_client=1, feedback_per_minute_per_client=1))
    me = "203.0.113.7"
    sid, history, cards, _, answered = chat_turn(service, None, "a comedy", [], [], client=me)
    assert answered
    _, refused, _, status, answered = chat_turn(service, None, "a western", [], [], client=me)
    assert answered is False and "conversations open" in refused[-1]["content"]
    feedback_click(service, sid, cards[0]["item_id"], "like", history, cards, client=me)
    _, _, status = feedback_click(service, sid, cards[1]["item_id"], "like", history, cards, client=me)
    assert "feedback events a minute" in status
    assert len(service.sessions) == 1 and service.sessions.get(sid).session.needs.liked == (cards[0]["item_id"],)


def test_the_chat_handlers_are_given_the_request():
    """Gradio hands a handler the request (and so the client's address) only when the parameter
    is typed gr.Request in a form it can read."""
    import gradio as gr
    from gradio.utils import get_type_hints

    from convrec.serve.ui import build_app

    app = build_app(make_service(make_recommender()))
    handlers = {block.fn.__name__: block.fn for block in app.fns.values()}
    assert get_type_hints(handlers["on_message"])["request"] is gr.Request
