"""One chat message -> `NeedsUpdate` by deterministic rules (the model's reading is in `convrec.parse.model`).

`parse_rules` reads English and Chinese (simplified, and the common traditional forms) with the
phrase tables of `convrec.parse.lexicon`: genres and their negations, years and decades, relative critiques ("older",
"more like #2"), titles (through `TitleMatcher`), reset, and the content words left over.
Choices worth knowing (all conservative: a missed constraint costs less than a wrong one):
- "after 2000" -> year_min 2001; "since 2000", "2000 onwards", "2000年以后" -> 2000;
  "before 1970", "pre-1970", "1970年以前" -> year_max 1969; "until 1970" -> 1970.
- A two-digit decade is the latest one that has begun: "90s" -> 1990s, "20s" -> 2020s (in 2026);
  "early/mid/late 90s" -> 1990-1994 / 1993-1997 / 1995-1999 (九十年代初/中期/末 likewise).
- "recent", "latest", "new releases", "最近的", "新片" -> year_min = now_year - 5; "old movies",
  "oldies", "老电影", "老片" -> year_max 1979. Both only when no explicit year was given. "classic"
  and "经典" alone set no year (they mean acclaimed as often as old); bare "new" sets none either
  ("something new" is about novelty).
- Negation (`convrec.parse.negation`): a cue ("no", "without", "不要", "别") negates the first genre
  after it in the same clause, and the genres joined to it by "or"/"and"/"、"/"和"; "恐怖片免了"
  negates the genre before it. "not too scary comedy" and "不要太吓人的喜剧" include Comedy and
  avoid Horror: a preference against, never a filter. Questions ("isn't there a good comedy?"),
  hedges, idioms ("non-stop action"), "why not" and "nothing beats" negate nothing.
- A decade or year that has not begun ("the 2090s") or is before 1880 sets no bound.
- A refused open bound is its opposite: "nothing older than 2005", "不要2005年以前的" -> year_min
  2005; "nothing newer than 1990", "1990年以后的都不要" -> year_max 1990 / 1989. A refused decade or
  year ("nothing from the 80s") is dropped, not turned into a bound.
- "no earlier than 2005", "不早于2005年" -> year_min 2005; "不晚于1990年" -> year_max 1990.

Left out on purpose: spelling correction of genre words, numbers written as words ("nineteen
ninety-five", "一九九五年"), and translation of Chinese titles.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from convrec.core.text import IDEOGRAPHS
from convrec.core.types import NeedsUpdate
from convrec.data.titles import Mention, TitleMatcher
from convrec.lang import detect
from convrec.parse.lexicon import (
    DECADE_EN,
    DECADE_PARTS,
    DECADE_WORDS,
    DECADE_ZH,
    DISLIKE_CUES,
    GENRE_PHRASES_EN,
    GENRE_PHRASES_ZH,
    INSTRUCTION_PHRASES,
    KIND_AFTER,
    KIND_BEFORE,
    LESS_LIKE_CUES,
    MAX_KEYWORDS,
    MIN_YEAR,
    MORE_LIKE_CUES,
    MULTI_GENRE_PHRASES,
    NEWER_PHRASES,
    NUMBERS,
    OLD_PHRASES,
    OLD_YEAR_MAX,
    OLDER_PHRASES,
    ONLY_CUES,
    ORDINALS,
    PART_YEARS,
    POSITION_NOUNS,
    RECENT_PHRASES,
    RECENT_YEARS,
    RESET_PHRASES,
    STOPWORDS_EN,
    STOPWORDS_ZH,
    TASTE_CUES,
    TOPIC_GENRE_WORDS,
    YEAR_RULES,
    ZH_CLASSIFIERS,
    ZH_DIGITS,
)
from convrec.parse.meaning import read_meaning
from convrec.parse.negation import (
    Cue,
    GenreHit,
    alternation,
    any_of,
    blank_false_negations,
    find_cues,
    joined,
    post_cue,
    read_genres,
    scope_cue,
)

# --------------------------------------------------------------------------------------------
# Compiled forms of the tables
# --------------------------------------------------------------------------------------------


_CLAUSE_END = re.compile(r"[,.;!?，。；！？\n]|\bbut\b|但|不过|不過")
_RESET = any_of(RESET_PHRASES)
_INSTRUCTION = any_of(INSTRUCTION_PHRASES)
_OLDER = any_of(OLDER_PHRASES)
_NEWER = any_of(NEWER_PHRASES)
_RECENT = any_of(RECENT_PHRASES)
_OLD = any_of(OLD_PHRASES)
_LESS_LIKE = any_of(LESS_LIKE_CUES)
_MORE_LIKE = any_of(MORE_LIKE_CUES)
_TASTE = any_of(TASTE_CUES)
_ONLY = any_of(ONLY_CUES)
_KIND_BEFORE = re.compile(KIND_BEFORE)
_KIND_AFTER = re.compile(KIND_AFTER)
_DISLIKE = any_of(DISLIKE_CUES)
_WORD_EN = re.compile(r"[a-zà-öø-ÿ][a-zà-öø-ÿ'-]*[a-zà-öø-ÿ]")  # Latin letters with accents: "amélie"
_ZH_SPLIT = re.compile(alternation(STOPWORDS_ZH, words=False) + f"|[^{IDEOGRAPHS}]+")

_ORD = "|".join(ORDINALS)
_NUM = "|".join(k for k in NUMBERS if k.isascii())
_ZH_NUM = "".join(k for k in NUMBERS if not k.isascii())
_POSITION = re.compile(
    rf"#\s*(\d{{1,2}})(?!\d)"
    rf"|\b(?:number|no\.)\s*(\d{{1,2}}|{_NUM})\b"
    rf"|\bthe\s+({_ORD}|\d{{1,2}}(?:st|nd|rd|th))(?:\s+(?:{POSITION_NOUNS}))?\b"
    rf"|\b({_ORD}|\d{{1,2}}(?:st|nd|rd|th))\s+(?:{POSITION_NOUNS})\b"
    rf"|第\s*([{_ZH_NUM}\d]{{1,2}})\s*(?:{ZH_CLASSIFIERS})"
)

DECADE = re.compile(f"{DECADE_EN}|{DECADE_ZH}")
_YEAR_RULES = tuple((kind, re.compile(p)) for kind, p in YEAR_RULES)


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


class _Scan:
    """The message being read: a lower-cased copy of the same length whose consumed spans are
    blanked, so that a word is read once (a title's "Scary" is not the genre, "older than 1970"
    is not the critique "older")."""

    def __init__(self, text: str) -> None:
        self.chars = list(fold(text))

    @property
    def text(self) -> str:
        return "".join(self.chars)

    def take(self, start: int, end: int) -> None:
        self.chars[start:end] = " " * (end - start)

    def consume(self, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        matches = list(pattern.finditer(self.text))
        for m in matches:
            self.take(*m.span())
        return matches


def fold(text: str) -> str:
    """Lower case, straight apostrophes and ASCII digits, keeping every character's position.

    >>> fold("Don’t SHOW ｜１９９５")
    "don't show ｜1995"
    """
    out = []
    for c in text:
        if "０" <= c <= "９":
            c = chr(ord(c) - ord("０") + ord("0"))
        elif c in "’‘`´":
            c = "'"
        low = c.lower()
        out.append(low if len(low) == 1 else c)
    return "".join(out)


def century(two_digits: int, now_year: int) -> int:
    """The latest decade written with these two digits that has begun by `now_year`.

    >>> century(90, 2026), century(20, 2026), century(30, 2026)
    (1990, 2020, 1930)
    """
    return 2000 + two_digits if 2000 + two_digits <= now_year else 1900 + two_digits


def decade_years(m: re.Match[str], now_year: int) -> tuple[int, int]:
    """(first, last) year of the decade a `DECADE` match names.

    >>> decade_years(DECADE.search("the late 80s"), 2026), decade_years(DECADE.search("九十年代初"), 2026)
    ((1985, 1989), (1990, 1994))
    """
    part, four, two, word, zh_four, zh_two, zh_words, zh_part = m.groups()
    if four or zh_four:
        start = int(four or zh_four)
    elif two or zh_two:
        start = century(int(two or zh_two), now_year)
    elif word:
        start = 1900 + DECADE_WORDS[word]
    else:
        start = century(10 * ZH_DIGITS[zh_words[0]], now_year)
    lo, hi = PART_YEARS[DECADE_PARTS.get(part or zh_part or "")]
    return start + lo, start + hi


def parse_rules(
    text: str, genres: Sequence[str], titles: TitleMatcher | None = None, *, now_year: int | None = None
) -> NeedsUpdate:
    """What one message says, read with the phrase tables of this module.

    >>> from convrec.parse.lexicon import MOVIELENS_GENRES
    >>> u = parse_rules("a funny 90s movie, nothing with horror", MOVIELENS_GENRES)
    >>> u.include_genres, u.exclude_genres, u.year_min, u.year_max, u.keywords
    (('Comedy',), ('Horror',), 1990, 1999, ())
    """
    now_year = now_year or date.today().year
    original = text.strip()
    scan = _Scan(original)
    scan.consume(_INSTRUCTION)  # words to the assistant, not about films: never searched nor quoted
    liked, disliked = _titles(scan, original, titles)
    reset = bool(scan.consume(_RESET))
    more_like, less_like = _positions(scan)
    vocab = {g.casefold(): g for g in genres}
    hits = _genre_hits(scan.text, vocab)
    cues = find_cues(scan.text)
    year_min, year_max = _years(scan, cues, hits, now_year)
    older = bool(scan.consume(_OLDER))
    newer = bool(scan.consume(_NEWER))
    if (older or newer) and liked and (year_min, year_max) in ((None, OLD_YEAR_MAX), (now_year - RECENT_YEARS, None)):
        year_min = year_max = None  # "like The Matrix but older, an old film": older than The Matrix
    hedged = [replace(c, kind="not") for c in cues]  # "nothing sad", "not too dark": no such mood is wished
    meaning = read_meaning(scan.text, set(vocab.values()), now_year, unnegated(scan.text, hedged))
    # a genre word inside a comparison ("更搞笑", "不要那么吓人") is read there, as a preference
    hits = [h for h in hits if not any(a <= h.start < b for a, b in meaning.spans)]
    genres_read = read_genres(scan.text, hits, cues)
    refused = genres_read.refused
    wanted = read_meaning(unnegated(scan.text, cues, refused), set(vocab.values()), now_year)  # "不要僵尸": no topic
    about = read_meaning(unnegated(scan.text, hedged, refused), set(), now_year).about  # nor a hedged mood's words
    topics = [  # a wanted genre named by its topic ("a heist movie") keeps the topic for the text search
        w
        for h in hits
        if set(h.genres) & set(genres_read.include)
        and (w := re.sub(r"[\s-]+", " ", scan.text[h.start : h.end])) in TOPIC_GENRE_WORDS
    ]
    for hit in hits:
        scan.take(hit.start, hit.end)
    for start, end in (*genres_read.cue_spans, *meaning.read):
        scan.take(start, end)
    exclude = (*genres_read.exclude, *(g for g in meaning.exclude if g not in genres_read.exclude))
    include = tuple(g for g in genres_read.include if g not in exclude)
    said = (*include, *exclude)
    avoid = tuple(g for g in dict.fromkeys((*genres_read.avoid, *meaning.avoid)) if g not in said)
    if year_min is None and year_max is None:
        year_min, year_max = meaning.years
    constrains = _ONLY.search(scan.text) or exclude or year_min is not None or year_max is not None
    said_as = "constraint" if constrains else "taste" if _TASTE.search(scan.text) else "request"
    if said_as == "request" and any(said_as_kind(scan.text, h) for h in hits if set(h.genres) & set(include)):
        said_as = "kind"
    return NeedsUpdate(
        liked=liked,
        disliked=disliked,
        include_genres=include,
        exclude_genres=exclude,
        avoid_genres=avoid,
        prefer_genres=tuple(g for g in meaning.prefer if g not in (*said, *avoid)),
        year_min=year_min,
        year_max=year_max,
        keywords=tuple(
            dict.fromkeys(
                (*wanted.topics, *keywords_of(unnegated(scan.text, cues, refused)), *topics, *wanted.keywords)
            )
        ),
        about=about,
        text=original,
        language=detect(original),
        older=older,
        newer=newer,
        more_like=more_like,
        less_like=less_like,
        reset=reset,
        genres_as=said_as,
        source="rules",
    )


def said_as_kind(text: str, hit: GenreHit) -> bool:
    """Whether the genre at `hit` is said as the kind the likeness asks for: "similar" or "差不多的"
    just before it, "like" or "similar to" just after it.

    >>> text = "有什么和《千与千寻》差不多的动画"
    >>> said_as_kind(text, GenreHit(text.index("动画"), len(text), ("Animation",)))
    True
    >>> said_as_kind("any comedies? I loved Superbad", GenreHit(4, 12, ("Comedy",)))
    False
    """
    return bool(_KIND_BEFORE.search(text[: hit.start]) or _KIND_AFTER.search(text[hit.end :]))


def _genre_hits(text: str, vocab: dict[str, str]) -> list[GenreHit]:
    """Genre phrases in folded text, with the vocabulary's spelling of the genres they name."""
    pattern, lookup = _genre_table(tuple(vocab.items()))
    hits = []
    for m in pattern.finditer(text):
        named = lookup.get(re.sub(r"[\s-]+", " ", m.group(0)), ())
        found = tuple(vocab[g.casefold()] for g in named if g.casefold() in vocab)
        if found:
            hits.append(GenreHit(m.start(), m.end(), found))
    return hits


@functools.lru_cache(maxsize=8)
def _genre_table(vocab: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[str], dict[str, tuple[str, ...]]]:
    """The phrase regex and phrase -> genres lookup for one vocabulary (its own names are phrases too)."""
    table: dict[str, tuple[str, ...]] = dict(MULTI_GENRE_PHRASES)
    for source in (GENRE_PHRASES_EN, GENRE_PHRASES_ZH):
        for genre, phrases in source.items():
            for p in phrases:
                table[p] = (*table.get(p, ()), genre)
    for folded, name in vocab:  # "imax", "film-noir", or a custom genre
        table.setdefault(folded, (name,))
    en = [p for p in table if p.isascii()]
    zh = [p for p in table if not p.isascii()]
    pattern = re.compile(alternation(en, words=True) + "|" + alternation(zh, words=False))
    return pattern, {re.sub(r"[\s-]+", " ", p): g for p, g in table.items()}


def _years(scan: _Scan, cues: list[Cue], hits: list[GenreHit], now_year: int) -> tuple[int | None, int | None]:
    """(year_min, year_max) from explicit years and decades, else from "recent"/"old".

    A refused open bound turns into its opposite ("nothing older than 2005" -> 2005 on,
    "1980年以前的不要" -> 1980 on); a refused closed range ("nothing from the 80s") sets no bound.
    """
    spans: list[tuple[int, int]] = []  # closed ranges: decades, single years, "between"
    mins: list[int] = []
    maxes: list[int] = []
    genre_starts = [h.start for h in hits]
    for kind, pattern in _YEAR_RULES:
        for m in pattern.finditer(scan.text):
            scan.take(*m.span())
            lo, hi = _bound(kind, m, now_year)
            cue = scope_cue(scan.text, cues, m.start(), genre_starts)
            if (cue is not None and cue.kind == "not") or post_cue(scan.text, m.end()) is not None:
                if lo is not None and hi is not None:
                    continue
                lo, hi = (None if hi is None else hi + 1), (None if lo is None else lo - 1)  # the years left out
            elif cue is not None:
                continue  # "not too old", "didn't like the 1995 one"
            if lo is not None and hi is not None:
                spans.append((lo, hi))
            elif lo is not None:
                mins.append(lo)
            elif hi is not None:
                maxes.append(hi)
    recent = bool(scan.consume(_RECENT))
    old = bool(scan.consume(_OLD))
    lo, hi = combine_years(spans, mins, maxes)
    if lo is None and hi is None and recent != old:
        return (now_year - RECENT_YEARS, None) if recent else (None, OLD_YEAR_MAX)
    return lo, hi


def _bound(kind: str, m: re.Match[str], now_year: int) -> tuple[int | None, int | None]:
    """The years one match of a `YEAR_RULES` rule of this kind allows, as (first, last), either
    open; (None, None) for a year that has not come or is before the first films.

    >>> _bound("max-1", re.search(r"before (\\d+)", "before 1970"), 2026)
    (None, 1969)
    >>> _bound("decade-after", DECADE.search("the late 80s"), 2026), _bound("decade", DECADE.search("the 2090s"), 2026)
    ((1990, None), (None, None))
    """
    if kind.startswith("decade"):
        first, last = decade_years(DECADE.search(m.group(0)), now_year)  # type: ignore[arg-type]
        if not MIN_YEAR <= first <= now_year:  # "the 2090s" has not begun: no bound, not an empty list
            return None, None
        return {
            "decade-max-1": (None, first - 1),
            "decade-after": (last + 1, None),
            "decade-min": (first, None),
        }.get(kind, (first, last))
    years = [int(g) for g in m.groups() if g]
    if not all(MIN_YEAR <= y <= now_year for y in years):
        return None, None
    if kind in ("range", "around", "single"):
        pad = 2 if kind == "around" else 0
        return min(years) - pad, max(years) + pad
    if kind.startswith("max"):
        return None, years[0] - (kind == "max-1")
    return years[0] + (kind == "min+1"), None


def combine_years(spans: list[tuple[int, int]], mins: list[int], maxes: list[int]) -> tuple[int | None, int | None]:
    """One (year_min, year_max) from closed ranges (their hull) and open bounds (intersected).

    Contradictory bounds fall back to the closed ranges alone (no constraint if there are none).

    >>> combine_years([(1980, 1989), (1990, 1999)], [], []), combine_years([(1990, 1999)], [1996], [])
    ((1980, 1999), (1996, 1999))
    >>> combine_years([], [2001], [1969]), combine_years([(1990, 1999)], [2001], [])
    ((None, None), (1990, 1999))
    """
    hull_lo = min((a for a, _ in spans), default=None)
    hull_hi = max((b for _, b in spans), default=None)
    lo = max([*mins, *([hull_lo] if hull_lo is not None else [])], default=None)
    hi = min([*maxes, *([hull_hi] if hull_hi is not None else [])], default=None)
    if lo is not None and hi is not None and lo > hi:
        return hull_lo, hull_hi
    return lo, hi


def _positions(scan: _Scan) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(more_like, less_like) positions: "more like #2", "not #3", "更像第二个", "不要第二个那种"."""
    more: list[int] = []
    less: list[int] = []
    text = scan.text
    previous_end = 0
    previous_kind: str | None = None
    for m in _POSITION.finditer(text):
        number = next(g for g in m.groups() if g)
        number = re.sub(r"^(\d+)(?:st|nd|rd|th)$", r"\1", number)
        position = int(number) if number.isdigit() else ORDINALS.get(number) or NUMBERS.get(number)
        clause = max([previous_end] + [c.end() for c in _CLAUSE_END.finditer(text, 0, m.start())])
        window = text[clause : m.start()]
        less_cue, more_cue = _LESS_LIKE.search(window), _MORE_LIKE.search(window)
        kind: str | None = None
        if less_cue or more_cue:
            kind = "less" if less_cue else "more"
            cues = [c.start() for c in (less_cue, more_cue) if c]
            clause += min(cues)
        elif previous_kind and joined(window):
            kind = previous_kind  # "more like #2 and #3"
        if kind and position:
            (less if kind == "less" else more).append(position)
            scan.take(clause, m.end())
        previous_end, previous_kind = m.end(), kind
    return tuple(dict.fromkeys(more)), tuple(dict.fromkeys(less))


def _titles(scan: _Scan, original: str, titles: TitleMatcher | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(liked, disliked) item ids of the titles mentioned; the title spans are consumed."""
    if titles is None:
        return (), ()
    liked: list[int] = []
    disliked: list[int] = []
    text = scan.text
    previous: Mention | None = None
    negative = False
    for mention in titles.find_mentions(original):
        if previous is None or mention.cue_start != previous.cue_start or mention.cue == "quote":
            negative = _disliked(text, mention, previous.end if previous else 0)
        # else: a title joined to the one before ("I hated Heat and Ronin") shares its verdict
        (disliked if negative else liked).append(mention.item_id)
        scan.take(mention.start, mention.end)
        previous = mention
    disliked_ids = tuple(dict.fromkeys(disliked))
    return tuple(i for i in dict.fromkeys(liked) if i not in disliked_ids), disliked_ids


def _disliked(text: str, mention: Mention, previous_end: int) -> bool:
    """Whether the words before a mention and its cue, in the same clause, make it a dislike
    ("nothing like Titanic", "I didn't like Heat", "unlike 'Heat'"; not "why not something like Heat")."""
    cue_end = mention.start if mention.cue == "quote" else mention.cue_start + len(mention.cue)
    clause_ends = [c.end() for c in _CLAUSE_END.finditer(text, 0, mention.cue_start)]
    floor = max([previous_end, mention.cue_start - 30, *clause_ends])
    return bool(_DISLIKE.search(blank_false_negations(text), floor, cue_end))


_UNIT = re.compile(r"[^\W\u3400-\u9fff\uf900-\ufaff]+|[\u3400-\u9fff\uf900-\ufaff]")  # a word, or one Chinese character


def unnegated(text: str, cues: Sequence[Cue], refused: Sequence[tuple[int, int]] = ()) -> str:
    """`text` with the words a hard negation governs, and the `refused` spans ("robots? pass"),
    blanked, so that none is a keyword: "light and silly, nothing serious" would otherwise search
    for serious films.

    >>> t = "silly, nothing serious; about robots"
    >>> unnegated(t, find_cues(t))
    'silly,                ; about robots'
    >>> unnegated("我不喜欢战争片", find_cues("我不喜欢战争片"))
    '我      '
    """
    hard = [c for c in cues if c.kind != "soft"]
    chars = list(text)
    for m in _UNIT.finditer(text):
        if (
            any(c.start <= m.start() < c.end for c in hard)
            or any(a <= m.start() < b for a, b in refused)
            or scope_cue(text, hard, m.start()) is not None
        ):
            chars[m.start() : m.end()] = " " * (m.end() - m.start())
    return "".join(chars)


def keywords_of(text: str) -> tuple[str, ...]:
    """Content words of what is left of a message (English words and Chinese chunks of 2+).

    >>> keywords_of("a movie about time travel with robots, please")
    ('time', 'travel', 'robots')
    >>> keywords_of("我想看关于时间旅行的电影")
    ('时间旅行',)
    """
    text = fold(text)
    words = [w.removesuffix("'s") for w in _WORD_EN.findall(text)]
    english = [w for w in words if w not in STOPWORDS_EN and len(w) > 2]
    chinese = [c for c in _ZH_SPLIT.split(text) if len(c) >= 2]
    return tuple(dict.fromkeys(english + chinese))[:MAX_KEYWORDS]
