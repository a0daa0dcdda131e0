"""``recaudit recommend BUNDLE --all-users --engine spark --out DIR``: the same lists as in memory, on a
bundle trained on the sample world, and the partition kernel on its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import Bundle, load_bundle
from recaudit.cli import main
from recaudit.metrics.engines.backends import Engine
from recaudit.scoring.partition import BLOCK, score_blocks
from recaudit.workflows.train import train_bundle

SAMPLE = Path(__file__).resolve().parents[3] / "sample_data"


@pytest.fixture(scope="module")
def sample_world_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample world's collaborative model (a short run: the lists, not its quality, are tested)."""
    out = tmp_path_factory.mktemp("spark") / "bundle"
    train_bundle(
        SAMPLE / "interactions.parquet", items=SAMPLE / "items.parquet", out=out, progress=None,
        item_map="none", content="none", overrides={"epochs": 1, "valid_fraction": 0.0},
    )  # fmt: skip
    return out


def _memory_lists(bundle: Bundle, k: int) -> pd.DataFrame:
    scorer = bundle.exact_scorer("cpu")
    frames = [batch.to_frame() for batch in scorer.iter_recommend_all(k)]
    return pd.concat(frames, ignore_index=True)


def test_the_kernel_scores_whole_blocks_as_the_in_memory_batches(sample_world_bundle: Path) -> None:
    bundle = load_bundle(sample_world_bundle)
    scorer = bundle.exact_scorer("cpu")
    want = _memory_lists(bundle, 10)
    blocks = np.arange(-(-bundle.user_emb.shape[0] // BLOCK))[::-1]  # any order of blocks
    got = score_blocks(blocks, scorer, 10).sort_values(["user_id", "rank"]).reset_index(drop=True)
    want = want.sort_values(["user_id", "rank"]).reset_index(drop=True)
    assert len(got) == len(want) == 10 * len(bundle.user_ids)
    pd.testing.assert_frame_equal(got, want.astype({"rank": np.int32, "score": np.float32}))


def test_recommend_on_spark_writes_the_in_memory_lists(
    spark_engine: Engine, sample_world_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lists"
    code = main(
        [
            "recommend",
            str(sample_world_bundle),
            "--all-users",
            "-k",
            "10",
            "--engine",
            "spark",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    parts = sorted(out.glob("*.parquet"))
    assert len(parts) >= 1 and not list(tmp_path.glob(".lists.tmp-*"))
    got = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    got = got.sort_values(["user_id", "rank"]).reset_index(drop=True)
    want = (
        _memory_lists(load_bundle(sample_world_bundle), 10)
        .sort_values(["user_id", "rank"])
        .reset_index(drop=True)
    )
    assert got["user_id"].tolist() == want["user_id"].tolist()
    assert got["item_id"].tolist() == want["item_id"].tolist()
    assert got["rank"].tolist() == want["rank"].tolist()
    np.testing.assert_array_equal(got["score"].to_numpy(np.float32), want["score"].to_numpy(np.float32))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--user", "u1"], "scores --all-users only"),
        (["--all-users"], "writes a folder of parquet parts"),
    ],
)
def test_spark_recommend_misuse_is_one_line(
    extra: list[str], message: str, sample_world_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["recommend", str(sample_world_bundle), *extra, "--engine", "spark"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
