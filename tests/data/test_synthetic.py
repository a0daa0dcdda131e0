"""Tests for the sample world generator: the planted structure is really there.

Most checks run on a small world (300 users, 400 items, 8 categories; ~0.2 s to generate); a
few cheap ones read the committed ``sample_data/`` (5,000 users, 3,000 items), and one regenerates
the default world to check that the committed files are what the generator produces.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from recaudit.data import schema as S
from recaudit.data.synthetic import (
    CATEGORY_VOCAB,
    DOMAINS,
    WORLD_JSON,
    WORLD_TABLES,
    SampleWorld,
    WorldConfig,
    content_sha256,
    generate_world,
    load_world,
    write_world,
)
from recaudit.errors import RecauditInputError

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"
SMALL = WorldConfig(
    seed=7,
    n_users=300,
    n_items=400,
    n_categories=8,
    n_providers=20,
    mean_interactions=20.0,
    max_interactions=60,
)
INTERACTION_COLUMNS = [S.USER_ID, S.ITEM_ID, S.TIMESTAMP, S.RATING, S.DOMAIN, S.SESSION_ID]


@pytest.fixture(scope="module")
def small() -> SampleWorld:
    return generate_world(SMALL)


@pytest.fixture(scope="module")
def committed() -> SampleWorld:
    return load_world(SAMPLE_DIR)


def _all_rows(world: SampleWorld) -> pd.DataFrame:
    """Warm and cold interactions together, with the user's planted ground truth attached."""
    rows = pd.concat([world.interactions, world.cold_interactions], ignore_index=True)
    return rows.merge(world.users, on=S.USER_ID, how="left", validate="many_to_one")


def _item_cats(world: SampleWorld) -> dict[str, set[str]]:
    return {
        i: set(S.split_categories(c))
        for i, c in zip(world.items[S.ITEM_ID], world.items[S.CATEGORY], strict=True)
    }


def _file_hashes(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


# ------------------------------------------------------------------------------------------------
# determinism and files
# ------------------------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    write_world(generate_world(SMALL), tmp_path / "a")
    write_world(generate_world(SMALL), tmp_path / "b")
    hashes_a = _file_hashes(tmp_path / "a")
    assert set(hashes_a) == {*WORLD_TABLES, WORLD_JSON}
    assert hashes_a == _file_hashes(tmp_path / "b")
    other = generate_world(WorldConfig(**{**SMALL.to_dict(), "seed": 8}))
    assert content_sha256(other.interactions) != content_sha256(generate_world(SMALL).interactions)


def test_write_then_load_round_trips_and_keeps_other_files(
    small: SampleWorld, tmp_path: Path
) -> None:
    (tmp_path / "README.md").write_text("not ours")
    paths = write_world(small, tmp_path)
    assert [p.name for p in paths] == [*WORLD_TABLES, WORLD_JSON]
    assert (tmp_path / "README.md").read_text() == "not ours"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*WORLD_TABLES, WORLD_JSON, "README.md"]
    )  # no temp left
    loaded = load_world(tmp_path)
    assert loaded.config == SMALL
    for attr in ("interactions", "cold_interactions", "items", "users"):
        pd.testing.assert_frame_equal(getattr(loaded, attr), getattr(small, attr))


def test_load_world_rejects_a_changed_file(small: SampleWorld, tmp_path: Path) -> None:
    write_world(small, tmp_path)
    path = tmp_path / "items.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(RecauditInputError, match="sha256"):
        load_world(tmp_path)
    with pytest.raises(RecauditInputError, match="world.json"):
        load_world(tmp_path / "nowhere")


def test_config_rejects_drift_inside_the_holdout() -> None:
    with pytest.raises(RecauditInputError, match="drift_point_range"):
        WorldConfig(drift_point_range=(0.5, 0.9))
    assert WorldConfig.from_dict(SMALL.to_dict()) == SMALL


def test_committed_sample_data_is_what_the_generator_makes(
    committed: SampleWorld, tmp_path: Path
) -> None:
    # load_world already checked every file's sha256 against world.json
    manifest = json.loads((SAMPLE_DIR / WORLD_JSON).read_text())
    assert committed.config == WorldConfig()
    fresh = generate_world()
    for name, (attr, _) in WORLD_TABLES.items():
        assert content_sha256(getattr(fresh, attr)) == manifest["files"][name]["content_sha256"]
        pd.testing.assert_frame_equal(getattr(fresh, attr), getattr(committed, attr))
    if manifest["library_versions"]["pyarrow"] == pa.__version__:  # same writer -> same bytes
        write_world(fresh, tmp_path)
        for name in WORLD_TABLES:
            assert _file_hashes(tmp_path)[name] == manifest["files"][name]["sha256"]


# ------------------------------------------------------------------------------------------------
# counts and schema
# ------------------------------------------------------------------------------------------------


def test_counts_ids_and_schema(small: SampleWorld) -> None:
    cfg = SMALL
    assert list(small.interactions.columns) == INTERACTION_COLUMNS
    assert list(small.cold_interactions.columns) == INTERACTION_COLUMNS
    assert {S.ITEM_ID, S.TITLE, S.CATEGORY, S.DOMAIN, S.PROVIDER, S.TEXT} <= set(
        small.items.columns
    )
    assert len(small.items) == cfg.n_items and small.items[S.ITEM_ID].is_unique
    assert len(small.users) == cfg.n_users and small.users[S.USER_ID].is_unique
    assert small.items[S.ITEM_ID].str.fullmatch(r"[mb]\d{4}").all()
    assert small.users[S.USER_ID].str.fullmatch(r"u\d{5}").all()
    assert (
        small.items[S.DOMAIN] == small.items[S.ITEM_ID].str[0].map({"m": "movies", "b": "books"})
    ).all()
    assert small.interactions[S.TIMESTAMP].dtype == np.int64
    for col in (S.USER_ID, S.ITEM_ID, S.SESSION_ID):
        assert small.interactions[col].map(type).eq(str).all()
    # cold shares: round(5% of 200) items per domain, round(5% of 300) users
    assert small.items.groupby(S.DOMAIN)["is_cold"].sum().to_dict() == {"books": 10, "movies": 10}
    assert int(small.users["is_cold"].sum()) == 15
    assert int(small.users["drifts"].sum()) == int((small.users["drift_time"] >= 0).sum())
    rows = _all_rows(small)
    n = rows.groupby(S.USER_ID).size()
    assert n.min() >= cfg.min_interactions and n.max() <= cfg.max_interactions
    assert not rows.duplicated([S.USER_ID, S.ITEM_ID]).any()  # no repeats
    item_domain = small.items.set_index(S.ITEM_ID)[S.DOMAIN]
    assert (rows[S.DOMAIN].to_numpy() == item_domain.loc[rows[S.ITEM_ID]].to_numpy()).all()


def test_timestamps_form_sessions_days_apart(small: SampleWorld) -> None:
    cfg = SMALL
    rows = pd.concat([small.interactions, small.cold_interactions]).sort_values(
        [S.USER_ID, S.TIMESTAMP]
    )
    ts = rows[S.TIMESTAMP]
    assert ts.min() >= cfg.start_time and ts.max() < cfg.start_time + cfg.span_days * 86400
    sessions = rows.groupby(S.SESSION_ID).agg(
        users=(S.USER_ID, "nunique"), domains=(S.DOMAIN, "nunique")
    )
    assert (sessions["users"] == 1).all() and (sessions["domains"] == 1).all()
    same_user = rows[S.USER_ID].eq(rows[S.USER_ID].shift())
    same_session = rows[S.SESSION_ID].eq(rows[S.SESSION_ID].shift())
    gap = ts.diff()
    assert (gap[same_user] > 0).all()  # strictly increasing per user
    inside = gap[same_session]
    assert inside.min() >= cfg.min_click_gap_s and inside.max() <= cfg.max_click_gap_s
    assert gap[same_user & ~same_session].min() >= cfg.min_session_gap_days * 86400


# ------------------------------------------------------------------------------------------------
# planted structure
# ------------------------------------------------------------------------------------------------


def test_popularity_is_heavy_tailed(committed: SampleWorld) -> None:
    warm = committed.items[~committed.items["is_cold"]]
    counts = committed.interactions[S.ITEM_ID].value_counts().reindex(warm[S.ITEM_ID], fill_value=0)
    top = np.sort(counts.to_numpy())[::-1][: int(np.ceil(0.1 * len(counts)))]
    # uniform popularity would give 0.1; the latent tastes (taste_strength) spread choices somewhat
    assert top.sum() / counts.sum() > 0.35
    # observed counts follow the planted Zipf weights (the latent tastes add per-item noise on top)
    planted = warm.set_index(S.ITEM_ID)["planted_popularity"].loc[counts.index]
    assert planted.rank().corr(counts.rank()) > 0.7


def test_provider_catalogue_sizes_are_zipf_like(committed: SampleWorld) -> None:
    cfg = committed.config
    for domain in DOMAINS:
        sizes = np.sort(
            committed.items.loc[committed.items[S.DOMAIN] == domain, S.PROVIDER]
            .value_counts()
            .to_numpy()
        )[::-1]
        assert len(sizes) == cfg.n_providers // 2
        assert sizes[0] >= 20 * sizes[-1]
        slope = np.polyfit(np.log(np.arange(1, 11)), np.log(sizes[:10]), 1)[0]
        assert slope == pytest.approx(-cfg.provider_zipf_exponent, abs=0.15)


def test_favourite_categories_dominate_pre_drift(small: SampleWorld) -> None:
    rows = _all_rows(small)
    cats = _item_cats(small)
    pre = rows[~rows["drifts"] | (rows[S.TIMESTAMP] < rows["drift_time"])]
    in_fav = pd.Series(
        [
            bool(cats[i] & set(S.split_categories(f)))
            for i, f in zip(pre[S.ITEM_ID], pre["favourite_categories"], strict=True)
        ],
        index=pre.index,
    )
    # planted: 80% from favourites, plus exploration that hits a favourite by chance
    assert in_fav.mean() >= 0.78
    per_user = in_fav.groupby(pre[S.USER_ID]).agg(["mean", "size"])
    big = per_user[per_user["size"] >= 15]
    assert len(big) >= 50 and (big["mean"] > 0.5).mean() >= 0.95
    # ratings were planted higher inside the current taste
    assert pre.loc[in_fav, S.RATING].mean() - pre.loc[~in_fav, S.RATING].mean() > 0.5


def test_drifted_users_holdout_tail_is_in_the_drift_category(small: SampleWorld) -> None:
    cats = _item_cats(small)
    warm = small.interactions.merge(small.users, on=S.USER_ID)
    warm = warm[warm["drifts"]].sort_values([S.USER_ID, S.TIMESTAMP])
    assert warm[S.USER_ID].nunique() >= 40
    position = warm.groupby(S.USER_ID).cumcount()
    n = warm.groupby(S.USER_ID)[S.USER_ID].transform("size")
    tail = warm[position >= n - np.maximum(np.floor(0.2 * n), 1)]
    assert (tail[S.TIMESTAMP] >= tail["drift_time"]).all()
    before = warm[warm[S.TIMESTAMP] < warm["drift_time"]]

    def share_in_drift(frame: pd.DataFrame) -> float:
        return float(
            np.mean(
                [
                    d in cats[i]
                    for i, d in zip(frame[S.ITEM_ID], frame["drift_category"], strict=True)
                ]
            )
        )

    assert share_in_drift(tail) >= 0.7
    assert share_in_drift(before) <= 0.25
    assert all(
        d not in S.split_categories(f)
        for d, f in zip(
            small.users["drift_category"], small.users["favourite_categories"], strict=True
        )
    )


def test_cold_items_and_users_only_in_cold_interactions(small: SampleWorld) -> None:
    cold_items = set(small.items.loc[small.items["is_cold"], S.ITEM_ID])
    cold_users = set(small.users.loc[small.users["is_cold"], S.USER_ID])
    warm, cold = small.interactions, small.cold_interactions
    assert not warm[S.ITEM_ID].isin(cold_items).any()
    assert not warm[S.USER_ID].isin(cold_users).any()
    assert (cold[S.ITEM_ID].isin(cold_items) | cold[S.USER_ID].isin(cold_users)).all()
    assert cold_users <= set(cold[S.USER_ID]) and cold_items <= set(cold[S.ITEM_ID])


def test_text_reflects_categories() -> None:
    words = [set(adj) | set(nouns) for adj, nouns in CATEGORY_VOCAB.values()]
    assert sum(len(w) for w in words) == len(set().union(*words))  # disjoint vocabularies
    world = generate_world(WorldConfig(**{**SMALL.to_dict(), "n_users": 10, "n_categories": 16}))
    vocab = {cat: set(adj) | set(nouns) for cat, (adj, nouns) in CATEGORY_VOCAB.items()}
    for text, cell in zip(world.items[S.TEXT], world.items[S.CATEGORY], strict=True):
        tokens = re.findall(r"[a-z][a-z-]*", text.lower())
        hits = {cat: sum(t in words for t in tokens) for cat, words in vocab.items()}
        item_cats = S.split_categories(cell)
        assert all(hits[c] >= 1 for c in item_cats)
        assert {c for c, h in hits.items() if h} == set(item_cats)
        assert max(hits, key=lambda c: hits[c]) == item_cats[0]  # primary is written most


def test_domains_share_users(committed: SampleWorld) -> None:
    domains = committed.interactions.groupby(S.USER_ID)[S.DOMAIN].nunique()
    assert (domains == 2).mean() >= 0.75


# ------------------------------------------------------------------------------------------------
# the same world whatever SIMD kernels numpy picks on this CPU
# ------------------------------------------------------------------------------------------------

_HASH_WORLD = """
import dataclasses, json
from recaudit.data.synthetic import WORLD_TABLES, WorldConfig, content_sha256, generate_world
world = generate_world(dataclasses.replace(WorldConfig(), n_users=300))
print(json.dumps({name: content_sha256(getattr(world, attr)) for name, (attr, _) in WORLD_TABLES.items()}))
"""


def _dispatch_levels() -> list[str]:
    """``NPY_DISABLE_CPU_FEATURES`` values that make numpy fall back, level by level, to the kernels of
    older x86 CPUs than this one (AVX-512 -> AVX2 -> the SSE4 baseline); empty off x86."""
    from numpy._core import _multiarray_umath as core

    on = [f for f in core.__cpu_dispatch__ if core.__cpu_features__.get(f)]
    return [" ".join(on[i:]) for i in range(len(on))]


def test_the_world_is_the_same_with_every_simd_level_of_this_cpu() -> None:
    """The committed world must come out of the generator on any CPU. numpy dispatches kernels by CPU
    (argpartition's order differed between AVX2 and AVX-512): generate with each level disabled in turn."""
    import os
    import subprocess
    import sys

    levels = _dispatch_levels()
    if not levels:
        pytest.skip("numpy dispatches no SIMD level above its baseline on this CPU: nothing to compare")
    hashes = {}
    for disabled in ["", *levels]:
        env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled}
        out = subprocess.run(
            [sys.executable, "-c", _HASH_WORLD], env=env, capture_output=True, text=True, check=True
        )
        hashes[disabled or "all"] = json.loads(out.stdout.strip().splitlines()[-1])
    assert all(h == hashes["all"] for h in hashes.values()), hashes
