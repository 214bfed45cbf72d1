"""The level-parallel tree solve (nmlcell/lower/tree_levels.py), what
accelerators run, against the sequential Hines solve and a dense solve."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nmlcell.lower.cable import tree_solve, tree_to_dense
from nmlcell.lower.tree_levels import level_table, solve_levels


def _system(rng, parent, batch=()):
    n = len(parent)
    a = -rng.uniform(0.1, 1.0, batch + (n,))
    b = -rng.uniform(0.1, 1.0, batch + (n,))
    d = 0.5 + rng.uniform(0.0, 1.0, batch + (n,)) - b
    d = d.copy()
    for i in range(1, n):  # diagonally dominant, as a cable's matrix
        d[..., parent[i]] -= a[..., i]
    return a, b, d, rng.normal(size=batch + (n,))


@pytest.mark.parametrize("n", [1, 2, 7, 64, 513])
def test_levels_equal_hines_and_dense(n):
    rng = np.random.default_rng(n)
    parent = np.array([-1] + [int(rng.integers(0, i)) for i in range(1, n)])
    a, b, d, r = _system(rng, parent, (3,))
    x_lv = jax.jit(lambda *v: solve_levels(parent, *v))(a, b, d, r)
    x_h = tree_solve(parent, a, b, d, r, method="jax")
    x_dense = jnp.linalg.solve(tree_to_dense(parent, a, b, d), r[..., None])[..., 0]
    scale = float(jnp.max(jnp.abs(x_dense)))
    assert float(jnp.max(jnp.abs(x_lv - x_h))) <= 1e-13 * scale
    assert float(jnp.max(jnp.abs(x_lv - x_dense))) <= 1e-12 * scale


def test_level_table_of_a_binary_tree():
    # root, two children, four grandchildren: depth 3, widest level 4
    parent = np.array([-1, 0, 0, 1, 1, 2, 2])
    depth, nodes, parents = level_table(parent)
    assert depth == 3
    assert sorted(nodes[0][nodes[0] < 7].tolist()) == [1, 2]
    assert sorted(nodes[1].tolist()) == [3, 4, 5, 6]
    assert parents[1].tolist() == [parent[i] for i in nodes[1]]


def test_unbranched_cable_is_depth_n():
    parent = np.arange(-1, 9)
    assert level_table(parent)[0] == 10
