"""Exposure and popularity metrics of big logs: ours on DuckDB, Spark and in memory against RePlay and pandas.

One run, side by side, on synthetic logs written as parquet parts (clean top-10 lists over a Zipf-skewed
catalogue, int64 ids):

- ``duckdb``: ``recaudit.metrics.engines`` on embedded DuckDB over the parquet glob, ``--no-ci``, with a
  memory limit; at ``--rows`` (default 100M) and at the peers' size;
- ``spark``: the same on Spark local mode at ``--spark-rows`` (default 20M);
- ``memory``: the in-memory engine (``AuditInputs`` + ``evaluate``) at the peers' size;
- ``pandas``: a plain pandas groupby of the same nine metrics at the peers' size (no validation);
- ``replay-pandas|polars|spark``: RePlay's ``OfflineMetrics([Coverage, Surprisal, Novelty])`` at the
  peers' size, run by another interpreter (``--replay-python``; RePlay pins pandas < 3 and pyarrow < 24,
  which recaudit's pins exclude, so it lives in its own virtualenv: ``make bench-peers``).

Every measurement runs in its own process; its peak memory is that process's maximum RSS (and, for Spark,
its JVM child's). The DuckDB run states its bound (``--memory-limit``) and the gate checks that the process
stayed within the bound plus the interpreter's baseline. Gate: ours on DuckDB is faster than every peer at
the peers' size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXPOSURE = ("coverage", "gini", "exposure_gini", "entropy", "entropy_norm", "personalization")
METRICS = [f"{name}@10" for name in (*EXPOSURE, "arp", "aplt", "novelty")]
N_ITEMS = (
    1_000_003  # prime: each user's stride walk over the catalogue never repeats an item within 10 steps
)
PART_ROWS = 5_000_000


def make_world(root: Path, rows: int, seed: int = 0) -> Path:
    """``recs/part-*.parquet`` (``rows`` rows: rows/10 users x top-10), ``train.parquet``, ``items.parquet``.

    Kept between runs under ``--data`` (one folder per size)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / f"rows{rows}"
    if (folder / "done").exists():
        return folder
    (folder / "recs").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    users = rows // 10
    for part, start in enumerate(range(0, users, PART_ROWS // 10)):
        n = min(PART_ROWS // 10, users - start)
        base = (rng.zipf(1.3, n) - 1) % N_ITEMS
        step = rng.integers(1, 5000, n)
        items = (base[:, None] + step[:, None] * np.arange(10)[None, :]) % N_ITEMS
        table = pa.table({
            "user_id": np.repeat(np.arange(start, start + n, dtype=np.int64), 10),
            "item_id": items.ravel().astype(np.int64),
            "rank": np.tile(np.arange(1, 11, dtype=np.int32), n),
            "score": rng.random(n * 10, dtype=np.float32),
        })  # fmt: skip
        pq.write_table(table, folder / "recs" / f"part-{part:04d}.parquet")
    n_train = min(rows // 5, 20_000_000)
    train = pa.table({
        "user_id": rng.integers(0, users, n_train, dtype=np.int64),
        "item_id": ((rng.zipf(1.2, n_train) - 1) % N_ITEMS).astype(np.int64),
    })  # fmt: skip
    pq.write_table(train, folder / "train.parquet")
    pq.write_table(pa.table({"item_id": np.arange(N_ITEMS, dtype=np.int64)}), folder / "items.parquet")
    (folder / "done").write_text("")
    return folder


def _jvm_peak_mb(session: object) -> float:
    """The Spark JVM's peak RSS (``VmHWM``): it outlives the measurement, so RUSAGE_CHILDREN misses it."""
    try:
        pid = session.sparkContext._gateway.proc.pid  # type: ignore[attr-defined]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except (AttributeError, OSError, ValueError):
        pass
    return 0.0


def _peak_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024.0


# ---- one measurement per process --------------------------------------------------------------------------
def run_one(method: str, folder: Path, args: argparse.Namespace) -> dict:
    recs, train, items = (
        str(folder / "recs" / "*.parquet"),
        str(folder / "train.parquet"),
        str(folder / "items.parquet"),
    )
    baseline = _peak_mb()
    jvm_peak = 0.0
    start = time.perf_counter()
    if method in ("duckdb", "spark"):
        from recaudit.metrics.engines.evaluate import evaluate_engine

        limit = args.memory_limit if method == "duckdb" else None
        threads = args.threads if method == "duckdb" else None
        result = evaluate_engine(
            method, recs=recs, train=train, items=items, k=10, metrics=METRICS, ci=False,
            item_columns=(), memory_limit=limit, threads=threads, lift=False,
        )  # fmt: skip
        values = result.values
        if method == "spark":
            from recaudit.metrics.engines.backends import spark_session

            session = spark_session()
            jvm_peak = _jvm_peak_mb(session)
            session.stop()
    elif method == "memory":
        import pandas as pd

        from recaudit.metrics import AuditInputs, evaluate

        frames = {n: pd.read_parquet(folder / f"{n}.parquet") for n in ("train", "items")}
        log = pd.read_parquet(folder / "recs")
        inputs = AuditInputs.from_frames(log, frames["train"], items=frames["items"], k=10)
        values = evaluate(inputs, METRICS, ci=False, item_columns=()).values
    elif method == "pandas":
        values = _pandas_groupby(folder)
    else:
        raise SystemExit(f"unknown method {method}")
    return {
        "method": method, "seconds": time.perf_counter() - start, "peak_mb": _peak_mb(),
        "children_peak_mb": max(_peak_mb(children=True), jvm_peak), "baseline_mb": baseline, "values": values,
    }  # fmt: skip


def _pandas_groupby(folder: Path) -> dict[str, float]:
    """The plain pandas way to the same nine metrics: read the columns, group by item and by user, sort the
    catalogue for Gini and the short head. No validation or cleaning (the synthetic lists are clean)."""
    import pandas as pd

    log = pd.read_parquet(folder / "recs", columns=["user_id", "item_id", "rank"])
    log = log[log["rank"] <= 10]
    train = pd.read_parquet(folder / "train.parquet")
    items = pd.read_parquet(folder / "items.parquet")["item_id"]
    n_items = len(items)
    counts = log.groupby("item_id").size()
    weights = (1.0 / np.log2(log["rank"] + 1.0)).groupby(log["item_id"]).sum()

    def gini(values: np.ndarray) -> float:
        full = np.zeros(n_items)
        full[: len(values)] = values
        full.sort()
        j = np.arange(1, n_items + 1)
        return float(np.sum((2 * j - n_items - 1) * full) / (n_items * full.sum()))

    phi = train.groupby("item_id").size().reindex(items, fill_value=0)
    users = train.drop_duplicates().groupby("item_id").size().reindex(items, fill_value=0)
    n_users = train["user_id"].nunique()
    ranked = pd.DataFrame({"phi": phi.to_numpy(), "key": items.astype(str).to_numpy()}, index=items)
    ranked = ranked.sort_values(["phi", "key"], ascending=[False, True])
    cumulative = ranked["phi"].cumsum().to_numpy()
    n_head = int(np.searchsorted(cumulative, 0.8 * cumulative[-1] * (1.0 - 1e-12))) + 1
    tail = pd.Series(1.0, index=items)
    tail[ranked.index[:n_head]] = 0.0
    facts = pd.DataFrame({
        "phi": phi.astype(float), "tail": tail, "nov": -np.log2(np.maximum(users, 1) / n_users)
    })  # fmt: skip
    per_user = log[["user_id"]].join(facts, on=log["item_id"]).groupby("user_id").mean()
    p = counts.to_numpy() / counts.sum()
    c = counts.to_numpy(np.float64)
    listed = log["user_id"].nunique()
    entropy = float(-(p * np.log(p)).sum())
    return {
        "coverage@10": len(counts) / n_items, "gini@10": gini(c),
        "exposure_gini@10": gini(weights.to_numpy()), "entropy@10": entropy,
        "entropy_norm@10": entropy / np.log(n_items),
        "personalization@10": 1.0 - float(np.sum(c * (c - 1.0))) / (listed * (listed - 1.0) * 10),
        "arp@10": float(per_user["phi"].mean()), "aplt@10": float(per_user["tail"].mean()),
        "novelty@10": float(per_user["nov"].mean()),
    }  # fmt: skip


def measure(method: str, folder: Path, args: argparse.Namespace) -> dict:
    """``run_one`` in a fresh process, so its peak memory is its own."""
    argv = [sys.executable, __file__, "--run", method, "--folder", str(folder),
            "--memory-limit", args.memory_limit, "--threads", str(args.threads)]  # fmt: skip
    done = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    if done.returncode != 0:
        return {"method": method, "error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_replay(folder: Path, args: argparse.Namespace) -> list[dict]:
    if not args.replay_python:
        return [
            {"method": "replay", "error": "no --replay-python (make bench-peers builds its virtualenv)"}
        ]
    script = Path(__file__).with_name("replay_peer.py")
    out = []
    for flavour in ("pandas", "polars", "spark"):
        done = subprocess.run(
            [args.replay_python, str(script), str(folder), flavour], capture_output=True, text=True
        )
        if done.returncode != 0:
            out.append(
                {
                    "method": f"replay-{flavour}",
                    "error": (done.stderr.strip().splitlines() or ["failed"])[-1],
                }
            )
        else:
            out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def _row(result: dict, rows: int) -> str:
    if "error" in result:
        return f"{result['method']:<16} {rows:>12,}  error: {result['error'][:90]}"
    peak = max(result["peak_mb"], result.get("children_peak_mb", 0.0))
    return f"{result['method']:<16} {rows:>12,} {result['seconds']:>9.1f} s {peak:>9,.0f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--spark-rows", type=int, default=20_000_000)
    parser.add_argument("--peer-rows", type=int, default=10_000_000)
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB's bound (it spills beyond it)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "recaudit-bench-engines"
    )
    parser.add_argument("--replay-python", default=os.environ.get("RECAUDIT_REPLAY_PYTHON"))
    parser.add_argument("--quick", action="store_true", help="1M rows everywhere (a smoke run)")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_one(args.run, args.folder, args), default=float))
        return 0
    if args.quick:
        args.rows = args.spark_rows = args.peer_rows = 1_000_000
    print(f"bench_engines: exposure and popularity metrics ({', '.join(METRICS)}), {args.threads} threads, "
          f"DuckDB memory limit {args.memory_limit}")  # fmt: skip
    peers_folder = make_world(args.data, args.peer_rows)
    results: list[tuple[dict, int]] = []
    at_peers = [measure(m, peers_folder, args) for m in ("duckdb", "memory", "pandas")]
    at_peers += measure_replay(peers_folder, args)
    results += [(r, args.peer_rows) for r in at_peers]
    if args.spark_rows:
        results.append((measure("spark", make_world(args.data, args.spark_rows), args), args.spark_rows))
    big = None
    if args.rows != args.peer_rows:
        big = measure("duckdb", make_world(args.data, args.rows), args)
        results.append((big, args.rows))
    print(f"{'method':<16} {'rows':>12} {'time':>11} {'peak':>12}")
    for result, rows in results:
        print(_row(result, rows))
    ours = at_peers[0]
    ok = "error" not in ours
    print(f"\nat {args.peer_rows:,} rows, peer time / ours on DuckDB:")
    for peer in at_peers[1:]:
        if "error" in peer:
            print(f"  {peer['method']:<16} n/a ({peer['error'][:80]})")
            ok = False
            continue
        ratio = peer["seconds"] / ours["seconds"] if ok else float("nan")
        print(f"  {peer['method']:<16} {ratio:6.1f}x")
        ok = ok and ratio > 1.0
    reference = at_peers[1]  # the in-memory engine
    for other in (ours, at_peers[2]):
        if "error" not in other and "error" not in reference:
            worst = max(abs(other["values"][m] - reference["values"][m]) for m in METRICS)
            print(f"  {other['method']} vs memory: largest |difference| over the metrics {worst:.2e}")
    print(("PASS" if ok else "FAIL") + ": ours on DuckDB is ahead of every peer")
    bound_ok = True
    if big is not None and "error" not in big:
        limit_mb = _parse_mb(args.memory_limit)
        allowed = limit_mb + big["baseline_mb"] + 512
        bound_ok = big["peak_mb"] <= allowed
        verdict = "PASS" if bound_ok else "FAIL"
        print(verdict + f": {args.rows:,} rows on DuckDB peaked at {big['peak_mb']:,.0f} MB "
              f"<= memory limit {limit_mb:,.0f} MB + interpreter {big['baseline_mb']:,.0f} MB"
              " + 512 MB slack")  # fmt: skip
    return 0 if ok and bound_ok else 1


def _parse_mb(text: str) -> float:
    units = {"KB": 1 / 1024, "MB": 1.0, "GB": 1024.0, "TB": 1024.0**2}
    for unit, scale in units.items():
        if text.upper().endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text) / 2**20


if __name__ == "__main__":
    raise SystemExit(main())
