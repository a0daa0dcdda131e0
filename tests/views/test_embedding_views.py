"""The Embedding map page's tables (``recaudit.views.embedding``) and the kNN behind them
(``recaudit.scoring.neighbours``), checked by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import load_bundle
from recaudit.scoring.neighbours import NeighbourIndex
from recaudit.views import embedding as views
from recaudit.views.projection import ProjectionParams


def test_nearest_neighbours_by_hand() -> None:
    # unit vectors at angles 0°, 10°, 90°, 180°: from item 0 the order is 1 (cos 10°), 2 (0), 3 (−1)
    angles = np.deg2rad([0.0, 10.0, 90.0, 180.0])
    vectors = np.column_stack([np.cos(angles), np.sin(angles)]).astype(np.float32) * [[1], [3], [2], [5]]
    index = NeighbourIndex(vectors, "cosine")
    rows, sims = index.search(np.array([0, 2]), n=3)
    assert rows[0].tolist() == [1, 2, 3]
    np.testing.assert_allclose(sims[0], [np.cos(np.deg2rad(10)), 0.0, -1.0], atol=1e-6)
    # from item 2 (90°): 1 (cos 80°), 0 (0), 3 (0): ties keep faiss's order, both at 0
    assert rows[1][0] == 1 and set(rows[1][1:].tolist()) == {0, 3}
    # asking for more neighbours than there are other items pads with -1 / NaN
    rows, sims = index.search(np.array([0]), n=5)
    assert rows[0].tolist() == [1, 2, 3, -1, -1] and np.isnan(sims[0, 3:]).all()


def test_nearest_neighbours_skip_self_even_behind_a_duplicate() -> None:
    index = NeighbourIndex(np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32), "cosine")
    rows, _ = index.search(np.array([0, 1]), n=2)
    assert rows[0].tolist() == [1, 2] and rows[1].tolist() == [0, 2]


def test_primary_categories_and_health_frame() -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "category": ["x|y", None, "z"]})
    assert views.item_primary_categories(items).tolist() == ["x", "", "z"]
    assert views.item_primary_categories(items.drop(columns="category")) is None
    result = {
        "hubness": {"skewness": 2.5, "top_hubs": [(2, 9)], "k": 10, "n_items": 3},
        "norm_popularity_correlation": 0.4,
        "anisotropy": 0.05,
        "effective_dimensionality": 7.0,
        "help": {"hubness": "hubs", "anisotropy": "cone"},
    }
    table = views.health_frame(result)
    assert table["measure"].tolist() == list(views.HEALTH_KEYS)
    assert table["value"].tolist() == [2.5, 0.4, 0.05, 7.0]
    assert table["what a bad value means"].tolist() == ["hubs", "", "cone", ""]
    hubs = views.top_hubs_frame(result, items.assign(title=["A", "B", "C"]))
    assert hubs.to_dict("records") == [{"item_id": "c", "title": "C", "N_k": 9}]


@pytest.mark.parametrize("broken", [True, False])
def test_stored_item_map_is_used_only_when_it_matches(tiny_bundle_dir: Path, broken: bool) -> None:
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    ids = bundle.items["item_id"].astype(str).to_numpy()
    xy = np.arange(120, dtype=np.float32).reshape(60, 2)
    bundle.item_map = pd.DataFrame({"item_id": ids[::-1] if broken else ids, "x": xy[:, 0], "y": xy[:, 1]})
    bundle.manifest["projection"] = {**ProjectionParams(method="pca").to_dict(), "seconds": 0.5}
    stored = views.stored_item_map(bundle)
    if broken:
        assert stored is None
    else:
        assert stored is not None and stored.params.method == "pca" and stored.seconds == 0.5
        np.testing.assert_array_equal(stored.xy, xy)
