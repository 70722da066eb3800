"""English: the default language, and the one any text without another script is read in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from convrec.core.types import Needs
from convrec.lang.base import Language

NUMBERS = "zero one two three four five six seven eight nine ten".split()
ORDINALS = ("", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


class English(Language):
    code = "en"
    name = "English"
    script = None
    sentence_gap = " "
    topic_separator = "”, “"
    one_stretch = False
    contrasts: ClassVar[Mapping[str, str]] = {
        "newest": "the newest of these",
        "oldest": "the oldest of these",
        "popular": "the most popular of these",
        "rare": "the least known of these",
    }

    vague_words = frozenset(
        "something anything whatever good nice great movie movies film films recommend suggest random watch any "
        "some please me one".split()
    )
    digits = "0123456789"
    decades = r"(?<![\d'])(?:19|20)?(\d)0'?s\b|\b'(\d)0s\b"
    decade_suffix = r"'?s\b"

    def number(self, n: int) -> str:
        """Up to ten in words.

        >>> English().number(5), English().number(12)
        ('five', '12')
        """
        return NUMBERS[n] if 0 <= n <= 10 else str(n)

    def genre(self, genre: str) -> str:
        return genre

    def join(self, words: Sequence[str], last: str = "and") -> str:
        """Commas, then the last word.

        >>> English().join(["A", "B", "C"]), English().join(["A", "B"], "or")
        ('A, B and C', 'A or B')
        """
        return f" {last} ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else list(words))

    def titles(self, shown: Sequence[str], total: int, last: str = "and") -> str:
        if total > len(shown):
            return self.join([*shown, f"{total - len(shown)} more"])
        return self.join(shown, last)

    def period(self, lo: int | None, hi: int | None) -> str:
        """The years, said as a span.

        >>> English().period(1990, 1999), English().period(None, 1969), English().period(1980, 1985)
        ('from the 1990s', 'up to 1969', 'from 1980 to 1985')
        """
        if lo is not None and hi == lo + 9 and lo % 10 == 0:
            return f"from the {lo}s"
        if lo is not None and lo == hi:
            return f"from {lo}"
        if lo is not None and hi is not None:
            return f"from {lo} to {hi}"
        if lo is not None:
            return f"from {lo} on"
        if hi is not None:
            return f"up to {hi}"
        return ""

    def period_name(self, lo: int | None, hi: int | None) -> str:
        return self.period(lo, hi).removeprefix("from ")

    def steer(self, action: str, position: int) -> str:
        return f"more like #{position}" if action == "more_like" else f"not interested in #{position}"

    # -- the reply and its question ------------------------------------------------------------

    def understood(
        self, needs: Needs, when: str, topic: str, liked: Sequence[str], disliked: Sequence[str], noun: str
    ) -> str:
        def names(genres: Sequence[str], last: str = "and") -> str:
            return self.join([self.genre(g) for g in genres], last)

        kind = f"{names(needs.include_genres)} {noun}s" if needs.include_genres else f"{noun}s"
        head = " ".join(
            x
            for x in (
                kind,
                when,
                f"about “{topic}”" if topic else "",
                f"like {self.named_titles(liked)}" if liked else "",
            )
            if x
        )
        tail = [f"no {names(needs.exclude_genres, 'or')}"] if needs.exclude_genres else []
        tail += [f"not too much {names(needs.avoid_genres, 'or')}"] if needs.avoid_genres else []
        tail += [f"leaning to {names(needs.prefer_genres, 'or')}"] if needs.prefer_genres else []
        tail += [f"nothing like {self.named_titles(disliked, 'or')}"] if disliked else []
        head = head[:1].upper() + head[1:]
        return ", ".join([head, *tail])

    def understood_head(self, said: str) -> str:
        return f"Understood: {said}. "

    def no(self, name: str) -> str:
        return f"no {name}"

    def loosened(self, said: Sequence[str]) -> str:
        return self.join(said) or "found nothing to loosen"

    def loosen_years(self) -> str:
        return "looked at the nearest years"

    def let_back(self, genre: str) -> str:
        return f"let {genre} back in"

    def left_out(self, name: str) -> str:
        return f"left out {name}"

    def question_which(self, names: Sequence[str]) -> str:
        return f"Which matters most to you: {self.join(names, 'or')}?"

    def question_must(self, name: str) -> str:
        return f"Is {name} a must, or would something close do?"

    def question_other(self) -> str:
        return "Shall I try with different conditions?"

    def question_unclear(self, noun: str) -> str:
        return f"Could you put it another way: a genre, a decade, or a {noun} like it?"

    def question_vague(self, noun: str) -> str:
        return f"What are you in the mood for: a genre, a decade, or a {noun} you liked?"

    def nothing_fits(self) -> str:
        return "Nothing in the catalogue fits, even loosened."

    def nearest(self, loosened: str) -> str:
        return f"Nothing in the catalogue fits all of it, so I {loosened}: these are the nearest."

    def only_exact(self, exact: Sequence[str], loosened: str) -> str:
        return f"Only {self.join(exact)} {'fits' if len(exact) == 1 else 'fit'} all of it; for the rest I {loosened}."

    def popular_start(self, n: int, noun: str) -> str:
        return f"You didn't say what you like, so here are {self.number(n)} popular {noun}s to start."

    def nothing_about(self, topic: str, n: int, noun: str) -> str:
        return (
            f"I found nothing about “{topic}” in the catalogue, so here are {self.number(n)} popular {noun}s instead."
        )

    def fans_liked(self, title: str, many: int, n: int) -> str:
        which = self.all_of(n) if many == n else f"{self.number(many)} of these {self.number(n)}"
        return f"People who liked {title} also liked {which}."

    def fitting(self, n: int, hard: bool, topic: str) -> str:
        fit = f"{self.all_of(n).capitalize()} {'fits' if n == 1 else 'fit'}"
        if hard and topic:
            return f"{fit}, and {'it is' if n == 1 else 'these are'} the closest in the catalogue to “{topic}”."
        if topic:
            return f"These are the closest matches in the catalogue for “{topic}”."
        return f"{fit} every part of it." if hard else f"These {self.number(n)} fit best."

    def all_of(self, n: int) -> str:
        """Every pick.

        >>> [English().all_of(n) for n in (1, 2, 5)]
        ['this one', 'both', 'all five']
        """
        return "this one" if n == 1 else "both" if n == 2 else f"all {self.number(n)}"

    def not_placed(self, positions: Sequence[int], noun: str) -> str:
        refs, one = self.join([f"#{p}" for p in positions]), len(positions) == 1
        return (
            f"I can't tell which {noun}{'' if one else 's'} {refs} {'is' if one else 'are'}: "
            f"{'it is' if one else 'they are'} not in the latest list I recognise, so I left "
            f"{'it' if one else 'them'} out; name the title instead. "
        )

    # -- reasons -----------------------------------------------------------------------------

    def reason_genres(self, genres: Sequence[str]) -> str:
        return "/".join(self.genre(g) for g in genres)

    def reason_lead(
        self, year: int | None, shown: Sequence[str], period: str, asked: int, preferred: bool, noun: str
    ) -> str:
        lead = self.reason_genres(shown) or ("from" if year else f"a {noun}")
        lead += f" from {year}".removeprefix(" from" if lead == "from" else "") if year else ""
        if period:
            said = {"decade": f"the {year // 10 * 10 if year else ''}s", "year": "the year"}.get(period, "the years")
            lead += f", in {said} you asked for"
        elif asked:
            lead += ", the genre you asked for" if asked == 1 else ", the genres you asked for"
        elif preferred:
            lead += ", the kind you wanted"
        return lead

    def also(self, genres: Sequence[str], noun: str) -> str:
        return "also " + self.reason_genres(genres)

    def word_clause(self, word: str, field: str, source: str = "", phrase: str = "") -> str:
        if field == "tags":
            return (
                f"tagged “{word}” by viewers"
                if source == "viewers"
                else f"{source} keyword “{word}”"
                if source
                else f"tagged “{word}”"
            )
        if field == "text" and phrase:
            return f"its description: “{phrase}”"
        return {"title": f"“{word}” is in its title", "people": f"with {word}"}.get(
            field, f"its description mentions “{word}”"
        )

    def liked_clause(self, liked: str, shared: Sequence[str], same_decade: bool) -> str:
        return f"shares {self.join([*shared, *(['the decade'] if same_decade else [])])} with {liked}"

    def fans_clause(self, title: str) -> str:
        return f"people who liked {title} also liked it"

    def near_clause(self, topic: str) -> str:
        return f"among the closest in the catalogue to “{topic}”"

    def misses_clause(self, misses: Sequence[str]) -> str:
        said = {"genres": "not every genre you named", "years": "outside the years you asked for"}
        said["excluded"] = "it has a genre you ruled out"
        return "the nearest I found: " + ", ".join(said[m] for m in misses)

    def only_genre(self, genre: str, noun: str, asked: bool) -> str:
        return f"the only one of these that is also {genre}" if asked else f"the only {genre} {noun} of these"

    def popularity_rank(self, rank: int) -> str:
        return (
            f"the {ORDINALS[rank]} most popular of these"
            if 0 < rank < len(ORDINALS)
            else "less known than most of these"
        )

    def sentence(self, clauses: Sequence[str]) -> str:
        """Clauses after a capital, with semicolons.

        >>> English().sentence(["comedy from 1995", "the newest of these"])
        'Comedy from 1995; the newest of these.'
        """
        text = "; ".join(c for c in clauses if c)
        return text[:1].upper() + text[1:] + "."
