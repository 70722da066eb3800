"""What the text search reads of a request: its query (`query_text`, `embedded_query`), and its scores with titles
that only name the words discounted (`title_discounted`). The search itself is the "text" source
(`convrec.retrieve.sources`), run by the retrieve stage (`convrec.retrieve.candidates`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from convrec.core.text import CJK
from convrec.core.types import Item, Needs
from convrec.data.catalog import title_key
from convrec.data.documents import title_only


def query_text(needs: Needs, noun: str, multilingual: bool = False) -> str:
    """What the text encoder sees: genres and keywords, never the negated words, nor the domain
    noun ("course" in "a course on ethics": the "text" source adds the noun once itself).

    An English-only encoder (`multilingual` False, the default models) never sees Chinese words:
    it places them next to romanised Chinese titles ("太空" found Shanghai Triad). The rules give a
    Chinese message's topics in English (`convrec.parse.meaning`), and the model's reading may add
    more.

    With neither, an English message is searched as written ("something like Dusty Trail"),
    unless the needs hold something negated (excluded or avoided genres, disliked items): the message then
    names what is not wanted ("no horror please" would search for horror), and once the rules
    found no keywords in it, the rest is words like "no" and "please". The query is then empty
    and the other sources (liked items, collaborative scores, popularity) order the allowed items.

    >>> query_text(Needs(include_genres=("Drama",), keywords=("ethics", "courses")), "course")
    'Drama ethics'
    >>> query_text(Needs(text="something good"), "movie")
    'something good'
    >>> query_text(Needs(exclude_genres=("Horror",), text="no horror please"), "movie")
    ''
    >>> query_text(Needs(avoid_genres=("Horror",), text="not too scary"), "movie")
    ''
    >>> query_text(Needs(keywords=("特别", "space"), language="zh"), "movie")
    'space'
    """
    noun = noun.casefold()
    words = readable(
        [*needs.include_genres, *(w for w in needs.keywords if w.casefold() not in (noun, noun + "s"))], multilingual
    )
    negated = needs.exclude_genres or needs.avoid_genres or needs.disliked
    if not words and needs.language == "en" and not negated:
        words = (needs.text,)
    return " ".join(f"{w}" for w in words if w).strip()


def readable(words: Iterable[str], multilingual: bool = False) -> tuple[str, ...]:
    """The `words` the text encoder reads: an English-only encoder never sees a Chinese word (one the
    rules left untranslated, "越好" of "越吓人越好", is no topic it could search).

    >>> readable(("越好", "shark")), readable(("越好",), multilingual=True)
    (('shark',), ('越好',))
    """
    return tuple(w for w in words if multilingual or not CJK.search(w))


def embedded_query(needs: Needs, noun: str, multilingual: bool = False) -> str | None:
    """What the "text" source embeds: `query_text` and the item noun once; None without words.

    >>> embedded_query(Needs(keywords=("heist",)), "movie"), embedded_query(Needs(), "movie")
    ('heist movie', None)
    """
    words = query_text(needs, noun, multilingual)
    return f"{words} {noun}" if words else None


def title_discounted(text: np.ndarray, items: Sequence[Item], needs: Needs) -> np.ndarray:
    """The candidates' text scores, lowered to their median for each item whose title alone holds the
    request's words while its tags and text say it is about something else (`title_only`: "friendship"
    and Best Friends); an item whose title is the whole message ("Submarine") gets the best score: the
    person named it. Items without knowledge keep their scores: their title is all there is.

    >>> items = [Item(1, "Submarine", text="A Welsh teenager."), Item(2, "Das Boot", tags=("submarine",)), Item(3, "X")]
    >>> scores = np.array([0.75, 0.5, 0.25])
    >>> title_discounted(scores, items, Needs(keywords=("submarine",), text="a submarine film")).tolist()
    [0.5, 0.5, 0.25]
    >>> title_discounted(np.array([0.5, 0.75, 0.25]), items, Needs(keywords=("submarine",), text="Submarine")).tolist()
    [0.75, 0.75, 0.25]
    """
    text = np.asarray(text, np.float32)
    if not len(text):
        return text
    words, named = [*needs.keywords, *needs.about], title_named(items, needs)
    alone = [title_only(item, words) and not is_named for item, is_named in zip(items, named)]
    text = np.where(alone, np.minimum(text, np.median(text)), text)
    return np.where(named, text.max(), text).astype(np.float32)


def title_named(items: Sequence[Item], needs: Needs) -> np.ndarray:
    """Per item, whether its title is the whole message: the person named that film ("Submarine").

    >>> title_named([Item(1, "Submarine"), Item(2, "Das Boot")], Needs(text="submarine!")).tolist()
    [True, False]
    """
    asked = title_key(needs.text.strip(" .!?"))
    return np.array([bool(asked) and title_key(item.title) == asked for item in items], bool)
