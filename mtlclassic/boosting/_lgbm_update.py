"""New labelled rows into fitted heads: LightGBM's leaf refit (``update``).

Every tree keeps its structure; each leaf the new rows reach becomes
``decay_rate`` x its value + (1 - ``decay_rate``) x the value fitted on them
(``lightgbm.Booster.refit``: a Newton step times the learning rate, from the
same starting scores as in fit), and the leaves they do not reach keep their
values. Per strategy:

* ``separate`` (and ``chain``): each task's booster on its labelled rows,
  from its ``init_score`` offset; a chain's later tasks read the earlier
  tasks' updated predictions;
* ``shared``: the one shared booster on every shared task's labelled rows,
  stacked with the task column as in fit, each from its base score;
* ``finetune``: the shared booster first, then each task's tower from the
  updated shared raw score (its starting score in fit).
"""

import numpy as np

from .._compat import FittedOverlay, effective_n_jobs
from ._lgbm_input import check_label_gain
from ._lgbm_predict import predict_column
from ._lgbm_train import FitData


def refit_leaves(est, new, weights, decay_rate):
    """Refit the heads on the labelled new rows.

    ``new`` is the checked :class:`EvalData` of the new rows, ``weights`` their
    (n_new, n_tasks) sample weights or None. ``est`` is not changed: returns
    ``(names updated, {attribute: new value})`` (``boosters_`` as a new dict,
    ``shared_booster_``), which ``MultiTaskLGBM.update`` assigns.
    """
    est = FittedOverlay(est)
    est.boosters_ = dict(est.boosters_)  # a copy: the estimator's stays as it is
    return _refit_leaves(est, new, weights, decay_rate), est.changed


def _refit_leaves(est, new, weights, decay_rate):
    names, kinds = list(est.tasks_), list(est.tasks_.values())
    threads = effective_n_jobs(est.n_jobs)
    shared = [t for t, n in enumerate(names) if n in est.shared_init_score_]
    out = _refit_shared(est, new, weights, decay_rate, shared, threads)
    data = FitData(
        new.X, new.Y, new.mask, weights, new.query, None, names, kinds, [],
        offsets=getattr(est, "init_score_columns_", {}),
    )  # fmt: skip
    preds, cache = np.full(new.Y.shape, np.nan), {}
    for t, name in enumerate(names):
        F = np.hstack([new.X, preds[:, :t]]) if est.chain_ and t else new.X
        rows = np.flatnonzero(new.mask[:, t])
        if t not in shared and rows.size and est.best_iteration_[name] > 0:
            part = data.rows(t, F, rows, W=weights)
            if kinds[t] == "ranking":
                params = (est.task_params or {}).get(name, {})
                check_label_gain(name, part.y, params)
            est.boosters_[name] = _refit(
                est.boosters_[name], part.X, part.y, part.w, part.init,
                decay_rate, threads, group=part.group,
            )  # fmt: skip
            out.append(name)
        if est.chain_:
            preds[:, t] = predict_column(est, new.X, t, preds, cache)
    return out


def _refit(old, X, y, w, init, decay_rate, threads, group=None):
    """``old.refit`` on the rows, with the unreached leaves' values kept."""
    booster = old.refit(
        X, y, decay_rate=decay_rate, weight=w, group=group, init_score=init,
        num_threads=threads,
    )  # fmt: skip
    _keep_unreached_leaves(old, booster, X if w is None else X[w > 0], threads)
    return booster


def _refit_shared(est, new, weights, decay_rate, shared, threads):
    """Refit the shared booster (and finetune towers) on the shared tasks' rows."""
    names = list(est.tasks_)
    labelled = [t for t in shared if new.mask[:, t].any()]
    if not labelled or est.shared_booster_ is None:
        return []
    if len({est.tasks_[names[t]] for t in shared}) > 1:
        raise ValueError(
            "update cannot refit a shared booster over tasks of different kinds "
            f"({sorted({est.tasks_[names[t]] for t in shared})}): it was trained "
            "with a custom objective, which LightGBM's refit does not take."
        )
    if isinstance(getattr(est, "task_weights", None), str):
        raise ValueError(
            f"update cannot refit a shared booster trained with task_weights="
            f"{est.task_weights!r}: its custom objective (dynamic weights) is "
            "not one LightGBM's refit takes."
        )
    stacked = len(est.shared_tasks_) > 1
    fixed = getattr(est, "task_weights_", None)  # as in fit: times row weights
    blocks = []
    for t in labelled:
        rows = np.flatnonzero(new.mask[:, t])
        X = new.X[rows]
        if stacked:
            X = np.hstack([X, np.full((rows.size, 1), float(t))])
        w = None if weights is None else weights[rows, t]
        blocks.append((t, rows, X, w))
    X = np.vstack([b[2] for b in blocks])
    y = np.concatenate([new.Y[b[1], b[0]] for b in blocks])
    ws = [b[3] for b in blocks]
    if fixed is not None and est.task_weights is not None:  # the shared booster's
        scales = [fixed[est.shared_tasks_.index(names[b[0]])] for b in blocks]
        ws = [
            np.full(b[1].size, c) if w is None else w * c
            for b, w, c in zip(blocks, ws, scales)
        ]
    w = None if all(x is None for x in ws) else np.concatenate(ws)
    init = np.concatenate(
        [np.full(b[1].size, est.shared_init_score_[names[b[0]]]) for b in blocks]
    )
    est.shared_booster_ = _refit(
        est.shared_booster_, X, y, w, init, decay_rate, threads
    )
    for t, rows, Xt, wt in blocks:  # finetune: each tower from the new shared score
        name = names[t]
        if name in est.boosters_ and est.best_iteration_[name] > 0:
            raw = est.shared_booster_.predict(
                Xt, raw_score=True, num_iteration=est.shared_best_iteration_,
                num_threads=threads,
            )  # fmt: skip
            est.boosters_[name] = _refit(
                est.boosters_[name], new.X[rows], new.Y[rows, t], wt,
                raw + est.shared_init_score_[name], decay_rate, threads,
            )  # fmt: skip
    return [names[t] for t in labelled]


def _keep_unreached_leaves(old, new, X, threads):
    """Give every leaf no new row reaches its old value back.

    LightGBM's refit fits such a leaf to 0 and so shrinks it by
    ``decay_rate``: a small update would shrink the whole model.
    """
    n_trees = old.num_trees()
    leaves = old.predict(
        X, pred_leaf=True, num_iteration=-1, num_threads=threads
    ).reshape(X.shape[0], n_trees)  # every tree, past best_iteration too
    dump = old.dump_model()["tree_info"]
    for tree in range(n_trees):
        hit = np.zeros(dump[tree]["num_leaves"], dtype=bool)
        hit[np.unique(leaves[:, tree])] = True
        for leaf in np.flatnonzero(~hit):
            new.set_leaf_output(tree, int(leaf), old.get_leaf_output(tree, int(leaf)))
