"""The parameter values of one compartment's inserts, as NEURON's hoc sets
them: the parameter that holds a value a block reassigns (Exp2Syn's tau1 ->
tau10), values given in the unit the file declares, the per-compartment
values :func:`param_values` gives without composing, and NET_RECEIVE's
handler once per NetCon with its weight-vector parameters. Used by
:mod:`nmlcell.passes.compartment` (which re-exports these names)."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

import sympy as sp

from ..errors import ModelImportError
from ..ir.expr import sym
from ..ir.mechanism import Assignment, OnEvent, Parameter
from .neuron_order import neuron_order

if TYPE_CHECKING:
    from .compartment import Geometry, Inserted


def held_parameters(m) -> dict[str, str]:
    """NEURON's name -> the parameter holding its set value, for each
    PARAMETER of ``m`` that a block reassigns (Exp2Syn's tau1 -> tau10,
    izhi2007b's b -> b0): the importer describes that parameter as "the
    value of PARAMETER <name> ..."."""
    lead = "the value of PARAMETER "
    return {p.description[len(lead):].split()[0]: p.name for p in m.parameters if p.description.startswith(lead)}


def _held(it: Inserted) -> Inserted:
    """``it`` with a PARAMETER that INITIAL reassigns (Exp2Syn's tau1) set
    through the parameter holding its set value; a name the mechanism
    lacks is an error (for :func:`param_values` as for :func:`compose`)."""
    m = it.mech
    held = held_parameters(m)
    if any(k in held for k in it.params):
        it = replace(it, params={held.get(k, k): v for k, v in it.params.items()})
    unknown = set(it.params) - {p.name for p in m.parameters}
    if unknown:
        raise ModelImportError(f"{m.name} has no parameter {', '.join(sorted(unknown))} "
                               f"(it has {', '.join(p.name for p in m.parameters)})", element=m.name)
    return it


def _weight_args(h: OnEvent) -> list[int]:
    """The NET_RECEIVE arguments (weight vector entries) handler ``h`` reads."""
    return sorted({int(x.name[3:]) for a in h.assignments for x in a.expr.free_symbols if x.name.startswith("__w")})


def param_values(geometry: Geometry, inserted: list[Inserted], v_init: float) -> dict[str, float]:
    """The values :func:`compose` gives the parameters that depend on the
    compartment rather than on its structure: the geometry, ``v_init``, the
    inserts' parameters and the NetCon weights (the others, ion defaults
    and inputs, follow from the structure). Cheap: no expression is
    touched, so compartments of one structure are composed once
    (:mod:`nmlcell.passes.share_groups`)."""
    geo = geometry
    out = {"v_init": float(v_init), "cm": float(geo.cm), "L": float(geo.L), "diam": float(geo.diam),
           "area": float(geo.area), "Ra": float(geo.Ra)}
    for it in sorted(inserted, key=neuron_order):
        it = _held(it)
        m = it.mech
        local = (lambda x: f"{it.label}.{x}") if it.point else (lambda x: f"{x}_{it.label}")
        for p in m.parameters:
            v = _declared_unit_value(p, it.params[p.name]) if p.name in it.params else p.value
            out.setdefault(local(p.name), float(v))
        for h in m.on_events:
            args = _weight_args(h)
            for k, w in enumerate(it.netcons):
                for j in args:
                    out.setdefault(f"{it.label}#{k}.w{j}", float(w[j]) if j < len(w) else 0.0)
    return out


def netcon_handlers(h: OnEvent, port: str, weights, declare) -> list[OnEvent]:
    """NET_RECEIVE's handler ``h`` once per NetCon (port ``<port>#k``), its
    weight symbols ``__w<j>`` replaced by parameters ``<port>#k.w<j>``
    (per instance, differentiable), each declared by ``declare(name,
    value, k, j)`` with the NetCon's value (0 past the end of its vector,
    as NEURON's weight vector)."""
    args = _weight_args(h)
    out = []
    for k, w in enumerate(weights):
        subs = {}
        for j in args:
            name = f"{port}#{k}.w{j}"
            declare(name, float(w[j]) if j < len(w) else 0.0, k, j)
            subs[sp.Symbol(f"__w{j}", real=True)] = sym(name)
            subs[sp.Symbol(f"__w{j}")] = sym(name)
        out.append(OnEvent(f"{port}#{k}", tuple(Assignment(a.variable, a.expr.xreplace(subs)) for a in h.assignments),
                           h.events, h.source))
    return out


_DECLARED = re.compile(r"declared \S+ \((.+)\)$")


def _declared_unit_value(p: Parameter, value) -> float:
    """A value the user gives in the unit the file declares (NEURON's:
    ``gbar_ca = 10`` is 10 pS/um2 when the file says ``(pS/um2)``), in the
    unit the importer converted the parameter to (S/cm2)."""
    got = _DECLARED.search(p.description or "")
    if got is None:
        return float(value)
    from ..importers.nmodl_units import to_customary

    return float(value) * to_customary(got.group(1))[0]
