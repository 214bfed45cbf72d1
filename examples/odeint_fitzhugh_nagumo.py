"""The FitzHugh–Nagumo model as in BrainPy's ``odeint`` docs, with nmlcell's ``odeint``.

    dV/dt = V - V^3/3 - w + I_ext,   dw/dt = (V + a - b w) / tau

(FitzHugh, Biophys. J. 1, 1961; a = 0.7, b = 0.8, tau = 12.5). The same
function runs with any registered solver; this script compares several with
scipy's ``solve_ivp`` (DOP853, rtol 1e-11), and shows ``jax.vmap`` over the
drive and ``jax.grad`` of a trajectory::

    python examples/odeint_fitzhugh_nagumo.py
    python examples/odeint_fitzhugh_nagumo.py --methods rk4 heun2 exp_euler --plot fhn.png
"""
from __future__ import annotations

import argparse
import time

import nmlcell._config as _config

_config.setup_jax()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from nmlcell.quad.odeint import odeint  # noqa: E402

A, B, TAU = 0.7, 0.8, 12.5
V0, W0 = -1.0, 1.0


def fhn(V, w, t, Iext, a, b, tau):
    dw = (V + a - b * w) / tau
    dV = V - V * V * V / 3 - w + Iext
    return dV, dw


def reference(t_end=100.0, Iext=1.0, dt=0.01, rtol=1e-11):
    """(ts, V, w) from scipy's solve_ivp on the grid ``dt * i``."""
    from scipy.integrate import solve_ivp

    ts = dt * np.arange(int(round(t_end / dt)) + 1)
    sol = solve_ivp(lambda t, y: np.array(fhn(y[0], y[1], t, Iext, A, B, TAU)), (0.0, t_end),
                    [V0, W0], method="DOP853", rtol=rtol, atol=rtol, t_eval=ts)
    return ts, sol.y[0], sol.y[1]


def simulate(method, dt=0.01, t_end=100.0, Iext=1.0):
    """(ts, V, w) with ``odeint`` and the given solver."""
    intg = odeint(fhn, method=method, dt=dt)
    ts, (V, w) = intg.solve(V0, W0, t1=t_end, params=(Iext, A, B, TAU))
    return np.asarray(ts), np.asarray(V), np.asarray(w)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+",
                    default=["euler", "heun2", "rk3", "rk4", "exp_euler", "backward_euler",
                             "crank_nicolson"])
    ap.add_argument("--dt", type=float, default=0.01)
    ap.add_argument("--t-end", type=float, default=100.0)
    ap.add_argument("--current", type=float, default=1.0)
    ap.add_argument("--plot", metavar="PNG", help="save V(t) and the phase plane to this file")
    args = ap.parse_args(argv)

    ts, Vr, wr = reference(args.t_end, args.current, args.dt)
    print(f"FitzHugh–Nagumo, Iext = {args.current}, t in [0, {args.t_end}], dt = {args.dt}")
    print(f"{'method':<16}{'max |V - V_ref|':>17}{'time (s)':>10}")
    errors, runs = {}, {}
    for m in args.methods:
        t0 = time.perf_counter()
        runs[m] = simulate(m, args.dt, args.t_end, args.current)
        wall = time.perf_counter() - t0
        errors[m] = float(np.abs(runs[m][1] - Vr).max())
        print(f"{m:<16}{errors[m]:>17.2e}{wall:>10.2f}")

    # one compiled integrator, many drives at once, and a gradient
    intg = odeint(fhn, method="rk4", dt=args.dt)
    n = int(round(args.t_end / args.dt))

    def final_V(I):
        def body(c, i):
            return intg(c[0], c[1], i * args.dt, I, A, B, TAU), None

        (V, _), _ = jax.lax.scan(body, (jnp.asarray(V0), jnp.asarray(W0)), jnp.arange(n))
        return V

    drives = jnp.linspace(0.0, 1.5, 7)
    Vs = jax.jit(jax.vmap(final_V))(drives)
    dV = jax.jit(jax.grad(final_V))(args.current)
    print("V(t_end) for Iext =", np.round(np.asarray(drives), 2), "->", np.round(np.asarray(Vs), 3))
    print(f"d V(t_end) / d Iext at Iext = {args.current}: {float(dV):.4f}")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
        a1.plot(ts, Vr, "k", lw=2, alpha=0.4, label="solve_ivp")
        for m, (t, V, w) in runs.items():
            a1.plot(t, V, lw=1, label=m)
            a2.plot(V, w, lw=1, label=m)
        a1.set_xlabel("t")
        a1.set_ylabel("V")
        a2.set_xlabel("V")
        a2.set_ylabel("w")
        a1.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"saved {args.plot}")
    return errors


if __name__ == "__main__":
    main()
