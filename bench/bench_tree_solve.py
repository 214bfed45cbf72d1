"""Tree (Hines) solve: pure-JAX loop vs the C++ jax.ffi kernel, µs per step.

Each case runs ``--steps`` backward-Euler voltage steps of a passive branched
cable inside one ``lax.scan``; the matrix changes every step (the diagonal
carries a voltage-dependent conductance), so every step factorises and
solves afresh. ``forward`` times the scan; ``value_and_grad`` the scan and
its gradient with respect to the conductance scale and the axial coupling.
One JSON line per case on stdout::

    python bench/bench_tree_solve.py                 # n = 516 (batch 1, 16), n = 5000 (batch 1)
    python bench/bench_tree_solve.py --n 516 --steps 2000 --batch 1

Trees: soma, an unbranched axon and a 127-branch binary dendrite, numbered
depth first (Hines order); n = 516 is 1 + 7 + 127 x 4 compartments, n = 5000
is 1 + 46 + 127 x 39. Timings are the best of ``--repeat`` runs after one
compile run: wall time and, steadier on a shared machine, this process's CPU
time (XLA runs a scan on one core). Compare ratios within one run. Cases of
more than 1e8 compartment-steps are skipped unless ``--all``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import nmlcell  # noqa: F401  (sets XLA flags and float64 before JAX starts)
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from nmlcell.lower import cable

TREES = {516: (7, 4), 5000: (46, 39)}


def soma_axon_dendrite(n_axon: int, per_branch: int, levels: int = 7) -> np.ndarray:
    """Parent array: soma (0), an axon chain of ``n_axon`` compartments, and a
    binary dendrite of ``2**levels - 1`` branches of ``per_branch``
    compartments each, numbered depth first."""
    parent = [-1]
    for k in range(n_axon):
        parent.append(0 if k == 0 else len(parent) - 1)

    def branch(p: int, level: int) -> None:
        for k in range(per_branch):
            parent.append(p if k == 0 else len(parent) - 1)
        last = len(parent) - 1
        if level + 1 < levels:
            branch(last, level + 1)
            branch(last, level + 1)

    branch(0, 0)
    return np.asarray(parent, np.int32)


def make_case(parent: np.ndarray, batch: int, dtype):
    """A passive cable in NEURON's units: dt 0.025 ms, cm 1 µF/cm², g_pas
    1e-4 S/cm² plus a small voltage-dependent term; coupling from random
    areas and axial resistances."""
    n = parent.size
    rng = np.random.default_rng(0)
    area = rng.uniform(50.0, 500.0, n)                       # µm²
    ri = rng.uniform(0.5, 5.0, n)                            # MΩ
    a, b, axial_diag = cable.axial_coefficients(parent, area, ri)
    v0 = rng.uniform(-70.0, -60.0, n)
    if batch > 1:
        v0 = np.broadcast_to(v0, (batch, n))
    cast = lambda x: jnp.asarray(x, dtype)  # noqa: E731
    return dict(a=cast(a), b=cast(b), axial_diag=cast(axial_diag), cdt=cast(1e-3 * 1.0 / 0.025),
                v0=cast(v0))


def simulate(parent, method, steps, case, gscale, ascale):
    """Backward Euler, NEURON's form: (cm/dt + g + L) dv = -i_ion - L v, with L
    the axial matrix (off-diagonals a, b; diagonal minus their row sums)."""
    a = case["a"] * ascale
    b = case["b"] * ascale
    axial_diag = case["axial_diag"] * ascale
    cdt = case["cdt"]

    def step(v, _):
        g = gscale * (1e-4 + 1e-5 * jnp.tanh((v + 65.0) / 5.0))     # S/cm²
        i_ion = g * (v + 65.0)                                       # mA/cm²
        rhs = -i_ion - cable.tree_matvec(parent, a, b, axial_diag, v)
        dv = cable.tree_solve(parent, a, b, cdt + axial_diag + g, rhs, method=method)
        return v + dv, None

    v, _ = lax.scan(step, case["v0"], None, length=steps)
    return v


def time_it(fn, *args, repeat: int):
    """(best wall s, best CPU s of this process, first call s). On a shared
    machine the CPU time is the steadier figure: XLA runs a scan on one core."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    wall = cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn(*args))
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu, first


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="*", default=[516, 5000], choices=sorted(TREES))
    ap.add_argument("--batch", type=int, nargs="*", default=[1, 16])
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dtype", nargs="*", default=["float64"], choices=["float64", "float32"])
    ap.add_argument("--methods", nargs="*", default=["jax", "ffi"], choices=["jax", "ffi"])
    ap.add_argument("--all", action="store_true", help="also the cases over 1e8 compartment-steps")
    ap.add_argument("--modes", nargs="*", default=["forward", "value_and_grad"],
                    choices=["forward", "value_and_grad"])
    args = ap.parse_args(argv)
    methods = [m for m in args.methods if m != "ffi" or cable.ffi_available()]
    for n in args.n:
        parent = soma_axon_dendrite(*TREES[n])
        assert parent.size == n
        tree = cable.hines_tree(parent)
        for dtype in args.dtype:
            for batch in args.batch:
                if n * batch * args.steps > 1e8 and not args.all:
                    continue
                case = make_case(parent, batch, jnp.dtype(dtype))
                for mode in args.modes:
                    for method in methods:
                        sim = jax.jit(lambda gs, as_, m=method: simulate(tree, m, args.steps, case, gs, as_))
                        if mode == "forward":
                            fn = sim
                        else:
                            fn = jax.jit(jax.value_and_grad(lambda gs, as_: jnp.sum(sim(gs, as_) ** 2),
                                                            argnums=(0, 1)))
                        one = jnp.asarray(1.0, dtype)
                        wall, cpu, first = time_it(fn, one, one, repeat=args.repeat)
                        print(json.dumps(dict(
                            bench="tree_solve", n=n, batch=batch, dtype=dtype, mode=mode, method=method,
                            steps=args.steps, us_per_step=round(wall / args.steps * 1e6, 3),
                            us_per_cell_step=round(wall / args.steps / batch * 1e6, 3),
                            cpu_us_per_step=round(cpu / args.steps * 1e6, 3),
                            run_s=round(wall, 4), first_call_s=round(first, 3),
                            machine=platform.processor() or platform.machine(),
                            jax=jax.__version__)), flush=True)


if __name__ == "__main__":
    main()
