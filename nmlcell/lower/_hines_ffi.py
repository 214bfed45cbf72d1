"""The C++ Hines kernels through ``jax.ffi``, built at first use.

Two libraries, so that what a float64 simulation needs is built first and
alone:

* ``libnmlcell_cable64.so`` (:func:`load`): a cable step's fused voltage
  system and its transpose in float64 — ``hines_cable.cc`` (the FFI
  handlers), ``hines_cable_fwd64.cc`` and ``hines_cable_bwd64.cc`` (the
  blocks);
* ``libnmlcell_hines_extra.so`` (:func:`load_extra`, built the first time it
  is needed): the plain tree solve (``hines.cc``, float32 and float64) and the
  float32 cable kernel (``hines_cable32.cc``).

The headers they share: ``hines_common.h``, ``hines_pack.h``,
``hines_cable.h`` (the kernels, without the XLA headers) and
``hines_cable_ffi.h`` (the handlers). Each library is compiled with the
system's C++ compiler against the XLA FFI headers that ship with jaxlib
(``jax.ffi.include_dir()``), one compiler process per ``.cc`` file, all at
once, then linked: the XLA headers cost most of the compile time (about
1 s to parse, 2-3 s of CPU with a handler's instantiations), so the blocks
sit in units that do not include them and compile beside the handlers. It is
cached under ``<nmlcell cache>/ffi/<hash>/`` (the hash covers every source
and header of both libraries, the flags, the compiler, jaxlib's version and
the CPU's model and flags, since it is built with ``-march=native`` where
the CPU can be identified), loaded, and its handlers registered as CPU FFI
targets. ``load()`` returns ``False`` — and the caller falls back to the
pure-JAX solve — whenever any of that fails: no compiler, no headers, a
compile or load error, an unsupported platform, or ``NMLCELL_NO_FFI=1`` in
the environment. The failure reason is kept in ``status()``, the compiler's
whole output in a build log beside the cache, and the first failure of a
process is reported once as a one-line :class:`~nmlcell.errors.KernelBuildWarning`
(not with ``NMLCELL_NO_FFI=1``, which chooses the JAX path on purpose);
nothing is raised.

The first library's build usually runs in a background thread started by the
NeuroML importer (``importers/nml_cell.prebuild_tree_kernel``). While it
runs (:func:`building`), a float64 cable solve is traced without waiting
for it (:func:`cable`'s placeholder, ``nmlcell_ffi_deferred``): its lowering
waits, then emits the FFI call, or the JAX formulation if the build failed.
So tracing overlaps the compiler and the target is registered before XLA
compiles.

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
# float64 cable kernel (load) and the rest (load_extra); headers included from HERE
CORE_SOURCES = ("hines_cable.cc", "hines_cable_fwd64.cc", "hines_cable_bwd64.cc")
EXTRA_SOURCES = ("hines.cc", "hines_cable32.cc")
SOURCES = CORE_SOURCES + EXTRA_SOURCES
HEADERS = ("hines_common.h", "hines_pack.h", "hines_cable.h", "hines_cable_ffi.h")
FLAGS = ("-O3", "-std=c++17", "-fPIC", "-DNDEBUG", "-w")
# per unit, after FLAGS: the float64 handlers hold no hot loop (the blocks are
# in hines_cable_fwd64.cc / _bwd64.cc); -O1 compiles them in 2.0 CPU s
# instead of 2.6-3.0, and a call on Hay's 735 nodes took the same time
# (7.2-10.1 us with either, same process)
UNIT_FLAGS = {"hines_cable.cc": ("-O1",)}
TARGETS = {"float64": "nmlcell_hines_f64", "float32": "nmlcell_hines_f32"}
_SYMBOLS = {"float64": "NmlcellHinesF64", "float32": "NmlcellHinesF32"}
# the fused voltage system of a cable step and its transpose (cable_step.py)
CABLE_TARGETS = {"float64": ("nmlcell_cable_f64", "nmlcell_cable_t_f64"),  # float64: the core library
                 "float32": ("nmlcell_cable_f32", "nmlcell_cable_t_f32")}
_CABLE_SYMBOLS = {"float64": ("NmlcellCableF64", "NmlcellCableTF64"),
                  "float32": ("NmlcellCableF32", "NmlcellCableTF32")}

_lock = threading.Lock()
_state: dict = {"tried": False, "ok": False, "why": "not tried", "path": None}
_extra_lock = threading.Lock()
_extra_state: dict = {"tried": False, "ok": False, "why": "not tried", "path": None}
# one KernelBuildWarning per process, whichever kernel failed first
_warned: list = []


class BuildFailed(RuntimeError):
    """A compile or link that failed: ``str()`` holds the commands and their
    output, ``log`` the file they were written to (or ``None``)."""

    def __init__(self, text: str, log_path: Path | None):
        super().__init__(text)
        self.log = log_path


def _first_error(text: str) -> str:
    """The compiler's first error line in ``text`` (else its first line of output)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.rstrip().endswith(" failed:")]
    for ln in lines:
        if "error" in ln.lower():
            return ln
    return lines[0] if lines else text.strip()


def warn_fallback(what: str, fallback: str, err: Exception) -> None:
    """Report, once per process, that ``what`` is unavailable and ``fallback``
    is used, in one line: the reason (the compiler's first error line and
    the build log, for a failed build) and how to silence it."""
    if _warned or disabled_by_env():
        return
    _warned.append(what)
    import warnings

    from ..errors import KernelBuildWarning

    if isinstance(err, BuildFailed):
        why = f"build failed: {_first_error(str(err))}" + (f" (build log: {err.log})" if err.log else "")
    else:
        why = " ".join(str(err).split())
    msg = (f"{what} unavailable, {why}; using {fallback} instead (slower); "
           f"set NMLCELL_NO_FFI=1 to choose it without this warning")
    # no source line to show: the warning stays one line on stderr
    warnings.warn_explicit(msg, KernelBuildWarning, "nmlcell", 0, module=__name__)


def disabled_by_env() -> bool:
    return os.environ.get("NMLCELL_NO_FFI", "").strip().lower() not in ("", "0", "false", "no", "off")


def status() -> dict:
    """What happened when the float64 cable kernel was (or was not) built and
    loaded; ``"extra"``: the same for the second library (:func:`load_extra`)."""
    return dict(_state, extra=dict(_extra_state))


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


def build_library(cxx: str, lib_name: str, sources, attempts=None, key_names=None,
                  unit_flags=None) -> Path:
    """Compile ``sources`` (files of this folder) against the XLA FFI
    headers into ``<cache>/ffi/<key>/lib_name``: one compiler process per
    source, all at once, then one link (a single source: one command),
    trying each flag set of ``attempts`` in turn; a library already built
    for the same key is reused. ``unit_flags``: source name -> flags
    added after a flag set's for that source. The key covers ``key_names``
    (default: the sources) and the flags. Shared by every C++
    kernel of the package."""
    import jax

    include = jax.ffi.include_dir()
    if not os.path.isfile(os.path.join(include, "xla", "ffi", "api", "ffi.h")):
        raise RuntimeError(f"XLA FFI headers not found under {include}")
    attempts = _attempts() if attempts is None else attempts
    names = tuple(sources if key_names is None else key_names)
    unit_flags = dict(unit_flags or {})
    folder = _cache_root() / _key(cxx, (attempts, sorted(unit_flags.items())) if unit_flags else attempts,
                                  HERE, names)
    lib = folder / lib_name
    if lib.is_file():
        return lib
    folder.mkdir(parents=True, exist_ok=True)
    # build beside the target and rename: concurrent processes never load a half-written file
    work = Path(tempfile.mkdtemp(prefix=lib_name + ".", dir=folder))
    tmp = work / lib_name
    srcs = [(str(HERE / name), tuple(unit_flags.get(name, ()))) for name in sources]
    errors = []
    try:
        for flags in attempts:
            err = _compile_link(cxx, [*flags, "-I", include, "-I", str(HERE)], srcs, work, tmp)
            if err is None:
                os.replace(tmp, lib)
                return lib
            errors.append(err)
        text = "\n".join(errors)
        log_path = folder / (lib_name + ".build.log")
        try:
            log_path.write_text(text)
        except OSError:
            log_path = None
        raise BuildFailed(text, log_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _compile_link(cxx: str, flags, srcs, work: Path, out: Path) -> str | None:
    """``None`` if ``out`` was built, else the failing command and its
    stderr. ``srcs``: (path, flags of that unit)."""
    if len(srcs) == 1:
        jobs = [[cxx, *flags, *srcs[0][1], "-shared", srcs[0][0], "-o", str(out)]]
    else:
        objs = [str(work / f"{k}_{Path(s).stem}.o") for k, (s, _) in enumerate(srcs)]
        jobs = [[cxx, *flags, *extra, "-c", s, "-o", o] for (s, extra), o in zip(srcs, objs)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for cmd in jobs]
    failed = None
    for cmd, proc in zip(jobs, procs):
        try:
            _, stderr = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        if proc.returncode != 0 and failed is None:
            failed = f"{' '.join(cmd)} failed:\n{stderr[-2000:]}"
    if failed is not None or len(srcs) == 1:
        return failed
    cmd = [cxx, *flags, "-shared", *objs, "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return None if proc.returncode == 0 else f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}"


def load_once(state: dict, lock, files, build, register, what: str, fallback: str) -> bool:
    """Build (once per machine: ``build(cxx)`` -> library path), load and
    ``register(so)`` a kernel, once per process; ``state`` keeps the outcome
    (``status()``). ``True`` if usable; any failure is kept in ``state``,
    logged at debug level, and leaves the caller on its ``fallback``."""
    with lock:
        if state["tried"]:
            return state["ok"]
        state["tried"] = True
        state["building"] = True
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
            try:
                warn_fallback(what, fallback, e)
            except Exception:  # noqa: BLE001  (warnings turned into errors: the fallback still holds)
                pass
        finally:
            state["building"] = False
        return state["ok"]


def _build(cxx: str) -> Path:
    return build_library(cxx, "libnmlcell_cable64.so", CORE_SOURCES, key_names=SOURCES + HEADERS,
                         unit_flags=UNIT_FLAGS)


def _build_extra(cxx: str) -> Path:
    return build_library(cxx, "libnmlcell_hines_extra.so", EXTRA_SOURCES, key_names=SOURCES + HEADERS,
                         unit_flags=UNIT_FLAGS)


def _register(so) -> None:
    import jax

    for t, sym in zip(CABLE_TARGETS["float64"], _CABLE_SYMBOLS["float64"]):
        jax.ffi.register_ffi_target(t, jax.ffi.pycapsule(getattr(so, sym)), platform="cpu")


def _register_extra(so) -> None:
    import jax

    for dtype, target in TARGETS.items():
        jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(so, _SYMBOLS[dtype])), platform="cpu")
    for t, sym in zip(CABLE_TARGETS["float32"], _CABLE_SYMBOLS["float32"]):
        jax.ffi.register_ffi_target(t, jax.ffi.pycapsule(getattr(so, sym)), platform="cpu")


def load() -> bool:
    """Build (once per machine), load and register the float64 cable kernel
    (the library a float64 simulation needs); ``True`` if usable."""
    if disabled_by_env():
        return False
    return load_once(_state, _lock, [HERE / name for name in CORE_SOURCES + HEADERS], _build, _register,
                     "C++ Hines kernel", "the JAX solve")


def load_extra() -> bool:
    """:func:`load`, then the second library (the plain tree solve and the
    float32 cable kernel), built the first time it is asked for; ``True``
    if both are usable."""
    if not load():
        return False
    return load_once(_extra_state, _extra_lock, [HERE / name for name in SOURCES + HEADERS], _build_extra,
                     _register_extra, "C++ Hines kernel (tree solve, float32)", "the JAX solve")


def building() -> bool:
    """Whether :func:`load` is building (or loading) the float64 cable kernel
    in another thread right now, its outcome not known yet."""
    return bool(_state.get("building"))


def available(dtype) -> bool:
    """Whether the cable kernel of ``dtype`` (a name or dtype) is usable:
    float64 with :func:`load`, float32 with :func:`load_extra`."""
    name = getattr(dtype, "name", str(dtype))
    if name not in CABLE_TARGETS:
        return False
    return load() if name == "float64" else load_extra()


def solve(parent, a, b, d, rhs):
    """The FFI call on arrays of one dtype: ``parent`` int32 (n,), ``a``, ``b``,
    ``d`` of shape (n,) or ``rhs.shape``, ``rhs`` (..., n). ``load_extra()``
    must have returned ``True``. Batched under ``vmap`` by broadcasting."""
    import jax

    target = TARGETS[rhs.dtype.name]
    call = jax.ffi.ffi_call(target, jax.ShapeDtypeStruct(rhs.shape, rhs.dtype),
                            vmap_method="broadcast_all")
    return call(parent, a, b, d, rhs)


def cable(tables, ins, shapes, transpose=False, add_v=False, fallback=None):
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
    of systems before it writes them).

    ``fallback(*ins)``: the same results by the JAX path. Given, and the
    float64 kernel still being built in another thread (:func:`building`),
    the call is traced without waiting for the build: it is a placeholder
    (:func:`_deferred`) that becomes the FFI call when it is lowered if the
    build has succeeded by then, else ``fallback``; the lowering waits for
    the build. So tracing overlaps the compiler, and XLA only starts once the
    custom call's target is registered."""
    import jax

    dt = ins[0].dtype
    out = [jax.ShapeDtypeStruct(tuple(sh), dt) for sh in shapes] * (3 if transpose else 1)
    add_v = bool(add_v and not transpose)
    alias = {}
    if add_v:
        alias = {len(tables) + g: g for g, sh in enumerate(shapes) if tuple(ins[g].shape) == tuple(sh)}
    call = jax.ffi.ffi_call(CABLE_TARGETS[dt.name][1 if transpose else 0], out, vmap_method="broadcast_all",
                            input_output_aliases=alias)
    # not known to be loaded: being built, or its build ended (perhaps failed)
    # since the caller decided on the kernel; the lowering then decides
    if fallback is not None and dt.name == "float64" and not _state["ok"]:
        k = len(tables)
        return _deferred(lambda *a: call(*a, add_v=add_v), lambda *a: fallback(*a[k:]), out, (*tables, *ins))
    return call(*tables, *ins, add_v=add_v)


_deferred_prim: list = []


def _deferred(direct, fallback, out, args):
    """A call whose lowering is decided when it is lowered: ``direct(*args)``
    (the FFI call) if :func:`load` — waiting for a build in progress —
    returns ``True``, else ``fallback(*args)``; the results ``out``
    (``ShapeDtypeStruct``). Unbatched (the callers batch with
    ``custom_vmap``) and not differentiated (their ``custom_vjp``)."""
    from jax import core as jcore
    from jax.extend.core import Primitive
    from jax.interpreters import mlir

    if not _deferred_prim:
        prim = Primitive("nmlcell_ffi_deferred")
        prim.multiple_results = True
        prim.def_abstract_eval(lambda *_, out, direct, fallback: list(out))
        # run outside jit (or a trace evaluated at once): wait for the build too
        prim.def_impl(lambda *a, out, direct, fallback: (direct if load() else fallback)(*a))

        def lower(ctx, *ops, out, direct, fallback):
            return mlir.lower_fun(direct if load() else fallback, multiple_results=True)(ctx, *ops)

        mlir.register_lowering(prim, lower)
        _deferred_prim.append(prim)
    avals = tuple(jcore.ShapedArray(tuple(o.shape), o.dtype) for o in out)
    return _deferred_prim[0].bind(*args, out=avals, direct=direct, fallback=fallback)


if __name__ == "__main__":  # python -m nmlcell.lower._hines_ffi: build ahead of first use
    import nmlcell  # noqa: F401

    print("loaded" if load_extra() else "unavailable", status())
