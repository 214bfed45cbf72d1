"""jLEMS's SI reading of dimensionally inconsistent expressions
(nmlcell/importers/lems_si.py): the inference, and the rescaling on the
core types that need it."""
from pathlib import Path

import pytest
import sympy as sp

import nmlcell
from nmlcell.importers.lems_si import LOOSE, infer
from nmlcell.ir.units import NONE, Dim

VOLT, TIME, CURRENT = Dim(m=1, l=2, t=-3, i=-1), Dim(t=1), Dim(i=1)
DIMS = {"v": VOLT, "t": TIME, "tau": TIME, "i": CURRENT, "x": NONE, "u": None}
v, t, tau, i, x, u = sp.symbols("v t tau i x u")


@pytest.mark.parametrize("expr,want", [
    (v / tau, VOLT / TIME),
    (v - 2 * v, VOLT),
    (sp.exp(x) * 3, NONE),
    (sp.exp(v / (tau * i) * (tau * i)) * 3, None),  # exp of a voltage
    (sp.Integer(3) * sp.Rational(1, 2), LOOSE),
    (x ** 3 + 1, NONE),                            # a number in a dimensionless sum is fine
    (v ** 2 / v, VOLT),
    (sp.sqrt(v ** 2), VOLT),
    (sp.Piecewise((v, x > 0), (0, True)), VOLT),   # a bare 0 fits any dimension
    (sp.Piecewise((v, x > 0), (5, True)), None),   # 5 V or 5 mV?
    (-x / 150, NONE),                              # pinskyRinzelCA3Cell's d Si/dt
    (v + 5, None),                                 # 5 V or 5 mV? not guessed
    (v + i, None),                                 # inconsistent sum
    (sp.exp(v), None),                             # exp of a voltage
    (u * v, None),                                 # unknown symbol
    (sp.Symbol("v@2") / tau, VOLT / TIME),         # jNeuroML's delayed copies
])
def test_infer(expr, want):
    assert infer(expr, DIMS) == want


def test_ghk2_pOpen_is_read_in_volts():
    """channelDensityGHK2's pOpen (declared voltage, a pure number) is scaled
    by 1000; nothing else in the file is touched."""
    path = Path(__file__).parent / "data" / "coverage" / "LEMS_ca_ghk2_fixedfactor.xml"
    mech = next(g.mechanism for g in nmlcell.load(path).ir.network.groups if g.id == "pop")
    popen = next(d for d in mech.derived if d.name.endswith("ca_all/pOpen"))
    factors = [float(a) for a in sp.Mul.make_args(popen.expr) if a.is_Number]
    assert factors == [pytest.approx(1000.0)]


@pytest.mark.requires_java
def test_literals_read_in_si_match_jneuroml(tmp_path):
    """A pure-number rate (d x/dt = -x/150.0) and a pure number declared a
    voltage, in nmlcell and in jNeuroML: jNeuroML decays x per second (x
    loses 1.3e-4 in 20 ms, not 12 %) and reads 2e-3 as 2 mV; nmlcell agrees."""
    from jnml_ref import compare, jnml_reference

    path = Path(__file__).parent / "data" / "lems_si" / "LEMS_literal_rate.xml"
    ref = jnml_reference(path)
    x = ref["outputs"]["of0"]["columns"]["x"][1]
    assert 1.0 - x[-1] == pytest.approx(1.0 - (1.0 - 1e-5 / 150.0) ** 2000, rel=1e-3)
    res = nmlcell.load(path).run(progress=False)
    assert compare(ref, res, tmp_path) == []


def test_heaviside_is_one_half_at_zero_as_jlems():
    """LEMS's H(x): jLEMS computes 0.5 * (signum(x) + 1) and the NEURON
    export's FUNCTION H gives 0.5 at 0; so does nmlcell, in the IR and in
    the generated JAX code."""
    import jax.numpy as jnp
    import sympy as sp

    from nmlcell.ir.expr import parse, sym

    x = sym("x")
    e = parse("H(x - 1)", {"x": x})
    assert [e.subs(x, v) for v in (0.5, 1, 1.5)] == [0, sp.Rational(1, 2), 1]
    from nmlcell.lower.printer import _Printer

    src = _Printer({"x": "x"}).doprint(e)
    vals = [float(eval(src, {"jnp": jnp, "x": jnp.float64(v)})) for v in (0.5, 1.0, 1.5)]
    assert vals == [0.0, 0.5, 1.0], src
