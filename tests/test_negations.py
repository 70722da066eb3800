"""The negation suite (bench/negations.jsonl) read by the rules, and `convrec eval negations`."""

from __future__ import annotations

import json

import pytest

from convrec.chat.session import merge
from convrec.cli import main
from convrec.core.types import Needs
from convrec.eval.negations import read_suite, run_suite
from convrec.parse.lexicon import MOVIELENS_GENRES
from convrec.parse.rules import parse_rules
from tests.conftest import REPO_ROOT

SUITE = REPO_ROOT / "bench" / "negations.jsonl"


def test_every_phrasing_of_the_suite_is_read_as_meant() -> None:
    report = run_suite(read_suite(SUITE))
    wrong = [f"{f['id']} {f['text']!r}: {f['got']}" for f in report["failures"]]
    assert report["n"] == 282
    assert not wrong, f"{len(wrong)} of {report['n']} wrong:\n" + "\n".join(wrong)
    assert all(row["accuracy"] == 1.0 for row in report["per_language"].values())


def test_every_soft_wish_becomes_a_preference() -> None:
    assert run_suite(read_suite(SUITE))["soft_avoided"] == {"avoided": 16, "soft": 16}


def write_suite(path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_the_command_on_a_three_line_suite(tmp_path, capsys) -> None:
    suite = tmp_path / "suite.jsonl"
    write_suite(
        suite,
        [
            {"id": "a", "lang": "en", "kind": "negation", "text": "no horror", "include": [], "exclude": ["Horror"]},
            {"id": "b", "lang": "en", "kind": "double", "text": "a comedy, no romance", "include": ["Comedy"],
             "exclude": ["Romance"]},
            {"id": "c", "lang": "zh", "kind": "negation", "text": "不要恐怖片", "include": [], "exclude": ["Horror"]},
        ],
    )  # fmt: skip
    out = tmp_path / "out" / "negations.json"
    assert main(["eval", "negations", "--suite", str(suite), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "zh/negation" in printed and "100.0%" in printed
    report = json.loads(out.read_text(encoding="utf-8"))
    assert (report["right"], report["n"]) == (3, 3)
    assert report["per_language"] == {
        "en": {"right": 2, "n": 2, "accuracy": 1.0},
        "zh": {"right": 1, "n": 1, "accuracy": 1.0},
    }
    assert set(report["per_kind"]) == {"en/double", "en/negation", "zh/negation"}


def test_the_command_fails_on_a_wrong_reading_and_prints_json(tmp_path, capsys) -> None:
    suite = tmp_path / "suite.jsonl"
    write_suite(
        suite, [{"id": "x", "lang": "en", "kind": "k", "text": "a comedy", "include": [], "exclude": ["Comedy"]}]
    )
    assert main(["eval", "negations", "--suite", str(suite), "--out", str(tmp_path / "o.json"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["per_language"]["en"] == {"right": 0, "n": 1, "accuracy": 0.0}
    failure = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))["failures"][0]
    assert (failure["id"], failure["got"]["include"]) == ("x", ["Comedy"])


def test_a_malformed_line_names_the_line(tmp_path, capsys) -> None:
    suite = tmp_path / "suite.jsonl"
    suite.write_text('{"id": "a", "text": "no horror"}\n', encoding="utf-8")
    assert main(["eval", "negations", "--suite", str(suite), "--out", str(tmp_path / "o.json")]) == 2
    assert "line 1: missing lang, kind, include, exclude" in capsys.readouterr().err


# (message, included, excluded, (year_min, year_max)): refusals said in passing, ironic or not, and
# open year bounds said as a refusal; then phrasings that look like one and are not.
IN_PASSING = [
    ("oh wonderful, more zombies... pass, something with car chases", ("Action",), ("Horror",), (None, None)),
    ("great, another musical. hard pass. give me a western", ("Western",), ("Musical",), (None, None)),
    ("romance again? ugh, no thanks. a heist film maybe", ("Crime",), ("Romance",), (None, None)),
    ("yeah, because I totally need more cartoons. a thriller", ("Thriller",), ("Animation",), (None, None)),
    ("westerns, really? I'll pass on those. a war movie", ("War",), ("Western",), (None, None)),
    ("horror is so not my thing, something funny instead", ("Comedy",), ("Horror",), (None, None)),
    ("thrillers bore me to tears. something romantic", ("Romance",), ("Thriller",), (None, None)),
    ("sci-fi? been there, done that. a mystery please", ("Mystery",), ("Sci-Fi",), (None, None)),
    ("a comedy, and spare me the romance", ("Comedy",), ("Romance",), (None, None)),
    ("anything with zombies is a no-go; a fantasy film", ("Fantasy",), ("Horror",), (None, None)),
    ("a comedy, nothing older than 2005", ("Comedy",), (), (2005, None)),
    ("sci-fi, nothing newer than 1990", ("Sci-Fi",), (), (None, 1990)),
    ("a western, nothing after 1970", ("Western",), (), (None, 1970)),
    ("adventure movies, nothing past 1999", ("Adventure",), (), (None, 1999)),
    ("no films before 1995, a mystery", ("Mystery",), (), (1995, None)),
    ("nothing before the 80s", (), (), (1980, None)),
    ("nothing more recent than 1990", (), (), (None, 1990)),
    ("a comedy, only after the mid-90s", ("Comedy",), (), (1998, None)),
    ("又是僵尸片，真是太好了……算了吧，来点飙车的", ("Action",), ("Horror",), (None, None)),
    ("恐怖片？饶了我吧。来个喜剧", ("Comedy",), ("Horror",), (None, None)),
    ("战争片太沉重了，不想再看了，来点喜剧", ("Comedy",), ("War",), (None, None)),
    ("科幻片我早就看烦了，有没有好看的悬疑片", ("Mystery",), ("Sci-Fi",), (None, None)),
    ("谁要看歌舞片啊，来部犯罪片", ("Crime",), ("Musical",), (None, None)),
    ("恐怖片拜托就别了，来点浪漫的", ("Romance",), ("Horror",), (None, None)),
    ("喜剧，不要早于2005年的", ("Comedy",), (), (2005, None)),
    ("科幻片，不要晚于1990年的", ("Sci-Fi",), (), (None, 1990)),
    ("恐怖片，1980年以前的不要", ("Horror",), (), (1980, None)),
    ("冒险片，1999年以后的都不要", ("Adventure",), (), (None, 1998)),
    ("西部片，不早于1960年", ("Western",), (), (1960, None)),
    # not refusals
    ("great, more comedies please", ("Comedy",), (), (None, None)),
    ("I want a comedy, nope, no romance", ("Comedy",), ("Romance",), (None, None)),
    ("a comedy. ugh, what a week", ("Comedy",), (), (None, None)),
    ("a drop-dead funny comedy", ("Comedy",), (), (None, None)),
    ("nothing from the 80s, a comedy", ("Comedy",), (), (None, None)),
    ("又是喜剧又是爱情片", ("Comedy", "Romance"), (), (None, None)),
]


@pytest.mark.parametrize("text, include, exclude, years", IN_PASSING, ids=[t for t, *_ in IN_PASSING])
def test_refusals_and_bounds_said_in_passing(text, include, exclude, years) -> None:
    u = parse_rules(text, MOVIELENS_GENRES, now_year=2016)
    assert (u.include_genres, u.exclude_genres, (u.year_min, u.year_max)) == (include, exclude, years)


def test_a_refused_clause_gives_no_keyword() -> None:
    u = parse_rules("oh wonderful, more zombies... pass, something with car chases", MOVIELENS_GENRES)
    assert "zombies" not in u.keywords and "car chases" in u.keywords
    assert parse_rules("又是僵尸片……算了吧，来点飙车的", MOVIELENS_GENRES).keywords == ()


@pytest.mark.parametrize(
    "turns, genre, years",
    [
        (["a thriller", "more please", "but only after 1995"], "Thriller", (1996, None)),
        (["a crime film", "more", "but nothing older than 2005"], "Crime", (2005, None)),
        (["a war movie", "more please", "and nothing newer than 1990"], "War", (None, 1990)),
        (["犯罪片", "再来", "不要2005年以前的"], "Crime", (2005, None)),
        (["战争片", "再来几部", "不要1990年以后的"], "War", (None, 1989)),
    ],
)
def test_a_bound_said_after_more_holds(turns, genre, years) -> None:
    needs = Needs()
    for text in turns:
        needs = merge(needs, parse_rules(text, MOVIELENS_GENRES, now_year=2016), [], {})
    assert needs.include_genres == (genre,) and (needs.year_min, needs.year_max) == years
