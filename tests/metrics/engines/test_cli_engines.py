"""``recaudit metrics --engine duckdb``: globs of parquet parts, the same numbers as memory, and bad files
refused with one line through the engine's own readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recaudit.cli import main
from recaudit.metrics.engines.expressions import gini_from_histogram
from recaudit.metrics.exposure import gini
from tests.metrics.engines.conftest import messy_world
from tests.test_cli_file_arguments import TABLE_CASES


@pytest.fixture(scope="module")
def parted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The messy world with its log split into three parquet parts (rows in file order across parts)."""
    root = tmp_path_factory.mktemp("parted")
    world = messy_world(n_users=900)
    (root / "recs").mkdir()
    recs = world["recs"]
    for j, rows in enumerate(np.array_split(np.arange(len(recs)), 3)):
        recs.iloc[rows].to_parquet(root / "recs" / f"part-{j}.parquet", index=False)
    for name in ("train", "test", "items"):
        world[name].to_parquet(root / f"{name}.parquet", index=False)
    return {
        "--recs": str(root / "recs" / "part-*.parquet"), "--train": str(root / "train.parquet"),
        "--test": str(root / "test.parquet"), "--items": str(root / "items.parquet"),
    }  # fmt: skip


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def _argv(paths: dict[str, str]) -> list[str]:
    return [token for pair in paths.items() for token in pair]


def test_duckdb_over_a_glob_prints_what_memory_prints(
    parted: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, memory, _ = _run(["metrics", *_argv(parted), "--format", "json"], capsys)
    assert code == 0
    code, duck, _ = _run(
        ["metrics", *_argv(parted), "--format", "json", "--engine", "duckdb", "--threads", "2"], capsys
    )
    assert code == 0
    a, b = json.loads(memory), json.loads(duck)
    shared = [name for name in b if "@" in name]
    assert {"ndcg@10", "gini@10", "novelty@10", "exposure_disparity[provider]@10"} <= set(shared)
    for name in shared:
        assert a[name] == pytest.approx(b[name], abs=1e-9), name
        if name in b["ci"]:
            assert a["ci"][name] == pytest.approx(b["ci"][name], abs=1e-9), name
    assert b["info"]["data"]["dropped"] == a["info"]["data"]["dropped"]
    assert b["skipped"]["ild@10"] == "not available in the duckdb engine"
    lift_a, lift_b = (
        a["groups"]["popularity_lift"]["popularity_lift@10"],
        b["groups"]["popularity_lift"]["popularity_lift@10"],
    )
    assert (
        [row["group"] for row in lift_b]
        == [row["group"] for row in lift_a]
        == ["niche", "diverse", "blockbuster"]
    )
    for row_a, row_b in zip(lift_a, lift_b, strict=True):
        assert row_b == pytest.approx(row_a, abs=1e-9)


def test_a_large_input_suggests_duckdb(
    parted: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECAUDIT_MEMORY_ENGINE_MAX_MB", "0.01")
    code, _, err = _run(["metrics", *_argv(parted), "--no-ci"], capsys)
    assert code == 0
    assert "--engine duckdb audits them without loading them into memory" in err


def test_user_breakdowns_on_an_engine_are_a_clear_error(
    parted: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["metrics", *_argv(parted), "--engine", "duckdb", "--by", "country"], capsys)
    assert code == 2 and "user breakdowns run in memory" in err and len(err.strip().splitlines()) == 1


def test_a_glob_matching_nothing_is_one_line(
    parted: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = dict(parted, **{"--recs": str(tmp_path / "nothing-*.parquet")})
    code, _, err = _run(["metrics", *_argv(paths), "--engine", "duckdb"], capsys)
    assert code == 2 and "no file matches this pattern" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("flag", ["--recs", "--train", "--test", "--items"])
@pytest.mark.parametrize("label", sorted(TABLE_CASES))
def test_bad_files_through_duckdb_exit_2_with_one_line(
    flag: str, label: str, parted: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = TABLE_CASES[label](tmp_path)
    paths = dict(parted, **{flag: str(bad)})
    code, out, err = _run(["metrics", *_argv(paths), "--engine", "duckdb", "--no-ci"], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("recaudit metrics: error: ") and str(bad) in lines[0], (
        err
    )
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("user_id,item_id,rank\na,i0001,0\n", "ranks that are not integers >= 1"),
        ("user_id,item_id,rank\na,i0001,1.5\n", "ranks that are not integers >= 1"),
        ("user_id,item_id,rank\na,i0001,first\n", "ranks that are not integers >= 1"),
        ("user_id,item_id,rank\n,i0001,1\n", "column 'user_id' has 1 missing ids"),
    ],
)
def test_bad_recs_rows_are_refused_before_any_metric(
    rows: str, message: str, parted: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "recs.csv"
    bad.write_text(rows)
    code, _, err = _run(
        ["metrics", *_argv(dict(parted, **{"--recs": str(bad)})), "--engine", "duckdb"], capsys
    )
    assert code == 2 and message in err, err


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=40))
def test_gini_from_the_histogram_equals_the_sorted_formula(counts: list[int]) -> None:
    values = np.asarray(counts, dtype=np.float64)
    distinct, sizes = np.unique(values[values > 0], return_counts=True)
    got = gini_from_histogram(distinct, sizes, len(values))
    want = gini(values)
    assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want, abs=1e-12)
