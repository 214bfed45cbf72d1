"""The values a ``.mod`` file's variables hold before its first step, for
:class:`~nmlcell.importers.nmodl_build.MechanismBuilder` (a mixin): the
INITIAL block executed after NEURON's ``initmodel`` start values (a
state's ``<state>0``: a PARAMETER of that name, else its ``START`` value,
else 0; an ion concentration state the ion's), and the parameter holding
a PARAMETER's value before a block reassigns it (``x0`` or ``x__0``).
"""
from __future__ import annotations

import sympy as sp

from ..ir.expr import sym
from ..ir.mechanism import Assignment, Input
from .nmodl_expr import ION_DIMS, SPECIAL
from .nmodl_parse import nmodl


class InitialValues:
    """The INITIAL phase of
    :class:`~nmlcell.importers.nmodl_build.MechanismBuilder`."""

    def _initial(self, env0):
        env = dict(env0)
        on_start = []
        # NEURON before INITIAL: a state takes its <state>0 value (a
        # PARAMETER <state>0, else its START value, else 0; measured in
        # NEURON 9's initmodel), an ion concentration state the ion's value
        for st in self.state_decl:
            if st in self.ion_writes or st in self.ion_reads:
                ion = self.ion_writes.get(st) or self.ion_reads.get(st)
                init_name = f"{st}0_{ion}_ion"
                self.inputs.setdefault(init_name, Input(init_name, ION_DIMS["c"], "global"))
                val = sym(init_name)
            elif f"{st}0" in self.param_names:   # set by the user as NEURON's w0 is
                val = sym(f"{st}0")
            elif f"{st}0" in self.params:
                val = sp.Float(self.params[f"{st}0"][0])
            elif st in self.state_start:
                val = sp.Float(self.state_start[st])
            else:
                val = sp.Integer(0)
            on_start.append(Assignment(st, val))
        for n in self.frozen:
            if n in self.solve_writes and n not in self.ion_writes:   # a NONSPECIFIC_CURRENT: 0
                on_start.append(Assignment(n, sp.Integer(0)))
                continue
            if n in self.solve_writes:   # the ion's value before INITIAL
                ion = self.ion_writes[n]
                init_name = f"{n}0_{ion}_ion"
                self.inputs.setdefault(init_name, Input(init_name, ION_DIMS["c"], "global"))
                on_start.append(Assignment(n, sym(init_name)))
                continue
            p0 = self.frozen_param.get(n) or self._carried_param(n)
            on_start.append(Assignment(n, sym(p0) if p0 else sp.Integer(0)))
        self.steady_state = ()
        self.initial_defaults = {a.variable: a.expr for a in on_start}   # values before INITIAL
        if self.initial is not None:
            before = dict(env)
            self.run_block(self.initial, env, "initial")
            self.initial_env = env
            # what INITIAL changed: states and frozen parameters, and the copies read a step later
            # (prev_reads: a set, sorted so that the IR does not depend on the hash seed)
            later = [Assignment(n + suffix, env[n])
                     for names, suffix in ((list(self.state_decl) + self.frozen, ""), (self.last_reads, "@last"),
                                           (self.stored, "@stored"), (sorted(self.prev_reads), "@prev"))
                     for n in names if n in env and env[n] != before.get(n)]
            # INITIAL's values are in terms of the values before it, so a
            # variable INITIAL reassigns is read at its value before INITIAL
            # (z = z / 2 with z START 0.7: 0.35; cai = cai * 2: twice the
            # ion's cai0; w = cai then cai = cainf: w from cai0; gx = gx + g
            # on an ASSIGNED: 0 + g), never at whatever its column holds when
            # the assignment runs (the assignments below go in declaration
            # order, not INITIAL's, and the lowering reruns them)
            starts = {a.variable: a.expr for a in on_start}
            again = {sym(a.variable): starts[a.variable] for a in later if a.variable in starts}
            later = [Assignment(a.variable, a.expr.xreplace(again)) if a.expr.free_symbols & set(again) else a
                     for a in later]
            # a state set by INITIAL from other quantities needs no prior value
            needed = set()
            for a in later:
                needed |= {x.name for x in a.expr.free_symbols}
            assigned = {a.variable for a in later}
            on_start = [a for a in on_start if a.variable not in assigned or a.variable in needed] + later
        for bname, method in self.steady_blocks:
            blk = self.derivative_blocks.get(bname)
            if blk is None:
                self._unsup(f"SOLVE {bname} STEADYSTATE of a block that is not DERIVATIVE or KINETIC",
                            rf"\bSOLVE\s+{bname}\b")
                continue
            ast, visitor = nmodl().ast, nmodl().visitor

            in_block = {d.expression.lhs.name.get_node_name()
                        for d in visitor.AstLookupVisitor().lookup(blk, ast.AstNodeType.DIFF_EQ_EXPRESSION)}
            states = tuple(s for s in self.state_decl if s in in_block and s in self.derivatives)
            self.steady_state = (states, method)
        return tuple(on_start)

    def _carried_param(self, n: str) -> str | None:
        """For ``x@prev`` of a PARAMETER that BREAKPOINT assigns (izhi2007b's
        ``b``): the parameter holding its value before the first call
        (``x0``, or ``x__0`` where ``x0`` is taken), else None."""
        x = n[:-5] if n.endswith("@prev") else None
        if x is None or x not in self.params or x in SPECIAL or x in self.inputs:
            return None
        if not hasattr(self, "carried_param"):
            self.carried_param = {}
        if x not in self.carried_param:
            self.carried_param[x] = self.start_param_name(x)
        return self.carried_param[x]
