"""The new-user curve: who is held out, what is revealed, and the comparison on the sample world."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import Bundle, load_bundle
from recaudit.models import MFConfig
from recaudit.models.registry import MODEL_KINDS
from recaudit.workflows.coldstart import CURVE_COLUMNS, held_out_histories, new_user_curve
from recaudit.workflows.train import bundle_from_model

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def test_test_users_are_treated_as_unknown_when_the_model_knows_them_all(tiny_bundle_dir: Path) -> None:
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    histories, rule = held_out_histories(bundle, min_rows=2)
    assert rule == "test"
    test = bundle.test
    assert set(histories) == set(test["user_id"])
    user = sorted(histories)[0]
    mine = test[test["user_id"] == user].sort_values("timestamp", kind="mergesort")
    assert bundle.item_ids[histories[user]].tolist() == mine["item_id"].tolist()  # training rows ignored


def test_unknown_users_are_held_out_in_time_order_and_short_ones_dropped(tiny_bundle_dir: Path) -> None:
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    rows = pd.DataFrame({
        "user_id": ["new1", "new1", "new1", "new2", "u00", "new1"],
        "item_id": ["i03", "i01", "zz", "i02", "i05", "i07"],
        "timestamp": [30, 10, 5, 1, 1, 20],
    })
    histories, rule = held_out_histories(bundle, rows, min_rows=2)
    assert rule == "unknown"
    assert list(histories) == ["new1"]  # new2 has one row; u00 is known; zz is not in the catalogue
    assert bundle.item_ids[histories["new1"]].tolist() == ["i01", "i07", "i03"]
    with pytest.raises(ValueError, match="at least 5 interactions"):
        held_out_histories(bundle, rows, min_rows=5)


def test_curve_frame_and_the_known_answers_at_n_0(tiny_bundle_dir: Path) -> None:
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    curve = new_user_curve(bundle, ns=(0, 1), n_boot=200)  # the tiny test set has 2 items per user
    assert tuple(curve.columns) == CURVE_COLUMNS
    assert curve[["method", "n"]].values.tolist() == [
        [m, n] for n in (0, 1) for m in ("foldin", "meta", "popularity")
    ]
    assert (curve["ci_low"] <= curve["ndcg"]).all() and (curve["ndcg"] <= curve["ci_high"]).all()
    assert curve["n_users"].nunique() == 1  # the same users at every n
    assert curve.attrs["held_out"] == "test"
    again = new_user_curve(bundle, ns=(1, 0), n_boot=200)
    pd.testing.assert_frame_equal(curve, again)
    with pytest.raises(ValueError, match="unknown methods"):
        new_user_curve(bundle, methods=("maml",))


@pytest.fixture(scope="module")
def sample_model() -> Bundle:
    """A short mf run on every third warm user of the committed sample world (about 20 s on one core):
    the planted cold users (``cold_interactions``) stay unknown to it."""
    inter = pd.read_parquet(SAMPLE / "interactions.parquet", columns=["user_id", "item_id", "timestamp"])
    train = inter[inter["user_id"].isin(np.sort(inter["user_id"].unique())[::3])].reset_index(drop=True)
    config = MFConfig(dim=32, epochs=5, refit=False, valid_fraction=0.0, patience=0)
    model = MODEL_KINDS["mf"].train(train, config)
    return bundle_from_model(model, train=train, test=None, items=None, sources={}, seconds=0.0)


def test_on_the_sample_world_new_user_vectors_beat_popularity(sample_model: Bundle) -> None:
    cold = pd.read_parquet(SAMPLE / "cold_interactions.parquet")
    curve = new_user_curve(sample_model, cold, n_boot=300).set_index(["method", "n"])
    assert curve.attrs["held_out"] == "unknown"
    assert curve["n_users"].min() >= 200  # planted cold users with 11+ interactions
    ndcg = curve["ndcg"]
    for method in ("foldin", "meta"):
        assert ndcg[method, 10] > curve.loc[("popularity", 10), "ci_high"], curve
    assert ndcg["meta", 1] >= ndcg["foldin", 1], curve
    # the prior's answer for an unknown user is popularity-like, not worse than popularity's interval
    assert ndcg["meta", 0] >= curve.loc[("popularity", 0), "ci_low"], curve
