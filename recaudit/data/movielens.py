"""MovieLens importer for the three common layouts.

- ml-latest-small / ml-latest / ml-20m / ml-25m / ml-32m: ``ratings.csv`` (userId,movieId,rating,timestamp)
  and ``movies.csv`` (movieId,title,genres with ``|``).
- ml-1m / ml-10m: ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``) and ``movies.dat``
  (``MovieID::Title::Genres``), latin-1.
- ml-100k: ``u.data`` (tab-separated user, item, rating, timestamp) and ``u.item`` (``|``-separated, 19 genre
  flags in the order of ``u.genre``), latin-1.

Every rating becomes one interaction (the benchmark protocol); the rating is kept in the ``rating`` column.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from recaudit.data.schema import CATEGORY, CATEGORY_SEP, DOMAIN, ITEM_ID, RATING, TIMESTAMP, TITLE, USER_ID
from recaudit.data.validation import check_known_items, validate_interactions, validate_items
from recaudit.errors import RecauditInputError

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
NO_GENRE = "(no genres listed)"


RATINGS_FILES = ("ratings.csv", "ratings.dat", "u.data")
"""The file that marks each layout (module docstring), in the order they are tried."""


def is_movielens_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding one of the known layouts' ratings files."""
    return _ratings_file(Path(path)) is not None


def _ratings_file(path: Path) -> Path | None:
    """The ratings file of the first layout the folder holds (:data:`RATINGS_FILES`), or None."""
    if not path.is_dir():
        return None
    return next((path / name for name in RATINGS_FILES if (path / name).is_file()), None)


def movielens_tables(directory: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`load_movielens`, read once per folder and process (commands ask for the interactions and
    the items of one folder separately); copies, so a caller's change never reaches another."""
    path = Path(directory).resolve()
    ratings = _ratings_file(path)
    stamp = ratings.stat().st_mtime_ns if ratings is not None else 0
    inter, items = _cached_movielens(str(path), stamp)
    return inter.copy(), items.copy()


@functools.lru_cache(maxsize=2)
def _cached_movielens(directory: str, stamp: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return load_movielens(directory)


def load_movielens(directory: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load a MovieLens release directory as ``(interactions, items)`` in the recaudit schema.

    Raises:
        RecauditInputError: the directory holds none of the known layouts, or a file is malformed.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise RecauditInputError(directory, "not a directory", "pass the unpacked MovieLens folder")
    if (directory / "ratings.csv").exists():
        inter, items = _load_csv_layout(directory)
    elif (directory / "ratings.dat").exists():
        inter, items = _load_dat_layout(directory)
    elif (directory / "u.data").exists():
        inter, items = _load_100k_layout(directory)
    else:
        raise RecauditInputError(
            directory, "no MovieLens ratings file found", "expected ratings.csv, ratings.dat or u.data"
        )
    inter = validate_interactions(inter.assign(**{DOMAIN: "movies"}), source=directory)
    items = validate_items(items.assign(**{DOMAIN: "movies"}), source=directory)
    check_known_items(inter, items, source=directory)
    return inter, items


def _read(path: Path, **kwargs: object) -> pd.DataFrame:
    if not path.exists():
        raise RecauditInputError(path, "file not found (incomplete MovieLens folder)")
    try:
        return pd.read_csv(path, **kwargs)  # type: ignore[call-overload]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise RecauditInputError(path, f"cannot parse MovieLens file: {exc}") from exc


def _clean_genres(genres: pd.Series) -> pd.Series:
    return genres.fillna("").astype(str).replace(NO_GENRE, "")


def _load_csv_layout(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    ratings = _read(directory / "ratings.csv", dtype={"userId": str, "movieId": str})
    movies = _read(directory / "movies.csv", dtype={"movieId": str})
    inter = ratings.rename(
        columns={"userId": USER_ID, "movieId": ITEM_ID, "rating": RATING, "timestamp": TIMESTAMP}
    )
    items = pd.DataFrame(
        {ITEM_ID: movies["movieId"], TITLE: movies["title"], CATEGORY: _clean_genres(movies["genres"])}
    )
    return inter, items


def _load_dat_layout(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    opts = {"sep": "::", "engine": "python", "header": None, "encoding": "latin-1", "dtype": str}
    ratings = _read(directory / "ratings.dat", names=[USER_ID, ITEM_ID, RATING, TIMESTAMP], **opts)
    movies = _read(directory / "movies.dat", names=[ITEM_ID, TITLE, "genres"], **opts)
    items = pd.DataFrame(
        {ITEM_ID: movies[ITEM_ID], TITLE: movies[TITLE], CATEGORY: _clean_genres(movies["genres"])}
    )
    return ratings, items


def _load_100k_layout(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    ratings = _read(
        directory / "u.data", sep="\t", header=None, names=[USER_ID, ITEM_ID, RATING, TIMESTAMP], dtype=str
    )
    names = [ITEM_ID, TITLE, "release", "video_release", "url", *ML100K_GENRES]
    movies = _read(directory / "u.item", sep="|", header=None, names=names, encoding="latin-1", dtype=str)
    flags = movies[list(ML100K_GENRES)].fillna("0").astype(int).astype(bool)
    genres = flags.apply(lambda row: CATEGORY_SEP.join(g for g in ML100K_GENRES if row[g]), axis=1)
    items = pd.DataFrame({ITEM_ID: movies[ITEM_ID], TITLE: movies[TITLE], CATEGORY: genres})
    return ratings, items
