import numpy as np
import pytest

from convrec.retrieve.index import ItemIndex


def random_unit(n, dim, seed=0):
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_search_finds_itself_and_maps_ids(kind):
    vectors = random_unit(500, 16)
    ids = np.arange(1000, 1500)
    index = ItemIndex.build(vectors, ids, kind=kind)
    found, scores = index.search(vectors[42], 5)
    assert found[0] == 1042
    assert scores[0] == pytest.approx(1.0, abs=1e-4)
    assert np.all(np.diff(scores) <= 1e-6)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_allowed_mask_is_applied_inside_the_search(kind):
    vectors = random_unit(400, 16, seed=1)
    index = ItemIndex.build(vectors, np.arange(400), kind=kind)
    allowed = np.zeros(400, dtype=bool)
    allowed[[3, 77, 150, 399]] = True
    found, _ = index.search(vectors[10], 10, allowed)
    assert set(found) <= {3, 77, 150, 399}
    assert sorted(found) == [3, 77, 150, 399]


def test_empty_mask_returns_nothing():
    index = ItemIndex.build(random_unit(10, 8), np.arange(10), kind="flat")
    found, scores = index.search(random_unit(1, 8)[0], 5, np.zeros(10, dtype=bool))
    assert len(found) == 0 and len(scores) == 0


def test_save_load_round_trip(tmp_path):
    vectors = random_unit(50, 8)
    index = ItemIndex.build(vectors, np.arange(50) * 7, kind="flat")
    index.save(tmp_path)
    again = ItemIndex.load(tmp_path, "flat")
    q = vectors[5]
    assert np.array_equal(index.search(q, 5)[0], again.search(q, 5)[0])
    assert again.scores_for(q, np.array([35]))[0] == pytest.approx(1.0, abs=1e-5)


def test_load_rejects_mismatched_id_map(tmp_path):
    ItemIndex.build(random_unit(5, 4), np.arange(5), kind="flat").save(tmp_path)
    np.save(tmp_path / "item_ids.npy", np.arange(3))
    with pytest.raises(ValueError, match="3 rows"):
        ItemIndex.load(tmp_path, "flat")
