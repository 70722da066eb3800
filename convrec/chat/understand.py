"""The parse stage: one message -> what it says (`NeedsUpdate`), by the rules, then by the model where
it could add something; and the items the model names for the request (`convrec.llm.propose`).

The model's reading of each recent message is kept (`READINGS_KEPT`), so that a conversation the
client replays reads as it did when this process answered it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convrec.core.timing import timed
from convrec.core.types import Needs, NeedsUpdate
from convrec.data.titles import TitleMatcher
from convrec.llm.base import LLM, Metered
from convrec.llm.propose import propose
from convrec.parse.model import parse_llm, worth_asking_llm
from convrec.parse.rules import parse_rules

READINGS_KEPT = 4096  # the model's readings of recent messages, kept for `replay`
PROMPT_GENRES_MAX = 40  # a larger vocabulary is shortlisted per message for the parse prompt


@dataclass
class Understand:
    """The parse stage over a catalogue's `genres` and `titles`; "recent" is relative to `now_year`.

    The model a turn passes reads a message when `reads` (`Settings.parse_with_llm`) and names
    candidates when `proposes`; `encode` (texts -> vectors) shortlists a large genre vocabulary for
    its prompt."""

    genres: list[str]
    titles: TitleMatcher
    now_year: int
    encode: Callable[[list[str]], np.ndarray]
    parse_prompt: str
    propose_prompt: str
    noun: str
    reads: bool = True
    proposes: bool = False
    propose_n: int = 10
    _readings: dict[str, NeedsUpdate] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _genre_vectors: np.ndarray | None = field(default=None, init=False, repr=False)

    def rules(self, text: str) -> NeedsUpdate:
        """The rules' reading of `text`."""
        return parse_rules(text, self.genres, self.titles, now_year=self.now_year)

    def recalled(self, text: str) -> NeedsUpdate:
        """The model's reading of `text` when this process asked it (the last `READINGS_KEPT`), else the rules'."""
        with self._lock:
            update = self._readings.get(text)
        return update if update is not None else self.rules(text)

    def model(
        self, llm: LLM | None, text: str, rules: NeedsUpdate, info: dict[str, Any], timings: dict[str, float]
    ) -> NeedsUpdate:
        """`llm`'s reading over the rules' (the rules' alone when the model could add nothing)."""
        if llm is None or not self.reads or not worth_asking_llm(rules):
            return rules
        with timed(timings, "parse_llm"):
            metered = Metered(llm)
            genres = self.prompt_genres(text, rules)
            update = parse_llm(text, metered, genres, self.titles, rules, prompt=self.parse_prompt, domain=self.noun)
        info.update(parse_prompt_tokens=metered.prompt_tokens, parse_completion_tokens=metered.completion_tokens)
        with self._lock:
            self._readings.pop(text, None)
            self._readings[text] = update
            if len(self._readings) > READINGS_KEPT:
                del self._readings[next(iter(self._readings))]
        return update

    def proposed(
        self, llm: LLM | None, text: str, update: NeedsUpdate, seen: Sequence[int], info: dict[str, Any],
        timings: dict[str, float],
    ) -> list[int]:  # fmt: skip
        """The items `llm` names for a request the rules cannot ground (topics, moods, "like X")."""
        if llm is None or not self.proposes or not (update.keywords or update.liked):
            return []
        with timed(timings, "propose"):
            metered = Metered(llm)
            ids = propose(metered, text, self.titles, prompt=self.propose_prompt, n=self.propose_n, exclude=seen)
        info.update(
            proposed=len(ids),
            propose_prompt_tokens=metered.prompt_tokens,
            propose_completion_tokens=metered.completion_tokens,
        )
        return ids

    def prompt_genres(self, text: str, rules: NeedsUpdate, n: int = 12) -> list[str]:
        """The genres the parse prompt offers the model: all of a small vocabulary, else the
        `n` whose names the encoder finds nearest the message, plus those the rules read."""
        if len(self.genres) <= PROMPT_GENRES_MAX:
            return self.genres
        if self._genre_vectors is None:
            self._genre_vectors = self.encode(self.genres)
        near = np.argsort(-(self._genre_vectors @ self.encode([text])[0]))[:n]
        keep = {self.genres[i] for i in near} | set(rules.include_genres) | set(rules.exclude_genres)
        return [g for g in self.genres if g in keep]


def seen_of(shown: Sequence[int], needs: Needs) -> list[int]:
    """The items a turn never shows again: those shown, liked or disliked."""
    return [*shown, *needs.liked, *needs.disliked]
