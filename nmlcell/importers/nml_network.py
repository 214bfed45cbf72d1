"""Projections between multi-compartment NeuroML cells, as jNeuroML's
NEURON export builds them (:func:`nml_cell_network.build_network` calls these).

- Each ``<connection>``/``<connectionWD>`` of a ``<projection>`` is a new
  synapse point process on the post cell at ``postSegmentId`` /
  ``postFractionAlong`` (the export makes one synapse object per
  connection) and one NetCon into it, its weight the connection's.
- ``expTwoSynapse`` and ``expOneSynapse`` compute as the export's mod file
  does. Its DERIVATIVE block reads the rates from a PROCEDURE (``A' =
  rate_A``), so NEURON's ``cnexp`` sees a constant derivative and steps
  forward Euler (``A += dt * rate_A``); the same PROCEDURE sets the
  current ``i = g (v - erev)``, only in the state phase (BREAKPOINT has no
  statement but the SOLVE), with the states before their update and the
  new ``v``: each step's current is the one computed at the end of the
  step before, with no ``di/dv``. The point processes below state that in
  NMODL (METHOD euler; the SOLVEd PROCEDURE ``stale`` runs in the state
  phase, before an euler mechanism's states advance);
  Parameters as NEURON holds them: the export prints Java floats (the
  waveform factor too), nocmodl compiles them with ``%g``.
  ``blockingPlasticSynapse`` with one ``voltageConcDepBlockMechanism`` and
  no plasticity mechanism: ``g`` times ``1 / (1 + [Mg]/scalingConc *
  exp(-v / scalingVolt))`` with the same ``v``.
- The NetCon watches ``v`` at ``preSegmentId``/``preFractionAlong`` of the
  pre cell at the cell's spikeThresh: the spike detector of
  :meth:`NmlCell.make_cell` (segment 0's section, ``(0.5)``), or on
  another compartment a detector placed there too (:func:`watch`; on a
  zero-area end node, a leaf's tip included, a point process,
  :func:`watch_end`).
- Events travel through :mod:`nmlcell.lower.events` (an ``EventLink`` per
  connection, the delay in ms; ``<connection>`` has delay 0).
- Spike-source populations other than ``spikeArray`` and synaptic inputs
  (``poissonFiringSynapse``, ``timedSynapticInput``...):
  :mod:`.nml_network_inputs`; synapses of other types, composed from their
  LEMS Dynamics: :mod:`.nml_network_lems`; gap junctions and graded
  synapses: :mod:`.nml_network_gap`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from ..errors import ModelImportError
from ..ir.mechanism import Assignment
from ..ir.units import Dim

_CELL = (re.compile(r"^(?:\.\./)?(?P<pop>\w+)/(?P<i>\d+)(?:/\w+)?$"),
         re.compile(r"^(?:\.\./)?(?P<pop>\w+)\[(?P<i>\d+)\]$"))
_SYNAPSES = {"expTwoSynapse": "NmlExpTwoSynapse", "expOneSynapse": "NmlExpOneSynapse",
             "blockingPlasticSynapse": "NmlBlockingSynapse"}
_MOD = {
    "NmlExpTwoSynapse": """
NEURON {
    POINT_PROCESS NmlExpTwoSynapse
    RANGE tauRise, tauDecay, waveformFactor, gbase, erev, i, isav, gsav
    NONSPECIFIC_CURRENT i
}
PARAMETER {
    tauRise = 1 (ms)
    tauDecay = 2 (ms)
    waveformFactor = 1
    gbase = 0.001 (uS)
    erev = 0 (mV)
}
ASSIGNED { v (mV) i (nA) isav (nA) gsav (uS) }
STATE { A B }
INITIAL { A = 0  B = 0  isav = 0  gsav = 0 }
BREAKPOINT {
    SOLVE states METHOD euler
    SOLVE stale
    i = isav
}
DERIVATIVE states {
    A' = -A / tauRise
    B' = -B / tauDecay
}
PROCEDURE stale() {
    gsav = gbase * (B - A)
    isav = gsav * (v - erev)
}
NET_RECEIVE(weight) {
    A = A + weight * waveformFactor
    B = B + weight * waveformFactor
}
""",
    "NmlExpOneSynapse": """
NEURON {
    POINT_PROCESS NmlExpOneSynapse
    RANGE tauDecay, gbase, erev, i, isav
    NONSPECIFIC_CURRENT i
}
PARAMETER {
    tauDecay = 2 (ms)
    gbase = 0.001 (uS)
    erev = 0 (mV)
}
ASSIGNED { v (mV) i (nA) isav (nA) }
STATE { g (uS) }
INITIAL { g = 0  isav = 0 }
BREAKPOINT {
    SOLVE states METHOD euler
    SOLVE stale
    i = isav
}
DERIVATIVE states {
    g' = -g / tauDecay
}
PROCEDURE stale() {
    isav = g * (v - erev)
}
NET_RECEIVE(weight) {
    g = g + weight * gbase
}
"""}
# the blocking synapse: the two-exponential one with its g times the block factor
_MOD["NmlBlockingSynapse"] = _MOD["NmlExpTwoSynapse"].replace("NmlExpTwoSynapse", "NmlBlockingSynapse").replace(
    "RANGE tauRise,", "RANGE blockConcentration, scalingConc, scalingVolt\n    RANGE tauRise,").replace(
    "    erev = 0 (mV)\n", "    erev = 0 (mV)\n    blockConcentration = 1.2 (mM)\n    scalingConc = 1.9 (mM)\n"
    "    scalingVolt = 16 (mV)\n").replace(
    "gsav = gbase * (B - A)", "gsav = gbase * (B - A) / (1 + (blockConcentration / scalingConc) * "
    "exp(-v / scalingVolt))")
_loaded: dict = {}


def synapse_mechanism(name: str):
    """The point process ``name`` of :data:`_MOD` (imported once per text:
    a LEMS synapse's name is its component's id, which another file may
    define otherwise)."""
    import hashlib

    text = _MOD[name]
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    if (name, digest) not in _loaded:
        import os
        import tempfile
        from pathlib import Path

        from .nmodl import load_mod_file

        f = Path(tempfile.gettempdir()) / f"nmlcell-{name}-{digest}.mod"
        if not f.exists():
            tmp = f.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            tmp.replace(f)
        _loaded[name, digest] = load_mod_file(f)
    return _loaded[name, digest]


@dataclass
class Connection:
    pre: tuple[str, int]      # (population, instance)
    post: tuple[str, int]
    label: str                # the synapse point process on the post cell ("Exp2Syn[3]")
    at: str                   # its place on the post cell ("dend_2(0.5)")
    delay: float              # ms
    pre_at: str | None = None  # the NetCon's place on the pre cell when not the spike detector's


def spike_array(rd, model, comp_id: str, netstim: bool = False):
    """The ``spikeArray`` ``comp_id`` as the export runs it (a point process
    on a dummy section: ``WATCH (t > time)`` for each spike in turn,
    ``net_event(t)``): an artificial cell emitting a spike at the end of
    the first step whose end time is past each time, on NEURON's running
    ``t`` for a time on the grid (:mod:`.nrn_clock`). None for another
    type. ``netstim``: the spikes of a ``timedSynapticInput`` as the
    export's NetStims give them (the end of the first step past ``time -
    dt/2``; :mod:`.nml_network_inputs`)."""
    import sympy as sp

    from ..ir.expr import sym
    from ..ir.mechanism import Condition, Input, Mechanism, Source, State
    from ..ir.units import NONE

    c = model.components[comp_id]
    kind = "timedSynapticInput" if netstim else "spikeArray"
    if c.type != kind:
        return None
    times = []
    for k in c.children:
        if k.type == "spike":
            times.append(rd.quantity(k.parameters.get("time", "0ms"), "time", comp_id, "time") * 1e3)
    if any(b < a for a, b in zip(times, times[1:])):
        raise rd.err(f"{kind} '{comp_id}': its spike times are not in increasing order", comp_id, kind)
    # a time where round-off decides fires on NEURON's step (its running t, nrn_clock)
    from .nrn_clock import netstim_thresholds, simulation_step, watch_thresholds

    raw = times
    if not netstim:
        _one_step_watches(rd, model, comp_id, times)
    times = (netstim_thresholds if netstim else watch_thresholds)(times, *simulation_step(rd, model))
    src = Source(origin=f"{kind} '{comp_id}' (" + ("the export's NetStims)" if netstim else
                                                  "the export's WATCH (t > time))"))
    t, k = sym("t"), sym("nspike")
    nxt = sp.Piecewise(*[(sp.Float(x), k < j + 0.5) for j, x in enumerate(times)], (sp.oo, True)) if times \
        else sp.oo
    states = (State("nspike", NONE, "spikes emitted so far", src),)
    conds = [Condition(sp.StrictGreaterThan(t, nxt), (Assignment("nspike", k + 1),), ("spike",), src)]
    if netstim:  # dt is t minus the end of the step before (tlast: set after every step)
        from ..lower.events import SPIKE_N, SPIKE_T
        from .nrn_clock import netstim_times

        half = (t - sym("tlast")) / 2
        # the spikes due by the end of this step, all emitted together (a counted source: SPIKE_N, the
        # event buffer's count; lower/events.py), with the first one's NetStim event time (SPIKE_T, no
        # later than the step's end, so that NEURON's rule on the timed route delivers it next step)
        cnt = sp.Add(*[sp.Piecewise((1, sp.And(k < j + 0.5, sp.StrictGreaterThan(t, x - half))), (0, True))
                       for j, x in enumerate(times)]) if times else sp.Integer(0)
        first = sp.Piecewise(*[(sp.Piecewise((sp.Float(e), sp.Float(e) < t), (t, True)), k < j + 0.5)
                               for j, e in enumerate(netstim_times(raw))], (t, True)) if times else t
        states += (State("tlast", Dim(t=1), "the time at the end of the step before", src),
                   State(SPIKE_T, Dim(t=1), "the first NetStim event time of the latest spiking step", src),
                   State(SPIKE_N, NONE, "spikes on the latest spiking step", src))
        conds = [Condition(sp.StrictGreaterThan(t, nxt - half),
                           (Assignment(SPIKE_T, first), Assignment(SPIKE_N, cnt), Assignment("nspike", k + cnt)),
                           ("spike",), src),
                 Condition(sp.StrictGreaterThan(t, sp.Float(-1e300)), (Assignment("tlast", t),), (), src)]
    return Mechanism(
        name=kind, kind="artificial_cell", component_type=kind, parameters=(),
        states=states, derived=(), derivatives={s.name: sp.Integer(0) for s in states},
        inputs=(Input("t", Dim(t=1), "time"),),
        on_start=tuple(Assignment(s.name, sp.Integer(0)) for s in states), conditions=tuple(conds),
        exposures={s.name: (s.name, s.dim) for s in states}, source=src, units="neuron")


def _one_step_watches(rd, model, comp_id: str, times) -> None:
    """Refuse a spikeArray with two spikes on one step of the run (NEURON's
    running ``t`` passes both in one step). The export's point process arms
    the next spike's ``WATCH (t > time)`` when the one before fires, and
    NEURON's WATCH fires when its condition turns true: one armed already
    true never fires, so the export drops that spike and every later one
    (measured, NEURON 9, dt 0.01: 12.001, 12.004, 12.008 and 15 ms give one
    ``net_event``, at 12.01 ms)."""
    from .nrn_clock import first_shared_step, neuron_steps, simulation_step

    dt, until = simulation_step(rd, model)
    pair = first_shared_step(times, dt, until, neuron_steps)
    if pair is not None:
        raise rd.err(f"spikeArray '{comp_id}': spikes at {pair[0]:g} and {pair[1]:g} ms fall in one step of "
                     f"dt = {dt:g} ms; jNeuroML's NEURON export arms the second's WATCH (t > time) after its "
                     f"time has passed and drops it and every later spike: space them at least one step apart "
                     f"or use a smaller step", comp_id, "spikeArray")


def _cell(rd, text, proj, pops, what):
    for rx in _CELL:
        m = rx.match((text or "").strip())
        if m:
            pop, i = m.group("pop"), int(m.group("i"))
            if pop not in pops or i >= len(pops[pop][1]):
                raise rd.err(f"projection '{proj}': {what} '{text}' names no cell of the network", proj,
                             "projection")
            return pop, i
    raise rd.err(f"projection '{proj}': {what} '{text}' is not '../population/index/cell' or "
                 f"'../population[index]'", proj, "projection")


def synapse_of(rd, model, syn_id: str, owner: str, owner_id: str, element: str, unsupported: list):
    """(point process Mechanism, its parameters) of NeuroML synapse
    ``syn_id``: the mod files above, or for another type its LEMS Dynamics
    composed as the export writes them (:func:`.nml_network_lems.lems_synapse`);
    None (and the reason in ``unsupported``) when it cannot be. ``owner``
    ("projection 'p'"), ``owner_id`` and ``element`` place an error."""
    from .nml_network_lems import lems_synapse

    if syn_id not in model.components:
        raise rd.err(f"{owner}: synapse '{syn_id}' is not defined", owner_id, element)
    c = model.components[syn_id]
    if c.type not in _SYNAPSES:
        return lems_synapse(rd, model, syn_id, unsupported, owner)
    P = c.parameters
    block = None
    if c.type == "blockingPlasticSynapse":
        kids = [k for k in c.children if k.type not in ("notes", "annotation", "property")]
        if len(kids) != 1 or kids[0].type != "voltageConcDepBlockMechanism":
            return lems_synapse(rd, model, syn_id, unsupported, owner)
        block = kids[0]
    two = c.type != "expOneSynapse"
    for need in (("gbase", "erev", "tauDecay") + (("tauRise",) if two else ())):
        if need not in P:
            raise rd.err(f"synapse '{syn_id}' ({c.type}) has no {need}", syn_id, c.type)
    from .nml_cell import java_float

    ms = lambda k: java_float(rd.quantity(P[k], "time", syn_id, k) * 1e3)  # noqa: E731
    e = java_float(rd.quantity(P["erev"], "voltage", syn_id, "erev") * 1e3)
    g = java_float(rd.quantity(P["gbase"], "conductance", syn_id, "gbase") * 1e6)
    params = {"tauDecay": ms("tauDecay"), "gbase": g, "erev": e}
    if two:
        rise, decay = ms("tauRise"), params["tauDecay"]
        if not 0 < rise < decay:
            raise rd.err(f"synapse '{syn_id}': tauRise must be positive and below tauDecay", syn_id, c.type)
        peak = rise * decay * math.log(decay / rise) / (decay - rise)
        params.update(tauRise=rise, waveformFactor=java_float(1.0 / (math.exp(-peak / decay)
                                                                      - math.exp(-peak / rise))))
    if block is not None:
        B = block.parameters
        try:
            params.update(blockConcentration=java_float(rd.quantity(B["blockConcentration"], "concentration",
                                                                    syn_id, "blockConcentration")),
                          scalingConc=java_float(rd.quantity(B["scalingConc"], "concentration", syn_id,
                                                             "scalingConc")),
                          scalingVolt=java_float(rd.quantity(B["scalingVolt"], "voltage", syn_id,
                                                             "scalingVolt") * 1e3))
        except KeyError as e:
            raise rd.err(f"synapse '{syn_id}': its voltageConcDepBlockMechanism has no {e.args[0]}", syn_id,
                         c.type) from None
    from .nml_mechanisms import nocmodl_default  # the mod's PARAMETER defaults, %g (waveformFactor 1.43506)
    return synapse_mechanism(_SYNAPSES[c.type]), {k: nocmodl_default(v) for k, v in params.items()}


def add_projection(rd, model, pops: dict, ch, unsupported: list, conns: list, sources=None) -> None:
    """Place the synapses of projection ``ch`` on the post cells of
    ``pops`` (population -> (NmlCell, [Cell])) and append its
    :class:`Connection` s to ``conns``; ``sources``: population ->
    (Mechanism, size) of spike sources (:func:`spike_array`,
    :func:`.nml_network_inputs.spike_source`)."""
    pid = ch.id
    sources = sources or {}
    pre_pop, post_pop = ch.parameters.get("presynapticPopulation"), ch.parameters.get("postsynapticPopulation")
    for what, pop in (("presynapticPopulation", pre_pop), ("postsynapticPopulation", post_pop)):
        if pop not in pops and not (what[:3] == "pre" and pop in sources):
            unsupported.append(f"projection '{pid}': {what} '{pop}' is not a population of multi-compartment "
                               f"cells")
            return
    syn = synapse_of(rd, model, ch.parameters.get("synapse"), f"projection '{pid}'", pid, "projection", unsupported)
    if syn is None:
        return
    mech = syn[0]
    for cc in ch.children:
        if cc.type not in ("connection", "connectionWD"):
            continue
        P = cc.parameters
        every = {**pops, **{k: (None, range(n)) for k, (_m, n) in sources.items()}}
        pre = _cell(rd, P.get("preCellId"), pid, every, "preCellId")
        post = _cell(rd, P.get("postCellId"), pid, pops, "postCellId")
        if pre[0] != pre_pop or post[0] != post_pop:
            raise rd.err(f"projection '{pid}': connection '{cc.id}' joins {pre[0]} to {post[0]}, not "
                         f"{pre_pop} to {post_pop}", pid, "projection")
        weight = float(P.get("weight", 1.0)) if cc.type == "connectionWD" else 1.0
        delay = rd.quantity(P.get("delay", "0ms"), "time", pid, "delay") * 1e3 if cc.type == "connectionWD" else 0.0
        if not delay >= 0.0:
            raise rd.err(f"projection '{pid}': connection '{cc.id}' has a negative delay ({delay:g} ms)", pid,
                         "connectionWD")
        nc_pre, cells_pre = every[pre[0]]
        nc_post, cells_post = pops[post[0]]
        seg, frac = int(P.get("postSegmentId", 0)), float(P.get("postFractionAlong", 0.5))
        pseg, pfrac = int(P.get("preSegmentId", 0)), float(P.get("preFractionAlong", 0.5))
        for s, f, nc in ((seg, frac, nc_post), (pseg, pfrac, nc_pre)):
            if nc is not None and (s not in nc.seg_at or not 0.0 <= f <= 1.0):
                raise rd.err(f"projection '{pid}': connection '{cc.id}': segment {s}, fraction {f:g} is not on "
                             f"cell '{nc.id}'", pid, "projection")
        pre_at = None
        if nc_pre is not None:
            disc_pre = cells_pre[pre[1]].discretisation()
            loc = nc_pre.location(pseg, pfrac)
            if loc != nc_pre.spike_location() and at_end_node(cells_pre[pre[1]], loc):
                watch_end(cells_pre[pre[1]], nc_pre, loc)  # the node is kept for the detector placed there
                pre_at = loc
            elif disc_pre.locate(loc) != disc_pre.locate(nc_pre.spike_location()):
                watch(cells_pre[pre[1]], nc_pre, loc)
                pre_at = loc
        label, at = place_synapse(cells_post[post[1]], nc_post, syn, seg, frac, weight, unsupported,
                                  f"projection '{pid}'")
        conns.append(Connection(pre, post, label, at, delay, pre_at))
        on = nc_post.__dict__.setdefault("nml_synapses", {})   # for recordings of synapses:<id>:<k>/g
        on.setdefault((post, seg, ch.parameters.get("synapse")), []).append((label, at, mech.name))


def at_end_node(cell, at: str) -> bool:
    """Whether ``at`` is one of NEURON's zero-area nodes at a section's end
    (x = 1; x = 0 of the root, or of a section attached at such a node):
    a point process placed there sits on that node, which the
    discretisation keeps (a leaf's tip and the root's free end only while
    something is placed or recorded there,
    :func:`nmlcell.lower.discretize.end_location`)."""
    from ..cable_cell import free_ends

    return bool(free_ends(cell.morphology, [at]))


def watch_end(cell, nc, loc: str) -> None:
    """A spike detector on a zero-area end node of ``cell`` (the export's
    ``NetCon(&v(0 or 1), ...)``: NEURON's v of that node, which has no
    membrane): the detector as a point process there, once per place."""
    from ..cell import PointProcess
    from .nml_mechanisms import spike_detector

    done = cell.__dict__.setdefault("_nml_end_detectors", set())
    if loc not in done:
        done.add(loc)
        cell.add(PointProcess(replace(spike_detector(), kind="point_process"), threshold=nc.threshold), at=loc)


def watch(cell, nc, loc: str) -> None:
    """A spike detector on ``cell`` (of NmlCell ``nc``) at ``loc`` too, at
    the cell's spikeThresh: the export's ``NetCon(&v(x), ...)`` on a place
    other than segment 0's (a NetCon's threshold per compartment, +inf
    elsewhere; the detector's section keeps its own place)."""
    from .nml_mechanisms import SPIKE_DETECTOR, spike_detector

    sec = loc.split("(")[0]
    for k, (it, where) in enumerate(cell._placed):
        if it.mech.name == SPIKE_DETECTOR and sec in (where if isinstance(where, (list, tuple)) else [where]):
            cell._placed[k] = (replace(it, params={**it.params, "threshold": {**it.params.get("threshold", {}),
                                                                             loc: nc.threshold}}), where)
            cell._model = cell._frozen = None
            return
    cell.insert(spike_detector(), where=[sec], threshold={loc: nc.threshold})


def place_synapse(cell, nc, syn, seg: int, frac: float, weight: float, unsupported: list, what: str):
    """(label, place) of a new synapse point process ``syn`` ((Mechanism,
    parameters)) on ``cell`` (of NmlCell ``nc``) at segment ``seg``,
    fraction ``frac``, with one NetCon of ``weight`` into it (on a
    zero-area end node too, a leaf's tip included: NEURON's node without
    membrane, its point currents scaled by an area of 100 um2).
    ``unsupported`` and ``what`` are unused now (no place is refused)."""
    from ..cell import PointProcess

    mech, params = syn
    at = nc.location(seg, frac)
    label = cell.add(PointProcess(mech, **params), at=at)
    k = next(j for j, (it, _) in enumerate(cell._placed) if it.label == label)
    it, where = cell._placed[k]
    cell._placed[k] = (replace(it, netcons=((weight,),)), where)
    return label, at


_G = Dim(m=-1, l=-2, t=3, i=2)   # conductance; the internal unit is uS
_Q_SYN = re.compile(r"^synapses:(?P<syn>\w+):(?P<k>\d+)/(?P<var>\w+)$")


def synapse_quantity(nc, key: tuple, seg: int, rest: str):
    """(place, variable) of a LEMS quantity ``.../<seg>/synapses:AMPA:0/g``
    of cell ``key`` (population, instance): the k-th synapse of that
    component on segment ``seg``, in connection order; its ``g`` as the
    export records it (after the state phase). None when it names none."""
    m = _Q_SYN.match(rest)
    found = getattr(nc, "nml_synapses", {}).get((key, seg, m.group("syn"))) if m else None
    if not found or int(m.group("k")) >= len(found):
        return None
    label, at, mech = found[int(m.group("k"))]
    if mech.startswith("NmlLems_"):  # composed from LEMS: any of its exposures (nml_network_lems)
        from .nml_network_lems import RECORDED

        var = RECORDED.get(mech, {}).get(m.group("var"))
        return None if var is None else (at, f"{label}.{var[0]}")
    if m.group("var") != "g":
        return None
    return at, f"{label}.{'g' if mech == 'NmlExpOneSynapse' else 'gsav'}"


def with_synapse_dims(m):
    """Mechanism ``m`` with its synapses' ``g`` exposed as a conductance
    (uS inside, siemens in LEMS output files), and the recordable exposures
    of the synapses composed from LEMS with their LEMS dimensions."""
    from .nml_network_lems import RECORDED

    lems = any(k.startswith("NmlLems_") for k in m.exposures)
    if not lems and not any(k.endswith((".gsav", ".g")) for k in m.exposures):
        return m

    def dim(k, v):
        label, _, var = k.partition(".")
        got = RECORDED.get(label.split("[")[0])
        if got is not None:
            return next(((v[0], d) for name, d in got.values() if name == var), v)
        return (v[0], _G) if k.endswith(".gsav") or (k.endswith(".g") and "NmlExpOneSynapse" in k) else v
    return replace(m, exposures={k: dim(k, v) for k, v in m.exposures.items()})


def event_links(conns: list, where: dict) -> tuple:
    """The network's EventLinks: ``where`` maps (population, instance) to
    (NmlCell, discretisation, {node: (group, i)}, "group[i]" of the spike
    detector)."""
    from ..ir.model import EventLink

    links: dict[tuple, tuple[list, list]] = {}
    for c in conns:
        if not isinstance(c, Connection):  # a gap junction's side (nml_network_gap)
            continue
        if c.pre not in where:  # a spike source: its own group, named as the population
            gs, i_s = c.pre
        elif c.pre_at is not None:  # a NetCon on another compartment (watch)
            _nc, disc, idx, _s = where[c.pre]
            gs, i_s = idx[disc.locate(c.pre_at)]
        else:
            _nc, _d, _idx, spike_at = where[c.pre]
            if spike_at is None:
                raise ModelImportError(f"cell {c.pre[0]}[{c.pre[1]}] has no spike detector")
            m = re.match(r"^(.*)\[(\d+)\]$", spike_at)
            gs, i_s = m.group(1), int(m.group(2))
        _nc, disc, idx, _s = where[c.post]
        gd, i_d = idx[disc.locate(c.at)]
        pairs, delays = links.setdefault((gs, gd, f"{c.label}#0"), ([], []))
        pairs.append((i_s, i_d))
        delays.append(c.delay)
    return tuple(EventLink(gs, "spike", gd, port, tuple(p), tuple(d)) for (gs, gd, port), (p, d) in links.items())
