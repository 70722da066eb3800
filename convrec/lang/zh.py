"""Chinese (simplified): any text holding a CJK ideograph is read as Chinese."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from convrec.core.text import CJK
from convrec.core.types import Needs
from convrec.lang.base import Language

GENRES = {
    "Action": "动作",
    "Adventure": "冒险",
    "Animation": "动画",
    "Children": "儿童",
    "Comedy": "喜剧",
    "Crime": "犯罪",
    "Documentary": "纪录",
    "Drama": "剧情",
    "Fantasy": "奇幻",
    "Film-Noir": "黑色电影",
    "Horror": "恐怖",
    "IMAX": "IMAX",
    "Musical": "歌舞",
    "Mystery": "悬疑",
    "Romance": "爱情",
    "Sci-Fi": "科幻",
    "Thriller": "惊悚",
    "War": "战争",
    "Western": "西部",
}
NUMBERS = "零一两三四五六七八九十"
TENS = "〇十二三四五六七八九"  # the tens digit of a decade: 九十年代
ORDINALS = ("", "第二", "第三", "第四", "第五", "第六", "第七", "第八", "第九", "第十")


class Chinese(Language):
    code = "zh"
    name = "Chinese"
    script = CJK
    sentence_gap = ""
    topic_separator = "”、“"
    one_stretch = True
    contrasts: ClassVar[Mapping[str, str]] = {
        "newest": "这几部里最新的",
        "oldest": "这几部里最早的",
        "popular": "这几部里最受欢迎的",
        "rare": "这几部里最冷门的",
    }

    vague_words = frozenset("随便 什么 都行 都可以 推荐 好看 一部 一个 电影 片子 看看 来一部 随意".split())
    digits = "〇一二三四五六七八九"
    decades = r"(?<!\d)(?:1[89]|20)?(\d)0年代|([二三四五六七八九])十年代"
    decade_suffix = "年代"

    def number(self, n: int) -> str:
        """Up to ten in characters (两 for two).

        >>> Chinese().number(2), Chinese().number(12)
        ('两', '12')
        """
        return NUMBERS[n] if 0 <= n <= 10 else str(n)

    def genre(self, genre: str) -> str:
        return GENRES.get(genre, genre)

    def join(self, words: Sequence[str], last: str = "and") -> str:
        return "、".join(words)

    def titles(self, shown: Sequence[str], total: int, last: str = "and") -> str:
        """In book-title marks, the rest counted.

        >>> Chinese().named_titles(list("ABCDE"))
        '《C》、《D》、《E》等5部'
        """
        return "、".join(f"《{t}》" for t in shown) + (f"等{total}部" if total > len(shown) else "")

    def period(self, lo: int | None, hi: int | None) -> str:
        """A decade of the 1900s in characters.

        >>> Chinese().period(1990, 1999), Chinese().period(2011, None)
        ('九十年代', '2011年以后')
        """
        if lo is not None and hi == lo + 9 and lo % 10 == 0:
            return f"{TENS[lo // 10 % 10]}十年代" if 1920 <= lo < 2000 else f"{lo}年代"
        if lo is not None and lo == hi:
            return f"{lo}年"
        if lo is not None and hi is not None:
            return f"{lo}到{hi}年"
        if lo is not None:
            return f"{lo}年以后"
        if hi is not None:
            return f"{hi}年以前"
        return ""

    def period_name(self, lo: int | None, hi: int | None) -> str:
        return self.period(lo, hi)

    def steer(self, action: str, position: int) -> str:
        return f"更像第{position}个" if action == "more_like" else f"不要第{position}个那种"

    # -- the reply and its question ------------------------------------------------------------

    def _kind(self, noun: str) -> str:
        """What follows a genre: 喜剧片 for films, 喜剧类 for anything else."""
        return "片" if noun == "movie" else "类"

    def _film(self, noun: str) -> str:
        return "电影" if noun == "movie" else noun

    def understood(
        self, needs: Needs, when: str, topic: str, liked: Sequence[str], disliked: Sequence[str], noun: str
    ) -> str:
        def names(genres: Sequence[str]) -> str:
            return self.join([self.genre(g) for g in genres])

        kind = names(needs.include_genres) + self._kind(noun) if needs.include_genres else self._film(noun)
        head = "".join(
            [
                f"{when}的" if when else "",
                f"关于“{topic}”的" if topic else "",
                f"像{self.named_titles(liked)}那样的" if liked else "",
                kind,
            ]
        )
        tail = [f"不要{names(needs.exclude_genres)}{self._kind(noun)}"] if needs.exclude_genres else []
        tail += [f"别太{names(needs.avoid_genres)}"] if needs.avoid_genres else []
        tail += [f"偏{names(needs.prefer_genres)}一点"] if needs.prefer_genres else []
        tail += [f"不要像{self.named_titles(disliked)}的"] if disliked else []
        return "，".join([head, *tail])

    def understood_head(self, said: str) -> str:
        return f"明白了：{said}。"

    def no(self, name: str) -> str:
        return f"不要{name}"

    def loosened(self, said: Sequence[str]) -> str:
        return "，".join(said) or "没有可以放宽的条件"

    def loosen_years(self) -> str:
        return "放宽了年份"

    def let_back(self, genre: str) -> str:
        return f"允许{genre}"

    def left_out(self, name: str) -> str:
        return f"去掉了“{name}”"

    def question_which(self, names: Sequence[str]) -> str:
        return f"这几个条件里你最看重哪个：{'、'.join(names[:-1])}还是{names[-1]}？"

    def question_must(self, name: str) -> str:
        return f"一定要“{name}”吗？"

    def question_other(self) -> str:
        return "要不要换个条件试试？"

    def question_unclear(self, noun: str) -> str:
        return f"能换个说法吗：哪种类型、哪个年代，或者像哪部{self._film(noun)}？"

    def question_vague(self, noun: str) -> str:
        return f"你想看什么样的：哪种类型、哪个年代，或者有没有喜欢的{self._film(noun)}？"

    def nothing_fits(self) -> str:
        return "目录里没有符合的。"

    def nearest(self, loosened: str) -> str:
        return f"目录里没有完全符合的，所以我{loosened}：这些是最接近的。"

    def only_exact(self, exact: Sequence[str], loosened: str) -> str:
        return f"只有{'、'.join(f'《{t}》' for t in exact)}完全符合；其余的是我{loosened}后最接近的。"

    def popular_start(self, n: int, noun: str) -> str:
        return f"你还没说想看什么，先推荐{self.number(n)}部大家都喜欢的。"

    def nothing_about(self, topic: str, n: int, noun: str) -> str:
        return f"目录里没找到和“{topic}”有关的，先推荐{self.number(n)}部大家都喜欢的。"

    def fans_liked(self, title: str, many: int, n: int) -> str:
        return f"喜欢《{title}》的人也喜欢{self.all_of(n) if many == n else f'其中{self.number(many)}部'}。"

    def fitting(self, n: int, hard: bool, topic: str) -> str:
        fit = f"{self.all_of(n)}{'' if n == 1 else '都'}符合" if hard else ""
        near = f"目录里与“{topic}”最接近的是这些" if topic else ""
        return "，".join(x for x in (fit, near) if x) + "。" if fit or near else f"这{self.number(n)}部最合适。"

    def all_of(self, n: int) -> str:
        """Every pick.

        >>> [Chinese().all_of(n) for n in (1, 2, 5)]
        ['这部', '这两部', '这五部']
        """
        return "这部" if n == 1 else f"这{self.number(n)}部"

    def not_placed(self, positions: Sequence[int], noun: str) -> str:
        return (
            f"我认不出第{'、'.join(map(str, positions))}个指的是哪部：最近的列表里没有，所以先没算进去；请直接说片名。"
        )

    # -- reasons -----------------------------------------------------------------------------

    def reason_genres(self, genres: Sequence[str]) -> str:
        return "、".join(self.genre(g) for g in genres)

    def reason_lead(
        self, year: int | None, shown: Sequence[str], period: str, asked: int, preferred: bool, noun: str
    ) -> str:
        kind = self.reason_genres(shown) + self._kind(noun) if shown else self._film(noun)
        lead = f"{year}年的{kind}" if year else kind
        if period:
            lead += f"，在你要的{year // 10 * 10 if year else ''}年代" if period == "decade" else "，在你要的年份之内"
        elif asked:
            lead += "，正是你要的类型"
        elif preferred:
            lead += "，正是你想要的那种"
        return lead

    def also(self, genres: Sequence[str], noun: str) -> str:
        return "也是" + self.reason_genres(genres) + self._kind(noun)

    def word_clause(self, word: str, field: str, source: str = "", phrase: str = "") -> str:
        if field == "tags":
            return (
                f"观众标了“{word}”"
                if source == "viewers"
                else f"{source}关键词“{word}”"
                if source
                else f"标签有“{word}”"
            )
        if field == "text" and phrase:
            return f"简介写道：“{phrase}”"
        return {"title": f"片名里有“{word}”", "people": f"有{word}"}.get(field, f"简介提到“{word}”")

    def liked_clause(self, liked: str, shared: Sequence[str], same_decade: bool) -> str:
        what = (f"都有{self.reason_genres(shared)}" if shared else "") + ("，年代相同" if same_decade else "")
        return f"和《{liked}》{what.lstrip('，')}"

    def fans_clause(self, title: str) -> str:
        return f"喜欢《{title}》的人也喜欢它"

    def near_clause(self, topic: str) -> str:
        return f"在目录里与“{topic}”最接近"

    def misses_clause(self, misses: Sequence[str]) -> str:
        said = {"genres": "类型不全是你要的", "years": "年份不在你要的范围内", "excluded": "含有你排除的类型"}
        return "最接近的替代：" + "，".join(said[m] for m in misses)

    def only_genre(self, genre: str, noun: str, asked: bool) -> str:
        return f"这几部里唯一的{self.genre(genre)}{self._kind(noun)}"

    def popularity_rank(self, rank: int) -> str:
        return f"受欢迎程度在这几部里排{ORDINALS[rank]}" if 0 < rank < len(ORDINALS) else "这几部里较冷门的"

    def sentence(self, clauses: Sequence[str]) -> str:
        return "；".join(c for c in clauses if c) + "。"
