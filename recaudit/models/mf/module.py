"""Embedding collaborative filtering: the torch module (the trained result, plain arrays, is
:class:`recaudit.models.mf.trained.TrainedMF`).

A user u and an item i each get a vector in R^d; the score is ``s(u, i) = <u, i> (+ b_i)``
(``"dot"``) or ``cos(u, i) (+ b_i)`` (``"cosine"``). Training (the losses are in
:mod:`recaudit.models.losses`, the loop in :mod:`recaudit.models.mf.train`) works on logits ``s /
    temperature``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MFModule(nn.Module):
    """User and item embedding tables, an optional item bias, and the training logits.

    Args:
        n_users, n_items: table sizes.
        dim: embedding dimension.
        cosine: L2-normalise the vectors before the inner product.
        item_bias: learn a bias per item (initialised to 0).
        init_std: the embeddings start as N(0, init_std^2) draws from ``generator``.
        generator: a seeded CPU ``torch.Generator`` (determinism).
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int,
        *,
        cosine: bool,
        item_bias: bool,
        init_std: float,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.cosine = cosine
        self.user = nn.Parameter(torch.randn(n_users, dim, generator=generator) * init_std)
        self.item = nn.Parameter(torch.randn(n_items, dim, generator=generator) * init_std)
        self.bias = nn.Parameter(torch.zeros(n_items)) if item_bias else None

    def user_vectors(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """User vectors (normalised for cosine), all of them when ``rows`` is None."""
        vectors = self.user if rows is None else self.user[rows]
        return F.normalize(vectors, dim=-1) if self.cosine else vectors

    def item_vectors(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Item vectors (normalised for cosine), all of them when ``rows`` is None."""
        vectors = self.item if rows is None else self.item[rows]
        return F.normalize(vectors, dim=-1) if self.cosine else vectors

    def item_biases(self, rows: torch.Tensor | None = None) -> torch.Tensor | None:
        """Item biases, or None without bias."""
        if self.bias is None:
            return None
        return self.bias if rows is None else self.bias[rows]

    def logits(
        self, user_rows: torch.Tensor, item_rows: torch.Tensor | None, temperature: float
    ) -> torch.Tensor:
        """Logits ``<u, v> / temperature + b``, ``[len(user_rows), len(item_rows)]`` (None: all)."""
        out = self.user_vectors(user_rows) @ self.item_vectors(item_rows).T / temperature
        bias = self.item_biases(item_rows)
        return out if bias is None else out + bias

    def pair_logits(
        self, user_rows: torch.Tensor, item_rows: torch.Tensor, temperature: float
    ) -> torch.Tensor:
        """Logits of aligned pairs: ``user_rows`` ``[B]``, ``item_rows`` ``[B]`` or ``[B, n]``."""
        u = self.user_vectors(user_rows)
        v = self.item_vectors(item_rows)
        if item_rows.dim() == 1:
            out = (u * v).sum(-1) / temperature
        else:
            out = torch.einsum("bd,bnd->bn", u, v) / temperature
        bias = self.item_biases(item_rows)
        return out if bias is None else out + bias
