"""``recaudit._io``: atomic writes keep the old file on any failure and leave no temp file; strict JSON."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

import recaudit._io as io_mod
from recaudit._io import atomic_path, atomic_write_text, dumps_json, json_safe


def test_atomic_write_replaces_and_leaves_only_the_target(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two ✓")
    assert target.read_text(encoding="utf-8") == "two ✓"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_a_failing_writer_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="half way"), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("half way")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failing_rename_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(io_mod.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_json_policy() -> None:
    value = {
        "nan": math.nan, "inf": np.float32("inf"), "minus": -math.inf, "int": np.int64(3),
        "arr": np.array([1.5, np.nan]), "flag": np.bool_(True), "when": datetime(2026, 1, 2, 3, 4, 5),
        "path": Path("a") / "b", 7: ("x", None),
    }
    assert json_safe(value) == {
        "nan": None, "inf": "inf", "minus": "-inf", "int": 3, "arr": [1.5, None], "flag": True,
        "when": "2026-01-02T03:04:05", "path": str(Path("a") / "b"), "7": ["x", None],
    }
    text = dumps_json(value)
    assert text.endswith("\n") and "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["inf"] == "inf"
    assert dumps_json({"λ": 1}) == '{\n  "λ": 1\n}\n'
