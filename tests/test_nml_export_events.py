"""Event timing and synapse parameters of multi-compartment NeuroML
networks against jNeuroML's NEURON export, where round-off decides:

- spike times on the step grid (a spikeArray's ``WATCH (t > time)``) or on
  half-step points (a timedSynapticInput's NetStims, delivered up to ``t +
  dt/2``) fire on the step NEURON's running ``t`` (two half-step additions
  per step) gives them (``nmlcell/importers/nrn_clock.py``);
- synapse parameters as NEURON holds them: nocmodl compiles a PARAMETER's
  default with ``%g`` (expTwoSynapse's waveformFactor ``1.4350551`` is
  ``1.43506`` in NEURON).

The networks: tests/data/export_events (hh_two_sec of tests/data/mc_stim,
an expTwoSynapse on the soma, an expOneSynapse at the dendrite's tip), the
spike times and the step filled in here. References made and cached as in
test_nml_multicomp; the tests skip without Java, pynml or NEURON.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test_nml_multicomp import acnet2_network, compare

import nmlcell
from nmlcell.importers.nrn_clock import neuron_times, netstim_steps, netstim_thresholds, watch_thresholds

HERE = Path(__file__).parent
DATA = HERE / "data" / "export_events"
CELL = HERE / "data" / "mc_stim" / "hh_two_sec.cell.nml"

# on the grid; 33.33 (dt 0.01) and 33.325 (dt 0.025) are where NEURON's t is
# below the time (it fires a step after k*dt = time), 12 and 50 at dt 0.01
# above it (the same step)
GRID = {0.01: (12.0, 33.33, 50.0), 0.025: (12.0, 33.325, 50.0)}
# half-step points (NetStims), and one on the grid
HALF = {0.01: (12.005, 20.0, 33.335, 50.005), 0.025: (12.0125, 20.0, 33.3375, 50.0125)}


def _variant(tmp_path, which, dt, times):
    text = (DATA / f"LEMS_grid_{which}.xml").read_text()
    spikes = "\n".join(f'        <spike id="{k}" time="{t}ms"/>' for k, t in enumerate(times))
    lems = tmp_path / f"LEMS_grid_{which}.xml"
    lems.write_text(text.replace("SPIKES", spikes).replace('step="STEP"', f'step="{dt}ms"'))
    (tmp_path / CELL.name).write_text(CELL.read_text())
    return lems


_CLOCK = r'''import sys, json, numpy as np
from neuron import h
h.load_file("stdrun.hoc")
cfg = json.loads(sys.argv[1])
s = h.Section(); s.L = s.diam = 10
out = {}
for dt, starts in cfg["runs"]:
    syns, ncs, stims, gs = [], [], [], []
    for x in starts:   # one NetStim (number 1) into its own ExpSyn: g jumps on the delivery step
        ns = h.NetStim(); ns.number = 1; ns.start = x
        syn = h.ExpSyn(s(0.5)); nc = h.NetCon(ns, syn); nc.weight[0] = 1e-6; nc.delay = 0
        g = h.Vector(); g.record(syn._ref_g)
        stims.append(ns); syns.append(syn); ncs.append(nc); gs.append(g)
    tv = h.Vector(); tv.record(h._ref_t)
    h.dt = dt; h.steps_per_ms = 1 / dt; h.tstop = cfg["tstop"]
    h.run()
    out[str(dt)] = dict(t=list(tv), first=[int(np.argmax(np.array(g) > 0)) for g in gs])
json.dump(out, open(sys.argv[2], "w"))
'''


def test_neuron_clock_and_netstim_delivery_vs_neuron():
    """nrn_clock against NEURON 9 itself (h.run(), no mod file): its
    running t at dt 0.01, 0.025 and 0.1/3 ms equal bit for bit to the
    half-step accumulation (6000 steps; it is not k*dt: 12 ms at dt 0.01
    reads 12.000000000000476, at dt 0.025 11.999999999999853), and the
    delivery step of 120 NetStims per dt started on half-step points and
    on the grid (ExpSyn g first non-zero one step after)."""
    import json

    from nrn_cells import run_script

    runs = []
    for dt in (0.01, 0.025, 0.1 / 3):
        starts = sorted({round((k + 0.5) * dt, 6) for k in range(3, 1800, 31)} |
                        {round(k * dt, 6) for k in range(3, 1800, 29)})
        runs.append((dt, starts))
    got = run_script(_CLOCK, dict(runs=runs, tstop=60.0), "clock.json", lambda p: json.loads(p.read_text()))
    for dt, starts in runs:
        r = got[str(dt)]
        t = np.array(r["t"])
        assert np.array_equal(t, neuron_times(dt, len(t) - 1)), dt
        assert not np.array_equal(t, np.arange(len(t)) * dt)
        assert [k + 1 for k in netstim_steps(starts, dt)] == r["first"], dt
    assert neuron_times(0.01, 1200)[-1] == 12.000000000000476
    assert neuron_times(0.025, 480)[-1] == 11.999999999999853


def test_thresholds_on_nmlcells_clock():
    """Without NEURON: the moved times make ``k*dt > time`` (spikeArray)
    and ``k*dt > time - dt/2`` (NetStim) first hold on NEURON's step, for
    every grid and half-step point up to 60 ms at dt 0.01 and 0.025; times
    off the grid stay; times are the export's Java floats (12.3456789 ms
    is written 12.345679)."""
    for dt in (0.01, 0.025):
        n = int(60 / dt)
        xs = [round(k * dt, 6) for k in range(1, n)]
        t_nrn = neuron_times(dt, n + 2)
        ours = np.arange(n + 3) * dt
        want = [int(np.searchsorted(t_nrn, x, side="right")) for x in xs]
        got = [int(np.searchsorted(ours, x, side="right")) for x in watch_thresholds(xs, dt)]
        assert got == want
        half = [round((k + 0.5) * dt, 6) for k in range(1, n)]
        moved = netstim_thresholds(half, dt)
        assert [int(np.argmax(ours > x - dt / 2)) for x in moved] == netstim_steps(half, dt)
    assert watch_thresholds([12.3456789, 12.0051], 0.01) == [12.345679, 12.0051]
    assert watch_thresholds([12.0, 12.0051], None) == [12.0, 12.0051]


def _ir_times(lems):
    m = nmlcell.load(lems)
    g = next(g for g in m.ir.network.groups if g.mechanism.kind == "artificial_cell")
    return [float(a[0]) for a in g.mechanism.conditions[0].test.args[-1].args[:-1]], m


def test_spike_array_thresholds_and_synapse_parameters_in_the_ir(tmp_path):
    """The IR (no NEURON): a spikeArray at 12, 33.33, 50 ms at dt 0.01 waits
    for t > 11.99999999, 33.33, 49.99999999 (NEURON's t passes 12 and 50
    on those steps); the expTwoSynapse's waveformFactor is NEURON's
    1.43506, not the export's printed 1.4350551."""
    times, m = _ir_times(_variant(tmp_path, "spikes", 0.01, GRID[0.01]))
    assert times == [12.0 - 1e-8, 33.33, 50.0 - 1e-8]
    wf = [p.value for g in m.ir.network.groups for p in g.mechanism.parameters
          if p.name.endswith("].waveformFactor")]
    assert wf == [1.43506]


@pytest.mark.parametrize("dt", [0.01, 0.025])
def test_spike_array_on_the_grid_vs_neuron_export(tmp_path, dt):
    """A spikeArray at 12, 33.33 (33.325) and 50 ms, on the grid of dt 0.01
    (0.025) ms, into the soma's expTwoSynapse and the tip's expOneSynapse.
    Measured against the export: v within 5.0e-6 mV (the .dat files'
    precision) at both dt, the synapse's g within 5.0e-7 nS; before
    (k*dt > time, one step late at 12 and 50 ms for dt 0.01, at 50 ms for
    0.025) 1.23 mV and 2.88 mV."""
    got = compare(_variant(tmp_path, "spikes", dt, GRID[dt]), v_tol=1e-5, spike_tol=1e-6)
    assert got["g"][0] < 1e-6  # relative to its range (4 nS peak): the files' 7 digits
    assert got["soma"][2] == 3


@pytest.mark.slow
@pytest.mark.parametrize("dt", [0.01, 0.025])
def test_timed_input_on_half_steps_vs_neuron_export(tmp_path, dt):
    """A timedSynapticInput (the export's NetStims, one per spike) at
    half-step points and 20 ms, into the soma's expTwoSynapse and the tip's
    expOneSynapse. Measured against the export: v within 5.0e-6 mV at both
    dt; before (t > time - dt/2 on k*dt) 0.41 mV (dt 0.01) and 1.06 mV
    (dt 0.025)."""
    got = compare(_variant(tmp_path, "timed", dt, HALF[dt]), v_tol=1e-5, spike_tol=1e-6)
    assert got["soma"][2] == 3


@pytest.mark.slow
@pytest.mark.parametrize("name,spikes", [("mc_net", [5, 5, 10]), ("mc_syn", [3, 3, 11])])
def test_acnet2_synapse_networks_at_print_precision(tmp_path, name, spikes):
    """tests/data/mc_net (expTwoSynapse/expOneSynapse) and mc_syn (synapses
    composed from their LEMS Dynamics) with the parameters NEURON holds.
    Measured against the export: mc_net v within 5.0e-6 mV outside spikes
    (was 3.5e-4 mV with the printed waveformFactor), g within 5e-6 nS;
    mc_syn 5.6e-6 mV (was 3.7e-3 mV), spikes within 3.1e-8 ms (was 9.2e-4
    ms)."""
    got = compare(acnet2_network(tmp_path, name), v_tol=1e-5, spike_tol=1e-6)
    assert [got[k][2] for k in ("pyr0/v", "pyr1/v", "bsk/v")] == spikes


@pytest.mark.slow
@pytest.mark.parametrize("frac", ["1", "0.5"])
def test_exp_two_synapse_at_a_leaf_tip_vs_neuron_export(tmp_path, frac):
    """test_leaf_tips' network (a spikeArray's synapse at mc_stim's
    dendrite tip, a second cell driven from that tip) with an
    expTwoSynapse instead of its expOneSynapse, its connections at the tip
    (fractionAlong 1) and at 0.5. Measured against the export: v within
    5.0e-6 mV in both cells, the 10 spikes within 8.2e-10 ms, at the tip
    and at 0.5; 8e-4 mV in both places with the printed waveformFactor."""
    from test_leaf_tips import MC_STIM, TIP_NET

    text = (MC_STIM / "LEMS_mc_stim.xml").read_text()
    for old, new in TIP_NET.items():
        text = text.replace(old, new)
    one = '<expOneSynapse id="syn" tauDecay="5ms" gbase="4nS" erev="0mV"/>'
    assert one in text
    text = text.replace(one, '<expTwoSynapse id="syn" tauRise="0.5ms" tauDecay="5ms" gbase="4nS" erev="0mV"/>')
    text = text.replace('postSegmentId="3" postFractionAlong="1"', f'postSegmentId="3" postFractionAlong="{frac}"')
    (tmp_path / CELL.name).write_text(CELL.read_text())
    lems = tmp_path / "LEMS_mc_tips.xml"
    lems.write_text(text)
    got = compare(lems, v_tol=1e-5, spike_tol=1e-8)
    assert {k: n for k, (_dv, _ds, n) in got.items()} == {"soma": 5, "dend1": 5, "dend3": 5, "soma1": 5,
                                                         "dend13": 5}
