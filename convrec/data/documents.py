"""One document per item: the text it is embedded from and a model is told, from all the text it has.

Title and year, genres, tags, the plot or description, people; then, for retrieval only, what a model
wrote about it (`convrec.data.profiles`). The same function serves the index (`convrec.retrieve.build`)
and the profile writer's prompt (`convrec.llm.profiles`), so both see an item alike. Briefer documents
with knowledge tables embed faster but answer the content suite worse, also once the query side reads
the knowledge itself: the title, year and genres with the overview 0.754 P@5, with its first sentence
0.727, with the tags 0.716, the title document plus its keywords' stored vectors 0.730, against 0.773
for the whole document (README "Knowledge of the films", reports/content_knowledge_doc_*.json); see
reports/bench_build.json for what the knowledge costs a build. Also here: where a request's word stands
in an item's record (`found_word`), the phrase of a text around it (`phrase_around`), and whether only
its title holds it (`title_only`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from convrec.core.types import Item

CLAUSE_END = re.compile(r"[.!?;:,()\u2014]\s|[.!?]$|[，。；！？]")


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
    item: Item,
    keywords: Iterable[str],
    fields: Sequence[str] = ("title", "tags", "people", "text"),
    quotable: Callable[[str], bool] = bool,
) -> tuple[str, str]:
    """The first request keyword found in the item's record (in `fields` of it) and where: in its tags and
    people the whole tag or name that holds it (a reason quotes one whole, never a piece of it: "with Tom
    Hanks", not "with Tom"), elsewhere the word as the record writes it. A tag that `quotable` refuses is
    passed over for the next tag or field that holds a keyword (a reason's caller refuses one that names a
    genre the item lacks).

    >>> found_word(Item(1, "The Time Traveler's Wife"), ["travel"])
    ('Traveler', 'title')
    >>> found_word(Item(1, "Heat", tags=("heist",)), ["heists"])
    ('heist', 'tags')
    >>> found_word(Item(1, "Feel Good", tags=("feel-good",)), ["feel-good"], fields=("tags",))
    ('feel-good', 'tags')
    >>> found_word(Item(1, "American Pie", tags=("high school", "coming of age")), ["coming"])
    ('coming of age', 'tags')
    >>> found_word(Item(1, "WALL·E", tags=("romantic comedy", "robot romance")), ["romantic", "robots"], quotable=lambda t: "comedy" not in t)
    ('robot romance', 'tags')
    >>> found_word(Item(1, "Cast Away", people=("Robert Zemeckis", "Tom Hanks")), ["tom"])
    ('Tom Hanks', 'people')
    """
    record = {
        "title": [item.title],
        "tags": [t for t in item.tags if quotable(t)],
        "people": list(item.people),
        "text": [item.text],
    }
    for kw in keywords:
        kw = kw.strip().casefold()
        if len(kw) < 3:
            continue
        stem = kw[:-1] if kw.endswith("s") and len(kw) > 4 else kw
        pattern = re.compile(re.escape(stem) if not stem.isascii() else rf"\b{re.escape(stem)}\w*", re.IGNORECASE)
        for where in fields:
            for text in record[where]:
                hit = pattern.search(text)
                if hit:
                    return (text if where in ("tags", "people") else hit.group(0)), where
    return "", ""


def phrase_around(text: str, word: str, words: int = 4) -> str:
    """The words of `text` around the first `word` in it, at most `words` either side within its clause,
    with "…" where the clause goes on ("" when `word` is not there): what a reason quotes of a description.

    >>> phrase_around("In Los Angeles, a crew plans one last bank heist before the detective closes in.", "heist")
    '…plans one last bank heist before the detective closes…'
    >>> phrase_around("A heist goes wrong.", "heist")
    'A heist goes wrong'
    """
    hit = re.search(rf"(?<!\w){re.escape(word)}", text, re.IGNORECASE) if word else None
    if hit is None:
        return ""
    start = max((m.end() for m in CLAUSE_END.finditer(text, 0, hit.start())), default=0)
    end = next((m.start() for m in CLAUSE_END.finditer(text, hit.end())), len(text))
    tokens, before = text[start:end].split(), text[start : hit.start()].split()
    at = len(before) - (1 if before and not text[hit.start() - 1].isspace() else 0)  # the token the word is in
    lo, hi = max(0, at - words), at + words + 1
    return ("…" if lo else "") + " ".join(tokens[lo:hi]) + ("…" if hi < len(tokens) else "")


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
