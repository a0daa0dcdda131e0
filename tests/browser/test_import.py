"""The Import page in a real Chromium: the sample world's embeddings (one uploaded, the rest picked from the
data folder) become the bundle `recaudit import` writes from the same files; the ml-latest-small audit log
is imported and its Report JSON holds the numbers of `recaudit metrics`; a bad upload is one line and leaves
no file behind.

The server gets its own bundles folder (a copy of the tiny bundles) and a data folder
(``$RECAUDIT_DATA_DIR``): the sample world's exported embeddings and the shared audit split.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from recaudit.bundle import load_bundle
from recaudit.cli import main
from recaudit.data.schema import ITEM_ID, USER_ID
from recaudit.paths import DATA_DIR_ENV, REPO_ROOT, shared_datasets_dir
from tests.browser.conftest import Server, browser_tab, pick_option, serve_bundles, wait_charts, wait_idle

pytestmark = pytest.mark.browser

AUDIT_SPLIT = shared_datasets_dir() / "ml-latest-small-audit"
SAMPLE = REPO_ROOT / "sample_data"


def sample_embeddings(folder: Path) -> None:
    """The sample world's user and item embeddings (a rank-16 SVD of its interaction matrix) as .npy
    tables with their id lists, beside a pickle posing as embeddings."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import svds

    inter = pd.read_parquet(SAMPLE / "interactions.parquet")
    users = np.sort(inter[USER_ID].astype(str).unique())
    items = pd.read_parquet(SAMPLE / "items.parquet")[ITEM_ID].astype(str).to_numpy()
    rows = np.searchsorted(users, inter[USER_ID].astype(str))
    cols = pd.Index(items).get_indexer(inter[ITEM_ID].astype(str))
    matrix = csr_matrix(
        (np.ones(len(inter), dtype=np.float32), (rows, cols)), shape=(len(users), len(items))
    )
    u, s, vt = svds(matrix, k=16, random_state=0)
    np.save(folder / "user_vectors.npy", (u * np.sqrt(s)).astype(np.float32))
    np.save(folder / "item_vectors.npy", (vt.T * np.sqrt(s)).astype(np.float32))
    (folder / "user_ids.txt").write_text("\n".join(users) + "\n")
    (folder / "item_ids.txt").write_text("\n".join(items) + "\n")
    shutil.copy(SAMPLE / "items.parquet", folder / "items.parquet")
    shutil.copy(SAMPLE / "interactions.parquet", folder / "interactions.parquet")
    (folder / "evil.npy").write_bytes(b"\x80\x04\x95not an array, a pickle")


@pytest.fixture(scope="module")
def import_server(
    chromium_path: str, tiny_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    if not AUDIT_SPLIT.is_dir():
        pytest.fail(f"the shared audit split is missing: {AUDIT_SPLIT}")
    work = tmp_path_factory.mktemp("import_server")
    bundles = work / "bundles"
    shutil.copytree(tiny_bundle_dir, bundles)
    data = work / "data"
    data.mkdir()
    sample_embeddings(data)
    env = {DATA_DIR_ENV: os.pathsep.join((str(data), str(AUDIT_SPLIT)))}
    with serve_bundles(bundles, work, env=env) as server:
        server.data_dir = data  # type: ignore[attr-defined]
        yield server


def open_import(page, server: Server) -> None:
    page.goto(server.url + "/import")
    page.get_by_role("heading", name="Import").first.wait_for()
    wait_idle(page)


def upload(page, key: str, path: Path) -> None:
    page.locator(f'.st-key-{key} input[type="file"]').set_input_files(str(path))
    wait_idle(page)


def files_of(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def leftover_uploads() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("recaudit-import-*")}


def test_sample_embeddings_import_to_the_cli_bundle(
    import_server: Server, browser_context, artefact_dir: Path, tmp_path: Path
) -> None:
    data: Path = import_server.data_dir  # type: ignore[attr-defined]
    with browser_tab(browser_context, import_server, artefact_dir, "import-embeddings") as tab:
        page = tab.page
        open_import(page, import_server)
        upload(page, "imp_user_emb_upload", data / "user_vectors.npy")
        n_users = len((data / "user_ids.txt").read_text().split())
        page.get_by_text(f"{n_users:,} user vectors of dimension 16").wait_for()
        pick_option(
            page, "Item embeddings (.npy, .safetensors, .pt state dict or parquet)", "data/item_vectors.npy"
        )
        page.get_by_text("3,000 item vectors of dimension 16").wait_for()
        pick_option(page, "User ids in row order", "data/user_ids.txt")
        pick_option(page, "Item ids in row order", "data/item_ids.txt")
        pick_option(page, "Items (item_id, title, category, …)", "data/items.parquet")
        pick_option(page, "Training interactions (seen items, popularity)", "data/interactions.parquet")
        page.locator(".st-key-imp_map").get_by_text("pca", exact=True).click()
        wait_idle(page)
        name = page.locator(".st-key-imp_name input")
        name.fill("sampleimp")
        name.press("Enter")
        page.get_by_text(re.compile(r"--out sampleimp$")).wait_for()  # the name has reached the server
        wait_idle(page)
        page.get_by_role("button", name="Build the bundle").click()
        page.get_by_text("Built bundle sampleimp").wait_for()
        wait_idle(page)
        expect(page.get_by_role("combobox", name="Model bundle or log")).to_have_value("sampleimp")
        tab.screenshot("import-embeddings")
    tab.assert_local_and_error_free()

    out = tmp_path / "cli"
    argv = ["import", "--user-embeddings", str(data / "user_vectors.npy"),
            "--item-embeddings", str(data / "item_vectors.npy"), "--user-ids", str(data / "user_ids.txt"),
            "--item-ids", str(data / "item_ids.txt"), "--items", str(data / "items.parquet"),
            "--interactions", str(data / "interactions.parquet"), "--map", "pca",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    page_bundle, cli_bundle = load_bundle(import_server.bundle_dir / "sampleimp"), load_bundle(out)
    np.testing.assert_array_equal(page_bundle.user_emb, cli_bundle.user_emb)
    np.testing.assert_array_equal(page_bundle.item_emb, cli_bundle.item_emb)
    for part in ("users", "items", "train", "item_map"):
        pd.testing.assert_frame_equal(getattr(page_bundle, part), getattr(cli_bundle, part))
    assert page_bundle.manifest["data"] == cli_bundle.manifest["data"]
    assert page_bundle.manifest["model"] == cli_bundle.manifest["model"]


def test_the_audit_log_reports_the_numbers_of_recaudit_metrics(
    import_server: Server, browser_context, artefact_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with browser_tab(browser_context, import_server, artefact_dir, "import-log") as tab:
        page = tab.page
        open_import(page, import_server)
        page.get_by_role("tab", name="Recommendation log").click()
        split = AUDIT_SPLIT.name
        pick_option(page, "Recommendation log (required)", f"{split}/recs.csv")
        pick_option(page, "Training interactions (required)", f"{split}/train.csv")
        pick_option(page, "Test interactions (for accuracy)", f"{split}/test.csv")
        pick_option(page, "Items (catalogue, categories, providers)", f"{split}/items.csv")
        name = page.locator(".st-key-log_name input")
        name.fill("mlaudit")
        name.press("Enter")
        page.get_by_text(re.compile("from the log folder mlaudit")).wait_for()  # the name reached the server
        wait_idle(page)
        page.get_by_role("button", name="Import the log").click()
        page.get_by_text("Imported log mlaudit").wait_for()
        wait_idle(page)
        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Report").click()
        page.get_by_role("heading", name="Report: mlaudit").wait_for()
        wait_idle(page)
        with page.expect_download() as download:
            page.get_by_role("button", name="JSON").click()
        shown = json.loads(Path(download.value.path()).read_text())
        tab.screenshot("import-log-report")
        page.locator('[data-testid="stSidebarNav"]').get_by_role(
            "link", name="Diversity & popularity"
        ).click()
        page.get_by_role("heading", name="Diversity & popularity: mlaudit").wait_for()
        page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
        wait_idle(page)
        wait_charts(page)
        tab.screenshot("import-log-diversity")
    tab.assert_local_and_error_free()

    capsys.readouterr()
    split = {name: str(AUDIT_SPLIT / f"{name}.csv") for name in ("recs", "train", "test", "items")}
    argv = ["metrics", *(part for name, path in split.items() for part in (f"--{name}", path))]
    assert main([*argv, "--k", "10", "--format", "json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    metrics = [key for key in expected if "@" in key]
    assert len(metrics) >= 15
    assert {m: shown[m] for m in metrics} == {m: expected[m] for m in metrics}
    assert shown["ci"] == expected["ci"]


def test_a_bad_upload_is_one_line_and_leaves_no_file(
    import_server: Server, browser_context, artefact_dir: Path
) -> None:
    data: Path = import_server.data_dir  # type: ignore[attr-defined]
    before, uploads_before = files_of(import_server.bundle_dir), leftover_uploads()
    with browser_tab(browser_context, import_server, artefact_dir, "import-bad") as tab:
        page = tab.page
        open_import(page, import_server)
        upload(page, "imp_user_emb_upload", data / "evil.npy")
        alert = page.locator('[data-testid="stAlertContentError"]')
        alert.first.wait_for()
        assert alert.first.inner_text().startswith("evil.npy: file looks like a pickle")
        assert len(alert.first.inner_text().strip().splitlines()) == 1
        pick_option(
            page, "Item embeddings (.npy, .safetensors, .pt state dict or parquet)", "data/item_vectors.npy"
        )
        name = page.locator(".st-key-imp_name input")
        name.fill("evilbundle")
        name.press("Enter")
        page.get_by_text(re.compile(r"--out evilbundle$")).wait_for()
        wait_idle(page)
        page.get_by_role("button", name="Build the bundle").click()
        page.get_by_text("Nothing was written.").wait_for()
        wait_idle(page)
        expect(alert).to_have_count(2)  # the preview's line, and the build's same line under its status
        assert alert.nth(1).inner_text().strip() == alert.first.inner_text().strip()
        tab.screenshot("import-bad-upload")
    assert files_of(import_server.bundle_dir) == before
    assert leftover_uploads() <= uploads_before
