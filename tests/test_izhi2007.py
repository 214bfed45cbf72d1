"""netpyne's Izhikevich 2007 point processes (tests/data/izhi2007: izhi2007a,
izhi2007b, izhi2007bS, copied unchanged from the corpus with their BSD
licence) against NEURON 9, and the VERBATIM forms they use
(nmlcell/importers/nmodl_verbatim.py; tests/data/verbatim/errbranch.mod).

izhi2007b/bS as netpyne uses them: a one-compartment soma (L = diam = 10
um) whose capacitance is the model's C (cm = 0.31831 * C uF/cm2, C = 1 in
the point process), driven by an IClamp and by a NetStim into an ExpSyn.
Spikes (net_event) on NEURON's steps; v within 1e-9 mV except at a spike's
step, where NEURON records the value before the WATCH's reset (it applies
the event at the start of the next step).
"""
from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pytest

import nmlcell
from nmlcell.errors import ModelImportError, SimulationError

DATA = Path(__file__).parent / "data"
FOLDER = DATA / "izhi2007"
DT = 0.025

# Izhikevich (2007) parameters of netpyne's cell types (C in pF)
TYPES = {1: dict(C=100, k=0.7, vr=-60, vt=-40, vpeak=35, a=0.03, b=-2, c=-50, d=100),
         4: dict(C=100, k=1, vr=-56, vt=-42, vpeak=40, a=0.03, b=8, c=-53, d=20),
         5: dict(C=20, k=1, vr=-55, vt=-40, vpeak=25, a=0.2, b=-2, c=-45, d=-55),
         6: dict(C=200, k=1.6, vr=-60, vt=-50, vpeak=35, a=0.01, b=15, c=-60, d=10),
         7: dict(C=40, k=0.25, vr=-65, vt=-45, vpeak=0, a=0.015, b=10, c=-55, d=50)}


def _lib():
    from nrn_cells import compile_mods

    return compile_mods(FOLDER)


def _mechs(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nmlcell.load_mod(FOLDER / f"izhi2007{name[len('Izhi2007'):]}.mod")


def _cell_cfg(mech, celltype, T, amp_scale=1.0):
    p = dict(TYPES[celltype])
    C = p.pop("C")
    p.update(C=1.0, celltype=float(celltype))
    amp = 0.1 * C / 100 * amp_scale
    return {"lib": _lib(), "T": T, "dt": DT, "celsius": 6.3,
            "cells": {"a": {"L": 10.0, "diam": 10.0, "cm": 0.31831 * C, "Ra": 100.0, "insert": [],
                            "syns": [[mech, p], ["ExpSyn", {"tau": 2.0, "e": 0.0}]],
                            "iclamp": [20.0, 150.0, amp]},
                      "z": {"L": 10.0, "diam": 10.0, "cm": 1.0, "Ra": 100.0, "insert": [["pas", {}]],
                            "syns": [["ExpSyn", {}]]}},
            "stims": {"s": {"start": 180.0, "interval": 7.0, "number": 8, "noise": 0}},
            "netcons": [["s", "a", "ExpSyn[0]", [0.01 * C / 100], 1.0, 10.0],
                        [f"a:{mech}[0]", "z", "ExpSyn[0]", [0.001], 1.0, 10.0]],
            "record": [["a", "v"], ["a", f"{mech}[0].u"]]}


def _compare(cfg, mech, v_tol=1e-9, u_tol=1e-9):
    """Run NEURON and nmlcell; spikes on the same steps, v and u within the
    tolerances outside the spikes' steps. Returns (spikes, max v diff)."""
    from nrn_network import neuron_net, nmlcell_net

    rn, sn = neuron_net(cfg)
    cm = copy.deepcopy(cfg)
    pp = cm["cells"]["a"]["syns"][0][1]
    pp["b0"] = pp.pop("b")   # b: BREAKPOINT (2007b) or an event (2007bS) assigns it; b0 is its value before
    rm, sm, _res = nmlcell_net(cm, _mechs(mech))
    assert len(sm["a"]) == len(sn["a"]), (sn["a"], sm["a"])
    if len(sn["a"]):
        assert np.max(np.abs(sm["a"] - sn["a"])) < 1e-3 * DT
    at = np.round(sn["a"] / DT).astype(int)
    dv = np.abs(rn["a.v"] - rm["a.v"])
    du = np.abs(rn[f"a.{mech}[0].u"] - rm[f"a.{mech}[0].u"])
    dv[at] = 0.0
    du[at] = 0.0
    assert dv.max() < v_tol, dv.max()
    assert du.max() < u_tol, du.max()
    return sn["a"], dv.max()


def test_izhi2007b_rs_against_neuron():
    """RS (celltype 1): IClamp 100 pA for 150 ms, then 8 NetStim events."""
    spikes, dv = _compare(_cell_cfg("Izhi2007b", 1, 250.0), "Izhi2007b")
    assert len(spikes) == 3


@pytest.mark.slow
@pytest.mark.parametrize("mech", ["Izhi2007b", "Izhi2007bS"])
@pytest.mark.parametrize("celltype", [4, 6, 7])
def test_izhi2007b_celltypes_against_neuron(mech, celltype):
    """LTS (WATCH on v > vpeak - 0.1 u), TC and TRN (WATCHes with flags 3
    and 4 switching b) as netpyne's point processes."""
    spikes, _dv = _compare(_cell_cfg(mech, celltype, 250.0, amp_scale=3.0 if celltype == 6 else 1.0), mech)
    assert len(spikes) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("mech", ["Izhi2007b", "Izhi2007bS"])
def test_izhi2007b_iin_against_neuron(mech):
    """RS driven by the point process's own Iin (70 pA, as the file's
    header example), no IClamp."""
    cfg = _cell_cfg(mech, 1, 200.0)
    del cfg["cells"]["a"]["iclamp"]
    cfg["cells"]["a"]["syns"][0][1]["Iin"] = 70.0
    spikes, _dv = _compare(cfg, mech)
    assert len(spikes) == 2   # at 99.975 and 195.725 ms


@pytest.mark.slow
@pytest.mark.parametrize("mech", ["Izhi2007b", "Izhi2007bS"])
def test_izhi2007b_fs_against_neuron(mech):
    """FS (celltype 5, derivtype switched by WATCH (v > d) 3 / (v < d) 4).
    Its cubic u(v) term at a spike's overshoot amplifies round-off (1e-13 mV
    before the first spike) about 30-fold per spike; 3 spikes in 60 ms."""
    spikes, dv = _compare(_cell_cfg(mech, 5, 60.0, amp_scale=8.0), mech, v_tol=1e-6, u_tol=1e-6)
    assert len(spikes) == 3


@pytest.mark.slow
def test_izhi2007a_synapses_against_neuron():
    """izhi2007a (its own V, AMPA/NMDA/GABA_A/GABA_B conductances that
    BREAKPOINT decays and NET_RECEIVE increments, reset at a spike): two
    NetStims with netpyne's weight vectors [wAMPA, wNMDA, wGABAA, wGABAB,
    wOpsin]. NET_RECEIVE reads and sets the last BREAKPOINT call's values."""
    from nrn_network import neuron_net, nmlcell_net

    m = "Izhi2007a"
    cfg = {"lib": _lib(), "T": 300.0, "dt": DT, "celsius": 6.3,
           "cells": {"a": {"L": 10.0, "diam": 10.0, "cm": 1.0, "Ra": 100.0, "insert": [],
                           "syns": [[m, {"celltype": 1.0}]]},
                     "z": {"L": 10.0, "diam": 10.0, "cm": 1.0, "Ra": 100.0, "insert": [["pas", {}]],
                           "syns": [["ExpSyn", {}]]}},
           "stims": {"e": {"start": 10.0, "interval": 4.3, "number": 40, "noise": 0},
                     "i": {"start": 150.0, "interval": 9.1, "number": 10, "noise": 0}},
           "netcons": [["e", "a", f"{m}[0]", [6.0, 0.4, 0, 0, 0], 1.0, 10.0],
                       ["i", "a", f"{m}[0]", [0, 0, 3.0, 0.3, 0], 2.0, 10.0],
                       [f"a:{m}[0]", "z", "ExpSyn[0]", [0.001], 1.0, 10.0]],
           "record": [["a", f"{m}[0].{x}"] for x in ("V", "u", "gAMPA", "gNMDA", "gGABAA", "gGABAB")]}
    rn, sn = neuron_net(cfg)
    rm, sm, _res = nmlcell_net(cfg, _mechs(m))
    assert len(sn["a"]) == len(sm["a"]) == 7
    assert np.max(np.abs(sm["a"] - sn["a"])) < 1e-3 * DT
    at = np.round(sn["a"] / DT).astype(int)
    for k in rn:
        d = np.abs(rn[k] - rm[k])
        d[at] = 0.0
        assert d.max() < 1e-9, (k, d.max())


def test_izhi2007a_output_verbatim_warned():
    """izhi2007a's output-only VERBATIMs and its uncalled PROCEDURE
    useverbose (hoc arguments) import with one warning each, file:line."""
    from nmlcell.importers.nmodl import load_mod_file
    from nmlcell.importers.nmodl_verbatim import NmodlVerbatimIgnored

    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        m = load_mod_file(str(FOLDER / "izhi2007a.mod"), check=False)
    assert m.unsupported == ()
    lines = sorted(w.lineno for w in got if issubclass(w.category, NmodlVerbatimIgnored))
    assert lines == [101, 105, 167, 237] or not lines   # none when the import came from the cache


def test_verbatim_refused_where_not_output(tmp_path):
    """C that does more than output stays refused; a PROCEDURE reading hoc
    arguments that BREAKPOINT calls is refused."""
    from nmlcell.importers.nmodl import load_mod_file

    base = (FOLDER / "izhi2007a.mod").read_text()
    f = tmp_path / "calls.mod"
    f.write_text(base.replace("  delta = t-t0 : Find time difference", "  delta = t-t0\n  useverbose()"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = load_mod_file(str(f), check=False)
    assert any("PROCEDURE useverbose, which the file calls" in u for u in m.unsupported), m.unsupported
    g = tmp_path / "other.mod"
    g.write_text(base.replace("fclose(outfile); // Close file\n    ENDVERBATIM\n  }\n}",
                              "fclose(outfile); // Close file\n    V = 0;\n    ENDVERBATIM\n  }\n}", 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = load_mod_file(str(g), check=False)
    assert any(u.startswith("VERBATIM (C code) (other.mod:167)") for u in m.unsupported), m.unsupported


def _err_cell(mode, T=60.0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mech = nmlcell.load_mod(DATA / "verbatim" / "errbranch.mod")
    cell = nmlcell.Cell.soma(L=10.0, diam=10.0, cm=1.0, Ra=100.0, v_init=-70.0)
    cell.insert("pas", g=1e-4, e=-70.0)
    cell.add(nmlcell.PointProcess(mech["ErrBranch"], mode=mode))
    return cell


def test_execerror_parameter_branch_refused_at_build():
    """errbranch.mod: mode 3 takes FUNCTION rate's hoc_execerror branch (a
    condition on a parameter): refused when the cell is built, naming the
    instance, file:line and the message."""
    cell = _err_cell(3.0)
    with pytest.raises(ModelImportError) as e:
        cell.run(5.0, dt=DT)
    s = str(e.value)
    assert "errbranch.mod:40" in s and "mode must be 1 or 2" in s and "ErrBranch[0]" in s, s


def test_execerror_runtime_branch_stops_the_run():
    """mode 2 (s grows as exp(0.05 t)) reaches grow()'s error branch (s >
    smax = 10, a state: run time) at t = 46.05 ms: SimulationError; mode 1
    is a decay, exact (cnexp) against exp(-0.1 t)."""
    res = _err_cell(1.0).run(40.0, dt=DT, record=["ErrBranch[0].s"])
    s = np.asarray(res["ErrBranch[0].s"])
    assert np.max(np.abs(s - np.exp(-0.1 * np.asarray(res.t)))) < 1e-12
    assert np.asarray(_err_cell(2.0).run(40.0, dt=DT, record=["ErrBranch[0].s"])["ErrBranch[0].s"])[-1] < 10
    with pytest.raises(SimulationError) as e:
        _err_cell(2.0).run(60.0, dt=DT)
    assert "errbranch.mod:48" in str(e.value) and "s above smax" in str(e.value), str(e.value)


@pytest.mark.slow
def test_execerror_neuron_stops_too():
    """NEURON itself stops on both branches (the reference for the refusals
    above): mode 3 at finitialize's first use, mode 2 during the run."""
    from nrn_cells import compile_mods, run_script

    lib = compile_mods(DATA / "verbatim", files=["errbranch.mod"])
    runner = r'''
import json, sys
from neuron import h
cfg = json.loads(sys.argv[1])
h.nrn_load_dll(cfg["lib"])
s = h.Section(); s.L = s.diam = 10; s.insert("pas"); s.g_pas = 1e-4; s.e_pas = -70
p = h.ErrBranch(s(0.5)); p.mode = cfg["mode"]
h.dt = 0.025; h.finitialize(-70)
ok = True
try:
    while h.t < cfg["T"]:
        h.fadvance()
except Exception:
    ok = False
json.dump({"ok": ok, "t": h.t, "s": p.s}, open(sys.argv[2], "w"))
'''
    import json

    got = {mode: run_script(runner, {"lib": lib, "mode": mode, "T": 60.0}, "out.json",
                            lambda f: json.loads(f.read_text())) for mode in (1.0, 2.0, 3.0)}
    assert got[1.0]["ok"] and not got[2.0]["ok"] and not got[3.0]["ok"], got
    assert 46.0 < got[2.0]["t"] < 46.1, got[2.0]


def _armed_runs():
    """Armed (tests/data/watch_armed) on a passive soma (e = -65 mV) from
    v_init -65 (the WATCH's condition v > -70 true when armed) and -75."""
    mech = nmlcell.load_mod(DATA / "watch_armed" / "armed.mod")
    out = {}
    for vi in (-65.0, -75.0):
        cell = nmlcell.Cell.soma(L=10.0, diam=10.0, cm=1.0, Ra=100.0, v_init=vi)
        cell.insert("pas", g=1e-3, e=-65.0)
        cell.add(nmlcell.PointProcess(mech["Armed"]))
        out[vi] = float(np.asarray(cell.run(10.0, dt=DT, record=["Armed[0].n"])["Armed[0].n"])[-1])
    return out


def test_watch_armed_true_does_not_fire():
    """NEURON arms a WATCH with its condition's value (measured with NEURON
    9: n = 0 from v_init -65, 1 from -75; test_watch_armed_against_neuron)."""
    assert _armed_runs() == {-65.0: 0.0, -75.0: 1.0}


@pytest.mark.slow
def test_watch_armed_against_neuron():
    from nrn_cells import compile_mods, run_script

    lib = compile_mods(DATA / "watch_armed")
    runner = r'''
import json, sys
from neuron import h
cfg = json.loads(sys.argv[1])
h.nrn_load_dll(cfg["lib"])
s = h.Section(); s.L = s.diam = 10; s.insert("pas"); s.g_pas = 1e-3; s.e_pas = -65
w = h.Armed(s(0.5)); h.dt = 0.025
out = {}
for vi in (-65, -75):
    h.finitialize(vi)
    while h.t < 10 - 0.5 * h.dt:
        h.fadvance()
    out[vi] = w.n
json.dump(out, open(sys.argv[2], "w"))
'''
    import json

    got = run_script(runner, {"lib": lib}, "out.json", lambda f: json.loads(f.read_text()))
    assert {float(k): v for k, v in got.items()} == _armed_runs() == {-65.0: 0.0, -75.0: 1.0}


def test_b_under_neurons_name():
    """izhi2007b's b (BREAKPOINT reassigns it) is set through its parameter
    b0; NEURON's name b works as well: PointProcess(izh, b=...) and
    ``izh.b = ...`` (as NEURON's ``izh.b = ...`` before the run)."""
    mech = _mechs("Izhi2007b")["Izhi2007b"]
    p = dict(TYPES[1], C=1.0, celltype=1.0)
    del p["b"]

    def v_of(**b):
        cell = nmlcell.Cell.soma(L=10.0, diam=10.0, cm=31.831, Ra=100.0)
        izh = nmlcell.PointProcess(mech, **p, **b)
        cell.add(izh)
        cell.add(nmlcell.IClamp(delay=5.0, dur=50.0, amp=0.1))
        return izh, cell, np.asarray(cell.run(60.0, dt=DT)["v"])

    _izh, _c, ref = v_of(b0=-2.0)
    izh, cell, v = v_of(b=-2.0)
    assert np.array_equal(v, ref) and izh.b == -2.0
    izh.b = 5.0   # stored as b0, read back under either name
    assert izh.b == izh.b0 == 5.0 and "b" not in izh.params
    other = v_of(b0=5.0)[2]
    assert np.array_equal(np.asarray(cell.run(60.0, dt=DT)["v"]), other) and not np.array_equal(other, ref)
