import numpy as np
import pandas as pd

from convrec.cf import ItemKNN


def checkerboard(n_users=40, n_items=40):
    """Even users liked even items, odd users odd items; the diagonal pair (u, u) is withheld."""
    rows = [
        (u, i, 5.0, 0)
        for u in range(n_users)
        for i in range(n_items)
        if u % 2 == i % 2 and i != u
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def test_checkerboard_withheld_item_ranks_with_its_parity():
    inter = checkerboard()
    model = ItemKNN(neighbors=40).fit(inter, np.arange(40))
    for user in range(0, 40, 7):
        seen = inter.loc[inter.user_id == user, "item_id"].to_numpy()
        scores = model.score(seen)
        scores[seen] = -np.inf
        assert int(np.argmax(scores)) == user  # the only unseen item of the user's parity


def test_session_fold_in_without_retraining():
    model = ItemKNN(neighbors=40).fit(checkerboard(), np.arange(40))
    scores = model.score(liked=[2, 4], disliked=[])
    assert scores[6] > scores[7]  # a new session that liked even items prefers even items
    both = model.score(liked=[2], disliked=[4])
    assert both[6] < scores[6]  # a dislike lowers the items like it


def test_no_likes_means_no_signal_and_unknown_ids_are_ignored():
    model = ItemKNN().fit(checkerboard(), np.arange(40))
    assert not model.score([]).any()
    assert not model.score([12345]).any()


def test_low_ratings_are_not_positive():
    inter = pd.DataFrame({"user_id": [1, 1], "item_id": [0, 1], "rating": [1.0, 1.0], "timestamp": [0, 0]})
    model = ItemKNN().fit(inter, np.arange(2))
    assert not model.score([0]).any()


def test_save_load_round_trip(tmp_path):
    model = ItemKNN(neighbors=10).fit(checkerboard(), np.arange(40))
    model.save(tmp_path)
    again = ItemKNN.load(tmp_path, model.config())
    assert np.allclose(model.score([2, 3]), again.score([2, 3]))
    assert again.neighbors == 10


def test_because_names_the_most_similar_liked_item():
    model = ItemKNN(neighbors=40).fit(checkerboard(), np.arange(40))
    assert model.because(6, liked=[3, 4]) == 4  # 4 shares 6's parity, 3 does not
    assert model.because(6, liked=[3]) is None
    assert model.because(6, liked=[]) is None
