"""The ``coldstart`` family: a content encoder into the collaborative space and blended item embeddings.

* :mod:`.config`: :class:`ColdStartConfig` (the MF fields, the encoder's, the blend schedule).
* :mod:`.features`: item descriptions -> features (TF-IDF + truncated SVD, or MiniLM; category, provider,
  domain).
* :mod:`.encoder`: :class:`ContentEncoder`, the calibrated ridge map into the collaborative item space.
* :mod:`.blend`: blended embeddings by interaction count; the learned gate.
* :mod:`.trained`, :mod:`.family`: :class:`TrainedColdStart` and the registry entry.
"""

from recaudit.models.coldstart.config import ColdStartConfig
from recaudit.models.coldstart.trained import TrainedColdStart

__all__ = ["ColdStartConfig", "TrainedColdStart"]
