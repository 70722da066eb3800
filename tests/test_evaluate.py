import math

import numpy as np
import pandas as pd
import pytest

from convrec.core.types import Candidates
from convrec.eval.cf import chat_cases, evaluate, evaluate_chat, recommend
from convrec.eval.cf_cli import cmd_eval_cf
from convrec.eval.datasets import locate_dataset
from convrec.eval.longtail import mmr, popularity_penalty
from convrec.eval.metrics import (
    average_precision_at_k,
    catalog_coverage,
    f1,
    hit_at_k,
    ndcg_at_k,
    novelty,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)
from convrec.eval.splits import leave_last_out, stratified_split
from convrec.retrieve.blend import blend
from convrec.retrieve.cf import EASE, ItemKNN
from tests.test_cf import checkerboard

# -- metrics on hand-computed examples ------------------------------------------------------


def test_metrics_on_a_hand_computed_list():
    ranked, relevant = [10, 20, 30, 40, 50], {20, 50, 99}
    assert precision_at_k(ranked, relevant, 5) == pytest.approx(2 / 5)
    assert recall_at_k(ranked, relevant, 5) == pytest.approx(2 / 3)
    dcg = 1 / math.log(3) + 1 / math.log(6)
    idcg = 1 / math.log(2) + 1 / math.log(3) + 1 / math.log(4)
    assert ndcg_at_k(ranked, relevant, 5) == pytest.approx(dcg / idcg)
    assert average_precision_at_k(ranked, relevant, 5) == pytest.approx((1 / 2 + 2 / 5) / 3)
    assert hit_at_k(ranked, relevant, 1) == 0.0 and hit_at_k(ranked, relevant, 2) == 1.0
    assert f1(0.4, 2 / 3) == pytest.approx(0.5)


def test_ndcg_is_one_for_a_perfect_list_and_ideal_is_capped_at_k():
    assert ndcg_at_k([1, 2], {1, 2}, 2) == pytest.approx(1.0)
    assert ndcg_at_k([1, 2], {1, 2, 3, 4}, 2) == pytest.approx(1.0)  # only k hits are possible
    assert ndcg_at_k([9, 8], {1}, 2) == 0.0


def test_ranking_metrics_average_over_users_and_skip_users_without_recs():
    recs = {1: [5, 6], 2: [7, 8]}
    truth = {1: {5}, 2: {9}, 3: {1}}
    m = ranking_metrics(recs, truth, k=2)
    assert m["users"] == 2
    assert m["precision@2"] == pytest.approx(0.25)
    assert m["recall@2"] == pytest.approx(0.5)
    assert m["hit@2"] == pytest.approx(0.5)


def test_novelty_and_coverage():
    assert novelty([[1], [2]], {1: 1, 2: 2}, n_train=4) == pytest.approx((2 + 1) / 2)
    assert catalog_coverage([[1, 2], [1]], n_items=4) == 0.5


# -- splits ----------------------------------------------------------------------------------


def _recommenders_reference(data, ratio=0.75, seed=42, col="user_id"):
    """microsoft/recommenders' _do_stratification(is_random=True), restated for the test
    (recommenders/datasets/python_splitters.py: a row trains when rank <= round(ratio * count))."""
    data = data.copy()
    np.random.seed(seed)
    data["random"] = np.random.rand(data.shape[0])
    data = data.sort_values([col, "random"])
    groups = data.groupby(col)
    data["count"] = groups[col].transform("count")
    data["rank"] = groups.cumcount() + 1
    train = data["rank"] <= round(ratio * data["count"])
    test = (data["rank"] > round(ratio * data["count"])) & (data["rank"] <= round(1.0 * data["count"]))
    return data[train], data[test]


@pytest.mark.parametrize("by", ["user", "item"])
def test_stratified_split_matches_recommenders_row_for_row(by):
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"user_id": rng.integers(0, 30, 800), "item_id": rng.integers(0, 50, 800), "rating": 4.0})
    train, test = stratified_split(df, 0.75, by=by, seed=42)
    ref_train, ref_test = _recommenders_reference(df, col=f"{by}_id")
    assert sorted(train.index) == sorted(ref_train.index)
    assert sorted(test.index) == sorted(ref_test.index)


def test_stratified_split_on_a_hand_computed_frame():
    # users with 1, 2, 5 and 6 ratings; RandomState(42).rand(14) in row order is
    # .375 | .951 .732 | .599 .156 .156 .058 .866 | .601 .708 .021 .970 .832 .212
    # each user keeps round(0.75 * count) rows (numpy rounds halves to even): 1, 2, 4, 4
    df = pd.DataFrame({"user_id": [1] + [2] * 2 + [3] * 5 + [4] * 6, "item_id": range(14)})
    train, test = stratified_split(df, 0.75, by="user", seed=42)
    assert sorted(test.index) == [7, 11, 12]  # the largest draws of users 3 (.866) and 4 (.970, .832)
    assert sorted(train.index) == [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 13]
    assert train.groupby("user_id").size().tolist() == [1, 2, 4, 4]


def test_leave_last_out_takes_the_latest_per_user():
    df = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [1, 2, 3, 4], "timestamp": [5, 1, 2, 2]})
    train, test = leave_last_out(df)
    assert test.set_index("user_id")["item_id"].to_dict() == {1: 1, 2: 4}
    assert len(train) == 2


def test_chat_cases_hold_out_a_liked_item_not_in_the_session():
    df = checkerboard()
    cases = chat_cases(df, np.arange(10), per_user=3)
    assert len(cases) == 30
    for user, session, target in cases:
        assert 1 <= len(session) <= 3 and target not in session
        assert all(i % 2 == user % 2 for i in [*session, target])


# -- protocols end to end on the checkerboard ------------------------------------------------


def test_evaluate_finds_the_withheld_diagonal():
    full = pd.DataFrame(
        [(u, i, 5.0, 0) for u in range(40) for i in range(40) if u % 2 == i % 2],
        columns=["user_id", "item_id", "rating", "timestamp"],
    )
    test = full[full.user_id == full.item_id]
    train = full.drop(index=test.index)
    for model in (EASE(l2=10.0, neighbors=None, min_rating=0.0), ItemKNN(neighbors=40, min_rating=0.0)):
        m = evaluate(model, train, test, k=1)
        assert m["ndcg@1"] == pytest.approx(1.0) and m["precision@1"] == pytest.approx(1.0)


def test_recommend_never_returns_seen_items():
    train = checkerboard()
    model = EASE(l2=10.0, neighbors=None).fit(train, np.arange(40))
    recs = recommend(model, train, np.array([0, 1]), k=5)
    for user, items in recs.items():
        seen = set(train.loc[train.user_id == user, "item_id"])
        assert not seen & set(items) and len(items) == 5


def test_evaluate_chat_ranks_the_parity_mate_first():
    df = checkerboard()
    cases = [(0, [2, 4], 0), (1, [3], 1)]
    m = evaluate_chat(ItemKNN(neighbors=40), df, cases, np.arange(40), k=20)
    assert m["hit@20"] == 1.0  # 20 items share a parity; the target is among them


@pytest.mark.parametrize("protocol", ["stratified", "chat"])
def test_the_best_model_is_chosen_on_validation_and_reported_on_test(monkeypatch, protocol):
    import convrec.eval.cf as cf

    df = checkerboard()
    monkeypatch.setattr(cf, "load_interactions", lambda *a, **k: (df, None))
    # the fits scored on test see every training row (stratified) or all 32 non-test users (chat);
    # the validation fits see fewer. item-knn wins on validation, EASE on test.
    outer_rows = len(stratified_split(df)[0])
    scores = {("ItemKNN", "val"): 0.9, ("ItemKNN", "test"): 0.1, ("EASE", "val"): 0.2, ("EASE", "test"): 0.5}

    def fake(scorer, train, _test, _items_or_k=None, k=10):
        on_test = len(train) == outer_rows if protocol == "stratified" else train["user_id"].nunique() == 32
        ndcg = scores[(type(scorer).__name__, "test" if on_test else "val")]
        return {"ndcg@10": ndcg, "ndcg@10+pop": ndcg}

    monkeypatch.setattr(cf, "evaluate", fake)
    monkeypatch.setattr(cf, "evaluate_chat", fake)
    result = cf.run_protocol("synthetic", protocol, ["item-knn", "ease"])
    assert result["best"] == "item-knn"
    assert result["models"]["item-knn"]["ndcg@10"] == 0.1  # the test number of the choice
    assert result["models"]["item-knn"]["validation"]["ndcg@10"] == 0.9


# -- CLI registration --------------------------------------------------------------------------


def test_cli_registration_does_not_clash_with_bench_chat():
    from convrec.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["eval", "cf", "--dataset", "ml-100k", "--json"])
    assert args.func is cmd_eval_cf and args.json and args.stratify == "user"
    args = parser.parse_args(["bench", "index", "--items", "1000", "--dim", "8", "--json"])
    assert args.items == 1000 and callable(args.func)
    assert parser.parse_args(["bench", "chat"]).bench == "chat"
    assert parser.parse_args(["eval", "constraints"]).eval == "constraints"


def test_locate_dataset_takes_a_path_and_names_the_missing_one(tmp_path):
    assert locate_dataset(str(tmp_path)) == tmp_path
    with pytest.raises(Exception, match="not found"):
        locate_dataset("no-such-set", data_dir=tmp_path, cache_dir=tmp_path)


# -- long tail and cold start ---------------------------------------------------------------------


def test_popularity_penalty_and_mmr_trade_accuracy_for_the_tail():
    scores = np.array([1.0, 0.95, 0.9, 0.0])
    pop = np.array([500.0, 400.0, 1.0, 1.0])
    assert np.argmax(popularity_penalty(scores, pop, 0.0)) == 0
    assert np.argmax(popularity_penalty(scores, pop, 1.0)) == 2
    v = np.eye(4)
    assert mmr(scores, v, lam=1.0, k=3).tolist() == [0, 1, 2]


def test_the_long_tail_beta_is_chosen_on_validation_and_reported_on_test(monkeypatch):
    import convrec.eval.datasets
    import convrec.eval.longtail as longtail

    df = checkerboard()
    monkeypatch.setattr(convrec.eval.datasets, "load_interactions", lambda *a, **k: (df, None))
    outer_rows = len(stratified_split(df)[0])
    # on validation beta 0.2 keeps 95% of the nDCG with the widest coverage; on test 0.5 would
    curves = {
        "val": {0.0: (0.40, 0.10), 0.2: (0.39, 0.20), 0.5: (0.30, 0.40)},
        "test": {0.0: (0.40, 0.10), 0.2: (0.39, 0.20), 0.5: (0.39, 0.40)},
    }

    class FakePools:
        def __init__(self, train, test, *args, **kwargs):
            self.split = "test" if len(train) == outer_rows else "val"

        def penalty(self, betas=longtail.BETAS):
            curve = curves[self.split]
            return [{"beta": b, "ndcg@10": curve[b][0], "coverage": curve[b][1]} for b in betas if b in curve]

        def mmr(self, lams=longtail.LAMBDAS):
            return []

    monkeypatch.setattr(longtail, "Pools", FakePools)
    result = longtail.run_longtail("ml-100k", out_dir=None)
    chosen = result["summary"]["popularity_penalty_chosen_on_validation"]
    assert chosen["beta"] == 0.2
    assert chosen["test"] == {"beta": 0.2, "ndcg@10": 0.39, "coverage": 0.20}


def test_a_cold_start_item_is_reachable_through_text():
    # item 3 has no interactions (cf 0) but matches the text need best
    c = Candidates(
        np.array([1, 2, 3]),
        {"text": np.array([0.2, 0.1, 0.9]), "cf": np.array([1.0, 0.8, 0.0]), "pop": np.array([3.0, 2.0, 0.0])},
    )
    ranked = blend(c, {"text": 0.6, "cf": 0.3, "pop": 0.1}).sorted_by("blend").ids.tolist()
    assert ranked.index(3) < 2
