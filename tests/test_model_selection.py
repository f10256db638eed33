import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from mtlclassic import make_multitask_recsys
from mtlclassic.model_selection import TemporalSplit, UserKFold, UserTemporalSplit


@pytest.fixture(scope="module")
def events():
    X, Y = make_multitask_recsys(n_users=60, n_items=40, n_events=1500, random_state=0)
    # shuffle rows and add ties so the splitters cannot rely on the row order
    X = X.assign(timestamp=X["timestamp"] // 3600).sample(frac=1, random_state=1)
    return X.reset_index(drop=True), Y.loc[X.index].reset_index(drop=True)


@pytest.mark.parametrize("gap", [0, 48])
def test_temporal_split_never_trains_on_the_future(events, gap):
    X, _ = events
    t = X["timestamp"].to_numpy()
    cv = TemporalSplit(n_splits=4, gap=gap)
    folds = list(cv.split(X))
    assert len(folds) == cv.get_n_splits() == 4
    seen_test = []
    for i, (train, test) in enumerate(folds):
        assert t[train].max() < t[test].min() - gap
        assert np.intersect1d(train, test).size == 0
        seen_test.append(test)
        if i:  # expanding window: the previous test block is now training data
            if gap == 0:
                assert np.isin(folds[i - 1][1], train).all()
    all_test = np.concatenate(seen_test)
    assert np.unique(all_test).size == all_test.size
    # blocks are of about equal size
    sizes = [len(te) for _, te in folds]
    assert max(sizes) < 1.6 * min(sizes)


def test_temporal_split_datetime_and_max_train_size(events):
    X, _ = events
    Xd = X.assign(timestamp=pd.to_datetime(X["timestamp"], unit="h"))
    a = list(TemporalSplit(n_splits=3).split(X))
    b = list(TemporalSplit(n_splits=3).split(Xd))
    for (tr1, te1), (tr2, te2) in zip(a, b):
        np.testing.assert_array_equal(tr1, tr2)
        np.testing.assert_array_equal(te1, te2)
    gapped = list(TemporalSplit(n_splits=3, gap=pd.Timedelta(hours=24)).split(Xd))
    t = X["timestamp"].to_numpy()
    for train, test in gapped:
        assert t[train].max() < t[test].min() - 24
    limited = list(TemporalSplit(n_splits=3, max_train_size=100).split(X))
    for (train, test), (full_train, _) in zip(limited, a):
        assert train.size == 100
        assert t[train].min() >= np.sort(t[full_train])[-100]


def test_temporal_split_errors(events):
    X, _ = events
    with pytest.raises(ValueError, match="is not a column of X"):
        list(TemporalSplit(time_col="ts").split(X))
    with pytest.raises(ValueError, match="distinct times"):
        list(TemporalSplit(n_splits=3).split(pd.DataFrame({"timestamp": [1, 1, 2]})))
    with pytest.raises(ValueError, match="names a column, but X is not a DataFrame"):
        list(TemporalSplit().split(np.zeros((5, 2))))


@pytest.mark.parametrize("test_size, n_splits", [(1, 1), (2, 2), (0.2, 1)])
def test_user_temporal_split_leaves_last_events_out(events, test_size, n_splits):
    X, _ = events
    users = X["user_id"].to_numpy()
    t = X["timestamp"].to_numpy()
    folds = list(UserTemporalSplit(test_size=test_size, n_splits=n_splits).split(X))
    assert len(folds) == n_splits
    for train, test in folds:
        assert np.intersect1d(train, test).size == 0
        for u in np.unique(users[test]):
            tr, te = train[users[train] == u], test[users[test] == u]
            assert tr.size >= 1
            assert t[tr].max() <= t[te].min()  # never trains on the user's future
            count = (users == u).sum()
            expected = (
                test_size
                if isinstance(test_size, int)
                else int(np.ceil(test_size * count))
            )
            assert te.size == expected
    # the last split holds each eligible user's most recent events
    train, test = folds[-1]
    last = (
        X.assign(row=np.arange(len(X)))
        .sort_values(["timestamp", "row"])
        .groupby("user_id")
        .tail(1)["row"]
    )
    eligible = X["user_id"].value_counts()
    if isinstance(test_size, int):
        ok = eligible[eligible >= n_splits * test_size + 1].index
        assert set(last[X.loc[last, "user_id"].isin(ok)]) <= set(test)


def test_user_kfold_groups_users_and_report(events):
    X, Y = events
    cv = UserKFold(n_splits=4)
    users = X["user_id"].to_numpy()
    for train, test in cv.split(X):
        assert np.intersect1d(users[train], users[test]).size == 0
    report = cv.split_report(X)
    assert (report["n_cold_users"] == report["n_test_users"]).all()
    assert (report["cold_user_rows"] == 1.0).all()
    warm = UserTemporalSplit().split_report(X)
    assert warm.loc[0, "n_cold_users"] == 0
    assert report["n_test"].sum() == len(X)


def test_splitters_work_as_cv_in_gridsearch(events):
    X, Y = events
    num = ["user_f0", "user_f1", "item_f0", "item_f1"]
    model = make_pipeline(make_column_transformer(("passthrough", num)), Ridge())
    y = Y["click"].to_numpy()
    for cv in (TemporalSplit(n_splits=3), UserTemporalSplit(), UserKFold(3)):
        # the splitter itself is cv=: it reads its columns from the X it is given
        search = GridSearchCV(model, {"ridge__alpha": [1.0, 10.0]}, cv=cv)
        search.fit(X, y)
        # oracle: each fold's score is a Ridge fitted by hand on that split
        for k, (train, test) in enumerate(cv.split(X)):
            ridge = Ridge(alpha=1.0).fit(X.iloc[train][num], y[train])
            expected = ridge.score(X.iloc[test][num], y[test])
            np.testing.assert_allclose(
                search.cv_results_[f"split{k}_test_score"][0], expected, rtol=1e-10
            )


def test_event_kfold_is_balanced_and_append_stable():
    from mtlclassic.model_selection import EventKFold

    rng = np.random.RandomState(0)
    X = pd.DataFrame({"user_id": rng.randint(0, 400, 7003)})
    cv = EventKFold(n_splits=5, random_state=3)
    fold = cv.folds(X)
    assert sorted(np.bincount(fold).tolist()) == [1400, 1400, 1401, 1401, 1401]
    # each block of 5 consecutive rows holds every fold once
    assert (np.sort(fold[:7000].reshape(-1, 5), axis=1) == np.arange(5)).all()
    more = pd.concat([X, pd.DataFrame({"user_id": [1, 999]})], ignore_index=True)
    np.testing.assert_array_equal(cv.folds(more)[:7003], fold)
    tests = [t for _, t in cv.split(X)]
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(7003))
    assert not np.array_equal(EventKFold(5, random_state=4).folds(X), fold)


def test_event_kfold_holds_cold_users_out_whole():
    from mtlclassic.model_selection import EventKFold

    rng = np.random.RandomState(1)
    X = pd.DataFrame({"user_id": rng.choice([f"u{i}" for i in range(2000)], 20000)})
    cv = EventKFold(n_splits=4, cold_user_fraction=0.3, random_state=0)
    fold = cv.folds(X)
    per_user = pd.Series(fold).groupby(X["user_id"].to_numpy()).nunique()
    whole = per_user == 1  # users with one event are trivially whole
    counts = X["user_id"].value_counts()
    many = counts.index[counts >= 8]
    share = whole[many].mean()
    assert 0.25 < share < 0.35  # the cold share (plus chance: 4^-7 per user)
    # a user's status does not depend on the other rows
    sub = X[X["user_id"].isin(many[:50])].reset_index(drop=True)
    sub_whole = (
        pd.Series(cv.folds(sub)).groupby(sub["user_id"].to_numpy()).nunique() == 1
    )
    assert sub_whole.equals(whole[sub_whole.index])
    with pytest.raises(ValueError, match="cold_user_fraction must be in"):
        EventKFold(cold_user_fraction=1.0).folds(X)
    with pytest.raises(ValueError, match="more than the 3 rows"):
        EventKFold(5).folds(X.head(3))


@pytest.mark.parametrize(
    "times, expected",
    [
        (
            [1, 2, 3, 4, 4, 4, 4, 4, 4, 4],
            [([1], [2]), ([1, 2], [3]), ([1, 2, 3], [4] * 7)],
        ),
        (
            [1, 2, 3, 3, 3, 3, 3, 3, 3, 4, 4],
            [([1], [2]), ([1, 2], [3] * 7), ([1, 2] + [3] * 7, [4, 4])],
        ),
    ],
)
def test_temporal_split_with_most_events_at_the_newest_times(times, expected):
    X = pd.DataFrame({"timestamp": times, "user_id": 0})
    got = [
        (sorted(X.timestamp[train]), sorted(X.timestamp[test]))
        for train, test in TemporalSplit(n_splits=3).split(X)
    ]
    assert got == expected  # by hand: one distinct time per cut-off


def test_event_kfold_cold_users_are_the_same_for_int_and_float_ids():
    """Ids read as floats (42.0) drew other cold users than the same ints."""
    from mtlclassic.model_selection import EventKFold

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"user_id": rng.integers(0, 40, 400), "item_id": 0})
    split = EventKFold(4, cold_user_fraction=0.3, random_state=0)
    want = split.folds(X)
    for ids in (X.user_id.astype(float), X.user_id.astype(float).astype(object),
                X.user_id.astype("Int64")):  # fmt: skip
        np.testing.assert_array_equal(split.folds(X.assign(user_id=ids)), want)
    # the int folds are the ones before the change (hash of the ids' text)
    key = f"{0:016d}"[-16:]
    h = pd.util.hash_array(X.user_id.to_numpy().astype(object), hash_key=key)
    cold = (h >> np.uint64(11)).astype(np.float64) / 2.0**53 < 0.3
    np.testing.assert_array_equal(want[cold], (h % np.uint64(4)).astype(np.int64)[cold])
