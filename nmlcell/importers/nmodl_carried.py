"""Values NEURON carries from one BREAKPOINT call to the next
(:attr:`Mechanism.carried <nmlcell.ir.mechanism.Mechanism.carried>`).

NEURON 9's current phase (``nrn_cur``) runs BREAKPOINT's statements, without
the SOLVE, twice per step: at ``v + 0.001`` and then at ``v`` (its ``di/dv``
is the difference of the two currents), and ``finitialize`` does the same
after INITIAL. Measured with a counter BREAKPOINT increments: 2 at t = 0,
then 2 more per step. An ASSIGNED variable keeps its value between the calls
(the second call reads the first's, the first the previous step's second),
and a STATE BREAKPOINT assigns keeps the jump into the state phase. The
importer writes such a read as ``x@prev`` (a state of the mechanism) and the
jumped state's value as the derived ``s@jump``; the ``staggered`` solver
evaluates the two calls in NEURON's order.
"""
from __future__ import annotations

import re
from dataclasses import replace

import sympy as sp

from ..ir.expr import sym
from ..ir.mechanism import Assignment
from .nmodl_expr import SPECIAL, inlined


class CarriedValues:
    """The builder's part for carried values (mixed into
    :class:`~nmlcell.importers.nmodl_build.MechanismBuilder`)."""

    def _not_carried(self, x: str) -> str:
        """Why a read of ``x`` before BREAKPOINT assigns it cannot be
        carried from the previous call ("" when it can: an ASSIGNED or
        current of this instance that BREAKPOINT itself assigns)."""
        if "[" in x or x in self.file_locals:
            return "a file LOCAL (shared between instances in NEURON) or an array element: not carried"
        if x in self.ion_writes or x in self.inputs or x in SPECIAL or x in self.state_decl:
            return "an ion variable or input: not carried"
        if x not in self.version_count or any(x in a for a in self.block_assigned.values()) or \
                x in self.assigned_update:
            return "a SOLVEd block assigns it: not carried"
        return ""

    def _carried(self) -> tuple:
        """Mechanism.carried: (``x@prev``, ``x``) for an ASSIGNED read in
        BREAKPOINT before BREAKPOINT assigns it (NEURON's value of its
        previous call: the ``v + 0.001`` call of the same step, or the
        previous step's call at ``v``), and (``s``, ``s@jump``) for a STATE
        BREAKPOINT assigns (the jump persists into the state phase). The
        ``x@prev`` are states set to the current phase's ``x`` by an update
        (see :meth:`_initial` for their initial value)."""
        out = []
        for x in sorted(self.prev_reads):
            self.frozen.append(f"{x}@prev")
            out.append((f"{x}@prev", x))
        for st in sorted(self.jumped):
            if st in self.version_count:
                out.append((st, f"{st}@jump"))
        # without a current nocmodl writes no nrn_cur: BREAKPOINT runs once per
        # step in the state phase, with the new v, and not in finitialize
        # (measured: a counter is 0 at t = 0, then 1, 2, 3...)
        self.bp_in_state_phase = bool(out) and not (
            self.nonspecific or self.electrode or any(w.startswith("i") for w in self.ion_writes))
        if self.bp_in_state_phase:
            why = "a STATE assigned" if self.jumped else \
                "a value read before it is assigned, next to a SOLVE," if self.solves else ""
            if why:
                self._unsup(f"{why} in the BREAKPOINT of a mechanism without a current (NEURON runs that "
                            "BREAKPOINT once per step, in its state phase): not lowered yet",
                            r"(?i)^\s*BREAKPOINT\b")
        return tuple(out)

    def _prev_updates(self, carried, derived) -> tuple:
        """The update setting each ``x@prev`` once per step: the current
        phase's ``x``; for a mechanism without a current (BREAKPOINT in
        NEURON's state phase), ``x`` evaluated there, with the new ``v``
        and the end of the step's ``t``, from the ``x@prev`` before it."""
        prev = [(c, d) for c, d in carried if c.endswith("@prev")]
        if not prev:
            return ()
        if not self.bp_in_state_phase:
            return (("BREAKPOINT", tuple(Assignment(c, sym(d)) for c, d in prev)),)
        sub = inlined(derived)
        return (("BREAKPOINT", tuple(Assignment(c, sub[sym(d)]) for c, d in prev)),)

    def _finitialize_calls(self, carried, derived, on_start) -> tuple:
        """NEURON's ``finitialize`` ends with a current phase: after INITIAL,
        BREAKPOINT runs at ``v + 0.001`` then at ``v`` (measured: a counter
        BREAKPOINT increments is 2 at t = 0). A carried value leaves
        INITIAL with the second call's value, written out in the states,
        parameters and inputs: both calls, the first substituted into the
        second, and every carry replaced by INITIAL's value of it, so that
        the assignment does not read itself (a lowering that evaluates the
        OnStart assignments twice, as jNeuroML's order needs, then gives the
        same value)."""
        if not carried or self.bp_in_state_phase:
            return ()
        sub = inlined(derived)
        last = {a.variable: a.expr for a in on_start}
        init = {sym(c): last[c] for c, _d in carried if c in last and sym(c) not in last[c].free_symbols}
        v = sym("v")
        first = {sym(c): sub[sym(d)].xreplace({v: v + sp.Float(0.001)}).xreplace(init) for c, d in carried}
        return tuple(Assignment(c, sub[sym(d)].xreplace(first)) for c, d in carried)

    def _with_carried(self, m, carried):
        """``m`` with ``carried``; a read before assignment (``x@prev``) left
        where no carried value feeds it (a SOLVEd block's, an update's) is
        listed as unsupported."""
        have = {c for c, _d in carried}
        exprs = [d.expr for d in m.derived] + list(m.derivatives.values()) + [a.expr for a in m.on_start] + \
            [a.expr for _b, assigns in m.updates for a in assigns]
        left = sorted({x.name for e in exprs for x in e.free_symbols if x.name.endswith("@prev")} - have
                      - {f"{x}@prev" for x in self.prev_refused})
        if not carried and not left:
            return m
        n = len(self.unsupported)
        for x in left:
            self._unsup(f"'{x[:-5]}' may be read before it is assigned (it keeps its value from the previous "
                        "call): not carried there", rf"\b{re.escape(x[:-5])}\b")
        return replace(m, carried=() if self.bp_in_state_phase else carried,
                       unsupported=m.unsupported + tuple(self.unsupported[n:]))
