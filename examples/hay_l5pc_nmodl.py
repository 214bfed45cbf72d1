"""Hay et al. 2011's layer-5b pyramidal cell from its own .mod files and morphology.

ModelDB 139653 (Hay, Hill, Schürmann, Markram, Segev, PLoS Comput Biol 2011):
the 13 mechanisms of its ``mod/`` folder, the reconstruction
``morphologies/cell1.asc``, and the biophysics of ``models/L5PCbiophys3.hoc``
(the model of the paper's figure 4, fitted to both BAC and step-current
firing) as ``models/L5PCtemplate.hoc`` applies it, rewritten here with
nmlcell's Python API. The protocol is the paper's step current: 0.793 nA
into the soma from 700 to 2700 ms, 3 s in all, at 34 degC from -80 mV.

What the template does, and its line here:

- ``geom_nseg``: ``nseg = 1 + 2*int(L/40)`` for every section;
- ``delete_axon``: the reconstructed axon is replaced by two 30 µm long,
  1 µm thick sections, ``axon[0]`` attached at ``soma(0.5)``;
- ``L5PCbiophys``: ``pas`` everywhere (cm 1, Ra 100, e_pas -90), the
  somatic and apical channels with ``ek = -85``, ``ena = 50``; cm 2 in the
  dendrites; ``distribute_channels`` for the apical Ih (exponential in the
  distance normalised by the longest apical path) and the Ca "hot zone"
  (Ca_LVAst x100, Ca_HVA x10 between 685 and 885 µm).

Two details of ``distribute_channels`` decide the numbers and are kept:

- its distances are measured from ``apic[0](0)``, not from the soma: it
  sets the origin with ``soma distance()`` but then calls
  ``getLongestBranch("apic")``, which moves the origin to ``apic distance()``
  (apic[0]'s 0 end) before the values are computed;
- it loops ``for (x)``, i.e. over x = 0, the segment centres and x = 1, and
  an assignment at x = 1 lands in the last segment: each apical section's
  last segment gets the value at the section's far end. ``cell.segments(...,
  ends=True)`` and a mapping location -> value reproduce that (and the
  values are rounded to 10 decimals, as hoc prints them into the
  statement it executes).

Run ``python examples/hay_l5pc_nmodl.py [--duration 3000] [--neuron]``;
``--neuron`` also runs the original hoc template in NEURON (tables off,
``secondorder 0``, same dt) and compares the spike times. ``--model-dir``
points at the ModelDB folder (default: ``$NMLCELL_CORPUS`` or
``../shared/corpus`` next to the repository).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import nmlcell

HERE = Path(__file__).resolve().parent
MODEL_DIR = Path(os.environ.get("NMLCELL_CORPUS", HERE.parents[1] / "shared" / "corpus")) / \
    "modeldb-139653-hay2011"

# the paper's step-current protocol (simulationcode/step_current_firing.hoc)
STEP = dict(delay=700.0, dur=2000.0, amp=0.793)
CELSIUS, V_INIT, DT = 34.0, -80.0, 0.025

SOMATIC = {  # L5PCbiophys3: forsec somatic
    "Ca_LVAst": {"gCa_LVAstbar": 0.00343}, "Ca_HVA": {"gCa_HVAbar": 0.000992},
    "SKv3_1": {"gSKv3_1bar": 0.693}, "SK_E2": {"gSK_E2bar": 0.0441},
    "K_Tst": {"gK_Tstbar": 0.0812}, "K_Pst": {"gK_Pstbar": 0.00223},
    "Nap_Et2": {"gNap_Et2bar": 0.00172}, "NaTa_t": {"gNaTa_tbar": 2.04},
    "CaDynamics_E2": {"decay": 460.0, "gamma": 0.000501}, "Ih": {"gIhbar": 0.0002},
}
APICAL = {  # forsec apical, before distribute_channels
    "SK_E2": {"gSK_E2bar": 0.0012}, "SKv3_1": {"gSKv3_1bar": 0.000261},
    "NaTa_t": {"gNaTa_tbar": 0.0213}, "Im": {"gImbar": 0.0000675},
    "CaDynamics_E2": {"decay": 122.0, "gamma": 0.000509},
}
G_PAS = {"somatic": 0.0000338, "apical": 0.0000589, "basal": 0.0000467, "axonal": 0.0000325}


def ih_density(d_norm: float) -> float:
    """distribute_channels("apic", "gIhbar_Ih", 2, -0.8696, 3.6161, 0, 2.087, 2e-4):
    exponential in the normalised distance (S/cm2)."""
    return (-0.8696 + 2.0870 * math.exp(3.6161 * (d_norm - 0.0))) * 0.0002


def hot_zone(d: float, inside: float, outside: float, gbar: float) -> float:
    """distribute_channels type 3: ``inside`` strictly between 685 and 885 µm."""
    return (inside if 685.0 < d < 885.0 else outside) * gbar


def build_cell(model_dir: Path = MODEL_DIR, mechs: dict | None = None,
               stimulus: dict | None = None) -> nmlcell.Cell:
    """The cell of L5PCtemplate.hoc with L5PCbiophys3.hoc, and the step current."""
    mechs = mechs or nmlcell.load_mod(model_dir / "mod")
    cell = nmlcell.Cell(model_dir / "morphologies" / "cell1.asc",
                        nseg=lambda sec: 1 + 2 * int(sec.length / 40.0),   # geom_nseg
                        cm=1.0, Ra=100.0, v_init=V_INIT)
    # delete_axon: two 30 um stubs instead of the reconstructed axon
    cell.delete("axonal")
    cell.create("axon[0]", L=30.0, diam=1.0, at="soma[0](0.5)", groups=("all", "axonal"))
    cell.create("axon[1]", L=30.0, diam=1.0, at="axon[0](1)", groups=("all", "axonal"))

    cell.set(cm=2.0, where=["apical", "basal"])
    for region, g in G_PAS.items():
        cell.insert("pas", where=region, g=g, e=-90.0)
    for name, params in SOMATIC.items():
        cell.insert(mechs[name], where="somatic", **params)
    cell.set(ek=-85.0, ena=50.0, where=["somatic", "apical"])
    cell.insert(mechs["Ih"], where="basal", gIhbar=0.0002)

    # distribute_channels: distances from apic[0](0) (see the module's docstring),
    # normalised by the longest path to an apical tip; hoc's for (x) over each section
    origin = "apic[0](0)"
    morph = cell.morphology
    tips = [s.name for i, s in enumerate(morph.sections) if s.region == "apic" and not morph.children(i)]
    max_len = max(cell.distance(f"{t}(1)", origin) for t in tips)
    ih, lva, hva = {}, {}, {}
    for loc in cell.segments("apical", ends=True):
        d = cell.distance(loc, origin)
        # hoc assigns through execute(sprint("%s(%-5.10f) = %-5.10f", ...)): 10 decimals
        ih[loc] = round(ih_density(d / max_len), 10)
        lva[loc] = round(hot_zone(d, 1.0, 0.01, 0.0187), 10)
        hva[loc] = round(hot_zone(d, 1.0, 0.1, 0.000555), 10)
    cell.insert(mechs["Ih"], where="apical", gIhbar=ih)
    cell.insert(mechs["Ca_LVAst"], where="apical", gCa_LVAstbar=lva)
    cell.insert(mechs["Ca_HVA"], where="apical", gCa_HVAbar=hva)
    for name, params in APICAL.items():
        cell.insert(mechs[name], where="apical", **params)

    st = dict(STEP, **(stimulus or {}))
    cell.add(nmlcell.IClamp(delay=st["delay"], dur=st["dur"], amp=st["amp"]), at="soma[0](0.5)")
    return cell


def run_nmlcell(duration: float = 3000.0, model_dir: Path = MODEL_DIR, record=("soma[0](0.5).v",),
                stimulus: dict | None = None, warm_up: bool = True, progress=None) -> dict:
    """Build, lower and run; the traces and the time each stage took
    (``warm_up``: compile with a short run first, so that "run" is the
    simulation alone)."""
    t0 = time.perf_counter()
    cell = build_cell(model_dir, stimulus=stimulus)
    model = cell.model(CELSIUS, list(record))
    t1 = time.perf_counter()
    if warm_up:  # compiles the chunk of steps the run loops over (up to 5000 steps long)
        cell.run(duration=min(duration, 5000 * DT), dt=DT, celsius=CELSIUS, record=list(record),
                 progress=False)
    t2 = time.perf_counter()
    res = cell.run(duration=duration, dt=DT, celsius=CELSIUS, record=list(record), progress=progress)
    t3 = time.perf_counter()
    n = len(cell.discretisation())
    return dict(t=np.asarray(res.t), traces={q: np.asarray(res[q]) for q in record}, cell=cell, model=model,
                times=dict(build=t1 - t0, compile=t2 - t1, run=t3 - t2), nodes=n)


# ------------------------------------------------------------------------- NEURON
NEURON_SCRIPT = r'''
import json, sys, time
import numpy as np
from neuron import h
cfg = json.loads(sys.argv[1])
t0 = time.perf_counter()
h.nrn_load_dll(cfg["lib"])
h.load_file("stdlib.hoc"); h.load_file("import3d.hoc")
h.load_file(cfg["dir"] + "/models/L5PCbiophys3.hoc")
h.load_file(cfg["dir"] + "/models/L5PCtemplate.hoc")
cell = h.L5PCtemplate(cfg["dir"] + "/morphologies/cell1.asc")
for m in cfg["mechs"]:
    if hasattr(h, "usetable_" + m):
        setattr(h, "usetable_" + m, 0)
secs = {s.name().split(".")[-1]: s for s in cell.all}
st = h.IClamp(cell.soma[0](0.5))
st.delay, st.dur, st.amp = cfg["delay"], cfg["dur"], cfg["amp"]
vecs = []
for loc in cfg["record"]:
    name, x = loc.rpartition(".")[0].rstrip(")").split("(")
    v = h.Vector(); v.record(secs[name](float(x))._ref_v); vecs.append(v)
dump = {}
if cfg.get("dump"):
    for name, s in secs.items():
        row = {"nseg": s.nseg, "L": s.L}
        for p in ("gIhbar_Ih", "gCa_LVAstbar_Ca_LVAst", "gCa_HVAbar_Ca_HVA", "g_pas", "cm"):
            try:
                row[p] = [getattr(seg, p) for seg in s]
            except (AttributeError, NameError):
                pass
        dump[name] = row
h.dt = cfg["dt"]; h.celsius = cfg["celsius"]; h.secondorder = 0
t1 = time.perf_counter()
h.finitialize(cfg["v_init"])
while h.t < cfg["T"] - 0.5 * h.dt:
    h.fadvance()
t2 = time.perf_counter()
np.save(sys.argv[2], np.array([np.array(v) for v in vecs]))
json.dump({"build": t1 - t0, "run": t2 - t1, "dump": dump}, open(sys.argv[2] + ".json", "w"))
'''


def run_neuron(lib: str, duration: float = 3000.0, model_dir: Path = MODEL_DIR,
               record=("soma[0](0.5).v",), stimulus: dict | None = None, dump: bool = False) -> dict:
    """The original hoc template in NEURON (a subprocess), rate tables off,
    ``secondorder = 0``; ``lib`` is the nrnivmodl build of the mod folder."""
    st = dict(STEP, **(stimulus or {}))
    mechs = sorted(p.stem for p in (model_dir / "mod").glob("*.mod"))
    cfg = dict(lib=lib, dir=str(model_dir), mechs=mechs, record=list(record), T=duration, dt=DT,
               celsius=CELSIUS, v_init=V_INIT, **st, dump=dump)
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "v.npy"
        r = subprocess.run([sys.executable, "-c", NEURON_SCRIPT, json.dumps(cfg), str(out)],
                           capture_output=True, text=True, timeout=3600)
        if r.returncode:
            raise RuntimeError(f"NEURON failed: {r.stderr[-3000:]}")
        arr = np.load(out)
        info = json.load(open(str(out) + ".json"))
    t = np.arange(arr.shape[1]) * DT
    return dict(t=t, traces=dict(zip(record, arr)), times=dict(build=info["build"], run=info["run"]),
                dump=info["dump"])


def compile_mods(model_dir: Path = MODEL_DIR) -> str:
    """nrnivmodl on the mod folder (cached; tests/nrn_cells.py's builder)."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    from nrn_cells import compile_mods as build

    return build(model_dir / "mod")


def spike_times(t, v, threshold: float = -20.0) -> np.ndarray:
    """Upward crossings of ``threshold`` (mV), linearly interpolated between samples."""
    i = np.nonzero((v[1:] >= threshold) & (v[:-1] < threshold))[0]
    return t[i] + (threshold - v[i]) / (v[i + 1] - v[i]) * (t[i + 1] - t[i])


def compare(ours: dict, ref: dict, quantity: str = "soma[0](0.5).v", window: float = 3.0) -> dict:
    """Spike counts, the largest spike-time difference (ms), and the largest
    voltage difference (mV) away from spikes (more than ``window`` ms from
    any spike of either run)."""
    t, a, b = ref["t"], ours["traces"][quantity], ref["traces"][quantity]
    n = min(len(a), len(b))
    t, a, b = t[:n], a[:n], b[:n]
    sa, sb = spike_times(t, a), spike_times(t, b)
    dt_max = float(np.max(np.abs(sa - sb))) if len(sa) == len(sb) and len(sa) else math.nan
    quiet = np.ones(n, bool)
    for s in np.concatenate([sa, sb]):
        quiet &= np.abs(t - s) > window
    return dict(spikes=len(sa), spikes_neuron=len(sb), max_spike_dt=dt_max,
                max_dv_quiet=float(np.max(np.abs(a - b)[quiet])) if quiet.any() else math.nan,
                max_dv=float(np.max(np.abs(a - b))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=3000.0, help="ms (default 3000)")
    ap.add_argument("--neuron", action="store_true", help="also run the hoc template in NEURON and compare")
    ap.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    ap.add_argument("--plot", type=Path, help="save the soma voltage to this image")
    a = ap.parse_args(argv)
    ours = run_nmlcell(a.duration, a.model_dir)
    tm = ours["times"]
    sp = spike_times(ours["t"], ours["traces"]["soma[0](0.5).v"])
    print(f"nmlcell: {ours['nodes']} nodes; build {tm['build']:.2f} s, compile {tm['compile']:.2f} s, "
          f"run {tm['run']:.2f} s for {a.duration:g} ms; {len(sp)} spikes")
    if a.neuron:
        ref = run_neuron(compile_mods(a.model_dir), a.duration, a.model_dir)
        c = compare(ours, ref)
        print(f"NEURON: build {ref['times']['build']:.2f} s, run {ref['times']['run']:.2f} s; "
              f"{c['spikes_neuron']} spikes")
        print(f"spike times: max |difference| {c['max_spike_dt']:.2e} ms; v away from spikes: "
              f"max |difference| {c['max_dv_quiet']:.2e} mV (everywhere {c['max_dv']:.2e} mV)")
    if a.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plt.figure(figsize=(9, 3))
        plt.plot(ours["t"], ours["traces"]["soma[0](0.5).v"], lw=0.6)
        plt.xlabel("t (ms)"); plt.ylabel("soma v (mV)")
        plt.tight_layout(); plt.savefig(a.plot, dpi=120)


if __name__ == "__main__":
    main()
