"""RePlay's exposure/popularity metrics on a bench_engines world.

``python replay_peer.py FOLDER pandas|polars|spark``, run by RePlay's own interpreter (bench_engines.py
``--replay-python``; RePlay pins pandas < 3 and pyarrow < 24, so it cannot share recaudit's virtualenv).
Imports nothing from recaudit. Prints one JSON line: the method, seconds (reading the parquet included, as for
every method of the bench), peak RSS and RePlay's values.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path


def main() -> int:
    folder, flavour = Path(sys.argv[1]), sys.argv[2]
    from replay.metrics import Coverage, Novelty, OfflineMetrics, Surprisal

    start = time.perf_counter()
    metrics = OfflineMetrics(
        [Coverage(10), Surprisal(10), Novelty(10)],
        query_column="user_id",
        item_column="item_id",
        rating_column="score",
    )
    if flavour == "pandas":
        import pandas as pd

        recs = pd.read_parquet(folder / "recs")
        train = pd.read_parquet(folder / "train.parquet")
    elif flavour == "polars":
        import polars as pl

        recs = pl.read_parquet(str(folder / "recs" / "*.parquet"))
        train = pl.read_parquet(str(folder / "train.parquet"))
    else:
        from pyspark.sql import SparkSession

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        spark = (
            SparkSession.builder.master("local[*]").config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", str(2 * (os.cpu_count() or 2))).getOrCreate()
        )  # fmt: skip
        spark.sparkContext.setLogLevel("ERROR")
        recs = spark.read.parquet(str(folder / "recs"))
        train = spark.read.parquet(str(folder / "train.parquet"))
    truth = recs[["user_id", "item_id"]] if flavour == "pandas" else recs.select("user_id", "item_id")
    values = metrics(recs, truth, train)
    seconds = time.perf_counter() - start
    if flavour == "spark":
        spark.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    print(json.dumps({
        "method": f"replay-{flavour}", "seconds": seconds, "peak_mb": peak, "children_peak_mb": children,
        "values": {k: float(v) for k, v in values.items()},
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
