"""Printing sympy expressions as JAX source: the printer, identifiers for
names, and the run-time helper a kinetic scheme's generated code calls.
Source text is generated from sympy by the printer, never by pasting user
text."""
from __future__ import annotations

import keyword
import re

import sympy as sp
from sympy.printing.numpy import JaxPrinter


class _Printer(JaxPrinter):
    def __init__(self, names: dict[str, str]):
        super().__init__({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": False})
        self._names = names

    def _print_Symbol(self, s):
        try:
            return self._names[s.name]
        except KeyError:
            raise KeyError(f"no value for '{s.name}'") from None

    def _print_Piecewise(self, e):
        *pieces, last = e.args
        out = self._print(last.expr)
        if last.cond is not True and last.cond != sp.true:
            out = f"jnp.where({self._print(last.cond)}, {out}, jnp.nan)"
        for piece in reversed(pieces):
            out = f"jnp.where({self._print(piece.cond)}, {self._print(piece.expr)}, {out})"
        return out

    def _print_And(self, e):
        args = [self._print(a) for a in e.args]
        out = args[0]
        for a in args[1:]:
            out = f"jnp.logical_and({out}, {a})"
        return out

    def _print_Or(self, e):
        args = [self._print(a) for a in e.args]
        out = args[0]
        for a in args[1:]:
            out = f"jnp.logical_or({out}, {a})"
        return out

    def _print_Not(self, e):
        return f"jnp.logical_not({self._print(e.args[0])})"

    def _print_Float(self, e):
        # sympy prints a 53-bit Float with 15 significant digits, up to 4 ulp
        # from the double it holds (1/3 -> 0.333333333333333): print the
        # double itself (repr round-trips), as a C compiler reads NEURON's
        x = float(e)
        return repr(x) if x == x and abs(x) != float("inf") else super()._print_Float(e)

    def _print_BooleanTrue(self, e):
        return "True"

    def _print_BooleanFalse(self, e):
        return "False"

    def _print_Pow(self, e, rational=False):
        b, x = e.args
        if x.is_Float and float(x) == int(float(x)) and 0 <= int(float(x)) <= 8:
            x = sp.Integer(int(float(x)))  # gate instances inlined as 3.0: multiply, never pow
            if int(x) == 0:
                return f"jnp.ones_like({self._print(b)})"
        if x.is_Integer and 1 <= int(x) <= 8:
            base = self._print(b)
            return "(" + "*".join([f"({base})"] * int(x)) + ")"
        if x == -1:
            return f"(1.0/({self._print(b)}))"
        if x == sp.Rational(1, 2):
            return f"jnp.sqrt({self._print(b)})"
        return f"jnp.power({self._print(b)}, {self._print(x)})"

    def _module_format(self, fqn, register=True):
        return fqn.replace("jax.numpy.", "jnp.").replace("numpy.", "jnp.")


def _ident(prefix: str, k: int, name: str) -> str:
    tail = re.sub(r"\W+", "_", name.rsplit("/", 1)[-1])[:24]
    s = f"{prefix}{k}_{tail}"
    return s + "_" if keyword.iskeyword(s) else s


def _ks_expm(rows, occ, dt):
    """exp(A dt) occ for a KineticScheme, per instance: ``rows`` the rate
    matrix's entries (scalars or (N,) columns), ``occ`` the occupancy
    columns. Returns the new occupancy columns."""
    import jax
    import jax.numpy as jnp

    n = len(occ)
    x = jnp.stack(jnp.broadcast_arrays(*occ), -1)
    shape = x.shape[:-1]
    a = jnp.stack([jnp.stack([jnp.broadcast_to(v, shape) for v in row], -1) for row in rows], -2)
    e = jax.vmap(jax.scipy.linalg.expm)(a.reshape(-1, n, n) * dt).reshape(a.shape)
    out = jnp.einsum("...ij,...j->...i", e, x)
    return tuple(out[..., i] for i in range(n))
