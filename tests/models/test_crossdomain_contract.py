"""The ``crossdomain`` family passes the model-family contract (tests/contracts.py); its transfer model
is seeded, round-trips through the bundle with identical per-domain lists, and refuses single-domain data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import load_bundle
from recaudit.config import ConfigBase
from recaudit.data.schema import DOMAIN, ITEM_ID
from recaudit.errors import RecauditInputError
from recaudit.models import MODEL_KINDS, TrainedModel
from recaudit.models.crossdomain.family import CrossDomainConfig, TrainedCrossDomain
from tests.conftest import tiny_tables
from tests.contracts import SAMPLE, ModelFamilyContract


def items_for(train: pd.DataFrame) -> pd.DataFrame:
    """The items table that goes with ``train``: the sample world's, or the tiny world's."""
    items = pd.read_parquet(SAMPLE / "items.parquet")
    return items if set(train[ITEM_ID]) <= set(items[ITEM_ID]) else tiny_tables()["items"]


class TestCrossDomainContract(ModelFamilyContract):
    kind = "crossdomain"
    config = CrossDomainConfig(dim=32, epochs=5, batch_size=512, lr=0.01, valid_fraction=0.0, seed=3)
    recall_band = (0.23, 0.32)  # the joint part is mf's (measured 0.277 there)

    @classmethod
    def fit(cls, train: pd.DataFrame, config: ConfigBase, tmp: Path) -> TrainedModel:
        return MODEL_KINDS[cls.kind].train(train, config, items=items_for(train))

    def test_transfer_is_seeded(self, tmp_path: Path) -> None:
        train = tiny_tables()["train"]
        first, second = (self.fit(train, self.config, tmp_path) for _ in range(2))
        assert isinstance(first, TrainedCrossDomain) and isinstance(second, TrainedCrossDomain)
        assert first.transfer is not None and second.transfer is not None
        for name, dm in first.transfer.domains.items():
            twin = second.transfer.domains[name]
            np.testing.assert_array_equal(dm.user_emb, twin.user_emb)
            np.testing.assert_array_equal(dm.item_emb, twin.item_emb)
            assert dm.gate == twin.gate
            for kind, fitted in dm.maps.items():
                for part, array in fitted.tensors().items():
                    np.testing.assert_array_equal(array, twin.maps[kind].tensors()[part], err_msg=part)

    def test_per_domain_lists_survive_the_bundle(
        self, trained: TrainedModel, saved: tuple[Any, Path]
    ) -> None:
        _, path = saved
        rebuilt = load_bundle(path).model
        assert isinstance(trained, TrainedCrossDomain) and isinstance(rebuilt, TrainedCrossDomain)
        assert trained.transfer is not None and rebuilt.transfer is not None
        rows = np.arange(50)
        for mode in ("none", "mapping", "gated"):
            pd.testing.assert_frame_equal(
                trained.transfer.recommend("books", mode, rows, 10),
                rebuilt.transfer.recommend("books", mode, rows, 10),
            )


def test_single_domain_data_is_a_clear_error() -> None:
    tables = tiny_tables()
    one = tables["items"].assign(**{DOMAIN: "movies"})
    with pytest.raises(RecauditInputError, match="one domain"):
        MODEL_KINDS["crossdomain"].train(tables["train"], CrossDomainConfig(dim=8, epochs=1), items=one)
    with pytest.raises(RecauditInputError, match="domain column"):
        MODEL_KINDS["crossdomain"].train(
            tables["train"], CrossDomainConfig(dim=8, epochs=1), items=one.drop(columns=[DOMAIN])
        )
