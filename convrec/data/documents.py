"""One document per item: the text it is embedded from and a model is told, from all the text it has.

Title and year, genres, tags, the plot or description, people; then, for retrieval only, what a model
wrote about it (`convrec.data.profiles`). The same function serves the index (`convrec.retrieve.build`)
and the profile writer's prompt (`convrec.llm.profiles`), so both see an item alike.
"""

from __future__ import annotations

from convrec.core.types import Item


def item_text(item: Item, written: str = "", max_chars: int = 600) -> str:
    """The text an item is embedded from: the facts a person would search by, then what a model
    wrote about it (`written`, see `convrec.data.profiles`) where the facts leave room.

    >>> item_text(Item(1, "Heat", 1995, ("Action", "Crime"), tags=("heist",)))
    'Heat (1995). Genres: Action, Crime. Tags: heist.'
    """
    parts = [f"{item.label()}."]
    if item.genres:
        parts.append(f"Genres: {', '.join(item.genres)}.")
    if item.tags:
        parts.append(f"Tags: {', '.join(item.tags[:12])}.")
    if item.text:
        parts.append(item.text)
    if item.people:
        parts.append(f"With {', '.join(item.people[:4])}.")
    if written:
        parts.append(written)
    return " ".join(parts)[:max_chars]
