"""Every metric an engine runs equals the in-memory engine to 1e-9: values, bootstrap intervals, item-group
tables, popularity lift and the cleaning's drop counts, on DuckDB and Spark."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.data.readers import read_items, read_pairs, read_recs
from recaudit.metrics import AuditInputs, evaluate
from recaudit.metrics.engine import ITEM_GROUP_COLUMNS, AuditResult
from recaudit.metrics.engines.backends import Engine, connect
from recaudit.metrics.engines.evaluate import evaluate_engine
from recaudit.metrics.registry import ALL_ENGINES, METRICS, metric_names
from tests.metrics.engines.conftest import clean_world, integer_ids, messy_world, write_world

K = 10
TOL = 1e-9


def _memory(paths: dict[str, Path], k: int = K, ci: bool = True) -> AuditResult:
    inputs = AuditInputs.from_frames(
        read_recs(paths["recs"]), read_pairs(paths["train"]), test=read_pairs(paths["test"]),
        items=read_items(paths["items"]), k=k,
    )  # fmt: skip
    return evaluate(inputs, ks=(k,), ci=ci)


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= TOL


def assert_agree(got: AuditResult, want: AuditResult) -> None:
    engine_names = {n for n in metric_names() if "duckdb" in METRICS[n].engines}
    expected = {n for n in want.values if n.split("@")[0].split("[")[0] in engine_names}
    assert set(got.values) == expected, set(got.values) ^ expected
    for name, value in got.values.items():
        assert _close(value, want.values[name]), (name, value, want.values[name])
    assert set(got.ci) == {n for n in want.ci if n in expected}
    for name, (low, high) in got.ci.items():
        assert _close(low, want.ci[name][0]) and _close(high, want.ci[name][1]), (
            name,
            got.ci[name],
            want.ci[name],
        )
    assert got.info["data"] == {key: want.info["data"][key] for key in got.info["data"]}
    assert set(got.item_groups) == set(want.item_groups)
    for key, table in got.item_groups.items():
        _assert_frames(table, want.item_groups[key], key)
    for key, table in got.popularity_lift.items():
        _assert_frames(table, want.popularity_lift[key], key)
    skipped = {n for n in want.values if n not in expected} | set(want.skipped)
    assert set(got.skipped) == skipped
    assert all("not available in the" in why or "needs" in why for why in got.skipped.values())


def _assert_frames(got: pd.DataFrame, want: pd.DataFrame, key: str) -> None:
    assert list(got.columns) == list(want.columns), key
    assert len(got) == len(want), key
    for column in got.columns:
        a, b = got[column].to_numpy(), want[column].to_numpy()
        if pd.api.types.is_numeric_dtype(want[column]):
            ok = np.isclose(a.astype(float), b.astype(float), rtol=0, atol=TOL, equal_nan=True)
            assert ok.all(), (key, column, a[~ok][:3], b[~ok][:3])
        else:
            assert [str(x) for x in a] == [str(x) for x in b], (key, column)


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], AuditResult]:
    paths = write_world(messy_world(), tmp_path_factory.mktemp("messy"))
    return paths, _memory(paths)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], AuditResult]:
    paths = write_world(clean_world(), tmp_path_factory.mktemp("clean"))
    return paths, _memory(paths)


def test_the_messy_world_has_everything_the_cleaning_handles(
    messy: tuple[dict[str, Path], AuditResult],
) -> None:
    paths, memory = messy
    assert len(pd.read_parquet(paths["recs"])) >= 100_000
    dropped = memory.info["data"]["dropped"]
    assert all(
        dropped[key] > 0 for key in ("unknown_items", "duplicate_items", "duplicate_ranks", "beyond_k")
    )
    assert (
        memory.info["data"]["users"] > memory.info["data"]["users_with_lists"]
    )  # test users without a list


def test_engine_agrees_with_memory_on_a_messy_log(
    engine: Engine, messy: tuple[dict[str, Path], AuditResult]
) -> None:
    paths, memory = messy
    ci = engine.name == "duckdb"  # Spark's intervals are checked on MovieLens; here its in-engine means
    got = evaluate_engine(
        engine,
        recs=paths["recs"],
        train=paths["train"],
        test=paths["test"],
        items=paths["items"],
        k=K,
        ci=ci,
    )
    assert got.info["engine"]["repaired_log"] is True
    if ci:
        assert_agree(got, memory)
    else:
        assert got.ci == {} and got.per_user.empty
        assert_agree(got, _without_intervals(memory))


def test_duckdb_agrees_with_memory_on_a_clean_log_without_any_window(
    clean: tuple[dict[str, Path], AuditResult],
) -> None:
    paths, memory = clean
    got = evaluate_engine(
        "duckdb", recs=paths["recs"], train=paths["train"], test=paths["test"], items=paths["items"], k=K
    )
    assert got.info["engine"]["repaired_log"] is False
    assert_agree(got, memory)


def test_engine_agrees_on_a_clean_log_without_intervals(clean: tuple[dict[str, Path], AuditResult]) -> None:
    """Without intervals the popularity means come from the cleaning pass itself (no pass of their own).

    DuckDB only: Spark's clean path without intervals is the integer-id and other-shape tests' (each Spark
    audit costs ~10 s of jobs, so its share of the suite is kept to the paths no other test runs)."""
    paths, memory = clean
    got = evaluate_engine(
        "duckdb", recs=paths["recs"], train=paths["train"], test=paths["test"], items=paths["items"], k=K,
        ci=False,
    )  # fmt: skip
    assert got.info["engine"]["repaired_log"] is False and got.ci == {}
    assert_agree(got, _without_intervals(memory))


def test_engine_agrees_per_domain(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every metric per domain (that domain's items as the catalogue, its train and test rows) equals
    memory's :func:`evaluate_domains`, with the items split into two domains: on the messy log (DuckDB)
    and the clean one (Spark, whose repair path the messy-log test covers)."""
    from recaudit.metrics.domains import evaluate_domains

    world = messy_world(seed=4) if engine.name == "duckdb" else clean_world(seed=4)  # Spark: fewer jobs
    world["items"]["domain"] = np.where(np.arange(len(world["items"])) % 3 == 0, "books", "movies")
    paths = write_world(world, tmp_path_factory.mktemp("domains"))
    frames = {"recs": read_recs(paths["recs"]), "train": read_pairs(paths["train"]),
              "test": read_pairs(paths["test"]), "items": read_items(paths["items"])}  # fmt: skip
    ci = engine.name == "duckdb"
    memory = evaluate_domains(
        frames["recs"], frames["train"], frames["items"], test=frames["test"], k=K, ci=ci
    )
    domains: dict[str, AuditResult] = {}
    # Spark: the per-domain exposure, popularity and accuracy headline set (each Spark audit is ~10 s)
    subset = None if ci else [f"{m}@{K}" for m in ("coverage", "gini", "arp", "novelty", "ndcg", "recall")]
    evaluate_engine(
        engine, recs=paths["recs"], train=paths["train"], test=paths["test"], items=paths["items"], k=K,
        ci=ci, domains_out=domains, metrics=subset, item_columns=() if subset else ITEM_GROUP_COLUMNS,
        lift=subset is None,
    )  # fmt: skip
    assert list(domains) == list(memory) == ["books", "movies"]
    for name, got in domains.items():
        assert got.values["coverage@10"] > 0 and got.info["data"]["catalogue_items"] < len(world["items"])
        if subset is None:
            assert_agree(got, memory[name])
        else:
            assert set(got.values) == set(subset)
            for metric in subset:
                assert _close(got.values[metric], memory[name].values[metric]), (name, metric)


def _engine(name: str, request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue("spark_engine") if name == "spark" else connect("duckdb")


@pytest.mark.parametrize(
    ("engine_name", "shape"), [("duckdb", "uneven"), ("duckdb", "unknown_last")]
)  # Spark runs the same Ibis expressions: its clean path is the integer-id test's (each Spark audit ~10 s)
def test_clean_logs_of_other_shapes_agree_without_intervals(
    engine_name: str, shape: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    engine = _engine(engine_name, request)
    """Lists of different lengths (no shared width: popularity from the lists, not the exposure table),
    and unknown items only at the end of lists (the known rows are still clean: no window runs)."""
    world = clean_world(seed=2)
    recs = world["recs"]
    rng = np.random.default_rng(5)
    chosen = set(rng.choice(recs["user_id"].unique(), 300, replace=False).tolist())
    last = (recs["rank"] == 10) & recs["user_id"].isin(chosen)
    if shape == "uneven":
        recs = recs[~(last | ((recs["rank"] == 9) & recs["user_id"].isin(list(chosen)[:100])))]
    else:
        recs = recs.assign(item_id=recs["item_id"].where(~last, "retired-item"))
    world["recs"] = recs.reset_index(drop=True)
    paths = write_world(world, tmp_path_factory.mktemp(f"shape-{shape}"))
    memory = _memory(paths)
    got = evaluate_engine(
        engine, recs=paths["recs"], train=paths["train"], test=paths["test"], items=paths["items"], k=K,
        ci=False,
    )  # fmt: skip
    assert got.info["engine"]["repaired_log"] is False
    assert got.info["data"]["dropped"]["unknown_items"] == (300 if shape == "unknown_last" else 0)
    assert_agree(got, _without_intervals(memory))


@pytest.mark.parametrize(
    ("engine_name", "world"), [("duckdb", "messy"), ("duckdb", "clean"), ("spark", "clean")]
)  # Spark's repair path is the messy-log test's
def test_engine_agrees_with_integer_ids_in_every_table(
    engine_name: str, world: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Integer ids stay integers in the engine (joins on int64), yet ties split by id follow string order:
    the short head's boundary items and the popularity groups' boundary users match memory's."""
    engine = _engine(engine_name, request)
    frames = integer_ids(messy_world() if world == "messy" else clean_world())
    paths = write_world(frames, tmp_path_factory.mktemp(f"int-{world}"))
    memory = _memory(paths)
    got = evaluate_engine(
        engine, recs=paths["recs"], train=paths["train"], test=paths["test"], items=paths["items"], k=K,
        ci=engine.name == "duckdb",
    )  # fmt: skip
    assert got.info["engine"]["repaired_log"] is (world == "messy")
    assert_agree(got, memory if engine.name == "duckdb" else _without_intervals(memory))


@pytest.mark.parametrize("repeat", [False, True])
def test_lists_longer_than_the_rank_mask_are_checked_exactly(
    repeat: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Lists of 70 (beyond the 62 ranks a per-user bit mask proves) are checked by a distinct count: a
    clean one stays window-free, one repeated rank (at position 66) is found and repaired as in memory."""
    rng = np.random.default_rng(3)
    users, width = np.arange(1, 401), 70
    items = np.array([f"i{j:03d}" for j in range(300)], dtype=object)
    picks = np.argsort(rng.random((len(users), len(items))), axis=1)[:, :width]
    ranks = np.tile(np.arange(1, width + 1), (len(users), 1))
    if repeat:
        ranks[7, 65] = 65  # user 8's items at ranks 65 and 66 now share rank 65
    recs = pd.DataFrame({"user_id": np.repeat(users, width), "item_id": items[picks].ravel(),
                         "rank": ranks.ravel()})  # fmt: skip
    train = pd.DataFrame({"user_id": rng.choice(users, 5000), "item_id": rng.choice(items, 5000)})
    world = {"recs": recs, "train": train, "test": train.sample(500, random_state=0),
             "items": pd.DataFrame({"item_id": items})}  # fmt: skip
    paths = write_world(world, tmp_path_factory.mktemp(f"long-{repeat}"))
    memory = _memory(paths)
    got = evaluate_engine(
        "duckdb", recs=paths["recs"], train=paths["train"], test=paths["test"], items=paths["items"], k=K
    )
    assert got.info["engine"]["repaired_log"] is repeat
    assert got.info["data"]["dropped"]["duplicate_ranks"] == int(repeat)
    assert_agree(got, memory)


def _without_intervals(result: AuditResult) -> AuditResult:
    return AuditResult(
        values=result.values, item_groups=result.item_groups, popularity_lift=result.popularity_lift,
        skipped=result.skipped, info=result.info,
    )  # fmt: skip


def test_engine_agrees_on_the_movielens_audit_log(engine: Engine, shared_datasets: Path) -> None:
    root = shared_datasets / "ml-latest-small-audit"
    paths = {name: root / f"{name}.csv" for name in ("recs", "train", "test", "items")}
    memory = _memory(paths)
    got = evaluate_engine(engine, **{name: str(p) for name, p in paths.items()}, k=K)
    assert got.info["engine"]["repaired_log"] is False  # a clean log: ranks are the positions
    assert_agree(got, memory)
    assert got.values["ndcg@10"] > 0 and got.popularity_lift["popularity_lift@10"]["n_users"].sum() == 610


def test_the_catalogue_says_which_engines_run_each_metric() -> None:
    ran = {n for n in metric_names() if METRICS[n].engines == ALL_ENGINES}
    assert {
        "ndcg",
        "map",
        "gini",
        "exposure_gini",
        "personalization",
        "novelty",
        "exposure_disparity",
    } <= ran
    assert "ild" not in ran and "miscalibration" not in ran and "cold_item_recall" not in ran
