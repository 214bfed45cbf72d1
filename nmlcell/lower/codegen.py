"""Generate vectorised JAX source for one mechanism from its sympy equations.

The generated function works element-wise, so the same code runs on one
instance (scalars, for per-instance Jacobians) or on all N instances
(arrays of shape (N,)). Source text is generated from sympy by a printer,
never by pasting user text.
"""
from __future__ import annotations

import sympy as sp

from ..errors import ModelImportError
from ..ir.mechanism import Mechanism
from .kernel_cache import cache_file, cache_read, cache_write
from .kernel_extra import InitDiagMixin
from .print_memo import doprint
from .printer import _ident, _ks_expm, _Printer


class Kernel(InitDiagMixin):
    """Source and compiled functions of one mechanism.

    ``derived(t, y, p, u)`` -> dict of every derived variable;
    ``rhs(t, y, p, u)`` -> tuple of k derivative columns;
    ``y``: tuple of k state columns (each (...,)); ``p``: dict name -> (...,) parameter values;
    ``u``: dict input name -> (...,) input values.
    """

    def __init__(self, mech: Mechanism, static: dict[str, float] | None = None, lems_exact: bool = False):
        self.mech = mech
        self.static = dict(static or {})
        self.lems_exact = lems_exact
        self.state_names = [s.name for s in mech.states]
        self.lag_columns = []  # (column of x@k, column it copies from each step)
        self.derived_lag_columns = []  # (column of d@1, DerivedVariable d it copies each step)
        if lems_exact:
            derived_names = {d.name for d in mech.derived}
            for base, k in sorted(mech.lags, key=lambda x: x[1]):
                self.state_names.append(f"{base}@{k}")
            for base, k in mech.lags:
                src = base if k == 1 else f"{base}@{k - 1}"
                if src not in self.state_names and src not in derived_names:  # a gap in the chain: add it
                    self.state_names.append(src)
            for name in list(self.state_names):
                if "@" in name:
                    base, k = name.rsplit("@", 1)
                    src = base if int(k) == 1 else f"{base}@{int(k) - 1}"
                    if src in derived_names:
                        self.derived_lag_columns.append((self.state_names.index(name), src))
                    else:
                        self.lag_columns.append((self.state_names.index(name), self.state_names.index(src)))
        self.param_names = [p.name for p in mech.parameters if p.name not in self.static]
        self.input_names = [i.name for i in mech.inputs]
        names: dict[str, str] = {"t": "t"}
        for k, s in enumerate(self.state_names):
            names[s] = _ident("s", k, s)
        for k, p in enumerate(self.param_names):
            names[p] = _ident("p", k, p)
        for k, i in enumerate(self.input_names):
            names[i] = _ident("u", k, i)
        for k, d in enumerate(mech.derived):
            names[d.name] = _ident("d", k, d.name)
        self.names = names
        self.printer = _Printer(names)
        subs = {sp.Symbol(k, real=True): sp.Float(v) for k, v in self.static.items()}
        self.leads = list(mech.leads) if lems_exact else []
        if not lems_exact:
            for base, k in mech.lags:
                subs[sp.Symbol(f"{base}@{k}", real=True)] = sp.Symbol(base, real=True)
            for x in mech.leads:
                subs[sp.Symbol(f"{x}@new", real=True)] = sp.Symbol(x, real=True)
        for k, x in enumerate(self.leads):
            names[f"{x}@new"] = _ident("w", k, x)
        names["dt"] = "dt"
        self._subs = subs
        self.global_inputs = [i.name for i in mech.inputs if i.kind == "global"]
        # generated sources are cached on disk by the mechanism's content:
        # a model loaded again skips the symbolic work (most of lowering)
        self._cache_file = cache_file(mech, self.static, lems_exact)
        self._snippets = cache_read(self._cache_file)
        self._dirty = False
        self.source = self._snippet("kernel", self._generate)
        self.hoisted_names = self._snippet("hoisted", lambda: [h for h, _e in self.hoisted])
        ns: dict = {}
        import jax.numpy as jnp

        exec(compile(self.source, f"<nmlcell kernel {mech.name}>", "exec"), {"jnp": jnp, "_ks_expm": _ks_expm}, ns)
        import jax

        # jitted, so that each is traced once per argument signature and not
        # at every call (the step, its events and the observer each call
        # derived once)
        self._derived = jax.jit(ns["derived"])
        self._rhs = jax.jit(ns["rhs"])
        self._pderived = jax.jit(ns["pderived"])
        self.seq_euler = None if ns["seq_euler"] is None else jax.jit(ns["seq_euler"])

    def _analyse(self) -> None:
        """The symbolic work behind the generated sources (once, and only
        when a source is not in the cache)."""
        if "_order" not in self.__dict__:
            self._hoisted = self._find_hoisted()
            self._order = self._prelude_order()

    @property
    def hoisted(self) -> list[tuple[str, sp.Expr]]:
        """[(name, expression)] of the values computed once per run by
        :meth:`prepare` (see :meth:`_find_hoisted`)."""
        self._analyse()
        return self._hoisted

    def _snippet(self, key, make):
        """A generated source (or other plain data) by key: from the cache,
        or made now (the symbolic work done on first need) and kept."""
        if key not in self._snippets:
            self._analyse()
            self._snippets[key] = make()
            self._dirty = True
        return self._snippets[key]

    def save(self) -> None:
        """Write the sources generated since the cache was read."""
        if self._dirty and self._cache_file is not None:
            cache_write(self._cache_file, self._snippets)
        self._dirty = False

    def _find_hoisted(self) -> list[tuple[str, sp.Expr]]:
        """Loop-invariant code motion. Derived variables that depend on
        parameters (and global inputs such as the temperature) only, and the
        costly parameter-only parts of the others (``1/scale``, ``exp(p)``),
        are computed once per run by :meth:`prepare`, not in every step.
        Returns [(name, expression)] in evaluation order; fills
        ``self._exprs`` (derived) and ``self._dexprs`` (derivatives) with the
        rewritten per-step expressions."""
        fixed = set(self.param_names) | set(self.static) | set(self.global_inputs)
        out: list[tuple[str, sp.Expr]] = []
        self._exprs, self._dexprs = {}, {}
        lifted: dict[sp.Expr, sp.Symbol] = {}

        def invariant(e):
            free = e.free_symbols
            return bool(free) and {x.name for x in free} <= fixed

        def costly(e):
            return any((a.is_Pow and not (a.exp.is_Integer and a.exp > 0)) or isinstance(a, sp.Function)
                       for a in sp.preorder_traversal(e))

        def lift(e):
            if e.is_Atom:
                return e
            if invariant(e):
                if not costly(e):
                    return e
                if e not in lifted:
                    name = f"lift{len(lifted)}"
                    self.names[name] = f"l{len(lifted)}"
                    lifted[e] = sp.Symbol(name, real=True)
                    out.append((name, e))
                return lifted[e]
            if isinstance(e, (sp.Add, sp.Mul)):
                inv = [a for a in e.args if invariant(a)]
                rest = [lift(a) for a in e.args if not invariant(a)]
                if len(inv) > 1:
                    return e.func(lift(e.func(*inv, evaluate=False)), *rest, evaluate=False)
                return e.func(*[lift(a) for a in inv], *rest, evaluate=False)
            if isinstance(e, sp.Piecewise):
                return sp.Piecewise(*[(lift(x), c) for x, c in e.args], evaluate=False)
            if isinstance(e, (sp.Pow, sp.Function)):
                return e.func(*[lift(a) for a in e.args], evaluate=False)
            return e

        # x / tau with tau = 1/X (a gate's time constant) is x * X: one
        # division fewer per use (divisions dominate a step's cost on CPUs)
        recip: dict[sp.Expr, sp.Expr] = {}

        def fold(e):
            return e.xreplace(recip) if recip else e

        for d in self.mech.derived:
            e = d.expr.xreplace(self._subs) if self._subs else d.expr
            if invariant(e):
                out.append((d.name, e))
                fixed.add(d.name)
            else:
                e = lift(fold(e))
                self._exprs[d.name] = e
                num, den = sp.fraction(e)
                if num.is_Number and num != 0 and den != 1:
                    recip[sp.Pow(sp.Symbol(d.name, real=True), -1)] = den / num
        for sname, e in self.mech.derivatives.items():
            e = e.xreplace(self._subs) if self._subs else e
            self._dexprs[sname] = lift(fold(e))
        return out

    @staticmethod
    def hoisted_key(name: str) -> str:
        return "@" + name

    def prepare(self, p: dict, g: dict, host: bool = False) -> dict:
        """Parameters with the hoisted derived values added (``g``: values
        of the global inputs, broadcast to the instances)."""
        if not self.hoisted_names:
            return p
        fn = self.host_fn(self.source, "pderived") if host else self._pderived
        return {**p, **fn(p, g)}

    @property
    def host_unsupported(self) -> bool:
        """True where the generated sources call JAX itself (a
        KineticScheme's exact update), so cannot run on NumPy."""
        return "_ks_expm(" in self.source

    def host_fn(self, src: str, name: str):
        """The function ``name`` of a generated source, run with NumPy in
        place of jax.numpy (the printed calls exist in both)."""
        fns = self.__dict__.setdefault("_host_fns", {})
        if (src, name) not in fns:
            import numpy as np

            ns: dict = {}
            exec(compile(src, f"<nmlcell host {self.mech.name}>", "exec"), {"jnp": np}, ns)
            fns[(src, name)] = ns[name]
        return fns[(src, name)]

    def _pr(self, e):
        # memoised: the per-step derived values are printed into derived,
        # rhs and seq_euler alike (printing is most of a kernel's generation)
        printed = self.__dict__.setdefault("_printed", {})
        text = printed.get(e)
        if text is None:
            text = doprint(self.printer, e.xreplace(self._subs) if self._subs else e)
            printed[e] = text
        return text

    def _prelude_order(self) -> list[tuple[str, object]]:
        """Per-step derived values in evaluation order: the DerivedVariables
        and, for jNeuroML's order (``lems_exact``), each KineticScheme's
        exact update ``exp(A dt) occ`` (``#ks<k>``) and each state read by
        an ancestor as it is after this step's update (``x@new``: forward
        Euler, or the scheme's update), placed after what they read and
        before what reads them."""
        hoisted = {h for h, _e in self._hoisted}
        items = [(d.name, self._exprs[d.name]) for d in self.mech.derived if d.name not in hoisted]
        # sorted in every variant: without jNeuroML's order, a delayed copy
        # (x@1) reads x itself, which may come later in document order
        if self.lems_exact and (self.leads or self.mech.kinetic):
            dt = sp.Symbol("dt", real=True)
            in_ks = {}
            for k, occ in enumerate(self.mech.kinetic):
                xs = [sp.Symbol(x, real=True) for x in occ]
                rows = [[sp.diff(self._dexprs[x], xj) for xj in xs] for x in occ]
                items.append((f"#ks{k}", (rows, list(occ))))
                self.names[f"#ks{k}"] = f"K{k}"
                for i, x in enumerate(occ):
                    in_ks[x] = (k, i)
            for x in self.leads:
                if x in in_ks:
                    items.append((f"{x}@new", in_ks[x]))
                else:
                    items.append((f"{x}@new", sp.Symbol(x, real=True) + dt * self._dexprs.get(x, sp.Integer(0))))
            self._ks_of = in_ks
        names = {k for k, _e in items}

        def deps_of(k, e):
            if isinstance(e, sp.Basic):
                free = e.free_symbols
            elif k.startswith("#ks"):
                free = set().union(*(a.free_symbols for row in e[0] for a in row))
            else:
                return {f"#ks{e[0]}"}
            return {a.name for a in free if a.name in names}

        exprs = dict(items)
        deps = {k: deps_of(k, e) for k, e in items}
        order, done = [], set()

        def visit(k, stack=()):
            if k in done:
                return
            if k in stack:
                raise ModelImportError("cycle through a child's updated state: " + " -> ".join(stack + (k,)))
            for d in sorted(deps[k]):
                visit(d, stack + (k,))
            done.add(k)
            order.append((k, exprs[k]))

        for k, _e in items:
            visit(k)
        return order

    def _prelude(self, lines, only=None):
        """Lines reading the arguments and computing the per-step derived
        values (``only``: those of these names)."""
        n = self.names
        for k, s in enumerate(self.state_names):
            lines.append(f"    {n[s]} = y[{k}]")
        for p in self.param_names:
            lines.append(f"    {n[p]} = p[{p!r}]")
        for i in self.input_names:
            lines.append(f"    {n[i]} = u[{i!r}]")
        hoisted = {h for h, _e in self.hoisted}
        for h in sorted(hoisted - {d.name for d in self.mech.derived}):  # lifted subexpressions
            lines.append(f"    {n[h]} = p[{self.hoisted_key(h)!r}]")
        for d in self.mech.derived:
            if d.name in hoisted:
                lines.append(f"    {n[d.name]} = p[{self.hoisted_key(d.name)!r}]")
        for name, e in self._order:
            if only is None or name in only:
                lines.append(self._item_line(name, e))

    def _part_source(self, names) -> str:
        """Source of ``part(t, y, p, u, dt)`` -> {name: value} of some
        derived values, computing only what they read."""
        exprs = dict(self._order)
        need, todo = set(), [x for x in names if x in exprs]
        while todo:
            x = todo.pop()
            if x not in need:
                need.add(x)
                todo += [r for r in self._item_reads(x, exprs[x]) if r in exprs]
        lines = ["def part(t, y, p, u, dt=0.0):"]
        self._prelude(lines, only=need)
        items = ", ".join(f"{x!r}: {self.names[x]}" for x in sorted(names))
        lines.append(f"    return {{{items}}}")
        return "\n".join(lines) + "\n"

    def derived_part(self, names, t, y, p, u, dt=0.0, host=False):
        """Some derived values (``names``), computing only what they read:
        the events, the recorded quantities and the links between groups
        mostly need a few of them, not the whole cell's."""
        key = ("part", tuple(sorted(names)))
        fns = self.__dict__.setdefault("_part_fns", {})
        if key not in fns:
            src = self._snippet(key, lambda: self._part_source(key[1]))
            self.save()
            import jax
            import jax.numpy as jnp

            ns: dict = {}
            exec(compile(src, f"<nmlcell part {self.mech.name}>", "exec"), {"jnp": jnp, "_ks_expm": _ks_expm}, ns)
            fns[key] = (jax.jit(ns["part"]), src)
        fn, src = fns[key]
        if host:
            return self.host_fn(src, "part")(t, y, p, u, dt)
        import jax.numpy as jnp

        dt = jnp.asarray(dt, dtype=y[0].dtype if y else jnp.result_type(float))
        return fn(t, y, p, u, dt)

    def _item_line(self, name, e) -> str:
        """The line computing one per-step derived value."""
        n = self.names
        if isinstance(e, sp.Basic):
            return f"    {n[name]} = {self._pr(e)}"
        if name.startswith("#ks"):
            rows = ", ".join("(" + ", ".join(self._pr(a) for a in row) + ",)" for row in e[0])
            occ = ", ".join(n[x] for x in e[1])
            return f"    {n[name]} = _ks_expm(({rows},), ({occ},), dt)"
        return f"    {n[name]} = K{e[0]}[{e[1]}]"

    @staticmethod
    def _item_reads(name, e) -> set[str]:
        """Names (states, derived values, ...) a per-step derived value reads."""
        if isinstance(e, sp.Basic):
            return {a.name for a in e.free_symbols}
        if name.startswith("#ks"):
            return set(e[1]) | {a.name for row in e[0] for x in row for a in x.free_symbols}
        return {f"#ks{e[0]}"}

    def _generate(self) -> str:
        n = self.names
        lines = ["def pderived(p, u):"]
        for pn in self.param_names:
            lines.append(f"    {n[pn]} = p[{pn!r}]")
        for i in self.global_inputs:
            lines.append(f"    {n[i]} = u[{i!r}]")
        for h, e in self.hoisted:
            lines.append(f"    {n[h]} = {self._pr(e)}")
        items = ", ".join(f"{self.hoisted_key(h)!r}: {n[h]}" for h, _e in self.hoisted)
        lines.append(f"    return {{{items}}}")
        lines.append("")
        lines.append("def derived(t, y, p, u, dt=0.0):")
        self._prelude(lines)
        items = ", ".join(f"{d.name!r}: {n[d.name]}" for d in self.mech.derived)
        lines.append(f"    return {{{items}}}")
        lines.append("")
        lines.append("def rhs(t, y, p, u, dt=0.0):")
        self._prelude(lines)
        outs = []
        for s in self.state_names:
            e = self._dexprs.get(s)
            outs.append(f"jnp.zeros_like({n[s]})" if e is None else
                        f"({self._pr(e)}) + jnp.zeros_like({n[s]})")
        lines.append(f"    return ({', '.join(outs)},)" if outs else "    return ()")
        if self.lems_exact:
            lines.append("")
            lines += self._seq_euler()
        else:
            lines += ["", "seq_euler = None"]
        return "\n".join(lines) + "\n"

    def _seq_euler(self) -> list[str]:
        """jNeuroML's forward Euler. States whose TimeDerivatives sit in a
        Regime are advanced one after the other, in TimeDerivative order: a
        later one that reads an earlier one of its own component sees the
        new value (derived variables keep the start-of-step values). All
        other states advance together. Measured on jNeuroML 0.14: adExIaFCell
        (Regimes) matches only sequentially, fitzHughNagumoCell (main
        Dynamics) only simultaneously. Only ``lems_euler`` uses this."""
        n = self.names
        lines = ["def seq_euler(t, y, p, u, dt):"]
        self._prelude(lines)
        done: dict[str, list[str]] = {}
        new = {}
        for k, st in enumerate(self.state_names):
            nm = f"{st}#new"
            n[nm] = f"n{k}"
            new[st] = sp.Symbol(nm, real=True)
        outs = {}
        seq = set(self.mech.sequential)
        order = [st for st in self.mech.sequential if st in self._dexprs]
        order += [st for st in self._dexprs if st not in seq]
        for st in order:
            e = self._dexprs[st]
            comp = (st.rsplit("/", 1)[0] if "/" in st else "") if st in seq else None
            earlier = done.setdefault(comp, []) if comp is not None else []
            if earlier:
                e = e.xreplace({sp.Symbol(x, real=True): new[x] for x in earlier})
            if st in getattr(self, "_ks_of", {}):  # a KineticScheme occupancy: exact update
                k, i = self._ks_of[st]
                lines.append(f"    {n[st + '#new']} = K{k}[{i}]")
            else:
                lines.append(f"    {n[st + '#new']} = {n[st]} + dt*({self._pr(e)})")
            outs[st] = n[st + "#new"]
            if comp is not None:
                earlier.append(st)
        res = [outs.get(st, n[st]) for st in self.state_names]
        lines.append(f"    return ({', '.join(res)},)" if res else "    return ()")
        return lines

    # -- the diagonal of the Jacobian, symbolically ---------------------------
    def derived(self, t, y, p, u, dt=0.0, host=False):
        """Derived values; ``dt`` matters only for jNeuroML's order, where
        a parent reads its children's states after the step (``x@new``).
        ``host``: computed with NumPy (:meth:`host_fn`)."""
        if host:
            return self.host_fn(self.source, "derived")(t, y, p, u, dt)
        import jax.numpy as jnp

        # one argument signature whether dt is given or not: one trace
        dt = jnp.asarray(dt, dtype=y[0].dtype if y else jnp.result_type(float))
        return self._derived(t, y, p, u, dt)

    def rhs(self, t, y, p, u):
        return self._rhs(t, y, p, u)

    def expr_fn(self, exprs: list[sp.Expr], name: str, key=None):
        """Compile a function (t, y, p, u, dv) -> tuple of values of ``exprs``,
        where ``dv`` is the dict of derived values. ``key``: the expressions'
        place in the mechanism (the source is then cached with the kernel)."""
        if key is None:
            src = self._expr_source(exprs, name)
        else:
            if ("expr", name, key) not in self._snippets:  # printing needs no analysis
                self._snippets[("expr", name, key)] = self._expr_source(exprs, name)
                self._dirty = True
            src = self._snippets[("expr", name, key)]
        ns: dict = {}
        import jax.numpy as jnp

        exec(compile(src, f"<nmlcell {name} {self.mech.name}>", "exec"), {"jnp": jnp}, ns)
        return ns[name], src

    def _expr_source(self, exprs, name) -> str:
        n = self.names
        lines = [f"def {name}(t, y, p, u, dv):"]
        for k, s in enumerate(self.state_names):
            lines.append(f"    {n[s]} = y[{k}]")
        for p in self.param_names:
            lines.append(f"    {n[p]} = p[{p!r}]")
        for i in self.input_names:
            lines.append(f"    {n[i]} = u[{i!r}]")
        used = set()
        for e in exprs:
            used |= {s.name for s in e.free_symbols}
        for d in self.mech.derived:
            if d.name in used:
                lines.append(f"    {n[d.name]} = dv[{d.name!r}]")
        outs = ", ".join(f"({self._pr(e)})" for e in exprs)
        lines.append(f"    return ({outs}{',' if len(exprs) == 1 else ''})")
        return "\n".join(lines) + "\n"
