"""Networks of multi-compartment NeuroML cells (issue 6): projections with
pre/post segments and fractions, expTwoSynapse/expOneSynapse, against
jNeuroML's NEURON export (references made and cached as in
test_nml_multicomp; the tests skip without Java, pynml, NEURON or the
corpus)."""
from __future__ import annotations

import shutil

import pytest

from test_nml_multicomp import ACNET2, CORPUS, HERE, acnet2_network, compare

import nmlcell
from nmlcell.errors import ModelImportError, UnsupportedError

CORE = CORPUS / "nml2-core-examples"
MC_NET = HERE / "data" / "mc_net"


def _mc_net(tmp_path, edit=None):
    return acnet2_network(tmp_path, "mc_net", edit)


def test_projections_between_multicompartment_cells_vs_neuron_export(tmp_path):
    """Two pyr_4_sym cells and a basket cell (one Hines tree), a pulse into
    pyramidal 0; expTwoSynapse connections onto pyramidal 1's apical and
    basal dendrites (connectionWD: weights 3 and 2, delays 2.5 and 1 ms)
    and onto the basket's dendrite (connection: weight 1, delay 0), an
    expOneSynapse back onto pyramidal 0's soma; the synapses' g recorded
    (``.../2/synapses:AMPA:0/g``). Measured against the export (with the
    synapses' parameters as nocmodl compiles them, ``%g``): all 20 spikes
    within 4e-8 ms, v within 5.5e-6 mV outside spikes (the .dat files'
    precision) in every cell; g within 4.4e-7 of its range."""
    got = compare(_mc_net(tmp_path), v_tol=1e-5, spike_tol=1e-7)
    assert [got[k][2] for k in ("pyr0/v", "pyr1/v", "bsk/v")] == [5, 5, 10]


def test_unsupported_synapse_and_pre_place_are_listed(tmp_path):
    """A synapse that cannot be composed (a silentSynapse in a projection:
    no state, no event) is listed, not dropped."""
    def edit(t):
        return t.replace('<expOneSynapse id="GABA" tauDecay="8ms" gbase="5nS" erev="-80mV"/>',
                         '<silentSynapse id="GABA"/>')
    with pytest.raises(UnsupportedError) as e:
        nmlcell.load(_mc_net(tmp_path, edit))
    text = str(e.value)
    assert "synapse 'GABA' of type silentSynapse in projection 'bsk_pyr': it has no state variable" in text


def _pre_elsewhere(t):
    """pyr_bsk's NetCon on pyramidal 0's apical dendrite (segment 2, 0.5)
    and pyr_pyr's second on its basal dendrite (segment 7, 0.9)."""
    t = t.replace('preCellId="../pyr/0/pyr_4_sym" preSegmentId="0" preFractionAlong="0.5" postCellId="../bsk/0/bask"',
                  'preCellId="../pyr/0/pyr_4_sym" preSegmentId="2" preFractionAlong="0.5" postCellId="../bsk/0/bask"')
    return t.replace('preSegmentId="0" preFractionAlong="0.5" postCellId="../pyr/1/pyr_4_sym" postSegmentId="7"',
                     'preSegmentId="7" preFractionAlong="0.9" postCellId="../pyr/1/pyr_4_sym" postSegmentId="7"')


def test_netcon_on_another_compartment_vs_neuron_export(tmp_path):
    """NetCons watching v on the pre cell's dendrites (preSegmentId 2 and
    7), not at the spike detector's soma: a detector there too at the
    cell's spikeThresh. The basal one fires (pyramidal 1: 3 spikes), the
    apical one never reaches 0 mV (the basket stays silent), in both.
    Measured against the export: all 9 spikes within 1.8e-4 ms, v within
    5.2e-3 mV outside spikes."""
    lems = _mc_net(tmp_path, _pre_elsewhere)
    got = compare(lems, v_tol=0.05, spike_tol=0.01)
    assert [got[k][2] for k in ("pyr0/v", "pyr1/v", "bsk/v")] == [6, 3, 0]


@pytest.mark.parametrize("old,new,what", [
    ('postCellId="../pyr/1/pyr_4_sym" postSegmentId="2"', 'postCellId="../pyr/5/pyr_4_sym" postSegmentId="2"',
     "postCellId '../pyr/5/pyr_4_sym' names no cell"),
    ('weight="3.0" delay="2.5ms"', 'weight="3.0" delay="-2.5ms"', "negative delay"),
    ('postSegmentId="7" postFractionAlong="0.3"', 'postSegmentId="70" postFractionAlong="0.3"',
     "segment 70, fraction 0.3 is not on cell 'pyr_4_sym'"),
])
def test_bad_connections(tmp_path, old, new, what):
    lems = _mc_net(tmp_path, lambda t: t.replace(old, new))
    with pytest.raises(ModelImportError) as e:
        nmlcell.load(lems)
    msg = str(e.value)
    assert what in msg and "McNet.net.nml" in msg, msg
    assert e.value.line is not None


def test_ex25_ampa_and_nmda_vs_neuron_export(tmp_path):
    """NML2 core example Ex25: three MultiCompCells, expTwoSynapse (AMPA) and
    blockingPlasticSynapse (NMDA with a voltageConcDepBlockMechanism)
    connections onto soma and dendrites of cell 1, driven by cells 0 and 2.
    Its Displays plot the synapses' g (``.../synapses:AMPA:0/g``; the
    export ignores Displays without a GUI, so they are not compared here:
    test_projections... compares such columns). Measured: 12 traces, every spike
    within 1.7e-5 ms (cell 1: 7 spikes), v within 5e-6 mV on the driven
    cells, on cell 1 1.2e-3 mV outside spikes (5e-3 mV at them)."""
    if not CORE.is_dir():
        pytest.skip(f"{CORE} is not here")
    (tmp_path / "examples").mkdir()
    (tmp_path / "LEMSexamples").mkdir()
    for f in ("NML2_SingleCompHHCell.nml", "NML2_MultiCompCellNetwork.nml"):
        shutil.copy(CORE / "examples" / f, tmp_path / "examples")
    text = (CORE / "LEMSexamples" / "LEMS_NML2_Ex25_MultiComp.xml").read_text()
    text = text.replace("results/", "")
    lems = tmp_path / "LEMSexamples" / "LEMS_NML2_Ex25_MultiComp.xml"
    lems.write_text(text)
    got = compare(lems, v_tol=2e-3, spike_tol=1e-3)
    assert got["of1/0"][2] == 7 and got["of0/0"][2] == 4


def _stimuli_spike_arrays(tmp_path):
    """acnet2's StimuliTest reduced to its spikeArray part (the population of
    one spikeArray, projection Proj_sa onto three pyr_4_sym cells' soma and
    dendrites, their voltages recorded): a quick check; the full model
    (Poisson sources, timedSynapticInput) is test_nml_network_inputs's
    slow test."""
    import re

    if not ACNET2.is_dir():
        pytest.skip(f"{ACNET2} is not here")
    for f in ACNET2.glob("*.nml"):
        shutil.copy(f, tmp_path)
    s = (ACNET2 / "StimuliTest.nml").read_text()
    s = re.sub(r'<population id="(PoissonFiringSynCells|SpikeGeneratorPoissonCells|TimedSynapticInputCells|'
               r'SpikeGeneratorPoissons)"[^>]*/>', "", s)
    s = re.sub(r'<projection id="Proj_sgp".*?</projection>', "", s, flags=re.S)
    s = re.sub(r"<inputList.*?</inputList>", "", s, flags=re.S)
    (tmp_path / "StimuliTest.nml").write_text(s)
    lems = (ACNET2 / "LEMS_StimuliTest.xml").read_text()
    lems = re.sub(r"<Display.*?</Display>", "", lems, flags=re.S)
    lems = re.sub(r'<OutputFile id="Volts_file__(PoissonFiringSynCells|SpikeGeneratorPoissonCells|'
                  r'TimedSynapticInputCells)".*?</OutputFile>', "", lems, flags=re.S)
    (tmp_path / "LEMS_StimuliTest.xml").write_text(lems)
    return tmp_path / "LEMS_StimuliTest.xml"


def test_spike_array_population_vs_neuron_export(tmp_path):
    """A spikeArray population as a projection's pre (the export's WATCH (t
    > time) point process): spikes at 100, 500, 700, 705 ms into syn1 on
    three cells (soma, apical, basal), 1000 ms at dt 0.01. Measured: the
    2 spikes they cause within 2.2e-4 ms, v within 0.08 mV (at a spike)."""
    got = compare(_stimuli_spike_arrays(tmp_path), v_tol=0.01, spike_tol=1e-3)
    assert [got[f"v_SpikeArrayCells_{k}__v"][2] for k in range(3)] == [1, 1, 0]


def test_spike_array_out_of_order(tmp_path):
    lems = _stimuli_spike_arrays(tmp_path)
    f = tmp_path / "StimuliTest.nml"
    f.write_text(f.read_text().replace('<spike id="1" time="500ms"/>', '<spike id="1" time="50ms"/>', 1))
    with pytest.raises(ModelImportError, match="spikeArray 'spikeArray': its spike times are not in increasing"):
        nmlcell.load(lems)
