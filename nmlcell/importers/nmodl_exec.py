"""Symbolic execution of NMODL statements into sympy.

:class:`Executor` runs a block's statements on an environment (variable ->
sympy expression): LOCALs, assignments, FUNCTION and PROCEDURE calls
(inlined with their arguments), IF/ELSE (as ``Piecewise``; derivatives
under IF/ELSE by NEURON's per-METHOD rules, :mod:`.nmodl_deriv`), FROM and
WHILE loops with bounds known at import (unrolled), CONSERVE, derivatives.
At the top level of a step a variable assigned twice gets one version per
assignment (``name#k``), which the builder turns into ordered
``Derived`` values.
"""
from __future__ import annotations

import re

import sympy as sp

from ..ir.expr import sym
from .nmodl_decl import Declarations
from .nmodl_deriv import DerivativeRules, fold
from .nmodl_expr import (BINOP, EVENTS, IGNORED_CALLS, MATH, RANDOM, SPECIAL, Frame, Unsupported,
                         as_bool, as_num)
from .nmodl_parse import nmodl, node_name, text_pattern
from .nmodl_table import placeholder
from .nmodl_units import factor_value
from .nmodl_verbatim import VerbatimRules


class Executor(VerbatimRules, DerivativeRules, Declarations):
    """Runs blocks symbolically; fills ``self.versions`` (step values in
    order), ``self.derivatives``, ``self.conserve``, ``self.steady_blocks``
    and ``self.unsupported``."""

    # -- statements ------------------------------------------------------------
    def run_block(self, block, env: dict, phase: str):
        """Execute a block's statements in ``env`` (name -> expr, updated in
        place). ``phase``: "step" or "initial"."""
        self.phase = phase
        self.block = ("BREAKPOINT", r"(?i)^\s*BREAKPOINT\b") if phase == "step" else \
            ("INITIAL", r"(?i)^\s*INITIAL\b")
        frame = Frame({})
        self._stmts(block.statement_block.statements, env, frame, depth=0)

    def _stmts(self, stmts, env, frame, depth):
        for s in stmts:
            try:
                self._stmt(s, env, frame, depth)
            except Unsupported as e:
                self._unsup(*e.args)

    def _stmt(self, s, env, frame, depth):
        self.depth_of_call = depth
        t = s.get_node_type_name()
        if t == "ExpressionStatement":
            e = s.expression
            et = e.get_node_type_name()
            if et == "BinaryExpression" and e.op.eval() == "=":
                self._assign(e.lhs, e.rhs, env, frame, depth)
            elif et == "DiffEqExpression":
                be = e.expression
                if self.phase != "step":
                    raise Unsupported("a derivative outside a DERIVATIVE block", r"'")
                if not self.solving or self.call_depth:
                    # a PROCEDURE with x' = ... called from BREAKPOINT; called from the
                    # DERIVATIVE block, nocmodl refuses it ("No derivative equations in
                    # DERIVATIVE block") or counts no equation for it
                    raise Unsupported(f"a derivative in {self.block[0]}, outside the SOLVEd DERIVATIVE block: "
                                      f"not lowered", r"'", 0, self.block[1])
                prime = be.lhs.name
                if prime.get_node_type_name() == "IndexedName":   # ca'[k]: an element of a STATE array
                    st = self._varname(be.lhs, env, frame)
                    prime = prime.name
                else:
                    st = node_name(prime)
                if prime.get_node_type_name() == "PrimeName" and int(prime.order.eval()) != 1:
                    raise Unsupported(f"higher-order derivative of '{st}'", rf"\b{st}''")
                rhs = self._expr(be.rhs, env, frame)
                self._derivative(st, rhs)
                if self.solving:
                    self.solved_here.add(st)
            elif et in ("LinEquation", "NonLinEquation"):
                if self.linear is None:
                    raise Unsupported("'~' equation outside a LINEAR or NONLINEAR block", r"~")
                lhs, rhs = self._expr(e.lhs, env, frame), self._expr(e.rhs, env, frame)
                self.linear.append(as_num(lhs) - as_num(rhs))
            elif et == "SolveBlock":
                if self.if_depth:
                    # nocmodl moves every SOLVE to the state phase unconditionally
                    # (the IF is left empty there): measured with NEURON 9.0.2
                    raise Unsupported(f"SOLVE {node_name(e.block_name)} inside an IF: NEURON ignores the "
                                      f"condition (it solves every step); not lowered",
                                      rf"\bSOLVE\s+{node_name(e.block_name)}\b")
                if self.phase == "step":
                    # NEURON: the BREAKPOINT statements before and after the
                    # SOLVE run at the same v and states; the SOLVEd block's
                    # own rebinding of v (or another input) stays inside it
                    bname = node_name(e.block_name)
                    blk = self.derivative_blocks.get(bname)
                    if blk is not None:
                        saved = {n: env[n] for n in list(SPECIAL) + list(self.inputs) + list(self.solve_writes)
                                 if n in env and (n not in self.ion_writes or n in self.solve_writes)}
                        # a STATE BREAKPOINT assigned before the SOLVE: the state
                        # phase advances the state itself (which starts from the jump)
                        saved.update({n: env[n] for n in self.jumped if env.get(n) != sym(n)})
                        env.update({n: sym(n) for n in self.jumped})
                        self.solving_name, self.solved_here = bname, set()
                        self.cond_derivs, self.deriv_seen, self.deriv_refused = set(), {}, set()
                        first = len(self.versions)
                        outer, self.block = self.block, (
                            f"{'KINETIC' if bname in self.kinetic_names else 'DERIVATIVE'} {bname}",
                            rf"(?i)^\s*(DERIVATIVE|KINETIC)\s+{bname}\b")
                        self.solving = self.block[0]
                        try:
                            self._stmts(blk.statement_block.statements, env, Frame({}), depth)
                            self.unset_derivatives(bname)
                        finally:
                            self.block, self.solving = outer, None
                            self.solve_info[bname] = (first, len(self.versions), frozenset(self.solved_here))
                        env.update(saved)
                        if bname in self.kinetic_names and dict(self.solves).get(bname) == "sparse":
                            self._stored_after(bname, env)
                elif self.phase == "initial":
                    bname = node_name(e.block_name)
                    if e.steadystate is not None:
                        self.steady_blocks.append((bname, node_name(e.steadystate)))
                        self.steady_env = dict(env)   # the values the steady-state solve starts from
                    else:
                        raise Unsupported(f"SOLVE {bname} in INITIAL without STEADYSTATE",
                                           rf"\bSOLVE\s+{bname}\b")
            elif et in ("WrappedExpression", "FunctionCall"):
                call = e.expression if et == "WrappedExpression" else e
                if call.is_function_call():
                    self._call(call, env, frame, statement=True)
                else:
                    self._expr(call, env, frame)
            elif et == "StatementBlock":
                self._stmts(e.statements, env, frame, depth)
            elif et == "InitialBlock":
                if self.phase != "netreceive" or depth or self.call_depth:
                    raise Unsupported("INITIAL inside a block other than NET_RECEIVE", r"\bINITIAL\b", 0,
                                      r"(?i)^\s*NET_RECEIVE\b")
                self.nr_initial = e   # per-NetCon INITIAL: run once per NetCon at the start (nmodl_events)
            else:
                raise Unsupported(f"statement {et}", None)
        elif t == "LocalListStatement":
            for v in s.variables:
                if v.name.get_node_type_name() == "IndexedName":   # LOCAL np[3]: one local per element
                    n = node_name(v)
                    size = self._expr(v.name.length, env, frame)
                    if not (size.is_Integer and 0 < int(size) <= 1000):
                        raise Unsupported(f"LOCAL array '{n}' without a constant size", rf"\b{n}\s*\[")
                    for k in range(int(size)):
                        frame.locals[f"{n}[{k}]"] = sp.Integer(0)
                    continue
                frame.locals[node_name(v)] = sp.Integer(0)
        elif t == "IfStatement":
            self._if(s, env, frame, depth)
        elif t == "FromStatement":
            self._from(s, env, frame, depth)
        elif t == "WhileStatement":
            self._while(s, env, frame, depth)
        elif t in ("TableStatement", "UnitState", "LineComment", "BlockComment", "Conserve",
                   "MutexLock", "MutexUnlock"):
            if t == "Conserve":
                self._conserve(s, env, frame)
        elif t == "Verbatim":
            self._verbatim_stmt(s)   # listed once per file; an error branch is recorded (nmodl_verbatim)
        elif t == "ProtectStatement":
            self._stmt_expr_assign(s.expression, env, frame, depth)
        elif t == "WatchStatement":
            if self.phase != "netreceive":
                raise Unsupported("WATCH outside NET_RECEIVE", r"\bWATCH\b")
            guard = sp.And(*self.nr_path) if self.nr_branching else sp.true
            if {x.name for x in guard.free_symbols} - {str(n) for n in self.constant_names()}:
                raise Unsupported("WATCH under a condition on run-time values", r"\bWATCH\b")
            for w in s.statements:   # under conditions on parameters: armed where they hold (constant)
                c = as_bool(self._expr(w.expression, env, frame))
                self.nr_watches.append((c if guard is sp.true else sp.And(guard, c), float(w.value.eval())))
        elif t == "LagStatement":
            raise Unsupported("LAG statement", r"\bLAG\b")
        elif t == "Compartment" or t == "LonDiffuse":
            pass
        else:
            raise Unsupported(f"statement {t}", None)

    def _stored_after(self, bname, env):
        """After ``SOLVE b METHOD sparse``: a variable the KINETIC block
        assigns (cabpump's ``ica_pmp``) and BREAKPOINT reads after the SOLVE
        is, in NEURON's current phase, what the mechanism's storage holds:
        the value of the block's last evaluation, at the end of the previous
        step's state phase (sparse evaluates the block once more at the new
        states), or INITIAL's value at the first step. Those reads are the
        state ``x@stored`` (see the builder's ``_stored_updates``)."""
        for n in sorted(self.block_assigned.get(bname, ())):
            if n in env and n in self.assigned_decl and n not in self.state_decl and n not in self.ion_writes \
                    and n not in SPECIAL and n not in self.solve_writes and n not in self.assigned_outside:
                self.stored[n] = (bname, env[n])
                env[n] = sp.Symbol(f"{n}@stored", real=True)

    def _stmt_expr_assign(self, e, env, frame, depth):
        if e.is_binary_expression() and e.op.eval() == "=":
            self._assign(e.lhs, e.rhs, env, frame, depth)

    def _conserve(self, s, env, frame):
        react = s.react
        if react.get_node_type_name() not in ("ReactVarName", "VarName", "Name"):
            raise Unsupported("CONSERVE of an expression", r"\bCONSERVE\b")
        st = react.get_node_name()
        self.conserve.append((st, self._expr(s.expr, env, frame)))
        if self.phase == "step" and self.solving and dict(self.solves).get(self.solving_name) == "sparse":
            # NEURON's sparse replaces st's row by the conservation sum: the
            # residual, a derived value the staggered sparse step reads by name
            self._version(f"{st}@conserve", as_num(self.conserve[-1][1]) - sym(st))

    def _assign(self, lhs, rhs, env, frame, depth):
        if lhs.is_name():
            n = lhs.get_node_name()
        elif lhs.is_var_name() and lhs.index is None:
            n = self._varname(lhs, env, frame)
        else:
            raise Unsupported("assignment to an array element", None)
        val = as_num(self._expr(rhs, env, frame))
        if n in frame.locals:
            if self._sparse_constant(n, val):
                val = self._version(n, val)
            frame.locals[n] = val
        elif frame.fname == n:
            frame.locals["__return__"] = val
        else:
            self._set_global(n, val, env, depth)

    _KINETIC_LOCAL = re.compile(r"(kf|kb|source)\d+_")

    def _sparse_constant(self, n, val) -> bool:
        """A rate (``kf0_``, ``kb0_``) or ``<<`` flux (``source1_``) of a
        KINETIC block SOLVEd with ``sparse`` (the NMODL framework's names for
        them in the converted block) that depends on a STATE: kept as a
        derived value of its own instead of inlined. NEURON's sparse
        Jacobian differentiates only the reactions' mass-action terms, each
        rate and flux taken as a constant (``~ cai << ((cainf - cai)/taur)``
        adds nothing to it); the ``staggered`` solver's sparse step holds
        derived values constant in its Jacobian (every other solver
        differentiates through them)."""
        return (self.phase == "step" and bool(self.solving) and self.solving_name in self.kinetic_names
                and dict(self.solves).get(self.solving_name) == "sparse"
                and self._KINETIC_LOCAL.fullmatch(n) is not None
                and any(x.name in self.state_decl for x in getattr(val, "free_symbols", ())))

    def _set_global(self, n, val, env, depth):
        b = n.split("[")[0]
        known = (n in env or b in self.assigned_step or b in self.assigned_init or n in SPECIAL)
        if not known:
            raise Unsupported(f"assignment to undeclared variable '{n}'", rf"\b{re.escape(b)}\b")
        if self.phase == "step":
            if n in self.state_decl and (self.solving or n != b or n in self.ion_writes or n in self.ion_reads):
                phase = "state phase" if self.solving else "current phase"
                raise Unsupported(f"assignment to STATE '{n}' in {self.block[0]}, outside INITIAL (a discrete "
                                  f"jump in NEURON's {phase}): not lowered",
                                  rf"\b{re.escape(b)}\s*=", 0, self.block[1])
            if n in self.state_decl:
                # NEURON runs BREAKPOINT's statements (and the PROCEDUREs they
                # call) in its current phase, twice per step (at v + 0.001,
                # then at v), and the jump persists into the state phase: a
                # carried value (Mechanism.carried, the builder's _carried)
                self.jumped.add(n)
            if self.solving and n in self.solve_writes:
                # NEURON's state phase (Mechanism.updates, see the builder)
                self.solve_updates.append((self.solving_name, n, val, frozenset(self.solved_here), self.block))
                env[n] = val
                return
            if self.solving and n in self.ion_writes:
                # NEURON runs SOLVEd blocks only in its state phase (nrn_state)
                # and writes the value to the ion there: after the step's
                # currents, with the state update of the block's METHOD
                raise Unsupported(f"'{n}' (written to ion {self.ion_writes[n]}) assigned in {self.solving}: "
                                  f"NEURON writes it to the ion in its state phase, not lowered yet",
                                  rf"\b{re.escape(b)}\s*=", 0, self.block[1])
            if n in SPECIAL or (n in self.inputs and n not in self.ion_writes):
                env[n] = val   # NEURON: a copy local to this mechanism's evaluation
                return
            if self.solving and dict(self.solves).get(self.solving_name) == "cnexp":
                after = sorted(st for st in self.solved_here if sym(st) in getattr(val, "free_symbols", ()))
                if after:
                    # cnexp assigns each state in place: this statement reads the updated value
                    self._unsup(f"'{n}' assigned in {self.block[0]} (METHOD cnexp) from "
                                f"'{after[0]}' after its derivative: NEURON reads the updated state there; "
                                f"not lowered (a LOCAL is)", rf"\b{re.escape(b)}\s*=", 0, self.block[1])
            if depth == 0:
                env[n] = self._version(n, val)
            else:
                env[n] = val
        else:
            env[n] = val

    def _version(self, n, val):
        k = self.version_count.get(n, 0) + 1
        self.version_count[n] = k
        s = sp.Symbol(f"{n}#{k}", real=True)
        self.versions.append((n, s, val, self.block))
        return s

    def _memo_guard(self, s) -> bool:
        """``if (s_x != x) { s_x = x  ... }`` with ``s_x`` a file LOCAL:
        NEURON's idiom for recomputing values only when ``x`` changed
        (capump.mod, nacaex.mod). The values it guards equal what the
        body computes from the current ``x``, so the body runs as if
        unconditional."""
        ast, visitor = nmodl().ast, nmodl().visitor

        if s.elseifs or s.elses is not None:
            return False
        c = s.condition
        while c.get_node_type_name() in ("WrappedExpression", "ParenExpression"):
            c = c.expression
        if c.get_node_type_name() != "BinaryExpression" or c.op.eval() != "!=":
            return False
        lv = visitor.AstLookupVisitor()
        cond_names = {v.name.get_node_name() for v in lv.lookup(c, ast.AstNodeType.VAR_NAME)}
        cache = cond_names & self.file_locals.keys()
        if len(cache) != 1:
            return False
        (cname,) = cache
        for st in s.statement_block.statements:
            if st.is_expression_statement() and st.expression.is_binary_expression() \
                    and st.expression.op.eval() == "=" and st.expression.lhs.is_var_name() \
                    and st.expression.lhs.name.get_node_name() == cname:
                return True
        return False

    def _if(self, s, env, frame, depth):
        if self._memo_guard(s):
            self._stmts(s.statement_block.statements, env, frame, depth)
            return
        branches = [(s.condition, s.statement_block)]
        branches += [(ei.condition, ei.statement_block) for ei in s.elseifs]
        els = s.elses.statement_block if s.elses is not None else None
        results = []
        nr = self.phase == "netreceive"
        decided = False  # NET_RECEIVE: a branch known to be taken (flag is a constant there)
        taken = sp.false  # the conditions of the branches before (events record their path)
        d0 = dict(self.derivatives)   # the derivatives assigned before the IF (on this path)
        dvals = []                     # each branch's derivatives
        for cond, blk in branches:
            c = as_bool(self._expr(cond, env, frame))
            e2, f2 = dict(env), Frame(dict(frame.locals), frame.fname)
            self.derivatives = dict(d0)
            if not (nr and (c is sp.false or decided)):   # NET_RECEIVE runs the branches it can take
                self.nr_branching += nr and c is not sp.true
                self.nr_path.append(sp.And(c, sp.Not(taken)))
                self.if_depth += 1
                try:
                    self._stmts(blk.statements, e2, f2, depth + 1)
                finally:
                    self.if_depth -= 1
                self.nr_path.pop()
                self.nr_branching -= nr and c is not sp.true
            decided = decided or c is sp.true
            taken = sp.Or(taken, c)
            results.append((c, e2, f2))
            dvals.append(self.derivatives)
        e2, f2 = dict(env), Frame(dict(frame.locals), frame.fname)
        self.derivatives = dict(d0)
        if els is not None and not (nr and decided):
            open_ = nr and any(c is not sp.false for c, _e, _f in results)
            self.nr_branching += open_
            self.nr_path.append(sp.Not(taken))
            self.if_depth += 1
            try:
                self._stmts(els.statements, e2, f2, depth + 1)
            finally:
                self.if_depth -= 1
            self.nr_path.pop()
            self.nr_branching -= open_
        dvals.append(self.derivatives)
        self.derivatives = self._fold_derivatives(d0, [c for c, _e, _f in results], dvals, s)
        # fold, innermost last: Piecewise((v1, c1), (v2, c2), ..., (velse, True))
        for key_src in ("env", "locals"):
            names = {}  # first-appearance order (a set's would follow the hash seed)
            for _c, ee, ff in results + [(True, e2, f2)]:
                d = ee if key_src == "env" else ff.locals
                names.update(dict.fromkeys(d))
            base = env if key_src == "env" else frame.locals
            for n in names:
                vals = []
                for _c, ee, ff in results + [(True, e2, f2)]:
                    d = ee if key_src == "env" else ff.locals
                    vals.append(d.get(n, base.get(n, sp.Symbol(f"{n}@prev", real=True))))
                if all(v == base.get(n) for v in vals) and n in base:
                    continue
                if all(v == vals[0] for v in vals):
                    new = vals[0]
                else:
                    new = fold([c for c, _e, _f in results], vals)
                if key_src == "locals":
                    frame.locals[n] = new
                elif self.phase == "step" and depth == 0 and n not in SPECIAL and \
                        (n not in self.inputs or n in self.ion_writes) \
                        and n not in self.units:
                    env[n] = self._version(n, new)
                else:
                    env[n] = new

    def _event_call(self, fn, c, env, frame):
        """net_send(delay, flag) in INITIAL or NET_RECEIVE and net_event(t)
        in NET_RECEIVE, recorded for the builder (``_net_receive``) when
        they are not under a condition on run-time values."""
        where = rf"\b{fn}\s*\("
        path = sp.And(*self.nr_path)   # the conditions of the branches it is in
        if fn in ("net_send", "net_move") and self.phase in ("initial", "netreceive"):
            args = [as_num(self._expr(a, env, frame)) for a in c.arguments]
            if fn == "net_move":   # the pending self-event moves to time args[0]
                args = [args[0] - sym("t"), None]
            self.nr_sends.append((self.phase, args[0], args[1], path))
            return sp.Integer(0)
        if fn == "net_event" and self.phase == "netreceive":
            self.nr_events.append(path)
            return sp.Integer(0)
        raise Unsupported(f"events ({fn})", where)

    def _while(self, s, env, frame, depth):
        """A WHILE whose condition is decided at import (constant bounds) is
        unrolled; one that depends on states, voltage or parameters cannot be."""
        for _ in range(10001):
            c = as_bool(self._expr(s.condition, env, frame))
            if c is sp.false:
                return
            if c is not sp.true:
                raise Unsupported("WHILE loop whose condition depends on run-time values",
                                   r"(?i)\bwhile\s*\(\s*" + text_pattern(s.condition))
            self._stmts(s.statement_block.statements, env, frame, depth + 1)
        raise Unsupported("WHILE loop too long to unroll", r"(?i)\bwhile\b")

    def _from(self, s, env, frame, depth):
        i = node_name(s)
        try:
            lo = int(self._expr(getattr(s, "from"), env, frame))
            hi = int(self._expr(s.to, env, frame))
            inc = int(self._expr(s.increment, env, frame)) if s.increment is not None else 1
        except (TypeError, ValueError, AttributeError):
            raise Unsupported("FROM loop with bounds that are not constants", r"\bFROM\b") from None
        if inc == 0 or abs(hi - lo) // abs(inc) > 10000:
            raise Unsupported("FROM loop too long to unroll", r"\bFROM\b")
        saved = frame.locals.get(i)
        for k in range(lo, hi + 1 if inc > 0 else hi - 1, inc):
            frame.locals[i] = sp.Integer(k)
            self._stmts(s.statement_block.statements, env, frame, depth + 1)
        if saved is None:
            frame.locals.pop(i, None)
        else:
            frame.locals[i] = saved

    # -- expressions -------------------------------------------------------
    def _expr(self, e, env, frame):
        t = e.get_node_type_name()
        if t in ("WrappedExpression", "ParenExpression"):
            return self._expr(e.expression, env, frame)
        if t == "BinaryExpression":
            op = e.op.eval()
            a = self._expr(e.lhs, env, frame)
            b = self._expr(e.rhs, env, frame)
            if op in ("&&", "||"):
                return BINOP[op](a, b)
            if op in ("<", ">", "<=", ">=", "==", "!="):
                return BINOP[op](as_num(a), as_num(b))
            if op not in BINOP:
                raise Unsupported(f"operator '{op}'", None)
            return BINOP[op](as_num(a), as_num(b))
        if t == "UnaryExpression":
            op = e.op.eval()
            a = self._expr(e.expression, env, frame)
            if op == "-":
                return -as_num(a)
            if op == "!":
                return sp.Not(as_bool(a))
            raise Unsupported(f"operator '{op}'", None)
        if t in ("Integer", "Double", "Float"):
            txt = str(e.eval())
            return sp.Integer(int(txt)) if re.fullmatch(r"-?\d+", txt) else sp.Float(float(txt))
        if t == "DoubleUnit":
            return self._expr(e.value, env, frame)
        if t == "VarName":
            if e.name.get_node_type_name() == "PrimeName":
                # NEURON reads Ds, which its cnexp never assigns (its last value
                # from elsewhere); euler's is the value assigned earlier in the block
                st = e.name.get_node_name()
                raise Unsupported(f"the derivative {st}' read in an expression: not lowered",
                                  rf"\b{re.escape(st)}'(?!\s*=)", 0, self.block[1])
            if e.index is not None:
                raise Unsupported(f"array '{e.name.get_node_name()}'", None)
            return self._lookup(self._varname(e, env, frame), env, frame)
        if t == "Name":
            return self._lookup(e.get_node_name(), env, frame)
        if t == "FunctionCall":
            return self._call(e, env, frame, statement=False)
        raise Unsupported(f"expression {t}", None)

    def _varname(self, e, env, frame) -> str:
        """A variable's name; an array element with a constant index is the
        variable ``name[k]``."""
        nm = e.name
        if nm.get_node_type_name() != "IndexedName":
            return nm.get_node_name()
        base = nm.get_node_name()
        k = self._expr(nm.length, env, frame)
        if not k.is_Integer:
            raise Unsupported(f"array '{base}' indexed by a non-constant", rf"\b{base}\s*\[")
        return f"{base}[{int(k)}]"

    def _lookup(self, n, env, frame):
        if n in frame.locals:
            return frame.locals[n]
        if n == frame.fname:   # a FUNCTION reads its own name: NEURON's local result so far
            return frame.locals["__return__"]
        if n in env:
            ion = self.ion_writes.get(n)
            if self.phase == "step" and self.solving and ion and n == "i" + ion and n in self.inputs \
                    and env[n] == sym(n):
                # an ion current the mechanism both READs and WRITEs, read in
                # a SOLVEd block: NEURON's state phase copies the ion's value
                # (``ica = _ion_ica``), the total of the step's current phase
                # (every mechanism's contribution, this one's too)
                self.ion_total_reads.add(n)
                return sp.Symbol(f"{n}@ion", real=True)
            return env[n]
        if n in SPECIAL:
            return sym(n)
        b = n.split("[")[0]
        if b in self.arrays:
            raise Unsupported(f"array variable '{b}'", rf"\b{b}\s*\[")
        if self.phase == "step" and self.solving and n == b and n in self.assigned_outside \
                and n not in self.block_assigned.get(self.solving_name, ()):
            # read in the SOLVEd block, assigned by BREAKPOINT after the SOLVE:
            # NEURON's state phase reads what the step's current phase stored
            self.last_reads.setdefault(n, self.solving_name)
            return sp.Symbol(f"{n}@last", real=True)
        if self.phase == "step" and not self.solving and n == b and b in self.assigned_outside:
            # read in BREAKPOINT before BREAKPOINT assigns it: NEURON's value of
            # its previous call (a carried value, the builder's _carried)
            return sp.Symbol(f"{n}@prev", real=True)
        if self.phase == "netreceive" and b in self.assigned_step:
            raise Unsupported(f"NET_RECEIVE reads '{n}', a value the step assigns (its last value)",
                              rf"\b{re.escape(b)}\b", 0, r"(?i)^\s*NET_RECEIVE\b")
        if b in self.assigned_step or b in self.assigned_init:
            shown = f"{b}[]" if "[" in n else n
            raise Unsupported(f"'{shown}' read before it is assigned (its value from the previous step or "
                               "run)", rf"\b{re.escape(b)}\b")
        if n == "PI":
            return sp.pi
        if n == "FARADAY":
            return sp.Float(factor_value("faraday", "coulomb"))
        if n == "R":
            return sp.Float(factor_value("k-mole", "joule/degC"))
        if b in self.file_locals:
            raise Unsupported(f"file LOCAL '{n}' read before it is assigned", rf"\b{re.escape(b)}\b")
        raise Unsupported(f"undefined variable '{n}'", rf"\b{re.escape(b)}\b")

    def _call(self, c, env, frame, statement: bool):
        fn = node_name(c)
        if fn in IGNORED_CALLS and statement:
            return sp.Integer(0)
        if fn in RANDOM:
            raise Unsupported(f"random numbers ({fn})", rf"\b{fn}\s*\(")
        if fn in EVENTS:
            return self._event_call(fn, c, env, frame)
        if fn == "state_discontinuity" and statement and len(c.arguments) == 2 and fn not in self.procedures:
            # NEURON 9 still accepts it: an assignment (x = e) in a fixed step
            self._assign(c.arguments[0], c.arguments[1], env, frame, self.depth_of_call)
            return sp.Integer(0)
        args = [as_num(self._expr(a, env, frame)) for a in c.arguments]
        if fn in MATH and fn not in self.functions:
            return MATH[fn](*args)
        body = self.functions.get(fn) or self.procedures.get(fn)
        if fn in self.function_tables:
            # data supplied at run time (nmodl_table: cell.insert(..., tables=...))
            return placeholder(fn, args, *self.function_tables[fn])
        if body is None:
            raise Unsupported(f"call of undefined function '{fn}'", rf"\b{fn}\s*\(")
        params = [node_name(p) for p in body.parameters]
        if len(params) != len(args):
            raise Unsupported(f"'{fn}' called with {len(args)} argument(s), declared with {len(params)}",
                               rf"\b{fn}\s*\(")
        self.call_depth += 1
        if self.call_depth > 50:
            raise Unsupported(f"recursive call of '{fn}'", rf"\b{fn}\s*\(")
        try:
            kw = "FUNCTION" if body.is_function_block() else "PROCEDURE"
            outer, self.block = self.block, (f"{kw} {fn}", rf"(?i)^\s*{kw}\s+{fn}\b")
            f2 = Frame(dict(zip(params, args)), fn if body.is_function_block() else None)
            f2.locals.setdefault("__return__", sp.Integer(0))
            # inside a call, a global assignment is still at the caller's depth
            depth = self.depth_of_call
            self._stmts(body.statement_block.statements, env, f2, depth)
        finally:
            self.call_depth -= 1
            self.depth_of_call = depth
            self.block = outer
        return f2.locals["__return__"]

