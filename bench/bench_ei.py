"""Benchmark of issue 6: the E-I network of braincell's EINet tutorial
(examples/ei_network: 4000 Traub-Miles HH cells, 2 % connectivity, 320 000
exponential conductance synapses, 100 ms at dt 0.1 ms).

Each simulator runs in its own subprocess (its peak memory is that
process's maxrss) on the same connection list (make_network.connections,
seed 42), and prints one JSON line: the steady-state run time of 100 ms
(best of REPEATS after a warm-up run; the simulators take turns ROUNDS
times and each one's best round is kept), the time to load/compile, peak
memory, spike count and mean rate. A last line gives the ratios.

- nmlcell: ``nmlcell.load`` of LEMS_EINet.xml, solver ind_exp_euler
  (linear synapses merged per post cell, passes/merge_synapses);
- NEURON: h.Section per cell (20000 um2, cm 1) with a Traub-Miles mod
  (cnexp) compiled by nrnivmodl in a temp dir, one ExpSyn per cell and
  synapse type, one NetCon per connection (weight in uS, delay 0,
  threshold 0 mV), fixed step 0.1 ms, one thread;
- braincell (pip ``braincell``): a SingleCompartment with Na_TM1991/
  K_TM1991/IL and brainpy.state AlignPostProj(EventFixedProb-like CSR,
  Expon, COBA), its ind_exp_euler; the connection list given as its
  projection's fixed connectivity where the API allows, else
  EventFixedProb(0.02) with its own seed (said in the line).

    python bench/bench_ei.py              # all three
    python bench/bench_ei.py nmlcell      # one
    python bench/bench_ei.py --nmlcell-only [--delivery ffi,loop,pull] [--rounds 3]

``--nmlcell-only``: nmlcell alone, each delivery of the merged synapses
(passes/merge_synapses.MergedEventPlan: ``ffi``, the C++ kernel, CPU only;
``loop``, the push while_loop; ``pull``, the in-edge gather with no control
flow; ``auto``, what a plain run takes) timed in one process,
taking turns ``--rounds`` times (best of REPEATS each time), with the JAX
backend and device; one JSON line per delivery, then one comparing them
(their spike trains must be identical).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "examples" / "ei_network"
REPEATS = 3
ROUNDS = 2  # each simulator's best round is reported (all rounds listed)
N_E, N_I = 3200, 800

_COMMON = f"""
import json, resource, sys, time
sys.path.insert(0, {str(EX)!r})
import numpy as np
import make_network as mn
N_E, N_I, REPEATS = {N_E}, {N_I}, {REPEATS}
def peak_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
"""

_NMLCELL = _COMMON + """
import hashlib
lems, deliveries, rounds = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
t0 = time.perf_counter()
import nmlcell
import jax
if deliveries == ["all"]:  # the C++ kernel runs on CPUs only
    deliveries = ["ffi", "loop", "pull"] if jax.default_backend() == "cpu" else ["pull", "loop"]
from nmlcell.passes.merge_synapses import MergedEventPlan
m = nmlcell.load(lems)
m.solver = "ind_exp_euler"
t_load = time.perf_counter() - t0
dev = jax.devices()[0]
out = {}
for rnd in range(rounds):
    for dl in deliveries:  # the deliveries take turns: the machine's load changes over minutes
        MergedEventPlan.DELIVERY = dl
        lw = m.lowered
        lw.__dict__.pop("_event_plans", None)
        lw.__dict__.pop("_run_cache", None)  # compiled per delivery
        t0 = time.perf_counter()
        r = m.run(progress=False, record=["E[0]/v"])
        t_first = time.perf_counter() - t0
        runs, cpus = [], []
        for _ in range(REPEATS):
            c0 = time.process_time()
            runs.append(m.run(progress=False, record=["E[0]/v"]).wall_time)
            cpus.append(time.process_time() - c0)  # all threads of the process: load-independent-ish
        n = sum(len(s) for s in r.spikes.values())
        spk = sorted((k, np.asarray(s).tolist()) for k, s in r.spikes.items())
        o = out.setdefault(dl, {"sim": "nmlcell", "delivery": lw._event_plans[0.1].delivery(), "run_s": 1e9,
                                "rounds_s": [], "load_s": round(t_load, 2),
                                "backend": jax.default_backend(), "device": str(dev.device_kind)})
        o["rounds_s"].append(round(min(runs), 4))
        o["cpu_s"] = round(min(o.get("cpu_s", 1e9), min(cpus)), 4)
        o.update(run_s=min(o["run_s"], round(min(runs), 4)), compile_s=round(t_first - min(runs), 2),
                 peak_mb=peak_mb(), spikes=n, rate_hz=round(n / (N_E + N_I) / 0.1, 2),
                 spikes_md5=hashlib.md5(repr(spk).encode()).hexdigest()[:12])
for dl in deliveries:
    print(json.dumps(out[dl]), flush=True)
"""

_TM_MOD = textwrap.dedent('''
    NEURON {
        SUFFIX tm
        USEION na READ ena WRITE ina
        USEION k READ ek WRITE ik
        NONSPECIFIC_CURRENT il
        RANGE gnabar, gkbar, gl, el, vsh
    }
    UNITS { (mA) = (milliamp) (mV) = (millivolt) (S) = (siemens) }
    PARAMETER { gnabar = 0.1 (S/cm2) gkbar = 0.03 (S/cm2) gl = 5e-9 (S/cm2) el = -60 (mV) vsh = -63 (mV) }
    STATE { m h n }
    ASSIGNED { v (mV) ena (mV) ek (mV) ina (mA/cm2) ik (mA/cm2) il (mA/cm2)
               am (/ms) bm (/ms) ah (/ms) bh (/ms) an (/ms) bn (/ms) }
    BREAKPOINT {
        SOLVE states METHOD cnexp
        ina = gnabar * m * m * m * h * (v - ena)
        ik = gkbar * n * n * n * n * (v - ek)
        il = gl * (v - el)
    }
    INITIAL { rates(v) m = am / (am + bm) h = ah / (ah + bh) n = an / (an + bn) }
    DERIVATIVE states {
        rates(v)
        m' = am * (1 - m) - bm * m
        h' = ah * (1 - h) - bh * h
        n' = an * (1 - n) - bn * n
    }
    FUNCTION lin(x) { if (fabs(x) < 1e-9) { lin = 1 } else { lin = x / (1 - exp(-x)) } }
    PROCEDURE rates(v (mV)) { LOCAL u
        UNITSOFF
        u = v - vsh
        am = 1.28 * lin((u - 13) / 4)
        bm = 1.4 * lin((u - 40) / -5)
        ah = 0.128 * exp((u - 17) / -18)
        bh = 4 / (1 + exp(-(u - 40) / 5))
        an = 0.16 * lin((u - 15) / 5)
        bn = 0.5 * exp((u - 10) / -40)
        UNITSON
    }
''')

_NEURON = _COMMON + """
moddir = sys.argv[1]
t0 = time.perf_counter()
from neuron import h
import pathlib
h.nrn_load_dll(str(next(pathlib.Path(moddir).rglob("libnrnmech.so"))))
h.load_file("stdrun.hoc")
N = N_E + N_I
d = (20000.0 / np.pi) ** 0.5
cells, syns = [], []
for k in range(N):
    s = h.Section(name=f"c{k}")
    s.L = s.diam = d
    s.cm = 1.0
    s.insert("tm")
    s.ena, s.ek = 50.0, -90.0
    cells.append(s)
    e = h.ExpSyn(s(0.5)); e.tau, e.e = 5.0, 0.0
    i = h.ExpSyn(s(0.5)); i.tau, i.e = 10.0, -80.0
    syns.append((e, i))
conns = mn.connections(N_E, N_I)
ncs = []
for (a, b), (pre, post) in conns.items():
    off_a = 0 if a == "E" else N_E
    off_b = 0 if b == "E" else N_E
    w = 0.006 if a == "E" else 0.067  # uS
    for i, j in zip(pre.tolist(), post.tolist()):
        nc = h.NetCon(cells[off_a + i](0.5)._ref_v, syns[off_b + j][0 if a == "E" else 1], sec=cells[off_a + i])
        nc.threshold, nc.delay, nc.weight[0] = 0.0, 0.0, w
        ncs.append(nc)
tv, idv = h.Vector(), h.Vector()
for k, s in enumerate(cells):
    nc = h.NetCon(s(0.5)._ref_v, None, sec=s); nc.threshold = 0.0; nc.record(tv, idv, k); ncs.append(nc)
h.dt = 0.1; h.steps_per_ms = 10; h.tstop = 100.0
v0 = np.random.default_rng(1).uniform(-70.0, -60.0, N)
def init():
    h.finitialize(-65.0)
    for s, v in zip(cells, v0):
        s(0.5).v = v
    h.finitialize()  # INITIAL blocks at each cell's v
t_build = time.perf_counter() - t0
times = []
for _ in range(REPEATS + 1):
    init()
    t0 = time.perf_counter()
    h.continuerun(100.0)
    times.append(time.perf_counter() - t0)
n = len(tv)
print(json.dumps({"sim": "NEURON", "run_s": round(min(times[1:]), 4), "load_s": round(t_build, 2),
                  "compile_s": 0.0, "peak_mb": peak_mb(), "spikes": n, "rate_hz": round(n / N / 0.1, 2)}))
"""

_BRAINCELL = _COMMON + """
import os
os.environ.setdefault("BRAINPY_STATE_ALLOW_DIRECT_IMPORT", "1")
t0 = time.perf_counter()
import jax
jax.config.update("jax_enable_x64", True)
import brainstate, braintools, brainunit as u, braincell
import brainpy_state as bps
import brainevent, brainevent.config
brainevent.config.set_backend("cpu", "jax_raw")  # its default CPU kernels need numba, not installed here
N = N_E + N_I
L, R = 20000.0 / (2 * np.pi * 10.0), 10.0  # um: 2 pi r L = 20000 um2
AREA = 20000. * u.um ** 2  # its currents are densities: synaptic weights per area

class HH(braincell.SingleCompartment):
    def __init__(self, n):
        super().__init__(n, length=L * u.um, radius=R * u.um, C=1. * u.uF / u.cm ** 2, V_th=0. * u.mV,
                         V_initializer=braintools.init.Uniform(-70. * u.mV, -60. * u.mV), solver="ind_exp_euler")
        self.na = braincell.ion.SodiumFixed(n, E=50. * u.mV)
        self.na.add(INa=braincell.channel.Na_TM1991(n, g_max=100. * u.mS / u.cm ** 2, V_sh=-63. * u.mV))
        self.k = braincell.ion.PotassiumFixed(n, E=-90. * u.mV)
        self.k.add(IK=braincell.channel.K_TM1991(n, g_max=30. * u.mS / u.cm ** 2, V_sh=-63. * u.mV))
        self.IL = braincell.channel.IL(n, E=-60. * u.mV, g_max=5. * u.nS / u.cm ** 2)

class EINet(brainstate.nn.Module):
    def __init__(self):
        super().__init__()
        self.N = HH(N)
        self.E = bps.AlignPostProj(
            comm=brainstate.nn.EventFixedProb(N_E, N, conn_num=0.02, conn_weight=6. * u.nS / AREA),
            syn=bps.Expon(N, tau=5. * u.ms, g_initializer=braintools.init.Constant(0. * u.mS / u.cm ** 2)), out=bps.COBA(E=0. * u.mV), post=self.N)
        self.I = bps.AlignPostProj(
            comm=brainstate.nn.EventFixedProb(N_I, N, conn_num=0.02, conn_weight=67. * u.nS / AREA),
            syn=bps.Expon(N, tau=10. * u.ms, g_initializer=braintools.init.Constant(0. * u.mS / u.cm ** 2)), out=bps.COBA(E=-80. * u.mV), post=self.N)

    def update(self, t):
        with brainstate.environ.context(t=t):
            spk = self.N.spike.value
            self.E(spk[:N_E])
            self.I(spk[N_E:])
            return self.N(0. * u.nA / u.cm ** 2)

brainstate.environ.set(dt=0.1 * u.ms, precision=64)
net = EINet()
brainstate.nn.init_all_states(net)
times = np.arange(1000) * 0.1 * u.ms

@brainstate.transform.jit
def run():
    return brainstate.transform.for_loop(net.update, times)

def go():
    brainstate.nn.init_all_states(net)
    s = run()
    jax.block_until_ready(s)
    return s
t1 = time.perf_counter()
spk = go()
t_first = time.perf_counter() - t1
t_build = t1 - t0
best = 1e9
for _ in range(REPEATS):
    t1 = time.perf_counter(); spk = go(); best = min(best, time.perf_counter() - t1)
n = int(np.asarray(spk).sum())
print(json.dumps({"sim": "braincell", "run_s": round(best, 4), "load_s": round(t_build, 2),
                  "compile_s": round(t_first - best, 2), "peak_mb": peak_mb(), "spikes": n,
                  "rate_hz": round(n / N / 0.1, 2),
                  "connectivity": "braincell EventFixedProb(conn_num=0.02), its own random draw"}))
"""


def _run(code, *args):
    r = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                       timeout=1800, env={**os.environ})
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode or not lines:
        return {"error": (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]}
    return json.loads(lines[-1])


def nmlcell_only(deliveries=("all",), rounds=ROUNDS):
    """nmlcell alone: its deliveries timed in one process (see the module
    docstring); prints their JSON lines and a comparison."""
    if not (EX / "EINet.net.nml").exists():
        sys.path.insert(0, str(EX))
        import make_network as mn

        mn.write(EX)
    r = subprocess.run([sys.executable, "-c", _NMLCELL, str(EX / "LEMS_EINet.xml"), ",".join(deliveries),
                        str(rounds)], capture_output=True, text=True, timeout=3600, env={**os.environ})
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode or not lines:
        print(json.dumps({"case": "EI-nmlcell", "error": (r.stderr or r.stdout).strip().splitlines()[-3:]}))
        return
    for o in lines:
        print(json.dumps({"case": f"EI-nmlcell-{o['delivery']}", **o}), flush=True)
    base = lines[0]
    print(json.dumps({"case": "EI-deliveries", "backend": base["backend"], "device": base["device"],
                      **{f"{o['delivery']}_over_{base['delivery']}": round(o["run_s"] / base["run_s"], 3)
                         for o in lines[1:]},
                      "identical_spikes": len({o["spikes_md5"] for o in lines}) == 1}))


def main(which, rounds=ROUNDS):
    sys.path.insert(0, str(EX))
    import make_network as mn

    runs: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "nmlcell" in which and not (EX / "EINet.net.nml").exists():
            mn.write(EX)
        if "neuron" in which:
            (Path(tmp) / "tm.mod").write_text(_TM_MOD)
            nrnivmodl = Path(sys.executable).parent / "nrnivmodl"
            b = subprocess.run([str(nrnivmodl) if nrnivmodl.exists() else "nrnivmodl"], cwd=tmp,
                               capture_output=True, text=True)
        # the simulators take turns, `rounds` times: the machine's load changes over minutes
        for rnd in range(rounds):
            if "nmlcell" in which:
                runs.setdefault("nmlcell", []).append(_run(_NMLCELL, EX / "LEMS_EINet.xml", "auto", 1))
            if "neuron" in which:
                runs.setdefault("NEURON", []).append(_run(_NEURON, tmp) if b.returncode == 0
                                                     else {"error": b.stderr[-300:]})
            if "braincell" in which:
                runs.setdefault("braincell", []).append(_run(_BRAINCELL))
    out = {}
    for k, rs in runs.items():
        ok = [r for r in rs if "run_s" in r]
        best = min(ok, key=lambda r: r["run_s"]) if ok else rs[-1]
        out[k] = best
        print(json.dumps({"case": f"EI-{k}", **best, "run_s_all": [r.get("run_s") for r in rs],
                          "peak_mb_all": [r.get("peak_mb") for r in rs]}), flush=True)
    ratios = {}
    base = out.get("nmlcell", {}).get("run_s")
    for k in ("NEURON", "braincell"):
        if base and out.get(k, {}).get("run_s"):
            ratios[f"{k}_over_nmlcell"] = round(out[k]["run_s"] / base, 2)
    if ratios:
        print(json.dumps({"case": "EI-ratios", **ratios}))


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", nargs="*", default=["nmlcell", "neuron", "braincell"])
    ap.add_argument("--nmlcell-only", action="store_true", help="nmlcell's deliveries in one process")
    ap.add_argument("--delivery", default="all", help="with --nmlcell-only: comma-separated, of ffi, loop, "
                    "pull, auto; all: ffi,loop,pull on a CPU, pull,loop on a GPU")
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    a = ap.parse_args()
    if a.nmlcell_only:
        nmlcell_only(a.delivery.split(","), a.rounds)
    else:
        main(a.which, a.rounds)
