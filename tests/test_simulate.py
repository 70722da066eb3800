"""The simulated seeker: it never names the target, and it leads a recommender to it."""

import pytest

from convrec.chat.session import Session
from convrec.core.types import Item
from convrec.eval.simulate import Seeker, leaks, safe_tags, simulate, summarise

from .test_pipeline import make_recommender


def test_tags_sharing_a_word_with_the_title_are_never_said():
    target = Item(
        1, "Space Station", 1997, ("Sci-Fi", "Action"), tags=("space", "station life", "robots", "zero gravity")
    )
    assert safe_tags(target) == ["robots", "zero gravity"]
    seeker = Seeker(target)
    said = [seeker.opening()]
    shown = [Item(i, f"Other {i}", 2010, ("Comedy",)) for i in range(2, 12)]
    for _ in range(6):
        said.append(seeker.critique(shown))
    assert not any(leaks(s, target) for s in said), said
    assert any("robots" in s for s in said) and not any("space" in s.casefold() for s in said)


def test_leak_check_catches_a_title_and_its_alternative():
    target = Item(1, "Seven (a.k.a. Se7en)", 1995, ("Thriller",))
    assert leaks("I want something like Se7en", target) and leaks("something like Seven", target)
    assert not leaks("a dark thriller from the 90s", target)


def test_critiques_name_what_the_list_gets_wrong():
    seeker = Seeker(Item(13, "Six Guns", 1958, ("Western", "Action")))
    assert seeker.opening() == "I'm in the mood for a action movie."
    comedies = [Item(i, f"C{i}", 1995, ("Comedy",)) for i in range(10)]
    assert seeker.critique(comedies) == "Something more like a western, maybe."
    assert seeker.critique(comedies) == "I'd prefer one from the 50s."
    assert seeker.answer("What era do you like?") == "Ideally one from the 50s."


def test_the_seeker_leads_the_recommender_to_the_western():
    rec = make_recommender()
    target = rec.catalog.get(14)  # High Noon Again (1972), a western
    episode = simulate(rec, Session(), target, max_turns=5, k=5)
    assert episode.hit_at[5] is not None and episode.turns <= 5
    assert episode.leaks == 0
    assert not any("High Noon" in s for s in episode.said)
    summary = summarise([episode], max_turns=5)
    assert summary["hit@5"] == 1.0 and summary["leaks"] == 0 and summary["avg_turns"] == episode.turns


@pytest.mark.parametrize("max_turns", [1, 3])
def test_a_miss_counts_the_whole_budget(max_turns):
    rec = make_recommender()
    episode = simulate(rec, Session(), Item(999, "Not In The Catalogue", 2001, ("Drama",)), max_turns=max_turns, k=5)
    assert episode.turns == max_turns and episode.hit_at[10] is None
    assert summarise([episode], max_turns=max_turns)["avg_turns"] == max_turns
