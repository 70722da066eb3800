"""`convrec bench scale` on a tiny catalogue: every stage runs and the JSON has every field (no timings asserted)."""

import json

import numpy as np
import pytest

from convrec.eval.limits import machine_limits
from convrec.eval.scale import bench_scale
from convrec.eval.scale_report import table
from convrec.eval.synthetic import SyntheticCatalog, topic_vector_source
from convrec.retrieve.embed import stream_vectors
from convrec.testing import HashEncoder


def test_tiny_size_runs_end_to_end_and_reports_every_field(tmp_path):
    out = tmp_path / "reports" / "bench_scale.json"
    bench_scale([2000], HashEncoder(384), tmp_path / "work", out, log=lambda *_: None, real_max=1000,
                queries=20, cf_models=("auto", "als"))  # fmt: skip
    bench_scale([600], HashEncoder(384), tmp_path / "work", out, log=lambda *_: None, real_max=1000, queries=20)
    result = json.loads(out.read_text())
    assert [r["items"] for r in result["sizes"]] == [600, 2000]  # a second run merges its size in
    small, large = result["sizes"]
    assert small["stages"]["embed"]["vectors"].startswith("real") and large["stages"]["embed"]["vectors"].startswith(
        "synthetic"
    )
    for row in result["sizes"]:
        stages = row["stages"]
        assert {"catalogue", "embed", "index", "cf", "query"} <= set(stages)
        assert all(stages[s]["s"] >= 0 and stages[s]["peak_rss_mb"] > 0 for s in ("catalogue", "embed", "index"))
        assert stages["embed"]["real_per_10k_s"] > 0 and stages["index"]["disk_mb"] > 0
        for key in ("embed", "ann", "cf", "blend", "total"):
            assert 0 <= stages["query"][key]["p50_ms"] <= stages["query"][key]["p95_ms"]
        assert 0.0 <= stages["query"]["recall@10"] <= 1.0 and stages["index"]["kind"] == "flat"
    assert large["stages"]["query"]["recall@10"] == 1.0  # flat search is exact
    assert large["cf"] == "ease" and set(large["stages"]["cf"]) == {"ease", "als"}
    assert (tmp_path / "reports" / "bench_scale.png").exists()
    assert large["stages"]["query"]["cf_overlap@300"] == 1.0  # EASE scores every item
    assert {"ann_ms", "cf_ms", "cf_exhaustive_ms"} <= set(large["stages"]["query"]["floor"])
    assert large["limits"]["read_gb_s"] > 0 and large["limits"]["gflop_s"] > 0
    assert large["stages"]["query"]["cf_rows_read"]["p50"] == 2000  # EASE reads every item's row
    lines = table(result).splitlines()
    assert len(lines) == 10 and [line.split()[0] for line in lines[1:3]] == ["600", "2,000"]  # then the notes


def test_catalogue_interactions_follow_popularity_and_topics():
    cat = SyntheticCatalog(5000, seed=1)
    counts = np.bincount(cat.interactions["item_id"], minlength=cat.n)
    top = np.argsort(-cat.weight)[:50]
    assert counts[top].mean() > 10 * counts.mean()  # Zipf: the most popular items are far above the mean
    per_user = cat.interactions.groupby("user_id")["item_id"].apply(lambda s: cat.topic[s.to_numpy()])
    share = np.mean([np.bincount(t).max() / len(t) for t in per_user if len(t) >= 10])
    assert share > 0.2  # users favour a few topics (of 100)


def test_topic_vectors_resume_identically(tmp_path):
    cat = SyntheticCatalog(300, seed=3)
    source = topic_vector_source(cat, 16)
    whole = stream_vectors(300, 16, source, tmp_path / "a", key="k", chunk=64)
    calls = []

    def failing(a, b):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(a)
        return source(a, b)

    try:
        stream_vectors(300, 16, failing, tmp_path / "b", key="k", chunk=64)
    except KeyboardInterrupt:
        pass
    resumed = stream_vectors(300, 16, source, tmp_path / "b", key="k", chunk=64)
    assert np.array_equal(np.asarray(whole), np.asarray(resumed))


def test_a_tuned_ivf_size_records_its_curve_and_floors(tmp_path):
    out = tmp_path / "bench_scale.json"
    result = bench_scale([3000], HashEncoder(384), tmp_path / "work", out, log=lambda *_: None, real_max=0,
                         queries=20, cf_models=("als",), index_kind="ivf")  # fmt: skip
    (row,) = result["sizes"]
    tuning, query = row["stages"]["index"]["tuning"], row["stages"]["query"]
    assert row["stages"]["index"]["kind"] == "ivf" and tuning["recall@10"] >= 0.95
    assert query["floor"]["ann_mb_read"] == tuning["curve"][-1]["mb_read"] < tuning["exact_mb_read"]
    assert query["cf_overlap@300"] >= 0.99  # 3,000 factors: exact inner products (ties at the 300th aside)
    als = 32 * 4  # bytes of one item's factors
    assert query["floor"]["cf_mb_read"] == round(query["cf_rows_read"]["p50"] * als / 2**20, 2)
    assert query["cf_rows_read"]["p50"] < 3000  # items nobody chose are never read
    assert out.with_suffix(".png").exists()


def test_the_one_thread_rate_leaves_torch_on_its_threads():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    limits = machine_limits()
    assert limits["gflop_s"] > 0 and limits["read_gb_s"] > 0 and torch.get_num_threads() == 2
