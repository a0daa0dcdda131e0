"""From interaction files to a saved, evaluated bundle: the work behind ``recaudit train``.

Steps: read and validate the files; split (the given test file, else a per-user temporal holdout of the last
20%); train the model of the chosen kind (looked up in :data:`recaudit.models.MODEL_KINDS`; ``mf`` by
default, whose early stopping carves its own validation slice out of the training part); evaluate on the
held-out part against popularity; save the bundle with the split inside it.

With item content (``content``: ``auto`` finds it in an items table with a title, text or category column)
the kind becomes ``coldstart``: the same embedding model plus a content encoder, whose catalogue is every
item of the items table (cold items scored from content, :mod:`recaudit.models.coldstart`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recaudit.bundle import Bundle, check_output_dir, make_manifest, save_bundle
from recaudit.data.movielens import is_movielens_folder
from recaudit.data.readers import read_interactions, read_items
from recaudit.data.schema import DOMAIN, ITEM_ID, USER_ID
from recaudit.data.splits import temporal_split
from recaudit.data.validation import check_known_items
from recaudit.errors import RecauditInputError
from recaudit.models.base import TrainedModel
from recaudit.models.coldstart.features import has_content, require_minilm
from recaudit.models.mf.config import MFConfig
from recaudit.models.registry import DEFAULT_KIND, model_family
from recaudit.workflows.holdout import holdout_evaluation

Log = Callable[[str], None]


def catalogue_items(item_ids: Any, items: pd.DataFrame | None, interactions: pd.DataFrame) -> pd.DataFrame:
    """The items table in model row order: metadata joined on item_id, domain derived when missing."""
    frame = pd.DataFrame({ITEM_ID: list(map(str, item_ids))})
    if items is not None:
        frame = frame.merge(items, on=ITEM_ID, how="left")
    if DOMAIN not in frame.columns and DOMAIN in interactions.columns:
        first_domain = interactions.drop_duplicates(ITEM_ID).set_index(ITEM_ID)[DOMAIN]
        frame[DOMAIN] = frame[ITEM_ID].map(first_domain)
    return frame


def bundle_from_model(
    model: TrainedModel,
    *,
    train: pd.DataFrame,
    test: pd.DataFrame | None,
    items: pd.DataFrame | None,
    sources: dict[str, str],
    seconds: float,
) -> Bundle:
    """Wrap a trained model of any family, its data split and metadata into an (unsaved) bundle.

    The manifest records the model's kind, config, score function and training section; the family's own
    files go into the bundle's components.
    """
    manifest = make_manifest(
        kind=model.kind,
        score=model.score_function,
        dim=model.user_emb.shape[1],
        config=model.config.to_dict(),
        training={**model.training_info(), "seconds": round(seconds, 2)},
        data={"source": sources, "split": "given test file" if "test" in sources else "temporal 80/20"},
    )
    users = pd.DataFrame({USER_ID: list(map(str, model.user_ids))})
    return Bundle(
        users=users,
        items=catalogue_items(model.item_ids, items, train),
        user_emb=model.user_emb,
        item_emb=model.item_emb,
        item_bias=model.item_bias,
        train=train,
        test=test,
        manifest=manifest,
        components=model.components(),
    )


MAP_METHODS = ("umap", "pca", "none")
CONTENT_CHOICES = ("auto", "tfidf", "minilm", "none")
BLEND_CHOICES = ("schedule", "learned")
CONTENT_KINDS = ("mf", "coldstart")
"""The kinds ``--content`` applies to: ``coldstart`` wraps ``mf``'s model."""


def resolve_content(content: str, blend: str | None, model: str, items: pd.DataFrame | None) -> str:
    """The content path to train with (``tfidf``, ``minilm`` or ``none``), or a usage error.

    ``auto`` is ``tfidf`` when ``items`` describes its items (title, text or category) and the kind is
    ``mf`` or ``coldstart``, else ``none`` (a plain ``mf`` bundle, as before content existed). An explicit
    ``tfidf``/``minilm`` needs ``--items`` and a kind in :data:`CONTENT_KINDS`; ``--model coldstart`` needs
    content; ``--blend`` needs content.

    Raises:
        RecauditInputError: any of these combinations is refused, or ``minilm`` lacks its optional package.
    """
    if content not in CONTENT_CHOICES:
        raise RecauditInputError("--content", f"unknown content {content!r}", f"use one of {CONTENT_CHOICES}")
    if blend is not None and blend not in BLEND_CHOICES:
        raise RecauditInputError("--blend", f"unknown blend {blend!r}", f"use one of {BLEND_CHOICES}")
    if content in ("tfidf", "minilm"):
        if model not in CONTENT_KINDS:
            raise RecauditInputError(
                "--content", f"--content {content} applies to --model mf or coldstart, not {model!r}",
                hint="drop --content or use --content none",
            )  # fmt: skip
        if items is None:
            raise RecauditInputError("--content", f"--content {content} needs --items ITEMS (the content)")
        if content == "minilm":
            require_minilm()
    resolved = content
    if content == "auto":
        resolved = "tfidf" if model in CONTENT_KINDS and has_content(items) else "none"
    if resolved == "none":
        if model == "coldstart":
            raise RecauditInputError(
                "--model coldstart", "needs item content",
                hint="pass --items with a title, text or category column (--content auto, tfidf or minilm)",
            )  # fmt: skip
        if blend is not None:
            raise RecauditInputError(
                "--blend", "applies only with item content",
                hint="pass --items with a title, text or category column",
            )  # fmt: skip
    return resolved


SESSION_CHOICES = ("none", "gru", "sasrec")
SESSION_KINDS = ("mf", "session", "coldstart")
"""The kinds ``--session`` applies to: ``mf`` becomes ``session``; ``coldstart`` carries the component too."""


def resolve_session(session: str, session_gap: str | int | None, model: str) -> int | None:
    """The session gap in seconds to train an encoder with, or None for no encoder; a usage error else.

    Raises:
        RecauditInputError: an unknown encoder, a bad or orphan ``--session-gap``, or a kind that takes no
            session encoder.
    """
    from recaudit.data.sessions import DEFAULT_GAP_S, parse_gap

    if session not in SESSION_CHOICES:
        raise RecauditInputError(
            "--session", f"unknown session encoder {session!r}", f"use one of {SESSION_CHOICES}"
        )
    gap = parse_gap(session_gap, "--session-gap") if session_gap is not None else None
    if session == "none":
        if gap is not None and model != "session":
            raise RecauditInputError("--session-gap", "applies only with --session gru or sasrec")
        return (gap if gap is not None else DEFAULT_GAP_S) if model == "session" else None
    if model not in SESSION_KINDS:
        raise RecauditInputError(
            "--session", f"--session {session} applies to --model mf, session or coldstart, not {model!r}"
        )
    return gap if gap is not None else DEFAULT_GAP_S


def attach_session_encoder(
    bundle: Bundle, trained: TrainedModel, train: pd.DataFrame, encoder: str, gap_s: int,
    progress: Callable[[dict], None] | str | None, log: Log,
) -> None:
    """Train a session encoder on ``train`` over the trained model's item space and store it in ``bundle``
    (the ``session`` component; its training record in ``manifest["training"]["session"]``)."""
    from recaudit.models.session.config import SessionConfig
    from recaudit.models.session.encoder import COMPONENT
    from recaudit.models.session.train import train_session_encoder

    cfg = trained.config
    config = SessionConfig(
        encoder=encoder, gap_s=gap_s, seed=int(getattr(cfg, "seed", 0)),  # type: ignore[arg-type]
        device=str(getattr(cfg, "device", "auto")), num_threads=int(getattr(cfg, "num_threads", 1)),
    )  # fmt: skip
    log(f"training the {encoder} session encoder (sessions cut at gaps over {gap_s} s or by session_id)")
    model = train_session_encoder(
        train, config, item_ids=trained.item_ids, item_emb=trained.item_emb, item_bias=trained.item_bias,
        score=trained.score_function, user_emb=trained.user_emb,
        bundle_temperature=getattr(cfg, "temperature", None), progress=progress,
    )  # fmt: skip
    bundle.components[COMPONENT] = model.component()
    bundle.manifest.setdefault("training", {})["session"] = model.info
    log(f"session encoder: best epoch {model.info.get('best_epoch')}, {model.fusion.describe()}")


TRANSFER_KINDS = ("mf", "crossdomain", "coldstart", "session")
"""The kinds ``--transfer`` applies to: ``mf`` becomes ``crossdomain``; the others carry the component."""


def resolve_transfer(transfer: str | None, model: str, items: str | Path | None) -> None:
    """Refuse a ``--transfer`` that cannot apply, before any file is read.

    Raises:
        RecauditInputError: an unknown transfer, a kind that takes none, or no ``--items`` (the domains).
    """
    from recaudit.models.crossdomain.family import TRANSFER_CHOICES

    if transfer is None:
        if model == "crossdomain":
            raise RecauditInputError("--model crossdomain", "needs --transfer none|shared|mapping|gated")
        return
    if transfer not in TRANSFER_CHOICES:
        raise RecauditInputError(
            "--transfer", f"unknown transfer {transfer!r}", f"use one of {TRANSFER_CHOICES}"
        )
    if model not in TRANSFER_KINDS:
        raise RecauditInputError("--transfer", f"applies to --model mf, coldstart or session, not {model!r}")
    if items is None:
        raise RecauditInputError(
            "--transfer", "needs --items with a domain column (each item's domain, two or more domains)"
        )


def check_domains_agree(frame: pd.DataFrame, items: pd.DataFrame | None, source: str | Path) -> None:
    """An interactions ``domain`` column, when present, must agree with the items table's domain.

    Raises:
        RecauditInputError: the first rows whose domain differs from their item's (or without an item domain).
    """
    if DOMAIN not in frame.columns or items is None or DOMAIN not in items.columns:
        return
    by_item = items.drop_duplicates(ITEM_ID).set_index(ITEM_ID)[DOMAIN].astype(str)
    theirs = frame[ITEM_ID].astype(str).map(by_item)
    bad = frame[DOMAIN].isna() | (frame[DOMAIN].astype(str) != theirs)
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())[:3]
        shown = "; ".join(
            f"row {r + 2}: item {frame[ITEM_ID].iloc[r]} is {theirs.iloc[r]!r} in the items table, "
            f"{frame[DOMAIN].iloc[r]!r} here" for r in rows
        )  # fmt: skip
        raise RecauditInputError(
            f"{source}: column {DOMAIN}", f"{int(bad.sum())} row(s) disagree with the items table ({shown})",
            hint="drop the column or fix it: the items table's domain is the one used",
        )  # fmt: skip


def attach_transfer(
    bundle: Bundle, trained: TrainedModel, train: pd.DataFrame, items: pd.DataFrame | None, transfer: str,
    progress: Callable[[dict], None] | str | None, log: Log,
) -> None:  # fmt: skip
    """Train the cross-domain transfer model over the bundle's catalogue and store it (component
    ``crossdomain``; its training record in ``manifest["training"]["crossdomain"]``)."""
    from dataclasses import fields

    from recaudit.models.crossdomain.family import item_domains
    from recaudit.models.crossdomain.model import COMPONENT
    from recaudit.models.crossdomain.train import TransferConfig, train_crossdomain

    cfg = trained.config
    mf = MFConfig(**{f.name: getattr(cfg, f.name) for f in fields(MFConfig) if hasattr(cfg, f.name)})
    log(f"training the cross-domain transfer ({transfer}): a target-only model per domain, maps and gates")
    model = train_crossdomain(
        train, user_ids=bundle.user_ids, item_ids=bundle.item_ids,
        item_domain=item_domains(items, bundle.item_ids), mf_config=mf, config=TransferConfig(seed=mf.seed),
        progress=progress, log=log,
    )  # fmt: skip
    bundle.components[COMPONENT] = model.component()
    bundle.manifest.setdefault("training", {})["crossdomain"] = model.info


def attach_item_map(bundle: Bundle, method: str, log: Log = lambda _msg: None) -> None:
    """Compute the default 2-D item map (``umap``, ``pca``) and store it in the bundle; ``none`` skips it."""
    if method == "none":
        return
    if method not in MAP_METHODS:
        raise RecauditInputError("--map", f"unknown map method {method!r}", f"use one of {MAP_METHODS}")
    from recaudit.views.projection import ProjectionParams, default_cache_dir, project_items

    log(f"computing the default {method} map of {len(bundle.items):,} items (cached for the app)")
    item_map = project_items(
        bundle.item_emb, bundle.item_ids, ProjectionParams(method=method), cache_dir=default_cache_dir()
    )
    bundle.item_map = pd.DataFrame(
        {ITEM_ID: item_map.item_ids, "x": item_map.xy[:, 0], "y": item_map.xy[:, 1]}
    )
    bundle.manifest["projection"] = {
        **item_map.params.to_dict(),
        "seconds": round(item_map.seconds, 2),
        "fitted_rows": item_map.fitted_rows,
    }


def train_bundle(
    interactions: str | Path,
    *,
    out: str | Path,
    items: str | Path | None = None,
    test: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: Callable[[dict], None] | str | None = None,
    log: Log = lambda _msg: None,
    item_map: str = "umap",
    model: str = DEFAULT_KIND,
    content: str = "auto",
    blend: str | None = None,
    session: str = "none",
    session_gap: str | int | None = None,
    transfer: str | None = None,
) -> Bundle:
    """Train a model of kind ``model`` on an interactions file and save an evaluated bundle at ``out``.

    ``overrides`` are values of the family's config (strict: a key it does not have is refused);
    ``item_map`` is the method of the stored default map (``umap``, ``pca`` or ``none``). ``content`` and
    ``blend`` choose the content path (:func:`resolve_content`): with content the kind is ``coldstart``
    and the catalogue holds every item of ``items`` (the default ``auto`` does so when ``items`` has a title,
    text or category); ``content="none"`` trains the collaborative model alone.

    ``session`` (``gru`` or ``sasrec``) adds a session encoder (:func:`resolve_session`): an ``mf`` run
    becomes kind ``session``, a ``coldstart`` one carries the same ``session`` component; ``session_gap``
    is the gap that cuts sessions (default 30 minutes).

    ``transfer`` (``none``, ``shared``, ``mapping`` or ``gated``) adds the cross-domain transfer model
    (:func:`resolve_transfer`): an ``mf`` run becomes kind ``crossdomain``, a ``coldstart`` or ``session`` one
    carries the same ``crossdomain`` component. ``items`` must give every item a domain, two or more domains.

    Raises:
        RecauditInputError: any bad file, option, model kind or output directory, before training starts.
    """
    check_output_dir(out, overwrite=overwrite)
    if items is None and is_movielens_folder(interactions):
        items = interactions  # a MovieLens folder brings its movies (title, genres as categories)
    if item_map not in MAP_METHODS:
        raise RecauditInputError("--map", f"unknown map method {item_map!r}", f"use one of {MAP_METHODS}")
    model_family(model, "--model").require_trainable()
    gap_s = resolve_session(session, session_gap, model)
    resolve_transfer(transfer, model, items)
    if content != "auto":  # a usage error of an explicit choice fails before any file is read
        resolve_content(content, blend, model, pd.DataFrame() if items is not None else None)
    frame = read_interactions(interactions)
    items_frame = read_items(items) if items is not None else None
    if items_frame is not None:
        check_known_items(frame, items_frame, source=interactions)
    if transfer is not None:
        check_domains_agree(frame, items_frame, source=interactions)
    resolved = resolve_content(content, blend, model, items_frame)
    if transfer is not None:  # domains and bridge users, refused before any training
        from recaudit.models.crossdomain.family import check_bridge_users, item_domains

        catalogue = items_frame[ITEM_ID] if resolved != "none" and items_frame is not None else frame[ITEM_ID]
        ids = catalogue.astype(str).unique()
        by_item = pd.Series(item_domains(items_frame, ids), index=ids)
        check_bridge_users(frame[USER_ID], frame[ITEM_ID].astype(str).map(by_item))
    if resolved != "none":
        model = "coldstart"
        overrides = {**(overrides or {}), "content": resolved, **({"blend": blend} if blend else {})}
    attach_session = None
    if gap_s is not None and model == "coldstart":
        attach_session = session  # the coldstart kind carries the component beside its own
    elif gap_s is not None:
        model = "session"
        overrides = {**(overrides or {}), "session_gap_s": gap_s,
                     **({"session_encoder": session} if session != "none" else {})}
    attach_transfer_mode = None
    if transfer is not None and model == "mf":
        model = "crossdomain"
        overrides = {**(overrides or {}), "transfer": transfer}
    elif transfer is not None:
        attach_transfer_mode = transfer  # coldstart and session carry the component beside their own
    family = model_family(model, "--model")
    config = family.config(overrides)
    sources = {"interactions": Path(interactions).name}
    if items is not None:
        sources["items"] = Path(items).name
    if test is not None:
        test_frame = read_interactions(test)
        unseen = int((~test_frame[ITEM_ID].isin(set(frame[ITEM_ID]))).sum())
        if unseen:
            # Legitimate under a temporal protocol: items first seen after the split. They stay in T_u
            # (recall's denominator) although no model trained on this data can recommend them.
            log(f"{unseen:,} test interactions are with items absent from training (kept, unrecommendable)")
        train_frame = frame
        sources["test"] = Path(test).name
    else:
        train_frame, test_frame = temporal_split(frame, test_fraction=0.2)
        if train_frame.empty:
            raise RecauditInputError(interactions, "too few interactions to hold out a test split")
    if resolved != "none" and getattr(config, "blend", None) == "schedule":  # every file is read by now
        log(
            f"content {resolved}, blend schedule (the seed's rule): trained items take 20-80% content, "
            "which can cost known users accuracy; --blend learned keeps them collaborative"
        )
    if model == "session":
        encoder = getattr(config, "session_encoder", session)
        log(f"training the {encoder} session encoder after the embedding model (sessions cut at gaps over "
            f"{gap_s} s or by session_id)")
    log(
        f"training on {len(train_frame):,} interactions of {train_frame[USER_ID].nunique():,} users and "
        f"{train_frame[ITEM_ID].nunique():,} items; {len(test_frame):,} held out"
    )
    started = time.perf_counter()
    trained = family.train(train_frame, config, progress=progress, items=items_frame)
    seconds = time.perf_counter() - started
    note = trained.training_note()
    log(f"trained in {seconds:.1f}s" + (f" {note}" if note else ""))
    bundle = bundle_from_model(
        trained, train=train_frame, test=test_frame, items=items_frame, sources=sources, seconds=seconds
    )
    if attach_session is not None and gap_s is not None:
        attach_session_encoder(bundle, trained, train_frame, attach_session, gap_s, progress, log)
    if attach_transfer_mode is not None:
        attach_transfer(bundle, trained, train_frame, items_frame, attach_transfer_mode, progress, log)
    if model == "crossdomain" or attach_transfer_mode is not None:
        bundle.manifest["transfer"] = transfer
    if not test_frame.empty:
        bundle.manifest["evaluation"] = holdout_evaluation(bundle, bundle.exact_scorer())
    attach_item_map(bundle, item_map, log)
    save_bundle(bundle, out, overwrite=overwrite)
    return bundle
