"""The bundle's scoring space as a frozen output layer: how a session vector scores the catalogue.

A session encoder writes a vector s in the item space of the bundle's collaborative model, and that vector is
scored exactly as :class:`recaudit.scoring.ExactScorer` scores a user vector: ``cos(s, v_i) + b_i`` for a
cosine bundle, ``s · v_i + b_i`` for a dot-product one (``b`` the exported item bias, or none). The head
holds that item table, frozen, so training optimises the ranking the scorers will produce, and fusion
(:mod:`recaudit.models.session.fusion`) and every scorer apply to the encoder's output unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from recaudit.config import ScoreFunction


def scoring_table(item_emb: np.ndarray, item_bias: np.ndarray | None, score: ScoreFunction) -> np.ndarray:
    """``[I, d (+1)]`` float32: unit rows for cosine, the bias as a last column (the scorers' layout)."""
    table = np.asarray(item_emb, np.float64)
    if score == "cosine":
        norms = np.linalg.norm(table, axis=1, keepdims=True)
        table = np.divide(table, norms, out=np.zeros_like(table), where=norms > 0)
    if item_bias is not None:
        table = np.hstack([table, np.asarray(item_bias, np.float64)[:, None]])
    return np.ascontiguousarray(table, dtype=np.float32)


class ScoringHead(nn.Module):
    """Logits ``score(s, i) / temperature`` over the bundle's frozen item table (a buffer, not trained)."""

    def __init__(self, table: np.ndarray, *, cosine: bool, has_bias: bool, temperature: float) -> None:
        super().__init__()
        self.register_buffer("table", torch.from_numpy(np.ascontiguousarray(table, np.float32)))
        self.cosine, self.has_bias, self.temperature = cosine, has_bias, float(temperature)

    def queries(self, vectors: torch.Tensor) -> torch.Tensor:
        """Session vectors ``[..., d]`` in the scoring space (unit for cosine, a trailing 1 for the bias)."""
        if self.cosine:
            vectors = F.normalize(vectors, dim=-1, eps=1e-12)
        if self.has_bias:
            vectors = torch.cat([vectors, torch.ones_like(vectors[..., :1])], dim=-1)
        return vectors

    def logits(self, vectors: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """``[..., len(rows)]`` logits of the items ``rows`` (None: the whole catalogue)."""
        table = self.table if rows is None else self.table[rows]
        return self.queries(vectors) @ table.T / self.temperature
