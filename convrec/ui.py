"""The browser chat: a thin Gradio adapter over `Recommender` (gradio is imported in here only)."""

from __future__ import annotations

import html
from typing import Any

from .errors import InputError
from .session import Session
from .types import Rec

EXAMPLES = [
    "a funny 90s movie, nothing with horror",
    "something like Toy Story but newer",
    "a western before 1970",
    "推荐几部九十年代的喜剧，不要恐怖片",
    "更老一点的",
]

CSS = """
.cards {display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 12px;}
.card {border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px; background: var(--block-background-fill);}
.card img, .card .poster {width: 100%; height: 150px; object-fit: cover; border-radius: 6px; background: var(--neutral-200);
  display: flex; align-items: center; justify-content: center; font-size: 40px;}
.card h3 {margin: 8px 0 2px; font-size: 1.05em;}
.card .meta {color: var(--body-text-color-subdued); font-size: 0.85em;}
.card .why {margin-top: 6px; font-size: 0.92em;}
"""


def render_cards(recs: list[Rec]) -> str:
    """HTML cards: poster (or a placeholder), title, year, genres and the reason."""
    cards = []
    for n, r in enumerate(recs, 1):
        it = r.item
        title = html.escape(it.title)
        poster = (
            f'<img src="{html.escape(it.image)}" alt="Poster of {title}" loading="lazy">'
            if it.image and it.image.startswith(("http://", "https://"))
            else '<div class="poster" role="img" aria-label="No poster">🎬</div>'
        )
        cards.append(
            f'<article class="card" aria-label="Recommendation {n}: {title}">{poster}'
            f"<h3>{n}. {title}</h3>"
            f'<div class="meta">{it.year or "year unknown"} · {html.escape(", ".join(it.genres))}</div>'
            f'<div class="why">{html.escape(r.why)}</div></article>'
        )
    return f'<div class="cards">{"".join(cards)}</div>' if cards else "<p>No matching items.</p>"


def summary(recs: list[Rec], info: dict[str, Any]) -> str:
    lines = [f"{n}. **{r.item.label()}** — {r.why}" for n, r in enumerate(recs, 1)]
    if info.get("degraded"):
        lines.append(f"\n_(ranked without the language model: {info['degraded']})_")
    return "\n".join(lines) or "I found nothing that fits every constraint; try relaxing one."


def respond(recommender, message: str, history: list[dict] | None, session: Session | None):
    """One chat turn for the UI: (cleared textbox, chat history, session, cards HTML or None)."""
    session = session or Session()
    history = list(history or [])
    history.append({"role": "user", "content": message})
    try:
        turn = recommender.recommend(session, message)
    except InputError as e:
        history.append({"role": "assistant", "content": str(e)})
        return "", history, session, None
    history.append({"role": "assistant", "content": summary(turn.recs, turn.info)})
    return "", history, session, render_cards(turn.recs)


def build_app(recommender) -> Any:
    import gradio as gr

    def on_message(message, history, session):
        box, history, session, cards = respond(recommender, message, history, session)
        return box, history, session, gr.update() if cards is None else cards

    def reset():
        return [], Session(), render_cards([])

    with gr.Blocks(title="convrec") as app:
        gr.Markdown("## convrec — tell me what you feel like watching")
        session = gr.State(None)
        with gr.Row():
            with gr.Column(scale=2):
                chat = gr.Chatbot(label="Conversation", height=420)
                box = gr.Textbox(label="Your message", placeholder="a funny 90s movie, nothing scary", autofocus=True)
                with gr.Row():
                    send = gr.Button("Send", variant="primary")
                    clear = gr.Button("Start over")
                gr.Examples(EXAMPLES, inputs=box, label="Examples (English and 中文)")
            with gr.Column(scale=3):
                cards = gr.HTML(render_cards([]), label="Recommendations")
        for trigger in (box.submit, send.click):
            trigger(on_message, [box, chat, session], [box, chat, session, cards])
        clear.click(reset, None, [chat, session, cards])
    return app


def launch(recommender, host: str = "127.0.0.1", port: int = 7860, **kwargs: Any) -> Any:
    """Serve the chat; the model is shared, so turns are queued one at a time."""
    app = build_app(recommender).queue(default_concurrency_limit=1)
    app.launch(server_name=host, server_port=port, css=CSS, **kwargs)
    return app
