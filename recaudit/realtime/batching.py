"""Micro-batching: concurrent events gathered into one :meth:`LiveScorer.update_batch` call.

Scoring a catalogue costs about the same for one query as for dozens (the item table is read once per
call), so under load a server answers more events per second by waiting a moment for company. A
:class:`MicroBatcher` owns one worker thread and a FIFO queue: :meth:`MicroBatcher.submit` enqueues an event
and returns a :class:`concurrent.futures.Future`; the worker takes the first waiting event, then whatever
else arrives within ``max_wait_ms`` (at most ``max_batch`` events), answers them with one
``update_batch``, and resolves their futures (with the batch's exception, if it raised).

Concurrency contract: :meth:`submit` may be called from any number of threads. Events are applied in the
order they entered the queue, so the events one thread submits for a session are applied in that thread's
order; events of one session submitted from two threads at once are applied in whichever order they
entered. One batch runs at a time. :meth:`close` stops accepting events, answers every event already
queued, and joins the worker; submitting after it raises :class:`~recaudit.errors.RecauditInputError`.
Futures are resolved on the worker thread, so their done-callbacks run there: keep them short (a callback
may call :meth:`close`; it then returns without joining). A future cancelled before its batch starts is
skipped: its event is not applied.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from concurrent.futures import Future

from recaudit.errors import RecauditInputError
from recaudit.realtime.live import LiveEvent, LiveScorer, LiveUpdate

__all__ = ["MicroBatcher"]

_STOP = object()


class MicroBatcher:
    """One worker thread answering queued events in batches (see the module docstring)."""

    def __init__(
        self, live: LiveScorer, *, k: int = 10, max_batch: int = 256, max_wait_ms: float = 2.0
    ) -> None:
        if k < 1 or max_batch < 1 or not max_wait_ms >= 0:
            raise RecauditInputError("micro-batcher", "needs k >= 1, max_batch >= 1 and max_wait_ms >= 0")
        self.live, self.k, self.max_batch, self.max_wait_s = (
            live,
            int(k),
            int(max_batch),
            max_wait_ms / 1000.0,
        )
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()
        self.batch_sizes: deque[int] = deque(maxlen=10_000)
        """The sizes of the latest 10,000 batches answered (read after :meth:`close`)."""
        self._worker = threading.Thread(target=self._run, name="recaudit-microbatcher", daemon=True)
        self._worker.start()

    def submit(self, event: LiveEvent) -> Future[LiveUpdate]:
        """Queue ``event``; the future resolves to its :class:`LiveUpdate`."""
        future: Future[LiveUpdate] = Future()
        with self._lock:
            if self._closed:
                raise RecauditInputError("micro-batcher", "is closed: no more events are taken")
            self._queue.put((event, future))
        return future

    def close(self) -> None:
        """Answer what is queued, then stop the worker (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        if threading.current_thread() is not self._worker:
            self._worker.join()

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.perf_counter() + self.max_wait_s
            while len(batch) < self.max_batch:
                timeout = deadline - time.perf_counter()
                try:
                    item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._answer(batch)

    def _answer(self, batch: list[tuple[LiveEvent, Future]]) -> None:
        live = [(event, future) for event, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        self.batch_sizes.append(len(live))
        try:
            updates = self.live.update_batch([event for event, _ in live], self.k)
            if len(updates) != len(live):
                raise RuntimeError(f"update_batch answered {len(updates)} of {len(live)} events")
        except BaseException as exc:  # noqa: BLE001 - handed to the callers' futures
            for _, future in live:
                future.set_exception(exc)
            return
        for (_, future), update in zip(live, updates, strict=True):
            future.set_result(update)
