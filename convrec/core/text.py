"""The one check every message goes through, whichever way it came in (REST, the OpenAI-style
chat, the browser chat, the CLI), so that each refuses the same text with the same words; and the
one test of Chinese script (`CJK`) that the parser, the titles and the retriever share."""

from __future__ import annotations

import re

from convrec.core.errors import InputError

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e\ufeff]")
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")  # JSON's "\ud800" decodes to one; no UTF-8 can carry it
IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs: extension A, unified, compatibility
CJK = re.compile(f"[{IDEOGRAPHS}]")


def clean_message(text: str, max_chars: int) -> str:
    """Strip control characters and bound the length; refuse text that is not Unicode. Each
    refusal is an InputError a person can act on.

    >>> clean_message("  hi\\x00 there ", 100)
    'hi there'
    >>> clean_message("a comedy \\ud800 about robots", 100)
    Traceback (most recent call last):
    ...
    convrec.core.errors.InputError: The message is not valid Unicode: it holds a lone surrogate (U+D800) at character 10; send it again as plain text.
    """
    if bad := LONE_SURROGATE.search(text or ""):
        raise InputError(
            f"The message is not valid Unicode: it holds a lone surrogate (U+{ord(bad.group()):04X}) at character "
            f"{bad.start() + 1}; send it again as plain text."
        )
    text = CONTROL_CHARS.sub("", text or "").strip()
    if not text:
        raise InputError("The message is empty: tell me what you are looking for.")
    if len(text) > max_chars:
        raise InputError(
            f"The message is {len(text):,} characters long; the limit is {max_chars:,}. Please shorten it."
        )
    return text
