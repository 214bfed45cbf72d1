"""The generated initial-state and diagonal functions of a
:class:`~nmlcell.lower.codegen.Kernel` (a mixin: they read the kernel's
names, printer and per-step expressions)."""
from __future__ import annotations

import sympy as sp

from .printer import _ks_expm


class _NoDerivative(Exception):
    pass


class InitDiagMixin:
    def init_source(self, assignments) -> str:
        """Source of ``init(t, y, p, u)`` -> the state columns after the
        OnStart assignments ``[(column, expr, run again in the second pass)]``,
        in jNeuroML's order: every assignment in order, then those marked
        again (a value set by a later assignment is seen the second time),
        each reading the values as they are at that point. One function: the
        derived values are computed once, and after each assignment only
        those that depend on the assigned column are recomputed, when an
        expression needs them. Delayed copies (``x@k``) start equal to what
        they copy, delayed derived values (``d@1``) equal to their value on
        the state at that point, as :meth:`LoweredModel.init` did one
        evaluation at a time."""
        n = self.names
        lines = ["def init(t, y, p, u, dt=0.0):"]
        self._prelude(lines)
        order = [k for k, _e in self._order]
        exprs = dict(self._order)
        reads = {k: self._item_reads(k, e) for k, e in self._order}
        closure: dict[str, set] = {}  # derived -> derived values it reads, transitively
        for k in order:
            c = {x for x in reads[k] if x in exprs}
            for x in list(c):
                c |= closure[x]
            closure[k] = c
        dirty: set[str] = set()
        cols = self.state_names
        # what each column holds (a copy that would not change it is not
        # made, and reads nothing stale): its initial value, an assignment,
        # or a version of a derived value
        content = {c: ("y", c) for c in cols}
        version = {k: 0 for k in order}

        def fresh(needed):
            """Recompute the stale derived values among ``needed``."""
            todo = set()
            for x in needed:
                if x in exprs:
                    todo |= ({x} | closure[x]) & dirty
            for k in order:
                if k in todo:
                    lines.append(self._item_line(k, exprs[k]))
                    dirty.discard(k)
                    version[k] += 1

        def wrote(col_names):
            for k in order:
                if reads[k] & col_names or closure[k] & dirty:
                    dirty.add(k)

        def fill_history():
            changed = set()
            for _ in range(len(self.lag_columns)):
                for dst, src in self.lag_columns:
                    if content[cols[dst]] != content[cols[src]]:
                        lines.append(f"    {n[cols[dst]]} = {n[cols[src]]}")
                        content[cols[dst]] = content[cols[src]]
                        changed.add(cols[dst])
            if changed:
                wrote(changed)

        def refresh_derived_history():
            if not self.derived_lag_columns:
                return
            fresh({name for _dst, name in self.derived_lag_columns})
            changed = set()
            for dst, name in self.derived_lag_columns:
                c = n[cols[dst]]
                if content[cols[dst]] != ("d", name, version.get(name, 0)):
                    lines.append(f"    {c} = jnp.broadcast_to({n[name]}, {c}.shape).astype({c}.dtype)")
                    content[cols[dst]] = ("d", name, version.get(name, 0))
                    changed.add(cols[dst])
            if changed:
                wrote(changed)
            fill_history()

        # the delayed copies (x@k, d@1) are set before an assignment only
        # where it reads them (they are all set again at the end)
        history = {cols[dst] for dst, _src in self.lag_columns} | {cols[dst] for dst, _n in self.derived_lag_columns}
        plan = [(c, e) for c, e, _a in assignments] + [(c, e) for c, e, again in assignments if again]
        for col, e in plan:
            e = e.xreplace(self._subs) if self._subs else e
            used = {a.name for a in e.free_symbols}
            seen = used | set().union(*(reads[k] for x in used if x in exprs for k in {x} | closure[x]))
            if seen & history:
                refresh_derived_history()
            fresh(used)
            c = n[cols[col]]
            val = self._pr(e)
            lines.append(f"    {c} = jnp.broadcast_to({val}, {c}.shape).astype({c}.dtype)")
            content[cols[col]] = ("a", len(lines))
            wrote({cols[col]})
            fill_history()
        refresh_derived_history()
        lines.append(f"    return ({', '.join(n[s] for s in cols)},)" if cols else "    return ()")
        return "\n".join(lines) + "\n"

    def init_fn(self, assignments):
        """:meth:`init_source`, compiled and jitted."""
        import jax
        import jax.numpy as jnp

        src = self._snippet(("init", ()), lambda: self.init_source(assignments))
        ns: dict = {}
        exec(compile(src, f"<nmlcell init {self.mech.name}>", "exec"), {"jnp": jnp, "_ks_expm": _ks_expm}, ns)
        return jax.jit(ns["init"]), src

    def _diag_lines(self) -> list[str] | None:
        """Source of ``diag(t, y, p, u, dt)`` -> (rhs columns, d f_i / d y_i
        columns): each state's derivative with respect to itself, through the
        chain of per-step derived values, differentiated once by sympy
        (forward mode over the derived values that depend on that state; each
        partial derivative is printed once). Returns None where sympy cannot
        give a printable derivative (a function without one): the caller
        then differentiates the right-hand side with ``jax.jvp``."""
        if any(not isinstance(e, sp.Basic) for _k, e in self._order):
            return None  # a KineticScheme's exact update (jNeuroML's order)
        n = self.names
        exprs = dict(self._order)
        states = set(self.state_names)
        reach: dict[str, set] = {}  # derived name -> states it depends on
        for k, e in self._order:
            r = set()
            for a in e.free_symbols:
                if a.name in states:
                    r.add(a.name)
                elif a.name in reach:
                    r |= reach[a.name]
            reach[k] = r
        bad = (sp.Derivative, sp.Subs, sp.DiracDelta, sp.Heaviside)
        partials: dict[tuple, str] = {}
        lines: list[str] = []

        def partial(owner, e, x):
            """Name of the variable holding d e / d x (printed once)."""
            key = (owner, x)
            if key not in partials:
                dex = sp.diff(e, sp.Symbol(x, real=True))
                if dex.has(*bad):
                    raise _NoDerivative(x)
                if dex.is_Number:
                    v = float(dex)
                    if v != v or v in (float("inf"), float("-inf")):
                        raise _NoDerivative(x)
                    partials[key] = repr(v)
                else:
                    name = f"q{len(partials)}"
                    lines.append(f"    {name} = {self._pr(dex)}")
                    partials[key] = name
            return partials[key]

        outs = []
        try:
            for i, s in enumerate(self.state_names):
                f = self._dexprs.get(s)
                if f is None:
                    outs.append(f"jnp.zeros_like({n[s]})")
                    continue
                z: dict[str, str] = {}

                def total(owner, e):
                    """Text of d e / d y_i, emitting what it needs."""
                    terms = []
                    for a in sorted(e.free_symbols, key=lambda a: a.name):
                        x = a.name
                        if x == s:
                            q = partial(owner, e, x)
                            if q != "0.0":
                                terms.append(q)
                        elif x in reach and s in reach[x]:
                            if x not in z:
                                zx = total(x, exprs[x])
                                if zx == "0.0":
                                    z[x] = zx
                                else:
                                    z[x] = f"z{i}_{len(z)}"
                                    lines.append(f"    {z[x]} = {zx}")
                            q = partial(owner, e, x)
                            if z[x] != "0.0" and q != "0.0":
                                terms.append(z[x] if q == "1.0" else f"{q}*{z[x]}")
                    return " + ".join(terms) if terms else "0.0"

                outs.append(f"({total('#f' + s, f)}) + jnp.zeros_like({n[s]})")
        except (_NoDerivative, KeyError, TypeError, NotImplementedError, ValueError):
            return None
        head = ["def diag(t, y, p, u, dt=0.0):"]
        self._prelude(head)
        rhs = []
        for s in self.state_names:
            e = self._dexprs.get(s)
            rhs.append(f"jnp.zeros_like({n[s]})" if e is None else f"({self._pr(e)}) + jnp.zeros_like({n[s]})")
        tail = [f"    return ({', '.join(rhs)},), ({', '.join(outs)},)" if outs else "    return (), ()"]
        return head + lines + tail

    def diag(self, t, y, p, u):
        """(rhs columns, d f_i / d y_i columns), or None where the diagonal
        has no symbolic form (see :meth:`_diag_lines`)."""
        fn = self.__dict__.get("_diag_fn", False)
        if fn is False:
            def make():
                lines = self._diag_lines()
                return "" if lines is None else "\n".join(lines) + "\n"

            src = self._snippet("diag", make)
            self.save()
            fn = None
            if src:
                import jax
                import jax.numpy as jnp

                ns: dict = {}
                exec(compile(src, f"<nmlcell diag {self.mech.name}>", "exec"), {"jnp": jnp}, ns)
                fn = jax.jit(ns["diag"])
            self._diag_fn = fn
        if fn is None:
            return None
        return fn(t, y, p, u)
