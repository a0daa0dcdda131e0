"""Audit a bundle: its recommendations for the held-out users, optionally re-ranked, through every metric.

``audit_bundle`` is what ``recaudit audit`` and the app's audit pages run: score the bundle's test users
(seen items excluded), optionally re-rank a candidate pool with a re-ranker spec such as ``"mmr:0.3"``, align
the lists with the bundle's train/test split and catalogue, and evaluate the full metric set with bootstrap
CIs. ``rerank_frontier`` sweeps λ for one re-ranker and returns the metrics per λ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from recaudit.bundle import Bundle
from recaudit.data.schema import CATEGORY, ITEM_ID, PROVIDER, RANK, SCORE, USER_ID
from recaudit.errors import RecauditInputError
from recaudit.metrics.embedding import embedding_audit
from recaudit.metrics.engine import AuditResult, evaluate
from recaudit.metrics.inputs import AuditInputs
from recaudit.metrics.lists import RecLists, membership_matrix
from recaudit.metrics.registry import metric_names
from recaudit.rerank import history_distribution, parse_spec, rerank, tail_preference

DEFAULT_POOL = 100


def audit_users(bundle: Bundle) -> np.ndarray:
    """The users an audit covers by default: the bundle's held-out users that the model knows, as
    strings, sorted; empty when the bundle has none (the pages say so, :func:`_default_users` raises)."""
    if bundle.test is None or bundle.test.empty:
        return np.zeros(0, dtype=object)
    users = np.sort(bundle.test[USER_ID].astype(str).unique())
    # a set lookup, not np.isin: isin over object arrays compares pairwise (1.2 s at 4,750 users, and
    # every audit page calls this on each run)
    known = set(np.asarray(bundle.user_ids, dtype=str).tolist())
    return users[np.fromiter((u in known for u in users), bool, len(users))].astype(object)


def _default_users(bundle: Bundle) -> np.ndarray:
    """:func:`audit_users`, or one clear error when there is nobody to audit."""
    users = audit_users(bundle)
    if users.size == 0:
        raise RecauditInputError(
            bundle.path, "the bundle has no held-out test interactions to audit (of users the model knows)"
        )
    return users


def rerank_inputs(bundle: Bundle, users: np.ndarray) -> dict[str, Any]:
    """Everything any re-ranker may need, aligned with ``users`` and the bundle's item rows."""
    rows = bundle.user_row.loc[list(users)].to_numpy()
    history = bundle.seen[rows]
    inputs: dict[str, Any] = {"item_vectors": bundle.item_emb}
    popularity = bundle.item_popularity
    from recaudit.metrics.popularity import head_items

    head = head_items(popularity, item_ids=bundle.item_ids)
    inputs["head_mask"] = head
    inputs["user_tail_pref"] = tail_preference(history, head)
    if CATEGORY in bundle.items.columns:
        categories, _ = membership_matrix(bundle.items[CATEGORY].to_numpy(dtype=object), multi=True)
        inputs["categories"] = categories
        inputs["history_dist"] = history_distribution(history, categories)
    group_column = PROVIDER if PROVIDER in bundle.items.columns else CATEGORY
    if group_column in bundle.items.columns:
        membership, _ = membership_matrix(
            bundle.items[group_column].to_numpy(dtype=object), multi=group_column == CATEGORY
        )
        inputs["membership"] = membership
        # target: each group's catalogue share (exposure proportional to catalogue presence)
        inputs["target_share"] = np.asarray(membership.sum(axis=0)).ravel() / max(len(bundle.items), 1)
    return inputs


def _frame(lists: RecLists, scores: np.ndarray | None, item_ids: np.ndarray) -> pd.DataFrame:
    mask = lists.mask
    users = np.repeat(lists.user_ids, mask.sum(axis=1))
    ranks = np.broadcast_to(np.arange(1, lists.k + 1), lists.items.shape)[mask]
    frame = pd.DataFrame({USER_ID: users, ITEM_ID: item_ids[lists.items[mask]], RANK: ranks})
    frame[SCORE] = scores[mask] if scores is not None else np.nan
    return frame


def bundle_recommendations(
    bundle: Bundle,
    k: int,
    *,
    rerank: str | None = None,  # noqa: A002 - the CLI's word
    users: Sequence[str] | None = None,
    pool: int | None = None,
) -> pd.DataFrame:
    """Top-k of the bundle for ``users`` (default: its held-out users), seen items excluded.

    With ``rerank`` (e.g. ``"mmr:0.3"``) the top ``pool`` candidates (default max(100, 5k)) are re-ranked
    to k; the ``score`` column then holds the base model's score of each chosen item.
    """
    users_arr = _default_users(bundle) if users is None else np.asarray(list(users), dtype=object)
    scorer = bundle.exact_scorer()
    if rerank is None or parse_spec(rerank)[0] == "none":
        frames = [
            scorer.recommend(list(users_arr[s : s + 4096]), k=k).to_frame()
            for s in range(0, len(users_arr), 4096)
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=[USER_ID, ITEM_ID, RANK, SCORE]
        )
    pools = _candidate_pools(bundle, users_arr, pool or max(DEFAULT_POOL, 5 * k))
    return _reranked_frame(bundle, pools, rerank, k)


CandidatePools = list[tuple[np.ndarray, Any, dict[str, Any]]]
"""Per chunk of users: the users, their base top-``pool`` (a scorer batch) and the re-rankers' inputs."""


def _candidate_pools(bundle: Bundle, users: np.ndarray, pool: int, chunk: int = 4096) -> CandidatePools:
    scorer = bundle.exact_scorer()
    return [
        (part, scorer.recommend(list(part), k=pool), rerank_inputs(bundle, part))
        for part in (users[start : start + chunk] for start in range(0, len(users), chunk))
    ]


def _reranked_frame(bundle: Bundle, pools: CandidatePools, spec: str, k: int) -> pd.DataFrame:
    """The re-ranked top-k of every chunk's candidate pool, as ``user_id, item_id, rank, score``."""
    out = []
    for chunk, base, inputs in pools:
        lists = _rerank_call(spec, base.item_index, base.scores, k, inputs, chunk, bundle.item_ids)
        out.append(_frame(lists, _pool_scores(base.item_index, base.scores, lists.items), bundle.item_ids))
    return pd.concat(out, ignore_index=True)


def _pool_scores(pool_items: np.ndarray, pool_scores: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """The base score of each chosen item, looked up in its user's candidate pool (NaN for padding)."""
    rows = np.arange(len(chosen))
    out = np.full(chosen.shape, np.nan)
    for col in range(chosen.shape[1]):
        match = (pool_items == chosen[:, [col]]) & (chosen[:, [col]] >= 0)
        found = match.any(axis=1)
        out[found, col] = pool_scores[rows[found], match[found].argmax(axis=1)]
    return out


def _rerank_call(
    spec: str,
    candidates: np.ndarray,
    scores: np.ndarray,
    k: int,
    inputs: dict[str, Any],
    users: np.ndarray,
    item_ids: np.ndarray,
) -> RecLists:
    name, _ = parse_spec(spec)
    if name == "calibrated" and "categories" not in inputs:
        raise RecauditInputError(spec, "calibrated re-ranking needs item categories in the bundle")
    return rerank(spec, candidates, scores, k, user_ids=users, item_ids=item_ids, **inputs)


def audit_inputs(
    bundle: Bundle, recs: pd.DataFrame, *, k: int | None = None, users: Sequence[str] | None = None
) -> AuditInputs:
    """Align a bundle's recommendations with its split, catalogue and item vectors.

    With ``users`` (a sample), only their test interactions count, so users outside the sample do not
    enter the accuracy means as users without a list.
    """
    if bundle.train is None or bundle.train.empty:
        raise RecauditInputError(bundle.path, "the bundle has no training interactions to audit against")
    test = bundle.test
    if users is not None and test is not None:
        test = test[test[USER_ID].astype(str).isin(set(map(str, users)))]
    return AuditInputs.from_frames(
        recs, bundle.train, test=test, items=bundle.items, item_emb=bundle.item_emb, k=k,
        source=str(bundle.path),
    )


def cold_recommendations(bundle: Bundle, inputs: AuditInputs) -> pd.DataFrame | None:
    """Lists ranked over the cold items only (``cold_item_recall_among_cold``), for the audited users the
    model knows: the bundle's scorer with its candidates restricted to the catalogue items without
    training interactions (docs/metrics.md "Cold start"). None when no test item is cold.

    They are the base model's lists (never re-ranked), ``inputs.lists.k`` long or shorter when there are
    fewer cold items.
    """
    if not inputs.has_cold_test:
        return None
    cold_ids = set(map(str, inputs.lists.item_ids[inputs.cold_items]))
    candidates = np.isin(np.asarray(bundle.item_ids, dtype=str), list(cold_ids))
    known = set(map(str, bundle.user_ids))
    users = [u for u in map(str, inputs.lists.user_ids) if u in known]
    scorer = bundle.exact_scorer()
    k = min(inputs.lists.k, int(candidates.sum()))
    if k == 0:  # the scorer knows none of the cold items: the metric is skipped, not reported as 0
        return None
    frames = [
        scorer.recommend(users[s : s + 4096], k=k, candidates=candidates).to_frame()
        for s in range(0, len(users), 4096)
    ]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[USER_ID, ITEM_ID, RANK])
    return frame.dropna(subset=[ITEM_ID])


def with_cold_lists(bundle: Bundle, inputs: AuditInputs) -> AuditInputs:
    """``inputs`` with :attr:`AuditInputs.cold_lists` from :func:`cold_recommendations` (a copy; the same
    object when it already has them or no test item is cold)."""
    if inputs.cold_lists is not None:
        return inputs
    recs = cold_recommendations(bundle, inputs)
    if recs is None:
        return inputs
    lists = RecLists.from_frame(
        recs, inputs.lists.item_ids, k=inputs.lists.k, users=inputs.lists.user_ids, source=str(bundle.path)
    )
    return replace(inputs, cold_lists=lists)


def audit_bundle(
    bundle: Bundle,
    k: int = 10,
    *,
    rerank: str | None = None,  # noqa: A002
    users: Sequence[str] | None = None,
    ci: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    metrics: Sequence[str] | None = None,
    inputs_out: list[AuditInputs] | None = None,
    inputs: AuditInputs | None = None,
) -> AuditResult:
    """The full audit of a bundle at cut-off ``k`` (see the module docstring).

    ``inputs_out``, when given, receives the aligned inputs the audit ran on (for charts that need the
    lists themselves, without scoring the users a second time). ``inputs``, when given, are lists
    already aligned by :func:`audit_inputs` for the same ``k``, ``rerank`` and ``users`` (the app has
    them cached): the users are then not scored again. When some test item has no training interactions,
    the users are also ranked over the cold items only (:func:`with_cold_lists`), for
    ``cold_item_recall_among_cold``.
    """
    if rerank is not None:
        parse_spec(rerank)  # fail on a bad spec before any work
    if inputs is None:
        recs = bundle_recommendations(bundle, k, rerank=rerank, users=users)
        inputs = audit_inputs(bundle, recs, k=k, users=users)
    inputs = with_cold_lists(bundle, inputs)  # lists ranked among cold items, when some test item is cold
    if inputs_out is not None:
        inputs_out.append(inputs)
    result = evaluate(inputs, metrics, ks=(k,), ci=ci, n_boot=n_boot, seed=seed)
    manifest = bundle.manifest
    result.info["model"] = {
        "bundle": bundle.name,
        "kind": manifest.get("model", {}).get("kind"),
        "config": manifest.get("model", {}).get("config", {}),
        "train_fingerprint": manifest.get("data", {}).get("train_fingerprint"),
        "created": manifest.get("created"),
    }
    result.info["rerank"] = rerank
    result.info["embedding"] = embedding_audit(bundle.item_emb, bundle.item_popularity, seed=seed)
    _transfer_audit(result, bundle, k, n_boot=n_boot, seed=seed)
    return result


def _transfer_audit(result: AuditResult, bundle: Bundle, k: int, *, n_boot: int, seed: int) -> None:
    """A bundle with a cross-domain model: the served transfer's values (worst target domain) and the
    per-domain tables (:mod:`recaudit.workflows.crossdomain`); otherwise the transfer metrics are skipped."""
    from recaudit.workflows.crossdomain import evaluate_transfer, headline_values

    names = [f"{name}@{k}" for name in metric_names(family="crossdomain")]
    if bundle.crossdomain is None or bundle.test is None or bundle.test.empty:
        why = "needs a bundle trained with --transfer" if bundle.crossdomain is None else "needs test"
        result.skipped.update({name: why for name in names})
        return
    evaluation = evaluate_transfer(bundle, k, n_boot=n_boot, seed=seed)
    values = headline_values(evaluation)
    result.values.update({name: values[name] for name in names if name in values})  # catalogue order
    for name in names:
        if name not in values:
            result.skipped[name] = f"transfer {evaluation.served!r} has no such group in the test users"
    result.info["crossdomain"] = {
        "served": evaluation.served,
        "tables": {
            domain: {mode: table.to_dict("records") for mode, table in tables.items()}
            for domain, tables in evaluation.tables.items()
        },
        "exposure": evaluation.exposure.to_dict("records"),
        "preference_correlation": evaluation.correlation.to_dict("records"),
    }


def rerank_frontier(
    bundle: Bundle,
    k: int,
    spec_name: str,
    lambdas: Sequence[float],
    *,
    users: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> pd.DataFrame:
    """Metrics of ``spec_name`` re-ranking at each λ (one row per λ), on the same users.

    ``metrics`` default to :func:`frontier_metrics` at ``k``.

    The users' candidate pools are scored once and re-ranked at every λ (the lists are the same as
    :func:`bundle_recommendations` with ``rerank=f"{spec_name}:{λ}"``). ``progress(step, fraction)``
    is told which λ is being evaluated.
    """
    report = progress or (lambda _step, _fraction: None)
    metrics = frontier_metrics(k) if metrics is None else list(metrics)
    report("scoring the candidate pools", 0.0)
    pools = frontier_pools(bundle, k, users=users)
    rows = []
    for step, value in enumerate(lambdas):
        report(f"{spec_name}:{value:g} ({step + 1} of {len(lambdas)})", step / max(len(lambdas), 1))
        rows.append(frontier_point(bundle, pools, k, spec_name, value, users=users, metrics=metrics))
    report("frontier ready", 1.0)
    return pd.DataFrame(rows)


def frontier_metrics(k: int) -> list[str]:
    """The trade-off frontier's metrics at ``k``: accuracy (``ndcg``, its x axis) and the catalogue's
    ``frontier`` set (:func:`recaudit.metrics.registry.metric_names`), its y axes."""
    return [f"ndcg@{k}"] + [f"{name}@{k}" for name in metric_names(set="frontier")]


def frontier_pools(bundle: Bundle, k: int, *, users: Sequence[str] | None = None) -> CandidatePools:
    """The candidate pools a λ sweep re-ranks (scored once; read-only, shared by every λ)."""
    users_arr = _default_users(bundle) if users is None else np.asarray(list(users), dtype=object)
    return _candidate_pools(bundle, users_arr, max(DEFAULT_POOL, 5 * k))


def frontier_point(
    bundle: Bundle,
    pools: CandidatePools,
    k: int,
    spec_name: str,
    value: float,
    *,
    users: Sequence[str] | None = None,
    metrics: Sequence[str] = ("ndcg@10",),
) -> dict[str, float]:
    """One row of :func:`rerank_frontier`: ``{"lambda": value, metric: number, ...}``."""
    spec = f"{spec_name}:{value:g}"
    parse_spec(spec)
    recs = _reranked_frame(bundle, pools, spec, k)
    result = evaluate(audit_inputs(bundle, recs, k=k, users=users), list(metrics), ci=False)
    return {"lambda": float(value), **{m: result.values.get(m, np.nan) for m in metrics}}
