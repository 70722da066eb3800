"""What a language model may write in a turn, checked before anyone sees it: the reply (streamed
sentence by sentence) and each item's reason (one item's record at a time).

    narrate(llm, Writing(...), recs, reply) -> Iterator[Narration]   (the recs and reply so far)

The template reply and reasons stand until the model's arrive, and stay when the model is off,
slow (its first timeout ends the writing) or says something unsupported:
- a reply sentence must pass `reply.reply_claims` (titles on the list only; years, decades and
  genres of the listed records or of the request); one that fails brings the template reply back;
- a reason must pass `explain.unsupported_claims` sentence by sentence, name no other catalogue
  title, and differ from the answer's other reasons once titles and years are masked.

Why one record at a time: given every candidate at once, the embedded 1.5B model attached one
film's facts to another ("Trading Places ... features a high school setting").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from convrec.core.errors import LLMError
from convrec.core.types import Needs, Rec
from convrec.lang import Render, render_for
from convrec.llm.base import LLM, Message, stream_text
from convrec.rank.explain import Ties, masked, unsupported_claims
from convrec.rank.reply import QUOTED, Reply, TitleSpotter, reply_claims, split_sentences, understood
from convrec.rank.rerank import compact_line, tail

log = logging.getLogger(__name__)

REPLY_SENTENCES = 2
REPLY_TOKENS = 90  # two short sentences at most
# The reply prompt lists the first few picks, not all: its tail is evaluated anew each turn (the
# system prompt is cached), ~20 tokens a line, and a sentence or two relates the first picks anyway
REPLY_ITEMS = 3
REASON_TOKENS = 48
REASON_CHARS = 220
REQUEST_CHARS = 300


@dataclass(frozen=True)
class Writing:
    """What the model is asked to write in one turn, and what its words are checked against."""

    needs: Needs
    request: str
    ties: Sequence[Ties]  # aligned with the recs
    titles: dict[int, str]  # item id -> title of the liked and disliked items (the person named them)
    spotter: TitleSpotter
    genres: Sequence[str]  # the catalogue's vocabulary
    reply_prompt: str = ""  # empty: the template reply stands
    reason_prompt: str = ""  # empty: the template reasons stand
    render: Render | None = None  # the language and item noun of the template words (default: the needs')

    @property
    def words(self) -> Render:
        return self.render or render_for(self.needs)


@dataclass
class Narration:
    """The turn's words so far: recs (with any model reasons), the reply, and facts about the writing."""

    recs: list[Rec]
    reply: str
    info: dict[str, Any] = field(default_factory=dict)


def reply_request(w: Writing, recs: Sequence[Rec]) -> str:
    """The user message of the reply call: the request, what was understood, the first picks."""
    lines = [
        f"Request: {tail(w.request, REQUEST_CHARS)}",
        f"Understood: {understood(w.needs, w.titles, w.words)}",
        "List:",
    ]
    return "\n".join(lines + [compact_line(n, r.item) for n, r in enumerate(recs[:REPLY_ITEMS], 1)])


def reason_request(w: Writing, rec: Rec) -> str:
    """The user message of one reason call: the request, this one item's record and what ties it."""
    return "\n".join(
        [
            f"Request: {tail(w.request, REQUEST_CHARS)}",
            f"{w.words.noun.capitalize()}: {compact_line(1, rec.item).removeprefix('1. ')}",
            f"Why it fits: {rec.why}",
        ]
    )


def narrate(llm: LLM, w: Writing, recs: list[Rec], reply: Reply) -> Iterator[Narration]:
    """Yield the turn's words each time the model adds a checked sentence or reason; the last
    value is final (its `info` says what the model wrote and what was refused)."""
    state = Narration(list(recs), reply.text, {"reply_source": "template"})
    named = list(w.titles.values())
    if w.reply_prompt and recs:
        messages: list[Message] = [
            {"role": "system", "content": w.reply_prompt},
            {"role": "user", "content": reply_request(w, recs)},
        ]
        accepted: list[str] = []
        try:
            for sentence in _sentences(stream_text(llm, messages, max_tokens=REPLY_TOKENS)):
                problems = reply_claims(sentence, recs, w.needs, w.spotter, w.genres, named)
                if problems:
                    log.info("model reply refused (%s): %r", "; ".join(problems), sentence)
                    state.info["rejected_reply"] = problems
                    accepted = []
                    break
                accepted.append(sentence)
                state.reply = w.words.language.sentence_gap.join(accepted)
                state.info["reply_source"] = "llm"
                yield state
                if len(accepted) == REPLY_SENTENCES:
                    break
        except LLMError as e:
            log.warning("model reply failed (%s); the template reply stands: %s", e.reason, e)
            state.info["degraded_text"] = e.reason
            accepted = []
        if not accepted:
            state.reply, state.info["reply_source"] = reply.text, "template"
            yield state
        if state.info.get("degraded_text"):
            return
    if w.reason_prompt:
        yield from _reasons(llm, w, state, named)


def _sentences(pieces: Iterator[str]) -> Iterator[str]:
    """Whole sentences from streamed pieces, each as soon as it ends (the last one at the end)."""
    buffer = ""
    for piece in pieces:
        done, buffer = split_sentences(buffer + piece)
        yield from done
    if buffer.strip():
        yield buffer.strip()


def _reasons(llm: LLM, w: Writing, state: Narration, named: list[str]) -> Iterator[Narration]:
    """Each item's reason from the model, one record at a time, in list order."""
    listed = [r.item.title for r in state.recs]
    state.info.setdefault("llm_reasons", 0)
    for n, rec in enumerate(list(state.recs)):
        messages: list[Message] = [
            {"role": "system", "content": w.reason_prompt},
            {"role": "user", "content": reason_request(w, rec)},
        ]
        try:
            why = llm.complete(messages, max_tokens=REASON_TOKENS).text.strip().strip('"“”')
        except LLMError as e:
            log.warning("model reason failed (%s); template reasons stand: %s", e.reason, e)
            state.info["degraded_text"] = e.reason
            yield state
            return
        problems = reason_claims(why, rec, w, listed, named)
        others = {masked(r.why, [*listed, *named]) for m, r in enumerate(state.recs) if m != n}
        if not problems and masked(why, [*listed, *named]) in others:
            problems = ["same as another reason"]
        if problems:
            log.info("model reason refused (%s): %r", "; ".join(problems), why)
            state.info["rejected_reasons"] = state.info.get("rejected_reasons", 0) + 1
        else:
            state.recs[n] = replace(rec, why=why, why_source="llm")
            state.info["llm_reasons"] += 1
        yield state


def reason_claims(why: str, rec: Rec, w: Writing, listed: Sequence[str], named: Sequence[str]) -> list[str]:
    """What a model's reason for `rec` says that its record does not support (see the module
    docstring); the record checker reads every sentence of it at once, so that a title such as
    "Harry Potter and the Sorcerer's Stone (a.k.a. ...)" is not cut at its "a.k.a.".
    """
    if not why or len(why) > REASON_CHARS or "\n" in why:
        return ["empty, too long or a list"]
    said = [*named, *(k for k in w.needs.keywords if k.casefold() in w.request.casefold())]
    problems = unsupported_claims(why, rec.item, w.genres, listed, said)
    allowed = {rec.item.title, *named}
    problems += [f"title {t}" for t in w.spotter.find(why) if t not in allowed and t not in rec.item.title]
    for groups in QUOTED.findall(why):
        quoted = next(g for g in groups if g)
        if quoted not in allowed and quoted not in rec.item.title and quoted not in w.request:
            problems.append(f"name {quoted}")
    return problems
