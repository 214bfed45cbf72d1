"""LOCAL arrays declared inside a block or FUNCTION (``LOCAL c[3]``): one
local per element, as NEURON's C code declares ``double c[3]``. The
BREAKPOINT case (cl_localarr.mod) is run against NEURON in
test_classic_mods.py; here the symbolic result of a FUNCTION with a LOCAL
array read in a FROM loop is checked against the polynomial it computes."""
from __future__ import annotations

import sympy as sp

import nmlcell

MOD = """NEURON { SUFFIX lf NONSPECIFIC_CURRENT i RANGE g }
UNITS { (mA) = (milliamp) (mV) = (millivolt) }
PARAMETER { g = 0.001 (S/cm2) }
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT {
    LOCAL w[2]
    w[1] = poly(v)
    w[0] = w[1]*2
    i = g*w[0]
}
FUNCTION poly(x) {
    LOCAL c[3], j, acc
    c[0] = 1
    c[1] = 2
    c[2] = 0.5
    acc = 0
    FROM j = 0 TO 2 {
        acc = acc + c[j]*x^j
    }
    poly = acc
}
"""


def test_local_arrays_in_breakpoint_and_function(tmp_path):
    f = tmp_path / "lf.mod"
    f.write_text(MOD)
    m = nmlcell.load_mod(f)["lf"]
    (i,) = [d for d in m.derived if d.name == "i"]
    g, v = (sp.Symbol(n, real=True) for n in ("g", "v"))
    got = i.expr.subs({s: sp.Symbol(s.name, real=True) for s in i.expr.free_symbols})
    assert sp.simplify(got - 2 * g * (1 + 2 * v + sp.Rational(1, 2) * v ** 2)) == 0
