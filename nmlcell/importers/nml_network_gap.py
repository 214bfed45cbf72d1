"""Gap junctions and graded synapses between multi-compartment NeuroML
cells, as jNeuroML's NEURON export builds them (:func:`nml_cell_network.build_network`
calls :func:`add_coupling` for each ``electricalProjection`` and
``continuousProjection`` and :func:`couple` on the finished network).

- Each connection (``electricalConnection``, ``electricalConnectionInstance``,
  ``electricalConnectionInstanceW``; ``continuousConnection``,
  ``continuousConnectionInstance``, ``continuousConnectionInstanceW``) puts
  one point process on the pre cell at ``preSegment``/``preFractionAlong``
  and one on the post cell at ``postSegment``/``postFractionAlong`` (a gap
  junction: the projection's ``synapse`` on both sides; a continuous
  connection: ``preComponent`` on the pre side, ``postComponent`` on the
  post side), each reading the other side's ``v`` through a NEURON
  ``POINTER vpeer`` (``setpointer``). The ``...W`` forms set ``weight`` on
  both.
- Here ``vpeer`` is an input of the compartment's group, fed by a
  :class:`~nmlcell.ir.model.Link` from the peer compartment's ``v`` (the
  cells are one Hines tree, the link is outside the tree matrix). The cable
  step (:mod:`nmlcell.lower.cable_step`) reads it as NEURON reads the
  pointer: in the current phase the peer's ``v`` of the step's start, in
  the state phase the solved one; the own ``v`` is implicit (``di/dv`` of
  the BREAKPOINT, as NEURON's two evaluations at ``v`` and ``v + 0.001``
  give it).
- ``gapJunction`` and ``linearGradedSynapse``: the export's BREAKPOINT
  ``i = -weight conductance (vpeer - v)``.
- ``gradedSynapse``: the export's state phase (its DERIVATIVE calls the
  PROCEDURE that sets ``i = -weight conductance s (erev - v)`` and the rate
  of ``s`` from ``inf = 1 / (1 + exp((Vth - vpeer) / delta))``,
  ``tau = (1 - inf) / k``, 0 where ``1 - inf <= 1e-4``; ``s`` stepped
  forward Euler) written as one SOLVEd PROCEDURE: its BREAKPOINT has only
  the SOLVE, so the current is the one computed in the state phase of the
  step before (with the new ``v`` and ``s`` before its update), without
  ``di/dv``: the same stale pattern as the synapses of :mod:`.nml_network`.
  The export's BREAKPOINT sets ``s = inf`` where ``1 - inf < 1e-4`` (a peer
  ``v`` above ``Vth + 9.2 delta``), in the next step's current phase from
  the ``inf`` of this state phase, before anything reads ``s``: here the
  same update sets it at the end of the state phase (and INITIAL from the
  initial ``inf``), so a recorded ``s`` shows the jump one step earlier.
- ``silentSynapse``: its current is 0; nothing is placed.
- Another component type (a user-defined ComponentType) is composed from
  its LEMS Dynamics as the export writes it (:mod:`.nml_network_lems`,
  ``continuous``): with states, the stale state-phase pattern of
  ``gradedSynapse``; without, the BREAKPOINT current of ``gapJunction``;
  ``peer/v`` is ``vpeer``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import ModelImportError
from ..ir.units import Dim
from .nml_network import _CELL, _MOD, synapse_mechanism

_MOD["NmlGapJunction"] = """
NEURON {
    POINT_PROCESS NmlGapJunction
    RANGE weight, conductance, vpeer, i
    NONSPECIFIC_CURRENT i
}
PARAMETER {
    weight = 1
    conductance = 0.001 (uS)
    vpeer = 0 (mV)
}
ASSIGNED { v (mV) i (nA) }
BREAKPOINT {
    i = -1 * weight * conductance * (vpeer - v)
}
"""
_MOD["NmlGradedSynapse"] = """
NEURON {
    POINT_PROCESS NmlGradedSynapse
    RANGE weight, conductance, delta, k, Vth, erev, vpeer, i, isav
    NONSPECIFIC_CURRENT i
}
PARAMETER {
    weight = 1
    conductance = 0.001 (uS)
    delta = 5 (mV)
    k = 0.025 (/ms)
    Vth = -40 (mV)
    erev = -80 (mV)
    vpeer = 0 (mV)
}
ASSIGNED { v (mV) i (nA) isav (nA) }
STATE { s }
INITIAL {
    LOCAL inf
    inf = 1 / (1 + exp((Vth - vpeer) / delta))
    s = 0
    if (1 - inf < 1e-4) {
        s = inf
    }
    isav = 0
}
BREAKPOINT {
    SOLVE advance
    i = isav
}
PROCEDURE advance() {
    LOCAL inf, rate
    inf = 1 / (1 + exp((Vth - vpeer) / delta))
    if (1 - inf > 1e-4) {
        rate = (inf - s) * k / (1 - inf)
    } else {
        rate = 0
    }
    isav = -1 * weight * conductance * s * (erev - v)
    if (1 - inf < 1e-4) {
        s = inf
    } else {
        s = s + dt * rate
    }
}
"""
_KINDS = {"gapJunction": ("NmlGapJunction", ("conductance",)),
          "linearGradedSynapse": ("NmlGapJunction", ("conductance",)),
          "gradedSynapse": ("NmlGradedSynapse", ("conductance", "delta", "k", "Vth", "erev")),
          "silentSynapse": (None, ())}
_DIMS = {"conductance": ("conductance", 1e6), "delta": ("voltage", 1e3), "Vth": ("voltage", 1e3),
         "erev": ("voltage", 1e3), "k": ("per_time", 1e-3)}
_V = Dim(m=1, l=2, t=-3, i=-1)
PROJECTIONS = ("electricalProjection", "continuousProjection")


@dataclass
class Coupling:
    """One side of a gap junction or continuous connection: the point
    process ``label`` at ``at`` on cell ``post`` (population, instance)
    reads ``v`` at ``peer_at`` of cell ``peer``."""
    post: tuple[str, int]
    label: str
    at: str
    peer: tuple[str, int]
    peer_at: str


def _component(rd, model, comp_id, pid, element, unsupported, what):
    """(point process Mechanism or None for silentSynapse, parameters) of
    ``comp_id``: the export's mod files above for the core types, another
    type composed from its LEMS Dynamics (:func:`.nml_network_lems.lems_synapse`);
    None (the reason in ``unsupported``) when it cannot be."""
    if comp_id not in model.components:
        raise rd.err(f"{element.split('Connection')[0]}Projection '{pid}': component '{comp_id}' is not "
                     f"defined", pid, element)
    c = model.components[comp_id]
    if c.type not in _KINDS:
        from .nml_network_lems import lems_synapse

        return lems_synapse(rd, model, comp_id, unsupported, what, continuous=True)
    name, needs = _KINDS[c.type]
    # the export writes these as the component's mod PARAMETER defaults (gj.mod's
    # ``conductance = 0.005123457 (uS)``, a Java float), which nocmodl holds to 6
    # digits (0.00512346); a W connection's weight is a hoc assignment, in full
    from .nml_mechanisms import nocmodl_default

    params = {}
    for k in needs:
        if k not in c.parameters:
            raise rd.err(f"{c.type} '{comp_id}' has no {k}", comp_id, c.type)
        dim, f = _DIMS[k]
        params[k] = nocmodl_default(rd.quantity(c.parameters[k], dim, comp_id, k) * f)
    return (synapse_mechanism(name) if name else None), params


def _cell(rd, text, pid, default_pop, pops, what, element):
    t = str(text if text is not None else "").strip()
    if t.isdigit():
        pop, i = default_pop, int(t)
    else:
        m = next((rx.match(t) for rx in _CELL if rx.match(t)), None)
        if m is None:
            raise rd.err(f"{element} of '{pid}': {what} '{t}' is not an index, '../population/index/cell' "
                         f"or '../population[index]'", pid, element)
        pop, i = m.group("pop"), int(m.group("i"))
    if pop != default_pop or pop not in pops or i >= len(pops[pop][1]):
        raise rd.err(f"{element} of '{pid}': {what} '{t}' names no cell of population '{default_pop}'", pid,
                     element)
    return pop, i


def add_coupling(rd, model, pops: dict, ch, unsupported: list, conns: list) -> None:
    """The point processes of ``electricalProjection``/``continuousProjection``
    ``ch`` on the cells of ``pops`` (population -> (NmlCell, [Cell])); a
    :class:`Coupling` per side appended to ``conns``."""
    from ..cell import PointProcess

    pid, P = ch.id, ch.parameters
    pre_pop, post_pop = P.get("presynapticPopulation"), P.get("postsynapticPopulation")
    for what, pop in (("presynapticPopulation", pre_pop), ("postsynapticPopulation", post_pop)):
        if pop not in pops:
            unsupported.append(f"{ch.type} '{pid}': {what} '{pop}' is not a population of multi-compartment "
                               f"cells")
            return
    for cc in ch.children:
        if not cc.type.startswith(("electricalConnection", "continuousConnection")):
            continue
        Q = cc.parameters
        el = cc.type
        if "synapse" in Q:
            comps = (Q["synapse"], Q["synapse"])
        else:
            comps = (Q.get("preComponent"), Q.get("postComponent"))
        pre = _cell(rd, Q.get("preCell"), pid, pre_pop, pops, "preCell", el)
        post = _cell(rd, Q.get("postCell"), pid, post_pop, pops, "postCell", el)
        try:
            weight = float(Q.get("weight", 1.0)) if el.endswith("W") else 1.0
        except ValueError:
            raise rd.err(f"{el} '{cc.id}' of '{pid}': weight '{Q.get('weight')}' is not a number", pid,
                         el) from None
        places = []
        for key, side in ((pre, "pre"), (post, "post")):
            nc = pops[key[0]][0]
            seg = int(float(Q.get(f"{side}Segment", 0)))
            frac = float(Q.get(f"{side}FractionAlong", 0.5))
            if seg not in nc.seg_at or not 0.0 <= frac <= 1.0:
                raise rd.err(f"{el} '{cc.id}' of '{pid}': {side}Segment {seg}, {side}FractionAlong {frac:g} is "
                             f"not on cell '{nc.id}'", pid, el)
            at = nc.location(seg, frac)
            places.append((key, at))  # a zero-area end node too, a leaf's tip included (no membrane)
        for (key, at), (peer, peer_at), comp in zip(places, places[::-1], comps):
            kind = _component(rd, model, comp, pid, el, unsupported, f"{ch.type} '{pid}'")
            if kind is None:
                return
            mech, params = kind
            if mech is None:  # silentSynapse: no current
                continue
            names = {p.name for p in mech.parameters}
            if "weight" in names:
                params = {**params, "weight": weight}
            elif weight != 1.0:
                raise rd.err(f"{el} '{cc.id}' of '{pid}': '{comp}' has no weight to set", pid, el)
            cell = pops[key[0]][1][key[1]]
            label = cell.add(PointProcess(mech, **params), at=at)
            if "vpeer" in names:
                conns.append(Coupling(key, label, at, peer, peer_at))


def _node(where, key, at):
    _nc, disc, index, _s = where[key]
    return index[disc.locate(at)]


def couple(network, conns: list, where: dict):
    """``network`` with each :class:`Coupling`'s ``<label>.vpeer`` made an
    input of its group (no longer a parameter), fed by a "sum" link (one
    peer per instance) from the peer compartment's ``v``."""
    from ..ir.mechanism import Input
    from ..ir.model import Link

    links: dict[tuple, list] = {}
    for c in conns:
        if not isinstance(c, Coupling):
            continue
        gd, i_d = _node(where, c.post, c.at)
        gs, i_s = _node(where, c.peer, c.peer_at)
        links.setdefault((gs, gd, f"{c.label}.vpeer"), []).append((i_s, i_d))
    if not links:
        return network
    wanted: dict[str, set] = {}
    for _gs, gd, name in links:
        wanted.setdefault(gd, set()).add(name)
    groups = []
    for g in network.groups:
        names = wanted.get(g.id)
        if names:
            m = g.mechanism
            missing = names - {p.name for p in m.parameters}
            if missing:
                raise ModelImportError(f"group {g.id} has no parameter {', '.join(sorted(missing))}")
            m = replace(m, parameters=tuple(p for p in m.parameters if p.name not in names),
                        inputs=m.inputs + tuple(Input(n, _V, "requirement") for n in sorted(names)),
                        exposures={k: v for k, v in m.exposures.items() if k not in names})
            g = replace(g, mechanism=m, overrides={k: v for k, v in g.overrides.items() if k not in names})
        groups.append(g)
    new = tuple(Link("sum", gs, "v", gd, name, tuple(p)) for (gs, gd, name), p in links.items())
    return replace(network, groups=tuple(groups), links=network.links + new)

