"""Several spikes of one NeuroML input on one step, against jNeuroML's
NEURON export (tests/data/export_events: hh_two_sec with an expTwoSynapse
on the soma and an expOneSynapse at the dendrite's tip; the times and the
step filled in here):

- a ``timedSynapticInput`` (the export's NetStims, one per spike, all
  delivered at the start of one step) is a counted source: the spikes of
  a step leave together, their number in ``spike_n``, and the additive
  synapses take k events as ``x + k*w`` (nmlcell/lower/events.py). Before,
  the second left a step late: 8.8e-3 mV from the export;
- into a synapse whose handler is not additive that is refused (file,
  line, element);
- a ``spikeArray`` with two spikes on one step is refused: the export's
  next ``WATCH (t > time)`` is armed after its time has passed and never
  fires, so the export drops that spike and every later one.

References made and cached as in test_nml_multicomp; they skip without
Java, pynml or NEURON.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from test_nml_export_events import CELL, _variant
from test_nml_multicomp import compare

import nmlcell
from nmlcell.errors import ModelImportError

HERE = Path(__file__).parent
SET = HERE / "data" / "nml_input_counts" / "LEMS_set_synapse.xml"


def test_timed_input_two_spikes_in_one_step_vs_neuron_export(tmp_path):
    """12.0 and 12.005 ms at dt 0.01: NEURON delivers both NetStims' events
    at the start of the step from 12 ms. Measured: v within 5.0e-6 mV of
    the export at the soma and the tip (the .dat files' precision); before,
    8.8e-3 mV (the second a step late)."""
    lems = _variant(tmp_path, "timed", 0.01, (12.0, 12.005))
    m = nmlcell.load(lems)
    g = next(g for g in m.ir.network.groups if g.mechanism.component_type == "timedSynapticInput")
    assert {"spike_n", "spike_t"} <= {s.name for s in g.mechanism.states}
    got = compare(lems, v_tol=5e-6, spike_tol=1e-6)
    assert got["soma"][2] == 1


@pytest.mark.slow
@pytest.mark.parametrize("dt,times", [(0.01, (12.0, 12.002, 12.004)), (0.025, (12.0, 12.0125, 20.0, 20.01))])
def test_timed_input_several_in_one_step_vs_neuron_export(tmp_path, dt, times):
    """Three spikes on one step (dt 0.01), and two pairs on one step each at
    dt 0.025 (12.0125 on a half-step point). Measured: v within 5.0e-6 mV
    of the export in both."""
    got = compare(_variant(tmp_path, "timed", dt, times), v_tol=5e-6, spike_tol=1e-6)
    assert got["soma"][2] >= 1


def test_non_additive_synapse_refused(tmp_path):
    """A user synapse whose event sets g (g = gbase) with two spikes on one
    step: refused with the file, line and element; one step apart, loaded."""
    def variant(times):
        spikes = "\n".join(f'        <spike id="{k}" time="{t}ms"/>' for k, t in enumerate(times))
        lems = tmp_path / SET.name
        lems.write_text(SET.read_text().replace("SPIKES", spikes).replace('step="STEP"', 'step="0.01ms"'))
        (tmp_path / CELL.name).write_text(CELL.read_text())
        return lems

    with pytest.raises(ModelImportError) as e:
        nmlcell.load(variant((5.0, 12.0, 12.004)))
    msg = str(e.value)
    assert "timedSynapticInput 'ts'" in msg and "12 and 12.004 ms" in msg and "not additive" in msg
    assert SET.name in msg and e.value.line is not None and "\n" not in msg
    nmlcell.load(variant((5.0, 12.0, 12.006)))   # delivered on two steps


def test_spike_array_two_spikes_in_one_step_refused(tmp_path):
    """12.001 and 12.004 ms at dt 0.01 (NEURON's t passes both in the step
    ending at 12.01): refused; 12.0 and 12.005 (NEURON's t is past 12 at the
    step ending at 12.00: two steps) load."""
    with pytest.raises(ModelImportError) as e:
        nmlcell.load(_variant(tmp_path, "spikes", 0.01, (5.0, 12.001, 12.004, 15.0)))
    msg = str(e.value)
    assert "spikeArray 'sa'" in msg and "12.001 and 12.004 ms" in msg and e.value.line is not None
    assert "\n" not in msg
    nmlcell.load(_variant(tmp_path, "spikes", 0.01, (12.0, 12.005)))


@pytest.mark.slow
def test_spike_array_export_drops_the_spikes_after(tmp_path):
    """What the refusal stands on: the export of a spikeArray at 12.001,
    12.004 and 15 ms (dt 0.01) is nmlcell's spikeArray at 12.001 ms alone
    (v within 5.0e-6 mV): the 12.004 and 15 ms spikes are lost in NEURON."""
    from test_nml_multicomp import neuron_reference

    import numpy as np

    (tmp_path / "full").mkdir()
    ref = neuron_reference(_variant(tmp_path / "full", "spikes", 0.01, (12.001, 12.004, 15.0)))
    one = _variant(tmp_path, "spikes", 0.01, (12.001,))
    m = nmlcell.load(one)
    m.solver = "staggered"
    res = m.run()
    cols = {c.id: c.quantity for o in m.ir.simulation.outputs for c in o.columns}
    (o,) = ref["outputs"].values()
    for cid in ("soma", "dend3"):
        a = o["columns"][cid][1] * 1e3
        b = res.si(cols[cid])[:len(a)] * 1e3
        assert float(np.max(np.abs(b - a[:len(b)]))) < 5e-6 * 1.01, cid
