""":func:`evaluate_engine`: the catalogue's aggregation metrics of a log, computed where it lives.

The result is the in-memory engine's :class:`~recaudit.metrics.engine.AuditResult` with the same names,
values (agreement to 1e-9 is tested), item-group tables, popularity-lift table and drop counts. With
``ci=True`` the per-user values come back (one float per user and metric) and get the same bootstrap as in
memory, so the intervals agree too; without it only the means and the small tables leave the engine.

Not here (skipped with the reason, or left to the in-memory engine): metrics whose catalogue entry does not
list the engine (embedding and category diversity, calibration, cold start, cross-domain), and the user
breakdowns by activity and users-table columns.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from recaudit.data.schema import DOMAIN, ITEM_ID, USER_ID
from recaudit.errors import RecauditInputError
from recaudit.metrics.engine import ITEM_GROUP_COLUMNS, AuditResult
from recaudit.metrics.engines import expressions as ex
from recaudit.metrics.engines.backends import Engine, Source, connect, read_inputs
from recaudit.metrics.engines.lists import clean_lists
from recaudit.metrics.fairness import exposure_disparity
from recaudit.metrics.registry import NEED_TEXT, default_metrics, parse_metric
from recaudit.metrics.stats import bootstrap_ci


def evaluate_engine(
    engine: str | Engine,
    *,
    recs: Source,
    train: Source,
    test: Source | None = None,
    items: Source | None = None,
    k: int = 10,
    metrics: Sequence[str] | None = None,
    ci: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    item_columns: Sequence[str] = ITEM_GROUP_COLUMNS,
    threads: int | None = None,
    memory_limit: str | None = None,
    lift: bool = True,
    domains_out: dict[str, AuditResult] | None = None,
) -> AuditResult:
    """Audit a log on ``engine`` (``"duckdb"``, ``"spark"`` or a connected :class:`Engine`).

    Args:
        recs, train, test, items: files, globs or folders of parquet/CSV (or DataFrames), as
            ``recaudit metrics`` takes them; the catalogue is ``items`` when given, else the training items.
        k: the cut-off (the lists' width, as ``recaudit metrics --k``).
        metrics: names with ``@k``; default every default metric at ``k`` (those the engine does not run
            are listed in ``skipped`` with the reason).
        ci: bootstrap 95% intervals of the per-user metrics (per-user values come back to the driver).
        threads, memory_limit: DuckDB's bounds (``memory_limit="4GB"``; DuckDB spills beyond it).
        lift: also the popularity-lift table (GAP per popularity group), as the in-memory engine gives;
            False leaves it out when only the named metrics are wanted.
        domains_out: when given, filled with one audit per value of the catalogue's ``domain`` column:
            that domain's items as the catalogue, its training and test rows only
            (:mod:`recaudit.metrics.domains`, the same definition in memory).

    Raises:
        RecauditInputError: a bad file (one line naming it) or an unknown engine.
        ValueError: ``metrics`` named but none can run.
    """
    started = time.perf_counter()
    eng = (
        engine
        if isinstance(engine, Engine)
        else connect(engine, threads=threads, memory_limit=memory_limit)
    )
    read = read_inputs(eng, {
        "recs": (recs, "recs"), "train": (train, "pairs"), "test": (test, "pairs"), "items": (items, "items")
    })  # fmt: skip
    raw_recs, train_t, test_t = read["recs"], read["train"], read.get("test")
    if "items" in read:
        catalogue = read["items"]
    else:
        catalogue = eng.keep(train_t.select(ITEM_ID).distinct())
    settings = dict(
        k=k, metrics=metrics, ci=ci, n_boot=n_boot, seed=seed, item_columns=item_columns, lift=lift
    )
    if domains_out is not None:
        if DOMAIN not in catalogue.columns:
            where = str(items) if items is not None else "--items"
            raise RecauditInputError(where, "has no domain column", "per-domain metrics need one")
        found = catalogue.select(DOMAIN).distinct().execute()[DOMAIN].dropna().astype(str)
        for domain in sorted(found):
            own = eng.keep(catalogue.filter(catalogue[DOMAIN] == domain))
            ids = own.select(ITEM_ID)
            domain_test = None if test_t is None else test_t.semi_join(ids, ITEM_ID)
            domain_settings = {**settings, "item_columns": [c for c in item_columns if c != DOMAIN]}
            domains_out[domain] = _evaluate_tables(
                eng, raw_recs, train_t.semi_join(ids, ITEM_ID), domain_test, own, **domain_settings,
                started=time.perf_counter(),
            )  # fmt: skip
    return _evaluate_tables(eng, raw_recs, train_t, test_t, catalogue, **settings, started=started)


def _evaluate_tables(
    eng: Engine, raw_recs: Any, train_t: Any, test_t: Any, catalogue: Any, *, k: int,
    metrics: Sequence[str] | None, ci: bool, n_boot: int, seed: int, item_columns: Sequence[str], lift: bool,
    started: float,
) -> AuditResult:  # fmt: skip
    """:func:`evaluate_engine` over tables already read and checked."""
    n_items = int(catalogue.count().execute())
    requested = list(metrics) if metrics is not None else [f"{name}@{k}" for name in default_metrics()]
    skipped: dict[str, str] = {}
    wanted: list[str] = []
    for text in requested:
        spec, at = parse_metric(text)
        name = f"{spec.name}@{at}"
        if at != k:
            skipped[name] = f"the {eng.name} engine computes one cut-off per run (--k {k})"
        elif eng.name not in spec.engines:
            skipped[name] = f"not available in the {eng.name} engine"
        elif "test" in spec.needs and test_t is None:
            skipped[name] = "needs " + NEED_TEXT.get("test", "test")
        elif spec.kind != "item_group":
            wanted.append(spec.name)
    if (
        metrics is not None
        and not wanted
        and not any(parse_metric(m)[0].kind == "item_group" for m in metrics)
    ):
        raise ValueError("none of the requested metrics can be computed: " + "; ".join(
            f"{name}: {why}" for name, why in skipped.items()
        ))  # fmt: skip

    audited = raw_recs.select(USER_ID)
    if test_t is not None:
        audited = audited.union(test_t.select(USER_ID))
    tables = ex.Tables(
        k, catalogue, n_items, train_t, test_t, audited.distinct(), keep=eng.keep, keep_large=eng.keep_large
    )
    cleaned = clean_lists(
        raw_recs, catalogue.select(ITEM_ID), k, engine=eng.name, keep=eng.keep, keep_large=eng.keep_large
    )
    tables.lists = eng.keep_large(cleaned.table)
    tables.n_listed = cleaned.listed_users
    tables.width = cleaned.width
    if cleaned.exposure is not None:  # the cleaning's item pass is a clean log's exposure table
        tables.cached("exposure", lambda: cleaned.exposure)

    values: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    per_user: dict[str, pd.Series] = {}
    for names, build in ((ex.ACCURACY, ex.accuracy_per_user), (ex.POPULARITY, ex.popularity_per_user)):
        chosen = [n for n in wanted if n in names]
        if not chosen:
            continue
        means = ex.popularity_means(tables) if not ci and names == ex.POPULARITY else None
        if means is not None:  # one length for every list: from the exposure table, no pass over the log
            values.update({f"{name}@{k}": means[name] for name in chosen})
            continue
        table = build(tables)
        if ci:
            frame = table.select(USER_ID, *chosen).execute()
            frame = frame.set_index(frame[USER_ID].astype(str)).drop(columns=USER_ID)
            frame = frame.loc[sorted(frame.index)]  # the in-memory engine's user order
            for name in chosen:
                column = frame[name].to_numpy(np.float64)
                mean, low, high = bootstrap_ci(column, n_boot=n_boot, seed=seed)
                values[f"{name}@{k}"] = mean
                intervals[f"{name}@{k}"] = (low, high)
                per_user[f"{name}@{k}"] = frame[name].astype(np.float64)
        else:
            means = table.aggregate(**{n: table[n].mean() for n in chosen}).execute().iloc[0]
            for name in chosen:
                value = means[name]
                values[f"{name}@{k}"] = math.nan if value is None or pd.isna(value) else float(value)
    exposure_names = [n for n in wanted if n in ex.EXPOSURE]
    if exposure_names:
        found = ex.exposure_values(tables)
        values.update({f"{n}@{k}": found[n] for n in exposure_names})
    ordered = {}
    for text in requested:  # report in the order asked, as the in-memory engine does
        spec, at = parse_metric(text)
        name = f"{spec.name}@{at}"
        if name in values:
            ordered[name] = values[name]
    result = AuditResult(values=ordered, ci=intervals, skipped=skipped)
    if per_user:
        result.per_user = pd.DataFrame(per_user).rename_axis(USER_ID)
    columns = [c for c in item_columns if c in catalogue.columns]
    for column in columns:
        table = ex.group_exposure(tables, column)
        result.item_groups[f"{column}@{k}"] = table
        if test_t is not None:
            result.values[f"exposure_disparity[{column}]@{k}"] = exposure_disparity(table)
    if lift:
        result.popularity_lift[f"popularity_lift@{k}"] = ex.popularity_lift(tables)
    result.info = _info(
        eng, tables, cleaned, test_t, k, ci, n_boot, seed, columns, time.perf_counter() - started
    )
    return result


def _info(
    eng: Engine, t: ex.Tables, cleaned: Any, test: Any, k: int, ci: bool, n_boot: int, seed: int,
    columns: list[str], seconds: float,
) -> dict[str, Any]:  # fmt: skip
    users = cleaned.log_users if test is None else int(t.users.count().execute())
    test_users = None if test is None else int(test[USER_ID].nunique().execute())
    return {
        "data": {
            "users": users,
            "users_with_lists": t.n_listed,
            "catalogue_items": t.n_items,
            "k": k,
            "train_users": t.n_train_users,
            "test_users": test_users,
            "dropped": dict(cleaned.report),
        },
        "engine": {"name": eng.name, "repaired_log": cleaned.repaired, "seconds": round(seconds, 2)},
        "settings": {
            "ks": [k],
            "bootstrap": n_boot if ci else 0,
            "seed": seed,
            "head_share": ex.HEAD_SHARE,
            "item_columns": list(columns),
        },
    }


def check_engine(name: str) -> None:
    """Refuse an unknown engine name before any file is read."""
    from recaudit.metrics.engines import ENGINES

    if name not in ENGINES:
        raise RecauditInputError("--engine", f"unknown engine {name!r}", "use " + ", ".join(ENGINES))
