"""Read interaction, item and user tables from CSV or parquet into the fixed schema.

Every library failure (pyarrow, pandas, encodings) becomes a :class:`RecauditInputError` naming the file.
Id columns are read as strings so long numeric ids never lose precision; timestamps are normalised to
int64 seconds since the epoch (integers, or any date/time text pandas can parse).
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recaudit.data.columns import resolve
from recaudit.data.movielens import is_movielens_folder, movielens_tables
from recaudit.data.schema import (
    CATEGORY,
    DOMAIN,
    ID_COLUMNS,
    ITEM_ID,
    PROVIDER,
    TEXT,
    TIMESTAMP,
    TITLE,
)
from recaudit.data.validation import (
    require_ids,
    require_rows,
    validate_interactions,
    validate_items,
    validate_pairs,
    validate_recs,
    validate_users,
)
from recaudit.errors import RecauditInputError

TEXT_COLUMNS = (ITEM_ID, TITLE, CATEGORY, DOMAIN, PROVIDER, TEXT, *ID_COLUMNS)
SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


def check_input_file(path: str | Path, expected: str = "a file") -> Path:
    """The first check of every file argument: it exists, is a regular file and is not empty.

    Raises:
        RecauditInputError: ``file not found``, ``is a directory, expected ...`` or ``file is empty``.
    """
    path = Path(path)
    if not path.exists():
        raise RecauditInputError(path, "file not found")
    if path.is_dir():
        raise RecauditInputError(path, f"is a directory, expected {expected}")
    if not path.is_file():
        raise RecauditInputError(path, f"is not a regular file, expected {expected}")
    if path.stat().st_size == 0:
        raise RecauditInputError(path, "file is empty")
    return path


def check_output_file(path: str | Path) -> Path:
    """A file the command will write: not an existing directory, and no ancestor is a file.

    Checked before any work, so a long audit never ends in an unwritable path.
    """
    path = Path(path)
    if path.is_dir():
        raise RecauditInputError(path, "is a directory; expected a file path to write")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RecauditInputError(path, f"cannot be written: {parent} is a file, not a directory")
            break
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV/TSV or parquet file; id and text columns come back as strings.

    Raises:
        RecauditInputError: missing, empty, unreadable or malformed file.
    """
    path = check_input_file(path, "a CSV or parquet file")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise RecauditInputError(
            path, f"unsupported file type {suffix or '(none)'}", "use .csv, .tsv or .parquet"
        )
    if suffix in (".parquet", ".pq"):
        frame = _read_parquet(path)
    else:
        frame = _read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise RecauditInputError(path, f"duplicate column names {duplicated}")
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RecauditInputError(path, f"not a readable parquet file: {exc}") from exc
    names = table.column_names
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise RecauditInputError(path, f"duplicate column names {dupes}")
    frame = table.to_pandas().rename(columns=resolve(names, path))
    for column in TEXT_COLUMNS:
        if column in frame.columns:
            frame[column] = _as_text(frame[column])
    return frame


def _read_csv(path: Path, sep: str) -> pd.DataFrame:
    header = _check_csv_header(path, sep)
    n_columns = len(header)
    renames = resolve(header, path)  # before parsing: a renamed id column is read as text too
    dtype = dict.fromkeys(TEXT_COLUMNS, "string")
    dtype.update({source: "string" for source, target in renames.items() if target in TEXT_COLUMNS})
    try:
        # index_col=False: pandas would otherwise take a first data row with one field too many as
        # "the first column is the index" and shift every column one place (a silent wrong table).
        # That case is a ParserWarning, other long rows a ParserError: both are refused by row.
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path, sep=sep, dtype=dtype, keep_default_na=True, na_values=[""], index_col=False
            )
    except pd.errors.EmptyDataError as exc:
        raise RecauditInputError(path, "file is empty (no header row)") from exc
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        count, first = _long_rows(path, sep, n_columns)
        if count:
            raise RecauditInputError(
                path, f"{count} row(s) have more fields than the header's {n_columns} ({', '.join(first)})",
                "quote fields that contain the separator, or add the missing column names",
            ) from exc
        raise RecauditInputError(path, f"malformed CSV: {exc}".strip()) from exc
    except UnicodeDecodeError as exc:
        raise RecauditInputError(path, f"not UTF-8 text ({exc.reason})", "save it as UTF-8") from exc
    frame = frame.rename(columns=renames)
    for column in TEXT_COLUMNS:
        if column in frame.columns:
            frame[column] = _as_text(frame[column])
    return frame


def _long_rows(path: Path, sep: str, n_columns: int, limit: int = 3) -> tuple[int, list[str]]:
    """Rows (1-based file records, header = row 1) with more fields than the header: count, first few.

    Only run once pandas has refused the file, so its cost never touches a good file.
    """
    count, first = 0, []
    with path.open(encoding="utf-8", newline="") as handle:
        for number, record in enumerate(csv.reader(handle, delimiter=sep), start=1):
            if number > 1 and len(record) > n_columns:
                count += 1
                if len(first) < limit:
                    first.append(f"row {number}: {len(record)} fields")
    return count, first


def _check_csv_header(path: Path, sep: str) -> list[str]:
    """pandas silently renames duplicate headers to ``name.1``; refuse them instead.

    Returns the header's fields.
    """
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle, delimiter=sep), [])
    except UnicodeDecodeError as exc:
        raise RecauditInputError(path, f"not UTF-8 text ({exc.reason})", "save it as UTF-8") from exc
    names = [h.strip() for h in header]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RecauditInputError(path, f"duplicate column names {dupes}")
    return header


def _as_text(column: pd.Series) -> pd.Series:
    """Ids and text as Python strings with missing values kept as NaN (object dtype).

    Float columns holding integral values (e.g. ids stored as float in parquet) are written as
    integers, so ``12.0`` becomes ``"12"``.
    """
    if pd.api.types.is_float_dtype(column):
        whole = column.dropna()
        if len(whole) and np.all(np.mod(whole.to_numpy(), 1) == 0):
            as_int = column.astype("Int64").astype("string")
            return as_int.astype(object).where(column.notna(), np.nan)
    text = column.astype("string").str.strip()
    return text.astype(object).where(text.notna(), np.nan)


def read_interactions(path: str | Path) -> pd.DataFrame:
    """Read and validate an interactions table (user_id, item_id, timestamp, optional extras), or the
    ratings of a MovieLens folder (:func:`recaudit.data.movielens.load_movielens`'s layouts)."""
    if is_movielens_folder(path):
        return movielens_tables(path)[0]
    frame = read_table(path)
    return validate_interactions(frame, source=path)


def read_pairs(path: str | Path) -> pd.DataFrame:
    """Read ``user_id, item_id`` rows (a train or test log) where a timestamp is optional (a MovieLens
    folder: its ratings)."""
    if is_movielens_folder(path):
        return movielens_tables(path)[0]
    frame = read_table(path)
    if TIMESTAMP in frame.columns:
        return validate_interactions(frame, source=path)
    return validate_pairs(frame, source=path)


def read_items(path: str | Path) -> pd.DataFrame:
    """Read and validate an items table (item_id, optional title/category/domain/provider/text), or the
    movies of a MovieLens folder."""
    if is_movielens_folder(path):
        return movielens_tables(path)[1]
    return validate_items(read_table(path), source=path)


def read_users(path: str | Path) -> pd.DataFrame:
    """Read and validate an optional users table (user_id plus any attributes)."""
    return validate_users(read_table(path), source=path)


def read_recs(path: str | Path) -> pd.DataFrame:
    """Read and validate a recommendation log (``user_id, item_id, rank``; score and extras optional)."""
    return validate_recs(read_table(path), source=path)


def id_column(frame: pd.DataFrame, path: Path, side: str) -> str:
    """The column of an id table that holds ``side`` ids: ``{side}_id``, else ``id``, else the only column;
    checked to have rows and no missing ids (one clear error naming ``path`` otherwise)."""
    column = next((c for c in (f"{side}_id", "id") if c in frame.columns), None)
    if column is None:
        if len(frame.columns) != 1:
            raise RecauditInputError(path, f"no {side}_id or id column; found {list(frame.columns)}")
        column = str(frame.columns[0])
    require_rows(frame, path, f"{side} id")
    require_ids(frame, column, path)
    return column


def read_id_list(path: str | Path, side: str = "item") -> np.ndarray:
    """Read a list of ``side`` ids (e.g. this week's new items): text with one id per line, or a CSV/parquet
    table whose ``{side}_id`` or ``id`` column (or only column) holds them.

    Blank lines are skipped and repeats kept once, in first-seen order (object array of str).

    Raises:
        RecauditInputError: missing, empty or unreadable file, missing ids in a table, or no id at all.
    """
    path = check_input_file(path, f"a list of {side} ids (text, CSV or parquet)")
    if path.suffix.lower() in (".csv", ".tsv", ".parquet", ".pq"):
        frame = read_table(path)
        values = frame[id_column(frame, path, side)].astype(str).str.strip().tolist()
    else:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise RecauditInputError(path, f"{side} id list is not UTF-8 text", "save it as UTF-8") from exc
        values = [line.strip() for line in lines if line.strip()]
    if not values:
        raise RecauditInputError(path, f"holds no {side} ids")
    return np.asarray(list(dict.fromkeys(values)), dtype=object)


__all__ = [
    "check_input_file",
    "check_output_file",
    "id_column",
    "read_id_list",
    "read_interactions",
    "read_items",
    "read_pairs",
    "read_recs",
    "read_table",
    "read_users",
]
