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


def test_bench_chat_times_each_model_call_by_stage_and_the_reply_after_the_cards():
    from convrec.testing import StreamingFakeLLM

    reply = "These are 90s comedies. Laugh Riot is the oldest."
    llm = StreamingFakeLLM(reply, reply, "Gunsmoke Trail is a western.")
    rec = make_recommender(llm=llm, parse_with_llm=False, rerank_with_llm=False, llm_reply=True)
    result = bench_chat(rec, [["a funny 90s movie", "older"], ["a western"]])
    assert rec.llm is llm  # the recording wrapper is gone after the run
    calls = result["model_calls"]
    assert list(calls) == ["reply"] and calls["reply"]["calls"] == 3
    assert calls["reply"]["first_piece_p50_s"] <= calls["reply"]["p50_s"]
    assert calls["reply"]["decoded_tokens"] > 0  # pieces, where the backend gives no timings
    turn = result["details"][0]
    assert turn["reply_source"] == "llm" and [c["stage"] for c in turn["calls"]] == ["reply"]
    times = turn["timings_ms"]
    assert times["first_results"] <= times["cards"] <= times["cards"] + times["reply_first"] <= times["total"]
    assert result["summary"]["reply_first"]["n"] >= 1


def test_content_queries_join_the_script_one_per_kind(tmp_path):
    from convrec.eval.bench_chat import content_conversations

    lines = [
        '{"id": "a", "type": "topic", "lang": "en", "text": "heists"}',
        '{"id": "b", "type": "topic", "lang": "en", "text": "dinosaurs"}',
        '{"id": "c", "type": "topic", "lang": "zh", "text": "推荐几部僵尸片"}',
    ]
    (tmp_path / "c.jsonl").write_text("\n".join(lines), encoding="utf-8")
    assert content_conversations(tmp_path / "c.jsonl") == [["heists"], ["推荐几部僵尸片"]]


def test_bench_chat_sets_the_limits_of_the_cores_beside_its_figures():
    result = bench_chat(make_recommender(), [["a western"]])
    embedding = result["limits"]["embedding"]
    assert embedding["items"] == 24 and embedding["items_per_s"] > 0
    assert "llm" not in result["limits"]  # no model, no model rates
    assert "limit_items_per_s" not in embedding  # the hash encoder has no FLOPs to count


def test_limits_doctests():
    import doctest

    import convrec.eval.limits

    assert doctest.testmod(convrec.eval.limits).failed == 0
