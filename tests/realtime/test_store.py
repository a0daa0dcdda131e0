"""The session state store (``recaudit/realtime``): TTL and LRU bounds on an injected clock, immutable
snapshots, and concurrent appends equal to a serial replay in per-key order.

Every test runs against both backends: the in-process store, and the Redis store on a real ``redis-server``
that the ``redis_url`` fixture starts on a free loopback port. Without ``redis-server`` on PATH the Redis
cases skip with the reason, unless ``RECAUDIT_REQUIRE_REDIS=1`` (CI, ``.ci/run``), where they fail.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from recaudit.errors import RecauditInputError
from recaudit.realtime import InProcessSessionStore, SessionState, SessionStore
from tests.servers import free_port, wait_ready

TTL = 60.0
REDIS_START_TIMEOUT_S = 20.0


class FakeClock:
    """Seconds set by hand; thread-safe reads."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh ``redis-server`` on 127.0.0.1:<free port>, answering PING, stopped at teardown."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server not found on PATH (apt-get install redis-server) to test RedisSessionStore"
        if os.environ.get("RECAUDIT_REQUIRE_REDIS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    import redis

    port = free_port()
    work = tmp_path_factory.mktemp("redis")
    log = work / "redis.log"
    with log.open("wb") as logfile:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(work)],
            stdout=logfile,
            stderr=subprocess.STDOUT,
        )
    url = f"redis://127.0.0.1:{port}/0"
    try:

        def answers() -> bool:
            try:
                return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
            except redis.ConnectionError:
                return False

        wait_ready(proc, answers, name="redis-server", timeout_s=REDIS_START_TIMEOUT_S, poll_s=0.05,
                   log=lambda: log.read_text(errors="replace"), not_ready="silent")  # fmt: skip
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


MakeStore = Callable[..., SessionStore]


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> Iterator[MakeStore]:
    """``make_store(ttl_s=..., capacity=..., clock=...)`` for the backend under test."""
    made: list[SessionStore] = []
    if request.param == "memory":

        def make(**kwargs: object) -> SessionStore:
            store = InProcessSessionStore(**kwargs)  # type: ignore[arg-type]
            made.append(store)
            return store

    else:
        url = request.getfixturevalue("redis_url")
        from recaudit.realtime.redis_store import RedisSessionStore

        def make(**kwargs: object) -> SessionStore:
            store = RedisSessionStore(url, prefix=f"test:{uuid.uuid4().hex}", **kwargs)  # type: ignore[arg-type]
            made.append(store)
            return store

    yield make
    for store in made:
        store.close()


# -- basics ----------------------------------------------------------------------------------------------


def test_append_builds_the_session_in_order(make_store: MakeStore) -> None:
    clock = FakeClock()
    store = make_store(ttl_s=TTL, capacity=10, clock=clock)
    first = store.append("s1", 5, 100.0)
    clock.advance(2.5)
    second = store.append("s1", np.int64(7), 101)
    store.append("s2", 1, 50.0)
    assert first.items == (5,) and second.items == (5, 7)
    assert second.key == "s1" and second.updated_at == clock.now and second.last_event_time == 101.0
    assert second.vector is None and len(second) == 2
    got = store.get("s1")
    assert got is not None and got.items == (5, 7) and got.updated_at == clock.now
    assert store.get("nobody") is None
    assert len(store) == 2


def test_drop(make_store: MakeStore) -> None:
    store = make_store(ttl_s=TTL, capacity=10, clock=FakeClock())
    store.append("s1", 1, 0.0)
    assert store.drop("s1") is True
    assert store.drop("s1") is False
    assert store.get("s1") is None and len(store) == 0
    assert store.append("s1", 2, 1.0).items == (2,)


def test_bad_inputs_are_one_line_errors(make_store: MakeStore) -> None:
    store = make_store(ttl_s=TTL, capacity=10, clock=FakeClock())
    for args in [("s", -1, 0.0), ("s", 1.5, 0.0), ("s", 1, float("nan")), ("", 1, 0.0)]:
        with pytest.raises(RecauditInputError) as err:
            store.append(*args)  # type: ignore[arg-type]
        assert "\n" not in str(err.value)
    with pytest.raises(RecauditInputError):
        store.append("s", 1, 0.0, step=lambda prev, items: np.full(3, np.inf))
    with pytest.raises(RecauditInputError):
        make_store(ttl_s=0, capacity=10)
    with pytest.raises(RecauditInputError):
        make_store(ttl_s=TTL, capacity=0)
    with pytest.raises(RecauditInputError):
        make_store(ttl_s=TTL, capacity=2.5)


# -- TTL ---------------------------------------------------------------------------------------------------


def test_ttl_counts_from_the_last_update(make_store: MakeStore) -> None:
    clock = FakeClock()
    store = make_store(ttl_s=TTL, capacity=10, clock=clock)
    store.append("s", 1, 0.0)
    clock.advance(TTL - 1)
    assert store.get("s") is not None  # a read does not extend the TTL ...
    store.append("s", 2, 1.0)  # ... an update does
    clock.advance(TTL - 1)
    state = store.get("s")
    assert state is not None and state.items == (1, 2)
    clock.advance(1)  # exactly TTL after the last update: gone
    assert store.get("s") is None
    assert len(store) == 0


def test_an_expired_session_restarts_on_append(make_store: MakeStore) -> None:
    clock = FakeClock()
    store = make_store(ttl_s=TTL, capacity=10, clock=clock)
    store.append("s", 1, 0.0, step=lambda prev, items: np.ones(2))
    clock.advance(TTL)
    fresh = store.append("s", 2, 1.0)
    assert fresh.items == (2,) and fresh.vector is None


def test_sweep_frees_expired_sessions(make_store: MakeStore) -> None:
    clock = FakeClock()
    store = make_store(ttl_s=TTL, capacity=100, clock=clock)
    for i in range(5):
        store.append(f"old{i}", i, 0.0)
    clock.advance(TTL / 2)
    for i in range(3):
        store.append(f"new{i}", i, 0.0)
    clock.advance(TTL / 2)
    assert store.sweep() == 5
    assert store.sweep() == 0
    assert len(store) == 3
    assert {k for k in ("old0", "new0", "new2") if store.get(k) is not None} == {"new0", "new2"}


def test_set_vector_is_a_compare_and_set_on_the_length(make_store: MakeStore) -> None:
    clock = FakeClock()
    store = make_store(ttl_s=TTL, capacity=10, clock=clock)
    store.append("s", 1, 0.0)
    store.append("s", 2, 0.0)
    clock.advance(TTL - 1)
    assert store.set_vector("s", np.array([1.0, 2.0]), expected_len=1) is None  # stale prefix: refused
    written = store.set_vector("s", np.array([1.0, 2.0]), expected_len=2)
    assert written is not None and written.items == (1, 2)
    np.testing.assert_array_equal(written.vector, np.array([1, 2], dtype=np.float32))
    clock.advance(TTL - 1)  # set_vector was an update: still live
    state = store.get("s")
    assert state is not None and state.vector is not None and state.vector.dtype == np.float32
    assert store.set_vector("nobody", np.zeros(2), expected_len=0) is None


def test_step_sees_the_previous_vector_and_the_items(make_store: MakeStore) -> None:
    store = make_store(ttl_s=TTL, capacity=10, clock=FakeClock())
    seen: list[tuple[object, tuple[int, ...]]] = []

    def step(prev: np.ndarray | None, items: tuple[int, ...]) -> np.ndarray:
        seen.append((None if prev is None else prev.tolist(), items))
        return np.array([len(items), items[-1]], dtype=np.float32)

    store.append("s", 4, 0.0, step=step)
    store.append("s", 9, 0.0)  # no step: the slot is kept
    last = store.append("s", 6, 0.0, step=step)
    assert seen == [(None, (4,)), ([1.0, 4.0], (4, 9, 6))]
    assert last.vector is not None and last.vector.tolist() == [3.0, 6.0]


def test_a_failing_step_leaves_the_session_unchanged(make_store: MakeStore) -> None:
    store = make_store(ttl_s=TTL, capacity=10, clock=FakeClock())
    store.append("s", 1, 0.0, step=lambda prev, items: np.ones(2))

    def broken(prev: np.ndarray | None, items: tuple[int, ...]) -> np.ndarray:
        raise ZeroDivisionError("encoder failed")

    with pytest.raises(ZeroDivisionError):
        store.append("s", 2, 1.0, step=broken)
    state = store.get("s")
    assert state is not None and state.items == (1,) and state.vector is not None
    assert state.vector.tolist() == [1.0, 1.0] and state.last_event_time == 0.0


# -- LRU ---------------------------------------------------------------------------------------------------


def test_lru_evicts_the_least_recently_used(make_store: MakeStore) -> None:
    clock = FakeClock()  # the clock never moves: recency is by order of use, not by time
    store = make_store(ttl_s=TTL, capacity=3, clock=clock)
    for key in ("a", "b", "c"):
        store.append(key, 0, 0.0)
    assert store.get("a") is not None  # a read is a use
    store.append("c", 1, 0.0)  # so is an append
    store.append("d", 0, 0.0)  # room for d: b, the least recently used, goes
    assert store.get("b") is None
    assert [k for k in ("a", "c", "d") if store.get(k) is not None] == ["a", "c", "d"]
    assert len(store) == 3
    store.append("a", 2, 0.0)  # appending to a held session evicts nothing
    assert len(store) == 3


def test_expired_sessions_go_before_live_ones(make_store: MakeStore) -> None:
    clock = FakeClock()
    store = make_store(ttl_s=TTL, capacity=2, clock=clock)
    store.append("a", 0, 0.0)
    clock.advance(TTL / 2)
    store.append("b", 0, 0.0)
    assert store.get("a") is not None  # a is the most recently used, but expires first
    clock.advance(TTL / 2)
    store.append("c", 0, 0.0)
    assert store.get("a") is None
    assert store.get("b") is not None and store.get("c") is not None


# -- snapshots ---------------------------------------------------------------------------------------------


def test_snapshots_are_immutable(make_store: MakeStore) -> None:
    store = make_store(ttl_s=TTL, capacity=10, clock=FakeClock())
    given = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    first = store.append("s", 1, 0.0, step=lambda prev, items: given)
    given[0] = 99.0  # the store copied it
    assert first.vector is not None and first.vector.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError):
        first.vector[0] = 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.items = (2,)  # type: ignore[misc]
    assert isinstance(first.items, tuple)
    later = store.append("s", 2, 1.0, step=lambda prev, items: prev * 2)
    store.drop("s")
    assert first.items == (1,) and first.vector.tolist() == [1.0, 2.0, 3.0]
    assert later.items == (1, 2) and later.vector is not None and later.vector.tolist() == [2.0, 4.0, 6.0]
    got = store.get("s")
    assert got is None


# -- concurrency -------------------------------------------------------------------------------------------

N_THREADS = 8
N_ITEMS, DIM = 2000, 16
ITEM_VECTORS = np.random.default_rng(11).standard_normal((N_ITEMS, DIM)).astype(np.float32)


def running_mean(prev: np.ndarray | None, items: tuple[int, ...]) -> np.ndarray:
    """The pure update: the mean of the items' fixed vectors, kept incrementally from the previous
    vector, so a lost or reordered update changes every later result. The ``sleep(0)`` hands the GIL to
    another thread between an append's read and its write: a store without the atomicity it promises
    fails the shared-session test (checked by removing the in-process lock)."""
    time.sleep(0)
    v = ITEM_VECTORS[items[-1]]
    if prev is None:
        return v.copy()
    n = np.float32(len(items))
    return (prev * (n - 1) + v) / n


def serial_replay(events_by_key: dict[str, list[int]]) -> dict[str, list[tuple[tuple[int, ...], np.ndarray]]]:
    """Per key, the (items, vector) after each event, applying the events one at a time in order."""
    out: dict[str, list[tuple[tuple[int, ...], np.ndarray]]] = {}
    for key, rows in events_by_key.items():
        items: tuple[int, ...] = ()
        vector = None
        steps = []
        for row in rows:
            items = (*items, row)
            vector = running_mean(vector, items)
            steps.append((items, vector))
        out[key] = steps
    return out


def _run_threads(work: Callable[[int], None]) -> None:
    barrier = threading.Barrier(N_THREADS)
    errors: list[BaseException] = []

    def run(t: int) -> None:
        try:
            barrier.wait()
            work(t)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(N_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
    if errors:
        raise errors[0]


def _check_final(store: SessionStore, expected: dict[str, list[tuple[tuple[int, ...], np.ndarray]]]) -> None:
    for key, steps in expected.items():
        state = store.get(key)
        assert state is not None, key
        items, vector = steps[-1]
        assert state.items == items, key
        assert state.vector is not None and np.array_equal(state.vector, vector), key


def test_concurrent_appends_equal_a_serial_replay(make_store: MakeStore) -> None:
    """8 threads, interleaved events over 96 sessions; each session is fed by one thread (its per-key
    order is fixed), so every per-event result and every final state must equal the serial replay."""
    rng = np.random.default_rng(3)
    n_sessions, n_events = 96, 2400
    keys = [f"sess{i:03d}" for i in range(n_sessions)]
    stream = [(keys[k], int(r)) for k, r in zip(rng.integers(0, n_sessions, n_events),
                                                 rng.integers(0, N_ITEMS, n_events), strict=True)]
    owner = {key: i % N_THREADS for i, key in enumerate(keys)}
    per_thread = [[e for e in stream if owner[e[0]] == t] for t in range(N_THREADS)]
    events_by_key: dict[str, list[int]] = {}
    for key, row in stream:
        events_by_key.setdefault(key, []).append(row)
    expected = serial_replay(events_by_key)

    store = make_store(ttl_s=TTL, capacity=n_sessions, clock=FakeClock())
    results: list[list[tuple[str, SessionState]]] = [[] for _ in range(N_THREADS)]

    def work(t: int) -> None:
        for i, (key, row) in enumerate(per_thread[t]):
            results[t].append((key, store.append(key, row, float(i), step=running_mean)))

    _run_threads(work)
    seen = {key: 0 for key in keys}
    for t in range(N_THREADS):
        for key, state in results[t]:
            items, vector = expected[key][seen[key]]
            seen[key] += 1
            assert state.items == items
            assert state.vector is not None and np.array_equal(state.vector, vector)
    _check_final(store, expected)
    assert len(store) == len(events_by_key)


def test_racing_appends_to_shared_sessions_are_linearisable(make_store: MakeStore) -> None:
    """8 threads append to the same 12 sessions at once. Whatever order the store picks per key, each
    thread's own events keep their order, each returned snapshot is a prefix of the final session ending
    with its own event, and every result equals the serial replay of the final order."""
    rng = np.random.default_rng(5)
    n_sessions, per_thread = 12, 150
    keys = [f"hot{i:02d}" for i in range(n_sessions)]
    # Unique rows per (thread, index) let each snapshot name its own event.
    plans = [
        [(keys[int(k)], t * per_thread + i) for i, k in enumerate(rng.integers(0, n_sessions, per_thread))]
        for t in range(N_THREADS)
    ]
    store = make_store(ttl_s=TTL, capacity=n_sessions, clock=FakeClock())
    results: list[list[tuple[str, int, SessionState]]] = [[] for _ in range(N_THREADS)]

    def work(t: int) -> None:
        for key, row in plans[t]:
            results[t].append((key, row, store.append(key, row, 0.0, step=running_mean)))

    _run_threads(work)
    final = {key: store.get(key) for key in keys}
    applied = {key: list(state.items) for key, state in final.items() if state is not None}
    assert sum(map(len, applied.values())) == N_THREADS * per_thread
    expected = serial_replay(applied)
    for t in range(N_THREADS):
        for key, row, state in results[t]:
            position = len(state.items) - 1
            assert state.items[-1] == row
            items, vector = expected[key][position]
            assert state.items == items
            assert state.vector is not None and np.array_equal(state.vector, vector)
        for key in keys:  # a thread's events to one key are applied in its order
            mine = [row for k, row, _ in results[t] if k == key]
            assert [r for r in applied.get(key, []) if r // per_thread == t] == mine
    _check_final(store, expected)


# -- Redis specifics ----------------------------------------------------------------------------------------


def test_an_unreachable_redis_is_a_one_line_input_error() -> None:
    pytest.importorskip("redis")
    from recaudit.realtime.redis_store import RedisSessionStore

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with pytest.raises(RecauditInputError) as err:
        RedisSessionStore(url, socket_timeout=1)
    message = str(err.value)
    assert "\n" not in message and url in message and "cannot reach Redis" in message


def test_redis_sets_a_server_side_expiry(redis_url: str) -> None:
    import redis

    from recaudit.realtime.redis_store import RedisSessionStore

    store = RedisSessionStore(redis_url, ttl_s=TTL, capacity=10, prefix="expiry")
    store.append("s", 1, 0.0, step=lambda prev, items: np.zeros(2))
    client = redis.Redis.from_url(redis_url)
    for key in ("expiry:items:s", "expiry:meta:s"):
        assert 0 < client.pttl(key) <= TTL * 1000
    store.drop("s")
    assert client.exists("expiry:items:s", "expiry:meta:s") == 0
    assert client.zcard("expiry:lru") == 0 and client.zcard("expiry:upd") == 0
    store.close()
