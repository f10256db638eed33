"""Bayesian FM by Gibbs sampling: oracles of the sampler and the estimators."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.special import ndtr
from scipy.stats import norm
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from mtlclassic import FMClassifier, FMEmbedder, FMRegressor, MultiTaskFM
from mtlclassic.datasets import make_multitask_recsys
from mtlclassic.embedding._fm.base import ChainFork, fork_sweep
from mtlclassic.embedding._fm.design import design_from_sparse
from mtlclassic.embedding._fm.gibbs import (
    PRIOR_INTERCEPT_PRECISION,
    FMGibbsSampler,
    sample_truncated_normal,
)
from mtlclassic.embedding._fm.model import fm_decision, fm_parts


def _ids(n=600, n_users=30, n_items=20, seed=0, noise=0.3):
    rng = np.random.RandomState(seed)
    users, items = rng.randint(0, n_users, n), rng.randint(0, n_items, n)
    U, V = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
    X = pd.DataFrame(
        {
            "user": pd.Categorical([f"u{u}" for u in users]),
            "item": pd.Categorical([f"i{i}" for i in items]),
            "f0": rng.normal(size=n),
        }
    )
    eta = np.sum(U[users] * V[items], axis=1) + 0.5 * X["f0"].to_numpy()
    return X, eta, eta + noise * rng.normal(size=n), rng


def test_linear_gibbs_matches_closed_form_posterior():
    """No factors, fixed hyperparameters: Bayesian linear regression."""
    rng = np.random.RandomState(0)
    n, d = 40, 3
    X = rng.normal(size=(n, d))
    y = 1.0 + X @ np.array([0.5, -1.0, 2.0]) + 0.7 * rng.normal(size=n)
    design = design_from_sparse(sp.csr_matrix(X))
    state = FMGibbsSampler(
        design, y[:, None], np.ones((n, 1)), np.array([False]), np.zeros((d, 0)),
        learn_scale=False, random_state=np.random.RandomState(1),
    )  # fmt: skip
    tau, lam, mu = 2.0, 3.0, 0.25
    state.noise_precision[:] = tau
    state.coef_precision[:] = lam
    state.coef_mean[:] = mu
    state._rebuild_residuals(precision=True)
    draws = []
    for it in range(6000):
        state.sample_intercept()
        for F in range(design.n_fields):
            state.sample_linear(F)
        if it >= 500:
            draws.append(np.concatenate([state.intercept, state.coef[0]]))
    draws = np.asarray(draws)
    # closed form: precision A = tau Z'Z + diag(prior), mean A^-1 (tau Z'y + prior mu)
    Z = np.hstack([np.ones((n, 1)), X])
    prior = np.array([PRIOR_INTERCEPT_PRECISION] + [lam] * d)
    A = tau * Z.T @ Z + np.diag(prior)
    cov = np.linalg.inv(A)
    mean = cov @ (tau * Z.T @ y + prior * np.r_[0.0, [mu] * d])
    sd = np.sqrt(np.diag(cov))
    # Monte-Carlo error of the mean with autocorrelated draws: a few sd / sqrt(n)
    np.testing.assert_allclose(draws.mean(axis=0), mean, atol=float(6 * sd.max() / 40))
    np.testing.assert_allclose(
        np.cov(draws.T), cov, rtol=0.15, atol=0.1 * sd.min() ** 2
    )


def test_truncated_normal_draws_are_exact_and_finite():
    rng = np.random.RandomState(0)
    for mean in (-12.0, -1.0, 0.0, 2.5, 15.0):
        m = np.full(20000, mean)
        up = sample_truncated_normal(m, np.ones(m.size, dtype=bool), rng)
        down = sample_truncated_normal(m, np.zeros(m.size, dtype=bool), rng)
        assert np.isfinite(up).all() and np.isfinite(down).all()
        assert (up > 0).all() and (down <= 0).all()
        # E[u | u > 0] = mean + phi(mean) / Phi(mean), by symmetry for u <= 0
        a = -mean
        exp_up = mean + np.exp(norm.logpdf(a) - norm.logsf(a))
        exp_down = mean - np.exp(norm.logpdf(a) - norm.logcdf(a))
        np.testing.assert_allclose(up.mean(), exp_up, atol=0.03)
        np.testing.assert_allclose(down.mean(), exp_down, atol=0.03)


def test_probit_probabilities_are_calibrated():
    X, eta, _, rng = _ids(n=4000, noise=0.0)
    eta = eta - eta.mean()
    y = (rng.uniform(size=eta.size) < ndtr(eta)).astype(int)
    train = np.arange(eta.size) < 3000
    model = FMClassifier(2, n_iter=200, random_state=0).fit(X[train], y[train])
    p = model.predict_proba(X[~train])[:, 1]
    # the true probabilities are recovered, and in every decile of p the mean
    # prediction matches the observed frequency
    assert np.mean(np.abs(p - ndtr(eta[~train]))) < 0.08
    order = np.argsort(p)
    for chunk in np.array_split(order, 5):
        assert abs(p[chunk].mean() - y[~train][chunk].mean()) < 0.06


def test_posterior_mean_is_the_average_of_per_sample_predictions():
    X, Y = make_multitask_recsys(60, 40, 1500, n_side_features=1, random_state=0)
    X = X.drop(columns="timestamp")
    model = MultiTaskFM(
        3, n_iter=30, n_kept_samples=7, categorical_features=["user_id", "item_id"],
        random_state=0,
    ).fit(X, Y)  # fmt: skip
    _, design = model._encode(X)
    Z = design.tocsr()
    per_sample = [
        fm_decision(
            Z, model.intercept_samples_[s], model.coef_samples_[s],
            model.factor_samples_[s], model.scale_samples_[s],
        )
        for s in range(7)
    ]  # fmt: skip
    expected = np.mean(
        [
            np.where(np.array(model.task_kinds_) == "binary", ndtr(p), p)
            for p in per_sample
        ],
        axis=0,
    )
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(model.factors_, model.factor_samples_.mean(axis=0))
    assert model.factor_samples_.shape == (7, model.coef_.shape[1], 3)


def test_one_task_equals_the_single_task_models():
    X, _, y, _ = _ids()
    reg = FMRegressor(2, n_iter=30, random_state=3).fit(X, y)
    multi = MultiTaskFM(2, n_iter=30, random_state=3).fit(X, pd.DataFrame({"y": y}))
    np.testing.assert_array_equal(multi.predict(X)[:, 0], reg.predict(X))
    labels = (y > np.median(y)).astype(float)
    clf = FMClassifier(2, n_iter=30, random_state=3).fit(X, labels)
    multi = MultiTaskFM(2, n_iter=30, random_state=3).fit(X, labels)
    np.testing.assert_array_equal(multi.predict(X), clf.predict_proba(X)[:, 1])
    emb = FMEmbedder(
        "y", 2, n_iter=30, user_col=None, item_col=None, cv=None,
        passthrough=False, features=("scores",), random_state=3,
    )  # fmt: skip
    scores = emb.fit(X, pd.DataFrame({"y": y})).transform(X)[:, 0]
    np.testing.assert_array_equal(scores, reg.predict(X))


def test_same_seed_same_model_and_dense_equals_sparse():
    rng = np.random.RandomState(0)
    X = np.zeros((300, 9))
    X[np.arange(300), rng.randint(0, 6, 300)] = 1.0  # a one-hot block
    X[:, 6:] = rng.normal(size=(300, 3))
    y = X @ rng.normal(size=9) + X[:, 0] * X[:, 7] + 0.1 * rng.normal(size=300)
    kw = dict(n_components=2, n_iter=25, scale_numeric=False, random_state=5)
    a = FMRegressor(**kw).fit(X, y)
    b = FMRegressor(**kw).fit(X, y)
    c = FMRegressor(**kw).fit(sp.csr_matrix(X), y)
    np.testing.assert_array_equal(a.factor_samples_, b.factor_samples_)
    np.testing.assert_allclose(
        a.factor_samples_, c.factor_samples_, rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(a.predict(X), c.predict(sp.csr_matrix(X)), rtol=1e-9)


def test_unseen_categories_take_their_group_mean_and_missing_numerics_nothing():
    X, _, y, _ = _ids()
    model = FMRegressor(2, n_iter=20, random_state=0).fit(X, y)
    new = X.head(3).copy()
    new["user"] = pd.Categorical(["nobody"] * 3)
    new["f0"] = np.nan
    bare = X.head(3).copy()
    # by hand, per kept sample: the unseen user's weight and factors are the
    # means over the user field's categories (the hierarchical prior's centre),
    # the missing numeric sits at its training mean (0 after centring)
    _, design = model._encode(bare)
    Z = design.tocsr().toarray()
    lo, hi = model.field_offsets_[0], model.field_offsets_[1]
    Z[:, lo:hi] = 0
    Z[:, model.field_offsets_[2]] = 0
    per_sample = []
    for s in range(model.factor_samples_.shape[0]):
        w, V = model.coef_samples_[s][0], model.factor_samples_[s]
        w_bar, v_bar = w[lo:hi].mean(), V[lo:hi].mean(axis=0)
        q = Z @ V
        pairs = 0.5 * ((q**2).sum(1) - ((Z**2) @ (V**2)).sum(1)) + q @ v_bar
        per_sample.append(
            model.intercept_samples_[s][0] + Z @ w + w_bar
            + model.scale_samples_[s][0] * pairs
        )  # fmt: skip
    np.testing.assert_allclose(model.predict(new), np.mean(per_sample, 0), rtol=1e-10)
    # a missing category is the same as an unseen one
    missing = new.assign(user=pd.Categorical([None] * 3, categories=["x"]))
    np.testing.assert_allclose(model.predict(missing), model.predict(new), rtol=1e-12)
    # the penalised ALS solver's prior is centred at 0: there an unseen
    # category contributes nothing
    als = FMRegressor(2, solver="als", n_iter=20, tol=0, random_state=0).fit(X, y)
    _, design = als._encode(bare)
    Z = design.tocsr().tolil()
    Z[:, lo:hi] = 0
    Z[:, als.field_offsets_[2]] = 0
    expected = fm_decision(
        Z.tocsr(), np.atleast_1d(als.intercept_), np.atleast_2d(als.coef_),
        als.factors_, np.atleast_1d(als.interaction_scale_),
    )[:, 0]  # fmt: skip
    np.testing.assert_allclose(als.predict(new), expected, rtol=1e-12)


def test_multitask_fm_fits_mixed_tasks_and_scores():
    X, Y = make_multitask_recsys(80, 50, 3000, n_side_features=0, random_state=1)
    X = X.drop(columns="timestamp")
    model = MultiTaskFM(4, n_iter=60, categorical_features=["user_id", "item_id"],
                        random_state=0).fit(X, Y)  # fmt: skip
    pred = model.predict(X)
    assert pred.shape == (len(X), 3)
    assert ((pred[:, 1:] > 0) & (pred[:, 1:] < 1)).all()
    np.testing.assert_allclose(model.noise_precision_[1:], 1.0, rtol=1e-12)
    assert model.noise_precision_[0] > 0
    assert model.score(X, Y) > 0.55


def test_bad_input_names_the_parameter_or_task():
    X, _, y, _ = _ids(n=100)
    with pytest.raises(ValueError, match="n_kept_samples=50 must not exceed n_iter=20"):
        FMRegressor(n_iter=20, n_kept_samples=50).fit(X, y)
    Y = pd.DataFrame({"rating": y, "click": (y > 0).astype(float)})
    Y.loc[1:, "rating"] = np.nan
    with pytest.raises(ValueError, match="'rating' has n_samples = 1 labelled row"):
        MultiTaskFM(n_iter=5).fit(X, Y)
    Y = pd.DataFrame({"rating": y, "click": np.ones(len(y))})
    Y.loc[0, "click"] = np.nan
    with pytest.raises(ValueError, match="'click' has a single class"):
        MultiTaskFM(n_iter=5, tasks={"rating": "regression", "click": "binary"}).fit(
            X, Y
        )
    with pytest.raises(ValueError, match="solver"):
        FMRegressor(solver="sgd").fit(X, y)


def test_embedder_each_task_equals_single_task_embedders():
    X, Y = make_multitask_recsys(60, 40, 1200, n_side_features=0, random_state=2)
    kw = dict(n_components=2, n_iter=10, cv=None, random_state=0, passthrough=False)
    each = FMEmbedder("each", **kw).fit(X, Y)
    Z = each.transform(X)
    names = list(each.get_feature_names_out())
    for task in Y.columns:
        single = FMEmbedder(task, **kw).fit(X, Y)
        Zt = single.transform(X)
        own = [i for i, n in enumerate(names) if n.startswith(f"fm_{task}_")]
        np.testing.assert_array_equal(Z[:, own], Zt[:, :-1])
        np.testing.assert_array_equal(Z[:, names.index(f"fm_score_{task}")], Zt[:, -1])


def test_noise_correlation_is_recovered_on_co_labelled_rows():
    rng = np.random.RandomState(0)
    n = 3000
    X = pd.DataFrame(
        {"g": pd.Categorical(rng.randint(0, 20, n)), "f": rng.normal(size=n)}
    )
    effect = rng.normal(size=20)[X["g"].cat.codes] + X["f"].to_numpy()
    noise = rng.multivariate_normal([0, 0], [[1.0, 0.6], [0.6, 1.0]], size=n)
    Y = pd.DataFrame({"a": effect + noise[:, 0], "b": -effect + noise[:, 1]})
    model = MultiTaskFM(0, n_iter=60, random_state=0).fit(X, Y)
    np.testing.assert_allclose(model.noise_correlation_[0, 1], 0.6, atol=0.05)
    np.testing.assert_allclose(model.noise_precision_, 1.0, atol=0.1)
    # tasks on disjoint rows have no correlation to estimate
    Y.loc[: n // 2, "a"] = np.nan
    Y.loc[n // 2 + 1 :, "b"] = np.nan
    disjoint = MultiTaskFM(0, n_iter=10, random_state=0).fit(X, Y)
    np.testing.assert_array_equal(disjoint.noise_correlation_, np.eye(2))


def _interaction_posterior_sd(model, X):
    """Mean over rows of the posterior sd of task 0's interaction term."""
    _, design = model._encode(X)
    Z = design.tocsr()
    draws = [
        fm_parts(Z, model.coef_samples_[s], model.factor_samples_[s])[2]
        * model.scale_samples_[s][0]
        for s in range(model.factor_samples_.shape[0])
    ]
    return float(np.std(draws, axis=0).mean())


def test_a_duplicated_task_is_not_counted_twice():
    """The same labels twice: the shared factors keep the single-task posterior.

    Treated as independent, two copies of every label would shrink the
    posterior sd of the shared interaction by 1/sqrt(2) (0.76 measured with
    the correlation switched off); the estimated noise correlation removes it.
    """
    X, _, y, _ = _ids(n=1500, noise=0.5)
    single = FMRegressor(2, n_iter=200, random_state=0).fit(X, y)
    twice = MultiTaskFM(2, n_iter=200, random_state=0).fit(
        X, pd.DataFrame({"y": y, "copy": y})
    )
    assert twice.noise_correlation_[0, 1] > 0.9
    ratio = _interaction_posterior_sd(twice, X) / _interaction_posterior_sd(single, X)
    assert 0.88 < ratio < 1.12


def test_warm_crossfit_does_not_leak_held_out_labels():
    """Pure-noise labels: in-sample scores fit the noise, out-of-fold ones must not."""
    rng = np.random.RandomState(0)
    n = 3000
    X = pd.DataFrame(
        {"user_id": rng.randint(0, 150, n), "item_id": rng.randint(0, 100, n)}
    )
    y = pd.DataFrame({"y": rng.normal(size=n)})  # independent of X
    kw = dict(n_components=4, n_iter=60, features=("scores",), passthrough=False,
              random_state=0)  # fmt: skip
    in_sample = FMEmbedder(cv=None, **kw).fit_transform(X, y)[:, 0]
    warm = FMEmbedder(cv=5, crossfit="warm", **kw).fit_transform(X, y)[:, 0]
    cold = FMEmbedder(cv=5, crossfit="cold", **kw).fit_transform(X, y)[:, 0]
    target = y["y"].to_numpy()
    leak = {
        name: np.corrcoef(s, target)[0, 1]
        for name, s in [("in", in_sample), ("warm", warm), ("cold", cold)]
    }
    assert leak["in"] > 0.25  # the noise is fitted in sample
    # out of fold: no more than chance (sd of a null correlation ~ 1/sqrt(n))
    assert abs(leak["warm"]) < 0.06 and abs(leak["cold"]) < 0.06


def _forked_fit(model, X, y):
    """Fit ``model`` recording its chain's fork (as FMEmbedder.fit_transform does)."""
    model._fork = ChainFork()
    model.fit(X, y)
    return model.__dict__.pop("_fork").state


def test_warm_fold_starts_from_the_full_fit_by_category():
    X, _, y, _ = _ids(n=400)
    full = FMRegressor(2, n_iter=10, random_state=0)
    end = _forked_fit(full, X, y)
    fold_rows = X["user"].to_numpy() != "u3"  # the fold never sees user u3
    fold = FMRegressor(2, n_iter=10, random_state=0)
    fold._encode_fit(X[fold_rows], None)
    n_features = int(fold.field_offsets_[-1])
    factors, intercept, coef, scale, noise = fold._map_chain_start(end, n_features, 1)
    assert "u3" not in fold.categories_[0] and "u3" in full.categories_[0]
    # the fork is the state after sweep fork_sweep(10, 5) = 4 (from 0: the
    # end of burn-in): that of the same chain stopped after 5 sweeps
    assert fork_sweep(10, 5) == 4
    short = FMRegressor(2, n_iter=5, n_kept_samples=1, random_state=0).fit(X, y)
    first = short.factor_samples_[0]
    for field, cats in enumerate(fold.categories_[:2]):
        for j, cat in enumerate(cats):
            src = full.field_offsets_[field] + full.categories_[field].index(cat)
            dst = fold.field_offsets_[field] + j
            np.testing.assert_array_equal(factors[dst], first[src])
            assert coef[0, dst] == short.coef_samples_[0][0, src]
    np.testing.assert_array_equal(intercept, short.intercept_samples_[0])
    np.testing.assert_array_equal(scale, np.atleast_1d(short.scale_samples_[0]))
    assert noise == pytest.approx(short.noise_precision_)  # one kept sample


def test_the_fork_is_the_end_of_burn_in_and_at_least_half_the_chain():
    assert fork_sweep(100, 50) == 49  # after 50 sweeps
    assert fork_sweep(100, 10) == 89  # a longer burn-in
    assert fork_sweep(100, 100) == 49  # no burn-in: half the chain
    assert fork_sweep(1, 1) == 0


@pytest.mark.parametrize("target", ["all", "each"])
def test_warm_folds_start_from_the_fork_and_n_jobs_does_not_change_them(target):
    """Folds run beside the full chain (n_jobs=2) give the sequential output,
    which is that of independent fold fits started from the fork."""
    from sklearn.model_selection import KFold

    X, Y = make_multitask_recsys(60, 40, 900, n_side_features=0, random_state=3)
    kw = dict(target=target, n_components=2, n_iter=12, features=("scores",),
              passthrough=False, random_state=0)  # fmt: skip
    one = FMEmbedder(cv=3, n_jobs=1, **kw)
    Z1 = one.fit_transform(X, Y)
    two = FMEmbedder(cv=3, n_jobs=2, **kw)
    Z2 = two.fit_transform(X, Y)
    np.testing.assert_array_equal(Z1, Z2)
    np.testing.assert_array_equal(one.transform(X), two.transform(X))
    assert not hasattr(one, "_fork") and not hasattr(two, "_fork")

    start = _forked_fit(FMEmbedder(cv=None, **kw), X, Y)
    assert isinstance(start, list) == (target == "each")
    for train, test in KFold(3, shuffle=True, random_state=0).split(X):
        fold = FMEmbedder(cv=None, **kw)
        fold._chain_start = start
        fold.fit(X.iloc[train], Y.iloc[train])
        np.testing.assert_array_equal(Z1[test], fold.transform(X.iloc[test]))


def test_a_failing_fold_stops_the_full_chain_beside_it(monkeypatch):
    swept = []  # the full chain's sweeps, through its fork's callback
    record = ChainFork.recorder

    def spy(self, model, sweep):
        on_sweep = record(self, model, sweep)

        def counted(it, sampler):
            swept.append(it)
            on_sweep(it, sampler)

        return counted

    monkeypatch.setattr(ChainFork, "recorder", spy)
    X, Y = make_multitask_recsys(60, 40, 1000, random_state=0)
    Y = Y.copy()
    labelled = np.flatnonzero(Y["like"].notna())
    Y.loc[Y.index[labelled[3:]], "like"] = np.nan  # 3 labels: 1, 0, 0
    emb = FMEmbedder(n_iter=2000, cv=5, n_jobs=2, random_state=0, verbose=0)
    with pytest.raises(ValueError, match=r"Cross-fitting fold \d of 5 .* fewer folds"):
        emb.fit_transform(X, Y)
    # the full chain was cancelled at a sweep, not run to its 2000th, and
    # nothing of it (nor of an earlier fit) is left half-fitted
    assert 999 <= max(swept) < 1999  # past its fork (sweep 999), then stopped
    assert not hasattr(emb, "_fork")
    assert not [k for k in vars(emb) if k.endswith("_")]
    fitted = FMEmbedder(n_iter=5, cv=None, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="Cross-fitting fold"):
        fitted.set_params(n_jobs=1, cv=5).fit_transform(X, Y)
    with pytest.raises(NotFittedError):
        fitted.transform(X)


def test_n_jobs_keeps_random_state_instances_and_the_sklearn_config():
    import sklearn

    X, Y = make_multitask_recsys(60, 40, 900, random_state=3)
    kw = dict(n_components=2, n_iter=10, cv=3)
    outs = [
        FMEmbedder(n_jobs=n, random_state=np.random.RandomState(0), passthrough=False,
                   **kw).fit_transform(X, Y)
        for n in (1, 2, 2)
    ]  # fmt: skip
    for Z in outs[1:]:  # the folds are drawn before the chains share the RNG
        np.testing.assert_array_equal(Z, outs[0])
    with sklearn.config_context(transform_output="pandas"):  # per thread in sklearn
        one, two = (FMEmbedder(n_jobs=n, random_state=0, **kw).fit_transform(X, Y)
                    for n in (1, 3))  # fmt: skip
    pd.testing.assert_frame_equal(one, two)
    assert (two.dtypes == one.dtypes).all() and two["fm_score_rating"].dtype == float
    with pytest.raises(ValueError, match="n_jobs"):
        FMEmbedder(n_jobs="2", **kw).fit_transform(X, Y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver,n_jobs", [("mcmc", 1), ("mcmc", 2), ("als", 2)])
def test_cold_crossfit_equals_independent_fold_fits(solver, n_jobs):
    from sklearn.model_selection import KFold

    X, Y = make_multitask_recsys(60, 40, 900, n_side_features=0, random_state=3)
    kw = dict(n_components=2, n_iter=10, features=("scores",), passthrough=False,
              solver=solver)  # fmt: skip
    emb = FMEmbedder(cv=3, crossfit="cold", n_jobs=n_jobs, random_state=0, **kw)
    Z = emb.fit_transform(X, Y)
    full = FMEmbedder(cv=None, random_state=0, **kw).fit(X, Y)
    np.testing.assert_array_equal(emb.transform(X), full.transform(X))
    for train, test in KFold(3, shuffle=True, random_state=0).split(X):
        fold = FMEmbedder(cv=None, random_state=0, **kw).fit(
            X.iloc[train], Y.iloc[train]
        )
        np.testing.assert_array_equal(Z[test], fold.transform(X.iloc[test]))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "solver,target,crossfit",
    [("mcmc", "all", "warm"), ("mcmc", "each", "warm"), ("mcmc", "all", "cold"),
     ("als", "all", "cold")],
)  # fmt: skip
def test_folds_skip_the_precisions_only_update_reads(
    monkeypatch, solver, target, crossfit
):
    """A cross-fitting fold only transforms its held-out rows: it computes no
    Laplace precisions (for ``update``); the model on all rows does."""
    from mtlclassic.embedding._fm import base

    calls = []
    for name in ("gibbs_precision", "laplace_precision"):
        real = getattr(base, name)
        monkeypatch.setattr(
            base, name, lambda *a, _real=real, **k: calls.append(1) or _real(*a, **k)
        )
    X, Y = make_multitask_recsys(60, 40, 900, n_side_features=0, random_state=3)
    emb = FMEmbedder(target, 2, n_iter=10, solver=solver, crossfit=crossfit, cv=3,
                     passthrough=False, random_state=0)  # fmt: skip
    emb.fit_transform(X, Y)
    fitted = emb.task_embedders_ if target == "each" else [emb]
    assert len(calls) == len(fitted)  # not once more per fold
    assert not any(hasattr(m, "_out_of_fold") for m in fitted)
    # the precisions of the model on all rows are a plain fit's, to the bit
    plain = clone(emb).set_params(cv=None).fit(X, Y)
    for m, p in zip(fitted, plain.task_embedders_ if target == "each" else [plain]):
        for got, want in zip(m._laplace_precision_, p._laplace_precision_):
            np.testing.assert_array_equal(got, want)
    emb.update(X.iloc[:50], Y.iloc[:50])  # so the model on all rows updates
    plain.update(X.iloc[:50], Y.iloc[:50])
    np.testing.assert_array_equal(emb.transform(X), plain.transform(X))


def test_sample_weights_are_relative_and_tiny_budgets_work():
    X, _, y, _ = _ids(n=300)
    plain = FMRegressor(2, n_iter=15, random_state=0).fit(X, y)
    scaled = FMRegressor(2, n_iter=15, random_state=0).fit(
        X, y, sample_weight=np.full(y.size, 1000.0)
    )
    # survey-style weights in the thousands: only their ratios matter
    np.testing.assert_allclose(scaled.predict(X), plain.predict(X), rtol=1e-9)
    one = FMRegressor(2, n_iter=1, random_state=0).fit(X, y)
    assert one.factor_samples_.shape[0] == 1 and np.isfinite(one.predict(X)).all()
    Z = FMEmbedder(n_iter=1, cv=2, user_col=None, item_col=None,
                   random_state=0).fit_transform(X, pd.DataFrame({"y": y}))  # fmt: skip
    assert np.isfinite(Z[:, -1].astype(float)).all()


def test_solver_parameters_and_fitted_state():
    X, _, y, _ = _ids(n=300)
    with pytest.warns(UserWarning, match=r"\['alpha_w'\] only apply to solver='als'"):
        FMRegressor(2, n_iter=5, alpha_w=0.5, random_state=0).fit(X, y)
    model = FMRegressor(2, n_iter=10, random_state=0).fit(X, y)
    before = model.predict(X)
    model.set_params(solver="als", tol=0)  # predictions follow the fitted state
    np.testing.assert_array_equal(model.predict(X), before)
    model.fit(X, y)  # refitted by ALS: the samples are gone
    assert not hasattr(model, "factor_samples_") and hasattr(model, "objective_")


def test_crossfit_failure_names_the_fold():
    X, Y = make_multitask_recsys(60, 40, 1000, random_state=0)
    Y = Y.copy()
    labelled = np.flatnonzero(Y["like"].notna())
    Y.loc[Y.index[labelled[3:]], "like"] = np.nan  # 3 labels: 1, 0, 0
    with pytest.raises(ValueError, match=r"Cross-fitting fold \d of 5 .* fewer folds"):
        FMEmbedder(n_iter=5, cv=5, random_state=0).fit_transform(X, Y)


def test_embedder_passthrough_categories_are_the_fitted_ones():
    X, Y = make_multitask_recsys(60, 40, 800, random_state=0)
    emb = FMEmbedder(n_components=2, n_iter=5, cv=None, random_state=0)
    emb.set_output(transform="pandas").fit(X, Y)
    new = X.head(5).copy()
    cats = list(X["user_segment"].cat.categories)
    new["user_segment"] = pd.Categorical(
        new["user_segment"].astype(object), categories=["unused"] + cats[::-1]
    )
    out = emb.transform(new)
    assert out["user_segment"].cat.categories.tolist() == cats
    assert out["user_segment"].tolist() == X["user_segment"].head(5).tolist()
    np.testing.assert_array_equal(
        out.filter(like="fm_").to_numpy(), emb.transform(X.head(5)).filter(like="fm_")
    )


def test_embedder_gives_an_unseen_category_its_group_mean_vector():
    X, _, y, _ = _ids()
    emb = FMEmbedder(
        target=0, n_components=2, n_iter=20, cv=None, random_state=0,
        user_col="user", item_col="item",
    )  # fmt: skip
    emb.set_output(transform="pandas").fit(X, y)
    new = X.head(2).assign(user=pd.Categorical(["nobody", "u3"]))
    Z = emb.transform(new)
    model = emb.task_embedders_[0] if getattr(emb, "task_embedders_", None) else emb
    lo, hi = model.field_offsets_[0], model.field_offsets_[1]
    users = [c for c in Z.columns if c.startswith("fm_user_")]
    np.testing.assert_allclose(Z[users].iloc[0], model.factors_[lo:hi].mean(axis=0))
    known = lo + list(model.categories_[0]).index("u3")
    np.testing.assert_allclose(Z[users].iloc[1], model.factors_[known])


@pytest.mark.parametrize("true", [-0.7, 0.0, 0.4, 0.85, 0.999])
def test_biserial_newton_equals_a_precise_bounded_search(true):
    """The noise correlation's maximum likelihood: Newton steps from the last
    sweep's value equal scipy's bounded search run to 1e-10."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_ndtr

    from mtlclassic.embedding._fm.gibbs import MAX_CORRELATION, biserial_newton

    rng = np.random.RandomState(1)
    z, pred = rng.randn(4000), 0.8 * rng.randn(4000)
    latent = pred + true * z + np.sqrt(1 - true**2) * rng.randn(4000)
    sign = np.where(latent > 0, 1.0, -1.0)

    def negative(rho):
        return -log_ndtr(sign * (pred + rho * z) / np.sqrt(1 - rho * rho)).sum()

    best = minimize_scalar(
        negative, bounds=(-MAX_CORRELATION, MAX_CORRELATION), method="bounded",
        options={"xatol": 1e-10},
    ).x  # fmt: skip
    for start in (0.0, best + 0.05, best - 0.05):
        got = biserial_newton(sign * pred, sign * z, start)
        assert got is not None
        np.testing.assert_allclose(got, best, atol=1e-6)


def _relational_data(n=3000, seed=0):
    """Events with user-level (age, occupation) and item-level (genre, year) sides."""
    rng = np.random.RandomState(seed)
    n_users, n_items = 80, 50
    users, items = rng.randint(0, n_users, n), rng.randint(0, n_items, n)
    age, occupation = rng.normal(size=n_users), rng.randint(0, 5, n_users)
    genre, year = rng.rand(n_items) < 0.3, rng.normal(size=n_items)
    X = pd.DataFrame(
        {
            "user": pd.Categorical(users),
            "item": pd.Categorical(items),
            "age": age[users],
            "occupation": pd.Categorical(occupation[users]),
            "genre": genre[items].astype(float),
            "year": year[items],
            "hour": rng.uniform(0, 24, n),  # an event column: per row
        }
    )
    y = rng.normal(size=n) + X["age"].to_numpy()
    return X, y, rng


def test_entity_blocks_hold_the_fields_constant_within_a_user_or_an_item():
    from mtlclassic.embedding._fm.relational import entity_blocks

    X, y, _ = _relational_data()
    design = FMRegressor(n_iter=1, random_state=0).fit(X, y)._encode(X)[1]
    blocks = entity_blocks(design)
    names = list(X.columns)  # one field per column here
    assert [[names[F] for F in b.fields] for b in blocks] == [
        ["user", "age", "occupation"],
        ["item", "genre", "year"],
    ]
    # every entity-level entry is its rows' entry
    Z = design.tocsr().toarray()
    for b in blocks:
        for F, ents, cols, vals in zip(b.fields, b.ents, b.cols, b.vals):
            lo = design.offsets[F]
            ents = np.arange(b.n_entities)[ents]  # indices or a slice
            for e, c, v in zip(ents[:20], cols[:20], vals[:20]):
                assert np.all(Z[b.entity == e, lo + c] == v)


def test_entity_sums_over_lanes_are_the_per_entity_sums():
    """Rows of one user in a row (time-ordered events) spread over 4 lanes of
    bins; the sums and gathers are bincount's and indexing's."""
    from mtlclassic.embedding._fm.relational import entity_blocks

    X, y, _ = _relational_data()
    runs = X.sort_values("user", kind="stable").reset_index(drop=True)
    for frame, lanes in ((X, [1, 1]), (runs, [4, 1])):
        design = FMRegressor(n_iter=1, random_state=0).fit(frame, y)._encode(frame)[1]
        blocks = entity_blocks(design)
        assert [b.lanes for b in blocks] == lanes
        w = np.random.RandomState(1).normal(size=len(frame))
        for b, key in zip(blocks, ["user", "item"]):
            codes = frame[key].cat.codes.to_numpy()
            np.testing.assert_array_equal(b.entity, codes)
            expected = np.bincount(codes, w, b.n_entities)
            np.testing.assert_allclose(b.sums(w), expected, rtol=1e-13, atol=1e-13)
            x = np.arange(b.n_entities) * 1.5
            np.testing.assert_array_equal(b.gather(x), x[codes])


@pytest.mark.parametrize("order", ["random", "by user"])
@pytest.mark.parametrize("n_tasks", [1, 2, 3])
def test_relational_sampler_draws_the_per_row_samplers_chain(n_tasks, order):
    """Per-entity sums (Rendle 2013) are an exact rewrite: the same draws
    (up to the order of the additions, also over lanes of bins)."""
    from mtlclassic.embedding._fm.gibbs import sample_fm
    from mtlclassic.embedding._fm.relational import entity_blocks

    X, y, rng = _relational_data()
    if order == "by user":  # runs of each user's rows: the user block's lanes
        sort = np.argsort(X["user"].cat.codes.to_numpy(), kind="stable")
        X, y = X.iloc[sort].reset_index(drop=True), y[sort]
    design = FMRegressor(n_iter=1, random_state=0).fit(X, y)._encode(X)[1]
    lanes = [4, 1] if order == "by user" else [1, 1]
    assert [b.lanes for b in entity_blocks(design)] == lanes
    n = len(y)
    Y = np.c_[y, (y > 0).astype(float), rng.normal(size=n)][:, :n_tasks]
    Y[rng.rand(n) < 0.2, 0] = np.nan  # missing labels: uncorrelated rows too
    binary = np.array([False, True, False])[:n_tasks]
    weight = np.where(np.isnan(Y), 0.0, 1.0) * rng.uniform(0.5, 2, size=(n, 1))
    start = np.random.RandomState(5).normal(scale=0.1, size=(design.n_features, 3))
    chains = [
        sample_fm(
            design,
            Y,
            weight,
            binary,
            start,
            n_iter=6,
            n_kept_samples=6,
            learn_scale=n_tasks > 1,
            random_state=np.random.RandomState(3),
            relational=relational,
        )  # fmt: skip
        for relational in (True, False)
    ]
    fast, reference = chains
    assert np.abs(reference.factors).max() > 0.3  # the chain moved
    for name in ("factors", "coef", "intercept", "scale"):
        np.testing.assert_allclose(
            getattr(fast, name), getattr(reference, name), rtol=0, atol=1e-10
        )
    np.testing.assert_allclose(
        fast.noise_correlation, reference.noise_correlation, atol=1e-10
    )


def test_unit_weights_share_the_precisions_and_draw_the_same_chain(monkeypatch):
    """With every labelled row weighing 1, ``P`` is read from the per-pattern
    table ``Q`` (no (T, T, n) array, a byte per row); the chain is the one the
    weighted formula draws, on the materialised ``P``, to the bit."""
    from mtlclassic.embedding._fm import gibbs
    from mtlclassic.embedding._fm.gibbs import sample_fm

    X, y, rng = _relational_data()
    design = FMRegressor(n_iter=1, random_state=0).fit(X, y)._encode(X)[1]
    n = len(y)
    Y = np.c_[y, (y > 0).astype(float), rng.normal(size=n)]
    Y[rng.rand(n) < 0.2, 0] = np.nan  # missing labels: Q is 0 there
    weight = np.where(np.isnan(Y), 0.0, 1.0)
    start = np.random.RandomState(5).normal(scale=0.1, size=(design.n_features, 3))
    shared = []
    real_init = gibbs.FMGibbsSampler.__init__

    def run(unit):
        def init(self, *args, **kwargs):
            real_init(self, *args, **kwargs)
            if not unit:  # the weighted formula Q * sqrt(w) sqrt(w)'
                self.unit_weights = False
                self.refresh()
            shared.append(self.P is None)  # read from the per-pattern table
            assert self.pattern_of_row.dtype == np.uint8
            assert self.Q.shape[2] == self.patterns.size

        monkeypatch.setattr(gibbs.FMGibbsSampler, "__init__", init)
        return sample_fm(
            design, Y, weight, np.array([False, True, False]), start,
            n_iter=6, n_kept_samples=6, learn_scale=True,
            random_state=np.random.RandomState(3),
        )  # fmt: skip

    fast, reference = run(True), run(False)
    assert shared == [True, False]
    for name in ("factors", "coef", "intercept", "scale", "noise_correlation"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(reference, name))


@pytest.mark.parametrize("n_tasks", [1, 3])
def test_unit_weights_as_the_label_mask_draw_the_chain_of_float_weights(
    n_tasks, monkeypatch
):
    """Without sample weights the fit hands the sampler its bool label mask
    (a byte per row and task, the array itself: no float64 copy); the chain
    is the one of float weights 1.0 / 0.0, to the bit, with correlated
    noise (three tasks) and without (one)."""
    from mtlclassic.embedding._fm import gibbs
    from mtlclassic.embedding._fm.gibbs import sample_fm

    X, y, rng = _relational_data()
    design = FMRegressor(n_iter=1, random_state=0).fit(X, y)._encode(X)[1]
    n = len(y)
    Y = np.c_[y, (y > 0).astype(float), rng.normal(size=n)][:, :n_tasks]
    Y[rng.rand(n) < 0.2, 0] = np.nan
    mask = np.asfortranarray(~np.isnan(Y))
    start = np.random.RandomState(5).normal(scale=0.1, size=(design.n_features, 3))
    seen = []
    real_init = gibbs.FMGibbsSampler.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        seen.append(self.weight)

    monkeypatch.setattr(gibbs.FMGibbsSampler, "__init__", init)

    def run(weight):
        return sample_fm(
            design, Y, weight, np.array([False, True, False][:n_tasks]), start,
            n_iter=6, n_kept_samples=6, learn_scale=n_tasks > 1,
            random_state=np.random.RandomState(3),
        )  # fmt: skip

    masked, floats = run(mask), run(mask.astype(np.float64))
    assert seen[0].dtype == bool and np.shares_memory(seen[0], mask)
    assert seen[1].dtype == np.float64
    for name in ("factors", "coef", "intercept", "scale", "noise_precision",
                 "noise_correlation"):  # fmt: skip
        np.testing.assert_array_equal(getattr(masked, name), getattr(floats, name))


def test_the_element_wise_square_of_a_design():
    """``squared_csr`` (the refresh's square of a row chunk) against scipy's
    element-wise product; a one-hot design is its own square (no copy)."""
    from mtlclassic.embedding._fm.design import squared_csr

    X, y, _ = _relational_data(n=300)
    design = FMRegressor(n_iter=1, random_state=0).fit(X, y)._encode(X)[1]
    Z = design.tocsr()
    assert not np.all(Z.data == 1.0)  # scaled numeric columns
    np.testing.assert_array_equal(squared_csr(Z).toarray(), Z.multiply(Z).toarray())
    ones = Z.copy()
    ones.data[:] = 1.0
    assert squared_csr(ones) is ones


@pytest.mark.parametrize("unsorted", [False, True])
def test_refresh_in_row_chunks_equals_fm_parts_on_the_whole_design(
    monkeypatch, unsorted
):
    """The sampler's caches, rebuilt 7 rows at a time without a CSR copy, are
    ``fm_parts`` of the whole design to the bit (fields on some rows, a
    numeric field, rows given out of order)."""
    import mtlclassic.embedding._fm.gibbs as gibbs

    rng = np.random.RandomState(0)
    n, k = 50, 3
    X = sp.random(n, 6, density=0.5, random_state=1, format="csr")
    X.data = rng.normal(size=X.data.size)
    design = design_from_sparse(X)
    if unsorted:  # the same design, each field's non-zeros in another order
        for F in range(design.n_fields):
            order = rng.permutation(design.rows[F].size)
            design.rows[F] = design.rows[F][order]
            design.cols[F] = design.cols[F][order]
            design.vals[F] = design.vals[F][order]
    monkeypatch.setattr(gibbs, "REFRESH_ROWS", 7)
    Y = rng.normal(size=(n, 2))
    state = FMGibbsSampler(
        design, Y, np.ones((n, 2)), np.array([False, False]),
        rng.normal(size=(6, k)), learn_scale=True,
        random_state=np.random.RandomState(2),
    )  # fmt: skip
    state.coef[:] = rng.normal(size=state.coef.shape)
    state.intercept[:] = [0.5, -1.0]
    q_before = state.q
    state.refresh()
    assert state.q is q_before  # rebuilt in place
    assert design._csr is None  # no CSR copy kept
    linear, q, phi = fm_parts(design_from_sparse(X).tocsr(), state.coef, state.factors)
    np.testing.assert_array_equal(state.q, q.T)
    np.testing.assert_array_equal(state.phi, phi)
    np.testing.assert_array_equal(state.linear, linear.T + state.intercept[:, None])


def test_a_chain_in_row_chunks_is_the_chain_in_one_piece(monkeypatch):
    """Refresh, latent draws and ``pr = P r`` run in row chunks; with chunks
    of 7 rows the chain is the one-piece chain to the bit (binary tasks
    labelled on every row and on some, correlated noise, entity blocks)."""
    from mtlclassic.embedding._fm import gibbs
    from mtlclassic.embedding._fm.gibbs import sample_fm

    X, y, rng = _relational_data(n=600)
    design = FMRegressor(n_iter=1, random_state=0).fit(X, y)._encode(X)[1]
    n = len(y)
    Y = np.c_[y, (y > 0).astype(float), (rng.normal(size=n) > 0.3).astype(float)]
    Y[rng.rand(n) < 0.4, 2] = np.nan  # a binary task on some rows only
    weight = np.where(np.isnan(Y), 0.0, 1.0)
    start = np.random.RandomState(5).normal(scale=0.1, size=(design.n_features, 3))

    def run():
        return sample_fm(
            design, Y, weight, np.array([False, True, True]), start,
            n_iter=12, n_kept_samples=4, learn_scale=True,
            random_state=np.random.RandomState(3),
        )  # fmt: skip

    whole = run()
    monkeypatch.setattr(gibbs, "REFRESH_ROWS", 7)
    chunked = run()
    assert whole.noise_correlation[0, 1] != 0  # the correlated path ran
    for name in ("factors", "coef", "intercept", "scale", "noise_correlation"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name))


def test_design_fields_share_read_only_rows_values_and_columns():
    """Fields on every row share one ``arange``; one-hot values one ones
    array, one-column fields one zeros array; the design is the one-hot and
    scaled values all the same (against a hand-built matrix)."""
    X = pd.DataFrame(
        {
            "user": pd.Categorical(["a", "b", "a", "c"]),
            "item": pd.Categorical(["x", None, "y", "x"]),  # not on every row
            "f0": [1.0, 2.0, 3.0, 4.0],
        }
    )
    fm = FMRegressor(n_iter=1, random_state=0).fit(X, [1.0, 2.0, 3.0, 4.0])
    design = fm._encode(X)[1]
    user, item, f0 = range(3)
    assert design.rows[user] is design.rows[f0]  # the shared arange
    assert design.rows[item].tolist() == [0, 2, 3]
    assert np.shares_memory(design.vals[user], design.vals[item])  # ones
    for array in (design.rows[user], design.vals[user], design.cols[f0]):
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 7
    z = (np.array([1.0, 2.0, 3.0, 4.0]) - 2.5) / np.std([1.0, 2.0, 3.0, 4.0])
    expected = np.array(
        [
            [1, 0, 0, 1, 0, z[0]],
            [0, 1, 0, 0, 0, z[1]],
            [1, 0, 0, 0, 1, z[2]],
            [0, 0, 1, 1, 0, z[3]],
        ]
    )
    np.testing.assert_allclose(design.tocsr().toarray(), expected, rtol=1e-15)
