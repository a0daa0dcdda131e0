"""Embedding collaborative filtering: the torch module and the trained result.

A user u and an item i each get a vector in R^d; the score is ``s(u, i) = <u, i> (+ b_i)``
(``"dot"``) or ``cos(u, i) (+ b_i)`` (``"cosine"``). Training (the losses are in
:mod:`recaudit.models.losses`, the loop in :mod:`recaudit.models.mf.train`) works on logits ``s /
    temperature``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recaudit.models.mf.config import MFConfig


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


@dataclass
class TrainedMF:
    """A trained model, as plain arrays ready for a bundle and a scorer.

    The exported score is ``user_emb @ item_emb.T + item_bias``. For ``"cosine"`` the embeddings are
    already L2-normalised. The exported bias is ``temperature * b`` so that the exported score is
    the training logit times the temperature: the ranking is the model's, without the logQ
    correction (which only undoes the batch sampling and is dropped at serving time, Yi et al.
    2019).

    Attributes:
        user_ids: ``[U]`` external user ids (str), the row order of ``user_emb``.
        item_ids: ``[I]`` external item ids (str), the row order of ``item_emb``; the catalogue is
            every item of the training frame.
        user_emb: float32 ``[U, d]``.
        item_emb: float32 ``[I, d]``.
        item_bias: float32 ``[I]``, or None when the model has no bias.
        config: the configuration it was trained with.
        history: one dict per epoch, as given to the progress callback.
        best_epoch: the epoch (1-based) whose weights were kept; with ``refit`` the number of epochs
            of the final training on all interactions.
        device: where it trained (``"cpu"``, ``"cuda:0"``).
        cold_items: items of the training frame that only occurred in the validation slice of a
            model trained without refit: they got no training signal, their vector is zero (score 0
            under either score function) and their bias the lowest learnt bias, so they rank with
            the least popular items instead of at a random place.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_emb: np.ndarray
    item_emb: np.ndarray
    item_bias: np.ndarray | None
    config: MFConfig
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    device: str = "cpu"
    cold_items: np.ndarray = field(default_factory=lambda: np.array([], dtype=str))

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Scores ``[len(user_rows), I]`` of these user rows over the whole catalogue."""
        rows = np.asarray(user_rows, dtype=np.int64)
        out = self.user_emb[rows] @ self.item_emb.T
        return out if self.item_bias is None else out + self.item_bias[None, :]
