"""Projection benchmark: first-time and cached item maps (UMAP and PCA) for 10k, 50k and 100k items x 64 dims.

The tables are seeded clustered float32 data (64 Gaussian clusters, ``seed 0``). For each size and method it
times :func:`recaudit.views.projection.project_items` with an empty cache directory (first time:
fit + cache write)
and again with the filled cache (hash + read), and checks that both return identical coordinates. The
numba compile cost of UMAP is measured separately, before anything else: the first UMAP fit in the process
(5,000 points) minus a second, identical fit. Parameters are the defaults (``ProjectionParams()``: UMAP,
n_neighbors 15, min_dist 0.1, cosine, PCA pre-reduction to 50 dims, seed 0, hence single-threaded UMAP).

Target: the cached path returns in under a second at 100k items (exit 1 otherwise).

Usage::

    python benchmarks/bench_projection.py                 # 10k, 50k, 100k (about 4-5 min on 2 cores)
    python benchmarks/bench_projection.py --sizes 10000   # quick
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recaudit.views.projection import ProjectionParams, project_items  # noqa: E402

DIM = 64
CACHED_TARGET_S = 1.0
COMPILE_POINTS = 5_000


def table(n: int, d: int = DIM, n_clusters: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, d)).astype(np.float32) * 3
    labels = rng.integers(0, n_clusters, size=n)
    return centres[labels] + rng.normal(size=(n, d)).astype(np.float32)


def timed(fn):  # noqa: ANN001, ANN202 - tiny helper
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def compile_cost() -> tuple[float, float]:
    """(first UMAP fit in the process, second identical fit) on 5,000 points, in seconds.

    5,000 > 4,096, so umap-learn takes the same NN-descent path as the timed sizes (below 4,096 points it
    computes exact neighbours and would leave NN-descent's compilation to the first timed fit).
    """
    x = table(COMPILE_POINTS, seed=1)
    ids = np.arange(len(x)).astype(str)
    _, first = timed(lambda: project_items(x, ids, ProjectionParams()))
    _, second = timed(lambda: project_items(x, ids, ProjectionParams()))
    return first, second


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    args = parser.parse_args()

    t_import_start = time.perf_counter()
    import umap  # noqa: F401 - import cost is part of the first-fit story

    t_import = time.perf_counter() - t_import_start
    first, second = compile_cost()
    print(f"umap import: {t_import:.1f} s")
    print(f"numba compile: first UMAP fit of {COMPILE_POINTS:,} pts {first:.1f} s, second {second:.1f} s "
          f"-> compile ~{first - second:.1f} s")
    print()
    header = f"{'items':>8} {'dims':>4} {'method':>6} {'first-time s':>13} {'cached s':>9} {'identical':>9}"
    print(header)
    print("-" * len(header))
    failed = False
    for n in args.sizes:
        x = table(n)
        ids = np.arange(n).astype(str)
        for method in ("pca", "umap"):
            params = ProjectionParams(method=method)
            with tempfile.TemporaryDirectory() as tmp:
                cold, t_cold = timed(lambda: project_items(x, ids, params, cache_dir=Path(tmp)))  # noqa: B023
                warm, t_warm = timed(lambda: project_items(x, ids, params, cache_dir=Path(tmp)))  # noqa: B023
            same = warm.from_cache and np.array_equal(cold.xy, warm.xy)
            print(f"{n:>8,} {DIM:>4} {method:>6} {t_cold:>13.2f} {t_warm:>9.3f} {str(same):>9}", flush=True)
            if not same or (n >= 100_000 and t_warm >= CACHED_TARGET_S):
                failed = True
    print()
    print(f"target: cached path < {CACHED_TARGET_S:.0f} s at 100k items -> {'FAIL' if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
