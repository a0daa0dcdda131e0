"""The session evaluation harness: baselines known by hand, vector models against direct numpy scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle.io import Bundle
from recaudit.models.foldin import FoldIn, median_norm
from recaudit.models.session.fusion import SessionFusion
from recaudit.workflows.sessions import evaluate_session_models

ITEMS = [f"i{j}" for j in range(5)]


def _bundle() -> Bundle:
    """Training: u0 plays i1 -> i2 twice (two sessions), u1 plays i3 -> i4 then i0, u2 and u3 play i0.
    Popularity: i0 3, i1 2, i2 2, i3 1, i4 1."""
    train = pd.DataFrame({
        "user_id": ["u0", "u0", "u0", "u0", "u1", "u1", "u1", "u2", "u3"],
        "item_id": ["i1", "i2", "i1", "i2", "i3", "i4", "i0", "i0", "i0"],
        "timestamp": [0, 1, 10_000, 10_001, 0, 1, 20_000, 0, 0],
    })  # fmt: skip
    rng = np.random.default_rng(3)
    return Bundle(
        users=pd.DataFrame({"user_id": ["u0", "u1", "u2", "u3"]}),
        items=pd.DataFrame({"item_id": ITEMS}),
        user_emb=rng.normal(size=(4, 3)).astype(np.float32),
        item_emb=rng.normal(size=(5, 3)).astype(np.float32),
        item_bias=rng.normal(size=5).astype(np.float32) * 0.1,
        train=train,
        manifest={"score": "dot"},
    )


def _test() -> pd.DataFrame:
    """Two strangers: [i1, i2] (target i2 after i1) and [i3, i0] (target i0 after i3); one unknown item
    ("zz") dropped; u2 (history i0) plays [i4, i1]."""
    return pd.DataFrame({
        "user_id": ["s1", "s1", "s2", "s2", "s2", "u2", "u2"],
        "item_id": ["i1", "i2", "i3", "zz", "i0", "i4", "i1"],
        "timestamp": [100, 101, 100, 101, 102, 100, 101],
    })  # fmt: skip


class _FakeEncoder:
    """Session vector = the mean of the prefix items' embeddings (a stand-in with a known answer)."""

    def __init__(self, item_emb: np.ndarray) -> None:
        self.item_emb = item_emb
        self.fusion = SessionFusion.constant(0.5, cosine=False)

    def vectors(self, sessions: list[np.ndarray]) -> np.ndarray:
        return np.vstack([self.item_emb[np.asarray(s)].mean(axis=0) for s in sessions]).astype(np.float32)


def _direct_top(bundle: Bundle, q: np.ndarray, exclude: np.ndarray, k: int) -> list[int]:
    scores = bundle.item_emb.astype(np.float64) @ q.astype(np.float64) + bundle.item_bias
    scores[exclude] = -np.inf
    return [int(j) for j in np.argsort(-scores, kind="stable")[:k]]


def test_baselines_match_the_hand_computed_lists_and_metrics() -> None:
    result = evaluate_session_models(_bundle(), _test(), k=2, n_boot=50)
    assert result.models == ["popularity", "cooccurrence", "sknn", "foldin"]  # no encoder: no encoder rows
    assert result.n_dropped_events == 1 and result.n_sessions == 3 and result.n_prefixes == 3
    p = result.prefixes
    # prefix order follows assign_sessions: s1, s2, u2
    assert list(p.target) == [2, 0, 1]
    # popularity: excl {i1} -> [i0, i2]; excl {i3} -> [i0, i1]; u2 excl {i0, i4} -> [i1, i2]
    assert result.lists["popularity"].tolist() == [[0, 2], [0, 1], [1, 2]]
    # rules: i1 -> i2 (2), i3 -> i4 (1); u1's i0 is 20 000 s later, a new session, so i4 has no rule and
    # the zeros tie to the lower rows
    assert result.lists["cooccurrence"].tolist() == [[2, 0], [4, 0], [1, 2]]
    # SKNN: {i1} -> u0's two sessions {i1, i2}; {i3} -> {i3, i4}; {i4} -> {i3, i4} (i1 ties in second)
    assert result.lists["sknn"].tolist() == [[2, 0], [4, 0], [3, 1]]
    head = result.headline().set_index("model")
    assert head.loc["popularity", "next_hit_rate"] == pytest.approx(1.0)
    assert head.loc["popularity", "next_mrr"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert head.loc["cooccurrence", "next_hit_rate"] == pytest.approx(1.0)
    assert head.loc["cooccurrence", "next_mrr"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert head.loc["sknn", "next_hit_rate"] == pytest.approx(1.0)
    assert head.loc["sknn", "next_mrr"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert set(result.table["length"]) >= {"all", "2", "3"}
    for col in ("next_hit_rate", "next_mrr"):
        assert (head[f"{col}_low"] <= head[col] + 1e-12).all()
        assert (head[col] <= head[f"{col}_high"] + 1e-12).all()


def test_foldin_encoder_and_fused_agree_with_direct_numpy_scoring() -> None:
    bundle = _bundle()
    enc = _FakeEncoder(bundle.item_emb)
    bundle.__dict__["session_encoder"] = enc  # the cached property, as a trained component would give
    result = evaluate_session_models(bundle, _test(), k=3, n_boot=20)
    assert result.models[-2:] == ["encoder", "fused"]
    fold = FoldIn(bundle.item_emb, target_norm=median_norm(bundle.user_emb), cosine=False)
    p, items = result.prefixes, result.items
    history = {0: [], 1: [], 2: [0]}  # prefix -> H_u rows (s1, s2 strangers; u2 played i0)
    for j in range(len(p)):
        seq = items[p.start[j] : p.stop[j]]
        h = np.asarray(history[j], np.int64)
        ex = np.union1d(h, seq)
        folded = fold.fit(np.concatenate([h, seq]))
        assert result.lists["foldin"][j].tolist() == _direct_top(bundle, folded, ex, 3)
        s = enc.vectors([seq])[0]
        assert result.lists["encoder"][j].tolist() == _direct_top(bundle, s, ex, 3)
        q = s if j < 2 else 0.5 * bundle.user_emb[2] + 0.5 * s  # strangers: the session vector alone
        assert result.lists["fused"][j].tolist() == _direct_top(bundle, q, ex, 3)


def test_models_can_be_chosen_and_encoder_rows_need_an_encoder() -> None:
    result = evaluate_session_models(_bundle(), _test(), models=["popularity", "fused"], n_boot=10)
    assert result.models == ["popularity"]
    with pytest.raises(ValueError, match="unknown session model"):
        evaluate_session_models(_bundle(), _test(), models=["gru"])


def test_max_sessions_is_a_seeded_sample() -> None:
    test = pd.DataFrame({
        "user_id": np.repeat([f"x{j}" for j in range(20)], 2),
        "item_id": np.tile(["i1", "i2"], 20),
        "timestamp": np.tile([0, 1], 20),
    })  # fmt: skip
    a = evaluate_session_models(_bundle(), test, max_sessions=5, seed=1, n_boot=10, models=["popularity"])
    b = evaluate_session_models(_bundle(), test, max_sessions=5, seed=1, n_boot=10, models=["popularity"])
    c = evaluate_session_models(_bundle(), test, max_sessions=5, seed=2, n_boot=10, models=["popularity"])
    assert a.n_sessions == 5 and list(a.prefixes.session) == list(b.prefixes.session)
    assert list(a.prefixes.session) != list(c.prefixes.session)
