r"""The factorization-machine family: FMRegressor, FMClassifier, MultiTaskFM and more.

Its modules follow the algorithm: :mod:`.design` (``X`` → a sparse design
organised in fields) → :mod:`.model` (predictions, datafits, derivatives) →
the two solvers, :mod:`.coordinate_descent` (``solver="als"``) and
:mod:`.gibbs` (``solver="mcmc"``) → :mod:`.update` (new rows without a
refit) → :mod:`.base` (``_BaseFM``: encoding, solving, posterior) → the
estimators, :mod:`.supervised` and :mod:`.embedder`. Serving: :mod:`.onnx`
(the ONNX graph) and :mod:`.kernels` (the compiled and ONNX kernels, registered
in :mod:`mtlclassic._serving`).
"""

from . import kernels  # noqa: F401 - registers the FMs' serving kernels
from .embedder import FMEmbedder
from .supervised import FMClassifier, FMRegressor, MultiTaskFM

__all__ = ["FMClassifier", "FMEmbedder", "FMRegressor", "MultiTaskFM"]
