"""The session encoder's parts: sequences, the frozen scoring head, incremental GRU state, SASRec's window,
fusion, the learned gate, and the component's refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recaudit.data.vocab import IdVocabulary
from recaudit.errors import RecauditInputError
from recaudit.models.session.config import SessionConfig
from recaudit.models.session.encoder import SessionEncoder, build_module
from recaudit.models.session.fusion import SessionFusion, bucket_labels, length_buckets
from recaudit.models.session.head import ScoringHead, scoring_table
from recaudit.models.session.sequences import session_sequences
from recaudit.models.session.train import _reciprocal_ranks, train_session_encoder
from recaudit.scoring import ExactScorer

RNG = np.random.default_rng(0)
N_ITEMS, DIM = 40, 8
ITEM_EMB = RNG.standard_normal((N_ITEMS, DIM)).astype(np.float32)
BIAS = (0.1 * RNG.standard_normal(N_ITEMS)).astype(np.float32)


def encoder(
    kind: str, score: str = "cosine", bias: np.ndarray | None = BIAS, **kw: object
) -> SessionEncoder:
    config = SessionConfig(
        encoder=kind, hidden=12, max_len=4, heads=2, device="cpu", **kw  # type: ignore[arg-type]
    )
    torch.manual_seed(0)
    module = build_module(config, N_ITEMS, DIM)
    table = scoring_table(ITEM_EMB, bias, score)
    head = ScoringHead(table, cosine=score == "cosine", has_bias=bias is not None, temperature=0.1)
    return SessionEncoder(config, module, head, SessionFusion.constant(0.5, cosine=score == "cosine"))


def test_sequences_are_cut_mapped_and_ordered_by_start() -> None:
    frame = pd.DataFrame({
        "user_id": ["a", "a", "a", "b", "b"], "item_id": ["i2", "i1", "zz", "i3", "i1"],
        "timestamp": [100, 50, 5000, 60, 70],
    })  # fmt: skip
    vocab = IdVocabulary(np.asarray(["i1", "i2", "i3"], dtype=object), "items")
    seqs = session_sequences(frame, vocab, gap_s=1800)
    # a:0 starts at 50 (i1, i2), b:0 at 60 (i3, i1); a's "zz" session has no known item and disappears
    assert list(seqs.sessions) == ["a:0", "b:0"]
    assert [list(seqs.session(s)) for s in range(len(seqs))] == [[0, 1], [2, 0]]
    earlier, latest = seqs.split_latest(0.5)
    assert list(earlier.sessions) == ["a:0"] and list(latest.sessions) == ["b:0"]


@pytest.mark.parametrize("score", ["cosine", "dot"])
def test_head_scores_as_the_exact_scorer_does(score: str) -> None:
    enc = encoder("gru", score)
    vecs = enc.vectors([[1, 2, 3]])
    scorer = ExactScorer(vecs, ITEM_EMB, ["s"], [str(i) for i in range(N_ITEMS)], item_bias=BIAS, score=score,
                         device="cpu")  # fmt: skip
    expected = scorer.score_items(["s"], [str(i) for i in range(N_ITEMS)])
    np.testing.assert_allclose(enc.scores([[1, 2, 3]]), expected, rtol=1e-5, atol=1e-5)


def test_gru_state_steps_equal_a_full_recompute() -> None:
    enc = encoder("gru")
    session = [3, 7, 7, 1, 30]
    state = None
    for j in range(1, len(session) + 1):
        vecs, states = enc.advance([state], [session[:j]])
        np.testing.assert_allclose(vecs[0], enc.vectors([session[:j]])[0], rtol=1e-5, atol=1e-6)
        assert states[0][0] == j  # the state says how many events it covers
        state = states[0]
    # a stale state (covering 2 of 5 events before the newest) is recomputed, not trusted
    _, early = enc.advance([None], [session[:2]])
    vecs, _ = enc.advance([early[0]], [session])
    np.testing.assert_allclose(vecs[0], enc.vectors([session])[0], rtol=1e-5, atol=1e-6)


def test_sasrec_reads_only_its_window_and_is_causal() -> None:
    enc = encoder("sasrec")
    long = [5, 6, 1, 2, 3, 4]
    np.testing.assert_allclose(enc.vectors([long]), enc.vectors([long[-4:]]), rtol=1e-5, atol=1e-6)
    # padding a batch with a longer session does not change a shorter one's vector
    np.testing.assert_allclose(enc.vectors([[1, 2], [9, 8, 7, 6]])[0], enc.vectors([[1, 2]])[0], rtol=1e-5,
                               atol=1e-6)  # fmt: skip


def test_bad_rows_are_refused() -> None:
    with pytest.raises(RecauditInputError, match="item row"):
        encoder("gru").vectors([[1, N_ITEMS]])
    with pytest.raises(RecauditInputError, match="at least one item"):
        encoder("sasrec").vectors([[]])


def test_fusion_by_length() -> None:
    fusion = SessionFusion((0.0, 0.2, 0.4, 0.6, 0.8, 1.0), cosine=True, rule="gate")
    assert bucket_labels() == ["1", "2", "3", "4-5", "6-10", "11+"]
    assert list(length_buckets(np.array([1, 2, 3, 4, 5, 6, 10, 11, 99]))) == [0, 1, 2, 3, 3, 4, 4, 5, 5]
    u = np.array([[3.0, 0.0], [3.0, 0.0], [3.0, 0.0]], np.float32)
    s = np.array([[0.0, 2.0], [0.0, 2.0], [0.0, 2.0]], np.float32)
    out = fusion.fuse(u, s, np.array([1, 4, 20]), np.array([True, True, False]))
    np.testing.assert_allclose(out, [[1.0, 0.0], [0.4, 0.6], [0.0, 1.0]], atol=1e-6)
    assert "4-5: 0.6" in fusion.describe()
    with pytest.raises(ValueError):
        SessionFusion((0.5,), cosine=True)


def test_reciprocal_ranks_by_hand() -> None:
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4]])
    rr = _reciprocal_ranks(scores, [np.array([0]), np.array([3])], np.array([2, 3]), k=10)
    # row 0: item 0 excluded, target 2 ranks after item 1 -> 1/2; row 1: the target is excluded -> 0
    np.testing.assert_allclose(rr, [0.5, 0.0])


def _toy_sessions() -> pd.DataFrame:
    """Sessions that walk the catalogue: item i is always followed by item i + 1 (a planted next item)."""
    rows = []
    rng = np.random.default_rng(1)
    for s in range(300):
        start = int(rng.integers(0, N_ITEMS - 6))
        for j in range(5):
            rows.append(
                {"user_id": f"u{s % 30}", "item_id": f"i{start + j}", "timestamp": s * 10_000 + j * 60}
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("kind", ["gru", "sasrec"])
def test_training_learns_a_planted_next_item_and_a_gate(kind: str) -> None:
    frame = _toy_sessions()
    item_ids = np.asarray([f"i{i}" for i in range(N_ITEMS)], dtype=object)
    config = SessionConfig(encoder=kind, epochs=8, hidden=32, negatives=16, batch_size=16, lr=0.01,
                           device="cpu", heads=2, patience=0, dropout=0.0)  # fmt: skip
    user_emb = RNG.standard_normal((30, DIM)).astype(np.float32)
    enc = train_session_encoder(frame, config, item_ids=item_ids, item_emb=ITEM_EMB, item_bias=None,
                                score="cosine", user_emb=user_emb)  # fmt: skip
    hits = []
    for start in range(0, N_ITEMS - 6, 3):
        scores = enc.scores([[start, start + 1]])[0]
        scores[[start, start + 1]] = -np.inf
        hits.append(int(np.argmax(scores)) == start + 2)
    assert np.mean(hits) > 0.6, np.mean(hits)
    assert enc.info["epochs_run"] == 8 and len(enc.info["history"]) == 8
    assert enc.fusion.rule == "gate" and len(enc.fusion.weights) == 6
    # random long-term vectors carry nothing here: the gate leans on the session
    assert max(enc.fusion.weights) >= 0.7, enc.fusion.weights


def test_too_few_sessions_is_a_clear_error() -> None:
    frame = pd.DataFrame({"user_id": ["a"], "item_id": ["i1"], "timestamp": [0]})
    with pytest.raises(RecauditInputError, match="nothing to learn"):
        train_session_encoder(
            frame,
            SessionConfig(device="cpu"),
            item_ids=np.asarray(["i1"], dtype=object),
            item_emb=ITEM_EMB[:1],
            item_bias=None,
            score="dot",
            user_emb=ITEM_EMB[:1],
        )


def test_the_component_refuses_another_catalogue() -> None:
    enc = encoder("gru")
    files = enc.component()
    back = SessionEncoder.from_component(files, ITEM_EMB, BIAS, "cosine")
    np.testing.assert_array_equal(back.vectors([[1, 2]]), enc.vectors([[1, 2]]))
    with pytest.raises(RecauditInputError, match="trained for 40 items"):
        SessionEncoder.from_component(files, ITEM_EMB[:10], BIAS[:10], "cosine")
    broken = {**files, "encoder.safetensors": {"nope": np.zeros(2, np.float32)}}
    with pytest.raises(RecauditInputError, match="weights do not fit"):
        SessionEncoder.from_component(broken, ITEM_EMB, BIAS, "cosine")
    with pytest.raises(RecauditInputError, match="missing encoder.json"):
        SessionEncoder.from_component({"encoder.safetensors": {}}, ITEM_EMB, BIAS, "cosine")
