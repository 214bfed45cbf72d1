"""The on-disk cache of generated kernel sources, keyed by a canonical
fingerprint of the mechanism (``~/.cache/nmlcell/kernels``)."""
from __future__ import annotations

from pathlib import Path

import sympy as sp

# the modules whose code decides the generated sources
_SOURCES = ("codegen.py", "kernel_extra.py", "printer.py", "system.py")


def _fingerprint(obj, out: list) -> None:
    """A canonical text of IR data (dataclasses, containers, sympy
    expressions, numbers), appended to ``out``. Pickles of sympy objects
    are not canonical (they depend on what was computed on them before)."""
    if isinstance(obj, sp.Basic):
        if obj.is_Symbol:
            out.append("S" + obj.name)
        elif obj.is_Number or not obj.args:
            out.append(type(obj).__name__ + ":" + str(obj))
        else:
            out.append(type(obj).__name__ + "(")
            for a in obj.args:
                _fingerprint(a, out)
            out.append(")")
    elif hasattr(obj, "__dataclass_fields__"):
        out.append(type(obj).__name__ + "{")
        for f in obj.__dataclass_fields__:
            out.append(f + "=")
            _fingerprint(getattr(obj, f), out)
        out.append("}")
    elif isinstance(obj, dict):
        out.append("{")
        for k, v in obj.items():
            _fingerprint(k, out)
            out.append(":")
            _fingerprint(v, out)
        out.append("}")
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        out.append("[")
        for v in items:
            _fingerprint(v, out)
            out.append(",")
        out.append("]")
    else:
        out.append(repr(obj))


def cache_file(mech, static, lems_exact):
    """Where the generated sources of this mechanism are cached (None: no
    cache): keyed by nmlcell's and sympy's versions, the code generator's
    own source and the mechanism's content."""
    import hashlib

    from .. import __version__
    from .._config import cache_dir

    cd = cache_dir()
    if cd is None:
        return None
    h = hashlib.sha256(f"{__version__}|{sp.__version__}|{lems_exact}|{sorted(static.items())}|".encode())
    here = Path(__file__).resolve().parent
    for f in _SOURCES:
        h.update((here / f).read_bytes())
    out: list[str] = []
    _fingerprint(mech, out)
    h.update("".join(out).encode())
    return cd / "kernels" / f"{h.hexdigest()[:32]}.pkl"


def cache_read(path) -> dict:
    from .._config import read_cached

    data = read_cached(path) if path is not None else None
    return data if isinstance(data, dict) else {}


def cache_write(path, data: dict) -> None:
    from .._config import write_cached

    write_cached(path, data)
