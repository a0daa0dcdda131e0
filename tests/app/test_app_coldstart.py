"""The Cold start page in AppTest: it renders on a coldstart bundle and on a bundle without a content
encoder, its curves are the workflows' numbers, the new-item playground finds nearest items and reached
users, and onboarding a new user click by click produces the solver's list.

Expected values are recomputed here from the bundle (workflows, scorer, solvers) rather than read back from
the page's own helpers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from recaudit.app import shell as support
from recaudit.bundle import load_bundle
from recaudit.data.schema import ITEM_ID, TIMESTAMP, USER_ID
from recaudit.models.newusers import new_user_solver, row_lists
from recaudit.textsafe import WORD_JOINER
from recaudit.views.coldstart import METHOD_LABELS
from recaudit.workflows.coldstart import new_item_curve, new_user_curve
from tests.apptest_helpers import decode, find_block, frame, plotly_spec

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/cold_start.py"
K = 10


def open_page(bundle_dir: Path, bundle: str) -> AppTest:
    """The Cold start page on ``bundle`` of ``bundle_dir``, after its first run."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[support.BUNDLE_DIR_KEY] = str(bundle_dir)
    at.session_state[support.SELECTED_BUNDLE] = bundle
    at.run()
    return at.switch_page(PAGE).run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def chart_keys(at: AppTest) -> set[str]:
    return {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")}


def line(spec: dict, name: str) -> np.ndarray:
    """The y values of the legend trace ``name`` (the curve's line, not its band)."""
    traces = [t for t in spec["data"] if t.get("name") == name and t.get("mode") == "lines+markers"]
    assert len(traces) == 1, [t.get("name") for t in spec["data"]]
    return decode(traces[0]["y"]).astype(np.float64)


def plain(text: str) -> str:
    """Markdown text as it reads: :func:`recaudit.textsafe.md_text`'s escapes and word joiners removed."""
    return text.replace("\\", "").replace(WORD_JOINER, "")


def has_table(at: AppTest, key: str) -> bool:
    return find_block(at.main, key) is not None


@pytest.fixture(scope="module")
def coldstart_page(coldstart_bundle_dir: Path) -> AppTest:
    """The page on the coldstart bundle, first run (shared by the read-only tests)."""
    return open_page(coldstart_bundle_dir, "coldstart")


def test_page_renders_the_item_curve_and_the_landing_on_a_coldstart_bundle(
    coldstart_page: AppTest, coldstart_bundle_dir: Path
) -> None:
    at = coldstart_page
    assert_clean(at)
    assert "Cold start" in at.title[0].value
    assert {"cs_item_curve", "cs_rank_histogram"} <= chart_keys(at)
    bundle = load_bundle(coldstart_bundle_dir / "coldstart")
    expected = new_item_curve(bundle, k=K).set_index(["method", "n"])["recall"]
    spec = plotly_spec(at, "cs_item_curve")
    for method in ("content", "collaborative", "blend"):
        np.testing.assert_allclose(line(spec, method), expected[method].to_numpy(), rtol=1e-9)
    # the tiny test set gives no user 11 held-out rows: the user curve says so in one line
    assert any("No new-user curve: no held-out user" in plain(i.value) for i in at.info)
    # where cold items land: the page's share is the real lists' share
    recs = bundle.exact_scorer("cpu").recommend(list(bundle.user_ids), K)
    cold = bundle.item_popularity == 0
    in_list = recs.item_index >= 0
    with_cold = (np.where(in_list, cold[np.maximum(recs.item_index, 0)], False)).any(axis=1).mean()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Lists with a cold item"] == f"{with_cold:.3f}"
    assert metrics["Cold items in the catalogue"] == str(int(cold.sum()))
    hist = plotly_spec(at, "cs_rank_histogram")["data"][0]
    cold_at = np.where(in_list, cold[np.maximum(recs.item_index, 0)], False).sum(axis=0)
    np.testing.assert_array_equal(decode(hist["y"]), cold_at)
    buckets = frame(at, "cs_buckets").set_index("bucket")
    assert buckets.loc["0", "n_items"] == int(cold.sum())
    assert buckets.loc["0", "slot_share"] == pytest.approx(
        cold_at.sum() / in_list.sum(), abs=1e-4
    )  # bucket 0's slot share is cold_exposure_share


def test_page_renders_on_a_bundle_without_a_content_encoder(tiny_bundle_dir: Path) -> None:
    at = open_page(tiny_bundle_dir, "alpha")
    assert_clean(at)
    infos = [plain(i.value) for i in at.info]
    encoder = [i for i in infos if "no content encoder" in i]
    assert len(encoder) == 1 and "--content tfidf" in encoder[0]
    assert "cs_item_curve" not in chart_keys(at) and "cs_map" not in chart_keys(at)
    assert "cs_new_title" not in [t.key for t in at.text_input]
    # the parts that work for any bundle are there; alpha's one cold item (i18) is in no list
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    recs = bundle.exact_scorer("cpu").recommend(list(bundle.user_ids), K)
    cold_rows = np.flatnonzero(bundle.item_popularity == 0)
    assert len(cold_rows) == 1 and not np.isin(recs.item_index, cold_rows).any()
    assert [plain(w.value) for w in at.warning] == [
        "No top-10 list holds any of the 1 cold items: they are never recommended (a silent cold-start "
        "failure when new items should compete)."
    ]
    assert "cs_rank_histogram" not in chart_keys(at) and has_table(at, "cs_buckets")
    assert at.multiselect(key="cs_onboard") is not None and has_table(at, "cs_onboard_list")


def test_typing_a_new_item_finds_its_nearest_items_and_the_users_it_reaches(
    coldstart_bundle_dir: Path,
) -> None:
    at = open_page(coldstart_bundle_dir, "coldstart")
    assert not has_table(at, "cs_nearest") and not has_table(at, "cs_reached")
    at.text_input(key="cs_new_title").input("Title i55").run()
    at.text_area(key="cs_new_text").input("a new sci-fi story").run()
    at.selectbox(key="cs_new_category").set_value("sci-fi").run()
    assert_clean(at)
    bundle = load_bundle(coldstart_bundle_dir / "coldstart")
    typed = pd.DataFrame({
        ITEM_ID: ["x"], "title": ["Title i55"], "text": ["a new sci-fi story"], "category": ["sci-fi"]
    })
    vectors, biases = bundle.model.encode_items(typed)
    vector = vectors[0].astype(np.float64)
    unit = bundle.item_emb / np.linalg.norm(bundle.item_emb, axis=1, keepdims=True)
    sims = unit @ (vector / np.linalg.norm(vector))
    nearest = frame(at, "cs_nearest")
    assert nearest[ITEM_ID].tolist() == bundle.item_ids[np.argsort(-sims, kind="stable")[:10]].tolist()
    # reached: users whose k-th best score (training items excluded) is below the item's score
    recs = bundle.exact_scorer("cpu").recommend(list(bundle.user_ids), K)
    users = bundle.user_emb / np.linalg.norm(bundle.user_emb, axis=1, keepdims=True)  # cosine bundle
    scores = users @ (vector / np.linalg.norm(vector)) + float(biases[0])
    beats = scores > recs.scores[:, -1]
    assert beats.any(), "the typed item should reach someone on the tiny world"
    reached = frame(at, "cs_reached")
    assert set(reached[USER_ID]) == set(recs.user_ids[beats])
    for user, rank in zip(reached[USER_ID], reached["rank"], strict=True):
        row = int(np.flatnonzero(recs.user_ids == user)[0])
        assert rank == 1 + int((recs.scores[row] > scores[row]).sum())
    assert f"{int(beats.sum())} of {len(bundle.user_ids)}" in " ".join(m.value for m in at.markdown)
    names = [t.get("name") for t in plotly_spec(at, "cs_map")["data"]]
    assert "the new item" in names and "nearest items" in names


def test_onboarding_three_items_forms_the_solvers_list(coldstart_bundle_dir: Path) -> None:
    at = open_page(coldstart_bundle_dir, "coldstart")
    bundle = load_bundle(coldstart_bundle_dir / "coldstart")
    picks = ["i03", "i17", "i55"]
    for item in picks:
        at.multiselect(key="cs_onboard").select(item).run()
        assert_clean(at)
    rows = bundle.item_row.loc[picks].to_numpy()
    scorer = bundle.exact_scorer("cpu")
    for method in ("foldin", "meta"):
        at.radio(key="cs_onboard_method").set_value(method).run()
        assert_clean(at)
        solver = new_user_solver(
            method, bundle.item_emb, bundle.user_emb, cosine=True,
            histories=row_lists(bundle.seen.indptr, bundle.seen.indices),
        )
        expected = scorer.recommend_vectors(solver.fit(rows)[None, :], K, exclude=[rows])
        table = frame(at, "cs_onboard_list")
        assert table[ITEM_ID].tolist() == expected.item_ids[0].tolist()
        assert not set(picks) & set(table[ITEM_ID])
    assert any("Top-10 after 3 clicks" in m.value for m in at.markdown)


def test_a_cold_interactions_file_beside_the_bundle_draws_the_new_user_curve(
    coldstart_bundle_dir: Path, tmp_path: Path
) -> None:
    shutil.copytree(coldstart_bundle_dir / "coldstart", tmp_path / "coldstart")
    bundle = load_bundle(tmp_path / "coldstart")
    rng = np.random.default_rng(5)
    rows = [
        (f"new{u:02d}", item, 1_000 + t)
        for u in range(12)
        for t, item in enumerate(rng.choice(bundle.item_ids, size=14, replace=False))
    ]
    cold = pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, TIMESTAMP])
    cold.to_parquet(tmp_path / "cold_interactions.parquet")
    at = open_page(tmp_path, "coldstart")
    box = at.selectbox(key="_cs_held_out")
    assert box.value == "test"  # the bundle's test set is the default
    assert len(box.options) == 2 and "cold_interactions.parquet (168 rows)" in box.options[1]
    box.select_index(1).run()
    assert_clean(at)
    assert "cs_user_curve" in chart_keys(at)
    expected = new_user_curve(bundle, cold, k=K).set_index(["method", "n"])["ndcg"]
    spec = plotly_spec(at, "cs_user_curve")
    for method in ("foldin", "meta", "popularity"):
        name = METHOD_LABELS[method]
        np.testing.assert_allclose(line(spec, name), expected[method].to_numpy(), rtol=1e-9)
    caption = next(c.value for c in at.caption if "newcomer's remaining interactions" in c.value)
    assert "users the model does not know" in caption and "popularity" in caption


def test_the_sample_worlds_cold_file_is_offered_only_to_bundles_sharing_its_items(
    tiny_bundle_dir: Path,
) -> None:
    from recaudit.app import coldstart as page
    from recaudit.paths import REPO_ROOT

    sample = REPO_ROOT / "sample_data" / page.COLD_FILE
    assert sample.is_file()
    assert page.cold_files(load_bundle(tiny_bundle_dir / "alpha")) == []  # ids i00.. vs m0001..
    at = open_page(tiny_bundle_dir, "alpha")
    assert at.selectbox(key="_cs_held_out").options == ["the bundle's test set (60 rows)"]


def test_an_uploaded_file_is_read_and_validated_like_a_file_argument() -> None:
    from recaudit.app import coldstart as page
    from recaudit.errors import RecauditInputError

    data = b"user_id,item_id,timestamp\nnew1,i01,3\nnew1,i02,4\n"
    frame = page._read_upload("digest-ok", "held.csv", data)
    assert frame[[USER_ID, ITEM_ID]].values.tolist() == [["new1", "i01"], ["new1", "i02"]]
    with pytest.raises(RecauditInputError, match="item_id"):
        page._read_upload("digest-bad", "held.csv", b"user_id,thing\nnew1,i01\n")
