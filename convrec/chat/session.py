"""Conversation state: turns, the merged `Needs`, and what was shown, liked and disliked.

Merging rules (one turn's `NeedsUpdate` into the running `Needs`):
- "reset" starts from empty needs, then applies the rest of the turn;
- genres named to include replace the previous ones (the latest wish wins); exclusions
  accumulate ("no more horror" stays until the person asks for horror again); so do avoided
  genres ("not too scary" stays until the genre is asked for or excluded), and avoiding a genre
  lifts its inclusion or exclusion (the softer wish is the later one); preferred genres ("but
  funnier") are replaced by the next turn that prefers any, and a genre avoided now is no longer
  preferred;
- explicit years replace the range; "older"/"newer" without explicit years shift the range
  by a decade, or bound it by the years of the items just shown (or, on a first turn, of the
  items named as liked); "newer" never goes past the current year;
- liked/disliked accumulate; "more like #2"/"less like #2" resolve to the shown item;
- a genre is a filter when the person constrains ("only comedies", or with years or exclusions
  in the same message), asks for it with nothing liked yet ("a comedy") or as the kind the likeness
  asks for ("a similar animated film", "差不多的动画": `genres_as` "kind"); said as a taste ("I
  love horror") or beside liked films ("any comedies? I loved Superbad", or once the conversation
  has liked films) it is a preference: the liked films carry the request, and the genre ranks
  their neighbours that have it first without removing the others. A taste said before any
  liked film filters until one is liked; a genre merely asked for before anything was liked ("a
  comedy", then "I loved Heat") filters until a film the person names later lacks it, then it is
  preferred the same way (liked films that have it, and "more like #2" of any list shown for it,
  keep the filter). On ReDial's development half the filter blocked 24 % of the films recommenders
  answered with (reports/redial_notes.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from convrec.core.errors import ConvrecError
from convrec.core.files import write_atomic
from convrec.core.types import Needs, NeedsUpdate

# "Like X but newer/older": films of another period than X's, at least this many years from its release,
# so that X's own sequels and the films of its year do not fill the list ("like Jaws but newer": Jaws 2 is
# 1978). Like-but requests on the content suite with knowledge tables (held-out ones), X's sequels ranked
# lower (`convrec.retrieve.sources.series_left`): a year 0.477 (0.375), five 0.477 (0.412), ten 0.462 (0.412:
# "older than The Matrix" lost Terminator 2 and Dark City; on the default index 0.8 -> 0.4).
ERA_YEARS = 5


@dataclass
class Session:
    needs: Needs = field(default_factory=Needs)
    turns: list[dict[str, Any]] = field(default_factory=list)
    shown: list[int] = field(default_factory=list)  # every item shown so far, oldest first
    last_shown: list[int] = field(default_factory=list)  # the latest list, in display order

    def apply(
        self, update: NeedsUpdate, years: dict[int, int | None], genres: Mapping[int, Sequence[str]] | None = None
    ) -> Needs:
        """Merge one turn into the needs; `years` maps item id -> year for the items shown and liked,
        `genres` item id -> genres for those liked (none given: no genre merely asked for is loosened)."""
        self.needs = merge(self.needs, update, self.last_shown, years, genres=genres)
        if update.reset:
            self.shown, self.last_shown = [], []
        return self.needs

    def unplaced(self, update: NeedsUpdate) -> tuple[int, ...]:
        """The positions `update` refers to ("more like #2") that the latest list does not hold."""
        return tuple(p for p in (*update.more_like, *update.less_like) if not 1 <= p <= len(self.last_shown))

    def record(self, text: str, item_ids: list[int], asked: bool = False) -> None:
        """One answered turn: what was said, what was shown, and whether the answer asked a question."""
        self.turns.append({"user": text, "items": item_ids, **({"asked": True} if asked else {})})
        self.last_shown = list(item_ids)
        self.shown.extend(i for i in item_ids if i not in self.shown)

    @property
    def asked_last(self) -> bool:
        """Whether the previous answer asked a question (never two in a row)."""
        return bool(self.turns and self.turns[-1].get("asked"))

    def feedback(self, item_id: int, liked: bool) -> None:
        """A 👍/👎 on one item; the opposite list loses it."""
        keep, drop = (self.needs.liked, self.needs.disliked) if liked else (self.needs.disliked, self.needs.liked)
        keep = tuple(dict.fromkeys((*keep, item_id)))
        drop = tuple(i for i in drop if i != item_id)
        self.needs = self.needs.with_(
            **({"liked": keep, "disliked": drop} if liked else {"liked": drop, "disliked": keep})
        )

    def to_dict(self) -> dict[str, Any]:
        return {"needs": self.needs.to_dict(), "turns": self.turns, "shown": self.shown, "last_shown": self.last_shown}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Session:
        return cls(
            Needs.from_dict(d.get("needs", {})),
            list(d.get("turns", [])),
            list(d.get("shown", [])),
            list(d.get("last_shown", [])),
        )

    def save(self, path: Path) -> None:
        """Write atomically: a crash mid-write leaves the previous session file intact."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(self.to_dict(), ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> Session:
        path = Path(path)
        if not path.exists() or path.stat().st_size == 0:
            return cls()
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError, ValueError, AttributeError) as e:
            raise ConvrecError(f"{path} is not a convrec session file ({e}); delete it to start over.") from e


def merge(
    needs: Needs,
    u: NeedsUpdate,
    last_shown: list[int],
    years: dict[int, int | None],
    *,
    genres: Mapping[int, Sequence[str]] | None = None,
    now_year: int | None = None,
) -> Needs:
    """Apply one turn to the running needs (rules in the module docstring); `genres` maps a liked
    item to its genres (a genre merely asked for turns loose when one lacks it), `now_year` (this
    year by default) is as far as "newer" goes.

    >>> n = merge(Needs(include_genres=("Comedy",), exclude_genres=("Horror",), year_min=1990, year_max=1999),
    ...           NeedsUpdate(older=True), [], {})
    >>> (n.include_genres, n.exclude_genres, n.year_min, n.year_max)
    (('Comedy',), ('Horror',), 1980, 1989)
    """
    if u.reset:
        needs = Needs()
    exclude = [g for g in needs.exclude_genres if g not in u.include_genres and g not in u.avoid_genres]
    exclude += [g for g in u.exclude_genres if g not in exclude]
    include = list(u.include_genres) if u.include_genres else list(needs.include_genres)
    include = [g for g in include if g not in exclude and g not in u.avoid_genres]
    avoid = [g for g in dict.fromkeys((*needs.avoid_genres, *u.avoid_genres)) if g not in (*include, *exclude)]
    prefer = list(u.prefer_genres) if u.prefer_genres else list(needs.prefer_genres)  # the latest wish wins
    prefer = [g for g in prefer if g not in (*include, *exclude, *u.avoid_genres)]
    avoid = [g for g in avoid if g not in u.prefer_genres]
    if u.include_genres:
        beside_liked = bool(needs.liked or u.liked or u.more_like)
        loosely = u.genres_as == "taste" or (u.genres_as == "request" and beside_liked)
        loose = list(include) if loosely else []
        asked = include if u.genres_as == "request" and not loosely else []
    else:
        loose = [g for g in needs.loose_genres if g not in exclude and g not in u.avoid_genres]
        asked = [g for g in needs.asked_genres if g in include]

    year_min, year_max = needs.year_min, needs.year_max
    if u.year_min is not None or u.year_max is not None:
        year_min, year_max = u.year_min, u.year_max
    elif u.older or u.newer:
        anchors = last_shown or list(u.liked)  # "like Toy Story but newer": newer than Toy Story
        gap = 1 if last_shown else ERA_YEARS  # a liked film's era, not only its year, is left behind
        year_min, year_max = _shift(
            year_min, year_max, [years.get(i) for i in anchors], older=u.older, now_year=now_year or date.today().year,
            gap=gap,
        )  # fmt: skip

    def at(positions: tuple[int, ...]) -> list[int]:
        return [last_shown[p - 1] for p in positions if 1 <= p <= len(last_shown)]

    new_liked = [*u.liked, *at(u.more_like)]
    new_disliked = [*u.disliked, *at(u.less_like)]
    liked = [i for i in dict.fromkeys((*needs.liked, *new_liked)) if i not in new_disliked]
    disliked = [i for i in dict.fromkeys((*needs.disliked, *new_disliked)) if i not in new_liked]
    keywords = list(dict.fromkeys((*needs.keywords, *u.keywords)))[-8:]
    known = genres or {}
    # a film the person names that lacks it; not one picked from a list shown for it (a relaxed list's "#2")
    lacked = [g for g in asked if any(known.get(i) and g not in known[i] for i in u.liked)]  # () is unknown
    loose += [g for g in lacked if g not in loose]
    asked = [g for g in asked if g not in lacked]
    # the liked films carry the request: the genres said loosely are preferred (the "pref" source)
    include = [g for g in include if g not in loose] if liked else [*include, *(g for g in loose if g not in include)]
    about = list(u.about) if u.about else list(needs.about)  # the latest mood or topic wins, as `prefer`
    return Needs(
        liked=tuple(liked),
        disliked=tuple(disliked),
        include_genres=tuple(include),
        exclude_genres=tuple(exclude),
        year_min=year_min,
        year_max=year_max,
        keywords=tuple(keywords),
        text=u.text or needs.text,
        language=u.language,
        avoid_genres=tuple(avoid),
        prefer_genres=tuple(prefer),
        about=tuple(about),
        loose_genres=tuple(loose),
        asked_genres=tuple(asked),
    )


def _shift(
    lo: int | None, hi: int | None, shown_years: list[int | None], *, older: bool, now_year: int, gap: int = 1
) -> tuple[int | None, int | None]:
    """A decade earlier/later for a bounded range; otherwise bound by the shown items' years, `gap`
    years beyond them. Later never passes `now_year`: nothing has been released after it.

    >>> _shift(1990, 1999, [], older=True, now_year=2026), _shift(None, None, [1995, 2001], older=True, now_year=2026)
    ((1980, 1989), (None, 1994))
    >>> _shift(None, None, [1995, 2001], older=False, now_year=2026), _shift(2015, 2019, [], older=False, now_year=2026)
    ((2002, None), (2025, 2026))
    >>> _shift(None, None, [1975], older=False, now_year=2026, gap=10), _shift(None, None, [2020], older=False, now_year=2026, gap=10)
    ((1985, None), (2026, None))
    """
    if lo is not None and hi is not None and hi - lo <= 15:
        if older:
            return lo - 10, hi - 10
        return min(lo + 10, now_year), min(hi + 10, now_year)
    known = [y for y in shown_years if y]
    if older:
        anchor = min(known) - gap + 1 if known else (lo or hi)
        return (None, anchor - 1) if anchor else (lo, hi)
    anchor = max(known) + gap - 1 if known else (hi or lo)
    return (min(anchor + 1, now_year), None) if anchor else (lo, hi)
