"""The C++ spike delivery (``deliver.cc``) through ``jax.ffi``, built at
first use, as the Hines kernel is (:mod:`nmlcell.lower._hines_ffi`: the
same compiler search, cache folder and ``NMLCELL_NO_FFI=1`` switch).

``load()`` returns ``False`` — and the caller keeps the JAX delivery loop —
whenever building or loading fails; the reason is in ``status()``, and the
first failure of a process is reported once as a ``KernelBuildWarning``.
"""
from __future__ import annotations

import threading
from pathlib import Path

from ._hines_ffi import build_library, disabled_by_env, load_once

SOURCE = Path(__file__).with_name("deliver.cc")
TARGET = "nmlcell_deliver_f64"
_SYMBOL = "NmlcellDeliverF64"
# no -march=native: the kernel is a scatter-add, memory-bound
FLAGS = ["-O2", "-std=c++17", "-shared", "-fPIC", "-DNDEBUG", "-w"]

_lock = threading.Lock()
_state: dict = {"tried": False, "ok": False, "why": "not tried", "path": None}


def status() -> dict:
    return dict(_state)


def _build(cxx: str) -> Path:
    return build_library(cxx, "libnmlcell_deliver.so", (SOURCE.name,), attempts=[FLAGS])


def _register(so) -> None:
    import jax

    jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(getattr(so, _SYMBOL)), platform="cpu")


def load() -> bool:
    """Build (once per machine), load and register the kernel; ``True`` if usable."""
    if disabled_by_env():
        return False
    return load_once(_state, _lock, [SOURCE], _build, _register, "C++ delivery", "the JAX loop")


def deliver(row, ptr, tgt, w, acc):
    """``acc`` with the out-edge weights of the set entries of ``row`` added
    (see deliver.cc). ``load()`` must have returned ``True``."""
    import jax

    call = jax.ffi.ffi_call(TARGET, jax.ShapeDtypeStruct(acc.shape, acc.dtype), vmap_method="sequential")
    return call(row, ptr, tgt, w, acc)
