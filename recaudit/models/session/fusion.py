"""Fusion of the long-term user vector and the session vector (seed §13.3), by session length.

For a user with long-term vector u (the bundle's user row, or the fold-in of a history) and a session vector
s (the encoder's, in the same item space), the served query is

    q = (1 − β(n)) · û + β(n) · ŝ

with n the number of session events so far, û and ŝ the unit vectors for a cosine bundle (where only the
direction scores) and the vectors themselves for a dot-product bundle. β(n) is one weight per length bucket
(:data:`~recaudit.models.session.config.FUSION_LENGTH_EDGES`): the learned gate
(:func:`recaudit.models.session.train.learn_gate`) picks each on validation sessions, so short sessions
can lean on the long-term taste and long ones on the session; ``weighted`` fusion uses one β throughout.
A user without a long-term vector is served ŝ alone; a session without a vector, û alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recaudit.models.session.config import FUSION_LENGTH_EDGES
from recaudit.vectors import unit_rows

GATE_GRID: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
"""The session weights the learned gate tries per bucket: 0, 0.1, ..., 1."""


def length_buckets(lengths: np.ndarray, edges: tuple[int, ...] = FUSION_LENGTH_EDGES) -> np.ndarray:
    """The bucket of each session length n >= 1: the first edge >= n, else the last bucket."""
    return np.searchsorted(np.asarray(edges), np.asarray(lengths, np.int64), side="left")


def bucket_labels(edges: tuple[int, ...] = FUSION_LENGTH_EDGES) -> list[str]:
    """``["1", "2", "3", "4-5", "6-10", "11+"]`` for the default edges."""
    labels, low = [], 1
    for edge in edges:
        labels.append(str(edge) if edge == low else f"{low}-{edge}")
        low = edge + 1
    return [*labels, f"{low}+"]


@dataclass(frozen=True)
class SessionFusion:
    """β per length bucket; ``len(weights) == len(edges) + 1``, each in [0, 1]."""

    weights: tuple[float, ...]
    cosine: bool
    edges: tuple[int, ...] = FUSION_LENGTH_EDGES
    rule: str = "weighted"

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.edges) + 1 or not all(0.0 <= w <= 1.0 for w in self.weights):
            raise ValueError(f"need {len(self.edges) + 1} weights in [0, 1], got {self.weights}")

    @classmethod
    def constant(cls, weight: float, *, cosine: bool) -> SessionFusion:
        """One β for every length (``weighted`` fusion)."""
        return cls((float(weight),) * (len(FUSION_LENGTH_EDGES) + 1), cosine, rule="weighted")

    def weight_at(self, lengths: np.ndarray) -> np.ndarray:
        """β(n) for each session length (float32)."""
        return np.asarray(self.weights, np.float32)[length_buckets(lengths, self.edges)]

    def fuse(
        self,
        long_term: np.ndarray | None,
        session: np.ndarray,
        lengths: np.ndarray,
        has_long_term: np.ndarray | None = None,
    ) -> np.ndarray:
        """``[B, d]`` queries from long-term ``[B, d]`` (or None: nobody has one), session ``[B, d]`` vectors
        and session lengths ``[B]``; rows where ``has_long_term`` is False take the session vector alone."""
        s = unit_rows(session) if self.cosine else np.asarray(session, np.float32)
        if long_term is None:
            return s.astype(np.float32)
        u = unit_rows(long_term) if self.cosine else np.asarray(long_term, np.float32)
        beta = self.weight_at(lengths)[:, None]
        if has_long_term is not None:
            beta = np.where(np.asarray(has_long_term, bool)[:, None], beta, np.float32(1.0))
        return ((1.0 - beta) * u + beta * s).astype(np.float32)

    def describe(self) -> str:
        """One line for the model card and the Live session page."""
        if self.rule == "weighted" or len(set(self.weights)) == 1:
            return f"session weight {self.weights[0]:g} at every length"
        pairs = ", ".join(
            f"{lab}: {w:g}" for lab, w in zip(bucket_labels(self.edges), self.weights, strict=True)
        )
        return f"learned gate, session weight by length ({pairs})"
