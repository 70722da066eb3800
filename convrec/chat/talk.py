"""The rerank and reply stages, and the model's writing of a turn's words.

    Rerank(catalog, prompt, weight)(cands, needs, k, ...) -> Candidates (top k, + "rerank"), facts
    Answer(catalog, noun)(cands, needs, ...) -> recs with template reasons, the template reply (`convrec.rank.answer`)
    Write(answer, ...)(llm, needs, request, cands, recs, reply, unplaced) -> the model's checked words, as they come

and the `Turn` they make.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from convrec.core.types import Candidates, Needs, Rec
from convrec.data.catalog import Catalog
from convrec.llm.base import LLM
from convrec.rank.answer import RERANKED, Answer
from convrec.rank.narrate import Narration, Writing, narrate
from convrec.rank.reply import Reply, TitleSpotter, not_placed
from convrec.rank.rerank import order


@dataclass
class Turn:
    """One answer: the needs understood, the recs, the reply (always a string) and at most one
    question (None when the request was clear enough or the previous answer asked)."""

    needs: Needs
    recs: list[Rec]
    timings_ms: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    reply: str = ""
    question: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "needs": self.needs.to_dict(),
            "reply": self.reply,
            "question": self.question,
            "items": [r.to_dict() for r in self.recs],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            **({"degraded": self.info["degraded"]} if self.info.get("degraded") else {}),
            **(
                {"relaxed": {"exact": self.info["exact"], "dropped": self.info["relaxed"]}}
                if "relaxed" in self.info
                else {}
            ),
        }


def model_does(llm: LLM | None, chosen: bool | None) -> bool:
    """Whether the model takes a step the settings switch with `chosen`: as chosen, else (None)
    every model but the embedded 1.5B one; never without a model."""
    if llm is None:
        return False
    return chosen if chosen is not None else llm.name != "embedded"


@dataclass(frozen=True)
class Rerank:
    """The rerank stage: the top `k` of the blended candidates, the model's order (when a model is
    given) fused into the blend's by `weight` (see `convrec.rank.rerank`)."""

    catalog: Catalog
    prompt: str
    weight: float

    def __call__(
        self, cands: Candidates, needs: Needs, k: int, *, llm: LLM | None, request: str, follow_up: bool = False
    ) -> tuple[Candidates, dict[str, Any]]:
        items = [self.catalog.get(int(i)) for i in cands.ids]
        top, final, info = order(
            items, cands.scores["blend"], needs, k, llm=llm, prompt=self.prompt, request=request,
            weight=self.weight, follow_up=follow_up,
        )  # fmt: skip
        ranked = cands.take(np.array(top, np.int64))
        ranked.scores[RERANKED] = final[top]
        return ranked, info


@dataclass
class Write:
    """Where the model writes the reply or the reasons (`Settings.llm_reply`, `llm_reasons`): the
    turn's words again each time it adds a checked sentence or reason (`convrec.rank.narrate`)."""

    answer: Answer
    genres: Sequence[str]
    titles: Sequence[str]  # the catalogue's, to spot in what the model writes
    reply_prompts: dict[str, str] = field(default_factory=dict)  # by language; none: the template reply stands
    reason_prompts: dict[str, str] = field(default_factory=dict)  # by language; none: the template reasons stand

    @cached_property
    def spotter(self) -> TitleSpotter:
        """Finds the catalogue's titles in what a model wrote (built on first use)."""
        return TitleSpotter(self.titles, self.genres)

    def __call__(
        self, llm: LLM | None, needs: Needs, request: str, cands: Candidates, recs: list[Rec], reply: Reply,
        unplaced: Sequence[int],
    ) -> Iterator[Narration]:  # fmt: skip
        if llm is None or not (self.reply_prompts or self.reason_prompts) or not recs:
            return
        lang = needs.language if needs.language in {**self.reply_prompts, **self.reason_prompts} else "en"
        writing = Writing(
            needs, request, cands.evidence or [], self.answer.named(needs), self.spotter, self.genres,
            reply_prompt=self.reply_prompts.get(lang, ""), reason_prompt=self.reason_prompts.get(lang, ""),
            render=self.answer.render(needs),
        )  # fmt: skip
        note = not_placed(unplaced, writing.words)
        for words in narrate(llm, writing, recs, reply):
            text = words.reply if words.reply.startswith(note) else note + words.reply  # the model knows no list
            yield Narration(list(words.recs), text, dict(words.info))
