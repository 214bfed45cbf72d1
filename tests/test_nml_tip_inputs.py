"""Inputs at a section's tip (``fractionAlong="1"`` on a leaf's last
segment): NEURON (jNeuroML's export) has a zero-area node there, which
nmlcell does not keep; the input goes to the neighbouring compartment.
A current that does not read v is exact there (the tip node has no
membrane: all of it flows into the neighbour; a pulse and a sine at the
dendrite's end match the export to 5e-6 mV in
test_nml_mc_inputs.test_sine_ramp_inputs_vs_neuron_export). A voltage
clamp there reads the tip node's v, which is not the neighbour's: measured
against the export below, and refused (UnsupportedError, exit code 2)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nmlcell
from nmlcell.cli import main
from nmlcell.errors import UnsupportedError

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


@pytest.mark.parametrize("old,comp,kind", [(VC_MID, "vc", "voltageClamp"),
                                           (VCT_SOMA, "vct", "voltageClampTriple")])
def test_voltage_clamp_at_a_tip_is_refused(tmp_path, capsys, old, comp, kind):
    f = _variant(tmp_path, old, 3, 1)
    with pytest.raises(UnsupportedError) as e:
        nmlcell.load(f)
    msg = str(e.value)
    assert f"input '{comp}' of type {kind} ({f}:" in msg and "dend(1.0), a section's tip" in msg, msg
    rc = main(["run", str(f), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and f"input '{comp}' of type {kind}" in err


@pytest.mark.slow
def test_voltage_clamp_at_a_tip_differs_from_the_neighbour(tmp_path):
    """What moving the clamp would give: the export with the voltageClamp
    at the dendrite's tip vs nmlcell with it on the neighbouring node
    (segment 3's middle, the dendrite's last compartment): measured 16 mV at
    that segment, 36 mV at segment 2 and 64 mV at the soma (spikes move)."""
    from test_nml_multicomp import neuron_reference

    ref = neuron_reference(_variant(tmp_path, VC_MID, 3, 1))
    m = nmlcell.load(_variant(tmp_path, VC_MID, 3, 0.5, "LEMS_neighbour.xml"))
    m.solver = "staggered"
    r = m.run(progress=False)
    cols = {c.id: c.quantity for o in m.ir.simulation.outputs for c in o.columns}
    (o,) = ref["outputs"].values()
    dv = {}
    for cid, (_q, a) in o["columns"].items():
        v = r.si(cols[cid])
        n = min(len(v), len(a))
        dv[cid] = float(np.max(np.abs(v[:n] - a[:n]))) * 1e3
    assert dv["dend3"] > 5.0 and dv["soma"] > 5.0, dv
