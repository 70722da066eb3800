import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from convrec.eval.synthetic import SyntheticCatalog
from convrec.retrieve.cf import (
    ALS,
    BPR,
    EASE,
    SCORERS,
    ItemKNN,
    Popularity,
    UnknownScorer,
    interaction_matrix,
    load_cf,
    make_cf,
)
from convrec.retrieve.cf.factors import NormOrder
from convrec.retrieve.filters import top_allowed


def checkerboard(n_users=40, n_items=40):
    """Even users liked even items, odd users odd items; the diagonal pair (u, u) is withheld."""
    rows = [(u, i, 5.0, 0) for u in range(n_users) for i in range(n_items) if u % 2 == i % 2 and i != u]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


# Small, fast settings for every personalised scorer; each must solve the checkerboard.
PERSONAL = {
    "item-knn": lambda: ItemKNN(neighbors=40),
    "ease": lambda: EASE(l2=10.0, dropout=0.0, neighbors=None),
    "ease-sparse": lambda: EASE(l2=10.0, neighbors=20),
    "ease-dropout": lambda: EASE(l2=10.0, dropout=0.5, neighbors=None),
    "als": lambda: ALS(factors=8, iterations=10, regularization=0.1),
    "bpr": lambda: BPR(factors=4, iterations=60, learning_rate=0.05),
}
ALL = {**PERSONAL, "popularity": lambda: Popularity()}


@pytest.fixture(scope="module")
def fitted():
    inter = checkerboard()
    return {name: make().fit(inter, np.arange(40)) for name, make in ALL.items()}


@pytest.mark.parametrize("name", list(PERSONAL))
def test_checkerboard_withheld_item_ranks_first(fitted, name):
    inter = checkerboard()
    model = fitted[name]
    for user in range(0, 40, 3):
        seen = inter.loc[inter.user_id == user, "item_id"].to_numpy()
        scores = model.score(seen)
        scores[seen] = -np.inf
        assert int(np.argmax(scores)) == user  # the only unseen item of the user's parity


@pytest.mark.parametrize("name", list(PERSONAL))
def test_batch_scores_equal_session_scores(fitted, name):
    model = fitted[name]
    sessions = [[2, 4, 6], [1, 3]]
    many = model.score_many(model.session_matrix(sessions))
    for row, session in enumerate(sessions):
        assert np.allclose(many[row], model.score(session), atol=1e-5)


def test_popularity_ranks_by_like_counts_and_ignores_the_session(fitted):
    inter = checkerboard()
    inter = pd.concat([inter, pd.DataFrame([(99, 7, 5.0, 0)], columns=inter.columns)])  # item 7 gets one more like
    model = Popularity().fit(inter, np.arange(40))
    assert int(np.argmax(model.score([0]))) == 7
    assert np.allclose(model.score([0]), model.score([1]))
    assert model.because(7, [0]) is None


@pytest.mark.parametrize("name", list(PERSONAL))
def test_session_fold_in_without_retraining(fitted, name):
    model = fitted[name]
    scores = model.score(liked=[2, 4], disliked=[])
    assert scores[6] > scores[7]  # a new session that liked even items prefers even items
    both = model.score(liked=[2], disliked=[4, 8, 10, 12])
    assert both[6] < model.score([2])[6]  # dislikes lower the items like them


@pytest.mark.parametrize("name", list(ALL))
def test_no_likes_means_no_signal_and_unknown_ids_are_ignored(fitted, name):
    model = fitted[name]
    assert not model.score([]).any()
    assert not model.score([12345]).any()
    assert not model.score([], disliked=[3]).any()


def test_low_ratings_are_not_positive():
    inter = pd.DataFrame({"user_id": [1, 1], "item_id": [0, 1], "rating": [1.0, 1.0], "timestamp": [0, 0]})
    for make in ALL.values():
        model = make().fit(inter, np.arange(2))
        assert not model.score([0]).any()


@pytest.mark.parametrize("name", list(ALL))
def test_save_load_round_trip(tmp_path, fitted, name):
    model = fitted[name]
    model.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == set(model.files)
    again = load_cf(tmp_path, model.config())
    assert type(again) is type(model) and again.config() == model.config()
    assert np.allclose(model.score([2, 3]), again.score([2, 3]), atol=1e-5)


def test_old_manifest_without_name_loads_item_knn(tmp_path, fitted):
    fitted["item-knn"].save(tmp_path)
    config = {k: v for k, v in fitted["item-knn"].config().items() if k != "name"}
    assert isinstance(load_cf(tmp_path, config), ItemKNN)


def test_make_cf_by_name_and_unknown_name():
    class S:
        cf_model = "ease"

    assert isinstance(make_cf(S()), EASE)
    assert isinstance(make_cf(None), ItemKNN)
    S.cf_model = "nope"
    with pytest.raises(UnknownScorer, match="item-knn"):
        make_cf(S())
    assert set(SCORERS) == {"popularity", "item-knn", "ease", "als", "bpr", "spark-als"}


@pytest.mark.parametrize("name", ["item-knn", "ease", "als"])
def test_because_names_the_most_similar_liked_item(fitted, name):
    model = fitted[name]
    assert model.because(6, liked=[3, 4]) == 4  # 4 shares 6's parity, 3 does not
    assert model.because(6, liked=[]) is None


def test_item_knn_because_none_without_a_neighbour(fitted):
    assert fitted["item-knn"].because(6, liked=[3]) is None


def test_ease_equals_the_closed_form_reference():
    rng = np.random.default_rng(0)
    x = (rng.random((30, 8)) < 0.4).astype(np.float64)
    x[:, 0] = 1.0  # every item has interactions
    inter = pd.DataFrame(
        [(u, i, 5.0, 0) for u, i in zip(*np.nonzero(x))], columns=["user_id", "item_id", "rating", "timestamp"]
    )
    model = EASE(l2=5.0, dropout=0.0, neighbors=None).fit(inter, np.arange(8))
    g = x.T @ x + 5.0 * np.eye(8)
    p = np.linalg.inv(g)
    b = np.eye(8) - p / np.diag(p)
    assert np.allclose(model.sim.toarray(), b, atol=1e-5)


def test_item_knn_equals_the_dense_reference():
    rng = np.random.default_rng(1)
    x = (rng.random((50, 12)) < 0.3).astype(np.float64)
    inter = pd.DataFrame(
        [(u, i, 5.0, 0) for u, i in zip(*np.nonzero(x))], columns=["user_id", "item_id", "rating", "timestamp"]
    )
    model = ItemKNN(neighbors=12, shrinkage=2.0).fit(inter, np.arange(12))
    n = np.sqrt(x.sum(axis=0))
    ref = (x.T @ x) / (np.outer(n, n) + 2.0)
    np.fill_diagonal(ref, 0.0)
    assert np.allclose(model.sim.toarray(), ref, atol=1e-5)


def test_interaction_matrix_counts_repeats_once_and_drops_unknown_items():
    df = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [5, 5, 99], "rating": [5.0, 4.0, 5.0]})
    x, users = interaction_matrix(df, np.array([5, 6]))
    assert x.toarray().tolist() == [[1.0, 0.0]] and users.tolist() == [1]
    assert sp.issparse(x)


@pytest.fixture(scope="module")
def als_10k():
    catalog = SyntheticCatalog(10_000, seed=7)
    return catalog, ALS(iterations=5).fit(catalog.interactions, catalog.ids())


def test_fold_in_top_is_the_exhaustive_top_on_a_10k_catalogue(als_10k):
    catalog, model = als_10k
    rng = np.random.default_rng(0)
    allowed = rng.random(catalog.n) < 0.3
    liked_items = catalog.interactions["item_id"].to_numpy()
    for _ in range(20):
        liked = rng.choice(liked_items, 3, replace=False).tolist()
        disliked = rng.choice(liked_items, 1).tolist()
        folded, scores = model.fold_in(liked, disliked), model.score(liked, disliked)
        for mask in (np.ones(catalog.n, bool), allowed):
            found, exhaustive = folded.top(mask, 300), top_allowed(model.item_ids, scores, mask, 300)
            assert mask[found].all() and len(np.intersect1d(found, exhaustive)) >= 299  # ids are rows here
            # the same scores: where the sets differ, it is between items tied at the 300th score
            assert np.allclose(np.sort(scores[found]), np.sort(scores[exhaustive]), atol=1e-5)
        rows = rng.choice(catalog.n, 50, replace=False)
        assert np.allclose(folded.at(rows), scores[rows], atol=1e-4)


def test_fold_in_reads_only_the_factors_that_can_reach_the_top_on_a_10k_catalogue(als_10k):
    catalog, model = als_10k
    rng = np.random.default_rng(1)
    everything = np.ones(catalog.n, bool)
    read = []
    for _ in range(50):
        liked = rng.choice(catalog.interactions["item_id"].to_numpy(), 2, replace=False).tolist()
        folded = model.fold_in(liked)
        found, exhaustive = (
            folded.top(everything, 300),
            top_allowed(model.item_ids, model.score(liked), everything, 300),
        )
        assert len(np.intersect1d(found, exhaustive)) >= 299
        read.append(folded.scanned)
    # items nobody chose have zero factors and come last: a session's search stops before them
    chosen = int((np.linalg.norm(model.item_factors, axis=1) > 0).sum())
    assert chosen < catalog.n and np.median(read) <= chosen, (chosen, read)


def test_norm_order_is_exact_where_norms_cannot_prune():
    rng = np.random.default_rng(3)
    same_norm = rng.normal(size=(20_000, 8)).astype(np.float32)
    same_norm /= np.linalg.norm(same_norm, axis=1, keepdims=True)  # every bound equal: nothing pruned
    skewed = same_norm * rng.pareto(1.5, size=(20_000, 1)).astype(np.float32)
    skewed[:5_000] = 0.0  # items nobody chose
    allowed = rng.random(20_000) < 0.5
    for factors in (same_norm, skewed):
        order = NormOrder(factors)
        for u in (rng.normal(size=8).astype(np.float32), -np.abs(rng.normal(size=8)).astype(np.float32)):
            for mask in (None, allowed, allowed & (rng.random(20_000) < 0.1)):
                rows, _ = order.top(u, 300, mask)
                scores = np.where(mask if mask is not None else True, factors @ u, -np.inf)
                assert np.allclose(np.sort(scores[rows]), np.sort(scores)[-300:], atol=1e-6)
        if factors is same_norm:
            assert order.top(rng.normal(size=8).astype(np.float32), 300)[1] == len(factors)
    assert order.top(np.zeros(8, np.float32), 10)[1] < len(skewed)  # a zero vector: any rows are the top
