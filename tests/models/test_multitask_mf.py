"""Joint multi-task training of the mf model over domains (the cross-domain family's shared model): a pair's
in-batch negatives are its own domain's items only, and its loss carries its domain's weight."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recaudit.errors import RecauditInputError
from recaudit.models.crossdomain.family import domain_loss_weights
from recaudit.models.losses import in_batch_softmax_loss
from recaudit.models.mf.config import MFConfig
from recaudit.models.mf.train import train_mf
from tests.conftest import tiny_tables

CONFIG = MFConfig(dim=8, epochs=2, batch_size=64, valid_fraction=0.0, seed=2, device="cpu")


def test_weighted_per_domain_loss_matches_a_hand_computation() -> None:
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    domain = torch.tensor([0, 0, 1, 1])
    mask = domain[:, None] != domain[None, :]
    weights = torch.tensor([1.0, 1.0, 3.0, 3.0])
    got = in_batch_softmax_loss(u, v, false_negatives=mask.clone(), row_weights=weights)
    logits = u @ v.T
    expected = []
    for b in range(4):
        same = (domain == domain[b]).nonzero().ravel()
        row = logits[b, same]
        expected.append(weights[b] * -F.log_softmax(row, 0)[(same == b).nonzero()[0, 0]])
    torch.testing.assert_close(got, torch.stack(expected).mean())
    plain = in_batch_softmax_loss(u, v)
    torch.testing.assert_close(in_batch_softmax_loss(u, v, row_weights=torch.ones(4)), plain)


def test_one_domain_with_unit_weights_is_plain_mf_and_two_domains_are_not() -> None:
    train = tiny_tables()["train"]
    items = tiny_tables()["items"]
    plain = train_mf(train, CONFIG)
    one = train_mf(train, CONFIG, item_domain=dict.fromkeys(items["item_id"], "all"))
    np.testing.assert_array_equal(plain.item_emb, one.item_emb)  # the mask adds nothing, the weights are 1
    two = train_mf(train, CONFIG, item_domain=dict(zip(items["item_id"], items["domain"], strict=True)))
    assert not np.array_equal(plain.item_emb, two.item_emb)
    again = train_mf(train, CONFIG, item_domain=dict(zip(items["item_id"], items["domain"], strict=True)))
    np.testing.assert_array_equal(two.item_emb, again.item_emb)  # seeded
    with pytest.raises(RecauditInputError, match="finite and > 0"):
        train_mf(train, CONFIG, item_domain={"i00": "a"}, domain_weights={"a": 0.0})


def test_balanced_weights_average_one_over_the_interactions() -> None:
    import pandas as pd

    domains = pd.Series(["a"] * 30 + ["b"] * 10)
    weights = domain_loss_weights(domains, "balanced")
    assert weights == pytest.approx({"a": 40 / 60, "b": 40 / 20})
    assert np.mean([weights[d] for d in domains]) == pytest.approx(1.0)
    assert domain_loss_weights(domains, "equal") == {"a": 1.0, "b": 1.0}
