"""The trained embedding collaborative-filtering model as plain arrays (no torch): what
:func:`recaudit.models.train_mf` returns, what a bundle of kind ``mf`` stores and is rebuilt into.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from recaudit.config import ScoreFunction
from recaudit.models.base import Capabilities, Capability, TrainedModel, epoch_record
from recaudit.models.mf.config import MFConfig

MF_KIND = "mf"


@dataclass
class TrainedMF(TrainedModel):
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

    kind: ClassVar[str] = MF_KIND
    capabilities: ClassVar[Capabilities] = frozenset({Capability.KNOWN_USERS, Capability.FOLD_IN})
    """Known users (the trained vectors) and new users (ridge fold-in on the item vectors,
    :mod:`recaudit.models.foldin`). Not cold items: an item without interactions has no trained vector
    (a zero row), so its score would say nothing about the item."""

    @property
    def score_function(self) -> ScoreFunction:
        return self.config.score

    def training_info(self) -> dict[str, Any]:
        """Best epoch, epochs run, the per-epoch history and the device (the manifest's ``training``)."""
        return epoch_record(self.history, self.best_epoch, self.device)

    def training_note(self) -> str:
        return f"on {self.device}, best epoch {self.best_epoch}"

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Scores ``[len(user_rows), I]`` of these user rows over the whole catalogue."""
        rows = np.asarray(user_rows, dtype=np.int64)
        out = self.user_emb[rows] @ self.item_emb.T
        return out if self.item_bias is None else out + self.item_bias[None, :]
