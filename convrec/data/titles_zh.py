"""Chinese film titles: a lexicon from the usual Chinese titles to catalogue titles, and finding them in a message.

Chinese speakers name films by their Chinese titles (《泰坦尼克号》, 阿甘正传, 《駭客任務》), which an
English catalogue does not hold. `titles_zh.tsv` (shipped with this package) maps each usual title,
mainland (simplified) and Taiwan/Hong Kong (traditional) variants on lines of their own, to the
English catalogue title and year. `ZhTitles` resolves the lexicon against one catalogue through a
callback (`convrec.data.titles.TitleMatcher` passes its exact lookup); an entry whose film the
catalogue lacks is left out, so another catalogue (courses, books) is unaffected.

In a message a lexicon title counts when it is
- quoted (《X》, 「X」, 『X』, “X”, "X"), whatever its length;
- right after a Chinese cue (像, 类似, 喜欢 ..., `CUES_ZH`), or joined to such a title by 和/、/还有,
  when it is two characters or more and the text after it ends the title (a punctuation mark,
  那样, 的电影 ...: "喜欢英雄那样的" but not "喜欢英雄联盟");
- anywhere, when it is three characters or more and no everyday word (`EVERYDAY`): "唐人街" is a
  place before it is a Polanski film, "蝴蝶效应" an idiom before it is a film.
The longest title wins at each place, and never one followed by a sequel number it lacks
("玩具总动员4" is not 《玩具总动员》). Keys are compared without case, spaces or punctuation
(哈利·波特与魔法石 = 哈利波特与魔法石), full-width forms folded (NFKC).

>>> zh = ZhTitles(lambda title, year: {"Titanic": 1, "Hero (Ying xiong)": 2}.get(title))
>>> [(m.item_id, m.cue) for m in zh.find("像泰坦尼克号那样的电影，还有《英雄》")]
[(1, '像'), (2, 'quote')]
>>> [[m.item_id for m in zh.find(t)] for t in ("我喜欢英雄那样的", "我喜欢英雄联盟", "英雄主义", "泰坦尼克号2")]
[[2], [], [], []]
"""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple

from convrec.core.text import CJK

LEXICON = "titles_zh.tsv"  # zh <TAB> title <TAB> year, in the package convrec.data
CUES_ZH = ("类似于", "類似於", "类似", "類似", "喜欢", "喜歡", "爱看", "愛看", "比如", "例如", "像")
MIN_BARE_CHARS = 3  # a title found without a cue or quotes has at least this many characters
MIN_CUED_CHARS = 2  # and after a cue; a one-character title (《她》, 《乱》) must be quoted

# Titles that are first of all everyday words, places, names or idioms: they count only after a
# cue or in quotes (a two-character title needs that anyway). Written as keys (`zh_key`).
EVERYDAY = frozenset(
    "唐人街 圆周率 圓周率 大力士 大玩家 大逃亡 大都会 大都會 失眠症 守望者 小精灵 小精靈 幻想曲 慕尼黑 毕业生 畢業生 "
    "灰姑娘 珍珠港 睡美人 第三人 第六感 艺术家 藝術家 芝加哥 花木兰 花木蘭 金手指 钢琴家 鋼琴家 阴谋论 陰謀論 龙卷风 "
    "龍捲風 木乃伊 特洛伊 汉尼拔 漢尼拔 老爷车 老爺車 真善美 朗读者 朗讀者 罗生门 羅生門 诺丁山 諾丁山 源代码 源代碼 "
    "独立日 獨立日 搜索者 好家伙 好傢伙 老男孩 美国派 美國派 美人计 美人計 红磨坊 紅磨坊 水世界 大國民 鬼靈精 "
    "世界末日 蝴蝶效应 蝴蝶效應 美丽人生 美麗人生 美丽心灵 美麗心靈 尽善尽美 盡善盡美 千钧一发 千鈞一髮 猫鼠游戏 貓鼠遊戲 "
    "触目惊心 觸目驚心 铁面无私 鐵面無私 出租车司机 出租車司機 計程車司機 的士司機 卡萨布兰卡 卡薩布蘭卡 美国总统 美國總統 "
    "窈窕淑女 社交网络 社交網絡 完美风暴 完美風暴 人工智能 地心引力 十面埋伏 一个都不能少 一個都不能少 花样年华 花樣年華 "
    "春光乍泄 春光乍洩 堕落天使 墮落天使 龙争虎斗 龍爭虎鬥 死亡游戏 死亡遊戲 纵横四海 縱橫四海 饮食男女 飲食男女 "
    "借刀杀人 借刀殺人 兵临城下 兵臨城下 颠倒乾坤 顛倒乾坤 天罗地网 天羅地網 年少轻狂 年少輕狂 光辉岁月 光輝歲月 "
    "一往无前 一往無前 日落大道 走出非洲 末代皇帝 少年时代 少年時代 万物理论 萬物理論 致命诱惑 致命誘惑 辣手摧花 "
    "伊丽莎白 伊麗莎白 伊莉莎白 脱衣舞娘 脫衣舞孃 怦然心动 怦然心動 圣诞故事 聖誕故事 彗星撞地球 心理游戏 心理遊戲 "
    "马达加斯加 馬達加斯加 冰河世纪 冰河世紀 腦筋急轉彎 超级名模 超級名模 妈妈咪呀 媽媽咪呀 筋疲力尽 筋疲力盡 壮志凌云 "
    "壯志凌雲 火爆浪子 春風化雨 瞞天過海 機智問答 奇幻人生 生活多美好 冰川时代 冰川時代 生死时速 生死時速".split()
)
QUOTED_ONLY = frozenset({"功夫", "醉拳"})  # the genre before the film: "喜欢功夫" is about kung fu

_NON_KEY = re.compile(r"[\W_]+")
_YEAR = re.compile(r"\s*[(（]\s*(?:1[89]|20)\d\d\s*[)）]\s*$")
_QUOTED = re.compile(r'《([^》\n]{1,80})》|「([^」\n]{1,80})」|『([^』\n]{1,80})』|“([^”\n]{1,80})”|"([^"\n]{1,80})"')
_CUE = re.compile(
    "(?P<cue>" + "|".join(sorted(CUES_ZH, key=len, reverse=True)) + ")"
    r"(?:\s*(?:看过|看過|看了|看|过|過|了))?(?:\s*(?:电影|電影|影片|片子|那部|这部|這部))?\s*"
)
# What may follow a title that only counts after a cue: the end of the title for sure.
_TITLE_END = re.compile(
    r"$|[^\w]|那样|那樣|那种|那種|这样|這樣|这种|這種|一样|一樣|之类|之類|似的|类型|類型|风格|風格"
    r"|的电影|的電影|的片|的那|的这|的這|和|与|與|跟|或|还有|還有|以及|及|吧|啊|呀|嘛|呢|了|也|都|里|裡|中|系列"
)
# After a title, a sequel it is not: "玩具总动员4", "哈利波特 II", "教父续集".
_SEQUEL = re.compile(
    r"\s*(?:\d{1,2}(?!\d)|[IVX]+\b|[Ⅰ-Ⅻ]|续集|續集|前传|前傳|外传|外傳|第[一二三四五六七八九十\d]+[部集])"
)
_JOIN = re.compile(r"\s*(?:、|,|，|/|和|与|與|跟|以及|及|或者|或|还有|還有)\s*")


def zh_key(title: str) -> str:
    """The form Chinese titles are compared in: NFKC, no case, spaces or punctuation.

    >>> zh_key("哈利·波特与死亡圣器（上）"), zh_key("色，戒"), zh_key("E.T. 外星人")
    ('哈利波特与死亡圣器上', '色戒', 'et外星人')
    """
    return _NON_KEY.sub("", unicodedata.normalize("NFKC", title).casefold())


@dataclass(frozen=True)
class ZhTitle:
    """One lexicon line: a Chinese title and the catalogue title and year it names."""

    zh: str
    title: str
    year: int


@functools.cache
def lexicon() -> tuple[ZhTitle, ...]:
    """The lines of `titles_zh.tsv`, read once."""
    text = resources.files("convrec.data").joinpath(LEXICON).read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    return tuple(ZhTitle(r["zh"].strip(), r["title"].strip(), int(r["year"])) for r in rows)


class ZhMention(NamedTuple):
    """A Chinese title found in a message; the fields of `convrec.data.titles.Mention`."""

    item_id: int
    start: int
    end: int
    cue: str  # the cue ("喜欢", "像"), "quote", or "" for a title found on its own
    cue_start: int


class ZhTitles:
    """The lexicon resolved against one catalogue: Chinese key -> item id (resolved on first use).

    `resolve(title, year)` gives the item of an English catalogue title, or None when the
    catalogue lacks it.
    """

    def __init__(self, resolve: Callable[[str, int], int | None]) -> None:
        self._resolve = resolve

    @functools.cached_property
    def _ids(self) -> dict[str, int]:
        resolved: dict[tuple[str, int], int | None] = {}
        ids: dict[str, int] = {}
        for entry in lexicon():
            film = (entry.title, entry.year)
            if film not in resolved:
                resolved[film] = self._resolve(*film)
            key = zh_key(entry.zh)
            item_id = resolved[film]
            if item_id is not None and key:
                ids.setdefault(key, item_id)
        return ids

    @functools.cached_property
    def _lengths(self) -> list[int]:
        return sorted({len(k) for k in self._ids}, reverse=True)

    def __len__(self) -> int:
        return len(self._ids)

    def lookup(self, title: str) -> int | None:
        """The item a Chinese title names exactly (a trailing "(1997)" is ignored), or None."""
        if not CJK.search(title):
            return None
        return self._ids.get(zh_key(_YEAR.sub("", title)))

    def find(self, text: str) -> list[ZhMention]:
        """The lexicon titles a message mentions, in order: quoted, after a cue, or on their own."""
        if not CJK.search(text) or not self._ids:
            return []
        found: list[ZhMention] = []
        quoted: list[tuple[int, int]] = []
        for m in _QUOTED.finditer(text):
            quoted.append(m.span())
            group = m.lastindex or 0
            item_id = self.lookup(m.group(group))
            if item_id is not None:
                found.append(ZhMention(item_id, m.start(group), m.end(group), "quote", m.start()))
        chars, origin = _folded(text)
        cues = {m.end(): m for m in _CUE.finditer(text)}
        joined: tuple[int, str, int] | None = None  # (where, cue, cue start) of a title joined to one before
        k = 0
        while k < len(chars):
            pos = origin[k]
            inside = next((b for a, b in quoted if a <= pos < b), None)
            if inside is not None:
                k = _index_at(origin, inside, k)
                continue
            cue = cues.get(pos)
            cue_text, cue_start = (cue.group("cue"), cue.start()) if cue else ("", pos)
            if joined and joined[0] == pos:
                cue_text, cue_start = joined[1], joined[2]
            cued = cue is not None or (joined is not None and joined[0] == pos)
            hit = self._at(chars, origin, k, text, cued=cued, quoted=quoted)
            if hit is None:
                k += 1
                continue
            item_id, length = hit
            start, end = pos, origin[k + length - 1] + 1
            found.append(ZhMention(item_id, start, end, cue_text, cue_start))
            join = _JOIN.match(text, end)
            joined = (join.end(), cue_text, cue_start) if join and join.end() < len(text) else None
            k = _index_at(origin, end, k)
        return sorted(found, key=lambda m: m.start)

    def _at(
        self, chars: str, origin: list[int], k: int, text: str, *, cued: bool, quoted: list[tuple[int, int]]
    ) -> tuple[int, int] | None:
        """(item id, length in folded characters) of the longest title at folded position `k` that counts here."""
        for length in self._lengths:
            if k + length > len(chars):
                continue
            key = chars[k : k + length]
            item_id = self._ids.get(key)
            if item_id is None:
                continue
            end = origin[k + length - 1] + 1
            if any(origin[k] < b and a < end for a, b in quoted) or _SEQUEL.match(text, end):
                continue  # across a quote, or a sequel of this title
            if key in QUOTED_ONLY or length < MIN_CUED_CHARS:
                continue
            if length < MIN_BARE_CHARS or key in EVERYDAY:
                if not (cued and _TITLE_END.match(text, end)):
                    continue
            return item_id, length
        return None


def _folded(text: str) -> tuple[str, list[int]]:
    """The text as keys are written (`zh_key`, one character at a time) and where each folded character came from."""
    chars: list[str] = []
    origin: list[int] = []
    for i, c in enumerate(text):
        for f in zh_key(c):
            chars.append(f)
            origin.append(i)
    return "".join(chars), origin


def _index_at(origin: list[int], pos: int, k: int) -> int:
    """The first folded index at or after text offset `pos` (searching on from `k`)."""
    while k < len(origin) and origin[k] < pos:
        k += 1
    return k
