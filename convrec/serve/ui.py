"""The browser chat: a thin Gradio adapter over `ChatService` (gradio is imported in here only).

Each browser tab holds one session id; the conversation itself lives in the service's
`SessionStore` (idle expiry, size bound), so the browser and the REST API behave the same.
A turn streams: the message appears at once (with the place in the model's line when others are
ahead), then the preview cards of the rules and the blend with the assistant's reply and what the
turn is looking for (tens of milliseconds; read from the turn's needs, the message is parsed once),
then the final cards and reply once the model has parsed
and ranked, then each sentence or reason the model writes (where it writes them), as it comes. The
reply is the assistant's message in the chat and stands above the cards. Each card has 👍 / 👎
(quiet ratings for the next answer; 👎 also removes the card) and "More like this" / "Not
interested" (a new answer now).

The pure functions (`card_html`, `cards_of`, `chat_stream`, `feedback_click`) do the work and are
tested without a browser; `build_app` only wires them to components. A tab counts against the
same per-client limits as the REST API (its address: sessions open, feedback a minute).

No `from __future__ import annotations` here: Gradio gives a handler the request only when it
can read the parameter's type `gr.Request`, which it cannot from a string naming a local import.
"""

import base64
import html
import itertools
import mimetypes
from pathlib import Path
from typing import Any

from convrec.core.errors import ConvrecError, ImageError, InputError, RateLimited
from convrec.core.types import Needs, Rec
from convrec.retrieve.images import MAX_PICTURE_BYTES
from convrec.serve.sessions import ServiceBusy, SessionBusy, SessionNotFound

EXAMPLES = [
    "a funny 90s movie, nothing with horror",
    "something like Toy Story but newer",
    "a western before 1970",
    "推荐几部九十年代的喜剧，不要恐怖片",
    "推荐一部八十年代的科幻片",
]

CSS = """
.cards {display: grid !important; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 12px;}
.card {border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px !important;
  background: var(--block-background-fill); justify-content: space-between;}
.card img.poster {width: 100%; height: 160px; object-fit: cover; border-radius: 6px;}
.card div.poster {width: 100%; height: 56px; border-radius: 6px; background: var(--neutral-100);
  display: flex; align-items: center; justify-content: center; font-size: 28px;}
.card h3 {margin: 8px 0 2px; font-size: 1.05em;}
.card .meta {color: var(--body-text-color-subdued); font-size: 0.85em;}
.card .why {margin-top: 6px; font-size: 0.92em;}
.card.liked {outline: 2px solid var(--color-accent);}
.card-actions {display: grid !important; grid-template-columns: 1fr 1fr; gap: 6px !important;}
.card-actions button {min-width: 0 !important; white-space: nowrap; font-size: 0.85em !important; padding: 4px 6px !important;}
#reply {padding: 8px 12px; border-left: 3px solid var(--color-accent); background: var(--block-background-fill);}
"""

# Gradio buttons take no aria-label; name each per-card button after its item ("👍 Like: Heat (1995)"),
# keeping the visible words first so voice control still finds it.
HEAD = """<script>
new MutationObserver(() => {
  document.querySelectorAll('.card').forEach(card => {
    const label = card.querySelector('article')?.dataset.label;
    if (!label) return;
    card.querySelectorAll('.card-actions button').forEach(b => {
      const name = b.textContent.trim() + ': ' + label;
      if (b.getAttribute('aria-label') !== name) b.setAttribute('aria-label', name);
    });
  });
}).observe(document.documentElement, {childList: true, subtree: true});
</script>"""

ACTION_LABELS = {
    "like": "👍 Like",
    "dislike": "👎 Dislike",
    "more_like": "More like this",
    "not_interested": "Not interested",
}
MAX_INLINE_POSTER = 256 * 1024


# -- pure parts -----------------------------------------------------------------------------


def cards_of(recs: list[Rec]) -> list[dict[str, Any]]:
    """The cards state: plain, JSON-able dicts in display order."""
    return [
        {
            "n": n,
            "item_id": r.item.item_id,
            "title": r.item.title,
            "label": r.item.label(),
            "year": r.item.year,
            "genres": list(r.item.genres),
            "why": r.why,
            "image": r.item.image,
            "liked": False,
        }
        for n, r in enumerate(recs, 1)
    ]


def poster_src(image: str | None) -> str | None:
    """An http(s) URL as is; a small local file inline as a data: URL; anything else None."""
    if not image:
        return None
    if image.startswith(("http://", "https://")):
        return image
    path = Path(image)
    try:
        if path.is_file() and path.stat().st_size <= MAX_INLINE_POSTER:
            kind = mimetypes.guess_type(path.name)[0] or ""
            if kind.startswith("image/"):
                return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"
    except OSError:
        pass
    return None


def card_html(card: dict[str, Any]) -> str:
    """One card: poster (or a placeholder), title, year, genres and the reason, all escaped."""
    title, label = html.escape(card["title"]), html.escape(card["label"], quote=True)
    src = poster_src(card.get("image"))
    poster = (
        f'<img class="poster" src="{html.escape(src, quote=True)}" alt="Poster of {title}" loading="lazy">'
        if src
        else '<div class="poster" role="img" aria-label="No poster">🎬</div>'
    )
    genres = html.escape(", ".join(card["genres"])) or "genre unknown"
    return (
        f'<article aria-label="Recommendation {card["n"]}: {label}" data-label="{label}" data-item-id="{card["item_id"]}">'
        f"{poster}<h3>{card['n']}. {title}</h3>"
        f'<div class="meta">{card["year"] or "year unknown"} · {genres}</div>'
        f'<div class="why">{html.escape(card["why"])}</div></article>'
    )


def reply_text(turn: Any) -> str:
    """The assistant's message for a turn: its reply, its question in bold, and a note when the
    language model could not be used."""
    text = turn.reply or "I found nothing that fits; try saying it another way."
    if turn.question:
        text += f"\n\n**{turn.question}**"
    if turn.info.get("degraded"):
        text += f"\n\n_(ranked without the language model: {turn.info['degraded']})_"
    return text


def looking_for(needs: Needs) -> str:
    """What a turn is looking for, from its needs (the status line while the model works).

    >>> looking_for(Needs(include_genres=("Comedy",), exclude_genres=("Horror",), year_min=1990, year_max=1999))
    'Looking for Comedy, 1990–1999, without Horror…'
    """
    parts = list(needs.include_genres)
    if needs.year_min and needs.year_max:
        parts.append(f"{needs.year_min}–{needs.year_max}")
    elif needs.year_min or needs.year_max:
        parts.append(f"from {needs.year_min}" if needs.year_min else f"up to {needs.year_max}")
    if needs.exclude_genres:
        parts.append("without " + ", ".join(needs.exclude_genres))
    return f"Looking for {', '.join(parts)}…" if parts else "Looking…"


def _ensure_session(service: Any, sid: str | None, client: str | None) -> tuple[str, str]:
    """(a live session id, a note when a new one had to be opened for `client`)."""
    if sid:
        try:
            service.sessions.get(sid)
            return sid, ""
        except SessionNotFound:
            return service.create(client), "Your earlier conversation expired, so this starts a new one. "
    return service.create(client), ""


def chat_turn(
    service: Any,
    sid: str | None,
    text: str,
    history: list[dict] | None,
    cards: list[dict] | None,
    image: str | None = None,
    client: str | None = None,
):
    """One message: (session id, history, cards, status, answered), the last value of `chat_stream`."""
    for out in chat_stream(service, sid, text, history, cards, image, client):
        pass
    return out


def chat_stream(
    service: Any,
    sid: str | None,
    text: str,
    history: list[dict] | None,
    cards: list[dict] | None,
    image: str | None = None,
    client: str | None = None,
):
    """Yield (session id, history, cards, status, answered): first the preview cards and reply
    (rules and blend, tens of milliseconds; `answered` None) while the model works, then the final
    answer, then each checked sentence or reason the model adds (`answered` None until the last).
    Bad input is answered in the chat and changes nothing; `answered` is False then, so the UI
    can give the text back to edit. `image`: the path of an uploaded picture ("more like this");
    `client`: who a new session counts against (`sessions.client_key`)."""
    history = list(history or [])
    asked = text if image is None else f"🖼️ {text or 'More like this picture'}"
    try:
        picture = read_upload(image) if image is not None else None
        sid, note = _ensure_session(service, sid, client)
        turns = service.message_stream(sid, text, image=picture)
        preview = next(turns)
        waiting = {"role": "assistant", "content": f"{reply_text(preview)}\n\n_⏳ Ranking and explaining these…_"}
        yield (
            sid,
            [*history, {"role": "user", "content": asked}, waiting],
            cards_of(preview.recs),
            status_html(looking_for(preview.needs)),
            None,
        )
        final = next(turns)
    except (InputError, SessionBusy, ServiceBusy, RateLimited) as e:
        said = [{"role": "user", "content": asked}] if asked.strip() else []
        yield sid, [*history, *said, {"role": "assistant", "content": str(e)}], cards, status_html(str(e)), False
        return
    history.append({"role": "user", "content": asked})
    for turn in itertools.chain([final], turns):  # the model's words arrive as it writes them
        shown = [*history, {"role": "assistant", "content": note + reply_text(turn)}]
        yield sid, shown, cards_of(turn.recs), status_html("Writing…"), None
    waited = turn.timings_ms.get("queue", 0)
    waited_note = f" (waited {waited / 1000:.0f} s for the model)" if waited >= 1000 else ""
    yield sid, shown, cards_of(turn.recs), status_html(f"{len(turn.recs)} recommendations{waited_note}."), True


def read_upload(path: str) -> bytes:
    """The bytes of a picture Gradio saved from an upload: a picture from a request is handed on
    as bytes, never as a path, and no more than the most that is read of one is read here."""
    try:
        with open(path, "rb") as f:
            return f.read(MAX_PICTURE_BYTES + 1)  # one byte over: read_picture then says it is too big
    except OSError as e:
        raise ImageError(f"the uploaded picture: cannot read it ({e.strerror or e})") from e


def feedback_click(
    service: Any,
    sid: str | None,
    item_id: int,
    action: str,
    history: list[dict] | None,
    cards: list[dict] | None,
    client: str | None = None,
):
    """A click on a card button: (history, cards, status); `client` as in `chat_stream`."""
    history, cards = list(history or []), [dict(c) for c in cards or []]
    card = next((c for c in cards if c["item_id"] == item_id), None)
    name = card["label"] if card else f"item {item_id}"
    try:
        if not sid:
            raise SessionNotFound("no conversation yet")
        _, turn = service.feedback(sid, item_id, action, client=client)
    except SessionNotFound:
        return history, [], status_html("This conversation expired; type a message to start a new one.")
    except (InputError, SessionBusy, ServiceBusy, RateLimited) as e:
        return history, cards, status_html(str(e))
    if action == "like":
        for c in cards:
            c["liked"] = c["liked"] or c["item_id"] == item_id
        return history, cards, status_html(f"Noted: you like {name}. The next answers lean toward it.")
    if action == "dislike":
        cards = [c for c in cards if c["item_id"] != item_id]
        return history, cards, status_html(f"Noted: {name} is not for you; it will not come back, nor much like it.")
    said = f"{ACTION_LABELS[action]}: {name}"
    history += [{"role": "user", "content": said}, {"role": "assistant", "content": reply_text(turn)}]
    return history, cards_of(turn.recs), status_html(f"{len(turn.recs)} new recommendations.")


def status_html(text: str) -> str:
    return f'<div role="status" aria-live="polite" id="status-text">{html.escape(text)}</div>'


# -- the app --------------------------------------------------------------------------------


def build_app(service: Any) -> Any:
    import gradio as gr

    recommender = service.recommender

    def ahead() -> str:
        n = service.gate.waiting() + (1 if service.gate.stats()["busy"] else 0)
        return f" ({n} {'request' if n == 1 else 'requests'} ahead of you)" if n else ""

    def on_message(text, image, history, sid, cards, mine, lead, request: gr.Request):
        history = list(history or [])
        if text and text.strip():  # stream: show the message and what we read from it at once
            pending = [
                *history,
                {"role": "user", "content": text},
                {"role": "assistant", "content": "⏳ Looking…" + ahead()},
            ]
            yield "", image, pending, sid, cards, status_html("Working…"), mine, lead
        client = _client(service, request)
        for new_sid, shown, new_cards, status, answered in chat_stream(
            service, sid, text, history, cards, image, client
        ):
            mine = mine if not new_sid or new_sid in mine else [*mine, new_sid]
            lead = lead if answered is False else shown[-1]["content"]  # the reply above its cards
            # a refused message stays in the box to edit; a picture steers one answer, then goes
            yield (
                "" if answered is not False else text,
                None if answered else image,
                shown,
                new_sid,
                new_cards,
                status,
                mine,
                lead,
            )

    def on_feedback(item_id, action):
        def handler(sid, history, cards, lead, request: gr.Request):
            if action in ("more_like", "not_interested"):
                label = next((c["label"] for c in cards or [] if c["item_id"] == item_id), str(item_id))
                pending = [
                    *(history or []),
                    {"role": "user", "content": f"{ACTION_LABELS[action]}: {label}"},
                    {"role": "assistant", "content": "⏳ Looking…" + ahead()},
                ]
                yield pending, cards, status_html("Working…"), lead
            history, cards, status = feedback_click(
                service, sid, item_id, action, history, cards, _client(service, request)
            )
            steered = action in ("more_like", "not_interested") and history and history[-1]["role"] == "assistant"
            yield history, cards, status, history[-1]["content"] if steered else lead

        return handler

    def start_over(sid):
        if sid:
            service.sessions.drop(sid)
        return None, [], [], status_html("Started over. Feedback you gave is kept; 'Delete my data' removes it."), ""

    def forget(mine):
        """Every conversation this tab had (also the ones before 'Start over'), and their feedback."""
        n = 0
        for old in mine:
            try:
                n += service.forget(old)["feedback_events_deleted"]
            except ConvrecError:
                pass  # expired with no feedback: nothing left
        note = (
            f"Deleted {len(mine)} {'conversation' if len(mine) == 1 else 'conversations'} and "
            f"{n} feedback {'event' if n == 1 else 'events'}."
            if mine
            else "Nothing to delete: no conversation yet."
        )
        return None, [], [], status_html(note), [], ""

    noun = recommender.settings.domain_noun
    films = noun == "movie"  # the examples and the placeholder are about films
    with gr.Blocks(title=f"convrec — {noun} chat", analytics_enabled=False) as app:
        gr.Markdown(
            f"## convrec — tell me what kind of {noun} you are looking for\nEnglish or 中文. "
            "Every title comes from the catalogue. [REST API](/docs)"
        )
        sid = gr.State(None)  # the current conversation
        mine = gr.State([])  # every conversation of this tab, for 'Delete my data'
        cards = gr.State([])
        lead = gr.State("")  # the reply the cards answer
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                chat = gr.Chatbot(label="Conversation", height=440, elem_id="chat")
                box = gr.Textbox(
                    label="Your message",
                    placeholder="a funny 90s movie, nothing scary" if films else f"describe the {noun} you want",
                    autofocus=True,
                    elem_id="message",
                    max_lines=4,
                )
                picture = gr.Image(
                    label="A picture: more like this (optional)",
                    type="filepath",
                    sources=["upload"],
                    height=140,
                    elem_id="picture",
                    visible=recommender.library.images is not None,
                )
                with gr.Row():
                    send = gr.Button("Send", variant="primary", elem_id="send")
                    reset = gr.Button("Start over", elem_id="reset")
                    wipe = gr.Button("Delete my data", variant="stop", elem_id="forget")
                status = gr.HTML(status_html(""), elem_id="status", label="Status")
                if films:
                    gr.Examples(EXAMPLES, inputs=box, label="Examples (English and 中文)")
            with gr.Column(scale=3, min_width=360):
                gr.Markdown("### Recommendations")

                @gr.render(inputs=[cards, lead])
                def show(current, said):
                    if not current:
                        gr.HTML('<p class="empty">Recommendations appear here.</p>')
                        return
                    if said:  # the assistant's reply, above the cards it is about
                        gr.Markdown(said, elem_id="reply")
                    with gr.Row(elem_classes=["cards"]):
                        for card in current:
                            classes = ["card", "liked"] if card.get("liked") else ["card"]
                            with gr.Column(elem_classes=classes, elem_id=f"card-{card['item_id']}", min_width=220):
                                gr.HTML(card_html(card))
                                with gr.Row(elem_classes=["card-actions"]):
                                    for action, text in ACTION_LABELS.items():
                                        button = gr.Button(text, size="sm", elem_classes=[f"fb-{action}"])
                                        button.click(
                                            on_feedback(card["item_id"], action),
                                            [sid, chat, cards, lead],
                                            [chat, cards, status, lead],
                                        )

        for trigger in (box.submit, send.click):
            trigger(
                on_message,
                [box, picture, chat, sid, cards, mine, lead],
                [box, picture, chat, sid, cards, status, mine, lead],
            )
        reset.click(start_over, [sid], [sid, chat, cards, status, lead])
        wipe.click(forget, [mine], [sid, chat, cards, status, mine, lead])
    # Model turns are ordered by the service's fair line, so Gradio itself need not serialise:
    # a 👍 must not wait behind someone else's six-second turn.
    app.queue(default_concurrency_limit=None)
    return app


def _client(service: Any, request: Any) -> str | None:
    """Who a Gradio request counts against (see `sessions.Clients`)."""
    if request is None:
        return None
    return service.clients.of(request.client.host if request.client else None, request.headers.get("x-forwarded-for"))


def launch(service_or_recommender: Any, host: str = "127.0.0.1", port: int = 7860, **kwargs: Any) -> Any:
    """Serve only the chat (no REST API) with Gradio's own server; `api.serve` runs both."""
    from convrec.serve.service import ChatService, make_service

    service = (
        service_or_recommender
        if isinstance(service_or_recommender, ChatService)
        else make_service(service_or_recommender)
    )
    app = build_app(service)
    kwargs.setdefault("max_file_size", MAX_PICTURE_BYTES)
    app.launch(server_name=host, server_port=port, css=CSS, head=HEAD, footer_links=[], run_history=False, **kwargs)
    return app
