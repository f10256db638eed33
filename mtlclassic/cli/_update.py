"""``mtlclassic update MODEL EVENTS OUTPUT``: learn new events without a refit."""

import pandas as pd

from .._batch.chunks import (
    InputError,
    Source,
    _note,
    check_output_file,
    input_columns_of,
    iter_chunks,
)
from .._batch.files import delimiter_hint
from .._schema import schema_dtype, schema_example
from ..embedding._base import is_embedder
from ..io import save
from ..recommend._recommender import scoring_model
from ..recommend._update import update_model
from ._common import (
    EXIT_CODES,
    FORMATTER,
    add_trust,
    load_model,
    n_jobs_params,
    run_work,
    set_n_jobs,
)


def add_parser(subparsers):
    """Add ``update`` to the command's subparsers."""
    update = subparsers.add_parser(
        "update",
        help="learn new events without a full refit",
        formatter_class=FORMATTER,
        description=(
            "MODEL is a saved model or Recommender. Read EVENTS (CSV or parquet,\n"
            "the columns the model reads, and label columns named as its tasks\n"
            "where labels are known), update the model (the heads refit their\n"
            "leaves on the labelled rows, ALS folds the events in, a Recommender\n"
            "marks the pairs seen; see Recommender.update) and save it to OUTPUT\n"
            "(written to a temporary file and renamed). EVENTS is read whole."
        ),
        epilog=EXIT_CODES,
    )
    update.add_argument("model", metavar="MODEL", help="a saved model or Recommender")
    update.add_argument("events", metavar="EVENTS", help="CSV/parquet of new events")
    update.add_argument("output", metavar="OUTPUT", help="the updated model file")
    update.add_argument(
        "--decay-rate",
        type=float,
        default=0.9,
        metavar="D",
        help="weight of the heads' old leaf values, in [0, 1] (default 0.9)",
    )
    update.add_argument(
        "--overwrite", action="store_true", help="replace OUTPUT if it exists"
    )
    update.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        metavar="N",
        help="threads for this update (the saved model keeps its own n_jobs)",
    )
    add_trust(update)


def run(args):
    """Run the ``update`` command; return its exit code."""

    def work():
        if not 0 <= args.decay_rate <= 1:
            raise InputError(f"--decay-rate must be in [0, 1]; got {args.decay_rate}.")
        model, manifest = load_model(args.model, args.trust)
        check_output_file(args.output, args.overwrite)
        target = scoring_model(model)
        saved_jobs = n_jobs_params(target)
        set_n_jobs(target, args.n_jobs)
        schema = manifest.get("input_schema")
        tasks = list(manifest.get("model", {}).get("tasks", {}))
        source = Source(args.events, "EVENTS")
        available = input_columns_of(source)
        hint = delimiter_hint(available)
        if hint:  # one column named 'user_id;item_id;...': not the events
            raise InputError(f"{source}: {hint}.")
        label_cols = [t for t in tasks if t in available]
        head = target.steps[-1][1] if hasattr(target, "steps") else target
        needs_labels = not is_embedder(head) or getattr(
            head, "_update_needs_labels", False
        )
        if not tasks and hasattr(head, "update") and needs_labels:  # it learned
            # nothing, silently
            raise InputError(
                f"{type(head).__name__} was fitted on a 1-D y, so its labels have "
                "no name the command can find among the columns; update it in "
                "Python: update_model(model, events, labels)."
            )
        # category columns are read as values, not cast to the saved categories:
        # a new category value is something to learn (as update_model does on a
        # frame), not a missing value; the saved schema then grows with it
        reading = _values_schema(schema)
        chunks = list(iter_chunks(source, 1_000_000, schema=reading, label="EVENTS"))
        events = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()
        events, schema = _grown_categories(events, schema)
        labels = events[label_cols] if label_cols else None
        events = events.drop(columns=label_cols)
        try:
            if target is not model:  # a Recommender: it updates its model too
                model.update(events, labels, decay_rate=args.decay_rate)
            else:
                update_model(model, events, labels, decay_rate=args.decay_rate)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{source}: {exc}") from None
        example = schema_example(schema) if schema else None
        if saved_jobs:
            target.set_params(**saved_jobs)  # --n-jobs is for this run only
        save(model, args.output, overwrite=True, input_example=example)
        _note(
            f"updated on {len(events):,} events (labels: {label_cols or 'none'}); "
            f"wrote {args.output}"
        )

    return run_work(args, work)


def _values_schema(schema):
    """Return ``schema`` with each category column read as its categories' values."""
    if not schema:
        return schema
    return [
        {"name": e["name"], "dtype": e.get("categories_dtype") or "str"}
        if e["dtype"] == "category"
        else e
        for e in schema
    ]


def _grown_categories(events, schema):
    """Cast the category columns with their saved categories plus any new ones.

    Returns ``(events, schema)``: new values are appended to the categories
    (in order of appearance), so the update learns them and the saved schema
    keeps them for scoring.
    """
    if not schema:
        return events, schema
    grown, changed = [], {}
    for entry in schema:
        name = entry["name"]
        if entry["dtype"] != "category" or name not in events.columns:
            grown.append(entry)
            continue
        dtype = schema_dtype(entry)
        values = events[name]
        known = set(dtype.categories.tolist())
        extra = [v for v in pd.unique(values.dropna()) if v not in known]
        categories = dtype.categories.tolist() + [
            v.item() if hasattr(v, "item") else v for v in extra
        ]
        grown.append({**entry, "categories": categories})
        changed[name] = pd.Categorical(
            values, categories=pd.Index(categories, dtype=dtype.categories.dtype),
            ordered=dtype.ordered,
        )  # fmt: skip
    return events.assign(**changed), grown
