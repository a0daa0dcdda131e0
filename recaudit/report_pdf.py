"""The HTML report printed to PDF by the machine's Chromium, headless and offline.

The report is self-contained (plotly.js embedded, no font or CDN request), so Chromium's own print
renders it exactly as a browser shows it, charts included, with no network: ``chromium --headless
--print-to-pdf`` over the page written to a private temporary folder, with a virtual-time budget so the
charts finish drawing before the page is printed. No Python dependency; Chromium is found as
``$CHROMIUM_PATH``, else ``chromium``, ``chromium-browser`` or ``google-chrome`` on the PATH. Without it
the PDF is one clear error and nothing is written.

Concurrency: each call uses its own temporary folder and Chromium profile; calls may run in parallel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from recaudit._io import atomic_path
from recaudit.errors import RecauditInputError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_S = 180
"""A report of the sample bundle prints in a few seconds; this bounds a stuck browser."""


def find_chromium() -> str | None:
    """The Chromium executable to print with, or None."""
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def require_chromium(where: object) -> str:
    """:func:`find_chromium`, or one clear error naming ``where`` (the PDF asked for).

    Raises:
        RecauditInputError: no Chromium on this machine.
    """
    chromium = find_chromium()
    if chromium is None:
        raise RecauditInputError(
            where, "printing the report to PDF needs Chromium", "apt install chromium, or set CHROMIUM_PATH"
        )
    return chromium


def html_to_pdf(html: str, out: str | Path | None = None) -> bytes:
    """Print ``html`` to PDF; returns the PDF bytes and, with ``out``, writes them there atomically.

    Raises:
        RecauditInputError: no Chromium on this machine, or Chromium failed to print.
    """
    where = str(out) if out is not None else "--pdf"
    chromium = require_chromium(where)
    with tempfile.TemporaryDirectory(prefix="recaudit-pdf-") as folder:
        page = Path(folder) / "report.html"
        page.write_text(html, encoding="utf-8")
        target = Path(folder) / "report.pdf"
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--user-data-dir={Path(folder) / 'profile'}", "--no-pdf-header-footer",
            "--run-all-compositor-stages-before-draw", "--virtual-time-budget=15000",
            f"--print-to-pdf={target}", page.as_uri(),
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            why = f"Chromium did not print the report within {TIMEOUT_S} s"
            raise RecauditInputError(where, why) from exc
        data = target.read_bytes() if target.exists() else b""
        if not data.startswith(b"%PDF"):
            last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
            raise RecauditInputError(where, f"Chromium could not print the report ({last})")
    if out is not None:
        with atomic_path(out) as tmp:
            Path(tmp).write_bytes(data)
    return data


__all__ = ["find_chromium", "html_to_pdf", "require_chromium"]
