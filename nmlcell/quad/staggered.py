"""``staggered`` (alias ``neuron``): NEURON's fixed-step order of operations
for cells built from NMODL mechanisms (:mod:`nmlcell.lower.staggered`):
currents at t + dt/2, the voltage by backward Euler with NEURON's
finite-difference conductance, then each mechanism's states with the new
voltage by its own METHOD (cnexp, derivimplicit, euler, sparse)."""
from __future__ import annotations

from .registry import register_integrator


def _needs_compartment(system):
    groups = getattr(system, "groups", None)
    # an artificial cell (NetStim) has no continuous dynamics: the step keeps it unchanged
    cells = [g for g in (groups or {}).values() if g.mech.kind != "artificial_cell"]
    if not cells or not all("v" in getattr(g.mech, "methods", {}) for g in cells):
        return ("it applies to cells built from NMODL mechanisms (nmlcell.Cell), whose states have "
                "NEURON integration methods")
    return None


@register_integrator("staggered", aliases=("neuron",), category="cable", order=1,
                     description="NEURON's fixed step: currents at t+dt/2, implicit voltage with "
                                 "NEURON's di/dv, then each mechanism's states by its own METHOD "
                                 "(cnexp, derivimplicit, sparse, euler). Matches NEURON to round-off.",
                     applies=_needs_compartment, suggest="ind_exp_euler")
def staggered(system, t, y, dt, p):
    return system.staggered_step(t, y, dt, p)


staggered.cable = True  # it solves a branched cable's voltage system (nmlcell.lower.cable_step)

from . import cable as _cable  # noqa: E402,F401  (the solvers that advance branched cables)
