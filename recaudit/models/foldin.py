"""Fold a user into a trained model from an edited history, without retraining (the what-if tool).

Closed-form ridge fold-in on the fixed item embeddings V (implicit-feedback weighting, Hu, Koren & Volinsky
2008, as in ALS's user step): with p_i = 1 for history items and 0 otherwise, and confidence c_i = 1 + α for
history items and 1 otherwise,

    u* = argmin_u Σ_i c_i (p_i − u·v_i)² + λ‖u‖²  =  (VᵀV + α V_HᵀV_H + λI)⁻¹ (1 + α) V_Hᵀ 1.

VᵀV (d×d) is computed once per model, so one fold-in costs O(|H| d² + d³). Embeddings trained with a softmax
loss live at another scale than this least-squares fit, and an item bias is added to u·v at scoring time, so
the result is rescaled to ``target_norm`` (by default the median norm of the trained users) to keep the
learned balance between the dot product and the bias. An empty history gives the zero vector (only the bias,
i.e. popularity, then ranks items).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class FoldIn:
    """Refit user vectors from item histories against fixed item embeddings."""

    def __init__(
        self,
        item_emb: np.ndarray,
        *,
        alpha: float = 10.0,
        reg: float = 0.1,
        target_norm: float | None = None,
        cosine: bool = False,
    ) -> None:
        if item_emb.ndim != 2 or item_emb.shape[0] == 0:
            raise ValueError(f"item embeddings must be a non-empty 2-D array, got shape {item_emb.shape}")
        if alpha < 0 or reg <= 0:
            raise ValueError(f"need alpha >= 0 and reg > 0, got alpha={alpha}, reg={reg}")
        items = item_emb.astype(np.float64)
        if cosine:
            norms = np.linalg.norm(items, axis=1, keepdims=True)
            items = items / np.where(norms > 0, norms, 1.0)
        self.items = items
        self.alpha = alpha
        self.reg = reg
        self.target_norm = target_norm
        self.gram = items.T @ items

    def fit(self, history: Sequence[int] | np.ndarray) -> np.ndarray:
        """The folded-in user vector (float32, shape [d]) for item rows ``history``."""
        rows = np.unique(np.asarray(history, dtype=np.int64))
        d = self.items.shape[1]
        if rows.size == 0:
            return np.zeros(d, dtype=np.float32)
        if rows.min() < 0 or rows.max() >= self.items.shape[0]:
            raise ValueError("history refers to item rows outside the catalogue")
        vh = self.items[rows]
        lhs = self.gram + self.alpha * (vh.T @ vh) + self.reg * np.eye(d)
        rhs = (1.0 + self.alpha) * vh.sum(axis=0)
        user = np.linalg.solve(lhs, rhs)
        norm = float(np.linalg.norm(user))
        if self.target_norm is not None and norm > 0:
            user *= self.target_norm / norm
        return user.astype(np.float32)


def median_norm(user_emb: np.ndarray) -> float | None:
    """Median L2 norm of the non-zero trained user vectors (None if there are none)."""
    norms = np.linalg.norm(user_emb, axis=1)
    norms = norms[norms > 0]
    return float(np.median(norms)) if norms.size else None
