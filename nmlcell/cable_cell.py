"""A branched NEURON-style cell: morphology + .mod mechanisms -> IR.

The morphology is cut into compartments with NEURON's semantics
(:func:`nmlcell.lower.discretize.discretize`). Compartments that carry the
same mechanisms form one group (one generated kernel over all of them);
what differs between them (area, cm, a parameter given as a function of
the path distance) is a per-instance value. The axial coupling is the
:class:`~nmlcell.ir.model.Cable`, solved by the ``staggered`` solver with
NEURON's matrix and a Hines solve.

Regions (``where=``): None (every section), a region (``"soma"``,
``"axon"``, ``"dend"``, ``"apic"``), a section name (``"dend[3]"``), a
section group of the morphology (``"somatic"``, ``"basal"``...), or a list
of these. Parameter values are numbers or callables of the path distance
(µm) from the middle of the root section, as NEURON's ``h.distance`` from
``soma(0.5)``.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import OptionError


def path_distances(disc) -> np.ndarray:
    """Path length (µm) from the root section's middle to every compartment
    (zero-area end nodes at their section end)."""
    morph = disc.morphology
    secs = morph.sections
    L = list(disc.L) if disc.L else [s.length for s in secs]

    start = [0.0] * len(secs)  # distance of each section's 0 end, signed along the root

    def along(i, x):
        if i == 0:
            return abs(x - 0.5) * L[0]
        return start[i] + x * L[i]

    for i, s in enumerate(secs):
        if i == 0:
            continue
        start[i] = along(s.parent, s.parent_x)
    out = np.zeros(len(disc.compartments))
    for k, c in enumerate(disc.compartments):
        out[k] = along(c.section, c.x)
    return out


def sections_of(morph, where) -> set[int]:
    if where is None:
        return set(range(len(morph.sections)))
    if isinstance(where, (list, tuple, set)):
        out = set()
        for w in where:
            out |= sections_of(morph, w)
        return out
    w = str(where)
    hits = {i for i, s in enumerate(morph.sections) if s.region == w or s.name == w}
    if not hits:
        for g in morph.groups:
            if g.name == w:
                hits = set(g.sections)
    if not hits:
        regions = sorted({s.region for s in morph.sections})
        raise OptionError(f"where={where!r} names no section, region or group of this morphology "
                          f"(regions: {', '.join(regions)}; groups: "
                          f"{', '.join(g.name for g in morph.groups[:12])})", element="where")
    return hits


def build_cable_ir(cell, celsius: float, phase=()):
    """(ModelIR, units, index) for a branched cell; ``index`` maps a
    location spec to (group id, instance)."""
    from .ir.model import Cable, Group, ModelIR, Network
    from .lower.discretize import discretize
    from .passes.compartment import Geometry, Inserted, _declared_unit_value, compose

    disc = discretize(cell.morphology, nseg=cell._nseg, Ra=cell._Ra_map(), cm=cell._cm_map(),
                      d_lambda=cell._d_lambda)
    morph = disc.morphology
    n = len(disc)
    dist = path_distances(disc)
    dens = [it for it in cell._placed if not it[0].point]
    pps = [it for it in cell._placed if it[0].point]
    where_secs = [sections_of(morph, w) for _it, w in dens]
    pp_node: dict[int, list] = {}
    for it, at in pps:
        pp_node.setdefault(cell._locate(disc, at), []).append(it)
    sig = []
    for k, c in enumerate(disc.compartments):
        if c.area == 0.0:
            sig.append(("__end__",))
            continue
        names = tuple(j for j, secs in enumerate(where_secs) if c.section in secs)
        sig.append(names + tuple(it.label for it in pp_node.get(k, ())))
    groups, members, units = [], {}, {}
    by_sig: dict[tuple, list[int]] = {}
    for k, s in enumerate(sig):
        by_sig.setdefault(s, []).append(k)
    for gi, (s, nodes) in enumerate(by_sig.items()):
        gid = "end_nodes" if s == ("__end__",) else f"g{gi}"
        first = nodes[0]
        items, funcs = [], []
        if s != ("__end__",):
            for j in (x for x in s if isinstance(x, int)):
                it = dens[j][0]
                fixed = {kk: v for kk, v in it.params.items() if not callable(v)}
                for kk, v in it.params.items():
                    if callable(v):
                        fixed[kk] = float(v(dist[first]))
                        funcs.append((it, kk, v))
                items.append(Inserted(it.mech, it.label, fixed))
            items += list(pp_node.get(first, ()))
        c0 = disc.compartments[first]
        seg_L = disc.L[c0.section] / disc.nseg[c0.section] if disc.L else 1.0
        geo = Geometry(L=seg_L, diam=max(c0.area, 1e-12) / (math.pi * seg_L), cm=c0.cm, Ra=c0.Ra)
        mech, u = compose(geo, items, v_init=cell.v_init, name=gid, phase_columns=phase)
        units.update(u)
        over = {}
        comps = [disc.compartments[k] for k in nodes]
        if len(nodes) > 1 or s == ("__end__",):
            lens = [disc.L[c.section] / disc.nseg[c.section] if c.area > 0 else 1.0 for c in comps]
            over["area"] = tuple(c.area for c in comps)
            over["cm"] = tuple(c.cm if c.area > 0 else 0.0 for c in comps)
            over["L"] = tuple(lens)
            over["diam"] = tuple(c.area / (math.pi * ln) if c.area > 0 else 0.0 for c, ln in zip(comps, lens))
            over["Ra"] = tuple(c.Ra for c in comps)
        for it, kk, fn in funcs:
            p = next(pp for pp in it.mech.parameters if pp.name == kk)
            over[f"{kk}_{it.label}"] = tuple(_declared_unit_value(p, float(fn(dist[k]))) for k in nodes)
        groups.append(Group(gid, mech, len(nodes), overrides=over))
        members[gid] = tuple(nodes)
    cable = Cable(parent=disc.parents, ri=tuple(c.ri for c in disc.compartments), area=disc.areas,
                  members=members)
    net = Network("cell", tuple(groups), temperature=float(celsius) + 273.15, cable=cable)
    index = {k: (gid, i) for gid, nodes in members.items() for i, k in enumerate(nodes)}
    return ModelIR(name="cell", file=str(morph.file or "<nmlcell.Cell>"), network=net), units, index, disc
