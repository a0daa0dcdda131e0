"""The Import page's parts: pick or upload files, preview them with their detected columns, map columns, and
build a bundle or a log folder (an app-support module: it may import Streamlit).

Where files come from (the server reads nothing else):

* the **data folders** (:func:`recaudit.paths.default_data_dirs`, ``$RECAUDIT_DATA_DIR``): their files
  (and MovieLens folders, for interactions and items) are listed in a selectbox, so a path typed by a
  visitor never reaches the server;
* **uploads**, capped by ``server.maxUploadSize`` (``.streamlit/config.toml``). An upload stays in the
  session's memory; while it is previewed or imported it is written, under its own file name, into a
  private temporary folder that is deleted right after (:func:`materialised`), so a failed import leaves
  no file. Nothing uploaded is executed: tables go through :mod:`recaudit.data.readers`, embeddings through
  :func:`recaudit.bundle.importers.load_embeddings` (pickles refused, ``torch.load(weights_only=True)``).

Column mapping: each previewed table gets one selectbox per schema column, preset to what the readers
detect (:func:`recaudit.data.columns.resolve`); the tab's choices make one mapping, applied with
:func:`recaudit.data.columns.column_mapping` exactly as ``--columns`` is by the CLI, and shown as that flag.

Concurrency: every widget and upload lives in the visitor's session; the data-folder listing is cached per
process for a minute (read-only).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import streamlit as st

from recaudit.app import shell as support
from recaudit.data.columns import resolve
from recaudit.data.movielens import is_movielens_folder
from recaudit.data.schema import (
    CATEGORY,
    DOMAIN,
    ITEM_ID,
    PROVIDER,
    RANK,
    RATING,
    SCORE,
    TIMESTAMP,
    TITLE,
    USER_ID,
)
from recaudit.errors import RecauditInputError
from recaudit.paths import default_data_dirs
from recaudit.textsafe import md_code, md_text

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")
EMBEDDING_SUFFIXES = (".npy", ".safetensors", ".pt", ".pth", ".parquet", ".pq")
ID_SUFFIXES = (".txt", ".csv", ".tsv", ".parquet", ".pq", ".npy")
ROLE_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "recs": ((USER_ID, ITEM_ID, RANK), (SCORE, TIMESTAMP)),
    "interactions": ((USER_ID, ITEM_ID), (TIMESTAMP, RATING)),
    "items": ((ITEM_ID,), (TITLE, CATEGORY, PROVIDER, DOMAIN)),
    "users": ((USER_ID,), ()),
}
"""Per kind of table: the schema columns it needs, then those it may carry (the mapping's selectboxes)."""
NONE = "—"
MAX_LISTED = 400
"""At most this many data-folder entries per selectbox (the first, in path order)."""
MAX_DEPTH = 3
PREVIEW_ROWS = 5
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Picked:
    """One chosen file: a data-folder path, or an upload (its name and bytes, kept in the session)."""

    label: str
    name: str
    path: Path | None = None
    data: bytes | None = None

    @property
    def digest(self) -> str:
        """What identifies the content (cache key): the path and mtime, or the upload's sha256."""
        if self.data is not None:
            return "upload:" + hashlib.sha256(self.data).hexdigest()
        assert self.path is not None
        return f"file:{self.path}:{self.path.stat().st_mtime_ns}"


def safe_name(name: str) -> str:
    """An upload's file name reduced to one safe path component (its suffix kept, lower-cased)."""
    stem, suffix = Path(Path(name).name).stem, Path(name).suffix.lower()
    stem = _SAFE_NAME.sub("_", stem).strip("._") or "upload"
    return stem[:80] + _SAFE_NAME.sub("", suffix)


@contextmanager
def materialised(picked: Mapping[str, Picked | None]) -> Iterator[dict[str, Path | None]]:
    """The files of ``picked`` as paths: data-folder files as they are, uploads written under their own
    (safe) names into a private temporary folder that is deleted when the block ends, whatever happens.

    An error about an upload names the file as the visitor knows it (``evil.npy``), never the temporary
    folder."""
    with tempfile.TemporaryDirectory(prefix="recaudit-import-") as folder:
        paths: dict[str, Path | None] = {}
        for role, choice in picked.items():
            if choice is None:
                paths[role] = None
            elif choice.data is not None:
                target = Path(folder) / role / safe_name(choice.name)
                target.parent.mkdir()
                target.write_bytes(choice.data)
                paths[role] = target
            else:
                paths[role] = choice.path
        try:
            yield paths
        except RecauditInputError as exc:
            raise RecauditInputError(
                _unplaced(exc.source, folder), _unplaced(exc.what, folder) or exc.what, exc.hint
            ) from exc


def _unplaced(text: str | None, folder: str) -> str | None:
    """``text`` with the temporary folder's paths cut down to the uploaded file's name."""
    if text is None:
        return None
    return re.sub(re.escape(folder) + r"/[^/\s]+/", "", text)


@dataclass
class Outcome:
    """What an import run gave: its result (None when it failed and wrote nothing) and the column
    renames the readers announced (``"ratings.csv: read userId as user_id"``), as the CLI prints them."""

    result: object | None
    renames: list[str]

    @property
    def columns_note(self) -> str:
        """`` Columns: …`` for the success message, or nothing when no column was renamed."""
        return f" Columns: {'; '.join(self.renames)}." if self.renames else ""


Step = Callable[[str], None]
"""A progress or log listener: told one line of text."""


def run_import(title: str, done: str, work: Callable[[Step, Step], object]) -> Outcome:
    """``work(progress, log)`` inside a status box titled ``title`` that names each step as it starts;
    ``done`` labels the box on success. A failure is the one-line error (:func:`support.guarded`) under a
    box saying nothing was written."""
    said: list[str] = []
    with st.status(f"{title}…", expanded=True) as status:

        def step(text: str) -> None:
            status.update(label=f"{title}: {text}…")
            st.write(md_text(text))

        result = support.guarded("import", work, step, said.append)
        status.update(
            label="Nothing was written." if result is None else done,
            state="error" if result is None else "complete", expanded=result is None,
        )  # fmt: skip
    return Outcome(result, [n for n in said if ": read " in n])


# --------------------------------------------------------------------------------------------------
# the data folders


def _inside(path: Path, roots: list[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(root) for root in roots)


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def _listing(roots: tuple[str, ...], suffixes: tuple[str, ...], folders: bool) -> list[str]:
    found: list[str] = []
    places = [Path(r) for r in roots]
    for root in places:
        stack = [(root, 0)]
        while stack and len(found) < MAX_LISTED:
            here, depth = stack.pop()
            try:
                entries = sorted(here.iterdir(), key=lambda p: p.name, reverse=True)
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith(".") or not _inside(entry, places):
                    continue  # hidden, or a link out of the data folders
                if entry.is_dir():
                    if folders and is_movielens_folder(entry):
                        found.append(str(entry))
                    if depth < MAX_DEPTH:
                        stack.append((entry, depth + 1))
                elif entry.suffix.lower() in suffixes:
                    found.append(str(entry))
    return sorted(found)[:MAX_LISTED]


def data_files(suffixes: tuple[str, ...], *, folders: bool = False) -> list[Path]:
    """Files under the data folders with one of ``suffixes`` (and MovieLens folders with ``folders``)."""
    roots = tuple(str(p) for p in default_data_dirs())
    return [Path(p) for p in _listing(roots, suffixes, folders)]


def shown_path(path: Path) -> str:
    """``path`` relative to the data folder that holds it (what the selectbox shows)."""
    for root in default_data_dirs():
        if path.is_relative_to(root):
            return f"{root.name}/{path.relative_to(root).as_posix()}"
    return path.name


def file_picker(
    label: str, key: str, suffixes: tuple[str, ...], *, folders: bool = False, help: str = ""
) -> Picked | None:
    """A selectbox over the data folders' files and an uploader beside it; an upload wins. Returns the
    choice, or None."""
    files = data_files(suffixes, folders=folders)
    options = ["", *(str(p) for p in files)]
    pick, upload = st.columns([3, 2])
    with pick:
        chosen = st.selectbox(
            label, options, key=f"{key}_file", help=help or None,
            format_func=lambda p: "(none)" if not p else shown_path(Path(p)),
        )  # fmt: skip
    with upload:
        uploaded = st.file_uploader(
            f"…or upload ({', '.join(s.lstrip('.') for s in suffixes)})", key=f"{key}_upload",
            type=[s.lstrip(".") for s in suffixes],
        )  # fmt: skip
    if uploaded is not None:
        return Picked(f"uploaded {uploaded.name}", uploaded.name, data=uploaded.getvalue())
    if chosen:
        path = Path(chosen)
        return Picked(shown_path(path), path.name, path=path)
    return None


def data_folder_caption() -> str:
    """Where the selectboxes look, for the page's caption."""
    roots = default_data_dirs()
    where = ", ".join(md_code(p.name) for p in roots) if roots else "no data folder"
    return f"Files are listed from {where} (set ${'RECAUDIT_DATA_DIR'} to change), or uploaded."


# --------------------------------------------------------------------------------------------------
# previews and the column mapping


def raw_head(path: Path, rows: int = PREVIEW_ROWS) -> pd.DataFrame:
    """The first ``rows`` rows of a table file as stored (its own column names, values as text)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            batches = pq.ParquetFile(path).iter_batches(batch_size=rows)
            first = next(batches, None)
            if first is None:
                return pd.DataFrame(columns=pq.ParquetFile(path).schema_arrow.names)
            return first.to_pandas().astype(str)
        return pd.read_csv(
            path, sep="\t" if suffix == ".tsv" else ",", nrows=rows, dtype=str, index_col=False
        )
    except Exception as exc:  # noqa: BLE001 - a preview's failure is one line; the import says more
        raise RecauditInputError(
            path, f"cannot be previewed: {str(exc).splitlines()[0] if str(exc) else exc}"
        ) from exc


@st.cache_data(max_entries=32, show_spinner=False)
def _preview(digest: str, _picked: Picked) -> tuple[pd.DataFrame, bool]:
    with materialised({"file": _picked}) as paths:
        path = paths["file"]
        assert path is not None
        if path.is_dir():
            from recaudit.data.readers import read_interactions

            return read_interactions(path).head(PREVIEW_ROWS), True
        return raw_head(path), False


def detected(columns: list[str]) -> dict[str, str]:
    """``{schema column: file column}`` the readers would use without a mapping (names and aliases)."""
    found = {c: c for c in columns}
    found.update({schema: file for file, schema in resolve(columns).items()})
    return found


def table_preview(picked: Picked, role: str, key: str) -> dict[str, str] | None:
    """The first rows of ``picked`` and, for a file, one selectbox per schema column of ``role`` preset to
    the detected column; returns the mapping the choices make (schema -> file column, renames only), or
    None when the file cannot be previewed (its one line is shown)."""
    shown = support.guarded(f"{picked.name}: preview", _preview, picked.digest, picked)
    if shown is None:
        return None
    head, is_folder = shown
    if is_folder:
        st.caption(md_text(f"{picked.label}: a MovieLens folder, read as the CLI reads it"))
        st.dataframe(head, hide_index=True)
        return {}
    columns = [str(c) for c in head.columns]
    st.dataframe(head, hide_index=True, key=f"{key}_head")
    required, optional = ROLE_COLUMNS[role]
    found = detected(columns)
    mapping: dict[str, str] = {}
    cells = st.columns(len(required) + len(optional))
    for cell, schema in zip(cells, (*required, *optional), strict=True):
        default = found.get(schema, NONE)
        options = [NONE, *columns]
        with cell:
            choice = st.selectbox(
                f"{schema}{'' if schema in required else ' (optional)'}", options,
                index=options.index(default), key=f"{key}_map_{schema}",
            )  # fmt: skip
        if choice != NONE and choice != schema:
            mapping[schema] = choice
    missing = [s for s in required if s not in found and s not in mapping]
    if missing:
        st.caption(md_text(f"Not found: {', '.join(missing)}: choose the file's column for each."))
    return mapping


def merge_mappings(mappings: list[dict[str, str] | None]) -> dict[str, str]:
    """One mapping for a tab (as ``--columns`` is one for a command).

    Raises:
        RecauditInputError: one schema column is mapped to two different file columns.
    """
    merged: dict[str, str] = {}
    for mapping in mappings:
        for schema, column in (mapping or {}).items():
            if merged.get(schema, column) != column:
                raise RecauditInputError(
                    "columns",
                    f"{schema} is {merged[schema]!r} in one file and {column!r} in another",
                    "rename the column in one of the files",
                )
            merged[schema] = column
    return merged


def columns_flag(mapping: Mapping[str, str]) -> str:
    """The CLI's ``--columns`` flag for ``mapping`` (empty when there is nothing to map)."""
    if not mapping:
        return ""
    return " --columns " + ",".join(f"{schema}={column}" for schema, column in mapping.items())


@st.cache_data(max_entries=16, show_spinner=False)
def _embedding_head(
    digest: str, _picked: Picked, side: str, key: str | None
) -> tuple[tuple[int, int], pd.DataFrame]:
    from recaudit.bundle.importers import load_embeddings

    with materialised({side: _picked}) as paths:
        table = load_embeddings(paths[side], side, key)  # type: ignore[arg-type]
    return table.vectors.shape, vector_head(table.vectors)  # type: ignore[return-value]


def embedding_preview(picked: Picked, side: str, key: str | None) -> bool:
    """Shape and top-left corner of an embedding file (read as the importer reads it), or its one-line
    error; returns whether it could be read."""
    shown = support.guarded(picked.name, _embedding_head, picked.digest, picked, side, key)
    if shown is None:
        return False
    shape, head = shown
    st.caption(md_text(f"{picked.label}: {shape[0]:,} {side} vectors of dimension {shape[1]}"))
    st.dataframe(head, hide_index=True)
    return True


def takes_key(picked: Picked | None) -> bool:
    """Whether ``picked`` is a file of named tensors (safetensors, a torch state dict)."""
    return picked is not None and Path(picked.name).suffix.lower() in (".safetensors", ".pt", ".pth")


def vector_head(vectors: np.ndarray, rows: int = PREVIEW_ROWS, columns: int = 8) -> pd.DataFrame:
    """The top-left corner of a vector table, for a preview."""
    corner = np.asarray(vectors[:rows, :columns], dtype=np.float64)
    return pd.DataFrame(corner, columns=[f"d{j}" for j in range(corner.shape[1])])
