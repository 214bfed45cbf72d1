"""Projections of a NeuroML network of point and single-compartment cells.

As jLEMS builds them: each ``connection``/``connectionWD`` of a
``projection`` gets its own instance of the projection's synapse on the
post cell (a group with one instance per connection, its ``weight``
property set per connection); the synapse's current is summed into the
post cell's ``synapses`` attachment, it reads the post cell's ``v``, and
its ``in`` port receives the pre cell's spikes after the connection's
delay (an :class:`~nmlcell.ir.model.EventLink`).
"""
from __future__ import annotations

import re

from ..ir.model import EventLink, Group, Link

_CELL_REF = re.compile(r"^(\.\./)?(?P<pop>\w+)(\[(?P<i>\d+)\]|/(?P<j>\d+)(/\w+)?)$")

PROJECTIONS = ("projection",)


def cell_ref(rd, text, cid, element):
    """'../pop[3]' or '../pop/3/cellComp' -> (pop, 3)."""
    m = _CELL_REF.match(str(text).strip())
    if not m:
        raise rd.err(f"cell reference '{text}' is not '../population[index]' or "
                     f"'../population/index/component'", cid, element=element)
    return m.group("pop"), int(m.group("i") if m.group("i") is not None else m.group("j"))


def _check_cell(rd, pops, pop, idx, cid, element, role):
    if pop not in pops:
        raise rd.err(f"{role} population '{pop}' does not exist (have {', '.join(pops) or 'none'})",
                     cid, element=element)
    if idx >= pops[pop][1]:
        raise rd.err(f"{role} cell {pop}[{idx}] does not exist: '{pop}' has {pops[pop][1]} cell(s)",
                     cid, element=element)


def attach(rd, groups, links, gid, m, post_pop, pops, pairs, comp, cid, element):
    """Sum the attached group's current into the post cells' attachment and
    give it the post cells' requirements (``v``). ``pairs`` are (instance
    of ``gid``, post cell index)."""
    cell_m = next(g.mechanism for g in groups if g.id == post_pop)
    att = [i for i in cell_m.inputs if i.kind == "attachment"]
    if not att:
        raise rd.err(f"cell '{pops[post_pop][0]}' of population '{post_pop}' accepts no synapses or inputs",
                     cid, element=element)
    a = att[0]
    links.append(Link("sum", gid, a.exposure, post_pop, a.name, tuple(pairs)))
    for inp in m.inputs:
        if inp.kind == "requirement" and "/" not in inp.name:  # peer/v: fed by tunnel_projection
            if inp.name not in cell_m.exposures and inp.name not in {s.name for s in cell_m.states}:
                raise rd.err(f"'{comp}' needs '{inp.name}', which cell '{pops[post_pop][0]}' does not expose",
                             cid, element=element)
            links.append(Link("gather", post_pop, cell_m.exposures[inp.name][0], gid, inp.name,
                              tuple((idx, k) for k, idx in pairs)))


def projection(rd, model, ch, pops, groups, links, event_links, mech):
    """One <projection>: a synapse group and its event link."""
    pid = ch.id
    P = ch.parameters
    pre_pop, post_pop = P.get("presynapticPopulation"), P.get("postsynapticPopulation")
    syn = P.get("synapse")
    for role, pop in (("presynaptic", pre_pop), ("postsynaptic", post_pop)):
        if pop not in pops:
            raise rd.err(f"projection '{pid}': {role} population '{pop}' does not exist "
                         f"(have {', '.join(pops) or 'none'})", pid, element="projection")
    if syn not in model.components:
        raise rd.err(f"projection '{pid}': synapse '{syn}' is not defined", pid, element="projection")
    conns = [c for c in ch.children if c.type in ("connection", "connectionWD")]
    if not conns:
        return
    rows = []
    for k, c in enumerate(conns):
        pp, pi = cell_ref(rd, c.parameters.get("preCellId"), pid, c.type)
        qp, qi = cell_ref(rd, c.parameters.get("postCellId"), pid, c.type)
        if pp != pre_pop or qp != post_pop:
            raise rd.err(f"projection '{pid}': connection {k} joins {pp}[{pi}] -> {qp}[{qi}], not "
                         f"{pre_pop} -> {post_pop}", pid, element=c.type)
        for seg in ("preSegmentId", "postSegmentId"):
            if str(c.parameters.get(seg, "0") or "0") not in ("0",):
                raise rd.err(f"projection '{pid}': connection {k} names segment {c.parameters[seg]} of a "
                             f"point or single-compartment cell (only segment 0 exists)", pid, element=c.type)
        d, w = _delay_weight(rd, c, pid, f"projection '{pid}': connection {k}")
        rows.append((pi, qi, d, w, c.type))
    connect(rd, model, pid, syn, pre_pop, post_pop, rows, pops, groups, links, event_links, mech, pid, "projection")


def synaptic_connection(rd, model, ch, pops, groups, links, event_links, mech, taken):
    """A <synapticConnection>/<synapticConnectionWD> directly in the network
    (``from``, ``to``, ``synapse``): a synapse group of one instance."""
    cid = ch.id
    P = ch.parameters
    syn = P.get("synapse")
    pp, pi = cell_ref(rd, P.get("from"), cid, ch.type)
    qp, qi = cell_ref(rd, P.get("to"), cid, ch.type)
    for role, pop in (("presynaptic", pp), ("postsynaptic", qp)):
        if pop not in pops:
            raise rd.err(f"{ch.type}: {role} population '{pop}' does not exist "
                         f"(have {', '.join(pops) or 'none'})", cid, element=ch.type)
    if syn not in model.components:
        raise rd.err(f"{ch.type}: synapse '{syn}' is not defined", cid, element=ch.type)
    d, w = _delay_weight(rd, ch, cid, ch.type)
    base = f"{syn}_{pp}_{pi}_{qp}_{qi}"
    gid, n = base, 1
    while gid in taken:
        n += 1
        gid = f"{base}_{n}"
    taken.add(gid)
    connect(rd, model, gid, syn, pp, qp, [(pi, qi, d, w, ch.type)], pops, groups, links, event_links, mech,
            cid, ch.type)


def _delay_weight(rd, c, cid, what):
    d, w = 0.0, 1.0
    if "delay" in c.parameters:
        d = rd.quantity(c.parameters.get("delay"), "time", cid, "delay") * 1e3
        if d < 0:
            raise rd.err(f"{what} has a negative delay ({c.parameters.get('delay')})", cid, element=c.type)
    if "weight" in c.parameters:
        try:
            w = float(c.parameters.get("weight"))
        except ValueError:
            raise rd.err(f"{what}: weight '{c.parameters.get('weight')}' is not a number", cid,
                         element=c.type) from None
    return d, w


def connect(rd, model, gid, syn, pre_pop, post_pop, rows, pops, groups, links, event_links, mech, cid, element):
    """A synapse group ``gid`` of one ``syn`` instance per row (pre index,
    post index, delay ms, weight, element)."""
    m = mech(syn, "synapse")
    if not any(h.port == "in" for h in m.on_events):
        raise rd.err(f"synapse '{syn}' ({m.component_type}) has no OnEvent for port 'in'", cid, element=element)
    pre_pairs, post_pairs, delays, weights = [], [], [], []
    for k, (pi, qi, d, w, el) in enumerate(rows):
        _check_cell(rd, pops, pre_pop, pi, cid, el, "presynaptic")
        _check_cell(rd, pops, post_pop, qi, cid, el, "postsynaptic")
        pre_pairs.append((pi, k))
        post_pairs.append((k, qi))
        delays.append(d)
        weights.append(w)
    over = {}
    if any(p.name == "weight" for p in m.parameters):
        over["weight"] = tuple(weights)
    elif any(w != 1.0 for w in weights):
        raise rd.err(f"synapse '{syn}' has no 'weight' to set", cid, element=element)
    groups.append(Group(gid, m, len(rows), syn, overrides=over))
    attach(rd, groups, links, gid, m, post_pop, pops, post_pairs, syn, cid, element)
    if not next(g for g in groups if g.id == pre_pop).emits_spikes:
        raise rd.err(f"presynaptic population '{pre_pop}' emits no spikes", cid, element=element)
    event_links.append(EventLink(pre_pop, "spike", gid, "in", tuple(pre_pairs), tuple(delays)))


def _index_or_path(rd, text, cid, element):
    t = str(text).strip()
    if t.isdigit():
        return None, int(t)
    return cell_ref(rd, t, cid, element)


def tunnel_projection(rd, model, ch, pops, groups, links, mech):
    """An <electricalProjection> (gap junctions) or <continuousProjection>
    (graded synapses): as jLEMS's Tunnel, each connection puts one
    component on the pre cell and one on the post cell, each reading the
    other's cell potential as ``peer/v`` and adding its current to its own
    cell. A gap junction is its own peer component; a continuous
    connection has a ``preComponent`` (often a silentSynapse) and a
    ``postComponent``."""
    pid = ch.id
    P = ch.parameters
    pre_pop, post_pop = P.get("presynapticPopulation"), P.get("postsynapticPopulation")
    for role, pop in (("presynaptic", pre_pop), ("postsynaptic", post_pop)):
        if pop not in pops:
            raise rd.err(f"{ch.type} '{pid}': {role} population '{pop}' does not exist "
                         f"(have {', '.join(pops) or 'none'})", pid, element=ch.type)
    sides: dict[tuple[str, str], list] = {}  # (side, component) -> [(this cell, peer cell, weight)]
    for k, c in enumerate(ch.children):
        cp = c.parameters
        if "synapse" in cp:
            pre_c = post_c = cp["synapse"]
        elif "preComponent" in cp:
            pre_c, post_c = cp["preComponent"], cp.get("postComponent")
        else:
            continue
        pp, pi = _index_or_path(rd, cp.get("preCell"), pid, c.type)
        qp, qi = _index_or_path(rd, cp.get("postCell"), pid, c.type)
        if (pp not in (None, pre_pop)) or (qp not in (None, post_pop)):
            raise rd.err(f"{ch.type} '{pid}': connection {k} joins {pp}[{pi}] -> {qp}[{qi}], not "
                         f"{pre_pop} -> {post_pop}", pid, element=c.type)
        _check_cell(rd, pops, pre_pop, pi, pid, c.type, "presynaptic")
        _check_cell(rd, pops, post_pop, qi, pid, c.type, "postsynaptic")
        for comp in (pre_c, post_c):
            if comp not in model.components:
                raise rd.err(f"{ch.type} '{pid}': component '{comp}' is not defined", pid, element=c.type)
        _d, w = _delay_weight(rd, c, pid, f"{ch.type} '{pid}': connection {k}")
        sides.setdefault(("pre", pre_c), []).append((pi, qi, w))
        sides.setdefault(("post", post_c), []).append((qi, pi, w))
    for (side, comp), rows in sides.items():
        m = mech(comp, "synapse")
        gid = f"{pid}__{comp}__{side}"
        this_pop, peer_pop = (pre_pop, post_pop) if side == "pre" else (post_pop, pre_pop)
        over = {}
        if any(p.name == "weight" for p in m.parameters):
            over["weight"] = tuple(w for _a, _b, w in rows)
        groups.append(Group(gid, m, len(rows), comp, overrides=over))
        attach(rd, groups, links, gid, m, this_pop, pops, [(k, a) for k, (a, _b, _w) in enumerate(rows)],
               comp, pid, ch.type)
        peer_m = next(g.mechanism for g in groups if g.id == peer_pop)
        for inp in m.inputs:
            if inp.kind == "requirement" and "/" in inp.name:
                var = inp.name.split("/", 1)[1]
                if var not in peer_m.exposures:
                    raise rd.err(f"{ch.type} '{pid}': '{comp}' reads peer/{var}, which cell "
                                 f"'{pops[peer_pop][0]}' does not expose", pid, element=ch.type)
                links.append(Link("gather", peer_pop, peer_m.exposures[var][0], gid, inp.name,
                                  tuple((b, k) for k, (_a, b, _w) in enumerate(rows))))


def check_spike_times(rd, model, comp_id):
    """A spikeArray or timedSynapticInput lists its spikes in time order
    (jLEMS would accept any order; a list out of order is almost always a
    typing error)."""
    c = model.components[comp_id]
    prev, prev_id = None, None
    for ch in c.children:
        if ch.type != "spike" or "time" not in ch.parameters:
            continue
        t = rd.quantity(ch.parameters["time"], "time", comp_id, "time")
        if prev is not None and t < prev:
            raise rd.err(f"{c.type} '{comp_id}': spike '{ch.id}' at {ch.parameters['time']} comes after "
                         f"spike '{prev_id}' at a later time; list spikes in time order", comp_id,
                         element=c.type)
        prev, prev_id = t, ch.id
