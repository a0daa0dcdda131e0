"""The Cold start page's tables and figures, without Streamlit: learning curves, where cold items land,
a typed-in item's reach and a new user's first list.

* :func:`curve_figure`, :func:`crossing_point`, :func:`crossing_sentence`: a learning curve (the new-item
  curve of :func:`recaudit.workflows.coldstart.new_item_curve`, the new-user curve of
  :func:`recaudit.workflows.coldstart.new_user_curve`) as lines with 95% bands over n, and the n from which
  a method stays above a baseline (GroupLens found the best algorithm needed 2-3 ratings to beat the
  average-rating baseline; the page says where ours crosses popularity).
* :func:`cold_rank_table`, :func:`landing_summary`, :func:`rank_histogram`: the positions cold items
  (no training interactions, :func:`recaudit.metrics.coldstart.cold_items`) take in top-k lists over the
  full catalogue, the share of lists holding any, and ``cold_exposure_share``.
* :func:`new_item_frame`, :func:`embedding_summary`, :func:`nearest_items`, :func:`new_item_scores`,
  :func:`users_reached`: a new item described on the page, its vector's norm against the catalogue's, its
  nearest items, and the users whose top-k it would enter (its score beats their k-th best) at which rank.
* :func:`onboarding_list`: the top-k of a new user folded in from the items picked so far, marking what the
  last pick brought in.

Figures end with :func:`recaudit.viz.layout.finish_layout` like every other figure; text from data files
becomes plotly text through :func:`recaudit.textsafe.plot_text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from recaudit.config import ScoreFunction
from recaudit.data.schema import CATEGORY, DOMAIN, ITEM_ID, TEXT, TITLE, USER_ID, split_categories
from recaudit.metrics.coldstart import cold_exposure_share
from recaudit.metrics.lists import RecLists
from recaudit.textsafe import plot_text
from recaudit.vectors import unit_rows
from recaudit.viz.layout import finish_layout

if TYPE_CHECKING:
    from recaudit.scoring.scorers import Recommendations

__all__ = [
    "METHOD_COLOURS",
    "METHOD_LABELS",
    "NEW_ITEM_ID",
    "blend_sentence",
    "category_options",
    "cold_rank_table",
    "crossing_point",
    "crossing_sentence",
    "curve_figure",
    "embedding_summary",
    "landing_summary",
    "map_label",
    "nearest_items",
    "new_item_frame",
    "new_item_scores",
    "onboarding_list",
    "rank_histogram",
    "users_reached",
]

METHOD_LABELS: dict[str, str] = {
    "content": "content",
    "collaborative": "collaborative",
    "blend": "blend",
    "foldin": "fold-in",
    "meta": "learned prior (meta)",
    "popularity": "popularity",
}
"""How each curve method is named in legends and captions."""
METHOD_COLOURS: dict[str, str] = {
    "content": "#dd8452",
    "collaborative": "#4c72b0",
    "blend": "#55a868",
    "foldin": "#4c72b0",
    "meta": "#8172b3",
    "popularity": "#8c8c8c",
}
FALLBACK_COLOURS = ("#c44e52", "#937860", "#da8bc3", "#64b5cd")
NEW_ITEM_ID = "new item"
"""The item id the playground gives the typed-in item (it is never looked up in the catalogue)."""
COLD_COLOUR = "#1f77b4"


def _label(method: str) -> str:
    return METHOD_LABELS.get(method, str(method))


def _rgba(colour: str, alpha: float) -> str:
    """``#rrggbb`` as ``rgba(r, g, b, alpha)`` (the CI band's fill)."""
    value = colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha})"


# --------------------------------------------------------------------------------------------------
# learning curves


def curve_figure(curve: pd.DataFrame, metric: str, *, title: str) -> go.Figure:
    """One line per method of ``curve`` (tidy: ``method, n, <metric>, ci_low, ci_high``) over n, each with
    its 95% interval as a shaded band; x is the number of interactions revealed.

    The band is drawn as two invisible bound traces (upper, then lower filled ``tonexty``) before the line,
    so hovering the line shows the value and the band never hides it. Methods keep their order in
    ``curve``; the x ticks are the measured n.
    """
    fig = go.Figure()
    methods = list(dict.fromkeys(curve["method"].astype(str)))
    for position, method in enumerate(methods):
        part = curve[curve["method"].astype(str) == method].sort_values("n")
        colour = METHOD_COLOURS.get(method, FALLBACK_COLOURS[position % len(FALLBACK_COLOURS)])
        x = part["n"].to_numpy(dtype=np.int64)
        name = _label(method)
        fig.add_trace(go.Scatter(
            x=x, y=part["ci_high"].to_numpy(dtype=np.float64), mode="lines", line={"width": 0},
            showlegend=False, hoverinfo="skip", legendgroup=method, name=f"{name} 95% upper",
        ))
        fig.add_trace(go.Scatter(
            x=x, y=part["ci_low"].to_numpy(dtype=np.float64), mode="lines", line={"width": 0},
            fill="tonexty", fillcolor=_rgba(colour, 0.12), showlegend=False, hoverinfo="skip",
            legendgroup=method, name=f"{name} 95% lower",
        ))
        fig.add_trace(go.Scatter(
            x=x, y=part[metric].to_numpy(dtype=np.float64), mode="lines+markers", name=name,
            legendgroup=method, line={"color": colour, "width": 2.5},
            marker={"color": colour, "size": 7},
            hovertemplate=f"{name}<br>n = %{{x}}<br>{metric} = %{{y:.4f}}<extra></extra>",
        ))
    ns = sorted({int(n) for n in curve["n"]})
    k = curve.attrs.get("k")
    fig.update_layout(
        title={"text": title},
        xaxis={"title": {"text": "interactions revealed (n)"}, "tickmode": "array", "tickvals": ns},
        yaxis={"title": {"text": f"{metric}@{k}" if k else metric}, "rangemode": "tozero"},
        height=420,
    )
    return finish_layout(fig)


def _series(curve: pd.DataFrame, method: str, column: str) -> pd.Series:
    part = curve[curve["method"].astype(str) == method]
    return part.set_index("n")[column].astype(np.float64).sort_index()


def crossing_point(
    curve: pd.DataFrame, metric: str, method: str, baseline: str = "popularity", *, separated: bool = False
) -> int | None:
    """The smallest measured n from which ``method`` stays above ``baseline`` at every larger measured n.

    Above means ``metric(method) > metric(baseline)``; with ``separated``, the 95% intervals apart
    (``ci_low(method) > ci_high(baseline)``). None when the method is not above at the largest n (it never
    settles above the baseline within the measured range) or either method is missing.
    """
    if method == baseline:
        return None
    if separated:
        mine, theirs = _series(curve, method, "ci_low"), _series(curve, baseline, "ci_high")
    else:
        mine, theirs = _series(curve, method, metric), _series(curve, baseline, metric)
    common = mine.index.intersection(theirs.index)
    if common.empty:
        return None
    above = (mine.loc[common] > theirs.loc[common]).to_numpy()
    if not above[-1]:
        return None
    first = len(above)
    while first > 0 and above[first - 1]:
        first -= 1
    return int(common[first])


def crossing_sentence(curve: pd.DataFrame, metric: str, baseline: str = "popularity") -> str:
    """One sentence per method of ``curve`` other than ``baseline``: from which n it stays above it, with
    both values there, and from which n the 95% intervals separate (:func:`crossing_point`).

    Returns "" when ``baseline`` is not in the curve.
    """
    methods = list(dict.fromkeys(curve["method"].astype(str)))
    if baseline not in methods:
        return ""
    largest = int(curve["n"].max())
    base = _label(baseline)
    parts = []
    for method in methods:
        if method == baseline:
            continue
        name = _label(method)
        n = crossing_point(curve, metric, method, baseline)
        if n is None:
            parts.append(f"{name} is not above {base} at n = {largest}")
            continue
        mine = _series(curve, method, metric).loc[n]
        theirs = _series(curve, baseline, metric).loc[n]
        start = "at every n" if n == int(curve["n"].min()) else f"from n = {n}"
        text = f"{name} beats {base} {start} ({metric} {mine:.3f} vs {theirs:.3f})"
        apart = crossing_point(curve, metric, method, baseline, separated=True)
        text += (
            "; the 95% intervals never separate" if apart is None
            else f"; the 95% intervals separate from n = {apart}"
        )
        parts.append(text)
    return ". ".join(p[0].upper() + p[1:] for p in parts) + "." if parts else ""


def blend_sentence(curve: pd.DataFrame, metric: str) -> str:
    """Where the blend stands against the better of its two parts (``content``, ``collaborative``) at each
    measured n: issue 10 asks that it is never below it. "" when one of the three methods is missing."""
    methods = set(curve["method"].astype(str))
    if not {"blend", "content", "collaborative"} <= methods:
        return ""
    blended = _series(curve, "blend", metric)
    best = pd.concat(
        [_series(curve, "content", metric), _series(curve, "collaborative", metric)], axis=1
    ).max(axis=1)
    common = blended.index.intersection(best.index)
    below = [int(n) for n in common if blended.loc[n] < best.loc[n] - 1e-12]
    if not below:
        return "The blend is at least as good as the better of content and collaborative at every n."
    listed = ", ".join(str(n) for n in below)
    return f"The blend is below the better of content and collaborative at n = {listed}."


# --------------------------------------------------------------------------------------------------
# where cold items land


def cold_rank_table(items: np.ndarray, cold: np.ndarray) -> pd.DataFrame:
    """Per list position 1..k: the lists holding an item there (``filled``), those holding a cold item
    (``cold``), the cold share of that position's slots and each position's share of all cold slots.

    ``items`` is ``[U, k]`` catalogue rows (``-1`` pads a short list, as
    :attr:`recaudit.scoring.scorers.Recommendations.item_index`); ``cold`` the ``[I]`` mask of items
    without training interactions.
    """
    items = np.asarray(items, dtype=np.int64)
    cold = np.asarray(cold, dtype=bool)
    filled = items >= 0
    is_cold = np.where(filled, cold[np.maximum(items, 0)], False)
    per_position = is_cold.sum(axis=0).astype(np.int64)
    filled_count = filled.sum(axis=0).astype(np.int64)
    total = int(per_position.sum())
    return pd.DataFrame({
        "position": np.arange(1, items.shape[1] + 1, dtype=np.int64),
        "filled": filled_count,
        "cold": per_position,
        "cold_share_of_position": np.where(
            filled_count > 0, per_position / np.maximum(filled_count, 1), np.nan
        ),
        "share_of_cold_slots": per_position / total if total else np.full(len(per_position), np.nan),
    })


def landing_summary(lists: RecLists, cold: np.ndarray) -> dict[str, Any]:
    """How many lists carry a cold item: ``n_lists`` (non-empty lists), ``lists_with_cold`` and its share
    ``share_with_cold``, ``cold_slots``, ``cold_exposure_share`` (Σ_u |L_u ∩ C| / Σ_u |L_u|,
    :func:`recaudit.metrics.coldstart.cold_exposure_share`), ``n_cold_items`` and ``catalog_cold_share``
    (|C| / |I|, what an even spread of slots would give) and ``cold_items_shown`` (distinct cold items in
    any list). Shares are NaN without a non-empty list."""
    cold = np.asarray(cold, dtype=bool)
    mask = lists.mask
    is_cold = np.where(mask, cold[np.maximum(lists.items, 0)], False)
    non_empty = mask.any(axis=1)
    with_cold = is_cold.any(axis=1)
    n_lists = int(non_empty.sum())
    return {
        "n_lists": n_lists,
        "lists_with_cold": int(with_cold.sum()),
        "share_with_cold": float(with_cold[non_empty].mean()) if n_lists else float("nan"),
        "cold_slots": int(is_cold.sum()),
        "cold_exposure_share": cold_exposure_share(lists, cold),
        "n_cold_items": int(cold.sum()),
        "catalog_cold_share": float(cold.mean()) if cold.size else float("nan"),
        "cold_items_shown": int(np.unique(lists.items[is_cold]).size),
    }


def rank_histogram(table: pd.DataFrame, *, title: str) -> go.Figure:
    """Bars of :func:`cold_rank_table`'s ``cold`` count per list position (1 = top)."""
    fig = go.Figure(go.Bar(
        x=table["position"].to_numpy(dtype=np.int64),
        y=table["cold"].to_numpy(dtype=np.int64),
        name="lists with a cold item here",
        marker={"color": COLD_COLOUR},
        customdata=np.column_stack([table["cold_share_of_position"].to_numpy(dtype=np.float64)]),
        hovertemplate="position %{x}: %{y:,} lists (%{customdata[0]:.1%} of that position)<extra></extra>",
    ))
    fig.update_layout(
        title={"text": title},
        xaxis={
            "title": {"text": "position in the top-k list (1 = top)"},
            "tickmode": "array", "tickvals": table["position"].tolist(),
        },
        yaxis={"title": {"text": "lists with a cold item there"}, "rangemode": "tozero"},
        height=380,
        bargap=0.15,
    )
    return finish_layout(fig)


# --------------------------------------------------------------------------------------------------
# a new item


def category_options(items: pd.DataFrame) -> list[str]:
    """Every single category of the catalogue (``"a|b"`` split), sorted; empty without a category column."""
    if CATEGORY not in items.columns:
        return []
    found: set[str] = set()
    for value in items[CATEGORY].dropna().astype(str).unique():
        found.update(split_categories(value))
    return sorted(c for c in found if c)


def new_item_frame(title: str, text: str, category: str | None, *, domain: str | None = None) -> pd.DataFrame:
    """The one-row items table of a typed-in item (``item_id`` :data:`NEW_ITEM_ID`, ``title``, ``text``,
    ``category`` and, when given, ``domain``), as
    :meth:`recaudit.models.coldstart.TrainedColdStart.encode_items` takes it; empty strings become missing
    values."""
    def value(s: str | None) -> str | None:
        s = (s or "").strip()
        return s or None

    row = {ITEM_ID: [NEW_ITEM_ID], TITLE: [value(title)], TEXT: [value(text)], CATEGORY: [value(category)]}
    if value(domain) is not None:
        row[DOMAIN] = [value(domain)]
    return pd.DataFrame(row)


def embedding_summary(vector: np.ndarray, bias: float | None, item_emb: np.ndarray) -> dict[str, float]:
    """The new vector's L2 ``norm`` beside the catalogue's ``median_norm`` and the share of catalogue items
    with a smaller norm (``norm_percentile``, in [0, 1]), and its ``bias`` (NaN without one): under a dot
    score a content vector far shorter than the catalogue's would never reach a top-k list."""
    norms = np.linalg.norm(np.asarray(item_emb, dtype=np.float64), axis=1)
    norm = float(np.linalg.norm(np.asarray(vector, dtype=np.float64)))
    return {
        "norm": norm,
        "median_norm": float(np.median(norms)) if norms.size else float("nan"),
        "norm_percentile": float((norms < norm).mean()) if norms.size else float("nan"),
        "bias": float("nan") if bias is None else float(bias),
    }


def _ranked_items(items: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """``rank, item_id`` (and ``title``, ``category`` where the items table has them) of catalogue
    ``rows`` in list order."""
    out = pd.DataFrame({
        "rank": np.arange(1, len(rows) + 1, dtype=np.int64),
        ITEM_ID: items[ITEM_ID].astype(str).to_numpy()[rows],
    })
    for column in (TITLE, CATEGORY):
        if column in items.columns:
            out[column] = items[column].to_numpy(dtype=object)[rows]
    return out


def nearest_items(
    vector: np.ndarray, item_emb: np.ndarray, items: pd.DataFrame, popularity: np.ndarray, n: int = 10
) -> pd.DataFrame:
    """The ``n`` catalogue items most cosine-similar to ``vector`` (exact): ``rank, item_id, title,
    category, similarity, interactions`` (training interactions φ(i); 0 marks a cold item)."""
    table = unit_rows(np.asarray(item_emb, dtype=np.float32))
    query = unit_rows(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
    sims = table @ query
    n = min(int(n), len(sims))
    top = np.argpartition(-sims, n - 1)[:n] if n < len(sims) else np.arange(len(sims))
    top = top[np.lexsort((top, -sims[top]))]  # by similarity, ties by row
    out = _ranked_items(items, top)
    out["similarity"] = np.round(sims[top].astype(np.float64), 4)
    out["interactions"] = np.asarray(popularity, dtype=np.int64)[top]
    return out


def new_item_scores(
    user_emb: np.ndarray, vector: np.ndarray, bias: float | None, score: ScoreFunction, *, with_bias: bool
) -> np.ndarray:
    """``[U]`` every user's score of a new item, by the formula the bundle's scorer ranks with
    (:class:`recaudit.scoring.ExactScorer`): ``u·v`` (``dot``) or ``cos(u, v)`` (``cosine``), plus the item's
    bias when the bundle scores with item biases (``with_bias``), so it compares with the users' top-k
    scores."""
    users = np.asarray(user_emb, dtype=np.float32)
    item = np.asarray(vector, dtype=np.float32).reshape(1, -1)
    if score == "cosine":
        users, item = unit_rows(users), unit_rows(item)
    scores = (users @ item[0]).astype(np.float32)
    if with_bias and bias is not None:
        scores = scores + np.float32(bias)
    return scores


def users_reached(new_scores: np.ndarray, top_scores: np.ndarray, user_ids: Sequence[str]) -> pd.DataFrame:
    """The users whose top-k the new item would enter, and at which rank.

    A user is reached when the item's score beats (>) the k-th best score of their list over the catalogue
    (seen items excluded; a list shorter than k, padded with ``-inf``, is entered by any finite score); it
    would then take rank ``1 + #{top-k scores > its score}``. ``top_scores`` is ``[U, k]`` sorted
    descending (:attr:`recaudit.scoring.scorers.Recommendations.scores`), ``new_scores`` ``[U]``
    (:func:`new_item_scores`). Returns ``user_id, rank, score, kth_score``, by rank then score descending.
    """
    top = np.asarray(top_scores, dtype=np.float32)
    new = np.asarray(new_scores, dtype=np.float32).reshape(-1)
    if top.shape[0] != new.shape[0]:
        raise ValueError(f"{new.shape[0]} new scores for {top.shape[0]} lists")
    kth = top[:, -1] if top.shape[1] else np.full(len(new), -np.inf, np.float32)
    reached = np.isfinite(new) & (new > kth)
    ranks = 1 + (top > new[:, None]).sum(axis=1)
    out = pd.DataFrame({
        USER_ID: np.asarray(user_ids, dtype=object)[reached].astype(str),
        "rank": ranks[reached].astype(np.int64),
        "score": np.round(new[reached].astype(np.float64), 4),
        "kth_score": np.round(kth[reached].astype(np.float64), 4),
    })
    out = out.sort_values(["rank", "score", USER_ID], ascending=[True, False, True], kind="mergesort")
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# a new user


class _Solver(Protocol):
    def fit(self, history: Sequence[int] | np.ndarray) -> np.ndarray: ...


class _VectorScorer(Protocol):
    def recommend_vectors(
        self, vectors: np.ndarray, k: int = 10, *, exclude: Sequence[np.ndarray] | None = None,
        candidates: np.ndarray | None = None, labels: Sequence[str] | None = None,
    ) -> Recommendations: ...


def onboarding_list(
    scorer: _VectorScorer, solver: _Solver, rows: Sequence[int], k: int, items: pd.DataFrame
) -> pd.DataFrame:
    """The top-k of a new user whose history is the catalogue ``rows`` picked so far, in pick order.

    The user vector is ``solver.fit(rows)`` (:func:`recaudit.models.newusers.new_user_solver`: fold-in or
    the learned prior), ranked by ``scorer`` over the catalogue with the picked items excluded. ``new``
    marks the items the last pick brought into the list (every item when only one was picked; none
    without picks). Returns ``rank, item_id, title, category, score, new``.
    """
    picked = np.asarray(list(rows), dtype=np.int64)

    def top(history: np.ndarray) -> Recommendations:
        vector = solver.fit(history).reshape(1, -1)
        return scorer.recommend_vectors(vector, k, exclude=[history], labels=["new user"])

    recs = top(picked)
    index = recs.item_index[0]
    keep = index >= 0
    shown = index[keep]
    before: set[int] = set()
    if len(picked) > 1:
        previous = top(picked[:-1]).item_index[0]
        before = {int(r) for r in previous[previous >= 0]}
    out = _ranked_items(items, shown)
    out["score"] = np.round(recs.scores[0][keep].astype(np.float64), 4)
    out["new"] = [len(picked) > 0 and int(r) not in before for r in shown]
    return out


def map_label(title: object, item_id: object) -> str:
    """A map hover label ``title (id)`` made plotly-safe."""
    return f"{plot_text(title)} ({plot_text(item_id)})"
