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
    assert "ndcg@5" in data and data["info"]["model"]["kind"] == "coldstart"  # the default: --content auto
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


# ------------------------------------------------------------------------------------------- cold start


def test_metrics_table_prints_cold_item_recall_when_a_test_item_is_cold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _log(tmp_path)  # a's test item i2 has no training interactions
    assert main(["metrics", "--recs", str(f["recs"]), "--train", str(f["train"]), "--test", str(f["test"]),
                 "--items", str(f["items"]), "--k", "2", "--no-ci"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert lines["cold_item_recall@2"].split()[1] == "1.0000"  # a gets i2 at rank 2
    assert lines["cold_exposure_share@2"].split()[1] == "0.5000"  # i2, i3 hold 2 of 4 slots
    assert "lists ranked over the cold items only" in lines["cold_item_recall_among_cold@2"]


def test_metrics_table_without_cold_test_items_adds_one_skip_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _log(tmp_path)
    warm = tmp_path / "warm.csv"
    pd.DataFrame({"user_id": ["a", "b"], "item_id": ["i1", "i9"]}).to_csv(warm, index=False)
    assert main(["metrics", "--recs", str(f["recs"]), "--train", str(f["train"]), "--test", str(warm),
                 "--items", str(f["items"]), "--k", "2", "--no-ci"]) == 0
    out = capsys.readouterr().out
    cold = [line for line in out.splitlines() if line.startswith("cold_")]
    assert [line.split()[0] for line in cold] == [
        "cold_item_recall@2", "cold_item_recall_among_cold@2", "cold_exposure_share@2"
    ]
    assert all(line.split()[1] == "n/a" and line.endswith("(needs a test item without training interactions)")
               for line in cold)


@pytest.fixture(scope="module")
def cold_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An imported bundle whose catalogue holds 4 items without training interactions (c0..c3), 2 of them
    in the test set; warm items w0..w7."""
    import numpy as np

    tmp = tmp_path_factory.mktemp("cold")
    rng = np.random.default_rng(0)
    users = [f"u{u}" for u in range(12)]
    items = [f"w{i}" for i in range(8)] + [f"c{i}" for i in range(4)]
    np.save(tmp / "users.npy", rng.normal(size=(len(users), 4)).astype(np.float32))
    np.save(tmp / "items.npy", rng.normal(size=(len(items), 4)).astype(np.float32))
    (tmp / "user_ids.txt").write_text("\n".join(users) + "\n")
    (tmp / "item_ids.txt").write_text("\n".join(items) + "\n")
    pd.DataFrame({"item_id": items, "category": ["x", "y"] * 6}).to_csv(tmp / "items.csv", index=False)
    train = [(u, f"w{(i + j) % 8}", j) for i, u in enumerate(users) for j in range(3)]
    pd.DataFrame(train, columns=["user_id", "item_id", "timestamp"]).to_csv(tmp / "train.csv", index=False)
    test = [(u, f"w{(i + 4) % 8}", 9) for i, u in enumerate(users)]
    test += [(u, f"c{i % 2}", 9) for i, u in enumerate(users[:6])]
    pd.DataFrame(test, columns=["user_id", "item_id", "timestamp"]).to_csv(tmp / "test.csv", index=False)
    assert main(["import", "--user-embeddings", str(tmp / "users.npy"), "--item-embeddings",
                 str(tmp / "items.npy"), "--user-ids", str(tmp / "user_ids.txt"), "--item-ids",
                 str(tmp / "item_ids.txt"), "--items", str(tmp / "items.csv"), "--interactions",
                 str(tmp / "train.csv"), "--test", str(tmp / "test.csv"), "--map", "none",
                 "--out", str(tmp / "b")]) == 0
    return tmp / "b"


def test_audit_of_a_bundle_with_cold_test_items_reports_the_cold_start_section(
    cold_bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html, out = tmp_path / "r.html", tmp_path / "r.json"
    assert main(["audit", str(cold_bundle_dir), "--k", "3", "--html", str(html), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cold_item_recall@3" in printed and "cold_item_recall_among_cold@3" in printed
    data = json.loads(out.read_text())
    # ranked among the 4 cold items only, each of the 6 users with a cold test item sees 3 of the 4
    assert 0.0 <= data["cold_item_recall_among_cold@3"] <= 1.0
    assert data["cold_item_recall_among_cold@3"] >= data["cold_item_recall@3"]
    assert "cold_item_recall_among_cold@3" not in data["skipped"]
    assert set(data["groups"]["coldstart"]) == {"settings@3", "item_buckets@3", "bucket_exposure@3"}
    settings = pd.DataFrame(data["groups"]["coldstart"]["settings@3"]).set_index(["setting", "metric"])
    assert settings.loc[("all", "ndcg@3"), "value"] == pytest.approx(data["ndcg@3"])
    assert settings.loc[("cold", "recall@3"), "value"] == pytest.approx(data["cold_item_recall@3"])
    assert settings.loc[("cold", "recall@3"), "n_users"] == 6
    page = html.read_text()
    section = page[page.index("<h2>Cold start</h2>"):]
    section = section[: section.index("</section>")]
    for text in ("cold_item_recall@3", "cold_exposure_share@3", "settings@3", "item_buckets@3",
                 "bucket_exposure@3", "<th>warm</th>", "<th>11-50</th>", "users evaluated"):
        assert text in section, text


def test_audit_without_cold_test_items_has_no_cold_start_section(
    bundle_dir: Path, tmp_path: Path
) -> None:
    html, out = tmp_path / "r.html", tmp_path / "r.json"
    assert main(["audit", str(bundle_dir), "--k", "5", "--html", str(html), "--json", str(out)]) == 0
    assert "<h2>Cold start</h2>" not in html.read_text()
    data = json.loads(out.read_text())
    assert "coldstart" not in data["groups"] and "cold_item_recall@5" in data["skipped"]
