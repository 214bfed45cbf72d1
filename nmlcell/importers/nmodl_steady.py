"""``SOLVE b STEADYSTATE`` in INITIAL: for a KINETIC scheme on ``sparse``
(capmpr.mod's pump, dx_kin's three states) NEURON's arithmetic, as
on_start assignments (:func:`steady_sparse`); for another method, the
exact root of a linear system (:func:`steady_linear`).

NEURON does not solve for the exact root. Its ``_ss_sparse_thread``
(scopmath ``ssimplic``, NEURON 9) sets ``dt = 1e9`` and advances the scheme
by backward Euler steps, each solved by its ``sparse_thread``:

1. one pass "as linear" (``linflag = 1``): a single Newton iteration of the
   backward-Euler equations from the current states (the old states are the
   current ones; CONSERVE rows replace their state's equation);
2. ``check_state``: every state below -1e-6 is set to 0; if any was, back to
   1 (at most 7 times);
3. otherwise one more backward-Euler step from there (``linflag = 0``):
   Newton iterations until the sum of the increments' magnitudes is at most
   1e-6 (``CONVERGE``), each clamping negative states to 0;
4. then ``dt`` is restored and the block evaluated once more at the final
   states (its assigned values, ``ipump``, are what BREAKPOINT reads first).

Here every Newton iteration is one *stage*: the stage's states, its
backward-Euler reference ("old") states and a mode (0: step 1, 1: step 3,
2: done) are hidden states of the mechanism (``pump@ss1`` ...), each stage
assigned from the previous one's by a Newton step (the stage's Jacobian
and residual solved numerically, :class:`LinSolve`) with the mode's
branches as ``Piecewise``.
:data:`STAGES` iterations are followed: NEURON's result whenever it needs
no more (capmpr needs 2: its states, in mM and mol/cm2, move by far less
than 1e-6); beyond that nmlcell stops where NEURON would iterate on.

A scheme nocmodl finds linear (``_linmat = 1``) is passed ``linflag = 1``:
no step 1 nor ``check_state``, only step 3 from the current states, with
NEURON's Jacobian (the rates held constant). Its result is a 1e9 ms step,
not the root: dx_kin's differ by 1.2e-9, 6.2e-7 mV after 70 ms.
"""
from __future__ import annotations

import re

import sympy as sp

from ..ir.expr import sym
from ..ir.mechanism import Assignment
from .nmodl_expr import inlined

SS_DT = 1e9        # ms: NEURON's ss_dt
CHECK = -1e-6      # check_state: a state below this is set to 0
CONVERGE = 1e-6    # sparse_thread: sum of |increments| at convergence
STAGES = 4         # Newton iterations followed
MAX_STATES = 20    # states of the scheme (the Jacobian is written out entry by entry)


class LinSolve(sp.Function):
    """Component ``k`` of the solution of ``A x = r``, args ``(k, n,
    A[0,0], A[0,1], ..., A[n-1,n-1], r[0], ..., r[n-1])``: solved
    numerically (LU with partial pivoting, ``jnp.linalg.solve``) when the
    kernel runs, as NEURON's sparse solver does, not in closed form (the
    closed form of capmpr's Newton step lost 1e-11 of cai to cancellation;
    the numerical solve agrees with NEURON to 3e-15)."""
    is_real = True

    @classmethod
    def eval(cls, *args):
        return None

    def _jaxcode(self, printer):
        k, n = int(self.args[0]), int(self.args[1])
        items = ", ".join(f"({printer._print(a)}) + 0.0" for a in self.args[2:])
        return (f"(lambda *a_: jnp.linalg.solve(jnp.stack(a_[:{n * n}], -1).reshape(a_[0].shape + ({n}, {n})), "
                f"jnp.stack(a_[{n * n}:], -1)[..., None])[..., {k}, 0])(*jnp.broadcast_arrays({items}))")

    _numpycode = _jaxcode


def _name(st: str, tag: str) -> str:
    return f"{st.replace('[', '_').rstrip(']')}@ss{tag}"


def steady_sparse(b, derived, derivatives, conserve, updates, linear: bool = False):
    """On_start assignments reproducing NEURON's ``STEADYSTATE sparse`` for
    the builder ``b`` (its ``steady_state``, ``steady_env``,
    ``initial_defaults``), or None (listed as unsupported) when it does not
    apply. With ``linear``: only for a scheme nocmodl finds linear
    (``_linmat``: no entry of the Jacobian, derived values held constant,
    depends on a state), None without a word otherwise."""
    states, _method = b.steady_state
    blocks = [bn for bn, m in b.steady_blocks if m == "sparse"]
    where = (rf"\bSOLVE\s+{re.escape(blocks[0])}\s+STEADYSTATE\b",) if blocks else (r"\bSTEADYSTATE\b",)
    n = len(states)
    if not states:
        return None
    if linear:
        names = {sym(st) for st in states}
        if n > MAX_STATES or any(sp.diff(derivatives[st], x).free_symbols & names for st in states for x in names):
            return None
        snap, final = getattr(b, "steady_env", None), getattr(b, "initial_env", {})
        if snap is None or any(final.get(st) != snap.get(st) for st in states):
            return None
    if n > MAX_STATES:
        b._unsup(f"SOLVE {blocks[0] if blocks else ''} STEADYSTATE sparse of a nonlinear scheme of {n} states "
                 f"(more than {MAX_STATES}: not lowered yet)", *where)
        return None
    snap = getattr(b, "steady_env", None)
    final = getattr(b, "initial_env", {})
    if snap is None or any(final.get(st) != snap.get(st) for st in states):
        b._unsup("INITIAL assigns a state of its STEADYSTATE scheme after the SOLVE: not lowered yet", *where)
        return None
    # the states where the solve starts, in terms of parameters and inputs
    # (the values before INITIAL replaced by their defaults)
    pre = {sym(k): v for k, v in b.initial_defaults.items()}
    x0 = [snap.get(st, sym(st)).xreplace(pre) for st in states]
    sub = inlined(derived)
    X = [sp.Symbol(f"x{k}@", real=True) for k in range(n)]
    O = [sp.Symbol(f"o{k}@", real=True) for k in range(n)]
    to_x = {sym(st): x for st, x in zip(states, X)}
    F = []
    for st, x, o in zip(states, X, O):
        if st in conserve:   # NEURON's CONSERVE row replaces the state's equation
            F.append(x - conserve[st].xreplace(sub).xreplace(to_x))
        else:
            F.append(x - o - sp.Float(SS_DT) * derivatives[st].xreplace(sub).xreplace(to_x))
    Fm = sp.Matrix(F)
    Jm = Fm.jacobian(X)
    if linear:   # NEURON's matrix holds the derived values (rates, fluxes) constant
        G = [sym(st) - (conserve[st] if st in conserve else sp.Float(SS_DT) * derivatives[st]) for st in states]
        Jm = sp.Matrix(G).jacobian([sym(st) for st in states]).xreplace(sub).xreplace(to_x)
    system = [e for e in Jm] + [-e for e in Fm]
    dx = [LinSolve(sp.Integer(k), sp.Integer(n), *system) for k in range(n)]

    out: list[Assignment] = []
    for st, v in zip(states, x0):
        b.frozen.append(_name(st, "0"))
        out.append(Assignment(_name(st, "0"), v))
    xp = [sym(_name(st, "0")) for st in states]
    op, mode = xp, sp.Integer(0)
    if linear:   # nocmodl's _ss_sparse_thread(linflag = _linmat = 1): step 3 only, from the states
        mode = sp.Integer(1)
    for k in range(1, STAGES + 1):
        # mode 0: one iteration "as linear" from xp (old = xp), then check_state
        d0 = [e.xreplace({**dict(zip(X, xp)), **dict(zip(O, xp))}) for e in dx]
        a = [x + d for x, d in zip(xp, d0)]
        ok = sp.And(*[ai >= CHECK for ai in a])
        m0_x = [sp.Piecewise((ai, ok), (0, ai < CHECK), (ai, True)) for ai in a]
        m0_mode = sp.Piecewise((1, ok), (0, True))
        # mode 1: a Newton iteration of the step from op, negatives clamped to 0
        d1 = [e.xreplace({**dict(zip(X, xp)), **dict(zip(O, op))}) for e in dx]
        m1_x = [sp.Piecewise((0, x + d < 0), (x + d, True)) for x, d in zip(xp, d1)]
        m1_mode = sp.Piecewise((2, sp.Add(*[sp.Abs(d, evaluate=False) for d in d1]) <= CONVERGE), (1, True))

        def pick(e0, e1, e2, mode=mode):
            return sp.Piecewise((e0, mode < 0.5), (e1, mode < 1.5), (e2, True))

        nx = [pick(e0, e1, x) for e0, e1, x in zip(m0_x, m1_x, xp)]
        nxs = []
        for st, e in zip(states, nx):
            b.frozen.append(_name(st, str(k)))
            out.append(Assignment(_name(st, str(k)), e))
            nxs.append(sym(_name(st, str(k))))
        if k < STAGES:
            nos = []
            for st, e0, o in zip(states, a, op):
                b.frozen.append(_name(st, f"{k}o"))
                out.append(Assignment(_name(st, f"{k}o"), pick(e0, o, o)))
                nos.append(sym(_name(st, f"{k}o")))
            b.frozen.append(f"ss@mode{k}")
            out.append(Assignment(f"ss@mode{k}", pick(m0_mode, m1_mode, mode)))
            op, mode = nos, sym(f"ss@mode{k}")
        xp = nxs
    out += [Assignment(st, x) for st, x in zip(states, xp)]
    # the block evaluated once more at the final states: what BREAKPOINT reads
    for bname, assigns in updates:
        if bname in blocks:
            out += [a for a in assigns if a.variable.endswith("@stored")]
    return out


def steady_linear(b, derived, derivatives, conserve):
    """``SOLVE b STEADYSTATE`` other than sparse (and a sparse one
    :func:`steady_sparse` leaves): when the states' equations (CONSERVE
    replacing the equation of its state, as NEURON's sparse solver does)
    are linear in the states, their exact root as on_start assignments;
    None otherwise (the lowering solves it numerically)."""
    states, _method = b.steady_state
    if not states or len(states) > 8:
        return None
    sub = inlined(derived)
    xs = [sym(s) for s in states]
    eqs = []
    for st in states:
        if st in conserve:
            eqs.append(sym(st) - conserve[st].xreplace(sub))
        else:
            eqs.append(derivatives[st].xreplace(sub))
    try:
        A, rhs = sp.linear_eq_to_matrix([sp.expand(e) for e in eqs], xs)
    except (sp.polys.polyerrors.PolynomialError, ValueError, TypeError):
        return None
    if any(x in A.free_symbols or x in rhs.free_symbols for x in xs):
        return None
    try:
        sol = A.LUsolve(rhs)
    except (ValueError, ZeroDivisionError):   # NonInvertibleMatrixError is a ValueError
        return None
    if any(v.has(sp.zoo, sp.nan, sp.oo) for v in sol):
        return None
    return [Assignment(st, v) for st, v in zip(states, sol)]
