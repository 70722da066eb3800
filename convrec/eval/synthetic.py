"""A synthetic catalogue of any size for `convrec bench scale`: items in topics with word-like
texts, Zipf-distributed interactions of users who favour a few topics, and topic vectors in
place of an encoder's (the generator of `convrec bench index`).

Nothing of it is committed: it is generated, seeded, in the command that uses it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from convrec.core.types import Item
from convrec.data.documents import item_text
from convrec.eval.ann import SPREAD, topic_space, topic_vectors

DIM = 384
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def word(i: int) -> str:
    """A pronounceable pseudo-word for an integer, so that texts are word-like for the encoder.

    >>> word(0), word(71), word(4999)
    ('ba', 'bebe', 'lubebe')
    """
    parts = []
    while True:
        parts.append(SYLLABLES[i % len(SYLLABLES)])
        i //= len(SYLLABLES)
        if not i:
            return "".join(parts)


class SyntheticCatalog:
    """`n` items in `n / 50` topics; each topic has two genre words and four tag words, each item a
    title of two words, a year, and its topic's words. Users favour 1-3 topics: 80% of their
    interactions fall in those topics, all of them follow a Zipf(1.1) item popularity."""

    def __init__(self, n: int, seed: int = 42, interactions_per_user: float = 20.0) -> None:
        rng = np.random.default_rng(seed)
        self.n, self.seed = n, seed
        self.topics = max(10, n // 50)
        self.topic = rng.integers(0, self.topics, n)
        self.year = rng.integers(1950, 2025, n)
        self.title_words = rng.integers(0, 5000, (n, 2))
        self.topic_words = rng.integers(5000, 8000, (self.topics, 6))
        weight = 1.0 / np.arange(1, n + 1) ** 1.1
        self.weight = weight[rng.permutation(n)]
        self.interactions = self._interactions(rng, max(10, n // 5), interactions_per_user)

    def _interactions(self, rng: np.random.Generator, users: int, per_user: float) -> pd.DataFrame:
        counts = np.maximum(1, rng.geometric(1.0 / per_user, users))
        user = np.repeat(np.arange(users), counts)
        total = len(user)
        anywhere = rng.choice(self.n, total, p=self.weight / self.weight.sum())
        # in a favourite topic: items sorted by topic, a draw inside the topic's span of the
        # cumulative popularity
        order = np.argsort(self.topic, kind="stable")
        cum = np.concatenate([[0.0], np.cumsum(self.weight[order])])
        bounds = np.searchsorted(self.topic[order], np.arange(self.topics + 1))
        favourites = rng.integers(0, self.topics, (users, 3))
        pick = favourites[user, rng.integers(0, 3, total)]
        lo, hi = cum[bounds[pick]], cum[bounds[pick + 1]]
        inside = np.searchsorted(cum, lo + rng.random(total) * (hi - lo), side="right") - 1
        inside = order[np.clip(inside, bounds[pick], np.maximum(bounds[pick + 1] - 1, bounds[pick]))]
        item = np.where(rng.random(total) < 0.8, inside, anywhere)
        return pd.DataFrame(
            {"user_id": user, "item_id": item, "rating": np.float32(5.0), "timestamp": np.int64(0)}
        ).drop_duplicates(["user_id", "item_id"], ignore_index=True)

    def ids(self) -> np.ndarray:
        return np.arange(self.n, dtype=np.int64)

    def topic_terms(self, topic: int) -> list[str]:
        return [word(int(w)) for w in self.topic_words[topic]]

    def item(self, row: int) -> Item:
        terms = self.topic_terms(int(self.topic[row]))
        title = " ".join(word(int(w)).capitalize() for w in self.title_words[row])
        return Item(row, title, int(self.year[row]), tuple(terms[:2]), tags=tuple(terms[2:]))

    def texts(self, start: int, stop: int) -> list[str]:
        return [item_text(self.item(r)) for r in range(start, stop)]


def topic_vector_source(
    catalog: SyntheticCatalog, dim: int = DIM, spread: float = SPREAD
) -> Callable[[int, int], np.ndarray]:
    """Rows start..stop of the catalogue's topic vectors; each chunk is seeded by where it starts,
    so a resumed run produces the same vectors as an uninterrupted one."""
    centres, basis = topic_space(np.random.default_rng(catalog.seed), catalog.topics, dim)

    def produce(start: int, stop: int) -> np.ndarray:
        rng = np.random.default_rng([catalog.seed, start])
        return topic_vectors(catalog.topic[start:stop], centres, basis, rng, spread)

    produce.space = (centres, basis)  # type: ignore[attr-defined]  # the queries are drawn from it too
    return produce
