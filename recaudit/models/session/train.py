"""Training a session encoder on a bundle's item space: GRU4Rec or SASRec, early stopping, the fusion gate.

:func:`train_session_encoder` takes the training interactions and the collaborative model's tables (the
encoder's output is scored by the frozen item table, :mod:`recaudit.models.session.head`), cuts sessions,
holds out the latest ``valid_fraction`` of them (by start time), trains for at most ``epochs`` epochs keeping
the weights of the best validation next-item MRR@20, then learns the fusion gate on the same held-out
sessions (:func:`learn_gate`).

* GRU4Rec: session-parallel mini-batches (Hidasi et al. 2016): ``batch_size`` sessions side by side, one
  event each per step, a slot's hidden state reset when its session ends and the next session takes the
  slot; one truncated-BPTT step per event. The loss is a softmax over the mini-batch's targets plus
  ``negatives`` items drawn with probability ∝ popularity^``sample_alpha``, each logit corrected by the log of
  its expected count among the candidates (logQ correction), the other rows' duplicates of a target masked.
* SASRec: windows of at most ``max_len + 1`` events cut from each session, the prediction at every position
  scored by a full cross-entropy over the catalogue.

Determinism: a ``torch.Generator`` and a ``numpy`` generator seeded from ``config.seed`` drive the
initialisation, the session order, dropout and the negatives, and the CPU runs with deterministic
algorithms and ``num_threads`` threads, so the same data and config give identical weights on the CPU.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from recaudit.config import ScoreFunction
from recaudit.data.schema import TIMESTAMP, USER_ID
from recaudit.data.sessions import epoch_seconds
from recaudit.data.vocab import IdVocabulary
from recaudit.device import choose_device, training_settings
from recaudit.errors import RecauditInputError
from recaudit.models.foldin import FoldIn, median_norm
from recaudit.models.session.config import FUSION_LENGTH_EDGES, SessionConfig
from recaudit.models.session.encoder import SessionEncoder, build_module, default_temperature
from recaudit.models.session.fusion import GATE_GRID, SessionFusion, length_buckets
from recaudit.models.session.gru import GRU4Rec
from recaudit.models.session.head import ScoringHead, scoring_table
from recaudit.models.session.sequences import SessionSequences, session_sequences

Progress = Callable[[dict], None] | str | None
VALID_K = 20
MAX_VALID_PREFIXES = 5000
GATE_BATCH = 512  # prefixes per encoder and head call while the gate is learned
"""Validation prefixes scored per epoch at most (a seeded sample of sessions beyond it)."""
MIN_GATE_PREFIXES = 30
"""A length bucket with fewer validation prefixes takes the weight of the bucket below it."""


def train_session_encoder(
    interactions: pd.DataFrame,
    config: SessionConfig,
    *,
    item_ids: np.ndarray,
    item_emb: np.ndarray,
    item_bias: np.ndarray | None,
    score: ScoreFunction,
    user_emb: np.ndarray,
    bundle_temperature: float | None = None,
    progress: Progress = None,
) -> SessionEncoder:
    """Train ``config.encoder`` on the sessions of ``interactions`` against the bundle's item tables.

    Raises:
        RecauditInputError: fewer than two sessions with two events or more (nothing to learn a next item
            from), or a bad device.
    """
    started = time.perf_counter()
    device = choose_device(config.device, source="session device")
    vocab = IdVocabulary(np.asarray(item_ids).astype(str), source="bundle items")
    every = session_sequences(interactions, vocab, config.gap_s)
    usable = every.at_least(2)
    if len(usable) < 2:
        raise RecauditInputError(
            "session encoder", f"{len(usable)} session(s) with two events or more: nothing to learn from",
            hint=f"sessions are cut at gaps over {config.gap_s} s (--session-gap) or by a session_id column",
        )  # fmt: skip
    train_seqs, valid_seqs = usable.split_latest(config.valid_fraction)
    if len(valid_seqs) == 0 or len(train_seqs) == 0:
        train_seqs, valid_seqs = usable, usable.select(np.zeros(len(usable), bool))
    temperature = config.temperature or default_temperature(score, bundle_temperature)
    table = scoring_table(item_emb, item_bias, score)
    n_items, dim = item_emb.shape
    report, close = _reporter(progress, config.encoder)
    with training_settings(config.num_threads, device):
        torch.manual_seed(config.seed)
        module = build_module(config, n_items, dim)
        module.init_items(item_emb)
        head = ScoringHead(
            table, cosine=score == "cosine", has_bias=item_bias is not None, temperature=temperature
        )
        module.to(device)
        head.to(device)
        try:
            history, best_epoch = _fit(module, head, train_seqs, valid_seqs, config, device, report)
        finally:
            close()
    module.cpu()
    head.cpu()
    encoder = SessionEncoder(
        config, module, head, SessionFusion.constant(config.fusion_weight, cosine=score == "cosine")
    )
    gate: dict[str, Any] = {}
    if config.fusion == "gate" and len(valid_seqs):
        fusion, gate = learn_gate(encoder, valid_seqs, interactions, item_emb, user_emb, score, vocab)
        encoder.fusion = fusion
    encoder.info = {
        "encoder": config.encoder, "fusion": encoder.fusion.describe(),
        "best_epoch": best_epoch, "epochs_run": len(history), "history": history, "device": str(device),
        "train_sessions": len(train_seqs), "valid_sessions": len(valid_seqs),
        "train_events": int(len(train_seqs.items)), "gate": gate,
        "seconds": round(time.perf_counter() - started, 2),
    }  # fmt: skip
    return encoder


def _reporter(progress: object, encoder: str) -> tuple[Callable[[dict], None], Callable[[], None]]:
    """The per-epoch report function and a closer: a callable as given, ``"tqdm"`` a bar, None nothing."""
    if progress is None:
        return (lambda _entry: None), (lambda: None)
    if callable(progress):
        return progress, (lambda: None)  # type: ignore[return-value]
    if progress != "tqdm":
        raise RecauditInputError("progress", f"expected a callable, 'tqdm' or None, got {progress!r}")
    from tqdm.auto import tqdm

    bar = tqdm(unit="epoch", desc=f"session {encoder}")

    def show(entry: dict) -> None:
        if entry["epoch"] == 1:
            bar.reset(total=entry["epochs"])
        shown = {"loss": f"{entry['loss']:.4f}"}
        if entry["valid_mrr"] is not None:
            shown["mrr@20"] = f"{entry['valid_mrr']:.4f}"
        bar.set_postfix(shown)
        bar.update(1)

    return show, bar.close


# ---- the epochs ---------------------------------------------------------------------------------------
def _fit(
    module: torch.nn.Module,
    head: ScoringHead,
    train: SessionSequences,
    valid: SessionSequences,
    config: SessionConfig,
    device: torch.device,
    report: Callable[[dict], None],
) -> tuple[list[dict], int]:
    """Train with early stopping on validation MRR@20; the best epoch's weights are left in ``module``."""
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator(device="cpu").manual_seed(config.seed)
    optimiser = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=config.lr)
    counts = np.bincount(train.items, minlength=module.n_items).astype(np.float64)
    probe = _valid_probe(valid, rng)
    history: list[dict] = []
    best, best_epoch, best_state, waited = -np.inf, 0, None, 0
    for epoch in range(1, config.epochs + 1):
        began = time.perf_counter()
        module.train()
        if isinstance(module, GRU4Rec):
            loss = _gru_epoch(module, head, train, counts, config, device, optimiser, rng, gen)
        else:
            loss = _sasrec_epoch(module, head, train, config, device, optimiser, rng)
        module.eval()
        mrr = _valid_mrr(module, head, probe, config, device) if len(probe) else None
        entry = {
            "phase": "session",
            "epoch": epoch,
            "epochs": config.epochs,
            "loss": round(loss, 5),
            "valid_mrr": None if mrr is None else round(mrr, 5),
            "seconds": round(time.perf_counter() - began, 2),
        }
        history.append(entry)
        report(dict(entry))
        if mrr is None:
            best_epoch = epoch
            continue
        if mrr > best:
            best, best_epoch, waited = mrr, epoch, 0
            best_state = copy.deepcopy(module.state_dict())
        else:
            waited += 1
            if config.patience and waited >= config.patience:
                break
    if best_state is not None:
        module.load_state_dict(best_state)
    return history, best_epoch


def _gru_epoch(
    module: GRU4Rec,
    head: ScoringHead,
    train: SessionSequences,
    counts: np.ndarray,
    config: SessionConfig,
    device: torch.device,
    optimiser: torch.optim.Optimizer,
    rng: np.random.Generator,
    gen: torch.Generator,
) -> float:
    """One pass of session-parallel mini-batches; returns the mean loss per step."""
    n_items = module.n_items
    batch = min(config.batch_size, len(train))
    order = rng.permutation(len(train))
    offsets, items = train.offsets, train.items
    exact = config.negatives >= n_items
    n_neg = 0 if exact else config.negatives
    target_p = counts / counts.sum()
    sample_p = np.power(counts + 1e-12, config.sample_alpha) if config.sample_alpha else np.ones(n_items)
    sample_p = sample_p / sample_p.sum()
    sampler = torch.as_tensor(sample_p, dtype=torch.float64)
    log_q_target = torch.as_tensor(target_p, dtype=torch.float32, device=device)
    log_q_sample = torch.as_tensor(sample_p, dtype=torch.float32, device=device)
    slots = order[:batch].copy()
    pos = np.zeros(batch, np.int64)
    upcoming = batch
    state = module.zero_state(batch)
    total, steps = 0.0, 0
    while True:
        start = offsets[slots] + pos
        rows = torch.as_tensor(items[start], device=device)
        targets = torch.as_tensor(items[start + 1], device=device)
        vectors, state = module.step(rows, state)
        if exact:
            loss = F.cross_entropy(head.logits(vectors), targets)
        else:
            negatives = torch.multinomial(sampler, n_neg, replacement=True, generator=gen).to(device)
            cand = torch.cat([targets, negatives])
            logits = head.logits(vectors, cand)
            expected = batch * log_q_target[cand] + n_neg * log_q_sample[cand]
            logits = logits - torch.log(expected.clamp_min(1e-12))
            same = cand[None, :] == targets[:, None]
            same[torch.arange(batch), torch.arange(batch)] = False
            logits = logits.masked_fill(same, float("-inf"))
            loss = F.cross_entropy(logits, torch.arange(batch, device=device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        total, steps = total + float(loss.detach()), steps + 1
        state = state.detach()
        pos += 1
        ended = np.flatnonzero(offsets[slots] + pos + 1 >= offsets[slots + 1])
        if len(ended):
            if upcoming + len(ended) > len(order):
                break  # too few sessions left to fill every slot: the epoch ends (as GRU4Rec does)
            slots[ended] = order[upcoming : upcoming + len(ended)]
            upcoming += len(ended)
            pos[ended] = 0
            mask = torch.ones(1, batch, 1, device=device)
            mask[0, torch.as_tensor(ended, device=device)] = 0.0
            state = state * mask
    return total / max(steps, 1)


def _windows(train: SessionSequences, max_len: int) -> list[np.ndarray]:
    """Each session cut into windows of at most ``max_len + 1`` events, consecutive windows sharing one."""
    out = []
    for s in range(len(train)):
        seq = train.session(s)
        for begin in range(0, max(len(seq) - 1, 1), max_len):
            window = seq[begin : begin + max_len + 1]
            if len(window) >= 2:
                out.append(window)
    return out


def _sasrec_epoch(
    module: torch.nn.Module,
    head: ScoringHead,
    train: SessionSequences,
    config: SessionConfig,
    device: torch.device,
    optimiser: torch.optim.Optimizer,
    rng: np.random.Generator,
) -> float:
    """One pass over shuffled windows with a full cross-entropy at every position."""
    windows = _windows(train, config.max_len)
    order = rng.permutation(len(windows))
    pad = module.n_items
    total, steps = 0.0, 0
    for begin in range(0, len(order), config.batch_size):
        chosen = [windows[i] for i in order[begin : begin + config.batch_size]]
        width = max(len(w) for w in chosen) - 1
        inputs = np.full((len(chosen), width), pad, np.int64)
        targets = np.full((len(chosen), width), -100, np.int64)
        for b, w in enumerate(chosen):
            inputs[b, : len(w) - 1], targets[b, : len(w) - 1] = w[:-1], w[1:]
        hidden = module(torch.as_tensor(inputs, device=device))
        tgt = torch.as_tensor(targets, device=device)
        valid = tgt >= 0
        loss = F.cross_entropy(head.logits(hidden[valid]), tgt[valid])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        total, steps = total + float(loss.detach()), steps + 1
    return total / max(steps, 1)


# ---- validation -----------------------------------------------------------------------------------------
def _valid_probe(valid: SessionSequences, rng: np.random.Generator) -> SessionSequences:
    """The validation sessions scored each epoch: all, or a seeded sample of about MAX_VALID_PREFIXES."""
    prefixes = valid.lengths - 1
    if prefixes.sum() <= MAX_VALID_PREFIXES:
        return valid
    order = rng.permutation(len(valid))
    keep = np.zeros(len(valid), bool)
    keep[order[np.cumsum(prefixes[order]) <= MAX_VALID_PREFIXES]] = True
    return valid.select(keep)


def prefix_batches(
    seqs: SessionSequences, max_len: int | None = None
) -> Iterator[tuple[list[np.ndarray], np.ndarray]]:
    """Every prefix s[1..j] (j < n) of every session, with its target s[j+1], in batches of 512."""
    prefixes, targets = [], []
    for s in range(len(seqs)):
        seq = seqs.session(s)
        for j in range(1, len(seq)):
            prefixes.append(seq[max(0, j - max_len) if max_len else 0 : j])
            targets.append(seq[j])
            if len(prefixes) == 512:
                yield prefixes, np.asarray(targets, np.int64)
                prefixes, targets = [], []
    if prefixes:
        yield prefixes, np.asarray(targets, np.int64)


@torch.no_grad()
def _valid_mrr(
    module: torch.nn.Module,
    head: ScoringHead,
    probe: SessionSequences,
    config: SessionConfig,
    device: torch.device,
) -> float:
    """Mean reciprocal rank@20 of each validation prefix's next item, the prefix's own items excluded."""
    encoder = SessionEncoder(config, module, head, SessionFusion.constant(1.0, cosine=head.cosine))
    reciprocal = []
    for prefixes, targets in prefix_batches(probe):
        vectors = torch.as_tensor(_device_vectors(encoder, prefixes, device))
        logits = head.logits(vectors.to(device)).cpu()
        reciprocal.append(_reciprocal_ranks(logits, prefixes, targets, VALID_K))
    return float(np.concatenate(reciprocal).mean()) if reciprocal else float("nan")


def _device_vectors(
    encoder: SessionEncoder, prefixes: list[np.ndarray], device: torch.device
) -> np.ndarray:
    """:meth:`SessionEncoder.vectors` with the module wherever it is now (CPU or the training device)."""
    if device.type == "cpu":
        return encoder.vectors(prefixes)
    encoder.module.cpu()
    try:
        return encoder.vectors(prefixes)
    finally:
        encoder.module.to(device)


def _reciprocal_ranks(
    scores: torch.Tensor, excluded: list[np.ndarray], targets: np.ndarray, k: int
) -> np.ndarray:
    """1 / rank of each target among the non-excluded items when within ``k`` (ties count against), else 0."""
    scores = scores.clone()
    rows = np.repeat(np.arange(len(excluded)), [len(e) for e in excluded])
    cols = np.concatenate(excluded) if excluded else np.zeros(0, np.int64)
    target_scores = scores[torch.arange(len(targets)), torch.as_tensor(targets)].clone()
    scores[torch.as_tensor(rows), torch.as_tensor(cols)] = float("-inf")
    hit_excluded = np.asarray([t in set(e.tolist()) for t, e in zip(targets, excluded, strict=True)])
    better = (scores > target_scores[:, None]).sum(1).numpy()
    ties = (scores == target_scores[:, None]).sum(1).numpy() - 1
    rank = np.maximum(better + ties + 1, 1)  # an excluded target has no rank (zeroed below)
    out = np.where(rank <= k, 1.0 / rank, 0.0)
    return np.where(hit_excluded, 0.0, out)


# ---- the fusion gate --------------------------------------------------------------------------------------
def learn_gate(
    encoder: SessionEncoder,
    valid: SessionSequences,
    interactions: pd.DataFrame,
    item_emb: np.ndarray,
    user_emb: np.ndarray,
    score: ScoreFunction,
    vocab: IdVocabulary,
) -> tuple[SessionFusion, dict[str, Any]]:
    """One session weight β per length bucket, each the grid value (:data:`GATE_GRID`) with the best
    validation MRR@20 of the fused query.

    The long-term vector of a validation session is the fold-in (:class:`~recaudit.models.foldin.FoldIn`,
    as the app scores new users) of the user's training items **before the session started**: the
    collaborative model was trained on these sessions too, so its user row already knows the target. The
    list excludes that history and the prefix, as the metric does. A bucket with fewer than
    :data:`MIN_GATE_PREFIXES` prefixes takes the weight of the bucket below (the first: the best overall).
    """
    cosine = score == "cosine"
    fold = FoldIn(item_emb, target_norm=median_norm(user_emb), cosine=cosine)
    events = interactions.assign(
        _row=vocab.rows(interactions["item_id"].astype(str).to_numpy(dtype=object), strict=False),
        _t=epoch_seconds(interactions[TIMESTAMP]),
    )
    events = events[events["_row"] >= 0]
    by_user = {
        str(u): (g["_t"].to_numpy(np.float64), g["_row"].to_numpy(np.int64))
        for u, g in events.groupby(USER_ID, sort=False)
    }
    rng = np.random.default_rng(encoder.config.seed)
    probe = _valid_probe(valid, rng)
    prefixes: list[np.ndarray] = []
    targets: list[int] = []
    excluded: list[np.ndarray] = []
    long_rows: list[np.ndarray] = []
    has_long: list[bool] = []
    lengths: list[int] = []
    for s in range(len(probe)):
        seq = probe.session(s)
        times, rows = by_user.get(str(probe.users[s]), (np.zeros(0), np.zeros(0, np.int64)))
        before = np.unique(rows[times < probe.starts[s]])
        long_term = fold.fit(before) if len(before) else np.zeros(item_emb.shape[1], np.float32)
        for j in range(1, len(seq)):
            prefixes.append(seq[:j])
            targets.append(int(seq[j]))
            excluded.append(np.union1d(before, seq[:j]))
            long_rows.append(long_term)
            has_long.append(len(before) > 0)
            lengths.append(j)
    if not prefixes:
        return SessionFusion.constant(encoder.config.fusion_weight, cosine=cosine), {}
    # every prefix of every probe session in batches: one encoder call and one head call per grid value each
    reciprocal = []
    for lo in range(0, len(prefixes), GATE_BATCH):
        hi = min(lo + GATE_BATCH, len(prefixes))
        session_vecs = encoder.vectors(prefixes[lo:hi])
        per_beta = np.zeros((hi - lo, len(GATE_GRID)))
        for g, beta in enumerate(GATE_GRID):
            queries = SessionFusion.constant(beta, cosine=cosine).fuse(
                np.stack(long_rows[lo:hi]),
                session_vecs,
                np.asarray(lengths[lo:hi]),
                np.asarray(has_long[lo:hi]),
            )
            logits = encoder.head.logits(torch.from_numpy(queries))
            per_beta[:, g] = _reciprocal_ranks(logits, excluded[lo:hi], np.asarray(targets[lo:hi]), VALID_K)
        reciprocal.append(per_beta)
    rr = np.concatenate(reciprocal)
    buckets = length_buckets(np.asarray(lengths))
    overall = int(np.argmax(rr.mean(0)))
    weights, counts, chosen = [], [], overall
    for b in range(len(FUSION_LENGTH_EDGES) + 1):
        keep = buckets == b
        counts.append(int(keep.sum()))
        if keep.sum() >= MIN_GATE_PREFIXES:
            chosen = int(np.argmax(rr[keep].mean(0)))
        weights.append(GATE_GRID[chosen])
    fused = SessionFusion(tuple(weights), cosine, rule="gate")
    info = {"weights": weights, "prefixes": counts, "valid_mrr_by_weight": np.round(rr.mean(0), 5).tolist()}
    return fused, info
