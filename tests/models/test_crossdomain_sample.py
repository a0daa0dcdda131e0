"""The sample world's planted cross-domain taste is measured and recovered (a known answer).

The world plants one set of favourite categories per user for both domains (``users.favourite_categories``,
see :mod:`recaudit.data.synthetic`). So (1) users' category distributions in movies and books correlate
strongly, and not once users are shuffled across domains; (2) a model that never saw a user's books ranks
books from their movies alone: the cross-domain model's map must carry the user's planted taste into their
books list far better than books popularity does, and the gate must pick the map for cold users.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recaudit.data.schema import CATEGORY, DOMAIN, ITEM_ID, TIMESTAMP, USER_ID
from recaudit.metrics.crossdomain import preference_correlation
from recaudit.metrics.ranking import evaluate_lists
from recaudit.models.crossdomain.train import TransferConfig, train_crossdomain
from recaudit.models.mf.config import MFConfig

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    inter = pd.read_parquet(SAMPLE / "interactions.parquet")
    items = pd.read_parquet(SAMPLE / "items.parquet")
    users = pd.read_parquet(SAMPLE / "users.parquet")
    keep = set(np.sort(inter[USER_ID].unique())[:1500].tolist())
    inter = inter[inter[USER_ID].isin(keep)][[USER_ID, ITEM_ID, TIMESTAMP]].astype(
        {USER_ID: str, ITEM_ID: str}
    )
    return inter.reset_index(drop=True), items, users


def _categories(items: pd.DataFrame) -> tuple[sp.csr_matrix, list[str]]:
    names = sorted({c for cats in items[CATEGORY] for c in str(cats).split("|") if c})
    col = {c: j for j, c in enumerate(names)}
    rows, cols = [], []
    for i, cats in enumerate(items[CATEGORY]):
        for c in str(cats).split("|"):
            if c:
                rows.append(i)
                cols.append(col[c])
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(items), len(names))), names


def test_planted_taste_correlates_across_domains(world) -> None:  # noqa: ANN001
    inter, items, _ = world
    categories, _ = _categories(items)
    item_row = pd.Series(np.arange(len(items)), index=items[ITEM_ID].astype(str))
    users = np.sort(inter[USER_ID].unique())
    user_row = pd.Series(np.arange(len(users)), index=users)
    u, i = user_row.loc[inter[USER_ID]].to_numpy(), item_row.loc[inter[ITEM_ID]].to_numpy()
    domain = items[DOMAIN].to_numpy(dtype=object)
    planted, per_user = preference_correlation(u, i, domain, categories, ("movies", "books"))
    assert len(per_user) > 1000 and planted > 0.5
    # shuffling who is who in books destroys it: the correlation is the users', not the catalogue's
    rng = np.random.default_rng(0)
    is_book = domain[i] == "books"
    shuffled = u.copy()
    shuffled[is_book] = rng.permutation(len(users))[u[is_book]]
    baseline, _ = preference_correlation(shuffled, i, domain, categories, ("movies", "books"))
    assert baseline < 0.2 < planted - 0.3


def test_a_user_cold_in_books_gets_their_planted_taste_from_movies_alone(world) -> None:  # noqa: ANN001
    """Users made cold in books, ranked from movies alone: the map recovers much of the planted correlation
    (measured on 1000 users, 12 epochs: held-out ndcg@10 0.20 popularity vs 0.39 mapped; correlation of
    movies history with the books list 0.26 vs 0.45, the data's own 0.73; favourite share 0.41 vs 0.47)."""
    inter, items, users_table = world
    inter = inter[inter[USER_ID].isin(set(np.sort(inter[USER_ID].unique())[:1000].tolist()))]
    domain_of = items.set_index(ITEM_ID)[DOMAIN]
    rng = np.random.default_rng(1)
    users = np.sort(inter[USER_ID].unique()).astype(object)
    cold = set(rng.choice(users, 200, replace=False).tolist())
    held = (inter[ITEM_ID].map(domain_of).eq("books") & inter[USER_ID].isin(cold)).to_numpy()
    train, test = inter[~held], inter[held]
    model = train_crossdomain(
        train, user_ids=users, item_ids=items[ITEM_ID].to_numpy(), item_domain=items[DOMAIN].to_numpy(),
        mf_config=MFConfig(dim=32, epochs=12, num_threads=1), config=TransferConfig(seed=0),
    )  # fmt: skip
    books = model.domains["books"]
    assert model.info["gate"]["books"]["users"]["0"] >= 30 and books.gate[0] == "linear"
    rows = np.flatnonzero(np.isin(users, list(cold)))
    assert (books.counts[rows] == 0).all()
    lists = {mode: model.recommend("books", mode, rows, 10) for mode in ("none", "mapping", "gated")}
    for recs in lists.values():
        assert recs[ITEM_ID].map(domain_of).eq("books").all() and len(recs) == 10 * len(rows)
    pd.testing.assert_frame_equal(lists["gated"], lists["mapping"])  # the cold bucket is served by the map
    ndcg = {m: evaluate_lists(r, test, ks=(10,), metrics=("ndcg",))["ndcg@10"] for m, r in lists.items()}
    assert ndcg["mapping"] > 1.5 * ndcg["none"]
    categories, _ = _categories(items)
    item_row = pd.Series(np.arange(len(items)), index=items[ITEM_ID].astype(str))
    user_row = pd.Series(np.arange(len(users)), index=users)
    domain = items[DOMAIN].to_numpy(dtype=object)
    movies = train[train[ITEM_ID].map(domain_of).eq("movies") & train[USER_ID].isin(cold)]

    def correlation(books_side: pd.DataFrame) -> float:
        pairs = pd.concat([movies[[USER_ID, ITEM_ID]], books_side[[USER_ID, ITEM_ID]]])
        u, i = user_row.loc[pairs[USER_ID]].to_numpy(), item_row.loc[pairs[ITEM_ID]].to_numpy()
        return preference_correlation(u, i, domain, categories, ("movies", "books"))[0]

    planted, popular, mapped = correlation(test), correlation(lists["none"]), correlation(lists["mapping"])
    assert planted > 0.6 and mapped > popular + 0.1 and mapped > 0.5 * planted, (planted, popular, mapped)
    favourites = users_table.set_index(USER_ID)["favourite_categories"].str.split("|")
    item_cats = items.set_index(ITEM_ID)[CATEGORY].str.split("|")

    def favourite_share(recs: pd.DataFrame) -> float:
        pairs = zip(recs[USER_ID], recs[ITEM_ID], strict=True)
        return float(np.mean([bool(set(item_cats[i]) & set(favourites[u])) for u, i in pairs]))

    assert favourite_share(lists["mapping"]) > favourite_share(lists["none"]) + 0.03
