"""Event delivery between groups: spikes of a source population reach the
``OnEvent`` handlers of the synapses they connect to after each
connection's delay, through a fixed-size ring buffer of past spikes kept in
the scan's carry (no Python in the time loop).

A spike detected at the end of step ``s`` (time ``t[s+1]``) is written to
slot ``s mod L`` of the buffer. At the start of step ``m`` (before any state
advances) a connection delivers it when it is due:

- every solver but ``lems_euler``: at ``m = s + 1 + round(delay / dt)``,
  so the synapse jumps at the spike time plus the delay;
- ``lems_euler`` (jNeuroML's interpreter, jLEMS): a connection with a
  delay queues the event for jLEMS's clock value ``T[s+1] + delay``
  (``T``: ``t += dt`` summed in seconds) and delivers it at the start of
  the first step ``m`` whose end time ``T[m+1]`` reaches that, which is
  ``s + round(delay/dt)`` or one step later depending on the rounding of
  the sums; with no delay jLEMS hands the event over at once, which is
  step ``s + 1`` when the source population comes after the target's in
  the network (a source before it reaches the synapse one step earlier in
  jLEMS, inside the same step; see docs/differences-from-neuron.md).

A source whose spikes fall between steps (a NetStim: NEURON's event at
its exact time) keeps the time of its latest spike less its step's end
in a state :data:`LAG` (or the time itself, :data:`SPIKE_T`). The routes
from such sources carry the exact spike time in a float buffer next to
the spike flags (:meth:`EventPlan.carry0`) and deliver each event as
NEURON does, with NEURON's own arithmetic: ``te = spike time + the
NetCon's delay`` (one float64 addition, as ``PreSyn::send``) at the start
of the first step whose ``tm = T + dt/2`` reaches it, ``T`` NEURON's
running ``t`` (two additions of ``dt/2`` a step, carried in the loop),
so that ties (``te`` on a half step) fall as in NEURON; every quantity
in the test is a sum of stored values, never a product, so XLA's fused
multiply-adds cannot round it differently in ``run()``, ``jit`` or
``vmap``. A handler reading ``t`` (NET_RECEIVE) sees ``te``. Plans with
no such route carry the flags alone (no extra cost).

A source that may emit several spikes on one step (a VecStim with times
that close: state :data:`SPIKE_N`, its spikes on its latest spiking step)
makes the plan *counted*: a third buffer carries each step's count (1 for
the other sources) and a timed route delivers the sum of the counts due
at a step (those of one step of the source, and of two steps that arrive
on one). :func:`deliver` applies ``k`` events to an additive handler
(:func:`additive`: each assignment ``x = x + delta``, ``delta`` reading no
assigned variable nor ``t``) as ``x + k * delta`` (NEURON: ``k``
deliveries, equal to 1e-16 relative); other handlers are refused where
that can happen (nmlcell/vecstim.py: check_steps).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.model import EventLink


@dataclass
class _Route:
    dst: str            # synapse group
    port: str
    slot_src: np.ndarray  # (n_dst,) column of the source in the buffer, -1: none
    delay: np.ndarray     # (n_dst,) steps
    delay_si: np.ndarray  # (n_dst,) seconds
    cls: np.ndarray = None  # (n_dst,) index of the delay in EventPlan.classes, -1 for none
    forward: np.ndarray = None  # (n_dst,) delivered within the step the spike is emitted in (jLEMS)
    exact_t: bool = False       # its handler reads t (timed routes)
    netcon_delay: np.ndarray = None  # (n_dst,) the NetCon's delay as given (ms): NEURON's te = spike time + this
    ahead: np.ndarray = None    # (n_dst,) 1 where the target takes its events a step early


LAG = "spike_lag"   # a source's state: its latest spike's exact time less the step's (ms)
SPIKE_T = "spike_t"  # a source's state: its latest spike's exact time (ms), where LAG is not relative to t
SPIKE_N = "spike_n"  # a source's state: its spikes on its latest spiking step (several on one step)


@dataclass(frozen=True)
class NetConLink(EventLink):
    """An :class:`EventLink` of :class:`nmlcell.Network`, which may shorten
    a NetCon's delay (a late NetStim, a target that takes its events a
    step early): each pair's NetCon delay as given (``netcon_delays``,
    ms) and whether its target takes its events a step early (``ahead``),
    so that the exact event time is NEURON's ``spike time + delay``."""
    netcon_delays: tuple = ()
    ahead: tuple = ()


def additive(mech, port=None) -> bool:
    """Whether ``k`` events at once on ``port`` (every port: None) of
    ``mech`` are ``k`` times one: every assignment ``x = x + delta`` with
    ``delta`` reading no variable the handler assigns, nor ``t`` (so the
    deliveries in a row add ``k * delta``). ExpSyn's ``g = g + w`` and
    Exp2Syn's ``A = A + w*factor`` are; a TM synapse (reads ``t`` and its
    own state) and per-NetCon state are not."""
    import sympy as sp

    for h in mech.on_events:
        if port is not None and h.port != port:
            continue
        assigned = {a.variable for a in h.assignments} | {"t"}
        if getattr(h, "events", ()):
            return False
        for a in h.assignments:
            me = next((x for x in a.expr.free_symbols if x.name == a.variable), sp.Symbol(a.variable))
            delta = sp.expand(a.expr - me)
            if any(x.name in assigned for x in delta.free_symbols):
                return False
    return True


def reads_t(mech, port=None) -> bool:
    """Whether the handler on ``port`` (every port: None) reads ``t``."""
    return any(x.name == "t" for h in mech.on_events if port is None or h.port == port
               for a in h.assignments for x in a.expr.free_symbols)


def takes_counts(mech, port=None) -> bool:
    """Whether ``k`` events at once on ``port`` (every port: None) may be
    delivered as one count (:func:`deliver`: ``x + k * delta``): the
    handler is :func:`additive` and does not read ``t``."""
    return additive(mech, port) and not reads_t(mech, port)


class EventPlan:
    """The buffer layout and the routes of a lowered model's event links."""

    LATENCY = 1  # steps between a spike's detection and its delivery with no delay
    timed_routes: list = []  # indices of the routes from sources with exact spike times (LAG)

    def __init__(self, lowered, event_links, dt, lems_clock=False):
        self.lems_clock = lems_clock
        self.dt = float(dt)
        self.sources: dict[str, int] = {}  # source gid -> column offset in the buffer
        width = 0
        for el in event_links:
            if el.src not in self.sources:
                g = lowered.groups[el.src]
                if not g.emits_spikes:
                    raise ValueError(f"group '{el.src}' emits no spikes")
                self.sources[el.src] = width
                width += g.size
        self.width = width
        routes: dict[tuple[str, str], _Route] = {}
        dmax = 0
        # jLEMS's tree order: populations in document order, a synapse advancing with its post cell
        order = {gid: k for k, gid in enumerate(lowered.groups)}
        host = {}  # (synapse gid, instance) -> (group order, index) of the cell it sits on
        for l in lowered.links:
            if l.kind == "sum":
                for k, q in l.pairs:
                    host[(l.src, k)] = (order[l.dst], q)
        for el in event_links:
            n = lowered.groups[el.dst].size
            key = (el.dst, el.dst_port)
            if key not in routes:
                routes[key] = _Route(el.dst, el.dst_port, np.full(n, -1, np.int32), np.zeros(n, np.int32),
                                     np.zeros(n), forward=np.zeros(n, bool), netcon_delay=np.zeros(n),
                                     ahead=np.zeros(n, np.int32))
            r = routes[key]
            off = self.sources[el.src]
            given = getattr(el, "netcon_delays", ()) or el.delays
            ahead = getattr(el, "ahead", ()) or (0,) * len(el.pairs)
            for (a, b), d, dg, ah in zip(el.pairs, el.delays, given, ahead):
                r.netcon_delay[b] = float(dg)
                r.ahead[b] = int(ah)
                if r.slot_src[b] >= 0:
                    raise ValueError(f"synapse {el.dst}[{b}] has two event sources")
                steps = int(round(float(d) / float(dt)))
                r.slot_src[b] = off + a
                r.delay[b] = steps
                r.delay_si[b] = float(d) / 1e3
                dmax = max(dmax, steps)
                # no delay, source before the synapse's cell: jLEMS applies it within the same step
                r.forward[b] = lems_clock and float(d) <= 0 and (order[el.src], a) < host.get((el.dst, b), (-1, -1))
        self.has_forward = any(r.forward.any() for r in routes.values())
        self.routes = list(routes.values())
        # the distinct delays (> 0, seconds) and each connection's index among them (-1: no delay)
        self.classes = sorted({float(d) for r in self.routes for d, src in zip(r.delay_si, r.slot_src)
                               if src >= 0 and d > 0})
        for r in self.routes:
            r.cls = np.array([self.classes.index(float(d)) if d > 0 else -1 for d in r.delay_si], np.int32)
        self.length = dmax + self.LATENCY + 3
        self.layout = [(gid, lowered.groups[gid].size) for gid in self.sources]
        # the sources' exact spike times (state LAG), for the routes whose handler reads t
        self.lag_cols = {}   # gid -> (column, whether it holds the time itself: SPIKE_T)
        for gid in self.sources:
            names = list(lowered.groups[gid].kernel.state_names)
            if SPIKE_T in names:
                self.lag_cols[gid] = (names.index(SPIKE_T), True)
            elif LAG in names:
                self.lag_cols[gid] = (names.index(LAG), False)
        # the sources that may emit several spikes on one step: their count state
        self.count_cols = {gid: list(lowered.groups[gid].kernel.state_names).index(SPIKE_N)
                           for gid in self.sources if SPIKE_N in lowered.groups[gid].kernel.state_names}
        lagged = np.zeros(max(self.width, 1), bool)
        for gid, off in self.sources.items():
            if gid in self.lag_cols:
                lagged[off:off + lowered.groups[gid].size] = True
        # routes with a source that has exact times: the step from its lag (timed_incoming)
        self.timed_routes = [] if lems_clock else [
            k for k, r in enumerate(self.routes) if lagged[np.maximum(r.slot_src, 0)][r.slot_src >= 0].any()]
        # the timed routes' connections end to end (one gather per candidate step for all of them)
        tr = [self.routes[k] for k in self.timed_routes]
        self._cut = np.cumsum([0] + [len(r.slot_src) for r in tr])
        if tr:
            src = np.concatenate([r.slot_src for r in tr])
            self._tcol = np.maximum(src, 0)
            self._tok = (src >= 0) & ~np.concatenate([r.forward for r in tr])
            self._tlagged = lagged[self._tcol] & (src >= 0)
            self._tdelay = np.concatenate([r.delay for r in tr])
            # the part of the delay the step rounds off
            self._toff = np.concatenate([r.delay_si for r in tr]) * 1e3 - self.dt * self._tdelay
            # an event is not delivered before its spike is known: at most one step early, none with no delay steps
            self._tmin = -np.minimum(self._tdelay, 1)
            self._tgiven = np.concatenate([r.netcon_delay for r in tr])   # NEURON's te = spike time + this
            self._tahead = np.concatenate([r.ahead for r in tr]).astype(bool)
        for r in tr:   # whether the handler sees the exact time
            g = lowered.groups[r.dst]
            r.exact_t = reads_t(g.mech, r.port)
        # counts: only where a source may emit several on one step, or a noisy NetStim two within one
        # step (it emits the second a step late, from its own slot: summed with the first where they
        # arrive together); else the plan is as before
        noisy = np.zeros(max(self.width, 1), bool)
        for gid, off in self.sources.items():
            m = lowered.groups[gid].mech
            if m.name == "NetStim" and any(i.kind == "random" for i in m.inputs):   # (or interval <= dt)
                noisy[off:off + lowered.groups[gid].size] = True
        self.counted = bool(self.count_cols) and bool(tr)
        self.summed = bool(tr) and (self.counted or bool(noisy.any()))
        if self.summed:
            self._tnoisy = noisy[self._tcol] & self._tlagged
            # k events at once are k times one (takes_counts), else a SimulationError
            self._tadd = np.concatenate([np.full(len(r.slot_src), takes_counts(lowered.groups[r.dst].mech, r.port))
                                         for r in tr])
        if tr:
            # what the handler adds to t itself: the rounded-off part of the delay (netcon_state's
            # extra weight entry), none in an artificial cell (nmodl_events: its t is the step's end,
            # t + dt, where it takes the event a step early)
            art = np.concatenate([np.full(len(r.slot_src), self._art(lowered, r)) for r in tr])
            self._tsub = np.where(art, 0.0, self._toff)

    @staticmethod
    def _art(lowered, r) -> bool:
        return lowered.groups[r.dst].mech.kind == "artificial_cell"

    @property
    def timed(self) -> bool:
        return bool(self.timed_routes)

    def carry0(self):
        """The event state the loop carries: :meth:`empty`, and where some
        route is timed, the float buffer of exact spike times next to it
        and NEURON's clock (its running ``t`` at the start of the previous
        and of the current step: :meth:`timed_incoming`)."""
        import jax.numpy as jnp

        ev = self.empty()
        if not self.timed:
            return ev
        base = (jnp.zeros((self.length, max(self.width, 1))), jnp.array([-jnp.inf, 0.0]))
        return ev, base + self.extra0()

    def extra0(self):
        """What a summed plan carries past the times and the clock: the
        spikes' counts by step slot (a counted plan) and the first step
        that delivered several events at once into a handler that is not
        additive, and the first that delivered a noisy NetStim's event a
        step late (-1: none): :meth:`check`."""
        import jax.numpy as jnp

        if not self.summed:
            return ()
        cnt = (jnp.zeros((self.length, max(self.width, 1))),) if self.counted else ()
        return cnt + (jnp.array([-1, -1], jnp.int32),)

    def push_extra(self, extra, i, y):
        """``extra`` (:meth:`extra0`) with step ``i``'s counts."""
        if not self.counted:
            return tuple(extra)
        return (self.push_counts(extra[0], i, y),) + tuple(extra[1:])

    def check(self, ev, dt, n):
        """Raise a SimulationError where the carried ``ev`` recorded
        several events at once into a handler that is not additive, or a
        noisy NetStim's event delivered a step late."""
        from ..errors import SimulationError

        if not self.summed:
            return
        err = np.where(np.asarray(ev[1][-1]) <= n, np.asarray(ev[1][-1]), -1)   # (steps past n: discarded)
        if err[0] >= 0:
            raise SimulationError(f"at t = {err[0] * float(dt):g} ms several events reach one synapse on one step "
                                  f"whose NET_RECEIVE is not additive or reads t (NEURON delivers each with its "
                                  f"own time; nmlcell one event per step into it): a NetStim with two "
                                  f"spikes within one step of dt = {float(dt):g} ms; use a smaller dt or a "
                                  f"smaller noise")
        if err[1] >= 0:
            raise SimulationError(f"at t = {err[1] * float(dt):g} ms a NetStim's event (noisy, or an interval up "
                                  f"to dt) arrives a step late (two of its spikes within one step of dt = "
                                  f"{float(dt):g} ms through a NetCon of delay below dt/2, or three within two "
                                  f"steps): use a smaller dt or longer delays")

    def _half(self):
        """dt/2 behind a barrier: XLA folds ``(t + h) + h`` into ``t + dt``
        otherwise (reassociated: 194 of 200 steps of the sum differed)."""
        import jax
        import jax.numpy as jnp

        return jax.lax.optimization_barrier(jnp.asarray(0.5 * self.dt))

    def clock_next(self, clock):
        """NEURON's clock one step on: ``t += dt/2`` twice (fadvance)."""
        import jax.numpy as jnp

        h = self._half()
        return jnp.stack([clock[1], (clock[1] + h) + h])

    def timed_incoming(self, buf, times, clock, i, extra=()):
        """({(gid, port): (N,) bool}, {(gid, port): (N,) ms}) of the timed
        routes' events due at the start of step ``i``, and what to add to
        the step's ``t`` for a handler reading it (its exact time less the
        delay's rounded-off part, which the handler adds: netcon_state).
        ``times``: the exact spike times by step slot; ``clock``: NEURON's
        ``t`` at the start of steps ``i - 1`` and ``i``. An event of time
        ``te`` is NEURON's at the first step whose ``t + dt/2`` reaches it,
        handled at that step's start (a step earlier where the target takes
        it ahead). ``extra`` (a summed plan, :meth:`extra0`): the events are
        then (N,) float counts, summed over the steps due); ``extra`` is
        returned as a third value (updated in a summed plan)."""
        import jax.numpy as jnp

        h = self._half()
        t_prev, t_now = clock[0], clock[1]
        t_next = (t_now + h) + h
        ahead = jnp.asarray(self._tahead)
        lo = jnp.where(ahead, t_now + h, t_prev + h)   # NEURON's bound of the step before
        hi = jnp.where(ahead, t_next + h, t_now + h)   # and of the step handled now
        col = jnp.asarray(self._tcol)
        given = jnp.asarray(self._tgiven)
        tmin = jnp.asarray(self._tmin)
        lagged = jnp.asarray(self._tlagged)
        t_i = i.astype(times.dtype) * self.dt if hasattr(i, "astype") else float(i) * self.dt
        got = jnp.zeros(self._tcol.shape, bool)
        counts = extra[0] if self.counted else None
        num = jnp.zeros(self._tcol.shape) if self.summed else None
        late = jnp.zeros(self._tcol.shape, bool)
        tl = jnp.zeros(self._tcol.shape)
        for shift in (-1, 0, 1):   # the event of step s delivered `shift` steps off round(delay/dt)
            s = i - jnp.asarray(self._tdelay) - self.LATENCY - shift
            row = jnp.mod(s, self.length)
            te = times[row, col] + given   # NEURON's PreSyn::send: spike time + delay
            due = (te <= hi) & ((te > lo) | (shift == tmin)) & (shift >= tmin)   # not before its spike is known
            due = jnp.where(lagged, due, shift == 0)
            hit = buf[row, col] & (s >= 0) & due
            got = got | hit
            if num is not None:
                num = num + jnp.where(hit, 1.0 if counts is None else counts[row, col], 0.0)
                if shift == -1 or shift == 0:   # due before its window (tmin: -1 or 0): a step late
                    late = late | (hit & jnp.asarray(self._tnoisy & (self._tmin == shift)) & (te <= lo))
            tl = jnp.where(hit & lagged, te - jnp.where(ahead, self.dt, 0.0) - t_i - jnp.asarray(self._tsub), tl)
        got = got & jnp.asarray(self._tok)
        if num is not None:
            got = jnp.where(got, num, 0.0)
            bad = (got > 1) & ~jnp.asarray(self._tadd)
            err = extra[-1]
            err = jnp.where((err < 0) & jnp.any(jnp.stack([bad, late]), axis=1), jnp.asarray(i).astype(err.dtype), err)
            extra = tuple(extra[:-1]) + (err,)
        out, lags = {}, {}
        for j, k in enumerate(self.timed_routes):
            r, a, b = self.routes[k], self._cut[j], self._cut[j + 1]
            out[(r.dst, r.port)] = got[a:b]
            if r.exact_t:
                lags[(r.dst, r.port)] = tl[a:b]
        return out, lags, extra

    def push_times(self, times, i, y, t1):
        """The spike-time buffer with step ``i``'s exact spike times: a
        source's SPIKE_T, or ``t1 + LAG`` (``t1`` the step end's time the
        source's LAG was taken from, the same value: the sum is then
        exact, the spike time itself)."""
        import jax.numpy as jnp

        def col(gid, n):
            if gid not in self.lag_cols:
                return jnp.zeros((n,))
            c, absolute = self.lag_cols[gid]
            return y[gid][c] if absolute else t1 + y[gid][c]

        row = jnp.concatenate([col(gid, n) for gid, n in self.layout])
        return times.at[jnp.mod(i, self.length)].set(row)

    def push_counts(self, counts, i, y):
        """The count buffer with step ``i``'s counts (a source's
        :data:`SPIKE_N`, 1 for the others; read only where it spiked)."""
        import jax.numpy as jnp

        row = jnp.concatenate([y[gid][self.count_cols[gid]] if gid in self.count_cols else jnp.ones((n,))
                               for gid, n in self.layout])
        return counts.at[jnp.mod(i, self.length)].set(row)

    def empty(self, dtype=bool):
        import jax.numpy as jnp

        return jnp.zeros((self.length, max(self.width, 1)), dtype=dtype)

    def arrival_tables(self, n):
        """jLEMS's delivery rule as data, for a run of ``n`` steps: for each
        distinct delay (seconds), ``first[c, m]`` and ``second[c, m]`` are
        the spike steps whose events arrive at the start of step ``m`` (-1:
        none; the rounding of jLEMS's clock can make two arrive at once and
        none at the next). None when this plan does not follow jLEMS."""
        if not self.lems_clock or not len(self.classes):
            return None
        from ..run import event_times_si

        T = event_times_si(n + 2, self.dt)
        s = np.arange(n)
        first = np.full((len(self.classes), n + 1), -1, np.int32)
        second = np.full((len(self.classes), n + 1), -1, np.int32)
        for c, d in enumerate(self.classes):
            # the first m > s with T[m+1] >= T[s+1] + d (EventManager: time <= t)
            m = np.searchsorted(T, T[s + 1] + d, side="left") - 1
            m = np.maximum(m, s + 1)
            ok = m <= n
            ms, ss = m[ok], s[ok]  # m is nondecreasing in s
            uniq, start, count = np.unique(ms, return_index=True, return_counts=True)
            if np.any(count > 2):
                raise ValueError("more than two spike steps arrive on one step")
            first[c, uniq] = ss[start]
            two = count == 2
            second[c, uniq[two]] = ss[start[two] + 1]
        return first, second

    def incoming(self, buf, i, tables=None):
        """{(gid, port): (N,) bool} of the events due at the start of step
        ``i``; ``tables`` (:meth:`arrival_tables`) when following jLEMS."""
        import jax
        import jax.numpy as jnp

        out = {}
        rows = None
        if tables is not None:
            rows = [jax.lax.dynamic_index_in_dim(t, i, axis=1, keepdims=False) for t in tables]
        for k, r in enumerate(self.routes):
            if k in self.timed_routes:   # (timed_incoming)
                continue
            col = jnp.asarray(np.maximum(r.slot_src, 0))
            ok = jnp.asarray((r.slot_src >= 0) & ~r.forward)
            if rows is None:
                s = i - r.delay - self.LATENCY
                out[(r.dst, r.port)] = buf[jnp.mod(s, self.length), col] & ok & (s >= 0)
                continue
            cls = jnp.asarray(np.maximum(r.cls, 0))
            delayed = jnp.asarray(r.cls >= 0)
            got = jnp.zeros(r.slot_src.shape, dtype=bool)
            for k, row in enumerate(rows):
                s = jnp.where(delayed, row[cls], i - 1 if k == 0 else -1)
                got = got | (buf[jnp.mod(s, self.length), col] & (s >= 0))
            out[(r.dst, r.port)] = got & ok
        return out

    def forward_incoming(self, spikes):
        """{(gid, port): (N,) bool} of this step's spikes on connections
        jLEMS delivers within the step (see ``_Route.forward``), and whether
        there is any."""
        import jax.numpy as jnp

        row = jnp.concatenate([spikes[gid] for gid in self.sources])
        out, anyf = {}, jnp.asarray(False)
        for r in self.routes:
            if not r.forward.any():
                continue
            got = row[jnp.asarray(np.maximum(r.slot_src, 0))] & jnp.asarray(r.forward)
            out[(r.dst, r.port)] = got
            anyf = anyf | jnp.any(got)
        return out, anyf

    def push(self, buf, i, spikes):
        """The buffer with the spikes of step ``i`` written to its slot."""
        import jax.numpy as jnp

        row = jnp.concatenate([spikes[gid] for gid in self.sources]) if self.sources else buf[0]
        return buf.at[jnp.mod(i, self.length)].set(row)


def deliver(lowered, t, y, p, incoming, lags=None):
    """Apply the OnEvent handlers of the events arriving now (``incoming``:
    (gid, port) -> (N,) bool): each handler's assignments in order, each
    seeing the previous ones, on the instances that received an event.
    ``lags``: (gid, port) -> (N,) ms added to the ``t`` the handler sees
    (:meth:`EventPlan.timed_incoming`)."""
    import jax.numpy as jnp

    from .system import _set

    y = dict(y)
    for (gid, port), got in incoming.items():
        g = lowered.groups[gid]
        assigns = (g.event_plan or {}).get(port)
        if not assigns:
            continue
        pg = p[gid]
        if isinstance(got, tuple):  # a merged synapse group (passes/merge_synapses): (received, summed weight)
            got, w = got
            pg = {**pg, "weight": w}
        k = None
        if jnp.issubdtype(got.dtype, jnp.floating):   # counts (a counted plan): k events as k times one
            k, got = got, got > 0
        memo = {}
        u = lowered._group_inputs(t, y, p, gid, memo)
        dv = lowered._derived(t, y, p, gid, memo, g.event_reads)
        for h in g.event_reads & g.hoisted_derived:
            dv = {**dv, h: p[gid][g.kernel.hoisted_key(h)]}
        yg = y[gid]
        te = t if not lags or (gid, port) not in lags else t + lags[(gid, port)]
        if te is not t and any(i.kind == "time" for i in g.mech.inputs):   # t as an input (an artificial cell)
            u = {**u, **{i.name: te for i in g.mech.inputs if i.kind == "time"}}
        for col, fn in assigns:
            (val,) = fn(te, yg, pg, u, dv)
            if k is not None:   # additive (checked at build where k can exceed 1): x + k * delta
                val = jnp.where(k > 1, yg[col] + k * (val - yg[col]), val)
            yg = _set(yg, col, jnp.where(got, val, yg[col]).astype(yg[col].dtype))
        y[gid] = yg
    return y


def attached(lowered, gid, idx, head, tail):
    """A variable of a synapse or input on cell ``gid[idx]``, by jLEMS's
    names: ``synapses:<component>:<k>/g`` (the k-th instance of that
    component attached to the cell) or ``<component>/g`` (the first)."""
    parts = head.split(":")
    if len(parts) == 3 and parts[2].isdigit():
        comp, k = parts[1], int(parts[2])
    else:
        comp, k = head, 0
    found = []
    for l in lowered.links:
        if l.dst != gid or l.kind != "sum":
            continue
        src = lowered.ir.network.group(l.src)
        if comp not in (src.component, l.src):
            continue
        found += [(l.src, si) for si, di in l.pairs if di == idx]
    if k >= len(found):
        return None
    sgid, si = found[k]
    sub = lowered.groups[sgid].mech.exposures
    if tail not in sub:
        return None
    name, dim = sub[tail]
    return sgid, si, name, dim


def uniform(seed, gid, name, t, n):
    """(n,) uniform [0, 1) draws for random input ``name`` of group ``gid``
    at time ``t``: a pure function of (seed, gid, name, t), so a run is
    reproducible and needs no key in the carry."""
    import zlib

    import jax
    import jax.numpy as jnp

    key = jax.random.key(jnp.asarray(seed).astype(jnp.int64).astype(jnp.uint32))
    key = jax.random.fold_in(key, zlib.crc32(f"{gid}/{name}".encode()) & 0x7FFFFFFF)
    bits = jax.lax.bitcast_convert_type(jnp.asarray(t), jnp.uint32).reshape(-1)
    for k in range(bits.shape[0]):
        key = jax.random.fold_in(key, bits[k])
    return jax.random.uniform(key, (n,), dtype=jnp.asarray(t).dtype)
