"""One document per item: the text it is embedded from and a model is told, from all the text it has.

Title and year, genres, tags, the plot or description, people; then, for retrieval only, what a model
wrote about it (`convrec.data.profiles`). The same function serves the index (`convrec.retrieve.build`)
and the profile writer's prompt (`convrec.llm.profiles`), so both see an item alike. Also here: where a
request's word stands in an item's record (`found_word`), and whether only its title holds it (`title_only`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

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


def found_word(
    item: Item, keywords: Iterable[str], fields: Sequence[str] = ("title", "tags", "people", "text")
) -> tuple[str, str]:
    """The first request keyword found in the item's record (in `fields` of it), as the record
    writes it, and where.

    >>> found_word(Item(1, "The Time Traveler's Wife"), ["travel"])
    ('Traveler', 'title')
    >>> found_word(Item(1, "Heat", tags=("heist",)), ["heists"])
    ('heist', 'tags')
    >>> found_word(Item(1, "Feel Good", tags=("feel-good",)), ["feel-good"], fields=("tags",))
    ('feel-good', 'tags')
    """
    record = {"title": item.title, "tags": " | ".join(item.tags), "people": " | ".join(item.people), "text": item.text}
    searched = [(where, record[where]) for where in fields]
    for kw in keywords:
        kw = kw.strip().casefold()
        if len(kw) < 3:
            continue
        stem = kw[:-1] if kw.endswith("s") and len(kw) > 4 else kw
        pattern = re.compile(re.escape(stem) if not stem.isascii() else rf"\b{re.escape(stem)}\w*", re.IGNORECASE)
        for where, text in searched:
            hit = pattern.search(text)
            if hit:
                return hit.group(0), where
    return "", ""


def title_only(item: Item, words: Iterable[str]) -> bool:
    """Whether a requested word stands in the item's title but nowhere in what the item is about (its
    tags and text), while the item has such knowledge: its title then speaks for a film about something
    else ("friendship" and Best Friends). An item without tags or text has only its title to go by.

    >>> title_only(Item(1, "Submarine", 2010, text="A Welsh teenager's first love."), ["submarine"])
    True
    >>> title_only(Item(2, "Das Boot", tags=("submarine",)), ["submarine"]), title_only(Item(3, "Submarine"), ["submarine"])
    (False, False)
    """
    words = list(words)
    if not (item.tags or item.text) or not found_word(item, words, ("title",))[0]:
        return False
    return not found_word(item, words, ("tags", "text"))[0]
