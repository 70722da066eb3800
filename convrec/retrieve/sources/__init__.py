"""Blend sources by name, in blend order (see `base.Source`). A new source is a module with a class
like `conv.Conv` and one line in `SOURCES`; its column, weight (`CONVREC_W_<NAME>`), evidence and
the evaluations' `--weights` follow from the registry."""

from __future__ import annotations

from collections.abc import Mapping

from convrec.retrieve.sources.base import Column, Library, Query, Source
from convrec.retrieve.sources.builtin import (
    CF,
    LLM,
    About,
    Alike,
    Attr,
    Image,
    Known,
    Pop,
    Pref,
    Text,
    about_words,
    series_left,
)
from convrec.retrieve.sources.conv import Conv

__all__ = ["SOURCES", "Column", "Library", "Query", "Source", "about_words", "series_left", "weights"]

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Text(),
        CF(),
        Pop(),
        Known(),
        Image(),
        LLM(),
        Attr(),
        Alike(),
        Pref(),
        About(),
        Conv(),
    )
}


def weights(configured: Mapping[str, float]) -> dict[str, float]:
    """Every source's weight: `configured` (`Settings.weights`) over the sources' defaults.

    >>> weights({"conv": 0.0})["conv"], weights({})["text"]
    (0.0, 0.6)
    """
    return {name: float(configured.get(name, s.weight)) for name, s in SOURCES.items()}
