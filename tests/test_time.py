"""The one time-column reader: every form of the same instants, the same result."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from mtlclassic._time import time_values
from mtlclassic.candidates import Popularity
from mtlclassic.model_selection import TemporalSplit, UserTemporalSplit

SECONDS = np.array([1_600_000_000, 1_600_000_060, 1_600_003_600, 1_600_086_400])


def forms():
    naive = pd.Series(pd.to_datetime(SECONDS, unit="s"))
    aware = naive.dt.tz_localize("UTC")
    return {
        "int seconds": pd.Series(SECONDS),
        "float seconds": pd.Series(SECONDS.astype(float)),
        "naive datetime64[ns]": naive,
        "naive datetime64[s]": naive.astype("datetime64[s]"),
        "tz-aware UTC": aware,
        "tz-aware Paris": aware.dt.tz_convert("Europe/Paris"),
        "object Timestamps": pd.Series(list(aware), dtype=object),
        "numpy of a tz-aware column": aware.to_numpy(),
    }


@pytest.mark.parametrize("form", list(forms()))
def test_every_form_reads_as_the_same_seconds(form):
    t, is_datetime = time_values(forms()[form], "timestamp")
    assert_allclose(t, SECONDS, rtol=0, atol=1e-6)
    assert is_datetime == ("seconds" not in form)


def test_text_and_missing_times_are_refused_naming_the_column():
    with pytest.raises(TypeError, match=r"'when' holds text.*pd\.to_datetime"):
        time_values(pd.Series(["2020-09-13T12:26:40Z"] * 2), "when")
    with pytest.raises(ValueError, match=r"'when' has 1 missing value.*row 1"):
        time_values(pd.Series([1.0, np.nan]), "when")
    with pytest.raises(TypeError, match="'when' holds booleans"):
        time_values(pd.Series([True, False]), "when")


def _events(form):
    rng = np.random.RandomState(0)
    n = 60
    seconds = 1_600_000_000 + np.sort(rng.randint(0, 10**6, n))
    frame = pd.DataFrame({"user_id": rng.randint(0, 6, n),
                          "item_id": rng.randint(0, 9, n)})  # fmt: skip
    stamp = pd.Series(pd.to_datetime(seconds, unit="s"))
    frame["timestamp"] = {
        "int": seconds,
        "naive": stamp,
        "aware": stamp.dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo"),
    }[form]
    return frame


@pytest.mark.parametrize("form", ["naive", "aware"])
def test_splitters_and_popularity_agree_across_forms(form):
    reference, other = _events("int"), _events(form)
    for splitter in (TemporalSplit(n_splits=3), UserTemporalSplit(test_size=0.3)):
        for (a_train, a_test), (b_train, b_test) in zip(
            splitter.split(reference), splitter.split(other)
        ):
            assert_array_equal(a_train, b_train)
            assert_array_equal(a_test, b_test)
    gap = pd.Timedelta(hours=5)
    a = list(TemporalSplit(n_splits=2, gap=gap.total_seconds()).split(reference))
    b = list(TemporalSplit(n_splits=2, gap=gap).split(other))
    assert all((x[0] == y[0]).all() for x, y in zip(a, b))
    day = 86_400
    assert_allclose(
        Popularity(half_life=day).fit(reference).popularity_,
        Popularity(half_life="1D").fit(other).popularity_,
        rtol=1e-9,
    )


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_datetimes_are_read_in_their_own_unit_past_2262(unit):
    """A datetime64[s] date in 2300 was cast to nanoseconds and wrapped around:
    TemporalSplit put it in the oldest training block."""
    from mtlclassic.model_selection import TemporalSplit

    dates = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
    if unit != "ns":  # beyond datetime64[ns]
        dates.append("2300-01-01")
    ts = pd.Series(pd.to_datetime(dates).as_unit(unit))
    got, is_datetime = time_values(ts, "timestamp")
    epoch = pd.Timestamp("1970-01-01")
    want = [(pd.Timestamp(d) - epoch).total_seconds() for d in dates]
    assert is_datetime and np.array_equal(got, want)
    aware = ts.dt.tz_localize("Europe/Berlin")  # the same instants an hour earlier
    assert np.array_equal(time_values(aware, "t")[0], np.array(want) - 3600)
    X = pd.DataFrame({"user_id": range(len(dates)), "timestamp": ts})
    *_, (train, test) = TemporalSplit(n_splits=2).split(X)
    assert test.max() == len(dates) - 1  # the newest event is in the newest block


def test_temporal_split_gap_and_window_do_not_depend_on_row_order():
    """max_train_size chose among equal times by row position; a duration gap on
    a numeric column raised Python's '<' error; gap=NaN was accepted."""
    t = [0, 1, 1, 1, 2, 3, 4, 5]
    X = pd.DataFrame({"timestamp": t, "e": list("abcdefgh")})
    for window, want in ((2, ["b", "c", "d"]), (4, ["a", "b", "c", "d"])):
        for order in ([0, 1, 2, 3, 4, 5, 6, 7], [0, 3, 2, 1, 4, 5, 6, 7]):
            rows = X.iloc[order].reset_index(drop=True)
            split = TemporalSplit(n_splits=1, max_train_size=window)
            ((train, _),) = split.split(rows)
            assert sorted(rows.e[train]) == want
    # 3 of 4 training events: the three at time 1 would overflow it -> newest only
    X2 = pd.DataFrame({"timestamp": [0, 1, 1, 2, 3, 4, 5, 6], "e": list("abcdefgh")})
    ((train, _),) = TemporalSplit(n_splits=1, max_train_size=2).split(X2)
    assert sorted(X2.e[train]) == ["d"]
    for gap, error, match in ((pd.Timedelta("1D"), ValueError, "gap=.* is a duration"),
                              ("1D", ValueError, "gap='1D' is a duration"),
                              (np.nan, ValueError, "gap must be >= 0"),
                              ([1], TypeError, "gap must be a number")):  # fmt: skip
        with pytest.raises(error, match=match):
            next(TemporalSplit(n_splits=2, gap=gap).split(X))
    dated = X.assign(timestamp=pd.to_datetime(X.timestamp, unit="D"))
    want = [tr.tolist() for tr, _ in TemporalSplit(n_splits=2, gap=0.5).split(X)]
    import datetime

    hours = (datetime.timedelta(hours=12), np.timedelta64(12, "h"))
    for gap in ("12h", pd.Timedelta("12h"), 43200, *hours):  # the same gap
        split = TemporalSplit(n_splits=2, gap=gap)
        assert [tr.tolist() for tr, _ in split.split(dated)] == want
