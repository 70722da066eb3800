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
from convrec.lang import Render, decade_digit, decade_pattern, genre_names, render_for, vague_words, year_pattern
from convrec.rank.explain import Ties, topic_phrase

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
    words = vague_words()
    topic = [k for k in needs.keywords if k.casefold() not in words]
    return not (needs.include_genres or needs.year_min or needs.year_max or needs.liked or topic or needs.prefer_genres)


# -- what was understood --------------------------------------------------------------------


def understood(needs: Needs, titles: dict[int, str], render: Render | None = None) -> str:
    """What was understood, in a few words: genres, period, topic, liked titles, exclusions.

    >>> understood(Needs(include_genres=("Comedy",), exclude_genres=("Horror",), year_min=1990, year_max=1999), {})
    'Comedy movies from the 1990s, no Horror'
    >>> understood(Needs(include_genres=("Comedy",), exclude_genres=("Horror",), year_min=1990, year_max=1999, language="zh"), {})
    '九十年代的喜剧片，不要恐怖片'
    """
    render = render or render_for(needs)
    liked = [titles[i] for i in needs.liked if i in titles]
    disliked = [titles[i] for i in needs.disliked if i in titles]
    topic = topic_phrase(needs) if not vague(needs) and needs.keywords else ""
    when = render.language.period(needs.year_min, needs.year_max)
    return render.language.understood(needs, when, topic, liked, disliked, render.noun)


# -- the reply and its question -------------------------------------------------------------


def constraint_name(key: str, needs: Needs) -> str:
    """A constraint of `Relaxation` ("years", "genre:Horror", "exclude:Horror") in words.

    >>> constraint_name("years", Needs(year_min=1950, year_max=1959)), constraint_name("exclude:Horror", Needs(language="zh"))
    ('the 1950s', '不要恐怖')
    """
    lang = render_for(needs).language
    if key == "years":
        return lang.period_name(needs.year_min, needs.year_max)
    kind, _, genre = key.partition(":")
    return lang.no(lang.genre(genre)) if kind == "exclude" else lang.genre(genre)


def _loosened(relax: Relaxation, needs: Needs) -> str:
    """What was loosened: 'left out Horror and looked at other years'."""
    lang = render_for(needs).language
    said = []
    for key in relax.dropped:
        kind, _, genre = key.partition(":")
        if key == "years":
            said.append(lang.loosen_years())
        elif kind == "exclude":
            said.append(lang.let_back(lang.genre(genre)))
        else:
            said.append(lang.left_out(constraint_name(key, needs)))
    return lang.loosened(said)


def question_for(
    needs: Needs, relax: Relaxation | None, render: Render | None = None, unclear: bool = False
) -> str | None:
    """The one question that would help most, or None when the request is clear enough
    (`unclear`: its topic matched nothing, see `unmatched`).

    >>> question_for(Needs(), None)
    'What are you in the mood for: a genre, a decade, or a movie you liked?'
    >>> question_for(Needs(include_genres=("Horror",), year_min=1950, year_max=1959, language="zh"), Relaxation(0, ("genre:Horror",), ("genre:Horror", "years")))
    '这几个条件里你最看重哪个：恐怖还是五十年代？'
    """
    render = render or render_for(needs)
    lang = render.language
    if relax is not None:
        names = [constraint_name(key, needs) for key in relax.options]
        if len(names) > 1:
            return lang.question_which(names)
        return lang.question_must(names[0]) if names else lang.question_other()
    if unclear:
        return lang.question_unclear(render.noun)
    return lang.question_vague(render.noun) if vague(needs) else None


def unmatched(needs: Needs, ties: Sequence[Ties]) -> bool:
    """A request only about a topic that no pick's record or text matches (e.g. a title in a
    language the catalogue does not hold): its answer is popular items, not matches."""
    hard = needs.include_genres or needs.year_min or needs.year_max or needs.liked or needs.prefer_genres
    return bool(needs.keywords) and not hard and not vague(needs) and not any(t.named() for t in ties)


def relation(needs: Needs, recs: Sequence[Rec], ties: Sequence[Ties], relax: Relaxation | None, render: Render) -> str:
    """How the picks relate to what was understood, in one sentence."""
    lang, n = render.language, len(recs)
    if not recs:
        return lang.nothing_fits()
    if relax is not None:
        loosened = _loosened(relax, needs)
        if relax.strict == 0:
            return lang.nearest(loosened)
        return lang.only_exact([rec.item.title for rec in recs[: relax.strict]], loosened)
    if vague(needs):
        return lang.popular_start(n, render.noun)
    phrase = topic_phrase(needs) if needs.keywords else ""
    if unmatched(needs, ties):
        return lang.nothing_about(phrase, n, render.noun)
    fans = [t.fans for t in ties if t.fans]
    if fans:
        top = max(set(fans), key=fans.count)
        return lang.fans_liked(top, fans.count(top), n)
    hard = bool(needs.include_genres or needs.exclude_genres or needs.year_min or needs.year_max)
    topical = phrase and any(t.word or t.near for t in ties)
    return lang.fitting(n, hard, phrase if topical else "")


def template_reply(
    needs: Needs,
    recs: Sequence[Rec],
    ties: Sequence[Ties],
    titles: dict[int, str],
    *,
    relax: Relaxation | None = None,
    asked_last: bool = False,
    render: Render | None = None,
    unplaced: Sequence[int] = (),
) -> Reply:
    """The reply and question of a turn from what was understood and how the picks relate to it
    (`titles`: item id -> title, for the liked and disliked items; `asked_last`: the previous
    turn asked a question, so this one does not; `unplaced`: the positions the person named,
    "more like #2", that no list of ours holds)."""
    render = render or render_for(needs)
    said = understood(needs, titles, render)
    head = "" if vague(needs) and relax is None else render.language.understood_head(said)
    text = not_placed(unplaced, render) + head + relation(needs, recs, ties, relax, render)
    ask = not asked_last and bool(recs)
    return Reply(text, question_for(needs, relax, render, unmatched(needs, ties)) if ask else None)


def not_placed(positions: Sequence[int], render: Render) -> str:
    """What a reply says when "more like #2" names no item of the latest list we recognise
    (none shown yet, a list written by hand, or a number past its end), so it is not dropped unsaid.

    >>> not_placed([1], render_for(Needs()))
    "I can't tell which movie #1 is: it is not in the latest list I recognise, so I left it out; name the title instead. "
    >>> not_placed([], render_for(Needs())), not_placed([2, 7], render_for(Needs(language="zh")))
    ('', '我认不出第2、7个指的是哪部：最近的列表里没有，所以先没算进去；请直接说片名。')
    """
    return render.language.not_placed(positions, render.noun) if positions else ""


# -- checking what a model wrote ------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\w+", text))


class TitleSpotter:
    """Finds catalogue titles written in a text, case kept ("the Matrix" is found, "the matrix"
    is not): a one-word title must be 4+ letters and no everyday word or genre, so that "Heat"
    is found but "Up" and "Romance" are not read as titles.

    >>> TitleSpotter(["The Matrix", "Up", "Heat"]).find("Like The Matrix and Heat, not up.")
    ['The Matrix', 'Heat']
    """

    def __init__(self, titles: Iterable[str], genres: Iterable[str] = ()) -> None:
        plain = COMMON_WORDS | {g.casefold() for g in genres}
        self.keys: dict[tuple[str, ...], str] = {}
        for title in titles:
            key = _words(title)
            if key[:1] in (("The",), ("A",), ("An",)) and len(key) > 1:
                key = key[1:]
            if len(key) > 1 or (key and len(key[0]) >= 4 and key[0].casefold() not in plain):
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
    problems += [f"year {y}" for y in year_pattern().findall(stripped) if int(y) not in years]
    for match in decade_pattern().finditer(stripped):
        if decade_digit(match) not in {y // 10 % 10 for y in years}:
            problems.append(f"decade {match.group(0)}")
    supported = {*needs.exclude_genres, *needs.avoid_genres} | {g for r in scope for g in r.item.genres}
    supported |= set() if about else {*needs.include_genres, *needs.prefer_genres}
    lowered = stripped.casefold()
    for g in genres:
        mentioned = re.search(rf"\b{re.escape(g.casefold())}", lowered) or any(
            not name.isascii() and name in stripped for name in genre_names(g)
        )
        if g not in supported and mentioned:
            problems.append(f"genre {g}")
    return problems
