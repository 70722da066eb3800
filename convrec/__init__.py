"""convrec: an LLM-augmented conversational recommender that runs offline on a CPU.

What a Python user needs is importable from here (loaded on first use, so `import convrec`
loads no model and no heavy library):

    from convrec import Session, Settings, load_recommender

    recommender = load_recommender(Settings(llm="none"))   # index/ built by `convrec build-index`
    session = Session()
    turn = recommender.recommend(session, "a funny 90s movie, nothing with horror")

The stages of a turn live in packages named for them (see README "Layout"):
parse -> select -> retrieve -> blend -> explain -> rerank -> reply, orchestrated by `chat.Recommender`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Settings": "convrec.core.config",
    "ConvrecError": "convrec.core.errors",
    "InputError": "convrec.core.errors",
    "Item": "convrec.core.types",
    "Needs": "convrec.core.types",
    "Rec": "convrec.core.types",
    "Catalog": "convrec.data.catalog",
    "load_catalog": "convrec.data.loaders",
    "build_index": "convrec.retrieve.build",
    "Session": "convrec.chat.session",
    "Recommender": "convrec.chat.recommender",
    "Turn": "convrec.chat.talk",
    "load_recommender": "convrec.chat.load",
}
__all__ = [
    "Catalog", "ConvrecError", "InputError", "Item", "Needs", "Rec", "Recommender", "Session", "Settings", "Turn",
    "build_index", "load_catalog", "load_recommender",
]  # fmt: skip

if TYPE_CHECKING:
    from convrec.chat.load import load_recommender
    from convrec.chat.recommender import Recommender
    from convrec.chat.session import Session
    from convrec.chat.talk import Turn
    from convrec.core.config import Settings
    from convrec.core.errors import ConvrecError, InputError
    from convrec.core.types import Item, Needs, Rec
    from convrec.data.catalog import Catalog
    from convrec.data.loaders import load_catalog
    from convrec.retrieve.build import build_index


def __getattr__(name: str) -> Any:
    """`convrec.Session` and friends, imported when first asked for."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'convrec' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
