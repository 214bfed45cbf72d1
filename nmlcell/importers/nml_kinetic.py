"""An ``ionChannelKS`` on a multi-compartment cell as jNeuroML's NEURON
export writes it: a ``KINETIC`` block solved with ``METHOD sparse``, its
occupancies starting at ``SOLVE ... STEADYSTATE sparse``.

The channel keeps the IR the NMODL importer gives a KINETIC block: each
occupancy's derivative ``sum(rate * occupancy)`` (the rates as the
channel's derived values of ``v``), ``solves = (("states", "sparse"),)``
and a CONSERVE row. The staggered lowering then steps it as NEURON's
sparse does (:mod:`nmlcell.lower.staggered_sparse`): every reaction is of
first order, so sparse takes one Newton step, which is backward Euler
solved exactly, ``(I - dt A(v)) x_new = x`` (``A`` the scheme's matrix,
its rates at the state phase's new ``v``), one batched dense solve per
compartment (``jnp.linalg.solve``) whatever the number of states. The
other cable solvers apply their own scheme to the same derivatives
(``backward_euler``: the same equations; ``exp_euler``: exponential
Rosenbrock-Euler).

The CONSERVE row: the export writes ``CONSERVE`` over all occupancies
(summing to 1); NEURON replaces the equation of the last state the
statement names by the sum. Here the scheme's last state's (the export
names them in an order of its own; the two differ by round-off).

Initial occupancies: the root of ``A(v_init) x = 0`` with the CONSERVE row
in place of the last state's equation, solved numerically when the kernel
initialises (:class:`~nmlcell.importers.nmodl_steady.LinSolve`). NEURON's
``STEADYSTATE sparse`` takes one backward-Euler step of 1e9 ms instead of
the root (a relative difference of about 1e-9 here).
"""
from __future__ import annotations

import sympy as sp

from ..ir.expr import sym
from ..ir.mechanism import Assignment, Derived, Source
from ..ir.units import NONE
from .nmodl_steady import LinSolve


def scheme_matrix(sch, dexprs: dict) -> list[list[sp.Expr]]:
    """``A[i][j] = d(occupancy_i)'/d(occupancy_j)``: the rates (derived
    values, held as symbols) that move occupancy ``j`` into ``i``."""
    xs = [sym(n) for n in sch]
    return [[sp.diff(dexprs.get(n, sp.Integer(0)), x_) for x_ in xs] for n in sch]


def sparse_scheme(kin, dexprs: dict, on_start: list) -> tuple[dict, list, tuple, list]:
    """The IR of the export's KINETIC block for the schemes ``kin`` (a
    tuple of occupancy names per scheme; ``dexprs`` their derivatives).
    Returns (derivatives, derived ``<last>@conserve`` rows for the sparse
    step, ``Mechanism.conserve``, ``on_start`` with the steady state in
    place of the occupancies' initial values)."""
    src = Source(origin="ionChannelKS (the export's KINETIC block)")
    derivatives, rows, conserve, steady = {}, [], [], {}
    for sch in kin:
        xs = [sym(n) for n in sch]
        n = len(xs)
        for name in sch:
            derivatives[name] = dexprs.get(name, sp.Integer(0))
        last = sch[-1]
        rows.append(Derived(f"{last}@conserve", sp.Integer(1) - sp.Add(*xs), NONE, src))
        conserve.append((last, sp.Integer(1) - sp.Add(*xs[:-1])))
        A = scheme_matrix(sch, dexprs)
        B = [list(r) for r in A[:-1]] + [[sp.Integer(1)] * n]
        rhs = [sp.Integer(0)] * (n - 1) + [sp.Integer(1)]
        flat = [e for r in B for e in r] + rhs
        steady.update({name: LinSolve(sp.Integer(k), sp.Integer(n), *flat) for k, name in enumerate(sch)})
    on_start = [Assignment(a.variable, steady[a.variable]) if a.variable in steady else a for a in on_start]
    return derivatives, rows, tuple(conserve), on_start
