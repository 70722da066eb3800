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

import os
import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from convrec.retrieve.cf.base import LIKED
from convrec.retrieve.cf.factors import Factors

DEFAULT_MASTER = "local[*]"


def spark_session(master: str = DEFAULT_MASTER) -> Any:
    """A Spark session for convrec's jobs (created once per process and reused).

    The driver binds to loopback unless SPARK_LOCAL_IP says otherwise (set it to the machine's
    address to reach a cluster), and no web UI is started.
    """
    from pyspark.sql import SparkSession

    host = os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # read by the JVM as it starts
    session = (
        SparkSession.builder.master(master)
        .appName("convrec")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", host)
        .config("spark.driver.bindAddress", host)
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


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
        from pyspark.ml.recommendation import ALS as SparkALSEstimator

        coo = x.tocoo()
        likes = pd.DataFrame(
            {"user": coo.row.astype(np.int32), "item": coo.col.astype(np.int32), "rating": np.ones(coo.nnz, np.float32)}
        )
        spark = spark_session(self.master)
        estimator = SparkALSEstimator(
            rank=self.factors, maxIter=self.iterations, regParam=self.regularization, alpha=self.alpha,
            implicitPrefs=True, userCol="user", itemCol="item", ratingCol="rating", seed=self.seed,
        )  # fmt: skip
        with warnings.catch_warnings():  # pyspark warns that it does not yet fully support pandas 3
            warnings.simplefilter("ignore", FutureWarning)
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
