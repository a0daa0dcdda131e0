"""recaudit import: every accepted format, ids from each source, and refusal of unsafe or bad files."""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.numpy import save_file

from recaudit.bundle import load_bundle, save_bundle
from recaudit.bundle.importers import import_embeddings, load_embeddings
from recaudit.errors import RecauditInputError

RNG = np.random.default_rng(7)
USERS = RNG.normal(size=(5, 3)).astype(np.float32)
ITEMS = RNG.normal(size=(4, 3)).astype(np.float32)


def test_npy_with_id_files_and_metadata(tmp_path: Path) -> None:
    np.save(tmp_path / "u.npy", USERS)
    np.save(tmp_path / "i.npy", ITEMS)
    (tmp_path / "uids.txt").write_text("\n".join(f"user{i}" for i in range(5)) + "\n")
    pd.DataFrame({"item_id": list("abcd")}).to_csv(tmp_path / "iids.csv", index=False)
    pd.DataFrame({"item_id": ["a", "b"], "title": ["A", "B"], "category": ["x", "y|z"]}).to_csv(
        tmp_path / "items.csv", index=False
    )
    pd.DataFrame(
        {"user_id": ["user0", "user0", "ghost"], "item_id": ["a", "b", "a"], "timestamp": [1, 2, 3]}
    ).to_csv(tmp_path / "train.csv", index=False)
    bundle = import_embeddings(
        tmp_path / "u.npy", tmp_path / "i.npy",
        user_ids=tmp_path / "uids.txt", item_ids=tmp_path / "iids.csv",
        items=tmp_path / "items.csv", interactions=tmp_path / "train.csv",
    )
    save_bundle(bundle, tmp_path / "bundle")
    loaded = load_bundle(tmp_path / "bundle")
    np.testing.assert_array_equal(loaded.user_emb, USERS)
    assert loaded.user_ids.tolist() == [f"user{i}" for i in range(5)]
    assert loaded.items["title"].tolist()[:2] == ["A", "B"]
    assert loaded.manifest["data"]["items_without_metadata"] == 2
    assert loaded.manifest["data"]["train_rows_dropped_unknown_ids"] == 1
    assert loaded.seen.sum() == 2


def test_safetensors_state_dict_picks_user_and_item_tensors(tmp_path: Path) -> None:
    save_file({"user_emb.weight": USERS, "item_emb.weight": ITEMS, "bias": np.zeros(4, np.float32)},
              str(tmp_path / "model.safetensors"))
    bundle = import_embeddings(tmp_path / "model.safetensors", tmp_path / "model.safetensors")
    np.testing.assert_array_equal(bundle.item_emb, ITEMS)
    assert bundle.user_ids.tolist() == ["0", "1", "2", "3", "4"]


def test_torch_state_dict_with_explicit_keys(tmp_path: Path) -> None:
    torch.save({"a": torch.from_numpy(USERS), "b": torch.from_numpy(ITEMS)}, tmp_path / "m.pt")
    with pytest.raises(RecauditInputError, match="--user-key"):
        import_embeddings(tmp_path / "m.pt", tmp_path / "m.pt")
    bundle = import_embeddings(tmp_path / "m.pt", tmp_path / "m.pt", user_key="a", item_key="b")
    np.testing.assert_array_equal(bundle.user_emb, USERS)


def test_parquet_with_id_and_list_column(tmp_path: Path) -> None:
    table = pa.table({"item_id": ["x", "y", "z", "w"], "embedding": [list(map(float, r)) for r in ITEMS]})
    pq.write_table(table, tmp_path / "items.parquet")
    np.save(tmp_path / "u.npy", USERS)
    bundle = import_embeddings(tmp_path / "u.npy", tmp_path / "items.parquet")
    assert bundle.item_ids.tolist() == ["x", "y", "z", "w"]
    np.testing.assert_allclose(bundle.item_emb, ITEMS)


class _Evil:
    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (Path(MARKER),))


MARKER = ""


def test_malicious_torch_file_runs_no_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    global MARKER
    MARKER = str(tmp_path / "pwned")
    torch.save({"user": torch.zeros(2, 2), "x": _Evil()}, tmp_path / "evil.pt")
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # must not re-enable pickle
    with pytest.raises(RecauditInputError, match="executable objects"):
        load_embeddings(tmp_path / "evil.pt", "user")
    assert not Path(MARKER).exists()


def test_pickle_and_legacy_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "e.pkl").write_bytes(pickle.dumps(USERS))
    with pytest.raises(RecauditInputError, match="pickle files are refused"):
        load_embeddings(tmp_path / "e.pkl", "user")
    (tmp_path / "legacy.pt").write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(RecauditInputError, match="legacy pickle formats are refused"):
        load_embeddings(tmp_path / "legacy.pt", "user")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(RecauditInputError, match="not a plain numeric .npy"):
        load_embeddings(tmp_path / "obj.npy", "user")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"\x00" * 40, "not a readable safetensors file"),
    ],
)
def test_broken_safetensors(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "x.safetensors").write_bytes(content)
    with pytest.raises(RecauditInputError, match=message):
        load_embeddings(tmp_path / "x.safetensors", "item")


def test_truncated_torch_checkpoint(tmp_path: Path) -> None:
    torch.save({"user": torch.zeros(3, 2)}, tmp_path / "t.pt")
    data = (tmp_path / "t.pt").read_bytes()
    (tmp_path / "t.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(RecauditInputError, match="not a PyTorch zip checkpoint|not a readable PyTorch"):
        load_embeddings(tmp_path / "t.pt", "user")


def test_shape_dim_nan_and_id_count_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "u.npy", USERS)
    np.save(tmp_path / "i2.npy", ITEMS[:, :2])
    with pytest.raises(RecauditInputError, match="item dim 2 != user dim 3"):
        import_embeddings(tmp_path / "u.npy", tmp_path / "i2.npy")
    bad = ITEMS.copy()
    bad[2, 0] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    with pytest.raises(RecauditInputError, match="1 rows with NaN or infinite values"):
        import_embeddings(tmp_path / "u.npy", tmp_path / "inf.npy")
    np.save(tmp_path / "i.npy", ITEMS)
    (tmp_path / "ids.txt").write_text("a\nb\n")
    with pytest.raises(RecauditInputError, match="2 item ids for 4 embedding rows"):
        import_embeddings(tmp_path / "u.npy", tmp_path / "i.npy", item_ids=tmp_path / "ids.txt")
    (tmp_path / "dupes.txt").write_text("a\nb\na\nc\n")
    with pytest.raises(RecauditInputError, match="duplicate item ids"):
        import_embeddings(tmp_path / "u.npy", tmp_path / "i.npy", item_ids=tmp_path / "dupes.txt")
    np.save(tmp_path / "vec.npy", np.ones(4, np.float32))
    with pytest.raises(RecauditInputError, match="non-empty 2-D table"):
        import_embeddings(tmp_path / "u.npy", tmp_path / "vec.npy")
