"""FMEmbedder: the (multi-task) factorization machine as a cross-fitted embedder."""

import numbers
import re
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib.parallel import get_active_backend
from sklearn.base import (
    clone,
)

from ..._compat import (
    Interval,
    StrOptions,
    _fit_context,
    _num_samples,
    check_is_fitted,
    effective_n_jobs,
    limit_threads,
)
from ..._crossfit import DrawnFolds, resolve_cv, with_config
from ..._targets import check_targets
from ..._worker import BrokenProcessPool, core_borrower, worker
from .._base import BaseEmbedder, unique_output_names
from .._crossfit import cross_fit_transform
from .base import (
    _COMMON_CONSTRAINTS,
    ChainCancelled,
    ChainFork,
    _BaseFM,
    _check_sweeps,
    _n_rows,
    _require_y,
)
from .design import _column
from .update import update_estimator

WORKER_MAX_ROWS = 2_000_000  # beyond, the worker's copy of X costs more than it saves


def _cross_fit_folds(template, X, y, folds, random_state, state, verbose, n_jobs,
                     fit_params, cancelled=None):  # fmt: skip
    """Return the out-of-fold output of ``FMEmbedder.fit_transform``: its folds.

    Warm folds (``state`` given) start from the chain on all rows; every fold
    only transforms its held-out rows, so it skips the state ``update()``
    reads (the Laplace precisions: 0.24 s per fold at 300k rows). Setting the
    event ``cancelled`` (in this process) stops a fold's chain at its next
    sweep (``ChainCancelled``).
    """

    def prepare(fold):
        fold._out_of_fold = True
        if state is not None:
            fold._chain_start = state
        if cancelled is not None:  # its chain checks the event at every sweep
            fold._fork = ChainFork(cancelled=cancelled)

    return cross_fit_transform(
        template, X, y, cv=folds, random_state=random_state, prepare=prepare,
        verbose=verbose, n_jobs=n_jobs, **fit_params,
    )  # fmt: skip


def _cross_fit_folds_in(helper, job, cancelled=None):
    """:func:`_cross_fit_folds` in the worker ``helper``, or ``NotImplemented``.

    ``NotImplemented`` when the worker does not take the job (busy, not
    picklable) or dies running it (with a ``RuntimeWarning``, unless the
    event ``cancelled`` is set: the fit stopped it): the caller then runs the
    folds in threads.
    """
    try:
        return helper.run(_cross_fit_folds, *job)
    except BrokenProcessPool as exc:  # e.g. killed when out of memory
        if cancelled is not None and cancelled.is_set():
            return NotImplemented
        warnings.warn(
            f"The worker process running FMEmbedder's cross-fitting folds died "
            f"({exc}); they run in threads instead.",
            RuntimeWarning,
            stacklevel=4,
        )
        return NotImplemented


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
        ``solver="mcmc"``. ``"warm"``: each fold's chain starts from the
        state of the chain on all rows at the end of its burn-in (at least
        half its sweeps; folds started there or from its last sample scored
        the same on MovieLens-1M and Book-Crossing), which lets the folds run
        beside the rest of that chain (``n_jobs``). A fold's chain runs
        ``max(10, n_iter // 4)`` sweeps, at most ``n_iter`` (the first
        fifth, at least 3, is burn-in), on the fold's rows: with 5 folds
        about 2.7x less work in
        all at ``n_iter=100``, 1.7x at ``n_iter=20``, none at ``n_iter <=
        10``. Every block is redrawn from its conditional on the fold's rows
        alone, so the held-out rows' information does not persist in the
        draws (the train-OOF vs test gap is measured in
        ``benchmarks/bench_real.py``). ``"cold"``: every fold is an
        independent ``n_iter``-sweep fit. ``solver="als"`` folds are always
        cold.
    exclude : None, str or list of str, default=None
        Columns of ``X`` (a DataFrame) the FM does not read: a list of names,
        or a regular expression matched against them (e.g. ``"^session_"``);
        names ``X`` lacks are ignored, the id columns cannot be excluded.
        With ``passthrough`` they follow the FM's columns unchanged
        (``excluded_columns_``). The
        default pipeline hides :class:`~mtlclassic.SessionEmbedder`'s
        columns from the FM this way: features seen on few training rows
        give an FM weights it can extrapolate wildly, while the heads' trees
        take them safely.
    warm_start : bool, default=False
        Start from the previous solution when the design has the same shape.
    n_jobs : int or None, default=None
        Workers of the cross-fitted ``fit_transform`` (None: 1; -1: one per
        core as ``os.cpu_count()`` counts them). The chain on all rows runs
        in the calling thread and the folds, ``n_jobs - 1`` at a time, beside
        it: warm folds from the end of its burn-in on, cold ones from the
        start (in another thread glibc's per-thread malloc arena made the
        chain's sweeps 20% slower at 1M MovieLens-1M rows).
        Warm folds run in a worker process (joblib's loky; started by the
        first such fit, reused, stopped after 5 idle minutes) if it is ready
        and idle at the end of the burn-in (work that gives way to them, such
        as ``MultiTaskPipeline``'s ALS models fitted there during the
        burn-in, ends first: one ALS model at most), ``X`` has at most
        2,000,000 rows
        and the job (``X``, ``y``, the folds) pickles to at most 512 MiB (the
        worker holds a copy of it): the sampler makes many short
        numpy calls, and two threads hand the interpreter lock back and forth
        at each of them (two independent chains on 100k MovieLens-1M rows ran
        1.1x faster in two threads than one after the other, and 1.7x in two
        processes). They run in threads instead for a subclass (whose module
        may be reloaded after the worker started), under
        ``joblib.parallel_config(prefer="threads")`` or
        ``backend="threading"``, when the job does not pickle, and, with a
        ``RuntimeWarning``, if the worker dies. The worker's printed lines
        (at the end) and warnings are printed and raised in the calling
        process; interrupting the fit while they run kills it. Once the
        chain ends with the folds in the worker, the calling thread lends
        its core to other work of the fit (``MultiTaskPipeline`` fits the
        rest of its ALS step there). Where the
        cores are already shared out no worker starts and the folds run in
        threads: in joblib's worker processes (``GridSearchCV(n_jobs=k)``,
        ``cross_validate(n_jobs=k)``: joblib runs their tasks under its
        threading backend; GridSearchCV's refit runs in the calling
        process), in daemonic processes (``multiprocessing.Pool``) and in
        Dask workers. There two threads gain little (see above): set
        ``n_jobs=1``. The chain on all rows is one Markov chain, so it
        bounds the speed-up: the pipeline's FM (100 sweeps, 3 folds of 25
        sweeps on two thirds of the rows) does 150 all-row sweeps' work, at
        least 100 of them in a row, a bound of 1.5x; ``FMEmbedder``'s
        default 5 folds do 200, at least 150 in a row
        with ``n_jobs=2`` (1.33x). Measured on MovieLens-1M, ``n_jobs=2``
        fits the pipeline's FM 1.15-1.36x faster (``python
        benchmarks/bench_scale.py --n-jobs 1 2``): the folds also build
        their designs and score their held-out rows. Each running
        fold holds its design beside the full one. With ``target="each"``
        the tasks' chains run one after the other and the folds start at the
        end of the last one's burn-in. The output does not depend on
        ``n_jobs``, also with a ``RandomState`` instance as
        ``random_state`` (the folds are drawn before any chain starts).
    random_state : int, RandomState instance or None, default=None
        Seed of the factors' initialisation, of the Gibbs sampler and of the
        default folds.
    verbose : int, default=0
        1: a line every tenth of the Gibbs sweeps (with the elapsed time) and
        per cross-fitting fold; 2: every sweep with the noise precisions. The
        ALS solver prints every epoch's objective when positive.

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
        "cv": ["cv_object", None, Interval(numbers.Integral, 0, 1, closed="both")],
        "crossfit": [StrOptions({"warm", "cold"})],
        "exclude": [None, str, list, tuple],
        "n_jobs": [None, numbers.Integral],
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
        exclude=None,
        warm_start=False,
        n_jobs=None,
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
        self.exclude = exclude
        self.crossfit = crossfit
        self.warm_start = warm_start
        self.n_jobs = n_jobs
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
            Per task (2-D): a DataFrame with named columns is matched to the
            tasks by name.

        Returns
        -------
        self : FMEmbedder
        """
        self._resolve_features()
        X, names = self._excluded(X)
        if isinstance(X, pd.DataFrame) and self.passthrough and y is not None:
            self._refuse_clashing_names(X, y, names)  # before the chain
        previous = self.__dict__.get("task_embedders_")
        if self._each():
            self._forget_fit()  # a fit with target="all" leaves its own state
            self._fit_each(X, y, sample_weight, previous)
        else:
            self.__dict__.pop("task_embedders_", None)  # a target="each" fit's
            self._fit_tasks(X, y, sample_weight, self._select_target)
        self.excluded_columns_ = names
        return self

    def _refuse_clashing_names(self, X, y, excluded):
        """``ValueError`` now if an input column has the name of an output column.

        The names :meth:`get_feature_names_out` will give, from the columns
        of ``X`` and the tasks of ``y``, so a clash stops the fit before its
        chain rather than at the first ``transform``.
        """
        tasks = check_targets(y, self.tasks, n_samples=X.shape[0],
                              allow_kinds=self._allowed_kinds)[3]  # fmt: skip
        if not self._each():
            tasks = [tasks[t] for t in self._select_target(tasks)]
        planned = self._embedding_names(tasks, [str(c) for c in X.columns])
        unique_output_names(self, [*planned, *map(str, X.columns), *excluded])

    def _excluded(self, X, fitted=False):
        """Return ``X`` without the ``exclude`` columns, and their names."""
        if self.exclude is None or (
            fitted and not getattr(self, "excluded_columns_", None)
        ):
            return X, []
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"exclude={self.exclude!r} names columns: X must be a DataFrame; "
                f"got {type(X).__name__}."
            )
        if fitted:  # transform: exactly the columns excluded in fit
            names = list(getattr(self, "excluded_columns_", []))
            missing = [c for c in names if c not in X.columns]
            if missing:
                raise ValueError(
                    f"X has no column(s) {missing}, excluded from the FM in fit."
                )
        elif isinstance(self.exclude, str):
            names = [c for c in X.columns if re.search(self.exclude, str(c))]
        else:  # names X lacks are ignored (the folds see X without them)
            names = [c for c in self.exclude if c in X.columns]
        ids = [c for c in names if c in (self.user_col, self.item_col)]
        if ids:
            raise ValueError(
                f"exclude={self.exclude!r} matches the id column(s) {ids}, which the "
                "FM needs (user_col, item_col)."
            )
        return X.drop(columns=names), names

    def _with_excluded(self, Z, X, names):
        """Append the excluded columns of ``X`` to the output ``Z`` (passthrough)."""
        if not names or not self.passthrough:
            return Z
        if isinstance(Z, pd.DataFrame):
            unique_output_names(self, [*Z.columns, *names])
            return pd.concat([Z, X[names].set_axis(Z.index, axis=0)], axis=1)
        rest = X[names].to_numpy()
        return np.hstack([Z, rest.astype(np.result_type(Z.dtype, rest.dtype))])

    def transform(self, X):
        """Embed each row (:meth:`BaseEmbedder.transform`), excluded columns last."""
        check_is_fitted(self)
        X_fm, names = self._excluded(X, fitted=True)
        # not super().transform: its output wrapper would name the extra columns
        return self._with_excluded(self._output(X_fm, *self._embed(X_fm)), X, names)

    def fit_transform(self, X, y=None, **fit_params):
        """Fit on all rows; return the cross-fitted embedding, excluded columns last."""
        X_fm, names = self._excluded(X)
        if resolve_cv(self.cv, self.random_state) is None:
            Z = super().fit_transform(X_fm, y, **fit_params)  # in sample
        else:
            Z = self._fit_and_cross_fit(X_fm, y, fit_params)
        self.excluded_columns_ = names
        return self._with_excluded(Z, X, names)

    def _fit_and_cross_fit(self, X, y, fit_params):
        """Fit on all rows and return the out-of-fold embedding.

        Warm folds (``solver="mcmc"``, ``crossfit="warm"``) start from the
        state the chain on all rows records at the end of its burn-in
        (:class:`ChainFork`); cold folds from scratch. With ``n_jobs > 1``
        the folds, ``n_jobs - 1`` at a time, run beside the fit on all rows
        (warm ones once the state is recorded; :meth:`_fit_beside_folds`).
        """
        if not hasattr(X, "iloc") and not hasattr(X, "shape"):
            X = np.asarray(X)  # lists and other array-likes: rows for the folds
        self._validate_params()  # before n_jobs is read
        # the folds and the folds' seeds are drawn before any chain starts
        folds = DrawnFolds(self.cv, self.random_state, X, y)
        template = clone(self)
        warm = self.solver == "mcmc" and self.crossfit == "warm"
        jobs = effective_n_jobs(self.n_jobs)
        fork = self._fork = ChainFork()
        # warm folds run in a worker process if it is ready at the fork (the
        # GIL would hand every numpy call between the chain's thread and theirs)
        helper = worker() if warm and jobs > 1 and self._folds_may_leave(X) else None
        if helper is not None:
            helper.warm(__name__)

        def job(n_folds_at_once):
            state = fork.state if warm else None
            return (template, X, y, folds, self.random_state, state, self.verbose,
                    n_folds_at_once, fit_params)  # fmt: skip

        # one thread-pool limit around every chain: nested limits of threads
        # that exit in any order would leave the process's limit changed
        with limit_threads(1):
            try:
                if jobs == 1:
                    self.fit(X, y, **fit_params)
                    return _cross_fit_folds(*job(1))
                return self._fit_beside_folds(X, y, fit_params, job, warm, jobs, helper)
            except BaseException:
                self._forget_fit()  # no half-fitted model, nor a stale one
                raise
            finally:
                del self._fork

    def _fit_beside_folds(self, X, y, fit_params, job, warm, jobs, helper):
        """Run the chain on all rows here and the folds beside it (``n_jobs > 1``).

        The chain runs in the calling thread: in another one, glibc gives its
        allocations an arena of their own, which returns the chain's large
        temporaries to the system and faults them in again (the chain's
        sweeps took 20% longer there at 1M MovieLens-1M events, 7% at 300k).
        A thread beside it waits for the fork (warm folds), then hands the
        folds to the worker process and waits for them, or fits them itself,
        ``n_jobs - 1`` at a time. A fold's error stops the chain at its next
        sweep, and the chain's error stops folds fitted here at theirs; on an
        interrupt the worker is stopped. Once the chain ends with the folds in
        the worker, this thread's core may take other work of the fit
        (:func:`~mtlclassic._worker.lend_cores`).
        """
        fork = self._fork
        lend = core_borrower()
        away = threading.Event()  # the folds are in the worker

        def folds_beside():
            if warm:
                fork.ready.wait()
            if fork.cancelled.is_set() or (warm and fork.state is None):
                return None  # the chain failed before its fork
            try:
                Z = NotImplemented
                if helper is not None:
                    # an ALS model fitted ahead there (MultiTaskPipeline) ends first
                    with helper.claimed(fork.cancelled):
                        if helper.ready():
                            away.set()
                            try:
                                if not fork.cancelled.is_set():  # interrupted: not sent
                                    Z = _cross_fit_folds_in(
                                        helper, job(jobs - 1), fork.cancelled
                                    )
                            finally:
                                away.clear()
                if Z is NotImplemented and not fork.cancelled.is_set():
                    Z = _cross_fit_folds(*job(jobs - 1), cancelled=fork.cancelled)
                return None if Z is NotImplemented else Z
            except BaseException:
                fork.cancelled.set()  # the chain stops at its next sweep
                raise

        pool = ThreadPoolExecutor(1, thread_name_prefix="mtlclassic-fm-folds")
        side = pool.submit(with_config(folds_beside))
        try:
            try:
                self.fit(X, y, **fit_params)
            finally:
                fork.ready.set()  # a chain that stopped before its fork: no folds
            if lend is not None and away.is_set():
                lend()
            Z = side.result()
            if Z is None:  # a chain that succeeded records its fork
                raise RuntimeError("The cross-fitting folds did not run.")
        except BaseException as exc:
            fork.cancelled.set()
            if isinstance(exc, KeyboardInterrupt) and away.is_set():
                helper.stop()  # the folds in the worker: not waited for
            try:
                side.result()
            except ChainCancelled:
                pass
            except BaseException as folds_error:  # noqa: BLE001 - the first error
                if isinstance(exc, ChainCancelled):  # stopped by the folds' error
                    raise folds_error from None
            raise
        finally:
            pool.shutdown(wait=True)
        return Z

    def _folds_may_leave(self, X):
        """Whether warm folds may run in the worker process (see ``n_jobs``).

        Not for a subclass (its module may be edited and reloaded: the worker
        would run its old code), nor under ``joblib.parallel_config(prefer=
        "threads")`` or ``backend="threading"``, nor above ``WORKER_MAX_ROWS``.
        """
        backend, _ = get_active_backend()
        return (
            type(self) is FMEmbedder
            and not getattr(backend, "uses_threads", False)
            and _num_samples(X) <= WORKER_MAX_ROWS
        )

    def _forget_fit(self):
        """Drop every fitted attribute (after a failed ``fit_transform``)."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.endswith("__")]:
            delattr(self, name)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns (the excluded ones last)."""
        names = super().get_feature_names_out(input_features)
        extra = list(getattr(self, "excluded_columns_", [])) if self.passthrough else []
        return unique_output_names(self, list(names) + extra)

    def _each(self):
        return isinstance(self.target, str) and self.target == "each"

    def _blocks(self, X):
        """Return the validated X, the per-field latent blocks and the scores."""
        Xv, design = self._encode(X)
        return (Xv, *self._blocks_of(design))

    def _blocks_of(self, design):
        """Return the per-field latent blocks and the scores of a design."""
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
        return fields, scores

    def _fit_each(self, X, y, sample_weight, previous=None):
        """One single-task FM per task (``target="each"``).

        With ``warm_start``, each task's FM starts from ``previous`` (the
        last fit's task FMs) when it fitted the same tasks.
        """
        _require_y(self, y)
        _, _, kinds, names = check_targets(
            y, self.tasks, n_samples=_n_rows(X), allow_kinds=self._allowed_kinds
        )
        self.task_embedders_ = []
        starts = getattr(self, "_chain_start", None)
        fork = getattr(self, "_fork", None)
        forks = []  # every task's, the folds' start once the last is recorded

        def every_task_recorded():
            fork.state = [f.state for f in forks]
            fork.ready.set()

        warm = (
            self.warm_start
            and previous is not None
            and [sub.target for sub in previous] == list(names)
        )
        for t, name in enumerate(names):
            sub = clone(self).set_params(target=name, cv=None, passthrough=False)
            sub.set_output(transform="default")
            if warm:  # the last fit's state: its factors and weights to start from
                for attr, value in vars(previous[t]).items():
                    if attr.endswith("_") and not attr.startswith("__"):
                        setattr(sub, attr, value)
            if starts is not None:
                sub._chain_start = starts[t]
            if getattr(self, "_out_of_fold", False):
                sub._out_of_fold = True
            if fork is not None:
                last = t == len(names) - 1
                sub._fork = ChainFork(
                    cancelled=fork.cancelled,
                    on_ready=every_task_recorded if last else None,
                )
                forks.append(sub._fork)
            self.task_embedders_.append(sub.fit(X, y, sample_weight=sample_weight))
        for sub in self.task_embedders_:
            sub.__dict__.pop("_fork", None)
        first = self.task_embedders_[0]
        for attr in ("n_features_in_", "feature_names_in_", "frame_input_",
                     "field_names_", "passthrough_categories_"):  # fmt: skip
            if hasattr(first, attr):
                setattr(self, attr, getattr(first, attr))
        self.task_names_ = names
        self.task_kinds_ = kinds
        return self

    _passthrough_first = True  # the input columns, then the embedding
    _update_needs_labels = True  # Recommender/update_model pass it the labels

    def update(self, X_new, y_new, sample_weight=None, *, n_sweeps=1):
        """Learn new labelled rows without a refit; see ``MultiTaskFM.update``.

        New users and items get factors (so ``transform``, ``known_ids`` and
        ``similar_items`` know them); with ``target="each"`` every task's FM
        is updated, all or none (every task's labels are checked first). With
        ``target`` naming a task (or ``"each"``), ``y_new``'s other task
        columns are ignored, as in fit; with ``"all"`` they are refused.
        """
        check_is_fitted(self)
        if getattr(self, "excluded_columns_", None):
            X_new = self._excluded(X_new, fitted=True)[0]
        if not self._each():
            return super().update(X_new, y_new, sample_weight, n_sweeps=n_sweeps)
        _check_sweeps(n_sweeps)
        # every task's labels checked before any FM changes: all or nothing
        data = [sub._update_data(X_new, y_new, sample_weight)
                for sub in self.task_embedders_]  # fmt: skip
        for sub, part in zip(self.task_embedders_, data):
            if part is not None:
                for name, value in update_estimator(
                    sub, *part, _column, n_sweeps
                ).items():
                    setattr(sub, name, value)
        return self

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

    def _embedding_names(self, tasks=None, fields=None):
        """``fm_<field>_<k>`` per field and factor, ``fm_score_<task>`` per task.

        ``tasks``, ``fields``: None for the fitted ones (``fit`` names them
        ahead, from ``y`` and ``X``).
        """
        features = self._resolve_features()
        tasks = self.task_names_ if tasks is None else tasks
        fields = self.field_names_ if fields is None else fields
        names = []
        if "fields" in features:
            prefixes = [f"{t}_" for t in tasks] if self._each() else [""]
            for prefix in prefixes:
                for field in fields:
                    names += [
                        f"fm_{prefix}{field}_{f}" for f in range(self.n_components)
                    ]
        if "scores" in features:
            names += [f"fm_score_{t}" for t in tasks]
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

    def _id_field(self, col):
        """Return the fitted FM and field position of categorical ``col`` (or None)."""
        fm = self.task_embedders_[0] if self._each() else self
        fields = list(getattr(fm, "field_names_", []))
        if col not in fields or fm.categories_[fields.index(col)] is None:
            return None
        return fm, fields.index(col)

    def item_vectors(self):
        """Return the ``item_col`` categories and their FM factor rows.

        With ``target="each"`` the task FMs' rows are side by side. None when
        ``item_col`` is not a categorical field of X.
        """
        check_is_fitted(self)
        found = self._id_field(self.item_col)
        if found is None:
            return None
        fm, F = found
        if not self._each():
            lo, hi = fm.field_offsets_[F], fm.field_offsets_[F + 1]
            return np.asarray(fm.categories_[F]), self.factors_[lo:hi]
        # one FM per task, each with its own categories: side by side over the
        # union of the items, an item a task's FM lacks at that FM's mean
        ids = self.known_ids()[self.item_col]
        blocks = []
        for sub in self.task_embedders_:
            lo, hi = sub.field_offsets_[F], sub.field_offsets_[F + 1]
            V = sub.factors_[lo:hi]
            rows = pd.Index(sub.categories_[F]).get_indexer(ids)
            blocks.append(np.where((rows >= 0)[:, None], V[rows], V.mean(axis=0)))
        return ids, np.hstack(blocks)

    def known_ids(self):
        """Return the ``user_col`` and ``item_col`` categories seen in fit."""
        check_is_fitted(self)
        found = {}
        fms = self.task_embedders_ if self._each() else [self]
        for col in (self.user_col, self.item_col):
            field = self._id_field(col)
            if field is not None:  # every task's FM (target="each"): the union
                _, F = field
                ids = pd.unique(np.concatenate(
                    [np.asarray(fm.categories_[F], dtype=object) for fm in fms]
                ))  # fmt: skip
                try:
                    ids = np.sort(ids)
                except TypeError:
                    pass
                found[col] = np.asarray(ids, dtype=object)
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
