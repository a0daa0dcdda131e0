"""Import a benchmark script as a module for its smoke test, leaving this process's environment as it was."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def import_benchmark(name: str, env_default: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a module. The script sets the environment variable ``env_default`` at
    import (its default for a real run); its previous value, or its absence, is restored."""
    before = os.environ.get(env_default)
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
        if before is None:
            os.environ.pop(env_default, None)
        else:
            os.environ[env_default] = before
    return module
