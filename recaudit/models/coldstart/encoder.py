"""The content encoder: item features -> the collaborative item space, calibrated to its score scale.

**Fit** (CB2CF, Barkan et al. 2019, with a linear map; DropoutNet, Volkovs et al. 2017, makes the same
point that the content side must be trained to reproduce the collaborative vectors): on the warm items
(those with training interactions), a ridge regression from features x_i to the target
y_i = [v_i, b_i] (the learned item vector and, when the model has one, its exported bias):

    W = (Xc^T Xc + alpha I)^-1 Xc^T Yc,   y_hat(x) = (x - mean_x) W + mean_y

(Xc, Yc: centred; closed form, numpy, deterministic).

**Calibrate.** Ridge predictions are shrunk toward the mean item, so their norms and biases are narrower
than the warm items': a content vector scored next to learned vectors would rank on another scale (a
shrunk bias never reaches a top-k, a silent failure; a uniform one floods every list). Calibration maps
each predicted quantity onto the warm items' own distribution by quantile (its rank among the in-sample
predictions of the warm items -> the same quantile of the warm items' real values), for

* the norm of the vector (``dot`` scores; under ``cosine`` every vector is unit length and the direction
  alone scores), and
* the bias.

So a cold item predicted at the 90th percentile of bias among warm predictions gets the 90th percentile of
the warm biases; the calibrated content vectors of the warm items have exactly the warm items' norm and
bias distributions (:func:`calibration_check` in the tests measures how often cold items then reach top-k
lists).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ContentEncoder:
    """A fitted ridge map with its calibration (see the module docstring).

    Attributes:
        weights: ``[F, d (+1)]`` ridge coefficients (the last column predicts the bias when ``has_bias``).
        x_mean, y_mean: the centring of features and targets.
        norm_from, norm_to: sorted in-sample predicted norms of the warm items and their real norms
            (the quantile map of the norm; empty under ``cosine``).
        bias_from, bias_to: the same for the bias (empty without a bias).
        cosine: whether vectors are unit length (the ``cosine`` score).
        has_bias: whether the model has an item bias.
    """

    weights: np.ndarray
    x_mean: np.ndarray
    y_mean: np.ndarray
    norm_from: np.ndarray
    norm_to: np.ndarray
    bias_from: np.ndarray
    bias_to: np.ndarray
    cosine: bool
    has_bias: bool

    @classmethod
    def fit(
        cls, features: np.ndarray, vectors: np.ndarray, bias: np.ndarray | None, *, alpha: float, cosine: bool
    ) -> ContentEncoder:
        """Fit on warm items: ``features [n, F]``, their ``vectors [n, d]`` and ``bias [n]`` (or None)."""
        x = np.asarray(features, np.float64)
        y = np.asarray(vectors, np.float64)
        if bias is not None:
            y = np.hstack([y, np.asarray(bias, np.float64)[:, None]])
        x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
        xc, yc = x - x_mean, y - y_mean
        gram = xc.T @ xc + alpha * np.eye(x.shape[1])
        weights = np.linalg.solve(gram, xc.T @ yc) if x.shape[1] else np.zeros((0, y.shape[1]))
        out = cls(
            weights=weights.astype(np.float32), x_mean=x_mean.astype(np.float32),
            y_mean=y_mean.astype(np.float32), norm_from=np.zeros(0, np.float32),
            norm_to=np.zeros(0, np.float32),
            bias_from=np.zeros(0, np.float32), bias_to=np.zeros(0, np.float32), cosine=cosine,
            has_bias=bias is not None,
        )  # fmt: skip
        raw_vectors, raw_bias = out.predict_raw(features)
        if not cosine:
            out.norm_from = np.sort(np.linalg.norm(raw_vectors, axis=1)).astype(np.float32)
            out.norm_to = np.sort(np.linalg.norm(vectors, axis=1)).astype(np.float32)
        if bias is not None and raw_bias is not None:
            out.bias_from = np.sort(raw_bias).astype(np.float32)
            out.bias_to = np.sort(np.asarray(bias, np.float32))
        return out

    def predict_raw(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The ridge prediction before calibration: ``(vectors [n, d], bias [n] or None)``."""
        y = (np.asarray(features, np.float64) - self.x_mean) @ self.weights + self.y_mean
        if self.has_bias:
            return y[:, :-1].astype(np.float32), y[:, -1].astype(np.float32)
        return y.astype(np.float32), None

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated content vectors ``[n, d]`` (unit rows under ``cosine``) and biases ``[n]`` (or None)."""
        vectors, bias = self.predict_raw(features)
        norms = np.linalg.norm(vectors, axis=1)
        safe = np.where(norms > 0, norms, 1.0)
        if self.cosine:
            target = np.ones_like(norms)
        else:
            target = quantile_map(norms, self.norm_from, self.norm_to)
        vectors = (vectors * (target / safe)[:, None]).astype(np.float32)
        if bias is not None:
            bias = quantile_map(bias, self.bias_from, self.bias_to).astype(np.float32)
        return vectors, bias

    # ---- bundle state -------------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """Arrays for a safetensors file (:meth:`from_state` reads them back)."""
        return {
            "weights": self.weights, "x_mean": self.x_mean, "y_mean": self.y_mean,
            "norm_from": self.norm_from, "norm_to": self.norm_to, "bias_from": self.bias_from,
            "bias_to": self.bias_to, "flags": np.array([self.cosine, self.has_bias]),
        }  # fmt: skip

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray]) -> ContentEncoder:
        flags = np.asarray(arrays["flags"], bool)
        return cls(
            weights=arrays["weights"], x_mean=arrays["x_mean"], y_mean=arrays["y_mean"],
            norm_from=arrays["norm_from"], norm_to=arrays["norm_to"], bias_from=arrays["bias_from"],
            bias_to=arrays["bias_to"], cosine=bool(flags[0]), has_bias=bool(flags[1]),
        )  # fmt: skip


def quantile_map(values: np.ndarray, sorted_from: np.ndarray, sorted_to: np.ndarray) -> np.ndarray:
    """Each value's quantile among ``sorted_from`` mapped to the same quantile of ``sorted_to``
    (linear interpolation; values outside the range clamp to its ends). Identity when empty."""
    values = np.asarray(values, np.float64)
    if len(sorted_from) == 0:
        return values
    if len(sorted_from) == 1:
        return np.full_like(values, float(sorted_to[0]))
    grid = np.linspace(0.0, 1.0, len(sorted_from))
    quantiles = np.interp(values, sorted_from.astype(np.float64), grid)
    return np.interp(quantiles, np.linspace(0.0, 1.0, len(sorted_to)), sorted_to.astype(np.float64))
