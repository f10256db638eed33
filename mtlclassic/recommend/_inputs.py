"""The inputs of a Recommender: the model's columns, fitted ids, side tables."""

import pandas as pd


def model_input_columns(model):
    """Return the columns a fitted model reads (its ``feature_names_in_``)."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise ValueError(
            "The model must have been fitted on a DataFrame (it has no "
            "feature_names_in_), so the Recommender knows which columns to build."
        )
    return [str(c) for c in names]


def fitted_ids(embedders):
    """Return the ids the model was fitted on, per id column.

    Asked of every embedder (:meth:`~mtlclassic.embedding.BaseEmbedder.known_ids`),
    the candidate generator first; the first to know a column gives its ids.
    """
    found = {}
    for embedder in embedders:
        known = getattr(embedder, "known_ids", None)
        for col, ids in (known() if known is not None else {}).items():
            found.setdefault(col, ids)
    return found


def side_table(table, key, param):
    if table is None:
        return None
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{param} must be a DataFrame; got {type(table).__name__}.")
    if key not in table.columns:
        raise ValueError(f"{param} has no {key!r} column (its ids).")
    missing = table[key].isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"{param}[{key!r}] has {int(missing.sum())} missing id(s) (NaN/None), the "
            f"first at row {int(missing.argmax())}; every row of {param} needs an id."
        )
    if table[key].duplicated().any():
        dup = table.loc[table[key].duplicated(), key].iloc[:3].tolist()
        raise ValueError(f"{param} has duplicate ids in {key!r}, e.g. {dup}.")
    return table.set_index(key, drop=False)
