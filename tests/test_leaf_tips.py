"""Point processes, stimuli and recordings at a section's free end
(a leaf's x = 1, the root's x = 0): NEURON's zero-area node there, kept by
the discretisation only when something is placed or recorded there
(nmlcell/lower/discretize.py ``tips``), against NEURON 9 on the branched
soma3.swc cell (hh in the soma and axon, pas in the dendrites, nseg 3)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nmlcell
from nrn_cells import IMPORT3D_HEAD, run_script

HERE = Path(__file__).parent
SOMA3 = HERE / "data" / "morph" / "soma3.swc"

_NEURON = IMPORT3D_HEAD + r'''
for s in secs:
    s.nseg = 3; s.cm = 1.0; s.Ra = 100.0
    if s.name().split("[")[0] in cfg["hh"]:
        s.insert("hh")
    else:
        s.insert("pas")
        for seg in s:
            seg.pas.g, seg.pas.e = 1e-4, -65.0
h.usetable_hh = 0
pps, keep = [], []
def at(name, x):
    return [s for s in secs if s.name() == name][0](x)
for mech, name, x, params in cfg["pps"]:
    p = getattr(h, mech)(at(name, x))
    for k, v in params.items():
        setattr(p, k, v)
    pps.append(p)
for start, interval, number, target, w, delay in cfg.get("netstims", []):
    ns = h.NetStim(); ns.start, ns.interval, ns.number, ns.noise = start, interval, number, 0
    nc = h.NetCon(ns, pps[target]); nc.weight[0] = w; nc.delay = delay
    keep += [ns, nc]
recs = []
for name, x in cfg["rec"]:
    v = h.Vector(); v.record(at(name, x)._ref_v); recs.append(v)
h.dt = cfg["dt"]; h.celsius = 6.3; h.secondorder = cfg["secondorder"]
h.finitialize(-65.0)
while h.t < cfg["T"] - 0.5 * h.dt:
    h.fadvance()
np.save(sys.argv[2], np.array([np.array(v) for v in recs]))
'''


HH = ("soma", "axon")


def neuron(pps, rec, *, T=30.0, dt=0.025, secondorder=0, netstims=(), hh=HH):
    """NEURON's traces of v at ``rec`` ([section, x]) with point processes
    ``pps`` ([mech, section, x, params]) and NetStims ([start, interval,
    number, index of the target in pps, weight, delay]); hh in the regions
    ``hh``, pas (1e-4 S/cm2, -65 mV) elsewhere."""
    cfg = dict(morph=str(SOMA3), pps=pps, rec=rec, T=T, dt=dt, secondorder=secondorder,
               netstims=list(netstims), hh=list(hh))
    return run_script(_NEURON, cfg, "r.npy", np.load)


def cell(pps, solver="staggered", hh=HH):
    """The same cell in nmlcell with the Cell API."""
    c = nmlcell.Cell(SOMA3, nseg=3, cm=1.0, Ra=100.0)
    if hh:
        c.insert("hh", where=list(hh))
    c.insert("pas", where=[r for r in ("soma", "dend", "axon") if r not in hh], g=1e-4, e=-65.0)
    labels = []
    for mech, name, x, params in pps:
        if mech == "IClamp":
            labels.append(c.add(nmlcell.IClamp(**params), at=f"{name}({x})"))
        else:
            labels.append(c.add(nmlcell.PointProcess(mech, **params), at=f"{name}({x})"))
    c.solver = solver
    return c, labels


def ours(pps, rec, *, solver="staggered", T=30.0, dt=0.025, hh=HH):
    c, _ = cell(pps, solver, hh)
    names = [f"{n}({x}).v" for n, x in rec]
    res = c.run(duration=T, dt=dt, celsius=6.3, record=names)
    return np.array([res[q] for q in names]), c


def _max_dv(ref, got):
    n = min(ref.shape[1], got.shape[1])
    assert abs(ref.shape[1] - got.shape[1]) <= 1
    return np.max(np.abs(ref[:, :n] - got[:, :n]), axis=1)


PULSE = dict(delay=2.0, dur=20.0, amp=0.3)
# the tips (dend[0](1), axon[0](1)), the segments beside them, the root's free end and middle
REC = [["dend[0]", 1.0], ["dend[0]", 0.9], ["axon[0]", 1.0], ["soma[0]", 0.0], ["soma[0]", 0.5]]


@pytest.mark.parametrize("solver,secondorder", [("staggered", 0), ("crank_nicolson", 2)])
def test_iclamp_at_a_leaf_tip_vs_neuron(solver, secondorder):
    """An IClamp at dend[0](1) (a leaf's tip: NEURON's zero-area node, its
    current scaled by an area of 100 um2) and one at the root's free end
    soma[0](0), v at both, beside them, and at the axon's tip (nothing
    there) against NEURON 9. Measured: 1.7e-11 mV (staggered vs secondorder
    0), 5.2e-12 mV (crank_nicolson vs secondorder 2); the tip's v is 0.81
    mV (1.6 mV with secondorder 2) from its neighbour's during the pulse.
    The tips are kept only where used: soma(0), dend[0](1), axon[0](1)."""
    pps = [["IClamp", "dend[0]", 1.0, PULSE], ["IClamp", "soma[0]", 0.0, dict(delay=8.0, dur=5.0, amp=0.2)]]
    ref = neuron(pps, REC, secondorder=secondorder)
    got, c = ours(pps, REC, solver=solver)
    dv = _max_dv(ref, got)
    assert np.all(dv < 1e-9), dv
    assert np.max(np.abs(ref[0] - ref[1])) > 0.5   # the tip is not its neighbour
    assert c.discretisation().end_nodes == ((0, 0.0, 0), (1, 1.0, 7), (3, 1.0, 14))


def test_backward_euler_at_a_leaf_tip_vs_neuron():
    """backward_euler steps every state by backward Euler, NEURON's default
    step only v (hh's gates by cnexp): on a passive cell (pas everywhere)
    both are backward Euler in v. IClamps at dend[0](1) and soma[0](0).
    Measured: 2.2e-11 mV."""
    pps = [["IClamp", "dend[0]", 1.0, PULSE], ["IClamp", "soma[0]", 0.0, dict(delay=8.0, dur=5.0, amp=0.2)]]
    ref = neuron(pps, REC, hh=())
    got, _c = ours(pps, REC, solver="backward_euler", hh=())
    dv = _max_dv(ref, got)
    assert np.all(dv < 1e-9), dv
    assert np.max(np.abs(ref[0] - ref[1])) > 0.5


def test_v_recorded_at_free_ends_vs_neuron():
    """Nothing placed at the tips, an IClamp at the soma's middle: NEURON's
    v at dend[0](1), axon[0](1) and soma[0](0) is that of the zero-area
    node there, which no current crosses: its neighbour's to 7e-15 mV
    (measured); recorded here on the node kept for the recording. Measured
    vs NEURON: 1.3e-11 mV."""
    pps = [["IClamp", "soma[0]", 0.5, PULSE]]
    ref = neuron(pps, REC)
    got, c = ours(pps, REC)
    dv = _max_dv(ref, got)
    assert np.all(dv < 1e-9), dv
    assert np.max(np.abs(ref[0] - ref[1])) < 1e-12   # NEURON: the tip's v is its neighbour's
    assert len(c.discretisation().end_nodes) == 3


def test_tips_kept_only_where_used():
    """A cell without placements or recordings at its free ends keeps no
    end node there (the compartments as before); recording one adds it."""
    c, _ = cell([["IClamp", "soma[0]", 0.5, PULSE]])
    d0 = c.discretisation()
    assert d0.end_nodes == () and len(d0) == 12
    c.record("v", at="soma[0](0.5)")
    assert c.discretisation() is d0
    c.record("v", at="dend[1](1)")
    d1 = c.discretisation()
    assert d1.end_nodes == ((2, 1.0, 9),) and len(d1) == 13
    assert d1.compartments[9].area == 0.0 and d1.compartments[9].parent == 8
    rest = d1.compartments[:9] + d1.compartments[10:]
    assert [(x.area, x.ri) for x in rest] == [(x.area, x.ri) for x in d0.compartments]


@pytest.mark.slow
def test_expsyn_at_a_leaf_tip_with_a_netstim_vs_neuron():
    """An ExpSyn at dend[1](1) driven by a NetStim (4 events, weight 0.02
    uS) and an IClamp at axon[0](1), in nmlcell.Network (staggered) vs
    NEURON. Measured: 1.7e-11 mV."""
    from nmlcell.network import Network

    pps = [["ExpSyn", "dend[1]", 1.0, dict(tau=2.0, e=0.0)], ["IClamp", "axon[0]", 1.0, dict(delay=30.0, dur=5.0,
                                                                                            amp=0.2)]]
    rec = [["dend[1]", 1.0], ["dend[1]", 0.9], ["soma[0]", 0.5], ["axon[0]", 1.0]]
    ref = neuron(pps, rec, T=50.0, netstims=[[3.0, 6.0, 4, 0, 0.02, 1.0]])
    c, labels = cell(pps)
    net = Network()
    net.add(c, "c")
    net.add(nmlcell.NetStim(3.0, 6.0, 4, 0.0), "s")
    net.connect("s", "c", labels[0], weight=0.02, delay=1.0)
    for n, x in rec:
        net.record("v", "c", f"{n}({x})")
    res = net.run(50.0, dt=0.025, celsius=6.3)
    got = np.array([res[f"c.{n}({x}).v"] for n, x in rec])
    dv = _max_dv(ref, got)
    assert np.all(dv < 1e-9), dv
    assert np.max(np.abs(ref[0] - ref[1])) > 0.1


MC_STIM = HERE / "data" / "mc_stim"
TIP_NET = {
    # a spikeArray and a synapse onto the dendrite's tip, a second cell driven from that tip
    '    <network id="net"': '''    <spikeArray id="sa">
        <spike id="0" time="12.005ms"/>
        <spike id="1" time="14.005ms"/>
        <spike id="2" time="40.005ms"/>
        <spike id="3" time="41.005ms"/>
        <spike id="4" time="42.005ms"/>
    </spikeArray>
    <expOneSynapse id="syn" tauDecay="5ms" gbase="4nS" erev="0mV"/>
    <network id="net"''',
    '<population id="pop" component="hh_two_sec" size="1"/>':
    '''<population id="pop" component="hh_two_sec" size="2"/>
        <population id="src" component="sa" size="1"/>
        <projection id="onTip" presynapticPopulation="src" postsynapticPopulation="pop" synapse="syn">
            <connection id="0" preCellId="../src[0]" postCellId="../pop[0]" postSegmentId="3" postFractionAlong="1"/>
        </projection>
        <projection id="fromTip" presynapticPopulation="pop" postsynapticPopulation="pop" synapse="syn">
            <connectionWD id="0" preCellId="../pop[0]" preSegmentId="3" preFractionAlong="1"
                postCellId="../pop[1]" postSegmentId="3" postFractionAlong="1" weight="6" delay="2ms"/>
        </projection>''',
    '<OutputColumn id="dend3" quantity="pop/0/hh_two_sec/3/v"/>':
    '''<OutputColumn id="dend3" quantity="pop/0/hh_two_sec/3/v"/>
            <OutputColumn id="soma1" quantity="pop/1/hh_two_sec/0/v"/>
            <OutputColumn id="dend13" quantity="pop/1/hh_two_sec/3/v"/>''',
}


def test_nml_synapse_and_pulse_at_a_leaf_tip_vs_neuron_export(tmp_path):
    """tests/data/mc_stim (a pulse and a sine at the dendrite's tip,
    segment 3's fractionAlong 1) with a spikeArray's synapse at that tip
    (postFractionAlong 1 on the terminal segment) and a second cell driven
    by a NetCon reading that tip's v, its synapse at its own dendrite's
    tip: the point processes on NEURON's zero-area node there, against
    jNeuroML's NEURON export (an expOneSynapse; an expTwoSynapse there, or
    at fractionAlong 0.5, is within 5.0e-6 mV too since its parameters are
    nocmodl's ``%g``: test_nml_export_events). Measured: v within 5.0e-6 mV
    (the .dat files' precision) in both cells, their 5 spikes each within
    6.5e-10 ms."""
    from test_nml_multicomp import compare

    text = (MC_STIM / "LEMS_mc_stim.xml").read_text()
    for old, new in TIP_NET.items():
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "hh_two_sec.cell.nml").write_text((MC_STIM / "hh_two_sec.cell.nml").read_text())
    lems = tmp_path / "LEMS_mc_tips.xml"
    lems.write_text(text)
    got = compare(lems, v_tol=1e-5, spike_tol=1e-8)
    assert {k: n for k, (_dv, _ds, n) in got.items()} == {"soma": 5, "dend1": 5, "dend3": 5, "soma1": 5, "dend13": 5}


@pytest.mark.slow
def test_nml_gap_junctions_at_leaf_tips_vs_neuron_export(tmp_path):
    """tests/data/mc_gap's gap junctions alone (its continuous projections
    removed), both ends at leaf tips: pyramidal 0's basal2(1) to pyramidal
    1's basal2(1), pyramidal 0's soma to the basket dendrite's tip (weight
    2.5). Measured against the export: v within 5.1e-6 mV (the .dat
    files' precision), the 10 spikes within 9.4e-9 ms."""
    import re

    from test_nml_multicomp import acnet2_network, compare

    def edit(t):
        for old, new in (('preSegment="2" preFractionAlong="0.7" postCell="../pyr/1/pyr_4_sym" postSegment="7" '
                          'postFractionAlong="0.3"',
                          'preSegment="8" preFractionAlong="1.0" postCell="../pyr/1/pyr_4_sym" postSegment="8" '
                          'postFractionAlong="1.0"'),
                         ('postCell="../bsk/0/bask" postSegment="1" postFractionAlong="0.5" synapse="gj"',
                          'postCell="../bsk/0/bask" postSegment="1" postFractionAlong="1.0" synapse="gj"')):
            assert old in t, old
            t = t.replace(old, new)
        return re.sub(r"<continuousProjection.*?</continuousProjection>\n", "", t, flags=re.S)

    got = compare(acnet2_network(tmp_path, "mc_gap", edit), v_tol=1e-5, spike_tol=1e-7)
    assert [got[k][2] for k in ("pyr0/v", "pyr1/v", "bsk/v")] == [5, 0, 5]


@pytest.mark.slow
def test_nml_input_on_an_attaching_end_node_vs_neuron_export(tmp_path):
    """An input on a zero-area node where a section attaches (listed as
    unsupported before): mc_stim's voltageClamp at segment 0's
    fractionAlong 1 (soma(1), where the dendrite attaches). Measured
    against the export: v within 5.0e-6 mV, the 3 spikes within 6.3e-10
    ms."""
    from test_nml_multicomp import compare
    from test_nml_tip_inputs import VC_MID, _variant

    got = compare(_variant(tmp_path, VC_MID, 0, 1), v_tol=1e-5, spike_tol=1e-8)
    assert got["soma"][2] == 3
