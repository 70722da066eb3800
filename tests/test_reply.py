"""The assistant's reply and question: what was understood, in the person's language, grounded."""

from __future__ import annotations

import pytest

from convrec.chat.session import Session
from convrec.core.types import Item, Needs, Rec
from convrec.rank.reply import TitleSpotter, reply_claims, understood

from .test_pipeline import make_recommender

GENRES = ["Action", "Comedy", "Crime", "Drama", "Horror", "Romance", "Sci-Fi", "Western"]


def test_the_reply_says_what_was_understood_in_english_and_chinese():
    rec = make_recommender()
    en = rec.recommend(Session(), "a funny 90s movie, nothing with horror")
    assert en.reply.startswith("Understood: Comedy movies from the 1990s, no Horror.")
    assert "All five fit" in en.reply and en.question is None
    zh = rec.recommend(Session(), "推荐几部九十年代的喜剧，不要恐怖片")
    assert zh.reply.startswith("明白了：九十年代的喜剧片，不要恐怖片。") and zh.question is None
    assert en.to_dict()["reply"] == en.reply and en.to_dict()["question"] is None


def test_the_preview_already_carries_the_template_reply():
    preview = next(make_recommender().stream(Session(), "a western before 1970"))
    assert not preview.info["final"] and preview.reply.startswith("Understood: Western movies up to 1969.")


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("recommend me something", "What are you in the mood for: a genre, a decade, or a movie you liked?"),
        ("随便推荐一部", "你想看什么样的：哪种类型、哪个年代，或者有没有喜欢的电影？"),
    ],
)
def test_a_vague_request_gets_recommendations_and_a_question_but_never_two_in_a_row(text, question):
    rec = make_recommender()
    session = Session()
    first = rec.recommend(session, text)
    assert len(first.recs) == 5 and first.question == question
    again = rec.recommend(session, text)
    assert len(again.recs) == 5 and again.question is None  # the previous answer asked already
    rec.recommend(session, "a comedy")
    assert rec.recommend(session, "start over: anything").question  # after an answer without one, asking is fine


def test_an_impossible_request_gets_the_nearest_says_what_was_loosened_and_asks():
    rec = make_recommender()
    turn = rec.recommend(Session(), "a horror film from the 1950s")
    assert len(turn.recs) == 5 and turn.info["relaxed"]
    assert "Nothing in the catalogue fits all of it, so I" in turn.reply and "these are the nearest" in turn.reply
    assert turn.question == "Which matters most to you: the 1950s or Horror?"  # the most limiting first
    zh = rec.recommend(Session(), "五十年代的恐怖片")
    assert "目录里没有完全符合的" in zh.reply and zh.question == "这几个条件里你最看重哪个：五十年代还是恐怖？"


def test_too_few_items_shows_the_exact_ones_first_and_names_them():
    turn = make_recommender().recommend(Session(), "a horror film from the 90s")
    exact = [r.item.title for r in turn.recs[:2]]
    assert set(exact) == {"Night Terror", "Haunted Comedy Club"}
    assert f"Only {exact[0]} and {exact[1]} fit all of it; for the rest I left out Horror." in turn.reply
    assert turn.question and "the nearest I found" in turn.recs[2].why


def test_liked_titles_and_topics_are_part_of_what_was_understood():
    titles = {1: "Toy Story"}
    assert understood(Needs(liked=(1,), year_min=1996), titles) == "Movies from 1996 on like Toy Story"
    zh = Needs(liked=(1,), keywords=("太空",), text="像玩具总动员那样的太空片", language="zh")
    assert understood(zh, titles) == "关于“太空”的像《Toy Story》那样的电影"


def test_a_chinese_topic_is_quoted_in_the_persons_words_not_the_lexicons():
    reply = make_recommender().recommend(Session(), "关于太空探索的电影").reply
    assert "“太空探索”" in reply and "space travel" not in reply


def test_template_replies_pass_their_own_checker():
    rec = make_recommender()
    spotter = TitleSpotter((it.title for it in rec.items), rec.genres)
    for text in (
        "a funny 90s movie, nothing with horror",
        "五十年代的恐怖片",
        "something like Dusty Trail",
        "随便推荐一部",
    ):
        turn = rec.recommend(Session(), text)
        named = [rec.catalog.get(i).title for i in turn.needs.liked]
        said = f"{turn.reply} {turn.question or ''}"
        assert not reply_claims(said, turn.recs, turn.needs, spotter, rec.genres, named), said


def test_the_reply_checker_refuses_titles_names_years_and_genres_off_the_list():
    recs = [Rec(Item(1, "Heat", 1995, ("Action", "Crime")), 1.0, ""), Rec(Item(2, "Ronin", 1998, ("Action",)), 1.0, "")]
    needs = Needs(include_genres=("Action",), exclude_genres=("Horror",))
    spotter = TitleSpotter(["Heat", "Ronin", "The Matrix"], GENRES)
    check = lambda text: reply_claims(text, recs, needs, spotter, GENRES)
    assert check("Action films without Horror: Heat (1995) and Ronin (1998) fit.") == []
    assert check("Heat is like The Matrix.") == ["title The Matrix"]
    assert check("Robert De Niro stars in Heat.") == ["name Robert De Niro"]
    assert check("Heat, a 1984 classic, and a romance.") == ["year 1984", "genre Romance"]
    assert check("《黑客帝国》也不错。") == ["name 黑客帝国"]
    assert check("一部八十年代的动作片。") == ["decade 八十年代"]


def test_a_title_with_a_dot_inside_is_not_cut_into_sentences():
    potter = "Harry Potter and the Sorcerer's Stone (a.k.a. Harry Potter and the Philosopher's Stone)"
    recs = [Rec(Item(1, "Heat", 1995, ("Action",)), 1.0, "")]
    spotter = TitleSpotter([potter, "Sorcerer", "Heat"], GENRES)
    said = f"People who liked {potter} also liked Heat."
    assert reply_claims(said, recs, Needs(liked=(9,)), spotter, GENRES, [potter]) == []


@pytest.mark.parametrize(
    "k, text, said, never",
    [
        (1, "a funny 90s movie, nothing with horror", "This one fits every part of it.", "All one"),
        (2, "a funny 90s movie, nothing with horror", "Both fit every part of it.", "All two"),
        (1, "推荐几部九十年代的喜剧，不要恐怖片", "这部符合。", "都符合"),
        (2, "推荐几部九十年代的喜剧，不要恐怖片", "这两部都符合。", "这二部"),
    ],
)
def test_one_or_two_picks_are_not_called_all(k, text, said, never):
    turn = make_recommender().recommend(Session(), text, k=k)
    assert len(turn.recs) == k and turn.reply.endswith(said) and never not in turn.reply


def test_a_long_liked_list_names_the_latest_few_and_counts_the_rest():
    titles = {i: f"Film {i}" for i in range(281)}
    en = understood(Needs(liked=tuple(range(281))), titles)
    assert en == "Movies like Film 278, Film 279, Film 280 and 278 more"
    zh = understood(Needs(liked=tuple(range(281)), disliked=(7, 8, 9, 10), language="zh"), titles)
    assert (
        zh
        == "像《Film 278》、《Film 279》、《Film 280》等281部那样的电影，不要像《Film 8》、《Film 9》、《Film 10》等4部的"
    )
    assert understood(Needs(liked=(1, 2, 3)), titles) == "Movies like Film 1, Film 2 and Film 3"


def test_more_like_a_number_no_list_holds_is_said_also_when_the_model_writes_the_reply():
    from convrec.testing import StreamingFakeLLM

    llm = StreamingFakeLLM("Comedies from the nineties.")
    rec = make_recommender(llm=llm, parse_with_llm=False, rerank_with_llm=False, propose_with_llm=False)
    *_, turn = rec.stream(Session(), "a comedy from the 90s, more like #3")
    assert turn.reply.startswith("I can't tell which movie #3 is") and "Comedies from the nineties." in turn.reply
