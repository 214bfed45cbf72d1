"""Read a NeuroML2 ``<morphology>`` (through libNeuroML) into the
:class:`~nmlcell.ir.morphology.Morphology` IR, with the sections jNeuroML's
NEURON export makes of it, so names, points and attachment positions agree
with that export (NeuroML cells are compared with NEURON through it).

- Segments: ``proximal``/``distal`` points (µm), ``parent`` with
  ``fractionAlong`` (default 1). A segment without ``proximal`` starts where
  it attaches on its parent, with the parent's diameter there (NeuroML's
  rule).
- Segment groups: ``member``, ``include`` (recursively), ``path``
  (``from``..``to`` along the tree, both ends included) and ``subTree``
  (``from`` and everything below it, or the path down to ``to``).
- Sections: every segmentGroup carrying ``neuroLexId="sao864921383"`` is one
  section named after the group; ``numberInternalDivisions`` on it is its
  nseg, 1 when absent (jNeuroML's default). Its 3-D points are the first
  segment's proximal point, then every segment's distal point; like
  jNeuroML's export, a later segment's own proximal point is ignored (a
  note says so where it differs from the distal point before it). When no
  group carries that id, unbranched runs of segments (ending at branch
  points and where the region changes) become sections named after their
  first segment (``<name>`` or ``seg<id>``), nseg left to the d_lambda
  rule; ``unbranched="segments"`` makes every segment a section named after
  it, nseg 1, as jNeuroML's export does.
- A section attaches to its parent at the arc-length position of the
  parent segment's end (``fractionAlong`` within 1e-4 of 1, as jNeuroML
  rounds it), start (within 1e-4 of 0), or, on a one-segment parent, at
  ``fractionAlong`` itself. jNeuroML refuses other values on a parent of
  several segments; nmlcell places them by arc length and notes it.
- A section of one zero-length segment (a sphere, proximal = distal)
  becomes a cylinder along y of length = diameter, as jNeuroML exports it.
- Regions: ``soma`` (SWC type 1) for sections in ``soma_group``
  (GO:0043025), ``axon`` (2) in ``axon_group`` (GO:0030424), ``dend`` (3)
  otherwise.
- Errors name the file, line and element: an ``include`` naming no group,
  a ``member`` naming no segment, a missing parent, several roots, a cable
  group that branches or is not connected.
"""
from __future__ import annotations

import bisect
import math
import re
from pathlib import Path

from ..errors import ModelImportError
from ..ir.mechanism import Source
from ..ir.morphology import Morphology, Section, SectionGroup

CABLE = "sao864921383"
_REGIONS = (("soma", 1, ("soma_group",), "GO:0043025"),
            ("axon", 2, ("axon_group",), "GO:0030424"))


class _Lines:
    """Line numbers of elements, found in the file's text (libNeuroML keeps none)."""

    def __init__(self, path: Path):
        try:
            self.text = path.read_text(errors="replace")
        except OSError:
            self.text = ""

        self._index: dict[str, dict[str, int]] = {}

    def find(self, tag: str, ident) -> int | None:
        if tag not in self._index:
            starts = [m.start() for m in re.finditer("\n", self.text)]
            idx = {}
            for m in re.finditer(rf'<{tag}\b[^>]*?\bid\s*=\s*"([^"]*)"', self.text):
                idx.setdefault(m.group(1), bisect.bisect_left(starts, m.start()) + 1)
            self._index[tag] = idx
        return self._index[tag].get(str(ident))


def _point(p):
    return (float(p.x), float(p.y), float(p.z), float(p.diameter))


def read_nml_morphology(path, cell_id: str | None = None, unbranched: str = "runs") -> Morphology:
    """The morphology of the cell ``cell_id`` (default: the first cell, or a
    top-level ``<morphology>``) of a NeuroML file. ``unbranched`` says what
    becomes a section when no segment group is marked as one: ``"runs"``
    (unbranched runs of segments) or ``"segments"`` (every segment, as
    jNeuroML's NEURON export does)."""
    if unbranched not in ("runs", "segments"):
        raise ValueError(f"unbranched={unbranched!r}: 'runs' or 'segments'")
    from neuroml.loaders import read_neuroml2_file

    p = Path(path)
    f = str(p)
    lines = _Lines(p)
    try:
        doc = read_neuroml2_file(f, include_includes=False, verbose=False)
    except Exception as e:  # libNeuroML raises plain Exceptions on bad XML
        raise ModelImportError(f"libNeuroML cannot read it: {str(e).splitlines()[0] if str(e) else e}",
                               file=f) from None
    cells = [c for c in doc.cells if c.morphology is not None or c.morphology_attr]
    morph = None
    if cell_id is not None:
        cells = [c for c in cells if c.id == cell_id]
        if not cells:
            raise ModelImportError(f"no cell with id {cell_id!r} and a <morphology>", file=f)
    if cells and cells[0].morphology is not None:
        morph = cells[0].morphology
    elif cells:  # <cell morphology="id">: a top-level <morphology>, here or in an include
        ref = cells[0].morphology_attr
        found = [m for m in (doc.morphology or ()) if m.id == ref]
        if not found:
            try:
                full = read_neuroml2_file(f, include_includes=True, verbose=False)
            except Exception as e:
                raise ModelImportError(f"cannot read the includes: {str(e).splitlines()[0]}",
                                       file=f) from None
            found = [m for m in (full.morphology or ()) if m.id == ref]
        if not found:
            raise ModelImportError(f'morphology="{ref}" names no <morphology> here or in the '
                                   "included files", file=f, line=lines.find("cell", cells[0].id),
                                   element=f'cell id="{cells[0].id}"')
        morph = found[0]
    elif getattr(doc, "morphology", None):
        morph = doc.morphology[0]
    if morph is None:
        raise ModelImportError("no <morphology> in the file", file=f)
    return morphology_from_nml(morph, file=f, lines=lines, unbranched=unbranched)


def morphology_from_nml(morph, *, file: str | None = None, lines: _Lines | None = None,
                        unbranched: str = "runs") -> Morphology:
    """A libNeuroML ``Morphology`` object -> the IR (see the module docstring)."""
    f = file
    lines = lines or _Lines(Path(file)) if file else lines

    def err(msg, tag=None, ident=None):
        line = lines.find(tag, ident) if (lines and tag) else None
        return ModelImportError(msg, file=f, line=line, element=f'{tag} id="{ident}"' if tag else None)

    segs = {}
    for s in morph.segments:
        sid = int(s.id)
        if sid in segs:
            raise err(f"duplicate segment id {sid}", "segment", sid)
        segs[sid] = s
    if not segs:
        raise err("the morphology has no segments", "morphology", morph.id)
    parent = {}
    frac = {}
    for sid, s in segs.items():
        if s.parent is not None:
            ps = int(s.parent.segments)
            if ps not in segs:
                raise err(f"parent segment {ps} does not exist", "segment", sid)
            parent[sid] = ps
            fa = s.parent.fraction_along
            frac[sid] = 1.0 if fa is None else float(fa)
        if s.distal is None:
            raise err("segment has no distal point", "segment", sid)
    roots = [sid for sid in segs if sid not in parent]
    if len(roots) != 1:
        raise err(f"{len(roots)} root segments (without a parent): {sorted(roots)}; the morphology "
                  "must be one connected tree", "segment", roots[1] if len(roots) > 1 else None)
    children: dict[int, list[int]] = {sid: [] for sid in segs}
    for sid, ps in parent.items():
        children[ps].append(sid)
    order = []  # parents before children
    stack = [roots[0]]
    while stack:
        sid = stack.pop()
        order.append(sid)
        stack.extend(reversed(children[sid]))
    if len(order) != len(segs):
        cyc = sorted(set(segs) - set(order))
        raise err(f"segments {cyc[:10]} are not connected to the root (a cycle of parents)",
                  "segment", cyc[0])

    def prox(sid):
        s = segs[sid]
        if s.proximal is not None:
            return _point(s.proximal)
        ps = parent.get(sid)
        if ps is None:
            raise err("root segment has no proximal point", "segment", sid)
        a, b = prox(ps), _point(segs[ps].distal)
        t = frac[sid]
        return b if t == 1.0 else tuple(a[k] + t * (b[k] - a[k]) for k in range(4))

    # segment groups -> sets of segments
    groups = {g.id: g for g in morph.segment_groups}
    resolved: dict[str, list[int]] = {}

    def path_down(a: int, b: int, gid: str) -> list[int]:
        chain = [b]
        while chain[-1] != a:
            q = parent.get(chain[-1])
            if q is None:
                raise err(f"segment {a} is not above segment {b}", "segmentGroup", gid)
            chain.append(q)
        return chain[::-1]

    def subtree(a: int) -> list[int]:
        out, st = [], [a]
        while st:
            x = st.pop()
            out.append(x)
            st.extend(reversed(children[x]))
        return out

    def resolve(gid: str, stack=()) -> list[int]:
        if gid in resolved:
            return resolved[gid]
        if gid in stack:
            raise err(f"segment groups include each other in a cycle: {' -> '.join(stack + (gid,))}",
                      "segmentGroup", gid)
        g = groups[gid]
        out: list[int] = []
        for m in g.members:
            sid = int(m.segments)
            if sid not in segs:
                raise err(f"<member segment=\"{sid}\"> names no segment", "segmentGroup", gid)
            out.append(sid)
        for inc in g.includes:
            if inc.segment_groups not in groups:
                raise err(f"<include segmentGroup=\"{inc.segment_groups}\"> names no segment group",
                          "segmentGroup", gid)
            out += resolve(inc.segment_groups, stack + (gid,))
        for pth in g.paths:
            a, b = _ends(pth, gid)
            out += path_down(a, b, gid)
        for st in g.sub_trees:
            a, b = _ends(st, gid)
            out += subtree(a) if b is None else path_down(a, b, gid)
        seen = set()
        uniq = [s for s in out if not (s in seen or seen.add(s))]
        resolved[gid] = uniq
        return uniq

    def _ends(el, gid):
        a = getattr(el, "from_", None)
        b = getattr(el, "to", None)
        a = int(a.segments) if a is not None else None
        b = int(b.segments) if b is not None else None
        for x in (a, b):
            if x is not None and x not in segs:
                raise err(f"path/subTree names segment {x}, which does not exist", "segmentGroup", gid)
        if a is None:
            a = roots[0] if b is not None else None
        if a is None:
            raise err("path/subTree without from", "segmentGroup", gid)
        return a, b

    for gid in groups:
        resolve(gid)

    region_sets = []
    for region, t, names, lex in _REGIONS:
        ss = set()
        for g in morph.segment_groups:
            if g.id in names or g.neuro_lex_id == lex:
                ss |= set(resolved[g.id])
        region_sets.append((region, t, ss))

    notes = []
    cables = [g for g in morph.segment_groups if g.neuro_lex_id == CABLE]
    sec_segs: list[list[int]] = []
    sec_names: list[str] = []
    sec_nseg: list[int | None] = []
    if cables:
        owner = {}
        for g in cables:
            members = resolved[g.id]
            mset = set(members)
            firsts = [s for s in members if parent.get(s) not in mset]
            if len(firsts) != 1:
                raise err(f"section group is not one connected piece (starts at segments {firsts})",
                          "segmentGroup", g.id)
            run = [firsts[0]]
            while True:
                nxt = [c for c in children[run[-1]] if c in mset]
                if len(nxt) > 1:
                    raise err(f"section group branches at segment {run[-1]}", "segmentGroup", g.id)
                if not nxt:
                    break
                run.append(nxt[0])
            if len(run) != len(mset):
                raise err("section group is not an unbranched run of segments", "segmentGroup", g.id)
            for s in run:
                if s in owner:
                    raise err(f"segment {s} is in two sections ({owner[s]} and {g.id})",
                              "segmentGroup", g.id)
                owner[s] = g.id
            nseg = 1
            for prop in g.properties or ():
                if prop.tag == "numberInternalDivisions":
                    nseg = int(prop.value)
            sec_segs.append(run)
            sec_names.append(g.id)
            sec_nseg.append(nseg)
        missing = [s for s in order if s not in owner]
        if missing:
            raise err(f"segments {missing[:10]} are in no section group (neuroLexId {CABLE})",
                      "segment", missing[0])
    elif unbranched == "segments":
        for sid in order:
            sec_segs.append([sid])
            sec_names.append(segs[sid].name or f"Seg{sid}")
            sec_nseg.append(1)
        if len(set(sec_names)) != len(sec_names):
            sec_names = [f"Seg{r[0]}" for r in sec_segs]
        notes.append(f"no segment groups with neuroLexId {CABLE}: each segment made a section "
                     "(nseg 1), as jNeuroML's NEURON export does")
    else:
        # unbranched runs: a run continues into a segment's only child when
        # that child attaches at the segment's distal end and is in the same
        # region (soma, axon, dendrite), as Import3d ends sections at type changes
        def region_of(sid):
            for k, (_, _, ss) in enumerate(region_sets):
                if sid in ss:
                    return k
            return -1

        def continues(sid):
            ch = children[sid]
            return len(ch) == 1 and frac[ch[0]] == 1.0 and region_of(ch[0]) == region_of(sid)

        start = [s for s in order if s == roots[0] or not continues(parent[s])]
        for s0 in start:
            run = [s0]
            while continues(run[-1]):
                run.append(children[run[-1]][0])
            sec_segs.append(run)
            name = segs[s0].name
            sec_names.append(name if name else f"seg{s0}")
            sec_nseg.append(None)
        if len(set(sec_names)) != len(sec_names):
            sec_names = [f"seg{r[0]}" for r in sec_segs]
        notes.append(f"no segment groups with neuroLexId {CABLE}: unbranched runs of segments "
                     "made sections (nseg by the d_lambda rule unless given; jNeuroML's export "
                     "makes one section per segment instead: unbranched='segments')")

    sec_of = {s: i for i, run in enumerate(sec_segs) for s in run}
    # sections in tree order (parents first), root first
    root_sec = sec_of[roots[0]]
    sorder = []
    seen = set()
    for sid in order:
        i = sec_of[sid]
        if i not in seen:
            seen.add(i)
            sorder.append(i)
    assert sorder[0] == root_sec
    new_index = {old: k for k, old in enumerate(sorder)}

    def points(run, name):
        pts = [prox(run[0])]
        for k, sid in enumerate(run):
            if k and segs[sid].proximal is not None and _point(segs[sid].proximal) != pts[-1]:
                notes.append(f"section {name}: the proximal point of segment {sid} differs from the "
                             "distal point before it and is ignored, as jNeuroML's NEURON export does")
            pts.append(_point(segs[sid].distal))
        return pts

    def arc_of(pts):
        arc = [0.0]
        for a, b in zip(pts, pts[1:]):
            arc.append(arc[-1] + math.dist(a[:3], b[:3]))
        return arc

    sections = []
    for old in sorder:
        run = sec_segs[old]
        region, t = "dend", 3
        for rg, tt, ss in region_sets:
            if run[0] in ss:
                region, t = rg, tt
                break
        first = run[0]
        if first in parent:
            ps = parent[first]
            pi = sec_of[ps]
            prun = sec_segs[pi]
            fa = frac[first]
            if len(prun) == 1:
                px = fa
            else:
                # jNeuroML takes fractionAlong within 1e-4 of 0 or 1 as 0 or 1
                # and refuses other values on a parent of several segments;
                # those are placed by arc length here
                if abs(fa - 1.0) < 1e-4:
                    fa = 1.0
                elif abs(fa) < 1e-4:
                    fa = 0.0
                else:
                    notes.append(f"segment {first} attaches at fractionAlong={fa:g} of segment {ps}, "
                                 f"inside section {sec_names[pi]} of {len(prun)} segments (jNeuroML's "
                                 "NEURON export refuses this); placed by arc length")
                arc = arc_of(points(prun, sec_names[pi]))
                k = prun.index(ps)
                pos = arc[k] + fa * (arc[k + 1] - arc[k])
                px = pos / arc[-1] if arc[-1] > 0 else fa
            psec = new_index[pi]
        else:
            px, psec = 0.0, None
        pts = points(run, sec_names[old])
        if len(run) == 1 and pts[0][:3] == pts[1][:3]:
            # a spherical segment (proximal = distal): jNeuroML's export
            # makes it a cylinder along y, length = diameter
            x, y, z, d = pts[0]
            pts = [(x, y, z, d), (x, y + d, z, d)]
            notes.append(f"section {sec_names[old]}: zero-length (spherical) segment {run[0]} made a "
                         f"cylinder of length {d:g} um along y, as jNeuroML's NEURON export does")
        if len(pts) < 2:
            raise err("section has fewer than two points", "segmentGroup", sec_names[old])
        sections.append(Section(name=sec_names[old], type=t, region=region, parent=psec,
                                parent_x=min(max(px, 0.0), 1.0), points=tuple(pts), nseg=sec_nseg[old],
                                source=Source(file=f, line=lines.find("segment", first) if lines else None,
                                              origin=f"segment {first}")))
    out_groups = []
    for g in morph.segment_groups:
        ss = resolved[g.id]
        secs_in = sorted({new_index[sec_of[s]] for s in ss})
        out_groups.append(SectionGroup(g.id, tuple(secs_in), tuple(ss), g.neuro_lex_id))
    return Morphology(sections=tuple(sections), groups=tuple(out_groups), file=f, format="neuroml",
                      notes=tuple(dict.fromkeys(notes)))
