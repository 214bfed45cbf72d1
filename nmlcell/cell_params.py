"""A density mechanism's parameters set after ``insert``: ``Cell.set``.

NEURON scripts insert a mechanism and then assign its parameters, per
section list and as functions of distance, in several passes::

    forsec "apical" { gIhbar_Ih = 2e-4 }          # cell.set(gIhbar_Ih=2e-4, where="apic")
    for seg in sec: seg.gbar_na = f(h.distance(seg))   # cell.set("na", where=sec, gbar=f)
    h.ehcn_Ih = -45                                # a GLOBAL: cell.set(ehcn_Ih=-45)

Each call is kept as a :class:`ParamSet` and applied, in call order, over
the values ``insert`` gave, when the cell is built
(:func:`apply_param_sets`): a later call wins on the compartments it
covers, as sequential NEURON assignments do. Values stay values: a new
value reaches the next run through :mod:`nmlcell.model_cache` without
lowering or compiling again.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import OptionError


@dataclass(frozen=True)
class ParamSet:
    """One ``cell.set`` of one parameter: mechanism name, where (as
    ``insert`` takes it), the parameter's name in the file, the value (a
    number, a callable of the path distance in µm, or location -> number
    as NEURON's ``sec(x).name = value``), ``pos``, how many inserts/adds
    the cell had then (it applies to those before it), and whether the
    parameter is a NEURON GLOBAL (then it also applies to later inserts
    that do not give it a value, as NEURON's one value would)."""
    mech: str
    where: Any
    name: str
    value: Any
    pos: int
    is_global: bool = False


def neuron_global(m, p) -> bool:
    """Whether NEURON keeps one value of parameter ``p`` of density
    mechanism ``m`` for all sections: declared GLOBAL, or a PARAMETER not
    declared RANGE (nrnivmodl makes those GLOBAL)."""
    if p.name in m.globals:
        return True
    return m.units == "neuron" and (p.source.origin or "") == "PARAMETER" and p.name not in m.range


def _items(cell) -> list:
    return list(cell._inserted) if cell.morphology is None else [it for it, _w in cell._placed]


def _inserted(cell) -> dict:
    """Density mechanisms inserted so far: name -> [(position, Inserted, where)]."""
    out: dict[str, list] = {}
    if cell.morphology is None:
        for k, it in enumerate(cell._inserted):
            if not it.point:
                out.setdefault(it.mech.name, []).append((k, it, None))
    else:
        for k, (it, w) in enumerate(cell._placed):
            if not it.point:
                out.setdefault(it.mech.name, []).append((k, it, w))
    return out


def _suffixed(name: str, inserted: dict):
    """``gnabar_hh`` -> ("hh", "gnabar") against the inserted mechanisms;
    None when no inserted mechanism's suffix ends the name."""
    hits, suffix_only = [], []
    for mech, items in inserted.items():
        if name.endswith("_" + mech) and len(name) > len(mech) + 1:
            prefix = name[:-len(mech) - 1]
            if prefix in {p.name for p in items[0][1].mech.parameters}:
                hits.append((mech, prefix))
            else:
                suffix_only.append(mech)
    if len(hits) > 1:
        raise OptionError(f"cell.set: {name!r} could be a parameter of "
                          f"{' or '.join(h[0] for h in hits)}: give the mechanism, cell.set('{hits[0][0]}', "
                          f"{hits[0][1]}=...)", element=name)
    if hits:
        return hits[0]
    if suffix_only:
        m = inserted[suffix_only[0]][0][1].mech
        raise OptionError(f"cell.set: {m.name} has no parameter {name[:-len(m.name) - 1]!r} ({name}; its "
                          f"parameters: {', '.join(p.name for p in m.parameters)})", file=m.source.file,
                          element=name)
    return None


def _is_ion_value(name: str) -> bool:
    return (name.startswith("e") and "_" not in name) or name.endswith("_ion")


def resolve(cell, mech, where, values: dict) -> tuple[list[ParamSet], dict]:
    """Check one ``cell.set`` call: (mechanism settings, ion values left
    for the section-variable path). Raises OptionError naming the option."""
    inserted = _inserted(cell)
    listed = ", ".join(sorted(inserted)) or "none"
    pairs, ions = [], {}
    if mech is not None:
        from .ir.mechanism import Mechanism

        name = mech if isinstance(mech, str) else mech.name if isinstance(mech, Mechanism) else None
        if name is None:
            raise OptionError(f"cell.set: not a mechanism: {mech!r}", element="set")
        if name not in inserted:
            if any(it.point and it.mech.name == name for it in _items(cell)):
                raise OptionError(f"cell.set: {name} is a point process: set its values on the PointProcess "
                                  f"(stim.amp = 0.3)", element=name)
            raise OptionError(f"cell.set: {name} is not inserted in this cell (inserted: {listed})", element=name)
        m = inserted[name][0][1].mech
        params = {p.name for p in m.parameters}
        for k in values:
            if k not in params:
                raise OptionError(f"cell.set: {name} has no parameter {k!r} (its parameters: "
                                  f"{', '.join(p.name for p in m.parameters)})", file=m.source.file, element=k)
            pairs.append((name, k, values[k]))
    else:
        for k, v in values.items():
            hit = _suffixed(k, inserted)
            if hit is not None:
                pairs.append((hit[0], hit[1], v))
            elif _is_ion_value(k):
                ions[k] = v
            else:
                raise OptionError(f"cell.set: {k!r} is not cm, Ra, an ion value (ek, ena, ..., cai0_ca_ion) or "
                                  f"a parameter of an inserted mechanism as NEURON names it (gnabar_hh; "
                                  f"inserted: {listed})", element=k)
    out = []
    for name, k, v in pairs:
        items = inserted[name]
        m = items[0][1].mech
        p = next(pp for pp in m.parameters if pp.name == k)
        label = f"{k}_{name}"
        if p.constant:
            raise OptionError(f"cell.set: {label} is a CONSTANT of {m.name}", file=m.source.file,
                              line=p.source.line, element=label)
        glob = neuron_global(m, p)
        if glob:
            how = ("values by location" if isinstance(v, Mapping) else "a function of distance" if callable(v)
                   else None)
            if where is not None or how:
                raise OptionError(f"cell.set: {label} is GLOBAL in {m.name} (one value for every section, as "
                                  f"in NEURON): " + (f"one number, not {how}" if how else "set it without where="),
                                  file=m.source.file, line=p.source.line, element=label)
        if isinstance(v, Mapping):
            v = _locations(cell, name, items, where, label, v)
        elif not (callable(v) or isinstance(v, (int, float, np.floating, np.integer))):
            raise OptionError(f"cell.set: {label} must be a number, a function of the path distance (um) or a "
                              f"mapping location -> number, not {v!r}", element=label)
        elif callable(v) and cell.morphology is None:
            raise OptionError(f"cell.set: {label} as a function of distance needs a morphology", element=label)
        elif glob:
            pass
        elif cell.morphology is not None:
            _check_inserted(cell, name, items, where, label)
        elif where not in (None, "soma"):
            raise OptionError("where= needs a morphology (nmlcell.Cell(morphology))", element="where")
        pos = len(cell._placed) if cell.morphology is not None else len(cell._inserted)
        out.append(ParamSet(name, where, k, v if callable(v) or isinstance(v, Mapping) else float(v), pos, glob))
    return out, ions


def _sections_with(morph, items) -> set:
    """The sections where the inserts ``items`` put the mechanism."""
    from .cable_cell import sections_of

    return set().union(*(sections_of(morph, w) for _k, _it, w in items))


def _check_inserted(cell, name, items, where, label):
    from .cable_cell import sections_of

    morph = cell.morphology
    want, have = sections_of(morph, where), _sections_with(morph, items)
    missing = sorted(want - have)
    if missing:
        shown = ", ".join(morph.sections[i].name for i in missing[:6]) + (" ..." if len(missing) > 6 else "")
        raise OptionError(f"cell.set: {label}: {name} is not inserted in {len(missing)} of the sections "
                          f"where={where!r} picks: {shown}", element=label)


def _locations(cell, name, items, where, label, values) -> dict:
    """A mapping location -> number, checked: every location in a
    section ``where`` picks that carries the mechanism."""
    from .cable_cell import parse_location, sections_of

    if cell.morphology is None:
        raise OptionError(f"cell.set: {label} by location needs a morphology", element=label)
    morph = cell.morphology
    want, have = sections_of(morph, where), _sections_with(morph, items)
    out = {}
    for loc, val in values.items():
        i, _x = parse_location(morph, loc)
        if i not in want:
            raise OptionError(f"cell.set: {label} at {loc}: not in the sections where={where!r} picks",
                              element=label)
        if i not in have:
            raise OptionError(f"cell.set: {label} at {loc}: {name} is not inserted in {morph.sections[i].name}",
                              element=label)
        if not isinstance(val, (int, float, np.floating, np.integer)):
            raise OptionError(f"cell.set: {label} at {loc}: a number, not {val!r}", element=label)
        out[str(loc)] = float(val)
    return out


def apply_param_sets(cell, disc, dist, dens, where_secs, varying) -> None:
    """Apply ``cell._param_set`` in call order over the inserts' values:
    ``dens`` is [(position in cell._placed, Inserted)], ``where_secs``
    their sections, ``varying`` their per-node arrays (the file's unit,
    :func:`nmlcell.cable_cell._varying_values`), updated in place: every
    parameter a set touches becomes an array over the nodes."""
    from .cable_cell import assignment_node, sections_of
    from .passes.compartment_params import _declared_unit_value

    sets = cell._param_set
    if not sets:
        return
    morph = disc.morphology
    comps = disc.compartments
    node_sec = np.array([c.section for c in comps])
    live = np.array([c.area > 0.0 for c in comps])
    where_nodes: dict[int, np.ndarray] = {}
    for j, (pos, it) in enumerate(dens):
        mine = np.isin(node_sec, list(where_secs[j])) & live
        for n, s in enumerate(sets):
            if s.mech != it.mech.name or (s.pos <= pos and (not s.is_global or s.name in it.params)):
                continue
            arr = varying[j].get(s.name)
            if arr is None:
                p = next(pp for pp in it.mech.parameters if pp.name == s.name)
                v = it.params.get(s.name)
                base = float(v) if v is not None else p.value / _declared_unit_value(p, 1.0)
                arr = np.where(mine, base, np.nan)
                varying[j][s.name] = arr
            if n not in where_nodes:
                where_nodes[n] = np.isin(node_sec, list(sections_of(morph, s.where)))
            hit = np.nonzero(mine & where_nodes[n])[0]
            if isinstance(s.value, Mapping):
                for loc, val in s.value.items():
                    k = assignment_node(disc, loc)
                    if mine[k] and where_nodes[n][k]:
                        arr[k] = val
            elif callable(s.value):
                arr[hit] = [float(s.value(dist[k])) for k in hit]
            else:
                arr[hit] = s.value


def apply_to_compartment(cell, sets) -> None:
    """A one-compartment cell: the values go straight into its inserts."""
    for s in sets:
        for it in cell._inserted:
            if not it.point and it.mech.name == s.mech:
                it.params[s.name] = s.value


def with_ion_values(mech, ion_set):
    """A one-compartment cell's composed Mechanism with the ion values of
    ``cell.set(ek=-90.0)`` (NEURON's ``soma.ek = -90``), later calls
    winning; refused where the value follows Nernst or no mechanism uses
    the ion, as on a morphology (:func:`nmlcell.cable_cell._ion_overrides`)."""
    from dataclasses import replace

    if not ion_set:
        return mech
    values = {name: float(v) for _where, name, v in ion_set}
    params = []
    for p in mech.parameters:
        if p.name in values and (p.source.origin or "").endswith("_ion"):
            p = replace(p, value=values.pop(p.name))
        params.append(p)
    for name in values:
        why = ("it follows the Nernst equation there (a mechanism uses the ion's concentration)"
               if name in {d.name for d in mech.derived} else "no mechanism there uses that ion")
        raise OptionError(f"cannot set {name} in the soma: {why}", element="set")
    return replace(mech, parameters=tuple(params))
