"""Conversation models for an evaluation that may learn from the dialogues it grades.

When a training file is also the graded file, its conversations are split into K folds (by a
hash of the conversation id, so the split does not depend on file order) and the turns of fold k
are ranked by a model learned from every training dialogue outside fold k: a turn never sees
its own dialogue, nor any other of its fold. A graded conversation that no training file holds
is ranked by the model learned from all of them.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from convrec.data.dialogs import Dialogue, Example, dialogues_of, read_dialogues
from convrec.retrieve.conv import ConvModel
from convrec.serve.learn import conv_params, fit_dialogues

log = logging.getLogger(__name__)


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
    others: Sequence[Dialogue], own: Sequence[Dialogue], fit: Callable[[list[Dialogue]], ConvModel], *, k: int = 5
) -> CrossFit:
    """Models from training dialogues: `others` from files other than the graded one, `own` from
    the graded file itself (empty when it is not a training file), cross-fitted over `k` folds;
    `fit` learns one model (`convrec.serve.learn.fit_dialogues`, what `convrec learn` runs)."""
    if own and k < 2:
        raise ValueError(f"--folds {k}: cross-fitting needs at least 2 folds")
    full = fit([*others, *own])
    if not own:
        return CrossFit(full)
    fold = {d.id: fold_of(d.id, k) for d in own}
    folds = [fit([*others, *(d for d in own if fold[d.id] != f)]) for f in range(k)]
    return CrossFit(full, folds, fold)


def conv_models(train: Sequence[Path], graded: Path, examples: Sequence[Example], rec, folds: int) -> CrossFit:
    """The conversation models of an evaluation: learned from the `train` files, the `graded` file
    among them cross-fitted over `folds` folds (a turn never sees its own dialogue). A dialogue that
    several files hold (a sample and the whole split it was drawn from) counts once."""
    others: dict[str, Dialogue] = {}
    own: list[Dialogue] = []
    for path in train:
        if Path(path).resolve() == Path(graded).resolve():
            own = dialogues_of(examples)
        else:
            others.update((d.id, d) for d in read_dialogues(path, rec.titles) if d.id not in others)
    graded_ids = {e.group for e in examples}
    if leaked := [i for i in others if i in graded_ids]:  # another copy of a graded conversation
        log.warning("left out %d training dialogues that are graded conversations: %s", len(leaked), leaked[:5])
    fit = cross_fit(
        [d for i, d in others.items() if i not in graded_ids],
        own,
        lambda ds: fit_dialogues(ds, rec.catalog, rec.index.ids, **conv_params(rec.settings)),
        k=folds,
    )
    log.info("conversation model: %d dialogues (%d cross-fitted over %d folds)", fit.full.dialogues, len(own), folds)
    return fit
