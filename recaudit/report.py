"""Audit reports: an :class:`~recaudit.metrics.AuditResult` as a self-contained HTML page and as JSON.

The HTML page works offline: plotly.js is embedded once (in the first figure), nothing is loaded from a
network (no CDN, fonts, stylesheets or MathJax), and it prints cleanly (each section starts a page, figures
are not split). Every piece of text that comes from data or from the caller (title, model name, ids, group
names, skip reasons) is HTML-escaped, since ids and titles may be hostile. The page says which model,
which data (fingerprints) and which settings produced the numbers, and names each metric's one-line formula
and its source, both read from the metric catalogue (:mod:`recaudit.metrics.registry`; definitions in
docs/metrics.md). Data text inside the figures is escaped for plotly (:func:`recaudit.textsafe.plot_text`),
which would otherwise render tags such as ``<a href>`` in tick labels and hovers.
"""

from __future__ import annotations

import html as html_lib
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from recaudit import __version__
from recaudit._io import atomic_write_text, dumps_json
from recaudit.formatting import format_value
from recaudit.metrics import registry
from recaudit.metrics.engine import AuditResult
from recaudit.metrics.fairness import explain_disparity
from recaudit.metrics.inputs import AuditInputs
from recaudit.textsafe import plot_text

if TYPE_CHECKING:
    from recaudit.workflows.compare import Comparison
    from recaudit.workflows.gates import Gate
from recaudit.viz.audit_charts import (
    group_exposure_chart,
    group_metric_chart,
    long_tail_chart,
    lorenz_chart,
    miscalibration_hist,
    popularity_lift_chart,
)

__all__ = ["default_figures", "metric_source", "render_html", "to_json", "write_report"]

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #1f2933; line-height: 1.4; }
h1 { margin-bottom: 0.2em; }
@media print { .modebar-container { display: none !important; } section { break-inside: auto; } }
h2 { border-bottom: 2px solid #0b6e4f; padding-bottom: 0.2em; margin-top: 1.6em; }
h3 { margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #cbd2d9; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f4f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { overflow-x: auto; }
.meta td:first-child { font-weight: 600; white-space: nowrap; }
.muted { color: #616e7c; font-size: 0.9em; } code { font-size: 0.9em; word-break: break-all; }
.figure { margin: 1em 0 2em; page-break-inside: avoid; break-inside: avoid; }
@media print {
  body { margin: 0; max-width: none; }
  section { page-break-before: always; break-before: page; }
  section.first { page-break-before: auto; break-before: auto; }
  table, .figure { page-break-inside: avoid; break-inside: avoid; }
}
"""


def metric_source(name: str) -> str:
    """The formula source (the paper or library the definition agrees with, from the catalogue) of a
    metric name such as ``"gini@10"`` or ``"exposure_disparity[provider]@10"``; ``""`` when unknown."""
    return registry.metric_source(name)


def _esc(value: object) -> str:
    return html_lib.escape(str(value), quote=True)


def _table(frame: pd.DataFrame, *, numeric: set[str] | None = None) -> str:
    """A frame as an escaped HTML table (index included when named); numbers formatted by :func:`_fmt`."""
    data = frame.reset_index() if frame.index.name else frame
    cols = [str(c) for c in data.columns]
    head = "".join(f"<th>{_esc(c)}</th>" for c in cols)
    rows = []
    for record in data.itertuples(index=False):
        cells = []
        for value in record:
            is_num = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            cls = ' class="num"' if is_num else ""
            cells.append(f"<td{cls}>{_esc(format_value(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    body = "".join(rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _kv_table(pairs: list[tuple[str, object]]) -> str:
    rows = "".join(
        f"<tr><td>{_esc(key)}</td><td>{_value_html(value)}</td></tr>" for key, value in pairs
    )
    return f'<table class="meta"><tbody>{rows}</tbody></table>'


def _value_html(value: object) -> str:
    if isinstance(value, dict):
        if not value:
            return '<span class="muted">none</span>'
        return "<br>".join(f"{_esc(k)}: {_value_html(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return _esc(", ".join(format_value(v) for v in value))
    if isinstance(value, str) and len(value) >= 32 and all(c in "0123456789abcdef" for c in value):
        return f"<code>{_esc(value)}</code>"  # a fingerprint
    return _esc(format_value(value))


def _provenance(result: AuditResult, created: str) -> str:
    info = result.info or {}
    model = info.get("model") or {}
    pairs: list[tuple[str, object]] = []
    if isinstance(model, dict) and model:
        pairs.append(("model", model.get("name", "n/a")))
        pairs.append(("model kind", model.get("kind", "n/a")))
        for key, value in model.items():
            if key not in {"name", "kind"}:
                pairs.append((f"model {key}", value))
    elif model:
        pairs.append(("model", model))
    else:
        pairs.append(("model", "not recorded"))
    pairs.append(("re-ranking", info.get("rerank") or "none"))
    pairs.append(("data", info.get("data", {})))
    pairs.append(("data fingerprints (sha256)", info.get("fingerprints", {})))
    pairs.append(("settings", info.get("settings", {})))
    pairs.append(("report created", created))
    pairs.append(("recaudit version", __version__))
    return (
        "<section><h2>Provenance and configuration</h2>"
        '<p class="muted">Definitions: recaudit docs/metrics.md; each metric names its source above.</p>'
        f"{_kv_table(pairs)}</section>"
    )


HEADLINE = ("ndcg", "recall", "hit_rate", "coverage", "gini", "aplt", "novelty", "exposure_disparity")
"""The verdict's metrics, when the audit has them: accuracy, catalogue reach and inequality, popularity
bias, group fairness (every ``exposure_disparity[column]``)."""


def _verdict(result: AuditResult, title: str, gates: Sequence[Gate] | None) -> str:
    """The part a reviewer reads first: the gates' outcome and the headline metrics with intervals."""
    from recaudit.workflows.gates import check_gates

    model = (result.info or {}).get("model") or {}
    name = model.get("bundle") if isinstance(model, dict) else None
    data = (result.info or {}).get("data") or {}
    users = data.get("users") if isinstance(data, dict) else None
    about = "Recommendation audit" + (f" of {_esc(name)}" if name else "")
    about += f" over {users:,} users" if isinstance(users, int) else ""
    failures = check_gates(result, gates or [])
    status = _gates_html(gates, failures, 'No gates were set (recaudit audit --fail-on "gini@10>0.9").')
    rows = []
    for metric, value in result.values.items():
        if str(metric).split("@")[0].split("[")[0] not in HEADLINE:
            continue
        ci = _ci_text(*result.ci.get(metric, (math.nan, math.nan)))
        why = _disparity_why(result, metric)
        rows.append(
            f'<tr><td>{_esc(metric)}</td><td class="num">{_esc(format_value(value))}</td>'
            f'<td class="num">{_esc(ci)}</td><td>{_esc(why)}</td></tr>'
        )
    table = (
        "<table><thead><tr><th>metric</th><th>value</th><th>95% CI</th><th></th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else ""
    )
    return (
        f'<section class="first"><h1>{_esc(title)}</h1><p class="muted">{about}.</p>'
        f"<h2>Verdict</h2>{status}{table}</section>"
    )


def _gates_html(gates: Sequence[Gate] | None, failures: list[str], none: str) -> str:
    """A verdict's gate line: how many failed and why, that all passed, or ``none`` without gates."""
    if not gates:
        return f'<p class="muted">{_esc(none)}</p>'
    if failures:
        reasons = "".join(f"<li>{_esc(f)}</li>" for f in failures)
        head = f"Gates: {len(failures)} of {len(gates)} gate(s) failed"
        return f"<p><strong>{head}</strong></p><ul>{reasons}</ul>"
    listed = _esc(", ".join(map(str, gates)))
    return f"<p><strong>Gates: all {len(gates)} gate(s) passed</strong>: {listed}</p>"


def _ci_text(low: float, high: float) -> str:
    """``[low, high]`` as the report prints numbers, or ``""`` for an undefined interval."""
    return f"[{format_value(low)}, {format_value(high)}]" if np.isfinite(low) and np.isfinite(high) else ""


def _disparity_why(result: AuditResult, name: str) -> str:
    """Why a headline ``exposure_disparity[column]@k`` is ∞ or undefined (the group and its shares, from
    :func:`recaudit.metrics.fairness.explain_disparity`, as on the Fairness page); ``""`` otherwise."""
    if not name.startswith("exposure_disparity[") or "]@" not in name:
        return ""
    column, k = name[len("exposure_disparity[") :].rsplit("]@", 1)
    table = result.item_groups.get(f"{column}@{k}")
    return (explain_disparity(table, column) or "") if table is not None else ""


def _metrics_section(result: AuditResult) -> str:
    rows = []
    for name, value in result.values.items():
        ci = _ci_text(*result.ci.get(name, (math.nan, math.nan)))
        why = _disparity_why(result, name)
        note = f"<br><strong>{_esc(why)}</strong>" if why else ""
        rows.append(
            f'<tr><td>{_esc(name)}</td><td class="num">{_esc(format_value(value))}</td>'
            f'<td class="num">{_esc(ci)}</td><td>{_esc(registry.metric_help(name))}{note}</td>'
            f"<td>{_esc(metric_source(name))}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="5" class="muted">no metric computed</td></tr>'
    return (
        "<section><h2>Every metric</h2>"
        '<p class="muted">User-level metrics are plain means over users with a value; the 95% interval is a '
        "percentile bootstrap over users. n/a = undefined (never a silent 0).</p>"
        "<table><thead><tr><th>metric</th><th>value</th><th>95% CI</th><th>definition</th><th>source</th>"
        f"</tr></thead><tbody>{body}</tbody></table>{_skipped(result)}</section>"
    )


def _skipped(result: AuditResult) -> str:
    if not result.skipped:
        return ""
    rows = "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>" for k, v in result.skipped.items())
    return (
        "<h3>Skipped metrics</h3><table><thead><tr><th>metric</th><th>reason</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _by_metric(frame: pd.DataFrame) -> pd.DataFrame:
    """A user-group table turned so that metrics are rows and groups columns (20 metrics fit a page)."""
    turned = frame.T.astype(object)
    turned.columns = [str(c) for c in turned.columns]
    if "n_users" in turned.index:
        turned.loc["n_users"] = [int(v) for v in frame["n_users"].to_numpy()]
    return turned.rename_axis("metric")


def _frames_section(
    heading: str, note: str, frames: dict[str, pd.DataFrame], *, turn: bool = False
) -> str:
    if not frames:
        return ""
    parts = [f'<section><h2>{_esc(heading)}</h2><p class="muted">{_esc(note)}</p>']
    for name, frame in frames.items():
        parts.append(f"<h3>{_esc(name)}</h3>{_table(_by_metric(frame) if turn else frame)}")
    parts.append("</section>")
    return "".join(parts)


def _with_ci(value: object, low: object, high: object) -> str:
    """``0.1234 [0.1000, 0.1500]``; the value alone when the interval is undefined."""
    text = format_value(value)
    if isinstance(low, float) and isinstance(high, float) and np.isfinite(low) and np.isfinite(high):
        text += f" [{format_value(low)}, {format_value(high)}]"
    return text


def _side_by_side(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """A long cold-start table (``column, metric, n_users, value, ci_low, ci_high``) turned so that metrics
    are rows and the values of ``column`` (settings or buckets) are columns, cells "value [low, high]",
    with a first row of users evaluated (those of the first metric: every accuracy metric has the same)."""
    order = list(dict.fromkeys(table[column]))
    bounds = zip(table["value"], table["ci_low"], table["ci_high"], strict=True)
    cells = table.assign(cell=[_with_ci(v, lo, hi) for v, lo, hi in bounds])
    turned = cells.pivot(index="metric", columns=column, values="cell").reindex(
        index=list(dict.fromkeys(table["metric"])), columns=order
    )
    first = table.drop_duplicates(column).set_index(column)["n_users"].reindex(order)
    users = pd.DataFrame([[format_value(int(n)) for n in first]], index=["users evaluated"], columns=order)
    out = pd.concat([users, turned.astype(object)])
    out.columns = [str(c) for c in out.columns]
    return out.rename_axis("metric")


def _coldstart_section(result: AuditResult) -> str:
    """Cold-start metrics, ColdRec's all/warm/cold table and the item-bucket tables (only when the audit
    computed them, i.e. some test item has no training interactions)."""
    if not result.coldstart:
        return ""
    family = set(registry.metric_names(family="coldstart"))
    names = [name for name in result.values if name.split("@")[0] in family]
    rows = "".join(
        f'<tr><td>{_esc(name)}</td><td class="num">'
        f'{_esc(_with_ci(result.values[name], *result.ci.get(name, (math.nan, math.nan))))}</td>'
        f"<td>{_esc(registry.metric_help(name))}</td></tr>"
        for name in names
    )
    parts = [
        "<section><h2>Cold start</h2>"
        '<p class="muted">Cold items C = catalogue items with no training interactions (docs/metrics.md, '
        "Cold start). Values with their 95% bootstrap interval over users.</p>"
        "<table><thead><tr><th>metric</th><th>value [95% CI]</th><th>definition</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    ]
    notes = {
        "settings": "ColdRec's settings: all = T_u as is; warm = T_u restricted to items with training "
        "interactions; cold = T_u restricted to C.",
        "item_buckets": "Accuracy with T_u restricted to the items of each bucket of training interaction "
        "count.",
        "bucket_exposure": "Exposure by the bucket of the items in the lists: slot share = Σ_u |L_u ∩ b| / "
        "Σ_u |L_u|; exposure share is position-weighted; list share = mean_u |L_u ∩ b| / |L_u|.",
    }
    for name, table in result.coldstart.items():
        kind = name.split("@")[0]
        if kind in ("settings", "item_buckets"):
            shown = _side_by_side(table, "setting" if kind == "settings" else "bucket")
        else:
            shown = table.set_index("bucket")
        parts.append(f'<h3>{_esc(name)}</h3><p class="muted">{_esc(notes.get(kind, ""))}</p>{_table(shown)}')
    parts.append("</section>")
    return "".join(parts)


def _transfer_section(result: AuditResult) -> str:
    """Cross-domain transfer (``info["crossdomain"]``, bundles trained with ``--transfer``): per target
    domain, every transfer's lift and share of users hurt for cold and warm users, with intervals; then the
    per-domain exposure of each transfer and the users' taste correlation across domains."""
    info = (result.info or {}).get("crossdomain")
    if not info:
        return ""
    parts = [
        "<section><h2>Cross-domain transfer</h2>"
        f'<p class="muted">Served transfer: {_esc(info.get("served"))}. Every list is ranked within the '
        "target domain's catalogue; each transfer is compared with the target-only model on the same test "
        "users (lift = ratio of mean ndcg minus 1; hurt = share of users with a lower ndcg; 95% bootstrap "
        "intervals over users). Cold = no training interaction in the target.</p>"
    ]
    for domain, tables in (info.get("tables") or {}).items():
        rows = []
        for mode, records in tables.items():
            for record in records:
                if record.get("group") not in ("cold", "warm"):
                    continue
                rows.append(
                    {
                        "transfer": mode, "users": record.get("group"), "n": record.get("n_users"),
                        "lift [95% CI]": _with_ci(
                            record.get("transfer_lift"), record.get("transfer_lift_low"),
                            record.get("transfer_lift_high"),
                        ),
                        "hurt [95% CI]": _with_ci(record.get("negative_transfer_rate"),
                                                  record.get("negative_transfer_rate_low"),
                                                  record.get("negative_transfer_rate_high")),
                    }
                )  # fmt: skip
        parts.append(f"<h3>target {_esc(domain)}</h3>{_table(pd.DataFrame(rows))}")
    exposure = pd.DataFrame(info.get("exposure") or [])
    if not exposure.empty:
        parts.append(f"<h3>Exposure per domain</h3>{_table(exposure)}")
    correlation = pd.DataFrame(info.get("preference_correlation") or [])
    if not correlation.empty:
        parts.append(f"<h3>Preference correlation across domains</h3>{_table(correlation)}")
    parts.append("</section>")
    return "".join(parts)


def _embedding_section(result: AuditResult) -> str:
    """Embedding health (``info["embedding"]`` from :func:`recaudit.metrics.embedding.embedding_audit`)."""
    audit = (result.info or {}).get("embedding")
    if not audit:
        return ""
    hubness = audit.get("hubness") or {}
    help_text = audit.get("help") or {}
    rows = [
        ("hubness (skewness of k-occurrence)", hubness.get("skewness"), help_text.get("hubness", "")),
        ("norm vs popularity (Spearman)", audit.get("norm_popularity_correlation"),
         help_text.get("norm_popularity_correlation", "")),
        ("anisotropy (mean cosine)", audit.get("anisotropy"), help_text.get("anisotropy", "")),
        ("effective dimensionality", audit.get("effective_dimensionality"),
         help_text.get("effective_dimensionality", "")),
    ]
    body = "".join(
        f"<tr><td>{_esc(name)}</td><td>{_esc(format_value(value))}</td><td>{_esc(why)}</td></tr>"
        for name, value, why in rows
    )
    return (
        f'<section><h2>Embedding health</h2><p class="muted">{_esc(audit.get("n_items"))} items, dim '
        f'{_esc(audit.get("dim"))}; kNN graph k = {_esc(hubness.get("k"))}.</p>'
        "<table><thead><tr><th>measure</th><th>value</th><th>what a bad value means</th></tr></thead>"
        f"<tbody>{body}</tbody></table></section>"
    )


def _figures_section(figures: dict[str, go.Figure]) -> str:
    if not figures:
        return ""
    parts = ["<section><h2>Figures</h2>"]
    for i, (name, fig) in enumerate(figures.items()):
        div = pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=(i == 0),
            include_mathjax=False,
            default_height="480px",
            config={"displaylogo": False, "responsive": True},
        )
        parts.append(f'<div class="figure"><h3>{_esc(name)}</h3>{div}</div>')
    parts.append("</section>")
    return "".join(parts)


def render_html(
    result: AuditResult,
    *,
    title: str,
    figures: dict[str, go.Figure] | None = None,
    gates: Sequence[Gate] | None = None,
) -> str:
    """The audit as one self-contained HTML page (offline; plotly.js embedded once; text escaped).

    Sections: the verdict first (title, the ``gates``' outcome, the headline metrics with intervals), then
    every metric (value, 95% CI, one-line definition from the registry, formula source), skipped metrics
    with reasons, user-group tables, item-group exposure tables, popularity lift,
    the cold-start section (only when some test item has no training interactions), the cross-domain
    transfer section (only for a bundle trained with ``--transfer``), embedding health, the figures
    (``{heading: figure}``, e.g. from :func:`default_figures`), and last the provenance (model name/kind,
    re-ranking, data and fingerprints, settings, created time, recaudit version).
    """
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    body = "".join(
        [
            _verdict(result, title, gates),
            _metrics_section(result),
            _frames_section(
                "User groups",
                "Mean of each user-level metric per group (users the metric leaves out are not counted); "
                "activity = training interactions, popularity = share of head items in the history "
                "(Abdollahpouri et al. 2020: niche bottom 20%, blockbuster top 20%).",
                result.user_groups,
                turn=True,
            ),
            _frames_section(
                "Item-group exposure",
                "exposure_share = Σ_g x_i / Σ x_i (position-weighted, e(r) = 1/log2(r+1)); catalog_share = "
                "|g ∩ I| / |I|; merit_share = share of test interactions; exposure_ratio = exposure / merit.",
                result.item_groups,
            ),
            _frames_section(
                "Popularity lift",
                "Abdollahpouri et al. 2020: φ′(i) = users(i)/n_users; GAP = group mean of the mean φ′ of the "
                "history (profile) or list (recommended); ΔGAP = (GAP_L − GAP_H) / GAP_H.",
                result.popularity_lift,
            ),
            _coldstart_section(result),
            _transfer_section(result),
            _embedding_section(result),
            _figures_section(figures or {}),
            _provenance(result, created),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title>"
        f"<style>{CSS}</style></head><body>{body}</body></html>\n"
    )


def render_comparison_html(comparison: Comparison, *, title: str, gates: Sequence[Gate] = ()) -> str:
    """The A vs B report as one self-contained HTML page: the verdict first (gates, then every metric's
    B − A with its 95% CI and p-value, the significant ones marked), then the users who gained and lost
    most on the lead metric, then each bundle's provenance. Text from the data is escaped."""
    from recaudit.workflows.gates import check_delta_gates

    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    c = comparison
    failures = check_delta_gates(c.deltas, gates)
    status = _gates_html(gates, failures, 'No gates were set (--fail-on "delta:ndcg@10<-0.01").')
    table = c.table.copy()
    table["95% CI of B − A"] = [
        "" if not math.isfinite(lo) else f"[{lo:+.4f}, {hi:+.4f}]"
        for lo, hi in zip(table.ci_low, table.ci_high, strict=True)
    ]
    table["significant"] = ["yes" if p == p and p < 0.05 else "" for p in table.p_value]
    columns = ["metric", "kind", "a", "b", "delta", "95% CI of B − A", "p_value", "significant", "n_users"]
    shown = table[columns]
    shown = shown.rename(columns={"a": f"A ({c.a})", "b": f"B ({c.b})", "delta": "B − A", "p_value": "p"})
    notes = "".join(f"<li>{_esc(n)}</li>" for n in c.notes)
    audits = ""
    if c.audits is not None:
        for label, audit in zip(("A", "B"), c.audits, strict=True):
            model = (audit.info or {}).get("model") or {}
            pairs = [(key, value) for key, value in model.items()] if isinstance(model, dict) else []
            audits += f"<h3>{label}: {_esc(model.get('bundle', '') if isinstance(model, dict) else '')}</h3>"
            audits += _kv_table(pairs + [("data", (audit.info or {}).get("data", {}))])
    body = (
        f'<section class="first"><h1>{_esc(title)}</h1>'
        f'<p class="muted">A = {_esc(c.a)}, B = {_esc(c.b)}; paired over the {c.n_shared:,} users both audit '
        f"at k = {c.k} (docs/metrics.md, Comparing two models). Per-user metrics: paired bootstrap CI and "
        "sign-flip p; catalogue metrics: users resampled and both recomputed, lists swapped per user for p."
        f"</p>{status}</section>"
        f"<section><h2>B − A, every metric</h2>{_table(shown)}"
        + (f"<ul>{notes}</ul>" if notes else "")
        + "</section>"
        f"<section><h2>For whom: B − A per user group</h2>{_table(c.user_groups)}</section>"
        f"<section><h2>Which items: exposure share per item group</h2>{_table(c.item_groups)}</section>"
        f"<section><h2>Who gained and who lost ({_esc(c.lead or 'n/a')})</h2>{_table(c.movers)}</section>"
        f"<section><h2>Provenance</h2>{audits}"
        + _kv_table(
            [("settings", c.settings), ("report created", created), ("recaudit version", __version__)]
        )
        + "</section>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title>"
        f"<style>{CSS}</style></head><body>{body}</body></html>\n"
    )


def _k_values(result: AuditResult) -> list[int]:
    ks = (result.info or {}).get("settings", {}).get("ks")
    if ks:
        return sorted(int(k) for k in ks)
    found = set()
    for name in list(result.values) + list(result.per_user.columns):
        tail = str(name).rsplit("@", 1)
        if len(tail) == 2 and tail[1].isdigit():
            found.add(int(tail[1]))
    return sorted(found)


def default_figures(result: AuditResult, inputs: AuditInputs | None = None) -> dict[str, go.Figure]:
    """The standard figures of a report, keyed by heading.

    With ``inputs`` (per cut-off k): the Lorenz curve of list counts ``c_i`` over the whole catalogue
    and the long-tail chart (training popularity vs exposure, short head marked). From the result alone:
    popularity lift per user-group table, exposure vs catalogue vs merit share per item-group table,
    the per-user miscalibration histogram and ndcg per activity / popularity group when those exist.
    """
    figures: dict[str, go.Figure] = {}
    if inputs is not None:
        for k in _k_values(result):
            if k > inputs.lists.k:
                continue
            counts = inputs.lists.truncate(k).exposure_counts()
            gini = result.values.get(f"gini@{k}")
            figures[f"Lorenz curve of exposure (k={k})"] = lorenz_chart(
                counts, gini=gini, title=f"Lorenz curve of exposure, top-{k} lists"
            )
            figures[f"Long tail (k={k})"] = long_tail_chart(
                inputs.item_popularity, counts, inputs.head_mask,
                title=f"Long tail: training popularity vs exposure, top-{k} lists",
            )
    for name, lift in result.popularity_lift.items():
        figures[f"Popularity lift ({name})"] = popularity_lift_chart(lift, title=f"Popularity lift, {name}")
    for name, table in result.item_groups.items():
        # group names are providers/categories/domains from the data: plotly would render tags in them
        figures[f"Group exposure ({name})"] = group_exposure_chart(
            table.assign(group=table["group"].map(plot_text)),
            title=f"Exposure vs catalogue vs merit share, {plot_text(name)}",
        )
    for column in result.per_user.columns:
        if str(column).startswith("miscalibration@"):
            figures[f"Miscalibration ({column})"] = miscalibration_hist(
                result.per_user[column].to_numpy(dtype=np.float64),
                title=f"Per-user {column} (Steck 2018)",
            )
    ndcg = [c for c in result.per_user.columns if str(c).startswith("ndcg@")]
    for group_name in ("activity", "popularity"):
        table = result.user_groups.get(group_name)
        if ndcg and table is not None and ndcg[0] in table.columns:
            figures[f"{ndcg[0]} by {group_name} group"] = group_metric_chart(
                table, ndcg[0], title=f"{ndcg[0]} per {group_name} group"
            )
    return figures


def to_json(result: AuditResult) -> str:
    """:meth:`AuditResult.to_dict` as strict JSON text (metric names at the top level, no NaN tokens)."""
    return dumps_json(result.to_dict())


def write_report(
    result: AuditResult,
    *,
    html: Path | None,
    json: Path | None,
    title: str,
    inputs: AuditInputs | None = None,
    figures: dict[str, go.Figure] | None = None,
    gates: Sequence[Gate] | None = None,
    pdf: Path | None = None,
) -> list[Path]:
    """Write the HTML report and/or the JSON result atomically; returns the paths written.

    ``figures`` default to :func:`default_figures` (``result`` and ``inputs``); ``gates`` open the report
    with their outcome; ``pdf`` also prints the page to PDF (:mod:`recaudit.report_pdf`, needs Chromium).
    """
    written: list[Path] = []
    if json is not None:
        written.append(atomic_write_text(json, to_json(result)))
    if html is not None or pdf is not None:
        figs = figures if figures is not None else default_figures(result, inputs)
        page = render_html(result, title=title, figures=figs, gates=gates)
        if html is not None:
            written.append(atomic_write_text(html, page))
        if pdf is not None:
            from recaudit.report_pdf import html_to_pdf

            html_to_pdf(page, pdf)
            written.append(Path(pdf))
    return written
