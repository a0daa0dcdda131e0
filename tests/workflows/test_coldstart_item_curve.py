"""The new-item curve: which cold items are held out, the hit rule against real top-k lists, the parts."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import Bundle, load_bundle
from recaudit.models.coldstart import ColdStartConfig
from recaudit.models.registry import MODEL_KINDS
from recaudit.workflows.coldstart import ITEM_CURVE_COLUMNS, held_out_item_histories, new_item_curve
from recaudit.workflows.train import bundle_from_model

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture(scope="module")
def cold_bundle() -> Bundle:
    """A short coldstart run (learned gate) on every third warm user of the sample world; its planted cold
    items (in ``cold_interactions``) are in the catalogue from content alone."""
    inter = pd.read_parquet(SAMPLE / "interactions.parquet", columns=["user_id", "item_id", "timestamp"])
    train = inter[inter["user_id"].isin(np.sort(inter["user_id"].unique())[::3])].reset_index(drop=True)
    items = pd.read_parquet(SAMPLE / "items.parquet")
    config = ColdStartConfig(dim=32, epochs=5, blend="learned", seed=1)
    model = MODEL_KINDS["coldstart"].train(train, config, items=items)
    return bundle_from_model(model, train=train, test=None, items=items, sources={}, seconds=0.0)


@pytest.fixture(scope="module")
def cold_rows() -> pd.DataFrame:
    return pd.read_parquet(SAMPLE / "cold_interactions.parquet")


def test_held_out_items_are_cold_known_user_rows_in_time_order(cold_bundle: Bundle) -> None:
    cold_id = str(cold_bundle.model.cold_items[0])
    warm_id = str(cold_bundle.item_ids[cold_bundle.model.counts > 0][0])
    known = list(cold_bundle.user_ids[:3])
    rows = pd.DataFrame({
        "user_id": [known[2], known[0], "stranger", known[1], known[0], known[0]],
        "item_id": [cold_id, cold_id, cold_id, cold_id, warm_id, cold_id],
        "timestamp": [30, 10, 5, 20, 1, 40],
    })
    histories = held_out_item_histories(cold_bundle, rows, min_rows=2)
    assert list(histories) == [cold_id]  # the warm item is not held out; the stranger is not known
    assert list(cold_bundle.user_ids[histories[cold_id]]) == [known[0], known[1], known[2]]  # once each
    with pytest.raises(ValueError, match="at least 4 held-out interactions"):
        held_out_item_histories(cold_bundle, rows, min_rows=4)


def test_content_at_n_0_is_the_share_of_real_top_k_lists_that_hold_the_item(
    cold_bundle: Bundle, cold_rows: pd.DataFrame
) -> None:
    """At n = 0 a cold item's exported vector is its content vector, so the curve's hit rule must agree
    with the scorer's own top-k lists, computed here independently."""
    k = 10
    curve = new_item_curve(cold_bundle, cold_rows, ns=(0, 2), k=k, n_boot=100).set_index(["method", "n"])
    histories = held_out_item_histories(cold_bundle, cold_rows, min_rows=3)
    pairs = pd.DataFrame(
        [(cold_bundle.user_ids[u], item) for item, users in histories.items() for u in users[2:]],
        columns=["user_id", "item_id"],
    )
    recs = cold_bundle.exact_scorer("cpu").recommend(sorted(pairs["user_id"].unique()), k).to_frame()
    listed = set(zip(recs["user_id"], recs["item_id"], strict=True))
    pairs["hit"] = [(u, i) in listed for u, i in zip(pairs["user_id"], pairs["item_id"], strict=True)]
    expected = pairs.groupby("user_id")["hit"].mean().mean()
    assert curve.loc[("content", 0), "recall"] == pytest.approx(expected, abs=1e-12)
    assert curve.loc[("blend", 0), "recall"] == curve.loc[("content", 0), "recall"]  # blend at 0 = content
    assert curve.loc[("content", 2), "recall"] == curve.loc[("content", 0), "recall"]  # content ignores n
    assert curve["n_users"].nunique() == 1  # the same pairs for every n and method
    assert expected > 0.0


def test_the_parts_on_the_sample_world(cold_bundle: Bundle, cold_rows: pd.DataFrame) -> None:
    curve = new_item_curve(cold_bundle, cold_rows, k=20, n_boot=200)
    assert tuple(curve.columns) == ITEM_CURVE_COLUMNS
    assert curve.attrs["n_items"] >= 100 and curve.attrs["weights"][0] == 1.0
    recall = curve.set_index(["method", "n"])["recall"]
    assert recall["collaborative", 0] == 0.0  # no interactions, no collaborative vector
    for n in (1, 2, 5, 10):  # the bar: the blend is never below the better of its two parts
        assert recall["blend", n] >= max(recall["content", n], recall["collaborative", n]), curve
    assert recall["collaborative", 10] > 2 * recall["collaborative", 1]  # evidence accumulates
    assert (recall.xs("content", level="method") == recall["content", 0]).all()  # content ignores n
    assert curve.attrs["blend_rule"].startswith("learned: trained items collaborative alone; newcomers")
    pd.testing.assert_frame_equal(curve, new_item_curve(cold_bundle, cold_rows, k=20, n_boot=200))


def test_a_bundle_without_content_encoder_is_a_clear_error(tiny_bundle_dir: Path) -> None:
    with pytest.raises(ValueError, match="has no content encoder"):
        new_item_curve(load_bundle(tiny_bundle_dir / "alpha"))
    with pytest.raises(ValueError, match="unknown methods"):
        new_item_curve(load_bundle(tiny_bundle_dir / "alpha"), methods=("lightfm",))
