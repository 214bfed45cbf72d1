"""Cost of nmlcell.VecStim against nmlcell.NetStim as NetCon sources.

100 one-compartment hh cells (20 x 20 um), each with an ExpSyn (tau 2 ms,
e 0) driven through a 1.0 ms NetCon (weight 0.002 uS) by its own source:
either a NetStim (start 5 + 0.0137 k ms, interval 9.7 ms, number 50) or a
VecStim holding the same 50 times (64 slots). 500 ms at dt 0.025 ms
(20 000 steps), staggered solver. Both networks are built and run in one
process, taking turns ROUNDS times; each run is timed after a first
(compiling) run and the best of REPEATS is kept. The two networks deliver
the same events, so their traces are compared too.

    python bench/bench_vecstim.py [--cells 100] [--spikes 50] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def build(kind: str, n: int, spikes: int):
    import nmlcell

    net = nmlcell.Network()
    for k in range(n):
        c = nmlcell.Cell.soma(L=20.0, diam=20.0)
        c.insert("hh")
        c.add(nmlcell.PointProcess("ExpSyn", tau=2.0, e=0.0))
        net.add(c, f"c{k}")
        start, interval = 5.0 + 0.0137 * k, 9.7
        if kind == "netstim":
            s = nmlcell.NetStim(start=start, interval=interval, number=spikes)
        else:
            s = nmlcell.VecStim(start + interval * np.arange(spikes))
        net.add(s, f"s{k}")
        net.connect(f"s{k}", f"c{k}", "ExpSyn[0]", weight=0.002, delay=1.0)
    net.record("v", "c0")
    net.record("v", f"c{n - 1}")
    return net


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=100)
    ap.add_argument("--spikes", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--T", type=float, default=500.0)
    a = ap.parse_args()
    nets, first, best, traces = {}, {}, {}, {}
    for kind in ("netstim", "vecstim"):
        t0 = time.perf_counter()
        nets[kind] = build(kind, a.cells, a.spikes)
        res = nets[kind].run(a.T, dt=0.025)
        first[kind] = time.perf_counter() - t0
        traces[kind] = np.asarray(res["c0.v"]), np.asarray(res[f"c{a.cells - 1}.v"])
        best[kind] = float("inf")
    for _ in range(a.rounds):
        for kind in ("netstim", "vecstim"):
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                nets[kind].run(a.T, dt=0.025)
                best[kind] = min(best[kind], time.perf_counter() - t0)
    dv = max(float(np.abs(x - y).max()) for x, y in zip(traces["netstim"], traces["vecstim"]))
    for kind in ("netstim", "vecstim"):
        print(json.dumps({"source": kind, "cells": a.cells, "spikes": a.spikes, "T_ms": a.T,
                          "build_and_first_run_s": round(first[kind], 3), "run_s_best": round(best[kind], 4)}))
    print(json.dumps({"vecstim_over_netstim": round(best["vecstim"] / best["netstim"], 3),
                      "max_abs_dv_mV": dv, "load": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
