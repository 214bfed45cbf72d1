"""NEURON's ``METHOD sparse`` (a KINETIC scheme) in the ``staggered`` state phase.

NEURON 9's ``sparse_thread`` (scopmath, read in its ``sparse_thread.hpp``)
advances a KINETIC block by backward Euler with Newton iterations on the
matrix nocmodl generates from the reactions:

* residual ``f(X) - (X - x)/dt`` (``x`` the states at the start of the step,
  ``X`` the iterate; the block, and every value it computes, evaluated at
  ``X`` on each iteration);
* matrix ``I/dt - J``, where ``J`` differentiates only the mass-action terms
  of the reactions: each rate (``kf``, ``kb``, however computed: Destexhe's
  ``k3p = k4*(p1/Pc)``) and each ``<<`` flux is taken as a constant. The
  importer keeps a rate or flux that depends on a STATE as a derived value
  (``nmodl_exec._sparse_constant``), so ``J`` here is the partial derivative
  of the derivatives with every derived value held constant;
* ``X += dx``; a state that becomes negative is set to 0; the iterations
  stop once ``sum |dx| <= 1e-6`` (``CONVERGE``; at most 22 iterations, else
  NEURON reports an error). A scheme nocmodl finds linear (every reaction of
  first order: ``J`` does not depend on the states) takes exactly one
  iteration, without the clamp.

CONSERVE rows: NEURON replaces the equation of one state of each CONSERVE
(the last one the statement names) by the conservation sum, ``total -
sum``; so does this step, from the importer's ``<state>@conserve``
residuals (:func:`conserve_rows`). It matters beyond round-off: dx_ih's
``p1 = 1 - p0`` rounds to 1e-16 absolute while ``p1`` is 1e-9, and its
autocatalytic growth amplified the difference of an ODE row to 77 mV.
States whose derivative is 0 (ASSIGNED values INITIAL sets) stay out.

NEURON's stopping test is applied per instance as a mask (an instance that
has converged keeps its iterate). The first ``SPARSE_ITERATIONS`` are
unrolled, each after the first under ``lax.cond`` (skipped once every
instance has converged); if some instance has not converged after them,
one more ``lax.cond`` runs the rest up to NEURON's limit,
``NEURON_ITERATIONS``, as a ``lax.fori_loop`` (a scan: reverse-mode
differentiable) of the same conditional iteration. A step still not
converged then is one where NEURON stops the run (``EXCEED_ITERS``): its
states become NaN, which the run reports (``SimulationError`` with the
time and the first non-finite state, often ``v``; a host callback would keep XLA's persistent cache from
storing the kernel: 3 s of compilation on every run). The same arithmetic
as NEURON's loop whenever NEURON's converges; ``jit``/``vmap``/``grad``
apply (the gradient is that of the iterations taken).
"""
from __future__ import annotations

import sympy as sp

from .print_memo import doprint
from .printer import _Printer

SPARSE_ITERATIONS = 4   # unrolled: enough for every sparse scheme of the tests (see docs/nmodl-support.md)
NEURON_ITERATIONS = 21  # sparse_thread's limit: iteration j = 0 .. MAXSTEPS (20); the next one is EXCEED_ITERS
CONVERGE = 1e-6         # NEURON's scopmath CONVERGE: sum |dx| over the scheme's states


def state_dependent(states, exprs, frozen, order) -> set[str]:
    """The derived values (not ``frozen``) that depend on ``states``,
    directly or through the derived values before them in ``order``."""
    names, sdep = set(states), set()
    for d in order:
        if d not in frozen and {a.name for a in exprs[d].free_symbols} & (names | sdep):
            sdep.add(d)
    return sdep


def neuron_jacobian(states, dexprs) -> list[list[sp.Expr]]:
    """d(derivative of s)/d(x) with every derived value held constant.
    Read term by term off each derivative where it is a sum of
    ``coefficient * state`` terms (mass action: the coefficient free of
    the states); a row with another kind of term (``kf*B*cai``, a flux, a
    constant) is differentiated by sympy. The same expressions as
    differentiating every entry: structurally equal on the 329 entries of
    the 26 KINETIC-file mechanisms of tests/data, the corpus and the
    built-ins (their IR), and on the 768 entries of the 33 sparse steps
    lowered by test_kinetic_schemes and the sw_ks cases of test_nml_sweep.
    sw_ks10's two schemes: 0.014 s here, 0.22 s by ``diff`` of every entry
    (sympy's cache cleared, best of 5)."""
    xs = [sp.Symbol(x, real=True) for x in states]
    idx = {x: j for j, x in enumerate(xs)}
    J = []
    for s in states:
        e = dexprs.get(s, sp.Integer(0))
        row: list = [sp.Integer(0)] * len(xs)
        for term in sp.Add.make_args(e):
            c, x = term.as_independent(*xs, as_Add=False)
            if x not in idx:
                row = [sp.diff(e, y) for y in xs]
                break
            row[idx[x]] += c
        J.append(row)
    return J


def is_linear(J, states) -> bool:
    """nocmodl's ``_linmat``: no entry of J depends on a state directly."""
    names = set(states)
    return not any({a.name for a in e.free_symbols} & names for r in J for e in r)


def conserve_rows(states, exprs, order) -> dict[int, tuple[sp.Expr, list[tuple[str, sp.Expr]]]]:
    """The rows NEURON replaces by a CONSERVE sum: row index -> (constant,
    [(state, coefficient), ...] in NEURON's order of subtraction), from the
    importer's ``<state>@conserve`` residuals (``total - sum``; composed as
    ``p1@conserve_dx_ih``). nocmodl writes ``rhs = total; rhs -= p1; rhs -=
    p0`` for ``CONSERVE p0 + p1 = 1``: the replaced state first, then the
    others from the last to the first (taken here in reverse declaration
    order, which is the statement's in the files seen)."""
    rows = {}
    for d in order:
        if "@conserve" not in d:
            continue
        a, b = d.split("@conserve", 1)
        st = a + b if a + b in states else (a if a in states else None)
        if st is None:
            continue
        g = exprs[d]
        syms = {sp.Symbol(x, real=True) for x in states}
        coefs = {x: sp.diff(g, sp.Symbol(x, real=True)) for x in states}
        coefs = {x: c for x, c in coefs.items() if c != 0 and not (c.free_symbols & syms)}
        if st not in coefs:
            continue
        c0 = sp.expand(g - sum(c * sp.Symbol(x, real=True) for x, c in coefs.items()))
        rest = [x for x in reversed(states) if x != st and x in coefs]
        rows[states.index(st)] = (c0, [(x, coefs[x]) for x in [st] + rest])
    return rows


def _system(pe, env, states, dexprs, J, cons, base) -> tuple[list[str], list[str]]:
    """NEURON's right-hand side and matrix rows at the iterate ``env``."""
    rhs, entries = _system_entries(pe, env, states, dexprs, J, cons, base)
    return rhs, _rows_code(entries)


def _rows_code(entries) -> list[str]:
    """Each row of matrix entries (None: structurally 0) as a tuple's code."""
    return ["(" + ", ".join("0" if e is None else e for e in row) + ",)" for row in entries]


def _system_entries(pe, env, states, dexprs, J, cons, base) -> tuple[list[str], list[list[str | None]]]:
    """NEURON's right-hand side and matrix entries at the iterate ``env``
    (None: an entry that is structurally 0)."""
    rhs, mat = [], []
    for i, s in enumerate(states):
        if i in cons:
            c0, terms = cons[i]
            r = f"({doprint(pe, c0)})"
            for x, c in terms:
                minus = c.is_Number and float(c) == -1.0
                r = f"({r} - {env[x]})" if minus else f"({r} + ({doprint(pe, c)})*{env[x]})"
            rhs.append(r)
            coef = dict(terms)
            mat.append([None if coef.get(x, 0) == 0 else doprint(pe, -coef[x]) for x in states])
            continue
        rhs.append(f"({doprint(pe, dexprs[s])}) - (1.0/dt)*({env[s]} - {base[s]})")
        mat.append([f"(1.0/dt) - ({doprint(pe, e)})" if j == i else (None if e == 0 else f"-({doprint(pe, e)})")
                    for j, e in enumerate(J[i])])
    return rhs, mat


def emit_elimination(lines, M, r, tag) -> list[str] | None:
    """Append code solving ``M x = r`` by Gaussian elimination in the
    states' order, without pivoting (the diagonal of ``I/dt - J`` dominates
    for first-order reactions), written out entry by entry: per instance,
    element-wise arithmetic only (no batched LAPACK call, which costs more
    than a small scheme's arithmetic on every step), and no work on
    structurally zero entries (a chain's matrix is tridiagonal: O(n)).
    ``M``: code per entry (None where 0); returns the names of ``x``, or
    None where a pivot is structurally 0 (the caller solves with LU then)."""
    n = len(M)
    a = [list(row) for row in M]
    b = list(r)
    for k in range(n):   # the fill-in is known before any code is written
        if a[k][k] is None:
            return None
        for i in range(k + 1, n):
            if a[i][k] is not None:
                for j in range(k + 1, n):
                    if a[k][j] is not None and a[i][j] is None:
                        a[i][j] = "0.0"
    a = [list(row) for row in M]
    for i in range(n):
        for j in range(n):
            if a[i][j] is not None:
                lines.append(f"    e{tag}_{i}_{j} = {a[i][j]}")
                a[i][j] = f"e{tag}_{i}_{j}"
        lines.append(f"    b{tag}_{i} = {b[i]}")
        b[i] = f"b{tag}_{i}"
    for k in range(n):
        for i in range(k + 1, n):
            if a[i][k] is None:
                continue
            f = f"l{tag}_{i}_{k}"
            lines.append(f"    {f} = {a[i][k]} / {a[k][k]}")
            for j in range(k + 1, n):
                if a[k][j] is None:
                    continue
                new = f"e{tag}_{i}_{j}_{k}"
                lines.append(f"    {new} = {a[i][j]} - {f}*{a[k][j]}" if a[i][j] is not None
                             else f"    {new} = -{f}*{a[k][j]}")
                a[i][j] = new
            lines.append(f"    b{tag}_{i}_{k} = {b[i]} - {f}*{b[k]}")
            b[i] = f"b{tag}_{i}_{k}"
    x: list[str] = [""] * n
    for i in reversed(range(n)):
        acc = b[i]
        for j in range(i + 1, n):
            if a[i][j] is not None:
                acc = f"({acc} - {a[i][j]}*{x[j]})"
        x[i] = f"x{tag}_{i}"
        lines.append(f"    {x[i]} = {acc} / {a[i][i]}")
    return x


def emit_sparse(lines, cur, states, exprs, dexprs, frozen, base, order, dnames, tag,
                iterations: int | None = None) -> None:
    """Append the code of one mechanism's sparse step (states ``X_n``).
    States whose derivative is 0 (ASSIGNED values INITIAL sets: volumes,
    areas) are not in NEURON's matrix: they keep their value. A nonlinear
    scheme's iteration is a nested function, called once and then under
    ``lax.cond`` until every instance has converged (skipped then; under
    ``vmap`` both branches run, which changes nothing)."""
    for s in states:
        if dexprs[s] == 0:
            lines.append(f"    {base[s]}_n = {base[s]}")
    states = [s for s in states if dexprs[s] != 0]
    if not states:
        return
    n = len(states)
    J = neuron_jacobian(states, dexprs)
    cons = conserve_rows(states, exprs, order)
    xs = ", ".join(base[s] for s in states)
    linear = is_linear(J, states)
    if linear:   # nocmodl's _linmat: one iteration, no clamp
        rhs, ent = _system_entries(_Printer(cur), cur, states, dexprs, J, cons, base)
        dx = emit_elimination(lines, ent, rhs, f"_sp{tag}")
        if dx is not None:   # column by column: no (instances, n) array (strided, 2x slower on CPU)
            for s, d in zip(states, dx):
                lines.append(f"    {base[s]}_n = {base[s]} + {d}")
            return
    lines.append(f"    x0_ = ({xs},)")
    lines.append("    Xv_ = jnp.stack(jnp.broadcast_arrays(*x0_), -1)")
    if linear:   # a structurally zero pivot: LU with partial pivoting
        mat = _rows_code(ent)
        lines.append(f"    r_ = jnp.stack(jnp.broadcast_arrays({', '.join(rhs)}, *x0_), -1)[..., :{n}]")
        lines.append(f"    M_ = _stack_matrix(({', '.join(mat)},), x0_[0])")
        lines.append("    Xv_ = Xv_ + jnp.linalg.solve(M_, r_[..., None])[..., 0]")
    else:
        sdep = state_dependent(states, exprs, set(frozen) | {d for d in order if "@conserve" in d}, order)
        it = {s: f"{base[s]}_sp{tag}" for s in states}
        env = dict(cur, **it, **{d: f"{dnames[d]}_sp{tag}" for d in order if d in sdep})
        pe = _Printer(env)
        fn = f"_sparse_it{tag}"
        lines.append(f"    def {fn}(Xv_, done_):")
        for k, s in enumerate(states):
            lines.append(f"        {it[s]} = Xv_[..., {k}]")
        for d in order:
            if d in sdep:
                lines.append(f"        {env[d]} = {doprint(pe, exprs[d])}")
        rhs, mat = _system(pe, env, states, dexprs, J, cons, base)
        lines.append(f"        X_ = ({', '.join(it[s] for s in states)},)")
        lines.append(f"        r_ = jnp.stack(jnp.broadcast_arrays({', '.join(rhs)}, *X_), -1)[..., :{n}]")
        lines.append(f"        M_ = _stack_matrix(({', '.join(mat)},), X_[0])")
        lines.append("        dx_ = jnp.linalg.solve(M_, r_[..., None])[..., 0]")
        lines.append("        Xn_ = Xv_ + dx_")
        lines.append("        Xn_ = jnp.where(Xn_ < 0.0, 0.0, Xn_)   # NEURON's clamp of a negative state")
        lines.append("        return (jnp.where(done_[..., None], Xv_, Xn_), "
                     f"done_ | (jnp.sum(jnp.abs(dx_), -1) <= {CONVERGE!r}))")
        lines.append("    from jax import lax as _lax")
        lines.append(f"    Xv_, done_ = {fn}(Xv_, jnp.zeros(Xv_.shape[:-1], bool))")
        unrolled = min(iterations or SPARSE_ITERATIONS, NEURON_ITERATIONS)
        for _ in range(unrolled - 1):
            lines.append(f"    Xv_, done_ = _lax.cond(jnp.all(done_), lambda a, b: (a, b), {fn}, Xv_, done_)")
        if NEURON_ITERATIONS > unrolled:
            more = f"_sparse_more{tag}"
            lines.append(f"    def {more}(Xv_, done_):")
            lines.append(f"        Xv_, done_ = _lax.fori_loop(0, {NEURON_ITERATIONS - unrolled}, lambda i_, c_: "
                         f"_lax.cond(jnp.all(c_[1]), lambda a, b: (a, b), {fn}, *c_), (Xv_, done_))")
            lines.append("        # NEURON stops the run here (EXCEED_ITERS): a NaN state, which the run reports")
            lines.append("        return jnp.where(done_[..., None], Xv_, jnp.nan), done_")
            lines.append(f"    Xv_, done_ = _lax.cond(jnp.all(done_), lambda a, b: (a, b), {more}, Xv_, done_)")
    for k, s in enumerate(states):
        lines.append(f"    {base[s]}_n = Xv_[..., {k}]")
