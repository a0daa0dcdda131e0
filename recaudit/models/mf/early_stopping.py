"""Validation recall@k for early stopping, with a small exact torch top-k.

recall@k = |top-k(u) ∩ V_u| / |V_u| (docs/metrics.md), averaged over the users with validation items V_u.
As in the benchmark protocol, the user's training items are excluded from the ranking and only items
with training interactions can be recommended; validation items outside that catalogue still count
in |V_u|. The training catalogue is small, so users are scored in blocks against every item.
"""

from __future__ import annotations

import torch

from recaudit.models.losses import PositiveLookup
from recaudit.models.mf.module import MFModule

_BLOCK_CELLS = 1 << 24  # scores per block: 64 MiB of float32


class ValidationSet:
    """Held-out (user, item) pairs and the training pairs to mask, as tensors on one device.

    Args:
        fit_users, fit_items: rows of the training pairs (masked out of the rankings).
        held_users, held_items: rows of the validation pairs.
        n_users, n_items: sizes of the user and item tables.
    """

    def __init__(
        self,
        fit_users: torch.Tensor,
        fit_items: torch.Tensor,
        held_users: torch.Tensor,
        held_items: torch.Tensor,
        n_users: int,
        n_items: int,
    ) -> None:
        self.users, held_count = torch.unique(held_users, return_counts=True)
        self.n_held = held_count.to(torch.float32)
        self.held = PositiveLookup(held_users, held_items, n_users, n_items)
        self.catalogue = torch.zeros(n_items, dtype=torch.bool, device=fit_items.device)
        self.catalogue[fit_items] = True
        # training pairs of validation users, sorted by the user's position in self.users
        position = torch.full((n_users,), -1, dtype=torch.long, device=fit_users.device)
        position[self.users] = torch.arange(len(self.users), device=fit_users.device)
        local = position[fit_users]
        keep = local >= 0
        order = torch.argsort(local[keep], stable=True)
        self.seen_local = local[keep][order]
        self.seen_items = fit_items[keep][order]
        self.n_items = n_items

    def __len__(self) -> int:
        return int(self.users.numel())

    @torch.no_grad()
    def recall(self, model: MFModule, k: int, temperature: float) -> float:
        """Mean recall@k of ``model`` over the validation users."""
        if len(self) == 0:
            return float("nan")
        k = min(k, self.n_items)
        block = max(1, _BLOCK_CELLS // self.n_items)
        total = 0.0
        for start in range(0, len(self), block):
            rows = self.users[start : start + block]
            scores = model.logits(rows, None, temperature)
            scores[:, ~self.catalogue] = float("-inf")
            lo, hi = torch.searchsorted(
                self.seen_local, torch.tensor([start, start + len(rows)], device=rows.device)
            ).tolist()
            scores[self.seen_local[lo:hi] - start, self.seen_items[lo:hi]] = float("-inf")
            top = torch.topk(scores, k, dim=1)
            found = self.held.contains(rows[:, None], top.indices) & torch.isfinite(top.values)
            hits = found.sum(dim=1)
            total += float((hits / self.n_held[start : start + block]).sum())
        return total / len(self)
