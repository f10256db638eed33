import numpy as np
import pandas as pd
import pytest

from mtlclassic import load_census_income, load_movielens, make_multitask_recsys
from mtlclassic.datasets._loaders import CENSUS_COLUMNS


def test_make_multitask_recsys_shapes_and_determinism():
    X, Y = make_multitask_recsys(n_users=80, n_items=50, n_events=2000, random_state=3)
    X2, Y2 = make_multitask_recsys(
        n_users=80, n_items=50, n_events=2000, random_state=3
    )
    pd.testing.assert_frame_equal(X, X2)
    pd.testing.assert_frame_equal(Y, Y2)
    assert list(X.columns[:3]) == ["user_id", "item_id", "timestamp"]
    assert X["timestamp"].is_monotonic_increasing
    assert X["user_segment"].dtype == "category"
    assert list(Y.columns) == ["rating", "click", "like"]
    assert set(Y["rating"].dropna().unique()) <= {1, 2, 3, 4, 5}
    assert set(Y["click"].dropna().unique()) == {0, 1}
    # default missing rates: rating 0.5, click 0, like 0.85 (within sampling error)
    np.testing.assert_allclose(Y.isna().mean().to_numpy(), [0.5, 0.0, 0.85], atol=0.04)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_task_correlation_is_controlled(rho):
    _, _, truth = make_multitask_recsys(
        n_users=300,
        n_items=200,
        n_events=20000,
        tasks=["regression"] * 3,
        task_correlation=rho,
        return_truth=True,
        random_state=0,
    )
    off = truth.task_correlation[np.triu_indices(3, 1)]
    # the biases add a shared component, so the correlation is rho or a bit above
    assert np.all(off > rho - 0.1) and np.all(off < rho + 0.25)


def test_labels_follow_the_truth_and_exposure_is_preference_driven():
    X, Y, truth = make_multitask_recsys(
        n_events=5000, noise=0.1, return_truth=True, random_state=1
    )
    lab = Y["rating"].notna().to_numpy()
    corr = np.corrcoef(Y["rating"][lab], truth.expected[lab, 0])[0, 1]
    assert corr > 0.8
    shared = np.einsum(
        "nr,nr->n", truth.user_factors[X["user_id"]], truth.item_factors[X["item_id"]]
    )
    Xf, _, flat = make_multitask_recsys(
        n_events=5000, selection_strength=0.0, return_truth=True, random_state=1
    )
    shared_flat = np.einsum(
        "nr,nr->n", flat.user_factors[Xf["user_id"]], flat.item_factors[Xf["item_id"]]
    )
    # events have a higher shared affinity than a popularity-only draw (~0)
    assert abs(shared_flat.mean()) < 0.3 < shared.mean()


def test_generator_task_spec_and_errors():
    _, Y = make_multitask_recsys(
        n_events=300,
        tasks={"a": "binary", "r": "ranking"},
        missing_rate=0.2,
        random_state=0,
    )
    assert list(Y.columns) == ["a", "r"]
    assert set(Y["r"].dropna().unique()) <= {0, 1, 2, 3}
    _, Y = make_multitask_recsys(n_events=300, tasks=4, random_state=0)
    assert Y.shape[1] == 4
    with pytest.raises(ValueError, match="Unknown kind"):
        make_multitask_recsys(tasks=["poisson"])
    with pytest.raises(ValueError, match="missing_rate values must be in"):
        make_multitask_recsys(missing_rate=1.0)
    with pytest.raises(ValueError, match="n_users must be a positive int"):
        make_multitask_recsys(n_users=0)


def _write_ml100k(path):
    (path / "u.data").write_text(
        "1\t10\t5\t881250949\n2\t10\t3\t881250950\n1\t20\t2\t881250940\n"
    )
    (path / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    flags = "|".join(["0"] * 19)
    g = ["0"] * 19
    g[1] = "1"
    (path / "u.item").write_bytes(
        (
            "10|Toy Story (1995)|01-Jan-1995||http://x|" + flags + "\n"
            "20|Caf\xe9 (1996)|01-Jan-1996||http://y|" + "|".join(g) + "\n"
        ).encode("latin-1")
    )


def test_load_movielens_100k(tmp_path):
    _write_ml100k(tmp_path)
    X, Y = load_movielens(tmp_path)
    assert list(X.columns[:3]) == ["user_id", "item_id", "timestamp"]
    assert X["timestamp"].tolist() == [881250940, 881250949, 881250950]
    assert Y["rating"].tolist() == [2.0, 5.0, 3.0]
    assert Y["liked"].tolist() == [0.0, 1.0, 0.0]
    assert X["age"].tolist() == [24, 24, 53]
    assert X["occupation"].dtype == "category"
    assert X["release_year"].tolist() == [1996, 1995, 1995]
    assert X.loc[0, "genre_Action"] == 1


def test_load_movielens_1m_and_csv(tmp_path):
    (tmp_path / "ratings.dat").write_text(
        "1::1193::5::978300760\n1::661::3::978302109\n"
    )
    (tmp_path / "users.dat").write_text("1::F::1::10::48067\n")
    (tmp_path / "movies.dat").write_bytes(
        "1193::One Flew (1975)::Drama\n"
        "661::James (1996)::Animation|Children's\n".encode("latin-1")
    )
    X, Y = load_movielens(tmp_path)
    assert X["item_id"].tolist() == [1193, 661]
    assert X["gender"].tolist() == ["F", "F"]
    assert X["genre_Drama"].tolist() == [1, 0]
    assert Y["liked"].tolist() == [1.0, 0.0]
    csv = tmp_path / "csv"
    csv.mkdir()
    (csv / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,3.5,10\n")
    (csv / "movies.csv").write_text(
        "movieId,title,genres\n2,Jumanji (1995),Adventure\n"
    )
    X, Y = load_movielens(csv, like_threshold=3.5)
    assert Y["liked"].tolist() == [1.0] and X["release_year"].tolist() == [1995]


def test_load_movielens_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No MovieLens ratings file"):
        load_movielens(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_movielens(tmp_path / "nope")
    (tmp_path / "u.data").write_text("1\t10\t5\n")
    with pytest.raises(FileNotFoundError, match=r"takes the folder.*is a file; pass "
                       r"its folder .*'u\.data' \(ml-100k\)"):  # fmt: skip
        load_movielens(tmp_path / "u.data")
    with pytest.raises(ValueError, match="u.data.*expected 4 columns"):
        load_movielens(tmp_path)
    (tmp_path / "u.data").write_text("1\t10\tfive\t881250949\n")
    with pytest.raises(ValueError, match="column 'rating' must be numeric"):
        load_movielens(tmp_path)


def test_load_movielens_names_the_file_of_bad_ids_and_side_tables(tmp_path):
    good = "1\t10\t5\t881250949\n2\t11\t3\t881250950\n"
    (tmp_path / "u.data").write_text("1.5\t10\t5\t881250949\n")
    with pytest.raises(ValueError, match=r"u\.data.*'user_id' must hold whole.*1\.5"):
        load_movielens(tmp_path)  # not silently user 1
    (tmp_path / "u.data").write_text(good)
    genres = "|".join(["0"] * 19)
    item = "10|Toy Story (1995)|01-Jan-1995||http://x|" + genres
    (tmp_path / "u.item").write_text(item + "\n" + item + "\n")
    with pytest.raises(ValueError, match=r"u\.item.*item_id 10 is listed more than"):
        load_movielens(tmp_path)
    (tmp_path / "u.item").write_text(item[:-1] + "x\n")
    with pytest.raises(ValueError, match=r"u\.item.*must be numeric.*'x'"):
        load_movielens(tmp_path)
    (tmp_path / "u.item").unlink()
    (tmp_path / "u.data").unlink()
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,10,4.5,1\n"
    )
    (tmp_path / "movies.csv").write_text("id,name,genres\n10,Toy Story (1995),Comedy\n")
    with pytest.raises(
        ValueError, match=r"movies\.csv.*no column \['movieId', 'title'\]"
    ):
        load_movielens(tmp_path)
    (tmp_path / "movies.csv").write_bytes(
        "movieId,title,genres\n10,Am\xe9lie (2001),Comedy\n".encode("latin-1")
    )
    with pytest.raises(ValueError, match=r"Could not parse .*movies\.csv"):
        load_movielens(tmp_path)


def _census_line(age, marital, income, weight="1700.09"):
    values = {c: "Not in universe" for c in CENSUS_COLUMNS}
    values.update(
        age=str(age),
        wage_per_hour="0",
        capital_gains="0",
        capital_losses="0",
        dividends_from_stocks="0",
        num_persons_worked_for_employer="0",
        weeks_worked_in_year="52",
        marital_stat=marital,
        instance_weight=weight,
        income=income,
        year="95",
    )
    return ", ".join(values[c] for c in CENSUS_COLUMNS)


def test_load_census_income(tmp_path):
    lines = [
        _census_line(73, "Widowed", "- 50000."),
        _census_line(30, "Never married", "50000+.", "999.5"),
    ]
    (tmp_path / "census-income.data").write_text("\n".join(lines) + "\n")
    X, Y, w = load_census_income(tmp_path, return_weights=True)
    assert X.shape == (2, 39)
    assert {"income", "marital_stat", "instance_weight"}.isdisjoint(X.columns)
    assert Y["income"].tolist() == [0.0, 1.0]
    assert Y["never_married"].tolist() == [0.0, 1.0]
    np.testing.assert_allclose(w, [1700.09, 999.5])
    assert X["age"].dtype == np.float64 and X["education"].dtype == "category"
    assert X.loc[0, "education"] == "Not in universe"  # spaces stripped
    with pytest.raises(FileNotFoundError, match="census-income.test"):
        load_census_income(tmp_path, subset="test")
    with pytest.raises(ValueError, match="subset must be"):
        load_census_income(tmp_path, subset="valid")
    (tmp_path / "census-income.test").write_text("1, 2, 3\n")
    with pytest.raises(ValueError, match="census-income.test.*expected 42 columns"):
        load_census_income(tmp_path, subset="test")
    good = _census_line(30, "Never married", "- 50000.")
    short = ", ".join(good.split(", ")[:-1])  # a line without its income
    (tmp_path / "census-income.test").write_text(
        "\n".join([good.replace("- 50000.", "maybe"), short, good]) + "\n"
    )
    with pytest.raises(ValueError, match=r"test.*row 2 .*fewer than 42 fields"):
        load_census_income(tmp_path, subset="test")
    (tmp_path / "census-income.test").write_text(
        "\n".join(["", good, "", good.replace("30", "abc", 1)]) + "\n"
    )
    with pytest.raises(
        ValueError, match=r"row 2 \(blank lines not counted\) has 'abc'"
    ):
        load_census_income(tmp_path, subset="test")


def test_generated_events_do_not_depend_on_the_chunk_size(monkeypatch):
    """The exposure and affinity draws run in chunks of events (bounded
    memory); any chunk size gives the same data, to the bit."""
    from mtlclassic.datasets import _synthetic

    X, Y = make_multitask_recsys(n_users=80, n_items=50, n_events=3000,
                                 random_state=4)  # fmt: skip
    monkeypatch.setattr(_synthetic, "_EVENT_CHUNK", 7)
    X7, Y7 = make_multitask_recsys(n_users=80, n_items=50, n_events=3000,
                                   random_state=4)  # fmt: skip
    pd.testing.assert_frame_equal(X7, X)
    pd.testing.assert_frame_equal(Y7, Y)


def test_load_movielens_refuses_values_that_would_wrap_or_count_as_liked(tmp_path):
    # inf read as a number (an 'inf' rating counted as liked), ids beyond
    # int64 wrapped to negative, genre flags of 300 wrapped to 44 in int8
    cases = {
        "u.data": [("1\t10\t5\t881250949\n2\t20\tinf\t881250950\n", "rating"),
                   ("1\t10\t5\t881250949\n2\t20\t3\tinf\n", "timestamp"),
                   ("1\t10\t5\t1\n9223372036854775808\t20\t3\t2\n", "fit in int64")],
    }  # fmt: skip
    for k, (text, match) in enumerate(cases["u.data"]):
        folder = tmp_path / f"d{k}"
        folder.mkdir()
        (folder / "u.data").write_text(text)
        with pytest.raises(ValueError, match=match):
            load_movielens(folder)
    folder = tmp_path / "flags"
    folder.mkdir()
    (folder / "u.data").write_text("1\t10\t5\t1\n")
    flags = "|".join(["300"] + ["0"] * 18)
    (folder / "u.item").write_text(f"10|A (1995)|01-Jan-1995||u|{flags}\n")
    with pytest.raises(ValueError, match="must be a 0/1 flag"):
        load_movielens(folder)


def test_load_movielens_csv_with_numeric_titles_and_no_genres(tmp_path):
    # pandas typed an all-number title column as int and an empty genres
    # column as float: .str failed with AttributeError
    ratings = "userId,movieId,rating,timestamp\n1,10,5,1\n1,20,4,2\n"
    numbers = "movieId,title,genres\n10,1984,Drama\n20,1917,\n"
    empty = "movieId,title,genres\n10,A (1995),\n20,B,\n"
    for movies, genres in ((numbers, ["genre_Drama"]), (empty, [])):
        folder = tmp_path / f"m{len(genres)}"
        folder.mkdir()
        (folder / "ratings.csv").write_text(ratings)
        (folder / "movies.csv").write_text(movies)
        X, Y = load_movielens(folder)
        assert [c for c in X.columns if c.startswith("genre_")] == genres
        assert len(X) == 2 and Y["liked"].tolist() == [1.0, 1.0]


def test_loaders_read_a_utf8_byte_order_mark_and_refuse_a_file_for_the_folder(tmp_path):
    # an editor that saved ratings.dat again as UTF-8 puts b"\xef\xbb\xbf" first:
    # latin-1 read it as 'ï»¿1', a malformed first user id
    lines = "1::1193::5::978300760\n2::661::3::978302109\n"
    plain, marked = tmp_path / "plain", tmp_path / "marked"
    plain.mkdir()
    marked.mkdir()
    (plain / "ratings.dat").write_text(lines)
    (marked / "ratings.dat").write_bytes(b"\xef\xbb\xbf" + lines.encode())
    (plain / "movies.dat").write_bytes("1193::Amélie (2001)::Drama\n".encode("latin-1"))
    (marked / "movies.dat").write_bytes(
        b"\xef\xbb\xbf" + "1193::Amélie (2001)::Drama\n".encode("utf-8")
    )
    X_plain, Y_plain = load_movielens(plain)
    X_marked, Y_marked = load_movielens(marked)
    pd.testing.assert_frame_equal(X_marked, X_plain)
    pd.testing.assert_frame_equal(Y_marked, Y_plain)
    assert X_marked["user_id"].tolist() == [1, 2]
    # the census loader given its file, not the folder, says so (it said the
    # file was missing)
    (tmp_path / "census-income.data").write_text(
        _census_line(30, "Never married", "- 50000.") + "\n"
    )
    with pytest.raises(FileNotFoundError, match=r"load_census_income takes the "
                       r"folder.*is a file; pass its folder"):  # fmt: skip
        load_census_income(tmp_path / "census-income.data")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_census_income(tmp_path / "nope")
    assert load_census_income(tmp_path)[0].shape[0] == 1
