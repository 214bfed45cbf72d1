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
of these. Parameter values are numbers, callables of the path distance
(µm) from the middle of the root section (NEURON's ``h.distance`` from
``soma(0.5)``, :func:`path_distance`) evaluated at each segment's centre,
or mappings ``{"apic[3](0.5)": value, ...}`` applied in order as NEURON's
``sec(x).name = value`` (see :func:`assignment_node`). Ion values
(``ek``...) set per region with ``cell.set`` are per-instance values too.

The morphology can be edited as a hoc template edits its sections
(:func:`delete_sections`, NEURON's ``delete_section``;
:func:`add_cylinder`, ``create`` + ``L``/``diam`` + ``connect``), and
:func:`path_distance` is NEURON's ``h.distance`` between two locations.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from .errors import OptionError

if TYPE_CHECKING:
    from .ir.morphology import Morphology


def _section_L(disc, i: int) -> float:
    return disc.L[i] if disc.L else disc.morphology.sections[i].length


def _node_x(disc, i: int, x: float) -> float:
    """Where NEURON measures a location: the centre of the segment holding
    x, or the section's end for x = 0 and 1."""
    if x <= 0.0 or x >= 1.0:
        return min(max(x, 0.0), 1.0)
    n = disc.nseg[i] if disc.nseg else 1
    return (min(int(x * n), n - 1) + 0.5) / n


def _distance_from(disc, origin: tuple[int, float]):
    """f(section, x) -> NEURON's path distance (µm) from ``origin``."""
    secs = disc.morphology.sections
    on_origin = {}  # section on the origin's path to the root -> (arc position there, length walked)
    i, pos, walked = origin[0], _node_x(disc, *origin) * _section_L(disc, origin[0]), 0.0
    while True:
        on_origin[i] = (pos, walked)
        s = secs[i]
        if s.parent is None:
            break
        walked += pos
        i = s.parent
        pos = _node_x(disc, i, s.parent_x) * _section_L(disc, i)
    start: dict[int, float] = {}  # distance of a section's 0 end (off the origin's path)

    def at_pos(i, pos):
        if i in on_origin:
            po, wo = on_origin[i]
            return wo + abs(po - pos)
        if i not in start:
            chain = []
            k = i
            while k not in on_origin and k not in start:
                chain.append(k)
                k = secs[k].parent
            for k in reversed(chain):
                p = secs[k].parent
                start[k] = at_pos(p, _node_x(disc, p, secs[k].parent_x) * _section_L(disc, p))
        return start[i] + pos

    return lambda i, x: at_pos(i, _node_x(disc, i, x) * _section_L(disc, i))


def path_distance(disc, a: tuple[int, float], b: tuple[int, float]) -> float:
    """NEURON's ``h.distance(sec_a(xa), sec_b(xb))``: the path length (µm)
    along the tree between ``a = (section index, x)`` and ``b``, measured
    as NEURON does between nodes: a location 0 < x < 1 counts as the centre
    of its segment, and a section's 0 end sits on the parent's node that
    holds ``parent_x`` (measured against NEURON 9)."""
    return _distance_from(disc, a)(*b)


def path_distances(disc, origin: tuple[int, float] = (0, 0.5)) -> np.ndarray:
    """NEURON's path distance (µm) from ``origin`` (section index, x;
    default the root section's middle) to every compartment (zero-area end
    nodes at their section end)."""
    f = _distance_from(disc, origin)
    return np.array([f(c.section, c.x) for c in disc.compartments])


def parse_location(morph, spec: str) -> tuple[int, float]:
    """``"dend[3](0.5)"`` (or ``"dend[3]"`` for its middle) -> (section index, x)."""
    from .ir.morphology import _LOC

    m = _LOC.match(str(spec))
    if not m:
        raise OptionError(f"cannot read location {spec!r}; write it as sec(x), e.g. dend[3](0.5)",
                          element="at")
    try:
        i = morph.index(m.group(1))
    except KeyError:
        raise OptionError(f"location {spec!r}: no section {m.group(1)!r}", element="at") from None
    x = float(m.group(2)) if m.group(2) is not None else 0.5
    if not 0.0 <= x <= 1.0:
        raise OptionError(f"location {spec!r}: x must be within 0..1", element="at")
    return i, x


def assignment_node(disc, spec: str) -> int:
    """The compartment that NEURON's ``sec(x).name = value`` sets for a
    membrane mechanism's variable: the segment holding x, and for x = 0 and
    x = 1 the first and the last segment (not the zero-area end nodes, which
    carry no mechanisms). So hoc's ``for (x) { name(x) = f(x) }`` gives the
    last segment f at x = 1, the section's end, written last."""
    i, x = parse_location(disc.morphology, spec)
    n = disc.nseg[i]
    return disc.first[i] + min(int(x * n), n - 1)


def free_ends(morph, places) -> tuple:
    """The zero-area end nodes ``(section, x)`` that ``places``
    (``"dend[3](1)"``...) fall on (:func:`~nmlcell.lower.discretize.end_location`),
    sorted: what :func:`~nmlcell.lower.discretize.discretize` keeps as
    ``tips``. A section's middle or an unknown name is skipped (locating
    it reports the name)."""
    from .ir.morphology import _LOC
    from .lower.discretize import end_location

    out = set()
    for at in places:
        m = _LOC.match(str(at))
        if not m or m.group(2) is None:
            continue
        try:
            x = float(m.group(2))
            i = morph.index(m.group(1)) if x in (0.0, 1.0) else None
        except (ValueError, KeyError):
            continue
        e = end_location(morph, i, x) if i is not None else None
        if e is not None:
            out.add(e)
    return tuple(sorted(out))


def cell_free_ends(cell) -> tuple:
    """:func:`free_ends` of a Cell's point processes and recorded places.
    ``cell._placed`` only grows (an entry replaced keeps its place), so
    only the entries added since the last call are read (a NeuroML
    network adds one synapse per connection and asks for the
    discretisation in between)."""
    morph, placed = cell.morphology, cell._placed
    memo = cell.__dict__.get("_tip_memo")
    if memo is None or memo[0] is not morph or memo[1] is not placed:
        memo = (morph, placed, 0, frozenset())
    if memo[2] < len(placed):
        ends = free_ends(morph, [at for it, at in placed[memo[2]:] if it.point])
        memo = (morph, placed, len(placed), memo[3] | set(ends))
    cell._tip_memo = memo
    return tuple(sorted(memo[3] | set(free_ends(morph, cell._rec_locs))))


def end_places(names) -> set[str]:
    """The places at a section's end (x = 0 or 1) among recorded names
    ``"dend[3](1).v"``."""
    from .ir.morphology import _LOC

    out = set()
    for q in names:
        loc, sep, _var = str(q).rpartition(".")
        m = _LOC.match(loc) if sep else None
        if m is None or m.group(2) is None:
            continue
        try:
            if float(m.group(2)) in (0.0, 1.0):
                out.add(loc)
        except ValueError:
            continue
    return out


def delete_sections(morph, secs) -> "Morphology":  # noqa: F821
    """A new Morphology without the sections ``secs`` (indices), as NEURON's
    ``delete_section``; the others keep their names and order, and groups
    lose the deleted members (a group left empty is dropped). A section
    whose parent is deleted must be deleted too (NEURON would leave it
    unattached: say what to do with it)."""
    from dataclasses import replace

    from .ir.morphology import Morphology, SectionGroup

    secs = set(secs)
    if 0 in secs:
        raise OptionError(f"cannot delete the root section {morph.sections[0].name}", element="delete")
    orphans = [s.name for i, s in enumerate(morph.sections)
               if i not in secs and s.parent is not None and s.parent in secs]
    if orphans:
        raise OptionError(f"deleting these sections would leave {', '.join(orphans[:5])} unattached: "
                          "delete them too, or attach new sections with create", element="delete")
    keep = [i for i in range(len(morph.sections)) if i not in secs]
    new = {old: k for k, old in enumerate(keep)}
    sections = tuple(replace(morph.sections[i], parent=None if morph.sections[i].parent is None
                             else new[morph.sections[i].parent]) for i in keep)
    groups = []
    for g in morph.groups:
        members = tuple(new[i] for i in g.sections if i in new)
        if members:
            groups.append(SectionGroup(g.name, members, neurolex_id=g.neurolex_id))
    names = ", ".join(morph.sections[i].name for i in sorted(secs))
    return Morphology(sections=sections, groups=tuple(groups), file=morph.file, format=morph.format,
                      notes=morph.notes + (f"deleted: {names}",))


def add_cylinder(morph, name: str, *, L: float, diam: float, parent: int, parent_x: float,
                 region: str | None = None, groups=("all",)) -> "Morphology":  # noqa: F821
    """A new Morphology with a cylinder appended: NEURON's ``create name``,
    ``name.L = L``, ``name.diam = diam`` (a section without 3-D points),
    ``connect name(0), parent(parent_x)``. ``region`` defaults to the
    name's stem (``axon`` for ``axon[0]``); the section joins ``groups``
    (created when absent). Its two points lie along x from the origin
    (NEURON gives such a section no 3-D points; only L and diam matter)."""
    from .ir.morphology import SWC_TYPE_NAMES, Morphology, Section, SectionGroup

    if name in morph.names:
        raise OptionError(f"a section {name!r} exists already", element="create")
    for k, v in (("L", L), ("diam", diam)):
        if not v > 0:
            raise OptionError(f"{k} of {name} must be positive (got {v})", element=k)
    if not 0.0 <= parent_x <= 1.0:
        raise OptionError(f"{name}: x on the parent must be within 0..1", element="at")
    region = region or name.split("[")[0]
    stype = next((t for t, r in SWC_TYPE_NAMES.items() if r == region), 0)
    k = len(morph.sections)
    sec = Section(name=name, type=stype, region=region, parent=int(parent), parent_x=float(parent_x),
                  points=((0.0, 0.0, 0.0, float(diam)), (float(L), 0.0, 0.0, float(diam))))
    groups = [groups] if isinstance(groups, str) else list(groups or ())
    out = []
    for g in morph.groups:
        out.append(SectionGroup(g.name, g.sections + (k,), g.segments, g.neurolex_id)
                   if g.name in groups else g)
    out += [SectionGroup(g, (k,)) for g in groups if g not in {x.name for x in morph.groups}]
    return Morphology(sections=morph.sections + (sec,), groups=tuple(out), file=morph.file,
                      format=morph.format, notes=morph.notes + (f"created: {name} (L {L:g}, diam {diam:g})",))


def sections_of(morph, where) -> set[int]:
    if where is None:
        return set(range(len(morph.sections)))
    if isinstance(where, (list, tuple, set)):
        # a list of names (a NeuroML cell's hundreds of sections): one index, not a scan per name
        index: dict[str, set] = {}
        for i, s in enumerate(morph.sections):
            index.setdefault(s.region, set()).add(i)
            index.setdefault(s.name, set()).add(i)
        out = set()
        for w in where:
            hit = index.get(w) if isinstance(w, str) else None
            out |= hit if hit else sections_of(morph, w)
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
    """(ModelIR, units, index, discretisation) for a branched cell;
    ``index`` maps a node to (group id, instance). Compartments of the same
    composition (the same mechanisms, whatever their parameter values) are
    one group (:mod:`nmlcell.passes.share_groups`)."""
    from .ir.model import Cable, ModelIR, Network
    from .passes.share_groups import Compositions, merge_parts

    shared = Compositions()
    parts, disc = cable_parts(cell, phase, shared)
    groups, members, place = merge_parts(parts)
    groups = [replace(g, emits_spikes=False) for g in groups]
    index = {n: (gid, off + i) for pt, (gid, off) in zip(parts, place) for i, n in enumerate(pt.nodes)}
    cable = Cable(parent=disc.parents, ri=tuple(c.ri for c in disc.compartments), area=disc.areas,
                  members=members)
    net = Network("cell", tuple(groups), temperature=float(celsius) + 273.15, cable=cable)
    morph = disc.morphology
    return (ModelIR(name="cell", file=str(morph.file or "<nmlcell.Cell>"), network=net), shared.units, index,
            disc)


def cable_parts(cell, phase, shared, *, labels: dict | None = None, component: str = ""):
    """(parts, discretisation): the compartments of ``cell`` cut into
    :class:`~nmlcell.passes.share_groups.Part` s of one composition each
    (nodes numbered within the cell), composed through ``shared``. With
    ``labels`` (a dict, filled with label -> name in its compartment), a
    point process is named after its place among those of its mechanism in
    its compartment (``GABA_syn[0]``, ``GABA_syn[1]``... in every
    compartment), so that compartments carrying the same synapses share a
    composition (NeuroML networks: a synapse per connection)."""
    from .cell_params import apply_param_sets
    from .passes.compartment import Geometry, Inserted
    from .passes.compartment_params import _declared_unit_value

    disc = cell.discretisation()
    morph = disc.morphology
    dist = path_distances(disc)
    dens = [it for it in cell._placed if not it[0].point]
    pps = [it for it in cell._placed if it[0].point]
    where_secs = [sections_of(morph, w) for _it, w in dens]
    varying = [_varying_values(disc, dist, it, secs) for (it, _w), secs in zip(dens, where_secs)]
    # cell.set's values of the mechanisms' parameters, in call order over the inserts'
    apply_param_sets(cell, disc, dist, [(k, it) for k, (it, _w) in enumerate(cell._placed) if not it.point],
                     where_secs, varying)
    pp_node: dict[int, list] = {}
    for it, at in pps:
        pp_node.setdefault(cell._locate(disc, at), []).append(it)
    if labels is not None:
        for k, its in pp_node.items():
            seen: dict[str, int] = {}
            local = []
            for it in its:
                j = seen.get(it.mech.name, 0)
                seen[it.mech.name] = j + 1
                labels[it.label] = f"{it.mech.name}[{j}]"
                local.append(replace(it, label=labels[it.label]))
            pp_node[k] = local
    sig = []
    for k, c in enumerate(disc.compartments):
        if c.area == 0.0:  # NEURON's zero-area end node: no membrane; a point process there is a part
            sig.append(("__end__",) if k not in pp_node else ("__end_pp__", k))
            continue
        names = tuple(j for j, secs in enumerate(where_secs) if c.section in secs)
        # a compartment holding point processes is a part of its own (their values are its own)
        sig.append((names, k if k in pp_node else -1))
    by_sig: dict[tuple, list[int]] = {}
    for k, s in enumerate(sig):
        by_sig.setdefault(s, []).append(k)
    parts = []
    for s, nodes in by_sig.items():
        end, pp_end = s == ("__end__",), s[0] == "__end_pp__"
        first = nodes[0]
        items, funcs = [], []
        if not end and not pp_end:
            for j in s[0]:
                it = dens[j][0]
                fixed = {kk: v for kk, v in it.params.items() if kk not in varying[j]}
                for kk, arr in varying[j].items():
                    fixed[kk] = float(arr[first])
                    funcs.append((it, kk, arr))
                items.append(Inserted(it.mech, it.label, fixed))
            items += list(pp_node.get(first, ()))
        c0 = disc.compartments[first]
        seg_L = disc.L[c0.section] / disc.nseg[c0.section] if disc.L else 1.0
        geo = Geometry(L=seg_L, diam=max(c0.area, 1e-12) / (math.pi * seg_L), cm=c0.cm, Ra=c0.Ra)
        if pp_end:  # NEURON: no capacitance, point currents scaled by its area taken as 100 um2
            items = list(pp_node[first])
            geo = Geometry(L=1.0, diam=100.0 / math.pi, cm=0.0, Ra=c0.Ra)
        over = {}
        comps = [disc.compartments[k] for k in nodes]
        if len(nodes) > 1 or end:
            lens = [disc.L[c.section] / disc.nseg[c.section] if c.area > 0 else 1.0 for c in comps]
            over["area"] = tuple(c.area for c in comps)
            over["cm"] = tuple(c.cm if c.area > 0 else 0.0 for c in comps)
            over["L"] = tuple(lens)
            over["diam"] = tuple(c.area / (math.pi * ln) if c.area > 0 else 0.0 for c, ln in zip(comps, lens))
            over["Ra"] = tuple(c.Ra for c in comps)
        for it, kk, arr in funcs:
            p = next(pp for pp in it.mech.parameters if pp.name == kk)
            over[f"{kk}_{it.label}"] = tuple(_declared_unit_value(p, float(arr[k])) for k in nodes)
        pt = shared.part(geo, items, v_init=cell.v_init, phase=phase, end=end, nodes=nodes, over=over,
                         component=component)
        if not end and not pp_end:
            pt.over.update(_ion_overrides(cell, morph, pt.mech, comps))
        parts.append(pt)
    return parts, disc


def _varying_values(disc, dist, it, secs) -> dict[str, np.ndarray]:
    """The parameters of one insert that differ between compartments: name ->
    value at every node (the file's unit). A callable is evaluated at each
    compartment's path distance; a mapping location -> value is applied in
    order as NEURON's ``sec(x).name = value`` (:func:`assignment_node`), over
    the parameter's default."""
    out = {}
    mine = [k for k, c in enumerate(disc.compartments) if c.section in secs and c.area > 0.0]
    for name, v in it.params.items():
        if callable(v):
            arr = np.full(len(dist), np.nan)
            arr[mine] = [float(v(dist[k])) for k in mine]
            out[name] = arr
        elif isinstance(v, Mapping):
            p = next((pp for pp in it.mech.parameters if pp.name == name), None)
            if p is None:
                continue  # compose reports the unknown name
            arr = np.full(len(dist), np.nan)
            for loc, val in v.items():
                k = assignment_node(disc, loc)
                if disc.compartments[k].section not in secs:
                    raise OptionError(f"{name} of {it.label} at {loc}: {it.label} is not inserted in "
                                      f"{disc.morphology.sections[disc.compartments[k].section].name}",
                                      element="insert")
                arr[k] = float(val)
            unset = np.isnan(arr)
            if unset.any():  # the declared default, in the file's unit (as the values given)
                from .passes.compartment_params import _declared_unit_value

                arr[unset] = p.value / _declared_unit_value(p, 1.0)
            out[name] = arr
    return out


def _ion_overrides(cell, morph, mech, comps) -> dict[str, tuple]:
    """Per-instance values of ion parameters set with ``cell.set(ek=...)``
    for one group's compartments (later settings win)."""
    params = {p.name: p for p in mech.parameters}
    out = {}
    for where, name, value in cell._ion_set:
        secs = sections_of(morph, where)
        hit = [i for i, c in enumerate(comps) if c.section in secs]
        if not hit:
            continue
        p = params.get(name)
        if p is None or not (p.source.origin or "").endswith("_ion"):
            where_txt = morph.sections[comps[hit[0]].section].name
            why = ("it follows the Nernst equation there (a mechanism uses the ion's concentration)"
                   if name in {d.name for d in mech.derived} else "no mechanism there uses that ion")
            raise OptionError(f"cannot set {name} in {where_txt}: {why}", element="set")
        vals = list(out.get(name, (p.value,) * len(comps)))
        for i in hit:
            vals[i] = float(value)
        out[name] = tuple(vals)
    return out
