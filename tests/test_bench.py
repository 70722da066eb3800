from convrec.eval.bench_chat import bench_chat

from .test_pipeline import make_recommender


def test_bench_chat_reports_every_stage_and_first_results():
    result = bench_chat(make_recommender(), [["a funny 90s movie", "older"], ["a western"]])
    assert result["turns"] == 3
    summary = result["summary"]
    assert {"parse", "retrieve", "rerank", "first_results", "total"} <= set(summary)
    assert all(summary[s]["p50_ms"] <= summary[s]["p95_ms"] for s in ("parse", "total"))
    assert summary["first_results"]["p50_ms"] <= summary["total"]["p95_ms"]
    assert len(result["details"][0]["items"]) == 5
