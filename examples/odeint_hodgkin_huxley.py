"""The classic Hodgkin–Huxley axon as a plain function, integrated with ``odeint``.

Hodgkin & Huxley (J. Physiol. 117, 1952) at 6.3 °C, written in today's sign
convention (rest at -65 mV, so E_Na = 50, E_K = -77, E_L = -54.387 mV), driven
by a constant 10 µA/cm². Every solver of the registry can advance it; this
script compares a few with scipy's ``solve_ivp`` (DOP853, rtol 1e-9)::

    python examples/odeint_hodgkin_huxley.py
    python examples/odeint_hodgkin_huxley.py --methods rk4 exp_euler --dt 0.025 --plot hh.png
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

CELSIUS = 6.3
Q10 = 3.0 ** ((CELSIUS - 6.3) / 10.0)  # = 1 at 6.3 °C, HH's own temperature
C_M, G_NA, G_K, G_L = 1.0, 120.0, 36.0, 0.3  # µF/cm², mS/cm²
E_NA, E_K, E_L = 50.0, -77.0, -54.387  # mV


def vtrap(x, y):
    """``x / (exp(x/y) - 1)``, continuous through ``x = 0`` (value ``y``), with
    finite gradients there (the unused branch sees a harmless argument)."""
    small = jnp.abs(x / y) < 1e-6
    xs = jnp.where(small, 1.0, x)
    return jnp.where(small, y * (1.0 - x / y / 2.0), xs / (jnp.exp(xs / y) - 1.0))


def rates(V):
    """HH 1952 opening and closing rates (1/ms) at membrane potential V (mV)."""
    am = 0.1 * vtrap(-(V + 40.0), 10.0)
    bm = 4.0 * jnp.exp(-(V + 65.0) / 18.0)
    ah = 0.07 * jnp.exp(-(V + 65.0) / 20.0)
    bh = 1.0 / (1.0 + jnp.exp(-(V + 35.0) / 10.0))
    an = 0.01 * vtrap(-(V + 55.0), 10.0)
    bn = 0.125 * jnp.exp(-(V + 65.0) / 80.0)
    return am, bm, ah, bh, an, bn


def hh(V, m, h, n, t, I):
    """dV/dt (mV/ms) and the gates' derivatives; I in µA/cm²."""
    am, bm, ah, bh, an, bn = rates(V)
    i_na = G_NA * m ** 3 * h * (V - E_NA)
    i_k = G_K * n ** 4 * (V - E_K)
    i_l = G_L * (V - E_L)
    dV = (I - i_na - i_k - i_l) / C_M
    dm = Q10 * (am * (1.0 - m) - bm * m)
    dh = Q10 * (ah * (1.0 - h) - bh * h)
    dn = Q10 * (an * (1.0 - n) - bn * n)
    return dV, dm, dh, dn


def resting_state(V=-65.0):
    """(V, m, h, n) with the gates at their steady state for V."""
    am, bm, ah, bh, an, bn = rates(jnp.asarray(V))
    return (float(V), float(am / (am + bm)), float(ah / (ah + bh)), float(an / (an + bn)))


def spike_times(t, V, threshold=0.0):
    """Upward crossings of ``threshold`` (mV), linearly interpolated between samples."""
    t, V = np.asarray(t), np.asarray(V)
    i = np.nonzero((V[:-1] < threshold) & (V[1:] >= threshold))[0]
    return t[i] + (threshold - V[i]) * (t[i + 1] - t[i]) / (V[i + 1] - V[i])


def reference(t_end=100.0, I=10.0, dt=0.01, rtol=1e-9):
    """(ts, V) from scipy's solve_ivp (DOP853) on the same grid."""
    from scipy.integrate import solve_ivp

    rhs = jax.jit(lambda t, y: jnp.stack(hh(y[0], y[1], y[2], y[3], t, I)))
    sol = solve_ivp(lambda t, y: np.asarray(rhs(t, y)), (0.0, t_end),
                    np.array(resting_state()), method="DOP853", rtol=rtol, atol=rtol,
                    dense_output=True)
    ts = dt * np.arange(int(round(t_end / dt)) + 1)
    return ts, sol.sol(ts)[0]


def simulate(method, dt=0.01, t_end=100.0, I=10.0):
    """(ts, V) with ``odeint`` and the given solver."""
    intg = odeint(hh, method=method, dt=dt)
    ts, (V, _m, _h, _n) = intg.solve(*resting_state(), t1=t_end, params=(I,))
    return np.asarray(ts), np.asarray(V)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+",
                    default=["rk4", "exp_euler", "backward_euler", "crank_nicolson", "cnexp"])
    ap.add_argument("--dt", type=float, default=0.01)
    ap.add_argument("--t-end", type=float, default=100.0)
    ap.add_argument("--current", type=float, default=10.0, help="µA/cm²")
    ap.add_argument("--no-reference", action="store_true", help="skip scipy's solve_ivp")
    ap.add_argument("--plot", metavar="PNG", help="save V(t) of every method to this file")
    args = ap.parse_args(argv)

    runs = {}
    if not args.no_reference:
        t0 = time.perf_counter()
        runs["solve_ivp"] = reference(args.t_end, args.current, args.dt)
        ref_s = time.perf_counter() - t0
    for m in args.methods:
        t0 = time.perf_counter()
        runs[m] = simulate(m, args.dt, args.t_end, args.current)
        runs[m] = runs[m] + (time.perf_counter() - t0,)
    ref = spike_times(*runs["solve_ivp"][:2]) if "solve_ivp" in runs else None

    print(f"Hodgkin–Huxley 1952, I = {args.current} µA/cm², {args.t_end} ms, dt = {args.dt} ms")
    print(f"{'method':<16}{'spikes':>7}{'first (ms)':>12}"
          f"{'max |Δt_spike| (ms)':>22}{'time (s)':>10}")
    summary = {}
    for name, run in runs.items():
        sp = spike_times(run[0], run[1])
        wall = ref_s if name == "solve_ivp" else run[2]
        dev = (f"{np.abs(sp - ref).max():.2e}" if ref is not None and len(sp) == len(ref)
               and len(sp) else "-")
        first = f"{sp[0]:.4f}" if len(sp) else "-"
        print(f"{name:<16}{len(sp):>7}{first:>12}{dev:>22}{wall:>10.2f}")
        summary[name] = sp

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 3.5))
        for name, run in runs.items():
            ax.plot(run[0], run[1], lw=1.0, label=name)
        ax.set_xlabel("t (ms)")
        ax.set_ylabel("V (mV)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"saved {args.plot}")
    return summary


if __name__ == "__main__":
    main()
