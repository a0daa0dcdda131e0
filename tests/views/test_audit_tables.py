"""The audit pages' tables (``recaudit.views.audit_tables``) and the default audit users, by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import load_bundle
from recaudit.data.schema import USER_ID
from recaudit.metrics import AuditResult
from recaudit.metrics.groups import user_group_labels
from recaudit.report import to_json
from recaudit.views import audit_tables
from recaudit.workflows.audit import audit_inputs, audit_users, bundle_recommendations


def test_rerank_spec() -> None:
    assert audit_tables.rerank_spec("mmr", 0.3) == "mmr:0.3"
    assert audit_tables.rerank_spec("calibrated", 1.0) == "calibrated:1"
    assert audit_tables.rerank_spec("none", 0.5) is None and audit_tables.rerank_spec(None, 0.5) is None


def test_sample_users_is_seeded_and_sorted() -> None:
    users = [f"u{i:03d}" for i in range(100)]
    a = audit_tables.sample_users(users[::-1], 10, seed=3)
    assert a == audit_tables.sample_users(users, 10, seed=3)
    assert len(set(a)) == 10 and list(a) == sorted(a) and set(a) <= set(users)
    assert audit_tables.sample_users(users, 500) == tuple(users)


def test_audit_users_are_known_test_users(tiny_bundle_dir: Path) -> None:
    bundle = load_bundle(tiny_bundle_dir / "beta")  # beta lacks u37..u39, which have no test items anyway
    assert audit_users(bundle).tolist() == [f"u{u:02d}" for u in range(30)]
    extra = pd.DataFrame({USER_ID: ["u38", "ghost"], "item_id": ["i00", "i01"]})
    bundle.test = pd.concat([bundle.test, extra])
    assert "u38" not in audit_users(bundle) and "ghost" not in audit_users(bundle)


def test_user_group_labels_take_categorical_users_columns(tiny_bundle_dir: Path) -> None:
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    inputs = audit_inputs(bundle, bundle_recommendations(bundle, 10), k=10)
    users = pd.DataFrame({USER_ID: inputs.lists.user_ids})
    users["country"] = np.where(np.arange(len(users)) % 3 == 0, "fr", "de")
    users["age"] = np.arange(len(users)) + 18.5  # continuous: too many values to be a grouping
    labels = user_group_labels(inputs, users=users)
    assert list(labels) == ["activity", "popularity", "country"]
    assert labels["country"].tolist() == users["country"].tolist()
    # 6 training interactions each: every tiny user is "light" (5 < n <= 20)
    assert set(labels["activity"]) == {"light"}


def test_group_ci_table_by_hand() -> None:
    values = np.array([1.0, 0.0, np.nan, 0.5, 0.5, 1.0])
    labels = np.array(["a", "a", "a", "b", "b", "c"], dtype=object)
    table = audit_tables.group_ci_table(values, labels, n_boot=200, order=["c", "b", "a", "z"])
    table = table.set_index("group")
    assert table.index.tolist() == ["c", "b", "a", "z"]
    # a: users with a value 1 and 0 -> mean 0.5 (the NaN user is left out); b: 0.5; c: 1
    assert table["n_users"].tolist() == [1, 2, 3, 0]
    assert table["n"].tolist() == [1, 2, 2, 0]
    assert table.loc[["c", "b", "a"], "mean"].tolist() == [1.0, 0.5, 0.5]
    # overall mean over the 5 values: (1 + 0 + 0.5 + 0.5 + 1) / 5 = 0.6
    assert table.loc[["c", "b", "a"], "gap"].tolist() == pytest.approx([0.4, -0.1, -0.1])
    # a single value and a constant group have degenerate intervals; a's lies within [0, 1]
    assert (table.loc["c", "ci_low"], table.loc["c", "ci_high"]) == (1.0, 1.0)
    assert (table.loc["b", "ci_low"], table.loc["b", "ci_high"]) == (0.5, 0.5)
    assert 0.0 <= table.loc["a", "ci_low"] <= 0.5 <= table.loc["a", "ci_high"] <= 1.0
    assert math.isnan(table.loc["z", "mean"]) and math.isnan(table.loc["z", "ci_low"])


def test_comparison_table_and_json() -> None:
    base = AuditResult(values={"ndcg@10": 0.2, "gini@10": 0.5, "only_base@10": 1.0})
    other = AuditResult(values={"ndcg@10": 0.15, "gini@10": 0.4, "exposure_disparity[p]@10": math.inf})
    table = audit_tables.comparison_table(base, other, ["ndcg@10", "gini@10", "only_base@10"])
    assert table["metric"].tolist() == ["ndcg@10", "gini@10"]
    assert table["change"].tolist() == pytest.approx([-0.05, -0.1])
    loaded = json.loads(to_json(other))
    assert loaded["ndcg@10"] == 0.15 and loaded["gini@10"] == 0.4
    assert loaded["exposure_disparity[p]@10"] == "inf"
