"""The physical limits set beside a benchmark's figures, measured on this machine in the same run,
so that a reader sees how close each stage comes to what the cores can do.

- `cpu_gflops`: float32 matrix-multiply GFLOP/s of one thread (torch) times the threads asked for:
  the ceiling of a dense encoder on these cores, at the best share of them the run got.
- `encoder_flops`: the floating-point operations of one pass of a BERT-style encoder.
- `embedding_limits`: an encoder's items/s on some texts, its FLOPs per item, and the items/s
  that `cpu_gflops` would allow.
- `llm_rates`: one call that nothing is cached for, timed by llama.cpp: prompt tokens evaluated
  and tokens decoded per second, the two rates that bound every model call of a turn.
- `machine_limits` and `floors`: one thread's memory read bandwidth and GFLOP/s (`cpu_gflops` on one
  thread), and the least time each query stage of `bench scale` could take at those rates (the bytes
  it reads, the encoder's FLOPs).
- `bench embed` (`add_bench_cli`): the torch and ONNX Runtime encoders side by side on the same
  catalogue texts, in one process, with the cosine of each item's two vectors.

Timings depend on the load of the cores: compare figures of one run, never across machines.
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convrec.core.files import write_json
from convrec.llm.base import LLM

CALIBRATION_WORDS = "river stone lamp orange window garden paper violin cloud market ladder forest".split()


def cpu_gflops(threads: int | None = None, n: int = 512, windows: int = 8, seconds: float = 0.25) -> float:
    """float32 GFLOP/s that `threads` threads (None: torch's count) can reach: `n`x`n` matrix products
    in torch on one thread (2 n^3 operations each), the best of `windows` windows of `seconds` (on
    shared cores the best window is the nearest to what they can do), times the threads. Measured
    on all threads at once, the threads of the shared cores waited for each other (6.1 GFLOP/s on
    two against 22.5 on one, load ~15), a "limit" the ONNX encoder then beat."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = torch.randn(n, n, generator=torch.Generator().manual_seed(0))
        b = a.T.contiguous()
        a @ b  # warm
        best = 0.0
        for _ in range(windows):
            reps, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                a @ b
                reps += 1
            best = max(best, 2 * n**3 * reps / elapsed / 1e9)
    finally:
        torch.set_num_threads(before)
    return best * (threads or before)


def encoder_flops(layers: int, hidden: int, intermediate: int, tokens: int) -> int:
    """Multiply-adds times two of one encoder pass over `tokens` tokens: per layer the four
    attention projections (8 n h^2), the feed-forward block (4 n h f) and the attention scores
    and their weighted sum (4 n^2 h). Embeddings, norms and softmax are left out (under 1 %).

    >>> encoder_flops(6, 384, 1536, 16)  # all-MiniLM-L6-v2 on a 16-token title: 0.34 GFLOP
    342097920
    """
    n, h = tokens, hidden
    return layers * (8 * n * h * h + 4 * n * h * intermediate + 4 * n * n * h)


def text_flops(encoder: Any, text: str) -> float | None:
    """`encoder_flops` of one text for an encoder that shows its tokenizer and model config; None otherwise."""
    tokenizer, config = getattr(encoder, "tokenizer", None), getattr(encoder, "config", None)
    if tokenizer is None or config is None:
        return None
    tokens = len(tokenizer(text)["input_ids"])
    return float(encoder_flops(config.num_hidden_layers, config.hidden_size, config.intermediate_size, tokens))


def machine_limits(mb: int = 256) -> dict[str, float]:
    """What one thread of this machine does now (under whatever load it has): memory read
    bandwidth (a sum over `mb` MB, GB/s) and float32 matrix products (`cpu_gflops` on one thread)."""
    a = np.ones(mb * 2**18, np.float32)
    a.sum()  # pages it in
    started = time.perf_counter()
    a.sum()
    read = a.nbytes / (time.perf_counter() - started) / 1e9
    return {"read_gb_s": round(read, 1), "gflop_s": round(cpu_gflops(threads=1), 1)}


def embedding_limits(encoder: Any, texts: Sequence[str], *, batch_size: int = 64) -> dict[str, Any]:
    """`encoder`'s items/s on `texts`, with its FLOPs per item and the items/s the CPU's measured
    GFLOP/s would allow (both absent for an encoder that shows no tokenizer or model config)."""
    start = time.perf_counter()
    encoder.encode(list(texts), batch_size=batch_size)
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {
        "backend": getattr(encoder, "backend", type(encoder).__name__),
        "items": len(texts),
        "items_per_s": round(len(texts) / max(seconds, 1e-9), 1),
    }
    tokenizer, config = getattr(encoder, "tokenizer", None), getattr(encoder, "config", None)
    if tokenizer is None or config is None or not texts:
        return out
    ids = tokenizer(list(texts), truncation=True, max_length=encoder.max_length)["input_ids"]
    flops = float(
        np.mean(
            [encoder_flops(config.num_hidden_layers, config.hidden_size, config.intermediate_size, len(i)) for i in ids]
        )
    )
    gflops = cpu_gflops()
    return {
        **out,
        "tokens_per_item": round(float(np.mean([len(i) for i in ids])), 1),
        "gflop_per_item": round(flops / 1e9, 3),
        "cpu_gflops": round(gflops, 1),
        "limit_items_per_s": round(gflops * 1e9 / flops, 1),
    }


def llm_rates(llm: LLM, *, words: int = 120, decode: int = 32) -> dict[str, float]:
    """Prompt tokens evaluated and tokens decoded per second in one call whose prompt starts with
    a random word (so no cache holds it), as llama.cpp timed them; empty for a backend without
    timings."""
    text = " ".join([secrets.token_hex(4), *(CALIBRATION_WORDS[i % len(CALIBRATION_WORDS)] for i in range(words))])
    llm.complete([{"role": "user", "content": f"{text}\nRepeat these words."}], max_tokens=decode, temperature=0.0)
    t = getattr(llm, "last_timings", None) or {}
    if not t.get("prompt_ms") or not t.get("predicted_ms"):
        return {}
    return {
        "prompt_tokens": int(t["prompt_n"]),
        "prompt_per_s": round(t["prompt_n"] / t["prompt_ms"] * 1000, 1),
        "decoded_tokens": int(t["predicted_n"]),
        "decode_per_s": round(t["predicted_n"] / t["predicted_ms"] * 1000, 1),
    }


def seconds_at(rates: dict[str, float], evaluated: float, decoded: float) -> float | None:
    """Seconds a call of `evaluated` prompt tokens and `decoded` tokens takes at `rates`.

    >>> seconds_at({"prompt_per_s": 50.0, "decode_per_s": 16.0}, 45, 20)
    2.15
    """
    if not rates:
        return None
    return round(evaluated / rates["prompt_per_s"] + decoded / rates["decode_per_s"], 2)


def floors(row: dict[str, Any], limits: dict[str, float], dim: int, factors: int, flops: float | None) -> dict:
    """The least time each query stage could take on one thread of this machine: the bytes it
    reads at the measured bandwidth (ANN; CF: the factor rows its median search read, beside all of
    them), the encoder's FLOPs at the measured rate (embed)."""
    st, bw = row["stages"], limits["read_gb_s"] * 1e9
    n = row["items"]
    approximate = st["index"]["kind"] != "flat" and st["index"].get("tuning")
    ann_mb = st["index"]["tuning"]["curve"][-1]["mb_read"] if approximate else n * dim * 4 / 2**20
    cf_mb = st["query"]["cf_rows_read"]["p50"] * factors * 4 / 2**20  # a factor model's search: the rows it read
    out = {
        "ann_ms": round(ann_mb * 2**20 / bw * 1000, 3),
        "ann_mb_read": ann_mb,
        "cf_ms": round(cf_mb * 2**20 / bw * 1000, 3),
        "cf_mb_read": round(cf_mb, 2),
        "cf_exhaustive_ms": round(n * factors * 4 / bw * 1000, 3),
    }
    if flops:
        out.update(embed_ms=round(flops / (limits["gflop_s"] * 1e9) * 1000, 2), embed_mflop=round(flops / 1e6, 1))
    return out


def bench_embed(settings: Any, n: int, reps: int = 2) -> dict[str, Any]:
    """torch and ONNX Runtime on the same `n` catalogue texts of index/, alternated `reps` times
    (the best time of each counts); the cosine of each item's two vectors; the CPU's limit."""
    from convrec.data.catalog import Catalog
    from convrec.data.documents import item_text
    from convrec.retrieve.build import make_encoder

    catalog = Catalog.load(Path(settings.index_dir) / "catalog")
    texts = [item_text(catalog.get(int(i)), "") for i in catalog.ids()[:n]]
    encoders = {b: make_encoder(settings.model_copy(update={"embed_backend": b})) for b in ("torch", "onnx")}
    best = {b: float("inf") for b in encoders}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(reps):
        for backend, encoder in encoders.items():
            start = time.perf_counter()
            vectors[backend] = encoder.encode(texts, batch_size=settings.embed_batch_size)
            best[backend] = min(best[backend], time.perf_counter() - start)
    cosine = (vectors["torch"] * vectors["onnx"]).sum(axis=1)
    limits = embedding_limits(encoders["onnx"], texts[: min(n, 256)])
    return {
        "items": len(texts),
        "model": settings.embed_model,
        "items_per_s": {b: round(len(texts) / best[b], 1) for b in encoders},
        "speedup": round(best["torch"] / best["onnx"], 2),
        "cosine_min": round(float(cosine.min()), 6),
        "cosine_mean": round(float(cosine.mean()), 6),
        **{
            k: limits[k]
            for k in ("tokens_per_item", "gflop_per_item", "cpu_gflops", "limit_items_per_s")
            if k in limits
        },
    }


def print_embed(result: dict[str, Any]) -> None:
    print(f"{result['items']} catalogue texts, {result['model']}, {result.get('tokens_per_item', '?')} tokens each")
    print(f"{'backend':<10}{'items/s':>10}")
    for backend, rate in result["items_per_s"].items():
        print(f"{backend:<10}{rate:>10.1f}")
    print(
        f"onnx/torch {result['speedup']:.2f}x; cosine min {result['cosine_min']:.6f}, mean {result['cosine_mean']:.6f}"
    )
    if "limit_items_per_s" in result:
        print(
            f"limit: {result['gflop_per_item']} GFLOP an item at {result['cpu_gflops']} GFLOP/s "
            f"(float32 matrix products, same run) = {result['limit_items_per_s']} items/s"
        )


def add_bench_cli(bench_subparsers: Any) -> None:
    """Register `bench embed` on cli.py's existing `bench` subparsers."""

    b = bench_subparsers.add_parser("embed", help="the encoder on torch and on ONNX Runtime, side by side")
    b.add_argument("--items", type=int, default=2000, help="the first N catalogue items of index/")
    b.add_argument("--reps", type=int, default=2, help="runs of each backend, alternated; the best counts")
    b.add_argument("--out", type=Path, default=Path("reports/bench_embed.json"))
    b.set_defaults(func=cmd_bench_embed)


def cmd_bench_embed(args: argparse.Namespace) -> int:
    from convrec.core.config import settings_from_args

    result = bench_embed(settings_from_args(args), args.items, args.reps)
    write_json(args.out, result)
    print_embed(result)
    print(f"wrote {args.out}")
    return 0
