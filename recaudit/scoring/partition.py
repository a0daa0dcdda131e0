"""Batch scoring beyond one machine: one pure partition kernel, run unchanged by Spark ``mapInPandas``.

:func:`score_blocks` takes blocks of user rows (block b is rows ``b*1024 .. b*1024+1023``, the batches of
:meth:`ExactScorer.iter_recommend_all`) and returns their top-k rows. Scoring whole blocks, never a
partition's arbitrary slice, makes every list *identical* to the in-memory command's: the same users are
scored together, so the same kernel runs on the same batch shapes.

:func:`recommend_all_spark` runs it on Spark: the item table (vectors, biases, ids) is broadcast once; each
Python worker loads the bundle's user side (vectors and seen items) once and keeps it for every task it
runs (a module-level cache keyed by bundle path, so a worker reused across tasks loads nothing again); the
lists are written as partitioned parquet, atomically (a sibling temporary folder renamed into place).

Concurrency: the worker cache is per process and filled once per bundle; Spark runs one task per Python
worker at a time, so no lock is needed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BLOCK = 1024
"""Users per block: the batch size of :meth:`ExactScorer.iter_recommend_all`."""
SCHEMA = "user_id string, item_id string, rank int, score float"

_WORKER_SCORERS: dict[tuple[str, str, int], Any] = {}


def score_blocks(
    blocks: np.ndarray,
    scorer: Any,
    k: int,
    *,
    exclude_seen: bool = True,
    candidates: np.ndarray | None = None,
) -> pd.DataFrame:
    """``user_id, item_id, rank, score`` of every user of the given blocks (pure: a scorer in, rows out)."""
    frames = []
    for block in np.asarray(blocks, dtype=np.int64).tolist():
        rows = np.arange(block * BLOCK, min((block + 1) * BLOCK, scorer.n_users), dtype=np.int64)
        if len(rows):
            ids = scorer.user_ids[rows]
            frames.append(
                scorer.recommend(ids, k, exclude_seen=exclude_seen, candidates=candidates).to_frame()
            )
    if not frames:
        return pd.DataFrame({"user_id": [], "item_id": [], "rank": [], "score": []}).astype(
            {"user_id": object, "item_id": object, "rank": np.int32, "score": np.float32}
        )
    out = pd.concat(frames, ignore_index=True)
    return out.astype({"rank": np.int32, "score": np.float32})


def _worker_scorer(bundle_path: str, items: dict[str, Any], device: str) -> Any:
    """The bundle's user side joined with the broadcast item table, built once per worker process."""
    key = (bundle_path, device, id(items))
    if key not in _WORKER_SCORERS:
        from recaudit.bundle import load_bundle
        from recaudit.scoring import ExactScorer

        bundle = load_bundle(bundle_path)
        _WORKER_SCORERS[key] = ExactScorer(
            bundle.user_emb, items["item_emb"], bundle.user_ids, items["item_ids"],
            item_bias=items["item_bias"], score=items["score"], seen=bundle.seen, device=device,
        )  # fmt: skip
    return _WORKER_SCORERS[key]


def recommend_all_spark(
    bundle: Any,
    bundle_path: str | Path,
    out: str | Path,
    k: int,
    *,
    exclude_seen: bool = True,
    candidates: np.ndarray | None = None,
    device: str = "cpu",
    session: Any = None,
) -> int:
    """Top-k of every user of ``bundle`` on Spark, written as parquet parts under ``out``; returns the rows.

    ``bundle`` is the loaded bundle (the driver reads its item table to broadcast it); ``bundle_path`` is
    where the workers load it from (shared storage on a cluster).
    """
    from recaudit.metrics.engines.backends import spark_session

    spark = session or spark_session()
    items = {
        "item_emb": np.asarray(bundle.item_emb, dtype=np.float32), "item_ids": np.asarray(bundle.item_ids),
        "item_bias": None if bundle.item_bias is None else np.asarray(bundle.item_bias, dtype=np.float32),
        "score": bundle.score,
    }  # fmt: skip
    shared = spark.sparkContext.broadcast(items)
    path = str(Path(bundle_path).resolve())
    n_blocks = -(-len(bundle.user_ids) // BLOCK)

    def kernel(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        scorer = _worker_scorer(path, shared.value, device)
        for batch in batches:
            rows = score_blocks(
                batch["id"].to_numpy(), scorer, k, exclude_seen=exclude_seen, candidates=candidates
            )
            # plain object columns: PySpark's Arrow writer refuses pandas 3's chunked string arrays
            yield rows.astype({"user_id": object, "item_id": object})

    parallelism = max(1, min(n_blocks, spark.sparkContext.defaultParallelism))
    lists = spark.range(0, n_blocks, numPartitions=parallelism).mapInPandas(kernel, SCHEMA)
    target = Path(out)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        lists.write.parquet(str(tmp))
        rows = int(spark.read.parquet(str(tmp)).count())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        shared.unpersist()
    return rows
