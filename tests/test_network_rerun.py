"""Repeated runs of nmlcell.Network and nmlcell.Cell reuse the lowered and
compiled model (nmlcell/model_cache.py) and never serve a stale one: a
value changed between runs (a NetCon's weight or threshold, a synapse's
tau, an IClamp's amp, a NetStim's interval, celsius) gives, bit for bit,
what a network built afresh with that value gives, without lowering
again; a structural change (a delay, a new NetCon, an inserted mechanism)
lowers again."""
import numpy as np
import pytest

import nmlcell

T, DT = 30.0, 0.025


def _build(weight=0.02, delay=2.0, tau=2.0, amp=0.3, interval=6.0, threshold=-10.0):
    net = nmlcell.Network()
    a = nmlcell.Cell.soma()
    a.insert("hh")
    clamp = nmlcell.IClamp(delay=2.0, dur=3.0, amp=amp)
    a.add(clamp)
    syn_a = nmlcell.PointProcess("ExpSyn", tau=tau, e=0.0)
    a.add(syn_a)
    b = nmlcell.Cell.soma()
    b.insert("hh")
    b.add(nmlcell.PointProcess("Exp2Syn", tau1=0.5, tau2=3.0, e=0.0))
    net.add(a, "a")
    net.add(b, "b")
    stim = net.add(nmlcell.NetStim(start=1.0, interval=interval, number=4), "s")
    nc_ab = net.connect(a, b, "Exp2Syn[0]", weight=weight, delay=delay, threshold=threshold)
    net.connect(stim, a, "ExpSyn[0]", weight=0.01, delay=1.0)
    net.record("v", a)
    net.record("v", b)
    net.record("ExpSyn[0].g", a)
    return net, {"nc": nc_ab, "clamp": clamp, "syn": syn_a, "stim": stim}


def _same(r1, r2):
    for k in ("a.v", "b.v", "a.ExpSyn[0].g"):
        np.testing.assert_array_equal(r1[k], r2[k], err_msg=k)
    assert r1.spikes.keys() == r2.spikes.keys()
    for k in r1.spikes:
        np.testing.assert_array_equal(r1.spikes[k], r2.spikes[k], err_msg=k)


def _run(net, **kw):
    return net.run(T, dt=DT, **kw)


def test_values_between_runs_match_a_fresh_network_bitwise():
    net, h = _build()
    cache = net._models
    r0 = _run(net)
    assert len(r0.spikes["a"]) >= 1 and r0["b.v"].max() > 0  # a fires, b fires from it
    _same(r0, _run(net))  # the same again, nothing lowered
    assert cache.built == 1 and cache.rebound == 0

    changes = [
        ("weight", lambda: setattr(h["nc"], "weight", 0.05), {"weight": 0.05}, "b.v"),
        ("threshold", lambda: setattr(h["nc"], "threshold", 20.0), {"weight": 0.05, "threshold": 20.0}, "b.v"),
        ("ExpSyn tau", lambda: setattr(h["syn"], "tau", 5.0), {"weight": 0.05, "threshold": 20.0, "tau": 5.0},
         "a.ExpSyn[0].g"),
        ("IClamp amp", lambda: setattr(h["clamp"], "amp", 0.05),
         {"weight": 0.05, "threshold": 20.0, "tau": 5.0, "amp": 0.05}, "a.v"),
        ("NetStim interval", lambda: setattr(h["stim"], "interval", 4.0),
         {"weight": 0.05, "threshold": 20.0, "tau": 5.0, "amp": 0.05, "interval": 4.0}, "a.ExpSyn[0].g"),
    ]
    prev = r0
    for what, change, kw, col in changes:
        change()
        got = _run(net)
        assert not np.array_equal(got[col], prev[col]), what  # the change shows
        ref_net, _ = _build(**kw)
        _same(got, _run(ref_net))
        prev = got
    assert cache.built == 1 and cache.rebound == len(changes)
    gid, i = net.where("b")
    assert float(net.parameters()[gid]["Exp2Syn[0]#0.w0"][i]) == 0.05  # parameters() follows too

    # another temperature and seed: values too
    got = _run(net, celsius=16.3, seed=3)
    ref_net, _ = _build(**kw)
    _same(got, _run(ref_net, celsius=16.3, seed=3))
    assert cache.built == 1


def test_structural_changes_lower_again():
    net, h = _build()
    cache = net._models
    _run(net)
    h["nc"].delay = 3.5   # the event buffer's layout: lowered again
    got = _run(net)
    assert cache.built == 2
    ref_net, _ = _build(delay=3.5)
    _same(got, _run(ref_net))
    h["nc"].delay = 2.0   # back to the first structure: the kept model, no lowering
    _same(_run(net), _run(_build()[0]))
    assert cache.built == 2

    c = nmlcell.Cell.soma()
    c.insert("pas")
    c.add(nmlcell.PointProcess("ExpSyn", tau=1.0))
    net.add(c, "c")
    net.connect("b", c, "ExpSyn[0]", weight=0.01, delay=1.0, threshold=-10.0)
    net.record("v", c)
    got = _run(net)
    assert cache.built == 3 and np.ptp(got["c.v"]) > 0.01  # the new NetCon reaches c


def test_netcon_attributes_checked_and_shared_threshold():
    net, h = _build()
    nc2 = net.connect("a", "b", "Exp2Syn[0]", weight=0.01, delay=1.0, threshold=-10.0)
    h["nc"].threshold = 5.0
    assert nc2.threshold == 5.0  # NEURON: one threshold per source
    h["nc"].weight = (0.1,)
    assert h["nc"].weight == (0.1,)
    with pytest.raises(nmlcell.OptionError, match="delay must be >= 0"):
        h["nc"].delay = -1.0
    with pytest.raises(nmlcell.OptionError, match="no parameter 'taux'"):
        h["syn"].taux = 1.0
    assert h["clamp"].delay == 2.0 and h["clamp"].amp == 0.3
    with pytest.raises(nmlcell.OptionError, match="noise must be within"):
        h["stim"].noise = 2.0


def test_cell_values_between_runs():
    """Cell.run kept its model before, but missed v_init or a clamp's value
    changed in place; now they reach the next run, without lowering."""
    def build(v_init=-65.0, amp=0.1):
        c = nmlcell.Cell.soma(v_init=v_init)
        c.insert("hh")
        clamp = nmlcell.IClamp(delay=1.0, dur=5.0, amp=amp)
        c.add(clamp)
        c.record("v")
        return c, clamp

    c, clamp = build()
    r0 = c.run(20.0, dt=DT)
    c.v_init = -70.0
    clamp.amp = 0.3
    got = c.run(20.0, dt=DT)
    assert got["v"][0] == -70.0 and not np.array_equal(got["v"], r0["v"])
    ref = build(-70.0, 0.3)[0].run(20.0, dt=DT)
    np.testing.assert_array_equal(got["v"], ref["v"])
    assert c._models.built == 1 and c._models.rebound == 1
    p = c.parameters()
    assert float(p["cell"]["v_init"][0]) == -70.0


def _branched_net(tmp_path, weight=0.02, amp=0.3, tau2=4.0):
    """tests/test_network_mc.py's two branched hh/pas cells (Exp2Syn both
    ways, a pulse into a's root), its values as arguments."""
    from nrn_network import _branched
    from test_network_mc import _cell

    net = nmlcell.Network()
    h = {}
    for name in ("a", "b"):
        c = _cell(amp if name == "a" else None)
        cell = _branched(name, c, tmp_path, -65.0)
        for mech, params, where in c["insert"]:
            cell.insert(mech, where=where, **params)
        if c.get("iclamp"):
            d, dur, a, at = c["iclamp"]
            h["clamp"] = nmlcell.IClamp(delay=d, dur=dur, amp=a)
            cell.add(h["clamp"], at)
        for k, (mech, params, at) in enumerate(c["syns"]):
            pp = nmlcell.PointProcess(mech, **dict(params, **({"tau2": tau2} if k == 0 and name == "b" else {})))
            cell.add(pp, at)
            h[f"{name}.syn{k}"] = pp
        net.add(cell, name)
    h["nc"] = net.connect("a", "b", "Exp2Syn[0]", weight=weight, delay=2.0, threshold=-10.0)
    net.connect("b", "a", "Exp2Syn[1]", weight=0.005, delay=1.5, threshold=0.0)
    net.record("v", "a")
    net.record("v", "b", at="dend[3](0.7)")
    net.record("Exp2Syn[0].g", "b")
    return net, h


@pytest.mark.slow
def test_branched_cells_values_between_runs(tmp_path):
    """Two branched cells in one Hines tree: a NetCon weight, a dendritic
    synapse's tau2 and the clamp's amp changed between runs give, bit for
    bit, a fresh network's traces, with one lowering."""
    net, h = _branched_net(tmp_path)
    r0 = net.run(40.0, dt=DT)
    h["nc"].weight = 0.04
    h["b.syn0"].tau2 = 6.0
    h["clamp"].amp = 0.25
    got = net.run(40.0, dt=DT)
    ref = _branched_net(tmp_path, weight=0.04, amp=0.25, tau2=6.0)[0].run(40.0, dt=DT)
    for k in ("a.v", "b.dend[3](0.7).v", "b.Exp2Syn[0].g"):
        assert not np.array_equal(got[k], r0[k]), k
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
    for k in ref.spikes:
        np.testing.assert_array_equal(got.spikes[k], ref.spikes[k], err_msg=k)
    assert net._models.built == 1 and net._models.rebound == 1


@pytest.mark.slow
def test_branched_cell_values_between_runs(tmp_path):
    """Cell.run on a morphology: the clamp's amp and v_init changed in
    place reach the next run (bitwise a fresh cell's), without lowering."""
    from nrn_network import _branched
    from test_network_mc import _cell

    def build(amp, v_init):
        c = _cell(amp)
        cell = _branched("a", c, tmp_path, v_init)
        for mech, params, where in c["insert"]:
            cell.insert(mech, where=where, **params)
        clamp = nmlcell.IClamp(delay=1.0, dur=5.0, amp=amp)
        cell.add(clamp, "dend[0](0.5)")
        cell.record("v", at="dend[2](0.5)")
        return cell, clamp

    cell, clamp = build(0.3, -65.0)
    r0 = cell.run(15.0, dt=DT)
    clamp.amp = 0.1
    cell.v_init = -70.0
    got = cell.run(15.0, dt=DT)
    ref = build(0.1, -70.0)[0].run(15.0, dt=DT)
    k = "dend[2](0.5).v"
    assert not np.array_equal(got[k], r0[k])
    np.testing.assert_array_equal(got[k], ref[k])
    assert cell._models.built == 1 and cell._models.rebound == 1


def test_new_duration_reuses_the_compiled_chunk():
    """A run of another duration goes through a chunk length compiled
    before when that adds at most as many steps as the run has (steps past
    the end discarded): the same traces, bit for bit,
    as a fresh network run for that duration, with no new compilation."""
    net, _h = _build()
    _run(net)                                            # 1200 steps: one chunk of 1200
    lowered = net.model().lowered
    n_compiled = len(lowered._run_cache)
    for T2 in (20.0, 47.5):                              # 800 steps (one chunk), 1900 (two)
        got = net.run(T2, dt=DT)
        assert len(got.t) == round(T2 / DT) + 1
        ref = _build()[0].run(T2, dt=DT)
        _same(got, ref)
    assert len(lowered._run_cache) == n_compiled


def test_shared_compositions_build_the_same_ir(monkeypatch):
    """Members of one structure are composed once, the others' values from
    param_values: the IR equals, value for value, the one composing every
    member (different geometry, gnabar, tau2, clamp amp, NetCon counts and
    weights, a recorded current-phase value)."""
    import nmlcell.network as nw

    net = nmlcell.Network()
    for k in range(3):
        c = nmlcell.Cell.soma(L=20.0 + k, diam=20.0, v_init=-65.0 - k)
        c.insert("hh", gnabar=0.12 + 0.01 * k)
        c.add(nmlcell.PointProcess("Exp2Syn", tau1=0.5, tau2=3.0 + k))
        c.add(nmlcell.IClamp(delay=1.0, dur=2.0, amp=0.1 * k))
        net.add(c, f"c{k}")
    net.connect("c0", "c1", "Exp2Syn[0]", weight=0.01)
    net.connect("c0", "c2", "Exp2Syn[0]", weight=0.02)
    net.connect("c1", "c2", "Exp2Syn[0]", weight=0.03)
    net.record("Exp2Syn[0].g", "c2")
    net.record("ina", "c1")
    shared = net._ir(6.3, DT)
    monkeypatch.setattr(nw, "_SHARE", False)
    assert net._ir(6.3, DT) == shared
