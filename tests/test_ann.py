from convrec.eval.ann import bench_index, clustered_vectors, recall_at


def test_tiny_benchmark_reports_every_kind_and_exact_recall_is_one():
    result = bench_index(items=1000, dim=16, queries=10, kinds=("flat", "ivf", "hnsw"), log=lambda m: None)
    kinds = {r["kind"] for r in result["results"]}
    assert kinds == {"flat", "ivf", "hnsw"}
    flat = next(r for r in result["results"] if r["kind"] == "flat")
    assert flat["recall@10"] == 1.0
    for r in result["results"]:
        assert 0.0 <= r["recall@10"] <= 1.0 and r["p50_ms"] >= 0 and r["memory_mb"] > 0


def test_vectors_are_clustered_unit_vectors():
    v = clustered_vectors(200, 32, topics=2, latent=4)
    sims = v @ v.T
    assert abs(float(sims.max()) - 1.0) < 1e-4
    assert recall_at(__import__("numpy").array([[1, 2]]), __import__("numpy").array([[2, 3]]), k=2) == 0.5
