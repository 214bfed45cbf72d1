"""Synapses composed from their LEMS Dynamics on multi-compartment NeuroML
networks (issue 6): alphaSynapse, expThreeSynapse, alphaCurrentSynapse,
doubleSynapse and a user-defined synapse ComponentType, against jNeuroML's
NEURON export (which writes a mod file per synapse from the same
Dynamics; references made and cached as in test_nml_multicomp; the tests
skip without Java, pynml, NEURON or the corpus)."""
from __future__ import annotations


import pytest

from test_nml_multicomp import HERE, acnet2_network, compare

import nmlcell
from nmlcell.errors import UnsupportedError

MC_SYN = HERE / "data" / "mc_syn"


def _mc_syn(tmp_path, edit=None):
    return acnet2_network(tmp_path, "mc_syn", edit)


def test_lems_synapses_vs_neuron_export(tmp_path):
    """Two pyr_4_sym cells and a basket cell, a pulse into pyramidal 0;
    expThreeSynapse onto the basket's dendrite, alphaSynapse back onto
    pyramidal 0, alphaCurrentSynapse (basket -> pyramidal 1),
    doubleSynapse (expTwo + alpha, pyramidal 1 -> basket) and a
    user-defined facilitating synapse (pyramidal 0 -> 1), besides the
    expTwoSynapse of mc_net; the g of three of them and the alphaCurrentSynapse's
    i recorded (``synapses:FAC:0/g``...; i as the export records it, its
    mod's outward current). Measured against the export (with the
    parameters as nocmodl compiles them, ``%g``): all 17 spikes within
    3.2e-8 ms, v within 5.6e-6 mV outside spikes (the .dat files'
    precision) in every cell; g and i within 3.8e-7 of their range."""
    got = compare(_mc_syn(tmp_path), v_tol=1e-5, spike_tol=1e-7)
    assert [got[k][2] for k in ("pyr0/v", "pyr1/v", "bsk/v")] == [3, 3, 11]
    assert {"syn/fac_g", "syn/e3_g", "syn/alpha_g", "syn/ac_i"} <= got.keys()


def test_uncomposable_synapse_is_listed(tmp_path):
    """A synapse whose Dynamics the export-style point process cannot hold
    (Regimes) is listed with its reason, not dropped."""
    def edit(t):
        return t.replace('''            <OnStart>
                <StateAssignment variable="f" value="1"/>''', '''            <Regime name="r" initial="true">
                <OnCondition test="f .gt. 3">
                    <StateAssignment variable="f" value="3"/>
                </OnCondition>
            </Regime>
            <OnStart>
                <StateAssignment variable="f" value="1"/>''')
    with pytest.raises(UnsupportedError) as e:
        nmlcell.load(_mc_syn(tmp_path, edit))
    assert "synapse 'FAC' of type facilExpSynapse in projection 'fac': Regimes" in str(e.value)
