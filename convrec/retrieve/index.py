"""The FAISS item index: exact and approximate search behind one interface.

Row i of the index is the i-th item of the catalogue; `ids[i]` maps it back to the item id.
Hard filters are applied inside FAISS with a bitmap selector, so a strict filter ("comedies
from 1990-1999, no horror") still returns the best *allowed* items instead of a top-k that
the filter empties afterwards.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

# Below this many items exact search is both fast (< 1 ms for 10k x 384) and exact.
FLAT_MAX_ITEMS = 200_000
# A filter that leaves at most this many rows is answered by an exact scan of those rows:
# an approximate index would explore mostly filtered-out neighbours and miss allowed ones.
EXACT_SUBSET_MAX = 20_000


def choose_kind(n_items: int) -> str:
    """'flat' for small catalogues, 'hnsw' for large ones (build-index's choice unless told).

    Measured one query at a time on two shared cores (`convrec bench index`, reports/bench_index_*):
    exact search costs 0.5 ms at 10k items, 12 ms at 100k and 116 ms at 1M, so up to 200k it
    stays within a turn's budget and is exact. HNSW (M 32, efConstruction 80, efSearch 64) answers
    in under 1 ms at 100k-300k with recall@10 0.90-1.0 against exact search, but its build grows
    faster than linearly (82 s at 100k, 450 s at 300k); IVF built faster but needed a quarter of
    its lists probed for recall 0.95 on MiniLM vectors, and missed most neighbours on the synthetic
    ones. `convrec bench scale` (reports/bench_scale.json) measures the choice end to end at 1M.

    >>> choose_kind(9_000), choose_kind(1_000_000)
    ('flat', 'hnsw')
    """
    return "flat" if n_items <= FLAT_MAX_ITEMS else "hnsw"


class ItemIndex:
    def __init__(self, index: faiss.Index, ids: np.ndarray, kind: str) -> None:
        if kind == "ivf":
            faiss.extract_index_ivf(index).make_direct_map()  # lets reconstruct() work
        self.index = index
        self.ids = np.asarray(ids, dtype=np.int64)
        self.kind = kind
        self.position = {int(i): p for p, i in enumerate(self.ids)}

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray, kind: str = "auto") -> ItemIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        kind = choose_kind(n) if kind == "auto" else kind
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 64
        elif kind == "ivf":
            # as `convrec bench index` measured it: ~2·sqrt(n) lists, k-means on 40 points a list
            # (training on all of a million vectors took hours on two cores; this takes a minute)
            nlist = max(1, min(n, int(2 ** round(np.log2(2 * np.sqrt(n))))))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.niter = 15
            sample = np.sort(np.random.default_rng(0).choice(n, size=min(n, 40 * nlist), replace=False))
            index.train(np.ascontiguousarray(vectors[sample]))
            index.nprobe = min(nlist, 16)
        else:
            raise ValueError(f"unknown index kind {kind!r}: use flat, hnsw, ivf or auto")
        index.add(vectors)
        return cls(index, ids, kind)

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
        elif self.kind != "flat" and allowed.sum() <= EXACT_SUBSET_MAX:
            subset = np.flatnonzero(allowed)
            sims = self.index.reconstruct_batch(subset) @ query[0]
            top = np.argsort(-sims, kind="stable")[:k]
            return self.ids[subset[top]], sims[top]
        else:
            bitmap = np.packbits(allowed.astype(bool), bitorder="little")  # must outlive the search
            scores, rows = self.index.search(query, k, params=self._params(bitmap, len(allowed)))
        keep = rows[0] >= 0
        return self.ids[rows[0][keep]], scores[0][keep]

    def scores_for(self, query: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """Cosine of the query with given items (for candidates that came from another source)."""
        rows = np.array([self.position[int(i)] for i in item_ids], dtype=np.int64)
        if len(rows) == 0:
            return np.empty(0, np.float32)
        return self.index.reconstruct_batch(rows) @ query.reshape(-1).astype(np.float32)

    def _params(self, bitmap: np.ndarray, n: int) -> faiss.SearchParameters:
        selector = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap))
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=selector, efSearch=max(64, self.index.hnsw.efSearch))
        if self.kind == "ivf":
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.index.nprobe)
        return faiss.SearchParameters(sel=selector)

    def save(self, directory: Path, name: str = "item") -> None:
        """Write `<name>s.faiss` and `<name>_ids.npy` (items.faiss and item_ids.npy by default)."""
        directory.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(directory / f"{name}s.faiss"))
        np.save(directory / f"{name}_ids.npy", self.ids)

    @classmethod
    def load(cls, directory: Path, kind: str, name: str = "item") -> ItemIndex:
        index = faiss.read_index(str(directory / f"{name}s.faiss"))
        ids = np.load(directory / f"{name}_ids.npy")
        if len(ids) != index.ntotal:
            raise ValueError(f"{directory}: {name}_ids.npy has {len(ids)} rows but the index has {index.ntotal}")
        return cls(index, ids, kind)
