"""EMCDR-style user maps from source-domain vectors to target-domain vectors (Man et al., IJCAI 2017).

Each domain has its own collaborative model; a map ``f`` is fitted on the users present in both domains,
``f(source vector) ≈ target vector``, and a user cold in the target is then scored with ``f(source vector)``
against the target's item table. Two maps, as in the paper:

* :class:`LinearMap`: ``y = x W + c`` by ridge regression, in closed form (``W = (XᵀX + λI)⁻¹ XᵀY`` on
  centred data); deterministic and cheap.
* :class:`MLPMap`: one hidden tanh layer (EMCDR's MLP), trained with Adam on the mean squared error,
  seeded (``torch.Generator``), full-batch, with early stopping on a seeded 10% of the pairs.

Both store their weights as plain arrays (:meth:`tensors`, :func:`map_from_tensors`) so a bundle holds them in
safetensors; nothing is pickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

MapKind = Literal["linear", "mlp"]


@dataclass(frozen=True)
class LinearMap:
    """``y = x @ weight + bias``, fitted by ridge regression."""

    weight: np.ndarray  # [d_source, d_target]
    bias: np.ndarray  # [d_target]

    kind = "linear"

    @classmethod
    def fit(cls, source: np.ndarray, target: np.ndarray, l2: float = 1.0) -> LinearMap:
        """Ridge regression of ``target`` [n, d_t] on ``source`` [n, d_s] (the bias is not penalised)."""
        x, y = np.asarray(source, np.float64), np.asarray(target, np.float64)
        _check_pairs(x, y)
        mx, my = x.mean(0), y.mean(0)
        xc, yc = x - mx, y - my
        gram = xc.T @ xc + l2 * np.eye(x.shape[1])
        weight = np.linalg.solve(gram, xc.T @ yc)
        return cls(weight.astype(np.float32), (my - mx @ weight).astype(np.float32))

    def predict(self, source: np.ndarray) -> np.ndarray:
        return (np.asarray(source, np.float32) @ self.weight + self.bias).astype(np.float32)

    def tensors(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight, "bias": self.bias}


@dataclass(frozen=True)
class MLPMap:
    """``y = tanh(x W1 + b1) W2 + b2`` (EMCDR's MLP mapping)."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    kind = "mlp"

    @classmethod
    def fit(
        cls,
        source: np.ndarray,
        target: np.ndarray,
        *,
        hidden: int = 128,
        epochs: int = 500,
        lr: float = 0.01,
        l2: float = 1e-4,
        patience: int = 20,
        seed: int = 0,
    ) -> MLPMap:
        """Full-batch Adam on the mean squared error; the epoch with the lowest validation error is kept."""
        x, y = np.asarray(source, np.float32), np.asarray(target, np.float32)
        _check_pairs(x, y)
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(x), generator=generator).numpy()
        n_valid = max(1, len(x) // 10) if len(x) >= 20 else 0
        valid, fit = order[:n_valid], order[n_valid:]
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        scale = 1.0 / np.sqrt(x.shape[1])
        w1 = (torch.randn(x.shape[1], hidden, generator=generator) * scale).requires_grad_()
        b1 = torch.zeros(hidden, requires_grad=True)
        w2 = (torch.randn(hidden, y.shape[1], generator=generator) / np.sqrt(hidden)).requires_grad_()
        b2 = torch.from_numpy(y[fit].mean(0)).clone().requires_grad_()
        params = [w1, b1, w2, b2]
        optimizer = torch.optim.Adam(params, lr=lr, weight_decay=l2)

        def forward(rows: np.ndarray) -> torch.Tensor:
            return torch.tanh(xt[rows] @ w1 + b1) @ w2 + b2

        best = (float("inf"), [p.detach().clone() for p in params])
        since = 0
        for _ in range(epochs):
            optimizer.zero_grad(set_to_none=True)
            loss = torch.mean((forward(fit) - yt[fit]) ** 2)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                rows = valid if n_valid else fit
                error = float(torch.mean((forward(rows) - yt[rows]) ** 2))
            if error < best[0] - 1e-9:
                best, since = (error, [p.detach().clone() for p in params]), 0
            else:
                since += 1
                if since >= patience:
                    break
        kept = [p.numpy().astype(np.float32) for p in best[1]]
        return cls(*kept)

    def predict(self, source: np.ndarray) -> np.ndarray:
        x = np.asarray(source, np.float32)
        return (np.tanh(x @ self.w1 + self.b1) @ self.w2 + self.b2).astype(np.float32)

    def tensors(self) -> dict[str, np.ndarray]:
        return {"w1": self.w1, "b1": self.b1, "w2": self.w2, "b2": self.b2}


UserMap = LinearMap | MLPMap


def fit_map(kind: MapKind, source: np.ndarray, target: np.ndarray, *, seed: int = 0) -> UserMap:
    """A fitted map of ``kind``."""
    if kind == "linear":
        return LinearMap.fit(source, target)
    if kind == "mlp":
        return MLPMap.fit(source, target, seed=seed)
    raise ValueError(f"unknown map kind {kind!r}; use 'linear' or 'mlp'")


def map_from_tensors(kind: str, tensors: dict[str, np.ndarray]) -> UserMap:
    """Rebuild a map from :meth:`tensors`'s arrays (a bundle component)."""
    if kind == "linear":
        return LinearMap(tensors["weight"], tensors["bias"])
    if kind == "mlp":
        return MLPMap(tensors["w1"], tensors["b1"], tensors["w2"], tensors["b2"])
    raise ValueError(f"unknown map kind {kind!r}")


def _check_pairs(x: np.ndarray, y: np.ndarray) -> None:
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(f"source {x.shape} and target {y.shape} must be [n, d] tables of the same users")
    if len(x) < 2:
        raise ValueError(f"{len(x)} user(s) in both domains: a map needs at least two")
