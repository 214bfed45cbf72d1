"""Compartments of one composition share one group (one kernel) within a
cell and across the cells of a network (nmlcell/passes/share_groups.py):
the number of groups follows the number of distinct compositions, not the
number of cells; results are those of NEURON's export."""
from __future__ import annotations

import math
import shutil

import pytest

from test_nml_multicomp import CORPUS, compare

import nmlcell
from nmlcell.passes.compartment import Geometry, Inserted, compose
from nmlcell.passes.compartment_params import param_values

ACNET2 = CORPUS / "acnet2/neuroConstruct/generatedNeuroML2"

_NET = """<neuroml xmlns="http://www.neuroml.org/schema/neuroml2" id="net">
    <include href="bask.cell.nml"/>
    <pulseGenerator id="stim" delay="2ms" duration="10ms" amplitude="0.5nA"/>
    <network id="net" type="networkWithTemperature" temperature="6.3 degC">
        <population id="bsk" component="bask" type="populationList" size="{n}">
{instances}
        </population>
        <inputList id="in" component="stim" population="bsk">
            <input id="0" target="../bsk/0/bask" destination="synapses"/>
        </inputList>
    </network>
</neuroml>
"""

_LEMS = """<Lems>
    <Target component="sim"/>
    <Include file="Cells.xml"/><Include file="Networks.xml"/><Include file="Simulation.xml"/>
    <Include file="Na_bask.channel.nml"/><Include file="Kdr_bask.channel.nml"/>
    <Include file="LeakConductance_bask.channel.nml"/>
    <Include file="Net.net.nml"/>
    <Simulation id="sim" length="12ms" step="0.025ms" target="net">
        <OutputFile id="of" fileName="v.dat">
            <OutputColumn id="v0" quantity="bsk/0/bask/0/v"/>
            <OutputColumn id="v1" quantity="bsk/{last}/bask/0/v"/>
        </OutputFile>
    </Simulation>
</Lems>
"""


def _basket_net(tmp_path, n: int):
    if not ACNET2.is_dir():
        pytest.skip(f"{ACNET2} is not here")
    d = tmp_path / f"n{n}"
    d.mkdir()
    for f in ("bask.cell.nml", "Na_bask.channel.nml", "Kdr_bask.channel.nml", "LeakConductance_bask.channel.nml"):
        shutil.copy(ACNET2 / f, d)
    inst = "\n".join(f'            <instance id="{i}"><location x="{10 * i}" y="0" z="0"/></instance>'
                     for i in range(n))
    (d / "Net.net.nml").write_text(_NET.format(n=n, instances=inst))
    (d / "LEMS_Net.xml").write_text(_LEMS.format(last=n - 1))
    return d / "LEMS_Net.xml"


def test_identical_cells_share_one_group_per_composition(tmp_path):
    """2 and 5 basket cells, a current pulse into cell 0 (its soma is a
    composition of its own): the same groups, the other groups' instances
    growing with the cells; the cells without input rest, cell 0 spikes."""
    two = nmlcell.load(_basket_net(tmp_path, 2))
    five = nmlcell.load(_basket_net(tmp_path, 5))
    g2 = {g.id: g.size for g in two.ir.network.groups}
    g5 = {g.id: g.size for g in five.ir.network.groups}
    assert g2.keys() == g5.keys() and len(g5) <= 6, g5
    stim = [g.id for g in five.ir.network.groups if any(p.name.startswith("IClamp[") for p in g.mechanism.parameters)]
    assert len(stim) == 1 and g2[stim[0]] == g5[stim[0]] == 1
    # each unstimulated cell adds the same instances to the same groups
    assert all(g5[k] > g2[k] and (g5[k] - g2[k]) % 3 == 0 for k in g5 if k not in stim), (g2, g5)
    assert 2 * sum(g5.values()) == 5 * sum(g2.values())
    res = five.run(progress=False)
    v0, v4 = (res.si(c.quantity) * 1e3 for c in five.ir.simulation.outputs[0].columns)
    assert v0.max() > 0.0 > v4.max()


def test_param_values_equal_composed_values():
    """The values of a composition's parameters taken without composing
    (param_values) are those compose gives: geometry, v_init, the inserts'
    parameters in their declared units, NetCon weights, Exp2Syn's tau1
    held through INITIAL."""
    from nmlcell.cell import Cell

    c = Cell()
    hh, pas = c._mech("hh"), c._mech("pas")
    exp2, iclamp = c._mech("Exp2Syn"), c._mech("IClamp")
    items = [Inserted(hh, "hh", {"gnabar": 0.2, "gl": 1e-4}), Inserted(pas, "pas", {"e": -70.0}),
             Inserted(exp2, "Exp2Syn[0]", {"tau1": 0.7, "tau2": 3.0}, netcons=((0.01,), (0.02,))),
             Inserted(iclamp, "IClamp[0]", {"amp": 0.3, "dur": 5.0})]
    geo = Geometry(L=12.0, diam=3.5, cm=0.9, Ra=120.0)
    mech, _u = compose(geo, items, v_init=-61.0)
    fast = param_values(geo, items, -61.0)
    composed = {p.name: p.value for p in mech.parameters}
    assert set(fast) <= set(composed)
    for k, v in fast.items():
        assert math.isclose(v, composed[k], rel_tol=0, abs_tol=0), (k, v, composed[k])
    assert {"gnabar_hh", "Exp2Syn[0]#1.w0", "IClamp[0].amp", "area"} <= set(fast)


def test_a_misspelt_parameter_in_a_shared_composition_is_refused():
    """The second compartment of a composition is not composed again: a
    parameter name its mechanism lacks is still an error there."""
    from nmlcell.cell import Cell
    from nmlcell.errors import ModelImportError
    from nmlcell.passes.share_groups import Compositions

    hh = Cell._mech("hh")
    shared = Compositions()
    shared.part(Geometry(), [Inserted(hh, "hh", {"gnabar": 0.1})], v_init=-65.0, nodes=(0,))
    with pytest.raises(ModelImportError, match="hh has no parameter gnabarr"):
        shared.part(Geometry(), [Inserted(hh, "hh", {"gnabarr": 0.1})], v_init=-65.0, nodes=(1,))
    assert shared.composed == 1


@pytest.mark.slow
def test_medium_net_vs_neuron_export():
    """acnet2's MediumNet (48 pyr_4_sym + 12 bask cells, 984 expTwoSynapse
    connections, 14 current pulses, 500 ms at dt 0.01 ms): 756 nodes in 7
    groups (276 when each cell's compartments had groups of their own);
    every recorded cell's voltage and spike times against jNeuroML's NEURON
    export."""
    lems = ACNET2 / "LEMS_MediumNet.xml"
    if not lems.is_file():
        pytest.skip(f"{lems} is not here")
    m = nmlcell.load(lems)
    assert len(m.ir.network.groups) <= 10
    got = compare(lems, v_tol=0.1, spike_tol=0.1)
    assert sum(n for _dv, _ds, n in got.values()) > 0


def test_group_ids_avoid_a_spike_source_population_named_like_them(tmp_path):
    """A spikeArray population named ``g0`` (as the first composition's
    group would be): the compositions' groups take another prefix, every
    group id is its own and the projection's events come from ``g0``."""
    from test_nml_network_mc import _stimuli_spike_arrays

    lems = _stimuli_spike_arrays(tmp_path)
    f = tmp_path / "StimuliTest.nml"
    f.write_text(f.read_text().replace('"SpikeArrays"', '"g0"').replace("../SpikeArrays[", "../g0["))
    m = nmlcell.load(lems)
    ids = [g.id for g in m.ir.network.groups]
    assert len(ids) == len(set(ids)) and "g0" in ids and "cable_g0" in ids, ids
    assert {e.src for e in m.ir.network.event_links} == {"g0"}
    assert m.ir.network.group("g0").mechanism.kind != "cell"
