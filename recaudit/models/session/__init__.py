"""Session-based recommendation: the strong simple baselines (the ``session`` family's encoders come later).

* :mod:`.baselines`: :class:`LastItemCooccurrence` (sequential rules, Ludewig & Jannach 2018),
  :class:`SessionKNN` (SKNN, Jannach & Ludewig 2017) and :func:`top_k` over their dense score rows.

Nothing here is registered in ``MODEL_KINDS`` yet: these are scoring components a session family and the
session benchmark build on, not a trainable family of their own.
"""

from recaudit.models.session.baselines import LastItemCooccurrence, SessionKNN, top_k

__all__ = ["LastItemCooccurrence", "SessionKNN", "top_k"]
