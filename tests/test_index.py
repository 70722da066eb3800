import faiss
import numpy as np
import pytest

from convrec.eval.ann import clustered_vectors
from convrec.retrieve.index import RECALL_TARGET, ItemIndex, exact_top_k, ivf_lists, recall_at


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


def test_auto_is_exact_for_a_small_catalogue():
    index = ItemIndex.build(random_unit(300, 8), np.arange(300))
    assert index.kind == "flat" and index.tuning is None


def test_ivf_is_tuned_to_the_recall_target_and_holds_it_on_other_queries():
    data = clustered_vectors(20_400, 32, topics=400, latent=8, seed=3)
    vectors, queries = data[:20_000], data[20_000:]
    index = ItemIndex.build(vectors, np.arange(20_000), kind="ivf")
    tuning = index.tuning
    assert index.kind == "ivf" and tuning["nlist"] == ivf_lists(20_000)
    curve = tuning["curve"]
    assert tuning["recall@10"] >= RECALL_TARGET and curve[-1]["nprobe"] == tuning["nprobe"]
    assert all(point["recall@10"] < RECALL_TARGET for point in curve[:-1])  # the first that reaches it
    assert curve[-1]["mb_read"] < tuning["exact_mb_read"]
    found = np.array([index.search(q, 10)[0] for q in queries])
    assert recall_at(found, exact_top_k(vectors, queries, 10)) >= 0.9  # queries it was not tuned on


def test_auto_above_the_exact_size_scans_pq_codes_and_reranks_to_the_recall_target(tmp_path):
    data = clustered_vectors(30_200, 16, topics=600, latent=4, seed=8)
    vectors, queries = data[:30_000], data[30_000:]
    index = ItemIndex.build(vectors, np.arange(30_000), flat_max=10_000)
    assert index.kind == "pq" and index.tuning["recall@10"] >= RECALL_TARGET
    assert index.tuning["curve"][-1]["mb_read"] < index.tuning["exact_mb_read"]
    found = np.array([index.search(q, 10)[0] for q in queries])
    assert recall_at(found, exact_top_k(vectors, queries, 10)) >= 0.9
    allowed = np.zeros(30_000, bool)
    allowed[::2] = True  # more rows than an exact scan of the allowed takes: the over-fetch path
    found, scores = index.search(queries[0], 10, allowed)
    assert len(found) == 10 and allowed[found].all() and np.all(np.diff(scores) <= 1e-6)
    index.save(tmp_path)
    again = ItemIndex.load(tmp_path, "pq", tuning=index.tuning)
    assert faiss.downcast_index(again.index).k_factor == index.tuning["k_factor"]
    assert np.array_equal(again.search(queries[1], 10)[0], index.search(queries[1], 10)[0])


def test_saved_ivf_probes_as_its_tuning_chose(tmp_path):
    vectors = clustered_vectors(5000, 16, topics=100, latent=4, seed=5)
    index = ItemIndex.build(vectors, np.arange(5000), kind="ivf")
    index.save(tmp_path)
    faiss.extract_index_ivf(index.index).nprobe = 1
    again = ItemIndex.load(tmp_path, "ivf", tuning=index.tuning)
    assert faiss.extract_index_ivf(again.index).nprobe == index.tuning["nprobe"]
    assert again.tuning == index.tuning


def test_filtered_ivf_probes_more_lists_the_fewer_rows_are_allowed():
    vectors = clustered_vectors(5000, 16, topics=100, latent=4, seed=6)
    index = ItemIndex.build(vectors, np.arange(5000), kind="ivf")
    nprobe = faiss.extract_index_ivf(index.index).nprobe
    bitmap = np.zeros(625, np.uint8)
    assert index._params(bitmap, 5000, 5000).nprobe == nprobe
    assert index._params(bitmap, 5000, 1250).nprobe == min(index.tuning["nlist"], 4 * nprobe)
