"""Training of the cross-domain model (:class:`~recaudit.models.crossdomain.model.CrossDomainModel`).

Steps, for a catalogue of two or more domains:

1. **Target-only models**: the ``mf`` trainer on each domain's interactions alone (its early stopping
   carves the latest share of each user's interactions there; without timestamps a seeded random order
   stands in). The fit-phase model and its validation slice are kept for step 3.
2. **Maps** per target domain, ``linear`` and ``mlp``: from the users' source vectors (their target-only
   vectors in the other domains) to their target-only vector, fitted on every user with interactions in
   the target and in a source.
3. **Gate** per target domain, one choice per target-interaction bucket between ``target`` and the
   configured map (``map_kind``; the ``mapping`` model), by validation ndcg@10:
   - warm buckets (1+): the fit-phase target-only model against maps fitted into the fit-phase space, on
     the validation slice (users bucketed by their fit-phase interaction count);
   - the cold bucket (0): a seeded ``cold_probe_share`` of the users present in both domains is hidden
     from the maps, which are fitted on the others; the hidden users' target interactions are then
     ranked from their source vector alone, against the target domain's popularity. (Their target
     interactions did train the target's item table and popularity, a small advantage shared by both sides
     of the comparison.)
   A bucket with fewer than ``min_gate_users`` validation users, or where no map beats target-only, keeps
   ``target``: transfer is used only where it measurably helps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from recaudit.config import ConfigBase
from recaudit.data.schema import ITEM_ID, TIMESTAMP, USER_ID
from recaudit.errors import RecauditInputError
from recaudit.metrics.crossdomain import TARGET_BUCKET_EDGES, bucket_names
from recaudit.metrics.ranking import evaluate_lists
from recaudit.models.crossdomain.family import check_bridge_users
from recaudit.models.crossdomain.mapping import UserMap, fit_map
from recaudit.models.crossdomain.model import CrossDomainModel, DomainModel, GateChoice
from recaudit.models.mf.config import MFConfig
from recaudit.models.mf.trained import TrainedMF
from recaudit.scoring import ExactScorer

GATE_K = 10
MAP_KINDS = ("linear", "mlp")
Log = Callable[[str], None]


@dataclass(frozen=True)
class TransferConfig(ConfigBase):
    """Hyper-parameters of the transfer parts (the target-only models use the bundle's :class:`MFConfig`).

    Attributes:
        map_kind: the map of ``--transfer mapping``, and the one the gate may pick: ``linear`` (ridge, the
            default: closed-form and deterministic, and at least as good as the MLP on the cold users of
            three of our four validation probes) or ``mlp`` (EMCDR's MLP).
        cold_probe_share: share of the users in both domains hidden from the maps to learn the cold bucket.
        min_gate_users: fewest validation users for a bucket to leave ``target``.
        seed: seeds the probe users, the random validation order without timestamps, and the MLP maps.
    """

    map_kind: str = "linear"
    cold_probe_share: float = 0.2
    min_gate_users: int = 30
    seed: int = 0

    def validate(self) -> None:
        if self.map_kind not in MAP_KINDS:
            self.fail("map_kind", f"must be one of {MAP_KINDS}")
        if not 0.0 < self.cold_probe_share < 1.0:
            self.fail("cold_probe_share", "must be in (0, 1)")
        self.check_at_least(1, "min_gate_users")
        self.check_at_least(0, "seed")


@dataclass
class _Fitted:
    """One domain's target-only model: final tables, and the fit phase's tables and validation slice."""

    final: TrainedMF
    fit: TrainedMF | None
    fit_train: pd.DataFrame | None
    valid: pd.DataFrame | None


def train_crossdomain(
    interactions: pd.DataFrame,
    *,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    item_domain: np.ndarray,
    mf_config: MFConfig,
    config: TransferConfig | None = None,
    progress: Any = None,
    log: Log = lambda _msg: None,
) -> CrossDomainModel:
    """Target-only models, maps and gates for every domain of the catalogue (see the module docstring).

    Args:
        interactions: training ``user_id, item_id[, timestamp]`` rows (items outside the catalogue are
            ignored).
        user_ids, item_ids: the bundle's id tables (the model's row orders).
        item_domain: ``[I]`` the domain of each catalogue row.
        mf_config: the target-only models' config (dimension, score and training as the bundle's model).

    Raises:
        RecauditInputError: fewer than two domains, a domain without interactions, or no user in two domains.
    """
    from recaudit.models.mf.train import train_mf

    config = config or TransferConfig()
    started = time.perf_counter()
    user_ids = np.asarray(user_ids).astype(str).astype(object)
    item_ids = np.asarray(item_ids).astype(str).astype(object)
    item_domain = np.asarray(item_domain).astype(str).astype(object)
    domains = sorted(set(item_domain.tolist()))
    if len(domains) < 2:
        raise RecauditInputError(
            "--transfer", f"the catalogue has {len(domains)} domain(s): transfer needs two or more",
            hint="give --items with a domain column naming at least two domains, or use --transfer none",
        )  # fmt: skip
    frame = _rows(interactions, user_ids, item_ids, item_domain, config.seed)
    check_bridge_users(frame[USER_ID], frame["_domain"])
    fitted: dict[str, _Fitted] = {}
    for d in domains:
        part = frame[frame["_domain"] == d]
        if part.empty:
            raise RecauditInputError("--transfer", f"domain {d!r} has no training interactions")
        log(f"target-only model of {d}: {len(part):,} interactions of {part[USER_ID].nunique():,} users")
        captured: dict[str, Any] = {}

        def keep(
            model: TrainedMF, fit_train: pd.DataFrame, valid: pd.DataFrame | None, box: dict = captured
        ) -> None:
            box.update(model=model, train=fit_train, valid=valid)

        final = train_mf(part[[USER_ID, ITEM_ID, TIMESTAMP]], mf_config, progress=progress, on_fit=keep)
        fitted[d] = _Fitted(final, captured.get("model"), captured.get("train"), captured.get("valid"))
    tables = {d: _tables(d, fitted[d].final, frame, user_ids, item_ids, item_domain) for d in domains}
    models: dict[str, DomainModel] = {}
    gate_info: dict[str, Any] = {}
    for d in domains:
        probe = _DomainProbe(d, tables, fitted[d], frame, user_ids, item_ids, item_domain, config)
        gate, info = probe.learn_gate()
        maps = {kind: probe.fit_final_map(kind) for kind in MAP_KINDS}
        models[d] = replace(tables[d], maps=maps, gate=gate)
        gate_info[d] = info
        log(f"{d}: gate " + ", ".join(f"{b}: {c}" for b, c in zip(info["buckets"], gate, strict=True)))
    return CrossDomainModel(
        user_ids, item_ids, mf_config.score, models, map_kind=config.map_kind,  # type: ignore[arg-type]
        info={"config": config.to_dict(), "gate": gate_info, "seconds": round(time.perf_counter() - started)},
    )  # fmt: skip


def _rows(
    interactions: pd.DataFrame,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    item_domain: np.ndarray,
    seed: int,
) -> pd.DataFrame:
    """Catalogue interactions with their rows and domain; a seeded random timestamp when there is none."""
    frame = interactions[[c for c in (USER_ID, ITEM_ID, TIMESTAMP) if c in interactions.columns]].copy()
    frame[USER_ID], frame[ITEM_ID] = frame[USER_ID].astype(str), frame[ITEM_ID].astype(str)
    user_row = pd.Series(np.arange(len(user_ids)), index=pd.Index(user_ids))
    item_row = pd.Series(np.arange(len(item_ids)), index=pd.Index(item_ids))
    frame = frame[frame[USER_ID].isin(user_row.index) & frame[ITEM_ID].isin(item_row.index)]
    frame = frame.drop_duplicates([USER_ID, ITEM_ID]).reset_index(drop=True)
    if TIMESTAMP not in frame.columns:
        frame[TIMESTAMP] = np.random.default_rng(seed).permutation(len(frame)).astype(np.int64)
    frame["_user"] = user_row.loc[frame[USER_ID]].to_numpy()
    frame["_item"] = item_row.loc[frame[ITEM_ID]].to_numpy()
    frame["_domain"] = item_domain[frame["_item"].to_numpy()]
    return frame


def _tables(
    domain: str, model: TrainedMF, frame: pd.DataFrame, user_ids: np.ndarray, item_ids: np.ndarray,
    item_domain: np.ndarray,
) -> DomainModel:  # fmt: skip
    """A trained per-domain model's tables in the bundle's user order and the domain's catalogue order."""
    item_rows = np.flatnonzero(item_domain == domain)
    users, items = _place(model, user_ids, item_ids[item_rows])
    part = frame[frame["_domain"] == domain]
    counts = np.bincount(part["_user"].to_numpy(), minlength=len(user_ids)).astype(np.int64)
    position = np.full(len(item_ids), -1, np.int64)
    position[item_rows] = np.arange(len(item_rows))
    popularity = np.bincount(position[part["_item"].to_numpy()], minlength=len(item_rows)).astype(np.int64)
    bias = None
    if model.item_bias is not None:
        bias = np.zeros(len(item_rows), np.float32)
        bias[items[1]] = model.item_bias[items[0]]
    user_emb = np.zeros((len(user_ids), model.user_emb.shape[1]), np.float32)
    user_emb[users[1]] = model.user_emb[users[0]]
    item_emb = np.zeros((len(item_rows), model.item_emb.shape[1]), np.float32)
    item_emb[items[1]] = model.item_emb[items[0]]
    return DomainModel(domain, item_rows, user_emb, item_emb, bias, counts, popularity)


def _place(
    model: TrainedMF, user_ids: np.ndarray, item_ids: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((model user rows, bundle user rows), (model item rows, domain item positions))`` of shared ids."""
    out = []
    for mine, theirs in (
        (np.asarray(model.user_ids).astype(str), user_ids),
        (np.asarray(model.item_ids).astype(str), item_ids),
    ):
        where = pd.Series(np.arange(len(theirs)), index=pd.Index(theirs)).reindex(mine).to_numpy()
        keep = ~np.isnan(where)
        out.append((np.flatnonzero(keep), where[keep].astype(np.int64)))
    return out[0], out[1]


class _DomainProbe:
    """Map fitting and gate learning for one target domain."""

    def __init__(
        self, target: str, tables: dict[str, DomainModel], fitted: _Fitted, frame: pd.DataFrame,
        user_ids: np.ndarray, item_ids: np.ndarray, item_domain: np.ndarray, config: TransferConfig,
    ) -> None:  # fmt: skip
        self.target, self.tables, self.fitted, self.config = target, tables, fitted, config
        self.user_ids, self.item_ids, self.item_domain = user_ids, item_ids, item_domain
        self.part = frame[frame["_domain"] == target]
        self.dm = tables[target]
        self.domain_item_ids = item_ids[self.dm.item_rows]
        self.cosine = fitted.final.score_function == "cosine"
        shell = CrossDomainModel(user_ids, item_ids, "dot", tables)
        self.source, self.has_source = shell.source_vectors(target)

    def _both(self, dm: DomainModel) -> np.ndarray:
        return np.flatnonzero(self.has_source & (dm.counts > 0))

    def fit_final_map(self, kind: str) -> UserMap:
        both = self._both(self.dm)
        if len(both) < 2:
            raise RecauditInputError(
                "--transfer",
                f"fewer than two users with interactions in {self.target!r} and another domain",
            )
        return fit_map(kind, self.source[both], self.dm.user_emb[both], seed=self.config.seed)  # type: ignore[arg-type]

    def learn_gate(self) -> tuple[tuple[GateChoice, ...], dict[str, Any]]:
        names = bucket_names(TARGET_BUCKET_EDGES)
        tables = {0: self._cold_probe(), **self._warm_probe()}
        scores: dict[str, dict[str, float]] = {}
        users: dict[str, int] = {}
        gate: list[GateChoice] = []
        for b, name in enumerate(names):
            table = tables.get(b)
            users[name] = 0 if table is None else int(len(table))
            choice: GateChoice = "target"
            if table is not None and len(table):
                scores[name] = {c: round(float(table[c].mean()), 5) for c in table.columns}
                kind = self.config.map_kind
                if (
                    users[name] >= self.config.min_gate_users
                    and scores[name][kind] > scores[name]["target"]
                ):
                    choice = kind  # type: ignore[assignment]
            gate.append(choice)
        return tuple(gate), {"buckets": names, "users": users, "ndcg@10": scores}

    def _cold_probe(self) -> pd.DataFrame:
        """ndcg@10 of popularity ('target') and of each map for users hidden from the maps, who are ranked
        from their source vector alone against all their target interactions."""
        both = self._both(self.dm)
        rng = np.random.default_rng(self.config.seed)
        hidden = np.sort(rng.permutation(both)[: int(round(self.config.cold_probe_share * len(both)))])
        if len(hidden) < 2 or len(both) - len(hidden) < 2:
            return pd.DataFrame()
        fit_rows = np.setdiff1d(both, hidden)
        truth = self.part[self.part["_user"].isin(set(hidden.tolist()))][[USER_ID, ITEM_ID]]
        ones = np.ones((len(hidden), 1), np.float32)
        out = {
            "target": self._ndcg(
                ones, hidden, truth, self.dm.popularity.astype(np.float32)[:, None], None, None
            )
        }
        for kind in MAP_KINDS:
            fitted = fit_map(kind, self.source[fit_rows], self.dm.user_emb[fit_rows], seed=self.config.seed)  # type: ignore[arg-type]
            queries = fitted.predict(self.source[hidden])
            out[kind] = self._ndcg(queries, hidden, truth, self.dm.item_emb, self.dm.item_bias, None)
        return pd.DataFrame(out)

    def _warm_probe(self) -> dict[int, pd.DataFrame]:
        """Per warm bucket, ndcg@10 of the fit-phase target-only model and of maps into its space, on the fit
        phase's validation slice."""
        fit, valid, fit_train = self.fitted.fit, self.fitted.valid, self.fitted.fit_train
        if fit is None or valid is None or valid.empty or fit_train is None:
            return {}
        fit_frame = _rows(fit_train, self.user_ids, self.item_ids, self.item_domain, self.config.seed)
        fit_dm = _tables(self.target, fit, fit_frame, self.user_ids, self.item_ids, self.item_domain)
        valid_rows = _rows(valid, self.user_ids, self.item_ids, self.item_domain, self.config.seed)
        users = np.unique(valid_rows["_user"].to_numpy())
        users = users[fit_dm.counts[users] > 0]
        if not len(users):
            return {}
        truth = valid_rows[[USER_ID, ITEM_ID]]
        seen = _seen_positions(fit_frame, users, fit_dm.item_rows)
        table = {
            "target": self._ndcg(
                fit_dm.user_emb[users], users, truth, fit_dm.item_emb, fit_dm.item_bias, seen
            )
        }
        both = self._both(fit_dm)
        if len(both) < 2:
            return {}
        with_source = self.has_source[users]
        for kind in MAP_KINDS:
            fitted = fit_map(kind, self.source[both], fit_dm.user_emb[both], seed=self.config.seed)  # type: ignore[arg-type]
            queries = fit_dm.user_emb[users].copy()
            queries[with_source] = fitted.predict(self.source[users[with_source]])
            table[kind] = self._ndcg(queries, users, truth, fit_dm.item_emb, fit_dm.item_bias, seen)
        frame = pd.DataFrame(table)
        buckets = np.searchsorted(np.asarray(TARGET_BUCKET_EDGES), fit_dm.counts[users], side="right") - 1
        return {int(b): frame[buckets == b].reset_index(drop=True) for b in np.unique(buckets)}

    def _ndcg(
        self, queries: np.ndarray, rows: np.ndarray, truth: pd.DataFrame, item_emb: np.ndarray,
        item_bias: np.ndarray | None, exclude: list[np.ndarray] | None,
    ) -> np.ndarray:  # fmt: skip
        """Per-user ndcg@10 of the lists of ``queries`` over the domain's items."""
        cosine = self.cosine and item_emb.shape[1] > 1  # the popularity table is 1-D and scored by dot
        scorer = ExactScorer(
            np.zeros((1, item_emb.shape[1]), np.float32), item_emb, ["_"], list(self.domain_item_ids),
            item_bias=item_bias, score="cosine" if cosine else "dot", device="cpu",
        )  # fmt: skip
        labels = self.user_ids[rows]
        recs = scorer.recommend_vectors(queries, GATE_K, exclude=exclude, labels=labels).to_frame()
        return _per_user_ndcg(recs, truth, labels)


def _seen_positions(frame: pd.DataFrame, users: np.ndarray, item_rows: np.ndarray) -> list[np.ndarray]:
    """Per user row of ``users``, the domain positions of their items in ``frame`` (from :func:`_rows`)."""
    items = frame["_item"].to_numpy()
    position = np.full(int(max(item_rows.max(initial=0), items.max(initial=0))) + 1, -1, np.int64)
    position[item_rows] = np.arange(len(item_rows))
    groups = {int(u): position[g.to_numpy()] for u, g in frame.groupby("_user")["_item"]}
    return [np.unique(p[p >= 0]) for p in (groups.get(int(u), np.zeros(0, np.int64)) for u in users)]


def _per_user_ndcg(recs: pd.DataFrame, truth: pd.DataFrame, users: np.ndarray) -> np.ndarray:
    """ndcg@GATE_K per user of ``users`` (0 for a user without any truth row in the lists)."""
    part = truth[truth[USER_ID].isin(set(users.tolist()))]
    frame = evaluate_lists(recs, part, ks=(GATE_K,), metrics=("ndcg",), per_user=True)
    assert isinstance(frame, pd.DataFrame)
    return frame[f"ndcg@{GATE_K}"].reindex(users).fillna(0.0).to_numpy()
