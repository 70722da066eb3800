"""`convrec bench build`: what knowledge tables cost a build, as a ratio measured in one run.

The same catalogue is built twice with `convrec.retrieve.build.build_index` into scratch directories,
without and with the knowledge tables, alternated `reps` times with one encoder loaded once (its
loading is no part of either build); the best time of each phase counts. The JSON holds each build's
phases (load, embed, FAISS, CF, attributes, total), the ratios with knowledge to without, the mean
length of the documents embedded in characters and in the encoder's tokens (what the embedding's time
follows), the items embedded a second, and the load average the times were taken under: on shared
cores compare the ratios of one run, never times across runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from convrec.core.files import write_json

BUILDS = ("plain", "knowledge")
PHASES = ("load_catalog_s", "embed_s", "faiss_s", "cf_s", "attributes_s", "total_s")


def bench_build(settings: Any, reps: int = 1, scratch: Path | None = None, encoder: Any = None) -> dict[str, Any]:
    """Both builds of `settings`' catalogue, without and with its knowledge tables (`settings.knowledge`),
    alternated `reps` times; the best time of each phase, the ratios and the documents' mean length."""
    from convrec.core.errors import CatalogError
    from convrec.data.catalog import Catalog
    from convrec.data.documents import item_text
    from convrec.retrieve.build import build_index, make_encoder

    knowledge = settings.knowledge
    if not knowledge:
        raise CatalogError("bench build compares a build with knowledge tables: name them with --knowledge FILE")
    encoder = encoder or make_encoder(settings)
    best: dict[str, dict[str, float]] = {b: {} for b in BUILDS}
    chars: dict[str, float] = {}
    tokens: dict[str, float | None] = {}
    per_s: dict[str, float] = {}
    items: dict[str, int] = {}
    loads = []
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        for _ in range(reps):
            for build in BUILDS:
                directory = Path(tmp) / build
                options = {
                    "index_dir": directory,
                    "knowledge": knowledge if build == "knowledge" else "",
                    "details": None,
                }
                manifest, _ = build_index(
                    settings.model_copy(update=options), force=True, progress=False, encoder=encoder, log=lambda _: None
                )
                loads.append(os.getloadavg()[0])
                for phase in PHASES:
                    seconds = manifest["timings"].get(phase, 0.0)
                    best[build][phase] = min(best[build].get(phase, float("inf")), seconds)
                per_s[build] = max(per_s.get(build, 0.0), manifest["embedding"]["items_per_s"])
                catalog = Catalog.load(directory / "catalog")
                documents = [item_text(catalog.get(int(i))) for i in catalog.ids()]
                chars[build], items[build] = sum(map(len, documents)) / max(len(documents), 1), len(documents)
                tokens[build] = _mean_tokens(encoder, documents)
    plain = best["plain"]
    return {
        "items": items,
        "embed_model": settings.embed_model,
        "backend": getattr(encoder, "backend", type(encoder).__name__),
        "knowledge": knowledge,
        "reps": reps,
        "seconds": best,
        "ratio": {phase: round(best["knowledge"][phase] / max(plain[phase], 1e-9), 2) for phase in PHASES},
        "mean_chars": {b: round(c, 1) for b, c in chars.items()},
        "mean_tokens": {b: None if t is None else round(t, 1) for b, t in tokens.items()},
        "items_per_s": per_s,
        "load_average": [round(x, 2) for x in loads],
    }


def _mean_tokens(encoder: Any, documents: list[str]) -> float | None:
    """The documents' mean length in `encoder`'s tokens as it embeds them (truncated, with its special
    tokens); None for an encoder without a tokenizer."""
    tokenizer = getattr(encoder, "tokenizer", None)
    if tokenizer is None or not documents:
        return None
    ids = tokenizer(documents, truncation=True, max_length=encoder.max_length)["input_ids"]
    return sum(map(len, ids)) / len(ids)


def print_build(result: dict[str, Any]) -> None:
    print(
        f"{result['items']['knowledge']:,} items, {result['embed_model']} on {result['backend']}, best of {result['reps']}"
    )
    print(f"{'phase':<16}{'plain s':>10}{'knowledge s':>13}{'ratio':>8}")
    for phase in PHASES:
        plain, knowledge = result["seconds"]["plain"][phase], result["seconds"]["knowledge"][phase]
        print(f"{phase:<16}{plain:>10.1f}{knowledge:>13.1f}{result['ratio'][phase]:>8.2f}")
    chars = result["mean_chars"]
    tokens, per_s = result["mean_tokens"], result["items_per_s"]
    print(f"document: {chars['plain']:.0f} characters plain, {chars['knowledge']:.0f} with knowledge")
    if tokens["plain"] is not None and tokens["knowledge"] is not None:
        print(f"document: {tokens['plain']:.1f} tokens plain, {tokens['knowledge']:.1f} with knowledge")
    print(f"embedded: {per_s['plain']:,.0f} items/s plain, {per_s['knowledge']:,.0f} with knowledge")
    print(f"load average after each build: {result['load_average']}")


def add_bench_cli(bench_subparsers: Any) -> None:
    """Register `bench build` on cli.py's existing `bench` subparsers."""

    b = bench_subparsers.add_parser("build", help="a build without and with knowledge tables, timed in one run")
    b.add_argument(
        "--knowledge", action="append", metavar="FILE", help="a knowledge table (repeatable); CONVREC_KNOWLEDGE"
    )
    b.add_argument("--reps", type=int, default=1, help="builds of each kind, alternated; the best counts")
    b.add_argument("--scratch", type=Path, help="where the two builds are written (default: the system's temp)")
    b.add_argument("--out", type=Path, default=Path("reports/bench_build.json"))
    b.set_defaults(func=cmd_bench_build)


def cmd_bench_build(args: argparse.Namespace) -> int:
    from convrec.core.config import settings_from_args

    result = bench_build(settings_from_args(args), args.reps, args.scratch)
    write_json(args.out, result)
    print_build(result)
    print(f"wrote {args.out}")
    return 0
