"""Which genres one message wants, refuses, or wants less of, read from its negation cues.

- A cue ("no", "without", "anything but", "不要", "别", "除了") negates the first genre after it in
  the same clause, and the genres joined to that one by "or"/"and"/"、"/"和" ("no horror or
  thriller"). A scope breaker ("but", "I want", "，") or another genre ends its reach.
- A soft cue ("not too", "less", "不要太", "别太") makes those genres a preference against
  (`avoid`), never a filter: "not too scary" still allows a horror film when nothing else fits.
- A cue after a genre, at the end of its clause, refuses it and the genres joined before it:
  "恐怖片免了", "兒童片和動畫片都不要", "纪录片除外", "adventure yes, fantasy no".
- Phrases that hold a negation word but negate no genre are blanked before cues are looked for
  (tables in `convrec.parse.lexicon`): questions ("isn't there a good comedy?", "难道没有好看的喜剧吗"),
  hedges ("I don't know"), idioms ("non-stop action"), "why not", comparisons ("nothing beats a
  western", "没有比科幻片更好的"), past tastes ("I never used to like westerns", "以前不爱看西部片")
  and "besides X, also Y" ("除了喜剧，我还想看动画片").
- A past dislike of one film ("I didn't like the last horror film") is not one of its genre: the
  genre is wanted only when the message asks for no other ("..., but I'd try one again").
- A clause that is only a refusal ("pass", "no thanks", "been there, done that", "算了吧",
  "饶了我吧") refuses the genres of the nearest clause before it that names any: "romance again?
  ugh, no thanks. a heist film" refuses Romance and wants Crime. Irony is a cue too: "oh wonderful,
  more zombies", "yeah, because I totally need more cartoons", "又是动画".
- A genre refused and then named again stays refused, unless a contrast ("but", "actually", "但")
  comes between: "no horror. actually, horror is fine" includes it.
- English phrases match with or without their apostrophe ("dont", "isnt").

Measured by `convrec eval negations` on bench/negations.jsonl and the rejection phrasings of
bench/constraints.jsonl. Left out on purpose: a refusal of what the previous turn showed ("pass" as
the whole message), of a topic that is no genre ("more robots? pass"), and irony without a marker
("a musical, how original").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from convrec.parse.lexicon import (
    CONTRASTS,
    GENRE_FILLERS,
    GENRE_JOINERS,
    NEGATIONS_EN,
    NEGATIONS_ZH,
    NOT_NEGATION_PATTERNS,
    NOT_NEGATIONS,
    ONE_FILM_NEGATIONS,
    PAST_MARKERS_ZH,
    POST_NEGATION_PARTICLES,
    POST_NEGATION_WORDS,
    POST_NEGATIONS_EN,
    POST_NEGATIONS_ZH,
    REFUSAL_FILLERS,
    REFUSALS_EN,
    REFUSALS_ZH,
    SARCASM_EN,
    SCOPE_BREAKERS,
    SOFT_NEGATIONS_EN,
    SOFT_NEGATIONS_ZH,
    WISHES,
)


def alternation(phrases: Iterable[str], *, words: bool) -> str:
    """One regex alternative per phrase, longest first; `words` adds word boundaries, lets a
    space or hyphen inside a phrase match either, and an apostrophe be left out.

    >>> alternation(["sci fi", "won't"], words=True)
    "(?<!\\\\w)(?:sci[\\\\s-]+fi|won'?t)(?!\\\\w)"
    """
    parts = sorted(set(phrases), key=len, reverse=True)
    if not words:
        return "(?:" + "|".join(map(re.escape, parts)) + ")"
    body = "|".join(re.escape(p).replace(r"\ ", r"[\s-]+").replace(r"\-", r"[\s-]+").replace("'", "'?") for p in parts)
    return rf"(?<!\w)(?:{body})(?!\w)"


def any_of(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regex matching any of `patterns`."""
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def _phrases(en: Iterable[str], zh: Iterable[str]) -> str:
    return alternation(en, words=True) + "|" + alternation(zh, words=False)


def _normal(phrase: str) -> str:
    """A cue as written, in the tables' spelling but without apostrophes, to look up its kind."""
    return re.sub(r"[\s-]+", " ", phrase).replace("'", "")


_CUE = re.compile(_phrases((*NEGATIONS_EN, *SOFT_NEGATIONS_EN), (*NEGATIONS_ZH, *SOFT_NEGATIONS_ZH)))
_SOFT = {_normal(p) for p in (*SOFT_NEGATIONS_EN, *SOFT_NEGATIONS_ZH)}
_ONE_FILM = any_of(ONE_FILM_NEGATIONS)
_FALSE_CUES = (
    re.compile(_phrases((p for p in NOT_NEGATIONS if p.isascii()), (p for p in NOT_NEGATIONS if not p.isascii()))),
    *(re.compile(p) for p in NOT_NEGATION_PATTERNS),
    re.compile(
        rf"(?:{'|'.join(PAST_MARKERS_ZH)})[^，。,.;；!！?？]{{0,3}}?(?P<cue>{alternation(NEGATIONS_ZH, words=False)})"
    ),
)
_CLAUSE_END = r"(?=$|[,.;:!?，。；：！？\n])"
_POST = re.compile(
    rf"(?:{GENRE_FILLERS}|{POST_NEGATION_WORDS})*?(?P<cue>{_phrases(POST_NEGATIONS_EN, POST_NEGATIONS_ZH)})"
    rf"(?:{POST_NEGATION_PARTICLES})*{_CLAUSE_END}"
)
_PUNCTUATION = r"[,.;:!?…，。；：！？\n]"
_REFUSAL = re.compile(
    rf"(?:^|(?<={_PUNCTUATION}))\s*{REFUSAL_FILLERS}(?P<cue>{'|'.join((*REFUSALS_EN, *REFUSALS_ZH))})"
    rf"\s*{REFUSAL_FILLERS}(?=$|{_PUNCTUATION})"
)
_SEPARATORS = re.compile(rf"{_PUNCTUATION}+")
_SARCASM = any_of(SARCASM_EN)
_WISH = any_of(WISHES)
_SCOPE_BREAK = any_of(SCOPE_BREAKERS)
_CONTRAST = any_of(CONTRASTS)
_JOINED = re.compile(rf"(?:{GENRE_FILLERS}|{GENRE_JOINERS})*", re.IGNORECASE)
_JOINER = re.compile(GENRE_JOINERS)


@dataclass(frozen=True)
class GenreHit:
    """A genre phrase at [start, end) of the folded message, with the genres it names."""

    start: int
    end: int
    genres: tuple[str, ...]


@dataclass(frozen=True)
class Cue:
    """A negation cue at [start, end) of one `kind`: "not" excludes, "soft" ("not too") avoids,
    "film" ("didn't like the ...") speaks of one film, not of its genre."""

    start: int
    end: int
    kind: Literal["not", "soft", "film"] = "not"


@dataclass(frozen=True)
class GenreReading:
    """The genres a message includes, excludes and avoids, and where its cues stand (to consume)."""

    include: tuple[str, ...]
    exclude: tuple[str, ...]
    avoid: tuple[str, ...]
    cue_spans: tuple[tuple[int, int], ...]
    refused: tuple[tuple[int, int], ...] = ()  # clauses refused by a later one ("horror? pass"): no keywords


def blank_false_negations(text: str) -> str:
    """`text` with the phrases that negate nothing blanked, keeping every position.

    >>> blank_false_negations("why not a comedy, but no horror")
    '        a comedy, but no horror'
    """
    chars = list(text)
    for pattern in _FALSE_CUES:
        for m in pattern.finditer(text):
            start, end = m.span("cue") if "cue" in pattern.groupindex else m.span()
            chars[start:end] = " " * (end - start)
    return "".join(chars)


def find_cues(text: str) -> list[Cue]:
    """The negation cues of every kind in folded text, in order.

    >>> [(c.start, c.kind) for c in find_cues("not too scary, and no horror; didn't like that comedy")]
    [(0, 'soft'), (19, 'not'), (30, 'film')]
    """
    chars = list(blank_false_negations(text))
    films = [Cue(*m.span("cue"), kind="film") for m in _ONE_FILM.finditer("".join(chars))]
    for c in films:
        chars[c.start : c.end] = " " * (c.end - c.start)
    blanked = "".join(chars)
    found = [Cue(*m.span(), kind="soft" if _normal(m.group(0)) in _SOFT else "not") for m in _CUE.finditer(blanked)]
    ironic = [Cue(*m.span()) for m in _SARCASM.finditer(blanked)]
    return sorted(found + films + ironic, key=lambda c: c.start)


def negation_cues(text: str) -> list[tuple[int, int]]:
    """Spans of the hard negation cues in folded text, leaving out "not sure", "特别", "why not",
    and soft cues such as "not too".

    >>> negation_cues("not sure, but no horror"), negation_cues("why not something not too scary")
    ([(14, 16)], [])
    """
    return [(c.start, c.end) for c in find_cues(text) if c.kind == "not"]


def scope_cue(text: str, cues: Sequence[Cue], start: int, others: Iterable[int] = ()) -> Cue | None:
    """The cue that negates position `start`: the last one before it in the same clause, with no
    scope breaker ("but", "I want", "，") and none of the `others` positions (earlier genres) between."""
    before = [c for c in cues if c.end <= start]
    if not before:
        return None
    cue = before[-1]
    if _SCOPE_BREAK.search(text, cue.end, start) or any(cue.end <= p < start for p in others):
        return None
    return cue


def in_negation_scope(text: str, cues: Sequence[tuple[int, int]], start: int, others: Iterable[int] = ()) -> bool:
    """Whether position `start` is negated by one of the cue spans (see `scope_cue`).

    >>> t = "no horror, but a comedy"
    >>> in_negation_scope(t, negation_cues(t), 3), in_negation_scope(t, negation_cues(t), 17)
    (True, False)
    """
    return scope_cue(text, [Cue(a, b) for a, b in cues], start, others) is not None


def joined(gap: str) -> bool:
    """Whether the text between two genres joins them ("or", "和", "movies or").

    >>> joined(" or "), joined("片和"), joined(" "), joined("的")
    (True, True, False, False)
    """
    return bool(_JOINED.fullmatch(gap)) and bool(_JOINER.search(gap))


def read_genres(text: str, hits: Sequence[GenreHit], cues: Sequence[Cue]) -> GenreReading:
    """Each genre hit of folded `text` read as included, excluded or avoided.

    A genre named twice keeps a negation unless a contrast ("but", "actually", "但") comes before
    the later, wanting mention: "I don't like scary movies. The last scary movie I saw was ..."
    stays a refusal, "no horror. actually, horror is fine" is not one. A genre named only as a
    disliked film's is wanted when the message says nothing else about genres.

    >>> text = "not too scary comedy"
    >>> r = read_genres(text, [GenreHit(8, 13, ("Horror",)), GenreHit(14, 20, ("Comedy",))], find_cues(text))
    >>> r.include, r.exclude, r.avoid
    (('Comedy',), (), ('Horror',))
    """
    after, refused = _post_cues(text, hits)
    verdicts: dict[str, tuple[str, int]] = {}  # genre -> (verdict, where its mention ends)
    previous = "include"
    for i, hit in enumerate(hits):
        if after[i] is not None:
            verdict = "exclude"
        elif i and previous != "include" and joined(text[hits[i - 1].end : hit.start]):
            verdict = previous
        else:
            cue = scope_cue(text, cues, hit.start, (h.start for h in hits[:i]))
            verdict = "include" if cue is None else {"not": "exclude", "soft": "avoid", "film": "film"}[cue.kind]
        for genre in hit.genres:
            old, old_end = verdicts.get(genre, ("film", hit.start))
            if verdict == "film" and old != "film":
                continue
            if verdict == "include" and old in ("exclude", "avoid") and not _CONTRAST.search(text, old_end, hit.start):
                continue
            verdicts[genre] = (verdict, hit.end)
        previous = verdict

    def having(verdict: str) -> tuple[str, ...]:
        return tuple(g for g, (v, _) in verdicts.items() if v == verdict)

    include, exclude, avoid = having("include"), having("exclude"), having("avoid")
    if not (include or exclude or avoid):
        include = having("film")  # "I didn't like the last horror film, but I'd try one again"
    spans = {(c.start, c.end) for c in cues} | {span for span in after if span is not None}
    return GenreReading(include, exclude, avoid, tuple(sorted(spans)), refused)


def post_cue(text: str, end: int) -> tuple[int, int] | None:
    """The span of a cue right after position `end` that refuses what ends there, at the end of
    its clause ("1980年以前的不要", "horror is so not my thing"); None when there is none.

    >>> post_cue("恐怖片免了，来点喜剧", 3), post_cue("恐怖片，来点喜剧", 3)
    ((3, 5), None)
    """
    return _post_at(blank_false_negations(text), end)


def _post_at(blanked: str, end: int) -> tuple[int, int] | None:
    m = _POST.match(blanked, end)
    return m.span("cue") if m else None


def refusals(text: str, hits: Sequence[GenreHit]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(refused clauses, refusal) spans: each clause that is only a refusal ("pass", "算了吧") and
    the clauses it refuses, from the nearest one before it that names a genre (at most two
    punctuation runs back) up to the refusal, unless those ask for something ("I want a comedy, nope").

    >>> t = "a comedy. horror? ugh, no thanks"
    >>> refusals(t, [GenreHit(2, 8, ("Comedy",)), GenreHit(10, 16, ("Horror",))])
    [((9, 23), (23, 32))]
    """
    found = []
    for m in _REFUSAL.finditer(blank_false_negations(text)):
        before = [h for h in hits if h.end <= m.start()]
        if not before or len(_SEPARATORS.findall(text, before[-1].end, m.start())) > 2:
            continue
        start = max((s.end() for s in _SEPARATORS.finditer(text, 0, before[-1].start)), default=0)
        if not _WISH.search(text, start, m.start()):
            found.append(((start, m.start("cue")), m.span("cue")))
    return found


def _post_cues(text: str, hits: Sequence[GenreHit]) -> tuple[list[tuple[int, int] | None], tuple[tuple[int, int], ...]]:
    """Per hit, the span of the cue after it that refuses it ("恐怖片免了", "horror? pass"), carried
    back over joined genres ("兒童片和動畫片都不要"); None when there is none. Beside it, the
    clauses that a later refusal refuses."""
    blanked = blank_false_negations(text)
    found: list[tuple[int, int] | None] = [None] * len(hits)
    for i in reversed(range(len(hits))):
        span = _post_at(blanked, hits[i].end)
        if span and (i + 1 == len(hits) or span[1] <= hits[i + 1].start):
            found[i] = span
        elif i + 1 < len(hits) and found[i + 1] is not None and joined(text[hits[i].end : hits[i + 1].start]):
            found[i] = found[i + 1]
    refused = refusals(text, hits)
    for (start, end), cue in refused:
        for i, hit in enumerate(hits):
            if found[i] is None and start <= hit.start and hit.end <= end:
                found[i] = cue
    return found, tuple(region for region, _ in refused)
