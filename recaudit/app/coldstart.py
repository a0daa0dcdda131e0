"""The Cold start page's cached work and its sections (an app-support module: it may import Streamlit).

Every slow call is cached per process, keyed by the bundle's resolved path and its manifest's mtime
(:func:`recaudit.app.shell.bundle_key`, so a retrained bundle is picked up) and the settings:

* :func:`get_item_curve`, :func:`get_user_curve`: :func:`recaudit.workflows.coldstart.new_item_curve` and
  :func:`~recaudit.workflows.coldstart.new_user_curve` on the chosen held-out interactions
  (``st.cache_data``: a frame, copied per caller);
* :func:`get_top_lists`: every bundle user's top-k over the full catalogue, seen items excluded (the
  shared :func:`recaudit.app.shell.get_scorer`; ``st.cache_resource``, read only), behind both "where cold
  items land" and the users a typed-in item would reach;
* :func:`get_solver`: the fold-in / learned-prior solver of :func:`recaudit.models.newusers.new_user_solver`
  (``st.cache_resource``: its Gram matrix and prior are computed once).

The held-out interactions are the bundle's test set (default), a ``cold_interactions.parquet`` found beside
the bundle or in the repository's ``sample_data/`` (the sample world's planted cold users and items) when
it shares items with the catalogue, or an uploaded file (:func:`held_out_picker`).

The tables and figures come from :mod:`recaudit.views.coldstart` (no Streamlit there); the page script
``pages/cold_start.py`` only calls the section functions below in order.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from recaudit.app import map as app_map
from recaudit.app import shell as support
from recaudit.app.audit import fmt, k_selector
from recaudit.bundle import Bundle
from recaudit.data.readers import read_pairs
from recaudit.data.schema import CATEGORY, ITEM_ID, TITLE
from recaudit.errors import RecauditInputError
from recaudit.metrics.coldstart import bucket_exposure_table, cold_items
from recaudit.metrics.lists import RecLists
from recaudit.models.coldstart.trained import COLDSTART_KIND
from recaudit.models.foldin import FoldIn
from recaudit.models.newusers import PriorFoldIn, new_user_solver, row_lists
from recaudit.paths import REPO_ROOT
from recaudit.scoring.scorers import Recommendations
from recaudit.textsafe import md_code, md_text, plot_text, plot_texts
from recaudit.views import coldstart as cs_views
from recaudit.views import embedding as embedding_views
from recaudit.views import explorer as explore
from recaudit.views.projection import place_users
from recaudit.viz import map_charts
from recaudit.workflows import coldstart as workflow

logger = logging.getLogger(__name__)

COLD_FILE = "cold_interactions.parquet"
"""The name of a held-out file of newcomers looked for beside the bundle and in ``sample_data/``."""
TEST_SET = "test"
HELD_OUT = "cs_held_out"
"""Durable session key: which held-out interactions the curves use (a source key)."""
NEW_USER_METHODS = ("foldin", "meta")
MAX_CURVE_USERS = 5_000
MAX_CURVE_ITEMS = 2_000
"""The curves use at most this many held-out users / cold items (evenly spaced by id, the workflows'
``max_users`` / ``max_items``): a page answer in seconds on a large test set, intervals still tight."""
MAX_LIST_USERS = 100_000
"""At most this many users' top-k lists (evenly spaced by row) are scored for the landing section and the
playground's reach: enough for shares to three decimals, bounded for very large bundles."""
MAX_ONBOARD_OPTIONS = 5_000
"""The onboarding picker offers at most this many items (most popular first; picked ones always kept)."""
N_NEAREST = 10
NONE = "(none)"
MAP_NEIGHBOURS = 15
INFO_NO_ENCODER = (
    "This bundle (kind {kind}) has no content encoder, so items without interactions cannot be scored "
    "from a description: the new-item curve and the new-item playground need one. Train it with "
    "`recaudit train INTERACTIONS --items ITEMS --content tfidf`."
)


# --------------------------------------------------------------------------------------------------
# which bundles and which held-out interactions


def kind_of(bundle: Bundle) -> str:
    """The bundle's model kind as the manifest names it (``"?"`` when missing)."""
    return str(bundle.manifest.get("model", {}).get("kind", "?"))


def is_coldstart(bundle: Bundle) -> bool:
    """Whether the bundle's model has a content encoder (the ``coldstart`` family)."""
    return kind_of(bundle) == COLDSTART_KIND


@dataclass(frozen=True)
class HeldOut:
    """One choice of held-out interactions: its cache ``key``, the label shown, and its frame (None: the
    bundle's test set, which the workflows read from the bundle themselves)."""

    key: str
    label: str
    frame: pd.DataFrame | None


@st.cache_data(max_entries=16, show_spinner=False)
def _read_file(path: str, mtime_ns: int) -> pd.DataFrame:
    return read_pairs(path)


@st.cache_data(max_entries=8, show_spinner=False)
def _read_upload(digest: str, name: str, _data: bytes) -> pd.DataFrame:
    suffix = Path(name).suffix.lower() or ".parquet"
    with tempfile.TemporaryDirectory(prefix="recaudit-upload-") as folder:
        target = Path(folder) / f"held_out{suffix}"
        target.write_bytes(_data)
        frame = read_pairs(target)
    return frame


def _file_key(path: Path) -> tuple[str, int]:
    resolved = path.resolve()
    return str(resolved), resolved.stat().st_mtime_ns


def cold_files(bundle: Bundle) -> list[Path]:
    """``cold_interactions.parquet`` files beside the bundle, in its parent folder and in the repository's
    ``sample_data/`` that exist and share at least one item with the catalogue (so the sample world's file
    is offered for bundles trained on it only)."""
    places = [REPO_ROOT / "sample_data" / COLD_FILE]
    if bundle.path is not None:
        places = [bundle.path / COLD_FILE, bundle.path.parent / COLD_FILE, *places]
    found: list[Path] = []
    for place in dict.fromkeys(p.resolve() for p in places):
        if not place.is_file():
            continue
        try:
            frame = _read_file(*_file_key(place))
        except (RecauditInputError, OSError):
            logger.warning("skipping unreadable %s", place)
            continue
        if frame[ITEM_ID].astype(str).isin(bundle.item_row.index).any():
            found.append(place)
    return found


def _shown_path(path: Path) -> str:
    try:
        return path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def held_out_picker(bundle: Bundle) -> tuple[HeldOut | None, int]:
    """The held-out interactions selectbox (the bundle's test set by default, found cold files, an upload)
    and the uploader beside it; returns the choice (None when there is nothing to hold out) and how many
    choices were offered."""
    choices: dict[str, HeldOut] = {}
    if bundle.test is not None and not bundle.test.empty:
        choices[TEST_SET] = HeldOut(TEST_SET, f"the bundle's test set ({len(bundle.test):,} rows)", None)
    for path in cold_files(bundle):
        key = "file:" + str(path)
        frame = _read_file(*_file_key(path))
        choices[key] = HeldOut(key, f"{_shown_path(path)} ({len(frame):,} rows)", frame)
    pick, upload = st.columns([3, 2])
    with upload:
        uploaded = st.file_uploader(
            "…or upload held-out interactions", type=["parquet", "csv", "tsv"], key="cs_upload",
            help="user_id, item_id (timestamp optional: without it, file order) of newcomers",
        )
    if uploaded is not None:
        data = uploaded.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        frame = support.guarded(
            f"{uploaded.name}: could not read the file", _read_upload, digest, uploaded.name, data
        )
        if frame is not None:
            key = "upload:" + digest
            choices[key] = HeldOut(key, f"uploaded {uploaded.name} ({len(frame):,} rows)", frame)
    if not choices:
        with pick:
            st.info("The bundle has no test set: upload held-out interactions to draw the curves.")
        return None, 0
    default = next((k for k in choices if k.startswith("upload:")), TEST_SET)
    if uploaded is not None and st.session_state.get("_cs_last_upload") != default:
        st.session_state["_cs_last_upload"] = default  # a new upload is selected once, then left alone
        st.session_state[HELD_OUT] = default
    with pick:
        key = support.sticky(
            st.selectbox, "Held-out interactions", key=HELD_OUT, default=default, options=list(choices),
            format_func=lambda k: choices[k].label,
            help="Newcomers the curves are measured on. Users the model does not know are held out as new "
            "users (else every test user is treated as new); catalogue items without training "
            "interactions are held out as new items.",
        )
    return choices[key], len(choices)


# --------------------------------------------------------------------------------------------------
# cached calls


@st.cache_data(max_entries=32, show_spinner=False)
def _item_curve(
    path: str, mtime_ns: int, source: str, _frame: pd.DataFrame | None, k: int, n_boot: int
) -> pd.DataFrame:
    bundle = support.get_bundle(path)
    return workflow.new_item_curve(bundle, _frame, k=k, n_boot=n_boot, max_items=MAX_CURVE_ITEMS)


@st.cache_data(max_entries=32, show_spinner=False)
def _user_curve(
    path: str, mtime_ns: int, source: str, _frame: pd.DataFrame | None, k: int, n_boot: int
) -> pd.DataFrame:
    bundle = support.get_bundle(path)
    return workflow.new_user_curve(bundle, _frame, k=k, n_boot=n_boot, max_users=MAX_CURVE_USERS)


def get_item_curve(bundle: Bundle, held_out: HeldOut, k: int, n_boot: int = 1000) -> pd.DataFrame:
    """:func:`recaudit.workflows.coldstart.new_item_curve` on ``held_out`` (cached per bundle version,
    source and k). Raises ValueError as the workflow does (no encoder, no held-out cold item)."""
    return _item_curve(*support.disk_key(bundle, "shown"), held_out.key, held_out.frame, int(k), int(n_boot))


def get_user_curve(bundle: Bundle, held_out: HeldOut, k: int, n_boot: int = 1000) -> pd.DataFrame:
    """:func:`recaudit.workflows.coldstart.new_user_curve` on ``held_out`` (cached like the item curve)."""
    return _user_curve(*support.disk_key(bundle, "shown"), held_out.key, held_out.frame, int(k), int(n_boot))


def list_users(bundle: Bundle) -> np.ndarray:
    """The user rows whose lists are scored: all, or :data:`MAX_LIST_USERS` evenly spaced ones."""
    n = len(bundle.user_ids)
    if n <= MAX_LIST_USERS:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, MAX_LIST_USERS).round().astype(np.int64))


@st.cache_resource(max_entries=16, show_spinner=False)
def _top_lists(path: str, mtime_ns: int, k: int) -> Recommendations:
    bundle = support.get_bundle(path)
    scorer = support.get_scorer(bundle)
    users = bundle.user_ids[list_users(bundle)]
    return scorer.recommend(list(users), k)


def get_top_lists(bundle: Bundle, k: int) -> Recommendations:
    """The top-k over the full catalogue (seen items excluded) of the :func:`list_users` users (cached,
    shared: read it, never mutate it)."""
    return _top_lists(*support.disk_key(bundle, "shown"), int(k))


@st.cache_resource(max_entries=8, show_spinner="Preparing the new-user solver…")
def _solver(path: str, mtime_ns: int, method: str) -> FoldIn | PriorFoldIn:
    bundle = support.get_bundle(path)
    histories = row_lists(bundle.seen.indptr, bundle.seen.indices) if method == "meta" else None
    return new_user_solver(
        method, bundle.item_emb, bundle.user_emb, cosine=bundle.score == "cosine", histories=histories
    )


def get_solver(bundle: Bundle, method: str) -> FoldIn | PriorFoldIn:
    """The new-user solver of ``method`` (``foldin`` or ``meta``) for the bundle's tables (cached)."""
    return _solver(*support.disk_key(bundle, "shown"), str(method))


@st.cache_data(max_entries=16, show_spinner=False)
def _bucket_table(path: str, mtime_ns: int, k: int) -> pd.DataFrame:
    bundle = support.get_bundle(path)
    recs = _top_lists(path, mtime_ns, k)
    lists = RecLists(recs.user_ids, recs.item_index, bundle.item_ids)
    return bucket_exposure_table(lists, bundle.item_popularity)


# --------------------------------------------------------------------------------------------------
# sections


def curve_caption(curve: pd.DataFrame, what: str, metric: str, baseline: str | None) -> str:
    """The line under a curve: who was held out, and where the methods cross ``baseline``."""
    held = curve.attrs.get("held_out")
    count = int(curve["n_users"].max()) if len(curve) else 0
    capped = "n_items" not in curve.attrs and count >= MAX_CURVE_USERS  # the user curve's max_users
    sampled = " (a sample evenly spaced by id)" if capped else ""
    parts = [f"{what}; {count:,} users per point{sampled}"]
    if held == "unknown":
        parts.append("newcomers: users the model does not know")
    elif held == "test":
        parts.append("newcomers: the test users, treated as unknown (optimistic: items were trained on them)")
    if "n_items" in curve.attrs:
        n_items = int(curve.attrs["n_items"])
        sampled_items = " (a sample evenly spaced by id)" if n_items >= MAX_CURVE_ITEMS else ""
        parts.append(f"{n_items:,} held-out cold items{sampled_items}")
    text = " · ".join(parts) + ". Bands: 95% bootstrap intervals over users."
    if baseline is not None:
        text += " " + cs_views.crossing_sentence(curve, metric, baseline)
    return text


def _draw_curve(
    compute: Callable[[], pd.DataFrame], *, metric: str, title: str, what: str, key: str,
    baseline: str | None, what_failed: str, hint: str = "",
    extra: Callable[[pd.DataFrame], str] | None = None,
) -> pd.DataFrame | None:
    """Compute a curve (a ValueError, e.g. no held-out newcomer, becomes one ``st.info`` line naming
    ``what_failed``, plus ``hint``), plot it and caption it."""
    try:
        curve = compute()
    except ValueError as exc:
        st.info(md_text(f"{what_failed}: {exc}") + (f" {hint}" if hint else ""))
        return None
    except RecauditInputError as exc:
        st.error(md_text(exc.one_line()))
        return None
    st.plotly_chart(cs_views.curve_figure(curve, metric, title=title), key=key)
    caption = curve_caption(curve, what, metric, baseline)
    if extra is not None:
        caption += " " + extra(curve)
    st.caption(caption)
    return curve


def _item_weights(curve: pd.DataFrame) -> str:
    """The blend's content share at each n (``attrs["weights"]`` of the item curve), then the blend check."""
    weights = curve.attrs.get("weights") or {}
    text = ""
    rule = curve.attrs.get("blend_rule")
    if weights:
        text = (f"Blend ({rule}); " if rule else "Blend: ") + "content share by n: " + ", ".join(
            f"{int(n)}: {float(w):.0%}" for n, w in sorted(weights.items(), key=lambda kv: int(kv[0]))
        ) + ". "
    return text + cs_views.blend_sentence(curve, "recall")


def curves_section(
    bundle: Bundle, held_out: HeldOut | None, k: int, steps: support.StepStatus, *, other_sources: bool
) -> None:
    """The new-item curve (coldstart bundles; otherwise the one no-encoder line) beside the new-user curve.
    ``other_sources``: whether the picker offers other held-out interactions (said when a curve has none)."""
    st.subheader("Learning curves: how many interactions until a newcomer is served well")
    hint = "Choose other held-out interactions above." if other_sources else ""
    left, right = st.columns(2)
    with left:
        if not is_coldstart(bundle):
            st.info(INFO_NO_ENCODER.format(kind=md_code(kind_of(bundle))))
        elif held_out is None:
            st.caption("No held-out interactions: nothing to draw.")
        else:
            steps.step("the new-item curve: content vs collaborative vs blend (1 of 3)")
            _draw_curve(
                lambda: get_item_curve(bundle, held_out, k), metric="recall",
                title=f"New items: recall@{k} of held-out cold items", key="cs_item_curve",
                what=f"recall@{k} of a cold item's held-out users after n of its interactions",
                baseline="content", extra=_item_weights, what_failed="No new-item curve", hint=hint,
            )
    with right:
        if held_out is not None:
            steps.step("the new-user curve: fold-in vs learned prior vs popularity (2 of 3)")
            _draw_curve(
                lambda: get_user_curve(bundle, held_out, k), metric="ndcg",
                title=f"New users: ndcg@{k} after n interactions", key="cs_user_curve",
                what=f"ndcg@{k} of a newcomer's remaining interactions after n are revealed",
                baseline="popularity", what_failed="No new-user curve", hint=hint,
            )


def landing_section(bundle: Bundle, k: int, steps: support.StepStatus) -> Recommendations | None:
    """Where cold items land in the users' top-k lists, and the exposure of each interaction-count bucket.
    Returns the lists (the new-item playground reuses them), None when they could not be scored."""
    st.subheader(f"Where cold items land in top-{k} lists")
    users = list_users(bundle)
    steps.step(f"scoring the top-{k} of {len(users):,} users over {len(bundle.item_ids):,} items (3 of 3)")
    recs = support.guarded("could not score the lists", get_top_lists, bundle, k)
    if recs is None:
        return None
    cold = cold_items(bundle.item_popularity)
    lists = RecLists(recs.user_ids, recs.item_index, bundle.item_ids)
    summary = cs_views.landing_summary(lists, cold)
    a, b, c, d = st.columns(4)
    a.metric(
        "Lists with a cold item", f"{fmt(summary['share_with_cold'], 3)}",
        help=f"{summary['lists_with_cold']:,} of {summary['n_lists']:,} users' top-{k} lists hold at "
        "least one item without training interactions",
    )
    a.caption(f"{summary['lists_with_cold']:,} of {summary['n_lists']:,} lists")
    b.metric(
        f"cold_exposure_share@{k}", fmt(summary["cold_exposure_share"], 4),
        help="Σ_u |L_u ∩ C| / Σ_u |L_u|: the share of all list slots held by cold items",
    )
    b.caption(f"{summary['cold_slots']:,} slots")
    c.metric(
        "Cold items in the catalogue", f"{summary['n_cold_items']:,}",
        help="catalogue items with no training interactions (scored from content alone, when the model "
        "has a content encoder)",
    )
    c.caption(f"{fmt(summary['catalog_cold_share'], 3)} of the catalogue: an even spread's slot share")
    d.metric("Cold items shown", f"{summary['cold_items_shown']:,}", help="distinct cold items in any list")
    if summary["n_cold_items"] == 0:
        st.caption("Every catalogue item has training interactions: there is no cold item to land.")
    elif summary["cold_slots"] == 0:
        st.warning(
            f"No top-{k} list holds any of the {summary['n_cold_items']:,} cold items: they are never "
            "recommended (a silent cold-start failure when new items should compete)."
        )
    else:
        table = cs_views.cold_rank_table(recs.item_index, cold)
        fig = cs_views.rank_histogram(table, title=f"Positions of cold items in top-{k} lists")
        st.plotly_chart(fig, key="cs_rank_histogram")
    st.markdown("**Exposure by interaction-count bucket**")
    frame = support.guarded("bucket exposure", _bucket_table, *support.disk_key(bundle, "shown"), int(k))
    if frame is not None:
        support.table(frame.round(4), "cs_buckets")
        st.caption(
            "bucket: training interactions φ(i) · catalog_share: the bucket's share of the catalogue · "
            "slot_share: its share of list slots (bucket 0: cold_exposure_share) · exposure_share: "
            "position-weighted (1 / log2(rank + 1)) · list_share: mean share per list, with its 95% interval."
        )
    shown = "" if len(users) == len(bundle.user_ids) else f" ({len(users):,} evenly spaced of them)"
    st.caption(
        f"Top-{k} lists of the bundle's users{shown} over the full catalogue, their training items excluded "
        "(exact scorer): cold and warm items compete in one ranking."
    )
    return recs


def new_item_section(bundle: Bundle, k: int, recs: Recommendations | None) -> None:
    """The new-item playground: a typed-in description's vector, nearest items, reached users, map place."""
    st.subheader("Playground: describe a new item")
    categories = cs_views.category_options(bundle.items)
    left, right = st.columns([2, 3])
    with left:
        title = st.text_input("Title", key="cs_new_title", placeholder="e.g. The Last Gunslinger")
        text = st.text_area(
            "Description", key="cs_new_text", height=100,
            placeholder="e.g. A dusty tale about a sheriff, a posse and a saloon.",
        )
        one, two = st.columns(2)
        with one:
            category = (
                st.selectbox("Category", [NONE, *categories], key="cs_new_category") if categories else None
            )
        with two:
            domain = (
                st.selectbox("Domain", [NONE, *bundle.domains], key="cs_new_domain")
                if bundle.domains else None
            )
    chosen = None if category in (None, NONE) else category
    chosen_domain = None if domain in (None, NONE) else domain
    if not (title.strip() or text.strip() or chosen):
        with right:
            st.caption(
                "Type a title or a description (or pick a category): the content encoder places the item "
                "in the collaborative space, and this shows its nearest items, the users whose top-"
                f"{k} it would enter and where it sits on the item map."
            )
        return
    encoded = support.guarded(
        "could not encode the item", bundle.model.encode_items,
        cs_views.new_item_frame(title, text, chosen, domain=chosen_domain),
    )
    if encoded is None:
        return
    vectors, biases = encoded
    vector = vectors[0]
    bias = None if biases is None else float(biases[0])
    summary = cs_views.embedding_summary(vector, bias, bundle.item_emb)
    nearest = cs_views.nearest_items(vector, bundle.item_emb, bundle.items, bundle.item_popularity, N_NEAREST)
    with left:
        a, b = st.columns(2)
        a.metric(
            "Embedding norm", fmt(summary["norm"], 3),
            help=f"catalogue median {fmt(summary['median_norm'], 3)}; larger than "
            f"{summary['norm_percentile']:.0%} of the catalogue's item vectors",
        )
        b.metric("Item bias", fmt(summary["bias"], 3), help="the calibrated content bias")
        st.caption(
            f"Norm {fmt(summary['norm'], 3)} vs the catalogue's median {fmt(summary['median_norm'], 3)} "
            f"({bundle.score} score" + (": only the direction counts" if bundle.score == "cosine" else "")
            + ")."
        )
    with right:
        st.markdown(f"**Nearest catalogue items** ({N_NEAREST}, cosine)")
        support.table(nearest, "cs_nearest")
    if recs is not None:
        reach_block(bundle, k, recs, vector, bias)
    map_block(bundle, vector, nearest)


def reach_block(
    bundle: Bundle, k: int, recs: Recommendations, vector: np.ndarray, bias: float | None
) -> None:
    """The users whose top-k the new item would enter (its score beats their k-th best) and at which rank."""
    rows = bundle.user_row.loc[recs.user_ids].to_numpy(dtype=np.int64)
    scores = cs_views.new_item_scores(
        bundle.user_emb[rows], vector, bias, bundle.score, with_bias=bundle.item_bias is not None
    )
    reached = cs_views.users_reached(scores, recs.scores, recs.user_ids)
    total = len(recs.user_ids)
    share = len(reached) / total if total else float("nan")
    st.markdown(f"**Users it would reach: {len(reached):,} of {total:,}** ({fmt(share, 3)})")
    if reached.empty:
        st.caption(
            f"Its score beats no user's {k}-th best: it would enter no top-{k} list as described. "
            "A silent cold-start failure looks like this for every new item."
        )
        return
    counts = reached["rank"].value_counts().sort_index()
    left, right = st.columns([3, 2])
    with left:
        support.table(reached.head(200), "cs_reached")
    with right:
        st.caption(
            f"A user is reached when the item's score beats the {k}-th best score of their list (training "
            "items excluded); it would then take the rank shown. Users by rank: "
            + ", ".join(f"{int(r)}: {int(n):,}" for r, n in counts.items())
            + ("" if len(reached) <= 200 else f". First 200 of {len(reached):,} shown.")
        )


def map_block(bundle: Bundle, vector: np.ndarray, nearest: pd.DataFrame) -> None:
    """The new item on the stored item map, at the similarity-weighted mean of its nearest items' places."""
    item_map = app_map.ready_item_map(bundle)
    if item_map is None:
        st.caption(
            "No item map is ready for this bundle: open the Embedding map page once to compute it, and the "
            "new item is placed on it here."
        )
        return
    point = place_users(item_map, bundle.item_emb, vector, k=MAP_NEIGHBOURS, score="cosine")
    near_rows = bundle.item_row.loc[nearest[ITEM_ID]].to_numpy(dtype=np.int64)
    shown, total = app_map.get_shown_rows(bundle, app_map.DEFAULT_CAP, force=near_rows.tolist())
    ids = bundle.items[ITEM_ID].astype(str).to_numpy()
    titles = bundle.items[TITLE].astype(str).to_numpy() if TITLE in bundle.items.columns else ids
    groups = embedding_views.item_primary_categories(bundle.items)
    xy = item_map.xy
    overlays = [
        map_charts.MapOverlay(
            name="nearest items", xy=xy[near_rows], rows=near_rows, colour="#e31a1c", symbol="diamond",
            size=11, labels=[cs_views.map_label(titles[r], ids[r]) for r in near_rows],
        ),
        map_charts.MapOverlay(
            name="the new item", xy=point, rows=np.array([-1]), colour="#ffd700", symbol="star", size=22,
            labels=[plot_text("the new item")],
        ),
    ]
    fig = map_charts.item_map_figure(
        xy[shown], shown, popularity=bundle.item_popularity[shown],
        groups=None if groups is None else plot_texts(groups[shown]),
        titles=plot_texts(titles[shown]), overlays=overlays, height=560,
        title=f"The new item on the {item_map.params.method.upper()} item map",
    )
    st.plotly_chart(fig, key="cs_map")
    st.caption(
        f"showing {len(shown):,} of {total:,} items · the new item is placed at the similarity-weighted mean "
        f"of the map positions of its {MAP_NEIGHBOURS} most cosine-similar items (the map's projection is "
        "not refitted for a new point; the Embedding map places users by the same rule), so it falls between "
        "clusters when those items lie in several (choosing a domain often keeps them in one)."
    )


def onboarding_section(bundle: Bundle, k: int) -> None:
    """Onboard a new user: pick items, choose fold-in or the learned prior, watch the top-k form."""
    st.subheader("Playground: onboard a new user")
    order = np.argsort(-bundle.item_popularity, kind="stable")[:MAX_ONBOARD_OPTIONS]
    ids = bundle.items[ITEM_ID].astype(str).to_numpy()
    picked_before = [i for i in st.session_state.get("cs_onboard", []) if i in bundle.item_row.index]
    options = list(dict.fromkeys([*picked_before, *ids[order].tolist()]))
    left, right = st.columns([2, 3])
    with left:
        picked = st.multiselect(
            "Items the new user clicked, in order", options, key="cs_onboard",
            format_func=explore.item_label(bundle),
            help=f"the {min(len(ids), MAX_ONBOARD_OPTIONS):,} most popular items are offered",
        )
        method = st.radio(
            "New-user vector", list(NEW_USER_METHODS), key="cs_onboard_method", horizontal=True,
            format_func=lambda m: cs_views.METHOD_LABELS[m],
            help="fold-in: the closed-form ridge fold-in; learned prior: its MAP estimate under a Gaussian "
            "prior fitted to the trained users (an empty history gives their mean)",
        )
    solver = support.guarded("could not prepare the new-user solver", get_solver, bundle, method)
    if solver is None:
        return
    scorer = support.get_scorer(bundle)
    rows = bundle.item_row.loc[picked].to_numpy(dtype=np.int64) if picked else np.zeros(0, np.int64)
    table = support.guarded(
        "could not rank the new user's list", cs_views.onboarding_list, scorer, solver, rows, k, bundle.items
    )
    with right:
        heading = f"**Top-{k} after {len(picked)} click{'s' if len(picked) != 1 else ''}**"
        st.markdown(heading + (" (n = 0: what an unknown user gets)" if not picked else ""))
        if table is not None:
            support.table(table, "cs_onboard_list")
            entered = int(table["new"].sum())
            st.caption(
                (f"new: {entered} item{'s' if entered != 1 else ''} entered the list with the last click. "
                 if picked else "")
                + f"{cs_views.METHOD_LABELS[method]} vector from the clicked items; those items are excluded."
            )
    if CATEGORY in bundle.items.columns and picked:
        clicked = bundle.items.set_index(ITEM_ID).loc[picked, CATEGORY].astype(str)
        st.caption("Clicked categories: " + md_text(", ".join(dict.fromkeys(clicked.tolist()))))


def render(bundle: Bundle) -> None:
    """The whole page body for ``bundle``, in order: settings, curves, landing, the two playgrounds."""
    controls, picker = st.columns([1, 4])
    with controls:
        k = k_selector()
    with picker:
        held_out, n_sources = held_out_picker(bundle)
    steps = support.StepStatus("Preparing the cold-start page")
    curves_section(bundle, held_out, k, steps, other_sources=n_sources > 1)
    recs = landing_section(bundle, k, steps)
    steps.done()
    if is_coldstart(bundle):
        new_item_section(bundle, k, recs)
    onboarding_section(bundle, k)
