"""The cross-domain model's parts: user maps, per-domain query plans and serving, the bundle component."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recaudit.errors import RecauditInputError
from recaudit.models.crossdomain.mapping import LinearMap, MLPMap, map_from_tensors
from recaudit.models.crossdomain.model import CrossDomainModel, DomainModel


def test_linear_map_recovers_an_affine_map() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 6)).astype(np.float32)
    a = rng.standard_normal((6, 4)).astype(np.float32)
    y = x @ a + np.array([1.0, -2.0, 0.5, 0.0], np.float32)
    fitted = LinearMap.fit(x, y, l2=1e-6)
    np.testing.assert_allclose(fitted.predict(x), y, atol=1e-3)
    again = map_from_tensors("linear", fitted.tensors())
    np.testing.assert_array_equal(again.predict(x), fitted.predict(x))


def test_mlp_map_fits_a_nonlinear_map_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 4)).astype(np.float32)
    y = np.tanh(x @ rng.standard_normal((4, 3))).astype(np.float32) * 2.0
    fitted = MLPMap.fit(x, y, hidden=32, epochs=400, seed=3)
    mse = float(np.mean((fitted.predict(x) - y) ** 2))
    linear = float(np.mean((LinearMap.fit(x, y).predict(x) - y) ** 2))
    assert mse < 0.5 * linear  # the hidden layer captures what a linear map cannot
    twin = MLPMap.fit(x, y, hidden=32, epochs=400, seed=3)
    np.testing.assert_array_equal(twin.predict(x), fitted.predict(x))
    np.testing.assert_array_equal(map_from_tensors("mlp", fitted.tensors()).predict(x), fitted.predict(x))


def test_maps_refuse_too_few_pairs() -> None:
    with pytest.raises(ValueError, match="at least two"):
        LinearMap.fit(np.ones((1, 2)), np.ones((1, 2)))
    with pytest.raises(ValueError, match="same users"):
        LinearMap.fit(np.ones((3, 2)), np.ones((2, 2)))


def tiny_model() -> CrossDomainModel:
    """Users u0-u3, items a0-a2 (domain a) and b0-b2 (domain b), 2-d dot tables.

    In b: u0 warm (2 interactions), u1 cold with a-history, u2 cold without any history, u3 warm (25).
    The map of b is "swap the coordinates" (linear, exact), its gate: cold -> linear, else target.
    """
    user_ids = np.array(["u0", "u1", "u2", "u3"], dtype=object)
    item_ids = np.array(["a0", "a1", "a2", "b0", "b1", "b2"], dtype=object)
    a = DomainModel(
        "a", np.array([0, 1, 2]), np.array([[1, 0], [0, 1], [0, 0], [1, 1]], np.float32),
        np.eye(3, 2, dtype=np.float32), None, np.array([3, 4, 0, 5]), np.array([5, 4, 3]),
    )  # fmt: skip
    swap = LinearMap(np.array([[0, 1], [1, 0]], np.float32), np.zeros(2, np.float32))
    b = DomainModel(
        "b", np.array([3, 4, 5]), np.array([[1, 0], [0, 0], [0, 0], [0, 1]], np.float32),
        np.array([[1, 0], [0, 1], [0.5, 0.5]], np.float32), None, np.array([2, 0, 0, 25]),
        np.array([1, 9, 4]),
        maps={"linear": swap}, gate=("linear", "target", "target", "target", "target", "target"),
    )  # fmt: skip
    return CrossDomainModel(user_ids, item_ids, "dot", {"a": a, "b": b}, map_kind="linear")


def test_plans_follow_the_mode() -> None:
    model = tiny_model()
    rows = np.arange(4)
    q, pop = model.plan("b", "none", rows)
    assert pop.tolist() == [False, True, True, False]
    q, pop = model.plan("b", "linear", rows)
    # every user with a-interactions is mapped (u0, u1, u3); u2 has no source: popularity (cold)
    assert pop.tolist() == [False, False, True, False]
    np.testing.assert_array_equal(q[[0, 1, 3]], [[0, 1], [1, 0], [1, 1]])
    q, pop = model.plan("b", "gated", rows)
    # the gate maps only the cold bucket: u1; u0 (2) and u3 (25) keep their target-only vectors
    assert pop.tolist() == [False, False, True, False]
    np.testing.assert_array_equal(q[[0, 1, 3]], [[1, 0], [1, 0], [0, 1]])
    with pytest.raises(RecauditInputError, match="unknown transfer"):
        model.plan("b", "sideways", rows)
    with pytest.raises(RecauditInputError, match="unknown domain"):
        model.plan("c", "none", rows)


def test_recommend_ranks_within_the_domain_and_excludes_seen() -> None:
    model = tiny_model()
    seen = sp.csr_matrix(
        (np.ones(3), ([0, 3, 2], [3, 5, 0])), shape=(4, 6)
    )  # u0 saw b0, u3 saw b2, u2 saw a0
    recs = model.recommend("b", "gated", np.array([3, 2, 1, 0]), 2, seen=seen)
    lists = recs.groupby("user_id", sort=False)["item_id"].apply(list).to_dict()
    assert list(lists) == ["u3", "u2", "u1", "u0"]  # the rows' order
    assert lists["u3"] == ["b1", "b0"]  # [0, 1]: b1 (1), b2 seen, b0 (0)
    assert lists["u2"] == ["b1", "b2"]  # popularity 9, 4, 1
    assert lists["u1"] == ["b0", "b2"]  # mapped [1, 0]: b0 1, b2 0.5
    assert lists["u0"] == ["b2", "b1"]  # [1, 0] with b0 seen: b2 0.5, b1 0
    assert set(recs["item_id"]) <= {"b0", "b1", "b2"}


def test_component_round_trip_serves_the_same_lists() -> None:
    model = tiny_model()
    files = model.component()
    again = CrossDomainModel.from_component(files, model.user_ids, model.item_ids)
    rows = np.arange(4)
    for mode in ("none", "linear", "gated"):
        pd.testing.assert_frame_equal(
            model.recommend("b", mode, rows, 3), again.recommend("b", mode, rows, 3)
        )
    assert again.domains["b"].gate == model.domains["b"].gate
    with pytest.raises(RecauditInputError, match="do not fit"):
        CrossDomainModel.from_component(files, model.user_ids[:3], model.item_ids)
    broken = {**files, "model.json": {**files["model.json"], "domains": {"b": {"key": "d9"}}}}
    with pytest.raises(RecauditInputError, match="missing"):
        CrossDomainModel.from_component(broken, model.user_ids, model.item_ids)
