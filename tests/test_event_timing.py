"""Event timing in nmlcell.Network against NEURON 9 (tests/nrn_network.py).

- Ties: a NetStim whose events land exactly on half steps (start 3.0125,
  delays that are multiples of dt): NEURON delivers an event of time
  ``te`` when ``te <= t + dt/2``, ``t`` its running sum of half steps, so
  the tie falls by round-off; nmlcell carries that clock and the exact
  spike times (lower/events.py) and must pick the same step in ``run()``,
  ``jax.jit`` and ``jax.vmap``.
- An ARTIFICIAL_CELL firing on an event (IntFire1's ``net_event(t)``)
  fires at the event's exact time: its NetCons deliver from that time,
  ``NetCon.record`` gives it, and a NET_RECEIVE reading ``t`` downstream
  sees it.
- A NetCon into a point process whose NET_RECEIVE has no flag-0 branch
  (pyNN's adexp.mod idiom; tests/data/event_timing/noflag0.mod): accepted,
  the event changes nothing.
"""
from pathlib import Path

import numpy as np
import pytest

import nmlcell
from nrn_network import neuron_net, nmlcell_net

pytest.importorskip("neuron")

DATA = Path(__file__).parent / "data"
DT = 0.025
TIE_DELAYS = (1.0, 0.5, 2.0, 3.1)   # multiples of dt: 3.0125 + d is a half step


def _jumps(x):
    return np.nonzero(np.diff(x) > 1e-12)[0]


def _tie_cfg():
    syns = [["ExpSyn", {"tau": 2.0, "e": 0.0}] for _ in TIE_DELAYS] + [["ExpSyn", {"tau": 3.0, "e": 0.0}]]
    ncs = [["s", "a", f"ExpSyn[{k}]", [0.004], d, 10.0] for k, d in enumerate(TIE_DELAYS)]
    # a second NetStim on NetStim's usual rule (its delay too short for the late one), ties too
    ncs.append(["q", "a", f"ExpSyn[{len(TIE_DELAYS)}]", [0.003], 0.05, 10.0])
    return {"lib": None, "T": 20.0, "dt": DT, "celsius": 6.3,
            "cells": {"a": {"L": 20.0, "diam": 20.0, "cm": 1.0, "Ra": 100.0, "insert": [["hh", {}]],
                            "syns": syns}},
            "stims": {"s": {"start": 3.0125, "interval": 2.5, "number": 5, "noise": 0},
                      "q": {"start": 1.0125, "interval": 1.25, "number": 8, "noise": 0}},
            "netcons": ncs,
            "record": [["a", "v"]] + [["a", f"ExpSyn[{k}].g"] for k in range(len(syns))]}


def test_half_step_ties_run_jit_vmap():
    """Events on half steps (NetStim 3.0125 + 2.5 k through delays 1.0,
    0.5, 2.0, 3.1 ms; 1.0125 + 1.25 k through 0.05 ms) land on NEURON's
    steps in run(), jit(simulator) and vmap over a weight; before, run()
    took one of them a step early (1.2 mV) and jit with the weight traced
    and the other values constant several (7.1 mV): XLA folded the
    delivery test's arithmetic differently. The synapses' g are the same
    bit for bit in all; v to 1e-10 mV (measured 1.8e-11 to 4.8e-11: the
    current sum's last bits, fused multiply-adds placed differently in
    the different programs)."""
    import jax
    import jax.numpy as jnp

    cfg = _tie_cfg()
    ref, _ = neuron_net(cfg)
    keep = {}
    got, _spikes, _res = nmlcell_net(cfg, keep=keep)
    for k in range(len(TIE_DELAYS) + 1):
        col = f"a.ExpSyn[{k}].g"
        assert np.array_equal(_jumps(got[col]), _jumps(ref[col])), (k, _jumps(got[col]), _jumps(ref[col]))
        assert np.abs(got[col] - ref[col]).max() < 1e-12
    assert np.abs(got["a.v"] - ref["a.v"]).max() < 1e-9, np.abs(got["a.v"] - ref["a.v"]).max()

    net = keep["net"]
    sim = net.simulator(cfg["T"], dt=DT, celsius=cfg["celsius"])
    p = net.parameters(celsius=cfg["celsius"], dt=DT)
    out = jax.jit(sim)(p)
    for k in range(len(TIE_DELAYS) + 1):   # the events' steps: g bit for bit
        assert np.array_equal(np.asarray(out[f"a.ExpSyn[{k}].g"]), got[f"a.ExpSyn[{k}].g"]), k
    # v: the last bits of the current sum differ between the two programs (XLA's fused multiply-adds)
    assert np.abs(np.asarray(out["a.v"]) - got["a.v"]).max() < 1e-10
    gid, i = net.where("a")
    key = "ExpSyn[0]#0.w0"

    def v_of(w):   # the weight traced, every other value a constant XLA may fold
        q = dict(p)
        q[gid] = {**p[gid], key: p[gid][key].at[i].set(w)}
        out = sim(q)
        return out["a.v"], out["a.ExpSyn[0].g"]

    v1, g1 = jax.jit(v_of)(0.004)
    vv, gv = jax.vmap(v_of)(jnp.array([0.004, 0.004]))
    for v, g in ((v1, g1), (vv[0], gv[0]), (vv[1], gv[1])):
        assert np.array_equal(_jumps(np.asarray(g)), _jumps(ref["a.ExpSyn[0].g"]))
        assert np.abs(np.asarray(g) - got["a.ExpSyn[0].g"]).max() < 1e-15
        assert np.abs(np.asarray(v) - got["a.v"]).max() < 1e-10
        assert np.abs(np.asarray(v) - ref["a.v"]).max() < 1e-9


def _art_cfg(lib):
    return {"lib": lib, "T": 30.0, "dt": DT, "celsius": 6.3,
            "cells": {"a": {"L": 20, "diam": 20, "cm": 1, "Ra": 100, "insert": [["hh", {}]],
                            "syns": [["ExpSyn", {"tau": 2.0, "e": 0.0}], ["TMShared", {"tau_fac": 60.0}]]}},
            "stims": {"s": {"start": 1.0137, "interval": 2.3061, "number": 10, "noise": 0}},
            "artificial": {"f": ["IntFire1", {"tau": 4.0, "refrac": 1.0}]},
            "netcons": [["s", "f", None, [1.2], 0.7123, 10.0],
                        ["f", "a", "ExpSyn[0]", [0.004], 1.3377, 10.0],
                        ["f", "a", "TMShared[0]", [0.01], 0.5561, 10.0]],
            "record": [["a", "v"], ["a", "ExpSyn[0].g"], ["a", "TMShared[0].u"], ["a", "TMShared[0].R"]]}


@pytest.mark.slow
def test_artificial_cell_fires_at_event_time():
    """NetStim (between steps) -> IntFire1 (fires on every input) ->
    ExpSyn and TMShared (its NET_RECEIVE reads t) on hh: IntFire1's spikes
    at the inputs' exact times (NetCon.record), the ExpSyn's events on
    NEURON's steps, TMShared's u and R as NEURON's. Before, IntFire1's
    spike left at the step's time: 3 of 10 ExpSyn events a step late,
    v 39.8 mV, u 0.12 off."""
    from nrn_cells import compile_mods

    lib = compile_mods(DATA / "classic_syn")   # the folder, as test_classic_synapses (one cached build)
    cfg = _art_cfg(lib)
    rn, sn = neuron_net(cfg)
    rm, sm, _res = nmlcell_net(cfg, nmlcell.load_mod(DATA / "classic_syn" / "tm_shared.mod"))
    assert len(sn["f"]) == 10 and np.array_equal(np.asarray(sm["f"]), sn["f"]), (sm["f"], sn["f"])
    assert np.array_equal(_jumps(rm["a.ExpSyn[0].g"]), _jumps(rn["a.ExpSyn[0].g"]))
    assert np.abs(rm["a.ExpSyn[0].g"] - rn["a.ExpSyn[0].g"]).max() < 1e-12
    assert np.abs(rm["a.TMShared[0].u"] - rn["a.TMShared[0].u"]).max() < 1e-12
    assert np.abs(rm["a.TMShared[0].R"] - rn["a.TMShared[0].R"]).max() < 1e-12
    assert np.abs(rm["a.v"] - rn["a.v"]).max() < 1e-9, np.abs(rm["a.v"] - rn["a.v"]).max()


def _noflag0_net(connect: bool):
    mech = nmlcell.load_mod(DATA / "event_timing" / "noflag0.mod")["NoFlag0LIF"]
    net = nmlcell.Network()
    a = nmlcell.Cell.soma(L=20.0, diam=20.0)
    a.insert("pas", g=3e-4, e=-70.0)
    a.add(nmlcell.IClamp(delay=2.0, dur=20.0, amp=0.3))
    a.add(nmlcell.PointProcess(mech))
    net.add(a, "a")
    s = net.add(nmlcell.NetStim(1.0, 2.3, 8), "s")
    if connect:
        net.connect(s, a, "NoFlag0LIF[0]", weight=3.0, delay=0.5123)
    net.record("v", a)
    return net


def test_netcon_into_net_receive_without_flag0():
    """NoFlag0LIF's NET_RECEIVE has branches for flags 1-4 only: connect
    accepts a NetCon into it (it was refused: "no NET_RECEIVE block"),
    and its events change nothing (v as without the NetCon)."""
    with_nc = _noflag0_net(True).run(25.0, dt=DT)
    without = _noflag0_net(False).run(25.0, dt=DT)
    assert len(with_nc.spikes["s"]) == 8
    assert np.array_equal(np.asarray(with_nc["a.v"]), np.asarray(without["a.v"]))
    assert np.asarray(with_nc["a.v"]).max() > -56.0   # it reaches threshold and resets


@pytest.mark.slow
def test_netcon_into_net_receive_without_flag0_neuron():
    """The same against NEURON, the LIF's spikes reaching an ExpSyn on a
    second cell: spikes on NEURON's steps, v as NEURON's outside the
    samples of a spike, its end and the refractory end (NEURON records
    the value before those self-events: docs/differences-from-neuron.md),
    the second cell's v within 1e-9 mV."""
    from nrn_cells import compile_mods

    lib = compile_mods(DATA / "event_timing", files=["noflag0.mod"])
    pas = ["pas", {"g": 3e-4, "e": -70.0}]
    cfg = {"lib": lib, "T": 30.0, "dt": DT, "celsius": 6.3,
           "cells": {"a": {"L": 20.0, "diam": 20.0, "cm": 1.0, "Ra": 100.0, "insert": [pas],
                           "iclamp": [2.0, 25.0, 0.3], "syns": [["NoFlag0LIF", {}]]},
                     "c": {"L": 20.0, "diam": 20.0, "cm": 1.0, "Ra": 100.0, "insert": [pas],
                           "syns": [["ExpSyn", {"tau": 2.0, "e": 0.0}]]}},
           "stims": {"s": {"start": 1.0, "interval": 2.3, "number": 10, "noise": 0}},
           "netcons": [["s", "a", "NoFlag0LIF[0]", [3.0], 0.5123, 0.0],
                       ["a:NoFlag0LIF[0]", "c", "ExpSyn[0]", [0.002], 1.2, 0.0]],
           "record": [["a", "v"], ["c", "v"]]}
    rn, sn = neuron_net(cfg)
    rm, sm, _res = nmlcell_net(cfg, nmlcell.load_mod(DATA / "event_timing" / "noflag0.mod"))
    steps = np.ceil(np.asarray(sn["a"]) / DT - 0.5).astype(int)
    assert len(steps) >= 8 and np.allclose(np.asarray(sm["a"]), steps * DT, atol=1e-3 * DT)
    skip = np.unique(np.concatenate([steps, np.ceil((sn["a"] + 0.05) / DT - 0.5).astype(int),
                                     np.ceil((sn["a"] + 2.0) / DT - 0.5).astype(int)]))
    d = np.abs(rn["a.v"] - rm["a.v"])
    d[skip] = 0.0
    assert d.max() < 1e-9, (d.max(), int(np.argmax(d)))
    assert np.abs(rn["c.v"] - rm["c.v"]).max() < 1e-9


@pytest.mark.slow
def test_tie_network_grad_through_weight():
    """jax.grad of the summed v through a NetStim NetCon's weight (the tie
    network above) equals a central difference (measured 8e-10 relative)."""
    import jax
    import jax.numpy as jnp

    cfg = _tie_cfg()
    keep = {}
    nmlcell_net(cfg, keep=keep)
    net = keep["net"]
    sim = net.simulator(cfg["T"], dt=DT, celsius=cfg["celsius"])
    p = net.parameters(celsius=cfg["celsius"], dt=DT)
    gid, i = net.where("a")
    key = "ExpSyn[0]#0.w0"

    def f(w):
        q = dict(p)
        q[gid] = {**p[gid], key: p[gid][key].at[i].set(w)}
        return jnp.sum(sim(q)["a.v"])

    g = float(jax.grad(f)(0.004))
    h = 1e-6
    fd = float((f(0.004 + h) - f(0.004 - h)) / (2 * h))
    assert abs(g - fd) < 1e-6 * abs(fd), (g, fd)
