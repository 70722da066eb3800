"""The physical limits `convrec bench scale` puts beside its timings: what one thread of this
machine reads and computes per second, and the least time a retrieval stage could take at that
rate (the bytes it reads, the FLOPs of the encoder), so a reader sees how close each stage is.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from convrec.retrieve.embed import Encoder


def machine_limits(mb: int = 256) -> dict[str, float]:
    """What one thread of this machine does now (under whatever load it has): memory read
    bandwidth (a sum over `mb` MB, GB/s) and float32 matrix products (GFLOP/s)."""
    from threadpoolctl import threadpool_limits

    a = np.ones(mb * 2**18, np.float32)
    a.sum()  # pages it in
    started = time.perf_counter()
    a.sum()
    read = a.nbytes / (time.perf_counter() - started) / 1e9
    m = np.ones((512, 512), np.float32)
    with threadpool_limits(1, "blas"):
        started = time.perf_counter()
        for _ in range(8):
            m @ m
        flops = 8 * 2 * 512**3 / (time.perf_counter() - started) / 1e9
    return {"read_gb_s": round(read, 1), "gflop_s": round(flops, 1)}


def encoder_flops(encoder: Encoder, text: str) -> float | None:
    """Multiply-adds x2 of a transformer encoder for one text: 2 x non-embedding parameters x
    tokens (attention over a few tokens adds little); None for an encoder that is not one."""
    model = getattr(encoder, "model", None)
    if model is None or not hasattr(model, "tokenizer"):
        return None
    params = sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)
    return 2.0 * params * len(model.tokenizer(text)["input_ids"])


def floors(row: dict[str, Any], limits: dict[str, float], dim: int, factors: int, flops: float | None) -> dict:
    """The least time each query stage could take on one thread of this machine: the bytes it
    reads at the measured bandwidth (ANN, CF), the encoder's FLOPs at the measured rate (embed)."""
    st, bw = row["stages"], limits["read_gb_s"] * 1e9
    n = row["items"]
    approximate = st["index"]["kind"] != "flat" and st["index"].get("tuning")
    ann_mb = st["index"]["tuning"]["curve"][-1]["mb_read"] if approximate else n * dim * 4 / 2**20
    cf = st["cf"][row["cf"]]
    cf_mb = cf["tuning"]["curve"][-1]["mb_read"] if cf.get("index", "flat") != "flat" else n * factors * 4 / 2**20
    out = {
        "ann_ms": round(ann_mb * 2**20 / bw * 1000, 3),
        "ann_mb_read": ann_mb,
        "cf_ms": round(cf_mb * 2**20 / bw * 1000, 3),
        "cf_mb_read": cf_mb,
        "cf_exhaustive_ms": round(n * factors * 4 / bw * 1000, 3),
    }
    if flops:
        out.update(embed_ms=round(flops / (limits["gflop_s"] * 1e9) * 1000, 2), embed_mflop=round(flops / 1e6, 1))
    return out
