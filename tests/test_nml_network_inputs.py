"""Spike sources and synaptic inputs on networks of multi-compartment
NeuroML cells (issue 6; nmlcell/importers/nml_network_inputs.py) against
jNeuroML's NEURON export, its Poisson mod files patched for NEURON 9
(tests/nrn_export.py). Deterministic inputs: every spike within 1e-3 ms;
Poisson-driven ones: rates (the export's streams are not nmlcell's)."""
from __future__ import annotations


import numpy as np
import pytest

from nrn_export import patched_neuron_reference
from test_nml_multicomp import ACNET2, acnet2_network, spike_times

import nmlcell
from nmlcell.errors import ModelImportError



def _run(lems):
    """(reference, {column: (t ms, v export mV, v nmlcell mV)}, Results)."""
    ref = patched_neuron_reference(lems)
    model = nmlcell.load(lems)
    model.solver = "staggered"
    res = model.run(progress=False)
    cols = {(o.id, c.id): c.quantity for o in model.ir.simulation.outputs for c in o.columns}
    out = {}
    for fid, o in ref["outputs"].items():
        for cid, (_q, a) in o["columns"].items():
            b = res.si(cols[fid, cid]) * 1e3
            n = min(len(a), len(b))
            out[cid] = (o["t"][:n] * 1e3, a[:n] * 1e3, b[:n])
    return ref, out, res


def _same_spikes(t, a, b, tol=1e-3):
    sa, sb = spike_times(t, a), spike_times(t, b)
    assert len(sa) == len(sb), (len(sa), len(sb))
    return float(np.max(np.abs(sa - sb))) if len(sa) else 0.0, len(sa)


def _spike_counts(got, vtol):
    """{column: spike count} of ``_run``'s traces, each column's spikes
    within 1e-3 ms of the export's and its v within ``vtol`` mV."""
    counts = {}
    for cid, (t, a, b) in got.items():
        ds, counts[cid] = _same_spikes(t, a, b)
        assert ds <= 1e-3, (cid, ds)
        assert float(np.max(np.abs(a - b))) < vtol, cid
    return counts


def test_deterministic_sources_and_inputs_vs_neuron_export(tmp_path):
    """A spikeGenerator population (period 25 ms, connectionWD weight 1.5,
    delay 2 ms), timedSynapticInputs (AMPA on soma; inputW weight 2.5 on an
    apical segment at 0.3; GABA on two cells), 150 ms at dt 0.025.
    Measured: all 8 spikes within 1e-3 ms (the printed precision), v within
    0.061 mV (at spikes)."""
    _ref, got, _res = _run(acnet2_network(tmp_path, "mc_inputs"))
    assert _spike_counts(got, 0.1) == {"v_gen": 4, "v_tsi": 2, "v_tsiw": 2, "v_tsiw2": 0}


@pytest.mark.parametrize("old,new,what", [
    ('target="../pyr/2/pyr_4_sym" destination="synapses" segmentId="2"',
     'target="../pyr/2/pyr_4_sym" destination="synapses" segmentId="40"',
     "input '1' of inputList 'tsiIn': segmentId=40: cell 'pyr_4_sym' has no such segment"),
    ('<input id="1" target="../pyr/0/pyr_4_sym"', '<input id="1" target="../pyr/7/pyr_4_sym"',
     "input '1' of inputList 'inhIn': target '../pyr/7/pyr_4_sym' names no cell"),
    ('<spike id="2" time="51ms"/>', '<spike id="2" time="5ms"/>', "its spike times are not in increasing order"),
    ('<timedSynapticInput id="tsi" synapse="AMPA"', '<timedSynapticInput id="tsi" synapse="NOPE"',
     "<timedSynapticInput>: cannot resolve model: 'NOPE'"),  # a reference to nothing
])
def test_bad_inputs(tmp_path, old, new, what):
    lems = acnet2_network(tmp_path, "mc_inputs", lambda t: t.replace(old, new))
    with pytest.raises(ModelImportError) as e:
        nmlcell.load(lems)
    msg = str(e.value)
    assert what in msg and "McInputs.net.nml" in msg, msg
    assert e.value.line is not None


@pytest.mark.slow
def test_stimuli_test_in_full_vs_neuron_export():
    """acnet2's StimuliTest as published (1000 ms at dt 0.01, 12 pyr_4_sym):
    the spikeArray- and timedSynapticInput-driven cells spike for spike
    (the timedSynapticInput ones one step earlier, the export's NetStims),
    the Poisson-driven ones (a spikeGeneratorPoisson population, a
    poissonFiringSynapse input, 150 Hz of a 1 nS synapse: 0-2 spikes per
    cell) by their membrane statistics (their streams differ)."""
    lems = ACNET2 / "LEMS_StimuliTest.xml"
    if not lems.is_file():
        pytest.skip(f"{lems} is not here")
    _ref, got, _res = _run(lems)
    for pop in ("SpikeArrayCells", "TimedSynapticInputCells"):
        for k in range(3):
            t, a, b = got[f"v_{pop}_{k}__v"]
            ds, n = _same_spikes(t, a, b)
            assert ds <= 1e-3 and n == (1, 1, 0)[k], (pop, k, ds, n)
            assert float(np.max(np.abs(a - b))) < 0.1
    stats = {}
    for pop in ("PoissonFiringSynCells", "SpikeGeneratorPoissonCells"):
        for k in range(3):
            t, a, b = got[f"v_{pop}_{k}__v"]
            sub = (a < -50) & (b < -50)
            stats[pop, k] = (float(b[sub].mean() - a[sub].mean()), float(b[sub].std() / a[sub].std()))
    print(stats)
    # one 1-s realisation of 150 input spikes each; measured: mean v within
    # 0.36 mV, SD ratios 0.91-1.31 (mean 1.05)
    assert all(abs(dm) < 0.5 for dm, _ in stats.values()), stats
    assert abs(np.mean([rs for _, rs in stats.values()]) - 1) < 0.15, stats


@pytest.mark.slow
def test_poisson_sources_rates_vs_neuron_export(tmp_path):
    """tests/data/mc_poisson: 12 pyr_4_sym driven at 1200 Hz through a 1 nS
    AMPA synapse by spikeGeneratorPoisson and spikeGeneratorRefPoisson
    populations (one source per cell) and poissonFiringSynapse and
    transientPoissonFiringSynapse (200-700 ms) inputs, 1000 ms at dt 0.025:
    the 12 cells' firing rate within 5 % of the export's (measured: 215
    spikes, the export 218; per population A 77/77, B 78/81, C 21/20, D
    39/40: within 10 % each), the sources' own rates within 5 % of
    averageRate (measured: 11886 spikes of 12000 expected over the 10
    stationary sources, 1184 of 1200 for the transient ones)."""
    _ref, got, res = _run(acnet2_network(tmp_path, "mc_poisson"))
    counts = {}
    for cid, (t, a, b) in got.items():
        pop = cid[0]
        ca, cb = counts.get(pop, (0, 0))
        counts[pop] = (ca + len(spike_times(t, a)), cb + len(spike_times(t, b)))
    total_a, total_b = (sum(c[j] for c in counts.values()) for j in (0, 1))
    assert total_a > 150 and abs(total_b / total_a - 1) <= 0.05, counts
    for pop, (ca, cb) in counts.items():  # 20-80 spikes each: the streams' own spread
        assert ca >= 10 and abs(cb / ca - 1) <= 0.1, (pop, ca, cb)
    n_src = sum(len(v) for k, v in res.spikes.items() if k.startswith(("gens[", "refgens[", "pfsIn[")))
    assert abs(n_src / (10 * 1200.0) - 1) <= 0.05, n_src
    tr = [s for k, v in res.spikes.items() if k.startswith("tpfsIn[") for s in v]
    assert tr and min(tr) >= 200.0 and max(tr) <= 700.0 + 1.0
    assert abs(len(tr) / (2 * 0.5 * 1200.0) - 1) <= 0.05, len(tr)


def _lems_synapses(t):
    """mc_inputs with its synapses of types composed from LEMS Dynamics
    (nml_network_lems): AMPA an expThreeSynapse, GABA an alphaSynapse."""
    t = t.replace('<expTwoSynapse id="AMPA" tauRise="0.5ms" tauDecay="5ms" gbase="15nS" erev="0mV"/>',
                  '<expThreeSynapse id="AMPA" tauRise="0.5ms" tauDecay1="3ms" tauDecay2="20ms" gbase1="10nS" '
                  'gbase2="4nS" erev="0mV"/>')
    return t.replace('<expOneSynapse id="GABA" tauDecay="8ms" gbase="5nS" erev="-80mV"/>',
                     '<alphaSynapse id="GABA" tau="8ms" gbase="5nS" erev="-80mV"/>')


def test_inputs_through_lems_synapses_vs_neuron_export(tmp_path):
    """The same sources and inputs onto an expThreeSynapse and an
    alphaSynapse (composed from their LEMS Dynamics). Measured: all 8
    spikes within 2e-5 ms, v within 6.7e-3 mV (at spikes)."""
    _ref, got, _res = _run(acnet2_network(tmp_path, "mc_inputs", _lems_synapses))
    assert _spike_counts(got, 0.02) == {"v_gen": 4, "v_tsi": 2, "v_tsiw": 2, "v_tsiw2": 0}
