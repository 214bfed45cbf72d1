"""The step protocol: what a solver step receives and returns.

A solver is a pure function::

    step(system, t, y, dt, p) -> y_new

* ``system`` is a lowered system (any object with the methods of
  :class:`System` below). It is static: jit traces through it.
* ``y`` is the state, a pytree whose leaves are arrays of shape ``(N, k)``:
  ``N`` independent instances (cells, channels, batch members) of a group
  with ``k`` state variables each. A plain ODE from :func:`nmlcell.odeint`
  is one leaf of shape ``(1, k)``.
* ``t`` (ms) and ``dt`` (ms) are scalars; ``p`` is the parameter pytree
  (whatever ``system`` needs; the solver passes it through untouched).

The system offers three views of the right-hand side, all pure:

* ``system.f(t, y, p) -> dy`` — the derivative, same structure as ``y``.
* ``system.diag(t, y, p) -> (dy, d)`` — the derivative and each state's own
  linearisation coefficient ``d_i = ∂f_i/∂y_i`` (so that, locally,
  ``dy_i/dt ≈ a_i + d_i y_i``; NEURON's ``cnexp`` for gates).
* ``system.jac(t, y, p) -> (dy, J)`` — the derivative and, for each leaf of
  shape ``(N, k)``, the Jacobian block of shape ``(N, k, k)`` of that
  instance's states with respect to its own states (coupling between
  instances and groups, e.g. a stimulus feeding a cell, is held fixed over
  a step, as NEURON holds it).

and two facts a solver may use to refuse a system:

* ``system.stiffness_dt`` — a float or None: the largest dt at which an
  explicit method is expected to stay stable, if the lowering knows it.
* ``system.linear_in_own_state`` — True when every ``f_i`` is affine in
  ``y_i`` (true of HH gates); ``ind_exp_euler`` is exact per state then.

A step never mutates anything and never branches in Python on values, so
``jit``, ``vmap``, ``grad`` and ``lax.scan`` apply.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

PyTree = Any


@runtime_checkable
class System(Protocol):
    stiffness_dt: float | None
    linear_in_own_state: bool

    def f(self, t, y: PyTree, p: PyTree) -> PyTree: ...

    def diag(self, t, y: PyTree, p: PyTree) -> tuple[PyTree, PyTree]: ...

    def jac(self, t, y: PyTree, p: PyTree) -> tuple[PyTree, PyTree]: ...


class FunctionSystem:
    """A System built from a plain function ``f(t, y, p) -> dy`` over one
    state leaf of shape ``(N, k)`` (or a pytree of such leaves). Jacobian
    blocks and diagonals come from forward-mode autodiff, per instance."""

    def __init__(self, fn, stiffness_dt: float | None = None, linear_in_own_state: bool = False):
        self._fn = fn
        self.stiffness_dt = stiffness_dt
        self.linear_in_own_state = linear_in_own_state

    def f(self, t, y, p):
        return self._fn(t, y, p)

    def jac(self, t, y, p):
        return jac_blocks(self._fn, t, y, p)

    def diag(self, t, y, p):
        dy, J = self.jac(t, y, p)
        return dy, jax.tree.map(lambda b: jnp.diagonal(b, axis1=-2, axis2=-1), J)


def jac_blocks(fn, t, y, p):
    """Per-instance Jacobian blocks of ``fn`` (generic fallback: forward-mode
    columns, one per state index k, each a full evaluation over all N
    instances — cost k evaluations)."""
    dy, lin = jax.linearize(lambda yy: fn(t, yy, p), y)
    leaves, treedef = jax.tree.flatten(y)
    blocks = []
    for li, leaf in enumerate(leaves):
        n, k = leaf.shape
        cols = []
        for j in range(k):
            tang = [jnp.zeros_like(l) for l in leaves]
            tang[li] = tang[li].at[:, j].set(1.0)
            out = lin(jax.tree.unflatten(treedef, tang))
            cols.append(jax.tree.leaves(out)[li])  # (N, k): d f_i / d y_j
        blocks.append(jnp.stack(cols, axis=-1))  # (N, k_i, k_j)
    return dy, jax.tree.unflatten(treedef, blocks)
