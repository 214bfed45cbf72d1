"""Explicit Runge–Kutta methods, each a Butcher tableau plus a few lines.

Every method except ``euler`` is one :class:`ButcherTableau` advanced by the
generic :func:`_erk_step`. Their ``applies`` refuses a system whose
``stiffness_dt`` (forward Euler's stability limit, if the lowering knows it)
is smaller than the step by more than the method's own stability region
allows; the refusal names the dt that would be stable and ``exp_euler``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import numpy as np

from ._linalg import tree_lincomb
from .registry import register_integrator


def _axpy(y, a, x):
    return jax.tree.map(lambda yi, xi: yi + a * xi, y, x)


@register_integrator("euler", aliases=("forward_euler", "explicit_euler"), category="explicit",
                     order=1, description="Forward Euler: y + dt f(t, y). jNeuroML's LEMS scheme.")
def euler(system, t, y, dt, p):
    return _axpy(y, dt, system.f(t, y, p))


# ----------------------------------------------------------------------------- tableaus


@dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge–Kutta method::

        k_i = f(t + c_i dt, y + dt sum_{j<i} a_ij k_j),   y_new = y + dt sum_i b_i k_i

    ``a`` is given as rows; row ``i`` may list only its ``i`` entries left of
    the diagonal (they are padded with zeros to a square, strictly lower
    triangular matrix)."""

    a: tuple
    b: tuple
    c: tuple

    def __post_init__(self):
        s = len(self.b)
        if len(self.c) != s or len(self.a) != s:
            raise ValueError("Butcher tableau: a, b and c need one row/entry per stage")
        rows = []
        for i, row in enumerate(self.a):
            row = tuple(float(v) for v in row) + (0.0,) * (s - len(row))
            if len(row) != s or any(v != 0.0 for v in row[i:]):
                raise ValueError("Butcher tableau: a must be strictly lower triangular (explicit)")
            rows.append(row)
        object.__setattr__(self, "a", tuple(rows))
        object.__setattr__(self, "b", tuple(float(v) for v in self.b))
        object.__setattr__(self, "c", tuple(float(v) for v in self.c))
        for i in range(s):
            if abs(sum(self.a[i]) - self.c[i]) > 1e-12:
                raise ValueError(f"Butcher tableau: row {i} of a does not sum to c[{i}]")

    @property
    def stages(self) -> int:
        return len(self.b)

    def stability_polynomial(self) -> np.ndarray:
        """Coefficients (lowest degree first) of ``R(z) = 1 + z b^T (I - zA)^{-1} 1``,
        i.e. ``R(z) = 1 + sum_j z^j b^T A^{j-1} 1``."""
        A, b = np.array(self.a), np.array(self.b)
        coefs = [1.0]
        v = np.ones(self.stages)
        for _ in range(self.stages):
            coefs.append(float(b @ v))
            v = A @ v
        return np.array(coefs)

    def real_stability_limit(self) -> float:
        """The largest ``x`` with ``|R(-s)| <= 1`` for all ``s`` in ``[0, x]``: the
        length of the stability interval on the negative real axis (2 for
        forward Euler and every 2-stage second-order method, 2.5127 for
        3-stage third-order ones, 2.7853 for 4-stage fourth-order ones)."""
        poly = np.polynomial.Polynomial(self.stability_polynomial())
        s = np.linspace(0.0, 2.0 * self.stages + 2.0, 200001)
        bad = np.nonzero(np.abs(poly(-s)) > 1.0 + 1e-12)[0]
        bad = bad[bad > 0]
        if bad.size == 0:
            return float(s[-1])
        lo, hi = s[bad[0] - 1], s[bad[0]]
        for _ in range(60):  # bisection to full precision
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if abs(poly(-mid)) <= 1.0 + 1e-12 else (lo, mid)
        return round(float(lo), 9)


def _erk_step(tab: ButcherTableau, system, t, y, dt, p):
    """One step of the explicit Runge–Kutta method ``tab``."""
    ks = []
    for i in range(tab.stages):
        yi = tree_lincomb(y, [(dt * tab.a[i][j] if tab.a[i][j] != 0.0 else 0, ks[j])
                              for j in range(i)])
        ks.append(system.f(t + tab.c[i] * dt, yi, p))
    return tree_lincomb(y, [(dt * bi if bi != 0.0 else 0, k) for bi, k in zip(tab.b, ks)])


erk_step = _erk_step
"""Public name of the generic explicit RK step, for users' own tableaus."""


# ----------------------------------------------------------------------------- refusal

_EULER_LIMIT = 2.0  # forward Euler's real stability interval, the unit of stiffness_dt


class _StabilityCheck:
    """``applies(system, dt=None)`` for an explicit method.

    ``system.stiffness_dt`` is read as forward Euler's stability limit
    (``2 / |lambda_max|``); a method whose real stability interval is ``L``
    is then stable up to ``stiffness_dt * L / 2`` (``stability_factor``,
    computed at first use: the ten tableaus' intervals cost 0.05 s, paid by
    every process that imports the registry). ``dt`` is taken from the
    argument, else from ``system.dt`` when the system carries one; with no
    known dt the solver does not refuse."""

    def __init__(self, name: str, tab: ButcherTableau):
        self.name, self.tab = name, tab

    @functools.cached_property
    def stability_factor(self) -> float:
        return self.tab.real_stability_limit() / _EULER_LIMIT

    def __call__(self, system, dt=None):
        sdt = getattr(system, "stiffness_dt", None)
        if dt is None:
            dt = getattr(system, "dt", None)
        if sdt is None or dt is None:
            return None
        try:
            dt = float(dt)
        except Exception:  # noqa: BLE001  a traced dt: cannot judge here
            return None
        limit = float(sdt) * self.stability_factor
        if dt > limit:
            return (f"dt={dt:g} ms is above the explicit stability limit of '{self.name}' for this "
                    f"system; it would need dt <= {limit:.3g} ms")
        return None


def _explicit(name, tab, *, order, description, aliases=()):
    return register_integrator(name, aliases=aliases, category="explicit", order=order,
                               description=description, applies=_StabilityCheck(name, tab),
                               suggest="exp_euler")


# ----------------------------------------------------------------------------- order 2

MIDPOINT = ButcherTableau(a=((), (0.5,)), b=(0.0, 1.0), c=(0.0, 0.5))
RK2 = ButcherTableau(a=((), (2.0 / 3.0,)), b=(0.25, 0.75), c=(0.0, 2.0 / 3.0))
HEUN2 = ButcherTableau(a=((), (1.0,)), b=(0.5, 0.5), c=(0.0, 1.0))
RALSTON2 = ButcherTableau(a=((), (2.0 / 3.0,)), b=(0.25, 0.75), c=(0.0, 2.0 / 3.0))


def generic_rk2(beta: float) -> ButcherTableau:
    """The one-parameter family of 2-stage second-order methods:
    ``c2 = a21 = beta``, ``b = (1 - 1/(2 beta), 1/(2 beta))``."""
    return ButcherTableau(a=((), (beta,)), b=(1.0 - 0.5 / beta, 0.5 / beta), c=(0.0, beta))


@_explicit("midpoint", MIDPOINT, order=2, aliases=("explicit_midpoint",),
           description="Explicit midpoint method (Runge 1895), 2 stages.")
def midpoint(system, t, y, dt, p):
    """Explicit midpoint method (C. Runge, Math. Ann. 46, 1895): the generic
    second-order method with ``beta = 1/2``."""
    return _erk_step(MIDPOINT, system, t, y, dt, p)


@_explicit("rk2", RK2, order=2,
           description="Generic 2-stage second-order RK with beta=2/3 (BrainPy's rk2 default).")
def rk2(system, t, y, dt, p):
    """Generic second-order Runge–Kutta method ``c2 = a21 = beta``,
    ``b = (1 - 1/(2 beta), 1/(2 beta))`` with ``beta = 2/3``, the default of
    BrainPy's ``rk2``; with this beta it coincides with Ralston's method."""
    return _erk_step(RK2, system, t, y, dt, p)


@_explicit("heun2", HEUN2, order=2, aliases=("heun", "improved_euler"),
           description="Heun's method (explicit trapezoidal rule), 2 stages.")
def heun2(system, t, y, dt, p):
    """Heun's second-order method (K. Heun, Z. Math. Phys. 45, 1900), the
    explicit trapezoidal rule: ``beta = 1``."""
    return _erk_step(HEUN2, system, t, y, dt, p)


@_explicit("ralston2", RALSTON2, order=2,
           description="Ralston's second-order method (minimum error bound), 2 stages.")
def ralston2(system, t, y, dt, p):
    """Ralston's second-order method (A. Ralston, Math. Comp. 16, 1962):
    ``beta = 2/3``, which minimises the bound on the local truncation error."""
    return _erk_step(RALSTON2, system, t, y, dt, p)


# ----------------------------------------------------------------------------- order 3

RK3 = ButcherTableau(a=((), (0.5,), (-1.0, 2.0)), b=(1 / 6, 2 / 3, 1 / 6), c=(0.0, 0.5, 1.0))
HEUN3 = ButcherTableau(a=((), (1 / 3,), (0.0, 2 / 3)), b=(0.25, 0.0, 0.75), c=(0.0, 1 / 3, 2 / 3))
SSPRK3 = ButcherTableau(a=((), (1.0,), (0.25, 0.25)), b=(1 / 6, 1 / 6, 2 / 3), c=(0.0, 1.0, 0.5))
RALSTON3 = ButcherTableau(a=((), (0.5,), (0.0, 0.75)), b=(2 / 9, 1 / 3, 4 / 9), c=(0.0, 0.5, 0.75))


@_explicit("rk3", RK3, order=3, aliases=("kutta3",),
           description="Kutta's third-order method, 3 stages.")
def rk3(system, t, y, dt, p):
    """Kutta's third-order method (W. Kutta, Z. Math. Phys. 46, 1901):
    ``b = (1/6, 2/3, 1/6)``, Simpson's rule when f depends on t only."""
    return _erk_step(RK3, system, t, y, dt, p)


@_explicit("heun3", HEUN3, order=3,
           description="Heun's third-order method, 3 stages.")
def heun3(system, t, y, dt, p):
    """Heun's third-order method (K. Heun, 1900): ``c = (0, 1/3, 2/3)``,
    ``b = (1/4, 0, 3/4)``."""
    return _erk_step(HEUN3, system, t, y, dt, p)


@_explicit("ssprk3", SSPRK3, order=3, aliases=("shu_osher",),
           description="Strong-stability-preserving RK3 of Shu & Osher, 3 stages.")
def ssprk3(system, t, y, dt, p):
    """Third-order strong-stability-preserving method of Shu & Osher
    (J. Comput. Phys. 77, 1988), a convex combination of forward Euler
    steps (SSP coefficient 1)."""
    return _erk_step(SSPRK3, system, t, y, dt, p)


@_explicit("ralston3", RALSTON3, order=3,
           description="Ralston's third-order method (minimum error bound), 3 stages.")
def ralston3(system, t, y, dt, p):
    """Ralston's third-order method (A. Ralston, Math. Comp. 16, 1962):
    ``c = (0, 1/2, 3/4)``, ``b = (2/9, 1/3, 4/9)``; the embedded pair of
    Bogacki–Shampine uses it."""
    return _erk_step(RALSTON3, system, t, y, dt, p)


# ----------------------------------------------------------------------------- order 4

RK4 = ButcherTableau(a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
                     b=(1 / 6, 1 / 3, 1 / 3, 1 / 6), c=(0.0, 0.5, 0.5, 1.0))

_S5 = 5.0 ** 0.5
RALSTON4 = ButcherTableau(
    a=((),
       (0.4,),
       ((-2889.0 + 1428.0 * _S5) / 1024.0, (3785.0 - 1620.0 * _S5) / 1024.0),
       ((-3365.0 + 2094.0 * _S5) / 6040.0, (-975.0 - 3046.0 * _S5) / 2552.0,
        (467040.0 + 203968.0 * _S5) / 240845.0)),
    b=((263.0 + 24.0 * _S5) / 1812.0, (125.0 - 1000.0 * _S5) / 3828.0,
       (3426304.0 + 1661952.0 * _S5) / 5924787.0, (30.0 - 4.0 * _S5) / 123.0),
    c=(0.0, 0.4, 7.0 / 8.0 - 3.0 * _S5 / 16.0, 1.0),
)


@_explicit("rk4", RK4, order=4, aliases=("classic_rk4",),
           description="Classic fourth-order Runge–Kutta method, 4 stages.")
def rk4(system, t, y, dt, p):
    """The classic fourth-order Runge–Kutta method (W. Kutta, 1901):
    ``c = (0, 1/2, 1/2, 1)``, ``b = (1/6, 1/3, 1/3, 1/6)``."""
    return _erk_step(RK4, system, t, y, dt, p)


@_explicit("ralston4", RALSTON4, order=4,
           description="Ralston's fourth-order method (minimum error bound), 4 stages.")
def ralston4(system, t, y, dt, p):
    """Ralston's fourth-order method (A. Ralston, Math. Comp. 16, 1962), the
    4-stage method minimising the truncation-error bound; coefficients in
    closed form with sqrt(5) (``c2 = 2/5``, ``c3 = 7/8 - 3 sqrt(5)/16``)."""
    return _erk_step(RALSTON4, system, t, y, dt, p)


TABLEAUS = {
    "midpoint": MIDPOINT, "rk2": RK2, "heun2": HEUN2, "ralston2": RALSTON2,
    "rk3": RK3, "heun3": HEUN3, "ssprk3": SSPRK3, "ralston3": RALSTON3,
    "rk4": RK4, "ralston4": RALSTON4,
}
"""The tableau of each tableau-driven method, by registered name."""


def _needs_history(system):
    if not hasattr(system, "shift_history"):
        return "it needs a model lowered with jNeuroML's step-delayed requirement copies (LEMS models)"
    return None


@register_integrator("lems_euler", aliases=("jlems", "jneuroml"), category="explicit", order=1,
                     description="Forward Euler in jNeuroML's order: a value reached through k "
                                 "intermediate requirement holders is k steps old; Regime states advance "
                                 "one after the other. Matches jNeuroML.",
                     applies=_needs_history, suggest="euler")
def lems_euler(system, t, y, dt, p):
    if getattr(system, "lems_exact", False) and hasattr(system, "lems_step"):
        return system.lems_step(t, y, dt, p)
    y1 = _axpy(y, dt, system.f(t, y, p))
    return system.shift_history(y, y1, t, p)


lems_euler.lems_exact = True  # the model is lowered with its history columns for this solver
