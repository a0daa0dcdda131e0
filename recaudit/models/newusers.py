"""New users from their first interactions: a learned prior over user vectors (:class:`PriorFoldIn`) beside
the closed-form fold-in (:class:`~recaudit.models.foldin.FoldIn`), with the same interface.

Choice and source. Of the two meta-learned initialisations the issue names, this is the learned prior, not
MeLU/MAML (Lee et al. 2019): a prior over user vectors learned from the trained users is empirical Bayes
(Robbins 1956; Efron 2010 "Large-Scale Inference", ch. 1) and has a closed form, so it is exact, cheap
(one d x d solve per user) and deterministic with no second training loop; MAML-style inner/outer training
would need per-family gradient code and its own seeds. The prior is the same idea as the user prior of
Bayesian PMF (Salakhutdinov & Mnih 2008), estimated once instead of sampled.

The prior. The trained users' vectors t_u are summarised by a Gaussian N(μ, Σ): μ their mean, Σ their
covariance shrunk towards a scaled identity by the Ledoit–Wolf rule (Ledoit & Wolf 2004, "A
well-conditioned estimator for large-dimensional covariance matrices"), so it is invertible even with
few users per dimension. The fold-in's least-squares fit lives at another scale than trained embeddings
(see :mod:`recaudit.models.foldin`), so the prior is carried into the fold-in's space by one scalar s,
the least-squares slope of the trained users' own fold-ins f_u (from their training histories) on their
vectors: s = Σ_u f_u·t_u / Σ_u t_u·t_u; the answer is mapped back by 1/s.

The estimate. With the fold-in's loss F_H(u) = Σ_i c_i (p_i − u·v_i)² (p_i = 1, c_i = 1 + α on the history
H; p_i = 0, c_i = 1 elsewhere), revealing item i changes the loss by α(u·v_i)² − 2(1 + α) u·v_i (+ const).
The population N(sμ, s²Σ) is taken as the belief about a user who has interacted with nothing yet (n = 0,
every item unobserved), and each revealed item updates it by its loss change. The MAP estimate is then

    u* = argmin_u (u − sμ)ᵀ(s²Σ)⁻¹(u − sμ) + Σ_{i∈H} [α(u·v_i)² − 2(1 + α) u·v_i]
       = (P + α V_HᵀV_H)⁻¹ (P sμ + (1 + α) V_Hᵀ1),  P = (s²Σ)⁻¹,

and the user vector is u*/s. Known answers: an empty history gives exactly μ (the fold-in gives the zero
vector, i.e. the bias alone); as the history grows the data term dominates P and the direction of u*
approaches the fold-in's least-squares fit restricted to the history terms. (Putting the prior on top of
the fold-in's full loss instead, all-zero targets included, would shrink the n = 0 answer to
(VᵀV + P)⁻¹Psμ, not μ.)

Thread safety (both solvers): the app shares one solver between sessions, called from several threads at
once. Everything is computed in ``__init__`` and only read afterwards; :meth:`PriorFoldIn.fit` works on
local arrays, so concurrent calls never share a mutable buffer. numpy's BLAS/LAPACK calls are safe to make
from several threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from recaudit.models.foldin import FoldIn, median_norm

__all__ = ["NEW_USER_METHODS", "NewUserMethod", "PriorFoldIn", "ledoit_wolf", "new_user_solver", "row_lists"]

NewUserMethod = Literal["foldin", "meta"]
NEW_USER_METHODS: tuple[str, ...] = ("foldin", "meta")
"""``foldin``: :class:`~recaudit.models.foldin.FoldIn`; ``meta``: :class:`PriorFoldIn`."""

# Trained users whose fold-in sets the scale s (a fixed, evenly spaced subset: deterministic, and enough
# for one scalar).
_SCALE_USERS = 2000


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit–Wolf shrunk covariance of the rows of ``x`` ([n, d]) and the shrinkage weight δ in [0, 1].

    Σ = δ m I + (1 − δ) S with S the (1/n) sample covariance, m = tr(S)/d, and δ = min(b², d²)/d² where
    d² = ‖S − mI‖²_F and b² = (1/n²) Σ_k ‖x_k x_kᵀ − S‖²_F (Ledoit & Wolf 2004, Lemma 3.2 / eq. 14; the same
    estimator as ``sklearn.covariance.ledoit_wolf``).
    """
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    centred = x - x.mean(axis=0)
    sample = centred.T @ centred / n
    m = float(np.trace(sample)) / d
    dist = float(((sample - m * np.eye(d)) ** 2).sum())
    if dist <= 0.0:
        return sample, 0.0
    # Σ_k ‖x_k x_kᵀ − S‖²_F = Σ_k ‖x_k‖⁴ − n ‖S‖²_F (expanding the square, Σ_k x_k x_kᵀ = n S)
    norms2 = (centred**2).sum(axis=1)
    b2 = max(float((norms2**2).sum() / n**2 - (sample**2).sum() / n), 0.0)
    delta = min(b2, dist) / dist
    return delta * m * np.eye(d) + (1.0 - delta) * sample, delta


class PriorFoldIn:
    """New user vectors as the MAP estimate under a Gaussian prior learned from the trained users.

    Args:
        item_emb: ``[I, d]`` item vectors (fixed).
        user_emb: ``[U, d]`` trained user vectors (the prior's sample; zero rows are left out).
        histories: the trained users' training item rows, one array per row of ``user_emb`` (sets the
            scale s; an evenly spaced subset of at most 2,000 users with a history is used).
        alpha: confidence weight of a history item, as in :class:`FoldIn`.
        reg: the fold-in's ridge term, used only for the trained users' fold-ins that set s.
        cosine: score function is cosine (items and trained users are unit-normalised first, as the
            scorer does).

    Raises:
        ValueError: bad shapes, fewer than two trained users, or no trained user with a history.
    """

    def __init__(
        self,
        item_emb: np.ndarray,
        user_emb: np.ndarray,
        histories: Sequence[np.ndarray],
        *,
        alpha: float = 10.0,
        reg: float = 0.1,
        cosine: bool = False,
    ) -> None:
        self._foldin = FoldIn(item_emb, alpha=alpha, reg=reg, cosine=cosine)  # checks items, alpha, reg
        users = np.asarray(user_emb, dtype=np.float64)
        if users.ndim != 2 or users.shape[1] != self._foldin.items.shape[1]:
            raise ValueError(f"user embeddings of shape {users.shape} do not match items {item_emb.shape}")
        if len(histories) != users.shape[0]:
            raise ValueError(f"{len(histories)} histories for {users.shape[0]} trained users")
        if cosine:
            norms = np.linalg.norm(users, axis=1, keepdims=True)
            users = users / np.where(norms > 0, norms, 1.0)
        nonzero = np.flatnonzero(np.linalg.norm(users, axis=1) > 0)
        if len(nonzero) < 2:
            raise ValueError("a prior over user vectors needs at least two non-zero trained users")
        self.items = self._foldin.items
        self.alpha = alpha
        self.mean = users[nonzero].mean(axis=0)
        self.cov, self.shrinkage = ledoit_wolf(users[nonzero])
        self.scale = self._fit_scale(users, histories)
        precision = np.linalg.inv(self.cov) / self.scale**2
        self._precision = 0.5 * (precision + precision.T)
        self._precision_mean = self._precision @ (self.scale * self.mean)

    def _fit_scale(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> float:
        """s = Σ f_u·t_u / Σ t_u·t_u over trained users with a history (f_u: their raw fold-in)."""
        with_history = [u for u in range(len(histories)) if len(histories[u]) and users[u].any()]
        if not with_history:
            raise ValueError("no trained user has a training history: the prior's scale cannot be set")
        count = min(_SCALE_USERS, len(with_history))
        picked = np.unique(np.linspace(0, len(with_history) - 1, count).round().astype(np.int64))
        num = den = 0.0
        for position in picked:
            u = with_history[position]
            folded = self._foldin.fit(histories[u]).astype(np.float64)
            num += float(folded @ users[u])
            den += float(users[u] @ users[u])
        if not num > 0:
            raise ValueError("the trained users' fold-ins point away from their vectors: no usable scale")
        return num / den

    def fit(self, history: Sequence[int] | np.ndarray) -> np.ndarray:
        """The user vector (float32, shape [d]) for item rows ``history``; ``μ`` for an empty history."""
        rows = np.unique(np.asarray(history, dtype=np.int64))
        if rows.size == 0:
            return self.mean.astype(np.float32)
        if rows.min() < 0 or rows.max() >= self.items.shape[0]:
            raise ValueError("history refers to item rows outside the catalogue")
        vh = self.items[rows]
        lhs = self._precision + self.alpha * (vh.T @ vh)
        rhs = self._precision_mean + (1.0 + self.alpha) * vh.sum(axis=0)
        return (np.linalg.solve(lhs, rhs) / self.scale).astype(np.float32)


def row_lists(indptr: np.ndarray, indices: np.ndarray) -> list[np.ndarray]:
    """Per-row column lists of a CSR matrix (``seen.indptr``, ``seen.indices``): the users' training items."""
    return [indices[indptr[r] : indptr[r + 1]] for r in range(len(indptr) - 1)]


def new_user_solver(
    method: str,
    item_emb: np.ndarray,
    user_emb: np.ndarray,
    *,
    cosine: bool,
    histories: Sequence[np.ndarray] | None = None,
) -> FoldIn | PriorFoldIn:
    """The solver of ``method`` for a model's tables, configured as the app scores new users.

    ``foldin`` is :class:`FoldIn` rescaled to the trained users' median norm (as
    :meth:`recaudit.models.base.TrainedModel.score_new_user`); ``meta`` is :class:`PriorFoldIn`, which
    needs the trained users' ``histories``.

    Raises:
        ValueError: unknown method, or ``meta`` without histories.
    """
    if method == "foldin":
        return FoldIn(item_emb, target_norm=median_norm(user_emb), cosine=cosine)
    if method == "meta":
        if histories is None:
            raise ValueError("the meta initialisation needs the trained users' training interactions")
        return PriorFoldIn(item_emb, user_emb, histories, cosine=cosine)
    raise ValueError(f"unknown new-user method {method!r}; use one of {NEW_USER_METHODS}")
