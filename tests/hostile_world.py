"""A tiny world whose ids, titles, categories, domains, providers and user groups are hostile text.

Issue 8, item 6: text from users' files reached markdown elements, so an interactions file whose first user
id was ``![x](http://127.0.0.2:9/md.png)`` made every analyst's browser request that URL. Each hostile
string here is markdown, HTML or plotly markup, and every URL in them points at 127.0.0.2, which is not
the 127.0.0.1 the tests serve from: a request to it (or an ``img`` or link pointing at it) means that data
was rendered as markup.

:func:`build_hostile_bundles` writes two bundles (names are markdown too) with a stored PCA item map, so the
Embedding map page needs no UMAP run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recaudit.bundle import Bundle, make_manifest, save_bundle
from recaudit.data.schema import CATEGORY, DOMAIN, ITEM_ID, PROVIDER, TITLE, USER_ID
from recaudit.views.projection import ProjectionParams
from tests.conftest import DIM, N_ITEMS, tiny_tables

EVIL_HOST = "http://127.0.0.2:9"
"""Where hostile strings point: a loopback address other than the served 127.0.0.1."""

IMAGE_USER = f"![x]({EVIL_HOST}/md.png)"
"""The user id of the report: first in the users table and first in sort order (``!`` sorts early)."""
HTML_USER = f"<img src={EVIL_HOST}/user.png>"
STREAMLIT_USER = ":red[u] :material/home: :smile: $x^2$ **u**"
HOSTILE_USERS = (IMAGE_USER, HTML_USER, STREAMLIT_USER)

CATEGORIES = (
    f"![c]({EVIL_HOST}/cat.png)",
    f"<img src={EVIL_HOST}/cat2.png>",
    ":blue[drama] $y$",
    "**comedy** # sci-fi",
)
"""Four hostile categories (no ``|``, the category separator)."""
SHORT_DOMAIN = "<b>books</b>"
"""A domain short enough to be drawn whole as a plotly tick label."""
DOMAINS = (f"![d]({EVIL_HOST}/dom.png)", SHORT_DOMAIN)
SHORT_PROVIDERS = ("<b>p1</b>", "<i>p4</i>")
"""Providers short enough to be drawn whole as plotly tick labels (longer ones are cut with an ellipsis),
so a browser can tell whether plotly showed the tags or interpreted them."""
PROVIDERS = (
    f'<a href="{EVIL_HOST}/p">p0</a>',
    SHORT_PROVIDERS[0],
    "[p2](javascript:alert(1))",
    f"![p]({EVIL_HOST}/prov.png) - p3",
    SHORT_PROVIDERS[1],
)
SHORT_SEGMENT = "<b>s1</b>"
SEGMENTS = (f"<img src={EVIL_HOST}/seg.png onerror=alert(1)>", SHORT_SEGMENT)
"""Values of the users table's ``segment`` column (a user grouping on the Fairness page)."""
HOSTILE_ITEM = f"![i]({EVIL_HOST}/item.png)"
"""The id of item row 0 (the other ids stay i01..i59)."""

BUNDLE_NAMES = ("**hostile**", "__beta__")
"""Bundle directory names: markdown would show them as bold "hostile" and "beta"."""


def title_of(row: int) -> str:
    """Item ``row``'s hostile title: a markdown image, an HTML image and bold text."""
    return f"![t{row}]({EVIL_HOST}/t{row}.png) <img src={EVIL_HOST}/ti{row}.png> **T{row}**"


def hostile_tables() -> dict[str, pd.DataFrame]:
    """The tiny world's tables (``tests.conftest.tiny_tables``) with hostile text in every text column."""
    tables = tiny_tables()
    users, items = tables["users"].copy(), tables["items"].copy()
    ids = users[USER_ID].tolist()
    user_map = dict(zip(ids[: len(HOSTILE_USERS)], HOSTILE_USERS, strict=True))
    users[USER_ID] = [user_map.get(u, u) for u in ids]
    users["segment"] = [SEGMENTS[i % len(SEGMENTS)] for i in range(len(users))]
    item_map = {items[ITEM_ID].iloc[0]: HOSTILE_ITEM}
    items[ITEM_ID] = [item_map.get(i, i) for i in items[ITEM_ID]]
    items[TITLE] = [title_of(i) for i in range(N_ITEMS)]
    items[CATEGORY] = [
        CATEGORIES[i % 4] + ("|" + CATEGORIES[(i + 1) % 4] if i % 3 == 0 else "") for i in range(N_ITEMS)
    ]
    items[DOMAIN] = [DOMAINS[0] if i < N_ITEMS // 2 else DOMAINS[1] for i in range(N_ITEMS)]
    items[PROVIDER] = [PROVIDERS[i % len(PROVIDERS)] for i in range(N_ITEMS)]
    out = {"users": users, "items": items}
    for name in ("train", "test"):
        frame = tables[name].copy()
        frame[USER_ID] = frame[USER_ID].map(lambda u: user_map.get(u, u))
        frame[ITEM_ID] = frame[ITEM_ID].map(lambda i: item_map.get(i, i))
        out[name] = frame
    return out


def hostile_bundle(seed: int = 1) -> Bundle:
    """A bundle of the hostile world: seeded random embeddings, an item bias, a stored PCA item map."""
    tables = hostile_tables()
    rng = np.random.default_rng(seed)
    user_emb = rng.normal(size=(len(tables["users"]), DIM)).astype(np.float32)
    item_emb = rng.normal(size=(N_ITEMS, DIM)).astype(np.float32)
    centred = item_emb - item_emb.mean(axis=0)
    xy = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
    bundle = Bundle(
        users=tables["users"],
        items=tables["items"],
        user_emb=user_emb,
        item_emb=item_emb,
        item_bias=rng.normal(scale=0.5, size=N_ITEMS).astype(np.float32),
        train=tables["train"],
        test=tables["test"],
        manifest=make_manifest(kind=f"<img src={EVIL_HOST}/kind.png>", score="dot", dim=DIM),
        item_map=pd.DataFrame({ITEM_ID: tables["items"][ITEM_ID], "x": xy[:, 0], "y": xy[:, 1]}),
    )
    bundle.manifest["projection"] = {**ProjectionParams(method="pca").to_dict(), "seconds": 0.0}
    return bundle


def build_hostile_bundles(directory: Path) -> Path:
    """Write the two hostile bundles (:data:`BUNDLE_NAMES`, different seeds) under ``directory``."""
    for seed, name in enumerate(BUNDLE_NAMES, start=1):
        save_bundle(hostile_bundle(seed), directory / name)
    return directory
