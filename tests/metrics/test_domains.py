"""Per-domain variants (docs/metrics.md "Cross-domain"): the log audited against one domain's items."""

from __future__ import annotations

import pandas as pd
import pytest

from recaudit.errors import RecauditInputError
from recaudit.metrics.domains import evaluate_domains


def _world() -> dict[str, pd.DataFrame]:
    """Two users; lists mix movies (m*) and books (b*); 3 movies and 4 books in the catalogue."""
    recs = pd.DataFrame({
        "user_id": ["u1"] * 4 + ["u2"] * 4,
        "item_id": ["m1", "b1", "m2", "b2", "b1", "m1", "b3", "m1x"],
        "rank": [1, 2, 3, 4, 1, 2, 3, 4],
    })  # fmt: skip
    items = pd.DataFrame({
        "item_id": ["m1", "m2", "m3", "b1", "b2", "b3", "b4"],
        "domain": ["movies"] * 3 + ["books"] * 4,
    })  # fmt: skip
    train = pd.DataFrame({
        "user_id": ["u1", "u2", "u3", "u3", "u1"], "item_id": ["m1", "m1", "m2", "b1", "b4"]
    })  # fmt: skip
    test = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["m2", "b3"]})
    return {"recs": recs, "items": items, "train": train, "test": test}


def test_each_domain_is_audited_against_its_own_items_by_hand() -> None:
    w = _world()
    out = evaluate_domains(w["recs"], w["train"], w["items"], test=w["test"], k=2, ci=False)
    assert list(out) == ["books", "movies"]
    movies, books = out["movies"].values, out["books"].values
    # movie lists at k=2: u1 [m1, m2], u2 [m1] (b-items and the unknown m1x drop out, positions close up)
    assert movies["coverage@2"] == pytest.approx(2 / 3)
    assert movies["hit_rate@2"] == pytest.approx(1.0)  # u1's test movie m2 at position 2; u2 has none
    assert movies["ndcg@2"] == pytest.approx((1 / 1.5849625007211562) / 1.0)
    assert movies["arp@2"] == pytest.approx(((2 + 1) / 2 + 2 / 1) / 2)  # φ(m1) = 2, φ(m2) = 1
    # book lists: u1 [b1, b2], u2 [b1, b3]; book training rows only: φ(b1) = 1, φ(b4) = 1
    assert books["coverage@2"] == pytest.approx(3 / 4)
    assert books["recall@2"] == pytest.approx(1.0)  # u2's test book b3 at position 2
    assert books["arp@2"] == pytest.approx(((1 + 0) / 2 + (1 + 0) / 2) / 2)
    assert out["movies"].info["data"]["dropped"]["unknown_items"] == 5  # 4 books and m1x


def test_a_catalogue_without_domains_is_one_clear_error() -> None:
    w = _world()
    with pytest.raises(RecauditInputError, match="has no domain column"):
        evaluate_domains(w["recs"], w["train"], w["items"].drop(columns="domain"), k=2)


def test_cli_per_domain_on_memory_and_duckdb(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from recaudit.cli import main

    w = _world()
    paths = {}
    for name, frame in w.items():
        paths[name] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    argv = ["metrics", "--recs", str(paths["recs"]), "--train", str(paths["train"]), "--test",
            str(paths["test"]), "--items", str(paths["items"]), "--k", "2", "--no-ci",
            "--per-domain"]  # fmt: skip
    outputs = {}
    for engine in ("memory", "duckdb"):
        assert main([*argv, "--format", "json", "--engine", engine]) == 0
        outputs[engine] = json.loads(capsys.readouterr().out)
    assert set(outputs["memory"]["domains"]) == {"books", "movies"}
    for name in ("books", "movies"):
        mine, theirs = outputs["memory"]["domains"][name], outputs["duckdb"]["domains"][name]
        assert mine["coverage@2"] == pytest.approx(theirs["coverage@2"], abs=1e-12)
        assert mine["arp@2"] == pytest.approx(theirs["arp@2"], abs=1e-12)
    assert outputs["memory"]["domains"]["movies"]["coverage@2"] == pytest.approx(2 / 3)
    assert main(argv) == 0
    assert "domain 'movies' (its items as the catalogue" in capsys.readouterr().out
    no_items = [a for a in argv if a not in ("--items", str(paths["items"]))]
    assert main(no_items) == 2
    assert "--per-domain: needs an items table with a domain column" in capsys.readouterr().err
    w["items"].drop(columns="domain").to_csv(paths["items"], index=False)
    for engine in ("memory", "duckdb"):
        assert main([*argv, "--engine", engine]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "has no domain column" in err[0], err
