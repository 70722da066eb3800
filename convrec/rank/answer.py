"""The reply stage: the ranked candidates with their template reasons, and the template reply.

    Answer(catalog, noun)(cands, needs, relaxed=..., asked_last=..., unplaced=...) -> (recs, Reply)

Each reason is written from the candidate's evidence (`Candidates.evidence`, see `convrec.rank.explain`),
in the language of the needs (`convrec.lang`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from convrec.core.types import Candidates, Needs, Rec, Relaxation
from convrec.data.catalog import Catalog
from convrec.lang import Render, render_for
from convrec.rank.explain import template_recs
from convrec.rank.reply import Reply, template_reply

RERANKED = "rerank"  # the column of the scores the model's order was fused into (see `rerank.fuse`)


@dataclass(frozen=True)
class Answer:
    """The reply stage: each candidate with its template reason (from its evidence), and the reply
    and its question (`convrec.rank.reply`)."""

    catalog: Catalog
    noun: str

    def __call__(
        self, cands: Candidates, needs: Needs, *, relaxed: Relaxation | None, asked_last: bool, unplaced: Sequence[int]
    ) -> tuple[list[Rec], Reply]:
        items = [self.catalog.get(int(i)) for i in cands.ids]
        scores = cands.scores[RERANKED] if RERANKED in cands.scores else cands.scores["blend"]
        ties = cands.evidence or []
        render = self.render(needs)
        recs = template_recs(items, scores, needs, ties, render)
        reply = template_reply(
            needs, recs, ties, self.named(needs), relax=relaxed, asked_last=asked_last, render=render,
            unplaced=unplaced,
        )  # fmt: skip
        return recs, reply

    def render(self, needs: Needs) -> Render:
        """The turn's language (its needs') and what an item is called."""
        return render_for(needs, self.noun)

    def named(self, needs: Needs) -> dict[int, str]:
        """item id -> title of the items the person named (liked or disliked)."""
        return {i: self.catalog.get(i).title for i in (*needs.liked, *needs.disliked) if i in self.catalog}
