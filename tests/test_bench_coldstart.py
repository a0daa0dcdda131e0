"""benchmarks/bench_coldstart.py runs end to end on a tiny synthetic MovieLens and reports what it promises.

A seeded world of 60 users and 80 movies (4 genres, some tags), tiny models, MiniLM off. No wall-clock and
no quality assertion: only that the split is the one the docstring describes (new users and cold items
out of training, every warm-user rating of a cold item in test), that the table has a row per method
with the cold columns blank for the model that cannot score cold items, that every variant of ours has
its three gate lines, and that the new-user curve has every method at every n.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from recaudit.data.schema import ITEM_ID, USER_ID
from tests.bench_loading import import_benchmark

GENRES = ("Action", "Comedy", "Drama", "Horror")


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return import_benchmark("bench_coldstart", "HF_HUB_OFFLINE")


def tiny_movielens(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """ratings / movies / tags frames in MovieLens's columns: each user mostly rates one genre."""
    rng = np.random.default_rng(seed)
    n_users, n_movies = 60, 80
    genre = rng.integers(len(GENRES), size=n_movies)
    movies = pd.DataFrame(
        {
            "movieId": np.arange(1, n_movies + 1),
            "title": [f"{GENRES[g]} story {i} (2001)" for i, g in enumerate(genre)],
            "genres": [GENRES[g] if i % 7 else f"{GENRES[g]}|Drama" for i, g in enumerate(genre)],
        }
    )
    movies.loc[3, "genres"] = "(no genres listed)"
    rows = []
    for u in range(1, n_users + 1):
        taste = rng.integers(len(GENRES))
        liked = np.flatnonzero(genre == taste)
        picks = set(rng.choice(liked, size=min(12, len(liked)), replace=False).tolist())
        picks |= set(rng.choice(n_movies, size=6, replace=False).tolist())
        for t, m in enumerate(sorted(picks)):
            rows.append((u, int(m) + 1, 4.0, 1_000_000 + 100 * u + t))
    ratings = pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])
    tags = pd.DataFrame(
        {
            "userId": [1, 2, 2, 3],
            "movieId": [1, 1, 5, 9],
            "tag": ["explosions", "explosions", "funny", " scary "],
            "timestamp": [10, 11, 12, 13],
        }
    )
    return ratings, movies, tags


def test_split_is_entity_level_and_temporal(bench):
    ratings, movies, tags = tiny_movielens()
    items = bench.build_items(movies, tags)
    assert items.loc[items[ITEM_ID] == "1", "text"].item() == "explosions"
    assert items.loc[items[ITEM_ID] == "4", "category"].isna().item()  # "(no genres listed)"
    split = bench.make_split(ratings, items, seed=0)
    new_users = set(split.held_out[USER_ID])
    assert len(new_users) == 6
    assert not new_users & (set(split.train[USER_ID]) | set(split.test[USER_ID]))
    chosen = set(split.chosen_cold)
    assert chosen and not chosen & set(split.train[ITEM_ID])
    assert set(split.catalogue[split.cold]) == chosen
    warm_user_rows = ratings[~ratings["userId"].astype(str).isin(new_users)]
    of_chosen = warm_user_rows[warm_user_rows["movieId"].astype(str).isin(chosen)]
    assert split.test[ITEM_ID].isin(chosen).sum() == len(of_chosen)
    again = bench.make_split(ratings, items, seed=0)
    assert (again.chosen_cold == split.chosen_cold).all() and again.train.equals(split.train)


def test_run_prints_every_method_gate_and_curve_point(bench):
    ratings, movies, tags = tiny_movielens()
    config = bench.ColdStartConfig(dim=8, epochs=2, batch_size=64, patience=1)
    options = bench.Options(config=config, minilm=False, als_iterations=2, throughput_items=20, n_boot=20)
    lines: list[str] = []
    out = bench.run(ratings, movies, tags, options, echo=lines.append)
    names = ["random", "genre profile", "ridge CB2CF (ALS)", "ours tfidf schedule", "ours tfidf learned",
             "MF alone"]  # fmt: skip
    assert [r.name for r in out["rows"]] == names
    text = "\n".join(lines)
    table = bench.format_table(out["rows"]).splitlines()
    assert "cold@20 all" in table[0] and "cold@20 among" in table[0] and "warm ndcg@10" in table[0]
    assert all(line in text for line in table)
    assert "minilm: skipped (disabled)" in text
    mf_line = table[2 + names.index("MF alone")].split()
    assert mf_line[2:4] == ["-", "-"]
    for row in out["rows"]:
        assert np.isfinite(row.warm_ndcg) and np.isfinite(row.all_ndcg)
        assert np.isfinite(row.cold_all) == (row.name != "MF alone")
    gate_lines = [line for line, _ in out["gates"]]
    assert len(gate_lines) == 3 * 2
    assert all(line.endswith(("PASS", "FAIL")) and line in text for line in gate_lines)
    assert set(out["throughput"]) == {"tfidf"} and "encoder throughput minilm: skipped" in text
    curve = out["curve"]
    assert set(curve["method"]) == {"foldin", "meta", "popularity"}
    assert sorted(set(curve["n"])) == list(bench.CURVE_NS)
