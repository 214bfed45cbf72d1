"""NMODL constructs NEURON accepts, each checked against NEURON 9 on a
one-compartment cell (tests/nrn_cells.py runs NEURON in a subprocess)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
REGRESS = HERE / "data" / "mod" / "regress"


def test_function_reads_its_own_name():
    """regress/function_self/fself.mod: a rate FUNCTION that reads its own
    name (a Horner cubic in a FROM loop, then halved in place), which NEURON
    compiles as a local double (nmlcell refused it as an undefined
    variable). pas + hh without its K + fself, IClamp 0.1 nA, 50 ms:
    8 spikes; measured v within 3.0e-11 mV, n within 4.8e-14."""
    from nrn_cells import compile_mods, neuron_run, nmlcell_run

    from nmlcell.importers.nmodl import load_mod_file

    folder = REGRESS / "function_self"
    cfg = dict(lib=compile_mods(folder), L=20.0, diam=20.0, cm=1.0, Ra=100.0,
               insert=[["pas", {"g": 5e-5, "e": -65.0}], ["hh", {"gkbar": 0.0}], ["fself", {}]],
               iclamp=[5.0, 80.0, 0.1], T=50.0, dt=0.025, celsius=6.3, v_init=-65.0,
               record=["v", "n_fself", "ik"])
    ref = neuron_run(cfg)
    ours, _res = nmlcell_run(cfg, {"fself": load_mod_file(folder / "fself.mod")})
    assert np.sum((ref["v"][1:] > 0) & (ref["v"][:-1] <= 0)) >= 5
    assert np.max(np.abs(ref["v"] - ours["v"])) < 1e-9
    for q in cfg["record"][1:]:
        assert np.max(np.abs(ref[q] - ours[q])) < 1e-10 * np.ptp(ref[q]), q


def test_linear_steadystate_sparse_is_neurons_backward_euler_step():
    """dx_kin (three states, CONSERVE, ``SOLVE kin STEADYSTATE sparse``):
    NEURON's initial states are a backward-Euler step of 1e9 ms from 0
    (nocmodl's _ss_sparse_thread, iterated to 1e-6), not the exact root; so
    are nmlcell's. 5 ms before the first spike, against NEURON 9: measured
    C1 and O within 2.2e-16, v within 2.8e-14 mV (the exact root gave 1e-9
    in the states and 6.2e-7 mV over 70 ms)."""
    import test_classic_mods as tc

    cfg = dict(tc._config("dx_kin", False), T=5.0)
    ref = tc.run_script(tc._NEURON, cfg, "r.npy", np.load)
    ours, _t = tc._nmlcell(cfg)
    assert np.max(np.abs(ours[0] - ref[0])) < 1e-12
    for k in (1, 2):   # C1, O
        assert np.max(np.abs(ours[k] - ref[k])) < 1e-14, cfg["record"][k]
