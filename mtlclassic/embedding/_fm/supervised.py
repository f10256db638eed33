"""FMRegressor, FMClassifier and MultiTaskFM: supervised factorization machines."""

import numpy as np
import pandas as pd
from sklearn.base import (
    ClassifierMixin,
    RegressorMixin,
)
from sklearn.utils.multiclass import check_classification_targets

from ..._compat import (
    _fit_context,
)
from ..._targets import refuse_reordered_rows, targets_ndim
from ...metrics._masked import MultiTaskScoreMixin
from .base import (
    _COMMON_CONSTRAINTS,
    _check_sample_weight_1d,
    _check_y_1d,
    _n_rows,
    _require_y,
    _SingleTaskFM,
)
from .update import class_targets


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
        1: a line every tenth of the Gibbs sweeps, with the elapsed time; 2:
        every sweep with the noise precisions. The ALS solver prints every
        epoch's objective when positive.

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
        refuse_reordered_rows(X, y=y, sample_weight=sample_weight)
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
        1: a line every tenth of the Gibbs sweeps, with the elapsed time; 2:
        every sweep with the noise precisions. The ALS solver prints every
        epoch's objective when positive.

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
        refuse_reordered_rows(X, y=y, sample_weight=sample_weight)
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
        Y = class_targets(encoded, n_classes)
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
        1: a line every tenth of the Gibbs sweeps, with the elapsed time; 2:
        every sweep (the ALS solver: every epoch's objective).

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
