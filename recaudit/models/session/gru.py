"""GRU4Rec (Hidasi et al. 2016), the network: item inputs, a GRU over the session, a projection into the
bundle's item space.

The output is not a score per item but a vector in the item space of the bundle's collaborative model, scored
by the frozen :class:`~recaudit.models.session.head.ScoringHead`: the encoder shares the bundle's items, so
fusion with the long-term user vector and every scorer apply. The input embedding starts from the bundle's
item vectors and is trained.

Incremental by construction: the hidden state after s[1..j] is all the encoder needs to take s[j+1], so the
live path keeps it in the session store's vector slot (:meth:`GRU4Rec.step`) and one event costs one GRU
step, whatever the session's length.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class GRU4Rec(nn.Module):
    """Embedding -> dropout -> GRU(hidden, layers) -> linear to the item dimension."""

    def __init__(self, n_items: int, dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.n_items, self.dim, self.hidden, self.layers = n_items, dim, hidden, layers
        self.embed = nn.Embedding(n_items, dim)
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(dim, hidden, num_layers=layers, dropout=dropout if layers > 1 else 0.0)
        self.out = nn.Linear(hidden, dim)

    def init_items(self, item_vectors: np.ndarray) -> None:
        """Start the input embedding from the bundle's item vectors (rescaled to unit RMS norm)."""
        vectors = torch.as_tensor(np.asarray(item_vectors, np.float32))
        rms = vectors.square().sum(1).mean().sqrt().clamp_min(1e-12)
        with torch.no_grad():
            self.embed.weight.copy_(vectors / rms)

    def zero_state(self, batch: int) -> torch.Tensor:
        """``[layers, batch, hidden]`` zeros: the state before a session's first event."""
        return torch.zeros(self.layers, batch, self.hidden, device=self.embed.weight.device)

    def step(self, rows: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One event per row: ``rows [B]``, ``state [layers, B, hidden]`` -> (vectors ``[B, d]``, state)."""
        x = self.drop(self.embed(rows))[None]
        y, state = self.gru(x, state)
        return self.out(y[0]), state

    def encode(self, padded: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Whole sessions, ``padded [B, L]`` (any pad value past ``lengths``, every length >= 1) ->
        (vectors ``[B, d]`` after each session's last event, final state ``[layers, B, hidden]``)."""
        x = self.drop(self.embed(padded.clamp(0, self.n_items - 1))).transpose(0, 1)
        packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        _, state = self.gru(packed)
        return self.out(state[-1]), state
