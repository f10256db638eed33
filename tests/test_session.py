"""SessionEmbedder: features from the earlier events of each session only."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from mtlclassic import (
    Recommender,
    SessionEmbedder,
    load,
    make_multitask_recommender,
    save,
)
from mtlclassic.embedding import BaseEmbedder, session_context
from mtlclassic.recommend._update import session_rows
from tests._catalogue import catalogues

V = {"a": [1.0, 0.0], "b": [0.0, 2.0], "c": [1.0, 1.0]}  # "d" has no vector
CATEGORY = {"a": "x", "b": "y", "c": "x", "d": "z"}


class FixedVectors(BaseEmbedder):
    """An item embedding with the vectors of ``V`` (a plug-in for the tests)."""

    def __init__(self, user_col="user_id", item_col="item_id", passthrough=False,
                 cv=None, random_state=None):  # fmt: skip
        self.user_col = user_col
        self.item_col = item_col
        self.passthrough = passthrough
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, y=None):
        self.n_features_in_ = X.shape[1]
        return self

    def item_vectors(self):
        return np.array(list(V)), np.array(list(V.values()))

    def _embed(self, X):
        return X, np.zeros((len(X), 0))

    def _embedding_names(self):
        return []


def toy_log():
    """Three users: two sessions of A, a tie at B's start, an unknown item for C."""
    rows = [
        ("A", "a", 0), ("A", "b", 100), ("A", "c", 200), ("A", "a", 5000),
        ("B", "b", 0), ("B", "c", 0), ("B", "a", 50),
        ("C", "d", 0), ("C", "a", 10),
    ]  # fmt: skip
    X = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return X.assign(item_category=X["item_id"].map(CATEGORY))


def embedder(**kw):
    kw = dict(item_embedder=FixedVectors(), category_col="item_category") | kw
    return SessionEmbedder(**kw).set_output(transform="pandas")


def test_features_equal_a_hand_computation():
    X = toy_log()
    Z = embedder().fit(X).transform(X)
    a, b, c = (np.array(V[k]) for k in "abc")
    nan2 = [np.nan, np.nan]
    expected = [  # length, elapsed, mean (2), last (2), mean dot, last dot, share
        [0, 0, *nan2, *nan2, np.nan, np.nan, np.nan],
        [1, 100, *a, *a, a @ b, a @ b, 0.0],  # b is "y", the earlier a is "x"
        [2, 200, *(a + b) / 2, *b, (a + b) / 2 @ c, b @ c, 0.5],
        [0, 0, *nan2, *nan2, np.nan, np.nan, np.nan],  # 4800 s later: new session
        [0, 0, *nan2, *nan2, np.nan, np.nan, np.nan],  # b and c at the same
        [0, 0, *nan2, *nan2, np.nan, np.nan, np.nan],  # instant: not earlier
        [2, 50, *(b + c) / 2, *(b + c) / 2, (b + c) / 2 @ a, (b + c) / 2 @ a, 0.5],
        [0, 0, *nan2, *nan2, np.nan, np.nan, np.nan],
        [1, 10, *nan2, *nan2, np.nan, np.nan, 0.0],  # d has no vector
    ]
    names = ["session_length", "session_elapsed", "session_mean_0",
             "session_mean_1", "session_last_0", "session_last_1",
             "session_mean_dot", "session_last_dot",
             "session_category_share"]  # fmt: skip
    assert list(Z.columns[:9]) == names
    assert_allclose(Z[names].to_numpy(dtype=float), np.array(expected, dtype=float))
    assert_array_equal(Z["item_id"], X["item_id"])  # passthrough after


def test_shuffling_rows_changes_nothing():
    X = toy_log()
    emb = embedder().fit(X)
    Z = emb.transform(X)
    order = np.random.default_rng(0).permutation(len(X))
    shuffled = emb.transform(X.iloc[order])
    pd.testing.assert_frame_equal(shuffled, Z.iloc[order])


def test_features_never_depend_on_the_event_itself_or_later_ones():
    rng = np.random.default_rng(1)
    n = 300
    X = pd.DataFrame({
        "user_id": rng.integers(0, 6, n),
        "item_id": rng.choice(list("abcd"), n),
        "timestamp": np.sort(rng.integers(0, 20_000, n)),
    })  # fmt: skip
    X["item_category"] = X["item_id"].map(CATEGORY)
    emb = embedder().fit(X)
    full = emb.transform(X).iloc[:, :9].to_numpy(dtype=float)
    for i in rng.choice(n, 25, replace=False):
        t = X["timestamp"].iloc[i]
        earlier = X[X["timestamp"] < t]
        # the log cut just before the event, the event alone after it
        cut = emb.transform(pd.concat([earlier, X.iloc[[i]]]))
        got = cut.iloc[-1, :9].to_numpy(dtype=float)
        assert_allclose(got, full[i], equal_nan=True)
        # its own label-free row replaced by another item: only the dots move
        other = X.iloc[[i]].assign(item_id="c", item_category="x")
        moved = emb.transform(pd.concat([earlier, other])).iloc[-1, :6]
        assert_allclose(moved.to_numpy(dtype=float), full[i, :6], equal_nan=True)


def test_session_column_and_datetimes():
    X = toy_log()
    X["session"] = [1, 1, 2, 2, 7, 7, 7, 9, 9]  # A's third event starts session 2
    Z = embedder(session_col="session").fit(X).transform(X)
    assert Z["session_length"].tolist() == [0, 1, 0, 1, 0, 0, 2, 0, 1]
    as_dates = X.assign(timestamp=pd.to_datetime(X["timestamp"], unit="s"))
    plain = embedder().fit(X).transform(X)
    dated = embedder().fit(as_dates).transform(as_dates)
    pd.testing.assert_frame_equal(
        dated.drop(columns="timestamp"), plain.drop(columns="timestamp")
    )
    gap = embedder(gap=50).fit(X).transform(X)  # A's 100 s pause: new session
    assert gap["session_length"].tolist()[:3] == [0, 0, 0]


def test_session_context_puts_the_session_before_the_rows():
    X = toy_log()
    emb = embedder().fit(X)
    history, rows = X.iloc[:3], X.iloc[3:]
    rows = rows.assign(timestamp=rows["timestamp"].where(rows.user_id != "A", 300))
    joined = emb.transform(pd.concat([history, rows]))
    with session_context(emb, history):
        scored = emb.transform(rows)
    pd.testing.assert_frame_equal(scored, joined.iloc[3:])
    assert scored["session_length"].iloc[0] == 3  # A's row sees its session
    pd.testing.assert_frame_equal(emb.transform(rows).iloc[1:], scored.iloc[1:])


def test_crossfitted_features_use_out_of_fold_item_vectors():
    from sklearn.model_selection import KFold

    from mtlclassic import ALSEmbedder

    X = toy_log().iloc[:, :3]
    X = pd.concat([X.assign(user_id=X["user_id"] + str(k)) for k in range(6)])
    X = X.reset_index(drop=True)
    folds = KFold(3, shuffle=True, random_state=0)
    item = ALSEmbedder(factors=2, iterations=3, random_state=0, cv=None)
    emb = SessionEmbedder(item_embedder=item, cv=folds, vectors=False)
    Z = emb.set_output(transform="pandas").fit_transform(X)
    for train, test in folds.split(X):
        fold = SessionEmbedder(item_embedder=item, vectors=False).fit(X.iloc[train])
        fold_Z = fold.set_output(transform="pandas").transform(X)  # all rows: history
        pd.testing.assert_frame_equal(Z.iloc[test], fold_Z.iloc[test])
    full = emb.transform(X)
    assert not np.allclose(
        full["session_mean_dot"].fillna(0), Z["session_mean_dot"].fillna(0)
    )


def test_bad_input():
    X = toy_log()
    numeric = X.assign(user_id=X["user_id"].map({"A": 0, "B": 1, "C": 2}))
    numeric = numeric.assign(item_id=numeric["item_id"].map(dict(a=0, b=1, c=2, d=3)))
    numeric = numeric[["user_id", "item_id", "timestamp"]]
    with pytest.raises(ValueError, match="no column 'user_id'"):
        SessionEmbedder(random_state=0).fit(numeric.to_numpy())
    by_position = SessionEmbedder(user_col=0, item_col=1, time_col=2, vectors=False,
                                  passthrough=False, random_state=0)  # fmt: skip
    by_name = SessionEmbedder(vectors=False, passthrough=False, random_state=0)
    assert_allclose(
        by_position.fit(numeric.to_numpy()).transform(numeric.to_numpy()),
        by_name.fit(numeric).transform(numeric),
    )
    with pytest.raises(ValueError, match="no column"):
        embedder().fit(X.drop(columns="timestamp"))
    with pytest.raises(ValueError, match="time column .timestamp. has 1 missing"):
        embedder().fit(X.assign(timestamp=[0, np.nan] + [1] * 7))
    with pytest.raises(ValueError, match="missing id"):
        embedder().fit(X.assign(item_id=[None] + ["a"] * 8))
    with pytest.raises(TypeError, match="item_vectors"):
        SessionEmbedder(item_embedder=FixedVectors()).set_params(
            item_embedder=_NoVectors()
        ).fit(X)


class _NoVectors(FixedVectors):
    def item_vectors(self):
        return None


def _session_data(seed=0):
    """Generated events regrouped into bursts: sessions of 2-6 events."""
    from mtlclassic import make_multitask_recsys

    X, Y = make_multitask_recsys(n_users=50, n_items=40, n_events=1500,
                                 random_state=seed)  # fmt: skip
    rng = np.random.default_rng(seed)
    order = np.lexsort((X["timestamp"].to_numpy(), X["user_id"].to_numpy()))
    X, Y = X.iloc[order].reset_index(drop=True), Y.iloc[order].reset_index(drop=True)
    burst = rng.integers(2, 7, len(X)).cumsum()
    X["timestamp"] = np.searchsorted(burst, np.arange(len(X)), side="right") * 10_000.0
    X["timestamp"] += X.groupby("timestamp").cumcount() * 60.0
    return X, Y


def test_pipeline_recommender_and_save(tmp_path, capsys):
    X, Y = _session_data()
    session_step = SessionEmbedder(category_col="item_category", random_state=0)
    model = make_multitask_recommender(
        embedders=(session_step, "fm", "als"), n_estimators=30, fm_n_iter=10,
        factors=4, iterations=3, cv=2, random_state=0, n_jobs=1,
    ).fit(X, Y)  # fmt: skip
    names = [n for n, _ in model.steps]
    assert names[:2] == ["sessionembedder", "drop_time"]
    fm = model.named_steps["fmembedder"]
    assert fm.exclude == "^session_" and fm.excluded_columns_[0] == "session_length"
    assert not any(f.startswith("session_") for f in fm.field_names_)
    heads = model.named_steps["multitasklgbm"]
    assert "session_mean_dot" in heads.features_
    items, users = catalogues(X)
    now = float(X["timestamp"].max()) + 60
    rec = Recommender(model, items, users=users, context={"timestamp": now})
    user = X["user_id"].iloc[0]
    session = pd.DataFrame({"user_id": [user] * 3, "item_id": [1, 2, 3],
                            "timestamp": [now - 180, now - 120, now - 60]})  # fmt: skip
    plain = rec.recommend([user], k=5, candidates="all")
    with_session = rec.recommend([user], k=5, candidates="all", session=session)
    pairs = with_session[["user_id", "item_id"]]
    with session_context(model, session_rows(rec, session)):  # the same, by hand
        by_hand = model.predict(rec._model_rows(pairs))
    assert_allclose(with_session[["rating", "click", "like"]].to_numpy(), by_hand)
    assert not plain["score"].equals(with_session["score"])
    save(rec, tmp_path / "rec.mtlc")
    back = load(tmp_path / "rec.mtlc")
    pd.testing.assert_frame_equal(
        back.recommend([user], k=5, candidates="all", session=session), with_session
    )
    # the CLI: --session FILE gives the same top-k
    from mtlclassic.cli import main

    rec.candidates = "all"
    save(rec, tmp_path / "all.mtlc")
    pd.DataFrame({"user_id": [user]}).to_csv(tmp_path / "users.csv", index=False)
    session.to_csv(tmp_path / "session.csv", index=False)
    args = ["recommend", str(tmp_path / "all.mtlc"), "--users",
            str(tmp_path / "users.csv"), "-k", "5", "--session",
            str(tmp_path / "session.csv"), str(tmp_path / "top.csv")]  # fmt: skip
    assert main(args) == 0
    top = pd.read_csv(tmp_path / "top.csv")
    assert top["item_id"].tolist() == with_session["item_id"].tolist()
    assert_allclose(top["score"], with_session["score"], rtol=1e-9)
    capsys.readouterr()
    session.assign(timestamp="soon").to_csv(tmp_path / "bad.csv", index=False)
    args[args.index(str(tmp_path / "session.csv"))] = str(tmp_path / "bad.csv")
    assert main([*args, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "--session" in err and "bad.csv" in err and "--users" not in err


def test_chunked_scoring_carries_open_sessions(tmp_path):
    from mtlclassic.cli import main

    X, Y = _session_data(seed=1)
    session_step = SessionEmbedder(random_state=0)
    model = make_multitask_recommender(
        embedders=(session_step, "fm", "als"), n_estimators=20, fm_n_iter=10,
        factors=4, iterations=3, cv=2, random_state=0, n_jobs=1,
    ).fit(X, Y)  # fmt: skip
    X.to_csv(tmp_path / "events.csv", index=False)  # sorted by time
    save(model, tmp_path / "model.mtlc", input_example=X.head())
    out = tmp_path / "scores.csv"
    args = ["score", str(tmp_path / "model.mtlc"), str(tmp_path / "events.csv"),
            str(out), "--chunksize", "97"]  # fmt: skip
    assert main(args) == 0
    whole = model.predict(X)  # one batch: every session complete
    assert_allclose(pd.read_csv(out)[["rating", "click", "like"]], whole, rtol=1e-7)


def test_scored_rows_follow_the_session_and_bad_sessions():
    X = toy_log()
    emb = embedder().fit(X)
    history = X.iloc[:3]  # A's session, up to t=200
    rows = X.iloc[[3]].assign(timestamp=150)  # scored "before" the session's end
    with session_context(emb, history):
        early = emb.transform(rows)
    with session_context(emb, history):
        late = emb.transform(rows.assign(timestamp=201))
    # the session so far comes first: scored rows never sit before it
    cols = ["session_length", "session_mean_0", "session_mean_dot"]
    pd.testing.assert_frame_equal(early[cols], late[cols])
    assert early["session_length"].iloc[0] == 3
    with session_context(emb, history.iloc[:0]):  # an empty session: none
        pd.testing.assert_frame_equal(
            emb.transform(rows), embedder().fit(X).transform(rows)
        )
    with pytest.raises(ValueError, match="no column"):
        with session_context(emb, history.drop(columns="timestamp")):
            pass
    # datetimes in the session beside numbers in the rows: one column of
    # Timestamps and ints was refused as "neither numbers nor datetimes"
    dated = history.assign(timestamp=pd.to_datetime(history.timestamp, unit="s"))
    with session_context(emb, dated):
        with pytest.raises(ValueError, match="session's times .* are datetimes, but"):
            emb.transform(rows)
    empty = emb.transform(X.iloc[:0])
    assert empty.shape == (0, len(emb.get_feature_names_out()))


def test_concurrent_sessions_do_not_mix():
    from concurrent.futures import ThreadPoolExecutor

    X = toy_log()
    emb = embedder().fit(X)
    rows = X.iloc[[3, 6]].assign(timestamp=[300, 60])
    sessions = [X.iloc[:3], X.iloc[4:6], None]

    def score(k):
        with session_context(emb, sessions[k % 3]):
            return k % 3, emb.transform(rows)

    expected = [score(k)[1] for k in range(3)]
    with ThreadPoolExecutor(4) as pool:
        for k, got in pool.map(score, range(60)):
            pd.testing.assert_frame_equal(got, expected[k])
