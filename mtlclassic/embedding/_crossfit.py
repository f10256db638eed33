"""Cross-fitted ``fit_transform`` for every embedder.

An embedding fitted on the training rows and then used as a feature *for those
same rows* leaks: a downstream head sees training rows whose embedding was
fitted to them, and test rows whose embedding was not. Like scikit-learn's
``TargetEncoder``, an embedder's ``fit_transform(X, y)`` therefore returns
out-of-fold embeddings: the rows of fold ``k`` are transformed by a clone
fitted on the other folds. ``fit(X).transform(X_new)`` uses the model fitted on
all rows.

Embedders get this by inheriting :class:`CrossFitTransformerMixin` and
declaring a ``cv`` and a ``random_state`` parameter; none re-implements the
fold loop.
"""

import numpy as np
from sklearn.base import clone

from .._compat import _num_samples, _safe_indexing
from .._crossfit import DrawnFolds, out_of_fold, resolve_cv

__all__ = ["CrossFitTransformerMixin", "cross_fit_transform", "resolve_cv"]


def cross_fit_transform(
    estimator,
    X,
    y=None,
    *,
    cv=5,
    random_state=None,
    groups=None,
    prepare=None,
    verbose=0,
    n_jobs=1,
    **fit_params,
):
    """Out-of-fold ``transform`` of ``X``: each fold by a clone fitted on the others.

    Parameters
    ----------
    estimator : transformer
        An unfitted embedder with a ``cv`` parameter (set to None in the clones).
    X : DataFrame or array-like
    y : array-like, default=None
        Passed to the clones' ``fit`` (sliced to their rows).
    cv : int, splitter or None, default=5
        See :func:`mtlclassic._crossfit.resolve_cv`.
    random_state : int or None
        Seed of the default ``KFold``.
    groups : array-like, default=None
        Passed to ``cv.split``.
    prepare : callable or None, default=None
        Called with each fold's unfitted clone before its ``fit`` (e.g. to
        warm-start it from a model fitted on all rows).
    verbose : int, default=0
        > 0 prints a line per fold (rows and seconds); the folds' own
        estimators get ``verbose - 1``.
    n_jobs : int, default=1
        Folds fitted at once, in threads (the clones' own ``n_jobs`` is
        unchanged); the output does not depend on it.
    **fit_params : dict
        Row-aligned arrays are sliced; anything else is passed unchanged.

    Returns
    -------
    Z : ndarray, sparse matrix or DataFrame
        The rows of ``X`` in their input order. Every row must belong to
        exactly one test fold.

    Raises
    ------
    ValueError
        If a fold's fit fails (naming the fold) or ``cv`` does not put every
        row in exactly one test fold.
    """
    splitter = resolve_cv(cv, random_state)
    if not hasattr(X, "iloc") and not hasattr(X, "shape"):
        X = np.asarray(X)  # lists and other array-likes
    if y is not None and not hasattr(y, "iloc") and not hasattr(y, "shape"):
        y = np.asarray(y)
    if splitter is None:
        return clone(estimator).set_params(cv=None).fit(X, y, **fit_params).transform(X)
    n_samples = _num_samples(X)

    has_verbose = "verbose" in estimator.get_params()
    quiet = {"verbose": max(0, verbose - 1)} if has_verbose else {}

    def fit_predict(train, test):
        fold = clone(estimator).set_params(cv=None, **quiet)
        fold_params = {
            k: _safe_indexing(v, train)
            if hasattr(v, "__len__") and len(v) == n_samples
            else v
            for k, v in fit_params.items()
        }
        if prepare is not None:
            prepare(fold)
        y_train = None if y is None else _safe_indexing(y, train)
        fold.fit(_safe_indexing(X, train), y_train, **fold_params)
        return fold.transform(_safe_indexing(X, test))

    return out_of_fold(
        fit_predict,
        X,
        y,
        splitter=splitter,
        groups=groups,
        advice=f"(cv={cv!r}) Use fewer folds (cv) or give the scarce task more labels.",
        progress=(
            (lambda line: print(f"[{type(estimator).__name__}] {line}", flush=True))
            if verbose
            else None
        ),
        n_jobs=n_jobs,
    )


class CrossFitTransformerMixin:
    """Give an embedder a cross-fitted ``fit_transform``.

    The class must have ``cv`` and ``random_state`` parameters. Its
    ``fit_transform(X, y)`` fits ``self`` on all rows (so a later
    ``transform(X_new)`` uses every row), then returns out-of-fold embeddings
    from clones fitted on the other folds. An embedder whose folds start
    from the full fit (``FMEmbedder``'s warm folds) overrides
    ``fit_transform`` and calls :func:`cross_fit_transform` with ``prepare``.
    """

    def _read_columns(self, X):
        """Return the columns of ``X`` that ``fit`` and ``transform`` read, or None.

        None (the default): the folds get every column. An embedder with a
        ``passthrough`` parameter that reads only some columns of a DataFrame
        (ALS: the ids and weights) returns their names (after ``fit``): its
        folds then see those columns alone, with ``passthrough=False``, and
        the other columns join the out-of-fold embedding once
        (``_output``), as the folds' own outputs would have passed them.
        """
        return None

    def _embedding_ahead(self, X, folds, fit_params):
        """Return the out-of-fold embedding of ``X`` (read columns) computed ahead.

        None (the default): the folds are fitted here. ``ALSEmbedder``
        takes the default pipeline's (:mod:`._als_ahead`).
        """
        return None

    def fit_transform(self, X, y=None, **fit_params):
        """Fit on all rows and return the cross-fitted (out-of-fold) embedding.

        Parameters
        ----------
        X : DataFrame or array-like
        y : array-like, default=None
        **fit_params : dict
            Passed to ``fit``.

        Returns
        -------
        Z : ndarray or DataFrame
            Out-of-fold embedding of every row of ``X`` (in-sample when
            ``cv`` is None, 0 or 1).
        """
        if not hasattr(X, "iloc") and not hasattr(X, "shape"):
            X = np.asarray(X)  # lists and other array-likes: rows for the folds
        if resolve_cv(self.cv, self.random_state) is None:
            return self.fit(X, y, **fit_params).transform(X)
        self.fit(X, y, **fit_params)
        read = self._read_columns(X)
        if read is not None:
            # the folds fitted and transformed on the columns they read: the
            # other columns are passed through once, not copied per fold
            folds = DrawnFolds(self.cv, self.random_state, X, y)
            embedding = self._embedding_ahead(X[read], folds, fit_params)
            if embedding is None:
                embedding = cross_fit_transform(
                    clone(self).set_params(passthrough=False),
                    X[read],
                    y,
                    cv=folds,
                    random_state=self.random_state,
                    verbose=getattr(self, "verbose", 0),
                    **fit_params,
                )
            return self._output(X, X, embedding)
        return cross_fit_transform(
            self,
            X,
            y,
            cv=self.cv,
            random_state=self.random_state,
            verbose=getattr(self, "verbose", 0),
            **fit_params,
        )
