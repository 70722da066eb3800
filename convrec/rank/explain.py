"""Reasons: one sentence per recommended item saying what ties it to this request (`reasons`),
and the checker every reason passes, whoever wrote it (`unsupported_claims`): a year, decade,
genre or title the record does not support is a claim to refuse.

A reason has two parts, both read from the catalogue record, the stated needs and the
collaborative scores, never invented:
- what ties the item to the request (`Ties`): the asked genres it has, the asked period, request
  words found in its record, the liked title it resembles and what they share, the liked title
  whose fans also liked it, or closeness of its text to the request's words;
- what sets it apart from the other picks of the same answer (`contrasts`): the newest, the most
  popular, the only one that is also a Crime film... so that no two reasons of one answer are the
  same sentence with other titles and years ("Comedy from 1996, as you asked." five times over).

Left out on purpose: adjectives the record cannot support ("hilarious", "a classic").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from convrec.core.types import Item, Needs, Rec
from convrec.data.catalog import Catalog
from convrec.data.documents import found_word, phrase_around
from convrec.lang import Render, decade_digit, decade_pattern, genre_names, render_for, year_pattern
from convrec.retrieve.cf import Scorer

TOPIC_CHARS = 40  # the longest quote of the request's words in a reason


@dataclass(frozen=True)
class Ties:
    """What ties one item to the request; every field is read from its record or the CF scores."""

    genres: tuple[str, ...] = ()  # asked genres it has
    preferred: tuple[str, ...] = ()  # genres it has that the request leans to ("uplifting": Comedy)
    period: str = ""  # it lies in the asked years: "decade" (they are its decade), "year" or "range"
    word: str = ""  # a request word as its record writes it ("Robot" for "robots")
    field: str = ""  # where: "title", "tags", "text" or "people"
    source: str = ""  # who gave the tag that holds it: "viewers", "TMDB", "IMDb"; "" unknown (`Item.tag_sources`)
    phrase: str = ""  # the words of its text around it, to quote ("" when a quote would claim what it lacks)
    liked: str = ""  # the liked title it resembles most
    shared: tuple[str, ...] = ()  # genres, tags or people it shares with that title
    same_decade: bool = False  # it is from that title's decade
    fans: str = ""  # a liked title whose fans also liked it (collaborative scores)
    near: str = ""  # the request's words its text is among the closest to
    misses: tuple[str, ...] = ()  # on a relaxed turn, what it lacks: "genres", "years", "excluded"

    def named(self) -> bool:
        """Whether anything ties it to the request."""
        return bool(self.genres or self.preferred or self.period or self.word or self.liked or self.fans or self.near)


def ties_of(
    item: Item,
    needs: Needs,
    *,
    liked: Sequence[Item] = (),
    fans: Item | None = None,
    near: str = "",
    genres: Sequence[str] = (),
) -> Ties:
    """The ties of `item` to `needs`: `liked` are the liked items, `fans` the one whose fans also
    liked it, `near` the request words its text is close to (the caller judges closeness). A word
    found in its text comes with the phrase around it, unless the phrase names a year or one of the
    catalogue's `genres` that the item lacks (`unsupported_claims`); one found in its tags is the whole
    tag that holds it, never a tag that names such a year or genre (the next tag or field holding it).

    >>> t = ties_of(Item(1, "I, Robot", 2004, ("Action", "Sci-Fi")), Needs(include_genres=("Sci-Fi",), keywords=("robots",)))
    >>> t.genres, t.word, t.field
    (('Sci-Fi',), 'Robot', 'title')
    >>> ties_of(Item(2, "Heat", tags=("bank heist",), tag_sources=("TMDB",)), Needs(keywords=("heist",))).source
    'TMDB'
    >>> ties_of(Item(3, "Ronin", text="A heist in 1970 France. A crew steals a case."), Needs(keywords=("case",))).phrase
    'A crew steals a case'
    """
    lo, hi = needs.year_min, needs.year_max
    period = ""
    if (lo or hi) and item.year and (lo is None or item.year >= lo) and (hi is None or item.year <= hi):
        period = "decade" if lo is not None and lo % 10 == 0 and hi == lo + 9 else "year" if lo == hi else "range"

    def quotable(tag: str) -> bool:  # WALL·E's "romantic comedy" would call it a Comedy
        return not unsupported_claims(tag, item, genres)

    word, where = found_word(item, needs.keywords, quotable=quotable)
    if not word:  # "uplifting" read as feel-good: the item's tag says so (a tag, never a model's word)
        word, where = found_word(item, needs.about, fields=("tags",), quotable=quotable)
    phrase = phrase_around(item.text, word) if where == "text" else ""
    if phrase and unsupported_claims(phrase, item, genres):
        phrase = ""
    resembles = max(
        liked,
        key=lambda it: (fans is not None and it.item_id == fans.item_id, len(_shared(item, it, genres))),
        default=None,
    )
    misses = []
    if needs.include_genres and not all(g in item.genres for g in needs.include_genres):
        misses.append("genres")
    if (lo or hi) and item.year and not period:
        misses.append("years")
    if any(g in item.genres for g in needs.exclude_genres):
        misses.append("excluded")
    return Ties(
        genres=tuple(g for g in item.genres if g in needs.include_genres),
        preferred=tuple(g for g in item.genres if g in needs.prefer_genres),
        period=period,
        word=word,
        field=where,
        source=item.tag_source(word) if where == "tags" else "",
        phrase=phrase,
        liked=resembles.title if resembles else "",
        shared=_shared(item, resembles, genres) if resembles else (),
        same_decade=bool(resembles and resembles.year and item.year and resembles.year // 10 == item.year // 10),
        fans=fans.title if fans else "",
        near="" if word else near,
        misses=tuple(misses),
    )


def _shared(item: Item, other: Item, genres: Sequence[str] = ()) -> tuple[str, ...]:
    """The genres, people and tags `item` shares with `other`; not a tag that names a period ("1940s",
    when the story is set) or one of the catalogue's `genres` the item lacks ("black comedy" of a war film):
    a reason's years, decades and genres are the film's own (`unsupported_claims`).

    >>> a = Item(1, "A", 1995, ("Drama",), tags=("prison", "1940s", "black comedy"))
    >>> _shared(a, Item(2, "B", 1994, ("Comedy", "Drama"), tags=("1940s", "prison", "black comedy")), ["Comedy"])
    ('Drama', 'prison')
    """
    return tuple(
        x
        for field in ("genres", "people", "tags")
        for x in getattr(item, field)
        if x in getattr(other, field)
        and not (field == "tags" and (_names_a_period(x) or unsupported_claims(x, item, genres)))
    )


def _names_a_period(text: str) -> bool:
    return bool(year_pattern().search(text) or decade_pattern().search(text))


# What may stand between two keywords of one quoted run of the request ("black and white", "coming of age").
_JOINERS = {"", "-", "and", "of", "&", "n", "or"}


def topic_phrase(needs: Needs) -> str:
    """The request's words to quote for its topic: in the clause of the request that holds most of its
    keywords, each run of keywords as written (keywords joined by "and", "of" or nothing stay one run),
    never the words between runs (a Chinese clause's keywords are one stretch: its chunks are pieces); runs are quoted apart, so the caller's quotes hold only the
    person's words (the keywords themselves when the request does not hold them).

    >>> topic_phrase(Needs(keywords=("time", "travel"), text="movies about time travel, please"))
    'time travel'
    >>> topic_phrase(Needs(keywords=("heist", "clever"), text="a crime movie, a heist movie with a clever twist"))
    'heist”, “clever'
    >>> topic_phrase(Needs(keywords=("black", "white"), text="an old black and white film noir"))
    'black and white'
    """
    lang = render_for(needs).language
    one_stretch = lang.one_stretch
    clauses = [c for c in re.split(r"[,.;!?，。；！？、《》“”\"]", needs.text) if c.strip()]
    best, runs = 0, []
    for clause in clauses:
        low = clause.casefold()
        found = sorted((low.find(k.casefold()), len(k)) for k in needs.keywords if k and k.casefold() in low)
        size = sum(n for _, n in found)
        if found and size > best:
            spans: list[list[int]] = []
            for start, n in found:
                gap = clause[spans[-1][1] : start].strip(" -").casefold() if spans else None
                if gap is not None and (gap in _JOINERS or one_stretch):  # Chinese: one stretch
                    spans[-1][1] = max(spans[-1][1], start + n)
                else:
                    spans.append([start, start + n])
            best, runs = size, [clause[a:b].strip() for a, b in spans]
    kept: list[str] = []
    for run in runs or [" ".join(needs.keywords[:3])]:
        if kept and sum(map(len, [*kept, run])) > TOPIC_CHARS:
            break
        kept.append(run if len(run) <= TOPIC_CHARS else run[:TOPIC_CHARS].rsplit(" ", 1)[0])
    return lang.topic_separator.join(kept)


# -- sentences ------------------------------------------------------------------------------


def base_reason(item: Item, needs: Needs, ties: Ties, render: Render | None = None, apart: str = "") -> list[str]:
    """The clauses that tie `item` to the request, first the one that describes it (`apart`: a
    genre its contrast names, not repeated here).

    >>> base_reason(Item(7, "Heat", 1995, ("Action", "Crime")), Needs(include_genres=("Crime",), year_min=1990, year_max=1999),
    ...             Ties(genres=("Crime",), period="decade"))
    ['Crime from 1995, in the 1990s you asked for', 'also Action']
    """
    render = render or render_for(needs)
    lang = render.language
    liking = bool(ties.liked and any(g in item.genres for g in ties.shared))  # its genres come with the liked title
    wanted = ties.genres or ties.preferred
    shown = () if liking else wanted or item.genres[:2]
    other = [g for g in item.genres if g not in wanted and g != apart][:2] if wanted else []
    asked = len(ties.genres) if ties.genres and "genres" not in ties.misses else 0
    parts = [lang.reason_lead(item.year, shown, ties.period, asked, bool(ties.preferred), render.noun)]
    if other:
        parts.append(lang.also(other, render.noun))
    if ties.word:
        parts.append(lang.word_clause(ties.word, ties.field, ties.source, ties.phrase))
    if ties.liked and (ties.shared or ties.same_decade):
        parts.append(lang.liked_clause(ties.liked, ties.shared[:3], ties.same_decade))
    if ties.fans:
        parts.append(lang.fans_clause(ties.fans))
    if ties.near:
        parts.append(lang.near_clause(ties.near))
    if ties.misses:
        parts.append(lang.misses_clause(ties.misses))
    return parts


def contrasts(items: Sequence[Item], needs: Needs, render: Render | None = None) -> dict[int, tuple[str, str]]:
    """item id -> (the genre it names or "", what sets it apart from the other items of this
    answer), at most one each and each at most once: the only one of a genre, the newest, the
    oldest, the most popular, the least known (items with fewer such facts choose first).

    >>> items = [Item(1, "A", 1990, ("Comedy",), popularity=9), Item(2, "B", 1995, ("Comedy", "Crime"), popularity=3)]
    >>> contrasts(items, Needs(include_genres=("Comedy",)))
    {1: ('', 'the oldest of these'), 2: ('Crime', 'the only one of these that is also Crime')}
    """
    render = render or render_for(needs)
    if len(items) < 2:
        return {}
    options: dict[int, list[tuple[str, str]]] = {it.item_id: [] for it in items}
    for g in dict.fromkeys(g for it in items for g in it.genres if g not in needs.include_genres):
        having = [it for it in items if g in it.genres]
        if len(having) == 1:
            text = render.language.only_genre(g, render.noun, bool(needs.include_genres))
            options[having[0].item_id].append((f"only:{g}", text))
    for kind, key, sign in (
        ("newest", "year", 1),
        ("oldest", "year", -1),
        ("popular", "popularity", 1),
        ("rare", "popularity", -1),
    ):
        known = [it for it in items if getattr(it, key)]
        if len(known) < 2:
            continue
        best = max(sign * getattr(it, key) for it in known)
        top = [it for it in known if sign * getattr(it, key) == best]
        if len(top) == 1:
            options[top[0].item_id].append((kind, render.language.contrasts[kind]))
    used: set[str] = set()
    out: dict[int, tuple[str, str]] = {}
    for item_id in sorted(options, key=lambda i: len(options[i])):
        for kind, text in options[item_id]:
            if kind not in used:
                used.add(kind)
                out[item_id] = (kind.removeprefix("only:") if kind.startswith("only:") else "", text)
                break
    return out


def reasons(items: Sequence[Item], needs: Needs, ties: Sequence[Ties], render: Render | None = None) -> list[str]:
    """One reason per item (aligned with `items`): its ties, then what sets it apart; any two
    that are still the same sentence once titles and years are masked get the item's place by
    popularity as well."""
    render = render or render_for(needs)
    lang = render.language
    apart = contrasts(items, needs, render)
    parts = []
    for it, t in zip(items, ties):
        genre, text = apart.get(it.item_id, ("", ""))
        parts.append([*base_reason(it, needs, t, render, genre), text])
    titles = [it.title for it in items] + [t.liked for t in ties] + [t.fans for t in ties]
    by_popularity = sorted(items, key=lambda it: -it.popularity)
    seen: set[str] = set()
    for it, clauses in zip(items, parts):
        if masked(lang.sentence(clauses), titles) in seen:
            clauses.append(lang.popularity_rank(by_popularity.index(it)))
        seen.add(masked(lang.sentence(clauses), titles))
    return [lang.sentence(clauses) for clauses in parts]


def masked(text: str, titles: Iterable[str] = ()) -> str:
    """`text` with titles, years and other numbers masked: two reasons equal once masked are the
    same sentence with other titles and years.

    >>> masked("Comedy from 1996; people who liked Heat also liked it.", ["Heat"])
    'Comedy from #; people who liked TITLE also liked it.'
    """
    for title in sorted({t for t in titles if t}, key=len, reverse=True):
        text = text.replace(title, "TITLE")
    return re.sub(r"\d+", "#", text)


def item_ties(
    items: Sequence[Item],
    needs: Needs,
    catalog: Catalog,
    genres: Sequence[str],
    cf: Scorer | None,
    near: dict[int, bool] | None = None,
) -> list[Ties]:
    """`ties_of` for each item: the liked items come from `catalog`, whose fans also liked each
    from `cf`, and `near[item_id]` says its text is close to the request's words; `genres` is the
    catalogue's vocabulary, which a quoted phrase must not claim beyond the item's own."""
    liked = [catalog.get(i) for i in needs.liked if i in catalog]
    fans = because([it.item_id for it in items], needs.liked, cf, catalog) if cf is not None else {}
    phrase = topic_phrase(needs) if needs.keywords else ""
    return [
        ties_of(
            it,
            needs,
            liked=liked,
            fans=catalog.get(fans[it.item_id]) if it.item_id in fans else None,
            near=phrase if (near or {}).get(it.item_id) else "",
            genres=genres,
        )
        for it in items
    ]


def template_recs(
    items: Sequence[Item], scores: Iterable[float], needs: Needs, ties: Sequence[Ties], render: Render | None = None
) -> list[Rec]:
    """Items in the given order, each with its template reason."""
    return [Rec(it, float(s), why) for it, s, why in zip(items, scores, reasons(items, needs, ties, render))]


# -- the checker ----------------------------------------------------------------------------


def unsupported_claims(
    why: str, item: Item, genres: Sequence[str], other_titles: Sequence[str] = (), named: Sequence[str] = ()
) -> list[str]:
    """Facts in a reason that the item's record does not support (empty list = grounded).

    Its own title (or a quoted part of it), and the `named` texts (titles the person named, as in
    "people who liked Star Wars", and the request's own words) are read as names, not as claims
    about years, genres or other titles; `other_titles` must not be mentioned at all.

    >>> unsupported_claims("A 1984 horror classic", Item(1, "Heat", 1995, ("Action",)), ["Action", "Horror"])
    ['year 1984', 'genre Horror']
    >>> unsupported_claims("1984年的恐怖片，八十年代", Item(1, "Heat", 1995, ("Action",)), ["Action", "Horror"])
    ['year 1984', 'decade 80s', 'genre Horror']
    >>> unsupported_claims("Romance from 1942", Item(1, "Casablanca", 1942, ("Romance",)), ["Romance"], ["Romance"])
    []
    """
    text = why
    quoted = [q for q in re.findall(r"[“\"《](.+?)[”\"》]", why) if q in item.title]
    for t in sorted({item.title, *quoted, *named} - {""}, key=len, reverse=True):
        text = re.sub(re.escape(t), " ", text, flags=re.IGNORECASE)
    problems = []
    plain = {g.casefold() for g in genres}  # a film called "Romance" is not named by the genre
    for t in other_titles:
        if (
            len(t) > 3
            and t != item.title
            and t.casefold() not in plain
            and re.search(rf"(?<!\w){re.escape(t)}(?!\w)", text, re.IGNORECASE)
        ):
            problems.append(f"title {t}")
    for y in year_pattern().findall(text):
        if item.year is None or int(y) != item.year:
            problems.append(f"year {y}")
    for match in decade_pattern().finditer(text):
        decade = decade_digit(match)
        if item.year is None or (item.year // 10) % 10 != decade:
            problems.append(f"decade {decade}0s")
    lowered = text.casefold()
    for g in genres:
        if g in item.genres:
            continue
        names = genre_names(g)
        if re.search(rf"\b{re.escape(g.casefold())}", lowered) or any(not n.isascii() and n in text for n in names):
            problems.append(f"genre {g}")
    return problems


def because(ids: Iterable[int], liked: Sequence[int], cf: Scorer, catalog: Catalog) -> dict[int, int]:
    """item id -> the liked item whose fans also liked it (for the reasons); empty with no likes."""
    out = {}
    for i in ids if liked else ():
        j = cf.because(int(i), liked)
        if j is not None and j in catalog:
            out[int(i)] = j
    return out
