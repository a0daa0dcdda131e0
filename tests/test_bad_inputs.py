"""The bad-input matrix of the shared reliability notes (section 3), for cases not tested elsewhere.

Already covered (not repeated here): pickle/`__reduce__` .pt, legacy pickles, .pkl/.joblib, truncated and
empty .pt/.safetensors (tests/bundle/test_importers.py); flipped bytes, truncated bundle files,
paths leaving the
bundle, newer format versions, NaN vectors, tensor rows vs users.parquet
(tests/bundle/test_bundle.py); garbage
parquet, CSV wrong columns, ragged/empty/latin-1 CSV, 21-digit ids in CSV (tests/data/test_readers.py);
UMAP NaN rows and the small-n PCA fallback (tests/views/test_projection.py).

Every refusal is checked for its exact one-line message and for leaving nothing behind: the files under the
test's directory are the same before and after the failed call (no half-written bundle, CSV or temp file).
Fixtures are generated in a few lines each; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from recaudit.bundle import Bundle, load_bundle, make_manifest, save_bundle
from recaudit.bundle.importers import load_embeddings
from recaudit.cli import main
from recaudit.data.readers import read_interactions, read_table
from recaudit.errors import RecauditInputError
from recaudit.views.projection import ProjectionParams, project_items

# --------------------------------------------------------------------------------------------------
# tiny fixtures


def _bundle(user_ids: list[str], item_ids: list[str], dim: int = 3) -> Bundle:
    rng = np.random.default_rng(0)
    return Bundle(
        users=pd.DataFrame({"user_id": user_ids}),
        items=pd.DataFrame({"item_id": item_ids}),
        user_emb=rng.normal(size=(len(user_ids), dim)).astype(np.float32),
        item_emb=rng.normal(size=(len(item_ids), dim)).astype(np.float32),
        manifest=make_manifest(kind="imported", score="dot", dim=dim, data={}, config={}),
    )


def _saved_bundle(tmp: Path, name: str = "b") -> Path:
    return save_bundle(_bundle(["u1", "u2"], ["a", "b", "c"]), tmp / name)


def _edit_manifest(root: Path, edit: Callable[[dict], None]) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    edit(manifest)
    (root / "manifest.json").write_text(json.dumps(manifest))


def _replace_file(root: Path, name: str, frame: pd.DataFrame) -> None:
    """Rewrite one bundle file and fix its checksum, so only the content checks can catch it."""
    frame.to_parquet(root / name, index=False)
    entry = {"sha256": hashlib.sha256((root / name).read_bytes()).hexdigest(),
             "bytes": (root / name).stat().st_size}
    _edit_manifest(root, lambda m: m["files"].__setitem__(name, entry))


def _safetensors_bytes(header: dict, body: bytes, declared_length: int | None = None) -> bytes:
    """A safetensors file by hand: u64 little-endian header length, JSON header, raw body."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text) if declared_length is None else declared_length) + text + body


def _corrupt_snappy_page(path: Path) -> None:
    """A parquet file whose footer and page header are valid but whose snappy data page is garbage."""
    frame = pd.DataFrame({"user_id": [f"user-{i:05d}" for i in range(500)],
                          "item_id": [f"item-{i % 7}" for i in range(500)], "timestamp": range(500)})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, compression="snappy",
                   use_dictionary=False)
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(0)
    data = bytearray(path.read_bytes())
    start = chunk.data_page_offset + chunk.total_compressed_size // 2  # well past the page header
    data[start:start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden temp files included) with its content."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------------
# the matrix: each builder writes its fixture and returns (call, exact one-line message)

Built = tuple[Callable[[], object], str]


def case_pt_whole_module(tmp: Path) -> Built:
    path = tmp / "model.pt"
    torch.save(torch.nn.Linear(3, 2), path)
    return (lambda: load_embeddings(path, "user"),
            f"{path}: file contains executable objects (not just tensors); refusing it "
            "(save model.state_dict() or use safetensors)")


def case_pt_numpy_inside(tmp: Path) -> Built:
    path = tmp / "np.pt"
    torch.save({"user": np.ones((2, 2), np.float32)}, path)
    return (lambda: load_embeddings(path, "user"),
            f"{path}: file contains executable objects (not just tensors); refusing it "
            "(save model.state_dict() or use safetensors)")


def case_safetensors_header_2_62(tmp: Path) -> Built:
    path = tmp / "huge.safetensors"
    header = {"item": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}
    path.write_bytes(_safetensors_bytes(header, b"\0" * 16, declared_length=2**62))
    return (lambda: load_embeddings(path, "item"),
            f"{path}: not a readable safetensors file: Error while deserializing header: header too large")


def case_safetensors_overlapping_offsets(tmp: Path) -> Built:
    path = tmp / "overlap.safetensors"
    header = {"user": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
              "item": {"dtype": "F32", "shape": [2, 2], "data_offsets": [8, 24]}}
    path.write_bytes(_safetensors_bytes(header, b"\0" * 24))
    return (lambda: load_embeddings(path, "item"),
            f"{path}: not a readable safetensors file: Error while deserializing header: "
            "invalid offset for tensor `item`")


def case_bundle_duplicate_user_ids(tmp: Path) -> Built:
    root = _saved_bundle(tmp)
    _replace_file(root, "users.parquet", pd.DataFrame({"user_id": ["u1", "u1"]}))
    return (lambda: load_bundle(root),
            f"{root}/users.parquet: column 'user_id' has duplicate ids (first: 'u1')")


def case_bundle_item_table_longer_than_tensor(tmp: Path) -> Built:
    root = _saved_bundle(tmp)
    _replace_file(root, "items.parquet", pd.DataFrame({"item_id": ["a", "b", "c", "d"]}))
    return (lambda: load_bundle(root),
            f"{root}/embeddings.safetensors: item table has 3 rows but items.parquet has 4 ids")


def case_bundle_format_version_0(tmp: Path) -> Built:
    root = _saved_bundle(tmp)
    _edit_manifest(root, lambda m: m.__setitem__("format_version", 0))
    return lambda: load_bundle(root), f"{root}/manifest.json: unknown bundle format version 0"


def case_bundle_format_version_text(tmp: Path) -> Built:
    root = _saved_bundle(tmp)
    _edit_manifest(root, lambda m: m.__setitem__("format_version", "1"))
    return lambda: load_bundle(root), f"{root}/manifest.json: format_version is missing or not an integer"


def case_bundle_listed_file_missing(tmp: Path) -> Built:
    root = _saved_bundle(tmp)
    (root / "items.parquet").unlink()
    return lambda: load_bundle(root), f"{root}: bundle file items.parquet is missing"


def case_bundle_listed_extra_file_missing(tmp: Path) -> Built:
    root = _saved_bundle(tmp)
    _edit_manifest(root, lambda m: m["files"].__setitem__("interactions/train.parquet", {"sha256": "0" * 64}))
    return lambda: load_bundle(root), f"{root}: bundle file interactions/train.parquet is missing"


def case_parquet_corrupt_snappy_page(tmp: Path) -> Built:
    path = tmp / "corrupt.parquet"
    _corrupt_snappy_page(path)
    return (lambda: read_interactions(path),
            f"{path}: not a readable parquet file: Corrupt snappy compressed data.")


_NO_MAGIC = ("Parquet magic bytes not found in footer. Either the file is corrupted or this is not a "
             "parquet file.")


def case_csv_renamed_parquet(tmp: Path) -> Built:
    path = tmp / "really_csv.parquet"
    path.write_text("user_id,item_id,timestamp\n1,2,3\n")
    return (lambda: read_table(path),
            f"{path}: not a readable parquet file: Could not open Parquet input source '{path}': {_NO_MAGIC}")


def case_parquet_truncated(tmp: Path) -> Built:
    path = tmp / "cut.parquet"
    pd.DataFrame({"user_id": ["u"] * 50, "item_id": ["i"] * 50, "timestamp": range(50)}).to_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return (lambda: read_table(path),
            f"{path}: not a readable parquet file: Could not open Parquet input source '{path}': {_NO_MAGIC}")


def case_parquet_wrong_column_names(tmp: Path) -> Built:
    path = tmp / "renamed.parquet"
    pd.DataFrame({"person": ["a"], "thing": ["b"], "when": [1]}).to_parquet(path)  # no alias of any column
    return (lambda: read_interactions(path),
            f"{path}: interactions table is missing column(s) ['user_id', 'item_id', 'timestamp']; "
            "found ['person', 'thing', 'when'] "
            "(map yours with --columns, e.g. --columns user_id=YOUR_NAME (see README: Data format))")


def case_projection_overflows_float32(tmp: Path) -> Built:
    table = np.full((12, 4), 1e39)  # finite in float64, inf once read as float32
    return (lambda: project_items(table, [str(i) for i in range(12)], ProjectionParams(method="pca")),
            "item embeddings: 12 of 12 rows hold NaN or infinite values (first: row 0) "
            "(fix or drop those rows before projecting)")


MATRIX = {name[len("case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_bad_input_is_refused_with_one_line_and_nothing_half_written(tmp_path: Path, name: str) -> None:
    call, expected = MATRIX[name](tmp_path)
    before = _files(tmp_path)
    with pytest.raises(RecauditInputError) as info:
        call()
    message = info.value.one_line()
    assert message == expected
    assert "\n" not in message and "Traceback" not in message
    assert _files(tmp_path) == before


# --------------------------------------------------------------------------------------------------
# the same refusals through the command line: exit 2, one stderr line, --out never created


def _cli_pt_module(tmp: Path) -> tuple[list[str], str]:
    torch.save(torch.nn.Linear(3, 2), tmp / "model.pt")
    np.save(tmp / "items.npy", np.ones((3, 2), np.float32))
    return (["import", "--user-embeddings", f"{tmp}/model.pt", "--item-embeddings", f"{tmp}/items.npy",
             "--out", f"{tmp}/out", "--map", "none"],
            f"recaudit import: error: {tmp}/model.pt: file contains executable objects (not just tensors); "
            "refusing it (save model.state_dict() or use safetensors)")


def _cli_safetensors_huge_header(tmp: Path) -> tuple[list[str], str]:
    header = {"item": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 24]}}
    (tmp / "items.safetensors").write_bytes(_safetensors_bytes(header, b"\0" * 24, declared_length=2**62))
    np.save(tmp / "users.npy", np.ones((2, 2), np.float32))
    return (["import", "--user-embeddings", f"{tmp}/users.npy", "--item-embeddings",
             f"{tmp}/items.safetensors", "--out", f"{tmp}/out", "--map", "none"],
            f"recaudit import: error: {tmp}/items.safetensors: not a readable safetensors file: "
            "Error while deserializing header: header too large")


def _cli_metrics_corrupt_recs(tmp: Path) -> tuple[list[str], str]:
    _corrupt_snappy_page(tmp / "recs.parquet")
    pd.DataFrame({"user_id": ["a"], "item_id": ["i"]}).to_csv(tmp / "train.csv", index=False)
    return (["metrics", "--recs", f"{tmp}/recs.parquet", "--train", f"{tmp}/train.csv"],
            f"recaudit metrics: error: {tmp}/recs.parquet: not a readable parquet file: "
            "Corrupt snappy compressed data.")


def _cli_metrics_train_wrong_columns(tmp: Path) -> tuple[list[str], str]:
    pd.DataFrame({"user_id": ["a"], "item_id": ["i"], "rank": [1]}).to_csv(tmp / "recs.csv", index=False)
    pd.DataFrame({"person": ["a"], "thing": ["i"]}).to_parquet(tmp / "train.parquet")
    return (["metrics", "--recs", f"{tmp}/recs.csv", "--train", f"{tmp}/train.parquet"],
            f"recaudit metrics: error: {tmp}/train.parquet: interactions table is missing column(s) "
            "['user_id', 'item_id']; found ['person', 'thing'] "
            "(map yours with --columns, e.g. --columns user_id=YOUR_NAME (see README: Data format))")


def _cli_recommend_version_0(tmp: Path) -> tuple[list[str], str]:
    root = _saved_bundle(tmp)
    _edit_manifest(root, lambda m: m.__setitem__("format_version", 0))
    return (["recommend", str(root), "--all-users", "--out", f"{tmp}/out"],
            f"recaudit recommend: error: {root}/manifest.json: unknown bundle format version 0")


CLI_MATRIX = {name[len("_cli_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("_cli_")}


@pytest.mark.parametrize("name", sorted(CLI_MATRIX))
def test_cli_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    argv, expected = CLI_MATRIX[name](tmp_path)
    before = _files(tmp_path)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == expected
    assert _files(tmp_path) == before
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------------
# inputs that must load (or run) correctly, with the problem counted rather than a crash


def test_long_numeric_ids_in_parquet_strings_stay_exact(tmp_path: Path) -> None:
    long_user, long_item = "123456789012345678901234", "98765432109876543210987"  # 24 and 23 digits
    path = tmp_path / "ids.parquet"
    frame = pd.DataFrame({"user_id": [long_user, "7"], "item_id": [long_item, "8"], "timestamp": [1, 2]})
    frame.to_parquet(path)
    frame = read_interactions(path)
    assert frame["user_id"].tolist() == [long_user, "7"]
    assert frame["item_id"].tolist() == [long_item, "8"]


def test_long_numeric_ids_from_csv_survive_import_and_recommend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_items = ["100000000000000000001", "100000000000000000002", "100000000000000000003"]  # 21 digits
    pd.DataFrame({"item_id": long_items}).to_csv(tmp_path / "item_ids.csv", index=False)
    np.save(tmp_path / "u.npy", np.array([[1.0, 0.0]], np.float32))
    np.save(tmp_path / "i.npy", np.array([[0.1, 0.0], [0.3, 0.0], [0.2, 0.0]], np.float32))
    assert main(["import", "--user-embeddings", f"{tmp_path}/u.npy", "--item-embeddings", f"{tmp_path}/i.npy",
                 "--item-ids", f"{tmp_path}/item_ids.csv", "--out", f"{tmp_path}/b", "--map", "none"]) == 0
    capsys.readouterr()
    assert main(["recommend", f"{tmp_path}/b", "--user", "0", "-k", "3"]) == 0
    rows = [line.split(",") for line in capsys.readouterr().out.strip().splitlines()[1:]]
    # scores 0.3 > 0.2 > 0.1: items 2, 3, 1, each id exactly as written (a float would print 1e+20)
    assert [r[1] for r in rows] == [long_items[1], long_items[2], long_items[0]]


def _metrics_json(tmp: Path, recs_text: str, capsys: pytest.CaptureFixture[str]) -> dict:
    (tmp / "recs.csv").write_text(recs_text)
    train = pd.DataFrame({"user_id": ["a", "b", "b"], "item_id": ["i4", "i4", "i1"]})
    train.to_csv(tmp / "train.csv", index=False)
    pd.DataFrame({"item_id": ["i1", "i2", "i3", "i4"]}).to_csv(tmp / "items.csv", index=False)
    capsys.readouterr()
    code = main(["metrics", "--recs", f"{tmp}/recs.csv", "--train", f"{tmp}/train.csv", "--items",
                 f"{tmp}/items.csv", "--k", "2", "--no-ci", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err
    return json.loads(captured.out)


def test_metrics_ignore_non_numeric_and_non_finite_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scores are not used by any metric (lists are ordered by rank), so nan/inf/abc must not matter."""
    bad = _metrics_json(tmp_path, "user_id,item_id,rank,score\n"
                        "a,i1,1,abc\na,i2,2,nan\nb,i1,1,inf\nb,i3,2,-inf\n", capsys)
    good = _metrics_json(tmp_path, "user_id,item_id,rank,score\n"
                         "a,i1,1,0.9\na,i2,2,0.5\nb,i1,1,0.8\nb,i3,2,0.1\n", capsys)
    values = {k: v for k, v in bad.items() if isinstance(v, float)}
    assert values == {k: v for k, v in good.items() if isinstance(v, float)}
    # by hand: lists a=[i1,i2], b=[i1,i3]; 3 of 4 catalogue items recommended
    assert bad["coverage@2"] == 0.75
    # Gini (docs/metrics.md): counts sorted c = (i4: 0, i2: 1, i3: 1, i1: 2), n = 4, sum c = 4,
    # sum_j (2j - n - 1) c_j = (-3)*0 + (-1)*1 + 1*1 + 3*2 = 6, so G = 6 / (4 * 4) = 0.375
    assert bad["gini@2"] == pytest.approx(0.375)


def test_metrics_count_unknown_items_and_survive_duplicate_ranks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _metrics_json(tmp_path, "user_id,item_id,rank\n"
                        "a,i1,1\na,zz,2\nb,i1,1\nb,i3,1\nb,i2,2\n", capsys)
    dropped = out["info"]["data"]["dropped"]
    assert dropped["unknown_items"] == 1  # zz is not in the catalogue
    # b's tied rank 1 rows keep file order (i1 then i3), so i2 falls beyond k = 2
    assert dropped["beyond_k"] == 1
    # lists a=[i1], b=[i1,i3]: 2 of 4 catalogue items recommended (denominator = catalogue, not the log)
    assert out["coverage@2"] == 0.5
    assert out["info"]["data"]["catalogue_items"] == 4


def test_metrics_report_duplicate_user_rank_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _metrics_json(tmp_path, "user_id,item_id,rank\na,i1,1\nb,i1,1\nb,i3,1\nb,i2,2\n", capsys)
    dropped = out["info"]["data"]["dropped"]
    assert any("rank" in key and value == 1 for key, value in dropped.items())


def test_metrics_table_mentions_unknown_items(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "recs.csv").write_text("user_id,item_id,rank\na,i1,1\na,zz,2\n")
    pd.DataFrame({"user_id": ["a"], "item_id": ["i1"]}).to_csv(tmp_path / "train.csv", index=False)
    assert main(["metrics", "--recs", f"{tmp_path}/recs.csv", "--train", f"{tmp_path}/train.csv",
                 "--no-ci"]) == 0
    captured = capsys.readouterr()
    assert "catalogue" in (captured.out + captured.err).lower()


def test_recommend_k_larger_than_catalogue_gives_shorter_lists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _bundle(["u1", "u2"], ["a", "b", "c"])
    bundle.train = pd.DataFrame({"user_id": ["u1"], "item_id": ["b"], "timestamp": [1]})
    save_bundle(bundle, tmp_path / "b")
    capsys.readouterr()
    argv = ["recommend", f"{tmp_path}/b", "--all-users", "-k", "50", "--out", f"{tmp_path}/recs.csv"]
    assert main(argv) == 0
    recs = pd.read_csv(tmp_path / "recs.csv", dtype={"user_id": str, "item_id": str})
    # u1 has seen b, so 2 of the 3 items are left for it; u2 gets all 3
    assert recs.groupby("user_id").size().to_dict() == {"u1": 2, "u2": 3}
    assert "b" not in set(recs.loc[recs["user_id"] == "u1", "item_id"])
    assert recs.groupby("user_id")["rank"].apply(list).to_dict() == {"u1": [1, 2], "u2": [1, 2, 3]}
    assert main(["recommend", f"{tmp_path}/b", "--user", "u2", "-k", "50", "--include-seen"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1 + 3


def test_recommend_out_escapes_spreadsheet_formulas(tmp_path: Path) -> None:
    users = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "plain"]
    items = ["=cmd|' /C calc'!A0", "+item", "-item", "@item", "ok"]
    save_bundle(_bundle(users, items), tmp_path / "b")
    out = tmp_path / "recs.csv"
    assert main(["recommend", f"{tmp_path}/b", "--all-users", "-k", "5", "--include-seen",
                 "--out", str(out)]) == 0
    recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    cells = pd.concat([recs["user_id"], recs["item_id"]])
    assert not cells.str[:1].isin(["=", "+", "-", "@"]).any()
    assert set(recs["user_id"]) == {"'" + u for u in users[:4]} | {"plain"}
    assert set(recs["item_id"]) == {"'" + i for i in items[:4]} | {"ok"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


# --------------------------------------------------------------------------------------------------
# projection at extreme scale


def _huge_table() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(60, 8)) * 1e30


@pytest.mark.parametrize("params", [ProjectionParams(method="pca", metric="euclidean"),
                                    ProjectionParams(method="umap", metric="cosine")],
                         ids=["pca-euclidean", "umap-cosine"])
def test_projection_of_1e30_values_gives_finite_coordinates(params: ProjectionParams) -> None:
    result = project_items(_huge_table(), [str(i) for i in range(60)], params)
    assert result.xy.shape == (60, 2)
    assert np.isfinite(result.xy).all()


def test_projection_fallback_to_pca_at_1e30_scale() -> None:
    params = ProjectionParams(method="umap", metric="euclidean")
    result = project_items(_huge_table()[:3], ["a", "b", "c"], params)
    assert result.params.method == "pca"
    assert np.isfinite(result.xy).all()


def test_umap_euclidean_of_1e30_values_does_not_crash() -> None:
    result = project_items(_huge_table(), [str(i) for i in range(60)],
                           ProjectionParams(method="umap", metric="euclidean"))
    assert np.isfinite(result.xy).all()


# --------------------------------------------------------------------------------------------------
# gaps found while building the matrix, fixed: each test guards its fix


def test_save_refuses_duplicate_user_ids(tmp_path: Path) -> None:
    with pytest.raises(RecauditInputError, match="duplicate"):
        save_bundle(_bundle(["u", "u"], ["a", "b"]), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_boolean_format_version_is_refused(tmp_path: Path) -> None:
    root = _saved_bundle(tmp_path)
    _edit_manifest(root, lambda m: m.__setitem__("format_version", True))
    with pytest.raises(RecauditInputError, match="format_version"):
        load_bundle(root)


def test_matrix_fixture_helpers_make_valid_files(tmp_path: Path) -> None:
    """The hand-made safetensors writer produces loadable files when the header is honest."""
    path = tmp_path / "ok.safetensors"
    body = np.arange(4, dtype=np.float32).tobytes()
    header = {"item": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}
    path.write_bytes(_safetensors_bytes(header, body))
    np.testing.assert_array_equal(load_embeddings(path, "item").vectors, [[0, 1], [2, 3]])


def test_symlink_inside_the_bundle_is_refused(tmp_path: Path) -> None:
    root = _saved_bundle(tmp_path)
    (root / "users.parquet").rename(root / "real_users.parquet")
    (root / "users.parquet").symlink_to(root / "real_users.parquet")
    with pytest.raises(RecauditInputError, match="symbolic link"):
        load_bundle(root)
