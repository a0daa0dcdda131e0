"""Sessions cut from time or taken from a ``session_id`` column (recaudit/data/sessions.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recaudit.data.sessions import DEFAULT_GAP_S, SESSION_POS, assign_sessions, parse_gap
from recaudit.errors import RecauditInputError


def _random_events(rng: np.random.Generator, n_users: int, n_items: int, span: int, n: int) -> pd.DataFrame:
    users = [f"u{u}" for u in rng.integers(n_users, size=n)]
    items = [f"i{i}" for i in rng.integers(n_items, size=n)]
    return _events(list(zip(users, items, (int(t) for t in rng.integers(span, size=n)), strict=True)))


def _events(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).astype({"timestamp": "int64"})


def test_default_gap_is_thirty_minutes() -> None:
    assert DEFAULT_GAP_S == 1800


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("45s", 45), ("2h", 7200), ("1800", 1800), (" 30M ", 1800), ("1 h", 3600), (90, 90)],
)
def test_parse_gap(text: str | int, seconds: int) -> None:
    assert parse_gap(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "30x", "-5m", "0", "0m", "1.5h", "m", "30mm", "h2", True])
def test_parse_gap_refuses_bad_text_in_one_line(text: object) -> None:
    with pytest.raises(RecauditInputError) as info:
        parse_gap(text)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and message.startswith("--session-gap:") and repr(text) in message
    assert "30m" in message


def test_parse_gap_names_the_source() -> None:
    with pytest.raises(RecauditInputError, match=r"^config\.gap: "):
        parse_gap("soon", source="config.gap")


def test_exactly_the_gap_does_not_split_and_one_second_more_does() -> None:
    # u: 0 → 1800 (gap = 1800, same session) → 3601 (gap 1801 > 1800, new session)
    ev = _events([("u", "a", 0), ("u", "b", 1800), ("u", "c", 3601)])
    out = assign_sessions(ev)
    assert out["session_id"].tolist() == ["u:0", "u:0", "u:1"]
    assert out[SESSION_POS].tolist() == [0, 1, 0]


def test_gap_is_configurable() -> None:
    ev = _events([("u", "a", 0), ("u", "b", 100), ("u", "c", 200)])
    assert assign_sessions(ev, gap_s=99)["session_id"].tolist() == ["u:0", "u:1", "u:2"]
    assert assign_sessions(ev, gap_s=100)["session_id"].tolist() == ["u:0", "u:0", "u:0"]


def test_events_are_sorted_by_time_per_user_and_ties_keep_input_order() -> None:
    ev = _events([
        ("v", "x", 50), ("u", "c", 10), ("u", "a", 5), ("u", "b", 10), ("v", "y", 5000), ("u", "d", 10),
    ])
    out = assign_sessions(ev)
    assert out[["user_id", "item_id"]].values.tolist() == [
        ["u", "a"], ["u", "c"], ["u", "b"], ["u", "d"], ["v", "x"], ["v", "y"],
    ]
    assert out["session_id"].tolist() == ["u:0"] * 4 + ["v:0", "v:1"]
    assert out[SESSION_POS].tolist() == [0, 1, 2, 3, 0, 0]
    assert list(out.index) == list(range(6))


def test_the_input_is_not_modified_and_ids_are_deterministic() -> None:
    rng = np.random.default_rng(3)
    ev = _random_events(rng, 3, 9, 20000, 60)
    before = ev.copy()
    first = assign_sessions(ev)
    pd.testing.assert_frame_equal(ev, before)
    shuffled = ev.sample(frac=1.0, random_state=1)
    again = assign_sessions(shuffled)
    # Same (user, time) → same session id whatever the row order (ties may reorder items, not ids).
    key = ["user_id", "timestamp", "session_id"]
    assert sorted(map(tuple, first[key].values.tolist())) == sorted(map(tuple, again[key].values.tolist()))


def test_cut_matches_a_loop() -> None:
    rng = np.random.default_rng(7)
    ev = _random_events(rng, 5, 20, 40000, 300)
    out = assign_sessions(ev, gap_s=1000)
    expected = []
    for user in sorted(ev["user_id"].unique()):
        rows = ev[ev["user_id"] == user]
        order = sorted(range(len(rows)), key=lambda r: (rows["timestamp"].iloc[r], r))
        k, prev = 0, None
        for r in order:
            t = rows["timestamp"].iloc[r]
            if prev is not None and t - prev > 1000:
                k += 1
            expected.append((user, rows["item_id"].iloc[r], t, f"{user}:{k}"))
            prev = t
    got = list(map(tuple, out[["user_id", "item_id", "timestamp", "session_id"]].values.tolist()))
    assert got == expected


def test_a_given_session_id_is_used_instead_of_the_gap() -> None:
    ev = _events([("u", "a", 0), ("u", "b", 10_000), ("u", "c", 5), ("u", "d", 20_000), ("w", "e", 1)])
    ev["session_id"] = ["s1", "s1", "s2", "s2", "s1"]
    out = assign_sessions(ev)
    # u's s1 starts at 0, s2 at 5: s1 first, each ordered by time; a 10 000 s gap does not split it.
    assert out[["user_id", "item_id", "session_id"]].values.tolist() == [
        ["u", "a", "s1"], ["u", "b", "s1"], ["u", "c", "s2"], ["u", "d", "s2"], ["w", "e", "s1"],
    ]
    assert out[SESSION_POS].tolist() == [0, 1, 0, 1, 0]
    recut = assign_sessions(ev, use_session_id=False)
    # Cut by time instead: a (0) and c (5) together, then b (10 000) and d (20 000) alone.
    assert recut[["item_id", "session_id"]].values.tolist() == [
        ["a", "u:0"], ["c", "u:0"], ["b", "u:1"], ["d", "u:2"], ["e", "w:0"],
    ]


def test_a_given_session_id_orders_events_by_time_within_it() -> None:
    ev = _events([("u", "late", 30), ("u", "early", 10), ("u", "mid", 20), ("u", "tie", 20)])
    ev["session_id"] = "s"
    out = assign_sessions(ev)
    assert out["item_id"].tolist() == ["early", "mid", "tie", "late"]


def test_blank_session_ids_are_refused() -> None:
    ev = _events([("u", "a", 0), ("u", "b", 1)])
    ev["session_id"] = pd.array(["s", None], dtype="string")
    with pytest.raises(RecauditInputError, match="session_id has 1 blank cell"):
        assign_sessions(ev)


def test_missing_columns_are_refused() -> None:
    with pytest.raises(RecauditInputError, match="missing column"):
        assign_sessions(pd.DataFrame({"user_id": ["u"], "item_id": ["a"]}))


def test_empty_events_give_an_empty_frame() -> None:
    out = assign_sessions(_events([]))
    assert out.empty and {"session_id", SESSION_POS} <= set(out.columns)


def test_datetime_timestamps_are_seconds() -> None:
    ev = pd.DataFrame({
        "user_id": ["u"] * 3, "item_id": ["a", "b", "c"],
        "timestamp": pd.to_datetime(["2024-01-01 00:00:00", "2024-01-01 00:30:00", "2024-01-01 01:00:01"]),
    })
    assert assign_sessions(ev)["session_id"].tolist() == ["u:0", "u:0", "u:1"]
