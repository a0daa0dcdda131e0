"""Shared test fixtures: Streamlit test config and a tiny folder of model bundles.

``tiny_bundle_dir`` holds two bundles built from seeded random embeddings:

* ``alpha``: 40 users u00..u39, 60 items i00..i59 (movies i00..i29, books i30..i59), d = 8, an item
  bias, 6 training interactions per user and 2 test interactions for users u00..u29; no stored
  evaluation (the app computes it).
* ``beta``: alpha's embeddings plus noise, without users u37..u39 (to test a user missing from the
  second bundle), with a stored evaluation in its manifest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit import config as st_config

from recaudit.bundle import Bundle, make_manifest, save_bundle
from recaudit.data.schema import CATEGORY, DOMAIN, ITEM_ID, PROVIDER, TIMESTAMP, TITLE, USER_ID

# AppTest reads .streamlit/config.toml from the CWD, whose showErrorDetails would redact exception
# messages; env vars do not reach it, config.set_option does (notes/streamlit.md).
st_config.set_option("client.showErrorDetails", "full")

N_USERS, N_ITEMS, DIM = 40, 60, 8
TRAIN_PER_USER, TEST_PER_USER, N_TEST_USERS = 6, 2, 30
BETA_MISSING_USERS = ("u37", "u38", "u39")
CATEGORIES = ("action", "drama", "comedy", "sci-fi")
BASE_TIME = 1_600_000_000  # 2020-09-13 12:26:40 UTC


def tiny_tables(seed: int = 0) -> dict[str, pd.DataFrame]:
    """Users, items, train and test tables of the tiny world (deterministic)."""
    rng = np.random.default_rng(seed)
    item_ids = [f"i{i:02d}" for i in range(N_ITEMS)]
    items = pd.DataFrame(
        {
            ITEM_ID: item_ids,
            TITLE: [f"Title {i}" for i in item_ids],
            CATEGORY: [
                CATEGORIES[i % 4] + ("|" + CATEGORIES[(i + 1) % 4] if i % 3 == 0 else "")
                for i in range(N_ITEMS)
            ],
            DOMAIN: ["movies" if i < N_ITEMS // 2 else "books" for i in range(N_ITEMS)],
            PROVIDER: [f"p{i % 5}" for i in range(N_ITEMS)],
        }
    )
    users = pd.DataFrame({USER_ID: [f"u{u:02d}" for u in range(N_USERS)]})
    train_rows, test_rows = [], []
    for u, user in enumerate(users[USER_ID]):
        picked = rng.choice(N_ITEMS, size=TRAIN_PER_USER + TEST_PER_USER, replace=False)
        for j, item in enumerate(picked[:TRAIN_PER_USER]):
            train_rows.append((user, item_ids[item], BASE_TIME + 3600 * (u + 24 * j)))
        if u < N_TEST_USERS:
            for item in picked[TRAIN_PER_USER:]:
                test_rows.append((user, item_ids[item], BASE_TIME + 10**7))
    columns = [USER_ID, ITEM_ID, TIMESTAMP]
    train = pd.DataFrame(train_rows, columns=columns).astype({TIMESTAMP: "int64"})
    test = pd.DataFrame(test_rows, columns=columns).astype({TIMESTAMP: "int64"})
    return {"users": users, "items": items, "train": train, "test": test}


def store_item_map(bundle: Bundle, method: str = "umap") -> Bundle:
    """Store the bundle's default item map, as ``recaudit train`` does for ``make run``'s sample bundle,
    so pages open on a stored map and no test waits on an on-demand projection by accident. Computed
    without the on-disk projection cache (nothing is written outside the test's folders)."""
    from recaudit.views.projection import ProjectionParams, project_items

    item_map = project_items(bundle.item_emb, bundle.item_ids, ProjectionParams(method=method))
    xy = item_map.xy
    bundle.item_map = pd.DataFrame({ITEM_ID: item_map.item_ids, "x": xy[:, 0], "y": xy[:, 1]})
    bundle.manifest["projection"] = {**item_map.params.to_dict(), "seconds": round(item_map.seconds, 2)}
    return bundle


def build_tiny_bundles(directory: Path, *, with_map: bool = True) -> Path:
    """Write bundles ``alpha`` and ``beta`` under ``directory`` and return it.

    With ``with_map`` (the default) each stores its UMAP item map like the sample bundle; without, the
    Embedding map page computes one on demand (the path its own browser test covers)."""
    tables = tiny_tables()
    rng = np.random.default_rng(1)
    user_emb = rng.normal(size=(N_USERS, DIM)).astype(np.float32)
    item_emb = rng.normal(size=(N_ITEMS, DIM)).astype(np.float32)
    bias = rng.normal(scale=0.5, size=N_ITEMS).astype(np.float32)
    history = [
        {"phase": "fit", "epoch": e, "loss": 2.0 / e, "valid_recall": 0.1 * min(e, 3)}
        for e in range(1, 6)
    ]
    training = {
        "best_epoch": 3,
        "epochs_run": 5,
        "device": "cpu",
        "seconds": 1.25,
        "history": history,
    }
    alpha = Bundle(
        users=tables["users"],
        items=tables["items"],
        user_emb=user_emb,
        item_emb=item_emb,
        item_bias=bias,
        train=tables["train"],
        test=tables["test"],
        manifest=make_manifest(
            kind="random", score="dot", dim=DIM, config={"dim": DIM, "seed": 1}, training=training
        ),
    )
    save_bundle(store_item_map(alpha) if with_map else alpha, directory / "alpha")
    keep = ~tables["users"][USER_ID].isin(BETA_MISSING_USERS).to_numpy()
    noisy_users = user_emb + rng.normal(scale=0.3, size=user_emb.shape).astype(np.float32)
    evaluation = {
        "k": [10],
        "n_users": N_TEST_USERS,
        "protocol": "per-domain",  # stored as a per-domain evaluation: the app shows it as is
        "model": {"recall@10": 0.25, "ndcg@10": 0.125},
        "popularity": {"recall@10": 0.2, "ndcg@10": 0.1},
    }
    beta = Bundle(
        users=tables["users"][keep].reset_index(drop=True),
        items=tables["items"],
        user_emb=noisy_users[keep],
        item_emb=item_emb,
        item_bias=bias,
        train=tables["train"][~tables["train"][USER_ID].isin(BETA_MISSING_USERS)],
        test=tables["test"],
        manifest=make_manifest(
            kind="random-noisy",
            score="dot",
            dim=DIM,
            config={"dim": DIM, "seed": 2},
            training=training,
            evaluation=evaluation,
        ),
    )
    save_bundle(store_item_map(beta) if with_map else beta, directory / "beta")
    return directory


@pytest.fixture(scope="session")
def tiny_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the two tiny bundles ``alpha`` and ``beta`` (built once per test session)."""
    return build_tiny_bundles(tmp_path_factory.mktemp("bundles"))


@pytest.fixture
def tiny_world() -> dict[str, pd.DataFrame]:
    """The tiny world's users, items, train and test tables, for tests building their own bundle."""
    return tiny_tables()


COLD_ITEMS = tuple(f"i{i}" for i in range(52, 60))
"""Items of the tiny world made cold in the ``coldstart`` bundle: their training rows are dropped."""
COLD_ITEM_TEST_USERS = 14
"""Known users with a held-out interaction on each cold item (> 10, so the new-item curve reaches n = 10)."""


def build_coldstart_bundle(directory: Path) -> Path:
    """Write bundle ``coldstart`` (the ``coldstart`` family, TF-IDF content) under ``directory``; return it.

    The tiny world with :data:`COLD_ITEMS` kept in the catalogue (every item of its items table) but without
    training rows, each held out for :data:`COLD_ITEM_TEST_USERS` known users (seeded) beside the tiny test
    set; a short seeded MF (3 epochs, no refit) and a stored PCA map. About 2 s."""
    from recaudit.models.coldstart import ColdStartConfig
    from recaudit.models.coldstart.train import train_coldstart
    from recaudit.workflows.train import bundle_from_model

    tables = tiny_tables()
    train = tables["train"][~tables["train"][ITEM_ID].isin(COLD_ITEMS)].reset_index(drop=True)
    rng = np.random.default_rng(3)
    users = tables["users"][USER_ID].to_numpy()
    held = [
        (user, item, BASE_TIME + 10**7 + j)
        for j, item in enumerate(COLD_ITEMS)
        for user in rng.choice(users, size=COLD_ITEM_TEST_USERS, replace=False)
    ]
    columns = [USER_ID, ITEM_ID, TIMESTAMP]
    test = pd.concat(
        [tables["test"][~tables["test"][ITEM_ID].isin(COLD_ITEMS)], pd.DataFrame(held, columns=columns)],
        ignore_index=True,
    ).drop_duplicates([USER_ID, ITEM_ID]).astype({TIMESTAMP: "int64"})
    config = ColdStartConfig(
        dim=DIM, epochs=3, batch_size=64, valid_fraction=0.0, refit=False, patience=0, seed=1, device="cpu"
    )
    model = train_coldstart(train, config, items=tables["items"])
    bundle = bundle_from_model(model, train=train, test=test, items=tables["items"], sources={}, seconds=0.0)
    save_bundle(store_item_map(bundle, "pca"), directory / "coldstart")
    return directory


@pytest.fixture(scope="session")
def coldstart_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the one ``coldstart`` bundle of :func:`build_coldstart_bundle` (built once)."""
    return build_coldstart_bundle(tmp_path_factory.mktemp("coldstart_bundles"))
