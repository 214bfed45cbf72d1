"""Conditional derivatives in NMODL DERIVATIVE blocks, and the statement
forms around them that the importer refuses rather than drops.

What NEURON 9.0.2's ``nocmodl`` makes of them (read from its generated C++):

- ``cnexp``: each ``x' = f`` becomes ``x = x + (1 - exp(b dt)) (-a/b - x)``
  in place, inside its IF branch; a branch without the statement leaves
  ``x`` unchanged; a later statement reads the updated state. Imported as a
  Piecewise derivative (0 where no branch assigns it); the ``staggered``
  solver applies cnexp in the block's order.
- ``euler``: one equation per derivative *statement*: ``x += dt*Dx`` runs
  once per statement, so IF/ELSE branches both writing ``x'`` advance ``x``
  twice. Refused (the same rate computed under the IF, the derivative
  written once, is lowered).
- ``derivimplicit``: IF/ELSE branches both writing ``x'`` are refused by
  nocmodl itself ("Number of equations ... does not equal number of
  states"); one branch alone leaves ``Dx`` stale. Refused.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nmlcell.errors import UnsupportedError
from nmlcell.importers.nmodl import load_mod_file

FOLDER = Path(__file__).resolve().parent / "data" / "mod" / "regress" / "conditional_derivative"


def test_conditional_derivatives_against_neuron():
    """hh + condc (cnexp, IF/ELSE and IF/ELSE IF/ELSE, one reading the state
    itself) + condn (cnexp, nested IFs without ELSE, a constant derivative,
    a second equation reading the first state after its update) + condd
    (derivimplicit, the rate chosen by an IF) + condk (KINETIC sparse,
    reactions under IF/ELSE), IClamp 0.15 nA, 40 ms (two
    spikes; every branch is taken). Measured: v within 1.6e-11 mV, every
    state within 7.9e-15. Without cnexp in the block's order (q reading the
    old s) q_condn was 6.5e-3 off and v 5.1e-3 mV."""
    from nrn_cells import compile_mods, neuron_run, nmlcell_run

    names = ("condc", "condn", "condd", "condk")
    mechs = {n: load_mod_file(FOLDER / f"{n}.mod") for n in names}
    rec = ["v", "s_condc", "r_condc", "s_condn", "q_condn", "s_condd", "a_condk", "b_condk"]
    cfg = dict(lib=compile_mods(FOLDER), L=20.0, diam=20.0, cm=1.0, Ra=100.0,
               insert=[["hh", {}]] + [[n, {}] for n in names],
               iclamp=[2.0, 30.0, 0.15], T=40.0, dt=0.025, celsius=6.3, record=rec)
    ref = neuron_run(cfg)
    ours, _res = nmlcell_run(cfg, mechs)
    assert np.ptp(ref["v"]) > 100   # it spikes
    assert ref["r_condc"].max() > 0.5 and ref["s_condn"].max() > 0.5   # the branches on the states taken
    assert np.max(np.abs(ours["v"] - ref["v"])) < 1e-9
    for q in rec[1:]:
        assert np.ptp(ref[q]) > 0.1, q
        assert np.max(np.abs(ours[q] - ref[q])) < 1e-9, (q, np.max(np.abs(ours[q] - ref[q])))


def test_euler_derivative_per_statement_in_neuron():
    """Why euler with IF/ELSE derivatives is refused: in NEURON a state whose
    derivative is written in three statements (conde.mod: ``s' = 0`` then
    IF/ELSE) advances by 3*dt*Ds per step: s goes 0 -> 0.075 on the first
    step above threshold with Ds = (1 - 0)/1 and dt = 0.025."""
    from nrn_cells import compile_mods, neuron_run

    cfg = dict(lib=compile_mods(FOLDER), L=20.0, diam=20.0, cm=1.0, Ra=100.0,
               insert=[["hh", {}], ["conde", {}]], iclamp=[2.0, 30.0, 0.1], T=10.0, dt=0.025,
               celsius=6.3, record=["s_conde"])
    s = neuron_run(cfg)["s_conde"]
    k = int(np.argmax(s > 0))
    assert k > 0 and s[k - 1] == 0.0 and s[k] == pytest.approx(3 * 0.025, rel=1e-12)
    with pytest.raises(UnsupportedError, match=r"derivative of 's' written in 3 statements of DERIVATIVE "
                                               r"states \(METHOD euler\).*conde\.mod:14"):
        load_mod_file(FOLDER / "conde.mod")


def test_cnexp_piecewise_against_recurrence(tmp_path):
    """Without NEURON: a cnexp state under ``if (s < 0.5)`` follows NEURON's
    per-step cnexp formulas exactly: s <- 1 - (1 - s) exp(-dt/tau) while
    s < 0.5, then s <- s + dt*0.2 (a constant derivative), the condition
    read at the step's start."""
    import nmlcell

    f = tmp_path / "pw.mod"
    f.write_text("""NEURON { SUFFIX pw RANGE tau }
PARAMETER { tau = 2 (ms) }
STATE { s }
INITIAL { s = 0 }
BREAKPOINT { SOLVE st METHOD cnexp }
DERIVATIVE st {
    if (s < 0.5) { s' = (1 - s)/tau } else { s' = 0.2 }
}
""")
    m = load_mod_file(f)
    cell = nmlcell.Cell.soma(L=20.0, diam=20.0, cm=1.0, Ra=100.0)
    cell.insert("pas")
    cell.insert(m)
    dt, n = 0.025, 200
    res = cell.run(duration=n * dt, dt=dt, celsius=6.3, record=["s_pw"])
    want = [0.0]
    for _ in range(n):
        s = want[-1]
        want.append(1 - (1 - s) * np.exp(-dt / 2.0) if s < 0.5 else s + dt * 0.2)
    got = np.asarray(res["s_pw"])
    assert got.max() > 0.7
    assert np.max(np.abs(got - np.array(want[:len(got)]))) < 1e-13


_HEAD = """NEURON { SUFFIX %s NONSPECIFIC_CURRENT i }
PARAMETER { g = 0.001 (S/cm2) vth = -50 (mV) }
ASSIGNED { i (mA/cm2) inf }
STATE { s q }
INITIAL { s = 0 }
"""

REFUSED = {
    # name: (method, DERIVATIVE body, other blocks, message, line)
    "cnexp_twice": ("cnexp", "s' = 1 - s\n    s' = -s\n    q' = -q", "",
                    "derivative of 's' assigned twice on one path in DERIVATIVE st (METHOD cnexp)", 12),
    "euler_ifelse": ("euler", "if (v > vth) { s' = 1 - s } else {\n        s' = -s\n    }\n    q' = -q", "",
                     "derivative of 's' written in 2 statements of DERIVATIVE st (METHOD euler)", 12),
    "euler_noelse": ("euler", "if (v > vth) { s' = 1 - s }\n    q' = -q", "",
                     "derivative of 's' assigned on some paths of an IF only (METHOD euler)", 11),
    "derivimplicit_ifelse": ("derivimplicit", "if (v > vth) { s' = 1 - s } else {\n        s' = -s\n    }\n"
                             "    q' = -q", "",
                             "derivative of 's' written in 2 statements of DERIVATIVE st (METHOD derivimplicit): "
                             "NEURON's nocmodl refuses it too", 12),
    "derivimplicit_nested": ("derivimplicit", "if (v > vth) {\n        if (q > 0) { s' = 1 - s }\n    }\n"
                             "    q' = -q", "",
                             "derivative of 's' assigned under an IF (METHOD derivimplicit)", 12),
    "derivative_read": ("cnexp", "s' = -s\n    q' = s' - q", "", "the derivative s' read in an expression", 12),
    "derivative_in_procedure": ("cnexp", "s' = -s\n    q' = -q", "PROCEDURE p() { s' = 1 }\n",
                                "a derivative in PROCEDURE p, outside the SOLVEd DERIVATIVE block", 15),
    "assigned_after_cnexp": ("cnexp", "s' = -s\n    inf = 2*s\n    q' = inf - q", "",
                             "'inf' assigned in DERIVATIVE st (METHOD cnexp) from 's' after its derivative", 12),
    # a STATE assigned in BREAKPOINT or a PROCEDURE it calls is imported
    # (carried between NEURON's two calls): tests/test_nmodl_carried.py
    "derivative_in_called_procedure": ("cnexp", "p()\n    q' = -q", "PROCEDURE p() {\n    if (v > vth) { s' = 1 } else { s' = -s }\n}\n",
                                       "a derivative in PROCEDURE p, outside the SOLVEd DERIVATIVE block", 15),
    "solve_under_if": ("cnexp", "s' = -s\n    q' = -q", "", "SOLVE st inside an IF: NEURON ignores the condition", 7),
    "while_runtime": ("cnexp", "LOCAL k\n    k = 0\n    while (k < s) { k = k + 1 }\n    s' = -s\n    q' = -k",
                      "", "WHILE loop whose condition depends on run-time values", 13),
}


def _write(tmp_path, name):
    method, body, other, _msg, _line = REFUSED[name]
    bp = "    SOLVE st METHOD %s\n" % method
    if name == "solve_under_if":
        bp = "    if (v > vth) { SOLVE st METHOD cnexp }\n"
    elif other and "p()" not in body:
        bp += "    p()\n"
    text = _HEAD % name + "BREAKPOINT {\n" + bp + "    i = g*(s + q)*(v + 80)\n}\n" + \
        "DERIVATIVE st {\n    " + body + "\n}\n" + other
    f = tmp_path / f"{name}.mod"
    f.write_text(text)
    return f


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_line(tmp_path, name):
    """Each form is refused with its file:line (never dropped)."""
    f = _write(tmp_path, name)
    msg, line = REFUSED[name][3], REFUSED[name][4]
    with pytest.raises(UnsupportedError) as e:
        load_mod_file(f)
    items = e.value.items
    assert len(items) == 1, items
    assert items[0].startswith(msg), items
    assert items[0].endswith(f"({f.name}:{line})"), (items, f.read_text())


def test_nocmodl_refuses_derivimplicit_ifelse(tmp_path):
    """The reason given for derivimplicit IF/ELSE, checked on NEURON's own
    translator (skipped where NEURON is absent)."""
    pytest.importorskip("neuron")
    import neuron

    noc = Path(neuron.__file__).parent / ".data" / "bin" / "nocmodl"
    if not noc.exists():
        noc = Path(shutil.which("nocmodl") or Path(sys.executable).parent / "nocmodl")
    if not noc.exists():
        pytest.skip("nocmodl not found")
    f = _write(tmp_path, "derivimplicit_ifelse")
    r = subprocess.run([str(noc), f.name], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "does not equal number" in (r.stdout + r.stderr), r.stdout + r.stderr
