"""Safe, versioned persistence: ``save(model, path)`` and ``load(path)``.

The file (conventionally ``*.mtlc``) is a zip archive that holds no pickle:

- ``manifest.json``: a JSON object with

  - ``format`` (``"mtlclassic-model"``) and ``format_version`` (an int; a
    reader refuses a version newer than its own);
  - ``versions``: mtlclassic, Python, numpy, scipy, pandas, scikit-learn,
    LightGBM and implicit at save time (``load`` warns when they differ);
  - ``model_class`` and ``model``: the task names and kinds
    (``{"tasks": {name: kind}}``) and the ``input_columns`` the model reads,
    when it has them;
  - ``input_schema`` (only when ``save(..., input_example=X)`` was given): one
    entry per column of the example, ``{"name", "dtype"}`` plus
    ``"categories"``, ``"categories_dtype"`` and ``"ordered"`` for a pandas
    ``category`` column, so that a scorer can cast every streamed chunk of
    a CSV/parquet file to the training dtypes (``mtlclassic score`` does);
  - ``checksums``: the SHA-256 of every other member;
  - ``manifest_sha256``: the SHA-256 of the manifest's JSON without this key
    (so an edited object tree is caught too; files written before it have
    none and load as before);
  - ``tree``: the object tree as tagged JSON. Plain JSON values stand for
    themselves; a dict with one of the tags ``__int__`` (big int),
    ``__float__`` (nan/inf), ``__tuple__``, ``__dict__`` (list of key/value
    pairs), ``__slice__``, ``__ndarray__`` (an ``.npy`` member),
    ``__objarray__`` (object/str array, element by element), ``__sparse__``,
    ``__dtype__``, ``__numpy_type__``, ``__category_dtype__``, ``__index__``,
    ``__range__``, ``__multiindex__``, ``__series__``, ``__frame__``,
    ``__timestamp__`` / ``__timedelta__`` (pandas time scalars: an int in
    their unit, UTC, with the unit and the zone's name; nanoseconds in files
    written before), ``__datetime64__`` /
    ``__timedelta64__`` (numpy time scalars, an int in their unit),
    ``__booster__`` (a text member), ``__object__`` (a class name from the
    allow-list and its ``__dict__``) or ``__ref__`` (the number of an object
    or booster met earlier: shared references stay shared, cycles work);
- ``arrays/<k>.npy``: numeric arrays, read with ``numpy.load(allow_pickle=False)``;
- ``text/<k>.txt``: LightGBM boosters as LightGBM's own model text.

Loading never executes code from the file: the object tree can only name
classes from an allow-list (the ``mtlclassic`` and ``sklearn`` packages, and
implicit's CPU ALS model), which are re-created with ``cls.__new__`` and their
saved attributes, without calling any method of theirs; anything else is
refused. A parameter added to an mtlclassic estimator after the file was written
takes its default (``get_params``, ``clone`` and ``set_params`` keep working on
old files). A file from a newer format, a truncated or edited file (checksums),
or a file that is not a model gives a clear :class:`ValueError`. The checksums
prove integrity, not authorship: load only files from sources you trust to
hand you a correct model.
"""

import hashlib
import importlib
import inspect
import io
import json
import platform
import sys
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn

from ._allowlist import (
    _BOOSTER,
    _allowed,
    _check_trusted,
    _public_name,
    _qualname,
    _savable,
    renamed,
)
from ._atomic import replacing
from ._schema import input_schema, unused_columns
from ._targets import fitted_tasks
from ._version import __version__

FORMAT_NAME = "mtlclassic-model"
FORMAT_VERSION = 1
_SPARSE_FORMATS = {
    "csr": sp.csr_matrix,
    "csc": sp.csc_matrix,
    "csr_array": sp.csr_array,
    "csc_array": sp.csc_array,
}


_UNHANDLED = object()  # a decoder's "not my tag"
_TIMES = (pd.Timestamp, pd.Timedelta, np.datetime64, np.timedelta64)


class ModelFileError(ValueError):
    """A file that :func:`load` refuses: not a model, damaged, or incompatible."""


def _versions():
    found = {
        "mtlclassic": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": importlib.import_module("scipy").__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
    }
    for name in ("lightgbm", "implicit"):
        try:
            found[name] = importlib.import_module(name).__version__
        except ImportError:  # pragma: no cover - both are core dependencies
            found[name] = None
    return found


class _Writer:
    def __init__(self):
        self.members: dict[str, bytes] = {}
        # id(obj) -> (reference number, obj): an object met twice is stored once
        # and the second place holds {"__ref__": number}, so shared references
        # (a Recommender's ALS step inside its Pipeline) stay shared on load.
        self.memo: dict[int, tuple[int, object]] = {}

    def _remember(self, obj):
        """Return ``(number, seen_before)`` for an object or booster."""
        if id(obj) in self.memo:
            return self.memo[id(obj)][0], True
        number = len(self.memo)
        self.memo[id(obj)] = (number, obj)  # keeps obj alive: ids stay unique
        return number, False

    def _add(self, folder, suffix, data: bytes) -> str:
        name = f"{folder}/{len(self.members)}.{suffix}"
        self.members[name] = data
        return name

    def array(self, arr: np.ndarray) -> str:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(arr), allow_pickle=False)
        return self._add("arrays", "npy", buffer.getvalue())

    def encode(self, obj, path="model"):
        """Return a JSON-able tree for ``obj``; big data goes to members."""
        if obj is None or isinstance(obj, bool | str):
            return obj
        if isinstance(obj, _TIMES):  # before ints: numpy's timedelta64 is one
            return self._encode_pandas(obj, path)
        if isinstance(obj, int | np.integer) and not isinstance(obj, np.bool_):
            return {"__int__": str(int(obj))} if abs(int(obj)) > 2**53 else int(obj)
        if isinstance(obj, float | np.floating):
            value = float(obj)
            return value if np.isfinite(value) else {"__float__": repr(value)}
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, tuple):
            return {
                "__tuple__": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]
            }
        if isinstance(obj, list):
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, dict):
            return {
                "__dict__": [
                    [self.encode(k, f"{path}.key"), self.encode(v, f"{path}[{k!r}]")]
                    for k, v in obj.items()
                ]
            }
        if isinstance(obj, np.ndarray):
            return self._encode_array(obj, path)
        if isinstance(obj, slice):
            return {
                "__slice__": [
                    self.encode(v, path) for v in (obj.start, obj.stop, obj.step)
                ]
            }
        for encoder in (self._encode_sparse_or_type, self._encode_pandas):
            tree = encoder(obj, path)
            if tree is not None:
                return tree
        return self._encode_object(obj, path)

    def _encode_sparse_or_type(self, obj, path):
        """Encode a sparse matrix, a dtype or a numpy scalar type (else None)."""
        if sp.issparse(obj):
            kind = obj.format + ("_array" if isinstance(obj, sp.sparray) else "")
            if kind not in _SPARSE_FORMATS:
                obj, kind = obj.tocsr(), "csr"
            return {
                "__sparse__": kind,
                "shape": list(obj.shape),
                "data": self._encode_array(obj.data, path),
                "indices": self.array(obj.indices),
                "indptr": self.array(obj.indptr),
            }
        if isinstance(obj, np.dtype):
            return {"__dtype__": obj.str if obj.kind != "O" else "object"}
        if isinstance(obj, type) and issubclass(obj, np.generic):
            return {"__numpy_type__": np.dtype(obj).str}
        return None

    def _encode_pandas(self, obj, path):
        """Encode a pandas dtype, time, index, Series or DataFrame (else None)."""
        # pandas time scalars as an int in their own unit ("in": "unit"):
        # .value is nanoseconds, which overflows past 2262 for a unit of s
        if isinstance(obj, pd.Timestamp):  # a time (e.g. a context's "now")
            tz = None if obj.tz is None else str(obj.tz)  # the zone's name
            count = str(int(obj.asm8.view("i8")))  # UTC for a zone-aware time
            return {"__timestamp__": count, "tz": tz, "unit": obj.unit, "in": "unit"}
        if isinstance(obj, pd.Timedelta):
            count = str(int(obj.asm8.view("i8")))
            return {"__timedelta__": count, "unit": obj.unit, "in": "unit"}
        if isinstance(obj, np.datetime64 | np.timedelta64):
            datetime = isinstance(obj, np.datetime64)
            kind = "__datetime64__" if datetime else "__timedelta64__"
            unit, _ = np.datetime_data(obj.dtype)
            return {kind: str(obj.astype(np.int64)), "unit": unit}
        if isinstance(obj, pd.CategoricalDtype):
            return {
                "__category_dtype__": self.encode(list(obj.categories), path),
                "ordered": bool(obj.ordered),
            }
        if isinstance(obj, pd.MultiIndex):
            return {
                "__multiindex__": [self.encode(level, path) for level in obj.levels],
                "codes": [self.array(np.asarray(c)) for c in obj.codes],
                "names": [self.encode(n, path) for n in obj.names],
            }
        if isinstance(obj, pd.RangeIndex):
            return {
                "__range__": [obj.start, obj.stop, obj.step],
                "name": self.encode(obj.name, path),
            }
        if isinstance(obj, pd.Index):
            return {
                "__index__": self._encode_array(np.asarray(obj), path),
                "name": self.encode(obj.name, path),
                "dtype": str(obj.dtype),
            }
        if isinstance(obj, pd.Series):
            return {
                "__series__": self._encode_column(obj, path),
                "index": self.encode(obj.index, path),
                "name": self.encode(obj.name, path),
            }
        if isinstance(obj, pd.DataFrame):
            return {
                "__frame__": [
                    [
                        self.encode(c, path),
                        self._encode_column(obj[c], f"{path}[{c!r}]"),
                    ]
                    for c in obj.columns
                ],
                "index": self.encode(obj.index, path),
            }
        return None

    def _encode_object(self, obj, path):
        """Encode a LightGBM booster or an estimator by its attributes."""
        if type(obj).__module__ == "__main__":
            warnings.warn(
                f"{path} is a {type(obj).__name__} defined in __main__ (a script "
                "or notebook): only this process can load the file. Define the "
                "class in a module and load with trusted=['that.module'].",
                UserWarning,
                stacklevel=4,
            )
        name = _qualname(type(obj))
        if name == _BOOSTER or _savable(obj, name):
            number, seen = self._remember(obj)
            if seen:
                return {"__ref__": number}
        if name == _BOOSTER:
            text = obj.model_to_string(num_iteration=-1).encode("utf-8")
            return {
                "__booster__": self._add("text", "txt", text),
                "best_iteration": int(getattr(obj, "best_iteration", 0) or 0),
                "ref": number,
            }
        if not _savable(obj, name) or not hasattr(obj, "__dict__"):
            raise TypeError(
                f"mtlclassic.save cannot store {path} of type {name}: only numbers, "
                "strings, times, containers, numpy/scipy/pandas arrays, indexes "
                "and frames, LightGBM boosters and estimators (scikit-learn's "
                "BaseEstimator) are stored (no pickle)."
            )
        state = {k: v for k, v in vars(obj).items()
                 if k not in getattr(type(obj), "_transient", ())}  # fmt: skip
        return {
            "__object__": _public_name(type(obj)),
            "state": self.encode(state, f"{path}.<state>"),
            "ref": number,
        }

    def _encode_array(self, arr, path):
        if arr.dtype.kind in "biufcmM":
            return {"__ndarray__": self.array(arr)}
        if arr.dtype.kind in "OUS" or str(arr.dtype) in ("str", "string"):
            return {
                "__objarray__": [self.encode(v, path) for v in arr.ravel().tolist()],
                "shape": list(arr.shape),
                "dtype": arr.dtype.str if arr.dtype.kind in "US" else "object",
            }
        raise TypeError(
            f"mtlclassic.save cannot store {path}: arrays of dtype "
            f"{arr.dtype} are not supported."
        )

    def _encode_column(self, col: pd.Series, path):
        if isinstance(col.dtype, pd.CategoricalDtype):
            return {
                "categorical": self.array(col.cat.codes.to_numpy()),
                "dtype": self.encode(col.dtype, path),
            }
        dtype = str(col.dtype)
        values = col.to_numpy(dtype=object if dtype in ("str", "string") else None)
        return {"values": self._encode_array(values, path), "dtype": dtype}


# what reading a damaged zip member raises besides BadZipFile: a corrupt
# deflate stream, a cut-off member, a header asking for an unknown version
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)


def _read_error(exc):
    """Whether ``exc`` tells of a damaged file (not of the disk or permissions)."""
    if isinstance(exc, PermissionError | IsADirectoryError):
        return False
    return isinstance(exc, (*_DAMAGED, OSError))


def _manifest_digest(manifest):
    """SHA-256 of the manifest without its own digest (key order as written)."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()


def _trusted_by_name(name, trusted):
    """Whether ``name`` lies in a module the caller named in ``trusted=``."""
    return any(name == t or name.startswith(f"{t}.") for t in trusted)


class _Reader:
    def __init__(self, archive: zipfile.ZipFile, checksums: dict, trusted=()):
        self.archive = archive
        self.checksums = checksums
        self.trusted = tuple(trusted)
        self.memo: dict[int, object] = {}

    def member(self, name: str) -> bytes:
        if name not in self.checksums:
            raise ModelFileError(
                f"The model file refers to {name!r}, which its "
                "manifest does not list: the file was edited."
            )
        try:
            data = self.archive.read(name)
        except Exception as exc:  # RuntimeError: a header claims encryption
            if not (isinstance(exc, KeyError | RuntimeError) or _read_error(exc)):
                raise
            raise ModelFileError(
                f"The model file is damaged: cannot read {name!r} ({exc})."
            ) from None
        if hashlib.sha256(data).hexdigest() != self.checksums[name]:
            raise ModelFileError(
                f"Checksum mismatch for {name!r}: the model file was "
                "modified or damaged after it was saved."
            )
        return data

    def array(self, name: str) -> np.ndarray:
        try:
            return np.load(io.BytesIO(self.member(name)), allow_pickle=False)
        except ValueError as exc:
            raise ModelFileError(
                f"Cannot read array {name!r} without pickle: {exc}"
            ) from None

    def decode(self, node):
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or len(node) == 0:
            raise ModelFileError(f"Unexpected node in the model file: {node!r:.80}")
        tag = next(iter(node))
        if tag == "__int__":
            return int(node[tag])
        if tag == "__float__":
            return float(node[tag])
        if tag == "__tuple__":
            return tuple(self.decode(v) for v in node[tag])
        if tag == "__dict__":
            return {self._key(self.decode(k)): self.decode(v) for k, v in node[tag]}
        if tag == "__ndarray__":
            return self.array(node[tag])
        if tag == "__slice__":
            return slice(*[self.decode(v) for v in node[tag]])
        if tag == "__objarray__":
            values = [self.decode(v) for v in node[tag]]
            dtype = object if node["dtype"] == "object" else np.dtype(node["dtype"])
            out = np.empty(len(values), dtype=dtype)
            out[:] = values
            return out.reshape(node["shape"])
        for decoder in (self._decode_numpy, self._decode_pandas, self._decode_object):
            value = decoder(tag, node)
            if value is not _UNHANDLED:
                return value
        raise ModelFileError(f"Unknown node type {tag!r} in the model file.")

    def _decode_numpy(self, tag, node):
        """Decode a sparse matrix, a dtype or a numpy type (else _UNHANDLED)."""
        if tag == "__sparse__":
            cls = _SPARSE_FORMATS.get(node[tag])
            if cls is None:
                raise ModelFileError(f"Unknown sparse format {node[tag]!r}.")
            return cls(
                (
                    self.decode(node["data"]),
                    self.array(node["indices"]),
                    self.array(node["indptr"]),
                ),
                shape=tuple(node["shape"]),
            )
        if tag == "__dtype__":
            return np.dtype(object if node[tag] == "object" else node[tag])
        if tag == "__numpy_type__":
            return np.dtype(node[tag]).type
        return _UNHANDLED

    def _decode_pandas(self, tag, node):
        """Decode a pandas dtype, time scalar, index, Series or DataFrame."""
        if tag == "__timestamp__":  # since the epoch, UTC: in its unit, or ns
            if node.get("in") == "unit":
                stamp = pd.Timestamp(np.datetime64(int(node[tag]), node["unit"]))
            else:  # files written before: nanoseconds
                stamp = pd.Timestamp(int(node[tag]), unit="ns")
            if node["tz"] is not None:
                stamp = stamp.tz_localize("UTC").tz_convert(node["tz"])
            return stamp.as_unit(node["unit"])
        if tag == "__timedelta__":
            if node.get("in") == "unit":
                return pd.Timedelta(np.timedelta64(int(node[tag]), node["unit"]))
            return pd.Timedelta(int(node[tag]), unit="ns").as_unit(node["unit"])
        if tag == "__datetime64__":
            return np.datetime64(int(node[tag]), node["unit"])
        if tag == "__timedelta64__":
            return np.timedelta64(int(node[tag]), node["unit"])
        if tag == "__category_dtype__":
            return pd.CategoricalDtype(self.decode(node[tag]), ordered=node["ordered"])
        if tag == "__index__":
            dtype = node.get("dtype")
            return pd.Index(
                self.decode(node[tag]),
                name=self.decode(node["name"]),
                dtype=dtype if dtype in ("str", "string", "object") else None,
            )
        if tag == "__range__":
            return pd.RangeIndex(*node[tag], name=self.decode(node["name"]))
        if tag == "__multiindex__":
            return pd.MultiIndex(
                levels=[self.decode(level) for level in node[tag]],
                codes=[self.array(c) for c in node["codes"]],
                names=[self.decode(n) for n in node["names"]],
            )
        if tag == "__series__":
            return pd.Series(
                self._column(node[tag]),
                index=self.decode(node["index"]),
                name=self.decode(node["name"]),
            )
        if tag == "__frame__":
            index = self.decode(node["index"])
            columns = [self.decode(c) for c, _ in node[tag]]
            data = {i: self._column(col) for i, (_, col) in enumerate(node[tag])}
            frame = pd.DataFrame(data, index=index)
            frame.columns = pd.Index(columns) if columns else frame.columns
            return frame
        return _UNHANDLED

    def _decode_object(self, tag, node):
        """Decode a reference, a LightGBM booster or an estimator (else _UNHANDLED)."""
        if tag == "__ref__":
            if not isinstance(node[tag], int) or node[tag] not in self.memo:
                raise ModelFileError(
                    f"The model file refers to object #{node[tag]!r} before "
                    "defining it: the file was edited."
                )
            return self.memo[node[tag]]
        if tag == "__booster__":
            lgb = importlib.import_module("lightgbm")
            booster = lgb.Booster(model_str=self.member(node[tag]).decode("utf-8"))
            booster.best_iteration = int(node.get("best_iteration", 0))
            if isinstance(node.get("ref"), int):
                self.memo[node["ref"]] = booster
            return booster
        if tag == "__object__":
            return self._object(node[tag], node["state"], node.get("ref"))
        return _UNHANDLED

    @staticmethod
    def _key(key):
        return key if not isinstance(key, list) else tuple(key)

    def _column(self, col):
        if "categorical" in col:
            dtype = self.decode(col["dtype"])
            return pd.Categorical.from_codes(
                self.array(col["categorical"]), dtype=dtype
            )
        values = self.decode(col["values"])
        return (
            pd.array(values, dtype=col["dtype"])
            if col["dtype"] in ("str", "string")
            else values
        )

    def _object(self, name, state, ref=None):
        if not isinstance(name, str) or not _allowed(name, self.trusted):
            raise ModelFileError(
                f"The model file asks for the type {name!r}, which mtlclassic.load "
                "does not create (only scikit-learn, mtlclassic and implicit ALS "
                "models, and modules named in trusted=): refusing to load it."
            )
        module_path = name.rpartition(".")[0]
        if any(part.startswith("__") for part in name.split(".")) and not (
            _trusted_by_name(name, self.trusted) and module_path in sys.modules
        ):  # e.g. mtlclassic.cli.__main__: importing it would run the program;
            # a script's own classes (trusted=["__main__"]) are already imported
            raise ModelFileError(
                f"The model file asks for the type {name!r}: load imports no "
                "dunder module (__main__, ...) from a file; refusing to load it."
            )
        name = renamed(name)  # a class that moved: one table, no shim modules
        module_name, _, qual = name.rpartition(".")
        failure = None
        while module_name:
            try:
                module = importlib.import_module(module_name)
                break
            except ImportError as exc:
                failure = failure or exc
                module_name, _, head = module_name.rpartition(".")
                qual = f"{head}.{qual}"
        else:
            raise ModelFileError(
                f"Cannot find the type {name!r}: importing its module failed "
                f"({failure}). A trusted module must be importable: installed, "
                "or on PYTHONPATH."
            )
        cls = module
        for part in qual.split("."):
            cls = getattr(cls, part, None)
        if not isinstance(cls, type) or (
            _qualname(cls) != name and not _allowed(_qualname(cls), self.trusted)
        ):  # a class moved to another module is found by its old name
            raise ModelFileError(f"Cannot find the type {name!r} in this installation.")
        obj = cls.__new__(cls)
        if isinstance(ref, int):
            self.memo[ref] = obj  # before its state: a cycle refers back to it
        attributes = self.decode(state)
        if not isinstance(attributes, dict):
            raise ModelFileError(f"Bad state for {name!r} in the model file.")
        obj.__dict__.update(attributes)
        _add_new_parameters(obj)
        return obj


def _add_new_parameters(obj):
    """Give an estimator saved before one of its parameters existed its default.

    ``get_params`` (and so ``clone``, ``repr``, ``set_params`` and the CLI's
    ``--n-jobs``) reads every constructor parameter as an attribute; one added
    to the class after the file was written (e.g. ``FMEmbedder(n_jobs=...)``)
    takes its default, which is what the model was fitted with.
    """
    if not callable(getattr(type(obj), "_get_param_names", None)):
        return  # not a scikit-learn estimator
    if not type(obj).__module__.startswith("mtlclassic."):
        return  # a parameter scikit-learn renamed must not pass as a default
    try:
        params = inspect.signature(type(obj).__init__).parameters.values()
    except (TypeError, ValueError):
        return
    for param in params:
        if param.name != "self" and param.name not in obj.__dict__:
            if param.default is not inspect.Parameter.empty:
                obj.__dict__[param.name] = param.default


def _describe(model) -> dict:
    """Task names/kinds and input columns, read from the model for the manifest."""
    info = {}
    tasks = fitted_tasks(model)
    if tasks:
        info["tasks"] = {str(k): str(v) for k, v in tasks.items()}
    names = getattr(model, "feature_names_in_", None)
    if names is None:  # a Recommender: the columns its model reads
        names = getattr(model, "input_columns_", None)
    if names is not None:
        info["input_columns"] = [str(c) for c in names]
    return info


def save(model, path, *, overwrite=True, input_example=None):
    """Save a fitted model (an estimator or a whole Pipeline) without pickle.

    Parameters
    ----------
    model : estimator
        A scikit-learn or mtlclassic estimator, fitted or not, or a Pipeline.
    path : str or path-like
        The file to write (conventionally ``.mtlc``). It is written to a
        temporary file beside it and renamed, so a crash never leaves half a file.
    overwrite : bool, default=True
        Refuse to replace an existing file when False.
    input_example : DataFrame, default=None
        A few rows of the model's input (e.g. ``X.head()``). Its column
        names, dtypes and categories are stored as the manifest's
        ``input_schema``; ``mtlclassic score`` casts every chunk it reads to
        them (a CSV chunk otherwise infers int in one chunk and float in the
        next, or strings instead of categories). Only its dtypes are stored,
        not its rows.

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> model = Ridge().fit(np.eye(3), [1.0, 2.0, 3.0])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     loaded = load(save(model, f"{tmp}/ridge.mtlc"))
    >>> bool(np.array_equal(loaded.coef_, model.coef_))
    True
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{str(path)!r} exists; pass overwrite=True to replace it."
        )
    info = _describe(model)
    schema = None
    if input_example is not None:
        dropped = set(unused_columns(model))  # e.g. the time: not needed
        needed = [c for c in info.get("input_columns") or [] if c not in dropped]
        schema = input_schema(input_example, needed)
    writer = _Writer()
    tree = writer.encode(model)
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        "model_class": _public_name(type(model)),
        "model": info,
        "checksums": {
            name: hashlib.sha256(data).hexdigest()
            for name, data in writer.members.items()
        },
        "tree": tree,
    }
    if schema is not None:
        manifest["input_schema"] = schema
    manifest["manifest_sha256"] = _manifest_digest(manifest)  # edits of the tree
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"Cannot save to {str(path)!r}: the folder {str(path.parent)!r} does "
            "not exist."
        )
    with replacing(path, suffix=".tmp") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("manifest.json", json.dumps(manifest))
            for name, data in writer.members.items():
                archive.writestr(name, data)
    return path


def read_manifest(path) -> dict:
    """Return the manifest of a model file (versions, tasks, schema) unloaded."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"Model file {str(path)!r} is a folder, not a file.")
    if not path.is_file():
        raise FileNotFoundError(f"Model file {str(path)!r} does not exist.")
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
    except KeyError:
        raise ModelFileError(
            f"{str(path)!r} is not an mtlclassic model file (no manifest)."
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelFileError(f"{str(path)!r} has a damaged manifest.") from None
    except Exception as exc:  # RuntimeError: a header claims encryption
        if not (isinstance(exc, RuntimeError) or _read_error(exc)):
            raise
        raise ModelFileError(
            f"{str(path)!r} is not an mtlclassic model file (not a zip archive, or "
            f"truncated or damaged: {exc})."
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{str(path)!r} is not an mtlclassic model file.")
    digest = manifest.get("manifest_sha256")  # files before 0.x have none
    if digest is not None and digest != _manifest_digest(manifest):
        raise ModelFileError(
            f"{str(path)!r}: its manifest (the object tree, tasks or schema) was "
            "edited or damaged after it was saved (checksum mismatch)."
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{str(path)!r} uses model format version {version!r}; this mtlclassic "
            f"({_versions()['mtlclassic']}) reads versions 1 to {FORMAT_VERSION}. "
            "Upgrade mtlclassic to load it."
        )
    return manifest


def load(path, *, trusted=()):
    """Load a model saved by :func:`save`, without running code from the file.

    Parameters
    ----------
    path : str or path-like
        The model file.
    trusted : iterable of str, default=()
        Modules (or classes) besides scikit-learn and mtlclassic whose classes
        the file may name, e.g. ``("mypackage.embedders",)`` for a model
        holding your own embedder: they are imported (so their code runs)
        and re-created from the saved attributes. Name only code you trust.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    IsADirectoryError
        The path is a folder.
    ModelFileError (a ValueError)
        Not a model file, a newer format, damaged or edited (checksum
        mismatch), or naming a type outside the allow-list.

    Warns
    -----
    UserWarning
        When scikit-learn, LightGBM or mtlclassic differ from the versions the
        model was saved with (it loads, but check its predictions).
    """
    manifest = read_manifest(path)
    saved = manifest.get("versions", {})
    current = _versions()
    differ = [
        f"{k} {saved.get(k)} -> {current[k]}"
        for k in ("mtlclassic", "scikit-learn", "lightgbm", "implicit", "numpy")
        if saved.get(k) != current[k]
    ]
    if differ:
        warnings.warn(
            f"The model in {str(path)!r} was saved with other library "
            f"versions ({'; '.join(differ)}).",
            UserWarning,
            stacklevel=2,
        )
    try:
        with zipfile.ZipFile(path) as archive:
            listed = set(manifest.get("checksums", {}))
            present = set(archive.namelist()) - {"manifest.json"}
            if listed != present:
                raise ModelFileError(
                    f"{str(path)!r} does not hold the members its manifest lists "
                    f"(missing {sorted(listed - present)[:3]}, extra "
                    f"{sorted(present - listed)[:3]}): damaged or edited."
                )
            reader = _Reader(archive, manifest["checksums"], _check_trusted(trusted))
            return reader.decode(manifest["tree"])
    except ModelFileError:
        raise
    except Exception as exc:
        if not _read_error(exc):
            raise
        raise ModelFileError(f"{str(path)!r} is damaged: {exc}") from None
