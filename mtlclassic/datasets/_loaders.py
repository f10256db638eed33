"""Loaders of public data sets from local files (nothing is downloaded)."""

from pathlib import Path

import numpy as np
import pandas as pd

MOVIELENS_100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip

CENSUS_COLUMNS = [
    "age", "class_of_worker", "detailed_industry_recode",
    "detailed_occupation_recode", "education", "wage_per_hour",
    "enroll_in_edu_inst_last_wk", "marital_stat", "major_industry_code",
    "major_occupation_code", "race", "hispanic_origin", "sex",
    "member_of_a_labor_union", "reason_for_unemployment",
    "full_or_part_time_employment_stat", "capital_gains", "capital_losses",
    "dividends_from_stocks", "tax_filer_stat", "region_of_previous_residence",
    "state_of_previous_residence", "detailed_household_and_family_stat",
    "detailed_household_summary_in_household", "instance_weight",
    "migration_code_change_in_msa", "migration_code_change_in_reg",
    "migration_code_move_within_reg", "live_in_this_house_1_year_ago",
    "migration_prev_res_in_sunbelt", "num_persons_worked_for_employer",
    "family_members_under_18", "country_of_birth_father",
    "country_of_birth_mother", "country_of_birth_self", "citizenship",
    "own_business_or_self_employed",
    "fill_inc_questionnaire_for_veterans_admin", "veterans_benefits",
    "weeks_worked_in_year", "year", "income",
]  # fmt: skip
CENSUS_NUMERIC = [
    "age", "wage_per_hour", "capital_gains", "capital_losses",
    "dividends_from_stocks", "num_persons_worked_for_employer",
    "weeks_worked_in_year",
]  # fmt: skip


def _require(path: Path, name: str) -> Path:
    file = path / name
    if not file.is_file():
        raise FileNotFoundError(
            f"Expected the file {name!r} in {str(path)!r} but it does not exist."
        )
    return file


def _folder(path, loader: str, holds: str) -> Path:
    """Return ``path`` as a Path; refuse a file or a missing folder, naming both."""
    path = Path(path)
    if path.is_file():
        raise FileNotFoundError(
            f"{loader} takes the folder holding the files, not a file: "
            f"{str(path)!r} is a file; pass its folder {str(path.parent)!r}, which "
            f"should hold {holds}."
        )
    if not path.is_dir():
        raise FileNotFoundError(
            f"The folder {str(path)!r} does not exist; pass the folder that holds "
            f"{holds}."
        )
    return path


def _encoding(file: Path) -> str:
    """latin-1 (the GroupLens and UCI files), or UTF-8 after a byte-order mark.

    A file saved again by an editor may start with the UTF-8 mark, which
    latin-1 would read as the characters 'ï»¿' before the first id.
    """
    with open(file, "rb") as fh:
        return "utf-8-sig" if fh.read(3) == b"\xef\xbb\xbf" else "latin-1"


def _read(file: Path, expected_columns: int, **kwargs) -> pd.DataFrame:
    try:
        frame = pd.read_csv(file, header=None, encoding=_encoding(file), **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"Could not parse {str(file)!r}: {exc}") from None
    if frame.shape[1] != expected_columns:
        raise ValueError(
            f"Malformed file {str(file)!r}: expected {expected_columns} columns per "
            f"line, found {frame.shape[1]}."
        )
    return frame


def _refuse_rows(frame: pd.DataFrame, col, bad, file: Path, what: str):
    """Raise naming ``file``, ``col`` and the first ``bad`` row: it ``what``."""
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"Malformed file {str(file)!r}: column {col!r} {what}; row {row + 1} "
            f"(blank lines not counted) has {_shown(frame[col].iloc[row])!r}."
        )


def _numeric(frame: pd.DataFrame, columns, file: Path) -> pd.DataFrame:
    for col in columns:
        converted = pd.to_numeric(frame[col], errors="coerce")
        values = converted.to_numpy(dtype=np.float64, na_value=np.nan)
        # "inf" reads as a number
        _refuse_rows(frame, col, ~np.isfinite(values), file,
                     "must be numeric (and finite)")  # fmt: skip
        frame[col] = converted
    return frame


def _shown(value):
    """Return a value as the file wrote it (1.5, not np.float64(1.5))."""
    return value.item() if isinstance(value, np.generic) else value


def _integral(frame: pd.DataFrame, columns, file: Path) -> pd.DataFrame:
    """Refuse ids (and times) that are not whole numbers: 1.5 is no user 1."""
    for col in columns:
        values = frame[col].to_numpy(dtype=np.float64)
        _refuse_rows(frame, col, values != np.floor(values), file,
                     "must hold whole numbers")  # fmt: skip
        # int64 would wrap them around
        _refuse_rows(frame, col, np.abs(values) >= 2.0**63, file, "must fit in int64")
    return frame


def _flags(frame: pd.DataFrame, columns, file: Path) -> pd.DataFrame:
    """Refuse 0/1 flags (genres) that are other numbers: int8 would wrap 300."""
    for col in columns:
        _refuse_rows(frame, col, ~frame[col].isin([0, 1]).to_numpy(), file,
                     "must be a 0/1 flag")  # fmt: skip
    return frame


def _unique_ids(frame: pd.DataFrame, column: str, file: Path) -> pd.DataFrame:
    """Refuse a side table that lists an id twice (which row would be meant?)."""
    repeated = frame[column].duplicated()
    if repeated.any():
        raise ValueError(
            f"Malformed file {str(file)!r}: {column} "
            f"{_shown(frame.loc[repeated, column].iloc[0])!r} is listed more than once."
        )
    return frame


def _movielens_100k(path: Path):
    data = _require(path, "u.data")
    ratings = _read(data, 4, sep="\t")
    ratings.columns = ["user_id", "item_id", "rating", "timestamp"]
    ratings = _numeric(ratings, ratings.columns, data)
    ratings = _integral(ratings, ["user_id", "item_id", "timestamp"], data)
    users = items = None
    if (path / "u.user").is_file():
        file = path / "u.user"
        users = _read(file, 5, sep="|", dtype=str)
        users.columns = ["user_id", "age", "gender", "occupation", "zip_code"]
        users = _numeric(users, ["user_id", "age"], file)
        users = _unique_ids(_integral(users, ["user_id"], file), "user_id", file)
        users = users.drop(columns="zip_code")
    if (path / "u.item").is_file():
        file = path / "u.item"
        raw = _read(file, 5 + len(MOVIELENS_100K_GENRES), sep="|", dtype=str)
        flags = list(range(5, 5 + len(MOVIELENS_100K_GENRES)))
        raw = _flags(_numeric(raw, [0, *flags], file), flags, file)
        items = pd.DataFrame({"item_id": raw[0]})
        items = _unique_ids(_integral(items, ["item_id"], file), "item_id", file)
        year = pd.to_datetime(raw[2], format="%d-%b-%Y", errors="coerce").dt.year
        items["release_year"] = year.astype("float64")
        for k, genre in enumerate(MOVIELENS_100K_GENRES):
            items[f"genre_{genre}"] = raw[5 + k].astype("int8")
    return ratings, users, items


def _movielens_1m(path: Path):
    data = _require(path, "ratings.dat")
    ratings = _read(data, 4, sep="::", engine="python")
    ratings.columns = ["user_id", "item_id", "rating", "timestamp"]
    ratings = _numeric(ratings, ratings.columns, data)
    ratings = _integral(ratings, ["user_id", "item_id", "timestamp"], data)
    users = items = None
    if (path / "users.dat").is_file():
        file = path / "users.dat"
        users = _read(file, 5, sep="::", engine="python", dtype=str)
        users.columns = ["user_id", "gender", "age", "occupation", "zip_code"]
        users = _numeric(users, ["user_id", "age"], file)
        users = _unique_ids(_integral(users, ["user_id"], file), "user_id", file)
        users = users.drop(columns="zip_code")
    if (path / "movies.dat").is_file():
        file = path / "movies.dat"
        raw = _read(file, 3, sep="::", engine="python", dtype=str)
        items = pd.DataFrame({"item_id": raw[0]})
        items = _numeric(items, ["item_id"], file)
        items = _unique_ids(_integral(items, ["item_id"], file), "item_id", file)
        year = raw[1].str.extract(r"\((\d{4})\)\s*$", expand=False)
        items["release_year"] = pd.to_numeric(year, errors="coerce").astype("float64")
        genres = raw[2].str.get_dummies(sep="|").astype("int8")
        genres.columns = [f"genre_{g}" for g in genres.columns]
        items = pd.concat([items, genres], axis=1)
    return ratings, users, items


def _movielens_csv(path: Path):
    data = _require(path, "ratings.csv")
    try:
        ratings = pd.read_csv(data)
    except (pd.errors.ParserError, ValueError) as exc:
        raise ValueError(f"Could not parse {str(data)!r}: {exc}") from None
    expected = ["userId", "movieId", "rating", "timestamp"]
    if list(ratings.columns[:4]) != expected:
        raise ValueError(
            f"Malformed file {str(data)!r}: expected the header {expected}, found "
            f"{list(ratings.columns)}."
        )
    ratings = ratings.iloc[:, :4]
    ratings.columns = ["user_id", "item_id", "rating", "timestamp"]
    ratings = _numeric(ratings, ratings.columns, data)
    ratings = _integral(ratings, ["user_id", "item_id", "timestamp"], data)
    items = None
    if (path / "movies.csv").is_file():
        file = path / "movies.csv"
        try:  # text titles and genres, also when all numeric ("1984") or empty
            raw = pd.read_csv(file, dtype={"title": str, "genres": str})
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"Could not parse {str(file)!r}: {exc}") from None
        missing = [c for c in ("movieId", "title", "genres") if c not in raw.columns]
        if missing:
            raise ValueError(
                f"Malformed file {str(file)!r}: no column {missing}; expected the "
                f"header movieId,title,genres, found {list(raw.columns)}."
            )
        raw = _numeric(raw, ["movieId"], file)
        raw = _unique_ids(_integral(raw, ["movieId"], file), "movieId", file)
        items = pd.DataFrame({"item_id": raw["movieId"]})
        year = raw["title"].str.extract(r"\((\d{4})\)\s*$", expand=False)
        items["release_year"] = pd.to_numeric(year, errors="coerce").astype("float64")
        listed = raw["genres"].dropna()  # pandas' get_dummies fails on no genre
        genres = listed.str.get_dummies(sep="|").reindex(raw.index, fill_value=0)
        genres = genres.astype("int8")
        genres.columns = [f"genre_{g}" for g in genres.columns]
        items = pd.concat([items, genres], axis=1)
    return ratings, None, items


def load_movielens(path, *, like_threshold=4.0):
    """Load a MovieLens data set (GroupLens layouts) from a local folder.

    The layout is detected from the files present:

    - ml-100k: ``u.data`` (tab-separated user, item, rating, timestamp), and
      optionally ``u.user`` and ``u.item`` (``|``-separated, latin-1);
    - ml-1m: ``ratings.dat``, and optionally ``users.dat`` and ``movies.dat``
      (``::``-separated, latin-1);
    - ml-latest / ml-latest-small / ml-25m: ``ratings.csv`` and optionally
      ``movies.csv``.

    Nothing is downloaded: fetch the archive from GroupLens yourself and pass
    the unpacked folder.

    Parameters
    ----------
    path : str or path-like
        The folder holding the files.
    like_threshold : float, default=4.0
        ``liked`` is 1 where ``rating >= like_threshold``.

    Returns
    -------
    X : DataFrame
        ``user_id``, ``item_id``, ``timestamp`` (int seconds), then user side
        features (``age``, ``gender``, ``occupation`` where present; strings
        as ``category``) and item side features (``release_year`` and one
        0/1 column per genre), one row per rating, sorted by timestamp
        (stable).
    Y : DataFrame
        ``rating`` (regression) and ``liked`` (binary).

    Raises
    ------
    FileNotFoundError
        When the folder holds none of the layouts.
    ValueError
        When a file is malformed; the message names the file.
    """
    layouts = (
        "'u.data' (ml-100k), 'ratings.dat' (ml-1m) or 'ratings.csv' (ml-latest), "
        "as in the unpacked GroupLens archive"
    )
    path = _folder(path, "load_movielens", layouts)
    if (path / "u.data").is_file():
        ratings, users, items = _movielens_100k(path)
    elif (path / "ratings.dat").is_file():
        ratings, users, items = _movielens_1m(path)
    elif (path / "ratings.csv").is_file():
        ratings, users, items = _movielens_csv(path)
    else:
        raise FileNotFoundError(
            f"No MovieLens ratings file in {str(path)!r}: expected 'u.data' "
            "(ml-100k), 'ratings.dat' (ml-1m) or 'ratings.csv' (ml-latest)."
        )
    ratings = ratings.astype(
        {
            "user_id": "int64",
            "item_id": "int64",
            "timestamp": "int64",
            "rating": "float64",
        }
    )
    X = ratings[["user_id", "item_id", "timestamp"]]
    if users is not None:
        users = users.astype({"user_id": "int64"})
        X = X.merge(users, on="user_id", how="left", validate="many_to_one")
    if items is not None:
        items = items.astype({"item_id": "int64"})
        X = X.merge(items, on="item_id", how="left", validate="many_to_one")
    for col in ("gender", "occupation"):
        if col in X:
            X[col] = X[col].astype("category")
    order = np.argsort(X["timestamp"].to_numpy(), kind="stable")
    X = X.iloc[order].reset_index(drop=True)
    rating = ratings["rating"].to_numpy()[order]
    Y = pd.DataFrame(
        {
            "rating": rating,
            "liked": (rating >= like_threshold).astype("float64"),
        }
    )
    return X, Y


def load_census_income(path, subset="train", *, return_weights=False):
    """Load UCI Census-Income (KDD) from a local folder, as two tasks.

    Reads ``census-income.data`` (``subset="train"``) or ``census-income.test``
    (``subset="test"``): 42 comma-separated columns, no header. The tasks are
    those of the classic multi-task setup (Ma et al., KDD 2018, MMoE):

    - ``income``: 1 when the income label is ``50000+.``;
    - ``never_married``: 1 when ``marital_stat`` is ``Never married``.

    Both label sources (``income``, ``marital_stat``) are removed from ``X``,
    and the survey ``instance_weight`` is never a feature: it is returned
    apart with ``return_weights=True`` (use it as ``sample_weight`` if you
    want population estimates).

    Parameters
    ----------
    path : str or path-like
        The folder holding the files.
    subset : {"train", "test"}, default="train"
    return_weights : bool, default=False
        Also return ``instance_weight`` as a 1-D array.

    Returns
    -------
    X : DataFrame
        The 39 remaining columns: numeric ones as float, the others as
        ``category`` (with surrounding spaces stripped).
    Y : DataFrame
        ``income`` and ``never_married``, both binary.
    weights : ndarray of shape (n_samples,)
        Only with ``return_weights``.
    """
    files = {"train": "census-income.data", "test": "census-income.test"}
    if subset not in files:
        raise ValueError(f"subset must be 'train' or 'test'; got {subset!r}.")
    path = _folder(path, "load_census_income",
                   "'census-income.data' and 'census-income.test'")  # fmt: skip
    file = _require(path, files[subset])
    # keep_default_na=False: a field left out of a short line is the only NaN
    frame = _read(file, len(CENSUS_COLUMNS), sep=",", dtype=str, skipinitialspace=True,
                  keep_default_na=False)  # fmt: skip
    frame.columns = CENSUS_COLUMNS
    frame = frame.apply(lambda c: c.str.strip())
    frame = _numeric(frame, CENSUS_NUMERIC + ["instance_weight"], file)
    # a short line: pandas pads it, so its last field (the income) is empty
    short = (frame["income"].isna() | (frame["income"] == "")).to_numpy()
    if short.any():
        row = int(np.flatnonzero(short)[0])
        raise ValueError(
            f"Malformed file {str(file)!r}: row {row + 1} (blank lines not counted) "
            f"has fewer than {len(CENSUS_COLUMNS)} fields."
        )
    income = frame["income"].str.rstrip(".")
    unknown = sorted(set(income.astype(str)) - {"- 50000", "50000+"})
    if unknown:
        raise ValueError(
            f"Malformed file {str(file)!r}: income labels must be '- 50000.' or "
            f"'50000+.'; found {unknown[:3]}."
        )
    Y = pd.DataFrame(
        {
            "income": (income == "50000+").astype("float64").to_numpy(),
            "never_married": (frame["marital_stat"] == "Never married")
            .astype("float64")
            .to_numpy(),
        }
    )
    weights = frame["instance_weight"].to_numpy(dtype=np.float64)
    X = frame.drop(columns=["income", "marital_stat", "instance_weight"])
    for col in X.columns:
        if col in CENSUS_NUMERIC:
            X[col] = X[col].astype("float64")
        else:
            X[col] = X[col].astype("category")
    if return_weights:
        return X, Y, weights
    return X, Y
