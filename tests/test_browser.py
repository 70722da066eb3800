"""The chat in a real browser: Playwright for Python driving Debian's chromium, headless.

`make test` installs chromium (and the CJK and emoji fonts) when it is missing; run directly
without it, these tests skip and say so. No browser is ever downloaded.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from convrec.serve.api import Running, create_server
from convrec.serve.service import make_service
from convrec.testing import StreamingFakeLLM

from .test_pipeline import make_recommender

REPORTS = Path(__file__).resolve().parents[1] / "reports"
CHROMIUM = os.environ.get("CONVREC_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no chromium at {CHROMIUM}: `make test` installs it (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def cards_text(page) -> list[str]:
    return page.locator(".card h3").all_inner_texts()


def ask(page, text: str) -> list[str]:
    """Send a message and wait for its answer: the status says so and new cards are drawn
    (the cards re-render after the chat, on a second round trip). Returns the card titles."""
    before = cards_text(page)
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")
    page.wait_for_function(
        """before => { const s = document.querySelector('#status-text');
                       const now = [...document.querySelectorAll('.card h3')].map(h => h.innerText);
                       return s && /recommendations/.test(s.innerText) && now.length > 0
                         && JSON.stringify(now) !== JSON.stringify(before); }""",
        arg=before,
        timeout=180_000,
    )
    return cards_text(page)


def test_chat_cards_and_dislike_in_a_real_browser(browser, tmp_path):
    service = make_service(make_recommender(), feedback_db=tmp_path / "fb.sqlite3")
    with Running(create_server(service)) as server:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url)
        page.get_by_role("button", name="Send").wait_for()
        page.get_by_text("推荐几部九十年代的喜剧，不要恐怖片").first.wait_for()  # a Chinese example

        first = ask(page, "a comedy")
        assert len(first) >= 5
        card = page.locator(".card").nth(2)
        label = card.locator("article").get_attribute("data-label")
        dislike = card.get_by_role("button", name=f"👎 Dislike: {label}")  # accessible name says which item
        assert dislike.is_visible()
        title = card.locator("h3").inner_text()
        dislike.click()
        page.wait_for_function(
            "t => ![...document.querySelectorAll('.card h3')].some(h => h.innerText === t)", arg=title
        )
        assert "not for you" in page.locator("#status-text").inner_text()

        second = ask(page, "more please")
        disliked_title = title.split(". ", 1)[1]
        assert len(second) >= 5 and all(disliked_title not in t for t in second)
        sid = service.store.events()[0].session_id  # the one conversation, which disliked one item
        assert service.sessions.get(sid).session.needs.disliked and service.store.count(sid) == 1

        REPORTS.mkdir(exist_ok=True)
        page.screenshot(path=str(REPORTS / "browser_test.png"), full_page=True)

        too_long = "a comedy " * 250  # 2,250 characters: refused, and given back to edit
        box = page.get_by_label("Your message")
        box.fill(too_long)
        box.press("Enter")
        page.wait_for_function("() => /limit is 2,000/.test(document.querySelector('#status-text').innerText)")
        assert box.input_value() == too_long and cards_text(page) == second

        page.get_by_role("button", name="Delete my data").click()
        page.wait_for_function(
            "() => /Deleted 1 conversation and 1 feedback event/.test(document.querySelector('#status-text').innerText)"
        )
        page.wait_for_function("() => document.querySelectorAll('.card').length === 0")
        assert service.store.count() == 0 and sid not in service.sessions
        page.close()


def last_reply(page) -> str:
    """The assistant's latest message in the chat."""
    bubbles = page.locator("#chat .bot")
    return bubbles.nth(bubbles.count() - 1).inner_text() if bubbles.count() else ""


def test_the_reply_appears_in_the_chat_as_it_is_written_and_above_the_cards(browser):
    first, second = "Five 90s comedies, and none of them is horror.", "Laugh Riot is the oldest of them."
    llm = StreamingFakeLLM(f"{first} {second}", pause_s=0.6)  # seconds between sentences to see one alone
    rec = make_recommender(llm=llm, parse_with_llm=False, rerank_with_llm=False, propose_with_llm=False)
    with Running(create_server(make_service(rec))) as server:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url)
        box = page.get_by_label("Your message")
        box.fill("a funny 90s movie, nothing with horror")
        box.press("Enter")
        seen = "() => { const b = [...document.querySelectorAll('#chat .bot')].map(e => e.innerText); return b.length ? b[b.length - 1] : ''; }"
        page.wait_for_function(f"() => ({seen})().startsWith('Understood: Comedy movies')", timeout=60_000)
        page.wait_for_function(
            f"() => {{ const t = ({seen})(); return t.includes({first!r}) && !t.includes({second!r}); }}",
            timeout=60_000,
        )
        page.wait_for_function(f"() => ({seen})().includes({second!r})", timeout=60_000)
        page.wait_for_function("() => /recommendations/.test(document.querySelector('#status-text').innerText)")
        assert last_reply(page) == f"{first} {second}"
        reply = page.locator("#reply")
        assert reply.inner_text().strip() == f"{first} {second}"
        assert reply.bounding_box()["y"] < page.locator(".card").first.bounding_box()["y"]  # above the cards
        page.close()


@pytest.mark.slow
def test_screenshot_with_the_real_index_and_model(browser):
    """≥ 5 real cards with reasons under the assistant's reply, an English then a Chinese turn:
    reports/chat_real.png and chat_real_zh.png."""
    from convrec.chat.load import load_recommender
    from convrec.core.config import Settings
    from convrec.core.errors import ConvrecError

    try:
        recommender = load_recommender(Settings())
    except ConvrecError as e:
        pytest.skip(f"no real index or model: {e}")
    service = make_service(recommender)
    with Running(create_server(service)) as server:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(server.url)
        REPORTS.mkdir(exist_ok=True)
        for text, shot, understood in (
            ("a funny 90s movie, nothing with horror", "chat_real.png", "Understood: Comedy movies from the 1990s"),
            ("更老一点的，八十年代的", "chat_real_zh.png", "明白了：八十年代的喜剧片"),
        ):
            ask(page, text)
            page.wait_for_function("() => !/⏳/.test(document.querySelector('#reply')?.innerText ?? '⏳')")
            cards = page.locator(".card")
            assert cards.count() >= 5
            whys = [cards.nth(i).locator(".why").inner_text().strip() for i in range(cards.count())]
            assert all(whys) and len(set(whys)) == len(whys)
            assert last_reply(page).startswith(understood) and page.locator("#reply").inner_text().startswith(
                understood
            )
            page.screenshot(path=str(REPORTS / shot), full_page=True)
        page.close()
