"""Several events from one source on one step (nmlcell.Network): a
VecStim's times that leave or arrive on one step are counted (state
spike_n) and an additive NET_RECEIVE takes k events as k times one; a
noisy NetStim's two spikes within one step are summed where they arrive
together; what cannot be exact is refused (at build, or a SimulationError
at the end of the run). References: NEURON 9 with NetCon.event at the
times plus the delay (tests/test_vecstim.py's runner), NetStims' spikes
with NetCon.record (tests/nrn_network.py)."""
from pathlib import Path

import numpy as np
import pytest

import nmlcell

pytest.importorskip("neuron")

from nrn_network import neuron_net, nmlcell_net  # noqa: E402
from test_vecstim import _neuron, _nmlcell  # noqa: E402

DATA = Path(__file__).parent / "data"

# two, three and two equal times on one step (dt 0.025: steps end at k * 0.025 + 0.0125)
TIMES = {"two": [1.0, 1.001, 5.0, 5.0, 9.99, 10.005], "three": [2.0, 2.0, 2.01, 7.0126, 7.02, 7.03],
         "z": [1.0, 1.001, 5.0, 5.0, 5.01, 9.99, 10.005], "s": [2.0, 2.0, 2.01, 7.0126, 7.02, 7.03]}


@pytest.mark.parametrize("mech,params", [("ExpSyn", {"tau": 2.0, "e": 0.0}),
                                         ("Exp2Syn", {"tau1": 0.5, "tau2": 3.0, "e": 0.0})])
def test_vecstim_times_on_one_step(mech, params):
    """2 and 3 times on one step, through delays on the grid (1.0, 0.7:
    the late rule; 0, 0.025: the usual one, Network._late)."""
    cfg = {"T": 20.0, "dt": 0.025, "syns": [[mech, params]], "stims": TIMES,
           "netcons": [["two", 0, 0.004, 1.0], ["three", 0, 0.003, 0.7], ["z", 0, 0.002, 0.0],
                       ["s", 0, 0.002, 0.025]], "record": [[None, "v"], [0, "g"]]}
    keep = {}
    (vm, gm), res = _nmlcell(cfg, keep=keep)
    vn, gn = _neuron(cfg)
    assert np.abs(vn - vm).max() < 1e-9, np.abs(vn - vm).max()
    assert np.abs(gn - gm).max() < 1e-12
    assert vn.max() > 0.0
    model = keep["net"].model(dt=0.025)
    assert "spike_n" in model.lowered.groups[keep["net"].where("two")[0]].kernel.state_names   # counted
    assert res.spikes["three"].tolist() == TIMES["three"]


def test_half_step_same_rule():
    """0.0375 + 1.0 lies on a half step where NEURON's running clock puts
    it a step later than ``(te + d) / dt`` does: with 0.0385 (the next
    emitting step) it arrives on one step. check_steps decides with
    lower/events.py's rule (the clock), so the VecStim is counted; with
    the product rule it was not, and one event was lost (v 59.5 mV, g
    9.9e-3 uS off NEURON)."""
    cfg = {"T": 6.0, "dt": 0.025, "syns": [["ExpSyn", {"tau": 2.0, "e": 0.0}]],
           "stims": {"p": [0.0375, 0.0385, 2.0625, 2.0635]}, "netcons": [["p", 0, 0.01, 1.0]],
           "record": [[None, "v"], [0, "g"]]}
    (vm, gm), _res = _nmlcell(cfg)
    vn, gn = _neuron(cfg)
    assert np.abs(vn - vm).max() < 1e-9 and np.abs(gn - gm).max() < 1e-12


def _net(times, syn="ExpSyn", delay=1.0, mechs=None, **params):
    net = nmlcell.Network()
    c = nmlcell.Cell.soma(L=20.0, diam=20.0)
    c.insert("hh")
    c.add(nmlcell.PointProcess(mechs[syn] if mechs else syn, **params))
    net.add(c, "a")
    vs = net.add(nmlcell.VecStim(times), "vs")
    net.connect(vs, c, f"{syn}[0]", weight=0.01, delay=delay)
    return net


def test_refusals():
    """What stays refused: several on one step into a handler reading t
    (TMShared) or not additive, times of one step that arrive on two, more
    than KMAX on one step; times on distinct steps into TMShared are not."""
    from nmlcell.lower.events import additive

    mechs = nmlcell.load_mod(DATA / "classic_syn" / "tm_shared.mod")
    assert not additive(mechs["TMShared"])
    with pytest.raises(nmlcell.OptionError, match=r"times 2 and 2.01 ms arrive on one step .*reads t"):
        _net([1.0, 2.0, 2.01], "TMShared", mechs=mechs).model(dt=0.025)
    _net([1.0, 2.0, 2.1], "TMShared", mechs=mechs).model(dt=0.025)   # one a step: fine
    with pytest.raises(nmlcell.OptionError, match=r"times 2 and 2.01 ms leave on one step and arrive on two "
                                                  r"through the NetCon of delay 0.7123"):
        _net([2.0, 2.01], delay=0.7123).model(dt=0.025)
    with pytest.raises(nmlcell.OptionError, match=r"9 times leave on one step"):
        _net([3.0] * 9).model(dt=0.025)
    with pytest.raises(nmlcell.OptionError, match=r"time 0 ms through the NetCon of delay 0 ms would arrive a step "
                                                  r"late"):
        _net([0.0, 2.0], delay=0.0).model(dt=0.025)


def test_unchanged_without_counts():
    """A VecStim with one time a step is lowered as before (no count
    state, no count buffer)."""
    net = _net([1.0, 2.0, 3.0])
    m = net.model(dt=0.025)
    assert "spike_n" not in m.lowered.groups[net.where("vs")[0]].kernel.state_names
    from nmlcell.run import event_plan

    plan = event_plan(m.lowered, 0.025)
    assert not plan.counted and not plan.summed and len(plan.carry0()[1]) == 2
    net._members["vs"].times = [1.0, 1.0, 2.0]   # between runs: lowered again, counted (and back)
    m2 = net.model(dt=0.025)
    assert "spike_n" in m2.lowered.groups[net.where("vs")[0]].kernel.state_names
    assert event_plan(m2.lowered, 0.025).counted
    net._members["vs"].times = [1.0, 2.0, 3.0]
    assert net.model(dt=0.025).lowered is m.lowered


def _noisy(T, delay, seed=3, syn=None):
    net = nmlcell.Network()
    c = nmlcell.Cell.soma(L=20.0, diam=20.0, cm=1.0, Ra=100.0, v_init=-65.0)
    c.insert("hh")
    c.add(syn or nmlcell.PointProcess("ExpSyn", tau=2.0, e=0.0))
    net.add(c, "a")
    ns = net.add(nmlcell.NetStim(start=1.0, interval=0.5, number=1e9, noise=1.0), "s")
    label = f"{syn.mech.name if syn else 'ExpSyn'}[0]"
    net.connect(ns, c, label, weight=0.0005, delay=delay)
    net.record("v", c)
    if syn is None:
        net.record("ExpSyn[0].g", c)
    return net.run(T, dt=0.025, seed=seed)


def _noisy_vs_neuron(T):
    res = _noisy(T, 1.0)
    sp = np.asarray(res.spikes["s"])
    pairs = int(np.sum(np.diff(np.ceil(sp / 0.025 - 0.5)) == 0))   # two on one of NEURON's steps
    cfg = {"T": T, "dt": 0.025, "syns": [["ExpSyn", {"tau": 2.0, "e": 0.0}]], "stims": {"s": sp.tolist()},
           "netcons": [["s", 0, 0.0005, 1.0]], "record": [[None, "v"], [0, "g"]]}
    vn, gn = _neuron(cfg)
    assert np.abs(vn - np.asarray(res["a.v"])).max() < 1e-9
    assert np.abs(gn - np.asarray(res["a.ExpSyn[0].g"])).max() < 1e-12
    return pairs


def test_noisy_netstim_two_in_one_step():
    """noise=1, mean interval 0.5 ms (20 steps): pairs within one step
    (the second leaves a step late from its own slot and arrives with the
    first); against NEURON fed nmlcell's own (exact) NetStim times. With a
    delay below dt/2 the second would arrive a step late: refused."""
    assert _noisy_vs_neuron(100.0) >= 1
    with pytest.raises(nmlcell.SimulationError, match="arrives a step late"):
        _noisy(100.0, 0.0)
    tm = nmlcell.load_mod(DATA / "classic_syn" / "tm_shared.mod")["TMShared"]
    with pytest.raises(nmlcell.SimulationError, match="several events reach one synapse on one step whose "
                                                      "NET_RECEIVE is not additive or reads t"):
        _noisy(100.0, 1.0, syn=nmlcell.PointProcess(tm))


def test_netstim_interval_below_dt():
    """A NetStim without noise whose interval (0.015 ms) is below dt puts
    two spikes on one step: it takes the noisy form (summed, checked),
    v and its spikes as NEURON's; with one more spike per step (0.01 ms)
    the run stops (before: an event lost, g 0.0078 of NEURON's ~0.0098)."""
    syn = [["ExpSyn", {"tau": 2.0, "e": 0.0}]]
    cfg = {"T": 5.0, "dt": 0.025, "celsius": 6.3,
           "cells": {"a": {"L": 20.0, "diam": 20.0, "cm": 1.0, "Ra": 100.0, "insert": [["hh", {}]], "syns": syn}},
           "stims": {"s": {"start": 1.0, "interval": 0.015, "number": 4}},
           "netcons": [["s", "a", "ExpSyn[0]", [0.002], 1.0, 10.0]], "record": [["a", "v"], ["a", "ExpSyn[0].g"]]}
    rn, sn = neuron_net(cfg)
    rm, sm, _res = nmlcell_net(cfg)
    assert np.abs(rn["a.v"] - rm["a.v"]).max() < 1e-9
    assert np.abs(rn["a.ExpSyn[0].g"] - rm["a.ExpSyn[0].g"]).max() < 1e-12
    assert len(sm["s"]) == 4 and np.abs(np.asarray(sm["s"]) - sn["s"]).max() < 1e-12
    cfg["stims"]["s"]["interval"] = 0.01
    cfg["stims"]["s"]["number"] = 5
    with pytest.raises(nmlcell.SimulationError, match="arrives a step late"):
        nmlcell_net(cfg)


@pytest.mark.slow
def test_noisy_netstim_long_run():
    """The same over 1 s (tens of pairs)."""
    assert _noisy_vs_neuron(1000.0) >= 20


def test_netstim_spikes_exact():
    """res.spikes of NetStims: NEURON's NetCon.record times (off the grid,
    on the late rule and the usual one, a first spike within dt/2 of 0,
    one within dt/2 of the end)."""
    syn = [["ExpSyn", {"tau": 2.0, "e": 0.0}]]
    cfg = {"T": 20.0, "dt": 0.025, "celsius": 6.3,
           "cells": {"a": {"L": 20.0, "diam": 20.0, "cm": 1.0, "Ra": 100.0, "insert": [["hh", {}]], "syns": syn}},
           "stims": {"late": {"start": 3.0137, "interval": 2.5111, "number": 5},
                     "usual": {"start": 1.0063, "interval": 3.3333, "number": 4},
                     "zero": {"start": 0.01, "interval": 4.0, "number": 2},
                     "end": {"start": 4.99, "interval": 5.0, "number": 5}},
           "netcons": [["late", "a", "ExpSyn[0]", [0.004], 1.0, 10.0], ["usual", "a", "ExpSyn[0]", [0.003], 0.03, 10.0],
                       ["zero", "a", "ExpSyn[0]", [0.002], 2.0, 10.0], ["end", "a", "ExpSyn[0]", [0.002], 2.0, 10.0]],
           "record": [["a", "v"]]}
    rn, sn = neuron_net(cfg)
    rm, sm, _res = nmlcell_net(cfg)
    assert np.abs(rn["a.v"] - rm["a.v"]).max() < 1e-9
    for k in cfg["stims"]:
        assert len(sm[k]) == len(sn[k]) and np.abs(np.asarray(sm[k]) - sn[k]).max() < 1e-12, (k, sm[k], sn[k])
    # off the grid; within dt/2 of 0 (0.01 less round-off, as NetStim's INITIAL computes it); within dt/2
    # of the end (the late rule leaves it for after the run: _last_step_spike)
    assert abs(sn["late"][1] - 5.5248) < 1e-9 and 0 < sn["zero"][0] < 0.0125 and sn["end"][-1] > 20.0 - 0.0125


@pytest.mark.slow
def test_counted_grad_vmap():
    """jax.grad through the weight of a counted VecStim's NetCon equals a
    central difference; jax.vmap over weights the separate runs."""
    from grad_check import weight_grad_and_vmap

    net = _net([2.0, 2.0, 2.01, 5.0], delay=1.0, tau=2.0, e=0.0)
    net.record("v", "a")
    weight_grad_and_vmap(net, "a", "ExpSyn[0]#0.w0", 10.0, 0.003, [0.001, 0.003, 0.006])
