"""What the NMODL importer records in the IR for later passes, so that they
never read a file again: ``Mechanism.range``/``globals`` (NEURON's RANGE
and GLOBAL, which ``cell.set`` follows) and ``Mechanism.current_phase``
(the values BREAKPOINT computes outside its SOLVE, which the compartment
pass keeps at the step's old voltage, as NEURON's ``nrn_cur`` does)."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

from nmlcell.cell_params import neuron_global
from nmlcell.importers.nmodl import load_mod_file
from nmlcell.passes.compartment import current_phase

KIN = """NEURON { SUFFIX kin NONSPECIFIC_CURRENT i RANGE g, e, a GLOBAL tau }
UNITS { (mV) = (millivolt) (mA) = (milliamp) (S) = (siemens) }
PARAMETER { g = 0.001 (S/cm2) e = -70 (mV) tau = 2 (ms) q = 3 }
ASSIGNED { v (mV) i (mA/cm2) a (/ms) b (/ms) c }
STATE { C O }
INITIAL { rates(v) SOLVE kst STEADYSTATE sparse }
BREAKPOINT {
    rates(v)
    SOLVE kst METHOD sparse
    i = g*O*(v - e)
}
KINETIC kst {
    helper(v)
    ~ C <-> O (a, b)
    CONSERVE C + O = 1
}
PROCEDURE rates(v (mV)) {
    a = q*exp(v/20)/tau
    b = exp(-v/20)/tau
}
PROCEDURE helper(v (mV)) { c = v/10 }
"""


def _write(tmp_path, text, name="kin.mod"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_range_and_globals_are_structured(tmp_path):
    m = load_mod_file(_write(tmp_path, KIN))
    assert m.range == ("g", "e", "a") and m.globals == ("tau",)
    decided = {p.name: neuron_global(m, p) for p in m.parameters if p.name in ("g", "e", "tau", "q")}
    assert decided == {"g": False, "e": False, "tau": True, "q": True}  # q: a PARAMETER not RANGE
    # the decision reads the IR's lists, not a parameter's description text
    bare = replace(m, parameters=tuple(replace(p, description="") for p in m.parameters))
    assert {p.name: neuron_global(bare, p) for p in bare.parameters if p.name in decided} == decided


def test_current_phase_is_found_at_import(tmp_path):
    """rates() runs in BREAKPOINT before the SOLVE: its values are the
    current phase's; helper() is called from the SOLVEd block: not; nor is
    anything without a SOLVE."""
    m = load_mod_file(_write(tmp_path, KIN))
    assert {"a", "b", "i"} <= set(m.current_phase) and "c" not in m.current_phase
    assert current_phase(m) == set(m.current_phase)
    origins = {d.name: d.source.origin for d in m.derived}
    assert {origins[n] for n in m.current_phase} <= {"BREAKPOINT", "PROCEDURE rates"}
    plain = load_mod_file(_write(tmp_path, """NEURON { SUFFIX lk NONSPECIFIC_CURRENT i RANGE g }
PARAMETER { g = 0.001 (S/cm2) }
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT { i = g*(v + 70) }
""", "lk.mod"))
    assert plain.current_phase == () and current_phase(plain) == set()


def test_building_a_cell_from_cached_mechanisms_does_not_import_neuron(tmp_path, monkeypatch):
    """With the .mod cache warm, importing the mechanism and composing a
    cell reads no .mod file with the NMODL framework (NEURON is not even
    imported, so no "no DISPLAY" line on a headless machine)."""
    f = _write(tmp_path, KIN)
    monkeypatch.setenv("NMLCELL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NMLCELL_NO_CACHE", raising=False)
    load_mod_file(f)  # warms this cache
    code = f"""
import sys, nmlcell
cell = nmlcell.Cell.soma(L=20.0, diam=20.0)
cell.insert(nmlcell.load_mod({str(f)!r})["kin"])
print(sorted(n for n in cell._composed().frozen if n.endswith("_kin")), "neuron" in sys.modules)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split()[-1] == "False" and "DISPLAY" not in r.stderr + r.stdout
    assert r.stdout.split("]")[0] + "]" == str(sorted(["a_kin", "b_kin", "i_kin"]))  # from the cached IR
