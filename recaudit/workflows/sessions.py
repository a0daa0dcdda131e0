"""One evaluation harness for session models: the benchmark (``benchmarks/bench_sessions.py``) and the app
page both call :func:`evaluate_session_models` (docs/metrics.md, "Sessions").

Protocol:

- The test events are cut into sessions with :func:`recaudit.data.sessions.assign_sessions` (a given
  ``session_id`` column is kept, else a new session starts after a gap of more than ``gap_s`` seconds).
- Events whose item id is unknown to the bundle are **dropped** before the sessions are enumerated (no model
  can represent or recommend them; the count is kept in :attr:`SessionComparison.n_dropped_events`). Users
  unknown to the bundle keep their events; they have no training items H_u and no long-term vector.
- ``max_sessions``: a seeded sample (``numpy.random.default_rng(seed)``, without replacement) of the test
  sessions, for a quick look in the app.
- Prefixes: :func:`recaudit.metrics.sessions.session_prefixes`, the skip rule applied with H_u the user's
  training items (``bundle.seen``); every list excludes H_u and the prefix items.
- Metrics: :func:`~recaudit.metrics.sessions.evaluate_next_items` (overall and per length bucket, bootstrap
  intervals by session) and :func:`~recaudit.metrics.sessions.recency_sensitivity` over the counted
  prefixes of each session, in order (a skipped prefix is not in the stream).

Models (each scores every counted prefix, in chunks of :data:`CHUNK` prefixes):

- ``popularity``: training interactions per item (``bundle.item_popularity``); ties to the lower row.
- ``cooccurrence``: :class:`~recaudit.models.session.baselines.LastItemCooccurrence` fit on the training
  events (``bundle.train``) cut into sessions the same way.
- ``sknn``: :class:`~recaudit.models.session.baselines.SessionKNN`, fit likewise.
- ``foldin``: the closed-form fold-in (``new_user_solver("foldin", ...)``) of H_u followed by the prefix
  items, scored by the bundle's exact scorer.
- ``encoder`` and ``fused`` (only when ``bundle.session_encoder`` is not None): the encoder's session vector
  of the prefix, alone, and fused with the user's bundle row by ``encoder.fusion.fuse`` (an unknown user:
  the session vector alone), both scored by the bundle's exact scorer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recaudit.data.schema import ITEM_ID, SESSION_ID, TIMESTAMP, USER_ID
from recaudit.data.sessions import assign_sessions
from recaudit.metrics.sessions import Prefixes, evaluate_next_items, recency_sensitivity, session_prefixes

__all__ = ["BASELINES", "CHUNK", "ENCODER_MODELS", "SessionComparison", "evaluate_session_models"]

BASELINES: tuple[str, ...] = ("popularity", "cooccurrence", "sknn", "foldin")
ENCODER_MODELS: tuple[str, ...] = ("encoder", "fused")
CHUNK = 512
"""Prefixes scored per batch."""

METRIC_COLUMNS = (
    "next_hit_rate",
    "next_hit_rate_low",
    "next_hit_rate_high",
    "next_mrr",
    "next_mrr_low",
    "next_mrr_high",
)


@dataclass
class SessionComparison:
    """The result of :func:`evaluate_session_models`.

    Attributes:
        table: one row per (model, length): ``model, length, n_sessions, n_prefixes`` and the metrics with
            their ``_low``/``_high`` bounds (``length`` is ``"all"`` or a length-bucket label).
        recency: ``recency_sensitivity@k`` per model.
        k: list length.
        n_sessions: test sessions evaluated (after the sample).
        n_prefixes: counted prefixes.
        n_skipped: prefixes left out by the skip rule.
        n_dropped_events: test events dropped because the bundle does not know their item.
        lists: ``{model: [P, k] item rows}`` of the counted prefixes (for the app and for checks).
        prefixes: the counted prefixes.
    """

    table: pd.DataFrame
    recency: dict[str, float]
    k: int
    n_sessions: int
    n_prefixes: int
    n_skipped: int
    n_dropped_events: int
    lists: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    prefixes: Prefixes | None = field(default=None, repr=False)
    items: np.ndarray | None = field(default=None, repr=False)
    """``[N]`` item rows of the evaluated test events (``prefixes`` index into it)."""

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.table["model"]))

    def headline(self) -> pd.DataFrame:
        """One row per model, the ``"all"`` length, with ``recency_sensitivity``."""
        out = self.table[self.table["length"] == "all"].reset_index(drop=True).copy()
        out["recency_sensitivity"] = out["model"].map(self.recency)
        return out


def _available(bundle: object, models: Sequence[str] | None) -> list[str]:
    has_encoder = getattr(bundle, "session_encoder", None) is not None
    allowed = list(BASELINES) + (list(ENCODER_MODELS) if has_encoder else [])
    if models is None:
        return allowed
    known = set(BASELINES) | set(ENCODER_MODELS)
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ValueError(f"unknown session model(s) {unknown}; use {sorted(known)}")
    return [m for m in models if m in allowed]


def _training_sessions(bundle: object, gap_s: int) -> pd.DataFrame:
    """The bundle's training events as item rows in sessions (items unknown to the bundle dropped)."""
    train = bundle.train  # type: ignore[attr-defined]
    if train is None or train.empty:
        return pd.DataFrame(
            {
                SESSION_ID: pd.Series([], dtype=str),
                ITEM_ID: pd.Series([], dtype=np.int64),
                TIMESTAMP: pd.Series([], dtype=np.int64),
            }
        )
    frame = assign_sessions(train, gap_s)
    rows = frame[ITEM_ID].astype(str).map(bundle.item_row)  # type: ignore[attr-defined]
    keep = rows.notna().to_numpy()
    t = frame[TIMESTAMP]
    if pd.api.types.is_datetime64_any_dtype(t):
        t = pd.Series(t.to_numpy(dtype="datetime64[s]").astype(np.int64), index=t.index)
    return pd.DataFrame(
        {
            SESSION_ID: (frame[USER_ID].astype(str) + "\x1f" + frame[SESSION_ID].astype(str))[
                keep
            ].to_numpy(),
            ITEM_ID: rows[keep].to_numpy(dtype=np.int64),
            TIMESTAMP: t[keep].to_numpy(dtype=np.int64),
        }
    )


def evaluate_session_models(
    bundle: object,
    test: pd.DataFrame,
    *,
    k: int = 10,
    gap_s: int = 1800,
    models: Sequence[str] | None = None,
    max_sessions: int | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    progress: Callable[[str, float], None] | None = None,
) -> SessionComparison:
    """Next-item quality of the session baselines and the bundle's session encoder on ``test``.

    Args:
        bundle: a :class:`recaudit.bundle.io.Bundle` (with ``train`` for the baselines and H_u).
        test: test events (``user_id, item_id, timestamp``, optionally ``session_id``).
        k: list length.
        gap_s: session gap in seconds (when ``test``/``train`` have no ``session_id``).
        models: which models (default all available; ``encoder``/``fused`` only with an encoder).
        max_sessions: evaluate a seeded sample of this many test sessions.
        seed: seed of the sample and the bootstrap.
        n_boot: bootstrap replicates.
        progress: called with ``(message, fraction done)``.

    Returns:
        :class:`SessionComparison` (see the module docstring for the protocol).
    """
    names = _available(bundle, models)
    report = progress or (lambda _m, _f: None)
    n_items = len(bundle.items)  # type: ignore[attr-defined]
    n_users = len(bundle.users)  # type: ignore[attr-defined]

    events = assign_sessions(test, gap_s)
    rows = events[ITEM_ID].astype(str).map(bundle.item_row)  # type: ignore[attr-defined]
    known_item = rows.notna().to_numpy()
    n_dropped = int((~known_item).sum())
    events = events[known_item].reset_index(drop=True)
    items = rows[known_item].to_numpy(dtype=np.int64)
    user_rows = events[USER_ID].astype(str).map(bundle.user_row)  # type: ignore[attr-defined]
    known_user = user_rows.notna().to_numpy()
    users = np.where(known_user, user_rows.fillna(-1).to_numpy(dtype=np.int64), n_users)  # n_users: nobody
    codes, _ = pd.factorize(events[USER_ID].astype(str) + "\x1f" + events[SESSION_ID].astype(str))
    codes = np.asarray(codes, np.int64)
    n_all = int(codes.max()) + 1 if len(codes) else 0
    if max_sessions is not None and max_sessions < n_all:
        chosen = np.random.default_rng(seed).choice(n_all, size=int(max_sessions), replace=False)
        mask = np.isin(codes, chosen)
        items, users, codes, known_user = items[mask], users[mask], codes[mask], known_user[mask]
    n_eval = len(np.unique(codes))

    seen = sp.csr_matrix(bundle.seen)  # type: ignore[attr-defined]
    history = sp.vstack([seen, sp.csr_matrix((1, n_items), dtype=seen.dtype)]).tocsr()
    prefixes = session_prefixes(items, codes, users, history)
    n_p = len(prefixes)
    seqs = [items[a:b] for a, b in zip(prefixes.start, prefixes.stop, strict=True)]
    h_u = [history.indices[history.indptr[u] : history.indptr[u + 1]].astype(np.int64) for u in prefixes.user]
    exclude = [np.union1d(h, s) for h, s in zip(h_u, seqs, strict=True)]

    scorers = _scorers(bundle, names, gap_s, report)
    lengths = prefixes.prefix_length
    lists: dict[str, np.ndarray] = {}
    for m_i, name in enumerate(names):
        report(f"scoring {name}", m_i / max(len(names), 1))
        out = np.full((n_p, k), -1, np.int64)
        for lo in range(0, n_p, CHUNK):
            hi = min(lo + CHUNK, n_p)
            out[lo:hi] = scorers[name](
                seqs[lo:hi], h_u[lo:hi], exclude[lo:hi], prefixes.user[lo:hi], lengths[lo:hi], k
            )
        lists[name] = out

    frames, recency = [], {}
    for name in names:
        table = evaluate_next_items(
            lists[name], prefixes.target, prefixes.session, prefixes.session_length, n_boot=n_boot, seed=seed
        )
        table.insert(0, "model", name)
        frames.append(table)
        recency[name] = recency_sensitivity(lists[name], prefixes.session)
    report("done", 1.0)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return SessionComparison(
        table=table,
        recency=recency,
        k=k,
        n_sessions=n_eval,
        n_prefixes=n_p,
        n_skipped=prefixes.n_skipped,
        n_dropped_events=n_dropped,
        lists=lists,
        prefixes=prefixes,
        items=items,
    )


def _scorers(bundle: object, names: list[str], gap_s: int, report: Callable[[str, float], None]) -> dict:
    """``{name: f(seqs, h_u, exclude, users, lengths, k) -> [B, k] rows}``."""
    from recaudit.models.session.baselines import LastItemCooccurrence, SessionKNN, top_k

    n_items = len(bundle.items)  # type: ignore[attr-defined]
    n_users = len(bundle.users)  # type: ignore[attr-defined]
    out: dict = {}
    need_train = {"cooccurrence", "sknn"} & set(names)
    train = _training_sessions(bundle, gap_s) if need_train else None

    def dense(model: object) -> Callable:
        def run(seqs, _h, exclude, _u, _n, k):  # noqa: ANN001, ANN202
            return top_k(model.score_batch(seqs), k, exclude)[1]  # type: ignore[attr-defined]

        return run

    if "popularity" in names:
        pop = np.asarray(bundle.item_popularity, np.float64)  # type: ignore[attr-defined]

        def popular(seqs, _h, exclude, _u, _n, k):  # noqa: ANN001, ANN202
            return top_k(np.broadcast_to(pop, (len(seqs), n_items)), k, exclude)[1]

        out["popularity"] = popular
    if "cooccurrence" in names:
        report("fitting co-occurrence rules", 0.0)
        out["cooccurrence"] = dense(LastItemCooccurrence.fit(train, n_items))
    if "sknn" in names:
        report("indexing training sessions (SKNN)", 0.0)
        out["sknn"] = dense(SessionKNN.fit(train, n_items))
    vector_models = {"foldin", "encoder", "fused"} & set(names)
    if not vector_models:
        return out
    scorer = bundle.exact_scorer(device="cpu")  # type: ignore[attr-defined]

    def ranked(vectors: np.ndarray, exclude: list, k: int) -> np.ndarray:
        return scorer.recommend_vectors(np.asarray(vectors, np.float32), k, exclude=exclude).item_index

    if "foldin" in names:
        from recaudit.models.newusers import new_user_solver

        solver = new_user_solver(
            "foldin",
            bundle.item_emb,
            bundle.user_emb,
            cosine=bundle.score == "cosine",  # type: ignore[attr-defined]
        )

        def foldin(seqs, h_u, exclude, _u, _n, k):  # noqa: ANN001, ANN202
            vecs = np.vstack([solver.fit(np.concatenate([h, s])) for h, s in zip(h_u, seqs, strict=True)])
            return ranked(vecs, exclude, k)

        out["foldin"] = foldin
    encoder = bundle.session_encoder if {"encoder", "fused"} & set(names) else None  # type: ignore[attr-defined]
    if encoder is not None:
        user_emb = np.asarray(bundle.user_emb, np.float32)  # type: ignore[attr-defined]

        def alone(seqs, _h, exclude, _u, _n, k):  # noqa: ANN001, ANN202
            return ranked(encoder.vectors(seqs), exclude, k)

        def fused(seqs, _h, exclude, users, lengths, k):  # noqa: ANN001, ANN202
            has = users < n_users
            long_term = user_emb[np.where(has, users, 0)]
            q = encoder.fusion.fuse(long_term, encoder.vectors(seqs), lengths, has_long_term=has)
            return ranked(q, exclude, k)

        if "encoder" in names:
            out["encoder"] = alone
        if "fused" in names:
            out["fused"] = fused
    return out
