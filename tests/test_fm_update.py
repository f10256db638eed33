"""FM ``update``: new rows without a refit, against the conditional solutions."""

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import expit

from mtlclassic import FMClassifier, FMEmbedder, FMRegressor, MultiTaskFM, io
from mtlclassic.embedding._fm.model import datafit_value, fm_decision


def _ratings(n=700, n_users=30, n_items=20, seed=0):
    rng = np.random.default_rng(seed)
    U, V = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
    u, i = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    y = (U[u] * V[i]).sum(axis=1) + rng.normal(scale=0.3, size=n)
    X = pd.DataFrame({"user": [f"u{v}" for v in u], "item": [f"i{v}" for v in i]})
    return X, y, u


def _without_column(fm, Z, j, samples=None):
    """Prediction without column ``j``'s terms, and the slopes of its block."""
    b, w, V, s = samples or (
        np.atleast_1d(fm.intercept_), np.atleast_2d(fm.coef_), fm.factors_,
        np.atleast_1d(fm.interaction_scale_),
    )  # fmt: skip
    w0, V0 = w.copy(), V.copy()
    w0[:, j], V0[j] = 0.0, 0.0
    base = fm_decision(Z, b, w0, V0, s)
    z = Z[:, [j]].toarray().ravel()
    q = np.asarray(Z @ V0)
    return base, z, q, s


def test_new_user_equals_the_exact_conditional_solution_als():
    X, y, u = _ratings()
    old = u < 29  # user u29 is new: all their rows come in the update
    fm = FMRegressor(n_components=2, solver="als", n_iter=100, tol=0, random_state=0)
    fm.fit(X[old], y[old])
    assert "u29" not in fm.categories_[0]
    fm.update(X[~old], y[~old], n_sweeps=50)
    j = fm.field_offsets_[0] + fm.categories_[0].index("u29")
    Z = fm._encode(X[~old])[1].tocsr()
    base, z, q, s = _without_column(fm, Z, j)
    H = np.column_stack([z, s[0] * z[:, None] * q])  # slopes of (w_j, v_j)
    n_eff = old.sum()  # fit penalises alpha per unit of sample weight
    P = np.diag([fm.alpha_w * n_eff] + [fm.alpha_v * n_eff] * 2)
    theta = np.linalg.solve(H.T @ H + P, H.T @ (y[~old] - base[:, 0]))
    np.testing.assert_allclose(np.r_[fm.coef_[j], fm.factors_[j]], theta, atol=1e-9)


def test_new_user_in_every_gibbs_sample_is_its_conditional_solution():
    X, y, u = _ratings(seed=1)
    old = u < 29
    fm = FMRegressor(n_components=2, n_iter=30, n_kept_samples=4, random_state=0)
    fm.fit(X[old], y[old])
    before = fm.factor_samples_.copy()
    fm.update(X[~old], y[~old], n_sweeps=60)
    F, cats = 0, fm.categories_[0]
    j = fm.field_offsets_[0] + cats.index("u29")
    known = np.arange(fm.field_offsets_[0], fm.field_offsets_[1]) != j
    Z = fm._encode(X[~old])[1].tocsr()
    tau = fm.noise_precision_[0]
    for s in range(4):
        sample = (
            fm.intercept_samples_[s], fm.coef_samples_[s], fm.factor_samples_[s],
            fm.scale_samples_[s],
        )  # fmt: skip
        base, z, q, sc = _without_column(fm, Z, j, sample)
        H = np.column_stack([z, sc[0] * z[:, None] * q])
        # the field's prior in this sample: its users' mean and spread (before)
        W_old = fm.coef_samples_[s][0, fm.field_offsets_[F] : fm.field_offsets_[1]]
        V_old = before[s][: len(cats) - 1]
        mu = np.r_[W_old[known].mean(), V_old.mean(axis=0)]
        P = np.diag(1 / np.r_[W_old[known].var(), V_old.var(axis=0)])
        A = tau * H.T @ H + P
        theta = np.linalg.solve(A, tau * H.T @ (y[~old] - base[:, 0]) + P @ mu)
        got = np.r_[fm.coef_samples_[s][0, j], fm.factor_samples_[s][j]]
        np.testing.assert_allclose(got, theta, atol=1e-8)
    # the point estimates are the posterior means of the updated samples
    np.testing.assert_allclose(fm.factors_, fm.factor_samples_.mean(axis=0))


def test_new_user_binary_is_the_penalised_logistic_optimum():
    X, y, u = _ratings(seed=2)
    yb = (y > 0).astype(float)
    old = u < 29
    fm = FMClassifier(n_components=2, solver="als", n_iter=100, tol=0, random_state=0)
    fm.fit(X[old], yb[old])
    fm.update(X[~old], yb[~old], n_sweeps=80)
    j = fm.field_offsets_[0] + fm.categories_[0].index("u29")
    Z = fm._encode(X[~old])[1].tocsr()
    base, z, q, s = _without_column(fm, Z, j)
    H = np.column_stack([z, s[0] * z[:, None] * q])
    n_eff = old.sum()
    P = np.r_[fm.alpha_w * n_eff, [fm.alpha_v * n_eff] * 2]
    yn = yb[~old]

    def objective(theta):
        m = base[:, 0] + H @ theta
        return np.sum(np.logaddexp(0, m) - yn * m) + 0.5 * theta @ (P * theta)

    def gradient(theta):
        return H.T @ (expit(base[:, 0] + H @ theta) - yn) + P * theta

    best = minimize(objective, np.zeros(3), jac=gradient, method="BFGS", tol=1e-12)
    np.testing.assert_allclose(np.r_[fm.coef_[0, j], fm.factors_[j]], best.x, atol=1e-6)


@pytest.mark.parametrize("chunk_rows", [7, 1 << 14])
def test_laplace_precision_is_the_objective_hessian_diagonal(monkeypatch, chunk_rows):
    """Against finite differences of the objective, whether the design's rows
    are taken 7 at a time or all at once."""
    from mtlclassic.embedding._fm import update

    monkeypatch.setattr(update, "_LAPLACE_ROWS", chunk_rows)
    X, y, _ = _ratings(n=300, seed=3)
    yb = (y > 0).astype(float)
    fm = FMClassifier(n_components=2, solver="als", n_iter=60, tol=0, random_state=0)
    fm.fit(X, yb)
    Z = fm._encode(X)[1].tocsr()
    b_p, w_p, v_p = fm._laplace_precision_
    a_w, a_v = fm.alpha_w * len(X), fm.alpha_v * len(X)
    b, w, V, s = fm.intercept_, fm.coef_, fm.factors_, fm.interaction_scale_

    def objective(b, w, V):
        pred = fm_decision(Z, b, w, V, s).T
        ones = np.ones_like(pred)
        return datafit_value(pred, yb[None, :], ones, [True]) + 0.5 * (
            a_w * np.sum(w**2) + a_v * np.sum(V**2)
        )

    h = 1e-4
    for j, f in [(0, 0), (5, 1), (w.shape[1] - 1, 0)]:
        Vp, Vm = V.copy(), V.copy()
        Vp[j, f] += h
        Vm[j, f] -= h
        second = objective(b, w, Vp) - 2 * objective(b, w, V) + objective(b, w, Vm)
        np.testing.assert_allclose(v_p[j, f], second / h**2, rtol=1e-4)
        wp, wm = w.copy(), w.copy()
        wp[0, j] += h
        wm[0, j] -= h
        second = objective(b, wp, V) - 2 * objective(b, w, V) + objective(b, wm, V)
        np.testing.assert_allclose(w_p[0, j], second / h**2, rtol=1e-4)
    bp, bm = b + h, b - h
    second = objective(bp, w, V) - 2 * objective(b, w, V) + objective(bm, w, V)
    np.testing.assert_allclose(b_p[0], second / h**2, rtol=1e-4)


def test_known_user_moves_by_the_prior_weighted_step():
    """A known column: prior = its fitted value with the Laplace precision."""
    X, y, u = _ratings(seed=4)
    fm = FMRegressor(n_components=2, solver="als", n_iter=100, tol=0, random_state=0)
    fm.fit(X, y)
    _, w_p, v_p = fm._laplace_precision_
    j = fm.field_offsets_[0] + fm.categories_[0].index("u3")
    theta0 = np.r_[fm.coef_[j], fm.factors_[j]]
    P = np.diag(np.r_[w_p[0, j], v_p[j]])
    new = X[X.user == "u3"].iloc[:5]
    y_new = np.full(5, 4.0)  # far above the fit: the user moves towards it
    fm.update(new, y_new, n_sweeps=60)
    Z = fm._encode(new)[1].tocsr()
    base, z, q, s = _without_column(fm, Z, j)
    H = np.column_stack([z, z[:, None] * q])
    theta = np.linalg.solve(H.T @ H + P, H.T @ (y_new - base[:, 0]) + P @ theta0)
    np.testing.assert_allclose(np.r_[fm.coef_[j], fm.factors_[j]], theta, atol=1e-9)
    assert not np.allclose(theta, theta0)


@pytest.mark.parametrize("solver", ["als", "mcmc"])
def test_update_with_no_labelled_row_is_a_no_op(solver):
    X, y, _ = _ratings(n=300)
    quiet = dict(tol=0) if solver == "als" else {}  # no convergence warning
    fm = FMRegressor(n_components=2, solver=solver, n_iter=20, random_state=0, **quiet)
    fm.fit(X, y)
    before = (fm.coef_.copy(), fm.factors_.copy(), list(fm.categories_[0]))
    fm.update(X.iloc[:0], y[:0])
    fm.update(X.iloc[:3], y[:3], sample_weight=np.zeros(3))
    np.testing.assert_array_equal(fm.coef_, before[0])
    np.testing.assert_array_equal(fm.factors_, before[1])
    assert fm.categories_[0] == before[2]


@pytest.mark.parametrize("solver", ["als", "mcmc"])
def test_update_touches_only_the_columns_of_the_new_rows(solver):
    X, y, _ = _ratings(n=400)
    quiet = dict(tol=0) if solver == "als" else {}  # no convergence warning
    fm = FMRegressor(n_components=2, solver=solver, n_iter=20, random_state=0, **quiet)
    fm.fit(X, y)
    coef, factors = fm.coef_.copy(), fm.factors_.copy()
    new = pd.DataFrame({"user": ["u1", "new"], "item": ["i2", "i2"]})
    fm.update(new, [3.0, -1.0])
    assert fm.categories_[0][-1] == "new" and len(fm.categories_[0]) == 31
    users = fm.categories_[0]
    touched = {
        users.index("u1"),
        users.index("new"),
        31 + fm.categories_[1].index("i2"),
    }
    for j in range(fm.coef_.shape[0]):
        old_j = j if j < 30 else j - 1  # columns after the new user moved by one
        if j in touched:
            continue
        if j == 30:
            continue
        np.testing.assert_array_equal(fm.coef_[j], coef[old_j])
        np.testing.assert_array_equal(fm.factors_[j], factors[old_j])
    assert fm.coef_[users.index("u1")] != coef[users.index("u1")]
    assert np.isfinite(fm.predict(new)).all()


@pytest.mark.parametrize("solver", ["als", "mcmc"])
def test_update_reaches_the_refit_on_new_users(solver):
    X, y, u = _ratings(n=3000, n_users=60, n_items=40, seed=5)
    old = u < 50
    new_X, new_y = X[~old], y[~old]
    half = len(new_X) // 2
    kw = dict(n_components=2, solver=solver, n_iter=60, random_state=0)
    fm = FMRegressor(**kw).fit(X[old], y[old])

    def rmse(model):
        return np.sqrt(np.mean((model.predict(new_X[half:]) - new_y[half:]) ** 2))

    cold = rmse(fm)
    fm.update(new_X[:half], new_y[:half])
    refit = FMRegressor(**kw).fit(
        pd.concat([X[old], new_X[:half]]), np.r_[y[old], new_y[:half]]
    )
    assert rmse(fm) < 0.5 * cold
    assert rmse(fm) < 1.1 * rmse(refit)


def test_multitask_update_labels_by_task_name_and_shapes_kept():
    X, y, _ = _ratings(n=400)
    Y = pd.DataFrame({"rating": y, "liked": (y > 0).astype(float)})
    fm = MultiTaskFM(n_components=2, n_iter=20, random_state=0).fit(X, Y)
    twin = MultiTaskFM(n_components=2, n_iter=20, random_state=0).fit(X, Y)
    new = pd.DataFrame({"user": ["zz", "zz"], "item": ["i1", "i2"]})
    fm.update(new, pd.DataFrame({"liked": [1.0, 1.0]}))  # one task only
    # matched by name: the same as both columns, in the other order, rating NaN
    twin.update(new, pd.DataFrame({"liked": [1.0, 1.0], "rating": [np.nan] * 2}))
    np.testing.assert_array_equal(fm.factor_samples_, twin.factor_samples_)
    assert "zz" in fm.categories_[0]
    assert fm.predict(new).shape == (2, 2)
    with pytest.raises(ValueError, match="not fitted"):
        fm.update(new, pd.DataFrame({"clicks": [1.0, 0.0]}))
    with pytest.raises(ValueError, match="other than 0 and 1"):
        fm.update(new, pd.DataFrame({"liked": [2.0, 1.0]}))
    with pytest.raises(ValueError, match="n_sweeps"):
        fm.update(new, Y.iloc[:2], n_sweeps=0)
    reg = FMRegressor(n_components=2, n_iter=20, random_state=0).fit(X, y)
    reg.update(new, [1.0, 2.0])
    assert isinstance(reg.intercept_, float) and reg.coef_.ndim == 1
    clf = FMClassifier(n_components=2, n_iter=20, random_state=0)
    clf.fit(X, np.where(y > 0.5, "a", np.where(y < -0.5, "b", "c")))
    clf.update(new, ["a", "c"])
    assert clf.predict_proba(new).shape == (2, 3)
    with pytest.raises(ValueError, match="classes not seen"):
        clf.update(new, ["a", "d"])


def test_fm_embedder_update_knows_new_users_and_survives_save(tmp_path):
    X, y, _ = _ratings(n=400)
    Y = pd.DataFrame({"rating": y, "liked": (y > 0).astype(float)})
    for target in ("rating", "each"):
        emb = FMEmbedder(
            user_col="user", item_col="item", n_components=2, n_iter=20,
            target=target, random_state=0,
        ).set_output(transform="pandas").fit(X, Y)  # fmt: skip
        new = pd.DataFrame({"user": ["zz", "zz", "zz"], "item": ["i1", "i2", "nn"]})
        cold = emb.transform(new)
        emb.update(new, Y.iloc[:3])  # the other task is ignored (target)
        assert "zz" in emb.known_ids()["user"] and "nn" in emb.known_ids()["item"]
        warm = emb.transform(new)
        assert not np.allclose(
            cold.filter(like="fm_score"), warm.filter(like="fm_score")
        )
        io.save(emb, tmp_path / f"{target}.mtlc")
        back = io.load(tmp_path / f"{target}.mtlc")
        pd.testing.assert_frame_equal(back.transform(new), warm)


def test_gibbs_fit_stores_the_conditional_precision_of_each_coordinate():
    X, y, _ = _ratings(n=400, seed=6)
    fm = FMRegressor(n_components=2, n_iter=20, random_state=0).fit(X, y)
    Z = fm._encode(X)[1].tocsr()
    b_p, w_p, v_p = fm._laplace_precision_
    tau = fm.noise_precision_[0]
    users = np.arange(fm.field_offsets_[0], fm.field_offsets_[1])
    j, f = users[4], 1
    _, z, q, _ = _without_column(fm, Z, j)
    h = z * q[:, f]  # slope of v_jf at the posterior mean (scale 1: one task)
    prior = 1.0 / fm.factors_[users, f].var()  # the users' spread
    assert_close = np.testing.assert_allclose
    assert_close(v_p[j, f], prior + tau * np.sum(h**2), rtol=1e-10)
    w_prior = 1.0 / fm.coef_[users].var()
    assert_close(w_p[0, j], w_prior + tau * np.sum(z**2), rtol=1e-10)
    assert_close(b_p[0], tau * len(X), rtol=1e-10)


def test_each_target_item_vectors_known_ids_and_atomic_update():
    X, y, _ = _ratings(n=400)
    Y = pd.DataFrame({"rating": y, "liked": (y > 0).astype(float)})
    Y.loc[:150, "liked"] = np.nan  # the tasks' FMs see different users and items
    emb = FMEmbedder(target="each", n_components=2, n_iter=10, random_state=0,
                     cv=None, user_col="user", item_col="item").fit(X, Y)  # fmt: skip
    ids, V = emb.item_vectors()
    for t, sub in enumerate(emb.task_embedders_):
        F = sub.field_names_.index("item")
        lo = sub.field_offsets_[F]
        for j, item in enumerate(ids[:5]):
            if item in sub.categories_[F]:
                row = lo + sub.categories_[F].index(item)
                np.testing.assert_array_equal(
                    V[j, 2 * t : 2 * t + 2], sub.factors_[row]
                )
    users = set(emb.known_ids()["user"])
    assert users == set().union(*(set(s.categories_[0]) for s in emb.task_embedders_))
    before = [sub.factors_.copy() for sub in emb.task_embedders_]
    new = pd.DataFrame({"user": ["zz", "zz"], "item": ["i1", "i2"]})
    with pytest.raises(ValueError, match="other than 0 and 1"):
        emb.update(new, pd.DataFrame({"rating": [1.0, 2.0], "liked": [2.0, 1.0]}))
    for sub, old in zip(emb.task_embedders_, before):  # nothing changed
        np.testing.assert_array_equal(sub.factors_, old)


def test_array_labels_are_matched_by_position():
    X, y, _ = _ratings(n=300)
    Y = pd.DataFrame({"rating": y, "liked": (y > 0).astype(float)})
    kw = dict(n_components=2, n_iter=10, random_state=0)
    new = pd.DataFrame({"user": ["zz", "u1"], "item": ["i1", "i2"]})
    labels = np.array([[1.0, 0.0], [3.0, 1.0]])
    by_array = MultiTaskFM(**kw).fit(X, Y).update(new, labels)
    by_name = (
        MultiTaskFM(**kw).fit(X, Y).update(new, pd.DataFrame(labels, columns=Y.columns))
    )
    np.testing.assert_array_equal(by_array.factors_, by_name.factors_)
    with pytest.raises(ValueError, match="unnamed column"):
        MultiTaskFM(**kw).fit(X, Y).update(new, labels[:, :1])


def test_exclude_columns_from_the_fm():
    X, y, _ = _ratings(n=300)
    X = X.assign(session_a=np.arange(300.0), other=1.0)
    emb = FMEmbedder(target="all", n_components=2, n_iter=10, random_state=0, cv=None,
                     exclude="^session_", user_col="user", item_col="item")  # fmt: skip
    Z = emb.set_output(transform="pandas").fit(X, y).transform(X)
    assert "session_a" not in emb.field_names_ and list(Z.columns)[-1] == "session_a"
    quiet = emb.set_params(passthrough=False).fit(X, y)
    assert "session_a" not in quiet.transform(X).columns
    with pytest.raises(ValueError, match="id column"):
        FMEmbedder(exclude="user", user_col="user", item_col="item").fit(X, y)


def test_cold_rows_and_the_sample_cache_against_a_hand_computation():
    X, y, _ = _ratings(n=400, seed=7)
    fm = FMRegressor(n_components=2, n_iter=12, n_kept_samples=5, random_state=0)
    fm.fit(X, y)
    row = pd.DataFrame({"user": ["new"], "item": ["i3"]})
    users = slice(fm.field_offsets_[0], fm.field_offsets_[1])
    j = fm.field_offsets_[1] + fm.categories_[1].index("i3")
    manual = []
    for s in range(5):  # the cold user at the users' mean, in every sample
        w, V = fm.coef_samples_[s][0], fm.factor_samples_[s]
        w_u, v_u = w[users].mean(), V[users].mean(axis=0)
        manual.append(fm.intercept_samples_[s][0] + w_u + w[j] + v_u @ V[j])
    assert_close = np.testing.assert_allclose
    assert_close(fm.predict(row), [np.mean(manual)], rtol=1e-12)
    keys = set(fm.__dict__)
    fm.predict(row)  # the flattened samples are cached outside the estimator
    assert set(fm.__dict__) == keys
    fm.update(pd.DataFrame({"user": ["u1"], "item": ["i3"]}), [5.0])
    w, V = fm.coef_samples_, fm.factor_samples_  # the cache follows the update
    users_now = slice(fm.field_offsets_[0], fm.field_offsets_[1])
    j = fm.field_offsets_[1] + fm.categories_[1].index("i3")
    manual = [
        fm.intercept_samples_[s][0] + w[s][0][users_now].mean() + w[s][0][j]
        + V[s][users_now].mean(axis=0) @ V[s][j]
        for s in range(5)
    ]  # fmt: skip
    assert_close(fm.predict(row), [np.mean(manual)], rtol=1e-12)


@pytest.mark.parametrize("solver", ["mcmc", "als"])
def test_the_update_helpers_compute_and_only_update_assigns(solver):
    """``update_estimator`` returns the new fitted attributes and leaves the
    estimator as it was (no write from outside the class, not even into its
    sample arrays); ``update`` assigns exactly those values."""
    import copy

    from mtlclassic.embedding._fm.update import update_estimator

    X, y, _ = _ratings()
    kw = dict(n_iter=6, n_kept_samples=3) if solver == "mcmc" else dict(n_iter=5)
    fm = FMRegressor(n_components=3, solver=solver, random_state=0, **kw)
    fm.fit(X.iloc[:500], y[:500])
    before = copy.deepcopy(fm.__dict__)
    X_new = X.iloc[500:].copy()
    X_new.loc[X_new.index[:3], "user"] = ["new0", "new1", "new2"]  # new users
    from mtlclassic.embedding._fm.base import _column

    changes = update_estimator(fm, *fm._update_data(X_new, y[500:], None), _column, 1)
    assert {"coef_", "factors_", "categories_", "field_offsets_"} <= set(changes)
    for name, value in before.items():  # untouched, arrays included
        got = fm.__dict__[name]
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got, value)
        elif name == "categories_":
            assert [None if c is None else list(c) for c in got] == [
                None if c is None else list(c) for c in value
            ]
    updated = copy.deepcopy(fm).update(X_new, y[500:])

    def same(a, b):
        if isinstance(a, tuple | list):
            assert len(a) == len(b)
            for x, z in zip(a, b):
                same(x, z)
        elif a is None:
            assert b is None
        else:
            np.testing.assert_array_equal(a, b)

    for name, value in changes.items():
        same(getattr(updated, name), value)
