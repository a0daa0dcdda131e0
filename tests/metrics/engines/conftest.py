"""Engines for the agreement tests, and the worlds they audit.

``engine`` runs each test on DuckDB and on Spark local mode. Spark is an optional extra: without PySpark (or
Java) its tests skip with the reason, except where ``RECAUDIT_REQUIRE_SPARK=1`` (CI, which installs it)
makes that a failure. One SparkSession serves the whole run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.errors import RecauditInputError
from recaudit.metrics.engines.backends import Engine, connect


@pytest.fixture(scope="session")
def spark_engine() -> Engine:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if os.environ.get("RECAUDIT_REQUIRE_SPARK"):
            pytest.fail(
                "PySpark is required here (RECAUDIT_REQUIRE_SPARK=1): pip install -r requirements-spark.txt"
            )
        pytest.skip("PySpark is not installed (optional extra: pip install -r requirements-spark.txt)")
    try:
        return connect("spark")
    except RecauditInputError as exc:
        if os.environ.get("RECAUDIT_REQUIRE_SPARK"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(params=["duckdb", "spark"])
def engine(request: pytest.FixtureRequest) -> Engine:
    if request.param == "spark":
        return request.getfixturevalue("spark_engine")
    return connect("duckdb")


def messy_world(
    seed: int = 0, n_users: int = 4400, n_items: int = 3000, width: int = 25
) -> dict[str, pd.DataFrame]:
    """A 10^5-row log with everything the cleaning must get right, and its train/test/items.

    Unknown items (2%), an item listed twice (1%), rank gaps, different items sharing a rank, lists longer
    than k=10, users with a test item but no list, test items outside the catalogue, catalogue items nobody
    trained on, training rows outside the catalogue and repeated training pairs. User ids are numbers (the
    log's parquet stores them as int64; the other tables as text), item ids text.
    """
    rng = np.random.default_rng(seed)
    items = np.array([f"i{j:04d}" for j in range(n_items)], dtype=object)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    popularity /= popularity.sum()
    users = np.arange(1, n_users + 1)
    listed_users = users[: int(n_users * 0.93)]
    # popularity-weighted picks without replacement for every user at once (Gumbel top-k)
    keys = np.log(popularity)[None, :] + rng.gumbel(size=(len(listed_users), n_items))
    picks = np.argpartition(-keys, width, axis=1)[:, :width]
    listed = items[picks].copy()
    unknown = rng.random(listed.shape) < 0.02
    listed[unknown] = [f"x{v}" for v in rng.integers(0, 10**6, int(unknown.sum()))]
    ranks = np.cumsum(rng.choice([1, 1, 1, 1, 2, 3], size=listed.shape), axis=1)
    tied = np.flatnonzero(rng.random(len(listed_users)) < 0.1)
    at = rng.integers(1, width, len(tied))
    ranks[tied, at] = ranks[tied, at - 1]  # two items at one rank: file order decides
    recs = pd.DataFrame({
        "user_id": np.repeat(listed_users, width), "item_id": listed.ravel(), "rank": ranks.ravel()
    })  # fmt: skip
    again = recs[rng.random(len(recs)) < 0.01]
    recs = pd.concat([recs, again.assign(rank=again["rank"] + 3)], ignore_index=True)
    recs = recs.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # rows in no particular order
    recs["score"] = rng.random(len(recs))
    train_users = rng.choice(np.arange(1, n_users + 400), size=150_000)
    train_items = items[rng.choice(n_items - 150, size=150_000, p=_renorm(popularity[: n_items - 150]))]
    train = pd.DataFrame({"user_id": train_users.astype(str), "item_id": train_items})
    outside = pd.DataFrame({"user_id": rng.choice(users, 500).astype(str), "item_id": "zz-retired"})
    train = pd.concat([train, outside, train.iloc[:2000]], ignore_index=True)
    test_users = rng.choice(users, size=20_000)
    test = pd.DataFrame({
        "user_id": test_users.astype(str), "item_id": items[rng.choice(n_items, 20_000, p=popularity)]
    })  # fmt: skip
    test.loc[test.sample(200, random_state=1).index, "item_id"] = "gone-from-catalogue"
    categories = np.array(["drama", "comedy", "action", "kids", "docs", "horror"])
    catalogue = pd.DataFrame({
        "item_id": items,
        "category": ["|".join(sorted(set(rng.choice(categories, rng.integers(1, 3))))) for _ in items],
        "provider": rng.choice(["studio_a", "studio_b", "indie"], n_items, p=[0.5, 0.3, 0.2]),
    })  # fmt: skip
    return {"recs": recs, "train": train, "test": test, "items": catalogue}


def clean_world(seed: int = 1) -> dict[str, pd.DataFrame]:
    """The messy world's train/test/items with a clean log: ranks 1..10, known and distinct items."""
    world = messy_world(seed, width=10)
    rng = np.random.default_rng(seed)
    items = world["items"]["item_id"].to_numpy()
    users = world["recs"]["user_id"].unique()
    picks = np.argsort(rng.random((len(users), len(items))), axis=1)[:, :10]
    ranks = np.tile(np.arange(1, 11), len(users))
    listed = items[picks].ravel()
    world["recs"] = pd.DataFrame({"user_id": np.repeat(users, 10), "item_id": listed, "rank": ranks})
    return world


def integer_ids(world: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The world with int64 ids in every table (as parquet lakes store them): item ``i0042`` -> 42, so the
    ids' string order ("10" < "9") differs from their numeric order wherever a tie is split by id."""
    codes: dict[str, int] = {}

    def code(value: object) -> int:
        text = str(value)
        if text.startswith("i") and text[1:].isdigit():
            return int(text[1:])
        return codes.setdefault(text, 10_000_000 + len(codes))  # unknown, retired and gone items

    out = {}
    for name, frame in world.items():
        frame = frame.copy()
        if "item_id" in frame:
            frame["item_id"] = np.array([code(v) for v in frame["item_id"]], dtype=np.int64)
        if "user_id" in frame:
            frame["user_id"] = frame["user_id"].astype(np.int64)
        out[name] = frame
    return out


def _renorm(p: np.ndarray) -> np.ndarray:
    return p / p.sum()


def write_world(world: dict[str, pd.DataFrame], root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in world.items():
        paths[name] = root / f"{name}.parquet"
        frame.to_parquet(paths[name], index=False)
    return paths
