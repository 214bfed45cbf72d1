"""Implicit methods, solved with the per-instance Jacobian blocks.

Every linear solve is a batch of small ``k x k`` solves, one per instance
(``_linalg.tree_newton_solve``); coupling between instances and groups is
held fixed over a step, as ``system.jac`` documents.

* ``backward_euler``: linearly implicit (Rosenbrock–) Euler, one Newton step
  of the backward Euler equation from ``y``:
  ``y + dt (I - dt J)^{-1} f``. This is what NEURON's fixed step does for
  the membrane potential (currents linearised in v with di/dv, one tridiagonal
  solve, no iteration); like NEURON it evaluates ``f`` and ``J`` at the
  half step ``t + dt/2``, so that time-dependent inputs (IClamp onsets) land
  on the same step as in NEURON.
* ``implicit_euler``: backward Euler ``Y = y + dt f(t + dt, Y)`` solved by
  a fixed number of full Newton iterations (Jacobian re-evaluated each
  time), so that reverse-mode ``grad`` differentiates through the solve.
* ``crank_nicolson`` (alias ``trapezoidal``): the trapezoidal rule
  ``Y = y + dt/2 (f(t, y) + f(t + dt, Y))``, same Newton iterations; A-stable,
  order 2 (not L-stable: very stiff components ring with factor -1).

The Newton iterations start from ``y``, so the first iterate of
``implicit_euler`` is the linearly implicit step (stable for stiff systems);
convergence is quadratic, and ``NEWTON_ITERATIONS = 6`` is plenty for dts at
which the result is accurate at all.
"""
from __future__ import annotations

from jax import lax

from ._linalg import tree_lincomb, tree_newton_solve, tree_sub
from .registry import register_integrator

NEWTON_ITERATIONS = 6


@register_integrator(
    "backward_euler", aliases=("linearly_implicit_euler",),
    category="implicit", order=1,
    description="Linearly implicit Euler: y + dt (I - dt J)^{-1} f, one Newton step "
                "(NEURON's fixed step for v). Stable for stiff systems.")
def backward_euler(system, t, y, dt, p):
    """One Newton step of backward Euler from ``y`` with the block Jacobian
    ``J`` evaluated, with ``f``, at ``t + dt/2`` (NEURON's ``fadvance`` time)."""
    dy, J = system.jac(t + 0.5 * dt, y, p)
    return tree_lincomb(y, [(dt, tree_newton_solve(J, dy, dt))])


def _newton(system, t1, rhs0, y, h, p, iters):
    """Solve ``Y - rhs0 - h f(t1, Y) = 0`` for ``Y`` by Newton from ``y``.

    The loop has a fixed trip count (``lax.fori_loop`` with static bounds is a
    ``scan``), so reverse-mode differentiation goes through it."""

    def body(_, Y):
        fY, J = system.jac(t1, Y, p)
        r = tree_sub(Y, tree_lincomb(rhs0, [(h, fY)]))
        return tree_sub(Y, tree_newton_solve(J, r, h))

    return lax.fori_loop(0, iters, body, y)


@register_integrator(
    "implicit_euler", aliases=("fully_implicit_euler", "newton_euler"), category="implicit",
    order=1,
    description=f"Backward Euler, {NEWTON_ITERATIONS} Newton iterations with the block "
                "Jacobian re-evaluated each time. L-stable.")
def implicit_euler(system, t, y, dt, p):
    """Backward Euler ``Y = y + dt f(t + dt, Y)``, Newton-iterated."""
    return _newton(system, t + dt, y, y, dt, p, NEWTON_ITERATIONS)


@register_integrator(
    "crank_nicolson", aliases=("trapezoidal", "cn"), category="implicit", order=2,
    description=f"Crank–Nicolson / implicit trapezoidal rule, {NEWTON_ITERATIONS} Newton "
                "iterations. A-stable, second order.")
def crank_nicolson(system, t, y, dt, p):
    """Trapezoidal rule ``Y = y + dt/2 (f(t, y) + f(t + dt, Y))``, Newton-iterated."""
    f0 = system.f(t, y, p)
    rhs0 = tree_lincomb(y, [(0.5 * dt, f0)])
    return _newton(system, t + dt, rhs0, y, 0.5 * dt, p, NEWTON_ITERATIONS)


__all__ = ["backward_euler", "implicit_euler", "crank_nicolson", "NEWTON_ITERATIONS"]
