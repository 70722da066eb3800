"""What people mean beyond genre names: moods, comparisons ("but funnier"), topics said in Chinese,
and time words ("this century", "近十年").

Each table maps a phrase to what it asks of the catalogue's attributes, as a preference unless the
phrase is unambiguous:
- moods ("uplifting", "a tear-jerker", "烧脑") prefer some genres and avoid others: "something
  uplifting after a rough week" leans to comedies and dramas and away from horror, war and crime,
  without filtering any of them out;
- comparisons after "like X" move along a genre: "funnier", "更搞笑" prefer Comedy; "less scary",
  "不要那么吓人" avoid Horror; "for adults", "成人" excludes Children (the one hard move);
  "darker" (as "grittier") avoids Comedy and Children and prefers Crime, Thriller and Drama;
- Chinese topic words add their English keywords ("太空" -> space), so that the English item texts
  and the English-only encoder can be searched by them;
- moods name the English attribute words they mean ("治愈" -> heartwarming,
  feel-good), which the attribute vocabulary of the catalogue is searched by (`Needs.about`);
- time words become year bounds, relative to `now_year` (the catalogue's newest year when the
  Recommender reads them: "the last decade" of a 2016 catalogue is 2007-2016).

Left out on purpose: runtime ("shorter": the default catalogue has no runtimes), and moods the
genre vocabulary cannot express (those still reach the text search as keywords).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# phrase -> (preferred genres, avoided genres). English phrases match as words, Chinese as substrings.
MOODS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "uplifting": (("Comedy", "Drama"), ("Horror", "War", "Crime", "Thriller")),
    "feel-good": (("Comedy", "Romance"), ("Horror", "War", "Crime", "Thriller")),
    "feel good": (("Comedy", "Romance"), ("Horror", "War", "Crime", "Thriller")),
    "heartwarming": (("Drama", "Comedy", "Children"), ("Horror", "War", "Crime", "Thriller")),
    "cheer me up": (("Comedy",), ("Horror", "War", "Crime", "Thriller")),
    "rough week": (("Comedy",), ("Horror", "War", "Thriller")),
    "bad day": (("Comedy",), ("Horror", "War", "Thriller")),
    "inspiring": (("Drama",), ("Horror",)),
    "inspirational": (("Drama",), ("Horror",)),
    "tear-jerker": (("Drama", "Romance"), ("Comedy", "Horror")),
    "tearjerker": (("Drama", "Romance"), ("Comedy", "Horror")),
    "make me cry": (("Drama", "Romance"), ("Comedy", "Horror")),
    "sad": (("Drama",), ("Comedy",)),
    "mind-bending": (("Sci-Fi", "Mystery", "Thriller"), ("Children", "Romance")),
    "mind bending": (("Sci-Fi", "Mystery", "Thriller"), ("Children", "Romance")),
    "mind-blowing": (("Sci-Fi", "Mystery", "Thriller"), ("Children",)),
    "twist": (("Mystery", "Thriller"), ("Children",)),
    "cozy": (("Comedy", "Romance", "Animation", "Children"), ("Horror", "War", "Thriller", "Crime")),
    "cosy": (("Comedy", "Romance", "Animation", "Children"), ("Horror", "War", "Thriller", "Crime")),
    "rainy day": (("Comedy", "Romance", "Animation"), ("Horror", "War")),
    "dark": (("Crime", "Thriller", "Drama"), ("Comedy", "Children", "Animation", "Musical")),
    "gritty": (("Crime", "Thriller", "Drama"), ("Comedy", "Children", "Animation", "Musical")),
    "bleak": (("Drama",), ("Comedy", "Children")),
    "light": (("Comedy",), ("Horror", "War", "Thriller")),
    "lighthearted": (("Comedy",), ("Horror", "War", "Thriller", "Crime")),
    "light-hearted": (("Comedy",), ("Horror", "War", "Thriller", "Crime")),
    "silly": (("Comedy",), ("Drama", "War", "Horror")),
    "tense": (("Thriller",), ("Comedy", "Children")),
    "edge of my seat": (("Thriller", "Action"), ("Comedy", "Children")),
    "exciting": (("Action", "Adventure", "Thriller"), ()),
    "thrilling": (("Thriller", "Action"), ()),
    "epic": (("Adventure", "War", "Action"), ()),
    "治愈": (("Comedy", "Drama", "Animation"), ("Horror", "War", "Crime", "Thriller")),
    "温馨": (("Comedy", "Drama", "Children"), ("Horror", "War", "Crime", "Thriller")),
    "暖心": (("Comedy", "Drama"), ("Horror", "War", "Crime", "Thriller")),
    "励志": (("Drama",), ("Horror",)),
    "正能量": (("Drama", "Comedy"), ("Horror", "Crime")),
    "开心": (("Comedy",), ("Horror", "War", "Thriller")),
    "心情不好": (("Comedy",), ("Horror", "War", "Thriller")),
    "催泪": (("Drama", "Romance"), ("Comedy", "Horror")),
    "感人": (("Drama", "Romance"), ("Horror",)),
    "哭": (("Drama", "Romance"), ("Comedy", "Horror")),
    "烧脑": (("Sci-Fi", "Mystery", "Thriller"), ("Children", "Romance")),
    "反转": (("Mystery", "Thriller"), ("Children",)),
    "黑暗": (("Crime", "Thriller", "Drama"), ("Comedy", "Children", "Animation")),
    "压抑": (("Drama",), ("Comedy", "Children")),
    "轻松": (("Comedy",), ("Horror", "War", "Thriller")),
    "紧张": (("Thriller",), ("Comedy", "Children")),
    "刺激": (("Action", "Thriller"), ()),
    "热血": (("Action", "Adventure", "War"), ("Romance",)),
    "史诗": (("Adventure", "War", "Action"), ()),
    "约会": (("Romance", "Comedy"), ("Horror", "War")),
    "甜蜜": (("Romance",), ("Horror", "War")),
    # the same moods in other words, as people say them ("让人感动的电影", "something depressing")
    **dict.fromkeys(
        ("touching", "heartbreaking", "emotional", "感动", "伤感", "悲伤", "虐心", "泪目"),
        (("Drama", "Romance"), ("Comedy", "Horror")),
    ),
    **dict.fromkeys(
        ("depressing", "melancholy", "melancholic", "somber", "sombre", "致郁", "沉重", "绝望"),
        (("Drama",), ("Comedy", "Children")),
    ),
    **dict.fromkeys(
        ("wholesome", "温暖", "温情"), (("Drama", "Comedy", "Children"), ("Horror", "War", "Crime", "Thriller"))
    ),
    **dict.fromkeys(
        ("cheerful", "joyful", "relaxing", "欢乐", "快乐", "愉快", "放松"), (("Comedy",), ("Horror", "War", "Thriller"))
    ),
    **dict.fromkeys(("gripping", "nail-biting", "扣人心弦", "惊心动魄"), (("Thriller",), ("Comedy", "Children"))),
    **dict.fromkeys(
        ("thought-provoking", "thought provoking", "philosophical", "发人深省", "引人深思", "有深度"),
        (("Drama",), ("Children",)),
    ),
    **dict.fromkeys(("quirky", "offbeat", "whimsical", "怪诞"), (("Comedy",), ())),
    **dict.fromkeys(
        ("hopeful", "optimistic", "happy ending", "乐观"), (("Comedy", "Drama"), ("Horror", "War", "Crime", "Thriller"))
    ),
    **dict.fromkeys(("intense", "激烈", "紧凑"), (("Thriller", "Action"), ("Comedy", "Children"))),
    **dict.fromkeys(
        ("violent", "暴力"), (("Crime", "Thriller", "Action"), ("Comedy", "Children", "Animation", "Musical"))
    ),
    **dict.fromkeys(("trippy", "脑洞"), (("Sci-Fi", "Mystery", "Thriller"), ("Children", "Romance"))),
}

# Comparisons that move along a genre: phrase -> (prefer, avoid, exclude).
MOVES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "funnier": (("Comedy",), (), ()),
    "less serious": (("Comedy",), ("War",), ()),
    "scarier": (("Horror",), (), ()),
    "less scary": ((), ("Horror",), ()),
    "not as scary": ((), ("Horror",), ()),
    "less violent": ((), ("War", "Crime", "Horror"), ()),
    "more exciting": (("Action", "Thriller"), (), ()),
    **dict.fromkeys(
        ("darker", "grittier", "grimmer"), (("Crime", "Thriller", "Drama"), ("Comedy", "Children", "Animation"), ())
    ),
    "lighter": (("Comedy",), ("Horror", "War", "Thriller", "Crime"), ()),
    "for adults": ((), (), ("Children",)),
    "for grown-ups": ((), (), ("Children",)),
    "for grownups": ((), (), ("Children",)),
    "grown-up": ((), (), ("Children",)),
    "more grown-up": ((), (), ("Children",)),
    "更搞笑": (("Comedy",), (), ()),
    "更好笑": (("Comedy",), (), ()),
    "更幽默": (("Comedy",), (), ()),
    "更吓人": (("Horror",), (), ()),
    "更恐怖": (("Horror",), (), ()),
    "不要那么吓人": ((), ("Horror",), ()),
    "没那么吓人": ((), ("Horror",), ()),
    "不那么吓人": ((), ("Horror",), ()),
    "不要那么恐怖": ((), ("Horror",), ()),
    "更浪漫": (("Romance",), (), ()),
    "更刺激": (("Action", "Thriller"), (), ()),
    "更黑暗": (("Crime", "Thriller", "Drama"), ("Comedy", "Children", "Animation"), ()),
    "更轻松": (("Comedy",), ("Horror", "War", "Thriller", "Crime"), ()),
    "成人": ((), (), ("Children",)),
    "大人看的": ((), (), ("Children",)),
    "适合大人": ((), (), ("Children",)),
}

# Chinese topic words -> English keywords for the text search and the attribute vocabulary (phrases
# as the vocabulary spells them: "world war ii", "high school").
TOPICS_ZH: dict[str, tuple[str, ...]] = {
    "太空": ("space", "astronaut"), "宇宙": ("space",), "宇航员": ("astronaut", "space"),
    "外星人": ("aliens", "alien invasion"), "外星": ("aliens",), "入侵": ("invasion", "alien invasion"), "僵尸": ("zombie",), "丧尸": ("zombie",),
    "吸血鬼": ("vampire",), "鲨鱼": ("shark",), "恐龙": ("dinosaur",), "机器人": ("robot",),
    "人工智能": ("artificial intelligence", "robot"), "时间旅行": ("time travel",),
    "穿越时空": ("time travel",), "抢劫": ("heist", "robbery"), "盗窃": ("heist", "thief"),
    "黑帮": ("mafia", "gangster"), "黑手党": ("mafia",), "拳击": ("boxing", "boxer"),
    "连环杀手": ("serial killer",), "杀手": ("killer", "hitman"), "潜艇": ("submarine",),
    "法庭": ("courtroom", "trial", "lawyer"), "律师": ("lawyer", "courtroom"),
    "二战": ("world war ii",), "第二次世界大战": ("world war ii",), "越战": ("vietnam war",),
    "高中": ("high school",), "校园": ("school", "college"), "大学": ("college",),
    "自然灾害": ("disaster", "earthquake", "tornado"), "灾难": ("disaster",), "地震": ("earthquake",),
    "火山": ("volcano",), "海啸": ("tsunami",), "功夫": ("kung fu", "martial arts"), "武侠": ("martial arts",),
    "体育": ("sports",), "足球": ("football", "soccer"), "篮球": ("basketball",), "音乐家": ("musician",),
    "超级英雄": ("superhero",), "魔法": ("magic", "wizard"), "巫师": ("wizard",), "海盗": ("pirate",),
    "间谍": ("spy", "agent"), "监狱": ("prison",), "越狱": ("prison escape", "prison"), "末日": ("apocalypse",),
    "狗": ("dog",), "猫": ("cat",), "马": ("horse",), "战争": ("war",), "历史": ("history",),
    "传记": ("biography",), "赛车": ("racing", "car"), "飞机": ("plane",), "船": ("ship",),
    "太空探索": ("space travel", "astronaut", "space"), "公路": ("road trip",), "公路片": ("road trip", "road movie"),
    "时间循环": ("time loop",), "失忆": ("amnesia", "memory loss"), "青春": ("coming of age", "teenager"),
    "成长": ("coming of age",), "骗子": ("con artist", "swindle"), "诈骗": ("con artist", "swindle"),
    "行骗": ("con artist", "swindle"), "记者": ("journalist", "reporter"), "反乌托邦": ("dystopia",),
    "劫案": ("heist", "robbery"), "抢银行": ("bank robbery", "heist"), "律政": ("lawyer", "courtroom"),
    "审判": ("trial", "courtroom"), "登山": ("mountain climbing", "mountaineering"), "象棋": ("chess",),
    "真实故事": ("based on a true story",), "真实事件": ("based on true story",), "求生": ("survival",),
    "生存": ("survival",), "作家": ("writer", "novelist"), "复仇": ("revenge",), "绑架": ("kidnapping",),
    "黑客": ("hacker",), "病毒": ("virus", "epidemic"), "幽灵": ("ghost",), "鬼魂": ("ghost",),
    "女巫": ("witch",), "狼人": ("werewolf",), "深海": ("underwater", "deep sea"), "荒岛": ("deserted island",),
    "毒品": ("drugs",), "赌博": ("gambling",), "婚礼": ("wedding",), "圣诞": ("christmas",),
    "友情": ("friendship",), "友谊": ("friendship",), "家庭": ("family",), "警察": ("police", "cop"),
    # more topics as people name them, each English word a keyword or tag of the knowledge tables
    "火星": ("mars",), "月球": ("moon",), "克隆": ("clone",), "梦境": ("dream",), "平行世界": ("parallel world",),
    "记忆": ("memory",), "魔术师": ("magician",), "侦探": ("detective",), "谋杀": ("murder",), "卧底": ("undercover",),
    "毒枭": ("drug cartel",), "特工": ("secret agent", "spy"), "武士": ("samurai",), "忍者": ("ninja",),
    "骑士": ("knight",), "中世纪": ("middle ages",), "古罗马": ("ancient rome",), "角斗士": ("gladiator",),
    "冷战": ("cold war",), "一战": ("world war i",), "第一次世界大战": ("world war i",), "内战": ("civil war",),
    "南北战争": ("american civil war",), "大屠杀": ("holocaust",), "纳粹": ("nazi",), "种族歧视": ("racism",),
    "奴隶": ("slavery",), "同性恋": ("homosexuality", "gay", "lgbt"), "移民": ("immigrant", "immigration"),
    "棒球": ("baseball",), "橄榄球": ("american football",), "冰球": ("ice hockey",), "网球": ("tennis",),
    "舞蹈": ("dancing", "dance"), "跳舞": ("dancing", "dance"), "芭蕾": ("ballet",), "乐队": ("band", "musician"),
    "摇滚": ("rock and roll",), "厨师": ("chef", "cooking"), "美食": ("food", "cooking", "restaurant"),
    "餐厅": ("restaurant",), "沙漠": ("desert",), "丛林": ("jungle",), "南极": ("antarctica",),
    "海洋": ("ocean",), "飓风": ("hurricane",), "龙卷风": ("tornado",), "小行星": ("asteroid",),
    "瘟疫": ("epidemic", "plague"), "核战争": ("nuclear war",), "超能力": ("superpower",), "变种人": ("mutant",),
    "怪兽": ("monster", "giant monster", "kaiju"), "老师": ("teacher",), "学生": ("student",),
    "父子": ("father son relationship",), "母女": ("mother daughter relationship",),
    "父女": ("father daughter relationship",), "母子": ("mother son relationship",),
    "兄弟": ("brother brother relationship",), "姐妹": ("sister sister relationship",), "婚姻": ("marriage",),
    "离婚": ("divorce",), "出轨": ("adultery",), "怀孕": ("pregnancy",), "青少年": ("teenager",), "医院": ("hospital",),
    "医生": ("doctor",), "精神病": ("mental illness",), "自闭症": ("autism",), "盲人": ("blindness",),
    "总统": ("president",), "政治": ("politics",), "选举": ("election",), "华尔街": ("wall street", "stock market"),
    "赌场": ("casino", "gambling"), "拉斯维加斯": ("las vegas",), "纽约": ("new york city",), "巴黎": ("paris",),
    "日本": ("japan",), "香港": ("hong kong",), "印度": ("india",), "非洲": ("africa",), "鬼屋": ("haunted house",),
    "驱魔": ("exorcism", "possession"), "恶魔": ("demon",), "邪教": ("cult",), "宗教": ("religion",),
    "虚拟现实": ("virtual reality",), "赛博朋克": ("cyberpunk",), "时光机": ("time machine", "time travel"),
    "寻宝": ("treasure hunt", "treasure"), "考古": ("archaeologist",), "沉船": ("shipwreck",), "火车": ("train",),
    "空难": ("airplane crash",), "冲浪": ("surfing",), "滑雪": ("skiing",), "摔跤": ("wrestling",),
    "高尔夫": ("golf",), "扑克": ("poker", "gambling"), "人质": ("hostage",), "恐怖袭击": ("terrorism",),
    "刺客": ("assassin", "hitman"), "黑社会": ("mafia", "yakuza", "triad"), "背叛": ("betrayal",),
    "双胞胎": ("twins",), "天才": ("genius",), "数学家": ("mathematician",), "科学家": ("scientist",),
    "发明家": ("inventor",), "画家": ("painter",), "摄影师": ("photographer",), "歌手": ("singer",),
    "好莱坞": ("hollywood",), "拍电影": ("filmmaking",), "电视": ("television",), "网络": ("internet",),
    "电脑": ("computer",), "飞碟": ("ufo",), "宇宙飞船": ("spaceship",),
    # written from what these words name in film talk; each English word a keyword of the knowledge tables
    "世界末日": ("apocalypse", "end of the world"), "牛仔": ("cowboy",), "贩毒": ("drug dealer", "drug trafficking"),
    "初恋": ("first love",), "动物": ("animal",), "爵士": ("jazz",), "潜水": ("diving", "scuba diving"),
    "平行宇宙": ("parallel world", "alternate reality"), "基因": ("genetics", "genetic engineering"),
    "小丑": ("clown",), "玩具": ("toy",), "圣诞节": ("christmas",), "万圣节": ("halloween",), "国际象棋": ("chess",),
    "哥斯拉": ("godzilla", "kaiju"), "蜘蛛": ("spider",), "昆虫": ("insects", "giant insect"), "催眠": ("hypnosis",),
    "人格分裂": ("multiple personality", "dissociative identity disorder", "split personality"),
    "双重人格": ("multiple personality", "dissociative identity disorder", "split personality"),
    "蒸汽朋克": ("steampunk",), "独裁": ("dictator", "dictatorship"), "革命": ("revolution",),
    "起义": ("rebellion", "uprising"), "战俘": ("prisoner of war",), "集中营": ("concentration camp",),
    "士兵": ("soldier",), "狙击手": ("sniper",), "海军": ("navy",), "空军": ("air force",), "飞行员": ("pilot",),
    "战斗机": ("fighter pilot", "fighter jet"), "航母": ("aircraft carrier",), "坦克": ("tank",),
    "古埃及": ("ancient egypt",), "希腊神话": ("greek mythology",), "神话": ("mythology",), "维京": ("viking",),
    "滑板": ("skateboarding",), "自行车": ("bicycle", "cycling"), "马拉松": ("marathon",), "跑步": ("running",),
    "游泳": ("swimming",), "奥运": ("olympic games",), "冠军": ("championship",), "教练": ("coach",),
    "乒乓": ("ping pong",), "武术": ("martial arts",), "少林": ("shaolin", "kung fu"), "太极": ("tai chi",),
    "枪战": ("shootout",), "汽车": ("car",), "摩托": ("motorcycle",), "卡车": ("truck",), "出租车": ("taxi",),
    "手机": ("mobile phone", "cell phone"), "社交网络": ("social network", "social media"),
    "电子游戏": ("video game",), "漫画": ("based on comic", "comic book"), "童话": ("fairy tale",),
    "公主": ("princess",), "王子": ("prince",), "国王": ("king",), "女王": ("queen",), "皇帝": ("emperor",),
    "宝藏": ("treasure",), "金字塔": ("pyramid",), "木乃伊": ("mummy",), "外太空": ("outer space",),
    "黑洞": ("black hole",), "真人真事": ("based on true story",), "选美": ("beauty contest",), "时尚": ("fashion",),
    "明星": ("celebrity", "movie star"), "说唱": ("hip-hop", "rap music"), "嘻哈": ("hip-hop",),
    "钢琴": ("piano", "pianist"), "小提琴": ("violin",), "艺术家": ("artist",), "剧院": ("theater",),
    "马戏团": ("circus",), "小偷": ("thief",), "保镖": ("bodyguard",), "雇佣兵": ("mercenary",),
    "特种部队": ("special forces",), "恐怖分子": ("terrorist", "terrorism"), "炸弹": ("bomb",), "导弹": ("missile",),
    "核弹": ("nuclear bomb", "atomic bomb"), "克格勃": ("kgb",), "中情局": ("cia",), "联邦调查局": ("fbi",),
    "凶手": ("murderer", "killer"), "警探": ("police detective", "detective"), "尸体": ("corpse", "dead body"),
    "吸毒": ("drug addiction", "drug abuse"), "酗酒": ("alcoholism",), "自杀": ("suicide",), "抑郁症": ("depression",),
    "癌症": ("cancer",), "绝症": ("terminal illness",), "阿尔茨海默": ("alzheimer's disease",),
    "退休": ("retirement",), "孤儿": ("orphan",), "领养": ("adoption",), "单亲": ("single parent", "single mother"),
    "婴儿": ("baby",), "婚外情": ("adultery", "extramarital affair"), "三角恋": ("love triangle",),
    "异地恋": ("long-distance relationship",), "暗恋": ("unrequited love", "secret love"), "变性": ("transgender",),
    "女权": ("feminism",), "难民": ("refugee",), "贫穷": ("poverty",), "富豪": ("millionaire", "billionaire"),
    "股市": ("stock market",), "金融危机": ("financial crisis",), "师生": ("teacher student relationship",),
}  # fmt: skip

# Moods -> the English attribute words they mean (as tags and model-written profiles say them),
# searched in the attribute vocabulary: `Needs.about`. Comparisons ("but funnier", "darker") are not
# here: measured on the content suite, "funny" films pulled in by the words outranked the ones like X
# ("like Die Hard but funnier" 1.0 -> 0.4 precision@5); their genre preference moves the list instead.
# Viewers seldom tag a mood, so a mood also names the keywords of what such films are about (TMDB
# keywords: "uplifting" -> friendship, underdog; "dark" -> neo noir, corruption; "romantic" -> soulmates):
# moods on the content suite with knowledge tables 0.554 -> 0.723 ("tear-jerker" -> terminal illness,
# tragic love; "治愈" -> anime, slice of life); bleak, tense and 热血 words of the same kind changed
# nothing or less, and are left out.
MOOD_WORDS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        ("uplifting", "feel-good", "feel good", "cheer me up", "rough week", "bad day", "cheerful", "joyful",
         "hopeful", "optimistic", "happy ending", "正能量", "开心", "心情不好", "欢乐", "快乐", "愉快", "乐观"),
        ("feel-good", "uplifting", "heartwarming", "inspirational", "friendship", "hope", "underdog"),
    ),
    **dict.fromkeys(
        ("heartwarming", "温馨", "暖心", "wholesome", "温暖", "温情"), ("heartwarming", "feel-good", "touching")
    ),
    "治愈": ("heartwarming", "feel-good", "touching", "anime", "slice of life"),  # 治愈系: iyashikei, healing anime
    **dict.fromkeys(("inspiring", "inspirational", "励志"), ("inspirational", "inspiring", "underdog")),
    **dict.fromkeys(
        ("tear-jerker", "tearjerker", "make me cry", "sad", "touching", "heartbreaking", "emotional",
         "催泪", "感人", "哭", "感动", "伤感", "悲伤", "虐心", "泪目"),
        ("tearjerker", "sad", "emotional", "touching", "tragic love", "terminal illness", "dying and death", "cancer"),
    ),
    **dict.fromkeys(
        ("mind-bending", "mind bending", "mind-blowing", "烧脑", "trippy", "脑洞"),
        ("mindfuck", "mind-bending", "twist ending", "complicated", "nonlinear", "surreal"),
    ),
    **dict.fromkeys(("twist", "反转"), ("twist ending", "plot twist")),
    **dict.fromkeys(
        ("cozy", "cosy", "rainy day"),
        ("cozy", "heartwarming", "feel-good", "charming", "christmas", "small town", "friendship"),
    ),
    **dict.fromkeys(
        ("dark", "gritty", "violent", "黑暗", "暴力"),
        ("dark", "gritty", "violent", "disturbing", "neo noir", "film noir", "corruption", "psychopath", "vigilante"),
    ),
    **dict.fromkeys(
        ("bleak", "压抑", "depressing", "melancholy", "melancholic", "somber", "sombre", "致郁", "沉重", "绝望"),
        ("depressing", "bleak", "disturbing", "sad", "melancholy"),
    ),
    **dict.fromkeys(
        ("light", "lighthearted", "light-hearted", "silly", "轻松", "relaxing", "放松"),
        ("funny", "silly", "goofy", "slapstick", "parody", "spoof", "anarchic comedy"),
    ),
    **dict.fromkeys(
        ("tense", "edge of my seat", "intense", "gripping", "nail-biting", "紧张", "扣人心弦", "惊心动魄", "激烈", "紧凑"),
        ("suspense", "tense", "suspenseful"),
    ),
    **dict.fromkeys(
        ("thought-provoking", "thought provoking", "philosophical", "发人深省", "引人深思", "有深度"),
        ("thought provoking", "philosophical", "philosophy", "social commentary", "existentialism"),
    ),
    **dict.fromkeys(("quirky", "offbeat", "whimsical", "怪诞"), ("quirky", "surreal", "dark comedy", "absurd")),
    **dict.fromkeys(("weird", "bizarre", "surreal", "诡异"), ("surreal", "bizarre", "dreamlike", "absurd", "quirky")),
    **dict.fromkeys(("atmospheric", "moody", "氛围"), ("atmospheric", "moody", "dreamlike")),
    **dict.fromkeys(("nostalgic", "怀旧"), ("nostalgic", "nostalgia", "coming of age")),
    **dict.fromkeys(("exciting", "thrilling", "刺激"), ("action-packed", "suspense")),
    **dict.fromkeys(("epic", "史诗"), ("epic",)),
    "热血": ("inspirational", "sports", "epic", "underdog"),
    # Chinese mood words written from what they say of a film (not from the content suite's lists)
    **dict.fromkeys(("无厘头", "沙雕"), ("silly", "slapstick", "parody", "spoof")),
    "恶搞": ("parody", "spoof"), "讽刺": ("satire",), "黑色幽默": ("dark comedy", "black comedy", "satire"),
    "唯美": ("visually stunning", "visually appealing", "beautiful", "atmospheric"),
    **dict.fromkeys(("血腥", "重口味"), ("gore", "splatter", "blood", "violence")),
    "悲剧": ("tragedy", "tragic"), "荒诞": ("surreal", "bizarre", "satire"), "梦幻": ("dreamlike", "surreal"),
    **dict.fromkeys(("阴森", "毛骨悚然"), ("creepy", "eerie", "atmospheric")), "孤独": ("loneliness",),
    "邪典": ("cult film",), "震撼": ("epic", "visually stunning"),
    **dict.fromkeys(
        ("romantic", "浪漫", "甜蜜", "约会"),
        ("romantic", "romance", "love story", "sweet", "romantic comedy", "love of one's life", "soulmates", "falling in love"),
    ),
}  # fmt: skip

# Time words -> (first year, last year); each value is relative to `now_year` when it is an offset.
CENTURY_NOW = ("this century", "21st century", "twenty-first century", "本世纪", "21世纪", "这个世纪", "二十一世纪")
CENTURY_LAST = ("last century", "20th century", "twentieth century", "上个世纪", "上世纪", "20世纪", "二十世纪")
DECADE_LAST = (
    "last decade", "past decade", "last ten years", "past ten years", "last 10 years", "past 10 years",
    "近十年", "最近十年", "过去十年", "这十年", "近10年",
)  # fmt: skip
TWO_DECADES_LAST = ("last twenty years", "past twenty years", "last 20 years", "past 20 years", "近二十年", "近20年")


def _pattern(phrases: list[str]) -> re.Pattern[str]:
    english = sorted((p for p in phrases if p.isascii()), key=len, reverse=True)
    chinese = sorted((p for p in phrases if not p.isascii()), key=len, reverse=True)
    parts = []
    if english:
        parts.append(r"(?<!\w)(?:" + "|".join(re.escape(p).replace(r"\ ", r"[\s-]+") for p in english) + r")(?!\w)")
    if chinese:
        parts.append("|".join(map(re.escape, chinese)))
    return re.compile("|".join(parts))


_MOOD = _pattern(list(MOODS))
_MOVE = _pattern(list(MOVES))
_TOPIC = _pattern(list(TOPICS_ZH))
_WORDS = _pattern(list(MOOD_WORDS))
_TIMES = [
    (_pattern(list(CENTURY_NOW)), "century-now"),
    (_pattern(list(CENTURY_LAST)), "century-last"),
    (_pattern(list(TWO_DECADES_LAST)), "20-years"),
    (_pattern(list(DECADE_LAST)), "10-years"),
]


@dataclass(frozen=True)
class Meaning:
    """What the mood, comparison, topic and time words of a message ask for."""

    prefer: tuple[str, ...] = ()
    avoid: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    about: tuple[str, ...] = ()  # English attribute words of the moods, comparisons and topics
    years: tuple[int | None, int | None] = (None, None)
    spans: tuple[tuple[int, int], ...] = ()  # where the comparisons stand: their genre words are read here
    read: tuple[tuple[int, int], ...] = ()  # every phrase read here, so that it is no keyword as well
    topics: tuple[str, ...] = ()  # the Chinese topic words as written ("太空探索"), quoted back to the person


def _norm(phrase: str) -> str:
    return re.sub(r"[\s-]+", " ", phrase)


def read_meaning(folded: str, genres: set[str], now_year: int, wished: str | None = None) -> Meaning:
    """The preferences, exclusions, English keywords and years that `folded` (lower case) asks for,
    limited to the catalogue's `genres`. A mood counts where `wished` (the same text with its negated
    words blanked; default `folded`) still holds it; a negated one avoids the genres it would prefer,
    so that "nothing depressing" prefers no drama but avoids it.

    >>> m = read_meaning("something like inception but funnier", {"Comedy", "Horror"}, 2016)
    >>> m.prefer, m.avoid
    (('Comedy',), ())
    >>> m = read_meaning("我想看一部关于太空的电影", set(), 2016)
    >>> m.keywords, m.topics
    (('space', 'astronaut'), ('太空',))
    >>> m = read_meaning("nothing depressing", {"Drama"}, 2016, wished="nothing           ")
    >>> m.prefer, m.avoid
    ((), ('Drama',))
    >>> read_meaning("来点治愈系的电影", set(), 2016).about
    ('heartwarming', 'feel-good', 'touching', 'anime', 'slice of life')
    >>> read_meaning("a comedy from this century", set(), 2016).years, read_meaning("近十年的恐怖片", set(), 2016).years
    ((2000, None), (2007, 2016))
    """
    prefer: list[str] = []
    avoid: list[str] = []
    exclude: list[str] = []
    moods = {_norm(k): v for k, v in MOODS.items()}
    moves = {_norm(k): v for k, v in MOVES.items()}
    read = []
    mood_words = {_norm(k): v for k, v in MOOD_WORDS.items()}
    about = [w for m in _WORDS.finditer(folded) for w in mood_words[_norm(m.group(0))]]
    felt = {m.span() for m in _MOOD.finditer(folded if wished is None else wished)}
    for m in _MOOD.finditer(folded):
        read.append(m.span())
        p, a = moods[_norm(m.group(0))]
        prefer += p if m.span() in felt else ()
        avoid += a if m.span() in felt else p  # "nothing violent": a negated mood's genres are avoided
    spans = []
    for m in _MOVE.finditer(folded):
        spans.append(m.span())
        p, a, x = moves[_norm(m.group(0))]
        prefer += p
        avoid += a
        exclude += x
    topics = list(_TOPIC.finditer(folded))
    keywords = [w for m in topics for w in TOPICS_ZH[m.group(0)]]
    read += [m.span() for m in topics] + spans + [m.span() for pattern, _ in _TIMES for m in pattern.finditer(folded)]
    exclude = [g for g in dict.fromkeys(exclude) if g in genres]
    prefer = [g for g in dict.fromkeys(prefer) if g in genres and g not in exclude]
    avoid = [g for g in dict.fromkeys(avoid) if g in genres and g not in prefer and g not in exclude]
    years = _years(folded, now_year)
    words = tuple(dict.fromkeys(keywords))
    about = [*about, *words]
    return Meaning(
        tuple(prefer),
        tuple(avoid),
        tuple(exclude),
        words,
        tuple(dict.fromkeys(about)),
        years,
        tuple(spans),
        tuple(read),
        tuple(dict.fromkeys(m.group(0) for m in topics)),
    )


def _years(folded: str, now_year: int) -> tuple[int | None, int | None]:
    for pattern, kind in _TIMES:
        if pattern.search(folded):
            if kind == "century-now":
                return 2000, None
            if kind == "century-last":
                return 1900, 1999
            span = 20 if kind == "20-years" else 10
            return now_year - span + 1, now_year
    return None, None
