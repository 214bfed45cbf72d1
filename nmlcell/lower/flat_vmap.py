"""A group kernel run on a batch and a group's instances as one flat axis
under ``vmap`` (:func:`flat_under_vmap`), for the state updates of
:mod:`nmlcell.lower.staggered`."""
from __future__ import annotations


def flat_under_vmap(fn):
    """``fn`` (element-wise over a group's instances: every array argument
    of shape ``(n,)`` or a scalar) that, under ``vmap``, runs on the batch
    and the instances as one flat axis: ``(B, n)`` -> ``(B*n,)``, unbatched
    ``(n,)`` arrays broadcast first. XLA's CPU loops vectorise the last axis
    only: a state update on ``(100, 7)`` measured 24 us per call against
    9.4 on ``(700,)`` (hh's gates, the axon's 7 nodes). Results differ from
    the batched form by the last bits where the vectorised and scalar code
    contract differently (1.2e-15 on a gate). Arguments of other shapes
    fall back to the plain batching. Outside ``vmap``, and under
    differentiation (its JVP is ``fn``'s), it is ``fn``."""
    import jax
    import jax.numpy as jnp
    from jax.custom_batching import custom_vmap

    def wrapped(*args):
        leaves, tree = jax.tree_util.tree_flatten(args)
        arr = [k for k, x in enumerate(leaves) if not isinstance(x, (int, float, complex))]
        if not arr:
            return fn(*args)

        def call(ls):
            full = list(leaves)
            for k, x in zip(arr, ls):
                full[k] = x
            return fn(*jax.tree_util.tree_unflatten(tree, full))

        @custom_vmap
        def f(*ls):
            return call(ls)

        @f.def_vmap
        def rule(B, inb, *ls):
            sizes = {x.shape[1] for x, b in zip(ls, inb) if b and x.ndim == 2}
            sizes |= {x.shape[0] for x, b in zip(ls, inb) if not b and x.ndim == 1}
            shapes_ok = all(x.ndim <= (2 if b else 1) for x, b in zip(ls, inb))
            if B > 1 and len(sizes) == 1 and shapes_ok:
                (n,) = sizes
                flat = []
                for x, b in zip(ls, inb):
                    if b:
                        x = x.reshape(B * n) if x.ndim == 2 else jnp.repeat(x, n)
                    elif x.ndim == 1:
                        x = jnp.broadcast_to(x, (B, n)).reshape(B * n)
                    flat.append(x)
                out = call(flat)
                outs, otree = jax.tree_util.tree_flatten(out)
                if all(jnp.shape(o) in ((B * n,), ()) for o in outs):
                    res = [o.reshape(B, n) if jnp.shape(o) == (B * n,) else o for o in outs]
                    return (jax.tree_util.tree_unflatten(otree, res),
                            jax.tree_util.tree_unflatten(otree, [jnp.ndim(o) == 2 for o in res]))
            out = jax.vmap(lambda *a: call(a), in_axes=tuple(0 if b else None for b in inb))(*ls)
            return out, jax.tree_util.tree_map(lambda _: True, out)

        # differentiated, it is the plain function (custom_vmap has no
        # reverse mode): the flat form serves the forward evaluation only
        @jax.custom_jvp
        def h(*ls):
            return f(*ls)

        @h.defjvp
        def h_jvp(primals, tangents):
            return jax.jvp(lambda *a: call(a), primals, tangents)

        return h(*[leaves[k] for k in arr])

    return wrapped
