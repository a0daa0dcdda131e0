"""The simple session baselines (recaudit/models/session/baselines.py): hand-computed toy cases, a
brute-force reference on random sessions, bad inputs, determinism, and the sample world's planted sessions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.data.schema import split_categories
from recaudit.data.vocab import IdVocabulary
from recaudit.errors import RecauditInputError
from recaudit.models.session import LastItemCooccurrence, SessionKNN, top_k

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
R6 = 1 / math.sqrt(6)


def _frame(sessions: dict[str, list[int]], start: dict[str, int]) -> pd.DataFrame:
    rows = [
        {"user_id": "u", "session_id": sid, "item_id": item, "timestamp": start[sid] + j}
        for sid, items in sessions.items()
        for j, item in enumerate(items)
    ]
    return pd.DataFrame(rows)


# a: 0 1 2 (t 10-12)   b: 1 2 (t 20-21)   c: 0 2 3 (t 30-32)   d: 4 (t 40); five items
TOY = _frame({"a": [0, 1, 2], "b": [1, 2], "c": [0, 2, 3], "d": [4]}, {"a": 10, "b": 20, "c": 30, "d": 40})


# ------------------------------------------------------------------------------- hand-computed cases


def test_sequential_rules_by_hand() -> None:
    # steps=10, weight 1/distance:
    #   a: 0->1 (1), 1->2 (1), 0->2 (1/2)     b: 1->2 (1)     c: 0->2 (1), 2->3 (1), 0->3 (1/2)
    # w(0,1)=1, w(0,2)=1/2+1=1.5, w(0,3)=0.5, w(1,2)=2, w(2,3)=1; 4 and 3 have no successors
    m = LastItemCooccurrence.fit(TOY, 5, pruning=None)
    expected = np.zeros((5, 5))
    expected[0, 1:4] = [1.0, 1.5, 0.5]
    expected[1, 2] = 2.0
    expected[2, 3] = 1.0
    np.testing.assert_array_equal(m.rules.toarray(), expected)
    np.testing.assert_array_equal(m.score([4, 0]), [0, 1, 1.5, 0.5, 0])  # only the last item counts
    np.testing.assert_array_equal(m.score([0, 3]), np.zeros(5))  # 3 never has a successor
    # steps=1: plain successor counts: w(0,1)=1, w(0,2)=1 (from c), no 0->3
    one = LastItemCooccurrence.fit(TOY, 5, steps=1, pruning=None)
    np.testing.assert_array_equal(one.score([0]), [0, 1, 1, 0, 0])
    # pruning=1 keeps each item's heaviest rule: 0 -> 2 (1.5); with steps=1, 0->1 and 0->2 tie at 1: lower row
    np.testing.assert_array_equal(LastItemCooccurrence.fit(TOY, 5, pruning=1).score([0]), [0, 0, 1.5, 0, 0])
    np.testing.assert_array_equal(
        LastItemCooccurrence.fit(TOY, 5, steps=1, pruning=1).score([0]), [0, 1, 0, 0, 0]
    )


def test_repeats_make_self_rules() -> None:
    # x: 0 0 1 -> 0->0 (1), 0->1 (1), 0->1 (1/2): w(0,0)=1, w(0,1)=1.5 (as session-rec keeps repeats)
    m = LastItemCooccurrence.fit(_frame({"x": [0, 0, 1]}, {"x": 0}), 2, pruning=None)
    np.testing.assert_array_equal(m.rules.toarray(), [[1.0, 1.5], [0.0, 0.0]])


def test_sknn_by_hand() -> None:
    # current session {0, 2}, |A| = 2; candidates share an item with it (d = {4} does not):
    #   a {0,1,2}: |A∩a|=2, sim = 2/sqrt(2*3) = 2/√6     b {1,2}: 1/sqrt(2*2) = 0.5     c {0,2,3}: 2/√6
    # score(i) = sum of the neighbours' sims holding i:
    #   0: a+c = 4/√6   1: a+b = 2/√6+0.5   2: a+b+c = 4/√6+0.5   3: c = 2/√6   4: 0
    knn = SessionKNN.fit(TOY, 5, sample_size=None)
    np.testing.assert_allclose(knn.score([0, 2]), [4 * R6, 2 * R6 + 0.5, 4 * R6 + 0.5, 2 * R6, 0])
    np.testing.assert_allclose(knn.score([0, 2, 0]), knn.score([0, 2]))  # a session is a set
    nb, sims = knn.neighbours([0, 2])
    assert knn.session_ids[nb].tolist() == ["c", "a", "b"]  # a and c tie: the more recent c first
    np.testing.assert_allclose(sims, [2 * R6, 2 * R6, 0.5])
    # k=1: the tie a/c goes to the more recent c: its items {0,2,3} get 2/√6
    one = SessionKNN.fit(TOY, 5, k_neighbours=1, sample_size=None)
    np.testing.assert_allclose(one.score([0, 2]), [2 * R6, 0, 2 * R6, 2 * R6, 0])
    # sample_size=2: of the candidates a, b, c only the 2 most recent (c at 32, b at 21) are kept
    two = SessionKNN.fit(TOY, 5, sample_size=2)
    np.testing.assert_allclose(two.score([0, 2]), [2 * R6, 0.5, 2 * R6 + 0.5, 2 * R6, 0])
    # an item no training session holds with others: d = {4}, sim = 1/sqrt(1*1) = 1
    np.testing.assert_allclose(knn.score([4]), [0, 0, 0, 0, 1])


def test_top_k_by_hand() -> None:
    scores = np.array([[0.0, 1.0, 1.0, 0.0], [3.0, 3.0, 3.0, 3.0], [5.0, 4.0, 3.0, 2.0]])
    vals, rows = top_k(scores, 3, [[1], [], [0, 1, 2]])
    # row 0: 2 (1.0), then the zeros 0 and 3 by lower row; row 1: all tied -> rows 0, 1, 2
    # row 2: only 3 is left: padded with -1 / -inf
    np.testing.assert_array_equal(rows, [[2, 0, 3], [0, 1, 2], [3, -1, -1]])
    np.testing.assert_array_equal(vals, [[1, 0, 0], [3, 3, 3], [2, -np.inf, -np.inf]])
    vals, rows = top_k(scores[:1], 6)  # k beyond the catalogue: padded
    np.testing.assert_array_equal(rows, [[1, 2, 0, 3, -1, -1]])


def test_vocabulary_and_external_ids() -> None:
    vocab = IdVocabulary([f"i{j}" for j in range(5)], "items")
    named = TOY.assign(item_id="i" + TOY["item_id"].astype(str))
    a = SessionKNN.fit(named, 5, items=vocab)
    b = SessionKNN.fit(TOY, 5)
    np.testing.assert_array_equal(a.score([0, 2]), b.score([0, 2]))
    np.testing.assert_array_equal(
        LastItemCooccurrence.fit(named, 5, items=vocab).rules.toarray(),
        LastItemCooccurrence.fit(TOY, 5).rules.toarray(),
    )
    with pytest.raises(RecauditInputError, match="unknown ids"):
        SessionKNN.fit(named.assign(item_id=["zz", *named["item_id"][1:]]), 5, items=vocab)
    with pytest.raises(RecauditInputError, match="vocabulary has 5 ids"):
        LastItemCooccurrence.fit(named, 6, items=vocab)


# ------------------------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize("model", [LastItemCooccurrence, SessionKNN])
def test_empty_and_unknown_inputs(model: type) -> None:
    m = model.fit(TOY, 5)
    np.testing.assert_array_equal(m.score([]), np.zeros(5))
    np.testing.assert_array_equal(m.score(np.zeros(0, dtype=np.int64)), np.zeros(5))
    for bad in ([5], [0, -1], [1.5], ["a"], [True]):
        with pytest.raises(ValueError, match="item rows"):
            m.score(bad)
    assert m.score_batch([]).shape == (0, 5)
    np.testing.assert_array_equal(m.score_batch([[0], []]), np.vstack([m.score([0]), np.zeros(5)]))
    with pytest.raises(ValueError, match="unknown item rows"):
        model.fit(TOY, 4)  # row 4 is outside a 4-item catalogue
    with pytest.raises(ValueError, match="missing columns"):
        model.fit(TOY.drop(columns="session_id"), 5)
    with pytest.raises(ValueError, match="integer seconds"):
        model.fit(TOY.assign(timestamp=TOY["timestamp"] + 0.5), 5)
    with pytest.raises(ValueError, match="positive integer"):
        model.fit(TOY, 0)


def test_bad_options_and_top_k_inputs() -> None:
    with pytest.raises(ValueError, match="steps"):
        LastItemCooccurrence.fit(TOY, 5, steps=0)
    with pytest.raises(ValueError, match="k_neighbours"):
        SessionKNN.fit(TOY, 5, k_neighbours=0)
    with pytest.raises(ValueError, match="sample_size"):
        SessionKNN.fit(TOY, 5, sample_size=-3)
    with pytest.raises(ValueError, match="finite"):
        top_k(np.array([[np.nan, 1.0]]), 1)
    with pytest.raises(ValueError, match="exclusion lists"):
        top_k(np.zeros((2, 3)), 1, [[0]])
    with pytest.raises(ValueError, match="item rows"):
        top_k(np.zeros((1, 3)), 1, [[3]])
    with pytest.raises(ValueError, match="positive integer"):
        top_k(np.zeros((1, 3)), 0)


# ---------------------------------------------------------------------- brute-force reference


def _random_sessions(seed: int, n_sessions: int = 80, n_items: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sessions):
        start = int(rng.integers(0, 50)) * 100  # equal last timestamps happen: the session_id breaks them
        for j in range(int(rng.integers(1, 9))):
            item = int(rng.integers(0, n_items)) if rng.random() < 0.3 else int(rng.integers(0, 8))
            rows.append({"session_id": f"s{s:03d}", "item_id": item, "timestamp": start + j})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _sequences(frame: pd.DataFrame) -> dict[str, list[tuple[int, int]]]:
    seqs: dict[str, list[tuple[int, int]]] = {}
    for sid, item, t in zip(frame["session_id"], frame["item_id"], frame["timestamp"], strict=True):
        seqs.setdefault(sid, []).append((int(t), int(item)))
    return {sid: sorted(v) for sid, v in seqs.items()}  # timestamps are unique inside a session


def _brute_rules(frame: pd.DataFrame, n_items: int, steps: int, pruning: int | None) -> np.ndarray:
    rules: dict[int, dict[int, float]] = {}
    for seq in _sequences(frame).values():
        items = [i for _, i in seq]
        for y in range(len(items)):
            for x in range(max(0, y - steps), y):
                row = rules.setdefault(items[x], {})
                row[items[y]] = row.get(items[y], 0.0) + 1.0 / (y - x)
    out = np.zeros((n_items, n_items))
    for p, row in rules.items():
        kept = sorted(row.items(), key=lambda kv: (-kv[1], kv[0]))
        for q, w in kept if pruning is None else kept[:pruning]:
            out[p, q] = w
    return out


def _brute_sknn(
    frame: pd.DataFrame, n_items: int, query: list[int], k: int, sample: int | None
) -> np.ndarray:
    seqs = _sequences(frame)
    sets = {sid: {i for _, i in seq} for sid, seq in seqs.items()}
    last = {sid: max(t for t, _ in seq) for sid, seq in seqs.items()}
    recency = sorted(seqs, key=lambda sid: (last[sid], sid), reverse=True)  # most recent first
    rank = {sid: r for r, sid in enumerate(recency)}
    a = set(query)
    if not a:
        return np.zeros(n_items)
    cand = [sid for sid in recency if sets[sid] & a]
    if sample is not None:
        cand = cand[:sample]
    sims = {sid: len(sets[sid] & a) / math.sqrt(len(a) * len(sets[sid])) for sid in cand}
    chosen = sorted(cand, key=lambda sid: (-sims[sid], rank[sid]))[:k]
    out = np.zeros(n_items)
    for sid in chosen:
        for i in sets[sid]:
            out[i] += sims[sid]
    return out


def _brute_top_k(scores: np.ndarray, k: int, exclude: list[list[int]]) -> np.ndarray:
    out = np.full((len(scores), k), -1)
    for b, row in enumerate(scores):
        order = [i for i in sorted(range(len(row)), key=lambda i: (-row[i], i)) if i not in exclude[b]]
        out[b, : min(k, len(order))] = order[:k]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_brute_force(seed: int) -> None:
    n_items = 30
    frame = _random_sessions(seed, n_items=n_items)
    rng = np.random.default_rng(100 + seed)
    queries = [list(rng.integers(0, n_items, size=int(rng.integers(0, 6)))) for _ in range(25)]
    for steps, pruning in ((10, None), (2, 3), (10, 20)):
        m = LastItemCooccurrence.fit(frame, n_items, steps=steps, pruning=pruning)
        ref = _brute_rules(frame, n_items, steps, pruning)
        np.testing.assert_allclose(m.rules.toarray(), ref, rtol=1e-12, atol=0)
        for q in queries:
            np.testing.assert_allclose(m.score(q), ref[q[-1]] if q else np.zeros(n_items), rtol=1e-12)
    for k, sample in ((100, None), (5, 12), (3, 500), (1, 1)):
        knn = SessionKNN.fit(frame, n_items, k_neighbours=k, sample_size=sample)
        got = knn.score_batch(queries)
        want = np.vstack([_brute_sknn(frame, n_items, q, k, sample) for q in queries])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
        exclude = [list(q) for q in queries]
        _, rows = top_k(got, 7, exclude)
        np.testing.assert_array_equal(rows, _brute_top_k(got, 7, exclude))


def test_deterministic_and_row_order_free() -> None:
    frame = _random_sessions(5)
    shuffled = frame.sample(frac=1.0, random_state=99).reset_index(drop=True)
    queries = [[0, 1], [3], [2, 5, 7], [29]]
    for model in (LastItemCooccurrence, SessionKNN):
        a, b = model.fit(frame, 30), model.fit(shuffled, 30)
        np.testing.assert_array_equal(a.score_batch(queries), b.score_batch(queries))
        np.testing.assert_array_equal(a.score_batch(queries), model.fit(frame, 30).score_batch(queries))


# ---------------------------------------------------------------- the sample world's planted sessions


def test_sample_world_sessions_predict_the_next_category() -> None:
    """Planted: a session's items are mostly of one primary category (69% share its most common one).

    Every 25th warm user (190 users) keeps their last session out of training; for each prefix of it, the
    top-10 (the prefix excluded) is scored by the share of its items in the next item's primary category,
    against that category's share of the training interactions (what a popularity draw would give).
    Measured on the committed world (5 disjoint subsets of 190 users, offsets 0-4): SKNN 0.340-0.368 against
    base rates 0.084-0.091 (4.0-4.2x), sequential rules 0.295-0.341 (3.5-3.8x), popularity 0.087-0.098
    (about 1x). Margins asserted: 3x and 2.5x. SKNN's next-item hit@10 was 0.223-0.239, SR's 0.193-0.214.
    """
    inter = pd.read_parquet(SAMPLE / "interactions.parquet")
    items = pd.read_parquet(SAMPLE / "items.parquet")
    vocab = IdVocabulary(items["item_id"].tolist(), "items")
    primary = pd.factorize(pd.Series([split_categories(c)[0] for c in items["category"]]))[0]
    users = np.sort(inter["user_id"].unique())[::25]
    held = inter[inter["user_id"].isin(users)].groupby("user_id")["session_id"].last()
    is_test = inter["session_id"].isin(held.to_numpy())
    train, test = inter[~is_test], inter[is_test].sort_values(["session_id", "timestamp"])
    n = len(vocab)
    knn = SessionKNN.fit(train, n, items=vocab)
    rules = LastItemCooccurrence.fit(train, n, items=vocab)
    train_rows = vocab.rows(train["item_id"].to_numpy())
    share = np.bincount(primary[train_rows]) / train_rows.size
    popularity = np.bincount(train_rows, minlength=n).astype(np.float64)

    prefixes, nexts = [], []
    for _, g in test.groupby("session_id"):
        r = vocab.rows(g["item_id"].to_numpy())
        for t in range(1, len(r)):
            prefixes.append(r[:t])
            nexts.append(r[t])
    target = primary[np.asarray(nexts)]
    assert len(prefixes) > 300
    base = float(share[target].mean())

    def category_share(scores: np.ndarray) -> float:
        _, top = top_k(scores, 10, prefixes)
        assert (top >= 0).all()
        return float((primary[top] == target[:, None]).mean())

    sknn = category_share(knn.score_batch(prefixes))
    sr = category_share(rules.score_batch(prefixes))
    pop = category_share(np.tile(popularity, (len(prefixes), 1)))
    assert 0.06 < base < 0.12
    assert sknn > 3.0 * base, (sknn, base)
    assert sr > 2.5 * base, (sr, base)
    assert pop < 1.5 * base, (pop, base)
