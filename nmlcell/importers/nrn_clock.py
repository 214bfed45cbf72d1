"""NEURON's fixed-step clock, for spike times that fall on the step grid.

NEURON advances ``t`` by two additions of ``dt/2`` per step (measured
with NEURON 9's ``h.run()`` at dt 0.01, 0.025 and 0.1/3 ms: every
recorded ``t`` equal, bit for bit, to that accumulation, and not to
``t += dt``; tests/test_nml_export_events.py). The sum drifts from ``k * dt`` by up
to about 1e-11 ms in 6000 steps, above or below: at dt 0.01 ms the step
ending at 12 ms has ``t = 12.000000000000476``, at dt 0.025 ms it has
``11.999999999999853``. A ``WATCH (t > 12)`` (the export's spikeArray) so
fires at the end of that step at dt 0.01 and one step later at dt 0.025.
nmlcell's clock is ``k * dt``; :func:`watch_thresholds` moves a spike time
that lies within round-off of the grid by 1e-6 dt, to the side that makes
``k * dt > time`` first hold on NEURON's step. The export writes each time
as a Java float (``12.345679`` for 12.3456789 ms), NEURON reads that
literal as a double.

A NetStim (the export's timedSynapticInput, one per spike) is delivered
at the start of the step from ``t`` when its event time is at most
``t + dt/2`` on that clock: a time within round-off of a half-step point
is moved likewise (:func:`netstim_thresholds`).

``stdrun``'s ``setdt`` turns ``dt`` into ``(1/steps_per_ms) / n`` (the
export sets ``steps_per_ms = 1/dt``): :func:`neuron_dt`.
"""
from __future__ import annotations

import math

import numpy as np


def neuron_dt(dt: float) -> float:
    """``h.dt`` after ``h.dt = dt; h.steps_per_ms = 1/dt; h.run()``."""
    big = 1.0 / (1.0 / dt)
    n = int(big / dt) or 1
    new = big / n
    return dt if new == dt else new


def neuron_times(dt: float, n: int) -> np.ndarray:
    """NEURON's ``t`` at the end of steps 0..n (two half-step additions
    each; ``np.add.accumulate`` adds in order, as NEURON does)."""
    half = np.full(2 * n, 0.5 * neuron_dt(dt))
    return np.concatenate(([0.0], np.add.accumulate(half)[1::2]))


def neuron_steps(times, dt: float, chunk: int = 1 << 18) -> list[int]:
    """For each time (ms, in increasing order): the first step ``k`` whose
    end has NEURON's running ``t`` past it (``t_k > time``; ``t_0 = 0``,
    each step two half-step additions, accumulated in chunks in order as
    NEURON adds them)."""
    half = 0.5 * neuron_dt(dt)
    out, k0, grid = [], 0, np.array([0.0])  # grid: t_k0, t_k0+1, ...
    for x in times:  # increasing: x is never before grid[0]
        while not x < grid[-1]:
            k0 += len(grid) - 1
            grid = np.add.accumulate(np.concatenate(([grid[-1]], np.full(2 * chunk, half))))[::2]
        out.append(k0 + int(np.searchsorted(grid, x, side="right")))
    return out


def _as_written(times, dt: float | None, until: float | None) -> tuple[list[float], float | None]:
    """The times as the export writes them (Java floats), and the last
    time (ms) a threshold is moved at (``until`` plus two steps, or no
    limit); None for a ``dt`` that moves nothing."""
    from .nml_cell import java_float

    times = [java_float(x) if math.isfinite(x) and x != 0 else float(x) for x in times]
    if dt is None or not dt > 0:
        return times, None
    return times, until + 2 * dt if until is not None and until >= 0 else math.inf


def watch_thresholds(times, dt: float | None, until: float | None = None) -> list[float]:
    """Spike times (ms) for ``t > time`` on nmlcell's clock (``k * dt``)
    that hold first at the end of the step where NEURON's running ``t``
    passes ``time`` as the export writes it (``WATCH (t > time)``, the time
    a Java float: 1000.00001 ms is ``1000.0``). ``dt`` None: the times as
    written, not moved; times past ``until`` (ms) are not moved either."""
    times, limit = _as_written(times, dt, until)
    if limit is None:
        return times
    near = [x for x in times if 0 <= x <= limit and math.isfinite(x)]
    if not near or sorted(near) != near:
        return times
    moved = {}
    for x, k_nrn in zip(near, neuron_steps(near, dt)):
        on = np.arange(max(k_nrn - 1, 0), k_nrn + 2, dtype=np.float64) * dt  # nmlcell.run: t = i * dt
        k_ours = max(k_nrn - 1, 0) + int(np.searchsorted(on, x, side="right"))
        if k_ours < k_nrn:  # k * dt passes x a step before NEURON's t does
            moved[x] = float(k_nrn - 1) * dt + 1e-6 * dt
        elif k_ours > k_nrn:  # NEURON's t is past x a step before k * dt is
            moved[x] = float(k_nrn) * dt - 1e-6 * dt
    return [moved.get(x, x) for x in times]


def netstim_steps(times, dt: float, chunk: int = 1 << 18) -> list[int]:
    """For each start time (ms, increasing) of a NetStim with ``number=1``
    (the export's timedSynapticInput): the step ``k`` whose end ``t_k``
    sees its event delivered (NEURON delivers, at the start of a step from
    ``t``, the events up to ``t + dt/2``). The event's time is
    ``(start + interval) - interval`` (netstim.mod's INITIAL, noise 0,
    interval 10 ms), compared with NEURON's running ``t``."""
    half = 0.5 * neuron_dt(dt)
    out, k0, grid = [], 0, np.array([half])  # grid: t_k + dt/2 for k = k0, k0+1, ...
    t_last = 0.0
    for x in times:
        e = (x + 10.0) - 10.0
        while not e <= grid[-1]:
            k0 += len(grid) - 1
            seq = np.add.accumulate(np.concatenate(([t_last], np.full(2 * chunk, half))))[::2]
            t_last = float(seq[-1])
            grid = np.concatenate(([grid[-1]], seq[1:] + half))
        out.append(k0 + int(np.searchsorted(grid, e, side="left")))
    return out


def netstim_times(times) -> list[float]:
    """The event times (ms) of the export's NetStims started at ``times``
    (``number=1``): each time as the export writes it (a Java float), then
    ``(start + interval) - interval`` with the default interval of 10 ms
    (netstim.mod's INITIAL, noise 0): the ``t`` NEURON's NET_RECEIVE sees."""
    written, _ = _as_written(times, None, None)
    return [(x + 10.0) - 10.0 for x in written]


def netstim_thresholds(times, dt: float | None, until: float | None = None) -> list[float]:
    """Spike times (ms) for nmlcell's NetStim rule (emit at the end of the
    first step whose end is past ``time - dt/2``) that fire on the export's
    step: a time within 1e-6 dt of a half-step point (where round-off
    decides) is moved 1e-6 dt to the side NEURON's clock takes
    (:func:`netstim_steps`). The times as the export writes them (Java
    floats)."""
    times, limit = _as_written(times, dt, until)
    if limit is None:
        return times
    near = [x for x in times if 0 <= x <= limit and abs(x / dt - math.floor(x / dt) - 0.5) < 1e-6]
    if not near:
        return times
    moved = {}
    for x, k in zip(near, netstim_steps(near, dt)):  # x near (j + 1/2) dt: NEURON's k is j or j + 1
        j = math.floor(x / dt)
        moved[x] = (j + 0.5) * dt + (-1e-6 if k <= j else 1e-6) * dt
    return [moved.get(x, x) for x in times]


def simulation_step(rd, model) -> tuple[float | None, float | None]:
    """(step, length) in ms of the LEMS file's target ``<Simulation>``,
    None where it has none."""
    sim = model.targets[0] if getattr(model, "targets", None) else None
    if sim is None or sim not in model.components:
        return None, None
    c = model.components[sim]
    if c.type != "Simulation":
        return None, None
    got = []
    for k in ("step", "length"):
        try:
            got.append(rd.quantity(c.parameters[k], "time", sim, k) * 1e3)
        except Exception:  # noqa: BLE001 - the <Simulation> reader reports a bad value with its line
            got.append(None)
    return got[0], got[1]


def first_shared_step(times, dt: float, until, steps) -> tuple[float, float] | None:
    """The first two of ``times`` (ms, as the export writes them, up to its
    limit: :func:`_as_written`) that ``steps`` (:func:`neuron_steps` for
    a spikeArray's WATCH, :func:`netstim_steps` for a timedSynapticInput's
    NetStims) puts on one step of ``dt``; None where there are none or
    ``dt`` moves nothing."""
    written, limit = _as_written(times, dt, until)
    if limit is None:
        return None
    near = [x for x in written if 0 <= x <= limit and math.isfinite(x)]
    k = steps(near, dt) if near else []
    return next(((near[j - 1], near[j]) for j in range(1, len(k)) if k[j] == k[j - 1]), None)

