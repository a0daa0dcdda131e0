"""Tests of the embedding CF model (tiny data, CPU): known answers on a block world, determinism,
the loss options, early stopping, the config contract, progress reporting and input validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from recaudit.errors import RecauditInputError
from recaudit.models import MFConfig, TrainedMF, train_mf
from recaudit.models.interactions import carve_validation, clean_interactions
from recaudit.models.losses import PositiveLookup, in_batch_softmax_loss

TINY = MFConfig(
    dim=8,
    epochs=40,
    batch_size=32,
    lr=0.05,
    temperature=0.5,
    valid_fraction=0.0,
    device="cpu",
    num_threads=1,
)


def block_world(n_blocks: int = 3, size: int = 8) -> tuple[pd.DataFrame, dict[str, str]]:
    """Users and items in blocks; user u of a block interacts with every item of its block except
    the one with the same position (held out), so each item has ``size - 1`` users.

    Returns the interactions and each user's held-out item.
    """
    rows, held = [], {}
    for block in range(n_blocks):
        for pos in range(size):
            user = f"u{block}_{pos}"
            held[user] = f"i{block}_{pos}"
            for other in range(size):
                if other != pos:
                    rows.append((user, f"i{block}_{other}", 1_000 + other))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]), held


def random_world(
    seed: int = 0, n_users: int = 40, n_items: int = 30, n_rows: int = 600
) -> pd.DataFrame:
    """Interactions with skewed item popularity and random timestamps."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1)
    return pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in rng.integers(n_users, size=n_rows)],
            "item_id": [
                f"i{i}" for i in rng.choice(n_items, n_rows, p=popularity / popularity.sum())
            ],
            "timestamp": rng.integers(0, 10_000, size=n_rows),
        }
    )


def assert_blocks_recovered(model: TrainedMF, held: dict[str, str]) -> None:
    """Every item of a user's block outscores every item of the other blocks, and the user's
    held-out item is their top unseen item."""
    scores = model.score(np.arange(len(model.user_ids)))
    block_of_item = np.array([i.split("_")[0][1:] for i in model.item_ids])
    for row, user in enumerate(model.user_ids):
        own = block_of_item == user.split("_")[0][1:]
        assert scores[row, own].min() > scores[row, ~own].max(), user
        held_row = list(model.item_ids).index(held[user])
        assert own[held_row]
        assert scores[row, held_row] > scores[row, ~own].max()


@pytest.mark.parametrize("score", ["dot", "cosine"])
def test_softmax_recovers_block_structure(score: str) -> None:
    data, held = block_world()
    model = train_mf(data, dataclasses.replace(TINY, score=score))
    assert_blocks_recovered(model, held)


def test_bpr_recovers_block_structure() -> None:
    data, held = block_world()
    model = train_mf(data, dataclasses.replace(TINY, loss="bpr", bpr_negatives=4))
    assert_blocks_recovered(model, held)


def test_every_user_and_item_gets_a_row_in_id_order() -> None:
    data, _ = block_world(n_blocks=2, size=4)
    model = train_mf(data, dataclasses.replace(TINY, epochs=2, item_bias=False))
    assert list(model.user_ids) == sorted(data["user_id"].unique())
    assert list(model.item_ids) == sorted(data["item_id"].unique())
    assert model.user_emb.shape == (8, 8) and model.user_emb.dtype == np.float32
    assert model.item_emb.shape == (8, 8) and model.item_emb.dtype == np.float32
    assert model.item_bias is None
    np.testing.assert_allclose(
        model.score(np.array([1, 3])), model.user_emb[[1, 3]] @ model.item_emb.T
    )


def test_cosine_exports_unit_vectors() -> None:
    model = train_mf(random_world(), dataclasses.replace(TINY, score="cosine", epochs=3))
    np.testing.assert_allclose(np.linalg.norm(model.user_emb, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(model.item_emb, axis=1), 1.0, rtol=1e-5)


def test_same_seed_same_arrays_other_seed_other_arrays() -> None:
    data = random_world()
    config = dataclasses.replace(TINY, epochs=6, valid_fraction=0.2, patience=2)
    first, second = train_mf(data, config), train_mf(data, config)
    for name in ("user_emb", "item_emb", "item_bias"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert [h["loss"] for h in first.history] == [h["loss"] for h in second.history]
    other = train_mf(data, dataclasses.replace(config, seed=1))
    assert not np.array_equal(first.item_emb, other.item_emb)


def test_duplicate_pairs_count_once() -> None:
    data = random_world()
    doubled = pd.concat([data, data.assign(timestamp=data["timestamp"] + 5)], ignore_index=True)
    config = dataclasses.replace(TINY, epochs=3)
    np.testing.assert_array_equal(
        train_mf(data, config).item_emb, train_mf(doubled, config).item_emb
    )


def test_logq_puts_popular_items_back_on_top() -> None:
    """Users without taste (items drawn by popularity alone): the best ranking is popularity.
    In-batch negatives over-sample popular items, so without the correction the model learns
    log p(j) - log q_j, popularity cancelled; with it, log p(j) (Yi et al. 2019)."""
    data = random_world(n_users=100, n_items=50, n_rows=600)
    counts = data.drop_duplicates(["user_id", "item_id"])["item_id"].value_counts()
    config = dataclasses.replace(TINY, epochs=10, batch_size=256, lr=0.02)

    def popularity_correlation(model: TrainedMF) -> float:
        mean_score = model.score(np.arange(len(model.user_ids))).mean(axis=0)
        return float(spearmanr(mean_score, counts[model.item_ids].to_numpy()).statistic)

    with_logq = popularity_correlation(train_mf(data, config))
    without = popularity_correlation(train_mf(data, dataclasses.replace(config, logq=False)))
    assert with_logq > 0.7
    assert without < with_logq - 0.4


def test_in_batch_softmax_loss_matches_hand_computation() -> None:
    users = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    items = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    offset = torch.tensor([0.5, -0.5])
    # logits [[1.5, -0.5], [2.5, 1.5]]; diagonal targets 0 and 1
    expected = (
        -(1.5 - np.log(np.exp(1.5) + np.exp(-0.5))) - (1.5 - np.log(np.exp(2.5) + np.exp(1.5)))
    ) / 2
    loss = in_batch_softmax_loss(users, items, item_offset=offset)
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    masked = in_batch_softmax_loss(
        users,
        items,
        item_offset=offset,
        false_negatives=torch.tensor([[False, True], [False, False]]),
    )
    assert float(masked) == pytest.approx(
        (0.0 - (1.5 - np.log(np.exp(2.5) + np.exp(1.5)))) / 2, rel=1e-6
    )


@pytest.mark.parametrize("dense_cells", [1 << 27, 0])
def test_positive_lookup_agrees_with_a_set(dense_cells: int) -> None:
    rng = np.random.default_rng(3)
    users, items = rng.integers(7, size=40), rng.integers(11, size=40)
    lookup = PositiveLookup(torch.from_numpy(users), torch.from_numpy(items), 7, 11,
                            max_dense_cells=dense_cells)  # fmt: skip
    pairs = set(zip(users.tolist(), items.tolist(), strict=True))
    grid_u, grid_i = np.meshgrid(np.arange(7), np.arange(11), indexing="ij")
    found = lookup.contains(torch.from_numpy(grid_u), torch.from_numpy(grid_i)).numpy()
    expected = np.array([[(u, i) in pairs for i in range(11)] for u in range(7)])
    np.testing.assert_array_equal(found, expected)
    mask = lookup.in_batch_false_negatives(torch.tensor([0, 0]), torch.tensor([1, 2])).numpy()
    assert not mask[0, 0] and not mask[1, 1]
    assert mask[0, 1] == ((0, 2) in pairs) and mask[1, 0] == ((0, 1) in pairs)


def test_early_stopping_restores_the_best_epoch() -> None:
    data = random_world(n_rows=900)
    config = dataclasses.replace(
        TINY, epochs=60, lr=0.1, valid_fraction=0.2, patience=3, refit=False, valid_k=5
    )
    model = train_mf(data, config)
    recalls = [h["valid_recall"] for h in model.history]
    assert len(model.history) < config.epochs
    assert model.best_epoch == int(np.argmax(recalls)) + 1
    assert len(model.history) == model.best_epoch + config.patience
    assert max(recalls[model.best_epoch :]) <= recalls[model.best_epoch - 1]
    # the same seed stopped by the epoch budget at the best epoch gives the same weights
    short = train_mf(data, dataclasses.replace(config, epochs=model.best_epoch, patience=0))
    np.testing.assert_array_equal(model.item_emb, short.item_emb)
    np.testing.assert_array_equal(model.user_emb, short.user_emb)


def test_refit_trains_on_everything_for_the_best_number_of_epochs() -> None:
    data = random_world()
    late = pd.DataFrame({"user_id": ["u1"], "item_id": ["late"], "timestamp": [10**6]})
    data = pd.concat([data, late], ignore_index=True)
    config = dataclasses.replace(TINY, epochs=5, valid_fraction=0.2, patience=0)
    no_refit = train_mf(data, dataclasses.replace(config, refit=False))
    row = list(no_refit.item_ids).index("late")
    assert "late" in no_refit.cold_items
    assert not no_refit.item_emb[row].any()
    assert no_refit.item_bias[row] == no_refit.item_bias.min()

    refit = train_mf(data, config)
    phases = [h["phase"] for h in refit.history]
    assert phases == ["fit"] * 5 + ["refit"] * refit.best_epoch
    assert len(refit.cold_items) == 0 and refit.item_emb[row].any()


def test_explicit_validation_frame_fits_all_of_train() -> None:
    data = random_world()
    valid = pd.DataFrame({"user_id": ["u1", "u2", "nobody"], "item_id": ["i0", "unknown", "i1"]})
    config = dataclasses.replace(TINY, epochs=3, patience=0)
    model = train_mf(data, config, valid=valid)
    assert all(h["valid_recall"] is not None for h in model.history)
    assert len(model.cold_items) == 0
    assert all(h["phase"] == "fit" for h in model.history)


def test_progress_callback_once_per_epoch() -> None:
    seen: list[dict] = []
    model = train_mf(random_world(), dataclasses.replace(TINY, epochs=4), progress=seen.append)
    assert [e["epoch"] for e in seen] == [1, 2, 3, 4]
    assert seen == model.history
    assert set(seen[0]) == {"phase", "epoch", "epochs", "loss", "valid_recall", "seconds"}
    assert all(e["epochs"] == 4 and e["valid_recall"] is None for e in seen)
    train_mf(random_world(), dataclasses.replace(TINY, epochs=1), progress="tqdm")


def test_config_round_trip() -> None:
    config = MFConfig(dim=16, score="cosine", loss="bpr", lr=0.01, seed=7)
    assert MFConfig.from_dict(config.to_dict()) == config
    assert MFConfig.from_dict({"dim": 16}) == MFConfig(dim=16)
    with pytest.raises(RecauditInputError, match="unknown keys \\['dimm'\\]"):
        MFConfig.from_dict({"dimm": 16})


@pytest.mark.parametrize(
    "field, value",
    [
        ("dim", 0),
        ("dim", 2.5),
        ("score", "euclid"),
        ("loss", "warp"),
        ("lr", -1.0),
        ("temperature", 0),
        ("l2", float("nan")),
        ("valid_fraction", 1.0),
        ("patience", -1),
        ("item_bias", "yes"),
        ("device", "tpu"),
        ("epochs", True),
    ],
)
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(RecauditInputError, match=field):
        MFConfig(**{field: value})


@pytest.mark.parametrize(
    "frame, config, message",
    [
        (pd.DataFrame(columns=["user_id", "item_id", "timestamp"]), TINY, "no rows"),
        (pd.DataFrame({"user_id": ["a"], "item": ["x"]}), TINY, "missing columns"),
        (pd.DataFrame({"user_id": ["a"], "item_id": [1.0]}), TINY, "floats"),
        (pd.DataFrame({"user_id": ["a", None], "item_id": ["x", "y"]}), TINY, "empty user_id"),
        (pd.DataFrame({"user_id": ["a"], "item_id": ["x"]}), MFConfig(), "timestamp"),
        (
            pd.DataFrame({"user_id": ["a"], "item_id": ["x"], "timestamp": [np.nan]}),
            MFConfig(),
            "timestamp",
        ),
        ([("a", "x")], TINY, "DataFrame"),
    ],
)
def test_bad_input_raises(frame: object, config: MFConfig, message: str) -> None:
    with pytest.raises(RecauditInputError, match=message) as info:
        train_mf(frame, config)  # type: ignore[arg-type]
    assert info.value.source == "train"


def test_bad_progress_and_missing_cuda_raise() -> None:
    data, _ = block_world(n_blocks=2, size=3)
    with pytest.raises(RecauditInputError, match="progress"):
        train_mf(data, TINY, progress="bar")  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        with pytest.raises(RecauditInputError, match="CUDA"):
            train_mf(data, dataclasses.replace(TINY, device="cuda"))


def test_validation_slice_is_each_users_latest_interactions() -> None:
    rows = [("a", f"x{t}", t) for t in range(10)] + [("b", "x0", 3)]
    rows += [("c", "x1", 9), ("c", "x2", 1), ("c", "x3", 5)]
    frame = clean_interactions(
        pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]), "t", need_timestamp=True
    )
    fit, held = carve_validation(frame, 0.2)
    # a: floor(0.2 * 10) = 2 latest; b: its only interaction stays in training; c: at least one
    assert sorted(zip(held["user_id"], held["item_id"], strict=True)) == [
        ("a", "x8"), ("a", "x9"), ("c", "x1"),
    ]  # fmt: skip
    fit_pairs = set(zip(fit["user_id"], fit["item_id"], strict=True))
    assert len(fit) == 8 + 1 + 2 and ("b", "x0") in fit_pairs
