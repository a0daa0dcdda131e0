"""Servers the tests start themselves (``recaudit serve``, ``redis-server``): a free port, readiness."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(
    proc: subprocess.Popen,
    ready: Callable[[], bool],
    *,
    name: str,
    timeout_s: float,
    poll_s: float,
    log: Callable[[], str],
    not_ready: str = "unhealthy",
) -> None:
    """Poll ``ready()`` until it is true; fail the test with the server's ``log()`` if the process exits
    first or ``timeout_s`` passes (``f"{name} {not_ready} after ..."``). ``ready`` answers False, not an
    exception, while the server is still starting."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode}:\n{log()}")
        if ready():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{name} {not_ready} after {timeout_s:.0f} s:\n{log()}")
        time.sleep(poll_s)
