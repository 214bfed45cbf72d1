"""The C++ Hines kernels through ``jax.ffi``, built at first use.

The sources: ``hines.cc`` (the plain tree solve), ``hines_cable.cc`` (a
cable step's fused voltage system and its transpose) and the headers they
share, ``hines_common.h`` and ``hines_pack.h``. ``load()`` compiles them with
the system's C++ compiler against the XLA FFI headers that ship with jaxlib
(``jax.ffi.include_dir()``) into one library — one compiler run, the ``.cc``
files as one translation unit (``-include``), which costs the CPU time of
one file, not of parsing the XLA headers twice — caches it under
``<nmlcell cache>/ffi/<hash>/`` (the hash covers every source and header,
the flags, the compiler, jaxlib's version and the CPU's model and flags,
since it is built with ``-march=native`` where the CPU can be identified),
loads it and registers its handlers (float32, float64) as CPU FFI targets. It returns
``False`` — and the caller falls back to the pure-JAX solve — whenever any of
that fails: no compiler, no headers, a compile or load error, an unsupported
platform, or ``NMLCELL_NO_FFI=1`` in the environment. The failure reason is
kept in ``status()`` and logged at debug level; nothing is raised.

Nothing is compiled at install time, so ``pip install .`` stays one command.
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SOURCES = ("hines.cc", "hines_cable.cc")  # compiled; the headers are included from HERE
HEADERS = ("hines_common.h", "hines_pack.h")
FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-DNDEBUG", "-w")
TARGETS = {"float64": "nmlcell_hines_f64", "float32": "nmlcell_hines_f32"}
_SYMBOLS = {"float64": "NmlcellHinesF64", "float32": "NmlcellHinesF32"}
# the fused voltage system of a cable step and its transpose (cable_step.py)
CABLE_TARGETS = {"float64": ("nmlcell_cable_f64", "nmlcell_cable_t_f64"),
                 "float32": ("nmlcell_cable_f32", "nmlcell_cable_t_f32")}
_CABLE_SYMBOLS = {"float64": ("NmlcellCableF64", "NmlcellCableTF64"),
                  "float32": ("NmlcellCableF32", "NmlcellCableTF32")}

_lock = threading.Lock()
_state: dict = {"tried": False, "ok": False, "why": "not tried", "path": None}


def disabled_by_env() -> bool:
    return os.environ.get("NMLCELL_NO_FFI", "").strip().lower() not in ("", "0", "false", "no", "off")


def status() -> dict:
    """What happened when the kernel was (or was not) built and loaded."""
    return dict(_state)


def _compiler() -> str | None:
    for cand in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if cand and shutil.which(cand):
            return shutil.which(cand)
    return None


def _cache_root() -> Path:
    from .._config import cache_dir

    root = cache_dir()
    if root is None:  # caching switched off: build in a per-process folder
        return Path(tempfile.mkdtemp(prefix="nmlcell-ffi-"))
    return root / "ffi"


def _cpu_signature() -> bytes:
    """The CPU's model and instruction-set flags (Linux): a library built with
    ``-march=native`` is only reused on a CPU with the same ones."""
    try:
        with open("/proc/cpuinfo", "rb") as f:
            lines = [ln for ln in f.read().splitlines()
                     if ln.startswith((b"model name", b"flags", b"Features", b"CPU part"))]
        return b"\n".join(sorted(set(lines)))
    except OSError:
        return b""


def _key(cxx: str, attempts, folder: Path = HERE, names=SOURCES + HEADERS) -> str:
    """The cache folder's name: a hash of the sources and headers ``names``
    in ``folder``, the flag sets, the compiler, jaxlib, the platform and the CPU."""
    import jaxlib

    key = hashlib.sha256()
    parts = [f"{name}\0".encode() + (folder / name).read_bytes() for name in names]
    parts += [repr(attempts).encode(), cxx.encode(), jaxlib.__version__.encode(), platform.machine().encode(),
              sys.platform.encode(), _cpu_signature()]
    for part in parts:
        key.update(part)
        key.update(b"\0")
    return key.hexdigest()[:16]


def _attempts() -> list[list[str]]:
    # -march=native vectorises a batch's lanes (about 1.5x for batches); only
    # where the CPU can be identified, and retried without it if it fails
    base = list(FLAGS)
    return ([base + ["-march=native"]] if _cpu_signature() else []) + [base]


def build_library(cxx: str, lib_name: str, sources, headers=(), attempts=None) -> Path:
    """Compile ``sources`` (files of this folder, one translation unit: the
    first ones ``-include``'d into the last) against the XLA FFI headers
    into ``<cache>/ffi/<key>/lib_name``, trying each flag set of
    ``attempts`` in turn; a library already built for the same key is
    reused. Shared by every C++ kernel of the package."""
    import jax

    include = jax.ffi.include_dir()
    if not os.path.isfile(os.path.join(include, "xla", "ffi", "api", "ffi.h")):
        raise RuntimeError(f"XLA FFI headers not found under {include}")
    attempts = _attempts() if attempts is None else attempts
    folder = _cache_root() / _key(cxx, attempts, HERE, tuple(sources) + tuple(headers))
    lib = folder / lib_name
    if lib.is_file():
        return lib
    folder.mkdir(parents=True, exist_ok=True)
    # build beside the target and rename: concurrent processes never load a half-written file
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
    os.close(fd)
    srcs = [str(HERE / name) for name in sources]
    unity = [arg for s in srcs[:-1] for arg in ("-include", s)] + [srcs[-1]]
    errors = []
    try:
        for flags in attempts:
            cmd = [cxx, *flags, "-I", include, "-I", str(HERE), *unity, "-o", tmp]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if proc.returncode == 0:
                os.replace(tmp, lib)
                return lib
            errors.append(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        raise RuntimeError("\n".join(errors))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_once(state: dict, lock, files, build, register, what: str, fallback: str) -> bool:
    """Build (once per machine: ``build(cxx)`` -> library path), load and
    ``register(so)`` a kernel, once per process; ``state`` keeps the outcome
    (``status()``). ``True`` if usable; any failure is kept in ``state``,
    logged at debug level, and leaves the caller on its ``fallback``."""
    with lock:
        if state["tried"]:
            return state["ok"]
        state["tried"] = True
        try:
            if sys.platform not in ("linux", "darwin"):
                raise RuntimeError(f"no FFI build on {sys.platform}")
            missing = [Path(f).name for f in files if not Path(f).is_file()]
            if missing:
                raise RuntimeError(f"{', '.join(missing)} not installed with the package")
            cxx = _compiler()
            if cxx is None:
                raise RuntimeError("no C++ compiler (g++, c++, clang++ or $CXX) on PATH")
            path = build(cxx)
            register(ctypes.cdll.LoadLibrary(str(path)))
            state.update(ok=True, why="loaded", path=str(path))
        except Exception as e:  # any failure: the caller's fallback is used
            state.update(ok=False, why=f"{type(e).__name__}: {e}")
            log.debug("nmlcell: %s unavailable, using %s (%s)", what, fallback, e)
        return state["ok"]


def _build(cxx: str) -> Path:
    return build_library(cxx, "libnmlcell_hines.so", SOURCES, HEADERS)


def _register(so) -> None:
    import jax

    for dtype, target in TARGETS.items():
        jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(so, _SYMBOLS[dtype])), platform="cpu")
        for t, sym in zip(CABLE_TARGETS[dtype], _CABLE_SYMBOLS[dtype]):
            jax.ffi.register_ffi_target(t, jax.ffi.pycapsule(getattr(so, sym)), platform="cpu")


def load() -> bool:
    """Build (once per machine), load and register the kernel; ``True`` if usable."""
    if disabled_by_env():
        return False
    return load_once(_state, _lock, [HERE / name for name in SOURCES + HEADERS], _build, _register,
                     "C++ Hines kernel", "the JAX solve")


def solve(parent, a, b, d, rhs):
    """The FFI call on arrays of one dtype: ``parent`` int32 (n,), ``a``, ``b``,
    ``d`` of shape (n,) or ``rhs.shape``, ``rhs`` (..., n). ``load()`` must
    have returned ``True``. Batched under ``vmap`` by broadcasting."""
    import jax

    target = TARGETS[rhs.dtype.name]
    call = jax.ffi.ffi_call(target, jax.ShapeDtypeStruct(rhs.shape, rhs.dtype),
                            vmap_method="broadcast_all")
    return call(parent, a, b, d, rhs)


def cable(tables, ins, shapes, transpose=False, add_v=False):
    """The fused voltage system of one cable step (``hines_cable.cc``) on the
    mechanism groups' own arrays. ``tables``: ``gidx``, ``jidx``, ``parent``,
    ``hpos`` (int32, n) and ``a``, ``b``, ``dax`` (n,), Hines node ``h``
    being node ``jidx[h]`` of group ``gidx[h]`` and ``hpos`` the inverse
    (the Hines node of each group's nodes, the groups one after another). ``ins``: per group ``V``, then ``I``,
    then ``D`` (forward; returns ``x`` per group), or ``D``, ``x``, ``g``
    (``transpose``; returns ``Vbar``, ``Ibar``, ``Dbar`` per group), each of
    the group's shape in ``shapes`` (``(..., s_g)``, the leading axes being
    independent systems) or ``(s_g,)`` (shared by all systems). With
    ``add_v`` the forward call returns ``V + x`` instead of ``x``, in V's
    buffer where V has the result's shape (so that XLA need not copy the
    result into a loop's carried v: the kernel has read every V of a block
    of systems before it writes them)."""
    import jax

    dt = ins[0].dtype
    out = [jax.ShapeDtypeStruct(tuple(sh), dt) for sh in shapes] * (3 if transpose else 1)
    alias = {}
    if add_v and not transpose:
        alias = {len(tables) + g: g for g, sh in enumerate(shapes) if tuple(ins[g].shape) == tuple(sh)}
    call = jax.ffi.ffi_call(CABLE_TARGETS[dt.name][1 if transpose else 0], out, vmap_method="broadcast_all",
                            input_output_aliases=alias)
    return call(*tables, *ins, add_v=bool(add_v and not transpose))


if __name__ == "__main__":  # python -m nmlcell.lower._hines_ffi: build ahead of first use
    import nmlcell  # noqa: F401

    print("loaded" if load() else "unavailable", status())
