"""`convrec eval explanations`: grounded, specific, distinct reasons and replies, per language."""

from __future__ import annotations

import json

from convrec.cli import build_parser
from convrec.eval.explanations import conversations, examples, run

from .test_pipeline import make_recommender


def test_both_suites_are_read_as_chats(tmp_path):
    suite, content = tmp_path / "c.jsonl", tmp_path / "q.jsonl"
    suite.write_text(json.dumps({"type": "critique", "turns": [{"text": "a comedy"}, {"text": "older"}]}) + "\n")
    content.write_text(json.dumps({"id": "x", "type": "topic", "lang": "zh", "text": "西部片"}) + "\n")
    assert conversations(suite, content) == [["a comedy", "older"], ["西部片"]]


def test_the_numbers_per_language_on_the_tiny_catalogue():
    rec = make_recommender()
    chats = [
        ["a funny 90s movie, nothing with horror", "older, from the 80s"],
        ["推荐几部九十年代的喜剧，不要恐怖片"],
        ["something like Dusty Trail"],
        ["a western from 2015"],
    ]
    named = {i: it.title for i, it in rec.catalog.items.items()}
    report = run(rec.recommend, chats, rec.write.spotter, rec.genres, named)
    for lang in ("en", "zh", "all"):
        s = report["per_language"][lang]
        assert s["unsupported_claims"] == 0 and s["replies_naming_off_list_titles"] == 0, (lang, s)
        assert s["answers_all_distinct"] == 1.0 and s["distinct_per_answer"] == "5/5"
    assert report["per_language"]["zh"]["naming_a_match"] == 1.0
    assert report["per_language"]["all"]["naming_a_match_of_matching_items"] == 1.0
    assert report["per_language"]["all"]["naming_a_match"] >= 0.8  # two unrated films tie to nothing asked
    assert report["per_language"]["all"]["turns"] == 5 and report["per_language"]["all"]["questions"] >= 1


def test_vague_and_impossible_examples_get_a_reply_and_a_question():
    out = examples(make_recommender().recommend, ["recommend me something", "五十年代的恐怖片"])
    assert all(e["question"] and e["reply"] and len(e["items"]) == 5 for e in out)


def test_the_command_is_wired_next_to_constraints():
    args = build_parser().parse_args(["eval", "explanations", "--json"])
    assert args.func.__name__ == "cmd_eval_explanations" and str(args.content) == "bench/content.jsonl"
