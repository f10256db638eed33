"""``mtlclassic score`` / ``recommend``: streamed, atomic, schema-cast scoring.

Oracle everywhere: the in-memory ``predict`` / ``Recommender.recommend`` of the
same fitted model on the same rows, compared bit for bit.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from mtlclassic import (
    MultiTaskLGBM,
    Recommender,
    make_multitask_recommender,
    make_multitask_recsys,
    save,
)
from mtlclassic._batch.chunks import cast_to_schema
from mtlclassic._batch.files import score_file
from mtlclassic.cli import main
from mtlclassic.io import read_manifest
from tests._catalogue import catalogues

TASKS = ["rating", "click", "like"]


def _read(path):
    if str(path).endswith(".parquet"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


@pytest.fixture(scope="module")
def fitted():
    X, Y = make_multitask_recsys(n_users=60, n_items=40, n_events=1500, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_multitask_recommender(
            n_estimators=20, factors=4, iterations=5, cv=2, n_jobs=1, random_state=0
        ).fit(X, Y)
    return X, model


@pytest.fixture(scope="module")
def files(tmp_path_factory, fitted):
    X, model = fitted
    folder = tmp_path_factory.mktemp("scoring")
    model_path = save(model, folder / "model.mtlc", input_example=X.head())
    # new events: users 60..79 and items 40..49 were never seen (cold start)
    X_new, _ = make_multitask_recsys(
        n_users=80, n_items=50, n_events=1000, random_state=1
    )
    X_new = X_new.assign(extra=1.5)
    X_new.to_csv(folder / "input.csv", index=False)
    X_new.to_parquet(folder / "input.parquet")
    return folder, model_path, X_new


@pytest.mark.parametrize("source", ["input.csv", "input.parquet"])
@pytest.mark.parametrize("target", ["out.csv", "out.parquet"])
def test_chunked_scoring_equals_in_memory_predict(
    files, fitted, source, target, capsys, monkeypatch
):
    folder, model_path, X_new = files
    _, model = fitted
    from mtlclassic.recommend._compiled import CompiledModel

    calls = []
    original = CompiledModel.predict  # score runs the compiled path
    monkeypatch.setattr(
        CompiledModel,
        "predict",
        lambda self, X: calls.append(len(X)) or original(self, X),
    )
    output = folder / f"{source}.{target}"
    code = main(
        ["score", str(model_path), str(folder / source), str(output)]
        + ["--chunksize", "128"]
    )
    assert code == 0
    assert max(calls) == 128 and len(calls) == 8  # 1000 rows, streamed
    monkeypatch.undo()
    expected = model.predict(X_new.drop(columns="extra"))
    out = _read(output)
    assert list(out.columns) == ["user_id", "item_id", *TASKS]
    np.testing.assert_array_equal(out[TASKS].to_numpy(), expected)
    np.testing.assert_array_equal(
        out[["user_id", "item_id"]], X_new[["user_id", "item_id"]]
    )
    err = capsys.readouterr().err
    # the time, which the pipeline drops, is not read either
    ignored = "ignoring INPUT columns the model does not read: ['timestamp', 'extra']"
    assert ignored in err
    assert "rows/s" not in err  # stderr is not a terminal: no progress line


def test_chunks_are_cast_to_the_saved_schema(tmp_path):
    # categories that look like numbers and an id column that is int in some
    # chunks and float in none: without the schema, a CSV chunk reads
    # '10'/'20' as ints and LightGBM would see every category as missing.
    rng = np.random.default_rng(0)
    n = 600
    X = pd.DataFrame(
        {
            "item_id": rng.integers(0, 50, n),
            "shop": pd.Categorical(rng.choice(["10", "20", "30"], n)),
            "price": rng.normal(size=n),
        }
    )
    y = (X["shop"].astype(str) == "20") * 2.0 + X["price"] + rng.normal(0, 0.1, n)
    model = MultiTaskLGBM(n_estimators=20, n_jobs=1, random_state=0).fit(X, y)
    path = save(model, tmp_path / "m.mtlc", input_example=X.head(2))
    schema = read_manifest(path)["input_schema"]
    assert schema[1] == {
        "name": "shop",
        "dtype": "category",
        "categories": ["10", "20", "30"],
        "categories_dtype": str(X["shop"].cat.categories.dtype),
        "ordered": False,
    }
    X.to_csv(tmp_path / "in.csv", index=False)
    assert (
        main(
            ["score", str(path), str(tmp_path / "in.csv"), str(tmp_path / "o.csv")]
            + ["--id-cols", "item_id", "--chunksize", "100"]
        )
        == 0
    )
    out = _read(tmp_path / "o.csv")
    np.testing.assert_array_equal(out["task_0"], model.predict(X))
    np.testing.assert_array_equal(out["item_id"], X["item_id"])
    # the cast itself: ints -> the string categories, unknown -> missing
    cast = cast_to_schema(pd.DataFrame({"shop": [20, 99], "price": [1, 2]}), schema)
    assert cast["shop"].dtype == X["shop"].dtype
    assert cast["shop"].tolist()[0] == "20" and pd.isna(cast["shop"].tolist()[1])
    assert cast["price"].dtype == np.float64
    cast = cast_to_schema(pd.DataFrame({"item_id": [1.0, np.nan]}), schema)
    assert cast["item_id"].dtype == np.float64  # missing: float, not refused
    with pytest.raises(ValueError, match="'item_id' holds 'x', which is not a valid"):
        cast_to_schema(pd.DataFrame({"item_id": ["1", "x"]}), schema)


def test_text_values_that_read_csv_calls_missing_are_scored_as_themselves(tmp_path):
    # "NA" (Namibia, North America) and "None" are categories: pandas'
    # read_csv reads them as missing by default; a number column keeps its
    # "NA" as a missing value
    rng = np.random.default_rng(0)
    n = 800
    region = np.array(["EU", "NA", "AS", "None", "null", "n/a"])[np.arange(n) % 6]
    shop = pd.Categorical(np.array(["NA", "x"])[np.arange(n) % 2])
    X = pd.DataFrame(
        {"region": pd.Categorical(region), "shop": shop, "f": rng.normal(size=n)}
    )
    y = (np.arange(n) % 6) * 10.0 + (np.arange(n) % 2) + rng.normal(size=n)
    model = MultiTaskLGBM(n_estimators=30, n_jobs=1, random_state=0).fit(X, y)
    path = save(model, tmp_path / "m.mtlc", input_example=X.head(8))
    rows = X.head(12).copy()
    rows.to_csv(tmp_path / "in.csv", index=False)
    text = (tmp_path / "in.csv").read_text().splitlines()
    text[1] = text[1].rsplit(",", 1)[0] + ",NA"  # a missing number, spelled NA
    (tmp_path / "in.csv").write_text("\n".join(text) + "\n")
    rows.loc[0, "f"] = np.nan
    assert main(["score", str(path), str(tmp_path / "in.csv"),
                 str(tmp_path / "o.csv")]) == 0  # fmt: skip
    out = _read(tmp_path / "o.csv")
    np.testing.assert_array_equal(out["task_0"], model.predict(rows))
    # the Dask path reads every column as text, then the same rule
    from mtlclassic._batch.chunks import iter_chunks, number_missing_strings

    schema = read_manifest(path)["input_schema"]
    text = pd.read_csv(tmp_path / "in.csv", dtype=str, keep_default_na=False)
    text = number_missing_strings(text.replace("", np.nan), schema)
    local = next(iter_chunks(tmp_path / "in.csv", 100, schema=schema))
    pd.testing.assert_frame_equal(cast_to_schema(text, schema), local)


def test_overwrite_protection(files, capsys):
    folder, model_path, _ = files
    output = folder / "exists.csv"
    output.write_text("keep me")
    args = ["score", str(model_path), str(folder / "input.csv"), str(output)]
    assert main(args) == 2
    assert "exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert output.read_text() == "keep me"
    assert main([*args, "--overwrite"]) == 0
    assert len(_read(output)) == 1000


def test_failure_mid_way_leaves_no_partial_output(files, capsys, monkeypatch):
    from mtlclassic.recommend._compiled import CompiledModel

    folder, model_path, _ = files
    original, calls = CompiledModel.predict, []  # score runs the compiled path

    def fail_on_third_chunk(self, X):
        calls.append(len(X))
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return original(self, X)

    monkeypatch.setattr(CompiledModel, "predict", fail_on_third_chunk)
    before = set(folder.iterdir())
    for name in ("new.csv", "new.parquet"):
        calls.clear()
        args = ["score", str(model_path), str(folder / "input.csv"), str(folder / name)]
        assert main([*args, "--chunksize", "100"]) == 1
        assert "RuntimeError: disk on fire" in capsys.readouterr().err
    kept = folder / "kept.csv"
    kept.write_text("old")
    calls.clear()
    args = ["score", str(model_path), str(folder / "input.csv"), str(kept)]
    assert main([*args, "--chunksize", "100", "--overwrite"]) == 1
    assert kept.read_text() == "old"  # the old OUTPUT survives a failed run
    assert set(folder.iterdir()) == before | {kept}  # no new or temporary file


def test_bad_inputs_give_the_documented_errors(files, fitted, tmp_path, capsys):
    folder, model_path, X_new = files
    bad = tmp_path / "bad.csv"
    X_new.drop(columns=["item_f0", "user_segment"]).to_csv(bad, index=False)
    out = str(tmp_path / "o.csv")
    assert main(["score", str(model_path), str(bad), out]) == 2
    err = capsys.readouterr().err
    assert f"INPUT '{bad}' lacks the columns ['user_segment', 'item_f0']" in err
    assert (
        main(
            [
                "score",
                str(model_path),
                str(folder / "input.csv"),
                out,
                "--id-cols",
                "session",
            ]
        )
        == 2
    )
    assert "--id-cols names ['session']" in capsys.readouterr().err
    assert main(["score", str(model_path), str(tmp_path / "nope.csv"), out]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["score", str(bad), str(bad), out]) == 2
    assert "not an mtlclassic model file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse rejects it: usage error
        main(["score", str(model_path), str(bad), out, "--chunksize", "0"])
    assert exc.value.code == 2
    assert "0 is not positive" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_progress_is_shown_when_asked(files, fitted, tmp_path, capsys):
    folder, _, _ = files
    _, model = fitted
    n = score_file(
        model,
        folder / "input.csv",
        tmp_path / "o.csv",
        chunksize=500,
        progress=True,
        task_names=TASKS,
    )
    assert n == 1000
    assert "scored 1,000 rows (" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["demo"], ["score"], ["recommend"]])
def test_help_of_every_command(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out.lower()
    assert "exit codes" in text
    if command in (["score"], ["recommend"]):
        assert "output" in text and "--overwrite" in text and "2  bad usage" in text


def test_recommend_cli_equals_recommender(fitted, tmp_path, capsys):
    X, model = fitted
    items, users = catalogues(X)
    rec = Recommender(
        model,
        items,
        users=users,
        context={"timestamp": X["timestamp"].max()},
        weights={"click": 1.0, "like": 1.0},
        n_candidates=20,
    )
    path = save(rec, tmp_path / "rec.mtlc", input_example=X.head())
    wanted = [3, 7, 3, 500, 11, 0, 7, 42, 501, 5]  # repeats, unseen 500/501
    pd.DataFrame({"user_id": wanted, "note": "x"}).to_csv(
        tmp_path / "u.csv", index=False
    )
    out = tmp_path / "top.csv"
    args = ["recommend", str(path), "--users", str(tmp_path / "u.csv"), "-k", "4"]
    assert main([*args, str(out), "--chunksize", "3"]) == 0
    expected = rec.recommend(wanted, k=4)
    pd.testing.assert_frame_equal(
        _read(out), expected, check_dtype=False, rtol=0, atol=0
    )
    assert main([*args, str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    # a model that is not a Recommender, a users file without the id column
    plain = save(model, tmp_path / "plain.mtlc")
    assert (
        main(
            [
                "recommend",
                str(plain),
                "--users",
                str(tmp_path / "u.csv"),
                str(tmp_path / "x.csv"),
            ]
        )
        == 2
    )
    assert "MODEL must be a saved Recommender" in capsys.readouterr().err
    pd.DataFrame({"uid": [1]}).to_csv(tmp_path / "v.csv", index=False)
    assert (
        main(
            [
                "recommend",
                str(path),
                "--users",
                str(tmp_path / "v.csv"),
                str(tmp_path / "x.csv"),
            ]
        )
        == 2
    )
    assert "lacks the user id column 'user_id'" in capsys.readouterr().err


def test_predict_fast_path_equals_the_validated_path():
    # a float64 ndarray skips validate_data; a list of lists goes through it:
    # same numbers in, so the same predictions out, NaN (missing) included
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    Y = np.column_stack([X[:, 0] + X[:, 1], X[:, 2] > 0])
    model = MultiTaskLGBM(n_estimators=10, n_jobs=1, random_state=0).fit(X, Y)
    X_new = rng.normal(size=(50, 4))
    X_new[3, 1] = np.nan
    expected = model.predict(X_new.tolist())
    np.testing.assert_array_equal(model.predict(X_new), expected)
    np.testing.assert_array_equal(model.predict(np.asfortranarray(X_new)), expected)
    np.testing.assert_array_equal(model.predict(X_new[:1]), expected[:1])
    with pytest.raises(
        ValueError, match="3 features, but MultiTaskLGBM is expecting 4"
    ):
        model.predict(X_new[:, :3])
    X_new[5, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        model.predict(X_new)


def test_empty_input_gives_a_header_only_output(files, tmp_path):
    folder, model_path, X_new = files
    X_new.head(0).to_csv(tmp_path / "empty.csv", index=False)
    for name in ("o.csv", "o.parquet"):
        args = ["score", str(model_path), str(tmp_path / "empty.csv")]
        assert main([*args, str(tmp_path / name)]) == 0
        out = _read(tmp_path / name)
        assert len(out) == 0 and list(out.columns) == ["user_id", "item_id", *TASKS]


def test_score_accepts_a_saved_recommender(fitted, tmp_path):
    X, model = fitted
    items, users = catalogues(X)
    rec = Recommender(model, items, users=users, context={"timestamp": 0})
    path = save(rec, tmp_path / "rec.mtlc", input_example=X.head())
    X.head(50).to_csv(tmp_path / "in.csv", index=False)
    assert (
        main(["score", str(path), str(tmp_path / "in.csv"), str(tmp_path / "o.csv")])
        == 0
    )
    out = _read(tmp_path / "o.csv")
    np.testing.assert_array_equal(out[TASKS].to_numpy(), model.predict(X.head(50)))


def test_a_model_fitted_on_arrays_needs_the_input_example(tmp_path, capsys):
    from mtlclassic import TraceNormMultiTask

    rng = np.random.default_rng(0)
    A = rng.normal(size=(100, 3))
    B = A @ rng.normal(size=(3, 2))
    model = TraceNormMultiTask(alpha=0.01, n_jobs=1).fit(A, B)
    frame = pd.DataFrame(A, columns=["a", "b", "c"])
    frame[["c", "a", "b"]].to_csv(tmp_path / "in.csv", index=False)  # any order
    bare = save(model, tmp_path / "bare.mtlc")
    args = [str(tmp_path / "in.csv"), str(tmp_path / "o.csv")]
    assert main(["score", str(bare), *args]) == 2
    assert "save it with input_example" in capsys.readouterr().err
    named = save(model, tmp_path / "named.mtlc", input_example=frame.head(2))
    assert main(["score", str(named), *args]) == 0
    assert "feature names" not in capsys.readouterr().err  # no sklearn warning
    out = _read(tmp_path / "o.csv")
    assert list(out.columns) == ["task_0", "task_1"]
    np.testing.assert_array_equal(out.to_numpy(), model.predict(A))


def _cli_err(capsys, args):
    code = main(args)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_bad_cell_names_the_file_column_row_and_value(
    files, tmp_path, capsys, suffix
):
    folder, model_path, X_new = files
    out = str(tmp_path / "o.csv")
    for column, row in (("user_f0", 7), ("item_f1", 4), ("user_id", 11)):
        bad = X_new.astype({column: object})
        bad.loc[row, column] = "unknown"
        path = tmp_path / f"bad.{suffix}"
        if suffix == "csv":
            bad.to_csv(path, index=False)
        else:
            bad.astype({column: str}).to_parquet(path)
        # chunks of 3: the bad cell is in a later chunk than the first
        code, err = _cli_err(
            capsys, ["score", str(model_path), str(path), out, "--chunksize", "3"]
        )
        assert code == 2, err
        line = " after the header" if suffix == "csv" else ""
        assert f"INPUT '{path}', row {row + 1}{line}: column {column!r}" in err
        assert "holds 'unknown'" in err
        hint = "every row needs an id" if column == "user_id" else "leave it empty"
        assert hint in err
        assert not (tmp_path / "o.csv").exists()
    if suffix == "csv":  # a missing value spelled NA before it is not the bad cell
        bad = X_new.astype({"user_f0": object, "item_f1": object})
        bad.loc[2, "user_f0"] = "NA"
        bad.loc[7, "item_f1"] = "unknown"
        bad.to_csv(tmp_path / "na.csv", index=False)
        code, err = _cli_err(capsys, ["score", str(model_path),
                                      str(tmp_path / "na.csv"), out])  # fmt: skip
        assert code == 2 and "row 8 after the header: column 'item_f1'" in err, err


def test_empty_files_are_bad_input(files, tmp_path, capsys):
    folder, model_path, _ = files
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    code, err = _cli_err(
        capsys, ["score", str(model_path), str(empty), str(tmp_path / "o.csv")]
    )
    assert code == 2 and f"INPUT '{empty}' is empty" in err
    assert "header line" in err


def test_missing_and_fractional_values_in_an_int_column(fitted, tmp_path, capsys):
    """An int64 training column with empty cells is read as float, not refused."""
    X, model = fitted
    model_path = save(model, tmp_path / "m.mtlc", input_example=X.head())
    rows = X.head(40).astype({"timestamp": float})
    rows.loc[[3, 30], "timestamp"] = [np.nan, 1.5]  # never truncated to 1
    rows.to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "o.csv"
    code, err = _cli_err(
        capsys, ["score", str(model_path), str(tmp_path / "in.csv"), str(out)]
    )
    assert code == 0, err
    # the pipeline drops the time: score neither reads nor casts it
    assert "the model does not read: ['timestamp']" in err
    np.testing.assert_array_equal(_read(out)[TASKS].to_numpy(), model.predict(rows))
    # the cast of an int64 column with gaps and fractions: float, noted once
    schema = read_manifest(model_path)["input_schema"]
    notes = set()
    for _ in range(2):
        cast = cast_to_schema(rows, schema, notes=notes)
    assert cast["timestamp"].dtype == np.float64 and cast["timestamp"][30] == 1.5
    assert capsys.readouterr().err.count("'timestamp' was int64 in training") == 1

    def score(rows, **to_csv):
        rows.to_csv(tmp_path / "in.csv", index=False, **to_csv)
        args = [str(model_path), str(tmp_path / "in.csv"), str(out), "--overwrite"]
        return _cli_err(capsys, ["score", *args])

    # a missing id: exit 2 naming the row
    rows = X.head(40).astype({"user_id": float})
    rows.loc[25, "user_id"] = np.nan
    code, err = score(rows)
    assert code == 2, err
    assert (
        "row 26 after the header: column 'user_id' is empty or missing (NaN/NA): every "
        "row needs an id" in err
    )
    # an infinite feature the model refuses: the first refused row, by bisection
    rows = X.head(40).astype({"user_f0": object})
    rows.loc[17, "user_f0"] = np.inf
    code, err = score(rows)
    assert code == 2, err
    assert "row 18 after the header: the model cannot score this row" in err
    # a zero-padded int id is not silently another id; a ';'-separated file
    rows = X.head(40).astype({"item_id": str})
    rows.loc[12, "item_id"] = "0" + rows.loc[12, "item_id"]
    code, err = score(rows)
    assert code == 2 and "row 13 after the header: column 'item_id' holds '0" in err
    assert "would be different ids" in err
    code, err = score(X.head(5), sep=";")
    assert code == 2 and "write it comma-separated" in err


def test_recommend_serves_k_items_beyond_the_candidate_count(fitted, tmp_path, capsys):
    X, model = fitted
    items, users = catalogues(X)
    rec = Recommender(
        model, items, users=users, context={"timestamp": 0}, n_candidates=3
    )
    top = rec.recommend([0, 1, 2], k=8)
    assert top.groupby("user_id").size().tolist() == [8, 8, 8]
    path = save(rec, tmp_path / "rec.mtlc", input_example=X.head())
    pd.DataFrame({"user_id": [0, 1, 2]}).to_csv(tmp_path / "u.csv", index=False)
    args = ["recommend", str(path), "--users", str(tmp_path / "u.csv")]
    code, err = _cli_err(capsys, [*args, "-k", "8", str(tmp_path / "top.csv")])
    assert code == 0, err
    pd.testing.assert_frame_equal(_read(tmp_path / "top.csv"), top, check_dtype=False)
    assert "wrote 24 rows, top-8 items for 3 users" in err
    # k beyond the catalogue: every unseen item, and the note says so
    code, err = _cli_err(capsys, [*args, "-k", "5000", str(tmp_path / "all.csv")])
    assert code == 0, err
    served = _read(tmp_path / "all.csv").groupby("user_id").size()
    n_items = items["item_id"].nunique()
    assert (served < n_items).all() and (served > n_items // 2).all()
    assert f"wrote {served.sum():,} rows" in err and "fewer than 5000 per user" in err
    empty = tmp_path / "none.csv"
    empty.write_bytes(b"")
    code, err = _cli_err(
        capsys, ["recommend", str(path), "--users", str(empty), str(tmp_path / "x.csv")]
    )
    assert code == 2 and f"--users '{empty}' is empty" in err
    gap = tmp_path / "gap.csv"
    gap.write_text("user_id\n0\n1\n\n2\n,\n")  # blank lines are not rows
    code, err = _cli_err(
        capsys, ["recommend", str(path), "--users", str(gap), str(tmp_path / "x.csv")]
    )
    assert code == 2, err
    assert f"--users '{gap}', row 4 after the header: column 'user_id' is empty" in err


def test_a_column_the_model_drops_is_not_required(files, fitted, tmp_path, capsys):
    """The default pipeline drops the time: scoring a file without it works and
    gives predict's numbers (any time scores the same)."""
    folder, model_path, X_new = files
    _, model = fitted
    no_time = X_new.drop(columns=["timestamp", "extra"])
    no_time.to_csv(tmp_path / "no_time.csv", index=False)
    code = main(["score", str(model_path), str(tmp_path / "no_time.csv"),
                 str(tmp_path / "out.csv")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    out = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_array_equal(
        out[TASKS].to_numpy(), model.predict(X_new.drop(columns="extra"))
    )
    # a column the model reads is still required, and named
    no_side = no_time.drop(columns="user_f0")
    no_side.to_csv(tmp_path / "no_side.csv", index=False)
    code = main(["score", str(model_path), str(tmp_path / "no_side.csv"),
                 str(tmp_path / "o3.csv")])  # fmt: skip
    assert code == 2 and "lacks the columns ['user_f0']" in capsys.readouterr().err


def test_a_semicolon_separated_file_is_named_first(files, tmp_path, capsys):
    folder, model_path, X_new = files
    X_new.to_csv(tmp_path / "semi.csv", index=False, sep=";")
    code = main(["score", str(model_path), str(tmp_path / "semi.csv"),
                 str(tmp_path / "out.csv")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    message = err.split("error: ", 1)[-1]
    assert message.split(":", 2)[1].strip().startswith("the file looks ';'-separated")
    assert "lacks the columns" not in err


def test_a_header_naming_a_column_twice_is_refused_by_every_command(
    files, fitted, tmp_path, capsys
):
    folder, model_path, X_new = files
    dup = pd.concat([X_new[["user_id", "item_id", "user_f0"]], X_new], axis=1)
    dup.to_csv(tmp_path / "dup.csv", index=False)
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    table = pa.Table.from_arrays(
        [pa.array(dup.iloc[:, j].to_numpy()) for j in range(dup.shape[1])],
        names=[str(c) for c in dup.columns],
    )
    pq.write_table(table, tmp_path / "dup.parquet")
    for name in ("dup.csv", "dup.parquet"):
        for args in (
            ["score", model_path, tmp_path / name, tmp_path / "o.csv"],
            ["update", model_path, tmp_path / name, tmp_path / "m2.mtlc"],
        ):
            code = main([str(a) for a in args])
            err = capsys.readouterr().err
            assert code == 2, (args[0], name)
            assert "['item_id', 'user_f0', 'user_id'] more than once" in err, err
            assert name in err


def test_header_only_id_files_give_readable_empty_outputs(fitted, tmp_path):
    X, model = fitted
    items, users = catalogues(X)
    rec = Recommender(model, items, users=users)
    path = str(save(rec, tmp_path / "rec.mtlc", input_example=X.head()))
    pd.DataFrame({"user_id": []}).to_csv(tmp_path / "users.csv", index=False)
    pd.DataFrame({"item_id": []}).to_csv(tmp_path / "items.csv", index=False)
    expected = list(rec.recommend([0], k=2).columns)
    for out in ("top.parquet", "top.csv"):
        assert main(["recommend", path, "--users", str(tmp_path / "users.csv"),
                     str(tmp_path / out)]) == 0  # fmt: skip
        frame = _read(tmp_path / out)
        assert len(frame) == 0 and list(frame.columns) == expected
    assert main(["similar", path, str(tmp_path / "items.csv"),
                 str(tmp_path / "sim.parquet")]) == 0  # fmt: skip
    frame = pd.read_parquet(tmp_path / "sim.parquet")
    assert len(frame) == 0 and list(frame.columns)[:4] == [
        "item_id",
        "similar_item_id",
        "rank",
        "score",
    ]


def test_the_dropped_time_in_any_form_scores_as_predict(tmp_path, capsys):
    """Fitted on tz-aware times, scored from a CSV whose times are naive text or
    ints: the pipeline drops the time, so the form cannot matter."""
    X, Y = make_multitask_recsys(n_users=40, n_items=30, n_events=800, random_state=0)
    X = X.assign(timestamp=pd.to_datetime(X.timestamp, unit="s", utc=True))
    model = make_multitask_recommender(
        n_estimators=10, factors=4, fm_n_iter=3, cv=2, n_jobs=1, random_state=0
    ).fit(X, Y)
    path = str(save(model, tmp_path / "m.mtlc", input_example=X.head()))
    rows = X.tail(50)
    expected = model.predict(rows)
    for name, stamp in (
        ("naive", rows.timestamp.dt.tz_localize(None)),
        ("ints", rows.timestamp.astype("int64")),
        ("text", rows.timestamp.astype(str)),
    ):
        rows.assign(timestamp=stamp).to_csv(tmp_path / f"{name}.csv", index=False)
        out = tmp_path / f"{name}.out.csv"
        code = main(["score", path, str(tmp_path / f"{name}.csv"), str(out)])
        assert code == 0, capsys.readouterr().err
        scored = pd.read_csv(out)[TASKS].to_numpy()
        np.testing.assert_allclose(scored, expected, rtol=0, atol=1e-12)


def test_int_ids_written_as_floats_are_the_same_ids(fitted, tmp_path):
    """A float column writes 42 as "42.0": the same id as in Python, never "042"."""
    X, model = fitted
    items, users = catalogues(X)
    rec = Recommender(model, items, users=users)
    path = str(save(rec, tmp_path / "rec.mtlc", input_example=X.head()))
    pd.DataFrame({"user_id": [3.0, 7.0, np.nan]}).iloc[:2].to_csv(
        tmp_path / "u.csv", index=False
    )
    assert "3.0" in (tmp_path / "u.csv").read_text()
    assert main(["recommend", path, "--users", str(tmp_path / "u.csv"), "-k", "3",
                 str(tmp_path / "top.csv")]) == 0  # fmt: skip
    got = pd.read_csv(tmp_path / "top.csv")
    expected = rec.recommend([3, 7], k=3)
    np.testing.assert_array_equal(got.item_id, expected.item_id)
    pd.DataFrame({"user_id": ["03"]}).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["recommend", path, "--users", str(tmp_path / "bad.csv"),
                 str(tmp_path / "bad.out.csv")]) == 2  # fmt: skip


def test_parquet_without_pyarrow_is_a_missing_package_exit_1(
    files, tmp_path, monkeypatch, capsys
):
    """A missing optional package is exit 1 (as export-onnx without onnx), and the
    message says what to install; it was exit 2, as if the input were bad."""
    import sys

    folder, model_path, _ = files
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import fails
    for source, target in (("input.parquet", "out.csv"), ("input.csv", "out.parquet")):
        args = ["score", str(model_path), str(folder / source), str(tmp_path / target)]
        assert main(args) == 1
        err = capsys.readouterr().err
        assert "needs pyarrow: pip install 'mtlclassic[parquet]'" in err


def test_bool_columns_read_as_text_cast_as_read_csv_reads_them(tmp_path):
    # the Dask path reads every column as text: 'False' was refused as "not a
    # valid bool", and a category of bools scored every 'True' as missing
    from mtlclassic._batch.chunks import iter_chunks, number_missing_strings

    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame({"a": rng.normal(size=n), "flag": rng.random(n) < 0.5,
                      "bcat": pd.Categorical(rng.random(n) < 0.5)})  # fmt: skip
    y = 2 * X.flag + 3 * X.bcat.astype(bool) + X.a
    model = MultiTaskLGBM(n_estimators=20, n_jobs=1, random_state=0).fit(X, y)
    path = save(model, tmp_path / "m.mtlc", input_example=X.head())
    schema = read_manifest(path)["input_schema"]
    X.head(12).to_csv(tmp_path / "in.csv", index=False)
    local = next(iter_chunks(tmp_path / "in.csv", 100, schema=schema))
    text = pd.read_csv(tmp_path / "in.csv", dtype=str, keep_default_na=False)
    text = number_missing_strings(text.replace("", np.nan), schema)
    cast = cast_to_schema(text, schema)
    pd.testing.assert_frame_equal(cast, local)
    np.testing.assert_array_equal(model.predict(cast), model.predict(X.head(12)))
    lower = cast_to_schema(text.assign(bcat=text.bcat.str.lower()), schema)
    pd.testing.assert_frame_equal(lower, local)  # any case, as read_csv
