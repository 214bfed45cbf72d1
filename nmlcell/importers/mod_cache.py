"""A persistent cache of imported ``.mod`` mechanisms (NEURON's
``nrnivmodl`` analogue: a file is translated once, then reused).

The symbolic import of a ``.mod`` file (parsing with ``neuron.nmodl``,
symbolic execution into sympy) costs 0.1-0.5 s a file; the IR it yields, a
:class:`~nmlcell.ir.mechanism.Mechanism`, is pickled under
``<nmlcell cache>/mod-ir/`` (``~/.cache/nmlcell`` or ``NMLCELL_CACHE``) and
read back by the next process.

An entry's name is a hash of: the path as given and resolved, the file's
bytes, the source of nmlcell's NMODL importer, IR and passes, the Python,
sympy and NEURON installations and a format number. The entry also lists
every file the import read (the INCLUDEs) with a hash of its bytes, checked
on each hit, so an edited INCLUDE file is imported again. The options of
:func:`~nmlcell.importers.nmodl.load_mod_file` (``check``, ``reserved``)
are applied after the cache, on hit and miss alike, so they are not part of
the key. Failures are not cached (the next import fails the same way);
warnings the import emits are stored and emitted again on every hit.
Entries are written atomically (a temporary file renamed); a corrupt or
unreadable one is ignored and rewritten.

Off with ``NMLCELL_NO_CACHE=1`` (this cache only) or ``NMLCELL_CACHE=off``
(every nmlcell cache). Clearing: delete the ``mod-ir`` folder.
"""
from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

__all__ = ["cache_folder", "cached_import", "disabled"]

FORMAT = 1
_PKG = Path(__file__).resolve().parent.parent  # the nmlcell package


def disabled() -> bool:
    """Whether ``NMLCELL_NO_CACHE`` switches this cache off."""
    return os.environ.get("NMLCELL_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no", "off")


def cache_folder() -> Path | None:
    """``<nmlcell cache>/mod-ir``, or None where caching is off."""
    if disabled():
        return None
    from .._config import cache_dir

    root = cache_dir()
    return None if root is None else root / "mod-ir"


@functools.lru_cache(maxsize=1)
def _environment_key() -> bytes:
    """What the importer's result depends on besides the file: nmlcell's
    importer, IR and passes source, Python, sympy and NEURON."""
    import importlib.util

    import sympy

    h = hashlib.sha256(f"{FORMAT}|{sys.version}|{sympy.__version__}".encode())
    files = sorted((_PKG / "importers").glob("nmodl*.py")) + [Path(__file__).resolve(), _PKG / "errors.py"]
    files += sorted((_PKG / "ir").glob("*.py")) + sorted((_PKG / "passes").glob("*.py"))
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    spec = importlib.util.find_spec("neuron")
    if spec is not None and spec.origin:
        st = os.stat(spec.origin)
        h.update(f"{spec.origin}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.digest()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry_path(folder: Path, path: str, data: bytes) -> Path:
    h = hashlib.sha256(_environment_key())
    h.update(f"{path}\0{os.path.realpath(path)}\0".encode())
    h.update(data)
    return folder / f"{h.hexdigest()[:32]}.pkl"


def _deps_unchanged(deps) -> bool:
    for dep, digest in deps:
        try:
            if _digest(Path(dep).read_bytes()) != digest:
                return False
        except OSError:
            return False
    return True


def _rebuild_assoc(cls, args):
    return cls._from_args(args)


def _rebuild_unevaluated(cls, args):
    return cls(*args, evaluate=False)


class _Pickler(pickle.Pickler):
    """Pickles sympy's sums, products, powers, functions and relations as
    their class and arguments, rebuilt without evaluation on loading: the
    arguments are already canonical. sympy's default (the constructor,
    which evaluates and asks assumptions) made loading hh.mod's mechanism
    take 0.24 s, this 0.03 s; the result compares equal (``==`` and
    ``srepr``) on all 68 mechanisms of the corpus and the built-ins. Other
    objects pickle as usual."""

    def reducer_override(self, obj):
        from sympy import Add, Function, Mul, Pow
        from sympy.core.relational import Relational

        if type(obj) in (Add, Mul) and len(obj.args) > 1:
            return _rebuild_assoc, (type(obj), obj.args)
        if isinstance(obj, (Pow, Function, Relational)) and obj.args:
            return _rebuild_unevaluated, (type(obj), obj.args)
        return NotImplemented


def _write(path: Path, obj) -> None:
    """Pickle ``obj`` to ``path`` atomically (a temporary file renamed); a
    cache that cannot be written is skipped."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            _Pickler(fh, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
        os.replace(tmp, path)
    except Exception:  # noqa: BLE001 - unwritable or unpicklable: not cached
        try:
            tmp.unlink()
        except OSError:
            pass


def _replay(records) -> None:
    for message, category, filename, lineno, module in records:
        if module is None:  # (an explicit module=None shows nothing: CPython 3.11's C warn_explicit)
            warnings.warn_explicit(message, category, filename, lineno)
        else:
            warnings.warn_explicit(message, category, filename, lineno, module=module)


def cached_import(path, build: Callable[[], tuple[object, list[str]]]):
    """The Mechanism of the ``.mod`` file ``path``: from the cache where an
    entry for the same file, dependencies and importer exists, else
    ``build()`` — which returns (mechanism, the files it read) — stored.
    Warnings emitted by ``build`` are emitted (again) either way."""
    from .._config import read_cached

    folder = cache_folder()
    data = None
    if folder is not None:
        try:
            data = Path(path).read_bytes()
        except OSError:
            folder = None  # unreadable: the importer reports it
    entry = _entry_path(folder, str(path), data) if folder is not None else None
    if entry is not None:
        got = read_cached(entry)
        if (isinstance(got, dict) and got.get("format") == FORMAT and "mech" in got
                and _deps_unchanged(got.get("deps", ()))):
            _replay(got.get("warnings", ()))
            return got["mech"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mech, read = build()
    # a warning's module (for filters) is not recorded: nmlcell's own
    # warnings are issued from the module defining their category
    records = [(str(w.message), w.category, w.filename, w.lineno,
                w.category.__module__ if w.category.__module__.startswith("nmlcell.") else None)
               for w in caught]
    # stored for the hits: the warnings about the file (nmlcell's, or placed
    # in one of the files read), not a library's noise such as its import's
    sources = {os.path.realpath(str(f)) for f in (path, *read)}
    stored = [r for r in records if r[4] is not None or os.path.realpath(r[2]) in sources]
    if entry is not None:
        deps = []
        try:
            if Path(path).read_bytes() != data:
                raise OSError("changed during the import")  # keyed by the old bytes: not cached
            for f in dict.fromkeys(str(x) for x in read):
                if os.path.realpath(f) != os.path.realpath(str(path)):
                    deps.append((f, _digest(Path(f).read_bytes())))
        except OSError:
            deps = None  # the file or a dependency changed or vanished meanwhile
        if deps is not None:
            _write(entry, {"format": FORMAT, "mech": mech, "warnings": stored, "deps": deps})
    _replay(records)
    return mech
