"""The Recommender: one chat turn through named stages.

    text -> parse -> (merge into session) -> filter -> retrieve (FAISS) + cf (fold-in)
         -> blend -> rerank/explain (LLM) -> Turn

Each stage is timed into `Turn.timings_ms`. The LLM is optional at every step: when it is
disabled, down or returns nothing usable, rules parse the text and the blended order stands
with template reasons, and the turn says so (`Turn.info["degraded"]`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .blend import blend
from .catalog import Catalog
from .cf import ItemKNN
from .config import Settings
from .embed import Encoder
from .errors import InputError
from .images import ImageIndex, Picture
from .index import ItemIndex
from .llm import LLM
from .parse import parse_llm, parse_rules, worth_asking_llm
from .rerank import rerank, template_reason
from .session import Session
from .templates import load_prompt
from .titles import TitleMatcher
from .types import Candidates, Item, Needs, NeedsUpdate, Rec

PROMPT_GENRES_MAX = 40  # a larger vocabulary is shortlisted per message for the parse prompt
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e\ufeff]")


def clean_message(text: str, max_chars: int) -> str:
    """Strip control characters and bound the length, with a message a person can act on.

    >>> clean_message("  hi\\x00 there ", 100)
    'hi there'
    """
    text = CONTROL_CHARS.sub("", text or "").strip()
    if not text:
        raise InputError("The message is empty: tell me what you are looking for.")
    if len(text) > max_chars:
        raise InputError(f"The message is {len(text):,} characters long; the limit is {max_chars:,}. Please shorten it.")
    return text


@dataclass
class Turn:
    needs: Needs
    recs: list[Rec]
    timings_ms: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "needs": self.needs.to_dict(),
            "items": [r.to_dict() for r in self.recs],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            **({"degraded": self.info["degraded"]} if self.info.get("degraded") else {}),
        }


class Recommender:
    def __init__(
        self,
        catalog: Catalog,
        index: ItemIndex,
        cf: ItemKNN,
        encoder: Encoder,
        llm: LLM | None,
        settings: Settings,
        images: ImageIndex | None = None,
    ) -> None:
        self.catalog, self.index, self.cf, self.encoder, self.llm, self.settings = catalog, index, cf, encoder, llm, settings
        self.images = images  # the items' pictures in CLIP space; None for a text-only index
        self.items: list[Item] = [catalog.get(int(i)) for i in index.ids]
        self.genres = catalog.genres()
        self.titles = TitleMatcher(self.items)
        self.years = np.array([it.year if it.year else -1 for it in self.items], dtype=np.int32)
        self.dated = bool((self.years >= 0).any())  # a catalogue without years ignores year constraints
        self.genre_matrix = np.array([[g in it.genres for g in self.genres] for it in self.items], dtype=bool).reshape(len(self.items), len(self.genres))
        self.popularity = np.log1p(np.array([it.popularity for it in self.items], dtype=np.float32))
        self.unrated = self.popularity == 0  # no interactions: collaborative scores know nothing of them
        noun = settings.domain_noun
        # Up to PROMPT_GENRES_MAX genres are listed in full (a fixed prefix the model caches);
        # a catalogue with more categories (173 subjects of the courses) lists the ones nearest
        # each message: all of them cost ~700 prompt tokens, ~13 s here.
        listed = ", ".join(self.genres) if len(self.genres) <= PROMPT_GENRES_MAX else "{genres}"
        self.parse_prompt = load_prompt("parse", domain=noun, genres=listed)
        self._genre_vectors: np.ndarray | None = None
        if settings.llm_reasons:
            self.rerank_prompts = {
                lang: load_prompt("rerank", domain=noun, language=name) for lang, name in (("en", "English"), ("zh", "Chinese"))
            }
        else:
            self.rerank_prompts = {"en": load_prompt("rank", domain=noun)}

    # -- the turn ---------------------------------------------------------------------------
    def recommend(self, session: Session, text: str, k: int | None = None, image: Picture | None = None) -> Turn:
        """One chat turn, fully ranked and explained (the last value of `stream`)."""
        for turn in self.stream(session, text, k, image=image):
            pass
        return turn

    def stream(self, session: Session, text: str, k: int | None = None, image: Picture | None = None) -> Iterator[Turn]:
        """Yield a quick blended list first (rules only, no LLM: tens of milliseconds), then
        the final turn after the LLM parse and rerank (`Turn.info["final"]`).

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
                picture = self.picture_query(image)
        text = clean_message(text, self.settings.max_message_chars) if picture is None or (text or "").strip() else ""

        with timed(timings, "parse"):
            rules = parse_rules(text, self.genres, self.titles)
        preview = Session.from_dict(session.to_dict())
        needs = preview.apply(rules, self._years_of([*session.last_shown, *rules.liked]))
        top = self.candidates(needs, preview, k, timings, picture)
        yield Turn(needs, self._template_recs(top, needs, k), dict(timings), dict(info))

        update = rules
        if self.llm is not None and self.settings.parse_with_llm and worth_asking_llm(rules):
            with timed(timings, "parse_llm"):
                metered = _Metered(self.llm)
                genres = self.prompt_genres(text, rules)
                update = parse_llm(text, metered, genres, self.titles, rules, prompt=self.parse_prompt, domain=self.settings.domain_noun)
                info.update(parse_prompt_tokens=metered.prompt_tokens, parse_completion_tokens=metered.completion_tokens)
        info["parse_source"] = update.source
        needs = session.apply(update, self._years_of([*session.last_shown, *update.liked]))
        if update != rules:
            top = self.candidates(needs, session, k, timings, picture)
        with timed(timings, "rerank"):
            recs, rinfo = rerank(
                [self.catalog.get(int(i)) for i in top.ids],
                top.scores["blend"],
                needs,
                k,
                llm=self.llm if self.llm_reranks else None,
                prompt=self.rerank_prompts.get(needs.language, self.rerank_prompts["en"]),
                genres=self.genres,
                request=text,
                llm_reasons=self.settings.llm_reasons,
                because=self._because(top.ids, needs),
                weight=self.settings.rerank_weight,
                follow_up=bool(session.turns),
                noun=self.settings.domain_noun,
            )
            info.update(rinfo, final=True)
        session.record(text, [r.item.item_id for r in recs])
        yield Turn(needs, recs, timings, info)

    def candidates(
        self, needs: Needs, session: Session, k: int, timings: dict[str, float], picture: np.ndarray | None = None
    ) -> Candidates:
        """filter -> retrieve -> blend: the best `max(rerank_n, k)` allowed items, best first."""
        with timed(timings, "filter"):
            allowed = self.allowed(needs, exclude=set(session.shown) | set(needs.liked) | set(needs.disliked))
        with timed(timings, "retrieve"):
            cands = self.retrieve(needs, allowed, picture)
        with timed(timings, "blend"):
            weights = {"text": self.settings.w_text, "cf": self.settings.w_cf, "pop": self.settings.w_pop}
            # An uploaded picture is this turn's query, as words are: it weighs what the words do.
            weights["image"] = self.settings.w_text if picture is not None else self.settings.w_image
            if not needs.keywords and not needs.liked:
                # Genres and years alone: the filter already did the work, and the similarity of
                # every comedy to "Comedy movie" is noise; let popularity order the well-known ones.
                weights["text"] *= 0.25
            cands = blend(cands, weights, self.missing_evidence(cands.ids)).sorted_by("blend")
        return cands.take(np.arange(min(len(cands), max(self.settings.rerank_n, k))))

    @property
    def llm_reranks(self) -> bool:
        """Whether the model orders the candidates (`Settings.rerank_with_llm`; by default every
        model but the embedded one, see config.py)."""
        if self.llm is None:
            return False
        chosen = self.settings.rerank_with_llm
        return chosen if chosen is not None else self.llm.name != "embedded"

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

    def missing_evidence(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Per score source, the candidates it knows nothing about (see `blend.blend`)."""
        unrated = self.unrated[[self.index.position[int(i)] for i in ids]]
        return {"cf": unrated, "pop": unrated}

    def _template_recs(self, top: Candidates, needs: Needs, k: int) -> list[Rec]:
        because = self._because(top.ids[:k], needs)
        return [
            Rec(it, float(score), template_reason(it, needs, because.get(it.item_id), self.settings.domain_noun))
            for it, score in zip((self.catalog.get(int(i)) for i in top.ids[:k]), top.scores["blend"][:k])
        ]

    def _because(self, ids: np.ndarray, needs: Needs) -> dict[int, str]:
        """item id -> the liked title whose fans also liked it (for the reasons)."""
        out = {}
        for i in ids if needs.liked else ():
            j = self.cf.because(int(i), needs.liked)
            if j is not None:
                out[int(i)] = self.catalog.get(j).title
        return out

    def _years_of(self, ids: list[int]) -> dict[int, int | None]:
        return {i: self.catalog.get(i).year for i in ids if i in self.catalog}

    # -- stages -----------------------------------------------------------------------------
    def allowed(self, needs: Needs, exclude: set[int] = frozenset()) -> np.ndarray:
        """Bool mask over catalogue rows that satisfy every hard constraint.

        Several genres to include: items with all of them when there are enough, else any.
        """
        mask = np.ones(len(self.items), dtype=bool)
        if needs.year_min is not None and self.dated:
            mask &= self.years >= needs.year_min
        if needs.year_max is not None and self.dated:
            mask &= (self.years <= needs.year_max) & (self.years >= 0)
        cols = {g: j for j, g in enumerate(self.genres)}
        ex = [cols[g] for g in needs.exclude_genres if g in cols]
        if ex:
            mask &= ~self.genre_matrix[:, ex].any(axis=1)
        inc = [cols[g] for g in needs.include_genres if g in cols]
        if inc:
            every = mask & self.genre_matrix[:, inc].all(axis=1)
            mask = every if every.sum() >= self.settings.k else mask & self.genre_matrix[:, inc].any(axis=1)
        if exclude:
            rows = [self.index.position[i] for i in exclude if i in self.index.position]
            mask[rows] = False
        return mask

    def query_text(self, needs: Needs) -> str:
        """What the text encoder sees: genres and keywords, never the negated words, nor the
        domain noun ("course" in "a course on ethics": `retrieve` adds the noun once itself)."""
        noun = self.settings.domain_noun.casefold()
        words = [*needs.include_genres, *(w for w in needs.keywords if w.casefold() not in (noun, noun + "s"))]
        if not words and needs.language == "en":
            words = [needs.text]
        return " ".join(f"{w}" for w in words if w).strip()

    def retrieve(self, needs: Needs, allowed: np.ndarray, picture: np.ndarray | None = None) -> Candidates:
        n = self.settings.retrieve_k
        vectors = []
        query = self.query_text(needs)
        if query:
            vectors.append(self.encoder.encode([f"{query} {self.settings.domain_noun}"])[0])
        liked_rows = [self.index.position[i] for i in needs.liked if i in self.index.position]
        vectors += [self.index.index.reconstruct(r) for r in liked_rows]
        qvec = np.mean(vectors, axis=0) if vectors else None
        if qvec is not None:
            qvec = qvec / (np.linalg.norm(qvec) + 1e-9)

        cf_all = self.cf.score(needs.liked, needs.disliked)
        pieces = []
        if qvec is not None:
            pieces.append(self.index.search(qvec, n, allowed)[0])
        if cf_all.any():
            pieces.append(_top_allowed(self.index.ids, cf_all, allowed, n))
        pieces.append(_top_allowed(self.index.ids, self.popularity, allowed, 50))
        ivec = self.image_query(query, picture)
        if ivec is not None:
            pieces.append(self.images.search(ivec, n, allowed)[0])
        ids = np.unique(np.concatenate(pieces)) if pieces else np.empty(0, np.int64)
        rows = np.array([self.index.position[int(i)] for i in ids], dtype=np.int64)
        text = self.index.scores_for(qvec, ids) if qvec is not None else np.zeros(len(ids), np.float32)
        cands = Candidates(ids, {"text": text, "cf": cf_all[rows] if len(rows) else np.zeros(0, np.float32), "pop": self.popularity[rows]})
        if ivec is not None:
            cands.scores["image"] = self.images.scores_for(ivec, ids)
        return cands

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


class _Metered:
    """Counts the tokens of the calls made through it (for a stage that does not report them)."""

    def __init__(self, llm: LLM) -> None:
        self.llm, self.name = llm, llm.name
        self.prompt_tokens = self.completion_tokens = 0

    def complete(self, messages, **kwargs):
        out = self.llm.complete(messages, **kwargs)
        self.prompt_tokens += out.prompt_tokens
        self.completion_tokens += out.completion_tokens
        return out


def _top_allowed(ids: np.ndarray, scores: np.ndarray, allowed: np.ndarray, n: int) -> np.ndarray:
    masked = np.where(allowed, scores, -np.inf)
    n = min(n, int(allowed.sum()))
    if n <= 0:
        return np.empty(0, np.int64)
    top = np.argpartition(-masked, n - 1)[:n]
    return ids[top[np.isfinite(masked[top])]]


@contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Record in `timings[stage]` the milliseconds the block took (also when it raises).

    >>> t = {}
    >>> with timed(t, "parse"):
    ...     pass
    >>> list(t)
    ['parse']
    """
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = (time.perf_counter() - start) * 1000
