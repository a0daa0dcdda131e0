"""``evaluate(inputs, metrics) -> AuditResult``: every requested metric, its CI and its group breakdowns.

One pass per cut-off k: the lists are truncated to k once, each registered metric computes its per-user
values (or one catalogue number), user-level means get a percentile-bootstrap CI over users, and per-user
values are broken down by activity bucket, by the niche/diverse/blockbuster popularity groups and by any
users-table column. Item-side breakdowns (exposure vs catalogue vs merit share, exposure disparity, per
category/provider/domain) and the popularity lift per user group come with them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recaudit._io import atomic_write_text, dumps_json, json_safe
from recaudit.data.schema import CATEGORY, DOMAIN, PROVIDER
from recaudit.metrics import coldstart, fairness, groups, popularity
from recaudit.metrics.inputs import AuditInputs
from recaudit.metrics.lists import membership_matrix
from recaudit.metrics.registry import (
    METRICS,
    NEED_TEXT,
    REFERENCE_ENGINE,
    default_metrics,
    missing_needs,
    parse_metric,
    relevance_functions,
)
from recaudit.metrics.stats import bootstrap_ci

ITEM_GROUP_COLUMNS = (PROVIDER, CATEGORY, DOMAIN)


@dataclass
class AuditResult:
    """The numbers of one audit, with what produced them.

    Attributes:
        values: ``{"ndcg@10": 0.13, "gini@10": 0.71, ...}`` (NaN = undefined, never a silent 0).
        ci: 95% bootstrap interval over users of every user-level metric.
        per_user: one row per audited user, one column per user-level metric.
        user_groups: ``{"activity": frame, "popularity": frame, <users column>: frame}``: the mean of
            each user-level metric per group, with group sizes.
        item_groups: ``{"provider@10": frame, ...}``: exposure, catalogue and merit shares per group.
        popularity_lift: ``{"popularity_lift@10": frame}``: GAP and ΔGAP per popularity group.
        coldstart: ``{"settings@10": frame, "item_buckets@10": frame, "bucket_exposure@10": frame}``, only
            when a cold-start metric was computed (some test item has no training interactions): ColdRec's
            all/warm/cold accuracy and the breakdowns by item bucket (:mod:`recaudit.metrics.coldstart`).
        skipped: metrics that could not be computed and why.
        info: settings, data description and fingerprints.
    """

    values: dict[str, float]
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    per_user: pd.DataFrame = field(default_factory=pd.DataFrame)
    user_groups: dict[str, pd.DataFrame] = field(default_factory=dict)
    item_groups: dict[str, pd.DataFrame] = field(default_factory=dict)
    popularity_lift: dict[str, pd.DataFrame] = field(default_factory=dict)
    coldstart: dict[str, pd.DataFrame] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per metric: value, CI bounds, kind (user/catalogue/group)."""
        rows = []
        for name, value in self.values.items():
            low, high = self.ci.get(name, (math.nan, math.nan))
            base = name.split("@")[0]
            kind = METRICS[base].kind if base in METRICS else "group"
            rows.append({"metric": name, "value": value, "ci_low": low, "ci_high": high, "kind": kind})
        return pd.DataFrame(rows, columns=["metric", "value", "ci_low", "ci_high", "kind"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: metric names at the top level, breakdowns under ``groups``."""
        out: dict[str, Any] = {name: _num(value) for name, value in self.values.items()}
        out["ci"] = {name: [_num(low), _num(high)] for name, (low, high) in self.ci.items()}
        out["groups"] = {
            "users": {name: _records(frame) for name, frame in self.user_groups.items()},
            "items": {name: _records(frame) for name, frame in self.item_groups.items()},
            "popularity_lift": {name: _records(frame) for name, frame in self.popularity_lift.items()},
        }
        if self.coldstart:  # absent for logs without cold test items, whose JSON is as before
            out["groups"]["coldstart"] = {name: _records(frame) for name, frame in self.coldstart.items()}
        out["skipped"] = dict(self.skipped)
        out["info"] = self.info
        return out

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as strict JSON (:func:`recaudit._io.dumps_json`), atomically."""
        return atomic_write_text(path, dumps_json(self.to_dict()))


def _num(value: object) -> float | str | None:
    """A metric value as strict JSON (:func:`recaudit._io.json_safe` of the float; None stays None)."""
    return None if value is None else json_safe(float(value))  # type: ignore[arg-type]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.reset_index() if frame.index.name else frame
    return [
        {key: (json_safe(v) if isinstance(v, (float, np.floating)) else v) for key, v in row.items()}
        for row in clean.to_dict(orient="records")
    ]


def evaluate(
    inputs: AuditInputs,
    metrics: Sequence[str] | None = None,
    *,
    ks: Sequence[int] = (10,),
    ci: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    activity_edges: tuple[int, ...] = (5, 20, 100),
    user_columns: Sequence[str] = (),
    item_columns: Sequence[str] = ITEM_GROUP_COLUMNS,
) -> AuditResult:
    """Compute metrics on aligned inputs.

    Args:
        inputs: from :meth:`AuditInputs.from_frames`.
        metrics: names with ``@k`` (``"ndcg@10"``); default: every default metric of the catalogue
            (:func:`recaudit.metrics.registry.default_metrics`) at each k of ``ks`` whose needs are met
            (the others are listed in ``skipped``).
        ks: cut-offs for the default metric set.
        ci: add 95% bootstrap CIs over users (``n_boot`` resamples, ``seed``).
        activity_edges: upper bounds of the cold/light/medium buckets of training interactions.
        user_columns: users-table columns to break user-level metrics down by.
        item_columns: items-table columns to break exposure down by (absent columns are skipped;
            ``category`` cells are split on ``|``, other columns taken whole).
    """
    skipped: dict[str, str] = {}
    if metrics is None:
        requested = [f"{name}@{k}" for k in ks for name in default_metrics()]
        explicit = False
    else:
        requested, explicit = list(metrics), True
    parsed = []
    for text in requested:
        spec, k = parse_metric(text)
        if k > inputs.lists.k:
            skipped[f"{spec.name}@{k}"] = f"the lists hold at most {inputs.lists.k} items"
            continue
        if REFERENCE_ENGINE not in spec.engines:
            skipped[f"{spec.name}@{k}"] = f"not available in the {REFERENCE_ENGINE} engine"
            continue
        lacking = missing_needs(spec, inputs)
        if lacking:
            skipped[f"{spec.name}@{k}"] = "needs " + ", ".join(NEED_TEXT.get(n, n) for n in lacking)
            continue
        parsed.append((spec, k))
    if explicit and not parsed:
        raise ValueError("none of the requested metrics can be computed: " + "; ".join(
            f"{name}: {why}" for name, why in skipped.items()
        ))
    values: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    per_user: dict[str, np.ndarray] = {}
    by_k: dict[int, Any] = {}
    for spec, k in parsed:
        lists = by_k.setdefault(k, inputs.lists.truncate(k))
        name = f"{spec.name}@{k}"
        result = spec.compute(inputs, lists)
        if spec.kind == "user":
            column = np.asarray(result, dtype=np.float64)
            per_user[name] = column
            finite = column[np.isfinite(column)]
            values[name] = float(finite.mean()) if finite.size else math.nan
            if ci:
                _, low, high = bootstrap_ci(column, n_boot=n_boot, seed=seed)
                intervals[name] = (float(low), float(high))
        else:
            values[name] = float(result)
    per_user_frame = pd.DataFrame(per_user, index=pd.Index(inputs.lists.user_ids, name="user_id"))
    result = AuditResult(values=values, ci=intervals, per_user=per_user_frame, skipped=skipped)
    _user_breakdowns(result, inputs, activity_edges, user_columns)
    _item_breakdowns(result, inputs, sorted(by_k), item_columns)
    cold_ks = sorted({k for spec, k in parsed if spec.family == "coldstart"})
    _coldstart_breakdowns(result, inputs, cold_ks, ci=ci, n_boot=n_boot, seed=seed)
    result.info = {
        "data": inputs.describe(),
        "fingerprints": dict(inputs.fingerprints),
        "settings": {
            "ks": sorted(by_k), "bootstrap": n_boot if ci else 0, "seed": seed,
            "activity_edges": list(activity_edges), "head_share": 0.8,
            "user_columns": list(user_columns), "item_columns": list(item_columns),
        },
    }
    return result


def _user_breakdowns(
    result: AuditResult, inputs: AuditInputs, edges: tuple[int, ...], columns: Sequence[str]
) -> None:
    if result.per_user.empty:
        return
    labels = groups.user_group_labels(inputs, edges=edges, users=inputs.users, columns=list(columns))
    for name, label in labels.items():
        frames = []
        for metric in result.per_user.columns:
            table = groups.group_means(result.per_user[metric].to_numpy(), label)
            frames.append(table.set_index("group")["mean"].rename(metric))
        sizes = pd.Series(label).value_counts().rename("n_users")
        result.user_groups[name] = pd.concat([sizes, *frames], axis=1).rename_axis("group")


def _item_breakdowns(
    result: AuditResult, inputs: AuditInputs, ks: list[int], columns: Sequence[str]
) -> None:
    for k in ks:
        lists = inputs.lists.truncate(k)
        for column in columns:
            if column not in inputs.items.columns:
                continue
            matrix, names = inputs.memberships.get(column) or membership_matrix(
                inputs.items[column].to_numpy(dtype=object), multi=False
            )
            table = fairness.group_exposure(lists, matrix, names, inputs.test)
            result.item_groups[f"{column}@{k}"] = table
            if inputs.test is not None:
                result.values[f"exposure_disparity[{column}]@{k}"] = fairness.exposure_disparity(table)
        labels = popularity.popularity_groups(inputs.train, inputs.head_mask, inputs.lists.user_ids)
        result.popularity_lift[f"popularity_lift@{k}"] = popularity.popularity_lift(
            lists, inputs.train, inputs.item_users, inputs.n_train_users, labels
        )


def _coldstart_breakdowns(
    result: AuditResult, inputs: AuditInputs, ks: list[int], *, ci: bool, n_boot: int, seed: int
) -> None:
    """ColdRec's all/warm/cold table and the item-bucket tables per k (docs/metrics.md "Cold start"), for
    the ks at which a cold-start metric was computed."""
    if inputs.test is None or inputs.n_relevant is None:
        return
    accuracy_fns = relevance_functions()
    for k in ks:
        lists = inputs.lists.truncate(k)
        result.coldstart[f"settings@{k}"] = coldstart.settings_table(
            lists, inputs.test, inputs.n_relevant, inputs.cold_items, accuracy_fns,
            ci=ci, n_boot=n_boot, seed=seed,
        )
        result.coldstart[f"item_buckets@{k}"] = coldstart.bucket_accuracy_table(
            lists, inputs.test, inputs.item_popularity, accuracy_fns, ci=ci, n_boot=n_boot, seed=seed
        )
        result.coldstart[f"bucket_exposure@{k}"] = coldstart.bucket_exposure_table(
            lists, inputs.item_popularity, ci=ci, n_boot=n_boot, seed=seed
        )


def compare(
    a: AuditResult, b: AuditResult, metrics: Sequence[str] | None = None, **kwargs: Any
) -> pd.DataFrame:
    """Paired comparison of two audits on the users they share, per user-level metric.

    For each metric: the mean difference b − a with its paired-bootstrap 95% interval and a sign-flip
    permutation p-value (:func:`recaudit.metrics.stats.paired_test`); ``kwargs`` go to it (``n_boot``,
    ``seed``). Users audited by only one side are left out.
    """
    from recaudit.metrics.stats import paired_test

    wanted = metrics or list(a.per_user.columns)
    names = [m for m in wanted if m in a.per_user.columns and m in b.per_user.columns]
    shared = a.per_user.index.intersection(b.per_user.index)
    rows = []
    for name in names:
        test = paired_test(  # d_u = b_u - a_u
            b.per_user.loc[shared, name].to_numpy(), a.per_user.loc[shared, name].to_numpy(), **kwargs
        )
        rows.append({"metric": name, "a": a.values.get(name), "b": b.values.get(name), **test})
    return pd.DataFrame(rows)
