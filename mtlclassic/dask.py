"""Dask engine: per-task LightGBM heads and batch scoring beyond one machine.

Install with ``pip install 'mtlclassic[dask]'`` (``dask[dataframe,distributed]``:
dask's extra pins ``distributed`` to dask's own release). Nothing here is
imported by ``import mtlclassic``. Importing this module checks the Dask stack
and raises an ``ImportError`` naming both installed versions and the install
command when dask or distributed is missing, mismatched or broken.

- :class:`DaskMultiTaskLGBM` trains each task's head with ``lightgbm.dask``
  (LightGBM's own distributed training) on that task's labelled rows, the
  partitions staying where they are; :meth:`DaskMultiTaskLGBM.to_local`
  returns an ordinary fitted :class:`~mtlclassic.MultiTaskLGBM` to save with
  :func:`mtlclassic.save` and score anywhere.
- :func:`predict_dask` scores a Dask DataFrame partition by partition with any
  fitted mtlclassic estimator, the default pipeline or a saved model file.

What stays on one node: the ALS and FM embedders fit on the whole interaction
matrix (implicit's ALS has no distributed mode); fit them, or the whole
pipeline, on one large node and apply them on the cluster with
:func:`predict_dask` (see the README).
"""

import copy
import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._batch.dask_scoring import _check_frame, predict_dask
from ._compat import (
    Interval,
    StrOptions,
    import_dask_stack,
    import_lightgbm,
    validate_data,
)
from .boosting import MultiTaskLGBM
from .boosting._lgbm_input import check_task_params
from .boosting._lgbm_input import lgb_feature_names as _lgb_feature_names
from .boosting._lgbm_train import base_params, histogram_layout, task_settings

__all__ = ["DaskMultiTaskLGBM", "predict_dask"]

import_dask_stack()  # a missing or mismatched dask/distributed fails here, clearly


def _distinct(series):
    """Distinct values of a Dask Series (per partition, then on the client)."""
    parts = series.map_partitions(
        lambda s: pd.Series(s.unique()), meta=series._meta
    ).compute()
    return pd.unique(parts.to_numpy())


def _meta_frame(X, categorical_features):
    """Return a small local frame with X's columns, dtypes and all categories.

    Categorical (pandas ``category``) columns must have known categories, the
    same on every partition; columns listed in ``categorical_features`` that
    are not ``category`` get their categories from the data (one pass).
    """
    meta = X._meta.copy()
    for col in meta.columns:
        dtype = meta[col].dtype
        if isinstance(dtype, pd.CategoricalDtype) and not X[col].cat.known:
            raise ValueError(
                f"X column {col!r} is categorical with unknown categories on the "
                "partitions; make them known and identical on every partition, "
                f"e.g. X = X.categorize(columns=[{col!r}]) or "
                f"X[{col!r}].cat.set_categories([...])."
            )
    listed = [] if isinstance(categorical_features, str) else categorical_features
    extra = [c for c in listed if c in meta.columns]
    extra = [c for c in extra if not isinstance(meta[c].dtype, pd.CategoricalDtype)]
    if extra:
        values = {c: pd.Series(_distinct(X[c].dropna())) for c in extra}
        for c, v in values.items():
            meta[c] = pd.Series(v.to_numpy(), dtype=meta[c].dtype).iloc[:0]
        # one row per category value so the template learns every one of them
        rows = max(len(v) for v in values.values())
        sample = pd.DataFrame(
            {
                c: (
                    pd.Series(
                        np.resize(values[c].to_numpy(), rows), dtype=meta[c].dtype
                    )
                    if c in values
                    else pd.Series(
                        np.resize(X._meta_nonempty[c].to_numpy(), rows),
                        dtype=meta[c].dtype,
                    )
                )
                for c in meta.columns
            }
        )
        return sample
    return X._meta_nonempty.copy()


class DaskMultiTaskLGBM(BaseEstimator):
    r"""Per-task LightGBM heads trained on a Dask cluster (``lightgbm.dask``).

    The ``strategy="separate"`` model of :class:`~mtlclassic.MultiTaskLGBM`:
    one booster per task, each trained by LightGBM's distributed
    (data-parallel) training on that task's labelled rows, the partitions
    staying on their workers. ``Y`` holds one column per task, NaN where a row
    has no label, as everywhere in mtlclassic.

    Parameters
    ----------
    tasks : None, list of str or dict, default=None
        Task kinds, ``"regression"`` or ``"binary"``; None infers them from
        each column's labels (one pass over ``Y``; {0, 1} gives binary).
        Ranking tasks are not supported here (train them with
        :class:`~mtlclassic.MultiTaskLGBM`).
    n_estimators, learning_rate, num_leaves, min_child_samples, subsample, \
colsample_bytree, reg_lambda
        As in :class:`~mtlclassic.MultiTaskLGBM` (the same defaults).
    task_params : dict of {task: dict}, default=None
        LightGBM parameters per task (e.g. ``{"click": {"num_leaves": 15}}``).
    categorical_features : "auto" or list of str, default="auto"
        ``category`` columns are categorical; listed columns too. Their
        categories must be known and identical on every partition: a
        ``category`` column with unknown categories raises ``ValueError``
        naming it (fix: ``X.categorize(columns=[...])``).
    early_stopping : None or "pilot", default=None
        ``lightgbm.dask`` has no early stopping. None: every head trains
        ``n_estimators`` trees. ``"pilot"``: first a local
        :class:`~mtlclassic.MultiTaskLGBM` with early stopping
        (``early_stopping_rounds``, ``validation_fraction``) on a random
        ``pilot_fraction`` of the rows (brought to the client), and each
        task's ``best_iteration_`` becomes its number of trees on the cluster.
        Trade-off: one extra pass and a sample that must fit in the client's
        memory; the number of trees chosen on a sample is usually a little
        low for the full data (the pilot's ``best_iteration_`` is in
        ``pilot_best_iteration_``).
    pilot_fraction : float, default=0.1
    early_stopping_rounds : int, default=20
    early_stopping_tol : float in [0, 1), default=0.0
        The pilot's relative tolerance
        (:class:`~mtlclassic.MultiTaskLGBM` ``early_stopping_tol``): a round
        counts as an improvement only when it beats the best validation loss
        so far by this fraction; 0 is LightGBM's rule.
    validation_fraction : float, default=0.1
    client : distributed.Client or None, default=None
        None uses the default client (``distributed.get_client``).
    random_state : int or None, default=None
    verbose : int, default=0
        Print one line per task.

    Attributes
    ----------
    tasks_ : dict of {str: str}
    boosters_ : dict of {str: lightgbm.Booster}
    best_iteration_ : dict of {str: int}
        Trees per task.
    pilot_best_iteration_ : dict of {str: int}
        ``early_stopping="pilot"`` only.
    n_features_in_, feature_names_in_

    Examples
    --------
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> import dask.dataframe as dd  # doctest: +SKIP
    >>> client = Client(LocalCluster(n_workers=2))  # doctest: +SKIP
    >>> model = DaskMultiTaskLGBM(n_estimators=200).fit(dX, dY)  # doctest: +SKIP
    >>> local = model.to_local()  # an ordinary MultiTaskLGBM  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        tasks=None,
        n_estimators=500,
        learning_rate=0.05,
        num_leaves=31,
        min_child_samples=20,
        subsample=1.0,
        colsample_bytree=1.0,
        reg_lambda=0.0,
        task_params=None,
        categorical_features="auto",
        early_stopping=None,
        pilot_fraction=0.1,
        early_stopping_rounds=20,
        early_stopping_tol=0.0,
        validation_fraction=0.1,
        client=None,
        random_state=None,
        verbose=0,
    ):
        self.tasks = tasks
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.task_params = task_params
        self.categorical_features = categorical_features
        self.early_stopping = early_stopping
        self.pilot_fraction = pilot_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.early_stopping_tol = early_stopping_tol
        self.validation_fraction = validation_fraction
        self.client = client
        self.random_state = random_state
        self.verbose = verbose

    def _template(self, **extra):
        """Return the local MultiTaskLGBM with this model's parameters."""
        extra.setdefault("tasks", self.tasks)
        extra.setdefault("task_params", self.task_params)
        return MultiTaskLGBM(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda,
            categorical_features=self.categorical_features,
            random_state=self.random_state,
            **extra,
        )

    _parameter_constraints: dict = {
        "tasks": [None, list, tuple, dict, StrOptions({"regression", "binary"})],
        "n_estimators": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "num_leaves": [Interval(numbers.Integral, 2, None, closed="left")],
        "min_child_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "subsample": [Interval(numbers.Real, 0, 1, closed="right")],
        "colsample_bytree": [Interval(numbers.Real, 0, 1, closed="right")],
        "reg_lambda": [Interval(numbers.Real, 0, None, closed="left")],
        "task_params": [None, dict],
        "categorical_features": [StrOptions({"auto"}), list, tuple],
        "early_stopping": [None, StrOptions({"pilot"})],
        "pilot_fraction": [Interval(numbers.Real, 0, 1, closed="right")],
        "early_stopping_rounds": [Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping_tol": [Interval(numbers.Real, 0, 1, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "client": [None, object],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __sklearn_clone__(self):
        # a distributed.Client cannot be deep-copied: the clone shares it
        params = self.get_params(deep=False)
        client = params.pop("client")
        return type(self)(**clone(params, safe=False), client=client)

    def _label_summary(self, Y, names):
        """Return ``Y`` as float64 and its per-partition summary (one pass).

        The summary holds the rows, the labels and the 0/1-ness of every task
        in every partition; non-numeric label columns raise ``TypeError``.
        """
        numeric = [
            c
            for c in Y.columns
            if pd.api.types.is_numeric_dtype(Y._meta[c].dtype)
            or pd.api.types.is_bool_dtype(Y._meta[c].dtype)
        ]
        text = [str(c) for c in Y.columns if c not in numeric]
        if text:
            raise TypeError(
                f"y columns {text} are not numeric; labels must be numbers (NaN "
                "where a row has no label)."
            )

        def summary(df):
            values = df.to_numpy(dtype=np.float64, na_value=np.nan)
            labelled = ~np.isnan(values)
            binary = np.all((values == 0) | (values == 1) | ~labelled, axis=0)
            return pd.DataFrame(
                [[len(df), *labelled.sum(axis=0), *binary]],
                columns=[
                    "rows",
                    *[f"n_{j}" for j in range(len(names))],
                    *[f"b_{j}" for j in range(len(names))],
                ],
            )

        Y = Y.astype("float64")
        return Y, Y.map_partitions(summary, meta=summary(Y._meta)).compute()

    def _kinds(self, names, summary):
        if isinstance(self.tasks, dict):
            unknown = [n for n in self.tasks if n not in names]
            if unknown:
                raise ValueError(
                    f"tasks names {unknown}, which are not columns of y; the "
                    f"columns are {names}."
                )
        elif isinstance(self.tasks, list | tuple) and len(self.tasks) != len(names):
            raise ValueError(
                f"tasks has {len(self.tasks)} kinds but y has {len(names)} columns."
            )
        counts = summary[[f"n_{j}" for j in range(len(names))]].sum().to_numpy()
        empty = [n for n, c in zip(names, counts) if c == 0]
        if empty:
            raise ValueError(
                f"Tasks {empty} have no label on any partition (every value is "
                "NaN); drop those columns of y."
            )
        kinds = {}
        for j, name in enumerate(names):
            binary = bool(summary[f"b_{j}"].all())
            if isinstance(self.tasks, dict):
                kind = self.tasks.get(name, "binary" if binary else "regression")
            elif isinstance(self.tasks, list | tuple):
                kind = self.tasks[j]
            elif isinstance(self.tasks, str):
                kind = self.tasks
            else:
                kind = "binary" if binary else "regression"
            if kind not in ("regression", "binary"):
                raise ValueError(
                    f"Task {name!r} is {kind!r}; DaskMultiTaskLGBM trains regression "
                    "and binary tasks (train ranking tasks with MultiTaskLGBM: "
                    "LightGBM's query groups must not span partitions)."
                )
            if kind == "binary" and not binary:
                raise ValueError(
                    f"Task {name!r} is 'binary' but has labels other than 0/1."
                )
            kinds[name] = kind
        return kinds

    def fit(self, X, y):
        """Train every task's head on its labelled rows, on the cluster.

        ``X`` and ``y`` are encoded and persisted on the workers once; each
        task then trains on the partitions that hold some of its labels (a
        worker without any of them takes no part in that task).

        Parameters
        ----------
        X : dask DataFrame of shape (n_samples, n_features)
        y : dask DataFrame of shape (n_samples, n_tasks)
            Partitioned like ``X`` (same partitions, same rows in each);
            NaN where a row has no label for a task.

        Returns
        -------
        self : DaskMultiTaskLGBM

        Raises
        ------
        TypeError
            ``X`` or ``y`` is not a Dask DataFrame (a Dask Series ``y``: use
            ``y.to_frame()``), or a label column is not numeric.
        ValueError
            Unknown categories of a ``category`` column, a task without any
            label, a ranking task, a binary task with other labels, ``X`` and
            ``y`` partitioned differently, infinite features.
        """
        self._validate_params()
        X = _check_frame(X, "X")
        Y = _check_frame(y, "y")
        if X.npartitions != Y.npartitions:
            raise ValueError(
                f"X has {X.npartitions} partitions and y {Y.npartitions}; "
                "partition them alike (e.g. both from one frame)."
            )
        client = self.client
        if client is None:
            from distributed import get_client  # optional: the dask extra

            client = get_client()
        with client.as_current():
            return self._fit(X, Y, client)

    def _fit(self, X, Y, client):
        names = [str(c) for c in Y.columns]
        template = self._template(tasks=None)
        encoded, Yf, summary, kinds = self._persist(X, Y, names, template, client)
        rs = self.random_state
        seed = (
            int(rs) % (2**31 - 1)
            if isinstance(rs, numbers.Integral)
            else int(check_random_state(rs).randint(2**31 - 1))
        )
        rounds = {n: self.n_estimators for n in names}
        self.pilot_best_iteration_ = {}
        if self.early_stopping == "pilot":
            rounds = self._pilot(X, Y, names, kinds, seed)
            self.pilot_best_iteration_ = dict(rounds)
        base = base_params(template, seed, 1)
        base.pop("num_threads")  # each worker uses its own threads
        overrides = check_task_params(template.task_params, names)
        boosters, best = {}, {}
        for j, name in enumerate(names):
            settings = task_settings(base, overrides.get(name, {}), rounds[name], None)
            n_trees = (
                rounds[name] if self.early_stopping == "pilot" else settings.n_rounds
            )
            holding = np.flatnonzero(summary[f"n_{j}"].to_numpy() > 0).tolist()
            boosters[name] = self._train_task(
                client, template, encoded, Yf[Yf.columns[j]], holding,
                kinds[name], settings.params, n_trees,
            )  # fmt: skip
            best[name] = int(boosters[name].current_iteration())
            if self.verbose:
                print(f"[DaskMultiTaskLGBM] task {name!r}: {best[name]} trees")
        self.local_ = template._trained_elsewhere(kinds, boosters, best)
        self.tasks_ = dict(kinds)
        self.boosters_ = boosters
        self.best_iteration_ = best
        self.n_features_in_ = template.n_features_in_
        if hasattr(template, "feature_names_in_"):
            self.feature_names_in_ = template.feature_names_in_
        return self

    def _persist(self, X, Y, names, template, client):
        """Encode X and Y once and persist them on the workers.

        One pass over the data: encoded features and labels stay on the
        workers for every task, and errors of a partition surface here.
        Returns (encoded X, float labels, per-partition summary, task kinds).
        """
        from distributed import wait  # optional: the dask extra

        meta = _meta_frame(X, self.categorical_features)
        validate_data(template, meta, reset=True, skip_check_array=True)
        template._fit_feature_spec(meta)
        lgb_names = _lgb_feature_names(template.features_)
        encoded = X.map_partitions(
            _encode_partition,
            template,
            lgb_names,
            meta=pd.DataFrame({c: pd.Series(dtype="float64") for c in lgb_names}),
        )
        Yf, summary = self._label_summary(Y, names)
        kinds = self._kinds(names, summary)
        encoded, Yf = client.persist([encoded, Yf])
        wait([encoded, Yf])
        rows_x = encoded.map_partitions(len).compute().to_numpy()
        rows_y = summary["rows"].to_numpy()
        if not np.array_equal(rows_x, rows_y):
            bad = int(np.flatnonzero(rows_x != rows_y)[0])
            raise ValueError(
                f"Partition {bad} of X has {rows_x[bad]} rows but that of y has "
                f"{rows_y[bad]}; X and y must hold the same rows in each partition "
                "(e.g. both from one frame)."
            )
        return encoded, Yf, summary, kinds

    def _train_task(self, client, template, encoded, label, holding, kind, params,
                    n_trees):  # fmt: skip
        """Train one task with lightgbm.dask on the partitions holding its labels."""
        lgb = import_lightgbm()  # the one boundary to the dependency (_compat)
        params = dict(histogram_layout(params))  # no num_threads: column-wise
        params.setdefault("objective", "binary" if kind == "binary" else "regression")
        params.pop("verbosity", None)
        labelled = label.notnull()
        features_t = encoded[labelled].partitions[holding]
        label_t = label[labelled].partitions[holding]
        cls = lgb.DaskLGBMClassifier if kind == "binary" else lgb.DaskLGBMRegressor
        model = cls(
            client=client, n_estimators=n_trees, verbosity=-1,
            **_sklearn_aliases(params),
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*categorical_feature.*")
            # lightgbm.dask sets each worker's threads itself and says so
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be")
            model.fit(
                features_t,
                label_t,
                categorical_feature=list(template.categorical_feature_indices_),
            )
        return model.booster_

    def _pilot(self, X, Y, names, kinds, seed):
        label_cols = [f"__label_{j}" for j in range(len(names))]
        frame = X.assign(**dict(zip(label_cols, (Y[c] for c in Y.columns))))
        sample = frame.sample(frac=self.pilot_fraction, random_state=seed).compute()
        labels = sample[label_cols].set_axis(names, axis=1).astype("float64")
        # a task needs labels on both sides of the pilot's validation split
        few = [n for n in names if labels[n].notna().sum() < 20]
        rounds = {n: self.n_estimators for n in few}
        if few:
            warnings.warn(
                f"the pilot sample (pilot_fraction={self.pilot_fraction}) holds "
                f"fewer than 20 labels of tasks {few}: they train n_estimators="
                f"{self.n_estimators} trees; raise pilot_fraction to early-stop them.",
                UserWarning,
                stacklevel=3,
            )
        kept = [n for n in names if n not in few]
        if kept:
            pilot = self._template(
                tasks=[kinds[n] for n in kept],
                early_stopping_rounds=self.early_stopping_rounds,
                early_stopping_tol=self.early_stopping_tol,
                validation_fraction=self.validation_fraction,
                task_params={
                    k: v for k, v in (self.task_params or {}).items() if k in kept
                }
                or None,
            )
            pilot.fit(sample[list(X.columns)], labels[kept])
            rounds.update({n: max(int(pilot.best_iteration_[n]), 1) for n in kept})
        return rounds

    def to_local(self):
        """Return an ordinary fitted :class:`~mtlclassic.MultiTaskLGBM` (a copy).

        It predicts exactly as this model (it holds the same boosters); save
        it with :func:`mtlclassic.save` and score it anywhere.
        """
        check_is_fitted(self, "local_")
        return copy.deepcopy(self.local_)

    def predict(self, X):
        """Predict every task on a Dask DataFrame (see :func:`predict_dask`).

        Returns
        -------
        Y_pred : dask DataFrame of shape (n_samples, n_tasks)
        """
        check_is_fitted(self, "local_")
        return predict_dask(self.local_, X)


_ALIASES = {
    "min_data_in_leaf": "min_child_samples",
    "feature_fraction": "colsample_bytree",
    "bagging_fraction": "subsample",
    "bagging_freq": "subsample_freq",
    "lambda_l2": "reg_lambda",
    "seed": "random_state",
}


def _sklearn_aliases(params):
    """LightGBM's native names -> the scikit-learn wrapper's own arguments.

    So the wrapper's defaults (``min_child_samples=20``, ...) do not compete
    with the native names (LightGBM would warn and pick one).
    """
    return {_ALIASES.get(k, k): v for k, v in params.items()}


def _encode_partition(df, template, lgb_names):
    """Return the model's float feature matrix of one partition (a DataFrame)."""
    if len(df) == 0:
        return pd.DataFrame(
            {c: pd.Series(dtype="float64") for c in lgb_names}, index=df.index
        )
    return pd.DataFrame(template._frame_matrix(df), columns=lgb_names, index=df.index)
