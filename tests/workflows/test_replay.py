"""``recaudit replay``: every event's list equals an independent fold-in of history + session so far."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import load_bundle
from recaudit.cli import main
from recaudit.models.foldin import FoldIn, median_norm
from recaudit.workflows.replay import REPLAY_COLUMNS, replay_events, session_keys

SUMMARY = re.compile(
    r"^replayed (\d+) events in [\d.]+ s: [\d,]+ events/s; update\+score latency "
    r"p50 [\d.]+ ms, p95 [\d.]+ ms, p99 [\d.]+ ms$"
)


def _events(bundle_users: list[str]) -> pd.DataFrame:
    """A known user and a stranger, interleaved in file order; the known user pauses 31 minutes (a new
    session) and clicks an item the catalogue lacks."""
    known = bundle_users[0]
    return pd.DataFrame({
        "user_id": [known, "stranger", known, known, "stranger", known],
        "item_id": ["i03", "i05", "i07", "i09", "i05", "nope"],
        "timestamp": [1000, 1010, 1020, 1020 + 31 * 60, 1030, 1020 + 32 * 60],
    })  # fmt: skip


def test_sessions_are_cut_per_user_by_the_gap_in_file_order() -> None:
    events = _events(["u00"])
    assert list(session_keys(events, 1800)) == [
        "u00:0", "stranger:0", "u00:0", "u00:1", "stranger:0", "u00:1",
    ]  # fmt: skip
    one_session = ["u00:0", "stranger:0", "u00:0", "u00:0", "stranger:0", "u00:0"]
    assert list(session_keys(events, 3600)) == one_session


def test_every_list_is_the_fold_in_of_history_and_session_so_far(tiny_bundle_dir: Path) -> None:
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    events = _events(list(bundle.user_ids))
    results, stats = replay_events(bundle, events, k=5)
    got = list(results)
    fold = FoldIn(bundle.item_emb, target_norm=median_norm(bundle.user_emb), cosine=bundle.score == "cosine")
    scorer = bundle.exact_scorer("cpu")
    row = bundle.item_row
    train = bundle.train.groupby("user_id")["item_id"].apply(list).to_dict()
    session_items = {"u00:0": ["i03", "i07"], "u00:1": ["i09"], "stranger:0": ["i05", "i05"]}
    clicked: dict[str, list[str]] = {}
    for (event, user, session, lists), item in zip(got, events["item_id"], strict=True):
        if item in row.index:
            clicked.setdefault(session, []).append(item)
        assert clicked.get(session, []) == session_items[session][: len(clicked.get(session, []))]
        known = np.unique(row.loc[train.get(user, []) + clicked.get(session, [])].to_numpy(np.int64))
        expected = scorer.recommend_vectors(fold.fit(known)[None, :], 5, exclude=[known], labels=[user])
        assert list(lists.item_ids[0]) == list(expected.item_ids[0]), event
        np.testing.assert_allclose(lists.scores[0], expected.scores[0], rtol=1e-6)
        assert not set(lists.item_index[0]) & set(known.tolist())  # nothing the user has seen
    assert [e for e, *_ in got] == list(range(len(events)))
    assert stats.n_events == 6 and stats.unknown_items == 1 and len(stats.latencies_ms) == 6
    assert SUMMARY.match(stats.summary())


def test_the_cli_writes_every_event_and_ends_with_the_summary_line(
    tiny_bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tiny_bundle_dir / "alpha"
    events = _events(list(load_bundle(bundle).user_ids))
    events.to_csv(tmp_path / "events.csv", index=False)
    out = tmp_path / "replay.csv"
    argv = ["replay", str(bundle), "--events", str(tmp_path / "events.csv"), "-k", "3", "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1 and SUMMARY.match(lines[0]) and lines[0].startswith("replayed 6 events")
    assert "no session encoder: scoring by fold-in of history + session" in captured.err
    assert "1 of 6 events are items outside the bundle's catalogue" in captured.err
    table = pd.read_csv(out, dtype={"user_id": str, "session_id": str, "item_id": str})
    assert tuple(table.columns) == REPLAY_COLUMNS
    assert table.groupby("event").size().tolist() == [3] * 6
    assert table.groupby("event")["rank"].apply(list).tolist() == [[1, 2, 3]] * 6
    assert table.loc[table["event"] == 3, "session_id"].unique().tolist() == [f"{events['user_id'][0]}:1"]
    assert main(["replay", str(bundle), "--events", str(tmp_path / "events.csv"), "--out",
                 str(tmp_path / "b.csv"), "--session-gap", "soon"]) == 2  # fmt: skip
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not (tmp_path / "b.csv").exists()


def test_a_bundle_with_a_session_encoder_replays_with_the_fused_vector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trained by ``recaudit train --session gru``: every list is the encoder's session vector fused with
    the user's row by the encoder's gate (computed here from the parts), and the CLI says so."""
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{int(i):02d}", 1000 * u + 10 * t)
            for u in range(40) for t, i in enumerate(rng.choice(30, 8, replace=False))]  # fmt: skip
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(
        tmp_path / "inter.csv", index=False
    )
    assert main(["train", str(tmp_path / "inter.csv"), "--out", str(tmp_path / "b"), "--dim", "8", "--epochs",
                 "2", "--quiet", "--map", "none", "--session", "gru"]) == 0  # fmt: skip
    bundle = load_bundle(tmp_path / "b")
    encoder = bundle.session_encoder
    assert encoder is not None
    events = pd.DataFrame({"user_id": ["u0", "stranger", "u0"], "item_id": ["i01", "i02", "i05"],
                           "timestamp": [50_000, 50_001, 50_030]})  # fmt: skip
    results, stats = replay_events(bundle, events, k=4)
    got = list(results)
    scorer = bundle.exact_scorer("cpu")
    history = bundle.train.groupby("user_id")["item_id"].apply(list).to_dict()
    sessions = {0: ["i01"], 1: ["i02"], 2: ["i01", "i05"]}
    for event, user, _, lists in got:
        rows_ = bundle.item_vocab.rows(sessions[event])
        known = user in bundle.user_row.index
        long_term = bundle.user_emb[[bundle.user_row[user] if known else 0]]
        query = encoder.fusion.fuse(
            long_term, encoder.vectors([rows_]), np.array([len(rows_)]), np.array([known])
        )
        seen = np.concatenate([bundle.item_vocab.rows(history.get(user, [])), rows_])
        expected = scorer.recommend_vectors(query, 4, exclude=[seen])
        np.testing.assert_array_equal(lists.item_index, expected.item_index)
        np.testing.assert_allclose(lists.scores, expected.scores, rtol=1e-5, atol=1e-6)
    assert stats.mode.startswith("session encoder (GRU4Rec") and stats.fallbacks == 0
    events.to_csv(tmp_path / "events.csv", index=False)
    argv = [
        "replay",
        str(tmp_path / "b"),
        "--events",
        str(tmp_path / "events.csv"),
        "--out",
        str(tmp_path / "r.csv"),
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "scoring by session encoder (GRU4Rec session encoder" in captured.err
    assert "no session encoder" not in captured.err and SUMMARY.match(captured.out.strip())
    assert "overran the time budget" not in captured.err
    table = pd.read_csv(tmp_path / "r.csv", dtype={"user_id": str, "session_id": str, "item_id": str})
    assert tuple(table.columns) == REPLAY_COLUMNS
    assert table.groupby("event").size().tolist() == [10] * 3  # every event, the default k
    for event, user, _, lists in got:
        rows = table[table["event"] == event]
        assert rows["user_id"].unique().tolist() == [user]
        assert rows["item_id"].tolist()[:4] == list(lists.item_ids[0])  # the replay above used k=4


def test_updates_over_the_time_budget_are_served_from_the_user_row_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a clock that jumps a second per read every update overruns the budget: the replay still writes
    every event, from the user's row, and the CLI says how many fell back after the summary."""
    import functools

    from recaudit.models.session.encoder import COMPONENT
    from recaudit.realtime.live import LiveScorer
    from recaudit.workflows import replay
    from tests.realtime.test_live import build_encoder_bundle

    path = build_encoder_bundle(tmp_path)
    bundle = load_bundle(path)
    assert COMPONENT in bundle.components
    ticks = iter(range(10**9))  # seconds: every read of the clock is a second later
    monkeypatch.setattr(replay, "LiveScorer", functools.partial(LiveScorer, clock=lambda: float(next(ticks))))
    user = str(bundle.user_ids[0])
    item = str(bundle.item_ids[0])
    events = pd.DataFrame({"user_id": [user, user, "stranger"], "item_id": [item, "nope", item],
                           "timestamp": [10**10, 10**10 + 1, 10**10 + 2]})  # fmt: skip
    results, stats = replay_events(bundle, events, k=5)
    got = list(results)
    assert stats.fallbacks == 3 and stats.mode.startswith("session encoder") and len(got) == 3
    scorer = bundle.exact_scorer("cpu")
    seen = np.concatenate([bundle.seen[bundle.user_row[user]].indices, bundle.item_vocab.rows([item])])
    expected = scorer.recommend_vectors(bundle.user_emb[[bundle.user_row[user]]], 5, exclude=[seen])
    np.testing.assert_array_equal(got[0][3].item_index, expected.item_index)
    events.to_csv(tmp_path / "events.csv", index=False)
    argv = ["replay", str(path), "--events", str(tmp_path / "events.csv"), "--out", str(tmp_path / "r.csv")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "scoring by session encoder" in captured.err and SUMMARY.match(captured.out.strip())
    assert (
        "3 of 3 updates overran the time budget and were served from the user's base vector" in captured.err
    )
    table = pd.read_csv(tmp_path / "r.csv")
    assert table.groupby("event").size().tolist() == [10] * 3
