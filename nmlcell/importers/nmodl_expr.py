"""NMODL expressions in sympy: the tables and helpers the symbolic executor
of :mod:`nmlcell.importers.nmodl_exec` uses (NEURON's special variables,
math functions, operators; IF conditions as Piecewise, booleans as numbers).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..ir.expr import sym
from ..ir.units import Dim

# Variables NEURON provides to every mechanism: name -> (Dim, Input kind, unit)
SPECIAL = {
    "v": (Dim(m=1, l=2, t=-3, i=-1), "requirement", "mV"),
    "t": (Dim(t=1), "time", "ms"),
    "dt": (Dim(t=1), "global", "ms"),
    "celsius": (Dim(k=1), "global", "degC"),
    "area": (Dim(l=2), "requirement", "um2"),
    "diam": (Dim(l=1), "requirement", "um"),
}
ION_DIMS = {"e": Dim(m=1, l=2, t=-3, i=-1), "i": Dim(i=1, l=-2), "c": Dim(l=-3, n=1)}

MATH = {
    "exp": sp.exp, "log": sp.log, "log10": lambda x: sp.log(x, 10), "sqrt": sp.sqrt,
    "fabs": sp.Abs, "abs": sp.Abs, "pow": sp.Pow, "tanh": sp.tanh, "sinh": sp.sinh, "cosh": sp.cosh,
    "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "atan": sp.atan, "asin": sp.asin, "acos": sp.acos,
    "atan2": sp.atan2, "floor": sp.floor, "ceil": sp.ceiling,
    "fmin": sp.Min, "fmax": sp.Max, "min": sp.Min, "max": sp.Max,
}
RANDOM = {"random", "normrand", "exprand", "scop_random", "unirand", "poisrand", "urand", "erand",
           "set_seed", "random_negexp", "random_uniform", "random_normal", "random_setseq",
           "nrnran123_normal", "mcell_ran4"}
EVENTS = {"net_send", "net_event", "net_move", "WATCH"}
# as statements: at_time() only schedules a CVODE stop in fixed steps; printf() prints
IGNORED_CALLS = {"at_time", "printf"}

BINOP = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "^": lambda a, b: sp.Pow(a, b),
    "<": lambda a, b: _rel(sp.Lt, a, b), ">": lambda a, b: _rel(sp.Gt, a, b),
    "<=": lambda a, b: _rel(sp.Le, a, b), ">=": lambda a, b: _rel(sp.Ge, a, b),
    "==": lambda a, b: _rel(sp.Eq, a, b), "!=": lambda a, b: _rel(sp.Ne, a, b),
    "&&": lambda a, b: sp.And(as_bool(a), as_bool(b)), "||": lambda a, b: sp.Or(as_bool(a), as_bool(b)),
}


def _rel(op, a, b):
    """A comparison; one whose side is a NaN or infinite constant (an
    unreachable branch of an IF, e.g. 0/0 in a removable singularity) is
    built unevaluated instead of failing."""
    try:
        return op(a, b)
    except TypeError:
        return op(a, b, evaluate=False)


def piecewise(*pieces):
    try:
        return sp.Piecewise(*pieces)
    except TypeError:
        with sp.evaluate(False):
            return sp.Piecewise(*pieces)


_LOGICAL = (sp.core.relational.Relational, sp.logic.boolalg.BooleanFunction, sp.logic.boolalg.BooleanAtom)


def inlined(derived) -> dict:
    """{symbol: expression} of each derived value (in order) with the
    derived values before it substituted: in terms of states, parameters
    and inputs."""
    sub: dict = {}
    for d in derived:
        sub[sym(d.name)] = d.expr.xreplace(sub)
    return sub


def plain(e):
    """Rewrite sympy's ITE (which Piecewise folding creates from an IF on a
    value that is itself conditional) as And/Or/Not, so that code printers
    need only the usual logic."""
    from sympy.logic.boolalg import ITE

    if not isinstance(e, sp.Basic) or not e.has(ITE):
        return e

    def rw(x):
        c, a, b = x.args
        return sp.Or(sp.And(c, a), sp.And(sp.Not(c), b))

    try:
        return e.replace(lambda x: isinstance(x, ITE), rw)
    except TypeError:
        with sp.evaluate(False):
            return e.replace(lambda x: isinstance(x, ITE), rw)


def as_bool(x):
    if isinstance(x, _LOGICAL):
        return x
    return _rel(sp.Ne, x, 0)


def as_num(x):
    """A boolean used as a number (NMODL has no booleans)."""
    if isinstance(x, _LOGICAL):
        return piecewise((sp.Integer(1), x), (sp.Integer(0), True))
    return x


class Unsupported(Exception):
    """A construct nmlcell cannot lower: ``(what, source-line pattern)``,
    recorded in ``Mechanism.unsupported`` by the executor."""


@dataclass
class Frame:
    """The LOCAL variables of the block or call being executed."""
    locals: dict
    fname: str | None = None     # FUNCTION being evaluated (its name holds the result)

