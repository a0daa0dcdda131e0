"""Benchmark exact top-k scoring against plain numpy, faiss.IndexFlatIP and the read floor.

Run: ``python benchmarks/bench_scoring.py [--quick] [--sizes N ...] [--batches B ...]
[--repeats N] [--device auto|cpu|cuda] [--sweep]``

Prints one table, one row per (catalogue size, batch size): median milliseconds per batch of

* ``ours``: ``ExactScorer.recommend_vectors`` end to end (validation, id mapping). Batches of at
  most ``recaudit.scoring._topk.SMALL_BATCH`` queries take the GEMV-shaped path, larger ones the blocked
  GEMM kernel;
* ``numpy``: ``items @ q`` (a GEMV at batch 1; chunks of 64 queries as ``Q @ items.T`` beyond) +
  ``argpartition`` + a sort of the top k;
* ``faiss``: ``faiss.IndexFlatIP.search``;
* ``floor``: the read floor, the time to read the item table once: table bytes / the rate of
  ``torch.sum`` over that same table, best of all its runs in this size's cells. A GEMV reads the
  table once and writes next to nothing, so this is the floor for batch 1. (The copy rate, which
  this script used before, is lower than the read rate and made too easy a floor.)

and the ratios ours / numpy, ours / floor and, at batch 1024, faiss / ours (our speedup). The
``agree`` column is mean |top-10 ∩ float64 top-10| / 10 of ours over 32 queries.

Timing: within a cell the four methods run in turn, round after round (at least 15 rounds at
batch 1, each round a different query; ``--repeats`` rounds otherwise, fewer once a cell has used
its time budget), so that load drifts on a shared machine hit all of them alike. Medians are
reported; the floor is a best-of. The gates at the end compare medians.

``--device cuda`` runs ours and the floor on the GPU (synchronised before every clock read) and
numpy / faiss on the CPU as before; it stops with a one-line error where CUDA is unavailable.

Threads: torch and faiss each use all cores through their own libgomp. On an oversubscribed box,
libgomp's default spin-waiting makes every parallel region wait for a descheduled spinning thread,
so this script defaults ``OMP_WAIT_POLICY=PASSIVE`` before importing them, unless the variable is
already set. ``OPENBLAS_CORETYPE`` (numpy's BLAS kernel choice), when set, is printed and left as
it is: numpy is measured in this same process and environment.
"""

from __future__ import annotations

import os

# libgomp reads this once, when torch / faiss load it: it must be set before those imports.
WAIT_POLICY_DEFAULTED = "OMP_WAIT_POLICY" not in os.environ
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recaudit.errors import RecauditInputError  # noqa: E402
from recaudit.scoring import ExactScorer, choose_device  # noqa: E402
from recaudit.scoring._topk import choose_method, topk_inner_product  # noqa: E402

DIM, K, SEED = 64, 10, 0
DEFAULT_SIZES = (100_000, 1_000_000)
DEFAULT_BATCHES = (1, 8, 64, 1024)
CELL_BUDGET_S = 40.0  # stop adding rounds to a cell once it has used this much time (after 2)
BATCH1_ROUNDS = 16  # four full cycles of the balanced orders of four methods
NUMPY_QUERY_CHUNK = 64  # numpy baseline: 64 x 1M scores = 256 MiB per matmul, bounded memory
FLOOR_SLACK = 1.2  # gate: batch 1 within this factor of the read floor
FAISS_SPEEDUP = 2.5  # gate: batch 1024 at least this many times faster than faiss
METHODS = ("ours", "numpy", "faiss", "floor")


@dataclass(frozen=True)
class Row:
    """One (catalogue size, batch size) cell: every method's wall times in seconds."""

    n_items: int
    batch: int
    path: str  # which path of ours ran: "small" or "blocked"
    times: dict[str, list[float]]
    floor_s: float  # best torch.sum time over the table, over all of this size's cells
    agree: float

    def median(self, method: str) -> float:
        return statistics.median(self.times[method])

    @property
    def ratio_numpy(self) -> float:
        """ours / numpy (median times): below 1 means ours is faster."""
        return self.median("ours") / self.median("numpy")

    @property
    def ratio_floor(self) -> float:
        """ours (median) / read floor (best)."""
        return self.median("ours") / self.floor_s

    @property
    def speedup_faiss(self) -> float:
        """faiss / ours (median times): above 1 means ours is faster."""
        return self.median("faiss") / self.median("ours")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def numpy_topk(queries: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Plain numpy top-k rows: ``items @ q`` for one query, ``Q @ items.T`` in chunks beyond;
    then argpartition and a sort of the k."""
    if len(queries) == 1:
        scores = items @ queries[0]
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.argsort(-scores[part])][None]
    out = np.empty((len(queries), k), dtype=np.int64)
    for s in range(0, len(queries), NUMPY_QUERY_CHUNK):
        scores = queries[s : s + NUMPY_QUERY_CHUNK] @ items.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
        out[s : s + NUMPY_QUERY_CHUNK] = np.take_along_axis(part, order, axis=1)
    return out


def reference_top(queries: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """float64 top-k rows (item table converted in chunks to bound memory)."""
    q64 = queries.astype(np.float64)
    scores = np.empty((len(queries), len(items)))
    for s in range(0, len(items), 2**17):
        scores[:, s : s + 2**17] = q64 @ items[s : s + 2**17].astype(np.float64).T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def agreement(rows: np.ndarray, ref: np.ndarray) -> float:
    pairs = zip(rows, ref, strict=True)
    return float(np.mean([len(set(a) & set(b)) / ref.shape[1] for a, b in pairs]))


def balanced_orders(n: int) -> list[list[int]]:
    """Run orders of ``n`` methods in which every method directly follows every other one equally
    often: a Williams design (Williams 1949, *Aust. J. Sci. Res.* 2:149), one Latin square for even
    ``n``, the square and its mirror for odd ``n``.

    Why: what ran just before a method sets its state: which thread pool (torch's, faiss's,
    OpenBLAS's) is awake or spinning, what of the table is in cache. Rotating one fixed order keeps
    each method's predecessor fixed (rotation preserves the cycle), so the method after ours always
    found OpenBLAS's threads warm, and ours always ran after torch's.
    """
    first = [0]
    lo, hi = 1, n - 1
    while len(first) < n:
        first.append(lo)
        lo += 1
        if len(first) < n:
            first.append(hi)
            hi -= 1
    square = [[(m + i) % n for m in first] for i in range(n)]
    return square if n % 2 == 0 else square + [row[::-1] for row in square]


def time_rounds(
    fns: dict[str, Callable[[int], object]],
    rounds: int,
    device: torch.device,
    budget_s: float = CELL_BUDGET_S,
) -> dict[str, list[float]]:
    """Wall times of each ``fn(round)``, the functions run in turn round after round.

    One untimed warm-up round first. At least 2 timed rounds, at most ``rounds``, and no new round
    once ``budget_s`` has passed. The device is synchronised before every clock read. Round ``r``
    runs the methods in order ``r`` of :func:`balanced_orders` (cycling), so within every full
    cycle of orders each method runs right after each other method equally often.
    """
    for fn in fns.values():
        fn(0)
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    names = list(fns)
    orders = balanced_orders(len(names))
    for r in range(rounds):
        for m in orders[r % len(orders)]:
            name = names[m]
            fn = fns[name]
            _sync(device)
            t0 = time.perf_counter()
            fn(r)
            _sync(device)
            times[name].append(time.perf_counter() - t0)
        if r >= 1 and time.perf_counter() - start > budget_s:
            break
    return times


@dataclass(frozen=True)
class Timing:
    """How the cells of a table are timed (:func:`time_rounds`): rounds, device, budget, progress."""

    repeats: int  # rounds per cell (at least ``batch1_rounds`` at batch 1)
    device: torch.device  # where ours and the floor run; synchronised before every clock read
    budget_s: float = CELL_BUDGET_S
    batch1_rounds: int = BATCH1_ROUNDS
    log: Callable[[str], None] | None = None  # told when each cell is done

    def rounds(self, batch: int) -> int:
        """Rounds for a cell of ``batch`` queries."""
        return max(self.repeats, self.batch1_rounds) if batch == 1 else self.repeats


def bench_size(n_items: int, batches: Sequence[int], timing: Timing) -> list[Row]:
    """Every batch size's row for one seeded [n_items, 64] standard-normal catalogue."""
    device = timing.device
    rng = np.random.default_rng(SEED)
    items = rng.standard_normal((n_items, DIM), dtype=np.float32)
    queries = rng.standard_normal((max(max(batches), 32), DIM), dtype=np.float32)
    sample = np.arange(0, len(queries), max(1, len(queries) // 32))[:32]
    ref = reference_top(queries[sample], items, K)
    scorer = ExactScorer(
        np.zeros((0, DIM), np.float32), items, [], [str(i) for i in range(n_items)], device=device
    )
    index = faiss.IndexFlatIP(DIM)
    index.add(items)
    table = torch.from_numpy(items).to(device)  # no copy on CPU; the floor reads this table

    def agree(batch: int) -> float:
        # the sample in calls of `batch` queries, so that each row checks the path it times
        q = queries[sample]
        got = [scorer.recommend_vectors(q[s : s + batch], K).item_index for s in range(0, 32, batch)]
        return agreement(np.concatenate(got), ref)

    cells: list[tuple[int, dict[str, list[float]]]] = []
    for batch in batches:

        def pick(r: int, b: int = batch) -> np.ndarray:
            # batch 1: a different query every round; larger batches: the first b queries
            return queries[r % len(queries)][None] if b == 1 else queries[:b]

        fns: dict[str, Callable[[int], object]] = {
            "ours": lambda r, pick=pick: scorer.recommend_vectors(pick(r), K).item_index,
            "numpy": lambda r, pick=pick: numpy_topk(pick(r), items, K),
            "faiss": lambda r, pick=pick: index.search(pick(r), K)[1],
            "floor": lambda r: table.sum(),
        }
        cells.append((batch, time_rounds(fns, timing.rounds(batch), device, timing.budget_s)))
        if timing.log is not None:
            timing.log(f"  done {n_items:>8} items, batch {batch:>4}")
    floor_s = min(min(times["floor"]) for _, times in cells)
    return [
        Row(n_items, b, choose_method(b, n_items), times, floor_s, agree(b)) for b, times in cells
    ]


def run_table(
    sizes: Sequence[int],
    batches: Sequence[int],
    repeats: int,
    device: torch.device,
    *,
    budget_s: float = CELL_BUDGET_S,
    batch1_rounds: int = BATCH1_ROUNDS,
    log: Callable[[str], None] | None = None,
) -> list[Row]:
    """Rows for every catalogue size in ``sizes`` and batch size in ``batches`` (see bench_size and
    :class:`Timing` for the other arguments)."""
    timing = Timing(repeats, device, budget_s=budget_s, batch1_rounds=batch1_rounds, log=log)
    return [row for n in sizes for row in bench_size(n, batches, timing)]


def format_table(rows: Sequence[Row]) -> str:
    """The table as text: medians in ms, the read floor, and the ratios."""
    header = (
        f"{'items':>9} {'batch':>5} {'path':>7} {'ours ms':>9} {'numpy ms':>9} {'faiss ms':>9} "
        f"{'floor ms':>9} {'ours/numpy':>10} {'ours/floor':>10} {'vs faiss':>8} {'agree':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        speedup = f"{r.speedup_faiss:7.2f}x" if r.batch >= 1024 else f"{'-':>8}"
        lines.append(
            f"{r.n_items:>9} {r.batch:>5} {r.path:>7} {1e3 * r.median('ours'):>9.2f} "
            f"{1e3 * r.median('numpy'):>9.2f} {1e3 * r.median('faiss'):>9.2f} "
            f"{1e3 * r.floor_s:>9.2f} {r.ratio_numpy:>10.2f} {r.ratio_floor:>10.2f} "
            f"{speedup} {r.agree:>6.3f}"
        )
    return "\n".join(lines)


def gates(rows: Sequence[Row]) -> list[tuple[str, bool]]:
    """The targets, one (line, passed) per size: batch 1 <= numpy, batch 1 <= 1.2x the read
    floor, batch 1024 >= 2.5x faiss. Medians against medians; the floor is a best-of."""
    out: list[tuple[str, bool]] = []
    for r in rows:
        if r.batch == 1:
            ok = r.ratio_numpy <= 1.0
            out.append(
                (
                    f"batch 1 over {r.n_items} items, ours <= numpy: {1e3 * r.median('ours'):.2f}"
                    f" vs {1e3 * r.median('numpy'):.2f} ms ({r.ratio_numpy:.2f}x)",
                    ok,
                )
            )
            ok = r.ratio_floor <= FLOOR_SLACK
            out.append(
                (
                    f"batch 1 over {r.n_items} items, ours <= {FLOOR_SLACK}x read floor "
                    f"({1e3 * r.floor_s:.2f} ms): {r.ratio_floor:.2f}x",
                    ok,
                )
            )
        if r.batch == 1024:
            ok = r.speedup_faiss >= FAISS_SPEEDUP
            out.append(
                (
                    f"batch 1024 over {r.n_items} items, ours >= {FAISS_SPEEDUP}x faiss "
                    f"IndexFlatIP: {r.speedup_faiss:.2f}x",
                    ok,
                )
            )
    return out


def sweep(n_items: int, repeats: int, device: torch.device) -> None:
    """Queries/s of the blocked kernel for several item-block sizes (batch 1024)."""
    rng = np.random.default_rng(SEED)
    v = torch.from_numpy(rng.standard_normal((n_items, DIM), dtype=np.float32)).to(device)
    q = torch.from_numpy(rng.standard_normal((1024, DIM), dtype=np.float32)).to(device)
    print(f"\nblock-size sweep (blocked kernel, batch 1024, {n_items} items):")
    for nb in (512, 1024, 2048, 4096, 8192, 16384, 65536):

        def run(r: int, nb: int = nb) -> None:
            with torch.inference_mode():
                topk_inner_product(q, v, K, block_items=nb, method="blocked")[1].cpu()

        t = time_rounds({"kernel": run}, repeats, device)["kernel"]
        print(f"  block_items {nb:>6}: {1024 / statistics.median(t):8.0f} q/s (median)")


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _blas() -> str:
    """numpy's BLAS as threadpoolctl sees it (name, kernel architecture, threads)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(
        f"{i.get('internal_api')} {i.get('version')} {i.get('architecture', '')} "
        f"threads {i.get('num_threads')}"
        for i in libs
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k items only, 3 rounds")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="catalogue sizes")
    parser.add_argument("--batches", type=int, nargs="+", default=list(DEFAULT_BATCHES))
    parser.add_argument("--repeats", type=int, default=None, help="rounds per cell (default 5)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    parser.add_argument("--sweep", action="store_true", help="also sweep the kernel's block size")
    args = parser.parse_args(argv)
    try:
        device = choose_device(args.device)
    except RecauditInputError as exc:
        print(f"bench_scoring: --device {args.device}: {exc}", file=sys.stderr)
        return 2
    repeats = args.repeats or (3 if args.quick else 5)
    sizes = args.sizes or ([DEFAULT_SIZES[0]] if args.quick else list(DEFAULT_SIZES))

    print(
        f"load average at start: {_load()}; OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
        f"{' (defaulted by this script)' if WAIT_POLICY_DEFAULTED else ''}; "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}"
    )
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(
        f"ours and the floor on {device}{gpu}; numpy and faiss on cpu. torch threads "
        f"{torch.get_num_threads()}, faiss threads {faiss.omp_get_max_threads()}, numpy BLAS: "
        f"{_blas()}; rounds {repeats} ({max(repeats, BATCH1_ROUNDS)} at batch 1); d={DIM}, k={K}"
    )
    rows = run_table(
        sizes, args.batches, repeats, device, log=lambda s: print(s, file=sys.stderr, flush=True)
    )
    print()
    print(format_table(rows))
    for n in sizes:
        floor = next(r.floor_s for r in rows if r.n_items == n)
        print(
            f"read floor {n} items: {1e3 * floor:.2f} ms = {n * DIM * 4 / 1e6:.0f} MB / "
            f"{n * DIM * 4 / floor / 1e9:.1f} GB/s (torch.sum, best of its runs)"
        )
    if args.sweep:
        sweep(sizes[-1], min(repeats, 3), device)
    print(f"load average at end: {_load()}")
    results = gates(rows)
    for line, ok in results:
        print(f"gate: {line} {'PASS' if ok else 'FAIL'}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
