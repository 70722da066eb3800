"""Spark MLlib ALS as the collaborative trainer, for interaction logs that outgrow one machine.

`SparkALS` trains `pyspark.ml.recommendation.ALS` with implicit preferences on a Spark cluster
(`master`: `local[*]` by default, or e.g. `spark://host:7077`) and keeps only the item factors,
saved in index/ exactly as `ALS` saves its own: serving needs no Spark, and a chat session is
folded in by the same least-squares step against the item factors (`Factors`).

Spark regularises each user's update by `regularization x` the user's number of likes (ALS-WR),
so its value is not `implicit`'s: the fold-in uses the same scaling, so that it is the update
training makes.

Left out on purpose: reading interactions from a distributed table (they come from the catalogue
`build-index` loaded), and Spark's own top-k serving (`recommendForAllUsers`): chat users are new.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from convrec.core.errors import SparkError, SparkJobError
from convrec.retrieve.cf.base import LIKED
from convrec.retrieve.cf.factors import Factors

log = logging.getLogger(__name__)

DEFAULT_MASTER = "local[*]"
MASTER_PORT = 7077  # a standalone master's default port
CONNECT_TIMEOUT_S = 5.0  # to a spark:// master, before Spark itself retries for a minute
JOB_TRIES = 2  # a job whose JVM or local connection failed runs once more on a new session
INSTALL_JAVA = (
    "install a Java runtime, 17 or newer (Debian/Ubuntu: `apt-get install default-jre-headless`; macOS: "
    "`brew install openjdk@17`) or set JAVA_HOME to one; or train without Spark (`--cf als`)"
)


@contextlib.contextmanager
def spark_session(master: str = DEFAULT_MASTER) -> Iterator[Any]:
    """A Spark session for one job, with a JVM of its own; a SparkError names what is wrong.

    Spark's scratch space (`spark.local.dir`, the driver's temp files, a local master's checkpoints)
    is a temp folder that is removed afterwards, and the session is stopped and its JVM ended, also
    when the job failed or the JVM died. The driver binds to loopback unless SPARK_LOCAL_IP says
    otherwise (set it to an address the cluster's workers can reach), and no web UI is started.
    """
    from pyspark.sql import SparkSession

    java = _java()
    _reach(master)
    host = os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # read by the JVM as it starts
    session = None
    with tempfile.TemporaryDirectory(prefix="convrec-spark-", ignore_cleanup_errors=True) as scratch:
        try:
            session = (
                SparkSession.builder.master(master)
                .appName("convrec")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.driver.host", host)
                .config("spark.driver.bindAddress", host)
                .config("spark.local.dir", scratch)
                .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={scratch}")
                .config("spark.sql.shuffle.partitions", "8")
                .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                .getOrCreate()
            )
            session.sparkContext.setLogLevel("ERROR")
            if master.startswith("local"):  # ALS cuts its lineage there every 10 iterations, else 30 overflow the stack
                session.sparkContext.setCheckpointDir(os.path.join(scratch, "checkpoints"))
            yield session
        except Exception as e:
            if isinstance(e, SparkError):
                raise
            if getattr(e, "getCondition", lambda: None)() == "JAVA_GATEWAY_EXITED":
                raise SparkError(f"Spark's Java ({java}) exited before it started: {INSTALL_JAVA}.") from e
            raise SparkJobError(
                f"Spark stopped during the job on {master} ({type(e).__name__}: {_said(e)}); "
                "run it again, or train without Spark (`--cf als`)."
            ) from e
        finally:
            _end(session)


def _said(e: Exception) -> str:
    """What an error says, in short; a Java error asks its JVM, which may be gone."""
    try:
        return str(e)[:300]
    except Exception:
        return "the JVM no longer answers"


def _java() -> str:
    """The java Spark will start (JAVA_HOME's, else the one on PATH); SparkError when there is none."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        where = f"JAVA_HOME={home} has no bin/java" if home else "no `java` on PATH"
        raise SparkError(f"Spark needs Java and there is none here ({where}): {INSTALL_JAVA}.")
    return java


def _reach(master: str) -> None:
    """For a standalone master (spark://host:port, several comma-separated for high availability),
    connect to it first, so an unreachable one is said at once instead of after Spark's minute
    of retries; SparkError naming it when none answers. Other masters (local, yarn, k8s) pass.

    >>> _reach("local[2]")
    """
    if not master.startswith("spark://"):
        return
    errors = []
    for address in master.removeprefix("spark://").split(","):
        host, _, port = address.rpartition(":") if ":" in address else (address, "", str(MASTER_PORT))
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
            return
        except (OSError, ValueError) as e:
            errors.append(f"{address}: {e}")
    raise SparkError(
        f"the Spark master {master} cannot be reached ({'; '.join(errors)}): check that it runs and that this "
        "machine may connect to it, or train here with `--spark-master local[*]`."
    )


def _end(session: Any) -> None:
    """Stop `session` and end its JVM, also one that died, so that the next job starts afresh
    (pyspark keeps one JVM per process in class attributes, reset here)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if session is not None:
        with contextlib.suppress(Exception), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "Unable to cleanly shutdown": the JVM is gone
            session.stop()
    gateway = SparkContext._gateway
    SparkContext._gateway = SparkContext._jvm = SparkContext._active_spark_context = None
    SparkSession._instantiatedSession = SparkSession._activeSession = None
    if gateway is None:
        return
    with contextlib.suppress(Exception):
        gateway.shutdown()
    proc = getattr(gateway, "proc", None)
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class SparkALS(Factors):
    """Implicit-feedback ALS trained by Spark MLlib; confidence 1 + alpha for each like."""

    name = "spark-als"

    def __init__(
        self,
        factors: int = 32,
        regularization: float = 0.05,
        alpha: float = 5.0,
        iterations: int = 15,
        seed: int = 42,
        min_rating: float = LIKED,
        master: str = DEFAULT_MASTER,
    ) -> None:
        super().__init__(factors, regularization, alpha, iterations, seed, min_rating)
        self.master = master

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "master": self.master}

    def user_regularization(self, n_liked: int) -> float:
        return self.regularization * n_liked

    def _train(self, x: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Spark's factors; a job that failed mid-way (the JVM died, a local socket was refused)
        runs once more on a new session and JVM before the error reaches the caller."""
        for _ in range(JOB_TRIES - 1):
            try:
                return self._job(x)
            except SparkJobError as e:
                log.warning("%s Trying again on a new session.", e)
        return self._job(x)

    def _job(self, x: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        from pyspark.ml.recommendation import ALS as SparkALSEstimator

        coo = x.tocoo()
        likes = pd.DataFrame(
            {"user": coo.row.astype(np.int32), "item": coo.col.astype(np.int32), "rating": np.ones(coo.nnz, np.float32)}
        )
        with spark_session(self.master) as spark, warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # pyspark does not yet fully support pandas 3
            estimator = SparkALSEstimator(
                rank=self.factors, maxIter=self.iterations, regParam=self.regularization, alpha=self.alpha,
                implicitPrefs=True, userCol="user", itemCol="item", ratingCol="rating", seed=self.seed,
            )  # fmt: skip
            model = estimator.fit(spark.createDataFrame(likes))
            users, items = model.userFactors.toPandas(), model.itemFactors.toPandas()
        return _factor_matrix(users, x.shape[0], self.factors), _factor_matrix(items, x.shape[1], self.factors)


def _factor_matrix(rows: pd.DataFrame, n: int, factors: int) -> np.ndarray:
    """Spark's (id, features) rows -> an n x factors array; ids Spark never saw stay zero.

    >>> _factor_matrix(pd.DataFrame({"id": [2], "features": [[1.0, 2.0]]}), 3, 2).tolist()
    [[0.0, 0.0], [0.0, 0.0], [1.0, 2.0]]
    """
    out = np.zeros((n, factors), np.float32)
    if len(rows):
        out[rows["id"].to_numpy()] = np.stack(rows["features"].to_numpy())
    return out
