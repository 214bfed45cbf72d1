"""Channel densities of a multi-compartment NeuroML cell placed on its
sections as jNeuroML's NEURON export places them (used by
:class:`nmlcell.importers.nml_cell.NmlCell`).

- ``channelDensity``: ``insert <channel>``, ``gmax`` and ``erev`` on the
  sections of its segment group.
- ``channelDensityVShift``: as ``channelDensity``, and the channel's own
  ``vShift`` parameter set to the density's (the export writes
  ``vShift_<channel> = ...`` on the sections).
- ``channelDensityNernst``: the same without ``erev``; the mechanism reads
  NEURON's ``e<ion>`` (Nernst where a pool writes the concentration).
- ``channelDensityGHK``: ``permeability`` (cm/s) instead of ``gmax``, the
  current from the export's ``ghk(v, cai, cao)``; ``channelDensityGHK2``:
  ``gmax`` and the export's ``ghk2(v, cai, cao)`` (mV) as driving force.
- ``channelDensityNonUniform`` / ``channelDensityNonUniformNernst``: each
  ``variableParameter parameter="condDensity"`` sets ``gmax`` per segment
  from its ``inhomogeneousValue``, an expression in the variable of an
  ``inhomogeneousParameter`` of the morphology. The export evaluates it
  with NEURON's ``SubsetDomainIterator`` (nrn/lib/hoc/subiter.hoc, path
  style 0): for every segment centre of the group's sections, the path
  distance from the 0 end of the root section (``distance()`` there); with
  ``<proximal>`` (``proximal_style`` 1) the smallest distance over the
  group's sections (ends included) is subtracted, with ``<distal>``
  (``distal_style`` 1) the result is divided by the largest (at least 1).
  The expression gives S/m2 (the export multiplies by 1e-4 into S/cm2).
- ``channelDensityNonUniformGHK``: the same for ``permeability`` (m/s, the
  export multiplies by 100 into cm/s) of a GHK density.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from ..errors import ModelImportError, OptionError
from ..ir.expr import parse, sym

_METRIC = "Path Length from root"


def export_number(si: float, factor: float) -> float:
    """``si * factor`` as jNeuroML's NEURON export writes it into hoc: the
    product taken in single precision (Java floats) and printed in full,
    e.g. 2.5 S/m2 -> ``gmax = 2.4999998E-4`` S/cm2. Read back as NEURON
    reads the hoc (a double). Exact values would differ by up to 1e-7
    relative, enough to move a late spike of Traub's TCR by 0.02 ms."""
    import numpy as np

    return float(str(np.float32(np.float32(si) * np.float32(factor))))


def place_densities(nc, c, mp) -> None:
    """Insert every channel density of ``mp`` (libNeuroML
    membraneProperties) into ``c`` (the recording Cell of ``nc``)."""
    for cd in mp.channel_densities:
        if cd.variable_parameters:
            nc.unsupported.append(nc._where(f"variableParameter in channelDensity '{cd.id}'"))
        gmax = export_number(nc._q(cd.cond_density, "conductanceDensity", f"condDensity of {cd.id}"), 1e-4)
        erev = export_number(nc._q(cd.erev, "voltage", f"erev of {cd.id}"), 1e3)
        _place(nc, c, "channelDensity", cd, "gmax", gmax, erev=erev)
    for cd in mp.channel_density_v_shifts:
        if cd.variable_parameters:
            nc.unsupported.append(nc._where(f"channelDensityVShift '{cd.id}' with variableParameter"))
            continue
        gmax = export_number(nc._q(cd.cond_density, "conductanceDensity", f"condDensity of {cd.id}"), 1e-4)
        erev = export_number(nc._q(cd.erev, "voltage", f"erev of {cd.id}"), 1e3)
        vshift = export_number(nc._q(cd.v_shift, "voltage", f"vShift of {cd.id}"), 1e3)
        m = nc._density(cd.ion_channel, cd.ion, label=f"channelDensityVShift '{cd.id}'")
        if m is not None and "vShift" not in {p.name for p in m.parameters}:
            nc.unsupported.append(nc._where(f"channelDensityVShift '{cd.id}': ion channel '{cd.ion_channel}' "
                                            "has no vShift parameter (an ionChannelVShift has)"))
            continue
        _place(nc, c, "channelDensityVShift", cd, "gmax", gmax, erev=erev, vShift=vshift)
    for cd in mp.channel_density_nernsts:
        if cd.variable_parameters:
            nc.unsupported.append(nc._where(f"channelDensityNernst '{cd.id}' with variableParameter"))
            continue
        gmax = export_number(nc._q(cd.cond_density, "conductanceDensity", f"condDensity of {cd.id}"), 1e-4)
        _place(nc, c, "channelDensityNernst", cd, "gmax", gmax, nernst=True)
    for cd in mp.channel_density_ghks:
        perm = export_number(nc._q(cd.permeability, "permeability", f"permeability of {cd.id}"), 1e2)  # m/s -> cm/s
        _place(nc, c, "channelDensityGHK", cd, "permeability", perm, ghk=True)
    for cd in mp.channel_density_ghk2s:
        gmax = export_number(nc._q(cd.cond_density, "conductanceDensity", f"condDensity of {cd.id}"), 1e-4)
        _place(nc, c, "channelDensityGHK2", cd, "gmax", gmax, ghk2=True)
    for cd in getattr(mp, "channel_populations", None) or ():
        _population(nc, c, cd)
    for tag, attr, nernst in (("channelDensityNonUniform", "channel_density_non_uniforms", False),
                              ("channelDensityNonUniformNernst", "channel_density_non_uniform_nernsts", True)):
        for cd in getattr(mp, attr, None) or ():
            extra = {} if nernst else {"erev": export_number(nc._q(cd.erev, "voltage", f"erev of {cd.id}"), 1e3)}
            for vp in cd.variable_parameters:
                if vp.parameter != "condDensity":
                    nc.unsupported.append(nc._where(f"{tag} '{cd.id}': variableParameter '{vp.parameter}' "
                                                    "(condDensity is supported)"))
                    continue
                secs = nc._sections(vp.segment_groups, f"variableParameter of {tag} '{cd.id}'", tag, cd.id)
                gmax = inhomogeneous_values(nc, vp, tag, cd.id, secs)
                _insert(nc, c, tag, cd, secs, nernst=nernst, gmax=gmax, **extra)
    for cd in getattr(mp, "channel_density_non_uniform_ghks", None) or ():
        tag = "channelDensityNonUniformGHK"
        for vp in cd.variable_parameters:
            if vp.parameter != "permeability":
                nc.unsupported.append(nc._where(f"{tag} '{cd.id}': variableParameter '{vp.parameter}' "
                                                "(permeability is supported)"))
                continue
            secs = nc._sections(vp.segment_groups, f"variableParameter of {tag} '{cd.id}'", tag, cd.id)
            perm = inhomogeneous_values(nc, vp, tag, cd.id, secs, factor=1e2)  # m/s -> cm/s
            _insert(nc, c, tag, cd, secs, ghk=True, permeability=perm)


def _place(nc, c, tag, cd, name, value, *, nernst=False, ghk=False, ghk2=False, **params):
    """Insert density ``cd`` on its segment group, or on its one segment
    (``segment=``, :func:`segment_values`): ``name`` (gmax or permeability)
    set to ``value``."""
    if cd.segments is not None and cd.segments != "":
        secs, vals = segment_values(nc, cd.segments, value, tag, cd.id)
        if secs:
            _insert(nc, c, tag, cd, secs, nernst=nernst, ghk=ghk, ghk2=ghk2, **{name: vals}, **params)
        return
    secs = nc._sections(cd.segment_groups, f"{tag} '{cd.id}'", tag, cd.id)
    _insert(nc, c, tag, cd, secs, nernst=nernst, ghk=ghk, ghk2=ghk2, **{name: value}, **params)


def _discretisation(nc):
    if getattr(nc, "_disc", None) is None:
        from ..cell import Cell

        nc._disc = Cell(nc.morphology).discretisation()
    return nc._disc


def segment_compartments(nc, seg, tag: str, cid: str):
    """(section name, [(x, area um2) of every compartment of the section],
    [the x of those whose centre lies on segment ``seg``])."""
    try:
        seg = int(seg)
    except (TypeError, ValueError):
        seg = None
    if seg not in nc.seg_at:
        raise ModelImportError(f"{tag} '{cid}': cell '{nc.id}' has no segment {seg}", file=nc.file,
                               line=nc.line_of(tag, cid), element=f'{tag} id="{cid}"')
    i, a, b = nc.seg_at[seg]
    disc = _discretisation(nc)
    sec = nc.morphology.sections[i]
    n = disc.nseg[i]
    comps = [((k + 0.5) / n, disc.compartments[disc.first[i] + k].area) for k in range(n)]
    last = b >= 1.0
    mine = [x for x, _ar in comps if a <= x < b or (last and x == b)]
    return sec.name, comps, mine


def segment_values(nc, seg, value: float, tag: str, cid: str):
    """([section], value) for a density on segment ``seg`` (NeuroML's
    ``segment=``): the whole section when the segment is all of it, else
    ``{"sec(x)": value}`` on the compartments whose centre lies on the
    segment and 0 on the section's others (the mechanism is inserted on the
    whole section, as NEURON can only insert it there). A segment holding no
    compartment centre (shorter than a compartment) is unsupported."""
    name, comps, mine = segment_compartments(nc, seg, tag, cid)
    if not mine:
        nc.unsupported.append(nc._where(f"{tag} '{cid}' on segment {seg}, which holds no compartment centre of "
                                        f"section {name} (nseg {len(comps)})"))
        return [], None
    return [name], _on_segment(name, comps, mine, value)


def _on_segment(name, comps, mine, value):
    """``value`` on the whole section when its compartments are all
    ``mine``, else ``{"sec(x)": value}`` on ``mine`` and 0 on the others."""
    if len(mine) == len(comps):
        return value
    return {f"{name}({x!r})": (value if x in mine else 0.0) for x, _ar in comps}


def _population(nc, c, cd):
    """A ``channelPopulation``: ``number`` channels of conductance ``g``
    (the ion channel's ``conductance``) on one segment (``segment=``, or a
    segment group holding one segment). LEMS: ``i = number g fopen (erev -
    v)`` on that segment; NEURON's export refuses channel populations on
    multi-compartment cells (CHANNEL_POPULATIONS_CELL_MODEL); here the
    density ``number g / area`` on the compartments whose centres lie on the
    segment (their area: the segment's in NEURON's discretisation)."""
    tag = "channelPopulation"
    seg = cd.segments
    if seg is None or seg == "":
        g = next((g for g in nc.morphology.groups if g.name == cd.segment_groups), None) \
            if cd.segment_groups not in (None, "") else None
        segs = list(g.segments) if g is not None else (list(nc.seg_at) if cd.segment_groups in (None, "", "all")
                                                       else None)
        if segs is None:
            nc._sections(cd.segment_groups, f"{tag} '{cd.id}'", tag, cd.id)  # the error naming the group
        if len(segs) != 1:
            nc.unsupported.append(nc._where(f"{tag} '{cd.id}' on segmentGroup '{cd.segment_groups or 'all'}' "
                                            f"of {len(segs)} segments (a channelPopulation on one segment is "
                                            "supported: how its number spreads over several is not defined)"))
            return
        seg = segs[0]
    chan = nc.model.components[cd.ion_channel] if cd.ion_channel in nc.model.components else None
    if chan is None or "conductance" not in chan.parameters:
        nc.unsupported.append(nc._where(f"{tag} '{cd.id}': ion channel '{cd.ion_channel}' has no conductance"))
        return
    g1 = nc._q(chan.parameters["conductance"], "conductance", f"conductance of {cd.ion_channel}")  # S
    number = float(cd.number)
    name, comps, mine = segment_compartments(nc, seg, tag, cd.id)
    area = math.fsum(ar for x, ar in comps if x in mine)  # um2
    if not mine or area <= 0.0:
        nc.unsupported.append(nc._where(f"{tag} '{cd.id}' on segment {seg}, which holds no compartment centre "
                                        f"of section {name}"))
        return
    dens = number * g1 / (area * 1e-8)  # S/cm2
    erev = nc._q(cd.erev, "voltage", f"erev of {cd.id}") * 1e3
    _insert(nc, c, tag, cd, [name], gmax=_on_segment(name, comps, mine, dens), erev=erev)


def _insert(nc, c, tag, cd, secs, *, nernst=False, ghk=False, ghk2=False, **params):
    m = nc._density(cd.ion_channel, cd.ion, nernst=nernst, label=f"{tag} '{cd.id}'", ghk=ghk, ghk2=ghk2)
    if m is None:
        return
    nc.mechanisms[cd.id] = m
    try:
        c.insert(m, where=secs, **params)
    except OptionError:
        nc.unsupported.append(nc._where(f"{tag} '{cd.id}': ion channel '{cd.ion_channel}' placed twice on "
                                        "some sections"))


def _inhomogeneous_parameter(nc, ident: str, tag: str, cid: str):
    for g in nc.nml_cell.morphology.segment_groups:
        for ip in g.inhomogeneous_parameters or ():
            if ip.id == ident:
                return g, ip
    raise ModelImportError(f"{tag} '{cid}': inhomogeneousParameter '{ident}' is defined in no segmentGroup "
                           f"of cell '{nc.id}'", file=nc.file, line=nc.line_of(tag, cid), element=f"{tag} id=\"{cid}\"")


def _root_distance(nc):
    """f(section, x) -> NEURON's path distance from the root section's 0
    end (``distance()`` there), built once per cell."""
    if getattr(nc, "_root_dist", None) is None:
        from ..cable_cell import _distance_from

        disc = _discretisation(nc)
        root = next(i for i, s in enumerate(nc.morphology.sections) if s.parent is None)
        nc._root_dist = _distance_from(disc, (root, 0.0))
    return nc._root_dist


def inhomogeneous_values(nc, vp, tag: str, cid: str, secs: list[str], factor: float = 1e-4) -> dict[str, float]:
    """``{"sec(x)": value * factor}`` for every segment of ``secs``, as the
    export's ``SubsetDomainIterator`` loop sets them (the value in SI;
    ``factor`` 1e-4 for S/m2 -> S/cm2, 1e2 for a permeability's m/s ->
    cm/s, the export's conversion factors)."""
    iv = vp.inhomogeneous_value
    if iv is None:
        raise ModelImportError(f"{tag} '{cid}': variableParameter without inhomogeneousValue",
                               file=nc.file, line=nc.line_of(tag, cid), element=f"{tag} id=\"{cid}\"")
    g, ip = _inhomogeneous_parameter(nc, iv.inhomogeneous_parameters, tag, cid)
    if g.id != vp.segment_groups:
        nc.notes.append(f"{tag} '{cid}': inhomogeneousParameter '{ip.id}' is defined on segmentGroup "
                        f"'{g.id}' and used on '{vp.segment_groups}'; distances are measured over the latter, "
                        "as the export does")
    if (ip.metric or _METRIC) != _METRIC:
        nc.unsupported.append(nc._where(f"inhomogeneousParameter '{ip.id}' with metric '{ip.metric}' "
                                        f"('{_METRIC}' is supported)"))
        return {}
    var = ip.variable or "p"
    try:
        expr = parse(str(iv.value), {var: sym(var)}, where=f" (inhomogeneousValue of {tag} '{cid}')",
                     file=nc.file, line=nc.line_of(tag, cid), element=tag)
    except ModelImportError:
        raise
    # the export's hoc H(x) is 1 for x >= 0
    expr = expr.replace(lambda e: isinstance(e, sp.Piecewise) and len(e.args) == 2
                        and isinstance(e.args[0].cond, sp.StrictGreaterThan) and e.args[0].cond.rhs == 0
                        and e.args[0].expr == 1 and e.args[1].expr == 0,
                        lambda e: sp.Piecewise((sp.Integer(1), e.args[0].cond.lhs >= 0), (sp.Integer(0), True)))
    extra = expr.free_symbols - {sym(var)}
    if extra:
        raise ModelImportError(f"{tag} '{cid}': inhomogeneousValue '{iv.value}' names "
                               f"{', '.join(sorted(s.name for s in extra))}, not the variable '{var}'",
                               file=nc.file, line=nc.line_of(tag, cid), element=tag)
    f = sp.lambdify(sym(var), expr, modules="numpy")
    dist = _root_distance(nc)
    morph = nc.morphology
    index = {s.name: i for i, s in enumerate(morph.sections)}
    centres, ends = [], []
    for name in secs:
        i = index[name]
        n = morph.sections[i].nseg or 1
        for k in range(n):
            x = (k + 0.5) / n
            centres.append((name, x, dist(i, x)))
        ends += [dist(i, 0.0), dist(i, 1.0)]
    if not centres:
        return {}
    d = np.array([c[2] for c in centres])
    p0 = min(min(ends), float(d.min()))
    p1 = max(1.0, max(ends), float(d.max()))
    if ip.proximal is not None:
        d = d - p0 + float(ip.proximal.translation_start or 0.0)
        p1 -= p0
    if ip.distal is not None:
        d = d / p1 * float(ip.distal.normalization_end or 1.0)
    vals = factor * np.broadcast_to(np.asarray(f(d), dtype=float), d.shape)
    return {f"{name}({x!r})": float(v) for (name, x, _), v in zip(centres, vals)}
