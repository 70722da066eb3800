"""Candidate retrieval: needs + the allowed rows -> `Candidates`.

The candidates are the union of the items nearest the request's words and liked items (FAISS),
the best by collaborative fold-in of the liked items, the most popular, and, with an image
index, the nearest pictures; each source's score for every candidate is one column ("text",
"cf", "pop", "image") for `blend` to fuse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from convrec.core.errors import InputError
from convrec.core.text import CJK
from convrec.core.types import Candidates, Item, Needs
from convrec.data.catalog import title_key
from convrec.data.documents import title_only
from convrec.retrieve.blend import rank_scores
from convrec.retrieve.cf import Scorer
from convrec.retrieve.embed import Encoder, is_multilingual
from convrec.retrieve.filters import first_allowed, top_allowed
from convrec.retrieve.images import ImageIndex, Picture
from convrec.retrieve.index import ItemIndex

POPULAR_N = 50  # the most popular allowed items always compete


def query_text(needs: Needs, noun: str, multilingual: bool = False) -> str:
    """What the text encoder sees: genres and keywords, never the negated words, nor the domain
    noun ("course" in "a course on ethics": `Retriever.retrieve` adds the noun once itself).

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
    words = [*needs.include_genres, *(w for w in needs.keywords if w.casefold() not in (noun, noun + "s"))]
    if not multilingual:
        words = [w for w in words if not CJK.search(w)]
    negated = needs.exclude_genres or needs.avoid_genres or needs.disliked
    if not words and needs.language == "en" and not negated:
        words = [needs.text]
    return " ".join(f"{w}" for w in words if w).strip()


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


@dataclass
class Retriever:
    """The indexes one turn searches: item texts, the collaborative scorer, and pictures (optional)."""

    index: ItemIndex
    cf: Scorer
    encoder: Encoder
    noun: str = "movie"
    n: int = 300  # per source
    images: ImageIndex | None = None  # the items' pictures in CLIP space; None for a text-only index
    _popular: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False)

    def retrieve(
        self,
        needs: Needs,
        allowed: np.ndarray,
        popularity: np.ndarray,
        picture: np.ndarray | None = None,
        proposed: Sequence[int] = (),
        boosts: Mapping[str, np.ndarray] | None = None,
    ) -> Candidates:
        """The allowed candidates from every source, with a score column per source.

        `popularity` (one value per row) is the popularity prior: log interaction counts in a chat,
        another prior where an evaluation substitutes one. `proposed` are item ids a language model
        named for the request, best first (`convrec.llm.propose`): the allowed ones join the
        candidates with an "llm" column. `boosts` are more sources, one value per row, by name: how
        much each item has of what the request prefers ("pref": the share of its preferred genres;
        "about": its attributes the request's moods and topics mean, both 0..1) and the conversation
        model's score ("conv"); the best of each, the more popular first among equals, join the
        candidates with a column of that name.
        """
        query = query_text(needs, self.noun, is_multilingual(self.encoder.name))
        vectors = []
        if query:
            vectors.append(self.encoder.encode([f"{query} {self.noun}"])[0])
        liked_rows = [self.index.position[i] for i in needs.liked if i in self.index.position]
        vectors += [self.index.index.reconstruct(r) for r in liked_rows]
        qvec = np.mean(vectors, axis=0) if vectors else None
        if qvec is not None:
            qvec = qvec / (np.linalg.norm(qvec) + 1e-9)

        folded = self.cf.fold_in(needs.liked, needs.disliked)
        pieces = []
        if qvec is not None:
            pieces.append(self.index.search(qvec, self.n, allowed)[0])
        if folded.any():
            pieces.append(folded.top(allowed, self.n))
        pieces.append(self.popular(popularity, allowed))
        ivec = self.image_query(query, picture)
        if ivec is not None and self.images is not None:
            pieces.append(self.images.search(ivec, self.n, allowed)[0])
        boosts = boosts or {}
        spread = float(popularity.max()) + 1.0 if len(popularity) else 1.0
        for boost in boosts.values():
            pieces.append(top_allowed(self.index.ids, boost + popularity / spread / 10, allowed, self.n))
        proposed = [i for i in proposed if i in self.index.position and allowed[self.index.position[i]]]
        if proposed:
            pieces.append(np.array(proposed, np.int64))
        ids = np.unique(np.concatenate(pieces)) if pieces else np.empty(0, np.int64)
        rows = np.array([self.index.position[int(i)] for i in ids], dtype=np.int64)
        text = self.index.scores_for(qvec, ids) if qvec is not None else np.zeros(len(ids), np.float32)
        cands = Candidates(ids, {"text": text, "cf": folded.at(rows), "pop": popularity[rows]})
        if ivec is not None and self.images is not None:
            cands.scores["image"] = self.images.scores_for(ivec, ids)
        if proposed:
            cands.scores["llm"] = rank_scores(ids, proposed)
        for name, boost in boosts.items():
            cands.scores[name] = boost[rows] if len(rows) else np.zeros(0, np.float32)
        return cands

    def popular(self, popularity: np.ndarray, allowed: np.ndarray, n: int = POPULAR_N) -> np.ndarray:
        """The ids of the `n` most popular allowed items; the ranking is sorted once per
        popularity array, not per turn."""
        if self._popular is None or self._popular[0] is not popularity:
            self._popular = (popularity, np.argsort(-popularity, kind="stable"))
        return self.index.ids[first_allowed(self._popular[1], allowed, n)]

    # -- pictures: a second index in CLIP space, fused with the others as the "image" column -----
    def picture_query(self, image: Picture) -> np.ndarray:
        """An uploaded picture -> its CLIP vector; InputError when there is no picture search."""
        if self.images is None:
            raise InputError(
                "This index has no pictures to compare with: build it with CONVREC_IMAGE_MODEL set to a CLIP model."
            )
        return self.images.encoder.encode_image(image)  # ImageError (an InputError) says what is wrong with it

    def image_query(self, query: str, picture: np.ndarray | None) -> np.ndarray | None:
        """What the image index is searched with: the uploaded picture, else the words in CLIP
        space ("a poster with a red car"); None without an image index or either."""
        if self.images is None:
            return None
        if picture is not None:
            return picture
        return self.images.encoder.encode_text([query])[0] if query else None
