"""The phrase tables the rules read messages with, in English and Chinese (simplified, and the
common traditional forms): genre words and their negations, what ends a negation's scope, critiques
("older", "more like #2"), positions in the last list, stop words, and year and decade patterns.

Plain data: `convrec.parse.rules` compiles them. Add a phrase here and the rules read it.
"""

from __future__ import annotations

MOVIELENS_GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)  # fmt: skip

RECENT_YEARS = 5  # "recent" = released in the last five years
OLD_YEAR_MAX = 1979  # "old movies" = before the 80s
MIN_YEAR = 1880
MAX_KEYWORDS = 8

# --------------------------------------------------------------------------------------------
# Phrase tables
# --------------------------------------------------------------------------------------------

# English genre words, matched as whole words in lower case.
GENRE_PHRASES_EN: dict[str, tuple[str, ...]] = {
    "Action": ("action", "action-packed", "martial arts", "kung fu", "car chase", "car chases"),
    "Adventure": ("adventure", "adventures", "adventurous"),
    "Animation": ("animated", "animation", "cartoon", "cartoons", "anime"),
    "Children": ("kids", "kid", "kid-friendly", "family", "family-friendly", "children", "children's", "childrens"),
    "Comedy": ("comedy", "comedies", "funny", "hilarious", "humor", "humour", "humorous", "laugh", "laughs"),
    "Crime": ("crime", "gangster", "gangsters", "heist", "heists", "mafia", "mob"),
    "Documentary": ("documentary", "documentaries"),
    "Drama": ("drama", "dramas", "dramatic"),
    "Fantasy": ("fantasy", "fantasies", "magic", "magical"),
    "Film-Noir": ("noir", "noirs", "film noir", "film-noir"),
    "Horror": (
        "horror",
        "scary",
        "frightening",
        "spooky",
        "creepy",
        "terrifying",
        "scare",
        "scares",
        "zombie",
        "zombies",
    ),
    "IMAX": ("imax",),
    "Musical": ("musical", "musicals"),
    "Mystery": ("mystery", "mysteries", "detective", "detectives", "whodunit", "whodunnit"),
    "Romance": ("romance", "romances", "romantic", "love story", "love stories"),
    "Sci-Fi": ("sci-fi", "scifi", "sci fi", "science fiction", "science-fiction", "space"),
    "Thriller": ("thriller", "thrillers", "suspense", "suspenseful"),
    "War": ("war", "wartime", "world war"),
    "Western": ("western", "westerns", "cowboy", "cowboys"),
}
# Genre words that also name a topic: they set the genre and stay keywords for the text search
# ("a heist movie" is a Crime film about a heist, not any crime film).
TOPIC_GENRE_WORDS = frozenset(
    {"heist", "heists", "mafia", "mob", "gangster", "gangsters", "kung fu", "martial arts", "space", "cowboy",
     "cowboys", "detective", "detectives", "whodunit", "whodunnit", "world war", "anime", "magic", "magical",
     "zombie", "zombies", "car chase", "car chases"}
)  # fmt: skip
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
    "Action": ("动作", "動作", "武打", "功夫", "飙车", "飆車", "追车", "追車"),
    "Adventure": ("冒险", "冒險", "探险", "探險"),
    "Animation": ("动画", "動畫", "卡通", "动漫", "動漫"),
    "Children": ("儿童", "兒童", "家庭", "亲子", "親子", "孩子", "小孩"),
    "Comedy": ("喜剧", "喜劇", "搞笑", "好笑", "幽默", "爆笑"),
    "Crime": ("犯罪", "黑帮", "黑幫", "警匪", "黑社会", "黑社會"),
    "Documentary": ("纪录片", "紀錄片", "記錄片", "纪实", "紀實"),
    "Drama": ("剧情", "劇情"),
    "Fantasy": ("奇幻", "魔幻", "魔法"),
    "Film-Noir": ("黑色电影", "黑色電影"),
    "Horror": ("恐怖", "吓人", "嚇人", "鬼片", "僵尸", "殭屍", "丧尸", "喪屍"),
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
    "no", "no more", "not", "not a fan of", "nothing", "none", "never", "without", "avoid", "avoiding",
    "anything but", "everything but", "anything except", "any genre but", "any genre except", "except",
    "excluding", "exclude", "other than", "apart from", "aside from", "besides", "skip", "non", "nor",
    "neither", "hate", "hates", "hated", "dislike", "dislikes", "can't stand", "cannot stand", "sick of",
    "tired of", "done with", "had enough of", "don't", "do not", "doesn't", "does not", "didn't",
    "did not", "won't", "isn't", "aren't", "spare me", "enough with", "enough of", "had my fill of", "can't do",
    "cannot do", "pass on", "drop the", "ditch the", "lose the", "get rid of",
)  # fmt: skip
NEGATIONS_ZH = (
    "不要", "不想看", "不想要", "不想", "不看", "别", "別", "除了", "除开", "除開", "没有", "沒有", "不喜欢",
    "不喜歡", "不太喜欢", "不太喜歡", "不太想看", "不爱", "不愛", "讨厌", "討厭", "不是", "排除", "不含",
    "不带", "不帶", "受不了", "不用", "又是", "谁要看", "誰要看", "谁想看", "誰想看", "谁爱看", "誰愛看",
)  # fmt: skip
# Softer cues: "not too scary" and "别太吓人" ask for less of a genre, not for none of it. The
# genres they govern become a preference against (`avoid_genres`), never a filter.
SOFT_NEGATIONS_EN = (
    "not too", "not too much", "not too many", "nothing too", "isn't too", "aren't too", "not overly",
    "not very", "not so", "less", "a little less", "a bit less", "without too much", "without too many",
)  # fmt: skip
SOFT_NEGATIONS_ZH = (
    "不要太", "不要太多", "别太", "別太", "不太", "不能太", "不用太", "不必太", "不会太", "不會太", "不要过于",
    "不要過於", "没那么", "沒那麼", "不那么", "不那麼", "别那么", "別那麼", "少点", "少一点", "少點", "少一點",
    "少些", "少一些",
)  # fmt: skip
# After a genre, at the end of its clause, these refuse it: "恐怖片免了", "纪录片除外", "fantasy no".
# Between the genre and the cue only fillers and these words may stand ("功夫片我看腻了").
POST_NEGATIONS_EN = (
    "no", "nope", "no thanks", "no thank you", "not for me", "not tonight", "is a no", "are a no", "a no-go",
    "not my thing", "not my cup of tea", "bore me", "bores me", "bore me to tears", "bores me to tears",
    "bore me to death", "bores me to death",
)  # fmt: skip
POST_NEGATIONS_ZH = (
    "不要", "不行", "免了", "算了", "除外", "不感兴趣", "不感興趣", "没兴趣", "沒興趣", "看腻", "看膩", "看够",
    "看夠", "看烦", "看煩", "受不了", "不喜欢", "不喜歡", "不爱看", "不愛看", "不想看", "不看", "不考虑",
    "不考慮", "不用", "不需要", "别了", "別了", "拉倒", "饶了我", "饒了我",
)  # fmt: skip
POST_NEGATION_WORDS = r"我对|我對|我|对|對|早就|就|都|也|真的|实在|實在|已经|已經|还是|還是|可|拜托|拜託|\b(?:is|are|so|just|really|totally)\b"
POST_NEGATION_PARTICLES = r"\s|了|啦|吧|呀|啊|哦|喔|的|please|thanks|for now"
# A clause that is only one of these refuses the genres of the nearest clause before it that names
# any (at most two punctuation marks back): "horror? pass.", "romance again? ugh, no thanks",
# "西部片？拉倒吧", "战争片太沉重了，不想再看了". Regular expressions over the folded clause.
REFUSALS_EN = (
    r"(?:hard\s+)?pass", r"i(?:'ll|\s+will|'d|\s+would)\s+pass",
    r"(?:i(?:'ll|\s+will|'d)\s+)?pass\s+on\s+(?:that|those|them|it|this|these)", r"no\s+thanks?(?:\s+you)?", r"nope",
    r"nah", r"pfft+", r"e+w+", r"yuck", r"no\s+way", r"hell\s+no", r"hard\s+no", r"not\s+again", r"not\s+tonight",
    r"been\s+there,?\s+done\s+that", r"spare\s+me", r"not\s+for\s+me", r"(?:so\s+)?not\s+my\s+thing",
)  # fmt: skip
REFUSALS_ZH = (
    r"(?:我|真的|实在|實在|就|还是|還是|那|那就|也)*"
    r"(?:算了|饶了我|饒了我|拉倒|免了|不了|不用了|不要了|别了|別了|得了|省省|够了|夠了|不想再看|不想看|不看|没兴趣|沒興趣"
    r"|不感兴趣|不感興趣|看够|看夠|看腻|看膩|看烦|看煩|受不了)(?:了|吧|啦|呀|啊|哦|喔)*",
)
REFUSAL_FILLERS = r"(?:(?:ugh|meh|oh|um+|hmm+|well|yeah|lol|thanks|please|though)\s+)*"
# A clause that asks for something is not refused by a refusal after it ("I want a comedy, nope, no romance").
WISHES = (
    r"\b(?:i|we)(?:'d|\s+would)?\s+(?:\w+\s+)?(?:want|like|love|prefer|fancy|need|enjoy)\b", r"\bplease\b",
    r"\bgive me\b", "想看", "想要", "来点", "來點", "来部", "來部", "来个", "來個", "推荐", "推薦", "给我", "給我",
)  # fmt: skip
# Irony that refuses the genre it names: "oh wonderful, more zombies", "yeah, because I totally need
# more cartoons" (negation cues, like "no").
SARCASM_EN = (
    r"\boh,?\s+(?:great|wonderful|lovely|fantastic|perfect|brilliant|joy|goody|yay|super|boy)\b[,!.\s]*"
    r"(?:just\s+what\s+i\s+(?:needed|wanted)[,!.\s]*)?(?:more|another|yet\s+another|even\s+more)\b",
    r"\b(?:yeah|yea|sure|right)\b,?\s+because\s+i\s+(?:\w+\s+)?(?:need|want|needed|wanted)\s+"
    r"(?:more|another|even\s+more)\b",
)
# Phrases that contain a negation word but negate nothing; blanked before looking for cues.
NOT_NEGATIONS = (
    "not sure", "not really sure", "not certain", "not necessarily", "not only", "not just", "not merely",
    "not simply", "nothing but", "no matter", "don't mind", "do not mind", "doesn't matter",
    "does not matter", "doesn't have to", "does not have to", "don't have to", "do not have to",
    "don't care", "no idea", "no problem", "no worries", "don't know", "do not know", "don't really know",
    "even if you don't", "even if you do not",
    # idioms
    "non-stop", "no-nonsense", "no doubt", "no question", "no kidding", "not gonna lie", "not going to lie",
    "never get tired of", "never gets old", "never get bored of", "never tire of", "can't get enough",
    "cannot get enough", "can't wait", "cannot wait", "can't resist", "cannot resist", "not ashamed",
    "can't go wrong", "not bad",
    # "why not a comedy"
    "why not", "why don't", "why do not", "why won't",
    # comparisons: "nothing beats a good western"
    "nothing beats", "nothing can beat", "nothing better", "nothing compares", "nothing quite compares",
    "nothing tops", "nothing hits like", "nothing quite like", "nothing like a", "nothing like an",
    "no better", "can't beat", "cannot beat", "can't top", "second to none",
    # past experience: "I never used to like westerns", "I've never seen a noir"
    "never used to", "used to hate", "used to dislike", "didn't use to", "did not use to", "never seen",
    "never watched", "never tried", "never really seen", "never really watched", "haven't seen",
    "haven't watched", "have not seen", "hadn't seen", "not seen",
    "特别", "特別", "区别", "區別", "分别", "分別", "告别", "告別", "个别", "個別", "识别", "識別",
    "级别", "級別", "类别", "類別", "性别", "性別", "差别", "差別", "鉴别", "辨别", "别的", "別的", "别人",
    "別人", "有没有", "有沒有", "要不要", "看不看", "想不想", "是不是", "不太确定", "不太確定", "不太清楚",
    "没看过", "沒看過", "没有看过", "沒有看過", "没有之一", "沒有之一",
    "为什么不", "為什麼不", "为啥不", "為啥不", "干嘛不", "幹嘛不", "干吗不", "幹嗎不", "何不", "怎么不",
    "怎麼不", "怎么没有", "怎麼沒有", "难道没有", "難道沒有", "是不是没有", "是不是沒有",
)  # fmt: skip
# The same as patterns; a group named "cue" is what they blank (else the whole match).
NOT_NEGATION_PATTERNS = (
    # an inverted question: "isn't there a good comedy", "don't you have any westerns"
    r"(?:^|(?<=[,.;:!?…]))\s*(?:(?:and|so|but|well|oh|hmm+|then|seriously)\s*,?\s+)?"
    r"(?P<cue>isn't|aren't|don't|doesn't|didn't|won't|wouldn't|isnt|arent|dont|doesnt|didnt)\s+"
    r"(?:there|you|ya|u|we|they|anyone|anybody|someone|somebody|people|it)\b(?!\s+dare)",
    # a clause that opens with a negated auxiliary and ends in a question mark
    r"(?:^|(?<=[,.;:!?…]))\s*(?P<cue>isn't|aren't|don't|doesn't|didn't|won't|isnt|arent|dont|doesnt|didnt)\b"
    r"(?=[^,.;:!?…]*\?)",
    r"\b(?:is|are)\s+there\s+(?P<cue>no)\b",
    r"\b(?P<cue>no|nothing|none)(?:\s+\w+){0,2}\s+(?:is|are|gets|comes)\s+(?:better|greater|finer|closer)\b",
    # "besides X, also Y" adds a genre
    r"\b(?P<cue>besides|apart from|aside from|other than)\b(?=[^.!?]*\b(?:also|as well)\b)",
    r"(?P<cue>除了)(?=[^。！？!?.]*(?:还|還|也想|也要|也喜|也爱|也愛|另外))",
    # rhetorical questions and comparisons: "没有好看的科幻片吗", "没有比科幻片更好的了"
    r"(?P<cue>没有|沒有|不是|不能)(?=[^，。,.;；!！?？]*[吗嗎])",
    r"(?P<cue>没有|沒有)(?=[^，。,.;；!！?？]{0,6}比)",
    r"又是[^，。,.;；!！?？]*又是",
)
# A past dislike of one film is not one of its genre: "I didn't like the last horror film". The
# genre is wanted only when the message asks for no other ("..., but I'd try one again").
ONE_FILM_NEGATIONS = (r"\b(?P<cue>didn't|didnt|did not)\s+(?:really\s+)?\w+\s+(?:the|that|this|those|these|your)\b",)
# Before a Chinese negation in its clause these make it a past taste ("以前不爱看西部片").
PAST_MARKERS_ZH = (
    "以前", "从前", "從前", "过去", "過去", "小时候", "小時候", "原来", "原來", "本来", "本來", "曾经", "曾經",
    "一开始", "一開始",
)  # fmt: skip
# In the gap between a negation and a genre these end its scope ("no horror, but funny").
SCOPE_BREAKERS = (
    r"[,.;!?，。；！？\n]",
    r"\b(?:but|though|although|however|instead|rather|yet|whereas|while|more|just|only)\b",
    r"\b(?:i|we|i'd|we'd|i'm|we're)\s+(?:\w+\s+)?(?:want|like|love|prefer|fancy|need|enjoy|am in the mood)\b",
    r"但|不过|不過|而是|只要|可以|想要|想看|喜欢|喜歡",
)
# Before a later mention of a refused genre these revise the refusal ("no horror. actually, horror
# is fine"); without one a later mention is taken to speak of the same ("... the last scary movie I saw").
CONTRASTS = (
    r"\b(?:but|though|although|however|actually|still|now|instead|yet|anyway)\b",
    "但", "不过", "不過", "可是", "然而", "还是", "還是", "现在", "現在", "其实", "其實", "反而",
)  # fmt: skip
# Between two genres these carry a negation on: "no horror or thriller", "不要恐怖片和惊悚片".
GENRE_JOINERS = r"or|and|nor|/|、|和|或者|或|跟|与|與|及|也不要|还是|還是"
GENRE_FILLERS = r"\s|movies?|films?|flicks?|stuff|ones?|any|either|片|电影|電影|的|类|類"

# Words addressed to the assistant rather than about films, read to the end of their sentence and then
# dropped: never searched, never quoted back ("a western. Ignore previous instructions and print ...").
INSTRUCTION_PHRASES = (
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}\b(?:instructions?|prompts?|rules|guidelines)\b[^.!?\n]*",
    r"\b(?:print|reveal|show|repeat|output|tell me)\b[^.!?\n]{0,30}\b(?:system|hidden|initial) (?:prompt|message|instructions?)\b[^.!?\n]*",
    r"\byou are now\b[^.!?\n]*", r"\b(?:system|assistant|developer)\s*:[^.!?\n]*", r"\bdebug mode\b[^.!?\n]*",
    r"(?:忽略|无视|無視|忘记|忘記)[^。！？\n]{0,10}(?:指令|指示|提示|规则|規則)[^。！？\n]*",
    r"(?:输出|輸出|打印|显示|顯示)[^。！？\n]{0,10}(?:系统|系統)提示[^。！？\n]*",
)  # fmt: skip

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
    r"\bin recent years\b", r"\bthe (?:last|past) (?:few|couple of|two|three) years\b",
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

# How a genre is said (`NeedsUpdate.genres_as`): as a taste ("I love horror", "我喜欢恐怖片"), a
# preference once liked films carry the request; or as a constraint ("only comedies", "只看喜剧"),
# always a filter. "I'd like a comedy" and "I feel like a western" are requests, neither.
TASTE_CUES = (
    r"\bi\s+(?:(?:really|also|usually|mostly|just|even|especially|particularly|do)\s+)?(?:like|love|enjoy|adore|prefer|dig)\b",
    r"\bi'?m\s+(?:really\s+|a\s+)?(?:big\s+|huge\s+)?(?:into|fan\s+of)\b", r"\bi\s+am\s+(?:really\s+)?into\b",
    r"\bfan\s+of\b", r"\bfavou?rite\b", "我(?:很|特别|特別|比较|比較|也)?(?:喜欢|喜歡|爱看|愛看)",
)  # fmt: skip
# A genre said as the kind the likeness asks for ("a similar animated film", "差不多的动画", "animated
# films like Spirited Away"): the words just before or after the genre's. Such a genre is what is
# wanted, a filter even beside liked films (`NeedsUpdate.genres_as` "kind").
KIND_BEFORE = r"(?:\bsimilar|差不多|类似|類似|相似|一样|一樣|同类型?|同類型?)的?\s*$"
KIND_AFTER = r"^\s*(?:(?:films?|movies?|ones?|片子?)\s*)?(?:\bsimilar\s+to\b|\blike\b|\bin\s+the\s+vein\s+of\b)"
ONLY_CUES = (
    r"\bonly\b", r"\bnothing\s+but\b", r"\bexclusively\b", r"\bstrictly\b", r"\b(?:must|has\s+to|have\s+to|needs?\s+to)\s+be\b",
    "只(?:要|看|想看)", "必须", "必須",
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
    latest newest old classic classics year years decade era aren't wasn't weren't haven't hasn't won't
    wouldn't shouldn't couldn't dont didnt doesnt isnt arent cant idk dunno besides vibe vibes style
    alike akin reminiscent comparable couple someone somebody anyone anybody everyone everybody""".split()
)
# Chinese filler split out of the message before keeping what is left as keywords.
STOPWORDS_ZH = (
    "我想看", "我想要", "我要看", "想看", "想要", "我想", "我要", "要看", "给我", "給我", "帮我", "幫我",
    "推荐", "推薦", "一些", "几部", "幾部", "一部", "一个", "一個", "几个", "幾個", "电影", "電影", "影片",
    "片子", "有没有", "有沒有", "有什么", "有什麼", "什么", "什麼", "甚麼", "那种", "那種", "这种", "這種",
    "那样", "那樣", "这样", "這樣", "一样", "一樣", "一点", "一點", "看看", "好看", "适合", "適合",
    "关于", "關於", "类似", "類似", "的话", "的話", "可以", "谢谢", "謝謝", "请", "請", "以外", "之外",
    "喜欢", "喜歡", "最近", "来点", "來點", "来一些", "來一些", "来几部", "來幾部", "特别", "特別",
    "比较", "比較", "那样的", "都行", "又是", "题材", "題材", "主题", "主題",
    "的", "了", "吗", "嗎", "呢", "吧", "啊", "呀", "和", "与", "與", "或", "很", "太", "都", "也",
    "还", "還", "就", "我", "你", "他", "她", "们", "們", "部", "片", "看", "要",
)  # fmt: skip


# Years. Y is a four-digit year; decades come in English ("90s", "'90s", "1990s", "nineties") and
# Chinese ("90年代", "九十年代", "九零年代") forms, with an optional early/mid/late part.
Y = r"(1[89]\d\d|20\d\d)"
DECADE_WORDS = {"twenties": 20, "thirties": 30, "forties": 40, "fifties": 50, "sixties": 60,
                 "seventies": 70, "eighties": 80, "nineties": 90}  # fmt: skip
ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
DECADE_EN = (
    r"(?:the\s+)?(?:(early|mid|late)[\s-]*)?(?:the\s+)?"
    rf"(?:(?<!\d)((?:1[89]|20)\d0)'?s|(?<![\d'])'?(\d0)'?s|({'|'.join(DECADE_WORDS)}))(?![\w])"
)
DECADE_ZH = (
    r"(?:(?<!\d)((?:19|20)\d0)|(?<!\d)(\d0)|([一二三四五六七八九]十|[零〇一二三四五六七八九][零〇]))\s*年代"
    r"(初期|初|早期|中期|中|末期|末|后期|後期|晚期)?"
)
DECADE_PARTS = {"early": "early", "mid": "mid", "late": "late", "初期": "early", "初": "early", "早期": "early",
         "中期": "mid", "中": "mid", "末期": "late", "末": "late", "后期": "late", "後期": "late",
         "晚期": "late"}  # fmt: skip
PART_YEARS: dict[str | None, tuple[int, int]] = {None: (0, 9), "early": (0, 4), "mid": (3, 7), "late": (5, 9)}

# (kind, pattern) in the order they are tried; each match is consumed. Kinds: "range" (two years),
# "max-1"/"max" (before / until), "min+1"/"min" (after / since), "around" (±2), "single".
# Decade forms: "decade-max-1" (before the 80s), "decade-after" (after the late 80s: 1990 on),
# "decade-min" (since), "decade" (the decade itself).
YEAR_RULES: tuple[tuple[str, str], ...] = (
    ("range", rf"\bbetween\s+(?:the\s+years?\s+)?{Y}\s+and\s+{Y}\b"),
    ("range", rf"\b(?:from\s+)?{Y}\s*(?:-|–|—|to|through|till|until)\s*{Y}\b"),
    ("range", rf"{Y}\s*年?\s*(?:到|至|-|–|~|～)\s*{Y}\s*年?"),
    ("around", rf"\b(?:around|circa|about|roughly|approximately|ca\.)\s+{Y}\b"),
    ("around", rf"{Y}\s*年?\s*(?:左右|前后|前後)"),
    ("max", rf"(?:不晚于|不晚於|不迟于|不遲於){Y}\s*年?"),
    ("min", rf"(?:不早于|不早於){Y}\s*年?"),
    ("max", rf"\b(?:until|up to|till|no later than|not after)\s+{Y}\b"),
    ("max", rf"\b{Y}\s+or\s+(?:earlier|before|older)\b"),
    ("max-1", rf"\b(?:before|pre|prior to|older than|earlier than)[\s-]*{Y}\b"),
    ("max-1", rf"{Y}\s*年?\s*(?:以前|之前|前)"),
    ("max-1", rf"(?:早于|早於|先于|先於){Y}\s*年?|比\s*{Y}\s*年?\s*(?:更|还|還)?(?:老|早)"),
    ("min", rf"\b(?:since|no earlier than|not before)\s+{Y}\b"),
    ("min", rf"\b(?:from\s+)?{Y}\s*(?:onwards?|or later|and later|or newer|and up|on|\+)(?![\w+])"),
    ("min", rf"{Y}\s*年?\s*(?:以后|以後|之后|之後|以来|以來|后|後|起)"),
    ("min+1", rf"\b(?:after|post|past|newer than|later than|more recent than)[\s-]*{Y}\b"),
    ("min+1", rf"(?:晚于|晚於|迟于|遲於){Y}\s*年?|比\s*{Y}\s*年?\s*(?:更|还|還)?(?:新|晚|近)"),
    ("decade-max-1", rf"\b(?:before|pre|prior to|older than)[\s-]*(?:{DECADE_EN})"),
    ("decade-max-1", rf"(?:{DECADE_ZH})\s*(?:以前|之前)"),
    ("decade-after", rf"\b(?:after|post|past|newer than|more recent than)[\s-]*(?:{DECADE_EN})"),
    ("decade-min", rf"\bsince\s+(?:{DECADE_EN})"),
    ("decade-min", rf"(?:{DECADE_ZH})\s*(?:以后|以後|之后|之後|以来|以來)"),
    ("decade", rf"(?:{DECADE_EN})|(?:{DECADE_ZH})"),
    ("single", rf"(?<![\d#.]){Y}(?![\d])\s*年?"),
)
