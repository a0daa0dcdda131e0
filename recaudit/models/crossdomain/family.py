"""The ``crossdomain`` model family: the joint ``mf`` model plus per-domain transfer (a bundle component).

Registered in :data:`recaudit.models.MODEL_KINDS` as ``crossdomain`` (``recaudit train --transfer
none|shared|mapping|gated`` turns a plain ``mf`` run into it; ``coldstart`` and ``session`` bundles carry
the same component). The bundle's main tables are the **joint** model, trained on every domain at once
(one user vector for all domains: the ``shared`` transfer, and what the map and the generic pages show);
the component ``crossdomain`` (:mod:`recaudit.models.crossdomain.model`) holds one target-only item and
user table per domain, the source→target maps and the gates. ``transfer`` is what ``recaudit recommend
--domain D`` serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

from recaudit.data.schema import DOMAIN, ITEM_ID
from recaudit.errors import RecauditInputError
from recaudit.models.base import Capabilities, Capability, ComponentFiles, ModelFamily
from recaudit.models.mf.config import MFConfig
from recaudit.models.mf.trained import TrainedMF

if TYPE_CHECKING:
    from recaudit.bundle import Bundle
    from recaudit.models.crossdomain.model import CrossDomainModel

CROSSDOMAIN_KIND = "crossdomain"
TRANSFER_CHOICES = ("none", "shared", "mapping", "gated")
"""``recaudit train --transfer`` values: what ``recommend --domain`` serves (target-only, the joint model,
the EMCDR map for every user with source interactions, or the gate's choice per target-interaction bucket)."""
TransferName = Literal["none", "shared", "mapping", "gated"]


@dataclass(frozen=True)
class CrossDomainConfig(MFConfig):
    """:class:`MFConfig` (the joint model and every target-only model are trained with it) plus the transfer.

    Attributes:
        transfer: what ``recommend --domain`` serves (:data:`TRANSFER_CHOICES`).
        transfer_map: the map of ``mapping`` and the one the gate may pick (``linear`` or ``mlp``).
        domain_weights: the joint model's per-domain loss weights: ``balanced`` (each domain's interactions
            weigh N / (D · N_d) in all, so a small domain counts as much as a big one) or ``equal`` (every
            interaction weighs 1). The joint model is trained multi-task: one softmax per domain over that
            domain's in-batch items, sharing the user vectors.
    """

    transfer: TransferName = "gated"
    transfer_map: Literal["linear", "mlp"] = "linear"
    domain_weights: Literal["balanced", "equal"] = "balanced"

    def validate(self) -> None:
        super().validate()
        if self.transfer not in TRANSFER_CHOICES:
            self.fail("transfer", f"must be one of {TRANSFER_CHOICES}")
        if self.transfer_map not in ("linear", "mlp"):
            self.fail("transfer_map", "must be 'linear' or 'mlp'")
        if self.domain_weights not in ("balanced", "equal"):
            self.fail("domain_weights", "must be 'balanced' or 'equal'")

    def mf_config(self) -> MFConfig:
        """The collaborative models' config (the :class:`MFConfig` fields of this one)."""
        return MFConfig(**{f.name: getattr(self, f.name) for f in fields(MFConfig)})


@dataclass
class TrainedCrossDomain(TrainedMF):
    """A :class:`TrainedMF` (the joint model) with its per-domain transfer model."""

    config: CrossDomainConfig = field(default_factory=CrossDomainConfig)  # type: ignore[assignment]
    transfer: CrossDomainModel | None = None

    kind: ClassVar[str] = CROSSDOMAIN_KIND
    capabilities: ClassVar[Capabilities] = frozenset({Capability.KNOWN_USERS, Capability.FOLD_IN})

    def training_info(self) -> dict[str, Any]:
        info = super().training_info()
        if self.transfer is not None:
            info["crossdomain"] = dict(self.transfer.info)
        return info

    def training_note(self) -> str:
        note = super().training_note()
        if self.transfer is None:
            return note
        return f"{note}; transfer {self.config.transfer}, {self.transfer.describe()}"

    def components(self) -> dict[str, ComponentFiles]:
        from recaudit.models.crossdomain.model import COMPONENT

        return {} if self.transfer is None else {COMPONENT: self.transfer.component()}


def served_transfer(manifest: dict[str, Any]) -> str:
    """What a bundle serves per domain: the manifest's ``transfer`` (``recaudit train --transfer``), else its
    ``crossdomain`` config's, else ``gated``."""
    config = (manifest.get("model") or {}).get("config") or {}
    return str(manifest.get("transfer") or config.get("transfer") or "gated")


def item_domains(items: pd.DataFrame | None, item_ids: np.ndarray, source: str = "--items") -> np.ndarray:
    """The domain of each of ``item_ids`` from the items table, refusing what transfer cannot use.

    Raises:
        RecauditInputError: no items table or no ``domain`` column, an item without a domain, or fewer
            than two domains.
    """
    if items is None or DOMAIN not in items.columns:
        raise RecauditInputError(
            source, "cross-domain transfer needs an items table with a domain column",
            hint="give --items with item_id,domain (two or more domains), or leave --transfer out",
        )  # fmt: skip
    by_item = items.drop_duplicates(ITEM_ID).set_index(items[ITEM_ID].astype(str).drop_duplicates())[DOMAIN]
    domain = pd.Series(np.asarray(item_ids).astype(str)).map(by_item)
    missing = domain.isna() | domain.astype(str).str.strip().eq("")
    if missing.any():
        first = ", ".join(map(str, np.asarray(item_ids)[missing.to_numpy()][:3]))
        raise RecauditInputError(source, f"{int(missing.sum())} item(s) without a domain (first: {first})")
    values = domain.astype(str).to_numpy(dtype=object)
    if len(set(values.tolist())) < 2:
        raise RecauditInputError(
            source, f"one domain ({values[0]!r}): transfer needs two or more",
            hint="single-domain data trains without --transfer",
        )  # fmt: skip
    return values


def check_bridge_users(users: pd.Series, domains: pd.Series) -> None:
    """Transfer needs at least two users with interactions in two or more domains (``users`` and ``domains``
    are the interactions' user ids and their items' domains, row by row).

    Raises:
        RecauditInputError: fewer than two such users.
    """
    spread = pd.DataFrame({"u": users.to_numpy(), "d": domains.to_numpy()}).groupby("u")["d"].nunique()
    bridges = int((spread >= 2).sum())
    if bridges < 2:
        raise RecauditInputError(
            "--transfer", f"{bridges} user(s) with interactions in two domains: nothing to transfer through",
            hint="transfer needs users active in a source and a target domain",
        )  # fmt: skip


def domain_loss_weights(domains: pd.Series, rule: str) -> dict[str, float]:
    """Per-domain loss weights from the training interactions' domains: ``balanced`` gives domain d
    N / (D · N_d) (the weights average 1 over the interactions), ``equal`` gives 1 each."""
    counts = domains.value_counts()
    if rule == "equal":
        return {str(d): 1.0 for d in counts.index}
    total, n_domains = float(counts.sum()), len(counts)
    return {str(d): total / (n_domains * float(n)) for d, n in counts.items()}


def train(
    interactions: pd.DataFrame,
    config: CrossDomainConfig,
    *,
    progress: object = None,
    items: pd.DataFrame | None = None,
) -> TrainedCrossDomain:
    """The joint ``mf`` model on every domain (multi-task: a softmax per domain, ``domain_weights``), then the
    transfer model on the same interactions."""
    from recaudit.models.crossdomain.train import TransferConfig, train_crossdomain
    from recaudit.models.mf.train import train_mf

    ids = np.unique(interactions[ITEM_ID].astype(str))
    by_item = dict(zip(ids.tolist(), item_domains(items, ids).tolist(), strict=True))
    weights = domain_loss_weights(interactions[ITEM_ID].astype(str).map(by_item), config.domain_weights)
    mf = train_mf(
        interactions, config.mf_config(), progress=progress,  # type: ignore[arg-type]
        item_domain=by_item, domain_weights=weights,
    )  # fmt: skip
    transfer = train_crossdomain(
        interactions, user_ids=mf.user_ids, item_ids=mf.item_ids,
        item_domain=item_domains(items, mf.item_ids), mf_config=config.mf_config(),
        config=TransferConfig(map_kind=config.transfer_map, seed=config.seed), progress=progress,
    )  # fmt: skip
    base = {f.name: getattr(mf, f.name) for f in fields(TrainedMF)}
    return TrainedCrossDomain(**{**base, "config": config}, transfer=transfer)


def from_bundle(bundle: Bundle) -> TrainedCrossDomain:
    """The trained model a ``crossdomain`` bundle stores: the joint tables and record, and the transfer.

    Raises:
        RecauditInputError: the manifest's config is invalid or the component does not fit the bundle.
    """
    from recaudit.models.mf.family import trained_fields

    return TrainedCrossDomain(**trained_fields(bundle, CrossDomainConfig), transfer=bundle.crossdomain)


CROSSDOMAIN_FAMILY = ModelFamily(
    kind=CROSSDOMAIN_KIND,
    config_class=CrossDomainConfig,
    from_bundle=from_bundle,
    trainer=train,
    components=("crossdomain",),
    summary="mf over every domain plus per-domain transfer: target-only models, EMCDR maps, a gate "
    "(--transfer)",
    uses_items=True,
)
