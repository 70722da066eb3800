"""Needs + blended candidates -> ordered `Rec`s with grounded one-sentence reasons.

The LLM sees the top few candidates as compact numbered lines and returns, as JSON, either
only an order (`{"order": [3, 1, 2]}`, the default: a handful of tokens) or picks with
reasons (`{"picks": [{"n": 3, "why": "..."}]}`, for stronger models). Everything it says is
checked: a pick must be a listed number, and a reason that mentions a year, genre or title the
item's record does not support is replaced by a template reason built from the record.

Why order-only by default: the embedded 1.5B model, asked for reasons, attached facts of one
candidate to another ("Trading Places ... features a high school setting") and copied the
candidate lines, while costing ~120 extra decoded tokens (~8 s on 2 cores) per turn. The
template reasons state only what the record and the stated needs say.

When the model is disabled, down or returns nothing usable, the blended order stands. The
failure is logged in full, and the turn says only what kind it was (`UNAVAILABLE`): the error
may hold the server's address and a quote of its answer, which are not for the person chatting.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from convrec.core.errors import LLMError
from convrec.core.types import Item, Needs, Rec
from convrec.llm.backends import LLM
from convrec.rank.explain import template_reason, unsupported_claims
from convrec.retrieve.blend import minmax

log = logging.getLogger(__name__)

# LLMError.reason -> what `info["degraded"]` tells the person (the details go to the log)
UNAVAILABLE = {
    "timeout": "the language model did not answer in time",
    "unreachable": "the language model could not be reached",
    "server error": "the language model reported an error",
    "bad answer": "the language model's answer could not be used",
    "error": "the language model was unavailable",
}


def compact_line(n: int, item: Item, skip_genres: frozenset[str] = frozenset()) -> str:
    """One candidate as the LLM sees it: short, facts only. `skip_genres` are left out (the
    genres every candidate shares tell the model nothing and cost tokens).

    >>> compact_line(2, Item(7, "Heat", 1995, ("Action", "Crime"), tags=("heist", "l.a.")))
    '2. Heat (1995) | Action, Crime | heist, l.a.'
    >>> compact_line(2, Item(7, "Heat", 1995, ("Action", "Crime")), frozenset({"Crime"}))
    '2. Heat (1995) | Action'
    """
    fields = [f"{n}. {item.label()}", ", ".join(g for g in item.genres if g not in skip_genres)]
    if item.tags:
        fields.append(", ".join(item.tags[:4]))
    return " | ".join(f for f in fields if f)


def describe_needs(needs: Needs) -> str:
    """The needs in a few words for the prompt.

    >>> describe_needs(Needs(include_genres=("Comedy",), exclude_genres=("Horror",), year_min=1990, year_max=1999))
    'genres: Comedy; not: Horror; years 1990-1999'
    """
    parts = []
    if needs.include_genres:
        parts.append("genres: " + ", ".join(needs.include_genres))
    if needs.exclude_genres:
        parts.append("not: " + ", ".join(needs.exclude_genres))
    if needs.year_min or needs.year_max:
        parts.append(f"years {needs.year_min or ''}-{needs.year_max or ''}")
    if needs.keywords:
        parts.append("about: " + ", ".join(needs.keywords))
    return "; ".join(parts)


REQUEST_CHARS = 300


def rank_request(items: Sequence[Item], needs: Needs, request: str, k: int, *, follow_up: bool = True) -> str:
    """The user message of the rerank call, every line earning its tokens: the request's last
    `REQUEST_CHARS` characters (the latest words matter most), the merged needs only when earlier
    turns shaped them (on a first turn they restate the request), and the candidates without
    the genres they all share.

    >>> items = [Item(1, "Heat", 1995, ("Action", "Crime")), Item(2, "Ronin", 1998, ("Action",))]
    >>> print(rank_request(items, Needs(include_genres=("Action",)), "action please", 1, follow_up=False))
    Request: action please
    Candidates:
    1. Heat (1995) | Crime
    2. Ronin (1998)
    Pick the best 1, best first.
    """
    shared = frozenset.intersection(*(frozenset(it.genres) for it in items)) if items else frozenset()
    described = describe_needs(needs) if follow_up else ""
    lines = [
        f"Request: {tail(request, REQUEST_CHARS)}" if request else "",
        f"Needs: {described}" if described else "",
        "Candidates:",
    ]
    lines += [compact_line(i + 1, it, shared) for i, it in enumerate(items)]
    lines.append(f"Pick the best {k}, best first.")
    return "\n".join(line for line in lines if line)


def tail(text: str, n: int) -> str:
    """The last n characters, cut at a word.

    >>> tail("one two three", 9)
    'three'
    """
    if len(text) <= n:
        return text
    cut = text[-n:]
    return cut.split(" ", 1)[1] if " " in cut else cut


PICKS_SCHEMA_MAX_WHY = 160


def picks_schema(n_candidates: int, k: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "picks": {
                "type": "array",
                "minItems": k,
                "maxItems": k,
                "items": {
                    "type": "object",
                    "properties": {
                        "n": {"type": "integer", "minimum": 1, "maximum": n_candidates},
                        "why": {"type": "string", "maxLength": PICKS_SCHEMA_MAX_WHY},
                    },
                    "required": ["n", "why"],
                },
            }
        },
        "required": ["picks"],
    }


def order_schema(n_candidates: int, k: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "order": {
                "type": "array",
                "minItems": k,
                "maxItems": k,
                "items": {"type": "integer", "minimum": 1, "maximum": n_candidates},
            }
        },
        "required": ["order"],
    }


def rerank(
    items: list[Item],
    scores: Sequence[float] | np.ndarray,
    needs: Needs,
    k: int,
    *,
    llm: LLM | None,
    prompt: str,
    genres: Sequence[str],
    request: str = "",
    llm_reasons: bool = False,
    because: dict[int, str] | None = None,
    weight: float = 1.0,
    follow_up: bool = True,
    noun: str = "movie",
) -> tuple[list[Rec], dict[str, Any]]:
    """Order `items` (already in blended order) and explain the top k.

    `llm_reasons` asks the model for reasons too (checked; see the module docstring);
    `because` maps item id -> the liked title that the collaborative scores tie it to;
    `weight` is how far the model's order moves the blended one (see `fuse`);
    `follow_up` says earlier turns shaped `needs` (see `rank_request`); `noun` is what an item
    is called (see `template_reason`).
    Returns the recs and facts about the call (tokens, whether it degraded and why).
    """
    info: dict[str, Any] = {"llm": False, "prompt_tokens": 0, "completion_tokens": 0}
    because = because or {}
    picks: list[tuple[int, str]] = []
    if llm is not None and items:
        k_llm = min(k, len(items))
        user = rank_request(items, needs, request, k_llm, follow_up=follow_up)
        schema = picks_schema(len(items), k_llm) if llm_reasons else order_schema(len(items), k_llm)
        try:
            out = llm.complete(
                [{"role": "system", "content": prompt}, {"role": "user", "content": user}],
                schema=schema,
                max_tokens=60 * k_llm if llm_reasons else 6 * k_llm + 24,
            )
            info.update(llm=True, prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens)
            picks = _read_picks(out.text, len(items))
        except LLMError as e:
            log.warning("LLM rerank failed (%s), blended order kept: %s", e.reason, e)
            info["degraded"] = UNAVAILABLE.get(e.reason, UNAVAILABLE["error"])
        if info["llm"] and not picks:
            log.warning("LLM rerank answer had no usable order, blended order kept: %.200r", out.text)
            info["degraded"] = UNAVAILABLE["bad answer"]

    reasons: dict[int, tuple[str, str]] = {}
    llm_rank: list[int] = []
    titles = [it.title for it in items]
    for n, why in picks:
        idx = n - 1
        if idx in reasons:
            continue
        item = items[idx]
        grounded = why.strip() and not unsupported_claims(why, item, genres, titles)
        reasons[idx] = (why.strip(), "llm") if grounded else ("", "template")
        if why and not grounded:
            info["rejected_reasons"] = info.get("rejected_reasons", 0) + 1
        llm_rank.append(idx)
    final = fuse(scores, llm_rank, weight)
    recs = []
    for idx in np.argsort(-final, kind="stable")[:k]:
        why, source = reasons.get(idx) or ("", "template")
        item = items[idx]
        recs.append(
            Rec(item, float(final[idx]), why or template_reason(item, needs, because.get(item.item_id), noun), source)
        )
    return recs, info


def fuse(scores: Sequence[float] | np.ndarray, llm_rank: Sequence[int], weight: float) -> np.ndarray:
    """Blend scores (min-max normalised) nudged by the model's order: the model's first pick
    gets `weight`, its last a little, unpicked items nothing.

    A small model's order alone is noisy (the 1.5B default once put a horror film first for
    "like Toy Story"), so it moves items whose blended scores are close, not the whole list.
    weight=1 follows the model entirely; weight=0 ignores it.

    >>> fuse([1.0, 0.9, 0.0], [2, 1], 0.3).round(3).tolist()
    [0.7, 0.78, 0.3]
    """
    final = (1 - weight) * minmax(np.asarray(scores)).astype(np.float64)
    for rank, idx in enumerate(llm_rank):
        final[idx] += weight * (len(llm_rank) - rank) / len(llm_rank)
    return final


def _read_picks(text: str, n_items: int) -> list[tuple[int, str]]:
    """Valid (number, reason) pairs from the model's JSON; anything malformed is skipped.

    >>> _read_picks('{"order": [2, 9, 1]}', 3)
    [(2, ''), (1, '')]
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        match = re.search(r"\{.*\}", text, re.S)
        if not match:
            return []
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            return []
    if isinstance(data, dict) and isinstance(data.get("order"), list):
        return [(n, "") for n in data["order"] if isinstance(n, int) and 1 <= n <= n_items]
    picks = data.get("picks") if isinstance(data, dict) else None
    out = []
    for p in picks if isinstance(picks, list) else []:
        if isinstance(p, dict) and isinstance(p.get("n"), int) and 1 <= p["n"] <= n_items:
            out.append((p["n"], str(p.get("why", ""))[:PICKS_SCHEMA_MAX_WHY]))
    return out
