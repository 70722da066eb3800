"""`convrec bench index`: exact vs approximate FAISS search on synthetic clustered vectors.

For each index kind it reports build time, memory (the serialised index size), single-query
latency p50/p95 (one query at a time, as a chat turn issues them) and recall@10 against exact
search, over a sweep of the kind's search-time knob (IVF `nprobe`, HNSW `efSearch`). The
vectors imitate sentence embeddings: unit-norm, grouped in topics, each topic spread along a
few directions (low intrinsic dimension) plus a little isotropic noise.

Numbers are wall-clock on whatever machine runs this: compare them within one run, never
assert them in tests. Left out on purpose: product quantisation (recall falls below 0.95 at the
sizes we need before memory matters) and GPU indexes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from convrec.core.files import write_json
from convrec.eval.plots import pyplot, save
from convrec.eval.splits import SEED
from convrec.retrieve.index import recall_at

RECALL_TARGET = 0.95
SPREAD = 0.15


def clustered_vectors(
    n: int,
    dim: int,
    *,
    topics: int | None = None,
    latent: int = 32,
    spread: float = SPREAD,
    seed: int = 42,
    chunk: int = 100_000,
) -> np.ndarray:
    """`n` unit vectors: a random topic centre + a point in a shared `latent`-d subspace + noise.

    `spread` is the per-axis scale of the latent part: at 0.12 topics are well apart and every
    index finds the neighbours easily; at 0.15 topics overlap along the shared subspace and IVF
    needs several times more probes (nearest-neighbour cosines ~0.7, like MiniLM's). `topics`
    defaults to n / 50, so a topic holds ~50 items at every size; with few large topics the true
    neighbours of a query all sit in its own topic and any partitioning index finds them trivially.

    >>> v = clustered_vectors(50, 8, topics=3, latent=2)
    >>> v.shape, bool(np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5))
    ((50, 8), True)
    """
    rng = np.random.default_rng(seed)
    topics = topics or max(10, n // 50)
    centres, basis = topic_space(rng, topics, dim, latent)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        out[start : start + m] = topic_vectors(rng.integers(0, topics, m), centres, basis, rng, spread)
    return out


def topic_space(rng: np.random.Generator, topics: int, dim: int, latent: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(topic centres: topics x dim unit vectors, the shared latent basis: latent x dim orthonormal rows)."""
    latent = min(latent, dim)
    centres = rng.standard_normal((topics, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    basis = np.linalg.qr(rng.standard_normal((dim, latent)))[0].T.astype(np.float32)
    return centres, basis


def topic_vectors(
    topic: np.ndarray, centres: np.ndarray, basis: np.ndarray, rng: np.random.Generator, spread: float = SPREAD
) -> np.ndarray:
    """One unit vector per entry of `topic`: its centre + a point of the latent subspace + noise
    (see `clustered_vectors`)."""
    m, (latent, dim) = len(topic), basis.shape
    z = rng.standard_normal((m, latent)).astype(np.float32) * spread
    noise = rng.standard_normal((m, dim)).astype(np.float32) * (0.25 / np.sqrt(dim))
    x = centres[topic] + z @ basis + noise
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _latencies(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[float]]:
    """One query at a time on one thread: what a chat turn costs, and robust to a busy machine
    (a single query split over threads waits for the slowest one)."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    ids = np.empty((len(queries), k), np.int64)
    times = []
    try:
        for i, q in enumerate(queries):
            start = time.perf_counter()
            _, row = index.search(q[None, :], k)
            times.append((time.perf_counter() - start) * 1000)
            ids[i] = row[0]
    finally:
        faiss.omp_set_num_threads(threads)
    return ids, times


def _size_mb(index) -> float:
    import faiss

    return round(len(faiss.serialize_index(index)) / 2**20, 1)


def bench_index(
    items: int = 1_000_000,
    dim: int = 384,
    queries: int = 1000,
    seed: int = 42,
    kinds: tuple[str, ...] = ("flat", "ivf", "hnsw"),
    k: int = 10,
    log=print,
    spread: float = SPREAD,
    topics: int | None = None,
    vectors: np.ndarray | None = None,
) -> dict[str, Any]:
    """Benchmark the index kinds on synthetic vectors, or on real `vectors` (e.g. the catalogue's
    MiniLM embeddings), of which a seeded random `queries` rows become the queries."""
    import faiss

    threads = faiss.omp_get_max_threads()
    t = time.perf_counter()
    if vectors is not None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        perm = np.random.default_rng(seed).permutation(len(vectors))
        qs, base = vectors[perm[:queries]], vectors[perm[queries:]]
        items, dim, topics = len(base), vectors.shape[1], None
    else:
        topics = topics or max(10, (items + queries) // 50)
        data = clustered_vectors(items + queries, dim, topics=topics, spread=spread, seed=seed)
        base, qs = data[:items], data[items:]
    log(
        f"{'loaded' if vectors is not None else 'generated'} {items:,} x {dim} vectors in {time.perf_counter() - t:.1f} s"
    )

    flat = faiss.IndexFlatIP(dim)
    t = time.perf_counter()
    flat.add(base)
    flat_build = time.perf_counter() - t
    t = time.perf_counter()
    _, truth = flat.search(qs, k)  # batched: BLAS, all cores
    log(f"exact ground truth for {queries} queries in {time.perf_counter() - t:.1f} s")
    results: list[dict[str, Any]] = []
    if "flat" in kinds:
        n_lat = min(queries, 100)  # ~tens of ms each at 1M; 100 are enough for p50/p95
        found, times = _latencies(flat, qs[:n_lat], k)
        results.append(
            _row("flat", {}, flat_build, flat.ntotal * dim * 4 / 2**20, times, recall_at(found, truth[:n_lat], k))
        )
        log(_fmt(results[-1]))
    del flat

    if "ivf" in kinds:
        nlist = int(max(16, min(65536, 2 ** round(np.log2(2 * np.sqrt(items))))))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 15
        sample = base[np.random.default_rng(seed).choice(items, size=min(items, 40 * nlist), replace=False)]
        t = time.perf_counter()
        index.train(sample)
        index.add(base)
        build = time.perf_counter() - t
        size = _size_mb(index)
        log(f"ivf{nlist}: built in {build:.1f} s")
        for nprobe in (4, 8, 16, 32, 64, 128):
            if nprobe > nlist:
                break
            index.nprobe = nprobe
            found, times = _latencies(index, qs, k)
            results.append(
                _row("ivf", {"nlist": nlist, "nprobe": nprobe}, build, size, times, recall_at(found, truth, k))
            )
            log(_fmt(results[-1]))
        del index, quantizer

    if "hnsw" in kinds:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        t = time.perf_counter()
        index.add(base)
        build = time.perf_counter() - t
        size = _size_mb(index)
        log(f"hnsw32: built in {build:.1f} s")
        for ef in (16, 32, 64, 128, 256):
            index.hnsw.efSearch = ef
            found, times = _latencies(index, qs, k)
            results.append(
                _row(
                    "hnsw",
                    {"M": 32, "efConstruction": 80, "efSearch": ef},
                    build,
                    size,
                    times,
                    recall_at(found, truth, k),
                )
            )
            log(_fmt(results[-1]))
        del index

    ok = [r for r in results if r["recall@10"] >= RECALL_TARGET and r["kind"] != "flat"]
    best = min(ok, key=lambda r: r["p50_ms"]) if ok else None
    return {
        "items": items,
        "dim": dim,
        "queries": queries,
        "seed": seed,
        "spread": None if vectors is not None else spread,  # real vectors have no synthetic spread
        "topics": topics,
        "data": "real vectors" if vectors is not None else "synthetic clustered",
        "omp_threads": threads,
        "results": results,
        "best_at_recall_0.95": best,
        "machine": {
            "python": platform.python_version(),
            "cpus": len(os.sched_getaffinity(0)),
            "processor": platform.processor(),
        },
    }


def _row(kind: str, params: dict, build_s: float, size_mb: float, times: list[float], recall: float) -> dict[str, Any]:
    return {
        "kind": kind,
        **params,
        "build_s": round(build_s, 1),
        "memory_mb": round(size_mb, 1),
        "p50_ms": round(float(np.percentile(times, 50)), 3),
        "p95_ms": round(float(np.percentile(times, 95)), 3),
        "recall@10": round(recall, 4),
    }


def _fmt(r: dict[str, Any]) -> str:
    knob = ", ".join(f"{k}={r[k]}" for k in ("nlist", "nprobe", "M", "efSearch") if k in r)
    return (
        f"{r['kind']:<5} {knob:<24} build {r['build_s']:>7.1f} s  mem {r['memory_mb']:>8.1f} MB  "
        f"p50 {r['p50_ms']:>8.3f} ms  p95 {r['p95_ms']:>8.3f} ms  recall@10 {r['recall@10']:.4f}"
    )


def plot_bench(results: list[dict[str, Any]], path: Path) -> None:
    """Latency p50 against recall@10 for each run (one line per kind and size)."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for res in results:
        for kind in ("ivf", "hnsw", "flat"):
            rows = [r for r in res["results"] if r["kind"] == kind]
            if rows:
                ax.plot(
                    [r["recall@10"] for r in rows],
                    [r["p50_ms"] for r in rows],
                    "o-" if kind != "flat" else "s",
                    label=f"{kind} {res['items']:,} "
                    + (
                        "(real vectors)"
                        if res.get("data") == "real vectors"
                        else f"(spread {res.get('spread', 0.12)}, {res.get('topics', 1000)} topics)"
                    ),
                )
    ax.axhline(2.0, color="k", lw=0.8, ls="--", label="target 2 ms")
    ax.axvline(RECALL_TARGET, color="k", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("recall@10 against exact search")
    ax.set_ylabel("p50 latency per query, ms (log)")
    ax.set_title("FAISS, 384-d unit vectors, one query at a time")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def cmd_bench_index(args: argparse.Namespace) -> int:
    kinds = tuple(k.strip() for k in args.kinds.split(","))
    spread, topics = getattr(args, "spread", SPREAD), getattr(args, "topics", None)
    path = getattr(args, "vectors", None)
    vectors = np.load(path) if path else None
    result = bench_index(
        args.items, args.dim, args.queries, args.seed, kinds, log=lambda m: print(m, file=sys.stderr),
        spread=spread, topics=topics, vectors=vectors,
    )  # fmt: skip
    name = f"real_{Path(path).stem}" if path else f"{args.items}_spread{spread}_topics{result['topics']}"
    out = args.out or Path("reports") / f"bench_index_{name}.json"
    write_json(out, result)
    plot_bench([result], out.with_suffix(".png"))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for r in result["results"]:
            print(_fmt(r))
        print(f"wrote {out}")
    return 0


def add_bench_cli(bench_subparsers: Any) -> None:
    """`convrec bench index` (wired in by cli.py)."""
    b = bench_subparsers.add_parser("index", help="flat vs IVF vs HNSW on synthetic clustered vectors")
    b.add_argument("--items", type=int, default=1_000_000)
    b.add_argument("--dim", type=int, default=384)
    b.add_argument("--queries", type=int, default=1000)
    b.add_argument("--seed", type=int, default=SEED)
    b.add_argument("--kinds", default="flat,ivf,hnsw", help="comma-separated index kinds")
    b.add_argument(
        "--spread", type=float, default=0.15, help="topic overlap of the synthetic vectors: 0.12 easy, 0.15 hard"
    )
    b.add_argument("--topics", type=int, help="topic count of the synthetic vectors (default items / 50)")
    b.add_argument("--vectors", type=Path, help="benchmark on these real vectors (.npy) instead of synthetic ones")
    b.add_argument("--out", type=Path, help="default reports/bench_index_<items>_spread<spread>_topics<topics>.json")
    b.add_argument("--json", action="store_true", help="print the results as JSON")
    b.set_defaults(func=cmd_bench_index)
