"""MovieLens importer: the real ml-latest-small and tiny fixtures of the 100k and 1m layouts."""

from pathlib import Path

import pytest

from recaudit.data import load_movielens
from recaudit.errors import RecauditInputError


@pytest.mark.realdata
def test_loads_ml_latest_small(shared_datasets: Path) -> None:
    interactions, items = load_movielens(shared_datasets / "ml-latest-small")
    assert len(interactions) == 100836
    assert interactions["user_id"].nunique() == 610
    assert len(items) == 9742
    toy = items.set_index("item_id").loc["1"]
    assert toy["title"] == "Toy Story (1995)"
    assert toy["category"] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert (items["category"] == "(no genres listed)").sum() == 0
    assert set(interactions["domain"]) == {"movies"}


def test_ml_1m_layout(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("1::10::5::978300760\n2::20::3::978302109\n")
    (tmp_path / "movies.dat").write_bytes("10::Amélie (2001)::Comedy|Romance\n20::Heat (1995)::Action\n"
                                          .encode("latin-1"))
    interactions, items = load_movielens(tmp_path)
    assert interactions["item_id"].tolist() == ["10", "20"]
    assert items.set_index("item_id").loc["10", "title"] == "Amélie (2001)"
    assert items.set_index("item_id").loc["10", "category"] == "Comedy|Romance"


def test_ml_100k_layout(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    flags_242 = ["0"] * 19
    flags_242[5] = "1"  # Comedy
    flags_302 = ["0"] * 19
    flags_302[6] = flags_302[16] = "1"  # Crime, Thriller
    lines = [
        "|".join(["242", "Kolya (1996)", "24-Jan-1997", "", "http://x", *flags_242]),
        "|".join(["302", "L.A. Confidential (1997)", "01-Jan-1997", "", "http://y", *flags_302]),
    ]
    (tmp_path / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    interactions, items = load_movielens(tmp_path)
    assert len(interactions) == 2
    assert items.set_index("item_id").loc["302", "category"] == "Crime|Thriller"


def test_not_a_movielens_folder(tmp_path: Path) -> None:
    with pytest.raises(RecauditInputError, match="no MovieLens ratings file"):
        load_movielens(tmp_path)
