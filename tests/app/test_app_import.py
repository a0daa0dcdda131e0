"""The Import page in AppTest: embeddings picked from the data folder become the bundle `recaudit import`
writes from the same files; a log with renamed columns is mapped on its preview and audited to the numbers of
`recaudit metrics --columns`; a bad file is one line and writes nothing; pages that need embeddings say so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from recaudit.app import shell as support
from recaudit.bundle import load_bundle
from recaudit.bundle.logs import is_log_dir, load_log
from recaudit.cli import main
from recaudit.data.schema import ITEM_ID, RANK, SCORE, USER_ID
from recaudit.paths import DATA_DIR_ENV
from recaudit.workflows.audit import bundle_recommendations
from tests.apptest_helpers import decode, frame, plotly_spec

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/import_data.py"


@pytest.fixture
def data_dir(tmp_path: Path, tiny_bundle_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder holding the tiny alpha bundle's tables as a user would export them."""
    folder = tmp_path / "data"
    folder.mkdir()
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    np.save(folder / "users.npy", bundle.user_emb)
    np.save(folder / "items.npy", bundle.item_emb)
    (folder / "user_ids.txt").write_text("\n".join(bundle.users[USER_ID]) + "\n")
    (folder / "item_ids.txt").write_text("\n".join(bundle.items[ITEM_ID]) + "\n")
    bundle.items.to_csv(folder / "catalogue.csv", index=False)
    bundle.train.to_parquet(folder / "train.parquet")  # type: ignore[union-attr]
    bundle.test.to_parquet(folder / "test.parquet")  # type: ignore[union-attr]
    recs = bundle_recommendations(bundle, 10)
    recs.rename(columns={USER_ID: "customer_id", ITEM_ID: "sku", RANK: "pos", SCORE: "relevance"}).to_csv(
        folder / "recs.csv", index=False
    )
    (folder / "broken.npy").write_bytes(b"\x80\x04not an array")
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    return folder


def open_import(bundles: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[support.BUNDLE_DIR_KEY] = str(bundles)
    at.run()
    return at.switch_page(PAGE).run()


def test_embeddings_from_the_data_folder_build_the_bundle_the_cli_builds(
    data_dir: Path, tmp_path: Path
) -> None:
    bundles = tmp_path / "bundles"
    at = open_import(bundles)
    for key, name in (("imp_user_emb_file", "users.npy"), ("imp_item_emb_file", "items.npy"),
                      ("imp_user_ids_file", "user_ids.txt"), ("imp_item_ids_file", "item_ids.txt"),
                      ("imp_items_file", "catalogue.csv"), ("imp_interactions_file", "train.parquet"),
                      ("imp_test_file", "test.parquet")):  # fmt: skip
        at.selectbox(key=key).set_value(str(data_dir / name))
    at.radio(key="imp_map").set_value("pca")
    at.text_input(key="imp_name").set_value("mine")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("60 user vectors" in c.value or "user vectors of dimension" in c.value for c in at.caption)
    at.button(key="imp_build").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state[support.SELECTED_BUNDLE] == "mine"
    assert any("Built bundle mine" in s.value for s in at.success)

    out = tmp_path / "cli"
    argv = ["import", "--user-embeddings", str(data_dir / "users.npy"), "--item-embeddings",
            str(data_dir / "items.npy"), "--user-ids", str(data_dir / "user_ids.txt"), "--item-ids",
            str(data_dir / "item_ids.txt"), "--items", str(data_dir / "catalogue.csv"), "--interactions",
            str(data_dir / "train.parquet"), "--test", str(data_dir / "test.parquet"), "--map", "pca",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    page, cli = load_bundle(bundles / "mine"), load_bundle(out)
    np.testing.assert_array_equal(page.user_emb, cli.user_emb)
    np.testing.assert_array_equal(page.item_emb, cli.item_emb)
    for part in ("users", "items", "train", "test", "item_map"):
        pd.testing.assert_frame_equal(getattr(page, part), getattr(cli, part))
    strip = ("created", "seconds", "files", "recaudit_version")

    def stable(manifest: dict) -> dict:
        return {k: v for k, v in json.loads(json.dumps(manifest)).items() if k not in strip}

    assert stable({**page.manifest, "projection": None}) == stable({**cli.manifest, "projection": None})
    assert {k: v for k, v in page.manifest["projection"].items() if k != "seconds"} == {
        k: v for k, v in cli.manifest["projection"].items() if k != "seconds"
    }
    # the new bundle is selected: the Overview opens it
    at.switch_page("pages/overview.py").run()
    assert not at.exception and "mine" in at.title[0].value


def test_a_log_is_mapped_on_its_preview_and_audited_as_recaudit_metrics(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundles = tmp_path / "bundles"
    at = open_import(bundles)
    for key, name in (("log_recs_file", "recs.csv"), ("log_train_file", "train.parquet"),
                      ("log_test_file", "test.parquet"), ("log_items_file", "catalogue.csv")):  # fmt: skip
        at.selectbox(key=key).set_value(str(data_dir / name))
    at.run()
    # customer_id (an alias) is detected as user_id; sku and pos are not: the analyst maps them
    assert at.selectbox(key="log_recs_map_user_id").value == "customer_id"
    assert at.selectbox(key="log_recs_map_item_id").value == "—"
    at.selectbox(key="log_recs_map_item_id").set_value("sku")
    at.selectbox(key="log_recs_map_rank").set_value("pos")
    at.text_input(key="log_name").set_value("theirs")
    at.run()
    assert any("--columns user_id=customer_id,item_id=sku,rank=pos" in c.value for c in at.caption), [
        c.value for c in at.caption
    ]
    at.button(key="log_build").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert is_log_dir(bundles / "theirs") and load_log(bundles / "theirs").depth == 10

    at.switch_page("pages/report.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = frame(at, "report_metrics").set_index("metric")["value"]
    capsys.readouterr()
    assert main(["metrics", "--recs", str(data_dir / "recs.csv"), "--train", str(data_dir / "train.parquet"),
                 "--test", str(data_dir / "test.parquet"), "--items", str(data_dir / "catalogue.csv"),
                 "--columns", "item_id=sku,rank=pos", "--k", "10", "--format", "json"]) == 0  # fmt: skip
    expected = json.loads(capsys.readouterr().out)
    assert len(shown) >= 15
    for metric, value in shown.items():
        assert value == pytest.approx(expected[metric], abs=0, rel=1e-12, nan_ok=True), metric
    # a page that needs embeddings says so, and names the pages that audit the log
    at.switch_page("pages/user_explorer.py").run()
    assert not at.exception
    assert any("recommendation log" in i.value and "Fairness" in i.value for i in at.info)


def test_a_bad_file_is_one_line_and_nothing_is_written(data_dir: Path, tmp_path: Path) -> None:
    bundles = tmp_path / "bundles"
    at = open_import(bundles)
    at.selectbox(key="imp_user_emb_file").set_value(str(data_dir / "broken.npy"))
    at.selectbox(key="imp_item_emb_file").set_value(str(data_dir / "items.npy"))
    at.run()
    assert [e.value for e in at.error] and all(len(e.value.splitlines()) == 1 for e in at.error)
    shown = at.error[0].value.replace("\\", "")  # markdown-escaped text
    assert "broken.npy: file looks like a pickle" in shown
    at.button(key="imp_build").click().run()
    assert not at.exception
    assert not bundles.exists() or not any(bundles.iterdir())


def test_a_folder_name_that_is_not_one_is_refused(data_dir: Path, tmp_path: Path) -> None:
    at = open_import(tmp_path / "bundles")
    at.text_input(key="log_name").set_value("../escape")
    at.run()
    assert any("cannot name a folder" in e.value.replace("\\", "") for e in at.error)
    assert at.button(key="log_build").disabled


def test_a_log_with_timestamps_is_charted_over_time_as_recaudit_metrics_window(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two lists per user a week apart (the second reversed): the page's per-window Gini and coverage are the
    rows `recaudit metrics --window week` prints as JSON."""
    names = {"customer_id": USER_ID, "sku": ITEM_ID, "pos": RANK}
    recs = pd.read_csv(data_dir / "recs.csv", dtype=str).rename(columns=names)
    first = recs.assign(timestamp=1_700_000_000)
    second = recs.assign(**{RANK: (11 - recs[RANK].astype(int)).astype(str)}).sort_values([USER_ID, RANK])
    second = second.assign(timestamp=1_700_000_000 + 7 * 86400)
    timed = pd.concat([first, second], ignore_index=True)
    timed.to_csv(data_dir / "timed.csv", index=False)
    from recaudit.workflows.imports import import_log

    bundles = tmp_path / "bundles"
    import_log({"recs": data_dir / "timed.csv", "train": data_dir / "train.parquet",
                "items": data_dir / "catalogue.csv"}, out=bundles / "timed")  # fmt: skip
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[support.BUNDLE_DIR_KEY] = str(bundles)
    at.session_state[support.SELECTED_BUNDLE] = "timed"
    at.run()
    at.switch_page("pages/diversity_popularity.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    spec = plotly_spec(at, "window_metrics_chart")
    shown = {trace["name"]: decode(trace["y"]) for trace in spec["data"]}
    assert [trace["x"] for trace in spec["data"]][0] == ["2023-11-13", "2023-11-20"]
    capsys.readouterr()
    argv = ["metrics", "--recs", str(data_dir / "timed.csv"), "--train", str(data_dir / "train.parquet"),
            "--items", str(data_dir / "catalogue.csv"), "--window", "week", "--format", "json"]  # fmt: skip
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)["windows"]["metrics"]
    for name in ("gini", "exposure_gini", "coverage"):
        np.testing.assert_allclose(shown[name], [row[name] for row in rows], rtol=1e-12)
    assert {t["name"] for t in plotly_spec(at, "window_shares_chart")["data"]} >= {"p0", "p1"}
    assert plotly_spec(at, "window_lift_chart")["data"]


def test_two_logs_are_compared_and_audited_for_fairness_on_the_pages(
    data_dir: Path, tmp_path: Path
) -> None:
    """Log A (alpha's lists) vs log B (the same lists reversed): the Compare page's B − A per metric is
    compare_sources' on the two log folders; the Fairness page audits a log."""
    from recaudit.workflows.compare import compare_sources, load_source
    from recaudit.workflows.imports import import_log

    names = {"customer_id": USER_ID, "sku": ITEM_ID, "pos": RANK, "relevance": SCORE}
    recs = pd.read_csv(data_dir / "recs.csv", dtype=str).rename(columns=names)
    recs.to_csv(data_dir / "a.csv", index=False)
    recs.assign(**{RANK: (11 - recs[RANK].astype(int)).astype(str)}).to_csv(data_dir / "b.csv", index=False)
    bundles = tmp_path / "bundles"
    for name in ("a", "b"):
        import_log({"recs": data_dir / f"{name}.csv", "train": data_dir / "train.parquet",
                    "test": data_dir / "test.parquet", "items": data_dir / "catalogue.csv"},
                   out=bundles / name)  # fmt: skip
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state[support.BUNDLE_DIR_KEY] = str(bundles)
    at.session_state[support.SELECTED_BUNDLE] = "a"
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = frame(at, "compare_table").set_index("metric")
    want = compare_sources(load_source(bundles / "a"), load_source(bundles / "b"), 10).table.set_index(
        "metric"
    )
    assert list(shown.index) == list(want.index)
    for metric in ("ndcg@10", "mrr@10", "gini@10"):  # the order changed: accuracy moves, exposure does not
        assert shown.loc[metric, "B − A"] == pytest.approx(want.loc[metric, "delta"], abs=1e-12)
    assert want.loc["gini@10", "delta"] == 0 and want.loc["ndcg@10", "delta"] != 0
    at.switch_page("pages/fairness.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "a" in at.title[0].value and frame(at, "item_groups") is not None
