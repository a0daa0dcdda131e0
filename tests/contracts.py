"""Contract tests every model family passes by subclassing :class:`ModelFamilyContract`.

The model of lenskit's ``ScorerTests`` and implicit's ``RecommenderBaseTestMixin``: a family's test file
sets a few class attributes and inherits every test::

    class TestMFContract(ModelFamilyContract):
        kind = "mf"
        config = MFConfig(dim=32, epochs=5, batch_size=512, lr=0.01, valid_fraction=0.0)
        recall_band = (0.23, 0.32)

What the contract checks, for the family registered as ``kind`` in ``recaudit.models.MODEL_KINDS``:

* **config**: ``to_dict`` survives JSON and ``from_dict`` gives the same config back; unknown keys and
  values of the wrong type are refused with a ``RecauditInputError``; the config is frozen.
* **seeded determinism**: two trainings with the same config on the same data give identical arrays.
* **bundle round trip**: the trained model saved as a bundle and loaded back dispatches to the same family,
  rebuilds the same model (class, config, capabilities, components) and gives identical top-k scores through
  :class:`recaudit.scoring.ExactScorer` and identical :meth:`score_users`.
* **quality**: recall@20 on a slice of the committed sample world lies in ``recall_band`` and is at least
  ``min_popularity_lift`` times that of a popularity ranking computed here (both exclude seen items), so
  a model that learnt nothing fails.
* **capabilities**: every declared capability answers with the right shape; every other one raises a
  ``RecauditInputError`` saying what the model cannot do.
* **training**: a family without a train function refuses to train with a clear error.

Everything heavy is computed once per test class (the trained model, its bundle) and the sample slice once
per session, so a family's whole contract runs in seconds on two CPU cores.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recaudit.bundle import FORMAT_VERSION, load_bundle, save_bundle
from recaudit.config import ConfigBase
from recaudit.data.schema import ITEM_ID, TEXT, TITLE, USER_ID
from recaudit.data.splits import temporal_split
from recaudit.errors import RecauditInputError
from recaudit.models import MODEL_KINDS, Capability, ModelFamily, TrainedModel
from recaudit.scoring import ExactScorer
from recaudit.workflows.train import bundle_from_model
from tests.conftest import tiny_tables

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
SLICE_USERS = 1000
"""The first users (by id) of the sample world: enough for a stable recall, small enough to train fast."""
K = 20


@dataclasses.dataclass(frozen=True)
class SampleSlice:
    """A per-user temporal 80/20 split of the first :data:`SLICE_USERS` users of the sample world."""

    train: pd.DataFrame
    test: pd.DataFrame
    popularity_recall: float
    """recall@20 of ranking every unseen item by its number of training interactions."""


@functools.cache
def sample_slice() -> SampleSlice:
    """The slice, built once per test session."""
    interactions = pd.read_parquet(SAMPLE / "interactions.parquet")
    users = np.sort(interactions[USER_ID].unique())[:SLICE_USERS]
    train, test = temporal_split(interactions[interactions[USER_ID].isin(users)], test_fraction=0.2)
    user_ids = np.sort(train[USER_ID].unique()).astype(object)
    item_ids = np.sort(train[ITEM_ID].unique()).astype(object)
    popularity = train[ITEM_ID].value_counts().reindex(item_ids).to_numpy(np.float32)
    scorer = ExactScorer(
        np.ones((len(user_ids), 1), np.float32), popularity[:, None], user_ids, item_ids,
        seen=seen_matrix(train, user_ids, item_ids), device="cpu",
    )  # fmt: skip
    return SampleSlice(train, test, recall_at_k(scorer, test, K))


def seen_matrix(train: pd.DataFrame, user_ids: np.ndarray, item_ids: np.ndarray) -> sp.csr_matrix:
    """Users x items matrix of the training pairs, in the given row orders."""
    rows = pd.Index(user_ids).get_indexer(train[USER_ID])
    cols = pd.Index(item_ids).get_indexer(train[ITEM_ID])
    keep = (rows >= 0) & (cols >= 0)
    data = np.ones(int(keep.sum()), np.float32)
    return sp.csr_matrix((data, (rows[keep], cols[keep])), shape=(len(user_ids), len(item_ids)))


def recall_at_k(scorer: ExactScorer, test: pd.DataFrame, k: int) -> float:
    """Mean over test users of |top-k ∩ T_u| / |T_u| (seen items excluded; unknown users count 0)."""
    truth = test[[USER_ID, ITEM_ID]].drop_duplicates()
    sizes = truth.groupby(USER_ID).size()
    known = [u for u in sizes.index if u in set(scorer.user_ids)]
    recs = scorer.recommend(known, k, exclude_seen=True).to_frame()[[USER_ID, ITEM_ID]]
    hits = recs.merge(truth, on=[USER_ID, ITEM_ID]).groupby(USER_ID).size()
    return float((hits.reindex(sizes.index, fill_value=0) / sizes).mean())


def _score_known(model: TrainedModel) -> np.ndarray:
    return model.score_users(list(model.user_ids[:3]))


def _fold_in(model: TrainedModel) -> np.ndarray:
    return model.score_new_user(list(model.item_ids[:5]))


def _cold_items(model: TrainedModel) -> np.ndarray:
    new = pd.DataFrame({ITEM_ID: ["new1", "new2"], TITLE: ["A", "B"], TEXT: ["a space film", "a cookbook"]})
    return model.score_cold_items(list(model.user_ids[:3]), new)


def _session(model: TrainedModel) -> np.ndarray:
    return model.score_session(list(model.item_ids[:3]))


def _domain(model: TrainedModel) -> np.ndarray:
    return model.score_domain(list(model.user_ids[:3]), "movies")


CAPABILITY_CALLS = {
    Capability.KNOWN_USERS: (_score_known, lambda m: (3, len(m.item_ids))),
    Capability.FOLD_IN: (_fold_in, lambda m: (len(m.item_ids),)),
    Capability.COLD_ITEMS: (_cold_items, lambda m: (3, 2)),
    Capability.SESSION: (_session, lambda m: (len(m.item_ids),)),
    Capability.DOMAINS: (_domain, None),
}
"""One call per capability and the shape its answer must have (None: any 2-D shape with 3 rows)."""


class ModelFamilyContract:
    """Subclass as ``TestXContract`` and set the class attributes; every test below then runs."""

    kind: ClassVar[str]
    """The kind under test, as registered in ``MODEL_KINDS``."""
    config: ClassVar[ConfigBase]
    """A small, fast config (a few epochs)."""
    recall_band: ClassVar[tuple[float, float]]
    """Bounds of recall@20 on the sample slice."""
    min_popularity_lift: ClassVar[float] = 1.5
    """recall@20 must be at least this multiple of the popularity ranking's."""

    @classmethod
    def fit(cls, train: pd.DataFrame, config: ConfigBase, tmp: Path) -> TrainedModel:
        """A trained model from interactions (default: the family's train function). A family that cannot
        train (e.g. ``imported``) overrides this classmethod with the way its models are made; ``tmp`` is
        a scratch folder for the files that takes."""
        return MODEL_KINDS[cls.kind].train(train, config)

    # ---- shared fixtures (once per class) ---------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def family(cls) -> ModelFamily:
        return MODEL_KINDS[cls.kind]

    @pytest.fixture(scope="class")
    @classmethod
    def trained(cls, tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
        return cls.fit(sample_slice().train, cls.config, tmp_path_factory.mktemp(f"{cls.kind}-fit"))

    @pytest.fixture(scope="class")
    @classmethod
    def saved(cls, trained: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
        """The trained model as an in-memory bundle, and where it was saved."""
        data = sample_slice()
        bundle = bundle_from_model(
            trained, train=data.train, test=data.test, items=None, sources={"interactions": "sample"},
            seconds=0.0,
        )  # fmt: skip
        out = save_bundle(bundle, tmp_path_factory.mktemp(f"{cls.kind}-bundle") / "b")
        return bundle, out

    # ---- registry and config ----------------------------------------------------------------------
    def test_registered_under_its_kind(self, family: ModelFamily, trained: TrainedModel) -> None:
        assert family.kind == self.kind and trained.kind == self.kind
        assert issubclass(family.config_class, ConfigBase) and isinstance(self.config, family.config_class)
        assert isinstance(trained.capabilities, frozenset)
        assert all(isinstance(c, Capability) for c in trained.capabilities)

    def test_config_round_trips_through_json(self, family: ModelFamily) -> None:
        for config in (self.config, family.config_class()):
            data = json.loads(json.dumps(config.to_dict()))
            assert set(data) == {f.name for f in dataclasses.fields(config)}
            assert family.config_class.from_dict(data) == config
            assert family.config(data) == config

    def test_config_refuses_unknown_keys_and_wrong_types(self, family: ModelFamily) -> None:
        data = self.config.to_dict()
        with pytest.raises(RecauditInputError, match=r"unknown keys \['no_such_key'\]"):
            family.config_class.from_dict({**data, "no_such_key": 1})
        for name in data:
            with pytest.raises(RecauditInputError, match=name):
                family.config_class.from_dict({**data, name: object()})
        with pytest.raises(dataclasses.FrozenInstanceError):
            self.config.__setattr__(next(iter(data)), None)

    # ---- determinism and training -----------------------------------------------------------------
    def test_same_seed_gives_identical_arrays(self, tmp_path: Path) -> None:
        train = tiny_tables()["train"]
        first = self.fit(train, self.config, tmp_path / "one")
        second = self.fit(train, self.config, tmp_path / "two")
        for name in ("user_ids", "item_ids", "user_emb", "item_emb", "item_bias"):
            a, b = getattr(first, name), getattr(second, name)
            assert (a is None) == (b is None), name
            if a is not None:
                np.testing.assert_array_equal(a, b, err_msg=name)
        assert first.config == second.config

    def test_training_needs_a_train_function(self, family: ModelFamily) -> None:
        train = tiny_tables()["train"]
        if family.trainable:
            with pytest.raises(RecauditInputError, match="expected a"):
                family.train(train, _OtherConfig())
            return
        with pytest.raises(RecauditInputError, match="cannot be trained from interactions"):
            family.train(train, self.config)

    # ---- bundle round trip ------------------------------------------------------------------------
    def test_bundle_round_trip_gives_identical_scores(
        self, family: ModelFamily, trained: TrainedModel, saved: tuple[Any, Path]
    ) -> None:
        bundle, path = saved
        loaded = load_bundle(path)
        assert loaded.manifest["model"]["kind"] == self.kind
        assert loaded.manifest["format_version"] == FORMAT_VERSION
        assert loaded.family is family
        rebuilt = loaded.model
        assert type(rebuilt) is type(trained)
        assert rebuilt.config == trained.config and rebuilt.capabilities == trained.capabilities
        assert sorted(loaded.components) == sorted(trained.components())
        users = list(bundle.user_ids[:50])
        before = bundle.exact_scorer("cpu").recommend(users, K)
        after = loaded.exact_scorer("cpu").recommend(users, K)
        np.testing.assert_array_equal(before.item_index, after.item_index)
        np.testing.assert_array_equal(before.scores, after.scores)
        if trained.supports(Capability.KNOWN_USERS):
            np.testing.assert_array_equal(rebuilt.score_users(users), trained.score_users(users))

    # ---- quality ----------------------------------------------------------------------------------
    def test_recall_lies_in_band_and_beats_popularity(self, saved: tuple[Any, Path]) -> None:
        bundle, _ = saved
        data = sample_slice()
        recall = recall_at_k(bundle.exact_scorer("cpu"), data.test, K)
        low, high = self.recall_band
        assert low <= recall <= high, (recall, self.recall_band)
        assert recall >= self.min_popularity_lift * data.popularity_recall, (recall, data.popularity_recall)

    # ---- capabilities -----------------------------------------------------------------------------
    @pytest.mark.parametrize("capability", list(Capability), ids=lambda c: c.name.lower())
    def test_capability_answers_or_refuses_clearly(
        self, trained: TrainedModel, capability: Capability
    ) -> None:
        call, shape = CAPABILITY_CALLS[capability]
        if not trained.supports(capability):
            with pytest.raises(RecauditInputError, match=f"cannot {capability.value}"):
                call(trained)
            return
        scores = np.asarray(call(trained))
        if shape is None:
            assert scores.ndim == 2 and scores.shape[0] == 3
        else:
            assert scores.shape == shape(trained)
        assert np.isfinite(scores).all()

    def test_known_user_scores_are_the_scorers(self, trained: TrainedModel) -> None:
        if not trained.supports(Capability.KNOWN_USERS):
            pytest.skip(f"{self.kind} does not score known users")
        users = list(trained.user_ids[:4])
        scorer = ExactScorer(
            trained.user_emb, trained.item_emb, trained.user_ids, trained.item_ids,
            item_bias=trained.item_bias, score=trained.score_function, device="cpu",
        )  # fmt: skip
        expected = scorer.score_items(users, list(trained.item_ids))
        np.testing.assert_allclose(trained.score_users(users), expected, rtol=1e-5, atol=1e-6)
        with pytest.raises(RecauditInputError, match="unknown"):
            trained.score_users(["no-such-user"])


@dataclasses.dataclass(frozen=True)
class _OtherConfig(ConfigBase):
    """A config of no family, to check that a family refuses configs of another class."""

    size: int = 1
