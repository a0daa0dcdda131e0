"""The Embedding map page and ``recaudit.app.map``.

AppTest on the tiny bundles of ``conftest.py`` with a PCA map (UMAP's numba compilation would cost tens of
seconds; the page code is the same for both): the page opens with the user's history, top-k and position
drawn; a box selection seeded through ``session_state`` lists the selected items with their nearest
neighbours exactly as a brute-force cosine search says; searching an item zooms to it. The tables behind the
page are tested in ``tests/views/test_embedding_views.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from recaudit.app import map as app_map
from recaudit.app import shell as support
from recaudit.bundle import load_bundle
from recaudit.textsafe import md_text
from recaudit.views.embedding import HEALTH_KEYS
from recaudit.views.projection import ProjectionParams, project_items
from tests.apptest_helpers import decode, frame, plotly_spec

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/embedding_map.py"
PCA = ProjectionParams(method="pca").to_dict()


def open_map(bundle_dir: Path, *, params: dict | None = PCA, **state: object) -> AppTest:
    """The Embedding map page on bundle ``alpha`` with a PCA map, or the page's default map with
    ``params=None`` (through ``app.py`` once registered)."""
    registered = any(p.path == PAGE for p in support.PAGES)
    at = AppTest.from_file(APP if registered else str(ROOT / PAGE), default_timeout=120)
    at.session_state[support.BUNDLE_DIR_KEY] = str(bundle_dir)
    at.session_state[support.SELECTED_BUNDLE] = "alpha"
    if params is not None:
        at.session_state[app_map.MAP_PARAMS] = params
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
    assert [m.label for m in at.metric][:4] == list(HEALTH_KEYS)


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
    at = open_map(bundles, params=None)
    assert not at.exception, at.exception
    assert not [e for e in at.get("plotly_chart") if "embedding_map" in e.proto.id]
    labels = [s.label for s in at.get("status")]
    step = "UMAP of 60 points: neighbour graph, then layout"
    label = re.compile(rf"Computing the UMAP map: \d+ s · {re.escape(step)}")
    assert any(label.fullmatch(lab) for lab in labels), labels
    progress = at.get("progress")
    assert progress and progress[0].proto.value == 30  # the step's fraction, 0.3
    assert [m.label for m in at.metric][:4] == list(HEALTH_KEYS)  # the rest is already there

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
    at = open_map(bundles, params=None)
    bundle = load_bundle(bundles / "alpha")
    app_map.existing_projection(bundle).wait(60)
    at.run()
    at.run()  # reruns do not start the failed projection again
    assert not at.exception, at.exception
    assert len(at.error) == 1
    why = md_text("ValueError: UMAP returned non-finite coordinates")
    assert at.error[0].value == f"could not compute the map: {why}"
    assert len(calls) == 1
    assert [m.label for m in at.metric][:4] == list(HEALTH_KEYS)
    at.button(key="map_retry").click().run()
    app_map.existing_projection(bundle).wait(60)
    assert len(calls) == 2


# ---- large maps: density overview with drill-down, user maps -------------------------------------


def test_above_the_density_threshold_the_map_draws_a_density_grid_and_a_box_drills_down(
    tiny_bundle_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the threshold lowered to 10 points (the 1M-item path on 60 items): a heatmap of all items under
    the sampled points; a box seeded as the chart's selection lists exactly the items whose map position
    lies inside it, drawn as points in the region chart."""
    from recaudit.views.density import THRESHOLD_ENV

    monkeypatch.setenv(THRESHOLD_ENV, "10")
    at = open_map(tiny_bundle_dir)
    assert not at.exception, at.exception
    spec = plotly_spec(at, "embedding_map")
    heat = [t for t in spec["data"] if t["type"] == "heatmap"]
    assert len(heat) == 1 and decode(heat[0]["customdata"]).sum() == 60
    assert spec["layout"]["dragmode"] == "select"
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    xy = project_items(bundle.item_emb, bundle.item_ids, ProjectionParams(method="pca")).xy
    x0, x1 = np.quantile(xy[:, 0], [0.2, 0.7])
    y0, y1 = np.quantile(xy[:, 1], [0.1, 0.9])
    box = {"xref": "x", "yref": "y", "x": [float(x0), float(x1)], "y": [float(y0), float(y1)]}
    at.session_state["embedding_map"] = {"selection": {"points": [], "point_indices": [], "box": [box],
                                                       "lasso": []}}  # fmt: skip
    at.run()
    assert not at.exception, at.exception
    inside = np.flatnonzero((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1))
    region = plotly_spec(at, "embedding_map_region")
    overlays = ("history", "top-", "user")
    cloud = [t for t in region["data"] if t["type"] == "scattergl" and not t["name"].startswith(overlays)]
    rows = np.concatenate([decode(t["customdata"]).reshape(-1, 3)[:, 0] for t in cloud])
    assert sorted(rows.tolist()) == inside.tolist()
    assert not [t for t in region["data"] if t["type"] == "heatmap"]
    x_range = region["layout"]["xaxis"]["range"]  # zoomed to the box, overlays outside it or not
    assert x_range[0] < x0 < x1 < x_range[1] and x_range[1] - x_range[0] < 1.1 * (x1 - x0)
    assert frame(at, "map_selection")["item_id"].tolist() == [f"i{r:02d}" for r in inside]


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic bundle (300 items, 80 users with a ``segment`` column, stored PCA map)."""
    from recaudit.bundle.synthetic import synthetic_bundle

    root = tmp_path_factory.mktemp("synthetic")
    synthetic_bundle(root / "synth", n_items=300, n_users=80, dim=8, n_categories=4, seed=3)
    return root


def open_synthetic(root: Path, view: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[support.BUNDLE_DIR_KEY] = str(root)
    at.session_state[support.SELECTED_BUNDLE] = "synth"
    at.session_state[app_map.MAP_PARAMS] = PCA
    at.run()
    at.switch_page(PAGE).run()
    at.radio(key="map_view").set_value(view).run()
    for _ in range(3):  # the projection runs in the background: rerun until it is drawn
        if at.get("plotly_chart") or at.exception:
            break
        app_map.existing_projection(load_bundle(root / "synth"), ProjectionParams(method="pca"),
                                    "users" if view == "users" else "joint").wait(60)  # fmt: skip
        at.run()
    return at


def test_user_map_colours_users_by_activity_and_by_a_users_table_column(synthetic_dir: Path) -> None:
    at = open_synthetic(synthetic_dir, "users")
    assert not at.exception, at.exception
    bundle = load_bundle(synthetic_dir / "synth")
    cloud = traces(plotly_spec(at, "user_map"))["users"]
    rows = decode(cloud["customdata"]).reshape(-1, 3)[:, 0]
    assert sorted(rows.tolist()) == list(range(80))
    activity = np.asarray(bundle.seen.sum(axis=1)).ravel()
    np.testing.assert_allclose(decode(cloud["marker"]["color"]), np.log10(1 + activity[rows]), rtol=1e-5)
    xy = project_items(bundle.user_emb, bundle.user_ids, ProjectionParams(method="pca")).xy
    np.testing.assert_allclose(decode(cloud["x"]), xy[rows, 0], rtol=1e-5)
    assert any("PCA of 80 user vectors" in c.value for c in at.caption)

    at.selectbox(key="user_map_colour").select("segment").run()
    assert not at.exception, at.exception
    by_name = traces(plotly_spec(at, "user_map"))
    assert {"light", "regular", "heavy"} <= set(by_name)
    heavy = decode(by_name["heavy"]["customdata"]).reshape(-1, 3)[:, 0]
    assert set(bundle.users["segment"].to_numpy()[heavy]) == {"heavy"}


def test_joint_map_projects_users_and_items_together(synthetic_dir: Path) -> None:
    at = open_synthetic(synthetic_dir, "users and items")
    assert not at.exception, at.exception
    by_name = traces(plotly_spec(at, "joint_map"))
    items = decode(by_name["items"]["customdata"]).reshape(-1, 3)[:, 0]
    users = decode(by_name["users"]["customdata"]).reshape(-1, 3)[:, 0]
    assert sorted(items.tolist()) == list(range(300))
    assert sorted(users.tolist()) == list(range(300, 380))
    bundle = load_bundle(synthetic_dir / "synth")
    stacked = np.concatenate([bundle.item_emb, bundle.user_emb])
    xy = project_items(stacked, np.arange(380).astype(str), ProjectionParams(method="pca")).xy
    np.testing.assert_allclose(decode(by_name["users"]["y"]), xy[users, 1], rtol=1e-4, atol=1e-5)
