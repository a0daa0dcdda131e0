"""The registry and evaluate(): names, requirements, hand-checked values, CIs, breakdowns, JSON."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.metrics import AuditInputs, evaluate, parse_metric
from tests.audit_fixtures import audit_frames


def _frames() -> dict[str, pd.DataFrame]:
    return audit_frames()


def test_parse_metric() -> None:
    spec, k = parse_metric("ndcg@10")
    assert (spec.name, spec.kind, k) == ("ndcg", "user", 10)
    for bad in ("ndcg", "nope@10", "gini@0"):
        with pytest.raises(ValueError):
            parse_metric(bad)


def test_hand_computed_values_and_skips() -> None:
    f = _frames()
    inputs = AuditInputs.from_frames(f["recs"], f["train"], test=f["test"], items=f["items"])
    result = evaluate(inputs, ks=(2,), n_boot=200)
    v = result.values
    # users a, b (lists) and c (test only, no list). a: hit at rank 2 (i2); b: i9 not in catalogue; c: none
    assert v["recall@2"] == pytest.approx((1 + 0 + 0) / 3)
    assert v["ndcg@2"] == pytest.approx(((1 / math.log2(3)) / 1 + 0 + 0) / 3)
    assert v["precision@2"] == pytest.approx((0.5 + 0 + 0) / 3)
    # exposure: c = [2, 1, 1, 0] over 4 items -> coverage 3/4; Gini over sorted [0, 1, 1, 2], n = 4, sum 4
    assert v["coverage@2"] == pytest.approx(0.75)
    assert v["gini@2"] == pytest.approx(((-3) * 0 + (-1) * 1 + 1 * 1 + 3 * 2) / (4 * 4))
    # popularity phi = [1, 0, 0, 3] (i1..i4): arp of a's list (i1, i2) = 0.5, of b's (i1, i3) = 0.5
    assert v["arp@2"] == pytest.approx(0.5)
    assert "ild@2" in result.skipped and "item_emb" in result.skipped["ild@2"]
    assert "ild_category@2" in v and "miscalibration@2" in v
    low, high = result.ci["recall@2"]
    assert low <= v["recall@2"] <= high
    assert set(result.user_groups) == {"activity", "popularity"}
    provider = result.item_groups["provider@2"].set_index("group")
    assert provider.loc["P", "catalog_share"] == pytest.approx(0.5)
    assert "exposure_disparity[provider]@2" in v


def test_to_dict_is_json_with_metric_names_on_top(tmp_path: Path) -> None:
    f = _frames()
    inputs = AuditInputs.from_frames(f["recs"], f["train"], test=f["test"], items=f["items"])
    result = evaluate(inputs, ["ndcg@2", "gini@2", "aplt@1"], n_boot=50)
    path = result.save(tmp_path / "audit.json")
    data = json.loads(path.read_text())
    assert {"ndcg@2", "gini@2", "aplt@1", "groups", "ci", "info"} <= set(data)
    assert data["info"]["fingerprints"]["recs"] == inputs.fingerprints["recs"]
    frame = result.to_frame().set_index("metric")
    assert frame.loc["gini@2", "kind"] == "catalogue" and np.isnan(frame.loc["gini@2", "ci_low"])


def test_requested_metric_that_cannot_be_computed() -> None:
    f = _frames()
    inputs = AuditInputs.from_frames(f["recs"], f["train"], items=f["items"])  # no test
    with pytest.raises(ValueError, match="needs test"):
        evaluate(inputs, ["ndcg@2"])
    result = evaluate(inputs, ks=(2,), ci=False)
    assert "ndcg@2" in result.skipped and "coverage@2" in result.values


def test_user_and_item_column_breakdowns_and_paired_compare() -> None:
    from recaudit.metrics import compare

    f = _frames()
    users = pd.DataFrame({"user_id": ["a", "b"], "country": ["FR", "DE"]})
    inputs = AuditInputs.from_frames(f["recs"], f["train"], test=f["test"], items=f["items"], users=users)
    result = evaluate(inputs, ks=(2,), ci=False, user_columns=["country"], item_columns=["provider"])
    country = result.user_groups["country"]
    assert country.loc["FR", "recall@2"] == pytest.approx(1.0)  # a's only test item is at rank 2
    assert country.loc["unknown", "n_users"] == 1  # c is not in the users table
    assert set(result.item_groups) == {"provider@2"}
    # a second "model" that misses a's item: the paired difference in recall is -1/3 on the shared users
    worse = f["recs"].replace({"item_id": {"i2": "i4"}})
    worse_inputs = AuditInputs.from_frames(worse, f["train"], test=f["test"], items=f["items"])
    other = evaluate(worse_inputs, ks=(2,), ci=False)
    table = compare(result, other, ["recall@2"], n_boot=200).set_index("metric")
    assert table.loc["recall@2", "mean_diff"] == pytest.approx(-1 / 3)
