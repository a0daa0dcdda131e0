"""The sample world: a seeded synthetic two-domain dataset with planted, documented structure.

Why: audits and model tests need data whose right answers are known. A user planted to love
"horror" should get horror recommendations; a drifted user's held-out tail should be in the drift
category; a cold item described as a western should find western fans. Real logs cannot give that.

What is planted (every number is a :class:`WorldConfig` field; ``sample_data/README.md`` lists
them):

* two domains, ``movies`` and ``books``, sharing one user population and one set of categories;
* items with 1-3 categories (primary first), a provider and a title; providers have Zipf-like
  catalogue sizes, ``size(rank) ∝ rank^-provider_zipf_exponent``;
* power-law item popularity inside each domain, ``pop(rank) ∝ rank^-popularity_exponent`` (Zipf);
* a templated English description per item built from category-specific vocabularies
  (:data:`CATEGORY_VOCAB`, disjoint across categories), the primary category written most often;
* users with 1-3 favourite categories: in each (phase, domain) block of n interactions,
  Binomial(n, ``favourite_share``) items are drawn from the favourite categories and the rest
  from the whole domain (exploration, which may also hit favourites), both with
  ``P(i) ∝ pop_i · exp(s · <w_u, z_i> / sqrt(taste_dim))`` and without repeats (Gumbel top-k
  sampling, Kool, van Hoof & Welling 2019), where w_u ~ N(0, I) and z_i (norm sqrt(taste_dim)) are
  latent tastes: inside a category, people with similar tastes pick similar items, structure that
  a collaborative model can learn and a popularity ranking cannot;
* sessions: bursts of interactions minutes apart, one domain per session, mostly one category per
  session, separated by at least ``min_session_gap_days`` days;
* taste drift: a share ``drift_share`` of users replace their favourites by one new category
  (``drift_category``) at ``drift_time``, the first timestamp of their post-drift sessions. Drift
  happens after 50-70% of a user's interactions, so the last 20% (the per-user temporal holdout)
  is post-drift;
* held-out cold items and cold users: all their interactions are in ``cold_interactions`` only.

The generator is deterministic: one ``numpy.random.Generator(PCG64(seed))`` consumed in a fixed
order, and parquet written with fixed options, so the same seed and library versions give
byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recaudit.config import ConfigBase
from recaudit.data import schema as S
from recaudit.errors import RecauditInputError

WORLD_FORMAT = "recaudit-sample-world"
WORLD_FORMAT_VERSION = 1
DOMAINS = ("movies", "books")
DRIFT_NONE = -1  # drift_time of users who do not drift

# Category -> (adjectives, nouns). Every word is one token (letters and hyphens) and belongs to
# exactly one category, so counting vocabulary hits in an item's text recovers its categories. The
# words of the sentence templates below never appear here.
_VOCAB_TEXT = {
    "action": (
        "explosive relentless breakneck furious hard-hitting muscular",
        "mercenary firefight commando bodyguard showdown ambush convoy rooftop brawler stuntman",
    ),
    "adventure": (
        "daring sweeping swashbuckling far-flung intrepid globe-trotting",
        "expedition treasure jungle explorer voyage map shipwreck island caravan temple",
    ),
    "comedy": (
        "hilarious zany witty goofy madcap quirky",
        "prankster slacker mix-up road-trip hijinks comedian farce gag roommate blunder",
    ),
    "crime": (
        "hardboiled corrupt ruthless streetwise crooked seedy",
        "gangster cartel racketeer smuggler precinct informant syndicate mob bootlegger prosecutor",
    ),
    "drama": (
        "poignant intimate heartfelt bittersweet understated raw",
        "grief estrangement reconciliation inheritance illness siblings hometown regret sacrifice "
        "widow",
    ),
    "fantasy": (
        "enchanted mythical arcane fabled magical elven",
        "dragon wizard sorcery kingdom prophecy quest amulet sword realm spell",
    ),
    "history": (
        "historical medieval victorian ancient imperial dynastic",
        "empire dynasty revolution monarch pharaoh crusade parliament colony chronicle archives",
    ),
    "horror": (
        "terrifying haunted gruesome eerie sinister demonic",
        "ghost curse zombie possession cabin exorcist nightmare creature graveyard slasher",
    ),
    "mystery": (
        "puzzling baffling cryptic enigmatic whodunit clever",
        "sleuth clue riddle inspector alibi suspect manor disappearance cipher secret",
    ),
    "romance": (
        "tender passionate swoon-worthy romantic lovestruck starry-eyed",
        "lovers courtship wedding sweetheart kiss heartbreak soulmate engagement flirtation bride",
    ),
    "science-fiction": (
        "futuristic dystopian interstellar cybernetic robotic galactic",
        "spaceship android alien planet starship cyborg wormhole asteroid laboratory timeline",
    ),
    "thriller": (
        "tense suspenseful paranoid nail-biting claustrophobic twisty",
        "conspiracy hostage assassin spy fugitive stalker kidnapping countdown blackmail agent",
    ),
    "family": (
        "wholesome charming playful kid-friendly cheerful gentle",
        "puppy grandma playground treehouse birthday toys summer-camp pony classroom sleepover",
    ),
    "western": (
        "dusty rugged lawless frontier sun-baked rawhide",
        "cowboy sheriff outlaw saloon ranch stagecoach gunslinger prairie posse cattle",
    ),
    "war": (
        "harrowing battle-scarred wartime embattled heroic tactical",
        "soldier battalion trench battlefield platoon general invasion resistance bomber siege",
    ),
    "biography": (
        "inspiring candid true-life remarkable pioneering celebrated",
        "memoir career legacy childhood inventor athlete musician activist scientist entrepreneur",
    ),
}
CATEGORY_VOCAB: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    cat: (tuple(adjectives.split()), tuple(nouns.split()))
    for cat, (adjectives, nouns) in _VOCAB_TEXT.items()
}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_VOCAB)

_KIND = {"movies": ("film", "movie", "feature"), "books": ("novel", "book", "tale")}
_PROVIDER_SUFFIX = {
    "movies": ("Pictures", "Films", "Studios"),
    "books": ("Press", "Books", "House"),
}
_PROVIDER_WORDS = tuple(
    """Aster Beacon Cobalt Driftwood Ember Fjord Granite Harbor Iris Juniper Kestrel Lantern
    Meridian Nimbus Orchard Pinnacle Quill Redwood Summit Tidal Umber Vantage Willow Xenon Yarrow
    Zephyr Atlas Bramble Cinder Dune Echo Falcon Glacier Hollow Ivory Jasper""".split()
)
# Primary-category sentences ({a}, {b}: adjectives; {n}, {m}, {o}, {p}: nouns; {kind}: film...).
_PRIMARY_SENTENCES = (
    "A {a} {kind} about a {n} and a {m}.",
    "Expect {b} moments, a {o} and plenty of {p}.",
    "Fans of {b} stories with a {o} will find a lot to like here.",
    "At its heart is a {b} tale of {o} and {p}.",
)
_SECONDARY_SENTENCES = (
    "It also has a {a} streak, with a {n} along the way.",
    "There is a touch of {n} too, and a {a} turn near the end.",
)
_CLOSING = {"movies": "Running time: {x} minutes.", "books": "Length: {x} pages."}


@dataclass(frozen=True)
class WorldConfig(ConfigBase):
    """Every knob of the sample world; the defaults generate the committed ``sample_data/``.

    A :class:`~recaudit.config.ConfigBase`: types are checked when built (a JSON list given for a tuple
    becomes a tuple) and :meth:`from_dict` refuses unknown keys.

    Attributes:
        seed: seed of the single PCG64 generator; same seed -> same world.
        n_users: users, shared by both domains (ids ``u00001`` ...).
        n_items: items over both domains (ids ``m0001`` ... for movies, ``b0001`` ... for books).
        movies_item_share: share of items that are movies; the rest are books.
        n_categories: number of categories used, the first ones of :data:`CATEGORIES` (at most 16).
        category_prior_exponent: category sizes and favourite choices follow ``w_c ∝ rank^-x``
            over a seeded permutation of the categories (0 = all categories equally common).
        item_category_probs: probabilities that an item has 1, 2 or 3 categories.
        n_providers: providers over both domains (half studios, half publishers).
        provider_zipf_exponent: provider catalogue sizes ``∝ rank^-x`` within a domain (each
            provider has at least one item).
        popularity_exponent: item popularity weight ``∝ rank^-x`` within a domain (Zipf).
        favourite_count_probs: probabilities that a user has 1, 2 or 3 favourite categories.
        favourite_share: probability that an interaction is drawn from the favourite categories;
            the rest is popularity-driven exploration of the whole domain (which may also hit
            favourites).
        mean_interactions: mean of the log-normal number of interactions per user (before clipping).
        interactions_sigma: sigma of that log-normal (heavier tail when larger).
        min_interactions: lower clip of interactions per user.
        max_interactions: upper clip of interactions per user.
        movies_share_beta: a user's probability that a session is a movies session ~ Beta(x, x).
        drift_share: share of users whose taste drifts to one new category.
        drift_point_range: the drift happens after this fraction (uniform in the range) of a user's
            interactions, at a session boundary; must end below 0.8 so the last 20% is post-drift.
        cold_user_share: share of users held out as cold (all their interactions go to
            cold_interactions).
        cold_item_share: share of items per domain held out as cold.
        mean_session_length: mean interactions per session (1 + Poisson(mean - 1)).
        start_time: first possible timestamp (int seconds, UTC); default 2022-01-01T00:00:00Z.
        span_days: length of the time window in days.
        min_active_fraction: a user's active period is uniform in [min_active_fraction, 1] of the
            span.
        min_session_gap_days: minimum gap between the end of a session and the start of the next.
        mean_click_gap_s: mean extra gap between interactions inside a session, seconds
            (exponential).
        min_click_gap_s: minimum gap between interactions inside a session, seconds.
        max_click_gap_s: maximum gap between interactions inside a session, seconds.
        taste_dim: dimension of the latent tastes: every user and item gets a N(0, I) vector.
        taste_strength: weight s of the latent affinity in every draw,
            ``log P(i) = log pop_i + s * <user_taste, item_taste> / sqrt(taste_dim) + const``, so that
            inside a category people with similar tastes pick similar items — structure a
            collaborative model can learn and a popularity ranking cannot (0 turns it off).
    """

    seed: int = 42
    n_users: int = 5000
    n_items: int = 3000
    movies_item_share: float = 0.5
    n_categories: int = 16
    category_prior_exponent: float = 0.6
    item_category_probs: tuple[float, float, float] = (0.5, 0.35, 0.15)
    n_providers: int = 60
    provider_zipf_exponent: float = 1.2
    popularity_exponent: float = 1.2
    favourite_count_probs: tuple[float, float, float] = (0.4, 0.4, 0.2)
    favourite_share: float = 0.8
    mean_interactions: float = 40.0
    interactions_sigma: float = 0.8
    min_interactions: int = 10
    max_interactions: int = 300
    movies_share_beta: float = 2.5
    drift_share: float = 0.2
    drift_point_range: tuple[float, float] = (0.5, 0.7)
    cold_user_share: float = 0.05
    cold_item_share: float = 0.05
    mean_session_length: float = 5.0
    start_time: int = 1_640_995_200
    span_days: int = 730
    min_active_fraction: float = 0.25
    min_session_gap_days: float = 1.0
    mean_click_gap_s: float = 180.0
    min_click_gap_s: float = 30.0
    max_click_gap_s: float = 1800.0
    taste_dim: int = 8
    taste_strength: float = 3.5

    UNKNOWN_KEYS_HINT: ClassVar[str] = "regenerate the world with this version of recaudit"

    def validate(self) -> None:
        """Reject settings that cannot produce the documented structure."""
        problems = []
        if self.n_users < 2 or self.n_items < 2 * len(DOMAINS):
            problems.append("need n_users >= 2 and n_items >= 4")
        if not 2 <= self.n_categories <= len(CATEGORIES):
            problems.append(f"n_categories must be in [2, {len(CATEGORIES)}]")
        if not len(DOMAINS) <= self.n_providers <= 2 * 3 * len(_PROVIDER_WORDS):
            problems.append(f"n_providers must be in [2, {6 * len(_PROVIDER_WORDS)}]")
        for name in (
            "movies_item_share",
            "favourite_share",
            "drift_share",
            "cold_user_share",
            "cold_item_share",
            "min_active_fraction",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be in [0, 1]")
        for name in ("item_category_probs", "favourite_count_probs"):
            probs = getattr(self, name)
            if len(probs) != 3 or min(probs) < 0 or abs(sum(probs) - 1.0) > 1e-9:
                problems.append(f"{name} must be 3 probabilities summing to 1")
        lo, hi = self.drift_point_range
        if not 0.0 < lo <= hi < 0.8:
            problems.append("drift_point_range must satisfy 0 < lo <= hi < 0.8")
        if not 1 <= self.min_interactions <= self.max_interactions:
            problems.append("need 1 <= min_interactions <= max_interactions")
        if self.min_interactions < 4 and self.drift_share > 0:
            problems.append("drifting users need min_interactions >= 4")
        if (
            self.mean_interactions <= 0
            or self.interactions_sigma < 0
            or self.movies_share_beta <= 0
        ):
            problems.append("mean_interactions and movies_share_beta must be > 0, sigma >= 0")
        if self.mean_session_length < 1 or self.span_days < 1:
            problems.append("mean_session_length and span_days must be >= 1")
        if not 0 <= self.min_click_gap_s <= self.max_click_gap_s:
            problems.append("need 0 <= min_click_gap_s <= max_click_gap_s")
        if self.taste_dim < 1 or self.taste_strength < 0:
            problems.append("need taste_dim >= 1 and taste_strength >= 0")
        if problems:
            raise RecauditInputError(
                "WorldConfig",
                "; ".join(problems),
                "see the WorldConfig docstring for each field's range",
            )


@dataclass
class SampleWorld:
    """A generated (or loaded) sample world.

    Attributes:
        interactions: warm interactions only (no cold user, no cold item): user_id, item_id,
            timestamp (int64 s), rating (float, 0.5-5 in half stars), domain, session_id;
            sorted by (user_id, timestamp), timestamps strictly increasing per user.
        cold_interactions: same columns; every interaction of a cold user or of a cold item.
        items: every item (cold included): item_id, title, category (primary first, "|"-separated),
            domain, provider, text, planted_popularity (Zipf weight, sums to 1 per domain), is_cold.
        users: every user: user_id, favourite_categories ("|"), drifts, drift_category ("" if none),
            drift_time (int64 s, -1 if none; interactions at or after it follow the new taste),
            is_cold, movies_share (planted probability that a session is a movies session).
        config: the configuration that generated the world.
    """

    interactions: pd.DataFrame
    cold_interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    config: WorldConfig


INTERACTION_SCHEMA = pa.schema(
    [
        (S.USER_ID, pa.string()),
        (S.ITEM_ID, pa.string()),
        (S.TIMESTAMP, pa.int64()),
        (S.RATING, pa.float64()),
        (S.DOMAIN, pa.string()),
        (S.SESSION_ID, pa.string()),
    ]
)
ITEM_SCHEMA = pa.schema(
    [
        (S.ITEM_ID, pa.string()),
        (S.TITLE, pa.string()),
        (S.CATEGORY, pa.string()),
        (S.DOMAIN, pa.string()),
        (S.PROVIDER, pa.string()),
        (S.TEXT, pa.string()),
        ("planted_popularity", pa.float64()),
        ("is_cold", pa.bool_()),
    ]
)
USER_SCHEMA = pa.schema(
    [
        (S.USER_ID, pa.string()),
        ("favourite_categories", pa.string()),
        ("drifts", pa.bool_()),
        ("drift_category", pa.string()),
        ("drift_time", pa.int64()),
        ("is_cold", pa.bool_()),
        ("movies_share", pa.float64()),
    ]
)
# file name -> (SampleWorld attribute, arrow schema); the files write_world owns, besides world.json
WORLD_TABLES: dict[str, tuple[str, pa.Schema]] = {
    "interactions.parquet": ("interactions", INTERACTION_SCHEMA),
    "cold_interactions.parquet": ("cold_interactions", INTERACTION_SCHEMA),
    "items.parquet": ("items", ITEM_SCHEMA),
    "users.parquet": ("users", USER_SCHEMA),
}
WORLD_JSON = "world.json"


# ----------------------------------------------------------------------------------------------
# items
# ----------------------------------------------------------------------------------------------


# The world must be the same bytes on every machine (the committed sample_data is checked against it).
# numpy picks its float64 log/pow kernels and OpenBLAS its dot-product kernels by CPU, and they differ in
# the last bit, which moves Gumbel top-k draws. So the generator uses only correctly rounded element-wise
# arithmetic (+ - * / sqrt) and libm (math.log, math.pow) for everything that decides a draw.


def _libm(fn: Any, values: np.ndarray) -> np.ndarray:
    """``fn`` (a ``math`` function) element by element: the same bits on every CPU, unlike numpy's
    CPU-dispatched SIMD kernels."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    return np.fromiter((fn(float(v)) for v in flat), dtype=np.float64, count=flat.size).reshape(
        np.shape(values)
    )


def _row_dots(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` summed column by column in a fixed order (no BLAS kernel choice)."""
    out = matrix[:, 0] * vector[0]
    for d in range(1, matrix.shape[1]):
        out = out + matrix[:, d] * vector[d]
    return out


def _zipf_weights(n: int, exponent: float) -> np.ndarray:
    """Normalised Zipf weights ``w_r = r^-exponent / sum_k k^-exponent`` for ranks 1..n."""
    w = _libm(lambda r: math.pow(r, -exponent), np.arange(1, n + 1, dtype=np.float64))
    return w / w.sum()


def _apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` into integer parts ∝ ``weights``, each >= 1 (largest-remainder method)."""
    n = len(weights)
    extra = weights * (total - n)
    parts = np.floor(extra).astype(np.int64)
    order = np.argsort(-(extra - parts), kind="stable")
    parts[order[: total - n - parts.sum()]] += 1
    return parts + 1


def _provider_names(domain: str, n: int) -> list[str]:
    """Unique provider names for one domain, e.g. ``Aster Pictures``, ``Beacon Films``."""
    words, suffixes = _PROVIDER_WORDS, _PROVIDER_SUFFIX[domain]
    offset = 0 if domain == DOMAINS[0] else len(words) // 2
    return [f"{words[(k + offset) % len(words)]} {suffixes[k // len(words)]}" for k in range(n)]


def _item_text(rng: np.random.Generator, domain: str, cats: list[str]) -> str:
    """Templated description: two sentences from the primary category, one per secondary one."""
    adjs, nouns = CATEGORY_VOCAB[cats[0]]
    a, b = rng.choice(len(adjs), size=2, replace=False)
    n, m, o, p = rng.choice(len(nouns), size=4, replace=False)
    kind = _KIND[domain][int(rng.integers(len(_KIND[domain])))]
    second = _PRIMARY_SENTENCES[1 + int(rng.integers(len(_PRIMARY_SENTENCES) - 1))]
    parts = [
        _PRIMARY_SENTENCES[0].format(a=adjs[a], kind=kind, n=nouns[n], m=nouns[m]),
        second.format(b=adjs[b], o=nouns[o], p=nouns[p]),
    ]
    for cat in cats[1:]:
        sa, sn = CATEGORY_VOCAB[cat]
        template = _SECONDARY_SENTENCES[int(rng.integers(len(_SECONDARY_SENTENCES)))]
        parts.append(
            template.format(a=sa[int(rng.integers(len(sa)))], n=sn[int(rng.integers(len(sn)))])
        )
    x = int(rng.integers(80, 180)) if domain == "movies" else int(rng.integers(120, 900))
    parts.append(_CLOSING[domain].format(x=x))
    return re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", " ".join(parts))


def _item_title(rng: np.random.Generator, domain: str, primary: str) -> str:
    """A title from the primary category's words, e.g. ``Haunted Cabin``, ``The Outlaw's Ranch``."""
    adjs, nouns = CATEGORY_VOCAB[primary]
    noun = nouns[int(rng.integers(len(nouns)))].replace("-", " ").title()
    if domain == "movies":
        return f"{adjs[int(rng.integers(len(adjs)))].replace('-', ' ').title()} {noun}"
    other = nouns[int(rng.integers(len(nouns)))].replace("-", " ").title()
    return f"The {noun}'s {other}" if other != noun else f"The {noun}"


@dataclass
class _Catalogue:
    """Internal item arrays (row order = items table order)."""

    item_id: list[str]
    domain: np.ndarray  # int index into DOMAINS
    cats: list[list[int]]  # category indices, primary first
    member: np.ndarray  # bool [n_items, n_categories]
    primary: np.ndarray  # int
    popularity: np.ndarray  # float, sums to 1 per domain
    frame: pd.DataFrame


def _make_catalogue(
    cfg: WorldConfig, rng: np.random.Generator, cat_prior: np.ndarray
) -> _Catalogue:
    """Draw domains, categories, providers, popularity, titles and texts of every item."""
    names = CATEGORIES[: cfg.n_categories]
    n_movies = int(round(cfg.n_items * cfg.movies_item_share))
    n_movies = min(max(n_movies, 2), cfg.n_items - 2)
    sizes = (n_movies, cfg.n_items - n_movies)
    n_prov = (cfg.n_providers // 2, cfg.n_providers - cfg.n_providers // 2)
    item_id: list[str] = []
    domain_idx, providers, popularity = [], [], []
    for d, (dom, size) in enumerate(zip(DOMAINS, sizes, strict=True)):
        width = max(4, len(str(size)))
        item_id += [f"{dom[0]}{k:0{width}d}" for k in range(1, size + 1)]
        domain_idx.append(np.full(size, d))
        k_prov = min(n_prov[d], size)
        prov_sizes = _apportion(size, _zipf_weights(k_prov, cfg.provider_zipf_exponent))
        prov_of_item = rng.permutation(np.repeat(np.arange(k_prov), prov_sizes))
        prov_names = _provider_names(dom, k_prov)
        providers += [prov_names[p] for p in prov_of_item]
        popularity.append(_zipf_weights(size, cfg.popularity_exponent)[rng.permutation(size)])
    n_cats = rng.choice(3, size=cfg.n_items, p=cfg.item_category_probs) + 1
    cats: list[list[int]] = []
    member = np.zeros((cfg.n_items, cfg.n_categories), dtype=bool)
    for i, k in enumerate(n_cats):
        chosen = [int(c) for c in rng.choice(cfg.n_categories, size=k, replace=False, p=cat_prior)]
        cats.append(chosen)
        member[i, chosen] = True
    domains = np.concatenate(domain_idx)
    titles, texts = [], []
    seen: dict[str, int] = {}
    for i in range(cfg.n_items):
        dom = DOMAINS[domains[i]]
        title = _item_title(rng, dom, names[cats[i][0]])
        seen[title] = seen.get(title, 0) + 1
        titles.append(title if seen[title] == 1 else f"{title} {seen[title]}")
        texts.append(_item_text(rng, dom, [names[c] for c in cats[i]]))
    frame = pd.DataFrame(
        {
            S.ITEM_ID: item_id,
            S.TITLE: titles,
            S.CATEGORY: [S.CATEGORY_SEP.join(names[c] for c in cs) for cs in cats],
            S.DOMAIN: [DOMAINS[d] for d in domains],
            S.PROVIDER: providers,
            S.TEXT: texts,
            "planted_popularity": np.concatenate(popularity),
        }
    )
    return _Catalogue(
        item_id,
        domains,
        cats,
        member,
        np.array([c[0] for c in cats]),
        np.concatenate(popularity),
        frame,
    )


# ----------------------------------------------------------------------------------------------
# users and their interactions
# ----------------------------------------------------------------------------------------------


def _session_lengths(rng: np.random.Generator, total: int, mean: float) -> np.ndarray:
    """Split ``total`` interactions into sessions of length 1 + Poisson(mean - 1) (last one cut)."""
    n_draw = int(np.ceil(total / mean * 2)) + 4
    lengths = 1 + rng.poisson(mean - 1.0, size=n_draw)
    while lengths.sum() < total:
        lengths = np.concatenate([lengths, 1 + rng.poisson(mean - 1.0, size=n_draw)])
    ends = np.cumsum(lengths)
    k = int(np.searchsorted(ends, total)) + 1
    lengths = lengths[:k].copy()
    lengths[-1] -= ends[k - 1] - total
    return lengths


class _UserSimulator:
    """Draws one user's interactions: items per phase and domain, sessions and timestamps."""

    def __init__(self, cfg: WorldConfig, cat: _Catalogue, rng: np.random.Generator) -> None:
        self.cfg, self.cat, self.rng = cfg, cat, rng
        self.dom_items = [np.flatnonzero(cat.domain == d) for d in range(len(DOMAINS))]
        self.dom_logpop = [_libm(math.log, cat.popularity[ix]) for ix in self.dom_items]

    def _top_k(self, d: int, log_w: np.ndarray, n: int, used: np.ndarray) -> np.ndarray:
        """``n`` distinct unused items of domain ``d`` drawn with weights ``exp(log_w)`` without
        replacement: add Gumbel noise to the log weights and keep the top n (Gumbel top-k trick,
        Kool, van Hoof & Welling, ICML 2019)."""
        ix = self.dom_items[d]
        keys = log_w + self.rng.gumbel(size=len(ix))
        keys[used[ix] | np.isneginf(log_w)] = -np.inf
        n = min(n, int(np.isfinite(keys).sum()))
        if n <= 0:
            return np.empty(0, dtype=np.int64)
        top = np.argpartition(-keys, n - 1)[:n]
        # argpartition returns the top n in an order its CPU-dispatched SIMD kernel decides (AVX2 and
        # AVX-512 differ), and that order feeds later draws: put them in key order (no ties: Gumbel keys)
        return ix[top[np.argsort(-keys[top], kind="stable")]]

    def _draw_items(
        self, d: int, n: int, favs: list[int], used: np.ndarray, affinity: np.ndarray
    ) -> np.ndarray:
        """``n`` distinct items of domain ``d``: Binomial(n, favourite_share) of them from the
        favourite categories, the rest (and any shortfall when the favourites run out) from the
        whole domain, both weighted by popularity and latent affinity
        (``P(i) ∝ pop_i * exp(affinity_i)``) and without repeats."""
        ix = self.dom_items[d]
        fav = self.cat.member[np.ix_(ix, favs)].any(axis=1)
        n_fav = int(self.rng.binomial(n, self.cfg.favourite_share))
        log_w = self.dom_logpop[d] + affinity[ix]
        fav_log_w = np.where(fav, log_w, -np.inf)
        picked = self._top_k(d, fav_log_w, n_fav, used)
        used = used.copy()
        used[picked] = True
        explore = self._top_k(d, log_w, n - len(picked), used)
        return np.concatenate([picked, explore])

    def simulate(
        self,
        n: int,
        favs: list[int],
        drift_cat: int,
        drift_q: float,
        movies_share: float,
        affinity: np.ndarray,
    ) -> tuple[list[np.ndarray], list[bool], int]:
        """Return (items per session in time order, post-drift flag per session, n_pre)."""
        rng = self.rng
        if drift_cat >= 0:
            n_pre = int(round(drift_q * n))
            phases = [(n_pre, favs), (n - n_pre, [drift_cat])]
        else:
            n_pre = n
            phases = [(n, favs)]
        used = np.zeros(len(self.cat.item_id), dtype=bool)
        sessions: list[np.ndarray] = []
        post: list[bool] = []
        for p, (count, phase_favs) in enumerate(phases):
            lengths = _session_lengths(rng, count, self.cfg.mean_session_length)
            dom = (rng.random(len(lengths)) >= movies_share).astype(np.int64)  # 0 movies, 1 books
            phase_sessions: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(lengths)
            for d in range(len(DOMAINS)):
                idx = np.flatnonzero(dom == d)
                if len(idx) == 0:
                    continue
                items = self._draw_items(d, int(lengths[idx].sum()), phase_favs, used, affinity)
                used[items] = True
                # group by primary category so that a session is mostly one category
                items = items[np.lexsort((rng.random(len(items)), self.cat.primary[items]))]
                order = rng.permutation(idx)
                bounds = np.concatenate([[0], np.cumsum(lengths[order])])
                for j, sidx in enumerate(order):
                    chunk = items[bounds[j] : bounds[j + 1]]
                    phase_sessions[sidx] = rng.permutation(chunk)
            kept = [s for s in phase_sessions if len(s)]
            sessions += kept
            post += [p == 1] * len(kept)
        return sessions, post, n_pre

    def timestamps(self, sessions: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Timestamps of every interaction and the start time of every session (int64 seconds).

        Inside a session, gaps are ``clip(min_click_gap + Exp(mean_click_gap), max_click_gap)``;
        between the end of a session and the next start there are ``min_session_gap_days`` plus an
        exponential share of the user's remaining active time, so sessions are days apart.
        """
        cfg, rng = self.cfg, self.rng
        span = cfg.span_days * 86400.0
        active = span * rng.uniform(cfg.min_active_fraction, 1.0)
        begin = rng.uniform(0.0, span - active)
        offsets = []
        for s in sessions:
            gaps = np.minimum(
                cfg.min_click_gap_s + rng.exponential(cfg.mean_click_gap_s, len(s) - 1),
                cfg.max_click_gap_s,
            )
            offsets.append(np.concatenate([[0.0], np.cumsum(np.round(gaps))]))
        durations = np.array([o[-1] for o in offsets])
        k = len(sessions)
        min_gap = cfg.min_session_gap_days * 86400.0
        free = active - durations.sum() - (k - 1) * min_gap
        if free < 0:  # very heavy user: squeeze sessions, still at least an hour apart
            min_gap, free = 3600.0, max(active - durations.sum() - (k - 1) * 3600.0, 0.0)
        extra = rng.exponential(size=k)
        extra = extra / extra.sum() * free
        starts = np.empty(k)
        t = begin + extra[0] * 0.5  # the first session does not have to start at the window's edge
        for j in range(k):
            starts[j] = t
            t += durations[j] + min_gap + extra[j] * (1.0 if j else 0.5)
        starts = cfg.start_time + np.floor(starts)
        ts = np.concatenate([starts[j] + offsets[j] for j in range(k)])
        return ts.astype(np.int64), starts.astype(np.int64)


def _ratings(rng: np.random.Generator, in_taste: np.ndarray) -> np.ndarray:
    """Half-star ratings: N(4.0, 0.7) for items in the current taste, N(3.0, 1.0) otherwise."""
    raw = np.where(
        in_taste, rng.normal(4.0, 0.7, len(in_taste)), rng.normal(3.0, 1.0, len(in_taste))
    )
    return np.clip(np.round(raw * 2) / 2, 0.5, 5.0)


def generate_world(config: WorldConfig | None = None) -> SampleWorld:
    """Generate the sample world described in the module docstring; deterministic in ``config``."""
    cfg = config if config is not None else WorldConfig()
    rng = np.random.Generator(np.random.PCG64(cfg.seed))
    names = CATEGORIES[: cfg.n_categories]
    cat_prior = _zipf_weights(cfg.n_categories, cfg.category_prior_exponent)[
        rng.permutation(cfg.n_categories)
    ]
    cat = _make_catalogue(cfg, rng, cat_prior)

    # cold items: the same share in each domain; cold users: a random share of users
    cold_item = np.zeros(cfg.n_items, dtype=bool)
    for d in range(len(DOMAINS)):
        ix = np.flatnonzero(cat.domain == d)
        cold_item[rng.choice(ix, size=int(round(cfg.cold_item_share * len(ix))), replace=False)] = (
            True
        )
    cold_user = np.zeros(cfg.n_users, dtype=bool)
    cold_user[
        rng.choice(cfg.n_users, size=int(round(cfg.cold_user_share * cfg.n_users)), replace=False)
    ] = True

    mu = math.log(cfg.mean_interactions) - cfg.interactions_sigma**2 / 2
    n_inter = np.clip(
        np.round(rng.lognormal(mu, cfg.interactions_sigma, cfg.n_users)),
        cfg.min_interactions,
        cfg.max_interactions,
    ).astype(np.int64)
    movies_share = rng.beta(cfg.movies_share_beta, cfg.movies_share_beta, cfg.n_users)
    n_favs = rng.choice(3, size=cfg.n_users, p=cfg.favourite_count_probs) + 1
    drifts = rng.random(cfg.n_users) < cfg.drift_share
    drift_q = rng.uniform(*cfg.drift_point_range, size=cfg.n_users)
    # Item tastes on the sphere of radius sqrt(taste_dim): then E_u[exp(affinity)] is the same for every
    # item, so the latent tastes personalise choices without changing items' expected popularity.
    item_taste = rng.normal(size=(cfg.n_items, cfg.taste_dim))
    norms = np.sqrt(_row_dots(item_taste * item_taste, np.ones(cfg.taste_dim)))
    item_taste *= math.sqrt(cfg.taste_dim) / norms[:, None]
    user_taste = rng.normal(size=(cfg.n_users, cfg.taste_dim))
    taste_scale = cfg.taste_strength / math.sqrt(max(cfg.taste_dim, 1))

    sim = _UserSimulator(cfg, cat, rng)
    uid_width = max(5, len(str(cfg.n_users)))
    user_ids = [f"u{k:0{uid_width}d}" for k in range(1, cfg.n_users + 1)]
    cols: dict[str, list[np.ndarray]] = {"u": [], "i": [], "t": [], "r": [], "s": []}
    fav_col, drift_cat_col, drift_time = [], [], np.full(cfg.n_users, DRIFT_NONE, dtype=np.int64)
    n_sessions = 0
    for u in range(cfg.n_users):
        favs = [
            int(c) for c in rng.choice(cfg.n_categories, size=n_favs[u], replace=False, p=cat_prior)
        ]
        drift_cat = -1
        if drifts[u]:
            others = np.setdiff1d(np.arange(cfg.n_categories), favs)
            drift_cat = int(rng.choice(others, p=cat_prior[others] / cat_prior[others].sum()))
        affinity = taste_scale * _row_dots(item_taste, user_taste[u])
        sessions, post, _ = sim.simulate(
            int(n_inter[u]), favs, drift_cat, drift_q[u], movies_share[u], affinity
        )
        ts, starts = sim.timestamps(sessions)
        items = np.concatenate(sessions)
        post_rows = np.repeat(np.array(post), [len(s) for s in sessions])
        taste_pre = cat.member[items][:, favs].any(axis=1)
        taste_post = cat.member[items, drift_cat] if drift_cat >= 0 else taste_pre
        cols["u"].append(np.full(len(items), u))
        cols["i"].append(items)
        cols["t"].append(ts)
        cols["r"].append(_ratings(rng, np.where(post_rows, taste_post, taste_pre)))
        cols["s"].append(
            n_sessions + np.repeat(np.arange(len(sessions)), [len(s) for s in sessions])
        )
        n_sessions += len(sessions)
        fav_col.append(S.CATEGORY_SEP.join(names[c] for c in favs))
        drift_cat_col.append(names[drift_cat] if drift_cat >= 0 else "")
        if drift_cat >= 0:
            drift_time[u] = starts[post.index(True)]

    u_all, i_all = np.concatenate(cols["u"]), np.concatenate(cols["i"])
    sid_width = max(6, len(str(n_sessions)))
    inter = pd.DataFrame(
        {
            S.USER_ID: np.asarray(user_ids, dtype=object)[u_all],
            S.ITEM_ID: np.asarray(cat.item_id, dtype=object)[i_all],
            S.TIMESTAMP: np.concatenate(cols["t"]),
            S.RATING: np.concatenate(cols["r"]),
            S.DOMAIN: np.asarray(DOMAINS, dtype=object)[cat.domain[i_all]],
            S.SESSION_ID: [f"s{k:0{sid_width}d}" for k in np.concatenate(cols["s"]) + 1],
        }
    )
    is_cold_row = cold_user[u_all] | cold_item[i_all]
    items = cat.frame.assign(is_cold=cold_item)
    users = pd.DataFrame(
        {
            S.USER_ID: user_ids,
            "favourite_categories": fav_col,
            "drifts": drifts,
            "drift_category": drift_cat_col,
            "drift_time": drift_time,
            "is_cold": cold_user,
            "movies_share": movies_share,
        }
    )
    return SampleWorld(
        interactions=_canonical(inter[~is_cold_row], INTERACTION_SCHEMA),
        cold_interactions=_canonical(inter[is_cold_row], INTERACTION_SCHEMA),
        items=_canonical(items, ITEM_SCHEMA),
        users=_canonical(users, USER_SCHEMA),
        config=cfg,
    )


# ----------------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------------


def _to_arrow(frame: pd.DataFrame, schema: pa.Schema, source: str = "SampleWorld") -> pa.Table:
    """The frame as an arrow table with exactly ``schema`` (no index, no pandas metadata)."""
    missing = [c for c in schema.names if c not in frame.columns]
    if missing:
        raise RecauditInputError(source, f"missing columns {missing}")
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    return table.replace_schema_metadata(None)


def _canonical(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """Round-trip through arrow so generated and loaded frames have identical dtypes and index."""
    return _to_arrow(frame, schema).to_pandas()


def _sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_sha256(frame: pd.DataFrame) -> str:
    """Hash of a table's content, independent of the parquet encoding and library versions.

    sha256 over the column names and the ``pandas.util.hash_pandas_object`` row hashes (column
    types are fixed by the parquet schema instead); lets a test check that regenerating the world
    gives the committed content even where a new pyarrow writes different parquet bytes.
    """
    digest = hashlib.sha256(json.dumps(list(map(str, frame.columns))).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def world_counts(world: SampleWorld) -> dict[str, int]:
    """Headline counts recorded in world.json."""
    inter, cold = world.interactions, world.cold_interactions
    return {
        "users": len(world.users),
        "items": len(world.items),
        "cold_users": int(world.users["is_cold"].sum()),
        "cold_items": int(world.items["is_cold"].sum()),
        "drifting_users": int(world.users["drifts"].sum()),
        "interactions": len(inter),
        "cold_interactions": len(cold),
        "sessions": int(pd.concat([inter[S.SESSION_ID], cold[S.SESSION_ID]]).nunique()),
        "categories": world.config.n_categories,
        "providers": int(world.items[S.PROVIDER].nunique()),
    }


def world_stats(world: SampleWorld) -> dict[str, float]:
    """How strongly the planted structure shows in the data (the figures in sample_data/README.md).

    * ``top10_share``: share of warm interactions held by the 10% most interacted warm items;
    * ``favourite_share_pre_drift``: share of all interactions before a user's drift (all of a
      non-drifting user's) whose item has one of the user's favourite categories;
    * ``drift_share_before`` / ``drift_share_after``: share of drifting users' interactions in their
      drift category before / at or after ``drift_time``;
    * ``drift_tail_share``: the same in the warm last 20% by time (at least one row) of each
      drifting user, i.e. in the temporal holdout;
    * ``both_domains_share``: share of warm users with warm interactions in both domains;
    * ``session_coherence``: mean share of a session's items (sessions of 2+) in its most common
      primary category.
    """
    items, users = world.items, world.users
    cats = {
        i: set(S.split_categories(c))
        for i, c in zip(items[S.ITEM_ID], items[S.CATEGORY], strict=True)
    }
    rows = pd.concat([world.interactions, world.cold_interactions]).merge(users, on=S.USER_ID)
    pre = ~rows["drifts"] | (rows[S.TIMESTAMP] < rows["drift_time"])
    in_fav = np.array(
        [
            bool(cats[i] & set(S.split_categories(f)))
            for i, f in zip(rows[S.ITEM_ID], rows["favourite_categories"], strict=True)
        ]
    )

    def in_drift(frame: pd.DataFrame) -> float:
        pairs = zip(frame[S.ITEM_ID], frame["drift_category"], strict=True)
        hits = [d in cats[i] for i, d in pairs]
        return float(np.mean(hits)) if hits else float("nan")

    drifting = rows[rows["drifts"]]
    warm = world.interactions.merge(users, on=S.USER_ID)
    warm = warm[warm["drifts"]].sort_values([S.USER_ID, S.TIMESTAMP])
    n = warm.groupby(S.USER_ID)[S.USER_ID].transform("size")
    tail = warm[warm.groupby(S.USER_ID).cumcount() >= n - np.maximum(np.floor(0.2 * n), 1)]
    counts = np.sort(
        world.interactions[S.ITEM_ID]
        .value_counts()
        .reindex(items.loc[~items["is_cold"], S.ITEM_ID], fill_value=0)
        .to_numpy()
    )[::-1]
    primary = items.set_index(S.ITEM_ID)[S.CATEGORY].str.split(S.CATEGORY_SEP).str[0]
    per_cat = rows.assign(p=primary.loc[rows[S.ITEM_ID]].to_numpy()).groupby([S.SESSION_ID, "p"])
    top = per_cat.size().groupby(level=0).max()
    size = rows.groupby(S.SESSION_ID).size().loc[top.index]
    return {
        "top10_share": float(counts[: int(np.ceil(0.1 * len(counts)))].sum() / counts.sum()),
        "favourite_share_pre_drift": float(in_fav[pre.to_numpy()].mean()),
        "drift_share_before": in_drift(drifting[drifting[S.TIMESTAMP] < drifting["drift_time"]]),
        "drift_share_after": in_drift(drifting[drifting[S.TIMESTAMP] >= drifting["drift_time"]]),
        "drift_tail_share": in_drift(tail),
        "both_domains_share": float(
            (world.interactions.groupby(S.USER_ID)[S.DOMAIN].nunique() == 2).mean()
        ),
        "session_coherence": float((top[size >= 2] / size[size >= 2]).mean()),
    }


def write_world(world: SampleWorld, out_dir: Path) -> list[Path]:
    """Write the world's four parquet tables and ``world.json`` into ``out_dir``; return the paths.

    Only the files listed in :data:`WORLD_TABLES` and ``world.json`` are replaced; anything else in
    ``out_dir`` (a README, say) is left alone. Each file is written to a temporary directory inside
    ``out_dir`` and moved into place with ``os.replace`` (atomic per file), world.json last, so a
    reader never sees a manifest whose hashes describe files not yet written. Parquet: zstd level 9,
    dictionary encoding, one row group, no pandas metadata: same content -> same bytes.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise RecauditInputError(out_dir, "is a file, not a directory", "choose a directory path")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".world-", dir=out_dir))
    try:
        meta: dict[str, dict[str, Any]] = {}
        for name, (attr, schema) in WORLD_TABLES.items():
            frame = getattr(world, attr)
            pq.write_table(
                _to_arrow(frame, schema, attr),
                tmp / name,
                compression="zstd",
                compression_level=9,
                use_dictionary=True,
                row_group_size=1 << 22,
            )
            meta[name] = {
                "rows": len(frame),
                "bytes": (tmp / name).stat().st_size,
                "sha256": _sha256(tmp / name),
                "content_sha256": content_sha256(frame),
            }
        manifest = {
            "format": WORLD_FORMAT,
            "format_version": WORLD_FORMAT_VERSION,
            "generator": "recaudit.data.synthetic.generate_world",
            "config": world.config.to_dict(),
            "counts": world_counts(world),
            "files": meta,
            "library_versions": {
                "pyarrow": pa.__version__,
                "pandas": pd.__version__,
                "numpy": np.__version__,
            },
        }
        (tmp / WORLD_JSON).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        written = []
        for name in [*WORLD_TABLES, WORLD_JSON]:
            os.replace(tmp / name, out_dir / name)
            written.append(out_dir / name)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_manifest(world_dir: Path) -> dict[str, Any]:
    """Read and check ``world.json`` (format name and version)."""
    path = Path(world_dir) / WORLD_JSON
    if not path.is_file():
        raise RecauditInputError(
            path, "no world.json here", "generate a world with `recaudit sample --out DIR`"
        )
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecauditInputError(path, f"not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != WORLD_FORMAT:
        raise RecauditInputError(path, f"not a {WORLD_FORMAT} manifest")
    if manifest.get("format_version") != WORLD_FORMAT_VERSION:
        raise RecauditInputError(
            path,
            f"format_version {manifest.get('format_version')!r} is not {WORLD_FORMAT_VERSION}",
            "regenerate the world",
        )
    return manifest


def load_world(world_dir: Path) -> SampleWorld:
    """Load a world written by :func:`write_world`; every file's sha256 must match world.json."""
    world_dir = Path(world_dir)
    manifest = read_manifest(world_dir)
    config = WorldConfig.from_dict(manifest.get("config", {}), str(world_dir / WORLD_JSON))
    frames: dict[str, pd.DataFrame] = {}
    for name, (attr, schema) in WORLD_TABLES.items():
        path = world_dir / name
        expected = manifest.get("files", {}).get(name, {}).get("sha256")
        if not path.is_file():
            raise RecauditInputError(path, "missing", "regenerate with `recaudit sample --out DIR`")
        if _sha256(path) != expected:
            raise RecauditInputError(
                path,
                "sha256 differs from world.json (file changed or corrupt)",
                "regenerate with `recaudit sample --out DIR`",
            )
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise RecauditInputError(path, f"not a readable parquet file ({exc})") from exc
        if table.schema.remove_metadata() != schema:
            raise RecauditInputError(
                path, f"columns {table.schema.names} do not match the expected {schema.names}"
            )
        frames[attr] = table.to_pandas()
    return SampleWorld(config=config, **frames)


def main(argv: list[str] | None = None) -> int:
    """``python -m recaudit.data.synthetic --out sample_data [--seed N]``: generate and write."""
    parser = argparse.ArgumentParser(description="Generate the recaudit sample world.")
    parser.add_argument("--out", type=Path, default=Path("sample_data"))
    parser.add_argument("--seed", type=int, default=WorldConfig.seed)
    args = parser.parse_args(argv)
    world = generate_world(WorldConfig(seed=args.seed))
    for path in write_world(world, args.out):
        print(f"{path}  {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
