"""Training loop of the embedding collaborative-filtering model: :func:`train_mf`.

Seeded and deterministic on CPU: initialisation, shuffling and negative sampling draw from one
``torch.Generator`` seeded with ``config.seed``, deterministic algorithms are switched on for the
run, and ``config.num_threads`` fixes the thread count (two runs with the same seed and threads give
bit-identical embeddings). On CUDA the run is seeded too, but GPU reductions may differ in the last
bits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Literal

import numpy as np
import pandas as pd
import torch

from recaudit.device import choose_device, training_settings
from recaudit.errors import RecauditInputError
from recaudit.models.interactions import (
    Encoded,
    carve_validation,
    clean_interactions,
    encode,
    vocabularies,
)
from recaudit.models.losses import PositiveLookup, bpr_loss, in_batch_softmax_loss
from recaudit.models.mf.config import MFConfig
from recaudit.models.mf.early_stopping import ValidationSet
from recaudit.models.mf.module import MFModule
from recaudit.models.mf.trained import TrainedMF

_DEFAULT_CONFIG = MFConfig()

Progress = Callable[[dict], None] | Literal["tqdm"] | None


def train_mf(
    train: pd.DataFrame,
    config: MFConfig = _DEFAULT_CONFIG,
    *,
    valid: pd.DataFrame | None = None,
    progress: Progress = None,
    on_fit: Callable[[TrainedMF, pd.DataFrame, pd.DataFrame | None], None] | None = None,
    item_domain: Mapping[str, str] | None = None,
    domain_weights: Mapping[str, float] | None = None,
) -> TrainedMF:
    """Train user and item embeddings on implicit feedback.

    Args:
        train: interactions ``user_id, item_id, timestamp`` (ids as str, timestamp int64 seconds;
            other columns such as rating or weight are ignored: every row is one positive
            interaction; a repeated (user, item) pair counts once, at its earliest timestamp).
            ``timestamp`` is only required when the validation slice is carved out of ``train``.
        config: hyper-parameters (:class:`MFConfig`).
        valid: explicit validation interactions for early stopping; then all of ``train`` is fitted.
            Without it, the latest ``config.valid_fraction`` of each user's ``train`` interactions
            are held out (``valid_fraction=0``: no validation, no early stopping). Validation rows
            with a user or item unknown to ``train`` are ignored.
        progress: a callable receiving one dict per epoch ``{phase, epoch, epochs, loss,
            valid_recall, seconds}`` (``phase`` is ``"fit"`` or ``"refit"``, ``valid_recall`` None
            without validation, ``seconds`` the epoch's duration), ``"tqdm"`` for a terminal bar, or
            None.
        on_fit: called once after the fit phase, before any refit, with the fit-phase model (exported
            as the result is), its training frame and its validation frame (None without validation):
            what a caller tunes on held-out data without training a second model (the cold-start
            family's learned gate).
        item_domain: item id -> domain: **joint multi-task training** over several domains (the
            cross-domain family's shared model). Each pair's in-batch negatives are then the batch's items
            of its own domain only (a per-domain softmax sharing the user vectors), and its loss is
            weighted by ``domain_weights[domain]`` (default 1). Items without a domain form one more domain.
        domain_weights: per-domain loss weights, used with ``item_domain``.

    Returns:
        A :class:`TrainedMF` with a row for every user and every item of ``train``.

    Raises:
        RecauditInputError: bad interactions, a bad ``progress`` value, CUDA requested but absent,
            or a diverging run (non-finite loss).
    """
    carve = valid is None and config.valid_fraction > 0
    frame = clean_interactions(train, "train", need_timestamp=carve)
    user_ids, item_ids = vocabularies(frame)
    if carve:
        fit_frame, held_frame = carve_validation(frame, config.valid_fraction)
    elif valid is not None:
        fit_frame, held_frame = frame, clean_interactions(valid, "valid", need_timestamp=False)
    else:
        fit_frame, held_frame = frame, None
    tasks = _domain_tasks(item_ids, item_domain, domain_weights)
    fit = encode(fit_frame, user_ids, item_ids)
    held = encode(held_frame, user_ids, item_ids) if held_frame is not None else None
    device = choose_device(config.device, source="MFConfig")
    report, close = _reporter(progress)
    try:
        with training_settings(config.num_threads, device):
            model, history, best_epoch = _fit(
                fit, held, config, config.epochs, device, report, "fit", tasks
            )
            if on_fit is not None:
                on_fit(_export(model, fit, config, list(history), best_epoch, device), fit_frame, held_frame)
            if config.refit and carve and held is not None and len(held.users):
                everything = encode(frame, user_ids, item_ids)
                model, refit_history, _ = _fit(
                    everything, None, config, best_epoch, device, report, "refit", tasks
                )
                history += refit_history
                fit = everything
    finally:
        close()
    return _export(model, fit, config, history, best_epoch, device)


def _fit(
    data: Encoded,
    held: Encoded | None,
    config: MFConfig,
    epochs: int,
    device: torch.device,
    report: Callable[[dict], None],
    phase: str,
    tasks: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[MFModule, list[dict], int]:
    """Train one model from the seed; early-stop on validation recall and restore the best epoch."""
    generator = torch.Generator().manual_seed(config.seed)
    n_users, n_items = len(data.user_ids), len(data.item_ids)
    model = MFModule(
        n_users,
        n_items,
        config.dim,
        cosine=config.score == "cosine",
        item_bias=config.item_bias,
        init_std=config.init_std,
        generator=generator,
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    users = torch.from_numpy(data.users).to(device)
    items = torch.from_numpy(data.items).to(device)
    step = _make_step(model, users, items, n_items, config, generator, tasks)
    validation = None
    if held is not None and len(held.users):
        validation = ValidationSet(
            users, items, torch.from_numpy(held.users).to(device),
            torch.from_numpy(held.items).to(device), n_users, n_items,
        )  # fmt: skip
    history: list[dict] = []
    best = (-math.inf, 0, None)  # recall, epoch, state
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(users), generator=generator).to(device)
        total = torch.zeros((), device=device)
        for lo in range(0, len(order), config.batch_size):
            batch = order[lo : lo + config.batch_size]
            loss = step(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(batch)
        mean_loss = float(total) / len(order)
        if not math.isfinite(mean_loss):
            raise RecauditInputError(
                "MFConfig", f"training diverged: the loss is {mean_loss} at epoch {epoch}",
                hint="lower lr, raise temperature or add l2",
            )  # fmt: skip
        model.eval()
        recall = None
        if validation is not None:
            recall = validation.recall(model, config.valid_k, config.temperature)
        entry = {
            "phase": phase,
            "epoch": epoch,
            "epochs": epochs,
            "loss": mean_loss,
            "valid_recall": recall,
            "seconds": time.perf_counter() - start,
        }
        history.append(entry)
        report(entry)
        if recall is None:
            continue
        if recall > best[0]:
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best = (recall, epoch, state)
        elif config.patience and epoch - best[1] >= config.patience:
            break
    if best[2] is None:
        return model, history, len(history)
    model.load_state_dict(best[2])
    return model, history, best[1]


def _make_step(
    model: MFModule,
    users: torch.Tensor,
    items: torch.Tensor,
    n_items: int,
    config: MFConfig,
    generator: torch.Generator,
    tasks: tuple[np.ndarray, np.ndarray] | None = None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The loss of one batch (interaction positions) under ``config.loss``, plus the L2 penalty; with
    ``tasks`` (each item's domain code, each domain's loss weight) a per-domain in-batch softmax."""
    temperature = config.temperature

    def penalty(user_rows: torch.Tensor, item_rows: torch.Tensor) -> torch.Tensor:
        if not config.l2:
            return torch.zeros((), device=users.device)
        norms = model.user[user_rows].square().sum() + model.item[item_rows].square().sum()
        bias = model.item_biases(item_rows)
        if bias is not None:
            norms = norms + bias.square().sum()
        return config.l2 * norms / len(user_rows)

    if config.loss == "bpr":
        catalogue = torch.unique(items)

        def bpr_step(batch: torch.Tensor) -> torch.Tensor:
            u, i = users[batch], items[batch]
            shape = (len(batch), config.bpr_negatives)
            draw = torch.randint(len(catalogue), shape, generator=generator)
            j = catalogue[draw.to(users.device)]
            positive = model.pair_logits(u, i, temperature)
            negative = model.pair_logits(u, j, temperature)
            return bpr_loss(positive, negative) + penalty(u, torch.cat([i, j.reshape(-1)]))

        return bpr_step

    lookup = PositiveLookup(users, items, len(model.user), n_items)
    log_q = None
    if config.logq:
        counts = torch.bincount(items, minlength=n_items).to(torch.float32)
        log_q = torch.log(counts.clamp(min=1.0) / len(items))  # items without rows never sampled

    domain_of = weight_of = None
    if tasks is not None:
        domain_of = torch.from_numpy(tasks[0]).to(users.device)
        weight_of = torch.from_numpy(tasks[1]).to(users.device)

    def softmax_step(batch: torch.Tensor) -> torch.Tensor:
        u, i = users[batch], items[batch]
        offset = model.item_biases(i)
        if log_q is not None:
            offset = -log_q[i] if offset is None else offset - log_q[i]
        masked = lookup.in_batch_false_negatives(u, i)
        weights = None
        if domain_of is not None and weight_of is not None:
            d = domain_of[i]
            masked = masked | (d[:, None] != d[None, :])  # negatives of a pair: its own domain's items only
            weights = weight_of[d]
        loss = in_batch_softmax_loss(
            model.user_vectors(u) / temperature,
            model.item_vectors(i),
            item_offset=offset,
            false_negatives=masked,
            row_weights=weights,
        )
        return loss + penalty(u, i)

    return softmax_step


def _domain_tasks(
    item_ids: np.ndarray, item_domain: Mapping[str, str] | None, weights: Mapping[str, float] | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(domain code per item row, loss weight per code)`` for multi-task training, or None."""
    if item_domain is None:
        return None
    names = [str(item_domain.get(str(i), "")) for i in item_ids]
    domains = sorted(set(names))
    code = {name: c for c, name in enumerate(domains)}
    given = dict(weights or {})
    bad = [d for d, w in given.items() if not (math.isfinite(float(w)) and float(w) > 0)]
    if bad:
        raise RecauditInputError("domain_weights", f"weights must be finite and > 0, got {bad}")
    return (
        np.asarray([code[n] for n in names], np.int64),
        np.asarray([float(given.get(name, 1.0)) for name in domains], np.float32),
    )


def _export(
    model: MFModule,
    fit: Encoded,
    config: MFConfig,
    history: list[dict],
    best_epoch: int,
    device: torch.device,
) -> TrainedMF:
    """Plain float32 arrays; items without training rows get a zero vector and the lowest bias."""
    with torch.no_grad():
        user_emb = model.user_vectors().float().cpu().numpy().copy()
        item_emb = model.item_vectors().float().cpu().numpy().copy()
        bias = model.item_biases()
        item_bias = None
        if bias is not None:
            item_bias = (bias * config.temperature).float().cpu().numpy().copy()
    trained = np.zeros(len(fit.item_ids), dtype=bool)
    trained[fit.items] = True
    item_emb[~trained] = 0.0
    if item_bias is not None and (~trained).any():
        item_bias[~trained] = item_bias[trained].min()
    return TrainedMF(
        user_ids=fit.user_ids.astype(str),
        item_ids=fit.item_ids.astype(str),
        user_emb=user_emb.astype(np.float32),
        item_emb=item_emb.astype(np.float32),
        item_bias=None if item_bias is None else item_bias.astype(np.float32),
        config=config,
        history=history,
        best_epoch=best_epoch,
        device=str(device),
        cold_items=fit.item_ids[~trained].astype(str),
    )


def _reporter(progress: Progress) -> tuple[Callable[[dict], None], Callable[[], None]]:
    """The per-epoch report function and a closer, from the ``progress`` argument."""
    if progress is None:
        return (lambda entry: None), (lambda: None)
    if callable(progress):
        return progress, (lambda: None)
    if progress != "tqdm":
        raise RecauditInputError(
            "progress", f"expected a callable, 'tqdm' or None, got {progress!r}"
        )
    from tqdm.auto import tqdm

    bar = tqdm(unit="epoch")

    def show(entry: dict) -> None:
        if entry["epoch"] == 1:
            bar.reset(total=entry["epochs"])
            bar.set_description(f"mf {entry['phase']}")
        recall = entry["valid_recall"]
        shown = {"loss": f"{entry['loss']:.4f}"}
        if recall is not None:
            shown["recall"] = f"{recall:.4f}"
        bar.set_postfix(shown)
        bar.update(1)

    return show, bar.close
