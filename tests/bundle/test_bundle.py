"""Bundles: round trip, validation of every part, atomic and non-destructive writes."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import FORMAT_VERSION, Bundle, list_bundles, load_bundle, make_manifest, save_bundle
from recaudit.errors import RecauditInputError
from recaudit.scoring import ExactScorer


def _bundle(n_users: int = 6, n_items: int = 9, dim: int = 4, seed: int = 0) -> Bundle:
    rng = np.random.default_rng(seed)
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(n_users)]})
    items = pd.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(n_items)],
            "title": [f"Item {i}" for i in range(n_items)],
            "category": ["A|B" if i % 2 else "C" for i in range(n_items)],
            "domain": ["movies" if i < n_items // 2 else "books" for i in range(n_items)],
        }
    )
    train = pd.DataFrame(
        {"user_id": ["u0", "u0", "u1"], "item_id": ["i0", "i1", "i0"], "timestamp": [1, 2, 3]}
    )
    test = pd.DataFrame({"user_id": ["u0"], "item_id": ["i2"], "timestamp": [4]})
    return Bundle(
        users=users,
        items=items,
        user_emb=rng.normal(size=(n_users, dim)).astype(np.float32),
        item_emb=rng.normal(size=(n_items, dim)).astype(np.float32),
        item_bias=rng.normal(size=n_items).astype(np.float32),
        train=train,
        test=test,
        manifest=make_manifest(kind="test", score="dot", dim=dim, config={"dim": dim}),
    )


def test_round_trip_gives_identical_scores(tmp_path: Path) -> None:
    original = _bundle()
    save_bundle(original, tmp_path / "b")
    loaded = load_bundle(tmp_path / "b")
    np.testing.assert_array_equal(loaded.user_emb, original.user_emb)
    np.testing.assert_array_equal(loaded.item_emb, original.item_emb)
    np.testing.assert_array_equal(loaded.item_bias, original.item_bias)
    assert loaded.items.equals(original.items)
    assert loaded.domains == ["books", "movies"]
    assert loaded.seen.toarray()[0, :2].tolist() == [1, 1]
    assert loaded.item_popularity[:2].tolist() == [2, 1]
    a = ExactScorer(original.user_emb, original.item_emb, original.user_ids, original.item_ids,
                    item_bias=original.item_bias, seen=original.seen).recommend(["u0", "u3"], k=5)
    b = ExactScorer(loaded.user_emb, loaded.item_emb, loaded.user_ids, loaded.item_ids,
                    item_bias=loaded.item_bias, seen=loaded.seen).recommend(["u0", "u3"], k=5)
    np.testing.assert_array_equal(a.item_index, b.item_index)
    np.testing.assert_array_equal(a.scores, b.scores)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["n_items"] == 9
    assert set(manifest["files"]) == {
        "embeddings.safetensors", "users.parquet", "items.parquet",
        "interactions/train.parquet", "interactions/test.parquet",
    }
    assert list_bundles(tmp_path) == [tmp_path / "b"]


def test_refuses_to_overwrite_without_force_and_keeps_non_bundles(tmp_path: Path) -> None:
    save_bundle(_bundle(seed=1), tmp_path / "b")
    with pytest.raises(RecauditInputError, match="already exists"):
        save_bundle(_bundle(seed=2), tmp_path / "b")
    save_bundle(_bundle(seed=2), tmp_path / "b", overwrite=True)
    np.testing.assert_array_equal(load_bundle(tmp_path / "b").user_emb, _bundle(seed=2).user_emb)
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    with pytest.raises(RecauditInputError, match="not a recaudit bundle"):
        save_bundle(_bundle(), precious, overwrite=True)
    assert (precious / "thesis.txt").read_text() == "do not delete"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp dirs left


def test_failed_save_leaves_previous_bundle_intact(tmp_path: Path) -> None:
    save_bundle(_bundle(seed=1), tmp_path / "b")
    broken = _bundle(seed=3)
    broken.item_bias = np.zeros(3, dtype=np.float32)  # wrong length
    with pytest.raises(RecauditInputError, match="item_bias has shape"):
        save_bundle(broken, tmp_path / "b", overwrite=True)
    np.testing.assert_array_equal(load_bundle(tmp_path / "b").user_emb, _bundle(seed=1).user_emb)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_bundle(_bundle(), tmp_path / "b")


def _rewrite_manifest(path: Path, **changes: object) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(changes)
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_flipped_bytes_fail_the_checksum(saved: Path) -> None:
    target = saved / "embeddings.safetensors"
    data = bytearray(target.read_bytes())
    data[-3] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(RecauditInputError, match="sha256 does not match"):
        load_bundle(saved)


def test_truncated_file_is_named(saved: Path) -> None:
    target = saved / "items.parquet"
    target.write_bytes(target.read_bytes()[:50])
    with pytest.raises(RecauditInputError, match="items.parquet.*truncated"):
        load_bundle(saved)


@pytest.mark.parametrize("evil", ["../outside.parquet", "/etc/passwd", "interactions/../../x"])
def test_paths_leaving_the_bundle_are_refused(saved: Path, evil: str) -> None:
    manifest = json.loads((saved / "manifest.json").read_text())
    manifest["files"][evil] = {"sha256": "0" * 64}
    (saved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RecauditInputError, match="leaves the bundle directory"):
        load_bundle(saved)


def test_symlink_escaping_the_bundle_is_refused(saved: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.parquet"
    shutil.copy(saved / "users.parquet", outside)
    (saved / "users.parquet").unlink()
    (saved / "users.parquet").symlink_to(outside)
    with pytest.raises(RecauditInputError, match="leaves the bundle directory"):
        load_bundle(saved)


def test_newer_format_and_foreign_manifest(saved: Path) -> None:
    _rewrite_manifest(saved, format_version=FORMAT_VERSION + 1)
    with pytest.raises(RecauditInputError, match="newer than this recaudit supports"):
        load_bundle(saved)
    _rewrite_manifest(saved, format="something-else", format_version=1)
    with pytest.raises(RecauditInputError, match="not a recaudit bundle manifest"):
        load_bundle(saved)
    (saved / "manifest.json").write_text("{not json")
    with pytest.raises(RecauditInputError, match="not valid JSON"):
        load_bundle(saved)


def test_missing_manifest_and_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(RecauditInputError, match="bundle not found"):
        load_bundle(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecauditInputError, match="manifest.json is missing"):
        load_bundle(tmp_path / "empty")


def _resave_embeddings(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Replace the embeddings and fix the checksum, so only the content check can catch it."""
    import hashlib

    from safetensors.numpy import save_file

    target = path / "embeddings.safetensors"
    save_file(tensors, str(target))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["embeddings.safetensors"] = {
        "sha256": hashlib.sha256(target.read_bytes()).hexdigest(), "bytes": target.stat().st_size
    }
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_nan_vectors_are_refused_with_their_ids(saved: Path) -> None:
    b = _bundle()
    item = b.item_emb.copy()
    item[4, 1] = np.nan
    _resave_embeddings(saved, {"user": b.user_emb, "item": item, "item_bias": b.item_bias})
    with pytest.raises(RecauditInputError, match=r"item embeddings has 1 rows with NaN.*i4"):
        load_bundle(saved)


def test_shapes_must_match_the_id_tables(saved: Path) -> None:
    b = _bundle()
    _resave_embeddings(saved, {"user": b.user_emb[:4], "item": b.item_emb[:, :3]})
    with pytest.raises(RecauditInputError) as info:
        load_bundle(saved)
    assert "user dim 4 != item dim 3" in str(info.value)
    assert "user table has 4 rows but users.parquet has 6 ids" in str(info.value)


def test_item_map_round_trip_and_validation(tmp_path: Path) -> None:
    bundle = _bundle()
    xy = np.arange(18, dtype=np.float32).reshape(9, 2)
    bundle.item_map = pd.DataFrame({"item_id": bundle.item_ids, "x": xy[:, 0], "y": xy[:, 1]})
    save_bundle(bundle, tmp_path / "b")
    loaded = load_bundle(tmp_path / "b")
    assert "projection/items.parquet" in loaded.manifest["files"]
    np.testing.assert_array_equal(loaded.item_map[["x", "y"]].to_numpy(), xy)
    shuffled = _bundle()
    shuffled.item_map = bundle.item_map.iloc[::-1].reset_index(drop=True)
    with pytest.raises(RecauditInputError, match="item map ids differ"):
        save_bundle(shuffled, tmp_path / "c")


def test_failure_mid_write_keeps_the_old_bundle_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import recaudit.bundle.io as bundle_module

    save_bundle(_bundle(seed=1), tmp_path / "b")
    before = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir() if p.is_file()}
    real_write = bundle_module._write_parquet

    def fail_on_items(frame: pd.DataFrame, path: Path) -> None:
        if path.name == "items.parquet":  # embeddings and users are already written by now
            raise OSError("disk full")
        real_write(frame, path)

    monkeypatch.setattr(bundle_module, "_write_parquet", fail_on_items)
    with pytest.raises(OSError, match="disk full"):
        save_bundle(_bundle(seed=2), tmp_path / "b", overwrite=True)
    after = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir() if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["b"]
