"""Share one composed mechanism (one group, one generated kernel) between
all the compartments that carry the same mechanisms, within a cell and
across the cells of a network.

A branched cell's compartments are first cut into *parts* (the nodes with
the same inserted mechanisms and point processes, :func:`nmlcell.cable_cell.cable_parts`).
Each part's composition is keyed by its structure: the mechanisms (equal
ones count as one), their labels, the number of NetCons onto each point
process, the recorded current-phase columns. Parts with the same key are
composed once (:func:`~nmlcell.passes.compartment.compose`); the values
of the others (geometry, v_init, the inserts' parameters, NetCon weights)
come from :func:`~nmlcell.passes.compartment_params.param_values` and become
per-instance values of one group (:func:`merge_parts`). Parameters that
the lowering inlines (gate exponents, LEMS constants) must be equal within
a group: parts that differ there stay in groups of their own.

The number of groups, and so of traced and compiled kernels, is then the
number of distinct compositions, not the number of cells: acnet2's
MediumNet (60 cells, 984 synapses): 276 groups before, 7 now
(docs/performance.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass
class Part:
    """Compartments ``nodes`` of one composition ``key``: ``mech`` its
    composed mechanism, ``values`` this part's value of each parameter
    (name -> float, the same for all its nodes) and ``over`` the values
    that differ between its nodes (name -> tuple, one per node)."""
    key: tuple
    mech: object
    nodes: tuple
    values: dict
    over: dict = field(default_factory=dict)
    component: str = ""


class Compositions:
    """The compositions met so far (one per key) and the mechanisms they
    are made of; shared by every cell of a network so that each distinct
    composition is composed once. ``name(n)`` names the n-th one (its
    group's id), ``end`` the one of the zero-area end nodes."""

    def __init__(self, name=lambda n: f"g{n}", end: str = "end_nodes"):
        self._name, self._end = name, end
        self._mids: dict[int, int] = {}
        self._canon: list = []     # distinct mechanisms (equal ones share an index)
        self._keep: list = []
        self._known: dict = {}     # key -> (mech, units, values)
        self.units: dict[str, str] = {}
        self.composed = 0          # how many compose calls were made (tests, docs)

    def mech_id(self, m) -> int:
        k = self._mids.get(id(m))
        if k is None:
            k = next((j for j, c in enumerate(self._canon) if c is m or c == m), None)
            if k is None:
                k = len(self._canon)
                self._canon.append(m)
            self._mids[id(m)] = k
            self._keep.append(m)  # its id stays its own while this object lives
        return k

    def key(self, items, phase=(), end=False) -> tuple:
        """The structure of a compartment carrying ``items`` (Inserted, in
        the order compose sorts them)."""
        if end:
            return ("__end__",)
        return (tuple((self.mech_id(it.mech), it.label, it.point, tuple(len(w) for w in it.netcons))
                      for it in items), tuple(phase))

    def part(self, geo, items, *, v_init, phase=(), end=False, nodes=(), over=None, component="") -> Part:
        """The Part of compartments ``nodes`` (geometry ``geo`` and
        ``items`` as :func:`compose` takes them)."""
        from .compartment import compose
        from .compartment_params import param_values
        from .neuron_order import neuron_order

        items = sorted(items, key=neuron_order)
        key = self.key(items, phase, end)
        known = self._known.get(key)
        if known is None:
            name = self._end if end else self._name(sum(1 for k in self._known if k != ("__end__",)))
            mech, units = compose(geo, items, v_init=v_init, name=name, phase_columns=phase)
            self.composed += 1
            values = {p.name: p.value for p in mech.parameters}
            self._known[key] = (mech, units, values)
            self.units.update(units)
            return Part(key, mech, tuple(nodes), values, dict(over or {}), component)
        mech, _units, values0 = known
        mine = param_values(geo, items, v_init)
        extra = set(mine) - set(values0)
        if extra:  # param_values and compose disagree: a bug, not the user's
            raise AssertionError(f"composition {mech.name}: values for unknown parameters {sorted(extra)[:5]}")
        return Part(key, mech, tuple(nodes), {**values0, **mine}, dict(over or {}), component)


def merge_parts(parts: list[Part]):
    """(groups, members, place): one :class:`~nmlcell.ir.model.Group` per
    composition (and per set of inlined values), its instances the parts'
    nodes one part after the other; ``members`` group id -> nodes;
    ``place[k]`` = (group id, index of part k's first node in it)."""
    from ..ir.model import Group
    from ..lower.system import _static_params

    statics: dict[int, tuple] = {}
    classes: dict[tuple, list[int]] = {}
    for k, pt in enumerate(parts):
        st = statics.get(id(pt.mech))
        if st is None:
            st = statics[id(pt.mech)] = tuple(sorted(_static_params(pt.mech, {})))
        sub = tuple(pt.over[n] if n in pt.over else pt.values[n] for n in st)
        classes.setdefault((pt.key, sub), []).append(k)
    groups, members, place = [], {}, [None] * len(parts)
    used: dict[str, int] = {}
    for (_key, sub), ks in classes.items():
        first = parts[ks[0]]
        mech = first.mech
        st = statics[id(mech)]
        base = {p.name: p.value for p in mech.parameters}
        if any(base[n] != v for n, v in zip(st, sub) if not isinstance(v, tuple)):
            mech = replace(mech, parameters=tuple(
                replace(p, value=first.values[p.name]) if p.name in st else p for p in mech.parameters))
            base = {p.name: p.value for p in mech.parameters}
        gid = mech.name
        used[gid] = used.get(gid, 0) + 1
        if used[gid] > 1:
            gid = f"{gid}_{used[gid] - 1}"
        nodes, off = [], 0
        for k in ks:
            place[k] = (gid, off)
            nodes += parts[k].nodes
            off += len(parts[k].nodes)
        over = {}
        for name, default in base.items():
            vals = []
            for k in ks:
                pt = parts[k]
                vals += pt.over[name] if name in pt.over else (pt.values[name],) * len(pt.nodes)
            if any(v != default for v in vals):
                over[name] = tuple(vals)
        det = any("spike" in c.events for c in mech.conditions)
        groups.append(Group(gid, mech, len(nodes), component=first.component, overrides=over,
                            emits_spikes=det))
        members[gid] = tuple(nodes)
    return groups, members, place
