"""Cut a :class:`~nmlcell.ir.morphology.Morphology` into compartments as NEURON does.

NEURON's rules, reproduced here (NEURON's documentation of ``area``, ``ri``,
``pt3dadd`` and the ``d_lambda`` rule of its standard library):

- a section's 3-D points are stored in single precision (NEURON keeps
  ``x, y, z, diam`` as C ``float``); the arc length along them is summed in
  double precision from coordinate differences taken in single precision
  (measured: this, and only this, reproduces NEURON's ``arc3d`` to the last
  bit), and the section's length ``L`` is the last arc length;
- a section of ``nseg`` segments has nodes at (i + ½)/nseg; segment i spans
  arc [i·L/nseg, (i+1)·L/nseg] and is split at its centre into two halves;
- each half is integrated over the frustums between consecutive 3-D points,
  clipped at the half's ends with the diameter interpolated linearly in arc
  length: membrane area ``π (d1 + d2)/2 · sqrt(ds² + (d2 - d1)²/4)``
  (lateral surface, no end caps) and axial resistance
  ``4 Ra ds / (π d1 d2)`` (exact for a linearly tapering cable);
- a segment's area is the sum over both halves; its ``ri`` (resistance to
  its parent node) is its left half plus the right half of the segment
  before it; segment 0's parent is the node the section attaches to: the
  parent's segment containing ``parent_x`` for 0 < x < 1, the parent's
  zero-area 1-end node for x = 1, the parent's own attachment node for
  x = 0; that end node's ``ri`` is the right half of the last segment;
- ``nseg`` by the d_lambda rule (``geom_nseg``): the section's length in
  units of the AC length constant at ``frequency`` (100 Hz) summed over the
  3-D points, ``Σ ds / sqrt(d1 + d2) · sqrt(2)·1e-5·sqrt(4π f Ra cm)``, then
  ``nseg = int((L / (d_lambda · λ) + 0.9) / 2) · 2 + 1`` (odd, ≥ 1).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping

import numpy as np

from ..errors import ModelImportError, OptionError
from ..ir.morphology import Compartment, Discretisation, Morphology, Section

NEURON_RA = 35.4      # Ω·cm, NEURON's default
NEURON_CM = 1.0       # µF/cm²
_R_UNITS = 1e-2       # Ω·cm · µm / µm² -> MΩ


def stored_points(sec: Section) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The section's points as NEURON stores them: (xyz float32->float64,
    |diam|, arc length in double precision)."""
    p32 = np.asarray(sec.points, dtype=np.float32)
    # coordinate differences are taken in single precision (float - float),
    # their squares and sum in double, accumulated point by point
    diff = (p32[1:, :3] - p32[:-1, :3]).astype(np.float64)
    p = p32.astype(np.float64)
    xyz, d = p[:, :3], np.abs(p[:, 3])
    arc = np.zeros(len(p))
    for k in range(1, len(p)):
        dx, dy, dz = diff[k - 1]
        arc[k] = arc[k - 1] + math.sqrt(dx * dx + dy * dy + dz * dz)
    return xyz, d, arc


def lambda_nseg(sec: Section, Ra: float, cm: float, d_lambda: float = 0.1,
                frequency: float = 100.0) -> int:
    """nseg by NEURON's d_lambda rule over the section's 3-D points."""
    _, d, arc = stored_points(sec)
    lam = 0.0
    for k in range(1, len(arc)):
        lam += (arc[k] - arc[k - 1]) / math.sqrt(d[k - 1] + d[k])
    lam *= math.sqrt(2.0) * 1e-5 * math.sqrt(4.0 * math.pi * frequency * Ra * cm)
    L = arc[-1]
    if lam == 0.0:
        return 1
    lambda_f = L / lam
    return int((L / (d_lambda * lambda_f) + 0.9) / 2) * 2 + 1


def _integrate(arc, d, lo: float, hi: float) -> tuple[float, float]:
    """(area µm², Σ ds/(d1·d2) in 1/µm) of the frustums between arc lo and hi.

    A diameter step (two points at the same arc position) adds the annulus
    between the two diameters to the interval ending there, (lo, hi], or to
    the first interval at the section's 0 end, as NEURON does (measured)."""
    area = 0.0
    rsum = 0.0
    n = len(arc)
    k0 = max(int(np.searchsorted(arc, lo, side="left")) - 1, 0)
    for k in range(k0, n - 1):
        a0, a1 = arc[k], arc[k + 1]
        if a0 == a1:
            if not (lo < a0 <= hi or a0 == lo == 0.0):
                if a0 > hi:
                    break
                continue
        elif a1 <= lo:
            continue
        elif a0 >= hi:
            break
        s0, s1 = max(a0, lo), min(a1, hi)
        if a1 > a0:
            d0 = d[k] + (d[k + 1] - d[k]) * (s0 - a0) / (a1 - a0)
            d1 = d[k] + (d[k + 1] - d[k]) * (s1 - a0) / (a1 - a0)
        else:  # two points at the same place: a step in diameter, no length
            d0, d1 = d[k], d[k + 1]
        ds = s1 - s0
        dd = d1 - d0
        area += math.pi * (d0 + d1) / 2.0 * math.sqrt(ds * ds + dd * dd / 4.0)
        if ds > 0.0:
            rsum += ds / (d0 * d1) if d0 * d1 > 0.0 else math.inf
    return area, rsum


def section_segments(sec: Section, nseg: int, Ra: float) -> tuple[list, list, list]:
    """NEURON's per-segment (area µm², left-half resistance MΩ, right-half
    resistance MΩ) for one section cut into ``nseg`` segments."""
    _, d, arc = stored_points(sec)
    L = arc[-1]
    if not L > 0.0:
        raise ModelImportError(f"section {sec.name} has zero length (all its 3-D points at one place)",
                               file=sec.source.file, line=sec.source.line)
    if not all(d > 0.0):
        raise ModelImportError(f"section {sec.name} has a point of zero diameter (infinite axial "
                               "resistance)", file=sec.source.file, line=sec.source.line)
    ds = L / nseg
    k = 4.0 * Ra / math.pi * _R_UNITS
    areas, left, right = [], [], []
    for i in range(nseg):
        si = i * ds
        mid = si + ds / 2.0
        end = L if i == nseg - 1 else si + ds
        a1, r1 = _integrate(arc, d, si, mid)
        a2, r2 = _integrate(arc, d, mid, end)
        areas.append(a1 + a2)
        left.append(k * r1)
        right.append(k * r2)
    return areas, left, right


def _per_section(value, morph: Morphology, what: str) -> list:
    """float | {section name, region or group name: value} | callable(Section) -> list."""
    if isinstance(value, Mapping):
        out = []
        by_group = {}
        for g in morph.groups:
            if g.name in value:
                for i in g.sections:
                    by_group.setdefault(i, value[g.name])
        for i, s in enumerate(morph.sections):
            for key in (s.name, s.region):
                if key in value:
                    out.append(value[key])
                    break
            else:
                if i in by_group:
                    out.append(by_group[i])
                elif "default" in value:
                    out.append(value["default"])
                else:
                    raise OptionError(f"{what}: no value for section {s.name} (give one for its name, "
                                      f"its region {s.region!r}, one of its groups, or 'default')")
        return out
    if callable(value):
        return [value(s) for s in morph.sections]
    return [value] * len(morph.sections)


def discretize(morph: Morphology, *, nseg: int | str | Mapping | Callable | None = None,
               Ra: float | Mapping | Callable = NEURON_RA,
               cm: float | Mapping | Callable = NEURON_CM,
               d_lambda: float = 0.1, frequency: float = 100.0,
               tips: Collection[tuple[int, float]] = ()) -> Discretisation:
    """Cut ``morph`` into compartments with NEURON's area and ri.

    ``nseg``: None -> each section's own ``nseg`` (NeuroML's
    numberInternalDivisions) where the file gave one, the d_lambda rule
    (``d_lambda`` of the AC length constant at ``frequency`` Hz) elsewhere;
    ``"d_lambda"`` -> the rule everywhere; an int -> that for every section;
    a mapping (section name, region or group -> int, with optional
    ``"default"``) or a callable(Section) -> int. ``Ra`` (Ω·cm) and ``cm``
    (µF/cm²) are a number, such a mapping or a callable.

    The zero-area end nodes kept are those where a section attaches, and
    those in ``tips``: ``(section index, x)`` with x = 1 (any section's 1
    end) or ``(0, 0.0)`` (the root's 0 end), where something is placed or
    recorded (:func:`end_location`); other pairs are ignored.
    """
    secs = morph.sections
    Ras = [float(v) for v in _per_section(Ra, morph, "Ra")]
    cms = [float(v) for v in _per_section(cm, morph, "cm")]
    if nseg is None:
        ns = [s.nseg if s.nseg else lambda_nseg(s, Ras[i], cms[i], d_lambda, frequency)
              for i, s in enumerate(secs)]
    elif isinstance(nseg, str):
        if nseg != "d_lambda":
            raise OptionError(f"nseg={nseg!r}: give an int, a mapping, a callable or 'd_lambda'")
        ns = [lambda_nseg(s, Ras[i], cms[i], d_lambda, frequency) for i, s in enumerate(secs)]
    else:
        ns = _per_section(nseg, morph, "nseg")
    for s, n in zip(secs, ns):
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise OptionError(f"nseg of section {s.name} must be a positive integer, not {n!r}")
    ns = [int(n) for n in ns]

    # which end nodes something attaches to (x = 0 of a non-root section is
    # the node that section itself attaches to)
    need_end1 = {s.parent for s in secs[1:] if s.parent_x == 1.0}
    need_root0 = (0, 0.0) in set(tips)
    need_end1 |= {int(i) for i, x in tips if x == 1.0 and 0 <= i < len(secs)}
    for s in secs[1:]:
        p, x = s.parent, s.parent_x
        while x == 0.0 and p != 0:
            p, x = secs[p].parent, secs[p].parent_x
        need_root0 = need_root0 or (x == 0.0 and p == 0)

    comps: list[Compartment] = []
    first: list[int] = []
    lengths: list[float] = []
    end_nodes: list[tuple[int, float, int]] = []
    end1: dict[int, int] = {}
    attach0: dict[int, int] = {}  # section -> the node its 0 end is
    for i, s in enumerate(secs):
        areas, left, right = section_segments(s, ns[i], Ras[i])
        lengths.append(float(stored_points(s)[2][-1]))
        if s.parent is None:
            if need_root0:
                attach0[i] = len(comps)
                end_nodes.append((i, 0.0, len(comps)))
                comps.append(Compartment(i, -1, 0.0, 0.0, math.inf, -1, cms[i], Ras[i]))
            else:
                attach0[i] = -1
        else:
            p, x = s.parent, s.parent_x
            if x == 1.0:
                attach0[i] = end1[p]
            elif x == 0.0:
                attach0[i] = attach0[p]
            else:
                attach0[i] = first[p] + min(int(x * ns[p]), ns[p] - 1)
        first.append(len(comps))
        for k in range(ns[i]):
            parent = attach0[i] if k == 0 else len(comps) - 1
            ri = float(left[k] + (right[k - 1] if k else 0.0))
            comps.append(Compartment(i, k, (k + 0.5) / ns[i], float(areas[k]), ri, parent,
                                     cms[i], Ras[i]))
        if i in need_end1:
            end1[i] = len(comps)
            end_nodes.append((i, 1.0, len(comps)))
            comps.append(Compartment(i, ns[i], 1.0, 0.0, float(right[-1]), len(comps) - 1, cms[i], Ras[i]))
    return Discretisation(morphology=morph, nseg=tuple(ns), first=tuple(first),
                          compartments=tuple(comps), end_nodes=tuple(end_nodes), L=tuple(lengths))


def end_location(morph: Morphology, section: int, x: float) -> tuple[int, float] | None:
    """The zero-area end node that position ``x`` of ``section`` is, as
    NEURON resolves it: ``(section, 1.0)`` for x = 1, ``(0, 0.0)`` for the
    root's x = 0, for x = 0 of another section the node it attaches to
    (its parent's 1 end, or, through sections attached at x = 0, the
    root's 0 end); None where that is a segment's node (0 < x < 1)."""
    secs = morph.sections
    while True:
        if x == 1.0:
            return (section, 1.0)
        if x != 0.0:
            return None
        if secs[section].parent is None:
            return (section, 0.0)
        section, x = secs[section].parent, secs[section].parent_x
