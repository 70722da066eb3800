"""`convrec eval report`: a markdown report with plots from the JSON that `eval redial`, `eval
dialogs` and `eval simulate` wrote. It only reads those files, so it runs in a second and never
re-runs a model; every number in it comes with the command that produced it.

Plots: Recall@K curves per system (with He et al.'s GPT-4 and GPT-3.5 anchors dashed) and the
latency of one turn per system.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from convrec.data.dialogs import KS
from convrec.eval.plots import pyplot, save


def _load(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _label(run: dict[str, Any]) -> str:
    cfg = run.get("config", {})
    prior = " + ReDial prior" if cfg.get("redial_prior") else ""
    kind = "" if run.get("anchors") else ", eval dialogs on a plain table"
    return f"{cfg.get('catalog', '?')}{prior}{kind}"


def _conv(cfg: dict[str, Any]) -> str:
    """How a run's conversation model was learnt, for its header line ("" when the run does not say).

    >>> _conv({"data": "a.jsonl", "conv": {"train_dialogs": ["a.jsonl"], "folds": 5}})
    '; conversation model: learnt from a.jsonl (the graded file cross-fitted over 5 folds)'
    >>> _conv({"conv": {"train_dialogs": []}}), _conv({})
    ('; conversation model: none', '')
    """
    conv = cfg.get("conv")
    if conv is None:
        return ""
    if not conv.get("train_dialogs"):
        return "; conversation model: none"
    folds = (
        f" (the graded file cross-fitted over {conv['folds']} folds)"
        if cfg.get("data") in conv["train_dialogs"]
        else ""
    )
    return f"; conversation model: learnt from {', '.join(conv['train_dialogs'])}{folds}"


def _fmt(m: dict[str, Any], k: int, ci_key: str = "ci95") -> str:
    v = m.get(f"recall@{k}")
    if v is None:
        return "–"
    ci = (m.get(ci_key) or {}).get(f"recall@{k}")
    if not ci or None in ci:
        return f"{v:.3f}"
    return f"{v:.3f} [{max(ci[0], 0.0):.3f}, {min(ci[1], 1.0):.3f}]"  # a normal interval clipped to [0, 1]


def recall_table(systems: dict[str, dict[str, Any]], anchors: dict[str, dict[str, Any]] | None = None) -> list[str]:
    lines = [
        "| system | n turns | pairs | " + " | ".join(f"R@{k}" for k in KS) + " |",
        "|---|---:|---:|" + "---|" * len(KS),
    ]
    for name, m in systems.items():
        lines.append(
            f"| {name} | {m.get('n', '')} | {m.get('pairs', '')} | " + " | ".join(_fmt(m, k) for k in KS) + " |"
        )
    for name, m in (anchors or {}).items():
        lines.append(f"| *{name}* | | | " + " | ".join(_fmt(m, k) for k in KS) + " |")
    return lines


def print_recall(result: dict[str, Any]) -> None:
    """An `eval redial` / `eval dialogs` result as a terminal table: recall at each cutoff per system (and on
    the turns sampled for the model), the published anchors, and what the targets covered."""

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
    print(
        f"coverage {t['coverage']:.1%} ({t['targets_in_catalogue']} of {t['targets']} targets); "
        f"{t['repeated_targets_dropped']} repeated targets dropped; n = {t['n']} turns"
        + ("; * = He et al. 2023, whole ReDial test split" if result.get("anchors") else "")
    )


def _curve(m: dict[str, Any]) -> tuple[list[int], list[float]]:
    """The Ks a run reports (older runs stop at 20) and its Recall@K at each.

    >>> _curve({"recall@1": 0.1, "recall@10": 0.3, "recall@50": None})
    ([1, 10], [0.1, 0.3])
    """
    ks = [k for k in KS if m.get(f"recall@{k}") is not None]
    return ks, [m[f"recall@{k}"] for k in ks]


def plot_recall(runs: list[dict[str, Any]], path: Path) -> None:
    plt = pyplot()

    fig, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 4), squeeze=False)
    for ax, run in zip(axes[0], runs):
        for name, m in run["systems"].items():
            ax.plot(*_curve(m), marker="o", label=f"{name} (n={m['n']})")
        for name, m in (run.get("llm_sample") or {}).get("systems", {}).items():
            if name == "blend+llm":
                ax.plot(*_curve(m), marker="s", label=f"{name} (sample n={m['n']})")
        styles = iter(["--", ":", "-."])
        for name, m in run.get("anchors", {}).items():
            if len(_curve(m)[0]) > 1:
                ax.plot(*_curve(m), linestyle=next(styles), color="grey", alpha=0.8, label=name)
        ax.set_xticks(KS)
        ax.set_xlabel("K")
        ax.set_ylabel("Recall@K")
        ax.set_title(_label(run), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def plot_latency(run: dict[str, Any], simulate: dict[str, Any] | None, path: Path) -> None:
    plt = pyplot()

    rows = dict(run["systems"])
    rows.update({k: v for k, v in (run.get("llm_sample") or {}).get("systems", {}).items() if k not in rows})
    names = list(rows)
    mean = [rows[n]["latency_ms"]["mean"] for n in names]
    p95 = [rows[n]["latency_ms"]["p95"] for n in names]
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], mean, width=0.4, label="mean")
    ax.bar([x + 0.2 for x in xs], p95, width=0.4, label="p95")
    if simulate:
        sim = [simulate["systems"].get(n, {}).get("latency_ms_per_turn") for n in names]
        ax.scatter(
            [x for x, v in zip(xs, sim) if v],
            [v for v in sim if v],
            color="black",
            zorder=3,
            label="simulator chat turn (mean)",
        )
    ax.set_xticks(list(xs), names)
    ax.set_yscale("log")
    ax.set_ylabel("ms per turn (log)")
    ax.set_title("Latency of one graded turn (2 shared CPU cores)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    save(fig, path)


def write_report(inputs: list[Path], simulate_path: Path | None, out: Path, notes: Path | None = None) -> None:
    """Write `out` (markdown) and its PNGs next to it; `notes` (markdown written by a person) is
    appended as it is, for what the numbers mean."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = [_load(p) for p in inputs]
    simulate = _load(simulate_path) if simulate_path else None
    lines = ["# Conversational evaluation: ReDial Recall@K and a simulated seeker", ""]
    lines += [
        "Protocol (He et al., CIKM 2023): every recommender utterance that mentions a movie is a turn; its context is",
        "the dialogue before it with `@id` mentions rendered as titles; its targets are the movies it mentions that the",
        "context did not (repeated movies are shortcuts); targets map to the catalogue by title and year (fuzzy);",
        "Recall@K is averaged over (turn, target) pairs, over in-catalogue targets, with the items the context mentions",
        "removed from every ranking. `[lo, hi]` is the 95 % interval of He et al. (1.96 standard errors over pairs); the",
        "JSON also holds a wider interval from resampling whole conversations (`ci95_conversations`).",
        "",
    ]
    if runs:
        png = out.with_name(out.stem + "_recall.png")
        plot_recall(runs, png)
        lines += [f"![Recall@K per system]({png.name})", ""]
    for path, run in zip(inputs, runs):
        cfg = run.get("config", {})
        t = run["targets"]
        lines += [f"## {_label(run)} — `{path}`", ""]
        if run.get("command"):
            lines += [f"Command: `{run['command']}`", ""]
        lines += [
            f"Data `{cfg.get('data')}`; catalogue {cfg.get('catalog')} ({cfg.get('items', '?')} items"
            + (f", {cfg.get('added')} ReDial-only movies added" if cfg.get("added") else "")
            + "); "
            f"coverage **{t['coverage']:.2%}** ({t['targets_in_catalogue']} of {t['targets']} non-repeated targets); "
            f"{t['repeated_targets_dropped']} repeated targets dropped; n = {t['n']} turns.",
            f"Blend weights {cfg.get('weights')}; popularity half-life {cfg.get('pop_half_life_days')} days"
            + (f" as of {cfg['pop_as_of']}" if cfg.get("pop_as_of") else "")
            + "; "
            f"ReDial prior: {'yes' if cfg.get('redial_prior') else 'no'}; LLM: {cfg.get('llm')} "
            f"(orders the blended top {cfg.get('llm_window')}){_conv(cfg)}.",
            "",
        ]
        lines += recall_table(run["systems"], run.get("anchors"))
        if run.get("llm_sample"):
            s = run["llm_sample"]
            lines += ["", f"On the {s['turns']} turns drawn for the LLM (seed {s['seed']}), every system:", ""]
            lines += recall_table(s["systems"])
        lines.append("")
    if runs:
        png = out.with_name(out.stem + "_latency.png")
        plot_latency(runs[0], simulate, png)
        lines += ["## Latency", "", f"![latency per turn]({png.name})", ""]
        lines += ["| system | mean ms | p50 ms | p95 ms |", "|---|---:|---:|---:|"]
        rows = dict(runs[0]["systems"])
        rows.update((runs[0].get("llm_sample") or {}).get("systems", {}))
        for name, m in rows.items():
            lat = m["latency_ms"]
            lines.append(f"| {name} | {lat['mean']} | {lat['p50']} | {lat['p95']} |")
        lines += [
            "",
            "Query embeddings are computed in one batch before the turns are timed, so the non-LLM rows",
            "exclude the ~10-40 ms a single MiniLM query costs; the LLM row is dominated by the model's call.",
            "",
        ]
    if simulate:
        lines += [
            "## Simulated seeker",
            "",
            f"{simulate['episodes']} episodes (seed {simulate['seed']}), at most {simulate['max_turns']} turns, "
            f"lists of {simulate['k']}; a miss counts as {simulate['max_turns']} turns.",
            "",
            "| system | episodes | Hit@5 | Hit@10 | avg turns | title leaks |",
            "|---|---:|---|---|---:|---:|",
        ]
        for name, m in simulate["systems"].items():
            lines.append(
                f"| {name} | {m['episodes']} | {m['hit@5']:.3f} | {m['hit@10']:.3f} | {m['avg_turns']:.2f} | {m['leaks']} |"
            )
        if simulate.get("llm_episodes"):
            le = simulate["llm_episodes"]
            lines += [
                "",
                f"On the {le['episodes']} episodes run with the LLM:",
                "",
                "| system | Hit@5 | Hit@10 | avg turns |",
                "|---|---|---|---:|",
            ]
            for name, m in le["systems"].items():
                lines.append(f"| {name} | {m['hit@5']:.3f} | {m['hit@10']:.3f} | {m['avg_turns']:.2f} |")
        if simulate.get("example"):
            ex = simulate["example"]
            lines += ["", f"Example episode (target *{ex['target']}*, never named by the seeker):", ""]
            for said, shown in zip(ex["seeker_said"], ex["lists"]):
                lines.append(f"- seeker: “{said}” → {', '.join(shown[:5])} …")
        lines.append("")
    if notes and Path(notes).is_file():
        lines += [Path(notes).read_text(encoding="utf-8").strip(), ""]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
