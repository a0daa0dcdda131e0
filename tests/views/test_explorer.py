"""The User explorer's and Overview's table helpers, by hand and without Streamlit."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recaudit.bundle import load_bundle
from recaudit.views import explorer as explore
from recaudit.views.modelcard import model_card_table


def test_overlap_and_list_changes_by_hand() -> None:
    assert explore.overlap(["a", "b", "c"], ["b", "c", "d", "e"]) == (2, 2 / 5)
    assert explore.overlap([], []) == (0, 0.0)
    assert explore.list_changes(["a", "b", "c"], ["c", "d", "a", "e"]) == (["d", "e"], ["b"])


def test_filter_ids_and_search_items(tiny_bundle_dir: Path) -> None:
    assert explore.filter_ids(["u1", "U12", "x2"], "u1") == ["u1", "U12"]
    assert explore.filter_ids(["u1", "U12", "x2"], "  ", limit=2) == ["u1", "U12"]
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    assert explore.search_items(bundle, "title i0", limit=3) == ["i00", "i01", "i02"]
    assert explore.search_items(bundle, "") == []


def test_evaluation_frame_orders_by_k_then_headline_metric() -> None:
    evaluation = {
        "model": {"recall@20": 0.4, "ndcg@10": 0.2, "recall@10": 0.3, "mrr@10": 0.5},
        "popularity": {"recall@20": 0.2, "ndcg@10": 0.1, "recall@10": 0.15},
    }
    table = explore.evaluation_frame(evaluation)
    assert table.index.tolist() == ["recall@10", "ndcg@10", "mrr@10", "recall@20"]
    assert table["model"].tolist() == [0.3, 0.2, 0.5, 0.4]
    assert table["popularity"].tolist()[:2] == [0.15, 0.1] and np.isnan(table["popularity"].iloc[2])


def test_model_card_lists_training_settings(tiny_bundle_dir: Path) -> None:
    card = model_card_table(load_bundle(tiny_bundle_dir / "alpha")).set_index("field")["value"]
    assert card["model kind"] == "random"
    assert card["best epoch"] == "3" and card["epochs run"] == "5"
    assert card["training device"] == "cpu"
    assert "history" not in card.index
    assert card["training time (s)"] == "1.25"
    assert len(card["training data fingerprint (sha256)"]) == 64
    assert "torch" in card["library versions"]


def test_edit_history_by_hand() -> None:
    assert explore.edit_history(["a", "b", "c"], ["b"], ["d", "a", "d"]) == ["a", "c", "d"]
    assert explore.edit_history(["a"], ["a"], []) == []


def test_the_model_card_says_how_a_coldstart_bundle_blends() -> None:
    from recaudit.views.modelcard import coldstart_summary

    learned = {"training": {"coldstart": {
        "content": "tfidf", "n_items": 3000, "n_content_only": 150, "prior_strength": 0.0,
        "newcomer_prior": 2.0, "weights": [1.0, 0.8, 0.5, 0.2],
    }}}  # fmt: skip
    assert coldstart_summary(learned) == (
        "tfidf content encoder; 150 of 3,000 items from content alone; blend learned: trained items "
        "collaborative alone, newcomers w(n) = 2 / (2 + n)"
    )
    schedule = {"training": {"coldstart": {"content": "minilm", "weights": [1.0, 0.8, 0.5, 0.2],
                                            "learned_fallback": "too few users"}}}  # fmt: skip
    assert coldstart_summary(schedule) == (
        "minilm content encoder; blend schedule 100%/80%/50%/20% content by bucket "
        "(n = 0 | 1-10 | 11-50 | 51+) (too few users)"
    )
    assert coldstart_summary({"training": {"best_epoch": 3}}) is None


def test_the_model_card_names_the_session_encoder_and_its_gate() -> None:
    from recaudit.views.modelcard import session_summary

    manifest = {"training": {"session": {
        "encoder": "gru", "train_sessions": 35000, "best_epoch": 2, "epochs_run": 5,
        "fusion": "learned gate, session weight by length (1: 0.4, 2: 0.5)",
    }}}  # fmt: skip
    assert session_summary(manifest) == (
        "GRU4Rec encoder on 35,000 sessions, best epoch 2 of 5; learned gate, session weight by length "
        "(1: 0.4, 2: 0.5)"
    )
    assert session_summary({"training": {"best_epoch": 3}}) is None
