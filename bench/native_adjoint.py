"""PROTOTYPE (issue 5, target E; not part of the package): the reverse pass
of a checkpointed chunk of :func:`nmlcell.run.make_simulator` as one C++
call (XLA FFI): the chunk's steps recomputed and the backward run over them
natively, from code generated for the model (``native_adjoint_codegen.py``).

``install()`` patches ``nmlcell.run`` in this process (``bench_cable.py
E-native``); ``ENABLED = False`` switches it off for the simulators traced
afterwards. It serves a model when :func:`plan` accepts it (NEURON's
first-order cable step, every node one instance of a cable group, no
events, no links between groups, inputs that are global constants, records
linear in the states) and the library builds; otherwise the package's own
reverse pass runs. The library is cached by a hash of its inputs and of
these two files (``<cache>/ffi/adjoint/``).
"""
from __future__ import annotations

import hashlib
import shutil
import logging
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger("nmlcell")

ENABLED = True
VERSION = "adjoint-chunk-3"  # of the generator: part of the libraries' key
VARIANTS = {"staggered": None, "neuron": None, "backward_euler": "implicit", "exp_euler": "exponential",
            "ind_exp_euler": "independent"}
_lock = threading.Lock()
_registered: set = set()


class NativeChunk:
    """The model's layout and its generated library (target ``target``)."""

    def __init__(self, system, variant):
        from nmlcell.lower.cable_step import _kernel

        plan = system.cable_plan
        csys = plan.system
        self.system, self.variant, self.order = system, variant, list(plan.order)
        self.kerns = [_kernel(system, gid, variant) for gid in self.order]
        self.sizes = [system.groups[g].size for g in self.order]
        self.S = sum(len(k.state_names) * n for k, n in zip(self.kerns, self.sizes))
        self.NP = sum(len(k.param_names) * n for k, n in zip(self.kerns, self.sizes))
        self.tables = (np.asarray(csys.tree.parent, np.int64), np.asarray(csys.pos, np.int64),
                       np.asarray(csys.a, float), np.asarray(csys.b, float), np.asarray(csys.dax, float))
        # the library's key: what the generated source is made from (the
        # kernels' own sources are generated from the IR), so that a model
        # seen before skips sympy and the compiler
        h = hashlib.sha256(VERSION.encode())
        for f in ("native_adjoint_codegen.py", "native_adjoint.py"):  # the generator itself
            h.update((Path(__file__).parent / f).read_bytes())
        for k, n in zip(self.kerns, self.sizes):
            h.update(k.source.encode())
            h.update(repr((n, k.state_names, k.param_names, k.input_names, sorted(k.static.items()))).encode())
        for t in self.tables:
            h.update(t.tobytes())
        self.key = h.hexdigest()[:24]
        self.target = f"nmlcell_adj_{self.key}"

    def source(self) -> str:
        """The generated C++ (sympy: seconds per mechanism)."""
        import native_adjoint_codegen as ac

        groups = []
        for gid, k, n in zip(self.order, self.kerns, self.sizes):
            sym = ac.symbolic(k, gid)
            if "cm" in k.param_names:
                cm = k.param_names.index("cm")
            elif "cm" in k.static:
                cm = float(k.static["cm"])
            else:
                raise ac.Unsupported(f"group {gid} has no cm")
            groups.append((sym, n, cm))
        src, _lay = ac.chunk_cpp(groups)
        return _ffi_source(src, self.tables, self.S, self.NP)

    def build(self) -> bool:
        with _lock:
            if self.target in _registered:
                return True
            so = _build(self.source, self.key)
            import ctypes

            import jax

            lib = ctypes.cdll.LoadLibrary(str(so))
            jax.ffi.register_ffi_target(self.target, jax.ffi.pycapsule(lib.NmlcellAdjointChunk), platform="cpu")
            _registered.add(self.target)
            return True

    # -- JAX side --------------------------------------------------------------------------
    def flat_y(self, y):
        import jax.numpy as jnp

        return jnp.concatenate([jnp.broadcast_to(c, (self.system.groups[g].size,)).astype(jnp.float64)
                                for g in self.order for c in y[g]])

    def flat_p(self, p):
        import jax.numpy as jnp

        return jnp.concatenate([jnp.broadcast_to(p[g][name], (self.system.groups[g].size,)).astype(jnp.float64)
                                for g, k in zip(self.order, self.kerns) for name in k.param_names])

    def flat_u(self, y, p):
        import jax.numpy as jnp

        cols = []
        for g, k in zip(self.order, self.kerns):
            u = self.system._inputs(0.0, y, p, g, {})
            cols += [jnp.broadcast_to(u[name], (self.system.groups[g].size,)).astype(jnp.float64)
                     for name in k.input_names]
        return jnp.concatenate(cols) if cols else jnp.zeros((1,), jnp.float64)

    def unflat_y(self, flat, like):
        out, k = {}, 0
        for g in self.order:
            n = self.system.groups[g].size
            cols = []
            for c in like[g]:
                v = flat[k:k + n]
                cols.append(v if np.shape(c) == (n,) else v.sum().reshape(np.shape(c)))
                k += n
            out[g] = type(like[g])(cols) if isinstance(like[g], (tuple, list)) else cols
        return out

    def unflat_p(self, flat, params):
        import jax
        import jax.numpy as jnp

        def zero(x):
            return jnp.zeros_like(x) if jnp.issubdtype(jnp.result_type(x), jnp.inexact) else \
                np.zeros(np.shape(x), dtype=jax.dtypes.float0)

        out = jax.tree.map(zero, params)
        k = 0
        for g, kern in zip(self.order, self.kerns):
            n = self.system.groups[g].size
            for name in kern.param_names:
                v = flat[k:k + n]
                k += n
                x = params[g][name]
                if not jnp.issubdtype(jnp.result_type(x), jnp.inexact):
                    continue
                out[g][name] = (v if np.shape(x) == (n,) else v.sum().reshape(np.shape(x))).astype(jnp.result_type(x))
        return out

    def __call__(self, start, dt, y, p, ct_y, ct_states):
        """``(ct of y at the chunk's start, ct of p)`` for the chunk of
        ``len(ct_states)`` steps from step ``start``; ``ct_states[i]``: the
        cotangent of the flat states after step ``i`` from the records."""
        import jax
        import jax.numpy as jnp

        meta = jnp.stack([jnp.asarray(start, jnp.float64), jnp.asarray(dt, jnp.float64)])
        outs = (jax.ShapeDtypeStruct((self.S,), jnp.float64), jax.ShapeDtypeStruct((self.NP,), jnp.float64))
        call = jax.ffi.ffi_call(self.target, outs, vmap_method="sequential")
        ridx = np.arange(self.S, dtype=np.int64)
        yb, pb = call(meta, jnp.asarray(ridx), self.flat_y(y), self.flat_p(p), self.flat_u(y, p),
                      self.flat_y(ct_y), ct_states)
        return self.unflat_y(yb, y), self.unflat_p(pb, p)


def _ffi_source(src, tables, S, NP):
    par, pos, a, b, dax = tables

    def arr(name, ctype, v):
        return f"static const {ctype} {name}[] = {{{', '.join(repr(float(x)) if ctype == 'double' else str(int(x)) for x in v)}}};"

    return "\n".join([
        src,
        '#include "xla/ffi/api/ffi.h"', "#include <cstdlib>",
        "namespace ffi = xla::ffi;",
        arr("TPAR", "int32_t", par), arr("TPOS", "int32_t", pos), arr("TA", "double", a), arr("TB", "double", b),
        arr("TDAX", "double", dax),
        "static ffi::Error adjoint_impl(ffi::Buffer<ffi::F64> meta, ffi::Buffer<ffi::S64> ridx, "
        "ffi::Buffer<ffi::F64> y0, ffi::Buffer<ffi::F64> p, ffi::Buffer<ffi::F64> u, ffi::Buffer<ffi::F64> cte, "
        "ffi::Buffer<ffi::F64> ctr, ffi::ResultBuffer<ffi::F64> yb, ffi::ResultBuffer<ffi::F64> pb) {",
        f"  if (y0.element_count() != {S} || cte.element_count() != {S} || p.element_count() != {NP} || "
        "meta.element_count() != 2 || ctr.dimensions().size() != 2 || "
        "ctr.dimensions()[1] != static_cast<int64_t>(ridx.element_count()))",
        '    return ffi::Error::InvalidArgument("adjoint chunk: buffer sizes do not match the model");',
        "  const double* m = meta.typed_data();",
        "  static const bool skip = getenv(\"NMLCELL_ADJ_SKIP\") != nullptr;  // (measures the rest)",
        "  if (skip) return ffi::Error::Success();",
        "  std::fill(pb->typed_data(), pb->typed_data() + pb->element_count(), 0.0);",
        "  nmlcell_chunk_bwd(ctr.dimensions()[0], static_cast<int64_t>(m[0]), m[1], TPAR, TPOS, TA, TB, TDAX, "
        "y0.typed_data(), p.typed_data(), u.typed_data(), cte.typed_data(), ctr.typed_data(), ridx.typed_data(), "
        "ctr.dimensions()[1], yb->typed_data(), pb->typed_data());",
        "  return ffi::Error::Success();",
        "}",
        "XLA_FFI_DEFINE_HANDLER_SYMBOL(NmlcellAdjointChunk, adjoint_impl, ffi::Ffi::Bind()"
        ".Arg<ffi::Buffer<ffi::F64>>().Arg<ffi::Buffer<ffi::S64>>().Arg<ffi::Buffer<ffi::F64>>()"
        ".Arg<ffi::Buffer<ffi::F64>>().Arg<ffi::Buffer<ffi::F64>>().Arg<ffi::Buffer<ffi::F64>>()"
        ".Arg<ffi::Buffer<ffi::F64>>().Ret<ffi::Buffer<ffi::F64>>().Ret<ffi::Buffer<ffi::F64>>());",
    ])


def _build(make_source, key) -> Path:
    import jax

    from nmlcell.lower import _hines_ffi as hf

    cxx = hf._compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler")
    folder = hf._cache_root() / "adjoint" / key
    lib = folder / "libnmlcell_adjoint.so"
    if lib.is_file():
        return lib
    source = make_source()
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=folder))
    (work / "adjoint.cc").write_text(source)
    errors = []
    for flags in hf._attempts():
        cmd = [cxx, *flags, "-I", jax.ffi.include_dir(), "-shared", str(work / "adjoint.cc"), "-o", str(work / lib.name)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode == 0:
            (work / lib.name).replace(lib)
            shutil.rmtree(work, ignore_errors=True)
            return lib
        errors.append(r.stderr[-2000:])
    raise RuntimeError("adjoint chunk build failed: " + "\n".join(errors))


def plan(system, integrator_name):
    """A built :class:`NativeChunk` for this model and solver, or None (the
    JAX reverse pass is used)."""
    from nmlcell.lower import _hines_ffi

    if not ENABLED or _hines_ffi.disabled_by_env() or integrator_name not in VARIANTS:
        return None
    plan_ = getattr(system, "cable_plan", None)
    if plan_ is None or set(system.groups) != set(plan_.order):
        return None
    if getattr(system, "event_links", ()) or getattr(system, "lems_exact", False) or system.spike_layout():
        return None
    for gid, g in system.groups.items():
        if g.cond_plan or system._link_tables.get(gid):
            return None
        if any(i.kind != "global" for i in g.mech.inputs):
            return None
    cache = system.__dict__.setdefault("_adjoint_native", {})
    variant = VARIANTS[integrator_name]
    if variant not in cache:
        try:
            nc = NativeChunk(system, variant)
            nc.build()
            cache[variant] = nc
        except Exception as e:  # noqa: BLE001  (the JAX reverse pass)
            log.debug("nmlcell: native chunk adjoint unavailable (%s)", e)
            cache[variant] = None
    return cache[variant]


def _native_bwd(lowered, integrator, observe, carry, start, params, consts, ct):
    """``(ct of the carry, ct of the parameters)`` of a chunk by one C++
    call, or None where the prototype does not apply."""
    import jax
    import jax.numpy as jnp

    y, count, ev = carry
    if ev is not None or count.shape != (0,):
        return None
    ct_carry, ct_recs = ct
    found = plan(lowered, integrator.name)
    if found is None:
        return None
    dtv = consts[0]
    t = start.astype(jnp.float64) * dtv

    def rec(yy):
        return observe(t, yy, params)

    try:
        tr = jax.linear_transpose(rec, y)
        cty = jax.vmap(lambda c: found.flat_y(tr(c)[0]))(ct_recs)
    except Exception:  # noqa: BLE001  (records not linear in the states)
        return None
    cy, cp = found(start, dtv, y, params, ct_carry[0], cty)
    zc = np.zeros(np.shape(count), dtype=jax.dtypes.float0)
    return (cy, zc, None), cp


def install():
    """Patch ``nmlcell.run`` so that the checkpointed chunks of simulators
    made from now on take their reverse pass from :class:`NativeChunk`."""
    from nmlcell import run

    if getattr(run, "_native_adjoint_installed", False):
        return
    orig_make, orig_chunk = run.make_simulator, run._chunk_fn
    ctx = {}

    def make_simulator(lowered, integrator, *, duration, dt, record):
        ctx[id(lowered)] = (integrator, lowered.observer(record)[0])
        return orig_make(lowered, integrator, duration=duration, dt=dt, record=record)

    def chunk_fn(lowered, run_steps, k, y0, params):
        import jax
        import jax.numpy as jnp

        base = orig_chunk(lowered, run_steps, k, y0, params)
        if not ENABLED or id(lowered) not in ctx:
            return base
        integrator, observe = ctx[id(lowered)]

        def zero(x):
            if jnp.issubdtype(jnp.result_type(x), jnp.inexact):
                return jnp.zeros_like(x)
            return np.zeros(np.shape(x), dtype=jax.dtypes.float0)

        @jax.custom_vjp
        def chunk(carry, start, params, consts):
            return base(carry, start, params, consts)

        def fwd(carry, start, params, consts):
            return base(carry, start, params, consts), (carry, start, params, consts)

        def bwd(res, ct):
            carry, start, params, consts = res
            native = _native_bwd(lowered, integrator, observe, carry, start, params, consts, ct)
            if native is not None:
                return native[0], zero(start), native[1], jax.tree.map(zero, consts)
            _, f = jax.vjp(lambda c, p: base(c, start, p, consts), carry, params)
            cc, cp = f(ct)
            return cc, zero(start), cp, jax.tree.map(zero, consts)

        chunk.defvjp(fwd, bwd)
        return chunk

    run.make_simulator, run._chunk_fn = make_simulator, chunk_fn
    run._native_adjoint_installed = True
