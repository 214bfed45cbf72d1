"""LINEAR and NONLINEAR blocks of a ``.mod`` file (``SOLVE lin``, ``SOLVE
nl METHOD newton``): NEURON solves their ``~ lhs = rhs`` equations for the
STATEs they contain in its state phase. Their solution, written out in
sympy for :class:`~nmlcell.importers.nmodl_build.MechanismBuilder`'s
updates (``Mechanism.updates``).
"""
from __future__ import annotations

import sympy as sp

from ..ir.expr import sym


class LinearBlocks:
    """The builder's part for LINEAR and NONLINEAR blocks (mixed into
    :class:`~nmlcell.importers.nmodl_build.MechanismBuilder`)."""

    def _newton_step(self, bname, eqs) -> dict:
        """``NONLINEAR`` block (``SOLVE nl`` or ``METHOD newton``): NEURON
        solves its ``~ lhs = rhs`` equations for the STATEs they contain by
        Newton's method in its state phase, from the states' values (the
        previous step's solution). One Newton step with the exact Jacobian,
        ``x - J(x)^-1 F(x)`` ({state: value}); the update is applied
        :data:`~nmlcell.importers.nmodl_build.NEWTON_ITERATIONS` times in a
        row (a fixed count: differentiable, no data-dependent loop). At most
        3 states (the inverse is written out)."""
        where = (rf"(?i)^\s*NONLINEAR\s+{bname}\b",)
        xs = [sym(s) for s in self.state_decl if any(sym(s) in e.free_symbols for e in eqs)]
        if len(xs) != len(eqs) or not xs:
            self._unsup(f"NONLINEAR {bname}: {len(eqs)} equation(s) in {len(xs)} STATE(s)", *where)
            return {}
        if len(xs) > 3:
            self._unsup(f"NONLINEAR {bname}: more than 3 states (not lowered yet)", *where)
            return {}
        F = sp.Matrix(eqs)
        J = F.jacobian(xs)
        try:
            dx = J.LUsolve(F)
        except (ValueError, ZeroDivisionError):
            self._unsup(f"NONLINEAR {bname}: singular Jacobian", *where)
            return {}
        return {x.name: x - d for x, d in zip(xs, dx)}

    def _linear_solution(self, bname, eqs) -> dict:
        """``LINEAR`` block: its ``~ lhs = rhs`` equations, linear in the
        STATEs they contain (NEURON's unknowns), solved in closed form
        (sympy's LU solve); NEURON solves the same system numerically
        (``simeq``) in its state phase, with the new ``v``. {state: value};
        a system that is not square, not linear in its states, or singular
        is listed as unsupported."""
        where = (rf"(?i)^\s*LINEAR\s+{bname}\b",)
        xs = [sym(s) for s in self.state_decl if any(sym(s) in e.free_symbols for e in eqs)]
        if len(xs) != len(eqs) or not xs:
            self._unsup(f"LINEAR {bname}: {len(eqs)} equation(s) in {len(xs)} STATE(s)", *where)
            return {}
        try:
            A, b = sp.linear_eq_to_matrix([sp.expand(e) for e in eqs], xs)
        except (sp.polys.polyerrors.PolynomialError, ValueError, TypeError):
            A = b = None
        if A is None or any(x in A.free_symbols or x in b.free_symbols for x in xs):
            self._unsup(f"LINEAR {bname}: the equations are not linear in {', '.join(map(str, xs))}", *where)
            return {}
        try:
            sol = A.LUsolve(b)
        except (ValueError, ZeroDivisionError):
            sol = None
        if sol is None or any(v.has(sp.zoo, sp.nan, sp.oo) for v in sol):
            self._unsup(f"LINEAR {bname}: singular system", *where)
            return {}
        return {x.name: sp.simplify(v) if sp.count_ops(v) < 200 else v for x, v in zip(xs, sol)}
