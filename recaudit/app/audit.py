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

Pure helpers used by the pages (no Streamlit): :func:`audit_users`, :func:`sample_users`,
:func:`user_group_labels`, :func:`group_ci_table`, :func:`rerank_spec`, :func:`comparison_table`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import streamlit as st

from recaudit.app import shell as support
from recaudit.bundle import Bundle
from recaudit.data.schema import USER_ID
from recaudit.metrics import AuditInputs, AuditResult
from recaudit.metrics import groups as metric_groups
from recaudit.metrics.stats import bootstrap_ci
from recaudit.report import default_figures, render_html, to_json
from recaudit.workflows.audit import (
    CandidatePools,
    audit_bundle,
    audit_inputs,
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

ACTIVITY_EDGES = metric_groups.ACTIVITY_EDGES
"""Activity bucket edges, the same as :func:`recaudit.metrics.evaluate`'s default."""

AUDIT_K = "audit_k"
"""Durable session key of the cut-off k shared by the audit pages."""

Users = tuple[str, ...] | None


# --------------------------------------------------------------------------------------------------
# pure helpers


def rerank_spec(name: str | None, lambda_: float) -> str | None:
    """``("mmr", 0.3)`` -> ``"mmr:0.3"``; None or ``"none"`` -> None (the base lists)."""
    if name is None or name == "none":
        return None
    return f"{name}:{float(lambda_):g}"


def audit_users(bundle: Bundle) -> list[str]:
    """The users an audit covers by default: the bundle's test users known to the model, sorted."""
    if bundle.test is None or bundle.test.empty:
        return []
    known = set(bundle.user_row.index.astype(str))
    return sorted(set(bundle.test[USER_ID].astype(str)) & known)


def sample_users(users: Sequence[str], n: int, seed: int = 0) -> tuple[str, ...]:
    """A seeded sample of ``n`` users (all of them when there are at most ``n``), sorted."""
    users = sorted(users)
    if n >= len(users):
        return tuple(users)
    picked = np.random.default_rng(seed).choice(len(users), size=n, replace=False)
    return tuple(users[i] for i in sorted(picked))


def user_group_labels(
    inputs: AuditInputs,
    edges: Sequence[int] = ACTIVITY_EDGES,
    users_frame: pd.DataFrame | None = None,
    *,
    max_groups: int = 20,
) -> dict[str, np.ndarray]:
    """``[U]`` group labels of the audited users (rows of ``inputs.lists``), as :func:`evaluate` makes them.

    The engine's own grouping (:func:`recaudit.metrics.groups.user_group_labels`), so a page and the CLI
    put every user in the same group; every ``users_frame`` column with at most ``max_groups`` distinct
    values is a grouping.
    """
    return metric_groups.user_group_labels(inputs, edges=edges, users=users_frame, max_groups=max_groups)


def group_ci_table(
    per_user: np.ndarray,
    labels: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Mean of a per-user metric per group with a percentile-bootstrap CI over the group's users.

    Columns ``group, n_users, n, mean, ci_low, ci_high, gap``: ``n`` users with a value (NaN = left out by
    the metric), ``mean`` their plain mean, the interval from :func:`recaudit.metrics.stats.bootstrap_ci`
    (Efron & Tibshirani 1993), ``gap = mean − overall mean`` (the overall mean over every user with a
    value). Loops over groups only (a handful), never over users.
    """
    values = np.asarray(per_user, dtype=np.float64).ravel()
    keys = np.asarray(labels, dtype=object).ravel().astype(str)
    base = metric_groups.group_means(values, keys, order=order)
    finite = values[np.isfinite(values)]
    overall = float(finite.mean()) if finite.size else math.nan
    lows, highs = [], []
    for group in base["group"]:
        _, low, high = bootstrap_ci(values[keys == group], n_boot=n_boot, level=level, seed=seed)
        lows.append(low)
        highs.append(high)
    return pd.DataFrame(
        {
            "group": base["group"],
            "n_users": base["n_users"],
            "n": base["n"],
            "mean": base["mean"],
            "ci_low": lows,
            "ci_high": highs,
            "gap": base["mean"] - overall,
        }
    )


def comparison_table(base: AuditResult, other: AuditResult, names: Sequence[str]) -> pd.DataFrame:
    """``metric, base, reranked, change`` for the metrics in both results (``change`` = reranked − base)."""
    rows = []
    for name in names:
        if name in base.values and name in other.values:
            a, b = float(base.values[name]), float(other.values[name])
            rows.append({"metric": name, "base": a, "reranked": b, "change": b - a})
    return pd.DataFrame(rows, columns=["metric", "base", "reranked", "change"])


# --------------------------------------------------------------------------------------------------
# cached calls


def _bundle(path: str) -> Bundle:
    return support.get_bundle(path)


@st.cache_data(max_entries=32, show_spinner=False)
def _recommendations(path: str, mtime_ns: int, k: int, rerank: str | None, users: Users) -> pd.DataFrame:
    chosen = None if users is None else list(users)
    return bundle_recommendations(_bundle(path), k, rerank=rerank, users=chosen)


@st.cache_resource(max_entries=16, show_spinner=False)
def _inputs(path: str, mtime_ns: int, k: int, rerank: str | None, users: Users) -> AuditInputs:
    recs = _recommendations(path, mtime_ns, k, rerank, users)
    return audit_inputs(_bundle(path), recs, k=k, users=None if users is None else list(users))


@st.cache_data(max_entries=32, show_spinner=False)
def _audit(
    path: str, mtime_ns: int, k: int, rerank: str | None, users: Users, ci: bool, n_boot: int, seed: int,
    metrics: tuple[str, ...] | None,
) -> AuditResult:
    return audit_bundle(  # on the cached lists: the users are scored once for every page that needs them
        _bundle(path), k, rerank=rerank, users=None if users is None else list(users), ci=ci,
        n_boot=n_boot, seed=seed, metrics=None if metrics is None else list(metrics),
        inputs=_inputs(path, mtime_ns, k, rerank, users),
    )


@st.cache_resource(max_entries=4, show_spinner=False)
def _frontier_pools(path: str, mtime_ns: int, k: int, users: Users) -> CandidatePools:
    return frontier_pools(_bundle(path), k, users=None if users is None else list(users))


@st.cache_data(max_entries=256, show_spinner=False)
def _frontier_point(
    path: str, mtime_ns: int, k: int, spec_name: str, value: float, users: Users, metrics: tuple[str, ...]
) -> dict[str, float]:
    pools = _frontier_pools(path, mtime_ns, k, users)
    return frontier_point(
        _bundle(path), pools, k, spec_name, value, users=None if users is None else list(users),
        metrics=list(metrics),
    )


def _key(bundle: Bundle) -> tuple[str, int]:
    if bundle.path is None:
        raise ValueError("only bundles loaded from disk can be audited in the app")
    return support.bundle_key(bundle.path)


def _users(users: Sequence[str] | None) -> Users:
    return None if users is None else tuple(str(u) for u in users)


def get_recommendations(
    bundle: Bundle, k: int, *, rerank: str | None = None, users: Sequence[str] | None = None
) -> pd.DataFrame:
    """:func:`recaudit.workflows.audit.bundle_recommendations` (cached): ``user_id, item_id, rank, score``."""
    return _recommendations(*_key(bundle), int(k), rerank, _users(users))


def get_inputs(
    bundle: Bundle, k: int, *, rerank: str | None = None, users: Sequence[str] | None = None
) -> AuditInputs:
    """The aligned :class:`AuditInputs` of the audited lists (cached, shared: read it, never mutate it)."""
    return _inputs(*_key(bundle), int(k), rerank, _users(users))


def get_audit(
    bundle: Bundle,
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
    (metrics None = all)."""
    return _audit(
        *_key(bundle), int(k), rerank, _users(users), bool(ci), int(n_boot), int(seed),
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
        rows.append(_frontier_point(
            *_key(bundle), int(k), spec_name, float(value), _users(users), tuple(metrics)
        ))
    return pd.DataFrame(rows)


def audit_steps(
    bundle: Bundle, k: int, steps: support.StepStatus, *, rerank: str | None = None,
    users: Sequence[str] | None = None,
) -> AuditInputs:
    """Score and align the audited lists, naming each step in ``steps`` (steps 1 and 2 of 3); the
    metrics (:func:`get_audit`, step 3) then reuse these cached lists."""
    count = len(users) if users is not None else len(audit_users(bundle))
    what = f"re-ranking ({rerank}) the top-{k}" if rerank else f"the top-{k}"
    steps.step(f"scoring {what} of {count:,} held-out users (1 of 3)")
    get_recommendations(bundle, k, rerank=rerank, users=users)
    steps.step("aligning the lists with the training and test data (2 of 3)")
    return get_inputs(bundle, k, rerank=rerank, users=users)


def stepped_audit(
    bundle: Bundle, k: int, *, title: str = "Preparing the audit", rerank: str | None = None,
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


def require_test_data(bundle: Bundle) -> None:
    """Stop the page with a message when the bundle has no held-out test users to audit."""
    if not audit_users(bundle):
        st.info(
            "This bundle has no held-out test interactions of users known to the model, so there is "
            "nothing to audit. Export the bundle with `interactions/test.parquet`."
        )
        st.stop()


def fmt(value: float | None, digits: int = 4) -> str:
    """A metric value for display: ``—`` for NaN/None, ``∞`` for infinity."""
    if value is None:
        return "—"
    number = float(value)
    if math.isnan(number):
        return "—"
    if math.isinf(number):
        return "∞"
    return f"{number:.{digits}f}"



def report_html(bundle: Bundle, result: AuditResult, k: int, *, rerank: str | None, title: str) -> str:
    """The self-contained HTML report of ``result`` (:func:`recaudit.report.render_html`) with the
    standard figures (:func:`recaudit.report.default_figures`, from the cached inputs of the same lists).

    Safe to call from ``st.download_button``'s deferred-data thread (no Streamlit element is drawn).
    """
    inputs = get_inputs(bundle, k, rerank=rerank)
    return render_html(result, title=title, figures=default_figures(result, inputs))


def report_json(result: AuditResult) -> str:
    """``result.to_dict()`` as strict JSON text (:func:`recaudit.report.to_json`, as the CLI writes it)."""
    return to_json(result)
