"""The one registry of model kinds: :data:`MODEL_KINDS`.

``recaudit train --model KIND`` (:func:`recaudit.workflows.train.train_bundle`) and bundle loading
(:func:`recaudit.bundle.load_bundle`, :attr:`recaudit.bundle.Bundle.model`) look a kind up here and
nowhere else. To add a family, write its config class, trained result and train function (see
:mod:`recaudit.models.base`), make a :class:`~recaudit.models.base.ModelFamily`, and add it below; its
test is a subclass of ``tests/contracts.py::ModelFamilyContract``.

This module imports no torch: a family's train function imports what it needs when it runs.
"""

from __future__ import annotations

from recaudit.errors import RecauditInputError
from recaudit.models.base import ModelFamily
from recaudit.models.coldstart.family import COLDSTART_FAMILY
from recaudit.models.crossdomain.family import CROSSDOMAIN_FAMILY
from recaudit.models.imported import IMPORTED_FAMILY
from recaudit.models.mf.family import MF_FAMILY
from recaudit.models.session.family import SESSION_FAMILY

MODEL_KINDS: dict[str, ModelFamily] = {
    MF_FAMILY.kind: MF_FAMILY,
    IMPORTED_FAMILY.kind: IMPORTED_FAMILY,
    COLDSTART_FAMILY.kind: COLDSTART_FAMILY,
    SESSION_FAMILY.kind: SESSION_FAMILY,
    CROSSDOMAIN_FAMILY.kind: CROSSDOMAIN_FAMILY,
}
"""Kind name -> family. The name is what ``--model`` takes and what a manifest's ``model.kind`` holds."""

DEFAULT_KIND = MF_FAMILY.kind


def kind_names() -> list[str]:
    """The registered kinds, sorted."""
    return sorted(MODEL_KINDS)


def model_family(kind: str, source: str | None = None) -> ModelFamily:
    """The family registered as ``kind``.

    Raises:
        RecauditInputError: no family has that name; the message lists the known kinds.
    """
    family = MODEL_KINDS.get(kind) if isinstance(kind, str) else None
    if family is None:
        raise RecauditInputError(
            source, f"unknown model kind {kind!r}", hint=f"known kinds: {', '.join(kind_names())}"
        )
    return family
