"""Cross-domain benchmark: does transfer from Movies help Books users, and whom does it hurt?

Data: ``../shared/datasets/amazon-books-movies`` (Amazon 2018, a dense subset of users active in both Books
and Movies & TV; duplicate (user, item) rows removed; no timestamps). **Target: Books**, source: Movies.

Split (seeded): among the users with Books interactions and Movies interactions, a share ``--cold-share``
(20%) is made **cold in Books**: all their Books interactions are test, none is training. Every other Books
user with at least 5 Books interactions has a random 20% of them held out (at least one); users with fewer
keep all theirs in training. All Movies interactions are training.

Models, one run, one split, every list ranked within the Books catalogue with the user's Books training
items excluded (docs/metrics.md, "Cross-domain"):

* ``popularity``: Books items by training interactions;
* ``target-only``: an ``mf`` model trained on Books alone (cold users get popularity);
* ``shared``: one ``mf`` model trained on Books and Movies together (one user vector for both domains),
  multi-task as the ``crossdomain`` family trains it: a softmax per domain over that domain's in-batch items,
  with balanced per-domain loss weights;
* ``mapping-linear`` / ``mapping-mlp``: EMCDR, a map from the user's Movies-only vector to their Books-only
  vector, fitted on the users in both domains, applied to every user with Movies interactions;
* ``gated``: per bucket of the user's Books training interactions, target-only or a map, whichever had the
  better validation ndcg@10 (:mod:`recaudit.models.crossdomain.train`).

Printed: ndcg@10 of cold and warm users with 95% bootstrap intervals; for each transfer model its lift over
target-only and the share of warm users it hurts (``negative_transfer_rate``), with intervals; the same by
Books-interaction bucket. Gates (PASS/FAIL lines; exit status 0 either way): gated keeps at least the best
mapping model's cold-user lift, and keeps warm users at >= 98% of target-only's ndcg@10.

Usage::

    python benchmarks/bench_crossdomain.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench_crossdomain.py --quick    # few epochs
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recaudit.data.schema import ITEM_ID, TIMESTAMP, USER_ID  # noqa: E402
from recaudit.metrics.crossdomain import transfer_table  # noqa: E402
from recaudit.metrics.ranking import evaluate_lists  # noqa: E402
from recaudit.metrics.stats import bootstrap_ci  # noqa: E402
from recaudit.models.mf.config import MFConfig  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "amazon-books-movies"
TARGET, SOURCE = "books", "movies"
K = 10
FILES = {"books": "Amazon-Books-Dense.inter", "movies": "Amazon-Movies-Dense.inter"}


def load(folder: Path) -> pd.DataFrame:
    """``user_id, item_id, domain`` rows of both files, duplicates removed, item ids prefixed by domain."""
    frames = []
    for domain, name in FILES.items():
        raw = pd.read_csv(folder / name, sep="\t", dtype=str)
        raw.columns = [c.split(":")[0] for c in raw.columns]
        frame = pd.DataFrame(
            {USER_ID: raw["user_id"], ITEM_ID: domain[0] + ":" + raw["item_id"], "domain": domain}
        )
        frames.append(frame.drop_duplicates([USER_ID, ITEM_ID]))
    return pd.concat(frames, ignore_index=True)


def split(
    events: pd.DataFrame, cold_share: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """``(train, test, cold_users)`` as the module docstring describes (test: Books rows only)."""
    rng = np.random.default_rng(seed)
    books = events[events["domain"] == TARGET]
    both = np.intersect1d(books[USER_ID].unique(), events.loc[events["domain"] == SOURCE, USER_ID].unique())
    cold = np.sort(rng.choice(both, int(round(cold_share * len(both))), replace=False))
    is_cold = books[USER_ID].isin(set(cold.tolist()))
    test_rows = [books[is_cold]]
    warm = books[~is_cold]
    counts = warm.groupby(USER_ID)[ITEM_ID].transform("size")
    eligible = warm[counts >= 5]
    held = []
    for _, group in eligible.groupby(USER_ID, sort=True):
        n = max(1, int(round(0.2 * len(group))))
        held.append(group.index.to_numpy()[rng.permutation(len(group))[:n]])
    held_index = np.concatenate(held) if held else np.zeros(0, np.int64)
    test_rows.append(books.loc[held_index])
    test = pd.concat(test_rows)
    train = events.drop(index=test.index)
    train = train.assign(**{TIMESTAMP: rng.permutation(len(train)).astype(np.int64)})
    return train.reset_index(drop=True), test.reset_index(drop=True), cold


def run(args: argparse.Namespace, log: Any = print) -> dict[str, Any]:
    from recaudit.models.crossdomain.family import domain_loss_weights
    from recaudit.models.crossdomain.train import TransferConfig, train_crossdomain
    from recaudit.models.mf.train import train_mf

    events = load(args.data)
    train, test, cold = split(events, args.cold_share, args.seed)
    items = np.sort(events[ITEM_ID].unique()).astype(object)
    item_domain = np.where(pd.Series(items).str.startswith("b:"), "books", "movies").astype(object)
    users = np.sort(events[USER_ID].unique()).astype(object)
    log(
        f"amazon-books-movies: {len(events):,} interactions, {len(users):,} users, {len(items):,} items; "
        f"Books test: {len(cold)} users cold in Books ({int(test[USER_ID].isin(set(cold)).sum()):,} rows), "
        f"{test.loc[~test[USER_ID].isin(set(cold)), USER_ID].nunique()} warm users "
        f"({int((~test[USER_ID].isin(set(cold))).sum()):,} rows)"
    )
    mf = MFConfig(epochs=args.epochs, seed=args.seed, num_threads=args.threads)
    started = time.perf_counter()
    model = train_crossdomain(
        train, user_ids=users, item_ids=items, item_domain=item_domain, mf_config=mf,
        config=TransferConfig(seed=args.seed), log=lambda m: log("  " + m),
    )  # fmt: skip
    log(
        f"cross-domain model (target-only per domain, maps, gates) in {time.perf_counter() - started:.0f} s"
    )
    started = time.perf_counter()
    by_item = dict(zip(items.tolist(), item_domain.tolist(), strict=True))
    weights = domain_loss_weights(train[ITEM_ID].map(by_item), "balanced")
    joint = train_mf(train[[USER_ID, ITEM_ID, TIMESTAMP]], mf, item_domain=by_item, domain_weights=weights)
    shown = ", ".join(f"{d} {w:.2f}" for d, w in sorted(weights.items()))
    log(
        f"shared model (Books + Movies together, a softmax per domain, balanced loss weights {shown}) in "
        f"{time.perf_counter() - started:.0f} s"
    )
    shared = _shared_tables(joint, users, items)

    import scipy.sparse as sp

    user_row = pd.Series(np.arange(len(users)), index=pd.Index(users))
    item_row = pd.Series(np.arange(len(items)), index=pd.Index(items))
    seen = sp.csr_matrix(
        (
            np.ones(len(train)),
            (user_row.loc[train[USER_ID]].to_numpy(), item_row.loc[train[ITEM_ID]].to_numpy()),
        ),
        shape=(len(users), len(items)),
    )
    test_users = np.sort(test[USER_ID].unique()).astype(object)
    rows = user_row.loc[test_users].to_numpy()
    counts = model.domains[TARGET].counts[rows]
    per_model: dict[str, np.ndarray] = {}
    modes = {
        "popularity": None, "target-only": "none", "shared": "shared", "mapping-linear": "linear",
        "mapping-mlp": "mlp", "gated": "gated",
    }  # fmt: skip
    for name, mode in modes.items():
        if mode is None:
            recs = _popularity(model, rows, seen)
        else:
            recs = model.recommend(TARGET, mode, rows, K, seen=seen, shared=shared)
        frame = evaluate_lists(recs, test, ks=(K,), metrics=("ndcg",), per_user=True)
        per_model[name] = frame[f"ndcg@{K}"].reindex(test_users).fillna(0.0).to_numpy()
    cold_mask = counts == 0
    results: dict[str, Any] = {
        "n_cold": int(cold_mask.sum()),
        "n_warm": int((~cold_mask).sum()),
        "models": {},
    }
    log(
        f"\nndcg@{K} in Books (95% bootstrap CI), {cold_mask.sum()} cold and {(~cold_mask).sum()} warm users"
    )
    log(f"  {'model':<15} {'cold':>7} {'CI':>17} {'warm':>7} {'CI':>17} {'lift cold':>10} {'lift warm':>10} "
        f"{'warm hurt':>10} {'CI':>15}")  # fmt: skip
    base = per_model["target-only"]
    tables = {}
    for name, values in per_model.items():
        c, w = (
            bootstrap_ci(values[cold_mask], seed=args.seed),
            bootstrap_ci(values[~cold_mask], seed=args.seed),
        )
        row = {"cold": c, "warm": w}
        line = f"  {name:<15} {c[0]:7.4f} [{c[1]:.4f}, {c[2]:.4f}] {w[0]:7.4f} [{w[1]:.4f}, {w[2]:.4f}]"
        if name not in ("popularity", "target-only"):
            table = transfer_table(values, base, counts, n_boot=1000, seed=args.seed).set_index("group")
            tables[name] = table
            lc, lw = table.loc["cold", "transfer_lift"], table.loc["warm", "transfer_lift"]
            hurt = table.loc["warm"]
            row.update(lift_cold=lc, lift_warm=lw, warm_hurt=[hurt["negative_transfer_rate"],
                       hurt["negative_transfer_rate_low"], hurt["negative_transfer_rate_high"]])  # fmt: skip
            line += (
                f" {lc:+10.1%} {lw:+10.1%} {hurt['negative_transfer_rate']:10.1%} "
                f"[{hurt['negative_transfer_rate_low']:.1%}, {hurt['negative_transfer_rate_high']:.1%}]"
            )
        log(line)
        results["models"][name] = row
    log("\nby Books training interactions (lift over target-only / share hurt):")
    for name, table in tables.items():
        cells = [
            f"{g} ({int(table.loc[g, 'n_users'])}): {table.loc[g, 'transfer_lift']:+.0%} / "
            f"{table.loc[g, 'negative_transfer_rate']:.0%}"
            for g in table.index if g not in ("cold", "warm")
        ]  # fmt: skip
        log(f"  {name:<15} " + "; ".join(cells))
    log("  gate: " + model.describe())
    best_map = max(("mapping-linear", "mapping-mlp"), key=lambda n: tables[n].loc["cold", "transfer_lift"])
    gated, target_warm = results["models"]["gated"], results["models"]["target-only"]["warm"][0]
    gates = [
        _gate(
            f"gated keeps the best mapping model's cold-user lift ({best_map} "
            f"{tables[best_map].loc['cold', 'transfer_lift']:+.1%}; gated {gated['lift_cold']:+.1%})",
            gated["lift_cold"] >= tables[best_map].loc["cold", "transfer_lift"] - 1e-12,
        ),
        _gate(
            f"gated keeps warm users at >= 98% of target-only (ndcg@10 {gated['warm'][0]:.4f} vs "
            f"{target_warm:.4f}: {gated['warm'][0] / target_warm:.1%})",
            gated["warm"][0] >= 0.98 * target_warm,
        ),
    ]
    for line in gates:
        log(line)
    results["gates"] = gates
    results["gate_choices"] = model.info["gate"]
    return results


def _shared_tables(joint: Any, users: np.ndarray, items: np.ndarray) -> Any:
    """The joint model's tables in the benchmark's user and item orders (zero rows for absent ids)."""
    from recaudit.models.crossdomain.model import SharedTables

    def place(ids: np.ndarray, theirs: np.ndarray, table: np.ndarray) -> np.ndarray:
        where = pd.Series(np.arange(len(theirs)), index=pd.Index(np.asarray(theirs).astype(str))).reindex(
            ids
        )
        out = np.zeros((len(ids), *table.shape[1:]), np.float32)
        keep = where.notna().to_numpy()
        out[keep] = table[where[keep].astype(np.int64).to_numpy()]
        return out

    bias = None if joint.item_bias is None else place(items, joint.item_ids, joint.item_bias)
    return SharedTables(
        place(users, joint.user_ids, joint.user_emb), place(items, joint.item_ids, joint.item_emb), bias
    )


def _popularity(model: Any, rows: np.ndarray, seen: Any) -> pd.DataFrame:
    """Books popularity for everyone: the target-only model's cold path, applied to all users."""
    from dataclasses import replace

    dm = model.domains[TARGET]
    everyone_cold = replace(
        model, domains={**model.domains, TARGET: replace(dm, counts=np.zeros_like(dm.counts))}
    )
    return everyone_cold.recommend(TARGET, "none", rows, K, seen=seen)


def _gate(label: str, ok: bool) -> str:
    return f"{'PASS' if ok else 'FAIL'}  {label}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the amazon-books-movies folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cold-share", type=float, default=0.2, help="share of both-domain users made cold"
    )
    parser.add_argument("--quick", action="store_true", help="few epochs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    args = parser.parse_args(argv)
    args.epochs = 3 if args.quick else 30
    results = run(args)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
