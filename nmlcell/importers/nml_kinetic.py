"""An ``ionChannelKS`` on a multi-compartment cell as jNeuroML's NEURON
export writes it: a ``KINETIC`` block solved with ``METHOD sparse``, its
occupancies starting at ``SOLVE ... STEADYSTATE sparse``.

The channel gets the IR the NMODL importer gives a KINETIC block: each
occupancy's derivative ``sum(rate * occupancy)`` (the rates stay the
channel's derived values of ``v``) and ``solves = (("states",
"sparse"),)``, without a CONSERVE row (below). The staggered lowering
steps it as NEURON's sparse does (:mod:`nmlcell.lower.staggered_sparse`):
every reaction is of first order, so sparse takes one Newton step, which
is backward Euler solved exactly, ``(I - dt A(v)) x_new = x`` (``A`` the
scheme's matrix, its rates at the state phase's new ``v``), solved
numerically per compartment by Gaussian elimination written out over the
matrix's nonzero entries (``emit_elimination``), whatever the number of
states. The other cable solvers apply their own scheme to the same
derivatives (``backward_euler``: the same equations, by an LU solve;
``crank_nicolson``: sparse's step; ``exp_euler``: exponential
Rosenbrock-Euler on ``A``).

The CONSERVE statement: the export writes ``CONSERVE`` over all
occupancies (summing to 1), and NEURON's step replaces one state's equation
by the sum. The step here keeps every state's own equation: the columns of
``A`` sum to 0, so backward Euler conserves the sum already, up to
round-off (measured on sw_ks and sw_ks10: 5e-6 mV from the export, its
print precision, as with the sum row); the sum row (a dense row in the
elimination) made sw_ks's steady run 1.4x slower.

Initial occupancies: the root of ``A(v_init) x = 0`` with the CONSERVE row
in place of the last state's equation, solved numerically when the kernel
initialises (:class:`~nmlcell.importers.nmodl_steady.LinSolve`). NEURON's
``STEADYSTATE sparse`` takes one backward-Euler step of 1e9 ms instead of
the root (a relative difference of about 1e-9 here).
"""
from __future__ import annotations

import sympy as sp

from ..ir.mechanism import Assignment
from ..lower.staggered_sparse import neuron_jacobian
from .nmodl_steady import LinSolve


def scheme_matrix(sch, dexprs: dict) -> list[list[sp.Expr]]:
    """``A[i][j] = d(occupancy_i)'/d(occupancy_j)``: the rates (derived
    values, held as symbols) that move occupancy ``j`` into ``i``, read
    term by term off each derivative as NEURON's sparse matrix is
    (:func:`~nmlcell.lower.staggered_sparse.neuron_jacobian`; sympy's
    ``diff`` of every entry took 2.9 s on sw_ks10's 10 states)."""
    return neuron_jacobian(list(sch), dexprs)


def sparse_scheme(kin, dexprs: dict, on_start: list) -> tuple[dict, list]:
    """The IR of the export's KINETIC block for the schemes ``kin`` (a
    tuple of occupancy names per scheme; ``dexprs`` their derivatives).
    Returns (derivatives, ``on_start`` with the steady state in place of
    the occupancies' initial values)."""
    derivatives, steady = {}, {}
    for sch in kin:
        n = len(sch)
        for name in sch:
            derivatives[name] = dexprs.get(name, sp.Integer(0))
        A = scheme_matrix(sch, dexprs)
        B = [list(r) for r in A[:-1]] + [[sp.Integer(1)] * n]
        rhs = [sp.Integer(0)] * (n - 1) + [sp.Integer(1)]
        flat = [e for r in B for e in r] + rhs
        steady.update({name: LinSolve(sp.Integer(k), sp.Integer(n), *flat) for k, name in enumerate(sch)})
    on_start = [Assignment(a.variable, steady[a.variable]) if a.variable in steady else a for a in on_start]
    return derivatives, on_start
