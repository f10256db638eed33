"""CandidateUnion: several generators' candidates as one frame, each source kept."""

import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from .._compat import _fit_context, check_is_fitted, validate_data
from .._ids import check_query_ids, conform_ids
from .._similarity import check_k

__all__ = ["CandidateUnion", "check_generator"]

RRF_K = 60  # reciprocal rank fusion's constant (Cormack et al., SIGIR 2009)


def check_generator(generator, name):
    """Refuse an object without the candidate-generator protocol, naming it."""
    needed = ("fit", "recommend", "score_pairs", "known_ids")
    missing = [m for m in needed if not hasattr(generator, m)]
    if missing:
        raise TypeError(
            f"generator {name!r} ({type(generator).__name__}) lacks {missing} of the "
            "candidate-generator protocol (mtlclassic.candidates.BaseCandidateGenerator"
            "; ALSEmbedder follows it too)."
        )
    return generator


class CandidateUnion(BaseEstimator):
    r"""The union of several candidate generators: one frame, every source's say.

    Each generator proposes its top ``n_candidates`` items per user; the
    union is one row per (user, item) proposed by any of them, with each
    source's score and rank (rank NaN where the source did not propose the
    pair). With ``fill_scores=True`` a source's score is also filled in for
    pairs it did not propose (its :meth:`score_pairs`), so a ranker sees every
    source's opinion of every candidate. The union's own ``score`` is the
    reciprocal rank fusion :math:`\sum_g 1 / (60 + r_g)` over the sources
    that proposed the pair [1]_.

    Users a generator did not see in fit get no candidates from it (a
    :class:`Popularity` generator serves every user): include one to serve
    new users.

    Parameters
    ----------
    generators : list of (str, generator) tuples
        Named candidate generators (:mod:`mtlclassic.candidates`, or
        :class:`~mtlclassic.ALSEmbedder`), fitted as clones on the same events.
        Names must be distinct and valid identifiers.
    n_candidates : int or dict, default=100
        Candidates per user from each generator, or ``{name: n}``.
    fill_scores : bool, default=True
        Score every candidate by every source (NaN where a source knows
        neither the user nor the item).
    user_col, item_col : str, default="user_id", "item_id"
        The id columns of the events and of the output.

    Attributes
    ----------
    generators_ : list of (str, fitted generator)
        The fitted clones, in the order given.

    References
    ----------
    .. [1] G. Cormack, C. Clarke, S. Buettcher, "Reciprocal rank fusion
       outperforms Condorcet and individual rank learning methods", SIGIR 2009.

    Examples
    --------
    >>> import pandas as pd
    >>> from mtlclassic.candidates import CandidateUnion, EASE, Popularity
    >>> events = pd.DataFrame({"user_id": [1, 1, 2, 2, 3],
    ...                        "item_id": ["a", "b", "a", "c", "b"]})
    >>> union = CandidateUnion([("ease", EASE(1.0)), ("pop", Popularity())],
    ...                        n_candidates=1).fit(events)
    >>> union.recommend([3, 4])[["user_id", "item_id", "rank_ease", "rank_pop"]]
       user_id item_id  rank_ease  rank_pop
    0        3       a        1.0       1.0
    1        4       a        NaN       1.0
    """

    _parameter_constraints = {
        "generators": [list],
        "n_candidates": [numbers.Integral, dict],
        "fill_scores": ["boolean"],
        "user_col": [str],
        "item_col": [str],
    }

    def __init__(
        self,
        generators,
        *,
        n_candidates=100,
        fill_scores=True,
        user_col="user_id",
        item_col="item_id",
    ):
        self.generators = generators
        self.n_candidates = n_candidates
        self.fill_scores = fill_scores
        self.user_col = user_col
        self.item_col = item_col

    def _checked_generators(self):
        if not self.generators:
            raise ValueError("generators must name at least one generator.")
        names = []
        for entry in self.generators:
            if not (isinstance(entry, tuple) and len(entry) == 2):
                raise TypeError(
                    "generators must be a list of (name, generator) tuples; got "
                    f"{entry!r}."
                )
            name, generator = entry
            if not (isinstance(name, str) and name.isidentifier()):
                raise ValueError(f"generator names must be identifiers; got {name!r}.")
            check_generator(generator, name)
            names.append(name)
        if len(set(names)) != len(names):
            raise ValueError(f"generator names must be distinct; got {names}.")
        counts = self.n_candidates
        if isinstance(counts, dict):
            unknown = sorted(set(counts) - set(names))
            if unknown or set(counts) != set(names):
                raise ValueError(
                    f"n_candidates names {sorted(counts)}; it must give a count for "
                    f"each generator {names} (unknown: {unknown})."
                )
        for name in names:
            n = counts[name] if isinstance(counts, dict) else counts
            if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
                raise ValueError(
                    f"n_candidates for {name!r} must be a positive int; got {n!r}."
                )
        return names

    def _count(self, name):
        counts = self.n_candidates
        return int(counts[name] if isinstance(counts, dict) else counts)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit a clone of every generator on the events ``X``.

        Parameters
        ----------
        X : DataFrame of shape (n_events, n_columns)
            The events (each generator reads the columns it needs).
        y : None
            Ignored.

        Returns
        -------
        self : CandidateUnion
        """
        self._checked_generators()
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, skip_check_array=True, reset=True)
        else:
            X = validate_data(self, X, dtype=None, ensure_all_finite=False)
        self.generators_ = [
            (name, clone(generator).fit(X)) for name, generator in self.generators
        ]
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags

    def update(self, X_new, y=None):
        """Learn new events in every generator (its ``update``: a fold-in).

        Parameters
        ----------
        X_new : DataFrame of shape (n_new, n_columns)
        y : None
            Ignored.

        Returns
        -------
        self : CandidateUnion

        Raises
        ------
        TypeError
            If a generator has no ``update``.
        """
        self.check_update(X_new)
        for _, generator in self.generators_:
            generator.update(X_new)
        return self

    def check_update(self, X_new):
        """Raise what :meth:`update` would raise for ``X_new``, changing nothing.

        Every generator is checked (its ``check_update``, when it has one)
        before any learns, so a refused batch leaves them all as they were.
        """
        check_is_fitted(self)
        for name, generator in self.generators_:
            if not hasattr(generator, "update"):
                raise TypeError(f"generator {name!r} has no update(X_new).")
            if hasattr(generator, "check_update"):
                generator.check_update(X_new)

    def _conformed(self, ids, position):
        """Query ids as the fitted ids' type (``"3"`` for a model fitted on ints).

        ``position``: 0 for users, 1 for items. The first generator's ids set
        the type (every generator is fitted on the same events).
        """
        fitted = list(self.generators_[0][1].known_ids().values())[position]
        column = "user_ids" if position == 0 else "item_ids"
        return conform_ids(ids, np.asarray(fitted), column)

    @staticmethod
    def _known_users(generator):
        if getattr(generator, "_serves_cold_users", False):
            return None
        return next(iter(generator.known_ids().values()))

    def _proposals(self, name, generator, users, exclude_seen):
        known = self._known_users(generator)
        asked = users if known is None else users[pd.Index(known).get_indexer(
            pd.Index(users)) >= 0]  # fmt: skip
        if asked.size == 0:
            return None
        frame = generator.recommend(asked, self._count(name), exclude_seen=exclude_seen)
        frame = frame[frame["score"].notna() | (known is None)]
        return pd.DataFrame(
            {
                self.user_col: frame.iloc[:, 0].to_numpy(),
                self.item_col: frame.iloc[:, 1].to_numpy(),
                f"score_{name}": frame["score"].to_numpy(dtype=np.float64),
                f"rank_{name}": frame["rank"].to_numpy(dtype=np.float64),
            }
        )

    def recommend(self, user_ids, n=None, *, exclude_seen=True):
        """Candidates of every generator, one row per (user, item).

        Parameters
        ----------
        user_ids : array-like
            The users (duplicates dropped, order kept; a missing id is a
            ``ValueError`` naming its position).
        n : int or None, default=None
            Keep each user's best ``n`` by the fused score; None keeps all.
        exclude_seen : bool, default=True
            Each generator leaves out the items the user had in fit.

        Returns
        -------
        DataFrame
            ``<user_col>``, ``<item_col>``, ``score`` (reciprocal rank fusion),
            ``rank`` (1 = best), then ``score_<name>`` and ``rank_<name>`` per
            generator; by user in the order given, then rank (ties by the
            first generator's order).
        """
        check_is_fitted(self)
        users = pd.unique(self._conformed(check_query_ids(user_ids, "user_ids"), 0))
        parts = [
            self._proposals(name, generator, users, exclude_seen)
            for name, generator in self.generators_
        ]
        merged = None
        for part in parts:
            if part is None:
                continue
            merged = part if merged is None else merged.merge(
                part, on=[self.user_col, self.item_col], how="outer", sort=False
            )  # fmt: skip
        names = [name for name, _ in self.generators_]
        if merged is None:
            merged = pd.DataFrame({self.user_col: users[:0], self.item_col: []})
        for name in names:
            for col in (f"score_{name}", f"rank_{name}"):
                if col not in merged:
                    merged[col] = np.nan
        if self.fill_scores and len(merged):
            self._fill(merged)
        ranks = merged[[f"rank_{name}" for name in names]].to_numpy()
        merged["score"] = np.nansum(1.0 / (RRF_K + ranks), axis=1)
        order = pd.Series(np.arange(users.size), index=users)
        merged["_user"] = order.reindex(merged[self.user_col]).to_numpy()
        # ties by the first generator's order (then the next one's, then id);
        # an outer merge orders its keys by value, whatever sort= says
        ranks = [f"rank_{name}" for name in names]
        keys = ["_user", "score", *ranks]
        try:
            merged = merged.sort_values(
                [*keys, self.item_col], ascending=[True, False] + [True] * (
                    len(ranks) + 1), kind="stable", na_position="last",
            )  # fmt: skip
        except TypeError:  # ids that do not sort
            merged = merged.sort_values(
                keys, ascending=[True, False] + [True] * len(ranks), kind="stable",
                na_position="last",
            )  # fmt: skip
        merged["rank"] = merged.groupby("_user").cumcount() + 1
        if n is not None:
            merged = merged[merged["rank"] <= check_k(n)]
        columns = [self.user_col, self.item_col, "score", "rank"]
        columns += [c for name in names for c in (f"score_{name}", f"rank_{name}")]
        return merged[columns].reset_index(drop=True)

    def _fill(self, merged):
        users = merged[self.user_col].to_numpy()
        items = merged[self.item_col].to_numpy()
        for name, generator in self.generators_:
            col = f"score_{name}"
            todo = merged[col].isna().to_numpy()
            if todo.any():
                values = merged[col].to_numpy(dtype=np.float64, copy=True)
                values[todo] = generator.score_pairs(users[todo], items[todo])
                merged[col] = values

    def score_pairs(self, user_ids, item_ids):
        """Every generator's score of given pairs.

        Parameters
        ----------
        user_ids, item_ids : array-like of shape (n_pairs,)

        Returns
        -------
        DataFrame of shape (n_pairs, n_generators)
            Column ``score_<name>`` per generator (NaN where it knows neither).
        """
        check_is_fitted(self)
        return pd.DataFrame(
            {
                f"score_{name}": generator.score_pairs(user_ids, item_ids)
                for name, generator in self.generators_
            }
        )

    def known_ids(self):
        """Return the ids any generator saw in fit, keyed by column name."""
        check_is_fitted(self)
        found = [g.known_ids() for _, g in self.generators_]
        out = {}
        for key, position in ((self.user_col, 0), (self.item_col, 1)):
            values = [list(ids.values())[position] for ids in found]
            out[key] = pd.unique(np.concatenate([np.asarray(v) for v in values]))
        return out

    def similar_items(self, item_ids, k=10):
        """Each generator's similar items, fused by reciprocal rank.

        Parameters
        ----------
        item_ids : array-like
        k : int, default=10

        Returns
        -------
        DataFrame
            ``<item_col>``, ``similar_<item_col>``, ``rank``, ``score`` (the
            fused reciprocal rank); generators without item similarity are
            skipped.
        """
        check_is_fitted(self)
        k = check_k(k)
        item_ids = self._conformed(check_query_ids(item_ids, "item_ids"), 1)
        frames = []
        for _, generator in self.generators_:
            try:
                found = generator.similar_items(item_ids, k)
            except TypeError:
                continue
            found = found[found["score"].notna()]
            frames.append(found.iloc[:, [0, 1, 2]].set_axis(["q", "s", "r"], axis=1))
        if not frames:
            raise TypeError("No generator of the union has item similarity.")
        stacked = pd.concat(frames, ignore_index=True)
        stacked["score"] = 1.0 / (RRF_K + stacked["r"])
        fused = stacked.groupby(["q", "s"], sort=False, as_index=False)["score"].sum()
        queries = pd.unique(item_ids)  # conformed above
        fused["_q"] = pd.Series(np.arange(queries.size), index=queries).reindex(
            fused["q"]).to_numpy()  # fmt: skip
        fused = fused.sort_values(["_q", "score"], ascending=[True, False],
                                  kind="stable")  # fmt: skip
        fused["rank"] = fused.groupby("_q").cumcount() + 1
        fused = fused[fused["rank"] <= k]
        return pd.DataFrame(
            {
                self.item_col: fused["q"].to_numpy(),
                f"similar_{self.item_col}": fused["s"].to_numpy(),
                "rank": fused["rank"].to_numpy(dtype=np.int64),
                "score": fused["score"].to_numpy(dtype=np.float64),
            }
        )
