"""Writing files safely, and strict JSON: the one home for both.

* :func:`atomic_path`: write to a temporary file beside the target, then ``os.replace`` it into place
  (atomic on POSIX and Windows within one folder). On any error the temporary file is removed and an
  existing target is left untouched, so a crash or a full disk never leaves half a report, recommendation
  log, cache entry or audit JSON behind.
* :func:`atomic_dir`: the same for a whole folder (a bundle): it is built beside the target and swapped in
  with two renames; an old folder is removed only after the new one is in place, and is put back if the
  swap fails.
* :func:`json_safe` / :func:`dumps_json`: strict JSON (RFC 8259 has no NaN or Infinity): NaN becomes
  ``null``, ±infinity the strings ``"inf"`` / ``"-inf"``, numpy scalars and arrays Python numbers and lists,
  timestamps ISO 8601 text, paths their string. Every JSON file the project writes (audit results,
  reports, manifests, caches) follows this one policy, so a reader never meets a ``NaN`` token.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path, PurePath
from typing import Any

import numpy as np


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds it replaces ``path`` atomically.

    The parent folder is created if needed. Concurrent writers each get their own temporary name
    (random suffix); the last rename wins, and a reader sees either the old or a complete new file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a new empty folder beside ``path``; when the block succeeds it replaces ``path``.

    On any error the new folder is deleted and an existing ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; an old ``target`` is removed only after the move succeeded."""
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
        try:
            os.replace(new, target)
        except BaseException:
            os.replace(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types under the module's policy (NaN -> None, ±inf -> "inf"/"-inf")."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        number = float(value)
        if math.isnan(number):
            return None
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        return number
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)


def dumps_json(value: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """:func:`json_safe` ``value`` as strict JSON text (no NaN tokens, UTF-8 kept), newline-terminated."""
    text = json.dumps(
        json_safe(value), indent=indent, sort_keys=sort_keys, ensure_ascii=False, allow_nan=False
    )
    return text + "\n"


def read_json_object(path: Path, *, max_bytes: int, what: str) -> dict[str, Any]:
    """The JSON object in the small file ``path`` (a manifest): refused when over ``max_bytes`` (``what`` is
    implausibly large), not JSON or not an object, each as one ``RecauditInputError``."""
    from recaudit.errors import RecauditInputError

    if path.stat().st_size > max_bytes:
        raise RecauditInputError(path, f"{what} is implausibly large")
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecauditInputError(path, f"not valid JSON: {exc}") from exc
    if not isinstance(found, dict):
        raise RecauditInputError(path, f"{what} is not a JSON object")
    return found
