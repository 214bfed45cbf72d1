"""Derivatives under IF/ELSE in NMODL, as NEURON 9.0.2's ``nocmodl``
compiles them (read from the C++ it generates, checked by running NEURON).

``nocmodl`` makes every ``x' = f`` statement of a DERIVATIVE block one
equation; what that means depends on the METHOD (see :meth:`DerivativeRules._derivative`):
``cnexp`` assigns each state in place inside its branch (imported as a
``Piecewise`` derivative, 0 on paths that assign none), ``euler`` advances a
state once per statement, ``derivimplicit`` refuses more equations than
states. The :class:`~nmlcell.importers.nmodl_exec.Executor` calls these
rules for each derivative statement, each IF and each SOLVEd block.
"""
from __future__ import annotations

import re

import sympy as sp

from .nmodl_expr import piecewise

_UNSET = object()   # a derivative not assigned (yet) on the path being executed
_UNSET_SYM = sp.Symbol("'@unset", real=True)   # ... inside a Piecewise: on some paths only


def fold(conds, vals):
    """Piecewise((v1, c1), (v2, c2), ..., (v_else, True)) of an IF's
    branches (``vals`` has one more entry than ``conds``: the else)."""
    pieces = []
    for c, v in zip(conds, vals):
        if c is sp.true:
            pieces.append((v, True))
            break
        if c is sp.false:
            continue
        pieces.append((v, c))
    else:
        pieces.append((vals[-1], True))
    return piecewise(*pieces) if len(pieces) > 1 or pieces[0][1] is not True else pieces[0][0]


class DerivativeRules:
    """Mixin of the executor: ``self.derivatives`` (state -> derivative on
    the path being executed), ``cond_derivs``, ``deriv_seen``,
    ``deriv_refused`` (reset per SOLVEd block)."""

    def _derivative(self, st, rhs):
        """``st' = rhs`` executed. NEURON's nocmodl (measured, NEURON 9.0.2)
        makes every derivative statement of the block one equation:

        - ``euler`` adds ``dt*Ds`` once per statement, so a state whose
          derivative is written in k statements (twice, or in both branches
          of an IF/ELSE) advances by ``k*dt*Ds``: refused, with its line,
          when the block is done (:meth:`unset_derivatives`);
        - ``cnexp`` turns each statement into an assignment to the state in
          place: IF/ELSE branches are lowered (see :meth:`_fold_derivatives`),
          two statements on one path (two updates in a row) are not;
        - ``derivimplicit`` refuses more equations than states ("Number of
          equations, 3, does not equal number, 2of states used"): refused
          when the block is done.
        """
        nth = self.deriv_seen.get(st, 0)
        self.deriv_seen[st] = nth + 1
        method = dict(self.solves).get(self.solving_name) if self.solving else None
        if st in self.derivatives and method in ("cnexp", None) and st not in self.deriv_refused:
            self.deriv_refused.add(st)
            self._unsup(f"derivative of '{st}' assigned twice on one path in {self.block[0]} "
                        f"(METHOD {method}): NEURON's cnexp applies the two updates one after the other; "
                        f"not lowered", rf"\b{re.escape(st.split('[')[0])}\s*'", nth, self.block[1])
        self.derivatives[st] = rhs

    def unset_derivatives(self, bname):
        """After SOLVE ``bname``: a derivative assigned on some paths of its
        IFs only. NEURON's ``cnexp`` leaves the state unchanged on the
        others (its assignment in place is not executed): derivative 0
        there. ``euler`` and ``derivimplicit`` would use ``Ds`` as its last
        evaluation left it (a value from an earlier step or Newton
        iteration): refused."""
        method = dict(self.solves).get(bname)
        where = lambda st: (rf"\b{re.escape(st.split('[')[0])}\s*'", 0, self.block[1])  # noqa: E731
        for st, e in list(self.derivatives.items()):
            unset = isinstance(e, sp.Basic) and e.has(_UNSET_SYM)
            if unset:
                self.derivatives[st] = e.xreplace({_UNSET_SYM: sp.Integer(0)})
            k = self.deriv_seen.get(st, 0)
            if k > 1 and method not in ("cnexp", None) and st not in self.deriv_refused:
                self.deriv_refused.add(st)
                why = (f"NEURON adds dt times its last value once per statement (the state advances {k} "
                       f"times); not lowered (compute the rate under the IF, write the derivative once)"
                       if method == "euler" else "NEURON's nocmodl refuses it too (more equations than states)")
                self._unsup(f"derivative of '{st}' written in {k} statements of {self.block[0]} "
                            f"(METHOD {method}): {why}", rf"\b{re.escape(st.split('[')[0])}\s*'", 1,
                            self.block[1])
            if st not in self.cond_derivs or method in ("cnexp", None) or st in self.deriv_refused:
                continue
            if method == "euler" and unset:
                self._unsup(f"derivative of '{st}' assigned on some paths of an IF only (METHOD euler): "
                            f"NEURON adds dt times the value its last evaluation left on the others; "
                            f"not lowered", *where(st))
            elif method != "euler":
                self._unsup(f"derivative of '{st}' assigned under an IF (METHOD {method}): NEURON's nocmodl "
                            f"refuses IF/ELSE branches that both assign it, and uses a stale value when one "
                            f"does; not lowered", *where(st))
        self.cond_derivs, self.deriv_seen, self.deriv_refused = set(), {}, set()

    def _fold_derivatives(self, d0, conds, dvals, s) -> dict:
        """The derivatives after an IF: one Piecewise per state whose
        derivative a branch assigns (the branches' values under their
        conditions). A branch that assigns none keeps the value from
        before the IF; where there is none, the derivative is *unset* on
        that path (:data:`_UNSET`, resolved by :meth:`unset_derivatives`
        when the block is done)."""
        out = dict(d0)
        for st in dict.fromkeys(k for d in dvals for k in d):
            vals = [d.get(st, _UNSET) for d in dvals]
            if all(v is vals[0] or v == vals[0] for v in vals):
                out[st] = vals[0]
                continue
            self.cond_derivs.add(st)
            if any(v is _UNSET for v in vals):
                # a placeholder symbol inside the Piecewise: resolved later
                vals = [_UNSET_SYM if v is _UNSET else v for v in vals]
            out[st] = fold(conds, vals)
        return out
