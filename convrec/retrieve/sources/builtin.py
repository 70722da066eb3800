"""The blend sources every index has: the words (text), collaborative fold-in (cf), popularity (pop;
known: capped, for "like X"), pictures (image), the model's proposals (llm), likeness to the liked
items (attr: genres; alike: keywords, their meaning, people), the preferred genres (pref) and what the
request's moods and topics are about (about). The conversation model is its own file
(`convrec.retrieve.sources.conv`), as a new source would be.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from convrec.core.types import Needs
from convrec.data.titles import MIN_STEM_CHARS, normalize_title
from convrec.retrieve.attributes import LIKENESS_PARTS, Attributes
from convrec.retrieve.blend import rank_scores
from convrec.retrieve.images import ImageIndex
from convrec.retrieve.search import readable, title_discounted
from convrec.retrieve.sources.base import (
    Column,
    Library,
    PerRow,
    Plain,
    Popular,
    Query,
    Scored,
    liked_rows,
)


class Text(Plain):
    """Cosine of the request's words and liked items (their mean vector) to each item's text (FAISS).
    With genres and years alone the filter already did the work, and the similarity of every comedy
    to "Comedy movie" is noise: then it weighs a quarter, so popularity orders the well-known ones.
    So it does when the only other words are ones the encoder cannot read (a Chinese word no table
    translates, "越好" of "有没有吓人的恐怖片，越吓人越好": at full weight, Scary Movie and films
    named like "Horror movie" came first; default index 0.459 -> 0.468, Chinese 0.458 -> 0.479)."""

    name, weight = "text", 0.6

    def column(self, library: Library, query: Query) -> Column:
        words, needs = query.encoded(library), query.needs
        vectors = [library.encoder.encode([words])[0]] if words else []
        vectors += [library.index.index.reconstruct(r) for r in liked_rows(library, needs)]
        return TextColumn(library, needs, np.mean(vectors, axis=0) if vectors else None)

    def turn_weight(self, weights: Mapping[str, float], query: Query) -> float:
        w = weights.get(self.name, self.weight)
        return w if readable(query.needs.keywords, query.multilingual) or query.needs.liked else w * 0.25


class TextColumn:
    def __init__(self, library: Library, needs: Needs, vector: np.ndarray | None) -> None:
        self.library, self.needs = library, needs
        self.vector = None if vector is None else vector / (np.linalg.norm(vector) + 1e-9)

    def top(self, allowed: np.ndarray, n: int) -> np.ndarray:
        if self.vector is None:
            return np.empty(0, np.int64)
        return self.library.index.search(self.vector, n, allowed)[0]

    def at(self, rows: np.ndarray) -> np.ndarray:
        if self.vector is None:
            return np.zeros(len(rows), np.float32)
        text = self.library.index.scores_for(self.vector, self.library.index.ids[rows])
        if self.needs.keywords and not self.needs.liked:  # a topic: what a film is about is searched, not its name
            return title_discounted(text, [self.library.items[r] for r in rows], self.needs)
        return text


class CF(Plain):
    """Collaborative fold-in of the liked and disliked items; nobody's rating, no evidence. For "like
    X", a film fewer than `KNOWN_RATINGS` people rated scores the candidates' lowest (`Floored`): the
    fold-in gives it about 0, above the known films X's fans rated and did not like, so that the less
    a film was seen the better its co-ratings looked (with knowledge tables, like 0.757 -> 0.771 and the
    held-out "like X" requests 0.656 -> 0.667; below 7 ratings the same, below 15 or 20 0.771 and 0.633,
    0.622; left without collaborative evidence instead, `missing`, 0.714 and 0.633 below 5)."""

    name, weight = "cf", 0.3

    def column(self, library: Library, query: Query) -> Column:
        folded = library.cf.fold_in(query.needs.liked, query.needs.disliked)
        column: Column = folded if folded.any() else Scored(folded.at)
        if not likes_only(query.needs):
            return column
        return Floored(column, library.little_known)

    def missing(self, library: Library, rows: np.ndarray) -> np.ndarray:
        return library.unrated[rows]


@dataclass
class Floored:
    """A column whose `few` rows (one flag per catalogue row) score the lowest of the candidates'.

    >>> c = Floored(Scored(lambda rows: rows * 1.0), np.array([False, False, True]))
    >>> c.at(np.array([0, 1, 2])).tolist(), c.at(np.array([1, 2])).tolist()
    ([0.0, 1.0, 0.0], [1.0, 1.0])
    """

    column: Column
    few: np.ndarray

    def top(self, allowed: np.ndarray, n: int) -> np.ndarray:
        return self.column.top(allowed, n)

    def at(self, rows: np.ndarray) -> np.ndarray:
        scores = np.asarray(self.column.at(rows), np.float32)
        return np.where(self.few[rows], scores.min(), scores).astype(np.float32) if len(scores) else scores


def cf_idle(query: Query) -> bool:
    """Whether the collaborative column is empty and popularity takes its weight (see `Pop`)."""
    return About.name in query.columns and not (query.needs.liked or query.needs.disliked)


class Pop(Plain):
    """The popularity prior; the most popular allowed items always compete. Where the request's words
    reach attributes ("about" holds a column) and nothing is liked or disliked, the collaborative
    column is empty and its weight goes to popularity: it orders the many films a keyword ties, the
    known ones first (measured on the content suite with knowledge tables: 0.648 -> 0.705)."""

    name, weight = "pop", 0.1

    def column(self, library: Library, query: Query) -> Column:
        return Popular(library)

    def turn_weight(self, weights: Mapping[str, float], query: Query) -> float:
        w = weights.get(self.name, self.weight)
        return w + weights.get(CF.name, CF.weight) if cf_idle(query) else w

    def missing(self, library: Library, rows: np.ndarray) -> np.ndarray:
        return ~library.known[rows]


class Known(Plain):
    """ "Like X": how well known a candidate is, its popularity counted up to `KNOWN_RATINGS`
    ratings. A film few people have rated is seldom what a person means by "like X" (a piano
    teacher's drama of 1988 for "like The Legend of 1900", a 2014 friends-to-lovers comedy for "like
    When Harry Met Sally"), while past a handful of ratings more is no likelier: the cap keeps Pulp
    Fiction from coming for every film of 1994 (that is what the plain prior would do: `Pop` at 0.2,
    0.3 for these turns answered like 0.700, 0.686 on the content suite with knowledge tables). It
    scores candidates and adds none; silent where nothing is liked or the request moves away from X
    ("like X but funnier": Y's films are fewer and less known). With knowledge tables, like 0.743 ->
    0.757 and the held-out "like X" requests 0.611 -> 0.644 (capped at 5, 10 or 20 ratings, weighed
    0.05 to 0.2: 0.743-0.771 and 0.633-0.667)."""

    name, weight = "known", 0.1

    def column(self, library: Library, query: Query) -> Column | None:
        if not likes_only(query.needs):
            return None
        return Scored(lambda rows: np.minimum(library.popularity[rows], library.known_level))

    def missing(self, library: Library, rows: np.ndarray) -> np.ndarray:
        return ~library.known[rows]


class Image(Plain):
    """CLIP similarity of the uploaded picture, else of the words, to each item's picture. An
    uploaded picture is the turn's query, as words are, so it weighs what the words do."""

    name, weight = "image", 0.3

    def column(self, library: Library, query: Query) -> Column | None:
        images = library.images
        if images is None:
            return None
        words = query.text(library)
        vector = (
            query.picture if query.picture is not None else images.encoder.encode_text([words])[0] if words else None
        )
        if vector is None:
            return None
        return ImageColumn(library, images, vector)

    def turn_weight(self, weights: Mapping[str, float], query: Query) -> float:
        return weights.get("text", Text.weight) if query.picture is not None else weights.get(self.name, self.weight)


class ImageColumn:
    def __init__(self, library: Library, images: ImageIndex, vector: np.ndarray) -> None:
        self.library, self.images, self.vector = library, images, vector

    def top(self, allowed: np.ndarray, n: int) -> np.ndarray:
        return self.images.search(self.vector, n, allowed)[0]

    def at(self, rows: np.ndarray) -> np.ndarray:
        return self.images.scores_for(self.vector, self.library.index.ids[rows])


class LLM(Plain):
    """The items a language model named for the request (`convrec.llm.propose`), rank 1 -> 1.0."""

    name, weight = "llm", 0.5

    def column(self, library: Library, query: Query) -> Column | None:
        proposed = [i for i in query.proposed if i in library.index.position]
        return Proposed(library, proposed) if proposed else None


class Proposed:
    def __init__(self, library: Library, proposed: Sequence[int]) -> None:
        self.library, self.proposed = library, list(proposed)

    def top(self, allowed: np.ndarray, n: int) -> np.ndarray:
        return np.array([i for i in self.proposed if allowed[self.library.index.position[i]]], np.int64)

    def at(self, rows: np.ndarray) -> np.ndarray:
        ids = self.library.index.ids[rows]
        held = set(ids.tolist())  # the candidates hold every allowed proposal, and only allowed items
        return rank_scores(ids, [i for i in self.proposed if i in held])


class Attr(Plain):
    """ "Like X" by genres: how much of the liked items' genres a candidate shares (Jaccard), beside
    who liked it (CF) and what it is about (`Alike`); where Y moves the genres ("like Die Hard but
    funnier"), X's genres moved by Y (`moved_genres`). It scores candidates and adds none: the films
    that share the most genres are many, and the popular ones among them say nothing of X."""

    name, weight = "attr", 0.4

    def column(self, library: Library, query: Query) -> Column | None:
        attributes, needs = library.attributes, query.needs
        if not needs.liked or attributes is None:
            return None
        liked = liked_rows(library, needs)
        moved = moved_genres(library, needs, liked)  # over the candidates only, not every catalogue row
        return Scored(lambda rows: attributes.likeness(rows, liked, library.encoder, ["genres"], moved))

    def missing(self, library: Library, rows: np.ndarray) -> np.ndarray:
        return library.ungenred[rows]


class Alike(Plain):
    """ "Like X" by knowledge: how much of what the liked items are about a candidate shares, their
    keywords, the keywords' meaning and the people they name (`Attributes.likeness`); silent where
    no liked item has keywords or people (the default index: titles and genres only). "But Y" asks
    for a change, and X's people make more of X (Bruce Willis brought Pulp Fiction for "like Die
    Hard but funnier"): then they are left out. Weighed apart from the genres (`Attr`), so that
    knowledge weighs where it is and genres alone weigh what they did: on the content suite with
    knowledge tables, one column of all four parts at 0.4 answered like 0.629 and like-but 0.400,
    at 1.0 0.700 and 0.446, but brought the default index's like from 0.500 to 0.400. As a column of
    its own, 0.4 and 1.0 answered the suite alike (0.754 / 0.757: like 0.686 both, like-but 0.400 /
    0.415) and ReDial at 0.206 / 0.201 (R@10, the chat's Settings, its catalogue's viewer tags). Once
    IMAX no longer counted as a genre and "grittier" moved as "darker" does, 0.4, 0.6, 0.8 and 1.2
    answered like 0.700, 0.714, 0.714, 0.657 and like-but 0.400, 0.431, 0.446, 0.431 (ReDial not
    measured again): 0.8 (the films of a dream or a prison, over the popular ones of X's genres)."""

    name, weight = "alike", 0.8

    def column(self, library: Library, query: Query) -> Column | None:
        attributes, needs = library.attributes, query.needs
        liked = liked_rows(library, needs)
        if not liked or attributes is None or not attributes.knows(liked):
            return None
        parts = [p for p in LIKENESS_PARTS if p != "genres" and not (p == "people" and moves(needs))]
        return PerRow(library, likeness(library, attributes, liked, parts))


def likes_only(needs: Needs) -> bool:
    """Whether the request likes a film and moves nowhere from it ("like X", not "like X but funnier")."""
    return bool(needs.liked) and not moves(needs)


def moves(needs: Needs) -> bool:
    """Whether the request moves away from the liked items ("like X but funnier", "... but newer")."""
    return bool(needs.prefer_genres or needs.avoid_genres or needs.exclude_genres or needs.year_min or needs.year_max)


def likeness(
    library: Library, attributes: Attributes, liked: list[int], parts: Iterable[str] = LIKENESS_PARTS,
    genres: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """Per catalogue row, its likeness to the `liked` rows (`Attributes.likeness`)."""
    rows = np.arange(len(library.index.ids))
    return attributes.likeness(rows, liked, library.encoder, parts, genres)


def moved_genres(library: Library, needs: Needs, liked: list[int]) -> np.ndarray | None:
    """The genres "like X but Y" asks for, one 0/1 row over the filters' genres: X's, with Y's
    preferred ones added and its avoided and excluded ones taken away ("like Die Hard but funnier":
    Action, Crime, Thriller and Comedy; of the genres the likeness reads, `Attributes.genre_matrix`); None
    when Y moves no genre."""
    filters, attributes = library.filters, library.attributes
    if filters is None or not liked or not (needs.prefer_genres or needs.avoid_genres or needs.exclude_genres):
        return None
    base = filters.genre_matrix if attributes is None else attributes.genre_matrix
    wanted = base[liked].max(axis=0).astype(np.float32)
    for genres, value in ((needs.prefer_genres, 1.0), (needs.avoid_genres, 0.0), (needs.exclude_genres, 0.0)):
        for genre in genres:
            if genre in filters.genres:
                wanted[filters.genres.index(genre)] = value
    return wanted


def series_stem(title: str) -> str:
    """The part of a title that its series' other films share: before a subtitle (":", " - ") or
    " and the", normalised; what a sequel's title begins with or holds ("Jaws" for "Jaws 2",
    "Jaws: The Revenge"; "jurassic park" in "The Lost World: Jurassic Park").

    >>> series_stem("Jaws"), series_stem("Harry Potter and the Sorcerer's Stone"), series_stem("Star Wars: Episode IV - A New Hope")
    ('jaws', 'harry potter', 'star wars')
    """
    return normalize_title(re.split(r":| - | and the ", title, maxsplit=1)[0])


def in_series(stem: str, title: str) -> bool:
    """Whether `title` is a film of the series whose `series_stem` is `stem`: it begins with the
    stem, or holds it whole when the stem is long enough to name one series (`MIN_STEM_CHARS`).

    >>> [in_series("jaws", t) for t in ("Jaws 2", "Jaws: The Revenge", "Jawbreaker", "Into the Blue")]
    [True, True, False, False]
    >>> in_series("jurassic park", "The Lost World: Jurassic Park"), in_series("toy story", "Toys")
    (True, False)
    """
    key = normalize_title(title)
    return bool(stem) and (
        f"{key} ".startswith(f"{stem} ") or (len(stem) >= MIN_STEM_CHARS and f" {stem} " in f" {key} ")
    )


def series_left(library: Library, needs: Needs, rows: np.ndarray) -> np.ndarray:
    """Per row, whether it is of a liked film's own series (`in_series`: "Jaws 2") where the request
    asks for another era than the liked films' ("like Jaws but newer": none of their years is
    allowed): X's sequels continue X and fill such a list (Jaws 3-D, Jaws: The Revenge), so they are
    ranked lower (`Blend`), never filtered out."""
    lo, hi = needs.year_min, needs.year_max
    liked = [library.items[r] for r in liked_rows(library, needs)]
    if (
        (lo is None and hi is None)
        or not liked
        or any(it.year is None or ((lo is None or it.year >= lo) and (hi is None or it.year <= hi)) for it in liked)
    ):
        return np.zeros(len(rows), bool)
    stems = [series_stem(it.title) for it in liked]
    return np.array([any(in_series(s, library.items[r].title) for s in stems) for r in rows], bool)


class Pref(Plain):
    """Moods and "but funnier": the share of the preferred genres a candidate has. With liked items
    and a comparison ("like Inception but funnier", "... but newer"), how alike Y's items are to X in
    what they are about (`Attributes.like_but`). Where nothing is liked and the request's words reach
    attributes ("about" holds a column), a mood's genres are the coarser hint and weigh half (moods on
    the content suite with knowledge tables 0.723 -> 0.754)."""

    name, weight = "pref", 0.6

    def turn_weight(self, weights: Mapping[str, float], query: Query) -> float:
        w = weights.get(self.name, self.weight)
        return w / 2 if About.name in query.columns and not query.needs.liked else w

    def column(self, library: Library, query: Query) -> Column | None:
        needs, filters, attributes = query.needs, library.filters, library.attributes
        preferred = (*needs.prefer_genres, *needs.loose_genres)  # a loose genre is a filter until something is liked
        share = filters.genre_share(preferred) if preferred and filters is not None else None
        liked = liked_rows(library, needs)
        if liked and moves(needs) and attributes is not None:
            return PerRow(library, attributes.like_but(liked, library.encoder, share))
        return None if share is None else PerRow(library, share)

    def missing(self, library: Library, rows: np.ndarray) -> np.ndarray:
        return library.ungenred[rows]


class About(Plain):
    """How much an item is about the request's moods and topics (`convrec.retrieve.attributes`): the
    English words they mean, the vocabulary's phrases among the keywords ("serial killer"), and the
    keywords themselves; silent when none is an attribute of any item. With liked items, an item
    counts as much as it is also like them ("like Die Hard but funnier": funny among those)."""

    name, weight = "about", 0.6

    def column(self, library: Library, query: Query) -> Column | None:
        words, attributes = about_words(library, query.needs), library.attributes
        about = attributes.about(words, library.encoder) if words and attributes is not None else None
        if about is None or attributes is None:
            return None
        liked = liked_rows(library, query.needs)
        if liked:
            about *= likeness(library, attributes, liked, genres=moved_genres(library, query.needs, liked))
        return PerRow(library, about)


# Words that name the telling, not what is told: searched inside a phrase of the vocabulary ("true
# story", "love story"), never alone ("a coming of age story" is about coming of age; alone, "story"
# reached the three items tagged "story", the rarest and so the heaviest word of the request).
NARRATIVE_NOUNS = frozenset({"story", "stories", "tale", "tales"})


def about_words(library: Library, needs: Needs) -> list[str]:
    """The request's words the attributes are searched by: its moods' and topics' English words, the
    vocabulary's phrases it says (`said_phrases`: "coming of age", whose "of" is no keyword), and its
    English keywords that no such phrase holds ("road trip" is searched whole, not "road" and "trip"
    beside it: measured on the content suite with knowledge tables, topics 0.821 -> 0.847)."""
    if library.attributes is None or not len(library.attributes):
        return []
    english = list(readable(needs.keywords))  # the vocabulary is English
    said = library.attributes.said(f"{needs.text} {' '.join(english)}")
    phrases = [p for p in said_phrases(said, english) if p not in NARRATIVE_NOUNS]
    held = {word for phrase in phrases for word in phrase.split()} | NARRATIVE_NOUNS
    return list(dict.fromkeys([*needs.about, *phrases, *(w for w in english if w.casefold() not in held)]))


def said_phrases(phrases: Sequence[str], keywords: Sequence[str]) -> list[str]:
    """The vocabulary's `phrases` found in a message that its `keywords` stand for: each holds a keyword
    and no longer word that is none (a negated word is no keyword: "nothing with Jim Carrey" searches
    no "jim carrey"; "of", "a" and "the" are none either).

    >>> said_phrases(["coming of age", "jim carrey", "based on a true story"], ["coming", "age", "true", "story"])
    ['coming of age']
    >>> said_phrases(["based on a true story"], ["based", "true", "story"])
    ['based on a true story']
    """
    keys = {k.casefold() for k in keywords}
    return [
        p for p in phrases if any(w in keys for w in p.split()) and all(w in keys or len(w) <= 3 for w in p.split())
    ]
