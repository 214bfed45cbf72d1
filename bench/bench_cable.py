"""Benchmarks of issue 5 on a branched cell built NEURON's way.

C: soma + axon + a binary dendritic tree of 127 branches (516 compartments),
   hh in soma and axon, pas elsewhere, 0.1 nA at the soma, 200 ms at
   dt 0.025: nmlcell (staggered: NEURON's fixed step with the Hines solve)
   vs NEURON on the same SWC (Import3d, same nseg, usetable off), timed in
   the same run; build + compile (from the first ``import nmlcell`` to the
   end of the first run, less one run; the import alone is reported too,
   and which cache folder was used: NMLCELL_CACHE=<new folder> for a cold
   start); largest v difference.
D: C with 100 values of the soma's gnabar, vmapped, vs a NEURON loop
   (NEURON's time is 100 x one run of C, measured in the same run); on one
   device, and with the batch split over two CPU devices (shard_map).
E: gradient of a loss over 50 ms of C with respect to every conductance
   (gnabar, gkbar, gl of hh and g of pas in every group; the other
   parameters are constants): value_and_grad time over the forward time,
   best of 9 interleaved (BENCH_E_REPS).
E-native, E200-native: E and E200 with the prototype of a native chunk
   reverse pass (bench/native_adjoint.py: recompute + backward of each
   checkpointed chunk as one generated C++ call) beside the package's JAX
   reverse pass, interleaved in the same process.

D-ab: D's vmapped run (50 ms) with the staggered kernel's vmap-time
   options off and on, alternated in one process (CPU time, best of 3).

E200: E over 200 ms (run alone, so that the peak RSS is its own).

Prints one JSON line per case.
    python bench/bench_cable.py [C|D|D-ab|E|E200|E-native|E200-native]
"""
from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DT, T = 0.025, 200.0

_NEURON = r'''
import json, sys, time
import numpy as np
from neuron import h
h.load_file("stdlib.hoc"); h.load_file("import3d.hoc")
cfg = json.loads(sys.argv[1])
r = h.Import3d_SWC_read(); r.input(cfg["swc"])
h.Import3d_GUI(r, 0).instantiate(None)
secs = list(h.allsec())
for s in secs:
    reg = s.name().split("[")[0]
    s.nseg = cfg["nseg"][reg]; s.cm = 1.0; s.Ra = 100.0
    if reg in ("soma", "axon"):
        s.insert("hh")
    else:
        s.insert("pas")
        for seg in s:
            seg.pas.g, seg.pas.e = 5e-5, -65.0
h.usetable_hh = 0
st = h.IClamp(secs[0](0.5)); st.delay, st.dur, st.amp = 10.0, 180.0, 0.1
v = h.Vector(); v.record(secs[0](0.5)._ref_v)
h.dt = cfg["dt"]; h.celsius = 6.3; h.secondorder = 0
best = None
for rep in range(3):
    t0 = time.perf_counter()
    h.finitialize(-65.0)
    while h.t < cfg["T"] - 0.5 * h.dt:
        h.fadvance()
    el = time.perf_counter() - t0
    best = el if best is None else min(best, el)
np.save(sys.argv[2], np.array(v))
print(json.dumps({"run_s": best, "nodes": int(sum(s.nseg for s in secs))}))
'''

NSEG = {"soma": 1, "axon": 7, "dend": 4}


def write_tree(path: Path, depth: int = 7) -> int:
    """One-point soma (radius 10 um), a 500 um axon, and a binary tree of
    2**depth - 1 dendritic branches of 100 um (diameters halving slowly)."""
    rows = [(1, 1, 0.0, 0.0, 0.0, 10.0, -1)]
    nid = 1

    def add(t, x, y, r, parent):
        nonlocal nid
        nid += 1
        rows.append((nid, t, x, y, 0.0, r, parent))
        return nid

    a0 = add(2, -10.0, 0.0, 0.5, 1)
    add(2, -510.0, 0.0, 0.5, a0)
    branches = 0

    def grow(x, y, angle, level, parent, r):
        nonlocal branches
        branches += 1
        p0 = add(3, x, y, r, parent)
        x1, y1 = x + 100.0 * math.cos(angle), y + 100.0 * math.sin(angle)
        p1 = add(3, x1, y1, r, p0)
        if level + 1 < depth:
            spread = 0.6 / (level + 1)
            grow(x1, y1, angle + spread, level + 1, p1, r * 0.8)
            grow(x1, y1, angle - spread, level + 1, p1, r * 0.8)

    grow(10.0, 0.0, 0.0, 0, 1, 1.0)
    path.write_text("\n".join(" ".join(str(v) for v in row) for row in rows) + "\n")
    return branches


def build(swc):
    import nmlcell

    cell = nmlcell.Cell(swc, nseg=NSEG, cm=1.0, Ra=100.0)
    cell.insert("hh", where=["soma", "axon"])
    cell.insert("pas", where="dend", g=5e-5, e=-65.0)
    cell.add(nmlcell.IClamp(delay=10.0, dur=180.0, amp=0.1), at="soma[0](0.5)")
    return cell


def neuron_run(swc, T=T):
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "v.npy"
        cfg = dict(swc=str(swc), nseg=NSEG, dt=DT, T=T)
        r = subprocess.run([sys.executable, "-c", _NEURON, json.dumps(cfg), str(out)],
                           capture_output=True, text=True, timeout=900)
        if r.returncode:
            raise SystemExit(r.stderr[-2000:])
        import numpy as np

        return json.loads(r.stdout.strip().splitlines()[-1]), np.load(out)


def peak_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def case_c(swc, branches):
    import numpy as np

    t0 = time.perf_counter()
    import nmlcell  # noqa: F401  (first import: part of the build, reported apart too)

    t_import = time.perf_counter() - t0
    cell = build(swc)
    first = cell.run(duration=T, dt=DT, record=["soma[0](0.5).v"], progress=False)
    t_first = time.perf_counter() - t0
    runs = []
    for _ in range(3):
        t1 = time.perf_counter()
        res = cell.run(duration=T, dt=DT, record=["soma[0](0.5).v"], progress=False)
        runs.append(time.perf_counter() - t1)
    t_run = min(runs)
    nrn, v_nrn = neuron_run(swc)
    v = res["soma[0](0.5).v"]
    print(json.dumps({
        "case": "C", "branches": branches, "compartments": len(cell._disc), "neuron_nodes": nrn["nodes"],
        "duration_ms": T, "dt_ms": DT, "nmlcell_build_compile_s": round(t_first - t_run, 3),
        "of_which_import_s": round(t_import, 3), "cache": os.environ.get("NMLCELL_CACHE", "default"),
        "nmlcell_run_s": round(t_run, 4), "neuron_run_s": round(nrn["run_s"], 4),
        "ratio_nmlcell_over_neuron": round(t_run / nrn["run_s"], 3),
        "max_v_diff_mV": float(np.max(np.abs(v - v_nrn))), "peak_rss_mb": peak_mb(), "precision": "float64"}))
    del first
    return nrn["run_s"]


def case_d(swc, neuron_one=None):
    import jax
    import jax.numpy as jnp

    cell = build(swc)
    sim = cell.simulator(duration=T, dt=DT, record=["soma[0](0.5).v"])
    p = cell.parameters()
    soma_gid = cell._index[cell._disc.locate("soma[0](0.5)")][0]
    vals = jnp.linspace(0.08, 0.16, 100)

    def one(g):
        q = dict(p)
        q[soma_gid] = dict(p[soma_gid], gnabar_hh=jnp.broadcast_to(g, p[soma_gid]["gnabar_hh"].shape))
        return sim(q)["soma[0](0.5).v"]

    f = jax.jit(jax.vmap(one))
    t0 = time.perf_counter()
    jax.block_until_ready(f(vals))
    t_first = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    jax.block_until_ready(f(vals))
    t_run, c_run = time.perf_counter() - t0, time.process_time() - c0
    if neuron_one is None:
        neuron_one = neuron_run(swc)[0]["run_s"]
    # CPU time of this process too: on a shared machine it swings less than
    # the wall time (XLA may run a large fusion on two threads)
    out = {"case": "D", "batch": 100, "nmlcell_vmap_run_s": round(t_run, 3), "nmlcell_vmap_cpu_s": round(c_run, 3),
           "nmlcell_compile_s": round(t_first - t_run, 3),
           "neuron_loop_s_estimate": round(100 * neuron_one, 3),
           "ratio_nmlcell_over_neuron": round(t_run / (100 * neuron_one), 3)}
    if len(jax.devices()) >= 2:
        # the same vmapped function with the batch split over the CPU's devices
        # (nmlcell makes one per core): each device runs its 50 cells, the
        # tree-solve kernel included (shard_map; NEURON's loop stays one core)
        from jax.sharding import NamedSharding, PartitionSpec as P

        mesh = jax.make_mesh((2,), ("cells",))
        f2 = jax.jit(jax.shard_map(jax.vmap(one), mesh=mesh, in_specs=P("cells"), out_specs=P("cells"),
                                   check_vma=False))
        v2 = jax.device_put(vals, NamedSharding(mesh, P("cells")))
        jax.block_until_ready(f2(v2))
        t0 = time.perf_counter()
        jax.block_until_ready(f2(v2))
        t2 = time.perf_counter() - t0
        out.update(nmlcell_2dev_run_s=round(t2, 3), ratio_2dev_over_neuron=round(t2 / (100 * neuron_one), 3))
    out["peak_rss_mb"] = peak_mb()
    print(json.dumps(out))


def case_d_ab(swc, T=50.0, rounds=3):
    """D's vmapped run with the staggered kernel's vmap-time options off
    (the code before them: finite-difference di/dv for pas, the state phase
    batched on (batch, n)) and on, alternated in this process: CPU time,
    best of ``rounds``, and the largest difference of the soma's v."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from nmlcell.lower import staggered

    vals = jnp.linspace(0.08, 0.16, 100)
    fs = {}
    for on in (False, True):
        staggered.EXACT_LINEAR_SLOPE = staggered.FLAT_STATES_UNDER_VMAP = on
        cell = build(swc)     # the kernels are generated at the first trace, with these options
        sim = cell.simulator(duration=T, dt=DT, record=["soma[0](0.5).v"])
        p = cell.parameters()
        gid = cell._index[cell._disc.locate("soma[0](0.5)")][0]

        def one(g, sim=sim, p=p, gid=gid):
            q = dict(p)
            q[gid] = dict(p[gid], gnabar_hh=jnp.broadcast_to(g, p[gid]["gnabar_hh"].shape))
            return sim(q)["soma[0](0.5).v"]

        fs[on] = jax.jit(jax.vmap(one))
        jax.block_until_ready(fs[on](vals))
    staggered.EXACT_LINEAR_SLOPE = staggered.FLAT_STATES_UNDER_VMAP = True
    cpu = {k: [] for k in fs}
    for _ in range(rounds):
        for k, f in fs.items():
            c0 = time.process_time()
            jax.block_until_ready(f(vals))
            cpu[k].append(time.process_time() - c0)
    diff = float(np.max(np.abs(np.asarray(fs[True](vals)) - np.asarray(fs[False](vals)))))
    per = 1e6 / (T / DT) / 100
    print(json.dumps({"case": "D-ab", "duration_ms": T, "cpu_s_before": round(min(cpu[False]), 3),
                      "cpu_s_after": round(min(cpu[True]), 3),
                      "us_per_cell_step_before": round(min(cpu[False]) * per, 2),
                      "us_per_cell_step_after": round(min(cpu[True]) * per, 2), "max_v_diff_mV": diff}))


def case_e(swc, T=50.0, native=False):
    import jax

    if native:  # the prototype of a native chunk reverse pass (bench/native_adjoint.py)
        sys.path.insert(0, str(Path(__file__).parent))
        import native_adjoint

        native_adjoint.install()
    cell = build(swc)
    sim = cell.simulator(duration=T, dt=DT, record=["soma[0](0.5).v"])
    p = cell.parameters()
    keys = [(g, k) for g, d in p.items() if g != "__global__" for k in d
            if k in ("gnabar_hh", "gkbar_hh", "gl_hh", "g_pas")]

    def loss_of(q):
        return (sim(q)["soma[0](0.5).v"] ** 2).mean()

    def loss(gs):  # the conductances only: the other parameters stay constants
        q = {g: dict(d) for g, d in p.items()}
        for (g, k), x in zip(keys, gs):
            q[g][k] = x
        return loss_of(q)

    gs = [p[g][k] for g, k in keys]
    fwd = jax.jit(loss)
    variants = {}
    for name in (("jax_reverse", "native") if native else ("jax_reverse",)):
        if native:
            native_adjoint.ENABLED = name == "native"
        t0 = time.perf_counter()
        # a distinct function per variant: each is traced (and its reverse pass chosen) apart
        vg = jax.jit(jax.value_and_grad(lambda g, name=name: loss(g)))
        # XLA's temporary memory of the gradient (the checkpointed chunks' states
        # and residuals, the trace and its cotangent): flat in T means ~sqrt(steps)
        temp = vg.lower(gs).compile().memory_analysis().temp_size_in_bytes
        jax.block_until_ready(vg(gs))
        variants[name] = (vg, temp, time.perf_counter() - t0, [])
    jax.block_until_ready(fwd(gs))
    t_f = []
    for _ in range(REPS):  # interleaved, best of REPS: the ratios within one run
        t0 = time.perf_counter()
        jax.block_until_ready(fwd(gs))
        t_f.append(time.perf_counter() - t0)
        for vg, _temp, _first, acc in variants.values():
            t0 = time.perf_counter()
            jax.block_until_ready(vg(gs))
            acc.append(time.perf_counter() - t0)
    t_f = min(t_f)
    out = {"case": "E-native" if native else "E", "duration_ms": T, "conductance_arrays": len(keys),
           "forward_s": round(t_f, 4), "reps": REPS}
    for name, (_vg, temp, first, acc) in variants.items():
        sfx = "" if name == "jax_reverse" else "_native"
        out.update({f"value_and_grad_s{sfx}": round(min(acc), 4),
                    f"ratio_grad_over_forward{sfx}": round(min(acc) / t_f, 2),
                    f"grad_temp_mb{sfx}": round(temp / 2**20, 3),
                    f"grad_trace_compile_first_call_s{sfx}": round(first, 2)})
    if native:  # the two reverse passes' gradients, relative to each array's largest entry
        import numpy as np

        ga, gb = (variants[n][0](gs)[1] for n in ("jax_reverse", "native"))
        out["grad_max_rel_diff_native"] = float(max(np.max(np.abs(np.asarray(a) - np.asarray(b)))
                                                    / np.max(np.abs(np.asarray(a))) for a, b in zip(ga, gb)))
    out["peak_rss_mb"] = peak_mb()
    print(json.dumps(out))


REPS = int(os.environ.get("BENCH_E_REPS", "9"))


def main():
    which = sys.argv[1:] or ["C", "D", "E"]
    with tempfile.TemporaryDirectory() as d:
        swc = Path(d) / "tree.swc"
        branches = write_tree(swc)
        one = None
        if "C" in which:
            one = case_c(swc, branches)
        if "D" in which:
            case_d(swc, one)
        if "D-ab" in which:
            case_d_ab(swc)
        if "E" in which:
            case_e(swc)
        if "E200" in which:  # the same over 200 ms (memory in the number of steps; one case per process)
            case_e(swc, T=200.0)
        if "E-native" in which:  # E with the native chunk reverse pass prototype, in the same process
            case_e(swc, native=True)
        if "E200-native" in which:
            case_e(swc, T=200.0, native=True)


if __name__ == "__main__":
    main()
