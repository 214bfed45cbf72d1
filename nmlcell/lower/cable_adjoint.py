"""The reverse pass of NEURON's first-order cable step
(:func:`nmlcell.lower.cable_step.cable_step`) on the CPU kernel.

XLA's CPU runtime runs a loop body that holds a custom call (the fused
voltage system of ``hines_cable.cc``) op by op: every fusion and copy of
the body is a separate thunk, 0.2-0.5 µs each on this machine whatever its
size. The transpose of a step as JAX differentiates it is about 95 such
fusions and two kernel calls, against 13-18 fusions and one call for the
step itself, and that, more than the arithmetic, set the cost of a
gradient (bench E: 32 µs per backward step, 4 µs of it without the
custom call).

Here the step is a ``custom_vjp``:

* primal: the step as before (bitwise the same forward run);
* forward of the reverse pass (run when a checkpointed chunk is
  recomputed): the step, with the kernel's ``x`` (``V + x`` is the new v)
  instead of ``V + x``; the residuals are ``t`` and one vector holding the
  step's states and ``x``, so that the chunk stores one array per step
  instead of one per state column;
* backward: no custom call. The current phase is recomputed from the saved
  states, the cotangent of the new v taken through the state phase, the
  transposed voltage system solved in plain JAX without a scatter
  (:func:`_transposed_solve`, the kernel's transpose to round-off: its
  Hines sweeps are ``fori_loop`` s, which XLA's CPU backend compiles as
  native loops), and the cotangents of the states and parameters taken
  through both phases. With no custom call in the backward loop its many
  small fusions cost little (bench E: 32 -> 15.5 µs per backward step,
  6.5 µs of which the two sweeps); running the segments inside a one-trip
  ``while_loop`` that XLA compiles as one native call (fewer thunks)
  measured the same and is not done.

In a simulation (:func:`nmlcell.run.make_simulator`) the checkpointed
chunk of steps is itself a ``custom_vjp`` whose reverse pass is traced
under :func:`recomputing`: the chunk's recompute then solves each step's
voltage system in plain JAX (:func:`_jax_forward`, the kernel's Hines
elimination in the same order) instead of calling the kernel, so that no
custom call is left in the recompute's loop either, and saves the
eliminated diagonal with the step's states and ``x``; the backward then
eliminates the right-hand side only (:func:`_transposed_solve_dd`: the
transposed system's eliminated diagonal is the same). Bench E, 50 ms, one
process, best of 11-15: 59-61 ms against 62-67 ms (forward 16-17 ms).
Under ``vmap`` both stay the kernel's (``custom_vmap``).

The gradient is the same as differentiating the step directly (to
round-off: bench E's conductance gradients within 1e-14 relative).
Used for NEURON's first-order step (``staggered`` and the variants that
share its voltage step) when the C++ kernel is loaded, the default backend
is the CPU and no input is re-read from the new v (gap junctions' vpeer:
:func:`nmlcell.lower.cable_step._relinked`); otherwise the step is
rematerialised with ``jax.checkpoint``. Forward mode (``jvp``) is not
available through it, as through the kernel's own ``custom_vjp``.
"""
from __future__ import annotations

import contextlib
import math

import jax
import jax.numpy as jnp
import numpy as np

from . import _hines_ffi


def applies(system, t, y, p) -> bool:
    """Whether :func:`step_fn` serves this system and these arguments."""
    from . import cable
    from .cable_step import _relinked

    if jax.default_backend() != "cpu" or cable._resolve_method("auto") == "jax":
        return False
    if _relinked(system):
        return False
    if not isinstance(y, dict) or not set(system.cable_plan.order) <= set(y):
        return False
    leaves = jax.tree.leaves(y)
    if not leaves:
        return False
    dt = jnp.result_type(leaves[0])
    if dt.name not in _hines_ffi.CABLE_TARGETS or any(jnp.result_type(x) != dt for x in leaves):
        return False
    return all(jnp.issubdtype(jnp.result_type(x), jnp.floating) for x in jax.tree.leaves(p))


def step_fn(system, variant, y):
    """``f(t, y, p, dt) -> y_new``: the first-order cable step with the
    reverse pass above; one per system, state-phase variant and layout of
    the states ``y`` (all the model's groups; the step returns the cable's)."""
    leaves, tdef = jax.tree.flatten(y)
    key = (variant, tdef, tuple(jnp.shape(a) for a in leaves), _MODE)
    cache = system.__dict__.setdefault("_cable_adjoint_steps", {})
    if key not in cache:
        cache[key] = _make(system, variant, tdef, key[2], key)
    return cache[key]


_MODE = "kernel"


@contextlib.contextmanager
def recomputing():
    """While a checkpointed chunk's reverse pass is traced
    (:func:`nmlcell.run.make_simulator`): the steps traced then solve their
    voltage system in plain JAX in the forward rule (the chunk's recompute)
    and save the eliminated diagonal for their backward rule."""
    global _MODE
    old, _MODE = _MODE, "recompute"
    try:
        yield
    finally:
        _MODE = old


def _tables(plan):
    csys = plan.system
    par = np.asarray(csys.tree.parent)
    n = len(par)
    kids = [[] for _ in range(n)]
    for i in range(1, n):
        kids[par[i]].append(i)
    ch = np.full((n, max(1, max(len(c) for c in kids))), n, dtype=np.int32)
    for i, c in enumerate(kids):
        ch[i, :len(c)] = c
    return par, ch, np.maximum(par, 0).astype(np.int32)


def _jax_forward(plan):
    """``(Vs, Is, Ds) -> (xs, dd)``: the kernel's ``x`` per group in plain
    JAX, and the eliminated diagonal ``dd`` (Hines order), which is also
    the transposed system's."""
    csys = plan.system
    par, ch, parc = _tables(plan)
    n = len(par)
    pos, inv = np.asarray(csys.pos), np.asarray(csys.inv)
    a, b, dax = (np.asarray(v, float) for v in (csys.a, csys.b, csys.dax))
    ach = np.concatenate([a, [0.0]])[ch]
    a_, b_ = a, b
    cuts = np.cumsum(csys.sizes)[:-1]
    par32 = par.astype(np.int32)

    def unbatched(Vs, Is, Ds):
        a, b, parj = jnp.asarray(a_), jnp.asarray(b_), jnp.asarray(par32)
        M = jnp.stack([jnp.concatenate(Vs), jnp.concatenate(Is), jnp.concatenate(Ds)])[:, pos]
        V, I, D = M[0], M[1], M[2] + dax
        dv = jnp.where(par >= 0, V[parc] - V, 0.0)
        dv0 = jnp.concatenate([dv, jnp.zeros((1,), dv.dtype)])
        rhs = -I - b * dv + jnp.sum(ach * dv0[ch], axis=1)

        def eliminate(k, c):
            dd, rr = c
            i = n - 1 - k
            p = parj[i]
            f = a[i] / dd[i]
            dd = jax.lax.dynamic_update_index_in_dim(dd, dd[p] - f * b[i], p, 0)
            rr = jax.lax.dynamic_update_index_in_dim(rr, rr[p] - f * rr[i], p, 0)
            return dd, rr

        dd, rr = jax.lax.fori_loop(0, n - 1, eliminate, (D, rhs))
        y, c = rr / dd, b / dd

        def substitute(i, x):
            return jax.lax.dynamic_update_index_in_dim(x, y[i] - c[i] * x[parj[i]], i, 0)

        x = jax.lax.fori_loop(1, n, substitute, y)[inv]
        return jnp.split(x, cuts), dd

    @jax.custom_batching.custom_vmap
    def solve(Vs, Is, Ds):
        return unbatched(Vs, Is, Ds)

    @solve.def_vmap
    def _batched(axis_size, in_batched, Vs, Is, Ds):
        # a batch (vmap): the kernel, and no eliminated diagonal (the batched
        # backward is the transposed kernel's, _transposed_solve_dd)
        from .cable import cable_solve_groups

        args = _broadcast(axis_size, in_batched, (*Vs, *Is, *Ds))
        G = len(Vs)
        xs = cable_solve_groups(csys, args[:G], args[G:2 * G], args[2 * G:])
        dd = jnp.zeros((axis_size, n), args[0].dtype)
        return (list(xs), dd), ([True] * G, True)

    return solve


def _broadcast(axis_size, in_batched, arrays):
    return [jnp.broadcast_to(a, (axis_size,) + a.shape) if not b else a
            for a, b in zip(arrays, jax.tree.leaves(in_batched))]


def _transposed_solve_dd(plan):
    """As :func:`_transposed_solve` with the eliminated diagonal given: the
    elimination is then the right-hand side's only."""
    csys = plan.system
    par, ch, parc = _tables(plan)
    n = len(par)
    pos, inv = np.asarray(csys.pos), np.asarray(csys.inv)
    a, b, dax = (np.asarray(v, float) for v in (csys.a, csys.b, csys.dax))
    apar = np.where(par >= 0, a, 0.0)
    bch = np.concatenate([b, [0.0]])[ch]
    cuts = np.cumsum(csys.sizes)[:-1]
    par32 = par.astype(np.int32)

    def unbatched(dd, xs, gs):
        parj = jnp.asarray(par32)
        M = jnp.stack([jnp.concatenate(xs), jnp.concatenate(gs)])[:, pos]
        x, g = M[0], M[1]
        F, c = jnp.asarray(b) / dd, jnp.asarray(a) / dd

        def eliminate(k, rr):
            i = n - 1 - k
            return jax.lax.dynamic_update_index_in_dim(rr, rr[parj[i]] - F[i] * rr[i], parj[i], 0)

        y = jax.lax.fori_loop(0, n - 1, eliminate, g) / dd

        def substitute(i, lam):
            return jax.lax.dynamic_update_index_in_dim(lam, y[i] - c[i] * lam[parj[i]], i, 0)

        lam = jax.lax.fori_loop(1, n, substitute, y)
        lam0 = jnp.concatenate([lam, jnp.zeros((1,), lam.dtype)])
        yv = dax * lam + apar * lam[parc] + jnp.sum(bch * lam0[ch], axis=1)
        out = -jnp.stack([yv, lam, lam * x])[:, inv]
        parts = jnp.split(out, cuts, axis=1)
        return tuple(q[0] for q in parts), tuple(q[1] for q in parts), tuple(q[2] for q in parts)

    @jax.custom_batching.custom_vmap
    def solve(dd, Ds, xs, gs):
        return unbatched(dd, xs, gs)

    @solve.def_vmap
    def _batched(axis_size, in_batched, dd, Ds, xs, gs):
        # a batch (vmap): the transposed kernel, as in _transposed_solve
        return _kernel_transpose(csys, axis_size, jax.tree.leaves(in_batched)[1:], Ds, xs, gs)

    return solve


def _transposed_solve(plan):
    """``(Ds, xs, gs) -> (Vbar, Ibar, Dbar)`` per group: the transposed
    kernel's results (``hines_cable.cc``: ``A^T lam = g``, ``Vbar = -L^T
    lam``, ``Ibar = -lam``, ``Dbar = -lam x``) in plain JAX without a custom
    call or a scatter (the Hines sweeps as ``fori_loop`` s, the children's
    sums as gathers), so that XLA's CPU backend can compile the whole
    backward loop as one native function. Same results to round-off (1e-17
    on random systems)."""
    from .cable import _hines_jax

    csys = plan.system
    par, ch, parc = _tables(plan)
    pos, inv = np.asarray(csys.pos), np.asarray(csys.inv)

    def transpose(Ds, xs, gs):
        dt = gs[0].dtype
        a, b, dax = (jnp.asarray(v, dt) for v in (csys.a, csys.b, csys.dax))
        D = jnp.concatenate(Ds)[pos] + dax
        x = jnp.concatenate(xs)[pos]
        lam = _hines_jax(par, b, a, D, jnp.concatenate(gs)[pos])
        zero = jnp.zeros((1,), dt)
        lam0, b0 = jnp.concatenate([lam, zero]), jnp.concatenate([b, zero])
        # (L^T lam)[i] = dax[i] lam[i] + a[i] lam[parent[i]] + sum over children c of b[c] lam[c]
        y = dax * lam + jnp.where(par >= 0, a * lam[parc], 0.0) + jnp.sum(b0[ch] * lam0[ch], axis=1)
        return tuple(csys.split((-y)[inv])), tuple(csys.split((-lam)[inv])), tuple(csys.split((-lam * x)[inv]))

    @jax.custom_batching.custom_vmap
    def solve(Ds, xs, gs):
        return transpose(Ds, xs, gs)

    @solve.def_vmap
    def _batched(axis_size, in_batched, Ds, xs, gs):
        # a batch (vmap): the transposed kernel, which solves blocks of systems
        # at once (the sweeps above would walk strided columns). Bench E's cell,
        # vmapped gradient over 4 gnabar values, 20 ms: 0.097 s with the sweeps,
        # 0.081 s with the kernel, 0.087-0.088 s for the checkpointed step
        return _kernel_transpose(csys, axis_size, in_batched, Ds, xs, gs)

    return solve


def _kernel_transpose(csys, axis_size, in_batched, Ds, xs, gs):
    """The batch rule of the transposed solves: the transposed kernel
    (:func:`nmlcell.lower.cable._cable_bwd`) on ``Ds``, ``xs``, ``gs``, the
    unbatched ones broadcast to the batch; all results batched."""
    from .cable import _cable_bwd

    args = _broadcast(axis_size, in_batched, (*Ds, *xs, *gs))
    G = len(Ds)
    out = _cable_bwd(csys, False, (tuple(args[:G]), tuple(args[G:2 * G])), tuple(args[2 * G:]))
    return out, tuple(tuple(True for _ in o) for o in out)


def _make(system, variant, tdef, shapes, key):
    from .cable import cable_solve_groups
    from .cable_step import current_phase, state_phase

    csys = system.cable_plan.system

    vindex = [(gid, system.groups[gid].state_index["v"]) for gid in system.cable_plan.order]

    def vcols(y):
        return [y[gid][k] for gid, k in vindex]

    def phase1(t, y, p, dt):
        return current_phase(system, t, y, dt, p, variant)

    def phase3(t, y, p, dt, v_new, carried):
        return state_phase(system, t, y, dt, p, variant, v_new, carried)

    @jax.custom_vjp
    def step(t, y, p, dt):
        Vs, Is, Ds, carried = phase1(t, y, p, dt)
        v_new = cable_solve_groups(csys, Vs, Is, Ds, add_v=True)
        return phase3(t, y, p, dt, v_new, carried)

    in_recompute = key[-1] == "recompute"
    jfwd = _jax_forward(system.cable_plan) if in_recompute else None
    tdd = _transposed_solve_dd(system.cable_plan) if in_recompute else None
    nn = csys.tree.n

    def fwd(t, y, p, dt):
        Vs, Is, Ds, carried = phase1(t, y, p, dt)
        if jfwd is not None:
            xs, dd = jfwd(Vs, Is, Ds)
            extra = [dd]
        else:
            xs, extra = cable_solve_groups(csys, Vs, Is, Ds), []
        # V + x as the kernel adds it with add_v (one rounding): the same new v
        out = phase3(t, y, p, dt, [v + x for v, x in zip(Vs, xs)], carried)
        packed = jnp.concatenate([jnp.ravel(a) for a in jax.tree.leaves(y)] + list(xs) + extra)
        return out, (t, packed, p, dt)

    def unpack(packed):
        out, k = [], 0
        for sh in shapes:
            n = math.prod(sh)
            out.append(packed[k:k + n].reshape(sh))
            k += n
        xs = []
        for s in csys.sizes:
            xs.append(packed[k:k + s])
            k += s
        return jax.tree.unflatten(tdef, out), xs

    transpose = _transposed_solve(system.cable_plan)

    def bwd(res, ct):
        t, packed, p, dt = res

        def backward(packed, p, ct):
            # recomputes the current phase (in XLA's loop these recomputations
            # cost little once no custom call is in it; see the module's docstring)
            y, xs = unpack(packed)
            Vs, _Is, Ds, carried = phase1(t, y, p, dt)
            # the new v as a constant: its dependence on y and p is the solve's
            v_new = [v + x for v, x in zip(Vs, xs)]
            _, f3 = jax.vjp(lambda vn: phase3(t, y, p, dt, vn, carried), v_new)
            cv = f3(ct)[0]
            if tdd is not None:
                Vbar, Ibar, Dbar = tdd(packed[-nn:], Ds, xs, cv)
            else:
                Vbar, Ibar, Dbar = transpose(Ds, xs, cv)

            def both(y, p):
                Vs, Is, Ds, carried = phase1(t, y, p, dt)
                return phase3(t, y, p, dt, v_new, carried), Vs, Is, Ds

            _, f = jax.vjp(both, y, p)
            return f((ct, [a + b for a, b in zip(cv, Vbar)], list(Ibar), list(Dbar)))

        cy, cp = backward(packed, p, ct)
        return jnp.zeros_like(t), cy, cp, jnp.zeros_like(dt)

    step.defvjp(fwd, bwd)
    return step
