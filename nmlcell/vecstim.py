"""VecStim: an artificial cell that emits spikes at given times, as the
``VecStim`` of NEURON network code (``vs = h.VecStim(); vs.play(h.Vector(times))``),
whose usual ``vecstim.mod`` reads the Vector in C (VERBATIM) and is refused
by the importer.

    vs = net.add(nmlcell.VecStim([5.0, 12.3, 12.35, 40.0]), "vs")
    net.connect(vs, cell, "ExpSyn[0]", weight=0.01, delay=1.0)

NEURON's VecStim sends itself an event at each time (``net_send(etime - t,
1)``) and calls ``net_event(t)`` when it arrives: the spike leaves at its
exact time, and a NetCon's event reaches its target at the start of the
first step whose start ``t`` has ``te + delay <= t + dt/2``, a NET_RECEIVE
reading ``t`` seeing ``te + delay``. Here the spike times are per-instance
parameters of an IR mechanism (:func:`vecstim_mechanism`) on NetStim's
rule (:mod:`nmlcell.netstim_rules`): the pending time ``tnext`` is handled
at the end of the step NEURON handles it at the start of, the next one
gathered from the stacked times (:func:`next_time`), and the state
``spike_t`` carries the exact time to the event buffer
(:mod:`nmlcell.lower.events`).

Measured with NEURON 9.0 (pyNN's vecstim.mod compiled apart): a time
below 0 aborts the run (``net_send td-t = -1``); a time before the one
before it stops pyNN's VecStim with a warning (a copy without that test
would send a self-event into the past, as a time below 0 does: not
measured); equal times and times within one step are each delivered. Here: times below 0 and out-of-order times are refused; two
times NEURON delivers on one step through one NetCon (or that leave on one
step) are refused with both named, as the event buffer carries one event
per source per step.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp

from .errors import OptionError
from .ir.mechanism import Assignment, Condition, Input, Mechanism, Parameter, Source, State
from .ir.units import NONE, Dim

_MS = Dim(t=1)
NEXT = "__vecstim_next"   # the input holding each VecStim's next time (lower/system.py gathers it)
TABLE = "__vecstim_table"  # its times stacked, in the prepared parameters of its group
# a VecStim's parameters grow with its slots, and its build and step with them (100 VecStims, 20 000
# steps, bench/bench_vecstim.py: 64 slots x0.8-1.0 a NetStim's run, 1024 x1.7 and 5.9 s to build,
# 4096 x5.5 and 33 s)
MAX_TIMES = 4096


class VecStim:
    """NEURON's VecStim: a spike at each of ``times`` (ms, increasing,
    >= 0). ``vs.times = [...]`` between runs reaches the next run without
    lowering the network again while the count stays within the same
    power of two (the slots of its group)."""

    def __init__(self, times=()):
        self.times = times

    def __setattr__(self, name, value):
        if name != "times":
            raise AttributeError(f"VecStim has no attribute {name!r} (it has: times)")
        object.__setattr__(self, name, _times(value))

    def __repr__(self):
        return f"VecStim({len(self.times)} times)"


def _times(value) -> np.ndarray:
    try:
        a = np.array(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise OptionError(f"VecStim times must be numbers in ms (got {value!r})", element="VecStim") from None
    if not np.all(np.isfinite(a)):
        raise OptionError("VecStim times must be finite", element="VecStim")
    if len(a) and a.min() < 0:
        raise OptionError(f"VecStim time {a[a < 0][0]:g} ms is below 0 (NEURON's VecStim aborts the run: "
                          f"'net_send td-t = {a[a < 0][0]:g}')", element="VecStim")
    bad = np.nonzero(np.diff(a) < 0)[0]
    if len(bad):
        k = int(bad[0])
        raise OptionError(f"VecStim times must be in increasing order: {a[k]:g} ms (index {k}) is followed by "
                          f"{a[k + 1]:g} ms (pyNN's VecStim drops the rest from there: sort them)", element="VecStim")
    if len(a) > MAX_TIMES:
        raise OptionError(f"VecStim has {len(a)} times; at most {MAX_TIMES} per VecStim (split the train over "
                          f"several VecStims, or run it in pieces)", element="VecStim")
    a.setflags(write=False)
    return a


def slots(n: int) -> int:
    """The number of time parameters of a VecStim of ``n`` times: the
    next power of two (VecStims with as many slots share a group)."""
    return 1 << max(0, math.ceil(math.log2(max(n, 1))))


@functools.cache
def vecstim_mechanism(k: int, late: bool) -> Mechanism:
    """A VecStim with ``k`` slots ``time0..time{k-1}`` (of which the first
    ``ntimes`` are used) on NetStim's delivery rule (``late``: see
    :func:`nmlcell.netstim_rules._netstim_mechanism`). The next time is the
    input :data:`NEXT`, ``time[ispike + 1]`` gathered by the lowering
    (:func:`next_time`; the IR has no arrays)."""
    from .importers.nmodl_netcon import NEVER
    from .lower.events import LAG, SPIKE_T

    src = Source(origin="VecStim (nmlcell.VecStim: NEURON's VecStim, net_send(etime - t, 1))")
    t, tnext, ispike, n, half = (sp.Symbol(x) for x in ("t", "tnext", "ispike", "ntimes", "dt_half"))
    times = [sp.Symbol(f"time{j}") for j in range(k)]
    params = tuple(Parameter(f"time{j}", float(NEVER), _MS, "ms", f"spike time {j}") for j in range(k)) + (
        Parameter("ntimes", 0.0, NONE, "", "number of spike times"),
        Parameter("dt_half", 0.0125, _MS, "ms", "half the run's dt (NEURON's delivery rule)"))
    return Mechanism(
        name="VecStim", kind="artificial_cell", component_type="NEURON VecStim", parameters=params,
        states=(State("tnext", _MS, "time of the pending self-event", src),
                State("ispike", NONE, "spikes so far", src),
                State(LAG, _MS, "the latest spike's time less its step's (ms)", src),
                State(SPIKE_T, _MS, "the latest spike's time (ms)", src)),
        derived=(), derivatives={"tnext": sp.Integer(0), "ispike": sp.Integer(0), LAG: sp.Integer(0),
                                 SPIKE_T: sp.Integer(0)},
        inputs=(Input("t", _MS, "time"), Input(NEXT, _MS, "vecstim_next")),
        on_start=(Assignment("ispike", sp.Integer(0)), Assignment(LAG, sp.Integer(0)),
                  Assignment(SPIKE_T, sp.Integer(0)),
                  Assignment("tnext", sp.Piecewise((times[0], n > 0), (NEVER, True)))),
        # LAG reads tnext and tnext reads ispike before either changes (the same in order or at once)
        conditions=(Condition(sp.And(tnext <= (t - half if late else t + half), ispike < n),
                              (Assignment(LAG, tnext - (t - 2 * half if late else t)),
                               Assignment(SPIKE_T, tnext),
                               Assignment("tnext", sp.Symbol(NEXT)),
                               Assignment("ispike", ispike + 1)),
                              ("spike",), src),),
        exposures={"tnext": ("tnext", _MS), "ispike": ("ispike", NONE), LAG: (LAG, _MS),
                   SPIKE_T: (SPIKE_T, _MS)}, source=src,
        units="neuron")


def next_time(xp, g, yg, pg):
    """The input :data:`NEXT` of lowered VecStim group ``g``: each
    instance's ``time[ispike + 1]`` (``xp``: jax.numpy, or NumPy on the
    host), read before a spike's assignments change ``ispike``."""
    isp = yg[g.kernel.state_names.index("ispike")]
    table = pg[TABLE] if TABLE in pg else time_table(xp, g, pg)
    idx = xp.clip(isp, 0, table.shape[0] - 1).astype(xp.int32)
    return xp.take_along_axis(table, idx[None, :], axis=0)[0]


def time_table(xp, g, pg):
    """(slots, N): ``time1..`` of lowered VecStim group ``g`` and a last row
    of NEVER (the next time after the last), stacked once per run
    (``LoweredModel.prepare`` keeps it in the group's parameters as
    :data:`TABLE`)."""
    from .importers.nmodl_netcon import NEVER

    k = sum(1 for p in g.mech.parameters if p.name.startswith("time"))
    rows = [xp.broadcast_to(pg[f"time{j}"], (g.size,)) for j in range(1, k)]
    return xp.stack(rows + [xp.full((g.size,), float(NEVER))])


def vecstim_values(vs: VecStim, dt: float) -> tuple[int, dict]:
    """(slots, parameter values) of ``vs``."""
    from .importers.nmodl_netcon import NEVER

    k = slots(len(vs.times))
    vals = {f"time{j}": float(x) for j, x in enumerate(vs.times)}
    vals.update({f"time{j}": float(NEVER) for j in range(len(vs.times), k)})
    vals.update({"ntimes": float(len(vs.times)), "dt_half": 0.5 * float(dt)})
    return k, vals


def _neuron_step(te, dt):
    """The step NEURON handles an event of time ``te`` at: the first ``m >=
    0`` with ``te <= m dt + dt/2``."""
    return np.maximum(np.ceil(te / dt - 0.5 - 1e-9), 0).astype(np.int64)


def check_steps(name: str, vs: VecStim, netcons, dt: float, late: bool) -> None:
    """Refuse times of ``vs`` that the event buffer cannot deliver on
    NEURON's step: two that leave on one step, two that a NetCon delivers on
    one step (NEURON delivers both), or one that would arrive a step late
    (a time within dt/2 of 0 through a NetCon of delay < 3 dt/2 that cannot
    take the late rule). ``netcons``: (delay, into an artificial cell)."""
    te = np.asarray(vs.times, dtype=np.float64)
    if not len(te):
        return
    dt = float(dt)
    half = 0.5 * dt
    # the step end at which the IR mechanism emits each spike, and its lag
    e = np.maximum(_neuron_step(te, dt) + (1 if late else 0), 1)
    lag = te - (e - 1 if late else e) * dt
    same = np.nonzero(np.diff(e) == 0)[0]
    if len(same):
        k = int(same[0])
        raise OptionError(f"VecStim '{name}': times {te[k]:g} and {te[k + 1]:g} ms leave on one step (dt = {dt:g} "
                          f"ms); nmlcell carries one spike per source per step: move them apart or split them "
                          f"over two VecStims", element="VecStim")
    for d, artificial in netcons:
        m_neuron = _neuron_step(te + d, dt)
        same = np.nonzero(np.diff(m_neuron) == 0)[0]
        if len(same):
            k = int(same[0])
            raise OptionError(f"VecStim '{name}': times {te[k]:g} and {te[k + 1]:g} ms arrive on one step through "
                              f"the NetCon of delay {d:g} ms (dt = {dt:g} ms); NEURON delivers both, nmlcell one "
                              f"event per source per step: move them apart or split them over two VecStims",
                              element="VecStim")
        # the buffer's rule (lower/events.py): slot e - 1, round(d'/dt) steps, shifted by the lag by -1..1
        dd = d - (dt if late else 0.0) - (dt if artificial else 0.0)
        steps = np.rint(dd / dt)
        x = lag + (dd - steps * dt)
        tol = 1e-9 * dt   # (a time on a half step: as _neuron_step, the earlier step)
        shift = np.where(x <= -half + tol, -1, np.where(x > half + tol, 1, 0))
        shift = np.maximum(shift, -min(steps, 1))
        m_here = e + steps + shift + (1 if artificial else 0)
        off = np.nonzero(m_here != m_neuron)[0]
        if len(off):
            k = int(off[0])
            raise OptionError(f"VecStim '{name}': time {te[k]:g} ms through the NetCon of delay {d:g} ms would "
                              f"arrive a step late (dt = {dt:g} ms): a time within dt/2 of 0 needs every NetCon "
                              f"from it to have a delay above 3 dt/2", element="VecStim")


def reported_spikes(vs: VecStim, T: float) -> np.ndarray:
    """The spike times NEURON records for ``vs`` in a run of ``T`` ms
    (``NetCon.record``: the exact times; measured with NEURON 9.0, T = 20,
    dt = 0.025: 19.99 and 19.99999999 are recorded, 20.0 and 20.01 not)."""
    te = np.asarray(vs.times, dtype=np.float64)
    return te[te < T - 1e-12 * max(T, 1.0)].copy()
