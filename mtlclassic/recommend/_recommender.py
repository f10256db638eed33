"""Two-stage recommendation: candidates → multi-task scores → fused top-K."""

import inspect
import numbers
import time
import warnings
import weakref

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .._compat import InvalidParameterError
from .._ids import check_query_ids, conform_ids, exact_values, lookup_ids
from .._schema import unused_columns
from .._targets import fitted_tasks, refuse_reordered_rows
from .._time import time_values
from ..candidates import sample_negatives
from ..embedding._base import find_embedders
from ..embedding._session import session_context
from ._compiled import CompiledModel
from ._inputs import fitted_ids, model_input_columns, side_table
from ._ranker import (
    BASE,
    base_scores,
    best_source,
    check_generators,
    default_generators,
    default_ranker,
    event_stats,
    freeze_selected,
    label_cut,
    offsets_beside,
    ranker_frame,
    relevance_labels,
    select_als,
)
from ._similar import (
    check_weights,
    conform_queries,
    fused_neighbours,
    item_sources,
)
from ._update import full_rows, session_rows, update_model

_COMPILED = weakref.WeakKeyDictionary()  # Recommender -> its CompiledModel
_QUERY = "__user__"  # the ranker's query column: one group per user
_COLD_BASE = "_cold_base"  # score_pairs: a new user's pair's popularity offset
_NEW_USER = "_new_user"  # score_pairs: no personal generator proposes to the user
ALS_CANDIDATES = 200  # n_candidates=None around a fitted model (its ALS step)
UNION_CANDIDATES = 120  # n_candidates=None per generator of the default union
SELECTION_TASK = "chosen"  # the task n_negatives adds: P(the user chooses the item)
_ADDED_PARAMETERS = {  # parameters files saved by mtlclassic <= 0.25 lack
    "seen": None,
    "generators": "auto",
    "ranker": "auto",
    "ranker_fraction": 0.2,
    "relevance": None,
    "n_negatives": 0,
    "time_col": "timestamp",
    "n_jobs": None,
    "random_state": None,
    "verbose": 0,
}


def _task_frame(Y, tasks):
    """``Y`` with the model's task names as columns (None: all NaN)."""
    names = list(tasks)
    if Y is None:
        return pd.DataFrame(np.nan, index=[], columns=names)
    if list(Y.columns) == names:
        return Y
    # by name as text: an array's columns 0, 1, ... are the tasks '0', '1', ...
    # (the model may add a task, e.g. 'chosen', that Y does not have)
    named = Y.set_axis([str(c) for c in Y.columns], axis=1)
    if not set(named.columns) & set(names) and Y.shape[1] == len(names):
        return Y.set_axis(names, axis=1)  # no name in common: the tasks in order
    return named.reindex(columns=names)


FUSIONS = ("standardized", "weighted", "product")


def _is_all(source):
    """Whether a candidates source is the string ``"all"`` (not a DataFrame)."""
    return isinstance(source, str) and source == "all"


def _retrieval_first(embedders):
    """Embedders that generate candidates first, the others after, in order."""
    return sorted(embedders, key=lambda e: not _generates_candidates(e))


def _generates_candidates(embedder):
    return hasattr(embedder, "recommend_candidates")


def _constant_within(frame, key, column):
    """Whether ``column`` holds one value (or none) within every ``key`` group."""
    counts = frame.groupby(key, sort=False)[column].nunique(dropna=True)
    return bool((counts <= 1).all())


def _is_fitted(model):
    """Whether ``model`` is a fitted estimator (the Recommender can serve at once)."""
    if model is None:  # no multi-task model: fit on events first
        return False
    if not isinstance(model, BaseEstimator):  # duck-typed: taken as fitted
        return True
    try:
        check_is_fitted(model)
    except NotFittedError:
        return False
    return True


class Recommender(BaseEstimator):
    r"""Top-K recommendation: candidates ranked by what the multi-task model knows.

    Two ways to use it:

    - **Fitted on events** (the default path, :meth:`fit`): a two-stage
      recommender. Candidate generators (:mod:`mtlclassic.candidates`: EASE
      and ItemKNN on recency-weighted histories, implicit ALS, popularity)
      propose items; a LambdaRank head ranks them by every generator's score
      and rank, the multi-task model's task predictions (``E[rating]``,
      ``P(liked)``, ...), history statistics and side columns. It learns on a
      cut inside the training events: each user's newest ``ranker_fraction``
      are the labels, the model and generators see only the events before
      (:mod:`mtlclassic.recommend._ranker`). A user no generator but
      popularity knows gets the popularity list.
    - **Around a fitted model** (no ``fit``): candidates from the model's ALS
      step (or every item), ranked by a fusion of the task predictions.

    Measured (``python benchmarks/bench_topk.py``; MovieLens-1M, 1,000 users,
    each user's newest 20% as test; NDCG@10 on liked / on any test item):
    EASE tuned 0.130 / 0.156, implicit ALS tuned 0.118 / 0.140, popularity
    0.090 / 0.109; this class around a fitted pipeline 0.086 / 0.091;
    fitted on the events 0.168 / 0.219 (seed 0; the README's table).

    For each user the model's input rows are built from the user id, the
    item id, the item side columns of ``items``, the user side columns of
    ``users`` and constants from ``context``; everything is batched over users
    and vectorised.

    Parameters
    ----------
    model : estimator, Pipeline or None
        The multi-task model: its ``predict(X)`` returns one column per task
        and it is fitted on a DataFrame (its ``feature_names_in_`` names the
        columns to build), e.g. :func:`make_multitask_recommender`. :meth:`fit`
        fits a clone of it; a model fitted already serves at once. None: no
        multi-task model, for implicit feedback (events without labels):
        :meth:`fit` takes ``X`` alone and the ranker learns from the
        generators, the history statistics and the side columns.
    items : DataFrame
        The catalogue: ``item_col`` and the item side columns the model
        needs. Only these items are recommended.
    users : DataFrame, default=None
        ``user_col`` and user side columns, for models that read them.
    context : dict, default=None
        Constant values for the remaining columns the model needs, e.g.
        ``{"timestamp": now}``. A needed column that none of ``items``,
        ``users`` and ``context`` provides is a ``ValueError`` naming it;
        after :meth:`fit`, a needed ``time_col`` defaults to the newest event.
    user_col, item_col : str, default="user_id", "item_id"
    seen : DataFrame, default=None
        User-item events to exclude (columns ``user_col``, ``item_col``). None
        uses the interactions of the first embedder of the model that records
        them (its ``seen_pairs()``; :class:`~mtlclassic.ALSEmbedder` does);
        otherwise nothing is excluded.
    weights : dict, default=None
        ``{task: weight}`` of the fusion; None weighs every task 1. Tasks
        not named get weight 0.
    fusion : {"standardized", "weighted", "product"} or callable, \
default="standardized"
        ``"standardized"``: :math:`\sum_t w_t (\hat y_t - \mu_t) / \sigma_t`,
        each task's prediction standardised by its mean :math:`\mu_t` and
        standard deviation :math:`\sigma_t` over ``n_reference`` (user, item)
        pairs drawn once, seeded, from the known users and the catalogue
        (``task_mean_``, ``task_scale_``): scale-free, so a 1-5 rating and two
        probabilities each move the ranking (a task with :math:`\sigma_t = 0`
        adds nothing); a pair's score does not depend on the other
        candidates. ``"weighted"``: :math:`\sum_t w_t \hat y_t` on the
        tasks' own scales; ``"product"``:
        :math:`\prod_t \hat y_t^{w_t}` over tasks with non-zero weight (the
        chain rule, e.g. P(click) x P(buy | click) with weights 1 and 1); a
        callable receives a DataFrame with one row per candidate: the
        ``user_col`` and ``item_col`` ids, ``candidate_score`` (the ALS
        retrieval score, when candidates come from ALS or a candidates frame
        with that column) and one column per task; it returns one score per
        row, e.g. ``lambda c: sigmoid(c.candidate_score) * c.click``. A
        ``candidate_score`` that is NaN in every row (new users only) is left
        out of the frame; a NaN score is a ``ValueError`` naming the users.
    candidates : {"auto", "als", "all"} or DataFrame, default="auto"
        Where candidates come from: ``"als"`` the first embedder of the model
        that generates them (its ``recommend_candidates``, e.g.
        :meth:`~mtlclassic.ALSEmbedder.recommend_candidates`; ``n_candidates``
        per user), ``"all"`` every catalogue item, a DataFrame of
        (``user_col``, ``item_col``) pairs of catalogue items (another item
        is a ``ValueError``); ``"auto"`` is the fitted
        generators' candidates after :meth:`fit` (ranked by the LambdaRank
        head, or with ``ranker=None`` by ``fusion``), else ``"als"`` when the
        model has such an embedder, else ``"all"``. Embedders are found by
        the protocol of :class:`~mtlclassic.embedding.BaseEmbedder`, not by
        class.
    n_candidates : int or None, default=None
        Candidates per user from ALS (None: 200); ``recommend(k=...)`` takes
        at least ``k``. With ``generators="auto"`` after :meth:`fit`:
        candidates per user from each of EASE, ItemKNN and ALS (None: 120; a
        quarter of it from each popularity list and from plain EASE). On
        MovieLens-1M, 120 gave the NDCG@10 of 200 at 60% of the cost.
    batch_size : int, default=100_000
        About how many (user, item) rows are scored per ``predict`` call;
        bounds memory.
    n_reference : int, default=20_000
        ``fusion="standardized"``: how many (user, item) pairs set
        :math:`\mu_t` and :math:`\sigma_t` (scored once, at construction;
        every pair when there are no more than ``n_reference``).
        Users come from ``users``, else the ids the model was fitted on,
        else ``seen``; none of them is a ``ValueError``.
    generators : "auto", CandidateUnion or list of (str, generator), \
default="auto"
        The candidate generators :meth:`fit` trains (each a
        :class:`~mtlclassic.candidates.BaseCandidateGenerator` or an
        :class:`~mtlclassic.ALSEmbedder`). ``"auto"``: EASE with
        recency-weighted histories (half-life 3 events) and plain EASE, both
        with ``regularization="auto"`` (chosen on the history, kept for the
        serving refit) over the 5,000 items with the most users at most;
        ItemKNN (BM25, 200 neighbours) with recency-weighted histories;
        implicit ALS with its factors (16, 32, 64) and regularization (0.01,
        0.1, 1) chosen on the history as EASE's λ is (NDCG@10 on each user's
        newest 20%; kept for the serving refit); global popularity;
        popularity decayed with a half-life of 1/20 of the events' time span
        (no recency without ``time_col``).
    ranker : "auto", MultiTaskLGBM or None, default="auto"
        The LambdaRank head :meth:`fit` trains (its ``tasks`` and
        ``query_col`` are set). ``"auto"``: 7 leaves, at least 200 rows a
        leaf, L2 leaf penalty 10, learning rate 0.05, 80% row and feature
        bagging, boosting from the best generator's order (``init_score``:
        ``-log2`` of its per-user rank; that generator chosen by NDCG@10 on
        the label cut), early stopping on the NDCG@10 of 15% of the users
        (held out whole): with little data it keeps that generator's order. None: no
        ranker; :meth:`fit` fits the model on every event and ``recommend``
        fuses its predictions of the generators' candidates by ``fusion``.
    ranker_fraction : float in (0, 1), default=0.2
        Each user's newest share of the training events that labels the
        ranker (``ceil(n * ranker_fraction)``, one event always left before).
    relevance : None or callable, default=None
        The graded relevance of a chosen candidate: None is 1 plus the
        event's positive binary task labels (so 2 for a liked item); a
        callable gets the label events ``(X, Y)`` and returns one grade (an
        int >= 0) per event. LambdaRank's gain is ``2**grade - 1``.
    n_negatives : int, default=0
        Sampled non-events per event for a selection task ``"chosen"``
        (:func:`~mtlclassic.candidates.sample_negatives`) added to the
        model's training data: ``P(chosen)`` becomes a task and a ranker
        feature. Off by default: on MovieLens-1M it did not improve the list
        (NDCG@10 liked 0.169 vs 0.176) and tripled the fit time. Needs a
        model without an ALS step (ALS would count the samples as
        interactions).
    time_col : str or None, default="timestamp"
        The events' time (numbers or datetimes; parse text with
        ``pd.to_datetime`` first): orders the label cut and the recency of
        histories. None (or absent from ``X``): a seeded random cut, no
        recency (``fit`` warns when it is absent but ``X`` holds datetimes).
    n_jobs : int or None, default=None
        Threads of the generators and the ranker (the model keeps its own).
    random_state : int or None, default=None
        Seeds the cut (without time), the generators and the ranker.
    verbose : int, default=0
        > 0 prints each stage of :meth:`fit` with its elapsed time.

    Attributes
    ----------
    model_ : fitted estimator
        The model that serves: the history-fitted clone after :meth:`fit`
        (the ranker learned its predictions), else ``model``.
    generators_ : CandidateUnion
        After :meth:`fit`: the generators fitted on every event.
    ranker_ : MultiTaskLGBM or None
        After :meth:`fit`: the LambdaRank head (None with ``ranker=None``).
    ranker_features_ : list of str
        The ranker's feature columns.
    event_stats_ : (DataFrame, DataFrame)
        Per-user and per-item event counts and mean task labels on every
        event (ranker features at serving time).
    tasks_ : dict
        ``{task: kind}`` of the model (``task_0..`` when it does not say).
    input_columns_ : list of str
        The columns built for the model.
    task_mean_, task_scale_ : dict or None
        ``fusion="standardized"``: ``{task: mu_t}`` and ``{task: sigma_t}``
        on the reference pairs; None for the other fusions.

    Examples
    --------
    >>> from mtlclassic import make_multitask_recsys, make_multitask_recommender
    >>> X, Y = make_multitask_recsys(n_users=60, n_items=40, n_events=1500,
    ...                              random_state=0)
    >>> model = make_multitask_recommender(n_estimators=30, factors=8,
    ...                                    fm_n_iter=5, random_state=0).fit(X, Y)
    >>> items = X.drop_duplicates("item_id")[["item_id", "item_f0", "item_f1",
    ...                                       "item_category"]]
    >>> users = X.drop_duplicates("user_id")[["user_id", "user_f0", "user_f1",
    ...                                       "user_segment"]]
    >>> rec = Recommender(model, items, users=users,
    ...                   context={"timestamp": X["timestamp"].max()},
    ...                   weights={"click": 1.0, "like": 1.0})
    >>> top = rec.recommend([0, 1], k=5)
    >>> list(top.columns)
    ['user_id', 'item_id', 'rank', 'score', 'rating', 'click', 'like']
    >>> top.groupby("user_id").size().tolist()
    [5, 5]

    Fitted on the events, as a two-stage recommender:

    >>> rec = Recommender(make_multitask_recommender(n_estimators=30, factors=8,
    ...                                              fm_n_iter=5, random_state=0),
    ...                   items, users=users, random_state=0).fit(X, Y)
    >>> rec.recommend([0, 1], k=5).groupby("user_id").size().tolist()
    [5, 5]
    """

    def __init__(
        self,
        model,
        items,
        *,
        users=None,
        context=None,
        user_col="user_id",
        item_col="item_id",
        seen=None,
        weights=None,
        fusion="standardized",
        candidates="auto",
        n_candidates=None,
        batch_size=100_000,
        n_reference=20_000,
        generators="auto",
        ranker="auto",
        ranker_fraction=0.2,
        relevance=None,
        n_negatives=0,
        time_col="timestamp",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.items = items
        self.users = users
        self.context = context
        self.user_col = user_col
        self.item_col = item_col
        self.seen = seen
        self.weights = weights
        self.fusion = fusion
        self.candidates = candidates
        self.n_candidates = n_candidates
        self.batch_size = batch_size
        self.n_reference = n_reference
        self.generators = generators
        self.ranker = ranker
        self.ranker_fraction = ranker_fraction
        self.relevance = relevance
        self.n_negatives = n_negatives
        self.time_col = time_col
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        if _is_fitted(model):  # a fitted model: recommend at once, no fit needed
            self._bind(model, seen)

    def __getattr__(self, name):
        # A file saved before fit() existed holds the fitted model as ``model``,
        # the context as ``context`` and none of the later parameters.
        found = self.__dict__
        if "items_" in found and "model_" not in found:
            if name == "model_":
                return found["model"]
            if name == "_context":
                return dict(found.get("context") or {})
            if name in ("items", "users"):
                return found.get(f"{name}_")
            if name in _ADDED_PARAMETERS:
                return _ADDED_PARAMETERS[name]
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}"
        )

    def set_params(self, **params):
        """Set parameters; a Recommender built around a fitted model re-binds.

        Built around a fitted ``model`` (no :meth:`fit`), it serves from what
        ``__init__`` derived: the catalogue, the fusion's reference scale and
        the like are derived again from the new parameters (the ``seen``
        pairs an :meth:`update` added are kept unless ``seen`` is set). A
        Recommender fitted with :meth:`fit` keeps its fit until the next one,
        as every scikit-learn estimator does.

        Returns
        -------
        self : Recommender
        """
        bound_at_init = "generators_" not in self.__dict__ and (
            self.__dict__.get("model_", None) is self.model and self.model is not None
        )
        seen_before = self.__dict__.get("seen_")
        super().set_params(**params)
        if not bound_at_init:
            return self
        if _is_fitted(self.model):
            self._bind(self.model, self.seen)
            if "seen" not in params and seen_before is not None:
                self.seen_ = seen_before
        else:  # an unfitted model now: nothing to serve from until fit
            for name in ("model_", "items_"):
                self.__dict__.pop(name, None)
        return self

    def _bind(self, model, seen, *, events=None):
        """Derive everything that serves recommendations from a fitted ``model``.

        ``events`` (``fit``'s) give the seen pairs and the time a model that
        reads the time column is scored at, when ``context`` does not.
        """
        user_col, item_col = self.user_col, self.item_col
        self.model_ = model
        self._context = dict(self.context or {})
        embedders = [] if model is None else _retrieval_first(find_embedders(model))
        self._embedders = embedders
        self._retriever = (
            embedders[0] if embedders and _generates_candidates(embedders[0]) else None
        )
        self._fitted_ids = fitted_ids(embedders)
        items = self._conform_frame(self.items, "items")
        users = self._conform_frame(self.users, "users")
        self.items_ = side_table(items, item_col, "items")
        if self.items_ is None:
            raise ValueError("items (the catalogue DataFrame) is required.")
        self.users_ = side_table(users, user_col, "users")
        if model is None:  # no multi-task model: the catalogue's columns only
            self.input_columns_ = list(dict.fromkeys(
                [user_col, item_col, *map(str, self.items_.columns),
                 *([] if self.users_ is None else map(str, self.users_.columns))]
            ))  # fmt: skip
            self.tasks_ = {}
        else:
            self.input_columns_ = model_input_columns(model)
            self.tasks_ = fitted_tasks(model)
        for col, table in ((item_col, self.items_), (user_col, self.users_)):
            if col not in self._fitted_ids and table is not None:
                # no embedder knows these ids: their type is the side table's
                self._fitted_ids[col] = table[col].to_numpy()
        for param in ("n_candidates", "batch_size", "n_reference"):
            value = getattr(self, param)
            if param == "n_candidates" and value is None:
                continue
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{param} must be a positive int; got {value!r}.")
        fusion = self.fusion
        if not (callable(fusion) or fusion in FUSIONS):
            raise ValueError(
                f"fusion must be one of {FUSIONS} or a callable; got {fusion!r}."
            )
        if events is not None:
            self._context_from_events(events)
            self._side_tables_from_events(events)
        self._sources = self._column_sources()
        candidates = self.candidates
        if isinstance(candidates, str):
            if candidates not in ("auto", "als", "all"):
                raise ValueError(
                    "candidates must be 'auto', 'als', 'all' or a DataFrame of pairs; "
                    f"got {candidates!r}."
                )
            if candidates == "als" and self._candidate_source is None:
                raise ValueError(
                    "candidates='als' needs an embedder that generates candidates "
                    "(recommend_candidates, e.g. ALSEmbedder) in the model."
                )
        if events is not None and seen is None:
            seen = events[[user_col, item_col]]
        self.seen_ = self._seen_pairs(seen)
        self.task_mean_ = self.task_scale_ = None
        standardized = isinstance(fusion, str) and fusion == "standardized"
        if standardized and model is not None:
            self.task_mean_, self.task_scale_ = self._reference_scale()

    def _context_from_events(self, events):
        """Set the time column, when the model reads it, to the newest event's time.

        The newest time is kept apart too (``_newest_time``): new events
        without a time are taken as that recent by the generators that read
        it (:meth:`_generator_events`), with or without a model.
        """
        time_col = self.time_col
        if time_col is not None and time_col in events.columns and len(events):
            self._newest_time = events[time_col].max()
        if (
            time_col is not None
            and time_col in self.input_columns_
            and time_col not in self._context
            and time_col in events.columns
        ):
            self._context[time_col] = events[time_col].max()

    def _side_tables_from_events(self, events):
        """Take the side columns the model reads and no table gives from ``fit``'s X.

        A column constant within every user joins the users table, one
        constant within every item the catalogue (each id's newest value); a
        column that varies within both (an event's context) is left to
        ``context``, and is named if missing.
        """
        given = set(self.items_.columns) | set(self._context)
        if self.users_ is not None:
            given |= set(self.users_.columns)
        wanted = [
            c for c in self.input_columns_
            if c not in given and c in events.columns
            and c not in (self.user_col, self.item_col)
            and c not in set(unused_columns(self.model_))
        ]  # fmt: skip
        for key, table in ((self.user_col, "users_"), (self.item_col, "items_")):
            found = [c for c in wanted if _constant_within(events, key, c)]
            if not found:
                continue
            newest = events.drop_duplicates(key, keep="last").set_index(
                key, drop=False
            )[[key, *found]]
            current = getattr(self, table)
            if current is None:
                setattr(self, table, newest)
            else:
                extra = newest[found].reindex(current.index)
                setattr(self, table, current.join(extra))
            wanted = [c for c in wanted if c not in found]

    def _column_sources(self):
        """Where each column the model reads comes from: items, users or context."""
        user_col, item_col = self.user_col, self.item_col
        sources, missing = {}, []
        unused = set(unused_columns(self.model_))  # e.g. the time it drops
        for col in self.input_columns_:
            if col in (user_col, item_col):
                continue
            if col in self.items_.columns:
                sources[col] = "items"
            elif self.users_ is not None and col in self.users_.columns:
                sources[col] = "users"
            elif col in self._context:
                sources[col] = "context"
            elif col not in unused:
                missing.append(col)
        if missing:
            raise ValueError(
                f"The model needs the column(s) {missing}, which none of items, "
                "users and context provides."
            )
        for col in (user_col, item_col):
            if col not in self.input_columns_:
                raise ValueError(
                    f"The model does not read {col!r}; set user_col/item_col to "
                    f"its id columns (it reads {self.input_columns_[:10]})."
                )
        return sources

    # ------------------------------------------------------------ helpers
    def _conform(self, values, col, where):
        """Return ids in the fitted id type (lossless) or raise ``ValueError``."""
        reference = self._fitted_ids.get(col)
        if reference is None:
            return np.asarray(values)
        return conform_ids(values, reference, f"{where}[{col!r}]")

    def _conform_frame(self, frame, where):
        """Return ``frame`` (a copy if changed) with ids of the fitted id type."""
        if not isinstance(frame, pd.DataFrame):
            return frame
        changed = {}
        for col in (self.user_col, self.item_col):
            if col in frame.columns and col in self._fitted_ids:
                ids = self._conform(exact_values(frame[col]), col, where)
                if ids.dtype != frame[col].dtype or not np.array_equal(
                    ids, frame[col].to_numpy()
                ):
                    changed[col] = ids
        return frame.assign(**changed) if changed else frame

    def _seen_pairs(self, seen):
        """Seen (user, item) pairs as a MultiIndex, or None."""
        if seen is not None:
            if not isinstance(seen, pd.DataFrame) or not {
                self.user_col,
                self.item_col,
            } <= set(seen.columns):
                raise ValueError(
                    f"seen must be a DataFrame with the columns {self.user_col!r} "
                    f"and {self.item_col!r}."
                )
            seen = self._conform_frame(seen[[self.user_col, self.item_col]], "seen")
            return pd.MultiIndex.from_frame(seen).unique()
        for embedder in self._embedders:
            pairs = getattr(embedder, "seen_pairs", lambda: None)()
            if pairs is not None:
                return pd.MultiIndex.from_arrays(
                    list(pairs), names=[self.user_col, self.item_col]
                )
        return None

    @property
    def _candidate_source(self):
        """The embedder generating candidates (``_als`` in files saved before)."""
        return self.__dict__.get("_retriever", self.__dict__.get("_als"))

    @property
    def _als(self):
        """The candidate generator (its name before the embedder protocol)."""
        return self._candidate_source

    def _task_names(self, n_columns):
        names = list(self.tasks_)
        if len(names) != n_columns:
            names = [f"task_{t}" for t in range(n_columns)]
        return names

    def _candidate_pairs(self, users, source, exclude_seen, k=0):
        if isinstance(source, pd.DataFrame):
            keep = [self.user_col, self.item_col] + (
                ["candidate_score"] if "candidate_score" in source.columns else []
            )
            pairs = self._conform_frame(source[keep], "candidates")
            pairs = pairs[pairs[self.user_col].isin(users)]
            self._refuse_unknown_items(pairs, "candidates")
            twice = pairs.duplicated([self.user_col, self.item_col])
            if twice.any():
                user, item = (
                    pairs.loc[twice, [self.user_col, self.item_col]].iloc[0].tolist()
                )
                raise ValueError(
                    f"candidates has {int(twice.sum())} repeated (user, item) "
                    f"pair(s), e.g. ({user!r}, {item!r}): each "
                    "pair must appear once (candidates.drop_duplicates(["
                    f"{self.user_col!r}, {self.item_col!r}]))."
                )
        elif source == "auto" and self.__dict__.get("generators_") is not None:
            # fitted with ranker=None: the generators' candidates
            pairs = self._proposals(users, exclude_seen)
            pairs = pairs[[self.user_col, self.item_col, "score"]].rename(
                columns={"score": "candidate_score"}
            )
        elif source == "als" or (
            source == "auto" and self._candidate_source is not None
        ):
            return self._retrieved_pairs(users, max(self._n_candidates(), k),
                                         exclude_seen)  # fmt: skip
        else:
            items = self.items_[self.item_col].to_numpy()
            pairs = pd.DataFrame(
                {
                    self.user_col: np.repeat(users, items.size),
                    self.item_col: np.tile(items, len(users)),
                }
            )
        return self._servable(pairs, exclude_seen)

    def _refuse_unknown_items(self, pairs, name):
        """Raise naming ``name`` if ``pairs`` holds items not in the catalogue.

        Such an item has no side features to score it by (it was dropped
        from a candidates frame without a word).
        """
        missing = ~pairs[self.item_col].isin(self.items_.index)
        if missing.any():
            unknown = pd.unique(pairs.loc[missing, self.item_col].to_numpy())
            raise ValueError(
                f"{name} has {unknown.size} item(s) not in the catalogue, e.g. "
                f"{unknown[:3].tolist()}; keep the catalogue's items "
                f"({name}[{name}[{self.item_col!r}].isin(items[{self.item_col!r}])])."
            )

    def _servable(self, pairs, exclude_seen):
        """``pairs`` of catalogue items, without the seen ones if ``exclude_seen``."""
        pairs = pairs[pairs[self.item_col].isin(self.items_.index)]
        if exclude_seen and self.seen_ is not None and len(pairs):
            key = pd.MultiIndex.from_frame(pairs[[self.user_col, self.item_col]])
            pairs = pairs[~key.isin(self.seen_)]
        return pairs.reset_index(drop=True)

    def _retrieved_pairs(self, users, n, exclude_seen):
        """Return the retriever's best ``n`` servable items per user (ALS's).

        The top ``n`` is taken among the items that can be served: among the
        catalogue's items (``recommend_candidates(items=...)``, as
        :class:`~mtlclassic.ALSEmbedder` takes), and a user whose first ``n``
        still hold items outside the catalogue or seen ones is asked again
        for 4x as many until ``n`` are left or the retriever has no more.
        """
        source = self._candidate_source
        within = {}  # ranked among the catalogue's items only, if it can
        if "items" in inspect.signature(source.recommend_candidates).parameters:
            within["items"] = self.items_.index.to_numpy()
        parts, ask, m = [], users, n
        while True:
            cands = source.recommend_candidates(
                ask, n=m, exclude_seen=exclude_seen, **within
            )
            cands = cands.rename(columns={
                cands.columns[0]: self.user_col, cands.columns[1]: self.item_col,
                "score": "candidate_score",
            })[[self.user_col, self.item_col, "candidate_score", "rank"]]  # fmt: skip
            pairs = self._servable(cands, exclude_seen)
            given = cands.groupby(self.user_col, sort=False).size()
            kept = pairs.groupby(self.user_col, sort=False).size()
            kept = kept.reindex(given.index, fill_value=0)
            again = given.index[(kept < n) & (given >= m)]  # more may be servable
            done = ~pairs[self.user_col].isin(again)
            parts.append(pairs[done].groupby(self.user_col, sort=False).head(n))
            if not len(again):
                break
            ask, m = again.to_numpy(), 4 * m
        pairs = pd.concat(parts, ignore_index=True)
        return pairs.drop(columns="rank").reset_index(drop=True)

    def _completion_state(self):
        """Return the catalogue's fill order and each user's seen positions.

        Kept until ``seen_`` or the catalogue is replaced (an update, a new
        binding): ``(order, owners, seen)`` with ``order`` the catalogue items
        by their users in the seen pairs (most first, then id), ``owners``
        ``{user: positions in seen}`` and ``seen`` the ``seen_`` they are of.
        """
        seen, catalogue = self.seen_, self.items_  # one snapshot (an update may
        cached = self.__dict__.get("_completion_cache")  # replace them meanwhile)
        if cached is not None and cached[0] is seen and cached[1] is catalogue:
            return cached[2]
        ids = catalogue.index
        counts = np.zeros(len(ids))
        owners = {}
        if seen is not None and len(seen):
            found = pd.Series(seen.get_level_values(1)).value_counts()
            counts = found.reindex(ids, fill_value=0).to_numpy(dtype=np.float64)
            users = pd.Series(np.arange(len(seen)), index=seen.get_level_values(0))
            owners = users.groupby(level=0, sort=False).indices
        try:
            order = np.lexsort((np.argsort(np.argsort(ids.to_numpy(), kind="stable")),
                                -counts))  # fmt: skip
        except TypeError:  # ids that do not sort: catalogue order among ties
            order = np.argsort(-counts, kind="stable")
        state = (ids.to_numpy()[order], owners, seen)
        self._completion_cache = (seen, catalogue, state)
        return state

    _transient = ("_completion_cache",)  # rebuilt on first need: not stored

    def __getstate__(self):
        """Pickle without the completion cache (rebuilt on first need)."""
        state = dict(super().__getstate__())  # a copy: the live object keeps it
        for name in self._transient:
            state.pop(name, None)
        return state

    def _completion(self, users, listed, k, exclude_seen):
        """Pairs that complete the lists of ``users`` shorter than ``k``.

        ``listed``: the users' pairs so far. A user with fewer than ``k`` gets
        the next catalogue items by popularity (:meth:`_completion_state`),
        not listed and (with ``exclude_seen``) not seen, up to ``k`` in all;
        None when every list is full. Ranked after the user's candidates.
        """
        have = listed.groupby(self.user_col, sort=False).size()
        have = have.reindex(pd.Index(users), fill_value=0)
        short = have.index[have.to_numpy() < k]
        if not len(short):
            return None
        order, owners, seen = self._completion_state()
        taken = listed[listed[self.user_col].isin(short)]
        taken = taken.groupby(self.user_col, sort=False)[self.item_col].agg(list)
        seen_items = None
        if exclude_seen and seen is not None and len(seen):
            seen_items = seen.get_level_values(1)
        owner, item_parts = [], []
        for position, user in enumerate(short):
            skip = list(taken.get(user, []))
            if seen_items is not None and user in owners:
                skip += list(seen_items[owners[user]])
            need = k - int(have[user])
            head = order[: need + len(skip)]
            if skip:
                head = head[~pd.Index(head).isin(skip)]
            head = head[:need]
            owner.append(np.full(head.size, position))
            item_parts.append(head)
        owner = np.concatenate(owner)
        if not owner.size:
            return None
        return pd.DataFrame({self.user_col: short.to_numpy()[owner],
                             self.item_col: np.concatenate(item_parts)})  # fmt: skip

    @staticmethod
    def _after_candidates(scored, extra):
        """``scored`` then ``extra`` (the completion), marked for the sort.

        ``_after``: 1 for the completion, listed after the candidates;
        ``_key``: the candidates' order (score, highest first) and the
        completion's popularity order (so a user's top-k is the start of its
        top-(k+1), whichever items complete it).
        """
        scored = scored.assign(_after=0, _key=-scored["score"].to_numpy())
        if extra is None:
            return scored
        extra = extra.assign(_after=1, _key=np.arange(len(extra), dtype=float))
        return pd.concat([scored, extra], ignore_index=True)

    def _predict(self, rows):
        """``model.predict(rows)`` through the compiled path (:func:`compile`)."""
        if self.model_ is None:  # no multi-task model: no task columns
            return np.empty((len(rows), 0))
        compiled = _COMPILED.get(self)  # kept outside: saved files unchanged
        if compiled is None or compiled.model is not self.model_:
            compiled = _COMPILED[self] = CompiledModel(self.model_)
        return compiled.predict(rows)

    def _model_rows(self, pairs):
        """Build the model's input rows for (user, item) pairs, in its column order."""
        n = len(pairs)
        columns = {}
        items = self.items_.reindex(pairs[self.item_col].to_numpy())
        users = (
            None
            if self.users_ is None
            else self.users_.reindex(pairs[self.user_col].to_numpy())
        )
        for col in self.input_columns_:
            if col not in self._sources and col not in (self.user_col, self.item_col):
                continue  # a column the model drops (and no one gave)
            if col in (self.user_col, self.item_col):
                columns[col] = pairs[col].to_numpy()
            elif self._sources[col] == "items":
                columns[col] = items[col].to_numpy()
                if isinstance(self.items_[col].dtype, pd.CategoricalDtype):
                    columns[col] = pd.Categorical(
                        columns[col], dtype=self.items_[col].dtype
                    )
            elif self._sources[col] == "users":
                columns[col] = users[col].to_numpy()
                if isinstance(self.users_[col].dtype, pd.CategoricalDtype):
                    columns[col] = pd.Categorical(
                        columns[col], dtype=self.users_[col].dtype
                    )
            else:
                columns[col] = np.repeat(np.asarray([self._context[col]]), n)
        return pd.DataFrame(columns, index=pd.RangeIndex(n))

    def _fuse(self, P, names, pairs):
        weights = self.weights or {name: 1.0 for name in names}
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ValueError(f"weights names unknown tasks {unknown}; tasks: {names}.")
        if callable(self.fusion):
            frame = pairs.reset_index(drop=True).assign(
                **{name: P[:, t] for t, name in enumerate(names)}
            )
            if "candidate_score" in frame and frame["candidate_score"].isna().all():
                frame = frame.drop(columns="candidate_score")  # no retrieval score
            score = np.asarray(self.fusion(frame), dtype=np.float64)
            if score.shape != (P.shape[0],):
                raise ValueError(
                    "The fusion callable must return one score per candidate row; "
                    f"got shape {score.shape} for {P.shape[0]} rows."
                )
            bad = np.isnan(score)
            if bad.any():
                users = pd.unique(frame[self.user_col].to_numpy()[bad])
                hint = ""
                if "candidate_score" in frame and frame["candidate_score"].isna().any():
                    hint = (
                        " candidate_score is NaN for users the candidate generator "
                        "does not know (new users): handle it, e.g. with "
                        "c.candidate_score.fillna(0)."
                    )
                raise ValueError(
                    f"The fusion callable returned NaN for {int(bad.sum())} candidate "
                    f"row(s), of the users {users[:5].tolist()}.{hint}"
                )
            return score
        w = np.array([float(weights.get(name, 0.0)) for name in names])
        if self.fusion == "standardized":
            mean = np.array([self.task_mean_.get(n, 0.0) for n in names])
            scale = np.array([self.task_scale_.get(n, 0.0) for n in names])
            w = np.divide(w, scale, out=np.zeros_like(w), where=scale > 0)
            return (P - mean) @ w
        if self.fusion == "weighted":
            return P @ w
        used = w != 0
        if (P[:, used] < 0).any():
            raise ValueError("fusion='product' needs non-negative task predictions.")
        with np.errstate(divide="ignore"):
            return np.exp(np.log(P[:, used]) @ w[used])

    def _reference_scale(self):
        """Each task's mean and standard deviation on seeded (user, item) pairs."""
        if self.users_ is not None:
            users = self.users_.index.to_numpy()
        elif self.user_col in self._fitted_ids:
            users = np.asarray(self._fitted_ids[self.user_col])
        elif self.seen_ is not None and len(self.seen_):
            users = pd.unique(self.seen_.get_level_values(0).to_numpy())
        else:
            raise ValueError(
                "fusion='standardized' needs known users to set each task's scale: "
                "pass users=, or seen=, or choose fusion='weighted'."
            )
        items = self.items_.index.to_numpy()
        if users.size * items.size <= self.n_reference:  # every pair: exact
            u, i = np.repeat(users, items.size), np.tile(items, users.size)
        else:
            rng = np.random.RandomState(0)
            u = users[rng.randint(users.size, size=self.n_reference)]
            i = items[rng.randint(items.size, size=self.n_reference)]
        pairs = pd.DataFrame({self.user_col: u, self.item_col: i})
        n = len(pairs)
        P = np.vstack(
            [
                np.asarray(self._predict(self._model_rows(chunk)), dtype=float).reshape(
                    len(chunk), -1
                )
                for chunk in (
                    pairs.iloc[start : start + self.batch_size]
                    for start in range(0, n, self.batch_size)
                )
            ]
        )
        names = self._task_names(P.shape[1])
        mean, scale = P.mean(axis=0), P.std(axis=0)
        scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(mean)), scale, 0.0)
        return (
            dict(zip(names, mean.tolist())),
            dict(zip(names, scale.tolist())),
        )

    # ------------------------------------------------------------ fit
    def _log(self, message, start):
        if self.verbose:
            print(f"[Recommender] {message} ({time.perf_counter() - start:.1f} s)")

    def _check_events(self, X, Y):
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a DataFrame of events; got {type(X).__name__}.")
        missing = [c for c in (self.user_col, self.item_col) if c not in X.columns]
        if missing:
            raise ValueError(
                f"X lacks the id column(s) {missing} (user_col/item_col); its "
                f"columns are {list(X.columns)[:20]}."
            )
        if len(X) == 0:
            raise ValueError("X is empty (0 rows); fit needs events.")
        for col in (self.user_col, self.item_col):
            check_query_ids(X[col], f"X[{col!r}]")
        if Y is None:
            return X.reset_index(drop=True), None
        if len(Y) != len(X):
            raise ValueError(
                f"Y has {len(Y)} rows but X has {len(X)}; one row of labels per event."
            )
        if not isinstance(Y, pd.DataFrame):
            values = np.asarray(Y, dtype=np.float64)
            values = values[:, None] if values.ndim == 1 else values
            name = getattr(Y, "name", None)
            columns = [name] if name is not None and values.shape[1] == 1 else None
            Y = pd.DataFrame(values, columns=columns)
        return X.reset_index(drop=True), Y.reset_index(drop=True)

    def _event_times(self, X):
        if self.time_col is None or self.time_col not in X.columns:
            return None
        return time_values(X[self.time_col], self.time_col)[0]

    def _generator_template(self, X):
        if isinstance(self.generators, str):
            if self.generators != "auto":
                raise ValueError(
                    "generators must be 'auto', a CandidateUnion or a list of "
                    f"(name, generator); got {self.generators!r}."
                )
            return default_generators(
                X,
                self.user_col,
                self.item_col,
                self.time_col,
                self._n_candidates(UNION_CANDIDATES),
            )
        return check_generators(self.generators, self.user_col, self.item_col)

    def _warn_unnamed_time(self, X):
        """Warn when ``time_col`` is absent but ``X`` has a datetime column."""
        if self.time_col is None or self.time_col in X.columns:
            return
        timed = [c for c in X.columns if pd.api.types.is_datetime64_any_dtype(X[c])]
        if timed:
            warnings.warn(
                f"X has no column {self.time_col!r} (time_col) but {timed} hold "
                "datetimes: the label cut is random and histories have no recency. "
                f"Pass time_col={timed[0]!r} (and the same to the model's "
                "make_multitask_recommender) to use it.",
                UserWarning,
                stacklevel=3,
            )

    def _select_generators(self, template, X, start):
        """Return the default union with its ALS's settings chosen on ``X``."""
        if not (isinstance(self.generators, str) and self.generators == "auto"):
            return template
        template, scores = select_als(template, X, self.time_col)
        if scores:
            als = dict(template.generators)["als"]
            chosen = f"factors={als.factors}, regularization={als.regularization}"
            self._log(f"ALS {chosen} chosen among {len(scores)} settings", start)
        return template

    def _ranker_template(self):
        if isinstance(self.ranker, str):
            if self.ranker != "auto":
                raise ValueError(
                    "ranker must be 'auto', None or a MultiTaskLGBM; got "
                    f"{self.ranker!r}."
                )
            ranker = default_ranker(self.random_state, self.n_jobs, self.verbose)
        else:
            ranker = clone(self.ranker)
        return ranker.set_params(tasks={"relevance": "ranking"}, query_col=_QUERY)

    def fit(self, X, Y=None):
        """Learn to recommend from events: the two-stage recommender.

        With ``ranker`` (the default) the steps of :mod:`._ranker` run: each
        user's newest ``ranker_fraction`` of ``X`` (by ``time_col``; a seeded
        random share without it) becomes the ranker's labels; a clone of
        ``model`` and the candidate ``generators`` are fitted on the rest
        (the history); the generators' candidates for the label users get
        features (every generator's score and rank, the model's task
        predictions, the users' and items' history statistics, the side
        columns) and graded relevance from the label events only; a
        LambdaRank head learns their order; the generators are refitted on
        every event for serving. With ``ranker=None`` the model and the
        generators are fitted on every event and ``recommend`` fuses the task
        predictions of the generators' candidates by ``fusion``.

        Parameters
        ----------
        X : DataFrame of shape (n_events, n_columns)
            The events: ``user_col``, ``item_col``, ``time_col`` (if present)
            and the columns the model reads.
        Y : DataFrame or array-like of shape (n_events, n_tasks), default=None
            The model's task labels (NaN where a row has none); None only
            with ``model=None`` (implicit feedback).

        Returns
        -------
        self : Recommender

        Raises
        ------
        TypeError
            If ``X`` is not a DataFrame.
        ValueError
            If an id column is missing or holds a missing id, ``Y`` has another
            number of rows, ``Y`` is None for a model that needs labels,
            ``model`` and ``ranker`` are both None, or no label event lands
            among the candidates.
        """
        start = time.perf_counter()
        refuse_reordered_rows(X, Y=Y)
        X, Y = self._check_events(X, Y)
        self._warn_unnamed_time(X)
        fraction = self.ranker_fraction
        if not (isinstance(fraction, numbers.Real) and 0 < fraction < 1):
            raise ValueError(f"ranker_fraction must be in (0, 1); got {fraction!r}.")
        template = self._generator_template(X)
        if self.model is None and self.ranker is None:
            raise ValueError(
                "model=None and ranker=None leave nothing to rank with: keep the "
                "ranker (the default) to rank from the events alone."
            )
        if self.model is not None and Y is None:
            raise ValueError(
                "Y is None, but the multi-task model learns from labels: pass Y, or "
                "model=None to rank from the events alone (implicit feedback)."
            )
        if self.ranker is None:
            template = self._select_generators(template, X, start)
            self.generators_ = clone(template).fit(X)
            model = clone(self.model).fit(*self._model_data(X, Y, self.generators_))
            self._bind(model, self.seen, events=X)
            self.ranker_ = None
            self._log("model and generators fitted on every event", start)
            return self
        label = label_cut(
            X[self.user_col].to_numpy(), self._event_times(X), fraction,
            self.random_state,
        )  # fmt: skip
        history, labelled = np.flatnonzero(~label), np.flatnonzero(label)
        if labelled.size == 0:
            raise ValueError(
                "No user has two events or more, so the label cut (each user's "
                f"newest ranker_fraction={fraction}, one event always kept as "
                "history) labels nothing: the ranker needs users with a history "
                "and a next event."
            )
        X_hist, X_label = X.iloc[history], X.iloc[labelled]
        Y_hist = None if Y is None else Y.iloc[history].reset_index(drop=True)
        Y_label = None if Y is None else Y.iloc[labelled].reset_index(drop=True)
        X_hist, X_label = X_hist.reset_index(drop=True), X_label.reset_index(drop=True)
        template = self._select_generators(template, X_hist, start)
        union = clone(template).fit(X_hist)
        model = None
        if self.model is not None:
            data = self._model_data(X_hist, Y_hist, union)  # its errors are its own
            try:
                model = clone(self.model).fit(*data)
            except InvalidParameterError:
                raise  # the model's own settings: nothing to do with the rows
            except ValueError as error:  # say which rows the model saw
                raise ValueError(
                    f"Fitting the model on the {len(X_hist)} history events (the "
                    "events before the label cut: the newest "
                    f"ranker_fraction={fraction} of each user's events label the "
                    f"ranker) failed: {error} If the history rows are the cause "
                    "(e.g. a task with one class there), lower ranker_fraction, or "
                    "pass ranker=None to fit the model on every event."
                ) from error
            self._log(f"model fitted on {len(X_hist)} history events", start)
        self._bind(model, self.seen, events=X)
        tasks = self.tasks_
        stats = self._stats(X_hist, Y_hist)
        users = pd.unique(X_label[self.user_col].to_numpy())
        cands = union.recommend(users)
        grades = relevance_labels(
            cands, X_label, _task_frame(Y_label, tasks), self.user_col,
            self.item_col, tasks, self.relevance,
        )  # fmt: skip
        self._log(f"{len(cands)} training candidates", start)
        chosen = pd.Series(grades > 0).groupby(cands[self.user_col].to_numpy())
        useful = chosen.transform("any").to_numpy()
        if not useful.any():
            raise ValueError(
                "No label event is among the generators' candidates, so the ranker "
                "has nothing to learn: raise n_candidates, or pass ranker=None."
            )
        cands, grades = cands[useful].reset_index(drop=True), grades[useful]
        self.base_source_, self.source_ndcg_ = best_source(cands, grades, self.user_col)
        cands = self._with_base(cands)
        frame = self._features(cands, stats, names=None)
        self.ranker_features_ = list(frame.columns)
        frame[_QUERY] = pd.factorize(cands[self.user_col])[0]
        self.ranker_ = self._ranker_template().fit(
            frame, pd.DataFrame({"relevance": grades})
        )
        self._log(f"ranker fitted on {len(frame)} candidates", start)
        self.generators_ = freeze_selected(template, union).fit(X)
        self.event_stats_ = self._stats(X, Y)
        self._log("generators refitted on every event", start)
        return self

    def _model_data(self, X, Y, generators):
        """Return the model's training data: the events (and the selection task's)."""
        n = self.n_negatives
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 0:
            raise ValueError(f"n_negatives must be an int >= 0; got {n!r}.")
        if n == 0:
            return X, Y

        counting = [
            type(e).__name__
            for e in find_embedders(self.model)
            if getattr(e, "_learns_interactions", False)
        ]
        if counting:
            raise ValueError(
                f"n_negatives={n}: the model's {counting} would count the sampled "
                "non-events as interactions; use a model whose embedders learn from "
                "labels only, e.g. make_multitask_recommender(embedders=('fm',))."
            )
        X_out, Y_out, _ = sample_negatives(
            X, Y, n_negatives=int(n), generator=generators, items=self.items,
            user_col=self.user_col, item_col=self.item_col, task=SELECTION_TASK,
            random_state=self.random_state,
        )  # fmt: skip
        return X_out, Y_out

    def _stats(self, X, Y):
        tasks = list(self.tasks_)
        return event_stats(X, _task_frame(Y, self.tasks_), self.user_col,
                           self.item_col, tasks)  # fmt: skip

    def _features(self, cands, stats, names):
        """Return the ranker's features of union candidates (predictions in batches)."""
        pairs = cands[[self.user_col, self.item_col]]
        predictions, side = [], []
        for start in range(0, len(pairs), self.batch_size):
            rows = self._model_rows(pairs.iloc[start : start + self.batch_size])
            P = np.asarray(self._predict(rows), dtype=np.float64)
            predictions.append(P.reshape(len(rows), -1))
            side.append(rows[self._side_columns()])
        names_t = self._task_names(len(self.tasks_))
        P = np.vstack(predictions) if predictions else np.empty((0, len(names_t)))
        predictions = pd.DataFrame(P, columns=[f"mt_{t}" for t in names_t])
        side = pd.concat(side, ignore_index=True) if side else pd.DataFrame()
        return ranker_frame(
            cands, predictions, stats, side, self.user_col, self.item_col, names
        )

    def _side_columns(self):
        """Return the model's side columns (from the catalogue and users)."""
        return [c for c, source in self._sources.items() if source != "context"]

    def _generator_kinds(self):
        """Names of the personal generators and of the popularity ones."""
        personal, popular = [], []
        for name, generator in self.generators_.generators_:
            cold_serving = getattr(generator, "_serves_cold_users", False)
            (popular if cold_serving else personal).append(name)
        return personal, popular

    def _popularity_column(self):
        """Return the column new users are ranked by (the first popularity one)."""
        personal, popular = self._generator_kinds()
        return f"score_{popular[0]}" if popular and personal else None

    def _cold_rows(self, cands):
        """Rows of users no personal generator knows, and their popularity score.

        The ranker learns from users with a history; a user none of the
        generators but popularity knows is ranked by the first popularity
        generator's score (so a new user gets popularity's list), reported as
        ``-log2`` of the popularity rank.
        """
        personal, _ = self._generator_kinds()
        column = self._popularity_column()
        n = len(cands)
        if column is None:
            return np.zeros(n, dtype=bool), np.zeros(n)
        unknown = np.ones(n, dtype=bool)
        for name in personal:
            unknown &= cands[f"score_{name}"].isna().to_numpy()
            unknown &= cands[f"rank_{name}"].isna().to_numpy()
        popularity = cands[column].to_numpy(dtype=np.float64)
        cold = unknown & ~np.isnan(popularity)
        if _NEW_USER in cands.columns:  # score_pairs: a new user's pair with an
            # item popularity does not know is ranked after its list, not by the
            # ranker (which never saw the user)
            cold |= unknown & cands[_NEW_USER].to_numpy()
        return cold, np.nan_to_num(popularity, nan=0.0)

    def _generator_events(self, events):
        """Return new events with the time column the generators read (newest)."""
        time_col = self.time_col
        if time_col is None or time_col in events.columns:
            return events
        newest = self._context.get(time_col, self.__dict__.get("_newest_time"))
        if newest is None:
            return events
        return events.assign(**{time_col: newest})

    def _n_candidates(self, default=ALS_CANDIDATES):
        return default if self.n_candidates is None else int(self.n_candidates)

    def _proposals(self, users, exclude_seen):
        """Return the generators' candidates of ``users`` that can be served.

        Catalogue items only, and without the ``seen`` pairs when
        ``exclude_seen``: the rows the ranker's offsets rank among, in
        :meth:`recommend` and :meth:`score_pairs` alike.
        """
        cands = self.generators_.recommend(users, exclude_seen=exclude_seen)
        return self._servable(cands, exclude_seen)

    def _union_candidates(self, users, exclude_seen):
        if not exclude_seen:
            # the served list's pairs and the seen ones, scored as score_pairs
            # does: the unseen items keep their order and scores
            ids = [self.user_col, self.item_col]
            served = self._proposals(users, True)
            pairs = pd.concat(
                [served[ids], self._proposals(users, False)[ids]], ignore_index=True
            ).drop_duplicates(ignore_index=True)
            return self._with_union(pairs, served)
        return self._with_base(self._proposals(users, exclude_seen))

    def _with_base(self, cands):
        """Candidates with the ranker's offset (:func:`._ranker.base_scores`)."""
        source = self.__dict__.get("base_source_")
        if source is None:  # fitted before the offset existed
            return cands
        if not len(cands):
            return cands.assign(**{BASE: np.zeros(0)})
        return cands.assign(**{BASE: base_scores(cands, source, self.user_col)})

    @property
    def _ranked(self):
        """Whether recommendations come from the fitted two-stage ranker."""
        return self.__dict__.get("ranker_") is not None

    def _check_bound(self):
        if "items_" not in self.__dict__:
            raise NotFittedError(
                "This Recommender's model is not fitted: call fit(X, Y) first, or "
                "pass a fitted model."
            )

    def _with_union(self, pairs, proposed=None):
        """Pairs with the generators' columns: rank where proposed, every score.

        The offsets are :meth:`recommend`'s: a proposed pair's rank among its
        user's proposals (:meth:`_proposals`, seen pairs left out), a pair
        not proposed ranked on its own beside them
        (:func:`._ranker.offsets_beside`), so a pair's score never depends
        on the other pairs asked for. The same for a new user's popularity
        rank (``_COLD_BASE``). ``proposed``: those candidates, if already
        drawn for every user of ``pairs``.
        """
        ids = [self.user_col, self.item_col]
        if proposed is None:  # the served candidates of the pairs' users
            users = pd.unique(pairs[self.user_col].to_numpy())
            proposed = self._proposals(users, exclude_seen=True)
        merged = pairs[ids].merge(proposed, on=ids, how="left")
        scores = self.generators_.score_pairs(
            merged[self.user_col].to_numpy(), merged[self.item_col].to_numpy()
        )
        for col in scores.columns:
            merged[col] = merged[col].fillna(scores[col])
        merged["score"] = merged["score"].fillna(0.0)
        key = pd.MultiIndex.from_frame(merged[ids])
        extra = ~key.isin(pd.MultiIndex.from_frame(proposed[ids]))
        personal, _ = self._generator_kinds()
        proposing = proposed[[f"rank_{name}" for name in personal]].notna().any(axis=1)
        merged[_NEW_USER] = ~merged[self.user_col].isin(
            proposed.loc[proposing, self.user_col]
        )
        for column, source in ((BASE, self.__dict__.get("base_source_")),
                               (_COLD_BASE, self._popularity_column())):  # fmt: skip
            if source is None:  # fitted before the offset existed; no popularity
                continue
            base = np.empty(len(merged))
            if len(proposed):
                own = pd.Series(
                    base_scores(proposed, source, self.user_col),
                    index=pd.MultiIndex.from_frame(proposed[ids]),
                )
                base[~extra] = own.reindex(key[~extra]).to_numpy()
            base[extra] = offsets_beside(proposed, merged[extra], source, self.user_col)
            merged[column] = base
        return merged

    def _score_ranked(self, cands, session):
        """Union candidates scored by the ranker, with the task predictions."""
        names = self._task_names(len(self.tasks_))
        if not len(cands):
            return pd.DataFrame(
                {self.user_col: cands[self.user_col].to_numpy(),
                 self.item_col: cands[self.item_col].to_numpy(),
                 "score": np.array([], float),
                 **{n: np.array([], float) for n in names}}
            )  # fmt: skip
        with session_context(self.model_, session_rows(self, session)):
            frame = self._features(cands, self.event_stats_, self.ranker_features_)
        score = np.asarray(
            self.ranker_.predict(frame.assign(**{_QUERY: 0})), dtype=np.float64
        ).ravel()
        cold, popularity = self._cold_rows(cands)
        if cold.any():  # -log2 of the popularity rank: the ranker's offset scale
            if _COLD_BASE in cands.columns:  # score_pairs: ranked as recommend does
                score[cold] = cands[_COLD_BASE].to_numpy()[cold]
            else:  # recommend: the candidates are the user's proposals
                rows = cands.loc[cold, [self.user_col]].assign(_pop=popularity[cold])
                score[cold] = base_scores(rows, "_pop", self.user_col)
        out = pd.DataFrame(
            {
                self.user_col: cands[self.user_col].to_numpy(),
                self.item_col: cands[self.item_col].to_numpy(),
                "score": score,
            }
        )
        for name in names:
            out[name] = frame[f"mt_{name}"].to_numpy()
        return out

    # ------------------------------------------------------------ public
    def score_pairs(self, pairs, *, session=None):
        """Task predictions and fused score for given (user, item) pairs.

        Parameters
        ----------
        pairs : DataFrame
            Columns ``user_col`` and ``item_col``, and optionally
            ``candidate_score`` (a retrieval score a fusion callable may use).
        session : DataFrame or None, default=None
            The session so far (earlier events: ids and time, other columns
            taken from the catalogue): context of every
            :class:`~mtlclassic.SessionEmbedder` of the model
            (:func:`~mtlclassic.embedding.session_context`). The pairs are
            scored at the ``context`` time, which should follow the session.

        Returns
        -------
        DataFrame
            The pairs with ``score`` and one column per task, in input order.
            A pair's scores do not depend on the other pairs: with the
            two-stage ranker a pair :meth:`recommend` lists gets its score
            there, any other pair is ranked on its own beside the user's
            candidates (a new user's by the popularity rank).
        """
        self._check_bound()
        keep = [self.user_col, self.item_col] + (
            ["candidate_score"] if "candidate_score" in pairs.columns else []
        )
        pairs = self._conform_frame(pairs[keep], "pairs").reset_index(drop=True)
        self._refuse_unknown_items(pairs, "pairs")
        if self._ranked:
            return self._score_ranked(self._with_union(pairs), session)
        parts, session = [], session_rows(self, session)
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs.iloc[start : start + self.batch_size]
            with session_context(self.model_, session):
                P = np.asarray(self._predict(self._model_rows(chunk)), dtype=float)
            if P.ndim == 1:
                P = P[:, None]
            names = self._task_names(P.shape[1])
            frame = chunk.reset_index(drop=True)
            frame["score"] = self._fuse(P, names, chunk)
            for t, name in enumerate(names):
                frame[name] = P[:, t]
            parts.append(frame)
        if not parts:
            names = self._task_names(len(self.tasks_))
            return pairs.assign(
                score=np.array([], float), **{n: np.array([], float) for n in names}
            )
        return pd.concat(parts, ignore_index=True)

    def update(self, events, labels=None, *, decay_rate=0.9):
        """Learn new events without a full refit (:mod:`._update`).

        The heads refit their leaves on the labelled new rows (features from
        the model before the update), ALS folds the events in (new users get
        factors and candidates), and the new (user, item) pairs join
        ``seen_`` (when the Recommender excludes seen items); the FM learns
        the labelled events (new users and items get factors). After
        :meth:`fit`, the candidate generators learn the events too
        (:meth:`~mtlclassic.candidates.CandidateUnion.update`: the users'
        histories, so new users get personal candidates, and popularity). The
        catalogue, the ranker, ``event_stats_`` and the fusion's
        ``task_mean_``/``task_scale_`` stay as they are.

        Parameters
        ----------
        events : DataFrame of shape (n_new, n_columns)
            New events: the user and item ids, and any other columns the
            model reads (those missing are taken from ``items``, ``users``
            and ``context``, as :meth:`score_pairs` does).
        labels : DataFrame of shape (n_new, n_tasks), default=None
            Their labels (NaN where missing); None updates ALS and the seen
            pairs only (the heads and the FM need labels).
        decay_rate : float in [0, 1], default=0.9
            Weight of the heads' old leaf values.

        Returns
        -------
        self : Recommender
        """
        self._check_bound()  # NotFittedError, as recommend
        if isinstance(events, pd.DataFrame):
            events = full_rows(self, self._conform_frame(events, "events"))
        generators = self.__dict__.get("generators_")
        if generators is not None and isinstance(events, pd.DataFrame) and len(events):
            generator_events = self._generator_events(events)
            if hasattr(generators, "check_update"):  # before anything learns
                generators.check_update(generator_events)
        if self.model_ is not None:
            update_model(self.model_, events, labels, decay_rate=decay_rate)
        if generators is not None and isinstance(events, pd.DataFrame) and len(events):
            generators.update(generator_events)
        ids = [self.user_col, self.item_col]
        if self.seen_ is not None and len(events) and set(ids) <= set(events):
            new = pd.MultiIndex.from_frame(events[ids])
            self.seen_ = self.seen_.append(new).unique()
        return self

    def similar_items(self, item_ids, k=10, *, weights=None):
        """Top-``k`` catalogue items most similar to each item, sources fused.

        The sources are every embedder of the model with item vectors (named
        after its class: ``"als"``, ``"fm"``, ...) and ``"content"`` (the
        side columns of ``items``: numbers standardised, categories one-hot).
        For each query item, each source's cosine to every catalogue item is
        standardised over the catalogue items the source knows (z-scores, 0
        for the others), and the fused score is their weighted sum
        (:mod:`mtlclassic.recommend._similar`).

        Parameters
        ----------
        item_ids : array-like
            Query items (duplicates dropped, order kept); they need not be in
            the catalogue.
        k : int, default=10
            Neighbours per item (at most the catalogue less the item itself).
        weights : dict, default=None
            ``{source: weight >= 0}``; sources not named get weight 0. None
            weighs every embedder 1 and ``"content"`` 0.25: on MovieLens-1M
            the side columns alone find few of the items users like together
            (``python benchmarks/bench_similar.py``), and at weight 1 they
            dilute the embedders.

        Returns
        -------
        DataFrame
            ``<item_col>``, ``similar_<item_col>``, ``rank`` (1 = most
            similar), ``score`` (the fused z-score) and ``score_<source>``
            (each source's cosine; NaN where it does not know an item). An
            item is never its own neighbour, nor an item no source of the
            query knows (so fewer than ``k`` rows are possible). A query item
            no source knows gets the most popular catalogue items (by the
            candidate generator's popularity, else catalogue order) with
            ``score`` NaN.

        Raises
        ------
        ValueError
            If ``k`` is not a positive int, ``weights`` names an unknown
            source or has no positive weight, or the model has no source.
        """
        catalogue = self.items_[self.item_col].to_numpy()
        sources = item_sources(self.model_, self.items_, self.item_col)
        if not sources:
            raise ValueError(
                "similar_items needs item vectors: the model has no embedder with "
                "item_vectors() and items has no side column."
            )
        weights = check_weights(weights, sources)
        queries = conform_queries(item_ids, catalogue)
        return fused_neighbours(
            sources, weights, catalogue, queries, k, self.item_col,
            cold_order=self._cold_catalogue_order(catalogue),
        )  # fmt: skip

    def _cold_catalogue_order(self, catalogue):
        """Catalogue positions by the candidate generator's popularity, or None."""
        source = self._candidate_source
        order = getattr(source, "_cold_item_order", lambda: None)()
        found = getattr(source, "item_vectors", lambda: None)()
        if order is None or found is None:
            return None
        ranked = lookup_ids(catalogue, np.asarray(found[0])[order], "items")
        ranked = ranked[ranked >= 0]
        rest = np.setdiff1d(np.arange(catalogue.size), ranked, assume_unique=True)
        return np.concatenate([ranked, rest])

    def recommend(self, user_ids, k=10, *, candidates=None, exclude_seen=True,
                  session=None):  # fmt: skip
        """Top-``k`` items per user by the fused score.

        Parameters
        ----------
        user_ids : array-like
            Users to recommend for (duplicates dropped; unseen users are
            served by the model's cold-start rule).
        k : int, default=10
        candidates : {"auto", "als", "all"} or DataFrame, default=None
            Overrides the ``candidates`` given at construction.
        exclude_seen : bool, default=True
            Leave out the ``seen`` pairs. With False (two-stage ranker) the
            seen items join the list scored as :meth:`score_pairs` scores
            them; the other items keep their order and scores.
        session : DataFrame or None, default=None
            The session so far, for a model with a
            :class:`~mtlclassic.SessionEmbedder` (see :meth:`score_pairs`):
            the top-``k`` follows the session as it goes.

        Returns
        -------
        DataFrame
            Columns ``user_col``, ``item_col``, ``rank`` (1 = best),
            ``score`` (fused) and one column per task; sorted by user (in
            the order given) then rank. Exactly ``k`` rows per user, fewer
            only when the catalogue has fewer than ``k`` items the user has
            not seen, or a candidates frame has fewer than ``k`` pairs for
            the user. ALS candidates are the best ``max(n_candidates, k)``
            per user among the catalogue items (not seen, with
            ``exclude_seen``). A user whose
            candidates (the generators', ALS's) leave fewer than ``k``
            catalogue items (a new user: the popularity generators'; a
            catalogue of items few generators propose) gets the next unseen
            catalogue items by popularity (users in the seen pairs), listed
            after the candidates in that order (the completed part does not
            depend on ``k``; items of equal popularity, e.g. never seen ones,
            by id) with the score :meth:`score_pairs` gives them.
        """
        if not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"k must be a positive int; got {k!r}.")
        self._check_bound()
        users = self._conform(
            check_query_ids(user_ids, "user_ids"), self.user_col, "user_ids"
        )
        users = pd.unique(users)
        source = self.candidates if candidates is None else candidates
        if users.size == 0:
            empty = self.score_pairs(
                pd.DataFrame({self.user_col: [], self.item_col: []})
            )
            return empty.assign(rank=np.array([], dtype=np.int64))[
                [self.user_col, self.item_col, "rank", "score"]
                + [c for c in empty.columns if c not in (
                    self.user_col, self.item_col, "score", "candidate_score")]
            ]  # fmt: skip
        per_batch = max(
            1,
            self.batch_size
            // max(
                1,
                len(self.items_)
                if _is_all(source)
                else max(self._n_candidates(), k) * (3 if self._ranked else 1),
            ),
        )
        parts = []
        for start in range(0, users.size, per_batch):
            batch = users[start : start + per_batch]
            if self._ranked and candidates is None:
                cands = self._union_candidates(batch, exclude_seen)
                scored = self._score_ranked(cands, session)
                extra = self._completion(batch, scored, k, exclude_seen)
                if extra is not None:
                    proposed = None  # the short users' proposals: drawn again
                    if exclude_seen:  # ... unless these are them
                        short = cands[self.user_col].isin(extra[self.user_col])
                        proposed = cands[short].drop(columns=BASE, errors="ignore")
                    extra = self._with_union(extra, proposed)
                    extra = self._score_ranked(extra, session)
            else:
                pairs = self._candidate_pairs(batch, source, exclude_seen, k)
                extra = None
                if not isinstance(source, pd.DataFrame):
                    extra = self._completion(batch, pairs, k, exclude_seen)
                if extra is not None:
                    pairs = pd.concat([pairs, extra], ignore_index=True)
                scored = self.score_pairs(pairs, session=session)
                if extra is not None:  # scored with the candidates, listed after
                    extra = scored.iloc[len(pairs) - len(extra) :]
                    scored = scored.iloc[: len(pairs) - len(extra)]
            scored = self._after_candidates(scored, extra)
            order = pd.Series(np.arange(batch.size), index=batch)
            scored["_user_order"] = order.reindex(scored[self.user_col]).to_numpy()
            scored = scored.sort_values(
                ["_user_order", "_after", "_key", self.item_col], kind="stable"
            )
            scored["rank"] = scored.groupby("_user_order").cumcount() + 1
            parts.append(
                scored[scored["rank"] <= k].drop(
                    columns=["_user_order", "_after", "_key"]
                )
            )
        top = pd.concat(parts, ignore_index=True)
        names = [
            c
            for c in top.columns
            if c
            not in (self.user_col, self.item_col, "rank", "score", "candidate_score")
        ]
        return top[[self.user_col, self.item_col, "rank", "score", *names]]


def scoring_model(obj):
    """Return the estimator whose ``predict`` scores rows for ``obj``.

    A :class:`Recommender` scores through its fitted ``model_`` (None for
    one fitted on events alone); any other object is its own scorer. Serving
    paths (batch files, Dask, ONNX, the CLI) call this instead of testing the
    class themselves.
    """
    return obj.model_ if isinstance(obj, Recommender) else obj


def check_recommender(obj, name="MODEL"):
    """Raise a TypeError unless ``obj`` is a :class:`Recommender`."""
    if not isinstance(obj, Recommender):
        raise TypeError(
            f"{name} must be a saved Recommender (mtlclassic.save(Recommender(...), "
            f"path)); got a {type(obj).__name__}."
        )
