"""Reasons: one sentence per recommended item built from its catalogue record and the stated needs
(`template_reason`), and the checker every reason passes, whoever wrote it (`unsupported_claims`):
a year, genre or title the record does not support is a claim to refuse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from convrec.core.types import Item, Needs, Rec
from convrec.data.catalog import Catalog
from convrec.retrieve.cf import Scorer

GENRE_ZH = {
    "Action": "动作",
    "Adventure": "冒险",
    "Animation": "动画",
    "Children": "儿童",
    "Comedy": "喜剧",
    "Crime": "犯罪",
    "Documentary": "纪录",
    "Drama": "剧情",
    "Fantasy": "奇幻",
    "Film-Noir": "黑色电影",
    "Horror": "恐怖",
    "IMAX": "IMAX",
    "Musical": "歌舞",
    "Mystery": "悬疑",
    "Romance": "爱情",
    "Sci-Fi": "科幻",
    "Thriller": "惊悚",
    "War": "战争",
    "Western": "西部",
}


def template_reason(item: Item, needs: Needs, because: str | None = None, noun: str = "movie") -> str:
    """A reason built only from the item's record, the stated needs and, when given, the liked
    item whose fans also liked this one (`because`, from the collaborative scores). `noun` is
    what an item is called: Chinese reasons call genres "片" (films) only for movies.

    >>> template_reason(Item(7, "Heat", 1995, ("Action", "Crime"), tags=("heist",)), Needs(include_genres=("Crime",)))
    'Crime from 1995, as you asked; also Action; tagged heist.'
    >>> template_reason(Item(7, "Heat", 1995, ("Action",)), Needs(), because="Ronin")
    'Action from 1995; people who liked Ronin also liked it.'
    >>> template_reason(Item(8, "Intro to Ethics", None, ("Philosophy",)), Needs(language="zh"), noun="course")
    'Philosophy类。'
    """
    wanted = [g for g in item.genres if g in needs.include_genres]
    other = [g for g in item.genres if g not in wanted]
    if needs.language == "zh":
        film = noun == "movie"
        genres = "、".join(GENRE_ZH.get(g, g) for g in (wanted or other)) or ("影片" if film else "推荐")
        year = f"{item.year}年的" if item.year else ""
        tail = "，符合你的要求" if wanted or needs.year_min or needs.year_max else ""
        tags = f"；标签：{', '.join(item.tags[:2])}" if item.tags else ""
        fans = f"；喜欢《{because}》的人也喜欢它" if because else ""
        return f"{year}{genres}{'片' if film else '类'}{tail}{tags}{fans}。"
    lead = "/".join(wanted or other[:2]) or "A pick"
    year = f" from {item.year}" if item.year else ""
    asked = ", as you asked" if wanted or (needs.year_min or needs.year_max) else ""
    extra = f"; also {'/'.join(other[:2])}" if wanted and other else ""
    tags = f"; tagged {', '.join(item.tags[:2])}" if item.tags else ""
    fans = f"; people who liked {because} also liked it" if because else ""
    return f"{lead}{year}{asked}{extra}{tags}{fans}."


def unsupported_claims(why: str, item: Item, genres: Sequence[str], other_titles: Sequence[str] = ()) -> list[str]:
    """Facts in a reason that the item's record does not support (empty list = grounded).

    >>> unsupported_claims("A 1984 horror classic", Item(1, "Heat", 1995, ("Action",)), ["Action", "Horror"])
    ['year 1984', 'genre Horror']
    """
    problems = []
    for y in re.findall(r"\b(1[89]\d\d|20\d\d)\b", why):
        if item.year is None or int(y) != item.year:
            problems.append(f"year {y}")
    for decade in re.findall(r"\b(?:19|20)?(\d)0'?s\b", why):
        if item.year is None or (item.year // 10) % 10 != int(decade):
            problems.append(f"decade {decade}0s")
    lowered = why.casefold()
    for g in genres:
        if g not in item.genres and re.search(rf"\b{re.escape(g.casefold())}", lowered):
            problems.append(f"genre {g}")
    for t in other_titles:
        if len(t) > 3 and t != item.title and t.casefold() in lowered:
            problems.append(f"title {t}")
    return problems


def because(ids: Iterable[int], liked: Sequence[int], cf: Scorer, catalog: Catalog) -> dict[int, str]:
    """item id -> the liked title whose fans also liked it (for the reasons); empty with no likes."""
    out = {}
    for i in ids if liked else ():
        j = cf.because(int(i), liked)
        if j is not None:
            out[int(i)] = catalog.get(j).title
    return out


def template_recs(
    items: Sequence[Item], scores: Iterable[float], needs: Needs, fans: dict[int, str], noun: str = "movie"
) -> list[Rec]:
    """Items in the given order, each with its template reason (`fans`: see `because`)."""
    return [
        Rec(it, float(score), template_reason(it, needs, fans.get(it.item_id), noun))
        for it, score in zip(items, scores)
    ]
