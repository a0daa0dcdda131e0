"""benchmarks/bench_crossdomain.py's split and loader do what its docstring says, on a tiny two-domain world.

No quality assertion: cold users have every Books interaction in test and none in training; warm users with
at least 5 Books interactions have round(20%) of them (at least one) held out, the others none; every Movies
interaction is training; item ids are prefixed by domain so the two files cannot collide.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from recaudit.data.schema import ITEM_ID, USER_ID
from tests.bench_loading import import_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return import_benchmark("bench_crossdomain", "OMP_NUM_THREADS")


def _write(folder: Path) -> None:
    rng = np.random.default_rng(0)
    books, movies = [], []
    for u in range(30):
        for i in rng.choice(40, size=3 + u % 8, replace=False):
            books.append((f"U{u}", f"{i:04d}", 4.0))
        for i in rng.choice(40, size=6, replace=False):
            movies.append((f"U{u}", f"{i:04d}", 5.0))  # the same raw ids as books: the loader must prefix
    books.append(books[0])  # a duplicate row
    for name, rows in (("Amazon-Books-Dense.inter", books), ("Amazon-Movies-Dense.inter", movies)):
        pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]).to_csv(
            folder / name, sep="\t", index=False
        )


def test_split_makes_cold_users_and_holds_out_a_share_of_warm_users(
    bench: ModuleType, tmp_path: Path
) -> None:
    _write(tmp_path)
    events = bench.load(tmp_path)
    assert not events.duplicated([USER_ID, ITEM_ID]).any()
    assert set(events.loc[events["domain"] == "books", ITEM_ID].str[:2]) == {"b:"}
    train, test, cold = bench.split(events, 0.2, seed=0)
    assert len(cold) == 6 and (test["domain"] == "books").all()
    books = events[events["domain"] == "books"]
    for user, group in books.groupby(USER_ID):
        held = test[test[USER_ID] == user]
        kept = train[(train[USER_ID] == user) & (train["domain"] == "books")]
        if user in set(cold):
            assert len(held) == len(group) and kept.empty
        elif len(group) >= 5:
            assert len(held) == max(1, round(0.2 * len(group))) and len(kept) == len(group) - len(held)
        else:
            assert held.empty and len(kept) == len(group)
    assert len(train[train["domain"] == "movies"]) == int((events["domain"] == "movies").sum())
    assert len(train) + len(test) == len(events)
