"""Model-written item profiles, as stored: what a language model wrote about an item at build time.

A profile is a premise (one sentence), moods and themes, written by the configured model for an item
whose catalogue record says little (`convrec profiles`, see `convrec.llm.profiles`). It is kept apart
from the item's catalogue facts on purpose: it feeds retrieval (the text an item is embedded from,
and the attribute vocabulary of `convrec.retrieve.attributes`), never a reason or a reply, which state
catalogue facts only. One JSON object per line in index/profiles.jsonl, keyed by item id and by the
title it was written for (a profile of another title under the same id is ignored).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from convrec.core.types import Item

log = logging.getLogger(__name__)

PROFILES = "profiles.jsonl"


@dataclass(frozen=True)
class Profile:
    item_id: int
    label: str  # the item's "Title (Year)" when it was written
    model: str
    premise: str = ""
    moods: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()

    def words(self) -> tuple[str, ...]:
        """Its moods and themes: attributes of the item, as a model wrote them."""
        return tuple(dict.fromkeys((*self.moods, *self.themes)))

    def text(self) -> str:
        """What is embedded beside the item's own text, marked as model-written.

        >>> Profile(1, "Heat (1995)", "m", "A crew robs banks.", ("tense",), ("heist",)).text()
        'About (model-written): A crew robs banks. Mood: tense. Themes: heist.'
        """
        parts = ["About (model-written):"]
        if self.premise:
            parts.append(self.premise.rstrip(".") + ".")
        if self.moods:
            parts.append(f"Mood: {', '.join(self.moods)}.")
        if self.themes:
            parts.append(f"Themes: {', '.join(self.themes)}.")
        return " ".join(parts)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def read_profiles(path: Path, items: dict[int, Item] | None = None) -> dict[int, Profile]:
    """The profiles in `path` (none when it is missing), the last line per item winning; with
    `items`, only those written for the item's current title. A broken line is skipped with a
    warning: it is a cache, rewritten by the next `convrec profiles`."""
    path = Path(path)
    if not path.is_file():
        return {}
    out: dict[int, Profile] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            p = Profile(
                int(d["item_id"]),
                str(d["label"]),
                str(d["model"]),
                str(d.get("premise", "")),
                tuple(map(str, d.get("moods", ()))),
                tuple(map(str, d.get("themes", ()))),
            )
        except (ValueError, KeyError, TypeError) as e:
            log.warning("%s line %d: not a profile (%s); skipped", path, n, e)
            continue
        if items is None or (p.item_id in items and items[p.item_id].label() == p.label):
            out[p.item_id] = p
    return out


def on_items(items: Mapping[int, Item], profiles: Mapping[int, Profile]) -> dict[int, Item]:
    """`items` with each profile on its item's record (`Item.written`, `Item.profile`): the one record
    every stage reads.

    >>> on_items({1: Item(1, "Heat")}, {1: Profile(1, "Heat", "m", "", ("tense",))})[1].written
    ('tense',)
    """
    return {
        i: replace(item, written=profiles[i].words(), profile=profiles[i].text()) if i in profiles else item
        for i, item in items.items()
    }
