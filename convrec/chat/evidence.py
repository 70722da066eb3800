"""Whose evidence ties a candidate to the request's words: the catalogue's, or only a model's.

A model-written profile (`convrec.data.profiles`) reaches a turn two ways: its moods and themes are
attributes ("about", `convrec.retrieve.attributes`), and its text is embedded with the item's own
("text"). Either can lift an item that nothing in the catalogue ties to the words: a profile that gave
Happy Gilmore the theme "dinosaurs" put it first for "movies about dinosaurs", above Jurassic Park
(min-max normalised, the profile's half-weight "about" was the only one and counted in full). So:
- an item tied to the request's words only by what a model wrote never ranks above one that the
  catalogue ties to them: its record holds a word, one of its catalogue attributes means one, or its
  own document (without the profile) is near the words (`NEAR_TEXT`);
- "near the words", which the reply and the reasons say as "the closest in the catalogue", is judged
  on the item's own document, never on the model's text embedded with it.

A profiled item whose embedded text is near the words, and that nothing in the catalogue ties to
them, counts as tied by the model (its premise is embedded but is no attribute). Its own document is
compared with the words alone, while the turn's "text" score also holds the liked items ("like X").
Left out on purpose: splitting an item's embedded vector into its own and the model's part (one
vector per item is stored; its own document is embedded again, for at most `MAX_REENCODED` a turn).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convrec.core.types import Candidates, Item, Needs
from convrec.data.documents import item_text
from convrec.rank.explain import found_word
from convrec.retrieve.attributes import Attributes
from convrec.retrieve.embed import Encoder, is_multilingual
from convrec.retrieve.search import embedded_query

# Text similarity from which an item counts as close to the request's words. MiniLM cosine,
# measured: topic matches 0.55-0.71 ("dinosaurs": Jurassic Park 0.58), unrelated titles found for
# Chinese words the encoder cannot read 0.39-0.46.
NEAR_TEXT = 0.5
MAX_REENCODED = 32  # profiled candidates whose own document is embedded again in one turn


class Evidence:
    """Reads, for a turn's candidates, whether the catalogue or only a model ties them to its words."""

    def __init__(
        self, items: Sequence[Item], position: dict[int, int], attributes: Attributes, encoder: Encoder, noun: str
    ) -> None:
        self.items = items  # in index order
        self.position = position  # item id -> index row
        self.attributes = attributes
        self.encoder = encoder
        self.profiled = frozenset(it.item_id for it in items if it.profile)  # a model wrote about them
        self.noun = noun
        # the last query and its cosine to each profiled item's own document: a turn asks for them
        # when it orders the candidates and again for the preview's and the final reasons
        self._own: tuple[str, dict[int, float]] = ("", {})

    def own_text(self, cands: Candidates, needs: Needs) -> np.ndarray:
        """Per candidate, the cosine of its own document (without a profile) to the query: the "text"
        score, embedded again for the profiled candidates near the words (at most `MAX_REENCODED`;
        those beyond count as not near), once per query: later calls of the turn reuse the cosines."""
        text = np.asarray(cands.scores.get("text", np.zeros(len(cands))), np.float32).copy()
        again = [n for n, i in enumerate(cands.ids) if int(i) in self.profiled and text[n] >= NEAR_TEXT]
        if not again:
            return text
        text[again[MAX_REENCODED:]] = 0.0
        again = again[:MAX_REENCODED]
        query = embedded_query(needs, self.noun, is_multilingual(self.encoder.name)) or ""
        known = self._own[1] if self._own[0] == query else {}
        ids = [int(cands.ids[n]) for n in again]
        fresh = [i for i in ids if i not in known]
        if fresh:
            vectors = self.encoder.encode([query, *(item_text(self.items[self.position[i]]) for i in fresh)])
            known = {**known, **dict(zip(fresh, (vectors[1:] @ vectors[0]).tolist()))}
            self._own = (query, known)
        text[again] = [known[i] for i in ids]
        return text

    def near(self, cands: Candidates, needs: Needs) -> dict[int, bool]:
        """item id -> whether its own document is near the request's words (see `own_text`)."""
        if not needs.keywords:  # no words to be near (a reason names them)
            return {int(i): False for i in cands.ids}
        own = self.own_text(cands, needs)
        return {int(i): bool(t >= NEAR_TEXT) for i, t in zip(cands.ids, own)}

    def catalogue_first(self, cands: Candidates, needs: Needs, words: Sequence[str]) -> Candidates:
        """`cands` (best first) with every item tied to `words` only by a model placed after every
        item the catalogue ties to them; the others keep their places, and the "blend" scores stay
        in order (the moved items take the scores of the places they move to).

        `words` are the request's English topic and mood words (see `convrec.retrieve.sources.about_words`).
        """
        if not len(cands) or not words or not self.profiled:
            return cands
        rows = np.array([self.position[int(i)] for i in cands.ids], np.int64)
        by_catalogue, by_model = (tied[rows] for tied in self.attributes.tied(words, self.encoder))
        text = np.asarray(cands.scores.get("text", np.zeros(len(cands))), np.float32)
        profiled = np.array([int(i) in self.profiled for i in cands.ids])
        by_model |= profiled & (text >= NEAR_TEXT)
        if not by_model.any():
            return cands
        own = self.own_text(cands, needs) >= NEAR_TEXT
        keywords = needs.keywords
        by_catalogue |= own | np.array([bool(found_word(self.items[r], keywords)[0]) for r in rows])
        model_only = by_model & ~by_catalogue
        return _before(cands, by_catalogue, model_only)


def _before(cands: Candidates, first: np.ndarray, after: np.ndarray) -> Candidates:
    """`cands` with the `first` items moved ahead of the `after` ones that rank above them, in the
    places the two kinds held together; the "blend" column keeps its order.

    >>> c = Candidates(np.array([1, 2, 3, 4]), {"blend": np.array([0.9, 0.8, 0.7, 0.6])})
    >>> moved = _before(c, np.array([False, False, False, True]), np.array([True, False, False, False]))
    >>> moved.ids.tolist(), moved.scores["blend"].tolist()
    ([4, 2, 3, 1], [0.9, 0.8, 0.7, 0.6])
    """
    places = np.flatnonzero(first | after)
    if not after.any() or not first.any():
        return cands
    order = np.arange(len(cands))
    order[places] = np.concatenate([places[first[places]], places[after[places]]])
    moved = cands.take(order)
    if "blend" in cands.scores:
        moved.scores["blend"] = cands.scores["blend"].copy()
    return moved
