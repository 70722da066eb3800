"""The negation suite (bench/negations.jsonl) read by the rules, and `convrec eval negations`."""

from __future__ import annotations

import json

from convrec.cli import main
from convrec.eval.negations import read_suite, run_suite
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
