"""Connect to an engine and read tables into Ibis with the input layer's rules.

Every file goes through :func:`read_inputs`, whatever the engine: the columns a table of its kind needs must
be there, ids are integers where every table stores them so and strings otherwise (numbers written as
integers, whitespace stripped, as :mod:`recaudit.data.readers` does), a recommendation log's ranks are
integers >= 1, and a bad table is one :class:`~recaudit.errors.RecauditInputError` naming the file, raised
before any metric runs. A log also gets
``_row``, its file order (the tie-break of two items given the same rank, as the in-memory engine keeps
them in file order): DuckDB's ``file_row_number`` per file, files in sorted path order; Spark's
``monotonically_increasing_id``.

Concurrency: a DuckDB connection is used by one thread at a time (each :func:`connect` makes its own); the
Spark session is the process's shared one (``SparkSession.builder.getOrCreate``).
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from recaudit.data.columns import resolve
from recaudit.data.schema import CATEGORY, DOMAIN, ITEM_ID, PROVIDER, RANK, USER_ID
from recaudit.errors import RecauditInputError

Kind = Literal["recs", "pairs", "items", "users"]
Source = str | Path | pd.DataFrame

KEEP_TEXT_BYTES = 1 << 30
"""A CSV input up to this size is parsed once into the DuckDB database; a larger one is read per query."""
FILE_STRIDE = 1 << 32
"""A parquet log's ``_row`` is ``file index * 2**32 + row in the file``: file order, then row order."""
ITEM_COLUMNS = (CATEGORY, PROVIDER, DOMAIN)
_NEEDED: dict[str, tuple[str, ...]] = {
    "recs": (USER_ID, ITEM_ID, RANK),
    "pairs": (USER_ID, ITEM_ID),
    "items": (ITEM_ID,),
    "users": (USER_ID,),
}
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".tsv", ".txt")


@dataclass
class Engine:
    """An Ibis backend and its name (``duckdb`` or ``spark``).

    Concurrency: one thread at a time per engine (a DuckDB connection is not shared between threads)."""

    name: str
    con: Any
    _count: int = field(default=0, repr=False)

    def keep(self, table: Any) -> Any:
        """``table`` computed once and held for the several queries that read it: a DuckDB temporary table
        (for tables of catalogue or user size, and small text inputs), a cached Spark DataFrame."""
        if self.name == "duckdb":
            return self.con.create_table(self.table_name("kept"), obj=table, temp=True)
        return table.cache()

    def keep_large(self, table: Any) -> Any:
        """A table of log size: Spark caches it (its jobs would recompute the lineage), DuckDB streams it
        from the files again (holding it would cost memory the log's size, against ``memory_limit``)."""
        return table if self.name == "duckdb" else table.cache()

    def table_name(self, kind: str) -> str:
        self._count += 1
        return f"recaudit_{kind}_{self._count}"


def connect(name: str, *, threads: int | None = None, memory_limit: str | None = None) -> Engine:
    """A fresh DuckDB connection (in memory; ``threads``/``memory_limit`` bound it) or the Spark session.

    DuckDB spills what exceeds ``memory_limit`` to a private temporary folder (not its default ``.tmp`` in
    the working directory), removed when the process exits.

    Raises:
        RecauditInputError: an unknown engine, or Spark without PySpark/Java installed.
    """
    if name == "duckdb":
        import ibis

        spill = tempfile.mkdtemp(prefix="recaudit-duckdb-")
        atexit.register(shutil.rmtree, spill, ignore_errors=True)
        config: dict[str, Any] = {"temp_directory": spill}
        if threads:
            config["threads"] = int(threads)
        if memory_limit:
            config["memory_limit"] = str(memory_limit)
        return Engine("duckdb", ibis.duckdb.connect(**config))
    if name == "spark":
        import ibis

        return Engine("spark", ibis.pyspark.connect(spark_session()))
    raise RecauditInputError("--engine", f"unknown engine {name!r}", "use memory, duckdb or spark")


def spark_session() -> Any:
    """The process's SparkSession: the active one, else a local one (``RECAUDIT_SPARK_MASTER``, default
    ``local[*]``) with the UI off and its Python workers on this interpreter."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise RecauditInputError(
            "--engine spark", "PySpark is not installed",
            "pip install 'recaudit[spark]' (PySpark needs Java 17), or use --engine duckdb",
        ) from exc  # fmt: skip
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    cores = os.cpu_count() or 2
    builder = (
        SparkSession.builder.master(os.environ.get("RECAUDIT_SPARK_MASTER", "local[*]"))
        .appName("recaudit")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(max(2, 2 * cores)))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - the JVM's failure (no Java) becomes one line
        raise RecauditInputError(
            "--engine spark", f"could not start Spark: {str(exc).splitlines()[0]}",
            "PySpark needs Java 17 (apt install openjdk-17-jre-headless)",
        ) from exc  # fmt: skip
    session.sparkContext.setLogLevel("ERROR")
    return session


def expand(source: str | Path) -> list[Path]:
    """The files of a path, a glob (``recs/*.parquet``) or a folder (its parquet files), sorted.

    Raises:
        RecauditInputError: nothing matches, or files of mixed or unsupported types.
    """
    text = str(source)
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise RecauditInputError(text, "no file matches this pattern")
    else:
        path = Path(text)
        if not path.exists():
            raise RecauditInputError(path, "file not found")
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _PARQUET)
            if not files:
                raise RecauditInputError(path, "is a directory without parquet files")
        else:
            files = [path]
    suffixes = {p.suffix.lower() for p in files}
    if not suffixes <= set(_PARQUET + _CSV):
        raise RecauditInputError(
            text, f"unsupported file type(s) {sorted(suffixes)}", "use .csv or .parquet"
        )
    if len({s in _PARQUET for s in suffixes}) > 1:
        raise RecauditInputError(text, "mixes parquet and CSV files; give one kind")
    empty = [p for p in files if p.stat().st_size == 0]
    if empty:
        raise RecauditInputError(empty[0], "file is empty")
    return files


def read_inputs(engine: Engine, sources: dict[str, tuple[Source | None, Kind]]) -> dict[str, Any]:
    """Each named source read as a checked Ibis table of its kind (see the module docstring).

    ``sources`` maps a role (``recs``, ``train``, ...) to ``(source, kind)``; a None source is left out.
    Columns: ``user_id``/``item_id``, ``rank`` (int64) and ``_row`` for ``recs``; ``items`` also keeps
    ``category``, ``provider`` and ``domain`` when present (strings), ``users`` every column.

    The ids of one column share a type across all the tables, chosen once: int64 where every table stores
    that column as integers (joins and group-bys on integers are several times faster than on text, and
    the values are the same: the in-memory engine's id is the integer written in decimal), text
    otherwise. Only an id's *string order* matters beyond equality (ties split by id), and
    :func:`as_text` gives it where it does.
    """
    raws: dict[str, tuple[Any, Kind, str]] = {}
    for role, (source, kind) in sources.items():
        if source is None:
            continue
        label = "frame" if isinstance(source, pd.DataFrame) else str(source)
        raws[role] = (_guarded(engine, label, kind, lambda s=source, k=kind, n=label: _selected(
            _raw(engine, s, k), k, n)), kind, label)  # fmt: skip
    key_types = {
        column: _key_type([table[column] for table, _, _ in raws.values() if column in table.columns])
        for column in (USER_ID, ITEM_ID)
    }
    out: dict[str, Any] = {}
    for role, (table, kind, label) in raws.items():
        out[role] = _guarded(
            engine, label, kind, lambda t=table, k=kind, n=label: _normalised(t, k, n, key_types)
        )
        if engine.name == "duckdb" and _small_text(sources[role][0]):
            out[role] = engine.keep(out[role])  # parse a CSV once, not once per query
    return out


def as_text(column: Any) -> Any:
    """An id column as text, for the comparisons that follow string order (id tie-breaks)."""
    return column if column.type().is_string() else column.cast("string")


def _key_type(columns: list[Any]) -> str:
    return "int64" if columns and all(c.type().is_integer() for c in columns) else "string"


def _small_text(source: Source | None) -> bool:
    """A CSV input (or a frame) small enough to hold in the engine; a larger one is re-read per query."""
    if isinstance(source, pd.DataFrame):
        return True
    if source is None:
        return False
    files = expand(source)
    return files[0].suffix.lower() in _CSV and sum(p.stat().st_size for p in files) <= KEEP_TEXT_BYTES


def _guarded(engine: Engine, label: str, kind: Kind, step: Any) -> Any:
    try:
        return step()
    except RecauditInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - the engine's reader failing on the file is one clear line
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        why = f"not a readable {kind} table ({engine.name}: {first[:200]})"
        raise RecauditInputError(label, why) from exc


def _raw(engine: Engine, source: Source, kind: Kind) -> Any:
    import ibis

    if isinstance(source, pd.DataFrame):
        frame = source.reset_index(drop=True)
        if kind == "recs":
            frame = frame.assign(_row=range(len(frame)))
        return ibis.memtable(frame)
    files = expand(source)
    csv = files[0].suffix.lower() in _CSV
    names = [str(p) for p in files]
    if engine.name == "duckdb":
        if csv:
            sep = "\t" if files[0].suffix.lower() == ".tsv" else ","
            table = engine.con.read_csv(
                names, table_name=engine.table_name(kind), all_varchar=True, delim=sep, header=True
            )
            if kind == "recs":
                table = table.mutate(_row=ibis.row_number())  # the reader's order, which is file order
            return table
        if kind != "recs":
            return engine.con.read_parquet(names, table_name=engine.table_name(kind))
        # DuckDB's virtual columns: the file's place in the list given (sorted paths) and the row in it
        listed = ", ".join("'" + name.replace("'", "''") + "'" for name in names)
        view = engine.table_name(kind)
        engine.con.raw_sql(
            f"CREATE TEMP VIEW {view} AS SELECT *, file_index * {FILE_STRIDE} + file_row_number AS _row "
            f"FROM read_parquet([{listed}])"
        )
        return engine.con.table(view)
    return _spark_raw(engine, names, csv, kind)


def _spark_raw(engine: Engine, names: list[str], csv: bool, kind: Kind) -> Any:
    from pyspark.sql import functions as F

    session = engine.con._session
    if csv:
        sep = "\t" if names[0].lower().endswith(".tsv") else ","
        frame = session.read.csv(names, header=True, sep=sep, inferSchema=False)
    else:
        frame = session.read.parquet(*names)
    if kind == "recs":
        frame = frame.withColumn("_row", F.monotonically_increasing_id())
    name = engine.table_name(kind)
    frame.createOrReplaceTempView(name)
    return engine.con.table(name)


def _selected(table: Any, kind: Kind, label: str) -> Any:
    """The columns a table of ``kind`` keeps, renamed to the schema as the in-memory readers rename them
    (:mod:`recaudit.data.columns`: aliases and ``--columns``); a missing one is the file's error."""
    renames = resolve([c for c in table.columns if c != "_row"], None if label == "frame" else label)
    if renames:
        table = table.rename({new: old for old, new in renames.items()})
    needed = _NEEDED[kind]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise RecauditInputError(
            label,
            f"{kind} are missing column(s) {missing} (found {[c for c in table.columns if c != '_row']})",
        )
    keep = list(needed) + (["_row"] if kind == "recs" else [])
    if kind == "items":
        keep += [c for c in ITEM_COLUMNS if c in table.columns]
    if kind == "users":
        keep += [c for c in table.columns if c not in keep]
    return table.select(*keep)


def _normalised(table: Any, kind: Kind, label: str, key_types: dict[str, str]) -> Any:
    import ibis

    ids = [c for c in (USER_ID, ITEM_ID) if c in table.columns]
    table = table.mutate(
        **{c: table[c].cast("int64") if key_types[c] == "int64" else _as_text(table[c]) for c in ids}
    )
    if kind == "items":
        table = table.mutate(**{c: _as_text(table[c]) for c in ITEM_COLUMNS if c in table.columns})
    checks: dict[str, Any] = {"n": table.count()}
    for c in ids:
        checks[f"null_{c}"] = table[c].isnull().sum()
    if kind == "recs":
        rank = table[RANK].try_cast("float64")  # text that is no number becomes NULL, a bad rank
        bad = rank.isnull() | (rank < 1) | (rank != rank.floor()) | rank.isinf() | rank.isnan()
        checks["bad_rank"] = ibis.ifelse(bad, 1, 0).sum()
    if kind == "items":
        checks["distinct"] = table[ITEM_ID].nunique()
    found = table.aggregate(**checks).execute().iloc[0]
    if int(found["n"]) == 0:
        raise RecauditInputError(label, f"holds no {kind} rows")
    for c in ids:
        if int(found[f"null_{c}"] or 0):
            raise RecauditInputError(label, f"column '{c}' has {int(found[f'null_{c}'])} missing ids")
    if kind == "recs":
        if int(found["bad_rank"] or 0):
            raise RecauditInputError(
                label, f"{int(found['bad_rank'])} ranks that are not integers >= 1",
                "rank 1 is the top of each user's list",
            )  # fmt: skip
        table = table.mutate(**{RANK: _as_rank(table[RANK]), "_row": table._row.cast("int64")})
    if kind == "items" and int(found["distinct"]) != int(found["n"]):
        raise RecauditInputError(
            label, f"column 'item_id' has {int(found['n']) - int(found['distinct'])} duplicate ids",
            "each item must appear once in the items table",
        )  # fmt: skip
    return table


def _as_rank(column: Any) -> Any:
    """Checked ranks as int64 (text and whole floats through float64, integers directly)."""
    return column.cast("int64") if column.type().is_integer() else column.cast("float64").cast("int64")


def _as_text(column: Any) -> Any:
    """Ids as the readers store them: whole floats as integers (``12.0`` -> ``"12"``), text stripped."""
    import ibis

    kind = column.type()
    if kind.is_floating():
        whole = column == column.floor()
        return ibis.ifelse(whole, column.cast("int64").cast("string"), column.cast("string"))
    if kind.is_string():
        stripped = column.strip()
        return ibis.ifelse(stripped == "", ibis.null("string"), stripped)
    return column.cast("string")
