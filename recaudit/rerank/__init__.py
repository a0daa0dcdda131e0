"""Re-ranking of candidate lists: MMR, calibrated, popularity-aware (xQuAD) and exposure-fair.

Each re-ranker re-orders, for every user, a list of candidates sorted by a base score, trading relevance
against its own gain term with a weight λ in [0, 1]; all of them run on the one greedy, batch-vectorised
framework of :mod:`recaudit.rerank.greedy`, whose docstring states the conventions they share (score
normalisation, ties, padding, memory). :data:`RERANKERS` is the one registry: :func:`parse_spec` knows a
name because it is there, and :func:`rerank` hands each re-ranker the named inputs its entry declares. Use
:func:`rerank` with a spec such as ``"mmr:0.3"`` to pick a re-ranker by name; ``"none"`` is :func:`top_k`,
the base ranking through the same checks.

Modules: ``greedy`` (the framework, checks, normalisation, shared helpers), then one re-ranker per file:
``mmr``, ``calibrated``, ``popularity_aware``, ``exposure_fair``. Their public functions are re-exported
here; note that ``recaudit.rerank.mmr`` (and the others) name the *function* once this package is imported,
so reach a module's private parts with ``from recaudit.rerank.mmr import _MMRState``, not
``import recaudit.rerank.mmr as m``.

Adding a re-ranker
------------------
1. ``recaudit/rerank/<name>.py``: a gain state (``gain(t)`` / ``update(t, pos, ok)``, the
   :class:`~recaudit.rerank.greedy.GainState` protocol) and a public function
   ``<name>(candidates, scores, <inputs...>, k, lambda_, **options: Unpack[RunOptions])`` that checks
   its own inputs (``RecauditInputError`` with ``greedy.SOURCE``) and returns
   :func:`~recaudit.rerank.greedy.run_greedy` with a state factory. The docstring states the exact rule and
   its source, like the four here.
2. Here: import it, add one :data:`RERANKERS` line naming the inputs :func:`rerank` passes it, and add it
   to ``__all__``; name its inputs in :func:`rerank`'s docstring.
3. ``tests/rerank/``: a hand case and a loop reference in ``test_rerank.py``; if it needs an input the
   contract's world lacks, add that input to ``world_inputs`` in ``tests/rerank/contract.py`` (every
   registered re-ranker runs the contract there: λ = 0 is the base ranking, lists are duplicate-free
   subsets of the candidates padded with -1, runs are deterministic).
4. Outside this package: ``recaudit.workflows.audit.rerank_inputs`` builds the inputs from a bundle (a new
   input is computed there); the pages offer the names of ``recaudit.app.audit.RERANKER_LABELS`` (one label
   line); the CLI takes any :func:`parse_spec` name as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Unpack

import numpy as np

from recaudit.errors import RecauditInputError
from recaudit.metrics.lists import RecLists
from recaudit.rerank.calibrated import calibrated, history_distribution
from recaudit.rerank.exposure_fair import exposure_fair
from recaudit.rerank.greedy import (
    DEFAULT_BATCH_SIZE,
    SOURCE,
    NoGain,
    RunOptions,
    check_lambda,
    normalise_scores,
    run_greedy,
)
from recaudit.rerank.mmr import mmr
from recaudit.rerank.popularity_aware import popularity_aware, tail_preference

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "RERANKERS",
    "Reranker",
    "calibrated",
    "exposure_fair",
    "history_distribution",
    "mmr",
    "normalise_scores",
    "parse_spec",
    "popularity_aware",
    "rerank",
    "tail_preference",
    "top_k",
]


@dataclass(frozen=True)
class Reranker:
    """One registered re-ranker: its function and the keyword inputs :func:`rerank` hands it.

    Calling the entry calls the function, so ``RERANKERS["mmr"](cand, scores, emb, 10, 0.3)`` works.
    """

    function: Callable[..., RecLists]
    inputs: tuple[str, ...]
    """Required inputs, by parameter name; :func:`rerank` refuses a spec when one is missing."""
    optional: tuple[str, ...] = ()
    """Inputs passed on when given (the function's default otherwise)."""

    def __call__(self, *args: object, **kwargs: object) -> RecLists:
        """Run the re-ranker."""
        return self.function(*args, **kwargs)


RERANKERS: dict[str, Reranker] = {
    "mmr": Reranker(mmr, ("item_vectors",)),
    "calibrated": Reranker(calibrated, ("history_dist", "categories"), ("alpha",)),
    "popularity_aware": Reranker(popularity_aware, ("head_mask", "user_tail_pref")),
    "exposure_fair": Reranker(exposure_fair, ("membership", "target_share")),
}
"""The re-rankers by spec name: the one list :func:`parse_spec` and :func:`rerank` read."""

_NONE_INPUTS = ("n_items",)
_COMMON = tuple(RunOptions.__annotations__)  # batch_size, user_ids, item_ids


def top_k(
    candidates: np.ndarray,
    scores: np.ndarray,
    n_items: int,
    k: int,
    **options: Unpack[RunOptions],
) -> RecLists:
    """No re-ranking: the first ``k`` valid candidates (the base ranking), through the same validation."""
    return run_greedy(candidates, scores, k, 0.0, n_items, lambda batch, c, valid: NoGain(c.shape), **options)


def parse_spec(spec: str) -> tuple[str, float]:
    """``"mmr:0.3"`` -> ``("mmr", 0.3)``; ``"none"`` -> ``("none", 0.0)``.

    Names are case-insensitive and ``-`` reads as ``_`` (``"popularity-aware:0.5"``).

    Raises:
        RecauditInputError: unknown name, missing or non-numeric λ, λ outside [0, 1].
    """
    name, sep, value = str(spec).strip().partition(":")
    name = name.strip().lower().replace("-", "_")
    known = ", ".join([*RERANKERS, "none"])
    if name not in RERANKERS and name != "none":
        raise RecauditInputError(SOURCE, f"unknown re-ranker {name!r}", f"use one of: {known}")
    if name == "none":
        if sep and value.strip():
            raise RecauditInputError(SOURCE, "re-ranker 'none' takes no λ")
        return name, 0.0
    if not sep or not value.strip():
        raise RecauditInputError(SOURCE, f"re-ranker spec {spec!r} lacks λ", f"write e.g. '{name}:0.3'")
    try:
        lam = float(value)
    except ValueError:
        raise RecauditInputError(
            SOURCE, f"λ in {spec!r} is not a number", f"write e.g. '{name}:0.3'"
        ) from None
    return name, check_lambda(lam)


def rerank(spec: str, candidates: np.ndarray, scores: np.ndarray, k: int, **inputs: object) -> RecLists:
    """Re-rank by spec: ``rerank("mmr:0.3", cand, scores, 10, item_vectors=emb)``.

    ``inputs`` are the named arguments of the chosen re-ranker, as its :data:`RERANKERS` entry declares them
    (``item_vectors`` for mmr; ``history_dist``, ``categories`` and optionally ``alpha`` for calibrated;
    ``head_mask``, ``user_tail_pref`` for popularity_aware; ``membership``, ``target_share`` for
    exposure_fair; ``n_items`` for ``"none"``) plus ``batch_size``, ``user_ids``, ``item_ids``. Inputs the
    chosen re-ranker does not use are ignored, so a caller may pass one dictionary holding everything.

    Raises:
        RecauditInputError: bad spec (see :func:`parse_spec`) or a missing input.
    """
    name, lam = parse_spec(spec)
    entry = RERANKERS.get(name)
    needed = _NONE_INPUTS if entry is None else entry.inputs
    missing = [key for key in needed if inputs.get(key) is None]
    if missing:
        raise RecauditInputError(SOURCE, f"re-ranker {name!r} needs {', '.join(missing)}")
    wanted = (*needed, *(() if entry is None else entry.optional), *_COMMON)
    kwargs = {key: inputs[key] for key in wanted if key in inputs and inputs[key] is not None}
    if entry is None:  # "none"
        return top_k(candidates, scores, k=k, **kwargs)  # type: ignore[arg-type]
    return entry(candidates, scores, k=k, lambda_=lam, **kwargs)
