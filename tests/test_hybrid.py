"""`convrec eval hybrid` on a small synthetic ml-latest-style directory whose answers are known.

Every liked, tagged film is also tagged with the same unique word by an outside tagger who never
rated it: a warm film is found by that other user's tag, a cold (new) one must not be, because
nobody has interacted with a new film, so nobody has tagged it either.
"""

import pandas as pd

from convrec.eval.hybrid import build_examples, run_hybrid
from convrec.testing import HashEncoder

OUTSIDER = 999  # tags films, rates none


def synthetic_movielens(root, users=12, per_user=4, films=120):
    root.mkdir()
    pd.DataFrame(
        {
            "movieId": range(1, films + 1),
            "title": [f"Film {m} (2000)" for m in range(1, films + 1)],
            "genres": ["Drama" if m % 2 else "Comedy" for m in range(1, films + 1)],
        }
    ).to_csv(root / "movies.csv", index=False)
    ratings, tags = [], []
    for u in range(1, users + 1):
        liked = [(u - 1) * per_user + j + 1 for j in range(per_user)]
        for m in liked:
            ratings.append((u, m, 5.0, 1_500_000_000))
            tags.append((u, m, f"clue{m}", 1_500_000_000))
            tags.append((OUTSIDER, m, f"clue{m}", 1_500_000_000))
        for m in range(users * per_user + 1, users * per_user + 11):  # some shared films for CF
            ratings.append((u, m, 4.0, 1_500_000_000))
    pd.DataFrame(ratings, columns=["userId", "movieId", "rating", "timestamp"]).to_csv(
        root / "ratings.csv", index=False
    )
    pd.DataFrame(tags, columns=["userId", "movieId", "tag", "timestamp"]).to_csv(root / "tags.csv", index=False)
    return root


def test_validation_and_test_examples_come_from_different_users():
    ratings = pd.DataFrame(
        [(u, m, 5.0) for u in range(1, 11) for m in range(4)], columns=["userId", "movieId", "rating"]
    )
    tags = ratings.assign(tag=[f"t{m}" for m in ratings["movieId"]])[["userId", "movieId", "tag"]]
    examples = build_examples(ratings, tags)
    splits = examples.groupby("userId")["split"].nunique()
    assert (splits == 1).all(), examples  # a user's examples all validate or all test
    assert set(examples["split"]) == {"val", "test"}


def test_a_cold_target_carries_no_tags(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVREC_CACHE_DIR", str(tmp_path / "cache"))
    root = synthetic_movielens(tmp_path / "ml")
    result = run_hybrid(str(root), out_dir=None, encoder=HashEncoder(dim=512))
    # warm targets are found by the outsider's tag; cold ones have no tags to be found by
    assert result["test"]["text_only"] == 1.0
    assert result["cold_start_test"]["examples"] > 0
    assert result["cold_start_test"]["text_only"] == 0.0
