"""Re-ranking of candidate lists (see :mod:`recaudit.rerank.greedy`)."""

from recaudit.rerank.greedy import (
    DEFAULT_BATCH_SIZE,
    RERANKERS,
    calibrated,
    exposure_fair,
    history_distribution,
    mmr,
    normalise_scores,
    parse_spec,
    popularity_aware,
    rerank,
    tail_preference,
    top_k,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "RERANKERS",
    "calibrated",
    "exposure_fair",
    "history_distribution",
    "mmr",
    "normalise_scores",
    "parse_spec",
    "popularity_aware",
    "rerank",
    "tail_preference",
    "top_k",
]
