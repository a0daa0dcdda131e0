"""Background jobs (recaudit.jobs): one job per key across threads, live step and fraction, errors kept.

Every wait here is on an event the test controls; nothing depends on how fast the machine is.
"""

from __future__ import annotations

import threading

import pytest

from recaudit.jobs import BackgroundJob, JobRegistry


def test_a_job_reports_its_step_then_its_result() -> None:
    started, release = threading.Event(), threading.Event()

    def work(progress):  # noqa: ANN001, ANN202
        progress("neighbour graph", 0.4)
        started.set()
        assert release.wait(30)
        progress("layout", 0.8)
        return "map"

    job = BackgroundJob(work).start()
    assert started.wait(30)
    state = job.snapshot()
    assert (state.step, state.fraction, state.done, state.result) == ("neighbour graph", 0.4, False, None)
    release.set()
    state = job.wait(30)
    assert state.ok and state.result == "map" and state.fraction == 1.0 and state.step == "layout"
    assert state.elapsed >= 0


def test_fractions_are_clipped_to_0_1() -> None:
    job = BackgroundJob(lambda progress: progress("x", 7.0)).start()
    assert job.wait(30).fraction == 1.0


def test_one_job_per_key_even_when_8_threads_ask_at_once() -> None:
    registry = JobRegistry()
    calls: list[int] = []
    release = threading.Event()
    barrier = threading.Barrier(8)

    def work(_progress):  # noqa: ANN001, ANN202
        calls.append(1)
        assert release.wait(30)
        return len(calls)

    jobs: list[BackgroundJob] = []

    def ask() -> None:
        barrier.wait(30)
        jobs.append(registry.start("map-a", work))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    release.set()
    assert len({id(job) for job in jobs}) == 1
    assert jobs[0].wait(30).result == 1
    assert calls == [1]
    assert registry.start("map-a", work) is jobs[0]  # a finished job is reused, not rerun
    assert calls == [1]


def test_a_failed_job_keeps_its_error_and_the_next_start_retries() -> None:
    registry = JobRegistry()
    attempts: list[int] = []

    def flaky(_progress):  # noqa: ANN001, ANN202
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("bad table")
        return "ok"

    first = registry.start("k", flaky)
    state = first.wait(30)
    assert state.done and not state.ok and isinstance(state.error, ValueError)
    second = registry.start("k", flaky)
    assert second is not first and second.wait(30).result == "ok"


def test_the_registry_keeps_the_most_recent_jobs_but_never_drops_a_running_one() -> None:
    registry = JobRegistry(max_jobs=2)
    release = threading.Event()
    running = registry.start("slow", lambda _p: release.wait(30))
    for key in ("a", "b", "c"):
        registry.start(key, lambda _p, key=key: key).wait(30)
    assert registry.get("slow") is running  # oldest, but still running: kept
    release.set()
    running.wait(30)
    registry.start("d", lambda _p: "d").wait(30)
    assert registry.get("slow") is None
    assert registry.get("d") is not None


@pytest.mark.parametrize("bad", [KeyboardInterrupt, MemoryError])
def test_even_base_exceptions_end_the_job_instead_of_leaving_it_running(bad: type[BaseException]) -> None:
    def work(_progress):  # noqa: ANN001, ANN202
        raise bad()

    state = BackgroundJob(work).start().wait(30)
    assert state.done and isinstance(state.error, bad)
