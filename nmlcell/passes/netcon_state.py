"""Per-NetCon state of a NET_RECEIVE, expanded for a synapse's NetCons.

The NMODL importer writes a synapse whose NET_RECEIVE keeps state in its
arguments as template handlers (:mod:`nmlcell.importers.nmodl_netcon`).
Once a network knows the ``n`` NetCons onto a synapse, :func:`expand`
turns them into ordinary IR:

- argument ``y`` of NetCon ``k`` is the state ``y#k`` (its pending
  self-event ``selfev_t#k``/``selfev_flag#k``), set at the start by
  NET_RECEIVE's INITIAL (or from ``y0#k``, the weight vector's value given
  at connect);
- one OnEvent handler, composed once per NetCon (port ``<syn>#k``, as
  every NET_RECEIVE), names the per-NetCon states with a placeholder
  index (``y#@``, left alone by composition); :func:`specialise` then
  gives the handler of port ``<syn>#k`` its own (``<syn>.y#k``). An
  extra weight-vector entry carries the part of the NetCon's delay the
  step rounds off, added to ``t`` (the ``t`` it is given already holds
  the source's exact spike time where the source has one:
  :mod:`nmlcell.lower.events`). Where the new values read each other
  in a cycle (tmgsyn's y and z), one of them is first computed into a
  scratch state ``<name>#new``;
- a pending self-event is a Condition per NetCon, checked after each step
  (``selfev_t#k <= t + dt_half``, NEURON's fixed-step rule for the start of
  the next one) that applies the self-event's NET_RECEIVE with ``t`` its
  time and the NetCon's weight vector: the arguments it reads that are not
  state are per-NetCon parameters ``<arg>#k`` (copies of the weights),
  which :func:`specialise` replaces by the NetCon's own weight parameter
  ``<syn>#k.w<j>`` where its handler declared one (one value, and one
  path for ``jax.grad``).
"""
from __future__ import annotations

import re
from dataclasses import replace

import sympy as sp

from ..ir.expr import sym
from ..ir.mechanism import Assignment, Condition, Input, Mechanism, OnEvent, Parameter, State
from ..ir.units import NONE, Dim
from ..importers.nmodl_events import SCRATCH, simultaneous
from ..importers.nmodl_selfev import EARLY

_MEMO: dict = {}   # (id(mechanism), n) -> (mechanism, expanded)


def _w(j: int) -> sp.Symbol:
    return sp.Symbol(f"__w{j}", real=True)


def has_netcon_state(m: Mechanism) -> bool:
    return any(h.port == "netcon:in" for h in m.on_events)


def _layout(m: Mechanism):
    """(names, the template handlers by port, state args, read-only args)."""
    hs = {h.port: h for h in m.on_events}
    origin = hs["netcon:in"].source.origin
    names = origin[origin.index("(") + 1:-1].split(",")
    state = sorted({int(a.variable[3:]) for h in hs.values() for a in h.assignments if a.variable.startswith("__w")})
    reads = {int(x.name[3:]) for h in hs.values() for a in h.assignments for x in a.expr.free_symbols
             if x.name.startswith("__w")}
    return names, hs, state, sorted(reads - set(state))


def _arg_name(names, j, k):
    if j < len(names):
        return f"{names[j]}#{k}"
    return f"{('selfev_t', 'selfev_flag')[j - len(names)]}#{k}"


PLACE = "@"   # NetCon index of the handler's per-NetCon names until specialise (``act#@``)


def offset_slot(m: Mechanism) -> int:
    """The weight-vector entry that carries the part of a NetCon's delay
    the step rounds off."""
    return len(_layout(m)[0]) + 2


def _rounded_off(delays: tuple, k: int, dt: float) -> float:
    """The part of NetCon ``k``'s delay that the step rounds off."""
    d = float(delays[k]) if k < len(delays) else 0.0
    return d - float(dt) * round(d / float(dt))


def expand_item(it, weights: tuple, dt: float = 0.025, delays: tuple = ()):
    """Inserted ``it`` with NetCons ``weights`` (their weight vectors) and
    ``delays`` (ms): its mechanism expanded when it has per-NetCon state,
    each weight vector padded with the part of its delay the step rounds
    off (``delay - dt*round(delay/dt)``: NET_RECEIVE's ``t`` is the
    event's time, as NEURON's, not the step's), and the
    per-NetCon parameters (initial values, weight copies) set from the
    weight vectors."""
    m = it.mech
    if EARLY in m.state_names:   # self-events (importers/nmodl_selfev): weight, rounded-off delay
        return replace(it, netcons=tuple((float(w[0]) if len(w) else 0.0, _rounded_off(delays, k, dt))
                                         for k, w in enumerate(weights)))
    if not has_netcon_state(m):
        return replace(it, netcons=weights)
    n = len(weights)
    names, hs, state, reads = _layout(m)
    slot = offset_slot(m)
    params = dict(it.params)
    if "netcon:self" in hs:
        params["dt_half"] = 0.5 * float(dt)
    padded = []
    for k, w in enumerate(weights):
        w = list(w[:len(names)]) + [0.0] * (slot - min(len(w), len(names)))
        d = float(delays[k]) if k < len(delays) else 0.0
        padded.append(tuple(w[:slot]) + (d - float(dt) * round(d / float(dt)),))
        for j in state:
            if j < len(names):
                params[f"{names[j]}0#{k}"] = w[j]
        for j in reads:
            params[f"{names[j]}#{k}"] = w[j]
    return replace(it, mech=expand(m, n), netcons=tuple(padded), params=params)


def expand(m: Mechanism, n: int) -> Mechanism:
    """``m`` with its per-NetCon template handlers made for ``n`` NetCons
    (one object per (m, n): compositions key on it)."""
    hit = _MEMO.get((id(m), n))
    if hit is None or hit[0] is not m:
        hit = _MEMO[id(m), n] = (m, _expand(m, n))
        _EXPANDED[id(hit[1])] = hit[1]
    return hit[1]


def _expand(m: Mechanism, n: int) -> Mechanism:
    names, hs, state, reads = _layout(m)
    src = hs["netcon:in"].source
    slot = offset_slot(m)

    def per(k):   # argument symbols of NetCon k
        return {**{_w(j): sym(_arg_name(names, j, k)) for j in state},
                **{_w(j): sym(f"{names[j]}#{k}") for j in reads}}

    def target(var, k):
        return _arg_name(names, int(var[3:]), k) if var.startswith("__w") else var

    scratch: list = []
    # a NetCon's event: one handler, its per-NetCon names with the placeholder index
    # (specialise puts each NetCon's own; read-only weights stay NET_RECEIVE arguments)
    at = {sym("t"): sym("t") + _w(slot)}   # the event's time: the step's plus the rounded-off delay
    ph = {_w(j): sym(_arg_name(names, j, PLACE)) for j in state}
    new = {target(a.variable, PLACE): a.expr.xreplace(at).xreplace(ph) for a in hs["netcon:in"].assignments}
    handler = OnEvent("in", tuple(simultaneous(new)), (), src)
    # scratch states for specialise's ordering (any value of a cycle may need one)
    scratch += [f"{v}{SCRATCH}" for v in new if PLACE not in v]
    scratch += [f"{v.replace('#' + PLACE, f'#{k}')}{SCRATCH}" for v in new if PLACE in v for k in range(n)]
    # INITIAL, per NetCon, after the mechanism's own
    start = list(m.on_start)
    init = {a.variable: a.expr for a in hs["netcon:init"].assignments}
    for k in range(n):
        start0 = {_w(j): sym(f"{names[j]}0#{k}") for j in state if j < len(names)}
        start0.update({_w(j): sym(f"{names[j]}#{k}") for j in reads})
        for j in state:
            e = init.get(f"__w{j}", _w(j) if j < len(names) else sp.Integer(0))
            start.append(Assignment(_arg_name(names, j, k), e.xreplace(start0)))
    # pending self-events: a Condition per NetCon
    conds = list(m.conditions)
    if "netcon:self" in hs:
        for k in range(n):
            te = sym(_arg_name(names, len(names), k))
            ch = {target(a.variable, k): a.expr.xreplace(per(k)) for a in hs["netcon:self"].assignments}
            order = simultaneous(ch)
            scratch += [a.variable for a in order if a.variable.endswith(SCRATCH) and a.variable not in scratch]
            conds.append(Condition(te <= sym("t") + sym("dt_half"), tuple(order), (), src))
    states = list(m.states)
    derivs = dict(m.derivatives)
    exposures = dict(m.exposures)
    params = list(m.parameters)
    for k in range(n):
        for j in state:
            nm = _arg_name(names, j, k)
            dim = Dim(t=1) if j == len(names) else NONE
            desc = (f"NET_RECEIVE argument '{names[j]}' of NetCon {k} (per-NetCon state)" if j < len(names) else
                    f"the pending self-event's {'time' if j == len(names) else 'flag'} of NetCon {k}")
            states.append(State(nm, dim, desc, src))
            derivs[nm] = sp.Integer(0)
            exposures[nm] = (nm, dim)
            if j < len(names):
                params.append(Parameter(f"{names[j]}0#{k}", 0.0, NONE, "",
                                        f"weight[{j}] given to NetCon {k}: '{names[j]}' before NET_RECEIVE's INITIAL"))
        for j in reads:
            params.append(Parameter(f"{names[j]}#{k}", 0.0, NONE, "",
                                    f"weight[{j}] of NetCon {k}, as its self-events and INITIAL read it"))
    for s in scratch:
        states.append(State(s, NONE, "a NET_RECEIVE value computed before the others are assigned", src))
        derivs[s] = sp.Integer(0)
        start.append(Assignment(s, sp.Integer(0)))
    if "netcon:self" in hs and "dt_half" not in {p.name for p in params}:
        params.append(Parameter("dt_half", 0.0125, Dim(t=1), "ms", "half the run's dt (set by the network)"))
    inputs = list(m.inputs)
    if "t" not in {i.name for i in inputs}:
        inputs.append(Input("t", Dim(t=1), "time"))
    others = tuple(h for h in m.on_events if not h.port.startswith("netcon:"))
    return replace(m, states=tuple(states), derivatives=derivs, exposures=exposures, parameters=tuple(params),
                   on_start=tuple(start), conditions=tuple(conds), inputs=tuple(inputs),
                   on_events=others + (handler,))


_EXPANDED: dict = {}   # id(expanded mechanism) -> it
_SPECIAL: dict = {}  # (id(composed mechanism), labels) -> (mechanism, specialised)


def index_slots(items) -> frozenset:
    """The labels of the point processes in ``items`` (Inserted) whose
    mechanism :func:`expand` made."""
    return frozenset(it.label for it in items if _EXPANDED.get(id(it.mech)) is it.mech)


def specialise(m: Mechanism, slots: frozenset) -> Mechanism:
    """A composed mechanism with the handler of NetCon k of each expanded
    synapse (port ``<label>#k``, ``slots``: those labels) given NetCon k's
    own states: a per-NetCon name ``y#@`` (left as it is by composition)
    becomes ``<label>.y#k``. Needed: until then the handler names no
    state of the mechanism."""
    if not slots:
        return m
    key = (id(m), tuple(sorted(slots)))
    hit = _SPECIAL.get(key)
    if hit is not None and hit[0] is m:
        return hit[1]
    states = set(m.state_names)
    out = []
    for h in m.on_events:
        label, _, k = h.port.rpartition("#")
        if label not in slots or not k.isdigit():
            out.append(h)
            continue
        def own(name, k=k, label=label):
            return f"{label}.{name.replace('#' + PLACE, '#' + k)}" if "#" + PLACE in name else name

        subs = {x: sym(own(x.name)) for a in h.assignments for x in a.expr.free_symbols if "#" + PLACE in x.name}
        cur: dict = {}
        for a in h.assignments:   # sequential -> simultaneous (each in terms of the values before)
            cur[sym(own(a.variable))] = a.expr.xreplace(subs).xreplace(cur)
        new = {x.name: e for x, e in cur.items() if not x.name.endswith(SCRATCH) and e != x}
        order = simultaneous(new, {x for x in new if f"{x}{SCRATCH}" in states})
        out.append(replace(h, assignments=tuple(order)) if order is not None else h)
    # a self-event's or INITIAL's copy of a NetCon's weight: the NetCon's own weight
    # parameter where its handler declared one (so jax.grad follows that path too)
    have = {p.name for p in m.parameters}
    copies = {}
    for p in m.parameters:
        got = re.fullmatch(r"weight\[(\d+)\] of NetCon (\d+), as its self-events and INITIAL read it", p.description)
        label = p.name.rsplit(".", 1)[0] if got else None
        if got and label in slots and f"{label}#{got[2]}.w{got[1]}" in have:
            copies[sym(p.name)] = sym(f"{label}#{got[2]}.w{got[1]}")
    conds, start = m.conditions, m.on_start
    if copies:
        conds = tuple(replace(c, test=c.test.xreplace(copies), assignments=tuple(
            Assignment(a.variable, a.expr.xreplace(copies)) for a in c.assignments)) for c in conds)
        start = tuple(Assignment(a.variable, a.expr.xreplace(copies)) for a in start)
    res = replace(m, on_events=tuple(out), conditions=conds, on_start=start)
    _SPECIAL[key] = (m, res)
    return res
