"""The solver registry and every built-in solver: measured order, exactness,
gradients, refusal, and users' own solvers."""
import nmlcell._config as _config

_config.setup_jax()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax import lax  # noqa: E402

from nmlcell.errors import SolverError  # noqa: E402
from nmlcell.quad import (FunctionSystem, all_integrators, get_integrator,  # noqa: E402
                          register_integrator, unregister)
from nmlcell.quad._linalg import phi1  # noqa: E402
from nmlcell.quad.explicit import TABLEAUS, ButcherTableau  # noqa: E402

FAMILIES = ("explicit", "exponential", "implicit")


def generic_solvers():
    """Registered solvers of the three families that apply to any plain system
    (a solver that needs more of its system, e.g. jNeuroML's history columns,
    refuses a FunctionSystem through its ``applies`` and is tested elsewhere)."""
    probe = FunctionSystem(lambda t, y, p: y)
    return [i for i in all_integrators()
            if i.category in FAMILIES and (i.applies is None or not i.applies(probe))]


BUILTIN = generic_solvers()
BUILTIN_IDS = [i.name for i in BUILTIN]


# ----------------------------------------------------------------------------- test problem
#
# A nonautonomous, nonlinear, coupled 2-D system with a known solution: in
# polar coordinates r' = r (a - r^2), theta' = 1 + cos(2t). With a = 1,
# r^2 is a logistic curve and theta = theta0 + t + sin(2t)/2. The explicit
# time dependence keeps exp_euler at order 1 (it would be order 2 on an
# autonomous problem) and exercises every method's stage times.


def spiral(t, y, a):
    y1, y2 = y[:, 0], y[:, 1]
    g = a - (y1 * y1 + y2 * y2)
    w = 1.0 + jnp.cos(2.0 * t)
    return jnp.stack([-w * y2 + y1 * g, w * y1 + y2 * g], axis=-1)


def spiral_exact(t, y0):
    y0 = np.asarray(y0)
    r0sq = (y0 ** 2).sum(-1)
    th = np.arctan2(y0[:, 1], y0[:, 0]) + t + 0.5 * np.sin(2.0 * t)
    u = 1.0 / (1.0 + (1.0 / r0sq - 1.0) * np.exp(-2.0 * t))
    return np.stack([np.sqrt(u) * np.cos(th), np.sqrt(u) * np.sin(th)], axis=-1)


SPIRAL = FunctionSystem(spiral)
Y0 = jnp.array([[0.3, 0.0], [0.0, 0.5], [1.2, 0.9]])  # N = 3 instances, k = 2 states
T_END = 2.0
NS = (80, 160, 320, 640)


def _integrate(integ, system, y0, t_end, n, p):
    dt = t_end / n
    return lax.fori_loop(0, n, lambda i, y: integ.step(system, i * dt, y, dt, p), y0)


def _measured_order(integ):
    run = jax.jit(lambda n: _integrate(integ, SPIRAL, Y0, T_END, n, 1.0))
    ref = spiral_exact(T_END, Y0)
    errs = np.array([np.abs(np.asarray(run(n)) - ref).max() for n in NS])
    assert np.all(np.isfinite(errs)) and np.all(errs > 0), errs
    return np.polyfit(np.log(T_END / np.array(NS)), np.log(errs), 1)[0], errs


def test_exact_solution_is_a_solution():
    # guard the reference itself: finite differences of spiral_exact match spiral
    t, h = 0.7, 1e-6
    d = (spiral_exact(t + h, Y0) - spiral_exact(t - h, Y0)) / (2 * h)
    np.testing.assert_allclose(d, spiral(t, jnp.asarray(spiral_exact(t, Y0)), 1.0), atol=1e-8)


def test_every_family_is_present():
    names = {i.name for i in BUILTIN}
    assert {"euler", "midpoint", "rk2", "heun2", "ralston2", "rk3", "heun3", "ssprk3",
            "ralston3", "rk4", "ralston4", "exp_euler", "ind_exp_euler", "backward_euler",
            "implicit_euler", "crank_nicolson"} <= names
    assert get_integrator("classic_rk4").name == "rk4"
    assert get_integrator("cnexp").name == "ind_exp_euler"
    assert get_integrator("trapezoidal").name == "crank_nicolson"


@pytest.mark.parametrize("integ", BUILTIN, ids=BUILTIN_IDS)
def test_convergence_order(integ):
    slope, errs = _measured_order(integ)
    assert abs(slope - integ.order) < 0.3, (integ.name, slope, errs)


# ----------------------------------------------------------------------------- tableaus


def _order_conditions(tab: ButcherTableau):
    A, b, c = np.array(tab.a), np.array(tab.b), np.array(tab.c)
    return {
        1: [(b.sum(), 1.0)],
        2: [(b @ c, 1 / 2)],
        3: [(b @ c ** 2, 1 / 3), (b @ A @ c, 1 / 6)],
        4: [(b @ c ** 3, 1 / 4), (b @ (c * (A @ c)), 1 / 8), (b @ A @ c ** 2, 1 / 12),
            (b @ A @ A @ c, 1 / 24)],
    }


@pytest.mark.parametrize("name", sorted(TABLEAUS))
def test_tableau_order_conditions(name):
    tab, order = TABLEAUS[name], get_integrator(name).order
    conds = _order_conditions(tab)
    for q in range(1, order + 1):
        for got, want in conds[q]:
            assert got == pytest.approx(want, abs=1e-14), (name, q)
    if order + 1 in conds:  # and not the next order (else the declared order is wrong)
        assert any(abs(got - want) > 1e-6 for got, want in conds[order + 1]), name


def test_stability_limits():
    lim = {n: t.real_stability_limit() for n, t in TABLEAUS.items()}
    assert lim["midpoint"] == pytest.approx(2.0) and lim["ralston2"] == pytest.approx(2.0)
    assert lim["rk3"] == pytest.approx(2.5127, abs=1e-4)
    assert lim["ssprk3"] == pytest.approx(2.5127, abs=1e-4)
    assert lim["rk4"] == pytest.approx(2.7853, abs=1e-4)
    assert lim["ralston4"] == pytest.approx(2.7853, abs=1e-4)


def test_tableau_validation():
    with pytest.raises(ValueError):
        ButcherTableau(a=((0.5,), (0.5,)), b=(0.5, 0.5), c=(0.0, 1.0))  # not explicit
    with pytest.raises(ValueError):
        ButcherTableau(a=((), (0.5,)), b=(0.5, 0.5), c=(0.0, 1.0))  # row sum != c


# ----------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("a,b", [(1.5, -2.0), (-0.3, 0.7), (2.0, 0.0), (0.4, 1e-13),
                                 (60.0, -1000.0)])
def test_ind_exp_euler_exact_for_affine(a, b):
    integ = get_integrator("ind_exp_euler")
    system = FunctionSystem(lambda t, y, p: p[0] + p[1] * y, linear_in_own_state=True)
    y0, dt, n = jnp.array([[0.25], [-1.0]]), 0.1, 20
    y = jax.jit(lambda y0: _integrate(integ, system, y0, n * dt, n, (a, b)))(y0)
    t, y0 = n * dt, np.asarray(y0)
    # exact: y(t) = y0 + (a + b y0) (e^{bt} - 1)/b  (expm1: no cancellation for tiny b)
    want = y0 + (a + b * y0) * (t if b == 0.0 else np.expm1(b * t) / b)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-12, atol=1e-12)


def test_exp_euler_exact_for_linear_coupled():
    # y' = A y + c: exp_euler integrates it exactly whatever dt (here dt >> 1/|lambda|)
    A = jnp.array([[-50.0, 3.0], [2.0, -0.5]])
    c = jnp.array([1.0, -2.0])
    system = FunctionSystem(lambda t, y, p: y @ A.T + c)
    y0, dt, n = jnp.array([[1.0, 2.0]]), 0.2, 10
    y = _integrate(get_integrator("exp_euler"), system, y0, n * dt, n, None)
    ystar = -np.linalg.solve(np.asarray(A), np.asarray(c))
    import scipy.linalg

    want = ystar + scipy.linalg.expm(np.asarray(A) * n * dt) @ (np.asarray(y0[0]) - ystar)
    np.testing.assert_allclose(np.asarray(y[0]), want, rtol=1e-11)


def test_phi1_accuracy():
    x = np.concatenate([-np.logspace(-14, 1.5, 60), np.logspace(-14, 1.5, 60)])
    got = np.asarray(phi1(jnp.asarray(x)))
    np.testing.assert_allclose(got, np.expm1(x) / x, rtol=2e-15)
    assert float(phi1(jnp.asarray(0.0))) == 1.0


def test_expm_small_matches_scipy():
    import scipy.linalg

    from nmlcell.quad._linalg import expm_small

    rng = np.random.default_rng(1)
    # one batch mixing tiny, moderate, stiff (large negative) and zero matrices
    M = rng.normal(size=(40, 3, 3)) * np.repeat([1e-9, 1e-3, 0.5, 4.0, 60.0], 8)[:, None, None]
    M[-3] = np.diag([-300.0, -0.1, 0.0])
    M[-2] = 0.0
    M[-1, 2, :] = 0.0  # augmented-matrix shape, as exp_euler builds
    want = np.stack([scipy.linalg.expm(m) for m in M])
    ex = jax.jit(expm_small)
    got = np.asarray(ex(jnp.asarray(M)))
    scale = np.abs(want).max(axis=(1, 2), keepdims=True)
    assert (np.abs(got - want) / scale).max() < 1e-11
    # gradients agree with finite differences
    W = rng.normal(size=M.shape)
    W[32:37] = 0.0  # leave out the exp(60)-sized ones: FD would drown in their rounding
    W = jnp.asarray(W)
    loss = lambda a: jnp.sum(W * ex(a))  # noqa: E731
    g = np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(M)))
    assert np.all(np.isfinite(g))
    for idx in [(3, 0, 1), (17, 0, 1), (25, 2, 2), (29, 1, 0), (37, 0, 0)]:
        h = 1e-6 * max(1.0, abs(M[idx]))
        e = np.zeros_like(M)
        e[idx] = h
        fd = (float(loss(jnp.asarray(M + e))) - float(loss(jnp.asarray(M - e)))) / (2 * h)
        assert g[idx] == pytest.approx(fd, rel=1e-5, abs=1e-8), idx
    # and it vmaps (the squaring's cond becomes a select)
    got2 = jax.jit(jax.vmap(expm_small))(jnp.asarray(M).reshape(5, 8, 3, 3)).reshape(40, 3, 3)
    np.testing.assert_allclose(got2, got, rtol=1e-13, atol=1e-300)


def test_pytree_of_leaves():
    """A system of two leaves steps like each leaf on its own."""
    def two(t, y, p):
        return {"osc": spiral(t, y["osc"], 1.0), "log": y["log"] * (1.0 - y["log"]) + jnp.sin(t)}

    sys2 = FunctionSystem(two)
    sys_log = FunctionSystem(lambda t, y, p: y * (1.0 - y) + jnp.sin(t))
    y = {"osc": Y0, "log": jnp.array([[0.1], [0.5], [2.0], [-0.2]])}
    # one per code path (the explicit methods share _erk_step)
    for name in ("rk4", "exp_euler", "ind_exp_euler", "backward_euler", "implicit_euler",
                 "crank_nicolson"):
        integ = get_integrator(name)
        both, osc, log = jax.jit(lambda y: (integ.step(sys2, 0.3, y, 0.05, None),
                                            integ.step(SPIRAL, 0.3, y["osc"], 0.05, 1.0),
                                            integ.step(sys_log, 0.3, y["log"], 0.05, None)))(y)
        np.testing.assert_allclose(both["osc"], osc, rtol=1e-13, err_msg=integ.name)
        np.testing.assert_allclose(both["log"], log, rtol=1e-13, err_msg=integ.name)


@pytest.mark.parametrize("name", ["implicit_euler", "crank_nicolson"])
def test_newton_converges(name):
    """The implicit equation holds to rounding after the fixed Newton iterations
    (one iteration would already give the right order, so order tests cannot see this)."""
    integ, t, dt = get_integrator(name), 0.3, 0.5
    y1 = integ.step(SPIRAL, t, Y0, dt, 1.0)
    if name == "implicit_euler":
        resid = y1 - Y0 - dt * spiral(t + dt, y1, 1.0)
    else:
        resid = y1 - Y0 - dt / 2 * (spiral(t, Y0, 1.0) + spiral(t + dt, y1, 1.0))
    assert np.abs(np.asarray(resid)).max() < 1e-13


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("integ", BUILTIN, ids=BUILTIN_IDS)
def test_gradients_finite_and_correct(integ):
    dt, n = 0.02, 50

    def loss(a, y0):
        def body(y, i):
            return integ.step(SPIRAL, i * dt, y, dt, a), None

        y, _ = lax.scan(body, y0, jnp.arange(n))
        return jnp.sum(y ** 2) + jnp.sum(y[:, 0])

    vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))  # one compile serves FD too
    f = lambda a, y0: vg(a, y0)[0]  # noqa: E731
    _, (ga, gy) = vg(1.0, Y0)
    assert np.isfinite(float(ga)) and np.all(np.isfinite(np.asarray(gy))), integ.name
    h = 1e-6
    fd = (float(f(1.0 + h, Y0)) - float(f(1.0 - h, Y0))) / (2 * h)
    assert float(ga) == pytest.approx(fd, rel=1e-6), integ.name
    e = jnp.zeros_like(Y0).at[2, 1].set(h)
    fd_y = (float(f(1.0, Y0 + e)) - float(f(1.0, Y0 - e))) / (2 * h)
    assert float(gy[2, 1]) == pytest.approx(fd_y, rel=1e-6), integ.name


@pytest.mark.parametrize("name", ["ind_exp_euler", "exp_euler"])
def test_exponential_gradients_through_zero_linearisation(name):
    # f = c y^2 + 1 from y0 = 0: the first step has d = 2 c y = 0 exactly, with d
    # depending on y0 and c: phi1's unused branch must not leak 0/0 into the gradient
    integ = get_integrator(name)
    system = FunctionSystem(lambda t, y, p: p * y * y + 1.0)

    def final(c, y0):
        return jnp.sum(_integrate(integ, system, y0, 0.5, 5, c))

    vg = jax.jit(jax.value_and_grad(final, argnums=(0, 1)))
    f = lambda c, y0: vg(c, y0)[0]  # noqa: E731
    _, (gc, gy) = vg(-0.8, jnp.zeros((1, 1)))
    assert np.isfinite(float(gc)) and np.isfinite(float(gy[0, 0]))
    h = 1e-6
    assert float(gc) == pytest.approx((float(f(-0.8 + h, jnp.zeros((1, 1))))
                                       - float(f(-0.8 - h, jnp.zeros((1, 1))))) / (2 * h),
                                      rel=1e-6)
    assert float(gy[0, 0]) == pytest.approx((float(f(-0.8, jnp.full((1, 1), h)))
                                             - float(f(-0.8, jnp.full((1, 1), -h)))) / (2 * h),
                                            rel=1e-6)


@pytest.mark.parametrize("name,k", [("ind_exp_euler", 1), ("exp_euler", 1), ("exp_euler", 2)])
def test_exponential_gradients_where_linearisation_vanishes(name, k):
    # f does not depend on y: d = 0 and J = 0 exactly, phi1(0) = 1 -> forward Euler;
    # the double where must keep the gradient finite (and right)
    integ = get_integrator(name)
    system = FunctionSystem(lambda t, y, p: p * jnp.sin(t) * jnp.ones_like(y))
    dt, n = 0.1, 30

    def final(c, y0):
        return jnp.sum(_integrate(integ, system, y0, n * dt, n, c))

    gc, gy = jax.jit(jax.grad(final, argnums=(0, 1)))(0.7, jnp.ones((2, k)))
    want = 2 * k * sum(dt * np.sin(i * dt) for i in range(n))
    assert float(gc) == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(np.asarray(gy), 1.0, rtol=1e-12)


# ----------------------------------------------------------------------------- registry


def test_unknown_solver_suggests_nearest():
    with pytest.raises(SolverError, match="did you mean 'crank_nicolson'"):
        get_integrator("crank_nicholson")
    with pytest.raises(SolverError, match="did you mean 'backward_euler'"):
        get_integrator("backwards_euler")


def test_register_override_unregister_round_trip():
    def step_a(system, t, y, dt, p):
        return y

    def step_b(system, t, y, dt, p):
        return jax.tree.map(lambda v: 2 * v, y)

    try:
        register_integrator("test_noop", aliases=("test_noop_alias",), category="user", order=1,
                            description="a")(step_a)
        assert get_integrator("test_noop").step is step_a
        assert get_integrator("test_noop_alias").name == "test_noop"
        with pytest.raises(SolverError, match="already registered"):
            register_integrator("test_noop", category="user", order=1, description="b")(step_b)
        with pytest.raises(SolverError, match="already registered"):
            register_integrator("other", aliases=("test_noop_alias",), category="user", order=1,
                                description="b")(step_b)
        register_integrator("test_noop", category="user", order=2, description="b",
                            override=True)(step_b)
        integ = get_integrator("test_noop")
        assert integ.step is step_b and integ.order == 2 and integ.description == "b"
        with pytest.raises(SolverError):
            get_integrator("test_noop_alias")  # the override dropped the old alias
        y = integ(SPIRAL, 0.0, Y0, 0.1, 1.0)
        np.testing.assert_array_equal(y, 2 * Y0)
    finally:
        unregister("test_noop", missing_ok=True)
    with pytest.raises(SolverError, match="unknown solver 'test_noop'"):
        get_integrator("test_noop")
    with pytest.raises(SolverError):
        unregister("test_noop")
    with pytest.raises(SolverError, match="category"):
        register_integrator("x", category="nonsense", order=1, description="")


def test_user_forward_euler_matches_builtin_bitwise():
    @register_integrator("test_my_euler", category="user", order=1,
                         description="A user's forward Euler.")
    def my_euler(system, t, y, dt, p):
        dy = system.f(t, y, p)
        return jax.tree.map(lambda yi, di: yi + dt * di, y, dy)

    try:
        mine = jax.jit(lambda: _integrate(get_integrator("test_my_euler"), SPIRAL, Y0, 1.0, 100,
                                          1.0))()
        builtin = jax.jit(lambda: _integrate(get_integrator("euler"), SPIRAL, Y0, 1.0, 100,
                                             1.0))()
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(builtin))
        assert get_integrator("test_my_euler").order == 1
        # and its measured order is 1, as declared
        slope, _ = _measured_order(get_integrator("test_my_euler"))
        assert abs(slope - 1.0) < 0.3
    finally:
        unregister("test_my_euler")


# ----------------------------------------------------------------------------- refusal


class _Stiff(FunctionSystem):
    """y' = -lam (y - cos t): forward Euler is stable for dt <= 2/lam."""

    def __init__(self, lam, dt=None):
        super().__init__(lambda t, y, p: -lam * (y - jnp.cos(t)), stiffness_dt=2.0 / lam)
        self.dt = dt


@pytest.mark.parametrize("name", sorted(TABLEAUS))
def test_explicit_refuses_stiff_system(name):
    integ = get_integrator(name)
    system = _Stiff(200.0, dt=0.1)  # stiffness_dt = 0.01
    limit = 0.01 * integ.applies.stability_factor
    with pytest.raises(SolverError) as err:
        integ.check(system)
    msg = str(err.value)
    assert f"dt <= {limit:.3g}" in msg and "'exp_euler'" in msg, msg
    assert integ.applies(system, 0.99 * limit) is None
    assert integ.applies(_Stiff(200.0)) is None  # dt unknown: no refusal


def test_refusal_is_justified_and_suggestion_works():
    system = _Stiff(200.0, dt=0.02)
    rk4, alt = get_integrator("rk4"), get_integrator(get_integrator("rk4").suggest)
    with pytest.raises(SolverError):
        rk4.check(system)
    alt.check(system)  # the suggested solver accepts it ...
    y0 = jnp.array([[3.0]])
    blown = _integrate(rk4, system, y0, 2.0, 100, None)
    ok = _integrate(alt, system, y0, 2.0, 100, None)
    assert not np.all(np.abs(np.asarray(blown)) < 10.0)  # ... rk4 really blows up ...
    # ... and the suggested one follows the exact solution (to its first-order accuracy)
    lam, t = 200.0, 2.0
    yp = lambda t: lam * (lam * np.cos(t) + np.sin(t)) / (lam ** 2 + 1)  # noqa: E731
    exact = yp(t) + (3.0 - yp(0.0)) * np.exp(-lam * t)
    assert abs(float(ok[0, 0]) - exact) < 0.02
    for name in ("backward_euler", "implicit_euler", "crank_nicolson", "ind_exp_euler"):
        get_integrator(name).check(system)
