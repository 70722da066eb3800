"""`convrec eval redial|dialogs|simulate|report`: Recall@K on recorded dialogues, with baselines.

Every system ranks one graded turn (`dialogs.Example`) from the dialogue before it, through the
same code a chat turn takes (`Recommender.candidates`: filter -> retrieve -> blend), after the
dialogue is *replayed into a Session*: each seeker utterance is parsed with the rules
(`parse_rules`; its movie mentions are liked unless the rules read them as disliked) and merged
as in a live chat; the items each recommender utterance mentions are recorded as shown, so they
are excluded like anything a chat has already shown. The systems differ only in the blend weights
and in whether the LLM reorders the top of the list:

    popularity   pop only
    text         text retrieval only (genres/keywords said + the liked items' vectors)
    cf           collaborative scores from the liked items only
    blend        weights text/cf/pop from --weights (0.2/0.4/0.4; "settings" for Settings')
    blend+llm    blend, then the LLM orders the top `llm_window` (rerank.rerank, fused as in a chat)

A source with nothing to say (CF with no liked item, text with no query) leaves ties that
popularity breaks (weight 1e-3), so every system returns a full list. Popularity counts ratings
with a one-year half-life by default (`recent_popularity`); `--redial-prior` replaces it by
ReDial's own mention counts less the graded file's (in-domain training statistics, labelled so).

Catalogues (`prepare_index`): ml-latest-small, or ml-latest-small with the ReDial movies it lacks
merged in as title + year items (`merge_redial_movies`); each gets its own index under index/.
`simulate` runs `convrec.simulate` episodes; `report` writes reports/redial.md from the JSON.

The anchors printed beside ours are He et al.'s zero-shot numbers on the whole ReDial test split
(their "recommendation" condition, OOV and seen items filtered), and UniCRS's R@10 under the older
evaluation that keeps repeated items; our numbers are on the development half only.

Left out on purpose: generating a reply text (graded here: the ranked list only).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import Settings
from .dialogs import KS, RECOMMENDER, SEEKER, DataError, Example, Tally, coverage
from .parse import parse_rules
from .pipeline import timed
from .session import Session
from .titles import normalize_title

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared" / "data"
TOP = max(KS)
TIE_BREAK = 1e-3
REDIAL_YEAR = 2018  # ReDial was collected in 2017-2018: "recent" means recent then

ANCHORS = {  # He et al., CIKM 2023, ReDial test (filtered, seen excluded, "recommendation" turns)
    "GPT-4 (zero-shot)": {"recall@1": 0.050, "recall@5": 0.140, "recall@10": 0.201, "recall@20": 0.267},
    "GPT-3.5-turbo (zero-shot)": {"recall@1": 0.043, "recall@5": 0.126, "recall@10": 0.183, "recall@20": 0.224},
    "Vicuna-13B (zero-shot)": {"recall@10": 0.120},
    "UniCRS (fine-tuned, older evaluation)": {"recall@10": 0.215},
}
SYSTEMS = ("popularity", "text", "cf", "blend", "blend+llm")


# --------------------------------------------------------------------------------------------
# Replaying a dialogue into a session


@dataclass(frozen=True)
class Reading:
    """How a dialogue's context becomes a session's needs (see `replay`).

    liked_from: "seeker" (the seeker's mentions are liked) or "all" (the recommender's mentions
        too, as KBRD-style models read every entity of the context);
    keywords: "content" (only words of the catalogue's genres and tags: a dialogue is mostly
        greetings and thanks), "all" (every content word the rules keep) or "none";
    genres: "hard" (the pipeline's filter) or "soft" (genres only searched as text);
    now_year: what "recent" is relative to (ReDial was collected in 2017-2018).
    """

    liked_from: str = SEEKER
    keywords: str = "content"
    genres: str = "hard"
    now_year: int | None = None


def replay(example: Example, rec, reading: Reading = Reading(), vocabulary: frozenset[str] = frozenset()) -> tuple[Session, Any]:
    """The session a chat would hold after the example's context, and its merged needs.

    Each seeker utterance is parsed by the rules and merged as a chat turn; its mentions are
    liked unless the rules read them as disliked. Words of a mentioned title are never keywords.
    Each recommender utterance's mentions are recorded as shown.
    """
    session = Session()
    for utt in example.context:
        if utt.role == RECOMMENDER and reading.liked_from != "all":
            session.record(utt.text, list(utt.items))
            continue
        update = parse_rules(utt.parse_text, rec.genres, rec.titles, now_year=reading.now_year)
        disliked = set(update.disliked)
        liked = tuple(i for i in dict.fromkeys((*update.liked, *utt.items)) if i not in disliked)
        title_words = {w for i in (*liked, *disliked) for w in normalize_title(rec.catalog.get(i).title).split()}
        keywords = tuple(
            w for w in update.keywords
            if reading.keywords != "none" and w not in title_words and (reading.keywords == "all" or w in vocabulary)
        )
        update = replace(update, liked=liked, keywords=keywords, more_like=(), less_like=(), reset=False)
        session.apply(update, rec._years_of([*session.last_shown, *liked]))
        if utt.role == RECOMMENDER:
            session.record(utt.text, list(utt.items))
    needs = session.needs
    if reading.genres == "soft" and needs.include_genres:
        needs = needs.with_(include_genres=(), keywords=(*needs.include_genres, *needs.keywords))
    return session, needs


def content_words(catalog) -> frozenset[str]:
    """Words of the catalogue's genres and tags: the keywords worth searching by.

    >>> from .catalog import Catalog
    >>> from .types import Item
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

    def replayed(self, example: Example, rec) -> tuple[Session, Any]:
        if id(example) not in self.replays:
            self.replays[id(example)] = replay(example, rec, self.reading, self.vocabulary)
        session, needs = self.replays[id(example)]
        return Session.from_dict(session.to_dict()), needs


@dataclass
class System:
    """One way of ranking a graded turn: the pipeline with given blend weights, maybe an LLM."""

    name: str
    rec: Any  # a Recommender whose settings carry this system's weights
    shared: Shared
    llm: Any = None
    llm_window: int = 10

    def query(self, example: Example) -> str | None:
        """The text the encoder will see for this turn (as `Recommender.retrieve` builds it)."""
        _, needs = self.shared.replayed(example, self.rec)
        q = self.rec.query_text(needs)
        return f"{q} {self.rec.settings.domain_noun}" if q else None

    def rank(self, example: Example, k: int = TOP) -> tuple[list[int], dict[str, Any]]:
        """The top k item ids for this turn (never an item the context mentions) and facts about it."""
        from .rerank import rerank

        session, needs = self.shared.replayed(example, self.rec)
        timings: dict[str, float] = {}
        top = self.rec.candidates(needs, session, k + len(example.seen), timings)
        top = top.take(np.flatnonzero([int(i) not in example.seen for i in top.ids]))
        ids = [int(i) for i in top.ids[:k]]
        info: dict[str, Any] = {}
        if self.llm is not None and ids:
            window = min(self.llm_window, len(ids))
            with timed(timings, "rerank"):
                recs, rinfo = rerank(
                    [self.rec.catalog.get(i) for i in ids[:window]],
                    top.scores["blend"][:window],
                    needs,
                    window,
                    llm=self.llm,
                    prompt=self.rec.rerank_prompts["en"],
                    genres=self.rec.genres,
                    request=example.seeker_text(),
                    weight=self.rec.settings.rerank_weight,
                )
            ids = [r.item.item_id for r in recs] + ids[window:]
            info.update({key: v for key, v in rinfo.items() if key in ("llm", "degraded", "prompt_tokens", "completion_tokens")})
        info["stages_ms"] = {stage: round(v, 1) for stage, v in timings.items()}
        return ids, info


def weights_for(name: str, settings: Settings) -> dict[str, float]:
    """Blend weights of a named system (see the module docstring)."""
    if name == "popularity":
        return {"w_text": 0.0, "w_cf": 0.0, "w_pop": 1.0}
    if name == "text":
        return {"w_text": 1.0, "w_cf": 0.0, "w_pop": TIE_BREAK}
    if name == "cf":
        return {"w_text": 0.0, "w_cf": 1.0, "w_pop": TIE_BREAK}
    return {"w_text": settings.w_text, "w_cf": settings.w_cf, "w_pop": settings.w_pop}


def recent_popularity(catalog, item_ids: np.ndarray, *, half_life_days: float, as_of: int | None = None) -> np.ndarray:
    """Per item, log1p of its ratings each weighted 0.5 ** (age / half-life), age counted back from
    `as_of` (default: the latest rating); ratings after `as_of` do not count.

    What people watch now, rather than over the catalogue's whole history: ReDial's recommenders
    suggested 2017-2018 releases that MovieLens users had rated only a few times by then.

    >>> import pandas as pd
    >>> from .catalog import Catalog
    >>> day = 86400
    >>> inter = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [10, 10, 20], "rating": [4.0] * 3, "timestamp": [0, 0, 10 * day]})
    >>> np.expm1(recent_popularity(Catalog("t", {}, inter), np.array([10, 20]), half_life_days=10)).round(2).tolist()
    [1.0, 1.0]
    """
    inter = catalog.interactions
    t = inter["timestamp"].to_numpy(dtype=np.float64)
    as_of = float(t.max()) if as_of is None else float(as_of)
    keep = t <= as_of
    weights = 0.5 ** ((as_of - t[keep]) / (half_life_days * 86400.0))
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
    weights: dict[str, float] | None = None,
) -> list[System]:
    """Systems sharing one loaded catalogue, index, CF model and (caching) encoder.

    `half_life_days` replaces all-time popularity by `recent_popularity`; `weights` overrides
    the blend weights of "blend" and "blend+llm" (keys w_text, w_cf, w_pop).
    """
    from .pipeline import Recommender

    popularity = recent_popularity(rec.catalog, rec.index.ids, half_life_days=half_life_days) if half_life_days else None
    encoder = rec.encoder if isinstance(rec.encoder, CachedEncoder) else CachedEncoder(rec.encoder)
    shared = Shared(reading, content_words(rec.catalog) if reading.keywords == "content" else frozenset())
    out = []
    for name in names:
        if name not in SYSTEMS:
            raise ValueError(f"unknown system {name!r}; choose from {', '.join(SYSTEMS)}")
        chosen = weights_for(name, rec.settings)
        if weights and name in ("blend", "blend+llm"):
            chosen.update(weights)
        clone = Recommender(rec.catalog, rec.index, rec.cf, encoder, None, rec.settings.model_copy(update=chosen))
        if popularity is not None:
            clone.popularity = popularity
        out.append(System(name, clone, shared, llm if name == "blend+llm" else None, llm_window))
    return out


# --------------------------------------------------------------------------------------------
# Running


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
    encoders = {id(s.rec.encoder): s for s in systems if isinstance(getattr(s.rec, "encoder", None), CachedEncoder)}
    for s in encoders.values():  # batch-encode every query up front (latency then excludes it)
        s.rec.encoder.prime([q for ex in examples if ex.gradable and (q := s.query(ex))])
    for n, ex in enumerate(examples):
        if not ex.gradable:
            continue
        record: dict[str, Any] = {**ex.key, "targets": list(ex.targets), "target_ids": list(ex.target_ids), "systems": {}}
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


def summarise(run: Run, examples: Sequence[Example], *, only: set[int] | None = None, bootstrap: int = 1000,
              seed: int = 0) -> dict[str, Any]:
    """Per system: Recall@K with intervals, n, pairs, latency; over `only` example indices when given."""
    systems = {}
    for name, tally in run.tallies.items():
        if not tally.rows:
            continue
        lat = np.asarray(run.latency_ms[name])
        systems[name] = {
            **tally.summary(only=only, bootstrap=bootstrap, seed=seed),
            "latency_ms": {"mean": round(float(lat.mean()), 1), "p50": round(float(np.percentile(lat, 50)), 1),
                           "p95": round(float(np.percentile(lat, 95)), 1)},
            **({"llm_degraded": run.degraded[name]} if run.degraded[name] else {}),
        }
    return systems


def sample_indices(examples: Sequence[Example], n: int | None, seed: int) -> set[int] | None:
    """`n` random gradable example indices (None: all), reproducible from `seed`."""
    gradable = [i for i, e in enumerate(examples) if e.gradable]
    if n is None or n >= len(gradable):
        return None
    return set(random.Random(seed).sample(gradable, n))


# --------------------------------------------------------------------------------------------
# Catalogues: MovieLens, and MovieLens with ReDial's movie list merged in

REDIAL_ID_OFFSET = 10_000_000  # merged ReDial-only items get this + their ReDial id


def merge_redial_movies(catalog, movies_csv: Path):
    """The catalogue plus every movie of ReDial's list that it lacks, as title + year items with
    no genres and no ratings (so only text retrieval and an LLM can reach them).

    Returns (catalogue, stats). A ReDial name without a year joins a same-titled one already
    added rather than making a second item.
    """
    import csv

    from .catalog import Catalog
    from .titles import TitleMatcher, normalize_title, split_year
    from .types import Item

    movies_csv = Path(movies_csv)
    if not movies_csv.is_file():
        raise DataError(f"{movies_csv}: no such file (ReDial's movies_with_mentions.csv)")
    matcher = TitleMatcher(catalog.items.values())
    with movies_csv.open(encoding="utf-8", newline="") as f:
        rows = [(int(r["movieId"]), *split_year(" ".join(r["movieName"].split()))) for r in csv.DictReader(f)]
    rows.sort(key=lambda r: r[2] is None)  # named with a year first
    added: dict[int, Item] = {}
    by_key: dict[str, int] = {}
    matched = 0
    for redial_id, title, year in rows:
        if not title:
            continue
        if matcher.match(title, year) is not None:
            matched += 1
            continue
        key = normalize_title(title)
        if year is None and key in by_key:
            continue
        if f"{key}|{year}" in by_key:
            continue
        item_id = REDIAL_ID_OFFSET + redial_id
        added[item_id] = Item(item_id, title, year)
        by_key.setdefault(key, item_id)
        by_key[f"{key}|{year}"] = item_id
    merged = Catalog(f"{catalog.name}+redial", {**catalog.items, **added}, catalog.interactions)
    return merged, {"redial_movies": len(rows), "matched": matched, "added": len(added), "items": len(merged)}


def prepare_index(settings: Settings, catalog: str, movies_csv: Path | None, *, log_fn=print) -> tuple[Settings, dict[str, Any]]:
    """Settings pointing at a built index for `catalog`, building it if needed (a no-op when current).

    `catalog`: "redial-merged" (ml-latest-small + ReDial's movie list), "ml-latest-small",
    "configured" (the index the global --index-dir names, as is) or a catalogue path.
    """
    from .build import build_index
    from .catalog import load_catalog

    if catalog == "configured":
        return settings, {"catalog": "configured", "index_dir": str(settings.index_dir)}
    info: dict[str, Any] = {"catalog": catalog}
    if catalog in ("redial-merged", "ml-latest-small"):
        base = SHARED / "ml-latest-small"
        if not base.is_dir():
            raise DataError(f"{base}: not found; pass --catalog PATH (a MovieLens directory)")
        source = str(base)
        if catalog == "redial-merged":
            if movies_csv is None or not Path(movies_csv).is_file():
                raise DataError(f"{movies_csv}: ReDial's movie list is needed for --catalog redial-merged")
            merged, stats = merge_redial_movies(load_catalog(source), Path(movies_csv))
            snapshot = Path(settings.cache_dir) / "catalogs" / f"redial-merged-{merged.content_hash()[:12]}"
            if not (snapshot / "catalog.json").is_file():
                merged.save(snapshot)
            source = str(snapshot)
            info.update(stats)
        index_dir = REPO_ROOT / "index" / catalog
    else:
        source = catalog
        index_dir = REPO_ROOT / "index" / ("custom-" + Path(catalog).name)
    settings = settings.model_copy(update={"dataset": source, "index_dir": index_dir})
    build_index(settings, progress=sys.stderr.isatty(), log=log_fn)
    info.update(source=_shown(Path(source)), index_dir=str(index_dir.relative_to(REPO_ROOT)) if index_dir.is_relative_to(REPO_ROOT) else str(index_dir))
    return settings, info


def redial_counts(rec, movies_csv: Path, resolve, *, minus: Sequence[Path] = ()) -> np.ndarray:
    """Per catalogue row, how often ReDial's dialogues mention the movie (movies_with_mentions.csv),
    less the mentions in the `minus` files (the dialogues being graded), floored at 0.

    This is popularity learned from ReDial's own training dialogues, which a fine-tuned CRS has and
    a zero-shot LLM has not: results that use it are labelled as such.
    """
    import csv
    import json as _json

    counts: dict[str, int] = {}
    with Path(movies_csv).open(encoding="utf-8", newline="") as f:
        names = {}
        for r in csv.DictReader(f):
            counts[r["movieId"]] = int(r["nbMentions"])
            names[r["movieId"]] = r["movieName"]
    for path in minus:
        with Path(path).open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    for m in (msg.get("text", "") for msg in _json.loads(line)["messages"]):
                        for rid in re.findall(r"@(\d+)", m):
                            if rid in counts:
                                counts[rid] -= 1
    out = np.zeros(len(rec.items), np.float64)
    for rid, n in counts.items():
        item_id = resolve(names[rid])
        if item_id is not None and item_id in rec.index.position and n > 0:
            out[rec.index.position[item_id]] += n
    return out


def with_redial_prior(systems: Sequence[System], counts: np.ndarray, share: float = 1.0) -> None:
    """Make each system's popularity `share` ReDial mention counts (log) and the rest its own."""
    prior = np.log1p(counts).astype(np.float32)
    for s in systems:
        s.rec.popularity = (share * prior + (1 - share) * s.rec.popularity).astype(np.float32)


# --------------------------------------------------------------------------------------------
# The command line (wired into `convrec eval` by cli.py)


def add_eval_cli(eval_subparsers) -> None:
    """Add `redial`, `dialogs`, `simulate` and `report` to the `convrec eval` subcommands."""
    r = eval_subparsers.add_parser("redial", help="Recall@1/5/10/20 on ReDial (He et al. 2023 protocol), with baselines")
    r.add_argument("--data", type=Path, help="ReDial .jsonl (default ../shared/data/redial/test_dev.jsonl)")
    r.add_argument("--movies", type=Path, help="ReDial's movies_with_mentions.csv (default: next to --data)")
    r.add_argument("--catalog", default="redial-merged",
                   help="redial-merged (ml-latest-small + ReDial's movie list; default), ml-latest-small, "
                        "configured (the global --index-dir as is) or a catalogue directory")
    r.add_argument("--redial-prior", action="store_true",
                   help="popularity from ReDial's own mention counts (less --data's): in-domain training statistics")
    r.add_argument("--now-year", type=int, default=REDIAL_YEAR, help="what 'recent' is relative to (default 2018)")
    r.add_argument("--export-table", type=Path,
                   help="also write the graded turns as a CSV (id, context, target) that `eval dialogs` reads")
    _common(r)
    r.set_defaults(func=cmd_eval_redial)

    d = eval_subparsers.add_parser("dialogs", help="Recall@K on any 'dialogue context -> target title' .csv/.jsonl")
    d.add_argument("--data", type=Path, required=True)
    d.add_argument("--context-col", required=True)
    d.add_argument("--target-col", required=True)
    d.add_argument("--id-col", help="a column to key predictions by (default: the row number)")
    d.add_argument("--target-sep", help="separator of several targets in one cell, e.g. '|'")
    d.add_argument("--catalog", default="configured", help="configured (default: the global --index-dir), "
                   "ml-latest-small, redial-merged or a catalogue directory")
    d.add_argument("--now-year", type=int, default=None)
    _common(d)
    d.add_argument("--movies", type=Path, help="ReDial's movie list, for --catalog redial-merged (default: ../shared/data/redial/)")
    d.set_defaults(func=cmd_eval_dialogs, redial_prior=False)

    s = eval_subparsers.add_parser("simulate", help="a rule-based seeker who knows the target but not its title")
    s.add_argument("--data", type=Path, help="ReDial .jsonl whose turns give contexts and targets")
    s.add_argument("--movies", type=Path)
    s.add_argument("--catalog", default="redial-merged")
    s.add_argument("--episodes", type=int, default=100)
    s.add_argument("--llm-episodes", type=int, default=20, help="episodes (the first N) run with blend+llm")
    s.add_argument("--max-turns", type=int, default=5)
    s.add_argument("--systems", default="popularity,blend,blend+llm")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--pop-half-life", type=float, default=365.0)
    s.add_argument("--weights", default="0.2,0.4,0.4", help="blend weights text,cf,pop")
    s.add_argument("--redial-prior", action="store_true")
    s.add_argument("--now-year", type=int, default=REDIAL_YEAR)
    s.add_argument("--json", action="store_true")
    s.add_argument("--out", type=Path, default=Path("reports/simulate.json"))
    s.set_defaults(func=cmd_eval_simulate)

    rp = eval_subparsers.add_parser("report", help="reports/redial.md with plots, from the JSON the other commands wrote")
    rp.add_argument("--inputs", type=Path, nargs="+", default=[Path("reports/redial.json")])
    rp.add_argument("--simulate", type=Path, default=Path("reports/simulate.json"))
    rp.add_argument("--out", type=Path, default=Path("reports/redial.md"))
    rp.add_argument("--notes", type=Path, default=Path("reports/redial_notes.md"), help="hand-written findings to append")
    rp.set_defaults(func=cmd_eval_report)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, from {', '.join(SYSTEMS)}")
    p.add_argument("--weights", default="0.2,0.4,0.4",
                   help="blend weights text,cf,pop for blend and blend+llm (default 0.2,0.4,0.4; 'settings' for Settings')")
    p.add_argument("--pop-half-life", type=float, default=365.0,
                   help="popularity counts ratings with this half-life in days (0: all-time counts)")
    p.add_argument("--liked-from", choices=["seeker", "all"], default="seeker")
    p.add_argument("--llm-sample", type=int, default=100,
                   help="turns (random, --seed) that run through blend+llm; every system is also reported on them")
    p.add_argument("--llm-window", type=int, default=10, help="how many of the blended top the LLM orders")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="grade only the first N turns (for quick runs)")
    p.add_argument("--predictions", type=Path, help="write one JSON line per graded turn: key, ranked titles and ids")
    p.add_argument("--bootstrap", type=int, default=1000, help="conversation-bootstrap draws for ci95_conversations")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--out", type=Path, help="where to write the full JSON (default reports/<command>.json)")


def _settings(args: argparse.Namespace) -> Settings:
    keys = ("dataset", "details", "index_dir", "llm", "llm_url", "llm_path", "embed_model")
    return Settings(**{k: getattr(args, k) for k in keys if getattr(args, k, None) is not None})


def _weights(text: str, settings: Settings) -> dict[str, float]:
    """Blend weights from "text,cf,pop" (or "settings": the configured ones).

    >>> _weights("0.2,0.4,0.4", Settings(llm="none"))
    {'w_text': 0.2, 'w_cf': 0.4, 'w_pop': 0.4}
    """
    if text == "settings":
        return {"w_text": settings.w_text, "w_cf": settings.w_cf, "w_pop": settings.w_pop}
    try:
        t, c, p = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--weights {text!r}: give three numbers text,cf,pop such as 0.2,0.4,0.4") from None
    return {"w_text": t, "w_cf": c, "w_pop": p}


def _setup(args: argparse.Namespace, movies: Path | None):
    """(recommender, catalogue facts, systems, llm note) for the eval commands."""
    from .build import load_recommender
    from .llm import make_llm

    settings = _settings(args)
    settings, cat_info = prepare_index(settings, args.catalog, movies, log_fn=lambda m: log.info("%s", m))
    rec = load_recommender(settings, llm=None)
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    note = None
    llm = None
    if "blend+llm" in names:
        if settings.llm == "none":
            names.remove("blend+llm")
            note = "blend+llm skipped: --llm none"
        else:
            llm = make_llm(settings)
    systems = make_systems(
        rec, names, llm=llm, llm_window=getattr(args, "llm_window", 10),
        reading=Reading(liked_from=getattr(args, "liked_from", SEEKER), now_year=args.now_year),
        half_life_days=args.pop_half_life or None, weights=_weights(args.weights, rec.settings),
    )
    return rec, cat_info, systems, note


def cmd_eval_redial(args: argparse.Namespace) -> int:
    from .dialogs import Resolver, read_redial

    data = Path(args.data or SHARED / "redial" / "test_dev.jsonl")
    movies = Path(args.movies or data.parent / "movies_with_mentions.csv")
    if not data.is_file():
        raise DataError(f"{data}: no ReDial file; pass --data FILE.jsonl")
    rec, cat_info, systems, note = _setup(args, movies)
    resolve = Resolver(rec.titles)
    examples = list(read_redial(data, resolve))
    if args.export_table:
        export_table(examples, args.export_table)
    prior = None
    if args.redial_prior:
        prior = redial_counts(rec, movies, resolve, minus=[data])
        with_redial_prior(systems, prior)
    return _run_and_report(args, "redial", examples, rec, systems, cat_info, note, data)


def export_table(examples: Sequence[Example], path: Path) -> None:
    """The turns with targets as CSV rows: id ("conversation/message"), context ("User: ..." lines),
    target (titles joined by "|"); `eval dialogs --target-sep '|'` reads it back."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "context", "target"])
        for e in examples:
            if e.targets:
                w.writerow([f"{e.key['conversation_id']}/{e.key['message_id']}", e.text(), "|".join(e.targets)])


def cmd_eval_dialogs(args: argparse.Namespace) -> int:
    from .dialogs import read_table

    rec, cat_info, systems, note = _setup(args, args.movies or SHARED / "redial" / "movies_with_mentions.csv")
    examples = list(read_table(args.data, args.context_col, args.target_col, rec.titles, id_col=args.id_col,
                               target_sep=args.target_sep))
    return _run_and_report(args, "dialogs", examples, rec, systems, cat_info, note, args.data)


def _run_and_report(args, command: str, examples: list[Example], rec, systems: list[System], cat_info: dict[str, Any],
                    note: str | None, data: Path) -> int:
    if args.limit:
        gradable = [n for n, e in enumerate(examples) if e.gradable][: args.limit]
        examples = examples[: gradable[-1] + 1] if gradable else []
    sample = sample_indices(examples, args.llm_sample, args.seed) if any(s.llm for s in systems) else None
    only = {"blend+llm": sample} if sample is not None else None
    main = next((s.name for s in systems if s.llm and sample is None), None) or (
        "blend" if any(s.name == "blend" for s in systems) else systems[-1].name)
    out_file = None
    if args.predictions:
        args.predictions.parent.mkdir(parents=True, exist_ok=True)
        out_file = args.predictions.open("w", encoding="utf-8")

    def write(record: dict[str, Any]) -> None:
        ranked = record["systems"].get(main) or {}
        line = {k: v for k, v in record.items() if k != "systems"}
        line.update(system=main, titles=ranked.get("titles", []), item_ids=ranked.get("item_ids", []),
                    others={k: v for k, v in record["systems"].items() if k != main})
        out_file.write(json.dumps(line, ensure_ascii=False) + "\n")

    def progress(done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            log.info("%d/%d turns", done, total)

    started = time.perf_counter()
    try:
        run = evaluate(examples, systems, rec.catalog, only=only, write=write if out_file else None, progress=progress)
    finally:
        if out_file:
            out_file.close()
    full = summarise(run, examples, bootstrap=args.bootstrap, seed=args.seed)
    cov = coverage(examples)
    head = full.get(main, {})
    result: dict[str, Any] = {
        **{f"recall@{k}": head.get(f"recall@{k}") for k in KS},
        "n": head.get("n"),
        "coverage": cov["coverage"],
        "system": main,
        "ci95": head.get("ci95"),
        "ci95_conversations": head.get("ci95_conversations"),
        "pairs": head.get("pairs"),
        "targets": cov,
        "systems": {k: v for k, v in full.items() if not (only and k in only)},
    }
    if sample is not None:
        result["llm_sample"] = {
            "turns": len(sample),
            "seed": args.seed,
            "systems": summarise(run, examples, only=sample, bootstrap=args.bootstrap, seed=args.seed),
        }
    if command == "redial":
        result["anchors"] = ANCHORS
    result["config"] = {
        "data": _shown(data), "items": len(rec.catalog), **cat_info, "weights": _weights(args.weights, rec.settings), "pop_half_life_days": args.pop_half_life,
        "redial_prior": bool(args.redial_prior), "liked_from": args.liked_from, "now_year": args.now_year,
        "llm": rec.settings.llm if any(s.llm for s in systems) else "none", "llm_window": args.llm_window,
        "embed_model": rec.settings.embed_model, **({"note": note} if note else {}),
    }
    result["command"] = "convrec " + shlex.join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("convrec") else None
    result["wall_s"] = round(time.perf_counter() - started, 1)
    out = args.out or Path(f"reports/{command}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps({k: result[k] for k in (*[f"recall@{k}" for k in KS], "n", "coverage")}))
    else:
        print_table(result)
        print(f"wrote {out}" + (f" and {args.predictions}" if args.predictions else ""))
    return 0


def _shown(path: Path) -> str:
    """A path as the report shows it: relative to the repository root when it can be."""
    import os

    path = Path(path).expanduser().resolve()
    if path.is_relative_to(REPO_ROOT.parent):
        return os.path.relpath(path, REPO_ROOT)
    home = Path.home()
    return "~/" + str(path.relative_to(home)) if path.is_relative_to(home) else str(path)


def print_table(result: dict[str, Any]) -> None:
    def row(name: str, m: dict[str, Any], n: Any = "") -> str:
        cells = "".join(f"{m[f'recall@{k}']:>8.3f}" if m.get(f"recall@{k}") is not None else f"{'-':>8}" for k in KS)
        ci = m.get("ci95", {}).get("recall@10")
        return f"{name:<40}{n!s:>6}{cells}" + (f"   [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and None not in ci else "")

    print(f"{'system':<40}{'n':>6}" + "".join(f"{'R@' + str(k):>8}" for k in KS) + "   R@10 95% CI")
    for name, m in result["systems"].items():
        print(row(name, m, m.get("n")))
    if "llm_sample" in result:
        sample = result["llm_sample"]
        print(f"-- on the {sample['turns']} turns sampled for the LLM (seed {sample['seed']}):")
        for name, m in sample["systems"].items():
            print(row(name, m, m.get("n")))
    for name, m in result.get("anchors", {}).items():
        print(row(name + " *", m))
    t = result["targets"]
    print(f"coverage {t['coverage']:.1%} ({t['targets_in_catalogue']} of {t['targets']} targets); "
          f"{t['repeated_targets_dropped']} repeated targets dropped; n = {t['n']} turns"
          + ("; * = He et al. 2023, whole ReDial test split" if result.get("anchors") else ""))


def cmd_eval_simulate(args: argparse.Namespace) -> int:
    from .dialogs import Resolver, read_redial
    from .pipeline import Recommender
    from .simulate import pick_targets, simulate
    from .simulate import summarise as summarise_episodes

    data = Path(args.data or SHARED / "redial" / "test_dev.jsonl")
    movies = Path(args.movies or data.parent / "movies_with_mentions.csv")
    args.llm_window = 10
    rec, cat_info, systems, note = _setup(args, movies)
    resolve = Resolver(rec.titles)
    examples = list(read_redial(data, resolve))
    if args.redial_prior:
        with_redial_prior(systems, redial_counts(rec, movies, resolve, minus=[data]))
    chosen = pick_targets(examples, args.episodes, args.seed)
    result: dict[str, Any] = {"episodes": len(chosen), "seed": args.seed, "max_turns": args.max_turns, "k": 10,
                              "systems": {}, "config": {**cat_info, "redial_prior": args.redial_prior,
                                                        "weights": _weights(args.weights, rec.settings),
                                                        **({"note": note} if note else {})}}
    started = time.perf_counter()
    runs: dict[str, list[Any]] = {}
    for s in systems:
        chat = Recommender(s.rec.catalog, s.rec.index, s.rec.cf, s.rec.encoder, s.llm, s.rec.settings)
        chat.popularity = s.rec.popularity
        episodes, latency = [], []
        for ex, target in chosen[: args.llm_episodes] if s.llm else chosen:
            session, _ = s.shared.replayed(ex, s.rec)
            t0 = time.perf_counter()
            ep = simulate(chat, session, rec.catalog.get(target), max_turns=args.max_turns)
            latency.append((time.perf_counter() - t0) * 1000 / ep.turns)
            episodes.append(ep)
        runs[s.name] = episodes
        summary = summarise_episodes(episodes, args.max_turns)
        summary["latency_ms_per_turn"] = round(float(np.mean(latency)), 1) if latency else None
        result["systems"][s.name] = summary
        log.info("%s: %s", s.name, summary)
    if any(s.llm for s in systems):  # every system on the episodes the LLM ran, for a paired comparison
        n = min(args.llm_episodes, len(chosen))
        result["llm_episodes"] = {"episodes": n, "systems": {k: summarise_episodes(v[:n], args.max_turns) for k, v in runs.items()}}
    first = next(iter(runs.values()), [])
    if first:
        ep = first[0]
        result["example"] = {"target": rec.catalog.get(ep.target).label(), "seeker_said": ep.said,
                             "lists": [[rec.catalog.get(i).label() for i in ids] for ids in ep.lists]}
    result["wall_s"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps({k: {m: v[m] for m in ("hit@5", "hit@10", "avg_turns", "leaks", "episodes")}
                          for k, v in result["systems"].items()}))
    else:
        print(f"{'system':<14}{'episodes':>9}{'Hit@5':>8}{'Hit@10':>8}{'turns':>7}{'leaks':>7}")
        for name, m in result["systems"].items():
            print(f"{name:<14}{m['episodes']:>9}{m['hit@5']:>8.3f}{m['hit@10']:>8.3f}{m['avg_turns']:>7.2f}{m['leaks']:>7}")
        print(f"wrote {args.out}")
    return 0


def cmd_eval_report(args: argparse.Namespace) -> int:
    from .evalreport import write_report

    write_report([p for p in args.inputs if p.is_file()], args.simulate if args.simulate.is_file() else None, args.out,
                 args.notes)
    print(f"wrote {args.out}")
    return 0
