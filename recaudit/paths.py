"""Where recaudit finds things outside the package: the shared real datasets and the bundle directory."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_datasets_dir() -> Path:
    """The real datasets: ``$RECAUDIT_DATASETS`` if set, else ``../shared/datasets`` beside the repo."""
    override = os.environ.get("RECAUDIT_DATASETS")
    if override:
        return Path(override)
    return REPO_ROOT.parent / "shared" / "datasets"


def default_bundle_dir() -> Path:
    """Where the app looks for bundles: ``$RECAUDIT_BUNDLE_DIR`` if set, else ``bundles/`` in the repo."""
    override = os.environ.get("RECAUDIT_BUNDLE_DIR")
    return Path(override) if override else REPO_ROOT / "bundles"


DATA_DIR_ENV = "RECAUDIT_DATA_DIR"


def default_data_dirs() -> list[Path]:
    """The folders the app's Import page may read files from (besides uploads).

    ``$RECAUDIT_DATA_DIR`` (one or more folders joined by ``os.pathsep``) if set, else the repository's
    ``sample_data/`` and the shared datasets folder (:func:`shared_datasets_dir`) where they exist. The
    server reads nothing outside these folders, its bundles folder and its own uploads.
    """
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        places = [Path(p).expanduser() for p in override.split(os.pathsep) if p]
    else:
        places = [REPO_ROOT / "sample_data", shared_datasets_dir()]
    return [p.resolve() for p in places if p.is_dir()]
