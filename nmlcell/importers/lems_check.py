"""Semantic check of the LEMS ComponentTypes a simulation uses.

Runs on the resolved pylems model, before flattening, over the types of
the components actually simulated (unused types in the core files are
left alone). Each mistake is one :class:`~nmlcell.errors.ModelImportError`
(or :class:`~nmlcell.errors.UnitError` for dimensions) naming the file,
line, ComponentType and offending element:

- a name that is not defined: an Exposure naming no variable, an
  expression using a symbol that is neither a Parameter, Constant,
  DerivedParameter, Property, StateVariable, DerivedVariable nor
  Requirement, a TimeDerivative or StateAssignment of something that is
  not a StateVariable, a select path whose first step names no Child,
  Children, Attachments or ComponentReference;
- a cycle among the DerivedVariables of one type;
- inconsistent dimensions: a sum or comparison of unlike quantities, a
  TimeDerivative whose value is not the state's dimension per time, a
  DerivedVariable (Case, DerivedParameter, StateAssignment, Exposure)
  whose value's dimension differs from the declared one, a transcendental
  function of a dimensioned quantity;
- a Regime with no way in (not initial, and no Transition to it).

Dimensional analysis works on the expression's syntax tree. A value is a
known :class:`~nmlcell.ir.units.Dim`, or unknown (an undeclared
dimension, a non-integer power), or *loose*: LEMS literals carry no unit,
and real types lean on that (the core ``pinskyRinzelCA3Cell`` has
``d Si/dt = -Si/150.0`` with 150 meaning ms; ``channelDensityGHK2`` has a
``1e-3`` meaning volts), so a bare number fits any dimension and a
product with one has a dimension that is only a guess. Unknown and loose
values are never an error: only definite mistakes are reported.
"""
from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass

from ..errors import ModelImportError, UnitError
from ..ir.expr import _FUNCS, _parse_cached
from ..ir.units import NONE, Dim
from .lems_source import ANY, TypeIndex

TIME = Dim(t=1)
_SEL = re.compile(r"^(?P<name>[A-Za-z_]\w*)(\[[^\]]*\])?$")
# functions whose argument must be dimensionless (result: dimensionless)
_TRANSCENDENTAL = {"exp", "log", "ln", "log10", "sin", "cos", "tan", "sinh", "cosh", "tanh",
                   "atan", "asin", "acos"}
_SAME = {"abs", "ceil", "floor"}  # result has the argument's dimension


@dataclass(frozen=True)
class _V:
    """The dimension of a (sub)expression: ``dim`` None = unknown;
    ``number``: a bare literal (fits any dimension); ``loose``: scaled by
    a literal, ``dim`` is a guess; ``boolean``: a test."""
    dim: Dim | None
    number: bool = False
    boolean: bool = False
    loose: bool = False

    @property
    def definite(self) -> bool:
        return self.dim is not None and not (self.number or self.loose or self.boolean)


_UNKNOWN = _V(None)


def used_types(fc) -> list:
    """The ComponentType names of a fat component tree, in pre-order."""
    out, stack = [], [fc]
    while stack:
        c = stack.pop()
        if c.type not in out:
            out.append(c.type)
        kids = list(c.child_components)
        kids += [r.referenced_component for r in c.component_references if r.referenced_component is not None]
        stack.extend(reversed(kids))
    return out


class TypeChecker:
    """Check ComponentTypes of a resolved pylems ``model``; ``types``
    locates their elements. Each type is checked once."""

    def __init__(self, model, types: TypeIndex, instance_reqs: dict | None = None):
        self.model = model
        self.types = types
        self.instance_reqs = instance_reqs or {}  # type -> InstanceRequirement names (stripped before resolving)
        self.done: set[str] = set()
        self._sub: dict | None = None
        self._ids: set[str] | None = None

    def check_component(self, fc):
        for t in used_types(fc):
            if t not in self.done:
                self.done.add(t)
                try:
                    ct = self.model.component_types[t]
                except Exception:
                    continue
                _TypeCheck(self, ct).run()

    def component_ids(self) -> set[str]:
        """The ids of every component of the model, nested ones too."""
        if self._ids is None:
            self._ids, stack = set(), list(self.model.components)
            while stack:
                c = stack.pop()
                self._ids.add(c.id)
                stack.extend(getattr(c, "children", ()))
        return self._ids

    def subtypes(self, ct) -> list:
        """``ct`` and every ComponentType extending it."""
        if self._sub is None:
            self._sub = {}
            for t in self.model.component_types:
                for base in getattr(t, "types", ()) or ():
                    self._sub.setdefault(base, []).append(t)
        return [ct] + [t for t in self._sub.get(ct.name, ()) if t is not ct]

    def dim(self, name) -> Dim | None:
        if name is None or name == "":
            return None
        if name == "none":
            return NONE
        try:
            d = self.model.dimensions[name]
        except Exception:
            return None
        return Dim(m=d.m, l=d.l, t=d.t, i=d.i, k=d.k, n=d.n, j=d.j)


def _slots(ct) -> dict:
    """Slot name -> ComponentType name, for the slots a select path can step through."""
    out = {}
    for group in ("children", "attachments", "component_references", "instance_requirements"):
        for c in getattr(ct, group, ()):
            out.setdefault(c.name, c.type)
    return out


def _dim_text(d: Dim | None) -> str:
    if d is None:
        return "?"
    if d == NONE:
        return "none"
    from ..ir.units import NAMED

    for k, v in NAMED.items():
        if v == d:
            return k
    for k, v in NAMED.items():
        if v / TIME == d and k != "none":
            return f"{k}/time"
    return " ".join(f"{f}^{getattr(d, f)}" for f in "mltiknj" if getattr(d, f))


class _TypeCheck:
    def __init__(self, parent: TypeChecker, ct):
        self.p = parent
        self.ct = ct
        self.name = ct.name
        self.dyn = ct.dynamics

    # -- errors ----------------------------------------------------------
    def fail(self, msg, tag, name=None, *, key="name", regime=ANY, index=0, after=0, exc=ModelImportError):
        owner, file, line = self.p.types.find(self.name, tag, name, key=key, regime=regime, index=index,
                                              after=after)
        where = f"ComponentType '{owner}'" + (f" (extended by '{self.name}')" if owner != self.name else "")
        elem = tag + (f' {key}="{name}"' if name is not None else "")
        raise exc(f"in {where}: {msg}", file=file, line=line, element=elem)

    # -- symbol table ------------------------------------------------------
    def _symbols(self):
        ct, dyn, d = self.ct, self.dyn, self.p.dim
        s: dict[str, Dim | None] = {"t": TIME}
        for p in ct.parameters:
            s[p.name] = d(p.dimension)
        for p in getattr(ct, "properties", ()):
            s[p.name] = d(p.dimension)
        for p in getattr(ct, "index_parameters", ()):
            s[p.name] = NONE
        for c in ct.constants:
            s[c.name] = d(c.dimension) if c.dimension else self._unit_dim(c.value)
        for p in ct.derived_parameters:
            s[p.name] = d(p.dimension)
        for r in ct.requirements:
            s[r.name] = d(r.dimension)
        self.states = {v.name: d(v.dimension) for v in dyn.state_variables}
        for r in self._regimes():
            for v in getattr(r, "state_variables", ()):
                self.states.setdefault(v.name, d(v.dimension))
        s.update(self.states)
        self.derived = {}
        for v in dyn.derived_variables:
            self.derived[v.name] = d(v.dimension)
        for v in dyn.conditional_derived_variables:
            self.derived[v.name] = d(v.dimension)
        s.update(self.derived)
        if len(self._regimes()):
            s.setdefault("regime", NONE)
        self.symbols = s

    def _unit_dim(self, text):
        m = re.match(r"^\s*[-+0-9.eE]+\s*([A-Za-z_]\w*)\s*$", str(text))
        if not m:
            return NONE if re.match(r"^\s*[-+0-9.eE]+\s*$", str(text)) else None
        try:
            return self.p.dim(self.p.model.units[m.group(1)].dimension)
        except Exception:
            return None

    def _regimes(self):
        r = getattr(self.dyn, "regimes", None)
        if r is None:
            return []
        return list(r.values()) if hasattr(r, "values") else list(r)

    # -- the checks ----------------------------------------------------------
    def run(self):
        self._symbols()
        self._exposures()
        self._derived()
        self._cycles()
        self._time_derivatives(self.dyn.time_derivatives, None)
        self._handlers(self.dyn.event_handlers, None)
        for r in self._regimes():
            self._time_derivatives(r.time_derivatives, r.name)
            self._handlers(r.event_handlers, r.name)
        self._regime_entries()

    def _core_type(self) -> bool:
        """Whether this type is one of the NeuroML2 core types jNeuroML ships."""
        from .coretypes import core_types_dir

        owner, file, _line = self.p.types.find(self.name, "ComponentType", self.name)
        try:
            return file is not None and str(core_types_dir()) in str(file)
        except Exception:
            return False

    def _exposures(self):
        dyn = self.dyn
        named: dict[str, Dim | None] = {}
        variables = list(dyn.state_variables) + list(dyn.derived_variables) + \
            list(dyn.conditional_derived_variables)
        for v in variables:
            named[v.name] = self.symbols.get(v.name)
            if getattr(v, "exposure", None):
                named[v.exposure] = self.symbols.get(v.name)
        for r in self._regimes():
            for v in getattr(r, "state_variables", ()):
                named[v.name] = self.symbols.get(v.name)
                if getattr(v, "exposure", None):
                    named[v.exposure] = self.symbols.get(v.name)
        for p in list(self.ct.parameters) + list(getattr(self.ct, "properties", ())) + \
                list(self.ct.derived_parameters) + list(self.ct.constants):
            named.setdefault(p.name, self.symbols.get(p.name))
        for e in self.ct.exposures:
            if e.name not in named:
                self.fail(f"exposes '{e.name}', which is no variable of the type (no StateVariable, "
                          f"DerivedVariable, Parameter or Constant of that name or exposure)",
                          "Exposure", e.name)
            want, have = self.p.dim(e.dimension), named[e.name]
            if want is not None and have is not None and want != have and not self._core_type():
                # jLEMS accepts this; only the user's own types are held to it (PyNN.xml's
                # alphaCurrSynapse exposes a dimensionless A as a current)
                self.fail(f"exposure '{e.name}' is {_dim_text(want)} but the variable it exposes is "
                          f"{_dim_text(have)}", "Exposure", e.name, exc=UnitError)

    def _derived(self):
        for dv in self.dyn.derived_variables:
            if dv.value is not None and dv.value != "":
                v = self.expr(dv.value, "DerivedVariable", dv.name)
                self.expect(v, self.derived.get(dv.name), f"DerivedVariable '{dv.name}' is declared",
                            "DerivedVariable", dv.name)
            elif dv.select:
                self._select(dv)
        for cdv in self.dyn.conditional_derived_variables:
            for k, case in enumerate(cdv.cases):
                tag_args = dict(after=self._line("ConditionalDerivedVariable", cdv.name))
                if case.condition:
                    self.expr(case.condition, "Case", None, index=k, **tag_args)
                v = self.expr(case.value, "Case", None, index=k, **tag_args)
                self.expect(v, self.derived.get(cdv.name), f"a Case of '{cdv.name}' is declared", "Case",
                            None, index=k, **tag_args)
        for dp in self.ct.derived_parameters:
            if dp.value:
                v = self.expr(dp.value, "DerivedParameter", dp.name)
                self.expect(v, self.symbols.get(dp.name), f"DerivedParameter '{dp.name}' is declared",
                            "DerivedParameter", dp.name)

    def _line(self, tag, name):
        return self.p.types.find(self.name, tag, name)[2] or 0

    def _select(self, dv):
        """Each step of the path but the last (the variable) must name a
        Child, Children, Attachments, ComponentReference or
        InstanceRequirement of the type reached so far (or of a type
        extending it: the component there may be any of those), or, with
        no ``[...]``, the id of a component (a child named by its id, as in
        ``channelDensitiesDendrite/AmpaChannels/iDensity``)."""
        path = [p for p in str(dv.select).split("/") if p]
        if not path or path[0] in ("*", "..", "."):
            return
        ct, seen = self.ct, set()
        while ct is not None and ct.name not in seen:  # the type and those it extends
            seen.add(ct.name)
            if path[0] in self.p.instance_reqs.get(ct.name, ()):
                return  # a peer instance (gapJunction's peer/v), fed by the network
            ct = self.p.model.component_types.get(ct.extends) if ct.extends else None
        current = [self.ct]
        for k, step in enumerate(path[:-1] if len(path) > 1 else path):
            m = _SEL.match(step)
            if not m:
                return
            name = m.group("name")
            if len(path) == 1 and name in self.symbols:
                return
            found, slots = [], set()
            for ct in current:
                for sub in self.p.subtypes(ct):
                    have = _slots(sub)
                    slots |= set(have)
                    if name in have:
                        found.append(have[name])
            if not found and m.group(0) == name and name in self.p.component_ids():
                return  # a child named by its id (LEMS allows it), below which the type is unknown
            if not found:
                where = "the type" if k == 0 else f"'{'/'.join(path[:k])}'"
                self.fail(f"select '{dv.select}' names '{name}', which is no Child, Children, Attachments or "
                          f"ComponentReference of {where} (have: {', '.join(sorted(slots)) or 'none'})",
                          "DerivedVariable", dv.name)
            current = [self.p.model.component_types[t] for t in dict.fromkeys(found)
                       if t in self.p.model.component_types]
            if not current:
                return

    def _cycles(self):
        deps: dict[str, set[str]] = {}
        for dv in self.dyn.derived_variables:
            deps[dv.name] = self._names(dv.value) & set(self.derived) if dv.value else set()
        for cdv in self.dyn.conditional_derived_variables:
            ns = set()
            for case in cdv.cases:
                ns |= self._names(case.value) | (self._names(case.condition) if case.condition else set())
            deps[cdv.name] = ns & set(self.derived)
        state: dict[str, int] = {}

        def visit(k, stack):
            if state.get(k) == 2:
                return
            if state.get(k) == 1:
                cyc = stack[stack.index(k):] + [k]
                tag = "DerivedVariable" if any(v.name == k for v in self.dyn.derived_variables) \
                    else "ConditionalDerivedVariable"
                self.fail("cycle among DerivedVariables: " + " -> ".join(cyc), tag, k)
            state[k] = 1
            for dep in sorted(deps.get(k, ())):
                visit(dep, stack + [k])
            state[k] = 2

        for k in deps:
            visit(k, [])

    @staticmethod
    def _names(text) -> set[str]:
        try:
            tree = _parse_cached(str(text))
        except SyntaxError:
            return set()
        return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}

    def _time_derivatives(self, tds, regime):
        rg = regime
        for td in tds:
            if td.variable not in self.states:
                self.fail(f"TimeDerivative of '{td.variable}', which is no StateVariable of the type",
                          "TimeDerivative", td.variable, key="variable", regime=rg)
            v = self.expr(td.value, "TimeDerivative", td.variable, key="variable", regime=rg)
            sd = self.states[td.variable]
            self.expect(v, sd / TIME if sd is not None else None,
                        f"the TimeDerivative of '{td.variable}' must be", "TimeDerivative", td.variable,
                        key="variable", regime=rg)

    def _handlers(self, handlers, regime):
        rg = None if regime is None else regime
        counts: dict[str, int] = {}
        for eh in handlers:
            tag = type(eh).__name__
            k = counts.get(tag, 0)
            counts[tag] = k + 1
            at = self.p.types.find(self.name, tag, None, regime=rg, index=k)[2] or 0
            if tag == "OnCondition":
                v = self.expr(eh.test, tag, None, regime=rg, index=k)
                if v.definite:
                    self.fail(f"test '{eh.test}' is not a comparison", tag, None, regime=rg, index=k)
            for a in getattr(eh, "actions", ()):
                if type(a).__name__ != "StateAssignment":
                    continue
                if a.variable not in self.symbols:
                    self.fail(f"assigns '{a.variable}', which is no StateVariable of the type",
                              "StateAssignment", a.variable, key="variable", after=at)
                v = self.expr(a.value, "StateAssignment", a.variable, key="variable", after=at)
                self.expect(v, self.symbols.get(a.variable), f"'{a.variable}' is", "StateAssignment",
                            a.variable, key="variable", after=at)

    def _regime_entries(self):
        regimes = self._regimes()
        if not regimes:
            return
        targets = set()
        for holder in [self.dyn] + regimes:
            for eh in holder.event_handlers:
                for a in getattr(eh, "actions", ()):
                    if type(a).__name__ == "Transition":
                        targets.add(a.regime)
        names = [r.name for r in regimes]
        for t in sorted(targets - set(names)):
            self.fail(f"Transition to '{t}', which is no Regime of the type (have: {', '.join(names)})",
                      "Transition", t, key="regime")
        initial = [r.name for r in regimes if str(getattr(r, "initial", "")).lower() in ("true", "1")]
        initial = initial or names[:1]
        for r in regimes:
            if r.name not in initial and r.name not in targets:
                self.fail(f"Regime '{r.name}' has no way in: it is not initial and no Transition leads to it",
                          "Regime", r.name)

    # -- expressions -----------------------------------------------------------
    def expect(self, v: _V, want: Dim | None, what, tag, name, **kw):
        if want is None or not v.definite:
            return
        if v.dim != want:
            self.fail(f"{what} {_dim_text(want)} but its value is {_dim_text(v.dim)}", tag, name,
                      exc=UnitError, **kw)

    def expr(self, text, tag, name, **kw) -> _V:
        """Check one expression; return its dimension."""
        text = str(text)
        try:
            tree = _parse_cached(text)
        except SyntaxError as e:
            self.fail(f"cannot parse '{text}': {e.msg}", tag, name, **kw)

        def bad(msg, exc=UnitError):
            self.fail(f"{msg} in '{text}'", tag, name, exc=exc, **kw)

        def same(a: _V, b: _V, what) -> _V:
            if a.number and b.number:
                return _V(NONE, number=True)
            if a.definite and b.definite:
                if a.dim != b.dim:
                    bad(f"{what} of {_dim_text(a.dim)} and {_dim_text(b.dim)}")
                return a
            for x in (a, b):
                if x.definite:
                    return x
            known = a if a.dim is not None and not a.number else b
            return _V(known.dim, loose=known.dim is not None)

        def ev(node) -> _V:
            if isinstance(node, ast.Expression):
                return ev(node.body)
            if isinstance(node, ast.Constant):
                return _V(NONE, number=True)
            if isinstance(node, ast.Name):
                if node.id in self.symbols:
                    return _V(self.symbols[node.id])
                if node.id == "pi":
                    return _V(NONE, number=True)
                near = difflib.get_close_matches(node.id, [k for k in self.symbols if k != "t"], 1)
                hint = f"; did you mean '{near[0]}'?" if near else ""
                self.fail(f"uses '{node.id}', which is not a Parameter, Constant, DerivedParameter, "
                          f"Property, StateVariable, DerivedVariable or Requirement of the type "
                          f"(in '{text}'){hint}", tag, name, **kw)
            if isinstance(node, ast.BinOp):
                a, b = ev(node.left), ev(node.right)
                op = type(node.op)
                if op in (ast.Add, ast.Sub):
                    return same(a, b, "a sum" if op is ast.Add else "a difference")
                if op in (ast.Mult, ast.Div):
                    if a.dim is None or b.dim is None:
                        return _UNKNOWN
                    d = a.dim * b.dim if op is ast.Mult else a.dim / b.dim
                    if a.number and b.number:
                        return _V(NONE, number=True)
                    return _V(d, loose=a.loose or b.loose or a.number or b.number)
                if op is ast.Pow:
                    return power(a, node.right)
                if op in (ast.BitAnd, ast.BitOr):
                    return _V(NONE, boolean=True)
                return _UNKNOWN
            if isinstance(node, ast.BoolOp):
                for x in node.values:
                    ev(x)
                return _V(NONE, boolean=True)
            if isinstance(node, ast.UnaryOp):
                a = ev(node.operand)
                if isinstance(node.op, (ast.Not, ast.Invert)):
                    return _V(NONE, boolean=True)
                return a
            if isinstance(node, ast.Compare):
                left = ev(node.left)
                for c in node.comparators:
                    same(left, ev(c), "a comparison")
                return _V(NONE, boolean=True)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                fname = node.func.id
                args = [ev(x) for x in node.args]
                if fname not in _FUNCS and fname != "random":
                    bad(f"unknown function '{fname}'", exc=ModelImportError)
                if fname in _TRANSCENDENTAL:
                    for x in args:
                        if x.definite and x.dim != NONE:
                            bad(f"{fname}() of a quantity of dimension {_dim_text(x.dim)}")
                    return _V(NONE)
                if fname in _SAME and args:
                    return args[0]
                if fname == "sqrt" and args:
                    return power(args[0], ast.Constant(0.5))
                if fname == "pow" and len(node.args) == 2:
                    return power(args[0], node.args[1])
                if fname == "H":
                    return _V(NONE)
                return _UNKNOWN
            return _UNKNOWN

        def power(a: _V, exponent) -> _V:
            if a.number:
                return _V(NONE, number=True)
            n = _literal(exponent)
            if a.dim is None:
                return _UNKNOWN
            if a.dim == NONE:
                return _V(NONE, loose=a.loose)
            if n is None:
                return _UNKNOWN
            exps = [getattr(a.dim, f) * n for f in "mltiknj"]
            if all(abs(e - round(e)) < 1e-9 for e in exps):
                return _V(Dim(*(int(round(e)) for e in exps)), loose=a.loose)
            return _UNKNOWN

        return ev(tree)


def _literal(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _literal(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    return None
