"""Networks in NEURON's terms: cells, artificial cells and NetCons.

    net = nmlcell.Network()
    a = nmlcell.Cell.soma(); a.insert("hh"); syn = a.add(nmlcell.PointProcess("ExpSyn", tau=2.0, e=0.0))
    net.add(a, "a")
    stim = net.add(nmlcell.NetStim(start=5.0, interval=10.0, number=5), "stim")
    net.connect(stim, a, syn, weight=0.01, delay=1.0)
    net.record("v", a)
    res = net.run(100.0, dt=0.025)
    res["a.v"], res.spikes["stim"]

A NetCon from a cell watches its membrane potential (a threshold
crossing from below, checked once per step as NEURON's fixed step does);
one from an artificial cell carries its spikes. At the target, the
synapse's NET_RECEIVE block runs with the NetCon's weight vector. Events
travel through the delay buffer of :mod:`nmlcell.lower.events` inside the
scan (no Python in the time loop), and arrive on NEURON's step: an event
for time ``te`` is handled before the first step starting at ``t`` with
``te <= t + dt/2``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from .cell import Cell, PointProcess
from .errors import OptionError
from .ir.mechanism import Mechanism
from .ir.units import Dim
from .model_cache import shape as _shape  # members with equal shapes share a group
from .network_members import member
from .netstim_rules import _last_step_spike
from .vecstim import VecStim

_MS = Dim(t=1)


class NetStim:
    """NEURON's NetStim artificial cell: ``number`` spikes from ``start``
    (ms) every ``interval`` ms; with ``noise`` in (0, 1] the intervals are
    ``(1 - noise) * interval`` plus an exponential draw of mean ``noise *
    interval`` (and the first spike is shifted as NetStim's INITIAL
    does), the draws from JAX keys (``net.run(seed=...)``), not NEURON's
    generator: compare rates, not spike times."""

    def __init__(self, start: float = 50.0, interval: float = 10.0, number: float = 10, noise: float = 0.0):
        self.start, self.interval, self.number, self.noise = start, interval, number, noise

    def __setattr__(self, name, value):
        # (set between runs too: stim.interval = 4.0 reaches the next run)
        value = float(value)
        if name == "noise" and not 0.0 <= value <= 1.0:
            raise OptionError(f"NetStim noise must be within 0..1 (got {value})", element="NetStim")
        if name == "interval" and value <= 0:
            value = 0.01  # NetStim's invl(): a mean <= 0 is 0.01 ms
        object.__setattr__(self, name, value)

    def __repr__(self):
        return f"NetStim(start={self.start}, interval={self.interval}, number={self.number}, noise={self.noise})"


_SHARE = True  # False: compose every member on its own (tests compare the two IRs; network_members)


def _net_receive_ignores_netcons(m: Mechanism) -> bool:
    """Whether point process ``m`` has a NET_RECEIVE (its WATCHes and
    self-events as Conditions) with nothing to do for a NetCon's event
    (flag 0): every branch ``flag == k``, k >= 1 (pyNN's adexp.mod).
    NEURON accepts a NetCon into it and the event changes nothing; the
    importer refuses a flag-0 branch it cannot lower, so no OnEvent here
    means none."""
    return not m.on_events and any(c.source is not None and c.source.origin == "NET_RECEIVE"
                                   for c in m.conditions)


def _drop_columns(res, qs) -> None:
    """Results ``res`` without the recorded quantities ``qs`` (recorded
    for the network's own use)."""
    keep = [k for k, q in enumerate(res.quantities) if q not in set(qs)]
    res._raw = np.asarray(res._raw)[:, keep]
    res._dims = [res._dims[k] for k in keep]
    res._q = [res._q[k] for k in keep]
    res._index = {q: k for k, q in enumerate(res._q)}


def _weights(weight) -> tuple:
    w = weight if isinstance(weight, (tuple, list, np.ndarray)) else (weight,)
    return tuple(float(x) for x in np.ravel(np.asarray(w, dtype=float)))


def _delay(delay) -> float:
    d = float(delay)
    if not (d >= 0 and math.isfinite(d)):
        raise OptionError(f"NetCon delay must be >= 0 ms (got {delay})", element="connect")
    return d


@dataclass
class NetCon:
    """A connection: ``pre`` (a cell's name or an artificial cell's) to the
    synapse ``syn`` (``"ExpSyn[0]"``) on cell ``post``.

    ``weight``, ``delay`` and ``threshold`` may be changed between runs,
    as NEURON's ``nc.weight[0]``, ``nc.delay``, ``nc.threshold``: the next
    run sees them (a weight or threshold feeds the compiled run new values;
    a delay is part of the event buffer's layout and lowers the network
    again). As in NEURON, the threshold is the source's: setting it sets
    it on every NetCon from the same source."""
    pre: str
    post: str
    syn: str
    weight: tuple
    delay: float
    threshold: float
    source: str | None = None  # a point process of ``pre`` that calls net_event (None: pre's v or NetStim)
    at: str | None = None      # where a branched ``pre`` cell's v is watched (None: its root's middle)
    _net: object = field(default=None, repr=False, compare=False)

    def __setattr__(self, name, value):
        if name == "weight":
            value = _weights(value)
        elif name == "delay":
            value = _delay(value)
        elif name == "threshold":
            value = float(value)
            net = self.__dict__.get("_net")
            if net is not None:  # one threshold per source, shared by its NetCons (NEURON's PreSyn)
                for nc in net.netcons:
                    if nc is not self and nc.pre == self.pre and nc.source == self.source:
                        object.__setattr__(nc, "threshold", value)
        object.__setattr__(self, name, value)


_NAME = re.compile(r"^[A-Za-z_]\w*$")


class Network:
    """Cells (:class:`nmlcell.Cell`: one compartment, or branched on a
    morphology), artificial cells (:class:`NetStim`) and NetCons between
    them, run together with NEURON's fixed step (the ``staggered`` solver;
    the branched cells share one Hines tree, see
    :mod:`nmlcell.network_cable`)."""

    def __init__(self):
        self._members: dict[str, object] = {}
        self.netcons: list[NetCon] = []
        self._record: list[tuple[str, str]] = []
        from .model_cache import ModelCache

        self._models = ModelCache()

    # -- building ------------------------------------------------------------------
    def add(self, obj, name: str | None = None):
        """Add a cell, a :class:`NetStim` or an ARTIFICIAL_CELL from a
        ``.mod`` file (``nmlcell.PointProcess(mechs["IntervalFire"],
        tau=5.0)``) under ``name`` (a Python identifier; default ``cell0``,
        ``stim0``, ...); returns ``obj`` (for an ARTIFICIAL_CELL, its
        name)."""
        if isinstance(obj, PointProcess):
            pp = PointProcess(Cell._mech(obj.mech))
            pp.params, pp._aliases = obj.params, obj._aliases  # the user's dict: values set later reach the run
            obj = pp
            if obj.mech.kind != "artificial_cell":
                raise OptionError(f"{obj.mech.name} is a {obj.mech.kind.replace('_', ' ')}: add it to a cell "
                                  f"(cell.add); a network takes ARTIFICIAL_CELLs", element="add")
            unknown = set(obj.params) - {p.name for p in obj.mech.parameters}
            if unknown:
                raise OptionError(f"{obj.mech.name} has no parameter {', '.join(sorted(unknown))}", element="add")
        elif not isinstance(obj, (Cell, NetStim, VecStim)):
            raise OptionError(f"Network.add takes an nmlcell.Cell, an nmlcell.NetStim, an nmlcell.VecStim or an "
                              f"ARTIFICIAL_CELL (nmlcell.PointProcess(mech, ...)), not {obj!r}", element="add")
        if any(o is obj for o in self._members.values()) and not isinstance(obj, PointProcess):
            raise OptionError(f"{obj!r} is already in the network", element="add")
        if name is None:
            stem = "cell" if isinstance(obj, Cell) else "stim"
            k = sum(1 for n in self._members if n.startswith(stem))
            name = f"{stem}{k}"
            while name in self._members:
                k += 1
                name = f"{stem}{k}"
        if not _NAME.match(name) or name in self._members:
            raise OptionError(f"name {name!r} is taken or not an identifier", element="add")
        self._members[name] = obj
        return name if isinstance(obj, PointProcess) else obj

    def _name(self, obj, role: str) -> str:
        if isinstance(obj, str) and obj in self._members:
            return obj
        for n, o in self._members.items():
            if o is obj:
                return n
        raise OptionError(f"{role} {obj!r} is not in the network (net.add it first)", element="connect")

    def _source(self, pre) -> tuple[str, str | None]:
        """(member name, point process label or None): ``pre`` is a member
        (or its name) or ``(cell, "Izhi2003b[0]")``, a point process that
        calls net_event."""
        if isinstance(pre, tuple) and len(pre) == 2 and isinstance(pre[1], str):
            name = self._name(pre[0], "pre")
            cell = self._members[name]
            items = list(getattr(cell, "_inserted", ())) + [i for i, _ in getattr(cell, "_placed", ())]
            it = next((i for i in items if i.label == pre[1]), None)
            if it is None or not any("spike" in c.events for c in it.mech.conditions):
                raise OptionError(f"pre {pre[1]!r} on '{name}' is not a point process that calls net_event",
                                  element="connect")
            return name, pre[1]
        return self._name(pre, "pre"), None

    def connect(self, pre, post, syn: str | None = None, *, weight=0.0, delay: float = 1.0,
                threshold: float = 10.0, at: str | None = None) -> NetCon:
        """NEURON's ``NetCon(pre, syn)`` with ``weight`` (a number or the
        weight vector: the arguments of the synapse's NET_RECEIVE),
        ``delay`` (ms, >= 0) and ``threshold`` (mV; a cell source's
        membrane potential crossing it from below). ``pre``: a cell or an
        artificial cell of this network (or its name), or ``(cell,
        "Izhi2003b[0]")``: a point process whose NET_RECEIVE calls
        net_event (a WATCH's spike); ``post``: the cell
        holding the synapse; ``syn``: the synapse's name from
        ``post.add(...)`` (``"ExpSyn[0]"``); an ARTIFICIAL_CELL as ``post``
        takes the event itself (no ``syn``; its delay must be at least
        dt/2, see docs/differences-from-neuron.md). ``at``: on a branched
        ``pre`` cell, where its ``v`` is watched (``"soma(0.5)"``, the
        default: the middle of the root section), NEURON's
        ``NetCon(sec(x)._ref_v, ...)``; one place per cell."""
        (p, pp), q = self._source(pre), self._name(post, "post")
        cell = self._members[q]
        if isinstance(cell, (NetStim, VecStim)):
            raise OptionError(f"post '{q}' is a {type(cell).__name__}; NetCon events into it are not supported (an "
                              f"ARTIFICIAL_CELL from a .mod file can take them)", element="connect")
        if isinstance(cell, PointProcess):   # an ARTIFICIAL_CELL: its NET_RECEIVE with flag 0
            if not cell.mech.on_events:
                raise OptionError(f"'{q}' ({cell.mech.name}): its NET_RECEIVE for a NetCon's event is not "
                                  f"lowered", element="connect")
            syn = "in"
        else:
            items = list(cell._inserted) + [i for i, _w in cell._placed]
            it = next((i for i in items if i.label == syn), None)
            if it is None:
                pps = [i.label for i in items if i.point]
                raise OptionError(f"'{q}' has no point process '{syn}' (it has: {', '.join(pps) or 'none'})",
                                  element="connect")
            if not it.mech.on_events and not _net_receive_ignores_netcons(it.mech):
                raise OptionError(f"{syn} ({it.mech.name}) has no NET_RECEIVE block: it cannot receive events",
                                  element="connect")
        d = _delay(delay)
        w = _weights(weight)
        th = float(threshold)
        if any(nc.pre == p and nc.source != pp for nc in self.netcons):
            raise OptionError(f"'{p}' already sends events from {self._what(p)}: one spike source per cell",
                              element="connect")
        if isinstance(self._members[p], Cell) and pp is None:
            prev = {nc.threshold for nc in self.netcons if nc.pre == p}
            if prev and th not in prev:
                raise OptionError(f"'{p}' already has NetCons with threshold {prev.pop()} mV: NEURON shares one "
                                  f"threshold per source", element="connect")
        src = self._members[p]
        if at is not None:
            if not (isinstance(src, Cell) and src.morphology is not None and pp is None):
                raise OptionError("at= places the NetCon on a branched cell's v (a cell with a morphology)",
                                  element="connect")
            Cell._locate(src.discretisation(), at)
            prev = {nc.at or src._root_loc() for nc in self.netcons if nc.pre == p}
            if prev and at not in prev:
                raise OptionError(f"'{p}' already has NetCons watching {prev.pop()}: one place per cell",
                                  element="connect")
        nc = NetCon(p, q, syn, w, d, th, pp, at, self)
        self.netcons.append(nc)
        return nc

    def _what(self, p) -> str:
        src = next(nc.source for nc in self.netcons if nc.pre == p)
        return f"point process {src}" if src else "its membrane potential"

    def record(self, name: str, cell, at: str | None = None) -> "Network":
        """Record a variable of a cell (``"v"``, ``"m_hh"``,
        ``"ExpSyn[0].g"``); the column is ``"<cell>.<name>"``. On a
        branched cell ``at`` is the place (``"dend[3](0.7)"``; default the
        root's middle, or the point process's own place) and the column
        ``"<cell>.<at>.<name>"`` when given."""
        c = self._name(cell, "cell")
        if at is not None:
            obj = self._members[c]
            if not (isinstance(obj, Cell) and obj.morphology is not None):
                raise OptionError("at= needs a cell with a morphology", element="record")
            Cell._locate(obj.discretisation(), at)
            name = f"{at}.{name}"
        if (c, name) not in self._record:
            self._record.append((c, name))
        return self

    # -- the model -----------------------------------------------------------------------
    def _ir(self, celsius: float, dt: float):
        """The model IR. Members with the same dynamics (the same composed
        mechanism but for parameter values: same mechanisms, synapses,
        NetCon count per synapse, spike source) share one group, their
        differing values as per-instance parameters; ``self._where`` maps
        each member to (group, index)."""
        from .ir.model import Group, ModelIR, Network as NetIR
        from .lower.events import NetConLink

        from .network_cable import cable_groups

        protos: list[dict] = []
        self._compositions = {}
        self._where: dict[str, tuple[str, int]] = {}
        self._units = {}
        branched = {n: o for n, o in self._members.items() if isinstance(o, Cell) and o.morphology is not None}
        cable_gs, cable, self._cable = [], None, {}
        if branched:
            cable_gs, cable, self._cable, units = cable_groups(self, branched, celsius, dt)
            for n, (_disc, idx, spike, _pps) in self._cable.items():
                self._where[n] = spike or next(iter(idx.values()))
                self._units[n] = units
        for name, obj in self._members.items():
            if name in branched:
                continue
            mech, values, emits, units, kind = member(self, name, obj, dt)
            shape = _shape(mech)
            pr = next((q for q in protos if q["kind"] == kind and q["emits"] == emits and q["shape"] == shape), None)
            if pr is None:
                pr = {"kind": kind, "emits": emits, "shape": shape, "mech": mech, "values": [], "names": [],
                      "gid": f"{kind}{sum(1 for q in protos if q['kind'] == kind)}"}
                protos.append(pr)
                self._units[pr["gid"]] = units
            self._where[name] = (pr["gid"], len(pr["names"]))
            pr["names"].append(name)
            pr["values"].append(values)
        if not protos and not branched:
            raise OptionError("the network is empty (net.add cells first)", element="run")
        groups = list(cable_gs)
        for pr in protos:
            ov = {}
            for prm in pr["mech"].parameters:
                vals = tuple(float(v.get(prm.name, prm.value)) for v in pr["values"])
                if any(x != prm.value for x in vals):
                    ov[prm.name] = vals
            groups.append(Group(pr["gid"], pr["mech"], len(pr["names"]), component=pr["kind"], overrides=ov,
                                emits_spikes=pr["emits"]))
        links: dict[tuple, tuple[list, list]] = {}
        ports: dict[tuple[str, str], int] = {}
        late = {n for n in {nc.pre for nc in self.netcons} if self._late(n, dt)}
        for nc in self.netcons:
            k = ports.get((nc.post, nc.syn), 0)
            ports[(nc.post, nc.syn)] = k + 1
            (gs, i_s), (gd, i_d) = self._where[nc.pre], self._where[nc.post]
            if nc.post in self._cable:
                gd, i_d = self._cable[nc.post][3][nc.syn]
            pairs, delays, given, ahead = links.setdefault((gs, gd, f"{nc.syn}#{k}"), ([], [], [], []))
            pairs.append((i_s, i_d))
            given.append(nc.delay)   # NEURON's event time: the spike's plus this (lower/events.py)
            early = float(dt) if nc.pre in late else 0.0   # a late NetStim's spike leaves a step late
            ahead.append(int(self._ahead(nc)))
            if ahead[-1]:   # the target takes the event a step early, at the step's end
                if nc.delay < 0.5 * float(dt):
                    what = (f"the artificial cell '{nc.post}'" if isinstance(self._members[nc.post], PointProcess)
                            else f"'{nc.post}' {nc.syn} (a point process with self-events)")
                    raise OptionError(f"a NetCon into {what} needs a delay of at least dt/2 ({0.5 * float(dt)} ms; "
                                      f"got {nc.delay})", element="connect")
                delays.append(nc.delay - float(dt) - early)
            else:
                delays.append(nc.delay - early)
        events = tuple(NetConLink(gs, "spike", gd, port, tuple(pairs), tuple(delays), tuple(given), tuple(ahead))
                       for (gs, gd, port), (pairs, delays, given, ahead) in links.items())
        net = NetIR("network", tuple(groups), temperature=float(celsius) + 273.15, event_links=events,
                    cable=cable)
        return ModelIR(name="network", file="<nmlcell.Network>", network=net)

    def _late(self, name: str, dt) -> bool:
        """Whether NetStim ``name`` handles its events at the end of the
        step NEURON handles them at the start of (its first one can then be
        at t = 0): where every NetCon from it is long enough to be
        shortened by dt and still leave a step to deliver an event of a
        time between steps one step early (lower/events.py:
        ``round(delay/dt) - 1 >= 1``, delay > 3 dt/2; into an artificial
        cell, which takes it a step early, > 5 dt/2)."""
        obj = self._members.get(name)
        if not isinstance(obj, (NetStim, VecStim)):
            return False
        dt = float(dt)
        return all(round(nc.delay / dt) - (2 if self._ahead(nc) else 1) >= 1
                   for nc in self.netcons if nc.pre == name)

    def _ahead(self, nc) -> bool:
        """Whether ``nc``'s target takes its events a step early, at the
        end of the step before: an artificial cell (nmodl_events), or a
        point process whose NetCon events are applied with its self-events
        (importers/nmodl_selfev.py)."""
        from .importers.nmodl_selfev import EARLY

        cell = self._members.get(nc.post)
        if isinstance(cell, PointProcess):
            return True
        # (a branched cell keeps its point processes in _placed)
        return isinstance(cell, Cell) and any(
            it.label == nc.syn and EARLY in it.mech.state_names
            for it in list(cell._inserted) + [i for i, _w in cell._placed])

    def _with_netcons_into(self, name, it, dt):
        """Inserted item ``it`` of cell ``name`` with the weights and delays
        of the NetCons into it (per-NetCon state of NET_RECEIVE:
        passes/netcon_state); ``it`` itself where none ends there."""
        from .passes.netcon_state import expand_item

        ncs = [nc for nc in self.netcons if nc.post == name and nc.syn == it.label]
        if not ncs:
            return it
        return expand_item(it, tuple(nc.weight for nc in ncs), dt, tuple(nc.delay for nc in ncs))

    def model(self, celsius: float = 6.3, dt: float = 0.025):
        """The lowered :class:`~nmlcell.model.Model` (staggered solver),
        with the network's values as they are now. The IR is built again
        on each call; a model of the same structure lowered before is
        reused with the new values fed in (its compiled runs kept), see
        :mod:`nmlcell.model_cache`."""
        from .model import Model

        return self._models.model(self._ir(celsius, dt), lambda ir: Model(ir, default_solver="staggered"))

    def where(self, name: str) -> tuple[str, int]:
        """(group, index) of a member in the lowered model (after
        :meth:`model`, :meth:`parameters` or :meth:`run`): its values in
        :meth:`parameters` are ``p[group][name][index]``."""
        if name not in getattr(self, "_where", {}):
            raise OptionError(f"'{name}' is not in the built network (build it first: net.parameters())",
                              element="where")
        return self._where[name]

    def parameters(self, celsius: float = 6.3, dt: float = 0.025):
        """The parameter pytree of :meth:`simulator` (group -> name ->
        (instances,)); a NetCon's weights are ``"ExpSyn[0]#k.w0"`` of the
        target cell's group (k: the NetCon's order among those onto that
        synapse), at index ``net.where(cell)[1]``."""
        return self.model(celsius, dt).parameters()

    def simulator(self, duration: float, dt: float = 0.025, celsius: float = 6.3):
        """A pure function ``params -> {"<cell>.<name>": trace, "spike_count":
        ...}`` of the recorded variables, for ``jax.jit``/``jax.grad``/
        ``jax.vmap`` (``params`` shaped like :meth:`parameters`)."""
        model = self.model(celsius, dt)
        names, inner = self._inner(model)
        sim = model.simulator(duration=duration, dt=dt, record=inner)
        back = dict(zip(inner, names))

        def renamed(params):
            return {back.get(k, k): v for k, v in sim(params).items()}

        return renamed

    def _inner(self, model):
        names, inner = [], []
        for c, n in self._record:
            gid, i = self._where[c]
            var = n
            if c in self._cable:
                gid, i, var = self._cable_column(c, n)
            if var not in model.lowered.groups[gid].mech.exposures:
                raise OptionError(f"'{var}' is not a variable of '{c}'", element="record")
            names.append(f"{c}.{n}")
            inner.append(f"{gid}[{i}]/{var}")
        return names, inner

    def _cable_column(self, c: str, n: str) -> tuple[str, int, str]:
        """(group, instance, variable) of column ``n`` (``"v"``,
        ``"ExpSyn[0].g"`` or ``"dend[3](0.7).v"``) of branched cell ``c``."""
        disc, idx, _spike, pps = self._cable[c]
        if ")." in n:
            at, var = n.split(").", 1)
            return (*idx[disc.locate(at + ")")], var)
        label = n.split(".", 1)[0] if "." in n else None
        if label in pps:
            return (*pps[label], n)
        return (*idx[disc.locate(self._members[c]._root_loc())], n)

    def _unit(self, c: str, n: str) -> str:
        if c in self._cable:
            return self._units.get(c, {}).get(self._cable_column(c, n)[2], "")
        return self._units.get(self._where[c][0], {}).get(n, "")

    def run(self, duration: float, dt: float = 0.025, celsius: float = 6.3, *, seed: int = 0, progress=None):
        """Simulate; returns Results with ``res["<cell>.v"]`` for each
        recorded variable and ``res.spikes[name]``: the spike times (ms) of
        every cell with an outgoing NetCon and of every artificial cell
        (the time of the step end where it was detected, NEURON's
        ``NetCon.record`` for a cell; an ARTIFICIAL_CELL's, a NetStim's
        and a VecStim's exact ``net_event`` time, as NEURON records it)."""
        from .lower.events import SPIKE_T

        model = self.model(celsius, dt)
        names, inner = self._inner(model)
        # an artificial cell's or NetStim's exact spike times (net_event's t): its SPIKE_T state at its
        # spike samples
        exact = {n: f"{gid}[{i}]/{SPIKE_T}" for n, (gid, i) in self._where.items()
                 if isinstance(self._members[n], (PointProcess, NetStim))
                 and SPIKE_T in model.lowered.groups[gid].mech.exposures}
        extra = [q for q in exact.values() if q not in inner]
        res = model.run(duration=duration, dt=dt, record=inner + extra, progress=progress, seed=seed)
        times = {n: np.asarray(res[q]) for n, q in exact.items()}
        if extra:
            _drop_columns(res, extra)
        res.rename(dict(zip(inner, names)))
        res.set_units({f"{c}.{n}": self._unit(c, n) for c, n in self._record})
        back = {f"{gid}[{i}]": name for name, (gid, i) in self._where.items()}
        res.spikes = {back[k]: v for k, v in res.spikes.items() if k in back}
        for k, v in res.spikes.items():   # NEURON records the exact times
            if isinstance(self._members.get(k), VecStim):
                from .vecstim import reported_spikes

                res.spikes[k] = reported_spikes(self._members[k], float(duration))
            elif k in times:   # the step's sample holds the time of the spike it emitted
                res.spikes[k] = times[k][np.rint(np.asarray(v) / float(dt)).astype(int)]
                if self._late(k, dt):   # and the one a late NetStim leaves for after the run
                    res.spikes[k] = _last_step_spike(self._members[k], res.spikes[k], float(duration), float(dt))
        return res
