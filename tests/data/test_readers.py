"""Readers and validation: every bad input names the file, the column and the first bad rows."""

from pathlib import Path

import pandas as pd
import pytest

from recaudit.data import check_known_items, read_interactions, read_items, read_recs
from recaudit.errors import RecauditInputError


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_reads_csv_with_string_ids_and_int_timestamps(tmp_path: Path) -> None:
    path = _write(tmp_path, "i.csv", "user_id,item_id,timestamp,rating\n"
                  "00042,123456789012345678901,1700000000,4.5\n7,8,1700000001,3\n")
    frame = read_interactions(path)
    assert frame["user_id"].tolist() == ["00042", "7"]  # leading zeros kept
    assert frame["item_id"].tolist() == ["123456789012345678901", "8"]  # 21 digits, no float rounding
    assert frame["timestamp"].dtype == "int64"
    assert frame["rating"].tolist() == [4.5, 3.0]


def test_iso_dates_become_epoch_seconds(tmp_path: Path) -> None:
    path = _write(tmp_path, "i.csv", "user_id,item_id,timestamp\nu,i,2024-05-01T00:00:00Z\nu,j,2024-05-01\n")
    assert read_interactions(path)["timestamp"].tolist() == [1714521600, 1714521600]


def test_parquet_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "i.parquet"
    pd.DataFrame({"user_id": [1, 2], "item_id": ["a", "b"], "timestamp": [5, 6]}).to_parquet(path)
    frame = read_interactions(path)
    assert frame["user_id"].tolist() == ["1", "2"]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("missing.csv", "person,thing,timestamp\n1,2,3\n", "missing column(s) ['user_id', 'item_id']"),
        ("header_only.csv", "user_id,item_id,timestamp\n", "has no rows"),
        ("bad_ts.csv", "user_id,item_id,timestamp\n1,2,3\n1,3,yesterday\n", "row 3: 'yesterday'"),
        ("nan_id.csv", "user_id,item_id,timestamp\n1,2,3\n,3,4\n", "'user_id' has 1 missing ids (row 3)"),
        ("ragged.csv", "user_id,item_id,timestamp\n1,2,3\n1,2,3,4,5\n",
         "1 row(s) have more fields than the header's 3 (row 3: 5 fields)"),
        # one field too many in the first row: pandas alone would shift every column into the index
        ("shifted.csv", "user_id,item_id,timestamp\n1,2,3,4\n1,2,3\n5,6,7,8\n",
         "2 row(s) have more fields than the header's 3 (row 2: 4 fields, row 4: 4 fields)"),
        ("bad_rating.csv", "user_id,item_id,timestamp,rating\n1,2,3,abc\n", "column 'rating'"),
        ("dupes.csv", "user_id,user_id,item_id,timestamp\n1,1,2,3\n", "duplicate column names ['user_id']"),
    ],
)
def test_bad_interactions_name_file_column_and_rows(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(RecauditInputError) as info:
        read_interactions(path)
    message = info.value.one_line()
    assert name in message
    assert expected in message


def test_empty_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "empty.csv", "")
    with pytest.raises(RecauditInputError, match="file is empty"):
        read_interactions(path)


def test_missing_file_and_unsupported_type(tmp_path: Path) -> None:
    with pytest.raises(RecauditInputError, match="file not found"):
        read_interactions(tmp_path / "nope.csv")
    with pytest.raises(RecauditInputError, match="unsupported file type .pkl"):
        read_interactions(_write(tmp_path, "x.pkl", "junk"))


def test_latin1_csv_asks_for_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path, "l1.csv", "item_id,title\n1,Amélie\n", encoding="latin-1")
    with pytest.raises(RecauditInputError, match="not UTF-8"):
        read_items(path)


def test_garbage_parquet(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.parquet", "user_id,item_id\n1,2\n")
    with pytest.raises(RecauditInputError, match="not a readable parquet file"):
        read_interactions(path)


def test_duplicate_item_ids(tmp_path: Path) -> None:
    path = _write(tmp_path, "items.csv", "item_id,title\na,A\nb,B\na,A again\n")
    with pytest.raises(RecauditInputError) as info:
        read_items(path)
    assert "1 duplicate ids" in str(info.value) and "row 2: 'a'" in str(info.value)


def test_interactions_with_unknown_items(tmp_path: Path) -> None:
    inter = read_interactions(_write(tmp_path, "i.csv", "user_id,item_id,timestamp\n1,a,1\n1,zz,2\n"))
    items = read_items(_write(tmp_path, "items.csv", "item_id\na\n"))
    with pytest.raises(RecauditInputError, match=r"1 interactions refer to items missing.*row 3: 'zz'"):
        check_known_items(inter, items, source="i.csv")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user_id,item_id,rank,score\na,i,1,0.5,EXTRA\na,j,2,0.4\n",
         "1 row(s) have more fields than the header's 4 (row 2: 5 fields)"),
        ("person,thing,rank\na,i,1\n",
         "recommendations table is missing column(s) ['user_id', 'item_id']; "
         "found ['person', 'thing', 'rank']"),
        ("user_id,item_id,rank\n", "recommendations table has no rows"),
        ("user_id,item_id,rank\na,i,1\na,j,0\nb,k,1.5\n",
         "column 'rank' has 2 ranks that are not integers >= 1 (row 3: 0.0, row 4: 1.5)"),
        ("user_id,item_id,rank\na,i,1\na,j\n", "column 'rank' has 1 ranks that are not integers >= 1 "
         "(row 3: missing)"),
        ("user_id,item_id,rank\na,,1\n", "column 'item_id' has 1 missing ids (row 2)"),
    ],
)
def test_bad_recommendation_logs_name_file_column_and_rows(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, "recs.csv", text)
    with pytest.raises(RecauditInputError) as info:
        read_recs(path)
    assert info.value.one_line().startswith(f"{path}: {expected}")


def test_recommendation_log_keeps_extra_columns_and_types_ranks(tmp_path: Path) -> None:
    path = _write(tmp_path, "recs.csv", "user_id,item_id,rank,score,model\n007,i,1,0.5,x\n007,j,2.0,,x\n")
    frame = read_recs(path)
    assert frame["user_id"].tolist() == ["007", "007"]
    assert frame["rank"].dtype == "int64" and frame["rank"].tolist() == [1, 2]
    assert frame["model"].tolist() == ["x", "x"]
