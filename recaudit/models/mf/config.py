"""The configuration of the embedding collaborative-filtering model
(:func:`recaudit.models.train_mf`).

A :class:`~recaudit.config.ConfigBase`: frozen, so that a config can be a default argument, a cache key
and a bundle manifest entry (:meth:`MFConfig.to_dict` / :meth:`MFConfig.from_dict`, which refuses
unknown keys). Every value is checked when the object is built, so a bad value from the CLI or the app
fails before any training starts, with a :class:`~recaudit.errors.RecauditInputError` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from recaudit.config import ConfigBase, ScoreFunction

LossName = Literal["softmax", "bpr"]

__all__ = ["LossName", "MFConfig", "ScoreFunction"]


@dataclass(frozen=True)
class MFConfig(ConfigBase):
    """Hyper-parameters of :func:`recaudit.models.train_mf`.

    The defaults are tuned on the MovieLens latest-small temporal split
    (``benchmarks/bench_quality.py``): ndcg@10 0.130-0.134 over seeds 0-2 against 0.11 for
    implicit's ALS, in about 25 epochs (about 35 s on one CPU thread). Cosine scores with
    temperature 0.1 were the largest gain over dot products (0.106 -> 0.134).

    Attributes:
        dim: embedding dimension d of users and items.
        score: ``"dot"`` scores ``<u, v>``; ``"cosine"`` scores ``<u, v> / (|u| |v|)`` and exports
            L2-normalised embeddings.
        item_bias: learn a per-item bias b_i added to the score (it absorbs item popularity).
        loss: ``"softmax"``: in-batch sampled softmax, where the other positives of the batch are
            the negatives (Yi et al. 2019); ``"bpr"``: Bayesian personalised ranking with uniformly
            sampled negatives (Rendle et al. 2009).
        logq: softmax only: subtract log q_j from each logit, q_j being item j's share of the
            training interactions (its probability of appearing in a batch), the sampling-bias
            correction of Yi et al. 2019. Ignored by BPR, whose negatives are uniform.
        temperature: logits are ``score / temperature``; smaller is sharper. For ``"dot"`` it only
            rescales the initial embeddings' effect; for ``"cosine"`` it sets the logit range.
        epochs: maximum number of passes over the training interactions.
        batch_size: interactions per step (also the number of in-batch negatives for the softmax).
        lr: Adam learning rate.
        l2: L2 penalty ``l2 * mean_batch(|u|^2 + |v|^2 + b^2)`` on the embeddings used in a step.
        init_std: standard deviation of the normal initialisation of the embeddings.
        bpr_negatives: BPR only: uniformly sampled negatives per positive.
        seed: seeds initialisation, shuffling and negative sampling (``torch.Generator``).
        patience: stop after this many epochs without a better validation recall@valid_k; the best
            epoch's weights are restored. 0 turns early stopping off (all ``epochs`` run).
        valid_fraction: share of each user's latest training interactions held out for validation
            when no validation frame is given (temporal, as
            :func:`recaudit.data.splits.temporal_split`); 0 trains on everything and runs exactly
            ``epochs`` epochs.
        valid_k: the cut-off k of the validation recall@k.
        refit: after early stopping on the carved-out validation slice, train again from the same
            seed on all training interactions for the best number of epochs, so the most recent
            interactions (the most telling ones under a temporal protocol) shape the exported
            embeddings.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        num_threads: CPU threads for torch during training (restored afterwards); 0 keeps torch's
            current setting. Results are bit-identical only for the same thread count, so a fixed
            default keeps them comparable across machines; one thread is also the robust choice on a
            shared machine (with two threads on two busy cores, torch's thread barriers made an
            epoch about five times slower in our measurements, while on idle cores two threads are
            about 1.5 times faster).
    """

    dim: int = 64
    score: ScoreFunction = "cosine"
    item_bias: bool = True
    loss: LossName = "softmax"
    logq: bool = True
    temperature: float = 0.1
    epochs: int = 30
    batch_size: int = 1024
    lr: float = 0.005
    l2: float = 0.0
    init_std: float = 0.1
    bpr_negatives: int = 1
    seed: int = 0
    patience: int = 3
    valid_fraction: float = 0.1
    valid_k: int = 20
    refit: bool = True
    device: str = "auto"
    num_threads: int = 1

    def validate(self) -> None:
        """Ranges (the types are checked by :class:`~recaudit.config.ConfigBase`)."""
        self.check_at_least(1, "dim", "epochs", "batch_size", "bpr_negatives", "valid_k")
        self.check_at_least(0, "seed", "patience", "num_threads")
        self.check_finite("temperature", "lr", "init_std", positive=True)
        self.check_finite("l2", "valid_fraction")
        if self.valid_fraction >= 1.0:
            self.fail("valid_fraction", "must be in [0, 1)")
        device = self.device
        if not (device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())):
            self.fail("device", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
