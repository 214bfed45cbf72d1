"""nmlcell.Network (cells, NetStims, NetCons into NET_RECEIVE synapses)
against the same network in NEURON (tests/nrn_network.py: a subprocess,
fixed step, secondorder 0, rate tables off). Spike times must fall on the
same steps (NEURON's t is a running sum, ours i*dt: they differ by
round-off) and v agree to round-off."""
import numpy as np
import pytest

import nmlcell
from nrn_network import neuron_net, nmlcell_net

pytest.importorskip("neuron")


def _hh(**kw):
    c = {"L": 20.0, "diam": 20.0, "cm": 1.0, "Ra": 100.0, "insert": [["hh", {}]]}
    c.update(kw)
    return c


def _same(cfg, v_tol=1e-6, mechs=None):
    rn, sn = neuron_net(cfg)
    rm, sm, _res = nmlcell_net(cfg, mechs)
    for k in rn:
        assert len(rn[k]) == len(rm[k]), k
        scale = 1.0 if k.endswith(".v") else max(np.ptp(rn[k]), 1e-12)
        assert np.max(np.abs(rn[k] - rm[k])) / scale < v_tol, k
    n = 0
    for k, ours in sm.items():
        # the step NEURON handles each at (te <= t + dt/2); an artificial cell's: its exact time, as NEURON's
        ref = sn[k] if k in cfg.get("artificial", {}) else np.ceil(sn[k] / cfg["dt"] - 0.5) * cfg["dt"]
        assert len(ref) == len(ours), (k, ref, ours)
        # the same step: times within a small fraction of dt
        assert np.max(np.abs(ref - ours), initial=0.0) < 1e-3 * cfg["dt"], (k, ref, ours)
        n += len(ref)
    return n


def test_netstim_expsyn_hh():
    cfg = {"T": 60.0, "dt": 0.025, "celsius": 6.3,
           "cells": {"a": _hh(syns=[["ExpSyn", {"tau": 2.0, "e": 0.0}]])},
           "stims": {"s": {"start": 5.0, "interval": 10.0, "number": 5, "noise": 0}},
           "netcons": [["s", "a", "ExpSyn[0]", [0.01], 1.0, 10.0]],
           "record": [["a", "v"], ["a", "ExpSyn[0].g"]]}
    assert _same(cfg) == 5


@pytest.mark.slow
def test_two_cells_exp2syn_both_ways():
    """Delays that are not multiples of dt (3.01, 4.537 ms) and different
    thresholds; an IClamp starts the exchange."""
    syn = [["Exp2Syn", {"tau1": 0.5, "tau2": 3.0, "e": 0.0}]]
    cfg = {"T": 80.0, "dt": 0.025, "celsius": 6.3,
           "cells": {"a": _hh(iclamp=[2.0, 1.0, 0.5], syns=syn), "b": _hh(syns=syn)},
           "netcons": [["a", "b", "Exp2Syn[0]", [0.02], 3.01, 0.0], ["b", "a", "Exp2Syn[0]", [0.02], 4.537, -10.0]],
           "record": [["a", "v"], ["b", "v"], ["b", "Exp2Syn[0].g"]]}
    assert _same(cfg) >= 10


@pytest.mark.slow
def test_ring_of_five():
    """A NetStim starts a ring of 5 hh cells (ExpSyn, delays 2..4 ms; two
    NetCons onto c0's synapse: the stim with delay 0, c4)."""
    cfg = {"T": 100.0, "dt": 0.025, "celsius": 6.3, "cells": {}, "netcons": [], "record": [],
           "stims": {"s": {"start": 1.0, "interval": 50.0, "number": 1, "noise": 0}}}
    for k in range(5):
        cfg["cells"][f"c{k}"] = _hh(syns=[["ExpSyn", {"tau": 2.0, "e": 0.0}]])
        cfg["netcons"].append([f"c{k}", f"c{(k + 1) % 5}", "ExpSyn[0]", [0.05], 2.0 + 0.5 * k, 10.0])
        cfg["record"].append([f"c{k}", "v"])
    cfg["netcons"].append(["s", "c0", "ExpSyn[0]", [0.05], 0.0, 10.0])
    assert _same(cfg) >= 25


@pytest.mark.slow
def test_exp2syn_nmda_corpus(corpus):
    """smith2013's Exp2SynNMDA (Mg block) driven by a NetStim."""
    from nrn_cells import compile_mods

    folder = corpus / "smith2013-l23" / "NEURON" / "mod.files"
    lib = compile_mods(folder, files=["exp2synNMDA.mod"])
    mechs = nmlcell.load_mod(folder / "exp2synNMDA.mod")
    cfg = {"lib": lib, "T": 80.0, "dt": 0.025, "celsius": 34.0,
           "cells": {"a": _hh(syns=[["Exp2SynNMDA", {}]])},
           "stims": {"s": {"start": 5.0, "interval": 7.0, "number": 8, "noise": 0}},
           "netcons": [["s", "a", "Exp2SynNMDA[0]", [0.02], 0.5, 10.0]],
           "record": [["a", "v"], ["a", "Exp2SynNMDA[0].g"]]}
    _same(cfg, mechs=mechs)


@pytest.mark.slow
def test_izhikevich_point_processes_watch(corpus):
    """Izhi2003a (its own V, WATCH (V > thresh) armed by INITIAL's
    net_send(0, 1), net_event, reset) driven by a NetStim onto its gsyn, and
    Izhi2003b (resets the cell's v), both sending spikes to an ExpSyn on an
    hh cell. Spikes on NEURON's steps; traces within 1e-6 mV except at a
    spike's step, where NEURON records the value before the reset (it
    applies the WATCH's event at the start of the next step)."""
    from nrn_cells import compile_mods

    folder = corpus / "izhikevich" / "NEURON"
    lib = compile_mods(folder, files=["izhi2003a.mod", "izhi2003b.mod"])
    mechs = {**nmlcell.load_mod(folder / "izhi2003a.mod"), **nmlcell.load_mod(folder / "izhi2003b.mod")}
    cfg = {"lib": lib, "T": 200.0, "dt": 0.025, "celsius": 6.3,
           "cells": {"a": _hh(syns=[["Izhi2003a", {"Iin": 0.0}]]),
                     "c": {"L": 5.6419, "diam": 5.6419, "cm": 1.0, "Ra": 100.0, "insert": [],
                           "syns": [["Izhi2003b", {"Iin": 10.0}]]},
                     "b": _hh(syns=[["ExpSyn", {"tau": 2.0, "e": 0.0}]])},
           "stims": {"s": {"start": 5.0, "interval": 20.0, "number": 8, "noise": 0}},
           "netcons": [["s", "a", "Izhi2003a[0]", [0.5], 1.0, 10.0],
                       ["a:Izhi2003a[0]", "b", "ExpSyn[0]", [0.01], 2.0, 10.0],
                       ["c:Izhi2003b[0]", "b", "ExpSyn[0]", [0.01], 1.5, 10.0]],
           "record": [["a", "Izhi2003a[0].V"], ["c", "v"], ["c", "Izhi2003b[0].u"], ["b", "v"]]}
    rn, sn = neuron_net(cfg)
    rm, sm, _res = nmlcell_net(cfg, mechs)
    assert len(sn["a"]) == 5 and len(sn["c"]) == 13
    for k in sm:
        assert len(sm[k]) == len(sn[k]) and np.max(np.abs(sm[k] - sn[k])) < 1e-3 * cfg["dt"], k
    for k, src in (("a.Izhi2003a[0].V", "a"), ("c.v", "c"), ("c.Izhi2003b[0].u", "c"), ("b.v", None)):
        d = np.abs(rn[k] - rm[k])
        if src:
            d[np.round(sn[src] / cfg["dt"]).astype(int)] = 0.0
        assert d.max() < 1e-6, (k, d.max())


def test_artificial_cell_intervalfire(corpus):
    """invlfire.mod's IntervalFire (ARTIFICIAL_CELL: INITIAL's net_send, a
    FUNCTION of t and t0, net_event) as a spike source onto an ExpSyn.
    invl 7.31 ms puts its self-events between steps: each is handled on
    NEURON's step (te <= t + dt/2), reported at its exact time (NEURON's
    NetCon.record)."""
    from nrn_cells import compile_mods

    folder = corpus / "neuron-builtin-mods" / "demo_release"
    lib = compile_mods(folder, files=["invlfire.mod"])
    mechs = nmlcell.load_mod(folder / "invlfire.mod")
    cfg = {"lib": lib, "T": 100.0, "dt": 0.025, "celsius": 6.3,
           "cells": {"b": _hh(syns=[["ExpSyn", {"tau": 2.0, "e": 0.0}]])},
           "artificial": {"f": ["IntervalFire", {"tau": 5.0, "invl": 7.31}]},
           "netcons": [["f", "b", "ExpSyn[0]", [0.01], 1.0, 10.0]],
           "record": [["b", "v"], ["b", "ExpSyn[0].g"]]}
    rn, sn = neuron_net(cfg)
    rm, sm, _res = nmlcell_net(cfg, mechs)
    assert len(sn["f"]) == 13
    np.testing.assert_allclose(sm["f"], sn["f"], rtol=0, atol=1e-9)
    assert np.max(np.abs(rn["b.v"] - rm["b.v"])) < 1e-6
    assert np.max(np.abs(rn["b.ExpSyn[0].g"] - rm["b.ExpSyn[0].g"])) < 1e-12


def test_netcon_into_artificial_cell(corpus):
    """NetStim events into IntervalFire (its NET_RECEIVE with flag 0: m
    jumps by the weight, a spike when m > 1, net_move of the pending
    self-event), whose spikes reach an ExpSyn on an hh cell."""
    from nrn_cells import compile_mods

    folder = corpus / "neuron-builtin-mods" / "demo_release"
    lib = compile_mods(folder, files=["invlfire.mod"])
    mechs = nmlcell.load_mod(folder / "invlfire.mod")
    cfg = {"lib": lib, "T": 100.0, "dt": 0.025, "celsius": 6.3,
           "cells": {"b": _hh(syns=[["ExpSyn", {"tau": 2.0, "e": 0.0}]])},
           "stims": {"s": {"start": 3.0, "interval": 4.0, "number": 20, "noise": 0}},
           "artificial": {"f": ["IntervalFire", {"tau": 5.0, "invl": 17.31}]},
           "netcons": [["s", "f", None, [0.3], 1.0, 10.0], ["f", "b", "ExpSyn[0]", [0.01], 1.0, 10.0]],
           "record": [["b", "v"], ["b", "ExpSyn[0].g"]]}
    assert _same(cfg, mechs=mechs) == 31


def test_noisy_netstim_rate_and_seed():
    """noise=1: Poisson spikes at 1/interval (the draws are JAX's, not
    NEURON's: the rate is compared, within 4 standard deviations), the same
    train for the same seed, another for another seed."""
    def run(seed):
        net = nmlcell.Network()
        c = nmlcell.Cell.soma()
        c.insert("pas")
        syn = c.add(nmlcell.PointProcess("ExpSyn"))
        net.add(c, "a")
        net.add(nmlcell.NetStim(start=0.0, interval=5.0, number=1e9, noise=1.0), "s")
        net.connect("s", "a", syn, weight=0.001, delay=1.0)
        return net.run(2000.0, dt=0.1, seed=seed).spikes["s"]

    a, b, c = run(1), run(1), run(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[:20], c[:20])
    expected = 2000.0 / 5.0
    assert abs(len(a) - expected) < 4 * np.sqrt(expected), len(a)
    isi = np.diff(a)
    assert abs(np.std(isi) / np.mean(isi) - 1.0) < 0.15  # exponential intervals: CV 1


def test_grad_through_netcon_weight():
    """jax.grad of a synapse's conductance with respect to the NetCon
    weight (a per-instance parameter): ExpSyn's g is linear in it."""
    import jax

    net = nmlcell.Network()
    c = nmlcell.Cell.soma()
    c.insert("pas")
    syn = c.add(nmlcell.PointProcess("ExpSyn", tau=2.0))
    net.add(c, "a")
    net.add(nmlcell.NetStim(start=1.0, interval=3.0, number=3), "s")
    net.connect("s", "a", syn, weight=0.004, delay=0.5)
    net.record("ExpSyn[0].g", "a")
    p = net.parameters(dt=0.025)
    gid, i = net.where("a")
    sim = net.simulator(12.0, dt=0.025)

    def g_end(w):
        q = jax.tree.map(lambda x: x, p)
        q[gid] = dict(q[gid], **{"ExpSyn[0]#0.w0": q[gid]["ExpSyn[0]#0.w0"].at[i].set(w)})
        return sim(q)["a.ExpSyn[0].g"][-1]

    g, dg = jax.value_and_grad(g_end)(0.004)
    assert g > 0 and abs(float(dg) - float(g) / 0.004) < 1e-12 * max(1.0, abs(float(dg)))


def test_bad_input():
    net = nmlcell.Network()
    c = nmlcell.Cell.soma()
    c.insert("hh")
    clamp = c.add(nmlcell.IClamp(delay=1.0, dur=1.0, amp=0.1))
    syn = c.add(nmlcell.PointProcess("ExpSyn"))
    net.add(c, "a")
    s = net.add(nmlcell.NetStim(), "s")
    with pytest.raises(nmlcell.OptionError, match="IClamp.*no NET_RECEIVE"):
        net.connect(s, c, clamp, weight=0.1)
    with pytest.raises(nmlcell.OptionError, match="delay must be >= 0"):
        net.connect(s, c, syn, weight=0.1, delay=-1.0)
    with pytest.raises(nmlcell.OptionError, match="no point process 'Exp2Syn\\[0\\]'"):
        net.connect(s, c, "Exp2Syn[0]", weight=0.1)
    with pytest.raises(nmlcell.OptionError, match="not in the network"):
        net.connect(nmlcell.NetStim(), c, syn)
    with pytest.raises(nmlcell.OptionError, match="NetStim"):
        net.connect(c, s, syn)
    with pytest.raises(nmlcell.OptionError, match="noise"):
        nmlcell.NetStim(noise=2.0)
    for e in (nmlcell.OptionError("x", element="connect"),):
        assert "\n" not in str(e)
