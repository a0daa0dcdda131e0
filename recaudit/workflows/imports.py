"""Bring a user's files in: embedding tables into a bundle, a recommendation log into a log folder.

One path for ``recaudit import`` and the app's Import page, so the page's bundle is the command's bundle:
check the output first (nothing is destroyed), read and validate every file (nothing is written when one is
bad), compute the item map, then write atomically (:func:`recaudit.bundle.save_bundle`,
:func:`recaudit.bundle.logs.save_log`). ``progress(step)`` hears each step as it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from pathlib import Path

from recaudit.bundle import Bundle, check_output_dir, save_bundle
from recaudit.bundle.logs import check_log_output, read_log_tables, save_log
from recaudit.config import ScoreFunction
from recaudit.data.columns import column_mapping

Progress = Callable[[str], None]


def import_bundle(
    user_embeddings: str | Path,
    item_embeddings: str | Path,
    *,
    out: str | Path,
    user_ids: str | Path | None = None,
    item_ids: str | Path | None = None,
    items: str | Path | None = None,
    interactions: str | Path | None = None,
    test: str | Path | None = None,
    score: ScoreFunction = "dot",
    user_key: str | None = None,
    item_key: str | None = None,
    item_map: str = "umap",
    overwrite: bool = False,
    columns: Mapping[str, str] | None = None,
    progress: Progress = lambda _step: None,
    log: Progress = lambda _msg: None,
) -> Bundle:
    """Import external embeddings (:func:`recaudit.bundle.importers.import_embeddings`), attach the item map
    and save the bundle at ``out``; returns the bundle as written.

    ``columns`` maps schema columns onto the tables' names (``--columns``); None keeps what the caller set
    (the CLI sets its mapping around the whole command).
    """
    from recaudit.bundle.importers import import_embeddings
    from recaudit.workflows.train import attach_item_map

    check_output_dir(out, overwrite=overwrite)
    progress("validating and reading the files")
    with column_mapping(columns, log) if columns is not None else nullcontext():
        bundle = import_embeddings(
            user_embeddings, item_embeddings, user_ids=user_ids, item_ids=item_ids, items=items,
            interactions=interactions, test=test, score=score, user_key=user_key, item_key=item_key,
        )  # fmt: skip
    if item_map != "none":
        progress(f"computing the {item_map} item map of {len(bundle.items):,} items")
    attach_item_map(bundle, item_map, log)
    progress("writing the bundle")
    save_bundle(bundle, out, overwrite=overwrite)
    return bundle


def import_log(
    paths: Mapping[str, str | Path | None],
    *,
    out: str | Path,
    overwrite: bool = False,
    columns: Mapping[str, str] | None = None,
    progress: Progress = lambda _step: None,
    log: Progress = lambda _msg: None,
) -> Path:
    """Read a recommendation log and its tables (keys of :data:`recaudit.bundle.logs.TABLES`) with the
    readers of ``recaudit metrics``, check they align and write the log folder ``out``."""
    check_log_output(out, overwrite=overwrite)
    progress("validating and reading the files")
    with column_mapping(columns, log) if columns is not None else nullcontext():
        tables = read_log_tables(dict(paths))
    progress("writing the log folder")
    source = {name: Path(path).name for name, path in paths.items() if path is not None}
    return save_log(tables, out, source=source, columns=dict(columns or {}), overwrite=overwrite)
