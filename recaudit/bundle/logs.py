"""Recommendation-log folders: a log from any tool, with its train/test/items/users, kept beside the bundles.

A **log folder** lets the app audit a recommendation log without a model (issue 14, the Import page's log
tab): the audit pages read it as they read a bundle's lists, and the pages that need embeddings say so. It
sits in the bundles folder so the sidebar lists it with the bundles, and it survives a restart.

Layout (all written at once into a hidden sibling folder and renamed into place, so a failed import
leaves nothing behind and an existing folder is replaced only when asked)::

    <name>/
      log.json            {"format": "recaudit-log", "format_version": 1, "name", "rows": {...},
                           "source": {...}, "columns": {...}, "created"}
      recs.parquet        user_id, item_id, rank[, score][, timestamp] as read by read_recs
      train.parquet       user_id, item_id[, ...] as read by read_pairs
      test.parquet        optional, as read by read_pairs
      items.parquet       optional, as read by read_items
      users.parquet       optional, as read by read_users

Every table goes through the same readers as ``recaudit metrics`` (:mod:`recaudit.data.readers`), so a
log folder audits to the command's numbers, and a bad file fails with the command's one-line message before
anything is written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recaudit._io import atomic_dir, read_json_object
from recaudit.bundle.io import MANIFEST
from recaudit.data.readers import read_items, read_pairs, read_recs, read_users
from recaudit.data.schema import ITEM_ID, TIMESTAMP, USER_ID
from recaudit.errors import RecauditInputError

LOG_MANIFEST = "log.json"
LOG_FORMAT = "recaudit-log"
LOG_FORMAT_VERSION = 1
TABLES = ("recs", "train", "test", "items", "users")
"""The tables of a log folder, in the order they are read; ``recs`` and ``train`` are required."""
READERS = {
    "recs": read_recs,
    "train": read_pairs,
    "test": read_pairs,
    "items": read_items,
    "users": read_users,
}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_LOG_MANIFEST_BYTES = 1 << 20


@dataclass
class RecLog:
    """A recommendation log and its data, as the audit pages read it (read-only once loaded).

    Attributes:
        name: the folder's name, shown in the sidebar.
        path: the folder (None for a log built in memory).
        recs, train, test, items, users: the validated tables (test, items and users may be None).
        manifest: the parsed ``log.json``.
    """

    name: str
    path: Path | None
    recs: pd.DataFrame
    train: pd.DataFrame
    test: pd.DataFrame | None = None
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def depth(self) -> int:
        """The longest list's length (the largest rank in the log)."""
        return int(self.recs.groupby(USER_ID, sort=False).size().max()) if len(self.recs) else 0

    @property
    def has_timestamps(self) -> bool:
        """Whether the lists carry a time, so exposure can be audited per window."""
        return TIMESTAMP in self.recs.columns and bool(self.recs[TIMESTAMP].notna().any())


def check_log_name(name: str) -> str:
    """``name`` if it can name a folder of the bundles folder (letters, digits, ``._-``; 64 at most)."""
    if not NAME_PATTERN.match(name or ""):
        raise RecauditInputError(
            "name", f"{name!r} cannot name a folder", "use letters, digits, '.', '_' or '-' (64 at most)"
        )
    return name


def check_log_output(out: str | Path, *, overwrite: bool = False) -> None:
    """Fail before any work if a log folder cannot be written at ``out`` without destroying something: an
    existing log is replaced only with ``overwrite``; anything else there is never replaced."""
    out = Path(out)
    check_log_name(out.name)
    if not out.exists():
        return
    if not is_log_dir(out):
        raise RecauditInputError(out, "exists and is not a recommendation log; refusing to replace it")
    if not overwrite:
        raise RecauditInputError(out, "exists", "choose another name, or replace it")


def read_log_tables(paths: dict[str, str | Path | None]) -> dict[str, pd.DataFrame | None]:
    """Each table of ``paths`` (keys of :data:`TABLES`) read and validated by its reader, None where absent.

    Raises:
        RecauditInputError: ``recs`` or ``train`` is missing, or a file is unreadable or invalid (the same
            one line as ``recaudit metrics`` gives).
    """
    unknown = set(paths) - set(TABLES)
    if unknown:
        raise ValueError(f"unknown log tables {sorted(unknown)}")
    for required in ("recs", "train"):
        if paths.get(required) is None:
            raise RecauditInputError(required, "is required for a recommendation log")
    return {
        name: None if paths.get(name) is None else READERS[name](paths[name])  # type: ignore[arg-type]
        for name in TABLES
    }


def save_log(
    tables: dict[str, pd.DataFrame | None],
    out: str | Path,
    *,
    source: dict[str, str] | None = None,
    columns: dict[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Check that ``tables`` align (:meth:`recaudit.metrics.AuditInputs.from_frames`), then write the log
    folder ``out`` atomically; returns its path.

    Raises:
        RecauditInputError: the tables do not align (e.g. no list user in the training data), or ``out``
            exists and is not a log folder, or is one and ``overwrite`` is off.
    """
    from recaudit.metrics import AuditInputs

    out = Path(out)
    check_log_output(out, overwrite=overwrite)
    recs, train = tables["recs"], tables["train"]
    if recs is None or train is None:
        raise RecauditInputError("recs/train", "both are required for a recommendation log")
    AuditInputs.from_frames(
        recs, train, test=tables.get("test"), items=tables.get("items"), users=tables.get("users"),
        source=str((source or {}).get("recs", "recs")),
    )  # fmt: skip
    manifest = {
        "format": LOG_FORMAT,
        "format_version": LOG_FORMAT_VERSION,
        "name": out.name,
        "rows": {name: len(frame) for name, frame in tables.items() if frame is not None},
        "source": dict(source or {}),
        "columns": dict(columns or {}),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with atomic_dir(out) as tmp:
        for name, frame in tables.items():
            if frame is not None:
                table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
                pq.write_table(table, tmp / f"{name}.parquet", compression="zstd")
        (tmp / LOG_MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


def is_log_dir(path: str | Path) -> bool:
    """Whether ``path`` is a log folder: it holds ``log.json`` and no bundle manifest (a bundle wins)."""
    root = Path(path)
    return (root / LOG_MANIFEST).is_file() and not (root / MANIFEST).is_file()


def list_logs(directory: str | Path) -> list[Path]:
    """Log folders directly under ``directory`` (sorted by name); hidden temp folders are skipped."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".") and is_log_dir(p)
    )


def read_log_manifest(path: str | Path) -> dict[str, Any]:
    """The checked ``log.json`` of the log folder ``path`` (no table is read)."""
    root = Path(path)
    manifest_path = root / LOG_MANIFEST
    if not manifest_path.is_file():
        raise RecauditInputError(root, "not a recommendation log: log.json is missing")
    manifest = read_json_object(manifest_path, max_bytes=MAX_LOG_MANIFEST_BYTES, what="log.json")
    if manifest.get("format") != LOG_FORMAT:
        raise RecauditInputError(manifest_path, f"not a {LOG_FORMAT} manifest")
    if manifest.get("format_version") != LOG_FORMAT_VERSION:
        raise RecauditInputError(
            manifest_path, f"log format version {manifest.get('format_version')!r} is not supported",
            f"this recaudit reads version {LOG_FORMAT_VERSION}",
        )  # fmt: skip
    return manifest


def load_log(path: str | Path) -> RecLog:
    """The log folder at ``path``, its tables read back as written (ids as text)."""
    root = Path(path)
    manifest = read_log_manifest(root)
    frames: dict[str, pd.DataFrame | None] = {}
    for name in TABLES:
        file = root / f"{name}.parquet"
        if not file.is_file():
            if name in ("recs", "train"):
                raise RecauditInputError(root, f"{file.name} is missing")
            frames[name] = None
            continue
        try:
            frame = pq.read_table(file).to_pandas()
        except (pa.ArrowInvalid, OSError) as exc:
            raise RecauditInputError(file, f"not a readable parquet file: {exc}") from exc
        for column in (USER_ID, ITEM_ID):
            if column in frame.columns:
                frame[column] = frame[column].astype(str)
        frames[name] = frame
    return RecLog(
        name=root.name, path=root, recs=frames["recs"], train=frames["train"], test=frames["test"],  # type: ignore[arg-type]
        items=frames["items"], users=frames["users"], manifest=manifest,
    )  # fmt: skip
