"""jax.grad of a recorded trace's mean with respect to one parameter
array's scale, and the central finite difference it is compared with."""
from __future__ import annotations


def grad_and_fd(sim, params: dict, name: str, record: str, h: float = 1e-5) -> tuple[float, float]:
    """(d/ds, central difference) of ``mean(sim(params with the first
    group's ``name`` scaled by s)[record])`` at s = 1."""
    import jax

    gid = next(k for k in params if k != "__global__" and name in params[k])

    def loss(scale):
        q = jax.tree.map(lambda a: a, params)
        q[gid][name] = params[gid][name] * scale
        return sim(q)[record].mean()

    return float(jax.grad(loss)(1.0)), float((loss(1.0 + h) - loss(1.0 - h)) / (2 * h))


def weight_grad_and_vmap(net, cell: str, key: str, duration: float, w0: float, ws, dt: float = 0.025) -> None:
    """Assert that jax.grad of the mean v of ``cell`` with respect to the
    weight ``key`` (e.g. "ExpSyn[0]#0.w0") of that cell's instance agrees
    with a central difference (1e-4 relative, the loss increasing in w) at
    ``w0``, and that jax.vmap over the weights ``ws`` gives the runs one by
    one (1e-11 mV)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    sim = net.simulator(duration=duration, dt=dt)
    p = net.parameters(dt=dt)
    gid, i = net.where(cell)

    def mean_v(w):
        q = dict(p)
        q[gid] = {**q[gid], key: q[gid][key].at[i].set(w)}
        return sim(q)[f"{cell}.v"].mean()

    one = jax.jit(mean_v)
    g = jax.jit(jax.grad(mean_v))(w0)
    fd = (one(w0 + 1e-6) - one(w0 - 1e-6)) / 2e-6
    assert abs(g - fd) < 1e-4 * abs(fd) and fd > 0, (g, fd)
    ws = jnp.asarray(ws)
    assert np.allclose(jax.jit(jax.vmap(mean_v))(ws), [one(w) for w in ws], rtol=0, atol=1e-11)
