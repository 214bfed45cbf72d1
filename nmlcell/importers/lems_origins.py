"""Where each equation of a flattened LEMS mechanism is written.

:func:`equation_origins` walks the fat component tree the way
:class:`~.lems_flatten.Flattener` names it (``<child id>/`` per level) and,
with a :class:`~.lems_source.TypeIndex`, finds the element that defines
each equation: the ComponentType (core or the user's, the nearest one in
the ``extends`` chain that has it) with its file and line. ``nmlcell info``
prints them. Keys of the returned dict (values: :class:`Source`):

- ``("d/dt", state)``: its TimeDerivative (or the KineticScheme moving it);
- ``("derived", name)``: its DerivedVariable, ConditionalDerivedVariable
  or DerivedParameter;
- ``("on_start", state)``: the OnStart StateAssignment (or the initial
  Regime, or the KineticScheme) that sets it first;
- ``("condition", k)``: the OnCondition of ``mechanism.conditions[k]``.
"""
from __future__ import annotations

from ..ir.mechanism import Source
from .lems_source import TypeIndex


def _regimes(dyn):
    r = getattr(dyn, "regimes", None)
    if r is None:
        return []
    return list(r.values()) if hasattr(r, "values") else list(r)


def _nodes(fc, prefix=""):
    """(prefix, fat component, [(slot name, prefix of child)]) in the flattener's pre-order."""
    kids = [(ch, prefix + ch.id + "/") for ch in fc.child_components]
    kids += [(r.referenced_component, prefix + r.referenced_component.id + "/")
             for r in fc.component_references if r.referenced_component is not None]
    yield prefix, fc, kids
    for ch, p in kids:
        yield from _nodes(ch, p)


def equation_origins(mech, fc, types: TypeIndex) -> dict:
    """The origins of ``mech``'s equations (``mech`` flattened from ``fc``)."""
    out: dict = {}
    conds: list[tuple[str, Source]] = []  # (type, source) in the flattener's order

    def src(tname, tag, name=None, **kw):
        owner, file, line = types.find(tname, tag, name, **kw)
        return Source(file, line, owner)

    def put(key, s):
        out.setdefault(key, s)

    for prefix, node, kids in _nodes(fc):
        t, dyn = node.type, node.dynamics
        for td in dyn.time_derivatives:
            put(("d/dt", prefix + td.variable),
                src(t, "TimeDerivative", td.variable, key="variable", regime=None))
        for dv in dyn.derived_variables:
            put(("derived", prefix + dv.name), src(t, "DerivedVariable", dv.name))
        for dv in dyn.conditional_derived_variables:
            put(("derived", prefix + dv.name), src(t, "ConditionalDerivedVariable", dv.name))
        for dp in node.derived_parameters:
            put(("derived", prefix + dp.name), src(t, "DerivedParameter", dp.name))
        regimes = _regimes(dyn)
        if regimes:
            init = [r for r in regimes if str(getattr(r, "initial", "")).lower() in ("true", "1")]
            init = init or regimes[:1]
            put(("on_start", prefix + "regime"), src(t, "Regime", init[0].name))
        handlers = [(eh, None) for eh in dyn.event_handlers]
        for r in regimes:
            for td in r.time_derivatives:
                put(("d/dt", prefix + td.variable), src(t, "TimeDerivative", td.variable, key="variable",
                                                        regime=r.name))
            handlers += [(eh, r.name) for eh in r.event_handlers]
        counts: dict = {}
        for eh, regime in handlers:
            tag = type(eh).__name__
            k = counts.get((tag, regime), 0)
            counts[(tag, regime)] = k + 1
            at = src(t, tag, None, regime=regime, index=k)
            if tag == "OnCondition":
                conds.append((t, at))
            elif tag == "OnStart":
                for a in eh.actions:
                    if type(a).__name__ == "StateAssignment":
                        put(("on_start", prefix + a.variable),
                            src(t, "StateAssignment", a.variable, key="variable", after=at.line or 0))
        for ks in getattr(dyn, "kinetic_schemes", ()):
            s = src(t, "KineticScheme", ks.name)
            for ch, p in kids:
                if any(sv.name == ks.state_variable for sv in ch.dynamics.state_variables):
                    put(("d/dt", p + ks.state_variable), s)
                    put(("on_start", p + ks.state_variable), s)
    # conditions: the flattener appends them in this order; stop at the first that does not match
    for k, c in enumerate(mech.conditions):
        if k >= len(conds) or (c.source.origin and c.source.origin != conds[k][0]):
            break
        out[("condition", k)] = conds[k][1]
    return out
