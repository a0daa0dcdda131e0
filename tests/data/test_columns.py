"""Column names as users' files have them: aliases, an explicit mapping, and MovieLens folders, through the
readers and the CLI forms (``recaudit train FOLDER``, ``--columns user_id=userId,item_id=movieId``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recaudit.cli import main
from recaudit.data.columns import column_mapping, parse_mapping, resolve
from recaudit.data.readers import read_interactions, read_items, read_pairs, read_recs
from recaudit.errors import RecauditInputError


def test_aliases_match_without_case_punctuation_or_a_type_suffix() -> None:
    assert resolve(["userId", "movieId", "rating", "timestamp"]) == {
        "userId": "user_id",
        "movieId": "item_id",
    }
    assert resolve(["User-ID", "ASIN", "unixReviewTime"]) == {
        "User-ID": "user_id", "ASIN": "item_id", "unixReviewTime": "timestamp"
    }  # fmt: skip
    assert resolve(["user_id:token", "item_id:token", "timestamp:float"]) == {
        "user_id:token": "user_id", "item_id:token": "item_id", "timestamp:float": "timestamp"
    }  # fmt: skip
    assert resolve(["movieId", "title", "genres"]) == {"movieId": "item_id", "genres": "category"}


def test_a_schema_column_present_is_never_replaced_and_two_candidates_rename_nothing() -> None:
    assert resolve(["user_id", "userId", "item_id"]) == {}
    assert resolve(["user", "uid", "item_id"]) == {}  # ambiguous: the schema check names user_id
    assert resolve(["score", "rank", "user_id", "item_id"]) == {}


def test_an_explicit_mapping_wins_and_is_announced() -> None:
    said: list[str] = []
    with column_mapping({"user_id": "buyer", "item_id": "userId"}, listener=said.append):
        assert resolve(["buyer", "userId", "when"], "log.csv") == {"buyer": "user_id", "userId": "item_id"}
    assert said == ["log.csv: read buyer as user_id, userId as item_id"]
    assert resolve(["buyer"]) == {}  # outside the block the mapping is gone


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user_id", "'user_id' is not SCHEMA=FILE"),
        ("user_id=", "'user_id=' is not SCHEMA=FILE"),
        ("colour=hue", "unknown column 'colour'"),
        ("user_id=a,user_id=b", "'user_id' is mapped twice"),
    ],
)
def test_bad_mappings_are_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(RecauditInputError, match=message):
        parse_mapping(text)


def test_renamed_id_columns_are_read_as_text_in_csv_and_parquet(tmp_path: Path) -> None:
    """A leading zero survives a rename: the id column is read as text before it is renamed."""
    frame = pd.DataFrame({"userId": ["007", "010"], "movieId": ["0042", "9"], "timestamp": [1, 2]})
    csv = tmp_path / "ratings.csv"
    frame.to_csv(csv, index=False)
    frame.to_parquet(tmp_path / "ratings.parquet", index=False)
    for path in (csv, tmp_path / "ratings.parquet"):
        got = read_interactions(path)
        assert got["user_id"].tolist() == ["007", "010"] and got["item_id"].tolist() == ["0042", "9"]
    numbers = tmp_path / "numbers.parquet"
    pd.DataFrame({"customer_id": [5, 12], "sku": ["a", "b"], "position": [1, 2]}).to_parquet(numbers)
    with column_mapping({"item_id": "sku"}):
        recs = read_recs(numbers)
    assert recs["user_id"].tolist() == ["5", "12"] and recs["rank"].tolist() == [1, 2]


def _movielens(root: Path) -> Path:
    """A tiny ml-latest-small layout: 6 users x 5 movies, genres with '|'."""
    root.mkdir()
    rows = [
        (u, m, 4.0, 1_000_000 + 10 * u + m) for u in range(1, 7) for m in (1, 2, 3, 5, 8) if (u + m) % 3
    ]
    pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"]).to_csv(
        root / "ratings.csv", index=False
    )
    movies = pd.DataFrame({
        "movieId": [1, 2, 3, 5, 8], "title": ["A (1995)", "B (1996)", "C (1997)", "D (1998)", "E (1999)"],
        "genres": ["Comedy|Drama", "Action", "(no genres listed)", "Drama", "Comedy"],
    })  # fmt: skip
    movies.to_csv(root / "movies.csv", index=False)
    return root


def test_a_movielens_folder_reads_as_interactions_pairs_and_items(tmp_path: Path) -> None:
    folder = _movielens(tmp_path / "ml-tiny")
    interactions, pairs, items = read_interactions(folder), read_pairs(folder), read_items(folder)
    assert len(interactions) == len(pairs) == len(pd.read_csv(folder / "ratings.csv"))
    assert set(interactions["user_id"]) == {str(u) for u in range(1, 7)}
    assert items.set_index("item_id").loc["1", "category"] == "Comedy|Drama"
    assert items.set_index("item_id").loc["3", "category"] == ""
    interactions.loc[0, "user_id"] = "changed"
    assert read_interactions(folder).loc[0, "user_id"] != "changed"  # the cache hands out copies


def test_train_takes_a_movielens_folder_and_its_movies(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = _movielens(tmp_path / "ml-tiny")
    out = tmp_path / "bundle"
    code = main(["train", str(folder), "--out", str(out), "--epochs", "1", "--dim", "4", "--map", "none"])
    err = capsys.readouterr().err
    assert code == 0, err
    items = pd.read_parquet(out / "items.parquet")
    assert items.set_index("item_id").loc["5", "title"] == "D (1998)"  # the folder's movies, uninvited


def test_train_on_ratings_csv_says_which_mapping_it_used(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = _movielens(tmp_path / "ml-tiny")
    out = tmp_path / "bundle"
    argv = ["train", str(folder / "ratings.csv"), "--items", str(folder / "movies.csv"), "--out", str(out),
            "--epochs", "1", "--dim", "4", "--map", "none"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "recaudit train: note: ratings.csv: read userId as user_id, movieId as item_id" in err
    assert "recaudit train: note: movies.csv: read movieId as item_id, genres as category" in err


def test_columns_option_maps_names_no_alias_knows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train = tmp_path / "train.csv"
    pd.DataFrame({"who": ["a", "a", "b"], "what": ["x", "y", "x"]}).to_csv(train, index=False)
    recs = tmp_path / "recs.csv"
    pd.DataFrame({"who": ["a", "b"], "what": ["y", "y"], "rank": [1, 1]}).to_csv(recs, index=False)
    argv = ["metrics", "--recs", str(recs), "--train", str(train), "--no-ci", "--format", "json"]
    assert main(argv) == 2
    assert "missing column(s) ['user_id', 'item_id']" in capsys.readouterr().err
    assert main([*argv, "--columns", "user_id=who,item_id=what"]) == 0
    captured = capsys.readouterr()
    assert '"coverage@10": 0.5' in captured.out
    assert "note: recs.csv: read who as user_id, what as item_id" in captured.err
    assert main([*argv, "--columns", "user_id"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["recaudit metrics: error: --columns: 'user_id' is not SCHEMA=FILE "
                     "(e.g. --columns user_id=userId,item_id=movieId)"]  # fmt: skip


def test_engines_read_aliases_and_the_columns_mapping_as_memory_does(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``userId``/``movieId`` and ``--columns`` reach the DuckDB reader too: the same numbers as memory."""
    import json

    from recaudit.cli import main
    from tests.metrics.test_domains import _world

    w = _world()
    w["recs"].rename(columns={"user_id": "userId", "item_id": "movieId"}).to_parquet(
        tmp_path / "recs.parquet"
    )
    w["train"].rename(columns={"user_id": "who"}).to_csv(tmp_path / "train.csv", index=False)
    argv = ["metrics", "--recs", str(tmp_path / "recs.parquet"), "--train", str(tmp_path / "train.csv"),
            "--k", "2", "--no-ci", "--format", "json", "--columns", "user_id=who"]  # fmt: skip
    values = {}
    for engine in ("memory", "duckdb"):
        assert main([*argv, "--engine", engine]) == 0
        captured = capsys.readouterr()
        values[engine] = json.loads(captured.out)
        assert "read userId as user_id, movieId as item_id" in captured.err
        assert "train.csv: read who as user_id" in captured.err
    assert values["memory"]["coverage@2"] == pytest.approx(values["duckdb"]["coverage@2"], abs=1e-12)
    assert values["memory"]["arp@2"] == pytest.approx(values["duckdb"]["arp@2"], abs=1e-12)
