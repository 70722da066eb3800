"""What a language must say for the assistant to speak it: one `Language` per language, each a
subclass that fills in every abstract member (the phrase tables and sentence templates of the
reply, the question and the reasons; number and time words; the words of a vague request and of
the card buttons; the script test that tells its text apart), and the render context (`Render`) that travels with a turn's words: the language and what
an item is called.

The renderers in `convrec.rank` decide what to say (which constraints were loosened, which
clauses tie an item to the request); a `Language` decides only how it reads. A method takes plain
values (titles, genre names, counts), never a turn, so a new language is one module of tables
and templates.

Left out on purpose: the phrase tables the rules read messages with (`convrec.parse.lexicon`):
a message may mix languages, so the parser reads every language's words at once.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from convrec.core.types import Needs

NAMED_TITLES = 3  # liked or disliked titles a reply names; a longer list is counted


class Language(ABC):
    """The words of one language. `code` is what `Needs.language` holds; `name` is what a prompt
    calls the language; `script` finds text written in it (None: the default, English)."""

    code: ClassVar[str]
    name: ClassVar[str]
    script: ClassVar[re.Pattern[str] | None]
    sentence_gap: ClassVar[str]  # between two sentences of one reply
    topic_separator: ClassVar[str]  # between two quoted runs of the request's words: 'a”, “b'
    one_stretch: ClassVar[bool]  # a clause's keywords are quoted as one stretch (no spaces between words)
    contrasts: ClassVar[Mapping[str, str]]  # "newest", "oldest", "popular", "rare" -> "the newest of these"
    vague_words: ClassVar[frozenset[str]]  # words that say nothing about what to rank by: "anything", "随便"
    # time words the checker reads in what a model wrote: the numerals 0-9, a decade (a regular
    # expression whose groups each hold one numeral: "(\d)0s"), and what follows a year that makes it a decade
    digits: ClassVar[str]
    decades: ClassVar[str]
    decade_suffix: ClassVar[str]

    # -- words -----------------------------------------------------------------------------

    @abstractmethod
    def number(self, n: int) -> str:
        """`n` in words up to ten, digits beyond."""

    @abstractmethod
    def genre(self, genre: str) -> str:
        """A catalogue genre ("Comedy") as this language names it."""

    @abstractmethod
    def join(self, words: Sequence[str], last: str = "and") -> str:
        """'A, B and C' (`last`: "and" or "or")."""

    @abstractmethod
    def titles(self, shown: Sequence[str], total: int, last: str = "and") -> str:
        """Titles the person named: `shown` of `total`, the rest counted."""

    def named_titles(self, titles: Sequence[str], last: str = "and") -> str:
        """The latest `NAMED_TITLES` of the titles the person named, and how many more."""
        return self.titles(titles[-NAMED_TITLES:], len(titles), last)

    @abstractmethod
    def period(self, lo: int | None, hi: int | None) -> str:
        """The asked years in words ('from the 1990s'); empty when neither bound is set."""

    @abstractmethod
    def period_name(self, lo: int | None, hi: int | None) -> str:
        """The asked years as a constraint one could drop ('the 1990s')."""

    @abstractmethod
    def steer(self, action: str, position: int) -> str:
        """The message a card's "more_like" or "not_interested" button stands for: 'more like #2'
        (the rules must read it: `convrec.parse.lexicon` holds its cues)."""

    # -- the reply and its question ------------------------------------------------------------

    @abstractmethod
    def understood(
        self, needs: Needs, when: str, topic: str, liked: Sequence[str], disliked: Sequence[str], noun: str
    ) -> str:
        """What was understood: the genres, the period `when`, the `topic`, the liked and disliked titles."""

    @abstractmethod
    def understood_head(self, said: str) -> str:
        """The reply's opening: 'Understood: {said}. '"""

    @abstractmethod
    def no(self, name: str) -> str:
        """An excluded genre as a constraint: 'no Horror'."""

    @abstractmethod
    def loosened(self, said: Sequence[str]) -> str:
        """What was loosened, each of `said` from `loosen_years`, `let_back` or `left_out`."""

    @abstractmethod
    def loosen_years(self) -> str: ...

    @abstractmethod
    def let_back(self, genre: str) -> str: ...

    @abstractmethod
    def left_out(self, name: str) -> str: ...

    @abstractmethod
    def question_which(self, names: Sequence[str]) -> str:
        """Which of two or more constraints matters most."""

    @abstractmethod
    def question_must(self, name: str) -> str: ...

    @abstractmethod
    def question_other(self) -> str: ...

    @abstractmethod
    def question_unclear(self, noun: str) -> str: ...

    @abstractmethod
    def question_vague(self, noun: str) -> str: ...

    @abstractmethod
    def nothing_fits(self) -> str: ...

    @abstractmethod
    def nearest(self, loosened: str) -> str:
        """No item meets every constraint: these are the nearest once `loosened`."""

    @abstractmethod
    def only_exact(self, exact: Sequence[str], loosened: str) -> str:
        """Only the `exact` titles meet every constraint; the rest once `loosened`."""

    @abstractmethod
    def popular_start(self, n: int, noun: str) -> str: ...

    @abstractmethod
    def nothing_about(self, topic: str, n: int, noun: str) -> str: ...

    @abstractmethod
    def fans_liked(self, title: str, many: int, n: int) -> str:
        """People who liked `title` also liked `many` of the `n` picks."""

    @abstractmethod
    def fitting(self, n: int, hard: bool, topic: str) -> str:
        """How `n` picks fit: every constraint (`hard`), the closest to `topic` (may be empty), or best."""

    @abstractmethod
    def all_of(self, n: int) -> str:
        """Every one of `n` picks: 'this one', 'both', 'all five'."""

    @abstractmethod
    def not_placed(self, positions: Sequence[int], noun: str) -> str:
        """'more like #7' names no item of the latest list (`positions` is never empty)."""

    # -- reasons -----------------------------------------------------------------------------

    @abstractmethod
    def reason_genres(self, genres: Sequence[str]) -> str:
        """An item's genres in a reason: 'Action/Crime'."""

    @abstractmethod
    def reason_lead(
        self, year: int | None, shown: Sequence[str], period: str, asked: int, preferred: bool, noun: str
    ) -> str:
        """The clause that describes an item: its `shown` genres and year, then whether it lies in the
        asked `period` ("decade", "year", "range" or ""), has the `asked` genres (their count, 0: not
        said) or the kind the request leans to (`preferred`)."""

    @abstractmethod
    def also(self, genres: Sequence[str], noun: str) -> str: ...

    @abstractmethod
    def word_clause(self, word: str, field: str, source: str = "", phrase: str = "") -> str:
        """A request word found in the item's "title", "tags", "people" or description: a tag as who gave it
        (`source`: "viewers", a knowledge table such as "TMDB", "" unknown), a description quoted (`phrase`)."""

    @abstractmethod
    def liked_clause(self, liked: str, shared: Sequence[str], same_decade: bool) -> str: ...

    @abstractmethod
    def fans_clause(self, title: str) -> str: ...

    @abstractmethod
    def near_clause(self, topic: str) -> str: ...

    @abstractmethod
    def misses_clause(self, misses: Sequence[str]) -> str:
        """On a relaxed turn, what the item lacks: "genres", "years", "excluded"."""

    @abstractmethod
    def only_genre(self, genre: str, noun: str, asked: bool) -> str:
        """The only pick of `genre` (`asked`: the request named genres, so it is 'also' that)."""

    @abstractmethod
    def popularity_rank(self, rank: int) -> str:
        """Its place by popularity among the picks (0 is the first)."""

    @abstractmethod
    def sentence(self, clauses: Sequence[str]) -> str:
        """Clauses joined into one sentence."""


@dataclass(frozen=True)
class Render:
    """What a turn's words are rendered with: the language, and what an item is called."""

    language: Language
    noun: str = "movie"
