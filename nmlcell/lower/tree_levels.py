"""Level-parallel solve of a tree (cable) system, for accelerators.

The Hines solve (:mod:`nmlcell.lower.cable`) eliminates one node after the
other: ``2 (n - 1)`` dependent steps. On a GPU each step is a kernel launch,
so a cell of 500 compartments costs a thousand launches per time step. Here
the nodes are grouped by their depth in the tree (the root is level 0) and
every node of one level is handled at once:

* elimination, from the deepest level to level 1: for every node ``i`` of
  the level, ``f = a[i] / d[i]``; ``d[p] -= f b[i]`` and ``r[p] -= f r[i]``
  with ``p = parent[i]`` (a scatter-add: siblings sit on the same level and
  add into the same parent, and a parent's children are all on the level
  below it, so its ``d`` and ``r`` are final before the parent's own level
  is eliminated);
* substitution, from the root: ``x[i] = (r[i] - b[i] x[p]) / d[i]`` for
  every node of a level at once.

The number of dependent steps is twice the tree's depth (``HinesTree.depth``,
e.g. 40-300 for a reconstructed neuron at NEURON's discretisation), each one
a gather and a scatter over the level's nodes (and over every cell of a
batch). It is Gaussian elimination in another order of the same
eliminations, so it agrees with the Hines solve to round-off (the children's
contributions to a parent are summed in another order).

On the CPU the sequential Hines sweep is faster (one native loop; see
``../shared/DESIGN.md``), so :mod:`nmlcell.lower.cable` uses this solve only
where the computation is lowered for something other than the CPU.
"""
from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["level_table", "solve_levels"]


@functools.lru_cache(maxsize=256)
def _table(key: bytes):
    parent = np.frombuffer(key, np.int32)
    n = parent.size
    level = np.zeros(n, np.int64)
    for i in range(1, n):
        level[i] = level[parent[i]] + 1
    depth = int(level.max()) + 1
    counts = np.bincount(level, minlength=depth)
    width = int(counts[1:].max()) if depth > 1 else 1
    # (depth - 1, width): the nodes of levels 1..depth-1; padding points at the
    # spare slot n (its parent is n too, so padded lanes touch only the spare)
    nodes = np.full((max(depth - 1, 1), width), n, np.int32)
    fill = np.zeros(depth, np.int64)
    for i in range(1, n):
        lv = level[i]
        nodes[lv - 1, fill[lv]] = i
        fill[lv] += 1
    par = np.concatenate([parent, [n]]).astype(np.int32)
    par[0] = n  # the root's row has no parent: route it to the spare slot
    parents = par[nodes]
    for arr in (nodes, parents):
        arr.setflags(write=False)
    return depth, nodes, parents


def level_table(parent) -> tuple[int, np.ndarray, np.ndarray]:
    """``(depth, nodes, parents)``: ``nodes[l - 1]`` are the nodes of level
    ``l`` (padded with ``n``), ``parents`` their parents (``n`` for padding)."""
    p = np.asarray(parent, np.int32)
    return _table(p.tobytes())


def solve_levels(parent, a, b, d, r):
    """Solve the tree system (conventions of :func:`nmlcell.lower.cable.tree_solve`)
    level by level. ``a``, ``b``, ``d``, ``r``: arrays ``(..., n)`` that
    broadcast together; leading axes are independent systems. Not
    differentiated directly (``cable.tree_solve`` wraps it in
    ``custom_linear_solve``)."""
    depth, nodes, parents = level_table(parent)
    a, b, d, r = jnp.broadcast_arrays(a, b, d, r)
    n = r.shape[-1]
    if n == 1:
        return r / d
    pad = [(0, 0)] * (r.ndim - 1) + [(0, 1)]
    one = jnp.ones_like(d[..., :1])
    # the spare slot: d = 1, everything else 0, so padded lanes add zeros
    a, b, r = (jnp.pad(v, pad) for v in (a, b, r))
    d = jnp.concatenate([d, one], axis=-1)
    nodes_j, parents_j = jnp.asarray(nodes), jnp.asarray(parents)
    n_lv = depth - 1

    def eliminate(k, c):
        dd, rr = c
        lv = n_lv - 1 - k
        idx = lax.dynamic_index_in_dim(nodes_j, lv, 0, keepdims=False)
        pidx = lax.dynamic_index_in_dim(parents_j, lv, 0, keepdims=False)
        f = a[..., idx] / dd[..., idx]
        dd = dd.at[..., pidx].add(-f * b[..., idx])
        rr = rr.at[..., pidx].add(-f * rr[..., idx])
        # the spare slot keeps d = 1, r = 0 whatever the padding added
        dd = dd.at[..., n].set(1.0)
        rr = rr.at[..., n].set(0.0)
        return dd, rr

    dd, rr = lax.fori_loop(0, n_lv, eliminate, (d, r))
    x = jnp.zeros_like(rr).at[..., 0].set(rr[..., 0] / dd[..., 0])

    def substitute(lv, x):
        idx = lax.dynamic_index_in_dim(nodes_j, lv, 0, keepdims=False)
        pidx = lax.dynamic_index_in_dim(parents_j, lv, 0, keepdims=False)
        xi = (rr[..., idx] - b[..., idx] * x[..., pidx]) / dd[..., idx]
        x = x.at[..., idx].set(xi)
        return x.at[..., n].set(0.0)

    x = lax.fori_loop(0, n_lv, substitute, x)
    return x[..., :n]
