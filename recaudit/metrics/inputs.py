"""Everything a full audit needs, built once from frames and aligned: lists, interactions, item facts.

:class:`AuditInputs` turns a recommendation log (``user_id, item_id, rank``), training and test interactions,
an optional items table and optional item embeddings into the aligned arrays the metric functions take: the
``[U, k]`` lists, ``[U, I]`` train/test matrices over the same user rows and catalogue, φ(i), users(i), the
short head, category and provider membership. The catalogue is the items table when given, else the
training items (docs/metrics.md: the catalogue I is every item the model can recommend).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recaudit.data.schema import CATEGORY, ITEM_ID, PROVIDER, USER_ID
from recaudit.errors import RecauditInputError
from recaudit.metrics.lists import RecLists, interaction_matrix, membership_matrix
from recaudit.metrics.popularity import head_items


@dataclass
class AuditInputs:
    """Aligned arrays for one audit (see the module docstring)."""

    lists: RecLists
    train: sp.csr_matrix
    test: sp.csr_matrix | None
    n_relevant: np.ndarray | None
    item_popularity: np.ndarray
    item_users: np.ndarray
    n_train_users: int
    head_mask: np.ndarray
    items: pd.DataFrame
    users: pd.DataFrame | None = None
    item_emb: np.ndarray | None = None
    cold_lists: RecLists | None = None
    """Lists ranked over the cold items only (``cold_item_recall_among_cold``), aligned with ``lists``."""
    memberships: dict[str, tuple[sp.csr_matrix, list[str]]] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    cache: dict[object, object] = field(default_factory=dict, repr=False)
    """Work shared by several metrics of one audit (e.g. the relevance matrix per k)."""

    @property
    def categories(self) -> tuple[sp.csr_matrix, list[str]] | None:
        return self.memberships.get(CATEGORY)

    @property
    def cold_items(self) -> np.ndarray:
        """``[I]`` bool: catalogue items with no training interactions, C (docs/metrics.md "Cold start")."""
        return self.item_popularity == 0

    @property
    def has_cold_test(self) -> bool:
        """Whether some test interaction is with a cold item (the cold-start metrics need one)."""
        if self.test is None:
            return False
        return bool(self.cold_items[self.test.indices].any())

    @classmethod
    def from_frames(
        cls,
        recs: pd.DataFrame,
        train: pd.DataFrame,
        *,
        test: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        item_emb: np.ndarray | None = None,
        k: int | None = None,
        source: str | None = None,
        cold_recs: pd.DataFrame | None = None,
    ) -> AuditInputs:
        """Align a log with its data.

        Args:
            recs: ``user_id, item_id, rank`` (score optional, unused).
            train: training interactions (``user_id, item_id``): histories H_u, φ(i), users(i).
            test: held-out interactions T_u; without it accuracy metrics are not computed.
            items: catalogue with optional ``category`` (``|``-separated) and ``provider``; default: the
                training items.
            users: optional users table (``user_id`` + attributes for group breakdowns).
            item_emb: ``[I, d]`` vectors in the row order of ``items`` (for embedding ILD/serendipity).
            k: cut-off; default the longest list.
            cold_recs: optional ``user_id, item_id, rank`` lists ranked over the cold items only (for
                ``cold_item_recall_among_cold``; a log ranked over the full catalogue cannot give them).

        The audited users are the users of ``recs`` plus, when ``test`` is given, every user with test
        items (a test user without a list counts with zeros in accuracy metrics).
        """
        if train is None or train.empty:
            raise RecauditInputError(source, "training interactions are required (histories and popularity)")
        if items is None:
            catalogue = pd.DataFrame({ITEM_ID: np.sort(train[ITEM_ID].astype(str).unique())})
        else:
            catalogue = items.reset_index(drop=True).copy()
            catalogue[ITEM_ID] = catalogue[ITEM_ID].astype(str)
        if item_emb is not None and len(item_emb) != len(catalogue):
            raise RecauditInputError(
                source, f"{len(item_emb)} item vectors for a catalogue of {len(catalogue)} items"
            )
        item_ids = catalogue[ITEM_ID].to_numpy(dtype=object)
        id_columns = [recs[USER_ID]] + ([test[USER_ID]] if test is not None else [])
        audited = pd.unique(pd.concat(id_columns, ignore_index=True).astype(str))
        user_ids = np.sort(np.asarray(audited, dtype=object))
        lists = RecLists.from_frame(recs, item_ids, k=k, users=user_ids, source=source)
        cold_lists = None
        if cold_recs is not None:
            cold_lists = RecLists.from_frame(cold_recs, item_ids, k=lists.k, users=user_ids, source=source)
        train_matrix = interaction_matrix(train, user_ids, item_ids)
        all_train = interaction_matrix(train, np.sort(train[USER_ID].astype(str).unique()), item_ids)
        item_popularity = np.asarray(all_train.sum(axis=0)).ravel().astype(np.int64)
        item_users = np.asarray((all_train > 0).sum(axis=0)).ravel().astype(np.int64)
        test_matrix = n_relevant = None
        if test is not None:
            test_matrix = interaction_matrix(test, user_ids, item_ids)
            test_matrix.data[:] = 1.0
            pairs = test[[USER_ID, ITEM_ID]].astype(str).drop_duplicates()
            counts = pairs.groupby(USER_ID).size()
            n_relevant = counts.reindex(user_ids, fill_value=0).to_numpy(dtype=np.int64)
        memberships = {}
        if CATEGORY in catalogue.columns:
            memberships[CATEGORY] = membership_matrix(catalogue[CATEGORY].to_numpy(dtype=object), multi=True)
        if PROVIDER in catalogue.columns:
            memberships[PROVIDER] = membership_matrix(catalogue[PROVIDER].to_numpy(dtype=object), multi=False)
        return cls(
            lists=lists,
            train=train_matrix,
            test=test_matrix,
            n_relevant=n_relevant,
            item_popularity=item_popularity,
            item_users=item_users,
            n_train_users=int(all_train.shape[0]),
            head_mask=head_items(item_popularity, item_ids=item_ids),
            items=catalogue,
            users=users,
            item_emb=None if item_emb is None else np.asarray(item_emb, dtype=np.float32),
            cold_lists=cold_lists,
            memberships=memberships,
            fingerprints={
                "recs": _fingerprint(recs, [USER_ID, ITEM_ID, "rank"]),
                "train": _fingerprint(train, [USER_ID, ITEM_ID]),
                **({"test": _fingerprint(test, [USER_ID, ITEM_ID])} if test is not None else {}),
            },
        )

    def describe(self) -> dict[str, Any]:
        """Counts that say what was audited (for reports and JSON)."""
        return {
            "users": self.lists.n_users,
            "users_with_lists": int((self.lists.lengths > 0).sum()),
            "catalogue_items": self.lists.n_items,
            "k": self.lists.k,
            "train_users": self.n_train_users,
            "test_users": None if self.n_relevant is None else int((self.n_relevant > 0).sum()),
            "dropped": dict(self.lists.report),
        }


def _fingerprint(frame: pd.DataFrame, columns: list[str]) -> str:
    """sha256 of the given columns' rows (which data produced these numbers)."""
    present = [c for c in columns if c in frame.columns]
    hashed = pd.util.hash_pandas_object(frame[present].astype(str), index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()
