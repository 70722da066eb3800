"""The Recommender: one chat turn through named stages.

    text -> parse -> (merge into session) -> filter (relaxed when too few fit) -> retrieve (FAISS)
         + cf (fold-in) -> blend -> rerank/explain (LLM) -> reply (+ question) -> Turn

Each stage is timed into `Turn.timings_ms`. The LLM is optional at every step: when it is
disabled, down or returns nothing usable, rules parse the text and the blended order stands
with template reasons and the template reply, and the turn says so (`Turn.info["degraded"]`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np

from convrec.chat.evidence import Evidence
from convrec.chat.relax import relax
from convrec.chat.session import Session
from convrec.core.config import Settings
from convrec.core.text import CJK, clean_message
from convrec.core.timing import timed
from convrec.core.types import Candidates, Item, Needs, NeedsUpdate, Rec, Relaxation
from convrec.data.catalog import Catalog
from convrec.data.titles import TitleMatcher
from convrec.llm.base import LLM, Metered
from convrec.llm.propose import propose
from convrec.llm.templates import load_prompt
from convrec.parse.model import parse_llm, worth_asking_llm
from convrec.parse.rules import parse_rules
from convrec.rank.explain import Ties, item_ties, template_recs
from convrec.rank.narrate import Writing, narrate
from convrec.rank.reply import Reply, TitleSpotter, not_placed, template_reply
from convrec.rank.rerank import rerank
from convrec.retrieve.attributes import Attributes
from convrec.retrieve.blend import blend, penalize, turn_weights
from convrec.retrieve.cf import Scorer
from convrec.retrieve.conv import ConvModel, needs_words
from convrec.retrieve.embed import Encoder, is_multilingual
from convrec.retrieve.filters import Filters
from convrec.retrieve.images import ImageIndex, Picture
from convrec.retrieve.index import ItemIndex
from convrec.retrieve.search import Retriever, query_text, title_discounted

READINGS_KEPT = 4096  # the model's readings of recent messages, kept for `replay`
PROMPT_GENRES_MAX = 40  # a larger vocabulary is shortlisted per message for the parse prompt
LANGUAGES = (("en", "English"), ("zh", "Chinese"))


@dataclass
class Turn:
    """One answer: the needs understood, the recs, the reply (always a string) and at most one
    question (None when the request was clear enough or the previous answer asked)."""

    needs: Needs
    recs: list[Rec]
    timings_ms: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    reply: str = ""
    question: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "needs": self.needs.to_dict(),
            "reply": self.reply,
            "question": self.question,
            "items": [r.to_dict() for r in self.recs],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            **({"degraded": self.info["degraded"]} if self.info.get("degraded") else {}),
            **(
                {"relaxed": {"exact": self.info["exact"], "dropped": self.info["relaxed"]}}
                if "relaxed" in self.info
                else {}
            ),
        }


class Recommender:
    def __init__(
        self,
        catalog: Catalog,
        index: ItemIndex,
        cf: Scorer,
        encoder: Encoder,
        llm: LLM | None,
        settings: Settings,
        images: ImageIndex | None = None,
        written: dict[int, tuple[str, ...]] | None = None,
        conv: ConvModel | None = None,
    ) -> None:
        self.catalog, self.index, self.cf, self.encoder, self.llm, self.settings = (
            catalog,
            index,
            cf,
            encoder,
            llm,
            settings,
        )
        self.images = images  # the items' pictures in CLIP space; None for a text-only index
        self.conv = conv  # learnt from dialogues (`convrec learn`); None: no "conv" source
        self.items: list[Item] = [catalog.get(int(i)) for i in index.ids]
        self.genres = catalog.genres()
        self.titles = TitleMatcher(self.items)
        self.filters = Filters(self.items, self.genres, index.position)
        # `written`: item id -> the moods and themes a model wrote for it (convrec/data/profiles.py)
        self.attributes = Attributes.from_items(self.items, self.filters.genre_matrix, written)
        self.evidence = Evidence(
            self.items, index.position, self.attributes, encoder, written or {}, settings.domain_noun
        )
        # "recent", "the last decade": relative to the catalogue's newest year (a 2016 snapshot's
        # last decade is 2007-2016), never past this year
        dated = [it.year for it in self.items if it.year]
        self.now_year = min(max(dated), date.today().year) if dated else date.today().year
        self.retriever = Retriever(index, cf, encoder, settings.domain_noun, settings.retrieve_k, images)
        self.popularity = np.log1p(np.array([it.popularity for it in self.items], dtype=np.float32))
        self.unrated = self.popularity == 0  # no interactions: collaborative scores know nothing of them
        self.pop_known = ~self.unrated  # the items the popularity counts cover (see `set_popularity`)
        noun = settings.domain_noun
        # Up to PROMPT_GENRES_MAX genres are listed in full (a fixed prefix the model caches);
        # a catalogue with more categories (173 subjects of the courses) lists the ones nearest
        # each message: all of them cost ~700 prompt tokens, ~13 s here.
        listed = ", ".join(self.genres) if len(self.genres) <= PROMPT_GENRES_MAX else "{genres}"
        self.parse_prompt = load_prompt("parse", domain=noun, genres=listed)
        self.propose_prompt = load_prompt("propose", domain=noun, n=str(settings.propose_n))
        self._genre_vectors: np.ndarray | None = None
        self._readings: dict[str, NeedsUpdate] = {}  # message -> the model's reading, oldest first
        self._readings_lock = threading.Lock()
        self.rerank_prompts = {"en": load_prompt("rank", domain=noun)}
        self.reply_prompts = {lang: load_prompt("reply", domain=noun, language=name) for lang, name in LANGUAGES}
        self.reason_prompts = {lang: load_prompt("reason", domain=noun, language=name) for lang, name in LANGUAGES}

    # -- the turn ---------------------------------------------------------------------------
    def recommend(self, session: Session, text: str, k: int | None = None, image: Picture | None = None) -> Turn:
        """One chat turn, fully ranked and explained (the last value of `stream`)."""
        for turn in self.stream(session, text, k, image=image):
            pass
        return turn

    def replay(self, session: Session, text: str, shown: Sequence[int] = (), asked: bool = False) -> None:
        """Fold an earlier turn of a conversation that the client keeps into `session`, without
        the model and without ranking (milliseconds): its words as the model read them when this
        process answered them (the last `READINGS_KEPT` readings are kept), else as the rules
        read them; and the items its answer showed (`shown`, catalogue ids in display order), so
        that "more like #2" and "nothing shown twice" mean what they meant then. `asked`: that
        answer asked a question."""
        text = clean_message(text, self.settings.max_message_chars)
        with self._readings_lock:
            update = self._readings.get(text)
        if update is None:
            update = parse_rules(text, self.genres, self.titles, now_year=self.now_year)
        session.apply(update, self._years_of([*session.last_shown, *update.liked]))
        session.record(text, [i for i in shown if i in self.catalog], asked=asked)

    def _remember(self, text: str, update: NeedsUpdate) -> None:
        """Keep the model's reading of `text` for `replay`, dropping the oldest beyond `READINGS_KEPT`."""
        with self._readings_lock:
            self._readings.pop(text, None)
            self._readings[text] = update
            if len(self._readings) > READINGS_KEPT:
                del self._readings[next(iter(self._readings))]

    def stream(self, session: Session, text: str, k: int | None = None, image: Picture | None = None) -> Iterator[Turn]:
        """Yield a quick blended list first (rules only, no LLM: tens of milliseconds), then
        the final turn after the LLM parse and rerank (`Turn.info["final"]`), both with the
        template reply; then, where the model writes the reply or the reasons
        (`Settings.llm_reply`, `llm_reasons`), the final turn again each time it adds a checked
        sentence or reason (see `convrec.rank.narrate`).

        Too few items for every constraint: the nearest follow the exact ones, and the reply
        says what was loosened (see `convrec.chat.relax`).

        The session changes only when the final turn is produced, so a caller that stops after
        the preview loses nothing and repeats nothing.

        `image` (a path, URL or uploaded bytes) asks for "more like this picture": this turn
        also ranks by the picture's likeness to each item's picture, under the same constraints;
        the text may then be empty.
        """
        k = k or self.settings.k
        timings: dict[str, float] = {}
        info: dict[str, Any] = {"final": False}
        picture = None
        if image is not None:
            with timed(timings, "picture"):
                picture = self.retriever.picture_query(image)
        text = clean_message(text, self.settings.max_message_chars) if picture is None or (text or "").strip() else ""

        with timed(timings, "parse"):
            rules = parse_rules(text, self.genres, self.titles, now_year=self.now_year)
        preview = Session.from_dict(session.to_dict())
        info["unplaced"] = session.unplaced(rules)
        needs = preview.apply(rules, self._years_of([*session.last_shown, *rules.liked]))
        tiers, relaxed = self.tiers(needs, preview, k, timings)
        top = self.candidates(needs, preview, k, timings, picture, tiers=tiers)
        recs, ties = self.preview_recs(top, needs, k)
        yield self.turn(needs, recs, ties, relaxed, session.asked_last, dict(timings), dict(info))

        update = rules
        if self.llm is not None and self.settings.parse_with_llm and worth_asking_llm(rules):
            with timed(timings, "parse_llm"):
                metered = Metered(self.llm)
                genres = self.prompt_genres(text, rules)
                update = parse_llm(
                    text,
                    metered,
                    genres,
                    self.titles,
                    rules,
                    prompt=self.parse_prompt,
                    domain=self.settings.domain_noun,
                )
                info.update(
                    parse_prompt_tokens=metered.prompt_tokens, parse_completion_tokens=metered.completion_tokens
                )
            self._remember(text, update)
        info.update(parse_source=update.source, unplaced=session.unplaced(update))
        needs = session.apply(update, self._years_of([*session.last_shown, *update.liked]))
        proposed: list[int] = []
        if self.llm is not None and self.llm_proposes and (update.keywords or update.liked):
            with timed(timings, "propose"):
                metered = Metered(self.llm)
                seen = [*session.shown, *needs.liked, *needs.disliked]
                proposed = propose(
                    metered, text, self.titles, prompt=self.propose_prompt, n=self.settings.propose_n, exclude=seen
                )
                info.update(
                    proposed=len(proposed),
                    propose_prompt_tokens=metered.prompt_tokens,
                    propose_completion_tokens=metered.completion_tokens,
                )
        if update != rules or proposed:
            tiers, relaxed = self.tiers(needs, session, k, timings)
            top = self.candidates(needs, session, k, timings, picture, proposed, tiers=tiers)
        with timed(timings, "rerank"):
            items = [self.catalog.get(int(i)) for i in top.ids]
            ties = item_ties(items, needs, self.catalog, self.cf, self.evidence.near(top, needs))
            recs, rinfo = rerank(
                items,
                top.scores["blend"],
                needs,
                k,
                llm=self.llm if self.llm_reranks and relaxed is None else None,  # the exact ones stay first
                prompt=self.rerank_prompts["en"],
                request=text,
                ties=ties,
                weight=self.settings.rerank_weight,
                follow_up=bool(session.turns),
                noun=self.settings.domain_noun,
            )
            info.update(rinfo, final=True)
        tie = {it.item_id: t for it, t in zip(items, ties)}
        turn = self.turn(needs, recs, [tie[r.item.item_id] for r in recs], relaxed, session.asked_last, timings, info)
        session.record(text, [r.item.item_id for r in recs], asked=turn.question is not None)
        yield turn
        yield from self.written(turn, text, [tie[r.item.item_id] for r in recs])

    def tiers(
        self, needs: Needs, session: Session, k: int, timings: dict[str, float]
    ) -> tuple[list[np.ndarray], Relaxation | None]:
        """The allowed rows, exact ones first, and what was loosened to reach `k` (see `relax`)."""
        with timed(timings, "filter"):
            exclude = set(session.shown) | set(needs.liked) | set(needs.disliked)
            return relax(self.filters, needs, exclude, k)

    def turn(
        self,
        needs: Needs,
        recs: list[Rec],
        ties: Sequence[Ties],
        relaxed: Relaxation | None,
        asked_last: bool,
        timings: dict[str, float],
        info: dict[str, Any],
    ) -> Turn:
        """A Turn with its template reply and question (`asked_last`: the previous answer asked one)."""
        noun = self.settings.domain_noun
        reply = template_reply(
            needs, recs, ties, self.named(needs), relax=relaxed, asked_last=asked_last, noun=noun,
            unplaced=info.get("unplaced", ()),
        )  # fmt: skip
        if relaxed is not None:  # the first `exact` recs meet every constraint; the rest meet all but `dropped`
            info.update(relaxed=list(relaxed.dropped), exact=relaxed.strict)
        return Turn(needs, recs, timings, info, reply.text, reply.question)

    def written(self, turn: Turn, request: str, ties: list[Ties]) -> Iterator[Turn]:
        """`turn` again each time the model adds a checked reply sentence or reason (nothing
        when it writes neither; see `convrec.rank.narrate`)."""
        writes_reply, writes_reasons = self.llm_replies, self.llm is not None and self.settings.llm_reasons
        if self.llm is None or not (writes_reply or writes_reasons) or not turn.recs:
            return
        lang = turn.needs.language if turn.needs.language in self.reply_prompts else "en"
        writing = Writing(
            turn.needs,
            request,
            ties,
            self.named(turn.needs),
            self.spotter,
            self.genres,
            reply_prompt=self.reply_prompts[lang] if writes_reply else "",
            reason_prompt=self.reason_prompts[lang] if writes_reasons else "",
            noun=self.settings.domain_noun,
        )
        start, note = time.perf_counter(), not_placed(turn.info.get("unplaced", ()), lang == "zh", writing.noun)
        for words in narrate(self.llm, writing, turn.recs, Reply(turn.reply, turn.question)):
            timings = {**turn.timings_ms, "write": (time.perf_counter() - start) * 1000}
            reply = words.reply if words.reply.startswith(note) else note + words.reply  # the model knows no list
            yield Turn(turn.needs, list(words.recs), timings, {**turn.info, **words.info}, reply, turn.question)

    def candidates(
        self,
        needs: Needs,
        session: Session,
        k: int,
        timings: dict[str, float],
        picture: np.ndarray | None = None,
        proposed: Sequence[int] = (),
        tiers: Sequence[np.ndarray] | None = None,
    ) -> Candidates:
        """filter -> retrieve -> blend: the best `max(rerank_n, k)` allowed items, best first
        (`proposed`: items the model named for this request, see `convrec.llm.propose`).

        `tiers` (see `tiers`): disjoint masks of allowed rows, best first; each tier's items come
        after every item of the tiers before it. By default the rows that meet every constraint
        (with several genres and fewer than `k` items having all of them, any of them)."""
        n = max(self.settings.rerank_n, k)
        if tiers is None:
            with timed(timings, "filter"):
                exclude = set(session.shown) | set(needs.liked) | set(needs.disliked)
                tiers = [self.filters.allowed(needs, exclude=exclude, every_min=k)]
        parts: list[Candidates] = []
        spent = {"retrieve": 0.0, "blend": 0.0}
        with timed(timings, "boosts"):
            boosts = self.boosts(needs)
        for rank, allowed in enumerate(tiers):
            if sum(len(p) for p in parts) >= n:
                break
            if allowed.any() or (not parts and rank == len(tiers) - 1):  # nothing at all: an empty list
                step: dict[str, float] = {}
                cands = self._blended(needs, allowed, step, picture, proposed, boosts)
                spent = {stage: spent[stage] + step[stage] for stage in spent}
                above = len(tiers) - 1 - rank  # blended scores lie in [0, 1]: earlier tiers stay first
                cands.scores["blend"] = cands.scores["blend"] + np.float32(above)
                parts.append(cands.take(np.arange(min(len(cands), n))))
        timings.update(spent)
        joined = Candidates.concat(parts)
        return joined.take(np.arange(min(len(joined), n)))

    def _blended(
        self,
        needs: Needs,
        allowed: np.ndarray,
        timings: dict[str, float],
        picture: np.ndarray | None,
        proposed: Sequence[int],
        boosts: dict[str, np.ndarray],
    ) -> Candidates:
        """retrieve -> blend over the `allowed` rows, best first (`boosts`: see `boosts`)."""
        s = self.settings
        with timed(timings, "retrieve"):
            cands = self.retriever.retrieve(needs, allowed, self.popularity, picture, proposed, boosts)
            if needs.liked:  # "like X": what X is, beside who liked it (CF)
                rows = np.array([self.index.position[int(i)] for i in cands.ids], np.int64)
                liked = [self.index.position[i] for i in needs.liked if i in self.index.position]
                cands.scores["attr"] = self.attributes.likeness(rows, liked)
            elif needs.keywords:  # a topic: what a film is about is searched, not its name
                items = [self.catalog.get(int(i)) for i in cands.ids]
                cands.scores["text"] = title_discounted(cands.scores["text"], items, needs)
        with timed(timings, "blend"):
            weights = turn_weights(s.w_text, s.w_cf, s.w_pop, s.w_image, needs=needs, picture=picture is not None)
            weights.update(llm=s.w_llm, attr=s.w_attr, pref=s.w_pref, about=s.w_about, conv=s.w_conv)
            cands = blend(cands, weights, self.missing_evidence(cands.ids))
            if needs.avoid_genres:  # "not too scary": ranked lower, never filtered out
                at = [self.index.position[int(i)] for i in cands.ids]
                cands = penalize(cands, self.filters.genre_share(needs.avoid_genres)[at] > 0)
            return self.evidence.catalogue_first(cands.sorted_by("blend"), needs, self.words(needs))

    def _llm_does(self, chosen: bool | None) -> bool:
        """Whether the model takes a step the settings switch with `chosen`: as chosen, else (None)
        every model but the embedded 1.5B one; never without a model."""
        if self.llm is None:
            return False
        return chosen if chosen is not None else self.llm.name != "embedded"

    @property
    def llm_proposes(self) -> bool:
        """Whether the model names candidates (`Settings.propose_with_llm`; by default every model
        but the embedded one)."""
        return self._llm_does(self.settings.propose_with_llm)

    @property
    def llm_replies(self) -> bool:
        """Whether the model writes the reply (`Settings.llm_reply`; by default every model but
        the embedded one, see README "What the assistant says")."""
        return self._llm_does(self.settings.llm_reply)

    @cached_property
    def spotter(self) -> TitleSpotter:
        """Finds the catalogue's titles in what a model wrote (built on first use)."""
        return TitleSpotter((it.title for it in self.items), self.genres)

    def named(self, needs: Needs) -> dict[int, str]:
        """item id -> title of the items the person named (liked or disliked)."""
        return {i: self.catalog.get(i).title for i in (*needs.liked, *needs.disliked) if i in self.catalog}

    @property
    def llm_reranks(self) -> bool:
        """Whether the model orders the candidates (`Settings.rerank_with_llm`; by default every
        model but the embedded one, see convrec/core/config.py)."""
        return self._llm_does(self.settings.rerank_with_llm)

    def prompt_genres(self, text: str, rules: NeedsUpdate, n: int = 12) -> list[str]:
        """The genres the parse prompt offers the model: all of a small vocabulary, else the
        `n` whose names the encoder finds nearest the message, plus those the rules read."""
        if len(self.genres) <= PROMPT_GENRES_MAX:
            return self.genres
        if self._genre_vectors is None:
            self._genre_vectors = self.encoder.encode(self.genres)
        near = np.argsort(-(self._genre_vectors @ self.encoder.encode([text])[0]))[:n]
        keep = {self.genres[i] for i in near} | set(rules.include_genres) | set(rules.exclude_genres)
        return [g for g in self.genres if g in keep]

    def boosts(self, needs: Needs) -> dict[str, np.ndarray]:
        """The turn's score sources over every catalogue row, computed once for all its tiers:
        the share of the preferred genres ("pref"), what the request's moods and topics are about
        ("about"), and the conversation model's scores of the liked items and the words said ("conv")."""
        boosts = {"pref": self.filters.genre_share(needs.prefer_genres)} if needs.prefer_genres else {}
        about = self.about(needs)
        if about is not None:
            boosts["about"] = about
        if self.conv is not None and self.settings.w_conv > 0:
            boosts["conv"] = self.conv.column(needs.liked, needs_words(needs))
        return boosts

    def about(self, needs: Needs) -> np.ndarray | None:
        """Per catalogue row, how much it is about the request's moods and topics (see
        `convrec.retrieve.attributes`): the English words they mean, the vocabulary's phrases among
        the keywords ("serial killer"), and the keywords themselves; None when none of them is an
        attribute of any item. With liked items, an item counts as much as it is also like them."""
        if not len(self.attributes):
            return None
        words = self.words(needs)
        about = self.attributes.about(words, self.encoder) if words else None
        liked = [self.index.position[i] for i in needs.liked if i in self.index.position]
        if about is not None and liked:  # "like Die Hard but funnier": funny among those like Die Hard
            about *= self.attributes.likeness(np.arange(len(about)), liked)
        return about

    def words(self, needs: Needs) -> list[str]:
        """The request's words the attributes are searched by: its moods' and topics' English words,
        the vocabulary's phrases among its keywords ("serial killer"), and its English keywords."""
        english = [w for w in needs.keywords if not CJK.search(w)]
        return [*needs.about, *self.attributes.said(" ".join(english)), *english] if len(self.attributes) else []

    def missing_evidence(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Per score source, the candidates it knows nothing about (see `blend.blend`)."""
        rows = [self.index.position[int(i)] for i in ids]
        return {"cf": self.unrated[rows], "pop": ~self.pop_known[rows]}

    def set_popularity(self, values: np.ndarray, known: np.ndarray | None = None) -> None:
        """Rank by another popularity prior (log scale, one value per index row), e.g. an evaluation's
        recent or in-domain counts. `known` marks the items the counts cover (default: those counted
        above 0); the others have no popularity evidence, which is not a zero."""
        values = np.asarray(values, dtype=np.float32)
        if values.shape != self.popularity.shape:
            raise ValueError(f"popularity: {values.shape} values for {self.popularity.shape} items")
        self.popularity = values
        self.pop_known = values > 0 if known is None else np.asarray(known, dtype=bool)

    def preview_recs(self, top: Candidates, needs: Needs, k: int) -> tuple[list[Rec], list[Ties]]:
        """The first `k` candidates in blended order with template reasons (the preview), and their ties."""
        items = [self.catalog.get(int(i)) for i in top.ids[:k]]
        ties = item_ties(items, needs, self.catalog, self.cf, self.evidence.near(top, needs))
        return template_recs(items, top.scores["blend"][:k], needs, ties, self.settings.domain_noun), ties

    def _years_of(self, ids: list[int]) -> dict[int, int | None]:
        return {i: self.catalog.get(i).year for i in ids if i in self.catalog}

    def query_text(self, needs: Needs) -> str:
        """What the text encoder sees for these needs (see `convrec.retrieve.search.query_text`)."""
        return query_text(needs, self.settings.domain_noun, is_multilingual(self.encoder.name))
