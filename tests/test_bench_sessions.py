"""benchmarks/bench_sessions.py's pieces do what its docstring says, on tiny inputs.

No wall-clock and no quality assertion: the chronological split puts whole sessions on one side of the
80% quantile of session start times; part B's speed harness runs every store x scorer pair on a small
catalogue and measures what it names (IVF recall against exact, positive latencies in order); the gate
line picks our best encoder (alone or fused) and fails when co-occurrence is ahead.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from recaudit.data.schema import ITEM_ID, SESSION_ID, TIMESTAMP, USER_ID
from tests.bench_loading import import_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return import_benchmark("bench_sessions", "OMP_NUM_THREADS")


def session_keys(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame[USER_ID], frame[SESSION_ID], strict=True))


def test_split_keeps_whole_sessions_on_one_side_of_the_start_quantile(bench: ModuleType) -> None:
    hour = 3600
    # user a: sessions starting at 0, 10h, 20h; user b: 5h, 15h; each session two events 60 s apart.
    starts = {"a": [0, 10, 20], "b": [5, 15]}
    rows = [(u, f"{u}{s}{j}", s * hour + 60 * j) for u, ss in starts.items() for s in ss for j in range(2)]
    events = pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, TIMESTAMP])
    split = bench.chronological_split(events, "tiny", quantile=0.5)
    # start times 0, 5, 10, 15, 20 h: the median is 10 h; sessions starting after it are test.
    assert split.cut_time == 10 * hour
    assert sorted(set(split.test[TIMESTAMP] // hour)) == [15, 20]
    assert sorted(set(split.train[TIMESTAMP] // hour)) == [0, 5, 10]
    assert len(split.train) + len(split.test) == len(events)
    # no session is split: every (user, session) key is on exactly one side
    assert not session_keys(split.train) & session_keys(split.test)
    assert split.test.groupby([USER_ID, SESSION_ID]).size().eq(2).all()


def test_split_uses_a_session_id_column_when_given(bench: ModuleType) -> None:
    # one user, events one second apart, but three logged sessions: the gap rule would see one session
    events = pd.DataFrame(
        {
            USER_ID: ["u"] * 6,
            ITEM_ID: list("abcdef"),
            TIMESTAMP: np.arange(6),
            SESSION_ID: ["s1", "s1", "s2", "s2", "s3", "s3"],
        }
    )
    split = bench.chronological_split(events, "ids", quantile=0.5)
    assert split.cut_time == 2
    assert list(split.test[ITEM_ID]) == ["e", "f"]
    assert list(split.train[ITEM_ID]) == list("abcd")


def test_speed_measures_every_store_and_scorer(bench: ModuleType) -> None:
    lines: list[str] = []
    rows = bench.speed(n_items=3_000, n_events=400, seed=0, log=lines.append)
    pairs = {(r["store"], r["scorer"]) for r in rows}
    assert {("in-process", "exact"), ("in-process", "ivf")} <= pairs
    for r in rows:
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]
        assert r["events_s@64"] > 0 and r["events_s@256"] > 0
        assert 0.0 <= r["ivf_recall@10"] <= 1.0
    assert rows[0]["ivf_recall@10"] > 0.5  # nprobe 8 of the index's lists finds most of the exact top 10
    assert any("IVF recall@10 against exact" in line for line in lines)


def quality_table(gru: float, fused: float, cooc: float) -> pd.DataFrame:
    models = {"popularity": 0.01, "cooccurrence": cooc, "sknn": 0.02, "gru": gru, "gru fused": fused}
    rows = []
    for name, hit in models.items():
        rows.append(
            {
                "model": name,
                "next_hit_rate": hit,
                "next_hit_rate_low": hit - 0.01,
                "next_hit_rate_high": hit + 0.01,
                "next_mrr": hit / 2,
                "next_mrr_low": hit / 2 - 0.01,
                "next_mrr_high": hit / 2 + 0.01,
                "recency_sensitivity": 0.5,
                "n_prefixes": 1234,
            }
        )
    return pd.DataFrame(rows)


def test_gate_takes_the_best_encoder_alone_or_fused(bench: ModuleType) -> None:
    table = quality_table(gru=0.05, fused=0.09, cooc=0.07)
    assert bench.best_encoder(table)["model"] == "gru fused"
    line = bench.beats_cooccurrence("tiny", table)
    assert line.startswith("PASS") and "gru fused" in line and "0.0900" in line and "0.0700" in line
    behind = bench.beats_cooccurrence("tiny", quality_table(gru=0.05, fused=0.06, cooc=0.07))
    assert behind.startswith("FAIL")


def test_quality_table_prints_one_row_per_model_with_intervals(bench: ModuleType) -> None:
    text = bench.format_quality(quality_table(gru=0.05, fused=0.09, cooc=0.07))
    lines = text.splitlines()
    assert len(lines) == 6 and "hit@10" in lines[0]
    assert lines[-1].split()[:3] == ["gru", "fused", "0.0900"]
    assert "[0.0800, 0.1000]" in lines[-1] and "1,234" in lines[-1]
