"""Lower an IR model onto JAX: state layout, parameters, one kernel per
mechanism type, links between groups, events. The result implements the
solver step protocol (:mod:`nmlcell.quad._system`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..errors import ModelImportError
from ..ir.model import ModelIR
from .codegen import Kernel
from .events import deliver, uniform
from .system_addressing import Addressing

GLOBAL = "__global__"


def _set(cols: tuple, j: int, value) -> tuple:
    """The tuple of state columns with column ``j`` replaced."""
    return cols[:j] + (value,) + cols[j + 1:]


def _static_params(mech, overrides) -> dict[str, float]:
    """Parameters used as exponents (gate ``instances``): inlined, so that
    q**3 becomes q*q*q and gradients never meet log(0)."""
    names = {p.name: p for p in mech.parameters}
    found = {}
    exprs = [d.expr for d in mech.derived] + list(mech.derivatives.values())
    for e in exprs:
        for pw in e.atoms(sp.Pow):
            ex = pw.args[1]
            if ex.is_Symbol and ex.name in names and ex.name not in overrides:
                found[ex.name] = names[ex.name].value
    # constants are fixed by definition
    for p in mech.parameters:
        if p.constant and p.name not in overrides:
            found[p.name] = p.value
    return found


def param_arrays(g, names) -> dict:
    """{name: (N,) float64} of group ``g``'s parameters ``names``: its
    per-instance overrides, else the mechanism's value for every instance."""
    value = {p.name: p.value for p in g.mechanism.parameters}
    return {n: (np.asarray(g.overrides[n], dtype=np.float64) if n in g.overrides
                else np.full(g.size, value[n], dtype=np.float64)) for n in names}


def _start_plan(assignments, sidx: dict) -> list:
    """[(column, expr, run again in the second pass)] of OnStart assignments:
    one runs again unless it reads its own target (x = x + 1 once), or a
    later assignment to its column does not run again (a rerun would leave
    the column at the earlier value: ``cai = cai0`` rerun after INITIAL's
    ``cai = cai * 2``)."""
    plan = []
    final = set()   # columns whose last writer so far (from the end) is not rerun
    for a in reversed(tuple(assignments)):
        col = sidx[a.variable]
        again = a.variable not in {x.name for x in a.expr.free_symbols} and col not in final
        if not again:
            final.add(col)
        plan.append((col, a.expr, again))
    return plan[::-1]


def _assignment_plan(kern, sidx: dict, handler, kind: str, k: int) -> list:
    """[(state column, generated fn)] for the assignments of an OnCondition
    or OnEvent ``handler`` (the ``k``-th of its ``kind``), in order."""
    plan = []
    for ai, a in enumerate(handler.assignments):
        if a.variable not in sidx:
            src = handler.source
            raise ModelImportError(f"assignment to '{a.variable}', which is not a state",
                                   file=src.file, line=src.line, element=src.origin)
        fn, _ = kern.expr_fn([a.expr], kind, key=(k, ai))
        plan.append((sidx[a.variable], fn))
    return plan


@dataclass
class LoweredGroup:
    gid: str
    size: int
    mech: object
    kernel: Kernel
    params0: dict          # name -> np.ndarray (N,)
    state_index: dict      # name -> column
    on_start: list         # [(column, expr, run again in the second pass)]
    init_fn: object        # (t, y, p, u) -> y after the OnStart assignments (Kernel.init_source)
    init_src: str          # its source
    cond_plan: list        # [(test_fn, [(column, fn)], events, regime guard (column, index) or None)]
    emits_spikes: bool
    cond_reads: frozenset = frozenset()       # derived values the OnConditions read
    hoisted_derived: frozenset = frozenset()  # derived values computed once per run (in the prepared parameters)
    staggered: object = None      # NEURON's fixed step for a NEURON-style compartment, built on first use
    event_plan: dict = None       # OnEvent port -> [(column, fn)]
    event_reads: frozenset = frozenset()      # derived values the OnEvent handlers read

    @property
    def k(self) -> int:
        return len(self.kernel.state_names)


class LoweredModel(Addressing):
    """The lowered system. State ``y``: dict gid -> tuple of k state columns,
    each of shape (N,) (a column block of the solver protocol).
    Parameters ``p``: dict gid -> {name: (N,)} plus ``p['__global__']``
    (temperature in K)."""

    stiffness_dt = None
    linear_in_own_state = False

    def __init__(self, ir: ModelIR, lems_exact: bool = False):
        self.ir = ir
        self.lems_exact = lems_exact
        net = ir.network
        self.groups: dict[str, LoweredGroup] = {}
        kernels: dict[tuple, Kernel] = {}
        inits: dict[tuple, object] = {}  # one init function per kernel and OnStart plan
        for g in net.groups:
            static = _static_params(g.mechanism, g.overrides)
            key = (id(g.mechanism), tuple(sorted(static.items())))
            if key not in kernels:
                kernels[key] = Kernel(g.mechanism, static, lems_exact)
            kern = kernels[key]
            params0 = param_arrays(g, [p.name for p in g.mechanism.parameters if p.name not in kern.static])
            sidx = {s: k for k, s in enumerate(kern.state_names)}
            on_start = _start_plan(g.mechanism.on_start, sidx)
            cond_plan = []
            # jNeuroML's first rows of a Regime cell are its exposures one step
            # old (the flattener's ``x@1``, importers/lems_regimes.py)
            init_key = (key, tuple((c, a) for c, _e, a in on_start))
            if init_key not in inits:
                inits[init_key] = kern.init_fn(on_start)
            for ci, c in enumerate(g.mechanism.conditions):
                tfn, _ = kern.expr_fn([c.test], "test", key=ci)
                assigns = _assignment_plan(kern, sidx, c, "assign", ci)
                guard = None if c.regime is None else (sidx[c.regime[0]], float(c.regime[1]))
                cond_plan.append((tfn, assigns, c.events, guard))
            event_plan = {}
            for hi, h in enumerate(getattr(g.mechanism, "on_events", ())):
                event_plan[h.port] = _assignment_plan(kern, sidx, h, "onevent", hi)
            dnames = {d.name for d in g.mechanism.derived}
            reads = set()
            for c in g.mechanism.conditions:
                for e in [c.test] + [a.expr for a in c.assignments]:
                    reads |= {x.name for x in e.free_symbols} & dnames
            ev_reads = set()
            for h in getattr(g.mechanism, "on_events", ()):
                for a in h.assignments:
                    ev_reads |= {x.name for x in a.expr.free_symbols} & dnames
            self.groups[g.id] = LoweredGroup(g.id, g.size, g.mechanism, kern, params0, sidx, on_start,
                                             *inits[init_key], cond_plan, g.emits_spikes,
                                             cond_reads=frozenset(reads),
                                             hoisted_derived=frozenset(kern.hoisted_names) & dnames,
                                             event_plan=event_plan, event_reads=frozenset(ev_reads))
        for kern in kernels.values():
            kern.save()
        self.links = net.links
        # random(): draws from a key made of the seed, the group, the call site and t
        self.random = any(i.kind == "random" for g in self.groups.values() for i in g.mech.inputs)
        sim = ir.simulation
        self.seed = sim.seed if sim is not None and sim.seed is not None else 0
        self.event_links = tuple(getattr(net, "event_links", ()))
        self.temperature = net.temperature
        self.cable = getattr(net, "cable", None)
        if self.cable is not None:
            from .cable_step import CablePlan

            self.cable_plan = CablePlan(self.cable, self.groups)
        self._check_links()
        # a group whose inputs depend on its own state (through links) is
        # initialised one assignment at a time, its inputs recomputed each time
        src_of = {}
        for l in self.links:
            src_of.setdefault(l.dst, set()).add(l.src)
        self._self_linked = set()
        for gid in self.groups:
            seen, todo = set(), list(src_of.get(gid, ()))
            while todo:
                x = todo.pop()
                if x not in seen:
                    seen.add(x)
                    todo += src_of.get(x, ())
            if gid in seen:
                self._self_linked.add(gid)

    # -- parameters ---------------------------------------------------------
    def parameters(self):
        import jax

        p = {gid: dict(g.params0) for gid, g in self.groups.items()}
        p[GLOBAL] = {"temperature": np.asarray(self.temperature, dtype=np.float64)}
        if self.random:
            p[GLOBAL]["seed"] = np.asarray(self.seed, dtype=np.float64)
        return jax.device_put(p)  # one transfer, not one per parameter

    def prepare(self, p):
        """The parameters as the step functions read them: each group's with
        its parameter-only derived values added (computed once per run, not
        per step). ``f``, ``jac``, ``diag``, ``init``, ``events`` and the
        observer take prepared parameters; the run loop prepares them."""
        jnp = self._np()
        out = dict(p)
        for gid, g in self.groups.items():
            kern = g.kernel
            if kern.hoisted_names:
                glob = {i: jnp.broadcast_to(p[GLOBAL][i], (g.size,)) for i in kern.global_inputs}
                out[gid] = kern.prepare(p[gid], glob, host=self._host)
            if any(i.kind == "vecstim_next" for i in g.mech.inputs):   # its times stacked once per run
                from ..vecstim import TABLE, time_table

                out[gid] = {**out[gid], TABLE: time_table(jnp, g, out[gid])}
        return out

    # -- the initial state on the host ------------------------------------------
    _host = False

    def _np(self):
        """The array module of the evaluation under way: NumPy on the host
        (:meth:`start_on_host`), jax.numpy otherwise."""
        if self._host:
            return np
        import jax.numpy as jnp

        return jnp

    def start_on_host(self, params, observe):
        """The prepared parameters' initial state and its observed values,
        computed with NumPy from the same generated sources (float64), or
        None where that is not possible (a KineticScheme's exact update, a
        group whose inputs depend on its own state). Done once per run, it
        costs a fraction of a millisecond, where tracing and compiling it
        with XLA costs 0.3-1 s at a model's first run; gradients and vmap
        go through the simulator (:func:`nmlcell.run.make_simulator`),
        which keeps the traced initial state."""
        if self._self_linked or self.random or any(g.kernel.host_unsupported for g in self.groups.values()):
            return None
        self._host = True
        try:
            with np.errstate(all="ignore"):
                p = {gid: {k: np.asarray(v, dtype=np.float64) for k, v in d.items()} for gid, d in params.items()}
                p = self.prepare(p)
                y0 = self.init(p, 0.0, np.float64)
                rec0 = np.asarray(observe(np.float64(0.0), y0, p))
        finally:
            self._host = False
        return y0, rec0

    def _check_links(self):
        """Turn each link into a gather table (N_dst, K) into the source
        group (scatters are slow under vmap; gathers are not)."""
        self._link_tables = {}
        for l in self.links:
            if l.src not in self.groups or l.dst not in self.groups:
                raise ModelImportError(f"link between unknown groups {l.src} -> {l.dst}")
            nd, ns = self.groups[l.dst].size, self.groups[l.src].size
            per = [[] for _ in range(nd)]
            for a, b in l.pairs:
                per[b].append(a)
            if nd == ns and all(len(x) == 1 and x[0] == i for i, x in enumerate(per)):
                entry = (l, None, None)
            else:
                k = max(1, max(len(x) for x in per))
                table = np.zeros((nd, k), dtype=np.int32)
                valid = np.zeros((nd, k), dtype=bool)
                for i, x in enumerate(per):
                    table[i, :len(x)] = x
                    valid[i, :len(x)] = True
                entry = (l, table, valid)
            self._link_tables.setdefault(l.dst, []).append(entry)

    # -- evaluation -----------------------------------------------------------
    def _inputs(self, t, y, p, gid, memo):
        jnp = self._np()
        g = self.groups[gid]
        u = {}
        for inp in g.mech.inputs:
            if inp.kind == "global":
                u[inp.name] = jnp.broadcast_to(p[GLOBAL][inp.name], (g.size,))
            elif inp.kind == "time":
                u[inp.name] = jnp.broadcast_to(t, (g.size,))
            elif inp.kind == "random":
                u[inp.name] = uniform(p[GLOBAL]["seed"], gid, inp.name, t, g.size)
            elif inp.kind == "vecstim_next":   # a gather the IR has no expression for (nmlcell/vecstim.py)
                from ..vecstim import next_time

                u[inp.name] = next_time(jnp, g, y[gid], p[gid], t, inp.name)
            else:
                u[inp.name] = jnp.zeros((g.size,), dtype=y[gid][0].dtype if y[gid] else jnp.float64)
        for l, table, valid in self._link_tables.get(gid, ()):
            src_vals = self._value(t, y, p, l.src, l.src_var, memo)
            if table is None:  # one source per cell, in order
                vals = src_vals
            else:
                vals = jnp.sum(jnp.where(valid, src_vals[table], 0.0), axis=1)
            if l.kind == "sum":
                u[l.dst_input] = u[l.dst_input] + vals
            else:
                u[l.dst_input] = vals
        return u

    def _derived(self, t, y, p, gid, memo, names=None):
        """The group's derived values: all of them, or (``names``) a dict
        holding at least those (only what they read is computed)."""
        key = ("dv", gid)
        if key in memo:
            return memo[key]
        g = self.groups[gid]
        u = self._group_inputs(t, y, p, gid, memo)
        dt = memo.get("dt", 0.0)
        if names is None:
            memo[key] = g.kernel.derived(t, y[gid], p[gid], u, dt, host=self._host)
            return memo[key]
        have = memo.setdefault(("dvp", gid), {})
        missing = frozenset(names) - g.hoisted_derived - have.keys()
        if missing:
            have.update(g.kernel.derived_part(missing, t, y[gid], p[gid], u, dt, host=self._host))
        return have

    def _value(self, t, y, p, gid, name, memo):
        g = self.groups[gid]
        jnp = self._np()
        name = self.plain(g, name)
        if name in g.state_index:
            return y[gid][g.state_index[name]]
        if name in g.params0:
            return p[gid][name]
        if name in g.kernel.static:
            return jnp.full((g.size,), g.kernel.static[name])
        if name in g.hoisted_derived:
            v = p[gid][g.kernel.hoisted_key(name)]
        else:
            v = self._derived(t, y, p, gid, memo, {name})[name]
        return jnp.broadcast_to(jnp.asarray(v, dtype=jnp.result_type(float)), (g.size,))

    @staticmethod
    def plain(g, name):
        """``name``, or for a delayed copy ``x@k`` that this lowering does
        not keep (every solver but ``lems_euler``), ``x``."""
        if "@" in name and name not in g.state_index:
            return name.rsplit("@", 1)[0]
        return name

    def _group_inputs(self, t, y, p, gid, memo):
        if ("u", gid) not in memo:
            if ("busy", gid) in memo:
                raise ModelImportError(f"algebraic loop between groups through '{gid}'")
            memo[("busy", gid)] = True
            memo[("u", gid)] = self._inputs(t, y, p, gid, memo)
        return memo[("u", gid)]

    def f(self, t, y, p):
        memo = {}
        out = {}
        for gid, g in self.groups.items():
            u = self._group_inputs(t, y, p, gid, memo)
            out[gid] = g.kernel.rhs(t, y[gid], p[gid], u)
        return out

    def lems_step(self, t, y, dt, p):
        """One step of jNeuroML's own scheme (lowered with ``lems_exact``):
        forward Euler, sequential within a component, then the delayed
        copies shift."""
        memo = {"dt": dt}
        out = {}
        for gid, g in self.groups.items():
            u = self._group_inputs(t, y, p, gid, memo)
            out[gid] = g.kernel.seq_euler(t, y[gid], p[gid], u, dt)
        return self.shift_history(y, out, t, p, memo)

    def staggered_step(self, t, y, dt, p):
        """NEURON's fixed step (see :mod:`nmlcell.lower.staggered`) for
        every NEURON-style compartment group: the cable's nodes together,
        the other groups (a network's one-compartment and artificial cells
        beside branched ones) each on its own."""
        from .staggered import StaggeredKernel

        out = {}
        if self.cable is not None:
            from .cable_step import cable_staggered_step

            out = dict(cable_staggered_step(self, t, y, dt, p))
        for gid, g in self.groups.items():
            if gid in out:  # a node of the cable
                continue
            if g.mech.kind == "artificial_cell":
                out[gid] = y[gid]  # no continuous dynamics: changes only in the event phase
                continue
            if g.staggered is None:
                g.staggered = StaggeredKernel(g.mech, g.kernel.static)
            u = self._inputs(t, y, p, gid, {})
            out[gid] = g.staggered.step(t, y[gid], p[gid], u, dt)
        return out

    def jac(self, t, y, p):
        import jax
        import jax.numpy as jnp

        memo = {}
        dy, J = {}, {}
        for gid, g in self.groups.items():
            u = self._group_inputs(t, y, p, gid, memo)
            rhs = g.kernel.rhs

            def single(yi, pi, ui, t=t, rhs=rhs):
                return jnp.stack(rhs(t, tuple(yi[j] for j in range(yi.shape[0])), pi, ui))

            dy[gid] = rhs(t, y[gid], p[gid], u)
            if not y[gid]:
                J[gid] = jnp.zeros((g.size, 0, 0))
                continue
            J[gid] = jax.vmap(jax.jacfwd(single))(jnp.stack(y[gid], axis=-1), p[gid], u)
        return dy, J

    def diag(self, t, y, p):
        """Each state's derivative with respect to itself (the other states
        held fixed): the kernel's symbolic diagonal, or, where it has none,
        one forward derivative per state column."""
        import jax

        memo = {}
        dy, d = {}, {}
        for gid, g in self.groups.items():
            u = self._group_inputs(t, y, p, gid, memo)
            rhs, yg = g.kernel.rhs, y[gid]
            sym = g.kernel.diag(t, yg, p[gid], u)
            if sym is not None:
                dy[gid], d[gid] = sym
                continue
            dy[gid] = rhs(t, yg, p[gid], u)
            cols = []
            for j in range(len(yg)):
                def fj(x, j=j):
                    return rhs(t, yg[:j] + (x,) + yg[j + 1:], p[gid], u)[j]
                cols.append(jax.jvp(fj, (yg[j],), (jax.numpy.ones_like(yg[j]),))[1])
            d[gid] = tuple(cols)
        return dy, d

    # -- initial state and events --------------------------------------------
    def init(self, p, t0=0.0, dtype=None):
        jnp = self._np()
        dtype = dtype or jnp.float64
        y = {gid: tuple(jnp.zeros((g.size,), dtype=dtype) for _ in range(g.k))
             for gid, g in self.groups.items()}
        t = jnp.asarray(t0, dtype=dtype)
        # Two passes: an OnStart that reads a value set by a later OnStart
        # (a Ca-dependent gate's steady state, before the Ca pool's initial
        # concentration is set) sees it the second time, as in jNeuroML.
        for gid, g in self.groups.items():
            if gid not in self._self_linked:  # one generated function per group
                u = self._group_inputs(t, y, p, gid, {})
                init = g.kernel.host_fn(g.init_src, "init") if self._host else g.init_fn
                y[gid] = init(t, y[gid], p[gid], u)
                continue
            plan = [(c, g.kernel.expr_fn([e], "onstart")[0]) for c, e, _a in g.on_start]
            plan += [(c, fn) for (c, fn), (_c, _e, again) in zip(list(plan), g.on_start) if again]
            for col, fn in plan:
                if g.kernel.derived_lag_columns:
                    y[gid] = self._refresh_derived_history(t, y, p, gid)
                memo = {}
                dv = self._derived(t, y, p, gid, memo)
                u = memo[("u", gid)]
                (val,) = fn(t, y[gid], p[gid], u, dv)
                y[gid] = _set(y[gid], col, jnp.broadcast_to(val, (g.size,)).astype(dtype))
                y[gid] = self._fill_history(g, y[gid])
            if g.kernel.derived_lag_columns:
                y[gid] = self._refresh_derived_history(t, y, p, gid)
        return y

    @staticmethod
    def _fill_history(g, yg):
        """Delayed copies start equal to the value they copy."""
        for _ in range(len(g.kernel.lag_columns)):
            for dst, src in g.kernel.lag_columns:
                yg = _set(yg, dst, yg[src])
        return yg

    def shift_history(self, y_old, y_new, t=None, p=None, memo=None):
        """jNeuroML emulation: each delayed copy ``x@k`` takes the value
        ``x@(k-1)`` had before this step (``x@1`` takes ``x``); a delayed
        DerivedVariable ``d@1`` takes ``d`` as computed from the state at
        the start of this step."""
        out = dict(y_new)
        memo = {} if memo is None else memo
        for gid, g in self.groups.items():
            if g.kernel.lag_columns or g.kernel.derived_lag_columns:
                yn = out[gid]
                for dst, src in g.kernel.lag_columns:
                    yn = _set(yn, dst, y_old[gid][src])
                if g.kernel.derived_lag_columns:
                    for dst, name in g.kernel.derived_lag_columns:
                        v = self._value(t, y_old, p, gid, name, memo)
                        yn = _set(yn, dst, self._column(v, g.size, yn[dst].dtype))
                out[gid] = yn
        return out

    def _column(self, v, n, dtype):
        jnp = self._np()
        return jnp.broadcast_to(jnp.asarray(v), (n,)).astype(dtype)

    def _refresh_derived_history(self, t, y, p, gid):
        """At the start: every delayed DerivedVariable equals its value on
        the initial state (jNeuroML computes DerivedVariables while
        initialising)."""
        g = self.groups[gid]
        yg = y[gid]
        dv = self._derived(t, y, p, gid, {})
        for dst, name in g.kernel.derived_lag_columns:
            yg = _set(yg, dst, self._column(dv[name], g.size, yg[dst].dtype))
        return self._fill_history(g, yg)

    def events(self, t, y, p, phase=None):
        """Apply OnCondition handlers at time ``t``; returns (y, spikes)
        with spikes: gid -> (N,) bool for groups that emit spikes.
        ``phase`` "pre" handles stimulus groups only, "post" the others
        (jNeuroML advances a cell's inputs before the cell)."""
        import jax.numpy as jnp

        memo = {}
        spikes = {}
        y = dict(y)
        for gid, g in self.groups.items():
            if not g.cond_plan:
                continue
            if phase is not None and (phase == "pre") != (g.mech.kind == "input"):
                continue
            u = self._group_inputs(t, y, p, gid, memo)
            dv = self._derived(t, y, p, gid, memo, g.cond_reads)
            for h in g.cond_reads & g.hoisted_derived:
                dv = {**dv, h: p[gid][g.kernel.hoisted_key(h)]}
            yg = y[gid]
            start = yg  # regime guards read the regime at the start of the phase
            spk = jnp.zeros((g.size,), dtype=bool)
            for tfn, assigns, events, guard in g.cond_plan:
                (test,) = tfn(t, yg, p[gid], u, dv)
                test = jnp.broadcast_to(test, (g.size,))
                if guard is not None:
                    test = test & (start[guard[0]] == guard[1])
                for col, fn in assigns:  # in order, each seeing the previous ones (as jLEMS)
                    (val,) = fn(t, yg, p[gid], u, dv)
                    yg = _set(yg, col, jnp.where(test, val, yg[col]).astype(yg[col].dtype))
                if "spike" in events:
                    spk = spk | test
            y[gid] = yg
            if g.emits_spikes:
                spikes[gid] = spk
        return y, spikes

    def deliver(self, t, y, p, incoming, lags=None):
        """Apply the OnEvent handlers of the events arriving now:
        ``incoming`` maps (gid, port) -> (N,) bool (``lags``: see
        :func:`.events.deliver`)."""
        return deliver(self, t, y, p, incoming, lags)
