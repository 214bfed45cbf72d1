"""The branched cells of an :class:`nmlcell.Network` (cells with a
morphology): each one a cable of :func:`~nmlcell.cable_cell.build_cable_ir`,
one after the other in one Hines tree (a later cell's root hangs from the
first cell's root through 1e300 MOhm: no current passes), as
:func:`nmlcell.importers.nml_cell_network.build_network` lays out NeuroML cells.

A NetCon from a branched cell watches ``v`` at its ``at`` place (default
the middle of the root section: ``soma(0.5)``) with its threshold (the
spike detector of jNeuroML's export, a density mechanism whose threshold
is +inf elsewhere); a NetCon onto one reaches the synapse's node, whose
composed mechanism carries one NET_RECEIVE handler per NetCon
(``<syn>#k``, as for one-compartment cells).
"""
from __future__ import annotations

import copy
from dataclasses import replace


def cable_groups(net, cells: dict, celsius: float, dt: float = 0.025):
    """(groups, Cable, where, units) for the branched ``cells`` (name ->
    Cell) of Network ``net``; ``where[name]`` = (discretisation, {node:
    (group, i)}, (group, i) of the spike detector or None, {synapse label:
    (group, i)}). Compartments of one composition share one group across
    the cells (:mod:`nmlcell.passes.share_groups`)."""
    from .cable_cell import cable_parts
    from .importers.nml_mechanisms import spike_detector
    from .ir.model import Cable
    from .passes.share_groups import Compositions, merge_parts
    from .passes.netcon_state import index_slots, specialise

    shared = Compositions()
    parts, parent, ri, area, placed = [], [], [], [], []
    for name, cell in cells.items():
        c = copy.copy(cell)
        # NET_RECEIVE's per-NetCon state (passes/netcon_state)
        c._placed = [(net._with_netcons_into(name, it, dt), at) for it, at in cell._placed]
        c._counts = dict(cell._counts)
        c._model = c._frozen = None
        out = [nc for nc in net.netcons if nc.pre == name]
        det_at = None
        if out:
            det_at = out[0].at or cell._root_loc()
            c.insert(spike_detector(), where=[det_at.split("(")[0].strip()], threshold={det_at: out[0].threshold})
        # values of NEURON's current phase (Exp2Syn's g) recorded as the staggered step computes them
        recorded = {n.split(").", 1)[-1] for cc, n in net._record if cc == name}
        phase = tuple(sorted(n for n in recorded if "." in n))
        mine, disc = cable_parts(c, phase, shared, component="cells")
        slots = index_slots([it for it, _at in c._placed])   # per-NetCon state: each NetCon's handler its own piece
        mine = [replace(pt, mech=specialise(pt.mech, slots)) for pt in mine]
        off = len(parent)
        parent += [(p + off if p >= 0 else (0 if off else -1)) for p in disc.parents]
        ri += [(1e300 if (off and j == 0) else cc.ri) for j, cc in enumerate(disc.compartments)]
        area += list(disc.areas)
        placed.append((name, c, disc, det_at, len(parts), len(mine), off))
        parts += [replace(pt, nodes=tuple(n + off for n in pt.nodes)) for pt in mine]
    groups, members, place = merge_parts(parts)
    where = {}
    for name, c, disc, det_at, first, count, off in placed:
        idx = {}
        for pt, (gid, o) in zip(parts[first:first + count], place[first:first + count]):
            for i, n in enumerate(pt.nodes):
                idx[n - off] = (gid, o + i)
        spike = idx[disc.locate(det_at)] if det_at else None
        pps = {it.label: idx[c._locate(disc, at)] for it, at in c._placed if it.point}
        where[name] = (disc, idx, spike, pps)
    cable = Cable(parent=tuple(parent), ri=tuple(ri), area=tuple(area), members=members)
    return groups, cable, where, shared.units
