"""Generate vectorised JAX source for one mechanism from its sympy equations.

The generated function works element-wise, so the same code runs on one
instance (scalars, for per-instance Jacobians) or on all N instances
(arrays of shape (N,)). Source text is generated from sympy by a printer,
never by pasting user text.
"""
from __future__ import annotations

import keyword
import re

import sympy as sp
from sympy.printing.numpy import JaxPrinter

from ..errors import ModelImportError
from ..ir.mechanism import Mechanism


class _Printer(JaxPrinter):
    def __init__(self, names: dict[str, str]):
        super().__init__({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": False})
        self._names = names

    def _print_Symbol(self, s):
        try:
            return self._names[s.name]
        except KeyError:
            raise KeyError(f"no value for '{s.name}'") from None

    def _print_Piecewise(self, e):
        *pieces, last = e.args
        out = self._print(last.expr)
        if last.cond is not True and last.cond != sp.true:
            out = f"jnp.where({self._print(last.cond)}, {out}, jnp.nan)"
        for piece in reversed(pieces):
            out = f"jnp.where({self._print(piece.cond)}, {self._print(piece.expr)}, {out})"
        return out

    def _print_And(self, e):
        args = [self._print(a) for a in e.args]
        out = args[0]
        for a in args[1:]:
            out = f"jnp.logical_and({out}, {a})"
        return out

    def _print_Or(self, e):
        args = [self._print(a) for a in e.args]
        out = args[0]
        for a in args[1:]:
            out = f"jnp.logical_or({out}, {a})"
        return out

    def _print_Not(self, e):
        return f"jnp.logical_not({self._print(e.args[0])})"

    def _print_BooleanTrue(self, e):
        return "True"

    def _print_BooleanFalse(self, e):
        return "False"

    def _print_Pow(self, e, rational=False):
        b, x = e.args
        if x.is_Float and float(x) == int(float(x)) and 0 <= int(float(x)) <= 8:
            x = sp.Integer(int(float(x)))  # gate instances inlined as 3.0: multiply, never pow
            if int(x) == 0:
                return f"jnp.ones_like({self._print(b)})"
        if x.is_Integer and 1 <= int(x) <= 8:
            base = self._print(b)
            return "(" + "*".join([f"({base})"] * int(x)) + ")"
        if x == -1:
            return f"(1.0/({self._print(b)}))"
        if x == sp.Rational(1, 2):
            return f"jnp.sqrt({self._print(b)})"
        return f"jnp.power({self._print(b)}, {self._print(x)})"

    def _module_format(self, fqn, register=True):
        return fqn.replace("jax.numpy.", "jnp.").replace("numpy.", "jnp.")


def _ident(prefix: str, k: int, name: str) -> str:
    tail = re.sub(r"\W+", "_", name.rsplit("/", 1)[-1])[:24]
    s = f"{prefix}{k}_{tail}"
    return s + "_" if keyword.iskeyword(s) else s


def _ks_expm(rows, occ, dt):
    """exp(A dt) occ for a KineticScheme, per instance: ``rows`` the rate
    matrix's entries (scalars or (N,) columns), ``occ`` the occupancy
    columns. Returns the new occupancy columns."""
    import jax
    import jax.numpy as jnp

    n = len(occ)
    x = jnp.stack(jnp.broadcast_arrays(*occ), -1)
    shape = x.shape[:-1]
    a = jnp.stack([jnp.stack([jnp.broadcast_to(v, shape) for v in row], -1) for row in rows], -2)
    e = jax.vmap(jax.scipy.linalg.expm)(a.reshape(-1, n, n) * dt).reshape(a.shape)
    out = jnp.einsum("...ij,...j->...i", e, x)
    return tuple(out[..., i] for i in range(n))


class _NoDerivative(Exception):
    pass


def _fingerprint(obj, out: list) -> None:
    """A canonical text of IR data (dataclasses, containers, sympy
    expressions, numbers), appended to ``out``. Pickles of sympy objects
    are not canonical (they depend on what was computed on them before)."""
    if isinstance(obj, sp.Basic):
        if obj.is_Symbol:
            out.append("S" + obj.name)
        elif obj.is_Number or not obj.args:
            out.append(type(obj).__name__ + ":" + str(obj))
        else:
            out.append(type(obj).__name__ + "(")
            for a in obj.args:
                _fingerprint(a, out)
            out.append(")")
    elif hasattr(obj, "__dataclass_fields__"):
        out.append(type(obj).__name__ + "{")
        for f in obj.__dataclass_fields__:
            out.append(f + "=")
            _fingerprint(getattr(obj, f), out)
        out.append("}")
    elif isinstance(obj, dict):
        out.append("{")
        for k, v in obj.items():
            _fingerprint(k, out)
            out.append(":")
            _fingerprint(v, out)
        out.append("}")
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        out.append("[")
        for v in items:
            _fingerprint(v, out)
            out.append(",")
        out.append("]")
    else:
        out.append(repr(obj))


def _cache_file(mech, static, lems_exact):
    """Where the generated sources of this mechanism are cached (None: no
    cache): keyed by nmlcell's and sympy's versions, the code generator's
    own source and the mechanism's content."""
    import hashlib
    from pathlib import Path

    from .. import __version__
    from .._config import cache_dir

    cd = cache_dir()
    if cd is None:
        return None
    h = hashlib.sha256(f"{__version__}|{sp.__version__}|{lems_exact}|{sorted(static.items())}|".encode())
    here = Path(__file__).resolve().parent
    for f in ("codegen.py", "system.py"):
        h.update((here / f).read_bytes())
    out: list[str] = []
    _fingerprint(mech, out)
    h.update("".join(out).encode())
    return cd / "kernels" / f"{h.hexdigest()[:32]}.pkl"


def _cache_read(path) -> dict:
    import pickle

    if path is None or not path.exists():
        return {}
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
        return data if isinstance(data, dict) else {}
    except Exception:
        return {}


def _cache_write(path, data: dict) -> None:
    import os
    import pickle

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass


class Kernel:
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
        self._cache_file = _cache_file(mech, self.static, lems_exact)
        self._snippets = _cache_read(self._cache_file)
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
            _cache_write(self._cache_file, self._snippets)
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
            text = self.printer.doprint(e.xreplace(self._subs) if self._subs else e)
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

    def init_source(self, assignments, pending=()) -> str:
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
        evaluation at a time. ``pending``: columns (Regimes) set to -1."""
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
            val = "-1.0" if col in pending else self._pr(e)
            lines.append(f"    {c} = jnp.broadcast_to({val}, {c}.shape).astype({c}.dtype)")
            content[cols[col]] = ("a", len(lines))
            wrote({cols[col]})
            fill_history()
        refresh_derived_history()
        lines.append(f"    return ({', '.join(n[s] for s in cols)},)" if cols else "    return ()")
        return "\n".join(lines) + "\n"

    def init_fn(self, assignments, pending=()):
        """:meth:`init_source`, compiled and jitted."""
        import jax
        import jax.numpy as jnp

        src = self._snippet(("init", tuple(sorted(pending))), lambda: self.init_source(assignments, pending))
        ns: dict = {}
        exec(compile(src, f"<nmlcell init {self.mech.name}>", "exec"), {"jnp": jnp, "_ks_expm": _ks_expm}, ns)
        return jax.jit(ns["init"]), src

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
