"""NET_RECEIVE with per-NetCon state: the arguments after the weight that
the block assigns (tmgsyn's ``y, z, u, tsyn``), its ``INITIAL`` block, and
a self-event sent on a NetCon's event (the Destexhe kinetic synapse's
``net_send(Cdur, nspike)``).

NEURON keeps those arguments in each NetCon's weight vector: a NetCon's
event reads and writes its own, INITIAL sets them for each NetCon at
``finitialize`` (``t`` = 0), and a self-event is delivered with the weight
vector of the NetCon whose event sent it. The importer does not know how
many NetCons a synapse will have, so it writes three template handlers
whose assignments are *simultaneous* (every value in terms of those
before the event); :mod:`nmlcell.passes.netcon_state` expands them once
the network knows its NetCons. In a template, ``__w<j>`` is argument
``j`` (its value before the event; as a target, its new value), and for
a self-event ``__w<S>`` / ``__w<S+1>`` (S = the number of arguments) are
the pending self-event's time and flag:

- port ``netcon:in``: a NetCon's event (flag 0);
- port ``netcon:init``: NET_RECEIVE's INITIAL (targets ``__w<j>``;
  a ``__w<j>`` it reads is the weight vector's value given at connect);
- port ``netcon:self``: the self-event (``t`` is ``__w<S>``, ``flag``
  ``__w<S+1>``); absent without ``net_send``.

The argument names are in the handlers' ``source.origin``
(``NET_RECEIVE(w,y,z,u,tsyn)``).

One pending self-event per NetCon (the last one sent). A ``net_send(d, n)``
on a NetCon's event is lowered only when that cannot differ from NEURON's
queue: ``d`` a parameter, ``n`` an argument the same event increments by a
positive constant (a counter), and a self-event whose flag is not the
counter's current value changing nothing (the ``if (flag == nspike)``
guard): an older event NEURON would still deliver does nothing there.
Anything else is refused with the NET_RECEIVE line.
"""
from __future__ import annotations

import re

import sympy as sp

from ..ir.expr import sym
from ..ir.mechanism import Assignment, OnEvent, Source
from .nmodl_expr import Frame, plain
from .nmodl_parse import node_name

PAT = r"(?i)^\s*NET_RECEIVE\b"
NEVER = sp.Float(1e300)   # the time of no pending self-event (finite: the run's NaN/inf check)


def _w(j: int) -> sp.Symbol:
    return sp.Symbol(f"__w{j}", real=True)


def per_netcon_handlers(b, assigns, args0: dict, sends: list):
    """The template handlers (a tuple of OnEvent) of a POINT_PROCESS's
    NET_RECEIVE with per-NetCon state, or None (reasons recorded in
    ``b.unsupported``). ``assigns``/``args0``/``sends``: its run for a
    NetCon's event (flag 0)."""
    names = [node_name(p) for p in b.net_receive.parameters]
    nargs = len(names)
    line = b.text.find(PAT)[1]
    src = Source(b.path, line, f"NET_RECEIVE({','.join(names)})")
    init = _initial(b, names) if b.nr_initial is not None else {}
    if init is None:
        return None
    from .nmodl_events import collapse

    main = collapse(assigns)
    main.update({f"__w{j}": v for j, v in args0.items()})
    handlers = []
    if sends:
        got = _self_event(b, names, args0, sends)
        if got is None:
            return None
        (d, f), selfev = got
        main[f"__w{nargs}"] = sym("t") + d
        main[f"__w{nargs + 1}"] = f
        init = {**init, f"__w{nargs}": NEVER, f"__w{nargs + 1}": sp.Integer(0)}
        handlers.append(OnEvent("netcon:self", tuple(Assignment(k, v) for k, v in selfev.items()), (), src))
    handlers.insert(0, OnEvent("netcon:init", tuple(Assignment(k, v) for k, v in init.items()), (), src))
    handlers.insert(0, OnEvent("netcon:in", tuple(Assignment(k, v) for k, v in main.items()), (), src))
    return tuple(handlers)


def _initial(b, names):
    """NET_RECEIVE's INITIAL: {"__w<j>": value} for the arguments it sets
    (``t`` = 0), or None when it does more."""
    env0 = b.base_env()
    env = dict(env0)
    env["t"] = sp.Integer(0)
    locals_ = {a: _w(k) for k, a in enumerate(names)}
    frame = Frame(dict(locals_))
    n0, s0 = len(b.unsupported), len(b.nr_sends)
    b.phase, b.block = "netreceive", ("NET_RECEIVE", PAT)
    b._stmts(b.nr_initial.statement_block.statements, env, frame, depth=1)
    if len(b.unsupported) > n0:
        return None
    if len(b.nr_sends) > s0:
        b._unsup("net_send in NET_RECEIVE's INITIAL", r"\bnet_send\s*\(")
        return None
    for n, v in env.items():
        if n in env0 and n != "t" and v != env0[n]:
            b._unsup(f"NET_RECEIVE's INITIAL assigns '{n}', which is not an argument (a per-NetCon "
                     f"INITIAL may set only the NetCon's own arguments)", rf"\b{re.escape(n)}\s*=", 0, PAT)
            return None
    if frame.locals.get(names[0]) != locals_[names[0]]:
        b._unsup(f"NET_RECEIVE's INITIAL assigns the weight '{names[0]}'", rf"\b{re.escape(names[0])}\s*=", 0, PAT)
        return None
    return {f"__w{k}": plain(frame.locals[a]) for k, a in enumerate(names)
            if k and frame.locals.get(a) != locals_[a]}


def _self_event(b, names, args0, sends):
    """((delay, flag), the self-event's template assignments) for the one
    lowered pattern (see the module docstring), or None."""
    nargs = len(names)
    refuse = ("net_send on a NetCon's event: only net_send(d, n), with d a parameter and n an "
              "argument the event increments (a counter) that the self-event checks (flag == n), "
              "is lowered (one pending self-event per NetCon, the last one sent)")
    if len(sends) != 1:
        b._unsup(refuse + f"; this event can send {len(sends)}", r"\bnet_(send|move)\s*\(", 0, PAT)
        return None
    _ph, d, f, path = sends[0]
    params = set(b.param_names)
    if f is None or path is not sp.true or not {x.name for x in d.free_symbols} <= params:
        b._unsup(refuse, r"\bnet_(send|move)\s*\(", 0, PAT)
        return None
    counter = [j for j, v in args0.items() if sp.simplify(v - f) == 0
               and (v - _w(j)).is_Number and (v - _w(j)) > 0]
    if not counter:
        b._unsup(refuse, r"\bnet_send\s*\(", 0, PAT)
        return None
    x = counter[0]
    flag = sp.Symbol("__flag", positive=True)   # a self-event's flag: the counter's value, >= 1
    r = b._run_net_receive(flag)
    if r is None:
        return None
    assigns, watches, events, sends2 = r
    args_s = dict(b.nr_args)
    if watches or events or sends2:
        b._unsup("WATCH, net_event or net_send on a self-event of a POINT_PROCESS", PAT)
        return None
    from .nmodl_events import collapse

    new = collapse(assigns)
    new.update({f"__w{j}": v for j, v in args_s.items()})
    # a stale self-event (flag = the counter's value minus k >= 1) must change nothing
    stale = {flag: _w(x) - sp.Symbol("__k", positive=True)}
    for var, e in new.items():
        if sp.simplify(e.xreplace(stale) - sp.Symbol(var, real=True)) != 0:
            b._unsup(refuse + f"; an older self-event would change '{var}'", PAT)
            return None
    at = {sym("t"): _w(nargs), flag: _w(nargs + 1)}
    out = {var: e.xreplace(at) for var, e in new.items()}
    out[f"__w{nargs}"] = NEVER   # delivered: none pending
    return (d, f), out
