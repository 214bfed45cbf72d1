"""Densities on one segment (``segment=``) and ``channelPopulation``s of a
multi-compartment NeuroML cell (tests/data/mc_seg). jNeuroML's NEURON
export refuses both (CHANNEL_DENSITY_ON_SEGMENT,
CHANNEL_POPULATIONS_CELL_MODEL), so the reference is the export of the
same cell written with segment groups: the dendrite as three one-segment
sections with Na on the middle one, the population as the density
``number g / area`` on the soma.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test_nml_multicomp import neuron_reference, spike_times

import nmlcell
from nmlcell.errors import ModelImportError, UnsupportedError

DATA = Path(__file__).parent / "data" / "mc_seg"


def test_segment_density_and_channel_population_vs_export_of_groups():
    """Na ``segment="2"`` (the middle third of a section of nseg 3: gmax
    there, 0 on the section's two other compartments) and 45000 K channels
    of 10 pS on the soma, against the export of the segment-group version
    (measured: v within 2.2e-4 mV, the 2+1+1 spikes within 2.9e-6 ms; the
    export's density is a Java float; the same file in nmlcell agrees with
    the export to 5e-6 mV)."""
    ref = neuron_reference(DATA / "LEMS_mc_split.xml")
    m = nmlcell.load(DATA / "LEMS_mc_seg.xml")
    res = m.run(progress=False)
    cols = {c.id: c.quantity for c in m.ir.simulation.outputs[0].columns}
    (o,) = ref["outputs"].values()
    t = o["t"] * 1e3
    nspk = 0
    for cid, (_q, a) in o["columns"].items():
        v, a = res.si(cols[cid]) * 1e3, a * 1e3
        n = min(len(v), len(a))
        s, s_ref = spike_times(t[:n], v[:n]), spike_times(t[:n], a[:n])
        assert len(s) == len(s_ref) >= 1
        assert np.max(np.abs(s - s_ref)) < 1e-4
        assert np.max(np.abs(v[:n] - a[:n])) < 1e-3, cid
        nspk += len(s)
    assert nspk == 4


def _variant(tmp_path, old, new):
    cell = (DATA / "hh_two_sec_seg.cell.nml").read_text()
    assert old in cell
    (tmp_path / "hh_two_sec_seg.cell.nml").write_text(cell.replace(old, new))
    (tmp_path / "LEMS_mc_seg.xml").write_text((DATA / "LEMS_mc_seg.xml").read_text())
    return tmp_path / "LEMS_mc_seg.xml", tmp_path / "hh_two_sec_seg.cell.nml"


def test_density_on_a_missing_segment_is_an_error(tmp_path):
    lems, cell = _variant(tmp_path, 'ion="na" segment="2"/>', 'ion="na" segment="12"/>')
    with pytest.raises(ModelImportError) as e:
        nmlcell.load(lems)
    line = next(k for k, ln in enumerate(cell.read_text().splitlines(), 1) if 'id="naDend"' in ln)
    assert "channelDensity 'naDend': cell 'hh_two_sec' has no segment 12" in str(e.value)
    assert f"{cell.name}:{line}" in str(e.value)


def test_channel_population_over_several_segments_is_listed(tmp_path):
    lems, _cell = _variant(tmp_path, 'ion="k" segment="0"/>', 'ion="k" segmentGroup="dend"/>')
    with pytest.raises(UnsupportedError) as e:
        nmlcell.load(lems)
    assert "channelPopulation 'kSoma' on segmentGroup 'dend' of 3 segments" in str(e.value)
