"""What `convrec bench scale` (convrec.eval.scale) measured, as a table and a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convrec.eval.plots import pyplot, save


def table(result: dict[str, Any]) -> str:
    """One line per size: build cost per stage, memory, disk, and query latency, each time beside
    its floor on this machine (`convrec.eval.limits`; "-" where the run did not measure it).

    >>> print(table({"sizes": []}).splitlines()[0].split()[:3])
    ['items', 'vectors', 'embed']
    """
    head = (
        f"{'items':>9} {'vectors':<7} {'embed s':>8} {'MiniLM s (floor)':>17} {'index':>12} {'cf':>16} "
        f"{'peak GB':>8} {'index MB':>9} {'p50 ms':>7} {'(emb/ann/cf/blend)':>20} {'floor (emb/ann/cf)':>20} "
        f"{'p95 ms':>7} {'R@10':>6} {'CF@300':>6} {'CF read':>7} {'load':>5}"
    )
    lines = [head]
    for r in result["sizes"]:
        st, q = r["stages"], r["stages"]["query"]
        real = st["embed"]["vectors"].startswith("real")
        minilm = f"{st['embed']['real_all_s']:,}{'' if real else '*'} ({st['embed'].get('limit_all_s', '-')})"
        resumed = "r" if st["embed"].get("embedded", r["items"]) < r["items"] else " "
        parts = "/".join(f"{q[k]['p50_ms']:g}" for k in ("embed", "ann", "cf", "blend"))
        floor = "/".join(str(q.get("floor", {}).get(k, "-")) for k in ("embed_ms", "ann_ms", "cf_ms"))
        read = q.get("cf_rows_read", {}).get("p50")
        lines.append(
            f"{r['items']:>9,} {'real' if real else 'topics':<7} {st['embed']['s']:>7.1f}{resumed} {minilm:>17} "
            f"{st['index']['kind'] + ' ' + format(st['index']['s'], '.1f'):>12} "
            f"{r['cf'] + ' ' + format(st['cf'][r['cf']]['s'], '.1f'):>16} {r['peak_rss_mb'] / 1024:>8.2f} "
            f"{st['index']['disk_mb']:>9.1f} {q['total']['p50_ms']:>7.1f} {parts:>20} {floor:>20} "
            f"{q['total']['p95_ms']:>7.1f} {q['recall@10']:>6.3f} {q.get('cf_overlap@300', float('nan')):>6.3f} "
            f"{read / r['items'] if read is not None else float('nan'):>7.1%} {r['load_avg_1m']:>5.1f}"
        )
    lines += [
        "* MiniLM s: extrapolated from a 1,000-item slice; that size's vectors are topic vectors",
        "MiniLM floor: the catalogue's encoder FLOPs at the matrix-product GFLOP/s of every thread, same run",
        "r embed s: resumed, only the vectors an interrupted run had not written were made",
        "floor: one thread, same run: the query's encoder FLOPs at its GFLOP/s; the bytes the ANN and the CF",
        "  search read at its read bandwidth (blend: no floor measured)",
        "CF@300: share of the exhaustive fold-in's top 300 the turn's CF search found; CF read: median share",
        "  of the items the CF search read (a factor model reads them in norm order and stops)",
    ]
    return "\n".join(lines)


def plot_scale(result: dict[str, Any], path: Path) -> None:
    """Log-log cost against catalogue size: build seconds per stage, memory and disk, query latency."""
    plt = pyplot()

    rows = result["sizes"]
    n = [r["items"] for r in rows]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    build = {
        "embed (as run; resumed runs left out)": [
            r["stages"]["embed"]["s"] if r["stages"]["embed"].get("embedded", r["items"]) == r["items"] else np.nan
            for r in rows
        ],
        "embed, real MiniLM (measured or extrapolated)": [r["stages"]["embed"]["real_all_s"] for r in rows],
        "index": [r["stages"]["index"]["s"] for r in rows],
        "cf fit": [r["stages"]["cf"][r["cf"]]["s"] for r in rows],
        "catalogue": [r["stages"]["catalogue"]["s"] for r in rows],
    }
    for label, ys in build.items():
        axes[0].plot(n, ys, "o-", label=label)
    axes[0].set_ylabel("seconds")
    axes[0].set_title("build, per stage")
    axes[1].plot(n, [r["peak_rss_mb"] for r in rows], "o-", label="peak RSS")
    axes[1].plot(n, [r["stages"]["index"]["disk_mb"] for r in rows], "s-", label="index on disk")
    axes[1].plot(n, [r["disk_mb"]["vectors"] for r in rows], "^-", label="vectors on disk")
    axes[1].set_ylabel("MB")
    axes[1].set_title("memory and disk")
    for key in ("embed", "ann", "cf", "blend", "total"):
        axes[2].plot(n, [r["stages"]["query"][key]["p50_ms"] for r in rows], "o-", label=f"{key} p50")
    axes[2].axhline(50, color="k", lw=0.8, ls="--", label="target 50 ms")
    axes[2].set_ylabel("ms per query")
    axes[2].set_title("one chat turn's retrieval")
    for ax in axes[:3]:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("items")
        ax.legend(fontsize=7)
    for r in rows:  # the IVF tuning's recall–cost curve, where the size was tuned
        curve = (r["stages"]["index"].get("tuning") or {}).get("curve", [])
        if curve:
            axes[3].plot([c["mb_read"] for c in curve], [c["recall@10"] for c in curve], "o-", label=f"{r['items']:,}")
            axes[3].plot([r["stages"]["index"]["tuning"]["exact_mb_read"]], [1.0], "k*")
    axes[3].axhline(0.95, color="k", lw=0.8, ls=":")
    axes[3].set_xscale("log")
    axes[3].set_xlabel("MB read a query (★ exact search)")
    axes[3].set_ylabel("recall@10 against exact")
    axes[3].set_title("index tuning: nprobe or shortlist doubled until 0.95")
    axes[3].legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)
