"""The conversation model as a blend source (`convrec learn`, `convrec.retrieve.conv`): what the
dialogues it learnt from brought up together and answered with, from this conversation's items and
words; silent when index/ holds none or it weighs nothing."""

from __future__ import annotations

from convrec.retrieve.conv import needs_words
from convrec.retrieve.sources.base import Column, Library, PerRow, Plain, Query


class Conv(Plain):
    name, weight = "conv", 1.0

    def column(self, library: Library, query: Query) -> Column | None:
        if library.conv is None or self.turn_weight(query.weights, query) <= 0:
            return None
        return PerRow(library, library.conv.column(query.needs.liked, needs_words(query.needs)))
