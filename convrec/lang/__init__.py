"""The languages the assistant speaks, looked up by the code `Needs.language` holds.

    language("zh").period(1990, 1999) -> '九十年代'
    detect("推荐几部喜剧") -> 'zh'

A new language is one module beside `en` and `zh` (a `Language` subclass: see `convrec.lang.base`)
and one `register` line below; `tests/test_languages.py` checks every registered one.
"""

from __future__ import annotations

from convrec.core.types import Needs
from convrec.lang.base import Language, Render
from convrec.lang.en import English
from convrec.lang.zh import Chinese

DEFAULT = "en"
LANGUAGES: dict[str, Language] = {}


def register(lang: Language) -> Language:
    """Make `lang` speakable and detectable (a later one with the same code replaces it)."""
    LANGUAGES[lang.code] = lang
    return lang


register(English())
register(Chinese())


def language(code: str) -> Language:
    """The registered language of `code`; the default (English) for any other."""
    return LANGUAGES.get(code) or LANGUAGES[DEFAULT]


def render_for(needs: Needs, noun: str = "movie") -> Render:
    """The render context of a turn: the language of its needs and what an item is called."""
    return Render(language(needs.language), noun)


def detect(text: str) -> str:
    """The code of the first registered language whose script `text` holds, else the default.

    >>> detect("推荐几部喜剧"), detect("a funny movie")
    ('zh', 'en')
    """
    return next((lang.code for lang in LANGUAGES.values() if lang.script and lang.script.search(text)), DEFAULT)


def genre_names(genre: str) -> set[str]:
    """What the registered languages call `genre`, besides its catalogue name.

    >>> sorted(genre_names("Comedy"))
    ['喜剧']
    """
    return {lang.genre(genre) for lang in LANGUAGES.values()} - {genre}
