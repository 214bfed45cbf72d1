"""Benchmark of issue 4: Hay et al. 2011's 13 soma mechanisms (.mod files
of ModelDB 139653) in one compartment, 1000 ms at dt 0.025 ms, 34 degC,
0.3 nA from 20 to 920 ms.

Prints one JSON line with, timed in the same run:
- nmlcell: import of the 13 files (``load_mod``), build + compile (first
  ``cell.run`` minus a steady-state run), steady-state run (the second
  ``cell.run``), peak memory of the process;
- NEURON 9 on the same cell (mods compiled by nrnivmodl, usetable off,
  secondorder 0): ``finitialize`` + ``fadvance`` loop, in a subprocess;
- the ratio of the steady-state runs and the largest spike-time difference;
- the largest v difference overall and where v < -50 mV in both, and the
  same two figures for NEURON against itself with v_init moved by 1e-13 mV
  (7 ulp): the scale of round-off amplified by this model.

The two agree to a few ulp before the first spike (v bit for bit at rest,
5e-14 mV up to the upstroke). The one-ulp differences left (the gates'
rate expressions in another order, XLA's exp) grow about tenfold every
100 ms of repetitive firing, exactly as a 1e-13 mV change of v_init does
in NEURON itself: by 1000 ms both are ~1e-4 mV between spikes and ~0.1-0.3
mV on a spike's upstroke, with the 14 spikes on the same steps.

    python bench/bench_nmodl_hay.py [path/to/modeldb-139653-hay2011/mod]
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

DUR, DT, CELSIUS, V_INIT = 1000.0, 0.025, 34.0, -80.0
ICLAMP = (20.0, 900.0, 0.3)

_NEURON = r'''
import json, sys, time
import numpy as np
from neuron import h
cfg = json.loads(sys.argv[1])
h.nrn_load_dll(cfg["lib"])
s = h.Section(name="soma")
s.L, s.diam, s.cm, s.Ra, s.nseg = 20.0, 20.0, 1.0, 100.0, 1
for name, params in cfg["insert"]:
    s.insert(name)
    for k, v in params.items():
        setattr(s(0.5), f"{k}_{name}", v)
    if hasattr(h, f"usetable_{name}"):
        setattr(h, f"usetable_{name}", 0)
st = h.IClamp(s(0.5)); st.delay, st.dur, st.amp = cfg["iclamp"]
v = h.Vector(); v.record(s(0.5)._ref_v)
h.dt = cfg["dt"]; h.celsius = cfg["celsius"]; h.secondorder = 0
best = None
for rep in range(3):
    t0 = time.perf_counter()
    h.finitialize(cfg["v_init"])
    while h.t < cfg["T"] - 0.5 * h.dt:
        h.fadvance()
    el = time.perf_counter() - t0
    best = el if best is None else min(best, el)
trace = np.array(v)
h.finitialize(cfg["v_init"] + 1e-13)   # round-off scale: NEURON against itself
while h.t < cfg["T"] - 0.5 * h.dt:
    h.fadvance()
np.save(sys.argv[2], np.array([trace, np.array(v)]))
print(json.dumps({"run_s": best}))
'''


def spikes(t, v):
    import numpy as np

    i = np.nonzero((v[1:] >= 0.0) & (v[:-1] < 0.0))[0] + 1
    return t[i]


def main():
    import numpy as np

    t0 = time.perf_counter()
    import nmlcell

    t_import_pkg = time.perf_counter() - t0
    from nrn_cells import compile_mods
    from test_cell_api import HAY_SOMA

    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "corpus" / \
        "modeldb-139653-hay2011" / "mod"
    if not folder.is_dir():
        print(json.dumps({"case": "hay13", "skipped": f"no folder {folder}"}))
        return
    t0 = time.perf_counter()
    mechs = nmlcell.load_mod(folder)
    t_mods = time.perf_counter() - t0

    def build():
        cell = nmlcell.Cell.soma(L=20.0, diam=20.0, cm=1.0, Ra=100.0, v_init=V_INIT)
        for name, params in HAY_SOMA:
            cell.insert(mechs[name] if name in mechs else name, **params)
        cell.add(nmlcell.IClamp(delay=ICLAMP[0], dur=ICLAMP[1], amp=ICLAMP[2]))
        return cell

    t0 = time.perf_counter()
    cell = build()
    first = cell.run(duration=DUR, dt=DT, celsius=CELSIUS, progress=False)
    t_first = time.perf_counter() - t0
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        res = cell.run(duration=DUR, dt=DT, celsius=CELSIUS, progress=False)
        runs.append(time.perf_counter() - t0)
    t_run = min(runs)

    lib = compile_mods(folder)
    cfg = dict(lib=lib, insert=HAY_SOMA, iclamp=list(ICLAMP), dt=DT, celsius=CELSIUS, v_init=V_INIT, T=DUR)
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "v.npy"
        r = subprocess.run([sys.executable, "-c", _NEURON, json.dumps(cfg), str(out)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise SystemExit(r.stderr[-2000:])
        nrn = json.loads(r.stdout.strip().splitlines()[-1])
        v_nrn, v_self = np.load(out)
    s_ours, s_nrn = spikes(res.t, res["v"]), spikes(res.t, v_nrn)
    dmax = float(np.max(np.abs(s_ours - s_nrn))) if len(s_ours) == len(s_nrn) and len(s_ours) else None
    print(json.dumps({
        "case": "hay13", "mechanisms": len(HAY_SOMA), "duration_ms": DUR, "dt_ms": DT,
        "nmlcell_import_pkg_s": round(t_import_pkg, 3), "nmlcell_load_mod_s": round(t_mods, 3),
        "nmlcell_compile_s": round(t_first - t_run, 3),
        "nmlcell_import_plus_compile_s": round(t_mods + t_first - t_run, 3),
        "nmlcell_run_s": round(t_run, 4), "neuron_run_s": round(nrn["run_s"], 4),
        "ratio_nmlcell_over_neuron": round(t_run / nrn["run_s"], 3),
        "spikes": [len(s_ours), len(s_nrn)], "max_spike_diff_ms": dmax,
        "max_v_diff_mV": float(np.max(np.abs(res["v"] - v_nrn))),
        "max_v_diff_below_-50mV_mV": float(np.max(np.abs(res["v"] - v_nrn)[(res["v"] < -50) & (v_nrn < -50)])),
        "neuron_self_max_v_diff_mV": float(np.max(np.abs(v_self - v_nrn))),
        "neuron_self_max_v_diff_below_-50mV_mV": float(np.max(np.abs(v_self - v_nrn)[(v_self < -50) & (v_nrn < -50)])),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "precision": "float64",
    }))
    del first


if __name__ == "__main__":
    main()
