"""Metric-engine benchmark: ``recaudit.metrics.evaluate`` against a straightforward pandas groupby version.

One run, one seeded synthetic world (default 1M users, k = 20, a 50k-item catalogue with Zipf popularity,
~20 training and ~5 test interactions per user, 1-3 of 20 categories and one of 100 providers per item,
d = 32 item embeddings). It times:

- building :class:`recaudit.metrics.AuditInputs` from the frames;
- ``evaluate(inputs, ks=(20,), ci=False)`` (the full default metric set, breakdowns included);
- each metric group through the registry (the functions ``evaluate`` calls), next to the same group in
  pandas (groupby / merge / explode over the long recs frame, written in this file);
- the bootstrap CIs (what ``ci=True`` adds), separately.

It checks that both sides give the same numbers (max |difference| per metric, per user for user-level
metrics; they must agree to 1e-6, else exit 1) and prints a table of seconds and ratios, with peak memory.

Usage::

    python benchmarks/bench_metrics.py                 # 1M users (about 10 min on 2 cores, < 24 GiB)
    python benchmarks/bench_metrics.py --users 100000  # quick check
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recaudit.data.schema import CATEGORY, ITEM_ID, PROVIDER, RANK, USER_ID  # noqa: E402
from recaudit.metrics import AuditInputs, evaluate, fairness  # noqa: E402
from recaudit.metrics.registry import METRICS  # noqa: E402
from recaudit.metrics.stats import bootstrap_ci  # noqa: E402

K = 20
ALPHA = 0.01  # Steck's smoothing, fixed by docs/metrics.md
TOL = 1e-6
GROUPS: dict[str, tuple[str, ...]] = {
    "accuracy": ("precision", "recall", "hit_rate", "mrr", "ndcg", "map"),
    "exposure": ("coverage", "gini", "exposure_gini", "entropy", "entropy_norm", "personalization"),
    "popularity": ("arp", "aplt", "novelty"),
    "ild_category": ("ild_category",),
    "miscalibration": ("miscalibration",),
}
RECAUDIT_ONLY = ("ild", "serendipity", "serendipity_category")  # no pandas counterpart here


# --------------------------------------------------------------------------- memory and timing


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


class Phase:
    """Wall time of a block and the highest RSS sampled during it (a thread polls /proc every 20 ms)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.peak = 0
        self._stop = threading.Event()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(0.02)

    def __enter__(self) -> Phase:
        self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


# --------------------------------------------------------------------------- synthetic data


def sample_lists(
    cdf: np.ndarray, n_rows: int, k: int, rng: np.random.Generator, batch: int = 65536
) -> np.ndarray:
    """``[n_rows, k]`` item rows drawn by popularity without repeats within a row.

    Draws with replacement from ``cdf`` (inverse-CDF) and keeps the first occurrence of each item in draw
    order: that is successive sampling proportional to popularity (the same law as Gumbel top-k). Rows
    with fewer than k distinct draws are redrawn with more draws.
    """
    out = np.empty((n_rows, k), dtype=np.int64)
    todo = np.arange(n_rows)
    m = 3 * k
    while todo.size:
        left = []
        for start in range(0, todo.size, batch):
            rows = todo[start : start + batch]
            draws = np.searchsorted(cdf, rng.random((rows.size, m)), side="right")
            draws = np.minimum(draws, len(cdf) - 1)
            order = np.argsort(draws, axis=1, kind="stable")
            ordered = np.take_along_axis(draws, order, axis=1)
            first = np.ones_like(ordered, dtype=bool)
            first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
            unique = np.empty_like(first)
            np.put_along_axis(unique, order, first, axis=1)  # back to draw order
            keep = unique & (np.cumsum(unique, axis=1) <= k)
            ok = keep.sum(axis=1) == k
            out[rows[ok]] = draws[ok][keep[ok]].reshape(-1, k)
            left.append(rows[~ok])
        todo = np.concatenate(left)
        m *= 2
    return out


def make_world(n_users: int, n_items: int, seed: int) -> dict[str, object]:
    """Seeded frames: recs (k = 20), train (~20 per user), test (~5 per user, 1% outside the catalogue)."""
    rng = np.random.default_rng(seed)
    user_ids = np.array([f"u{u:07d}" for u in range(n_users)], dtype=object)
    item_ids = np.array([f"i{i:05d}" for i in range(n_items)], dtype=object)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9  # Zipf over popularity ranks
    popularity = popularity[rng.permutation(n_items)]  # popularity unrelated to item id
    cdf = np.cumsum(popularity) / popularity.sum()

    lists = sample_lists(cdf, n_users, K, rng)
    recs = pd.DataFrame(
        {
            USER_ID: np.repeat(user_ids, K),
            ITEM_ID: item_ids[lists.ravel()],
            RANK: np.tile(np.arange(1, K + 1, dtype=np.int64), n_users),
        }
    )
    del lists

    def interactions(mean: float, minimum: int) -> tuple[np.ndarray, np.ndarray]:
        counts = minimum + rng.poisson(mean - minimum, n_users)
        users = np.repeat(np.arange(n_users), counts)
        items = np.minimum(np.searchsorted(cdf, rng.random(users.size), side="right"), n_items - 1)
        return users, items  # with replacement: repeats are real (φ counts them, users(i) does not)

    u, i = interactions(20.0, 1)
    train = pd.DataFrame({USER_ID: user_ids[u], ITEM_ID: item_ids[i]})
    u, i = interactions(5.0, 0)  # some users have no test item: left out of accuracy metrics
    test_items = item_ids[i].copy()
    outside = rng.random(i.size) < 0.01
    test_items[outside] = np.array([f"x{j:07d}" for j in range(int(outside.sum()))], dtype=object)
    test = pd.DataFrame({USER_ID: user_ids[u], ITEM_ID: test_items})
    del u, i, test_items

    n_cat = rng.integers(1, 4, n_items)
    cats = np.argsort(rng.random((n_items, 20)), axis=1)[:, :3]
    category = ["|".join(f"c{c:02d}" for c in sorted(row[:n])) for row, n in zip(cats, n_cat, strict=True)]
    provider_weights = 1.0 / np.arange(1, 101) ** 0.7
    provider = rng.choice(100, n_items, p=provider_weights / provider_weights.sum())
    items = pd.DataFrame(
        {ITEM_ID: item_ids, CATEGORY: category, PROVIDER: [f"p{p:03d}" for p in provider]}
    )
    item_emb = rng.standard_normal((n_items, 32)).astype(np.float32)
    return {"recs": recs, "train": train, "test": test, "items": items, "item_emb": item_emb}


# --------------------------------------------------------------------------- the pandas reference


def pd_gini(values: pd.Series) -> float:
    v = np.sort(values.to_numpy(dtype=np.float64))
    n, total = v.size, v.sum()
    if n == 0 or total <= 0:
        return math.nan
    j = np.arange(1, n + 1)
    return float(((2 * j - n - 1) * v).sum() / (n * total))


class PandasMetrics:
    """The same metric set as recaudit, written as plain groupby/merge/explode over the long recs frame.

    Assumes what the synthetic world guarantees: ranks 1..k without gaps and no repeated item in a list.
    User-level results are Series indexed by user id (the evaluated users only).
    """

    def __init__(self, recs: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, items: pd.DataFrame):
        self.recs, self.train, self.test, self.items = recs, train, test, items
        self.catalogue = items[ITEM_ID]

    def accuracy(self) -> dict[str, pd.Series]:
        pairs = self.test[[USER_ID, ITEM_ID]].drop_duplicates()
        n_rel = pairs.groupby(USER_ID).size()  # |T_u|, items outside the catalogue included
        r = self.recs.merge(pairs.assign(hit=1.0), on=[USER_ID, ITEM_ID], how="left")
        r["hit"] = r["hit"].fillna(0.0)
        g = r.groupby(USER_ID, sort=False)
        hits = g["hit"].sum().reindex(n_rel.index, fill_value=0.0)
        first = r.loc[r["hit"] > 0].groupby(USER_ID)[RANK].min()
        dcg = (r["hit"] / np.log2(r[RANK] + 1)).groupby(r[USER_ID], sort=False).sum()
        ap = (g["hit"].cumsum() / r[RANK] * r["hit"]).groupby(r[USER_ID], sort=False).sum()
        ideal_n = np.minimum(n_rel, K)
        ideal_dcg = pd.Series(np.cumsum(1.0 / np.log2(np.arange(2, K + 2))), index=np.arange(1, K + 1))
        idcg = ideal_n.map(ideal_dcg)
        return {
            "precision": hits / K,
            "recall": hits / n_rel,
            "hit_rate": (hits > 0).astype(float),
            "mrr": (1.0 / first).reindex(n_rel.index, fill_value=0.0),
            "ndcg": dcg.reindex(n_rel.index, fill_value=0.0) / idcg,
            "map": ap.reindex(n_rel.index, fill_value=0.0) / ideal_n,
        }

    def exposure(self) -> dict[str, float]:
        c = self.recs.groupby(ITEM_ID).size().reindex(self.catalogue, fill_value=0)
        x = (1.0 / np.log2(self.recs[RANK] + 1)).groupby(self.recs[ITEM_ID]).sum()
        x = x.reindex(self.catalogue, fill_value=0.0)
        p = c[c > 0] / c.sum()
        entropy = float(-(p * np.log(p)).sum())
        n_users = self.recs[USER_ID].nunique()
        return {
            "coverage": float((c > 0).mean()),
            "gini": pd_gini(c),
            "exposure_gini": pd_gini(x),
            "entropy": entropy,
            "entropy_norm": entropy / math.log(len(c)),
            "personalization": 1.0 - float((c * (c - 1.0)).sum()) / (n_users * (n_users - 1.0) * K),
        }

    def popularity(self) -> dict[str, pd.Series]:
        phi = self.train.groupby(ITEM_ID).size().reindex(self.catalogue, fill_value=0)
        users = self.train.drop_duplicates().groupby(ITEM_ID).size().reindex(self.catalogue, fill_value=0)
        n_users = self.train[USER_ID].nunique()
        ranked = pd.DataFrame({ITEM_ID: self.catalogue.to_numpy(), "phi": phi.to_numpy()})
        ranked = ranked.sort_values(["phi", ITEM_ID], ascending=[False, True])
        n_head = int((ranked["phi"].cumsum() < 0.8 * ranked["phi"].sum()).sum()) + 1
        head = ranked.iloc[:n_head]
        head = set(head.loc[head["phi"] > 0, ITEM_ID])
        stats = pd.DataFrame(
            {
                "arp": phi.to_numpy(dtype=float),
                "aplt": (~self.catalogue.isin(head)).to_numpy(dtype=float),
                "novelty": -np.log2(np.maximum(users.to_numpy(), 1) / n_users),
            },
            index=self.catalogue,
        )
        means = self.recs[[USER_ID, ITEM_ID]].join(stats, on=ITEM_ID).groupby(USER_ID, sort=False).mean(
            numeric_only=True
        )
        return {name: means[name] for name in stats.columns}

    def _genres(self) -> pd.DataFrame:
        """One row per (item, category) with p(g|i) = 1/|genres(i)| and the unit-vector entry 1/sqrt(n)."""
        genres = self.items[[ITEM_ID]].assign(g=self.items[CATEGORY].str.split("|")).explode("g")
        genres = genres[genres["g"].notna() & (genres["g"] != "")]
        n = genres.groupby(ITEM_ID)["g"].transform("size")
        return genres.assign(w=1.0 / n, unit=1.0 / np.sqrt(n))

    def ild_category(self) -> dict[str, pd.Series]:
        genres = self._genres()
        rows = self.recs[[USER_ID, ITEM_ID]].merge(genres, on=ITEM_ID)
        sums = rows.groupby([USER_ID, "g"], sort=False)["unit"].sum()
        norm2 = (sums**2).groupby(level=USER_ID, sort=False).sum()  # ‖Σ v̂‖²
        n_cat = rows.groupby(USER_ID, sort=False)[ITEM_ID].nunique()  # Σ ‖v̂‖² (categorised items)
        n = self.recs.groupby(USER_ID, sort=False).size()
        cos = (norm2 - n_cat).reindex(n.index, fill_value=0.0)
        ild = 1.0 - cos / (n * (n - 1))
        return {"ild_category": ild[n >= 2]}

    def miscalibration(self) -> dict[str, pd.Series]:
        genres = self._genres()

        def distribution(pairs: pd.DataFrame) -> pd.Series:
            rows = pairs.merge(genres[[ITEM_ID, "g", "w"]], on=ITEM_ID)
            n = rows.groupby(USER_ID, sort=False)[ITEM_ID].nunique()
            sums = rows.groupby([USER_ID, "g"], sort=False)["w"].sum()
            return sums / n.reindex(sums.index.get_level_values(USER_ID)).to_numpy()

        p = distribution(self.train[[USER_ID, ITEM_ID]].drop_duplicates()).rename("p")
        q = distribution(self.recs[[USER_ID, ITEM_ID]]).rename("q")
        both = p.to_frame().join(q, how="left").fillna({"q": 0.0})
        term = both["p"] * np.log(both["p"] / ((1 - ALPHA) * both["q"] + ALPHA * both["p"]))
        kl = term.groupby(level=USER_ID, sort=False).sum()
        listed = q.index.get_level_values(USER_ID).unique()
        return {"miscalibration": kl[kl.index.isin(listed)]}

    def group_exposure(self) -> pd.DataFrame:
        provider = self.items.set_index(ITEM_ID)[PROVIDER]
        e = (1.0 / np.log2(self.recs[RANK] + 1)).rename("e")
        exposure = e.groupby(self.recs[ITEM_ID].map(provider)).sum()
        catalog = self.items.groupby(PROVIDER).size()
        pairs = self.test[[USER_ID, ITEM_ID]].drop_duplicates()
        merit = pairs.loc[pairs[ITEM_ID].isin(self.catalogue), ITEM_ID].map(provider).value_counts()
        table = pd.DataFrame(
            {
                "exposure_share": exposure / e.sum(),
                "catalog_share": catalog / len(self.items),
                "merit_share": merit / merit.sum(),
            }
        ).fillna({"exposure_share": 0.0, "merit_share": 0.0})
        has_merit = table["merit_share"] > 0
        table["exposure_ratio"] = (table["exposure_share"] / table["merit_share"]).where(has_merit)
        return table


# --------------------------------------------------------------------------- comparison


def max_diff(
    ours: pd.Series | np.ndarray | float, theirs: pd.Series | float, index: pd.Index | None
) -> float:
    """max |ours − theirs|: per user (aligned on user ids, NaN must match NaN) or for one number."""
    if index is None:
        a, b = float(ours), float(theirs)  # type: ignore[arg-type]
        if math.isnan(a) or math.isnan(b):
            return 0.0 if math.isnan(a) and math.isnan(b) else math.inf
        return abs(a - b)
    a = np.asarray(ours, dtype=np.float64)
    b = theirs.reindex(index).to_numpy(dtype=np.float64)  # type: ignore[union-attr]
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return math.inf
    both = ~np.isnan(a)
    return float(np.max(np.abs(a[both] - b[both]), initial=0.0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CI timing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"bench_metrics: {args.users:,} users x k={K}, {args.items:,} items, seed {args.seed}")
    with Phase() as gen:
        world = make_world(args.users, args.items, args.seed)
    recs, train, test, items = (world[n] for n in ("recs", "train", "test", "items"))
    print(
        f"data: {len(recs):,} recs, {len(train):,} train, {len(test):,} test rows "
        f"({gen.seconds:.1f} s, RSS {gib(rss_bytes())})"
    )

    with Phase() as build:
        inputs = AuditInputs.from_frames(
            recs, train, test=test, items=items, item_emb=world["item_emb"]  # type: ignore[arg-type]
        )
    with Phase() as full:
        result = evaluate(inputs, ks=(K,), ci=False)
    same_set = [f"{name}@{K}" for names in GROUPS.values() for name in names]
    with Phase() as matched:
        evaluate(inputs, same_set, ci=False)
    lists = inputs.lists.truncate(K)

    ours: dict[str, tuple[float, Phase]] = {}
    outputs: dict[str, object] = {}
    for group, names in {**GROUPS, "ild/serendipity (emb, cat)": RECAUDIT_ONLY}.items():
        with Phase() as ph:
            for name in names:
                outputs[name] = METRICS[name].compute(inputs, lists)
        ours[group] = (ph.seconds, ph)
    with Phase() as ph:
        matrix, names = inputs.memberships[PROVIDER]
        table = fairness.group_exposure(lists, matrix, names, inputs.test)
        fairness.exposure_disparity(table)
    ours["group exposure (provider)"] = (ph.seconds, ph)

    with Phase() as boot:
        for column in result.per_user.columns:
            bootstrap_ci(result.per_user[column].to_numpy(), n_boot=args.n_boot, seed=0)

    ref = PandasMetrics(recs, train, test, items)  # type: ignore[arg-type]
    theirs: dict[str, tuple[float, Phase]] = {}
    pandas_out: dict[str, object] = {}
    for group, method in (
        ("accuracy", ref.accuracy),
        ("exposure", ref.exposure),
        ("popularity", ref.popularity),
        ("ild_category", ref.ild_category),
        ("miscalibration", ref.miscalibration),
        ("group exposure (provider)", ref.group_exposure),
    ):
        run: Callable[[], object] = method
        with Phase() as ph:
            out = run()
        theirs[group] = (ph.seconds, ph)
        if isinstance(out, dict):
            pandas_out.update(out)
        else:
            pandas_out["provider"] = out

    # ---- agreement: evaluate()'s numbers (per user where user-level) against pandas
    print("\nagreement (max |recaudit - pandas|; per user for user-level metrics):")
    worst = 0.0
    users = pd.Index(inputs.lists.user_ids)
    for names in GROUPS.values():
        for name in names:
            key = f"{name}@{K}"
            if METRICS[name].kind == "user":
                d = max_diff(result.per_user[key].to_numpy(), pandas_out[name], users)  # type: ignore[arg-type]
                d = max(d, abs(result.values[key] - float(np.nanmean(pandas_out[name]))))  # type: ignore[arg-type]
            else:
                d = max_diff(result.values[key], pandas_out[name], None)  # type: ignore[arg-type]
            worst = max(worst, d)
            print(f"  {key:<22} {d:.2e}   value {result.values[key]:.6f}")
    mine = result.item_groups[f"{PROVIDER}@{K}"].set_index("group")
    other = pandas_out["provider"].reindex(mine.index)  # type: ignore[union-attr]
    for column in ("exposure_share", "catalog_share", "merit_share", "exposure_ratio"):
        d = max_diff(mine[column].to_numpy(), other[column], mine.index)
        worst = max(worst, d)
        print(f"  provider.{column:<13} {d:.2e}")
    ratios = other.loc[other["merit_share"] > 0, "exposure_ratio"]
    disparity = result.values[f"exposure_disparity[{PROVIDER}]@{K}"]
    d = max_diff(disparity, float(ratios.max() / ratios.min()), None)
    worst = max(worst, d)
    print(f"  exposure_disparity     {d:.2e}   value {disparity:.6f}")

    # ---- table
    header = f"{'metric group':<28} {'recaudit s':>11} {'pandas s':>10} {'ratio':>8}"
    print(f"\n{header} {'peak RSS ours/pandas':>22}")
    total_ours = total_theirs = 0.0
    for group in [*GROUPS, "group exposure (provider)", "ild/serendipity (emb, cat)"]:
        s_ours, p_ours = ours[group]
        if group in theirs:
            s_theirs, p_theirs = theirs[group]
            total_ours += s_ours
            total_theirs += s_theirs
            print(
                f"{group:<28} {s_ours:>11.2f} {s_theirs:>10.2f} {s_theirs / s_ours:>7.1f}x "
                f"{gib(p_ours.peak):>10} / {gib(p_theirs.peak)}"
            )
        else:
            print(f"{group:<28} {s_ours:>11.2f} {'-':>10} {'-':>8} {gib(p_ours.peak):>10} / -")
    print(f"{'total (same metric set)':<28} {total_ours:>11.2f} {total_theirs:>10.2f} "
          f"{total_theirs / total_ours:>7.1f}x")
    print(f"\n{'build AuditInputs':<40} {build.seconds:>8.2f} s   peak RSS {gib(build.peak)}")
    print(f"{'evaluate(ks=(20,), ci=False), all':<40} {full.seconds:>8.2f} s   peak RSS {gib(full.peak)}")
    print(f"  ({len(result.values)} numbers: + ild/serendipity, user groups, provider/category tables, lift)")
    label = f"bootstrap CIs ({result.per_user.shape[1]} metrics x {args.n_boot})"
    print(f"{label:<40} {boot.seconds:>8.2f} s")
    label = "evaluate(same metric set), ci=False"
    print(f"{label:<40} {matched.seconds:>8.2f} s   peak RSS {gib(matched.peak)}")
    print("  (same numbers as pandas, + user-group breakdowns, provider/category tables, popularity lift)")
    print(f"{'pandas, same metric set':<40} {total_theirs:>8.2f} s")
    print(
        f"ratios pandas / recaudit: per-group total {total_theirs / total_ours:.1f}x, "
        f"evaluate(same set) {total_theirs / matched.seconds:.1f}x, "
        f"evaluate(all) {total_theirs / full.seconds:.1f}x, "
        f"build + evaluate(same set) {total_theirs / (build.seconds + matched.seconds):.1f}x"
    )
    print(f"process peak RSS (getrusage): {gib(peak_rss_bytes())}")
    verdict = "OK" if worst <= TOL else "FAIL"
    print(f"\nmax difference over all metrics: {worst:.2e} ({verdict}, tolerance {TOL})")
    return 0 if worst <= TOL else 1


if __name__ == "__main__":
    sys.exit(main())
