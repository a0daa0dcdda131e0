"""The Cross-domain page in AppTest: on a bundle with a transfer model it draws the summary, the lift and
negative-transfer charts by target bucket, one user's lists with and without transfer beside their
source-domain history, per-domain exposure and the domain map; switching the target domain or the user
changes what is shown; bundles without a transfer model or with one domain say so in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from recaudit.app import shell as support
from recaudit.bundle import save_bundle
from recaudit.data.schema import DOMAIN, ITEM_ID
from tests.apptest_helpers import frame, plotly_spec
from tests.conftest import store_item_map, tiny_tables

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/cross_domain.py"


def build_transfer_bundle(out: Path) -> Path:
    """A tiny-world crossdomain bundle (seeded, 3 epochs, gated transfer) with a PCA map, as out/cd."""
    from recaudit.models.crossdomain.family import CrossDomainConfig
    from recaudit.models.crossdomain.family import train as train_crossdomain
    from recaudit.workflows.train import bundle_from_model

    tables = tiny_tables()
    config = CrossDomainConfig(dim=8, epochs=3, batch_size=64, valid_fraction=0.0, seed=1, device="cpu")
    trained = train_crossdomain(tables["train"], config, items=tables["items"])
    bundle = bundle_from_model(
        trained, train=tables["train"], test=tables["test"], items=tables["items"], sources={}, seconds=0.0
    )
    save_bundle(store_item_map(bundle, "pca"), out / "cd")
    return out


@pytest.fixture(scope="module")
def transfer_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_transfer_bundle(tmp_path_factory.mktemp("cd_bundles"))


def open_page(bundle_dir: Path, bundle: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[support.BUNDLE_DIR_KEY] = str(bundle_dir)
    at.session_state[support.SELECTED_BUNDLE] = bundle
    at.run()
    return at.switch_page(PAGE).run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_page_shows_transfer_by_bucket_and_one_users_lists(transfer_bundle_dir: Path) -> None:
    at = open_page(transfer_bundle_dir, "cd")
    assert_clean(at)
    summary = frame(at, "cd_summary")
    assert summary["transfer"].str.contains("gated · served").any() and len(summary) == 3
    lift = plotly_spec(at, "cd_lift_chart")["data"][0]
    assert lift["type"] == "bar" and all("(" in x for x in lift["x"])  # bucket labels with their users
    assert plotly_spec(at, "cd_hurt_chart")["data"][0]["type"] == "bar"
    items = tiny_tables()["items"].set_index(ITEM_ID)[DOMAIN]
    target = at.selectbox(key="_cd_target").value
    without, with_transfer = frame(at, "cd_without"), frame(at, "cd_with")
    assert len(without) == len(with_transfer) == 10
    assert (
        without[ITEM_ID].map(items).eq(target).all() and with_transfer[ITEM_ID].map(items).eq(target).all()
    )
    history = frame(at, "cd_history")
    assert len(history) and history[DOMAIN].ne(target).all()
    assert set(frame(at, "cd_exposure")["domain"]) == {"books", "movies"}
    names = {trace["name"] for trace in plotly_spec(at, "cd_map")["data"]}
    assert {"books", "movies"} <= names
    # another target: the lists come from the other domain
    other = next(d for d in ("books", "movies") if d != target)
    at.selectbox(key="_cd_target").set_value(other).run()
    assert_clean(at)
    assert frame(at, "cd_with")[ITEM_ID].map(items).eq(other).all()
    # another user: their own lists and history
    users = at.selectbox(key="cd_user").options
    at.selectbox(key="cd_user").set_value(users[1]).run()
    assert_clean(at)
    captions = " ".join(c.value for c in at.caption).replace("\\", "")
    assert f"User {users[1]} in {other}" in captions.replace("\u2060", "")
    train = tiny_tables()["train"]
    seen = set(train.loc[train["user_id"] == users[1], ITEM_ID])
    assert not seen & set(frame(at, "cd_with")[ITEM_ID]) and not seen & set(
        frame(at, "cd_without")[ITEM_ID]
    )
    assert set(frame(at, "cd_history")[ITEM_ID]) <= seen


def test_a_bundle_without_transfer_says_how_to_make_one(tiny_bundle_dir: Path) -> None:
    at = open_page(tiny_bundle_dir, "alpha")
    assert_clean(at)
    text = " ".join(i.value for i in at.info)
    assert "no transfer model" in text and "--transfer gated" in text.replace("\\", "")
