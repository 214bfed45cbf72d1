"""The registered solvers that also advance a branched cable.

On a cell with a morphology (a system with a ``cable``), the membrane
potential is one tree-structured linear system per step, solved exactly by
the Hines solve (:mod:`nmlcell.lower.cable_step`); what differs between the
solvers is the voltage scheme and how the mechanisms' states advance:

=================  ==========================================================
``staggered``      NEURON's fixed step (``secondorder = 0``): v by backward
                   Euler, states by each mechanism's own METHOD.
``crank_nicolson`` NEURON's ``secondorder = 2``: matrix with ``2 cm/dt``,
                   ``v += 2 dv``, ion currents corrected to the half step by
                   their ``di/dv``; states by their own METHOD with the new v,
                   staggered half a step from v. Order 2 in v.
``backward_euler`` v as ``staggered``; every state by backward Euler (a
                   mechanism's states together; Newton where nonlinear), as
                   NEURON's ``METHOD derivimplicit`` would. Order 1.
``exp_euler``      v as ``staggered``; states by exponential Euler: per state
                   (cnexp's formula), coupled mechanisms (kinetic schemes,
                   derivimplicit) by exponential Rosenbrock-Euler on their
                   Jacobian block.
``ind_exp_euler``  v as ``staggered``; every state by cnexp's formula.
=================  ==========================================================

Explicit methods are refused on a cable with the dt their stability would
need (:func:`nmlcell.quad.registry.cable_refusal`).
"""
from __future__ import annotations

from .registry import register_cable_step
from .staggered import _needs_compartment


def _variant(variant, second_order=False):
    def step(system, t, y, dt, p):
        from ..lower.cable_step import cable_step

        return cable_step(system, t, y, dt, p, variant=variant, second_order=second_order)

    step.__name__ = f"cable_{variant}"
    return step


def _cn_applies(system):
    from ..importers.nmodl_selfev import cn_cable_refusal

    return _needs_compartment(system) or cn_cable_refusal(system)


def _staggered(system, t, y, dt, p):
    return system.staggered_step(t, y, dt, p)


register_cable_step("staggered", _staggered, _needs_compartment)
register_cable_step("crank_nicolson", _variant("cn", second_order=True), _cn_applies)
register_cable_step("backward_euler", _variant("implicit"), _needs_compartment)
register_cable_step("exp_euler", _variant("exponential"), _needs_compartment)
register_cable_step("ind_exp_euler", _variant("independent"), _needs_compartment)
