"""NEURON's fixed step for a compartment built from NMODL mechanisms.

One generated function per compartment mechanism advances it from ``t`` to
``t + dt`` in NEURON's order (``nrn_fixed_step`` with ``secondorder = 0``):

1. **currents** at ``t + dt/2`` with ``v(t)`` and the states at ``t``:
   ``i_membrane`` at ``v`` and at ``v + 0.001`` (NEURON's conductance
   ``g = di/dv`` is this finite difference, not the exact derivative); the
   ion currents (``ina``, ``ica``...) are kept;
2. **voltage**, backward Euler: ``(0.001 cm/dt + g) dv = -i_membrane``;
3. **states** at ``t + dt`` with the new ``v`` and the kept ion currents, by
   the method of the mechanism that owns them: ``cnexp`` (exact for an
   equation affine in its state: ``x + (1 - exp(b dt)) (-a/b - x)`` with
   ``dx/dt = a + b x``, NEURON's own formula, state after state in the
   DERIVATIVE block's order, each reading the states updated before it, as
   NEURON's assignments in place do), ``euler``, and
   ``derivimplicit`` (backward Euler on the mechanism's states together:
   one Newton step, exact for equations linear in them; ``NEWTON_ITERATIONS``
   where they are not) and ``sparse`` (NEURON's own Newton iterations,
   Jacobian and stopping test: :mod:`.staggered_sparse`). ``b`` and the
   Jacobians are derived symbolically (through every derived value that
   depends on the state; sparse's holds them constant, as NEURON's does).

A column of method ``step`` (``ina@step``, see
:func:`nmlcell.passes.compartment.compose`) takes the phase-1 value of its
derived value: what NEURON records for an ion current; for a value a
SOLVEd PROCEDURE also assigns (SEClamp's ``i``), the update's value, which
is what NEURON's storage holds after the step.

The function is element-wise over instances, like the other kernels, so
``vmap``, ``grad`` and batches apply.
"""
from __future__ import annotations

import sympy as sp

from ..errors import SolverError
from .flat_vmap import flat_under_vmap as _flat_under_vmap
from .print_memo import doprint
from .printer import _ident, _Printer
from .staggered_sparse import emit_sparse, state_dependent

IMPLICIT = ("derivimplicit", "sparse")


VARIANTS = (None, "cn", "implicit", "exponential", "independent")
NEWTON_ITERATIONS = 3   # backward Euler on states that are nonlinear in themselves
# a mechanism whose current is affine in v with a slope of parameters only
# (pas) gets that slope as its di/dv instead of NEURON's finite difference
# (see StaggeredKernel._constant_slope); False: the finite difference always
EXACT_LINEAR_SLOPE = True
# under vmap, the state phase runs on (batch x instances) as one flat axis
# (see _flat_under_vmap); False: plain batching
FLAT_STATES_UNDER_VMAP = True


class StaggeredKernel:
    """``variant`` (the cable solvers of :mod:`nmlcell.quad.cable`):

    * ``None`` — each mechanism's own METHOD (NEURON's ``secondorder = 0``);
    * ``"cn"`` — the same state phase; ``currents`` also returns each ion
      current's ``di/dv`` (NEURON's ``dinadv``, the same 0.001 mV finite
      difference), for ``secondorder = 2``'s ion-current correction;
    * ``"implicit"`` — every ODE state by backward Euler, a mechanism's states
      together: one Newton step where the equations are affine in them
      (exact: ``x = (x + dt a)/(1 - dt b)`` for one state), else
      ``NEWTON_ITERATIONS`` Newton iterations (NEURON's ``derivimplicit``);
    * ``"exponential"`` — every state by exponential Euler: ``cnexp``'s
      formula per state, and a mechanism whose own METHOD couples its states
      (``derivimplicit``, ``sparse``: kinetic schemes) by exponential
      Rosenbrock–Euler on its Jacobian block, ``x + dt phi1(dt J) f``;
    * ``"independent"`` — ``cnexp``'s formula for every state, one by one.
    """

    def __init__(self, mech, static: dict | None = None, variant: str | None = None):
        if "v" not in getattr(mech, "methods", {}):
            raise SolverError(f"'{mech.name}' is not a NEURON-style compartment (no membrane "
                              f"potential with NMODL mechanisms); use another solver")
        if variant not in VARIANTS:
            raise ValueError(f"unknown staggered variant {variant!r}")
        self.variant = variant
        self.mech = mech
        self.static = dict(static or {})
        self.state_names = [s.name for s in mech.states]
        self.param_names = [p.name for p in mech.parameters if p.name not in self.static]
        self.input_names = [i.name for i in mech.inputs]
        self.ion_currents: list[tuple[int, str]] = []   # "cn": (index in pa, name) of each ion current
        self.source = self._generate()
        import jax.numpy as jnp

        ns: dict = {"jnp": jnp, "_phi1_apply": _phi1_apply}  # one namespace: step() calls the helpers defined beside it
        exec(compile(self.source, f"<nmlcell staggered {mech.name}>", "exec"), ns)
        self.step = ns["step"]
        self.currents = ns["currents"]    # (t, y, p, u, dt) -> (i_membrane, di/dv, phase-1 values)
        # (t, y, p, u, dt, v_new, phase-1 values) -> new y; under vmap on flat arrays
        self.states = _flat_under_vmap(ns["states"]) if FLAT_STATES_UNDER_VMAP else ns["states"]

    # -- symbolic ---------------------------------------------------------------------
    def _derivative_table(self, wrt: list[str], exprs: dict, frozen: set) -> dict:
        """d(derived)/d(x) for every derived value and every x in ``wrt``,
        through the chain of derived values (frozen ones are constants)."""
        table: dict[tuple[str, str], sp.Expr] = {}
        for d in self.mech.derived:
            if d.name in frozen:
                continue
            e = exprs[d.name]
            for x in wrt:
                tot = sp.diff(e, sp.Symbol(x, real=True))
                for a in e.free_symbols:
                    dd = table.get((a.name, x))
                    if dd is not None and dd != 0:
                        tot += sp.diff(e, a) * dd
                if tot != 0:
                    table[(d.name, x)] = tot
        return table

    def _total(self, e: sp.Expr, x: str, table: dict) -> sp.Expr:
        out = sp.diff(e, sp.Symbol(x, real=True))
        for a in e.free_symbols:
            dd = table.get((a.name, x))
            if dd is not None:
                out += sp.diff(e, a) * dd
        return out

    # -- code ---------------------------------------------------------------------------
    def _generate(self) -> str:
        mech = self.mech
        self._nq = 0   # update values written so far
        subs = {sp.Symbol(k, real=True): sp.Float(v) for k, v in self.static.items()}
        exprs = {d.name: d.expr.xreplace(subs) for d in mech.derived}
        dexprs = {s: e.xreplace(subs) for s, e in mech.derivatives.items()}
        frozen = set(mech.frozen)
        order = [d.name for d in mech.derived]

        def depends(names: set[str]) -> set[str]:
            """Derived values that depend (transitively) on any of ``names``."""
            out = set()
            for d in order:
                if {a.name for a in exprs[d].free_symbols} & (names | out):
                    out.add(d)
            return out

        base = {"t": "t", "dt": "dt"}
        for k, s in enumerate(self.state_names):
            base[s] = _ident("s", k, s)
        for k, p in enumerate(self.param_names):
            base[p] = _ident("p", k, p)
        for k, i in enumerate(self.input_names):
            base[i] = _ident("u", k, i)
        dnames = {d: _ident("d", k, d) for k, d in enumerate(order)}

        head = []
        for k, s in enumerate(self.state_names):
            head.append(f"    {base[s]} = y[{k}]")
        for p in self.param_names:
            head.append(f"    {base[p]} = p[{p!r}]")
        for i in self.input_names:
            head.append(f"    {base[i]} = u[{i!r}]")
        lines = ["def currents(t, y, p, u, dt):"] + head

        # phase 1: currents at t + dt/2, v
        lines.append("    th = t + 0.5*dt")
        na = dict(base, t="th", **{d: f"{n}_a" for d, n in dnames.items()})
        pa = _Printer(na)
        # values NEURON carries between BREAKPOINT calls (Mechanism.carried):
        # its first call (v + 0.001) reads the carry, the second (v) the first
        # call's value; what reads none is the same in both
        carry = dict(mech.carried)
        later = depends(set(carry))
        for d in order:
            if d not in later:
                lines.append(f"    {na[d]} = {doprint(pa, exprs[d])}")
        # the same at v + 0.001: only what depends on v (or on time) is recomputed
        dv_dep = depends({"v", "t"} | set(carry))
        nb = dict(na, v="v_p", **{d: f"{dnames[d]}_p" for d in dv_dep})
        lines.append(f"    v_p = {base['v']} + 0.001")
        pb = _Printer(nb)
        for d in order:
            if d in dv_dep:
                lines.append(f"    {nb[d]} = {doprint(pb, exprs[d])}")
        pc2 = _Printer(dict(na, **{c: nb[d] for c, d in carry.items()}))
        for d in order:
            if d in later:
                lines.append(f"    {na[d]} = {doprint(pc2, exprs[d])}")
        i0, g0 = self._membrane_sums(lines, exprs, order, dv_dep, pa, pb)
        carried = ", ".join(na[d] for d in order)
        # g broadcast to v's shape, not added to zeros like v: a g that depends on
        # parameters only then stays unbatched under vmap (XLA hoists it out of the loop)
        ret = (f"    return {i0} + jnp.zeros_like({base['v']}), "
               f"jnp.broadcast_to(jnp.asarray({g0}, {base['v']}.dtype), jnp.shape({base['v']})), "
               f"({carried}{',' if order else ''})")
        if self.variant == "cn":
            ret += self._ion_slopes(order, dv_dep, na, nb, base)
        lines.append(ret)
        # phase 2, the voltage, is the caller's (one compartment: step() below;
        # a cable: the tree solve)
        # phase 3: states at t + dt with v_new and the ion currents of phase 1,
        # mechanism after mechanism in NEURON's order: a later one reads the
        # states an earlier one has just updated (SK_E2 the new cai)
        lines += ["", "def states(t, y, p, u, dt, v_new, pa):"] + head
        for k, d in enumerate(order):
            lines.append(f"    {na[d]} = pa[{k}]")
        # a STATE BREAKPOINT assigned advances from the current phase's jump
        jumped = {c for c in carry if c in self.state_names and mech.methods.get(c, ("",))[0] != "update"}
        for c in sorted(jumped):
            lines.append(f"    {base[c]} = {na[carry[c]]}")
        lines.append("    t1 = t + dt")
        cur = dict(na, t="t1", v="v_new")
        for f in frozen:
            cur[f] = na[f]
        owners: dict[str, list[str]] = {}
        for s_, (m, owner) in mech.methods.items():
            if s_ != "v" and s_ in dexprs and m != "step":
                owners.setdefault(owner, []).append(s_)
        derived_deps = {d: {a.name for a in exprs[d].free_symbols} for d in order}

        def needed_by(es) -> set[str]:
            out, todo = set(), set().union(*(e.free_symbols for e in es)) if es else set()
            todo = {a.name for a in todo}
            while todo:
                n = todo.pop()
                if n in derived_deps and n not in out and n not in frozen:
                    out.add(n)
                    todo |= derived_deps[n]
            return out

        stale = depends({"v", "t"} | jumped) - frozen  # derived values not yet computed for the new state
        new: dict[str, str] = {"v": "v_new"}
        updated: dict[str, str] = {}  # variables an update assigned: their new values
        for k_owner, (owner, states) in enumerate(owners.items()):
            ode = [s_ for s_ in states if mech.methods[s_][0] != "update"]
            # updates that read the states before they advance: an euler
            # mechanism's (an ion concentration its DERIVATIVE block assigns)
            # and the ``x@last`` values its block reads (the current phase's x,
            # published first: the block's values are recomputed with it)
            euler = bool(ode) and mech.methods[ode[0]][0] == "euler"

            def early(var, euler=euler):
                return euler or "@last" in var

            upd = self._updates(lines, owner, cur, na, order, early)
            lasts = {var for var, _x in upd if "@last" in var}
            for var, x in upd:
                if var in lasts:
                    cur[var] = x
            stale |= depends(lasts) - frozen
            es = [dexprs[s_] for s_ in states]
            redo = stale & needed_by(es)
            stale -= redo
            for d in order:
                if d in redo:
                    cur[d] = f"{dnames[d]}_c{k_owner}"
            pc = _Printer(cur)
            for d in order:
                if d in redo:
                    lines.append(f"    {cur[d]} = {doprint(pc, exprs[d])}")
            if self.variant in ("implicit", "exponential", "independent") and ode:
                self._variant_states(lines, cur, pc, ode, exprs, dexprs, frozen, base, order, dnames,
                                     k_owner)
            elif ode and mech.methods[ode[0]][0] == "sparse":
                # NEURON's sparse_thread: Newton with its Jacobian and stopping test
                emit_sparse(lines, cur, ode, exprs, dexprs, frozen, base, order, dnames, k_owner)
            elif ode and mech.methods[ode[0]][0] == "derivimplicit" and \
                    self._nonlinear(ode, exprs, dexprs, frozen, order):
                # NEURON's derivimplicit iterates Newton to convergence (Izhikevich's V^2)
                self._variant_states(lines, cur, pc, ode, exprs, dexprs, frozen, base, order, dnames,
                                     k_owner)
            elif ode and mech.methods[ode[0]][0] in IMPLICIT:
                self._implicit(lines, pc, ode, exprs, dexprs, frozen, base)
            else:
                # NEURON's cnexp turns each ``x' = f`` into an assignment to x
                # in place, in the block's order: a later equation reads the
                # states updated before it (the derivatives' order is the
                # block's); euler evaluates every derivative first
                seq = dict(cur)
                for s_ in ode:
                    self._explicit(lines, pc, s_, mech.methods[s_][0], exprs, dexprs, frozen, base)
                    if mech.methods[s_][0] == "cnexp":
                        seq[s_] = f"{base[s_]}_n"
                        pc = _Printer(seq)
            for s_ in ode:
                new[s_] = f"{base[s_]}_n"
                cur[s_] = f"{base[s_]}_n"
            upd += self._updates(lines, owner, cur, na, order, lambda var: not early(var))
            for var, x in upd:
                new[var] = cur[var] = updated[var] = x
            stale |= depends(set(states)) - frozen
        # columns that keep a value of the current phase (what NEURON records),
        # or, for a variable an update assigns (SEClamp's i), the update's value:
        # NEURON records what its storage holds after the state phase
        for s_, (m, x) in mech.methods.items():
            if m == "step":
                new[s_] = f"({updated.get(x, na[x])} + jnp.zeros_like({base['v']}))"
        outs = [new.get(s, base[s]) for s in self.state_names]
        lines.append(f"    return ({', '.join(outs)},)")
        iv = self.state_names.index("v")
        lines += ["", "def step(t, y, p, u, dt):",
                  "    i0, g, pa = currents(t, y, p, u, dt)",
                  f"    v_new = y[{iv}] + (-i0) / (g + (0.001/dt)*p['cm'])",
                  "    return states(t, y, p, u, dt, v_new, pa)"]
        return "\n".join(lines) + "\n" + _HELPERS


    def _membrane_sums(self, lines, exprs, order, dv_dep, pa, pb) -> tuple[str, str]:
        """``i_membrane`` and its ``di/dv`` summed as NEURON sums them: each
        mechanism's current (a point process's times ``100/area``) and its
        own ``(i(v + 0.001) - i(v)) / 0.001``, added mechanism after mechanism
        in NEURON's order. A finite difference of the total instead loses
        ``ulp(i_total)/0.001`` to cancellation: with an IClamp's 0.024
        mA/cm2 in the total, 6 ulp of v at the step it starts (Hay's 13
        mechanisms), which the dynamics then amplify."""
        origin = {d.name: (d.source.origin if d.source is not None else "") for d in self.mech.derived}
        where = {d: k for k, d in enumerate(order)}
        groups: dict[str, list] = {}
        first: dict[str, int] = {}
        for k, term in enumerate(sp.Add.make_args(exprs["i_membrane"])):
            names = sorted((a.name for a in term.free_symbols if a.name != "area"),
                           key=lambda n: where.get(n, len(order)))
            n0 = names[0] if names else ""
            key = n0.split(".", 1)[0] if "." in n0 else origin.get(n0, n0)   # a point process: its label
            groups.setdefault(key, []).append(term)
            first.setdefault(key, where.get(n0, len(order) + k))
        area = next((a for a in exprs["i_membrane"].free_symbols if a.name == "area"), sp.Symbol("area"))

        def show(pr, terms):   # left to right in the mechanism's order; a point process's i*(100/area)
            out = []
            for term in sorted(terms, key=lambda e: min((where.get(a.name, len(order)) for a in e.free_symbols),
                                                         default=len(order))):
                c, rest = term.as_coeff_Mul()
                x = sp.expand(rest * area)
                if abs(float(c)) == 100.0 and rest.has(area) and not x.has(area):
                    out.append(f"{'-' if c < 0 else ''}(({doprint(pr, x)})*(100.0/{doprint(pr, area)}))")
                else:
                    out.append(f"({doprint(pr, term)})")
            return " + ".join(out)

        isum, gsum = [], []
        for j, key in enumerate(sorted(groups, key=first.__getitem__)):
            terms = groups[key]
            lines.append(f"    ia{j}_ = {show(pa, terms)}")
            isum.append(f"ia{j}_")
            if set().union(*({a.name for a in e.free_symbols} for e in terms)) & (dv_dep | {"v"}):
                slope = self._constant_slope(terms, exprs, order) if EXACT_LINEAR_SLOPE else None
                if slope is not None:
                    gsum.append(f"({doprint(pa, slope)})")
                    continue
                lines.append(f"    ib{j}_ = {show(pb, terms)}")
                gsum.append(f"(ib{j}_ - ia{j}_) / 0.001")
        lines.append(f"    i_ = {' + '.join(isum) or '0.0'}")
        lines.append(f"    g_ = {' + '.join(gsum) or '0.0'}")
        return "i_", "g_"

    def _constant_slope(self, terms, exprs, order):
        """``di/dv`` of one mechanism's current terms when the current is
        affine in v with a slope that depends on parameters only (``pas``:
        ``g*(v - e)``, slope ``g``): that slope, else None. NEURON takes
        the 0.001 mV finite difference even then; it equals the slope up to
        the rounding of ``v + 0.001`` (relative 1e-11 of the slope: for
        ``pas``'s 5e-5 S/cm2 next to ``1e-3 cm/dt`` = 0.04, about 1e-14 of
        the diagonal, below an ulp of v's step). Computed from the
        parameters alone it is the same at every step and, under ``vmap``
        of other parameters, not batched: XLA hoists it out of the loop."""
        syms = {sp.Symbol(d, real=True): exprs[d] for d in order}
        e = sp.Add(*terms)
        for _ in range(len(order) + 1):   # every derived value written out in the inputs
            if not {a.name for a in e.free_symbols} & set(order):
                break
            e = e.xreplace(syms)
        slope = sp.diff(e, sp.Symbol("v", real=True))
        varying = {"v", "t", *order, *self.state_names, *self.input_names}
        if {a.name for a in slope.free_symbols} & varying:
            return None
        return slope

    def _updates(self, lines, owner, cur, na, order, select):
        """``SOLVE proc`` of a PROCEDURE (Mechanism.updates): NEURON runs it
        in the state phase, once per step, with the new v, t + dt and the
        step's dt; its assignments are simultaneous (each reads the values
        before the update; a derived value, its current-phase value).
        Several updates of one mechanism run in order, each seeing the
        values of the ones before (NEURON's order of SOLVEs; the Newton
        iterations of a NONLINEAR block). Only the assignments to variables
        ``select`` accepts; returns
        (variable, code name) of the new values, which the caller publishes
        (an ion concentration a DERIVATIVE block assigns under METHOD euler
        is computed before the states advance and published after)."""
        tmp = []
        env = dict(cur, **{d: na[d] for d in order})
        for label, assigns in self.mech.updates:
            if label != owner:
                continue
            pu = _Printer(dict(env))
            group = []
            for a in assigns:
                if not select(a.variable):
                    continue
                x = _ident("q", self._nq, a.variable)   # numbered across mechanisms: names never collide
                self._nq += 1
                lines.append(f"    {x} = {doprint(pu, a.expr)} + jnp.zeros_like(v_new)")
                group.append((a.variable, x))
            # NEURON runs the SOLVEs of a mechanism in order: the next one (or
            # the next Newton iteration of a NONLINEAR block) sees these values
            env.update(group)
            tmp += group
        return list(dict(tmp).items())

    def _explicit(self, lines, pc, s, m, exprs, dexprs, frozen, base):
        f = doprint(pc, dexprs[s])
        x = base[s]
        if m == "euler":
            lines.append(f"    {x}_n = {x} + dt*({f})")
        elif m in ("cnexp", "none", "runge", "after_cvode", "cvode_t", "cvode_v"):
            table = self._derivative_table([s], exprs, frozen)
            b = doprint(pc, self._total(dexprs[s], s, table))
            lines.append(f"    f_ = {f}")
            lines.append(f"    b_ = {b} + jnp.zeros_like({x})")
            lines.append("    bz_ = b_ == 0")
            lines.append("    bs_ = jnp.where(bz_, 1.0, b_)")
            lines.append(f"    a_ = f_ - bs_*{x}")
            lines.append(f"    {x}_n = jnp.where(bz_, {x} + dt*f_, "
                         f"{x} + (1.0 - jnp.exp(bs_*dt))*(-a_/bs_ - {x}))")
        else:
            raise SolverError(f"staggered: state '{s}' uses METHOD {m}, which it cannot apply")

    def _nonlinear(self, states, exprs, dexprs, frozen, order) -> bool:
        """Whether the derivatives of ``states`` are nonlinear in them
        (through derived values too): one Newton step is then not exact."""
        table = self._derivative_table(states, exprs, frozen)
        sdep, names = state_dependent(states, exprs, frozen, order), set(states)
        return any({a.name for a in self._total(dexprs[s], x, table).free_symbols} & (names | sdep)
                   for s in states for x in states)

    def _implicit(self, lines, pc, states, exprs, dexprs, frozen, base):
        """Backward Euler on one mechanism's states together: one Newton step."""
        table = self._derivative_table(states, exprs, frozen)
        n = len(states)
        fs = ", ".join(doprint(pc, dexprs[s]) for s in states)
        rows = ["(" + ", ".join(doprint(pc, self._total(dexprs[s], x, table)) for x in states) + ",)"
                for s in states]
        xs = ", ".join(base[s] for s in states)
        lines.append(f"    xs_ = ({xs},)")
        lines.append(f"    fs_ = jnp.stack(jnp.broadcast_arrays({fs}, *xs_), -1)[..., :{n}]")
        lines.append(f"    J_ = _stack_matrix(({', '.join(rows)},), xs_[0])")
        lines.append(f"    A_ = jnp.eye({n}) - dt*J_")
        lines.append("    dx_ = jnp.linalg.solve(A_, (dt*fs_)[..., None])[..., 0]")
        for k, s in enumerate(states):
            lines.append(f"    {base[s]}_n = {base[s]} + dx_[..., {k}]")


    # -- the cable solvers' variants ---------------------------------------------------
    def _ion_slopes(self, order, dv_dep, na, nb, base) -> str:
        """The extra return value of ``currents`` for ``"cn"``: each ion
        current's ``(i(v + 0.001) - i(v)) / 0.001`` (NEURON's ``di<ion>dv``,
        summed over the mechanisms that write it), in :attr:`ion_currents`'s
        order."""
        frozen = set(self.mech.frozen)
        self.ion_currents = [(k, d.name) for k, d in enumerate(self.mech.derived)
                             if d.name in frozen and d.source is not None
                             and d.source.origin == f"{d.name[1:]}_ion"]
        assert [d.name for d in self.mech.derived] == order
        parts = []
        for _k, d in self.ion_currents:
            if d in dv_dep:
                parts.append(f"({nb[d]} - {na[d]}) / 0.001 + jnp.zeros_like({base['v']})")
            else:
                parts.append(f"jnp.zeros_like({base['v']})")
        return f", ({', '.join(parts)}{',' if parts else ''})"

    def _variant_states(self, lines, cur, pc, states, exprs, dexprs, frozen, base, order, dnames, tag):
        """One mechanism's ODE states under the ``implicit``, ``exponential``
        or ``independent`` variant (see the class docstring)."""
        coupled = self.mech.methods[states[0]][0] in IMPLICIT
        if self.variant == "independent" or (self.variant == "exponential" and not coupled):
            for s_ in states:
                self._explicit(lines, pc, s_, "cnexp", exprs, dexprs, frozen, base)
            return
        table = self._derivative_table(states, exprs, frozen)
        n = len(states)
        J = [[self._total(dexprs[s_], x, table) for x in states] for s_ in states]
        xs = ", ".join(base[s_] for s_ in states)
        if self.variant == "exponential":
            rows = ["(" + ", ".join(doprint(pc, e) for e in r) + ",)" for r in J]
            fs = ", ".join(doprint(pc, dexprs[s_]) for s_ in states)
            lines.append(f"    xs_ = ({xs},)")
            lines.append(f"    fs_ = jnp.stack(jnp.broadcast_arrays({fs}, *xs_), -1)[..., :{n}]")
            lines.append(f"    J_ = _stack_matrix(({', '.join(rows)},), xs_[0])")
            lines.append("    dx_ = _phi1_apply(J_, fs_, dt)")
            for k, s_ in enumerate(states):
                lines.append(f"    {base[s_]}_n = {base[s_]} + dx_[..., {k}]")
            return
        # backward Euler: affine in the states -> one Newton step is exact
        sdep, names = state_dependent(states, exprs, frozen, order), set(states)
        nonlinear = any({a.name for a in e.free_symbols} & (names | sdep) for r in J for e in r)
        diagonal = all(J[i][j] == 0 for i in range(n) for j in range(n) if i != j)
        if not nonlinear and diagonal:
            for k, s_ in enumerate(states):
                x = base[s_]
                lines.append(f"    {x}_n = {x} + dt*({doprint(pc, dexprs[s_])}) / "
                             f"(1.0 - dt*({doprint(pc, J[k][k])}))")
            return
        if not nonlinear:
            self._implicit(lines, pc, states, exprs, dexprs, frozen, base)
            return
        # Newton on X - x - dt f(X) = 0 from X = x
        lines.append(f"    x0_ = ({xs},)")
        it_names = [base[s_] for s_ in states]
        for it in range(NEWTON_ITERATIONS):
            env = dict(cur, **dict(zip(states, it_names)))
            for d in order:
                if d in sdep:
                    env[d] = f"{dnames[d]}_b{tag}_{it}"
            pe = _Printer(env)
            for d in order:
                if d in sdep:
                    lines.append(f"    {env[d]} = {doprint(pe, exprs[d])}")
            rows = ["(" + ", ".join(doprint(pe, e) for e in r) + ",)" for r in J]
            fs = ", ".join(doprint(pe, dexprs[s_]) for s_ in states)
            lines.append(f"    X_ = ({', '.join(it_names)},)")
            lines.append(f"    fs_ = jnp.stack(jnp.broadcast_arrays({fs}, *X_), -1)[..., :{n}]")
            lines.append("    G_ = jnp.stack(jnp.broadcast_arrays(*X_), -1) - "
                         "jnp.stack(jnp.broadcast_arrays(*x0_), -1) - dt*fs_")
            lines.append(f"    J_ = _stack_matrix(({', '.join(rows)},), X_[0])")
            lines.append(f"    dx_ = jnp.linalg.solve(jnp.eye({n}) - dt*J_, G_[..., None])[..., 0]")
            new = [f"{base[s_]}_it{tag}_{it}" for s_ in states]
            for k, (a, b) in enumerate(zip(new, it_names)):
                lines.append(f"    {a} = {b} - dx_[..., {k}]")
            it_names = new
        for s_, x in zip(states, it_names):
            lines.append(f"    {base[s_]}_n = {x}")


def _phi1_apply(J, f, h):
    """``h phi1(h J) f`` per instance: the top-right column of
    ``expm(h [[J, f], [0, 0]])`` (blocks ``(N, n, n)``, ``f`` ``(N, n)``)."""
    import jax.numpy as jnp

    from ..quad._linalg import expm_small

    n = J.shape[-1]
    lead = J.shape[:-2]
    top = jnp.concatenate([J, f[..., None]], axis=-1)
    M = jnp.concatenate([top, jnp.zeros(lead + (1, n + 1), J.dtype)], axis=-2) * h
    E = expm_small(M.reshape((-1, n + 1, n + 1)))
    return E[:, :n, n].reshape(lead + (n,))


_HELPERS = '''

def _stack_matrix(rows, like):
    return jnp.stack([jnp.stack([jnp.broadcast_to(a, like.shape) for a in r], -1) for r in rows], -2)
'''
