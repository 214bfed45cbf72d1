"""Read SWC and Neurolucida ``.asc`` morphologies (through MorphIO) into the
:class:`~nmlcell.ir.morphology.Morphology` IR, cut into sections the way
NEURON's Import3d cuts the same file, so that section names, lengths, areas
and ``ri`` agree with NEURON's.

Entry point: :func:`load_morphology` (``.swc``, ``.asc``, and NeuroML files
through :mod:`nmlcell.importers.nml_morphology`).

What Import3d does, and this module reproduces (measured against NEURON
9.0.2's ``Import3d_SWC_read`` / ``Import3d_Neurolucida3`` +
``Import3d_GUI(reader, 0).instantiate(None)``):

SWC
  - a section is an unbranched run of points of one type; a point with
    several children, or whose child has another type, ends a section.
    Consecutive soma points stay in one section unless a soma point has
    several soma children (then the soma branches like a dendrite);
  - every non-root section starts with a copy of its parent point; its
    diameter is the parent point's, except where the parent is a soma
    point and the section is not soma: then it is the section's own first
    diameter;
  - a **one-point soma** (a single type-1 point) becomes a 3-point cylinder
    along x, centred on the point, length = diameter (so its area is that
    of the sphere); every section on it attaches at soma(0.5), and one with
    two or more points of its own is attached "by a wire": its copy of the
    soma point is dropped, so it starts at its own first point;
  - the **NeuroMorpho 3-point soma** (three type-1 points, the 2nd and 3rd
    children of the 1st with nothing attached to them, equal diameters,
    total length within 1 % of the diameter) is treated as the one-point
    soma on its first point (the other two are discarded);
  - any other soma (a chain of points) is a section like the others;
    sections attach at 0 on its first point, at 1 on its last, at 0.5 on
    an interior point (by a wire if the section is not soma);
  - a branch whose parent is the first point of a dendrite that is wired to
    the soma attaches at that dendrite's 0 end;
  - a non-root section left with one point, or with two points at the
    same place, is removed and its children are attached where it was;
  - Import3d reads SWC numbers in single precision, computes in double,
    hands NEURON the points as text printed with ``%.8g``, and NEURON
    stores them in single precision; the IR keeps the ``%.8g`` values (the
    discretisation rounds to single precision as NEURON does).

Neurolucida (.asc)
  - the soma contour (``CellBody``) becomes a centroid section of 21 points
    along its principal axis, diameters the contour's width across it, by
    NEURON's documented procedure (contour resampled at 101 points equally
    spaced along its perimeter, mean, principal axis of the points'
    scatter, each side of the contour made monotonic along that axis and
    interpolated at 21 equally spaced positions, end diameters averaged
    with their neighbours);
  - every tree is attached to soma(0.5) by a wire, starting at its own
    first point (also a tree that starts outside the contour's bounding
    box, which Import3d connects "logically"; a note says so);
  - a branch starts with a copy of its parent's last point carrying the
    branch's own first diameter;
  - MorphIO keeps single precision; Import3d reads the file's decimals in
    double precision. The decimals are recovered as the shortest text that
    rounds to MorphIO's value (exact for Neurolucida's usual ≤ 7
    significant digits);
  - soma contour stacks (several CellBody contours) are not supported.

Bad input raises :class:`~nmlcell.errors.ModelImportError` naming the file
and line: unreadable lines, missing parents, cycles and parents listed after
their children, duplicate ids, zero or negative radii, several roots
(disconnected pieces).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..errors import ModelImportError
from ..ir.mechanism import Source
from ..ir.morphology import Morphology, Section, SectionGroup, region_of_type

_GROUP_NAMES = {1: "somatic", 2: "axonal", 3: "basal", 4: "apical"}


def _g8(v: float) -> float:
    """A value as Import3d hands it to NEURON: printed with %.8g."""
    return float(f"{float(v):.8g}")


def _subset_name(t: int) -> str:
    if t in _GROUP_NAMES:
        return _GROUP_NAMES[t]
    return f"minus_{-t}set" if t < 0 else f"dendritic_{t}"


def load_morphology(path, **options) -> Morphology:
    """Read an SWC (``.swc``), Neurolucida (``.asc``) or NeuroML (``.nml``,
    ``.xml``: the first cell's ``<morphology>``) file into a Morphology with
    NEURON's sections. Raises ModelImportError on a file that cannot be read.
    ``options`` go to the NeuroML reader (``cell_id``, ``unbranched``; see
    :func:`nmlcell.importers.nml_morphology.read_nml_morphology`)."""
    p = Path(path)
    if not p.is_file():
        raise ModelImportError("file not found", file=str(path))
    ext = p.suffix.lower()
    if options and ext not in (".nml", ".xml"):
        raise TypeError(f"options {sorted(options)} apply to NeuroML files only")
    if ext == ".swc":
        return read_swc(p)
    if ext == ".asc":
        return read_asc(p)
    if ext in (".nml", ".xml"):
        from .nml_morphology import read_nml_morphology
        return read_nml_morphology(p, **options)
    raise ModelImportError(f"unknown morphology format {ext!r} (expected .swc, .asc, .nml)",
                           file=str(path))


def _morphio_load(p: Path):
    """Parse with MorphIO; its errors become one-line ModelImportErrors."""
    import morphio
    morphio.set_maximum_warnings(0)
    try:
        return morphio.Morphology(str(p))
    except morphio.MorphioError as e:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()
        m = re.search(r":(\d+):(?:error|warning)", text)
        line = int(m.group(1)) if m else None
        msg = [ln.strip() for ln in text.splitlines()
               if ln.strip() and not re.search(r":\d+:(?:error|warning)$", ln.strip())]
        msg = " ".join(msg) if msg else type(e).__name__
        raise ModelImportError(f"MorphIO: {msg}", file=str(p), line=line) from None


# ---------------------------------------------------------------- SWC

def _swc_table(p: Path):
    """The SWC rows (id, type, x, y, z, radius, parent, line) in id order.
    Values are rounded to single precision, as Import3d's ``sscanf("%f")``
    reads them. (MorphIO's model does not keep which soma point a neurite
    leaves from, nor the SWC ids; Import3d's rules need both.)"""
    rows = []
    with open(p) as f:
        for ln, text in enumerate(f, 1):
            s = text.split("#", 1)[0].strip()
            if not s:
                continue
            parts = s.split()
            try:
                v = [float(t) for t in parts[:7]]
            except ValueError:
                v = []
            if len(v) != 7:
                raise ModelImportError(f"cannot read SWC line {text.strip()!r} (expected "
                                       "id type x y z radius parent)", file=str(p), line=ln)
            x, y, z, r = (float(np.float32(t)) for t in v[2:6])  # hoc's sscanf %f
            rows.append((int(v[0]), int(v[1]), x, y, z, r, int(v[6]), ln))
    if not rows:
        raise ModelImportError("no points", file=str(p))
    rows.sort(key=lambda r: r[0])
    return rows


def _check_swc(p: Path, rows) -> None:
    f = str(p)
    ids = {}
    for r in rows:
        if r[0] in ids:
            raise ModelImportError(f"duplicate id {r[0]} (also at line {ids[r[0]][7]})", file=f, line=r[7])
        ids[r[0]] = r
    roots = [r for r in rows if r[6] < 0]
    for r in rows:
        if r[5] <= 0:
            raise ModelImportError(f"point {r[0]} has radius {r[5]:g}; radii must be positive "
                                   "(a zero diameter gives an infinite axial resistance)",
                                   file=f, line=r[7])
        if r[6] >= 0 and r[6] not in ids:
            raise ModelImportError(f"point {r[0]} has parent {r[6]}, which is not in the file",
                                   file=f, line=r[7])
    for r in rows:
        if r[6] >= r[0]:
            seen, q = set(), r
            while q is not None and q[6] >= 0 and q[0] not in seen:
                seen.add(q[0])
                q = ids.get(q[6])
            if q is not None and q[0] in seen:
                raise ModelImportError(f"point {r[0]} is in a cycle of parents "
                                       f"({' -> '.join(str(i) for i in sorted(seen))})", file=f, line=r[7])
            raise ModelImportError(f"point {r[0]} has parent {r[6]}, which is not listed before it "
                                   "(NEURON's Import3d requires parent id < id)", file=f, line=r[7])
    if len(roots) != 1:
        lines = ", ".join(str(r[7]) for r in roots)
        raise ModelImportError(f"{len(roots)} roots (points with parent -1, lines {lines}): the "
                               "morphology is in disconnected pieces; NEURON's Import3d expects one tree",
                               file=f, line=roots[1][7] if len(roots) > 1 else None)


def read_swc(path) -> Morphology:
    """Read an SWC file into Import3d's sections (see the module docstring)."""
    p = Path(path)
    rows = _swc_table(p)
    _check_swc(p, rows)
    _morphio_load(p)
    n = len(rows)
    index = {r[0]: i for i, r in enumerate(rows)}
    typ = [r[1] for r in rows]
    xyz = [(r[2], r[3], r[4]) for r in rows]
    dia = [2.0 * r[5] for r in rows]
    par = [index[r[6]] if r[6] >= 0 else -1 for r in rows]
    notes = []

    # how many children each point has: a contiguous child (the next point)
    # counts 1, a non-contiguous one 1.01, a child of another type .01 more;
    # a section ends at every point whose count is not exactly 1.
    nchild = [0.0] * n
    to_prox = [False] * n  # attaches to the 0 end of its parent section
    for i in range(n):
        q = par[i]
        if q < 0:
            continue
        nchild[q] += 1
        if q != i - 1:
            nchild[q] += 0.01
            if q > 1:
                if typ[q] != 1 and typ[par[q]] == 1:
                    to_prox[i] = True
                    nchild[q] = 1
            elif q == 0 and typ[q] != 1:
                to_prox[i] = True
                nchild[q] = 1
        if typ[q] != typ[i]:
            nchild[q] += 0.01
    soma_children = [0] * n
    for i in range(1, n):
        if typ[i] == 1 and par[i] >= 0 and typ[par[i]] == 1:
            soma_children[par[i]] += 1
    nsoma = sum(1 for t in typ if t == 1)

    sphere = False
    if nsoma == 3 and n >= 3 and par[1] == 0 and par[2] == 0 and nchild[1] == 0 and nchild[2] == 0 \
            and dia[1] == dia[0] and dia[2] == dia[0]:
        ln = math.dist(xyz[1], xyz[0]) + math.dist(xyz[2], xyz[0])
        if abs(ln / dia[0] - 1) < 0.01:
            sphere = True
            par[2] = 1
            notes.append("3-point soma (NeuroMorpho convention) read as a sphere of diameter "
                         f"{dia[0]:g} um on its first point, as NEURON's Import3d does")
    for i in range(n - 1):
        if typ[i] == 1 and typ[i + 1] == 1 and par[i + 1] == i:
            if not (i != 0 and soma_children[i] > 1):
                nchild[i] = 1

    ends = [i for i in range(n) if nchild[i] != 1]
    # sections: runs of point indices [first, last]
    runs = []
    start = 0
    for e in ends:
        if e >= start:
            runs.append((start, e + 1))
            start = e + 1
    if start < n:
        runs.append((start, n))
    sec_of = [0] * n
    for k, (a, b) in enumerate(runs):
        for i in range(a, b):
            sec_of[i] = k

    # raw sections as Import3d builds them
    secs = []  # dicts: first, pts(list of idx or ('copy', idx)), type, parent, px, wire, d0
    for k, (a, b) in enumerate(runs):
        if k == 0:
            b0 = 1 if sphere else b
            secs.append(dict(first=a, own=list(range(a, b0)), type=typ[a], parent=None, px=1.0,
                             wire=False, copy=None, line=rows[a][7]))
            continue
        q = par[a]
        ps = sec_of[q]
        psec = secs[ps]
        sec = dict(first=a, own=list(range(a, b)), type=typ[a], parent=ps, px=1.0, wire=False,
                   copy=q, line=rows[a][7])
        den_con_soma = psec["type"] == 1 and typ[a] != 1
        con_soma = psec["type"] == 1
        nown = b - a
        handled = False
        if ps == 0:
            handled = True
            if den_con_soma and len(psec["own"]) == 1:
                sec["px"] = 0.5
                sec["wire"] = nown > 1
            elif q == psec["first"]:
                sec["px"] = 0.0
                sec["wire"] = typ[a] != 1 and soma_children[q] > 1
            else:
                handled = False
        if not handled and con_soma:
            last_own = psec["own"][-1] if psec["own"] else psec["first"]
            if q < last_own:
                sec["px"] = 0.5
                sec["wire"] = den_con_soma and nown > 1
            elif nown > 1 and soma_children[q] > 1 and typ[a] != 1:
                sec["wire"] = True
        if to_prox[a]:
            sec["px"] = 0.0
        secs.append(sec)

    def points(sec):
        pts = []
        if sec["copy"] is not None and not sec["wire"]:
            q = sec["copy"]
            d0 = dia[q]
            if secs[sec["parent"]]["type"] == 1 and sec["type"] != 1:
                d0 = dia[sec["own"][0]]
            pts.append((*xyz[q], d0))
        pts += [(*xyz[i], dia[i]) for i in sec["own"]]
        if len(pts) == 1:
            x, y, z, d = pts[0]
            pts = [(x - d / 2, y, z, d), (x, y, z, d), (x + d / 2, y, z, d)]
            if sec["parent"] is None and not sphere:
                notes.append(f"one-point soma (line {sec['line']}) read as a cylinder of length "
                             f"and diameter {d:g} um along x, as NEURON's Import3d does")
        return [tuple(_g8(v) for v in pt) for pt in pts]

    # drop sections left with one point or zero length (Import3d's chk_valid)
    keep = list(range(len(secs)))
    for k in range(len(secs) - 1, 0, -1):
        s = secs[k]
        npt = len(s["own"]) + (0 if s["wire"] or s["copy"] is None else 1)
        pts = points(s) if npt == 2 else None
        if npt <= 1 or (npt == 2 and pts[0][:3] == pts[1][:3]):
            notes.append(f"section starting at line {s['line']} has "
                         f"{'one point' if npt <= 1 else 'zero length'}; removed, as NEURON's Import3d "
                         "does, and its children attached where it was")
            for c in secs[k + 1:]:
                if c["parent"] == k:
                    c["parent"], c["px"] = s["parent"], s["px"]
            keep.remove(k)

    return _build(p, "swc", [secs[k] for k in keep], keep, points, notes)


def _build(p: Path, fmt: str, secs, keep, points, notes) -> Morphology:
    """Name sections as Import3d does (type stem + per-type counter, in list
    order) and make the IR."""
    renum = {old: new for new, old in enumerate(keep)}
    counters: dict[int, int] = {}
    out = []
    by_type: dict[int, list[int]] = {}
    for new, s in enumerate(secs):
        t = s["type"]
        k = counters.get(t, 0)
        counters[t] = k + 1
        region = region_of_type(t)
        parent = None if s["parent"] is None else renum[s["parent"]]
        out.append(Section(name=f"{region}[{k}]", type=t, region=region, parent=parent,
                           parent_x=float(s["px"]), points=tuple(points(s)),
                           source=Source(file=str(p), line=s.get("line"))))
        by_type.setdefault(t, []).append(new)
    groups = [SectionGroup("all", tuple(range(len(out))))]
    groups += [SectionGroup(_subset_name(t), tuple(ix)) for t, ix in sorted(by_type.items())]
    return Morphology(sections=tuple(out), groups=tuple(groups), file=str(p), format=fmt,
                      notes=tuple(dict.fromkeys(notes)))


# ---------------------------------------------------------------- Neurolucida

def _dec(v) -> float:
    """MorphIO keeps single precision; the file's decimal (Neurolucida writes
    at most 7 significant digits) is the shortest text that rounds to it."""
    return float(np.format_float_positional(np.float32(v), unique=True, trim="-"))


def _interp(xq, xs, ys):
    """Linear interpolation of ys(xs) at xq, constant beyond the ends."""
    return np.interp(xq, xs, ys)


def contour_centroid(xs, ys, zs, notes: list | None = None) -> list[tuple[float, float, float, float]]:
    """The centroid section NEURON's Import3d makes of a soma contour: 21
    points (x, y, z, diameter) along the contour's principal axis. (A
    contour whose two largest principal values are equal has no principal
    axis; a note is added to ``notes`` then.)"""
    x = np.asarray(xs, float)
    y = np.asarray(ys, float)
    z = np.asarray(zs, float)
    # resample at 101 points equally spaced along the open polyline through
    # the contour points (in the xy plane), and take their mean
    seg = np.hypot(np.diff(np.append(x, x[0])), np.diff(np.append(y, y[0])))
    perim = np.concatenate([[0.0], np.cumsum(seg[:-1])])
    step = perim[-1] / 100
    at = np.arange(101) * step
    x, y, z = (_interp(at, perim, v) for v in (x, y, z))
    mean = np.array([x.mean(), y.mean(), z.mean()])
    pts = np.vstack([x, y, z]) - mean[:, None]
    cov = pts @ pts.T
    w, vecs = np.linalg.eigh(cov)
    imax, imin = int(np.argmax(w)), int(np.argmin(w))
    if notes is not None and w[imax] - w[3 - imin - imax] <= 1e-6 * w[imax]:
        notes.append("the soma contour is nearly circular: its principal axis is not defined, "
                     "and NEURON (another eigen-solver) may pick another one")
    major = vecs[:, imax].copy()
    if major[np.argmax(np.abs(major))] < 0:
        major = -major
    minor = vecs[:, 3 - imin - imax].copy()
    minor[2] = 0.0
    if np.linalg.norm(minor) / (np.linalg.norm(major) + 1e-100) < 1e-6:
        raise ValueError("cannot compute the soma centroid from its contour")
    minor /= np.linalg.norm(minor)
    d = major @ pts
    rad = minor @ pts
    k = int(np.argmax(d))
    d, rad = np.roll(d, -k), np.roll(rad, -k)
    k = int(np.argmin(d))
    side2, rad2 = list(d[k:]), list(rad[k:])
    side1, rad1 = list(d[:k][::-1]), list(rad[:k][::-1])

    def monotonic(s, r):
        j = len(s) - 1
        while j > 0:
            if s[j] <= s[j - 1]:
                del s[j]
                del r[j]
                if j != len(s):
                    j += 1
            j -= 1

    monotonic(side1, rad1)
    monotonic(side2, rad2)
    both = sorted(side1 + side2)
    lo, hi = both[1], both[-2]
    at = lo + np.arange(21) * ((hi - lo) / 20)
    r1 = _interp(at, np.array(side1), np.array(rad1))
    r2 = _interp(at, np.array(side2), np.array(rad2))
    diam = np.abs(r1 - r2)
    diam[0] = (diam[0] + diam[1]) / 2
    diam[-1] = (diam[-1] + diam[-2]) / 2
    c = mean[:, None] + np.outer(major, at)
    return [(c[0, i], c[1, i], c[2, i], diam[i]) for i in range(21)]


_ASC_TYPES = {"axon": 2, "basal_dendrite": 3, "apical_dendrite": 4}


def read_asc(path) -> Morphology:
    """Read a Neurolucida .asc file into Import3d's sections (see the module
    docstring)."""
    p = Path(path)
    m = _morphio_load(p)
    import morphio
    notes = []
    if m.soma_type == morphio.SomaType.SOMA_UNDEFINED or len(m.soma.points) == 0:
        raise ModelImportError("no soma (CellBody) contour; nmlcell reads Neurolucida files "
                               "with one soma contour", file=str(p))
    if m.soma_type != morphio.SomaType.SOMA_SIMPLE_CONTOUR:
        raise ModelImportError(f"soma of kind {m.soma_type.name}: only a single soma contour "
                               "is supported (Import3d's contour stacks are not)", file=str(p))
    sp = np.asarray(m.soma.points, dtype=np.float32)
    try:
        soma_pts = contour_centroid([_dec(v) for v in sp[:, 0]], [_dec(v) for v in sp[:, 1]],
                                    [_dec(v) for v in sp[:, 2]], notes)
    except ValueError as e:
        raise ModelImportError(str(e), file=str(p), element="CellBody") from None
    notes.append("soma contour replaced by its 21-point centroid section, as NEURON's Import3d does")
    secs = [dict(type=1, parent=None, px=0.5, pts=soma_pts)]
    ids = {}
    for s in m.iter():  # depth first, in file order
        t = _ASC_TYPES.get(s.type.name)
        if t is None:
            t = int(s.type)
        pts = [(*(_dec(v) for v in pt), _dec(dd)) for pt, dd in zip(s.points, s.diameters)]
        if s.is_root:
            parent, px = 0, 0.5
            x0, y0 = pts[0][0], pts[0][1]
            if not (sp[:, 0].min() - 0.5 <= x0 <= sp[:, 0].max() + 0.5
                    and sp[:, 1].min() - 0.5 <= y0 <= sp[:, 1].max() + 0.5):
                notes.append(f"the {s.type.name} tree starting at ({x0:g}, {y0:g}, {pts[0][2]:g}) is "
                             "outside the soma contour's bounding box; attached to soma(0.5) all the "
                             "same, as NEURON's Import3d does")
        else:
            parent, px = ids[s.parent.id], 1.0
        ids[s.id] = len(secs)
        secs.append(dict(type=t, parent=parent, px=px, pts=pts))

    def points(sec):
        pts = sec["pts"]
        if len(pts) == 1 and sec["parent"] is None:
            x, y, z, d = pts[0]
            pts = [(x - d / 2, y, z, d), (x, y, z, d), (x + d / 2, y, z, d)]
        return [tuple(_g8(v) for v in pt) for pt in pts]

    keep = list(range(len(secs)))
    for k in range(len(secs) - 1, 0, -1):
        s = secs[k]
        pts = s["pts"]
        if len(pts) <= 1 or (len(pts) == 2 and pts[0][:3] == pts[1][:3]):
            notes.append(f"a section of {len(pts)} point(s) / zero length removed, as NEURON's "
                         "Import3d does, and its children attached where it was")
            for c in secs[k + 1:]:
                if c["parent"] == k:
                    c["parent"], c["px"] = s["parent"], s["px"]
            keep.remove(k)
    return _build(p, "asc", [secs[k] for k in keep], keep, points, notes)
