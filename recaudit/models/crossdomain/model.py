"""The cross-domain transfer model: per-domain tables, source→target user maps, a gate, per-domain serving.

A catalogue whose items carry a ``domain`` is split into domains; every domain is a target and the others
its sources. For each target domain D the model holds:

* the **target-only** model: a collaborative model trained on D's interactions alone (user table in the
  bundle's user-row order, zero rows for users with no D interaction; D's item table and bias). A user cold
  in D (no training interaction there) gets D's popularity ranking;
* the **maps** (:mod:`recaudit.models.crossdomain.mapping`): ``linear`` and ``mlp``, from a user's source
  vector (the concatenation of their target-only vectors in the other domains, zeros where they have none)
  to D's target-only space, fitted on the users present in both;
* the **gate**: per bucket of the user's training interactions in D
  (:data:`recaudit.metrics.crossdomain.TARGET_BUCKET_EDGES`), which query serves the user: ``target``
  (target-only, popularity when cold) or a map, whichever had the best validation ndcg.

Queries by transfer mode (:data:`TRANSFER_MODES`): ``none`` is target-only; ``mapping`` / ``linear`` /
``mlp`` map every user with source interactions (the others fall back to target-only), so negative
transfer on warm users is visible; ``gated`` follows the gate; ``shared`` scores the bundle's joint model
(one user vector for every domain, trained on all domains together) restricted to D's items.

Concurrency: immutable after construction; every method is a pure function of its arguments and the
tables, safe to call from several threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recaudit.errors import RecauditInputError
from recaudit.metrics.crossdomain import TARGET_BUCKET_EDGES, bucket_names
from recaudit.models.crossdomain.mapping import UserMap, map_from_tensors
from recaudit.scoring import ExactScorer

COMPONENT = "crossdomain"
TRANSFER_MODES = ("none", "shared", "mapping", "linear", "mlp", "gated")
"""``recaudit recommend --transfer`` values; ``mapping`` is the map kind of the model's config."""
GateChoice = Literal["target", "linear", "mlp"]


@dataclass(frozen=True)
class SharedTables:
    """The bundle's joint model (one user vector for every domain): the ``shared`` transfer."""

    user_emb: np.ndarray
    item_emb: np.ndarray
    item_bias: np.ndarray | None


@dataclass(frozen=True)
class DomainModel:
    """Target-only tables of one domain, in the bundle's user-row order and the domain's item order."""

    domain: str
    item_rows: np.ndarray  # [I_D] catalogue rows of the domain's items
    user_emb: np.ndarray  # [U, d] target-only user vectors (zero rows: no interaction in D)
    item_emb: np.ndarray  # [I_D, d]
    item_bias: np.ndarray | None  # [I_D]
    counts: np.ndarray  # [U] training interactions in D (0 = cold)
    popularity: np.ndarray  # [I_D] training interactions per item
    maps: dict[str, UserMap] = field(default_factory=dict)
    gate: tuple[GateChoice, ...] = ()  # one choice per target bucket


@dataclass(frozen=True)
class CrossDomainModel:
    """Per-domain target-only models, user maps and gates over one catalogue (see the module docstring)."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    score: Literal["dot", "cosine"]
    domains: dict[str, DomainModel]
    map_kind: Literal["linear", "mlp"] = "linear"
    info: dict[str, Any] = field(default_factory=dict)

    # ---- queries ------------------------------------------------------------------------------------
    def source_vectors(self, target: str, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(vectors [n, d * (D - 1)], has_source [n])``: each user's target-only vectors in every domain
        but ``target`` side by side (the maps' input), and whether they have any source interaction."""
        rows = np.arange(len(self.user_ids)) if rows is None else np.asarray(rows, np.int64)
        sources = [d for d in self.domains if d != target]
        if not sources:
            raise RecauditInputError("cross-domain model", f"domain {target!r} has no source domain")
        parts = [self.domains[d].user_emb[rows] for d in sources]
        has = np.zeros(len(rows), bool)
        for d in sources:
            has |= self.domains[d].counts[rows] > 0
        return np.concatenate(parts, axis=1).astype(np.float32), has

    def plan(self, target: str, mode: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(queries [n, d], use_popularity [n])`` of users ``rows`` in domain ``target`` under ``mode``
        (not ``shared``, which scores the joint model)."""
        dm = self._domain(target)
        rows = np.asarray(rows, np.int64)
        warm = dm.counts[rows] > 0
        queries = dm.user_emb[rows].copy()
        popular = ~warm
        if mode == "none":
            return queries, popular
        if mode not in ("mapping", "linear", "mlp", "gated"):
            raise RecauditInputError(
                "--transfer", f"unknown transfer {mode!r}", f"use one of {TRANSFER_MODES}"
            )
        source, has_source = self.source_vectors(target, rows)
        if mode == "gated":
            buckets = np.searchsorted(np.asarray(TARGET_BUCKET_EDGES), dm.counts[rows], side="right") - 1
            choice = np.asarray(dm.gate, dtype=object)[buckets]
        else:
            kind = self.map_kind if mode == "mapping" else mode
            choice = np.full(len(rows), kind, dtype=object)
        for kind in ("linear", "mlp"):
            use = (choice == kind) & has_source
            if use.any():
                queries[use] = dm.maps[kind].predict(source[use])
                popular[use] = False
        return queries, popular

    def recommend(
        self,
        target: str,
        mode: str,
        rows: np.ndarray,
        k: int,
        *,
        seen: sp.csr_matrix | None = None,
        shared: SharedTables | None = None,
        candidates: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """Top-k of domain ``target`` for user rows ``rows`` under transfer ``mode``, as ``user_id, item_id,
        rank, score`` rows (users in ``rows`` order). ``seen`` ([U, I], whole catalogue) is excluded;
        ``candidates`` (bool [I]), when given, restricts the lists to those items."""
        dm = self._domain(target)
        rows = np.asarray(rows, np.int64)
        item_ids = self.item_ids[dm.item_rows]
        exclude = _domain_exclusions(seen, rows, dm.item_rows)
        if candidates is not None:
            barred = np.flatnonzero(~np.asarray(candidates, bool)[dm.item_rows])
            exclude = [np.union1d(e, barred) for e in exclude]
        labels = self.user_ids[rows]
        if mode == "shared":
            if shared is None:
                raise RecauditInputError("--transfer shared", "needs the bundle's joint model")
            bias = None if shared.item_bias is None else shared.item_bias[dm.item_rows]
            scorer = _scorer(
                shared.item_emb[dm.item_rows], bias, item_ids, self.score, shared.user_emb.shape[1]
            )
            return scorer.recommend_vectors(
                shared.user_emb[rows], k, exclude=exclude, labels=labels
            ).to_frame()
        queries, popular = self.plan(target, mode, rows)
        frames = []
        if (~popular).any():
            scorer = _scorer(dm.item_emb, dm.item_bias, item_ids, self.score, dm.item_emb.shape[1])
            keep = np.flatnonzero(~popular)
            frames.append(
                scorer.recommend_vectors(
                    queries[keep], k, exclude=[exclude[i] for i in keep], labels=labels[keep]
                ).to_frame()
            )
        if popular.any():
            keep = np.flatnonzero(popular)
            pop = ExactScorer(
                np.ones((1, 1), np.float32), dm.popularity.astype(np.float32)[:, None], ["_"], list(item_ids),
                device="cpu",
            )  # fmt: skip
            frames.append(
                pop.recommend_vectors(
                    np.ones((len(keep), 1), np.float32),
                    k,
                    exclude=[exclude[i] for i in keep],
                    labels=labels[keep],
                ).to_frame()
            )
        if not frames:
            return pd.DataFrame(columns=["user_id", "item_id", "rank", "score"])
        out = pd.concat(frames, ignore_index=True)
        position = pd.Series(np.arange(len(rows)), index=pd.Index(labels))
        out["_position"] = position.reindex(out["user_id"].to_numpy()).to_numpy()
        return (
            out.sort_values(["_position", "rank"], kind="stable")
            .drop(columns="_position")
            .reset_index(drop=True)
        )

    def _domain(self, name: str) -> DomainModel:
        if name not in self.domains:
            raise RecauditInputError(
                "--domain", f"unknown domain {name!r}", f"the bundle has {sorted(self.domains)}"
            )
        return self.domains[name]

    # ---- bundle component ----------------------------------------------------------------------------
    def component(self) -> dict[str, Any]:
        """The ``crossdomain`` component: ``tables.safetensors`` (every domain's tables and maps) and
        ``model.json`` (domains, map kind, gates, training record)."""
        tensors: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {
            "score": self.score,
            "map_kind": self.map_kind,
            "info": self.info,
            "domains": {},
        }
        for name, dm in self.domains.items():
            key = f"d{len(meta['domains'])}"
            tensors[f"{key}.item_rows"] = dm.item_rows.astype(np.int64)
            tensors[f"{key}.user_emb"] = dm.user_emb.astype(np.float32)
            tensors[f"{key}.item_emb"] = dm.item_emb.astype(np.float32)
            tensors[f"{key}.counts"] = dm.counts.astype(np.int64)
            tensors[f"{key}.popularity"] = dm.popularity.astype(np.int64)
            if dm.item_bias is not None:
                tensors[f"{key}.item_bias"] = dm.item_bias.astype(np.float32)
            for kind, fitted in dm.maps.items():
                for part, array in fitted.tensors().items():
                    tensors[f"{key}.map.{kind}.{part}"] = np.ascontiguousarray(array, np.float32)
            meta["domains"][name] = {"key": key, "maps": sorted(dm.maps), "gate": list(dm.gate)}
        return {"tables.safetensors": tensors, "model.json": meta}

    @classmethod
    def from_component(
        cls, files: dict[str, Any], user_ids: np.ndarray, item_ids: np.ndarray
    ) -> CrossDomainModel:
        """Rebuild from :meth:`component`'s files, checking every table against the bundle's id tables.

        Raises:
            RecauditInputError: a missing file or tensor, or a table whose shape does not fit the bundle.
        """
        source = "component crossdomain"
        tensors, meta = files.get("tables.safetensors"), files.get("model.json")
        if (
            not isinstance(tensors, dict)
            or not isinstance(meta, dict)
            or not isinstance(meta.get("domains"), dict)
        ):
            raise RecauditInputError(source, "needs tables.safetensors and model.json with its domains")
        n_users, n_items = len(user_ids), len(item_ids)
        domains = {}
        for name, entry in meta["domains"].items():
            key = str(entry.get("key"))

            def get(part: str, key: str = key) -> np.ndarray:
                if f"{key}.{part}" not in tensors:
                    raise RecauditInputError(source, f"tensor {key}.{part} is missing")
                return np.asarray(tensors[f"{key}.{part}"])

            item_rows = get("item_rows").astype(np.int64)
            user_emb, item_emb = get("user_emb"), get("item_emb")
            if len(item_rows) and (item_rows.min() < 0 or item_rows.max() >= n_items):
                raise RecauditInputError(source, f"domain {name!r}: item rows outside the catalogue")
            if user_emb.shape[0] != n_users or item_emb.shape[0] != len(item_rows):
                raise RecauditInputError(
                    source, f"domain {name!r}: tables {user_emb.shape} / {item_emb.shape} do not fit "
                    f"{n_users} users and {len(item_rows)} items",
                )  # fmt: skip
            maps = {}
            for kind in entry.get("maps", []):
                prefix = f"{key}.map.{kind}."
                maps[kind] = map_from_tensors(
                    kind,
                    {k[len(prefix) :]: np.asarray(v) for k, v in tensors.items() if k.startswith(prefix)},
                )
            gate = tuple(str(g) for g in entry.get("gate", []))
            if gate and (len(gate) != len(TARGET_BUCKET_EDGES) or not set(gate) <= {"target", *maps}):
                raise RecauditInputError(source, f"domain {name!r}: bad gate {list(gate)}")
            bias = np.asarray(tensors[f"{key}.item_bias"]) if f"{key}.item_bias" in tensors else None
            domains[str(name)] = DomainModel(
                str(name), item_rows, user_emb.astype(np.float32), item_emb.astype(np.float32), bias,
                get("counts").astype(np.int64), get("popularity").astype(np.int64), maps, gate,  # type: ignore[arg-type]
            )  # fmt: skip
        score = meta.get("score", "dot")
        if score not in ("dot", "cosine"):
            raise RecauditInputError(source, f"unknown score {score!r}")
        return cls(
            np.asarray(user_ids, dtype=object), np.asarray(item_ids, dtype=object), score, domains,
            map_kind=meta.get("map_kind", "linear"), info=dict(meta.get("info") or {}),
        )  # fmt: skip

    def describe(self) -> str:
        """One line per domain for the model card: the gate's choice per target-interaction bucket."""
        names = bucket_names(TARGET_BUCKET_EDGES)
        parts = []
        for name, dm in self.domains.items():
            gate = (
                ", ".join(f"{b}: {c}" for b, c in zip(names, dm.gate, strict=True))
                if dm.gate
                else "no gate"
            )
            parts.append(f"{name} ({gate})")
        return "gated transfer per target-interaction count: " + "; ".join(parts)


def _scorer(
    item_emb: np.ndarray, bias: np.ndarray | None, item_ids: Sequence[str], score: str, dim: int
) -> ExactScorer:
    return ExactScorer(
        np.zeros((1, dim), np.float32), item_emb, ["_"], list(item_ids), item_bias=bias, score=score,  # type: ignore[arg-type]
        device="cpu",
    )  # fmt: skip


def _domain_exclusions(
    seen: sp.csr_matrix | None, rows: np.ndarray, item_rows: np.ndarray
) -> list[np.ndarray]:
    """Per user row, the positions in ``item_rows`` of the items they have seen."""
    if seen is None:
        return [np.zeros(0, np.int64) for _ in rows]
    position = np.full(seen.shape[1], -1, np.int64)
    position[item_rows] = np.arange(len(item_rows))
    sub = sp.csr_matrix(seen[rows])
    out = []
    for r in range(len(rows)):
        cols = position[sub.indices[sub.indptr[r] : sub.indptr[r + 1]]]
        out.append(np.unique(cols[cols >= 0]))
    return out
