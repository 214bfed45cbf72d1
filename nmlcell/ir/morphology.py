"""The IR of a neuron's shape: sections of 3-D points, and their discretisation.

A :class:`Morphology` is what the morphology importers produce (SWC and
Neurolucida ``.asc`` through MorphIO, NeuroML ``<morphology>`` through
libNeuroML): unbranched *sections* of 3-D points ``(x, y, z, diameter)`` in
µm, each attached at a position ``parent_x`` (0..1) along its parent section,
plus named groups of sections for placing mechanisms. Section names follow
NEURON's (``soma[0]``, ``dend[3]``, ``apic[12]`` as Import3d names them; the
NeuroML section group ids for NeuroML cells), so ``"dend[3](0.5)"`` means the
same place in nmlcell and in NEURON.

A :class:`Discretisation` (made by :func:`nmlcell.lower.discretize.discretize`)
cuts every section into ``nseg`` segments and lists the resulting nodes in
Hines order (every parent before its children), each with NEURON's membrane
area (µm²) and axial resistance to its parent node (MΩ).

Plain frozen data: no JAX, no NumPy arrays in fields.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .mechanism import Source

Point = tuple[float, float, float, float]  # x, y, z, diameter (µm)

# SWC structure identifiers and the region (NEURON name stem) Import3d gives them
SWC_TYPE_NAMES = {1: "soma", 2: "axon", 3: "dend", 4: "apic"}


def region_of_type(t: int) -> str:
    """NEURON Import3d's name stem for an SWC type: soma, axon, dend, apic,
    ``dend_<t>`` for other positive types, ``minus_<-t>`` for negative ones."""
    if t in SWC_TYPE_NAMES:
        return SWC_TYPE_NAMES[t]
    return f"minus_{-t}" if t < 0 else f"dend_{t}"


@dataclass(frozen=True)
class Section:
    """An unbranched cable.

    ``points``: 3-D points ``(x, y, z, diameter)`` in µm, at least two; the
    section's length is the arc length through them. ``parent`` is the index
    of the parent section in :attr:`Morphology.sections` (None for the root),
    ``parent_x`` where on the parent the section's 0 end attaches.
    ``type`` is the SWC structure identifier (1 soma, 2 axon, 3 basal
    dendrite, 4 apical dendrite, others as given), ``region`` the name of the
    region for placement (``soma``, ``axon``, ``dend``, ``apic``...).
    ``nseg`` is the number of segments the file asks for (NeuroML's
    ``numberInternalDivisions``), None when the file says nothing.
    """
    name: str
    type: int
    region: str
    parent: int | None
    parent_x: float
    points: tuple[Point, ...]
    nseg: int | None = None
    source: Source = field(default_factory=Source)

    @property
    def length(self) -> float:
        """Arc length through the 3-D points (µm), in double precision."""
        return sum(math.dist(a[:3], b[:3]) for a, b in zip(self.points, self.points[1:]))


@dataclass(frozen=True)
class SectionGroup:
    """A named set of sections (an SWC/Import3d subset such as ``somatic``,
    ``basal``; a NeuroML segmentGroup), for placing mechanisms.
    ``sections`` are indices into :attr:`Morphology.sections`.
    ``segments``: for NeuroML groups, the NeuroML segment ids it holds."""
    name: str
    sections: tuple[int, ...]
    segments: tuple[int, ...] = ()
    neurolex_id: str | None = None


@dataclass(frozen=True)
class Morphology:
    """A tree of sections; parents come before their children and section 0
    is the root. ``notes`` lists what the importer assumed (soma turned into
    a cylinder, pieces reconnected...), one line each."""
    sections: tuple[Section, ...]
    groups: tuple[SectionGroup, ...] = ()
    file: str | None = None
    format: str = ""
    notes: tuple[str, ...] = ()

    def __post_init__(self):
        for i, s in enumerate(self.sections):
            if len(s.points) < 2:
                raise ValueError(f"section {s.name} has {len(s.points)} point(s); it needs two or more")
            if (s.parent is None) != (i == 0) or (s.parent is not None and s.parent >= i):
                raise ValueError(f"section {s.name}: parent {s.parent} must come before it "
                                 "(and only section 0 is a root)")

    def index(self, name: str) -> int:
        """The index of the section called ``name`` (``dend[3]``, or ``dend`` for
        ``dend[0]``, as NEURON accepts)."""
        for i, s in enumerate(self.sections):
            if s.name == name:
                return i
        if "[" not in name:
            return self.index(name + "[0]")
        raise KeyError(name)

    def section(self, name: str) -> Section:
        return self.sections[self.index(name)]

    def children(self, i: int) -> tuple[int, ...]:
        return tuple(k for k, s in enumerate(self.sections) if s.parent == i)

    def group(self, name: str) -> SectionGroup:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sections)


@dataclass(frozen=True)
class Compartment:
    """One node of the cable, as NEURON has it.

    ``index`` 0..nseg-1 is a segment of ``section``, centred at ``x`` =
    (index + ½)/nseg. NEURON also has zero-area nodes at section ends; the
    ones something attaches to are listed too, with ``index`` -1 (the root
    section's 0 end, x = 0) or ``nseg`` (a section's 1 end, x = 1) and
    ``area`` 0. (An end node nothing attaches to carries no current and is
    left out.) ``area`` is the membrane area in µm², ``ri`` the axial
    resistance to ``parent`` in MΩ (NEURON's ``seg.ri()``). The root's
    ``parent`` is -1; its ``ri`` is then NEURON's value, the resistance to
    the root section's 0 end, where nothing attaches, so no current flows
    through it (the root end node itself has ``ri`` = inf). ``cm`` (µF/cm²) and ``Ra`` (Ω·cm) are the
    section's."""
    section: int
    index: int
    x: float
    area: float
    ri: float
    parent: int
    cm: float = 1.0
    Ra: float = 35.4


_LOC = re.compile(r"^\s*([^()\s]+)\s*(?:\(\s*([-+0-9.eE]+)\s*\))?\s*$")


@dataclass(frozen=True)
class Discretisation:
    """A morphology cut into compartments, in Hines order (every node's
    ``parent`` index is smaller than its own).

    ``nseg[i]`` is section i's number of segments, ``first[i]`` the
    compartment index of its segment 0 (its segment k is ``first[i] + k``)
    and ``L[i]`` its length as NEURON computes it (µm). ``end_nodes`` lists
    the zero-area end nodes kept: ``(section, x, compartment)`` with x 0
    (the root's 0 end) or 1.
    """
    morphology: Morphology
    nseg: tuple[int, ...]
    first: tuple[int, ...]
    compartments: tuple[Compartment, ...]
    end_nodes: tuple[tuple[int, float, int], ...] = ()
    L: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.compartments)

    def segment(self, section: int | str, x: float = 0.5) -> int:
        """The compartment holding position ``x`` of ``section`` (an index or a
        name), as NEURON's ``sec(x)`` picks it: segment ``min(int(x*nseg),
        nseg-1)`` for 0 < x < 1; the section's end nodes for x = 0 and 1
        (x = 0 of a non-root section is its parent's attachment node); where
        no end node is listed (nothing attaches there), the end segment."""
        i = section if isinstance(section, int) else self.morphology.index(section)
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"position {x} of {self.morphology.sections[i].name} is outside 0..1")
        n = self.nseg[i]
        if 0.0 < x < 1.0:
            return self.first[i] + min(int(x * n), n - 1)
        if x == 0.0:
            if i != 0:
                return self.compartments[self.first[i]].parent
            e = self.end_node(0, 0.0)
            return e if e is not None else self.first[0]
        e = self.end_node(i, 1.0)
        return e if e is not None else self.first[i] + n - 1

    def locate(self, spec: str) -> int:
        """``"dend[3](0.5)"`` (or ``"soma"`` for its middle) -> compartment index."""
        m = _LOC.match(spec)
        if not m:
            raise ValueError(f"cannot read location {spec!r}; write it as sec(x), e.g. dend[3](0.5)")
        return self.segment(m.group(1), float(m.group(2)) if m.group(2) is not None else 0.5)

    def end_node(self, section: int, x: float) -> int | None:
        """The compartment index of section's zero-area end node at x (0 or 1),
        None when it is not kept (nothing attaches there)."""
        for s, xx, c in self.end_nodes:
            if s == section and xx == x:
                return c
        return None

    @property
    def areas(self) -> tuple[float, ...]:
        return tuple(c.area for c in self.compartments)

    @property
    def parents(self) -> tuple[int, ...]:
        return tuple(c.parent for c in self.compartments)

    @property
    def total_area(self) -> float:
        return math.fsum(c.area for c in self.compartments)
