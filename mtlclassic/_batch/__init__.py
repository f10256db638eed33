"""Files in, files out: chunked reading, atomic output, batch and Dask scoring.

The library under the ``score``, ``recommend`` and ``similar`` commands,
usable from Python (a scheduler, a notebook) with no argparse:

- :mod:`.chunks`: reading CSV/parquet in chunks, casting each to the saved
  input schema, :class:`~.chunks.AtomicOutput`, :class:`~.chunks.InputError`;
- :mod:`.files`: ``score_file``, ``recommend_file``, ``similar_file``;
- :mod:`.dask_scoring`: ``predict_dask`` and ``score_dask`` (public through
  :mod:`mtlclassic.dask`).
"""
