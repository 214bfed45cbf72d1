"""Per-NetCon state in NET_RECEIVE (the synapses of published network
models) against NEURON: several NetCons onto ONE synapse on an hh cell,
each keeping its own NET_RECEIVE arguments.

- tests/data/tm_netcon.mod: Tsodyks-Markram depression/facilitation
  (``NET_RECEIVE(w, act, inact, u, tlast)`` with an INITIAL block,
  ``state_discontinuity``, an ASSIGNED used as a temporary);
- tests/data/kin_ampa_netcon.mod: a Destexhe-style kinetic AMPA synapse
  (a transmitter pulse of Cdur per NetCon, ended by a self-event
  ``net_send(Cdur, count)`` guarded by ``flag == count``); spikes closer
  than Cdur extend the pulse.

NEURON: tests/nrn_network.py (subprocess, fixed step, secondorder 0); its
NetCons' weight vectors at the end are compared with our states
``<arg>#k``."""
from pathlib import Path

import numpy as np
import pytest

import nmlcell
from nmlcell.errors import UnsupportedError
from nrn_network import neuron_net, nmlcell_net

pytest.importorskip("neuron")

DATA = Path(__file__).parent / "data"


def _hh(syn=None, iclamp=None):
    """An hh soma with the synapse ``syn`` or the IClamp ``iclamp``."""
    c = {"L": 20.0, "diam": 20.0, "cm": 1.0, "Ra": 100.0, "insert": [["hh", {}]]}
    if syn:
        c["syns"] = [syn]
    if iclamp:
        c["iclamp"] = iclamp
    return c


MODS = ["kin_ampa_netcon.mod", "tm_netcon.mod"]
ARGS = {"TMNetCon": ["act", "inact", "u", "tlast"], "KinAMPA": ["pulse", "count", "r", "tpulse"]}


def _run(cfg):
    """NEURON and nmlcell on ``cfg``; nmlcell also records each NetCon's
    argument states ``<syn>.<arg>#k`` (k: the NetCon's order onto that synapse)."""
    from nrn_cells import compile_mods

    lib = compile_mods(DATA, files=MODS)
    mechs = {**nmlcell.load_mod(DATA / MODS[0]), **nmlcell.load_mod(DATA / MODS[1])}
    cfg = {"lib": lib, "final_weights": True, **cfg}
    rn, sn = neuron_net(cfg)
    rm, sm, _res = nmlcell_net({**cfg, "record": cfg["record"] + [[post, n] for post, n, _i, _j in _states(cfg)]},
                               mechs)
    return rn, sn, rm, sm


def _states(cfg):
    """(post, "<syn>.<arg>#k", netcon index, argument index) of every NetCon."""
    seen: dict = {}
    for i, (_pre, post, syn, *_r) in enumerate(cfg["netcons"]):
        k = seen.get((post, syn), 0)
        seen[(post, syn)] = k + 1
        for j, a in enumerate(ARGS[syn.split("[")[0]], start=1):
            yield post, f"{syn}.{a}#{k}", i, j


def _check_states(cfg, rn, rm):
    """Each NetCon's arguments at the end: NEURON's weight vector, ours the
    states <arg>#k (last sample)."""
    n = 0
    for post, name, i, j in _states(cfg):
        ref = rn[f"netcon[{i}].weight"][j]
        got = float(np.asarray(rm[f"{post}.{name}"])[-1])
        assert abs(got - ref) <= 1e-9 * max(1.0, abs(ref)), (name, got, ref)
        n += 1
    return n


def test_tsodyks_markram_three_netcons():
    """Two NetStims (intervals 7 and 11.5 ms) and an hh cell spiking under
    an IClamp onto one TMNetCon, weights 0.004, 0.006, 0.003 uS; delay
    0.513 ms is not a multiple of dt: NET_RECEIVE's t (tlast) is the
    event's time, not the step's."""
    syn = "TMNetCon[0]"
    cfg = {"T": 80.0, "dt": 0.025, "celsius": 6.3,
           "cells": {"a": _hh(["TMNetCon", {"tau": 3.0}]),
                     "b": _hh(iclamp=[2.0, 60.0, 0.3])},
           "stims": {"s1": {"start": 3.0, "interval": 7.0, "number": 8, "noise": 0},
                     "s2": {"start": 5.5, "interval": 11.5, "number": 5, "noise": 0}},
           "netcons": [["s1", "a", syn, [0.004], 1.0, 10.0], ["s2", "a", syn, [0.006], 0.513, 10.0],
                       ["b", "a", syn, [0.003], 2.0, 0.0]],
           "record": [["a", "v"], ["a", f"{syn}.g"]]}
    rn, sn, rm, sm = _run(cfg)
    dv = float(np.max(np.abs(rn["a.v"] - rm["a.v"])))
    dg = float(np.max(np.abs(rn[f"a.{syn}.g"] - rm[f"a.{syn}.g"])))
    print(f"TM: max |dv| {dv:.3g} mV, max |dg| {dg:.3g} uS, b spikes {len(sn['b'])}")
    assert len(sn["b"]) >= 3
    assert dv < 1e-6 and dg < 1e-12
    assert _check_states(cfg, rn, rm) == 12


def test_kinetic_ampa_self_events():
    """A NetStim every 0.6 ms (closer than Cdur = 1 ms: the pulse goes on,
    the older self-events find flag != count), one every 4.5 ms and a
    spiking hh cell onto one KinAMPA."""
    syn = "KinAMPA[0]"
    cfg = {"T": 60.0, "dt": 0.025, "celsius": 6.3,
           "cells": {"a": _hh(["KinAMPA", {}]),
                     "b": _hh(iclamp=[2.0, 40.0, 0.3])},
           "stims": {"s1": {"start": 3.0, "interval": 0.6, "number": 6, "noise": 0},
                     "s2": {"start": 20.0, "interval": 4.5, "number": 6, "noise": 0}},
           "netcons": [["s1", "a", syn, [0.0004], 1.0, 10.0], ["s2", "a", syn, [0.0006], 0.5, 10.0],
                       ["b", "a", syn, [0.0003], 2.0, 0.0]],
           "record": [["a", "v"], ["a", f"{syn}.Ron"], ["a", f"{syn}.Roff"]]}
    rn, sn, rm, sm = _run(cfg)
    dt = cfg["dt"]
    # each NetCon's pulses end Cdur after the last of a burst of arrivals closer than Cdur
    ends = []
    for pre, _post, _s, _w, delay, _th in cfg["netcons"]:
        arr = np.asarray(sn[pre]) + delay
        last = [a for a, b in zip(arr, list(arr[1:]) + [np.inf]) if b - a >= 1.0]
        ends += [a + 1.0 for a in last if a + 1.0 < cfg["T"]]
    end_steps = {int(round(e / dt)) for e in ends}
    assert len(sn["b"]) >= 3 and len(ends) == 11
    dv = float(np.max(np.abs(rn["a.v"] - rm["a.v"])))
    off = np.zeros(len(rn["a.v"]), bool)
    for x in ("Ron", "Roff"):
        d = np.abs(rn[f"a.{syn}.{x}"] - rm[f"a.{syn}.{x}"])
        off |= d > 1e-12
        # NEURON records the value before a pulse's end, which it applies at the start of the next
        # step; we apply it after the step (the next sample agrees)
        rest = np.delete(d, sorted(end_steps))
        print(f"KinAMPA {x}: max |d| {d.max():.3g}, outside the {len(end_steps)} pulse-end samples {rest.max():.3g}")
        assert rest.max() < 1e-12
    assert set(np.nonzero(off)[0]) <= end_steps
    print(f"KinAMPA: max |dv| {dv:.3g} mV, b spikes {len(sn['b'])}")
    assert dv < 1e-6
    assert _check_states(cfg, rn, rm) == 12


@pytest.mark.slow
def test_branched_cell_both_synapses():
    """A branched cell (hh root, passive dendrites): KinAMPA at dend[3](0.7)
    and TMNetCon at the root's middle, two NetStims onto each (one of them
    onto both) and a delay that is not a multiple of dt."""
    cfg = {"T": 50.0, "dt": 0.025, "celsius": 6.3,
           "cells": {"a": {"cm": 1.0, "Ra": 100.0, "nseg": 3,
                           "sections": [["dend[0]", None, None, 20.0, 20.0], ["dend[1]", "dend[0]", 1.0, 150.0, 2.0],
                                        ["dend[2]", "dend[1]", 1.0, 100.0, 1.5],
                                        ["dend[3]", "dend[1]", 1.0, 120.0, 1.0]],
                           "insert": [["hh", {}, ["dend[0]"]],
                                      ["pas", {"g": 1e-4, "e": -65.0}, ["dend[1]", "dend[2]", "dend[3]"]]],
                           "syns": [["KinAMPA", {}, "dend[3](0.7)"], ["TMNetCon", {"tau": 3.0}, "dend[0](0.5)"]]}},
           "stims": {"s1": {"start": 2.0, "interval": 0.7, "number": 4, "noise": 0},
                     "s2": {"start": 6.0, "interval": 5.5, "number": 7, "noise": 0}},
           "netcons": [["s1", "a", "KinAMPA[0]", [0.002], 1.0, 10.0], ["s2", "a", "KinAMPA[0]", [0.003], 0.5, 10.0],
                       ["s2", "a", "TMNetCon[0]", [0.01], 1.3, 10.0], ["s1", "a", "TMNetCon[0]", [0.02], 0.75, 10.0]],
           "record": [["a", "v"], ["a", "v", "dend[3](0.7)"], ["a", "TMNetCon[0].g"]]}
    rn, sn, rm, sm = _run(cfg)
    d = {k: float(np.max(np.abs(rn[k] - rm[k]))) for k in ("a.v", "a.dend[3](0.7).v", "a.TMNetCon[0].g")}
    print("branched:", d)
    assert d["a.v"] < 1e-6 and d["a.dend[3](0.7).v"] < 1e-6 and d["a.TMNetCon[0].g"] < 1e-12
    assert _check_states(cfg, rn, rm) == 16


def test_pernetcon_refusals_and_minimal_file():
    """What stays refused, each with file:line; the smallest per-NetCon
    file (an INITIAL and an argument counter) lowers to template handlers."""
    events = DATA / "mod" / "events"
    with pytest.raises(UnsupportedError) as ei:
        nmlcell.load_mod(events / "selfevent_netcon_any.mod")
    msg = str(ei.value)
    assert "net_send on a NetCon's event" in msg and "selfevent_netcon_any.mod:10" in msg and "\n" not in msg
    with pytest.raises(UnsupportedError) as ei:
        nmlcell.load_mod(events / "netcon_initial_range.mod")
    assert "netcon_initial_range.mod:8" in str(ei.value)
    m = nmlcell.load_mod(events / "artificial_netcon_state.mod")["anc"]
    net = nmlcell.Network()
    net.add(nmlcell.PointProcess(m), "a")
    net.add(nmlcell.NetStim(), "s")
    with pytest.raises(nmlcell.OptionError, match="NET_RECEIVE for a NetCon's event is not lowered"):
        net.connect("s", "a", None, weight=1.0)
    m = nmlcell.load_mod(events / "pernetcon_state.mod")["pnc"]
    assert [h.port for h in m.on_events] == ["netcon:in", "netcon:init"]
    init = {a.variable: a.expr for a in m.on_events[1].assignments}
    assert init == {"__w1": 0}


@pytest.mark.slow
@pytest.mark.parametrize("mod, name, var", [("tm_netcon.mod", "TMNetCon", "g"),
                                            ("kin_ampa_netcon.mod", "KinAMPA", "Roff")])
def test_grad_through_per_netcon_handler(mod, name, var):
    """jax.grad of the synapse's state with respect to each NetCon's
    weight. Both synapses are linear in the weights (the per-NetCon
    resources and pulse timing do not depend on them; KinAMPA's self-event
    reads the weight, through the NetCon's own weight parameter), so
    d var/d w_k at the end is NetCon k's part of it over w_k."""
    import jax

    mech = nmlcell.load_mod(DATA / mod)[name]
    net = nmlcell.Network()
    c = nmlcell.Cell.soma()
    c.insert("pas")
    syn = c.add(nmlcell.PointProcess(mech))
    net.add(c, "a")
    net.add(nmlcell.NetStim(start=1.0, interval=3.0, number=4), "s1")
    net.add(nmlcell.NetStim(start=2.0, interval=0.5, number=3), "s2")
    net.connect("s1", "a", syn, weight=0.004, delay=0.5)
    net.connect("s2", "a", syn, weight=0.002, delay=1.0)
    col = f"{syn}.{var}"
    net.record(col, "a")
    p = net.parameters(dt=0.025)
    gid, i = net.where("a")
    sim = net.simulator(14.0, dt=0.025)

    def end(w0, w1):
        q = dict(p)
        q[gid] = dict(q[gid], **{f"{syn}#0.w0": q[gid][f"{syn}#0.w0"].at[i].set(w0),
                                 f"{syn}#1.w0": q[gid][f"{syn}#1.w0"].at[i].set(w1)})
        return sim(q)[f"a.{col}"][-1]

    g, (d0, d1) = jax.value_and_grad(end, argnums=(0, 1))(0.004, 0.002)
    g0 = end(0.004, 0.0)   # NetCon 0's part alone
    assert float(g) > float(g0) > 0
    assert abs(float(d0) - float(g0) / 0.004) < 1e-9 * abs(float(d0))
    assert abs(float(d1) - (float(g) - float(g0)) / 0.002) < 1e-9 * abs(float(d1))


def test_a_value_net_receive_changes_is_described_so():
    """KinAMPA's ``active`` (INITIAL sets it, each NetCon's event changes
    it) is not described as constant during the run; ``Rinf`` is."""
    from nmlcell.importers.nmodl import load_mod_file

    states = {s.name: s.description for s in load_mod_file(DATA / "kin_ampa_netcon.mod").states}
    assert states["active"] == "assigned in INITIAL, changed by NET_RECEIVE"
    assert states["Rinf"] == "assigned in INITIAL, constant during the run"
