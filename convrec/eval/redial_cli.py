"""`convrec eval redial|dialogs|simulate|report`: the command line of the dialogue evaluations
(wired into `convrec eval` by cli.py). Each command prints a table and writes JSON under reports/.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convrec.core.config import settings_from_args
from convrec.core.files import write_json
from convrec.data.dialogs import (
    KS,
    DataError,
    Example,
    coverage,
)
from convrec.eval.crossfit import conv_models
from convrec.eval.redial import (
    ANCHORS,
    REDIAL_AS_OF,
    REDIAL_YEAR,
    SHARED,
    SYSTEMS,
    TAKEN_UP,
    Reading,
    System,
    evaluate,
    make_systems,
    sample_indices,
    shown,
    summarise,
    unix_day,
)
from convrec.eval.redial_catalog import prepare_index, redial_counts, with_redial_prior
from convrec.eval.report import print_recall
from convrec.serve.learn import conv_params

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# The command line (wired into `convrec eval` by cli.py)


def add_eval_cli(eval_subparsers) -> None:
    """Add `redial`, `dialogs`, `simulate` and `report` to the `convrec eval` subcommands."""
    r = eval_subparsers.add_parser(
        "redial", help="Recall@1/5/10/20 on ReDial (He et al. 2023 protocol), with baselines"
    )
    r.add_argument("--data", type=Path, help="ReDial .jsonl (default ../shared/data/redial/test_dev.jsonl)")
    r.add_argument("--movies", type=Path, help="ReDial's movies_with_mentions.csv (default: next to --data)")
    r.add_argument(
        "--catalog",
        dest="eval_catalog",  # not the global `--catalog` setting (a bring-your-own catalogue file)
        default="redial-merged",
        help="redial-merged (ml-latest-small + ReDial's movie list; default), ml-latest-small, "
        "configured (the global --index-dir as is) or a catalogue directory",
    )
    r.add_argument(
        "--redial-prior",
        action="store_true",
        help="popularity from ReDial's own mention counts (less --data's): in-domain training statistics",
    )
    r.add_argument("--now-year", type=int, default=REDIAL_YEAR, help="what 'recent' is relative to (default 2018)")
    r.add_argument(
        "--train-dialogs",
        type=Path,
        nargs="*",
        help="dialogues the conversation model learns from: ReDial .jsonl or id,context,target .csv "
        "(default: the graded --data file and every train*.jsonl beside it; the option with no file: "
        "no conversation model). The graded file among them is cross-fitted by conversation (--folds)",
    )
    r.add_argument("--folds", type=int, default=5, help="folds of the cross-fitting (default 5)")
    r.add_argument(
        "--knowledge",
        action="append",
        metavar="FILE",
        help="a knowledge table (TMDB, IMDb, keywords.csv; repeatable, as build-index takes them): the catalogue "
        "gets its own index, its ReDial films bridged to ../shared/data/ml-25m by title and year (default: none)",
    )
    r.add_argument(
        "--export-table",
        type=Path,
        help="also write the graded turns as a CSV (id, context, target) that `eval dialogs` reads",
    )
    _common(r, REDIAL_AS_OF)
    r.set_defaults(func=cmd_eval_redial)

    d = eval_subparsers.add_parser("dialogs", help="Recall@K on any 'dialogue context -> target title' .csv/.jsonl")
    d.add_argument("--data", type=Path, required=True)
    d.add_argument("--context-col", required=True)
    d.add_argument("--target-col", required=True)
    d.add_argument("--id-col", help="a column to key predictions by (default: the row number)")
    d.add_argument("--target-sep", help="separator of several targets in one cell, e.g. '|'")
    d.add_argument(
        "--catalog",
        dest="eval_catalog",
        default="configured",
        help="configured (default: the global --index-dir), ml-latest-small, redial-merged or a catalogue directory",
    )
    d.add_argument("--now-year", type=int, default=None)
    _common(d, None)
    d.add_argument(
        "--movies", type=Path, help="ReDial's movie list, for --catalog redial-merged (default: ../shared/data/redial/)"
    )
    d.set_defaults(func=cmd_eval_dialogs, redial_prior=False)

    s = eval_subparsers.add_parser("simulate", help="a rule-based seeker who knows the target but not its title")
    s.add_argument("--data", type=Path, help="ReDial .jsonl whose turns give contexts and targets")
    s.add_argument("--movies", type=Path)
    s.add_argument("--catalog", dest="eval_catalog", default="redial-merged")
    s.add_argument("--episodes", type=int, default=100)
    s.add_argument("--llm-episodes", type=int, default=20, help="episodes (the first N) run with blend+llm")
    s.add_argument("--max-turns", type=int, default=5)
    s.add_argument("--systems", default="popularity,blend,blend+llm")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--pop-half-life", type=float, default=365.0)
    s.add_argument("--pop-as-of", default=REDIAL_AS_OF, help="popularity counted as of this date (YYYY-MM-DD)")
    s.add_argument("--weights", default="0.2,0.4,0.4", help="blend weights text,cf,pop")
    s.add_argument("--redial-prior", action="store_true")
    s.add_argument("--now-year", type=int, default=REDIAL_YEAR)
    s.add_argument("--json", action="store_true")
    s.add_argument("--out", type=Path, default=Path("reports/simulate.json"))
    s.set_defaults(func=cmd_eval_simulate)

    rp = eval_subparsers.add_parser(
        "report", help="reports/redial.md with plots, from the JSON the other commands wrote"
    )
    rp.add_argument("--inputs", type=Path, nargs="+", default=[Path("reports/redial.json")])
    rp.add_argument("--simulate", type=Path, default=Path("reports/simulate.json"))
    rp.add_argument("--out", type=Path, default=Path("reports/redial.md"))
    rp.add_argument(
        "--notes", type=Path, default=Path("reports/redial_notes.md"), help="hand-written findings to append"
    )
    rp.set_defaults(func=cmd_eval_report)


def _common(p: argparse.ArgumentParser, as_of: str | None) -> None:
    p.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help=f"comma-separated, from {', '.join(SYSTEMS)}, or any blend source alone (about, pref, ...)",
    )
    p.add_argument(
        "--weights",
        default="0.2,0.4,0.4",
        help="blend weights for blend and blend+llm: text,cf,pop (default 0.2,0.4,0.4), source=weight pairs "
        "by source name (convrec.retrieve.sources), or 'settings' for Settings'",
    )
    p.add_argument(
        "--pop-half-life",
        type=float,
        default=365.0,
        help="popularity counts ratings with this half-life in days (0: all-time counts)",
    )
    p.add_argument(
        "--pop-as-of",
        default=as_of,
        help="count that popularity as of this date, YYYY-MM-DD (default "
        + (f"{as_of}, when the graded dialogues were collected)" if as_of else "the newest rating)"),
    )
    p.add_argument("--liked-from", choices=["seeker", TAKEN_UP, "all"], default=TAKEN_UP)
    p.add_argument(
        "--genres",
        choices=["hard", "soft"],
        default="hard",
        help="genres the seeker said: the chat's filter (hard, default) or only searched as text (soft; not "
        "what the chat does: a study of the filter's cost)",
    )
    p.add_argument(
        "--llm-sample",
        type=int,
        default=100,
        help="turns (random, --seed) that run through blend+llm; every system is also reported on them",
    )
    p.add_argument("--llm-window", type=int, default=10, help="how many of the blended top the LLM orders")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="grade only the first N turns (for quick runs)")
    p.add_argument("--predictions", type=Path, help="write one JSON line per graded turn: key, ranked titles and ids")
    p.add_argument("--bootstrap", type=int, default=1000, help="conversation-bootstrap draws for ci95_conversations")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--out", type=Path, help="where to write the full JSON (default reports/<command>.json)")


def _weights(text: str, configured: Mapping[str, float]) -> dict[str, float]:
    """Blend weights from "text,cf,pop", from "source=weight,..." by source name, or "settings" (the
    configured text, cf and pop); `configured` holds every registered source's weight.

    >>> every = {"text": 0.6, "cf": 0.3, "pop": 0.1, "conv": 1.0}
    >>> _weights("0.2,0.4,0.4", every), _weights("conv=2,text=0.5", every), _weights("settings", every)["pop"]
    ({'text': 0.2, 'cf': 0.4, 'pop': 0.4}, {'conv': 2.0, 'text': 0.5}, 0.1)
    """
    if text == "settings":
        return {name: configured[name] for name in ("text", "cf", "pop")}
    try:
        if "=" in text:
            pairs = dict(pair.split("=", 1) for pair in text.split(","))
            unknown = sorted(set(pairs) - set(configured))
            if unknown:
                raise ValueError(f"--weights: no source {', '.join(unknown)}; the sources are {', '.join(configured)}")
            return {name.strip(): float(w) for name, w in pairs.items()}
        t, c, p = (float(x) for x in text.split(","))
    except ValueError as e:
        if str(e).startswith("--weights"):
            raise
        raise ValueError(
            f"--weights {text!r}: give three numbers text,cf,pop such as 0.2,0.4,0.4, or source=weight pairs"
        ) from None
    return {"text": t, "cf": c, "pop": p}


def _setup(args: argparse.Namespace, movies: Path | None):
    """(recommender, catalogue facts, systems, llm note) for the eval commands."""
    from convrec.chat.load import load_recommender

    settings = settings_from_args(args)
    settings, cat_info = prepare_index(settings, args.eval_catalog, movies, log_fn=lambda m: log.info("%s", m))
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    note = None
    if "blend+llm" in names and settings.llm == "none":
        names.remove("blend+llm")
        note = "blend+llm skipped: --llm none"
    rec = load_recommender(settings, llm="auto" if "blend+llm" in names else None)
    llm = rec.llm
    systems = make_systems(
        rec,
        names,
        llm=llm,
        llm_window=getattr(args, "llm_window", 10),
        reading=Reading(
            liked_from=getattr(args, "liked_from", TAKEN_UP),
            genres=getattr(args, "genres", "hard"),
            now_year=args.now_year,
        ),
        half_life_days=args.pop_half_life or None,
        as_of=unix_day(args.pop_as_of),
        weights=_weights(args.weights, rec.ranking.blend.weights),
    )
    return rec, cat_info, systems, note


def cmd_eval_redial(args: argparse.Namespace) -> int:
    from convrec.data.dialogs import Resolver, read_redial

    data = Path(args.data or SHARED / "redial" / "test_dev.jsonl")
    movies = Path(args.movies or data.parent / "movies_with_mentions.csv")
    if not data.is_file():
        raise DataError(f"{data}: no ReDial file; pass --data FILE.jsonl")
    rec, cat_info, systems, note = _setup(args, movies)
    resolve = Resolver(rec.titles)
    examples = list(read_redial(data, resolve))
    beside = sorted(data.parent.glob("train*.jsonl"))  # ReDial's training dialogues, when they are beside it
    train = [data, *beside] if args.train_dialogs is None else args.train_dialogs
    if train and systems:
        systems[0].shared.conv = conv_models(train, data, examples, rec, args.folds)
    cat_info["conv"] = {"train_dialogs": [shown(p) for p in train], "folds": args.folds, **conv_params(rec.settings)}
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
    from convrec.data.dialogs import read_table

    rec, cat_info, systems, note = _setup(args, args.movies or SHARED / "redial" / "movies_with_mentions.csv")
    examples = list(
        read_table(
            args.data, args.context_col, args.target_col, rec.titles, id_col=args.id_col, target_sep=args.target_sep
        )
    )
    return _run_and_report(args, "dialogs", examples, rec, systems, cat_info, note, args.data)


def _run_and_report(
    args,
    command: str,
    examples: list[Example],
    rec,
    systems: list[System],
    cat_info: dict[str, Any],
    note: str | None,
    data: Path,
) -> int:
    if args.limit:
        gradable = [n for n, e in enumerate(examples) if e.gradable][: args.limit]
        examples = examples[: gradable[-1] + 1] if gradable else []
    sample = sample_indices(examples, args.llm_sample, args.seed) if any(s.llm for s in systems) else None
    only = {"blend+llm": sample} if sample is not None else None
    main = next((s.name for s in systems if s.llm and sample is None), None) or (
        "blend" if any(s.name == "blend" for s in systems) else systems[-1].name
    )
    out_file = None
    if args.predictions:
        args.predictions.parent.mkdir(parents=True, exist_ok=True)
        out_file = args.predictions.open("w", encoding="utf-8")

    def write(record: dict[str, Any]) -> None:
        ranked = record["systems"].get(main) or {}
        line = {k: v for k, v in record.items() if k != "systems"}
        line.update(
            system=main,
            titles=ranked.get("titles", []),
            item_ids=ranked.get("item_ids", []),
            others={k: v for k, v in record["systems"].items() if k != main},
        )
        assert out_file is not None  # `write` is passed on only with a predictions file
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
        "data": shown(data),
        "items": len(rec.catalog),
        **cat_info,
        "weights": _weights(args.weights, rec.ranking.blend.weights),
        "pop_half_life_days": args.pop_half_life,
        "pop_as_of": args.pop_as_of,
        "redial_prior": bool(args.redial_prior),
        "liked_from": args.liked_from,
        "genres": getattr(args, "genres", "hard"),
        "now_year": args.now_year,
        "llm": rec.settings.llm if any(s.llm for s in systems) else "none",
        "llm_window": args.llm_window,
        "embed_model": rec.settings.embed_model,
        **({"note": note} if note else {}),
    }
    result["command"] = "convrec " + shlex.join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("convrec") else None
    result["wall_s"] = round(time.perf_counter() - started, 1)
    out = args.out or Path(f"reports/{command}.json")
    write_json(out, result)
    if args.json:
        print(json.dumps({k: result[k] for k in (*[f"recall@{k}" for k in KS], "n", "coverage")}))
    else:
        print_recall(result)
        print(f"wrote {out}" + (f" and {args.predictions}" if args.predictions else ""))
    return 0


def cmd_eval_simulate(args: argparse.Namespace) -> int:
    from convrec.chat.recommender import Recommender
    from convrec.data.dialogs import Resolver, read_redial
    from convrec.eval.simulate import pick_targets, simulate
    from convrec.eval.simulate import summarise as summarise_episodes

    data = Path(args.data or SHARED / "redial" / "test_dev.jsonl")
    movies = Path(args.movies or data.parent / "movies_with_mentions.csv")
    args.llm_window = 10
    rec, cat_info, systems, note = _setup(args, movies)
    resolve = Resolver(rec.titles)
    examples = list(read_redial(data, resolve))
    if args.redial_prior:
        with_redial_prior(systems, redial_counts(rec, movies, resolve, minus=[data]))
    chosen = pick_targets(examples, args.episodes, args.seed)
    result: dict[str, Any] = {
        "episodes": len(chosen),
        "seed": args.seed,
        "max_turns": args.max_turns,
        "k": 10,
        "systems": {},
        "config": {
            **cat_info,
            "redial_prior": args.redial_prior,
            "pop_half_life_days": args.pop_half_life,
            "pop_as_of": args.pop_as_of,
            "weights": _weights(args.weights, rec.ranking.blend.weights),
            **({"note": note} if note else {}),
        },
    }
    started = time.perf_counter()
    runs: dict[str, list[Any]] = {}
    for s in systems:
        # a chat (its select loosens constraints) over this system's prior and weights, no conversation model
        chat = Recommender(rec.catalog, rec.index, rec.cf, rec.encoder, s.llm, rec.settings)
        library = s.ranking.retrieve.library.with_(conv=None)
        chat.ranking = chat.ranking.with_library(library).with_(
            blend=chat.ranking.blend.with_(weights=s.ranking.blend.weights, library=library)
        )
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
        result["llm_episodes"] = {
            "episodes": n,
            "systems": {k: summarise_episodes(v[:n], args.max_turns) for k, v in runs.items()},
        }
    first = next(iter(runs.values()), [])
    if first:
        ep = first[0]
        result["example"] = {
            "target": rec.catalog.get(ep.target).label(),
            "seeker_said": ep.said,
            "lists": [[rec.catalog.get(i).label() for i in ids] for ids in ep.lists],
        }
    result["wall_s"] = round(time.perf_counter() - started, 1)
    write_json(args.out, result)
    if args.json:
        print(
            json.dumps(
                {
                    k: {m: v[m] for m in ("hit@5", "hit@10", "avg_turns", "leaks", "episodes")}
                    for k, v in result["systems"].items()
                }
            )
        )
    else:
        print(f"{'system':<14}{'episodes':>9}{'Hit@5':>8}{'Hit@10':>8}{'turns':>7}{'leaks':>7}")
        for name, m in result["systems"].items():
            print(
                f"{name:<14}{m['episodes']:>9}{m['hit@5']:>8.3f}{m['hit@10']:>8.3f}{m['avg_turns']:>7.2f}{m['leaks']:>7}"
            )
        print(f"wrote {args.out}")
    return 0


def cmd_eval_report(args: argparse.Namespace) -> int:
    from convrec.eval.report import write_report

    write_report(
        [p for p in args.inputs if p.is_file()],
        args.simulate if args.simulate.is_file() else None,
        args.out,
        args.notes,
    )
    print(f"wrote {args.out}")
    return 0
