"""The input schema saved with a model: written by ``save``, read by the scorers.

``save(model, path, input_example=X)`` records each column's name and dtype
(and a ``category`` column's categories); ``mtlclassic score`` casts every
chunk it reads to those dtypes (:func:`schema_dtype`).
"""

import pandas as pd

__all__ = ["input_schema", "schema_dtype", "schema_example", "unused_columns"]


def unused_columns(model) -> list:
    """Return the input columns the model drops before any step reads them.

    A Pipeline (or a ColumnTransformer) whose first step drops a column
    (``"drop"``), as the default pipeline's ``drop_time`` drops the time, does
    not need it to predict: scorers and the Recommender do not require it.
    """
    first = model
    while hasattr(first, "steps"):
        first = first.steps[0][1]
    dropped = []
    for _, transformer, columns in getattr(first, "transformers_", []):
        if isinstance(transformer, str) and transformer == "drop":
            names = getattr(first, "feature_names_in_", None)
            for column in [columns] if isinstance(columns, str | int) else columns:
                if isinstance(column, str):
                    dropped.append(column)
                elif names is not None:
                    dropped.append(str(names[column]))
    return dropped


def input_schema(example, input_columns) -> list:
    """Return the column names, dtypes and categories of ``example`` (JSON-able).

    Raises
    ------
    TypeError
        If ``example`` is not a DataFrame, or holds categories that are neither
        numbers nor strings.
    ValueError
        If it lacks a column of ``input_columns``.
    """
    if not isinstance(example, pd.DataFrame):
        raise TypeError(
            "input_example must be a pandas DataFrame (a few rows of the model's "
            f"input); got {type(example).__name__}."
        )
    missing = [c for c in input_columns or [] if c not in set(map(str, example))]
    if missing:
        raise ValueError(
            f"input_example lacks the columns {missing}, which the model reads."
        )
    schema = []
    for name in example.columns:
        dtype = example[name].dtype
        entry = {"name": str(name), "dtype": str(dtype)}
        if isinstance(dtype, pd.CategoricalDtype):
            categories = dtype.categories
            if categories.dtype.kind not in "biuf" and not all(
                isinstance(c, str) for c in categories
            ):
                raise TypeError(
                    f"input_example column {name!r}: only categories of numbers "
                    f"or strings are stored; got dtype {categories.dtype}."
                )
            entry.update(
                dtype="category",
                categories=categories.tolist(),
                categories_dtype=str(categories.dtype),
                ordered=bool(dtype.ordered),
            )
        schema.append(entry)
    return schema


def schema_dtype(entry):
    """Return the pandas dtype of one schema entry."""
    if entry["dtype"] == "category":
        categories = pd.Index(
            entry["categories"], dtype=entry.get("categories_dtype") or None
        )
        return pd.CategoricalDtype(categories, ordered=entry.get("ordered", False))
    return pd.api.types.pandas_dtype(entry["dtype"])


def schema_example(schema):
    """Return an empty DataFrame with the columns and dtypes of ``schema``."""
    return pd.DataFrame({e["name"]: pd.Series(dtype=schema_dtype(e)) for e in schema})
