"""benchmarks/bench_scoring.py reports what its gates need at every batch size.

Tiny sizes only, and no wall-clock assertion: only that each row carries the read floor, the numpy
ratio and, at batch 1024, the faiss speedup, that the gate lines are there, and that the script's
path column says which scorer path ran.
"""

from __future__ import annotations

from types import ModuleType

import pytest
import torch

from recaudit.scoring._topk import choose_method
from tests.bench_loading import import_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return import_benchmark("bench_scoring", "OMP_WAIT_POLICY")


def test_table_reports_floor_and_numpy_ratio_at_every_batch(bench):
    sizes, batches = [700, 1500], [1, 3, 8, 1024]
    rows = bench.run_table(
        sizes, batches, 2, torch.device("cpu"), budget_s=0.0, batch1_rounds=2
    )
    assert [(r.n_items, r.batch) for r in rows] == [(n, b) for n in sizes for b in batches]
    for r in rows:
        assert set(r.times) == set(bench.METHODS) and all(len(t) >= 2 for t in r.times.values())
        assert r.floor_s > 0 and r.floor_s == min(
            min(x.times["floor"]) for x in rows if x.n_items == r.n_items
        )
        assert r.ratio_numpy == r.median("ours") / r.median("numpy") > 0
        assert r.ratio_floor == r.median("ours") / r.floor_s > 0
        assert r.agree == 1.0  # exact on random floats
    assert [r.path for r in rows if r.batch in (1, 1024)] == ["small", "blocked"] * len(sizes)
    assert all(r.path == choose_method(r.batch, r.n_items) for r in rows)
    text = bench.format_table(rows)
    lines = text.splitlines()
    assert "floor ms" in lines[0] and "ours/numpy" in lines[0] and "ours/floor" in lines[0]
    assert len(lines) == 2 + len(rows)
    for line, r in zip(lines[2:], rows, strict=True):
        cols = line.split()
        assert [int(cols[0]), int(cols[1])] == [r.n_items, r.batch]
        assert float(cols[6]) == pytest.approx(1e3 * r.floor_s, abs=0.006)
        assert float(cols[7]) == pytest.approx(r.ratio_numpy, abs=0.006)
        assert cols[9] == ("-" if r.batch < 1024 else f"{r.speedup_faiss:.2f}x")
    gate_lines = [line for line, _ in bench.gates(rows)]
    for n in sizes:
        assert sum(f"batch 1 over {n} items" in g for g in gate_lines) == 2
        assert sum(f"batch 1024 over {n} items" in g for g in gate_lines) == 1


def test_cuda_request_without_cuda_is_a_one_line_error(bench, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert bench.main(["--device", "cuda", "--sizes", "500", "--batches", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "CUDA is not available" in err
