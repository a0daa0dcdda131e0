"""The live path (``recaudit/realtime/live.py``): every update's query is the encoder's session vector fused
with the user's row (computed here from the parts), batches equal serial updates, the GRU state kept in the
store makes an update one step and equals a full recompute, the time budget falls back to the user's row on a
fake clock, and items outside the catalogue are counted while the list is still written.

The bundle is a real one: an ``mf`` model trained on a slice of the sample world with a one-epoch GRU session
encoder (a fixed fusion weight, so the session visibly moves the query), saved and loaded back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import Bundle, load_bundle, save_bundle
from recaudit.errors import RecauditInputError
from recaudit.realtime.live import MODE_ENCODER, MODE_FOLDIN, LiveEvent, LiveScorer, LiveUpdate, session_key
from recaudit.realtime.store import InProcessSessionStore

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "interactions.parquet"
N_USERS = 150
K = 8


def build_encoder_bundle(directory: Path) -> Path:
    """An mf bundle (dim 16, 3 epochs) on the first :data:`N_USERS` users of the sample world with a GRU
    session encoder (1 epoch, hidden 16, fusion weight 0.5 at every length), saved as ``directory/enc``."""
    from recaudit.data.splits import temporal_split
    from recaudit.models.mf.config import MFConfig
    from recaudit.models.mf.family import train as train_mf
    from recaudit.models.session.config import SessionConfig
    from recaudit.models.session.encoder import COMPONENT
    from recaudit.models.session.train import train_session_encoder
    from recaudit.workflows.train import bundle_from_model

    interactions = pd.read_parquet(SAMPLE)
    users = np.sort(interactions["user_id"].unique())[:N_USERS]
    train, test = temporal_split(interactions[interactions["user_id"].isin(users)], test_fraction=0.2)
    mf = train_mf(train, MFConfig(
        dim=16, epochs=3, batch_size=256, valid_fraction=0.0, refit=False, patience=0, seed=1, device="cpu",
    ))  # fmt: skip
    bundle = bundle_from_model(mf, train=train, test=test, items=None, sources={}, seconds=0.0)
    config = SessionConfig(
        encoder="gru", epochs=1, hidden=16, negatives=64, device="cpu", fusion="weighted", fusion_weight=0.5
    )
    encoder = train_session_encoder(
        train, config, item_ids=bundle.item_ids, item_emb=bundle.item_emb, item_bias=bundle.item_bias,
        score=bundle.score, user_emb=bundle.user_emb,
    )  # fmt: skip
    bundle.components[COMPONENT] = encoder.component()
    save_bundle(bundle, directory / "enc")
    return directory / "enc"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    loaded = load_bundle(build_encoder_bundle(tmp_path_factory.mktemp("live")))
    assert loaded.session_encoder is not None
    return loaded


class FakeClock:
    """Seconds set by hand; ``jump`` is added after every read (0: time stands still)."""

    def __init__(self, jump: float = 0.0) -> None:
        self.now, self.jump = 100.0, jump

    def __call__(self) -> float:
        now = self.now
        self.now += self.jump
        return now


def make_events(bundle: Bundle, n: int = 24, seed: int = 0) -> list[LiveEvent]:
    """Two known users (two sessions each) and a stranger, interleaved; items drawn from the catalogue, a
    few repeated within a session."""
    rng = np.random.default_rng(seed)
    known = [str(u) for u in bundle.user_ids[:2]]
    keys = [(known[0], "a"), (known[1], "a"), ("stranger", "a"), (known[0], "b"), (known[1], "b")]
    n_items = len(bundle.item_ids)
    events = []
    for t in range(n):
        user, session = keys[int(rng.integers(len(keys)))]
        events.append(LiveEvent(user, session, int(rng.integers(n_items)), float(t)))
    # two events of one session back to back (they share a batch in the batch tests)
    events[5] = LiveEvent(events[4].user, events[4].session, int(rng.integers(n_items)), 4.5)
    return events


def expected_query(bundle: Bundle, user: str, session: list[int]) -> np.ndarray:
    """The fused query of ``user`` after ``session`` (item rows), from the parts."""
    encoder = bundle.session_encoder
    assert encoder is not None
    rows = pd.Index(bundle.user_ids.astype(str))
    known = user in rows
    long_term = bundle.user_emb[[rows.get_loc(user)]] if known else np.zeros((1, bundle.dim), np.float32)
    if not session:
        return long_term[0]
    fused = encoder.fusion.fuse(
        long_term, encoder.vectors([session]), np.array([len(session)]), np.array([known])
    )
    return fused[0]


def history(bundle: Bundle, user: str) -> np.ndarray:
    rows = pd.Index(bundle.user_ids.astype(str))
    if user not in rows:
        return np.zeros(0, np.int64)
    r = rows.get_loc(user)
    return bundle.seen.indices[bundle.seen.indptr[r] : bundle.seen.indptr[r + 1]].astype(np.int64)


def assert_same(got: LiveUpdate, want: LiveUpdate) -> None:
    assert got.event == want.event and got.session_items == want.session_items
    np.testing.assert_array_equal(got.item_rows, want.item_rows)
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.query, want.query, rtol=1e-5, atol=1e-6)
    assert got.fell_back == want.fell_back and got.unknown_item == want.unknown_item


def serial(bundle: Bundle, events: list[LiveEvent], **kwargs: object) -> list[LiveUpdate]:
    live = LiveScorer(bundle, budget_ms=0, **kwargs)  # type: ignore[arg-type]
    return [live.update(ev, K) for ev in events]


def test_every_update_is_the_fused_query_and_excludes_history_and_session(bundle: Bundle) -> None:
    live = LiveScorer(bundle, budget_ms=0)
    assert live.mode.startswith(f"{MODE_ENCODER} (GRU4Rec session encoder; session weight 0.5")
    encoder = bundle.session_encoder
    assert encoder is not None
    scorer = bundle.exact_scorer("cpu")
    sessions: dict[tuple[str, str], list[int]] = {}
    for ev in make_events(bundle):
        update = live.update(ev, K)
        so_far = sessions.setdefault((ev.user, ev.session), [])
        so_far.append(ev.item_row)
        assert update.session_items == tuple(so_far)
        query = expected_query(bundle, ev.user, so_far)
        np.testing.assert_allclose(update.query, query, rtol=1e-5, atol=1e-6)
        assert update.session_vector is not None
        np.testing.assert_allclose(update.session_vector, encoder.vectors([so_far])[0], rtol=1e-5, atol=1e-6)
        seen = np.concatenate([history(bundle, ev.user), np.asarray(so_far, np.int64)])
        want = scorer.recommend_vectors(query[None, :], K, exclude=[seen])
        np.testing.assert_array_equal(update.item_rows, want.item_index[0])
        np.testing.assert_allclose(update.scores, want.scores[0], rtol=1e-5, atol=1e-6)
        assert not set(update.item_rows.tolist()) & set(seen.tolist()) and (update.item_rows >= 0).all()
        assert not update.fell_back and not update.unknown_item
    assert not np.allclose(update.query, expected_query(bundle, ev.user, []))  # the session moved it
    counts = live.counters()
    assert counts.events == 24 and counts.fallbacks == 0 and len(counts.latencies_ms) == 24


def test_without_an_encoder_the_query_is_the_fold_in_of_history_and_session(bundle: Bundle) -> None:
    from recaudit.models.newusers import new_user_solver

    fold = new_user_solver("foldin", bundle.item_emb, bundle.user_emb, cosine=bundle.score == "cosine")
    live = LiveScorer(bundle, use_encoder=False)
    assert live.encoder is None and live.mode == MODE_FOLDIN
    sessions: dict[tuple[str, str], list[int]] = {}
    for ev in make_events(bundle, 10):
        update = live.update(ev, K)
        sessions.setdefault((ev.user, ev.session), []).append(ev.item_row)
        known = np.union1d(history(bundle, ev.user), sessions[(ev.user, ev.session)])
        np.testing.assert_allclose(update.query, fold.fit(known), rtol=1e-5, atol=1e-6)
        assert update.session_vector is None and not set(update.item_rows.tolist()) & set(known.tolist())


@pytest.mark.parametrize("use_encoder", [True, False], ids=["encoder", "foldin"])
def test_a_batch_of_interleaved_events_equals_serial_updates(bundle: Bundle, use_encoder: bool) -> None:
    events = make_events(bundle)
    want = serial(bundle, events, use_encoder=use_encoder)
    live = LiveScorer(bundle, budget_ms=0, use_encoder=use_encoder)
    got: list[LiveUpdate] = []
    for start, stop in ((0, 3), (3, 9), (9, 10), (10, 24)):  # events 4 and 5 (one session) share a batch
        got.extend(live.update_batch(events[start:stop], K))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert_same(g, w)
    assert got[5].session_items[-2:] == (events[4].item_row, events[5].item_row)
    assert live.counters().events == 24 and live.update_batch([], K) == []


def test_the_gru_state_in_the_store_makes_an_update_one_step_equal_to_a_full_recompute(
    bundle: Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = bundle.session_encoder
    assert encoder is not None
    gru = encoder.module
    calls = {"step": 0, "encode": 0}
    for name in calls:
        original = getattr(gru, name)

        def counted(*args: object, _name: str = name, _original: object = original) -> object:
            calls[_name] += 1
            return _original(*args)  # type: ignore[operator]

        monkeypatch.setattr(gru, name, counted)
    store = InProcessSessionStore(ttl_s=3600, capacity=100)
    live = LiveScorer(bundle, store=store, budget_ms=0)
    rows = [3, 17, 5, 40, 17]
    for t, row in enumerate(rows):
        live.update(LiveEvent("stranger", "s", row, float(t)), K)
    assert calls == {"step": len(rows) - 1, "encode": 1}  # only the first event ran the whole session
    state = store.get(session_key("stranger", "s"))
    assert state is not None and state.items == tuple(rows)
    assert state.vector is not None and state.vector.shape == (gru.layers * gru.hidden + 1,)
    assert int(state.vector[0]) == len(rows)  # the slot covers the whole session
    longer = [*rows, 9]
    vecs, states = encoder.advance([state.vector], [longer])
    np.testing.assert_allclose(vecs, encoder.vectors([longer]), rtol=1e-5, atol=1e-6)
    full_vecs, full_states = encoder.advance([None], [longer])
    np.testing.assert_allclose(states[0], full_states[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vecs, full_vecs, rtol=1e-5, atol=1e-6)
    # two events of one session in one batch: the later one's state is written, the earlier one's refused
    live.update_batch([LiveEvent("stranger", "s", 9, 9.0), LiveEvent("stranger", "s", 11, 10.0)], K)
    state = store.get(session_key("stranger", "s"))
    assert state is not None and int(state.vector[0]) == len(rows) + 2  # type: ignore[index]
    np.testing.assert_allclose(
        encoder.advance([state.vector], [[*longer, 11, 2]])[0], encoder.vectors([[*longer, 11, 2]]),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip


def test_an_update_over_the_budget_serves_the_user_row_and_counts_a_fallback(bundle: Bundle) -> None:
    user = str(bundle.user_ids[0])
    events = [LiveEvent(user, "s", 3, 0.0), LiveEvent("stranger", "s", 4, 0.0), LiveEvent(user, "s", 5, 1.0)]
    store = InProcessSessionStore(ttl_s=3600, capacity=100)
    live = LiveScorer(bundle, store=store, budget_ms=50, clock=FakeClock(jump=1.0))  # every read: +1 s
    updates = live.update_batch(events, K)
    scorer = bundle.exact_scorer("cpu")
    for ev, update in zip(events, updates, strict=True):
        assert update.fell_back and update.session_vector is None
        base = expected_query(bundle, ev.user, [])  # the user row; zero for the stranger
        np.testing.assert_array_equal(update.query, base)
        seen = np.concatenate([history(bundle, ev.user), np.asarray(update.session_items, np.int64)])
        want = scorer.recommend_vectors(base[None, :], K, exclude=[seen])
        np.testing.assert_array_equal(update.item_rows, want.item_index[0])
        assert update.latency_ms >= 1000.0  # on the fake clock
    assert not np.any(updates[1].query)
    counts = live.counters()
    assert counts.fallbacks == 3 and counts.events == 3
    # the encoder states were still written back: within budget, the next event is the fused query again
    live._clock = FakeClock(jump=0.0)
    update = live.update(LiveEvent(user, "s", 6, 2.0), K)
    assert not update.fell_back and update.session_items == (3, 5, 6)
    np.testing.assert_allclose(update.query, expected_query(bundle, user, [3, 5, 6]), rtol=1e-5, atol=1e-6)
    assert live.counters().fallbacks == 3
    # a budget of 0 is off, whatever the clock says
    off = LiveScorer(bundle, budget_ms=0, clock=FakeClock(jump=1.0))
    assert not off.update(events[0], K).fell_back and off.counters().fallbacks == 0
    # the default budget is the encoder's
    assert LiveScorer(bundle).budget_ms == bundle.session_encoder.config.budget_ms  # type: ignore[union-attr]


@pytest.mark.parametrize("use_encoder", [True, False], ids=["encoder", "foldin"])
def test_an_unknown_item_adds_nothing_is_counted_and_the_list_is_still_written(
    bundle: Bundle, use_encoder: bool
) -> None:
    user = str(bundle.user_ids[1])
    live = LiveScorer(bundle, budget_ms=0, use_encoder=use_encoder)
    first = live.update(LiveEvent(user, "s", -1, 0.0), K)  # an empty session: the user's own vector
    assert first.unknown_item and first.session_items == () and first.session_vector is None
    assert (first.item_rows >= 0).all() and len(first.item_rows) == K
    if use_encoder:
        np.testing.assert_array_equal(first.query, expected_query(bundle, user, []))
    second = live.update(LiveEvent(user, "s", 7, 1.0), K)
    third = live.update(LiveEvent(user, "s", -1, 2.0), K)
    assert third.unknown_item and third.session_items == second.session_items == (7,)
    np.testing.assert_allclose(third.query, second.query, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(third.item_rows, second.item_rows)
    assert 7 not in third.item_rows.tolist()
    counts = live.counters()
    assert counts.unknown_items == 2 and counts.events == 3 and counts.fallbacks == 0


def test_bad_events_are_refused_before_the_batch_touches_the_store(bundle: Bundle) -> None:
    store = InProcessSessionStore(ttl_s=3600, capacity=100)
    live = LiveScorer(bundle, store=store, budget_ms=0)
    n_items = len(bundle.item_ids)
    for bad in (LiveEvent("u", "s", n_items, 1.0), LiveEvent("u", "s", -2, 1.0),
                LiveEvent("u", "s", 1, float("nan")), LiveEvent("u", "s", 1.5, 1.0)):  # type: ignore[arg-type]  # fmt: skip
        with pytest.raises(RecauditInputError):
            live.update_batch([LiveEvent("u", "s", 0, 0.0), bad], K)
    assert len(store) == 0 and live.counters().events == 0
    live.update(LiveEvent("u", "s", np.int64(2), 0.0), K)  # type: ignore[arg-type]  # numpy rows are fine
    assert len(store) == 1


def test_asking_for_an_encoder_a_bundle_lacks_is_an_input_error(tiny_bundle_dir: Path) -> None:
    alpha = load_bundle(tiny_bundle_dir / "alpha")
    with pytest.raises(RecauditInputError, match="has no session encoder"):
        LiveScorer(alpha, use_encoder=True)
    live = LiveScorer(alpha)
    assert live.encoder is None and live.mode == MODE_FOLDIN and live.budget_ms == 0
