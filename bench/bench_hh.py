"""Benchmarks of issue 2: one HH compartment (A), 1000 independent HH
compartments (B), and the whole `nmlcell run` of the bundled example.

Prints one JSON line per case with nmlcell's and NEURON's figures timed in
the same run, and their ratio. NEURON runs the same cell (1000 µm² soma,
hh with usetable_hh = 0, the NeuroML parameters) from Python.

    python bench/bench_hh.py            # all cases
    python bench/bench_hh.py A          # one case
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "data" / "examples" / "hh" / "LEMS_HH.xml"
DUR, DT = 1000.0, 0.025


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def neuron_hh(n_cells=1, amps=None, duration=DUR, dt=DT):
    from neuron import h

    h.load_file("stdrun.hoc")
    cells, clamps = [], []
    for k in range(n_cells):
        s = h.Section(name=f"soma{k}")
        s.L = s.diam = 17.841242
        s.cm = 1.0
        s.insert("hh")
        for seg in s:
            seg.hh.gnabar, seg.hh.gkbar, seg.hh.gl, seg.hh.el = 0.12, 0.036, 0.0003, -54.3
        s.ena, s.ek = 50.0, -77.0
        ic = h.IClamp(s(0.5))
        ic.delay, ic.dur = 100.0, 100.0
        ic.amp = 0.08 if amps is None else float(amps[k])
        cells.append(s)
        clamps.append(ic)
    h.usetable_hh = 0
    h.celsius = 6.3
    h.dt = dt
    h.steps_per_ms = 1.0 / dt
    h.tstop = duration
    v = h.Vector().record(cells[0](0.5)._ref_v)
    h.finitialize(-65.0)
    t0 = time.perf_counter()
    h.continuerun(duration)
    return time.perf_counter() - t0, v


def case_a():
    import jax

    import nmlcell

    m = nmlcell.load(MODEL)
    m.solver = "euler"
    p = m.parameters()
    sim = m.simulator(duration=DUR, dt=DT, record=["hhpop[0]/v"])
    t0 = time.perf_counter()
    lowered = jax.jit(sim).lower(p)
    t1 = time.perf_counter()
    f = lowered.compile()
    t2 = time.perf_counter()
    out = f(p)
    jax.block_until_ready(out)
    first = time.perf_counter() - t0
    trace_s, compile_s = t1 - t0, t2 - t1
    best = 1e9
    for _ in range(5):
        t0 = time.perf_counter()
        jax.block_until_ready(f(p))
        best = min(best, time.perf_counter() - t0)
    keys = [k for k in p["hhpop"] if k.endswith("condDensity")]

    def loss(q):
        return sim(q)["hhpop[0]/v"].mean()

    vg = jax.jit(jax.value_and_grad(loss))
    jax.block_until_ready(vg(p))
    gbest = 1e9
    for _ in range(3):
        t0 = time.perf_counter()
        jax.block_until_ready(vg(p))
        gbest = min(gbest, time.perf_counter() - t0)
    nrn, _v = neuron_hh()
    print(json.dumps({"case": "A_one_hh_1000ms_dt0.025", "nmlcell_run_s": round(best, 5),
                      "nmlcell_first_call_s": round(first, 3), "trace_s": round(trace_s, 3),
                      "xla_compile_s": round(compile_s, 3),
                      "persistent_cache": os.environ.get("NMLCELL_CACHE", "on"), "neuron_run_s": round(nrn, 4),
                      "ratio_nmlcell_over_neuron": round(best / nrn, 4),
                      "value_and_grad_s": round(gbest, 4), "grad_over_forward": round(gbest / best, 2),
                      "spikes": int(out["spike_count"][0]), "grad_params": len(keys),
                      "peak_mb": round(peak_mb(), 1)}))


def case_b(n=1000):
    import jax
    import jax.numpy as jnp
    import numpy as np

    import nmlcell

    m = nmlcell.load(MODEL)
    m.solver = "euler"
    p = m.parameters()
    amps_nA = np.linspace(0.0, 0.3, n)
    bp = jax.tree.map(lambda a: jnp.stack([a] * n), p)
    bp["pulseGen1"]["amplitude"] = jnp.asarray(amps_nA)[:, None]  # internal unit of current: nA
    # shard the batch over the CPU's XLA devices (nmlcell makes one per core)
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devs = jax.devices()
    if n % len(devs) == 0 and len(devs) > 1:
        bp = jax.device_put(bp, NamedSharding(Mesh(np.array(devs), ("batch",)), PartitionSpec("batch")))
    sim = m.simulator(duration=DUR, dt=DT, record=[])
    f = jax.jit(jax.vmap(sim))
    t0 = time.perf_counter()
    out = f(bp)
    jax.block_until_ready(out)
    first = time.perf_counter() - t0
    best = 1e9
    for _ in range(2):
        t0 = time.perf_counter()
        out = f(bp)
        jax.block_until_ready(out)
        best = min(best, time.perf_counter() - t0)
    counts = np.asarray(out["spike_count"]).ravel()
    nrn, _ = neuron_hh(n_cells=n, amps=amps_nA)
    print(json.dumps({"case": f"B_{n}_hh_1000ms_dt0.025", "devices": len(devs), "nmlcell_run_s": round(best, 4),
                      "nmlcell_first_call_s": round(first, 3), "neuron_run_s": round(nrn, 3),
                      "ratio_nmlcell_over_neuron": round(best / nrn, 4), "total_spikes": int(counts.sum()),
                      "peak_mb": round(peak_mb(), 1)}))


def case_cli():
    import tempfile

    times = []
    with tempfile.TemporaryDirectory() as d:
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "nmlcell.cli", "run", str(MODEL), "--out", d, "--quiet"],
                           check=True)
            times.append(time.perf_counter() - t0)
    print(json.dumps({"case": "cli_run_bundled_example_process", "wall_s": [round(x, 3) for x in times],
                      "best_s": round(min(times), 3)}))


if __name__ == "__main__":
    which = sys.argv[1:] or ["A", "B", "cli"]
    for w in which:
        {"A": case_a, "B": case_b, "cli": case_cli}[w]()
