"""Atomic output: write beside the target, rename over it only on success.

One implementation for every writer of the package (``save``, the CLI's
scored files, ``export-onnx``, Dask's parquet folders): the temporary path
sits in the target's folder (so the rename is atomic on POSIX and Windows),
gets the mode a plain ``open`` would give (0666, or 0777 for a folder, less
the process umask: ``tempfile`` makes private files a serving process run as
another user could not read), and is removed when the write fails or is
interrupted, leaving the target as it was.

A ground-floor leaf: it imports nothing of mtlclassic.
"""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["replacing", "sibling_tempfile"]


def _umask():
    umask = os.umask(0)
    os.umask(umask)
    return umask


def sibling_tempfile(path, suffix=".partial", *, directory=False):
    """Create an empty temporary file (or folder) beside ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The target; its folder must exist.
    suffix : str, default=".partial"
        Appended to the temporary name (``.<name>.<random><suffix>``).
    directory : bool, default=False
        Create a folder instead of a file.

    Returns
    -------
    tmp : pathlib.Path
        The new file (mode 0666 less the umask) or folder (0777 less it).
    """
    path = Path(path)
    prefix = f".{path.name}."
    if directory:
        tmp = tempfile.mkdtemp(dir=path.parent, prefix=prefix, suffix=suffix)
        os.chmod(tmp, 0o777 & ~_umask())
    else:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
    return Path(tmp)


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def replacing(path, *, directory=False, suffix=".partial"):
    """Yield a temporary path beside ``path`` that replaces it on success.

    On a normal exit the temporary file (or folder, with ``directory=True``)
    is renamed to ``path``, replacing what was there (a folder target is
    removed first: a rename cannot replace a non-empty folder). On an
    exception, including ``KeyboardInterrupt``, it is removed and ``path``
    is untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     target = pathlib.Path(d) / "out.txt"
    ...     with replacing(target) as tmp:
    ...         _ = tmp.write_text("done")
    ...     target.read_text()
    'done'
    """
    path = Path(path)
    tmp = sibling_tempfile(path, suffix, directory=directory)
    try:
        yield tmp
        if directory and path.exists():
            _remove(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            _remove(tmp)
