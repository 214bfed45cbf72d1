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

from test_nml_multicomp import CORPUS, neuron_reference, spike_times

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


CORE = CORPUS / "nml2-core-examples" / "examples"


def _full_cell_as_sections(text: str) -> str:
    """NML2_FullCell.nml with the population written as the density
    ``number g / area`` on a group of segment 2 (area: NEURON's frustum,
    pi (r1 + r2) sqrt(L^2 + (r1 - r2)^2)) and each segment a section group
    (neuroLexId sao864921383) that the other groups include."""
    import math
    import re

    area = math.pi * (1.5 + 0.5) * math.sqrt(10.0 ** 2 + 1.0 ** 2)  # um2
    dens = 120000 * 10e-12 / (area * 1e-12)  # S/m2
    old = ('<channelPopulation id="naChansDend" ionChannel="NaConductance" segment="2" number="120000" '
           'erev="50mV" ion="na"/>')
    assert old in text
    text = text.replace(old, f'<channelDensity id="naChansDend" ionChannel="NaConductance" segmentGroup="dend2" '
                             f'condDensity="{dens!r} S_per_m2" erev="50mV" ion="na"/>')
    groups = "".join(f'<segmentGroup id="s{k}" neuroLexId="sao864921383"><member segment="{k}"/></segmentGroup>\n'
                     for k in range(4))
    groups += ('<segmentGroup id="soma_group"><include segmentGroup="s0"/></segmentGroup>\n'
               '<segmentGroup id="dendrite_group"><include segmentGroup="s1"/><include segmentGroup="s2"/>'
               '<include segmentGroup="s3"/></segmentGroup>\n'
               '<segmentGroup id="spines"><include segmentGroup="s3"/></segmentGroup>\n'
               '<segmentGroup id="dend2"><include segmentGroup="s2"/></segmentGroup>\n')
    return re.sub(r"<!-- segmentGroups follow -->.*?(?=</morphology>)", groups, text, flags=re.S)


def test_core_example_full_cell_channel_population_vs_export(tmp_path):
    """NeuroML2's core example NML2_FullCell.nml as it is (Na as a
    channelPopulation of 120000 channels on segment 2, every segment a
    section: its groups carry no neuroLex section id), a pulse and a
    sine, against the export of the same cell written with section groups
    (as written, the export leaves the SectionLists of such groups empty:
    nothing it places on soma_group or dendrite_group reaches NEURON).
    Measured: v within 4.9e-5 mV, the spike within 1.1e-7 ms."""
    if not CORE.is_dir():
        pytest.skip(f"{CORE} is not here")
    for name, edit in (("orig", None), ("ref", _full_cell_as_sections)):
        d = tmp_path / name
        d.mkdir()
        (d / "LEMS_FullCell.xml").write_text((Path(__file__).parent / "data" / "mc_fullcell" /
                                              "LEMS_FullCell.xml").read_text())
        (d / "NML2_SimpleIonChannel.nml").write_text((CORE / "NML2_SimpleIonChannel.nml").read_text())
        text = (CORE / "NML2_FullCell.nml").read_text()
        (d / "NML2_FullCell.nml").write_text(edit(text) if edit else text)
    ref = neuron_reference(tmp_path / "ref" / "LEMS_FullCell.xml")
    m = nmlcell.load(tmp_path / "orig" / "LEMS_FullCell.xml")
    res = m.run(progress=False)
    cols = {c.id: c.quantity for c in m.ir.simulation.outputs[0].columns}
    (o,) = ref["outputs"].values()
    t = o["t"] * 1e3
    for cid, (_q, a) in o["columns"].items():
        v, a = res.si(cols[cid]) * 1e3, a * 1e3
        n = min(len(v), len(a))
        s, s_ref = spike_times(t[:n], v[:n]), spike_times(t[:n], a[:n])
        assert len(s) == len(s_ref) == 1
        assert np.max(np.abs(s - s_ref)) < 1e-5
        assert np.max(np.abs(v[:n] - a[:n])) < 1e-3, cid
