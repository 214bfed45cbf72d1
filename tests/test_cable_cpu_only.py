"""In a process without GPU/TPU backends the cable and tree solves call their
CPU branch directly instead of through ``lax.platform_dependent`` (which
traces the unused pure-JAX branch too): values, gradients and the
lowered computation are bitwise those of the ``platform_dependent`` route."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nmlcell  # noqa: F401  (configures JAX: float64)
from nmlcell.lower import cable
from test_cable_groups import SIZES, system

pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu" or not cable.cpu_only(),
                                reason="an accelerator backend is present: platform_dependent is kept")


def _both(monkeypatch, f, *args):
    """f(*args) with the direct CPU call and with platform_dependent."""
    out = []
    for direct in (True, False):
        monkeypatch.setattr(cable, "cpu_only", lambda d=direct: d)
        out.append(jax.tree.map(np.asarray, jax.jit(lambda *a: f(*a))(*args)))  # a fresh trace
    return out


@pytest.mark.parametrize("add_v", [False, True])
def test_cable_groups_bitwise(monkeypatch, add_v):
    cs, rng = system(SIZES, seed=3)
    n = sum(SIZES)
    V, I = rng.normal(-60, 5, (2, n)), rng.normal(0, 0.1, (2, n))
    D = rng.uniform(0.5, 2.0, (2, n))

    def loss(V, I, D):
        xs = cable.cable_solve_groups(cs, cs.split(V), cs.split(I), cs.split(D), add_v=add_v)
        return sum(jnp.sum(jnp.sin(x)) for x in xs)

    def f(V, I, D):
        xs = cable.cable_solve_groups(cs, cs.split(V), cs.split(I), cs.split(D), add_v=add_v)
        return xs, jax.grad(loss, argnums=(0, 1, 2))(V, I, D)

    a, b = _both(monkeypatch, f, V, I, D)
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    assert np.all(np.isfinite(jax.tree.leaves(a)[-1]))


@pytest.mark.parametrize("method", ["auto", "jax"])
def test_tree_solve_bitwise(monkeypatch, method):
    cs, rng = system((30,), seed=5)
    d = 2.0 + rng.uniform(0, 1, (3, 30))
    r = rng.normal(size=(3, 30))

    def f(d, r):
        x = cable.tree_solve(cs.tree, cs.a, cs.b, d, r, method=method)
        return x, jax.grad(lambda d, r: jnp.sum(cable.tree_solve(cs.tree, cs.a, cs.b, d, r, method=method) ** 2),
                           argnums=(0, 1))(d, r)

    a, b = _both(monkeypatch, f, d, r)
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_direct_path_traces_no_fallback(monkeypatch):
    """The jaxpr of the direct route holds neither the platform switch nor
    the pure-JAX solve's loops."""
    cs, rng = system(SIZES, seed=1)
    n = sum(SIZES)
    V, I, D = rng.normal(-60, 5, n), rng.normal(0, 0.1, n), rng.uniform(0.5, 2.0, n)

    def f(V, I, D):
        return cable.cable_solve_groups(cs, cs.split(V), cs.split(I), cs.split(D))

    txt = str(jax.make_jaxpr(f)(V, I, D))
    if cable.ffi_available():
        assert "platform_index" not in txt and "while" not in txt
