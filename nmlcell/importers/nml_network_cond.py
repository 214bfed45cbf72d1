"""OnConditions of a synapse (or a continuous connection's component) on
multi-compartment NeuroML cells, written as jNeuroML's NEURON export
writes them (:func:`.nml_network_lems.lems_synapse` calls
:func:`condition_mod` for a component whose Dynamics has OnConditions).

The export (v1.11.0) writes each OnCondition as an ``if (test) {
assignments }`` in the mod file's BREAKPOINT, after the SOLVE, in the
order of the Dynamics. NEURON runs that code in its current phase
(``nrn_cur``), where ``t`` is the step's start plus ``dt/2``, ``v`` (and a
POINTER ``vpeer``) the values at the step's start, after the step's
events were delivered (NET_RECEIVE), and twice: at ``v + 0.001`` then at
``v`` (the ``di/dv`` evaluation), so an assignment that keeps its test true
is applied twice.

- With time derivatives (a synapse: the export's rates and current in the
  state phase, from the states before their update, stepped forward
  Euler): here one SOLVEd PROCEDURE ``advance`` does, in order, the
  BREAKPOINT's tests of this step's current phase (``t - dt/2``, ``vold``
  and ``vold + 0.001``, ``vpeerold``: the values saved at the end of the
  previous state phase, which are the step's start values), then the
  export's state phase (current, recorded values, ``X += dt rate_X``),
  then saves ``vold = v``. Nothing reads the states between the two
  phases (the current is the stale one), so the result is the export's.
- Without time derivatives (a continuous component such as a
  ``pulseGenerator``; no events): the export's BREAKPOINT sets the states
  by the tests and the current from them in the current phase. Here the
  state phase runs the next step's tests (``t + dt/2``, the new ``v`` and
  ``vpeer``: what the next current phase sees) and BREAKPOINT computes the
  current from the states (``di/dv`` from ``v``); INITIAL runs them for
  the first step (a recorded state at t = 0 shows that step's value).
"""
from __future__ import annotations

import sympy as sp

_V, _T, _DT, _VP = sp.Symbol("v"), sp.Symbol("t"), sp.Symbol("dt"), sp.Symbol("vpeer")


def _tests(pr, conds, sub, assign, indent="    "):
    """The BREAKPOINT's ifs with ``sub`` applied (one evaluation)."""
    out = []
    for test, assigns in conds:
        out.append(f"{indent}if ({pr.doprint(test.xreplace(sub))}) {{")
        out += [x for n, e in assigns for x in assign(n, e.xreplace(sub), indent + "    ")]
        out.append(f"{indent}}}")
    return out


def _both(pr, conds, v, t, vpeer, assign):
    """NEURON's two evaluations of the BREAKPOINT: at ``v + 0.001``, then ``v``."""
    return (_tests(pr, conds, {_V: v + sp.Float(0.001), _T: t, _VP: vpeer}, assign)
            + _tests(pr, conds, {_V: v, _T: t, _VP: vpeer}, assign))


def condition_mod(pr, derivs, init, rates, body, conds, continuous, has_rates, assign, ev_states=()) -> list[str]:
    """The lines of the point process from its STATE block on (see the
    module's docstring; :func:`.nml_network_lems._compose` writes the
    NEURON, PARAMETER, ASSIGNED and NET_RECEIVE blocks): ``init`` the
    INITIAL's statements, ``assign(var, expr, indent)`` the statements
    setting a variable."""
    reads_vpeer = continuous and any(_VP in e.free_symbols for c, a in conds for e in [c, *[x for _n, x in a]])
    state_names = [n for n, _ in derivs] + list(ev_states)
    if has_rates:
        extra = ["vold"] + (["vpeerold"] if reads_vpeer else [])
        vold, vpo = sp.Symbol("vold"), sp.Symbol("vpeerold")
        return [
            "STATE { " + " ".join(state_names + extra) + " }",
            "INITIAL {", *init, *body["cur"], "    vold = v", *(["    vpeerold = vpeer"] if reads_vpeer else []),
            "}",
            "BREAKPOINT {", "    SOLVE advance", "    i = isav", "}",
            "PROCEDURE advance() {",
            *_both(pr, conds, vold, _T - _DT / 2, vpo, assign),
            *body["rates"], *body["cur"],
            *(f"    {n} = {n} + dt * {r}" for n, r, _e in rates),
            "    vold = v", *(["    vpeerold = vpeer"] if reads_vpeer else []), "}"]
    return [
        "STATE { " + " ".join(state_names) + " }",
        "INITIAL {", *init, *_both(pr, conds, _V, _T + _DT / 2, _VP, assign), "}",
        "BREAKPOINT {", "    SOLVE advance", *body["bp"], "}",
        "PROCEDURE advance() {", *_both(pr, conds, _V, _T + _DT / 2, _VP, assign), "}"]
