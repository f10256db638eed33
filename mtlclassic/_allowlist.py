"""What a model file may name: the allow-list of ``mtlclassic.load``.

``load`` re-creates only classes of mtlclassic and scikit-learn, implicit's CPU
ALS model, and the modules a caller names in ``trusted=``; a LightGBM booster
only from its model text. A file stores an mtlclassic class by its shortest
public name, and ``load`` checks the class a name resolves to, so a class that
moves between private modules keeps loading.
"""

import sys

from sklearn.base import BaseEstimator

_ALLOWED_PREFIXES = ("mtlclassic.", "sklearn.")
_ALLOWED_CLASSES = {"implicit.cpu.als.AlternatingLeastSquares"}
_BOOSTER = "lightgbm.basic.Booster"  # stored as LightGBM's model text only


def _qualname(obj_type) -> str:
    return f"{obj_type.__module__}.{obj_type.__qualname__}"


def _public_name(obj_type) -> str:
    """Return the name a file stores: an mtlclassic class by its shortest public path.

    ``mtlclassic.FMEmbedder``, not ``mtlclassic.embedding._fm.embedder.FMEmbedder``:
    moving a class between private modules then never touches saved files
    (``load`` resolves the name and checks the class it finds).
    """
    name = _qualname(obj_type)
    if not name.startswith("mtlclassic."):
        return name
    parts = obj_type.__module__.split(".")
    for end in range(1, len(parts)):
        module = sys.modules.get(".".join(parts[:end]))
        if getattr(module, obj_type.__qualname__, None) is obj_type:
            return f"{module.__name__}.{obj_type.__qualname__}"
    return name


def _allowed(name: str, trusted=()) -> bool:
    if name in _ALLOWED_CLASSES or name.startswith(_ALLOWED_PREFIXES):
        return True
    return any(name == t or name.startswith(f"{t}.") for t in trusted)


def _savable(obj, name: str) -> bool:
    """Allow-listed, or an estimator of the user's own (e.g. a plug-in embedder)."""
    return _allowed(name) or isinstance(obj, BaseEstimator)


def _check_trusted(trusted):
    if trusted is None:
        return ()
    if isinstance(trusted, str):
        trusted = (trusted,)
    trusted = tuple(trusted)
    bad = [
        t
        for t in trusted
        if not isinstance(t, str)
        or not all(part.isidentifier() for part in t.split("."))
    ]
    if bad:
        raise TypeError(
            f"trusted must be dotted module names such as 'mypkg.embedders'; got "
            f"{bad!r}."
        )
    return trusted


# Modules whose classes moved: model files name a class by its module at save
# time (its shortest public path since 0.1; the private one before), and load
# reads the old name through this one table (no shim modules).
MOVED_MODULES = {
    "mtlclassic.embedding._fm_embedder": "mtlclassic.embedding._fm.embedder",
    "mtlclassic.embedding._fm_supervised": "mtlclassic.embedding._fm.supervised",
    "mtlclassic.embedding._fm_base": "mtlclassic.embedding._fm.base",
    "mtlclassic.embedding._fm_mcmc": "mtlclassic.embedding._fm.gibbs",
    "mtlclassic.embedding._fm_solver": "mtlclassic.embedding._fm.coordinate_descent",
    "mtlclassic.embedding._fm_design": "mtlclassic.embedding._fm.design",
    "mtlclassic.embedding._fm_update": "mtlclassic.embedding._fm.update",
    "mtlclassic._compiled": "mtlclassic.recommend._compiled",
}


def renamed(name: str) -> str:
    """Return the current dotted name of a class a model file names ``name``."""
    module, _, qual = name.rpartition(".")
    while module:
        if module in MOVED_MODULES:
            return f"{MOVED_MODULES[module]}.{qual}"
        module, _, head = module.rpartition(".")
        qual = f"{head}.{qual}"
    return name
