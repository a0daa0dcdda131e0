"""The model bundle (format version 2; version 1 still loads): a directory any team's model can be turned
into and audited from.

Layout (documented in ``docs/bundle-format.md``)::

    manifest.json            format, version, model kind + config, dim, score, domains, files + sha256, ...
    embeddings.safetensors   user [U, d], item [I, d], optional item_bias [I]
    users.parquet            user_id (+ metadata), in row order of ``user``
    items.parquet            item_id, title, category, domain, provider, text, in row order of ``item``
    interactions/train.parquet, interactions/test.parquet   optional, for audits and seen-item exclusion
    projection/items.parquet  optional: the default 2-D map of the items (item_id, x, y)
    components/<name>/...    optional (format 2): a model family's own files (.safetensors, .json, .parquet)

Never a pickle. Loading validates the manifest first (schema, version, the model kind and its config,
sha256 of every file, no path leaving the bundle or its component's folder), then shapes against the id
tables and finiteness of every vector. Saving is atomic: the bundle is written to a temporary sibling
directory and renamed into place, so a failed save never leaves a half-written bundle nor destroys the
previous one.

Versions. Format 2 adds two things to format 1: ``model.kind`` names a family registered in
:data:`recaudit.models.MODEL_KINDS` (loading dispatches on it, and refuses a kind this recaudit does not
know), and the optional ``components``. A format-1 bundle (written before, or by hand with a kind that
is only a label) holds embedding tables and loads as it always did; :func:`save_bundle` still writes
format 1 for a bundle whose kind is not registered, so such a bundle never claims a family contract.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from recaudit import __version__
from recaudit._io import atomic_dir, dumps_json, read_json_object
from recaudit.config import ScoreFunction
from recaudit.data.schema import CATEGORY, DOMAIN, ITEM_ID, TIMESTAMP, TITLE, USER_ID
from recaudit.data.vocab import IdVocabulary
from recaudit.errors import RecauditInputError

FORMAT_NAME = "recaudit-bundle"
FORMAT_VERSION = 2
"""The newest version this code reads and the one it writes for a registered model kind."""
LABEL_FORMAT_VERSION = 1
"""The version written for a bundle whose ``model.kind`` is a label, not a registered kind."""
MANIFEST = "manifest.json"
EMBEDDINGS = "embeddings.safetensors"
USERS = "users.parquet"
ITEMS = "items.parquet"
TRAIN = "interactions/train.parquet"
TEST = "interactions/test.parquet"
ITEM_MAP = "projection/items.parquet"
REQUIRED_FILES = (EMBEDDINGS, USERS, ITEMS)
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
COMPONENTS = "components"
COMPONENT_SUFFIXES = (".safetensors", ".json", ".parquet")
MAX_COMPONENT_DEPTH = 4
_COMPONENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_COMPONENT_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")

if TYPE_CHECKING:
    from recaudit.models.base import ComponentFiles, ModelFamily, TrainedModel
    from recaudit.models.crossdomain.model import CrossDomainModel
    from recaudit.models.session.encoder import SessionEncoder
    from recaudit.scoring import ExactScorer



@dataclass
class Bundle:
    """A model bundle in memory: embeddings, id tables with metadata, optional interactions.

    ``user_emb[r]`` is the vector of ``users.user_id[r]``; ``item_emb[r]`` (and ``item_bias[r]``) of
    ``items.item_id[r]``. ``manifest`` holds everything else (model card).
    """

    users: pd.DataFrame
    items: pd.DataFrame
    user_emb: np.ndarray
    item_emb: np.ndarray
    item_bias: np.ndarray | None = None
    train: pd.DataFrame | None = None
    test: pd.DataFrame | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    item_map: pd.DataFrame | None = None
    """Default 2-D map of the items (``item_id, x, y`` in item row order); its settings are in
    ``manifest["projection"]``."""
    components: dict[str, ComponentFiles] = field(default_factory=dict)
    """A model family's own files, by component name: ``{file name inside the component: content}``,
    where a ``.safetensors`` file holds ``{tensor name: numpy array}``, a ``.json`` file a JSON value and a
    ``.parquet`` file a DataFrame. Stored under ``components/<name>/``, sha256-checked like every file."""

    def component(self, name: str) -> ComponentFiles:
        """The files of component ``name``.

        Raises:
            RecauditInputError: the bundle has no such component (the error lists the ones it has).
        """
        if name not in self.components:
            have = ", ".join(sorted(self.components)) or "none"
            raise RecauditInputError(self.path or "bundle", f"no component {name!r}", f"components: {have}")
        return self.components[name]

    @property
    def family(self) -> ModelFamily:
        """The model family of this bundle, from ``model.kind`` through the registry.

        Format 2: the registered family (an unknown kind raises). Format 1: the registered family when the
        label is a registered kind, else ``imported`` (format-1 bundles are embedding tables).
        """
        return family_of(self.manifest, self.path / MANIFEST if self.path is not None else None)

    @cached_property
    def model(self) -> TrainedModel:
        """The trained model, rebuilt by the family from this bundle (once, on first use)."""
        return self.family.from_bundle(self)

    @cached_property
    def session_encoder(self) -> SessionEncoder | None:
        """The session encoder of the ``session`` component (``recaudit train --session``), or None.

        Raises:
            RecauditInputError: the component is present but does not fit this bundle's items.
        """
        from recaudit.models.session.encoder import COMPONENT as SESSION_COMPONENT
        from recaudit.models.session.encoder import SessionEncoder  # torch only when a bundle has one

        if SESSION_COMPONENT not in self.components:
            return None
        source = "session component"
        if self.path is not None:
            source = f"{self.path}/components/{SESSION_COMPONENT}"
        return SessionEncoder.from_component(
            self.components[SESSION_COMPONENT], self.item_emb, self.item_bias, self.score, source
        )

    @cached_property
    def crossdomain(self) -> CrossDomainModel | None:
        """The transfer model of the ``crossdomain`` component (``recaudit train --transfer``), or None.

        Raises:
            RecauditInputError: the component is present but does not fit this bundle's id tables.
        """
        from recaudit.models.crossdomain.model import COMPONENT as CROSSDOMAIN_COMPONENT
        from recaudit.models.crossdomain.model import CrossDomainModel

        if CROSSDOMAIN_COMPONENT not in self.components:
            return None
        files = self.components[CROSSDOMAIN_COMPONENT]
        return CrossDomainModel.from_component(files, self.user_ids, self.item_ids)

    @property
    def user_ids(self) -> np.ndarray:
        """External user ids in row order."""
        return self.users[USER_ID].to_numpy(dtype=object)

    @property
    def item_ids(self) -> np.ndarray:
        """External item ids in row order."""
        return self.items[ITEM_ID].to_numpy(dtype=object)

    @property
    def score(self) -> ScoreFunction:
        """The score function: ``dot`` or ``cosine``."""
        return self.manifest.get("score", "dot")

    @property
    def dim(self) -> int:
        return int(self.item_emb.shape[1])

    @property
    def name(self) -> str:
        """A short display name: the directory name, else the model kind."""
        if self.path is not None:
            return self.path.name
        return str(self.manifest.get("model", {}).get("kind", "bundle"))

    @property
    def domains(self) -> list[str]:
        """Item domains present in the catalogue (empty when items carry no domain)."""
        if DOMAIN not in self.items.columns:
            return []
        return sorted(self.items[DOMAIN].dropna().astype(str).unique().tolist())

    @cached_property
    def user_row(self) -> pd.Series:
        """Map external user id -> row (:meth:`recaudit.data.vocab.IdVocabulary.as_series`)."""
        return self.user_vocab.as_series()

    @cached_property
    def user_vocab(self) -> IdVocabulary:
        """The users' id vocabulary, in row order."""
        return IdVocabulary(self.users[USER_ID].to_numpy(dtype=object), self.path or "users.parquet")

    @cached_property
    def item_row(self) -> pd.Series:
        """Map external item id -> row (:meth:`recaudit.data.vocab.IdVocabulary.as_series`)."""
        return self.item_vocab.as_series()

    @cached_property
    def item_vocab(self) -> IdVocabulary:
        """The items' id vocabulary, in row order."""
        return IdVocabulary(self.items[ITEM_ID].to_numpy(dtype=object), self.path or "items.parquet")

    @cached_property
    def seen(self) -> sp.csr_matrix:
        """Users x items matrix of training interactions (count of rows per pair); empty without train."""
        n_users, n_items = len(self.users), len(self.items)
        if self.train is None or self.train.empty:
            return sp.csr_matrix((n_users, n_items), dtype=np.float32)
        # one hash lookup per column (get_indexer), not isin + .loc: 9 s -> under 1 s for 1M items
        user_pos = self.user_row.index.get_indexer(self.train[USER_ID])
        item_pos = self.item_row.index.get_indexer(self.train[ITEM_ID])
        known = (user_pos >= 0) & (item_pos >= 0)
        rows = self.user_row.to_numpy()[user_pos[known]]
        cols = self.item_row.to_numpy()[item_pos[known]]
        data = np.ones(len(rows), dtype=np.float32)
        matrix = sp.csr_matrix((data, (rows, cols)), shape=(n_users, n_items))
        matrix.sum_duplicates()
        return matrix

    @cached_property
    def item_popularity(self) -> np.ndarray:
        """Training interactions per item, in item row order (φ(i) of docs/metrics.md)."""
        return np.asarray(self.seen.sum(axis=0)).ravel().astype(np.int64)

    def domain_mask(self, domain: str | None) -> np.ndarray | None:
        """Bool mask of the items in ``domain`` (None for all domains)."""
        if domain is None or DOMAIN not in self.items.columns:
            return None
        return (self.items[DOMAIN].astype(str) == domain).to_numpy()

    def exact_scorer(self, device: str = "auto") -> ExactScorer:
        """The exact scorer of this bundle: its vectors, bias and score function, training items as seen."""
        from recaudit.scoring import ExactScorer  # torch is imported only when scoring is needed

        return ExactScorer(
            self.user_emb, self.item_emb, self.user_ids, self.item_ids, item_bias=self.item_bias,
            score=self.score, seen=self.seen, device=device,
        )

    def history(self, user_id: str) -> pd.DataFrame:
        """A user's training interactions joined with item metadata, newest first."""
        if self.train is None:
            return pd.DataFrame(columns=[ITEM_ID, TITLE, CATEGORY, DOMAIN, TIMESTAMP])
        rows = self.train[self.train[USER_ID] == str(user_id)]
        meta = self.items.drop(columns=[c for c in (DOMAIN,) if c in rows.columns], errors="ignore")
        joined = rows.merge(meta, on=ITEM_ID, how="left")
        if TIMESTAMP in joined.columns:
            joined = joined.sort_values(TIMESTAMP, ascending=False, kind="mergesort")
        return joined.reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# building


def make_manifest(
    *,
    kind: str,
    score: ScoreFunction,
    dim: int,
    config: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A manifest skeleton; :func:`save_bundle` fills in files, counts, versions and time."""
    return {
        "format": FORMAT_NAME,
        "format_version": format_version_for(kind),
        "model": {"kind": kind, "config": config or {}},
        "dim": int(dim),
        "score": score,
        "training": training or {},
        "evaluation": evaluation or {},
        "data": data or {},
    }


def format_version_for(kind: object) -> int:
    """The format version a bundle of model ``kind`` is written in: 2 for a registered kind, else 1."""
    from recaudit.models.registry import MODEL_KINDS  # imported here: model families may import bundles

    return FORMAT_VERSION if isinstance(kind, str) and kind in MODEL_KINDS else LABEL_FORMAT_VERSION


def _model_kind(manifest: dict[str, Any]) -> object:
    model = manifest.get("model")
    return model.get("kind") if isinstance(model, dict) else None


def family_of(manifest: dict[str, Any], source: str | Path | None = None) -> ModelFamily:
    """The model family of a manifest (see :attr:`Bundle.family`).

    Raises:
        RecauditInputError: a format-2 manifest names a kind that is not registered.
    """
    from recaudit.models.imported import IMPORTED_KIND
    from recaudit.models.registry import MODEL_KINDS, kind_names

    kind = _model_kind(manifest)
    family = MODEL_KINDS.get(kind) if isinstance(kind, str) else None
    if family is not None:
        return family
    if manifest.get("format_version", FORMAT_VERSION) == LABEL_FORMAT_VERSION:
        return MODEL_KINDS[IMPORTED_KIND]
    raise RecauditInputError(
        source, f"model kind {kind!r} is not known to this recaudit",
        f"known kinds: {', '.join(kind_names())}; a newer recaudit may know it",
    )  # fmt: skip


def data_fingerprint(frame: pd.DataFrame | None) -> str | None:
    """sha256 of the (user, item, timestamp) rows: which training data produced a model."""
    if frame is None:
        return None
    cols = [c for c in (USER_ID, ITEM_ID, TIMESTAMP) if c in frame.columns]
    hashed = pd.util.hash_pandas_object(frame[cols], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def _library_versions() -> dict[str, str]:
    import safetensors
    import torch

    return {
        "recaudit": __version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
        "safetensors": safetensors.__version__,
        "torch": torch.__version__,
    }


# --------------------------------------------------------------------------------------------------
# saving


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    pq.write_table(table, path, compression="zstd")


def _check_consistent(bundle: Bundle) -> None:
    """Refuse to write a bundle whose parts disagree."""
    checks = _shape_problems(
        bundle.user_emb, bundle.item_emb, bundle.item_bias, len(bundle.users), len(bundle.items)
    )
    if bundle.item_map is not None:
        checks += _item_map_problems(bundle.item_map, bundle.items)
    for frame, column in ((bundle.users, USER_ID), (bundle.items, ITEM_ID)):
        ids = frame[column].astype(str) if column in frame.columns else None
        if ids is None:
            checks.append(f"{column} column is missing")
        elif ids.duplicated().any():
            checks.append(f"{column} has duplicate ids (first: {ids[ids.duplicated()].iloc[0]!r})")
    checks += _model_problems(bundle)
    if checks:
        raise RecauditInputError(None, "cannot save bundle: " + "; ".join(checks))


def _model_problems(bundle: Bundle) -> list[str]:
    """A registered kind needs a valid config and its family's components; components need a family."""
    from recaudit.models.registry import kind_names, model_family

    kind = _model_kind(bundle.manifest)
    if format_version_for(kind) == LABEL_FORMAT_VERSION:
        if bundle.components:
            return [f"components belong to a registered model family; kind {kind!r} is not one "
                    f"(known kinds: {', '.join(kind_names())})"]
        return []
    family = model_family(kind)  # type: ignore[arg-type]
    problems = []
    try:
        family.config(bundle.manifest["model"].get("config") or {})
    except RecauditInputError as exc:
        problems.append(f"model config: {exc.what}")
    missing = [name for name in family.components if name not in bundle.components]
    if missing:
        problems.append(f"bundles of kind {kind!r} need components {missing}")
    for name, files in bundle.components.items():
        problems += _component_problems(name, files)
    return problems


def _component_problems(name: object, files: object) -> list[str]:
    """What is wrong with component ``name`` before it is written (names, paths, content types)."""
    if not isinstance(name, str) or not _COMPONENT_NAME.fullmatch(name):
        return [f"component name {name!r} must be letters, digits, '_' or '-' (at most 64)"]
    if not isinstance(files, dict) or not files:
        return [f"component {name!r} must map file names to contents"]
    problems = []
    for relative, content in files.items():
        problem = _component_path_problem(name, relative)
        if problem is None:
            problem = _component_content_problem(name, relative, content)
        if problem is not None:
            problems.append(problem)
    return problems


def _component_path_problem(name: str, relative: object) -> str | None:
    """Why ``relative`` is not a file path inside component ``name`` (None when it is one)."""
    if not isinstance(relative, str):
        return f"component {name!r}: file name {relative!r} is not a string"
    parts = relative.split("/")
    if len(parts) > MAX_COMPONENT_DEPTH or not all(_COMPONENT_PART.fullmatch(part) for part in parts):
        return (f"component {name!r}: file path {relative!r} leaves the component directory or is not "
                f"plain (letters, digits, '_', '-', '.'; at most {MAX_COMPONENT_DEPTH} levels)")
    if not relative.endswith(COMPONENT_SUFFIXES):
        return f"component {name!r}: file {relative!r} must end in one of {list(COMPONENT_SUFFIXES)}"
    return None


def _component_content_problem(name: str, relative: str, content: object) -> str | None:
    """Why ``content`` cannot be written as ``relative`` (None when it can)."""
    where = f"component {name!r} file {relative!r}"
    if relative.endswith(".parquet"):
        return None if isinstance(content, pd.DataFrame) else f"{where} must be a DataFrame"
    if relative.endswith(".safetensors"):
        if not isinstance(content, dict) or not content:
            return f"{where} must be a non-empty mapping of tensor names to numpy arrays"
        for key, value in content.items():
            if not isinstance(key, str) or not key:
                return f"{where}: tensor name {key!r} is not a non-empty string"
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
                return f"{where}: tensor {key!r} must be a numeric numpy array (no objects, never a pickle)"
    return None


def is_bundle_dir(path: Path) -> bool:
    """True when ``path`` holds a recaudit manifest."""
    return (path / MANIFEST).is_file()


def check_output_dir(out: str | Path, *, overwrite: bool = False) -> None:
    """Fail early if a bundle cannot be written to ``out`` without destroying something.

    An existing bundle may be replaced only with ``overwrite``; a file or a non-empty directory that is
    not a bundle is never replaced.
    """
    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir() or (any(out.iterdir()) and not is_bundle_dir(out)):
        raise RecauditInputError(
            out, "exists and is not a recaudit bundle; refusing to overwrite it", "choose another --out"
        )
    if is_bundle_dir(out) and not overwrite:
        raise RecauditInputError(out, "a bundle already exists there", "pass --force to replace it")


def save_bundle(bundle: Bundle, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``bundle`` to directory ``out`` atomically and return its path.

    The bundle is written into a temporary sibling directory, then renamed into place. An existing
    bundle at ``out`` is replaced only with ``overwrite=True`` (and only after the new one is complete);
    an existing directory that is not a bundle is never touched.

    The format version is :data:`FORMAT_VERSION` when ``manifest["model"]["kind"]`` is a registered kind
    (its config is then checked, and ``bundle.components`` written under ``components/<name>/``), else
    :data:`LABEL_FORMAT_VERSION` (plain tables with a label; components are refused).

    Raises:
        RecauditInputError: the parts disagree, the config or a component is invalid, or ``out`` is taken.
    """
    out = Path(out)
    check_output_dir(out, overwrite=overwrite)
    _check_consistent(bundle)
    with atomic_dir(out) as tmp:
        tensors = {
            "user": np.ascontiguousarray(bundle.user_emb, dtype=np.float32),
            "item": np.ascontiguousarray(bundle.item_emb, dtype=np.float32),
        }
        if bundle.item_bias is not None:
            tensors["item_bias"] = np.ascontiguousarray(bundle.item_bias, dtype=np.float32)
        save_file(tensors, str(tmp / EMBEDDINGS), metadata={"format": FORMAT_NAME})
        _write_parquet(bundle.users, tmp / USERS)
        _write_parquet(bundle.items, tmp / ITEMS)
        if bundle.train is not None:
            _write_parquet(bundle.train, tmp / TRAIN)
        if bundle.test is not None:
            _write_parquet(bundle.test, tmp / TEST)
        if bundle.item_map is not None:
            _write_parquet(bundle.item_map, tmp / ITEM_MAP)
        for name, files in bundle.components.items():
            _write_component(tmp / COMPONENTS / name, name, files)
        manifest = dict(bundle.manifest)
        manifest.setdefault("format", FORMAT_NAME)
        version = format_version_for(_model_kind(manifest))
        manifest["format_version"] = version
        manifest["dim"] = int(bundle.item_emb.shape[1])
        manifest.setdefault("score", "dot")
        manifest["item_bias"] = bundle.item_bias is not None
        manifest["n_users"] = len(bundle.users)
        manifest["n_items"] = len(bundle.items)
        manifest["domains"] = bundle.domains
        data = dict(manifest.get("data", {}))
        data["train_fingerprint"] = data_fingerprint(bundle.train)
        data["n_train"] = None if bundle.train is None else len(bundle.train)
        data["n_test"] = None if bundle.test is None else len(bundle.test)
        manifest["data"] = data
        manifest["versions"] = _library_versions()
        manifest["created"] = datetime.now(UTC).isoformat(timespec="seconds")
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        manifest["files"] = {
            p.relative_to(tmp).as_posix(): {"sha256": _sha256(p), "bytes": p.stat().st_size} for p in files
        }
        if version >= 2:
            manifest["components"] = {
                name: {"files": {
                    relative: manifest["files"][f"{COMPONENTS}/{name}/{relative}"]["sha256"]
                    for relative in sorted(files)
                }}
                for name, files in sorted(bundle.components.items())
            }  # fmt: skip
        else:
            manifest.pop("components", None)
        (tmp / MANIFEST).write_text(dumps_json(manifest), encoding="utf-8")
    bundle.manifest = json.loads((out / MANIFEST).read_text())
    bundle.path = out
    return out


def _write_component(directory: Path, name: str, files: ComponentFiles) -> None:
    """Write one component's files (checked by :func:`_component_problems`) under ``directory``."""
    for relative, content in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if relative.endswith(".safetensors"):
            tensors = {key: np.ascontiguousarray(value) for key, value in content.items()}
            save_file(tensors, str(path), metadata={"format": FORMAT_NAME, "component": name})
        elif relative.endswith(".json"):
            path.write_text(dumps_json(content), encoding="utf-8")
        else:
            _write_parquet(content, path)


# --------------------------------------------------------------------------------------------------
# loading and validation


def _inside(root: Path, relative: str) -> Path:
    """Resolve a manifest path, refusing anything that leaves the bundle directory."""
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts or relative.startswith(("/", "\\")):
        raise RecauditInputError(root / MANIFEST, f"file path {relative!r} leaves the bundle directory")
    resolved = (root / candidate).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise RecauditInputError(root / MANIFEST, f"file path {relative!r} leaves the bundle directory")
    return resolved


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read and check ``manifest.json`` of the bundle at ``path`` (no data files are read)."""
    root = Path(path)
    if not root.is_dir():
        raise RecauditInputError(root, "bundle not found (expected a directory)")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise RecauditInputError(root, "not a recaudit bundle: manifest.json is missing")
    manifest = read_json_object(manifest_path, max_bytes=MAX_MANIFEST_BYTES, what="manifest")
    if manifest.get("format") != FORMAT_NAME:
        raise RecauditInputError(manifest_path, f"not a recaudit bundle manifest (format != {FORMAT_NAME!r})")
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise RecauditInputError(manifest_path, "format_version is missing or not an integer")
    if version > FORMAT_VERSION:
        raise RecauditInputError(
            manifest_path,
            f"bundle format version {version} is newer than this recaudit supports ({FORMAT_VERSION})",
            "upgrade recaudit",
        )
    if version < 1:
        raise RecauditInputError(manifest_path, f"unknown bundle format version {version}")
    if manifest.get("score", "dot") not in ("dot", "cosine"):
        raise RecauditInputError(manifest_path, f"unknown score function {manifest.get('score')!r}")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise RecauditInputError(manifest_path, "manifest has no 'files' table")
    for required in REQUIRED_FILES:
        if required not in files:
            raise RecauditInputError(manifest_path, f"manifest does not list required file {required}")
    for relative, meta in files.items():
        _inside(root, relative)
        if not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str):
            raise RecauditInputError(manifest_path, f"file entry {relative!r} has no sha256")
    if version == LABEL_FORMAT_VERSION:
        if "components" in manifest:
            raise RecauditInputError(manifest_path, "components need bundle format version 2, this is 1")
        return manifest
    family = _check_model(manifest, manifest_path)
    _check_component_table(root, manifest, manifest_path)
    missing = [name for name in family.components if name not in manifest.get("components", {})]
    if missing:
        raise RecauditInputError(manifest_path, f"bundles of kind {family.kind!r} need components {missing}")
    return manifest


def _check_model(manifest: dict[str, Any], manifest_path: Path) -> ModelFamily:
    """Format 2: ``model.kind`` is registered and ``model.config`` is a valid config of that family."""
    model = manifest.get("model")
    if not isinstance(model, dict):
        raise RecauditInputError(manifest_path, "manifest has no 'model' table")
    family = family_of(manifest, manifest_path)
    try:
        family.config(model.get("config") or {})
    except RecauditInputError as exc:
        raise RecauditInputError(manifest_path, f"model config: {exc.what}", exc.hint) from exc
    return family


def _check_component_table(root: Path, manifest: dict[str, Any], manifest_path: Path) -> None:
    """Every component file has a plain path inside ``components/<name>/`` and is listed in ``files``
    with the same sha256 (so it is size- and hash-checked like the rest); no other file lives there."""
    components = manifest.get("components", {})
    if not isinstance(components, dict):
        raise RecauditInputError(manifest_path, "'components' must be a table of component names")
    claimed = set()
    for name, entry in components.items():
        if not isinstance(name, str) or not _COMPONENT_NAME.fullmatch(name):
            raise RecauditInputError(manifest_path, f"component name {name!r} is not a plain name")
        files = entry.get("files") if isinstance(entry, dict) else None
        if not isinstance(files, dict) or not files:
            raise RecauditInputError(manifest_path, f"component {name!r} lists no files")
        for relative, sha in files.items():
            problem = _component_path_problem(name, relative)
            if problem is not None:
                raise RecauditInputError(manifest_path, problem)
            full = f"{COMPONENTS}/{name}/{relative}"
            listed = manifest["files"].get(full)
            if not isinstance(listed, dict) or listed.get("sha256") != sha:
                raise RecauditInputError(
                    manifest_path, f"component file {full} is not listed in 'files' with the same sha256"
                )
            if not _inside(root, full).is_relative_to((root / COMPONENTS / name).resolve()):
                raise RecauditInputError(manifest_path, f"component file {full} leaves its directory")
            claimed.add(full)
    strays = sorted(p for p in manifest["files"] if p.startswith(f"{COMPONENTS}/") and p not in claimed)
    if strays:
        raise RecauditInputError(
            manifest_path, f"files {strays} lie in {COMPONENTS}/ but belong to no component"
        )


def _verify_files(root: Path, manifest: dict[str, Any]) -> None:
    for relative, meta in manifest["files"].items():
        if any(p.is_symlink() for p in _lexical_chain(root, relative)):
            raise RecauditInputError(root, f"bundle file {relative} is a symbolic link; refusing it")
        path = _inside(root, relative)
        if not path.is_file():
            raise RecauditInputError(root, f"bundle file {relative} is missing")
        if "bytes" in meta and path.stat().st_size != meta["bytes"]:
            raise RecauditInputError(
                path, f"size {path.stat().st_size} differs from the manifest's {meta['bytes']} (truncated?)"
            )
        if _sha256(path) != meta["sha256"]:
            raise RecauditInputError(
                path, "sha256 does not match the manifest: the file was altered or corrupted"
            )


def _lexical_chain(root: Path, relative: str) -> list[Path]:
    """``root/a``, ``root/a/b``, ... for ``relative = a/b/...``, not resolved (to see links themselves)."""
    chain, current = [], root
    for part in Path(relative).parts:
        current = current / part
        chain.append(current)
    return chain


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise RecauditInputError(path, f"not a readable parquet file: {exc}") from exc
    for column in (USER_ID, ITEM_ID):
        if column in frame.columns:
            frame[column] = frame[column].astype(str)
    return frame


def _shape_problems(
    user: np.ndarray, item: np.ndarray, bias: np.ndarray | None, n_users: int, n_items: int
) -> list[str]:
    problems = []
    if user.ndim != 2 or item.ndim != 2:
        problems.append(f"embeddings must be 2-D (user {user.shape}, item {item.shape})")
        return problems
    if user.shape[1] != item.shape[1]:
        problems.append(f"user dim {user.shape[1]} != item dim {item.shape[1]}")
    if user.shape[0] != n_users:
        problems.append(f"user table has {user.shape[0]} rows but users.parquet has {n_users} ids")
    if item.shape[0] != n_items:
        problems.append(f"item table has {item.shape[0]} rows but items.parquet has {n_items} ids")
    if bias is not None and bias.shape != (item.shape[0],):
        problems.append(f"item_bias has shape {bias.shape}, expected ({item.shape[0]},)")
    return problems


def _item_map_problems(item_map: pd.DataFrame, items: pd.DataFrame) -> list[str]:
    """The stored map must hold finite x, y for exactly the catalogue's items, in row order."""
    if list(item_map.columns[:3]) != [ITEM_ID, "x", "y"]:
        return [f"item map columns {list(item_map.columns)} != ['item_id', 'x', 'y']"]
    if len(item_map) != len(items) or not np.array_equal(
        item_map[ITEM_ID].astype(str).to_numpy(), items[ITEM_ID].astype(str).to_numpy()
    ):
        return ["item map ids differ from items.parquet (order or content)"]
    if not np.isfinite(item_map[["x", "y"]].to_numpy(dtype=np.float64)).all():
        return ["item map has non-finite coordinates"]
    return []


def check_finite(name: str, values: np.ndarray, ids: np.ndarray | None, source: object) -> None:
    """Refuse NaN/inf vectors, naming how many rows and the first ids."""
    finite = np.isfinite(values)
    bad_rows = ~finite.all(axis=1) if values.ndim == 2 else ~finite
    if bad_rows.any():
        rows = np.flatnonzero(bad_rows)
        shown = [str(ids[r]) if ids is not None else f"row {r}" for r in rows[:5]]
        raise RecauditInputError(
            str(source),
            f"{name} has {len(rows)} rows with NaN or infinite values (first: {', '.join(shown)})",
        )


def _check_ids(frame: pd.DataFrame, column: str, path: Path) -> None:
    if column not in frame.columns:
        raise RecauditInputError(path, f"column '{column}' is missing")
    ids = frame[column]
    if ids.isna().any() or (ids.astype(str) == "").any():
        raise RecauditInputError(path, f"column '{column}' has missing ids")
    dupes = ids[ids.duplicated()]
    if len(dupes):
        raise RecauditInputError(path, f"column '{column}' has duplicate ids (first: {dupes.iloc[0]!r})")


def load_bundle(path: str | Path, *, verify: bool = True, with_interactions: bool = True) -> Bundle:
    """Load and validate a bundle.

    Args:
        path: the bundle directory.
        verify: check every file's sha256 against the manifest (on by default; turning it off only
            skips hashing, never the shape and finiteness checks).
        with_interactions: also read the optional train/test interaction tables.

    Raises:
        RecauditInputError: anything wrong, naming the file.
    """
    root = Path(path)
    manifest = read_manifest(root)
    if verify:
        _verify_files(root, manifest)
    emb_path = _inside(root, EMBEDDINGS)
    try:
        tensors = load_file(str(emb_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise RecauditInputError(emb_path, f"not a readable safetensors file: {exc}") from exc
    for key in ("user", "item"):
        if key not in tensors:
            raise RecauditInputError(emb_path, f"tensor {key!r} is missing (found {sorted(tensors)})")
    user = tensors["user"].astype(np.float32, copy=False)
    item = tensors["item"].astype(np.float32, copy=False)
    bias = tensors.get("item_bias")
    bias = None if bias is None else bias.astype(np.float32, copy=False)
    users = _read_parquet(_inside(root, USERS))
    items = _read_parquet(_inside(root, ITEMS))
    _check_ids(users, USER_ID, root / USERS)
    _check_ids(items, ITEM_ID, root / ITEMS)
    problems = _shape_problems(user, item, bias, len(users), len(items))
    if int(manifest.get("dim", item.shape[-1])) != item.shape[-1]:
        problems.append(f"manifest dim {manifest.get('dim')} != embedding dim {item.shape[-1]}")
    if problems:
        raise RecauditInputError(emb_path, "; ".join(problems))
    check_finite("user embeddings", user, users[USER_ID].to_numpy(), emb_path)
    check_finite("item embeddings", item, items[ITEM_ID].to_numpy(), emb_path)
    if bias is not None:
        check_finite("item_bias", bias, items[ITEM_ID].to_numpy(), emb_path)
    item_map = None
    if ITEM_MAP in manifest["files"]:
        item_map = _read_parquet(_inside(root, ITEM_MAP))
        map_problems = _item_map_problems(item_map, items)
        if map_problems:
            raise RecauditInputError(root / ITEM_MAP, "; ".join(map_problems))
    train = test = None
    if with_interactions:
        if TRAIN in manifest["files"]:
            train = _read_parquet(_inside(root, TRAIN))
        if TEST in manifest["files"]:
            test = _read_parquet(_inside(root, TEST))
    components = {
        name: {relative: _read_component_file(root, name, relative) for relative in entry["files"]}
        for name, entry in manifest.get("components", {}).items()
    }
    return Bundle(
        users=users, items=items, user_emb=user, item_emb=item, item_bias=bias,
        train=train, test=test, manifest=manifest, path=root, item_map=item_map, components=components,
    )


def _read_component_file(root: Path, name: str, relative: str) -> object:
    """One component file's content (its path and hash were checked by :func:`read_manifest`)."""
    path = _inside(root, f"{COMPONENTS}/{name}/{relative}")
    if relative.endswith(".parquet"):
        return _read_parquet(path)
    if relative.endswith(".safetensors"):
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise RecauditInputError(path, f"not a readable safetensors file: {exc}") from exc
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise RecauditInputError(path, "component JSON file is implausibly large")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecauditInputError(path, f"not valid JSON: {exc}") from exc


def list_bundles(directory: str | Path) -> list[Path]:
    """Bundle directories directly under ``directory`` (sorted by name); hidden temp dirs are skipped."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".") and is_bundle_dir(p)
    )
