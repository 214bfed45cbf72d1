"""jLEMS's reading of dimensionally inconsistent expressions, in nmlcell's units.

jLEMS stores every quantity in SI and evaluates expressions on SI numbers;
nmlcell evaluates the same expressions on its internal units
(:mod:`nmlcell.ir.units`). The two agree whenever an expression's value has
the dimension declared for it. Some real types do not: the NeuroML core
``channelDensityGHK2`` declares ``pOpen`` a voltage but computes a
dimensionless number (its ``1e-3`` means volts); ``pinskyRinzelCA3Cell``
has ``d Si/dt = -Si/150.0`` (a dimensionless rate where a rate per time is
due). jLEMS takes such a number as SI of the declared dimension, so a value
``f`` of inferred dimension ``D`` declared ``E`` is, in nmlcell's units,
``f * scale(D) / scale(E)``.

:func:`apply_si_semantics` infers each DerivedVariable's, TimeDerivative's
and StateAssignment's dimension from its sympy expression (symbols carry the
dimensions the LEMS types declare; a bare number fits any dimension) and,
where the inference is definite and differs from the declared dimension,
multiplies the expression by that factor. An expression whose dimension
cannot be inferred for sure (an unknown input, a sum of a number and a
dimensioned quantity, a non-integer power of a dimensioned quantity) is left
as it is.
"""
from __future__ import annotations

import logging
from dataclasses import replace

import sympy as sp

from ..ir.mechanism import Assignment, Condition, Derived, Mechanism
from ..ir.units import NONE, Dim, display_unit

log = logging.getLogger(__name__)

TIME = Dim(t=1)


class _Loose:
    """A bare number: dimensionless, or whatever dimension it is combined with."""


LOOSE = _Loose()

_DIMENSIONLESS_FUNCS = (sp.exp, sp.log, sp.sin, sp.cos, sp.tan, sp.asin, sp.acos, sp.atan, sp.sinh,
                        sp.cosh, sp.tanh, sp.Heaviside)
_SAME_DIM_FUNCS = (sp.Abs, sp.ceiling, sp.floor)


def _plain(d):
    """A dimension for products: a bare number counts as dimensionless."""
    return NONE if d is LOOSE else d


def _same(exprs, dims):
    """The common dimension of summed terms or Piecewise branches, or None.
    A literal 0 fits any dimension (``<Case value="0"/>``)."""
    dims = [d for e, d in zip(exprs, dims) if not (e.is_Number and e.is_zero)] or [LOOSE]
    if any(d is None for d in dims):
        return None
    definite = {d for d in dims if d is not LOOSE}
    if not definite:
        return LOOSE
    if len(definite) > 1:
        return None
    (d,) = definite
    if d != NONE and any(x is LOOSE for x in dims):
        return None  # `v + 5`: jLEMS reads 5 in volts; not worth guessing
    return d


def infer(expr, dims: dict):
    """The dimension of ``expr``: a Dim, LOOSE (bare numbers only) or None
    (unknown). ``dims`` maps symbol names to Dims (None: unknown)."""
    if expr.is_Number or expr in (sp.pi, sp.E, sp.true, sp.false):
        return LOOSE
    if expr.is_Symbol:
        return dims.get(expr.name.split("@", 1)[0])
    if expr.is_Add:
        return _same(expr.args, [infer(a, dims) for a in expr.args])
    if expr.is_Mul:
        out, loose = NONE, True
        for a in expr.args:
            d = infer(a, dims)
            if d is None:
                return None
            loose = loose and d is LOOSE
            out = out * _plain(d)
        return LOOSE if loose else out
    if expr.is_Pow:
        base, e = infer(expr.base, dims), expr.exp
        if base is None:
            return None
        if e.is_Number:
            if base is LOOSE or base == NONE:
                return base
            if e.is_Integer:
                return base ** int(e)
            if e.is_Rational:
                p, q = int(e.p), int(e.q)
                fields = [getattr(base, f) * p for f in "mltiknj"]
                if all(x % q == 0 for x in fields):
                    return Dim(*(x // q for x in fields))
            return None
        de = infer(e, dims)
        if de is None or _plain(de) != NONE:
            return None
        return NONE if _plain(base) == NONE else None
    if isinstance(expr, sp.Piecewise):
        return _same([v for v, _c in expr.args], [infer(v, dims) for v, _c in expr.args])
    if isinstance(expr, _DIMENSIONLESS_FUNCS):
        return NONE if all(_plain(infer(a, dims)) == NONE for a in expr.args) else None
    if isinstance(expr, _SAME_DIM_FUNCS):
        return infer(expr.args[0], dims)
    return None


def _symbol_dims(m: Mechanism) -> dict:
    dims = {"t": TIME}
    for p in m.parameters:
        dims[p.name] = p.dim
    for s in m.states:
        dims[s.name] = s.dim
    for i in m.inputs:
        dims[i.name] = i.dim
    for d in m.derived:
        dims[d.name] = d.dim
    return dims


def _unit(d: Dim) -> str:
    return "a pure number" if d == NONE else display_unit(d)[0] or str(d)


def _rescaled(expr, want, dims, what, notes):
    if want is None:
        return expr
    got = infer(expr, dims)
    if got is None or got is LOOSE or got == want:
        return expr
    factor = got.scale / want.scale
    notes.append(f"{what}: its value is in {_unit(got)}, declared {_unit(want)}; read in SI as "
                 f"jLEMS does (x {factor:g})")
    return expr * sp.Float(factor)


def apply_si_semantics(m: Mechanism) -> tuple[Mechanism, list[str]]:
    """``m`` with every dimensionally inconsistent expression scaled as
    jLEMS reads it (see the module docstring), and one note per change."""
    dims = _symbol_dims(m)
    state_dim = {s.name: s.dim for s in m.states}
    notes: list[str] = []

    derived = tuple(replace(d, expr=_rescaled(d.expr, d.dim, dims, f"DerivedVariable {d.name}", notes))
                    for d in m.derived)
    derivatives = {}
    for name, e in m.derivatives.items():
        want = state_dim[name] / TIME if name in state_dim else None
        derivatives[name] = _rescaled(e, want, dims, f"TimeDerivative of {name}", notes)

    def assign(a: Assignment) -> Assignment:
        new = _rescaled(a.expr, state_dim.get(a.variable), dims, f"StateAssignment of {a.variable}", notes)
        return a if new is a.expr else replace(a, expr=new)

    on_start = tuple(assign(a) for a in m.on_start)
    conditions = tuple(replace(c, assignments=tuple(assign(a) for a in c.assignments))
                       if isinstance(c, Condition) else c for c in m.conditions)
    if not notes:
        return m, notes
    for n in notes:
        log.debug("%s: %s", m.name, n)
    return replace(m, derived=derived, derivatives=derivatives, on_start=on_start,
                   conditions=conditions), notes
