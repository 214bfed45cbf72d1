"""NEURON references for small networks of one-compartment cells, NetStims
and NetCons (``nmlcell.Network`` and the same network in NEURON).

A configuration::

    {"lib": path or None, "T": 100, "dt": 0.025, "celsius": 6.3,
     "cells": {"a": {"L": 20, "diam": 20, "cm": 1, "Ra": 100, "v_init": -65,
                     "insert": [["hh", {}]], "iclamp": [delay, dur, amp],
                     "syns": [["ExpSyn", {"tau": 2, "e": 0}]]}},
     "stims": {"s": {"start": 5, "interval": 10, "number": 5, "noise": 0}},
     "artificial": {"f": ["IntervalFire", {"tau": 5, "invl": 7}]},          # ARTIFICIAL_CELLs
     "netcons": [["s", "a", "ExpSyn[0]", [0.01], 1.0, 10.0]],   # pre, post, syn, weight, delay, threshold
                                                    # (pre "a:Izhi2003b[0]": that point process's net_event)
     "record": [["a", "v"], ["a", "ExpSyn[0].g"]]}

``neuron_net(cfg)`` returns (traces {"a.v": array}, spikes {name: times})
with NEURON's fixed step (secondorder 0, ``usetable_<suffix> = 0``); the spikes of a cell are recorded
by a NetCon at its v with the threshold of its NetCons (10 mV without).
``nmlcell_net(cfg)`` runs the same network with ``nmlcell.Network``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

_RUNNER = r'''
import json, sys
from neuron import h
cfg = json.loads(sys.argv[1])
if cfg.get("lib"):
    h.nrn_load_dll(cfg["lib"])
h.secondorder = 0
secs, syns, stims, keep = {}, {}, {}, []
for name, c in cfg["cells"].items():
    s = h.Section(name=name)
    s.L, s.diam, s.cm, s.Ra, s.nseg = c["L"], c["diam"], c["cm"], c["Ra"], 1
    for mech, params in c.get("insert", []):
        s.insert(mech)
        for k, v in params.items():
            setattr(s(0.5), f"{k}_{mech}", v)
        if hasattr(h, f"usetable_{mech}"):
            setattr(h, f"usetable_{mech}", 0)   # NEURON's rate tables are an approximation
    if c.get("iclamp"):
        st = h.IClamp(s(0.5)); st.delay, st.dur, st.amp = c["iclamp"]; keep.append(st)
    counts = {}
    for mech, params in c.get("syns", []):
        pp = getattr(h, mech)(s(0.5))
        if hasattr(h, f"usetable_{mech}"):
            setattr(h, f"usetable_{mech}", 0)
        for k, v in params.items():
            setattr(pp, k, v)
        k = counts.get(mech, 0); counts[mech] = k + 1
        syns[(name, f"{mech}[{k}]")] = pp
    secs[name] = s
for name, p in cfg.get("stims", {}).items():
    ns = h.NetStim()
    ns.start, ns.interval, ns.number, ns.noise = p["start"], p["interval"], p["number"], p.get("noise", 0)
    stims[name] = ns
for name, (mech, params) in cfg.get("artificial", {}).items():   # ARTIFICIAL_CELLs from .mod files
    a = getattr(h, mech)()
    for k, v in params.items():
        setattr(a, k, v)
    stims[name] = a
ncs = []
for pre, post, syn, w, d, th in cfg["netcons"]:
    target = stims[post] if post in stims else syns[(post, syn)]   # an artificial cell takes it itself
    if pre in stims:
        nc = h.NetCon(stims[pre], target)
    elif ":" in pre:   # "cell:Izhi2003b[0]": a point process calling net_event
        nc = h.NetCon(syns[tuple(pre.split(":"))], target)
    else:
        nc = h.NetCon(secs[pre](0.5)._ref_v, target, sec=secs[pre])
        nc.threshold = th
    for k, x in enumerate(w):
        nc.weight[k] = x
    nc.delay = d
    ncs.append(nc)
spk = {}
for name in list(secs) + list(stims):
    th = [n[5] for n in cfg["netcons"] if n[0] == name]
    pps = [n[0] for n in cfg["netcons"] if n[0].startswith(name + ":")]
    if pps:
        nc = h.NetCon(syns[tuple(pps[0].split(":"))], None)
    elif name in stims:
        nc = h.NetCon(stims[name], None)
    else:
        nc = h.NetCon(secs[name](0.5)._ref_v, None, sec=secs[name])
        nc.threshold = th[0] if th else 10.0
    vec = h.Vector(); nc.record(vec); ncs.append(nc); spk[name] = vec
vecs = []
for cell, var in cfg["record"]:
    if "." in var:
        lab, _, x = var.rpartition(".")
        ref = getattr(syns[(cell, lab)], "_ref_" + x)
    else:
        ref = getattr(secs[cell](0.5), "_ref_" + var)
    vec = h.Vector(); vec.record(ref); vecs.append(vec)
h.dt = cfg["dt"]
h.celsius = cfg["celsius"]
h.finitialize(cfg.get("v_init", -65.0))
while h.t < cfg["T"] - 0.5 * h.dt:
    h.fadvance()
out = {"rec": [list(v) for v in vecs], "spikes": {k: list(v) for k, v in spk.items()}}
json.dump(out, open(sys.argv[2], "w"))
'''


def neuron_net(cfg: dict):
    pytest.importorskip("neuron")
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "rec.json"
        r = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(cfg), str(out)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            pytest.fail(f"NEURON run failed: {r.stderr[-2000:]}")
        got = json.loads(out.read_text())
    rec = {f"{c}.{v}": np.asarray(x) for (c, v), x in zip(cfg["record"], got["rec"])}
    return rec, {k: np.asarray(v) for k, v in got["spikes"].items()}


def nmlcell_net(cfg: dict, mechs: dict | None = None, seed: int = 0):
    """The same network with nmlcell.Network: (traces, spikes, Results)."""
    import nmlcell

    net = nmlcell.Network()
    cells = {}
    for name, c in cfg["cells"].items():
        cell = nmlcell.Cell.soma(L=c["L"], diam=c["diam"], cm=c["cm"], Ra=c["Ra"], v_init=cfg.get("v_init", -65.0))
        for mech, params in c.get("insert", []):
            cell.insert(mechs[mech] if mechs and mech in mechs else mech, **params)
        if c.get("iclamp"):
            d, dur, amp = c["iclamp"]
            cell.add(nmlcell.IClamp(delay=d, dur=dur, amp=amp))
        for mech, params in c.get("syns", []):
            cell.add(nmlcell.PointProcess(mechs[mech] if mechs and mech in mechs else mech, **params))
        cells[name] = net.add(cell, name)
    for name, p in cfg.get("stims", {}).items():
        net.add(nmlcell.NetStim(p["start"], p["interval"], p["number"], p.get("noise", 0.0)), name)
    for name, (mech, params) in cfg.get("artificial", {}).items():
        net.add(nmlcell.PointProcess(mechs[mech] if mechs and mech in mechs else mech, **params), name)
    for pre, post, syn, w, d, th in cfg["netcons"]:
        if ":" in pre:
            c, lab = pre.split(":")
            pre = (cells[c], lab)
        net.connect(pre, post, syn, weight=w, delay=d, threshold=th)
    for c, v in cfg["record"]:
        net.record(v, c)
    res = net.run(cfg["T"], dt=cfg["dt"], celsius=cfg["celsius"], seed=seed)
    return {f"{c}.{v}": res[f"{c}.{v}"] for c, v in cfg["record"]}, res.spikes, res
