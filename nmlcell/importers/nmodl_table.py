"""NMODL ``FUNCTION_TABLE``: a function whose values the model supplies at run time.

``FUNCTION_TABLE taumkir(v (mV)) (ms)`` declares a function with no body;
in NEURON its data come from hoc or Python before the run
(``table_taumkir_kir(yvec, xvec)``: y values first, then the x vector; or
``table_taumkir_kir(value)``: a constant). NEURON 9's ``hoc_func_table``
then evaluates it as follows (measured on its source, ``functabl.cpp``):

- x at or below ``xvec[0]``: ``yvec[0]``; at or above the last x: the last y
  (clamped, no extrapolation);
- otherwise ``j`` with ``xvec[j] <= x < xvec[j+1]`` (a binary search: the x
  vector must be nondecreasing), ``frac = (x - xvec[j]) / (xvec[j+1] -
  xvec[j])`` and ``(1 - frac) * yvec[j] + frac * yvec[j+1]``;
- a constant: that value for every argument (any number of arguments);
- no data: the run stops ("table not specified in hoc_func_table").

The importer writes a call of such a function as a placeholder (an
undefined sympy function carrying the file and line of the declaration);
:func:`with_function_tables` replaces it with the data
(:class:`TableLookup`, printed as JAX code with exactly that arithmetic,
differentiable in its argument); :func:`function_tables` lists the
placeholders left, which :func:`nmlcell.passes.compartment.compose` refuses.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef

from ..errors import OptionError
from ..ir.mechanism import Assignment, Derived, Mechanism

__all__ = ["TableLookup", "TableSlope", "function_tables", "placeholder", "with_function_tables"]


def placeholder(name: str, args, file: str, line: int | None):
    """The call ``name(args)`` of a FUNCTION_TABLE declared at file:line."""
    f = sp.Function(name, real=True, nmodl_table_file=str(file), nmodl_table_line=int(line or 0))
    return f(*args)


def _is_placeholder(a) -> bool:
    return isinstance(a, AppliedUndef) and getattr(type(a), "nmodl_table_file", None) is not None


class _Table(sp.Function):
    """args: (x, n, x_0 .. x_{n-1}, y_0 .. y_{n-1})."""
    is_real = True

    @classmethod
    def eval(cls, *args):
        return None

    def _data(self):
        n = int(self.args[1])
        xs = [float(a) for a in self.args[2:2 + n]]
        ys = [float(a) for a in self.args[2 + n:2 + 2 * n]]
        return xs, ys

    def _code(self, printer, slope: bool) -> str:
        xs, ys = self._data()
        x = printer._print(self.args[0])
        n = len(xs)
        ax = f"jnp.array([{', '.join(repr(v) for v in xs)}])"
        ay = f"jnp.array([{', '.join(repr(v) for v in ys)}])"
        # j: xs[j] <= x < xs[j+1] (NEURON's binary search); the ends are
        # taken by the outer where, so the division below never sees 0/0
        j = f"jnp.clip(jnp.searchsorted(xs_, x_, side='right') - 1, 0, {n - 2})"
        if slope:
            inner = "(ys_[j_ + 1] - ys_[j_]) / dx_"
            lo = hi = "jnp.zeros_like(x_)"
        else:
            inner = "(1.0 - (x_ - xs_[j_]) / dx_) * ys_[j_] + (x_ - xs_[j_]) / dx_ * ys_[j_ + 1]"
            lo, hi = "ys_[0] + jnp.zeros_like(x_)", f"ys_[{n - 1}] + jnp.zeros_like(x_)"
        body = (f"jnp.where(x_ <= xs_[0], {lo}, jnp.where(x_ >= xs_[{n - 1}], {hi}, "
                f"(lambda j_: (lambda dx_: {inner})(jnp.where(xs_[j_ + 1] > xs_[j_], xs_[j_ + 1] - xs_[j_], 1.0)))"
                f"({j})))")
        return f"(lambda x_, xs_, ys_: {body})(({x}) + 0.0, {ax}, {ay})"


class TableLookup(_Table):
    """A FUNCTION_TABLE of one argument with its data (see the module
    docstring for the arithmetic, NEURON's)."""

    def fdiff(self, argindex=1):
        if argindex == 1:
            return TableSlope(*self.args)
        return sp.Integer(0)   # the data are constants of the kernel

    def _jaxcode(self, printer):
        return self._code(printer, slope=False)

    _numpycode = _jaxcode


class TableSlope(_Table):
    """d/dx of :class:`TableLookup`: the slope of the segment holding x,
    0 outside the table (where the value is clamped)."""

    def fdiff(self, argindex=1):
        return sp.Integer(0)

    def _jaxcode(self, printer):
        return self._code(printer, slope=True)

    _numpycode = _jaxcode


def _walk(mech: Mechanism):
    yield from (d.expr for d in mech.derived)
    yield from mech.derivatives.values()
    yield from (a.expr for a in mech.on_start)
    yield from (a.expr for _b, assigns in mech.updates for a in assigns)
    yield from (e for _s, e in mech.conserve)


def function_tables(mech: Mechanism) -> dict[str, tuple[int, str, int]]:
    """The FUNCTION_TABLEs ``mech`` calls that have no data yet: name ->
    (number of arguments, file, line of the declaration)."""
    out = {}
    for e in _walk(mech):
        if not isinstance(e, sp.Basic):
            continue
        for a in e.atoms(AppliedUndef):
            if _is_placeholder(a):
                t = type(a)
                out[t.__name__] = (len(a.args), t.nmodl_table_file, t.nmodl_table_line)
    return out


def _table_value(mech: Mechanism, name: str, nargs: int, data):
    """The sympy function of one argument (a callable) for ``data``."""
    if isinstance(data, (int, float, np.floating, np.integer)) and not isinstance(data, bool):
        v = sp.Float(float(data))
        return lambda *args: v
    if not isinstance(data, Mapping) or set(data) != {"x", "y"}:
        raise OptionError(f"data of FUNCTION_TABLE {name} of {mech.name}: a number (a constant) or "
                          f"{{'x': [...], 'y': [...]}} (NEURON's table_{name}_{mech.name}(yvec, xvec)), "
                          f"not {type(data).__name__}", element=f"tables={name}")
    try:
        xs = np.asarray(data["x"], dtype=np.float64).ravel()
        ys = np.asarray(data["y"], dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise OptionError(f"FUNCTION_TABLE {name} of {mech.name}: x and y must be numbers",
                          element=f"tables={name}") from None
    if nargs != 1:
        raise OptionError(f"FUNCTION_TABLE {name} of {mech.name} takes {nargs} arguments: vector data only "
                          f"for a function of one argument (as in NEURON); give a constant",
                          element=f"tables={name}")
    if len(xs) != len(ys) or len(xs) == 0:
        raise OptionError(f"FUNCTION_TABLE {name} of {mech.name}: x and y must have the same, nonzero length "
                          f"(got {len(xs)} and {len(ys)}; NEURON: \"Vector arguments not same size\")",
                          element=f"tables={name}")
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
        raise OptionError(f"FUNCTION_TABLE {name} of {mech.name}: x and y must be finite", element=f"tables={name}")
    if np.any(np.diff(xs) < 0):
        raise OptionError(f"FUNCTION_TABLE {name} of {mech.name}: x must be nondecreasing (NEURON looks it up "
                          f"by bisection)", element=f"tables={name}")
    if len(xs) == 1:   # NEURON: every x is at or beyond the one point
        v = sp.Float(float(ys[0]))
        return lambda *args: v
    data_args = [sp.Integer(len(xs))] + [sp.Float(float(v)) for v in xs] + [sp.Float(float(v)) for v in ys]
    return lambda x: TableLookup(x, *data_args)


def with_function_tables(mech: Mechanism, tables: Mapping[str, object]) -> Mechanism:
    """``mech`` with data for its FUNCTION_TABLEs: ``tables`` maps a table's
    name to a number (NEURON's ``table_<name>_<suffix>(value)``) or to
    ``{"x": [...], "y": [...]}`` (``table_<name>_<suffix>(yvec, xvec)``)."""
    if not tables:
        return mech
    if not isinstance(tables, Mapping):
        raise OptionError(f"tables= takes a mapping FUNCTION_TABLE name -> data, not {type(tables).__name__}",
                          element="tables")
    have = function_tables(mech)
    unknown = sorted(set(tables) - set(have))
    if unknown:
        raise OptionError(f"{mech.name} calls no FUNCTION_TABLE {', '.join(unknown)} without data "
                          f"(it has: {', '.join(sorted(have)) or 'none'})", element="tables")
    funcs = {name: _table_value(mech, name, have[name][0], data) for name, data in tables.items()}

    def sub(e):
        if not isinstance(e, sp.Basic):
            return e
        return e.replace(lambda a: _is_placeholder(a) and type(a).__name__ in funcs,
                         lambda a: funcs[type(a).__name__](*a.args))

    return dataclasses.replace(
        mech,
        derived=tuple(Derived(d.name, sub(d.expr), d.dim, d.source) for d in mech.derived),
        derivatives={k: sub(v) for k, v in mech.derivatives.items()},
        on_start=tuple(Assignment(a.variable, sub(a.expr)) for a in mech.on_start),
        updates=tuple((b, tuple(Assignment(a.variable, sub(a.expr)) for a in assigns))
                      for b, assigns in mech.updates),
        conserve=tuple((s, sub(e)) for s, e in mech.conserve),
    )
