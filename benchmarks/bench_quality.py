"""Quality benchmark of the embedding CF model against implicit's ALS and a popularity baseline.

Protocol (``../shared/datasets/README.md``): MovieLens latest-small, per-user temporal split (the
last 20% of each user's ratings are test), every rating an interaction, catalogue = training items,
each user's training items excluded from their list, ndcg@10 and recall@10 over all test users (ranx
conventions, :func:`recaudit.metrics.evaluate_lists`). Anchor: implicit ALS (factors 64, 15
iterations, regularization 0.05, alpha 1) reaches ndcg@10 0.1083, recall@10 0.0636.

Usage::

    python benchmarks/bench_quality.py                 # ML latest-small audit split
    python benchmarks/bench_quality.py --seeds 0 1 2   # our model with several seeds
    python benchmarks/bench_quality.py --synthetic     # + timing on a 5k x 3k synthetic world

``implicit`` is a benchmark-only dependency, imported here and nowhere in ``recaudit``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recaudit.data.schema import ITEM_ID, RANK, SCORE, USER_ID  # noqa: E402
from recaudit.metrics import evaluate_lists  # noqa: E402
from recaudit.models import MFConfig, train_mf  # noqa: E402

K = 10
ALS_ANCHOR = {"ndcg@10": 0.1083, "recall@10": 0.0636}


def datasets_dir(flag: str | None) -> Path:
    """``--datasets``, else ``$RECAUDIT_DATASETS``, else ``../shared/datasets`` beside the repo."""
    return Path(flag or os.environ.get("RECAUDIT_DATASETS") or REPO.parent / "shared" / "datasets")


def load_split(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``train.csv`` and ``test.csv`` of the audit split, ids as strings."""
    ids = {USER_ID: str, ITEM_ID: str}
    return pd.read_csv(folder / "train.csv", dtype=ids), pd.read_csv(folder / "test.csv", dtype=ids)


def top_k(
    scores: np.ndarray, user_ids: np.ndarray, item_ids: np.ndarray, seen: pd.DataFrame, k: int
) -> pd.DataFrame:
    """Top-k lists from a dense ``[U, I]`` score matrix, each user's seen items excluded."""
    scores = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32)).clone()
    rows = pd.Index(user_ids).get_indexer(seen[USER_ID])
    cols = pd.Index(item_ids).get_indexer(seen[ITEM_ID])
    keep = (rows >= 0) & (cols >= 0)
    scores[torch.from_numpy(rows[keep]), torch.from_numpy(cols[keep])] = float("-inf")
    values, index = torch.topk(scores, k, dim=1)
    return pd.DataFrame(
        {
            USER_ID: np.repeat(user_ids, k),
            ITEM_ID: item_ids[index.numpy()].reshape(-1),
            RANK: np.tile(np.arange(1, k + 1), len(user_ids)),
            SCORE: values.numpy().reshape(-1),
        }
    )


def run_ours(train: pd.DataFrame, config: MFConfig) -> tuple[pd.DataFrame, float, str]:
    """Train our model; return its lists, the training seconds and a note on the run."""
    start = time.perf_counter()
    model = train_mf(train, config)
    seconds = time.perf_counter() - start
    users = np.arange(len(model.user_ids))
    recs = top_k(model.score(users), model.user_ids, model.item_ids, train, K)
    fitted = sum(h["phase"] == "fit" for h in model.history)
    refitted = len(model.history) - fitted
    note = f"best epoch {model.best_epoch}; {fitted} fit + {refitted} refit epochs; {model.device}"
    return recs, seconds, note


def run_als(train: pd.DataFrame) -> tuple[pd.DataFrame, float, str]:
    """implicit's CPU ALS (factors 64, 15 iterations, regularization 0.05, alpha 1)."""
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    user_ids = np.unique(train[USER_ID].to_numpy(str))
    item_ids = np.unique(train[ITEM_ID].to_numpy(str))
    rows = np.searchsorted(user_ids, train[USER_ID].to_numpy(str))
    cols = np.searchsorted(item_ids, train[ITEM_ID].to_numpy(str))
    matrix = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(user_ids), len(item_ids))
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    # implicit warns that a multithreaded BLAS fights its own threads: limit BLAS to one thread
    with threadpool_limits(1, "blas"):
        start = time.perf_counter()
        model = AlternatingLeastSquares(
            factors=64, iterations=15, regularization=0.05, alpha=1.0, random_state=0
        )
        model.fit(matrix, show_progress=False)
        seconds = time.perf_counter() - start
    scores = np.asarray(model.user_factors) @ np.asarray(model.item_factors).T
    return top_k(scores, user_ids, item_ids, train, K), seconds, "implicit 0.7 CPU"


def run_popularity(train: pd.DataFrame) -> tuple[pd.DataFrame, float, str]:
    """Most popular training items (by interaction count) that the user has not seen."""
    start = time.perf_counter()
    counts = train[ITEM_ID].value_counts()
    item_ids = counts.index.to_numpy(str)
    user_ids = np.unique(train[USER_ID].to_numpy(str))
    scores = np.broadcast_to(counts.to_numpy(np.float32), (len(user_ids), len(item_ids)))
    seconds = time.perf_counter() - start
    return top_k(scores, user_ids, item_ids, train, K), seconds, "counts"


def evaluate(recs: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """ndcg@10 and recall@10 over every user with test items."""
    return evaluate_lists(recs, test, ks=(K,), metrics=("ndcg", "recall"))  # type: ignore[return-value]


def synthetic_world(
    n_users: int = 5000, n_items: int = 3000, n_rows: int = 200_000, seed: int = 0
) -> pd.DataFrame:
    """A seeded world with taste clusters and power-law popularity, for a timing check at scale."""
    rng = np.random.default_rng(seed)
    n_clusters = 20
    user_cluster = rng.integers(n_clusters, size=n_users)
    item_cluster = rng.integers(n_clusters, size=n_items)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    users = rng.integers(n_users, size=n_rows)
    same = rng.random(n_rows) < 0.7
    items = np.empty(n_rows, dtype=np.int64)
    for c in range(n_clusters):
        pool = np.flatnonzero(item_cluster == c)
        weights = popularity[pool] / popularity[pool].sum()
        pick = same & (user_cluster[users] == c)
        items[pick] = rng.choice(pool, size=int(pick.sum()), p=weights)
    items[~same] = rng.choice(n_items, size=int((~same).sum()), p=popularity / popularity.sum())
    return pd.DataFrame(
        {
            USER_ID: np.char.add("u", users.astype(str)),
            ITEM_ID: np.char.add("i", items.astype(str)),
            "timestamp": rng.integers(1_500_000_000, 1_600_000_000, size=n_rows),
        }
    )


def table_row(name: str, scores: dict[str, float], seconds: str, note: str) -> str:
    """One line of the printed table."""
    return f"{name:<26} {scores['ndcg@10']:>8.4f} {scores['recall@10']:>9.4f} {seconds:>8}  {note}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", help="folder holding ml-latest-small-audit/")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of our model")
    parser.add_argument("--no-baselines", action="store_true", help="skip ALS and popularity")
    parser.add_argument("--synthetic", action="store_true", help="also time a 5k x 3k world")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="override MFConfig fields, e.g. --set dim=128 lr=0.01")  # fmt: skip
    args = parser.parse_args(argv)

    config = MFConfig().with_overrides(args.set)
    train, test = load_split(datasets_dir(args.datasets) / "ml-latest-small-audit")
    print(f"train {len(train)} rows, test {len(test)} rows, {test[USER_ID].nunique()} test users")
    print(f"torch threads {torch.get_num_threads()}; config {config.to_dict()}")

    runs = []
    for seed in args.seeds:
        runs.append(
            (f"recaudit MF (seed {seed})", run_ours(train, dataclasses.replace(config, seed=seed)))
        )
    if not args.no_baselines:
        runs.append(("implicit ALS", run_als(train)))
        runs.append(("popularity", run_popularity(train)))
    print(f"\n{'model':<26} {'ndcg@10':>8} {'recall@10':>9} {'train s':>8}  note")
    results = {}
    for name, (recs, seconds, note) in runs:
        scores = evaluate(recs, test)
        results[name] = scores
        print(table_row(name, scores, f"{seconds:>8.1f}", note))
    print(table_row("anchor: implicit ALS", ALS_ANCHOR, "", "datasets README"))

    if args.synthetic:
        world = synthetic_world()
        start = time.perf_counter()
        model = train_mf(world, config)
        seconds = time.perf_counter() - start
        best = max(h["valid_recall"] or 0.0 for h in model.history)
        print(
            f"\nsynthetic world: {world[USER_ID].nunique()} users, {world[ITEM_ID].nunique()} "
            f"items, {len(world)} rows: trained in {seconds:.1f} s, {len(model.history)} epochs "
            f"run, best epoch {model.best_epoch}, best valid recall@{config.valid_k} {best:.4f}"
        )


if __name__ == "__main__":
    main()
