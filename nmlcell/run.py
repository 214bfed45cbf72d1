"""The time loop: ``lax.scan`` in chunks, events after each step,
recording, spike detection, a progress bar for long runs, and NaN checks.

Step order (the same for every solver; it is jNeuroML's for LEMS models,
which advances a cell's inputs before the cell):
1. the OnCondition handlers of stimuli are applied at t+dt (a pulse that
   starts at t+dt drives this step);
2. the solver advances the continuous states from t to t+dt;
3. the OnCondition handlers of cells are applied at t+dt on the new state
   (spike detection, resets), in document order;
4. the recorded quantities are sampled at t+dt.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .errors import OptionError, SimulationError


def _check_dt(duration, dt):
    if dt is None or not (float(dt) > 0) or not math.isfinite(float(dt)):
        raise OptionError(f"dt must be a positive number of ms (got {dt})", element="dt")
    if duration is None or not (float(duration) > 0) or not math.isfinite(float(duration)):
        raise OptionError(f"duration must be a positive number of ms (got {duration})", element="duration")
    n = int(round(float(duration) / float(dt)))
    if n < 1:
        raise OptionError(f"duration {duration} ms is shorter than one step of {dt} ms", element="duration")
    return n


def event_plan(lowered, dt):
    """The model's :class:`~nmlcell.lower.events.EventPlan`, or None when
    no events travel between groups."""
    if not getattr(lowered, "event_links", ()):
        return None
    cache = lowered.__dict__.setdefault("_event_plans", {})
    if dt not in cache:
        from .lower.events import EventPlan

        from .passes.merge_synapses import MergedEventPlan, WeightedEventLink

        cls = MergedEventPlan if any(isinstance(e, WeightedEventLink) for e in lowered.event_links) else EventPlan
        cache[dt] = cls(lowered, lowered.event_links, dt, lems_clock=getattr(lowered, "lems_exact", False))
    return cache[dt]


def make_step(lowered, integrator, dt, observe, plan=None):
    """One model step (t, y, p, t1, i, ev) -> (y, record, spikes, ev);
    ``ev`` is the event ring buffer (``plan``) or None, ``i`` the step index."""
    import jax.numpy as jnp

    layout = lowered.spike_layout()

    # jNeuroML writes a DerivedVariable as computed at the start of the step
    # (after the events delivered then); lems_euler records it the same way
    derived_before = getattr(lowered, "lems_exact", False)

    def advance(t, t1, y, p):
        y, _ = lowered.events(t1, y, p, phase="pre")
        y_mid = y
        y = integrator(lowered, t, y, dt, p)
        y, spikes = lowered.events(t1, y, p, phase="post")
        return y, (spikes, y_mid)

    def step(t, y, p, t1=None, i=None, ev=None, tables=None):
        import jax

        t1 = t + dt if t1 is None else t1
        lag = None
        if plan is not None:
            if plan.timed:   # (flags, (exact spike times, NEURON's clock, *extra)): lower/events.py
                ev, (lag, clock, *extra) = ev
                # one value of the step end's time for the sources' LAG and push_times (a
                # barrier: XLA would otherwise recompute t + dt in each fusion, fused or not)
                t1 = jax.lax.optimization_barrier(t1)
            inc, lags = plan.incoming(ev, i, tables), None
            if lag is not None:
                timed, lags, extra = plan.timed_incoming(ev[0] if isinstance(ev, tuple) else ev, lag, clock, i, extra)
                inc = {**inc, **timed}
            y = lowered.deliver(t, y, p, inc, lags)
        y_start = y
        y, (spikes, y_mid) = advance(t, t1, y, p)
        if plan is not None and plan.has_forward:
            # jLEMS: a spike reaches the synapses of later cells with no delay within its step;
            # redo the step with those events applied first (only on steps that have such spikes)
            fwd, anyf = plan.forward_incoming(spikes)
            y, (spikes, y_mid) = jax.lax.cond(
                anyf, lambda: advance(t, t1, lowered.deliver(t, y_start, p, fwd), p),
                lambda: (y, (spikes, y_mid)))
        rec = observe(t1, y, p, before=(t, y_mid, dt) if derived_before else None)
        if layout:
            spk = jnp.concatenate([spikes[gid] for gid, _ in layout])
        else:
            spk = jnp.zeros((0,), dtype=bool)
        if plan is not None:
            ev = plan.push(ev, i, spikes)
            if lag is not None:
                ev = (ev, (plan.push_times(lag, i, y, t1), plan.clock_next(clock)) + plan.push_extra(extra, i, y))
        return y, rec, spk, ev

    return step


def event_times(lowered, n, dt):
    """Times (ms) at which events are tested after each step, or None for
    i*dt. jNeuroML accumulates t += dt in seconds; its emulation does too,
    so a pulse edge falls on the same step as in jNeuroML."""
    if not getattr(lowered, "lems_exact", False):
        return None
    t_si = np.cumsum(np.full(n + 1, float(dt) * 1e-3))  # sequential float64 sums, as jLEMS
    t_si = np.concatenate([[0.0], t_si[:n]])
    return t_si / 1e-3


def event_times_si(n, dt):
    """jLEMS's clock in seconds, ``t += dt`` summed in float64 (n + 1 values):
    a delayed event is due when this clock reaches the emission time plus
    the delay (see :mod:`nmlcell.lower.events`)."""
    t_si = np.cumsum(np.full(n + 1, float(dt) * 1e-3))
    return np.concatenate([[0.0], t_si[:n]])


def _compiled(lowered, integrator, dt, record, dtype, clen, use_tev):
    """Jitted start and chunk functions, cached per (model, solver, dt,
    record, precision, chunk length): repeated runs and parameter sweeps
    through ``model.run(params=...)`` compile once."""
    import jax
    import jax.numpy as jnp

    cache = lowered.__dict__.setdefault("_run_cache", {})
    key = (integrator.name, id(integrator.step), dt, record, dtype, clen, use_tev)
    if key in cache:
        return cache[key]
    jdt = jnp.float32 if dtype == "float32" else jnp.float64
    observe, dims = lowered.observer(list(record))
    dtv = jnp.asarray(dt, dtype=jdt)
    plan = event_plan(lowered, dt)
    step = make_step(lowered, integrator, dtv, observe, plan)

    @jax.jit
    def _start(params):
        params = lowered.prepare(params)
        y0 = lowered.init(params, 0.0, jdt)
        return y0, observe(jnp.asarray(0.0, jdt), y0, params)

    @jax.jit
    def run_chunk(y, ev, i0, bad, params, tev):
        params = lowered.prepare(params)

        def body(carry, _):
            y, ev, i, bad = carry
            t = i.astype(jdt) * dtv
            y2, rec, spk, ev = step(t, y, params, tev[0][i + 1] if use_tev else None, i, ev,
                                    tev[1] if use_tev else None)
            finite = _all_finite(jax.tree.leaves(y2))
            bad = jnp.where((bad < 0) & ~finite, i + 1, bad)
            return (y2, ev, i + 1, bad), (rec, spk)

        (y, ev, i, bad), (recs, spks) = jax.lax.scan(body, (y, ev, i0, bad), None, length=clen)
        return y, ev, i, bad, recs, spks

    cache[key] = (_start, run_chunk, dims, observe)
    return cache[key]


def _kept_chunk(lowered, integrator, dt, record, dtype, n, clen):
    """A chunk length already compiled for this model, solver, dt, record
    and precision whose whole chunks add at most ``n`` steps past the
    ``n`` of the run (discarded), the one adding fewest; else ``clen``. A
    new duration then runs without compiling again (0.85 s for a ring of 5
    hh cells, 1.6 s for two branched cells, against 0.02-0.07 s of run)."""
    best = None
    for key in lowered.__dict__.get("_run_cache", {}):
        name, sid, kdt, krec, kdtype, c, use_tev = key
        if (name, sid, kdt, krec, kdtype, use_tev) == (integrator.name, id(integrator.step), dt, record, dtype, False):
            waste = c * math.ceil(n / c) - n
            if waste <= n and (best is None or (waste, c) < best):
                best = (waste, c)
    return clen if best is None else best[1]


def _all_finite(leaves):
    """Whether every state is finite. On a GPU as one reduction (the largest
    |x| of all columns laid end to end is finite exactly when none is NaN
    or inf): a test per column is a reduction kernel each, every step (E-I
    network on an H200, ms per 1000 steps: 42.5 per column, 31.7 as one,
    27.5 with no test). On a CPU per column, which measured as fast or
    faster there (0.26-0.29 against 0.28-0.30 s)."""
    import jax
    import jax.numpy as jnp

    if jax.default_backend() == "cpu":
        return jnp.all(jnp.array([jnp.all(jnp.isfinite(v)) for v in leaves]))
    cols = [jnp.ravel(v) for v in leaves if jnp.issubdtype(v.dtype, jnp.inexact)]
    if not cols:
        return jnp.asarray(True)
    dt = jnp.result_type(*cols)
    return jnp.isfinite(jnp.max(jnp.abs(jnp.concatenate([c.astype(dt) for c in cols]))))


def simulate(lowered, integrator, *, duration, dt, record, params, dtype="float64", progress=None,
             chunk_steps=None):
    """Run the model; returns dict with t (ms), records (steps+1, n),
    spike matrix info and the final state. Checks for divergence."""
    import jax
    import jax.numpy as jnp

    n = _check_dt(duration, dt)
    jdt = jnp.float32 if dtype == "float32" else jnp.float64
    params = jax.tree.map(lambda a: jnp.asarray(a, dtype=jdt), params)
    auto = chunk_steps is None
    if chunk_steps is None:
        chunk_steps = min(n, 5000)
    nchunks = max(1, math.ceil(n / chunk_steps))
    clen = math.ceil(n / nchunks)
    if auto and not getattr(lowered, "lems_exact", False):  # (jNeuroML's clock tables are shaped by n)
        clen = _kept_chunk(lowered, integrator, float(dt), tuple(record), dtype, n, clen)
        nchunks = math.ceil(n / clen)
    tev = event_times(lowered, n + clen * nchunks, dt)
    use_tev = tev is not None
    plan = event_plan(lowered, float(dt))
    tables = plan.arrival_tables(n + clen * nchunks) if plan is not None else None
    tables = None if tables is None else tuple(jnp.asarray(x) for x in tables)
    tev = (jnp.zeros((1,), jdt), None) if tev is None else (jnp.asarray(tev, dtype=jdt), tables)
    _start, run_chunk, dims, observe = _compiled(lowered, integrator, float(dt), tuple(record), dtype, clen,
                                                 use_tev)
    # the initial state with NumPy where possible: tracing and compiling it
    # would cost more than the rest of a short run (see docs/performance.md)
    start = _host_start(lowered, params, observe, (tuple(record), dtype)) if dtype == "float64" else None
    y0, rec0 = start if start is not None else _start(params)
    layout = lowered.spike_layout()
    _run = run_chunk
    ev = plan.carry0() if plan is not None else None

    def run_chunk(y, i, bad):
        nonlocal ev
        y, ev, i, bad, r, s = _run(y, ev, i, bad, params, tev)
        return y, i, bad, r, s

    recs, spikes = [np.asarray(rec0)[None, :]], []
    y, i, bad = y0, jnp.asarray(0, jnp.int32), jnp.asarray(-1, jnp.int32)
    t_start = time.perf_counter()
    bar = None
    done = 0
    t_prev = t_start
    for c in range(nchunks):
        y, i, bad, r, s = run_chunk(y, i, bad)
        r = np.asarray(r)
        s = np.asarray(s)
        take = min(clen, n - done)
        recs.append(r[:take])
        spikes.append(s[:take])
        done += take
        b = int(bad)
        if 0 <= b <= n:  # (steps past n, in the last chunk, are discarded)
            if bar is not None:
                bar.close()
            _diverged(lowered, y, b * float(dt), integrator)
        now = time.perf_counter()
        if bar is not None:
            bar.update(take)
        elif progress is True or (progress is None and c >= 1 and (now - t_prev) * (nchunks - c - 1) > 2.0):
            bar = _bar(n, done)
        t_prev = now
    if bar is not None:
        bar.close()
    if plan is not None and plan.timed:   # several events into a non-additive handler, or late (lower/events.py)
        plan.check(ev, dt, n)
    wall = time.perf_counter() - t_start
    records = np.concatenate(recs, axis=0)
    spk = np.concatenate(spikes, axis=0) if spikes else np.zeros((0, 0), bool)
    t = np.arange(n + 1) * float(dt)
    return {"t": t, "records": records, "dims": dims, "spikes": spk, "layout": layout,
            "final": y, "wall": wall, "steps": n}


def _host_start(lowered, params, observe, key):
    """:meth:`LoweredModel.start_on_host`, kept for the next run with the
    very same parameter arrays (JAX arrays are immutable: the same objects
    hold the same values), so that repeated runs skip it."""
    import jax

    leaves, tdef = jax.tree.flatten(params)
    if any(isinstance(a, jax.core.Tracer) for a in leaves):
        return None
    cache = lowered.__dict__.setdefault("_host_starts", {})
    hit = cache.get(key)
    if hit is not None and hit[0] == tdef and all(a is b for a, b in zip(hit[1], leaves)):
        return hit[2]
    start = lowered.start_on_host(params, observe)
    # the leaves are kept with it, so their ids are not reused
    cache[key] = (tdef, leaves, start)
    return start


def _bar(total, done):
    from tqdm.auto import tqdm

    b = tqdm(total=total, unit="step", unit_scale=True, leave=False, desc="simulating")
    b.update(done)
    return b


def _diverged(lowered, y, t_ms, integrator):
    where = "a state"
    for gid, cols in y.items():
        if not cols:
            continue
        a = np.stack([np.asarray(c) for c in cols], axis=-1)
        bad = ~np.isfinite(a)
        if bad.any():
            inst, col = np.argwhere(bad)[0]
            where = f"{gid}[{inst}]/{lowered.groups[gid].kernel.state_names[col]}"
            break
    alt = "backward_euler" if integrator.category != "implicit" else "a smaller dt"
    raise SimulationError(f"the simulation diverged (NaN or inf) at t = {t_ms:g} ms in {where} "
                          f"with solver '{integrator.name}'; try a smaller dt or a more stable "
                          f"solver such as {alt}")


def make_simulator(lowered, integrator, *, duration, dt, record):
    """A pure function params -> {quantity: trace (steps+1,)} for jit/grad/vmap."""
    import jax
    import jax.numpy as jnp

    n = _check_dt(duration, dt)
    observe, _dims = lowered.observer(record)

    plan = event_plan(lowered, float(dt))

    def sim(params):
        params = lowered.prepare(params)
        dtv = jnp.asarray(dt, dtype=jnp.float64)
        y0 = lowered.init(params, 0.0, jnp.float64)
        rec0 = observe(jnp.asarray(0.0), y0, params)

        tev = event_times(lowered, n, dt)
        tables = plan.arrival_tables(n) if plan is not None else None
        tables = None if tables is None else tuple(jnp.asarray(x) for x in tables)
        tev = None if tev is None else jnp.asarray(tev)

        def run_steps(carry, idx, params, consts):
            # the step's arrays as arguments: a chunk's reverse pass
            # (_chunk_fn) is traced apart and must not close over them
            dtv, tev, tables = consts
            step = make_step(lowered, integrator, dtv, observe, plan)

            def body(carry, i):
                y, count, ev = carry
                t = i.astype(jnp.float64) * dtv
                y2, rec, spk, ev = step(t, y, params, None if tev is None else tev[i + 1], i, ev, tables)
                return (y2, count + spk.astype(jnp.int32), ev), rec

            return jax.lax.scan(body, carry, idx)

        n_emit = sum(sz for _g, sz in lowered.spike_layout())
        carry0 = (y0, jnp.zeros((n_emit,), jnp.int32), plan.carry0() if plan is not None else None)
        # Checkpointed in chunks of about sqrt(n) steps: reverse mode keeps
        # the carries at chunk boundaries and recomputes one chunk at a time,
        # so its memory grows as sqrt(n), not n (the forward pass is unchanged).
        k = max(1, int(round(n ** 0.5)))
        m, rest = divmod(n, k)
        consts = (dtv, tev, tables)
        chunk = _chunk_fn(lowered, run_steps, k, y0, params)

        carry, recs = jax.lax.scan(lambda c, s: chunk(c, s, params, consts), carry0, jnp.arange(m) * k)
        recs = recs.reshape((m * k,) + recs.shape[2:])
        if rest:
            carry, tail = run_steps(carry, m * k + jnp.arange(rest), params, consts)
            recs = jnp.concatenate([recs, tail], axis=0)
        _, count, _ev = carry
        allr = jnp.concatenate([rec0[None, :], recs], axis=0)
        out = {q: allr[:, k] for k, q in enumerate(record)}
        out["spike_count"] = count
        return out

    return sim


CHUNK_VJP = True


def _chunk_fn(lowered, run_steps, k, y0, params):
    """``(carry, start, params) -> (carry, records)``: ``k`` steps from step
    ``start``, rematerialised in reverse mode. With NEURON's first-order
    cable step on the C++ kernel (:mod:`nmlcell.lower.cable_adjoint`) it is
    a ``custom_vjp``: the forward pass runs the steps as the forward run
    does and keeps the chunk's inputs; the reverse pass recomputes the chunk
    with the voltage system solved in plain JAX (no custom call in that
    loop: XLA compiles it as one native loop) and takes its ``vjp``.
    Otherwise ``jax.checkpoint``."""
    import jax
    import jax.numpy as jnp

    def plain(carry, start, params, consts):
        return run_steps(carry, start + jnp.arange(k), params, consts)

    from .lower import cable_adjoint

    cable = getattr(lowered, "cable_plan", None)
    if not CHUNK_VJP or cable is None or not cable_adjoint.applies(lowered, 0.0, y0, params):
        return jax.checkpoint(plain)

    def zero(x):
        if jnp.issubdtype(jnp.result_type(x), jnp.inexact):
            return jnp.zeros_like(x)
        return np.zeros(np.shape(x), dtype=jax.dtypes.float0)

    @jax.custom_vjp
    def chunk(carry, start, params, consts):
        return plain(carry, start, params, consts)

    def fwd(carry, start, params, consts):
        return plain(carry, start, params, consts), (carry, start, params, consts)

    def bwd(res, ct):
        carry, start, params, consts = res
        with cable_adjoint.recomputing():
            _, f = jax.vjp(lambda c, p: plain(c, start, p, consts), carry, params)
            cc, cp = f(ct)
        return cc, zero(start), cp, jax.tree.map(zero, consts)

    chunk.defvjp(fwd, bwd)
    return chunk
