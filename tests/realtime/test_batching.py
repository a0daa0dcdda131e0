"""The micro-batcher (``recaudit/realtime/batching.py``): events submitted from many threads at once are
answered in batches, each exactly as a serial replay of the same events on a fresh store answers it; a
scoring error reaches the futures of its batch; a closed batcher refuses events.

Batches are made to form without timing: the first ``update_batch`` call is held until every thread has
submitted, so the queue is full when the worker comes back for the next batch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest

from recaudit.bundle import Bundle, load_bundle
from recaudit.errors import RecauditInputError
from recaudit.realtime.batching import MicroBatcher
from recaudit.realtime.live import LiveEvent, LiveScorer, LiveUpdate
from recaudit.realtime.store import InProcessSessionStore
from tests.realtime.test_live import assert_same, build_encoder_bundle

K = 6
THREADS = 8
PER_THREAD = 12


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return load_bundle(build_encoder_bundle(tmp_path_factory.mktemp("batching")))


class Gate:
    """Wraps ``live.update_batch``: records each call's size; the first call waits for ``release``."""

    def __init__(self, live: LiveScorer) -> None:
        self.sizes: list[int] = []
        self.release = threading.Event()
        self._inner = live.update_batch
        live.update_batch = self  # type: ignore[method-assign]

    def __call__(self, events: Sequence[LiveEvent], k: int = 10) -> list[LiveUpdate]:
        if not self.sizes:
            assert self.release.wait(60), "the submitting threads never finished"
        self.sizes.append(len(events))
        return self._inner(events, k)


def thread_events(bundle: Bundle, t: int) -> list[LiveEvent]:
    """Thread ``t``'s events: its own user (a known one for even t, a stranger for odd) alternating between
    two sessions, items drawn per thread."""
    rng = np.random.default_rng(100 + t)
    user = str(bundle.user_ids[t]) if t % 2 == 0 else f"stranger-{t}"
    n_items = len(bundle.item_ids)
    return [LiveEvent(user, f"s{i % 2}", int(rng.integers(n_items)), float(i)) for i in range(PER_THREAD)]


@pytest.mark.parametrize("use_encoder", [True, False], ids=["encoder", "foldin"])
def test_concurrent_submissions_equal_a_serial_replay_and_batches_form(
    bundle: Bundle, use_encoder: bool
) -> None:
    live = LiveScorer(
        bundle, store=InProcessSessionStore(ttl_s=3600, capacity=1000), budget_ms=0, use_encoder=use_encoder
    )
    gate = Gate(live)
    per_thread = [thread_events(bundle, t) for t in range(THREADS)]
    futures: list[list[Future[LiveUpdate]]] = [[] for _ in range(THREADS)]
    start = threading.Barrier(THREADS)

    def submit_all(t: int, batcher: MicroBatcher) -> None:
        start.wait()
        for ev in per_thread[t]:
            futures[t].append(batcher.submit(ev))

    with MicroBatcher(live, k=K, max_batch=32, max_wait_ms=5.0) as batcher:
        threads = [threading.Thread(target=submit_all, args=(t, batcher)) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        gate.release.set()
        got = [[f.result(timeout=60) for f in fs] for fs in futures]
    assert sum(gate.sizes) == THREADS * PER_THREAD and max(gate.sizes) > 1  # batches formed
    assert max(gate.sizes) <= 32 and list(batcher.batch_sizes) == gate.sizes
    reference = LiveScorer(bundle, budget_ms=0, use_encoder=use_encoder)  # a fresh store
    for t in range(THREADS):
        want = [reference.update(ev, K) for ev in per_thread[t]]
        for g, w in zip(got[t], want, strict=True):
            assert_same(g, w)
        assert got[t][-1].session_items == tuple(ev.item_row for ev in per_thread[t][1::2])
    assert live.counters().events == THREADS * PER_THREAD


class BrokenScorer:
    def recommend_vectors(self, *_args: object, **_kwargs: object) -> object:
        raise RuntimeError("scorer down")


def test_a_scoring_error_reaches_every_future_of_its_batch_and_the_worker_carries_on(bundle: Bundle) -> None:
    live = LiveScorer(bundle, scorer=BrokenScorer(), budget_ms=0)
    gate = Gate(live)
    with MicroBatcher(live, k=K, max_wait_ms=50.0) as batcher:
        first = batcher.submit(LiveEvent("u", "s", 1, 0.0))
        rest = [batcher.submit(LiveEvent("u", "s", i, float(i))) for i in range(2, 5)]
        gate.release.set()
        for future in [first, *rest]:
            with pytest.raises(RuntimeError, match="scorer down"):
                future.result(timeout=60)
        live.scorer = bundle.exact_scorer("cpu")
        update = batcher.submit(LiveEvent("u", "s", 7, 9.0)).result(timeout=60)
    assert update.item_rows.shape == (K,) and update.session_items[-1] == 7
    assert sum(gate.sizes) == 5 and gate.sizes[-1] == 1


def test_close_answers_what_is_queued_and_later_submissions_are_refused(bundle: Bundle) -> None:
    live = LiveScorer(bundle, budget_ms=0)
    gate = Gate(live)
    batcher = MicroBatcher(live, k=K, max_batch=4, max_wait_ms=0.0)
    futures = [batcher.submit(LiveEvent("u", "s", i, float(i))) for i in range(10)]
    gate.release.set()
    batcher.close()
    assert all(f.done() for f in futures) and futures[-1].result().session_items == tuple(range(10))
    assert max(gate.sizes) <= 4 and sum(gate.sizes) == 10
    with pytest.raises(RecauditInputError, match="closed"):
        batcher.submit(LiveEvent("u", "s", 1, 11.0))
    batcher.close()  # idempotent
    with MicroBatcher(live, k=K) as other:
        pass
    with pytest.raises(RecauditInputError, match="closed"):
        other.submit(LiveEvent("u", "s", 1, 12.0))


@pytest.mark.parametrize("kwargs", [{"k": 0}, {"max_batch": 0}, {"max_wait_ms": -1.0}])
def test_bad_settings_are_input_errors(tmp_path: Path, bundle: Bundle, kwargs: dict) -> None:
    with pytest.raises(RecauditInputError):
        MicroBatcher(LiveScorer(bundle), **kwargs)
