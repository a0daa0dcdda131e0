"""The ``session`` model family: the embedding model of ``mf`` plus a session encoder on its item space.

Registered in :data:`recaudit.models.MODEL_KINDS` as ``session`` (``recaudit train --session gru|sasrec``
trains it from a plain ``mf`` run; with item content the ``coldstart`` kind carries the same component). Its
config is :class:`SessionModelConfig` (the :class:`MFConfig` fields plus the encoder's few), its trained
result :class:`TrainedSession`, and its bundles carry the component ``session``
(:mod:`recaudit.models.session.encoder`): the encoder's weights and its fusion gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from recaudit.errors import RecauditInputError
from recaudit.models.base import Capabilities, Capability, ComponentFiles, ModelFamily
from recaudit.models.mf.config import MFConfig
from recaudit.models.mf.trained import TrainedMF
from recaudit.models.session.config import EncoderName, FusionName, SessionConfig

if TYPE_CHECKING:
    from recaudit.bundle import Bundle
    from recaudit.models.session.encoder import SessionEncoder

SESSION_KIND = "session"


@dataclass(frozen=True)
class SessionModelConfig(MFConfig):
    """:class:`MFConfig` (the collaborative part, trained exactly as ``mf``) plus the session encoder's
    main choices; its other hyper-parameters are :class:`SessionConfig`'s defaults, its seed, device and
    threads the collaborative model's.

    Attributes:
        session_encoder: ``"gru"`` (GRU4Rec) or ``"sasrec"``.
        session_gap_s: a gap over this many seconds starts a new session (without a ``session_id`` column).
        session_epochs: the encoder's maximum epochs (early-stopped on its latest sessions).
        session_fusion: ``"gate"`` (a learned session weight per session length) or ``"weighted"``.
    """

    session_encoder: EncoderName = "gru"
    session_gap_s: int = SessionConfig.gap_s
    session_epochs: int = SessionConfig.epochs
    session_fusion: FusionName = "gate"

    def validate(self) -> None:
        super().validate()
        self.check_at_least(0, "session_gap_s")
        self.check_at_least(1, "session_epochs")

    def mf_config(self) -> MFConfig:
        """The collaborative model's config (the :class:`MFConfig` fields of this one)."""
        return MFConfig(**{f.name: getattr(self, f.name) for f in fields(MFConfig)})

    def session_config(self) -> SessionConfig:
        """The encoder's config."""
        return SessionConfig(
            encoder=self.session_encoder, gap_s=self.session_gap_s, epochs=self.session_epochs,
            fusion=self.session_fusion, seed=self.seed, device=self.device, num_threads=self.num_threads,
        )  # fmt: skip


@dataclass
class TrainedSession(TrainedMF):
    """A :class:`TrainedMF` with a session encoder: known users, fold-in, and sessions."""

    config: SessionModelConfig = field(default_factory=SessionModelConfig)  # type: ignore[assignment]
    encoder: SessionEncoder | None = None

    kind: ClassVar[str] = SESSION_KIND
    capabilities: ClassVar[Capabilities] = frozenset(
        {Capability.KNOWN_USERS, Capability.FOLD_IN, Capability.SESSION}
    )
    """The ``mf`` capabilities, plus scoring the catalogue from a session (the encoder's vector alone)."""

    def training_info(self) -> dict[str, Any]:
        info = super().training_info()
        if self.encoder is not None:
            info["session"] = dict(self.encoder.info)
        return info

    def training_note(self) -> str:
        note = super().training_note()
        if self.encoder is None:
            return note
        epoch = self.encoder.info.get("best_epoch")
        return f"{note}; {self.encoder.label} best epoch {epoch}, {self.encoder.fusion.describe()}"

    def components(self) -> dict[str, ComponentFiles]:
        from recaudit.models.session.encoder import COMPONENT

        return {} if self.encoder is None else {COMPONENT: self.encoder.component()}

    def _score_session(self, session: list[str]) -> np.ndarray:
        if self.encoder is None:
            raise RecauditInputError(f"{self.kind} model", "has no session encoder")
        if not session:
            raise RecauditInputError(f"{self.kind} model", "a session needs at least one item")
        rows = self.scorer.item_index(session)
        return self.encoder.scores([rows])[0].astype(np.float32)


def train(
    interactions: pd.DataFrame, config: SessionModelConfig, *, progress: object = None
) -> TrainedSession:
    """``mf`` on ``interactions``, then the session encoder on the same interactions and its item space."""
    from recaudit.models.mf.train import train_mf
    from recaudit.models.session.train import train_session_encoder

    mf = train_mf(interactions, config.mf_config(), progress=progress)  # type: ignore[arg-type]
    encoder = train_session_encoder(
        interactions, config.session_config(), item_ids=mf.item_ids, item_emb=mf.item_emb,
        item_bias=mf.item_bias, score=mf.score_function, user_emb=mf.user_emb,
        bundle_temperature=config.temperature, progress=progress,
    )  # fmt: skip
    base = {f.name: getattr(mf, f.name) for f in fields(TrainedMF)}
    return TrainedSession(**{**base, "config": config}, encoder=encoder)


def from_bundle(bundle: Bundle) -> TrainedSession:
    """The trained model a ``session`` bundle stores: the ``mf`` tables and record, and the encoder.

    Raises:
        RecauditInputError: the manifest's config is invalid or the ``session`` component does not fit.
    """
    from recaudit.models.mf.family import trained_fields

    return TrainedSession(**trained_fields(bundle, SessionModelConfig), encoder=bundle.session_encoder)


SESSION_FAMILY = ModelFamily(
    kind=SESSION_KIND,
    config_class=SessionModelConfig,
    from_bundle=from_bundle,
    trainer=train,
    components=("session",),
    summary="mf plus a session encoder (GRU4Rec or SASRec) fused with the user vector (--session)",
)
