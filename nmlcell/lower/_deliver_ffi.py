"""The C++ spike delivery (``deliver.cc``) through ``jax.ffi``, built at
first use, as the Hines kernel is (:mod:`nmlcell.lower._hines_ffi`: the
same compiler search, cache folder and ``NMLCELL_NO_FFI=1`` switch).

``load()`` returns ``False`` — and the caller keeps the JAX delivery loop —
whenever building or loading fails; the reason is in ``status()``.
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from ._hines_ffi import _cache_root, _compiler, _cpu_signature, disabled_by_env

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("deliver.cc")
TARGET = "nmlcell_deliver_f64"
_SYMBOL = "NmlcellDeliverF64"

_lock = threading.Lock()
_state: dict = {"tried": False, "ok": False, "why": "not tried", "path": None}


def status() -> dict:
    return dict(_state)


def _build(cxx: str) -> Path:
    import jax
    import jaxlib

    include = jax.ffi.include_dir()
    if not os.path.isfile(os.path.join(include, "xla", "ffi", "api", "ffi.h")):
        raise RuntimeError(f"XLA FFI headers not found under {include}")
    src = SOURCE.read_bytes()
    key = hashlib.sha256()
    for part in (src, cxx.encode(), jaxlib.__version__.encode(), platform.machine().encode(),
                 sys.platform.encode(), _cpu_signature()):
        key.update(part)
        key.update(b"\0")
    folder = _cache_root() / key.hexdigest()[:16]
    lib = folder / "libnmlcell_deliver.so"
    if lib.is_file():
        return lib
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)  # renamed when complete
    os.close(fd)
    try:
        cmd = [cxx, "-O2", "-std=c++17", "-shared", "-fPIC", "-DNDEBUG", "-w", "-I", include, str(SOURCE), "-o", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        os.replace(tmp, lib)
        return lib
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load() -> bool:
    """Build (once per machine), load and register the kernel; ``True`` if usable."""
    if disabled_by_env():
        return False
    with _lock:
        if _state["tried"]:
            return _state["ok"]
        _state["tried"] = True
        try:
            if sys.platform not in ("linux", "darwin"):
                raise RuntimeError(f"no FFI build on {sys.platform}")
            if not SOURCE.is_file():
                raise RuntimeError(f"{SOURCE.name} is not installed with the package")
            cxx = _compiler()
            if cxx is None:
                raise RuntimeError("no C++ compiler (g++, c++, clang++ or $CXX) on PATH")
            path = _build(cxx)
            so = ctypes.cdll.LoadLibrary(str(path))
            import jax

            jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(getattr(so, _SYMBOL)), platform="cpu")
            _state.update(ok=True, why="loaded", path=str(path))
        except Exception as e:  # any failure: the JAX loop is used instead
            _state.update(ok=False, why=f"{type(e).__name__}: {e}")
            log.debug("nmlcell: C++ delivery unavailable, using the JAX loop (%s)", e)
        return _state["ok"]


def deliver(row, ptr, tgt, w, acc):
    """``acc`` with the out-edge weights of the set entries of ``row`` added
    (see deliver.cc). ``load()`` must have returned ``True``."""
    import jax

    call = jax.ffi.ffi_call(TARGET, jax.ShapeDtypeStruct(acc.shape, acc.dtype), vmap_method="sequential")
    return call(row, ptr, tgt, w, acc)
