"""The Recommender: one chat turn through named stages, each called once per pass.

    text -> parse (`understand`) -> merge into the session -> select (constraints, loosened when too
    few fit: `relax`) -> retrieve (every blend source: `convrec.retrieve.sources`) -> blend -> explain
    -> rerank (the final pass) -> reply (`talk`) -> Turn

One `Candidates` list flows from retrieve to reply, gaining columns and each item's evidence. Each
stage is timed into `Turn.timings_ms`. The LLM is optional at every step: when it is disabled, down
or returns nothing usable, rules parse the text and the blended order stands with template reasons
and the template reply, and the turn says so (`Turn.info["degraded"]`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import numpy as np

from convrec.chat.evidence import Evidence
from convrec.chat.ranking import Blend, Explain, Ranking
from convrec.chat.relax import Select
from convrec.chat.session import Session
from convrec.chat.talk import Answer, Reply, Rerank, Turn, Write, model_does
from convrec.chat.understand import PROMPT_GENRES_MAX, Understand, seen_of
from convrec.core.config import Settings
from convrec.core.text import clean_message
from convrec.core.timing import timed
from convrec.core.types import Candidates, Needs, Relaxation
from convrec.data.catalog import Catalog
from convrec.data.titles import TitleMatcher
from convrec.llm.base import LLM
from convrec.llm.templates import load_prompt, prompts_by_language
from convrec.retrieve.attributes import Attributes, content_genres
from convrec.retrieve.candidates import Retrieve
from convrec.retrieve.cf import Scorer
from convrec.retrieve.conv import ConvModel
from convrec.retrieve.embed import Encoder
from convrec.retrieve.filters import Filters
from convrec.retrieve.images import ImageIndex, Picture
from convrec.retrieve.index import ItemIndex
from convrec.retrieve.sources import Library, weights


class Recommender:
    """A chat over one index: the stages, built once, and the turn that calls them in order."""

    def __init__(
        self, catalog: Catalog, index: ItemIndex, cf: Scorer, encoder: Encoder, llm: LLM | None, settings: Settings,
        images: ImageIndex | None = None, conv: ConvModel | None = None,
    ) -> None:  # fmt: skip
        self.catalog, self.index, self.cf = catalog, index, cf
        self.encoder, self.llm, self.settings = encoder, llm, settings
        self.items = [catalog.get(int(i)) for i in index.ids]  # with their model-written profiles, if any
        self.genres, self.titles, noun = catalog.genres(), TitleMatcher(self.items), settings.domain_noun
        filters = Filters(self.items, self.genres, index.position)
        likeness_genres = content_genres(filters.genre_matrix, self.genres)
        self.attributes = Attributes.from_items(self.items, likeness_genres, settings.likeness)
        popularity = np.log1p(np.array([it.popularity for it in self.items], dtype=np.float32))
        self.library = Library(
            self.items, index, cf, encoder, filters, self.attributes, popularity, popularity > 0, noun,
            settings.retrieve_k, images, conv,
        )  # fmt: skip
        # "recent", "the last decade": relative to the catalogue's newest year (a 2016 snapshot's
        # last decade is 2007-2016), never past this year
        dated = [it.year for it in self.items if it.year]
        now_year = min(max(dated), date.today().year) if dated else date.today().year
        # Up to PROMPT_GENRES_MAX genres are listed in full (a fixed prefix the model caches); a
        # catalogue with more (173 subjects of the courses) lists those nearest each message
        listed = ", ".join(self.genres) if len(self.genres) <= PROMPT_GENRES_MAX else "{genres}"
        self.prompts = {
            "parse": [load_prompt("parse", domain=noun, genres=listed)],
            "propose": [load_prompt("propose", domain=noun, n=str(settings.propose_n))],
            "rerank": [load_prompt("rank", domain=noun)],
        }
        by_language = {name: prompts_by_language(name, domain=noun) for name in ("reply", "reason")}
        self.prompts.update({name: list(prompts.values()) for name, prompts in by_language.items()})
        self.llm_reranks = model_does(llm, settings.rerank_with_llm)
        self.llm_replies = model_does(llm, settings.llm_reply)
        evidence = Evidence(self.items, index.position, self.attributes, encoder, noun)
        # the stages, in the order a turn calls them
        self.understand = Understand(
            self.genres, self.titles, now_year, encoder.encode, self.prompts["parse"][0],
            self.prompts["propose"][0], noun, settings.parse_with_llm, model_does(llm, settings.propose_with_llm),
            settings.propose_n,
        )  # fmt: skip
        self.ranking = Ranking(
            Select(filters), Retrieve(self.library), Blend(self.library, evidence, weights(settings.weights))
        )
        self.explain = Explain(catalog, self.genres, cf, evidence)
        self.rerank = Rerank(catalog, self.prompts["rerank"][0], settings.rerank_weight)
        self.answer = Answer(catalog, noun)
        self.write = Write(
            self.answer, self.genres, [it.title for it in self.items],
            by_language["reply"] if self.llm_replies else {},
            by_language["reason"] if llm and settings.llm_reasons else {},
        )  # fmt: skip

    def recommend(self, session: Session, text: str, k: int | None = None, image: Picture | None = None) -> Turn:
        """One chat turn, fully ranked and explained (the last value of `stream`)."""
        for turn in self.stream(session, text, k, image=image):
            pass
        return turn

    def replay(self, session: Session, text: str, shown: Sequence[int] = (), asked: bool = False) -> None:
        """Fold an earlier turn of a conversation that the client keeps into `session`, without
        the model and without ranking (milliseconds): its words as the model read them when this
        process answered them, else as the rules read them; and the items its answer showed
        (`shown`, catalogue ids in display order), so that "more like #2" and "nothing shown twice"
        mean what they meant then. `asked`: that answer asked a question."""
        text = clean_message(text, self.settings.max_message_chars)
        update = self.understand.recalled(text)
        session.apply(update, *self._known([*session.last_shown, *update.liked]))
        session.record(text, [i for i in shown if i in self.catalog], asked=asked)

    def stream(self, session: Session, text: str, k: int | None = None, image: Picture | None = None) -> Iterator[Turn]:
        """Yield a quick blended list first (rules only, no LLM: tens of milliseconds), then the
        final turn after the LLM parse and rerank (`Turn.info["final"]`), both with the template
        reply; then, where the model writes the reply or the reasons (`Settings.llm_reply`,
        `llm_reasons`), the final turn again each time it adds a checked sentence or reason.

        Too few items for every constraint: the nearest follow the exact ones, and the reply says
        what was loosened (see `convrec.chat.relax`). The session changes only when the final turn
        is produced, so a caller that stops after the preview loses nothing and repeats nothing.

        `image` (a path, URL or uploaded bytes) asks for "more like this picture": this turn also
        ranks by the picture's likeness to each item's picture, under the same constraints; the text
        may then be empty.
        """
        k = k or self.settings.k
        timings: dict[str, float] = {}
        info: dict[str, Any] = {"final": False}
        picture = None
        if image is not None:
            with timed(timings, "picture"):
                picture = self.ranking.retrieve.picture(image)
        text = clean_message(text, self.settings.max_message_chars) if picture is None or (text or "").strip() else ""
        with timed(timings, "parse"):
            rules = self.understand.rules(text)
        preview = Session.from_dict(session.to_dict())
        info["unplaced"] = session.unplaced(rules)
        needs = preview.apply(rules, *self._known([*session.last_shown, *rules.liked]))
        top, relaxed = self.candidates(needs, preview, k, timings, picture)
        yield self.turn(self.explain(top.head(k), needs), needs, relaxed, session.asked_last, dict(timings), dict(info))

        update = self.understand.model(self.llm, text, rules, info, timings)
        info.update(parse_source=update.source, unplaced=session.unplaced(update))
        needs = session.apply(update, *self._known([*session.last_shown, *update.liked]))
        proposed = self.understand.proposed(self.llm, text, update, seen_of(session.shown, needs), info, timings)
        if update != rules or proposed:
            top, relaxed = self.candidates(needs, session, k, timings, picture, proposed)
        with timed(timings, "rerank"):
            llm = self.llm if self.llm_reranks and relaxed is None else None  # the exact ones stay first
            ranked, facts = self.rerank(
                self.explain(top, needs), needs, k, llm=llm, request=text, follow_up=bool(session.turns)
            )
            info.update(facts, final=True)
        turn = self.turn(ranked, needs, relaxed, session.asked_last, timings, info)
        session.record(text, [r.item.item_id for r in turn.recs], asked=turn.question is not None)
        yield turn
        start = time.perf_counter()
        for words in self.write(
            self.llm, needs, text, ranked, turn.recs, Reply(turn.reply, turn.question), info["unplaced"]
        ):
            spent = {**turn.timings_ms, "write": (time.perf_counter() - start) * 1000}
            yield Turn(needs, words.recs, spent, {**turn.info, **words.info}, words.reply, turn.question)

    def candidates(
        self, needs: Needs, session: Session, k: int, timings: dict[str, float],
        picture: np.ndarray | None = None, proposed: Sequence[int] = (),
    ) -> tuple[Candidates, Relaxation | None]:  # fmt: skip
        """select -> retrieve -> blend (`Ranking`): the best `max(rerank_n, k)` allowed items, best
        first, and what was loosened (`proposed`: items the model named for this request)."""
        exclude, n = set(seen_of(session.shown, needs)), max(self.settings.rerank_n, k)
        return self.ranking(needs, exclude, k, n, timings, picture, proposed)

    def turn(
        self, cands: Candidates, needs: Needs, relaxed: Relaxation | None, asked_last: bool,
        timings: dict[str, float], info: dict[str, Any],
    ) -> Turn:  # fmt: skip
        """The reply stage's Turn (`asked_last`: the previous answer asked a question)."""
        unplaced = info.get("unplaced", ())
        recs, reply = self.answer(cands, needs, relaxed=relaxed, asked_last=asked_last, unplaced=unplaced)
        if relaxed is not None:  # the first `exact` recs meet every constraint; the rest meet all but `dropped`
            info.update(relaxed=list(relaxed.dropped), exact=relaxed.strict)
        return Turn(needs, recs, timings, info, reply.text, reply.question)

    def _known(self, ids: list[int]) -> tuple[dict[int, int | None], dict[int, tuple[str, ...]]]:
        """The years and genres of these catalogue items, as `Session.apply` takes them."""
        items = [self.catalog.get(i) for i in ids if i in self.catalog]
        return {it.item_id: it.year for it in items}, {it.item_id: it.genres for it in items}
