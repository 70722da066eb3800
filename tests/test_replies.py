"""`convrec eval replies`: the template words of fixed conversations, the same text on every run."""

from __future__ import annotations

from convrec.eval.replies import CONVERSATIONS, replies

from .test_pipeline import make_recommender


def test_the_fixed_conversations_give_the_same_text_in_both_languages():
    lines = list(replies(make_recommender()))
    assert lines == list(replies(make_recommender()))
    assert sum(line.startswith("## ") for line in lines) == sum(len(texts) for _, texts in CONVERSATIONS)
    assert "[final] reply: Understood: Comedy movies from the 1990s, no Horror. All five fit every part of it." in lines
    assert any(line.startswith("[final] reply: 明白了：九十年代的喜剧片。") for line in lines)
    assert any("I can't tell which movie #7 is" in line for line in lines)
