"""The configuration of a session encoder (:class:`SessionConfig`), stored in the bundle's ``session``
component and in ``recaudit train --session gru|sasrec``.

One config class serves both encoders: the fields a kind does not use are ignored by it (``layers`` and
``hidden`` are GRU4Rec's, ``blocks``, ``heads`` and ``max_len`` SASRec's), so ``--set`` overrides mean the
same thing whichever encoder is trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from recaudit.config import ConfigBase
from recaudit.data.sessions import DEFAULT_GAP_S

EncoderName = Literal["gru", "sasrec"]
FusionName = Literal["gate", "weighted"]
ENCODER_NAMES: tuple[str, ...] = ("gru", "sasrec")

FUSION_LENGTH_EDGES: tuple[int, ...] = (1, 2, 3, 5, 10)
"""Inclusive upper edges of the session-length buckets the learned gate keeps one weight for: 1, 2, 3, 4-5,
6-10 and 11+ events so far (the prefix length, what the live path knows when it fuses)."""


@dataclass(frozen=True)
class SessionConfig(ConfigBase):
    """Hyper-parameters of :func:`recaudit.models.session.train.train_session_encoder`.

    Attributes:
        encoder: ``"gru"``: GRU4Rec (Hidasi et al. 2016; the corrections of Hidasi & Czapp 2023):
            session-parallel mini-batches, a GRU over the session, and a sampled softmax over the batch's
            targets plus ``negatives`` items drawn in proportion to popularity^``sample_alpha``, with the
            logQ correction of the sampling (Jean et al. 2015; Yi et al. 2019). ``"sasrec"``: SASRec (Kang
            & McAuley 2018): causal self-attention over the last ``max_len`` items with learned positions
            and a full cross-entropy over the catalogue at every position (Klenitskiy & Vasilev 2023).
        gap_s: a gap longer than this many seconds between two events of a user starts a new session
            (when the interactions have no ``session_id`` column).
        hidden: GRU hidden units.
        layers: stacked GRU layers.
        blocks, heads: SASRec's self-attention blocks and heads per block (``heads`` must divide the
            item dimension).
        max_len: SASRec reads at most this many of the latest items of a session.
        dropout: dropout on the item inputs and inside the blocks.
        negatives: GRU4Rec's extra sampled negatives per mini-batch; 0 uses only the other targets of the
            mini-batch. When it reaches the catalogue size the softmax is exact.
        sample_alpha: the popularity exponent of the negative sampler (0 uniform, 1 proportional).
        temperature: logits are the bundle's score divided by this (0 means the bundle's own: the
            ``mf`` temperature for cosine bundles, 1 for dot products).
        epochs: maximum passes over the training sessions.
        batch_size: sessions in parallel (GRU) or sequences per step (SASRec).
        lr: Adam's learning rate.
        patience: stop after this many epochs without a better validation next-item MRR@20 (the best
            epoch's weights are kept); 0 runs every epoch.
        valid_fraction: the latest sessions (by start time) kept out of training to early-stop on and to
            fit the fusion gate; 0 trains on every session (no early stopping, weighted fusion).
        fusion: ``"gate"``: a weight on the session vector per session-length bucket
            (:data:`FUSION_LENGTH_EDGES`), each chosen on the validation sessions; ``"weighted"``:
            ``fusion_weight`` for every length.
        fusion_weight: the session vector's weight under ``"weighted"`` (0: long-term only; 1: session only).
        budget_ms: the time an update may take before the base embedding is served instead (counted as
            a fallback); 0 turns the budget off.
        seed: seeds initialisation, batching, dropout and negative sampling.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` for training;
            serving is on the CPU.
        num_threads: CPU threads for torch during training (0 keeps torch's setting).
    """

    encoder: EncoderName = "gru"
    gap_s: int = DEFAULT_GAP_S
    hidden: int = 128
    layers: int = 1
    blocks: int = 2
    heads: int = 1
    max_len: int = 50
    dropout: float = 0.2
    negatives: int = 2048
    sample_alpha: float = 0.75
    temperature: float = 0.0
    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.001
    patience: int = 3
    valid_fraction: float = 0.1
    fusion: FusionName = "gate"
    fusion_weight: float = 0.5
    budget_ms: float = 50.0
    seed: int = 0
    device: str = "auto"
    num_threads: int = 1

    def validate(self) -> None:
        """Ranges (the types are checked by :class:`~recaudit.config.ConfigBase`)."""
        self.check_at_least(1, "hidden", "layers", "blocks", "heads", "max_len", "epochs", "batch_size")
        self.check_at_least(0, "gap_s", "negatives", "patience", "seed", "num_threads")
        self.check_finite("lr", positive=True)
        self.check_finite(
            "dropout", "sample_alpha", "temperature", "valid_fraction", "fusion_weight", "budget_ms"
        )
        if not 0.0 <= self.dropout < 1.0:
            self.fail("dropout", "must be in [0, 1)")
        if self.temperature < 0 or self.budget_ms < 0 or self.sample_alpha < 0:
            self.fail(
                "temperature"
                if self.temperature < 0
                else "budget_ms"
                if self.budget_ms < 0
                else "sample_alpha",
                "must be >= 0",
            )
        if not 0.0 <= self.valid_fraction < 1.0:
            self.fail("valid_fraction", "must be in [0, 1)")
        if not 0.0 <= self.fusion_weight <= 1.0:
            self.fail("fusion_weight", "must be in [0, 1]")
        device = self.device
        if not (device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())):
            self.fail("device", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
