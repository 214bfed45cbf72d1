"""The fused cable kernel on the mechanism groups' own arrays
(:func:`nmlcell.lower.cable.cable_solve_groups`): against a dense solve,
against the plain JAX formulation (values and all three cotangents), under
vmap with shared and batched operands, batch sizes that use every block
width of the kernel (32, 4, 1 systems), nested vmap, float32."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nmlcell  # noqa: F401  (configures JAX: float64)
from nmlcell.lower import cable

# the kernel is a CPU kernel: off the CPU the cable is solved by levels
# (tests/test_tree_levels.py)
needs_ffi = pytest.mark.skipif(jax.default_backend() != "cpu" or not cable.ffi_available(),
                               reason="the C++ kernel does not build here, or JAX computes on another device")


def tree(n, seed):
    """Unbranched runs of 1-6 nodes hanging off random earlier nodes (Hines order)."""
    rng = np.random.default_rng(seed)
    parent = [-1]
    while len(parent) < n:
        p = int(rng.integers(0, len(parent)))
        for _ in range(int(rng.integers(1, 7))):
            if len(parent) == n:
                break
            parent.append(p)
            p = len(parent) - 1
    return np.array(parent)


def system(sizes, seed=0):
    n = sum(sizes)
    p = tree(n, seed)
    rng = np.random.default_rng(seed + 1)
    a = -rng.uniform(0.1, 1.0, n)
    b = -rng.uniform(0.1, 1.0, n)
    a[0] = b[0] = 0.0
    dax = -b.copy()
    np.add.at(dax, p[1:], -a[1:])
    return cable.CableSystem(p, rng.permutation(n), a, b, dax, sizes=sizes), rng


def dense(cs, V, I, D):
    p, n = cs.tree.parent, cs.tree.n
    L = np.diag(cs.dax)
    for i in range(1, n):
        L[p[i], i] = cs.a[i]
        L[i, p[i]] = cs.b[i]
    Vh, Ih, Dh = V[cs.pos], I[cs.pos], D[cs.pos]
    x = np.linalg.solve(L + np.diag(Dh), -Ih - L @ Vh)
    out = np.empty(n)
    out[cs.pos] = x
    return out


SIZES = (1, 7, 40, 5)


def test_groups_match_dense_and_the_concatenated_call():
    cs, rng = system(SIZES)
    n = cs.tree.n
    V, I, D = rng.normal(-60, 10, n), rng.normal(0, 1, n), rng.uniform(1.0, 3.0, n)
    xs = cable.cable_solve_groups(cs, cs.split(V), cs.split(I), cs.split(D))
    assert [x.shape for x in xs] == [(s,) for s in SIZES]
    want = dense(cs, V, I, D)
    np.testing.assert_allclose(jnp.concatenate(xs), want, rtol=1e-11, atol=1e-11)
    np.testing.assert_array_equal(cable.cable_solve(cs, V, I, D), jnp.concatenate(xs))


def test_wrong_number_of_groups_is_refused():
    cs, rng = system(SIZES)
    with pytest.raises(ValueError, match="4 group"):
        cable.cable_solve_groups(cs, [jnp.zeros(3)], [jnp.zeros(3)], [jnp.zeros(3)])


@needs_ffi
@pytest.mark.parametrize("batch, dtype, tol", [(37, np.float64, 1e-13), (3, np.float32, 1e-5)])
def test_vmapped_with_shared_operands_and_gradients(batch, dtype, tol):
    """V batched, I batched in two groups and shared in the others, D shared:
    the kernel reads a shared operand for every system (no broadcast)."""
    cs, rng = system(SIZES, seed=3)
    n = cs.tree.n
    V = jnp.asarray(rng.normal(-60, 10, (batch, n)), dtype)
    I = jnp.asarray(rng.normal(0, 1, (batch, n)), dtype)
    I0 = jnp.asarray(rng.normal(0, 1, n), dtype)
    D = jnp.asarray(rng.uniform(1.0, 3.0, n), dtype)
    W = jnp.asarray(rng.normal(size=(batch, n)), dtype)

    def groups(V, I, D):
        Is = cs.split(I)
        Is = [Is[0], cs.split(I0)[1], Is[2], cs.split(I0)[3]]
        return jnp.concatenate(cable.cable_solve_groups(cs, cs.split(V), Is, cs.split(D)), axis=-1)

    def plain(V, I, D):
        Is = cs.split(I)
        I = jnp.concatenate([Is[0], cs.split(I0)[1], Is[2], cs.split(I0)[3]])
        return cs._jax(V, I, D)

    f = jax.jit(jax.vmap(groups, in_axes=(0, 0, None)))
    x = f(V, I, D)
    hlo = f.lower(V, I, D).compile().as_text()   # the CPU branch only: one call, no gather
    assert hlo.count('custom_call_target="nmlcell_cable_f') == 1 and " gather(" not in hlo
    want = jax.vmap(plain, in_axes=(0, 0, None))(V, I, D)
    assert x.dtype == dtype and x.shape == (batch, n)
    np.testing.assert_allclose(x, want, rtol=0, atol=tol * float(jnp.abs(want).max()))

    def loss(fn):
        return lambda V, I, D: jnp.sum(W * jax.vmap(fn, in_axes=(0, 0, None))(V, I, D) ** 2)

    g = jax.jit(jax.grad(loss(groups), argnums=(0, 1, 2)))(V, I, D)
    g_jax = jax.grad(loss(plain), argnums=(0, 1, 2))(V, I, D)
    for u, w in zip(g, g_jax):
        assert u.shape == w.shape
        np.testing.assert_allclose(u, w, rtol=0, atol=tol * 10 * float(jnp.abs(w).max()))


@needs_ffi
def test_nested_vmap_and_leading_axes():
    cs, rng = system(SIZES, seed=5)
    n = cs.tree.n
    V = rng.normal(-60, 10, (2, 3, n))
    I = rng.normal(0, 1, (2, 3, n))
    D = rng.uniform(1.0, 3.0, (3, n))

    def one(V, I, D):
        return jnp.concatenate(cable.cable_solve_groups(cs, cs.split(V), cs.split(I), cs.split(D)))

    x = jax.jit(jax.vmap(jax.vmap(one), in_axes=(0, 0, None)))(V, I, D)
    direct = jnp.concatenate(cable.cable_solve_groups(cs, cs.split(V), cs.split(I), cs.split(D)), axis=-1)
    for i in range(2):
        for j in range(3):
            want = dense(cs, V[i, j], I[i, j], D[j])
            np.testing.assert_allclose(x[i, j], want, rtol=1e-11, atol=1e-11)
            np.testing.assert_allclose(direct[i, j], want, rtol=1e-11, atol=1e-11)


def test_without_the_kernel(monkeypatch):
    monkeypatch.setenv("NMLCELL_NO_FFI", "1")
    cs, rng = system(SIZES, seed=7)
    n = cs.tree.n
    V, I, D = rng.normal(-60, 10, n), rng.normal(0, 1, n), rng.uniform(1.0, 3.0, n)
    f = lambda V: jnp.concatenate(  # noqa: E731
        cable.cable_solve_groups(cs, cs.split(V), cs.split(jnp.asarray(I)), cs.split(jnp.asarray(D))))
    assert "nmlcell_cable" not in str(jax.make_jaxpr(f)(V))
    np.testing.assert_allclose(f(V), dense(cs, V, I, D), rtol=1e-11, atol=1e-11)


@needs_ffi
def test_the_kernel_refuses_inconsistent_tables():
    """hpos must invert the node -> (group, row) map (CableSystem builds it
    so; the kernel checks once per set of tables)."""
    from nmlcell.lower import _hines_ffi

    cs, rng = system(SIZES, seed=9)
    n = cs.tree.n
    tables = list(cs._tables(jnp.float64))
    tables[3] = jnp.asarray(np.roll(cs.inv, 1))
    ins = [jnp.asarray(rng.normal(size=s)) for _ in range(3) for s in SIZES]
    with pytest.raises(Exception, match="hpos is not the inverse"):
        jax.block_until_ready(_hines_ffi.cable(tables, ins, [(s,) for s in SIZES]))
    ok = _hines_ffi.cable(cs._tables(jnp.float64), ins, [(s,) for s in SIZES])
    assert [x.shape for x in ok] == [(s,) for s in SIZES] and n == sum(SIZES)
