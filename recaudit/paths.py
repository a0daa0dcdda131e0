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
