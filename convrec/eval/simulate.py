"""A simulated seeker who knows the target's catalogue record but never its title.

As in iEvaLM (Wang et al. 2023) and InteRecAgent (Huang et al. 2023), a recommender is graded by
talking to a user simulator for a few turns rather than on one recorded turn. Ours is written
with rules, so it is deterministic, costs nothing, and can be checked for leaks:

- an episode starts from a recorded ReDial context (replayed into a session, so the seeker's
  mentioned movies are already liked) and a target the recommender of that dialogue suggested;
- turn 1: the seeker states one fact of the target ("I'm in the mood for a thriller");
- the recommender answers with k items (`Recommender.recommend`, the chat path, LLM included
  when it has one); the target in the list ends the episode: a hit at this turn;
- otherwise the seeker critiques the list with one more fact of the target that the list gets
  wrong, in this order: a genre of the target most shown items lack; the target's decade when
  most shown items are from another; a tag of the target; "more like #n" for the shown item that
  shares most genres with it; a genre most shown items have and the target lacks ("no romance");
- at most `max_turns` turns.

Nothing the simulator says is taken from the title: tags sharing a word with any of the
target's names are never used, and every utterance is checked with `titles.title_occurs` against
each name (`Episode.leaks`, asserted 0 in the tests). `answer` replies to a recommender's
question (genre, era, a movie liked) from the same facts.

Reported: Hit@5 and Hit@10 (the target was in the first 5 / 10 of some turn's list) and the
average number of turns, a miss counting as `max_turns`.

Left out on purpose: free-text chit-chat, and an LLM-played seeker (its leaks can only be
filtered after the fact, and a 1.5B model would play a poor seeker).
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from convrec.core.types import Item
from convrec.data.titles import normalize_title, title_occurs, title_variants

MAX_TURNS = 5
K = 10


def decade_phrase(year: int) -> str:
    """The decade a year belongs to, as a seeker says it.

    >>> decade_phrase(1987), decade_phrase(2013)
    ('from the 80s', 'from the 2010s')
    """
    decade = year // 10 * 10
    return f"from the {decade % 100:02d}s" if decade < 2000 else f"from the {decade}s"


def title_words(item: Item) -> set[str]:
    """Every word of every name of the item (what a fact must not contain)."""
    full, prefix = title_variants(item.label())
    return {w for key in (*full, *prefix) for w in key.split()}


def safe_tags(item: Item) -> list[str]:
    """The item's tags that share no word (nor its plural or singular) with its names.

    >>> safe_tags(Item(1, "Toy Story", 1995, tags=("pixar", "toy story", "toys", "friendship")))
    ['pixar', 'friendship']
    """
    banned = title_words(item)
    out = []
    for tag in item.tags:
        words = set(normalize_title(tag).split())
        if (
            words
            and not words & banned
            and not (words & {w.rstrip("s") for w in banned} or {w.rstrip("s") for w in words} & banned)
        ):
            out.append(tag)
    return out


def leaks(text: str, item: Item) -> bool:
    """Whether `text` names the item (any of its names, fuzzily, as `title_occurs` reads it)."""
    full, _ = title_variants(item.label())
    return title_occurs(item.title, text) or any(title_occurs(name, text) for name in full)


@dataclass
class Seeker:
    """The simulated seeker for one target (see the module docstring)."""

    target: Item
    said: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)

    def opening(self) -> str:
        genre = self._rarest_genre()
        if genre:
            self.used.add(f"genre:{genre}")
            return self._say(f"I'm in the mood for a {genre.lower()} movie.")
        if self.target.year:
            self.used.add("decade")
            return self._say(f"Something {decade_phrase(self.target.year)}, please.")
        return self._say("Can you recommend a movie?")

    def critique(self, shown: Sequence[Item]) -> str:
        """One more fact of the target that the shown list gets wrong."""
        t = self.target
        counts = Counter(g for it in shown for g in it.genres)
        for g in sorted(t.genres, key=lambda g: counts[g]):
            if f"genre:{g}" not in self.used and counts[g] < len(shown) / 2:
                self.used.add(f"genre:{g}")
                return self._say(f"Something more like a {g.lower()}, maybe.")
        if t.year and "decade" not in self.used:
            same = sum(1 for it in shown if it.year and it.year // 10 == t.year // 10)
            if same < len(shown) / 2:
                self.used.add("decade")
                return self._say(f"I'd prefer one {decade_phrase(t.year)}.")
        for tag in safe_tags(t):
            if f"tag:{tag}" not in self.used:
                self.used.add(f"tag:{tag}")
                return self._say(f"Ideally something with {tag}.")
        best = max(range(len(shown)), key=lambda n: len(set(shown[n].genres) & set(t.genres)), default=None)
        if (
            best is not None
            and set(shown[best].genres) & set(t.genres)
            and f"more:{shown[best].item_id}" not in self.used
        ):
            self.used.add(f"more:{shown[best].item_id}")
            return self._say(f"More like #{best + 1}, please.")
        for g, n in counts.most_common():
            if g not in t.genres and f"no:{g}" not in self.used and n >= len(shown) / 2:
                self.used.add(f"no:{g}")
                return self._say(f"Nothing with {g.lower()}, please.")
        return self._say("Something else, please.")

    def answer(self, question: str) -> str:
        """A reply to a recommender's question, from the target's facts only.

        >>> Seeker(Item(1, "Heat", 1995, ("Action", "Crime"))).answer("Which genre do you like?")
        'I like action and crime.'
        """
        q = question.casefold()
        t = self.target
        if re.search(r"\b(genre|kind|type|sort)\b", q) and t.genres:
            return self._say(f"I like {' and '.join(g.lower() for g in t.genres[:2])}.")
        if re.search(r"\b(year|old|new|recent|decade|era|when)\b", q) and t.year:
            return self._say(f"Ideally one {decade_phrase(t.year)}.")
        tags = safe_tags(t)
        if tags:
            return self._say(f"Something with {tags[0]}.")
        return self._say("Anything good, really.")

    def _rarest_genre(self) -> str | None:
        return self.target.genres[-1] if self.target.genres else None

    def _say(self, text: str) -> str:
        self.said.append(text)
        return text


@dataclass
class Episode:
    target: int
    turns: int
    hit_at: dict[int, int | None]  # 5 and 10 -> the first turn with the target in its top 5/10 (None: never)
    said: list[str]
    leaks: int
    lists: list[list[int]]


def simulate(rec, session, target: Item, *, max_turns: int = MAX_TURNS, k: int = K) -> Episode:
    """One episode: the seeker talks to `rec` (a `Recommender`) from `session` until it is shown
    the target in a list of `k` or `max_turns` turns have passed."""
    seeker = Seeker(target)
    text = seeker.opening()
    hit_at: dict[int, int | None] = {5: None, 10: None}
    lists: list[list[int]] = []
    turn = 0
    for turn in range(1, max_turns + 1):
        shown = [r.item for r in rec.recommend(session, text, k=k).recs]
        ids = [it.item_id for it in shown]
        lists.append(ids)
        for cut in hit_at:
            if hit_at[cut] is None and target.item_id in ids[:cut]:
                hit_at[cut] = turn
        if target.item_id in ids[:10]:
            break
        text = seeker.critique(shown)
    return Episode(target.item_id, turn, hit_at, seeker.said, sum(leaks(s, target) for s in seeker.said), lists)


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson 95 % interval of a proportion (stays inside [0, 1] for few episodes).

    >>> [round(x, 3) for x in wilson(4, 4)]
    [0.51, 1.0]
    """
    if n == 0:
        return float("nan"), float("nan")
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def summarise(episodes: Sequence[Episode], max_turns: int = MAX_TURNS) -> dict[str, Any]:
    """Hit@5, Hit@10 (with Wilson intervals), average turns (a miss counts as max_turns), leaks."""
    out: dict[str, Any] = {"episodes": len(episodes)}
    for cut in (5, K):
        found = sum(e.hit_at.get(cut) is not None for e in episodes)
        lo, hi = wilson(found, len(episodes))
        out[f"hit@{cut}"] = round(found / max(len(episodes), 1), 4)
        out[f"hit@{cut}_ci95"] = [round(lo, 4), round(hi, 4)]
    turns = [e.turns if e.hit_at.get(K) is not None else max_turns for e in episodes]
    out["avg_turns"] = round(sum(turns) / max(len(turns), 1), 3)
    out["leaks"] = sum(e.leaks for e in episodes)
    return out


def pick_targets(examples, n: int, seed: int) -> list[tuple[Any, int]]:
    """`n` (example, target id) pairs drawn at random (reproducibly) from the gradable turns."""
    gradable = [e for e in examples if e.gradable]
    rng = random.Random(seed)
    chosen = rng.sample(gradable, min(n, len(gradable)))
    return [(e, e.gradable[0]) for e in chosen]
