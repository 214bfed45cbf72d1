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
measured); equal times and times within one step are each delivered.
Here: times below 0 and out-of-order times are refused. Times that leave on one step (up to :data:`KMAX`), or that one NetCon delivers
on one step, make the VecStim a counted source (:data:`SPIKE_N`: its
spikes of the step, ``vecstim_mechanism(counted=True)``): the event buffer
carries the count and an additive NET_RECEIVE (``g = g + w``) takes k
events as k times one (lower/events.py); a handler that is not additive
or reads ``t`` is refused there at build (:func:`check_steps`).
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
NCOUNT = "__vecstim_count"   # the input: the times of the step from ispike on (counted VecStims)
NCOUNT_LATE = "__vecstim_count_late"   # the same on the late rule
KMAX = 8   # times one VecStim may emit on one step
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
def vecstim_mechanism(k: int, late: bool, counted: bool = False) -> Mechanism:
    """A VecStim with ``k`` slots ``time0..time{k-1}`` (of which the first
    ``ntimes`` are used) on NetStim's delivery rule (``late``: see
    :func:`nmlcell.netstim_rules._netstim_mechanism`). The next time is the
    input :data:`NEXT`, ``time[ispike + 1]`` gathered by the lowering
    (:func:`next_time`; the IR has no arrays). ``counted``: the times of
    one step leave together, their number in the state :data:`SPIKE_N`
    (input :data:`NCOUNT`), the next time ``time[ispike + count]``."""
    from .importers.nmodl_netcon import NEVER
    from .lower.events import LAG, SPIKE_N, SPIKE_T

    src = Source(origin="VecStim (nmlcell.VecStim: NEURON's VecStim, net_send(etime - t, 1))")
    t, tnext, ispike, n, half = (sp.Symbol(x) for x in ("t", "tnext", "ispike", "ntimes", "dt_half"))
    times = [sp.Symbol(f"time{j}") for j in range(k)]
    params = tuple(Parameter(f"time{j}", float(NEVER), _MS, "ms", f"spike time {j}") for j in range(k)) + (
        Parameter("ntimes", 0.0, NONE, "", "number of spike times"),
        Parameter("dt_half", 0.0125, _MS, "ms", "half the run's dt (NEURON's delivery rule)"))
    cnt = sp.Symbol(NCOUNT_LATE if late else NCOUNT) if counted else sp.Integer(1)
    extra = (State(SPIKE_N, NONE, "spikes on the latest spiking step", src),) if counted else ()
    return Mechanism(
        name="VecStim", kind="artificial_cell", component_type="NEURON VecStim", parameters=params,
        states=(State("tnext", _MS, "time of the pending self-event", src),
                State("ispike", NONE, "spikes so far", src),
                State(LAG, _MS, "the latest spike's time less its step's (ms)", src),
                State(SPIKE_T, _MS, "the latest spike's time (ms)", src)) + extra,
        derived=(), derivatives={"tnext": sp.Integer(0), "ispike": sp.Integer(0), LAG: sp.Integer(0),
                                 SPIKE_T: sp.Integer(0), **({SPIKE_N: sp.Integer(0)} if counted else {})},
        inputs=(Input("t", _MS, "time"), Input(NEXT, _MS, "vecstim_next")) + (
            (Input(str(cnt), NONE, "vecstim_next"),) if counted else ()),
        on_start=(Assignment("ispike", sp.Integer(0)), Assignment(LAG, sp.Integer(0)),
                  Assignment(SPIKE_T, sp.Integer(0)),
                  Assignment("tnext", sp.Piecewise((times[0], n > 0), (NEVER, True)))) + (
            (Assignment(SPIKE_N, sp.Integer(0)),) if counted else ()),
        # LAG reads tnext and tnext reads ispike before either changes (the same in order or at once)
        conditions=(Condition(sp.And(tnext <= (t - half if late else t + half), ispike < n),
                              (Assignment(LAG, tnext - (t - 2 * half if late else t)),
                               Assignment(SPIKE_T, tnext),
                               Assignment("tnext", sp.Symbol(NEXT)),
                               Assignment("ispike", ispike + cnt)) + (
                                  (Assignment(SPIKE_N, cnt),) if counted else ()),
                              ("spike",), src),),
        exposures={"tnext": ("tnext", _MS), "ispike": ("ispike", NONE), LAG: (LAG, _MS),
                   SPIKE_T: (SPIKE_T, _MS), **({SPIKE_N: (SPIKE_N, NONE)} if counted else {})}, source=src,
        units="neuron")


def next_time(xp, g, yg, pg, t=None, name=NEXT):
    """The input :data:`NEXT` of lowered VecStim group ``g``: each
    instance's ``time[ispike + 1]`` (``xp``: jax.numpy, or NumPy on the
    host), read before a spike's assignments change ``ispike``. In a
    counted VecStim (its input :data:`NCOUNT`) ``time[ispike + c]``, ``c``
    the times from ``ispike`` on that leave at the end of the step ending
    at ``t`` (``time <= t + dt/2``, the condition's own sum; ``t - dt/2``
    on the late rule), at most :data:`KMAX`; input ``name`` (NEXT or the
    count)."""
    isp = yg[g.kernel.state_names.index("ispike")]
    table = pg[TABLE] if TABLE in pg else time_table(xp, g, pg)
    last = table.shape[0] - 1

    def at(j):   # time[ispike + j], j >= 1
        idx = xp.clip(isp if j == 1 else isp + (j - 1), 0, last).astype(xp.int32)
        return xp.take_along_axis(table, idx[None, :], axis=0)[0]

    kinds = {i.name for i in g.mech.inputs}
    cname = NCOUNT if NCOUNT in kinds else NCOUNT_LATE if NCOUNT_LATE in kinds else None
    if cname is None:
        return at(1)
    half = pg["dt_half"]
    bound = t - half if cname == NCOUNT_LATE else t + half
    c = 1 + sum((at(j) <= bound).astype(isp.dtype) for j in range(1, KMAX))
    if name == cname:
        return c
    idx = xp.clip(isp + c - 1, 0, last).astype(xp.int32)
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


def _neuron_clock(n, dt):
    """NEURON's running ``t`` at the start of steps 0..n: ``t += dt/2``
    twice a step, summed in order (lower/events.py: clock_next)."""
    h = 0.5 * float(dt)
    return np.concatenate([[0.0], np.add.accumulate(np.full(2 * n, h))[1::2]])


def _emitted(te, dt, late):
    """The step index (its end at ``t1 = i dt + dt``, run.py's product)
    at whose end the IR mechanism emits each time: the first with ``te <=
    t1 + dt/2`` (late: ``t1 - dt/2``), the condition's own sums."""
    half = 0.5 * dt
    n = int(np.ceil(te.max() / dt)) + 4
    i = np.arange(n, dtype=np.float64)
    t1 = i * dt + dt
    bound = t1 - half if late else t1 + half
    return np.searchsorted(bound, te, side="left")


def check_steps(name: str, vs: VecStim, netcons, dt: float, late: bool) -> bool:
    """Whether ``vs`` needs counts (several times leaving on one step, or
    arriving on one step through a NetCon: ``vecstim_mechanism(counted=
    True)``), refusing what the event buffer cannot deliver on NEURON's
    step: more than :data:`KMAX` times on one step, times of one step that
    one NetCon delivers on different steps, several events on one step
    into a handler that is not additive or reads ``t``
    (lower/events.py: additive), or a time that would arrive a step late
    or not at all (a time within dt/2 of 0 through a NetCon of delay <
    3 dt/2 that cannot take the late rule). The rule is lower/events.py's
    (timed_incoming): ``te + delay`` against NEURON's running clock plus
    dt/2, within one step of ``round(delay/dt)`` after the emitting step.
    ``netcons``: (delay, into a target taking events a step early,
    handler additive, handler reads t)."""
    te = np.asarray(vs.times, dtype=np.float64)
    if not len(te):
        return False
    dt = float(dt)
    half = 0.5 * dt
    s = _emitted(te, dt, late)
    _u, per = np.unique(s, return_counts=True)
    if per.max() > KMAX:
        k = int(np.nonzero(np.bincount(s) > KMAX)[0][0])
        raise OptionError(f"VecStim '{name}': {int(np.bincount(s)[k])} times leave on one step near {k * dt:g} ms "
                          f"(dt = {dt:g} ms); at most {KMAX} per step: split them over several VecStims",
                          element="VecStim")
    counted = bool(per.max() > 1)
    T = None
    for d, ahead, add, reads_t in netcons:
        d = float(d)
        ev = te + d   # NEURON's PreSyn::send
        if T is None or T[-1] < ev.max() + dt:
            T = _neuron_clock(int(np.ceil((te.max() + max(d, 0.0)) / dt)) + 8, dt)
        m_t = np.searchsorted(T + half, ev, side="left") - (1 if ahead else 0)
        steps = int(round((d - (dt if late else 0.0) - (dt if ahead else 0.0)) / dt))
        first = s + steps + 1 - min(steps, 1)
        m_here = np.where(m_t <= s + steps + 2, np.maximum(m_t, first), -1)
        off = np.nonzero(m_here != m_t)[0]
        if len(off):
            k = int(off[0])
            raise OptionError(f"VecStim '{name}': time {te[k]:g} ms through the NetCon of delay {d:g} ms would "
                              f"arrive a step late (dt = {dt:g} ms): a time within dt/2 of 0 needs every NetCon "
                              f"from it to have a delay above 3 dt/2", element="VecStim")
        split = np.nonzero((np.diff(s) == 0) & (np.diff(m_t) != 0))[0]
        if len(split):
            k = int(split[0])
            raise OptionError(f"VecStim '{name}': times {te[k]:g} and {te[k + 1]:g} ms leave on one step and arrive "
                              f"on two through the NetCon of delay {d:g} ms (dt = {dt:g} ms); nmlcell carries one "
                              f"count per source per step: split them over two VecStims", element="VecStim")
        same = np.nonzero(np.diff(m_t) == 0)[0]
        if len(same):
            counted = True
            if not add or reads_t:
                k = int(same[0])
                why = "reads t" if reads_t else "is not additive (k events are not k times one)"
                raise OptionError(f"VecStim '{name}': times {te[k]:g} and {te[k + 1]:g} ms arrive on one step "
                                  f"through the NetCon of delay {d:g} ms (dt = {dt:g} ms), and its target's "
                                  f"NET_RECEIVE {why}: NEURON delivers each with its own time, nmlcell one event "
                                  f"per step into it: move them apart or split them over two VecStims",
                                  element="VecStim")
    return counted


def reported_spikes(vs: VecStim, T: float) -> np.ndarray:
    """The spike times NEURON records for ``vs`` in a run of ``T`` ms
    (``NetCon.record``: the exact times; measured with NEURON 9.0, T = 20,
    dt = 0.025: 19.99 and 19.99999999 are recorded, 20.0 and 20.01 not)."""
    te = np.asarray(vs.times, dtype=np.float64)
    return te[te < T - 1e-12 * max(T, 1.0)].copy()
