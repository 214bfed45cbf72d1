"""A NeuroML ``<network>`` of multi-compartment cells -> one branched
cable model (:func:`build_network`): each instance a cell of
:class:`~nmlcell.importers.nml_cell.NmlCell`, laid out as jNeuroML's NEURON
export lays them out; cells of one composition share groups
(:func:`_share_cells`); projections, inputs, gap junctions and graded
synapses come from :mod:`~nmlcell.importers.nml_network`,
:mod:`~nmlcell.importers.nml_network_inputs` and
:mod:`~nmlcell.importers.nml_network_gap`. Also the translation of LEMS
recorded quantities to the cable's columns (:func:`rename_quantities`).
"""
from __future__ import annotations

import re
from dataclasses import replace

from ..ir.mechanism import Mechanism
from ..ir.model import Network
from .nml_cell import NmlCell, is_multicompartment, prebuild_tree_kernel
from .nml_mechanisms import _CONC_INPUTS, _V

_Q_CELL = re.compile(r"^(?P<pop>\w+)/(?P<i>\d+)/(?P<cell>\w+)/(?:(?P<seg>\d+)/)?(?P<rest>.+)$")
_Q_POP = re.compile(r"^(?P<pop>\w+)(?:/(?P<i>\d+)/\w+|\[(?P<j>\d+)\])$")
_Q_IDX = re.compile(r"^(?P<pop>\w+)\[(?P<i>\d+)\]/(?:(?P<seg>\d+)/)?(?P<rest>.+)$")


def build_network(rd, model, flat, net, temperature: float):
    """(Network, unsupported, addressing) for a network of multi-compartment
    cells: every instance a cable of :func:`build_cable_ir`, one after the
    other in one Hines tree (each later cell's root hangs from the first
    cell's root through an axial resistance of 1e300 MOhm: no current
    passes, the tree solve stays one). Returns (None, unsupported, None)
    when something is not supported."""
    from ..cell import IClamp
    from ..ir.model import Cable

    prebuild_tree_kernel()
    unsupported: list[str] = []
    pops = {}
    types: dict[str, NmlCell] = {}
    # spike detectors: the NetCons' (projections) or an EventOutputFile's
    spikes = any(ch.type == "projection" for ch in net.children) or \
        any(ch.type == "EventOutputFile" for c in model.components if c.type == "Simulation" for ch in c.children)
    from .nml_network import add_projection, event_links
    from .nml_network_inputs import add_synaptic_input, spike_source
    conns: list = []
    sources: dict = {}  # population -> (Mechanism, size) of spikeArrays
    for ch in net.children:
        if ch.type not in ("population", "populationList"):
            continue
        comp = ch.parameters.get("component")
        src = spike_source(rd, model, flat, comp, unsupported) if comp in model.components else None
        if src is not None:
            sources[ch.id] = (src, int(float(ch.parameters.get("size", 1))) if ch.type == "population"
                              else sum(1 for cc in ch.children if cc.type == "instance"))
            continue
        if not is_multicompartment(model, comp):
            unsupported.append(f"population '{ch.id}' of point cells '{comp}' in a network of "
                               "multi-compartment cells")
            continue
        size = (sum(1 for cc in ch.children if cc.type == "instance")
                if ch.type == "populationList" or "size" not in ch.parameters else int(float(ch.parameters["size"])))
        if comp not in types:
            types[comp] = NmlCell(rd, model, flat, comp)
            unsupported += types[comp].unsupported
        pops[ch.id] = (types[comp], [types[comp].make_cell(spikes) for _ in range(size)])
    for ch in net.children:
        t = ch.type
        if t in ("population", "populationList", "notes", "annotation", "property"):
            continue
        if t == "explicitInput":
            tgt = ch.parameters.get("target", "").strip()
            m = re.match(r"^(\w+)\[(\d+)\]$", tgt) or re.match(r"^(\w+)/(\d+)(/\w+)?$", tgt)
            if not m or m.group(1) not in pops or int(m.group(2)) >= len(pops[m.group(1)][1]):
                unsupported.append(f"explicitInput target '{tgt}'")
                continue
            nc, cells = pops[m.group(1)]
            _add_input(rd, model, nc, cells[int(m.group(2))], ch.parameters.get("input"), 0, 0.5, unsupported, IClamp)
        elif t == "inputList":
            pop = ch.parameters.get("population")
            if pop not in pops:
                unsupported.append(f"inputList '{ch.id}' on population '{pop}'")
                continue
            nc, cells = pops[pop]
            for inp in ch.children:
                if inp.type not in ("input", "inputW"):
                    continue
                if add_synaptic_input(rd, model, flat, ch, inp, pops, unsupported, conns, sources):
                    continue  # a synapse and its spike source (nml_network_inputs)
                weight = float(inp.parameters.get("weight", 1.0)) if inp.type == "inputW" else 1.0
                comp = model.components[ch.parameters["component"]] \
                    if ch.parameters.get("component") in model.components else None
                if weight != 1.0 and (comp is None or comp.type == "pulseGenerator"):
                    unsupported.append(f"inputW with weight in inputList '{ch.id}'")
                    continue
                tg = inp.parameters.get("target", "").strip()
                m = re.match(r"^\.\./(\w+)/(\d+)/\w+$", tg) or re.match(r"^(\w+)\[(\d+)\]$", tg)
                if not m or m.group(1) != pop or int(m.group(2)) >= len(cells):
                    unsupported.append(f"input target '{tg}' in inputList '{ch.id}'")
                    continue
                seg = int(inp.parameters.get("segmentId", 0))
                frac = float(inp.parameters.get("fractionAlong", 0.5))
                if seg not in nc.seg_at or not 0.0 <= frac <= 1.0:
                    what = (f"segmentId={seg}: cell '{nc.id}' has no such segment" if seg not in nc.seg_at
                            else f"fractionAlong={frac:g} is outside 0..1 (beyond segment {seg})")
                    raise rd.err(f"input '{inp.id}' of inputList '{ch.id}': {what}", ch.id, "inputList")
                _add_input(rd, model, nc, cells[int(m.group(2))], ch.parameters.get("component"), seg, frac,
                           unsupported, IClamp, weight)
        elif t == "projection":
            add_projection(rd, model, pops, ch, unsupported, conns, sources)
        elif t in ("electricalProjection", "continuousProjection"):
            from .nml_network_gap import add_coupling
            add_coupling(rd, model, pops, ch, unsupported, conns)
        else:
            unsupported.append(f"{t} '{ch.id}' in a network of multi-compartment cells")
    if unsupported or not pops:
        return None, list(dict.fromkeys(unsupported)) or [f"network '{net.id}' has no population"], None
    groups, parent, ri, area, members, where = _share_cells(pops, taken=set(sources))
    conns = [replace(c, label=where.labels[c.post].get(c.label, c.label)) for c in conns]
    from ..ir.model import Group
    groups += [Group(pop, m, n, component=m.component_type, emits_spikes=True) for pop, (m, n) in sources.items()]
    network = Network(net.id, tuple(groups), temperature=temperature,
                      cable=Cable(parent=tuple(parent), ri=tuple(ri), area=tuple(area), members=members),
                      event_links=event_links(conns, where))
    from .nml_network_gap import couple
    network = couple(network, conns, where)  # gap junctions, graded synapses: the peer's v
    return network, unsupported, where


class _Placement(dict):
    """(population, instance) -> (NmlCell, discretisation, {node: (group,
    i)}, "group[i]" of the spike detector); ``labels[(population,
    instance)]`` maps a point process's label on that cell to its name in
    its group (``GABA_syn[17]`` -> ``GABA_syn[0]``, :func:`cable_parts`)."""

    def __init__(self):
        super().__init__()
        self.labels: dict = {}


def _share_cells(pops: dict, taken=frozenset()):
    """(groups, parent, ri, area, members, placement) of the cells of
    ``pops`` (population -> (NmlCell, [Cell])), one after the other in one
    Hines tree; compartments of one composition share one group across all
    cells (:mod:`nmlcell.passes.share_groups`), so the number of groups is
    the number of distinct compositions, not of cells. Group ids avoid
    ``taken`` (the spike-source populations' ids)."""
    from ..cable_cell import cable_parts
    from ..passes.share_groups import Compositions, merge_parts
    from .nml_network import with_synapse_dims

    pre = ""
    while any(re.fullmatch(rf"{pre}(g\d+(_\d+)?|end_nodes)", x) for x in taken):
        pre = "cable_" + pre
    shared = Compositions(name=lambda n: f"{pre}g{n}", end=f"{pre}end_nodes")
    parts, parent, ri, area, cells_at = [], [], [], [], []
    where = _Placement()
    for pop, (nc, cells) in pops.items():
        for k, cell in enumerate(cells):
            labels: dict = {}
            mine, disc = cable_parts(cell, (), shared, labels=labels, component=nc.id)
            off = len(parent)
            parent += [(p + off if p >= 0 else (0 if off else -1)) for p in disc.parents]
            ri += [(1e300 if (off and j == 0) else c.ri) for j, c in enumerate(disc.compartments)]
            area += list(disc.areas)
            cells_at.append(((pop, k), nc, disc, len(parts), len(mine), off))
            parts += [replace(pt, nodes=tuple(n + off for n in pt.nodes)) for pt in mine]
            where.labels[pop, k] = labels
    groups, members, place = merge_parts(parts)
    # LEMS output files hold v in volts and a synapse's g in siemens
    groups = [replace(g, mechanism=with_synapse_dims(_voltage_dims(g.mechanism))) for g in groups]
    emits = {g.id: g.emits_spikes for g in groups}
    for key, nc, disc, first, count, off in cells_at:
        index = {}
        for pt, (gid, o) in zip(parts[first:first + count], place[first:first + count]):
            for i, n in enumerate(pt.nodes):
                index[n - off] = (gid, o + i)
        gid, i = index[disc.locate(nc.spike_location())]
        where[key] = (nc, disc, index, f"{gid}[{i}]" if emits[gid] else None)
    return groups, parent, ri, area, members, where


def _voltage_dims(m: Mechanism) -> Mechanism:
    """The compartment's ``v`` exposed as a voltage (mV is the internal unit),
    so LEMS output files hold it in volts."""
    ex = dict(m.exposures)
    if "v" in ex:
        ex["v"] = (ex["v"][0], _V)
    return replace(m, exposures=ex)


def _add_input(rd, model, nc: NmlCell, cell, comp_id, seg, frac, unsupported, IClamp, weight=1.0):
    if comp_id not in model.components:
        raise rd.err(f"input component '{comp_id}' is not defined")
    c = model.components[comp_id]
    loc = nc.location(seg, frac)  # a zero-area end node too (a leaf's tip: kept for the input placed there)
    if c.type != "pulseGenerator":  # the export's point process of its Dynamics (nml_cell_inputs)
        from .nml_cell_inputs import current_input

        m = current_input(rd, model, comp_id, unsupported, f"on cell '{nc.id}'")
        if m is not None:  # an inputW's weight: the export's ``weight`` of the point process
            from ..cell import PointProcess

            has_w = any(p.name == "weight_p" for p in m.parameters)
            if weight != 1.0 and not has_w:
                unsupported.append(f"inputW with weight on input '{comp_id}', whose type has no weight")
                return
            cell.add(PointProcess(m, **({"weight_p": weight} if weight != 1.0 else {})), at=loc)
        return
    P = c.parameters
    delay = rd.quantity(P["delay"], "time", comp_id, "delay") * 1e3
    dur = rd.quantity(P["duration"], "time", comp_id, "duration") * 1e3
    amp = rd.quantity(P["amplitude"], "current", comp_id, "amplitude") * 1e9
    cell.add(IClamp(delay=delay, dur=dur, amp=amp), at=loc)


def quantity_map(where: dict, quantities) -> tuple[dict, list[str]]:
    """LEMS quantity -> the cable network's ``group[i]/name``; and the
    quantities it cannot address."""
    out, bad = {}, []
    for q in quantities:
        m = _Q_CELL.match(q.strip()) or _Q_IDX.match(q.strip())
        key = (m.group("pop"), int(m.group("i"))) if m else None
        if key not in where:
            bad.append(q)
            continue
        nc, disc, index, _spk = where[key]
        seg = int(m.group("seg") or 0)
        name = _variable(nc, m.group("rest"))
        at = nc.location(seg, 0.5) if seg in nc.seg_at else None
        if name is None and at is not None:  # a synapse's g (projections, nml_network)
            from .nml_network import synapse_quantity
            at, name = synapse_quantity(nc, key, seg, m.group("rest")) or (at, None)
            if name is not None:  # the synapse's name in its group
                label, _, var = name.partition(".")
                name = f"{getattr(where, 'labels', {}).get(key, {}).get(label, label)}.{var}"
        if name is None or seg not in nc.seg_at:
            bad.append(q)
            continue
        gid, i = index[disc.locate(at)]
        out[q] = f"{gid}[{i}]/{name}"
    return out, bad


def _variable(nc: NmlCell, rest: str) -> str | None:
    if rest == "v":
        return "v"
    parts = rest.split("/")
    # <biophys id>/membraneProperties/<density id>/<channel id>/<path>
    if len(parts) >= 5 and parts[1] == "membraneProperties" and parts[2] in nc.mechanisms:
        return f"{'_'.join(parts[4:])}_{nc.mechanisms[parts[2]].name}"
    if rest in ("caConc", "caConcExt"):
        return _CONC_INPUTS[rest]
    return None


def rename_quantities(where: dict, sim, unsupported: list):
    """The SimulationSpec with its output columns and display lines
    addressing the cable network (``group[i]/v``); what cannot be addressed
    is added to ``unsupported``."""
    qs = [c.quantity for o in sim.outputs for c in o.columns] + [ln.quantity for d in sim.displays for ln in d.lines]
    qmap, bad = quantity_map(where, qs)
    for q in dict.fromkeys(bad):
        unsupported.append(f"recording '{q}' of a multi-compartment cell (v, caConc and channel density "
                           f"variables are supported yet)")
    events = []
    for e in sim.event_outputs:
        sels = []
        for sel in e.selections:
            m = _Q_POP.match(sel.select.strip())
            key = (m.group("pop"), int(m.group("i") or m.group("j"))) if m else None
            if key not in where or where[key][3] is None:
                unsupported.append(f"EventSelection '{sel.select}' of EventOutputFile '{e.id}' (a cell of the "
                                   "network is supported)")
                continue
            sels.append(replace(sel, select=where[key][3]))
        events.append(replace(e, selections=tuple(sels)))
    outputs = tuple(replace(o, columns=tuple(replace(c, quantity=qmap.get(c.quantity, c.quantity))
                                             for c in o.columns)) for o in sim.outputs)
    displays = tuple(replace(d, lines=tuple(replace(ln, quantity=qmap.get(ln.quantity, ln.quantity))
                                            for ln in d.lines)) for d in sim.displays)
    return replace(sim, outputs=outputs, displays=displays, event_outputs=tuple(events))
