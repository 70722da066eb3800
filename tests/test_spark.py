"""Spark MLlib ALS as the collaborative trainer, on a real local Spark session (local[2])."""

import contextlib
import json
import shutil
import socket
import tempfile
import threading
import time

import numpy as np
import pytest

from convrec import cli
from convrec.chat.load import load_recommender
from convrec.chat.session import Session
from convrec.core.config import Settings
from convrec.core.errors import ConvrecError
from convrec.retrieve.cf import ALS, SparkALS, load_cf, make_cf
from convrec.retrieve.cf.spark import JOB_TRIES
from convrec.testing import HashEncoder, tiny_catalog

from .test_build import build, write_movielens
from .test_cf import checkerboard

pytest.importorskip("pyspark", reason="pyspark is not installed (`make install` installs it)")
if shutil.which("java") is None:
    pytest.skip("no Java runtime: `make test` installs default-jre-headless", allow_module_level=True)

pytestmark = pytest.mark.slow  # a JVM starts: ~10 s


@pytest.fixture(scope="module")
def fitted():
    return SparkALS(factors=8, iterations=10, regularization=0.01, master="local[2]").fit(checkerboard(), np.arange(40))


def test_checkerboard_withheld_item_ranks_first(fitted):
    inter = checkerboard()
    for user in range(0, 40, 3):
        seen = inter.loc[inter.user_id == user, "item_id"].to_numpy()
        scores = fitted.score(seen)
        scores[seen] = -np.inf
        assert int(np.argmax(scores)) == user


def test_batch_scores_equal_session_scores_and_dislikes_lower(fitted):
    sessions = [[2, 4, 6], [1, 3]]
    many = fitted.score_many(fitted.session_matrix(sessions))
    for row, session in enumerate(sessions):
        assert np.allclose(many[row], fitted.score(session), atol=1e-5)
    assert fitted.score([2], disliked=[4, 8, 10])[6] < fitted.score([2])[6]


def test_fold_in_regularises_like_spark_does(fitted):
    """ALS-WR: Spark scales a user's ridge term by the user's number of likes; implicit does not."""
    assert fitted.user_regularization(7) == pytest.approx(7 * 0.01)
    assert ALS(regularization=0.01).user_regularization(7) == 0.01


def test_saved_factors_serve_without_spark(fitted, tmp_path):
    fitted.save(tmp_path)
    loaded = load_cf(tmp_path, fitted.config())
    assert isinstance(loaded, SparkALS) and loaded.master == "local[2]"
    assert np.allclose(loaded.score([2, 4]), fitted.score([2, 4]), atol=1e-6)


def test_settings_name_the_master():
    model = make_cf(Settings(cf_model="spark-als", spark_master="local[1]"))
    assert isinstance(model, SparkALS) and model.master == "local[1]"


def test_build_index_trains_with_spark_and_the_chat_uses_it(tmp_path):
    write_movielens(tmp_path / "data", tiny_catalog())
    settings = Settings(
        dataset=str(tmp_path / "data"), index_dir=tmp_path / "index", embed_model="hash", llm="none",
        cf_model="spark-als", spark_master="local[2]",
    )  # fmt: skip
    manifest, built = build(settings)
    assert built and manifest["inputs"]["cf"]["name"] == "spark-als"
    assert (tmp_path / "index" / "cf_item_factors.npy").exists()
    rec = load_recommender(settings, llm=None, encoder=HashEncoder())
    session = Session()
    rec.recommend(session, "a comedy")
    turn = rec.recommend(session, "more like #1")
    assert turn.recs and all("Comedy" in r.item.genres for r in turn.recs[:3])


def test_cli_build_index_with_spark(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("convrec.retrieve.build.make_encoder", lambda settings: HashEncoder())
    write_movielens(tmp_path / "data", tiny_catalog())
    argv = ["--dataset", str(tmp_path / "data"), "--index-dir", str(tmp_path / "index"), "--embed-model", "hash",
            "build-index", "--cf", "spark-als", "--spark-master", "local[2]", "--json"]  # fmt: skip
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    manifest = json.loads(out[out.index("\n{") :])  # after the progress lines
    assert manifest["inputs"]["cf"] == {**manifest["inputs"]["cf"], "name": "spark-als", "master": "local[2]"}


def test_eval_cf_runs_spark_als_under_the_stratified_protocol(monkeypatch):
    import convrec.eval.cf as cf

    monkeypatch.setattr(cf, "load_interactions", lambda *a, **k: (checkerboard(), None))
    monkeypatch.setitem(cf.PRESETS["stratified"], "spark-als", {"factors": 8, "iterations": 5, "master": "local[2]"})
    result = cf.run_protocol("synthetic", "stratified", ["spark-als"])
    assert result["best"] == "spark-als" and result["models"]["spark-als"]["params"]["name"] == "spark-als"
    assert 0.0 < result["models"]["spark-als"]["ndcg@10"] <= 1.0


def test_no_java_is_an_error_naming_java_and_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # a Java home without bin/java: what Spark would start
    with pytest.raises(ConvrecError, match=r"Java.*(apt-get|brew) install"):
        SparkALS(factors=8, iterations=2, master="local[1]").fit(checkerboard(), np.arange(40))


def test_an_unreachable_master_is_an_error_naming_it_without_waiting_for_spark():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConvrecError, match=rf"spark://127.0.0.1:{port}.*cannot be reached"):
        SparkALS(factors=8, iterations=2, master=f"spark://127.0.0.1:{port}").fit(checkerboard(), np.arange(40))


def kill_the_jvm_while_fitting(times: int, scratch_root, scratch: list[str]) -> threading.Thread:
    """A thread that kills Spark's JVM `times` times, each time once a job runs on it, and notes
    the block folders in Spark's scratch space it saw."""
    from pyspark import SparkContext

    def kill():
        killed: list[object] = []
        deadline = time.monotonic() + 180
        while len(killed) < times and time.monotonic() < deadline:
            context, proc = SparkContext._active_spark_context, getattr(SparkContext._gateway, "proc", None)
            with contextlib.suppress(Exception):  # the JVM may be going down as it is asked
                if proc is not None and proc not in killed and context.statusTracker().getActiveJobsIds():
                    scratch.extend(p.name for p in scratch_root.glob("convrec-spark-*/blockmgr-*"))
                    proc.kill()
                    killed.append(proc)
            time.sleep(0.05)

    thread = threading.Thread(target=kill)
    thread.start()
    return thread


def test_scratch_space_is_removed_after_a_fit_and_after_the_jvm_dies_mid_fit(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where Spark's scratch folder is made
    SparkALS(factors=8, iterations=2, master="local[1]").fit(checkerboard(), np.arange(40))
    assert list(tmp_path.iterdir()) == []

    scratch: list[str] = []
    killer = kill_the_jvm_while_fitting(JOB_TRIES, tmp_path, scratch)  # on every try
    with pytest.raises(ConvrecError, match="Spark stopped"):
        SparkALS(factors=8, iterations=30, master="local[1]").fit(checkerboard(), np.arange(40))
    killer.join()
    assert len(scratch) >= JOB_TRIES and list(tmp_path.iterdir()) == []  # Spark's blocks were there, now gone
    fitted = SparkALS(factors=8, iterations=2, master="local[1]").fit(checkerboard(), np.arange(40))
    assert fitted.score([2, 4]).shape == (40,)  # a new JVM serves the next fit


def test_a_job_whose_jvm_died_once_runs_again_on_a_new_session(tmp_path, caplog):
    scratch: list[str] = []
    killer = kill_the_jvm_while_fitting(1, tmp_path, scratch)
    fitted = SparkALS(factors=8, iterations=30, master="local[1]").fit(checkerboard(), np.arange(40))
    killer.join()
    assert "Trying again on a new session" in caplog.text
    inter = checkerboard()
    seen = inter.loc[inter.user_id == 3, "item_id"].to_numpy()
    scores = fitted.score(seen)
    scores[seen] = -np.inf
    assert int(np.argmax(scores)) == 3  # the second try trained a real model
