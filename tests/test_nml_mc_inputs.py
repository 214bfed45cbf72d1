"""Inputs other than ``pulseGenerator`` on a multi-compartment NeuroML cell
(tests/data/mc_stim: nml_mc's two-section HH cell), against jNeuroML's
NEURON export (``pynml LEMS.xml -neuron -run``, cached as
:func:`nrn_export.export_reference` caches it): sineGenerator,
rampGenerator (through an inputW of weight 1.5), voltageClamp,
voltageClampTriple at segments and fractions along them. Where the export
departs from LEMS (compoundInput's current from its children's values of
the step before in one of NEURON's two BREAKPOINT evaluations: a spurious
di/dv that blows the dendrite up to 1.7 V; the dimensionless inputs carry
no current at all), nmlcell follows LEMS and the test says so.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test_nml_multicomp import compare

import nmlcell
from nmlcell.errors import UnsupportedError

DATA = Path(__file__).parent / "data" / "mc_stim"
COMPOUND = {
    """    <pulseGenerator id="cp1" delay="75ms" duration="10ms" amplitude="0.1nA"/>
    <sineGenerator id="cs1" delay="72ms" duration="20ms" amplitude="0.05nA" period="4ms" phase="0"/>""":
    """    <compoundInput id="compound">
        <pulseGenerator id="cp1" delay="75ms" duration="10ms" amplitude="0.1nA"/>
        <sineGenerator id="cs1" delay="72ms" duration="20ms" amplitude="0.05nA" period="4ms" phase="0"/>
    </compoundInput>""",
    """        <inputList id="inCp1" component="cp1" population="pop">
            <input id="0" target="../pop/0/hh_two_sec" destination="synapses" segmentId="3" fractionAlong="1"/>
        </inputList>
        <inputList id="inCs1" component="cs1" population="pop">""":
    """        <inputList id="inCompound" component="compound" population="pop">""",
}


def _variant(tmp_path, edits: dict) -> Path:
    text = (DATA / "LEMS_mc_stim.xml").read_text()
    for old, new in edits.items():
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "hh_two_sec.cell.nml").write_text((DATA / "hh_two_sec.cell.nml").read_text())
    (tmp_path / "LEMS_mc_stim.xml").write_text(text)
    return tmp_path / "LEMS_mc_stim.xml"


def test_sine_ramp_inputs_vs_neuron_export():
    """sineGenerator on the soma, rampGenerator (inputW weight 1.5) at a
    quarter of dendrite segment 2, a pulse and a sine at the dendrite's
    end (measured: 5e-6 mV everywhere, the .dat files' precision; the
    4 spikes of each trace equal to 1e-8 ms)."""
    got = compare(DATA / "LEMS_mc_stim.xml", v_tol=1e-4, spike_tol=1e-6)
    assert got["soma"][2] == 4


@pytest.mark.slow
def test_voltage_clamps_vs_neuron_export():
    """voltageClamp (20 MOhm) in the middle of dendrite segment 2,
    voltageClampTriple (50 MOhm) on the soma, a pulse at the dendrite's
    end, a rampGenerator as an explicitInput (segment 0) (measured:
    5e-6 mV, the 3 spikes equal to 1e-8 ms)."""
    got = compare(DATA / "LEMS_mc_vclamp.xml", v_tol=1e-4, spike_tol=1e-6)
    assert got["soma"][2] == 3


def test_compound_input_is_the_sum_of_its_children(tmp_path):
    """A compoundInput of a pulse and a sine gives the traces of the two as
    separate inputs at the same place (LEMS: ``i = weight * sum of the
    children's i``). The export's compound mod file differs from LEMS:
    its BREAKPOINT sums the children's currents before updating them, so
    NEURON's two evaluations (at v + 0.001 and v) see different currents and
    take their difference as di/dv (measured on this model: the dendrite's
    end reaches 1702 mV, a spike 6.5 ms early). jLEMS, on a
    one-compartment version of the cell, gives identical traces for the
    compound and for the two separate inputs."""
    sep = nmlcell.load(DATA / "LEMS_mc_stim.xml").run(progress=False)
    comp_m = nmlcell.load(_variant(tmp_path, COMPOUND))
    comp = comp_m.run(progress=False)
    for c in comp_m.ir.simulation.outputs[0].columns:
        a, b = comp.si(c.quantity), sep.si(c.quantity)
        assert np.max(np.abs(a - b)) < 1e-12, c.id


@pytest.mark.parametrize("kind,attrs", [
    ("pulseGeneratorDL", 'delay="5ms" duration="10ms" amplitude="0.15"'),
    ("sineGeneratorDL", 'delay="5ms" duration="80ms" amplitude="0.05" period="13ms" phase="1.1"'),
    ("rampGeneratorDL", 'delay="5ms" duration="20ms" startAmplitude="0.1" finishAmplitude="-0.1" '
                        'baselineAmplitude="0.02"'),
])
def test_dimensionless_inputs_are_listed(tmp_path, kind, attrs):
    """A dimensionless input on a multi-compartment cell: the export's
    point process for it has no current (nothing reaches the cell); listed
    as unsupported with its file and line."""
    lems = _variant(tmp_path, {'<sineGenerator id="sine"': f'<{kind} id="dl" {attrs}/>\n    <sineGenerator id="sine"',
                               'component="sine"': 'component="dl"'})
    with pytest.raises(UnsupportedError) as e:
        nmlcell.load(lems)
    line = next(k for k, ln in enumerate(lems.read_text().splitlines(), 1) if f'<{kind} id="dl"' in ln)
    assert f"input 'dl' of type {kind} ({lems}:{line})" in str(e.value)
    assert "dimensionless" in str(e.value)
