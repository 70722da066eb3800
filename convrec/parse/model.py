"""The model's reading of a chat message, checked against the message and merged with the rules'.

`parse_llm` asks a model for the same fields as JSON and keeps only what the message supports:
a 1.5B model copies example years into unrelated answers, invents liked titles and, asked for
genres, often recites the prompt's genre list in order. The rules stay authoritative for
negations, years, relative critiques and reset; the model may add a genre or two for words the
rules left unexplained ("date night" -> Romance), titles the text really names (without a cue)
and English keywords for a Chinese message (see `merge_llm`). `worth_asking_llm` says when a
call cannot add anything. Any failure gives back the rules' answer.

"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from convrec.core.types import NeedsUpdate
from convrec.data.titles import TitleMatcher, title_occurs
from convrec.llm.base import LLM, Message
from convrec.parse.lexicon import (
    GENRE_PHRASES_EN,
    MAX_KEYWORDS,
    MIN_YEAR,
    MULTI_GENRE_PHRASES,
    STOPWORDS_EN,
)
from convrec.parse.negation import negation_cues
from convrec.parse.rules import DECADE, decade_years, fold

log = logging.getLogger(__name__)

LLM_INPUT_CHARS = 500
LLM_MAX_TOKENS = 160
MAX_LLM_GENRES = 2  # genres the model may add, each named in the message


# --------------------------------------------------------------------------------------------
# LLM
# --------------------------------------------------------------------------------------------


def needs_schema(genres: Sequence[str], years: Sequence[int] = (), *, exclusions: bool = True) -> dict[str, Any]:
    """The JSON schema the model's answer is constrained to: every field optional and, when
    written, not empty; genres from `genres`, years from `years` (the years the message supports,
    `supported_years`), no field of either kind when there are none, and no excluded genres
    without `exclusions` (the message negates nothing the rules left unread).

    The model writes only what the message says: `{"keywords": ["heist"]}` instead of seven
    fields, six of them `[]` or `null` (59 decoded tokens a parse, at 11-16 tokens/s on two
    cores). The grammar cannot write an empty list or a null, so leaving a field out is the only
    way to say nothing; and a 1.5B model asked for optional years wrote made-up ones ("a good
    heist movie" -> 2000-2010) that `merge_llm` drops anyway, 16 tokens each time, so it is
    offered only the years it could keep; the same for excluded genres it listed unasked.
    """
    genre_list = {"type": "array", "items": {"type": "string", "enum": list(genres)}, "minItems": 1, "maxItems": 3}
    year = {"type": "integer", "enum": list(years)}
    title_list = {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3}
    properties = {
        **({"include_genres": genre_list} if genres else {}),
        **({"exclude_genres": genre_list} if genres and exclusions else {}),
        **({"year_min": year, "year_max": year} if years else {}),
        "liked_titles": title_list,
        "disliked_titles": title_list,
        "keywords": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 6},
    }
    return {"type": "object", "properties": properties, "additionalProperties": False}


def render_prompt(template: str, genres: Sequence[str], domain: str = "movie") -> str:
    """Fill `{genres}` and `{domain}` in a prompt template; any other placeholder is an error.

    >>> render_prompt("Pick {domain} genres from: {genres}.", ["Comedy", "War"])
    'Pick movie genres from: Comedy, War.'
    """
    try:
        return template.format(genres=", ".join(genres), domain=domain)
    except (KeyError, IndexError) as e:
        raise ValueError(f"prompt template uses {{{e.args[0]}}}; only {{genres}} and {{domain}} are filled") from e


def parse_llm(
    text: str,
    llm: LLM,
    genres: Sequence[str],
    titles: TitleMatcher | None,
    rules: NeedsUpdate,
    *,
    prompt: str,
    domain: str = "movie",
) -> NeedsUpdate:
    """The rules' answer plus what the model adds that the message supports (source "llm+rules").

    `prompt` is the system prompt (prompts/parse.txt); `{genres}` and `{domain}` in it are filled.
    A failed call or unusable JSON gives back `rules` unchanged; this never raises.
    """
    system = render_prompt(prompt, genres, domain) if ("{genres}" in prompt or "{domain}" in prompt) else prompt
    messages: list[Message] = [
        {"role": "system", "content": system},
        {"role": "user", "content": text.strip()[:LLM_INPUT_CHARS]},
    ]
    try:
        exclusions = not rules.exclude_genres and bool(negation_cues(fold(text)))  # what merge_llm can take
        schema = needs_schema(genres, supported_years(text), exclusions=exclusions)
        reply = llm.complete(messages, schema=schema, max_tokens=LLM_MAX_TOKENS, temperature=0.0)
    except Exception as e:  # any failure: the rules' answer is always good enough
        log.warning("LLM parse failed, using rules: %s", e)
        return rules
    data = load_json_object(reply.text)
    if data is None:
        log.warning("LLM parse gave no JSON object, using rules: %.200r", reply.text)
        return rules
    return merge_llm(rules, data, text, genres, titles)


def load_json_object(reply: str) -> dict[str, Any] | None:
    """The JSON object in a reply, tolerating code fences and chatter around it; None if none.

    >>> load_json_object('```json\\n{"a": 1}\\n```'), load_json_object("sorry"), load_json_object("[1]")
    ({'a': 1}, None, None)
    """
    start, end = reply.find("{"), reply.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        data = json.loads(reply[start : end + 1])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def worth_asking_llm(rules: NeedsUpdate) -> bool:
    """Whether the model could add anything the rules did not read: only when words are left over.

    Everything `merge_llm` takes from a model needs unexplained words in the message (genres,
    translated keywords, titles mentioned without a cue), so a message the rules read entirely
    ("older, from the 80s", "推荐几部九十年代的喜剧，不要恐怖片", "more like #2") saves the call.

    >>> from convrec.parse.lexicon import MOVIELENS_GENRES
    >>> from convrec.parse.rules import parse_rules
    >>> worth_asking_llm(parse_rules("more like #2, but older", MOVIELENS_GENRES))
    False
    >>> worth_asking_llm(parse_rules("something for date night", MOVIELENS_GENRES))
    True
    """
    return bool(rules.keywords)


def merge_llm(
    rules: NeedsUpdate, data: dict[str, Any], text: str, genres: Sequence[str], titles: TitleMatcher | None
) -> NeedsUpdate:
    """`rules` with the parts of the model's answer `data` that `text` supports added.

    The model's genres count only where the message names them (`_named`: "Astronomy" for the
    category "Subject Astronomy"), as filters like the rules' genres, at most two, and none when its
    list runs through the vocabulary in order (it copied the prompt) or no word of the message is
    left unexplained by the rules. Its guesses cost more than they gave, as filters and as
    preferences alike: the Animation the 1.5B model added to "films about artificial intelligence
    and robots" left only cartoons, the Economics it added to "a philosophy course on ethics and
    artificial intelligence" filled the list with economics courses; on the content suite (default
    index) its parse scored 0.414 with guessed genres as filters, 0.402 as preferences and 0.443
    without them, the rules alone 0.450. It may add one exclusion when the text negates something
    and the rules found no exclusion. A genre the rules read as avoided ("not too scary") stays
    avoided.
    """
    vocab = {g.casefold(): g for g in genres}
    text = text.strip()
    said = {*rules.include_genres, *rules.exclude_genres, *rules.avoid_genres, *rules.prefer_genres}
    offered = [g for g in _llm_genres(data.get("include_genres"), genres) if g not in said] if rules.keywords else []
    exclude: list[str] = []
    if not rules.exclude_genres and negation_cues(fold(text)):
        exclude = [g for g in _llm_genres(data.get("exclude_genres"), genres) if g not in said][:1]
    all_excluded = (*rules.exclude_genres, *exclude)
    common = _common_words(genres)
    named = [g for g in offered[:MAX_LLM_GENRES] if g not in all_excluded and _named(g, text, common)]
    all_included = tuple(g for g in (*rules.include_genres, *named) if g not in all_excluded)

    year_min, year_max = rules.year_min, rules.year_max
    if year_min is None and year_max is None:
        year_min = _supported_year(data.get("year_min"), text)
        year_max = _supported_year(data.get("year_max"), text)
        if year_min is not None and year_max is not None and year_min > year_max:
            year_min = year_max = None

    liked = _resolved_titles(data.get("liked_titles"), text, titles)
    disliked = _resolved_titles(data.get("disliked_titles"), text, titles)
    all_disliked = tuple(dict.fromkeys([*rules.disliked, *(i for i in disliked if i not in rules.liked)]))
    all_liked = tuple(i for i in dict.fromkeys([*rules.liked, *liked]) if i not in all_disliked)

    named = [titles.item(i).title for i in (*all_liked, *all_disliked)] if titles else []
    words = _supported_keywords(data.get("keywords"), text, rules.language, [*vocab, *named])
    seen: set[str] = set()
    keywords = []
    for w in [*words, *rules.keywords]:
        if w.casefold() not in seen:
            seen.add(w.casefold())
            keywords.append(w)
    return replace(
        rules,
        include_genres=all_included,
        exclude_genres=all_excluded,
        year_min=year_min,
        year_max=year_max,
        liked=all_liked,
        disliked=all_disliked,
        keywords=tuple(keywords[:MAX_KEYWORDS]),
        source="llm+rules",
    )


def _llm_genres(value: Any, genres: Sequence[str]) -> list[str]:
    """The model's genres in the vocabulary's spelling; none when three or more come in the
    vocabulary's own order, which is the model copying the list from its prompt.

    >>> g = ["Action", "Adventure", "Animation", "Comedy", "Sci-Fi"]
    >>> _llm_genres(["sci-fi", "Comedy", "Opera"], g), _llm_genres(["Action", "Adventure", "Sci-Fi"], g)
    (['Sci-Fi', 'Comedy'], [])
    """
    order = {g.casefold(): i for i, g in enumerate(genres)}
    found = [g.casefold() for g in _strings(value) if g.casefold() in order]
    found = list(dict.fromkeys(found))
    positions = [order[g] for g in found]
    if len(positions) >= 3 and positions == sorted(positions):
        return []
    return [genres[order[g]] for g in found]


def _named(genre: str, text: str, common: frozenset[str]) -> bool:
    """Whether `text` names `genre`: one of its words of four letters or more, not one of the
    `common` words (`_common_words`: "Subject" in "Subject Astronomy", "Subject Physics", ...).

    >>> common = _common_words(["Subject Astronomy", "Subject Physics", "Subject Ethics", "Sci-Fi", "Animation"])
    >>> [_named(x, "something about the stars and astronomy", common) for x in ("Subject Astronomy", "Subject Physics")]
    [True, False]
    >>> _named("Animation", "films about artificial intelligence and robots", common)
    False
    """
    said = set(re.findall(r"\w+", text.casefold()))
    return any(w in said and w not in common for w in re.findall(r"\w{4,}", genre.casefold()))


def _common_words(genres: Sequence[str]) -> frozenset[str]:
    """The words of four letters or more that three or more genres' names share."""
    words = Counter(w for name in genres for w in set(re.findall(r"\w{4,}", name.casefold())))
    return frozenset(w for w, n in words.items() if n >= 3)


def _strings(value: Any) -> list[str]:
    """A model's list of strings, tolerating one bare string and dropping anything else.

    >>> _strings(["a", 3, " b "]), _strings("c"), _strings(None)
    (['a', 'b'], ['c'], [])
    """
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [v.strip() for v in value if isinstance(v, str) and v.strip()]


def year_supported(year: int, text: str) -> bool:
    """Whether `text` literally supports `year`: the number itself, or a decade that holds it.

    >>> year_supported(1995, "a 1995 thriller"), year_supported(1993, "a 90s comedy"), year_supported(1994, "a comedy")
    (True, True, False)
    """
    return year in supported_years(text)


def supported_years(text: str) -> list[int]:
    """The years `text` supports, oldest first: the only ones the model is offered and kept from it.

    >>> supported_years("one from 2003, or 1995"), len(supported_years("the eighties")), supported_years("a comedy")
    ([1995, 2003], 10, [])
    """
    folded = fold(text)
    literal = {int(y) for y in re.findall(r"(?<!\d)\d{4}(?!\d)", folded)}
    decades = list(DECADE.finditer(folded))
    # now_year = year + 10 reads "20s" as the 1920s for 1925 and as the 2020s for 2023
    return [
        y
        for y in range(MIN_YEAR, date.today().year + 1)
        if y in literal or any(lo <= y <= hi for lo, hi in (decade_years(m, y + 10) for m in decades))
    ]


def _supported_year(value: Any, text: str) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not MIN_YEAR <= value <= date.today().year:
        return None
    return value if year_supported(value, text) else None


def _resolved_titles(value: Any, text: str, titles: TitleMatcher | None) -> list[int]:
    """Item ids of the model's titles that resolve in the catalogue and are written in `text`."""
    if titles is None:
        return []
    ids = []
    for name in _strings(value):
        item_id = titles.match(name)
        if item_id is not None and title_occurs(name, text):
            ids.append(item_id)
    return ids


def _supported_keywords(value: Any, text: str, language: str, known: Iterable[str] = ()) -> list[str]:
    """Keywords written in `text`, or (at most three) English ones for a message in another language
    (Chinese), since translations help retrieval. Stop words, numbers, genre words and `known` names are dropped.

    >>> _supported_keywords(["time travel", "zombies", "80s", "comedy"], "funny time travel 80s comedy", "en")
    ['time travel']
    >>> _supported_keywords(["time travel", "时间旅行", "太空", "past", "future", "school"], "关于时间旅行的电影", "zh")
    ['time travel', '时间旅行', 'past', 'future']
    """
    folded = text.casefold()
    genre_words = {p for phrases in GENRE_PHRASES_EN.values() for p in phrases} | set(MULTI_GENRE_PHRASES)
    dropped = genre_words | STOPWORDS_EN | {k.casefold() for k in known}
    kept: list[str] = []
    translations = 0
    for word in _strings(value):
        w = word.casefold()
        if len(word) > 40 or w in dropped or re.search(r"\d", w):
            continue
        if w in folded:
            kept.append(word)
        elif language != "en" and translations < 3 and re.fullmatch(r"[A-Za-z][A-Za-z' -]*", word):
            kept.append(word)
            translations += 1
    return kept[:6]
