"""Cached audit helpers for the app's audit pages (Diversity & popularity, Re-ranking lab, Fairness, Report).

Like :mod:`recaudit.app.shell`, this is an app-support module and may import Streamlit; the audit itself
lives in :mod:`recaudit.workflows.audit` and :mod:`recaudit.metrics`. Every heavy call is cached
per process and keyed
by the bundle's resolved path, its manifest's mtime (a retrained bundle is picked up) and the settings, so
moving a widget back to a value already seen is instant:

* :func:`get_recommendations`, :func:`get_inputs`: the audited lists and the aligned arrays behind them
  (exposure counts, popularity, head, histories, categories) for charts that need more than the numbers;
* :func:`get_audit`: :func:`recaudit.workflows.audit.audit_bundle` (an
  :class:`~recaudit.metrics.AuditResult`);
* :func:`get_frontier`: :func:`recaudit.workflows.audit.rerank_frontier` (one row per λ).

The pages' tables without Streamlit (user samples, group intervals, before/after comparisons) live in
:mod:`recaudit.views.audit_tables`; user groups come from :func:`recaudit.metrics.groups.user_group_labels`,
the engine's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import streamlit as st

from recaudit.app import shell as support
from recaudit.bundle import Bundle
from recaudit.bundle.logs import RecLog
from recaudit.formatting import format_value
from recaudit.metrics import AuditInputs, AuditResult, evaluate
from recaudit.metrics.windows import WindowedAudit, windowed_audit
from recaudit.report import default_figures, render_html, to_json
from recaudit.workflows.audit import (
    CandidatePools,
    audit_bundle,
    audit_inputs,
    audit_users,
    bundle_recommendations,
    frontier_point,
    frontier_pools,
)

RERANKER_LABELS: dict[str, str] = {
    "mmr": "MMR (diversity)",
    "calibrated": "Calibrated (Steck 2018)",
    "popularity_aware": "Popularity-aware (xQuAD)",
    "exposure_fair": "Exposure-fair (providers)",
}
"""Re-rankers offered by the pages, by their :func:`recaudit.rerank.parse_spec` name."""

DEFAULT_LAMBDAS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
"""The λ sweep of the trade-off frontier: 0, 0.1, …, 1."""


AUDIT_K = "audit_k"
"""Durable session key of the cut-off k shared by the audit pages."""

Users = tuple[str, ...] | None
Source = Bundle | RecLog
"""What an audit page audits: a bundle (its held-out users' lists, scored here) or a recommendation log
(its lists as given, audited as ``recaudit metrics`` audits them)."""


# --------------------------------------------------------------------------------------------------
# cached calls


@st.cache_data(max_entries=32, show_spinner=False)
def _recommendations(path: str, mtime_ns: int, k: int, rerank: str | None, users: Users) -> pd.DataFrame:
    chosen = None if users is None else list(users)
    return bundle_recommendations(support.get_bundle(path), k, rerank=rerank, users=chosen)


@st.cache_resource(max_entries=16, show_spinner=False)
def _inputs(path: str, mtime_ns: int, k: int, rerank: str | None, users: Users) -> AuditInputs:
    recs = _recommendations(path, mtime_ns, k, rerank, users)
    return audit_inputs(support.get_bundle(path), recs, k=k, users=None if users is None else list(users))


@st.cache_data(max_entries=32, show_spinner=False)
def _audit(
    path: str, mtime_ns: int, k: int, rerank: str | None, users: Users, ci: bool, n_boot: int, seed: int,
    metrics: tuple[str, ...] | None,
) -> AuditResult:
    return audit_bundle(  # on the cached lists: the users are scored once for every page that needs them
        support.get_bundle(path), k, rerank=rerank, users=None if users is None else list(users), ci=ci,
        n_boot=n_boot, seed=seed, metrics=None if metrics is None else list(metrics),
        inputs=_inputs(path, mtime_ns, k, rerank, users),
    )


@st.cache_resource(max_entries=4, show_spinner=False)
def _frontier_pools(path: str, mtime_ns: int, k: int, users: Users) -> CandidatePools:
    return frontier_pools(support.get_bundle(path), k, users=None if users is None else list(users))


@st.cache_data(max_entries=256, show_spinner=False)
def _frontier_point(
    path: str, mtime_ns: int, k: int, spec_name: str, value: float, users: Users, metrics: tuple[str, ...]
) -> dict[str, float]:
    pools = _frontier_pools(path, mtime_ns, k, users)
    return frontier_point(
        support.get_bundle(path), pools, k, spec_name, value, users=None if users is None else list(users),
        metrics=list(metrics),
    )


@st.cache_resource(max_entries=8, show_spinner=False)
def _log_inputs(path: str, mtime_ns: int, k: int) -> AuditInputs:
    log = support.get_log(path)
    return AuditInputs.from_frames(
        log.recs, log.train, test=log.test, items=log.items, users=log.users, k=k, source=log.name
    )


@st.cache_data(max_entries=16, show_spinner=False)
def _log_audit(
    path: str, mtime_ns: int, k: int, ci: bool, n_boot: int, seed: int, metrics: tuple[str, ...] | None
) -> AuditResult:
    # exactly `recaudit metrics --k k` on the log's files: the same alignment, metrics and bootstrap
    return evaluate(
        _log_inputs(path, mtime_ns, k), None if metrics is None else list(metrics), ks=(k,), ci=ci,
        n_boot=n_boot, seed=seed,
    )  # fmt: skip


@st.cache_data(max_entries=8, show_spinner=False)
def _log_windows(path: str, mtime_ns: int, window: str, k: int) -> WindowedAudit:
    log = support.get_log(path)
    return windowed_audit(
        log.recs, log.train, window=window, items=log.items, test=log.test, k=k, source=log.name  # type: ignore[arg-type]
    )


def get_windows(log: RecLog, window: str, k: int) -> WindowedAudit:
    """Exposure over time of a log with timestamps (:func:`recaudit.metrics.windows.windowed_audit`, as
    ``recaudit metrics --window``), cached per log version, window and k."""
    return _log_windows(*_log_key(log), window, int(k))


def _log_key(log: RecLog) -> tuple[str, int]:
    if log.path is None:
        raise ValueError("only logs loaded from disk can be audited in the app")
    return support.log_key(log.path)


def _no_rerank(source: RecLog, rerank: str | None) -> None:
    if rerank:
        raise ValueError(f"{source.name} is a recommendation log: re-ranking needs a model's scores")


def _users(users: Sequence[str] | None) -> Users:
    return None if users is None else tuple(str(u) for u in users)


def get_recommendations(
    bundle: Source, k: int, *, rerank: str | None = None, users: Sequence[str] | None = None
) -> pd.DataFrame:
    """:func:`recaudit.workflows.audit.bundle_recommendations` (cached): ``user_id, item_id, rank, score``;
    a log's own rows."""
    if isinstance(bundle, RecLog):
        _no_rerank(bundle, rerank)
        return bundle.recs
    return _recommendations(*support.disk_key(bundle, "audited"), int(k), rerank, _users(users))


def get_inputs(
    bundle: Source, k: int, *, rerank: str | None = None, users: Sequence[str] | None = None
) -> AuditInputs:
    """The aligned :class:`AuditInputs` of the audited lists (cached, shared: read it, never mutate it)."""
    if isinstance(bundle, RecLog):
        _no_rerank(bundle, rerank)
        return _log_inputs(*_log_key(bundle), int(k))
    return _inputs(*support.disk_key(bundle, "audited"), int(k), rerank, _users(users))


def get_audit(
    bundle: Source,
    k: int,
    *,
    rerank: str | None = None,
    users: Sequence[str] | None = None,
    ci: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    metrics: Sequence[str] | None = None,
) -> AuditResult:
    """:func:`recaudit.workflows.audit.audit_bundle`, cached per bundle version and settings
    (metrics None = all); a log's :func:`recaudit.metrics.evaluate`, as ``recaudit metrics``."""
    if isinstance(bundle, RecLog):
        _no_rerank(bundle, rerank)
        if users is not None:
            raise ValueError("a recommendation log is audited over all its users")
        chosen = None if metrics is None else tuple(metrics)
        return _log_audit(*_log_key(bundle), int(k), bool(ci), int(n_boot), int(seed), chosen)
    return _audit(
        *support.disk_key(bundle, "audited"), int(k), rerank, _users(users), bool(ci), int(n_boot), int(seed),
        None if metrics is None else tuple(metrics),
    )


def get_frontier(
    bundle: Bundle,
    k: int,
    spec_name: str,
    lambdas: Sequence[float],
    *,
    users: Sequence[str] | None,
    metrics: Sequence[str],
    progress: Callable[[str, float], None] | None = None,
) -> pd.DataFrame:
    """:func:`recaudit.workflows.audit.rerank_frontier` (cached): one row per λ, one column per metric.

    ``progress(step, fraction)`` hears which λ is being evaluated when the sweep is not cached."""
    report = progress or (lambda _step, _fraction: None)
    rows = []
    for step, value in enumerate(lambdas):  # cached per λ, so progress is told outside the cache
        report(f"{spec_name}:{value:g} ({step + 1} of {len(lambdas)})", step / max(len(lambdas), 1))
        key = support.disk_key(bundle, "audited")
        rows.append(_frontier_point(*key, int(k), spec_name, float(value), _users(users), tuple(metrics)))
    return pd.DataFrame(rows)


def audit_steps(
    bundle: Source, k: int, steps: support.StepStatus, *, rerank: str | None = None,
    users: Sequence[str] | None = None,
) -> AuditInputs:
    """Score and align the audited lists, naming each step in ``steps`` (steps 1 and 2 of 3); the
    metrics (:func:`get_audit`, step 3) then reuse these cached lists. A log's lists are aligned only."""
    if isinstance(bundle, RecLog):
        steps.step(f"aligning the log's {len(bundle.recs):,} rows with the training and test data (2 of 3)")
        return get_inputs(bundle, k, rerank=rerank)
    count = len(users) if users is not None else len(audit_users(bundle))
    what = f"re-ranking ({rerank}) the top-{k}" if rerank else f"the top-{k}"
    steps.step(f"scoring {what} of {count:,} held-out users (1 of 3)")
    get_recommendations(bundle, k, rerank=rerank, users=users)
    steps.step("aligning the lists with the training and test data (2 of 3)")
    return get_inputs(bundle, k, rerank=rerank, users=users)


def stepped_audit(
    bundle: Source, k: int, *, title: str = "Preparing the audit", rerank: str | None = None,
    users: Sequence[str] | None = None, ci: bool = True, metrics: Sequence[str] | None = None,
    what: tuple[str, str] = ("audit inputs", "audit"),
) -> tuple[AuditInputs | None, AuditResult | None]:
    """The aligned lists and the audit, each slow step named in one status box titled ``title``;
    a failure is one ``st.error`` line (``what`` names the inputs and the audit step) and a None."""
    steps = support.StepStatus(title)
    inputs = support.guarded(
        what[0], lambda: audit_steps(bundle, k, steps, rerank=rerank, users=users)
    )
    result = None
    if inputs is not None:
        steps.step(
            "computing every metric with 1,000-resample bootstrap intervals (3 of 3)"
            if ci else f"computing {len(metrics or [])} metrics (3 of 3)"
        )
        result = support.guarded(
            what[1], lambda: get_audit(bundle, k, rerank=rerank, users=users, ci=ci, metrics=metrics)
        )
    steps.done()
    return inputs, result


# --------------------------------------------------------------------------------------------------
# shared widgets


def k_selector(label: str = "Cut-off k", *, options: Sequence[int] = (5, 10, 20), default: int = 10) -> int:
    """A k selectbox whose value is shared by every audit page (durable key :data:`AUDIT_K`)."""
    return int(
        support.sticky(st.selectbox, label, key=AUDIT_K, default=default, options=list(options))
    )


def require_test_data(bundle: Source) -> None:
    """Stop the page with a message when the bundle has no held-out test users to audit (a log's lists
    are audited as they are; without test rows, the accuracy metrics are skipped)."""
    if isinstance(bundle, RecLog):
        return
    if len(audit_users(bundle)) == 0:
        st.info(
            "This bundle has no held-out test interactions of users known to the model, so there is "
            "nothing to audit. Export the bundle with `interactions/test.parquet`."
        )
        st.stop()


def fmt(value: float | None, digits: int = 4) -> str:
    """A metric value on a page: :func:`recaudit.formatting.format_value` with ``—`` for a missing one."""
    return format_value(value, digits, missing="—")



def k_options(source: Source, options: Sequence[int] = (5, 10, 20)) -> list[int]:
    """The cut-offs offered for ``source``: for a log, those within its longest list (else that length)."""
    if not isinstance(source, RecLog):
        return list(options)
    within = [k for k in options if k <= source.depth]
    return within or [source.depth]


def audit_command(source: Source, k: int, rerank: str | None = None) -> str:
    """The command that computes the same numbers as the page: ``recaudit audit`` of a bundle, or
    ``recaudit metrics`` of a log folder's tables."""
    if not isinstance(source, RecLog):
        return f"recaudit audit {source.path} --k {k}" + (f" --rerank {rerank}" if rerank else "")
    parts = ["recaudit metrics"]
    for flag, table in (("--recs", "recs"), ("--train", "train"), ("--test", "test"), ("--items", "items"),
                        ("--users", "users")):  # fmt: skip
        if getattr(source, table) is not None and source.path is not None:
            parts.append(f"{flag} {source.path / (table + '.parquet')}")
    return " ".join([*parts, f"--k {k}"])


def report_html(bundle: Source, result: AuditResult, k: int, *, rerank: str | None, title: str) -> str:
    """The self-contained HTML report of ``result`` (:func:`recaudit.report.render_html`) with the
    standard figures (:func:`recaudit.report.default_figures`, from the cached inputs of the same lists).

    Safe to call from ``st.download_button``'s deferred-data thread (no Streamlit element is drawn).
    """
    inputs = get_inputs(bundle, k, rerank=rerank)
    return render_html(result, title=title, figures=default_figures(result, inputs))


def report_pdf(bundle: Source, result: AuditResult, k: int, *, rerank: str | None, title: str) -> bytes:
    """:func:`report_html` printed to PDF by the server's Chromium (:mod:`recaudit.report_pdf`)."""
    from recaudit.report_pdf import html_to_pdf

    return html_to_pdf(report_html(bundle, result, k, rerank=rerank, title=title))


def report_json(result: AuditResult) -> str:
    """``result.to_dict()`` as strict JSON text (:func:`recaudit.report.to_json`, as the CLI writes it)."""
    return to_json(result)
