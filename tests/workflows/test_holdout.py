"""Held-out evaluation: one catalogue, and per domain for a multi-domain bundle (hand-computed ranks).

The world: movies m0-m3 are far more popular than books b0-b2 in training, so a popularity ranking over the
whole catalogue puts every movie before any book. Per domain, each test item is ranked within its own
domain: a book's rank among books, by the model restricted to books and by popularity within books.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import Bundle
from recaudit.data.schema import DOMAIN, ITEM_ID, USER_ID
from recaudit.workflows.holdout import holdout_evaluation

ITEMS = ["m0", "m1", "m2", "m3", "b0", "b1", "b2"]
L2, L3, L4 = (1 / math.log2(r + 1) for r in (2, 3, 4))  # dcg of one hit at rank 2, 3, 4 (idcg 1)


def world(domains: bool = True) -> Bundle:
    fillers = [f"f{i}" for i in range(5)]
    rows = [(f, m) for f in fillers for m in ("m0", "m1")]
    rows += [(f, "b0") for f in fillers[:3]] + [("f0", "b2"), ("u0", "m0"), ("u1", "m1")]
    train = pd.DataFrame(rows, columns=[USER_ID, ITEM_ID])
    # popularity: m0 6, m1 6, m2 0, m3 0, b0 3, b1 0, b2 1
    test = pd.DataFrame(
        [("u0", "b0"), ("u1", "m2"), ("u1", "b2"), ("stranger", "b1")], columns=[USER_ID, ITEM_ID]
    )
    users = [*fillers, "u0", "u1"]
    # model: every user [1, 0]; movies score 10-13, books 1-3: b2 > b1 > b0 and m3 > m2 > m1 > m0
    item_emb = np.array([[10, 0], [11, 0], [12, 0], [13, 0], [1, 0], [2, 0], [3, 0]], np.float32)
    items = pd.DataFrame({ITEM_ID: ITEMS})
    if domains:
        items[DOMAIN] = ["movies"] * 4 + ["books"] * 3
    return Bundle(
        users=pd.DataFrame({USER_ID: users}),
        items=items,
        user_emb=np.tile(np.array([[1, 0]], np.float32), (len(users), 1)),
        item_emb=item_emb,
        train=train,
        test=test,
        manifest={"score": "dot", "dim": 2},
    )


def test_multi_domain_bundles_rank_each_test_item_within_its_domain() -> None:
    bundle = world()
    result = holdout_evaluation(bundle, bundle.exact_scorer("cpu"), ks=(10,), metrics=("ndcg", "hit_rate"))
    assert result["protocol"] == "per-domain"
    books, movies = result["domains"]["books"], result["domains"]["movies"]
    assert (books["n_users"], books["n_unknown_users"], movies["n_users"]) == (3, 1, 1)
    # popularity within books: b0 (3), b2 (1), b1 (0). u0's b0 at rank 1, u1's b2 at rank 2, the stranger 0.
    assert books["popularity"]["ndcg@10"] == pytest.approx((1 + L2 + 0) / 3, abs=1e-6)
    # model within books: b2, b1, b0. u0's b0 at rank 3, u1's b2 at rank 1.
    assert books["model"]["ndcg@10"] == pytest.approx((L3 + 1 + 0) / 3, abs=1e-6)
    # movies, u1 (m1 seen): popularity m0 then m2 (0 pops tie: lower row first) -> rank 2; model m3, m2 -> 2
    assert movies["popularity"]["ndcg@10"] == pytest.approx(L2, abs=1e-6)
    assert movies["model"]["ndcg@10"] == pytest.approx(L2, abs=1e-6)
    # the headline numbers are the means over the four (user, domain) units
    assert result["n_units"] == 4 and result["n_users"] == 3 and result["n_unknown_users"] == 1
    assert result["popularity"]["ndcg@10"] == pytest.approx((1 + L2 + 0 + L2) / 4, abs=1e-6)
    assert result["model"]["ndcg@10"] == pytest.approx((L3 + 1 + 0 + L2) / 4, abs=1e-6)
    assert result["model"]["hit_rate@10"] == pytest.approx(3 / 4, abs=1e-6)
    assert result["n_rows_without_domain"] == 0


def test_one_domain_bundles_keep_one_catalogue() -> None:
    """Without domains the whole catalogue is ranked: every movie comes before any book."""
    bundle = world(domains=False)
    result = holdout_evaluation(bundle, bundle.exact_scorer("cpu"), ks=(10,), metrics=("ndcg",))
    assert "domains" not in result and "protocol" not in result
    # u0 (m0 seen): popularity m1 (6), b0 (3) -> rank 2. u1 (m1 seen): m0, b0, b2, m2 -> b2 rank 3, m2 rank 4.
    # u1 has two test items: idcg = 1 + L2.
    u1 = (L3 + L4) / (1 + L2)
    assert result["popularity"]["ndcg@10"] == pytest.approx((L2 + u1 + 0) / 3, abs=1e-6)


def test_test_rows_take_the_domain_column_when_the_item_is_not_in_the_catalogue() -> None:
    bundle = world()
    assert bundle.test is not None
    bundle.test = pd.concat(
        [
            bundle.test.assign(**{DOMAIN: None}),
            pd.DataFrame({USER_ID: ["u0", "u1"], ITEM_ID: ["b9", "zz"], DOMAIN: ["books", None]}),
        ],
        ignore_index=True,
    )
    result = holdout_evaluation(bundle, bundle.exact_scorer("cpu"), ks=(10,), metrics=("ndcg",))
    # b9 is unknown to the catalogue but labelled books: u0 now has two book test items; zz has no domain
    assert result["n_rows_without_domain"] == 1
    assert result["domains"]["books"]["n_users"] == 3
    assert result["domains"]["books"]["popularity"]["ndcg@10"] == pytest.approx(
        (1 / (1 + L2) + L2 + 0) / 3, abs=1e-6
    )
