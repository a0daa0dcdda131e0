"""The Live session page in AppTest: it renders on a bundle with and without a session encoder, clicking an
item changes the list and logs the update's latency and what entered and left, stepping through a logged test
session advances one event per click, and reset clears the session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from recaudit.app import shell as support
from recaudit.bundle import load_bundle, save_bundle
from recaudit.realtime.live import MODE_ENCODER, MODE_FOLDIN
from recaudit.textsafe import WORD_JOINER
from tests.apptest_helpers import find_block, frame, plotly_spec
from tests.conftest import store_item_map, tiny_tables

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/live_session.py"


def build_session_bundle(out: Path) -> Path:
    """A tiny-world mf bundle (seeded, 3 epochs) with a tiny GRU session encoder (1 epoch) and a stored PCA
    map, saved as ``out/live``."""
    from recaudit.models.mf.config import MFConfig
    from recaudit.models.mf.family import train as train_mf
    from recaudit.models.session.config import SessionConfig
    from recaudit.models.session.encoder import COMPONENT
    from recaudit.models.session.train import train_session_encoder
    from recaudit.workflows.train import bundle_from_model

    tables = tiny_tables()
    mf = train_mf(tables["train"], MFConfig(
        dim=8, epochs=3, batch_size=64, valid_fraction=0.0, refit=False, patience=0, seed=1, device="cpu",
    ))  # fmt: skip
    bundle = bundle_from_model(
        mf, train=tables["train"], test=tables["test"], items=tables["items"], sources={}, seconds=0.0
    )
    config = SessionConfig(
        encoder="gru", epochs=1, hidden=16, negatives=64, device="cpu", gap_s=10**8, valid_fraction=0.0,
    )  # fmt: skip
    encoder = train_session_encoder(
        tables["train"], config, item_ids=bundle.item_ids, item_emb=bundle.item_emb,
        item_bias=bundle.item_bias, score=bundle.score, user_emb=bundle.user_emb,
    )  # fmt: skip
    bundle.components[COMPONENT] = encoder.component()
    save_bundle(store_item_map(bundle, "pca"), out / "live")
    return out


@pytest.fixture(scope="module")
def session_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_session_bundle(tmp_path_factory.mktemp("live_bundles"))


def open_page(bundle_dir: Path, bundle: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[support.BUNDLE_DIR_KEY] = str(bundle_dir)
    at.session_state[support.SELECTED_BUNDLE] = bundle
    at.run()
    return at.switch_page(PAGE).run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def plain(text: str) -> str:
    return text.replace("\\", "").replace(WORD_JOINER, "")


def items(at: AppTest) -> list[str]:
    return frame(at, "live_list")["item_id"].tolist()


def test_page_renders_in_fold_in_mode_without_an_encoder(tiny_bundle_dir: Path) -> None:
    at = open_page(tiny_bundle_dir, "alpha")
    assert_clean(at)
    assert "Live session" in at.title[0].value
    assert any(MODE_FOLDIN in plain(i.value) for i in at.info)
    assert len(items(at)) == 10 and find_block(at.main, "live_log") is None


def test_page_renders_in_encoder_mode(session_bundle_dir: Path) -> None:
    at = open_page(session_bundle_dir, "live")
    assert_clean(at)
    assert any(MODE_ENCODER in plain(s.value) and "GRU" in s.value.upper() for s in at.success)
    at.button(key="live_click").click().run()
    assert_clean(at)
    spec = plotly_spec(at, "live_map")
    assert "session vector" in [t.get("name") for t in spec["data"]]


@pytest.mark.parametrize("bundle", ["alpha", "live"])
def test_clicking_an_item_changes_the_list_and_logs_the_update(
    bundle: str, tiny_bundle_dir: Path, session_bundle_dir: Path
) -> None:
    at = open_page(tiny_bundle_dir if bundle == "alpha" else session_bundle_dir, bundle)
    before = items(at)
    clicked = at.selectbox(key="live_list_item").value
    at.button(key="live_click").click().run()
    assert_clean(at)
    after = items(at)
    assert clicked not in after and after != before  # the clicked item is excluded from then on
    log = frame(at, "live_log")
    assert log["item_id"].tolist() == [clicked] and (log["latency_ms"] > 0).all()
    changes = frame(at, "live_changes")
    entered = changes.loc[changes["change"] == "entered", "item_id"].tolist()
    left = changes.loc[changes["change"] == "left", "item_id"].tolist()
    assert entered == [i for i in after if i not in before] and clicked in left
    assert left == [i for i in before if i not in after]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Entered"] == str(len(entered)) and metrics["Latency"].endswith("ms")
    # a second click, on any catalogue item
    at.selectbox(key="live_any_item").set_value("i05").run()
    at.button(key="live_click_any").click().run()
    assert_clean(at)
    assert frame(at, "live_log")["item_id"].tolist() == [clicked, "i05"]
    assert "i05" not in items(at)


def test_stepping_a_logged_session_and_reset(tiny_bundle_dir: Path) -> None:
    at = open_page(tiny_bundle_dir, "alpha")
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    test = bundle.test[bundle.test["user_id"] == "u00"]["item_id"].tolist()
    assert at.selectbox(key="live_logged").value is not None
    at.button(key="live_step").click().run()
    assert_clean(at)
    assert frame(at, "live_log")["item_id"].tolist() == test[:1]
    at.button(key="live_step").click().run()
    assert frame(at, "live_log")["item_id"].tolist() == test[:2]
    assert at.button(key="live_step").disabled  # the session's two events are sent
    assert np.isin(test, items(at)).sum() == 0
    at.button(key="live_reset").click().run()
    assert_clean(at)
    assert find_block(at.main, "live_log") is None
    assert any("0 event(s)" in c.value for c in at.caption)


def test_comparison_section_is_on_demand_or_says_not_available(tiny_bundle_dir: Path) -> None:
    at = open_page(tiny_bundle_dir, "alpha")
    assert_clean(at)
    texts = [i.value for i in at.info]
    available = any(b.key == "live_compare" for b in at.button)
    assert available or any("Not available" in t for t in texts)
