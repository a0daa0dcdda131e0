"""Turn any team's user and item embedding tables into a bundle (``recaudit import``).

Accepted embedding files (data formats only — never a pickle):

- ``.npy``: a 2-D float array, read with ``allow_pickle=False``;
- ``.safetensors``: one 2-D tensor, or several with the one to use named by ``key``;
- ``.pt`` / ``.pth`` / ``.bin``: a tensor or a state dict, read with ``torch.load(weights_only=True)``; in a
  state dict with several 2-D tensors the key is ``key``, else the only 2-D tensor whose name mentions
  ``user`` (or ``item``) is taken;
- ``.parquet``: an id column (``user_id``/``item_id``/``id``) and either one list-typed vector column or
  several numeric columns (one per dimension).

Ids come from the parquet id column, else from ``--user-ids``/``--item-ids`` (a text file with one id per
line, a CSV/parquet with an id column, or a ``.npy`` of ids), else they are the row numbers.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recaudit.bundle import Bundle, check_finite, make_manifest
from recaudit.config import ScoreFunction
from recaudit.data.readers import check_input_file, id_column, read_interactions, read_items, read_table
from recaudit.data.schema import ITEM_ID, USER_ID
from recaudit.errors import RecauditInputError
from recaudit.models.imported import IMPORTED_KIND, ImportedConfig

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill")
TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
MAX_EMBEDDING_BYTES = 8 * 1024**3


@dataclass
class EmbeddingTable:
    """Vectors and, when the file carried them, their ids."""

    vectors: np.ndarray
    ids: np.ndarray | None = None


def _refuse_pickle(path: Path) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise RecauditInputError(
            path, "pickle files are refused: loading them can run arbitrary code",
            "save the embeddings as .npy, .safetensors, parquet or a torch state_dict",
        )
    with path.open("rb") as handle:
        head = handle.read(2)
    if head[:1] == b"\x80" and path.suffix.lower() not in TORCH_SUFFIXES:
        raise RecauditInputError(path, "file looks like a pickle; refusing it", "use .npy or .safetensors")


def _pick_tensor(tensors: dict[str, np.ndarray], key: str | None, side: str, path: Path) -> np.ndarray:
    """Choose the embedding tensor of ``side`` (user/item) from a named collection."""
    if key is not None:
        if key not in tensors:
            raise RecauditInputError(path, f"no tensor named {key!r} (found {sorted(tensors)})")
        return tensors[key]
    matrices = {name: t for name, t in tensors.items() if np.ndim(t) == 2}
    if len(matrices) == 1:
        return next(iter(matrices.values()))
    named = {name: t for name, t in matrices.items() if side in name.lower()}
    if len(named) == 1:
        return next(iter(named.values()))
    raise RecauditInputError(
        path,
        f"cannot tell which tensor holds the {side} embeddings (2-D tensors: {sorted(matrices)})",
        f"name it with --{side}-key",
    )


def _load_torch(path: Path) -> dict[str, np.ndarray]:
    import torch

    if not zipfile.is_zipfile(path):
        # torch.save writes zip archives; anything else is a legacy pickle stream we refuse to touch.
        raise RecauditInputError(
            path, "not a PyTorch zip checkpoint (legacy pickle formats are refused)",
            "re-save with torch.save(state_dict) or use .safetensors",
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every torch failure becomes one clear message
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise RecauditInputError(
                path, "file contains executable objects (not just tensors); refusing it",
                "save model.state_dict() or use safetensors",
            ) from exc
        raise RecauditInputError(path, f"not a readable PyTorch checkpoint: {text}") from exc
    if isinstance(obj, torch.Tensor):
        return {"tensor": obj.detach().float().numpy()}
    if isinstance(obj, dict):
        tensors = {
            str(k): v.detach().float().numpy() for k, v in obj.items() if isinstance(v, torch.Tensor)
        }
        if tensors:
            return tensors
    raise RecauditInputError(
        path, f"expected a tensor or a state dict of tensors, found {type(obj).__name__}"
    )


def _load_parquet_embeddings(path: Path, side: str) -> EmbeddingTable:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RecauditInputError(path, f"not a readable parquet file: {exc}") from exc
    frame = table.to_pandas()
    id_col = next((c for c in (f"{side}_id", "id") if c in frame.columns), None)
    ids = frame[id_col].astype(str).to_numpy(dtype=object) if id_col else None
    rest = frame.drop(columns=[id_col] if id_col else [])
    list_cols = [c for c in rest.columns if pa.types.is_list(table.schema.field(c).type)
                 or pa.types.is_fixed_size_list(table.schema.field(c).type)
                 or pa.types.is_large_list(table.schema.field(c).type)]
    if len(list_cols) == 1:
        try:
            vectors = np.stack(rest[list_cols[0]].to_numpy()).astype(np.float32)
        except ValueError as exc:
            raise RecauditInputError(path, f"vectors in column {list_cols[0]!r} differ in length") from exc
    elif not list_cols and len(rest.columns) and all(pd.api.types.is_numeric_dtype(rest[c]) for c in rest):
        vectors = rest.to_numpy(dtype=np.float32)
    else:
        raise RecauditInputError(
            path, f"expected an id column and one vector column; found {list(frame.columns)}",
            f"use columns {side}_id and embedding (a list of floats)",
        )
    return EmbeddingTable(vectors, ids)


def load_embeddings(path: str | Path, side: str, key: str | None = None) -> EmbeddingTable:
    """Read one embedding table (``side`` is ``user`` or ``item``), validated to 2-D finite float32."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = check_input_file(path, "an embedding file (.npy, .safetensors, .pt or .parquet)")
    size = path.stat().st_size
    if size > MAX_EMBEDDING_BYTES:
        raise RecauditInputError(path, f"file is {size / 1024**3:.1f} GiB, over the 8 GiB limit")
    _refuse_pickle(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            table = EmbeddingTable(np.load(path, allow_pickle=False))
        except ValueError as exc:
            raise RecauditInputError(path, f"not a plain numeric .npy array: {exc}") from exc
    elif suffix == ".safetensors":
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise RecauditInputError(path, f"not a readable safetensors file: {exc}") from exc
        table = EmbeddingTable(_pick_tensor(tensors, key, side, path))
    elif suffix in TORCH_SUFFIXES:
        table = EmbeddingTable(_pick_tensor(_load_torch(path), key, side, path))
    elif suffix in (".parquet", ".pq"):
        table = _load_parquet_embeddings(path, side)
    else:
        raise RecauditInputError(
            path, f"unsupported embedding file type {suffix or '(none)'}",
            "use .npy, .safetensors, .pt (state dict) or .parquet",
        )
    vectors = np.asarray(table.vectors)
    if vectors.dtype.kind not in "fiu":
        raise RecauditInputError(path, f"embeddings must be numeric, found dtype {vectors.dtype}")
    if vectors.ndim != 2 or vectors.shape[0] == 0 or vectors.shape[1] == 0:
        raise RecauditInputError(
            path, f"embeddings must be a non-empty 2-D table, found shape {vectors.shape}"
        )
    vectors = vectors.astype(np.float32)
    check_finite(f"{side} embeddings", vectors, table.ids, path)
    return EmbeddingTable(vectors, table.ids)


def load_ids(path: str | Path, side: str) -> np.ndarray:
    """Read an id list: text (one per line), CSV/parquet with an id column, or a ``.npy`` of ids."""
    path = check_input_file(path, "an id list (text, CSV, parquet or .npy)")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            ids = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise RecauditInputError(path, f"not a plain .npy array of ids: {exc}") from exc
        values = np.asarray([str(v) for v in ids.ravel()], dtype=object)
    elif suffix in (".csv", ".tsv", ".parquet", ".pq"):
        frame = read_table(path)
        values = frame[id_column(frame, path, side)].astype(str).to_numpy(dtype=object)
    else:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise RecauditInputError(path, "id list is not UTF-8 text", "save it as UTF-8") from exc
        values = np.asarray([line.strip() for line in lines if line.strip()], dtype=object)
    if len(values) == 0:
        raise RecauditInputError(path, f"holds no {side} ids")
    return values


def _resolve_ids(table: EmbeddingTable, ids_path: str | Path | None, side: str, source: Path) -> np.ndarray:
    if ids_path is not None:
        ids = load_ids(ids_path, side)
        where: str | Path = ids_path
    elif table.ids is not None:
        ids, where = table.ids, source
    else:
        return np.asarray([str(i) for i in range(table.vectors.shape[0])], dtype=object)
    if len(ids) != table.vectors.shape[0]:
        raise RecauditInputError(
            where, f"{len(ids)} {side} ids for {table.vectors.shape[0]} embedding rows in {source}"
        )
    dupes = pd.Series(ids)[pd.Series(ids).duplicated()]
    if len(dupes):
        raise RecauditInputError(where, f"duplicate {side} ids (first: {dupes.iloc[0]!r})")
    return ids


def import_embeddings(
    user_embeddings: str | Path,
    item_embeddings: str | Path,
    *,
    user_ids: str | Path | None = None,
    item_ids: str | Path | None = None,
    items: str | Path | None = None,
    interactions: str | Path | None = None,
    test: str | Path | None = None,
    score: ScoreFunction = "dot",
    user_key: str | None = None,
    item_key: str | None = None,
) -> Bundle:
    """Build a bundle (not yet saved) from external embedding tables and optional metadata.

    Items metadata are joined on ``item_id`` (items without metadata keep empty fields and are counted in
    the manifest); interactions of users or items unknown to the embeddings are dropped and counted.
    """
    user_path, item_path = Path(user_embeddings), Path(item_embeddings)
    users_t = load_embeddings(user_path, "user", user_key)
    items_t = load_embeddings(item_path, "item", item_key)
    if users_t.vectors.shape[1] != items_t.vectors.shape[1]:
        raise RecauditInputError(
            item_path,
            f"item dim {items_t.vectors.shape[1]} != user dim {users_t.vectors.shape[1]} in {user_path}",
        )
    uids = _resolve_ids(users_t, user_ids, "user", user_path)
    iids = _resolve_ids(items_t, item_ids, "item", item_path)
    users_frame = pd.DataFrame({USER_ID: uids})
    items_frame = pd.DataFrame({ITEM_ID: iids})
    data: dict[str, object] = {
        "source": {
            "user_embeddings": user_path.name,
            "item_embeddings": item_path.name,
        }
    }
    if items is not None:
        meta = read_items(items)
        items_frame = items_frame.merge(meta, on=ITEM_ID, how="left")
        data["items_without_metadata"] = int((~pd.Series(iids).isin(set(meta[ITEM_ID]))).sum())
        data["source"]["items"] = Path(items).name  # type: ignore[index]
    train_frame = test_frame = None
    for name, path in (("train", interactions), ("test", test)):
        if path is None:
            continue
        frame = read_interactions(path)
        known = frame[USER_ID].isin(set(uids)) & frame[ITEM_ID].isin(set(iids))
        data[f"{name}_rows_dropped_unknown_ids"] = int((~known).sum())
        data["source"][name] = Path(path).name  # type: ignore[index]
        if name == "train":
            train_frame = frame[known].reset_index(drop=True)
        else:
            test_frame = frame[frame[USER_ID].isin(set(uids))].reset_index(drop=True)
    manifest = make_manifest(
        kind=IMPORTED_KIND, score=score, dim=users_t.vectors.shape[1], data=data,
        config=ImportedConfig(user_key=user_key, item_key=item_key).to_dict(),
    )
    return Bundle(
        users=users_frame, items=items_frame, user_emb=users_t.vectors, item_emb=items_t.vectors,
        train=train_frame, test=test_frame, manifest=manifest,
    )
