"""Per-task LightGBM heads and the GBDT forms of task sharing."""

import numbers
import re
import time
import warnings

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.model_selection import KFold
from sklearn.utils import check_random_state

from .._compat import (
    Interval,
    StrOptions,
    _fit_context,
    check_is_fitted,
    effective_n_jobs,
    import_lightgbm,
    validate_data,
)
from .._ids import conform_ids
from .._targets import check_targets, check_task_sample_weight, targets_ndim
from ..metrics import multitask_score
from ._objectives import MixedLoss, MixedObjective

__all__ = ["MultiTaskLGBM"]

# our parameter names -> LightGBM's canonical names (also accepted in task_params)
_PARAM_ALIASES = {
    "learning_rate": "learning_rate",
    "num_leaves": "num_leaves",
    "min_child_samples": "min_data_in_leaf",
    "subsample": "bagging_fraction",
    "colsample_bytree": "feature_fraction",
    "reg_lambda": "lambda_l2",
}
_OBJECTIVES = {"regression": "regression", "binary": "binary", "ranking": "lambdarank"}
_CHAIN_FOLDS = 5
_TASK_FEATURE = "__task__"
_EPS = 1e-15  # LightGBM's kEpsilon, used to clip the binary base rate


def _numeric_categories(values) -> list:
    """Sorted distinct values of a numeric column listed as categorical.

    LightGBM reads a categorical feature as non-negative int32 codes (a
    negative value is missing, a larger one an error), so such a column is
    re-encoded as the position of its value among those seen in ``fit``.
    """
    observed = pd.Series(values).dropna()
    if pd.api.types.is_extension_array_dtype(observed.dtype):
        observed = observed.astype(observed.dtype.numpy_dtype)  # Int64 -> int64
    return np.sort(observed.unique()).tolist()  # exact: int ids never via float


def _encode_values(values, categories) -> np.ndarray:
    """Codes of ``values`` among ``categories`` (NaN where unseen or missing)."""
    codes = pd.Index(categories).get_indexer(values).astype(np.float64)
    codes[codes < 0] = np.nan
    return codes


_DEFAULT_LABEL_GAINS = 31  # LightGBM's label_gain: 2^i - 1 for grades 0..30


def _check_label_gain(task, grades, params):
    """Refuse relevance grades that LightGBM's ``label_gain`` cannot map."""
    gains = params.get("label_gain")
    if gains is not None:
        try:
            gains = np.asarray(gains, dtype=np.float64)
        except (TypeError, ValueError):
            gains = None
        if gains is None or gains.ndim != 1:
            raise ValueError(
                f"label_gain of ranking task {task!r} must be a list of numbers, "
                f"one gain per relevance grade; got {params.get('label_gain')!r}."
            )
    n_gains = _DEFAULT_LABEL_GAINS if gains is None else len(gains)
    top = int(np.max(grades)) if grades.size else 0
    if top >= n_gains:
        given = "the default" if gains is None else "task_params' label_gain"
        raise ValueError(
            f"Ranking task {task!r} has relevance grade {top}, but {given} maps "
            f"grades 0..{n_gains - 1} only (LightGBM's LambdaRank and NDCG need a "
            f"gain per grade). Pass task_params={{{task!r}: {{'label_gain': "
            f"list(range({top + 1}))}}}} (linear gains, as mtlclassic's ndcg_at_k) "
            "or bin the grades."
        )


_MAX_QUERY_ROWS = 10_000  # LightGBM's LambdaRank: rows of one query at most


def _check_query_sizes(task, codes, raw, query_col):
    """Refuse a query with more labelled rows than LambdaRank accepts."""
    if codes.size == 0:
        return
    sizes = np.bincount(codes)
    biggest = int(np.argmax(sizes))
    if sizes[biggest] > _MAX_QUERY_ROWS:
        value = raw[np.flatnonzero(codes == biggest)[0]]
        value = value.item() if isinstance(value, np.generic) else value
        raise ValueError(
            f"Ranking task {task!r}: query {value!r} (query_col="
            f"{query_col!r}) has {int(sizes[biggest])} labelled rows, more than "
            f"the {_MAX_QUERY_ROWS} LightGBM's ranking objectives accept per query; "
            "keep fewer candidates per query (e.g. the top ones by a retrieval "
            "score) or split such queries."
        )


def _lgb_feature_names(names) -> list[str]:
    """Feature names LightGBM accepts (no JSON special characters), unique."""
    out, seen = [], set()
    for name in names:
        clean = re.sub(r'[",:\[\]{}\s]', "_", str(name)) or "_"
        candidate, k = clean, 1
        while candidate in seen:
            candidate, k = f"{clean}_{k}", k + 1
        seen.add(candidate)
        out.append(candidate)
    return out


def _holdout(rows, fraction, rng, groups=None):
    """Split ``rows`` into (train, validation), whole query groups when given.

    Without groups, row ``i`` is held out when the ``i``-th uniform draw of
    ``rng`` is below ``fraction`` (at least one row on each side): the draw
    for a row never depends on how many rows follow, so appending events to
    the training data leaves every earlier row where it was (a permutation
    would reshuffle all of them, and early stopping would jump).
    """
    if groups is None:
        if rows.size < 2:
            return rows, None
        draws = rng.random(rows.size)
        held = draws < fraction
        if not held.any():
            held[np.argmin(draws)] = True
        if held.all():
            held[np.argmax(draws)] = False
        return rows[~held], rows[held]
    unique = np.unique(groups[rows])
    if unique.size < 2:
        return rows, None
    n_val = min(unique.size - 1, max(1, int(round(fraction * unique.size))))
    val_groups = rng.permutation(unique)[:n_val]
    is_val = np.isin(groups[rows], val_groups)
    return rows[~is_val], rows[is_val]


def _group_rows(rows, query):
    """Order ``rows`` so query groups are contiguous; return (rows, group sizes)."""
    order = np.argsort(query[rows], kind="stable")
    rows = rows[order]
    _, sizes = np.unique(query[rows], return_counts=True)
    return rows, sizes


def _query_codes(values, name):
    codes, _ = pd.factorize(np.asarray(values), sort=False)
    if (codes < 0).any():
        raise ValueError(
            f"query_col {name!r} has missing values; every row needs a query id."
        )
    return codes


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
        with ``bagging_freq=1`` when below 1).
    colsample_bytree : float, default=1.0
        Fraction of features sampled for each tree (``feature_fraction``).
    reg_lambda : float, default=0.0
        L2 regularization of the leaf values (``lambda_l2``).
    task_params : dict or None, default=None
        Per-task overrides ``{task name: {param: value}}``: any of the
        parameters above (``n_estimators``, ``learning_rate``, ...,
        ``early_stopping_rounds``) or any LightGBM parameter (``objective``,
        ``max_depth``, ...). They apply to a task's own booster (its tower
        under ``"finetune"``, where ``n_estimators`` is the tower's rounds);
        the shared booster uses the common parameters.
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
    early_stopping_rounds : int or None, default=None
        Stop a booster when its validation metric (the first of LightGBM's
        default metrics for its objective: l2, binary log-loss, NDCG; the
        weighted mixed loss for a mixed shared booster) has not improved for
        this many rounds. Validation rows come from ``eval_set``, or else a
        seeded ``validation_fraction`` of each task's labelled rows (whole
        queries for a ranking task), held out from its training rows.
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
        models.
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
        -1 all cores.
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
        Tasks in the shared booster; its feature ``"__task__"`` holds the
        task's position in ``tasks_`` (absent when only one task is shared).
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
        "early_stopping_rounds": [
            None,
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
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
        early_stopping_rounds=None,
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
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.query_col = query_col
        self.categorical_features = categorical_features
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ input

    def _fit_feature_spec(self, X):
        """Decide feature columns and categorical encodings from the fit X."""
        is_frame = isinstance(X, pd.DataFrame)
        columns = list(X.columns) if is_frame else list(range(X.shape[1]))
        query = self.query_col
        if query is not None:
            if is_frame and query not in columns:
                raise ValueError(
                    f"query_col {query!r} is not a column of X; columns are "
                    f"{[str(c) for c in columns]}."
                )
            if not is_frame and not (
                isinstance(query, numbers.Integral) and 0 <= query < len(columns)
            ):
                raise ValueError(
                    f"query_col must be a column position in [0, {len(columns)}) "
                    f"when X is an array; got {query!r}."
                )
        features = [c for c in columns if c != query]
        if not features:
            raise ValueError("X has no feature column besides query_col.")
        listed = []
        if not isinstance(self.categorical_features, str):
            listed = list(self.categorical_features)
            unknown = [c for c in listed if c not in features]
            if unknown:
                raise ValueError(
                    f"categorical_features names {unknown}, which are not feature "
                    f"columns of X (query_col excluded); features are "
                    f"{[str(c) for c in features]}."
                )
        categories, cat_positions, bad = {}, [], []
        for j, col in enumerate(features):
            if not is_frame:
                if col in listed:  # numeric codes: re-encoded by their fitted values
                    categories[col] = _numeric_categories(X[:, col])
                    cat_positions.append(j)
                continue
            dtype = X[col].dtype
            if isinstance(dtype, pd.CategoricalDtype):
                categories[col] = dtype.categories.tolist()
                cat_positions.append(j)
            elif pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(
                dtype
            ):
                if col in listed:
                    categories[col] = _numeric_categories(X[col])
                    cat_positions.append(j)
            elif col in listed:
                values = X[col].dropna().unique()
                categories[col] = sorted(values.tolist(), key=str)
                cat_positions.append(j)
            else:
                bad.append(str(col))
        if bad:
            raise TypeError(
                f"X columns {bad} are neither numeric nor pandas 'category'; convert "
                "them with X[col].astype('category') or list them in "
                "categorical_features."
            )
        self.features_ = [str(c) if is_frame else f"x{c}" for c in features]
        self.feature_columns_ = features
        self.categories_ = categories
        self.categorical_feature_indices_ = cat_positions

    def _frame_matrix(self, X):
        n = X.shape[0]
        out = np.empty((n, len(self.feature_columns_)), dtype=np.float64)
        for j, col in enumerate(self.feature_columns_):
            column = X[col]
            if col in self.categories_:
                fitted = self.categories_[col]
                cats = pd.Index(fitted)
                reference = np.asarray(fitted, dtype=object)
                if isinstance(column.dtype, pd.CategoricalDtype):
                    codes = column.cat.codes.to_numpy()
                    if not column.cat.categories.equals(cats):
                        incoming = conform_ids(
                            column.cat.categories.to_numpy(dtype=object), reference, col
                        )
                        # one more slot so that the code -1 (missing) maps to -1
                        recode = np.append(cats.get_indexer(incoming), -1)
                        codes = recode[codes]
                else:
                    values = column.to_numpy()
                    if values.dtype.kind == "O" or values.dtype != reference.dtype:
                        values = conform_ids(values, reference, col)
                    codes = cats.get_indexer(values)
                values = codes.astype(np.float64)
                values[codes < 0] = np.nan
            else:
                try:
                    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
                except (TypeError, ValueError):
                    raise TypeError(
                        f"X column {col!r} must be numeric (as in fit); got dtype "
                        f"{column.dtype}."
                    ) from None
            out[:, j] = values
        if np.isinf(out).any():
            raise ValueError("Input X contains infinity; use NaN for missing values.")
        return out

    def _check_X(self, X, *, reset):
        """Validate ``X``; return (feature matrix float64, query values or None)."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] == 0:
                raise ValueError(
                    "Found array with 0 sample(s) (shape=(0, "
                    f"{X.shape[1]})) while a minimum of 1 is required."
                )
            if reset:
                self._fit_feature_spec(X)
            features = self._frame_matrix(X)
            query = None
            if reset and self.query_col is not None:
                query = X[self.query_col].to_numpy()
            return features, query
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
            X = validate_data(
                self, X, reset=reset, dtype=np.float64, ensure_all_finite="allow-nan"
            )
        if reset:
            self._fit_feature_spec(X)
        cols = self.feature_columns_
        features = X if len(cols) == X.shape[1] else X[:, cols]
        query = None
        if reset and self.query_col is not None:
            query = X[:, self.query_col]
        features = np.ascontiguousarray(features, dtype=np.float64)
        listed = [(j, c) for j, c in enumerate(cols) if c in self.categories_]
        if listed:
            if features is X:
                features = features.copy()  # never modify the user's array
            for j, col in listed:
                features[:, j] = _encode_values(features[:, j], self.categories_[col])
        return features, query

    def _check_task_params(self, names):
        task_params = self.task_params or {}
        unknown = [k for k in task_params if k not in names]
        if unknown:
            raise ValueError(
                f"task_params names {unknown}, which are not tasks; the tasks are "
                f"{names}."
            )
        for key, value in task_params.items():
            if not isinstance(value, dict):
                raise TypeError(
                    f"task_params[{key!r}] must be a dict of parameters; got "
                    f"{type(value).__name__}."
                )
        return task_params

    def _check_init_score(self, names, kinds, features):
        """Resolve ``init_score`` into ``{task: feature position}`` and check it."""
        spec = self.init_score
        if spec is None:
            return {}
        if isinstance(spec, str):
            template = spec
            try:
                spec = {
                    n: template.format(task=n)
                    for n, k in zip(names, kinds)
                    if k != "ranking"
                }
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(
                    f"init_score={template!r} is not a valid template: use "
                    "'{task}' as its only placeholder, e.g. 'fm_score_{task}' "
                    f"({type(exc).__name__}: {exc})."
                ) from None
            if len(set(spec.values())) < len(spec):
                raise ValueError(
                    f"init_score={template!r} names the same column for every "
                    "task; a template needs the placeholder '{task}' (e.g. "
                    "'fm_score_{task}'), or pass a dict {task: column}."
                )
        unknown = [t for t in spec if t not in names]
        if unknown:
            raise ValueError(
                f"init_score names tasks {unknown} that are not tasks of Y {names}."
            )
        if spec and (self.strategy != "separate" or self.chain):
            raise ValueError(
                "init_score offsets work with strategy='separate' and chain=False; "
                f"got strategy={self.strategy!r}, chain={self.chain!r}."
            )
        columns = [str(c) for c in self.feature_columns_]
        resolved = {}
        for task, column in spec.items():
            if str(column) not in columns:
                raise ValueError(
                    f"init_score for task {task!r} names the column {column!r}, "
                    f"which is not a feature column of X; columns are {columns}."
                )
            j = columns.index(str(column))
            if j in self.categorical_feature_indices_:
                raise ValueError(
                    f"init_score column {column!r} (task {task!r}) is categorical; "
                    "an offset must be a numeric column on the task's raw scale."
                )
            if not np.isfinite(features[:, j]).all():
                raise ValueError(
                    f"init_score column {column!r} (task {task!r}) has NaN or "
                    "infinite values; an offset must be finite on every row."
                )
            resolved[task] = j
        return resolved

    def _offset_alone_is_better(self, t, kind, params, valid, evals, best):
        """Whether a task's ``init_score`` offset beats its early-stopped trees.

        Compared on the task's validation rows with LightGBM's default metric
        (l2, binary log loss); then the head keeps no tree (``best_iteration_``
        0), so it is never worse there than the offset it boosts from.
        """
        names = list(self.tasks_)
        if (
            names[t] not in self.init_score_columns_
            or valid is None
            or not evals
            or "metric" in params
            or kind not in ("regression", "binary")
        ):
            return False
        y, offset, w = valid["y"], valid["init"], valid.get("w")
        if kind == "regression":
            metric, loss = "l2", (y - offset) ** 2
        else:
            metric = "binary_logloss"
            p = np.clip(expit(offset), _EPS, 1 - _EPS)
            loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        history = evals.get("valid", {}).get(metric)
        if not history:
            return False
        return float(np.average(loss, weights=w)) <= history[best - 1]

    def _check_eval_set(self, eval_set, names, kinds):
        if eval_set is None:
            return None
        if isinstance(eval_set, list):
            if len(eval_set) != 1:
                raise ValueError(
                    "eval_set must be (X_val, Y_val) or a list with one such pair; "
                    f"got a list of {len(eval_set)}."
                )
            eval_set = eval_set[0]
        if not isinstance(eval_set, tuple) or len(eval_set) != 2:
            raise ValueError("eval_set must be a pair (X_val, Y_val).")
        X_val, Y_val = eval_set
        features, _ = self._check_X(X_val, reset=False)
        if isinstance(Y_val, pd.DataFrame) and [str(c) for c in Y_val.columns] != names:
            raise ValueError(
                f"eval_set: Y_val has tasks {[str(c) for c in Y_val.columns]} but Y "
                f"has {names}."
            )
        try:
            Y, mask, _, _ = check_targets(Y_val, kinds, n_samples=features.shape[0])
        except ValueError as exc:
            raise ValueError(f"eval_set: {exc}") from None
        query = None
        if "ranking" in kinds:
            if isinstance(X_val, pd.DataFrame):
                query = X_val[self.query_col].to_numpy()
            else:
                query = np.asarray(X_val)[:, self.query_col]
            query = _query_codes(query, self.query_col)
        return features, Y, mask, query

    # ----------------------------------------------------------------- params

    def _base_params(self, seed, n_threads):
        params = {
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.colsample_bytree,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "lambda_l2": self.reg_lambda,
            "num_threads": n_threads,
            "seed": seed,
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": 1 if self.verbose >= 2 else -1,
        }
        return params

    def _task_settings(self, base, overrides, n_rounds, es_rounds):
        """Apply one task's overrides: (params, rounds, early stopping rounds)."""
        params = dict(base)
        for key, value in overrides.items():
            if key == "n_estimators":
                n_rounds = value
            elif key == "early_stopping_rounds":
                es_rounds = value
            elif key in _PARAM_ALIASES:
                params[_PARAM_ALIASES[key]] = value
                if key == "subsample":
                    params["bagging_freq"] = 1 if value < 1 else 0
            else:
                params[key] = value
        return params, int(n_rounds), es_rounds

    def _train(self, lgb, name, params, n_rounds, es_rounds, train, valid, feval=None):
        """Train one booster; return (booster, best iteration, evals)."""
        start = time.perf_counter()
        dtrain = lgb.Dataset(
            train["X"],
            label=train["y"],
            weight=train.get("w"),
            group=train.get("group"),
            init_score=train.get("init"),
            feature_name=train["names"],
            categorical_feature=train["cats"],
        )
        callbacks, valid_sets, evals = [], None, {}
        if valid is not None:
            dvalid = lgb.Dataset(
                valid["X"],
                label=valid["y"],
                weight=valid.get("w"),
                group=valid.get("group"),
                init_score=valid.get("init"),
                reference=dtrain,
            )
            valid_sets = [dvalid]
            callbacks.append(lgb.record_evaluation(evals))
            if es_rounds is not None:
                callbacks.append(
                    lgb.early_stopping(es_rounds, first_metric_only=True, verbose=False)
                )
            if self.verbose >= 2:
                callbacks.append(lgb.log_evaluation(50))
        booster = lgb.train(
            params,
            dtrain,
            num_boost_round=n_rounds,
            valid_sets=valid_sets,
            valid_names=["valid"] if valid_sets else None,
            feval=feval,
            callbacks=callbacks,
        )
        best = booster.current_iteration()
        if es_rounds is not None and valid is not None and booster.best_iteration > 0:
            best = booster.best_iteration
        if self.verbose:
            print(
                f"[MultiTaskLGBM] {name}: {best} rounds on {len(train['y'])} rows "
                f"in {time.perf_counter() - start:.2f}s"
            )
        return booster, int(best), {k: dict(v) for k, v in evals.items()}

    # -------------------------------------------------------------------- fit

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
            Row weights, shared by every task (1-D) or per task (2-D).
        eval_set : tuple (X_val, Y_val) or list of one such tuple, default=None
            Validation data for early stopping (each task on its labelled
            rows of ``Y_val``).

        Returns
        -------
        self : MultiTaskLGBM
            The fitted estimator.
        """
        lgb = import_lightgbm()
        Y = y
        if Y is None:
            raise ValueError(
                f"This {type(self).__name__} estimator requires y to be passed, "
                "but the target y is None."
            )
        features, query = self._check_X(X, reset=True)
        n_samples = features.shape[0]
        Yf, mask, kinds, names = check_targets(Y, self.tasks, n_samples=n_samples)
        n_tasks = len(names)
        strategy = self.strategy
        if self.chain and strategy != "separate":
            raise ValueError(
                f"chain=True requires strategy='separate'; got strategy={strategy!r}."
            )
        if "ranking" in kinds:
            if self.query_col is None:
                ranking = [n for n, k in zip(names, kinds) if k == "ranking"]
                raise ValueError(
                    f"Tasks {ranking} are 'ranking' tasks, which need query_col: "
                    "the column of X with each row's query id (e.g. 'user_id')."
                )
            raw_query = np.asarray(query)
            query = _query_codes(query, self.query_col)
        task_params = self._check_task_params(names)
        self.init_score_columns_ = self._check_init_score(names, kinds, features)
        weights = None
        if sample_weight is not None:
            weights = check_task_sample_weight(sample_weight, n_samples, n_tasks)
            dead = [n for t, n in enumerate(names) if not weights[mask[:, t], t].any()]
            if dead:
                raise ValueError(
                    f"sample_weight is zero on every labelled row of tasks {dead}; "
                    "each task needs some positive weight."
                )
        val = self._check_eval_set(eval_set, names, kinds)

        if isinstance(self.random_state, numbers.Integral):
            seed = int(self.random_state) % (2**31 - 1)
        else:
            seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        base = self._base_params(seed, effective_n_jobs(self.n_jobs))

        shared = []
        if strategy != "separate":
            shared = [t for t in range(n_tasks) if kinds[t] != "ranking"]
        if strategy == "shared":
            ignored = [names[t] for t in shared if names[t] in task_params]
            if ignored:
                warnings.warn(
                    f"task_params for tasks {ignored} have no effect with "
                    "strategy='shared': they are trained in the one shared booster, "
                    "which uses the common parameters.",
                    UserWarning,
                    stacklevel=2,
                )
        settings = {}
        for t, name in enumerate(names):
            n_rounds = self.n_estimators
            if strategy == "finetune" and t in shared:
                n_rounds = self.finetune_n_estimators
            settings[t] = self._task_settings(
                base, task_params.get(name, {}), n_rounds, self.early_stopping_rounds
            )
            params = settings[t][0]
            params.setdefault("objective", _OBJECTIVES[kinds[t]])
            if kinds[t] == "ranking":
                # LambdaRank and the NDCG metric need a gain per grade; every
                # ranking objective limits a query's rows
                metric = params.get("metric")
                gains = (
                    params["objective"] == "lambdarank"
                    or metric is None
                    or ("ndcg" in str(metric))
                )
                rows = mask[:, t]
                checks = [(Yf[rows, t], query[rows], raw_query[rows])]
                if val is not None:  # the validation data meet the same limits
                    rows_val = val[2][:, t]
                    codes = val[3][rows_val]
                    checks.append((val[1][rows_val, t], codes, codes))
                for grades, codes, raw in checks:
                    if gains:
                        _check_label_gain(name, grades, params)
                    _check_query_sizes(name, codes, raw, self.query_col)

        # training and validation rows of each task (held out only when a booster
        # of the task early-stops and no eval_set is given)
        train_rows, valid_rows = {}, {}
        for t in range(n_tasks):
            rows = np.flatnonzero(mask[:, t])
            own = settings[t][2] is not None and settings[t][1] > 0
            if t not in shared:
                early = own
            elif strategy == "shared":
                early = self.early_stopping_rounds is not None
            else:
                early = self.early_stopping_rounds is not None or own
            if val is None and early:
                rng = np.random.default_rng([seed, t])
                groups = query if kinds[t] == "ranking" else None
                rows, held = _holdout(rows, self.validation_fraction, rng, groups)
                valid_rows[t] = held
            train_rows[t] = rows

        lgb_names = _lgb_feature_names(self.features_)
        cats = list(self.categorical_feature_indices_)
        self.tasks_ = dict(zip(names, kinds))
        self.targets_ndim_ = targets_ndim(
            Y if isinstance(Y, pd.DataFrame | pd.Series) else np.asarray(Y)
        )
        self.strategy_ = strategy
        self.chain_ = bool(self.chain)
        self.boosters_ = {}
        self.best_iteration_ = {}
        self.evals_result_ = {}
        self.shared_booster_ = None
        self.shared_tasks_ = [names[t] for t in shared]
        self.shared_init_score_ = {}
        self.shared_best_iteration_ = None

        shared_raw = {}
        if shared:
            shared_raw = self._fit_shared(
                lgb,
                base,
                shared,
                kinds,
                names,
                features,
                Yf,
                weights,
                val,
                train_rows,
                valid_rows,
                lgb_names,
                cats,
            )

        def task_data(t, F, rows, Fval=None, init=None, init_val=None):
            offset = self.init_score_columns_.get(names[t])

            def part(F, Y, W, q, idx, init):
                group = None
                if kinds[t] == "ranking":
                    idx, group = _group_rows(idx, q)
                if offset is not None:
                    init = F[idx, offset]
                out = {"X": F[idx], "y": Y[idx, t], "group": group, "init": init}
                if W is not None:
                    out["w"] = W[idx, t]
                return out

            train = part(F, Yf, weights, query, rows, init)
            valid = None
            if val is not None:
                Xv, Yv, maskv, qv = val
                idx = np.flatnonzero(maskv[:, t])
                if idx.size:
                    valid = part(Fval, Yv, None, qv, idx, init_val)
            elif valid_rows.get(t) is not None:
                valid = part(F, Yf, weights, query, valid_rows[t], init_val)
            return train, valid

        chain_train = np.empty((n_samples, 0))
        chain_val = np.empty((0 if val is None else val[0].shape[0], 0))
        for t, name in enumerate(names):
            params, n_rounds, es_rounds = settings[t]
            if t in shared:
                if strategy == "shared" or n_rounds == 0:
                    self.best_iteration_[name] = (
                        self.shared_best_iteration_ if strategy == "shared" else 0
                    )
                    continue
                init_tr, init_va = shared_raw[t]
                train, valid = task_data(
                    t,
                    features,
                    train_rows[t],
                    None if val is None else val[0],
                    init_tr,
                    init_va,
                )
                train["names"], train["cats"] = lgb_names, cats
                booster, best, evals = self._train(
                    lgb, name, params, n_rounds, es_rounds, train, valid
                )
            else:
                F = features
                Fval = None if val is None else val[0]
                names_t = lgb_names
                if self.chain_ and t > 0:
                    F = np.hstack([features, chain_train])
                    Fval = None if val is None else np.hstack([val[0], chain_val])
                    names_t = _lgb_feature_names(
                        self.features_ + [f"pred_{n}" for n in names[:t]]
                    )
                train, valid = task_data(t, F, train_rows[t], Fval)
                train["names"], train["cats"] = names_t, cats
                booster, best, evals = self._train(
                    lgb, name, params, n_rounds, es_rounds, train, valid
                )
                if self._offset_alone_is_better(
                    t, kinds[t], params, valid, evals, best
                ):
                    best = 0
                if self.refit and best > 0 and valid_rows.get(t) is not None:
                    every = np.sort(np.concatenate([train_rows[t], valid_rows[t]]))
                    train, _ = task_data(t, F, every)
                    train["names"], train["cats"] = names_t, cats
                    booster, best, _ = self._train(
                        lgb, name, params, best, None, train, None
                    )
                if self.chain_ and t < n_tasks - 1:
                    oof = self._out_of_fold(
                        lgb,
                        t,
                        kinds[t],
                        F,
                        Yf,
                        mask,
                        weights,
                        query,
                        params,
                        best,
                        names_t,
                        cats,
                        seed,
                    )
                    chain_train = np.hstack([chain_train, oof[:, None]])
                    if val is not None:
                        pred_val = booster.predict(
                            Fval, num_iteration=best, num_threads=base["num_threads"]
                        )
                        chain_val = np.hstack([chain_val, pred_val[:, None]])
            self.boosters_[name] = booster
            self.best_iteration_[name] = best
            if evals:
                self.evals_result_[name] = evals["valid"]
        return self

    def _fit_shared(
        self,
        lgb,
        base,
        shared,
        kinds,
        names,
        features,
        Yf,
        weights,
        val,
        train_rows,
        valid_rows,
        lgb_names,
        cats,
    ):
        """Train the shared booster; return each shared task's raw offsets."""
        with_task = len(shared) > 1
        shared_kinds = {kinds[t] for t in shared}
        mixed = len(shared_kinds) > 1
        params = dict(base)
        feval = None
        if mixed:
            params["objective"] = None  # set below, per Dataset rows
            params["metric"] = "None"
        else:
            params["objective"] = _OBJECTIVES[shared_kinds.pop()]

        init = {}
        for t in shared:
            rows = train_rows[t]
            y = Yf[rows, t]
            w = None if weights is None else weights[rows, t]
            mean = np.average(y, weights=w) if w is None or w.sum() > 0 else y.mean()
            if kinds[t] == "binary":
                mean = float(logit(np.clip(mean, _EPS, 1 - _EPS)))
            init[t] = float(mean)

        def stack(F, Y, W, rows_of):
            blocks, ys, ws, inits, is_bin = [], [], [], [], []
            for t in shared:
                rows = rows_of(t)
                if rows is None or rows.size == 0:
                    continue
                block = F[rows]
                if with_task:
                    block = np.hstack([block, np.full((rows.size, 1), float(t))])
                blocks.append(block)
                ys.append(Y[rows, t])
                if W is not None:
                    ws.append(W[rows, t])
                inits.append(np.full(rows.size, init[t]))
                is_bin.append(np.full(rows.size, kinds[t] == "binary"))
            if not blocks:
                return None
            out = {
                "X": np.vstack(blocks),
                "y": np.concatenate(ys),
                "init": np.concatenate(inits),
                "is_binary": np.concatenate(is_bin),
            }
            if ws:
                out["w"] = np.concatenate(ws)
            return out

        train = stack(features, Yf, weights, lambda t: train_rows[t])
        if val is not None:
            Xv, Yv, maskv, _ = val
            valid = stack(Xv, Yv, None, lambda t: np.flatnonzero(maskv[:, t]))
        else:
            valid = stack(features, Yf, weights, lambda t: valid_rows.get(t))
        train["names"] = lgb_names + ([_TASK_FEATURE] if with_task else [])
        n_features = features.shape[1]
        train["cats"] = cats + ([n_features] if with_task else [])
        if mixed:
            params["objective"] = MixedObjective(train["is_binary"])
            if valid is not None:
                feval = MixedLoss(valid["is_binary"])
        booster, best, evals = self._train(
            lgb,
            "shared",
            params,
            self.n_estimators,
            self.early_stopping_rounds,
            train,
            valid,
            feval=feval,
        )
        self.shared_booster_ = booster
        self.shared_best_iteration_ = best
        self.shared_init_score_ = {names[t]: init[t] for t in shared}
        if evals:
            self.evals_result_["shared"] = evals["valid"]

        # raw shared prediction (offset included) on each task's train/valid rows
        threads = base["num_threads"]

        def raw(F, rows, t):
            if rows is None or rows.size == 0:
                return None
            block = F[rows]
            if with_task:
                block = np.hstack([block, np.full((rows.size, 1), float(t))])
            pred = booster.predict(
                block, raw_score=True, num_iteration=best, num_threads=threads
            )
            return pred + init[t]

        offsets = {}
        if self.strategy == "finetune":
            for t in shared:
                if val is not None:
                    rows_val = np.flatnonzero(val[2][:, t])
                    raw_val = raw(val[0], rows_val, t)
                else:
                    raw_val = raw(features, valid_rows.get(t), t)
                offsets[t] = (raw(features, train_rows[t], t), raw_val)
        return offsets

    def _out_of_fold(
        self,
        lgb,
        t,
        kind,
        F,
        Yf,
        mask,
        weights,
        query,
        params,
        n_rounds,
        names,
        cats,
        seed,
    ):
        """Out-of-fold predictions of task ``t`` for every row (chain features)."""
        n_samples = F.shape[0]
        if n_samples < 2:
            raise ValueError("chain=True needs at least 2 rows in X.")
        oof = np.empty(n_samples)
        folds = KFold(min(_CHAIN_FOLDS, n_samples), shuffle=True, random_state=seed)
        threads = params["num_threads"]
        for train_idx, test_idx in folds.split(F):
            rows = train_idx[mask[train_idx, t]]
            if rows.size == 0:
                labelled = mask[:, t]
                oof[test_idx] = Yf[labelled, t].mean()
                continue
            data = {"label": Yf[rows, t]}
            if weights is not None:
                data["weight"] = weights[rows, t]
            if kind == "ranking":
                rows, sizes = _group_rows(rows, query)
                data = {"label": Yf[rows, t], "group": sizes}
                if weights is not None:
                    data["weight"] = weights[rows, t]
            dtrain = lgb.Dataset(
                F[rows], feature_name=names, categorical_feature=cats, **data
            )
            booster = lgb.train(params, dtrain, num_boost_round=n_rounds)
            oof[test_idx] = booster.predict(F[test_idx], num_threads=threads)
        return oof

    # ---------------------------------------------------------------- predict

    def _predict_column(self, features, t, previous, cache):
        """Predictions of task ``t`` (``previous`` holds the earlier tasks')."""
        name = list(self.tasks_)[t]
        if "threads" not in cache:  # once per predict call, not per task
            cache["threads"] = effective_n_jobs(self.n_jobs)
        threads = cache["threads"]
        if name not in self.shared_init_score_:
            F = features
            if self.chain_ and t > 0:
                F = np.hstack([features, previous[:, :t]])
            offset = getattr(self, "init_score_columns_", {}).get(name)
            if offset is not None and self.best_iteration_[name] == 0:
                raw = self._offset(features, offset, name).copy()  # beat every tree
                return expit(raw) if self.tasks_[name] == "binary" else raw
            if offset is None:
                return self.boosters_[name].predict(
                    F, num_iteration=self.best_iteration_[name], num_threads=threads
                )
            raw = self.boosters_[name].predict(
                F,
                raw_score=True,
                num_iteration=self.best_iteration_[name],
                num_threads=threads,
            )
            raw += self._offset(features, offset, name)
            return expit(raw) if self.tasks_[name] == "binary" else raw
        F = features
        if len(self.shared_tasks_) > 1:
            if "stacked" not in cache:  # one copy of X for every shared task
                n_samples, n_features = features.shape
                cache["stacked"] = np.empty((n_samples, n_features + 1))
                cache["stacked"][:, :n_features] = features
            F = cache["stacked"]
            F[:, -1] = t
        raw = self.shared_booster_.predict(
            F,
            raw_score=True,
            num_iteration=self.shared_best_iteration_,
            num_threads=threads,
        )
        raw += self.shared_init_score_[name]
        if name in self.boosters_:
            raw += self.boosters_[name].predict(
                features,
                raw_score=True,
                num_iteration=self.best_iteration_[name],
                num_threads=threads,
            )
        return expit(raw) if self.tasks_[name] == "binary" else raw

    def _offset(self, features, position, task):
        """Return the ``init_score`` column of ``task``, checked finite."""
        offset = features[:, position]
        if not np.isfinite(offset).all():
            raise ValueError(
                f"init_score column {self.features_[position]!r} (task {task!r}) "
                "has NaN or infinite values; an offset must be finite on every row."
            )
        return offset

    def _predict_matrix(self, X, todo=None):
        """(n_samples, n_tasks) predictions of the tasks ``todo`` (others NaN)."""
        check_is_fitted(self)
        features, _ = self._check_X(X, reset=False)
        n_tasks = len(self.tasks_)
        out = np.full((features.shape[0], n_tasks), np.nan)
        cache = {}
        for t in range(n_tasks) if todo is None else todo:
            out[:, t] = self._predict_column(features, t, out, cache)
        return out

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
        names = list(self.tasks_)
        columns = list(self.features_)
        if self.chain_:
            columns += [f"pred_{n}" for n in names[:-1]]
        table = np.zeros((len(names), len(columns)))
        d = len(self.features_)
        shared_gain = None
        if self.shared_booster_ is not None:
            shared_gain = self.shared_booster_.feature_importance(
                "gain", iteration=self.shared_best_iteration_
            )[:d]
        for t, name in enumerate(names):
            if name in self.shared_init_score_:
                table[t, :d] += shared_gain
            offset_only = name in getattr(self, "init_score_columns_", {}) and (
                self.best_iteration_[name] == 0
            )  # the head kept no tree: predict uses the offset alone
            if name in self.boosters_ and not offset_only:
                gain = self.boosters_[name].feature_importance(
                    "gain", iteration=self.best_iteration_[name] or None
                )
                table[t, : gain.size] += gain
        return pd.DataFrame(table, index=names, columns=columns)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        return tags
