"""Train/test splits: microsoft/recommenders' stratified split (draw for draw) and leave-last-out."""

from __future__ import annotations

import numpy as np
import pandas as pd

SEED = 42
# --------------------------------------------------------------------------------------------
# Splits


def stratified_split(
    df: pd.DataFrame, ratio: float = 0.75, by: str = "user", seed: int = SEED
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """microsoft/recommenders' `python_stratified_split`, reproduced draw for draw.

    One uniform number per row from numpy's legacy generator seeded with `seed`, drawn in the
    row order of `df`; rows sorted by (user or item, number); the first round(ratio x size) rows
    of each group train, the rest test. numpy rounds halves to even, as their `round` of a
    pandas Series does: with ratio 0.75 a group of 1 or 2 rows keeps them all, 5 keeps 4, 6 keeps 4.

    >>> df = pd.DataFrame({"user_id": [1] * 4 + [2] * 2, "item_id": [1, 2, 3, 4, 1, 2]})
    >>> train, test = stratified_split(df)
    >>> len(train[train.user_id == 1]), len(train[train.user_id == 2])
    (3, 2)
    """
    if by not in ("user", "item"):
        raise ValueError("by must be 'user' or 'item'")
    column = f"{by}_id"
    data = df.copy()
    data["_random"] = np.random.RandomState(seed).rand(len(data))
    data = data.sort_values([column, "_random"])
    groups = data.groupby(column)
    rank = groups.cumcount() + 1
    keep = (ratio * groups[column].transform("count")).round()
    train = data[rank <= keep].drop(columns="_random")
    test = data[rank > keep].drop(columns="_random")
    return train, test


def leave_last_out(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's latest interaction (the later row on a timestamp tie) is their test item.

    >>> df = pd.DataFrame({"user_id": [1, 1, 1, 2], "item_id": [5, 6, 7, 5], "timestamp": [3, 9, 1, 4]})
    >>> train, test = leave_last_out(df)
    >>> test.item_id.tolist(), len(train)
    ([6, 5], 2)
    """
    order = df.sort_values(["user_id", "timestamp"], kind="stable")
    last = order.groupby("user_id").tail(1)
    test = last.sort_values("user_id")
    train = df.drop(index=last.index)
    return train, test
