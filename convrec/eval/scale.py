"""`convrec bench scale`: the whole build and a chat turn's retrieval on synthetic catalogues of
growing size (10k, 100k, 1M items) on one machine.

Per size it generates a catalogue (items in topics, Zipf-distributed interactions of users who
favour a few topics), embeds it as `build-index` does, builds the FAISS index `build-index` would
(exact when small, else the approximate one tuned to recall@10 >= 0.95, its recall–cost curve
recorded), trains the CF scorer `choose_cf` picks for that size, and saves both to measure them. Each stage reports its wall time and its peak
resident memory (the process's high-water mark, reset before the stage: FAISS and BLAS allocate
outside Python's view). Then a chat turn's retrieval is timed query by query, on one thread
for FAISS: embed the request with the real encoder, ANN search, CF fold-in of a 1-3 item
session, blend; and the same end to end through the retrieve stage + `blend`; recall@10 of the
ANN search is measured against exact search, and the CF search's top 300 against the exhaustive
fold-in's. Beside each stage: its floor on one thread of this machine (bytes read at the measured
bandwidth, the encoder's FLOPs at the measured rate; `convrec.eval.limits`).

The real encoder embeds whole catalogues up to `real_max` items. Larger ones would take hours, so
their vectors come from the catalogue's topics (`convrec bench index`'s generator, whose neighbour
cosines resemble MiniLM's) and the encoder's cost is measured on a slice and extrapolated; the table
says which. Queries are always embedded by the real encoder, for their cost; with topic vectors the
ANN recall is measured with topic-vector queries (a real query vector has no true neighbours there).

Left out on purpose: LLM stages (their cost does not grow with the catalogue), filters (`bench index`
and the index tests cover them) and GPU encoders.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from convrec.core.errors import ConvrecError
from convrec.core.files import write_json
from convrec.core.types import Candidates, Needs
from convrec.eval.ann import SPREAD, topic_vectors
from convrec.eval.limits import cpu_gflops, floors, machine_limits, text_flops
from convrec.eval.scale_report import plot_scale, table
from convrec.eval.synthetic import SyntheticCatalog, topic_vector_source
from convrec.retrieve.blend import blend
from convrec.retrieve.candidates import Retrieve
from convrec.retrieve.cf import Scorer, choose_cf, make_cf
from convrec.retrieve.embed import Encoder, embed_to_disk, stream_vectors
from convrec.retrieve.filters import top_allowed
from convrec.retrieve.index import ItemIndex, exact_top_k, recall_at
from convrec.retrieve.sources import Library, Query
from convrec.retrieve.sources.base import POPULAR_N

RETRIEVE_N = 300  # candidates per source, as Settings.retrieve_k
WEIGHTS = {"text": 0.6, "cf": 0.3, "pop": 0.1}  # the default blend weights (convrec.retrieve.sources)
SLICE = 1000  # items the real encoder embeds to measure its cost where it does not embed all


# --------------------------------------------------------------------------------------------
# Memory


def peak_rss_mb() -> float:
    """This process's resident-memory high-water mark (Linux VmHWM; else the lifetime maximum)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Start a new high-water mark (Linux >= 4.0); False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@contextmanager
def stage(record: dict[str, Any], name: str) -> Iterator[dict[str, Any]]:
    """Time a stage and record its peak memory under `record[name]` (extra fields may be added)."""
    reset_peak_rss()
    out: dict[str, Any] = {}
    started = time.perf_counter()
    yield out
    record[name] = {"s": round(time.perf_counter() - started, 2), "peak_rss_mb": round(peak_rss_mb()), **out}


class Counted:
    """An encoder that counts the texts it embeds (to price them per 10k)."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder, self.name, self.dim, self.rows = encoder, encoder.name, encoder.dim, 0

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        self.rows += len(texts)
        return self.encoder.encode(texts, batch_size=batch_size, progress=progress)


def dir_mb(*paths: Path) -> float:
    """Total size of files (a directory counts all files under it), in MB."""
    total = 0
    for path in paths:
        files = path.rglob("*") if path.is_dir() else [path]
        total += sum(f.stat().st_size for f in files if f.is_file())
    return round(total / 2**20, 1)


# --------------------------------------------------------------------------------------------
# One size


def bench_size(
    n: int,
    encoder: Encoder,
    work_dir: Path,
    *,
    real_max: int = 10_000,
    queries: int = 200,
    cf_models: tuple[str, ...] = ("auto",),
    index_kind: str = "auto",
    seed: int = 42,
    log: Callable[[str], object] = print,
    vectors_file: Path | None = None,
) -> dict[str, Any]:
    """Build and query a synthetic catalogue of `n` items; the result row of `bench_scale`.

    With `vectors_file` (a .npy of at least `n` rows) its first `n` rows are the item vectors
    instead of the catalogue's (the interactions stay synthetic), and queries are the encoder's.

    `cf_models` are trained in turn (their fit cost is what `choose_cf` is derived from); "auto"
    is `choose_cf(n)`, and the first one serves the queries. A scorer that refuses the size (EASE
    beyond its dense-matrix limit) is recorded with its error.
    """
    work = Path(work_dir) / f"items_{n}"
    work.mkdir(parents=True, exist_ok=True)
    stages: dict[str, Any] = {}
    row: dict[str, Any] = {"items": n, "stages": stages, "load_avg_1m": round(os.getloadavg()[0], 1)}

    with stage(stages, "catalogue") as out:
        catalog = SyntheticCatalog(n, seed)
        inter = catalog.interactions
        out.update(topics=catalog.topics, users=int(inter["user_id"].nunique()), interactions=len(inter))
    log(f"{n:,} items: {catalog.topics:,} topics, {len(inter):,} interactions ({stages['catalogue']['s']} s)")

    real = n <= real_max or vectors_file is not None
    with stage(stages, "embed") as out:
        if vectors_file is not None:  # e.g. a real catalogue's embeddings, made once elsewhere
            vectors = np.load(vectors_file, mmap_mode="r")
            if vectors.ndim != 2 or len(vectors) < n or vectors.shape[1] != encoder.dim:
                raise ValueError(
                    f"{vectors_file}: need at least {n:,} rows of {encoder.dim}-d vectors, not {vectors.shape}"
                )
            vectors = vectors[:n]
            out.update(vectors=f"real ({encoder.name}, {Path(vectors_file).name})", embedded=0)
        elif real:
            counted = Counted(encoder)  # a resumed run embeds fewer than n
            vectors = embed_to_disk(catalog.texts(0, n), counted, work / "embedding", log=log)
            out.update(vectors=f"real ({encoder.name})", embedded=counted.rows)
        else:
            source, made = topic_vector_source(catalog, encoder.dim), [0]

            def produce(start: int, stop: int) -> np.ndarray:
                made[0] += stop - start
                return source(start, stop)

            key = f"topics:{n}:{seed}:{SPREAD}:{encoder.dim}"
            vectors = stream_vectors(n, encoder.dim, produce, work / "embedding", key=key, log=log)
            out.update(vectors="synthetic (topic vectors)", embedded=made[0])
    if real and stages["embed"]["embedded"] >= SLICE:
        per_10k = stages["embed"]["s"] / stages["embed"]["embedded"] * 10_000
    else:
        texts = catalog.texts(0, min(n, SLICE))
        started = time.perf_counter()
        encoder.encode(texts)
        per_10k = (time.perf_counter() - started) / len(texts) * 10_000
    stages["embed"].update(real_per_10k_s=round(per_10k, 1), real_all_s=round(per_10k * n / 10_000))
    log(f"embed: {stages['embed']['vectors']} in {stages['embed']['s']} s; real encoder {per_10k:.0f} s per 10k")

    with stage(stages, "index") as out:
        index = ItemIndex.build(vectors, catalog.ids(), kind=index_kind)
        index.save(work / "index")
        out.update(kind=index.kind, disk_mb=dir_mb(work / "index" / "items.faiss", work / "index" / "item_ids.npy"))
    if index.tuning:
        stages["index"]["tuning"] = index.tuning
    log(f"index: {index.kind} in {stages['index']['s']} s, {stages['index']['disk_mb']} MB; {tuned(index.tuning)}")

    served: Scorer | None = None
    stages["cf"] = {}
    for name in cf_models:
        resolved = choose_cf(n) if name == "auto" else name
        if resolved in stages["cf"]:
            continue
        try:
            with stage(stages["cf"], resolved) as out:
                scorer = make_cf(argparse.Namespace(cf_model=resolved)).fit(inter, catalog.ids())
                shutil.rmtree(work / "cf", ignore_errors=True)
                scorer.save(work / "cf")
                out.update(disk_mb=dir_mb(work / "cf"))
        except (ConvrecError, MemoryError) as e:  # a scorer that cannot take this size is a result too
            stages["cf"][resolved] = {"error": f"{type(e).__name__}: {e}"}
            log(f"cf {resolved}: {e}")
            continue
        log(f"cf {resolved}: fit in {stages['cf'][resolved]['s']} s")
        served = served or scorer
    if served is None:
        raise RuntimeError(f"no collaborative scorer could be trained on {n:,} items: {stages['cf']}")
    row["cf"] = served.name

    with stage(stages, "query") as out:
        out.update(time_queries(catalog, vectors, index, served, encoder, queries, real, seed))
    q = stages["query"]
    row["limits"] = machine_limits()
    factors = int(getattr(served, "factors", 0)) or 0
    flops = text_flops(encoder, f"{' '.join(catalog.topic_terms(0)[:2])} item")
    q["floor"] = floors(row, row["limits"], index.dim, factors, flops)
    item_flops = [f for text in catalog.texts(0, min(n, 64)) if (f := text_flops(encoder, text))]
    if item_flops:  # the whole catalogue's embedding at its texts' FLOPs, on every thread
        row["limits"]["gflop_s_threads"] = round(cpu_gflops(), 1)
        per_item = float(np.mean(item_flops))
        limit = n * per_item / (row["limits"]["gflop_s_threads"] * 1e9)
        stages["embed"].update(gflop_per_item=round(per_item / 1e9, 3), limit_all_s=round(limit))
    log(
        f"query: p50 {q['total']['p50_ms']} ms (embed {q['embed']['p50_ms']}, ann {q['ann']['p50_ms']}, "
        f"cf {q['cf']['p50_ms']}, blend {q['blend']['p50_ms']}), recall@10 {q['recall@10']}"
    )
    row["peak_rss_mb"] = max(
        [v["peak_rss_mb"] for k, v in stages.items() if k != "cf"]
        + [v["peak_rss_mb"] for v in stages["cf"].values() if "peak_rss_mb" in v]
    )
    row["disk_mb"] = {"vectors": dir_mb(work / "embedding"), "index": stages["index"]["disk_mb"]}
    return row


def time_queries(
    catalog: SyntheticCatalog,
    vectors: np.ndarray,
    index: ItemIndex,
    cf: Scorer,
    encoder: Encoder,
    queries: int,
    real: bool,
    seed: int,
) -> dict[str, Any]:
    """Per-query latency of each retrieval stage and of the whole, the ANN's recall@10, and the
    share of the exhaustive CF fold-in's top-n that the turn's CF search found.

    A query asks for two of a topic's words and has liked 1-3 items someone interacted with.
    The stages are timed as the retrieve stage runs them (embed, ANN top-n, CF fold-in and its
    top-n, blend of the union); "total" is the retrieve stage + `blend` itself.
    """
    import faiss

    rng = np.random.default_rng([seed, 1])
    inter = catalog.interactions["item_id"].to_numpy()
    popularity = np.log1p(np.bincount(inter, minlength=catalog.n)).astype(np.float32)
    allowed = np.ones(catalog.n, bool)
    # a bare library: vectors, CF and popularity, no item records, genres or attributes
    library = Library((), index, cf, encoder, None, None, popularity, popularity > 0, "item", RETRIEVE_N)
    retrieve = Retrieve(library)
    topics = rng.integers(0, catalog.topics, queries)
    if not real:
        centres, basis = topic_vector_source(catalog, index.dim).space  # type: ignore[attr-defined]
        synthetic = topic_vectors(topics, centres, basis, rng)
    times: dict[str, list[float]] = {k: [] for k in ("embed", "ann", "cf", "blend", "total")}
    found, asked, sessions, cf_found, cf_read = [], [], [], [], []
    threads = faiss.omp_get_max_threads()
    # one query at a time on one thread, as a chat turn issues them: a single query split over
    # threads waits for the slowest, and on a busy machine MiniLM took 0.7 s a query that way
    faiss.omp_set_num_threads(1)
    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch else 0
    if torch:
        torch.set_num_threads(1)
    try:
        for q, topic in enumerate(topics):
            terms = catalog.topic_terms(int(topic))
            needs = Needs(keywords=tuple(rng.choice(terms, 2, replace=False)), liked=tuple(
                int(i) for i in rng.choice(inter, int(rng.integers(1, 4)), replace=False)
            ))  # fmt: skip
            t0 = time.perf_counter()
            qvec = encoder.encode([f"{' '.join(needs.keywords)} item"])[0]
            t1 = time.perf_counter()
            search = qvec if real else synthetic[q]
            ann_ids, _ = index.search(search, RETRIEVE_N)
            t2 = time.perf_counter()
            folded = cf.fold_in(needs.liked)
            cf_ids = folded.top(allowed, RETRIEVE_N)
            t3 = time.perf_counter()
            ids = np.unique(np.concatenate([ann_ids, cf_ids, library.popular(allowed, POPULAR_N)]))
            scores = {"text": index.scores_for(search, ids), "cf": folded.at(ids), "pop": popularity[ids]}
            blend(Candidates(ids, scores), WEIGHTS)
            t4 = time.perf_counter()
            blend(retrieve(Query(needs), [allowed], RETRIEVE_N), WEIGHTS)
            t5 = time.perf_counter()
            for key, took in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                times[key].append(took * 1000)
            found.append(ann_ids[:10])
            asked.append(search)
            sessions.append(needs.liked)
            cf_found.append(cf_ids)
            cf_read.append(getattr(folded, "scanned", catalog.n))  # a factor model's search reads fewer
    finally:
        faiss.omp_set_num_threads(threads)
        if torch:
            torch.set_num_threads(torch_threads)
    truth = exact_top_k(vectors, np.asarray(asked, np.float32), 10)
    out: dict[str, Any] = {
        key: {"p50_ms": round(float(np.percentile(v, 50)), 2), "p95_ms": round(float(np.percentile(v, 95)), 2)}
        for key, v in times.items()
    }
    out["queries"] = queries
    out["cf_rows_read"] = {"p50": int(np.percentile(cf_read, 50)), "p95": int(np.percentile(cf_read, 95))}
    out["recall@10"] = round(recall_at(np.asarray(found), index.ids[truth], 10), 4)
    exhaustive = [top_allowed(index.ids, cf.score(liked), allowed, RETRIEVE_N) for liked in sessions]
    out[f"cf_overlap@{RETRIEVE_N}"] = round(
        float(np.mean([len(np.intersect1d(a, b)) / max(1, len(b)) for a, b in zip(cf_found, exhaustive)])), 4
    )
    return out


def tuned(tuning: dict[str, Any] | None) -> str:
    """The setting an index's tuning chose, in words.

    >>> tuned({"nlist": 16, "nprobe": 4, "recall@10": 0.97, "curve": [{"mb_read": 1.5}], "exact_mb_read": 15.0})
    'nprobe 4 of 16 lists: recall@10 0.97, 1.5 of 15.0 MB read a query'
    >>> tuned({"k_factor": 4, "recall@10": 1.0, "curve": [{"mb_read": 46.0}], "exact_mb_read": 1465.0})
    're-ranking 4x k: recall@10 1.0, 46.0 of 1465.0 MB read a query'
    >>> tuned(None)
    'exact'
    """
    if not tuning:
        return "exact"
    setting = (
        f"nprobe {tuning['nprobe']} of {tuning['nlist']} lists"
        if "nprobe" in tuning
        else f"re-ranking {tuning['k_factor']}x k"
    )
    return (
        f"{setting}: recall@10 {tuning['recall@10']}, "
        f"{tuning['curve'][-1]['mb_read']} of {tuning['exact_mb_read']} MB read a query"
    )


# --------------------------------------------------------------------------------------------
# All sizes: JSON, table and plot (convrec.eval.scale_report), command


def bench_scale(
    sizes: list[int],
    encoder: Encoder,
    work_dir: Path,
    out: Path,
    *,
    log: Callable[[str], object] = print,
    **kwargs: Any,
) -> dict[str, Any]:
    """Run `bench_size` for each size and merge the rows into `out` (JSON): a size measured again
    replaces its row, the other sizes' rows stay, so the largest size can be run on its own."""
    from convrec.eval.cf import _cpus

    for n in sizes:
        row = bench_size(n, encoder, work_dir, log=log, **kwargs)
        previous = {}  # read just before writing: another run may have added its sizes meanwhile
        if out.exists():
            previous = {r["items"]: r for r in json.loads(out.read_text(encoding="utf-8")).get("sizes", [])}
        previous[n] = row
        result = {
            "sizes": [previous[k] for k in sorted(previous)],
            "encoder": encoder.name,
            "machine": {"cpus": _cpus()},
        }
        write_json(out, result)
    plot_scale(result, out.with_suffix(".png"))
    return result


def cmd_bench_scale(args: argparse.Namespace) -> int:
    from convrec.core.config import settings_from_args
    from convrec.retrieve.build import make_encoder

    sizes = [int(s.replace("_", "")) for s in args.items.split(",")]
    result = bench_scale(
        sizes, make_encoder(settings_from_args(args)), args.work_dir, args.out,
        log=lambda m: print(m, file=sys.stderr), real_max=args.real_max, queries=args.queries,
        cf_models=tuple(m.strip() for m in args.cf.split(",")), index_kind=args.index_kind, seed=args.seed,
        vectors_file=args.vectors,
    )  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(table(result))
        print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


def add_bench_cli(bench_subparsers: Any) -> None:
    """Register `bench scale` on cli.py's `bench` subparsers."""
    b = bench_subparsers.add_parser("scale", help="build + query cost on synthetic catalogues of growing size")
    b.add_argument("--items", default="10000,100000,1000000", help="comma-separated catalogue sizes")
    b.add_argument("--real-max", type=int, default=10_000, help="largest size the real encoder embeds whole")
    b.add_argument("--queries", type=int, default=200)
    b.add_argument("--cf", default="auto", help="scorers to train, the first serves the queries (default auto)")
    b.add_argument("--index-kind", choices=["auto", "flat", "hnsw", "ivf", "pq"], default="auto",
                   help="FAISS index for every size (default: build-index's measured choice)")  # fmt: skip
    b.add_argument("--seed", type=int, default=42)
    b.add_argument(
        "--vectors", type=Path, help="a .npy whose first rows are the item vectors (e.g. a real catalogue's)"
    )
    b.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "convrec-bench-scale",
                   help="where vectors (resumable), index and CF model are written")  # fmt: skip
    b.add_argument("--out", type=Path, default=Path("reports/bench_scale.json"))
    b.add_argument("--json", action="store_true", help="print the results as JSON")
    b.set_defaults(func=cmd_bench_scale)
