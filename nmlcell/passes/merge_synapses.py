"""Merging of linear synapses: one instance per (post cell, synapse type).

A network importer gives each connection its own synapse instance (as jLEMS
does): 4000 cells at 2 % connectivity make 320 000 synapse states. When a
synapse's dynamics are linear and homogeneous in its states, its current is
linear in its states, it starts at zero and an event only adds
``weight * c`` to a state (``c`` free of states and weight), then the
instances on one post cell sum exactly: one instance per (post cell,
synapse component) whose incoming events add their connections' summed
weights. expOneSynapse, expTwoSynapse, alphaSynapse, expThreeSynapse and
NMODL ExpSyn/Exp2Syn-like types qualify; anything with conditions,
regimes, plasticity, random inputs or state-dependent jumps stays one
instance per connection.

:func:`merge_network` rewrites the IR's network: merged groups with
:class:`WeightedEventLink` event links. :class:`MergedEventPlan` delivers
them with no Python in the time loop: per delay, either the spiking sources of
a step (a fixed-size ``nonzero`` in a ``lax.while_loop``) scatter-add their
connections' weights into the per-cell instances, or each instance gathers
its in-edges (no control flow; on GPUs). Not used under ``lems_euler`` (jNeuroML's
per-connection event order).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import sympy as sp

from ..ir.model import EventLink, Group, Link
from ..lower.events import EventPlan


@dataclass(frozen=True)
class WeightedEventLink(EventLink):
    """An event link into a merged synapse group: several connections may
    reach one instance; each adds its weight to the instance's ``weight``
    seen by the OnEvent handler."""
    weights: tuple[float, ...] = ()


def _expand(mech, expr):
    """``expr`` with the mechanism's derived values substituted."""
    der = {d.name: d.expr for d in mech.derived}
    for _ in range(len(der) + 1):
        subs = {s: der[s.name] for s in expr.free_symbols if s.name in der}
        if not subs:
            return expr
        expr = expr.xreplace(subs)
    return None  # a cycle: not ours to judge


def _names(expr):
    return {s.name for s in expr.free_symbols}


def _linear_homogeneous(expr, states, forbidden):
    """``expr`` = sum_j a_j(other symbols) * s_j with no a_j reading
    ``forbidden``."""
    if expr is None or _names(expr) & forbidden:
        return False
    syms = {s.name: s for s in expr.free_symbols}
    ss = [syms[n] for n in states if n in syms]
    zero = expr.xreplace({s: 0 for s in ss})
    if sp.simplify(zero) != 0:
        return False
    for s in ss:
        d = sp.diff(expr, s)
        if _names(d) & set(states):
            return False
    return True


def mergeable(mech, out_var) -> str | None:
    """None when instances of ``mech`` summed into a cell through
    ``out_var`` can be merged; else the reason they cannot."""
    states = [s.name for s in mech.states]
    if not states:
        return "no states"
    if mech.conditions or mech.regimes or getattr(mech, "kinetic", ()):
        return "conditions or regimes"
    if any(i.kind not in ("requirement", "time", "global") for i in mech.inputs):
        return "inputs other than requirements"
    if getattr(mech, "ions", ()):
        return "ion use"
    pnames = {p.name for p in mech.parameters}
    if "weight" not in pnames:
        return "no weight"
    forbid = {"weight"}
    if set(mech.derivatives) != set(states):
        return "a state without a derivative"
    for s in states:
        if not _linear_homogeneous(_expand(mech, mech.derivatives[s]), states, forbid):
            return f"d{s}/dt is not linear and homogeneous in the states"
    out = mech.exposures.get(out_var, (out_var,))[0]
    e = _expand(mech, sp.Symbol(out))
    if not _linear_homogeneous(e, states, forbid):
        return f"'{out_var}' is not linear in the states"
    if any(sp.simplify(a.expr) != 0 for a in mech.on_start):
        return "a nonzero initial state"
    hs = list(mech.on_events)
    if len(hs) != 1 or hs[0].port != "in" or hs[0].events:
        return "events other than one 'in' handler"
    seen = set()
    for a in hs[0].assignments:
        if a.variable not in states or a.variable in seen:
            return "an event assignment to a non-state"
        seen.add(a.variable)
        syms = {x.name: x for x in a.expr.free_symbols}
        if a.variable not in syms:
            return "an event assignment that does not add"
        inc = sp.expand(a.expr - syms[a.variable])
        if _names(inc) & set(states) or "weight" not in syms:
            return "an event jump that reads the states"
        w = syms["weight"]
        if sp.simplify(inc.xreplace({w: 0})) != 0 or "weight" in _names(sp.diff(inc, w)):
            return "an event jump not proportional to the weight"
        coef = _expand(mech, sp.diff(inc, w))  # derived values read must be parameter-only (waveformFactor)
        if coef is None or _names(coef) & (set(states) | {"weight"}):
            return "an event jump whose factor reads the states"
    return None


def merge_network(net):
    """The network with every mergeable synapse group (one per projection,
    one instance per connection) merged per (synapse component, post
    population): one instance per post cell that receives any. Returns
    (network, {merged gid: [original gids]})."""
    links_from: dict[str, list] = {}
    for l in net.links:
        links_from.setdefault(l.src, []).append(l)
    links_to: dict[str, list] = {}
    for l in net.links:
        links_to.setdefault(l.dst, []).append(l)
    ev_to: dict[str, list] = {}
    ev_from = {el.src for el in net.event_links}
    for el in net.event_links:
        ev_to.setdefault(el.dst, []).append(el)
    cands: dict[tuple, list] = {}
    for g in net.groups:
        sums = links_from.get(g.id, [])
        evs = ev_to.get(g.id, [])
        if (g.mechanism.kind not in ("synapse",) or len(sums) != 1 or sums[0].kind != "sum" or not evs
                or any(e.dst_port != "in" or isinstance(e, WeightedEventLink) for e in evs) or g.id in ev_from):
            continue
        s = sums[0]
        if any(l.kind != "gather" or l.src != s.dst for l in links_to.get(g.id, [])):
            continue
        if mergeable(g.mechanism, s.src_var) is not None:
            continue
        uniform = []
        ok = True
        for k, v in sorted(g.overrides.items()):
            if k == "weight":
                continue
            vals = set(np.asarray(v, dtype=float).ravel().tolist())
            if len(vals) != 1:
                ok = False
                break
            uniform.append((k, vals.pop()))
        if not ok:
            continue
        key = (g.component, id(g.mechanism), s.dst, s.src_var, s.dst_input, tuple(uniform),
               tuple(sorted((l.src_var, l.dst_input) for l in links_to.get(g.id, []))))
        cands.setdefault(key, []).append(g)
    if not cands:
        return net, {}
    drop, new_groups, new_links, new_events, merged = set(), {}, [], [], {}
    for key, gs in cands.items():
        comp, _m, post, src_var, dst_input, uniform, gathers = key
        gid = gs[0].id if len(gs) == 1 else f"{comp}_on_{post}"
        cells = sorted({q for g in gs for _k, q in links_from[g.id][0].pairs})
        j_of = {q: j for j, q in enumerate(cells)}
        M = len(cells)
        over = {"weight": (1.0,) * M}
        over.update({k: (v,) * M for k, v in uniform})
        m = gs[0].mechanism
        wdef = next(p.value for p in m.parameters if p.name == "weight")
        new_groups[gs[0].id] = Group(gid, m, M, comp, overrides=over)
        new_links.append(Link("sum", gid, src_var, post, dst_input, tuple((j, q) for j, q in enumerate(cells))))
        for sv, di in gathers:
            new_links.append(Link("gather", post, sv, gid, di, tuple((q, j) for j, q in enumerate(cells))))
        for g in gs:
            drop.add(g.id)
            host = dict(links_from[g.id][0].pairs)  # instance -> post cell
            w = np.asarray(g.overrides.get("weight", (wdef,) * g.size), dtype=float)
            for el in ev_to[g.id]:
                new_events.append(WeightedEventLink(el.src, el.src_port, gid, "in",
                                                    tuple((a, j_of[host[k]]) for a, k in el.pairs), el.delays,
                                                    weights=tuple(float(w[k]) for _a, k in el.pairs)))
        merged[gid] = [g.id for g in gs]
    groups = []
    for g in net.groups:
        if g.id in new_groups:
            groups.append(new_groups[g.id])
        elif g.id not in drop:
            groups.append(g)
    links = [l for l in net.links if l.src not in drop and l.dst not in drop] + new_links
    events = [e for e in net.event_links if e.dst not in drop] + new_events
    return replace(net, groups=tuple(groups), links=tuple(links), event_links=tuple(events)), merged


def merge_model(ir):
    """The ModelIR with its network's linear synapses merged (the same
    object when none is)."""
    net = getattr(ir, "network", None)
    if net is None or not getattr(net, "event_links", ()):
        return ir
    new, merged = merge_network(net)
    if not merged:
        return ir
    return replace(ir, network=new)


@dataclass
class _WRoute:
    dst: str
    port: str
    size: int
    classes: list  # delays (steps) of its connections


class MergedEventPlan(EventPlan):
    """:class:`EventPlan` plus weighted routes into merged synapse groups:
    :meth:`incoming` gives them (received, summed weight) per instance.

    Three deliveries, the same additions in the same order (ascending
    source column within a delay class, classes by ascending delay), so the
    same sums bit for bit:

    - ``"ffi"`` (CPU): a C++ kernel (``lower/deliver.cc``) walks the
      step's buffer row and adds the out-edges of the sources that spiked
      (CSR tables, one per delay, carried in the loop's state). Built at
      first use as the Hines kernel is; without a compiler, ``"loop"``.
    - ``"loop"`` (push): the spiking sources, up to :attr:`MAX_SPIKES` at
      a time (a fixed-size ``nonzero``), scatter-add their out-edges'
      weights, every route of a delay in one table; a ``lax.while_loop``
      takes passes until none is left (one pass in most steps). The loop's
      test is data-dependent (on a GPU, a host round trip per pass).
    - ``"pull"`` (GPU): each instance sums the weights of its in-edges
      whose source spiked: a (instances, in-degree) gather of the buffer
      row and a column-by-column sum, no control flow (one fused kernel on
      a GPU); work follows the connection count, not the spike count.

    ``DELIVERY = "auto"``: ``"pull"`` on GPUs, ``"ffi"`` on CPUs (or
    ``"loop"`` where the kernel cannot be built). Measured:
    docs/performance.md, the E-I section.
    """

    # spiking sources taken per pass of the delivery loop: each pass gathers and scatter-adds
    # MAX_SPIKES x (max out-degree) entries whether or not the slots are used; the E-I
    # benchmark has ~15 spikes per step (1000 steps, one process, best of 3: 16 -> 0.26-0.28 s,
    # 64 -> 0.31-0.32 s; separate processes on the loaded machine: within noise, 0.48-0.59 s)
    MAX_SPIKES = 16
    DELIVERY = "auto"  # "ffi", "loop", "pull" or "auto" (by JAX's default backend)
    # pull: above this many (in-degree) columns in all, one reduction per table instead of the
    # column-by-column sum (the sum is then not in the loop's order: last-bit differences)
    PULL_COLUMNS = 4096

    def __init__(self, lowered, event_links, dt, lems_clock=False):
        if lems_clock:
            raise ValueError("merged synapses are not delivered in jNeuroML's order")
        plain = [e for e in event_links if not isinstance(e, WeightedEventLink)]
        weighted = [e for e in event_links if isinstance(e, WeightedEventLink)]
        super().__init__(lowered, plain, dt, lems_clock=False)
        for el in weighted:
            if el.src not in self.sources:
                g = lowered.groups[el.src]
                if not g.emits_spikes:
                    raise ValueError(f"group '{el.src}' emits no spikes")
                self.sources[el.src] = self.width
                self.width += g.size
        self.layout = [(gid, lowered.groups[gid].size) for gid in self.sources]
        by_dst: dict[tuple, list] = {}
        for el in weighted:
            off = self.sources[el.src]
            rows = by_dst.setdefault((el.dst, el.dst_port), [])
            for (a, b), d, w in zip(el.pairs, el.delays, el.weights):
                rows.append((int(round(float(d) / float(dt))), off + a, b, w))
        self.wroutes = []
        dmax = 0
        by_delay: dict[int, list] = {}
        for (dst, port), rows in by_dst.items():
            arr = np.array(rows, dtype=float)
            steps = arr[:, 0].astype(np.int64)
            size = lowered.groups[dst].size
            classes = []
            for d in np.unique(steps):
                sel = steps == d
                src, tgt, w = arr[sel, 1].astype(np.int64), arr[sel, 2].astype(np.int64), arr[sel, 3]
                classes.append(int(d))
                dmax = max(dmax, int(d))
                by_delay.setdefault(int(d), []).append((len(self.wroutes), src, tgt, w))
            self.wroutes.append(_WRoute(dst, port, size, classes))
        self.length = max(self.length, dmax + self.LATENCY + 3)
        # per delay, every route's edges in one table, targets offset into the routes' instances laid
        # end to end (one gather and one scatter-add per pass of the loop, not one per route)
        self.offsets = np.concatenate([[0], np.cumsum([r.size for r in self.wroutes])]).astype(np.int64)
        self.edges = []  # (delay, src, tgt, w) sorted by source, then target: each delivery's tables
        for d, parts in sorted(by_delay.items()):
            src = np.concatenate([p[1] for p in parts])
            tgt = np.concatenate([p[2] + self.offsets[p[0]] for p in parts])
            w = np.concatenate([p[3] for p in parts])
            order = np.lexsort((tgt, src))  # a target's sources stay ascending, as in each route's table
            self.edges.append((d, src[order], tgt[order], w[order]))

    # each delivery's tables, made when it is first traced
    @cached_property
    def push_tables(self):
        """[(delay, (targets, weights))]: (sources+1, out-degree), padding the dummy target."""
        total = int(self.offsets[-1])
        return [(d, _table(src, tgt, w, self.width, total)) for d, src, tgt, w in self.edges]

    @cached_property
    def csr_tables(self):
        """[(delay, ptr, tgt, w)]: the same edges for deliver.cc."""
        return [(d, np.concatenate([[0], np.cumsum(np.bincount(src, minlength=self.width))]).astype(np.int32),
                 tgt.astype(np.int32), w) for d, src, tgt, w in self.edges]

    @cached_property
    def pull_tables(self):
        """[(delay, (sources, weights))]: (instances, in-degree), each instance's sources
        ascending, padding the source ``width`` (never spikes)."""
        total = int(self.offsets[-1])
        out = []
        for d, src, tgt, w in self.edges:
            o2 = np.argsort(tgt, kind="stable")
            out.append((d, tuple(a[:total] for a in _table(tgt[o2], src[o2], w[o2], total, self.width))))
        return out

    def delivery(self) -> str:
        """The delivery this plan traces: :attr:`DELIVERY` as it was at the
        plan's first use (the compiled run and the carry's layout follow
        it), ``"auto"`` resolved by JAX's default backend."""
        if "_chosen" not in self.__dict__:
            self._chosen = self._choose()
        return self._chosen

    def _choose(self) -> str:
        if self.DELIVERY != "auto":
            if self.DELIVERY not in ("ffi", "loop", "pull"):
                raise ValueError(f"unknown delivery '{self.DELIVERY}' (ffi, loop, pull or auto)")
            import jax

            if self.DELIVERY == "ffi" and (jax.default_backend() != "cpu" or not _ffi_ok()):
                why = "it runs on CPUs only" if jax.default_backend() != "cpu" else _ffi_why()
                raise ValueError("the C++ delivery is unavailable: " + why)
            return self.DELIVERY
        import jax

        if jax.default_backend() != "cpu":
            return "pull"
        return "ffi" if _ffi_ok() else "loop"

    def empty(self, dtype=bool):
        """The carry's event state: (ring buffer, tables). The C++ delivery's
        edge tables travel in the carry, unchanged from step to step: as
        constants of the compiled loop, XLA copies them at every call of the
        kernel (measured: 150 against 19 us per step for 320 000 edges)."""
        import jax.numpy as jnp

        buf = jnp.zeros((self.length, max(self.width, 1)), dtype=dtype)
        if self.delivery() != "ffi":
            return buf, ()
        return buf, tuple((jnp.asarray(ptr), jnp.asarray(tgt), jnp.asarray(w)) for _d, ptr, tgt, w in self.csr_tables)

    def push(self, ev, i, spikes):
        buf, tabs = ev
        return super().push(buf, i, spikes), tabs

    def _row(self, buf, i, d):
        import jax.numpy as jnp

        s = i - d - self.LATENCY
        return buf[jnp.mod(s, self.length)] & (s >= 0)

    def _push(self, buf, i):
        """{route index: (size,) summed weights} by the delivery loop."""
        import jax
        import jax.numpy as jnp

        K = min(self.MAX_SPIKES, max(self.width, 1))
        acc = jnp.zeros(int(self.offsets[-1]) + 1)  # every route's instances, then the dummy target
        for d, (ttab, wtab) in self.push_tables:
            T, Wt = jnp.asarray(ttab), jnp.asarray(wtab)

            def body(st, T=T, Wt=Wt):
                # up to K spiking sources at a time until none is left (one pass in most steps)
                row, ws = st
                (idx,) = jnp.nonzero(row, size=K, fill_value=self.width)
                return row.at[idx].set(False, mode="drop"), ws.at[T[idx].ravel()].add(Wt[idx].ravel())

            _, acc = jax.lax.while_loop(lambda st: jnp.any(st[0]), body, (self._row(buf, i, d), acc))
        return {k: acc[self.offsets[k]:self.offsets[k + 1]] for k in range(len(self.wroutes))}

    def _ffi(self, buf, i, tabs):
        """{route index: (size,) summed weights} by the C++ kernel (deliver.cc):
        the loop's additions in the loop's order."""
        import jax.numpy as jnp

        from ..lower import _deliver_ffi

        acc = jnp.zeros(int(self.offsets[-1]), dtype=jnp.float64)
        for (d, *_csr), (ptr, tgt, w) in zip(self.csr_tables, tabs):
            acc = _deliver_ffi.deliver(self._row(buf, i, d), ptr, tgt, w, acc)
        return {k: acc[self.offsets[k]:self.offsets[k + 1]] for k in range(len(self.wroutes))}

    def _pull(self, buf, i):
        """{route index: (size,) summed weights}, gathered per instance."""
        import jax.numpy as jnp

        ordered = sum(t[0].shape[1] for _d, t in self.pull_tables) <= self.PULL_COLUMNS
        acc = jnp.zeros(int(self.offsets[-1]))
        for d, (stab, wtab) in self.pull_tables:  # ascending delay, as the loop
            got = self._row(buf, i, d).at[jnp.asarray(stab)].get(mode="fill", fill_value=False)
            vals = jnp.where(got, jnp.asarray(wtab), 0.0)
            if ordered:  # sources ascending, one column at a time: the loop's sums, bit for bit
                for c in range(vals.shape[1]):
                    acc = acc + vals[:, c]
            else:
                acc = acc + jnp.sum(vals, axis=1)
        return {k: acc[self.offsets[k]:self.offsets[k + 1]] for k in range(len(self.wroutes))}

    def incoming(self, ev, i, tables=None):
        buf, tabs = ev
        out = super().incoming(buf, i, tables)
        dl = self.delivery()
        sums = self._ffi(buf, i, tabs) if dl == "ffi" else self._pull(buf, i) if dl == "pull" else self._push(buf, i)
        for k, r in enumerate(self.wroutes):
            # an instance whose summed weight is 0 (none arrived, or they cancel) is left as it is:
            # the jump is weight * c (mergeable), so applying it would change nothing either
            ws = sums[k]
            out[(r.dst, r.port)] = (ws != 0, ws)
        return out


def _ffi_ok() -> bool:
    from ..lower import _deliver_ffi

    return _deliver_ffi.load()


def _ffi_why() -> str:
    from ..lower import _deliver_ffi

    return _deliver_ffi.status()["why"]


def _table(key, val, w, n_keys, pad):
    """(n_keys+1, max count) tables of ``val`` and ``w`` grouped by ``key``
    (``key`` sorted), each group in its given order; padding ``pad`` and 0."""
    deg = np.bincount(key, minlength=n_keys)
    D = max(int(deg.max()) if len(deg) else 1, 1)
    vtab = np.full((n_keys + 1, D), pad, np.int32)
    wtab = np.zeros((n_keys + 1, D))
    start = np.concatenate([[0], np.cumsum(deg)])
    pos = np.arange(len(key)) - start[key]
    vtab[key, pos] = val
    wtab[key, pos] = w
    return vtab, wtab
