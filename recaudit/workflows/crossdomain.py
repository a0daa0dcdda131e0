"""Transfer evaluation of a cross-domain bundle: what each transfer does to each target domain's test users.

For every target domain D of a bundle with the ``crossdomain`` component (``recaudit train --transfer``):
the test users with test items in D (known to the bundle) are ranked within D by every transfer mode
(``none`` = target-only, ``shared``, ``mapping``, ``gated``), their training items excluded; per-user
ndcg@k of each mode gives ``transfer_lift`` and ``negative_transfer_rate`` against target-only for cold and
warm users and by target-interaction bucket (:func:`recaudit.metrics.crossdomain.transfer_table`), with
bootstrap intervals. Beside it: per-domain exposure of the served lists (coverage, Gini, ARP over D's
catalogue) and ``preference_correlation`` of the training interactions for every pair of domains.

The headline values an audit reports (:func:`headline_values`) are those of the **served** transfer
(``manifest["transfer"]``), each the **worst** target domain's (highest negative-transfer rate, lowest
lift), so a gate such as ``negative_transfer_rate@10>0.1`` fails when any domain is hurt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from recaudit.bundle import Bundle
from recaudit.data.schema import CATEGORY, DOMAIN, ITEM_ID, USER_ID
from recaudit.errors import RecauditInputError
from recaudit.metrics import exposure
from recaudit.metrics.crossdomain import preference_correlation, transfer_table
from recaudit.metrics.lists import RecLists, membership_matrix
from recaudit.metrics.popularity import arp
from recaudit.metrics.ranking import evaluate_lists
from recaudit.models.crossdomain.family import served_transfer
from recaudit.models.crossdomain.model import SharedTables

MODES = ("none", "shared", "mapping", "gated")


@dataclass
class TransferEvaluation:
    """Per target domain: per-user ndcg by mode, the transfer tables, exposure; and the correlations.

    Attributes:
        served: the bundle's transfer (``manifest["transfer"]``).
        per_user: ``{domain: frame}``, one row per test user (index user_id) with ``target_count`` and one
            ``ndcg@k`` column per mode.
        tables: ``{domain: {mode: transfer_table frame}}`` for every mode but ``none``.
        exposure: one row per (domain, mode): coverage, gini, arp of the lists over the domain's catalogue.
        correlation: one row per pair of domains: preference_correlation and the users it is over.
    """

    k: int
    served: str
    per_user: dict[str, pd.DataFrame] = field(default_factory=dict)
    tables: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    exposure: pd.DataFrame = field(default_factory=pd.DataFrame)
    correlation: pd.DataFrame = field(default_factory=pd.DataFrame)


def evaluate_transfer(
    bundle: Bundle, k: int = 10, *, n_boot: int = 1000, seed: int = 0
) -> TransferEvaluation:
    """The transfer evaluation of ``bundle`` (module docstring).

    Raises:
        RecauditInputError: the bundle has no cross-domain component or no test interactions.
    """
    model = bundle.crossdomain
    if model is None:
        raise RecauditInputError(
            bundle.path or "bundle", "has no cross-domain model", "train it with --transfer"
        )
    if bundle.test is None or bundle.test.empty:
        raise RecauditInputError(
            bundle.path or "bundle", "has no test interactions to evaluate transfer on"
        )
    served = served_transfer(bundle.manifest)
    result = TransferEvaluation(k=k, served=served)
    item_domain = pd.Series(model.item_ids, dtype=object)
    for name, dm in model.domains.items():
        item_domain.iloc[dm.item_rows] = name
    by_item = pd.Series(item_domain.to_numpy(), index=pd.Index(model.item_ids.astype(str)))
    test = bundle.test[[USER_ID, ITEM_ID]].astype(str)
    test = test.assign(**{DOMAIN: test[ITEM_ID].map(by_item)})
    shared = SharedTables(bundle.user_emb, bundle.item_emb, bundle.item_bias)
    popularity = bundle.item_popularity
    exposure_rows = []
    for name, dm in model.domains.items():
        part = test[test[DOMAIN] == name]
        users = np.sort(part[USER_ID].unique())
        rows = bundle.user_vocab.rows(users, strict=False)
        users, rows = users[rows >= 0], rows[rows >= 0]
        if not len(rows):
            continue
        frame = pd.DataFrame({"target_count": dm.counts[rows]}, index=pd.Index(users, name=USER_ID))
        domain_items = model.item_ids[dm.item_rows].astype(str)
        for mode in MODES:
            recs = model.recommend(name, mode, rows, k, seen=bundle.seen, shared=shared)
            scores = evaluate_lists(recs, part, ks=(k,), metrics=("ndcg",), per_user=True)
            frame[f"{mode}_ndcg@{k}"] = scores[f"ndcg@{k}"].reindex(users).fillna(0.0).to_numpy()
            lists = RecLists.from_frame(recs, domain_items, k=k, users=users)
            exposure_rows.append(
                {
                    "domain": name, "mode": mode, "n_users": len(users),
                    f"coverage@{k}": exposure.coverage(lists), f"gini@{k}": exposure.gini_at_k(lists),
                    f"arp@{k}": float(np.nanmean(arp(lists, popularity[dm.item_rows]))),
                }
            )  # fmt: skip
        result.per_user[name] = frame
        base = frame[f"none_ndcg@{k}"].to_numpy()
        result.tables[name] = {
            mode: transfer_table(frame[f"{mode}_ndcg@{k}"].to_numpy(), base, frame["target_count"].to_numpy(),
                                 n_boot=n_boot, seed=seed)
            for mode in MODES if mode != "none"
        }  # fmt: skip
    result.exposure = pd.DataFrame(exposure_rows)
    result.correlation = _correlations(bundle, list(model.domains), item_domain.to_numpy(dtype=object))
    return result


def _correlations(bundle: Bundle, domains: list[str], item_domain: np.ndarray) -> pd.DataFrame:
    """preference_correlation of the training interactions for each pair of domains (needs categories)."""
    if bundle.train is None or CATEGORY not in bundle.items.columns:
        return pd.DataFrame(columns=["domains", "preference_correlation", "n_users"])
    categories, _ = membership_matrix(bundle.items[CATEGORY].to_numpy(dtype=object), multi=True)
    train = bundle.train[[USER_ID, ITEM_ID]].astype(str)
    users = bundle.user_vocab.rows(train[USER_ID].to_numpy(dtype=object), strict=False)
    items = bundle.item_vocab.rows(train[ITEM_ID].to_numpy(dtype=object), strict=False)
    keep = (users >= 0) & (items >= 0)
    rows = []
    for a, b in combinations(domains, 2):
        mean, per_user = preference_correlation(users[keep], items[keep], item_domain, categories, (a, b))
        rows.append(
            {
                "domains": f"{a} ~ {b}",
                "preference_correlation": mean,
                "n_users": int(per_user.notna().sum()),
            }
        )
    return pd.DataFrame(rows)


def headline_values(evaluation: TransferEvaluation) -> dict[str, float]:
    """The served transfer's gate-able values at k, each the worst target domain's (module docstring)."""
    k, mode = evaluation.k, evaluation.served
    if mode == "none" or not evaluation.tables:
        return {}
    worst: dict[str, float] = {}
    for name, tables in evaluation.tables.items():
        table = tables[mode].set_index("group")
        frame = evaluation.per_user[name]
        rate_all = float((frame[f"{mode}_ndcg@{k}"] < frame[f"none_ndcg@{k}"]).mean())
        values = {
            f"negative_transfer_rate@{k}": rate_all,
            f"negative_transfer_rate_cold@{k}": _cell(table, "cold", "negative_transfer_rate"),
            f"negative_transfer_rate_warm@{k}": _cell(table, "warm", "negative_transfer_rate"),
            f"transfer_lift_cold@{k}": _cell(table, "cold", "transfer_lift"),
            f"transfer_lift_warm@{k}": _cell(table, "warm", "transfer_lift"),
        }
        for key, value in values.items():
            if np.isnan(value):
                continue
            higher_is_worse = key.startswith("negative")
            if key not in worst or (value > worst[key] if higher_is_worse else value < worst[key]):
                worst[key] = value
    return worst


def _cell(table: pd.DataFrame, group: str, column: str) -> float:
    return float(table.loc[group, column]) if group in table.index else float("nan")
