"""The Compare page's cached comparison: two bundles' or logs' audits (the audit pages' own cache) compared
on their shared users by :func:`recaudit.workflows.compare.compare_audits`.

Like :mod:`recaudit.app.audit`, an app-support module (it may import Streamlit). Keyed by both bundles'
paths and manifest mtimes and the settings, so switching B back to a bundle already compared is instant.
"""

from __future__ import annotations

import streamlit as st

from recaudit.app import audit
from recaudit.app import shell as support
from recaudit.bundle.logs import RecLog
from recaudit.workflows.compare import Comparison, compare_audits

Key = tuple[str, str, int]
"""A compared side's cache key: ``("bundle" | "log", resolved path, manifest mtime)``."""

N_BOOT = 1000
"""Resamples of the per-user metrics' paired bootstrap (as ``recaudit compare``)."""
CATALOGUE_DRAWS = 200
"""Resamples (and list swaps) per catalogue metric on the page: each recomputes both sides, so the page
uses fewer than the CLI's default 1,000 (``recaudit compare --n-boot``); the page says so."""


def source_key(source: audit.Source) -> Key:
    """The cache key of one side: a bundle's or a log folder's path and manifest mtime."""
    if isinstance(source, RecLog):
        assert source.path is not None
        return ("log", *support.log_key(source.path))
    return ("bundle", *support.disk_key(source, "audited"))


def _load(key: Key) -> audit.Source:
    return support.get_log(key[1]) if key[0] == "log" else support.get_bundle(key[1])


@st.cache_data(max_entries=8, show_spinner=False)
def _comparison(a: Key, b: Key, k: int, seed: int) -> Comparison:
    bundle_a, bundle_b = _load(a), _load(b)
    return compare_audits(
        audit.get_audit(bundle_a, k, seed=seed), audit.get_inputs(bundle_a, k),
        audit.get_audit(bundle_b, k, seed=seed), audit.get_inputs(bundle_b, k),
        names=(bundle_a.name, bundle_b.name), k=k, n_boot=N_BOOT, seed=seed, catalogue_draws=CATALOGUE_DRAWS,
    )  # fmt: skip


def stepped_comparison(a: audit.Source, b: audit.Source, k: int, *, seed: int = 0) -> Comparison | None:
    """Both audits and their comparison, each slow step named; a failure is one error line and None."""
    steps = support.StepStatus("Comparing")
    for step, bundle in enumerate((a, b), start=1):
        steps.step(f"auditing {bundle.name} at k={k} ({step} of 3)")
        if (
            support.guarded(
                f"the audit of {bundle.name}", lambda x=bundle: audit.get_audit(x, k, seed=seed)
            )
            is None
        ):
            steps.done()
            return None
    steps.step(f"B − A on the shared users, {CATALOGUE_DRAWS} resamples per catalogue metric (3 of 3)")
    key_a, key_b = source_key(a), source_key(b)
    found = support.guarded("the comparison", lambda: _comparison(key_a, key_b, int(k), int(seed)))
    steps.done()
    return found
