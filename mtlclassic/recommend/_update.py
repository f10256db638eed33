"""New events into a fitted model without a full refit (``Recommender.update``).

One update, in this order:

1. the heads (the last step, a :class:`~mtlclassic.MultiTaskLGBM`) refit
   their leaves on the labelled new rows (:meth:`MultiTaskLGBM.update`), on
   features computed by the model *before* the update: the features those
   rows would have been scored with, so the heads never learn from
   representations fitted to the rows themselves (as cross-fitting ensures
   in ``fit``);
2. every embedder with an ``update`` learns them, on its own input (the
   events through the pipeline steps before it): ALS folds them in (new users
   get factors, known users are re-solved on their whole history); an
   ``FMEmbedder`` learns the labelled rows (new users and items get factors,
   known ones are re-estimated; :meth:`MultiTaskFM.update`) and is left as
   it is when no labels are given;
3. a :class:`~mtlclassic.Recommender` adds the new (user, item) pairs to its
   seen pairs, so they are no longer recommended.
"""

import inspect
import numbers

import numpy as np
import pandas as pd

from .._compat import check_is_fitted
from .._targets import check_label_size, fitted_tasks, refuse_reordered_rows
from ..embedding._base import find_embedders, is_embedder


def _heads(model):
    """Return the model's last step and the steps before it (a Pipeline or None)."""
    steps = getattr(model, "steps", None)
    if steps is None:
        return model, None
    return steps[-1][1], model[:-1]


def update_model(model, events, labels=None, *, decay_rate=0.9):
    """Update a fitted estimator or Pipeline on new events; return it.

    Parameters
    ----------
    model : fitted estimator or Pipeline
    events : DataFrame of shape (n_new, n_columns)
        The new events, with the columns the model reads.
    labels : DataFrame of shape (n_new, n_tasks), default=None
        Their labels (NaN where missing), columns named as the model's tasks;
        None updates the embedders only.
    decay_rate : float in [0, 1], default=0.9
        Passed to :meth:`MultiTaskLGBM.update`.

    Raises
    ------
    TypeError
        If ``events`` is not a DataFrame, or labels are given for a model
        whose last step has no ``update``.
    ValueError
        If ``labels`` has another number of rows or other task names.
    """
    if not isinstance(events, pd.DataFrame):
        raise TypeError(f"events must be a DataFrame; got {type(events).__name__}.")
    if isinstance(decay_rate, bool) or not (
        isinstance(decay_rate, numbers.Real) and 0 <= decay_rate <= 1
    ):
        raise ValueError(f"decay_rate must be in [0, 1]; got {decay_rate!r}.")
    check_is_fitted(model)
    if len(events) == 0:
        return model
    if labels is not None:
        refuse_reordered_rows(events, labels=labels)
        head, before = _heads(model)
        labels = _check_labels(model, labels, len(events))
        if not hasattr(head, "update"):
            raise TypeError(
                f"The model's last step ({type(head).__name__}) has no update; "
                "pass labels=None to update the embedders only."
            )
        # labels any step refuses are refused before any step learns (the
        # heads learned a 1e200 rating the FM then refused)
        values = labels.to_numpy(dtype=np.float64, na_value=np.nan)
        check_label_size(values, ~np.isnan(values), list(labels.columns), "labels")
        features = events if before is None else before.transform(events)
        if "decay_rate" in inspect.signature(head.update).parameters:
            head.update(features, labels, decay_rate=decay_rate)
        else:  # a factorization machine (update(X, y)): no leaves to decay
            head.update(features, labels if labels.shape[1] > 1 else labels.iloc[:, 0])
    for embedder, X in _embedder_inputs(model, events):
        if not hasattr(embedder, "update"):
            continue
        if not getattr(embedder, "_update_needs_labels", False):
            embedder.update(X)
        elif labels is not None:
            embedder.update(X, labels)
    return model


def _embedder_inputs(model, X):
    """``[(embedder, its input)]``: ``X`` through the steps before each one.

    All inputs are computed before any embedder changes.
    """
    if is_embedder(model):
        return [(model, X)]
    found = []
    for i, (_, step) in enumerate(getattr(model, "steps", [])):
        if find_embedders(step):
            found += _embedder_inputs(step, X if i == 0 else model[:i].transform(X))
    return found


def _check_labels(model, labels, n_rows):
    tasks = list(fitted_tasks(model))
    if not tasks:  # a single-output estimator (FMRegressor): one label column
        if isinstance(labels, pd.Series):
            labels = labels.to_frame()
        if not isinstance(labels, pd.DataFrame) or labels.shape[1] != 1:
            raise ValueError(
                "labels of a single-output model must be one column (a Series or "
                f"a one-column DataFrame); got {type(labels).__name__} of shape "
                f"{getattr(labels, 'shape', None)}."
            )
        tasks = [str(labels.columns[0])]
    if isinstance(labels, pd.Series) and len(tasks) == 1:
        labels = labels.to_frame(tasks[0])  # a single-task model's labels
    if not isinstance(labels, pd.DataFrame):
        raise TypeError(f"labels must be a DataFrame; got {type(labels).__name__}.")
    if len(labels) != n_rows:
        raise ValueError(
            f"labels has {len(labels)} rows but events has {n_rows}; one row of "
            "labels per event."
        )
    if [str(c) for c in labels.columns] != tasks:
        missing = [t for t in tasks if t not in labels.columns]
        extra = [str(c) for c in labels.columns if c not in tasks]
        if extra:
            raise ValueError(
                f"labels has columns {extra} that are not tasks of the model ({tasks})."
            )
        labels = labels.reindex(columns=tasks)  # tasks absent: no new label
        if missing and len(missing) == len(tasks):
            raise ValueError(f"labels has none of the model's tasks {tasks}.")
    return labels.set_axis(np.arange(n_rows), axis=0)


def full_rows(rec, events):
    """``events`` with the model's other columns from items/users/context.

    Columns ``events`` has are kept; the missing ones are built as for
    :meth:`score_pairs` (a column none of them provides is a ValueError).
    """
    ids = [rec.user_col, rec.item_col]
    missing = [c for c in rec.input_columns_ if c not in events.columns]
    if not missing or not set(ids) <= set(events.columns) or not len(events):
        return events
    built = rec._model_rows(events[ids].reset_index(drop=True))
    # a column the model drops before any step (the time) is not built: a
    # step that reads it refuses the events itself (it was a KeyError)
    found = {c: built[c] for c in missing if c in built.columns}
    return events.reset_index(drop=True).assign(**found)


def session_rows(rec, session):
    """Return the session events with the model's other columns (None: None)."""
    if session is None:
        return None
    if not isinstance(session, pd.DataFrame):
        raise TypeError(f"session must be a DataFrame; got {type(session).__name__}.")
    for embedder in find_embedders(rec.model_):
        if getattr(embedder, "_uses_session_context", False):
            own = embedder._needed()[:3]  # user, item, time: never filled in
            missing = [c for c in own if c not in session.columns]
            if missing:
                raise ValueError(
                    f"session has no column(s) {missing}; its events need {own} "
                    "(the other columns come from the catalogue)."
                )
    if len(session) == 0:
        return None
    return full_rows(rec, rec._conform_frame(session, "session"))
