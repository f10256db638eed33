"""Training of MultiTaskLGBM: typed records of the data, one function per strategy.

``MultiTaskLGBM.fit`` validates its input into a :class:`FitData` and
dispatches to the strategies here, which return what they trained:

- :func:`fit_separate` — one booster on a task's labelled rows (with its
  ``init_score`` offset, early stopping and ``refit``);
- :func:`fit_chain` — the separate boosters in task order, each later task
  reading the earlier tasks' out-of-fold predictions;
- :func:`fit_shared` — one booster on the stacked rows of every shared task
  (task id as a categorical feature, a mixed objective for mixed kinds);
- :func:`fit_tower` — a task's own booster boosted from the shared raw
  score (``strategy="finetune"``).
"""

import contextlib
import hashlib
import numbers
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logit
from sklearn.model_selection import KFold
from sklearn.utils import check_random_state

from .._compat import effective_n_jobs
from .._crossfit import out_of_fold, with_config
from .._targets import check_targets
from .._task_weights import check_task_weights
from ._lgbm_input import (
    EvalData,
    FrameColumns,
    _canonical_names,
    check_early_stopping_tol,
    check_eval_set,
    check_init_score,
    check_ranking,
    check_task_params,
    check_weights,
    group_rows,
    holdout,
    lgb_feature_names,
    query_codes,
)
from ._lgbm_predict import apply_link, objective_link
from ._objectives import MixedLoss, MixedObjective, TaskWeightedObjective

OBJECTIVES = {"regression": "regression", "binary": "binary", "ranking": "lambdarank"}
# our parameter names -> LightGBM's canonical names (also accepted in task_params)
PARAM_ALIASES = {
    "learning_rate": "learning_rate",
    "num_leaves": "num_leaves",
    "min_child_samples": "min_data_in_leaf",
    "subsample": "bagging_fraction",
    "colsample_bytree": "feature_fraction",
    "reg_lambda": "lambda_l2",
}
CHAIN_FOLDS = 5
DART_KEYS = ("boosting", "boosting_type", "boost")  # LightGBM's aliases
TASK_FEATURE = "__task__"
EPS = 1e-15  # LightGBM's kEpsilon, used to clip the binary base rate


@dataclass
class TaskData:
    """The rows one booster trains or validates on."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray | None = None
    group: np.ndarray | None = None  # query sizes (ranking), rows grouped
    init: np.ndarray | None = None  # raw-score offsets (init_score)
    is_binary: np.ndarray | None = None  # per row, for the mixed objective
    task: np.ndarray | None = None  # per stacked row, its shared task's position

    def dataset(self, lgb, names=None, cats=None, reference=None, params=None):
        """Return the ``lightgbm.Dataset`` of these rows.

        ``params``: the Dataset's; needed when ``X`` is a
        :class:`FrameColumns` (every row of a DataFrame's features), read from
        a ``lightgbm.Sequence`` with :func:`sequence_params`.
        """
        X = self.X
        if isinstance(X, FrameColumns):
            X = row_sequence(lgb, X, None)
            if reference is None:
                if params is None:  # without the seed: other bins than the matrix's
                    raise TypeError("A FrameColumns Dataset needs the task's params.")
                params = sequence_params(params)
        extra = {} if reference is None else {"reference": reference}
        if params is not None:
            extra["params"] = dict(params)
        if names is not None:
            extra.update(feature_name=names, categorical_feature=cats)
        return lgb.Dataset(
            X,
            label=self.y,
            weight=self.w,
            group=self.group,
            init_score=self.init,
            **extra,
        )


def row_sequence(lgb, F, idx):
    """Return ``F[idx]`` as a ``lightgbm.Sequence``: read in batches, not copied.

    ``F``: an array or a :class:`FrameColumns`; ``idx``: row positions, or
    None for every row. With the parameters of :func:`sequence_params`,
    LightGBM builds the same Dataset from it as from ``F[idx]`` (the same
    sampled rows for the bins, the same values), without the copy of the
    rows (8 bytes per feature and row) beside ``F`` while it bins them.
    """

    class Rows(lgb.Sequence):
        batch_size = 65536
        block = (0, 0, None)  # the rows [lo, hi) last read for the bin sample

        def __len__(self):
            return F.shape[0] if idx is None else idx.size

        def __getitem__(self, i):
            if isinstance(i, numbers.Integral):
                # LightGBM reads its bin sample row by row, in ascending
                # order: served from blocks of rows read at once
                lo, hi, rows = self.block
                if not lo <= i < hi:
                    lo, hi = int(i), min(int(i) + 4096, len(self))
                    self.block = lo, hi, (rows := self[lo:hi])
                return rows[i - lo]
            return F[i] if idx is None else F[idx[i]]

    return Rows()


LAYOUT_KEYS = ("force_row_wise", "force_col_wise")


def histogram_layout(params):
    """Return the training ``params`` with LightGBM's histogram layout fixed.

    One thread builds row-wise histograms (``force_row_wise``), more threads
    column-wise ones (``force_col_wise``); parameters that already name a
    layout (a user's ``task_params``) are returned as they are. Fixing it
    keeps ``deterministic=True`` exact (LightGBM's advice: its automatic
    choice times both). One thread adds every bin's rows in row order in
    either layout, and the column-wise layout gives each feature's histogram
    to one thread, so the trees are the same to the model text with either
    layout and any number of threads (``tests/test_lgbm_layout.py``: dense,
    sparse, missing, categorical and bundled features). The exceptions are
    LightGBM's own: ``use_quantized_grad``, ``data_sample_strategy="goss"``
    and ``linear_tree`` give other trees with other thread counts in either
    layout. Row-wise is the faster with one thread on dense features: the
    default pipeline's two heads at 300k MovieLens-1M events (patience 10,
    two interleaved runs each) fitted in 7.7-7.8 s against 8.7-9.1 s
    column-wise (``benchmarks/README.md``, "ninth stop").
    """
    if any(key in params for key in LAYOUT_KEYS):
        return params
    if params.get("num_threads") == 1:
        return {**params, "force_row_wise": True}
    return {**params, "force_col_wise": True}


def dataset_params(setting):
    """Return the task parameters a ``lightgbm.Dataset`` can hold (no callables)."""
    return {k: v for k, v in setting.params.items() if not callable(v)}


_SEED_ALIASES = ("seed", "random_seed", "random_state")
_DATA_SEED_ALIASES = ("data_random_seed", "data_seed")


def sequence_params(params):
    """Return Dataset ``params`` for :func:`row_sequence`, with the bin sample's seed.

    From an array LightGBM draws the rows it bins on (when there are more
    than ``bin_construct_sample_cnt``) with the ``data_random_seed`` its C++
    config derives from ``seed``; from a Sequence, Python draws them and does
    not derive it (lightgbm 4.x). So a ``seed`` without a
    ``data_random_seed`` gets the derived one: the first draw of LightGBM's
    ``Random(seed).NextShort(0, 32767)``, ``x = 214013 x + 2531011`` (mod
    2^32), then ``(x >> 16) & 0x7FFF``. A test checks the trees are the
    same as from the copied rows.
    """
    seed = next((params[k] for k in _SEED_ALIASES if params.get(k) is not None), None)
    if seed is None or any(params.get(k) is not None for k in _DATA_SEED_ALIASES):
        return params
    x = (214013 * (int(seed) & 0xFFFFFFFF) + 2531011) & 0xFFFFFFFF
    return {**params, "data_random_seed": ((x >> 16) & 0x7FFF) % 32767}


@dataclass
class TaskSettings:
    """One task's LightGBM parameters, rounds, early-stopping rounds and tolerance."""

    params: dict
    n_rounds: int
    es_rounds: int | None
    es_tol: float = 0.0


class RelativeEarlyStopping:
    """LightGBM callback: early stopping on a relative improvement.

    The first validation metric (LightGBM's ``first_metric_only=True``)
    counts as improved only when it beats the best so far by more than
    ``tol * |best|``; training stops when it has not improved for ``rounds``
    rounds, and the booster's ``best_iteration`` is the last round that
    improved. ``tol=0`` is ``lightgbm.early_stopping(rounds,
    first_metric_only=True)``; LightGBM's own ``min_delta`` is absolute, so
    it depends on the scale of the labels, which a relative tolerance does
    not.
    """

    def __init__(self, lgb, rounds, tol):
        # instance attributes: lightgbm.train gives a callback without an
        # ``order`` in its __dict__ a negative one (first of all); 30 is
        # lightgbm.early_stopping's, after record_evaluation's 20
        self.order, self.before_iteration = 30, False
        self.stop_exception = lgb.callback.EarlyStopException
        self.rounds, self.tol = rounds, tol
        self.best = self.best_iter = self.best_list = None
        self.enabled = True

    def __call__(self, env):
        if env.iteration == env.begin_iteration:  # as lightgbm.early_stopping
            if not env.evaluation_result_list:
                raise ValueError(
                    "For early stopping, at least one dataset and eval metric is "
                    "required for evaluation"
                )
            if any(env.params.get(key) == "dart" for key in DART_KEYS):
                # DART rescales earlier trees: a model cut at its best round
                # is not the one evaluated there
                warnings.warn(
                    "Early stopping is not available in dart mode: every "
                    "round is kept.",
                    UserWarning,
                    stacklevel=2,
                )
                self.enabled = False
        if not self.enabled:
            return
        _, _, score, higher_better = env.evaluation_result_list[0][:4]
        gain = score - self.best if self.best is not None else np.inf
        if not higher_better:
            gain = -gain
        if self.best is None or gain > self.tol * abs(self.best):
            self.best, self.best_iter = score, env.iteration
            self.best_list = list(env.evaluation_result_list)
        stop = env.iteration - self.best_iter >= self.rounds
        if stop or env.iteration == env.end_iteration - 1:
            raise self.stop_exception(self.best_iter, self.best_list)


@dataclass
class FitData:
    """Everything a strategy needs, validated once by ``MultiTaskLGBM.fit``."""

    features: np.ndarray  # (n_samples, n_features) float64, encoded
    Y: np.ndarray  # (n_samples, n_tasks) float64 labels, NaN where missing
    mask: np.ndarray  # (n_samples, n_tasks) bool, labelled
    weights: np.ndarray | None  # (n_samples, n_tasks) or None
    query: np.ndarray | None  # (n_samples,) query codes (ranking) or None
    val: EvalData | None
    names: list
    kinds: list
    settings: list  # TaskSettings per task
    train_rows: dict = field(default_factory=dict)  # task -> row positions
    valid_rows: dict = field(default_factory=dict)  # task -> held-out rows
    shared: list = field(default_factory=list)  # positions of shared tasks
    offsets: dict = field(default_factory=dict)  # task name -> init_score column
    seed: int = 0
    threads: int = 1
    base_params: dict = field(default_factory=dict)
    feature_names: list = field(default_factory=list)  # the estimator's features_
    lgb_names: list = field(default_factory=list)
    cats: list = field(default_factory=list)
    verbose: int = 0
    task_weights: np.ndarray | None = None  # fixed, per shared task (None: all 1)
    task_weight_rule: str | None = None  # "uncertainty" or "mgda"
    task_weight_interval: int = 10

    def rows(self, t, F, idx, *, Y=None, W=None, query=None, init=None,
             features=True):  # fmt: skip
        """:class:`TaskData` of task ``t`` on rows ``idx`` of ``F``.

        Without ``features``: its labels, weights and offsets only (``X`` None).
        """
        Y = self.Y if Y is None else Y
        group = None
        if self.kinds[t] == "ranking":
            idx, group = group_rows(idx, self.query if query is None else query)
        offset = self.offsets.get(self.names[t])
        if offset is not None:
            init = F[idx, offset]
        w = None if W is None else W[idx, t]
        every = idx.size == F.shape[0] and np.array_equal(idx, np.arange(idx.size))
        X = F if every else F[idx] if features else None  # every row: no copy
        return TaskData(X, Y[idx, t], w, group, init)

    def task_data(self, t, F, rows, Fval=None, init=None, init_val=None):
        """Training and validation :class:`TaskData` of task ``t``."""
        train = self.rows(t, F, rows, W=self.weights, init=init)
        valid = None
        if self.val is not None:
            idx = np.flatnonzero(self.val.mask[:, t])
            if idx.size:
                valid = self.rows(
                    t, Fval, idx, Y=self.val.Y, query=self.val.query, init=init_val
                )
        elif self.valid_rows.get(t) is not None:
            valid = self.rows(t, F, self.valid_rows[t], W=self.weights, init=init_val)
        return train, valid


@dataclass
class Trained:
    """A trained booster, its best iteration and its validation history."""

    booster: object
    best: int
    evals: dict


@contextlib.contextmanager
def lightgbm_refusal(lgb, name):
    """Re-raise LightGBM's refusal of a booster's parameters naming the task."""
    try:
        yield
    except lgb.basic.LightGBMError as error:
        raise ValueError(
            f"LightGBM refused the parameters of the booster of {name!r} (its "
            f"task_params, or the estimator's own): {str(error).strip()}"
        ) from error


def train_booster(lgb, name, setting, train, valid, *, names, cats, feval=None,
                  verbose=0, datasets=None, share=None):  # fmt: skip
    """Train one booster (early-stopped on ``valid`` when asked).

    ``datasets``: ``(dtrain, dvalid)`` already built (subsets of one
    ``lightgbm.Dataset``, :func:`fit_separate`); ``train`` and ``valid`` then
    only give the row count and the validation rows' labels. ``share``: the
    :class:`SideBySide` of tasks trained at once (the booster gets one
    thread; it stops when another task failed).
    """
    start = time.perf_counter()
    callbacks = []
    if share is not None:
        setting = TaskSettings(
            {**setting.params, "num_threads": 1},
            setting.n_rounds, setting.es_rounds, setting.es_tol,
        )  # fmt: skip
        callbacks.append(share.callback())
    if datasets is None:
        lazy = isinstance(train.X, FrameColumns)
        dtrain = train.dataset(
            lgb, names, cats, params=dataset_params(setting) if lazy else None
        )
        dvalid = None
        if valid is not None:  # the reference's Dataset parameters, as LightGBM wants
            same = dtrain.get_params() if lazy else None
            dvalid = valid.dataset(lgb, reference=dtrain, params=same)
    else:
        dtrain, dvalid = datasets
    params = histogram_layout(setting.params)
    fraction = params.get("bagging_fraction", 1.0)
    if params.get("bagging_freq", 0) and int(train.y.size * fraction) < 1:
        # LightGBM would bag no row of so few (a scarce task's one labelled row)
        params = {**params, "bagging_fraction": 1.0}
    if datasets is not None:
        # binned already, with these parameters: LightGBM refuses to train on a
        # constructed Dataset given forcedbins_filename again, even unchanged
        params = {k: v for k, v in params.items() if k != "forcedbins_filename"}
    valid_sets, evals = None, {}
    if valid is not None:
        valid_sets = [dvalid]
        callbacks.append(lgb.record_evaluation(evals))
        if setting.es_rounds is not None and setting.es_tol > 0:
            callbacks.append(
                RelativeEarlyStopping(lgb, setting.es_rounds, setting.es_tol)
            )
        elif setting.es_rounds is not None:
            callbacks.append(
                lgb.early_stopping(
                    setting.es_rounds, first_metric_only=True, verbose=False
                )
            )
        if verbose >= 2:
            callbacks.append(lgb.log_evaluation(50))
    with lightgbm_refusal(lgb, name):
        booster = lgb.train(
            params,
            dtrain,
            num_boost_round=setting.n_rounds,
            valid_sets=valid_sets,
            valid_names=["valid"] if valid_sets else None,
            feval=feval,
            callbacks=callbacks,
        )
    best = booster.current_iteration()
    early = setting.es_rounds is not None and valid is not None
    if early and booster.best_iteration > 0:
        best = booster.best_iteration
    if verbose:
        print(
            f"[MultiTaskLGBM] {name}: {best} rounds on {dtrain.num_data()} rows "
            f"in {time.perf_counter() - start:.2f}s"
        )
    return Trained(booster, int(best), {k: dict(v) for k, v in evals.items()})


def offset_alone_is_better(kind, params, valid, trained):
    """Whether a task's ``init_score`` offset beats its early-stopped trees.

    Compared on the task's validation rows with LightGBM's default metric
    (l2, binary log loss); then the head keeps no tree (``best_iteration_``
    0), so it is never worse there than the offset it boosts from.
    """
    if (
        valid is None
        or valid.init is None
        or not trained.evals
        or "metric" in params
        or kind not in ("regression", "binary")
    ):
        return False
    y = valid.y
    link = objective_link(trained.booster)
    if link[0] == "other":
        return False
    # LightGBM's metrics score the objective's output (reg_sqrt's square, the
    # sigmoid with its sigma), as predict serves it
    served = apply_link(link, valid.init)
    if kind == "regression":
        metric, loss = "l2", (y - served) ** 2
    else:
        metric = "binary_logloss"
        p = np.clip(served, EPS, 1 - EPS)
        loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    history = trained.evals.get("valid", {}).get(metric)
    if not history:
        return False
    return float(np.average(loss, weights=valid.w)) <= history[trained.best - 1]


# parameters that differ between tasks and leave a Dataset's bins unchanged
_BOOSTER_ONLY = frozenset({"objective", "metric"})


def _canonical(value):
    """Return a hashable, ``==``-comparable form of a parameter (arrays by content)."""
    if hasattr(value, "__array__") and not isinstance(value, (str, bytes)):
        value = np.asarray(value)  # pandas Index or Series, numpy scalars
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_canonical(v) for v in value))
    if isinstance(value, dict):
        return (
            "dict",
            tuple(sorted((str(k), _canonical(v)) for k, v in value.items())),
        )
    return value


def _equal(a, b):
    """Return ``a == b`` as a bool (False when the values cannot say)."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def labelled_rows(data, t):
    """Task ``t``'s training and held-out rows, sorted (None without held-out rows)."""
    held = data.valid_rows.get(t)
    if held is None:
        return None
    return np.sort(np.concatenate([data.train_rows[t], held]))


def bins_once(data, t, held):
    """Whether task ``t``'s refit bins every labelled row once.

    A regression or binary task early-stopped on its own held-out rows
    (``held``; none with ``eval_set``): :func:`fit_separate` with ``refit``
    builds one Dataset of its :func:`labelled_rows`.
    """
    return held is not None and data.kinds[t] != "ranking"


class BinnedRows:
    """Binned Datasets of every labelled row, handed from task to task.

    The tasks are fitted one after another (``fit_separate`` with
    ``refit``). A task labelled on the same rows as a later one, with the
    same Dataset parameters (every parameter but ``objective`` and
    ``metric``; arrays compared by content), keeps its binned Dataset until
    the last such task has taken it; each takes it with its own labels,
    weights and ``init_score`` instead of binning the same feature values
    again (1.5 s of LightGBM's per 300k rows and 42 features). Its subsets
    then carry the new task's labels, as ``Dataset.subset`` copies them when
    constructed. A Dataset no later task can take is not kept. A task's
    rows are known by their count and a BLAKE2 digest until it is fitted
    (a kept Dataset's rows are compared in full before it is taken).
    ``copies``: each task takes a copy instead (tasks trained at once,
    :func:`fit_side_by_side`).
    """

    def __init__(self, data, tasks, copies=False):
        self.copies = copies
        self.keys = {}  # task -> (row count, rows' digest, Dataset parameters)
        for t in tasks:
            held = None if data.val is not None else data.valid_rows.get(t)
            if bins_once(data, t, held):
                rows = labelled_rows(data, t)
                params = dataset_params(data.settings[t])
                others = {k: v for k, v in params.items() if k not in _BOOSTER_ONLY}
                digest = hashlib.blake2b(rows.tobytes(), digest_size=16).digest()
                self.keys[t] = (rows.size, digest, _canonical(others))
        self.kept = []  # (key, rows, Dataset)

    def _wanted_after(self, t, key):
        return any(u > t and _equal(key, other) for u, other in self.keys.items())

    def take(self, t, every, task_rows):
        """Return the kept Dataset of rows ``every`` relabelled for ``t``, or None.

        With ``copies`` (tasks trained at once), a copy of it (its bins
        copied, ``Dataset.subset`` of every row), the kept one unchanged.
        """
        key = self.keys.get(t)
        found = next(
            (i for i, (k, rows, _) in enumerate(self.kept)
             if key is not None and _equal(k, key) and np.array_equal(rows, every)),
            None,
        )  # fmt: skip
        if found is None:
            return None
        full = self.kept[found][2]
        del self.keys[t]
        if not self._wanted_after(t, key):
            del self.kept[found]
        if self.copies:
            full = full.subset(np.arange(full.num_data(), dtype=np.int32))
            full.construct()
        full.set_label(task_rows.y)
        for name, values in (("weight", task_rows.w), ("init_score", task_rows.init)):
            if name == "weight" and values is not None and np.all(values == 1):
                values = None  # as LightGBM reads unit weights
            if values is None:  # set_weight(None) would keep the last task's
                full.set_field(name, None)
                setattr(full, name, None)
            else:
                getattr(full, f"set_{name}")(values)
        return full

    def keep(self, t, every, dataset):
        """Keep task ``t``'s binned Dataset if a later task can take it."""
        key = self.keys.pop(t, None)
        if key is not None and self._wanted_after(t, key):
            self.kept.append((key, every, dataset))


def every_row_dataset(lgb, data, t, F, every, names, binned=None):
    """Return task ``t``'s binned Dataset of the rows ``every`` (its labelled rows).

    Taken from ``binned`` (:class:`BinnedRows`) when an earlier task binned
    the same rows, else binned here (and kept there for a later task).
    """
    with lightgbm_refusal(lgb, data.names[t]):
        return _every_row_dataset(lgb, data, t, F, every, names, binned)


def _every_row_dataset(lgb, data, t, F, every, names, binned):
    setting = data.settings[t]
    rows = data.rows(t, F, every, W=data.weights, features=False)
    params = dataset_params(setting)
    full = None if binned is None else binned.take(t, every, rows)
    if full is None:
        if rows.X is None:  # some rows: read from F in batches, not copied
            rows.X = row_sequence(lgb, F, every)
            params = sequence_params(params)
        full = rows.dataset(lgb, names, data.cats, params=params)
        full.construct()  # binned now, so the rows' copy can go
        if binned is not None:
            binned.keep(t, every, full)
    return full


class SideBySide:
    """Tasks trained at once, one LightGBM thread each (:func:`fit_side_by_side`).

    A task that fails, or an interrupt, stops the others at their next round.
    """

    def __init__(self):
        self.failed = threading.Event()

    def callback(self):
        """Return a before-round callback that stops the booster if told to."""

        def stop_if_failed(env):
            if self.failed.is_set():
                raise _OtherTaskFailed

        stop_if_failed.before_iteration = True
        stop_if_failed.order = 0
        return stop_if_failed


class _OtherTaskFailed(Exception):
    """Raised in a task trained side by side when another task failed."""


# MultiTaskLGBM fits its separate tasks side by side up to this many labelled rows
# per task. The default pipeline's two heads on two cores, side by side against one
# after another with two threads each: 0.83-0.84 s against 1.02-1.08 s at 100k
# MovieLens-1M events, 2.46-2.49 against 2.72-2.74 s at 300k, 4.74-4.88 against
# 5.70-5.82 s at 600k, 8.63-8.95 against 8.62-8.76 s at 1M, where LightGBM's own
# two threads scale close to 2x (benchmarks/README.md, issue 31's twelfth stop)
SIDE_BY_SIDE_MAX_ROWS = 800_000


def task_rows(data, t):
    """Task ``t``'s labelled rows: training and held-out."""
    held = data.valid_rows.get(t)
    return len(data.train_rows[t]) + (0 if held is None else len(held))


def fit_side_by_side(lgb, data, tasks, n_threads, *, refit=False):
    """:func:`fit_separate` of ``tasks``, at once, one LightGBM thread each.

    Up to ``n_threads`` tasks run at once, each in a thread of its own with a
    booster of one thread: LightGBM's rounds synchronise their threads many
    times per tree, and one thread per booster does not (at 100k MovieLens-1M
    rows, two tasks: 2.70-2.89 -> 2.40-2.46 s on two cores; used up to
    ``SIDE_BY_SIDE_MAX_ROWS``). A task that ends does not hand its thread to
    the others' refits: while more threads than cores have run LightGBM's
    OpenMP (this thread's binning, every task's thread), libgomp barely spins
    at its barriers, and a two-thread booster in a task's thread took 0.90-1.01
    s where one thread takes 0.33 s (the default pipeline's heads at 100k
    MovieLens-1M events; benchmarks/README.md, issue 31's twelfth stop).
    Datasets are binned first, one after another, with every thread; a task
    labelled on the rows of an earlier one takes a copy of its binned Dataset
    (one more copy of the bins per task: ``n_rows x n_features`` bytes).
    Returns ``{t: Trained}``, as the one-after-another loop gives, to the bit.
    """
    binned = BinnedRows(data, tasks if refit else [], copies=True)
    full = {}
    for t in tasks:
        held = None if data.val is not None else data.valid_rows.get(t)
        if refit and bins_once(data, t, held):
            every = labelled_rows(data, t)
            full[t] = every_row_dataset(
                lgb, data, t, data.features, every, data.lgb_names, binned
            )
    del binned
    share = SideBySide()

    def run(t):
        try:
            return fit_separate(
                lgb, data, t, refit=refit, share=share, full=full.pop(t, None)
            )
        except BaseException:
            share.failed.set()  # the others stop at their next round
            raise

    with ThreadPoolExecutor(min(len(tasks), n_threads)) as pool:
        futures = {t: pool.submit(with_config(run), t) for t in tasks}
        trained, errors = {}, []
        try:
            for t, future in futures.items():
                try:
                    trained[t] = future.result()
                except _OtherTaskFailed:
                    pass
                except Exception as exc:  # noqa: BLE001 - the first one is raised
                    errors.append(exc)
        except BaseException:  # an interrupt here: the tasks stop at their next round
            share.failed.set()
            raise
        if errors:
            raise errors[0]
    return trained


def fit_separate(lgb, data, t, *, F=None, Fval=None, names=None, refit=False,
                 binned=None, share=None, full=None):  # fmt: skip
    """Train task ``t``'s own booster on ``F`` (the features by default).

    ``binned``: the :class:`BinnedRows` of the tasks fitted one after
    another (with ``refit``). ``share``: the :class:`SideBySide` of tasks
    trained side by side, with ``full`` their Dataset of every labelled row
    built beforehand (:func:`every_row_dataset`).
    """
    F = data.features if F is None else F
    if Fval is None and data.val is not None:
        Fval = data.val.X
    names = data.lgb_names if names is None else names
    setting = data.settings[t]
    held = data.valid_rows.get(t) if Fval is None else None
    if refit and bins_once(data, t, held):
        # one Dataset of every labelled row, binned once: early stopping
        # trains and validates on two subsets of it, the refit on all of it
        every = labelled_rows(data, t)
        if full is None:
            full = every_row_dataset(lgb, data, t, F, every, names, binned)
        train = TaskData(np.empty((0, F.shape[1])), np.empty(0))
        valid = data.rows(t, F, held, W=data.weights, features=False)
        datasets = (
            full.subset(np.searchsorted(every, data.train_rows[t])),
            full.subset(np.searchsorted(every, held)),
        )
    else:
        full = None
        train, valid = data.task_data(t, F, data.train_rows[t], Fval)
        datasets = None
    trained = train_booster(
        lgb, data.names[t], setting, train, valid, names=names, cats=data.cats,
        verbose=data.verbose, datasets=datasets, share=share,
    )  # fmt: skip
    if data.names[t] in data.offsets and offset_alone_is_better(
        data.kinds[t], setting.params, valid, trained
    ):
        trained.best = 0
    if refit and trained.best > 0 and held is not None:
        if full is None:
            train, _ = data.task_data(t, F, labelled_rows(data, t))
        again = TaskSettings(setting.params, trained.best, None)
        refitted = train_booster(
            lgb, data.names[t], again, train, None, names=names, cats=data.cats,
            verbose=data.verbose, datasets=None if full is None else (full, None),
            share=share,
        )  # fmt: skip
        # the validation history is the early-stopped run's (the refit has none)
        trained = Trained(refitted.booster, refitted.best, trained.evals)
    return trained


def chain_oof(lgb, data, t, F, n_rounds, names):
    """Out-of-fold predictions of task ``t`` for every row (chain features).

    Each fold's booster trains on the task's labelled rows of the other
    folds (:func:`mtlclassic._crossfit.out_of_fold`); a fold with no such row
    predicts the task's mean label.
    """
    n_samples = F.shape[0]
    if n_samples < 2:
        raise ValueError("chain=True needs at least 2 rows in X.")
    folds = KFold(min(CHAIN_FOLDS, n_samples), shuffle=True, random_state=data.seed)
    labelled = data.mask[:, t]
    params = data.settings[t].params

    def fit_predict(train, test):
        rows = train[labelled[train]]
        if rows.size == 0:
            return np.full(test.size, data.Y[labelled, t].mean())
        part = data.rows(t, F, rows, W=data.weights)
        dtrain = part.dataset(lgb, names, data.cats)
        booster = lgb.train(histogram_layout(params), dtrain, num_boost_round=n_rounds)
        return booster.predict(F[test], num_threads=params["num_threads"])

    return out_of_fold(fit_predict, F, splitter=folds)


def fit_chain(lgb, data, refit=False):
    """Train every task's booster in task order, as a chain.

    Task ``t`` reads the features and the earlier tasks' predictions:
    out-of-fold on the training rows, the full booster's on ``eval_set``.
    Returns ``{t: Trained}``.
    """
    chain_train = np.empty((data.features.shape[0], 0))
    chain_val = None if data.val is None else np.empty((data.val.X.shape[0], 0))
    out = {}
    for t in range(len(data.names)):
        F, Fval, names = data.features, None, data.lgb_names
        if t > 0:
            F = np.hstack([data.features, chain_train])
            Fval = None if data.val is None else np.hstack([data.val.X, chain_val])
            names = lgb_feature_names(
                data.feature_names + [f"pred_{n}" for n in data.names[:t]]
            )
        out[t] = trained = fit_separate(lgb, data, t, F=F, Fval=Fval, names=names,
                                        refit=refit)  # fmt: skip
        if t == len(data.names) - 1:
            break
        oof = chain_oof(lgb, data, t, F, trained.best, names)
        chain_train = np.hstack([chain_train, oof[:, None]])
        if data.val is not None:
            pred = trained.booster.predict(
                data.val.X if Fval is None else Fval,
                num_iteration=trained.best,
                num_threads=data.threads,
            )
            chain_val = np.hstack([chain_val, pred[:, None]])
    return out


# ------------------------------------------------------------------- shared


def _base_rates(data):
    """Each shared task's starting raw score: its (weighted) mean label."""
    init = {}
    for t in data.shared:
        rows = data.train_rows[t]
        y = data.Y[rows, t]
        w = None if data.weights is None else data.weights[rows, t]
        mean = np.average(y, weights=w) if w is None or w.sum() > 0 else y.mean()
        if data.kinds[t] == "binary":
            mean = float(logit(np.clip(mean, EPS, 1 - EPS)))
        init[t] = float(mean)
    return init


def _with_task(data, block, t):
    """``block`` with the task-id column when several tasks share a booster."""
    if len(data.shared) < 2:
        return block
    return np.hstack([block, np.full((block.shape[0], 1), float(t))])


def _stack(data, F, Y, W, rows_of, init):
    """Stack every shared task's rows into one :class:`TaskData` (None if empty)."""
    blocks, ys, ws, inits, is_bin, task = [], [], [], [], [], []
    for position, t in enumerate(data.shared):
        rows = rows_of(t)
        if rows is None or rows.size == 0:
            continue
        blocks.append(_with_task(data, F[rows], t))
        ys.append(Y[rows, t])
        if W is not None:
            ws.append(W[rows, t])
        inits.append(np.full(rows.size, init[t]))
        is_bin.append(np.full(rows.size, data.kinds[t] == "binary"))
        task.append(np.full(rows.size, position))
    if not blocks:
        return None
    return TaskData(
        np.vstack(blocks),
        np.concatenate(ys),
        np.concatenate(ws) if ws else None,
        init=np.concatenate(inits),
        is_binary=np.concatenate(is_bin),
        task=np.concatenate(task),
    )


@dataclass
class SharedFit:
    """The shared booster, its per-task base rates and raw scores."""

    trained: Trained
    init: dict  # task position -> starting raw score
    raw: dict = field(default_factory=dict)  # t -> (train raw, valid raw)
    weights_history: np.ndarray | None = None  # (n_rounds, n_shared)


def fit_shared(lgb, data, n_rounds, es_rounds, finetune=False, es_tol=0.0):
    """Train the one booster of the shared tasks on their stacked rows.

    With ``finetune``, also return each shared task's raw shared score (base
    rate included) on its training and validation rows, the offsets its
    tower boosts from.
    """
    kinds = {data.kinds[t] for t in data.shared}
    params = dict(data.base_params)  # task_params do not reach the shared booster
    init = _base_rates(data)
    train = _stack(data, data.features, data.Y, data.weights,
                   lambda t: data.train_rows[t], init)  # fmt: skip
    if data.val is not None:
        v = data.val
        valid = _stack(data, v.X, v.Y, None, lambda t: np.flatnonzero(v.mask[:, t]),
                       init)  # fmt: skip
    else:
        valid = _stack(data, data.features, data.Y, data.weights,
                       lambda t: data.valid_rows.get(t), init)  # fmt: skip
    feval, weighted = None, None
    if data.task_weights is not None:  # fixed weights: row weights, as in fit
        w = np.ones(train.y.size) if train.w is None else train.w
        train.w = w * data.task_weights[train.task]
    if data.task_weight_rule is not None and len(data.shared) > 1:
        # one shared task: its weight is 1 at every round (weights have mean
        # 1), so LightGBM's own objective, which (unlike a custom one) trains
        # on data with no splittable feature (LightGBM #5667)
        weighted = TaskWeightedObjective(
            train.is_binary, train.task, data.task_weight_rule,
            data.task_weight_interval,
        )  # fmt: skip
        params["objective"] = weighted
    elif len(kinds) > 1:
        params["objective"] = MixedObjective(train.is_binary)
    else:
        params["objective"] = OBJECTIVES[kinds.pop()]
    if callable(params["objective"]):  # a custom objective: our own metric
        params["metric"] = "None"
        feval = None if valid is None else MixedLoss(valid.is_binary)
    # the task-id feature's name made unique beside the columns ('__task__' of X)
    names = lgb_feature_names(
        data.lgb_names + ([TASK_FEATURE] if len(data.shared) > 1 else [])
    )
    cats = data.cats + ([data.features.shape[1]] if len(data.shared) > 1 else [])
    trained = train_booster(
        lgb, "shared", TaskSettings(params, n_rounds, es_rounds, es_tol), train, valid,
        names=names, cats=cats, feval=feval, verbose=data.verbose,
    )  # fmt: skip
    out = SharedFit(trained, init)
    if weighted is not None:
        out.weights_history = np.array(weighted.history)
    else:
        fixed = np.ones(len(data.shared)) if data.task_weights is None else (
            data.task_weights)  # fmt: skip
        out.weights_history = np.tile(fixed, (trained.booster.current_iteration(), 1))
    if finetune:
        for t in data.shared:
            if data.val is not None:
                rows_val = np.flatnonzero(data.val.mask[:, t])
                raw_val = _shared_raw(data, out, data.val.X, rows_val, t)
            else:
                raw_val = _shared_raw(data, out, data.features,
                                      data.valid_rows.get(t), t)  # fmt: skip
            raw = _shared_raw(data, out, data.features, data.train_rows[t], t)
            out.raw[t] = (raw, raw_val)
    return out


def _shared_raw(data, shared, F, rows, t):
    """Raw shared score (base rate included) of task ``t`` on rows of ``F``."""
    if rows is None or rows.size == 0:
        return None
    pred = shared.trained.booster.predict(
        _with_task(data, F[rows], t),
        raw_score=True,
        num_iteration=shared.trained.best,
        num_threads=data.threads,
    )
    return pred + shared.init[t]


def fit_tower(lgb, data, t, raw):
    """Train shared task ``t``'s own booster from its shared raw scores."""
    Fval = None if data.val is None else data.val.X
    train, valid = data.task_data(t, data.features, data.train_rows[t], Fval, *raw)
    return train_booster(
        lgb, data.names[t], data.settings[t], train, valid, names=data.lgb_names,
        cats=data.cats, verbose=data.verbose,
    )  # fmt: skip


# ------------------------------------------------------------- validate


def fit_data(est, X, Y, sample_weight, eval_set):
    """Validate the fit input into a :class:`FitData`."""
    if Y is None:
        raise ValueError(
            f"This {type(est).__name__} estimator requires y to be passed, "
            "but the target y is None."
        )
    features, query = est._check_X(X, reset=True, lazy=True)
    Yf, mask, kinds, names = check_targets(Y, est.tasks, n_samples=len(features))
    if est.chain and est.strategy != "separate":
        raise ValueError(
            f"chain=True requires strategy='separate'; got strategy={est.strategy!r}."
        )
    raw_query = None
    if "ranking" in kinds:
        if est.query_col is None:
            ranking = [n for n, k in zip(names, kinds) if k == "ranking"]
            raise ValueError(
                f"Tasks {ranking} are 'ranking' tasks, which need query_col: "
                "the column of X with each row's query id (e.g. 'user_id')."
            )
        raw_query = np.asarray(query)
        query = query_codes(query, est.query_col)
    task_params = check_task_params(est.task_params, names)
    check_early_stopping_tol(est.early_stopping_tol)  # a bool passes Interval
    offsets = check_init_score(
        est.init_score, names, kinds, features, strategy=est.strategy,
        chain=est.chain, columns=est.feature_columns_,
        categorical=est.categorical_feature_indices_,
    )  # fmt: skip
    weights = check_weights(sample_weight, mask, names)
    val = check_eval_set(est, eval_set, names, kinds)
    if isinstance(est.random_state, numbers.Integral):
        seed = int(est.random_state) % (2**31 - 1)
    else:
        seed = int(check_random_state(est.random_state).randint(2**31 - 1))
    base = base_params(est, seed, effective_n_jobs(est.n_jobs))
    shared = []
    if est.strategy != "separate":
        shared = [t for t, kind in enumerate(kinds) if kind != "ranking"]
    fixed, rule = _task_weighting(est, names, shared)
    data = FitData(
        features, Yf, mask, weights, query, val, names, kinds,
        all_settings(est, base, names, kinds, shared, task_params),
        shared=shared, offsets=offsets, seed=seed,
        threads=base["num_threads"], base_params=base,
        feature_names=list(est.features_),
        lgb_names=lgb_feature_names(est.features_),
        cats=list(est.categorical_feature_indices_), verbose=est.verbose,
        task_weights=fixed, task_weight_rule=rule,
        task_weight_interval=est.task_weight_interval,
    )  # fmt: skip
    check_ranking(data, raw_query, est.query_col)
    check_objective_labels(data, est.strategy)
    split_rows(est, data)
    return data


# LightGBM objectives (and their aliases) that read labels as 0/1 or as [0, 1]
_ZERO_ONE = {"binary": "{0, 1}", "cross_entropy": "[0, 1]", "xentropy": "[0, 1]",
             "cross_entropy_lambda": "[0, 1]", "xentlambda": "[0, 1]"}  # fmt: skip


def check_objective_labels(data, strategy):
    """Refuse a task's objective that cannot read its labels (binary on ratings).

    LightGBM's binary objective reads any positive label as 1: a rating task
    given ``objective="binary"`` in ``task_params`` fitted and predicted 1.
    """
    for t, name in enumerate(data.names):
        if t in data.shared and strategy == "shared":
            continue  # its task_params do not reach the shared booster (warned)
        objective = data.settings[t].params.get("objective")
        allowed = (
            _ZERO_ONE.get(objective.strip().lower())  # LightGBM reads it so
            if isinstance(objective, str) else None
        )  # fmt: skip
        rows = data.mask[:, t]
        if allowed is None or not rows.any():
            continue
        y = data.Y[rows, t]
        ok = np.isin(y, (0.0, 1.0)) if allowed == "{0, 1}" else (y >= 0) & (y <= 1)
        if not ok.all():
            raise ValueError(
                f"task {name!r}: the objective {objective!r} (task_params) reads "
                f"labels in {allowed}, but the task's labels run from "
                f"{float(y.min()):g} to {float(y.max()):g}; give it such labels, or "
                "another objective."
            )


def _task_weighting(est, names, shared):
    """Return the fixed weights (or None) and the rule of ``est.task_weights``."""
    if est.task_weights is None:
        return None, None
    if est.strategy == "separate":
        raise ValueError(
            "task_weights weigh the tasks of the shared booster; they need "
            f"strategy='shared' or 'finetune', not {est.strategy!r}."
        )
    shared_names = [names[t] for t in shared]
    if isinstance(est.task_weights, dict):
        ranking = [k for k in est.task_weights if k in names and k not in shared_names]
        if ranking:
            raise ValueError(
                f"task_weights names ranking tasks {ranking}, which are not shared "
                "(each keeps its own LambdaRank booster)."
            )
    fixed, rule = check_task_weights(est.task_weights, shared_names, allow_array=False)
    return (fixed if rule is None else None), rule


# ------------------------------------------------------------ settings


def base_params(est, seed, n_threads):
    """Return the LightGBM parameters of ``est`` common to every task."""
    return {
        "learning_rate": est.learning_rate,
        "num_leaves": est.num_leaves,
        "min_data_in_leaf": est.min_child_samples,
        "feature_fraction": est.colsample_bytree,
        "bagging_fraction": est.subsample,
        "bagging_freq": 1 if est.subsample < 1 else 0,
        "lambda_l2": est.reg_lambda,
        "num_threads": n_threads,
        "seed": seed,
        "deterministic": True,
        "verbosity": 1 if est.verbose >= 2 else -1,
    }


def task_settings(base, overrides, n_rounds, es_rounds, es_tol=0.0):
    """Apply one task's overrides to ``base``: a :class:`TaskSettings`.

    An override named by one of LightGBM's aliases of a parameter ``base``
    sets (``max_leaves``, ``eta``, ``min_samples_leaf``, ...) replaces it:
    LightGBM itself would keep the value under the main name and drop the
    alias with a warning that ``verbosity=-1`` hides.
    """
    params = dict(base)
    canonical = _canonical_names()
    for key, value in overrides.items():
        name = PARAM_ALIASES.get(key) or canonical.get(key, key)
        if key == "n_estimators" or name == "num_iterations":
            n_rounds = value
        elif key == "early_stopping_rounds" or name == "early_stopping_round":
            es_rounds = value
        elif key == "early_stopping_tol":
            es_tol = value
        else:
            if name not in base and name != "objective":
                name = key  # no clash with ours: LightGBM reads its alias
            params[name] = value  # the objective by its name: a default follows
            if name == "bagging_fraction" and not any(
                canonical.get(k, k) == "bagging_freq" for k in overrides
            ):
                params["bagging_freq"] = 1 if value < 1 else 0
    es_rounds = None if es_rounds is None else int(es_rounds)  # np.int64 too
    return TaskSettings(params, int(n_rounds), es_rounds, float(es_tol))


def all_settings(est, base, names, kinds, shared, task_params):
    """Every task's :class:`TaskSettings` (its overrides applied)."""
    if est.strategy == "shared":
        ignored = [names[t] for t in shared if names[t] in task_params]
        if ignored:
            warnings.warn(
                f"task_params for tasks {ignored} have no effect with "
                "strategy='shared': they are trained in the one shared booster, "
                "which uses the common parameters.",
                UserWarning,
                stacklevel=5,
            )
    settings = []
    for t, name in enumerate(names):
        n_rounds = est.n_estimators
        if est.strategy == "finetune" and t in shared:
            n_rounds = est.finetune_n_estimators
        setting = task_settings(
            base, task_params.get(name, {}), n_rounds, est.early_stopping_rounds,
            est.early_stopping_tol,
        )  # fmt: skip
        setting.params.setdefault("objective", OBJECTIVES[kinds[t]])
        settings.append(setting)
    return settings


def split_rows(est, data):
    """Split each task's labelled rows into training and validation rows.

    Rows are held out only when a booster of the task early-stops and no
    ``eval_set`` is given.
    """
    for t in range(len(data.names)):
        rows = np.flatnonzero(data.mask[:, t])
        setting = data.settings[t]
        own = setting.es_rounds is not None and setting.n_rounds > 0
        if t not in data.shared:
            early = own
        elif est.strategy == "shared":
            early = est.early_stopping_rounds is not None
        else:
            early = est.early_stopping_rounds is not None or own
        if data.val is None and early:
            rng = np.random.default_rng([data.seed, t])
            groups = data.query if data.kinds[t] == "ranking" else None
            rows, held = holdout(rows, est.validation_fraction, rng, groups)
            data.valid_rows[t] = held
            if held is None and rows.size:
                what = "query" if groups is not None else "labelled row"
                warnings.warn(
                    f"Task {data.names[t]!r} has a single {what}: nothing is left "
                    "to hold out for early stopping, so it keeps every one of its "
                    "rounds (pass eval_set, or more data).",
                    UserWarning,
                    stacklevel=4,
                )
            _check_split_weights(est, data, t, rows, held)
        data.train_rows[t] = rows


def _check_split_weights(est, data, t, train, held):
    """Refuse a split whose training or held-out rows all weigh 0 (task ``t``)."""
    if data.weights is None or held is None:
        return
    sides = ((held, "held out for early stopping"), (train, "left to train on"))
    for rows, what in sides:
        if rows.size and not data.weights[rows, t].any():
            raise ValueError(
                f"sample_weight is zero on every one of the {rows.size} rows of task "
                f"{data.names[t]!r} {what} (validation_fraction="
                f"{est.validation_fraction}, drawn with random_state): the validation "
                "score is undefined there. Give some of those rows weight, pass "
                "eval_set, or turn early stopping off (early_stopping_rounds=None)."
            )


# ------------------------------------------------------------- fitted state


def shared_fitted(data, shared):
    """Return the fitted attributes of the shared booster and its evals.

    ``({"shared_booster_": ..., "shared_best_iteration_": ...,
    "shared_init_score_": ..., "task_weights_history_": ...,
    "task_weights_": ...}, {"shared": validation history} or {})``.
    """
    best = shared.trained.best
    fitted = {
        "shared_booster_": shared.trained.booster,
        "shared_best_iteration_": best,
        "shared_init_score_": {data.names[t]: shared.init[t] for t in data.shared},
        "task_weights_history_": shared.weights_history,
        "task_weights_": shared.weights_history[max(best, 1) - 1].copy(),
    }
    evals = {"shared": shared.trained.evals["valid"]} if shared.trained.evals else {}
    return fitted, evals


def tasks_fitted(data, trained, shared_best):
    """Return each task's ``(boosters, best iterations, validation histories)``.

    A shared task without its own tower has no booster; its best iteration
    is ``shared_best`` (the shared booster's, for ``strategy="shared"``) or 0.
    """
    boosters, best, evals = {}, {}, {}
    for t, name in enumerate(data.names):
        if t not in trained:
            best[name] = shared_best
            continue
        boosters[name] = trained[t].booster
        best[name] = trained[t].best
        if trained[t].evals:
            evals[name] = trained[t].evals["valid"]
    return boosters, best, evals
