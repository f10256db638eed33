"""Per-task LightGBM heads and the GBDT forms of task sharing."""

import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin

from .._compat import (
    Interval,
    StrOptions,
    _fit_context,
    _num_samples,
    check_is_fitted,
    import_lightgbm,
    validate_data,
)
from .._targets import refuse_reordered_rows, targets_ndim
from ..metrics import multitask_score
from ._lgbm_input import (
    array_matrix,
    check_eval_set,
    check_weights,
    fit_feature_spec,
    fit_features,
    frame_matrix,
    holdout,
)
from ._lgbm_predict import gain_table, offset_column, predict_matrix
from ._lgbm_train import (
    SIDE_BY_SIDE_MAX_ROWS,
    BinnedRows,
    fit_chain,
    fit_data,
    fit_separate,
    fit_shared,
    fit_side_by_side,
    fit_tower,
    shared_fitted,
    task_rows,
    tasks_fitted,
)
from ._lgbm_update import refit_leaves

__all__ = ["MultiTaskLGBM"]

_holdout = holdout  # the name tests and older code import


class MultiTaskLGBM(MultiOutputMixin, RegressorMixin, BaseEstimator):
    r"""Per-task LightGBM heads with GBDT task sharing.

    One gradient-boosted model per task, each trained on its labelled rows only
    (``NaN`` in ``Y`` = no label), with its own objective, its own early
    stopping on its own validation rows and its own parameter overrides; or
    the GBDT forms of parameter sharing between tasks (``strategy``).

    With :math:`R_t` the labelled rows of task :math:`t`, :math:`w_{it}` the
    sample weights and :math:`\ell_t` the task's loss (squared error for
    ``"regression"``, logistic loss for ``"binary"``, LambdaRank for
    ``"ranking"``), the strategies fit

    .. math::

        \text{separate:}\quad & \min_{F_t} \sum_{i \in R_t} w_{it}\,
            \ell_t(F_t(x_i), y_{it}) \quad \text{for each } t, \\
        \text{shared:}\quad & \min_{F} \sum_t \sum_{i \in R_t} w_{it}\,
            \ell_t(b_t + F(x_i, t), y_{it}), \\
        \text{finetune:}\quad & F \text{ as in shared, then }
            \min_{G_t} \sum_{i \in R_t} w_{it}\,
            \ell_t(b_t + F(x_i, t) + G_t(x_i), y_{it}),

    each :math:`F, G_t` a sum of regression trees grown by LightGBM (plus its
    leaf regularization), :math:`b_t` the task's base score (its weighted
    label mean, or the log-odds of it for a binary task). ``predict`` returns
    :math:`E[y_t \mid x]`: the link of the raw score (the sigmoid for a binary
    task), or the raw LambdaRank score for a ranking task.

    Parameters
    ----------
    tasks : None, sequence of str or dict, default=None
        Task kinds (``"regression"``, ``"binary"``, ``"ranking"``): None infers
        each column of ``Y`` (``{0, 1}`` gives binary, else regression;
        ranking is never inferred); a list aligned with the columns of ``Y``;
        or a dict ``{name: kind}``.
    strategy : {"separate", "shared", "finetune"}, default="separate"
        ``"separate"``: one booster per task. ``"shared"``: one booster over
        every task's labelled rows stacked, the task index as a categorical
        feature (hard parameter sharing); regression and binary tasks in one
        booster through a custom objective applying each row's own loss.
        ``"finetune"``: the shared booster, then per task a short booster
        (``finetune_n_estimators`` rounds) starting from the shared raw
        prediction (``init_score``): a shared bottom with task towers.
        Ranking tasks cannot share a booster with other kinds: under
        ``"shared"`` and ``"finetune"`` they get their own booster, as under
        ``"separate"``.
    chain : bool, default=False
        Train the tasks in the order of the columns of ``Y``, each later task
        with the predictions of the earlier ones as extra features. During
        ``fit`` these are out-of-fold predictions (5 seeded folds over the rows
        of ``X``; in-sample predictions would leak the earlier labels); at
        predict time the earlier tasks' full-data models give them. Only with
        ``strategy="separate"``.
    n_estimators : int, default=500
        Boosting rounds (the maximum, with early stopping).
    learning_rate : float, default=0.05
        Shrinkage of each tree.
    num_leaves : int, default=31
        Maximum number of leaves per tree.
    min_child_samples : int, default=20
        Minimum number of rows in a leaf (LightGBM ``min_data_in_leaf``).
    subsample : float, default=1.0
        Fraction of rows bagged for each tree (LightGBM ``bagging_fraction``
        with ``bagging_freq=1`` when below 1). A booster with fewer training
        rows than ``1 / subsample`` (a scarce task's one labelled row in a
        fold) is not bagged: LightGBM would bag none of them.
    colsample_bytree : float, default=1.0
        Fraction of features sampled for each tree (``feature_fraction``).
    reg_lambda : float, default=0.0
        L2 regularization of the leaf values (``lambda_l2``).
    task_params : dict or None, default=None
        Per-task overrides ``{task name: {param: value}}``: any of the
        parameters above (``n_estimators``, ``learning_rate``, ...,
        ``early_stopping_rounds``, ``early_stopping_tol``) or any LightGBM
        parameter (``objective``, ``max_depth``, ...), by its name or any of
        LightGBM's aliases (``max_leaves`` is ``num_leaves``; a
        ``bagging_fraction`` below 1 turns bagging on, as ``subsample``
        does). They apply to a
        task's own booster (its tower under ``"finetune"``, where
        ``n_estimators`` is the tower's rounds); the shared booster uses the
        common parameters.
    init_score : None, dict or str, default=None
        Boost each task from an offset read from a numeric column of ``X``
        (LightGBM's ``init_score``), e.g. a shared model's score: ``{task:
        column}``, or a template such as ``"fm_score_{task}"`` formatted with
        every non-ranking task's name. The column is on the task's raw scale
        (log-odds for a binary task), must be finite, and stays a feature.
        ``predict`` adds it back before the link (and raises ``ValueError``
        if it is not finite), so the trees only model what the offset missed.
        With early stopping, when the best trees do not beat the offset alone
        on the task's validation rows (LightGBM's default metric), the head
        keeps no tree (``best_iteration_`` 0, no feature importance) and
        predicts the offset: never worse than it on those rows. Needs
        ``strategy="separate"`` and ``chain=False``; a column that is not a
        numeric feature, or a template without ``{task}`` for several tasks,
        raises ``ValueError`` naming it.
    finetune_n_estimators : int, default=100
        Rounds of each task tower under ``strategy="finetune"``; 0 gives no
        tower (the model then equals ``"shared"``).
    task_weights : None, dict, "uncertainty" or "mgda", default=None
        Weights of the shared tasks' losses in the shared booster
        (``strategy="shared"`` or ``"finetune"``; ``ValueError`` otherwise):
        a dict ``{task: weight}`` multiplies the task's row weights (others
        weigh 1); ``"uncertainty"`` (Kendall et al., 2018) and ``"mgda"``
        (Sener & Koltun, 2018) re-estimate them from the current scores
        every ``task_weight_interval`` rounds, through a custom objective
        (see :mod:`mtlclassic._task_weights` for the rules; in a stacked
        booster MGDA's min-norm problem is solved exactly in closed form).
        A row's gradient and Hessian are both scaled, so a leaf holding one
        task's rows keeps its value; the weights change the splits (their
        gains) and the leaves shared by several tasks.
    task_weight_interval : int, default=10
        Rounds between two estimates of dynamic ``task_weights``.
    early_stopping_rounds : int or None, default=None
        None (the default, as in LightGBM's scikit-learn API): no early
        stopping, every booster grows ``n_estimators`` trees. An int: stop a
        booster when its validation metric (the first of LightGBM's
        default metrics for its objective: l2, binary log-loss, NDCG; the
        weighted mixed loss for a mixed shared booster) has not improved for
        this many rounds. Validation rows come from ``eval_set``, or else a
        seeded ``validation_fraction`` of each task's labelled rows (whole
        queries for a ranking task), held out from its training rows.
    early_stopping_tol : float in [0, 1), default=0.0
        Relative improvement that counts for early stopping: a round improves
        on the best validation metric so far only when it beats it by more
        than ``early_stopping_tol * |best|`` (better by 0.01% with ``1e-4``),
        and the booster keeps its trees up to the last round that did. 0 is
        LightGBM's rule (any improvement counts); LightGBM's ``min_delta`` is
        the absolute form, which depends on the scale of the labels. On a
        flat validation curve a small tolerance stops where the gains end
        instead of on noise: the default pipeline uses ``3e-4``
        (:func:`~mtlclassic.make_multitask_recommender`), which on all of
        MovieLens-1M kept 101 trees instead of 529 (230 with ``1e-4``) with
        the same test AUC and RMSE within 0.0001. Applies to every
        early-stopped booster (the shared one too); ignored without
        ``early_stopping_rounds``. As with
        LightGBM's rule, a booster with no validation metric raises
        ``ValueError`` and a DART booster keeps every round (with a warning):
        DART rescales earlier trees, so a model cut at its best round is not
        the one that was evaluated there.
    validation_fraction : float in (0, 1), default=0.1
        Share of each task's labelled rows held out for early stopping when
        ``eval_set`` is not given (only when early stopping is on): each row
        independently, by a seeded draw per row (whole query groups for a
        ranking task), so appending rows to ``X`` never moves earlier rows
        between the training and validation sets.
    refit : bool, default=False
        After early stopping on the held-out ``validation_fraction`` rows,
        refit each per-task head on *all* its labelled rows with the chosen
        number of trees (``best_iteration_``), as ``GridSearchCV(refit=True)``
        refits on all the data: no row is left out of the final model, and
        which rows happened to be held out matters much less. On
        MovieLens-1M it cut the spread of the rating head's test R² over 5
        seeds from 0.0096 to 0.0029 (same mean) for about twice the heads'
        fit time. Applies to the heads of ``strategy="separate"`` (and
        chains), not with ``eval_set``, and not to a head that keeps no tree;
        the shared booster and the fine-tuned towers keep their early-stopped
        models. A regression or binary head then bins its labelled rows once,
        as ``lightgbm.cv`` does: early stopping trains and validates on two
        ``Dataset.subset``s and the refit uses the whole Dataset, so the bins
        see the validation rows' feature values (never their labels) and the
        round early stopping picks can differ from ``refit=False``'s. A head
        labelled on the same rows as an earlier one, with the same Dataset
        parameters (all but ``objective`` and ``metric``), reuses that
        binned Dataset with its own labels, weights and ``init_score``: the
        same trees (a test compares the model text), one binning fewer (1.5
        s for the default pipeline's two heads at 300k MovieLens events,
        of their 16 s). A binned Dataset is kept only while a later head
        can take it.
    query_col : str, int or None, default=None
        Column of ``X`` holding per-row query ids (e.g. ``"user_id"``) for
        ranking tasks; rows are grouped by it (sorted internally). It is used
        for grouping only and is **not** a feature (a query id is usually a
        user id, which would otherwise be a high-cardinality numeric feature).
        An int is a column position for array input.
    categorical_features : "auto" or list, default="auto"
        ``"auto"``: the pandas ``category`` columns of ``X`` are categorical
        features (their categories fixed at fit; an unseen category at predict
        time is treated as missing). A list of column names (or positions for
        an array) adds columns to treat as categorical: ``category``/string
        columns are encoded by their categories, numeric columns by their
        distinct values seen in fit (so negative or very large integer ids
        are proper categories, not LightGBM's "missing"; an unseen value is
        missing).
    n_jobs : int or None, default=None
        LightGBM threads (``num_threads``) for fit and predict; None means 1,
        -1 all cores. With two or more, and at least as many separate tasks
        as threads, tasks of at most 800,000 labelled rows each train side
        by side, ``n_jobs`` at once with one thread each, refits included
        (LightGBM's rounds synchronise their threads many times per tree:
        the default pipeline's two heads on two cores, 0.83 s against
        1.02-1.08 s at 100k MovieLens-1M events, 4.7-4.9 s against 5.7-5.8 s
        at 600k; several threads per booster beside other tasks' threads
        made libgomp sleep at its barriers, a refit 3x slower); fewer tasks
        than threads train one after another with every thread. The trees
        are the same as one task after another. A booster with
        one thread builds row-wise histograms (``force_row_wise``), one with
        more column-wise ones (``force_col_wise``), unless its
        ``task_params`` name a layout: the trees are the same to the model
        text either way (tested on dense, sparse, missing, categorical and
        bundled features; not so with ``use_quantized_grad``, GOSS or
        ``linear_tree``, whose trees LightGBM changes with the thread count),
        and row-wise is the faster with one thread on dense features (the
        default pipeline's two heads at 300k MovieLens-1M events: 7.7-7.8 s
        against 8.7-9.1 s, patience 10).
    random_state : int, RandomState instance or None, default=None
        Seeds LightGBM (``seed``, with ``deterministic=True``), the validation
        split and the chain folds. Same data and seed give the same model.
    verbose : int, default=0
        0 is silent; 1 reports each booster's rounds and time; 2 also prints
        LightGBM's validation metric every 50 rounds.

    Attributes
    ----------
    tasks_ : dict
        ``{task name: kind}``, in the order of the columns of ``Y`` and of the
        columns of ``predict``.
    boosters_ : dict
        ``{task name: lightgbm.Booster}`` for every task with its own booster
        (every task under ``"separate"``; the towers under ``"finetune"``;
        ranking tasks under ``"shared"``). A task served by the shared booster
        alone has no entry.
    shared_booster_ : lightgbm.Booster or None
        The booster over the stacked tasks (``"shared"``/``"finetune"``).
    shared_tasks_ : list of str
        Tasks in the shared booster; its last feature, ``"__task__"``
        (``"__task___1"`` beside a column of that name), holds the task's
        position in ``tasks_`` (absent when only one task is shared).
    init_score_columns_ : dict
        ``{task: position in features_}`` of each task's offset column (empty
        without ``init_score``).
    shared_init_score_ : dict
        ``{task name: base score}`` of the shared tasks, added back at
        predict time.
    best_iteration_ : dict
        ``{task name: rounds used}`` of each task's own booster (its tower
        under ``"finetune"``, 0 when it has none; the shared booster's for a
        task served by the shared booster alone).
    shared_best_iteration_ : int or None
        Rounds used by the shared booster.
    task_weights_ : ndarray of shape (n_shared_tasks,)
        The shared tasks' weights (in ``shared_tasks_`` order) at the
        booster's best iteration: the fixed ones, or the last estimate.
    task_weights_history_ : ndarray of shape (n_rounds, n_shared_tasks)
        The weights every boosting round used.
    evals_result_ : dict
        ``{booster name: {metric: list of values}}`` on the validation rows
        (``"shared"`` for the shared booster), for boosters that had some.
    feature_importances_ : DataFrame of shape (n_tasks, n_model_features)
        Total gain of each feature in each task's model (shared + tower),
        including ``pred_<task>`` columns with ``chain=True``.
    features_ : list of str
        The model's input features: the columns of ``X`` except ``query_col``
        (``"x<position>"`` for an array).
    categories_ : dict
        ``{column: list of categories}`` of the categorical columns encoded
        by their categories.
    targets_ndim_ : int
        1 when fitted on a 1-D ``y`` (then ``predict`` returns 1-D).
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of ``X`` when it is a DataFrame with string names.

    See Also
    --------
    lightgbm.train : The booster API each head is trained with.
    sklearn.multioutput.RegressorChain : Chains of single-output models.

    Notes
    -----
    **One task**: ``"separate"``, ``chain=True`` and ``"shared"`` are the
    single-task LightGBM model (``"shared"`` adds no task feature and starts
    from the label mean as ``init_score`` where LightGBM boosts from the
    average: equal up to rounding); ``"finetune"`` is that model trained for
    ``n_estimators + finetune_n_estimators`` rounds (without row or column
    subsampling).

    **Shared booster**: with only regression (or only binary) tasks it uses
    LightGBM's built-in objective; with both, the custom objective of
    ``mtlclassic.boosting._objectives`` (the same gradients). A custom
    objective never boosts from the average, so every shared booster starts
    from each task's base score ``shared_init_score_`` given as
    ``init_score``, and ``predict`` adds it back (LightGBM does not), then
    applies each task's link.

    **Sample weights** route through meta-estimators: without metadata
    routing, ``Pipeline.fit(X, Y, multitasklgbm__sample_weight=w)``; with
    ``sklearn.set_config(enable_metadata_routing=True)``, request them with
    ``MultiTaskLGBM().set_fit_request(sample_weight=True)`` and pass
    ``sample_weight=w`` to ``Pipeline.fit`` or ``GridSearchCV.fit``. A 2-D
    ``sample_weight`` of shape (n_samples, n_tasks) weighs each task's rows
    separately.

    ``eval_set`` is ``(X_val, Y_val)`` (or a list with one such pair), with
    the same columns and tasks as the training data.

    **Memory**: LightGBM bins a head's rows (a byte per feature and row). A
    DataFrame whose float64 feature matrix would take more than 256 MiB is
    not copied into one: the heads read its columns (category codes as
    float32) in batches through a ``lightgbm.Sequence``, with the bin
    sample's seed LightGBM derives from ``random_state``, so the trees are
    those of the matrix (a test compares the model text). At 10M generated
    events that matrix was 3.4 GB. A head trained on some rows without
    ``refit`` (early stopping alone) still copies them.

    Examples
    --------
    >>> from mtlclassic import MultiTaskLGBM, make_multitask_recsys
    >>> X, Y = make_multitask_recsys(200, 100, 2000, random_state=0)
    >>> model = MultiTaskLGBM(n_estimators=20, random_state=0).fit(X, Y)
    >>> model.tasks_
    {'rating': 'regression', 'click': 'binary', 'like': 'binary'}
    >>> model.predict(X).shape
    (2000, 3)
    >>> shared = MultiTaskLGBM(strategy="shared", n_estimators=20, random_state=0)
    >>> shared.fit(X, Y).predict_task(X.head(2), "click").shape
    (2,)
    """

    _parameter_constraints: dict = {
        "tasks": [None, "array-like", dict, str],
        "strategy": [StrOptions({"separate", "shared", "finetune"})],
        "chain": ["boolean"],
        "n_estimators": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "num_leaves": [Interval(numbers.Integral, 2, None, closed="left")],
        "min_child_samples": [Interval(numbers.Integral, 0, None, closed="left")],
        "subsample": [Interval(numbers.Real, 0, 1, closed="right")],
        "colsample_bytree": [Interval(numbers.Real, 0, 1, closed="right")],
        "reg_lambda": [Interval(numbers.Real, 0, None, closed="left")],
        "task_params": [None, dict],
        "init_score": [None, dict, str],
        "finetune_n_estimators": [Interval(numbers.Integral, 0, None, closed="left")],
        "task_weights": [None, dict, StrOptions({"uncertainty", "mgda"})],
        "task_weight_interval": [Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping_rounds": [
            None,
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "early_stopping_tol": [Interval(numbers.Real, 0, 1, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "refit": ["boolean"],
        "query_col": [None, str, Interval(numbers.Integral, 0, None, closed="left")],
        "categorical_features": [StrOptions({"auto"}), list, tuple],
        "n_jobs": [None, numbers.Integral],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        tasks=None,
        strategy="separate",
        chain=False,
        n_estimators=500,
        learning_rate=0.05,
        num_leaves=31,
        min_child_samples=20,
        subsample=1.0,
        colsample_bytree=1.0,
        reg_lambda=0.0,
        task_params=None,
        init_score=None,
        finetune_n_estimators=100,
        task_weights=None,
        task_weight_interval=10,
        early_stopping_rounds=None,
        early_stopping_tol=0.0,
        validation_fraction=0.1,
        refit=False,
        query_col=None,
        categorical_features="auto",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.tasks = tasks
        self.strategy = strategy
        self.chain = chain
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.task_params = task_params
        self.init_score = init_score
        self.finetune_n_estimators = finetune_n_estimators
        self.task_weights = task_weights
        self.task_weight_interval = task_weight_interval
        self.early_stopping_rounds = early_stopping_rounds
        self.early_stopping_tol = early_stopping_tol
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.query_col = query_col
        self.categorical_features = categorical_features
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ input

    def _fit_feature_spec(self, X):
        """Fit the feature encoder on ``X`` (the ``features_`` attributes)."""
        spec = fit_feature_spec(X, self.query_col, self.categorical_features)
        self.features_ = spec.features
        self.feature_columns_ = spec.columns
        self.categories_ = spec.categories
        self.categorical_feature_indices_ = spec.categorical

    def _frame_matrix(self, X):
        return frame_matrix(X, self.feature_columns_, self.categories_)

    def _check_X(self, X, *, reset, lazy=False):
        """Validate ``X``; return (feature matrix float64, query values or None).

        ``lazy``: a DataFrame's features as :func:`fit_features` gives them
        (fit).
        """
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] == 0:
                raise ValueError(
                    "Found array with 0 sample(s) (shape=(0, "
                    f"{X.shape[1]})) while a minimum of 1 is required."
                )
            if reset:
                self._fit_feature_spec(X)
            query = None
            if reset and self.query_col is not None:
                query = X[self.query_col].to_numpy()
            if lazy:
                return fit_features(X, self.feature_columns_, self.categories_), query
            return self._frame_matrix(X), query
        if (
            not reset
            and type(X) is np.ndarray
            and X.dtype == np.float64
            and X.ndim == 2
            and X.shape[0] > 0
            and X.shape[1] == self.n_features_in_
            and not hasattr(self, "feature_names_in_")
        ):
            # scoring fast path: a float64 array needs no conversion, only the
            # finiteness check validate_data would do (NaN means missing)
            if not np.isfinite(X.sum()) and np.isinf(X).any():
                raise ValueError(
                    "Input X contains infinity or a value too large for "
                    "dtype('float64')."
                )
        else:
            raw = X
            X = validate_data(
                self, X, reset=reset, dtype=np.float64, ensure_all_finite="allow-nan"
            )
        if reset:
            self._fit_feature_spec(X)
        query = None
        if reset and self.query_col is not None:
            query = X[:, self.query_col]
            if isinstance(raw, np.ndarray) and raw.ndim == 2 and raw.dtype.kind in "iu":
                # the ids as given: float64 merges ids beyond 2**53 into one query
                query = raw[:, self.query_col]
        return array_matrix(X, self.feature_columns_, self.categories_), query

    # ----------------------------------------------------------------- params

    # -------------------------------------------------------------------- fit

    def _fit_data(self, X, Y, sample_weight, eval_set):
        """Validate the fit input into a :class:`FitData`."""
        return fit_data(self, X, Y, sample_weight, eval_set)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, eval_set=None):
        """Fit one model per task (or the shared booster and its towers).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Features; pandas ``category`` columns are categorical features;
            ``query_col`` (if any) holds query ids and is not a feature.
        y : DataFrame or array-like of shape (n_samples, n_tasks) or (n_samples,)
            Labels ``Y``, NaN where a row has no label for a task.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks),
                default=None
            Row weights, shared by every task (1-D) or per task (2-D). A
            DataFrame with named columns is matched to the tasks by name
            (``ValueError`` if a task has no column).
        eval_set : tuple (X_val, Y_val) or list of one such tuple, default=None
            Validation data for early stopping (each task on its labelled
            rows of ``Y_val``).

        Returns
        -------
        self : MultiTaskLGBM
            The fitted estimator.
        """
        lgb = import_lightgbm()
        refuse_reordered_rows(X, y=y, sample_weight=sample_weight)
        for pair in [eval_set] if isinstance(eval_set, tuple) else eval_set or []:
            if isinstance(pair, tuple | list) and len(pair) == 2:
                refuse_reordered_rows(pair[0], **{"eval_set's Y": pair[1]})
        data = self._fit_data(X, y, sample_weight, eval_set)
        self.init_score_columns_ = data.offsets
        self._start_fitted(data, y)
        shared = None
        if data.shared:
            shared = fit_shared(
                lgb, data, self.n_estimators, self.early_stopping_rounds,
                finetune=self.strategy == "finetune",
                es_tol=self.early_stopping_tol,
            )  # fmt: skip
            fitted, evals = shared_fitted(data, shared)
            for name, value in fitted.items():
                setattr(self, name, value)
            self.evals_result_.update(evals)
        if self.chain:
            trained = fit_chain(lgb, data, refit=self.refit)
        else:
            tasks = [t for t in range(len(data.names)) if t not in data.shared]
            threads = {data.settings[t].params["num_threads"] for t in tasks}
            trained = {}
            if (
                len(tasks) > 1
                and len(threads) == 1
                and 1 < min(threads) <= len(tasks)  # one thread each, none idle
                and max(task_rows(data, t) for t in tasks) <= SIDE_BY_SIDE_MAX_ROWS
            ):
                # one thread per task, not every thread per round: see
                # fit_side_by_side (the same boosters)
                trained = fit_side_by_side(
                    lgb, data, tasks, min(threads), refit=self.refit
                )
            binned = BinnedRows(data, tasks if self.refit else [])
            for t in range(len(data.names)):
                if t in trained:
                    continue
                if t not in data.shared:
                    trained[t] = fit_separate(
                        lgb, data, t, refit=self.refit, binned=binned
                    )
                elif self.strategy == "finetune" and data.settings[t].n_rounds > 0:
                    trained[t] = fit_tower(lgb, data, t, shared.raw[t])
            trained = {t: trained[t] for t in sorted(trained)}
        shared_only = self.strategy == "shared"
        shared_best = getattr(self, "shared_best_iteration_", 0) if shared_only else 0
        boosters, best, evals = tasks_fitted(data, trained, shared_best)
        self.boosters_.update(boosters)
        self.best_iteration_.update(best)
        self.evals_result_.update(evals)
        return self

    def _trained_elsewhere(self, kinds, boosters, best):
        """Become fitted separate heads from boosters trained elsewhere.

        ``kinds`` maps task names to kinds, ``boosters`` and ``best`` task
        names to ``lightgbm.Booster`` and best iteration (``lightgbm.dask``'s
        training, :class:`~mtlclassic.dask.DaskMultiTaskLGBM`). Returns self.
        """
        self.set_params(tasks=[kinds[n] for n in kinds], n_jobs=None)
        self.tasks_ = dict(kinds)
        self.targets_ndim_ = 2
        self.strategy_ = "separate"
        self.chain_ = False
        self.boosters_ = boosters
        self.best_iteration_ = best
        self.evals_result_ = {}
        self.shared_booster_ = None
        self.shared_tasks_ = []
        self.shared_init_score_ = {}
        self.shared_best_iteration_ = None
        self.init_score_columns_ = {}
        return self

    def _start_fitted(self, data, Y):
        """Set the fitted attributes every strategy shares."""
        for name in ("task_weights_", "task_weights_history_"):  # a shared booster's
            self.__dict__.pop(name, None)
        self.tasks_ = dict(zip(data.names, data.kinds))
        self.targets_ndim_ = targets_ndim(
            Y if isinstance(Y, pd.DataFrame | pd.Series) else np.asarray(Y)
        )
        self.strategy_ = self.strategy
        self.chain_ = bool(self.chain)
        self.boosters_ = {}
        self.best_iteration_ = {}
        self.evals_result_ = {}
        self.shared_booster_ = None
        self.shared_tasks_ = [data.names[t] for t in data.shared]
        self.shared_init_score_ = {}
        self.shared_best_iteration_ = None

    def update(self, X, y, sample_weight=None, *, decay_rate=0.9):
        """Learn from new labelled rows without a refit: LightGBM's leaf refit.

        For each task with labels in ``y``, every tree keeps its structure;
        each leaf the new rows reach becomes ``decay_rate`` x its value + (1 -
        ``decay_rate``) x the value fitted on them (``lightgbm.Booster.refit``:
        a Newton step times the learning rate; the ``init_score`` offset
        included), and the leaves they do not reach keep their values (plain
        ``refit`` would shrink them). The model keeps its size and cost.
        Continued boosting is not offered: LightGBM replaces a Dataset's
        ``init_score`` by the continued model's predictions, which would drop
        the FM offsets the default pipeline's heads boost from. With
        ``strategy="shared"`` the shared booster is refitted on every shared
        task's new rows, stacked as in fit; with ``"finetune"`` each task's
        tower then refits from the updated shared score (see
        :mod:`mtlclassic.boosting._lgbm_update`).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_new, n_features)
            New rows, with the columns seen in fit.
        y : DataFrame or array-like of shape (n_new, n_tasks) or (n_new,)
            Their labels, NaN where missing (a task without any keeps its
            trees; so does a head that kept none, ``best_iteration_`` 0).
        sample_weight : array-like of shape (n_new,) or (n_new, n_tasks)
        decay_rate : float in [0, 1], default=0.9
            Weight of the old leaf values: 1 changes nothing, 0 keeps only
            the new rows' values.

        Returns
        -------
        self : MultiTaskLGBM

        Raises
        ------
        ValueError
            With a ``decay_rate`` outside [0, 1], new data that fit would
            refuse, or a shared booster over tasks of different kinds (its
            custom objective cannot be refitted).
        """
        check_is_fitted(self)
        if isinstance(decay_rate, bool) or not (
            isinstance(decay_rate, numbers.Real) and 0 <= decay_rate <= 1
        ):
            raise ValueError(f"decay_rate must be in [0, 1]; got {decay_rate!r}.")
        if _num_samples(X) == 0:
            return self
        refuse_reordered_rows(X, y=y, sample_weight=sample_weight)
        names, kinds = list(self.tasks_), list(self.tasks_.values())
        new = check_eval_set(
            self, (X, y), names, kinds, where="update", allow_empty=True
        )
        for name, position in getattr(self, "init_score_columns_", {}).items():
            # as fit and predict: a NaN offset was taken as 0
            labelled = new.mask[:, names.index(name)]
            offset_column(self, new.X[labelled], position, name)
        weights = check_weights(sample_weight, new.mask, names)
        _, changed = refit_leaves(self, new, weights, float(decay_rate))
        for name, value in changed.items():
            setattr(self, name, value)
        return self

    # ---------------------------------------------------------------- predict

    def _predict_matrix(self, X, todo=None):
        """(n_samples, n_tasks) predictions of the tasks ``todo`` (others NaN)."""
        check_is_fitted(self)
        features, _ = self._check_X(X, reset=False)
        return predict_matrix(self, features, todo)

    def predict(self, X):
        r"""Predict :math:`E[y_t \mid x]` for every task.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The columns seen in fit.

        Returns
        -------
        Y_pred : ndarray of shape (n_samples, n_tasks)
            One column per task (in the order of ``tasks_``): the expected
            label, a probability for a binary task, the LambdaRank score for a
            ranking task. 1-D of shape (n_samples,) when fitted on a 1-D ``y``.
        """
        out = self._predict_matrix(X)
        return out[:, 0] if self.targets_ndim_ == 1 else out

    def predict_task(self, X, task):
        """Predict one task.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The columns seen in fit.
        task : str or int
            The task's name (a key of ``tasks_``) or position.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            As the task's column of :meth:`predict`.
        """
        check_is_fitted(self)
        names = list(self.tasks_)
        if isinstance(task, numbers.Integral) and not isinstance(task, bool):
            if not 0 <= task < len(names):
                raise ValueError(
                    f"task position {task} is out of range for {len(names)} tasks."
                )
            t = int(task)
        elif isinstance(task, str) and task in self.tasks_:
            t = names.index(task)
        else:
            raise ValueError(f"Unknown task {task!r}; the tasks are {names}.")
        todo = range(t + 1) if self.chain_ else [t]
        return self._predict_matrix(X, todo)[:, t]

    def score(self, X, y, sample_weight=None):
        """Mean over tasks of R² (regression) and ROC AUC (binary, ranking).

        Each task is scored on its labelled rows of ``Y``
        (:func:`mtlclassic.metrics.multitask_score`).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Features.
        y : DataFrame or array-like of shape (n_samples, n_tasks) or (n_samples,)
            True labels ``Y``, NaN where missing.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        score : float
            The mean score over tasks.
        """
        check_is_fitted(self)
        pred = self.predict(X)
        return multitask_score(
            y, pred, tasks=list(self.tasks_.values()), sample_weight=sample_weight,
            task_names=list(self.tasks_),
        )  # fmt: skip

    @property
    def feature_importances_(self):
        """Total gain of each feature per task (DataFrame tasks × features)."""
        check_is_fitted(self)
        return gain_table(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        return tags
