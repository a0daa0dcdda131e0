"""Adding a model family touches one place: an entry in ``MODEL_KINDS``.

A toy ``popularity`` family, defined here and nowhere else, is registered (through monkeypatch, so the
global registry is restored afterwards); it then trains through ``recaudit train --model popularity``,
saves a bundle, loads back by dispatch on its kind, and passes the same contract as the real families.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import load_bundle, read_manifest
from recaudit.cli import main
from recaudit.config import ConfigBase
from recaudit.errors import RecauditInputError
from recaudit.models import MODEL_KINDS, Capability, ModelFamily, TrainedModel
from tests.contracts import ModelFamilyContract

if TYPE_CHECKING:
    from recaudit.bundle import Bundle


@dataclass(frozen=True)
class PopularityConfig(ConfigBase):
    """score(u, i) = (number of training interactions of i) ** exponent, the same for every user."""

    exponent: float = 1.0

    def validate(self) -> None:
        self.check_finite("exponent", positive=True)


@dataclass
class TrainedPopularity(TrainedModel):
    """Every user is the vector [1]; every item the vector [count ** exponent]."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_emb: np.ndarray
    item_emb: np.ndarray
    config: PopularityConfig
    item_bias: np.ndarray | None = None

    kind: ClassVar[str] = "popularity"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.KNOWN_USERS})


def train_popularity(
    interactions: pd.DataFrame, config: PopularityConfig, *, progress: object = None
) -> TrainedPopularity:
    users = np.sort(interactions["user_id"].astype(str).unique())
    counts = interactions["item_id"].astype(str).value_counts().sort_index()
    return TrainedPopularity(
        user_ids=users, item_ids=counts.index.to_numpy(str),
        user_emb=np.ones((len(users), 1), np.float32),
        item_emb=(counts.to_numpy(np.float64) ** config.exponent).astype(np.float32)[:, None], config=config,
    )  # fmt: skip


def popularity_from_bundle(bundle: Bundle) -> TrainedPopularity:
    return TrainedPopularity(
        user_ids=np.asarray(bundle.user_ids).astype(str), item_ids=np.asarray(bundle.item_ids).astype(str),
        user_emb=bundle.user_emb, item_emb=bundle.item_emb,
        config=PopularityConfig.from_dict(bundle.manifest["model"]["config"]),
    )  # fmt: skip


POPULARITY = ModelFamily(
    kind="popularity", config_class=PopularityConfig, from_bundle=popularity_from_bundle,
    trainer=train_popularity, summary="most interacted-with items first",
)  # fmt: skip


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MODEL_KINDS, POPULARITY.kind, POPULARITY)


class TestPopularityContract(ModelFamilyContract):
    kind = "popularity"
    config = PopularityConfig(exponent=1.0)
    recall_band = (0.11, 0.13)  # it is the popularity baseline (0.120)
    min_popularity_lift = 0.98

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def registered_for_the_class(cls) -> Iterator[None]:
        with pytest.MonkeyPatch.context() as patch:
            patch.setitem(MODEL_KINDS, POPULARITY.kind, POPULARITY)
            yield


def _interactions(tmp_path: Path) -> Path:
    rows = [(f"u{u}", f"i{(u * 7 + t) % 15}", 1000 + t) for u in range(30) for t in range(6)]
    rows += [(f"u{u}", "i0", 2000) for u in range(0, 30, 2)]  # i0 is the most popular item
    path = tmp_path / "inter.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(path, index=False)
    return path


def test_a_registered_family_trains_saves_and_loads_back_by_dispatch(
    registered: None, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    assert main(["train", str(_interactions(tmp_path)), "--out", str(out), "--model", "popularity", "--quiet",
                 "--map", "none"]) == 0  # fmt: skip
    bundle = load_bundle(out)
    assert bundle.manifest["model"] == {"kind": "popularity", "config": {"exponent": 1.0}}
    assert bundle.family is POPULARITY
    model = bundle.model
    assert isinstance(model, TrainedPopularity)
    scores = model.score_users(["u1"])[0]
    assert model.item_ids[np.argmax(scores)] == "i0"
    np.testing.assert_array_equal(scores, bundle.train["item_id"].value_counts().reindex(model.item_ids))
    assert set(bundle.manifest["evaluation"]) >= {"model", "popularity"}
    with pytest.raises(RecauditInputError, match="cannot fold in new users"):
        model.score_new_user(["i1"])


def test_the_config_of_the_family_is_strict_on_the_command_line(
    registered: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["train", str(_interactions(tmp_path)), "--out", str(tmp_path / "b"), "--model", "popularity",
                 "--dim", "8", "--quiet", "--map", "none"])  # fmt: skip
    assert code == 2
    assert "unknown keys ['dim']" in capsys.readouterr().err


def test_once_unregistered_its_bundles_no_longer_load(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(MODEL_KINDS, POPULARITY.kind, POPULARITY)
        assert main(["train", str(_interactions(tmp_path)), "--out", str(out), "--model", "popularity",
                     "--quiet", "--map", "none"]) == 0  # fmt: skip
    assert "popularity" not in MODEL_KINDS
    with pytest.raises(RecauditInputError, match="model kind 'popularity' is not known to this recaudit"):
        read_manifest(out)
    known = re.escape(f"known kinds: {', '.join(sorted(MODEL_KINDS))};")
    with pytest.raises(RecauditInputError, match=known):
        load_bundle(out)
