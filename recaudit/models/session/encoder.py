"""A trained session encoder, ready to serve: GRU4Rec or SASRec weights, the bundle's frozen scoring head and
the fusion with long-term vectors; stored as the bundle component ``session``.

Serving contract (the live path, :mod:`recaudit.realtime.live`):

* :meth:`SessionEncoder.vectors` maps sessions (item rows, oldest first) to vectors in the bundle's item
  space, in one batched forward pass;
* an optional per-session *state* makes an update O(1) in the session's length: a GRU's state is its hidden
  state after the session's events, stored as ``[n, h...]`` (n the number of events it covers) so a stale
  state is recognised and recomputed instead of trusted; SASRec has no recurrent state (its state is just the
  latest vector) and re-reads the last ``max_len`` items;
* inference runs on the CPU under ``torch.no_grad`` with the module in eval mode and never mutates it, so one
  encoder may serve many threads at once.

Component files: ``encoder.safetensors`` (the module's weights, without the bundle's item table, which the
head takes from the bundle itself) and ``encoder.json`` (the config, the fusion weights, the item count and
dimension it was trained for, the scoring temperature, the training record).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from recaudit.config import ScoreFunction
from recaudit.errors import RecauditInputError
from recaudit.models.session.config import SessionConfig
from recaudit.models.session.fusion import SessionFusion
from recaudit.models.session.gru import GRU4Rec
from recaudit.models.session.head import ScoringHead, scoring_table
from recaudit.models.session.sasrec import SASRec

COMPONENT = "session"
"""The bundle component's name (``docs/bundle-format.md``)."""
FORMAT = "recaudit-session-encoder"


def build_module(config: SessionConfig, n_items: int, dim: int) -> nn.Module:
    """The untrained network of ``config.encoder`` for ``n_items`` items of dimension ``dim``."""
    if config.encoder == "gru":
        return GRU4Rec(n_items, dim, config.hidden, config.layers, config.dropout)
    return SASRec(n_items, dim, config.max_len, config.blocks, config.heads, config.dropout)


def default_temperature(score: ScoreFunction, bundle_temperature: float | None) -> float:
    """The bundle's own logit temperature: the ``mf`` one for cosine bundles (0.1 when unknown), 1 for dot."""
    if score == "cosine":
        return float(bundle_temperature) if bundle_temperature else 0.1
    return 1.0


@dataclass
class SessionEncoder:
    """A trained encoder bound to one bundle's item table (see the module docstring for the contract).

    Attributes:
        config: how it was trained.
        module: the network, in eval mode on the CPU.
        head: the frozen scoring head over the bundle's items.
        fusion: how its vectors are fused with long-term ones.
        info: the training record (epochs, best epoch, validation scores, seconds, device).
    """

    config: SessionConfig
    module: nn.Module
    head: ScoringHead
    fusion: SessionFusion
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.module.eval()
        self.head.eval()

    @property
    def kind(self) -> str:
        """``"gru"`` or ``"sasrec"``."""
        return self.config.encoder

    @property
    def n_items(self) -> int:
        return int(self.module.n_items)

    @property
    def dim(self) -> int:
        return int(self.module.dim)

    @property
    def label(self) -> str:
        """A few words: ``"GRU4Rec session encoder"`` or ``"SASRec session encoder"``."""
        return ("GRU4Rec" if self.kind == "gru" else "SASRec") + " session encoder"

    # ---- serving -------------------------------------------------------------------------------------
    def _padded(
        self, sessions: Sequence[Sequence[int]], window: int | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        seqs = [np.asarray(s, np.int64)[-window:] if window else np.asarray(s, np.int64) for s in sessions]
        lengths = np.asarray([len(s) for s in seqs], np.int64)
        if (lengths < 1).any():
            raise RecauditInputError("session encoder", "every session needs at least one item")
        width = int(lengths.max())
        padded = np.full((len(seqs), width), self.n_items, np.int64)
        for b, s in enumerate(seqs):
            if s.min() < 0 or s.max() >= self.n_items:
                raise RecauditInputError("session encoder", f"item row outside 0..{self.n_items - 1}")
            padded[b, : len(s)] = s
        return torch.from_numpy(padded), torch.from_numpy(lengths)

    @torch.no_grad()
    def vectors(self, sessions: Sequence[Sequence[int]]) -> np.ndarray:
        """``[B, d]`` float32 session vectors of whole sessions (each at least one item row)."""
        if not len(sessions):
            return np.zeros((0, self.dim), np.float32)
        if isinstance(self.module, GRU4Rec):
            padded, lengths = self._padded(sessions, None)
            out, _ = self.module.encode(padded, lengths)
        else:
            padded, lengths = self._padded(sessions, self.config.max_len)
            out = self.module.encode(padded, lengths)
        return out.numpy().astype(np.float32, copy=True)

    @torch.no_grad()
    def advance(
        self, states: Sequence[np.ndarray | None], sessions: Sequence[Sequence[int]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors ``[B, d]`` and new states for ``sessions`` (each including its newest event), given each
        session's stored state (None, or one that may be stale). A GRU state that covers all but the newest
        event costs one step; any other is recomputed from the items. SASRec recomputes its window."""
        if not isinstance(self.module, GRU4Rec):
            vecs = self.vectors(sessions)
            return vecs, [v.copy() for v in vecs]
        gru: GRU4Rec = self.module
        n = len(sessions)
        out = np.zeros((n, self.dim), np.float32)
        new_states: list[np.ndarray] = [np.zeros(0, np.float32)] * n
        width = gru.layers * gru.hidden
        fresh = [b for b in range(n) if _covers(states[b], len(sessions[b]) - 1, width)]
        taken = set(fresh)
        full = [b for b in range(n) if b not in taken]
        if fresh:
            hidden = (
                torch.from_numpy(
                    np.stack([np.asarray(states[b], np.float32)[1:] for b in fresh]).reshape(
                        len(fresh), gru.layers, gru.hidden
                    )
                )
                .transpose(0, 1)
                .contiguous()
            )
            rows = torch.as_tensor([int(sessions[b][-1]) for b in fresh], dtype=torch.int64)
            if rows.min() < 0 or rows.max() >= self.n_items:
                raise RecauditInputError("session encoder", f"item row outside 0..{self.n_items - 1}")
            vecs, hidden = gru.step(rows, hidden)
            self._collect(fresh, sessions, vecs, hidden, out, new_states)
        if full:
            padded, lengths = self._padded([sessions[b] for b in full], None)
            vecs, hidden = gru.encode(padded, lengths)
            self._collect(full, sessions, vecs, hidden, out, new_states)
        return out, new_states

    @staticmethod
    def _collect(
        which: list[int],
        sessions: Sequence[Sequence[int]],
        vecs: torch.Tensor,
        hidden: torch.Tensor,
        out: np.ndarray,
        new_states: list[np.ndarray],
    ) -> None:
        flat = hidden.transpose(0, 1).reshape(len(which), -1).numpy()
        for j, b in enumerate(which):
            out[b] = vecs[j].numpy()
            new_states[b] = np.concatenate([[np.float32(len(sessions[b]))], flat[j]]).astype(np.float32)

    @torch.no_grad()
    def scores(self, sessions: Sequence[Sequence[int]]) -> np.ndarray:
        """``[B, I]`` the bundle's scores of every item for the session vectors alone (no exclusion): the
        score the scorers give the vector, ``cos(s, v) + b`` or ``s · v + b``."""
        vecs = torch.from_numpy(self.vectors(sessions))
        return (self.head.logits(vecs) * self.head.temperature).numpy()

    # ---- the bundle component ------------------------------------------------------------------------
    def component(self) -> dict[str, Any]:
        """The ``session`` component's files."""
        weights = {k: v.detach().cpu().numpy().copy() for k, v in self.module.state_dict().items()}
        meta = {
            "format": FORMAT, "config": self.config.to_dict(), "n_items": self.n_items, "dim": self.dim,
            "temperature": self.head.temperature, "fusion": {"weights": list(self.fusion.weights),
            "rule": self.fusion.rule}, "training": self.info,
        }  # fmt: skip
        return {"encoder.safetensors": weights, "encoder.json": meta}

    @classmethod
    def from_component(
        cls,
        files: dict[str, Any],
        item_emb: np.ndarray,
        item_bias: np.ndarray | None,
        score: ScoreFunction,
        source: str = "session component",
    ) -> SessionEncoder:
        """Rebuild the encoder from its component and the bundle's item table.

        Raises:
            RecauditInputError: a file is missing, the config is invalid, or the encoder was trained for
                another catalogue (item count or dimension) or its weights do not fit the network.
        """
        for name in ("encoder.safetensors", "encoder.json"):
            if name not in files:
                raise RecauditInputError(source, f"missing {name}")
        meta = files["encoder.json"]
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise RecauditInputError(source, f"encoder.json is not a {FORMAT} file")
        config = SessionConfig.from_dict(meta.get("config") or {}, f"{source}/encoder.json")
        n_items, dim = int(meta.get("n_items", -1)), int(meta.get("dim", -1))
        if (n_items, dim) != item_emb.shape:
            raise RecauditInputError(
                source, f"trained for {n_items} items of dimension {dim}, the bundle has {item_emb.shape}"
            )
        module = build_module(config, n_items, dim)
        weights = {k: torch.from_numpy(np.array(v)) for k, v in files["encoder.safetensors"].items()}
        try:
            module.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise RecauditInputError(
                source, f"weights do not fit a {config.encoder} encoder: {first}"
            ) from None
        head = ScoringHead(
            scoring_table(item_emb, item_bias, score),
            cosine=score == "cosine",
            has_bias=item_bias is not None,
            temperature=float(meta.get("temperature", 1.0)),
        )
        fusion_meta = meta.get("fusion") or {}
        try:
            fusion = SessionFusion(
                tuple(float(w) for w in fusion_meta.get("weights", ())),
                score == "cosine",
                rule=str(fusion_meta.get("rule", "weighted")),
            )
        except (TypeError, ValueError) as exc:
            raise RecauditInputError(source, f"bad fusion weights: {exc}") from None
        return cls(config, module, head, fusion, dict(meta.get("training") or {}))


def _covers(state: np.ndarray | None, n_before: int, width: int) -> bool:
    """Whether a stored GRU state is the hidden state after exactly the first ``n_before`` events."""
    if state is None or n_before < 1:
        return False
    arr = np.asarray(state)
    return arr.shape == (width + 1,) and int(round(float(arr[0]))) == n_before
