"""Hay et al. 2011's 13 soma mechanisms together against NEURON, at the
level of round-off.

Before the first spike nmlcell's ``staggered`` step and NEURON's fixed step
agree within a few ulp: the membrane's ``di/dv`` is summed mechanism by
mechanism (a finite difference of the total lost ``ulp(i_total)/0.001`` to
cancellation once an IClamp's current was in it: 5.7e-13 mV before the
first spike), eca is NEURON's Nernst value to the bit (sympy had spread
``ktf`` over ``celsius + 273.15``, and constants were printed with 15
digits: 9 ulp).

Over many spikes the remaining one-ulp differences (the gates' rate
expressions, XLA's ``exp``) grow about tenfold per 100 ms, as in NEURON
itself: the slow test compares nmlcell with NEURON against NEURON with
its initial v moved by 1e-12 mV.
"""
from pathlib import Path

import numpy as np
import pytest

from nrn_cells import compile_mods, neuron_run, nmlcell_run, spike_times
from test_cell_api import HAY_SOMA

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
HAY = CORPUS / "modeldb-139653-hay2011" / "mod"


@pytest.fixture(scope="module")
def hay():
    if not HAY.is_dir():
        pytest.skip(f"model corpus not found at {CORPUS}")
    import nmlcell

    return compile_mods(HAY), nmlcell.load_mod(HAY)


def _cfg(lib, T, iclamp, record, v_init=-80.0):
    return dict(lib=lib, L=20.0, diam=20.0, cm=1.0, Ra=100.0, insert=HAY_SOMA, iclamp=iclamp, T=T,
                dt=0.025, celsius=34.0, v_init=v_init, record=record)


def test_hay13_within_ulps_before_the_first_spike(hay):
    """0.3 nA from 1 ms; up to 2 ms (v -55 mV, the upstroke starts after):
    v within 4 ulp (was 5.7e-13 mV, 40 ulp), eca and cai to the last bit
    or one ulp (eca was 2 ulp off here, 9 in a 20 ms rest)."""
    lib, mechs = hay
    rec = ["v", "eca", "cai", "m_NaTa_t", "z_SK_E2"]
    cfg = _cfg(lib, 2.0, [1.0, 100.0, 0.3], rec)
    ref = neuron_run(cfg)
    ours, _res = nmlcell_run(cfg, mechs)
    assert np.max(np.abs(ours["v"] - ref["v"])) <= 1e-13
    assert np.max(np.abs(ours["eca"] - ref["eca"]) / np.spacing(np.abs(ref["eca"]))) <= 1
    assert np.max(np.abs(ours["cai"] - ref["cai"])) <= 1e-19
    assert np.max(np.abs(ours["m_NaTa_t"] - ref["m_NaTa_t"])) <= 1e-15
    assert np.max(np.abs(ours["z_SK_E2"] - ref["z_SK_E2"])) <= 1e-15


@pytest.mark.slow
def test_hay13_1000ms_as_close_as_neuron_to_itself(hay):
    """bench/bench_nmodl_hay.py's protocol (0.3 nA from 20 to 920 ms):
    the 14 spikes on NEURON's steps; in every 100 ms window nmlcell is no
    further from NEURON than NEURON is from itself with v_init moved by
    1e-12 mV (70 ulp), and at rest (the first 20 ms) v is NEURON's to the
    bit."""
    lib, mechs = hay
    cfg = _cfg(lib, 1000.0, [20.0, 900.0, 0.3], ["v", "eca"])
    ref = neuron_run(cfg)
    moved = neuron_run(_cfg(lib, 1000.0, [20.0, 900.0, 0.3], ["v", "eca"], v_init=-80.0 + 1e-12))
    ours, res = nmlcell_run(cfg, mechs)
    t = res.t
    s_ref, s_ours = spike_times(t, ref["v"]), spike_times(t, ours["v"])
    assert len(s_ref) == 14
    np.testing.assert_array_equal(s_ours, s_ref)
    rest = t < 20.0
    assert np.array_equal(ours["v"][rest], ref["v"][rest])
    d_ours, d_self = np.abs(ours["v"] - ref["v"]), np.abs(moved["v"] - ref["v"])
    for a in range(0, 1000, 100):
        w = (t >= a) & (t < a + 100)
        assert d_ours[w].max() <= d_self[w].max(), (a, d_ours[w].max(), d_self[w].max())
