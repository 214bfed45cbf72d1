"""The NEURON-style API (nmlcell.Cell + .mod mechanisms) against NEURON.

NEURON runs in a subprocess (tests/nrn_cells.py) with ``secondorder = 0``
and its rate tables off; nmlcell's ``staggered`` solver follows NEURON's
fixed step, so states and v agree to round-off (amplified by spikes)."""
from pathlib import Path

import numpy as np
import pytest

import nmlcell
from nrn_cells import compile_mods, neuron_run, nmlcell_run, spike_times

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
HAY = CORPUS / "modeldb-139653-hay2011" / "mod"

# the soma of Hay et al. 2011 (L5PCbiophys3.hoc), every mechanism of the folder but epsp
HAY_SOMA = [["pas", {"g": 3.38e-5, "e": -90.0}], ["Ih", {"gIhbar": 0.0002}],
            ["Ca_LVAst", {"gCa_LVAstbar": 0.00343}], ["Ca_HVA", {"gCa_HVAbar": 0.000992}],
            ["SKv3_1", {"gSKv3_1bar": 0.338029}], ["SK_E2", {"gSK_E2bar": 0.0441}],
            ["K_Tst", {"gK_Tstbar": 0.0812}], ["K_Pst", {"gK_Pstbar": 0.00223}],
            ["Nap_Et2", {"gNap_Et2bar": 0.00172}], ["NaTa_t", {"gNaTa_tbar": 2.04}],
            ["NaTs2_t", {"gNaTs2_tbar": 0.983955}], ["Im", {"gImbar": 0.0001}],
            ["CaDynamics_E2", {"gamma": 0.000609, "decay": 210.485284}]]


def _cfg(insert, amp, record, lib=None, celsius=6.3, T=100.0, v_init=-65.0):
    return dict(lib=lib, L=20.0, diam=20.0, cm=1.0, Ra=100.0, insert=insert, iclamp=[5.0, 80.0, amp],
                T=T, dt=0.025, celsius=celsius, v_init=v_init, record=record)


def _check(ref, ours, t, v_tol, state_tol):
    assert len(ref["v"]) == len(ours["v"])
    np.testing.assert_array_equal(spike_times(t, ref["v"]), spike_times(t, ours["v"]))
    assert np.max(np.abs(ref["v"] - ours["v"])) < v_tol
    for q in ref:
        if q != "v":
            scale = max(np.ptp(ref[q]), 1e-12)
            assert np.max(np.abs(ref[q] - ours[q])) / scale < state_tol, q


@pytest.mark.parametrize("amp", [-0.1, 0.1, 0.3])
def test_hh_with_iclamp_matches_neuron(amp):
    cfg = _cfg([["hh", {}]], amp, ["v", "m_hh", "h_hh", "n_hh"])
    ref = neuron_run(cfg)
    ours, res = nmlcell_run(cfg)
    _check(ref, ours, res.t, v_tol=1e-8, state_tol=1e-10)
    if amp == 0.3:
        assert len(spike_times(res.t, ours["v"])) >= 5


@pytest.fixture(scope="module")
def hay():
    if not HAY.is_dir():
        pytest.skip(f"model corpus not found at {CORPUS}")
    return compile_mods(HAY), nmlcell.load_mod(HAY)


@pytest.mark.parametrize("amp", [-0.1, 0.1, 0.3])
def test_hay_soma_mechanisms_match_neuron(hay, amp):
    """13 mechanisms in one compartment at 34 degC: Ca pool writing cai
    (eca from Nernst), SK_E2 reading the cai CaDynamics_E2 has just
    updated (NEURON's order of mechanisms), Ih's nonspecific current."""
    lib, mechs = hay
    cfg = _cfg(HAY_SOMA, amp, ["v", "cai", "m_Ca_HVA", "z_SK_E2", "m_Ih"], lib=lib, celsius=34.0,
               T=150.0, v_init=-80.0)
    ref = neuron_run(cfg)
    ours, res = nmlcell_run(cfg, mechs)
    _check(ref, ours, res.t, v_tol=1e-4, state_tol=1e-7)


def test_solvers_swap_and_converge():
    """Any registered solver runs a Cell; rk4 at dt/5 lands on staggered's
    spikes within 0.1 ms (both converge to the same solution)."""
    cell = nmlcell.Cell.soma(L=20.0, diam=20.0)
    cell.insert("hh")
    cell.add(nmlcell.IClamp(delay=5.0, dur=80.0, amp=0.3))
    a = cell.run(duration=60.0, dt=0.005, celsius=6.3)
    cell.solver = "rk4"
    b = cell.run(duration=60.0, dt=0.005, celsius=6.3)
    sa, sb = spike_times(a.t, a["v"]), spike_times(b.t, b["v"])
    assert len(sa) == len(sb) >= 3
    assert np.max(np.abs(sa - sb)) < 0.1


def test_staggered_refuses_a_lems_model():
    lems = Path(__file__).parent / "data" / "nml2" / "LEMSexamples" / "LEMS_NML2_Ex5_DetCell.xml"
    model = nmlcell.load(lems)
    with pytest.raises(nmlcell.SolverError, match="NMODL"):
        model.solver = "staggered"


def test_gradient_through_a_cell():
    import jax

    cell = nmlcell.Cell.soma()
    cell.insert("hh")
    cell.add(nmlcell.IClamp(delay=1.0, dur=20.0, amp=0.05))
    sim = cell.simulator(duration=10.0, dt=0.025, record=["v"])
    p = cell.parameters()

    def loss(g):
        q = jax.tree.map(lambda x: x, p)
        q["cell"]["gkbar_hh"] = g
        return sim(q)["v"].mean()

    g0 = p["cell"]["gkbar_hh"]
    grad = jax.grad(lambda g: loss(g).sum())(g0)
    eps = 1e-6
    fd = (loss(g0 + eps) - loss(g0 - eps)).sum() / (2 * eps)
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(float(grad.sum()), float(fd), rtol=1e-4)


def test_bad_input():
    cell = nmlcell.Cell.soma()
    with pytest.raises(nmlcell.ModelImportError, match="no built-in mechanism 'hhh'"):
        cell.insert("hhh")
    with pytest.raises(nmlcell.OptionError, match="cell.add"):
        cell.insert("IClamp")
    cell.insert("hh", gnabarr=0.2)
    with pytest.raises(nmlcell.ModelImportError, match="gnabarr"):
        cell.run(duration=1.0)
    cell2 = nmlcell.Cell.soma()
    cell2.insert("pas")
    with pytest.raises(nmlcell.OptionError, match="m_hh"):
        cell2.run(duration=1.0, record=["m_hh"])
    with pytest.raises(nmlcell.OptionError):
        nmlcell.Cell.soma(L=0.0)
