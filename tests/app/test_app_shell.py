"""App tests (AppTest) on the tiny bundles of ``conftest.py``, plus the app's table helpers.

Expected lists are recomputed here with numpy from the bundle's own arrays (score = u·v + b), not
through the scorer the app uses.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from recaudit.app import shell as support
from recaudit.bundle import Bundle, load_bundle, make_manifest, save_bundle
from recaudit.data.schema import DOMAIN, ITEM_ID, TIMESTAMP, USER_ID
from recaudit.models.foldin import FoldIn, median_norm
from recaudit.textsafe import md_text
from tests.apptest_helpers import decode, frame, plotly_spec

APP = str(Path(__file__).resolve().parents[2] / "app.py")
EXPLORER = "pages/user_explorer.py"


def open_app(bundle_dir: Path, bundle: str | None = None) -> AppTest:
    """The app pointed at ``bundle_dir`` (session-state override), after its first run."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[support.BUNDLE_DIR_KEY] = str(bundle_dir)
    if bundle is not None:
        at.session_state[support.SELECTED_BUNDLE] = bundle
    return at.run()


def expected_top(bundle_dir: Path, user: str, k: int, *, exclude: bool, domain: str | None = None):
    """Top-k item ids of ``user`` in bundle alpha, by numpy: argsort of u·v + b with masks."""
    bundle = load_bundle(bundle_dir / "alpha")
    row = bundle.users[USER_ID].tolist().index(user)
    scores = bundle.user_emb[row] @ bundle.item_emb.T + bundle.item_bias
    scores = scores.astype(np.float64)
    ids = bundle.items[ITEM_ID].to_numpy()
    if exclude:
        seen = bundle.train.loc[bundle.train[USER_ID] == user, ITEM_ID]
        scores[np.isin(ids, seen)] = -np.inf
    if domain is not None:
        scores[bundle.items[DOMAIN].to_numpy() != domain] = -np.inf
    order = np.argsort(-scores, kind="stable")[:k]
    return ids[order].tolist()


# ------------------------------------------------------------------------------------------------
# every page, shell behaviour


@pytest.mark.parametrize("page", support.PAGES, ids=[p.url_path for p in support.PAGES])
def test_every_registered_page_opens(tiny_bundle_dir: Path, page: support.PageSpec) -> None:
    at = open_app(tiny_bundle_dir)
    at.switch_page(page.path).run()
    assert not at.exception
    assert not at.error
    assert page.title in at.title[0].value


def test_overview_shows_counts_popularity_and_evaluation(tiny_bundle_dir: Path) -> None:
    at = open_app(tiny_bundle_dir, bundle="alpha")
    assert not at.exception
    assert [m.value for m in at.metric] == ["40", "60", "240", "60"]
    counts = frame(at, "domain_counts").set_index(DOMAIN)
    assert counts.loc["movies", "items"] == 30 and counts.loc["books", "items"] == 30
    assert counts["train_interactions"].sum() == 240  # each train row is in exactly one domain
    assert counts["test_interactions"].sum() == 60
    domain_spec = plotly_spec(at, "domain_chart")["data"]
    assert [t["name"] for t in domain_spec] == list(counts.columns)
    # the popularity chart's cut is the smallest h whose top-h items hold >= 80% of train rows
    train = load_bundle(tiny_bundle_dir / "alpha").train
    popularity = np.sort(train[ITEM_ID].value_counts().to_numpy())[::-1]
    h = int(np.argmax(np.cumsum(popularity) >= 0.8 * popularity.sum())) + 1
    traces = {t["name"]: t for t in plotly_spec(at, "popularity_chart")["data"]}
    assert decode(traces["cut"]["x"]).tolist() == [h, h]
    assert len(decode(traces["head"]["x"])) == h
    curve = {t["name"]: t for t in plotly_spec(at, "training_chart")["data"]}
    assert decode(curve["validation recall (fit)"]["y"]).tolist() == pytest.approx(
        [0.1, 0.2, 0.3, 0.3, 0.3]
    )
    # alpha stores no evaluation: it is computed over the 30 users with test items
    table = frame(at, "evaluation").set_index("metric")
    assert list(table.columns) == ["model", "popularity"]
    assert {"recall@10", "ndcg@20"} <= set(table.index)
    assert ((table >= 0) & (table <= 1)).all().all()
    assert any("30 evaluated users" in c.value for c in at.caption)


def test_overview_uses_the_stored_evaluation(tiny_bundle_dir: Path) -> None:
    at = open_app(tiny_bundle_dir, bundle="beta")
    table = frame(at, "evaluation").set_index("metric")
    assert table.loc["recall@10"].tolist() == [0.25, 0.2]
    assert table.loc["ndcg@10"].tolist() == [0.125, 0.1]
    assert "beta" in at.title[0].value


def test_overview_of_a_multi_domain_bundle_has_a_table_per_domain(tiny_bundle_dir: Path) -> None:
    """alpha (two domains, no stored evaluation) is evaluated per domain: one table per domain, and the
    headline table's caption says each test item is ranked within its own domain."""
    at = open_app(tiny_bundle_dir, bundle="alpha")
    assert not at.exception
    for domain in ("books", "movies"):
        table = frame(at, f"evaluation_{domain}").set_index("metric")
        assert {"model", "popularity"} <= set(table.columns) and "ndcg@10" in table.index
    assert any("ranked within its own domain" in c.value for c in at.caption)


def test_bundle_choice_survives_page_switches(tiny_bundle_dir: Path) -> None:
    at = open_app(tiny_bundle_dir)
    at.selectbox(key="_" + support.SELECTED_BUNDLE).select("beta").run()
    assert "beta" in at.title[0].value
    at.switch_page(EXPLORER).run()
    at.switch_page("pages/overview.py").run()
    assert at.session_state[support.SELECTED_BUNDLE] == "beta"
    assert "beta" in at.title[0].value


def test_no_bundle_shows_the_command_to_create_one(tmp_path: Path) -> None:
    at = open_app(tmp_path)
    assert not at.exception
    assert any("No model bundle" in i.value for i in at.info)
    assert any("recaudit train sample_data/interactions.parquet" in c.value for c in at.code)
    at.switch_page(EXPLORER).run()
    assert not at.exception and any("No model bundle" in i.value for i in at.info)


@pytest.mark.parametrize("damage", ["embeddings", "manifest"])
def test_corrupt_bundle_gives_an_error_message(tiny_bundle_dir: Path, tmp_path: Path, damage: str):
    shutil.copytree(tiny_bundle_dir / "alpha", tmp_path / "broken")
    if damage == "embeddings":
        path = tmp_path / "broken" / "embeddings.safetensors"
        data = bytearray(path.read_bytes())
        data[-8:] = b"\xff" * 8
        path.write_bytes(bytes(data))
        expected = "sha256 does not match"
    else:
        (tmp_path / "broken" / "manifest.json").write_text("{not json")
        expected = "not valid JSON"
    at = open_app(tmp_path)
    for page in support.PAGES:
        at.switch_page(page.path).run()
        assert not at.exception
        if page.title == "Import":  # the one page that does not open the selected bundle
            assert not at.error
            continue
        assert len(at.error) == 1 and expected in at.error[0].value


def test_bundle_that_cannot_be_scored_gives_an_error_message(
    tmp_path: Path, tiny_world: dict[str, pd.DataFrame]
) -> None:
    # finite but so large that u·v would overflow float32: the scorer refuses it
    tables = tiny_world
    huge = Bundle(
        users=tables["users"],
        items=tables["items"],
        user_emb=np.full((40, 8), 1e19, np.float32),
        item_emb=np.full((60, 8), 1e19, np.float32),
        train=tables["train"],
        manifest=make_manifest(kind="huge", score="dot", dim=8),
    )
    save_bundle(huge, tmp_path / "huge")
    at = open_app(tmp_path)
    assert any("No held-out test data" in i.value for i in at.info)
    at.switch_page(EXPLORER).run()
    assert not at.exception
    assert len(at.error) == 1 and "overflow" in at.error[0].value


def test_env_var_points_the_app_at_bundles(tiny_bundle_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv(support.BUNDLE_DIR_ENV, str(tiny_bundle_dir))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "alpha" in at.title[0].value


# ------------------------------------------------------------------------------------------------
# user explorer


def test_user_explorer_live_recommendations(tiny_bundle_dir: Path) -> None:
    at = open_app(tiny_bundle_dir, bundle="alpha")
    at.switch_page(EXPLORER).run()
    at.selectbox(key="_user").select("u05").run()
    at.slider(key="_k").set_value(7).run()
    recs = frame(at, "recs")
    assert len(recs) == 7
    assert recs["item_id"].tolist() == expected_top(tiny_bundle_dir, "u05", 7, exclude=True)
    history = frame(at, "history")
    assert not set(recs["item_id"]) & set(history["item_id"])
    assert any(c.value.startswith("scored in ") and " ms" in c.value for c in at.caption)

    at.toggle(key="_exclude_seen").set_value(False).run()
    recs = frame(at, "recs")
    assert recs["item_id"].tolist() == expected_top(tiny_bundle_dir, "u05", 7, exclude=False)

    at.toggle(key="_exclude_seen").set_value(True).run()
    at.selectbox(key="_domain").select("books").run()
    recs = frame(at, "recs")
    assert len(recs) == 7 and set(recs[DOMAIN]) == {"books"}
    assert recs["item_id"].tolist() == expected_top(
        tiny_bundle_dir, "u05", 7, exclude=True, domain="books"
    )
    assert not at.exception


def test_user_search_filters_the_selectbox(tiny_bundle_dir: Path) -> None:
    at = open_app(tiny_bundle_dir, bundle="alpha")
    at.switch_page(EXPLORER).run()
    at.text_input(key="user_query").input("u1").run()
    assert at.selectbox(key="_user").options == [f"u1{i}" for i in range(10)]
    at.text_input(key="user_query").input("nobody").run()
    assert not at.exception and any("No user id contains" in w.value for w in at.warning)


def test_history_is_newest_first_with_readable_dates(tiny_bundle_dir: Path) -> None:
    at = open_app(tiny_bundle_dir, bundle="alpha")
    at.switch_page(EXPLORER).run()
    at.selectbox(key="_user").select("u00").run()
    history = frame(at, "history")
    train = load_bundle(tiny_bundle_dir / "alpha").train
    mine = train[train[USER_ID] == "u00"].sort_values(TIMESTAMP, ascending=False)
    assert history["item_id"].tolist() == mine[ITEM_ID].tolist()
    # u00's first interaction is at BASE_TIME = 1_600_000_000 s = 2020-09-13 12:26 UTC
    assert history["time"].iloc[-1] == "2020-09-13 12:26"
    assert {"title", "category", "domain"} <= set(history.columns)


def test_compare_two_bundles_shows_overlap(tiny_bundle_dir: Path) -> None:
    at = open_app(tiny_bundle_dir, bundle="alpha")
    at.switch_page(EXPLORER).run()
    at.selectbox(key="_user").select("u03").run()
    a, b = frame(at, "compare_a")["item_id"], frame(at, "compare_b")["item_id"]
    beta = load_bundle(tiny_bundle_dir / "beta")
    row = beta.users[USER_ID].tolist().index("u03")
    scores = (beta.user_emb[row] @ beta.item_emb.T + beta.item_bias).astype(np.float64)
    seen = beta.train.loc[beta.train[USER_ID] == "u03", ITEM_ID]
    scores[np.isin(beta.items[ITEM_ID], seen)] = -np.inf
    assert b.tolist() == beta.items[ITEM_ID].to_numpy()[np.argsort(-scores)[:10]].tolist()
    common = len(set(a) & set(b))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Overlap"] == f"{common} of 10"
    assert metrics["Jaccard"] == f"{common / len(set(a) | set(b)):.2f}"
    assert common > 0  # beta is alpha plus noise: the lists share items

    at.selectbox(key="_user").select("u38").run()
    assert any("u38 is not in bundle beta" in i.value for i in at.info)
    assert not at.exception


def foldin_top(bundle_dir: Path, history: list[str], k: int = 10) -> list[str]:
    """Top-k of a user folded in on ``history`` (item ids), by numpy, those items excluded."""
    bundle = load_bundle(bundle_dir / "alpha")
    rows = np.flatnonzero(bundle.items[ITEM_ID].isin(history).to_numpy())
    vector = FoldIn(bundle.item_emb, target_norm=median_norm(bundle.user_emb)).fit(rows)
    scores = (bundle.item_emb @ vector + bundle.item_bias).astype(np.float64)
    scores[rows] = -np.inf
    return bundle.items[ITEM_ID].to_numpy()[np.argsort(-scores, kind="stable")[:k]].tolist()


def test_what_if_removing_history_changes_the_refitted_list(tiny_bundle_dir: Path) -> None:
    at = open_app(tiny_bundle_dir, bundle="alpha")
    at.switch_page(EXPLORER).run()
    at.selectbox(key="_user").select("u07").run()
    assert any("Remove or add items" in c.value for c in at.caption)  # no edit, no what-if lists
    history = frame(at, "history")["item_id"].tolist()
    at.multiselect(key="wi_remove").set_value(history[:2]).run()
    before, after = frame(at, "what_if_before"), frame(at, "what_if_after")
    assert before["item_id"].tolist() == foldin_top(tiny_bundle_dir, history)
    assert after["item_id"].tolist() == foldin_top(tiny_bundle_dir, history[2:])
    assert before["item_id"].tolist() != after["item_id"].tolist()
    entered = set(after["item_id"]) - set(before["item_id"])
    shown = [m.value for m in at.markdown if m.value.startswith("**Entered")]
    assert shown == [  # each label is data, shown as text (escaped); only the prefix is markdown
        f"**Entered ({len(entered)}):** "
        + ", ".join(md_text(f"Title {i} ({i})") for i in after["item_id"] if i in entered)
    ]

    # removing everything leaves the zero vector: the list is the top item biases, nothing excluded
    at.multiselect(key="wi_remove").set_value(history).run()
    bias = load_bundle(tiny_bundle_dir / "alpha").item_bias
    expected = [f"i{i:02d}" for i in np.argsort(-bias, kind="stable")[:10]]
    assert frame(at, "what_if_after")["item_id"].tolist() == expected
    assert not at.exception


def test_what_if_adding_catalogue_items(tiny_bundle_dir: Path) -> None:
    at = open_app(tiny_bundle_dir, bundle="alpha")
    at.switch_page(EXPLORER).run()
    at.selectbox(key="_user").select("u07").run()
    at.text_input(key="wi_query").input("Title i5").run()
    assert at.multiselect(key="wi_add").options == [f"Title i5{i} (i5{i})" for i in range(10)]
    at.multiselect(key="wi_add").set_value(["i50", "i51"]).run()
    history = frame(at, "history")["item_id"].tolist()
    after = frame(at, "what_if_after")["item_id"].tolist()
    assert after == foldin_top(tiny_bundle_dir, [*history, "i50", "i51"])
    assert not {"i50", "i51"} & set(after)
    # a new user starts with no edits
    at.selectbox(key="_user").select("u08").run()
    assert at.multiselect(key="wi_add").value == [] and not at.exception


# ------------------------------------------------------------------------------------------------
# table helpers


def test_pages_are_grouped_in_the_workflow_sections() -> None:
    """Model (what the model is), Audit (what it does to people and catalogues), Scenarios, in that order;
    the default page opens the Model section."""
    from recaudit.app.shell import SECTIONS

    assert SECTIONS == ("Model", "Audit", "Scenarios")
    assert support.PAGES[0].title == "Import" and support.PAGES[0].section == "Model"  # first in Model
    assert support.DEFAULT_PAGE == "pages/overview.py"  # but a visitor lands on the Overview
    order = [SECTIONS.index(p.section) for p in support.PAGES]
    assert order == sorted(order)  # the registry lists each section's pages together
    by_section = {name: {p.title for p in support.PAGES if p.section == name} for name in SECTIONS}
    assert {"Import", "Overview", "User explorer"} <= by_section["Model"]
    audit_pages = {"Diversity & popularity", "Fairness", "Re-ranking lab", "Compare", "Report"}
    assert audit_pages <= by_section["Audit"]
    assert {"Cold start", "Live session", "Cross-domain"} <= by_section["Scenarios"]
