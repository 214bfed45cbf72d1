"""The staggered cable step under ``vmap``: the state phase on flat
(batch x instances) arrays and ``pas``'s exact ``di/dv`` change nothing
beyond round-off (bench D's case, small)."""
import jax
import jax.numpy as jnp
import numpy as np

import nmlcell
from nmlcell.lower import staggered

SWC = """1 1 0 0 0 10 -1
2 2 -10 0 0 0.5 1
3 2 -210 0 0 0.5 2
4 3 10 0 0 1 1
5 3 110 0 0 1 4
6 3 180 70 0 0.8 5
7 3 180 -70 0 0.8 5
"""


def _cell(tmp_path):
    swc = tmp_path / "y.swc"
    swc.write_text(SWC)
    cell = nmlcell.Cell(swc, nseg={"soma": 1, "axon": 5, "dend": 3}, cm=1.0, Ra=100.0)
    cell.insert("hh", where=["soma", "axon"])
    cell.insert("pas", where="dend", g=5e-5, e=-65.0)
    cell.add(nmlcell.IClamp(delay=1.0, dur=20.0, amp=0.3), at="soma[0](0.5)")
    return cell


def _batched(cell, duration=15.0):
    sim = cell.simulator(duration=duration, dt=0.025, record=["soma[0](0.5).v"])
    p = cell.parameters()
    gid = cell._index[cell._disc.locate("soma[0](0.5)")][0]

    def one(g):
        q = dict(p)
        q[gid] = dict(p[gid], gnabar_hh=jnp.broadcast_to(g, p[gid]["gnabar_hh"].shape))
        return sim(q)["soma[0](0.5).v"]

    return one


def test_vmapped_cable_equals_one_by_one_and_plain_batching(tmp_path, monkeypatch):
    vals = jnp.array([0.08, 0.12, 0.16])
    one = _batched(_cell(tmp_path))
    flat = np.asarray(jax.jit(jax.vmap(one))(vals))
    singles = np.stack([np.asarray(jax.jit(one)(g)) for g in vals])
    assert (flat.max(axis=1) > 0).any()          # some spike: the gates move
    assert np.max(np.abs(flat - singles)) < 1e-10
    monkeypatch.setattr(staggered, "FLAT_STATES_UNDER_VMAP", False)
    plain = np.asarray(jax.jit(jax.vmap(_batched(_cell(tmp_path))))(vals))
    assert np.max(np.abs(flat - plain)) < 1e-10
    # measured: bitwise equal on bench D's cell (100 values, 50 ms)
    assert np.max(np.abs(flat - plain)) <= 1e-12


def test_gradient_of_a_vmapped_cable(tmp_path):
    one = _batched(_cell(tmp_path), duration=5.0)

    def loss(g):
        return (one(g) ** 2).mean()

    vals = jnp.array([0.10, 0.14])
    g = np.asarray(jax.jit(jax.vmap(jax.grad(loss)))(vals))
    eps = 1e-6
    lj = jax.jit(loss)
    fd = [(float(lj(v + eps)) - float(lj(v - eps))) / (2 * eps) for v in vals]
    assert np.allclose(g, fd, rtol=1e-5)


def test_flat_under_vmap_matches_vmap():
    def fn(t, y, p):
        return (y[0] * jnp.exp(p["a"] * t) + p["b"], jnp.zeros_like(y[0]) + t)

    f = staggered._flat_under_vmap(fn)
    y = [jnp.linspace(0.0, 1.0, 12).reshape(3, 4)]
    p = {"a": jnp.linspace(-1.0, 1.0, 4), "b": 0.5}
    ref = jax.vmap(fn, (None, 0, None))(0.3, y, p)
    got = jax.vmap(f, (None, 0, None))(0.3, y, p)
    for a, b in zip(ref, got):
        assert a.shape == b.shape and np.allclose(a, b, rtol=1e-15, atol=0)
    g1 = jax.grad(lambda y0: jax.vmap(f, (None, 0, None))(0.3, [y0], p)[0].sum())(y[0])
    g0 = jax.grad(lambda y0: jax.vmap(fn, (None, 0, None))(0.3, [y0], p)[0].sum())(y[0])
    assert np.array_equal(np.asarray(g1), np.asarray(g0))


def test_pas_slope_is_exact_and_hh_keeps_the_finite_difference(tmp_path):
    cell = _cell(tmp_path)
    cell.run(duration=0.1, dt=0.025, record=["soma[0](0.5).v"], progress=False)
    # this cell's own kernels (other tests' kernels may still be alive)
    groups = cell.model().lowered.groups.values()
    srcs = {g.mech.name: g.staggered.source for g in groups if g.staggered is not None}
    pas = [s for s in srcs.values() if "g_pas" in s]
    hh = [s for s in srcs.values() if "gnabar_hh" in s]
    assert pas and hh
    assert all("g_ = (p" in s and "_g_pas)" in s for s in pas)
    assert all("/ 0.001" in s.split("g_ =")[1].splitlines()[0] for s in hh)
