"""What a seeker says about suggested films: the English rules of convrec.parse.reactions on
replies as ReDial's seekers write them."""

import pytest

from convrec.parse.reactions import LIKED, REJECTED, SEEN, reaction, reaction_to_named


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("I've seen it already. Anything else?", SEEN),
        ("Seen that one, what else you got?", SEEN),
        ("I already watched that", SEEN),
        ("I haven't seen that one, I'll check it out", LIKED),
        ("Sounds good!", LIKED),
        ("I loved that one, great choice", LIKED),
        ("I've seen it and I liked it", LIKED),
        ("Oh that was so funny", LIKED),
        ("Not a fan of that one", REJECTED),
        ("I didn't like it much", REJECTED),
        ("I hated it", REJECTED),
        ("Not really my thing", REJECTED),
        ("No thanks, too scary for me", REJECTED),
        ("ok", None),
        ("What else do you have?", None),
    ],
)
def test_replies_to_a_suggestion(reply, expected):
    assert reaction(reply) == expected


def test_a_seeker_naming_films_seen_wants_something_else():
    assert reaction_to_named("I have seen Heat already, something else?") == SEEN
    assert reaction_to_named("I loved Heat") is None
    assert reaction_to_named("I've seen Heat, it was great") is None  # seen and liked: a liked film
