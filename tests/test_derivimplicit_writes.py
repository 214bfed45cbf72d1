"""An ion concentration assigned inside a DERIVATIVE block SOLVEd with
``derivimplicit`` (Mainen-style ``cai = ca``), against NEURON.

NEURON evaluates the block once more at the new states after its Newton
iterations: what the block assigns is a function of the new states (cai
equals the new ca at every step). tests/data/mod/regress/derivimplicit_writes/
nlcad.mod makes the equation nonlinear (``- k ca^2``) and assigns a second
value (``w = ca*ca``). A value the block reads before it assigns it (the
previous Newton iterate's in NEURON) stays refused with file:line.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nrn_cells import compile_mods, neuron_run, nmlcell_run

HERE = Path(__file__).parent
MODS = HERE / "data" / "mod" / "regress" / "derivimplicit_writes"


def test_derivimplicit_cai_and_assigned_value_match_neuron():
    pytest.importorskip("neuron")
    import nmlcell

    mechs = {n: nmlcell.load_mod(MODS / f"{n}.mod")[n] for n in ("nlcad", "hvca")}
    cfg = {"lib": compile_mods(MODS), "L": 20.0, "diam": 20.0, "cm": 1.0, "Ra": 100.0,
           "insert": [["hh", {}], ["hvca", {}], ["nlcad", {}]], "iclamp": [2.0, 30.0, 0.3],
           "T": 40.0, "dt": 0.025, "celsius": 6.3, "v_init": -65.0,
           "record": ["v", "cai", "ca_nlcad", "w_nlcad", "ica"]}
    ref = neuron_run(cfg)
    ours, _res = nmlcell_run(cfg, mechs)
    assert np.ptp(ref["cai"]) > 0.01 and np.array_equal(ref["cai"], ref["ca_nlcad"])
    assert np.max(np.abs(np.asarray(ours["v"]) - ref["v"])) < 1e-8
    for q in ("cai", "ca_nlcad", "w_nlcad", "ica"):
        scale = float(np.ptp(ref[q]))
        # measured: cai 8.3e-10, w 1.6e-9 of their range (NEURON's Newton stops
        # at its tolerance, nmlcell's iterations go further); v 2.6e-11 mV
        assert np.max(np.abs(np.asarray(ours[q]) - ref[q])) <= 1e-8 * scale, q
    assert np.array_equal(np.asarray(ours["cai"]), np.asarray(ours["ca_nlcad"]))


def test_derivimplicit_read_before_assignment_is_refused(tmp_path):
    import nmlcell

    f = tmp_path / "readcai.mod"
    f.write_text("""NEURON {
    SUFFIX readcai
    USEION ca READ ica WRITE cai
}
UNITS { (mM) = (milli/liter) (mA) = (milliamp) }
STATE { ca (mM) }
ASSIGNED { ica (mA/cm2) cai (mM) }
INITIAL { ca = 1e-4 cai = ca }
BREAKPOINT { SOLVE pool METHOD derivimplicit }
DERIVATIVE pool {
    ca' = -ica + (cai - ca)/10
    cai = ca
}
""")
    with pytest.raises(nmlcell.UnsupportedError, match=r"'cai' .*before it is assigned.*readcai.mod:12"):
        nmlcell.load_mod(f)


def test_derivimplicit_read_through_an_intermediate_is_refused(tmp_path):
    """The same read of ``cai`` before its assignment, through an ASSIGNED
    the block computes from it first (``w = cai``), is refused too."""
    import nmlcell

    f = tmp_path / "viaw.mod"
    f.write_text("""NEURON {
    SUFFIX viaw
    USEION ca READ ica WRITE cai
    RANGE w
}
UNITS { (mM) = (milli/liter) (mA) = (milliamp) }
STATE { ca (mM) }
ASSIGNED { ica (mA/cm2) cai (mM) w (mM) }
INITIAL { ca = 1e-4 cai = ca }
BREAKPOINT { SOLVE pool METHOD derivimplicit }
DERIVATIVE pool {
    w = cai
    ca' = -ica + (w - ca)/10
    cai = ca
}
""")
    with pytest.raises(nmlcell.UnsupportedError, match=r"'cai' .*before it is assigned.*viaw.mod:14"):
        nmlcell.load_mod(f)
