"""Exponential integrators: the linear part of f is integrated exactly.

* ``exp_euler`` linearises each instance's whole state together (its
  Jacobian block ``J`` from ``system.jac``) and steps
  ``y + dt phi1(dt J) f(t, y)``, ``phi1(z) = (e^z - 1)/z``: the exponential
  Rosenbrock–Euler method (Hochbruck, Ostermann & Schweitzer, SIAM J. Numer.
  Anal. 47, 2009). Exact for linear constant-coefficient systems, hence
  stable at any dt on them; order 1 in general (order 2 for autonomous f,
  since J is the exact Jacobian — the nonautonomous part keeps it at 1).
* ``ind_exp_euler`` (alias ``cnexp``) linearises each state on its own from
  ``system.diag`` and steps ``y_i + f_i (e^{d_i dt} - 1)/d_i``: exact when
  every ``f_i`` is affine in ``y_i`` with the other states frozen over the
  step, which is what NEURON's ``cnexp`` does for HH gates (and what
  BrainPy calls ``exp_euler``). Order 1.
"""
from __future__ import annotations

import jax

from ._linalg import block_phi1_apply, phi1
from .registry import register_integrator


@register_integrator(
    "exp_euler", aliases=("exponential_euler", "exp_rosenbrock_euler"), category="exponential",
    order=1,
    description="Exponential (Rosenbrock) Euler on each instance's coupled state: "
                "y + dt phi1(dt J) f, J the Jacobian block. Stable for stiff systems.")
def exp_euler(system, t, y, dt, p):
    """Exponential Rosenbrock–Euler with the per-instance Jacobian block.

    ``phi1(dt J) dt f`` is the top-right column of ``expm(dt [[J, f], [0, 0]])``
    (vmapped over instances; a closed form when ``k == 1``), differentiable
    with ``jax.grad``."""
    dy, J = system.jac(t, y, p)
    inc = jax.tree.map(lambda Jl, fl: block_phi1_apply(Jl, fl, dt), J, dy)
    return jax.tree.map(lambda yl, il: yl + il, y, inc)


@register_integrator(
    "ind_exp_euler", aliases=("cnexp", "independent_exp_euler"), category="exponential", order=1,
    description="Exponential Euler per state (NEURON's cnexp): y + f (exp(d dt) - 1)/d with "
                "d = df_i/dy_i. Exact for states affine in themselves (HH gates).")
def ind_exp_euler(system, t, y, dt, p):
    """Each state linearised on its own: ``y_i + dt phi1(d_i dt) f_i``.

    ``dt phi1(d dt) = expm1(d dt)/d``, evaluated with the safe "double where"
    of :func:`nmlcell.quad._linalg.phi1` so that ``d -> 0`` (a state that does
    not depend on itself) gives forward Euler with finite gradients."""
    dy, d = system.diag(t, y, p)
    return jax.tree.map(lambda yl, fl, dl: yl + dt * phi1(dt * dl) * fl, y, dy, d)
