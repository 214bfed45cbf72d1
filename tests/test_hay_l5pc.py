"""Hay et al. 2011's L5 pyramidal cell (ModelDB 139653) built with nmlcell's
API (examples/hay_l5pc_nmodl.py) against the original hoc template in NEURON.

NEURON runs L5PCtemplate.hoc + L5PCbiophys3.hoc on cell1.asc in a
subprocess (secondorder 0, dt 0.025, no rate tables). The cell's
discretisation and every distributed parameter must be NEURON's exactly;
then the traces agree to round-off. The paper's 3 s step is marked slow;
a 130 ms step from 50 ms (five spikes) runs by default."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nmlcell

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "hay_l5pc_nmodl.py"
SOMA3 = HERE / "data" / "morph" / "soma3.swc"


def _example():
    spec = importlib.util.spec_from_file_location("hay_l5pc_nmodl", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


hay = _example()
REC = ("soma[0](0.5).v", "apic[36](0.5).v", "axon[1](0.5).v", "dend[10](0.5).v")


@pytest.fixture(scope="module")
def lib():
    if not (hay.MODEL_DIR / "mod").is_dir():
        pytest.skip(f"model corpus not found at {hay.MODEL_DIR}")
    pytest.importorskip("neuron")
    return hay.compile_mods()


@pytest.fixture(scope="module")
def short(lib):
    stim = dict(delay=50.0, dur=1000.0)
    ours = hay.run_nmlcell(130.0, record=REC, stimulus=stim, warm_up=False, progress=False)
    ref = hay.run_neuron(lib, 130.0, record=REC, stimulus=stim, dump=True)
    return ours, ref


def test_cell_is_the_templates(short):
    """nseg and L of every section (the stub axon included), and cm, g_pas,
    gIhbar, gCa_LVAstbar and gCa_HVAbar of every segment, as NEURON has
    them after L5PCtemplate's init."""
    ours, ref = short
    cell = ours["cell"]
    disc = cell.discretisation()
    morph = disc.morphology
    assert sorted(morph.names) == sorted(ref["dump"])
    assert sum(disc.nseg) == 642
    p = cell.parameters(hay.CELSIUS)
    for i, s in enumerate(morph.sections):
        want = ref["dump"][s.name]
        assert disc.nseg[i] == want["nseg"], s.name
        assert abs(disc.L[i] - want["L"]) < 1e-9, s.name
        for name in ("gIhbar_Ih", "gCa_LVAstbar_Ca_LVAst", "gCa_HVAbar_Ca_HVA", "g_pas", "cm"):
            for k, value in enumerate(want.get(name, ())):
                gid, j = cell._index[disc.first[i] + k]
                got = np.asarray(p[gid][name])
                got = float(got[j]) if got.ndim else float(got)
                assert got == pytest.approx(value, rel=1e-14, abs=0), (s.name, k, name)


def test_short_step_matches_neuron(short):
    ours, ref = short
    soma = hay.compare(ours, ref, REC[0])
    assert soma["spikes"] == soma["spikes_neuron"] >= 5
    assert soma["max_spike_dt"] < 1e-6  # ms; the issue asks for 0.1
    for q in REC:
        n = len(ref["t"])
        assert np.max(np.abs(ours["traces"][q][:n] - ref["traces"][q])) < 1e-6, q


@pytest.mark.slow
def test_step_current_3s_matches_neuron(lib):
    """The paper's protocol: 0.793 nA from 700 to 2700 ms, 3 s."""
    ours = hay.run_nmlcell(3000.0, warm_up=False, progress=False)
    ref = hay.run_neuron(lib, 3000.0)
    c = hay.compare(ours, ref)
    assert c["spikes"] == c["spikes_neuron"] >= 10
    assert c["max_spike_dt"] < 0.1
    assert c["max_dv_quiet"] < 1e-3


# --- the API the example uses, on a small morphology ---------------------------------------
_NRN_DISTANCE = r'''
import json, sys
from neuron import h
h.load_file("stdlib.hoc"); h.load_file("import3d.hoc")
r = h.Import3d_SWC_read(); r.input(sys.argv[1]); h.Import3d_GUI(r, 0).instantiate(None)
secs = {s.name(): s for s in h.allsec()}
for s in list(secs.values()):
    if s.name().startswith("axon"):
        h.delete_section(sec=s)
a0 = h.Section(name="stub0"); a1 = h.Section(name="stub1")
for s in (a0, a1):
    s.L, s.diam = 30.0, 1.0
a0.connect(secs["soma[0]"](0.5), 0); a1.connect(a0(1), 0)
secs = {s.name(): s for s in h.allsec()}
for s in secs.values():
    s.nseg = 3
out = []
for a, b in json.loads(sys.argv[2]):
    (na, xa), (nb, xb) = a, b
    out.append(h.distance(secs[na](xa), secs[nb](xb)))
print(json.dumps(out))
'''


def test_edit_morphology_and_distance_like_neuron():
    pytest.importorskip("neuron")
    cell = nmlcell.Cell(SOMA3, nseg=3)
    cell.delete("axon")
    cell.create("stub0", L=30.0, diam=1.0, at="soma[0](0.5)", region="axon")
    cell.create("stub1", L=30.0, diam=1.0, at="stub0(1)", region="axon")
    assert [s.name for s in cell.morphology.sections if s.region == "axon"] == ["stub0", "stub1"]
    pairs = [(("soma[0]", 0.0), ("stub1", 1.0)), (("dend[1]", 0.9), ("stub0", 0.5)),
             (("dend[0]", 0.3), ("dend[0]", 0.8)), (("soma[0]", 0.5), ("dend[1]", 0.5)),
             (("dend[1]", 1.0), ("dend[0]", 0.0))]
    r = subprocess.run([sys.executable, "-c", _NRN_DISTANCE, str(SOMA3), json.dumps(pairs)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    want = json.loads(r.stdout.strip().splitlines()[-1])
    got = [cell.distance(f"{b}({xb})", origin=f"{a}({xa})") for (a, xa), (b, xb) in pairs]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    assert cell.segments("stub0", ends=True) == ["stub0(0.0)", "stub0(0.16666666666666666)", "stub0(0.5)",
                                                 "stub0(0.8333333333333334)", "stub0(1.0)"]


def test_per_segment_values_and_ion_settings():
    """A mapping location -> value is applied as NEURON's sec(x).name = value
    (x = 1 is the last segment, later entries win); ek is set where K is."""
    cell = nmlcell.Cell(SOMA3, nseg=3)
    cell.insert("hh", where="soma")
    cell.insert("pas", where=["dend", "axon"],
                g={"dend[0](0.5)": 2e-4, "dend[0](0.9)": 3e-4, "dend[0](1)": 4e-4})
    cell.set(ek=-85.0, where="soma")
    p = cell.parameters()
    disc = cell.discretisation()
    i = disc.morphology.index("dend[0]")
    got = []
    for k in range(3):
        gid, j = cell._index[disc.first[i] + k]
        g = np.asarray(p[gid]["g_pas"])
        got.append(float(g[j]) if g.ndim else float(g))
    assert got == [0.001, 2e-4, 4e-4]  # segment 0 keeps pas's default
    gid, _ = cell._index[disc.segment("soma[0]", 0.5)]
    assert float(np.ravel(p[gid]["ek"])[0]) == -85.0

    bad = nmlcell.Cell(SOMA3, nseg=3)
    bad.insert("pas", g={"dend[0](0.5)": 1e-4}, where="axon")
    with pytest.raises(nmlcell.OptionError, match="not inserted"):
        bad.parameters()
    bad2 = nmlcell.Cell(SOMA3, nseg=3)
    bad2.insert("pas")
    bad2.set(ek=-85.0, where="dend")
    with pytest.raises(nmlcell.OptionError, match="no mechanism there uses that ion"):
        bad2.parameters()
    twig = nmlcell.Cell(SOMA3).create("twig", L=5.0, diam=1.0, at="dend[0](1)", region="dend")
    with pytest.raises(nmlcell.OptionError, match="unattached"):
        twig.delete("dend[0]")
    with pytest.raises(nmlcell.OptionError, match="root"):
        twig.delete("soma")
    with pytest.raises(nmlcell.OptionError, match="exists"):
        nmlcell.Cell(SOMA3).create("dend[0]", L=1.0, diam=1.0, at="soma[0](1)")
