"""`convrec eval redial|dialogs|simulate|report`: Recall@K on recorded dialogues, with baselines.

Every system ranks one graded turn (`dialogs.Example`) from the dialogue before it, through the
same stages a chat turn takes (`chat.ranking.Ranking`: select -> retrieve -> blend), after the
dialogue is *replayed into a Session*: each seeker utterance is parsed with the rules
(`parse_rules`; its movie mentions are liked unless the rules read them as disliked) and merged
as in a live chat; the items each recommender utterance mentions are recorded as shown, so they
are excluded like anything a chat has already shown. The systems differ only in the blend weights
and in whether the LLM reorders the top of the list:

    popularity   pop only
    text         text retrieval only (genres/keywords said + the liked items' vectors)
    cf           collaborative scores from the liked items only
    conv         the conversation model only (`convrec.retrieve.conv`, cross-fitted: `crossfit`)
    blend-noconv the blend without the conversation model (what it adds: blend minus this)
    blend        weights text/cf/pop from --weights (0.2/0.4/0.4; "settings" for Settings'), the
                 other sources (conv included) at the Settings' weights, as in a chat
    blend+llm    blend, then the LLM orders the top `llm_window` (rerank.rerank, fused as in a chat)

Any other registered blend source can be graded alone the same way (`--systems about`). The
single-source systems give every other source of the pipeline weight 0 (`weights_for`). A
source with nothing to say (CF with no liked item, text with no query) leaves ties that
popularity breaks (weight 1e-3), so every system returns a full list. Popularity counts ratings
with a one-year half-life by default (`recent_popularity`), as of when the dialogues were collected
(`REDIAL_AS_OF`); `--redial-prior` replaces it by ReDial's own mention counts less the graded
file's (in-domain training statistics, labelled so).

Catalogues (`prepare_index`): ml-latest-small, or ml-latest-small with the ReDial movies it lacks
merged in as title + year items (`merge_redial_movies`); each gets its own index under index/.
`simulate` runs `convrec.eval.simulate` episodes; `report` writes reports/redial.md from the JSON.

The anchors printed beside ours are He et al.'s zero-shot numbers on the whole ReDial test split
(their "recommendation" condition, OOV and seen items filtered), and UniCRS's R@10 under the older
evaluation that keeps repeated items; our numbers are on the development half only.

Left out on purpose: generating a reply text (graded here: the ranked list only).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from convrec.chat.session import Session
from convrec.core.timing import timed
from convrec.core.types import NeedsUpdate
from convrec.data.dialogs import (
    KS,
    RECOMMENDER,
    SEEKER,
    Example,
    Tally,
)
from convrec.data.titles import normalize_title
from convrec.eval.crossfit import CrossFit
from convrec.parse.reactions import LIKED, REJECTED, reaction, reaction_to_named
from convrec.parse.rules import parse_rules

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared" / "data"
TOP = max(KS)
TIE_BREAK = 1e-3
REDIAL_YEAR = 2018  # ReDial was collected in 2017-2018: "recent" means recent then
# Popularity is counted as of the graded dialogues, not as of the newest MovieLens rating
# (September 2018). ReDial's test split was collected after its training split (ReDial's
# datasheet, redialdata.github.io/website/datasheet), and the test dialogues end in June 2018:
# in them Ocean's 8 (released 8 June 2018) comes out "tomorrow" and has been seen, while
# Incredibles 2 (released 15 June 2018) is still awaited.
REDIAL_AS_OF = "2018-06-15"
TAKEN_UP = "taken-up"  # Reading.liked_from: the recommender's suggestions the seeker did not reject

ANCHORS = {  # He et al., CIKM 2023, ReDial test (filtered, seen excluded, "recommendation" turns)
    "GPT-4 (zero-shot)": {"recall@1": 0.050, "recall@5": 0.140, "recall@10": 0.201, "recall@20": 0.267},
    "GPT-3.5-turbo (zero-shot)": {"recall@1": 0.043, "recall@5": 0.126, "recall@10": 0.183, "recall@20": 0.224},
    "Vicuna-13B (zero-shot)": {"recall@10": 0.120},
    "UniCRS (fine-tuned, older evaluation)": {"recall@10": 0.215},
}
SYSTEMS = ("popularity", "text", "cf", "conv", "blend-noconv", "blend", "blend+llm")
BLENDS = ("blend-noconv", "blend", "blend+llm")  # the systems --weights applies to


# --------------------------------------------------------------------------------------------
# Replaying a dialogue into a session


@dataclass(frozen=True)
class Reading:
    """How a dialogue's context becomes a session's needs (see `replay`).

    liked_from: "seeker" (the seeker's mentions are liked), "taken-up" (and the recommender's
        suggestions, unless the seeker's reply rejects them, `convrec.parse.reactions`) or "all"
        (every mention of the context, as KBRD-style models read every entity);
    keywords: "content" (only words of the catalogue's genres and tags: a dialogue is mostly
        greetings and thanks), "all" (every content word the rules keep) or "none";
    genres: "hard" (the pipeline's filter) or "soft" (genres only searched as text);
    now_year: what "recent" is relative to (ReDial was collected in 2017-2018).
    """

    liked_from: str = TAKEN_UP
    keywords: str = "content"
    genres: str = "hard"
    now_year: int | None = None


def replay(
    example: Example, rec, reading: Reading = Reading(), vocabulary: frozenset[str] = frozenset()
) -> tuple[Session, Any]:
    """The session a chat would hold after the example's context, and its merged needs.

    Each seeker utterance is parsed by the rules and merged as a chat turn; its mentions are
    liked unless the rules read them as disliked, or as only seen ("I've seen Heat already").
    Words of a mentioned title are never keywords. Each recommender utterance's mentions are
    recorded as shown; taken up (`Reading.liked_from`), they are liked unless the seeker's reply
    rejects them (disliked) or says only that they were seen.
    """
    session = Session()
    suggested: tuple[int, ...] = ()  # the recommender's latest suggestions, not yet answered
    for utt in example.context:
        if utt.role == RECOMMENDER and reading.liked_from != "all":
            session.record(utt.text, list(utt.items))
            suggested = utt.items if reading.liked_from == TAKEN_UP else ()
            continue
        update = parse_rules(utt.parse_text, rec.genres, rec.titles, now_year=reading.now_year)
        said = reaction(utt.parse_text) if suggested else None
        disliked = {*update.disliked, *(suggested if said == REJECTED else ())}
        own = (
            ()
            if utt.role == SEEKER and reading.liked_from == TAKEN_UP and reaction_to_named(utt.parse_text)
            else utt.items
        )
        taken = suggested if said in (LIKED, None) else ()
        suggested = ()
        liked = tuple(i for i in dict.fromkeys((*taken, *update.liked, *own)) if i not in disliked)
        title_words = {w for i in (*liked, *disliked) for w in normalize_title(rec.catalog.get(i).title).split()}
        keywords = tuple(
            w
            for w in update.keywords
            if reading.keywords != "none" and w not in title_words and (reading.keywords == "all" or w in vocabulary)
        )
        update = replace(
            update, liked=liked, disliked=tuple(disliked), keywords=keywords, more_like=(), less_like=(), reset=False
        )
        session.apply(update, *rec._known([*session.last_shown, *liked]))
        if utt.role == RECOMMENDER:
            session.record(utt.text, list(utt.items))
    if suggested:  # suggestions the seeker has not answered yet: taken up so far
        session.apply(NeedsUpdate(liked=suggested), *rec._known(list(suggested)))
    needs = session.needs
    if reading.genres == "soft" and needs.include_genres:
        needs = needs.with_(include_genres=(), keywords=(*needs.include_genres, *needs.keywords))
    return session, needs


def content_words(catalog) -> frozenset[str]:
    """Words of the catalogue's genres and tags: the keywords worth searching by.

    >>> from convrec.data.catalog import Catalog
    >>> from convrec.core.types import Item
    >>> sorted(content_words(Catalog("t", {1: Item(1, "X", genres=("Sci-Fi",), tags=("time travel",))}, None)))
    ['fi', 'sci', 'time', 'travel']
    """
    words: set[str] = set()
    for item in catalog.items.values():
        for phrase in (*item.genres, *item.tags):
            words.update(re.findall(r"[a-z0-9]+", phrase.casefold()))
    return frozenset(words)


# --------------------------------------------------------------------------------------------
# Systems


class CachedEncoder:
    """An encoder that remembers its vectors, so systems sharing it encode each query once, and
    `prime` encodes a whole evaluation's queries in batches (one at a time is ~10x slower on CPU)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self._cache: dict[str, np.ndarray] = {}

    def prime(self, texts: Sequence[str], batch_size: int = 64) -> None:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for t, v in zip(missing, self.inner.encode(missing, batch_size=batch_size)):
                self._cache[t] = v

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        self.prime(texts, batch_size)
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


@dataclass
class Shared:
    """What the systems of one run share: how dialogues are read, and each turn's replay."""

    reading: Reading = Reading()
    vocabulary: frozenset[str] = frozenset()
    replays: dict[int, tuple[Session, Any]] = field(default_factory=dict)
    conv: CrossFit | None = None  # the conversation model each graded conversation may use

    def replayed(self, example: Example, rec) -> tuple[Session, Any]:
        if id(example) not in self.replays:
            self.replays[id(example)] = replay(example, rec, self.reading, self.vocabulary)
        session, needs = self.replays[id(example)]
        return Session.from_dict(session.to_dict()), needs


@dataclass
class System:
    """One way of ranking a graded turn: the chat's stages (select -> retrieve -> blend, maybe rerank)
    composed with this system's blend weights, popularity prior and LLM."""

    name: str
    rec: Any  # the shared Recommender: catalogue, titles and the rerank stage
    shared: Shared
    ranking: Any  # `chat.ranking.Ranking`: the filter as it stands, this system's prior and weights
    llm: Any = None
    llm_window: int = 10

    @property
    def encoder(self) -> Any:
        """The encoder its sources search with (a `CachedEncoder` the systems of a run share)."""
        return self.ranking.retrieve.library.encoder

    def query(self, example: Example) -> str | None:
        """The text the encoder will see for this turn (as the "text" source builds it)."""
        _, needs = self.shared.replayed(example, self.rec)
        return self.ranking.retrieve.encoded(needs)

    def rank(self, example: Example, k: int = TOP) -> tuple[list[int], dict[str, Any]]:
        """The top k item ids for this turn (never an item the context mentions) and facts about it."""
        session, needs = self.shared.replayed(example, self.rec)
        ranking = self.ranking
        if self.shared.conv is not None:  # this conversation's cross-fitted model
            ranking = ranking.with_library(
                ranking.retrieve.library.with_(conv=self.shared.conv.model_for(example.group))
            )
        timings: dict[str, float] = {}
        wanted = k + len(example.seen)
        exclude = {*session.shown, *needs.liked, *needs.disliked}
        top, _ = ranking(needs, exclude, wanted, max(self.rec.settings.rerank_n, wanted), timings)
        top = top.take(np.flatnonzero([int(i) not in example.seen for i in top.ids]))
        ids = [int(i) for i in top.ids[:k]]
        info: dict[str, Any] = {}
        if self.llm is not None and ids:
            window = min(self.llm_window, len(ids))
            with timed(timings, "rerank"):
                ranked, facts = self.rec.rerank(
                    top.head(window), needs, window, llm=self.llm, request=example.seeker_text(), follow_up=True
                )
            ids = [int(i) for i in ranked.ids] + ids[window:]
            info.update(
                {key: v for key, v in facts.items() if key in ("llm", "degraded", "prompt_tokens", "completion_tokens")}
            )
        info["stages_ms"] = {stage: round(v, 1) for stage, v in timings.items()}
        return ids, info


def weights_for(name: str, configured: Mapping[str, float]) -> dict[str, float]:
    """Blend weights of a named system (see the module docstring), by source name.

    Any registered source (`convrec.retrieve.sources`; "popularity" is "pop") is a single-source
    system: every other source weighs 0, those added after it was defined too (the genres shared
    with liked items, the model's proposals, pictures). "blend" keeps the configured weights
    (`configured`: every source's).

    >>> every = {"text": 0.6, "cf": 0.3, "pop": 0.1, "conv": 1.0}
    >>> weights_for("cf", every), weights_for("blend-noconv", every)["conv"]
    ({'text': 0.0, 'cf': 1.0, 'pop': 0.001, 'conv': 0.0}, 0.0)
    """
    own = "pop" if name == "popularity" else name
    if own not in configured:
        return {**configured, **({"conv": 0.0} if name == "blend-noconv" else {})}
    return {**dict.fromkeys(configured, 0.0), "pop": TIE_BREAK, own: 1.0}


def recent_popularity(catalog, item_ids: np.ndarray, *, half_life_days: float, as_of: int | None = None) -> np.ndarray:
    """Per item, log1p of its ratings each weighted 0.5 ** (age / half-life), age counted back from
    `as_of` (default: the latest rating); ratings after `as_of` do not count.

    What people watch now, rather than over the catalogue's whole history: ReDial's recommenders
    suggested 2017-2018 releases that MovieLens users had rated only a few times by then.

    >>> import pandas as pd
    >>> from convrec.data.catalog import Catalog
    >>> day = 86400
    >>> inter = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [10, 10, 20], "rating": [4.0] * 3, "timestamp": [0, 0, 10 * day]})
    >>> np.expm1(recent_popularity(Catalog("t", {}, inter), np.array([10, 20]), half_life_days=10)).round(2).tolist()
    [1.0, 1.0]
    """
    inter = catalog.interactions
    t = inter["timestamp"].to_numpy(dtype=np.float64)
    now = float(t.max()) if as_of is None else float(as_of)
    keep = t <= now
    weights = 0.5 ** ((now - t[keep]) / (half_life_days * 86400.0))
    rows = pd.Index(np.asarray(item_ids, dtype=np.int64)).get_indexer(inter["item_id"].to_numpy()[keep])
    ok = rows >= 0
    counts = np.bincount(rows[ok], weights=weights[ok], minlength=len(item_ids))
    return np.log1p(counts).astype(np.float32)


def make_systems(
    rec,
    names: Sequence[str],
    *,
    llm=None,
    llm_window: int = 10,
    reading: Reading = Reading(),
    half_life_days: float | None = None,
    as_of: int | None = None,
    weights: dict[str, float] | None = None,
    conv: CrossFit | None = None,
) -> list[System]:
    """Systems sharing one loaded catalogue, index, CF model and (caching) encoder.

    `half_life_days` replaces all-time popularity by `recent_popularity` as of `as_of` (a unix
    time; None: the newest rating); `weights` overrides the blend weights of "blend" and
    "blend+llm" (by source name); `conv` gives each graded conversation its conversation model
    (None: the one the index holds, if any).
    """
    from convrec.chat.relax import Select

    encoder = rec.encoder if isinstance(rec.encoder, CachedEncoder) else CachedEncoder(rec.encoder)
    library = rec.library.with_(encoder=encoder)
    if half_life_days:
        popularity = recent_popularity(rec.catalog, rec.index.ids, half_life_days=half_life_days, as_of=as_of)
        library = library.with_(popularity=popularity, known=popularity > 0)
    shared = Shared(reading, content_words(rec.catalog) if reading.keywords == "content" else frozenset(), conv=conv)
    chat = rec.ranking
    select = Select(chat.select.filters, relaxing=False)
    out = []
    for name in names:
        if name not in SYSTEMS and name not in chat.blend.weights:
            choices = ", ".join(dict.fromkeys([*SYSTEMS, *chat.blend.weights]))
            raise ValueError(f"unknown system {name!r}; choose from {choices}")
        chosen = weights_for(name, chat.blend.weights)
        if weights and name in BLENDS:
            chosen.update(weights)
        ranking = chat.with_library(library).with_(select=select)
        ranking = ranking.with_(blend=ranking.blend.with_(weights=chosen))
        out.append(System(name, rec, shared, ranking, llm if name == "blend+llm" else None, llm_window))
    return out


@dataclass
class Run:
    """What `evaluate` returns: per-system tallies and per-turn latencies."""

    tallies: dict[str, Tally] = field(default_factory=dict)
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    degraded: dict[str, int] = field(default_factory=dict)


def evaluate(
    examples: Sequence[Example],
    systems: Sequence[System],
    catalog,
    *,
    only: dict[str, set[int]] | None = None,
    write: Callable[[dict[str, Any]], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Run:
    """Rank every gradable example with every system; `only[name]` restricts a system to those
    example indices (the LLM sample). `write` receives one prediction record per graded turn."""
    run = Run()
    for s in systems:
        run.tallies[s.name], run.latency_ms[s.name], run.degraded[s.name] = Tally(), [], 0
    encoders = {id(s.encoder): s for s in systems if isinstance(s.encoder, CachedEncoder)}
    for s in encoders.values():  # batch-encode every query up front (latency then excludes it)
        s.encoder.prime([q for ex in examples if ex.gradable and (q := s.query(ex))])
    for n, ex in enumerate(examples):
        if not ex.gradable:
            continue
        record: dict[str, Any] = {
            **ex.key,
            "targets": list(ex.targets),
            "target_ids": list(ex.target_ids),
            "systems": {},
        }
        for s in systems:
            if only and s.name in only and n not in only[s.name]:
                continue
            start = time.perf_counter()
            ids, info = s.rank(ex)
            run.latency_ms[s.name].append((time.perf_counter() - start) * 1000)
            run.degraded[s.name] += bool(info.get("degraded"))
            run.tallies[s.name].add(ids, ex, n)
            record["systems"][s.name] = {"item_ids": ids, "titles": [catalog.get(i).label() for i in ids]}
        if write:
            write(record)
        if progress:
            progress(n + 1, len(examples))
    return run


def summarise(
    run: Run, examples: Sequence[Example], *, only: set[int] | None = None, bootstrap: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Per system: Recall@K with intervals, n, pairs, latency; over `only` example indices when given."""
    systems = {}
    for name, tally in run.tallies.items():
        if not tally.rows:
            continue
        lat = np.asarray(run.latency_ms[name])
        systems[name] = {
            **tally.summary(only=only, bootstrap=bootstrap, seed=seed),
            "latency_ms": {
                "mean": round(float(lat.mean()), 1),
                "p50": round(float(np.percentile(lat, 50)), 1),
                "p95": round(float(np.percentile(lat, 95)), 1),
            },
            **({"llm_degraded": run.degraded[name]} if run.degraded[name] else {}),
        }
    return systems


def sample_indices(examples: Sequence[Example], n: int | None, seed: int) -> set[int] | None:
    """`n` random gradable example indices (None: all), reproducible from `seed`."""
    gradable = [i for i, e in enumerate(examples) if e.gradable]
    if n is None or n >= len(gradable):
        return None
    return set(random.Random(seed).sample(gradable, n))


def unix_day(date: str | None) -> int | None:
    """Midnight UTC of a YYYY-MM-DD date as a unix time (None stays None).

    >>> unix_day("2018-06-15"), unix_day(None)
    (1529020800, None)
    """
    from datetime import UTC, datetime

    return None if date is None else int(datetime.fromisoformat(date).replace(tzinfo=UTC).timestamp())


def shown(path: Path) -> str:
    """A path as the report shows it: relative to the repository root when it can be."""
    import os

    path = Path(path).expanduser().resolve()
    if path.is_relative_to(REPO_ROOT.parent):
        return os.path.relpath(path, REPO_ROOT)
    home = Path.home()
    return "~/" + str(path.relative_to(home)) if path.is_relative_to(home) else str(path)
