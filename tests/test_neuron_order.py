"""NEURON's order of the mechanisms within a step, against NEURON.

NEURON 9 runs, in each phase, the mechanisms that WRITE an ion
concentration (nocmodl's ``nrn_writes_conc``) before the others, and among
them the one registered last (the last file name of nrnivmodl's library)
first (measured: see passes/neuron_order.neuron_order). The mechanisms of
tests/data/mod/regress/conc_writers_first/ make both visible: ``kc_reader``
reads in its state update the cai ``ca_pool`` has just advanced, and
``ob_cao`` (a writer registered after ``ca_pool``) reads the cai of the
step's start. Compared with NEURON (``secondorder = 0``) on one compartment
and on the branched cell of tests/data/morph/soma3.swc (nseg 3).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from nrn_cells import compile_mods, run_script

HERE = Path(__file__).parent
MODS = HERE / "data" / "mod" / "regress" / "conc_writers_first"
SOMA3 = HERE / "data" / "morph" / "soma3.swc"
INSERT = [["hh", {}], ["ca_pool", {}], ["hv_cach", {}], ["kc_reader", {}], ["ob_cao", {}]]
RECORD = ["v", "cai", "cao", "eca", "n_kc_reader", "ik"]


@lru_cache(maxsize=None)
def _mechs():
    import nmlcell

    return {n: nmlcell.load_mod(MODS / f"{n}.mod")[n] for n, _p in INSERT if (MODS / f"{n}.mod").is_file()}


def _record(branched):
    secs = ["soma[0]", "dend[1]"] if branched else [""]
    return [[s, q] for s in secs for q in RECORD]


def _nmlcell(branched, solver="staggered"):
    import nmlcell

    if branched:
        cell = nmlcell.Cell(str(SOMA3), nseg=3, cm=1.0, Ra=100.0, v_init=-65.0)
    else:
        cell = nmlcell.Cell.soma(L=20.0, diam=20.0, cm=1.0, Ra=100.0, v_init=-65.0)
    for name, params in INSERT:
        cell.insert(_mechs().get(name, name), **params)
    cell.add(nmlcell.IClamp(delay=2.0, dur=30.0, amp=0.3))
    cell.solver = solver
    names = [f"{s}(0.5).{q}" if s else q for s, q in _record(branched)]
    res = cell.run(duration=40.0, dt=0.025, celsius=6.3, record=names)
    return np.array([np.asarray(res[q]) for q in names])


def _neuron(branched, secondorder=0):
    """NEURON (test_classic_mods' runner) on the same cell; the mechanisms
    inserted in reverse order (the order of insertion does not matter to NEURON)."""
    import test_classic_mods as tc

    cfg = dict(lib=compile_mods(MODS), insert=INSERT[::-1], nseg=3,
               point=[["IClamp", {"delay": 2.0, "dur": 30.0, "amp": 0.3}]],
               record=[[s, 0.5, q] for s, q in _record(branched)],
               T=40.0, dt=0.025, celsius=6.3, v_init=-65.0, secondorder=secondorder)
    if branched:
        cfg["morph"] = str(SOMA3)
    return run_script(tc._NEURON, cfg, "r.npy", np.load)


def test_order_key_puts_concentration_writers_first_last_registered_first():
    from nmlcell.passes.compartment import Inserted
    from nmlcell.passes.neuron_order import neuron_order

    from nmlcell.mechanisms import builtin

    mechs = _mechs()

    items = [Inserted(builtin("hh"), "hh"), Inserted(builtin("pas"), "pas")] + \
        [Inserted(m, n) for n, m in mechs.items()]
    order = [it.label for it in sorted(items, key=neuron_order)]
    assert order == ["pas", "ob_cao", "ca_pool", "hh", "hv_cach", "kc_reader"]


@pytest.mark.parametrize("branched,solver", [
    (False, "staggered"),
    pytest.param(True, "staggered", marks=pytest.mark.slow),
    # NEURON's secondorder = 2: the same state phase after the half-step ion-current correction
    pytest.param(True, "crank_nicolson", marks=pytest.mark.slow),
], ids=["soma", "soma3", "soma3-crank_nicolson"])
def test_concentration_writers_run_first_as_in_neuron(branched, solver):
    pytest.importorskip("neuron")
    ours = _nmlcell(branched, solver)
    ref = _neuron(branched, 2 if solver == "crank_nicolson" else 0)
    assert ours.shape == ref.shape
    nq = len(RECORD)
    for k, (_s, q) in enumerate(_record(branched)):
        d = float(np.max(np.abs(ours[k] - ref[k])))
        if q == "v":
            assert d < 1e-8, (k, q, d)
        else:
            assert d <= 1e-9 * max(float(np.ptp(ref[k])), 1e-12), (k, q, d, k // nq)
    assert np.ptp(ref[RECORD.index("cao")]) > 0.1   # the dynamics this checks are not trivial
