"""Spike sources and synaptic inputs of multi-compartment NeuroML networks,
as jNeuroML's NEURON export builds them (:func:`nml_cell_network.build_network`
calls these; the synapses and NetCons are :mod:`.nml_network`'s).

- A population of a spike source (a ComponentType extending
  ``baseSpikeSource``: ``spikeGenerator``, ``spikeGeneratorRandom``,
  ``spikeGeneratorPoisson``, ``spikeGeneratorRefPoisson`` or the user's
  own) is its LEMS Dynamics flattened by the same path as the point-cell
  networks' (:class:`~.lems_flatten.Flattener`, ``random()`` drawn from
  the run's seeded JAX key): an artificial-cell group beside the cable
  whose OnCondition emits the spike. The export's mod file WATCHes the same
  condition and sends ``net_event(t)``: a spike at the end of the first
  step where the condition holds. ``spikeArray``: :func:`nml_network.spike_array`.
- ``poissonFiringSynapse`` and ``transientPoissonFiringSynapse`` in an
  ``inputList``: the export's point process holds the synapse and the
  Poisson timer in one mod file; its WATCH increments the synapse's states
  at once. Here the timer is the component's LEMS Dynamics flattened (an
  artificial cell, one instance per input) and the synapse is the
  export-style point process of :mod:`.nml_network` at the input's
  ``segmentId``/``fractionAlong``, receiving the timer's spikes with no
  delay (the increment lands on the same step). ``inputW``'s ``weight``
  scales the export's current ``i = weight * iSyn``; the synapses here are
  linear in their increments, so it is the NetCon's weight.
- ``timedSynapticInput``: the export makes one ``NetStim`` (``number=1``,
  ``start`` = the spike time) per spike and a NetCon from each into the
  synapse on the input's segment. A NetStim fires at the step whose start is
  within dt/2 of its time (NEURON delivers the events up to ``t + dt/2``),
  one step before a spikeArray's ``WATCH (t > time)``: here an artificial
  cell emitting at the end of the first step whose end is past
  ``time - dt/2`` (a time on a half-step point moved to the side NEURON's
  running ``t`` takes: :func:`.nrn_clock.netstim_thresholds`).
  The spikes due on one step leave together, their number in ``spike_n``
  (a counted source, :mod:`nmlcell.lower.events`: an additive synapse
  takes k events as ``x + k*w``); into a synapse that is not additive
  that is refused at load (:func:`_check_counted`).
"""
from __future__ import annotations

import re
from dataclasses import replace

from .lems_flatten import extends
from .nml_network import Connection, place_synapse, spike_array, synapse_of

SYNAPTIC_INPUTS = ("poissonFiringSynapse", "transientPoissonFiringSynapse", "timedSynapticInput")
_TARGET = (re.compile(r"^\.\./(\w+)/(\d+)/\w+$"), re.compile(r"^(?:\.\./)?(\w+)\[(\d+)\]$"))


def lems_mechanism(rd, model, flat, cid: str, kind: str, unsupported: list):
    """Component ``cid`` flattened from its LEMS ComponentType, as the
    point-cell networks of :mod:`.lems` flatten theirs (cached on ``rd``)."""
    from .lems_origins import equation_origins
    from .lems_si import apply_si_semantics

    cache = rd.__dict__.setdefault("_nml_network_mechs", {})
    if cid not in cache:
        fc = model.fatten_component(model.components[cid])
        rd.checker.check_component(fc)
        m, _notes = apply_si_semantics(flat.flatten(fc, name=cid, kind=kind))
        if getattr(rd, "origins", None) is not None:
            rd.origins[cid] = equation_origins(m, fc, rd.checker.types)
        unsupported.extend(m.unsupported)
        moving = _timed_by_states(m)
        if moving:
            f, line = rd.index.locate(cid)
            unsupported.append(f"{c_type(model, cid)} '{cid}' ({f}:{line}): its spike condition reads "
                               f"{', '.join(moving)}, which change continuously (a spike source on a "
                               f"multi-compartment network may test t and states set by its events)")
        # no continuous dynamics kept: its conditions read t and what its events set
        cache[cid] = replace(m, kind="artificial_cell")
    return cache[cid]


def c_type(model, cid):
    return model.components[cid].type


def _timed_by_states(m) -> list[str]:
    """The states with a non-zero derivative that the spike conditions of
    ``m`` read (through derived values and the assignments to what they
    read): an artificial cell keeps them constant."""
    import sympy as sp

    derived = {d.name: d.expr for d in m.derived}
    assigns: dict[str, list] = {}
    for c in m.conditions:
        for a in c.assignments:
            assigns.setdefault(a.variable, []).append(a.expr)
    todo = [c.test for c in m.conditions if c.events]
    seen: set[str] = set()
    while todo:
        for s_ in todo.pop().free_symbols:
            n = s_.name
            if n in seen:
                continue
            seen.add(n)
            if n in derived:
                todo.append(derived[n])
            todo.extend(assigns.get(n, ()))
    return sorted(n for n, d in m.derivatives.items() if n in seen and sp.sympify(d) != 0)


def spike_source(rd, model, flat, comp_id: str, unsupported: list):
    """The Mechanism of a population of spike sources ``comp_id`` (an
    artificial cell emitting ``spike``), or None when it is not one."""
    src = spike_array(rd, model, comp_id)
    if src is not None:
        return src
    c = model.components[comp_id]
    if not extends(model, c.type, "baseSpikeSource"):
        return None
    return lems_mechanism(rd, model, flat, comp_id, "cell", unsupported)


def timed_source(rd, model, comp_id: str):
    """A timedSynapticInput's spikes as the export's NetStims deliver them
    (see the module's docstring)."""
    return spike_array(rd, model, comp_id, netstim=True)


def _check_counted(rd, model, comp: str, mech) -> None:
    """Refuse a timedSynapticInput with several spikes delivered on one step
    of the run (NEURON: each its own NET_RECEIVE call) into a synapse whose
    handler is not additive or reads ``t``: nmlcell hands them over as one
    count (``x + k * delta``, :func:`nmlcell.lower.events.takes_counts`)."""
    from ..lower.events import takes_counts
    from .nrn_clock import first_shared_step, netstim_steps, simulation_step

    if takes_counts(mech):
        return
    dt, until = simulation_step(rd, model)
    c = model.components[comp]
    times = [rd.quantity(k.parameters.get("time", "0ms"), "time", comp, "time") * 1e3
             for k in c.children if k.type == "spike"]
    if sorted(times) != times:
        return
    pair = first_shared_step(times, dt, until, netstim_steps)   # the NetStim's (start + 10) - 10
    if pair is not None:
        raise rd.err(f"timedSynapticInput '{comp}': spikes at {pair[0]:g} and {pair[1]:g} ms reach synapse "
                     f"'{c.parameters.get('synapse')}' on one step of dt = {dt:g} ms and its event handler is not "
                     f"additive (x = x + w) or reads t: NEURON runs it once per spike, nmlcell once per step; "
                     f"space them at least one step apart or use a smaller step", comp, "timedSynapticInput")


def add_synaptic_input(rd, model, flat, ch, inp, pops: dict, unsupported: list, conns: list,
                       sources: dict) -> bool:
    """Input ``inp`` of inputList ``ch``, when its component is a synaptic
    input (:data:`SYNAPTIC_INPUTS`): a source instance in the group named
    after the inputList (added to ``sources``: id -> (Mechanism, size)), the
    synapse on the target cell, a :class:`Connection`. False for another
    component type (left to the caller)."""
    comp = ch.parameters.get("component")
    c = model.components.get(comp) if hasattr(model.components, "get") else None
    if c is None and comp in model.components:
        c = model.components[comp]
    if c is None or c.type not in SYNAPTIC_INPUTS:
        return False
    lid, pop = ch.id, ch.parameters.get("population")
    tg = inp.parameters.get("target", "").strip()
    m = next((rx.match(tg) for rx in _TARGET if rx.match(tg)), None)
    if not m or m.group(1) != pop or pop not in pops or int(m.group(2)) >= len(pops[pop][1]):
        raise rd.err(f"input '{inp.id}' of inputList '{lid}': target '{tg}' names no cell of population "
                     f"'{pop}'", lid, "inputList")
    nc, cells = pops[pop]
    seg = int(inp.parameters.get("segmentId", 0))
    frac = float(inp.parameters.get("fractionAlong", 0.5))
    if seg not in nc.seg_at or not 0.0 <= frac <= 1.0:
        what = (f"segmentId={seg}: cell '{nc.id}' has no such segment" if seg not in nc.seg_at
                else f"fractionAlong={frac:g} is outside 0..1 (beyond segment {seg})")
        raise rd.err(f"input '{inp.id}' of inputList '{lid}': {what}", lid, "inputList")
    try:
        weight = float(inp.parameters.get("weight", 1.0)) if inp.type == "inputW" else 1.0
    except ValueError:
        raise rd.err(f"input '{inp.id}' of inputList '{lid}': weight '{inp.parameters.get('weight')}' is not "
                     f"a number", lid, "inputW") from None
    syn_id = c.parameters.get("synapse")
    syn = synapse_of(rd, model, syn_id, f"{c.type} '{comp}'", comp, c.type, unsupported)
    if syn is None:
        return True
    if c.type == "timedSynapticInput":
        _check_counted(rd, model, comp, syn[0])
    if lid in sources:
        src, n = sources[lid]
    else:
        src = timed_source(rd, model, comp) if c.type == "timedSynapticInput" else \
            lems_mechanism(rd, model, flat, comp, "input", unsupported)
        n = 0
    sources[lid] = (src, n + 1)
    cell_key = (pop, int(m.group(2)))
    label, at = place_synapse(cells[cell_key[1]], nc, syn, seg, frac, weight, unsupported,
                              f"inputList '{lid}'")
    if label is not None:
        conns.append(Connection((lid, n), cell_key, label, at, 0.0))
        on = nc.__dict__.setdefault("nml_synapses", {})
        on.setdefault((cell_key, seg, syn_id), []).append((label, at, syn[0].name))
    return True
