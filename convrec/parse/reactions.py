"""What a seeker says about the films named so far, read with English rules: a film liked pulls
its neighbours; one already seen, with nothing said for it, is a film the seeker wants something
else than; one rejected ("not a fan", "I hated it") counts as disliked.

`reaction` reads a reply to a recommender's suggestion ("Seen it already. Anything else?"),
`reaction_to_named` what a seeker says of the films they name themselves ("I've seen Heat
already"; "I hated Heat" is `parse_rules`' dislike).

>>> reaction("I've seen it already, anything else?"), reaction("Seen it."), reaction("Not a fan of that one")
('seen', 'seen', 'rejected')
>>> reaction("Sounds great, I'll check it out!"), reaction("I've seen it, loved it"), reaction("ok")
('liked', 'liked', None)

Left out on purpose: which of several suggestions a reply is about (it is read as about all of
the latest), irony, and other languages.
"""

from __future__ import annotations

import re

__all__ = ["LIKED", "REJECTED", "SEEN", "reaction", "reaction_to_named"]

LIKED, SEEN, REJECTED = "liked", "seen", "rejected"

_IT = r"(?:it|that|this|them|those|these|both|that one|this one|the first one|the last one)"
_SEEN = re.compile(
    rf"\b(?:(?:i'?ve|i have|i|we'?ve|we have)\s+(?:already\s+|actually\s+|also\s+)?(?:seen|watched|saw)\b"
    rf"|already\s+(?:seen|watched|saw)\b|(?:seen|watched|saw)\s+{_IT}\b)"
)
_REJECTED = re.compile(
    r"\b(?:not\s+(?:a\s+|really\s+a\s+|much\s+of\s+a\s+|the\s+biggest\s+)?(?:big\s+|huge\s+)?fan"
    r"|(?:didn'?t|did\s+not|don'?t|do\s+not|never)\s+(?:really\s+)?(?:like|love|enjoy|care\s+for|get\s+into)"
    r"|hated?|disliked?|not\s+(?:really\s+|too\s+|that\s+)?(?:interested|into|for\s+me|my\s+(?:thing|type|style|taste))"
    r"|no\s+thanks|not\s+(?:that|so|very)\s+(?:good|great|funny)|(?:was|is|it'?s)\s+(?:boring|awful|terrible|bad)"
    r"|too\s+(?:scary|slow|long|violent|gory|sad|childish|cheesy|weird))\b"
)
_LIKED = re.compile(
    rf"\b(?:sounds?\s+(?:really\s+)?(?:good|great|interesting|awesome|fun|cool|perfect|amazing|nice|promising)"
    rf"|(?:i'?ll|i\s+will|will|gonna|going\s+to|might|may)\s+(?:definitely\s+|have\s+to\s+|need\s+to\s+)?"
    rf"(?:check|watch|look|give|add|try|see)"
    rf"|(?:love|loved|like|liked|enjoyed|adore|adored)\s+{_IT}"
    rf"|(?:great|good|awesome|excellent|fantastic|amazing)\s+(?:movie|one|choice|suggestion|pick|film|idea)"
    rf"|(?:haven'?t|have\s+not|never)\s+(?:seen|watched|heard\s+of)\s+{_IT}"
    rf"|(?:was|is|it'?s)\s+(?:so\s+|really\s+)?(?:good|great|awesome|funny|amazing|hilarious))\b"
)


def reaction(reply: str) -> str | None:
    """A seeker's reply to the latest suggestion: LIKED (taken up, or seen and liked), SEEN (seen,
    nothing said for it), REJECTED, or None when it says neither."""
    text = reply.casefold().replace("’", "'")
    if _REJECTED.search(text):
        return REJECTED
    if _LIKED.search(text):
        return LIKED
    return SEEN if _SEEN.search(text) else None


def reaction_to_named(text: str) -> str | None:
    """What a seeker's message says of the films it names: SEEN when it says they were seen and
    nothing for them ("I've seen Heat already"), else None (liked, or disliked as the rules read it).

    >>> reaction_to_named("I've already seen Heat, what else?"), reaction_to_named("I've seen Heat, loved it")
    ('seen', None)
    """
    return SEEN if reaction(text) == SEEN else None
