"""SASRec (Kang & McAuley 2018), the network: causal self-attention over a session's latest items, read out
at each position as a vector in the bundle's item space.

Sequences are right-padded (the items first, pad rows after): with a causal mask a real position only ever
attends to earlier real positions, so no padding mask is needed and no row is fully masked (which would give
NaN). Positions are learned, counted from the first item of the (at most ``max_len``) window. Training uses
a full cross-entropy at every position (Klenitskiy & Vasilev 2023 showed it, not SASRec's original binary
loss, is what makes the model strong); the output is scored by the frozen
:class:`~recaudit.models.session.head.ScoringHead`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class SASRec(nn.Module):
    """Item + position embeddings -> ``blocks`` pre-norm causal transformer blocks -> linear readout."""

    def __init__(
        self, n_items: int, dim: int, max_len: int, blocks: int, heads: int, dropout: float
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"heads ({heads}) must divide the item dimension ({dim})")
        self.n_items, self.dim, self.max_len = n_items, dim, max_len
        self.embed = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        self.pos = nn.Embedding(max_len, dim)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=dim, dropout=dropout, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, dim)

    def init_items(self, item_vectors: np.ndarray) -> None:
        """Start the item embedding from the bundle's item vectors (unit RMS norm); the pad row stays 0."""
        vectors = torch.as_tensor(np.asarray(item_vectors, np.float32))
        rms = vectors.square().sum(1).mean().sqrt().clamp_min(1e-12)
        with torch.no_grad():
            self.embed.weight[: self.n_items].copy_(vectors / rms)

    def forward(self, padded: torch.Tensor) -> torch.Tensor:
        """``padded [B, L]`` item rows, right-padded with ``n_items``, L <= max_len -> ``[B, L, d]``."""
        length = padded.shape[1]
        positions = torch.arange(length, device=padded.device)
        x = self.drop(self.embed(padded) * self.dim**0.5 + self.pos(positions)[None])
        mask = torch.triu(torch.full((length, length), float("-inf"), device=padded.device), diagonal=1)
        return self.out(self.norm(self.blocks(x, mask=mask, is_causal=True)))

    def encode(self, padded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[B, d]``: each sequence read out at its last item (``lengths`` >= 1, <= L)."""
        hidden = self.forward(padded)
        return hidden[torch.arange(len(padded), device=padded.device), lengths.to(padded.device) - 1]
