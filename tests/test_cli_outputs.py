"""Where the CLI writes and what it needs: an OUTPUT that is a folder is bad
usage (exit 2, before any work) for every command; a column the model drops
(the time) is needed neither in an input example nor in ``--example``; a
model that needs ``--trust`` says so in CLI terms."""

import numpy as np
import pandas as pd
import pytest

from mtlclassic import Recommender, make_multitask_recommender, save, to_onnx
from mtlclassic.cli import main
from tests._catalogue import catalogues
from tests._rows import PARAMS, small_events


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    X, Y = small_events()
    model = make_multitask_recommender(**PARAMS).fit(X, Y)
    items, users = catalogues(X)
    rec = Recommender(model, items, users=users)
    folder = tmp_path_factory.mktemp("models")
    X.head(50).to_csv(folder / "rows.csv", index=False)
    X[["user_id"]].head(5).to_csv(folder / "users.csv", index=False)
    X[["item_id"]].head(5).to_csv(folder / "items.csv", index=False)
    pd.concat([X.head(30), Y.head(30)], axis=1).to_csv(folder / "events.csv",
                                                        index=False)  # fmt: skip
    return X, model, save(model, folder / "model.mtlc"), save(rec, folder / "rec.mtlc")


@pytest.mark.parametrize("command", ["score", "recommend", "similar", "update"])
def test_an_output_that_is_a_folder_is_bad_usage(fitted, tmp_path, capsys, command):
    _, _, model_path, rec_path = fitted
    folder = tmp_path / "out"
    folder.mkdir()
    data = model_path.parent
    args = {
        "score": ["score", str(model_path), str(data / "rows.csv"), str(folder)],
        "recommend": ["recommend", str(rec_path), "--users", str(data / "users.csv"),
                      str(folder)],
        "similar": ["similar", str(rec_path), str(data / "items.csv"), str(folder)],
        "update": ["update", str(model_path), str(data / "events.csv"), str(folder)],
    }[command]  # fmt: skip
    for extra in ([], ["--overwrite"]):
        assert main(args + extra) == 2
        assert f"OUTPUT '{folder}' is a folder; give a file name." in (
            capsys.readouterr().err
        )
    assert folder.is_dir() and not any(folder.iterdir())  # left as it was


def test_the_dropped_time_is_not_needed_in_an_input_example(fitted, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from mtlclassic import onnx_inputs

    X, model, _, _ = fitted
    rows = X.head(40).drop(columns="timestamp")
    path = save(model, tmp_path / "m.mtlc", input_example=rows.head())  # no error
    proto = to_onnx(model, rows)
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    got = session.run(None, onnx_inputs(rows, proto))[0]
    np.testing.assert_allclose(got, model.predict(X.head(40)), rtol=0, atol=1e-9)
    rows.to_csv(tmp_path / "example.csv", index=False)
    out = tmp_path / "m.onnx"
    assert main(["export-onnx", str(path), str(out), "--example",
                 str(tmp_path / "example.csv")]) == 0  # fmt: skip
    assert out.stat().st_size > 0
    with pytest.raises(ValueError, match=r"missing the model's columns \['item_id'\]"):
        to_onnx(model, rows.drop(columns="item_id"))  # a column it reads: refused


def test_a_model_that_needs_trust_says_so_in_cli_terms(tmp_path, capsys):
    from tests.test_embedder_protocol import ItemPopularity

    X, Y = small_events()
    model = make_multitask_recommender(
        embedders=(ItemPopularity(),), n_estimators=10, cv=2, random_state=0, n_jobs=1
    ).fit(X, Y)
    path = save(model, tmp_path / "m.mtlc")
    X.head(10).to_csv(tmp_path / "rows.csv", index=False)
    args = ["score", str(path), str(tmp_path / "rows.csv"), str(tmp_path / "out.csv")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "ItemPopularity" in err and "--trust MODULE" in err
    assert main([*args, "--trust", "tests.test_embedder_protocol"]) == 0


def test_a_trailing_delimiter_is_read_in_place_and_an_extra_field_refused(
    fitted, tmp_path, capsys
):
    X, model, model_path, _ = fitted
    rows = X.head(20)
    lines = rows.to_csv(index=False).splitlines()
    trailing = tmp_path / "trailing.csv"  # every data row ends with a comma
    trailing.write_text("\n".join([lines[0]] + [line + "," for line in lines[1:]]))
    out = tmp_path / "out.csv"
    assert main(["score", str(model_path), str(trailing), str(out)]) == 0
    from mtlclassic._targets import fitted_tasks

    got = pd.read_csv(out)[list(fitted_tasks(model))].to_numpy()
    np.testing.assert_allclose(got, model.predict(rows), rtol=1e-12)  # not shifted
    extra = tmp_path / "extra.csv"
    extra.write_text("\n".join([lines[0], lines[1] + ",surplus", *lines[2:]]))
    # (pandas would index the rows by their first field and shift the rest)
    args = ["score", str(model_path), str(extra), str(tmp_path / "o2.csv")]
    capsys.readouterr()
    assert main(args) == 2
    assert "row 1 after the header" in capsys.readouterr().err


def test_scoring_a_recommender_without_a_model_and_repeated_id_cols_are_usage_errors(
    fitted, tmp_path, capsys
):
    X, _, model_path, _ = fitted
    items, users = catalogues(X)
    events_only = save(
        Recommender(None, items, users=users).fit(X), tmp_path / "r.mtlc"
    )
    rows = model_path.parent / "rows.csv"
    assert main(["score", str(events_only), str(rows), str(tmp_path / "a.csv")]) == 2
    assert "fitted on events alone" in capsys.readouterr().err
    args = ["score", str(model_path), str(rows), str(tmp_path / "b.csv"),
            "--id-cols", "user_id", "user_id"]  # fmt: skip
    assert main(args) == 2
    assert "--id-cols names ['user_id'] more than once" in capsys.readouterr().err
