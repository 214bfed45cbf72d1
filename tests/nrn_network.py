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

A branched cell: ``"sections": [[name, parent, parent_x, L, diam], ...]``
(the first is the root, ``parent`` None; nmlcell names it ``dend[0]``:
a two-point SWC cylinder), ``"nseg"`` for all its sections, ``"insert"``
entries ``[mech, params, [section, ...] or None]``, ``"syns"`` entries
``[mech, params, "dend[3](0.7)"]``, ``"iclamp"`` with a fourth item, its
place; a NetCon may carry a 7th item, the place its pre cell's v is
watched (default the root's middle) and a record entry a 3rd, the place.

``neuron_net(cfg)`` returns (traces {"a.v": array}, spikes {name: times};
with ``"final_weights": True`` the traces also hold each NetCon's weight
vector at the end, ``"netcon[i].weight"``)
with NEURON's fixed step (secondorder 0, ``usetable_<suffix> = 0``); the spikes of a cell are recorded
by a NetCon at its v with the threshold of its NetCons (10 mV without).
``nmlcell_net(cfg)`` runs the same network with ``nmlcell.Network``.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from nrn_cells import run_script

_RUNNER = r'''
import json, sys
from neuron import h
cfg = json.loads(sys.argv[1])
if cfg.get("lib"):
    h.nrn_load_dll(cfg["lib"])
h.secondorder = 0
secs, syns, stims, keep = {}, {}, {}, []
bsecs = {}
def place(name, at):
    if at is None:
        return secs[name](0.5)
    sec, x = at.rstrip(")").split("(")
    return bsecs[name][sec](float(x))
for name, c in cfg["cells"].items():
    if "sections" in c:
        bs = {}
        for sn, par, px, L, d in c["sections"]:
            s = h.Section(name=f"{name}_{sn}")
            s.L, s.diam, s.cm, s.Ra, s.nseg = L, d, c["cm"], c["Ra"], c["nseg"]
            if par is not None:
                s.connect(bs[par](px), 0)
            bs[sn] = s
        bsecs[name] = bs
        s = bs[c["sections"][0][0]]
    else:
        s = h.Section(name=name)
        s.L, s.diam, s.cm, s.Ra, s.nseg = c["L"], c["diam"], c["cm"], c["Ra"], 1
    for mech, params, *where in c.get("insert", []):
        for sec in ([bsecs[name][w] for w in where[0]] if where and where[0] else
                    list(bsecs[name].values()) if name in bsecs else [s]):
            sec.insert(mech)
            for seg in sec:
                for k, v in params.items():
                    setattr(seg, f"{k}_{mech}", v)
        if hasattr(h, f"usetable_{mech}"):
            setattr(h, f"usetable_{mech}", 0)   # NEURON's rate tables are an approximation
    secs[name] = s
    if c.get("iclamp"):
        st = h.IClamp(place(name, c["iclamp"][3] if len(c["iclamp"]) > 3 else None))
        st.delay, st.dur, st.amp = c["iclamp"][:3]; keep.append(st)
    counts = {}
    for mech, params, *at in c.get("syns", []):
        pp = getattr(h, mech)(place(name, at[0] if at else None))
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
for pre, post, syn, w, d, th, *pre_at in cfg["netcons"]:
    target = stims[post] if post in stims else syns[(post, syn)]   # an artificial cell takes it itself
    if pre in stims:
        nc = h.NetCon(stims[pre], target)
    elif ":" in pre:   # "cell:Izhi2003b[0]": a point process calling net_event
        nc = h.NetCon(syns[tuple(pre.split(":"))], target)
    else:
        seg = place(pre, pre_at[0] if pre_at else None)
        nc = h.NetCon(seg._ref_v, target, sec=seg.sec)
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
        at = [n[6] for n in cfg["netcons"] if n[0] == name and len(n) > 6]
        seg = place(name, at[0] if at else None)
        nc = h.NetCon(seg._ref_v, None, sec=seg.sec)
        nc.threshold = th[0] if th else 10.0
    vec = h.Vector(); nc.record(vec); ncs.append(nc); spk[name] = vec
vecs = []
for cell, var, *at in cfg["record"]:
    if "." in var:
        lab, _, x = var.rpartition(".")
        ref = getattr(syns[(cell, lab)], "_ref_" + x)
    else:
        ref = getattr(place(cell, at[0] if at else None), "_ref_" + var)
    vec = h.Vector(); vec.record(ref); vecs.append(vec)
h.dt = cfg["dt"]
h.celsius = cfg["celsius"]
h.finitialize(cfg.get("v_init", -65.0))
while h.t < cfg["T"] - 0.5 * h.dt:
    h.fadvance()
out = {"rec": [list(v) for v in vecs], "spikes": {k: list(v) for k, v in spk.items()},
       "weights": [[nc.weight[j] for j in range(int(nc.wcnt()))] for nc in ncs[:len(cfg["netcons"])]]}
json.dump(out, open(sys.argv[2], "w"))
'''


def neuron_net(cfg: dict):
    got = run_script(_RUNNER, cfg, "rec.json", lambda f: json.loads(f.read_text()))
    rec = {_col(r): np.asarray(x) for r, x in zip(cfg["record"], got["rec"])}
    if cfg.get("final_weights"):   # each NetCon's weight vector at the end (NET_RECEIVE's per-NetCon state)
        rec.update({f"netcon[{i}].weight": np.asarray(w) for i, w in enumerate(got["weights"])})
    return rec, {k: np.asarray(v) for k, v in got["spikes"].items()}


def _col(r) -> str:
    return f"{r[0]}.{r[2]}.{r[1]}" if len(r) > 2 else f"{r[0]}.{r[1]}"


def _branched(name: str, c: dict, folder: Path, v_init: float):
    """An nmlcell.Cell of config ``c``'s sections: the root a two-point SWC
    cylinder (``dend[0]``), the others created on it."""
    import nmlcell

    (sn0, _p, _x, L, d), *rest = c["sections"]
    assert sn0 == "dend[0]", "the root of a branched cell is dend[0] (a two-point SWC cylinder)"
    f = folder / f"{name}.swc"
    f.write_text(f"1 3 0 0 0 {d / 2} -1\n2 3 {L} 0 0 {d / 2} 1\n")
    cell = nmlcell.Cell(f, nseg=c["nseg"], cm=c["cm"], Ra=c["Ra"], v_init=v_init)
    for sn, par, px, L, d in rest:
        cell.create(sn, L=L, diam=d, at=f"{par}({px})", region="dend")
    return cell


def nmlcell_net(cfg: dict, mechs: dict | None = None, seed: int = 0, keep: dict | None = None):
    """The same network with nmlcell.Network: (traces, spikes, Results);
    ``keep`` (a dict) receives the network ("net"), its NetCons
    ("netcons", in the configuration's order) and NetStims ("stims") to
    change and run again."""
    import nmlcell

    net = nmlcell.Network()
    cells = {}
    tmp = tempfile.TemporaryDirectory()
    for name, c in cfg["cells"].items():
        if "sections" in c:
            cell = _branched(name, c, Path(tmp.name), cfg.get("v_init", -65.0))
        else:
            cell = nmlcell.Cell.soma(L=c["L"], diam=c["diam"], cm=c["cm"], Ra=c["Ra"],
                                     v_init=cfg.get("v_init", -65.0))
        for mech, params, *where in c.get("insert", []):
            kw = {"where": where[0]} if where and where[0] else {}
            cell.insert(mechs[mech] if mechs and mech in mechs else mech, **kw, **params)
        if c.get("iclamp"):
            d, dur, amp = c["iclamp"][:3]
            cell.add(nmlcell.IClamp(delay=d, dur=dur, amp=amp), *c["iclamp"][3:])
        for mech, params, *at in c.get("syns", []):
            cell.add(nmlcell.PointProcess(mechs[mech] if mechs and mech in mechs else mech, **params), *at)
        cells[name] = net.add(cell, name)
    for name, p in cfg.get("stims", {}).items():
        ns = nmlcell.NetStim(p["start"], p["interval"], p["number"], p.get("noise", 0.0))
        net.add(ns, name)
        if keep is not None:
            keep.setdefault("stims", {})[name] = ns
    for name, (mech, params) in cfg.get("artificial", {}).items():
        net.add(nmlcell.PointProcess(mechs[mech] if mechs and mech in mechs else mech, **params), name)
    for pre, post, syn, w, d, th, *pre_at in cfg["netcons"]:
        if ":" in pre:
            c, lab = pre.split(":")
            pre = (cells[c], lab)
        nc = net.connect(pre, post, syn, weight=w, delay=d, threshold=th, **({"at": pre_at[0]} if pre_at else {}))
        if keep is not None:
            keep.setdefault("netcons", []).append(nc)
    for c, v, *at in cfg["record"]:
        net.record(v, c, *at)
    res = net.run(cfg["T"], dt=cfg["dt"], celsius=cfg["celsius"], seed=seed)
    if keep is not None:
        keep["net"] = net
    tmp.cleanup()
    return {_col(r): res[_col(r)] for r in cfg["record"]}, res.spikes, res
