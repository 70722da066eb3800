"""Conversation models for an evaluation that may learn from the dialogues it grades.

When a training file is also the graded file, its conversations are split into K folds (by a
hash of the conversation id, so the split does not depend on file order) and the turns of fold k
are ranked by a model learned from every training dialogue outside fold k: a turn never sees
its own dialogue, nor any other of its fold. A graded conversation that no training file holds
is ranked by the model learned from all of them.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from convrec.data.dialogs import Dialogue
from convrec.retrieve.conv import ConvModel


def fold_of(conversation_id: str, k: int) -> int:
    """The fold of a conversation: a stable hash of its id, modulo k.

    >>> fold_of("20001", 5) == fold_of("20001", 5), 0 <= fold_of("x", 3) < 3
    (True, True)
    """
    return zlib.crc32(conversation_id.encode("utf-8")) % k


@dataclass
class CrossFit:
    """Per graded conversation, the model it may be ranked by (see the module docstring)."""

    full: ConvModel
    folds: list[ConvModel] = field(default_factory=list)
    fold: dict[str, int] = field(default_factory=dict)  # conversation id -> fold, for the graded file's

    def model_for(self, conversation_id: str) -> ConvModel:
        f = self.fold.get(conversation_id)
        return self.full if f is None else self.folds[f]


def cross_fit(
    others: Sequence[Dialogue], own: Sequence[Dialogue], item_ids: np.ndarray, *, k: int = 5, **params: float
) -> CrossFit:
    """Models from training dialogues: `others` from files other than the graded one, `own` from
    the graded file itself (empty when it is not a training file), cross-fitted over `k` folds."""
    if own and k < 2:
        raise ValueError(f"--folds {k}: cross-fitting needs at least 2 folds")
    full = ConvModel.fit([*others, *own], item_ids, **params)
    if not own:
        return CrossFit(full)
    fold = {d.id: fold_of(d.id, k) for d in own}
    folds = [ConvModel.fit([*others, *(d for d in own if fold[d.id] != f)], item_ids, **params) for f in range(k)]
    return CrossFit(full, folds, fold)
