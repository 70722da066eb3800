"""The model proposes candidates (generative retrieval, as in He et al., CIKM 2023).

Where the words of a request name no genre, year or title the rules can ground ("a heist movie",
"something uplifting after a rough week"), a model that knows the domain can still name items that
fit. `propose` asks it for up to `n` titles as JSON, matches each to the catalogue with the
`TitleMatcher` (fuzzy, year-aware), and keeps only the matches, best first: a title the catalogue
lacks, or one the model invented, is dropped, never shown. The Recommender fuses the result as one
more score source ("llm", see `convrec.retrieve.blend.rank_scores`), under the same hard filters as
every other candidate.

Budget: one call per turn, at most `max_tokens` decoded (the embedded 1.5B model decodes ~11 tokens a
second here); any failure proposes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from convrec.data.titles import TitleMatcher
from convrec.llm.base import LLM, Message, extract_first_json

log = logging.getLogger(__name__)

PROPOSE_N = 10
PROPOSE_MAX_TOKENS = 160
REQUEST_CHARS = 400


def proposal_schema(n: int) -> dict[str, Any]:
    """The JSON the model's answer is constrained to: a list of at most `n` titles."""
    titles = {"type": "array", "items": {"type": "string", "maxLength": 120}, "maxItems": n}
    return {"type": "object", "properties": {"titles": titles}, "required": ["titles"], "additionalProperties": False}


def propose(
    llm: LLM,
    request: str,
    titles: TitleMatcher,
    *,
    prompt: str,
    n: int = PROPOSE_N,
    exclude: Sequence[int] = (),
    max_tokens: int = PROPOSE_MAX_TOKENS,
) -> list[int]:
    """Catalogue item ids the model names for `request`, best first, each once, none of `exclude`.

    `prompt` is the system prompt (prompts/propose.txt, with the domain and `n` filled in). Never
    raises: a failed call or an unusable answer proposes nothing.
    """
    messages: list[Message] = [
        {"role": "system", "content": prompt},
        {"role": "user", "content": request.strip()[-REQUEST_CHARS:]},
    ]
    try:
        reply = llm.complete(messages, schema=proposal_schema(n), max_tokens=max_tokens, temperature=0.0)
    except Exception as e:  # any failure: the other sources still answer
        log.warning("LLM proposals failed: %s", e)
        return []
    found_json = extract_first_json(reply.text)
    named = json.loads(found_json).get("titles") if found_json else None
    if not isinstance(named, list):
        log.warning("LLM proposals gave no title list: %.200r", reply.text)
        return []
    banned = set(exclude)
    found: list[int] = []
    for title in named[:n]:
        item = titles.match(title) if isinstance(title, str) else None
        if item is not None and item not in banned and item not in found:
            found.append(item)
    return found
