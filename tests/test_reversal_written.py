"""A reversal potential a mechanism WRITEs (``USEION ca WRITE eca``),
against NEURON.

In a mechanism without a current NEURON runs BREAKPOINT in its state phase
(nocmodl writes no ``nrn_cur``): the stored ``eca`` is computed from the new
v (and concentrations), read by the next current phase and recorded.
nmlcell makes it the ion's value (no default, no Nernst) and records it
from the new state. tests/data/mod/regress/reversal_written/ewfix.mod:
``eca = e0 - slope*cai`` of a pool's cai, read by a calcium current
(``cacur``), with hh; the classic ``cl_canernst`` (Nernst of a pool's cai)
is in test_classic_mods. Refused with the USEION line: a writer with a
current (NEURON stores the value in its current phase, order-dependent),
and a value read from ``v``, ``t``, ``dt`` or an ion current.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nrn_cells import compile_mods, neuron_run, nmlcell_run

HERE = Path(__file__).parent
MODS = HERE / "data" / "mod" / "regress" / "reversal_written"


def test_written_reversal_potential_matches_neuron():
    pytest.importorskip("neuron")
    import nmlcell

    mechs = {n: nmlcell.load_mod(MODS / f"{n}.mod")[n] for n in ("ewfix", "cacur", "ca_pool")}
    cfg = {"lib": compile_mods(MODS), "L": 20.0, "diam": 20.0, "cm": 1.0, "Ra": 100.0,
           "insert": [["hh", {}], ["cacur", {}], ["ca_pool", {}], ["ewfix", {}]], "iclamp": [2.0, 30.0, 0.2],
           "T": 40.0, "dt": 0.025, "celsius": 6.3, "v_init": -65.0, "record": ["v", "eca", "ica", "cai"]}
    ref = neuron_run(cfg)
    ours, _res = nmlcell_run(cfg, mechs)
    assert np.ptp(ref["eca"]) > 10.0   # eca follows cai: not Nernst (which would be ~ 80-120 mV)
    assert np.max(np.abs(np.asarray(ours["v"]) - ref["v"])) < 1e-8
    for q in ("eca", "ica", "cai"):
        assert np.max(np.abs(np.asarray(ours[q]) - ref[q])) <= 1e-9 * np.ptp(ref[q]), q


@pytest.mark.parametrize("body,why", [
    ("USEION ca READ cai, cao WRITE eca, ica }\nASSIGNED { v (mV) cai (mM) cao (mM) eca (mV) ica (mA/cm2) }\n"
     "BREAKPOINT {\n    eca = 12.5*log(cao/cai)\n    ica = 1e-5*(v - eca)\n}", "writes eca and has a current"),
    ("USEION ca READ cai, cao, ica WRITE eca }\nASSIGNED { cai (mM) cao (mM) eca (mV) ica (mA/cm2) }\n"
     "BREAKPOINT { eca = 12.5*log(cao/cai) + ica }", "writes eca from ica"),
    ("USEION ca WRITE eca }\nASSIGNED { v (mV) eca (mV) }\nBREAKPOINT { eca = 60 + 0.2*v }", "writes eca from v"),
], ids=["with_current", "from_ica", "from_v"])
def test_written_reversal_potential_refusals(tmp_path, body, why):
    import nmlcell

    f = tmp_path / "ew.mod"
    f.write_text("NEURON {\n    SUFFIX ew\n    " + body + "\n")
    cell = nmlcell.Cell.soma()
    cell.insert("hh")
    cell.insert(nmlcell.load_mod(f)["ew"])
    with pytest.raises(nmlcell.UnsupportedError, match=rf"{why}.*\(ew.mod:3\)"):
        cell.run(1.0)
