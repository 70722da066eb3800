"""The model writes item profiles once, at build time: `convrec profiles [--limit N]`.

Where a catalogue says little about its items (the default MovieLens one has titles and genres
only), the configured model writes each item a premise, moods and themes as JSON (prompts/profile.txt,
one item per call: given several, the 1.5B embedded model attached one film's facts to another).
Items go most popular first, so that a bounded run (`--limit`) covers the items people ask about;
each profile is appended to index/profiles.jsonl as soon as it is written, so an interrupted run
resumes where it stopped, and a profile is rewritten only for a new title or model (`--force`).
The next `convrec build-index` embeds them beside the item's text and adds their moods and themes
to the attribute vocabulary, as model-written (see `convrec.data.profiles`); they are never shown.

What a run costs is reported per item and per 1,000 items (seconds, prompt and decoded tokens).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from convrec.core.files import write_json
from convrec.core.types import Item
from convrec.data.documents import item_text
from convrec.data.profiles import PROFILES, Profile, read_profiles
from convrec.llm.base import LLM, Message, Metered, extract_first_json

log = logging.getLogger(__name__)

MAX_TOKENS = 120  # a premise and ten short words; the embedded model decodes ~11 tokens a second
WORD_CHARS = 30
FACT_CHARS = 400  # of an item's document in the prompt: ~100 tokens, evaluated anew for every item


def profile_schema() -> dict[str, Any]:
    """The JSON a profile is constrained to."""
    words = {"type": "array", "items": {"type": "string", "maxLength": WORD_CHARS}}
    return {
        "type": "object",
        "properties": {
            "premise": {"type": "string", "maxLength": 240},
            "moods": {**words, "maxItems": 4},
            "themes": {**words, "maxItems": 6},
        },
        "required": ["premise", "moods", "themes"],
        "additionalProperties": False,
    }


def facts(item: Item) -> str:
    """What the model is told of one item: its catalogue record (its document, shortened), nothing else.

    >>> facts(Item(1, "Heat", 1995, ("Action", "Crime"), tags=("heist",)))
    'Heat (1995). Genres: Action, Crime. Tags: heist.'
    """
    return item_text(item, max_chars=FACT_CHARS)


def _words(value: Any, n: int) -> tuple[str, ...]:
    """Short lower-case words from a model's list, at most `n`, without repeats or empty ones.

    >>> _words(["Tense", " heist ", "", 3, "tense", "a" * 40], 4)
    ('tense', 'heist')
    """
    if not isinstance(value, list):
        return ()
    out = [v.strip().casefold() for v in value if isinstance(v, str)]
    return tuple(dict.fromkeys(w for w in out if w and len(w) <= WORD_CHARS))[:n]


def write_profile(llm: LLM, item: Item, prompt: str, model: str) -> Profile | None:
    """One item's profile, or None when the model fails or answers with nothing usable."""
    messages: list[Message] = [{"role": "system", "content": prompt}, {"role": "user", "content": facts(item)}]
    try:
        reply = llm.complete(messages, schema=profile_schema(), max_tokens=MAX_TOKENS, temperature=0.0)
        raw = extract_first_json(reply.text)
        data = json.loads(raw) if raw else None
    except Exception as e:  # a failed item is skipped; the run goes on
        log.warning("%s: no profile (%s)", item.label(), e)
        return None
    if not isinstance(data, dict):
        return None
    premise = data["premise"] if isinstance(data.get("premise"), str) else ""
    profile = Profile(
        item.item_id,
        item.label(),
        model,
        premise.strip()[:240],
        _words(data.get("moods"), 4),
        _words(data.get("themes"), 6),
    )
    return profile if profile.premise or profile.words() else None


@dataclass
class ProfileRun:
    """What one run did and what it cost."""

    written: int = 0
    kept: int = 0  # already written for this title and model
    failed: int = 0
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def per_1k(self) -> dict[str, float]:
        """Seconds and tokens per 1,000 items written (calls that failed count in the cost)."""
        calls = max(self.written + self.failed, 1)
        scale = 1000 / calls
        return {
            "hours": round(self.seconds * scale / 3600, 2),
            "prompt_tokens": round(self.prompt_tokens * scale),
            "completion_tokens": round(self.completion_tokens * scale),
        }


def write_profiles(
    llm: LLM,
    items: Sequence[Item],
    index_dir: Path,
    *,
    prompt: str,
    model: str,
    limit: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> ProfileRun:
    """Profiles for the most popular `limit` items (all by default), appended to
    index_dir/profiles.jsonl one by one; items already profiled for their title by `model` are kept."""
    path = Path(index_dir) / PROFILES
    done = {} if force else read_profiles(path, {it.item_id: it for it in items})
    chosen = sorted(items, key=lambda it: -it.popularity)[:limit]
    todo = [it for it in chosen if not (it.item_id in done and done[it.item_id].model == model)]
    run = ProfileRun(kept=len(chosen) - len(todo))
    metered = Metered(llm)

    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with path.open("a", encoding="utf-8") as out:
        for item in tqdm(todo, desc="profiles", unit="item", disable=not progress):
            profile = write_profile(metered, item, prompt, model)
            if profile is None:
                run.failed += 1
                continue
            out.write(profile.to_json() + "\n")
            out.flush()
            run.written += 1
    run.seconds = time.perf_counter() - started
    run.prompt_tokens, run.completion_tokens = metered.prompt_tokens, metered.completion_tokens
    return run


def cmd_profiles(args: Any) -> int:
    """`convrec profiles`: write the profiles of the index's catalogue (see the module docstring)."""
    from convrec.core.config import settings_from_args
    from convrec.core.errors import IndexMissing, InputError
    from convrec.data.catalog import Catalog
    from convrec.llm.backends import make_llm
    from convrec.llm.templates import load_prompt

    settings = settings_from_args(args)
    llm = make_llm(settings)
    if llm is None:
        raise InputError("profiles are written by a model: choose one with --llm embedded|openai|transformers")
    index_dir = Path(settings.index_dir)
    try:
        catalog = Catalog.load(index_dir / "catalog")
    except (OSError, ValueError) as e:
        raise IndexMissing(f"{index_dir}/ holds no catalogue ({e}): run `convrec build-index` first.") from e
    model = f"{llm.name}:{settings.llm_model}" if llm.name == "openai" else llm.name
    prompt = load_prompt("profile", domain=settings.domain_noun)
    run = write_profiles(
        llm, list(catalog.items.values()), index_dir, prompt=prompt, model=model, limit=args.limit, force=args.force,
        progress=sys.stderr.isatty(),
    )  # fmt: skip
    calls = run.written + run.failed
    report = {"model": model, "limit": args.limit, **asdict(run), "per_item_s": round(run.seconds / max(calls, 1), 2),
              "per_1000_items": run.per_1k()}  # fmt: skip
    print(f"profiles by {model}: {run.written} written, {run.kept} kept, {run.failed} failed in {run.seconds:.0f} s")
    print(f"cost per 1,000 items: {report['per_1000_items']}; run `convrec build-index` to embed them")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_json(Path(args.out), report)
    return 0


def add_cli(subparsers: Any) -> None:
    p = subparsers.add_parser("profiles", help="the model writes each item a premise, moods and themes (build time)")
    p.add_argument("--limit", type=int, default=None, help="the most popular N items only (default: all)")
    p.add_argument("--force", action="store_true", help="rewrite the profiles already written")
    p.add_argument("--out", type=Path, default=None, help="write what the run did and cost as JSON")
    p.set_defaults(func=cmd_profiles)
