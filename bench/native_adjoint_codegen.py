"""PROTOTYPE (issue 5, target E; not part of the package): C++ for the
reverse pass of a checkpointed chunk of NEURON's first-order cable step.

Each group's staggered kernel (:class:`~nmlcell.lower.staggered.StaggeredKernel`,
generated from the IR) is run once on sympy symbols instead of arrays: its
``currents`` and ``states`` then return the sympy expressions of the
membrane current ``I``, NEURON's ``g = dI/dv`` and the new states in terms
of the step's states, parameters, inputs and the new v. From them: the
forward code and the reverse-mode derivatives (``sympy.diff`` of the
cotangent-weighted outputs, common subexpressions by ``sympy.cse``),
printed by sympy's C printer, and a fixed driver that recomputes a chunk of
steps (saving each step's states, the solve's ``x`` and the eliminated
diagonal in a buffer it owns) and runs the backward over them.
"""
from __future__ import annotations

import re

import sympy as sp


class Unsupported(Exception):
    """The generator does not cover this kernel (the JAX path is used)."""


class _Shim:
    """The ``jnp`` of a staggered kernel's source on sympy expressions."""

    exp = staticmethod(sp.exp)
    log = staticmethod(sp.log)
    sqrt = staticmethod(sp.sqrt)
    tanh = staticmethod(sp.tanh)
    sin = staticmethod(sp.sin)
    cos = staticmethod(sp.cos)
    power = staticmethod(lambda a, b: sp.Pow(a, b))
    less = staticmethod(lambda a, b: sp.Lt(a, b))
    less_equal = staticmethod(lambda a, b: sp.Le(a, b))
    greater = staticmethod(lambda a, b: sp.Gt(a, b))
    greater_equal = staticmethod(lambda a, b: sp.Ge(a, b))
    equal = staticmethod(lambda a, b: sp.Eq(a, b))
    logical_and = staticmethod(lambda a, b: sp.And(a, b))
    logical_or = staticmethod(lambda a, b: sp.Or(a, b))
    logical_not = staticmethod(lambda a: sp.Not(a))
    zeros_like = staticmethod(lambda x: sp.Integer(0))
    broadcast_to = staticmethod(lambda x, shape: x)
    asarray = staticmethod(lambda x, dtype=None: sp.sympify(x))
    shape = staticmethod(lambda x: ())

    @staticmethod
    def where(c, a, b):
        c = sp.sympify(c)
        if c is sp.true:
            return sp.sympify(a)
        if c is sp.false:
            return sp.sympify(b)
        return sp.Piecewise((a, c), (b, True))

    def __getattr__(self, name):
        raise Unsupported(f"jnp.{name}")


class _Obj:
    dtype = None


def symbolic(kern, gname):
    """Sympy expressions of one group's step: ``I``, ``G``, ``new`` (the new
    value of each state after ``v``), and the symbols."""
    if kern.variant is not None:
        raise Unsupported(f"variant {kern.variant}")
    src = re.sub(r"(\w+) = (\w+) == 0\n", r"\1 = jnp.equal(\2, 0)\n", kern.source)
    src = re.sub(r"(\w+)\.dtype\b", "None", src)
    ns = {"jnp": _Shim(), "_phi1_apply": None}
    try:
        exec(compile(src, f"<adjoint {gname}>", "exec"), ns)
    except Exception as e:  # noqa: BLE001
        raise Unsupported(str(e)) from e
    R = dict(real=True)
    ys = [sp.Symbol(f"y{k}", **R) for k in range(len(kern.state_names))]
    ps = {p: sp.Symbol(f"p{k}", **R) for k, p in enumerate(kern.param_names)}
    us = {u: sp.Symbol(f"u{k}", **R) for k, u in enumerate(kern.input_names)}
    t, dt, vn = sp.Symbol("t", **R), sp.Symbol("dt", **R), sp.Symbol("vn", **R)
    try:
        i0, g0, pa = ns["currents"](t, ys, ps, us, dt)
        new = ns["states"](t, ys, ps, us, dt, vn, pa)
    except Unsupported:
        raise
    except Exception as e:  # noqa: BLE001
        raise Unsupported(f"{type(e).__name__}: {e}") from e
    new = [sp.sympify(x) for x in new]
    if kern.state_names[0] != "v" or new[0] != vn:
        raise Unsupported("v is not the first state")
    return dict(I=sp.sympify(i0), G=sp.sympify(g0), new=new[1:], ys=ys, ps=ps, us=us, t=t, dt=dt, vn=vn)


from sympy.printing.c import C99CodePrinter  # noqa: E402


class _Printer(C99CodePrinter):
    def _print_Pow(self, e):
        # small integer powers as products (libm's pow is not inlined)
        if e.exp.is_Integer and 2 <= int(e.exp) <= 4:
            b = self.parenthesize(e.base, 100)
            return "(" + "*".join([b] * int(e.exp)) + ")"
        return super()._print_Pow(e)


_PRINT = _Printer()


def _c(e):
    return _PRINT.doprint(e)


def _block(exprs, targets, indent="    "):
    """``targets[k] (op) exprs[k]`` with common subexpressions; targets are
    (lhs, op)."""
    repl, red = sp.cse(exprs, symbols=sp.numbered_symbols("c_"), optimizations="basic")
    out = [f"{indent}const double {s} = {_c(e)};" for s, e in repl]
    for (lhs, op), e in zip(targets, red):
        if e == 0:
            if op == "=":
                out.append(f"{indent}{lhs} = 0.0;")
            continue
        out.append(f"{indent}{lhs} {op} {_c(e)};")
    return out


def _loads(sym, used, indent="    "):
    out = []
    for k, y in enumerate(sym["ys"]):
        if y in used:
            out.append(f"{indent}const double {y} = Y[{k} * n + j];")
    for k, p in enumerate(sym["ps"].values()):
        if p in used:
            out.append(f"{indent}const double {p} = P[{k} * n + j];")
    for k, u in enumerate(sym["us"].values()):
        if u in used:
            out.append(f"{indent}const double {u} = U[{k} * n + j];")
    return out


def group_cpp(k, sym):
    """The four functions of group ``k``: currents, states and their
    reverse-mode derivatives, each a loop over the group's ``n`` instances
    (arrays state- or parameter-major: ``Y[s * n + j]``)."""
    I, G, new = sym["I"], sym["G"], sym["new"]
    ys, ps, vn = sym["ys"], list(sym["ps"].values()), sym["vn"]
    head = "(int64_t n, const double* __restrict Y, const double* __restrict P, const double* __restrict U, double t, double dt"
    src = []
    # currents
    used = (I.free_symbols | G.free_symbols)
    src.append(f"static inline void cur{k}{head}, double* __restrict Io, double* __restrict Go) {{")
    src.append("  for (int64_t j = 0; j < n; ++j) {")
    src += _loads(sym, used)
    src += _block([I, G], [("Io[j]", "="), ("Go[j]", "=")])
    src.append("  }\n}")
    # states
    used = set().union(*(e.free_symbols for e in new)) if new else set()
    src.append(f"static inline void st{k}{head}, const double* __restrict VN, double* __restrict Yo) {{")
    src.append("  for (int64_t j = 0; j < n; ++j) {")
    src.append("    const double vn = VN[j];")
    src += _loads(sym, used)
    src += _block(new, [(f"Yo[{s + 1} * n + j]", "=") for s in range(len(new))])
    src.append("  }\n}")
    # states backward: W (cotangents of the new states, state-major; W[0] is v's)
    wb = [sp.Symbol(f"w{s + 1}", real=True) for s in range(len(new))]
    target = sum((w * e for w, e in zip(wb, new)), sp.Integer(0))
    wrt = [z for z in [*ys, *ps, vn] if target.has(z)]
    grads = [sp.diff(target, z) for z in wrt]
    used = set().union(*(e.free_symbols for e in grads)) if grads else set()
    src.append(f"static inline void stb{k}{head}, const double* __restrict VN, const double* __restrict W, "
               "double* __restrict Yb, double* __restrict Pb, double* __restrict VNb) {")
    src.append("  for (int64_t j = 0; j < n; ++j) {")
    src.append("    const double vn = VN[j];")
    for s, w in enumerate(wb):
        if w in used:
            src.append(f"    const double {w} = W[{s + 1} * n + j];")
    src += _loads(sym, used)
    tg = []
    for z in wrt:
        if z == vn:
            tg.append(("VNb[j]", "+="))
        elif z in ys:
            tg.append((f"Yb[{ys.index(z)} * n + j]", "+="))
        else:
            tg.append((f"Pb[{ps.index(z)} * n + j]", "+="))
    src += _block(grads, tg)
    src.append("  }\n}")
    # currents backward: Ib, Gb per instance
    Ib, Gb = sp.Symbol("Ib", real=True), sp.Symbol("Gb", real=True)
    target = Ib * I + Gb * G
    wrt = [z for z in [*ys, *ps] if target.has(z)]
    grads = [sp.diff(target, z) for z in wrt]
    used = set().union(*(e.free_symbols for e in grads)) if grads else set()
    src.append(f"static inline void curb{k}{head}, const double* __restrict IB, const double* __restrict GB, "
               "double* __restrict Yb, double* __restrict Pb) {")
    src.append("  for (int64_t j = 0; j < n; ++j) {")
    src.append("    const double Ib = IB[j], Gb = GB[j];")
    src += _loads(sym, used)
    tg = [((f"Yb[{ys.index(z)} * n + j]" if z in ys else f"Pb[{ps.index(z)} * n + j]"), "+=") for z in wrt]
    src += _block(grads, tg)
    src.append("  }\n}")
    return "\n".join(src)


_DRIVER = r"""
// The solves in the order of the JAX reverse pass they replace
// (cable_adjoint._jax_forward, _transposed_solve_dd), for the same rounding.
// Elimination, leaves to root, of d (on entry the diagonal, on exit the
// eliminated one's inverse in rd) and r. Along an unbranched run (parent = previous node)
// the parent's values are carried in registers, the diagonal as a fraction
// P / Q (as hines_cable.h does: no division on the chain; rescaled every 8
// nodes).
static inline void eliminate(int64_t N, const int32_t* __restrict par, const double* __restrict A,
                             const double* __restrict B, double* __restrict d, double* __restrict r,
                             double* __restrict rd) {
  double P = d[N - 1], Q = 1.0, rc = r[N - 1];
  int k = 0;
  for (int64_t h = N - 1; h > 0; --h) {
    const int64_t p = par[h];
    const double inv = Q / P;
    const double f = A[h] * inv;
    rd[h] = inv;
    r[h] = rc;
    if (p == h - 1) {
      const double P2 = d[p] * P - (A[h] * B[h]) * Q;
      rc = r[p] - f * rc;
      Q = P;
      P = P2;
      if (++k == 8) { Q = Q / P; P = 1.0; k = 0; }
    } else {
      d[p] = d[p] - f * B[h];
      r[p] = r[p] - f * rc;
      P = d[h - 1]; Q = 1.0; k = 0;
      rc = r[h - 1];
    }
  }
  rd[0] = Q / P;
  r[0] = rc;
}

// the right-hand side's elimination only, F = B / the eliminated d given
static inline void eliminate_rhs(int64_t N, const int32_t* __restrict par, const double* __restrict F,
                                 double* __restrict r) {
  double rc = r[N - 1];
  for (int64_t h = N - 1; h > 0; --h) {
    const int64_t p = par[h];
    r[h] = rc;
    if (p == h - 1) {
      rc = r[p] - F[h] * rc;
    } else {
      r[p] = r[p] - F[h] * rc;
      rc = r[h - 1];
    }
  }
  r[0] = rc;
}

// substitution, root to leaves: x[h] = r[h] rd[h] - (C[h] rd[h]) x[parent],
// rd = 1 / the eliminated d (the products first, vectorised; w: scratch)
static inline void substitute(int64_t N, const int32_t* __restrict par, const double* __restrict C,
                              const double* __restrict rd, double* __restrict r, double* __restrict x,
                              double* __restrict w) {
  for (int64_t h = 0; h < N; ++h) {
    r[h] = r[h] * rd[h];
    w[h] = C[h] * rd[h];
  }
  double xc = r[0];
  x[0] = xc;
  for (int64_t h = 1; h < N; ++h) {
    const int64_t p = par[h];
    xc = r[h] - w[h] * (p == h - 1 ? xc : x[p]);
    x[h] = xc;
  }
}

// the chunk: K steps from state Y0 (steps start .. start + K - 1) recomputed
// into the buffer, then the backward over them
extern "C" int nmlcell_chunk_bwd(int64_t K, int64_t start, double dt, const int32_t* __restrict par,
    const int32_t* __restrict pos, const double* __restrict A, const double* __restrict B,
    const double* __restrict DAX, const double* __restrict Y0, const double* __restrict P,
    const double* __restrict U, const double* __restrict CTE, const double* __restrict CTR,
    const int64_t* __restrict RIDX, int64_t R, double* __restrict YB, double* __restrict PB) {
  const int64_t N = NN, S = SS;
  // the buffer: kept between calls (per thread), grown as needed; none of
  // it is read before it is written in a call, except Gs (zeroed)
  thread_local std::vector<double> buf;
  const size_t need = (K + 1) * S + 2 * K * N + 16 * N + 2 * S;
  if (buf.size() < need) buf.resize(need);
  double* q = &buf[0];
  auto take = [&q](size_t m) { double* p = q; q += m; return p; };
  double *Ys = take((K + 1) * S), *Xs = take(K * N), *DDs = take(K * N), *I = take(N), *Gc = take(N),
         *VN = take(N), *rr = take(N), *x = take(N), *Vc = take(N), *CMc = take(N), *Gs = take(N),
         *cs = take(N), *F = take(N), *dd = take(N), *Yb = take(S), *Ybn = take(S), *VNb = take(N),
         *lam = take(N), *Ib = take(N), *Gb = take(N);
  std::fill(Gs, Gs + N, 0.0);
  std::copy(Y0, Y0 + S, Ys);
  {
    const double* Y = Y0;
    CMFILL
    for (int64_t c = 0; c < N; ++c) CMc[c] = 1e-3 * CMc[c] / dt;
  }
  for (int64_t i = 0; i < K; ++i) {
    const double t = double(start + i) * dt;
    double* Y = Ys + i * S;
    double* Yn = Ys + (i + 1) * S;
    VFILL
    CURRENTS
    double* rd = DDs + i * N;  // 1 / the eliminated diagonal
    std::fill(cs, cs + N, 0.0);
    for (int64_t h = N - 1; h >= 0; --h) {  // (a node's children come after it)
      const int64_t c = pos[h];
      dd[h] = (CMc[c] + Gc[c]) + DAX[h];
      const double dvh = h > 0 ? Vc[pos[par[h]]] - Vc[c] : 0.0;
      rr[h] = (-I[c] - B[h] * dvh) + cs[h];
      if (h > 0) cs[par[h]] += A[h] * dvh;
    }
    eliminate(N, par, A, B, dd, rr, rd);
    substitute(N, par, B, rd, rr, x, F);
    double* xs = Xs + i * N;
    for (int64_t h = 0; h < N; ++h) {
      const int64_t c = pos[h];
      xs[c] = x[h];
      VN[c] = Vc[c] + x[h];
    }
    STATES
  }
  std::copy(CTE, CTE + S, Yb);
  for (int64_t i = K - 1; i >= 0; --i) {
    const double t = double(start + i) * dt;
    const double* Y = Ys + i * S;
    const double* xs = Xs + i * N;
    const double* rd = DDs + i * N;
    for (int64_t r = 0; r < R; ++r) Yb[RIDX[r]] += CTR[i * R + r];
    VFILL
    for (int64_t c = 0; c < N; ++c) VN[c] = Vc[c] + xs[c];
    std::fill(Ybn, Ybn + S, 0.0);
    VNBAR
    STATESB
    for (int64_t h = 0; h < N; ++h) {
      rr[h] = VNb[pos[h]];
      F[h] = B[h] * rd[h];
    }
    eliminate_rhs(N, par, F, rr);
    substitute(N, par, A, rd, rr, lam, Gb);
    std::fill(cs, cs + N, 0.0);
    for (int64_t h = N - 1; h >= 0; --h) {
      const int64_t c = pos[h];
      const double lh = lam[h];
      const double dvh = (DAX[h] * lh + (h > 0 ? A[h] * lam[par[h]] : 0.0)) + cs[h];
      if (h > 0) cs[par[h]] += B[h] * lh;
      Ib[c] = -lh;
      const double gb = -lh * xs[c];
      Gb[c] = gb;
      Gs[c] += gb;
      Ybn[VIDX[c]] += VNb[c] - dvh;
    }
    CURRENTSB
    std::swap(Yb, Ybn);
  }
  CMBAR
  std::copy(Yb, Yb + S, YB);
  return 0;
}
"""


def chunk_cpp(groups):
    """The driver for ``groups``: [(symbolic, n, cm: parameter index or a
    number)], in the cable plan's order (node offsets = the groups' sizes
    laid end to end, as :class:`~nmlcell.lower.cable.CableSystem`)."""
    parts = ["#include <cstdint>", "#include <vector>", "#include <algorithm>", "#include <cmath>",
             "namespace {"]
    yoff = poff = uoff = noff = 0
    lay = []
    for k, (sym, n, cm) in enumerate(groups):
        parts.append(group_cpp(k, sym))
        ns, np_, nu = len(sym["ys"]), len(sym["ps"]), len(sym["us"])
        lay.append(dict(n=n, y=yoff, p=poff, u=uoff, node=noff, cm=cm))
        yoff += ns * n
        poff += np_ * n
        uoff += nu * n
        noff += n
    parts.append("}  // namespace")

    def call(fn, k, g, extra, yarg="Y"):
        return (f"{fn}{k}({g['n']}, {yarg} + {g['y']}, P + {g['p']}, U + {g['u']}, t, dt{extra});")

    # caller index c -> (group, j): piecewise on node offsets
    def sel(expr_of_group):
        out = ""
        for k, g in enumerate(lay):
            out += f"(c < {g['node'] + g['n']}) ? ({expr_of_group(k, g)}) : "
        return "(" + out + "0.0)"

    cmf = []
    for g in lay:
        if isinstance(g["cm"], int):
            cmf.append(f"std::copy(P + {g['p'] + g['cm'] * g['n']}, P + {g['p'] + (g['cm'] + 1) * g['n']}, "
                       f"CMc + {g['node']});")
        else:
            cmf.append(f"std::fill(CMc + {g['node']}, CMc + {g['node'] + g['n']}, {float(g['cm'])!r});")
    vfill = "\n    ".join(f"std::copy(Y + {g['y']}, Y + {g['y'] + g['n']}, Vc + {g['node']});" for g in lay)
    body = _DRIVER.replace("NN", str(noff)).replace("SS", str(yoff))
    body = body.replace("CMFILL", "\n    ".join(cmf)).replace("VFILL", vfill)
    cur = "\n    ".join(call("cur", k, g, f", I + {g['node']}, Gc + {g['node']}") for k, g in enumerate(lay))
    st = "\n    ".join(
        [f"std::copy(VN + {g['node']}, VN + {g['node'] + g['n']}, Yn + {g['y']});" for g in lay]
        + [call("st", k, g, f", VN + {g['node']}, Yn + {g['y']}") for k, g in enumerate(lay)])
    vnb = "\n    ".join(f"std::copy(Yb + {g['y']}, Yb + {g['y'] + g['n']}, VNb + {g['node']});"
                       for g in lay)
    stb = "\n    ".join(call("stb", k, g, f", VN + {g['node']}, Yb + {g['y']}, Ybn + {g['y']}, "
                                         f"PB + {g['p']}, VNb + {g['node']}") for k, g in enumerate(lay))
    curb = "\n    ".join(call("curb", k, g, f", Ib + {g['node']}, Gb + {g['node']}, Ybn + {g['y']}, "
                                          f"PB + {g['p']}") for k, g in enumerate(lay))
    vidx = [g["y"] + j for g in lay for j in range(g["n"])]
    body = "static const int64_t VIDX[] = {" + ", ".join(map(str, vidx)) + "};\n" + body
    cmb = []
    for k, g in enumerate(lay):
        if isinstance(g["cm"], int):
            cmb.append(f"for (int64_t c = {g['node']}; c < {g['node'] + g['n']}; ++c) "
                       f"PB[{g['p']} + {g['cm']} * {g['n']} + (c - {g['node']})] += Gs[c] * (1e-3 / dt);")
    body = body.replace("CMBAR", "\n  ".join(cmb))
    body = (body.replace("CURRENTSB", curb).replace("CURRENTS", cur).replace("STATESB", stb)
            .replace("STATES", st).replace("VNBAR", vnb))
    return "\n".join(parts) + "\n" + body, lay
