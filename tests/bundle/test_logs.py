"""Log folders (:mod:`recaudit.bundle.logs`) and their import (:func:`recaudit.workflows.imports.import_log`):
the tables come back as read, a bad input writes nothing, nothing but a log is replaced, and
`recaudit compare` takes two log folders as it takes two bundles."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from recaudit.bundle import load_bundle
from recaudit.bundle.logs import check_log_name, is_log_dir, list_logs, load_log
from recaudit.cli import main
from recaudit.data.readers import read_items, read_pairs, read_recs
from recaudit.errors import RecauditInputError
from recaudit.metrics import AuditInputs, evaluate
from recaudit.workflows.audit import bundle_recommendations
from recaudit.workflows.compare import compare_audits
from recaudit.workflows.imports import import_log


@pytest.fixture
def files(tmp_path: Path, tiny_bundle_dir: Path) -> dict[str, Path]:
    """The tiny alpha and beta bundles' top-10 lists and data as a user's CSV and parquet files."""
    folder = tmp_path / "files"
    folder.mkdir()
    alpha = load_bundle(tiny_bundle_dir / "alpha")
    paths = {"train": folder / "train.parquet", "test": folder / "test.csv", "items": folder / "items.csv"}
    alpha.train.to_parquet(paths["train"])  # type: ignore[union-attr]
    alpha.test.to_csv(paths["test"], index=False)  # type: ignore[union-attr]
    alpha.items.to_csv(paths["items"], index=False)
    for name in ("alpha", "beta"):
        recs = bundle_recommendations(load_bundle(tiny_bundle_dir / name), 10)
        paths[name] = folder / f"{name}.csv"
        recs.to_csv(paths[name], index=False)
    return paths


def test_a_log_folder_holds_the_tables_as_the_readers_read_them(
    files: dict[str, Path], tmp_path: Path
) -> None:
    out = import_log({"recs": files["alpha"], "train": files["train"], "test": files["test"],
                      "items": files["items"]}, out=tmp_path / "logs" / "a")  # fmt: skip
    assert is_log_dir(out) and list_logs(tmp_path / "logs") == [out]
    log = load_log(out)
    pd.testing.assert_frame_equal(log.recs, read_recs(files["alpha"]))
    pd.testing.assert_frame_equal(log.train, read_pairs(files["train"]))
    pd.testing.assert_frame_equal(log.items, read_items(files["items"]), check_dtype=False)  # type: ignore[arg-type]
    assert log.users is None and log.depth == 10 and not log.has_timestamps
    manifest = json.loads((out / "log.json").read_text())
    assert manifest["rows"]["recs"] == len(log.recs) and manifest["source"]["recs"] == "alpha.csv"


def test_a_bad_input_writes_nothing(files: dict[str, Path], tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    bad_csv = tmp_path / "ragged.csv"
    bad_csv.write_text("user_id,item_id,rank\nu1,i1,1,extra\n")
    with pytest.raises(RecauditInputError, match="ragged.csv"):
        import_log({"recs": bad_csv, "train": files["train"]}, out=logs / "bad")
    assert not logs.exists() or not any(logs.iterdir())


def test_only_a_log_is_replaced_and_only_when_asked(files: dict[str, Path], tmp_path: Path) -> None:
    precious = tmp_path / "logs" / "mine"
    precious.mkdir(parents=True)
    (precious / "notes.txt").write_text("keep me")
    tables = {"recs": files["alpha"], "train": files["train"]}
    with pytest.raises(RecauditInputError, match="not a recommendation log"):
        import_log(tables, out=precious, overwrite=True)
    assert (precious / "notes.txt").read_text() == "keep me"
    out = import_log(tables, out=tmp_path / "logs" / "a")
    with pytest.raises(RecauditInputError, match="exists"):
        import_log(tables, out=out)
    import_log({**tables, "recs": files["beta"]}, out=out, overwrite=True)
    assert load_log(out).recs.equals(read_recs(files["beta"]))
    for name in ("../up", "", ".hidden", "a/b", "x" * 65):
        with pytest.raises(RecauditInputError, match="cannot name a folder"):
            check_log_name(name)


def test_recaudit_compare_takes_two_log_folders(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = {"train": files["train"], "test": files["test"], "items": files["items"]}
    a = import_log({**common, "recs": files["alpha"]}, out=tmp_path / "logs" / "a")
    b = import_log({**common, "recs": files["beta"]}, out=tmp_path / "logs" / "b")
    out = tmp_path / "ab.json"
    assert main(["compare", str(a), str(b), "--n-boot", "200", "--json", str(out)]) == 0
    found = json.loads(out.read_text())
    sides = []
    for name in ("alpha", "beta"):
        inputs = AuditInputs.from_frames(
            read_recs(files[name]), read_pairs(files["train"]), test=read_pairs(files["test"]),
            items=read_items(files["items"]), k=10,
        )  # fmt: skip
        sides.append((evaluate(inputs, ks=(10,), n_boot=200), inputs))
    (ra, ia), (rb, ib) = sides
    direct = compare_audits(ra, ia, rb, ib, names=("a", "b"), k=10, n_boot=200)
    assert found["n_shared_users"] == direct.n_shared
    expected = direct.table.set_index("metric")
    for row in found["metrics"]:
        assert row["delta"] == pytest.approx(expected.loc[row["metric"], "delta"], rel=1e-12, abs=1e-15)
        assert row["ci_low"] == pytest.approx(expected.loc[row["metric"], "ci_low"], rel=1e-12, abs=1e-15)
