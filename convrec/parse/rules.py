"""One chat message -> `NeedsUpdate`: deterministic rules, and a small LLM whose answer is checked.

`parse_rules` reads English and Chinese (simplified, and the common traditional forms) with the
phrase tables below: genres and their negations, years and decades, relative critiques ("older",
"more like #2"), titles (through `TitleMatcher`), reset, and the content words left over.

`parse_llm` asks a model for the same fields as JSON and keeps only what the message supports:
a 1.5B model copies example years into unrelated answers, invents liked titles and, asked for
genres, often recites the prompt's genre list in order. The rules stay authoritative for
negations, years, relative critiques and reset; the model may add a genre or two for words the
rules left unexplained ("date night" -> Romance), titles the text really names (without a cue)
and English keywords for a Chinese message (see `merge_llm`). `worth_asking_llm` says when a
call cannot add anything. Any failure gives back the rules' answer.

Choices worth knowing (all conservative: a missed constraint costs less than a wrong one):
- "after 2000" -> year_min 2001; "since 2000", "2000 onwards", "2000年以后" -> 2000;
  "before 1970", "pre-1970", "1970年以前" -> year_max 1969; "until 1970" -> 1970.
- A two-digit decade is the latest one that has begun: "90s" -> 1990s, "20s" -> 2020s (in 2026);
  "early/mid/late 90s" -> 1990-1994 / 1993-1997 / 1995-1999 (九十年代初/中期/末 likewise).
- "recent", "latest", "new releases", "最近的", "新片" -> year_min = now_year - 5; "old movies",
  "oldies", "老电影", "老片" -> year_max 1979. Both only when no explicit year was given. "classic"
  and "经典" alone set no year (they mean acclaimed as often as old); bare "new" sets none either
  ("something new" is about novelty).
- Negation scope: a cue ("no", "not too", "without", "不要", "别") negates the first genre after it in
  the same clause, and the genres joined to that one by "or"/"and"/"、"/"和". "not too scary comedy"
  and "不要太吓人的喜剧" exclude Horror and include Comedy.
- A year in the scope of a negation ("nothing from the 80s") is dropped, not turned into a bound.

Left out on purpose: spelling correction of genre words, numbers written as words ("nineteen
ninety-five", "一九九五年"), and translation of Chinese titles.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from .llm import LLM, Message
from .titles import Mention, TitleMatcher, title_occurs
from .types import NeedsUpdate

log = logging.getLogger(__name__)

MOVIELENS_GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)  # fmt: skip

RECENT_YEARS = 5  # "recent" = released in the last five years
OLD_YEAR_MAX = 1979  # "old movies" = before the 80s
MIN_YEAR = 1880
MAX_KEYWORDS = 8
LLM_INPUT_CHARS = 500
LLM_MAX_TOKENS = 160
MAX_LLM_GENRES = 2  # genres the model may add when the rules found none

# --------------------------------------------------------------------------------------------
# Phrase tables
# --------------------------------------------------------------------------------------------

# English genre words, matched as whole words in lower case.
GENRE_PHRASES_EN: dict[str, tuple[str, ...]] = {
    "Action": ("action", "action-packed", "martial arts", "kung fu"),
    "Adventure": ("adventure", "adventures", "adventurous"),
    "Animation": ("animated", "animation", "cartoon", "cartoons", "anime"),
    "Children": ("kids", "kid", "kid-friendly", "family", "family-friendly", "children", "children's", "childrens"),
    "Comedy": ("comedy", "comedies", "funny", "hilarious", "humor", "humour", "humorous", "laugh", "laughs"),
    "Crime": ("crime", "gangster", "gangsters", "heist", "heists", "mafia", "mob"),
    "Documentary": ("documentary", "documentaries"),
    "Drama": ("drama", "dramas", "dramatic"),
    "Fantasy": ("fantasy", "fantasies", "magic", "magical"),
    "Film-Noir": ("noir", "noirs", "film noir", "film-noir"),
    "Horror": ("horror", "scary", "frightening", "spooky", "creepy", "terrifying", "scare", "scares"),
    "IMAX": ("imax",),
    "Musical": ("musical", "musicals"),
    "Mystery": ("mystery", "mysteries", "detective", "detectives", "whodunit", "whodunnit"),
    "Romance": ("romance", "romances", "romantic", "love story", "love stories"),
    "Sci-Fi": ("sci-fi", "scifi", "sci fi", "science fiction", "science-fiction", "space"),
    "Thriller": ("thriller", "thrillers", "suspense", "suspenseful"),
    "War": ("war", "wartime", "world war"),
    "Western": ("western", "westerns", "cowboy", "cowboys"),
}
# Phrases that name two genres at once.
MULTI_GENRE_PHRASES: dict[str, tuple[str, ...]] = {
    "rom-com": ("Romance", "Comedy"),
    "rom-coms": ("Romance", "Comedy"),
    "romcom": ("Romance", "Comedy"),
    "romcoms": ("Romance", "Comedy"),
    "rom com": ("Romance", "Comedy"),
    "romantic comedy": ("Romance", "Comedy"),
    "romantic comedies": ("Romance", "Comedy"),
    "爱情喜剧": ("Romance", "Comedy"),
    "愛情喜劇": ("Romance", "Comedy"),
}
# Chinese genre words, matched as substrings. 惊悚 is Thriller, 恐怖 and 吓人 are Horror.
GENRE_PHRASES_ZH: dict[str, tuple[str, ...]] = {
    "Action": ("动作", "動作", "武打", "功夫"),
    "Adventure": ("冒险", "冒險", "探险", "探險"),
    "Animation": ("动画", "動畫", "卡通", "动漫", "動漫"),
    "Children": ("儿童", "兒童", "家庭", "亲子", "親子", "孩子", "小孩"),
    "Comedy": ("喜剧", "喜劇", "搞笑", "好笑", "幽默", "爆笑"),
    "Crime": ("犯罪", "黑帮", "黑幫", "警匪", "黑社会", "黑社會"),
    "Documentary": ("纪录片", "紀錄片", "記錄片", "纪实", "紀實"),
    "Drama": ("剧情", "劇情"),
    "Fantasy": ("奇幻", "魔幻", "魔法"),
    "Film-Noir": ("黑色电影", "黑色電影"),
    "Horror": ("恐怖", "吓人", "嚇人", "鬼片"),
    "Musical": ("音乐", "音樂", "歌舞"),
    "Mystery": ("悬疑", "懸疑", "推理", "侦探", "偵探"),
    "Romance": ("爱情", "愛情", "浪漫", "恋爱", "戀愛"),
    "Sci-Fi": ("科幻", "太空"),
    "Thriller": ("惊悚", "驚悚", "惊险", "驚險"),
    "War": ("战争", "戰爭", "二战", "二戰"),
    "Western": ("西部",),
}

# Words that negate what follows in the same clause. Longer phrases win over their prefixes.
NEGATIONS_EN = (
    "no", "no more", "not", "not too", "not a fan of", "nothing", "none", "never", "without", "avoid",
    "avoiding", "anything but", "everything but", "anything except", "except", "excluding", "exclude",
    "skip", "less", "non", "nor", "neither", "hate", "hates", "hated", "dislike", "dislikes",
    "can't stand", "cannot stand", "sick of", "tired of", "don't", "do not", "doesn't", "does not",
    "didn't", "did not", "won't", "isn't", "aren't",
)  # fmt: skip
NEGATIONS_ZH = (
    "不要", "不想看", "不想要", "不想", "不看", "别", "別", "除了", "没有", "沒有", "不喜欢", "不喜歡",
    "不爱", "不愛", "讨厌", "討厭", "不太", "不能太", "不是", "排除", "不含", "不带", "不帶", "受不了",
    "不用", "少点", "少一点", "少點", "少一點",
)  # fmt: skip
# Phrases that contain a negation word but negate nothing; blanked before looking for cues.
NOT_NEGATIONS = (
    "not sure", "not necessarily", "not only", "not just", "nothing but", "no matter", "don't mind",
    "do not mind", "doesn't matter", "does not matter", "doesn't have to", "does not have to",
    "don't have to", "do not have to", "don't care", "no idea", "no problem", "no worries",
    "特别", "特別", "区别", "區別", "分别", "分別", "告别", "告別", "个别", "個別", "识别", "識別",
    "级别", "級別", "类别", "類別", "性别", "性別", "差别", "差別", "鉴别", "辨别", "有没有", "有沒有",
    "要不要", "看不看", "想不想", "是不是",
)  # fmt: skip
# In the gap between a negation and a genre these end its scope ("no horror, but funny").
SCOPE_BREAKERS = (
    r"[,.;!?，。；！？\n]",
    r"\b(?:but|though|although|however|instead|rather|yet|whereas|while|more|just|only)\b",
    r"\b(?:i|we|i'd|we'd|i'm|we're)\s+(?:\w+\s+)?(?:want|like|love|prefer|fancy|need|enjoy|am in the mood)\b",
    r"但|不过|不過|而是|只要|可以|想要|想看|喜欢|喜歡",
)
# Between two genres these carry a negation on: "no horror or thriller", "不要恐怖片和惊悚片".
GENRE_JOINERS = r"or|and|nor|/|、|和|或者|或|跟|与|與|及|也不要|还是|還是"
GENRE_FILLERS = r"\s|movies?|films?|flicks?|stuff|ones?|any|either|片|电影|電影|的|类|類"

RESET_PHRASES = (
    r"\bstart (?:over|again|afresh)\b", r"\brestart\b", r"\breset\b", r"\bnew search\b",
    r"\bfrom scratch\b", r"\bforget (?:that|it|everything|all that|about it|what i said)\b",
    r"\bclear (?:everything|all)\b",
    "重新开始", "重新開始", "重来", "重來", "换个话题", "換個話題", "从头开始", "從頭開始", "重新推荐", "重新推薦",
)  # fmt: skip

# Relative critiques, resolved against the items already shown by the session.
OLDER_PHRASES = (
    r"\b(?:older|earlier)\b(?!\s+(?:than|kids?|children|audiences?|viewers|teens?|siblings?))",
    r"\bless recent\b",
    "更老", "老一点", "老一點", "老一些", "更早", "早一点", "早一點", "早一些", "再老", "再早", "年代更早",
)  # fmt: skip
NEWER_PHRASES = (
    r"\b(?:newer|more recent|more modern)\b(?!\s+than)",
    "更新", "新一点", "新一點", "新一些", "近一点", "近一點", "近一些", "更近", "再新", "更现代", "更現代",
)  # fmt: skip

# "Released lately" and "old", used only when the message gives no explicit year.
RECENT_PHRASES = (
    r"(?<!more )\brecent\b", r"\blatest\b", r"\bnewest\b", r"\bbrand[- ]new\b", r"\bnew releases?\b",
    r"\b(?:recently|newly) released\b", r"\breleased recently\b", r"\bcame out recently\b",
    r"\bin recent years\b", r"\bthe (?:last|past) few years\b",
    "最近的", "最近上映", "最新", "新片", "新上映", "近几年", "近幾年", "近年", "这几年", "這幾年", "近些年",
)  # fmt: skip
OLD_PHRASES = (
    r"\bold(?=\s+(?:movies?|films?|flicks?|ones?|stuff|classics?|comed|horror|western|musical|drama|roman|war\b|sci|"
    r"thriller|crime|myster|cartoon|animat|black))",
    r"\b(?:something|anything)\s+old\b", r"\boldies\b", r"\bgolden age\b",
    "老电影", "老電影", "老片", "年代久远", "年代久遠",
)  # fmt: skip

# Positions in the last list shown: "#2", "number 2", "the second one", "第二个".
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10,
}  # fmt: skip
NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
}  # fmt: skip
POSITION_NOUNS = r"one|option|movie|film|pick|suggestion|recommendation|title"
ZH_CLASSIFIERS = r"个|個|部|项|項|条|條|名|种|種|款"
LESS_LIKE_CUES = (
    r"\bless\b", r"\bnot\b", r"\bnothing like\b", r"\bunlike\b", r"\bno\b", r"n't\b", r"\bhated?\b",
    r"\bdislike[sd]?\b", r"\bexcept\b",
    "不要", "不像", "别", "別", "不是", "不喜欢", "不喜歡", "讨厌", "討厭", "除了",
)  # fmt: skip
MORE_LIKE_CUES = (
    r"\bmore\b", r"\blike\b", r"\bsimilar\b", r"\bcloser\b", r"\blove[sd]?\b", r"\bliked\b", r"\benjoyed\b",
    "像", "类似", "類似", "喜欢", "喜歡", "跟", "更像",
)  # fmt: skip

# Title cues that make a mention a dislike ("nothing like Titanic", "I hated Heat").
DISLIKE_CUES = (
    r"\bnot\b", r"\bnothing\b", r"\bnever\b", r"\bunlike\b", r"\bhate[sd]?\b", r"\bdislike[sd]?\b",
    r"\brather than\b", r"\binstead of\b", r"\banything but\b", r"\bexcept\b", r"n't\b",
    "不要", "不像", "不喜欢", "不喜歡", "讨厌", "討厭", "别", "別", "除了",
)  # fmt: skip

STOPWORDS_EN = frozenset(
    """a about above after again against all also am an and any anything are around as at be because
    been before being below between both but by can can't could did didn't do does doesn't doing don't
    down during each either else even ever every few for from further get gets give go going good got
    great had has have having he her here hers herself him himself his how i i'd i'll i'm i've if in
    into is isn't it it's its itself just kind kinda let let's like liked likes love loved lot lots
    maybe me might more most much must my myself need new nice no nor not now of off on once one ones
    only or other our ours out over own perhaps please pretty prefer preferably quite rather really
    recommend recommendation recommendations same see seen she should show shows similar so some
    something sort such suggest suggestion than thanks thank that that's the their them then there these
    they thing things think this those through to too type under until up us very want wanted was watch
    watched watching way we we're well were what when where which while who whom why will with without
    would you you're your yours yourself movie movies film films flick flicks cinema tonight today
    enjoy enjoyed best better bit little ok okay hi hello hey yes yeah something anything nothing
    everything somewhat looking look find mood feel feeling fun fan any older newer earlier recent
    unlike instead else lighter darker first second third fourth fifth last set
    latest newest old classic classics year years decade era""".split()
)
# Chinese filler split out of the message before keeping what is left as keywords.
STOPWORDS_ZH = (
    "我想看", "我想要", "我要看", "想看", "想要", "我想", "我要", "要看", "给我", "給我", "帮我", "幫我",
    "推荐", "推薦", "一些", "几部", "幾部", "一部", "一个", "一個", "几个", "幾個", "电影", "電影", "影片",
    "片子", "有没有", "有沒有", "有什么", "有什麼", "什么", "什麼", "甚麼", "那种", "那種", "这种", "這種",
    "那样", "那樣", "这样", "這樣", "一样", "一樣", "一点", "一點", "看看", "好看", "适合", "適合",
    "关于", "關於", "类似", "類似", "的话", "的話", "可以", "谢谢", "謝謝", "请", "請", "以外", "之外",
    "喜欢", "喜歡", "最近", "来点", "來點", "来一些", "來一些", "来几部", "來幾部", "特别", "特別",
    "比较", "比較", "那样的", "都行",
    "的", "了", "吗", "嗎", "呢", "吧", "啊", "呀", "和", "与", "與", "或", "很", "太", "都", "也",
    "还", "還", "就", "我", "你", "他", "她", "们", "們", "部", "片", "看", "要",
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Compiled forms of the tables
# --------------------------------------------------------------------------------------------


def _alternation(phrases: Iterable[str], *, words: bool) -> str:
    """One regex alternative per phrase, longest first; `words` adds word boundaries and lets a
    space or hyphen inside a phrase match either.

    >>> _alternation(["sci fi", "war"], words=True)
    '(?<!\\\\w)(?:sci[\\\\s-]+fi|war)(?!\\\\w)'
    """
    parts = sorted(set(phrases), key=len, reverse=True)
    if not words:
        return "(?:" + "|".join(map(re.escape, parts)) + ")"
    body = "|".join(re.escape(p).replace(r"\ ", r"[\s-]+").replace(r"\-", r"[\s-]+") for p in parts)
    return rf"(?<!\w)(?:{body})(?!\w)"


def _any(patterns: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


_NEGATION = re.compile(_alternation(NEGATIONS_EN, words=True) + "|" + _alternation(NEGATIONS_ZH, words=False))
_NOT_NEGATION = re.compile(
    _alternation([p for p in NOT_NEGATIONS if p.isascii()], words=True)
    + "|"
    + _alternation([p for p in NOT_NEGATIONS if not p.isascii()], words=False)
)
_SCOPE_BREAK = _any(SCOPE_BREAKERS)
_JOINED = re.compile(rf"(?:{GENRE_FILLERS}|{GENRE_JOINERS})*", re.IGNORECASE)
_JOINER = re.compile(GENRE_JOINERS)
_CLAUSE_END = re.compile(r"[,.;!?，。；！？\n]|\bbut\b|但|不过|不過")
_RESET = _any(RESET_PHRASES)
_OLDER = _any(OLDER_PHRASES)
_NEWER = _any(NEWER_PHRASES)
_RECENT = _any(RECENT_PHRASES)
_OLD = _any(OLD_PHRASES)
_LESS_LIKE = _any(LESS_LIKE_CUES)
_MORE_LIKE = _any(MORE_LIKE_CUES)
_DISLIKE = _any(DISLIKE_CUES)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD_EN = re.compile(r"[a-z][a-z'-]*[a-z]")
_ZH_SPLIT = re.compile(_alternation(STOPWORDS_ZH, words=False) + r"|[^\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

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

# Years. Y is a four-digit year; decades come in English ("90s", "'90s", "1990s", "nineties") and
# Chinese ("90年代", "九十年代", "九零年代") forms, with an optional early/mid/late part.
Y = r"(1[89]\d\d|20\d\d)"
_DECADE_WORDS = {"twenties": 20, "thirties": 30, "forties": 40, "fifties": 50, "sixties": 60,
                 "seventies": 70, "eighties": 80, "nineties": 90}  # fmt: skip
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
DECADE_EN = (
    r"(?:the\s+)?(?:(early|mid|late)[\s-]*)?(?:the\s+)?"
    rf"(?:(?<!\d)((?:1[89]|20)\d0)'?s|(?<![\d'])'?(\d0)'?s|({'|'.join(_DECADE_WORDS)}))(?![\w])"
)
DECADE_ZH = (
    r"(?:(?<!\d)((?:19|20)\d0)|(?<!\d)(\d0)|([一二三四五六七八九]十|[零〇一二三四五六七八九][零〇]))\s*年代"
    r"(初期|初|早期|中期|中|末期|末|后期|後期|晚期)?"
)
_DECADE = re.compile(f"{DECADE_EN}|{DECADE_ZH}")
_PART = {"early": "early", "mid": "mid", "late": "late", "初期": "early", "初": "early", "早期": "early",
         "中期": "mid", "中": "mid", "末期": "late", "末": "late", "后期": "late", "後期": "late",
         "晚期": "late"}  # fmt: skip
_PART_YEARS: dict[str | None, tuple[int, int]] = {None: (0, 9), "early": (0, 4), "mid": (3, 7), "late": (5, 9)}

# (kind, pattern) in the order they are tried; each match is consumed. Kinds: "range" (two years),
# "max-1"/"max" (before / until), "min+1"/"min" (after / since), "around" (±2), "single".
# Decade forms: "decade-max-1" (before the 80s), "decade-min+10" (after), "decade-min" (since),
# "decade" (the decade itself).
YEAR_RULES: tuple[tuple[str, str], ...] = (
    ("range", rf"\bbetween\s+(?:the\s+years?\s+)?{Y}\s+and\s+{Y}\b"),
    ("range", rf"\b(?:from\s+)?{Y}\s*(?:-|–|—|to|through|till|until)\s*{Y}\b"),
    ("range", rf"{Y}\s*年?\s*(?:到|至|-|–|~|～)\s*{Y}\s*年?"),
    ("around", rf"\b(?:around|circa|about|roughly|approximately|ca\.)\s+{Y}\b"),
    ("around", rf"{Y}\s*年?\s*(?:左右|前后|前後)"),
    ("max", rf"\b(?:until|up to|till|no later than|not after)\s+{Y}\b"),
    ("max", rf"\b{Y}\s+or\s+(?:earlier|before|older)\b"),
    ("max-1", rf"\b(?:before|pre|prior to|older than|earlier than)[\s-]*{Y}\b"),
    ("max-1", rf"{Y}\s*年?\s*(?:以前|之前|前)"),
    ("min", rf"\b(?:since|no earlier than|not before)\s+{Y}\b"),
    ("min", rf"\b(?:from\s+)?{Y}\s*(?:onwards?|or later|and later|or newer|and up|on|\+)(?![\w+])"),
    ("min", rf"{Y}\s*年?\s*(?:以后|以後|之后|之後|以来|以來|后|後|起)"),
    ("min+1", rf"\b(?:after|post|newer than|later than)[\s-]*{Y}\b"),
    ("decade-max-1", rf"\b(?:before|pre|prior to|older than)[\s-]*(?:{DECADE_EN})"),
    ("decade-max-1", rf"(?:{DECADE_ZH})\s*(?:以前|之前)"),
    ("decade-min+10", rf"\b(?:after|post|newer than)[\s-]*(?:{DECADE_EN})"),
    ("decade-min", rf"\bsince\s+(?:{DECADE_EN})"),
    ("decade-min", rf"(?:{DECADE_ZH})\s*(?:以后|以後|之后|之後|以来|以來)"),
    ("decade", rf"(?:{DECADE_EN})|(?:{DECADE_ZH})"),
    ("single", rf"(?<![\d#.]){Y}(?![\d])\s*年?"),
)
_YEAR_RULES = tuple((kind, re.compile(p)) for kind, p in YEAR_RULES)


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    genres: tuple[str, ...]


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


def language_of(text: str) -> str:
    """ "zh" when the text holds any CJK ideograph, else "en".

    >>> language_of("推荐几部喜剧"), language_of("a funny movie")
    ('zh', 'en')
    """
    return "zh" if _CJK.search(text) else "en"


def century(two_digits: int, now_year: int) -> int:
    """The latest decade written with these two digits that has begun by `now_year`.

    >>> century(90, 2026), century(20, 2026), century(30, 2026)
    (1990, 2020, 1930)
    """
    return 2000 + two_digits if 2000 + two_digits <= now_year else 1900 + two_digits


def decade_years(m: re.Match[str], now_year: int) -> tuple[int, int]:
    """(first, last) year of the decade a `_DECADE` match names.

    >>> decade_years(_DECADE.search("the late 80s"), 2026), decade_years(_DECADE.search("九十年代初"), 2026)
    ((1985, 1989), (1990, 1994))
    """
    part, four, two, word, zh_four, zh_two, zh_words, zh_part = m.groups()
    if four or zh_four:
        start = int(four or zh_four)
    elif two or zh_two:
        start = century(int(two or zh_two), now_year)
    elif word:
        start = 1900 + _DECADE_WORDS[word]
    else:
        start = century(10 * _ZH_DIGITS[zh_words[0]], now_year)
    lo, hi = _PART_YEARS[_PART.get(part or zh_part or "")]
    return start + lo, start + hi


def parse_rules(
    text: str, genres: Sequence[str], titles: TitleMatcher | None = None, *, now_year: int | None = None
) -> NeedsUpdate:
    """What one message says, read with the phrase tables of this module.

    >>> u = parse_rules("a funny 90s movie, nothing with horror", MOVIELENS_GENRES)
    >>> u.include_genres, u.exclude_genres, u.year_min, u.year_max, u.keywords
    (('Comedy',), ('Horror',), 1990, 1999, ())
    """
    now_year = now_year or date.today().year
    original = text.strip()
    scan = _Scan(original)
    liked, disliked = _titles(scan, original, titles)
    reset = bool(scan.consume(_RESET))
    more_like, less_like = _positions(scan)
    vocab = {g.casefold(): g for g in genres}
    hits = _genre_hits(scan.text, vocab)
    cues = negation_cues(scan.text)
    year_min, year_max = _years(scan, cues, hits, now_year)
    older = bool(scan.consume(_OLDER))
    newer = bool(scan.consume(_NEWER))
    include, exclude = _genres(scan.text, hits, cues)
    for hit in hits:
        scan.take(hit.start, hit.end)
    for start, end in cues:
        scan.take(start, end)
    return NeedsUpdate(
        liked=liked,
        disliked=disliked,
        include_genres=include,
        exclude_genres=exclude,
        year_min=year_min,
        year_max=year_max,
        keywords=keywords_of(scan.text),
        text=original,
        language=language_of(original),
        older=older,
        newer=newer,
        more_like=more_like,
        less_like=less_like,
        reset=reset,
        source="rules",
    )


def negation_cues(text: str) -> list[tuple[int, int]]:
    """Spans of the negation words in folded text, leaving out "not sure", "特别" and the like.

    >>> negation_cues("not sure, but no horror")
    [(14, 16)]
    """
    blanked = _NOT_NEGATION.sub(lambda m: " " * len(m.group(0)), text)
    return [m.span() for m in _NEGATION.finditer(blanked)]


def in_negation_scope(text: str, cues: list[tuple[int, int]], start: int, others: Iterable[int] = ()) -> bool:
    """Whether position `start` is negated: a cue before it in the same clause, with no scope
    breaker ("but", "I want", "，") and none of the `others` positions (earlier genres) between.

    >>> t = "no horror, but a comedy"
    >>> in_negation_scope(t, negation_cues(t), 3), in_negation_scope(t, negation_cues(t), 17)
    (True, False)
    """
    before = [end for _, end in cues if end <= start]
    if not before:
        return False
    cue_end = before[-1]
    if _SCOPE_BREAK.search(text, cue_end, start):
        return False
    return not any(cue_end <= p < start for p in others)


def _genre_hits(text: str, vocab: dict[str, str]) -> list[_Hit]:
    """Genre phrases in folded text, with the vocabulary's spelling of the genres they name."""
    pattern, lookup = _genre_table(tuple(vocab.items()))
    hits = []
    for m in pattern.finditer(text):
        named = lookup.get(re.sub(r"[\s-]+", " ", m.group(0)), ())
        found = tuple(vocab[g.casefold()] for g in named if g.casefold() in vocab)
        if found:
            hits.append(_Hit(m.start(), m.end(), found))
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
    pattern = re.compile(_alternation(en, words=True) + "|" + _alternation(zh, words=False))
    return pattern, {re.sub(r"[\s-]+", " ", p): g for p, g in table.items()}


def _genres(text: str, hits: list[_Hit], cues: list[tuple[int, int]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(included, excluded) genres; a negation carries over genres joined by "or"/"和"."""
    include: list[str] = []
    exclude: list[str] = []
    previous: _Hit | None = None
    previous_negated = False
    for hit in hits:
        if previous is not None and previous_negated and _joined(text[previous.end : hit.start]):
            negated = True
        else:
            negated = in_negation_scope(text, cues, hit.start, (h.start for h in hits if h.start < hit.start))
        (exclude if negated else include).extend(hit.genres)
        previous, previous_negated = hit, negated
    excluded = tuple(dict.fromkeys(exclude))
    return tuple(g for g in dict.fromkeys(include) if g not in excluded), excluded


def _joined(gap: str) -> bool:
    """Whether the text between two genres joins them ("or", "和", "movies or").

    >>> _joined(" or "), _joined("片和"), _joined(" "), _joined("的")
    (True, True, False, False)
    """
    return bool(_JOINED.fullmatch(gap)) and bool(_JOINER.search(gap))


def _years(scan: _Scan, cues: list[tuple[int, int]], hits: list[_Hit], now_year: int) -> tuple[int | None, int | None]:
    """(year_min, year_max) from explicit years and decades, else from "recent"/"old"."""
    spans: list[tuple[int, int]] = []  # closed ranges: decades, single years, "between"
    mins: list[int] = []
    maxes: list[int] = []
    genre_starts = [h.start for h in hits]
    for kind, pattern in _YEAR_RULES:
        for m in pattern.finditer(scan.text):
            scan.take(*m.span())
            if in_negation_scope(scan.text, cues, m.start(), genre_starts):
                continue
            if kind.startswith("decade"):
                first, last = decade_years(_DECADE.search(m.group(0)), now_year)  # type: ignore[arg-type]
                if kind == "decade":
                    spans.append((first, last))
                elif kind == "decade-max-1":
                    maxes.append(first - 1)
                elif kind == "decade-min+10":
                    mins.append(first + 10)
                else:
                    mins.append(first)
                continue
            years = [int(g) for g in m.groups() if g]
            if not all(MIN_YEAR <= y <= now_year + 1 for y in years):
                continue
            if kind == "range":
                spans.append((min(years), max(years)))
            elif kind == "around":
                spans.append((years[0] - 2, years[0] + 2))
            elif kind == "single":
                spans.append((years[0], years[0]))
            elif kind in ("max", "max-1"):
                maxes.append(years[0] - (kind == "max-1"))
            else:
                mins.append(years[0] + (kind == "min+1"))
    recent = bool(scan.consume(_RECENT))
    old = bool(scan.consume(_OLD))
    lo, hi = combine_years(spans, mins, maxes)
    if lo is None and hi is None and recent != old:
        return (now_year - RECENT_YEARS, None) if recent else (None, OLD_YEAR_MAX)
    return lo, hi


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
        elif previous_kind and _joined(window):
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
    ("nothing like Titanic", "I didn't like Heat", "unlike 'Heat'")."""
    cue_end = mention.start if mention.cue == "quote" else mention.cue_start + len(mention.cue)
    clause_ends = [c.end() for c in _CLAUSE_END.finditer(text, 0, mention.cue_start)]
    floor = max([previous_end, mention.cue_start - 30, *clause_ends])
    return bool(_DISLIKE.search(text, floor, cue_end))


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


# --------------------------------------------------------------------------------------------
# LLM
# --------------------------------------------------------------------------------------------


def needs_schema(genres: Sequence[str]) -> dict[str, Any]:
    """The JSON schema the model's answer is constrained to (genres as an enum; none without genres)."""
    genre = {"type": "string", "enum": list(genres)} if genres else {"type": "string"}  # an empty enum is no grammar
    genre_list = {"type": "array", "items": genre, "maxItems": 3 if genres else 0}
    year = {"type": ["integer", "null"]}
    title_list = {"type": "array", "items": {"type": "string"}, "maxItems": 3}
    properties = {
        "include_genres": genre_list,
        "exclude_genres": genre_list,
        "year_min": year,
        "year_max": year,
        "liked_titles": title_list,
        "disliked_titles": title_list,
        "keywords": {"type": "array", "items": {"type": "string"}, "maxItems": 6},
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


NEEDS_SCHEMA: dict[str, Any] = needs_schema(MOVIELENS_GENRES)


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
        reply = llm.complete(messages, schema=needs_schema(genres), max_tokens=LLM_MAX_TOKENS, temperature=0.0)
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

    The session filters on included genres, so the model's genres are taken sparingly: none when
    its list runs through the vocabulary in order (it copied the prompt), none when no word of the
    message is left unexplained by the rules, at most two when the rules found no genre. When the
    rules found one, the model's first extra genre becomes a keyword, a preference rather than a
    filter: "a funny movie for date night" leans to romantic comedies, while the Economics the
    1.5B model added to "a philosophy course on ethics and artificial intelligence" no longer
    fills the list with economics courses (too few items have both, and the filter then takes
    either). It may add one exclusion when the text negates something and the rules found no
    exclusion.
    """
    vocab = {g.casefold(): g for g in genres}
    text = text.strip()
    include = _llm_genres(data.get("include_genres"), genres)
    include = [g for g in include if g not in rules.exclude_genres and g not in rules.include_genres]
    if not rules.keywords:
        include = []
    softened = include[:1] if rules.include_genres else []
    include = include[:MAX_LLM_GENRES] if not rules.include_genres else []
    exclude: list[str] = []
    if not rules.exclude_genres and negation_cues(fold(text)):
        exclude = [g for g in _llm_genres(data.get("exclude_genres"), genres) if g not in rules.include_genres][:1]
    all_excluded = (*rules.exclude_genres, *exclude)
    all_included = tuple(g for g in (*rules.include_genres, *include) if g not in all_excluded)

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
    for w in [*words, *rules.keywords, *softened]:
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
    folded = fold(text)
    if re.search(rf"(?<!\d){year}(?!\d)", folded):
        return True
    # now_year = year + 10 reads "20s" as the 1920s for 1925 and as the 2020s for 2023
    return any(lo <= year <= hi for lo, hi in (decade_years(m, year + 10) for m in _DECADE.finditer(folded)))


def _supported_year(value: Any, text: str) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not MIN_YEAR <= value <= date.today().year + 1:
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
    """Keywords written in `text`, or (at most three) English ones for a Chinese message, since
    translations help retrieval. Stop words, numbers, genre words and `known` names are dropped.

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
        elif language == "zh" and translations < 3 and re.fullmatch(r"[A-Za-z][A-Za-z' -]*", word):
            kept.append(word)
            translations += 1
    return kept[:6]
