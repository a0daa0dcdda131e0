"""The ``imported`` family passes the model-family contract (tests/contracts.py).

It cannot train, so its models come the way real ones do: tables trained elsewhere (here a PureSVD of the
training matrix, Cremonesi et al. 2010, by ARPACK from a fixed start vector, so it is deterministic) saved
to a file and read by ``recaudit import``.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import save_file
from scipy.sparse.linalg import svds

from recaudit.bundle.importers import import_embeddings
from recaudit.models import MODEL_KINDS, TrainedModel
from recaudit.models.imported import ImportedConfig
from tests.contracts import ModelFamilyContract, seen_matrix


def pure_svd_import(train: pd.DataFrame, config: ImportedConfig, tmp: Path, rank: int = 32) -> TrainedModel:
    """Factorise the users x items matrix at ``rank``, save both tables in one .safetensors file under the
    config's tensor names, and import them."""
    users, items = np.sort(train["user_id"].unique()), np.sort(train["item_id"].unique())
    matrix = seen_matrix(train, users, items).astype(np.float64)
    rank = min(rank, min(matrix.shape) - 1)
    u, s, vt = svds(matrix, k=rank, v0=np.full(min(matrix.shape), 1 / np.sqrt(min(matrix.shape))))
    tmp.mkdir(parents=True, exist_ok=True)
    tables = {config.user_key: u * s, config.item_key: vt.T}
    tensors = {key: np.ascontiguousarray(value, np.float32) for key, value in tables.items()}
    save_file(tensors, str(tmp / "t.safetensors"))
    (tmp / "users.txt").write_text("\n".join(users) + "\n")
    (tmp / "items.txt").write_text("\n".join(items) + "\n")
    bundle = import_embeddings(
        tmp / "t.safetensors", tmp / "t.safetensors", user_ids=tmp / "users.txt", item_ids=tmp / "items.txt",
        user_key=config.user_key, item_key=config.item_key,
    )  # fmt: skip
    return MODEL_KINDS["imported"].from_bundle(bundle)


class TestImportedContract(ModelFamilyContract):
    kind = "imported"
    config = ImportedConfig(user_key="user_vectors", item_key="item_vectors")
    recall_band = (0.21, 0.29)  # measured 0.246 (PureSVD, rank 32); popularity 0.120

    @classmethod
    def fit(cls, train: pd.DataFrame, config: ImportedConfig, tmp: Path) -> TrainedModel:
        return pure_svd_import(train, config, tmp)
