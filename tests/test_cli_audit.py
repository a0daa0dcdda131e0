"""recaudit metrics (any log, no bundle) and recaudit audit (bundle, gates) from the command line."""

import json
from pathlib import Path

import pandas as pd
import pytest

from recaudit.cli import main
from recaudit.errors import RecauditInputError
from recaudit.metrics import AuditInputs, evaluate
from recaudit.workflows.gates import check_gates, parse_gate


def _log(tmp_path: Path) -> dict[str, Path]:
    pd.DataFrame(
        [("a", "i1", 1, 0.9), ("a", "i2", 2, 0.5), ("b", "i1", 1, 0.8), ("b", "i3", 2, 0.1)],
        columns=["user_id", "item_id", "rank", "score"],
    ).to_csv(tmp_path / "recs.csv", index=False)
    pd.DataFrame({"user_id": ["a", "b", "b"], "item_id": ["i4", "i4", "i1"]}).to_csv(
        tmp_path / "train.csv", index=False
    )
    pd.DataFrame({"user_id": ["a", "b"], "item_id": ["i2", "i9"]}).to_parquet(tmp_path / "test.parquet")
    pd.DataFrame(
        {"item_id": ["i1", "i2", "i3", "i4"], "category": ["x", "x|y", "y", "z"], "provider": list("PPQQ")}
    ).to_csv(tmp_path / "items.csv", index=False)
    return {name: tmp_path / f for name, f in
            [("recs", "recs.csv"), ("train", "train.csv"), ("test", "test.parquet"), ("items", "items.csv")]}


def test_metrics_json_has_every_metric_name_and_groups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _log(tmp_path)
    code = main(["metrics", "--recs", str(f["recs"]), "--train", str(f["train"]), "--test", str(f["test"]),
                 "--items", str(f["items"]), "--k", "2", "--format", "json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    for name in ("ndcg@2", "recall@2", "gini@2", "exposure_gini@2", "coverage@2", "aplt@2", "arp@2",
                 "novelty@2", "personalization@2", "entropy@2", "ild_category@2", "miscalibration@2",
                 "serendipity_category@2", "exposure_disparity[provider]@2"):
        assert name in data, name
    # a: 1 of 1 relevant; b: its test item is not in the catalogue
    assert data["recall@2"] == pytest.approx(0.5)
    assert data["coverage@2"] == pytest.approx(0.75)
    assert {"users", "items", "popularity_lift"} <= set(data["groups"])
    assert "provider@2" in data["groups"]["items"]


def test_metrics_table_without_test_lists_what_is_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _log(tmp_path)
    assert main(["metrics", "--recs", str(f["recs"]), "--train", str(f["train"]), "--k", "2", "--no-ci"]) == 0
    out = capsys.readouterr().out
    assert "gini@2" in out and "ndcg@2" in out and "needs test" in out


def test_metrics_bad_recs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _log(tmp_path)
    (tmp_path / "bad.csv").write_text("user_id,item_id\na,i1\n")
    assert main(["metrics", "--recs", str(tmp_path / "bad.csv"), "--train", str(f["train"])]) == 2
    err = capsys.readouterr().err
    assert "missing column(s) ['rank']" in err and len(err.strip().splitlines()) == 1


def test_gates_parse_and_fail() -> None:
    assert str(parse_gate("gini@10 > 0.9")) == "gini@10>0.9"
    with pytest.raises(RecauditInputError, match="METRIC@K OP NUMBER"):
        parse_gate("gini > lots")
    frames = {k: pd.read_csv(v) if v.suffix == ".csv" else pd.read_parquet(v)
              for k, v in _log(Path(__import__("tempfile").mkdtemp())).items()}
    inputs = AuditInputs.from_frames(
        frames["recs"], frames["train"], test=frames["test"], items=frames["items"]
    )
    result = evaluate(inputs, ["gini@2", "ndcg@2"], ci=False)
    gates = [parse_gate("gini@2>0.1"), parse_gate("ndcg@2<0.0"), parse_gate("ild@2>0")]
    failures = check_gates(result, gates)
    assert len(failures) == 2
    assert failures[0].startswith("gini@2>0.1: gini@2 = 0.375")
    assert "ild@2 is unavailable" in failures[1]


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.test_cli import _world

    tmp = tmp_path_factory.mktemp("audit")
    inter, items = _world(tmp)
    assert main(["train", str(inter), "--items", str(items), "--out", str(tmp / "b"), "--dim", "8",
                 "--epochs", "3", "--quiet", "--map", "none"]) == 0
    return tmp / "b"


def test_audit_writes_json_and_fails_a_gate_on_demand(
    bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "audit.json"
    assert main(["audit", str(bundle_dir), "--k", "5", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert "ndcg@5" in data and data["info"]["model"]["kind"] == "mf"
    assert data["info"]["model"]["train_fingerprint"]
    capsys.readouterr()
    assert main(["audit", str(bundle_dir), "--k", "5", "--fail-on", "coverage@5<=1.0"]) == 1
    err = capsys.readouterr().err
    assert "gate failed: coverage@5<=1" in err


def test_audit_with_reranking_changes_the_lists(bundle_dir: Path, tmp_path: Path) -> None:
    base, mmr = tmp_path / "base.json", tmp_path / "mmr.json"
    assert main(["audit", str(bundle_dir), "--k", "5", "--json", str(base)]) == 0
    assert main(["audit", str(bundle_dir), "--k", "5", "--rerank", "mmr:1", "--json", str(mmr)]) == 0
    a, b = json.loads(base.read_text()), json.loads(mmr.read_text())
    assert b["info"]["rerank"] == "mmr:1"
    assert b["ild@5"] > a["ild@5"]


def test_audit_html_report_and_embedding_health(bundle_dir: Path, tmp_path: Path) -> None:
    html, out = tmp_path / "r.html", tmp_path / "r.json"
    assert main(["audit", str(bundle_dir), "--k", "5", "--html", str(html), "--json", str(out)]) == 0
    page = html.read_text()
    assert "ndcg@5" in page and "Embedding health" in page and "Lorenz" in page
    data = json.loads(out.read_text())
    assert set(data["info"]["embedding"]) >= {"hubness", "anisotropy", "effective_dimensionality"}


def test_metrics_json_popularity_groups_on_ml_latest_small_match_pandas(
    shared_datasets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the real audit log 144 of 610 users share a head share of 1.0: every group still holds its
    round(0.2·n) users, ranked by (head share, user id as a string), as an independent pandas run says."""
    d = shared_datasets / "ml-latest-small-audit"
    code = main(["metrics", "--recs", str(d / "recs.csv"), "--train", str(d / "train.csv"),
                 "--test", str(d / "test.csv"), "--items", str(d / "items.csv"), "--format", "json",
                 "--no-ci"])
    assert code == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    lift = pd.DataFrame(groups["popularity_lift"]["popularity_lift@10"])
    # independently: head = most popular items (ties by id) holding >= 80% of training interactions
    train = pd.read_csv(d / "train.csv", dtype={"user_id": str, "item_id": str})
    items = pd.read_csv(d / "items.csv", dtype={"item_id": str})
    phi = train.groupby("item_id").size().reindex(items["item_id"], fill_value=0)
    ranked = phi.reset_index(name="n").sort_values(["n", "item_id"], ascending=[False, True])
    head_size = int((ranked["n"].cumsum() < 0.8 * phi.sum()).sum()) + 1
    head = set(ranked["item_id"].iloc[:head_size])
    seen = train[["user_id", "item_id"]].drop_duplicates()
    share = seen["item_id"].isin(head).groupby(seen["user_id"]).mean()
    assert (share == 1.0).sum() > 0.2 * len(share)  # the tie the rule must split
    order = share.reset_index(name="share").sort_values(["share", "user_id"])["user_id"].tolist()
    cut = round(0.2 * len(order))
    group = {u: "niche" for u in order[:cut]} | {u: "blockbuster" for u in order[-cut:]}
    group = {u: group.get(u, "diverse") for u in order}
    users_i = seen.groupby("item_id")["user_id"].nunique() / seen["user_id"].nunique()
    profile = seen.assign(p=seen["item_id"].map(users_i)).groupby("user_id")["p"].mean()
    expected = profile.groupby(pd.Series(group)).agg(["size", "mean"])
    got = lift.set_index("group")
    for name in ("niche", "diverse", "blockbuster"):
        assert got.loc[name, "n_users"] == expected.loc[name, "size"]
        assert got.loc[name, "gap_profile"] == pytest.approx(expected.loc[name, "mean"])
    assert got.loc["niche", "n_users"] == got.loc["blockbuster", "n_users"] == cut == 122
