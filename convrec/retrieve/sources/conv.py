"""The conversation model as a blend source (`convrec learn`, `convrec.retrieve.conv`): what the
dialogues it learnt from brought up together and answered with, from this conversation's items and
words; silent when index/ holds none or it weighs nothing."""

from __future__ import annotations

from convrec.retrieve.conv import needs_words
from convrec.retrieve.sources.base import Column, Library, PerRow, Plain, Query


class Conv(Plain):
    """Weight 2.0: chosen fold by fold on ReDial's development half among 1 / 2 / 3 / 5 (2 in four folds of
    five, R@10 0.201 / 0.206 / 0.205 / 0.203; reports/redial_notes.md). Feedback cannot outweigh the dialogue
    files on any one item (`convrec.serve.learn.Counts.at_most`)."""

    name, weight = "conv", 2.0

    def column(self, library: Library, query: Query) -> Column | None:
        if library.conv is None or self.turn_weight(query.weights, query) <= 0:
            return None
        return PerRow(library, library.conv.column(query.needs.liked, needs_words(query.needs)))
