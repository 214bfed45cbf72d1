"""Exact solve of the cable matrix of a branched neuron (Hines, 1984).

Backward Euler (or Crank–Nicolson) on a compartmental cable gives, every
step, a linear system whose sparsity is the tree of compartments. Numbered in
*Hines order* (``parent[0] = -1``, ``parent[i] < i``), it is solved exactly in
``O(n)`` by Gaussian elimination without fill-in: elimination from the leaves
to the root, then substitution from the root, ``2 (n - 1)`` dependent steps.

The matrix is NEURON's (``NODED``, ``NODEA``, ``NODEB``)::

    row i:   d[i] x[i]  +  b[i] x[parent[i]]  +  sum_{c child of i} a[c] x[c]  =  rhs[i]

``a[i]`` sits in the parent's row, column ``i``; ``b[i]`` in row ``i``,
column ``parent[i]``; ``a[0]`` and ``b[0]`` are ignored (their gradient is
zero). NEURON's voltage step in these terms is spelled out in
:func:`tree_solve`.

Two implementations, same results to round-off:

* ``"ffi"`` — a C++ kernel (``hines.cc``) called through ``jax.ffi``,
  compiled with the system's C++ compiler at first use and cached (see
  ``_hines_ffi.py``). CPU only. Batches are solved four at a time,
  vectorised across a batch.
* ``"jax"`` — two ``lax.fori_loop`` sweeps over the nodes with dynamic
  indexing (XLA compiles each into one native loop on the CPU), ``vmap``ped
  over batch axes. It is what runs where the kernel cannot be built, with
  ``NMLCELL_NO_FFI=1``, and on accelerators.

``"auto"`` (the default) takes the kernel when it loads and the computation
is lowered for the CPU (``lax.platform_dependent``; in a process without a
GPU or TPU backend the CPU branch is called directly, so the other is not
traced), the JAX loop otherwise.

Differentiation: the solve is a ``lax.custom_linear_solve`` whose transpose
solve is the same Hines solve with ``a`` and ``b`` swapped, so
``jax.grad`` costs one more tree solve per step (plus a few element-wise
products for the matrix entries) and is exact; forward mode (``jvp``,
``jacfwd``) works too. ``vmap`` and ``jit`` apply; float32 and float64.

Cells spread over devices: wrap the step in ``jax.shard_map`` over the cell
axis (with ``check_vma=False`` while the kernel is in use: JAX 0.10 trips its
varying-axes check on the FFI call inside ``custom_linear_solve``); under
plain ``NamedSharding`` propagation XLA gathers the kernel's operands onto
every device and each solves the whole batch.

Off the CPU (GPU, TPU) both ``"auto"`` and ``"jax"`` solve level by level
(:mod:`nmlcell.lower.tree_levels`): all nodes of one depth at once, ``2
depth`` dependent steps instead of ``2 (n - 1)``, each vectorised over the
level's nodes and over the batch. A one-launch-per-solve GPU kernel (one
thread per cell, the sequential sweep over coalesced ``(n, batch)`` arrays)
would be faster for large batches; it is not built.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _hines_ffi
from .tree_levels import solve_levels

__all__ = ["HinesTree", "hines_tree", "tree_solve", "tree_matvec", "tree_to_dense", "CableSystem", "cable_solve",
           "cable_solve_groups",
           "axial_coefficients", "ffi_available"]

METHODS = ("auto", "ffi", "jax")


class HinesTree:
    """A tree of compartments in Hines order: ``parent[0] == -1`` and
    ``0 <= parent[i] < i`` for ``i >= 1``. Immutable and hashable (by its
    parent array), so it can be a static argument of ``jit``."""

    __slots__ = ("parent", "n", "_key", "_hash")

    def __init__(self, parent):
        p = np.asarray(parent)
        if p.ndim != 1 or p.size == 0:
            raise ValueError(f"parent must be a non-empty 1-D array of node indices, got shape {p.shape}")
        if not np.issubdtype(p.dtype, np.integer):
            if not np.all(p == np.round(p)):
                raise ValueError("parent must hold integer node indices")
        p = p.astype(np.int32)
        if p[0] != -1:
            raise ValueError(f"parent[0] must be -1 (the root), got {p[0]}")
        idx = np.arange(p.size)
        bad = np.flatnonzero((p[1:] < 0) | (p[1:] >= idx[1:])) + 1
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"nodes are not in Hines order: parent[{i}] = {p[i]} "
                             f"(every node after the root needs 0 <= parent[i] < i; "
                             f"{bad.size} node(s) break it)")
        p.setflags(write=False)
        self.parent = p
        self.n = int(p.size)
        self._key = p.tobytes()
        self._hash = hash(self._key)

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return isinstance(other, HinesTree) and self._key == other._key

    def __repr__(self):
        return f"HinesTree(n={self.n}, leaves={self.n_leaves}, depth={self.depth})"

    @property
    def depth(self) -> int:
        """Number of nodes on the longest root-to-leaf path."""
        level = np.zeros(self.n, np.int64)
        for i in range(1, self.n):
            level[i] = level[self.parent[i]] + 1
        return int(level.max()) + 1

    @property
    def n_leaves(self) -> int:
        has_child = np.zeros(self.n, bool)
        has_child[self.parent[1:]] = True
        return int(self.n - has_child.sum())


@functools.lru_cache(maxsize=256)
def _tree_from_bytes(key: bytes) -> HinesTree:
    return HinesTree(np.frombuffer(key, np.int32))


def hines_tree(parent) -> HinesTree:
    """``parent`` as a :class:`HinesTree` (validated once, cached)."""
    if isinstance(parent, HinesTree):
        return parent
    p = np.asarray(parent)
    if p.ndim == 1 and np.issubdtype(p.dtype, np.integer):
        return _tree_from_bytes(p.astype(np.int32).tobytes())
    return HinesTree(p)


def ffi_available() -> bool:
    """Whether the C++ kernels (the cable kernel and the plain tree solve)
    are built and registered (builds them on first call)."""
    return _hines_ffi.load_extra()


# ----------------------------------------------------------------------------- matrix


def tree_matvec(parent, a, b, d, x):
    """``A @ x`` for the tree matrix (same conventions and broadcasting as
    :func:`tree_solve`)."""
    tree = hines_tree(parent)
    a, b, d, x = jnp.broadcast_arrays(*_as_float(a, b, d, x))
    return _matvec(tree, a, b, d, x)


def _matvec(tree: HinesTree, a, b, d, x):
    par = tree.parent[1:]
    y = d * x
    if tree.n > 1:
        y = y.at[..., 1:].add(b[..., 1:] * x[..., par])
        y = y.at[..., par].add(a[..., 1:] * x[..., 1:])
    return y


def axial_coefficients(parent, area, ri):
    """NEURON's coupling coefficients from node areas (µm²) and axial
    resistances (MΩ, node ``i`` to its parent; ``ri[0]`` unused):
    ``a[i] = -100 / (ri[i] area[parent[i]])``, ``b[i] = -100 / (ri[i] area[i])``
    (S/cm²) and the axial part of the diagonal, ``-b[i] - sum_c a[c]`` over
    the children ``c`` of ``i``. A node without membrane (NEURON's zero-area
    section ends) must be given NEURON's area of 100. Returns ``(a, b,
    axial_diag)`` with the shape of the inputs' broadcast; differentiable."""
    tree = hines_tree(parent)
    area, ri = jnp.broadcast_arrays(*_as_float(area, ri))
    p = tree.parent[1:]
    zero = jnp.zeros_like(area[..., :1])
    a = jnp.concatenate([zero, -100.0 / (ri[..., 1:] * area[..., p])], axis=-1)
    b = jnp.concatenate([zero, -100.0 / (ri[..., 1:] * area[..., 1:])], axis=-1)
    axial = (-b).at[..., p].add(-a[..., 1:])
    return a, b, axial


def tree_to_dense(parent, a, b, d):
    """The dense ``(..., n, n)`` matrix (for tests and small systems)."""
    tree = hines_tree(parent)
    a, b, d = jnp.broadcast_arrays(*_as_float(a, b, d))
    n = tree.n
    m = jnp.zeros(d.shape + (n,), d.dtype)
    i = np.arange(n)
    m = m.at[..., i, i].set(d)
    if n > 1:
        c = np.arange(1, n)
        p = tree.parent[1:]
        m = m.at[..., p, c].set(a[..., 1:])
        m = m.at[..., c, p].set(b[..., 1:])
    return m


# ----------------------------------------------------------------------------- solves


def _hines_jax(par: np.ndarray, a, b, d, r):
    """Hines solve of one system, arrays (n,). Plain JAX (two ``fori_loop``
    sweeps, one native loop each on the CPU); not differentiated directly."""
    n = par.shape[0]
    if n == 1:
        return r / d
    parj = jnp.asarray(par)

    def eliminate(k, c):
        dd, rr = c
        i = n - 1 - k
        p = parj[i]
        f = a[i] / dd[i]
        dd = lax.dynamic_update_index_in_dim(dd, dd[p] - f * b[i], p, 0)
        rr = lax.dynamic_update_index_in_dim(rr, rr[p] - f * rr[i], p, 0)
        return dd, rr

    dd, rr = lax.fori_loop(0, n - 1, eliminate, (d, r))
    # substitution x[i] = y[i] - c[i] x[parent[i]], with y and c computed at once
    y = rr / dd
    c = b / dd

    def substitute(i, x):
        return lax.dynamic_update_index_in_dim(x, y[i] - c[i] * x[parj[i]], i, 0)

    return lax.fori_loop(1, n, substitute, y)


def _solve_jax(tree: HinesTree, a, b, d, r):
    """``d``, ``r`` of shape (..., n); ``a``, ``b`` the same or (n,). Batch axes are flattened
    into one and the 1-D loop is ``vmap``ped over it: the node loop then
    indexes axis 1 of a (batch, n) array, which measured 1.1-1.9x faster per
    cell than moving the batch last for batches of 16-64 (slower below 8)."""
    solve = functools.partial(_hines_jax, tree.parent)
    if r.ndim == 1:
        return solve(a, b, d, r)
    flat = [jnp.reshape(v, (-1, tree.n)) if v.ndim > 1 else v for v in (a, b, d, r)]
    axes = [0 if v.ndim > 1 else None for v in (a, b, d, r)]
    return jnp.reshape(jax.vmap(solve, in_axes=axes)(*flat), r.shape)


def _solve_ffi(tree: HinesTree, a, b, d, r):
    return _hines_ffi.solve(jnp.asarray(tree.parent), a, b, d, r)


def _raw_solve(tree: HinesTree, method: str, a, b, d, r):
    """Undifferentiated solve: ``d``, ``r`` of shape (..., n), ``a``, ``b``
    the same or (n,) (shared by every system)."""
    if method == "jax" or r.dtype.name not in _hines_ffi.TARGETS:  # e.g. bfloat16
        # the node loop on the CPU; level by level on accelerators (tree_levels.py)
        return _on_platform((a, b, d, r), cpu=lambda *v: _solve_jax(tree, *v),
                            default=lambda *v: solve_levels(tree.parent, *v))
    if method == "ffi":
        return _solve_ffi(tree, a, b, d, r)
    # auto with the kernel loaded: the kernel where lowered for the CPU
    return _on_platform((a, b, d, r), cpu=lambda *v: _solve_ffi(tree, *v),
                        default=lambda *v: solve_levels(tree.parent, *v))


@functools.lru_cache(maxsize=1)
def cpu_only() -> bool:
    """Whether this process has no accelerator backend (no GPU or TPU
    devices; JAX's default backend is the CPU). Checked once."""
    for platform in ("gpu", "tpu"):
        try:
            if jax.devices(platform):
                return False
        except RuntimeError:  # no such backend in this process
            pass
    return jax.default_backend() == "cpu"


def _on_platform(args, *, cpu, default):
    """``lax.platform_dependent(*args, cpu=cpu, default=default)``, except
    in a process without accelerators, where the computation can only be
    lowered for the CPU: ``cpu(*args)`` directly. ``platform_dependent``
    traces every branch (the unused pure-JAX solve measured 0.15 s of
    tracing per cable model); its CPU branch is what it lowers to there."""
    if cpu_only():
        return cpu(*args)
    return lax.platform_dependent(*args, cpu=cpu, default=default)


def _resolve_method(method: str, dtype="float64", tree: bool = False) -> str:
    """``"jax"``, ``"ffi"`` or ``"auto"`` (the kernel on the CPU) for the
    cable kernel of ``dtype`` (float64: the first library, built alone;
    float32: the second) or, with ``tree``, the plain tree solve (the second)."""
    if method not in METHODS:
        raise ValueError(f"unknown tree-solve method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "jax":
        return "jax"
    if method == "auto" and not tree and jnp.dtype(dtype).name == "float64" and _hines_ffi.building():
        return "auto"  # traced as the kernel; decided when lowered (_hines_ffi.cable's placeholder)
    ok = _hines_ffi.load_extra() if tree else _hines_ffi.available(dtype)
    if method == "ffi":
        if not ok:
            why = ("NMLCELL_NO_FFI is set" if _hines_ffi.disabled_by_env()
                   else _hines_ffi.status()["why"])
            raise RuntimeError(f"the C++ tree-solve kernel is unavailable ({why}); use method='jax'")
        return "ffi"
    return "auto" if ok else "jax"


def _as_float(*arrs):
    arrs = [jnp.asarray(v) for v in arrs]
    dt = jnp.result_type(*arrs)
    if jnp.issubdtype(dt, jnp.complexfloating):
        raise TypeError("tree_solve solves real systems; got complex inputs")
    if not jnp.issubdtype(dt, jnp.floating):
        dt = jnp.result_type(float)
    return [v.astype(dt) for v in arrs]


def tree_solve(parent, a, b, d, rhs, *, method: str = "auto"):
    """Solve the tree (cable) system ``A x = rhs`` exactly; returns ``x``.

    ``parent``: the tree, a static integer array (or :class:`HinesTree`) in
    Hines order: ``parent[0] = -1``, ``0 <= parent[i] < i``.
    ``a``, ``b``, ``d``, ``rhs``: arrays of shape ``(..., n)`` that broadcast
    together; leading axes are independent systems (cells, parameter sets).
    Row ``i`` of ``A`` is ``d[i] x[i] + b[i] x[parent[i]] + sum_c a[c] x[c]``
    over the children ``c`` of ``i`` (NEURON's ``NODED``, ``NODEB``,
    ``NODEA``); ``a[0]`` and ``b[0]`` are ignored. The elimination pivots on
    the diagonal without row exchanges, as NEURON does: it is stable for the
    diagonally dominant matrices of a cable (``|d[i]| >= |b[i]| + sum |a[c]|``).

    NEURON's voltage step (``nrn_fixed_step``, ``secondorder = 0``) in its
    units — mV, ms, µF/cm², S/cm², mA/cm², node areas ``area`` in µm², the
    axial resistance ``ri[i]`` between node ``i`` and its parent in MΩ:

    * ``a[i] = -100 / (ri[i] * area[parent[i]])`` and
      ``b[i] = -100 / (ri[i] * area[i])`` in S/cm² (``100`` turns
      1/(MΩ·µm²) into S/cm²; nodes without membrane, NEURON's zero-area
      section ends, count as 100 µm²); :func:`axial_coefficients` returns
      them and the axial diagonal ``-b[i] - sum_c a[c]``;
    * ``d[i] = 1e-3 * cm[i] / dt + g[i] - b[i] - sum_c a[c]`` over the
      children ``c`` of ``i``, with ``g = di_membrane/dv`` in S/cm²;
    * ``rhs = -i_membrane - tree_matvec(parent, a, b, -b - sum_c a[c], v)``
      in mA/cm² (the second term is the net axial current out of each node;
      point currents in nA enter ``i_membrane`` as ``100 * i / area``);
    * the solution is ``dv`` (mV) and ``v_new = v + dv``.

    ``method``: ``"auto"`` (the C++ kernel on the CPU when it builds, the
    JAX loop elsewhere), ``"ffi"`` (the kernel or an error) or ``"jax"``.
    Differentiable in ``a``, ``b``, ``d`` and ``rhs`` (forward and reverse
    mode); works under ``jit`` and ``vmap``; float32 and float64 (the common
    floating type of the inputs).
    """
    tree = hines_tree(parent)
    m = _resolve_method(method, tree=True)
    a, b, d, rhs = _as_float(a, b, d, rhs)
    for name, v in zip("a b d rhs".split(), (a, b, d, rhs)):
        if v.ndim == 0 or v.shape[-1] != tree.n:
            raise ValueError(f"the last axis of {name} must have the tree's {tree.n} nodes; "
                             f"its shape is {v.shape}")
    shape = jnp.broadcast_shapes(a.shape, b.shape, d.shape, rhs.shape)
    d, rhs = (jnp.broadcast_to(v, shape) for v in (d, rhs))
    if a.shape != b.shape or a.ndim > 1:  # a, b shared by all systems stay (n,)
        a, b = (jnp.broadcast_to(v, shape) for v in (a, b))
    return lax.custom_linear_solve(
        lambda x: _matvec(tree, a, b, d, x),
        rhs,
        solve=lambda _, r: _raw_solve(tree, m, a, b, d, r),
        transpose_solve=lambda _, r: _raw_solve(tree, m, b, a, d, r),
    )


# ----------------------------------------------------------------------------- a cable step's voltage system


class CableSystem:
    """The voltage system of a cable step with the compartments in the
    caller's order (the mechanism groups side by side, ``sizes`` nodes each;
    one group of all ``n`` by default): ``pos[h]`` is where Hines node ``h``
    sits, ``a``, ``b`` and the axial diagonal ``dax`` are in Hines order
    (NEURON's matrix, :func:`axial_coefficients`). Hashable by identity (a
    static argument)."""

    def __init__(self, parent, pos, a, b, dax, sizes=None):
        self.tree = hines_tree(parent)
        self.pos = np.asarray(pos, np.int32)
        self.inv = np.argsort(self.pos).astype(np.int32)
        self.a, self.b, self.dax = (np.asarray(v, float) for v in (a, b, dax))
        n = self.tree.n
        self.sizes = (n,) if sizes is None else tuple(int(k) for k in sizes)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        if self.starts[-1] != n or self.pos.shape != (n,):
            raise ValueError(f"the groups' sizes {self.sizes} and pos must cover the tree's {n} nodes")
        # Hines node h is row jidx[h] of group gidx[h]
        self.gidx = (np.searchsorted(self.starts, self.pos, side="right") - 1).astype(np.int32)
        self.jidx = (self.pos - self.starts[self.gidx]).astype(np.int32)
        self._kernels = {}

    def split(self, x):
        """An array (..., n) in the caller's order as the groups' arrays."""
        return [x[..., int(lo):int(hi)] for lo, hi in zip(self.starts[:-1], self.starts[1:])]

    def _jax(self, V, I, D):
        """The same system in plain JAX: gathers into Hines order, NEURON's
        right-hand side, the Hines solve, back to the caller's order."""
        tree, dt = self.tree, V.dtype
        par = tree.parent
        Vh, Ih, Dh = V[..., self.pos], I[..., self.pos], D[..., self.pos]
        a, b, dax = (jnp.asarray(v, dt) for v in (self.a, self.b, self.dax))
        zero = jnp.zeros(Vh.shape[:-1] + (1,), dt)
        dv = jnp.concatenate([zero, Vh[..., par[1:]] - Vh[..., 1:]], axis=-1)
        rhs = (-Ih - b * dv).at[..., par[1:]].add((a * dv)[..., 1:])
        x = tree_solve(tree, a, b, Dh + dax, rhs, method="jax")
        return x[..., self.inv]

    def _jax_transpose(self, D, x, g):
        tree, dt = self.tree, g.dtype
        a, b, dax = (jnp.asarray(v, dt) for v in (self.a, self.b, self.dax))
        lam = tree_solve(tree, b, a, D[..., self.pos] + dax, g[..., self.pos], method="jax")
        y = _matvec(tree, b, a, jnp.broadcast_to(dax, lam.shape), lam)
        lam = lam[..., self.inv]
        return -y[..., self.inv], -lam, -lam * x

    def _tables(self, dt):
        # inv: the Hines node of each group's row, group by group (the kernel's hpos)
        return (jnp.asarray(self.gidx), jnp.asarray(self.jidx), jnp.asarray(self.tree.parent),
                jnp.asarray(self.inv), *(jnp.asarray(v, dt) for v in (self.a, self.b, self.dax)))

    def kernel(self, transpose: bool, add_v: bool = False):
        """The C++ kernel on the groups' arrays (``ins``: 3 per group, each
        (..., s_g) with common leading axes). Under ``vmap`` (``custom_vmap``)
        the batch becomes the leading axis of the call; an operand that is
        not batched is passed once, not broadcast, and the kernel reads it
        for every system. ``add_v``: the forward kernel returns ``V + x``."""
        f = self._kernels.get((transpose, add_v))
        if f is None:
            @jax.custom_batching.custom_vmap
            def f(ins):
                return _kernel_call(self, transpose, add_v, ins, ins[0].shape[:-1])

            @f.def_vmap
            def _rule(axis_size, in_batched, ins):
                lead = next(x.shape[:-1] for x, bt in zip(ins, in_batched[0]) if bt)
                ins = tuple(x if bt or x.size == x.shape[-1] else jnp.broadcast_to(x, lead + x.shape[-1:])
                            for x, bt in zip(ins, in_batched[0]))
                out = _kernel_call(self, transpose, add_v, ins, lead)
                return out, tuple(True for _ in out)

            self._kernels[transpose, add_v] = f
        return f


def _kernel_call(system, transpose, add_v, ins, lead):
    shapes = [lead + x.shape[-1:] for x in ins[:len(system.sizes)]]

    def fallback(*v):  # the JAX path: lowered instead if a build in progress while tracing fails
        v = [jnp.broadcast_to(x, lead + x.shape[-1:]) for x in v]
        return list(_jax_groups(system, transpose, *v, add_v=add_v))

    return tuple(_hines_ffi.cable(system._tables(ins[0].dtype), ins, shapes, transpose, add_v, fallback=fallback))


def cable_solve(system: CableSystem, V, I, D):
    """``x`` (mV) with ``(D + dax) x + offdiag(a, b) x = -I - L V``: NEURON's
    voltage step (``nrn_rhs`` then triang/bksub) for node voltages ``V``,
    membrane currents ``I`` (mA/cm2) and the diagonal ``D`` without its
    axial part (``1e-3 cm/dt + g``), all in the caller's node order, shape
    ``(..., n)``. :func:`cable_solve_groups` on the groups' own arrays."""
    V, I, D = _as_float(V, I, D)
    V, I, D = jnp.broadcast_arrays(V, I, D)
    if V.dtype.name not in _hines_ffi.CABLE_TARGETS or _resolve_method("auto", V.dtype) == "jax":
        return system._jax(V, I, D)
    xs = cable_solve_groups(system, system.split(V), system.split(I), system.split(D))
    return xs[0] if len(xs) == 1 else jnp.concatenate(xs, axis=-1)


def cable_solve_groups(system: CableSystem, Vs, Is, Ds, *, add_v: bool = False):
    """:func:`cable_solve` with ``V``, ``I`` and ``D`` given as the groups'
    arrays (one per group, shape (..., s_g), in the order of
    ``system.sizes``); returns ``x`` the same way. On the CPU with the C++
    kernel loaded it is one FFI call (gathers, right-hand side, elimination,
    substitution, results into each group's array: no concatenation, no
    gather, no scatter in XLA), with a ``custom_vjp`` whose backward pass is
    one call of the transposed kernel (``Vbar = -L^T lam``, ``Ibar = -lam``,
    ``Dbar = -lam x`` with ``A^T lam = g``); forward mode then needs
    ``NMLCELL_NO_FFI=1``. Without the kernel (or off the CPU) it is the plain
    JAX formulation. With ``add_v`` it returns ``V + x`` per group (the new
    voltages of NEURON's first-order step), added in the kernel."""
    G = len(system.sizes)
    if not (len(Vs) == len(Is) == len(Ds) == G):
        raise ValueError(f"the cable has {G} group(s); got {len(Vs)}, {len(Is)}, {len(Ds)} arrays")
    flat = _as_float(*Vs, *Is, *Ds)
    lead = jnp.broadcast_shapes(*(x.shape[:-1] for x in flat))
    flat = [jnp.broadcast_to(x, lead + x.shape[-1:]) for x in flat]
    Vs, Is, Ds = tuple(flat[:G]), tuple(flat[G:2 * G]), tuple(flat[2 * G:])
    if flat[0].dtype.name not in _hines_ffi.CABLE_TARGETS or _resolve_method("auto", flat[0].dtype) == "jax":
        return list(_jax_groups(system, False, *Vs, *Is, *Ds, add_v=add_v))
    return list(_cable_fused(system, bool(add_v), Vs, Is, Ds))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _cable_fused(system, add_v, Vs, Is, Ds):
    return tuple(_on_platform((*Vs, *Is, *Ds), cpu=lambda *v: system.kernel(False, add_v)(v),
                              default=lambda *v: _jax_groups(system, False, *v, add_v=add_v)))


def _jax_groups(system, transpose, *v, add_v=False):
    """The JAX path on the groups' arrays (``v``: the ``ins`` of
    :func:`_hines_ffi.cable`); ``add_v``: ``V + x`` (forward only)."""
    G = len(system.sizes)
    cat = [jnp.concatenate(v[k * G:(k + 1) * G], axis=-1) for k in range(3)]
    if not transpose:
        xs = tuple(system.split(system._jax(*cat)))
        return tuple(a + x for a, x in zip(v, xs)) if add_v else xs
    return tuple(x for r in system._jax_transpose(*cat) for x in system.split(r))


def _cable_fwd(system, add_v, Vs, Is, Ds):
    # x itself is the residual (Dbar = -lam x); V + x then added here
    xs = tuple(_on_platform((*Vs, *Is, *Ds), cpu=lambda *v: system.kernel(False)(v),
                            default=lambda *v: _jax_groups(system, False, *v)))
    out = tuple(v + x for v, x in zip(Vs, xs)) if add_v else xs
    return out, (Ds, xs)


def _cable_bwd(system, add_v, res, gs):
    Ds, xs = res
    G = len(Ds)
    out = _on_platform((*Ds, *xs, *gs), cpu=lambda *v: system.kernel(True)(v),
                       default=lambda *v: _jax_groups(system, True, *v))
    Vbar = tuple(out[:G])
    if add_v:
        Vbar = tuple(vb + g for vb, g in zip(Vbar, gs))
    return Vbar, tuple(out[G:2 * G]), tuple(out[2 * G:])


_cable_fused.defvjp(_cable_fwd, _cable_bwd)
