"""The embedder protocol, and the machinery every embedder shares.

An *embedder* turns event rows (a user id, an item id, side columns) into
features for the heads. The pipeline of
:func:`~mtlclassic.make_multitask_recommender`, :class:`~mtlclassic.Recommender`
and the ``mtlclassic`` CLI find embedders, ids, seen items and candidates through
this protocol, never by class, so a new embedder plugs in by subclassing
:class:`BaseEmbedder` and writing two methods.

Protocol
--------
Parameters (``__init__`` arguments, as every scikit-learn estimator):

- ``user_col``, ``item_col``: the id columns (names, or positions for an array);
- ``passthrough`` (bool): whether the other input columns follow the new ones;
- ``cv``, ``random_state``: the folds of the cross-fitted ``fit_transform``
  (:class:`~mtlclassic.embedding._crossfit.CrossFitTransformerMixin`).

An embedder writes:

- ``fit(X, y=None, ...) -> self``: sets ``n_features_in_`` (and
  ``feature_names_in_`` for a DataFrame, e.g. through ``validate_data``) and
  calls :meth:`BaseEmbedder._remember_passthrough` with the validated ``X``;
- ``_embed(X) -> (Xv, Z)``: validates ``X`` (``Xv``: what the validation
  returned) and returns its new columns ``Z``, an ndarray of shape
  (n_rows, n_new), unseen ids handled by the embedder's documented rule;
- ``_embedding_names() -> list[str]``: the names of ``Z``'s columns.

and may override:

- ``_consumed_positions() -> list[int]``: input columns *not* passed through
  (ALS replaces its id columns by factors; default: none);
- ``_passthrough_first`` (class attribute, default False): whether the
  passthrough columns come before the new ones;
- ``_learns_interactions`` (class attribute, default False): whether every
  input row counts as an interaction (ALS), so that rows added for a
  selection task (sampled non-events) would corrupt it;
- ``_numpy_passthrough(X, Xv, keep)``: the passthrough block of an ndarray
  output (default: numeric values, ``category`` columns as their codes among
  the fitted categories);
- ``known_ids() -> {column: ids}``: the ids seen in fit per id column
  (:class:`~mtlclassic.Recommender` converts user input to their type);
- ``seen_pairs() -> (user_ids, item_ids)`` or None: interactions to exclude
  from recommendations;
- ``recommend_candidates(users, n, exclude_seen) -> DataFrame``: candidate
  generation (columns ``user_col``, ``item_col``, ``score``, ``rank``);
- ``item_vectors() -> (item_ids, V)``: the items' vectors, which give
  :meth:`BaseEmbedder.similar_items` (cosine) and a source of
  :meth:`mtlclassic.Recommender.similar_items`; ``_cold_item_order()``: the
  ranking an unseen query item gets (default: cosine to the mean vector).

Written once here: ``transform`` (the output container: ndarray, or a
DataFrame with the passthrough columns' dtypes kept and their categories
re-coded to the fitted ones; an unseen id of its own ``user_col``/``item_col``
is kept after them, a new user for a later step), ``get_feature_names_out``,
the cross-fitted ``fit_transform``, and the id helpers :func:`id_index` and
:func:`lookup_ids`.
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from .._compat import (
    _check_feature_names_in,
    _num_samples,
    check_is_fitted,
    wants_pandas_output,
)
from .._ids import (
    category_dtypes,
    column_positions,
    conform_ids,
    id_index,
    lookup_ids,
    recode_categories,
)
from .._similarity import check_ids, check_k, cosine_neighbours, neighbours_frame
from ._crossfit import CrossFitTransformerMixin

__all__ = ["BaseEmbedder", "find_embedders", "id_index", "lookup_ids"]


def unique_output_names(estimator, names):
    """Return ``names`` as an object array; ``ValueError`` if one repeats.

    A passed-through input column named like one of the embedder's new
    columns (``als_score``, ``fm_score_<task>``) would give the output two
    columns of that name, which pandas output and the next steps cannot tell
    apart.
    """
    names = [str(n) for n in names]
    if len(set(names)) < len(names):  # (transform calls this: the check is a set)
        counts = pd.Series(names).value_counts()
        repeated = counts.index[counts > 1].tolist()
        raise ValueError(
            f"{type(estimator).__name__} would output two columns named "
            f"{repeated}: an input column it passes through has the name of one "
            "of its new columns. Rename that input column, drop it, or set "
            "passthrough=False."
        )
    return np.asarray(names, dtype=object)


def is_embedder(obj) -> bool:
    """Whether ``obj`` follows the embedder protocol (see the module docstring)."""
    if isinstance(obj, BaseEmbedder):
        return True
    return all(hasattr(obj, a) for a in ("user_col", "item_col", "transform"))


def find_embedders(model) -> list:
    """Every embedder step of ``model`` (nested Pipelines too), in order."""
    if is_embedder(model):
        return [model]
    found = []
    for _, step in getattr(model, "steps", []):
        found += find_embedders(step)
    return found


class BaseEmbedder(CrossFitTransformerMixin, TransformerMixin, BaseEstimator):
    """Base of the embedders: the protocol in the module docstring.

    Subclasses write ``fit``, ``_embed`` and ``_embedding_names``; the output
    container, passthrough, feature names and cross-fitting are inherited.
    """

    _passthrough_first = False

    # ------------------------------------------------------ subclass hooks
    def _embed(self, X):  # pragma: no cover - the protocol
        """Validate ``X``; return ``(Xv, Z)`` with ``Z`` of shape (n_rows, n_new)."""
        raise NotImplementedError

    def _embedding_names(self) -> list:  # pragma: no cover - the protocol
        """Names of the new columns."""
        raise NotImplementedError

    def _consumed_positions(self) -> list:
        """Input columns that are not passed through (none by default)."""
        return []

    def known_ids(self) -> dict:
        """Ids seen in fit per id column name (none by default)."""
        return {}

    def seen_pairs(self):
        """``(user_ids, item_ids)`` of the interactions seen in fit, or None."""
        return None

    def item_vectors(self):
        """``(item_ids, V)``: the items seen in fit and their vectors, or None."""
        return None

    def _cold_item_order(self):
        """Rows of ``item_vectors`` an unseen query item gets, best first.

        None (the default) ranks the items by cosine to the mean item vector.
        """
        return None

    def similar_items(self, item_ids, k=10):
        """Top-``k`` most similar items of each item: cosine of ``item_vectors``.

        Parameters
        ----------
        item_ids : array-like
            Query items (duplicates dropped, order kept); ids of another type
            than the fitted ones are converted losslessly or refused.
        k : int, default=10
            Neighbours per item; all other items when ``k`` exceeds them.

        Returns
        -------
        DataFrame
            Columns ``<item_col>``, ``similar_<item_col>``, ``rank`` (1 =
            most similar) and ``score`` (cosine in [-1, 1]); an item is never
            its own neighbour. An item not seen in fit gets the embedder's
            cold ranking (:meth:`_cold_item_order`) with ``score`` NaN.

        Raises
        ------
        TypeError
            If the embedder has no item vectors.
        ValueError
            If ``k`` is not a positive int.
        """
        check_is_fitted(self)
        k = check_k(k)
        found = self.item_vectors()
        if found is None:
            raise TypeError(
                f"{type(self).__name__} has no item vectors (its item_vectors() "
                "returned None), which similar_items needs."
            )
        ids, V = found
        queries = conform_ids(check_ids(item_ids), ids, "item_ids")
        queries = pd.unique(queries)
        rows = lookup_ids(ids, queries, "item_ids")
        columns, values = cosine_neighbours(V, rows, k, self._cold_item_order())
        name = self.item_col
        if not isinstance(name, str):
            name = str(_check_feature_names_in(self, None)[name])
        return neighbours_frame(queries, ids, columns, values, name)

    # ------------------------------------------------------------ shared
    def _column_positions(self, params, columns, n_features):
        """Return the positions of the columns the parameters ``params`` name.

        See :func:`mtlclassic._ids.column_positions`.
        """
        return column_positions(self, params, columns, n_features)

    @staticmethod
    def _column(X, position):
        if isinstance(X, pd.DataFrame):
            return X.iloc[:, position].to_numpy()
        return X[:, position]

    def _id_values(self, X, position, param):
        """Return the ids of column ``position``; refuse missing or infinite ids."""
        ids = self._column(X, position)
        missing = pd.isna(ids)
        if missing.any():
            name = X.columns[position] if isinstance(X, pd.DataFrame) else position
            raise ValueError(
                f"{param}: the id column {name!r} has {int(missing.sum())} missing "
                f"id(s) (NaN/None), the first at position {int(np.argmax(missing))} of "
                "X; every event needs a user and an item id."
            )
        if ids.dtype.kind in "fc" and not np.isfinite(ids).all():
            raise ValueError(f"{param}: the id column has infinite ids.")
        return ids

    def _checked_block(self, embedding, n_rows):
        """``_embed``'s new columns as a 2-D ndarray with one row per input row.

        A DataFrame or Series is taken by position (never aligned on its
        index), a 1-D array is one column.
        """
        if hasattr(embedding, "to_numpy"):
            embedding = embedding.to_numpy()
        embedding = np.asarray(embedding)
        if embedding.ndim == 1:
            embedding = embedding[:, None]
        if embedding.ndim != 2 or embedding.shape[0] != n_rows:
            raise ValueError(
                f"{type(self).__name__}._embed returned new columns of shape "
                f"{embedding.shape}; expected ({n_rows}, n_new_columns), one row "
                "per row of X."
            )
        n_names = len(self._embedding_names())
        if embedding.shape[1] != n_names:
            raise ValueError(
                f"{type(self).__name__}._embed returned {embedding.shape[1]} "
                f"columns but _embedding_names() names {n_names}."
            )
        return embedding

    def _passthrough_positions(self) -> list:
        if not getattr(self, "passthrough", False):
            return []
        used = set(self._consumed_positions())
        return [j for j in range(self.n_features_in_) if j not in used]

    def _remember_passthrough(self, X):
        """Record the ``category`` dtypes of ``X``'s columns (for ``transform``)."""
        self.passthrough_categories_ = category_dtypes(X, range(X.shape[1]))

    def _fitted_categories(self, column, position, keep_unseen=False):
        """Re-code a passthrough ``category`` column by the fitted categories."""
        fitted = getattr(self, "passthrough_categories_", {}).get(position)
        return recode_categories(column, fitted, keep_unseen)

    def _numpy_passthrough(self, X, Xv, keep):
        """Passthrough columns of an ndarray output: numbers, categories as codes.

        Returns a list of 1-D arrays (or a 2-D array), one per column of ``keep``.
        """
        frame = Xv if isinstance(Xv, pd.DataFrame) else None
        values = []
        for j in keep:
            if frame is None:
                dense = Xv[:, [j]].toarray()[:, 0] if sp.issparse(Xv) else Xv[:, j]
                values.append(np.asarray(dense))
                continue
            column = self._fitted_categories(frame.iloc[:, j], j)
            if isinstance(column.dtype, pd.CategoricalDtype):
                codes = column.cat.codes.to_numpy()
                values.append(np.where(codes < 0, np.nan, codes).astype(np.float32))
            elif pd.api.types.is_bool_dtype(column.dtype) or (
                pd.api.types.is_numeric_dtype(column.dtype)
            ):
                values.append(column.to_numpy(dtype=np.float64, na_value=np.nan))
            else:
                raise TypeError(
                    f"Passthrough column {column.name!r} has dtype {column.dtype}, "
                    "which a numeric ndarray output cannot hold: use "
                    'set_output(transform="pandas"), passthrough=False, or drop '
                    "the column."
                )
        return values

    def _pandas_passthrough(self, X, Xv, keep, index):
        """Passthrough block of a DataFrame output: dtypes kept, categories fitted."""
        frame = Xv if isinstance(Xv, pd.DataFrame) else None
        if frame is None and isinstance(X, pd.DataFrame):
            frame = X
        if frame is not None:
            # an unseen id of this embedder's id columns stays itself for a
            # later step (ALS's new user), after the fitted categories; other
            # unseen categories are missing
            ids = {getattr(self, "user_col", None), getattr(self, "item_col", None)}
            return pd.concat(
                [self._fitted_categories(frame.iloc[:, j], j,
                                         keep_unseen=frame.columns[j] in ids - {None})
                 for j in keep], axis=1,
            )  # fmt: skip
        dense = Xv.toarray() if sp.issparse(Xv) else np.asarray(Xv)
        return pd.DataFrame(dense[:, keep], index=index)

    def transform(self, X):
        """Embed each row: the new columns, with the passthrough columns.

        Parameters
        ----------
        X : DataFrame, ndarray or sparse matrix of shape (n_rows, n_features_in_)
            Rows with the columns seen in ``fit``. Unseen ids follow the
            embedder's documented rule.

        Returns
        -------
        Z : ndarray or DataFrame of shape (n_rows, n_features_out)
            One row per row of ``X``, in its order; columns as named by
            :meth:`get_feature_names_out`. A DataFrame under
            ``set_output(transform="pandas")``, passthrough dtypes kept.
        """
        check_is_fitted(self)
        Xv, embedding = self._embed(X)
        return self._output(X, Xv, embedding)

    def _output(self, X, Xv, embedding):
        """Return ``transform``'s output: the new columns and the passthrough."""
        embedding = self._checked_block(embedding, _num_samples(X))
        keep = self._passthrough_positions()
        first = self._passthrough_first
        if wants_pandas_output(self):
            names = BaseEmbedder.get_feature_names_out(self)  # without extras
            width = embedding.shape[1]
            emb_names = names[len(keep) :] if first else names[:width]
            index = X.index if isinstance(X, pd.DataFrame) else None
            if index is None:
                index = pd.RangeIndex(embedding.shape[0])
            Z = pd.DataFrame(embedding, columns=emb_names, index=index, copy=False)
            if not keep:
                return Z.copy()
            rest = self._pandas_passthrough(X, Xv, keep, index)
            rest = rest.set_axis(names[: len(keep)] if first else names[width:], axis=1)
            # a deep copy: blocks that own their data hash the same after a
            # joblib cache round-trip (views of the input did not, so
            # Pipeline(memory=...) missed its cache and refitted the next step)
            return pd.concat([rest, Z] if first else [Z, rest], axis=1).copy()
        if not keep:
            return embedding
        rest = self._numpy_passthrough(X, Xv, keep)
        columns = rest if isinstance(rest, list) else list(rest.T)
        dtype = np.result_type(embedding.dtype, *[c.dtype for c in columns])
        width = embedding.shape[1]
        out = np.empty((embedding.shape[0], width + len(columns)), dtype=dtype)
        start = len(columns) if first else 0
        out[:, start : start + width] = embedding
        offset = 0 if first else width
        for j, values in enumerate(columns):
            out[:, offset + j] = values
        return out

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Names of the input columns; None uses ``feature_names_in_`` (or
            ``x0, x1, ...`` for an array ``X``).

        Returns
        -------
        feature_names_out : ndarray of str objects
            The new columns and the passthrough columns, in output order.

        Raises
        ------
        ValueError
            If ``input_features`` differs from ``feature_names_in_`` or has
            the wrong length, or if a passed-through input column has the
            name of a new column (rename it, or ``passthrough=False``).
        """
        check_is_fitted(self, "n_features_in_")
        names_in = _check_feature_names_in(self, input_features)
        passed = [str(names_in[j]) for j in self._passthrough_positions()]
        new = [str(n) for n in self._embedding_names()]
        return unique_output_names(
            self, passed + new if self._passthrough_first else new + passed
        )
