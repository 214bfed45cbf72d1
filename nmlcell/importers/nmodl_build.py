"""Assembling the IR :class:`~nmlcell.ir.mechanism.Mechanism` of a ``.mod``
file: one step (BREAKPOINT with its SOLVEd blocks) executed symbolically,
the INITIAL block (its STEADYSTATE from nmodl_steady), then parameters,
states, inputs, currents and exposures.
"""
from __future__ import annotations

import os
import re

import sympy as sp

from ..ir.expr import sym
from ..ir.mechanism import Assignment, Current, Derived, Input, Mechanism, Parameter, Source, State
from ..ir.units import NONE
from .nmodl_carried import CarriedValues
from .nmodl_exec import Executor
from .nmodl_initial import InitialValues
from .nmodl_expr import ION_DIMS, SPECIAL, Frame, as_num, plain
from .nmodl_linear import LinearBlocks
from .nmodl_parse import nmodl, node_name
from .nmodl_steady import steady_linear, steady_sparse
from .nmodl_units import parse_unit, to_customary


# Newton iterations applied for a NONLINEAR block per step (from the previous
# step's solution; quadratic convergence reaches round-off in 3 to 5)
NEWTON_ITERATIONS = 8


class MechanismBuilder(InitialValues, CarriedValues, LinearBlocks, Executor):
    """Imports one ``.mod`` file: ``MechanismBuilder(path).build()``."""

    # -- the whole mechanism -----------------------------------------------------
    def build(self) -> Mechanism:
        self.declarations()
        self.classify()
        self.derivatives: dict = {}
        self.cond_derivs: set = set()     # states whose derivative an IF's branches assign differently
        self.deriv_seen: dict = {}        # state -> derivative statements executed in the SOLVEd block
        self.deriv_refused: set = set()   # states whose derivative statements were refused already
        self.if_depth = 0                 # IF branches being executed (a SOLVE there is refused)
        self.versions: list = []
        self.version_count: dict = {}
        self.conserve: list = []
        self.steady_blocks: list = []
        self.call_depth = 0
        self.nr_branching, self.nr_sends, self.nr_watches, self.nr_events = 0, [], [], []  # NET_RECEIVE (events)
        self.nr_path: list = []   # conditions of the IF branches being executed (events record them)
        self.depth_of_call = 0
        self.solving: str | None = None   # the SOLVEd block being executed in the step
        self.solve_updates: list = []     # (block, variable, value, states solved before, block label)
        self.solve_info: dict = {}        # block -> (first version, end version, its states)
        self.last_reads: dict = {}        # variable read in a SOLVEd block before BREAKPOINT assigns it -> block
        self.linear: list | None = None   # the equations of the LINEAR block being executed
        self.ion_total_reads: set = set()  # ion currents read in a SOLVEd block as the ion's total (x@ion)
        self.stored: dict = {}             # assigned in a sparse KINETIC block -> (block, value): x@stored
        self.jumped: set = set()           # STATEs BREAKPOINT assigns outside its SOLVE (carried)
        self.prev_reads: set = set()       # read in BREAKPOINT before it assigns them: x@prev (carried)
        self.prev_refused: set = set()     # such reads that cannot be carried (listed as unsupported)

        # one step: BREAKPOINT, its SOLVEd blocks run where the SOLVE stands
        env0 = self.base_env()
        if self.breakpoint is not None:
            self.run_block(self.breakpoint, dict(env0), "step")
        # an ion variable the mechanism both READs and WRITEs (cai = ca in a
        # DERIVATIVE block): its assignments are the mechanism's derived
        # values; a read of the ion's value before them would share the name
        for n in self.ion_writes:
            if n in self.inputs and n in self.version_count and any(
                    sym(n) in e.free_symbols
                    for e in [v for _n, _s, v, _b in self.versions] + list(self.derivatives.values())):
                self._unsup(f"'{n}' read from the ion and assigned by the mechanism in the same step",
                            rf"\b{re.escape(n)}\b")
        # SOLVEd PROCEDUREs: NEURON's state phase, after the voltage update
        updates = self._derivative_updates() + self._last_updates() + self._stored_updates() + \
            self._updates(env0)
        keep = {x.name for _b, assigns in updates for a in assigns for x in a.expr.free_symbols}
        derived, rename = self._emit_versions(keep)
        carried = self._carried()
        updates = updates + self._prev_updates(carried, derived)
        derivatives = {k: v.xreplace(rename) for k, v in self.derivatives.items()}
        conserve = tuple((s, e.xreplace(rename)) for s, e in self.conserve)

        # INITIAL
        on_start = self._initial(env0)
        if self.steady_state:   # sparse: NEURON's arithmetic (linear or not); else the exact root
            sparse = self.steady_state[1] == "sparse"
            solved = steady_sparse(self, derived, derivatives, dict(conserve), updates, True) if sparse else None
            if solved is None:
                solved = steady_linear(self, derived, derivatives, dict(conserve))
            if solved is None and sparse:
                solved = steady_sparse(self, derived, derivatives, dict(conserve), updates)
            if solved is not None:
                on_start = on_start + tuple(solved)
                self.steady_state = ()

        on_start = on_start + self._finitialize_calls(carried, derived, on_start)
        events = self._net_receive(env0)
        m = self._mechanism(derived, derivatives, on_start, conserve, updates)
        m = self._with_carried(m, carried)
        if events is not None:
            m = events.apply(m)
            m = _changed_by_events(m)
        m = _with_errors(self, m)
        m = self._array_names(m)
        if m.solves and self.current_origins:
            from dataclasses import replace

            m = replace(m, current_phase=tuple(d.name for d in m.derived if d.source.origin in self.current_origins))
        return m

    def _run_net_receive(self, flag):
        """NET_RECEIVE executed for events with ``flag`` (0: a NetCon's; a
        number, or a symbol for a self-event's run-time flag):
        (assignments in order, WATCHes, net_events, net_sends), or None
        when it cannot be lowered (recorded in ``unsupported``). The new
        values of the arguments it assigns (per-NetCon state, in terms of
        ``__w<j>``) are left in ``self.nr_args`` ({j: value}); its INITIAL
        block, if any, in ``self.nr_initial``."""
        b = self.net_receive
        pat = r"(?i)^\s*NET_RECEIVE\b"
        args = [node_name(p) for p in b.parameters]
        locals_ = {a: sp.Symbol(f"__w{k}", real=True) for k, a in enumerate(args)}
        locals_["flag"] = flag if isinstance(flag, sp.Basic) else (sp.Float(flag) if flag else sp.Integer(0))
        env0 = self.base_env()
        # a value BREAKPOINT carries from call to call (x@prev): NET_RECEIVE reads and sets
        # what NEURON's storage holds between steps, the last BREAKPOINT call's value
        carried = {x for x in self.prev_reads if x not in self.prev_refused and f"{x}@prev" in self.frozen}
        env0.update({x: sym(f"{x}@prev") for x in carried})
        env = dict(env0)
        self.phase, self.block = "netreceive", ("NET_RECEIVE", pat)
        self.nr_watches, self.nr_events, sends = [], [], len(self.nr_sends)
        self.nr_initial, self.nr_args = getattr(self, "nr_initial", None), {}
        frame = Frame(dict(locals_))
        n_before = len(self.unsupported)
        self._stmts(b.statement_block.statements, env, frame, depth=0)
        if len(self.unsupported) > n_before:
            return None
        for k, a in enumerate(args):
            if frame.locals.get(a) != locals_[a]:
                if k == 0:
                    self._unsup(f"NET_RECEIVE assigns its first argument '{a}' (the NetCon's weight)",
                                rf"\b{re.escape(a)}\s*=", 0, pat)
                    return None
                self.nr_args[k] = plain(as_num(frame.locals[a]))
        changed = {(f"{n}@prev" if n in carried else n): plain(v) for n, v in env.items()
                   if n in env0 and v != env0[n]}
        for n in list(changed):
            if n in self.state_decl or n == "v" or (n in self.frozen and n not in self.solve_writes and "@" not in n) \
                    or (n.endswith("@prev") and n[:-5] in carried):
                continue   # a STATE, or a value INITIAL sets (a state, constant between events)
            if n in self.zero_params and not self._read_outside_net_receive(n):
                del changed[n]   # an ASSIGNED only NET_RECEIVE reads, after assigning it: a temporary
                continue
            self._unsup(f"NET_RECEIVE assigns '{n}', which is not a STATE", rf"\b{re.escape(n)}\s*=", 0, pat)
            return None
        # a handler applies its assignments in order, each seeing the previous ones
        from .nmodl_events import simultaneous

        order = simultaneous(changed)
        return order, list(self.nr_watches), list(self.nr_events), self.nr_sends[sends:]

    def _read_outside_net_receive(self, n: str) -> bool:
        """Whether a block other than NET_RECEIVE names ``n``."""
        ast, visitor = nmodl().ast, nmodl().visitor

        for blk in self.prog.blocks:
            if blk is self.net_receive or blk.get_node_type_name() in ("NeuronBlock", "AssignedBlock"):
                continue
            if any(node_name(x) == n for x in visitor.AstLookupVisitor().lookup(blk, ast.AstNodeType.VAR_NAME)):
                return True
        return False

    def _net_receive(self, env0):
        from .nmodl_events import net_receive_events

        return net_receive_events(self)

    def _array_names(self, m: Mechanism) -> Mechanism:
        """An element ``x[k]`` of a STATE or ASSIGNED array with a constant
        size is the scalar ``x_k`` in the IR (``ca[NANN]`` -> ``ca_0`` ...
        ``ca_9``; the KINETIC conversion and FROM loops have already been
        unrolled onto the elements)."""
        if not self.arrays:
            return m
        from dataclasses import replace

        names = {n for n in list(self.state_decl) + list(self.assigned_decl) + list(self.file_locals) if "[" in n}
        new = {n: n.replace("[", "_").rstrip("]") for n in names}
        taken = {p.name for p in m.parameters} | set(m.state_names) | {d.name for d in m.derived}
        for n, x in new.items():
            if x in taken:
                self._unsup(f"array element {n} would be named {x}, which the file also declares",
                            rf"\b{re.escape(x)}\b")
                return replace(m, unsupported=tuple(self.unsupported))
        r = {sym(a): sym(b) for a, b in new.items()}
        nm = lambda n: new.get(n, n)  # noqa: E731
        ex = lambda e: e.xreplace(r)  # noqa: E731
        return replace(
            m,
            parameters=tuple(replace(p, name=nm(p.name)) for p in m.parameters),
            states=tuple(replace(st, name=nm(st.name)) for st in m.states),
            derived=tuple(replace(d, name=nm(d.name), expr=ex(d.expr)) for d in m.derived),
            derivatives={nm(k): ex(v) for k, v in m.derivatives.items()},
            on_start=tuple(Assignment(nm(a.variable), ex(a.expr)) for a in m.on_start),
            exposures={nm(k): (nm(v[0]), v[1]) for k, v in m.exposures.items()},
            updates=tuple((b, tuple(Assignment(nm(a.variable), ex(a.expr)) for a in assigns))
                          for b, assigns in m.updates),
            conserve=tuple((nm(st), ex(e)) for st, e in m.conserve),
            steady_state=(tuple(nm(x) for x in m.steady_state[0]), m.steady_state[1]) if m.steady_state else (),
        )

    def _updates(self, env0) -> tuple:
        """``SOLVE proc`` of a PROCEDURE: NEURON calls it only in its state
        phase (``nrn_state``), never when it computes the currents, after
        the voltage update: ``v`` is the new membrane potential and ``t``
        the end of the step. Its statements, executed in order, compose
        into one simultaneous update: (proc, (Assignment, ...)) per SOLVE,
        each expression in terms of the values before the call (states,
        parameters, inputs, and the current phase's values of variables
        BREAKPOINT assigns, by their names)."""
        out = []
        for bname, proc in self.update_blocks:
            env = dict(env0)
            for n in self.assigned_step:
                if n not in SPECIAL and (n not in self.inputs or n in self.ion_writes):
                    env.setdefault(n, sym(n))
            start = dict(env)
            self.phase = "update"
            kw = "LINEAR" if bname in self.linear_blocks else \
                "NONLINEAR" if bname in self.nonlinear_blocks else "PROCEDURE"
            self.block = (f"{kw} {bname}", rf"(?i)^\s*{kw}\s+{bname}\b")
            self.linear = [] if kw != "PROCEDURE" else None
            self._stmts(proc.statement_block.statements, env, Frame({}), depth=1)
            repeat = 1
            if kw == "LINEAR":
                env.update(self._linear_solution(bname, self.linear))
            elif kw == "NONLINEAR":
                env.update(self._newton_step(bname, self.linear))
                repeat = NEWTON_ITERATIONS
            self.linear = None
            assigns = tuple(Assignment(n, plain(v)) for n, v in env.items()
                            if n not in SPECIAL and (n not in self.inputs or n in self.ion_writes)
                            and n not in self.units
                            and n not in self.defines and (n not in start or v != start[n]))
            out += [(bname, assigns)] * repeat
        return tuple(out)

    def _written_as(self, n: str) -> str:
        """How ``n`` leaves the mechanism, for a refusal's words: an ion's
        variable or a NONSPECIFIC_CURRENT."""
        if n in self.ion_writes:
            return f"written to ion {self.ion_writes[n]}"
        return "a NONSPECIFIC_CURRENT" if n in self.nonspecific else "an output"

    def _derivative_updates(self) -> tuple:
        """An ion variable the mechanism WRITEs assigned inside a SOLVEd
        DERIVATIVE block (``cai = ca``, cad.mod): NEURON executes the block
        only in its state phase (``nrn_state``, with the new ``v``) and
        writes the value to the ion there. With METHOD ``euler`` every
        statement of the block sees the states before their update (NEURON
        evaluates the block, then adds ``dt`` times the derivatives); with
        ``sparse`` (KINETIC) and ``derivimplicit`` every statement sees the
        updated states (after its Newton iterations NEURON evaluates the
        block once more, at the new states: measured with NEURON 9.0, cad's
        ``cai = ca`` equals the new ``ca`` at every step, and ``w = ca*ca``
        next to a nonlinear ``ca'`` the new ``ca`` squared); with ``cnexp``
        a statement after the derivatives sees the updated states (each
        ``x' = f`` becomes an assignment to ``x`` in place). One update per block, (block, (Assignment, ...)), in terms of
        states, parameters and inputs (the block's intermediate values
        expanded); the ``staggered`` solver evaluates those of an ``euler``
        mechanism before its states advance and the others after. Other
        methods, values that mix the two times, and under ``derivimplicit``
        a value the block reads before it assigns it (NEURON's previous
        Newton iterate's), are refused."""
        method = dict(self.solves)
        value = {s: v for _n, s, v, _b in self.versions}
        out: dict[str, dict] = {}
        for bname, n, val, solved, (_origin, header) in self.solve_updates:
            m = method.get(bname)
            kw = "KINETIC" if bname in self.kinetic_names else "DERIVATIVE"
            first, end, states = self.solve_info.get(bname, (0, 0, frozenset()))
            here = {s for _n, s, _v, _b in self.versions[first:end]}
            where = (rf"\b{re.escape(n)}\s*=", 0, header)
            if m == "derivimplicit" and self._read_in_block(bname, n, states, val):
                self._unsup(f"'{n}' ({self._written_as(n)}) read in {kw} {bname} (METHOD derivimplicit) "
                            f"before it is assigned there: NEURON reads the value of its previous Newton "
                            f"iteration; not lowered", *where)
            elif m in ("euler", "sparse", "derivimplicit"):
                for _ in range(len(self.versions) + 1):
                    vs = {x for x in val.free_symbols if "#" in x.name}
                    if not vs:
                        break
                    if not vs <= here:
                        self._unsup(f"'{n}' ({self._written_as(n)}) assigned in {kw} {bname} "
                                    f"from a value BREAKPOINT computes: not lowered yet", *where)
                        break
                    val = val.xreplace({x: value[x] for x in vs})
            elif m == "cnexp":
                if solved != states or any("#" in x.name for x in val.free_symbols):
                    self._unsup(f"'{n}' ({self._written_as(n)}) assigned in {kw} {bname} "
                                f"(METHOD cnexp) from values before the states' update: not lowered yet", *where)
            else:
                self._unsup(f"'{n}' ({self._written_as(n)}) assigned in {kw} {bname} "
                            f"SOLVEd with METHOD {m}: NEURON writes it to the ion in its state phase; "
                            f"lowered for euler, sparse, derivimplicit and cnexp only", *where)
            out.setdefault(bname, {})[n] = val
        if out and self.update_blocks and "euler" in {method.get(b) for b in out}:
            self._unsup("SOLVE of a PROCEDURE together with an ion variable assigned in a DERIVATIVE block "
                        "SOLVEd with METHOD euler: not lowered yet", r"\bSOLVE\b")
        return tuple((b, tuple(Assignment(n, plain(v)) for n, v in assigns.items())) for b, assigns in out.items())

    def _read_in_block(self, bname, n, states, val) -> bool:
        """Whether DERIVATIVE block ``bname`` reads ``n`` (which it assigns)
        in a derivative or in the value it assigns to ``n``: the read comes
        before the assignment, or goes through it."""
        value = {s.name: v for _n, s, v, _b in self.versions}
        es = [self.derivatives[st] for st in states if st in self.derivatives] + [val]
        seen: set = set()
        while es:
            e = es.pop()
            for x in getattr(e, "free_symbols", ()):
                if x.name == n:
                    return True
                if x.name in value and x.name not in seen:
                    seen.add(x.name)
                    es.append(value[x.name])
        return False

    def _last_updates(self) -> tuple:
        """A variable a SOLVEd block reads before BREAKPOINT assigns it
        (after the SOLVE; capmpr.mod's ``ica``): NEURON runs the block in
        its state phase, where the variable holds what the step's current
        phase stored. The read is a state ``x@last`` of the mechanism, set
        to the current phase's ``x`` by an update that the ``staggered``
        solver applies before the states advance (so the block's values
        computed in the next current phase see it too, as NEURON's stored
        values do); INITIAL's value of ``x`` (0 when it assigns none)
        before the first step."""
        out: dict[str, list] = {}
        for n, bname in self.last_reads.items():
            self.frozen.append(f"{n}@last")
            out.setdefault(bname, []).append(Assignment(f"{n}@last", sym(n)))
        return tuple((b, tuple(a)) for b, a in out.items())

    def _stored_updates(self) -> tuple:
        """``x@stored`` (see ``Executor._stored_after``) where BREAKPOINT
        reads it: a state set, after the block's states advance, to the
        block's value of ``x`` at the new states (its intermediate values
        expanded); INITIAL's value of ``x`` (0 when it assigns none) before
        the first step."""
        used = set()
        for e in [v for _n, _s, v, _b in self.versions] + list(self.derivatives.values()):
            used |= {x.name for x in e.free_symbols}
        value = {s: v for _n, s, v, _b in self.versions}
        out: dict[str, list] = {}
        for n, (bname, val) in list(self.stored.items()):
            if f"{n}@stored" not in used:
                del self.stored[n]
                continue
            for _ in range(len(self.versions) + 1):
                vs = {x for x in val.free_symbols if "#" in x.name}
                if not vs:
                    break
                val = val.xreplace({x: value[x] for x in vs})
            self.frozen.append(f"{n}@stored")
            out.setdefault(bname, []).append(Assignment(f"{n}@stored", val))
        return tuple((b, tuple(a)) for b, a in out.items())

    def _emit_versions(self, keep: set = frozenset()):
        """Derived values from the step's versions; ``keep``: names whose
        last value is read elsewhere (by a SOLVEd PROCEDURE)."""
        last = {}
        for n, s, _v, _b in self.versions:
            last[n] = s
        rename = {}
        for n, s, _v, _b in self.versions:
            k = s.name.split("#")[1]
            rename[s] = (sym(f"{n}@jump") if n in self.jumped else sym(n)) if last[n] is s else sym(f"{n}__{k}")
        derived = []
        used = set()
        for e in list(self.derivatives.values()) + [v for _n, _s, v, _b in self.versions] + \
                [e for _s, e in self.conserve]:
            used |= e.free_symbols
        for n, s, v, (origin, header) in self.versions:
            if s not in used and (last[n] is not s or n in self.file_locals or n.split("[")[0] in self.file_locals) and \
                    not (last[n] is s and n in keep):
                continue
            prev = [x.name[:-5] for x in v.free_symbols if x.name.endswith("@prev")]
            for x in prev:
                why = self._not_carried(x)
                if why:
                    self.prev_refused.add(x)
                    self._unsup(f"'{x}' may be read before it is assigned (it keeps its value from the previous "
                                f"step): {why}", rf"\b{re.escape(x)}\b", 0, r"(?i)^\s*BREAKPOINT\b")
                else:
                    self.prev_reads.add(x)
            f, ln = self.text.find(rf"\b{re.escape(n.split('[')[0])}\b[^=]*=", within=header)
            derived.append(Derived(rename[s].name, v.xreplace(rename), self._dim_of(n),
                                   Source(f or self.path, ln, origin)))
        return tuple(derived), rename

    def _dim_of(self, n):
        unit = self.assigned_decl.get(n) or self.state_decl.get(n)
        got = parse_unit(unit) if unit else None
        return got[1] if got else None

    def _mechanism(self, derived, derivatives, on_start, conserve, updates=()) -> Mechanism:
        base = os.path.basename(self.path)
        derived = tuple(Derived(d.name, plain(d.expr), d.dim, d.source) for d in derived)
        derivatives = {k: plain(v) for k, v in derivatives.items()}
        on_start = tuple(Assignment(a.variable, plain(a.expr)) for a in on_start)
        conserve = tuple((st, plain(e)) for st, e in conserve)
        params = []
        for n in self.param_names:
            val, unit, const = self.params[n]
            f, uname, dim = to_customary(unit)
            desc = "GLOBAL" if n in self.globals else ("RANGE" if n in self.range else "")
            if f != 1.0:
                desc = (desc + "; " if desc else "") + f"declared {val!r} ({unit})"
            params.append(Parameter(n, val * f, dim, uname, desc, constant=const,
                                    source=self._src(rf"\b{re.escape(n)}\s*=", "PARAMETER" if not const
                                                     else "CONSTANT")))
        for n, p0 in list(self.frozen_param.items()) + list(getattr(self, "carried_param", {}).items()):
            val, unit, const = self.params[n]
            got = parse_unit(unit)
            params.append(Parameter(p0, val, got[1] if got else NONE, unit or "",
                                    f"the value of PARAMETER {n} before a block reassigns it",
                                    source=self._src(rf"\b{re.escape(n)}\s*=", "PARAMETER")))
        for n in self.zero_params:
            unit = self.assigned_decl.get(n)
            got = parse_unit(unit)
            params.append(Parameter(n, 0.0, got[1] if got else NONE, unit or "",
                                    "ASSIGNED, never assigned in the file (set from outside)",
                                    source=self._src(rf"\b{re.escape(n)}\b", "ASSIGNED")))
        states = []
        for n in self.state_decl:
            unit = self.state_decl[n]
            got = parse_unit(unit)
            states.append(State(n, got[1] if got else NONE, f"({unit})" if unit else "",
                                self._src(rf"\b{re.escape(n)}\b", "STATE")))
            if n not in derivatives:
                derivatives[n] = sp.Integer(0)
        for n in self.frozen:
            unit = self.assigned_decl.get(n) or (self.params.get(n, (0, None, 0))[1])
            got = parse_unit(unit)
            by = [b for b, assigns in updates if any(a.variable == n for a in assigns)]
            states.append(State(n, got[1] if got else NONE,
                                f"{n[:-5]} as the step's current phase stored it, read by {by[0]}"
                                if n.endswith("@last") else
                                f"{n[:-5]} as BREAKPOINT's previous call left it (NEURON carries it "
                                f"between calls)" if n.endswith("@prev") else
                                f"{n[:-7]} as {by[0]} stored it (INITIAL's value before the first step), "
                                f"read by BREAKPOINT" if n.endswith("@stored") else
                                f"set by SOLVE {by[0]} once per step" if by else
                                _CONSTANT,
                                self._src(rf"\b{re.escape(n)}\s*=", "INITIAL")))
            derivatives[n] = sp.Integer(0)
        # inputs actually used (or declared as ion reads)
        used = set()
        for e in list(derivatives.values()) + [d.expr for d in derived] + [a.expr for a in on_start] + \
                [a.expr for _b, assigns in updates for a in assigns]:
            used |= {s.name for s in e.free_symbols}
        inputs = dict(self.inputs)
        for n in sorted(self.ion_total_reads):
            # the ion's total current of the step's current phase (compose
            # maps it onto the shared ion variable)
            inputs[f"{n}@ion"] = Input(f"{n}@ion", ION_DIMS["i"], "requirement")
        for n, (dim, kind, _u) in SPECIAL.items():
            if n in used and n not in inputs:
                inputs[n] = Input(n, dim, kind)
        cur_unit = "nA" if self.kind == "point_process" else "mA/cm2"
        currents = []
        for w, ion in self.ion_writes.items():
            if w.startswith("i"):
                currents.append(Current(w, ion, "ion", cur_unit))
        currents += [Current(n, None, "nonspecific", cur_unit) for n in self.nonspecific]
        currents += [Current(n, None, "electrode", cur_unit) for n in self.electrode]
        derived_names = {d.name for d in derived}
        for c in currents:
            if c.variable in self.jumped:
                self._unsup(f"current '{c.variable}' is a STATE that BREAKPOINT assigns: not lowered yet",
                            rf"\b{re.escape(c.variable)}\s*=")
            elif c.variable in self.state_decl:
                continue   # a STATE: the current is its value (NEURON's two calls agree: no di/dv)
            elif c.variable not in derived_names:
                self._unsup(f"current '{c.variable}' is never assigned in BREAKPOINT",
                            rf"\b{re.escape(c.variable)}\b")
        exposures = {}
        for d in derived:
            if "__" in d.name:
                continue
            exposures[d.name] = (d.name, d.dim)
        for s in states:
            exposures.setdefault(s.name, (s.name, s.dim))
        steady = self.steady_state
        return Mechanism(
            name=self.suffix, kind=self.kind, component_type=f"NMODL {self.kind}",
            parameters=tuple(params), states=tuple(states), derived=derived,
            derivatives=derivatives, inputs=tuple(inputs.values()), on_start=on_start,
            conditions=(), exposures=exposures, unsupported=tuple(self.unsupported),
            source=Source(self.path, None, base),
            ions=tuple(self.ions), currents=tuple(currents), solves=tuple(self.solves),
            steady_state=steady, conserve=conserve, units="neuron",
            globals=tuple(n for n in self.param_names if n in self.globals),
            range=tuple(self.range),
            threadsafe=self.threadsafe, updates=tuple(updates),
        )


_CONSTANT = "assigned in INITIAL, constant during the run"


def _changed_by_events(m):
    """``m`` with the description of a value INITIAL sets and NET_RECEIVE
    changes (the Destexhe synapse's ``synon``) saying so."""
    from dataclasses import replace

    hit = {a.variable.split("#")[0] for h in m.on_events for a in h.assignments}
    if not any(st.description == _CONSTANT and st.name in hit for st in m.states):
        return m
    return replace(m, states=tuple(replace(st, description="assigned in INITIAL, changed by NET_RECEIVE")
                                   if st.description == _CONSTANT and st.name in hit else st for st in m.states))


def _with_errors(b, m):
    """``m`` with the state ``execerror`` of its hoc_execerror branches
    (:func:`~nmlcell.importers.nmodl_verbatim.error_parts`), if any."""
    from dataclasses import replace

    from .nmodl_verbatim import error_parts

    parts = error_parts(b)
    if parts is None:
        return m if len(b.unsupported) == len(m.unsupported) else replace(m, unsupported=tuple(b.unsupported))
    start, conds, st = parts
    exposures = dict(m.exposures)
    exposures[st.name] = (st.name, st.dim)
    return replace(m, states=m.states + (st,), derivatives=dict(m.derivatives, **{st.name: sp.Integer(0)}),
                   on_start=m.on_start + start, conditions=tuple(m.conditions) + conds, exposures=exposures,
                   unsupported=tuple(dict.fromkeys(tuple(m.unsupported) + tuple(b.unsupported))))

