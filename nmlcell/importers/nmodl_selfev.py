"""Self-events of a POINT_PROCESS: the integrate-and-fire idiom of
published models (pyNN's AdExpIF and ResetRefrac): INITIAL's
``net_send(0, 4)`` arms ``WATCH (v > thresh) 1``; the flag-1 branch sets
``v``, jumps an adaptation state, calls ``net_event`` and
``net_send(spikewidth, 2)``; flag 2 resets ``v`` and sends
``net_send(trefrac - spikewidth, 3)`` under an IF; flag 3 ends the
refractory period.

The IR has no event queue inside a mechanism. Every flag such a block
sends itself is a constant, so each gets one pending slot, a state
``selfev_t_<flag>`` (its time; NEVER for none). That is exact as long as
no ``net_send`` of a flag finds its slot still pending (NEURON would
then hold two events); when one does, or when more self-events fall due
within one step than the passes below deliver, or one falls due before
the first step, the state ``selfev_lost`` becomes nonzero (it stays so)
and the run reports it (:func:`check_final`): never a silently dropped
event.

After each step (time ``t``, NEURON's start of the next step) the
Conditions run in NEURON's order (nrn_fixed_step): events with
``te <= t`` in time order (NEURON delivers them at the end of the step),
the WATCHes (a WATCH that turns true runs its flag's branch at once,
with ``t`` the step's time, as NEURON's WatchCondition's event at ``t``),
then events with ``te <= t + dt/2`` in time order. Each pass delivers
the earliest due slot (ties: the smaller flag), with ``t`` in the branch
= ``te``; as many passes as there are slots. ``dt/2`` is half the time
since the previous Conditions (a state ``selfev_tlast``), so no run
parameter is needed.
"""
from __future__ import annotations

import sympy as sp

from ..ir.expr import sym
from ..ir.mechanism import Assignment, Condition, Mechanism, Source, State
from ..ir.units import NONE, Dim
from ..lower.events import LAG
from .nmodl_expr import SPECIAL, plain
from .nmodl_netcon import NEVER

PAT = r"(?i)^\s*NET_RECEIVE\b"
LOST = "selfev_lost"
TLAST = "selfev_tlast"
# codes of selfev_lost (the largest one seen is kept)
OVERWRITE, TOO_MANY, LATE, TWO_NETCONS = 1, 2, 3, 4
NETEV_N, NETEV_W = "netev_n", "netev_w"   # + "b"/"a" (before/after the step's end)
EARLY = NETEV_N + "b"   # a point process with this state takes its NetCon events a step early
MESSAGES = {OVERWRITE: "a net_send found the pending self-event of its flag not yet delivered "
                       "(NEURON would hold both; nmlcell keeps one per flag)",
            TOO_MANY: "more self-events fell due within one step than nmlcell delivers in one",
            LATE: "a self-event fell due before the first step (NEURON delivers it at initialisation)",
            TWO_NETCONS: "two NetCon events arrived in one step and their NET_RECEIVE effects do not add up"}


def _at_least(x, code):
    return sp.Piecewise((sp.Integer(code), x < code), (x, True))


def slot(f: float) -> str:
    return "selfev_t_" + f"{f:g}".replace(".", "p").replace("-", "m")


class SelfEvents:
    """The Conditions, states and INITIAL assignments of a point process's
    self-events (``apply``); built by :func:`build`."""

    def __init__(self, b, flags, delayed, watches, runs, netcon=()):
        self.b, self.flags = b, flags
        self.netcon = tuple(netcon)   # a NetCon's event (flag 0): its assignments (weight ``__w0``)
        from .nmodl_events import collapse

        self.additive = not self.netcon or _additive(collapse(self.netcon), sp.Symbol("__w0", real=True))
        self.delayed, self.watches, self.runs = delayed, watches, runs
        self.src = Source(b.path, b.text.find(PAT)[1], "NET_RECEIVE")
        self.lag = any(ev for _a, ev, _s in runs.values())

    # -- the effect of one branch, simultaneous form --------------------------------
    def _effect(self, assigns, events, sends, te, f=None):
        """{variable: new value in terms of the values before} of a branch
        run at time ``te`` (``f``: the slot it is delivered from, cleared)."""
        from .nmodl_events import collapse

        t = sym("t")
        at = {t: te}
        new = {k: v.xreplace(at) for k, v in collapse(assigns).items()}
        cur = {g: sym(slot(g)) for g in self.flags}
        if f is not None:
            cur[f] = NEVER
        lost = sym(LOST)
        for _ph, d, g, p in sends:
            g = float(g)
            p2 = p.xreplace(at)
            old = cur[g]
            over = sp.And(p2, old < NEVER / 2)
            if over is not sp.false:
                lost = sp.Piecewise((_at_least(lost, OVERWRITE), over), (lost, True))
            cur[g] = sp.Piecewise((te + d.xreplace(at), p2), (old, True)) if p2 is not sp.true else te + d.xreplace(at)
        for g in self.flags:
            if cur[g] != sym(slot(g)):
                new[slot(g)] = cur[g]
        if lost != sym(LOST):
            new[LOST] = lost
        if self.lag and events:
            new[LAG] = te - t
        return new

    def _ordered(self, new):
        from .nmodl_events import simultaneous

        return tuple(simultaneous(new))

    def _passes(self, limit):
        """One pass per slot: each Condition delivers its slot when it is
        due (``te <= limit``) and the earliest (ties: the smaller flag)."""
        out = []
        for _ in self.flags:
            for k, f in enumerate(self.flags):
                te = sym(slot(f))
                first = [te < sym(slot(g)) if j < k else te <= sym(slot(g))
                         for j, g in enumerate(self.flags) if g != f]
                assigns, events, sends = self.runs[f]
                new = self._effect(assigns, events, sends, te, f)
                out.append(Condition(sp.And(te <= limit, *first), self._ordered(new),
                                     ("spike",) if events else (), self.src))
        return out

    def _watch_conds(self, states, t):
        """The Conditions of the WATCHes (``states``: a list to receive
        their ``watch<k>`` states)."""
        conds = []
        for k, (cond, assigns, events, sends) in enumerate(self.watches):
            w = f"watch{k}"
            states.append(State(w, NONE, "1 while the WATCH condition holds (NEURON's WatchCondition flag)",
                                self.src))
            new = self._effect(assigns, events, sends, t)   # (a spike's LAG: t - t, 0)
            new[w] = sp.Integer(1)
            ws = sym(w)
            conds.append(Condition(sp.And(cond, ws < sp.Float(0.5)), self._ordered(new),
                                   ("spike",) if events else (), self.src))
            conds.append(Condition(sp.And(sp.Not(cond), ws > sp.Float(0.5)), (Assignment(w, sp.Integer(0)),), (),
                                   self.src))
        return conds

    def _netcon_cond(self, which):
        """The NetCon events (``which``: "b", those NEURON delivers at the
        end of the step, ``te <= t``; "a", at the start of the next,
        after its WATCH check) that the network delivered a step early
        into ``netev_n<which>``/``netev_w<which>``: NET_RECEIVE's flag-0
        effect with their summed weight."""
        from .nmodl_events import collapse

        w = sp.Symbol("__w0", real=True)
        n, ws = sym(NETEV_N + which), sym(NETEV_W + which)
        new0 = collapse(self.netcon)
        new = {x: e.xreplace({w: ws}) for x, e in new0.items()}
        if not self.additive:
            new[LOST] = sp.Piecewise((_at_least(sym(LOST), TWO_NETCONS), n > sp.Float(1.5)), (sym(LOST), True))
        new[NETEV_N + which] = sp.Integer(0)
        new[NETEV_W + which] = sp.Integer(0)
        return Condition(n > sp.Float(0.5), self._ordered(new), (), self.src)

    def handler(self):
        """The OnEvent of port ``in``, run a step early (the network
        shortens the delay by dt): count the event and add its weight, as
        delivered at the end of the step (its time ``te <= t``) or at the
        start of the next. ``t + __w1`` is ``te - dt``: the step's time
        (plus a NetStim's lag) and the part of the delay the step rounds
        off, which ``netcon_state.expand_item`` puts in ``__w1``."""
        from ..ir.mechanism import OnEvent

        w0, w1 = sp.Symbol("__w0", real=True), sp.Symbol("__w1", real=True)
        before = sp.Piecewise((sp.Integer(1), sym("t") + w1 <= sym(TLAST)), (sp.Integer(0), True))
        after = 1 - before
        return OnEvent("in", (Assignment(NETEV_N + "b", sym(NETEV_N + "b") + before),
                              Assignment(NETEV_W + "b", sym(NETEV_W + "b") + before * w0),
                              Assignment(NETEV_N + "a", sym(NETEV_N + "a") + after),
                              Assignment(NETEV_W + "a", sym(NETEV_W + "a") + after * w0)), (), self.src)

    def apply(self, m: Mechanism) -> Mechanism:
        from dataclasses import replace

        from .nmodl_events import arm_watch

        t, tl = sym("t"), sym(TLAST)
        half = (t - tl) / 2
        lost = sym(LOST)
        conds = []
        # due at or before the previous Conditions' dt/2: late (INITIAL's net_send with a small delay)
        if self.delayed:   # (later steps: a slot left due is caught at the end of the previous one)
            late = sp.Or(*[sym(slot(f)) <= tl + sp.Float(0.999) * half for f in self.flags])
            conds.append(Condition(late, (Assignment(LOST, _at_least(lost, LATE)),), (), self.src))
        conds += self._passes(t)
        states = []
        if self.netcon:   # NetCon events of te <= t, delivered by NEURON at the end of the step
            conds.append(self._netcon_cond("b"))
        conds += self._watch_conds(states, t)
        if self.netcon:   # those of te > t, at the start of the next after its WATCH check
            conds.append(self._netcon_cond("a"))
        conds += self._passes(t + half)
        left = sp.Or(*[sym(slot(f)) <= t + half for f in self.flags])
        conds.append(Condition(sp.true, (Assignment(LOST, sp.Piecewise((_at_least(lost, TOO_MANY), left), (lost, True))),
                                         Assignment(TLAST, t)), (), self.src))

        ms = Dim(t=1)
        start = [arm_watch(f"watch{k}", cond) for k, (cond, *_r) in enumerate(self.watches)]
        for f in self.flags:
            d0 = [(d.xreplace({t: sp.Integer(0)}), p) for d, g, p in self.delayed if float(g) == f]
            start.append(Assignment(slot(f), sp.Piecewise(*d0, (NEVER, True)) if d0 else NEVER))
            states.append(State(slot(f), ms, f"time of the pending self-event of flag {f:g} (net_send)", self.src))
        states.append(State(LOST, NONE, "nonzero when a self-event could not be kept exactly (see selfev_lost)",
                            self.src))
        states.append(State(TLAST, ms, "time of the previous event check (ms)", self.src))
        start += [Assignment(LOST, sp.Integer(0)), Assignment(TLAST, sp.Integer(0))]
        if self.netcon:
            for x, when in (("b", "at or before"), ("a", "after")):
                states.append(State(NETEV_N + x, NONE, f"NetCon events due {when} this step's end", self.src))
                states.append(State(NETEV_W + x, NONE, "their summed weight", self.src))
                start += [Assignment(NETEV_N + x, sp.Integer(0)), Assignment(NETEV_W + x, sp.Integer(0))]
        if self.lag:
            states.append(State(LAG, ms, "the latest spike's time less its step's end (ms)", self.src))
            start.append(Assignment(LAG, sp.Integer(0)))
        from .nmodl_events import scratch_states

        written = [a for c in conds for a in c.assignments]
        have = {x.name for x in m.states} | {x.name for x in states}
        states += scratch_states(written, have, self.src)
        derivs = dict(m.derivatives, **{s.name: sp.Integer(0) for s in states})
        exposures = dict(m.exposures)
        for s in states:
            exposures[s.name] = (s.name, s.dim)
        used = {x.name for c in conds for x in c.test.free_symbols}
        used |= {x.name for c in conds for a in c.assignments for x in a.expr.free_symbols}
        from ..ir.mechanism import Input

        have_in = {i.name for i in m.inputs}
        extra = tuple(Input(n, dim, kind) for n, (dim, kind, _u) in SPECIAL.items() if n in used and n not in have_in)
        on_events = (self.handler(),) if self.netcon else m.on_events
        return replace(m, conditions=tuple(m.conditions) + tuple(conds), states=m.states + tuple(states),
                       on_events=on_events,
                       derivatives=derivs, on_start=m.on_start + tuple(start), inputs=m.inputs + extra,
                       exposures=exposures)


def _additive(new0: dict, w) -> bool:
    """Whether two NetCon events applied one after the other equal one
    with the summed weight (``v = v + weight``)."""
    a, c = sp.Symbol("__wa", real=True), sp.Symbol("__wb", real=True)
    first = {x: e.xreplace({w: a}) for x, e in new0.items()}
    try:
        for x, e in new0.items():
            two = e.xreplace({w: c, **{sym(y): v for y, v in first.items()}})
            if sp.simplify(sp.piecewise_fold(two - e.xreplace({w: a + c}))) != 0:
                return False
    except Exception:   # noqa: BLE001 (sympy may fail to decide: then checked at run time)
        return False
    return True


def build(b, delayed, watches, ext_sends, netcon=()):
    """The :class:`SelfEvents` of a point process, or None (the reasons
    recorded in ``b.unsupported``). ``delayed``: INITIAL's ``net_send(d,
    f)`` with ``d`` not 0, as (d, f, condition); ``watches``: (condition,
    its branch's run) of the armed WATCHes; ``ext_sends``: the sends of a
    NetCon's event (flag 0)."""
    if ext_sends:
        b._unsup("net_send on a NetCon's event (flag 0) in a point process that also sends itself "
                 "self-events from WATCH or self-event branches", r"\bnet_send\s*\(")
        return None
    runs, todo = {}, []
    ws = []
    for cond, (a, w, e, s) in watches:
        if w:
            b._unsup("WATCH in the branch a WATCH's event runs (re-arming)", r"\bWATCH\b")
            return None
        ws.append((plain(cond), a, e, s))
        todo += list(s)
    for d, f, p in delayed:
        todo.append(("initial", d, f, p))
    while todo:
        _ph, _d, f, _p = todo.pop(0)
        if f is None or not isinstance(f, sp.Number):
            b._unsup("net_move, or net_send with a flag that is not a constant, in a point process",
                     r"\bnet_(send|move)\s*\(")
            return None
        f = float(f)
        if f == 0:
            b._unsup("a self-event with flag 0 (the flag of NetCon events)", r"\bnet_send\s*\(")
            return None
        if f in runs:
            continue
        r = b._run_net_receive(f)
        if r is None:
            return None
        a, w, e, s = r
        if w:
            b._unsup(f"WATCH in the branch of the self-event of flag {f:g} (re-arming)", r"\bWATCH\b")
            return None
        if b.nr_args or b.nr_initial is not None:
            b._unsup("per-NetCon state (INITIAL in NET_RECEIVE, or an argument assigned) with self-events "
                     "from WATCH or self-event branches", PAT)
            return None
        runs[f] = (a, e, s)
        todo += list(s)
    for _c, _a, e, _s in ws:
        if any(p is not sp.true for p in e):
            b._unsup("net_event under a condition in a self-event's branch", r"\bnet_event\s*\(")
            return None
    for f, (a, e, s) in runs.items():
        if any(p is not sp.true for p in e):
            b._unsup("net_event under a condition in a self-event's branch", r"\bnet_event\s*\(")
            return None
        reads = {x.name for x in a_free(a, s)}
        if any(n.startswith("__w") for n in reads):
            b._unsup(f"the self-event of flag {f:g} reads the NetCon weight (a self-event has none of its own)",
                     PAT)
            return None
    for _c, a, _e, s in ws:
        if any(n.startswith("__w") for n in {x.name for x in a_free(a, s)}):
            b._unsup("a WATCH's branch reads the NetCon weight", PAT)
            return None
    flags = sorted(runs)
    if any(x.name == "t" or (x.name.startswith("__w") and x.name != "__w0") for x in a_free(netcon, ())):
        b._unsup("a NetCon's event (flag 0) reading t or a weight after the first, in a point process with "
                 "self-events from WATCH or self-event branches", PAT)
        return None
    return SelfEvents(b, flags, [(d, f, p) for d, f, p in delayed], ws, runs, netcon)


def a_free(assigns, sends):
    out = set()
    for x in assigns:
        out |= x.expr.free_symbols
    for _ph, d, _f, p in sends:
        out |= d.free_symbols | p.free_symbols
    return out


def check_final(lowered, final):
    """Raise :class:`SimulationError` when a point process's
    ``selfev_lost`` is nonzero at the end of a run (``final``: the
    final state, {group: columns})."""
    import numpy as np

    from ..errors import SimulationError

    for gid, g in lowered.groups.items():
        names = list(g.kernel.state_names)
        for col, n in enumerate(names):
            if not n.split(".")[-1].endswith(LOST):
                continue
            a = np.asarray(final[gid][col]).reshape(-1)
            bad = np.nonzero(a > 0.5)[0]
            if bad.size:
                code = int(round(float(a[bad[0]])))
                raise SimulationError(f"{gid}[{int(bad[0])}]: {n}: {MESSAGES.get(code, 'self-event lost')}; "
                                      f"the run does not reproduce NEURON's event queue there")


def cn_cable_refusal(system):
    """Why ``crank_nicolson`` (NEURON's ``secondorder = 2``) cannot advance
    a cable whose point processes have self-events, or None: measured
    against NEURON 9 (RefracLIF at soma(0.5) of a 3-compartment soma with
    a dendrite), the reset at the end of the spike width (``v = vreset``,
    the clamp conductance) was 67.5 mV off at the sample after it and the
    spike count 671 instead of NEURON's 20 in 40 ms. The other cable
    steps take v from the same Hines solve as ``staggered`` (measured for
    ``backward_euler``: the same traces as NEURON's secondorder = 0 on that
    cell, 3.4e-12 mV outside the event samples)."""
    from pathlib import Path

    for gid, g in (getattr(system, "groups", None) or {}).items():
        mech = g.mech
        if not any(n.split(".")[-1] == TLAST for n in mech.state_names):
            continue
        src = next((c.source for c in mech.conditions if c.source is not None and c.source.file), None)
        where = f"{Path(src.file).name}:{src.line}: " if src is not None else ""
        return (f"{where}group '{gid}': a point process's self-events (WATCH, net_send) on a cell of more "
                f"than one compartment are not applied by crank_nicolson as "
                f"NEURON's secondorder = 2 applies them; use staggered (NEURON's default) or backward_euler")
    return None
