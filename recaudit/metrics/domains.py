"""Per-domain variants of the metric catalogue (docs/metrics.md "Cross-domain"): every metric of one domain.

"Per-domain metrics use that domain's catalogue as I and that domain's test items as T_u." For a log over
a multi-domain catalogue (an items table with a ``domain`` column), the variant for domain D audits the same
recommendation log against D's items only: rows of other domains' items drop out as items outside the
catalogue (so each list is the user's D items, in their order, positions closed up, cut at k), and the
training and test rows are D's. Coverage, Gini and ARP per domain are then the plain definitions over D's
catalogue. The engines compute the same (``evaluate_engine(..., domains_out=...)``), to 1e-9.

Pure: frames in, one :class:`~recaudit.metrics.engine.AuditResult` per domain out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from recaudit.data.schema import DOMAIN, ITEM_ID
from recaudit.errors import RecauditInputError
from recaudit.metrics.engine import ITEM_GROUP_COLUMNS, AuditResult, evaluate
from recaudit.metrics.inputs import AuditInputs


def domain_names(items: pd.DataFrame, source: object = "items") -> list[str]:
    """The catalogue's domains, sorted as strings.

    Raises:
        RecauditInputError: the items table has no ``domain`` column, or no domain in it.
    """
    if DOMAIN not in items.columns:
        raise RecauditInputError(source, "has no domain column", "per-domain metrics need one")
    names = sorted({str(v) for v in items[DOMAIN].dropna()})
    if not names:
        raise RecauditInputError(source, "column 'domain' is empty", "per-domain metrics need one")
    return names


def evaluate_domains(
    recs: pd.DataFrame,
    train: pd.DataFrame,
    items: pd.DataFrame,
    *,
    test: pd.DataFrame | None = None,
    k: int = 10,
    ci: bool = True,
    item_columns: Sequence[str] = ITEM_GROUP_COLUMNS,
    **evaluate_kwargs: Any,
) -> dict[str, AuditResult]:
    """``{domain: audit}``: the log audited against each domain's items (module docstring)."""
    out: dict[str, AuditResult] = {}
    columns = [c for c in item_columns if c != DOMAIN]
    for name in domain_names(items):
        own = items[items[DOMAIN].astype(str) == name]
        ids = set(own[ITEM_ID])
        own_test = None if test is None else test[test[ITEM_ID].isin(ids)]
        inputs = AuditInputs.from_frames(
            recs, train[train[ITEM_ID].isin(ids)], test=own_test, items=own, k=k, source=f"domain {name}"
        )
        out[name] = evaluate(inputs, ks=(k,), ci=ci, item_columns=columns, **evaluate_kwargs)
    return out


__all__ = ["domain_names", "evaluate_domains"]
