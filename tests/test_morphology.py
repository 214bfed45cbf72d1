"""Morphologies: readers (SWC, Neurolucida .asc, NeuroML) and NEURON's discretisation.

Three tiers:
- small hand-written files (``tests/data/morph``) and analytic cables,
  without NEURON;
- the same files against NEURON itself (Import3d for SWC/ASC), in a
  subprocess so its sections never meet another test's;
- the corpus (skipped when absent): the MouseLight SWCs, Hay et al.'s three
  ``.asc`` cells, and NeuroML cells against jNeuroML's NEURON export
  (needs Java).

"Against NEURON" means: the same section names, parents and attachment
positions, the same nseg (NEURON's d_lambda rule at 100 Hz, or the file's),
every segment's ``area()`` and ``ri()``, the 1-end nodes' ``ri()`` and the
total area within 1e-9 relative (measured: within 1e-14); and, as a check
of the whole tree (connections, zero-area end nodes), the DC transfer
resistance from the root's middle to every segment of the cell made passive
(NEURON's ``Impedance`` against a nodal solve on the discretisation)
within 1e-8.
"""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nmlcell.errors import ModelImportError
from nmlcell.importers.morphology import contour_centroid, load_morphology
from nmlcell.ir.morphology import Morphology, Section
from nmlcell.lower.discretize import discretize, lambda_nseg

DATA = Path(__file__).resolve().parent / "data" / "morph"
RTOL = 1e-9

# NEURON side: build the cell, then dump what it computed, as JSON.
_NRN = r'''
import json, re, sys
from neuron import h
h.load_file("stdlib.hoc")
mode, path = sys.argv[1], sys.argv[2]
if mode == "import3d":
    h.load_file("import3d.hoc")
    r = h.Import3d_SWC_read() if path.endswith(".swc") else h.Import3d_Neurolucida3()
    r.quiet = 1
    r.input(path)
    h.Import3d_GUI(r, 0).instantiate(None)
    # NEURON's standard d_lambda rule (the CellBuilder's geom_nseg)
    h("forall { nseg = int((L/(0.1*lambda_f(100))+.9)/2)*2 + 1 }")
elif mode == "sections":  # a JSON list of {name, parent, x, pts, nseg}
    secs = {}
    for d in json.load(open(path)):
        s = secs[d["name"]] = h.Section(name=d["name"])
        if d["parent"] is not None:
            s.connect(secs[d["parent"]](d["x"]))
        for p in d["pts"]:
            h.pt3dadd(*p, sec=s)
        s.nseg = d["nseg"]
else:  # the geometry of a jNeuroML-exported hoc template, without its biophysics
    text = open(path).read()
    def proc(name):
        return re.search(r"^proc %s\(\) \{(.*?)^\}" % name, text, re.S | re.M).group(1)
    h("".join("create %s\n" % n for n in re.findall(r"^create (\S+)", text, re.M)))
    for pn in re.findall(r"^proc (basic_shape_\d+)\(\)", text, re.M):
        h("proc %s() {%s}\n" % (pn, proc(pn)))
    h("proc basic_shape() {%s}\n" % proc("basic_shape"))
    h("proc topol() {%s}\n" % proc("topol").replace("basic_shape()", ""))
    h("proc geom_nseg() {%s}\n" % proc("geom_nseg"))
    h.basic_shape(); h.topol(); h.geom_nseg()
# a passive cell (g_pas 1e-4 S/cm2): transfer resistances from the root's middle
# at DC, which depend on every area, ri and connection of the tree
root = [s for s in h.allsec() if s.parentseg() is None][0]
for s in h.allsec():
    s.insert("pas")
    for seg in s:
        seg.g_pas = 1e-4
imp = h.Impedance()
imp.loc(0.5, sec=root)
imp.compute(0, 1)
out = {}
for s in h.allsec():
    ps = s.parentseg()
    out[s.name()] = dict(parent=ps.sec.name() if ps is not None else None,
                         x=ps.x if ps is not None else None, nseg=s.nseg, L=s.L,
                         area=[seg.area() for seg in s], ri=[seg.ri() for seg in s],
                         ri1=s(1).ri(), transfer=[imp.transfer(seg.x, sec=s) for seg in s],
                         pts=[[s.x3d(i), s.y3d(i), s.z3d(i), s.diam3d(i)] for i in range(s.n3d())])
print("JSON" + json.dumps(out))
'''


def neuron_dump(mode: str, path) -> dict:
    pytest.importorskip("neuron")
    proc = subprocess.run([sys.executable, "-c", _NRN, mode, str(path)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")][-1]
    return json.loads(line[4:])


def passive_transfer(D, at: int, g_pas: float):
    """DC transfer resistances (MΩ) from compartment ``at`` to every
    compartment of a passive cable with leak ``g_pas`` (S/cm²), from the
    discretisation's areas, ri and parents (a dense nodal solve)."""
    import numpy as np
    n = len(D.compartments)
    G = np.zeros((n, n))
    for j, c in enumerate(D.compartments):
        G[j, j] += g_pas * c.area * 1e-2  # S/cm2 * um2 -> uS
        if c.parent >= 0:
            g = 1.0 / c.ri  # 1/MOhm = uS
            G[j, j] += g
            G[c.parent, c.parent] += g
            G[j, c.parent] -= g
            G[c.parent, j] -= g
    rhs = np.zeros(n)
    rhs[at] = 1.0  # nA
    return np.linalg.solve(G, rhs)  # mV per nA = MOhm


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def compare_with_neuron(m: Morphology, ref: dict, Ra: float = 35.4) -> dict:
    """Assert the IR + discretisation equal NEURON's; return the worst figures."""
    assert sorted(ref) == sorted(m.names)
    D = discretize(m, Ra=Ra)
    worst = dict(area=0.0, ri=0.0, sections=len(ref), segments=sum(D.nseg))
    for i, s in enumerate(m.sections):
        r = ref[s.name]
        # topology
        if r["parent"] is None:
            assert s.parent is None
        else:
            assert m.sections[s.parent].name == r["parent"], s.name
            assert s.parent_x == pytest.approx(r["x"], abs=1e-12), s.name
        assert D.nseg[i] == r["nseg"], s.name
        assert rel(D.L[i], r["L"]) < 1e-14, s.name
        assert len(s.points) == len(r["pts"]), s.name
        # per segment
        for k in range(D.nseg[i]):
            c = D.compartments[D.first[i] + k]
            worst["area"] = max(worst["area"], rel(c.area, r["area"][k]))
            worst["ri"] = max(worst["ri"], rel(c.ri, r["ri"][k]))
        e1 = D.end_node(i, 1.0)
        if e1 is not None:
            worst["ri"] = max(worst["ri"], rel(D.compartments[e1].ri, r["ri1"]))
        # the tree: segment 0's parent is NEURON's parent node
        if s.parent is not None:
            first = D.compartments[D.first[i]]
            assert first.parent == D.segment(s.parent, s.parent_x), s.name
    # the whole network: DC transfer resistances from the root's middle
    tr = passive_transfer(D, D.segment(0, 0.5), g_pas=1e-4)
    for i, s in enumerate(m.sections):
        for k, t in enumerate(ref[s.name]["transfer"]):
            worst["transfer"] = max(worst.get("transfer", 0.0), rel(tr[D.first[i] + k], t))
    assert worst["transfer"] < 1e-8, worst
    total_ref = math.fsum(a for r in ref.values() for a in r["area"])
    assert rel(D.total_area, total_ref) < RTOL
    assert worst["area"] < RTOL and worst["ri"] < RTOL, worst
    # Hines order: parents first
    assert all(c.parent < j for j, c in enumerate(D.compartments))
    return worst


# ------------------------------------------------------------ no NEURON needed

def test_cylinder_area_and_ri_are_analytic():
    L, d, Ra = 100.0, 2.0, 150.0
    m = Morphology((Section("cab", 3, "dend", None, 0.0, ((0, 0, 0, d), (L, 0, 0, d))),))
    D = discretize(m, nseg=4, Ra=Ra)
    for c in D.compartments:
        assert c.area == pytest.approx(math.pi * d * L / 4, rel=1e-14)
    half = 4 * Ra * (L / 8) / (math.pi * d * d) * 1e-2  # MΩ
    assert D.compartments[0].ri == pytest.approx(half, rel=1e-14)
    assert D.compartments[1].ri == pytest.approx(2 * half, rel=1e-14)
    assert [c.x for c in D.compartments] == [0.125, 0.375, 0.625, 0.875]


def test_cone_area_is_the_frustum_lateral_surface():
    m = Morphology((Section("cone", 3, "dend", None, 0.0, ((0, 0, 0, 4.0), (30, 0, 0, 2.0))),))
    D = discretize(m, nseg=1)
    assert D.total_area == pytest.approx(math.pi * (2 + 1) * math.sqrt(30 ** 2 + 1), rel=1e-14)
    # 4 Ra ds / (pi d1 d2) over each half, with d interpolated at the centre (3 um)
    r_left = 4 * 35.4 * 15 / (math.pi * 4 * 3) * 1e-2
    assert D.compartments[0].ri == pytest.approx(r_left, rel=1e-14)


def test_d_lambda_rule():
    # 1000 um of 1 um cable, Ra 100, cm 1: lambda(100 Hz) = 1e5*sqrt(d/(4 pi f Ra cm))
    s = Section("c", 3, "dend", None, 0.0, ((0, 0, 0, 1.0), (1000, 0, 0, 1.0)))
    lam = 1e5 * math.sqrt(1.0 / (4 * math.pi * 100 * 100 * 1))
    assert lambda_nseg(s, 100.0, 1.0) == int((1000 / (0.1 * lam) + 0.9) / 2) * 2 + 1
    assert lambda_nseg(s, 100.0, 1.0) % 2 == 1


def test_y_branch_sections_follow_import3d():
    m = load_morphology(DATA / "y_branch.swc")
    assert m.format == "swc"
    assert sorted(m.names) == ["axon[0]", "dend[0]", "dend[1]", "dend[2]", "soma[0]"]
    soma = m.section("soma[0]")
    # one-point soma: a 3-point cylinder along x, length = diameter = 12
    assert [p[0] for p in soma.points] == [-6.0, 0.0, 6.0]
    assert {p[3] for p in soma.points} == {12.0}
    d0 = m.section("dend[0]")
    assert d0.parent == 0 and d0.parent_x == 0.5
    assert d0.points[0] == (0.0, 7.0, 0.0, 3.0)  # wired: starts at its own first point
    for name in ("dend[1]", "dend[2]"):
        s = m.section(name)
        assert m.sections[s.parent].name == "dend[0]" and s.parent_x == 1.0
        assert s.points[0] == (0.0, 20.0, 1.0, 2.0)  # copy of the branch point, its diameter
    assert m.group("somatic").sections == (m.index("soma[0]"),)
    assert any("one-point soma" in n for n in m.notes)


def test_zero_length_section_is_removed():
    m = load_morphology(DATA / "zero_length_section.swc")
    assert len(m.sections) == 4
    assert any("zero length; removed" in n for n in m.notes)
    # its children attach where it was: at the end of dend[0]
    assert all(m.sections[s.parent].name == "dend[0]" and s.parent_x == 1.0
               for s in m.sections if s.name in ("dend[1]", "dend[2]"))


def test_three_point_soma_is_a_sphere():
    m = load_morphology(DATA / "soma3.swc")
    soma = m.section("soma[0]")
    assert [p[:3] for p in soma.points] == [(5.0, 10.0, 0.0), (10.0, 10.0, 0.0), (15.0, 10.0, 0.0)]
    assert all(m.sections[s.parent].name == "soma[0]" and s.parent_x == 0.5
               for s in m.sections[1:])
    D = discretize(m, nseg=1)
    assert D.compartments[0].area == pytest.approx(math.pi * 10 * 10, rel=1e-14)  # sphere's area


def test_soma_chain_attachment_positions():
    m = load_morphology(DATA / "soma_chain.swc")
    att = {s.name: (m.sections[s.parent].name, s.parent_x) for s in m.sections if s.parent is not None}
    assert att["dend[0]"] == ("soma[0]", 0.0)   # on the soma's first point
    assert att["dend[1]"] == ("soma[0]", 0.5)   # on an interior point
    assert att["dend[2]"] == ("soma[0]", 0.5)
    assert att["apic[0]"] == ("soma[0]", 1.0)   # on its last point
    D = discretize(m, nseg=1)
    root_end = D.segment("soma[0]", 0.0)
    assert D.compartments[root_end].area == 0.0 and D.compartments[root_end].index == -1
    assert D.compartments[D.first[m.index("dend[0]")]].parent == root_end


def test_asc_contour_soma():
    m = load_morphology(DATA / "small.asc")
    assert m.format == "asc"
    assert sorted(m.names) == ["apic[0]", "apic[1]", "apic[2]", "axon[0]", "dend[0]", "soma[0]"]
    soma = m.section("soma[0]")
    assert len(soma.points) == 21
    assert all(m.sections[m.index(n)].parent_x == 0.5 for n in ("apic[0]", "dend[0]", "axon[0]"))
    a1 = m.section("apic[1]")
    assert a1.points[0] == (1.0, 20.0, 1.0, 1.0)  # parent's last point, own first diameter


def test_asc_tree_outside_the_soma_is_noted():
    m = load_morphology(DATA / "branches_edge.asc")
    assert any("axon tree" in n and "outside the soma contour" in n for n in m.notes), m.notes
    assert m.section("axon[0]").parent_x == 0.5


def test_contour_centroid_of_a_circle():
    n = 64
    r = 5.0
    xs = [r * math.cos(2 * math.pi * k / n) for k in range(n)]
    ys = [2 * r * math.sin(2 * math.pi * k / n) for k in range(n)]  # an ellipse 10 x 20
    pts = contour_centroid(xs, ys, [0.0] * n)
    assert len(pts) == 21
    # along the major (y) axis; NEURON resamples the open polyline through the
    # contour points (not the closing edge), which shifts the mean a little
    xs_c = [p[0] for p in pts]
    assert max(abs(x) for x in xs_c) < 0.1
    assert pts[-1][1] - pts[0][1] == pytest.approx(4 * r, rel=0.1)
    assert pts[10][3] == pytest.approx(2 * r, rel=2e-2)


def test_locate_and_lookup():
    m = load_morphology(DATA / "y_branch.swc")
    D = discretize(m, nseg={"soma": 1, "default": 3})
    i = m.index("dend[1]")
    assert D.locate("dend[1](0.5)") == D.first[i] + 1
    assert D.locate("dend[1](0.01)") == D.first[i]
    assert D.locate("dend[1](1)") == D.first[i] + 2   # no end node there: last segment
    assert D.locate("soma") == D.first[0]
    with pytest.raises(ValueError):
        D.locate("dend[1](1.5)")
    with pytest.raises(KeyError):
        D.locate("nosuch(0.5)")


def test_discretisation_per_section_values():
    m = load_morphology(DATA / "y_branch.swc")
    D = discretize(m, nseg=2, Ra={"soma": 100.0, "dend": 200.0, "axon": 50.0}, cm={"default": 0.9})
    for c in D.compartments:
        region = m.sections[c.section].region
        assert c.Ra == {"soma": 100.0, "dend": 200.0, "axon": 50.0}[region]
        assert c.cm == 0.9


def test_hand_built_tree_matches_neuron(tmp_path):
    """Diameter steps (on segment boundaries, at both ends), attachments inside
    sections (on segment boundaries too), at x = 0 of a non-root section and
    of the root, and various nseg, against NEURON's own sections."""
    P = lambda *pts: tuple(tuple(float(v) for v in p) for p in pts)  # noqa: E731
    secs = [
        Section("root", 1, "soma", None, 0.0, P((0, 0, 0, 2), (0, 0, 0, 6), (10, 0, 0, 6), (20, 0, 0, 4))),
        Section("a", 3, "dend", 0, 0.5, P((10, 0, 0, 2), (15, 0, 0, 2), (15, 0, 0, 4), (20, 0, 0, 4))),
        Section("b", 3, "dend", 1, 0.0, P((10, 0, 0, 1), (10, 9, 0, 1.5), (10, 12, 0, 1.5), (10, 12, 0, 0.5))),
        Section("c", 3, "dend", 2, 0.0, P((10, 0, 0, 1), (0, 9, 0, 1))),
        Section("d", 3, "dend", 0, 0.0, P((0, 0, 0, 1), (-5, -5, 0, 0.8), (-9, -12, 1, 0.7))),
        Section("e", 3, "dend", 1, 1 / 3, P((12, 0, 0, 1), (12, -7, 0, 1))),
        Section("f", 3, "dend", 1, 1.0, P((20, 0, 0, 1), (30, 0, 0, 1))),
        Section("g", 3, "dend", 1, 1.0, P((20, 0, 0, 1), (20, 30, 0, 1), (20, 35, 0, 3))),
    ]
    m = Morphology(tuple(secs))
    nseg = {"root": 2, "a": 4, "b": 3, "c": 1, "d": 5, "e": 2, "f": 1, "g": 7}
    spec = [dict(name=s.name, parent=None if s.parent is None else secs[s.parent].name,
                 x=s.parent_x, pts=[list(p) for p in s.points], nseg=nseg[s.name]) for s in secs]
    path = tmp_path / "tree.json"
    path.write_text(json.dumps(spec))
    ref = neuron_dump("sections", path)
    mm = Morphology(tuple(Section(s.name, s.type, s.region, s.parent, s.parent_x, s.points,
                                  nseg=nseg[s.name]) for s in secs))
    compare_with_neuron(mm, ref)
    assert m.children(1) == (2, 5, 6, 7)


# ------------------------------------------------------------ bad input

def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("body, words, line", [
    ("1 1 0 0 0 5 -1\n2 3 0 5 0 1 1\n3 3 0 10 0 1 7\n", "parent", 3),
    ("1 1 0 0 0 5 -1\n2 3 0 5 0 1 3\n3 3 0 10 0 1 2\n", "cycle", 2),
    ("1 1 0 0 0 5 -1\n2 3 0 5 0 0 1\n3 3 0 10 0 1 2\n", "radius 0", 2),
    ("1 1 0 0 0 5 -1\n2 3 0 5 0 1 -1\n3 3 0 10 0 1 2\n", "2 roots", 2),
    ("1 1 0 0 0 5 -1\n2 3 0 5 0 x 1\n", "line", 2),
    ("1 1 0 0 0 5 -1\n2 3 0 5 0 1 1\n2 3 0 9 0 1 1\n", "duplicate", None),
])
def test_broken_swc(tmp_path, body, words, line):
    p = _write(tmp_path, "bad.swc", body)
    with pytest.raises(ModelImportError) as e:
        load_morphology(p)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg and words in msg, msg
    if line:
        assert e.value.line == line, msg


_NML = """<neuroml xmlns="http://www.neuroml.org/schema/neuroml2" id="t">
  <cell id="c">
    <morphology id="m">
      <segment id="0" name="soma"><proximal x="0" y="0" z="0" diameter="10"/><distal x="0" y="10" z="0" diameter="10"/></segment>
      <segment id="1" name="d0"><parent segment="0"/><proximal x="0" y="10" z="0" diameter="2"/><distal x="0" y="30" z="0" diameter="2"/></segment>
      <segment id="2" name="d1"><parent segment="1"/><distal x="0" y="50" z="0" diameter="1.5"/></segment>
      <segment id="3" name="d2"><parent segment="1" fractionAlong="0.5"/><distal x="20" y="20" z="0" diameter="1"/></segment>
      {extra}
    </morphology>
  </cell>
</neuroml>
"""


def test_nml_unbranched_runs_and_groups(tmp_path):
    extra = """<segmentGroup id="soma_group" neuroLexId="GO:0043025"><member segment="0"/></segmentGroup>
      <segmentGroup id="dends"><path><from segment="1"/><to segment="2"/></path></segmentGroup>
      <segmentGroup id="below1"><subTree><from segment="1"/></subTree></segmentGroup>
      <segmentGroup id="all"><include segmentGroup="soma_group"/><include segmentGroup="below1"/></segmentGroup>"""
    m = load_morphology(_write(tmp_path, "c.cell.nml", _NML.format(extra=extra)))
    assert m.format == "neuroml"
    # runs end at branch points and where the region changes
    assert m.names == ("soma", "d0", "d1", "d2")
    assert m.section("d1").points == ((0.0, 30.0, 0.0, 2.0), (0.0, 50.0, 0.0, 1.5))
    assert m.section("d2").parent_x == 0.5  # fractionAlong on a one-segment section
    assert m.sections[0].region == "soma" and m.sections[1].region == "dend"
    assert m.group("dends").segments == (1, 2)
    assert m.group("below1").segments == (1, 2, 3)
    assert set(m.group("all").segments) == {0, 1, 2, 3}


@pytest.mark.parametrize("extra, words", [
    ('<segmentGroup id="g"><include segmentGroup="nothing"/></segmentGroup>', "names no segment group"),
    ('<segmentGroup id="g"><member segment="99"/></segmentGroup>', "names no segment"),
    ('<segment id="9" name="x"><proximal x="0" y="0" z="0" diameter="1"/>'
     '<distal x="1" y="0" z="0" diameter="1"/></segment>', "2 root segments"),
    ('<segmentGroup id="s" neuroLexId="sao864921383"><member segment="0"/></segmentGroup>'
     '<segmentGroup id="t" neuroLexId="sao864921383"><member segment="1"/><member segment="2"/>'
     '<member segment="3"/></segmentGroup>', "branches"),
])
def test_bad_nml_morphology(tmp_path, extra, words):
    p = _write(tmp_path, "bad.cell.nml", _NML.format(extra=extra))
    with pytest.raises(ModelImportError) as e:
        load_morphology(p)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg and words in msg, msg
    assert e.value.line is not None, msg


def test_degenerate_sections_are_refused():
    with pytest.raises(ValueError, match="needs two or more"):
        Morphology((Section("s", 1, "soma", None, 0.0, ((0.0, 0.0, 0.0, 1.0),)),))
    flat = Morphology((Section("s", 1, "soma", None, 0.0, ((0, 0, 0, 1.0), (0, 0, 0, 2.0))),))
    with pytest.raises(ModelImportError, match="zero length"):
        discretize(flat, nseg=1)
    thin = Morphology((Section("s", 1, "soma", None, 0.0, ((0, 0, 0, 1.0), (5, 0, 0, 0.0))),))
    with pytest.raises(ModelImportError, match="zero diameter"):
        discretize(thin, nseg=1)


def test_unknown_format(tmp_path):
    with pytest.raises(ModelImportError, match="unknown morphology format"):
        load_morphology(_write(tmp_path, "x.txt", "hello"))
    with pytest.raises(ModelImportError, match="not found"):
        load_morphology(tmp_path / "missing.swc")


# ------------------------------------------------------------ against NEURON

@pytest.mark.parametrize("name", ["y_branch.swc", "soma3.swc", "soma_chain.swc", "small.asc",
                                  "soma3_not_neuromorpho.swc", "no_soma.swc",
                                  "branch_on_wired_dendrite.swc", "zero_length_section.swc",
                                  "soma_two_points.swc", "branches_edge.asc"])
def test_small_files_match_neuron_import3d(name):
    path = DATA / name
    compare_with_neuron(load_morphology(path), neuron_dump("import3d", path))


CORPUS_IMPORT3D = [
    "mouselight-swc/SWC/AA1506.swc",
    "mouselight-swc/SWC/AA1507.swc",
    "modeldb-139653-hay2011/morphologies/cell1.asc",
    "modeldb-139653-hay2011/morphologies/cell2.asc",
    "modeldb-139653-hay2011/morphologies/cell3.asc",
]


@pytest.mark.parametrize("rel_path", CORPUS_IMPORT3D)
def test_corpus_matches_neuron_import3d(corpus, rel_path):
    path = corpus / rel_path
    if not path.exists():
        pytest.skip(f"{rel_path} not in the corpus")
    worst = compare_with_neuron(load_morphology(path), neuron_dump("import3d", path))
    assert worst["sections"] > 100


def _jnml_export(tmp_path, folder: Path, lems: str, cell: str, lems_file: bool = True) -> Path:
    jnml = shutil.which("jnml") or str(Path(sys.executable).parent / "jnml")
    if not Path(jnml).exists():
        pytest.skip("jNeuroML's jnml command not found")
    work = tmp_path / "export"
    shutil.copytree(folder, work)
    (work / "results").mkdir(exist_ok=True)
    env = dict(__import__("os").environ, NEURON_HOME=str(Path(sys.executable).parent.parent))
    args = [jnml, lems, "-neuron", "-nogui"] if lems_file else [jnml, lems, "-neuron"]
    proc = subprocess.run(args, cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)
    hoc = work / f"{cell}.hoc"
    assert hoc.exists(), (proc.stdout + proc.stderr)[-2000:]
    return hoc


def test_nml_morphology_by_reference(corpus):
    # <cell morphology="morphology_pyr_4_sym"> with the morphology in an included file
    folder = corpus / "nml2-core-examples/LEMSexamples/morphologies"
    if not (folder / "pyr_full_out.cell.nml").exists():
        pytest.skip("pyr_full_out.cell.nml not in the corpus")
    a = load_morphology(folder / "pyr_full_out.cell.nml")
    b = load_morphology(folder / "pyr_4_sym.cell.nml")
    assert a.names == b.names and [s.points for s in a.sections] == [s.points for s in b.sections]


@pytest.mark.slow
@pytest.mark.requires_java
def test_corpus_nml_without_cable_groups_matches_jnml(corpus, tmp_path):
    """MouseLight's NeuroML cell has no section groups: with unbranched="segments"
    every segment is a section, as jNeuroML exports it (jNeuroML needs
    biophysical properties to export, so a passive set is added to a copy)."""
    from nmlcell.importers.nml_morphology import read_nml_morphology
    src = corpus / "mouselight-swc/NeuroML2/AA1507.cell.nml"
    if not src.exists():
        pytest.skip("AA1507.cell.nml not in the corpus")
    folder = tmp_path / "src"
    folder.mkdir()
    text = src.read_text().replace("</morphology>", "</morphology>\n<biophysicalProperties id=\"bp\">"
                                   "<membraneProperties><specificCapacitance value=\"1.0 uF_per_cm2\"/>"
                                   "</membraneProperties><intracellularProperties><resistivity "
                                   "value=\"100 ohm_cm\"/></intracellularProperties></biophysicalProperties>", 1)
    (folder / "AA1507.cell.nml").write_text(text)
    hoc = _jnml_export(tmp_path, folder, "AA1507.cell.nml", "AA1507", lems_file=False)
    m = read_nml_morphology(src, unbranched="segments")
    compare_with_neuron(m, neuron_dump("hoc", hoc))
    runs = load_morphology(src)  # the default: unbranched runs
    assert len(runs.sections) < len(m.sections)
    # runs drop the proximal points of later segments (as jNeuroML does within a
    # section), so diameter steps between segments are smoothed: 4e-5 of the area
    assert discretize(runs, nseg=1).total_area == pytest.approx(discretize(m).total_area, rel=1e-4)


NML_CELLS = [
    pytest.param("acnet2/neuroConstruct/generatedNeuroML2", "LEMS_TwoCell.xml", "pyr_4_sym",
                 id="acnet2-pyr_4_sym"),
    pytest.param("hay2011-l5pc-osb/neuroConstruct/generatedNeuroML2", "LEMS_TestL5PC.xml", "L5PC",
                 id="hay2011-L5PC", marks=pytest.mark.slow),
    pytest.param("purkinje-passive/neuroConstruct/generatedNeuroML2", "LEMS_PurkinjeCell.xml", "purk2",
                 id="purkinje-purk2", marks=pytest.mark.slow),
]


@pytest.mark.requires_java
@pytest.mark.parametrize("folder, lems, cell", NML_CELLS)
def test_corpus_neuroml_matches_jnml_neuron_export(corpus, tmp_path, folder, lems, cell):
    src = corpus / folder
    if not (src / lems).exists():
        pytest.skip(f"{folder}/{lems} not in the corpus")
    hoc = _jnml_export(tmp_path, src, lems, cell)
    m = load_morphology(src / f"{cell}.cell.nml")
    ref = neuron_dump("hoc", hoc)
    compare_with_neuron(m, ref)
    # jNeuroML writes the file's numbers as given
    for s in m.sections:
        assert len(s.points) == len(ref[s.name]["pts"])
