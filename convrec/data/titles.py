"""Resolve titles a person types to catalogue items.

`TitleMatcher.match("toy story (1995)")` resolves one title; `TitleMatcher.find_in_text`
finds the titles a chat message mentions ("something like Heat and Ronin"). Both compare a
normalised form (`normalize_title`): an exact hit wins, then a fuzzy one (rapidfuzz `ratio`)
above a high bar, and only when the numbers agree ("Toy Story 3" never becomes "Toy Story 2").

In free text a span counts as a title only after a cue ("like X", "similar to X", "I loved X",
"喜欢X") or inside quotes ("X", “X”, 《X》). A short or everyday word ("it", "up", "heat") must
also be capitalised or quoted, because catalogues hold films called "It", "Up", "Her", "Go".
Chinese titles (《泰坦尼克号》, 阿甘正传) go through a lexicon to English ones (convrec.data.titles_zh).

Left out on purpose: English titles mentioned without a cue or quotes ("Heat was great"), as chat
text is full of words that are also titles, and a wrong liked item does more harm than a missed one.
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from convrec.core.types import Item
from convrec.data.titles_zh import CUES_ZH, ZhTitles

MATCH_CUTOFF = 88.0  # fuzz.ratio for a title on its own: a typo or two in a ten-letter title
FIND_CUTOFF = 92.0  # stricter in free text, where most spans after a cue are not titles
MIN_FUZZY_CHARS = 6  # shorter normalised titles must match exactly
MIN_LOWERCASE_CHARS = 5  # a one-word title written in lower case needs at least this many letters
MAX_SPAN_WORDS = 8  # the longest title tried after a cue
MIN_STEM_CHARS = 8  # "harry potter" may stand for the titles it begins, when it is this long
YEAR_TOLERANCE = 1  # release years differ by one between sources (festival vs. theatrical)

ARTICLES = frozenset({"the", "a", "an"})

# The words that introduce a title. Negative ones ("unlike", "hated") are here too: which
# mentions are liked and which disliked is for the caller (convrec.parse.rules) to decide.
CUES_EN = (
    "similar to", "such as", "along the lines of", "in the vein of", "reminds me of", "the likes of",
    "same vibe as", "the vibe of", "vibe of", "same feel as", "the feel of", "in the style of", "same mood as",
    "reminiscent of", "akin to", "comparable to", "close to", "fan of", "rather than", "instead of", "as good as",
    "like", "likes", "liked", "love", "loves", "loved", "enjoy", "enjoys", "enjoyed", "adore", "adored", "hate",
    "hated", "dislike", "disliked", "unlike",
)  # fmt: skip

# A cue followed by one of these (in lower case) is not about a title: "I'd like to", "like that".
NON_TITLE_STARTS = frozenset(
    "to that this those these them it its something anything nothing some any one ones more less "
    "most much many a lot very really so too what how when where if me you him her us watching "
    "seeing movies films stuff kind sort type i i'd i'm we they he she".split()
)

# Everyday words that must be capitalised or quoted to count as a one-word title.
COMMON_WORDS = NON_TITLE_STARTS | frozenset(
    "and or but the of in on at by for with from about after before over under again there here "
    "which while still never always today tonight watch movie film comedy comedies horror action "
    "drama dramas thriller thrillers romance crime western westerns mystery fantasy musical musicals "
    "documentary animation animated family kids children funny scary great little night house world "
    "other others another people something everything everyone someone anyone whatever something "
    "older newer recent classic classics heist space series sequel sequels second third first last "
    "number".split()
)

SEQUEL_WORDS = frozenset({"vol", "vol.", "volume", "part", "chapter", "episode"})
# Words that may follow a title written in lower case ("i liked hangover really much").
FOLLOW_WORDS = frozenset(
    "and or but nor too also so as is was were are be been being has had have with by from in on at for to "
    "of which that who because since if when while though although really very quite a an the it its i you "
    "we they he she my your lol haha yet still did does do didn't don't doesn't than then like please was "
    "much more a lot so much movie film one".split()
)
_PRONOUNS = frozenset({"i", "i'm", "i'd", "i've", "i'll"})
# Small words inside titles ("Guardians of the Galaxy"): after a title, they may continue it.
GLUE_WORDS = frozenset("of the a an in on at to for from with de la le du des der von".split())
_TRAILING_ARTICLE = re.compile(r",\s*(the|a|an|la|le|les|l'|il|el|los|las|das|der|die|den|det)\s*$", re.IGNORECASE)
_YEAR_SUFFIX = re.compile(r"\s*[(\[]\s*(\d{4})\s*[)\]]\s*$")
_PARENTHESIS = re.compile(r"^(.*\S)\s*\(([^()]*)\)\s*$")
_AKA = re.compile(r"^\s*(?:a\.?k\.?a\.?|also known as)\s+", re.IGNORECASE)
_ROMAN = frozenset("ii iii iv v vi vii viii ix x xi xii".split())
_APOSTROPHES = re.compile(r"['’`´]")
_NON_WORD = re.compile(r"[\W_]+")

_CUE = re.compile(
    r"(?<![\w'’])(?:"
    + "|".join(re.escape(c).replace(r"\ ", r"\s+") for c in sorted(CUES_EN, key=len, reverse=True))
    + r")(?=\s)"
    + "|(?:"
    + "|".join(sorted(CUES_ZH, key=len, reverse=True))
    + ")",
    re.IGNORECASE,
)
# Quoted spans; each alternative has one group. Plain single quotes need a non-word on both sides
# so that apostrophes ("don't ... it's") never pair up.
_QUOTED = re.compile(
    r'"([^"\n]{1,80})"|“([^”\n]{1,80})”|《([^》\n]{1,80})》|「([^」\n]{1,80})」|『([^』\n]{1,80})』'
    r"|‘([^’\n]{1,80})’|(?<![\w'])'([^'\n]{1,80})'(?![\w'])"
)
_YEAR_AFTER_QUOTE = re.compile(r"\s*\((1[89]\d\d|20\d\d)\)")
# Where a span after a cue stops for sure: a line break, a quote, a CJK character.
_SPAN_END = re.compile(r"[\n\"“”《》「」『』\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
_POSITION_REF = re.compile(
    r"(?:#\s*\d|no\.\s*\d|number\s+\w+|(?:the\s+)?(?:first|second|third|fourth|fifth|sixth|seventh|"
    r"eighth|ninth|tenth|last|\d+(?:st|nd|rd|th))(?:\s+(?:one|ones|option|movie|film|pick|suggestion|"
    r"recommendation|title)\b|\s*(?:[,.;!?)]|$)))",
    re.IGNORECASE,
)
_WORD = re.compile(r"\S+")
_PAUSE = re.compile(r"[,;#]\s")
_FILLER = re.compile(r"(?:the\s+)?(?:movie|film)\s+(?=\S)", re.IGNORECASE)
_CONNECTOR = re.compile(
    r"[!?.]?(?:\s*(?:,|，|、|&|\band\b|\bor\b|\bplus\b|\balso\b|和|與|与|以及|或者?|还有|還有))+\s*", re.IGNORECASE
)


@dataclass(frozen=True)
class Mention:
    """A catalogue title found in a message: the item, where its title is, and the cue before it."""

    item_id: int
    start: int
    end: int
    cue: str  # the cue as written, lower-cased ("like", "similar to", "喜欢"), or "quote"
    cue_start: int


def split_year(title: str) -> tuple[str, int | None]:
    """Take a trailing "(1995)" off a title.

    >>> split_year("Toy Story (1995)")
    ('Toy Story', 1995)
    >>> split_year("Heat")
    ('Heat', None)
    """
    m = _YEAR_SUFFIX.search(title)
    if not m:
        return title.strip(), None
    return title[: m.start()].strip(), int(m.group(1))


def strip_accents(s: str) -> str:
    """Drop combining marks.

    >>> strip_accents("Amélie")
    'Amelie'
    """
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def normalize_title(title: str) -> str:
    """The form titles are compared in: no case, accents, punctuation or leading article.

    A MovieLens-style trailing article ("Godfather, The") is dropped too, a foreign one moved
    to the front ("Cité des enfants perdus, La" -> "la cite des enfants perdus").

    >>> normalize_title("The Lord of the Rings: The Fellowship of the Ring")
    'lord of the rings the fellowship of the ring'
    >>> normalize_title("Lord of the Rings: The Fellowship of the Ring, The")
    'lord of the rings the fellowship of the ring'
    >>> normalize_title("Schindler's List"), normalize_title("Fast & Furious")
    ('schindlers list', 'fast and furious')
    """
    title = title.strip()
    m = _TRAILING_ARTICLE.search(title)
    if m:
        title = f"{m.group(1)} {title[: m.start()]}"
    s = strip_accents(title).casefold().replace("&", " and ")
    s = _NON_WORD.sub(" ", _APOSTROPHES.sub("", s)).strip()
    words = s.split()
    if len(words) > 1 and words[0] in ARTICLES:
        words = words[1:]
    return " ".join(words)


def title_variants(title: str) -> tuple[list[str], list[str]]:
    """Normalised keys for one catalogue title: (full titles, looser prefixes).

    Full titles are the title and any alternative in parentheses; the looser prefix is the part
    before a colon when it has two words or more ("Star Wars").

    >>> title_variants("Seven (a.k.a. Se7en) (1995)")
    (['seven', 'se7en'], [])
    >>> title_variants("Star Wars: Episode IV - A New Hope (1977)")
    (['star wars episode iv a new hope'], ['star wars'])
    """
    title, _ = split_year(title)
    names: list[str] = []
    while m := _PARENTHESIS.match(title):
        names.append(_AKA.sub("", m.group(2)))
        title = m.group(1)
    names.insert(0, title)
    full = list(dict.fromkeys(k for k in map(normalize_title, names) if k))
    prefix = []
    if ":" in title:
        head = normalize_title(title.split(":", 1)[0])
        if len(head.split()) >= 2 and head not in full:
            prefix.append(head)
    return full, prefix


def _numbers(key: str) -> frozenset[str]:
    """The number-like words of a normalised title, which a fuzzy match must keep.

    >>> sorted(_numbers("rocky ii")), sorted(_numbers("toy story 3"))
    (['ii'], ['3'])
    """
    return frozenset(w for w in key.split() if w.isdigit() or w in _ROMAN)


def _looks_like_title(key: str, raw: str) -> bool:
    """Whether a span may be a title: short or everyday words must be capitalised.

    >>> _looks_like_title("it", "it"), _looks_like_title("it", "It"), _looks_like_title("matrix", "the matrix")
    (False, True, True)
    """
    words = key.split()
    capitalised = _capitalised(raw)
    if len(words) == 1:
        word = words[0]
        return capitalised or (len(word) >= MIN_LOWERCASE_CHARS and word not in COMMON_WORDS)
    return capitalised or not all(w in COMMON_WORDS for w in words)


def _capitalised(raw: str) -> bool:
    """Whether a word other than an article starts with a capital.

    >>> _capitalised("the Matrix"), _capitalised("The matrix")
    (True, False)
    """
    return any(w[:1].isupper() for w in raw.split() if w.casefold() not in ARTICLES)


def title_occurs(title: str, text: str, *, cutoff: float = 85.0) -> bool:
    """Whether `title` is (nearly) written in `text`: the check that a model did not invent it.

    Long titles may be misspelt (rapidfuzz `partial_ratio`); short or one-word ones must appear as
    whole words and, when short or everyday, quoted or capitalised.

    >>> title_occurs("Toy Story", "something like toy storey please"), title_occurs("The Matrix", "I loved matrix")
    (True, True)
    >>> title_occurs("It", "I liked it a lot"), title_occurs("It", "I liked It a lot")
    (False, True)
    """
    key = normalize_title(split_year(title)[0])
    if not key:
        return False
    if len(key) >= MIN_FUZZY_CHARS and " " in key:
        return fuzz.partial_ratio(key, normalize_title(text)) >= cutoff
    if any(normalize_title(_quoted_text(m)) == key for m in _QUOTED.finditer(text)):
        return True
    wanted = key.split()
    words = [(normalize_title(w), w) for w in re.findall(r"[\w'’]+", text)]
    for i in range(len(words) - len(wanted) + 1):
        window = words[i : i + len(wanted)]
        if [n for n, _ in window] == wanted and _looks_like_title(key, " ".join(w for _, w in window)):
            return True
    return False


def _quoted_text(m: re.Match[str]) -> str:
    return m.group(m.lastindex or 0)


class TitleMatcher:
    """Fuzzy title lookup over a catalogue (built once; 10k titles take well under a second).

    >>> tm = TitleMatcher([Item(1, "Toy Story", 1995, popularity=9), Item(2, "Heat", 1995), Item(3, "Heat", 1986)])
    >>> tm.match("toy storey"), tm.match("Heat"), tm.match("Heat (1986)"), tm.match("Heat", 2010)
    (1, 2, 3, None)
    >>> tm.find_in_text("a funny movie like Toy Story, or Heat")
    [1, 2]
    """

    def __init__(self, items: Iterable[Item]) -> None:
        self._items: dict[int, Item] = {}
        self._exact: dict[str, list[int]] = {}
        self._prefix: dict[str, list[int]] = {}
        for item in items:
            self._items[item.item_id] = item
            full, prefix = title_variants(item.title)
            for key in full:
                self._exact.setdefault(key, []).append(item.item_id)
            for key in prefix:
                self._prefix.setdefault(key, []).append(item.item_id)
        self._choices = list(self._exact)
        self._sorted = sorted(self._exact)
        self._zh = ZhTitles(lambda title, year: self._exactly((title_variants(title)[0] or [""])[0], year, stems=False))

    def __len__(self) -> int:
        return len(self._items)

    def item(self, item_id: int) -> Item:
        return self._items[item_id]

    def match(self, title: str, year: int | None = None) -> int | None:
        """The item a title names, or None when nothing is close enough.

        A "(1995)" at the end of `title` is used as the year when `year` is not given. A year must
        agree within one; among equal titles the closest year, then the most popular item wins.
        """
        title, year_in_title = split_year(title)
        if (item_id := self._zh.lookup(title)) is not None:  # a Chinese title, through the lexicon
            return item_id
        key = normalize_title(title)
        if not key:
            return None
        return self._lookup(key, year if year is not None else year_in_title, MATCH_CUTOFF)

    def find_in_text(self, text: str) -> list[int]:
        """Item ids of the titles a message mentions after a cue or in quotes, in order, once each."""
        return list(dict.fromkeys(m.item_id for m in self.find_mentions(text)))

    def find_mentions(self, text: str) -> list[Mention]:
        """Like `find_in_text`, with where each title is and which cue introduced it."""
        found = [Mention(*m) for m in self._zh.find(text)]  # Chinese titles, through the lexicon
        taken = [(m.cue_start, m.end + (m.cue == "quote")) for m in found]
        for m in _QUOTED.finditer(text):
            if any(a <= m.start() < b for a, b in taken):
                continue
            taken.append(m.span())
            inner = _quoted_text(m)
            if _POSITION_REF.fullmatch(inner.strip()):
                continue
            title, year = split_year(inner)
            after = _YEAR_AFTER_QUOTE.match(text, m.end())  # '"American Pie" (1999)': the year is the title's
            if after and year is None:
                taken[-1] = (m.start(), after.end())
                year = int(after.group(1))
            key = normalize_title(title)
            item_id = self._lookup(key, year, MATCH_CUTOFF) if key else None
            if item_id is not None:
                end = after.end() if after else m.end(m.lastindex or 0)
                found.append(Mention(item_id, m.start(m.lastindex or 0), end, "quote", m.start()))
        for cue in _CUE.finditer(text):
            if not any(a <= cue.start() < b for a, b in taken):
                for mention in self._after_cue(text, cue):
                    found.append(mention)
                    taken.append((mention.start, mention.end))
        return sorted(found, key=lambda m: m.start)

    # -- internals ---------------------------------------------------------------------------

    def _after_cue(self, text: str, cue: re.Match[str]) -> list[Mention]:
        """Titles right after one cue: the longest span that resolves, then any joined by "and"/","."""
        mentions: list[Mention] = []
        cue_text = " ".join(cue.group(0).lower().split())
        pos = cue.end()
        while True:
            tokens = _tokens(text, pos)
            filler = _FILLER.match(text, tokens[0][0]) if tokens else None
            if filler:  # "I loved the movie Heat"
                tokens = _tokens(text, filler.end())
            if not tokens or _starts_non_title(text, tokens):
                break
            hit = self._longest(text, tokens)
            if hit is None:
                break
            item_id, end = hit
            mentions.append(Mention(item_id, tokens[0][0], end, cue_text, cue.start()))
            joined = _CONNECTOR.match(text, end)
            if not joined:
                break
            pos = joined.end()
        return mentions

    def _longest(self, text: str, tokens: list[tuple[int, int]]) -> tuple[int, int] | None:
        """(item id, end offset) of the longest token prefix that is a title: exact keys first."""
        candidates = []
        for k in range(len(tokens), 0, -1):
            start, end = tokens[0][0], tokens[k - 1][1]
            raw = text[start:end].rstrip(",;:.!?")
            end = start + len(raw)
            title, year = split_year(raw)
            if year is None and k < len(tokens):  # "Heat (1995)": the year is the next token
                nxt = _YEAR_SUFFIX.fullmatch(" " + text[tokens[k][0] : tokens[k][1]].rstrip(",;:.!?"))
                if nxt:
                    year, end = int(nxt.group(1)), tokens[k][0] + len(nxt.group(0)) - 1
            unpunctuated = year is None and k < len(tokens) and text[start : tokens[k - 1][1]].rstrip(":-") == raw
            if unpunctuated and _continues(title, [text[a:b] for a, b in tokens[k : k + 4]]):
                continue  # "Toy Story 3", "Red Sparrow", "old school horror": not this title
            key = normalize_title(title)
            if key and _looks_like_title(key, title):
                candidates.append((key, title, year, end))
        for key, title, year, end in candidates:
            # a stem is a looser match: in free text only a capitalised one ("not in the mood for
            # horror" must not become "In the Mood for Love")
            item_id = self._exactly(key, year, stems=_capitalised(title))
            if item_id is not None:
                return item_id, end
        for key, title, year, end in candidates:
            if len(key) < MIN_FUZZY_CHARS or not _capitalised(title) or _PAUSE.search(title):
                continue  # too short, in lower case ("superhero movies"), or across a pause ("Heat, not #2")
            item_id = self._fuzzy(key, year, FIND_CUTOFF)
            if item_id is not None:
                return item_id, end
        return None

    def _lookup(self, key: str, year: int | None, cutoff: float) -> int | None:
        item_id = self._exactly(key, year)
        return item_id if item_id is not None else self._fuzzy(key, year, cutoff)

    def _exactly(self, key: str, year: int | None, *, stems: bool = True) -> int | None:
        """A full title, else the part before a colon ("star wars"), else, with `stems`, the start
        of titles ("Harry Potter" -> the most popular "Harry Potter and the ...")."""
        for ids in (self._exact.get(key), self._prefix.get(key), self._stem(key) if stems else None):
            item_id = self._pick(ids, year) if ids else None
            if item_id is not None:
                return item_id
        return None

    def _stem(self, key: str) -> list[int]:
        if len(key) < MIN_STEM_CHARS or " " not in key or key.rsplit(" ", 1)[1] in COMMON_WORDS:
            return []  # "aladdin and" or "rise of the" name no title
        head = key + " "
        start = bisect.bisect_left(self._sorted, head)
        keys = itertools.takewhile(lambda k: k.startswith(head), itertools.islice(self._sorted, start, start + 50))
        return [i for k in keys for i in self._exact[k]]

    def _fuzzy(self, key: str, year: int | None, cutoff: float) -> int | None:
        if len(key) < MIN_FUZZY_CHARS:
            return None
        numbers = _numbers(key)
        hits = process.extract(key, self._choices, scorer=fuzz.ratio, score_cutoff=cutoff, limit=8)
        hits = [h for h in hits if _numbers(h[0]) == numbers]
        for _, group in itertools.groupby(hits, key=lambda h: h[1]):
            ids = [i for choice, _, _ in group for i in self._exact[choice]]
            item_id = self._pick(ids, year)
            if item_id is not None:
                return item_id
        return None

    def _pick(self, ids: list[int], year: int | None) -> int | None:
        """The closest year (unknown years last), then the most popular, then the lowest id."""
        best: tuple[int, float, int] | None = None
        for item_id in ids:
            item_year = self._items[item_id].year
            if year is None:
                gap = 0
            elif item_year is None:
                gap = YEAR_TOLERANCE + 1
            elif abs(item_year - year) <= YEAR_TOLERANCE:
                gap = abs(item_year - year)
            else:
                continue
            rank = (gap, -self._items[item_id].popularity, item_id)
            best = rank if best is None or rank < best else best
        return None if best is None else best[2]


def _tokens(text: str, pos: int) -> list[tuple[int, int]]:
    """Spans of up to MAX_SPAN_WORDS words from `pos`, stopping at a line break, quote or CJK text."""
    stop = _SPAN_END.search(text, pos)
    words = _WORD.finditer(text, pos, stop.start() if stop else len(text))
    return [m.span() for m in itertools.islice(words, MAX_SPAN_WORDS)]


def _continues(title: str, following: list[str]) -> bool:
    """Whether the words after a would-be title show that a longer title was meant.

    A sequel number or "Vol."/"Part" ("Toy Story 3"); a capitalised word right after a one-word
    title ("Red Sparrow" is not "Red"); "of the Galaxy" after a capitalised title ("Guardians of
    the Galaxy" is not "Guardians"); a content word after a lower-case title ("old school horror").

    >>> _continues("Toy Story", ["3"]), _continues("Red", ["Sparrow"]), _continues("Heat", ["I", "loved"])
    (True, True, False)
    >>> _continues("Life", ["of", "the", "Party"]), _continues("Heat", ["and", "Ronin"])
    (True, False)
    >>> _continues("old school", ["horror"]), _continues("hangover", ["really"])
    (True, False)
    >>> _continues("Captain America", ["Also"])  # a capitalised word after a longer title is fine
    False
    """
    words = [w.rstrip(",;:.!?") for w in following]
    if not words or not words[0]:
        return False
    first = words[0].casefold()
    if (first.isdigit() and len(first) <= 2) or first in _ROMAN or first in SEQUEL_WORDS:
        return True
    if not words[0][:1].isalpha():
        return False
    if not _capitalised(title):
        return first not in FOLLOW_WORDS
    if " " not in title.strip() and words[0][:1].isupper() and first not in _PRONOUNS:
        return True
    glue = list(itertools.takewhile(lambda w: w.casefold() in GLUE_WORDS, words))
    rest = words[len(glue) :]
    return bool(glue) and bool(rest) and rest[0][:1].isupper() and rest[0].casefold() not in _PRONOUNS


def _starts_non_title(text: str, tokens: list[tuple[int, int]]) -> bool:
    """A span that is a position ("#2", "the second one") or starts with "to", "that", "something"..."""
    first = text[tokens[0][0] : tokens[0][1]]
    word = first.rstrip(",;:.!?")
    if _POSITION_REF.match(text, tokens[0][0]):
        return True
    return word[:1].islower() and word.casefold() in NON_TITLE_STARTS
