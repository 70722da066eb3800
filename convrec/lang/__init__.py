"""The languages the assistant speaks, looked up by the code `Needs.language` holds.

    language("zh").period(1990, 1999) -> '九十年代'
    detect("推荐几部喜剧") -> 'zh'

A new language is one module beside `en` and `zh` (a `Language` subclass: see `convrec.lang.base`)
and one `register` line below for the assistant to speak it; `tests/test_languages.py` checks every
registered one. For the rules to read its words, they go into `convrec.parse.lexicon` too.
"""

from __future__ import annotations

import re

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


def vague_words() -> frozenset[str]:
    """Words that say nothing about what to rank by, in any registered language."""
    return frozenset().union(*(lang.vague_words for lang in LANGUAGES.values()))


def year_pattern() -> re.Pattern[str]:
    """A year as any registered language writes it, not as part of a decade ('1990s', '1990年代').

    >>> year_pattern().findall("1995, the 1990s, 1990年代")
    ['1995']
    """
    suffixes = "|".join(lang.decade_suffix for lang in LANGUAGES.values())
    return re.compile(rf"(?<!\d)(1[89]\d\d|20\d\d)(?!\d|{suffixes})")


def decade_pattern() -> re.Pattern[str]:
    """A decade as any registered language writes it ('the 80s', '1980s', '八十年代'): see `decade_digit`."""
    return re.compile("|".join(lang.decades for lang in LANGUAGES.values()))


def decade_digit(match: re.Match[str]) -> int:
    """The tens digit of a decade `decade_pattern` found.

    >>> [decade_digit(m) for m in decade_pattern().finditer("the 80s, 1990s, 七十年代")]
    [8, 9, 7]
    """
    digit = next(g for g in match.groups() if g)
    if digit.isdigit():
        return int(digit)
    return next(lang.digits.index(digit) for lang in LANGUAGES.values() if digit in lang.digits)
