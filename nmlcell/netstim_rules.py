"""NetStim's rules for :mod:`nmlcell.network`: its self-events as IR
(``_netstim_mechanism``) and the spike a late NetStim leaves for after the
run's end (``_last_step_spike``); its reported times are its exact
``spike_t`` (Network.run)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

import sympy as sp

from .ir.expr import sym
from .ir.mechanism import Assignment, Condition, Input, Mechanism, Parameter, Source, State
from .ir.units import NONE, Dim

if TYPE_CHECKING:
    from .network import NetStim

_MS = Dim(t=1)


def _netstim_mechanism(noisy: bool, late: bool = False) -> Mechanism:
    """NetStim's NET_RECEIVE self-events as the IR's OnCondition: the
    pending event time ``tnext`` is handled at the end of the step whose
    end time ``t`` has ``tnext <= t + dt/2`` (the start of NEURON's next
    step), emitting a spike and scheduling the next. ``late``: at the end
    of the step NEURON handles it at the start of (``tnext <= t - dt/2``),
    so that an event at t = 0 (``start=0``) is not lost before the first
    step; the network then shortens the NetStim's delays by dt and reports
    its spikes dt earlier (:meth:`Network._late`). ``spike_lag`` keeps the
    spike's exact time less the step's (the step end's, or the late rule's
    step start): a NET_RECEIVE reading ``t`` sees the exact event time
    (:mod:`nmlcell.lower.events`); ``spike_t`` the time itself (the
    event buffer's: NEURON's event time is its sum with the delay)."""
    from .importers.nmodl_netcon import NEVER
    from .lower.events import LAG, SPIKE_T

    src = Source(origin="NetStim (netstim.mod's NET_RECEIVE, flags 3 and 1)")
    start, interval, number, noise, half = (sym(n) for n in ("start", "interval", "number", "noise", "dt_half"))
    t, tnext, ispike = sym("t"), sym("tnext"), sym("ispike")
    if noisy:
        u = sym("__random0")
        invl = (1 - noise) * interval + noise * interval * (-sp.log(1 - u))
    else:
        invl = interval
    first = start + invl - interval * (1 - noise)
    first = sp.Piecewise((first, first > 0), (sp.Integer(0), True))  # not earlier than 0
    on = sp.And(start >= 0, number > 0)
    inputs = (Input("t", _MS, "time"),) + ((Input("__random0", NONE, "random"),) if noisy else ())
    return Mechanism(
        name="NetStim", kind="artificial_cell", component_type="NEURON NetStim",
        parameters=(Parameter("start", 50.0, _MS, "ms", "time of the first spike"),
                    Parameter("interval", 10.0, _MS, "ms", "mean time between spikes"),
                    Parameter("number", 10.0, NONE, "", "number of spikes"),
                    Parameter("noise", 0.0, NONE, "", "fraction of the interval that is random"),
                    Parameter("dt_half", 0.0125, _MS, "ms", "half the run's dt (NEURON's delivery rule)")),
        states=(State("tnext", _MS, "time of the pending self-event", src),
                State("ispike", NONE, "spikes so far", src),
                State(LAG, _MS, "the latest spike's time less its step's (ms)", src),
                State(SPIKE_T, _MS, "the latest spike's time (ms)", src)),
        derived=(), derivatives={"tnext": sp.Integer(0), "ispike": sp.Integer(0), LAG: sp.Integer(0),
                                 SPIKE_T: sp.Integer(0)},
        inputs=inputs,
        on_start=(Assignment("ispike", sp.Integer(0)), Assignment(LAG, sp.Integer(0)),
                  Assignment(SPIKE_T, sp.Integer(0)),
                  Assignment("tnext", sp.Piecewise((first, on), (NEVER, True)))),   # finite: the NaN/inf check
        conditions=(Condition(sp.And(tnext <= (t - half if late else t + half), ispike < number),
                              (Assignment(LAG, tnext - (t - 2 * half if late else t)), Assignment(SPIKE_T, tnext),
                               Assignment("ispike", ispike + 1), Assignment("tnext", tnext + invl)),
                              ("spike",), src),),
        exposures={"tnext": ("tnext", _MS), "ispike": ("ispike", NONE), LAG: (LAG, _MS),
                   SPIKE_T: (SPIKE_T, _MS)}, source=src,
        units="neuron")


def _last_step_spike(ns: NetStim, times: np.ndarray, T: float, dt: float) -> np.ndarray:
    """The spikes of a late NetStim (``_netstim_mechanism(late=True)``,
    its exact times ``times``) with the one NEURON handles after the run's
    last step (its time within dt/2 of the end), which the late rule
    leaves for a step after the run: its exact time computed here as the
    NetStim does, the latest spike's time plus ``interval`` (or the first
    time); not for a noisy NetStim (its next draw is not made)."""
    if ns.noise > 0 or not (ns.start >= 0 and ns.number > 0) or len(times) >= ns.number:
        return times
    if len(times):
        te = float(times[-1]) + ns.interval   # NetStim: net_send(invl) at the event's own time
    else:
        te = max(ns.start + ns.interval - ns.interval * (1 - ns.noise), 0.0)
    if T - 0.5 * dt < te <= T + 0.5 * dt and (len(times) == 0 or times[-1] < T - 0.5 * dt):
        return np.append(times, te)
    return times
