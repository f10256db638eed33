r"""Factorization machines: FMRegressor, FMClassifier and the multi-task FMEmbedder.

The estimators assemble three private pieces: the design encoder
(:mod:`._fm_design`: ``X`` → sparse one-hot/numeric design organised in
fields), the datafits and the field-block coordinate-descent solver
(:mod:`._fm_solver`).
"""

import numbers
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    clone,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, column_or_1d

from .._compat import (
    Interval,
    StrOptions,
    _fit_context,
    check_is_fitted,
    limit_threads,
    validate_data,
)
from .._ids import category_dtypes
from .._targets import check_targets, check_task_sample_weight, targets_ndim
from ..metrics._masked import MultiTaskScoreMixin
from ._base import BaseEmbedder
from ._fm_design import build_design, fit_encoding, resolve_categorical
from ._fm_mcmc import FMPosterior, posterior_predict, sample_fm, to_link_scale
from ._fm_solver import fm_decision, initial_parameters, solve_fm

_COMMON_CONSTRAINTS = {
    "n_components": [Interval(numbers.Integral, 0, None, closed="left")],
    "solver": [StrOptions({"mcmc", "als"})],
    "n_kept_samples": [None, Interval(numbers.Integral, 1, None, closed="left")],
    "alpha_w": [Interval(numbers.Real, 0, None, closed="left")],
    "alpha_v": [Interval(numbers.Real, 0, None, closed="left")],
    "n_iter": [Interval(numbers.Integral, 1, None, closed="left")],
    "init_stdev": [Interval(numbers.Real, 0, None, closed="left")],
    "tol": [Interval(numbers.Real, 0, None, closed="left")],
    "categorical_features": [StrOptions({"auto"}), list, tuple],
    "scale_numeric": ["boolean"],
    "warm_start": ["boolean"],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def _relative_weights(weight):
    """Rescale each task's sample weights to mean 1 over its labelled rows.

    The Gibbs sampler reads a weight as a precision multiplier (a count of
    observations), so only relative weights are meaningful: survey weights
    in the thousands would otherwise make the posterior as confident as
    thousands of times the data.
    """
    weight = np.asarray(weight, dtype=np.float64)
    labelled = weight > 0
    count = labelled.sum(axis=0)
    total = weight.sum(axis=0)
    scale = np.where(total > 0, count / np.where(total > 0, total, 1.0), 1.0)
    return weight * scale[None, :]


def _warm_fold_sweeps(n_iter):
    """Sweeps (and kept samples) of a warm-started cross-fitting fold chain.

    ``max(10, n_iter // 4)`` sweeps, never more than ``n_iter``; the first
    fifth (at least 3, at most all but one) is burn-in.
    """
    sweeps = min(n_iter, max(10, n_iter // 4))
    burn_in = min(sweeps - 1, max(3, sweeps // 5))
    return sweeps, sweeps - burn_in


_SAMPLE_ATTRIBUTES = (
    "intercept_samples_",
    "coef_samples_",
    "factor_samples_",
    "scale_samples_",
    "noise_precision_",
    "noise_correlation_",
)
_ALS_ONLY_DEFAULTS = {"alpha_w": 1e-3, "alpha_v": 1e-3, "tol": 1e-5}


class _BaseFM(BaseEstimator):
    """Shared machinery: the design encoding, the solver call, predictions."""

    _parameter_constraints = dict(_COMMON_CONSTRAINTS)
    _allowed_kinds = ("regression", "binary")

    def _warn_unused_parameters(self):
        """Warn when parameters of the ALS solver are set for the Gibbs sampler."""
        if self.solver != "mcmc":
            return
        changed = [
            name
            for name, default in _ALS_ONLY_DEFAULTS.items()
            if getattr(self, name) != default
        ]
        if changed:
            warnings.warn(
                f"{changed} only apply to solver='als'; the Bayesian FM "
                "(solver='mcmc', the default) samples its regularisation and "
                "ignores them.",
                UserWarning,
                stacklevel=4,
            )

    def _extra_categorical(self):
        return ()

    # ---------------------------------------------------------------- input
    def _encode_fit(self, X, sample_weight):
        """Validate ``X`` in fit, learn the encoding and return the design."""
        extra = self._extra_categorical()
        frame = isinstance(X, pd.DataFrame)
        if frame and resolve_categorical(X, self.categorical_features, extra).any():
            if X.shape[0] < 1:
                raise ValueError(
                    f"Found array with 0 sample(s) (shape={X.shape}) while a minimum "
                    "of 1 is required."
                )
            self.frame_input_ = True
            self.n_features_in_ = X.shape[1]
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            self.passthrough_categories_ = category_dtypes(X, range(X.shape[1]))
            Xv = X
        else:
            self.frame_input_ = False
            Xv = validate_data(
                self,
                X,
                accept_sparse="csc",
                dtype=np.float64,
                ensure_min_samples=1,
                ensure_all_finite="allow-nan",
            )
        mask = resolve_categorical(Xv, self.categorical_features, extra)
        names = self._input_names()
        sw = None
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float64)
            if sw.ndim == 2:
                sw = sw.max(axis=1)
        categories, mean, scale, value_range, offsets = fit_encoding(
            Xv,
            mask,
            names,
            scale_numeric=self.scale_numeric,
            sample_weight=sw,
        )
        self.field_names_ = [str(n) for n in names]
        self.categories_ = categories
        self.numeric_mean_ = mean
        self.numeric_scale_ = scale
        self.numeric_range_ = value_range
        self.field_offsets_ = offsets
        return Xv, self._build(Xv)

    def _input_names(self):
        if hasattr(self, "feature_names_in_"):
            return [str(c) for c in self.feature_names_in_]
        return [f"x{j}" for j in range(self.n_features_in_)]

    def _build(self, Xv):
        return build_design(
            Xv,
            self.categories_,
            self.numeric_mean_,
            self.numeric_scale_,
            self.field_offsets_,
            self.field_names_,
            getattr(self, "numeric_range_", None),  # None: saved before clipping
        )

    def _encode(self, X):
        """Validate ``X`` after fit (same columns) and return (X, design)."""
        check_is_fitted(self)
        if self.frame_input_:
            if not isinstance(X, pd.DataFrame):
                raise TypeError(
                    f"{type(self).__name__} was fitted on a DataFrame with "
                    "categorical columns; X must be a DataFrame with the columns "
                    f"{list(self.feature_names_in_)}; got {type(X).__name__}."
                )
            missing = [c for c in self.feature_names_in_ if c not in X.columns]
            if missing:
                raise ValueError(
                    f"X is missing columns seen in fit: {missing}. X must have the "
                    f"columns {list(self.feature_names_in_)}."
                )
            Xv = X[list(self.feature_names_in_)]
        else:
            Xv = validate_data(
                self,
                X,
                accept_sparse="csc",
                dtype=np.float64,
                reset=False,
                ensure_all_finite="allow-nan",
            )
        return Xv, self._build(Xv)

    # --------------------------------------------------------------- solver
    def _run_solver(self, design, Y, weight, binary, init, learn_scale):
        # penalties per unit of sample weight: the mean loss is penalised, so
        # one alpha serves 10k and 10M rows
        n_eff = float(np.sum(weight)) / weight.shape[1]
        return solve_fm(
            design,
            Y,
            weight,
            binary,
            init,
            alpha_w=self.alpha_w * n_eff,
            alpha_v=self.alpha_v * n_eff,
            n_iter=self.n_iter,
            tol=self.tol,
            learn_scale=learn_scale,
            verbose=self.verbose,
        )

    def _solve(self, design, Y, weight, binary, learn_scale):
        """Fit by the chosen solver; store the parameters (posterior means)."""
        self._warn_unused_parameters()
        self._binary_tasks_ = np.asarray(binary, dtype=bool)
        stale = _SAMPLE_ATTRIBUTES if self.solver == "als" else ("objective_",)
        for name in stale:
            self.__dict__.pop(name, None)
        if self.solver == "mcmc":
            self._sample(design, Y, weight, binary, learn_scale)
        else:
            self._optimise(design, Y, weight, binary, learn_scale)

    def _kept_samples(self):
        if self.n_kept_samples is None:
            kept = max(1, self.n_iter // 2)
        else:
            kept = self.n_kept_samples
        if kept > self.n_iter:
            raise ValueError(
                f"n_kept_samples={self.n_kept_samples} must not exceed "
                f"n_iter={self.n_iter} (the burn-in is n_iter - n_kept_samples)."
            )
        return int(kept)

    def _previous_factors(self, n_features):
        if (
            self.warm_start
            and hasattr(self, "factors_")
            and self.factors_.shape == (n_features, self.n_components)
        ):
            return self.factors_.copy()
        return None

    def _sample(self, design, Y, weight, binary, learn_scale):
        n_iter, n_kept = self.n_iter, self._kept_samples()
        weight = _relative_weights(weight)
        rng = check_random_state(self.random_state)
        start = getattr(self, "_chain_start", None)
        if start is not None:  # a cross-fitting fold, warm-started
            start = self._map_chain_start(start, design.n_features, Y.shape[1])
            n_iter, n_kept = _warm_fold_sweeps(self.n_iter)
        factors = None if start is None else start[0]
        if factors is None:
            factors = self._previous_factors(design.n_features)
        if factors is None:
            factors = rng.normal(
                scale=self.init_stdev, size=(design.n_features, self.n_components)
            )
        with limit_threads(1):  # see _optimise
            post = sample_fm(
                design,
                Y,
                weight,
                binary,
                factors,
                n_iter=n_iter,
                n_kept_samples=n_kept,
                learn_scale=learn_scale,
                random_state=rng,
                start=None if start is None else start[1:],
                verbose=self.verbose,
            )
        self.intercept_samples_ = post.intercept
        self.coef_samples_ = post.coef
        self.factor_samples_ = post.factors
        self.scale_samples_ = post.scale
        self.noise_precision_ = post.noise_precision
        self.noise_correlation_ = post.noise_correlation
        self.intercept_ = post.intercept.mean(axis=0)
        self.coef_ = post.coef.mean(axis=0)
        self.factors_ = post.factors.mean(axis=0)
        self.interaction_scale_ = post.scale.mean(axis=0)
        self.n_iter_ = n_iter

    def _chain_end(self):
        """Return the last Gibbs state, keyed by design column (to warm-start)."""
        return {
            "columns": self._design_columns(),
            "factors": self.factor_samples_[-1],
            "coef": np.atleast_2d(self.coef_samples_[-1]),
            "intercept": np.atleast_1d(self.intercept_samples_[-1]),
            "scale": np.atleast_1d(self.scale_samples_[-1]),
            "noise_precision": np.atleast_1d(self.noise_precision_),
        }

    def _design_columns(self):
        """One hashable key (field, category or None) per design column."""
        keys = []
        for name, cats in zip(self.field_names_, self.categories_):
            keys += [(name, None)] if cats is None else [(name, c) for c in cats]
        return pd.Index(keys, tupleize_cols=False)

    def _map_chain_start(self, end, n_features, n_tasks):
        """Carry a full model's last state onto this fold's design columns.

        Columns the full model never saw start at zero (weights) and at a
        fresh draw around zero (factors); the sampler's first sweep redraws
        every block from its conditional on this fold's rows only.
        """
        position = end["columns"].get_indexer(self._design_columns())
        seen = position >= 0
        factors = np.zeros((n_features, self.n_components))
        factors[seen] = end["factors"][position[seen]]
        coef = np.zeros((n_tasks, n_features))
        coef[:, seen] = end["coef"][:, position[seen]]
        return factors, end["intercept"], coef, end["scale"], end["noise_precision"]

    def _posterior(self):
        return FMPosterior(
            np.atleast_2d(self.intercept_samples_),
            self.coef_samples_,
            self.factor_samples_,
            np.atleast_2d(self.scale_samples_),
            self.noise_precision_,
            self.n_iter_,
        )

    def _optimise(self, design, Y, weight, binary, learn_scale):
        n_tasks = Y.shape[1]
        previous = None
        if self.warm_start and hasattr(self, "factors_") and hasattr(self, "coef_"):
            previous = (
                np.atleast_1d(np.asarray(self.intercept_, dtype=float)).copy(),
                np.atleast_2d(np.asarray(self.coef_, dtype=float)).copy(),
                self.factors_.copy(),
                np.atleast_1d(np.asarray(self.interaction_scale_, dtype=float)).copy(),
            )
            if not (
                previous[0].shape == (n_tasks,)
                and previous[2].shape == (design.n_features, self.n_components)
            ):
                previous = None
        if previous is None:
            previous = initial_parameters(
                design.n_features,
                n_tasks,
                self.n_components,
                Y,
                weight,
                binary,
                init_stdev=self.init_stdev,
                random_state=check_random_state(self.random_state),
            )
        # The solver's vectors are too short for threaded BLAS to pay off, and
        # a busy machine makes OpenBLAS threads spin: one thread, always.
        with limit_threads(1):
            result = self._run_solver(design, Y, weight, binary, previous, learn_scale)
        if not result.converged and self.tol > 0:
            warnings.warn(
                f"{type(self).__name__} did not converge in n_iter={self.n_iter} "
                f"epochs (relative objective decrease above tol={self.tol}); "
                "increase n_iter.",
                ConvergenceWarning,
                stacklevel=4,
            )
        self.intercept_ = result.intercept
        self.coef_ = result.coef
        self.interaction_scale_ = result.scale
        self.factors_ = result.factors
        self.n_iter_ = result.n_iter
        self.objective_ = np.asarray(result.objective)

    def _unseen_rows(self, design):
        """``[(field, rows)]``: rows whose category in a categorical field is unseen.

        Gibbs-fitted models only (see :meth:`_with_group_means`); an unseen
        category and a missing value both leave the field's rows empty.
        """
        out = []
        if not hasattr(self, "factor_samples_"):
            return out
        for F, cats in enumerate(self.categories_):
            if cats is None or len(cats) == 0:
                continue
            seen = np.zeros(design.n_samples, dtype=bool)
            seen[design.rows[F]] = True
            if not seen.all():
                out.append((F, np.flatnonzero(~seen)))
        return out

    def _with_group_means(self, design):
        """Return the design and samples, unseen categories at their group mean.

        Under the hierarchical prior a category's coefficient and factors are
        drawn around its field's mean, so a category never seen in training is
        predicted with the mean of the field's categories in every sample (one
        extra design column per field with unseen rows). A zero row would mean
        the prior mean is 0, which it is not: the field's mean then drifts with
        the global bias during sampling, and cold rows drift with it.
        """
        Z, post = design.tocsr(), self._posterior()
        unseen = self._unseen_rows(design)
        if not unseen:
            return Z, post
        n, off = design.n_samples, self.field_offsets_
        extra = sp.csr_matrix(
            (
                np.ones(sum(r.size for _, r in unseen)),
                (
                    np.concatenate([r for _, r in unseen]),
                    np.repeat(np.arange(len(unseen)), [r.size for _, r in unseen]),
                ),
            ),
            shape=(n, len(unseen)),
        )
        coef = [post.coef[:, :, off[F] : off[F + 1]].mean(axis=2) for F, _ in unseen]
        factors = [post.factors[:, off[F] : off[F + 1]].mean(axis=1) for F, _ in unseen]
        post = FMPosterior(
            post.intercept,
            np.concatenate([post.coef, np.stack(coef, axis=2)], axis=2),
            np.concatenate([post.factors, np.stack(factors, axis=1)], axis=1),
            post.scale,
            post.noise_precision,
            post.n_iter,
        )
        return sp.hstack([Z, extra], format="csr"), post

    def _mean_prediction(self, design):
        """E[y_t | x] per task, (n_samples, n_tasks): probabilities for binary."""
        if hasattr(self, "factor_samples_"):  # fitted by the Gibbs sampler
            Z, post = self._with_group_means(design)
            return posterior_predict(Z, post, self._binary_tasks_)
        scores = self._link_scores(design)
        scores[:, self._binary_tasks_] = expit(scores[:, self._binary_tasks_])
        return scores

    def _link_scores(self, design):
        """Scores on the link scale (log-odds for binary tasks)."""
        if hasattr(self, "factor_samples_"):
            return to_link_scale(self._mean_prediction(design), self._binary_tasks_)
        return fm_decision(
            design.tocsr(),
            np.atleast_1d(np.asarray(self.intercept_, dtype=float)),
            np.atleast_2d(self.coef_),
            self.factors_,
            np.atleast_1d(np.asarray(self.interaction_scale_, dtype=float)),
        )

    def _decision(self, X):
        """Raw scores (n_samples, n_tasks) on the link scale."""
        _, design = self._encode(X)
        return self._link_scores(design)

    def _fit_tasks(self, X, y, sample_weight, select=None):
        """Fit the multi-task FM on the tasks of ``y`` that ``select`` keeps."""
        _require_y(self, y)
        n_samples = _n_rows(X)
        Y, mask, kinds, names = check_targets(
            y, self.tasks, n_samples=n_samples, allow_kinds=self._allowed_kinds
        )
        keep = list(range(len(names))) if select is None else select(names)
        Y, mask = Y[:, keep], mask[:, keep]
        kinds, names = [kinds[t] for t in keep], [names[t] for t in keep]
        sw = check_task_sample_weight(sample_weight, n_samples, len(keep))
        weight = sw * mask
        if not weight.any():
            raise ValueError(
                "sample_weight is zero on every labelled row; nothing to fit."
            )
        for t, name in enumerate(names):
            labelled = weight[:, t] > 0
            if labelled.sum() < 2:
                raise ValueError(
                    f"Task {name!r} has n_samples = {int(labelled.sum())} labelled "
                    "row(s) with positive weight; a task needs at least 2."
                )
            if kinds[t] == "binary" and np.unique(Y[labelled, t]).size < 2:
                raise ValueError(
                    f"Binary task {name!r} has a single class "
                    f"({Y[labelled, t][0]:g}) on its labelled rows; it needs both "
                    "0 and 1."
                )
        _, design = self._encode_fit(X, weight.max(axis=1))
        binary = np.array([k == "binary" for k in kinds])
        self._solve(design, Y, weight, binary, learn_scale=len(keep) > 1)
        self.task_names_ = names
        self.task_kinds_ = kinds
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # a missing value maps to nothing
        tags.input_tags.sparse = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else np.asarray(X).shape[0]


def _require_y(estimator, y):
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y "
            "is None."
        )


def _check_y_1d(y, n_samples, numeric):
    y = check_array(
        y,
        ensure_2d=False,
        dtype=np.float64 if numeric else None,
        input_name="y",
        ensure_all_finite=True,
    )
    y = column_or_1d(y, warn=True)
    if y.shape[0] != n_samples:
        raise ValueError(f"y has {y.shape[0]} rows but X has {n_samples}.")
    return y


def _check_sample_weight_1d(sample_weight, n_samples):
    if sample_weight is None:
        return np.ones(n_samples)
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.ndim == 0:
        sw = np.full(n_samples, float(sw))
    sw = check_task_sample_weight(sw, n_samples, 1)[:, 0]
    if not sw.any():
        raise ValueError("sample_weight is zero for every row; nothing to fit.")
    return sw


class _SingleTaskFM(_BaseFM):
    """Parameters of the FM predictors (regressor, classifier, multi-task)."""

    _parameter_constraints = dict(_COMMON_CONSTRAINTS)

    def __init__(
        self,
        n_components=8,
        *,
        solver="mcmc",
        n_iter=100,
        n_kept_samples=None,
        alpha_w=1e-3,
        alpha_v=1e-3,
        init_stdev=0.1,
        tol=1e-5,
        categorical_features="auto",
        scale_numeric=True,
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.solver = solver
        self.n_kept_samples = n_kept_samples
        self.alpha_w = alpha_w
        self.alpha_v = alpha_v
        self.n_iter = n_iter
        self.init_stdev = init_stdev
        self.tol = tol
        self.categorical_features = categorical_features
        self.scale_numeric = scale_numeric
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose


class FMRegressor(RegressorMixin, _SingleTaskFM):
    r"""Second-order factorization machine regressor (Bayesian, or ALS).

    The model, on the sparse design :math:`z` built from ``X`` (one-hot
    encoded categorical columns, numeric columns), is
    :math:`\hat y(z) = b + \sum_j w_j z_j + \sum_{j<l} \langle v_j,
    v_l\rangle z_j z_l`.

    With ``solver="mcmc"`` (default) it is the Bayesian FM (Freudenthaler et
    al. 2011): :math:`y \sim N(\hat y(z), 1/(a\tau))`, Gaussian priors with
    a mean and a precision per field group, Normal–Gamma hyperpriors and a
    Gamma prior on :math:`\tau`, all drawn by Gibbs sampling (see
    :class:`MultiTaskFM`); ``predict`` is the posterior mean.

    With ``solver="als"`` it fits

    .. math::

        \min_{b, w, V}\; \sum_{i=1}^n a_i\, \ell\big(y_i, \hat y(z_i)\big)
        + \frac{A}{2} \big(\alpha_w \lVert w \rVert_2^2
        + \alpha_v \lVert V \rVert_F^2\big) ,
    with squared loss :math:`\ell(y, \hat y) = \tfrac12 (y - \hat y)^2`, sample
    weights :math:`a_i`, :math:`A = \sum_i a_i` (the penalty is per unit of
    weight: the mean loss is penalised, so one ``alpha`` serves any number of
    rows) and an unpenalised intercept :math:`b`. With ``n_components=0`` this
    is exactly scikit-learn's ``Ridge(alpha=alpha_w * A)`` on the design.

    The ALS solver is coordinate descent (Rendle's ALS): every coordinate step is
    the exact minimiser along that coordinate, so the objective never
    increases. The features of one categorical column never co-occur in a row,
    so all their factor coordinates :math:`v_{lf}` are updated at once, exactly
    (field-block coordinate descent); an epoch costs
    :math:`O(\mathrm{nnz}(z)\,k)`.

    Parameters
    ----------
    n_components : int, default=8
        Dimension :math:`k` of the factors (0 gives a ridge regression).
    solver : {"mcmc", "als"}, default="mcmc"
        ``"mcmc"``: the Bayesian FM by Gibbs sampling (Freudenthaler et al.
        2011, libFM's MCMC): Gaussian priors with a mean and a precision per
        field group, Normal–Gamma hyperpriors, the noise precision sampled
        (probit link for binary labels): nothing to tune, and ``alpha_w``,
        ``alpha_v`` and ``tol`` are unused; predictions are posterior means.
        ``"als"``: the penalised point estimate by coordinate descent
        described below.
    n_iter : int, default=100
        Gibbs sweeps (``"mcmc"``) or maximum epochs (``"als"``).
    n_kept_samples : int or None, default=None
        ``"mcmc"``: the last ``n_kept_samples`` sweeps are averaged (the rest
        is burn-in); None keeps half. Above ``n_iter`` raises ``ValueError``.
    alpha_w : float, default=1e-3
        ``"als"`` only: L2 strength on the linear weights :math:`w`, per unit
        of sample weight (chosen on MovieLens and Book-Crossing subsets:
        the best of 1e-5 to 3e-3 on three of their four tasks).
    alpha_v : float, default=1e-3
        ``"als"`` only: L2 strength on the factors :math:`V`, per unit of
        sample weight.
    init_stdev : float, default=0.1
        Standard deviation of the normal initialisation of :math:`V`.
    tol : float, default=1e-5
        Stop when an epoch decreases the objective by less than ``tol`` times
        its value; 0 runs all ``n_iter`` epochs.
    categorical_features : "auto" or list, default="auto"
        Columns to one-hot encode. The pandas ``category``, ``object`` and
        string columns of a DataFrame always are; ``"auto"`` adds no other
        column, a list adds the columns it names (column names of a DataFrame
        or integer positions, e.g. integer id columns). Every other column is
        numeric. An unseen category or a missing value in a categorical
        column gets, with ``solver="mcmc"``, the mean weight and factors of
        that column's categories (the centre of their hierarchical prior: a
        new user is predicted like an average user), and with
        ``solver="als"`` an all-zero row (its penalty's centre). A missing
        numeric value is its training mean (numeric values outside the
        training range are clipped to it).
    scale_numeric : bool, default=True
        Centre and scale every numeric column to unit variance (training,
        weighted statistics). A scipy sparse ``X`` is scaled but not centred,
        so that it stays sparse. A column whose values are all 0 or 1 (an
        indicator) is left as it is, sparse like a one-hot column.
    warm_start : bool, default=False
        Start from the previous solution when the design has the same shape.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation of :math:`V` and of the Gibbs sampler: a
        fixed seed gives the same model bit for bit.
    verbose : int, default=0
        Print progress after every sweep (the noise precisions) or epoch
        (the objective) when positive.

    Attributes
    ----------
    intercept_ : float
        The intercept :math:`b`.
    coef_ : ndarray of shape (n_design_features,)
        Linear weights :math:`w` on the design columns.
    factors_ : ndarray of shape (n_design_features, n_components)
        Factors :math:`V`, one row per design column.
    interaction_scale_ : float
        Always 1.0 (kept for the multi-task form).
    field_names_ : list of str
        One field per input column.
    field_offsets_ : ndarray of shape (n_fields + 1,)
        Field ``F`` owns the design columns ``field_offsets_[F]:field_offsets_[F+1]``.
    categories_ : list
        Per field, the list of categories (its one-hot columns, in order), or
        None for a numeric field.
    numeric_mean_, numeric_scale_ : ndarray of shape (n_fields,)
        Centring and scaling of the numeric fields (0 and 1 elsewhere).
    numeric_range_ : ndarray of shape (n_fields, 2)
        Training minimum and maximum of each numeric field (infinite for
        categorical fields): new values are clipped to it, so the linear and
        interaction terms never extrapolate (a future timestamp scores like
        the newest training one).
    frame_input_ : bool
        Whether ``X`` was a DataFrame with categorical columns (``predict``
        then needs a DataFrame with the same columns, in any order).
    intercept_samples_, coef_samples_, factor_samples_, scale_samples_ : ndarray
        ``solver="mcmc"`` only: the kept Gibbs samples (see
        :class:`MultiTaskFM`); ``intercept_``, ``coef_``, ``factors_`` are
        then their posterior means.
    noise_precision_ : ndarray of shape (n_tasks,)
        ``solver="mcmc"`` only: posterior mean of the noise precision (1
        for a probit task).
    n_iter_ : int
        Number of epochs or sweeps run.
    objective_ : ndarray of shape (n_iter_ + 1,)
        ``solver="als"`` only: objective before the first and after every
        epoch.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input column names (when ``X`` has string column names).

    See Also
    --------
    FMClassifier : The same model with the logistic loss.
    FMEmbedder : Multi-task FM as a cross-fitted shared representation.

    Notes
    -----
    Every input column is a *field*: a categorical column is one-hot encoded
    over the categories seen in ``fit`` (rows with weight 0 excluded), a
    numeric column is one design column (its own field, updated by ordinary
    coordinate descent). An epoch updates the intercept, then per field the
    linear weights followed by one exact step along "move the field's mean
    weight into the intercept" (a nearly flat direction for one-hot fields
    on which plain coordinate descent zig-zags), then for every factor
    ``f`` and field the block of :math:`v_{lf}`. For a plain or sparse
    matrix ``X`` every column is a numeric field, but consecutive columns
    that never share a row (a one-hot block, e.g. the output of
    ``OneHotEncoder``) are merged into one block for the solver, so such
    input is as fast as a DataFrame with categorical columns (pass
    ``scale_numeric=False`` to keep indicator columns at 0/1). ``tol`` compares the
    objective between epochs; as the factors' rotations leave the objective
    unchanged, the parameters themselves need not settle.

    References
    ----------
    S. Rendle, Z. Gantner, C. Freudenthaler, L. Schmidt-Thieme. "Fast
    context-aware recommendations with factorization machines", SIGIR 2011.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from mtlclassic.embedding import FMRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = pd.DataFrame({"user": rng.randint(0, 20, 400).astype(str),
    ...                   "item": rng.randint(0, 10, 400).astype(str)})
    >>> u, v = rng.normal(size=(20, 2)), rng.normal(size=(10, 2))
    >>> y = np.sum(u[X["user"].astype(int)] * v[X["item"].astype(int)], axis=1)
    >>> y = y + 0.1 * rng.normal(size=400)
    >>> model = FMRegressor(2, random_state=0).fit(X, y)
    >>> bool(model.score(X, y) > 0.95)
    True
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the factorization machine.

        Parameters
        ----------
        X : DataFrame, array-like or sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : FMRegressor
        """
        _require_y(self, y)
        n_samples = _n_rows(X)
        sw = _check_sample_weight_1d(sample_weight, n_samples)
        Xv, design = self._encode_fit(X, sw)
        y = _check_y_1d(y, design.n_samples, numeric=True)
        self._solve(
            design, y[:, None], sw[:, None], np.array([False]), learn_scale=False
        )
        self.intercept_ = float(self.intercept_[0])
        self.coef_ = self.coef_[0]
        self.interaction_scale_ = 1.0
        return self

    def predict(self, X):
        """Predict the target for every row of ``X``.

        Parameters
        ----------
        X : DataFrame, array-like or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        return self._decision(X)[:, 0]


class FMClassifier(ClassifierMixin, _SingleTaskFM):
    r"""Second-order factorization machine classifier (Bayesian probit, or ALS).

    With ``solver="mcmc"`` (default) it is the Bayesian FM with the probit
    link, :math:`P(y = 1) = \Phi(\hat y(z))`, sampled through Albert & Chib's
    latent utilities; ``predict_proba`` is the posterior mean of
    :math:`\Phi(\hat y)` and ``decision_function`` its log-odds.

    With ``solver="als"``, for two classes it fits

    .. math::

        \min_{b, w, V}\; \sum_{i=1}^n a_i\, \ell\big(y_i, \hat y(z_i)\big)
        + \frac{A}{2} \big(\alpha_w \lVert w \rVert_2^2
        + \alpha_v \lVert V \rVert_F^2\big) ,
        \qquad
        \hat y(z) = b + \sum_j w_j z_j + \sum_{j<l} \langle v_j, v_l\rangle z_j z_l
    with the logistic loss :math:`\ell(y, \hat y) = \log(1 + e^{\hat y}) - y
    \hat y` (``y`` = 1 for ``classes_[1]``) and :math:`A = \sum_i a_i`, so
    with ``n_components=0`` it is scikit-learn's
    ``LogisticRegression(C=1/(alpha_w * A))`` on the design; ``predict_proba``
    is :math:`\sigma(\hat y)`. Every
    coordinate step is a Newton step (gradient :math:`p - y`, curvature
    :math:`p(1-p)`), taken for a whole categorical field at once.

    With more than two classes it fits one-vs-rest tasks that share the
    factors :math:`V`; each class has its own :math:`b_c, w_c` and a scale
    :math:`s_c` on the interaction term (prior :math:`N(1, 1)` under
    ``"mcmc"``, penalised by :math:`\tfrac{\alpha_w}{2}(s_c - 1)^2` under
    ``"als"``); probabilities are the one-vs-rest probabilities (probit or
    sigmoid) normalised to sum to one.

    Parameters
    ----------
    n_components : int, default=8
        Dimension of the factors (0 gives a logistic regression).
    solver : {"mcmc", "als"}, default="mcmc"
        ``"mcmc"``: the Bayesian FM by Gibbs sampling (Freudenthaler et al.
        2011, libFM's MCMC): Gaussian priors with a mean and a precision per
        field group, Normal–Gamma hyperpriors, the noise precision sampled
        (probit link for binary labels): nothing to tune, and ``alpha_w``,
        ``alpha_v`` and ``tol`` are unused; predictions are posterior means.
        ``"als"``: the penalised point estimate by coordinate descent
        described below.
    n_iter : int, default=100
        Gibbs sweeps (``"mcmc"``) or maximum epochs (``"als"``).
    n_kept_samples : int or None, default=None
        ``"mcmc"``: the last ``n_kept_samples`` sweeps are averaged (the rest
        is burn-in); None keeps half. Above ``n_iter`` raises ``ValueError``.
    alpha_w : float, default=1e-3
        ``"als"`` only: L2 strength on the linear weights, per unit of
        sample weight.
    alpha_v : float, default=1e-3
        ``"als"`` only: L2 strength on the factors, per unit of weight.
    init_stdev : float, default=0.1
        Standard deviation of the normal initialisation of the factors.
    tol : float, default=1e-5
        Stop when an epoch decreases the objective by less than ``tol`` times
        its value; 0 runs all ``n_iter`` epochs.
    categorical_features : "auto" or list, default="auto"
        Columns to one-hot encode; see :class:`FMRegressor`.
    scale_numeric : bool, default=True
        Standardise numeric columns; see :class:`FMRegressor`.
    warm_start : bool, default=False
        Start from the previous solution when the design has the same shape.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation of the factors and of the Gibbs sampler.
    verbose : int, default=0
        Print progress after every sweep (the noise precisions) or epoch
        (the objective) when positive.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts (one for two classes).
    coef_ : ndarray of shape (1, n_design_features) or (n_classes, n_design_features)
        Linear weights on the design columns.
    factors_ : ndarray of shape (n_design_features, n_components)
        Shared factors.
    interaction_scale_ : ndarray of shape (1,) or (n_classes,)
        Scale of the interaction term per one-vs-rest task (1 for two classes).
    field_names_, field_offsets_, categories_, numeric_mean_, numeric_scale_,
    numeric_range_
        The design encoding; see :class:`FMRegressor`.
    intercept_samples_, coef_samples_, factor_samples_, scale_samples_ : ndarray
        ``solver="mcmc"`` only: the kept Gibbs samples (see
        :class:`MultiTaskFM`); ``intercept_``, ``coef_``, ``factors_`` are
        then their posterior means.
    noise_precision_ : ndarray of shape (n_tasks,)
        ``solver="mcmc"`` only: posterior mean of the noise precision (1
        for a probit task).
    n_iter_ : int
        Number of epochs or sweeps run.
    objective_ : ndarray of shape (n_iter_ + 1,)
        ``solver="als"`` only: objective before the first and after every
        epoch.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input column names (when ``X`` has string column names).

    See Also
    --------
    FMRegressor : The same model with the squared loss.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from mtlclassic.embedding import FMClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = pd.DataFrame({"user": rng.randint(0, 20, 600).astype(str),
    ...                   "item": rng.randint(0, 10, 600).astype(str)})
    >>> y = np.where((X["user"].astype(int) + X["item"].astype(int)) % 2, "yes", "no")
    >>> model = FMClassifier(4, n_iter=50, random_state=0).fit(X, y)
    >>> model.classes_.tolist()
    ['no', 'yes']
    >>> model.predict_proba(X).shape
    (600, 2)
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the factorization machine.

        Parameters
        ----------
        X : DataFrame, array-like or sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (any hashable values).
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : FMClassifier
        """
        _require_y(self, y)
        n_samples = _n_rows(X)
        sw = _check_sample_weight_1d(sample_weight, n_samples)
        Xv, design = self._encode_fit(X, sw)
        y = _check_y_1d(y, design.n_samples, numeric=False)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        n_classes = self.classes_.size
        if n_classes < 2:
            raise ValueError(
                "FMClassifier needs samples of at least 2 classes in y; got 1 class "
                f"({self.classes_[0]!r})."
            )
        if n_classes == 2:
            Y = encoded[:, None].astype(np.float64)
        else:
            Y = (encoded[:, None] == np.arange(n_classes)[None, :]).astype(float)
        weight = np.repeat(sw[:, None], Y.shape[1], axis=1)
        self._solve(
            design,
            Y,
            weight,
            np.ones(Y.shape[1], dtype=bool),
            learn_scale=n_classes > 2,
        )
        return self

    def decision_function(self, X):
        """Return raw scores (log-odds of ``classes_[1]`` for two classes).

        Parameters
        ----------
        X : DataFrame, array-like or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        scores = self._decision(X)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : DataFrame, array-like or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        _, design = self._encode(X)
        p = self._mean_prediction(design)
        if p.shape[1] == 1:
            return np.hstack([1.0 - p, p])
        total = p.sum(axis=1, keepdims=True)
        return p / np.where(total > 0, total, 1.0)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """Most probable class of every row.

        Parameters
        ----------
        X : DataFrame, array-like or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class FMEmbedder(BaseEmbedder, _BaseFM):
    r"""Multi-task factorization machine as a cross-fitted shared representation.

    With ``target="all"`` it is a :class:`MultiTaskFM`: one FM per task whose
    factors :math:`V` are shared (a shared-bottom model without a neural
    network),

    .. math::

        \hat y_t(z) = b_t + \sum_j w_{tj} z_j
            + s_t \sum_{j<l} \langle v_j, v_l\rangle z_j z_l ,

    each task fitted on its labelled rows :math:`\Omega_t` (NaN = no label)
    with its own intercept :math:`b_t`, linear weights :math:`w_t` and
    interaction scale :math:`s_t`. With ``solver="mcmc"`` (default) it is
    the Bayesian multi-task FM of :class:`MultiTaskFM` (Gibbs sampling,
    per-task noise precisions, noise correlations between tasks labelled on
    the same rows, probit link for binary tasks). With ``solver="als"`` it
    minimises

    .. math::

        \sum_{t} \sum_{i \in \Omega_t} a_{it}\,
            \ell_t\big(y_{it}, \hat y_t(z_i)\big)
        + \frac{A}{2} \Big(\alpha_w \sum_t \big(\lVert w_t \rVert^2
        + (s_t - 1)^2\big) + \alpha_v \lVert V \rVert_F^2\Big) ,

    :math:`\ell_t` the squared loss (regression) or the logistic loss
    (binary), :math:`a_{it}` the sample weights and :math:`A` their sum per
    task on average. With ``target`` naming one task it is a plain
    single-task FM (:math:`s = 1`); ``target="each"`` fits one per task.

    ``transform`` outputs, per row, the ``passthrough`` input columns, then the
    summed latent vector :math:`\sum_{j \in F} v_j z_j` of every field ``F``
    (the user, the item, every side column), then every task's FM score
    :math:`\hat y_t` (log-odds for a binary task). ``fit_transform(X, Y)``
    returns out-of-fold outputs (``cv`` folds), ``fit(X, Y).transform(X_new)``
    uses the model fitted on all rows; see ``DESIGN.md``.

    Parameters
    ----------
    target : "all", "each", str or int, default="all"
        ``"all"``: a multi-task FM over every task of ``Y`` (shared factors);
        ``"each"``: one single-task FM per task, side by side (their fields
        are named ``fm_<task>_<field>_<k>``); a task name or a column index:
        a single-task FM on that task only. ``"each"`` never lets one task's
        labels move another task's factors: a downstream head that reads
        every task's score still shares across tasks, without the negative
        transfer a shared-factor model can show (see ``MultiTaskFM``).
    n_components : int, default=8
        Dimension of the factors.
    solver : {"mcmc", "als"}, default="mcmc"
        ``"mcmc"``: the Bayesian FM by Gibbs sampling (Freudenthaler et al.
        2011, libFM's MCMC): Gaussian priors with a mean and a precision per
        field group, Normal–Gamma hyperpriors, the noise precision sampled
        (probit link for binary labels): nothing to tune, and ``alpha_w``,
        ``alpha_v`` and ``tol`` are unused; predictions are posterior means.
        ``"als"``: the penalised point estimate by coordinate descent
        described below.
    n_iter : int, default=100
        Gibbs sweeps (``"mcmc"``) or maximum epochs (``"als"``).
    n_kept_samples : int or None, default=None
        ``"mcmc"``: the last ``n_kept_samples`` sweeps are averaged (the rest
        is burn-in); None keeps half. Above ``n_iter`` raises ``ValueError``.
    alpha_w : float, default=1e-3
        ``"als"`` only: L2 strength on the linear weights and on the scales'
        deviation from 1, per unit of (average per-task) sample weight.
    alpha_v : float, default=1e-3
        ``"als"`` only: L2 strength on the factors, per unit of weight.
    init_stdev : float, default=0.1
        Standard deviation of the normal initialisation of the factors.
    tol : float, default=1e-5
        Stop when an epoch decreases the objective by less than ``tol`` times
        its value; 0 runs all ``n_iter`` epochs.
    tasks : None, list or dict, default=None
        Task kinds (``"regression"``, ``"binary"``, or ``"ranking"``, whose
        relevance grades are fitted as a regression: a pointwise relevance
        score for a ranking head); None infers them; see
        :func:`mtlclassic._targets.check_targets`.
    user_col, item_col : str, int or None, default="user_id", "item_id"
        The user and item id columns, always one-hot encoded (ids unseen in
        ``fit`` map to a zero embedding). None when ``X`` has no such column.
    categorical_features : "auto" or list, default="auto"
        Other columns to one-hot encode (besides the pandas ``category``,
        ``object`` and string columns, always one-hot encoded); see
        :class:`FMRegressor`. Everything else is numeric.
    scale_numeric : bool, default=True
        Centre and scale numeric columns to unit variance inside the design.
    passthrough : bool, default=True
        Put the input columns before the embedding. Under
        ``set_output(transform="pandas")`` they keep their dtypes and the
        index of ``X``; the default numpy output is float64, or an object
        array when a passed-through column is not numeric.
    features : tuple of {"fields", "scores"}, default=("fields", "scores")
        Which blocks ``transform`` outputs, in this order: every field's summed
        latent vector (``fm_<field>_<k>``), every task's score
        (``fm_score_<task>``). ``("scores",)`` gives a compact stacking
        feature for a downstream model.
    cv : int, splitter or None, default=5
        Folds of the cross-fitted ``fit_transform``; None, 0 or 1 turn it off.
    crossfit : {"warm", "cold"}, default="warm"
        How the fold models of ``fit_transform`` are fitted with
        ``solver="mcmc"``. ``"warm"``: each fold's chain starts from the last
        sample of the model fitted on all rows and runs ``max(10, n_iter //
        4)`` sweeps, at most ``n_iter`` (the first fifth, at least 3, is
        burn-in), on the fold's rows: about 2.5x less work for 5 folds at
        ``n_iter=100``, none saved below ``n_iter=40``. Every block is redrawn from
        its conditional on the fold's rows alone, so the held-out rows'
        information does not persist in the draws (the train-OOF vs test
        gap is measured in ``benchmarks/bench_real.py``). ``"cold"``: every fold is an
        independent ``n_iter``-sweep fit. ``solver="als"`` folds are always
        cold.
    warm_start : bool, default=False
        Start from the previous solution when the design has the same shape.
    random_state : int, RandomState instance or None, default=None
        Seed of the factors' initialisation, of the Gibbs sampler and of the
        default folds.
    verbose : int, default=0
        Print progress after every sweep (the noise precisions) or epoch
        (the objective) when positive.

    Attributes
    ----------
    task_names_ : list of str
        The tasks fitted.
    task_kinds_ : list of str
        Their kinds.
    intercept_ : ndarray of shape (n_tasks,)
    coef_ : ndarray of shape (n_tasks, n_design_features)
    factors_ : ndarray of shape (n_design_features, n_components)
        The shared factors.
    interaction_scale_ : ndarray of shape (n_tasks,)
        Per-task scale :math:`s_t` of the interaction term.
    field_names_, field_offsets_, categories_, numeric_mean_, numeric_scale_,
    numeric_range_
        The design encoding; see :class:`FMRegressor`.
    n_iter_ : int
    objective_ : ndarray of shape (n_iter_ + 1,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    FMRegressor, FMClassifier : Single-task FMs as predictors.

    Examples
    --------
    >>> from mtlclassic.datasets import make_multitask_recsys
    >>> from mtlclassic.embedding import FMEmbedder
    >>> X, Y = make_multitask_recsys(n_users=40, n_items=30, n_events=400,
    ...                              n_side_features=0, random_state=0)
    >>> emb = FMEmbedder(n_components=2, n_iter=10, cv=2, random_state=0)
    >>> Z = emb.fit_transform(X, Y)
    >>> Z.shape
    (400, 18)
    >>> emb.get_feature_names_out()[5:9].tolist()
    ['fm_user_id_0', 'fm_user_id_1', 'fm_item_id_0', 'fm_item_id_1']
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "target": [str, Interval(numbers.Integral, 0, None, closed="left")],
        "tasks": [None, list, dict, str],
        "user_col": [str, numbers.Integral, None],
        "item_col": [str, numbers.Integral, None],
        "passthrough": ["boolean"],
        "features": [list, tuple],
        "cv": ["cv_object", None],
        "crossfit": [StrOptions({"warm", "cold"})],
    }

    def __init__(
        self,
        target="all",
        n_components=8,
        *,
        solver="mcmc",
        n_iter=100,
        n_kept_samples=None,
        alpha_w=1e-3,
        alpha_v=1e-3,
        init_stdev=0.1,
        tol=1e-5,
        tasks=None,
        user_col="user_id",
        item_col="item_id",
        categorical_features="auto",
        scale_numeric=True,
        passthrough=True,
        features=("fields", "scores"),
        cv=5,
        crossfit="warm",
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.target = target
        self.features = features
        self.n_components = n_components
        self.solver = solver
        self.n_kept_samples = n_kept_samples
        self.alpha_w = alpha_w
        self.alpha_v = alpha_v
        self.n_iter = n_iter
        self.init_stdev = init_stdev
        self.tol = tol
        self.tasks = tasks
        self.user_col = user_col
        self.item_col = item_col
        self.categorical_features = categorical_features
        self.scale_numeric = scale_numeric
        self.passthrough = passthrough
        self.cv = cv
        self.crossfit = crossfit
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    # a ranking task's grades are fitted as a regression (a pointwise
    # relevance score: a feature for a LambdaRank head)
    _allowed_kinds = ("regression", "binary", "ranking")

    def _extra_categorical(self):
        return (self.user_col, self.item_col)

    def _select_target(self, names):
        if isinstance(self.target, str) and self.target == "all":
            return list(range(len(names)))
        if isinstance(self.target, str):
            if self.target not in names:
                raise ValueError(
                    f"target={self.target!r} is not a task of Y; tasks are {names} "
                    "(or use target='all')."
                )
            return [names.index(self.target)]
        if not 0 <= self.target < len(names):
            raise ValueError(
                f"target={self.target} is out of range for Y with {len(names)} "
                f"tasks {names}."
            )
        return [int(self.target)]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the (multi-task) factorization machine on all rows.

        Parameters
        ----------
        X : DataFrame, array-like or sparse matrix of shape (n_samples, n_features)
        y : DataFrame or array-like of shape (n_samples, n_tasks) or (n_samples,)
            Labels, NaN where a row has no label for a task.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks)

        Returns
        -------
        self : FMEmbedder
        """
        self._resolve_features()
        if self._each():
            return self._fit_each(X, y, sample_weight)
        return self._fit_tasks(X, y, sample_weight, self._select_target)

    def _each(self):
        return isinstance(self.target, str) and self.target == "each"

    def _crossfit_prepare(self):
        """Warm-start every fold's chain from this (full) fit's last sample."""
        if self.solver != "mcmc" or self.crossfit != "warm":
            return None
        if self._each():
            end = [sub._chain_end() for sub in self.task_embedders_]
        else:
            end = self._chain_end()

        def prepare(fold):
            fold._chain_start = end

        return prepare

    def _blocks(self, X):
        """Return the validated X, the per-field latent blocks and the scores."""
        Xv, design = self._encode(X)
        n, k = design.n_samples, self.n_components
        features = self._resolve_features()
        fields = []
        for F in range(design.n_fields if "fields" in features else 0):
            block = np.zeros((n, k))
            lo = design.offsets[F]
            rows, cols, vals = design.rows[F], design.cols[F], design.vals[F]
            block[rows] = vals[:, None] * self.factors_[lo + cols]
            fields.append(block)
        for F, rows in self._unseen_rows(design) if fields else []:
            lo, hi = design.offsets[F], design.offsets[F + 1]
            fields[F][rows] = self.factors_[lo:hi].mean(axis=0)  # the group mean
        scores = self._link_scores(design) if "scores" in features else None
        return Xv, fields, scores

    def _fit_each(self, X, y, sample_weight):
        """One single-task FM per task (``target="each"``)."""
        _require_y(self, y)
        _, _, kinds, names = check_targets(
            y, self.tasks, n_samples=_n_rows(X), allow_kinds=self._allowed_kinds
        )
        self.task_embedders_ = []
        starts = getattr(self, "_chain_start", None)
        for t, name in enumerate(names):
            sub = clone(self).set_params(target=name, cv=None, passthrough=False)
            sub.set_output(transform="default")
            if starts is not None:
                sub._chain_start = starts[t]
            self.task_embedders_.append(sub.fit(X, y, sample_weight=sample_weight))
        first = self.task_embedders_[0]
        for attr in ("n_features_in_", "feature_names_in_", "frame_input_",
                     "field_names_", "passthrough_categories_"):  # fmt: skip
            if hasattr(first, attr):
                setattr(self, attr, getattr(first, attr))
        self.task_names_ = names
        self.task_kinds_ = kinds
        return self

    _passthrough_first = True  # the input columns, then the embedding

    def _embed(self, X):
        """Validate ``X``; return it and its per-field latent vectors and scores.

        A category unseen in fit gets its field's mean factor (the group mean).
        """
        self._resolve_features()
        if not self._each():
            Xv, fields, scores = self._blocks(X)
            return Xv, np.hstack(fields + ([] if scores is None else [scores]))
        parts = [sub._blocks(X) for sub in self.task_embedders_]
        blocks = [b for _, fields, _ in parts for b in fields]
        blocks += [scores for _, _, scores in parts if scores is not None]
        return parts[0][0], np.hstack(blocks)

    def _embedding_names(self):
        """``fm_<field>_<k>`` per field and factor, ``fm_score_<task>`` per task."""
        features = self._resolve_features()
        names = []
        if "fields" in features:
            prefixes = [f"{t}_" for t in self.task_names_] if self._each() else [""]
            for prefix in prefixes:
                for field in self.field_names_:
                    names += [
                        f"fm_{prefix}{field}_{f}" for f in range(self.n_components)
                    ]
        if "scores" in features:
            names += [f"fm_score_{t}" for t in self.task_names_]
        return names

    def _numpy_passthrough(self, X, Xv, keep):
        """Return the input values as they are (object dtype with categories)."""
        if isinstance(Xv, pd.DataFrame):
            original = Xv.to_numpy()
            if original.dtype != object:
                original = original.astype(np.float64)
        else:
            original = Xv.toarray() if sp.issparse(Xv) else np.asarray(Xv)
        return original[:, keep]

    def known_ids(self):
        """Return the ``user_col`` and ``item_col`` categories seen in fit."""
        check_is_fitted(self)
        fm = self.task_embedders_[0] if self._each() else self
        fields = list(getattr(fm, "field_names_", []))
        found = {}
        for col in (self.user_col, self.item_col):
            if col in fields and fm.categories_[fields.index(col)] is not None:
                found[col] = np.asarray(fm.categories_[fields.index(col)], dtype=object)
        return found

    def _resolve_features(self):
        features = tuple(self.features)
        unknown = sorted(set(features) - {"fields", "scores"})
        if unknown or not features:
            raise ValueError(
                "features must be a non-empty subset of ('fields', 'scores'); got "
                f"{self.features!r}."
            )
        return features

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class MultiTaskFM(MultiTaskScoreMixin, RegressorMixin, _SingleTaskFM):
    r"""Multi-task factorization machine: shared factors, per-task weights.

    One FM per task whose factors :math:`V` are shared (a shared-bottom model
    without a neural network):

    .. math::

        \hat y_t(z) = b_t + \sum_j w_{tj} z_j
            + s_t \sum_{j<l} \langle v_j, v_l\rangle z_j z_l ,

    each task with its own intercept :math:`b_t`, linear weights :math:`w_t`
    and interaction scale :math:`s_t`, fitted on its labelled rows only (NaN
    = no label). Regression tasks have a Gaussian likelihood with their own
    noise precision :math:`\tau_t`, binary tasks the probit link (the
    logistic loss under ``solver="als"``), in the same model.

    With ``solver="mcmc"`` (default) it is the Bayesian FM of Freudenthaler et
    al. (2011) fitted by Gibbs sampling: Gaussian priors with a mean and a
    precision per field group (per task for :math:`w`, per factor for
    :math:`V`), Normal–Gamma hyperpriors and Gamma priors on every task's
    noise precision, all sampled, so there is no penalty to tune. The sampled
    :math:`\tau_t` weights each task's data by how well the model fits it:
    uncertainty weighting from the model itself, so a noisy task cannot
    drown a clean one through the shared factors. ``predict`` is the
    posterior mean :math:`E[y_t \mid x]` over the kept samples.

    Tasks labelled on the same rows get a **noise correlation** (estimated
    every sweep from the residuals of two regression tasks, or by the
    biserial maximum-likelihood estimate for a regression and a binary task;
    0 for two binary tasks, and when the binary labels on the shared rows
    are one class, as in a funnel): each row's likelihood uses the inverse
    covariance of its labelled tasks, so a task derived from another
    (``liked`` = rating >= 4) is not counted as new evidence for the shared
    factors.

    Sample weights are relative under ``"mcmc"``: each task's are rescaled
    to mean 1 over its labelled rows, so survey weights in the thousands act
    as ratios, not as thousands of copies (under ``"als"`` the penalty is per
    unit of weight, also scale-free). The kept samples are stored, so the
    fitted model holds ``n_kept_samples * n_design_features * (n_components +
    n_tasks)`` floats: lower ``n_kept_samples`` for very large catalogues.

    Parameters
    ----------
    n_components : int, default=8
        Dimension of the shared factors.
    solver : {"mcmc", "als"}, default="mcmc"
        ``"mcmc"``: Gibbs sampling of the Bayesian FM (``alpha_w``,
        ``alpha_v`` and ``tol`` unused). ``"als"``: penalised point estimate
        by field-block coordinate descent (see :class:`FMRegressor`).
    n_iter : int, default=100
        Gibbs sweeps (``"mcmc"``) or maximum epochs (``"als"``).
    n_kept_samples : int or None, default=None
        Samples averaged by the posterior mean (the last ones; the first
        ``n_iter - n_kept_samples`` sweeps are burn-in). None keeps half.
        More than ``n_iter`` raises ``ValueError``.
    alpha_w, alpha_v : float, default=1e-3
        ``"als"`` only: L2 strengths on the weights (and on the scales'
        deviation from 1) and on the factors, per unit of sample weight.
    init_stdev : float, default=0.1
        Standard deviation of the normal initialisation of the factors.
    tol : float, default=1e-5
        ``"als"`` only: relative objective decrease to stop at.
    tasks : None, list or dict, default=None
        Task kinds, ``"regression"`` or ``"binary"``; None infers them.
    categorical_features : "auto" or list, default="auto"
        Columns to one-hot encode besides the pandas ``category``,
        ``object`` and string columns (list integer id columns here, e.g.
        ``["user_id", "item_id"]``); see :class:`FMRegressor`.
    scale_numeric : bool, default=True
        Centre and scale numeric columns to unit variance.
    warm_start : bool, default=False
        Start from the previous factors when the design has the same shape.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation and of the sampler; a fixed seed gives the
        same model bit for bit.
    verbose : int, default=0
        Print progress after every sweep/epoch when positive.

    Attributes
    ----------
    task_names_, task_kinds_ : list of str
        The tasks and their kinds.
    intercept_ : ndarray of shape (n_tasks,)
    coef_ : ndarray of shape (n_tasks, n_design_features)
    factors_ : ndarray of shape (n_design_features, n_components)
    interaction_scale_ : ndarray of shape (n_tasks,)
        Posterior means (``"mcmc"``) or the point estimate (``"als"``).
    intercept_samples_, coef_samples_, factor_samples_, scale_samples_ : ndarray
        ``"mcmc"`` only: the kept samples, of shapes (S, n_tasks),
        (S, n_tasks, n_design_features), (S, n_design_features, n_components)
        and (S, n_tasks).
    noise_precision_ : ndarray of shape (n_tasks,)
        ``"mcmc"`` only: posterior mean of each task's noise precision
        :math:`\tau_t` (1 for binary tasks, fixed by the probit link).
    noise_correlation_ : ndarray of shape (n_tasks, n_tasks)
        ``"mcmc"`` only: mean over the kept samples of the tasks' noise
        correlation (the identity when no two tasks share labelled rows).
    field_names_, field_offsets_, categories_, numeric_mean_, numeric_scale_,
    numeric_range_
        The design encoding; see :class:`FMRegressor`.
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    FMRegressor, FMClassifier : The single-task models.
    FMEmbedder : The same model as a cross-fitted shared representation.

    References
    ----------
    C. Freudenthaler, L. Schmidt-Thieme, S. Rendle. "Bayesian factorization
    machines", NIPS Workshop on Sparse Representation and Low-rank
    Approximation, 2011. S. Rendle. "Factorization machines with libFM",
    ACM TIST 3(3), 2012. J. H. Albert, S. Chib. "Bayesian analysis of binary
    and polychotomous response data", JASA 88, 1993.

    Examples
    --------
    >>> from mtlclassic.datasets import make_multitask_recsys
    >>> from mtlclassic.embedding import MultiTaskFM
    >>> X, Y = make_multitask_recsys(n_users=50, n_items=40, n_events=2000,
    ...                              n_side_features=0, random_state=0)
    >>> model = MultiTaskFM(4, n_iter=40, categorical_features=["user_id", "item_id"],
    ...                     random_state=0).fit(X, Y)
    >>> model.predict(X.head(2)).shape
    (2, 3)
    >>> model.task_kinds_
    ['regression', 'binary', 'binary']
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "tasks": [None, list, dict, str],
    }

    def __init__(
        self,
        n_components=8,
        *,
        solver="mcmc",
        n_iter=100,
        n_kept_samples=None,
        alpha_w=1e-3,
        alpha_v=1e-3,
        init_stdev=0.1,
        tol=1e-5,
        tasks=None,
        categorical_features="auto",
        scale_numeric=True,
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            n_components,
            solver=solver,
            n_iter=n_iter,
            n_kept_samples=n_kept_samples,
            alpha_w=alpha_w,
            alpha_v=alpha_v,
            init_stdev=init_stdev,
            tol=tol,
            categorical_features=categorical_features,
            scale_numeric=scale_numeric,
            warm_start=warm_start,
            random_state=random_state,
            verbose=verbose,
        )
        self.tasks = tasks

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the multi-task FM.

        Parameters
        ----------
        X : DataFrame, array-like or sparse matrix of shape (n_samples, n_features)
        y : DataFrame or array-like of shape (n_samples, n_tasks) or (n_samples,)
            Labels, NaN where a row has no label for a task.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks)

        Returns
        -------
        self : MultiTaskFM

        Raises
        ------
        ValueError
            A task with fewer than 2 labelled rows, a binary task with one
            class, ``n_kept_samples > n_iter``, a ranking task.
        """
        _require_y(self, y)
        self.targets_ndim_ = targets_ndim(
            y if isinstance(y, pd.DataFrame | pd.Series) else np.asarray(y)
        )
        return self._fit_tasks(X, y, sample_weight)

    def predict(self, X):
        r"""Posterior mean :math:`E[y_t \mid x]` of every task.

        Parameters
        ----------
        X : DataFrame, array-like or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        Y_pred : ndarray of shape (n_samples, n_tasks)
            Expected labels, probabilities for binary tasks; 1-D when fitted
            on a 1-D ``y``.
        """
        _, design = self._encode(X)
        out = self._mean_prediction(design)
        return out[:, 0] if self.targets_ndim_ == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.required = True
        return tags
