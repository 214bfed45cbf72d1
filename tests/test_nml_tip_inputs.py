"""Inputs at a section's tip (``fractionAlong="1"`` on a leaf's last
segment): NEURON (jNeuroML's export) has a zero-area node there, which
nmlcell keeps for the input placed there (nmlcell/lower/discretize.py
``tips``). A current that does not read v was exact on the neighbouring
compartment too (the node has no membrane); a voltage clamp reads the tip
node's own v, which is not the neighbour's (moving the clamp there was
16 mV off at that segment, 64 mV at the soma): measured against the
export below."""
from __future__ import annotations

from pathlib import Path

import pytest

from test_nml_multicomp import compare

DATA = Path(__file__).parent / "data" / "mc_stim"
VC_MID = '<inputList id="inVc" component="vc" population="pop">\n' \
         '            <input id="0" target="../pop/0/hh_two_sec" destination="synapses" segmentId="2" ' \
         'fractionAlong="0.5"/>'
VCT_SOMA = '<inputList id="inVct" component="vct" population="pop">\n' \
           '            <input id="0" target="../pop/0/hh_two_sec" destination="synapses" segmentId="0" ' \
           'fractionAlong="0.5"/>'


def _variant(tmp_path, old, seg, frac, name="LEMS_tip.xml"):
    text = (DATA / "LEMS_mc_vclamp.xml").read_text()
    assert old in text
    text = text.replace(old, old.replace('segmentId="2"', f'segmentId="{seg}"').replace(
        'segmentId="0"', f'segmentId="{seg}"').replace('fractionAlong="0.5"', f'fractionAlong="{frac}"'))
    (tmp_path / "hh_two_sec.cell.nml").write_text((DATA / "hh_two_sec.cell.nml").read_text())
    (tmp_path / name).write_text(text)
    return tmp_path / name


def test_voltage_clamp_at_a_tip_vs_neuron_export(tmp_path):
    """The voltageClamp (20 MOhm) at the dendrite's tip (segment 3,
    fractionAlong 1) with the pulse there too, on NEURON's zero-area node:
    measured against the export, v within 5.0e-6 mV (the .dat files'
    precision), its 4 spikes at the soma within 3.9e-10 ms."""
    got = compare(_variant(tmp_path, VC_MID, 3, 1), v_tol=1e-5, spike_tol=1e-8)
    assert got["soma"][2] >= 1


@pytest.mark.slow
def test_voltage_clamp_triple_at_a_tip_vs_neuron_export(tmp_path):
    """The voltageClampTriple (50 MOhm) at the dendrite's tip instead of
    the soma: measured against the export, v within 5.0e-6 mV, the 2
    spikes within 4.2e-10 ms."""
    compare(_variant(tmp_path, VCT_SOMA, 3, 1), v_tol=1e-5, spike_tol=1e-8)
