"""Repository-wide pytest fixtures (the app tests keep theirs in tests/conftest.py)."""

import os
from pathlib import Path

import pytest

from recaudit.paths import shared_datasets_dir


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    path = shared_datasets_dir()
    if not (path / "ml-latest-small" / "ratings.csv").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"real datasets not found at {path} (set RECAUDIT_DATASETS)")
        pytest.skip(f"real datasets not found at {path} (set RECAUDIT_DATASETS)")
    return path
