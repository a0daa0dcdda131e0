"""The Embedding map page and ``recaudit.app.map``.

AppTest on the tiny bundles of ``conftest.py`` with a PCA map (UMAP's numba compilation would cost tens of
seconds; the page code is the same for both): the page opens with the user's history, top-k and position
drawn; a box selection seeded through ``session_state`` lists the selected items with their nearest
neighbours exactly as a brute-force cosine search says; searching an item zooms to it. The pure helpers are
checked by hand.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from recaudit.app import map as app_map
from recaudit.app import shell as support
from recaudit.bundle import load_bundle
from recaudit.textsafe import md_text
from recaudit.views.projection import ProjectionParams, project_items
from tests.apptest_helpers import decode, frame, plotly_spec

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/embedding_map.py"
PCA = ProjectionParams(method="pca").to_dict()


def open_map(bundle_dir: Path, **state: object) -> AppTest:
    """The Embedding map page on bundle ``alpha`` with a PCA map (through ``app.py`` once registered)."""
    registered = any(p.path == PAGE for p in support.PAGES)
    at = AppTest.from_file(APP if registered else str(ROOT / PAGE), default_timeout=120)
    at.session_state[support.BUNDLE_DIR_KEY] = str(bundle_dir)
    at.session_state[support.SELECTED_BUNDLE] = "alpha"
    at.session_state[app_map.MAP_PARAMS] = PCA
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    return at.switch_page(PAGE).run() if registered else at


@pytest.fixture(autouse=True)
def map_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Maps computed by the page are cached on disk: keep them out of the repository."""
    monkeypatch.setenv("RECAUDIT_CACHE_DIR", str(tmp_path / "projections"))


def traces(spec: dict) -> dict[str, dict]:
    return {t.get("name"): t for t in spec["data"]}


def test_map_page_opens_with_the_users_overlays(tiny_bundle_dir: Path) -> None:
    at = open_map(tiny_bundle_dir, **{support.SELECTED_USER: "u03"})
    assert not at.exception, at.exception
    assert not at.error
    assert "Embedding map" in at.title[0].value
    spec = plotly_spec(at, "embedding_map")
    by_name = traces(spec)
    assert all(t["type"] == "scattergl" for t in spec["data"])
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    history = np.sort(bundle.seen[bundle.user_row["u03"]].indices)
    shown = by_name["history of u03"]
    assert np.array_equal(decode(shown["customdata"]).reshape(-1), history)
    assert len(decode(by_name["top-10 for u03"]["customdata"]).reshape(-1)) == 10
    assert "user u03" in by_name
    # the item cloud: every one of the 60 items once (cap 50k > 60), coordinates as float32
    cloud = [t for name, t in by_name.items() if not name.startswith(("history", "top-", "user"))]
    rows = np.concatenate([decode(t["customdata"]).reshape(-1, 3)[:, 0] for t in cloud])
    assert sorted(rows.tolist()) == list(range(60))
    assert all(t["x"]["dtype"] == "f4" for t in cloud)
    assert any("showing 60 of 60 items" in c.value for c in at.caption)
    assert [m.label for m in at.metric][:4] == list(app_map.HEALTH_KEYS)


def test_box_selection_lists_items_with_their_nearest_neighbours(tiny_bundle_dir: Path) -> None:
    at = open_map(tiny_bundle_dir)
    picked = [7, 42, 3]
    at.session_state["embedding_map"] = {
        "selection": {
            "points": [
                {"curve_number": 0, "point_index": i, "customdata": [r, 1, -1]} for i, r in enumerate(picked)
            ],
            "point_indices": [0, 1, 2],
            "box": [],
            "lasso": [],
        }
    }
    at.run()
    assert not at.exception, at.exception
    table = frame(at, "map_selection")
    assert table["item_id"].tolist() == ["i07", "i42", "i03"]
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    unit = bundle.item_emb / np.linalg.norm(bundle.item_emb, axis=1, keepdims=True)
    for row, ids in zip(picked, table["neighbour_ids"], strict=True):
        cos = unit @ unit[row]
        cos[row] = -np.inf
        expected = [f"i{j:02d}" for j in np.argsort(-cos, kind="stable")[:5]]
        assert ids.split("; ") == expected


def test_finding_an_item_highlights_it_and_zooms(tiny_bundle_dir: Path) -> None:
    at = open_map(tiny_bundle_dir)
    at.text_input(key="map_item_query").input("Title i17").run()
    assert not at.exception, at.exception
    spec = plotly_spec(at, "embedding_map")
    found = traces(spec)["found item"]
    assert decode(found["customdata"]).reshape(-1).tolist() == [17]
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    xy = project_items(bundle.item_emb, bundle.item_ids, ProjectionParams(method="pca")).xy
    x_range = spec["layout"]["xaxis"]["range"]
    assert x_range[0] < xy[17, 0] < x_range[1]
    assert x_range[1] - x_range[0] < np.ptp(xy[:, 0])


def test_domain_filter_and_cap(tiny_bundle_dir: Path) -> None:
    at = open_map(tiny_bundle_dir)
    at.selectbox(key="map_domain").select("books").run()
    assert not at.exception, at.exception
    assert any("of 30 items" in c.value for c in at.caption)


# ------------------------------------------------------------------------------------- pure helpers


def test_nearest_neighbours_by_hand() -> None:
    # unit vectors at angles 0°, 10°, 90°, 180°: from item 0 the order is 1 (cos 10°), 2 (0), 3 (−1)
    angles = np.deg2rad([0.0, 10.0, 90.0, 180.0])
    vectors = np.column_stack([np.cos(angles), np.sin(angles)]).astype(np.float32) * [[1], [3], [2], [5]]
    unit = app_map.normalised(vectors)
    index = faiss.IndexFlatIP(2)
    index.add(unit)
    rows, sims = app_map.nearest_neighbours(index, unit, np.array([0, 2]), n=3)
    assert rows[0].tolist() == [1, 2, 3]
    np.testing.assert_allclose(sims[0], [np.cos(np.deg2rad(10)), 0.0, -1.0], atol=1e-6)
    # from item 2 (90°): 1 (cos 80°), 0 (0), 3 (0): ties keep faiss's order, both at 0
    assert rows[1][0] == 1 and set(rows[1][1:].tolist()) == {0, 3}
    # asking for more neighbours than there are other items pads with -1 / NaN
    rows, sims = app_map.nearest_neighbours(index, unit, np.array([0]), n=5)
    assert rows[0].tolist() == [1, 2, 3, -1, -1] and np.isnan(sims[0, 3:]).all()


def test_nearest_neighbours_skip_self_even_behind_a_duplicate() -> None:
    unit = app_map.normalised(np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32))
    index = faiss.IndexFlatIP(2)
    index.add(unit)
    rows, _ = app_map.nearest_neighbours(index, unit, np.array([0, 1]), n=2)
    assert rows[0].tolist() == [1, 2] and rows[1].tolist() == [0, 2]


def test_primary_categories_and_health_frame() -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "category": ["x|y", None, "z"]})
    assert app_map.primary_categories(items).tolist() == ["x", None, "z"]
    assert app_map.primary_categories(items.drop(columns="category")) is None
    result = {
        "hubness": {"skewness": 2.5, "top_hubs": [(2, 9)], "k": 10, "n_items": 3},
        "norm_popularity_correlation": 0.4,
        "anisotropy": 0.05,
        "effective_dimensionality": 7.0,
        "help": {"hubness": "hubs", "anisotropy": "cone"},
    }
    table = app_map.health_frame(result)
    assert table["measure"].tolist() == list(app_map.HEALTH_KEYS)
    assert table["value"].tolist() == [2.5, 0.4, 0.05, 7.0]
    assert table["what a bad value means"].tolist() == ["hubs", "", "cone", ""]
    hubs = app_map.top_hubs_frame(result, items.assign(title=["A", "B", "C"]))
    assert hubs.to_dict("records") == [{"item_id": "c", "title": "C", "N_k": 9}]


@pytest.mark.parametrize("broken", [True, False])
def test_stored_item_map_is_used_only_when_it_matches(tiny_bundle_dir: Path, broken: bool) -> None:
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    ids = bundle.items["item_id"].astype(str).to_numpy()
    xy = np.arange(120, dtype=np.float32).reshape(60, 2)
    bundle.item_map = pd.DataFrame({"item_id": ids[::-1] if broken else ids, "x": xy[:, 0], "y": xy[:, 1]})
    bundle.manifest["projection"] = {**ProjectionParams(method="pca").to_dict(), "seconds": 0.5}
    stored = app_map.stored_item_map(bundle)
    if broken:
        assert stored is None
    else:
        assert stored is not None and stored.params.method == "pca" and stored.seconds == 0.5
        np.testing.assert_array_equal(stored.xy, xy)


def test_colour_by_exposure_counts_the_lists_holding_each_item(tiny_bundle_dir: Path) -> None:
    from recaudit.workflows.audit import bundle_recommendations

    at = open_map(tiny_bundle_dir)
    at.selectbox(key="map_colour").select("exposure").run()
    assert not at.exception, at.exception
    cloud = traces(plotly_spec(at, "embedding_map"))["items"]
    rows = decode(cloud["customdata"]).reshape(-1, 3)[:, 0]
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    recs = bundle_recommendations(bundle, 10)  # the 30 held-out users' top-10, seen items excluded
    expected = recs["item_id"].value_counts().reindex(bundle.item_ids, fill_value=0).to_numpy()
    np.testing.assert_array_equal(decode(cloud["marker"]["color"]), expected[rows].astype(np.float32))
    assert decode(cloud["marker"]["color"]).sum() == 30 * 10


def test_on_demand_map_shows_its_step_while_the_rest_of_the_page_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bundle without a stored map: the first visit shows a progress box (step, elapsed) and the
    embedding health at once; the map appears on the next run after the background job is done. The
    projection is held on an event, so nothing here depends on how fast UMAP or numba are."""
    import threading

    from tests.conftest import build_tiny_bundles

    bundles = build_tiny_bundles(tmp_path / "bundles", with_map=False)
    release = threading.Event()
    real = app_map.project_items

    def held(*args: object, **kwargs: object):  # noqa: ANN202 - the real function's ItemMap
        kwargs["progress"]("UMAP of 60 points: neighbour graph, then layout", 0.3)
        assert release.wait(60), "the test never released the projection"
        return real(*args, **kwargs)

    monkeypatch.setattr(app_map, "project_items", held)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[support.BUNDLE_DIR_KEY] = str(bundles)
    at.session_state[support.SELECTED_BUNDLE] = "alpha"
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert not [e for e in at.get("plotly_chart") if "embedding_map" in e.proto.id]
    labels = [s.label for s in at.get("status")]
    assert any(label.startswith("Computing the UMAP map: ") for label in labels), labels
    progress = at.get("progress")
    assert progress and progress[0].proto.text == "UMAP of 60 points: neighbour graph, then layout"
    assert [m.label for m in at.metric][:4] == list(app_map.HEALTH_KEYS)  # the rest is already there

    release.set()
    bundle = load_bundle(bundles / "alpha")
    state = app_map.existing_projection(bundle).wait(120)
    assert state.ok, state.error
    at.run()
    assert not at.exception, at.exception
    spec = plotly_spec(at, "embedding_map")
    assert any(t.get("name") == "history of u00" for t in spec["data"])
    assert not at.get("status")


def test_a_failed_on_demand_map_says_why_once_and_offers_a_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import build_tiny_bundles

    bundles = build_tiny_bundles(tmp_path / "bundles", with_map=False)
    calls: list[int] = []

    def broken(*args: object, **kwargs: object):  # noqa: ANN202
        calls.append(1)
        raise ValueError("UMAP returned non-finite coordinates")

    monkeypatch.setattr(app_map, "project_items", broken)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[support.BUNDLE_DIR_KEY] = str(bundles)
    at.session_state[support.SELECTED_BUNDLE] = "alpha"
    at.run()
    at.switch_page(PAGE).run()
    bundle = load_bundle(bundles / "alpha")
    app_map.existing_projection(bundle).wait(60)
    at.run()
    at.run()  # reruns do not start the failed projection again
    assert not at.exception, at.exception
    assert len(at.error) == 1
    why = md_text("ValueError: UMAP returned non-finite coordinates")
    assert at.error[0].value == f"could not compute the map: {why}"
    assert len(calls) == 1
    assert [m.label for m in at.metric][:4] == list(app_map.HEALTH_KEYS)
    at.button(key="map_retry").click().run()
    app_map.existing_projection(bundle).wait(60)
    assert len(calls) == 2
