"""NET_RECEIVE lowered: the events of a POINT_PROCESS (a NetCon's event,
the WATCH idiom) and of an ARTIFICIAL_CELL.

ARTIFICIAL_CELL, a cell that lives on events (invlfire's IntervalFire).

Its NET_RECEIVE runs for the self-events it sends itself (``net_send(d,
flag)`` from INITIAL or NET_RECEIVE, ``net_move``). The IR has no event
queue inside a mechanism, so one pending self-event is kept as states:
``selfev_t`` (its time; +inf for none) and ``selfev_flag``. After each
step an OnCondition delivers it when it is due, NEURON's fixed-step rule
(``te <= t + dt/2`` at the start of the next step; ``dt_half`` is set by
the run): NET_RECEIVE's effect for that flag with ``t`` = ``te``, the
next self-event it sends, and a spike where it calls ``net_event``. The
condition is applied three times in a row, so a chain of zero-delay
self-events (INITIAL's ``net_send(0, 3)`` then ``net_send(0, 1)``) runs
within one step. Refused: two self-events
pending at once, WATCH; a NetCon's event (flag 0) is handled by an
OnEvent (see ``_Artificial._external``) where it lowers.
"""
from __future__ import annotations

import sympy as sp

from ..ir.expr import sym
from ..ir.mechanism import Assignment, Condition, Input, Mechanism, Parameter, Source, State
from ..ir.units import NONE, Dim
from ..lower.events import LAG, SPIKE_T
from .nmodl_expr import SPECIAL, plain
from .nmodl_netcon import NEVER

PAT = r"(?i)^\s*NET_RECEIVE\b"
REPEAT = 3  # zero-delay self-events handled within one step


def net_receive_events(b):
    """What the file's NET_RECEIVE adds to its mechanism (an object with
    ``apply(mechanism)``), or None."""
    if b.kind == "artificial_cell":
        return artificial_events(b)
    return point_process_events(b)


def point_process_events(b):
    """NET_RECEIVE of a POINT_PROCESS (:class:`Events`): for a NetCon's
    event (flag 0) an OnEvent handler on port ``in`` whose assignments
    to STATEs (and v) are the block's effect; the first argument (the
    NetCon's weight) is the symbol ``__w0``, further ones ``__w1`` ...,
    which compose replaces by each NetCon's values. The WATCH idiom
    (INITIAL's ``net_send(0, f)``, whose flag-f event arms ``WATCH
    (cond) g``) becomes OnConditions: the flag-g effect when ``cond``
    turns true, checked after each step as NEURON's fixed step checks
    it, and a spike where that branch calls ``net_event``. Other
    self-events (net_send with a delay, or from NET_RECEIVE) are
    refused."""
    pat = r"(?i)^\s*NET_RECEIVE\b"
    init_sends = [(d, f) for ph, d, f, _p in b.nr_sends if ph == "initial"]
    if b.net_receive is None or b.kind != "point_process":
        if init_sends:
            b._unsup("net_send without a lowered NET_RECEIVE", r"\bnet_send\s*\(")
        return None
    if any(p is not sp.true for _ph, _d, f, p in b.nr_sends) or any(f is None for _ph, _d, f, _p in b.nr_sends):
        b._unsup("net_send or net_move under a condition in a POINT_PROCESS (self-events)",
                 r"\bnet_(send|move)\s*\(")
        return None
    ext = b._run_net_receive(0.0)
    if ext is None:
        return None
    assigns, watches, evs, sends = ext
    args0 = dict(b.nr_args)
    if watches or evs:
        b._unsup("WATCH or net_event on a NetCon's event (flag 0)", pat)
        return None
    ev = Events(assigns, b.path, b.text.find(pat)[1])
    # a block reading t takes the per-NetCon path for its one extra entry: the part of the
    # NetCon's delay the step rounds off (NET_RECEIVE's t is the event's time, not the step's)
    reads_t = any(sym("t") in a.expr.free_symbols for a in assigns)
    if args0 or sends or b.nr_initial is not None or reads_t:
        from .nmodl_netcon import per_netcon_handlers

        ev.netcon = per_netcon_handlers(b, assigns, args0, sends)
        if ev.netcon is None:
            return None
    delayed, fired = [], []
    for d, f in init_sends:
        if d != 0:   # a delayed self-event from INITIAL: nmodl_selfev
            delayed.append((d, f, sp.true))
            continue
        arm = b._run_net_receive(float(f))
        if arm is None:
            return None
        a2, w2, e2, s2 = arm
        # NEURON delivers it in finitialize: its assignments (izhi2007b's v = vr) end INITIAL
        start = all(a.variable == "v" or a.variable in b.state_decl for a in a2)
        if (a2 and not start) or e2 or s2 or not w2 or b.nr_args:
            b._unsup(f"INITIAL's net_send(0, {f}) to a NET_RECEIVE branch that does more than WATCH",
                     r"\bnet_send\s*\(")
            return None
        ev.start += list(a2)
        for cond, g in w2:
            fire = b._run_net_receive(g)
            if fire is None:
                return None
            if b.nr_args:
                b._unsup(f"WATCH or net_send in the branch of flag {g:g}", pat)
                return None
            fired.append((g, cond, fire))
    if delayed or any(fire[3] for _g, _c, fire in fired):
        # self-events sent from a WATCH's branch or INITIAL (the integrate-and-fire idiom)
        from .nmodl_selfev import build

        if ev.netcon is not None:
            b._unsup("per-NetCon state (or t read on a NetCon's event) with self-events from WATCH or "
                     "self-event branches", pat)
            return None
        ev.selfev = build(b, delayed, [(cond, fire) for _g, cond, fire in fired], sends, assigns)
        return ev if ev.selfev is not None else None
    const = {str(n) for n in b.constant_names()}
    for g, cond, (a3, w3, e3, s3) in fired:
        pe = sp.Or(*e3) if e3 else sp.false   # net_event under conditions on parameters: per instance
        if w3 or s3 or {x.name for x in pe.free_symbols} - const:
            b._unsup(f"WATCH or net_send in the branch of flag {g:g}", pat)
            return None
        if pe is sp.true or pe is sp.false:
            ev.watches.append((plain(cond), a3, pe is sp.true))
        else:
            ev.watches += [(plain(sp.And(cond, pe)), a3, True), (plain(sp.And(cond, sp.Not(pe))), a3, False)]
    return ev


def artificial_events(b):
    """The :class:`Events`-like object for an ARTIFICIAL_CELL, or
    None (the reasons recorded in ``b.unsupported``)."""
    if b.net_receive is None:
        b._unsup("ARTIFICIAL_CELL without NET_RECEIVE", r"\bARTIFICIAL_CELL\b")
        return None
    if b.breakpoint is not None or b.derivative_blocks:
        b._unsup("ARTIFICIAL_CELL with BREAKPOINT or DERIVATIVE (continuous dynamics)", r"\bBREAKPOINT\b")
        return None
    init = [(d, f, p) for ph, d, f, p in b.nr_sends if ph == "initial"]
    if len(init) > 1 or any(f is None for _d, f, _p in init):
        b._unsup("INITIAL with more than one net_send, or net_move", r"\bnet_(send|move)\s*\(")
        return None
    # a NetCon's event (flag 0); when it cannot be lowered the cell still works as a source
    n0 = len(b.unsupported)
    ext = b._run_net_receive(0.0)
    del b.unsupported[n0:]
    if b.nr_args:   # per-NetCon state in an ARTIFICIAL_CELL: not lowered (still a spike source)
        ext = None
    if ext is not None and (ext[1] or any(not isinstance(f, (sp.Number, type(None))) for _ph, _d, f, _p in ext[3])):
        ext = None
    runs, todo = {}, [float(f) for _d, f, _p in init]
    todo += [float(f) for _ph, _d, f, _p in (ext[3] if ext else ()) if f is not None]
    while todo:
        f = todo.pop()
        if f in runs:
            continue
        if f == 0:
            b._unsup("a self-event with flag 0 (the flag of NetCon events)", r"\bnet_send\s*\(")
            return None
        r = b._run_net_receive(f)
        if r is None:
            return None
        assigns, watches, events, sends = r
        if watches:
            b._unsup("WATCH in an ARTIFICIAL_CELL", r"\bWATCH\b")
            return None
        if b.nr_args or b.nr_initial is not None:
            b._unsup("per-NetCon state (INITIAL in NET_RECEIVE, or an argument assigned) in an ARTIFICIAL_CELL",
                     PAT)
            return None
        for _ph, _d, f2, _p in sends:
            if f2 is None or not isinstance(f2, sp.Number):
                b._unsup("net_move, or net_send with a flag that is not a number, in NET_RECEIVE "
                         "of a self-event", r"\bnet_(send|move)\s*\(")
                return None
            todo.append(float(f2))
        runs[f] = ([Assignment(k, v) for k, v in collapse(assigns).items()], events, sends)
    return _Artificial(b, init, runs, ext)


class _Artificial:
    def __init__(self, b, init, runs, ext=None):
        self.init, self.runs, self.ext = init, runs, ext
        self.src = Source(b.path, b.text.find(PAT)[1], "NET_RECEIVE")
        self.b = b

    def apply(self, m: Mechanism) -> Mechanism | None:
        from dataclasses import replace

        te, fl, spk = sym("selfev_t"), sym("selfev_flag"), sym("spiked")
        t = sym("t")
        at = {t: te}  # NET_RECEIVE sees t = the event's time
        values: dict[str, list] = {}
        next_t, next_f, spiked = [], [], []
        for f, (assigns, events, sends) in self.runs.items():
            is_f = sp.Abs(fl - f) < sp.Float(0.5)
            for a in assigns:
                values.setdefault(a.variable, []).append((a.expr.xreplace(at), is_f))
            # the last net_send taken wins (one pending self-event)
            tt = [(te + d.xreplace(at), p.xreplace(at)) for _ph, d, _f, p in reversed(sends)]
            ff = [(sp.Float(float(f2)), p.xreplace(at)) for _ph, _d, f2, p in reversed(sends)]
            next_t.append((sp.Piecewise(*tt, (NEVER, True)) if tt else NEVER, is_f))
            next_f.append((sp.Piecewise(*ff, (sp.Float(0.0), True)) if ff else sp.Float(0.0), is_f))
            if events:
                spiked.append(sp.And(is_f, sp.Or(*[p.xreplace(at) for p in events])))
        new = {x: sp.Piecewise(*pieces, (sym(x), True)) for x, pieces in values.items()}
        if any(x.name.startswith("__w") for e in new.values() for x in e.free_symbols) or \
                any(x.name.startswith("__w") for pc in next_t for x in pc[0].free_symbols):
            self.b._unsup("a self-event's NET_RECEIVE reads the weight (NetCon events are not supported)", PAT)
            return replace(m, unsupported=tuple(self.b.unsupported))
        new["selfev_t"] = sp.Piecewise(*next_t, (NEVER, True))
        new["selfev_flag"] = sp.Piecewise(*next_f, (sp.Float(0.0), True))
        new["spiked"] = sp.Piecewise((sp.Integer(1), sp.Or(spk > sp.Float(0.5), *spiked)), (sp.Integer(0), True))
        if spiked:   # the spike's exact time less the step's, and itself (lower/events.py)
            new[LAG] = sp.Piecewise((te - t, sp.Or(*spiked)), (sym(LAG), True))
            new[SPIKE_T] = sp.Piecewise((te, sp.Or(*spiked)), (sym(SPIKE_T), True))
        order = simultaneous(new)
        due = te <= t + sym("dt_half")
        conds = tuple(Condition(due, tuple(order), (), self.src) for _ in range(REPEAT))
        conds += (Condition(spk > sp.Float(0.5), (Assignment("spiked", sp.Integer(0)),), ("spike",), self.src),)
        (d0, f0, p0), = self.init or [(NEVER, 0.0, sp.true)]
        start = (Assignment("selfev_t", sp.Piecewise((d0.xreplace({t: sp.Integer(0)}), p0), (NEVER, True))),
                 Assignment("selfev_flag", sp.Float(float(f0))), Assignment("spiked", sp.Integer(0)),
                 Assignment(LAG, sp.Integer(0)), Assignment(SPIKE_T, sp.Integer(0)))
        ms = Dim(t=1)
        states = (State("selfev_t", ms, "time of the pending self-event (net_send)", self.src),
                  State("selfev_flag", NONE, "its flag", self.src),
                  State("spiked", NONE, "1 when NET_RECEIVE called net_event this step", self.src),
                  State(LAG, ms, "the latest spike's time less its step's end (ms)", self.src),
                  State(SPIKE_T, ms, "the latest spike's time (ms): net_event's t", self.src))
        external = self._external()
        states += tuple(scratch_states(list(order) + [a for h in external for a in h.assignments],
                                       {x.name for x in m.states}, self.src))
        exposures = dict(m.exposures)
        for s in states:
            exposures[s.name] = (s.name, s.dim)
        derivs = dict(m.derivatives, **{s.name: sp.Integer(0) for s in states})
        inputs = m.inputs + tuple(Input("t", ms, "time") for _ in [0] if "t" not in {i.name for i in m.inputs})
        params = m.parameters + (Parameter("dt_half", 0.0125, ms, "ms", "half the run's dt (set by the run)"),)
        return replace(m, states=m.states + states, derivatives=derivs, on_start=m.on_start + start,
                       conditions=conds, exposures=exposures, inputs=inputs, parameters=params,
                       on_events=external)

    def _external(self) -> tuple:
        """The handler of a NetCon's event (port ``in``, weights ``__w<j>``).
        It runs at the start of the step before the one NEURON delivers it
        in (the network shortens the delay by dt; an artificial cell does
        not change during a step), with ``t`` the step's end, so that a
        spike it emits (``spiked``) leaves on NEURON's step. ``net_send``
        and ``net_move`` replace the pending self-event."""
        if self.ext is None:
            return ()
        from ..ir.mechanism import OnEvent

        assigns, _w, events, sends = self.ext
        t, te, fl, spk = sym("t"), sym("selfev_t"), sym("selfev_flag"), sym("spiked")
        at = {t: t + 2 * sym("dt_half")}
        new = {k: v.xreplace(at) for k, v in collapse(assigns).items()}
        tt = [(at[t] + d.xreplace(at), p.xreplace(at)) for _ph, d, _f, p in reversed(sends)]
        ff = [(fl if f is None else sp.Float(float(f)), p.xreplace(at)) for _ph, _d, f, p in reversed(sends)]
        if tt:
            new["selfev_t"] = sp.Piecewise(*tt, (te, True))
            new["selfev_flag"] = sp.Piecewise(*ff, (fl, True))
        if events:
            new["spiked"] = sp.Piecewise((sp.Integer(1), sp.Or(spk > sp.Float(0.5), *[p.xreplace(at) for p in events])),
                                         (sp.Integer(0), True))
            # a spike on a NetCon's event: at the event's time (t + dt: the event's exact time where the
            # network hands it over, lower/events.py; the step's end from a cell's threshold crossing)
            fired = sp.Or(*[p.xreplace(at) for p in events])
            new[LAG] = sp.Piecewise((sp.Integer(0), fired), (sym(LAG), True))
            new[SPIKE_T] = sp.Piecewise((at[t], fired), (sym(SPIKE_T), True))
        order = simultaneous(new)
        return (OnEvent("in", tuple(order), (), self.src),)


def simultaneous(new: dict, allowed=None):
    """Assignments applied one after another that give the simultaneous
    result (each value in ``new`` in terms of the values before): a
    variable another assignment reads is assigned after it; where they
    read each other in a cycle (IntFire1's ``m`` and ``refractory``, each
    updated under a test of the other), one of the cycle's new values goes
    to a scratch variable ``<name>#new`` first and is copied at the end
    (:func:`scratch_states` declares them). ``allowed``: the names that may
    have one (None: any); None when no allowed one breaks a cycle."""
    order, todo, later = [], dict(new), []
    while todo:
        ready = [n for n in todo if not any(sym(n) in todo[m].free_symbols for m in todo if m != n)]
        if not ready:
            pick = next((n for n in todo if allowed is None or n in allowed), None)
            if pick is None:
                return None
            order.append(Assignment(f"{pick}{SCRATCH}", todo.pop(pick)))
            later.append(pick)
            continue
        for n in ready:
            order.append(Assignment(n, todo.pop(n)))
    return order + [Assignment(x, sym(f"{x}{SCRATCH}")) for x in later]


SCRATCH = "#new"


def collapse(assigns) -> dict:
    """The simultaneous form ({variable: value in terms of the values
    before}) of assignments applied in order (:func:`simultaneous`'s
    output, scratch variables substituted away)."""
    env: dict = {}
    for a in assigns:
        env[a.variable] = a.expr.xreplace({sym(k): v for k, v in env.items()})
    return {k: v for k, v in env.items() if not k.endswith(SCRATCH)}


def scratch_states(assigns, have, src) -> list:
    """States (constant between events) for the scratch variables that
    ``assigns`` write and ``have`` (names) lacks."""
    out = []
    for a in assigns:
        if a.variable.endswith(SCRATCH) and a.variable not in have and a.variable not in {s.name for s in out}:
            out.append(State(a.variable, NONE, "a NET_RECEIVE value computed before the others are assigned", src))
    return out


def arm_watch(w: str, cond) -> Assignment:
    """The INITIAL value of a WATCH's state ``w``: NEURON arms a WATCH with
    its condition's value, so one already true does not fire (measured:
    WATCH (v > -70) armed at v_init -65 never fires, at -75 fires once)."""
    return Assignment(w, sp.Piecewise((sp.Integer(1), cond), (sp.Integer(0), True)))


class Events:
    """What NET_RECEIVE adds to a point process: the handler of a
    NetCon's event and the armed WATCHes (condition, assignments, whether
    it calls net_event)."""

    def __init__(self, assigns, path, line):
        self.assigns, self.watches, self.src = assigns, [], Source(path, line, "NET_RECEIVE")
        self.netcon = None   # per-NetCon state: the template handlers of nmodl_netcon (replace ``in``'s)
        self.start = []      # assignments of INITIAL's zero-delay self-event (after INITIAL)
        self.selfev = None   # self-events from WATCH/self-event branches (nmodl_selfev.SelfEvents)

    def apply(self, m: Mechanism) -> Mechanism:
        from dataclasses import replace

        from ..ir.mechanism import Condition, OnEvent
        from ..ir.units import NONE as _NONE

        on_events = (OnEvent("in", tuple(self.assigns), (), self.src),) if self.assigns else ()
        if self.netcon is not None:
            on_events = self.netcon
        states, conds, derivs, start = list(m.states), [], dict(m.derivatives), list(m.on_start) + self.start
        fires = []
        for k, (cond, assigns, spike) in enumerate(self.watches):
            w = f"watch{k}"
            states.append(State(w, _NONE, "1 while the WATCH condition holds (NEURON's WatchCondition flag)",
                                self.src))
            derivs[w] = sp.Integer(0)
            start.append(arm_watch(w, cond))
            ws = sym(w)
            if len(self.watches) > 1:   # NEURON checks every WATCH before it delivers their events
                fw = f"watchfire{k}"
                states.append(State(fw, _NONE, "1 when the WATCH turned true, its event not delivered yet",
                                    self.src))
                derivs[fw] = sp.Integer(0)
                start.append(Assignment(fw, sp.Integer(0)))
                conds.append(Condition(sp.And(cond, ws < sp.Float(0.5)),
                                       (Assignment(w, sp.Integer(1)), Assignment(fw, sp.Integer(1))), (), self.src))
                fires.append(Condition(sym(fw) > sp.Float(0.5), tuple(assigns) + (Assignment(fw, sp.Integer(0)),),
                                       ("spike",) if spike else (), self.src))
            else:
                conds.append(Condition(sp.And(cond, ws < sp.Float(0.5)),
                                       tuple(assigns) + (Assignment(w, sp.Integer(1)),),
                                       ("spike",) if spike else (), self.src))
            conds.append(Condition(sp.And(sp.Not(cond), ws > sp.Float(0.5)), (Assignment(w, sp.Integer(0)),), (),
                                   self.src))
        conds += fires
        written = [a for h in on_events for a in h.assignments] + [a for c in conds for a in c.assignments]
        for st in scratch_states(written, {x.name for x in states}, self.src):
            states.append(st)
            derivs[st.name] = sp.Integer(0)
        used = {x.name for h in on_events for a in h.assignments for x in a.expr.free_symbols}
        used |= {x.name for c in conds for x in c.test.free_symbols}
        used |= {x.name for c in conds for a in c.assignments for x in a.expr.free_symbols}
        have = {i.name for i in m.inputs}
        extra = tuple(Input(n, dim, kind) for n, (dim, kind, _u) in SPECIAL.items() if n in used and n not in have)
        exposures = dict(m.exposures)
        for s in states[len(m.states):]:
            exposures[s.name] = (s.name, s.dim)
        m = replace(m, on_events=on_events, conditions=tuple(m.conditions) + tuple(conds), states=tuple(states),
                    derivatives=derivs, on_start=tuple(start), inputs=m.inputs + extra, exposures=exposures)
        return m if self.selfev is None else self.selfev.apply(m)
