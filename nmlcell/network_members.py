"""The members of a :class:`nmlcell.Network` as IR mechanisms (one
composed mechanism per cell structure, NetStim's and VecStim's rules, an
ARTIFICIAL_CELL with one NetCon handler per NetCon): :func:`member`,
called by ``Network._ir`` for each member."""
from __future__ import annotations

import functools
from dataclasses import replace

from .cell import PointProcess
from .ir.mechanism import Mechanism, Parameter
from .ir.units import NONE
from .netstim_rules import _netstim_mechanism
from .vecstim import VecStim


@functools.cache
def _detector() -> Mechanism:
    """The spike detector mechanism (one object: compositions key on it)."""
    from .importers.nml_mechanisms import spike_detector

    return spike_detector()


def _drop_spikes(m: Mechanism) -> Mechanism:
    return replace(m, conditions=tuple(replace(c, events=tuple(e for e in c.events if e != "spike"))
                                       for c in m.conditions))


def _no_spikes(m: Mechanism) -> Mechanism:
    """``m`` with its net_event spikes dropped (the WATCH effects stay);
    one object per ``m``."""
    from .passes.compartment import _memo

    if not any("spike" in c.events for c in m.conditions):
        return m
    return _memo(_drop_spikes, m)


def _with_netcons(m: Mechanism, weights: list) -> Mechanism:
    """An artificial cell's NetCon handler once per NetCon (port ``in#k``),
    its weight vector as parameters ``in#k.w<j>``."""
    from .passes.compartment_params import netcon_handlers

    if not m.on_events:
        return m
    params = list(m.parameters)
    handlers = netcon_handlers(m.on_events[0], "in", weights, lambda n, v, k, j: params.append(
        Parameter(n, v, NONE, "", f"weight[{j}] of NetCon {k}")))
    return replace(m, parameters=tuple(params), on_events=tuple(handlers))


def _handler(net, nc) -> tuple[bool, bool]:
    """(additive, reads t) of the NET_RECEIVE NetCon ``nc`` reaches
    (lower/events.py: additive): whether k events on one step may be
    delivered as k times one."""
    from .lower.events import additive, reads_t

    cell = net._members[nc.post]
    if isinstance(cell, PointProcess):
        mech = cell.mech
    else:
        mech = next(i for i in list(cell._inserted) + [i for i, _w in cell._placed] if i.label == nc.syn).mech
    return additive(mech), reads_t(mech)


def member(net, name, obj, dt):
    """(mechanism, parameter values, emits spikes, units, kind) of member
    ``name`` (``obj``) of Network ``net``."""
    from . import network as nw   # (NetStim, _SHARE: network imports this module)
    from .importers.nml_mechanisms import SPIKE_DETECTOR
    from .passes.compartment import Inserted, compose
    from .passes.compartment_params import _declared_unit_value, param_values
    from .passes.netcon_state import index_slots, specialise

    if isinstance(obj, PointProcess):  # an ARTIFICIAL_CELL from a .mod file
        pd = {p.name: p for p in obj.mech.parameters}
        vals = {k: _declared_unit_value(pd[k], v) for k, v in obj.params.items()}
        mech = _with_netcons(obj.mech, [nc.weight for nc in net.netcons if nc.post == name])
        return mech, {**vals, "dt_half": 0.5 * float(dt)}, True, {}, "artificial"
    if isinstance(obj, nw.NetStim):
        # an interval up to dt can put two spikes on one step: the noisy form (noise 0 draws nothing
        # into its intervals), whose events the buffer sums and checks (lower/events.py)
        mech = _netstim_mechanism(obj.noise > 0 or obj.interval <= float(dt), net._late(name, dt))
        vals = {"start": obj.start, "interval": obj.interval, "number": obj.number, "noise": obj.noise,
                "dt_half": 0.5 * float(dt)}
        return mech, vals, True, {}, "netstims"
    if isinstance(obj, VecStim):
        from .vecstim import check_steps, vecstim_mechanism, vecstim_values

        late = net._late(name, dt)
        counted = check_steps(name, obj, [(nc.delay, net._ahead(nc), *_handler(net, nc))
                                          for nc in net.netcons if nc.pre == name], float(dt), late)
        k, vals = vecstim_values(obj, dt)
        return vecstim_mechanism(k, late, counted), vals, True, {}, "vecstims"
    items = [net._with_netcons_into(name, it, dt) for it in obj._inserted]
    out = [nc for nc in net.netcons if nc.pre == name]
    if out and out[0].source is None:
        items.append(Inserted(_detector(), SPIKE_DETECTOR, {"threshold": out[0].threshold}))
    elif not out:  # a point process's net_event reaches no NetCon: its spikes stay local
        items = [replace(it, mech=_no_spikes(it.mech)) if it.point else it for it in items]
    else:
        items = [replace(it, mech=_no_spikes(it.mech)) if it.point and it.label != out[0].source else it
                 for it in items]
    # one composition per structure (as passes/share_groups keys it): the others' values from
    # param_values, which touches no expression (a ring of 40 hh cells: 0.29 -> 0.03 s a build)
    recorded = tuple(sorted({n for c, n in net._record if c == name}))
    key = (tuple((id(it.mech), it.label, it.point, tuple(len(w) for w in it.netcons)) for it in items), recorded)
    known = net._compositions.get(key) if nw._SHARE else None
    if known is not None:
        mech, units, values0 = known
        mine = param_values(obj.geometry, items, obj.v_init)
        if set(mine) - set(values0):  # param_values and compose disagree: a bug, not the user's
            raise AssertionError(f"'{name}': values for unknown parameters {sorted(set(mine) - set(values0))[:5]}")
        return mech, {**values0, **mine}, bool(out), units, "cells"
    # values of NEURON's current phase (Exp2Syn's g) recorded as the staggered step computes them
    mech, units = compose(obj.geometry, items, v_init=obj.v_init)
    phase = tuple(sorted(set(recorded) & set(mech.frozen)))
    if phase:
        mech, units = compose(obj.geometry, items, v_init=obj.v_init, phase_columns=phase)
    mech = specialise(mech, index_slots(items))   # per-NetCon state: each NetCon's handler its own piece
    values = {p.name: p.value for p in mech.parameters}
    net._compositions[key] = (mech, units, values)
    return mech, values, bool(out), units, "cells"
