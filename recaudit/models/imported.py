"""The ``imported`` model family: user and item embedding tables trained elsewhere.

``recaudit import`` (:func:`recaudit.bundle.importers.import_embeddings`) turns any team's tables into a
bundle of kind ``imported``; the trained model is those tables as they are, scored by the bundle's score
function. It scores known users and folds in new users (ridge fold-in on the item vectors, as the app's
what-if editor does); it cannot be trained from interactions, since there is nothing here to train.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from recaudit.config import ConfigBase, ScoreFunction
from recaudit.models.base import Capabilities, Capability, ModelFamily, TrainedModel, bundle_tables

if TYPE_CHECKING:
    from recaudit.bundle import Bundle

IMPORTED_KIND = "imported"


@dataclass(frozen=True)
class ImportedConfig(ConfigBase):
    """How ``recaudit import`` read the tables (the manifest's ``model.config``).

    Attributes:
        user_key: the tensor holding the user table in a ``.safetensors``/``.pt`` file (None: the only
            2-D tensor, or the only one whose name mentions ``user``).
        item_key: the same for the item table.
    """

    user_key: str | None = None
    item_key: str | None = None


@dataclass
class TrainedEmbeddings(TrainedModel):
    """Embedding tables trained elsewhere, as a trained model.

    Attributes:
        user_ids, item_ids: external ids in row order of the tables.
        user_emb, item_emb: float32 ``[U, d]``, ``[I, d]``.
        item_bias: float32 ``[I]`` or None.
        config: how the tables were read.
        score: the score function the tables were trained for.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_emb: np.ndarray
    item_emb: np.ndarray
    item_bias: np.ndarray | None
    config: ImportedConfig
    score: ScoreFunction = "dot"

    kind: ClassVar[str] = IMPORTED_KIND
    capabilities: ClassVar[Capabilities] = frozenset({Capability.KNOWN_USERS, Capability.FOLD_IN})

    @property
    def score_function(self) -> ScoreFunction:
        return self.score


def from_bundle(bundle: Bundle) -> TrainedEmbeddings:
    """The tables of a bundle as a trained model.

    A format-1 bundle whose ``model.kind`` is a free-text label rather than a registered kind is read as
    embedding tables too (that is all format 1 promised); its ``model.config`` is no recaudit config and
    stays in the manifest, unparsed.

    Raises:
        RecauditInputError: an ``imported`` manifest's ``model.config`` is not a valid
            :class:`ImportedConfig`.
    """
    model = bundle.manifest.get("model") or {}
    config = ImportedConfig()
    if model.get("kind") == IMPORTED_KIND:
        source = f"{bundle.path}/manifest.json" if bundle.path is not None else "bundle manifest"
        config = ImportedConfig.from_dict(model.get("config") or {}, source)
    return TrainedEmbeddings(
        **bundle_tables(bundle),
        config=config,
        score=bundle.score,
    )


IMPORTED_FAMILY = ModelFamily(
    kind=IMPORTED_KIND,
    config_class=ImportedConfig,
    from_bundle=from_bundle,
    trainer=None,
    summary="user and item embedding tables trained elsewhere (recaudit import)",
    how_to_make="turn trained tables into a bundle with `recaudit import`",
)
