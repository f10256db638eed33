"""The default multi-task recommender Pipeline."""

import contextlib
import numbers
import re

import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.pipeline import Pipeline

from .._compat import effective_n_jobs
from .._targets import refuse_reordered_rows
from .._worker import worker
from ..boosting import MultiTaskLGBM
from ..embedding import ALSEmbedder, FMEmbedder
from ..embedding._als_ahead import fitted_ahead
from ..embedding._base import is_embedder
from ..model_selection import EventKFold

EMBEDDERS = ("fm", "als")


def make_multitask_recommender(
    *,
    tasks=None,
    embedders=("fm", "als"),
    user_col="user_id",
    item_col="item_id",
    time_col="timestamp",
    fm_target="all",
    fm_components=8,
    fm_n_iter=100,
    fm_alpha=None,
    factors=16,
    regularization=0.05,
    iterations=15,
    cv=5,
    fm_cv=3,
    cold_user_fraction=0.0,
    strategy="separate",
    n_estimators=1000,
    learning_rate=0.05,
    num_leaves=31,
    early_stopping_rounds=20,
    early_stopping_tol=3e-4,
    memory=None,
    n_jobs=None,
    random_state=None,
    verbose=0,
    **params,
):
    """Build the default pipeline: shared representations → per-task LightGBM heads.

    The steps, in order (each an ordinary scikit-learn estimator):

    0. ``"drop_time"`` (when ``time_col`` is not None): a ``ColumnTransformer``
       that drops the time column, if ``X`` has one, and passes every other
       column through, dtypes kept;
    1. ``"fmembedder"``: :class:`~mtlclassic.FMEmbedder` — a **Bayesian
       multi-task factorization machine** (Gibbs sampling, nothing to tune)
       over the ids and side features; it adds every task's FM score
       (``fm_score_<task>``, log-odds for a binary task) to the columns, so
       every head sees every task's score.
    2. ``"alsembedder"``: :class:`~mtlclassic.ALSEmbedder` — implicit-feedback
       ALS on *which* items each user touched (labels or not); it replaces the
       id columns by the dot product of the user's and the item's factors
       (``als_score``, ``features=("score",)``). The factors themselves are
       not features of the heads: ALS identifies them only up to a rotation,
       and trees that split on their coordinates cost 3x the heads' time for
       no gain. On MovieLens-1M and Book-Crossing (``python
       benchmarks/bench_heads.py --dataset all --seeds 0 1 2 --als-factors
       --set "score:drop_columns=^als_(user|item)_"``) the heads without them
       scored rating RMSE 0.8827 against 0.8834 and liked AUC 0.8021 against
       0.8016 (better on every seed), explicit AUC 0.7984 against 0.7985 and
       rating RMSE 1.5474 against 1.5482, and fitted in 0.96 against 3.1 s
       (MovieLens). ``alsembedder__features=("user", "item", "score")``
       gives the heads the factors again.
    - ``"drop_ids"``, only when no step replaces the id columns (no ALS,
       e.g. ``embedders=("fm",)``): drops them, so the heads neither read ids
       as numbers nor refuse text ids (the FM already encodes them); with a
       ranking task in ``tasks`` it keeps ``user_col`` for
       ``multitasklgbm__query_col``, which is not a feature.
    3. ``"multitasklgbm"``: :class:`~mtlclassic.MultiTaskLGBM` — one
       early-stopped LightGBM head per task on its labelled rows, over the side
       features and both embeddings, **boosting from its task's FM score**
       (``init_score="fm_score_{task}"``): the trees only add what the FM
       missed, and a head whose trees do not beat the FM score on its
       validation rows keeps none. The FM score is on the mean's scale, so a
       log-link head (``poisson``, ``gamma``, ``tweedie`` in ``task_params``)
       is refused at ``fit`` with it: pass ``multitasklgbm__init_score=None``.

    With ``fm_target="all"`` (default) the FM is a :class:`~mtlclassic.MultiTaskFM`
    whose factors are shared by every task (a shared bottom without a neural
    network); tasks labelled on the same rows get an estimated noise
    correlation, so a task derived from another (``liked`` = rating >= 4) is
    not counted twice. ``"each"`` fits one FM per task instead (the tasks then
    share only through the heads, which read every task's score).

    Both embedders are **cross-fitted** (their ``fit_transform`` returns
    out-of-fold features), so the heads never train on a representation fitted
    to their own rows: the pipeline is leak-free inside ``cross_validate`` and
    ``GridSearchCV``, and training features look like prediction features.
    Both output pandas, so side columns keep their dtypes (``category`` stays
    a LightGBM categorical).

    Defaults were chosen on real data (``python benchmarks/bench_real.py``,
    MovieLens-1M and Book-Crossing subsets of 100k events).

    Parameters
    ----------
    tasks : None, list or dict, default=None
        Task kinds (regression, binary, ranking). The FM fits a ranking
        task's grades as a regression (a feature for the LambdaRank head, not
        an offset); the head needs the query ids, which the ALS step replaces
        by factors: use ``embedders=("fm",)`` with
        ``multitasklgbm__query_col="user_id"``.
    embedders : tuple of {"fm", "als"} or embedder objects, default=("fm", "als")
        The shared representations, in that order, ``"als"`` (which replaces
        the id columns by factors) always last. ``"fm"`` and ``"als"`` are
        built from the parameters below, each at most once; an embedder
        object (any transformer following the protocol of
        :class:`~mtlclassic.embedding.BaseEmbedder`: ``user_col``,
        ``item_col``, ``fit``, ``transform``) is cloned (the object itself is
        left as it is), keeps its own parameters and gets
        ``set_output(transform="pandas")``; its step is named after its
        class in lower case. An object whose ``cv`` is None gets the
        pipeline's ``cv``, so the heads never train on in-sample features
        (set its ``cv=0`` to keep it in-sample). An embedder that reads the
        time (:class:`~mtlclassic.SessionEmbedder`, class attribute
        ``_reads_time``) runs first, before the time column is dropped.
    user_col, item_col : str, default="user_id", "item_id"
    time_col : str or None, default="timestamp"
        The event time column, which is **not a feature** of any step (it
        stays in the input columns; ``X`` without it is fine). Future events
        lie past the training window, where a tree puts every row in its
        newest-events leaf and the FM's terms extrapolate: on MovieLens-1M
        cut by time, keeping it moved the test rating R² between 0.06 and 0.20
        when one training event was added, and dropping it gives 0.24 ± 0.002
        (``python benchmarks/bench_stability.py``). Derive stationary features
        (hour, weekday, age of the item) instead; None keeps it as a feature.
    fm_target : {"all", "each"}, default="all"
        One multi-task FM with shared factors, or one FM per task (anything
        else is a ``ValueError``; for one task's FM pass
        ``embedders=(FMEmbedder("<task>"), "als")``).
    fm_components, fm_n_iter : FM parameters
        Factors and Gibbs sweeps (half of them burn-in).
    fm_alpha : float or None, default=None
        None: the Bayesian FM (``solver="mcmc"``, nothing to tune). A float
        switches to the penalised ALS solver with ``alpha_w = alpha_v =
        fm_alpha`` per unit of sample weight (exactly ``fm_n_iter`` epochs;
        30 are usually enough).
    factors, regularization, iterations : ALS parameters
    cv : int or splitter, default=5
        Cross-fitting folds of ALS and of embedder objects whose ``cv`` is
        None; the FM uses ``fm_cv`` instead when ``cv`` is an int >= 2 (so
        ``cv=2`` gives ALS 2 folds and the FM 3). 0, 1 or None turn
        cross-fitting off for every embedder (``fm_cv`` is then ignored). An
        int ``k`` means
        ``EventKFold(k, user_col=user_col,
        cold_user_fraction=cold_user_fraction, random_state=random_state)``
        (:class:`~mtlclassic.model_selection.EventKFold`): folds over events
        that stay put when events are appended (with a shuffled ``KFold``
        one more event reshuffles every fold). A splitter object is used as
        it is; folds are seeded with ``random_state`` when it is an int,
        else with 0.
    fm_cv : int or None, default=3
        Cross-fitting folds of the FM built from these parameters (``"fm"``)
        when ``cv`` is an int (the same ``EventKFold`` with ``fm_cv`` folds);
        ``fm_cv=None``, or a splitter ``cv``, gives the FM the folds of
        ``cv``. An ``FMEmbedder`` object in ``embedders`` keeps its own
        ``cv``. Each fold runs a warm-started chain of ``max(10, fm_n_iter //
        4)`` sweeps (25 by default), so the FM runs 100 + 3 x 25 = 175
        sweeps (225 with 5 folds): the whole pipeline fits 13-22% faster than
        with 5 folds, with the same accuracy (MovieLens-1M: rating RMSE
        0.8840 vs 0.8837, liked AUC 0.8011 vs 0.8013; Book-Crossing: explicit
        AUC 0.7984 both, rating RMSE 1.5474 vs 1.5479; 3 seeds, ``python
        benchmarks/bench_sweeps.py --sweeps 100 --fm-cv 5 3 --seeds 0 1
        2``).
    cold_user_fraction : float in [0, 1), default=0.0
        Share of users whose events form whole cross-fitting folds, so the
        heads also train on rows whose embeddings look like an unseen
        user's. On MovieLens-1M cut by time (38% of the test events by new
        users) 0.2 gave the same accuracy (liked AUC 0.744 vs 0.745, rating
        R² 0.242 vs 0.240) and more spread across cuts, so it is off by
        default (``python benchmarks/bench_stability.py
        --cold-user-fraction 0.2``).
    strategy : {"separate", "shared", "finetune"}, default="separate"
        How the heads share (``MultiTaskLGBM``). With ``"separate"`` each
        head boosts from its FM score (``init_score``); with a shared booster
        the FM scores are features only.
    n_estimators, learning_rate, num_leaves, early_stopping_rounds : LightGBM
        Early stopping uses each task's own 10% validation rows; then each
        head is refitted on all its labelled rows with that many trees
        (``multitasklgbm__refit=True``), which made the test metrics 3x less
        sensitive to which rows were held out (MovieLens-1M). Patience 20
        (``early_stopping_rounds``) scored as 50 did on MovieLens-1M and
        Book-Crossing (RMSE 0.8837 vs 0.8838, AUC 0.8013 vs 0.8009 and
        Book-Crossing equal, 3 seeds) with 25% less head time; learning rate
        0.1 or no refit cut the heads' time by a third to 40% and cost about
        0.001-0.002 RMSE (``python benchmarks/bench_heads.py --seeds 0 1 2
        --set p20:early_stopping_rounds=20 p10:early_stopping_rounds=10``).
    early_stopping_tol : float in [0, 1), default=3e-4
        A round counts as an improvement of a head's validation loss only
        when it beats the best so far by more than this fraction
        (``MultiTaskLGBM(early_stopping_tol=...)``; 0 is LightGBM's rule). The
        heads boost from the FM scores, so their validation curves are flat
        and plain early stopping stopped on noise: on all of MovieLens-1M (a
        random 80/20 split, seed 0) the two heads kept 529 trees with 0, 230
        with 1e-4 and 101 with 3e-4, at test RMSE 0.8467, 0.8465 and 0.8466
        and liked AUC 0.8246 in all three (seed 1: 159 trees with 1e-4 and
        118 with 3e-4, RMSE 0.8433 and 0.8434, AUC 0.8263 both; the two seeds
        differ by 0.003; ``python benchmarks/bench_heads.py --n-events
        1000000 --dataset movielens --seeds 0 1 --set
        tol3:early_stopping_tol=3e-4``). On the 100k-event subsets of
        MovieLens-1M and Book-Crossing (3 seeds) 3e-4 scored as 1e-4 (liked
        AUC 0.8016 vs 0.8014, every other figure equal; LightGBM's rule:
        0.8834 / 0.8011 / 0.7984 against 0.8833 / 0.8016 / 0.7985). The
        heads' fit time and their predict time follow the trees kept, which
        now grow little with the data: on the first 300k MovieLens-1M events
        in time order (``benchmarks/bench_scale.py``'s rows) 1e-4 kept 243
        trees and 3e-4 121, and the heads fitted in 24 and 15 s.
    memory : str, joblib.Memory or None, default=None
        Cache of the fitted embedders (``Pipeline(memory=...)``): a grid search
        over the heads' parameters then fits the embedders once per fold.
    n_jobs, random_state, verbose :
        Passed to every step. ``n_jobs`` bounds ALS's and LightGBM's threads,
        and runs the FM's cross-fitting folds beside its chain on all rows,
        in a worker process when one is ready
        (:class:`~mtlclassic.FMEmbedder`); the fitted model does not depend
        on it. On MovieLens-1M ``n_jobs=2`` fitted 1.43-1.44x faster than
        ``n_jobs=1`` on two cores at 100k events (5.5 against 7.9 s),
        1.62-1.63x at 300k (14.3 against 23.2 s) and 1.54-1.60x at 1M (50.5
        against 77.8 s, 46.7 against 74.5 s; ``python benchmarks/bench_scale.py
        --n-jobs 1 2``, two runs),
        with the ALS step fitted on the cores the FM leaves idle
        (:class:`MultiTaskPipeline`) and the heads' tasks side by side; the
        FM's chain on all rows is one Markov chain, which bounds its part at
        1.25-1.45x, and the FM is three quarters of the fit.
    **params : dict
        Any other step parameter as ``<step>__<parameter>``, e.g.
        ``multitasklgbm__min_child_samples=50``.

    Returns
    -------
    MultiTaskPipeline
        A scikit-learn ``Pipeline`` whose ``fit`` fits the ALS step on the
        cores the FM leaves idle when ``n_jobs >= 2`` (the fitted model is
        ``Pipeline.fit``'s, to the bit; see :class:`MultiTaskPipeline`).

    Examples
    --------
    >>> from mtlclassic import make_multitask_recsys, make_multitask_recommender
    >>> X, Y = make_multitask_recsys(n_users=60, n_items=40, n_events=1500,
    ...                              random_state=0)
    >>> model = make_multitask_recommender(n_estimators=30, fm_n_iter=5, factors=8,
    ...                                    random_state=0).fit(X, Y)
    >>> [name for name, _ in model.steps]
    ['drop_time', 'fmembedder', 'alsembedder', 'multitasklgbm']
    >>> model.predict(X.head(3)).shape
    (3, 3)
    """
    embedders = _check_embedders(embedders)
    if not (isinstance(fm_target, str) and fm_target in ("all", "each")):
        raise ValueError(
            f"fm_target must be 'all' or 'each'; got {fm_target!r}. For an FM of "
            "one task, pass the object: embedders=(FMEmbedder('<task>'), 'als') "
            "(the heads then boost that task from its FM score only)."
        )
    if fm_cv is not None and not (
        isinstance(fm_cv, numbers.Integral)
        and not isinstance(fm_cv, bool)
        and fm_cv >= 2
    ):
        raise ValueError(f"fm_cv must be None or an int >= 2; got {fm_cv!r}.")

    def event_folds(k):
        return EventKFold(
            int(k),
            user_col=user_col,
            cold_user_fraction=cold_user_fraction,
            random_state=random_state
            if isinstance(random_state, numbers.Integral)
            else 0,
        )

    fm_folds = cv
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool) and cv >= 2:
        cv = event_folds(cv)
        fm_folds = cv if fm_cv is None else event_folds(fm_cv)
    common = dict(user_col=user_col, item_col=item_col, cv=cv,
                  random_state=random_state)  # fmt: skip
    steps = []
    # embedders that read the time (sessions) come before the time is dropped
    timed = [e for e in embedders if getattr(e, "_reads_time", False)]
    for embedder in timed:
        steps.append((_step_name(embedder, steps), _object_step(embedder, cv)))
    if time_col is not None:
        steps.append(("drop_time", _drop_columns([time_col])))
    for embedder in (e for e in embedders if not getattr(e, "_reads_time", False)):
        if isinstance(embedder, str) and embedder == "fm":
            step = _fm_step(tasks, fm_target, fm_components, fm_n_iter, fm_alpha,
                            n_jobs, verbose, {**common, "cv": fm_folds})  # fmt: skip
            hidden = [e._output_pattern for e in timed if hasattr(e, "_output_pattern")]
            if hidden:  # the heads, not the FM, read the session features
                step.set_params(exclude="|".join(hidden))
        elif isinstance(embedder, str) and embedder == "als":
            step = _als_step(factors, regularization, iterations, n_jobs, verbose,
                             common)  # fmt: skip
        else:  # an embedder object, with its own parameters
            step = _object_step(embedder, cv)
        steps.append((_step_name(step, steps), step))
    if not any(_replaces_ids(e) for e in embedders):
        # no step replaced the ids: the heads do not read them as numbers
        # (nor fail on text ids); a ranking head keeps its query ids
        ids = [item_col] if _has_ranking(tasks) else [user_col, item_col]
        steps.append(("drop_ids", _drop_columns(ids)))
    head = MultiTaskLGBM(
        tasks=tasks,
        strategy=strategy,
        n_estimators=n_estimators,
        learning_rate=learning_rate,
        num_leaves=num_leaves,
        early_stopping_rounds=early_stopping_rounds,
        early_stopping_tol=early_stopping_tol,
        refit=True,
        # offsets are per-task boosters' (separate heads); shared heads read
        # the FM scores as features
        init_score=_fm_offsets(embedders) if strategy == "separate" else None,
        n_jobs=n_jobs,
        random_state=random_state,
        verbose=verbose,
    )
    steps.append(("multitasklgbm", head))
    pipeline = MultiTaskPipeline(steps, memory=memory)
    if params:
        pipeline.set_params(**params)
    return pipeline


def _replaces_ids(embedder):
    """Whether an ``embedders`` entry replaces the id columns (ALS does)."""
    if isinstance(embedder, str):
        return embedder == "als"
    return isinstance(embedder, ALSEmbedder)


def _has_ranking(tasks):
    """Whether ``tasks`` declares a ranking task."""
    if isinstance(tasks, dict):
        tasks = tasks.values()
    elif tasks is None or isinstance(tasks, str):
        return False
    return any(isinstance(kind, str) and kind == "ranking" for kind in tasks)


def _check_embedders(embedders):
    """Return ``embedders`` as a tuple of "fm", "als" and embedder objects."""
    if isinstance(embedders, str) or not hasattr(embedders, "__iter__"):
        embedders = (embedders,)
    embedders = tuple(embedders)
    bad = [
        e
        for e in embedders
        if not (isinstance(e, str) and e in EMBEDDERS)
        and (isinstance(e, str) or not (is_embedder(e) and hasattr(e, "fit")))
    ]
    names = [e for e in embedders if isinstance(e, str)]
    if not embedders or bad or len(set(names)) < len(names):
        raise ValueError(
            f"embedders must be a non-empty subset of {EMBEDDERS} (each once) or "
            "embedder objects (scikit-learn transformers with user_col and "
            "item_col, e.g. a subclass of mtlclassic.embedding.BaseEmbedder); got "
            f"{embedders!r}."
        )
    # ALS replaces the id columns by factors: it comes after every other step
    return tuple(e for e in embedders if not (isinstance(e, str) and e == "als")) + (
        ("als",) if "als" in names else ()
    )


def _object_step(embedder, cv):
    """Return a clone of an embedder object as a step.

    Pandas output, and the pipeline's folds if its ``cv`` is unset; the
    caller's object is left as it was, and two pipelines built from it do not
    share a step.
    """
    step = clone(embedder).set_output(transform="pandas")
    if step.get_params().get("cv", False) is None:
        step.set_params(cv=cv)  # cross-fitted like the built-in steps
    return step


def _step_name(step, steps):
    """Return the lower-cased class name, made unique as ``make_pipeline`` does."""
    name = type(step).__name__.lower()
    taken = {n for n, _ in steps}
    candidate, k = name, 1
    while candidate in taken:
        k += 1
        candidate = f"{name}-{k}"
    return candidate


# LightGBM's objective parameter and its aliases
_OBJECTIVE_KEYS = ("objective", "objective_type", "app", "application", "loss")


def _fm_offsets(embedders):
    """Return the heads' ``init_score``: the FM score column of each FM task.

    ``"fm"`` and an ``FMEmbedder`` of every task (``target="all"``/``"each"``)
    give the template ``"fm_score_{task}"``; an ``FMEmbedder`` of one named
    task gives that task's column; no FM gives None (no offsets).
    """
    spec = {}
    for e in embedders:
        if isinstance(e, str):
            if e == "fm":
                return "fm_score_{task}"
            continue
        if not isinstance(e, FMEmbedder) or "scores" not in tuple(e.features):
            continue
        if isinstance(e.target, str) and e.target in ("all", "each"):
            return "fm_score_{task}"
        if isinstance(e.target, str):
            spec[e.target] = f"fm_score_{e.target}"
    return spec or None


def _fm_step(tasks, target, components, n_iter, alpha, n_jobs, verbose, common):
    solver = {}
    if alpha is not None:
        solver = dict(solver="als", alpha_w=alpha, alpha_v=alpha, tol=0)
    return FMEmbedder(
        target,
        components,
        n_iter=n_iter,
        **solver,
        tasks=tasks,
        features=("scores",),
        n_jobs=n_jobs,
        verbose=verbose,
        **common,
    ).set_output(transform="pandas")


def _als_step(factors, regularization, iterations, n_jobs, verbose, common):
    return ALSEmbedder(
        factors=factors,
        regularization=regularization,
        iterations=iterations,
        features=("score",),
        n_jobs=n_jobs,
        verbose=verbose,
        **common,
    ).set_output(transform="pandas")


class _NamedColumns(make_column_selector):
    """``make_column_selector(pattern=...)`` matching every column name as text.

    scikit-learn's applies ``.str.contains`` to the names, which fails on a
    frame with int column names; an array has no names to match.
    """

    def __call__(self, df):
        if not hasattr(df, "columns"):
            raise ValueError(
                "make_multitask_recommender drops its time_col (and id columns "
                "the heads do not read) by name, but X is an array without "
                "column names: pass a DataFrame, or time_col=None."
            )
        pattern = re.compile(self.pattern)
        return [c for c in df.columns if pattern.search(str(c))]


def _drop_columns(columns):
    """Return a ColumnTransformer dropping ``columns`` where present, the rest kept."""
    pattern = "^(?:" + "|".join(re.escape(str(c)) for c in columns) + ")$"
    return ColumnTransformer(
        [("drop", "drop", _NamedColumns(pattern=pattern))],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")


class MultiTaskPipeline(Pipeline):
    """The default pipeline's class: a scikit-learn ``Pipeline`` that fits ALS ahead.

    Everything is ``Pipeline``'s (steps, parameters, ``memory``, caching,
    metadata routing, ``clone``, pickling), except that :meth:`fit` fits the
    :class:`~mtlclassic.ALSEmbedder` step on the cores the
    :class:`~mtlclassic.FMEmbedder` step leaves idle with ``n_jobs >= 2``: a
    clone of the ALS step, one thread, fitted from the id columns of ``X``
    (which the FM passes through). Its models are fitted in the worker
    process while the FM's chain is in its burn-in (the FM's folds take the
    worker at the end of it, waiting for one model at most), the rest and the
    step's out-of-fold embedding in the calling process once the FM's chain
    ends with its folds still in the worker. The ALS step takes each model
    fitted ahead for exactly its inputs (the user x item matrix, the id
    order, every ALS parameter) and the out-of-fold embedding for exactly its
    id columns, folds and parameters, and fits what is left itself with all
    its threads (:mod:`mtlclassic.embedding._als_ahead`). The fitted
    pipeline is the one ``Pipeline.fit`` gives, to the bit (ALS's factors do
    not depend on its thread count). With ``n_jobs=2`` the ALS step took
    0.0-0.2 s, against 1.0 s, 2.7-2.8 s and 9.0-9.2 s with one thread at
    100k, 300k and 1M MovieLens-1M events (``benchmarks/README.md``, issue
    31's eighth stop).

    It applies when ``X`` is a DataFrame with the ALS step's columns, exactly
    one FMEmbedder step comes before exactly one ALS step, both have
    ``n_jobs >= 2``, ``memory`` is None (a cached ALS step would take
    nothing), and every step is one of the default pipeline's kinds (a
    ``ColumnTransformer``, the embedders, the heads; BLAS keeps one thread
    during the fit, as these steps ask for anyway); otherwise :meth:`fit` is
    ``Pipeline.fit``.

    Parameters
    ----------
    steps, memory, transform_input, verbose
        As ``sklearn.pipeline.Pipeline``'s.
    """

    def fit(self, X, y=None, **params):
        """Fit the steps in order (ALS ahead, see the class); return ``self``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_events, n_columns)
        y : DataFrame or array-like of shape (n_events, n_tasks), default=None
        **params : dict
            ``Pipeline.fit``'s (``<step>__<parameter>`` fit parameters).

        Returns
        -------
        self : MultiTaskPipeline
        """
        self._check_offset_links()
        refuse_reordered_rows(X, y=y)
        with self._als_ahead(X):
            return super().fit(X, y, **params)

    def _check_offset_links(self):
        """Refuse a log-link head boosting from the FM's mean-scale score.

        The default heads boost from ``fm_score_<task>``, the FM's prediction
        of the task's mean. A ``poisson``/``gamma``/``tweedie`` objective adds
        its offset on the log scale: a rating's 3 became a start of e^3 = 20,
        and predictions came out 5x too high.
        """
        heads = self.steps[-1][1]
        if not isinstance(heads, MultiTaskLGBM) or heads.init_score is None:
            return
        spec = heads.init_score
        for task, params in (heads.task_params or {}).items():
            column = spec.replace("{task}", str(task)) if isinstance(spec, str) else (
                spec.get(task) if isinstance(spec, dict) else None)  # fmt: skip
            objective = next((params[k] for k in _OBJECTIVE_KEYS if k in params), "")
            if (
                isinstance(column, str)
                and column.startswith("fm_score_")
                and str(objective).strip().lower() in ("poisson", "gamma", "tweedie")
            ):
                raise ValueError(
                    f"task {task!r}: the objective {objective!r} adds its "
                    f"init_score on the log scale, but the heads boost from "
                    f"{column!r}, the FM's prediction of the mean: pass "
                    "multitasklgbm__init_score=None (or offsets on the log "
                    "scale), or keep a regression objective for the task."
                )

    def _als_ahead(self, X):
        """Return the :func:`fitted_ahead` context of the ALS step, or a null one."""
        none = contextlib.nullcontext()
        steps = [step for _, step in self.steps]
        kinds = (ColumnTransformer, FMEmbedder, ALSEmbedder, MultiTaskLGBM)
        if (
            self.memory is not None  # a cached ALS step would not take them
            or not isinstance(X, pd.DataFrame)
            or not all(
                step is None or step == "passthrough" or type(step) in kinds
                for step in steps
            )
        ):
            return none
        als = [i for i, step in enumerate(steps) if type(step) is ALSEmbedder]
        fm = [i for i, step in enumerate(steps) if type(step) is FMEmbedder]
        if len(als) != 1 or len(fm) != 1 or fm[0] > als[0]:
            return none
        step = steps[als[0]]
        columns = [step.user_col, step.item_col]
        if step.weight_col is not None:
            columns.append(step.weight_col)
        try:  # invalid values: Pipeline.fit's validation names them
            jobs = min(
                effective_n_jobs(step.n_jobs), effective_n_jobs(steps[fm[0]].n_jobs)
            )
        except (TypeError, ValueError):
            return none
        if jobs < 2 or not all(isinstance(c, str) and c in X.columns for c in columns):
            return none
        fm = steps[fm[0]]
        # the worker process, where the FM's warm folds will go at the end of its
        # burn-in (until then it is idle): the ALS models are fitted there first
        helper = None
        if fm.solver == "mcmc" and fm.crossfit == "warm" and fm._folds_may_leave(X):
            helper = worker()
        return fitted_ahead(step, X[columns], helper)
