"""The FAISS item index: exact and approximate search behind one interface.

Row i of the index is the i-th item of the catalogue; `ids[i]` maps it back to the item id.
Hard filters are applied inside FAISS with a bitmap selector, so a strict filter ("comedies
from 1990-1999, no horror") still returns the best *allowed* items instead of a top-k that
the filter empties afterwards.

`kind="auto"` measures instead of guessing: above `FLAT_MAX_ITEMS` it builds 4-bit PQ codes
scanned with SIMD and re-ranks a shortlist exactly (`build_pq`), widening the shortlist until
recall@10 against exact search reaches `RECALL_TARGET` on a sample of the catalogue's own vectors
(`tune_pq`), and keeps it if it reads fewer bytes a query than exact search does. `kind="ivf"`
(an HNSW graph over ~n/32 list centroids, `tune` raising nprobe) is kept for comparison: at 1M
topic vectors it needed half of its lists for recall 0.96 (README "Scaling out"). The curve
measured and the setting chosen are `ItemIndex.tuning`, recorded in the manifest.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

# Up to this many items exact search is fast (0.5 ms at 10k x 384, ~10 ms at 100k on two shared
# cores) and exact; above it `auto` tunes an IVF index and keeps it only where it is cheaper.
FLAT_MAX_ITEMS = 50_000
# A filter that leaves at most this many rows is answered by an exact scan of those rows:
# an approximate index would explore mostly filtered-out neighbours and miss allowed ones.
EXACT_SUBSET_MAX = 20_000
RECALL_TARGET = 0.95  # recall@10 against exact search that `auto` must reach
TUNE_QUERIES = 200  # catalogue rows that serve as queries when tuning (±0.01 on recall@10)
MIN_SCANNED = 1024  # rows an IVF query reads at least, so a 300-candidate ask is filled
ITEMS_PER_LIST = 32  # IVF lists hold ~32 items: a group of neighbours shares a few lists
SAMPLE_PER_LIST = 8  # k-means points a list
ASSIGN_EF = 64  # centroids the HNSW quantizer explores to put a point in its list (see build_ivf)


def choose_kind(n_items: int) -> str:
    """'flat' for small catalogues, else 'pq' tuned by `tune_pq` (`ItemIndex.build` falls back to
    'flat' when no setting reaching the recall target reads fewer bytes than exact search).

    >>> choose_kind(9_000), choose_kind(1_000_000)
    ('flat', 'pq')
    """
    return "flat" if n_items <= FLAT_MAX_ITEMS else "pq"


def ivf_lists(n: int) -> int:
    """Lists of an IVF index over `n` items: the power of two nearest n / 32, at least 16.

    Few large lists (the classic ~sqrt(n)) merge unrelated groups into one list along whatever
    directions vary most; at 1M synthetic items 2,048 lists reached recall@10 0.35 with 128
    probed (reports/bench_index_1000000_spread0.15_topics20020.json). Small lists keep groups
    apart, and an HNSW graph over the centroids finds the nearest lists without a scan of them.

    >>> ivf_lists(100_000), ivf_lists(1_000_000), ivf_lists(100)
    (4096, 32768, 16)
    """
    return int(2 ** max(4, round(math.log2(max(1, n) / ITEMS_PER_LIST))))


def build_ivf(vectors: np.ndarray, nlist: int, *, niter: int = 2, seed: int = 0) -> faiss.IndexIVFFlat:
    """IVF-Flat with an HNSW coarse quantizer, k-means trained on `SAMPLE_PER_LIST` points a list.

    The HNSW graph (M 32) assigns points during k-means and at add time in ~log(nlist) distance
    computations instead of nlist, which is what makes ~n/32 lists affordable at a million items;
    a few k-means iterations from sampled points: the lists only need to keep groups apart. The
    graph must find the *nearest* centroid when adding (efSearch `ASSIGN_EF`): at 100k synthetic
    items its default 16 put points in the wrong lists and recall@10 stayed at 0.82 with 128 of
    8,192 lists probed, against 0.96 with 32 of 2,048 at efSearch 64."""
    n, dim = vectors.shape
    quantizer = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    quantizer.hnsw.efConstruction = 40
    quantizer.hnsw.efSearch = ASSIGN_EF  # in k-means and when adding: a point goes to its nearest list
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = niter
    index.cp.seed = seed
    index.cp.min_points_per_centroid = 1  # a small sample a list is enough: no warning
    sample = np.sort(np.random.default_rng(seed).choice(n, size=min(n, SAMPLE_PER_LIST * nlist), replace=False))
    index.train(np.ascontiguousarray(vectors[sample]))
    for start in range(0, n, 65_536):  # a memory map is paged in a block at a time
        index.add(np.ascontiguousarray(vectors[start : start + 65_536]))
    set_nprobe(index, min(nlist, 16))
    return index


def set_nprobe(index: faiss.IndexIVF, nprobe: int) -> None:
    """Probe `nprobe` lists; the HNSW quantizer explores at least 2·nprobe centroids to find them."""
    index.nprobe = nprobe
    quantizer = faiss.downcast_index(index.quantizer)
    if isinstance(quantizer, faiss.IndexHNSW):
        quantizer.hnsw.efSearch = max(32, 2 * nprobe)


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int = 10, chunk: int = 65_536) -> np.ndarray:
    """Row numbers of the k largest inner products per query, a chunk of rows at a time (the
    vectors may be a memory map larger than what should be in RAM at once).

    >>> v = np.eye(4, dtype=np.float32); exact_top_k(v, v[[2]] + v[[0]] * 0.5, k=2, chunk=3).tolist()
    [[2, 0]]
    """
    best_s = np.full((len(queries), 0), -np.inf, np.float32)
    best_i = np.zeros((len(queries), 0), np.int64)
    for start in range(0, len(vectors), chunk):
        sims = queries @ np.asarray(vectors[start : start + chunk]).T
        kk = min(k, sims.shape[1])
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        all_s = np.hstack([best_s, np.take_along_axis(sims, top, 1)])
        all_i = np.hstack([best_i, top + start])
        keep = np.argsort(-all_s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(all_s, keep, 1), np.take_along_axis(all_i, keep, 1)
    return best_i


def without_self(found: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The first k entries of each row of `found` other than the query's own row (-1 pads).

    >>> without_self(np.array([[5, 1, 2], [3, 4, 0]]), np.array([5, 9]), 2).tolist()
    [[1, 2], [3, 4]]
    """
    out = np.full((len(found), k), -1, np.int64)
    for q, (row, own) in enumerate(zip(found, rows)):
        kept = row[(row != own) & (row >= 0)][:k]
        out[q, : len(kept)] = kept
    return out


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean share of the true top-k that an approximate top-k found.

    >>> recall_at(np.array([[1, 2, 3]]), np.array([[3, 2, 9]]), k=3)
    0.6666666666666666
    """
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) / k for f, t in zip(found, truth)]
    return float(np.mean(hits))


def tune(
    index: faiss.IndexIVF, vectors: np.ndarray, *, queries: int = TUNE_QUERIES, k: int = 10, seed: int = 0
) -> dict[str, Any]:
    """The recall–cost curve of `index` over nprobe, and the smallest nprobe that reaches
    `RECALL_TARGET` (the index is left set to it, or to the largest tried when none does).

    Queries are `queries` seeded rows of the catalogue, each left out of its own answer. Cost is
    counted, not timed: distances computed a query (list entries scanned + centroids the HNSW
    graph visited) and the bytes they read, next to exact search's n·d·4; p50 is one query at a
    time on one thread, for the record.
    """
    n, dim = vectors.shape
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(n, queries), replace=False))
    qs = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    truth = without_self(exact_top_k(vectors, qs, k + 1), rows, k)
    per_list = n / index.nlist
    curve: list[dict[str, Any]] = []
    nprobe = min(index.nlist, max(1, 2 ** math.ceil(math.log2(max(1.0, MIN_SCANNED / per_list)))))
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        while True:
            set_nprobe(index, nprobe)
            faiss.cvar.indexIVF_stats.reset()
            faiss.cvar.hnsw_stats.reset()
            times, found = [], np.empty((len(rows), k + 1), np.int64)
            for q in range(len(rows)):
                started = time.perf_counter()
                found[q] = index.search(qs[q : q + 1], k + 1)[1][0]
                times.append((time.perf_counter() - started) * 1000)
            scanned = faiss.cvar.indexIVF_stats.ndis / len(rows)
            graph = faiss.cvar.hnsw_stats.ndis / len(rows)
            curve.append({
                "nprobe": nprobe,
                "recall@10": round(recall_at(without_self(found, rows, k), truth, k), 4),
                "distances": round(scanned + graph),
                "mb_read": round((scanned + graph) * dim * 4 / 2**20, 2),
                "p50_ms": round(float(np.median(times)), 3),
            })  # fmt: skip
            if curve[-1]["recall@10"] >= RECALL_TARGET or nprobe >= index.nlist:
                break
            nprobe = min(index.nlist, nprobe * 2)
    finally:
        faiss.omp_set_num_threads(threads)
    reached = curve[-1]["recall@10"] >= RECALL_TARGET
    return {
        "nlist": index.nlist,
        "nprobe": nprobe,
        "efSearch": faiss.downcast_index(index.quantizer).hnsw.efSearch,
        "recall@10": curve[-1]["recall@10"],
        "reached": reached,
        "exact_mb_read": round(n * dim * 4 / 2**20, 2),
        "queries": len(rows),
        "curve": curve,
    }


def build_pq(vectors: np.ndarray, *, seed: int = 0) -> faiss.IndexRefineFlat:
    """4-bit product-quantisation codes (d/4 sub-vectors, d/8 bytes an item) scanned with SIMD
    (fast scan), the best `k_factor`·k of them re-ranked exactly: a scan of every item, but of
    32x fewer bytes than exact search, and no partition to miss a neighbour's group."""
    n, dim = vectors.shape
    base = faiss.IndexPQFastScan(dim, dim // 4, 4, faiss.METRIC_INNER_PRODUCT)
    sample = np.sort(np.random.default_rng(seed).choice(n, size=min(n, 65_536), replace=False))
    base.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    index = faiss.IndexRefineFlat(base)
    for start in range(0, n, 65_536):
        index.add(np.ascontiguousarray(vectors[start : start + 65_536], dtype=np.float32))
    return index


def tune_pq(index: faiss.IndexRefineFlat, vectors: np.ndarray, *, queries: int = TUNE_QUERIES, k: int = 10) -> dict:
    """The smallest re-ranking shortlist (`k_factor`: 2, 4, ... 64 times k) whose recall@10 against
    exact search reaches `RECALL_TARGET` on `queries` catalogue rows (as `tune`)."""
    n, dim = vectors.shape
    rows = np.sort(np.random.default_rng(0).choice(n, size=min(n, queries), replace=False))
    qs = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    truth = without_self(exact_top_k(vectors, qs, k + 1), rows, k)
    curve: list[dict[str, Any]] = []
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        for k_factor in (2, 4, 8, 16, 32, 64):
            index.k_factor = k_factor
            times, found = [], np.empty((len(rows), k + 1), np.int64)
            for q in range(len(rows)):
                started = time.perf_counter()
                found[q] = index.search(qs[q : q + 1], k + 1)[1][0]
                times.append((time.perf_counter() - started) * 1000)
            read = n * dim / 8 + k_factor * (k + 1) * dim * 4  # the codes + the re-ranked vectors
            curve.append({
                "k_factor": k_factor,
                "recall@10": round(recall_at(without_self(found, rows, k), truth, k), 4),
                "mb_read": round(read / 2**20, 2),
                "p50_ms": round(float(np.median(times)), 3),
            })  # fmt: skip
            if curve[-1]["recall@10"] >= RECALL_TARGET:
                break
    finally:
        faiss.omp_set_num_threads(threads)
    return {
        "k_factor": curve[-1]["k_factor"],
        "recall@10": curve[-1]["recall@10"],
        "reached": curve[-1]["recall@10"] >= RECALL_TARGET,
        "exact_mb_read": round(n * dim * 4 / 2**20, 2),
        "queries": len(rows),
        "curve": curve,
    }


class ItemIndex:
    def __init__(self, index: faiss.Index, ids: np.ndarray, kind: str, tuning: dict[str, Any] | None = None) -> None:
        if kind == "ivf":
            faiss.extract_index_ivf(index).make_direct_map()  # lets reconstruct() work
        self.index = index
        self.ids = np.asarray(ids, dtype=np.int64)
        self.kind = kind
        self.tuning = tuning
        self.position = {int(i): p for p, i in enumerate(self.ids)}

    @classmethod
    def build(
        cls, vectors: np.ndarray, ids: np.ndarray, kind: str = "auto", *, flat_max: int = FLAT_MAX_ITEMS
    ) -> ItemIndex:
        """An index of `kind`; "auto" is exact search up to `flat_max` items, above it an IVF index
        tuned to recall@10 ≥ `RECALL_TARGET`, or exact search if that IVF reads more bytes a query."""
        n, dim = vectors.shape
        tuning = None
        if kind == "flat" or (kind == "auto" and n <= flat_max):
            kind, index = "flat", faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 64
        elif kind in ("ivf", "pq", "auto"):
            started = time.perf_counter()
            index = build_ivf(vectors, ivf_lists(n)) if kind == "ivf" else build_pq(vectors)
            built = time.perf_counter() - started
            measured = tune(index, vectors) if kind == "ivf" else tune_pq(index, vectors)
            tuning = {"kind": "ivf" if kind == "ivf" else "pq", "build_s": round(built, 1), **measured}
            tuning["tune_s"] = round(time.perf_counter() - started - built, 1)
            if kind != "auto" or (tuning["reached"] and tuning["curve"][-1]["mb_read"] < tuning["exact_mb_read"]):
                return cls(index, ids, tuning["kind"], tuning)
            kind, index = "flat", faiss.IndexFlatIP(dim)  # no cheaper setting reaches the target
        else:
            raise ValueError(f"unknown index kind {kind!r}: use flat, hnsw, ivf or auto")
        for start in range(0, n, 65_536):
            index.add(np.ascontiguousarray(vectors[start : start + 65_536], dtype=np.float32))
        return cls(index, ids, kind, tuning)

    @property
    def dim(self) -> int:
        return self.index.d

    def __len__(self) -> int:
        return self.index.ntotal

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (item ids, cosine scores) for one query vector; `allowed` is a bool mask over rows."""
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        k = min(k, len(self))
        if allowed is not None:
            k = min(k, int(allowed.sum()))
        if k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        if allowed is None or allowed.all():
            scores, rows = self.index.search(query, k)
        elif self.kind == "pq" and allowed.sum() > EXACT_SUBSET_MAX:
            # fast scan takes no selector: ask for as many more as the filter drops, and keep the allowed
            wider = min(len(self), math.ceil(2 * k * len(allowed) / int(allowed.sum())))
            scores, rows = self.index.search(query, wider)
            keep = (rows[0] >= 0) & allowed[np.maximum(rows[0], 0)]
            return self.ids[rows[0][keep][:k]], scores[0][keep][:k]
        elif self.kind != "flat" and allowed.sum() <= EXACT_SUBSET_MAX:
            subset = np.flatnonzero(allowed)
            sims = self.index.reconstruct_batch(subset) @ query[0]
            top = np.argsort(-sims, kind="stable")[:k]
            return self.ids[subset[top]], sims[top]
        else:
            bitmap = np.packbits(allowed.astype(bool), bitorder="little")  # must outlive the search
            scores, rows = self.index.search(query, k, params=self._params(bitmap, len(allowed), int(allowed.sum())))
        keep = rows[0] >= 0
        return self.ids[rows[0][keep]], scores[0][keep]

    def scores_for(self, query: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """Cosine of the query with given items (for candidates that came from another source)."""
        rows = np.array([self.position[int(i)] for i in item_ids], dtype=np.int64)
        if len(rows) == 0:
            return np.empty(0, np.float32)
        return self.index.reconstruct_batch(rows) @ query.reshape(-1).astype(np.float32)

    def _params(self, bitmap: np.ndarray, n: int, allowed_rows: int) -> faiss.SearchParameters:
        selector = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap))
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=selector, efSearch=max(64, self.index.hnsw.efSearch))
        if self.kind == "ivf":
            # probe lists in inverse proportion to the share allowed, so as many allowed rows are
            # read as an unfiltered query reads rows
            ivf = faiss.extract_index_ivf(self.index)
            nprobe = min(ivf.nlist, math.ceil(ivf.nprobe * n / max(1, int(allowed_rows))))
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
            if isinstance(faiss.downcast_index(ivf.quantizer), faiss.IndexHNSW):
                params.quantizer_params = faiss.SearchParametersHNSW(efSearch=max(32, 2 * nprobe))
            return params
        return faiss.SearchParameters(sel=selector)

    def save(self, directory: Path, name: str = "item") -> None:
        """Write `<name>s.faiss` and `<name>_ids.npy` (items.faiss and item_ids.npy by default)."""
        directory.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(directory / f"{name}s.faiss"))
        np.save(directory / f"{name}_ids.npy", self.ids)

    @classmethod
    def load(cls, directory: Path, kind: str, name: str = "item", tuning: dict[str, Any] | None = None) -> ItemIndex:
        """The saved index; an IVF one probes the lists `tuning` (the manifest's record) chose."""
        index = faiss.read_index(str(directory / f"{name}s.faiss"))
        ids = np.load(directory / f"{name}_ids.npy")
        if len(ids) != index.ntotal:
            raise ValueError(f"{directory}: {name}_ids.npy has {len(ids)} rows but the index has {index.ntotal}")
        if kind == "ivf" and tuning:
            set_nprobe(faiss.extract_index_ivf(index), int(tuning["nprobe"]))
        if kind == "pq" and tuning:
            faiss.downcast_index(index).k_factor = int(tuning["k_factor"])
        return cls(index, ids, kind, tuning)
