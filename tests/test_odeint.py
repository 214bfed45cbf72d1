"""``odeint``: BrainPy-style integration of plain functions with any solver.

The models are the ones in ``examples/`` (imported from there, so the
examples are exercised too): FitzHugh–Nagumo and Hodgkin–Huxley 1952.
"""
import importlib.util
from pathlib import Path

import nmlcell._config as _config

_config.setup_jax()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nmlcell.errors import OptionError, SolverError  # noqa: E402
from nmlcell.quad import FunctionSystem, all_integrators, get_integrator  # noqa: E402
from nmlcell.quad.odeint import ODEIntegrator, odeint  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


fhn_ex = _load("odeint_fitzhugh_nagumo")
hh_ex = _load("odeint_hodgkin_huxley")
fhn = fhn_ex.fhn
FHN_P = (1.0, fhn_ex.A, fhn_ex.B, fhn_ex.TAU)


# ----------------------------------------------------------------------------- Hodgkin–Huxley


@pytest.fixture(scope="module")
def hh_reference():
    ts, V = hh_ex.reference(t_end=100.0, I=10.0, dt=0.01, rtol=1e-9)
    return hh_ex.spike_times(ts, V)


# max spike-time deviation from solve_ivp over 100 ms (ms); measured x ~3-5
HH_SPIKE_TOL = {"rk4": 1e-5, "exp_euler": 3e-4, "crank_nicolson": 3e-3,
                "backward_euler": 0.06, "implicit_euler": 0.06, "ind_exp_euler": 1.5}


def test_hh_spikes_agree_across_methods(hh_reference):
    ref = hh_reference
    assert len(ref) == 7 and 1.85 < ref[0] < 1.95  # the 1952 axon fires ~68 Hz at 10 µA/cm²
    for method, tol in HH_SPIKE_TOL.items():
        ts, V = hh_ex.simulate(method, dt=0.01, t_end=100.0, I=10.0)
        sp = hh_ex.spike_times(ts, V)
        assert len(sp) == len(ref), (method, sp, ref)
        assert np.abs(sp - ref).max() < tol, (method, np.abs(sp - ref).max())
        assert np.all(np.isfinite(V)) and -80.0 < V.min() and V.max() < 45.0, method


def test_hh_below_threshold_does_not_fire():
    ts, V = hh_ex.simulate("exp_euler", dt=0.025, t_end=50.0, I=1.0)
    assert len(hh_ex.spike_times(ts, V)) == 0


# ----------------------------------------------------------------------------- FitzHugh–Nagumo

FHN_TOL = {1: 0.1, 2: 1e-3, 3: 1e-5, 4: 1e-8}  # max |V - V_ref| over t in [0, 100], dt = 0.01


@pytest.fixture(scope="module")
def fhn_reference():
    return fhn_ex.reference(t_end=100.0, Iext=1.0, dt=0.01, rtol=1e-11)


def _generic_solvers():
    """Solvers of the three families that apply to a plain function's system."""
    probe = FunctionSystem(lambda t, y, p: y)
    return [i for i in all_integrators() if i.category in ("explicit", "exponential", "implicit")
            and (i.applies is None or not i.applies(probe))]


@pytest.mark.parametrize("integ", _generic_solvers(), ids=lambda i: i.name)
def test_fhn_matches_solve_ivp(integ, fhn_reference):
    ts_ref, Vr, wr = fhn_reference
    ts, V, w = fhn_ex.simulate(integ.name, dt=0.01, t_end=100.0, Iext=1.0)
    np.testing.assert_allclose(ts, ts_ref, atol=1e-12)
    err = max(np.abs(V - Vr).max(), np.abs(w - wr).max())
    assert err < FHN_TOL[integ.order], (integ.name, err)


def test_fhn_example_runs(capsys):
    errors = fhn_ex.main(["--methods", "rk4", "heun2", "--t-end", "20"])
    assert errors["rk4"] < 1e-8 and errors["heun2"] < 1e-3
    out = capsys.readouterr().out
    assert "d V(t_end) / d Iext" in out


# ----------------------------------------------------------------------------- call forms


def _rk4_by_hand(f, ys, t, dt, *p):
    k1 = f(*ys, t, *p)
    k2 = f(*[y + dt / 2 * k for y, k in zip(ys, k1)], t + dt / 2, *p)
    k3 = f(*[y + dt / 2 * k for y, k in zip(ys, k2)], t + dt / 2, *p)
    k4 = f(*[y + dt * k for y, k in zip(ys, k3)], t + dt, *p)
    return [y + dt / 6 * (a + 2 * b + 2 * c + d) for y, a, b, c, d in zip(ys, k1, k2, k3, k4)]


def test_call_forms():
    intg = odeint(fhn, method="rk4", dt=0.05)
    assert isinstance(intg, ODEIntegrator)
    assert intg.variables == ("V", "w") and intg.parameters == ("Iext", "a", "b", "tau")
    V, w = intg(-1.0, 1.0, 0.0, *FHN_P)
    want = _rk4_by_hand(fhn, (-1.0, 1.0), 0.0, 0.05, *FHN_P)
    assert float(V) == pytest.approx(want[0], rel=1e-14)
    assert float(w) == pytest.approx(want[1], rel=1e-14)
    # keywords, per-call dt, the decorator forms, the default method
    V2, w2 = intg(-1.0, 1.0, 0.0, Iext=1.0, a=0.7, b=0.8, tau=12.5)
    assert (float(V2), float(w2)) == (float(V), float(w))
    V3, _ = intg(-1.0, 1.0, 0.0, *FHN_P, dt=0.1)
    assert float(V3) == pytest.approx(_rk4_by_hand(fhn, (-1.0, 1.0), 0.0, 0.1, *FHN_P)[0])

    @odeint(method="heun2", dt=0.05)
    def deco(V, w, t, Iext, a=0.7, b=0.8, tau=12.5):
        return fhn(V, w, t, Iext, a, b, tau)

    Vh, _ = deco(-1.0, 1.0, 0.0, 1.0)  # defaults of f fill a, b, tau
    Vh2, _ = odeint(fhn, method="heun2", dt=0.05)(-1.0, 1.0, 0.0, *FHN_P)
    assert float(Vh) == float(Vh2)
    assert deco.method.name == "heun2" and deco.__name__ == "deco"

    @odeint
    def bare(x, t):
        return -x

    assert bare.method.name == "rk4"
    assert float(bare(1.0, 0.0, dt=0.1)) == pytest.approx(np.exp(-0.1), rel=1e-6)
    assert "rk4" in repr(bare)


def test_single_array_state_is_one_coupled_system():
    A = jnp.array([[-2.0, 1.0, 0.0], [0.5, -40.0, 3.0], [0.0, 2.0, -0.3]])

    def lin(y, t, A):
        return A @ y

    y0 = jnp.array([1.0, -2.0, 0.5])
    exact = jax.scipy.linalg.expm(A * 0.5) @ y0
    # exp_euler integrates a linear system exactly: needs the full dense Jacobian
    y = jax.jit(odeint(lin, method="exp_euler", dt=0.5))(y0, 0.0, A)
    assert y.shape == (3,)
    np.testing.assert_allclose(y, exact, rtol=1e-12)
    # implicit methods converge to the coupled solution too
    ts, traj = odeint(lin, method="crank_nicolson", dt=0.01).solve(y0, t1=0.5, params=(A,))
    assert traj.shape == (51, 3)
    np.testing.assert_allclose(traj[-1], exact, rtol=1e-4)
    # a 2-D array state keeps its shape
    Y = odeint(lambda y, t: -y, method="backward_euler", dt=0.1)(jnp.ones((2, 3)), 0.0)
    assert Y.shape == (2, 3)
    np.testing.assert_allclose(Y, 1 / 1.1)


@pytest.mark.parametrize("method", ["rk4", "exp_euler", "ind_exp_euler", "crank_nicolson"])
def test_broadcast_states_are_independent_elements(method):
    intg = odeint(fhn, method=method, dt=0.1)
    step = jax.jit(lambda V, I: intg(V, 1.0, 0.3, I, 0.7, 0.8, 12.5))  # w a scalar
    V = jnp.array([-1.0, -0.5, 0.0, 0.5, 1.5])
    I = jnp.array([0.0, 0.5, 1.0, 1.5, 2.0])
    Vn, wn = step(V, I)
    assert Vn.shape == wn.shape == (5,)
    for j in range(5):
        Vj, wj = step(V[j], I[j])  # one element on its own
        assert float(Vn[j]) == pytest.approx(float(Vj), rel=1e-13, abs=1e-15)
        assert float(wn[j]) == pytest.approx(float(wj), rel=1e-13, abs=1e-15)
    # states broadcast against parameters too (scalar states, array drive)
    Vp, wp = intg(-1.0, 1.0, 0.0, I, 0.7, 0.8, 12.5)
    assert Vp.shape == wp.shape == (5,)


def test_jit_vmap_grad():
    intg = odeint(fhn, method="rk4", dt=0.01)
    n = 500

    def final_V(I):
        def body(c, i):
            return intg(c[0], c[1], i * 0.01, I, 0.7, 0.8, 12.5), None

        (V, _), _ = jax.lax.scan(body, (jnp.asarray(-1.0), jnp.asarray(1.0)), jnp.arange(n))
        return V

    f = jax.jit(final_V)
    drives = jnp.array([0.2, 0.9, 1.3])
    batched = jax.jit(jax.vmap(final_V))(drives)
    np.testing.assert_allclose(batched, [float(f(d)) for d in drives], rtol=1e-12)
    g = float(jax.jit(jax.grad(final_V))(0.9))
    fd = (float(f(0.9 + 1e-6)) - float(f(0.9 - 1e-6))) / 2e-6
    assert np.isfinite(g) and g == pytest.approx(fd, rel=1e-5)
    # solve agrees with stepping by hand
    _, (Vs, _) = intg.solve(-1.0, 1.0, t1=n * 0.01, params=(0.9, 0.7, 0.8, 12.5))
    assert float(Vs[-1]) == pytest.approx(float(f(0.9)), rel=1e-12)


def test_solve_options():
    intg = odeint(fhn, method="ssprk3", dt=0.02)
    ts, (V, w) = intg.solve(-1.0, 1.0, t0=5.0, t1=7.0, params=(1.0, 0.7, 0.8, 12.5))
    assert ts.shape == V.shape == w.shape == (101,)
    assert float(ts[0]) == 5.0 and float(ts[-1]) == pytest.approx(7.0)
    assert (float(V[0]), float(w[0])) == (-1.0, 1.0)
    t_end, (Vf, wf) = intg.solve(-1.0, 1.0, t0=5.0, t1=7.0, record=False,
                                 params={"Iext": 1.0, "a": 0.7, "b": 0.8, "tau": 12.5})
    assert float(t_end) == pytest.approx(7.0)
    assert float(Vf) == float(V[-1]) and float(wf) == float(w[-1])
    # integer initial values become floats
    _, x = odeint(lambda x, t: -x, method="rk4", dt=0.1).solve(1, n_steps=10)
    assert x.dtype == jnp.result_type(float) and float(x[-1]) == pytest.approx(np.exp(-1.0))


# ----------------------------------------------------------------------------- errors


def test_errors():
    with pytest.raises(SolverError, match="did you mean 'rk4'"):
        odeint(fhn, method="rk_4")
    with pytest.raises(SolverError, match="did you mean 'exp_euler'"):
        odeint(fhn, method="exp_eular")
    with pytest.raises(OptionError, match="argument named 't'"):
        odeint(lambda V, w, time: (V, w))
    with pytest.raises(OptionError, match="no state"):
        odeint(lambda t, V: V)
    with pytest.raises(OptionError, match="must return 2"):
        odeint(lambda V, w, t: V)(1.0, 2.0, 0.0)
    with pytest.raises(OptionError, match="dt must be positive"):
        odeint(fhn, dt=0.0)
    with pytest.raises(OptionError, match="dt must be positive"):
        odeint(fhn)(-1.0, 1.0, 0.0, *FHN_P, dt=-0.1)
    with pytest.raises(OptionError):
        odeint(fhn)(-1.0, 1.0, 0.0)  # parameters missing
    with pytest.raises(OptionError, match="t1"):
        odeint(fhn).solve(-1.0, 1.0, params=FHN_P)


def test_explicit_method_refuses_stiff_function():
    def stiff(y, t):
        return -500.0 * (y - jnp.cos(t))

    # stiffness_dt is forward Euler's limit 2/500
    intg = odeint(stiff, method="rk4", dt=0.05, stiffness_dt=2 / 500)
    with pytest.raises(SolverError, match="exp_euler") as err:
        intg(1.0, 0.0)
    assert "dt <= 0.00557" in str(err.value)
    with pytest.raises(SolverError):
        intg.solve(1.0, t1=1.0)
    intg(1.0, 0.0, dt=0.005)  # within rk4's region: accepted
    y = odeint(stiff, method=get_integrator("rk4").suggest, dt=0.05,
               stiffness_dt=2 / 500).solve(1.0, t1=1.0)[1]
    assert abs(float(y[-1]) - np.cos(1.0)) < 0.05
