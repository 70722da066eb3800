"""Needs + blended candidates -> their order, the model's fused into the blend's (reasons: `explain`).

The LLM sees the top few candidates as compact numbered lines and returns, as JSON, only an
order (`{"order": [3, 1, 2]}`: a handful of tokens); a listed number is all it can say. It never
writes reasons here: given all candidates at once, the embedded 1.5B model attached facts of one
candidate to another ("Trading Places ... features a high school setting"). Where the model
writes reasons, `convrec.rank.narrate` gives it one item's record at a time.

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
from convrec.core.types import Item, Needs
from convrec.llm.base import LLM
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


def order(
    items: list[Item],
    scores: Sequence[float] | np.ndarray,
    needs: Needs,
    k: int,
    *,
    llm: LLM | None,
    prompt: str,
    request: str = "",
    weight: float = 1.0,
    follow_up: bool = True,
) -> tuple[list[int], np.ndarray, dict[str, Any]]:
    """The positions of the top k of `items` (already in blended order, `scores`) once the model's
    order is fused in, best first, and every item's fused score (see `fuse`).

    `weight` is how far the model's order moves the blended one; `follow_up` says earlier turns
    shaped `needs` (see `rank_request`). Also returns facts about the call (tokens, whether it
    degraded and why).
    """
    info: dict[str, Any] = {"llm": False, "prompt_tokens": 0, "completion_tokens": 0}
    picked: list[int] = []
    if llm is not None and items:
        k_llm = min(k, len(items))
        user = rank_request(items, needs, request, k_llm, follow_up=follow_up)
        try:
            out = llm.complete(
                [{"role": "system", "content": prompt}, {"role": "user", "content": user}],
                schema=order_schema(len(items), k_llm),
                max_tokens=6 * k_llm + 24,
            )
            info.update(llm=True, prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens)
            picked = _read_order(out.text, len(items))
        except LLMError as e:
            log.warning("LLM rerank failed (%s), blended order kept: %s", e.reason, e)
            info["degraded"] = UNAVAILABLE.get(e.reason, UNAVAILABLE["error"])
        if info["llm"] and not picked:
            log.warning("LLM rerank answer had no usable order, blended order kept: %.200r", out.text)
            info["degraded"] = UNAVAILABLE["bad answer"]
    final = fuse(scores, picked, weight)
    return [int(i) for i in np.argsort(-final, kind="stable")[:k]], final, info


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


def _read_order(text: str, n_items: int) -> list[int]:
    """The valid, distinct 0-based positions of the model's JSON order; anything malformed is skipped.

    >>> _read_order('{"order": [2, 9, 1, 2]}', 3)
    [1, 0]
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
    order = data.get("order") if isinstance(data, dict) else None
    picked = [n - 1 for n in order if isinstance(n, int) and 1 <= n <= n_items] if isinstance(order, list) else []
    return list(dict.fromkeys(picked))
