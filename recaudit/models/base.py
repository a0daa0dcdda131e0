"""The model interface: what a trained model can do (:class:`Capability`), the trained result every
family returns (:class:`TrainedModel`), and a family's entry in the registry (:class:`ModelFamily`).

A **family** is one way of producing a model (``mf`` trains embeddings from interactions; ``imported``
wraps embedding tables trained elsewhere). It is registered once, by kind name, in
:data:`recaudit.models.MODEL_KINDS`; ``recaudit train --model KIND`` and bundle loading dispatch on that
name. A family is three things: a config class (a :class:`~recaudit.config.ConfigBase`, stored as JSON in
the bundle manifest), a train function (interactions + config -> trained model; None when the family
cannot learn from interactions), and the way back from a saved bundle to the trained model.

Every trained model is, at least, the tables a bundle stores: user and item vectors, an optional item
bias and a score function, which :class:`~recaudit.scoring.ExactScorer` turns into the scores of known
users. What else it can do it **declares** in :attr:`TrainedModel.capabilities`; each capability has one
method here, and asking a model for a capability it does not declare raises a
:class:`~recaudit.errors.RecauditInputError` that says so and lists what it does declare, instead of
an answer computed from the wrong thing (e.g. scoring an item without interactions from its zero vector).
This is the same "skip with a reason" contract as ``MetricSpec.needs``: the app and the CLI can ask
:meth:`TrainedModel.supports` first and show why something is not offered.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from recaudit.config import ConfigBase, ScoreFunction
from recaudit.errors import RecauditInputError

if TYPE_CHECKING:
    from recaudit.bundle import Bundle
    from recaudit.scoring import ExactScorer

ComponentFiles = dict[str, Any]
"""The files of one bundle component, by name inside the component: a ``.safetensors`` name maps to a dict
of numpy arrays, a ``.json`` name to a JSON value, a ``.parquet`` name to a DataFrame (see
:mod:`recaudit.bundle.io`)."""


class Capability(enum.Enum):
    """Something a trained model may be able to do; the value is the phrase errors use."""

    KNOWN_USERS = "score known users"
    """Score the catalogue for users seen in training (:meth:`TrainedModel.score_users`)."""
    FOLD_IN = "fold in new users"
    """Score the catalogue for a new user given only an item history, without retraining
    (:meth:`TrainedModel.score_new_user`)."""
    COLD_ITEMS = "score items without interactions"
    """Score items that had no interactions in training, from their metadata
    (:meth:`TrainedModel.score_cold_items`)."""
    SESSION = "take a session"
    """Score the catalogue from an ordered list of items just interacted with
    (:meth:`TrainedModel.score_session`)."""
    DOMAINS = "score several domains"
    """Score the items of one named domain with that domain's own tables
    (:meth:`TrainedModel.score_domain`)."""


Capabilities = frozenset[Capability]


class TrainedModel:
    """The trained result of a model family: its tables, its config and what it can do.

    Subclasses set :attr:`kind` and :attr:`capabilities` as class attributes and provide the attributes
    below (a dataclass is the usual way). The base class implements :attr:`Capability.KNOWN_USERS` and
    :attr:`Capability.FOLD_IN` from the tables, exactly as the app scores them; a subclass declaring
    another capability implements its ``_score_*`` method.

    Attributes:
        user_ids: ``[U]`` external user ids, the row order of ``user_emb``.
        item_ids: ``[I]`` external item ids, the row order of ``item_emb``.
        user_emb: float32 ``[U, d]``.
        item_emb: float32 ``[I, d]``.
        item_bias: float32 ``[I]`` or None.
        config: the family's configuration (a :class:`~recaudit.config.ConfigBase`).
    """

    kind: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_emb: np.ndarray
    item_emb: np.ndarray
    item_bias: np.ndarray | None
    config: ConfigBase

    # ---- what goes into a bundle ------------------------------------------------------------------
    @property
    def score_function(self) -> ScoreFunction:
        """How the tables score: ``"dot"`` or ``"cosine"`` (the manifest's ``score``)."""
        return "dot"

    def training_info(self) -> dict[str, Any]:
        """The manifest's ``training`` section (epochs, history, device, ...); JSON-able."""
        return {}

    def components(self) -> dict[str, ComponentFiles]:
        """The family's own bundle files, by component name (none by default)."""
        return {}

    def training_note(self) -> str:
        """A few words for the training log after "trained in N s" (e.g. ``"on cpu, best epoch 7"``)."""
        return ""

    # ---- capabilities -----------------------------------------------------------------------------
    def supports(self, capability: Capability) -> bool:
        """Whether this model declares ``capability``."""
        return capability in self.capabilities

    def require(self, capability: Capability) -> None:
        """Raise a clear error unless this model declares ``capability``."""
        if capability in self.capabilities:
            return
        declared = ", ".join(c.value for c in Capability if c in self.capabilities) or "nothing"
        raise RecauditInputError(
            f"{self.kind} model", f"cannot {capability.value}", hint=f"this model kind declares: {declared}"
        )

    def score_users(self, user_ids: Sequence[str]) -> np.ndarray:
        """Scores ``[len(user_ids), I]`` (float32, item row order) of known users.

        Raises:
            RecauditInputError: the model does not declare :attr:`Capability.KNOWN_USERS`, or an id is
                unknown (the error names it).
        """
        self.require(Capability.KNOWN_USERS)
        return self._score_users(list(map(str, user_ids)))

    def score_new_user(self, history: Sequence[str]) -> np.ndarray:
        """Scores ``[I]`` (float32) for a user known only by the items of ``history``.

        Raises:
            RecauditInputError: the model does not declare :attr:`Capability.FOLD_IN`, or an item id is
                unknown.
        """
        self.require(Capability.FOLD_IN)
        return self._score_new_user(list(map(str, history)))

    def score_cold_items(self, user_ids: Sequence[str], items: pd.DataFrame) -> np.ndarray:
        """Scores ``[len(user_ids), len(items)]`` of known users for items described by ``items``
        (``item_id`` plus metadata such as ``title``, ``category``, ``text``) that had no interactions.

        Raises:
            RecauditInputError: the model does not declare :attr:`Capability.COLD_ITEMS`.
        """
        self.require(Capability.COLD_ITEMS)
        return self._score_cold_items(list(map(str, user_ids)), items)

    def score_session(self, session: Sequence[str]) -> np.ndarray:
        """Scores ``[I]`` (float32) given the items of a session, oldest first.

        Raises:
            RecauditInputError: the model does not declare :attr:`Capability.SESSION`.
        """
        self.require(Capability.SESSION)
        return self._score_session(list(map(str, session)))

    def score_domain(self, user_ids: Sequence[str], domain: str) -> np.ndarray:
        """Scores ``[len(user_ids), I_domain]`` of known users over the items of ``domain``, by that
        domain's own tables.

        Raises:
            RecauditInputError: the model does not declare :attr:`Capability.DOMAINS`.
        """
        self.require(Capability.DOMAINS)
        return self._score_domain(list(map(str, user_ids)), str(domain))

    # ---- implementations --------------------------------------------------------------------------
    @cached_property
    def scorer(self) -> ExactScorer:
        """The exact scorer of the tables (CPU, no seen-item exclusion), built once on first use."""
        from recaudit.scoring import ExactScorer  # torch is imported only when scoring is needed

        return ExactScorer(
            self.user_emb, self.item_emb, list(self.user_ids), list(self.item_ids), item_bias=self.item_bias,
            score=self.score_function, device="cpu",
        )  # fmt: skip

    def _score_users(self, user_ids: list[str]) -> np.ndarray:
        return self.scorer.score_items(user_ids, list(self.item_ids))

    def _score_new_user(self, history: list[str]) -> np.ndarray:
        from recaudit.models.foldin import FoldIn, median_norm

        rows = self.scorer.item_index(history) if history else np.zeros(0, dtype=np.int64)
        foldin = FoldIn(
            self.item_emb, target_norm=median_norm(self.user_emb), cosine=self.score_function == "cosine"
        )
        vector = foldin.fit(rows)
        n_items = len(self.item_ids)
        ranked = self.scorer.recommend_vectors(vector[None, :], k=n_items)
        scores = np.empty(n_items, dtype=np.float32)
        scores[ranked.item_index[0]] = ranked.scores[0]
        return scores

    def _score_cold_items(self, user_ids: list[str], items: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} declares COLD_ITEMS but does not implement it")

    def _score_session(self, session: list[str]) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} declares SESSION but does not implement it")

    def _score_domain(self, user_ids: list[str], domain: str) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} declares DOMAINS but does not implement it")


TrainFunction = Callable[..., TrainedModel]
"""``train(interactions, config, *, progress=None) -> TrainedModel``: ``interactions`` is a frame of
``user_id, item_id, timestamp`` rows, ``config`` an instance of the family's config class, ``progress``
a per-epoch callback, ``"tqdm"`` or None."""


def bundle_tables(bundle: Bundle) -> dict[str, Any]:
    """The tables every trained result holds, read from a loaded bundle: ``user_ids``, ``item_ids``
    (strings, row order), ``user_emb``, ``item_emb`` and ``item_bias`` (for a family's ``from_bundle``)."""
    return {
        "user_ids": np.asarray(bundle.user_ids).astype(str),
        "item_ids": np.asarray(bundle.item_ids).astype(str),
        "user_emb": bundle.user_emb,
        "item_emb": bundle.item_emb,
        "item_bias": bundle.item_bias,
    }


def epoch_record(history: list[dict], best_epoch: int, device: str) -> dict[str, Any]:
    """A trained-by-epochs model's part of the manifest's ``training``: best epoch, epochs run, the
    per-epoch history and the device."""
    return {"best_epoch": best_epoch, "epochs_run": len(history), "history": history, "device": device}


@dataclass(frozen=True)
class ModelFamily:
    """One entry of :data:`recaudit.models.MODEL_KINDS`.

    Attributes:
        kind: the name in the registry, in ``recaudit train --model`` and in a manifest's ``model.kind``.
        config_class: the family's :class:`~recaudit.config.ConfigBase` subclass.
        from_bundle: rebuilds the trained model from a loaded bundle (its tables, its manifest's config and
            training sections, its components).
        trainer: the train function (see :data:`TrainFunction`), or None when the family cannot learn
            from interactions.
        components: names of the bundle components every bundle of this family must carry.
        summary: one line for help texts.
        how_to_make: what to do instead of training, shown when ``trainer`` is None.
        uses_items: the trainer also takes the items table (``items=``, a DataFrame or None), e.g. to
            encode item descriptions; other trainers are never passed it.
    """

    kind: str
    config_class: type[ConfigBase]
    from_bundle: Callable[[Bundle], TrainedModel]
    trainer: TrainFunction | None = None
    components: tuple[str, ...] = ()
    summary: str = ""
    how_to_make: str | None = None
    uses_items: bool = False

    def config(self, values: Mapping[str, Any] | None = None, source: str | None = None) -> ConfigBase:
        """The family's config from ``values`` (strict: unknown keys and bad values are refused)."""
        return self.config_class.from_dict(dict(values or {}), source)

    @property
    def trainable(self) -> bool:
        """Whether the family can be trained from interactions."""
        return self.trainer is not None

    def require_trainable(self) -> None:
        """Raise a clear error when the family cannot be trained from interactions."""
        if self.trainer is None:
            raise RecauditInputError(
                f"model kind {self.kind!r}", "cannot be trained from interactions",
                hint=self.how_to_make or "choose another --model",
            )  # fmt: skip

    def train(
        self,
        interactions: pd.DataFrame,
        config: ConfigBase | None = None,
        *,
        progress: object = None,
        items: pd.DataFrame | None = None,
    ) -> TrainedModel:
        """Train on ``interactions`` with ``config`` (default: the config class's defaults); ``items`` (the
        items table) reaches the trainer only when the family declares :attr:`uses_items`.

        Raises:
            RecauditInputError: the family cannot train, the config is of another class, or the
                trainer refuses the data.
        """
        self.require_trainable()
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise RecauditInputError(
                f"model kind {self.kind!r}",
                f"expected a {self.config_class.__name__}, got {type(config).__name__}",
            )
        assert self.trainer is not None
        if self.uses_items:
            return self.trainer(interactions, config, progress=progress, items=items)
        return self.trainer(interactions, config, progress=progress)
