"""The assistant's words for one turn, in the person's language (English or Chinese): a reply of
one or two sentences saying what was understood and how the picks relate to it, and at most one
short question when the request is too vague to rank well or the constraints leave too few items.

    template_reply(needs, recs, ties, ...) -> Reply(text, question)

The template reply is built from the needs, the picks' ties (`explain.Ties`) and the relaxation
the turn needed (`Relaxation`), so it is shown with the cards at once. A reply a model writes
(`convrec.rank.narrate`) must pass `reply_claims`: only titles on the list (or named by the
person), and only years, decades and genres of the listed records or of the request.

Which question (`question_for`): a vague request (no genre, period, topic or liked title) asks
what the person is in the mood for; a relaxed one asks which constraint matters most. Never two
in a row: the caller says whether the previous turn asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from convrec.core.types import Needs, Rec, Relaxation
from convrec.data.titles import COMMON_WORDS
from convrec.rank.explain import DECADE, GENRE_ZH, YEAR, ZH_DIGITS, Ties, topic_phrase

# Words that say nothing about what to rank by ("随便" is "whatever"): a request of only these is vague.
VAGUE_WORDS = frozenset(
    "something anything whatever good nice great movie movies film films recommend suggest random watch any "
    "some please me one 随便 什么 都行 都可以 推荐 好看 一部 一个 电影 片子 看看 来一部 随意".split()
)
ZH_TENS = "〇十二三四五六七八九"
NUMBERS = "zero one two three four five six seven eight nine ten".split()
NUMBERS_ZH = "零一两三四五六七八九十"
NAMED_TITLES = 3  # liked or disliked titles a reply names; a longer list is counted


def number(n: int, zh: bool) -> str:
    """'five' / '五' up to ten, digits beyond.

    >>> number(5, False), number(2, True), number(12, False)
    ('five', '两', '12')
    """
    if 0 <= n <= 10:
        return NUMBERS_ZH[n] if zh else NUMBERS[n]
    return str(n)


# Capitalised words a reply may use that name nothing ("These comedies ..."); any other capitalised
# word must belong to a listed title, a genre or the request, else it may name something off the list.
PLAIN_CAPITALS = COMMON_WORDS | frozenset(
    "i i'm i've i'd it its it's the these this those that that's all both each every here here's there "
    "there's they you you'll you're your my our we we've let's understood got sure yes no ok okay great "
    "good fun perfect enjoy try based since because if when while as so also plus then just what which who "
    "how why where nothing only some most many few none one two three four five six seven eight nine ten "
    "a an and or but for in on of to with from like people english chinese movies films picks options list "
    "is are was were would shall should could can do does did will may might".split()
)


@dataclass(frozen=True)
class Reply:
    text: str
    question: str | None = None


def vague(needs: Needs) -> bool:
    """Nothing to rank by: no genre, period, topic or liked title (exclusions alone are not enough).

    >>> vague(Needs(keywords=("随便",))), vague(Needs(exclude_genres=("Horror",))), vague(Needs(year_min=1990))
    (True, True, False)
    """
    topic = [k for k in needs.keywords if k.casefold() not in VAGUE_WORDS]
    return not (needs.include_genres or needs.year_min or needs.year_max or needs.liked or topic or needs.prefer_genres)


# -- what was understood --------------------------------------------------------------------


def period(lo: int | None, hi: int | None, zh: bool) -> str:
    """The asked years in words.

    >>> period(1990, 1999, False), period(1990, 1999, True), period(None, 1969, False), period(2011, None, True)
    ('from the 1990s', '九十年代', 'up to 1969', '2011年以后')
    """
    if lo is not None and hi == lo + 9 and lo % 10 == 0:
        if zh:
            return f"{ZH_TENS[lo // 10 % 10]}十年代" if 1920 <= lo < 2000 else f"{lo}年代"
        return f"from the {lo}s"
    if lo is not None and lo == hi:
        return f"{lo}年" if zh else f"from {lo}"
    if lo is not None and hi is not None:
        return f"{lo}到{hi}年" if zh else f"from {lo} to {hi}"
    if lo is not None:
        return f"{lo}年以后" if zh else f"from {lo} on"
    if hi is not None:
        return f"{hi}年以前" if zh else f"up to {hi}"
    return ""


def _latest(titles: Sequence[str], zh: bool, last: str = "and") -> str:
    """Titles the person named, the latest `NAMED_TITLES` of a longer list and how many more.

    >>> _latest(["Heat", "Up"], False), _latest(list("ABCDE"), False), _latest(list("ABCDE"), True)
    ('Heat and Up', 'C, D, E and 2 more', '《C》、《D》、《E》等5部')
    """
    shown = titles[-NAMED_TITLES:]
    if zh:
        return "、".join(f"《{t}》" for t in shown) + (f"等{len(titles)}部" if len(titles) > len(shown) else "")
    if len(titles) > len(shown):
        return _and([*shown, f"{len(titles) - len(shown)} more"], False)
    return _and(shown, False, last)


def _and(words: Sequence[str], zh: bool, last: str = "and") -> str:
    if zh:
        return "、".join(words)
    return f" {last} ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else list(words))


def understood(needs: Needs, titles: dict[int, str], noun: str = "movie") -> str:
    """What was understood, in a few words: genres, period, topic, liked titles, exclusions.

    >>> understood(Needs(include_genres=("Comedy",), exclude_genres=("Horror",), year_min=1990, year_max=1999), {})
    'Comedy movies from the 1990s, no Horror'
    >>> understood(Needs(include_genres=("Comedy",), exclude_genres=("Horror",), year_min=1990, year_max=1999, language="zh"), {})
    '九十年代的喜剧片，不要恐怖片'
    """
    zh, film = needs.language == "zh", noun == "movie"
    liked = [titles[i] for i in needs.liked if i in titles]
    disliked = [titles[i] for i in needs.disliked if i in titles]
    topic = topic_phrase(needs) if not vague(needs) and needs.keywords else ""
    when = period(needs.year_min, needs.year_max, zh)
    if zh:
        kind = (
            (_and([GENRE_ZH.get(g, g) for g in needs.include_genres], True) + ("片" if film else "类"))
            if needs.include_genres
            else ("电影" if film else noun)
        )
        head = "".join(
            [
                f"{when}的" if when else "",
                f"关于“{topic}”的" if topic else "",
                f"像{_latest(liked, True)}那样的" if liked else "",
                kind,
            ]
        )
        tail = (
            [f"不要{_and([GENRE_ZH.get(g, g) for g in needs.exclude_genres], True)}{'片' if film else '类'}"]
            if needs.exclude_genres
            else []
        )
        tail += [f"别太{_and([GENRE_ZH.get(g, g) for g in needs.avoid_genres], True)}"] if needs.avoid_genres else []
        tail += (
            [f"偏{_and([GENRE_ZH.get(g, g) for g in needs.prefer_genres], True)}一点"] if needs.prefer_genres else []
        )
        tail += [f"不要像{_latest(disliked, True)}的"] if disliked else []
        return "，".join([head, *tail])
    kind = f"{_and(list(needs.include_genres), False)} {noun}s" if needs.include_genres else f"{noun}s"
    head = " ".join(
        x
        for x in (kind, when, f"about “{topic}”" if topic else "", f"like {_latest(liked, False)}" if liked else "")
        if x
    )
    tail = [f"no {_and(list(needs.exclude_genres), False, 'or')}"] if needs.exclude_genres else []
    tail += [f"not too much {_and(list(needs.avoid_genres), False, 'or')}"] if needs.avoid_genres else []
    tail += [f"leaning to {_and(list(needs.prefer_genres), False, 'or')}"] if needs.prefer_genres else []
    tail += [f"nothing like {_latest(disliked, False, 'or')}"] if disliked else []
    head = head[:1].upper() + head[1:]
    return ", ".join([head, *tail])


# -- the reply and its question -------------------------------------------------------------


def constraint_name(key: str, needs: Needs, zh: bool) -> str:
    """A constraint of `Relaxation` ("years", "genre:Horror", "exclude:Horror") in words.

    >>> constraint_name("years", Needs(year_min=1950, year_max=1959), False), constraint_name("exclude:Horror", Needs(), True)
    ('the 1950s', '不要恐怖')
    """
    if key == "years":
        when = period(needs.year_min, needs.year_max, zh)
        return when if zh else when.removeprefix("from ")
    kind, _, genre = key.partition(":")
    name = GENRE_ZH.get(genre, genre) if zh else genre
    if kind == "exclude":
        return f"不要{name}" if zh else f"no {name}"
    return name


def _loosened(relax: Relaxation, needs: Needs, zh: bool) -> str:
    """What was loosened: 'left out Horror and looked at other years'."""
    said = []
    for key in relax.dropped:
        name = constraint_name(key, needs, zh)
        if key == "years":
            said.append("放宽了年份" if zh else "looked at the nearest years")
        elif key.startswith("exclude:"):
            said.append(f"允许{name.removeprefix('不要')}" if zh else f"let {name.removeprefix('no ')} back in")
        else:
            said.append(f"去掉了“{name}”" if zh else f"left out {name}")
    return ("，".join(said) if zh else _and(said, False)) or ("没有可以放宽的条件" if zh else "found nothing to loosen")


def question_for(needs: Needs, relax: Relaxation | None, noun: str = "movie", unclear: bool = False) -> str | None:
    """The one question that would help most, or None when the request is clear enough
    (`unclear`: its topic matched nothing, see `unmatched`).

    >>> question_for(Needs(), None)
    'What are you in the mood for: a genre, a decade, or a movie you liked?'
    >>> question_for(Needs(include_genres=("Horror",), year_min=1950, year_max=1959, language="zh"), Relaxation(0, ("genre:Horror",), ("genre:Horror", "years")))
    '这几个条件里你最看重哪个：恐怖还是五十年代？'
    """
    zh = needs.language == "zh"
    film = "电影" if noun == "movie" else noun
    if relax is not None:
        names = [constraint_name(key, needs, zh) for key in relax.options]
        if len(names) > 1:
            if zh:
                return f"这几个条件里你最看重哪个：{'、'.join(names[:-1])}还是{names[-1]}？"
            return f"Which matters most to you: {_and(names, False, 'or')}?"
        if names:
            return f"一定要“{names[0]}”吗？" if zh else f"Is {names[0]} a must, or would something close do?"
        return "要不要换个条件试试？" if zh else "Shall I try with different conditions?"
    if unclear:
        if zh:
            return f"能换个说法吗：哪种类型、哪个年代，或者像哪部{film}？"
        return f"Could you put it another way: a genre, a decade, or a {noun} like it?"
    if vague(needs):
        if zh:
            return f"你想看什么样的：哪种类型、哪个年代，或者有没有喜欢的{film}？"
        return f"What are you in the mood for: a genre, a decade, or a {noun} you liked?"
    return None


def unmatched(needs: Needs, ties: Sequence[Ties]) -> bool:
    """A request only about a topic that no pick's record or text matches (e.g. a title in a
    language the catalogue does not hold): its answer is popular items, not matches."""
    hard = needs.include_genres or needs.year_min or needs.year_max or needs.liked or needs.prefer_genres
    return bool(needs.keywords) and not hard and not vague(needs) and not any(t.named() for t in ties)


def relation(needs: Needs, recs: Sequence[Rec], ties: Sequence[Ties], relax: Relaxation | None, noun: str) -> str:
    """How the picks relate to what was understood, in one sentence."""
    zh, n = needs.language == "zh", len(recs)
    count = number(n, zh)
    if not recs:
        return "目录里没有符合的。" if zh else "Nothing in the catalogue fits, even loosened."
    if relax is not None:
        loosened = _loosened(relax, needs, zh)
        if relax.strict == 0:
            if zh:
                return f"目录里没有完全符合的，所以我{loosened}：这些是最接近的。"
            return f"Nothing in the catalogue fits all of it, so I {loosened}: these are the nearest."
        exact = [r.item.title for r in recs[: relax.strict]]
        if zh:
            return f"只有{'、'.join(f'《{t}》' for t in exact)}完全符合；其余的是我{loosened}后最接近的。"
        return f"Only {_and(exact, False)} {'fits' if len(exact) == 1 else 'fit'} all of it; for the rest I {loosened}."
    if vague(needs):
        if zh:
            return f"你还没说想看什么，先推荐{count}部大家都喜欢的。"
        return f"You didn't say what you like, so here are {count} popular {noun}s to start."
    phrase = topic_phrase(needs) if needs.keywords else ""
    if unmatched(needs, ties):
        if zh:
            return f"目录里没找到和“{phrase}”有关的，先推荐{count}部大家都喜欢的。"
        return f"I found nothing about “{phrase}” in the catalogue, so here are {count} popular {noun}s instead."
    fans = [t.fans for t in ties if t.fans]
    if fans:
        top = max(set(fans), key=fans.count)
        many = fans.count(top)
        if zh:
            return f"喜欢《{top}》的人也喜欢{_all(n, True) if many == n else f'其中{number(many, True)}部'}。"
        return f"People who liked {top} also liked {_all(n, False) if many == n else f'{number(many, False)} of these {count}'}."
    hard = needs.include_genres or needs.exclude_genres or needs.year_min or needs.year_max
    topical = phrase and any(t.word or t.near for t in ties)
    if zh:
        fit = f"{_all(n, True)}{'' if n == 1 else '都'}符合" if hard else ""
        near = f"目录里与“{phrase}”最接近的是这些" if topical else ""
        return "，".join(x for x in (fit, near) if x) + "。" if fit or near else f"这{count}部最合适。"
    fit = f"{_all(n, False).capitalize()} {'fits' if n == 1 else 'fit'}"
    if hard and topical:
        return f"{fit}, and {'it is' if n == 1 else 'these are'} the closest in the catalogue to “{phrase}”."
    if topical:
        return f"These are the closest matches in the catalogue for “{phrase}”."
    return f"{fit} every part of it." if hard else f"These {count} fit best."


def _all(n: int, zh: bool) -> str:
    """Every one of `n` picks, as a sentence names them.

    >>> [_all(n, False) for n in (1, 2, 5)], [_all(n, True) for n in (1, 2, 5)]
    (['this one', 'both', 'all five'], ['这部', '这两部', '这五部'])
    """
    if zh:
        return "这部" if n == 1 else f"这{number(n, True)}部"
    return "this one" if n == 1 else "both" if n == 2 else f"all {number(n, False)}"


def template_reply(
    needs: Needs,
    recs: Sequence[Rec],
    ties: Sequence[Ties],
    titles: dict[int, str],
    *,
    relax: Relaxation | None = None,
    asked_last: bool = False,
    noun: str = "movie",
    unplaced: Sequence[int] = (),
) -> Reply:
    """The reply and question of a turn from what was understood and how the picks relate to it
    (`titles`: item id -> title, for the liked and disliked items; `asked_last`: the previous
    turn asked a question, so this one does not; `unplaced`: the positions the person named,
    "more like #2", that no list of ours holds)."""
    zh = needs.language == "zh"
    said = understood(needs, titles, noun)
    head = "" if vague(needs) and relax is None else f"明白了：{said}。" if zh else f"Understood: {said}. "
    text = not_placed(unplaced, zh, noun) + head + relation(needs, recs, ties, relax, noun)
    ask = not asked_last and bool(recs)
    return Reply(text, question_for(needs, relax, noun, unmatched(needs, ties)) if ask else None)


def not_placed(positions: Sequence[int], zh: bool, noun: str = "movie") -> str:
    """What a reply says when "more like #2" names no item of the latest list we recognise
    (none shown yet, a list written by hand, or a number past its end), so it is not dropped unsaid.

    >>> not_placed([1], False)
    "I can't tell which movie #1 is: it is not in the latest list I recognise, so I left it out; name the title instead. "
    >>> not_placed([], False), not_placed([2, 7], True)
    ('', '我认不出第2、7个指的是哪部：最近的列表里没有，所以先没算进去；请直接说片名。')
    """
    if not positions:
        return ""
    if zh:
        return (
            f"我认不出第{'、'.join(map(str, positions))}个指的是哪部：最近的列表里没有，所以先没算进去；请直接说片名。"
        )
    refs, one = _and([f"#{p}" for p in positions], False), len(positions) == 1
    return (
        f"I can't tell which {noun}{'' if one else 's'} {refs} {'is' if one else 'are'}: "
        f"{'it is' if one else 'they are'} not in the latest list I recognise, so I left "
        f"{'it' if one else 'them'} out; name the title instead. "
    )


# -- checking what a model wrote ------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\w+", text))


class TitleSpotter:
    """Finds catalogue titles written in a text, case kept ("the Matrix" is found, "the matrix"
    is not): a one-word title must be 4+ letters and no everyday word or genre, so that "Heat"
    is found but "Up" and "Romance" are not read as titles, nor a year ("1969").

    >>> TitleSpotter(["The Matrix", "Up", "Heat", "1969"]).find("Like The Matrix and Heat, not up, up to 1969.")
    ['The Matrix', 'Heat']
    """

    def __init__(self, titles: Iterable[str], genres: Iterable[str] = ()) -> None:
        plain = COMMON_WORDS | {g.casefold() for g in genres}
        self.keys: dict[tuple[str, ...], str] = {}
        for title in titles:
            key = _words(title)
            if key[:1] in (("The",), ("A",), ("An",)) and len(key) > 1:
                key = key[1:]
            if len(key) > 1 or (key and len(key[0]) >= 4 and key[0].casefold() not in plain and not key[0].isdigit()):
                self.keys.setdefault(key, title)
        self.longest = max((len(k) for k in self.keys), default=0)

    def find(self, text: str) -> list[str]:
        words, found, i = _words(text), [], 0
        while i < len(words):
            for n in range(min(self.longest, len(words) - i), 0, -1):
                title = self.keys.get(words[i : i + n])
                if title:
                    found.append(title)
                    i += n
                    break
            else:
                i += 1
        return found


SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
QUOTED = re.compile(r"“(.+?)”|\"([^\"\n]+)\"|《(.+?)》")


def split_sentences(text: str) -> tuple[list[str], str]:
    """(the complete sentences of `text`, the rest still being written).

    >>> split_sentences("One fits. Two fits! Thr")
    (['One fits.', 'Two fits!'], 'Thr')
    """
    parts = SENTENCE_END.split(text)
    return [p.strip() for p in parts[:-1] if p.strip()], parts[-1]


def reply_claims(
    text: str,
    recs: Sequence[Rec],
    needs: Needs,
    spotter: TitleSpotter,
    genres: Sequence[str],
    named: Sequence[str] = (),
) -> list[str]:
    """What a reply says that neither the listed records nor the request support (empty =
    grounded), sentence by sentence: a title not on the list (nor `named` by the person), a
    quoted or capitalised name that is no listed title, a list instead of sentences; and a year,
    decade or asked-for genre that no listed item of the sentence has (of the whole list when the
    sentence names none: "Cinderella is a 1950s horror musical" is refused for a horror request).

    >>> from convrec.core.types import Item
    >>> recs = [Rec(Item(1, "Heat", 1995, ("Crime",)), 1.0, ""), Rec(Item(2, "Scream", 1996, ("Horror",)), 1.0, "")]
    >>> check = lambda text: reply_claims(text, recs, Needs(include_genres=("Horror",)), TitleSpotter(["Heat", "Ronin"]), ["Crime", "Horror"])
    >>> check("Heat (1995) is a crime film, like Ronin from 1998."), check("Heat is a horror film."), check("Horror and crime.")
    (['title Ronin', 'year 1998'], ['genre Horror'], [])
    """
    problems = ["a list, not sentences"] if "|" in text or "\n" in text.strip() else []
    titles = sorted({r.item.title for r in recs} | set(named) - {""}, key=len, reverse=True)
    for n, title in enumerate(titles):  # "(a.k.a. ...)" in a title ends no sentence
        text = text.replace(title, f"\0{n}\0")
    done, rest = split_sentences(text)
    for sentence in [*done, rest] if rest.strip() else done:
        sentence = re.sub(r"\0(\d+)\0", lambda m: titles[int(m.group(1))], sentence)
        problems += _sentence_claims(sentence, recs, needs, spotter, genres, named)
    return problems


def _sentence_claims(
    text: str, recs: Sequence[Rec], needs: Needs, spotter: TitleSpotter, genres: Sequence[str], named: Sequence[str]
) -> list[str]:
    listed = {r.item.title for r in recs}
    allowed = listed | set(named)
    spotted = spotter.find(text)
    problems = [f"title {t}" for t in spotted if t not in allowed]
    for groups in QUOTED.findall(text):
        quoted = next(g for g in groups if g)
        said = quoted.casefold() in needs.text.casefold() or quoted in " ".join(needs.keywords)
        if quoted not in allowed and not said and quoted not in genres:
            problems.append(f"name {quoted}")
    known = {w.casefold() for t in [*allowed, *genres, needs.text] for w in _words(t)} | PLAIN_CAPITALS
    for run in re.findall(r"\b[A-Z][\w'-]*(?:\s+(?:of|the|and|in|a)?\s*[A-Z][\w'-]*)*", text):
        if run not in allowed and run not in spotted and not all(w.casefold() in known for w in _words(run)):
            problems.append(f"name {run}")
    about = [r for r in recs if r.item.title in text]
    scope = about or recs
    years = {r.item.year for r in scope if r.item.year}
    years |= set() if about else {y for y in (needs.year_min, needs.year_max) if y}
    stripped = text
    for t in sorted(allowed, key=len, reverse=True):
        stripped = stripped.replace(t, " ")
    problems += [f"year {y}" for y in YEAR.findall(stripped) if int(y) not in years]
    for match in DECADE.finditer(stripped):
        digit = next(g for g in match.groups() if g)
        if (int(digit) if digit.isdigit() else ZH_DIGITS.index(digit)) not in {y // 10 % 10 for y in years}:
            problems.append(f"decade {match.group(0)}")
    supported = {*needs.exclude_genres, *needs.avoid_genres} | {g for r in scope for g in r.item.genres}
    supported |= set() if about else {*needs.include_genres, *needs.prefer_genres}
    lowered = stripped.casefold()
    for g in genres:
        zh = GENRE_ZH.get(g, "")
        mentioned = re.search(rf"\b{re.escape(g.casefold())}", lowered) or (zh and not zh.isascii() and zh in stripped)
        if g not in supported and mentioned:
            problems.append(f"genre {g}")
    return problems
