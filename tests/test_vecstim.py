"""nmlcell.VecStim (spike trains given as times) against NEURON 9.

The reference: NEURON with one NetCon per VecStim and target, its events
queued at ``te + delay`` by ``NetCon.event`` from an FInitializeHandler.
Checked once against NEURON's VecStim itself (pyNN's vecstim.mod compiled
outside the repository, hh + ExpSyn/Exp2Syn/TMShared, times 0, 0.01,
1.0, 2.0125, 3.01, 4.0124, 4.0126, 7.3, delays 0, 0.7123, 1.0): v equal
to the last bit in every case. The same measurement: a time below 0
aborts NEURON's run, out-of-order times stop pyNN's VecStim, equal times
are each delivered, and NetCon.record gives the exact times below the
run's end (19.99 of T = 20 ms recorded, 20.0 not)."""
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

import nmlcell
from nrn_cells import compile_mods, run_script

pytest.importorskip("neuron")

DATA = Path(__file__).parent / "data"

_RUNNER = r'''
import json, sys
from neuron import h
cfg = json.loads(sys.argv[1])
if cfg.get("lib"):
    h.nrn_load_dll(cfg["lib"])
h.secondorder = 0
h.usetable_hh = 0
s = h.Section(name="a"); s.L = s.diam = 20.0; s.cm = 1.0; s.Ra = 100.0; s.insert("hh")
syns = []
for mech, params in cfg["syns"]:
    pp = getattr(h, mech)(s(0.5))
    for k, v in params.items():
        setattr(pp, k, v)
    syns.append(pp)
arts = {}
for name, (mech, params) in cfg.get("artificial", {}).items():   # ARTIFICIAL_CELLs: a VecStim's target
    a = getattr(h, mech)()
    for k, v in params.items():
        setattr(a, k, v)
    arts[name] = a
ncs, keep = [], []
for stim, k, w, d in cfg["netcons"]:
    nc = h.NetCon(None, arts[k] if k in arts else syns[k]); nc.weight[0] = w; nc.delay = d
    ncs.append((nc, cfg["stims"][stim], d))
for a, k, w, d in cfg.get("art_netcons", []):
    nc = h.NetCon(arts[a], syns[k]); nc.weight[0] = w; nc.delay = d; keep.append(nc)
def queue():
    for nc, times, d in ncs:
        for te in times:
            nc.event(te + d)
fih = h.FInitializeHandler(0, queue)
vecs = []
for k, var in cfg["record"]:
    vec = h.Vector(); vec.record(s(0.5)._ref_v if k is None else getattr(syns[k], "_ref_" + var)); vecs.append(vec)
h.dt = cfg["dt"]; h.celsius = 6.3
h.finitialize(-65.0)
while h.t < cfg["T"] - 0.5 * h.dt:
    h.fadvance()
json.dump([list(v) for v in vecs], open(sys.argv[2], "w"))
'''


def _neuron(cfg):
    import json

    return [np.asarray(x) for x in run_script(_RUNNER, cfg, "rec.json", lambda f: json.loads(f.read_text()))]


def _nmlcell(cfg, mechs=None, keep=None):
    net = nmlcell.Network()
    cell = nmlcell.Cell.soma(L=20.0, diam=20.0, cm=1.0, Ra=100.0, v_init=-65.0)
    cell.insert("hh")
    labels = []
    for mech, params in cfg["syns"]:
        cell.add(nmlcell.PointProcess(mechs[mech] if mechs and mech in mechs else mech, **params))
        labels.append(f"{mech}[{sum(1 for m, _ in cfg['syns'][:len(labels)] if m == mech)}]")
    net.add(cell, "a")
    for name, times in cfg["stims"].items():
        vs = net.add(nmlcell.VecStim(times), name)
        if keep is not None:
            keep[name] = vs
    for name, (mech, params) in cfg.get("artificial", {}).items():
        net.add(nmlcell.PointProcess(mech, **params), name)
    for stim, k, w, d in cfg["netcons"]:
        if isinstance(k, str):   # into an artificial cell
            net.connect(stim, k, weight=w, delay=d)
        else:
            net.connect(stim, cell, labels[k], weight=w, delay=d)
    for a, k, w, d in cfg.get("art_netcons", []):
        net.connect(a, cell, labels[k], weight=w, delay=d)
    cols = []
    for k, var in cfg["record"]:
        col = "v" if k is None else f"{labels[k]}.{var}"
        net.record(col, cell)
        cols.append(f"a.{col}")
    res = net.run(cfg["T"], dt=cfg["dt"])
    if keep is not None:
        keep["net"] = net
    return [np.asarray(res[c]) for c in cols], res


# on the grid, on half steps, between steps, within one step of each other, at 0 (late rule only)
LATE = [0.0, 0.02, 1.9, 2.0125, 3.01, 4.0124, 4.0126, 7.3, 12.0]
OFF = [0.0, 1.9, 2.0125, 3.01, 4.0124, 4.0376, 7.3, 12.0]
EARLY = [0.02, 1.5, 2.0125, 3.01, 5.0124, 5.0376, 9.3]


def _cfg(mech, params):
    return {"T": 30.0, "dt": 0.025, "syns": [[mech, params]],
            "stims": {"late": LATE, "off": OFF, "zero": EARLY, "short": EARLY},
            # delays on the grid (late rule), off it, 0 and 0.03 (one step after rounding: the usual rule)
            "netcons": [["late", 0, 0.004, 1.0], ["off", 0, 0.003, 0.7123], ["zero", 0, 0.002, 0.0],
                        ["short", 0, 0.002, 0.03]],
            "record": [[None, "v"], [0, "g"]]}


@pytest.mark.parametrize("mech,params", [("ExpSyn", {"tau": 2.0, "e": 0.0}),
                                         ("Exp2Syn", {"tau1": 0.5, "tau2": 3.0, "e": 0.0})])
def test_vecstim_synapses_on_neuron_steps(mech, params):
    cfg = _cfg(mech, params)
    (vn, gn), (vm, gm) = _neuron(cfg), _nmlcell(cfg)[0]
    assert np.abs(vn - vm).max() < 1e-9, np.abs(vn - vm).max()
    assert np.abs(gn - gm).max() < 1e-12
    assert vn.max() > 0.0   # the inputs make the cell spike


def test_vecstim_tm_reads_exact_t():
    """TMShared's NET_RECEIVE relaxes u and R over t - tsyn: the exact
    event times (off the grid, through off-grid delays) reach it."""
    lib = compile_mods(DATA / "classic_syn")   # the folder, as test_classic_synapses (one cached build)
    mechs = nmlcell.load_mod(DATA / "classic_syn" / "tm_shared.mod")
    cfg = {"lib": lib, "T": 40.0, "dt": 0.025, "syns": [["TMShared", {"tau_fac": 60.0}]],
           "stims": {"p": [0.0, 1.003, 2.5117, 4.02, 9.9, 10.2, 25.0], "q": [0.3, 3.333, 7.777]},
           "netcons": [["p", 0, 0.05, 0.7123], ["q", 0, 0.04, 0.01]],
           "record": [[None, "v"], [0, "u"], [0, "R"], [0, "g"]]}
    (vn, un, rn, gn), (vm, um, rm, gm) = _neuron(cfg), _nmlcell(cfg, mechs)[0]
    assert np.abs(vn - vm).max() < 1e-9, np.abs(vn - vm).max()
    assert np.abs(un - um).max() < 1e-12 and np.abs(rn - rm).max() < 1e-12 and np.abs(gn - gm).max() < 1e-12
    assert un.max() > 0.3   # facilitated: the events are 2.5-0.3 ms apart


def test_vecstim_into_artificial_cell():
    """VecStim -> IntFire1 (fires on each input above 1) -> ExpSyn on hh:
    the artificial cell takes the event a step early (network.py) and the
    times still arrive on NEURON's steps. The arrivals are on the grid (q:
    between-step times through a delay that ends on it): IntFire1's own
    spike leaves at its step's time, not the input's exact one
    (docs/differences-from-neuron.md)."""
    cfg = {"T": 30.0, "dt": 0.025, "syns": [["ExpSyn", {"tau": 2.0, "e": 0.0}]],
           "artificial": {"f": ["IntFire1", {"tau": 4.0, "refrac": 1.0}]},
           "stims": {"p": [0.0, 1.7, 3.0, 6.0, 9.975], "q": [2.0125, 8.0125]},
           "netcons": [["p", "f", 1.5, 0.7], ["q", "f", 1.2, 0.0375]], "art_netcons": [["f", 0, 0.01, 0.5]],
           "record": [[None, "v"], [0, "g"]]}
    (vn, gn), (vm, gm) = _neuron(cfg), _nmlcell(cfg)[0]
    assert np.abs(gn - gm).max() < 1e-12, np.abs(gn - gm).max()
    assert np.abs(vn - vm).max() < 1e-9, np.abs(vn - vm).max()
    assert gn.max() > 0.01


def test_vecstim_spikes_and_rerun():
    """The reported spikes (NEURON's NetCon.record: exact times below the
    end) and a rerun with new times of the same count class (no new
    lowering) against NEURON."""
    cfg = {"T": 20.0, "dt": 0.025, "syns": [["ExpSyn", {"tau": 2.0, "e": 0.0}]],
           "stims": {"vs": [1.0, 5.0, 19.99, 20.5]}, "netcons": [["vs", 0, 0.003, 1.0]], "record": [[None, "v"]]}
    keep = {}
    (v1,), res = _nmlcell(cfg, keep=keep)
    assert res.spikes["vs"].tolist() == [1.0, 5.0, 19.99]
    net, vs = keep["net"], keep["vs"]
    model = net.model(dt=0.025)
    vs.times = [2.0, 3.0137, 7.77]
    assert net.model(dt=0.025).lowered is model.lowered   # same slots (4): values fed in, not lowered again
    res2 = net.run(20.0, dt=0.025)
    cfg2 = dict(cfg, stims={"vs": [2.0, 3.0137, 7.77]})
    (vn,) = _neuron(cfg2)
    assert np.abs(np.asarray(res2["a.v"]) - vn).max() < 1e-9
    assert res2.spikes["vs"].tolist() == [2.0, 3.0137, 7.77]
    vs.times = [1.0, 2.0, 3.0, 4.0, 5.5]   # 8 slots: lowered again, as a network built with them
    cfg3 = dict(cfg, stims={"vs": [1.0, 2.0, 3.0, 4.0, 5.5]})
    assert np.array_equal(np.asarray(net.run(20.0, dt=0.025)["a.v"]), _nmlcell(cfg3)[0][0])


@pytest.mark.slow
def test_vecstim_grad_vmap_weights():
    """jax.grad through a VecStim NetCon's weight equals a central
    difference, jax.vmap over weights the separate runs."""
    cfg = {"T": 12.0, "dt": 0.025, "syns": [["ExpSyn", {"tau": 2.0, "e": 0.0}]],
           "stims": {"vs": [2.0, 3.0137, 7.77]}, "netcons": [["vs", 0, 0.003, 1.0]], "record": [[None, "v"]]}
    keep = {}
    _nmlcell(cfg, keep=keep)
    from grad_check import weight_grad_and_vmap

    weight_grad_and_vmap(keep["net"], "a", "ExpSyn[0]#0.w0", 12.0, 0.003, [0.001, 0.003, 0.006])


def _two(times, delay=1.0, dt=0.025):
    net = nmlcell.Network()
    c = nmlcell.Cell.soma(L=20.0, diam=20.0)
    c.insert("hh")
    c.add(nmlcell.PointProcess("ExpSyn", tau=2.0, e=0.0))
    net.add(c, "a")
    vs = net.add(nmlcell.VecStim(times), "vs")
    net.connect(vs, c, "ExpSyn[0]", weight=0.01, delay=delay)
    return net.model(dt=dt)


def test_vecstim_bad_times():
    with pytest.raises(nmlcell.OptionError, match=r"VecStim time -1 ms is below 0 .*aborts"):
        nmlcell.VecStim([-1.0, 2.0])
    with pytest.raises(nmlcell.OptionError, match=r"increasing order: 5 ms \(index 0\) is followed by 3 ms"):
        nmlcell.VecStim([5.0, 3.0, 7.0])
    # times that leave or arrive on one step into an additive NET_RECEIVE (ExpSyn) are counted, not
    # refused: tests/test_event_counts.py (against NEURON, and the refusals that remain)
    with pytest.raises(nmlcell.OptionError, match=r"time 0 ms through the NetCon of delay 0 ms would arrive a step "
                                                  r"late"):
        _two([0.0, 2.0], delay=0.0)
    net = nmlcell.Network()
    vs = net.add(nmlcell.VecStim([1.0]), "vs")
    with pytest.raises(nmlcell.OptionError, match="post 'vs' is a VecStim"):
        net.connect(net.add(nmlcell.VecStim([2.0]), "vs2"), vs, weight=1.0)


def test_vecstim_mod_refused():
    """A model's own vecstim.mod (the Vector read in C) points to nmlcell.VecStim."""
    with pytest.raises(nmlcell.UnsupportedError, match=r"vecstim_own\.mod.*nmlcell\.VecStim"):
        nmlcell.load_mod(DATA / "vecstim_own.mod")
    with tempfile.TemporaryDirectory() as d:   # a folder of a network model's .mod files
        shutil.copy(DATA / "vecstim_own.mod", d)
        with pytest.raises(nmlcell.UnsupportedError, match=r"ARTIFICIAL_CELL VecStim: use nmlcell's built-in "
                                                           r"nmlcell\.VecStim"):
            nmlcell.load_mod(d)
