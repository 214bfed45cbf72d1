"""The cable (Hines) tree solve: against dense solves, under vmap/jit, in both
precisions, its gradients, and the C++ kernel against the JAX loop."""
from __future__ import annotations

import numpy as np
import pytest

import nmlcell  # noqa: F401  (JAX configured by nmlcell: float64 on)
import jax
import jax.numpy as jnp
from jax import lax

from nmlcell.lower import _hines_ffi, cable

# ----------------------------------------------------------------------------- trees


def chain(n):
    return np.arange(-1, n - 1)


def binary(levels, per_branch):
    parent = [-1]

    def branch(p, level):
        for k in range(per_branch):
            parent.append(p if k == 0 else len(parent) - 1)
        last = len(parent) - 1
        if level + 1 < levels:
            branch(last, level + 1)
            branch(last, level + 1)

    branch(0, 0)
    return np.asarray(parent)


def soma_axon_dendrite():
    """The 516-compartment cell of the issue's bench C: soma, a 7-compartment
    axon, a binary dendrite of 127 branches of 4 compartments, depth first."""
    parent = [-1] + [0] + list(range(1, 7))

    def branch(p, level):
        for k in range(4):
            parent.append(p if k == 0 else len(parent) - 1)
        if level + 1 < 7:
            last = len(parent) - 1
            branch(last, level + 1)
            branch(last, level + 1)

    branch(0, 0)
    return np.asarray(parent)


def random_tree(n, seed):
    rng = np.random.default_rng(seed)
    return np.concatenate([[-1], [rng.integers(0, i) for i in range(1, n)]])


def star(n):
    """A soma with n - 1 single-compartment children (many children per node)."""
    return np.concatenate([[-1], np.zeros(n - 1, int)])


TREES = {
    "single": chain(1),
    "pair": chain(2),
    "chain50": chain(50),
    "binary": binary(4, 3),
    "star": star(12),
    "random200": random_tree(200, 0),
    "bench_c": soma_axon_dendrite(),
}


def system(parent, seed=0, batch=(), dtype=np.float64):
    """A random non-symmetric, diagonally dominant tree matrix and right-hand side."""
    n = len(parent)
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.2, 1.0, batch + (n,)) * rng.choice([-1, 1], batch + (n,))
    b = rng.uniform(0.2, 1.0, batch + (n,)) * rng.choice([-1, 1], batch + (n,))
    a[..., 0] = b[..., 0] = 0.0
    off = np.abs(b).copy()
    for i in range(1, n):
        off[..., parent[i]] += np.abs(a[..., i])
    d = off + rng.uniform(0.5, 2.0, batch + (n,))
    rhs = rng.normal(size=batch + (n,))
    return tuple(x.astype(dtype) for x in (a, b, d, rhs))


def dense(parent, a, b, d):
    return np.asarray(cable.tree_to_dense(parent, a, b, d), np.float64)


HAVE_FFI = cable.ffi_available()  # builds the kernel once per machine (a few seconds)
needs_ffi = pytest.mark.skipif(not HAVE_FFI or jax.default_backend() != "cpu",
                               reason="C++ tree-solve kernel unavailable: " + (
    "NMLCELL_NO_FFI is set" if _hines_ffi.disabled_by_env() else
    _hines_ffi.status()["why"] if not HAVE_FFI else "a CPU kernel; JAX computes on another device"))
METHODS = ["jax", pytest.param("ffi", marks=needs_ffi)]

# ----------------------------------------------------------------------------- the tree


def test_bench_c_tree_shape():
    p = soma_axon_dendrite()
    t = cable.hines_tree(p)
    assert t.n == 516 and t.n_leaves == 1 + 64
    assert (p[1:] < np.arange(1, 516)).all()


def test_dense_matches_neuron_layout():
    p = np.array([-1, 0, 1, 0])
    a = np.array([0.0, 1.0, 2.0, 3.0])
    b = np.array([0.0, 4.0, 5.0, 6.0])
    d = np.array([7.0, 8.0, 9.0, 10.0])
    m = dense(p, a, b, d)
    want = np.array([[7, 1, 0, 3], [4, 8, 2, 0], [0, 5, 9, 0], [6, 0, 0, 10]], float)
    np.testing.assert_array_equal(m, want)
    x = np.arange(4.0)
    np.testing.assert_allclose(cable.tree_matvec(p, a, b, d, x), m @ x)


@pytest.mark.parametrize("parent, msg", [
    ([0, 0, 1], "parent\\[0\\] must be -1"),
    ([-1, 0, 2], "parent\\[2\\] = 2"),
    ([-1, 0, 3, 1], "parent\\[2\\] = 3"),
    ([-1, -1], "parent\\[1\\] = -1"),
])
def test_bad_order_is_refused(parent, msg):
    with pytest.raises(ValueError, match=msg):
        cable.hines_tree(parent)


def test_wrong_node_count_is_refused():
    a, b, d, rhs = system(chain(5))
    with pytest.raises(ValueError, match="5 nodes"):
        cable.tree_solve(chain(5), a, b, d, rhs[:4])


def test_unknown_method():
    a, b, d, rhs = system(chain(3))
    with pytest.raises(ValueError, match="unknown tree-solve method"):
        cable.tree_solve(chain(3), a, b, d, rhs, method="lu")

# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", list(TREES))
def test_solve_matches_dense(name, method):
    p = TREES[name]
    a, b, d, rhs = system(p, seed=len(p))
    x = cable.tree_solve(p, a, b, d, rhs, method=method)
    want = np.linalg.solve(dense(p, a, b, d), rhs)
    np.testing.assert_allclose(x, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cable.tree_matvec(p, a, b, d, x), rhs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_against_scipy_sparse(method):
    sp = pytest.importorskip("scipy.sparse")
    spla = pytest.importorskip("scipy.sparse.linalg")
    p = random_tree(2000, 3)
    a, b, d, rhs = system(p, seed=5)
    i = np.arange(1, len(p))
    m = sp.coo_matrix((np.concatenate([d, a[1:], b[1:]]),
                       (np.concatenate([np.arange(len(p)), p[1:], i]),
                        np.concatenate([np.arange(len(p)), i, p[1:]])))).tocsc()
    want = spla.spsolve(m, rhs)
    np.testing.assert_allclose(cable.tree_solve(p, a, b, d, rhs, method=method), want,
                               rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_float32(method):
    p = TREES["bench_c"]
    a, b, d, rhs = system(p, seed=1, dtype=np.float32)
    x = cable.tree_solve(p, a, b, d, rhs, method=method)
    assert x.dtype == jnp.float32
    want = np.linalg.solve(dense(p, a, b, d), rhs.astype(np.float64))
    np.testing.assert_allclose(x, want, rtol=2e-5, atol=2e-5)


def test_integer_and_mixed_inputs_promote():
    p = chain(4)
    x = cable.tree_solve(p, np.zeros(4), np.zeros(4), np.full(4, 2), np.arange(4))
    assert x.dtype == jnp.float64
    np.testing.assert_allclose(x, np.arange(4) / 2)


@pytest.mark.parametrize("method", METHODS)
def test_broadcast_leading_axes(method):
    p = TREES["binary"]
    n = len(p)
    a, b, _, _ = system(p, seed=2)
    _, _, d, rhs = system(p, seed=3, batch=(3, 5))
    x = cable.tree_solve(p, a, b, d, rhs, method=method)
    assert x.shape == (3, 5, n)
    for i in range(3):
        for j in range(5):
            want = np.linalg.solve(dense(p, a, b, d[i, j]), rhs[i, j])
            np.testing.assert_allclose(x[i, j], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("batch", [1, 3, 4, 9])
def test_vmap_and_jit(method, batch):
    p = TREES["bench_c"]
    a, b, d, rhs = system(p, seed=4, batch=(batch,))
    f = jax.jit(jax.vmap(lambda a, b, d, r: cable.tree_solve(p, a, b, d, r, method=method)))
    x = f(a, b, d, rhs)
    for k in range(batch):
        np.testing.assert_allclose(x[k], np.linalg.solve(dense(p, a[k], b[k], d[k]), rhs[k]),
                                   rtol=1e-12, atol=1e-12)
    # a shared matrix, batched right-hand sides; nested vmap
    g = jax.vmap(jax.vmap(lambda r: cable.tree_solve(p, a[0], b[0], d[0], r, method=method)))
    x2 = g(jnp.stack([rhs, 2 * rhs]))
    np.testing.assert_allclose(x2[1], 2 * x2[0], rtol=1e-12, atol=1e-12)

# ----------------------------------------------------------------------------- gradients


def _dense_solve(p, a, b, d, rhs):
    return jnp.linalg.solve(cable.tree_to_dense(p, a, b, d), rhs)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", ["pair", "binary", "star", "random200"])
def test_grad_matches_dense_autodiff(name, method):
    p = TREES[name]
    a, b, d, rhs = system(p, seed=7)
    w = np.random.default_rng(8).normal(size=len(p))

    def loss(solve):
        return lambda a, b, d, r: jnp.sum(w * solve(p, a, b, d, r) ** 2)

    got = jax.grad(loss(lambda *v: cable.tree_solve(*v, method=method)), argnums=(0, 1, 2, 3))(a, b, d, rhs)
    want = jax.grad(loss(_dense_solve), argnums=(0, 1, 2, 3))(a, b, d, rhs)
    for g, h in zip(got, want):
        np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-12)
    # the root's a and b are not in the matrix
    assert got[0][0] == 0 and got[1][0] == 0


@pytest.mark.parametrize("method", METHODS)
def test_grad_matches_finite_differences(method):
    p = TREES["random200"]
    a, b, d, rhs = system(p, seed=9)
    rng = np.random.default_rng(10)
    dirs = [rng.normal(size=len(p)) for _ in range(4)]
    for k in (0, 1):  # a and b: leave the ignored root entry out of the direction
        dirs[k][0] = 0.0
    args = [jnp.asarray(v) for v in (a, b, d, rhs)]

    def f(*v):
        return jnp.sum(jnp.sin(cable.tree_solve(p, *v, method=method)))

    g = jax.grad(f, argnums=(0, 1, 2, 3))(*args)
    h = 1e-6
    for k in range(4):
        up = list(args)
        dn = list(args)
        up[k] = args[k] + h * dirs[k]
        dn[k] = args[k] - h * dirs[k]
        fd = (f(*up) - f(*dn)) / (2 * h)
        np.testing.assert_allclose(jnp.vdot(g[k], dirs[k]), fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_forward_mode(method):
    p = TREES["binary"]
    a, b, d, rhs = system(p, seed=11)
    jac = jax.jacfwd(lambda d: cable.tree_solve(p, a, b, d, rhs, method=method))(jnp.asarray(d))
    want = jax.jacfwd(lambda d: _dense_solve(p, a, b, d, rhs))(jnp.asarray(d))
    np.testing.assert_allclose(jac, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_grad_through_many_steps_vmapped(method):
    """Backward Euler on a passive cable, 200 steps in a scan, batched over
    conductances: the gradient agrees with the same loop on a dense solve."""
    p = TREES["bench_c"]
    n = len(p)
    a, b, _, _ = system(p, seed=12)
    a, b = -np.abs(a), -np.abs(b)
    axial = -b.copy()
    np.add.at(axial, p[1:], -a[1:])
    v0 = np.random.default_rng(13).uniform(-70, -60, n)

    def run(solve, g):
        def step(v, _):
            rhs = -g * (v + 65.0) - cable.tree_matvec(p, a, b, axial, v)
            return v + solve(p, a, b, 0.04 + axial + g, rhs), None
        return jnp.sum(lax.scan(step, v0, None, length=200)[0] ** 2)

    gs = jnp.array([1e-4, 3e-4, 1e-3])
    got = jax.jit(jax.vmap(jax.value_and_grad(lambda g: run(
        lambda *v: cable.tree_solve(*v, method=method), g))))(gs)
    want = jax.vmap(jax.value_and_grad(lambda g: run(_dense_solve, g)))(gs)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-11)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-8)


def test_float32_gradient_close_to_float64():
    p = TREES["bench_c"]
    a, b, d, rhs = system(p, seed=14)

    def g(dtype):
        v = [jnp.asarray(x, dtype) for x in (a, b, d, rhs)]
        return jax.grad(lambda d: jnp.sum(cable.tree_solve(p, v[0], v[1], d, v[3]) ** 2))(v[2])

    np.testing.assert_allclose(g(jnp.float32), g(jnp.float64), rtol=1e-3, atol=1e-5)

# ----------------------------------------------------------------------------- kernel vs fallback


@needs_ffi
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-13), (np.float32, 1e-5)])
@pytest.mark.parametrize("batch", [(), (5,), (2, 4)])
def test_ffi_agrees_with_jax(dtype, tol, batch):
    p = TREES["bench_c"]
    a, b, d, rhs = system(p, seed=15, batch=batch, dtype=dtype)
    x_ffi = cable.tree_solve(p, a, b, d, rhs, method="ffi")
    x_jax = cable.tree_solve(p, a, b, d, rhs, method="jax")
    assert x_ffi.dtype == x_jax.dtype == dtype
    scale = np.abs(np.asarray(x_jax, np.float64)).max()
    np.testing.assert_allclose(x_ffi, x_jax, rtol=0, atol=tol * scale)
    ga = jax.grad(lambda d: jnp.sum(cable.tree_solve(p, a, b, d, rhs, method="ffi") ** 2))(d)
    gb = jax.grad(lambda d: jnp.sum(cable.tree_solve(p, a, b, d, rhs, method="jax") ** 2))(d)
    np.testing.assert_allclose(ga, gb, rtol=0, atol=tol * 10 * np.abs(np.asarray(gb)).max())


def test_no_ffi_env_forces_fallback(monkeypatch):
    monkeypatch.setenv("NMLCELL_NO_FFI", "1")
    p = TREES["binary"]
    a, b, d, rhs = system(p, seed=16)
    jaxpr = jax.make_jaxpr(lambda r: cable.tree_solve(p, a, b, d, r))(rhs)
    assert "nmlcell_hines" not in str(jaxpr)
    np.testing.assert_allclose(cable.tree_solve(p, a, b, d, rhs),
                               np.linalg.solve(dense(p, a, b, d), rhs), rtol=1e-12)
    with pytest.raises(RuntimeError, match="NMLCELL_NO_FFI"):
        cable.tree_solve(p, a, b, d, rhs, method="ffi")


def test_failed_build_falls_back_to_the_jax_solve(monkeypatch, tmp_path):
    """A compiler that fails (here: $CXX is `false`) leaves the JAX solve in use
    (with one KernelBuildWarning a process: tests/test_ffi_build_warning.py)."""
    monkeypatch.delenv("NMLCELL_NO_FFI", raising=False)
    monkeypatch.setenv("NMLCELL_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", "false")
    monkeypatch.setattr(_hines_ffi, "_state", {"tried": False, "ok": False, "why": "", "path": None})
    assert cable.ffi_available() is False
    assert "failed" in _hines_ffi.status()["why"]
    p = TREES["chain50"]
    a, b, d, rhs = system(p, seed=17)
    np.testing.assert_allclose(cable.tree_solve(p, a, b, d, rhs),
                               np.linalg.solve(dense(p, a, b, d), rhs), rtol=1e-12)

# ----------------------------------------------------------------------------- NEURON's matrix


def test_axial_coefficients_are_zero_row_sum_and_batch():
    p = TREES["random200"]
    rng = np.random.default_rng(19)
    area = rng.uniform(10, 500, (3, len(p)))
    ri = rng.uniform(0.1, 5, len(p))
    a, b, axial = cable.axial_coefficients(p, area, ri)
    assert a.shape == b.shape == axial.shape == (3, len(p))
    m = dense(p, a[1], b[1], axial[1])
    np.testing.assert_allclose(m.sum(axis=1), 0, atol=1e-9)
    np.testing.assert_allclose(b[1, 5], -100 / (ri[5] * area[1, 5]))
    np.testing.assert_allclose(a[1, 5], -100 / (ri[5] * area[1, p[5]]))


def _neuron_cell(h):
    """A passive cell with branches at section ends and middles."""
    secs = {}
    for name, L, diam, nseg, parent, x in [("soma", 20, 20, 1, None, 0), ("d1", 200, 2, 5, "soma", 1),
                                           ("d2", 150, 1.5, 4, "soma", 0.5), ("d3", 100, 1, 3, "d1", 1),
                                           ("d4", 80, 0.8, 3, "d1", 0.5)]:
        s = h.Section(name=f"tree_solve_{name}")
        s.L, s.diam, s.nseg, s.Ra, s.cm = L, diam, nseg, 123.0, 1.3
        s.insert("pas")
        for seg in s:
            seg.pas.g, seg.pas.e = 2e-4, -65.0
        if parent:
            s.connect(secs[parent](x))
        secs[name] = s
    return secs


def _neuron_nodes(root):
    """NEURON's nodes in Hines order, depth first: the root section's 0 end,
    then per section its segment centres and its (zero-area) 1 end."""
    nodes, parent, index = [], [], {}

    def add(seg, p):
        x = seg.x if seg.x in (0.0, 1.0) else seg.sec(seg.x).x
        index[(seg.sec.name(), x)] = len(nodes)
        nodes.append(seg)
        parent.append(p)

    def walk(sec, pnode):
        prev = pnode
        for seg in sec:
            add(seg, prev)
            prev = len(nodes) - 1
        add(sec(1), prev)
        for child in sorted(sec.children(), key=lambda c: c.name()):
            x = child.parentseg().x
            key = (sec.name(), x if x in (0.0, 1.0) else sec(x).x)
            walk(child, index[key])

    add(root(0), -1)
    walk(root, 0)
    return nodes, np.asarray(parent)


def test_neuron_voltage_step_convention():
    """The convention in tree_solve's docstring (axial_coefficients from
    NEURON's areas and ri) reproduces NEURON's fixed step on a branched
    passive cell, zero-area section ends included."""
    pytest.importorskip("neuron")
    from neuron import h

    secs = _neuron_cell(h)
    old_dt = h.dt
    try:
        nodes, parent = _neuron_nodes(secs["soma"])
        n = len(nodes)
        area = np.array([seg.area() for seg in nodes])
        ri = np.array([seg.ri() for seg in nodes])
        membrane = area > 0
        cm = np.array([seg.cm if m else 0.0 for seg, m in zip(nodes, membrane)])
        g = np.array([seg.pas.g if m else 0.0 for seg, m in zip(nodes, membrane)])
        area = np.where(membrane, area, 100.0)  # NEURON's zero-area nodes count as 100 µm²
        a, b, axial = (np.asarray(x) for x in cable.axial_coefficients(parent, area, ri))
        dt = 0.025
        h.dt = dt
        h.finitialize(-65.0)
        v = np.random.default_rng(0).uniform(-80.0, -50.0, n)
        for seg, vi in zip(nodes, v):
            seg.v = vi
        v0 = v.copy()
        for _ in range(40):
            h.fadvance()
            rhs = -g * (v + 65.0) - np.asarray(cable.tree_matvec(parent, a, b, axial, v))
            v = v + np.asarray(cable.tree_solve(parent, a, b, 1e-3 * cm / dt + g + axial, rhs))
        v_nrn = np.array([seg.v for seg in nodes])
        assert np.abs(v - v0).max() > 5.0  # the voltages did move
        np.testing.assert_allclose(v, v_nrn, rtol=0, atol=1e-9)
    finally:
        h.dt = old_dt
        del secs


def test_other_float_types_use_the_jax_loop_and_complex_is_refused():
    p = TREES["binary"]
    a, b, d, rhs = system(p, seed=18)
    x = cable.tree_solve(p, *(jnp.asarray(v, jnp.bfloat16) for v in (a, b, d, rhs)))
    assert x.dtype == jnp.bfloat16
    want = np.linalg.solve(dense(p, a, b, d), rhs)
    np.testing.assert_allclose(np.asarray(x, np.float64), want, rtol=0.1, atol=0.1)
    with pytest.raises(TypeError, match="real systems"):
        cable.tree_solve(p, a, b, d, rhs + 0j)


@pytest.mark.parametrize("method", METHODS)
def test_cells_sharded_over_devices_with_shard_map(method):
    """Cells split over the CPU devices nmlcell creates, each device solving
    its own block. The kernel path needs ``check_vma=False`` (JAX 0.10's
    custom_linear_solve with an FFI call inside shard_map trips its varying-
    axes check); under plain NamedSharding propagation XLA would gather the
    kernel's operands onto every device instead."""
    if len(jax.devices()) < 2:
        pytest.skip("one device")
    from jax.sharding import PartitionSpec as P

    mesh = jax.make_mesh((2,), ("cells",))
    p = TREES["bench_c"]
    a, b, d, rhs = system(p, seed=20, batch=(6,))
    f = jax.jit(jax.shard_map(lambda *v: cable.tree_solve(p, *v, method=method), mesh=mesh,
                              in_specs=P("cells"), out_specs=P("cells"), check_vma=False))
    cells = jax.sharding.NamedSharding(mesh, P("cells"))
    x = np.asarray(f(*(jax.device_put(jnp.asarray(v), cells) for v in (a, b, d, rhs))))
    for k in (0, 5):
        np.testing.assert_allclose(x[k], np.linalg.solve(dense(p, a[k], b[k], d[k]), rhs[k]),
                                   rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- a cable step's fused system


def cable_system(name, seed):
    """A CableSystem on one of TREES with NEURON-like coefficients (a, b < 0,
    dax = -b - sum of the children's a) and a random caller order."""
    p = TREES[name]
    n = len(p)
    rng = np.random.default_rng(seed)
    a = -rng.uniform(0.1, 1.0, n)
    b = -rng.uniform(0.1, 1.0, n)
    a[0] = b[0] = 0.0
    dax = -b.copy()
    np.add.at(dax, p[1:], -a[1:])
    return cable.CableSystem(p, rng.permutation(n), a, b, dax), rng


def cable_dense(cs, V, I, D):
    """x = A^-1 (-I - L V) with dense matrices, in the caller's order."""
    p, n = cs.tree.parent, cs.tree.n
    L = dense(p, cs.a, cs.b, cs.dax)
    Vh, Ih, Dh = V[cs.pos], I[cs.pos], D[cs.pos]
    x = np.linalg.solve(L + np.diag(Dh), -Ih - L @ Vh)
    out = np.empty(n)
    out[cs.pos] = x
    return out


@pytest.mark.parametrize("name", ["single", "pair", "star", "random200", "bench_c"])
def test_cable_solve_matches_dense(name):
    cs, rng = cable_system(name, 30)
    n = cs.tree.n
    V, I = rng.normal(-60, 10, n), rng.normal(0, 1, n)
    D = rng.uniform(1.0, 3.0, n)
    want = cable_dense(cs, V, I, D)
    np.testing.assert_allclose(cable.cable_solve(cs, V, I, D), want, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(cs._jax(*map(jnp.asarray, (V, I, D))), want, rtol=1e-11, atol=1e-11)


@needs_ffi
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-13), (np.float32, 1e-5)])
def test_cable_kernel_agrees_with_jax_under_vmap_and_in_reverse_mode(dtype, tol):
    """The fused kernel (one FFI call, custom_vjp with the transposed kernel)
    against the plain JAX formulation differentiated by JAX: values and all
    three cotangents, vmapped with one input shared by the batch."""
    cs, rng = cable_system("bench_c", 31)
    n = cs.tree.n
    V = jnp.asarray(rng.normal(-60, 10, (6, n)), dtype)
    I = jnp.asarray(rng.normal(0, 1, (6, n)), dtype)
    D = jnp.asarray(rng.uniform(1.0, 3.0, n), dtype)   # shared: vmap's expand_dims
    W = jnp.asarray(rng.normal(size=(6, n)), dtype)

    def loss(f):
        return lambda V, I, D: jnp.sum(W * jax.vmap(f, in_axes=(0, 0, None))(V, I, D) ** 2)

    fused = jax.jit(jax.vmap(lambda *v: cable.cable_solve(cs, *v), in_axes=(0, 0, None)))
    x = fused(V, I, D)
    assert "nmlcell_cable" in str(jax.make_jaxpr(fused)(V, I, D))
    x_jax = jax.vmap(cs._jax, in_axes=(0, 0, None))(V, I, D)
    assert x.dtype == dtype and x.shape == (6, n)
    scale = float(jnp.abs(x_jax).max())
    np.testing.assert_allclose(x, x_jax, rtol=0, atol=tol * scale)
    g = jax.grad(loss(lambda *v: cable.cable_solve(cs, *v)), argnums=(0, 1, 2))(V, I, D)
    g_jax = jax.grad(loss(cs._jax), argnums=(0, 1, 2))(V, I, D)
    for u, w in zip(g, g_jax):
        assert u.shape == w.shape
        np.testing.assert_allclose(u, w, rtol=0, atol=tol * 10 * float(jnp.abs(w).max()))


def test_cable_solve_without_the_kernel(monkeypatch):
    monkeypatch.setenv("NMLCELL_NO_FFI", "1")
    cs, rng = cable_system("random200", 32)
    n = cs.tree.n
    V, I, D = rng.normal(-60, 10, n), rng.normal(0, 1, n), rng.uniform(1.0, 3.0, n)
    f = lambda V: cable.cable_solve(cs, V, I, D)  # noqa: E731
    assert "nmlcell_cable" not in str(jax.make_jaxpr(f)(V))
    np.testing.assert_allclose(f(V), cable_dense(cs, V, I, D), rtol=1e-11, atol=1e-11)
    jax.jvp(f, (V,), (jnp.ones(n),))  # forward mode through the JAX formulation


def test_grad_through_a_branched_hh_cell_matches_finite_differences(tmp_path):
    """jax.grad of a loss over 10 ms of a small bench-C-like cell (hh in soma
    and axon, pas in a 7-branch tree) with respect to the scale of every
    conductance, through the fused kernel's custom_vjp and the step's
    rematerialisation, against central differences."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import bench_cable

    swc = tmp_path / "tree.swc"
    bench_cable.write_tree(swc, depth=3)
    cell = bench_cable.build(swc)
    sim = cell.simulator(duration=10.0, dt=0.025, record=["soma[0](0.5).v"])
    p = cell.parameters()
    keys = [(g, k) for g, d in p.items() if g != "__global__" for k in d
            if k in ("gnabar_hh", "gkbar_hh", "gl_hh", "g_pas")]
    assert len(keys) == 7

    def loss(s):
        q = {g: dict(d) for g, d in p.items()}
        for (g, k), sc in zip(keys, s):
            q[g][k] = p[g][k] * sc
        return (sim(q)["soma[0](0.5).v"] ** 2).mean()

    s0 = jnp.ones(len(keys))
    grad = np.asarray(jax.jit(jax.grad(loss))(s0))
    f = jax.jit(loss)
    fd = np.array([(f(s0.at[i].add(1e-6)) - f(s0.at[i].add(-1e-6))) / 2e-6 for i in range(len(keys))])
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())
