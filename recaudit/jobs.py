"""Long work off the page's thread: a background job with a step, a fraction and an elapsed time.

A page that must wait for something slow (a UMAP map of a bundle without a stored one, first run on a
machine with numba's cache empty) starts a :class:`BackgroundJob` and keeps drawing: the rest of the page
is usable at once, and a small poller shows the job's step and elapsed time until it is done.

Concurrency contract:

* :class:`JobRegistry` holds at most one job per key per process. :meth:`JobRegistry.start` is atomic under
  the registry's lock, so two sessions asking for the same map share one thread and one result.
* A job's worker thread is the only writer of its state and writes it under the job's lock; readers call
  :meth:`BackgroundJob.snapshot`, which copies the state under the same lock. The result object is handed
  out as is and must be treated as read-only by every caller (it is shared by all sessions).
* Worker threads are daemons: a server shutting down does not wait for them. A failed job keeps its
  exception (shown to the user) and is replaced by a fresh job on the next :meth:`JobRegistry.start`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
Work = Callable[[Progress], Any]


@dataclass(frozen=True)
class JobState:
    """A consistent copy of a job's state at one moment."""

    step: str
    fraction: float
    elapsed: float
    done: bool
    result: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.done and self.error is None


class BackgroundJob:
    """Runs ``work(progress)`` in a daemon thread; ``progress(step, fraction)`` updates what readers see."""

    def __init__(self, work: Work, *, first_step: str = "starting") -> None:
        self._work = work
        self._lock = threading.Lock()
        self._step = first_step
        self._fraction = 0.0
        self._result: Any = None
        self._error: BaseException | None = None
        self._started = time.monotonic()
        self._finished: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recaudit-job", daemon=True)

    def start(self) -> BackgroundJob:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def _progress(self, step: str, fraction: float) -> None:
        with self._lock:
            self._step = step
            self._fraction = min(max(float(fraction), 0.0), 1.0)

    def _run(self) -> None:
        try:
            result = self._work(self._progress)
        except BaseException as exc:  # noqa: BLE001 - kept and shown to the user, never swallowed
            logger.error("background job failed", exc_info=exc)  # the traceback goes to the server log
            with self._lock:
                self._error = exc
                self._finished = time.monotonic()
        else:
            with self._lock:
                self._result = result
                self._fraction = 1.0
                self._finished = time.monotonic()
        finally:
            self._done.set()

    def snapshot(self) -> JobState:
        """The job's state now (safe from any thread)."""
        with self._lock:
            end = self._finished if self._finished is not None else time.monotonic()
            return JobState(
                step=self._step,
                fraction=self._fraction,
                elapsed=end - self._started,
                done=self._finished is not None,
                result=self._result,
                error=self._error,
            )

    def wait(self, timeout: float | None = None) -> JobState:
        """Block until the job is done (or ``timeout`` seconds pass) and return its state."""
        self._done.wait(timeout)
        return self.snapshot()


class JobRegistry:
    """At most one :class:`BackgroundJob` per key; the ``max_jobs`` most recently started are kept."""

    def __init__(self, max_jobs: int = 8) -> None:
        self._lock = threading.Lock()
        self._jobs: OrderedDict[Hashable, BackgroundJob] = OrderedDict()
        self._max = max_jobs

    def get(self, key: Hashable) -> BackgroundJob | None:
        with self._lock:
            return self._jobs.get(key)

    def start(self, key: Hashable, work: Work, *, first_step: str = "starting") -> BackgroundJob:
        """The job of ``key``: the running or finished one, or a new one started now (also when the
        previous one failed, so a retry is one rerun away)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                state = job.snapshot()
                if not state.done or state.error is None:
                    self._jobs.move_to_end(key)
                    return job
            job = BackgroundJob(work, first_step=first_step).start()
            self._jobs[key] = job
            self._jobs.move_to_end(key)
            while len(self._jobs) > self._max:
                oldest = next(iter(self._jobs))
                if not self._jobs[oldest].snapshot().done:
                    break  # never drop a running job (its thread would finish unseen)
                self._jobs.pop(oldest)
            return job
