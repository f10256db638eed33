import numpy as np
import pandas as pd
import pytest

from mtlclassic._targets import check_targets, check_task_sample_weight, targets_ndim


def test_dataframe_names_kinds_mask_and_copy():
    Y = pd.DataFrame({"rating": [4.0, np.nan, 2.5], "click": [1, 0, 1]})
    Yf, mask, kinds, names = check_targets(Y)
    assert names == ["rating", "click"]
    assert kinds == ["regression", "binary"]
    np.testing.assert_array_equal(mask, [[True, True], [False, True], [True, True]])
    assert Yf.dtype == np.float64
    Yf[0, 0] = -1  # the user's data is never a view
    assert Y.loc[0, "rating"] == 4.0


def test_one_dimensional_and_series():
    Yf, mask, kinds, names = check_targets(np.array([0.0, 1.0, 1.0]))
    assert Yf.shape == (3, 1) and kinds == ["binary"] and names == ["task_0"]
    _, _, _, names = check_targets(pd.Series([1.0, 2.0], name="rating"))
    assert names == ["rating"]
    assert targets_ndim([1, 2]) == 1 and targets_ndim([[1], [2]]) == 2
    assert targets_ndim(pd.DataFrame({"a": [1]})) == 2


def test_tasks_list_dict_and_ranking():
    Y = pd.DataFrame({"a": [0.0, 1.0], "b": [0.0, 2.0]})
    assert check_targets(Y, ["regression", "ranking"])[2] == ["regression", "ranking"]
    assert check_targets(Y, {"b": "regression", "a": "binary"})[2] == [
        "binary",
        "regression",
    ]
    # None entries are inferred
    assert check_targets(Y, [None, "ranking"])[2] == ["binary", "ranking"]


@pytest.mark.parametrize(
    "Y, tasks, kwargs, error, words",
    [
        ([[np.nan, 1], [np.nan, 0]], None, {}, ValueError, "no label at all"),
        ([0, 1, 2], ["binary"], {}, ValueError, "labels other than 0/1"),
        ([0, np.inf], None, {}, ValueError, "inf"),
        ([1, 2, 3], None, {"n_samples": 4}, ValueError, "Y has 3 rows but X has 4"),
        ([1, 2], ["classification"], {}, ValueError, "Unknown task kind"),
        ([[1, 2], [3, 4]], ["binary"], {}, ValueError, "tasks has 1 kinds"),
        ([0.5, 1.0], ["ranking"], {}, ValueError, "non-negative integer"),
        ([1, 2], {"other": "regression"}, {}, ValueError, "must name every task"),
        ([1, 2], None, {"allow_kinds": ("binary",)}, ValueError, "does not support"),
        (None, None, {}, ValueError, "Y is required"),
        ([["a"], ["b"]], None, {}, TypeError, "must be numeric"),
        (np.array([1 + 1j, 2.0]), None, {}, ValueError, "Complex data not supported"),
    ],
)
def test_bad_targets(Y, tasks, kwargs, error, words):
    with pytest.raises(error, match=words):
        check_targets(Y, tasks, **kwargs)


def test_duplicate_names_and_non_numeric_column():
    Y = pd.DataFrame([[1.0, 2.0]], columns=["t", "t"])
    with pytest.raises(ValueError, match="Duplicate task names"):
        check_targets(Y)
    with pytest.raises(TypeError, match=r"columns \['s'\] are not"):
        check_targets(pd.DataFrame({"s": ["x"]}))


def test_sample_weight():
    np.testing.assert_array_equal(check_task_sample_weight(None, 2, 2), np.ones((2, 2)))
    sw = check_task_sample_weight(np.array([1.0, 3.0]), 2, 2)
    np.testing.assert_array_equal(sw, [[1, 1], [3, 3]])
    with pytest.raises(ValueError, match="has 3 values but X has 2"):
        check_task_sample_weight([1, 2, 3], 2, 2)
    with pytest.raises(ValueError, match=r"shape \(n_samples, n_tasks\)"):
        check_task_sample_weight(np.ones((2, 3)), 2, 2)
    with pytest.raises(ValueError, match="non-negative"):
        check_task_sample_weight([-1.0, 1.0], 2, 1)


def test_tasks_from_column_splits_labels_by_domain():
    from mtlclassic import tasks_from_column

    X = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 3, 3],
            "domain": pd.Categorical(
                ["film", "book", "film", "film", "book"],
                categories=["film", "book", "music"],  # music unused: no task
            ),
        },
        index=[10, 11, 12, 13, 14],
    )
    y = pd.Series([4.0, 5.0, np.nan, 2.0, 1.0], index=X.index)
    same, Y = tasks_from_column(X, y, "domain")
    assert same is X and list(Y.columns) == ["film", "book"]  # category order
    expected = pd.DataFrame(
        {"film": [4.0, np.nan, np.nan, 2.0, np.nan],
         "book": [np.nan, 5.0, np.nan, np.nan, 1.0]},
        index=X.index,
    )  # fmt: skip
    pd.testing.assert_frame_equal(Y, expected)
    # several label columns: one task per label and domain
    two = pd.DataFrame({"rating": y.to_numpy(), "click": [1, 0, 1, 1, 0]})
    _, Y2 = tasks_from_column(X, two, "domain", sep=":")
    assert list(Y2.columns) == ["rating:film", "rating:book", "click:film",
                                "click:book"]  # fmt: skip
    assert Y2["click:book"].tolist()[1] == 0.0 and np.isnan(Y2["click:book"].iloc[0])
    # the result is the shape every estimator here reads: kinds inferred per task
    _, mask, kinds, names = check_targets(Y2)
    assert names == list(Y2.columns) and kinds[2:] == ["binary", "binary"]
    assert mask.sum() == two.notna().sum().sum()


def test_tasks_from_column_refuses_bad_input():
    from mtlclassic import tasks_from_column

    X = pd.DataFrame({"domain": ["a", None, "b"]})
    with pytest.raises(ValueError, match="column 'domain' has 1 missing"):
        tasks_from_column(X, [1.0, 2.0, 3.0], "domain")
    with pytest.raises(ValueError, match="is not a column of X"):
        tasks_from_column(X, [1.0, 2.0, 3.0], "kind")
    with pytest.raises(ValueError, match="y has 2 rows but X has 3"):
        tasks_from_column(X.fillna("a"), [1.0, 2.0], "domain")
    with pytest.raises(TypeError, match="X must be a DataFrame"):
        tasks_from_column(X.to_numpy(), [1.0, 2.0, 3.0], 0)
    X = X.fillna("a")
    for y in (pd.DataFrame({1: [5.0, 3.0, 4.0], "1": [0.0, 1.0, 1.0]}),
              pd.DataFrame([[5.0, 0.0]] * 3, columns=["r", "r"])):  # fmt: skip
        with pytest.raises(ValueError, match="more than once .*a name of its own"):
            tasks_from_column(X, y, "domain")  # never one column's labels lost


def test_tasks_from_column_refuses_a_shuffled_index():
    from mtlclassic import tasks_from_column

    X = pd.DataFrame({"domain": ["a", "b", "a"]}, index=[5, 6, 7])
    y = pd.Series([1.0, 2.0, 3.0], index=[7, 6, 5])
    with pytest.raises(ValueError, match="another order"):
        tasks_from_column(X, y, "domain")
    _, Y = tasks_from_column(X, y.reindex(X.index), "domain")
    assert Y["a"].tolist()[0] == 3.0


def test_a_weight_frame_is_read_by_task_name():
    frame = pd.DataFrame({"click": [1.0, 2.0], "rating": [3.0, 4.0], "x": [9.0, 9.0]})
    sw = check_task_sample_weight(frame, 2, 2, task_names=["rating", "click"])
    np.testing.assert_array_equal(sw, [[3, 1], [4, 2]])  # task order, "x" ignored
    unnamed = pd.DataFrame(np.array([[1.0, 2.0], [3.0, 4.0]]))  # columns 0, 1
    sw = check_task_sample_weight(unnamed, 2, 2, task_names=["rating", "click"])
    np.testing.assert_array_equal(sw, [[1, 2], [3, 4]])  # positions
    with pytest.raises(ValueError, match=r"has none for \['like'\]"):
        check_task_sample_weight(frame, 2, 2, task_names=["rating", "like"])
    shared = pd.DataFrame({"w": [1.0, 5.0]})  # one column named after no task
    sw = check_task_sample_weight(shared, 2, 2, task_names=["rating", "click"])
    np.testing.assert_array_equal(sw, [[1, 1], [5, 5]])
    frame_before = frame.copy()
    check_task_sample_weight(frame, 2, 2, task_names=["click", "rating"])
    pd.testing.assert_frame_equal(frame, frame_before)


def test_estimators_read_weight_frames_by_task_name():
    from mtlclassic import MultiTaskLGBM, TraceNormMultiTask

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.standard_normal((300, 4)), columns=list("abcd"))
    Y = pd.DataFrame({
        "rating": X["a"] + 0.1 * rng.standard_normal(300),
        "click": (X["b"] > 0).astype(float),
    })  # fmt: skip
    w = pd.DataFrame(
        {"click": rng.uniform(0.1, 3, 300), "rating": rng.uniform(0.1, 3, 300)}
    )
    by_position = w[["rating", "click"]].to_numpy()  # the oracle: Y's task order
    for model in (
        MultiTaskLGBM(n_estimators=10, random_state=0, n_jobs=1),
        TraceNormMultiTask(
            alpha=0.01, tasks={"rating": "regression", "click": "binary"}
        ),
    ):
        named = clone_fit(model, X, Y, w)
        positional = clone_fit(model, X, Y, by_position)
        np.testing.assert_allclose(named.predict(X), positional.predict(X))
        swapped = clone_fit(model, X, Y, w.to_numpy())  # click's weights on rating
        assert not np.allclose(named.predict(X), swapped.predict(X))


def clone_fit(model, X, Y, w):
    from sklearn.base import clone

    return clone(model).fit(X, Y, sample_weight=w)


def test_tasks_named_by_numbers_are_matched_by_name_not_position():
    from mtlclassic.metrics import rmse

    rng = np.random.default_rng(0)
    Y = pd.DataFrame(rng.standard_normal((20, 3)), columns=[2, 0, 1])
    np.testing.assert_allclose(rmse(Y, Y[[0, 1, 2]]), 0.0)  # labels 0..2: by name
    weights = pd.DataFrame({0: np.ones(20), 1: np.ones(20) * 2, 2: np.ones(20) * 3})
    sw = check_task_sample_weight(weights, 20, 3, task_names=["2", "0", "1"])
    np.testing.assert_array_equal(sw[0], [3, 1, 2])


def test_trace_norm_path_reads_weight_frames_by_task_name():
    from mtlclassic.linear_model import trace_norm_path

    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 4))
    Y = pd.DataFrame({"a": X[:, 0] + rng.standard_normal(80),
                      "b": X[:, 1] + rng.standard_normal(80)})  # fmt: skip
    w = pd.DataFrame({"b": rng.uniform(0.1, 3, 80), "a": rng.uniform(0.1, 3, 80)})
    named = trace_norm_path(X, Y, n_alphas=3, sample_weight=w)[1]
    ordered = trace_norm_path(X, Y, n_alphas=3, sample_weight=w[["a", "b"]].to_numpy())[
        1
    ]
    np.testing.assert_allclose(named, ordered)
