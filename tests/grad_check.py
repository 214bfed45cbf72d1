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
