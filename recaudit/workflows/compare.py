"""A vs B: two bundles compared on the users both audit (docs/metrics.md "Comparing two models").

Each bundle is audited as ``recaudit audit`` audits it (its own held-out data, at one k). Then, over the
users both audits evaluate:

- a **per-user metric** (ndcg, recall, arp, ...): Δ = mean_u (m_B(u) − m_A(u)), a paired bootstrap 95% CI
  over users and a two-sided sign-flip permutation p-value (:func:`recaudit.metrics.stats.paired_test`);
- a **catalogue metric** (gini, coverage, entropy, ...): Δ = m(L_B) − m(L_A) over the shared users' lists;
  its CI from bootstrapping users and recomputing both (the same resample on both sides, so the pairing is
  kept), and its p-value from the same exchangeability test as the sign flip: each user's two lists are
  swapped between A and B with probability 1/2 and Δ recomputed (only when both share one catalogue;
  otherwise NaN, said in ``notes``).

The A and B columns are the means (or values) over the shared users, so that B − A is the Δ shown. The
users who gained and lost most on the lead metric (ndcg@k) come with the table, for the User explorer.

Pure: bundles in, a :class:`Comparison` out; nothing is written here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recaudit.bundle import Bundle
from recaudit.bundle.logs import RecLog
from recaudit.data.schema import USER_ID
from recaudit.metrics.engine import AuditResult, compare
from recaudit.metrics.inputs import AuditInputs
from recaudit.metrics.lists import RecLists
from recaudit.metrics.registry import parse_metric

LEVEL = 0.95
TABLE_COLUMNS = ("metric", "kind", "a", "b", "delta", "ci_low", "ci_high", "p_value", "n_users")
USER_GROUP_COLUMNS = (
    "grouping",
    "group",
    "metric",
    "a",
    "b",
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "n_users",
)
ITEM_GROUP_COLUMNS = ("column", "group", "a", "b", "delta", "ci_low", "ci_high", "p_value")
MOVER_COLUMNS = (USER_ID, "a", "b", "delta", "direction")


@dataclass
class Comparison:
    """The paired comparison of audits ``a`` and ``b`` (module docstring).

    Attributes:
        table: one row per metric (:data:`TABLE_COLUMNS`); ``kind`` is ``user`` or ``catalogue``.
        movers: the users who gained most and lost most on :attr:`lead` (:data:`MOVER_COLUMNS`).
        user_groups: every per-user metric per user group (A's groups: activity, popularity), paired
            within the group (:data:`USER_GROUP_COLUMNS`).
        item_groups: the position-weighted exposure share of every item group (provider, category,
            domain) in A and B, its bootstrap CI and swap p (:data:`ITEM_GROUP_COLUMNS`).
        notes: what could not be compared, and why.
    """

    a: str
    b: str
    k: int
    n_shared: int
    table: pd.DataFrame
    movers: pd.DataFrame
    lead: str | None
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    audits: tuple[AuditResult, AuditResult] | None = None
    user_groups: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(USER_GROUP_COLUMNS))
    )
    item_groups: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(ITEM_GROUP_COLUMNS))
    )

    @property
    def deltas(self) -> dict[str, float]:
        """``{metric: Δ}``, what ``delta:METRIC@K`` gates read."""
        return {str(r.metric): float(r.delta) for r in self.table.itertuples(index=False)}

    def to_json(self) -> str:
        """:meth:`to_dict` as strict JSON (what ``recaudit compare --json`` writes and the page downloads)."""
        from recaudit._io import dumps_json

        return dumps_json(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: names, k, the shared users, the table, the movers, settings and notes."""
        return {
            "a": self.a, "b": self.b, "k": self.k, "n_shared_users": self.n_shared, "lead": self.lead,
            "metrics": _records(self.table), "movers": _records(self.movers),
            "user_groups": _records(self.user_groups), "item_groups": _records(self.item_groups),
            "settings": self.settings, "notes": list(self.notes),
        }  # fmt: skip


def load_source(path: str | Path) -> Bundle | RecLog:
    """The bundle at ``path``, or the recommendation-log folder there (``log.json``, no manifest)."""
    from recaudit.bundle import load_bundle
    from recaudit.bundle.logs import is_log_dir, load_log

    root = Path(path)
    if is_log_dir(root):
        return load_log(root)
    return load_bundle(root)


def audit_source(
    source: Bundle | RecLog, k: int, *, n_boot: int = 1000, seed: int = 0
) -> tuple[AuditResult, AuditInputs]:
    """The audit of a bundle (:func:`recaudit.workflows.audit.audit_bundle`) or of a log (the same
    :func:`recaudit.metrics.evaluate` as ``recaudit metrics``) at ``k``, with the inputs it ran on."""
    from recaudit.metrics import evaluate
    from recaudit.workflows.audit import audit_bundle

    if isinstance(source, RecLog):
        inputs = AuditInputs.from_frames(
            source.recs, source.train, test=source.test, items=source.items, users=source.users, k=k,
            source=source.name,
        )  # fmt: skip
        return evaluate(inputs, ks=(k,), n_boot=n_boot, seed=seed), inputs
    used: list[AuditInputs] = []
    result = audit_bundle(source, k, n_boot=n_boot, seed=seed, inputs_out=used)
    return result, used[0]


def compare_sources(
    a: Bundle | RecLog,
    b: Bundle | RecLog,
    k: int = 10,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    movers: int = 10,
    catalogue_draws: int | None = None,
) -> Comparison:
    """Audit two bundles or logs (any mix) at ``k`` and compare them (module docstring)."""
    audit_a, inputs_a = audit_source(a, k, n_boot=n_boot, seed=seed)
    audit_b, inputs_b = audit_source(b, k, n_boot=n_boot, seed=seed)
    return compare_audits(
        audit_a, inputs_a, audit_b, inputs_b, names=(a.name, b.name), k=k, n_boot=n_boot, seed=seed,
        movers=movers, catalogue_draws=catalogue_draws,
    )  # fmt: skip


def compare_audits(
    a: AuditResult,
    a_inputs: AuditInputs,
    b: AuditResult,
    b_inputs: AuditInputs,
    *,
    names: tuple[str, str],
    k: int,
    n_boot: int = 1000,
    seed: int = 0,
    movers: int = 10,
    catalogue_draws: int | None = None,
) -> Comparison:
    """Compare two audits at ``k`` given the inputs they ran on (module docstring).

    ``n_boot`` resamples for the per-user metrics; ``catalogue_draws`` (default ``n_boot``) resamples and
    swaps for each catalogue metric, which recomputes both sides every time.

    Raises:
        ValueError: the two audits share no user.
    """
    users_a = a_inputs.lists.user_ids.astype(str)
    users_b = b_inputs.lists.user_ids.astype(str)
    shared = np.intersect1d(users_a, users_b)
    if shared.size == 0:
        raise ValueError(f"{names[0]} and {names[1]} audit no user in common: nothing to compare")
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    per_user = [c for c in a.per_user.columns if c in b.per_user.columns and parse_metric(c)[1] == k]
    tests = compare(a, b, per_user, n_boot=n_boot, seed=seed) if per_user else pd.DataFrame()
    for test in tests.itertuples(index=False):
        pair = _paired(a, b, test.metric)
        rows.append({
            "metric": test.metric, "kind": "user", "a": float(pair["a"].mean()),
            "b": float(pair["b"].mean()), "delta": test.mean_diff, "ci_low": test.ci_low,
            "ci_high": test.ci_high, "p_value": test.p_value, "n_users": int(test.n_pairs),
        })  # fmt: skip
    rows_a = _rows_of(users_a, shared)
    rows_b = _rows_of(users_b, shared)
    lists_a, lists_b = a_inputs.lists.truncate(k), b_inputs.lists.truncate(k)
    same_catalogue = np.array_equal(lists_a.item_ids.astype(str), lists_b.item_ids.astype(str))
    if not same_catalogue:
        notes.append("the bundles' catalogues differ: catalogue metrics have intervals but no p-value")
    rng = np.random.default_rng(seed)
    draws = n_boot if catalogue_draws is None else catalogue_draws
    for name in a.values:
        if "[" in name:  # exposure_disparity[column]: a per-group table, compared in the audits themselves
            continue
        spec, at = parse_metric(name)
        if spec.kind != "catalogue" or spec.family == "crossdomain" or at != k or name not in b.values:
            continue
        found = _catalogue_test(
            spec.compute, a_inputs, lists_a, rows_a, b_inputs, lists_b, rows_b, draws, rng, same_catalogue
        )
        if found is None:
            notes.append(f"{name}: undefined on the shared users of one side")
            continue
        rows.append({"metric": name, "kind": "catalogue", **found, "n_users": int(shared.size)})
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    lead = f"ndcg@{k}" if f"ndcg@{k}" in per_user else (per_user[0] if per_user else None)
    mover_table = _movers(a, b, lead, movers) if lead else pd.DataFrame(columns=list(MOVER_COLUMNS))
    settings = {"n_boot": n_boot, "catalogue_draws": draws, "seed": seed, "level": LEVEL,
                "users_a": int(users_a.size), "users_b": int(users_b.size)}  # fmt: skip
    by_user = _user_group_tests(a, b, a_inputs, per_user, n_boot=n_boot, seed=seed)
    by_item = (
        _item_group_tests(a_inputs, lists_a, rows_a, lists_b, rows_b, draws, rng) if same_catalogue
        else pd.DataFrame(columns=list(ITEM_GROUP_COLUMNS))
    )  # fmt: skip
    return Comparison(
        names[0], names[1], k, int(shared.size), table, mover_table, lead, settings, notes, (a, b),
        by_user, by_item,
    )  # fmt: skip


def _paired(a: AuditResult, b: AuditResult, metric: str) -> pd.DataFrame:
    """``a``, ``b``: ``metric`` per user, for the users both audits give a value (index: user id)."""
    both = pd.concat([a.per_user[metric].rename("a"), b.per_user[metric].rename("b")], axis=1, join="inner")
    return both.dropna()


def _rows_of(users: np.ndarray, shared: np.ndarray) -> np.ndarray:
    order = np.argsort(users, kind="stable")
    return order[np.searchsorted(users[order], shared)]


def _subset(lists: RecLists, rows: np.ndarray, items: np.ndarray | None = None) -> RecLists:
    return RecLists(lists.user_ids[rows], lists.items[rows] if items is None else items, lists.item_ids)


def _catalogue_test(
    compute: Any, a_inputs: AuditInputs, lists_a: RecLists, rows_a: np.ndarray, b_inputs: AuditInputs,
    lists_b: RecLists, rows_b: np.ndarray, n_boot: int, rng: np.random.Generator, swappable: bool,
) -> dict[str, float] | None:  # fmt: skip
    """Δ = m(B) − m(A) over the shared users, a bootstrap CI (users resampled, both recomputed) and the
    swap-permutation p-value; None when a side's value is undefined."""
    value_a = float(compute(a_inputs, _subset(lists_a, rows_a)))
    value_b = float(compute(b_inputs, _subset(lists_b, rows_b)))
    if not (math.isfinite(value_a) and math.isfinite(value_b)):
        return None
    delta = value_b - value_a
    n = rows_a.size
    draws = np.empty(n_boot)
    for j in range(n_boot):
        pick = rng.integers(0, n, n)
        draws[j] = compute(b_inputs, _subset(lists_b, rows_b[pick])) - compute(
            a_inputs, _subset(lists_a, rows_a[pick])
        )
    finite = draws[np.isfinite(draws)]
    tail = (1.0 - LEVEL) / 2.0
    low, high = math.nan, math.nan
    if finite.size:
        low, high = (float(q) for q in np.quantile(finite, [tail, 1.0 - tail]))
    p_value = math.nan
    if swappable:
        items_a, items_b = lists_a.items[rows_a], lists_b.items[rows_b]
        beyond = 0
        for _ in range(n_boot):
            swap = rng.random(n) < 0.5
            side_a = np.where(swap[:, None], items_b, items_a)
            side_b = np.where(swap[:, None], items_a, items_b)
            flipped = compute(b_inputs, _subset(lists_b, rows_b, side_b)) - compute(
                a_inputs, _subset(lists_a, rows_a, side_a)
            )
            beyond += abs(flipped) >= abs(delta) - 1e-12
        p_value = 1.0 if delta == 0 else (1 + beyond) / (n_boot + 1)
    return {"a": value_a, "b": value_b, "delta": delta, "ci_low": low, "ci_high": high, "p_value": p_value}


def _user_group_tests(
    a: AuditResult, b: AuditResult, a_inputs: AuditInputs, metrics: list[str], *, n_boot: int, seed: int
) -> pd.DataFrame:
    """Each per-user metric's paired test within each of A's user groups (activity, popularity)."""
    from recaudit.metrics.groups import user_group_labels
    from recaudit.metrics.stats import paired_test

    labels = user_group_labels(a_inputs)
    users = pd.Index(a_inputs.lists.user_ids.astype(str))
    pairs = {metric: _paired(a, b, metric) for metric in metrics}
    rows = []
    for grouping, label in labels.items():
        by_user = pd.Series(np.asarray(label, dtype=object), index=users)
        for group in sorted({str(g) for g in by_user}):
            members = by_user.index[by_user.astype(str) == group]
            for metric in metrics:
                pair = pairs[metric][pairs[metric].index.isin(members)]
                if pair.empty:
                    continue
                test = paired_test(pair["b"].to_numpy(), pair["a"].to_numpy(), n_boot=n_boot, seed=seed)
                rows.append({
                    "grouping": grouping, "group": group, "metric": metric,
                    "a": float(pair["a"].mean()), "b": float(pair["b"].mean()),
                    "delta": test["mean_diff"], "ci_low": test["ci_low"], "ci_high": test["ci_high"],
                    "p_value": test["p_value"], "n_users": int(test["n_pairs"]),
                })  # fmt: skip
    return pd.DataFrame(rows, columns=list(USER_GROUP_COLUMNS))


def _item_group_tests(
    inputs: AuditInputs, lists_a: RecLists, rows_a: np.ndarray, lists_b: RecLists, rows_b: np.ndarray,
    draws: int, rng: np.random.Generator,
) -> pd.DataFrame:  # fmt: skip
    """Exposure share per item group, B − A, on one catalogue: users resampled (both recomputed) for the
    CI, each user's lists swapped with probability 1/2 for the p-value; all groups of all columns at once
    per draw."""
    from recaudit.metrics.engine import ITEM_GROUP_COLUMNS as COLUMNS
    from recaudit.metrics.lists import membership_matrix

    matrices, labels = [], []
    for column in COLUMNS:
        if column not in inputs.items.columns:
            continue
        matrix, names = inputs.memberships.get(column) or membership_matrix(
            inputs.items[column].to_numpy(dtype=object), multi=False
        )
        matrices.append(matrix.T.tocsr().astype(np.float64))
        labels += [(column, str(name)) for name in names]
    if not matrices:
        return pd.DataFrame(columns=list(ITEM_GROUP_COLUMNS))
    member = np.vstack([m.toarray() for m in matrices]) if len(matrices) > 1 else matrices[0].toarray()
    member = (member > 0).astype(np.float64)
    items_a, items_b = lists_a.items[rows_a], lists_b.items[rows_b]

    def shares(items: np.ndarray) -> np.ndarray:
        x = RecLists(np.arange(len(items)), items, lists_a.item_ids).position_exposure()
        total = x.sum()
        return member @ x / total if total > 0 else np.full(len(member), np.nan)

    base_a, base_b = shares(items_a), shares(items_b)
    delta = base_b - base_a
    n = rows_a.size
    boot = np.empty((draws, len(member)))
    beyond = np.zeros(len(member))
    for j in range(draws):
        pick = rng.integers(0, n, n)
        boot[j] = shares(items_b[pick]) - shares(items_a[pick])
        swap = rng.random(n) < 0.5
        flipped = shares(np.where(swap[:, None], items_a, items_b)) - shares(
            np.where(swap[:, None], items_b, items_a)
        )
        beyond += np.abs(flipped) >= np.abs(delta) - 1e-12
    tail = (1.0 - LEVEL) / 2.0
    low, high = np.nanquantile(boot, [tail, 1.0 - tail], axis=0)
    p_value = np.where(delta == 0, 1.0, (1 + beyond) / (draws + 1))
    return pd.DataFrame({
        "column": [c for c, _ in labels], "group": [g for _, g in labels], "a": base_a, "b": base_b,
        "delta": delta, "ci_low": low, "ci_high": high, "p_value": p_value,
    })[list(ITEM_GROUP_COLUMNS)]  # fmt: skip


def _movers(a: AuditResult, b: AuditResult, metric: str, n: int) -> pd.DataFrame:
    """The ``n`` users who gained most and the ``n`` who lost most on ``metric`` (ties by user id)."""
    pair = _paired(a, b, metric)
    pair["delta"] = pair["b"] - pair["a"]
    pair = pair.rename_axis(USER_ID).reset_index()
    pair[USER_ID] = pair[USER_ID].astype(str)
    gained = pair[pair["delta"] > 0].sort_values(["delta", USER_ID], ascending=[False, True]).head(n)
    lost = pair[pair["delta"] < 0].sort_values(["delta", USER_ID], ascending=[True, True]).head(n)
    out = pd.concat([gained.assign(direction="gained"), lost.assign(direction="lost")], ignore_index=True)
    return out[list(MOVER_COLUMNS)]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict("records"):
        out.append(
            {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
        )
    return out


def comparison_metrics(comparison: Comparison) -> Sequence[str]:
    """The metrics the comparison holds, in table order (for gate checks)."""
    return list(comparison.table["metric"])


__all__ = ["Comparison", "compare_audits", "compare_bundles", "comparison_metrics"]


compare_bundles = compare_sources
"""Two bundles compared: :func:`compare_sources` (the name callers of two bundles know)."""
